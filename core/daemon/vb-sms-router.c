/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-crypto-private.h"
#include "vb-error.h"
#include "vb-events.h"
#include "vb-plugin-private.h"
#include "vb-privacy.h"
#include "vb-secure.h"
#include "vb-sms-provider.h"
#include "vb-sms-router-private.h"
#include "vb-store-private.h"

/* a provider that answered VB_ERROR_UNREACHABLE is passed over this long */
#define VB_SMS_ROUTER_DOWN_US (30 * G_USEC_PER_SEC)
/* a retry waiting for an attempt that has not answered yet comes back after this */
#define VB_SMS_ROUTER_BUSY_RETRY_MS 1000
/* a reserved rate slot not claimed this long after its time is dropped */
#define VB_SMS_ROUTER_SLOT_KEEP_US (60 * G_USEC_PER_SEC)
/* delivery reports that came before the send's answer, kept until it comes */
#define VB_SMS_ROUTER_EARLY_MAX 256
#define VB_SMS_ROUTER_ELLIPSIS "..."

typedef enum {
	VB_SMS_ROLE_PRIMARY,
	VB_SMS_ROLE_FALLBACK,
	VB_SMS_ROLE_LAST,
} VbSmsRole;

/* a token bucket kept as its theoretical arrival time (GCRA): a message may go
 * when the bucket's next free slot is within the burst; one over it reserves
 * the next free slot and waits for it, so it is late once, not many times */
typedef struct {
	guint rate_per_minute; /* 0: no limit */
	gint64 interval_us;
	gint64 burst_us;
	gint64 tat;	   /* monotonic µs */
	GHashTable *slots; /* outbox id (gint64*) -> reserved time (gint64*) */
} VbSmsBucket;

typedef struct _VbSmsCall VbSmsCall;

struct _VbSmsRouter {
	GObject parent_instance;
	VbContext *context; /* unowned: it outlives the router */
	VbStore *store;
	VbPluginLoader *loader; /* unowned */
	VbCustomers *customers;
	gchar *names[VB_SMS_ROLE_LAST];
	VbSmsBucket buckets[VB_SMS_ROLE_LAST];
	guint max_segments;
	guint send_timeout_s;
	GHashTable *down_until; /* instance name -> monotonic µs (gint64*) */
	GHashTable *in_flight;	/* outbox id (gint64*) -> VbSmsCall, until the provider answers */
	GHashTable *early;	/* "provider\nmessage-id" -> state */
	GPtrArray *to_send;	/* VbSmsCall, recorded and waiting for the sync that sends them */
	GSource *send_source;
	gulong event_handler;
};

G_DEFINE_FINAL_TYPE(VbSmsRouter, vb_sms_router, G_TYPE_OBJECT)

struct _VbSmsCall {
	VbSmsRouter *self;  /* strong */
	VbOutboxItem *item; /* NULL once completed (a time-out) */
	gint64 outbox_id;
	gint64 customer_id;
	gchar *provider;
	gchar *to;
	gchar *body;
	VbSmsEncoding encoding;
	guint segments;
	GSource *timer;
	gboolean asking;	   /* the outcome of an earlier attempt was unknown */
	GCancellable *cancellable; /* until it is sent */
};

static void
vb_sms_call_free(VbSmsCall *call)
{
	if (call->timer != NULL) {
		g_source_destroy(call->timer);
		g_source_unref(call->timer);
	}
	vb_secure_free_string(call->to);
	vb_secure_free_string(call->body);
	g_free(call->provider);
	g_clear_object(&call->cancellable);
	g_object_unref(call->self);
	g_free(call);
}

static gint64 *
vb_sms_int64_new(gint64 value)
{
	gint64 *p = g_new(gint64, 1);
	*p = value;
	return p;
}

/* rendering within the maximum of segments */

static gboolean
vb_sms_text_fits(const gchar *text, guint max_segments)
{
	guint segments = 1;

	vb_sms_text_get_encoding(text, &segments, NULL);
	return segments <= max_segments;
}

/* @value cut after its first @n_words words, with an ellipsis */
static gchar *
vb_sms_words_prefix(const gchar *value, guint n_words)
{
	const gchar *p = value;
	guint words = 0;

	while (*p != '\0') {
		while (*p != '\0' && g_unichar_isspace(g_utf8_get_char(p)))
			p = g_utf8_next_char(p);
		if (*p == '\0')
			break;
		while (*p != '\0' && !g_unichar_isspace(g_utf8_get_char(p)))
			p = g_utf8_next_char(p);
		if (++words == n_words) {
			g_autofree gchar *prefix = g_strndup(value, (gsize)(p - value));
			return g_strconcat(prefix, VB_SMS_ROUTER_ELLIPSIS, NULL);
		}
	}
	return g_strdup(value);
}

static guint
vb_sms_count_words(const gchar *value)
{
	guint words = 0;
	gboolean in_word = FALSE;

	for (const gchar *p = value; *p != '\0'; p = g_utf8_next_char(p)) {
		gboolean space = g_unichar_isspace(g_utf8_get_char(p));
		if (!space && !in_word)
			words++;
		in_word = !space;
	}
	return words;
}

