/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the rows: an item read from its row, the outbox's transactions, and the SQL
 * that queues, claims and prunes items */

#include "config.h"

#include "vb-error.h"
#include "vb-outbox-internal.h"

/* items */

void
vb_outbox_item_free(VbOutboxItem *item)
{
	g_clear_object(&item->cancellable);
	g_clear_pointer(&item->context, g_main_context_unref);
	g_clear_pointer(&item->payload, json_object_unref);
	g_free(item->kind);
	g_free(item->recipient);
	g_free(item->idempotency_key);
	g_free(item->visit_id);
	g_free(item->send_key);
	g_free(item);
}

/* columns: VB_OUTBOX_SQL_ITEM_COLUMNS */
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
	item->unknown_since =
	    vb_store_stmt_column_is_null(stmt, 8) ? 0 : vb_store_stmt_column_int64(stmt, 8);
	item->resends = (guint)vb_store_stmt_column_int64(stmt, 9);
	if (item->resends > 0)
		item->send_key = g_strdup_printf("%s~%u", item->idempotency_key, item->resends);
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

gint64
vb_outbox_item_get_created(VbOutboxItem *item)
{
	g_return_val_if_fail(item != NULL, 0);
	return item->created;
}

const gchar *
vb_outbox_item_get_send_key(VbOutboxItem *item)
{
	g_return_val_if_fail(item != NULL, NULL);
	return item->send_key != NULL ? item->send_key : item->idempotency_key;
}

guint
vb_outbox_item_get_resends(VbOutboxItem *item)
{
	g_return_val_if_fail(item != NULL, 0);
	return item->resends;
}

gint64
vb_outbox_item_get_unknown_for(VbOutboxItem *item)
{
	g_return_val_if_fail(item != NULL, 0);
	if (item->unknown_since == 0 || item->outbox == NULL)
		return 0;
	return MAX(vb_outbox_now(item->outbox) - item->unknown_since, 1);
}

static gboolean
vb_outbox_exec(VbStore *store, const gchar *sql, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(store, sql, error);
	if (stmt == NULL)
		return FALSE;
	return vb_store_stmt_exec(stmt, error);
}

void
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

VbOutboxTx *
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

gboolean
vb_outbox_tx_commit(VbOutboxTx *otx, GError **error)
{
	if (otx->tx != NULL)
		return vb_store_transaction_commit(otx->tx, error);
	if (!vb_outbox_exec(otx->store, "RELEASE vb_outbox", error))
		return FALSE;
	otx->open = FALSE;
	return TRUE;
}

/* reads due items into @items, from id @from on, until @room or a kind out of
 * @capacity: then *@from is where to go on, with that kind closed */
static gboolean
vb_outbox_read_due(VbOutbox *self,
		   GPtrArray *items,
		   guint room,
		   GString *closed,
		   GHashTable *capacity,
		   gint64 now,
		   gint64 *from,
		   gboolean *more,
		   GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	*more = FALSE;
	/* a closed kind is excluded before its items' recipients are looked at */
	stmt = vb_store_prepare(self->store,
				"SELECT " VB_OUTBOX_SQL_ITEM_COLUMNS " "
				"FROM outbox AS o INDEXED BY outbox_pending "
				"WHERE o.state = 'pending' AND o.next_attempt <= ?1 AND o.id >= ?4 "
				"AND instr(?3, ' ' || o.kind || ' ') = 0 "
				"AND " VB_OUTBOX_SQL_HEAD " ORDER BY o.id LIMIT ?2",
				error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_int64(stmt, 1, now);
	vb_store_stmt_bind_int64(stmt, 2, room - items->len);
	vb_store_stmt_bind_text(stmt, 3, closed->str);
	vb_store_stmt_bind_int64(stmt, 4, *from);
	vb_store_stmt_bind_int64(stmt, 9, now);
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		const gchar *kind = vb_store_stmt_column_text(stmt, 1);
		gpointer left;

		if (g_hash_table_lookup_extended(capacity, kind, NULL, &left)) {
			if (GPOINTER_TO_UINT(left) == 0) {
				g_string_append_printf(closed, "%s ", kind);
				*from = vb_store_stmt_column_int64(stmt, 0);
				*more = TRUE;
				return TRUE;
			}
			if (GPOINTER_TO_UINT(left) != G_MAXUINT)
				g_hash_table_insert(capacity, (gpointer)g_intern_string(kind),
						    GUINT_TO_POINTER(GPOINTER_TO_UINT(left) - 1));
		}
		g_ptr_array_add(items, vb_outbox_item_new_from_row(self, stmt));
	}
	return step != VB_STORE_STEP_ERROR;
}

/* takes up to @room due items, oldest first, one per recipient at most and
 * no more of a gated kind than its capacity, and commits them as 'sending'
 * before anything is sent */
GPtrArray *
vb_outbox_claim_due(VbOutbox *self,
		    guint room,
		    GString *closed,
		    GHashTable *capacity,
		    GError **error)
{
	g_autoptr(GPtrArray) items =
	    g_ptr_array_new_with_free_func((GDestroyNotify)vb_outbox_item_free);
	g_autoptr(VbStoreTransaction) tx = NULL;
	gint64 now = vb_outbox_now(self);
	gint64 from = 0;
	gboolean more = TRUE;

	tx = vb_store_transaction_begin(self->store, error);
	if (tx == NULL)
		return NULL;
	while (more && items->len < room) {
		if (!vb_outbox_read_due(self, items, room, closed, capacity, now, &from, &more,
					error))
			return NULL;
	}
	/* nothing to write: no commit, and no sync */
	if (items->len == 0)
		return g_steal_pointer(&items);

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
	/* a closed kind's gate wakes the outbox when it opens */
	if (!vb_outbox_kind_is_closed(self, kind))
		vb_outbox_wake(self);
	return id;
}

/* done rows dedupe a key only as long as a provider would: a month is
 * well past any retry, and what they carried (a forwarded reply, a customer
 * id) should not outlive that */
gint64
vb_outbox_prune(VbOutbox *self, gint64 before, guint limit, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	g_return_val_if_fail(VB_IS_OUTBOX(self), -1);
	/* at most @limit, the oldest first. Ids grow with time, so the items
	 * created before @before are found by walking from the oldest to the
	 * first newer one: the cost is that of the old rows, not of the table.
	 * NOT INDEXED: through outbox_due, SQLite would read every item done */
	stmt = vb_store_prepare(self->store,
				"DELETE FROM outbox WHERE id IN (SELECT id FROM outbox NOT INDEXED "
				"WHERE id < coalesce((SELECT id FROM outbox WHERE created >= ?1 "
				"ORDER BY id LIMIT 1), (SELECT max(id) + 1 FROM outbox)) "
				"AND state = 'done' AND updated < ?1 ORDER BY id LIMIT ?2)",
				error);
	if (stmt == NULL)
		return -1;
	vb_store_stmt_bind_int64(stmt, 1, before);
	vb_store_stmt_bind_int64(stmt, 2, limit > 0 ? (gint64)limit : -1);
	if (!vb_store_stmt_exec(stmt, error)) {
		g_prefix_error(error, "cannot prune the outbox: ");
		return -1;
	}
	if (self->n_done >= 0)
		self->n_done = MAX(self->n_done - vb_store_changes(self->store), 0);
	return vb_store_changes(self->store);
}
