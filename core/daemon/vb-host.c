/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-audit-private.h"
#include "vb-bus-private.h"
#include "vb-crypto-private.h"
#include "vb-error.h"
#include "vb-host-private.h"
#include "vb-redact-private.h"
#include "vb-store-private.h"

/* events are written to the audit log in batches, by commits that do not wait
 * for the disk: an fsync per tap would put the SD card's latency on the
 * tap-to-unlock path. A crash of the daemon loses at most the last
 * AUDIT_FLUSH_MS of audit rows; a power cut also those written since the last
 * synced commit, which money and visit state always are */
#define AUDIT_FLUSH_MS 200
/* a batch this long is written as soon as the loop has nothing else to do,
 * which keeps it out of a tap's way (the processor's answer, the unlock); one
 * four times as long is written at the next turn of the loop, whatever else
 * waits, so that a flood of events cannot grow the buffer without bound */
#define AUDIT_BATCH 64
#define AUDIT_MAX_PENDING (4 * AUDIT_BATCH)
/* an event's number (its seq in the audit log and the event stream) names it
 * across restarts, and a follower resumes after the last one it read. The bus
 * hands numbers out in memory, and the audit rows that record them may be lost
 * to a crash, so numbers are reserved in the store ahead of use, SEQ_BLOCK at a
 * time, in a synced commit ('event-seq' in upkeep: the highest number that may
 * have been handed out). A start continues from there, past every number any
 * follower can have seen; a restart skips at most a block. The next block is
 * reserved from the loop when half of this one is used, never from the bus's
 * emit; only an event delivered past the reserved mark (the loop held up for
 * half a block of events) waits for the commit, before any follower sees it */
#define SEQ_BLOCK 10000
#define SEQ_RETRY_S 10

G_STATIC_ASSERT(VB_CARD_TOKEN_SIZE == VB_CRYPTO_HMAC_HEX_SIZE);

struct _VbHost {
	GObject parent_instance;
	VbContext *context;
	VbConfig *config;
	GMutex key_mutex;
	GBytes *keys[VB_STORE_KEY_LAST]; /* guarded by key_mutex: readers tokenize in threads */
	gulong audit_handler;
	GPtrArray *audit_pending;  /* of VbEvent */
	GPtrArray *audit_payloads; /* of gchar *: each pending event's payload, redacted */
	/* the last event's redacted payload, for its other listeners (the
	 * followers of the control API): serialized once per event */
	VbEvent *payload_event;
	gchar *payload_json;
	GHashTable *event_labels; /* interned event name -> its metric labels */
	GSource *audit_source;
	gboolean audit_source_is_idle; /* not the time-out: a batch is full */
	guint64 seq_reserved;	       /* the highest event number reserved in the store */
	guint64 seq_seen;	       /* the highest number delivered */
	gboolean seq_failing;	       /* the last reservation failed: retried on a timer */
	GSource *seq_source;	       /* the next reservation, if one is due */
};

G_DEFINE_FINAL_TYPE(VbHost, vb_host, G_TYPE_OBJECT)

static const gchar *vb_store_key_names[VB_STORE_KEY_LAST] = {
    [VB_STORE_KEY_CARD_TOKEN] = "card-token-key",
    [VB_STORE_KEY_PHONE] = "phone-key",
    [VB_STORE_KEY_PHONE_INDEX] = "phone-index-key",
    [VB_STORE_KEY_OTP] = "otp-key",
};

static const gchar *
vb_host_secrets_path(VbHost *self)
{
	return self->config != NULL ? vb_config_get_secrets_path(self->config) : "(none loaded)";
}