gchar *
vb_sms_render_fitted(VbSmsTemplate template_,
		     const gchar *language,
		     GHashTable *params,
		     const gchar *const *shortenable,
		     guint max_segments,
		     gboolean *shortened)
{
	gchar *text = vb_sms_render(template_, language, params);

	if (shortened != NULL)
		*shortened = FALSE;
	if (vb_sms_text_fits(text, max_segments) || params == NULL || shortenable == NULL)
		return text;

	for (guint i = 0; shortenable[i] != NULL; i++) {
		const gchar *name = shortenable[i];
		g_autofree gchar *original = NULL;
		guint lo = 0;
		guint hi;

		if (g_hash_table_lookup(params, name) == NULL)
			continue;
		/* the words are counted and cut a character at a time, which
		 * needs valid UTF-8 to stop at the end of the string */
		original = g_utf8_make_valid(g_hash_table_lookup(params, name), -1);
		hi = vb_sms_count_words(original);
		/* the most words that fit: lo fits (0 words is only the ellipsis) */
		while (lo < hi) {
			guint mid = lo + (hi - lo + 1) / 2;
			gchar *try_text;
			gboolean fits;

			g_hash_table_replace(params, (gpointer)name,
					     mid == 0 ? g_strdup(VB_SMS_ROUTER_ELLIPSIS)
						      : vb_sms_words_prefix(original, mid));
			try_text = vb_sms_render(template_, language, params);
			fits = vb_sms_text_fits(try_text, max_segments);
			vb_secure_free_string(try_text);
			if (fits)
				lo = mid;
			else
				hi = mid - 1;
		}
		g_hash_table_replace(params, (gpointer)name,
				     lo == 0 ? g_strdup(VB_SMS_ROUTER_ELLIPSIS)
					     : vb_sms_words_prefix(original, lo));
		vb_secure_free_string(text);
		text = vb_sms_render(template_, language, params);
		if (shortened != NULL)
			*shortened = TRUE;
		if (vb_sms_text_fits(text, max_segments))
			return text;
		vb_crypto_wipe(original, strlen(original));
	}
	/* the fixed text alone is too long: it goes as it is, never cut */
	g_warning("an SMS (%s) is longer than %u segments even with its variable parts "
		  "shortened; it is sent whole",
		  vb_sms_template_to_string(template_), max_segments);
	return text;
}

gchar *
vb_sms_router_render(VbSmsRouter *self,
		     VbSmsTemplate template_,
		     const gchar *language,
		     GHashTable *params,
		     const gchar *const *shortenable,
		     gboolean *shortened)
{
	g_return_val_if_fail(VB_IS_SMS_ROUTER(self), NULL);
	return vb_sms_render_fitted(template_, language, params, shortenable, self->max_segments,
				    shortened);
}

/* the rate limit */

static void
vb_sms_bucket_configure(VbSmsBucket *bucket, guint rate_per_minute)
{
	guint burst;

	bucket->rate_per_minute = rate_per_minute;
	if (rate_per_minute == 0)
		return;
	/* six seconds' worth may go at once */
	burst = MAX(1u, rate_per_minute / 10);
	bucket->interval_us = 60 * G_USEC_PER_SEC / rate_per_minute;
	bucket->burst_us = (gint64)(burst - 1) * bucket->interval_us;
}

/* 0 if @outbox_id may go now, else how long it waits, in ms */
static guint
vb_sms_bucket_take(VbSmsBucket *bucket, gint64 outbox_id, gint64 now)
{
	gint64 *slot;
	GHashTableIter iter;
	gpointer value;

	if (bucket->rate_per_minute == 0)
		return 0;
	slot = g_hash_table_lookup(bucket->slots, &outbox_id);
	if (slot != NULL) {
		gint64 at = *slot;
		if (at <= now) {
			g_hash_table_remove(bucket->slots, &outbox_id);
			return 0;
		}
		return (guint)((at - now + 999) / 1000);
	}
	/* slots of messages that never came back */
	g_hash_table_iter_init(&iter, bucket->slots);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		if (*(gint64 *)value + VB_SMS_ROUTER_SLOT_KEEP_US < now)
			g_hash_table_iter_remove(&iter);
	}
	bucket->tat = MAX(bucket->tat, now);
	if (bucket->tat - now <= bucket->burst_us) {
		bucket->tat += bucket->interval_us;
		return 0;
	}
	g_hash_table_insert(bucket->slots, vb_sms_int64_new(outbox_id),
			    vb_sms_int64_new(bucket->tat - bucket->burst_us));
	bucket->tat += bucket->interval_us;
	return (guint)((bucket->tat - bucket->interval_us - bucket->burst_us - now + 999) / 1000);
}

/* how many messages @bucket lets go now; when none, *@wait_us until the next */
static guint
vb_sms_bucket_capacity(VbSmsBucket *bucket, gint64 now, gint64 *wait_us)
{
	gint64 tat;

	if (bucket->rate_per_minute == 0)
		return G_MAXUINT;
	/* a slot reserved for a message sent back to the queue is kept for it */
	tat = MAX(bucket->tat, now);
	if (tat - now > bucket->burst_us) {
		*wait_us = tat - bucket->burst_us - now;
		return 0;
	}
	return (guint)((bucket->burst_us - (tat - now)) / bucket->interval_us) + 1;
}

/* providers */

