/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * the outbox is the one way out for SMS, captures, cancels and partner
 * notifications. Its rules keep a kill -9 from losing or doubling anything:
 * - an item is a row before anything is sent, and its idempotency key never
 *   changes, so every attempt, before or after a crash, asks the peer for the
 *   same thing and the peer answers a repeat from its own record
 * - the row turns 'sending' in a committed write before the dispatcher runs; a
 *   row still 'sending' at start was cut short and goes again, same key
 * - the final outcome is written in one transaction with what follows from it
 *   (the complete func), so a crash leaves either both or neither
 * - a stop cancels what is in flight without recording anything: those rows
 *   stay 'sending' and resume at the next start
 */

#include "config.h"

#include <string.h>

#include "vb-crypto-private.h"
#include "vb-error.h"
#include "vb-outbox-private.h"
#include "vb-outbox-test-private.h"

#define VB_OUTBOX_MAX_IN_FLIGHT 8
#define VB_OUTBOX_MAX_SLEEP_MS 60000  /* read the clock again at least this often */
#define VB_OUTBOX_BUSY_RETRY_MS 100   /* a caller holds a transaction open */
#define VB_OUTBOX_STORE_RETRY_MS 5000 /* the store failed: look again later */
#define VB_OUTBOX_LAST_ERROR_MAX 512  /* characters kept of a last_error */

#define VB_OUTBOX_METRIC_ITEMS "vb_outbox_items"
#define VB_OUTBOX_METRIC_DISPATCH "vb_outbox_dispatch_total"
#define VB_OUTBOX_METRIC_REFUSED "vb_outbox_refused_total"

/* only the first live item of each recipient may go out: a pending item is
 * a head when no older item of its recipient is still pending or sending.
 * Both the scan (outbox_pending, in the order of the queue) and this test
 * (outbox_live) read partial indexes of the live items only, so neither the
 * cost nor the memory of a tick grows with the history of sent items, and no
 * query needs a temporary table */
#define VB_OUTBOX_SQL_HEAD                                                                         \
	"NOT EXISTS (SELECT 1 FROM outbox AS e WHERE e.state IN ('pending', 'sending') "           \
	"AND e.recipient = o.recipient AND e.id < o.id)"

typedef struct {
	VbOutboxDispatchFunc dispatch;
	VbOutboxCompleteFunc complete;
	gpointer user_data;
	GDestroyNotify destroy;
} VbOutboxHandler;

struct _VbOutboxItem {
	VbOutbox *outbox; /* unowned; NULL once the outbox stopped: the completion is ignored */
	GMainContext *context;
	GCancellable *cancellable;
	gint64 id;
	gchar *kind;
	gchar *recipient;
	gchar *idempotency_key;
	gchar *visit_id;
	JsonObject *payload; /* NULL if the stored text is not a JSON object */
	guint attempts;	     /* including this one */
	gint64 created;
};

struct _VbOutbox {
	GObject parent_instance;
	VbStore *store;
	VbMetrics *metrics;
	GMainContext *context;
	GHashTable *handlers;  /* kind -> VbOutboxHandler */
	GHashTable *in_flight; /* &item->id -> VbOutboxItem, unowned: freed by its completion */
	GHashTable *ephemeral; /* idempotency key -> secret, wiped when removed */
	GSource *source;       /* the next look for due items */
	gboolean source_is_idle;
	gboolean started;
	gboolean in_tick;
	gint64 n_done; /* for the gauge; -1 until counted */
	guint max_pending;
	gint64 max_age_s;
	guint max_attempts;
	guint base_delay_ms;
	guint max_delay_ms;
	VbOutboxClockFunc clock_func;
	gpointer clock_data;
	VbOutboxRandomFunc random_func;
	gpointer random_data;
};

G_DEFINE_FINAL_TYPE(VbOutbox, vb_outbox, G_TYPE_OBJECT)

static const gchar *vb_outbox_states[] = {"pending", "sending", "done", "dead"};
#define VB_OUTBOX_N_STATES G_N_ELEMENTS(vb_outbox_states)
#define VB_OUTBOX_STATE_DONE 2

static gint
vb_outbox_state_index(const gchar *state)
{
	for (guint i = 0; i < VB_OUTBOX_N_STATES; i++) {
		if (g_strcmp0(state, vb_outbox_states[i]) == 0)
			return (gint)i;
	}
	return -1;
}

static void
vb_outbox_handler_free(VbOutboxHandler *handler)
{
	if (handler->destroy != NULL)
		handler->destroy(handler->user_data);
	g_free(handler);
}

static void
vb_outbox_secret_free(gchar *secret)
{
	if (secret == NULL)
		return;
	vb_crypto_wipe(secret, strlen(secret));
	g_free(secret);
}

static gint64
vb_outbox_now(VbOutbox *self)
{
	if (self->clock_func != NULL)
		return self->clock_func(self->clock_data);
	return g_get_real_time();
}

static const gchar *
vb_outbox_outcome_to_string(VbOutboxOutcome outcome)
{
	if (outcome == VB_OUTBOX_OUTCOME_DONE)
		return "done";
	if (outcome == VB_OUTBOX_OUTCOME_RETRY)
		return "retry";
	return "failed";
}

/* what a peer or a handler says may be long or broken UTF-8; keep it readable */
static gchar *
vb_outbox_clean_error(const gchar *message)
{
	g_autofree gchar *valid = NULL;

	if (message == NULL || message[0] == '\0')
		return g_strdup("no reason given");
	valid = g_utf8_make_valid(message, -1);
	if (g_utf8_strlen(valid, -1) <= VB_OUTBOX_LAST_ERROR_MAX)
		return g_steal_pointer(&valid);
	return g_utf8_substring(valid, 0, VB_OUTBOX_LAST_ERROR_MAX);
}

/* items */

static void
vb_outbox_item_free(VbOutboxItem *item)
{
	g_clear_object(&item->cancellable);
	g_clear_pointer(&item->context, g_main_context_unref);
	g_clear_pointer(&item->payload, json_object_unref);
	g_free(item->kind);
	g_free(item->recipient);
	g_free(item->idempotency_key);
	g_free(item->visit_id);
	g_free(item);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbOutboxItem, vb_outbox_item_free)

