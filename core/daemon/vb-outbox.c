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

#include "vb-context-private.h"
#include "vb-crypto-private.h"
#include "vb-outbox-internal.h"

#define VB_OUTBOX_HEALTH_MAX_PERIOD_MS 15000 /* the age gauges are this fresh */
#define VB_OUTBOX_HEALTH_MIN_PERIOD_MS 250

G_DEFINE_FINAL_TYPE(VbOutbox, vb_outbox, G_TYPE_OBJECT)

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

gint64
vb_outbox_now(VbOutbox *self)
{
	if (self->clock_func != NULL)
		return self->clock_func(self->clock_data);
	return g_get_real_time();
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
	vb_metrics_declare(metrics, VB_OUTBOX_METRIC_QUEUED, VB_METRIC_GAUGE,
			   "Outbox items waiting to go (pending or being sent), by kind");
	vb_metrics_declare(metrics, VB_OUTBOX_METRIC_UNKNOWN, VB_METRIC_GAUGE,
			   "Outbox items waiting whose last outcome is unknown, by kind");
	vb_metrics_declare(metrics, VB_OUTBOX_METRIC_OLDEST, VB_METRIC_GAUGE,
			   "Age of the oldest outbox item waiting, by kind");
	vb_metrics_declare(metrics, VB_OUTBOX_METRIC_FAULTS, VB_METRIC_GAUGE,
			   "1 while a peer refuses the lookups that resolve unknown outcomes");
	vb_metrics_declare(metrics, VB_OUTBOX_METRIC_SETTLED, VB_METRIC_COUNTER,
			   "Unknown outcomes settled: resolved by the peer, resent or given up");
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
vb_outbox_set_unknown_limits(VbOutbox *self, gint64 hold_s, gint64 give_up_s, gint64 stuck_s)
{
	g_return_if_fail(VB_IS_OUTBOX(self));
	g_return_if_fail(hold_s > 0 && give_up_s > 0 && stuck_s > 0);

	self->hold_us = MIN(hold_s, G_MAXINT64 / G_USEC_PER_SEC / 2) * G_USEC_PER_SEC;
	self->give_up_us = MIN(give_up_s, G_MAXINT64 / G_USEC_PER_SEC / 2) * G_USEC_PER_SEC;
	self->stuck_us = MIN(stuck_s, G_MAXINT64 / G_USEC_PER_SEC / 2) * G_USEC_PER_SEC;
}

void
vb_outbox_set_context(VbOutbox *self, VbContext *context)
{
	g_return_if_fail(VB_IS_OUTBOX(self));
	g_return_if_fail(context == NULL || VB_IS_CONTEXT(context));

	if (self->context_alerts != NULL)
		g_object_remove_weak_pointer(G_OBJECT(self->context_alerts),
					     (gpointer *)&self->context_alerts);
	self->context_alerts = context;
	if (context != NULL)
		g_object_add_weak_pointer(G_OBJECT(context), (gpointer *)&self->context_alerts);
}

void
vb_outbox_alert(VbOutbox *self,
		VbAlertSeverity severity,
		VbAlertKind kind,
		const gchar *source,
		const gchar *format,
		...)
{
	g_autofree gchar *line = NULL;
	va_list args;

	va_start(args, format);
	line = g_strdup_vprintf(format, args);
	va_end(args);
	if (self->context_alerts != NULL) {
		vb_context_alert_full(self->context_alerts, severity, kind, source, NULL, NULL,
				      "%s", line);
		return;
	}
	vb_alert_log(severity == VB_ALERT_INFO ? G_LOG_LEVEL_MESSAGE : G_LOG_LEVEL_WARNING, kind,
		     source, NULL, NULL, line);
}

void
vb_outbox_set_unknown_policy(VbOutbox *self,
			     const gchar *kind,
			     gboolean keep_order,
			     VbOutboxUnknownFunc func)
{
	VbOutboxUnknownHandling *handling;

	g_return_if_fail(VB_IS_OUTBOX(self));
	g_return_if_fail(kind != NULL && kind[0] != '\0');

	handling = g_new0(VbOutboxUnknownHandling, 1);
	handling->keep_order = keep_order;
	handling->func = func;
	g_hash_table_replace(self->unknown, g_strdup(kind), handling);
}

static void
vb_outbox_set_fault_gauge(VbOutbox *self, const gchar *source, gdouble value)
{
	g_autofree gchar *labels = vb_metrics_labels("source", source, NULL);
	vb_metrics_set(self->metrics, VB_OUTBOX_METRIC_FAULTS, labels, value);
}

void
vb_outbox_item_set_fault(VbOutboxItem *item, const gchar *source, const gchar *message)
{
	VbOutbox *self;

	g_return_if_fail(item != NULL);
	g_return_if_fail(source != NULL);
	g_return_if_fail(message != NULL);

	self = item->outbox;
	if (self == NULL)
		return;
	if (g_hash_table_contains(self->faults, source)) {
		g_hash_table_replace(self->faults, g_strdup(source), g_strdup(message));
		return;
	}
	g_hash_table_replace(self->faults, g_strdup(source), g_strdup(message));
	vb_outbox_set_fault_gauge(self, source, 1);
	vb_outbox_alert(self, VB_ALERT_CRITICAL, VB_ALERT_KIND_OUTCOME_UNKNOWABLE, source,
			"%s refuses to say what became of a message whose outcome is unknown, "
			"so such messages cannot be resolved: %s. Until this is fixed, each "
			"follows its kind's policy after unknown-hold-s (a receipt is sent "
			"again, possibly twice)",
			source, message);
}

void
vb_outbox_item_clear_fault(VbOutboxItem *item, const gchar *source)
{
	VbOutbox *self;

	g_return_if_fail(item != NULL);
	g_return_if_fail(source != NULL);

	self = item->outbox;
	if (self == NULL || !g_hash_table_remove(self->faults, source))
		return;
	vb_outbox_set_fault_gauge(self, source, 0);
	vb_outbox_alert(self, VB_ALERT_INFO, VB_ALERT_KIND_OTHER, source,
			"%s answers the lookups of unknown outcomes again", source);
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

void
vb_outbox_set_gate(VbOutbox *self, const gchar *kind, VbOutboxGateFunc func, gpointer user_data)
{
	VbOutboxGate *gate;

	g_return_if_fail(VB_IS_OUTBOX(self));
	g_return_if_fail(kind != NULL && kind[0] != '\0');

	g_hash_table_remove(self->closed, kind);
	if (func == NULL) {
		g_hash_table_remove(self->gates, kind);
		vb_outbox_wake(self);
		return;
	}
	gate = g_new0(VbOutboxGate, 1);
	gate->func = func;
	gate->user_data = user_data;
	g_hash_table_replace(self->gates, g_strdup(kind), gate);
	vb_outbox_wake(self);
}

gboolean
vb_outbox_kind_is_closed(VbOutbox *self, const gchar *kind)
{
	gint64 *until = g_hash_table_lookup(self->closed, kind);
	return until != NULL && *until > vb_outbox_now(self);
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

static gboolean
vb_outbox_health_cb(gpointer user_data)
{
	vb_outbox_check_health(VB_OUTBOX(user_data));
	return G_SOURCE_CONTINUE;
}

static gboolean
vb_outbox_count_done_cb(gpointer user_data)
{
	VbOutbox *self = VB_OUTBOX(user_data);

	g_clear_pointer(&self->count_done, g_source_unref);
	vb_outbox_update_gauges(self);
	return G_SOURCE_REMOVE;
}

static void
vb_outbox_start_health(VbOutbox *self)
{
	gint64 period_ms = CLAMP(self->stuck_us / 1000 / 4, VB_OUTBOX_HEALTH_MIN_PERIOD_MS,
				 VB_OUTBOX_HEALTH_MAX_PERIOD_MS);

	vb_outbox_check_health(self);
	self->health_source = g_timeout_source_new((guint)period_ms);
	g_source_set_priority(self->health_source, G_PRIORITY_LOW);
	g_source_set_callback(self->health_source, vb_outbox_health_cb, self, NULL);
	g_source_set_static_name(self->health_source, "[vestibule] outbox health");
	g_source_attach(self->health_source, self->context);
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
	self->count_done = g_idle_source_new();
	g_source_set_priority(self->count_done, G_PRIORITY_LOW);
	g_source_set_callback(self->count_done, vb_outbox_count_done_cb, self, NULL);
	g_source_set_static_name(self->count_done, "[vestibule] outbox done count");
	g_source_attach(self->count_done, self->context);
	vb_outbox_update_gauges(self);
	vb_outbox_start_health(self);
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

	/* what came back is recorded; what is still out stays 'sending' */
	vb_outbox_flush_completions(self);
	self->started = FALSE;
	vb_outbox_clear_source(self);
	if (self->count_done != NULL) {
		g_source_destroy(self->count_done);
		g_clear_pointer(&self->count_done, g_source_unref);
	}
	if (self->health_source != NULL) {
		g_source_destroy(self->health_source);
		g_clear_pointer(&self->health_source, g_source_unref);
	}
	vb_outbox_orphan_in_flight(self);
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

guint64
vb_outbox_get_n_ticks(VbOutbox *self)
{
	g_return_val_if_fail(VB_IS_OUTBOX(self), 0);
	return self->n_ticks;
}

static void
vb_outbox_dispose(GObject *object)
{
	VbOutbox *self = VB_OUTBOX(object);

	vb_outbox_stop(self);
	if (self->gauges_source != NULL) {
		g_source_destroy(self->gauges_source);
		g_clear_pointer(&self->gauges_source, g_source_unref);
	}
	vb_outbox_set_context(self, NULL);
	g_clear_object(&self->store);
	g_clear_object(&self->metrics);
	G_OBJECT_CLASS(vb_outbox_parent_class)->dispose(object);
}

static void
vb_outbox_finalize(GObject *object)
{
	VbOutbox *self = VB_OUTBOX(object);

	g_hash_table_unref(self->handlers);
	g_hash_table_unref(self->gates);
	g_hash_table_unref(self->closed);
	g_hash_table_unref(self->unknown);
	g_hash_table_unref(self->faults);
	g_hash_table_unref(self->stuck);
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
	self->gates = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->closed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->unknown = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->faults = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->stuck = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->in_flight = g_hash_table_new(g_int64_hash, g_int64_equal);
	self->ephemeral = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						(GDestroyNotify)vb_outbox_secret_free);
	self->n_done = -1;
	self->max_pending = 10000;
	self->max_age_s = 7 * 24 * 3600;
	self->max_attempts = 200;
	self->base_delay_ms = 1000;
	self->max_delay_ms = 3600 * 1000;
	self->hold_us = (gint64)300 * G_USEC_PER_SEC;
	self->give_up_us = (gint64)3600 * G_USEC_PER_SEC;
	self->stuck_us = (gint64)900 * G_USEC_PER_SEC;
}