static VbPlugin *
vb_sms_router_running(VbSmsRouter *self, const gchar *name)
{
	VbPlugin *plugin;

	if (name == NULL || self->loader == NULL)
		return NULL;
	plugin = vb_plugin_loader_get_instance(self->loader, name);
	if (plugin == NULL || vb_plugin_get_state(plugin) != VB_PLUGIN_STATE_RUNNING ||
	    !VB_IS_SMS_PROVIDER(plugin))
		return NULL;
	return plugin;
}

static gboolean
vb_sms_router_is_down(VbSmsRouter *self, const gchar *name, gint64 now)
{
	gint64 *until = g_hash_table_lookup(self->down_until, name);
	return until != NULL && *until > now;
}

static VbSmsBucket *
vb_sms_router_bucket(VbSmsRouter *self, const gchar *name)
{
	for (guint i = 0; i < VB_SMS_ROLE_LAST; i++) {
		if (g_strcmp0(self->names[i], name) == 0)
			return &self->buckets[i];
	}
	return NULL;
}

/* the provider for a message that is free to go anywhere: the first running
 * one not known to be down, else the first running one */
static const gchar *
vb_sms_router_choose(VbSmsRouter *self, gint64 now)
{
	const gchar *running = NULL;

	for (guint i = 0; i < VB_SMS_ROLE_LAST; i++) {
		if (vb_sms_router_running(self, self->names[i]) == NULL)
			continue;
		if (!vb_sms_router_is_down(self, self->names[i], now))
			return self->names[i];
		if (running == NULL)
			running = self->names[i];
	}
	return running;
}

/* whether another provider than @name could take a message at once */
static gboolean
vb_sms_router_has_alternative(VbSmsRouter *self, const gchar *name, gint64 now)
{
	for (guint i = 0; i < VB_SMS_ROLE_LAST; i++) {
		if (self->names[i] == NULL || g_strcmp0(self->names[i], name) == 0)
			continue;
		if (vb_sms_router_running(self, self->names[i]) != NULL &&
		    !vb_sms_router_is_down(self, self->names[i], now))
			return TRUE;
	}
	return FALSE;
}

guint
vb_sms_router_gate(VbOutbox *outbox, const gchar *kind, gint64 *wait_us, gpointer user_data)
{
	VbSmsRouter *self = VB_SMS_ROUTER(user_data);
	gint64 now = g_get_monotonic_time();
	const gchar *name = vb_sms_router_choose(self, now);
	VbSmsBucket *bucket = name != NULL ? vb_sms_router_bucket(self, name) : NULL;

	/* with no provider running, the dispatch says so */
	if (bucket == NULL)
		return G_MAXUINT;
	return vb_sms_bucket_capacity(bucket, now, wait_us);
}

/* the messages table */

typedef struct {
	gboolean exists;
	gboolean sticky;
	gchar *provider;
	gchar *message_id; /* set once a provider accepted the message */
} VbSmsRow;

static void
vb_sms_row_clear(VbSmsRow *row)
{
	g_clear_pointer(&row->provider, g_free);
	g_clear_pointer(&row->message_id, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VbSmsRow, vb_sms_row_clear)

static gboolean
vb_sms_router_read_row(VbSmsRouter *self, gint64 outbox_id, VbSmsRow *row, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
	    self->store,
	    "SELECT provider, sticky, message_id FROM sms_messages WHERE outbox_id = ?1", error);
	VbStoreStep step;

	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_int64(stmt, 1, outbox_id);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return FALSE;
	row->exists = step == VB_STORE_STEP_ROW;
	if (row->exists) {
		row->provider = g_strdup(vb_store_stmt_column_text(stmt, 0));
		row->sticky = vb_store_stmt_column_int64(stmt, 1) != 0;
		row->message_id = g_strdup(vb_store_stmt_column_text(stmt, 2));
	}
	return TRUE;
}

static const gchar *
vb_sms_encoding_to_string(VbSmsEncoding encoding)
{
	return encoding == VB_SMS_ENCODING_GSM7 ? "gsm7" : "ucs2";
}

/* the message's state after its send: on a power cut the outbox's own synced
 * commit, which follows the send, or a delivery report sent again by the
 * provider restore it, so these writes do not wait for the disk */
static gboolean
vb_sms_router_exec_unsynced(VbSmsRouter *self, VbStoreStmt *stmt, GError **error)
{
	g_autoptr(VbStoreTransaction) tx = NULL;

	if (vb_store_in_transaction(self->store))
		return vb_store_stmt_exec(stmt, error);
	tx = vb_store_transaction_begin_full(self->store, VB_STORE_TRANSACTION_FLAG_NO_SYNC, error);
	return tx != NULL && vb_store_stmt_exec(stmt, error) &&
	       vb_store_transaction_commit(tx, error);
}

/* committed before the attempt: from here on, the outcome is unknown until
 * the provider answers, and the message is that provider's */