/* columns: id, kind, recipient, idempotency_key, payload, attempts, created, visit_id */
static VbOutboxItem *
vb_outbox_item_new_from_row(VbOutbox *self, VbStoreStmt *stmt)
{
	VbOutboxItem *item = g_new0(VbOutboxItem, 1);
	g_autoptr(JsonNode) node = NULL;

	item->context = g_main_context_ref(self->context);
	item->cancellable = g_cancellable_new();
	item->id = vb_store_stmt_column_int64(stmt, 0);
	item->kind = g_strdup(vb_store_stmt_column_text(stmt, 1));
	item->recipient = g_strdup(vb_store_stmt_column_text(stmt, 2));
	item->idempotency_key = g_strdup(vb_store_stmt_column_text(stmt, 3));
	node = json_from_string(vb_store_stmt_column_text(stmt, 4), NULL);
	if (node != NULL && JSON_NODE_HOLDS_OBJECT(node))
		item->payload = json_node_dup_object(node);
	item->attempts = (guint)vb_store_stmt_column_int64(stmt, 5);
	item->created = vb_store_stmt_column_int64(stmt, 6);
	item->visit_id = g_strdup(vb_store_stmt_column_text(stmt, 7));
	return item;
}

gint64
vb_outbox_item_get_id(VbOutboxItem *item)
{
	g_return_val_if_fail(item != NULL, 0);
	return item->id;
}

const gchar *
vb_outbox_item_get_kind(VbOutboxItem *item)
{
	g_return_val_if_fail(item != NULL, NULL);
	return item->kind;
}

const gchar *
vb_outbox_item_get_recipient(VbOutboxItem *item)
{
	g_return_val_if_fail(item != NULL, NULL);
	return item->recipient;
}

const gchar *
vb_outbox_item_get_idempotency_key(VbOutboxItem *item)
{
	g_return_val_if_fail(item != NULL, NULL);
	return item->idempotency_key;
}

const gchar *
vb_outbox_item_get_visit_id(VbOutboxItem *item)
{
	g_return_val_if_fail(item != NULL, NULL);
	return item->visit_id;
}

JsonObject *
vb_outbox_item_get_payload(VbOutboxItem *item)
{
	g_return_val_if_fail(item != NULL, NULL);
	return item->payload;
}

guint
vb_outbox_item_get_attempts(VbOutboxItem *item)
{
	g_return_val_if_fail(item != NULL, 0);
	return item->attempts;
}

/* TRUE in the thread that runs the outbox's main context, or when no thread runs it */
static gboolean
vb_outbox_item_in_context(VbOutboxItem *item)
{
	if (!g_main_context_acquire(item->context))
		return FALSE;
	g_main_context_release(item->context);
	return TRUE;
}

/* a transaction of our own, or a savepoint inside the caller's */

typedef struct {
	VbStore *store;
	VbStoreTransaction *tx; /* NULL for a savepoint */
	gboolean open;
} VbOutboxTx;

static gboolean
vb_outbox_exec(VbStore *store, const gchar *sql, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(store, sql, error);
	if (stmt == NULL)
		return FALSE;
	return vb_store_stmt_exec(stmt, error);
}

static void
vb_outbox_tx_free(VbOutboxTx *otx)
{
	g_autoptr(GError) error_local = NULL;

	if (otx->tx != NULL)
		vb_store_transaction_free(otx->tx);
	else if (otx->open && (!vb_outbox_exec(otx->store, "ROLLBACK TO vb_outbox", &error_local) ||
			       !vb_outbox_exec(otx->store, "RELEASE vb_outbox", &error_local)))
		g_warning("cannot roll back an outbox savepoint: %s", error_local->message);
	g_free(otx);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbOutboxTx, vb_outbox_tx_free)

static VbOutboxTx *
vb_outbox_tx_begin(VbStore *store, GError **error)
{
	g_autoptr(VbOutboxTx) otx = g_new0(VbOutboxTx, 1);

	otx->store = store;
	if (vb_store_in_transaction(store)) {
		if (!vb_outbox_exec(store, "SAVEPOINT vb_outbox", error))
			return NULL;
	} else {
		otx->tx = vb_store_transaction_begin(store, error);
		if (otx->tx == NULL)
			return NULL;
	}
	otx->open = TRUE;
	return g_steal_pointer(&otx);
}

static gboolean
vb_outbox_tx_commit(VbOutboxTx *otx, GError **error)
{
	if (otx->tx != NULL)
		return vb_store_transaction_commit(otx->tx, error);
	if (!vb_outbox_exec(otx->store, "RELEASE vb_outbox", error))
		return FALSE;
	otx->open = FALSE;
	return TRUE;
}

/* metrics */

static gint64
vb_outbox_count_state(VbOutbox *self, const gchar *state, GError **error)
{
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(self->store, "SELECT COUNT(*) FROM outbox WHERE state = ?1", error);

	if (stmt == NULL)
		return -1;
	vb_store_stmt_bind_text(stmt, 1, state);
	if (vb_store_stmt_step(stmt, error) != VB_STORE_STEP_ROW)
		return -1;
	return vb_store_stmt_column_int64(stmt, 0);
}

static void
vb_outbox_set_gauge(VbOutbox *self, const gchar *state, gint64 value)
{
	g_autofree gchar *labels = g_strdup_printf("state=\"%s\"", state);
	vb_metrics_set(self->metrics, VB_OUTBOX_METRIC_ITEMS, labels, (gdouble)value);
}

/* done rows pile up, so they are counted once and then followed in memory; the
 * other states are bounded and read from the index */
