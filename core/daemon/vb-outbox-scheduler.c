/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* when the outbox looks for due items, and how each one reaches the
 * dispatcher of its kind */

#include "config.h"

#include "vb-error.h"
#include "vb-outbox-internal.h"

#define VB_OUTBOX_MAX_SLEEP_MS 60000  /* read the clock again at least this often */
#define VB_OUTBOX_BUSY_RETRY_MS 100   /* a caller holds a transaction open */
#define VB_OUTBOX_STORE_RETRY_MS 5000 /* the store failed: look again later */

/* the scheduler: one source, an idle when something may be due now, else a
 * timeout to the earliest retry */

void
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

/* lowers *@earliest to the time @sql selects, its ?9 bound to @now and its
 * ?8, if @closed, to the closed kinds, if any */
static gboolean
vb_outbox_min_time(VbOutbox *self,
		   const gchar *sql,
		   gint64 now,
		   const gchar *closed,
		   gint64 *earliest,
		   GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(self->store, sql, error);

	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_int64(stmt, 9, now);
	if (closed != NULL)
		vb_store_stmt_bind_text(stmt, 8, closed);
	if (vb_store_stmt_step(stmt, error) != VB_STORE_STEP_ROW) {
		if (error != NULL && *error == NULL)
			g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED, "no row");
		return FALSE;
	}
	if (!vb_store_stmt_column_is_null(stmt, 0))
		*earliest = MIN(*earliest, vb_store_stmt_column_int64(stmt, 0));
	return TRUE;
}

/* the closed kinds between spaces (" sms "), for the SQL, with the time the
 * first of them opens */
static GString *
vb_outbox_closed_kinds(VbOutbox *self, gint64 now, gint64 *opens)
{
	GString *closed = g_string_new(" ");
	GHashTableIter iter;
	gpointer key, value;

	g_hash_table_iter_init(&iter, self->closed);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		gint64 until = *(gint64 *)value;
		if (until <= now)
			continue;
		g_string_append_printf(closed, "%s ", (const gchar *)key);
		*opens = MIN(*opens, until);
	}
	return closed;
}

/* looks for the earliest due time of an item that could go out, and sleeps
 * until then; with every slot taken, a completion wakes the outbox instead.
 * An item of a closed kind counts from its gate's opening */
static void
vb_outbox_arm(VbOutbox *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) closed = NULL;
	gint64 earliest = G_MAXINT64;
	gint64 now;

	vb_outbox_clear_source(self);
	if (!self->started || g_hash_table_size(self->in_flight) >= VB_OUTBOX_MAX_IN_FLIGHT)
		return;
	now = vb_outbox_now(self);
	closed = vb_outbox_closed_kinds(self, now, &earliest);
	/* the next retry of an item that may go, and the end of a hold that
	 * keeps one back behind an unknown outcome */
	if (!vb_outbox_min_time(self,
				"SELECT MIN(o.next_attempt) FROM outbox AS o "
				"WHERE o.state = 'pending' AND instr(?8, ' ' || o.kind || ' ') = 0 "
				"AND " VB_OUTBOX_SQL_HEAD,
				now, closed->str, &earliest, &error) ||
	    !vb_outbox_min_time(
		self,
		"SELECT MIN(passable_after) FROM outbox INDEXED BY outbox_passable "
		"WHERE state IN ('pending', 'sending') AND passable_after IS NOT NULL "
		"AND passable_after > ?9",
		now, NULL, &earliest, &error)) {
		g_warning("cannot read the outbox, trying again in %u s: %s",
			  VB_OUTBOX_STORE_RETRY_MS / 1000, error->message);
		vb_outbox_arm_timeout(self, VB_OUTBOX_STORE_RETRY_MS);
		return;
	}
	if (earliest == G_MAXINT64)
		return;
	if (earliest <= now) {
		vb_outbox_attach(self, g_idle_source_new(), TRUE);
		return;
	}
	/* round up, so that the item is due when the timeout fires */
	vb_outbox_arm_timeout(self, (earliest - now + 999) / 1000);
}

/* asks each gate how many of its kind may go now: @capacity gets the open
 * ones, self->closed the others, with when they open */
static GHashTable *
vb_outbox_ask_gates(VbOutbox *self, gint64 now)
{
	GHashTable *capacity = g_hash_table_new(g_str_hash, g_str_equal);
	GHashTableIter iter;
	gpointer key, value;

	g_hash_table_remove_all(self->closed);
	g_hash_table_iter_init(&iter, self->gates);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		VbOutboxGate *gate = value;
		gint64 wait_us = 0;
		guint n = gate->func(self, key, &wait_us, gate->user_data);

		if (n == 0) {
			gint64 *until = g_new(gint64, 1);
			*until = now + MAX(wait_us, 1);
			g_hash_table_insert(self->closed, g_strdup(key), until);
			continue;
		}
		g_hash_table_insert(capacity, (gpointer)g_intern_string(key), GUINT_TO_POINTER(n));
	}
	return capacity;
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
	g_autoptr(GHashTable) capacity = NULL;
	g_autoptr(GString) closed = NULL;
	guint n_in_flight = g_hash_table_size(self->in_flight);
	gint64 now;
	gint64 opens = G_MAXINT64;
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
	now = vb_outbox_now(self);
	capacity = vb_outbox_ask_gates(self, now);
	closed = vb_outbox_closed_kinds(self, now, &opens);
	items = vb_outbox_claim_due(self, room, closed, capacity, &error);
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
	self->n_ticks++;
	vb_outbox_tick(self);
	return G_SOURCE_REMOVE;
}