static gboolean
vb_sms_router_record_attempt(VbSmsRouter *self,
			     VbOutboxItem *item,
			     VbSmsCall *call,
			     gboolean shortened,
			     GError **error)
{
	JsonObject *payload = vb_outbox_item_get_payload(item);
	g_autofree gchar *masked = vb_mask_phone(call->to);
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
	    self->store,
	    "INSERT INTO sms_messages (outbox_id, idempotency_key, visit_id, template, "
	    "to_masked, provider, sticky, attempts, encoding, segments, shortened, state, "
	    "created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, 1, ?7, ?8, ?9, 'sending', "
	    "?10, ?10) "
	    "ON CONFLICT (outbox_id) DO UPDATE SET provider = ?6, sticky = 1, "
	    "attempts = attempts + 1, encoding = ?7, segments = ?8, shortened = ?9, "
	    "state = 'sending', updated = ?10",
	    error);

	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_int64(stmt, 1, call->outbox_id);
	vb_store_stmt_bind_text(stmt, 2, vb_outbox_item_get_idempotency_key(item));
	vb_store_stmt_bind_text(stmt, 3, vb_outbox_item_get_visit_id(item));
	vb_store_stmt_bind_text(
	    stmt, 4,
	    payload != NULL ? json_object_get_string_member_with_default(payload, "template", NULL)
			    : NULL);
	vb_store_stmt_bind_text(stmt, 5, masked);
	vb_store_stmt_bind_text(stmt, 6, call->provider);
	vb_store_stmt_bind_text(stmt, 7, vb_sms_encoding_to_string(call->encoding));
	vb_store_stmt_bind_int64(stmt, 8, call->segments);
	vb_store_stmt_bind_int64(stmt, 9, shortened ? 1 : 0);
	vb_store_stmt_bind_int64(stmt, 10, g_get_real_time());
	/* synced once for all the attempts of the turn, before any is made */
	return vb_sms_router_exec_unsynced(self, stmt, error);
}

/* @sticky: -1 leaves it; @message_id NULL leaves it */
static void
vb_sms_router_update_row(VbSmsRouter *self,
			 gint64 outbox_id,
			 const gchar *state,
			 gint sticky,
			 const gchar *message_id,
			 const gchar *last_error)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
	    self->store,
	    "UPDATE sms_messages SET state = ?2, sticky = CASE WHEN ?3 < 0 THEN sticky ELSE ?3 "
	    "END, message_id = COALESCE(?4, message_id), last_error = ?5, updated = ?6 "
	    "WHERE outbox_id = ?1",
	    &error);

	if (stmt != NULL) {
		vb_store_stmt_bind_int64(stmt, 1, outbox_id);
		vb_store_stmt_bind_text(stmt, 2, state);
		vb_store_stmt_bind_int64(stmt, 3, sticky);
		vb_store_stmt_bind_text(stmt, 4, message_id);
		vb_store_stmt_bind_text(stmt, 5, last_error);
		vb_store_stmt_bind_int64(stmt, 6, g_get_real_time());
	}
	if (stmt == NULL || !vb_sms_router_exec_unsynced(self, stmt, &error))
		g_warning("cannot record the state of SMS %" G_GINT64_FORMAT ": %s", outbox_id,
			  error->message);
}

/* delivery states only move forward: queued, sent, then one of the last three */
static gint
vb_sms_state_rank(const gchar *state)
{
	static const struct {
		const gchar *state;
		gint rank;
	} ranks[] = {
	    {"sending", 0}, {"waiting", 0},   {"unknown", 0},	  {"queued", 1},
	    {"sent", 2},    {"delivered", 3}, {"undelivered", 3}, {"failed", 3},
	};

	for (guint i = 0; i < G_N_ELEMENTS(ranks); i++) {
		if (g_strcmp0(state, ranks[i].state) == 0)
			return ranks[i].rank;
	}
	return -1;
}

/* FALSE when no message of @provider has @message_id */
static gboolean
vb_sms_router_apply_status(VbSmsRouter *self,
			   const gchar *provider,
			   const gchar *message_id,
			   const gchar *state)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	gint64 outbox_id;
	gint rank;
	g_autofree gchar *current = NULL;
	VbStoreStep step;

	stmt = vb_store_prepare(self->store,
				"SELECT outbox_id, state FROM sms_messages "
				"WHERE provider = ?1 AND message_id = ?2",
				&error);
	if (stmt == NULL) {
		g_warning("cannot read the SMS messages: %s", error->message);
		return TRUE;
	}
	vb_store_stmt_bind_text(stmt, 1, provider);
	vb_store_stmt_bind_text(stmt, 2, message_id);
	step = vb_store_stmt_step(stmt, &error);
	if (step == VB_STORE_STEP_ERROR) {
		g_warning("cannot read the SMS messages: %s", error->message);
		return TRUE;
	}
	if (step != VB_STORE_STEP_ROW)
		return FALSE;
	outbox_id = vb_store_stmt_column_int64(stmt, 0);
	current = g_strdup(vb_store_stmt_column_text(stmt, 1));
	g_clear_pointer(&stmt, vb_store_stmt_free);

	rank = vb_sms_state_rank(state);
	if (rank <= vb_sms_state_rank(current)) {
		g_debug("SMS %s of %s: %s after %s is ignored: states only move forward",
			message_id, provider, state, current);
		return TRUE;
	}
	stmt = vb_store_prepare(self->store,
				"UPDATE sms_messages SET state = ?2, updated = ?3 "
				"WHERE outbox_id = ?1",
				&error);
	if (stmt != NULL) {
		vb_store_stmt_bind_int64(stmt, 1, outbox_id);
		vb_store_stmt_bind_text(stmt, 2, state);
		vb_store_stmt_bind_int64(stmt, 3, g_get_real_time());
	}
	if (stmt == NULL || !vb_sms_router_exec_unsynced(self, stmt, &error))
		g_warning("cannot record the delivery state of SMS %s: %s", message_id,
			  error->message);
	else
		g_debug("SMS %s of %s is %s", message_id, provider, state);
	return TRUE;
}