static void
vb_outbox_update_gauges(VbOutbox *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	gint64 counts[VB_OUTBOX_N_STATES] = {0};
	VbStoreStep step;

	if (self->n_done < 0)
		self->n_done = vb_outbox_count_state(self, "done", &error);
	if (error != NULL) {
		g_warning("cannot count the outbox: %s", error->message);
		return;
	}
	stmt = vb_store_prepare(self->store,
				"SELECT state, COUNT(*) FROM outbox "
				"WHERE state IN ('pending', 'sending', 'dead') GROUP BY state",
				&error);
	if (stmt == NULL) {
		g_warning("cannot count the outbox: %s", error->message);
		return;
	}
	while ((step = vb_store_stmt_step(stmt, &error)) == VB_STORE_STEP_ROW) {
		gint i = vb_outbox_state_index(vb_store_stmt_column_text(stmt, 0));
		if (i >= 0)
			counts[i] = vb_store_stmt_column_int64(stmt, 1);
	}
	if (step == VB_STORE_STEP_ERROR) {
		g_warning("cannot count the outbox: %s", error->message);
		return;
	}
	counts[VB_OUTBOX_STATE_DONE] = self->n_done;
	for (guint i = 0; i < VB_OUTBOX_N_STATES; i++)
		vb_outbox_set_gauge(self, vb_outbox_states[i], counts[i]);
}

/* the scheduler: one source, an idle when something may be due now, else a
 * timeout to the earliest retry */

static void
vb_outbox_clear_source(VbOutbox *self)
{
	if (self->source == NULL)
		return;
	g_source_destroy(self->source);
	g_clear_pointer(&self->source, g_source_unref);
}

static gboolean
vb_outbox_tick_cb(gpointer user_data);

static void
vb_outbox_attach(VbOutbox *self, GSource *source, gboolean is_idle)
{
	vb_outbox_clear_source(self);
	g_source_set_priority(source, G_PRIORITY_DEFAULT_IDLE);
	g_source_set_callback(source, vb_outbox_tick_cb, self, NULL);
	g_source_set_static_name(source, "[vestibule] outbox");
	g_source_attach(source, self->context);
	self->source = source;
	self->source_is_idle = is_idle;
}

static void
vb_outbox_arm_timeout(VbOutbox *self, gint64 delay_ms)
{
	delay_ms = CLAMP(delay_ms, 1, VB_OUTBOX_MAX_SLEEP_MS);
	vb_outbox_attach(self, g_timeout_source_new((guint)delay_ms), FALSE);
}

void
vb_outbox_wake(VbOutbox *self)
{
	g_return_if_fail(VB_IS_OUTBOX(self));

	/* a tick arms the next one itself when it ends */
	if (!self->started || self->in_tick)
		return;
	if (self->source != NULL && self->source_is_idle)
		return;
	vb_outbox_attach(self, g_idle_source_new(), TRUE);
}

/* looks for the earliest due time of an item that could go out, and sleeps
 * until then; with every slot taken, a completion wakes the outbox instead */
static void
vb_outbox_arm(VbOutbox *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	gint64 earliest;
	gint64 now;

	vb_outbox_clear_source(self);
	if (!self->started || g_hash_table_size(self->in_flight) >= VB_OUTBOX_MAX_IN_FLIGHT)
		return;
	stmt = vb_store_prepare(self->store,
				"SELECT MIN(o.next_attempt) FROM outbox AS o "
				"WHERE o.state = 'pending' AND " VB_OUTBOX_SQL_HEAD,
				&error);
	if (stmt == NULL || vb_store_stmt_step(stmt, &error) != VB_STORE_STEP_ROW) {
		g_warning("cannot read the outbox, trying again in %u s: %s",
			  VB_OUTBOX_STORE_RETRY_MS / 1000,
			  error != NULL ? error->message : "no row");
		vb_outbox_arm_timeout(self, VB_OUTBOX_STORE_RETRY_MS);
		return;
	}
	if (vb_store_stmt_column_is_null(stmt, 0))
		return;
	earliest = vb_store_stmt_column_int64(stmt, 0);
	now = vb_outbox_now(self);
	if (earliest <= now) {
		vb_outbox_attach(self, g_idle_source_new(), TRUE);
		return;
	}
	/* round up, so that the item is due when the timeout fires */
	vb_outbox_arm_timeout(self, (earliest - now + 999) / 1000);
}

/* takes up to @room due items, oldest first, one per recipient at most, and
 * commits them as 'sending' before anything is sent */
static GPtrArray *
vb_outbox_claim_due(VbOutbox *self, guint room, GError **error)
{
	g_autoptr(GPtrArray) items =
	    g_ptr_array_new_with_free_func((GDestroyNotify)vb_outbox_item_free);
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	gint64 now = vb_outbox_now(self);
	VbStoreStep step;

	tx = vb_store_transaction_begin(self->store, error);
	if (tx == NULL)
		return NULL;
	stmt = vb_store_prepare(self->store,
				"SELECT o.id, o.kind, o.recipient, o.idempotency_key, o.payload, "
				"o.attempts, o.created, o.visit_id "
				"FROM outbox AS o INDEXED BY outbox_pending "
				"WHERE o.state = 'pending' AND o.next_attempt <= ?1 "
				"AND " VB_OUTBOX_SQL_HEAD " ORDER BY o.id LIMIT ?2",
				error);
	if (stmt == NULL)
		return NULL;
	vb_store_stmt_bind_int64(stmt, 1, now);
	vb_store_stmt_bind_int64(stmt, 2, room);
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW)
		g_ptr_array_add(items, vb_outbox_item_new_from_row(self, stmt));
	if (step == VB_STORE_STEP_ERROR)
		return NULL;
	g_clear_pointer(&stmt, vb_store_stmt_free);

	for (guint i = 0; i < items->len; i++) {
		VbOutboxItem *item = g_ptr_array_index(items, i);
		g_autoptr(VbStoreStmt) update = vb_store_prepare(
		    self->store,
		    "UPDATE outbox SET state = 'sending', attempts = attempts + 1, "
		    "updated = ?2 WHERE id = ?1 AND state = 'pending'",
		    error);
		if (update == NULL)
			return NULL;
		vb_store_stmt_bind_int64(update, 1, item->id);
		vb_store_stmt_bind_int64(update, 2, now);
		if (!vb_store_stmt_exec(update, error))
			return NULL;
		item->attempts++;
	}
	if (!vb_store_transaction_commit(tx, error))
		return NULL;
	return g_steal_pointer(&items);
}