gboolean
vb_host_set_config(VbHost *self, VbConfig *config, GError **error)
{
	GBytes *keys[VB_STORE_KEY_LAST] = {NULL};

	g_return_val_if_fail(VB_IS_HOST(self), FALSE);

	/* a malformed key is an error; a missing one only disables what needs it */
	for (guint i = 0; i < VB_STORE_KEY_LAST; i++) {
		g_autoptr(GError) error_local = NULL;
		keys[i] = vb_config_get_secret_key32(config, "vestibule", vb_store_key_names[i],
						     &error_local);
		if (keys[i] == NULL &&
		    !g_error_matches(error_local, VB_ERROR, VB_ERROR_NOT_FOUND)) {
			for (guint j = 0; j < i; j++)
				g_clear_pointer(&keys[j], g_bytes_unref);
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
	}
	g_set_object(&self->config, config);
	g_mutex_lock(&self->key_mutex);
	for (guint i = 0; i < VB_STORE_KEY_LAST; i++) {
		g_clear_pointer(&self->keys[i], g_bytes_unref);
		self->keys[i] = keys[i];
	}
	g_mutex_unlock(&self->key_mutex);
	return TRUE;
}

static const gchar *
vb_host_get_setting(gpointer user_data, const gchar *key)
{
	VbHost *self = VB_HOST(user_data);
	if (self->config == NULL)
		return NULL;
	return vb_config_get_string(self->config, "vestibule", key);
}

static GBytes *
vb_host_get_secret(gpointer user_data, const gchar *group, const gchar *key, GError **error)
{
	VbHost *self = VB_HOST(user_data);
	GBytes *secret = NULL;

	if (self->config != NULL)
		secret = vb_config_get_secret(self->config, group, key);
	if (secret == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    "no secret '%s' in section [%s] of the secrets file %s", key, group,
			    vb_host_secrets_path(self));
	}
	return secret;
}

GBytes *
vb_host_get_store_key(VbHost *self, VbStoreKey key, GError **error)
{
	GBytes *bytes;

	g_return_val_if_fail(VB_IS_HOST(self), NULL);
	g_return_val_if_fail(key < VB_STORE_KEY_LAST, NULL);
	g_mutex_lock(&self->key_mutex);
	bytes = self->keys[key] != NULL ? g_bytes_ref(self->keys[key]) : NULL;
	g_mutex_unlock(&self->key_mutex);
	if (bytes == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    "no %s in [vestibule] of the secrets file %s; see "
			    "data/config-reference.md for how to make one",
			    vb_store_key_names[key], vb_host_secrets_path(self));
	}
	return bytes;
}

static gboolean
vb_host_tokenize(gpointer user_data,
		 const gchar *prefix,
		 const guint8 *data,
		 gsize len,
		 gchar token[VB_CARD_TOKEN_SIZE],
		 GError **error)
{
	VbHost *self = VB_HOST(user_data);
	gboolean ok = FALSE;

	g_mutex_lock(&self->key_mutex);
	if (self->keys[VB_STORE_KEY_CARD_TOKEN] != NULL) {
		vb_crypto_hmac_hex_into(self->keys[VB_STORE_KEY_CARD_TOKEN], prefix, data, len,
					token);
		ok = TRUE;
	}
	g_mutex_unlock(&self->key_mutex);
	if (!ok) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    "no card-token-key in [vestibule] of the secrets file %s: cards "
			    "cannot be identified; see data/config-reference.md",
			    vb_host_secrets_path(self));
	}
	return ok;
}

static gboolean
vb_host_audit_timeout_cb(gpointer user_data);

/* replaces the pending flush, if any, with @source (an idle source when
 * @batch_full, else the time-out) */
static void
vb_host_schedule_audit(VbHost *self, GSource *source, gint priority, gboolean batch_full)
{
	if (self->audit_source != NULL) {
		g_source_destroy(self->audit_source);
		g_source_unref(self->audit_source);
	}
	self->audit_source = source;
	self->audit_source_is_idle = batch_full;
	g_source_set_priority(source, priority);
	g_source_set_callback(source, vb_host_audit_timeout_cb, self, NULL);
	g_source_set_static_name(source, "[vestibule] audit flush");
	g_source_attach(source, g_main_context_get_thread_default());
}