static gboolean
vb_sms_router_provider_in_flight(VbSmsRouter *self, const gchar *provider)
{
	GHashTableIter iter;
	VbSmsCall *call;

	g_hash_table_iter_init(&iter, self->in_flight);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&call)) {
		if (g_strcmp0(call->provider, provider) == 0)
			return TRUE;
	}
	return FALSE;
}

static void
vb_sms_router_event_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	VbSmsRouter *self = VB_SMS_ROUTER(user_data);
	const gchar *provider = vb_event_get_source(event);
	const gchar *message_id;
	const gchar *state;

	if (g_strcmp0(vb_event_get_name(event), VB_EVENT_SMS_STATUS) != 0 || provider == NULL)
		return;
	message_id = vb_event_lookup_string(event, VB_KEY_MESSAGE_ID);
	state = vb_event_lookup_string(event, VB_KEY_STATE);
	if (message_id == NULL || vb_sms_state_rank(state) < 1) {
		g_warning("%s reported a delivery state without a message id or with an unknown "
			  "state '%s'; it is ignored",
			  provider, state != NULL ? state : "");
		return;
	}
	if (vb_sms_router_apply_status(self, provider, message_id, state))
		return;
	/* a report may overtake the answer of its send: kept until the answer */
	if (vb_sms_router_provider_in_flight(self, provider) &&
	    g_hash_table_size(self->early) < VB_SMS_ROUTER_EARLY_MAX) {
		g_hash_table_replace(self->early, g_strdup_printf("%s\n%s", provider, message_id),
				     g_strdup(state));
		return;
	}
	g_message("%s reported SMS %s as %s, but no message sent here has that id; ignored",
		  provider, message_id, state);
}

/* the answer */

static JsonNode *
vb_sms_router_result(VbSmsCall *call, const gchar *message_id)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "message-id");
	json_builder_add_string_value(builder, message_id);
	json_builder_set_member_name(builder, "provider");
	json_builder_add_string_value(builder, call->provider);
	json_builder_set_member_name(builder, "encoding");
	json_builder_add_string_value(builder, vb_sms_encoding_to_string(call->encoding));
	json_builder_set_member_name(builder, "segments");
	json_builder_add_int_value(builder, call->segments);
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}

static JsonNode *
vb_sms_router_skipped(const gchar *why)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "skipped");
	json_builder_add_string_value(builder, why);
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}

static void
vb_sms_router_sent(VbSmsRouter *self, VbSmsCall *call, const gchar *message_id)
{
	g_autofree gchar *key = g_strdup_printf("%s\n%s", call->provider, message_id);
	g_autofree gchar *early = NULL;
	gpointer stolen_key = NULL;
	gpointer state = NULL;

	vb_sms_router_update_row(self, call->outbox_id, "queued", -1, message_id, NULL);
	if (g_hash_table_steal_extended(self->early, key, &stolen_key, &state)) {
		g_free(stolen_key);
		early = state;
		vb_sms_router_apply_status(self, call->provider, message_id, early);
	}
}