static void
vb_outbox_dispatch(VbOutbox *self, VbOutboxItem *item)
{
	VbOutboxHandler *handler = g_hash_table_lookup(self->handlers, item->kind);

	item->outbox = self;
	g_hash_table_insert(self->in_flight, &item->id, item);
	if (handler == NULL) {
		g_autofree gchar *msg = g_strdup_printf("no handler for kind %s", item->kind);
		g_warning("outbox item %" G_GINT64_FORMAT " has no handler for kind %s; "
			  "it becomes a dead letter",
			  item->id, item->kind);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL, msg, 0);
		return;
	}
	if (item->payload == NULL) {
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL,
					"the stored payload is not a JSON object", 0);
		return;
	}
	g_debug("dispatching outbox item %" G_GINT64_FORMAT " (%s), attempt %u", item->id,
		item->kind, item->attempts);
	handler->dispatch(self, item, item->cancellable, handler->user_data);
}

static void
vb_outbox_tick(VbOutbox *self)
{
	g_autoptr(GPtrArray) items = NULL;
	g_autoptr(GError) error = NULL;
	guint n_in_flight = g_hash_table_size(self->in_flight);
	guint room;
	gboolean filled;

	if (!self->started || n_in_flight >= VB_OUTBOX_MAX_IN_FLIGHT)
		return;

	/* 'sending' must be committed before the dispatcher runs, which cannot be
	 * done inside someone else's transaction: wait for it to end */
	if (vb_store_in_transaction(self->store)) {
		vb_outbox_arm_timeout(self, VB_OUTBOX_BUSY_RETRY_MS);
		return;
	}
	room = VB_OUTBOX_MAX_IN_FLIGHT - n_in_flight;
	items = vb_outbox_claim_due(self, room, &error);
	if (items == NULL) {
		g_warning("cannot take due items from the outbox, trying again in %u s: %s",
			  VB_OUTBOX_STORE_RETRY_MS / 1000, error->message);
		vb_outbox_arm_timeout(self, VB_OUTBOX_STORE_RETRY_MS);
		return;
	}
	if (items->len > 0)
		vb_outbox_update_gauges(self);
	filled = items->len == room;

	/* a dispatcher may complete at once, or even stop the outbox */
	self->in_tick = TRUE;
	while (items->len > 0 && self->started)
		vb_outbox_dispatch(self, g_ptr_array_steal_index(items, 0));
	self->in_tick = FALSE;

	/* items taken but not dispatched after a stop stay 'sending' for the next start */
	if (!self->started)
		return;
	/* more may be due: look again when there is room, without computing when */
	if (filled && g_hash_table_size(self->in_flight) < VB_OUTBOX_MAX_IN_FLIGHT) {
		vb_outbox_attach(self, g_idle_source_new(), TRUE);
		return;
	}
	vb_outbox_arm(self);
}

static gboolean
vb_outbox_tick_cb(gpointer user_data)
{
	g_autoptr(VbOutbox) self = g_object_ref(VB_OUTBOX(user_data));

	/* the main loop holds the source while this runs */
	g_clear_pointer(&self->source, g_source_unref);
	vb_outbox_tick(self);
	return G_SOURCE_REMOVE;
}

/* outcomes */

static guint
vb_outbox_backoff_ms(VbOutbox *self, guint attempts)
{
	guint64 cap = self->max_delay_ms;
	guint32 bound;

	/* full jitter: anywhere between now and the exponential step, so that many
	 * items failing together do not all come back together */
	if (attempts > 0 && attempts - 1 < 32)
		cap = MIN(cap, (guint64)self->base_delay_ms << (attempts - 1));
	bound = (guint32)MIN(cap, (guint64)G_MAXINT32 - 1);
	if (self->random_func != NULL)
		return MIN(self->random_func(bound, self->random_data), bound);
	return (guint)g_random_int_range(0, (gint32)bound + 1);
}

/* NULL while the item may be tried again, else why not */
static gchar *
vb_outbox_give_up_reason(VbOutbox *self, VbOutboxItem *item, gint64 now, const gchar *last)
{
	if (item->attempts >= self->max_attempts)
		return g_strdup_printf("gave up after %u attempts: %s", item->attempts, last);
	if (now - item->created > self->max_age_s * G_USEC_PER_SEC)
		return g_strdup_printf("gave up after %u attempts, older than %" G_GINT64_FORMAT
				       " s: %s",
				       item->attempts, self->max_age_s, last);
	return NULL;
}

static void
vb_outbox_reschedule(VbOutbox *self,
		     VbOutboxItem *item,
		     gint64 now,
		     guint retry_after_ms,
		     const gchar *last_error)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	guint delay_ms =
	    retry_after_ms > 0 ? retry_after_ms : vb_outbox_backoff_ms(self, item->attempts);

	stmt = vb_store_prepare(
	    self->store,
	    "UPDATE outbox SET state = 'pending', next_attempt = ?2, updated = ?3, "
	    "last_error = ?4 WHERE id = ?1 AND state = 'sending'",
	    &error);
	if (stmt != NULL) {
		vb_store_stmt_bind_int64(stmt, 1, item->id);
		vb_store_stmt_bind_int64(stmt, 2, now + (gint64)delay_ms * 1000);
		vb_store_stmt_bind_int64(stmt, 3, now);
		vb_store_stmt_bind_text(stmt, 4, last_error);
	}
	if (stmt == NULL || !vb_store_stmt_exec(stmt, &error)) {
		g_warning("cannot put outbox item %" G_GINT64_FORMAT " back in the queue, it "
			  "resumes at the next start: %s",
			  item->id, error->message);
		return;
	}
	g_debug("outbox item %" G_GINT64_FORMAT " (%s) is retried in %u ms: %s", item->id,
		item->kind, delay_ms, last_error);
}