void
vb_host_flush_audit(VbHost *self)
{
	VbStore *store = vb_context_get_store(self->context);
	VbMetrics *metrics = vb_context_get_metrics(self->context);
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;

	g_return_if_fail(VB_IS_HOST(self));

	if (self->audit_source != NULL) {
		g_source_destroy(self->audit_source);
		g_clear_pointer(&self->audit_source, g_source_unref);
	}
	if (self->audit_pending->len == 0)
		return;
	if (vb_store_in_transaction(store)) {
		/* called from inside someone's transaction: the loop writes it next */
		vb_host_schedule_audit(self, g_idle_source_new(), G_PRIORITY_DEFAULT, TRUE);
		return;
	}
	tx = vb_store_transaction_begin_full(store, VB_STORE_TRANSACTION_FLAG_NO_SYNC, &error);
	for (guint i = 0; tx != NULL && i < self->audit_pending->len; i++) {
		if (!vb_audit_append(store, g_ptr_array_index(self->audit_pending, i),
				     g_ptr_array_index(self->audit_payloads, i), &error))
			break;
	}
	if (tx != NULL && error == NULL)
		vb_store_transaction_commit(tx, &error);
	if (error != NULL) {
		vb_metrics_add(metrics, "vestibule_audit_write_failures_total", NULL, 1);
		g_warning("could not write %u events to the audit log: %s",
			  self->audit_pending->len, error->message);
	}
	g_ptr_array_set_size(self->audit_pending, 0);
	g_ptr_array_set_size(self->audit_payloads, 0);
}

/* the payload of @event as the audit log records it, redacted: computed
 * once per event, whichever listener asks first; valid until the next event
 * is asked for */
const gchar *
vb_host_event_payload_json(VbHost *self, VbEvent *event)
{
	g_return_val_if_fail(VB_IS_HOST(self), NULL);

	/* the reference kept makes the pointer a safe key */
	if (self->payload_event != event) {
		g_clear_pointer(&self->payload_event, vb_event_unref);
		g_free(self->payload_json);
		self->payload_json = vb_redact_event_payload_to_string(event);
		self->payload_event = vb_event_ref(event);
	}
	return self->payload_json;
}

static gboolean
vb_host_audit_timeout_cb(gpointer user_data)
{
	VbHost *self = VB_HOST(user_data);
	g_clear_pointer(&self->audit_source, g_source_unref);
	vb_host_flush_audit(self);
	return G_SOURCE_REMOVE;
}

/* raises the reserved mark to @used + SEQ_BLOCK in a synced commit; never lowers it,
 * even after a start that could not read it */
static gboolean
vb_host_reserve_seq(VbHost *self, guint64 used, GError **error)
{
	VbStore *store = vb_context_get_store(self->context);
	guint64 mark = MAX(used, self->seq_reserved) + SEQ_BLOCK;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;

	tx = vb_store_transaction_begin(store, error);
	if (tx != NULL)
		stmt = vb_store_prepare(store,
					"INSERT INTO upkeep (name, value) VALUES ('event-seq', ?1) "
					"ON CONFLICT (name) DO UPDATE SET "
					"value = max(value, excluded.value)",
					error);
	if (stmt != NULL)
		vb_store_stmt_bind_int64(stmt, 1, (gint64)mark);
	if (stmt == NULL || !vb_store_stmt_exec(stmt, error) ||
	    !vb_store_transaction_commit(tx, error)) {
		g_prefix_error(error, "cannot reserve event numbers: ");
		return FALSE;
	}
	self->seq_reserved = mark;
	return TRUE;
}

static gboolean
vb_host_seq_cb(gpointer user_data);

static void
vb_host_schedule_seq(VbHost *self, GSource *source)
{
	if (self->seq_source != NULL) {
		g_source_destroy(self->seq_source);
		g_source_unref(self->seq_source);
	}
	self->seq_source = source;
	g_source_set_priority(source, G_PRIORITY_LOW);
	g_source_set_callback(source, vb_host_seq_cb, self, NULL);
	g_source_set_static_name(source, "[vestibule] event numbers");
	g_source_attach(source, g_main_context_get_thread_default());
}