static void
vb_sms_router_sent_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	VbSmsCall *call = user_data;
	/* freeing the call may drop the last other reference */
	g_autoptr(VbSmsRouter) self = g_object_ref(call->self);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *id = vb_sms_provider_send_finish(VB_SMS_PROVIDER(source), res, &error);
	guint retry_after = vb_sms_provider_result_get_retry_after(res);
	VbOutboxItem *item = call->item;
	gint64 now = g_get_monotonic_time();

	/* the call leaves the in-flight table, which frees it, on the way out */
	call->item = NULL;
	if (item == NULL) {
		/* the attempt had timed out: record what it became, nothing more */
		if (id != NULL) {
			g_message("SMS %" G_GINT64_FORMAT " was sent by %s after its time-out",
				  call->outbox_id, call->provider);
			vb_sms_router_sent(self, call, id);
		}
		g_hash_table_remove(self->in_flight, &call->outbox_id);
		return;
	}
	if (call->timer != NULL) {
		g_source_destroy(call->timer);
		g_clear_pointer(&call->timer, g_source_unref);
	}

	if (id != NULL) {
		g_autoptr(JsonNode) result = vb_sms_router_result(call, id);
		g_hash_table_remove(self->down_until, call->provider);
		/* an unknown outcome was resolved: the provider answers lookups */
		if (call->asking)
			vb_outbox_item_clear_fault(item, call->provider);
		vb_sms_router_sent(self, call, id);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_DONE, result, NULL, 0);
	} else if (g_error_matches(error, VB_ERROR, VB_ERROR_UNREACHABLE)) {
		/* nothing was sent: the message is free to go to the other provider */
		g_hash_table_insert(self->down_until, g_strdup(call->provider),
				    vb_sms_int64_new(now + VB_SMS_ROUTER_DOWN_US));
		vb_sms_router_update_row(self, call->outbox_id, "waiting", 0, NULL, error->message);
		if (retry_after == 0 && vb_sms_router_has_alternative(self, call->provider, now))
			retry_after = 1;
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL, error->message,
					retry_after);
	} else if (g_error_matches(error, VB_ERROR, VB_ERROR_RATE_LIMITED)) {
		/* refused, so not sent, but the provider is up: no failover */
		vb_sms_router_update_row(self, call->outbox_id, "waiting", 0, NULL, error->message);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL, error->message,
					retry_after);
	} else if (g_error_matches(error, VB_ERROR, VB_ERROR_TIMED_OUT) ||
		   g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		/* the outcome is unknown: the message stays with this provider */
		vb_sms_router_update_row(self, call->outbox_id, "unknown", 1, NULL, error->message);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_UNKNOWN, NULL, error->message,
					retry_after);
	} else if (g_error_matches(error, VB_ERROR, VB_ERROR_OUTCOME_UNKNOWABLE)) {
		/* unknown, and the provider will not tell: the operator's to fix */
		vb_sms_router_update_row(self, call->outbox_id, "unknown", 1, NULL, error->message);
		vb_outbox_item_set_fault(item, call->provider, error->message);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_UNKNOWABLE, NULL, error->message,
					retry_after);
	} else if (g_error_matches(error, VB_ERROR, VB_ERROR_OPTED_OUT)) {
		g_autoptr(GError) opt_error = NULL;
		g_autoptr(JsonNode) result = vb_sms_router_skipped("opted-out");
		if (call->customer_id > 0 &&
		    !vb_customers_set_sms_opt_out(self->customers, call->customer_id, TRUE,
						  "provider", "sms-provider", &opt_error))
			g_warning("cannot record the opt-out %s reported: %s", call->provider,
				  opt_error->message);
		vb_sms_router_update_row(self, call->outbox_id, "opted-out", 0, NULL,
					 error->message);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_DONE, result, NULL, 0);
	} else {
		vb_sms_router_update_row(self, call->outbox_id, "rejected", 0, NULL,
					 error->message);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL, error->message, 0);
	}
	g_hash_table_remove(self->in_flight, &call->outbox_id);
}

static gboolean
vb_sms_router_timeout_cb(gpointer user_data)
{
	VbSmsCall *call = user_data;
	VbOutboxItem *item = call->item;
	g_autofree gchar *msg = NULL;

	g_clear_pointer(&call->timer, g_source_unref);
	if (item == NULL)
		return G_SOURCE_REMOVE;
	call->item = NULL;
	msg = g_strdup_printf("%s did not answer within %u s: the outcome is unknown, so the "
			      "message stays with it",
			      call->provider, call->self->send_timeout_s);
	vb_sms_router_update_row(call->self, call->outbox_id, "unknown", 1, NULL, msg);
	/* the call stays in flight until the provider answers */
	vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_UNKNOWN, NULL, msg, 0);
	return G_SOURCE_REMOVE;
}

/* the attempts recorded in this turn are synced to disk together, then made:
 * after a power cut, each message is still with the provider that had it */
static gboolean
vb_sms_router_send_cb(gpointer user_data)
{
	VbSmsRouter *self = VB_SMS_ROUTER(user_data);
	g_autoptr(GPtrArray) calls = g_steal_pointer(&self->to_send);
	g_autoptr(GError) error = NULL;
	gboolean synced;

	g_clear_pointer(&self->send_source, g_source_unref);
	self->to_send = g_ptr_array_new();
	synced = vb_store_sync(self->store, &error);
	for (guint i = 0; i < calls->len; i++) {
		VbSmsCall *call = g_ptr_array_index(calls, i);
		g_autoptr(GCancellable) cancellable = g_steal_pointer(&call->cancellable);
		VbOutboxItem *item = call->item;
		VbPlugin *provider = vb_sms_router_running(self, call->provider);
		VbSmsMessage message = {0};

		if (!synced || provider == NULL) {
			g_autofree gchar *msg =
			    !synced ? g_strdup_printf("cannot record the attempt, so it is not "
						      "made: %s",
						      error->message)
				    : g_strdup_printf("%s stopped before the message went",
						      call->provider);
			call->item = NULL;
			vb_sms_router_update_row(self, call->outbox_id, "waiting", 0, NULL, msg);
			/* frees the call */
			g_hash_table_remove(self->in_flight, &call->outbox_id);
			vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL, msg, 0);
			continue;
		}
		call->timer = g_timeout_source_new_seconds(self->send_timeout_s);
		g_source_set_callback(call->timer, vb_sms_router_timeout_cb, call, NULL);
		g_source_set_static_name(call->timer, "[vestibule] sms send time-out");
		g_source_attach(call->timer, NULL);

		message.to = call->to;
		message.body = call->body;
		/* a new key once the outbox sent the item again on purpose */
		message.idempotency_key = vb_outbox_item_get_send_key(item);
		g_debug("SMS %" G_GINT64_FORMAT " goes to %s (%s, %u segments)", call->outbox_id,
			call->provider, vb_sms_encoding_to_string(call->encoding), call->segments);
		vb_sms_provider_send_async(VB_SMS_PROVIDER(provider), &message, cancellable,
					   vb_sms_router_sent_cb, call);
	}
	return G_SOURCE_REMOVE;
}