/* records done or dead together with what the kind's complete func does */
static gboolean
vb_outbox_record_final(VbOutbox *self,
		       VbOutboxItem *item,
		       VbOutboxOutcome outcome,
		       JsonNode *result,
		       const gchar *last_error,
		       gint64 now,
		       GError **error)
{
	VbOutboxHandler *handler = g_hash_table_lookup(self->handlers, item->kind);
	g_autoptr(VbOutboxTx) otx = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *result_json = NULL;

	otx = vb_outbox_tx_begin(self->store, error);
	if (otx == NULL)
		return FALSE;
	stmt = vb_store_prepare(self->store,
				"UPDATE outbox SET state = ?2, result = ?3, "
				"last_error = COALESCE(?4, last_error), updated = ?5 "
				"WHERE id = ?1 AND state = 'sending'",
				error);
	if (stmt == NULL)
		return FALSE;
	if (result != NULL)
		result_json = json_to_string(result, FALSE);
	vb_store_stmt_bind_int64(stmt, 1, item->id);
	vb_store_stmt_bind_text(stmt, 2, outcome == VB_OUTBOX_OUTCOME_DONE ? "done" : "dead");
	vb_store_stmt_bind_text(stmt, 3, result_json);
	vb_store_stmt_bind_text(stmt, 4, outcome == VB_OUTBOX_OUTCOME_DONE ? NULL : last_error);
	vb_store_stmt_bind_int64(stmt, 5, now);
	if (!vb_store_stmt_exec(stmt, error))
		return FALSE;
	if (vb_store_changes(self->store) != 1) {
		g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
			    "outbox item %" G_GINT64_FORMAT " is no longer being sent", item->id);
		return FALSE;
	}
	g_clear_pointer(&stmt, vb_store_stmt_free);

	if (handler != NULL && handler->complete != NULL &&
	    !handler->complete(self, item, outcome, result, handler->user_data, error)) {
		if (error != NULL && *error == NULL)
			g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
					    "the handler gave no reason");
		g_prefix_error(error, "what follows from the %s could not be recorded: ",
			       outcome == VB_OUTBOX_OUTCOME_DONE ? "delivery" : "failure");
		return FALSE;
	}
	return vb_outbox_tx_commit(otx, error);
}

static void
vb_outbox_finished(VbOutbox *self, VbOutboxItem *item, VbOutboxOutcome outcome)
{
	/* the secret is of no use any more */
	g_hash_table_remove(self->ephemeral, item->idempotency_key);
	if (outcome == VB_OUTBOX_OUTCOME_DONE) {
		if (self->n_done >= 0)
			self->n_done++;
		return;
	}
	g_message("outbox item %" G_GINT64_FORMAT " (%s) is a dead letter after %u attempts; "
		  "`vestibulectl outbox` lists it and can retry it",
		  item->id, item->kind, item->attempts);
}

static void
vb_outbox_settle(VbOutbox *self,
		 VbOutboxItem *item,
		 VbOutboxOutcome outcome,
		 JsonNode *result,
		 const gchar *error_message,
		 guint retry_after_ms)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *last = vb_outbox_clean_error(error_message);
	g_autofree gchar *reason = NULL;
	g_autofree gchar *failure = NULL;
	gint64 now = vb_outbox_now(self);

	if (outcome == VB_OUTBOX_OUTCOME_RETRY) {
		reason = vb_outbox_give_up_reason(self, item, now, last);
		if (reason == NULL) {
			vb_outbox_reschedule(self, item, now, retry_after_ms, last);
			return;
		}
		outcome = VB_OUTBOX_OUTCOME_FAILED;
		result = NULL;
	}
	if (vb_outbox_record_final(self, item, outcome, result, reason != NULL ? reason : last, now,
				   &error)) {
		vb_outbox_finished(self, item, outcome);
		return;
	}

	/* nothing of it was kept: try the item again, with the same key */
	g_warning("cannot record the outcome of outbox item %" G_GINT64_FORMAT ": %s", item->id,
		  error->message);
	failure = vb_outbox_clean_error(error->message);
	if (outcome == VB_OUTBOX_OUTCOME_DONE) {
		g_clear_pointer(&reason, g_free);
		reason = vb_outbox_give_up_reason(self, item, now, failure);
		g_clear_error(&error);
		if (reason != NULL && vb_outbox_record_final(self, item, VB_OUTBOX_OUTCOME_FAILED,
							     NULL, reason, now, &error)) {
			vb_outbox_finished(self, item, VB_OUTBOX_OUTCOME_FAILED);
			return;
		}
		if (error != NULL)
			g_warning("cannot record outbox item %" G_GINT64_FORMAT " as dead: %s",
				  item->id, error->message);
	}
	vb_outbox_reschedule(self, item, now, 0, failure);
}

void
vb_outbox_item_complete(VbOutboxItem *item,
			VbOutboxOutcome outcome,
			JsonNode *result,
			const gchar *error_message,
			guint retry_after_ms)
{
	g_autoptr(VbOutboxItem) owned = NULL;
	g_autoptr(VbOutbox) self = NULL;
	g_autofree gchar *labels = NULL;

	g_return_if_fail(item != NULL);
	g_return_if_fail(outcome <= VB_OUTBOX_OUTCOME_FAILED);
	g_return_if_fail(vb_outbox_item_in_context(item));

	/* the item is freed on the way out, whatever happens */
	owned = item;

	/* the outbox stopped under it: it stays 'sending' and resumes at the next start */
	if (item->outbox == NULL) {
		g_debug("outbox item %" G_GINT64_FORMAT " finished after the outbox stopped",
			item->id);
		return;
	}
	self = g_object_ref(item->outbox);
	g_hash_table_steal(self->in_flight, &item->id);
	item->outbox = NULL;

	labels = g_strdup_printf("kind=\"%s\",outcome=\"%s\"", item->kind,
				 vb_outbox_outcome_to_string(outcome));
	vb_metrics_add(self->metrics, VB_OUTBOX_METRIC_DISPATCH, labels, 1);
	vb_outbox_settle(self, item, outcome, result, error_message, retry_after_ms);
	vb_outbox_update_gauges(self);
	vb_outbox_wake(self);
}

/* the outbox */

