/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* transactions: begin, commit, roll back, the commits that skip their sync,
 * and the work deferred until a commit */

#include "config.h"

#include "vb-error.h"
#include "vb-store-internal.h"

static void
vb_store_deferred_clear(VbStoreDeferred *deferred)
{
	if (deferred->destroy != NULL)
		deferred->destroy(deferred->data);
}

void
vb_store_after_commit(VbStore *self, VbStoreCommitFunc func, gpointer data, GDestroyNotify destroy)
{
	VbStoreDeferred deferred = {func, data, destroy};

	g_return_if_fail(VB_IS_STORE(self));
	g_return_if_fail(func != NULL);

	if (self->tx == NULL) {
		func(data);
		vb_store_deferred_clear(&deferred);
		return;
	}
	if (self->tx->after_commit == NULL) {
		self->tx->after_commit = g_array_new(FALSE, FALSE, sizeof(VbStoreDeferred));
		g_array_set_clear_func(self->tx->after_commit,
				       (GDestroyNotify)vb_store_deferred_clear);
	}
	g_array_append_val(self->tx->after_commit, deferred);
}

/**
 * vb_store_in_transaction:
 * @self: a #VbStore
 *
 * Tells whether a transaction is open, so that a helper that writes several
 * rows can join the caller's transaction instead of opening its own.
 *
 * Returns: %TRUE inside a transaction
 *
 * Since: 0.1
 */
gboolean
vb_store_in_transaction(VbStore *self)
{
	g_return_val_if_fail(VB_IS_STORE(self), FALSE);
	return self->db != NULL && !sqlite3_get_autocommit(self->db);
}

/**
 * vb_store_transaction_begin:
 * @self: a #VbStore
 * @error: (nullable): return location for a #GError
 *
 * Opens a `BEGIN IMMEDIATE` transaction, which takes the write lock at once.
 * Only one transaction can be open on a store at a time.
 *
 * Returns: (transfer full): a #VbStoreTransaction, or %NULL on error
 *
 * Since: 0.1
 */
VbStoreTransaction *
vb_store_transaction_begin(VbStore *self, GError **error)
{
	return vb_store_transaction_begin_full(self, VB_STORE_TRANSACTION_FLAG_NONE, error);
}

/* the safety level can only change outside a transaction */
static void
vb_store_set_synced(VbStore *self, gboolean synced)
{
	g_autoptr(GError) error_local = NULL;
	if (!vb_store_exec_cached(
		self, synced ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
		&error_local))
		g_warning("cannot set the store's safety level: %s", error_local->message);
}

/**
 * vb_store_transaction_begin_full:
 * @self: a #VbStore
 * @flags: #VbStoreTransactionFlags
 * @error: (nullable): return location for a #GError
 *
 * Like vb_store_transaction_begin(), with @flags.
 *
 * With %VB_STORE_TRANSACTION_FLAG_NO_SYNC the commit is not synced to disk.
 * A crash or a kill of the daemon still loses nothing, since the commit is in
 * the write-ahead log; a power loss before the next synced commit (any
 * transaction without the flag syncs every commit before it) or the next
 * checkpoint may forget it, and never leaves the store inconsistent. Use it
 * only for records that can be rebuilt or whose loss on a power cut is
 * harmless, never for money or a door's state.
 *
 * Returns: (transfer full): a #VbStoreTransaction, or %NULL on error
 *
 * Since: 0.2
 */
VbStoreTransaction *
vb_store_transaction_begin_full(VbStore *self, VbStoreTransactionFlags flags, GError **error)
{
	VbStoreTransaction *tx;
	gboolean no_sync = (flags & VB_STORE_TRANSACTION_FLAG_NO_SYNC) != 0;

	g_return_val_if_fail(VB_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!vb_store_check_open(self, error))
		return NULL;
	if (self->damage != NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_STORE_CORRUPT,
			    "the database failed its integrity check (%s); nothing more is "
			    "written to it: restart vestibuled to move it aside",
			    self->damage);
		return NULL;
	}
	if (self->tx != NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
				    "a transaction is already open; commit or free it first");
		return NULL;
	}
	if (no_sync)
		vb_store_set_synced(self, FALSE);
	if (!vb_store_exec_cached(self, "BEGIN IMMEDIATE", error)) {
		g_prefix_error(error, "cannot begin a transaction: ");
		if (no_sync)
			vb_store_set_synced(self, TRUE);
		return NULL;
	}
	tx = g_new0(VbStoreTransaction, 1);
	tx->store = g_object_ref(self);
	tx->no_sync = no_sync;
	tx->changes = sqlite3_total_changes64(self->db);
	self->tx = tx;
	return tx;
}

/**
 * vb_store_transaction_commit:
 * @tx: a #VbStoreTransaction
 * @error: (nullable): return location for a #GError
 *
 * Commits the transaction. On failure it stays open, and freeing it rolls it
 * back.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
vb_store_transaction_commit(VbStoreTransaction *tx, GError **error)
{
	g_return_val_if_fail(tx != NULL, FALSE);
	g_return_val_if_fail(!tx->committed, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (tx->store->tx != tx) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
				    "the store was closed while the transaction was open");
		return FALSE;
	}
	if (!vb_store_exec_cached(tx->store, "COMMIT", error)) {
		g_prefix_error(error, "cannot commit: ");
		return FALSE;
	}
	tx->committed = TRUE;
	tx->store->tx = NULL;
	if (tx->no_sync)
		vb_store_set_synced(tx->store, TRUE);
	/* a commit that wrote rows synced the log, and with it every commit
	 * before it; one that wrote nothing wrote no frame and synced nothing */
	else if (sqlite3_total_changes64(tx->store->db) != tx->changes)
		tx->store->syncs++;
	/* the store is free again: what runs now may open its own transaction */
	if (tx->after_commit != NULL) {
		g_autoptr(GArray) after = g_steal_pointer(&tx->after_commit);
		for (guint i = 0; i < after->len; i++) {
			VbStoreDeferred *deferred = &g_array_index(after, VbStoreDeferred, i);
			deferred->func(deferred->data);
		}
	}
	return TRUE;
}

/**
 * vb_store_transaction_free:
 * @tx: (nullable): a #VbStoreTransaction
 *
 * Closes the transaction, rolling it back unless it was committed.
 *
 * Since: 0.1
 */
void
vb_store_transaction_free(VbStoreTransaction *tx)
{
	VbStore *self;

	if (tx == NULL)
		return;
	self = tx->store;

	/* SQLite may already have rolled back on its own, after an I/O error */
	if (self->tx == tx && !sqlite3_get_autocommit(self->db)) {
		g_autoptr(GError) error_local = NULL;
		if (!vb_store_exec_cached(self, "ROLLBACK", &error_local))
			g_warning("cannot roll back a transaction: %s", error_local->message);
	}
	if (self->tx == tx) {
		self->tx = NULL;
		if (tx->no_sync && self->db != NULL)
			vb_store_set_synced(self, TRUE);
	}
	/* rolled back: nothing of it happened */
	g_clear_pointer(&tx->after_commit, g_array_unref);
	g_object_unref(self);
	g_free(tx);
}