void
vb_sms_router_send(VbSmsRouter *self,
		   VbOutboxItem *item,
		   gint64 customer_id,
		   gchar *to,
		   gchar *body,
		   gboolean shortened,
		   GCancellable *cancellable)
{
	g_autoptr(GError) error = NULL;
	g_auto(VbSmsRow) row = {0};
	gint64 outbox_id = vb_outbox_item_get_id(item);
	gint64 now = g_get_monotonic_time();
	const gchar *name;
	VbPlugin *provider;
	VbSmsBucket *bucket;
	VbSmsCall *call;
	guint wait_ms;

	g_return_if_fail(VB_IS_SMS_ROUTER(self));

	if (!vb_sms_router_read_row(self, outbox_id, &row, &error)) {
		vb_secure_free_string(to);
		vb_secure_free_string(body);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL, error->message, 0);
		return;
	}
	/* an attempt still out: its answer decides, not a second attempt */
	if (g_hash_table_contains(self->in_flight, &outbox_id)) {
		vb_secure_free_string(to);
		vb_secure_free_string(body);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL,
					"the previous attempt has not answered yet",
					VB_SMS_ROUTER_BUSY_RETRY_MS);
		return;
	}
	/* an answer that came after its time-out: the message was sent */
	if (row.exists && row.message_id != NULL) {
		g_autoptr(JsonBuilder) builder = json_builder_new();
		g_autoptr(JsonNode) result = NULL;

		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "message-id");
		json_builder_add_string_value(builder, row.message_id);
		json_builder_set_member_name(builder, "provider");
		json_builder_add_string_value(builder, row.provider);
		json_builder_end_object(builder);
		result = json_builder_get_root(builder);
		vb_secure_free_string(to);
		vb_secure_free_string(body);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_DONE, result, NULL, 0);
		return;
	}
	if (row.exists && row.sticky) {
		name = row.provider;
		provider = vb_sms_router_running(self, name);
		if (provider == NULL) {
			g_autofree gchar *msg = g_strdup_printf(
			    "waiting for %s, which had this message when its outcome became "
			    "unknown; it is not sent through another provider",
			    name);
			vb_secure_free_string(to);
			vb_secure_free_string(body);
			vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL, msg, 0);
			return;
		}
	} else {
		name = vb_sms_router_choose(self, now);
		provider = vb_sms_router_running(self, name);
		if (provider == NULL) {
			vb_secure_free_string(to);
			vb_secure_free_string(body);
			vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL,
						"no SMS provider is running", 0);
			return;
		}
	}

	bucket = vb_sms_router_bucket(self, name);
	wait_ms = bucket != NULL ? vb_sms_bucket_take(bucket, outbox_id, now) : 0;
	if (wait_ms > 0) {
		g_autofree gchar *msg =
		    g_strdup_printf("waiting %u ms for the rate limit of %s", wait_ms, name);
		vb_secure_free_string(to);
		vb_secure_free_string(body);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL, msg, wait_ms);
		return;
	}

	call = g_new0(VbSmsCall, 1);
	call->self = g_object_ref(self);
	call->item = item;
	call->outbox_id = outbox_id;
	call->customer_id = customer_id;
	call->provider = g_strdup(name);
	call->to = to;
	call->body = body;
	call->encoding = vb_sms_text_get_encoding(body, &call->segments, NULL);
	call->asking = vb_outbox_item_get_unknown_for(item) > 0;
	if (!vb_sms_router_record_attempt(self, item, call, shortened, &error)) {
		g_prefix_error(&error, "cannot record the attempt, so it is not made: ");
		call->item = NULL;
		vb_sms_call_free(call);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL, error->message, 0);
		return;
	}
	g_hash_table_insert(self->in_flight, &call->outbox_id, call);
	call->cancellable = g_object_ref(cancellable);
	g_ptr_array_add(self->to_send, call);
	if (self->send_source != NULL)
		return;
	self->send_source = g_idle_source_new();
	/* the dispatches of this turn are all recorded by then */
	g_source_set_priority(self->send_source, G_PRIORITY_HIGH);
	g_source_set_callback(self->send_source, vb_sms_router_send_cb, g_object_ref(self),
			      g_object_unref);
	g_source_set_static_name(self->send_source, "[vestibule] sms sends");
	g_source_attach(self->send_source, NULL);
}

/* the listing */