VbOutbox *
vb_outbox_new(VbStore *store, VbMetrics *metrics)
{
	VbOutbox *self;

	g_return_val_if_fail(VB_IS_STORE(store), NULL);
	g_return_val_if_fail(VB_IS_METRICS(metrics), NULL);

	self = g_object_new(VB_TYPE_OUTBOX, NULL);
	self->store = g_object_ref(store);
	self->metrics = g_object_ref(metrics);
	vb_metrics_declare(metrics, VB_OUTBOX_METRIC_ITEMS, VB_METRIC_GAUGE,
			   "Outbox items by state");
	vb_metrics_declare(metrics, VB_OUTBOX_METRIC_DISPATCH, VB_METRIC_COUNTER,
			   "Outbox dispatch attempts by kind and outcome");
	vb_metrics_declare(metrics, VB_OUTBOX_METRIC_REFUSED, VB_METRIC_COUNTER,
			   "Outbox items refused because the queue was full");
	return self;
}

void
vb_outbox_set_limits(VbOutbox *self,
		     guint max_pending,
		     gint64 max_age_s,
		     guint max_attempts,
		     guint base_delay_ms,
		     guint max_delay_ms)
{
	g_return_if_fail(VB_IS_OUTBOX(self));
	g_return_if_fail(max_pending > 0);
	g_return_if_fail(max_age_s > 0);
	g_return_if_fail(max_attempts > 0);

	self->max_pending = max_pending;
	self->max_age_s = MIN(max_age_s, G_MAXINT64 / G_USEC_PER_SEC);
	self->max_attempts = max_attempts;
	self->base_delay_ms = base_delay_ms;
	self->max_delay_ms = max_delay_ms;
}

void
vb_outbox_register(VbOutbox *self,
		   const gchar *kind,
		   VbOutboxDispatchFunc dispatch,
		   VbOutboxCompleteFunc complete,
		   gpointer user_data,
		   GDestroyNotify destroy)
{
	VbOutboxHandler *handler;

	g_return_if_fail(VB_IS_OUTBOX(self));
	g_return_if_fail(kind != NULL && kind[0] != '\0');
	g_return_if_fail(dispatch != NULL);

	handler = g_new0(VbOutboxHandler, 1);
	handler->dispatch = dispatch;
	handler->complete = complete;
	handler->user_data = user_data;
	handler->destroy = destroy;
	g_hash_table_replace(self->handlers, g_strdup(kind), handler);
}

static gint64
vb_outbox_lookup_key(VbOutbox *self, const gchar *idempotency_key, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
	    self->store, "SELECT id FROM outbox WHERE idempotency_key = ?1", error);
	VbStoreStep step;

	if (stmt == NULL)
		return -1;
	vb_store_stmt_bind_text(stmt, 1, idempotency_key);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return -1;
	if (step == VB_STORE_STEP_DONE)
		return 0;
	return vb_store_stmt_column_int64(stmt, 0);
}

static gboolean
vb_outbox_check_room(VbOutbox *self, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
	    self->store, "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')",
	    error);
	gint64 waiting;

	if (stmt == NULL || vb_store_stmt_step(stmt, error) != VB_STORE_STEP_ROW)
		return FALSE;
	waiting = vb_store_stmt_column_int64(stmt, 0);
	if (waiting >= self->max_pending) {
		vb_metrics_add(self->metrics, VB_OUTBOX_METRIC_REFUSED, NULL, 1);
		g_set_error(error, VB_ERROR, VB_ERROR_TOO_LARGE,
			    "the outbox is full: %" G_GINT64_FORMAT " items are waiting, the limit "
			    "is %u; check the SMS, payment and partner connections and the dead "
			    "letters with `vestibulectl outbox`",
			    waiting, self->max_pending);
		return FALSE;
	}
	return TRUE;
}

static gint64
vb_outbox_enqueue_internal(VbOutbox *self,
			   const gchar *kind,
			   const gchar *recipient,
			   const gchar *idempotency_key,
			   JsonNode *payload,
			   const gchar *visit_id,
			   GError **error);

gint64
vb_outbox_enqueue(VbOutbox *self,
		  const gchar *kind,
		  const gchar *recipient,
		  const gchar *idempotency_key,
		  JsonNode *payload,
		  const gchar *visit_id,
		  GError **error)
{
	gint64 id;

	g_return_val_if_fail(VB_IS_OUTBOX(self), 0);
	g_return_val_if_fail(kind != NULL && kind[0] != '\0', 0);
	g_return_val_if_fail(recipient != NULL, 0);
	g_return_val_if_fail(idempotency_key != NULL && idempotency_key[0] != '\0', 0);
	g_return_val_if_fail(error == NULL || *error == NULL, 0);

	id = vb_outbox_enqueue_internal(self, kind, recipient, idempotency_key, payload, visit_id,
					error);
	/* a secret set for an item that could not be queued has no use */
	if (id == 0)
		g_hash_table_remove(self->ephemeral, idempotency_key);
	return id;
}

static gint64
vb_outbox_enqueue_internal(VbOutbox *self,
			   const gchar *kind,
			   const gchar *recipient,
			   const gchar *idempotency_key,
			   JsonNode *payload,
			   const gchar *visit_id,
			   GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *payload_json = NULL;
	gint64 now;
	gint64 id;

	if (payload != NULL && !JSON_NODE_HOLDS_OBJECT(payload)) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "the payload of a %s outbox item must be a JSON object", kind);
		return 0;
	}

	/* a known key is the same action asked again: it changes nothing, even
	 * when the queue is full */
	id = vb_outbox_lookup_key(self, idempotency_key, error);
	if (id < 0) {
		g_prefix_error(error, "cannot queue a %s item: ", kind);
		return 0;
	}
	if (id > 0)
		return id;
	if (!vb_outbox_check_room(self, error)) {
		g_prefix_error(error, "cannot queue a %s item: ", kind);
		return 0;
	}

	payload_json = payload != NULL ? json_to_string(payload, FALSE) : g_strdup("{}");
	now = vb_outbox_now(self);
	stmt = vb_store_prepare(
	    self->store,
	    "INSERT INTO outbox (kind, recipient, idempotency_key, payload, state, "
	    "attempts, next_attempt, created, updated, visit_id) "
	    "VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?5, ?6) "
	    "ON CONFLICT (idempotency_key) DO NOTHING",
	    error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot queue a %s item: ", kind);
		return 0;
	}
	vb_store_stmt_bind_text(stmt, 1, kind);
	vb_store_stmt_bind_text(stmt, 2, recipient);
	vb_store_stmt_bind_text(stmt, 3, idempotency_key);
	vb_store_stmt_bind_text(stmt, 4, payload_json);
	vb_store_stmt_bind_int64(stmt, 5, now);
	vb_store_stmt_bind_text(stmt, 6, visit_id);
	if (!vb_store_stmt_exec(stmt, error)) {
		g_prefix_error(error, "cannot queue a %s item: ", kind);
		return 0;
	}
	g_clear_pointer(&stmt, vb_store_stmt_free);

	id = vb_outbox_lookup_key(self, idempotency_key, error);
	if (id <= 0) {
		if (id == 0)
			g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
					    "the item vanished after it was written");
		g_prefix_error(error, "cannot queue a %s item: ", kind);
		return 0;
	}
	vb_outbox_update_gauges(self);
	vb_outbox_wake(self);
	return id;
}