static void
vb_host_seq_failed(VbHost *self, const GError *error)
{
	g_warning("%s; trying again in %d s", error->message, SEQ_RETRY_S);
	vb_metrics_add(vb_context_get_metrics(self->context),
		       "vestibule_audit_write_failures_total", NULL, 1);
	self->seq_failing = TRUE;
	vb_host_schedule_seq(self, g_timeout_source_new_seconds(SEQ_RETRY_S));
}

static gboolean
vb_host_seq_cb(gpointer user_data)
{
	VbHost *self = VB_HOST(user_data);
	g_autoptr(GError) error = NULL;

	g_clear_pointer(&self->seq_source, g_source_unref);
	if (vb_store_in_transaction(vb_context_get_store(self->context)))
		vb_host_schedule_seq(self, g_idle_source_new());
	else if (vb_host_reserve_seq(self, self->seq_seen, &error))
		self->seq_failing = FALSE;
	else
		vb_host_seq_failed(self, error);
	return G_SOURCE_REMOVE;
}

/* keeps the reserved mark ahead of the numbers handed out */
static void
vb_host_check_seq(VbHost *self, VbEvent *event)
{
	guint64 seq = vb_event_get_sequence(event);
	g_autoptr(GError) error = NULL;

	self->seq_seen = MAX(self->seq_seen, seq);
	if (seq > self->seq_reserved && !self->seq_failing &&
	    !vb_store_in_transaction(vb_context_get_store(self->context))) {
		/* past the mark: on disk before a follower sees it */
		if (!vb_host_reserve_seq(self, seq, &error))
			vb_host_seq_failed(self, error);
	}
	if (seq + SEQ_BLOCK / 2 > self->seq_reserved && self->seq_source == NULL)
		vb_host_schedule_seq(self, g_idle_source_new());
}

static void
vb_host_audit_event_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	VbHost *self = VB_HOST(user_data);
	/* names are interned, and few: their labels are made once */
	const gchar *name = vb_event_get_name(event);
	const gchar *labels = g_hash_table_lookup(self->event_labels, name);

	if (labels == NULL) {
		gchar *made = vb_metrics_labels("name", name, NULL);
		g_hash_table_insert(self->event_labels, (gpointer)name, made);
		labels = made;
	}

	vb_host_check_seq(self, event);

	vb_metrics_add(vb_context_get_metrics(self->context), "vestibule_bus_events_total", labels,
		       1);
	g_ptr_array_add(self->audit_pending, vb_event_ref(event));
	g_ptr_array_add(self->audit_payloads, g_strdup(vb_host_event_payload_json(self, event)));
	/* never written from here: the event may come from inside a caller's
	 * transaction. Each step up replaces the source of the step below */
	if (self->audit_pending->len >= AUDIT_MAX_PENDING) {
		if (self->audit_source != NULL &&
		    g_source_get_priority(self->audit_source) == G_PRIORITY_DEFAULT)
			return;
		vb_host_schedule_audit(self, g_idle_source_new(), G_PRIORITY_DEFAULT, TRUE);
	} else if (self->audit_pending->len >= AUDIT_BATCH) {
		if (self->audit_source != NULL && self->audit_source_is_idle)
			return;
		vb_host_schedule_audit(self, g_idle_source_new(), G_PRIORITY_LOW, TRUE);
	} else if (self->audit_source == NULL) {
		vb_host_schedule_audit(self, g_timeout_source_new(AUDIT_FLUSH_MS), G_PRIORITY_LOW,
				       FALSE);
	}
}

/* the highest event number the store may have seen: the reserved mark, or
 * for a store written before numbers were reserved, the audit log's highest
 * seq ever (sqlite_sequence keeps it when retention deleted the rows) */