GPtrArray *
vb_sms_router_list(VbStore *store, guint limit, GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_STORE(store), NULL);

	stmt = vb_store_prepare(store,
				"SELECT outbox_id, visit_id, template, to_masked, provider, "
				"message_id, encoding, segments, shortened, state, attempts, "
				"last_error, updated FROM sms_messages "
				"ORDER BY outbox_id DESC LIMIT ?1",
				error);
	if (stmt == NULL)
		return NULL;
	vb_store_stmt_bind_int64(stmt, 1, limit);
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		GVariantBuilder b;
		const gchar *text_cols[] = {NULL,	"visit",      "template", "to",
					    "provider", "message-id", "encoding"};

		g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
		g_variant_builder_add(&b, "{sv}", "outbox-id",
				      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 0)));
		for (gint c = 1; c < (gint)G_N_ELEMENTS(text_cols); c++) {
			const gchar *v = vb_store_stmt_column_text(stmt, c);
			g_variant_builder_add(&b, "{sv}", text_cols[c],
					      g_variant_new_string(v != NULL ? v : ""));
		}
		g_variant_builder_add(
		    &b, "{sv}", "segments",
		    g_variant_new_uint32((guint32)vb_store_stmt_column_int64(stmt, 7)));
		g_variant_builder_add(&b, "{sv}", "shortened",
				      g_variant_new_boolean(vb_store_stmt_column_int64(stmt, 8)));
		g_variant_builder_add(&b, "{sv}", "state",
				      g_variant_new_string(vb_store_stmt_column_text(stmt, 9)));
		g_variant_builder_add(
		    &b, "{sv}", "attempts",
		    g_variant_new_uint32((guint32)vb_store_stmt_column_int64(stmt, 10)));
		g_variant_builder_add(
		    &b, "{sv}", "last-error",
		    g_variant_new_string(vb_store_stmt_column_text(stmt, 11) != NULL
					     ? vb_store_stmt_column_text(stmt, 11)
					     : ""));
		g_variant_builder_add(&b, "{sv}", "updated",
				      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 12)));
		g_ptr_array_add(rows, g_variant_ref_sink(g_variant_builder_end(&b)));
	}
	if (step == VB_STORE_STEP_ERROR)
		return NULL;
	return g_steal_pointer(&rows);
}

/* the object */

void
vb_sms_router_set_config(VbSmsRouter *self, VbConfig *config)
{
	g_return_if_fail(VB_IS_SMS_ROUTER(self));

	for (guint i = 0; i < VB_SMS_ROLE_LAST; i++) {
		const gchar *value =
		    vb_config_get_string(config, "services", i == 0 ? "sms" : "sms-fallback");
		g_free(self->names[i]);
		self->names[i] = value != NULL && value[0] != '\0' ? g_strdup(value) : NULL;
	}
	/* the same provider twice is one provider */
	if (g_strcmp0(self->names[0], self->names[1]) == 0)
		g_clear_pointer(&self->names[1], g_free);
	vb_sms_bucket_configure(&self->buckets[VB_SMS_ROLE_PRIMARY],
				(guint)vb_config_get_int(config, "sms", "rate-per-minute"));
	vb_sms_bucket_configure(
	    &self->buckets[VB_SMS_ROLE_FALLBACK],
	    (guint)vb_config_get_int(config, "sms", "fallback-rate-per-minute"));
	self->max_segments = (guint)vb_config_get_int(config, "sms", "max-segments");
	self->send_timeout_s = (guint)vb_config_get_int(config, "sms", "send-timeout-s");
}

void
vb_sms_router_start(VbSmsRouter *self)
{
	g_return_if_fail(VB_IS_SMS_ROUTER(self));
	if (self->event_handler != 0)
		return;
	self->event_handler = g_signal_connect(vb_context_get_bus(self->context), "event",
					       G_CALLBACK(vb_sms_router_event_cb), self);
}

void
vb_sms_router_stop(VbSmsRouter *self)
{
	g_return_if_fail(VB_IS_SMS_ROUTER(self));
	g_clear_signal_handler(&self->event_handler, vb_context_get_bus(self->context));
}

static void
vb_sms_router_dispose(GObject *object)
{
	VbSmsRouter *self = VB_SMS_ROUTER(object);

	vb_sms_router_stop(self);
	g_clear_object(&self->customers);
	g_clear_object(&self->store);
	G_OBJECT_CLASS(vb_sms_router_parent_class)->dispose(object);
}

static void
vb_sms_router_finalize(GObject *object)
{
	VbSmsRouter *self = VB_SMS_ROUTER(object);

	for (guint i = 0; i < VB_SMS_ROLE_LAST; i++) {
		g_free(self->names[i]);
		g_hash_table_unref(self->buckets[i].slots);
	}
	g_hash_table_unref(self->down_until);
	g_hash_table_unref(self->in_flight);
	g_hash_table_unref(self->early);
	g_ptr_array_unref(self->to_send);
	G_OBJECT_CLASS(vb_sms_router_parent_class)->finalize(object);
}

static void
vb_sms_router_class_init(VbSmsRouterClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = vb_sms_router_dispose;
	object_class->finalize = vb_sms_router_finalize;
}

static void
vb_sms_router_init(VbSmsRouter *self)
{
	for (guint i = 0; i < VB_SMS_ROLE_LAST; i++)
		self->buckets[i].slots =
		    g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
	self->down_until = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	/* a call holds a reference on the router: it is freed by its answer */
	self->in_flight = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
						(GDestroyNotify)vb_sms_call_free);
	self->early = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->to_send = g_ptr_array_new();
	self->max_segments = 3;
	self->send_timeout_s = 60;
}

VbSmsRouter *
vb_sms_router_new(VbContext *context, VbPluginLoader *loader, VbCustomers *customers)
{
	VbSmsRouter *self = g_object_new(VB_TYPE_SMS_ROUTER, NULL);

	self->context = context;
	self->store = g_object_ref(vb_context_get_store(context));
	self->loader = loader;
	self->customers = g_object_ref(customers);
	return self;
}