void
vb_outbox_set_ephemeral(VbOutbox *self, const gchar *idempotency_key, const gchar *secret)
{
	g_return_if_fail(VB_IS_OUTBOX(self));
	g_return_if_fail(idempotency_key != NULL);

	if (secret == NULL) {
		g_hash_table_remove(self->ephemeral, idempotency_key);
		return;
	}
	g_hash_table_replace(self->ephemeral, g_strdup(idempotency_key), g_strdup(secret));
}

const gchar *
vb_outbox_get_ephemeral(VbOutbox *self, const gchar *idempotency_key)
{
	g_return_val_if_fail(VB_IS_OUTBOX(self), NULL);
	g_return_val_if_fail(idempotency_key != NULL, NULL);
	return g_hash_table_lookup(self->ephemeral, idempotency_key);
}

void
vb_outbox_start(VbOutbox *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	gint64 now;

	g_return_if_fail(VB_IS_OUTBOX(self));

	if (self->started)
		return;
	self->started = TRUE;

	/* cut short by a crash or a stop: the peer may or may not have it, and
	 * the same key lets it answer a repeat without acting twice */
	now = vb_outbox_now(self);
	stmt =
	    vb_store_prepare(self->store,
			     "UPDATE outbox SET state = 'pending', next_attempt = ?1, updated = ?1 "
			     "WHERE state = 'sending'",
			     &error);
	if (stmt != NULL)
		vb_store_stmt_bind_int64(stmt, 1, now);
	if (stmt == NULL || !vb_store_stmt_exec(stmt, &error))
		g_warning("cannot resume the items the outbox was sending: %s", error->message);
	else if (vb_store_changes(self->store) > 0)
		g_message("sending %d outbox items again, cut short by a stop or a crash",
			  vb_store_changes(self->store));
	self->n_done = -1;
	vb_outbox_update_gauges(self);
	vb_outbox_wake(self);
}

/* the items in flight are let go: their completions are ignored */
static void
vb_outbox_orphan_in_flight(VbOutbox *self)
{
	g_autoptr(GPtrArray) cancellables = g_ptr_array_new_with_free_func(g_object_unref);
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, self->in_flight);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		VbOutboxItem *item = value;
		item->outbox = NULL;
		g_ptr_array_add(cancellables, g_object_ref(item->cancellable));
		g_hash_table_iter_steal(&iter);
	}
	/* a dispatcher may complete, and so free its item, from inside cancel() */
	for (guint i = 0; i < cancellables->len; i++)
		g_cancellable_cancel(g_ptr_array_index(cancellables, i));
}

void
vb_outbox_stop(VbOutbox *self)
{
	g_return_if_fail(VB_IS_OUTBOX(self));

	self->started = FALSE;
	vb_outbox_clear_source(self);
	vb_outbox_orphan_in_flight(self);
}

static GVariant *
vb_outbox_row_to_variant(VbStoreStmt *stmt)
{
	GVariantBuilder builder;
	const gchar *texts[] = {"kind", "recipient", "state"};

	/* columns: id, kind, recipient, state, attempts, created, next_attempt,
	 * last_error, visit_id; missing texts are empty strings */
	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder, "{sv}", "id",
			      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 0)));
	for (guint i = 0; i < G_N_ELEMENTS(texts); i++) {
		const gchar *text = vb_store_stmt_column_text(stmt, i + 1);
		g_variant_builder_add(&builder, "{sv}", texts[i],
				      g_variant_new_string(text != NULL ? text : ""));
	}
	g_variant_builder_add(&builder, "{sv}", "attempts",
			      g_variant_new_uint32((guint32)vb_store_stmt_column_int64(stmt, 4)));
	g_variant_builder_add(&builder, "{sv}", "created",
			      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 5)));
	g_variant_builder_add(&builder, "{sv}", "next-attempt",
			      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 6)));
	g_variant_builder_add(&builder, "{sv}", "last-error",
			      g_variant_new_string(vb_store_stmt_column_is_null(stmt, 7)
						       ? ""
						       : vb_store_stmt_column_text(stmt, 7)));
	g_variant_builder_add(&builder, "{sv}", "visit",
			      g_variant_new_string(vb_store_stmt_column_is_null(stmt, 8)
						       ? ""
						       : vb_store_stmt_column_text(stmt, 8)));
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

GPtrArray *
vb_outbox_list(VbOutbox *self, const gchar *state, guint limit, GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_OUTBOX(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (state != NULL && vb_outbox_state_index(state) < 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "unknown outbox state '%s'; use pending, sending, done or dead", state);
		return NULL;
	}
	if (state == NULL)
		stmt = vb_store_prepare(self->store,
					"SELECT id, kind, recipient, state, attempts, created, "
					"next_attempt, last_error, visit_id FROM outbox "
					"ORDER BY id DESC LIMIT ?1",
					error);
	else
		stmt = vb_store_prepare(self->store,
					"SELECT id, kind, recipient, state, attempts, created, "
					"next_attempt, last_error, visit_id FROM outbox "
					"WHERE state = ?2 ORDER BY id DESC LIMIT ?1",
					error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot list the outbox: ");
		return NULL;
	}
	vb_store_stmt_bind_int64(stmt, 1, limit > 0 ? (gint64)limit : -1);
	if (state != NULL)
		vb_store_stmt_bind_text(stmt, 2, state);
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW)
		g_ptr_array_add(rows, vb_outbox_row_to_variant(stmt));
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, "cannot list the outbox: ");
		return NULL;
	}
	return g_steal_pointer(&rows);
}