static guint64
vb_host_read_seq(VbHost *self, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	stmt = vb_store_prepare(
	    vb_context_get_store(self->context),
	    "SELECT max(coalesce((SELECT value FROM upkeep WHERE name = 'event-seq'), 0), "
	    "coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0), "
	    "coalesce((SELECT max(seq) FROM audit), 0))",
	    error);
	if (stmt == NULL)
		return 0;
	step = vb_store_stmt_step(stmt, error);
	if (step != VB_STORE_STEP_ROW)
		return 0;
	return (guint64)MAX(vb_store_stmt_column_int64(stmt, 0), 0);
}

void
vb_host_start_audit(VbHost *self)
{
	VbBus *bus;
	g_autoptr(GError) error = NULL;

	g_return_if_fail(VB_IS_HOST(self));
	if (self->audit_handler != 0)
		return;
	/* numbering continues past what the last run may have handed out */
	bus = vb_context_get_bus(self->context);
	self->seq_reserved = vb_host_read_seq(self, &error);
	if (error != NULL) {
		g_warning("cannot read where event numbers stopped: %s", error->message);
		g_clear_error(&error);
	}
	self->seq_seen = self->seq_reserved;
	vb_bus_set_sequence(bus, self->seq_reserved);
	if (!vb_host_reserve_seq(self, self->seq_seen, &error))
		vb_host_seq_failed(self, error);
	self->audit_handler = g_signal_connect(vb_context_get_bus(self->context), "event",
					       G_CALLBACK(vb_host_audit_event_cb), self);
}

static const VbContextHost vb_host_funcs = {
    .get_setting = vb_host_get_setting,
    .get_secret = vb_host_get_secret,
    .tokenize = vb_host_tokenize,
};

static void
vb_host_dispose(GObject *object)
{
	VbHost *self = VB_HOST(object);

	if (self->context != NULL) {
		if (self->audit_handler != 0) {
			vb_host_flush_audit(self);
			g_clear_signal_handler(&self->audit_handler,
					       vb_context_get_bus(self->context));
		}
		vb_context_set_host(self->context, NULL, NULL);
	}
	if (self->audit_source != NULL) {
		g_source_destroy(self->audit_source);
		g_clear_pointer(&self->audit_source, g_source_unref);
	}
	if (self->seq_source != NULL) {
		g_source_destroy(self->seq_source);
		g_clear_pointer(&self->seq_source, g_source_unref);
	}
	g_clear_object(&self->context);
	g_clear_object(&self->config);
	G_OBJECT_CLASS(vb_host_parent_class)->dispose(object);
}

static void
vb_host_finalize(GObject *object)
{
	VbHost *self = VB_HOST(object);

	for (guint i = 0; i < VB_STORE_KEY_LAST; i++)
		g_clear_pointer(&self->keys[i], g_bytes_unref);
	g_ptr_array_unref(self->audit_pending);
	g_ptr_array_unref(self->audit_payloads);
	g_clear_pointer(&self->payload_event, vb_event_unref);
	g_free(self->payload_json);
	g_hash_table_unref(self->event_labels);
	g_mutex_clear(&self->key_mutex);
	G_OBJECT_CLASS(vb_host_parent_class)->finalize(object);
}

static void
vb_host_class_init(VbHostClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = vb_host_dispose;
	object_class->finalize = vb_host_finalize;
}

static void
vb_host_init(VbHost *self)
{
	g_mutex_init(&self->key_mutex);
	self->audit_pending = g_ptr_array_new_with_free_func((GDestroyNotify)vb_event_unref);
	self->audit_payloads = g_ptr_array_new_with_free_func(g_free);
	self->event_labels = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
}

VbHost *
vb_host_new(VbContext *context)
{
	VbHost *self = g_object_new(VB_TYPE_HOST, NULL);
	VbMetrics *metrics = vb_context_get_metrics(context);

	self->context = g_object_ref(context);
	vb_metrics_declare(metrics, "vestibule_bus_events_total", VB_METRIC_COUNTER,
			   "Events carried by the bus, by name");
	vb_metrics_declare(metrics, "vestibule_audit_write_failures_total", VB_METRIC_COUNTER,
			   "Batches of events the audit log could not write");
	vb_context_set_host(context, &vb_host_funcs, self);
	return self;
}