gboolean
vb_outbox_retry(VbOutbox *self, gint64 id, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *state = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_OUTBOX(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = vb_store_prepare(self->store, "SELECT state FROM outbox WHERE id = ?1", error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot retry outbox item %" G_GINT64_FORMAT ": ", id);
		return FALSE;
	}
	vb_store_stmt_bind_int64(stmt, 1, id);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, "cannot retry outbox item %" G_GINT64_FORMAT ": ", id);
		return FALSE;
	}
	if (step == VB_STORE_STEP_DONE) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    "there is no outbox item %" G_GINT64_FORMAT
			    "; `vestibulectl outbox` lists them",
			    id);
		return FALSE;
	}
	state = g_strdup(vb_store_stmt_column_text(stmt, 0));
	g_clear_pointer(&stmt, vb_store_stmt_free);
	if (g_strcmp0(state, "dead") != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
			    "only a dead letter can be retried; item %" G_GINT64_FORMAT " is %s",
			    id, state);
		return FALSE;
	}

	stmt = vb_store_prepare(
	    self->store,
	    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt = ?2, "
	    "updated = ?2, last_error = NULL WHERE id = ?1 AND state = 'dead'",
	    error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot retry outbox item %" G_GINT64_FORMAT ": ", id);
		return FALSE;
	}
	vb_store_stmt_bind_int64(stmt, 1, id);
	vb_store_stmt_bind_int64(stmt, 2, vb_outbox_now(self));
	if (!vb_store_stmt_exec(stmt, error)) {
		g_prefix_error(error, "cannot retry outbox item %" G_GINT64_FORMAT ": ", id);
		return FALSE;
	}
	g_message("outbox item %" G_GINT64_FORMAT " is back in the queue, as asked", id);
	vb_outbox_update_gauges(self);
	vb_outbox_wake(self);
	return TRUE;
}

GVariant *
vb_outbox_get_counts(VbOutbox *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	gint64 counts[VB_OUTBOX_N_STATES] = {0};
	GVariantBuilder builder;
	VbStoreStep step = VB_STORE_STEP_ERROR;

	g_return_val_if_fail(VB_IS_OUTBOX(self), NULL);

	stmt = vb_store_prepare(self->store, "SELECT state, COUNT(*) FROM outbox GROUP BY state",
				&error);
	while (stmt != NULL && (step = vb_store_stmt_step(stmt, &error)) == VB_STORE_STEP_ROW) {
		gint i = vb_outbox_state_index(vb_store_stmt_column_text(stmt, 0));
		if (i >= 0)
			counts[i] = vb_store_stmt_column_int64(stmt, 1);
	}
	if (step == VB_STORE_STEP_ERROR)
		g_warning("cannot count the outbox: %s", error->message);
	else
		self->n_done = counts[VB_OUTBOX_STATE_DONE];

	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	for (guint i = 0; i < VB_OUTBOX_N_STATES; i++)
		g_variant_builder_add(&builder, "{sv}", vb_outbox_states[i],
				      g_variant_new_int64(counts[i]));
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

/* test hooks */

void
vb_outbox_set_clock(VbOutbox *self, VbOutboxClockFunc func, gpointer user_data)
{
	g_return_if_fail(VB_IS_OUTBOX(self));
	self->clock_func = func;
	self->clock_data = user_data;
}

void
vb_outbox_set_random(VbOutbox *self, VbOutboxRandomFunc func, gpointer user_data)
{
	g_return_if_fail(VB_IS_OUTBOX(self));
	self->random_func = func;
	self->random_data = user_data;
}

guint
vb_outbox_get_n_in_flight(VbOutbox *self)
{
	g_return_val_if_fail(VB_IS_OUTBOX(self), 0);
	return g_hash_table_size(self->in_flight);
}

static void
vb_outbox_dispose(GObject *object)
{
	VbOutbox *self = VB_OUTBOX(object);

	vb_outbox_stop(self);
	g_clear_object(&self->store);
	g_clear_object(&self->metrics);
	G_OBJECT_CLASS(vb_outbox_parent_class)->dispose(object);
}

static void
vb_outbox_finalize(GObject *object)
{
	VbOutbox *self = VB_OUTBOX(object);

	g_hash_table_unref(self->handlers);
	g_hash_table_unref(self->in_flight);
	g_hash_table_unref(self->ephemeral);
	g_main_context_unref(self->context);
	G_OBJECT_CLASS(vb_outbox_parent_class)->finalize(object);
}

static void
vb_outbox_class_init(VbOutboxClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = vb_outbox_dispose;
	object_class->finalize = vb_outbox_finalize;
}

static void
vb_outbox_init(VbOutbox *self)
{
	self->context = g_main_context_ref_thread_default();
	self->handlers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					       (GDestroyNotify)vb_outbox_handler_free);
	self->in_flight = g_hash_table_new(g_int64_hash, g_int64_equal);
	self->ephemeral = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						(GDestroyNotify)vb_outbox_secret_free);
	self->n_done = -1;
	self->max_pending = 10000;
	self->max_age_s = 7 * 24 * 3600;
	self->max_attempts = 200;
	self->base_delay_ms = 1000;
	self->max_delay_ms = 3600 * 1000;
}

/* done rows dedupe a key only as long as a provider would: a month is
 * well past any retry, and what they carried (a forwarded reply, a customer
 * id) should not outlive that */
gint64
vb_outbox_prune(VbOutbox *self, gint64 before, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	g_return_val_if_fail(VB_IS_OUTBOX(self), -1);
	stmt = vb_store_prepare(self->store,
				"DELETE FROM outbox WHERE state = 'done' AND updated < ?1", error);
	if (stmt == NULL)
		return -1;
	vb_store_stmt_bind_int64(stmt, 1, before);
	if (!vb_store_stmt_exec(stmt, error)) {
		g_prefix_error(error, "cannot prune the outbox: ");
		return -1;
	}
	return vb_store_changes(self->store);
}
