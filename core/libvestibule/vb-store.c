/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * the store holds money and visit state on SD cards that lose power without
 * warning, so durability wins over speed:
 * - journal_mode=WAL: a crash in the middle of a write never touches the main
 *   file, and readers (the HTTP API) do not block the visit logic
 * - synchronous=FULL: in WAL mode NORMAL may forget the last commits on power
 *   loss; FULL syncs the WAL at every commit, so a hold or an unlocked door that
 *   was recorded stays recorded
 * - busy_timeout=5000: a backup or a second reader may hold the lock briefly;
 *   waiting beats failing a visit
 * - foreign_keys=ON: SQLite leaves them off for compatibility
 * - secure_delete=ON: an erased phone or a pruned row is overwritten in the file,
 *   whatever the SQLite build defaults to
 * - a file that fails its integrity check is moved aside, never deleted: it may
 *   be the only record of holds that still have to be settled
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vb-error.h"
#include "vb-store-private.h"

#define VB_STORE_BUSY_TIMEOUT_MS 5000

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

/**
 * VbStore:
 *
 * The SQLite database shared by the core and the plugins. Plugins use
 * prepared statements, transactions and their own namespaced tables.
 *
 * Since: 0.1
 */
struct _VbStore {
	GObject parent_instance;
	sqlite3 *db;
	gchar *path;
	gchar *quarantined_path;
	guint schema_version;
	GHashTable *stmts;	 /* SQL text -> VbStoreStmt, owned */
	GHashTable *seen;	 /* hashes of the SQL texts prepared once, uncached */
	GPtrArray *uncached;	 /* VbStoreStmt given out while the cached one was busy */
	VbStoreTransaction *tx;	 /* the open transaction, unowned */
	gboolean denied_in_step; /* the authorizer refused a statement of a namespace step */
	GSource *checkpoint;	 /* the idle checkpoint, when one is due */
	guint64 syncs;		 /* syncs of the log known to have succeeded */
};

struct _VbStoreStmt {
	VbStore *store;	    /* unowned; NULL once the store closed under the borrower */
	sqlite3_stmt *stmt; /* NULL once the store closed under the borrower */
	gchar *sql;
	gboolean cached;
	gboolean borrowed;
	gint bind_rc;
	gint bind_idx;
};

struct _VbStoreTransaction {
	VbStore *store;
	gboolean committed;
	gboolean no_sync;     /* synchronous=NORMAL until it ends */
	gint64 changes;	      /* sqlite3_total_changes64() when it began */
	GArray *after_commit; /* VbStoreDeferred, run in order after COMMIT */
};

typedef struct {
	VbStoreCommitFunc func;
	gpointer data;
	GDestroyNotify destroy;
} VbStoreDeferred;

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

G_DEFINE_FINAL_TYPE(VbStore, vb_store, G_TYPE_OBJECT)

static void
vb_store_set_sqlite_error(GError **error, gint rc, const gchar *msg)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		g_set_error(error, VB_ERROR, VB_ERROR_IO,
			    "the database is locked by another connection (%s); check that only "
			    "one vestibuled uses this file, then retry",
			    msg);
		break;
	case SQLITE_CONSTRAINT:
		g_set_error_literal(error, VB_ERROR, VB_ERROR_CONFLICT, msg);
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		g_set_error(error, VB_ERROR, VB_ERROR_STORE_CORRUPT,
			    "the database is damaged (%s); restart vestibuled to move it aside",
			    msg);
		break;
	default:
		g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED, msg);
		break;
	}
}

static gboolean
vb_store_check_open(VbStore *self, GError **error)
{
	if (self->db == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
				    "the store is not open; call vb_store_open() first");
		return FALSE;
	}
	return TRUE;
}

/* runs a script of several statements, the migrations and pragmas; values are
 * never part of it, they are bound through vb_store_prepare() */
static gboolean
vb_store_exec_script(VbStore *self, const gchar *sql, GError **error)
{
	gchar *msg = NULL;
	gint rc = sqlite3_exec(self->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		vb_store_set_sqlite_error(error, rc, msg != NULL ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return FALSE;
	}
	return TRUE;
}

static VbStoreStmt *
vb_store_stmt_new(VbStore *self, const gchar *sql, gboolean cached, GError **error)
{
	VbStoreStmt *stmt;
	const gchar *tail = NULL;
	g_autoptr(sqlite3_stmt) handle = NULL;
	gint rc;

	rc = sqlite3_prepare_v3(self->db, sql, -1, cached ? SQLITE_PREPARE_PERSISTENT : 0, &handle,
				&tail);
	if (rc != SQLITE_OK) {
		vb_store_set_sqlite_error(error, rc, sqlite3_errmsg(self->db));
		return NULL;
	}
	if (handle == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "no SQL statement given");
		return NULL;
	}
	while (tail != NULL && g_ascii_isspace(*tail))
		tail++;
	if (tail != NULL && *tail != '\0') {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "only one SQL statement can be prepared at a time, found more: %s",
			    tail);
		return NULL;
	}

	stmt = g_new0(VbStoreStmt, 1);
	stmt->store = self;
	stmt->stmt = g_steal_pointer(&handle);
	stmt->sql = g_strdup(sql);
	stmt->cached = cached;
	return stmt;
}

/* the cache's value destroy function */
static void
vb_store_stmt_destroy(VbStoreStmt *stmt)
{
	if (stmt->stmt != NULL)
		sqlite3_finalize(stmt->stmt);
	g_free(stmt->sql);
	g_free(stmt);
}

/* the borrower still holds @stmt: finalize the SQLite side now so that the
 * database can close, and leave the husk for vb_store_stmt_free() */
static void
vb_store_stmt_detach(VbStoreStmt *stmt)
{
	g_warning("the store was closed while a statement was still in use: %s", stmt->sql);
	sqlite3_finalize(stmt->stmt);
	stmt->stmt = NULL;
	stmt->store = NULL;
	stmt->cached = FALSE;
}

/**
 * vb_store_prepare:
 * @self: a #VbStore
 * @sql: one SQL statement, with `?1`, `?2`… for its parameters
 * @error: (nullable): return location for a #GError
 *
 * Borrows a prepared statement from the store's cache, preparing it the first
 * time. If the same SQL is already borrowed, for instance further up the call
 * stack, a private statement is prepared instead. The cache keeps a statement
 * from its second use on: the first is prepared, run and finalized.
 *
 * Never build @sql from values: bind them.
 *
 * Returns: (transfer full): a #VbStoreStmt to give back with
 * vb_store_stmt_free(), or %NULL on error
 *
 * Since: 0.1
 */
VbStoreStmt *
vb_store_prepare(VbStore *self, const gchar *sql, GError **error)
{
	VbStoreStmt *stmt;
	gboolean cache;

	g_return_val_if_fail(VB_IS_STORE(self), NULL);
	g_return_val_if_fail(sql != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!vb_store_check_open(self, error))
		return NULL;
	stmt = g_hash_table_lookup(self->stmts, sql);
	if (stmt != NULL && !stmt->borrowed) {
		stmt->borrowed = TRUE;
		return stmt;
	}

	/* a cached statement can serve one borrower at a time: a nested user of the
	 * same SQL gets its own, finalized when given back. A statement is cached
	 * from its second use on, so that what runs once (a migration, a start-up
	 * check, an operator's listing) does not keep its compiled program in
	 * memory for the daemon's lifetime */
	cache = stmt == NULL && !g_hash_table_add(self->seen, GUINT_TO_POINTER(g_str_hash(sql)));
	stmt = vb_store_stmt_new(self, sql, cache, error);
	if (stmt == NULL)
		return NULL;
	stmt->borrowed = TRUE;
	if (stmt->cached)
		g_hash_table_insert(self->stmts, stmt->sql, stmt);
	else
		g_ptr_array_add(self->uncached, stmt);
	return stmt;
}

/* bind functions return nothing, so the first failure is reported by the next step */
static void
vb_store_stmt_check_bind(VbStoreStmt *stmt, gint idx, gint rc)
{
	if (rc != SQLITE_OK && stmt->bind_rc == SQLITE_OK) {
		stmt->bind_rc = rc;
		stmt->bind_idx = idx;
	}
}

/**
 * vb_store_stmt_bind_text:
 * @stmt: a #VbStoreStmt
 * @idx: the parameter number N of `?N`
 * @value: (nullable): the text, copied; %NULL binds SQL `NULL`
 *
 * Binds a text parameter. An error is reported by the next
 * vb_store_stmt_step().
 *
 * Since: 0.1
 */
void
vb_store_stmt_bind_text(VbStoreStmt *stmt, gint idx, const gchar *value)
{
	g_return_if_fail(stmt != NULL);
	if (stmt->stmt == NULL)
		return;
	vb_store_stmt_check_bind(stmt, idx,
				 sqlite3_bind_text(stmt->stmt, idx, value, -1, SQLITE_TRANSIENT));
}

/**
 * vb_store_stmt_bind_int64:
 * @stmt: a #VbStoreStmt
 * @idx: the parameter number N of `?N`
 * @value: the integer
 *
 * Binds an integer parameter. An error is reported by the next
 * vb_store_stmt_step().
 *
 * Since: 0.1
 */
void
vb_store_stmt_bind_int64(VbStoreStmt *stmt, gint idx, gint64 value)
{
	g_return_if_fail(stmt != NULL);
	if (stmt->stmt == NULL)
		return;
	vb_store_stmt_check_bind(stmt, idx, sqlite3_bind_int64(stmt->stmt, idx, value));
}

/**
 * vb_store_stmt_bind_blob:
 * @stmt: a #VbStoreStmt
 * @idx: the parameter number N of `?N`
 * @value: (nullable): the bytes, copied; %NULL binds SQL `NULL`
 *
 * Binds a blob parameter. An error is reported by the next
 * vb_store_stmt_step().
 *
 * Since: 0.1
 */
void
vb_store_stmt_bind_blob(VbStoreStmt *stmt, gint idx, GBytes *value)
{
	gconstpointer data;
	gsize size = 0;

	g_return_if_fail(stmt != NULL);
	if (stmt->stmt == NULL)
		return;
	if (value == NULL) {
		vb_store_stmt_bind_null(stmt, idx);
		return;
	}
	data = g_bytes_get_data(value, &size);
	vb_store_stmt_check_bind(
	    stmt, idx,
	    sqlite3_bind_blob64(stmt->stmt, idx, data != NULL ? data : "", size, SQLITE_TRANSIENT));
}

/**
 * vb_store_stmt_bind_null:
 * @stmt: a #VbStoreStmt
 * @idx: the parameter number N of `?N`
 *
 * Binds SQL `NULL`. An error is reported by the next vb_store_stmt_step().
 *
 * Since: 0.1
 */
void
vb_store_stmt_bind_null(VbStoreStmt *stmt, gint idx)
{
	g_return_if_fail(stmt != NULL);
	if (stmt->stmt == NULL)
		return;
	vb_store_stmt_check_bind(stmt, idx, sqlite3_bind_null(stmt->stmt, idx));
}

/**
 * vb_store_stmt_step:
 * @stmt: a #VbStoreStmt
 * @error: (nullable): return location for a #GError
 *
 * Runs the statement to its next row. SQLite errors become #VB_ERROR codes:
 * a locked database is %VB_ERROR_IO, a constraint violation
 * %VB_ERROR_CONFLICT and a damaged file %VB_ERROR_STORE_CORRUPT.
 *
 * Returns: %VB_STORE_STEP_ROW, %VB_STORE_STEP_DONE, or %VB_STORE_STEP_ERROR
 * with @error set
 *
 * Since: 0.1
 */
VbStoreStep
vb_store_stmt_step(VbStoreStmt *stmt, GError **error)
{
	gint rc;

	g_return_val_if_fail(stmt != NULL, VB_STORE_STEP_ERROR);
	g_return_val_if_fail(error == NULL || *error == NULL, VB_STORE_STEP_ERROR);

	if (stmt->stmt == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
				    "the store was closed while this statement was in use");
		return VB_STORE_STEP_ERROR;
	}
	if (stmt->bind_rc != SQLITE_OK) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "cannot bind parameter ?%d of '%s': %s", stmt->bind_idx, stmt->sql,
			    sqlite3_errstr(stmt->bind_rc));
		return VB_STORE_STEP_ERROR;
	}
	rc = sqlite3_step(stmt->stmt);
	if (rc == SQLITE_ROW)
		return VB_STORE_STEP_ROW;
	if (rc == SQLITE_DONE)
		return VB_STORE_STEP_DONE;
	vb_store_set_sqlite_error(error, rc, sqlite3_errmsg(sqlite3_db_handle(stmt->stmt)));
	return VB_STORE_STEP_ERROR;
}

/**
 * vb_store_stmt_exec:
 * @stmt: a #VbStoreStmt
 * @error: (nullable): return location for a #GError
 *
 * Runs the statement to completion, skipping any rows it returns.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
vb_store_stmt_exec(VbStoreStmt *stmt, GError **error)
{
	VbStoreStep step;

	g_return_val_if_fail(stmt != NULL, FALSE);

	do {
		step = vb_store_stmt_step(stmt, error);
	} while (step == VB_STORE_STEP_ROW);
	return step == VB_STORE_STEP_DONE;
}

/**
 * vb_store_stmt_column_text:
 * @stmt: a #VbStoreStmt on a row
 * @col: the column, from 0
 *
 * Returns: (nullable): the text, valid until the next step or free, or %NULL
 * for SQL `NULL`
 *
 * Since: 0.1
 */
const gchar *
vb_store_stmt_column_text(VbStoreStmt *stmt, gint col)
{
	g_return_val_if_fail(stmt != NULL, NULL);
	if (stmt->stmt == NULL)
		return NULL;
	return (const gchar *)sqlite3_column_text(stmt->stmt, col);
}

/**
 * vb_store_stmt_column_int64:
 * @stmt: a #VbStoreStmt on a row
 * @col: the column, from 0
 *
 * Returns: the integer, 0 for SQL `NULL`
 *
 * Since: 0.1
 */
gint64
vb_store_stmt_column_int64(VbStoreStmt *stmt, gint col)
{
	g_return_val_if_fail(stmt != NULL, 0);
	if (stmt->stmt == NULL)
		return 0;
	return sqlite3_column_int64(stmt->stmt, col);
}

/**
 * vb_store_stmt_column_blob:
 * @stmt: a #VbStoreStmt on a row
 * @col: the column, from 0
 *
 * Returns: (transfer full) (nullable): a copy of the bytes, or %NULL for SQL
 * `NULL`
 *
 * Since: 0.1
 */
GBytes *
vb_store_stmt_column_blob(VbStoreStmt *stmt, gint col)
{
	gconstpointer data;

	g_return_val_if_fail(stmt != NULL, NULL);
	if (stmt->stmt == NULL || sqlite3_column_type(stmt->stmt, col) == SQLITE_NULL)
		return NULL;
	data = sqlite3_column_blob(stmt->stmt, col);
	return g_bytes_new(data, sqlite3_column_bytes(stmt->stmt, col));
}

/**
 * vb_store_stmt_column_is_null:
 * @stmt: a #VbStoreStmt on a row
 * @col: the column, from 0
 *
 * Returns: %TRUE if the column holds SQL `NULL`
 *
 * Since: 0.1
 */
gboolean
vb_store_stmt_column_is_null(VbStoreStmt *stmt, gint col)
{
	g_return_val_if_fail(stmt != NULL, TRUE);
	if (stmt->stmt == NULL)
		return TRUE;
	return sqlite3_column_type(stmt->stmt, col) == SQLITE_NULL;
}

/**
 * vb_store_stmt_free:
 * @stmt: (nullable): a #VbStoreStmt
 *
 * Gives the statement back: it is reset, its bindings are cleared and it
 * returns to the cache.
 *
 * Since: 0.1
 */
void
vb_store_stmt_free(VbStoreStmt *stmt)
{
	if (stmt == NULL)
		return;
	if (stmt->cached) {
		sqlite3_reset(stmt->stmt);
		sqlite3_clear_bindings(stmt->stmt);
		stmt->bind_rc = SQLITE_OK;
		stmt->borrowed = FALSE;
		return;
	}
	if (stmt->store != NULL)
		g_ptr_array_remove_fast(stmt->store->uncached, stmt);
	vb_store_stmt_destroy(stmt);
}

/**
 * vb_store_last_insert_rowid:
 * @self: a #VbStore
 *
 * Returns: the rowid of the last row inserted on this connection
 *
 * Since: 0.1
 */
gint64
vb_store_last_insert_rowid(VbStore *self)
{
	g_return_val_if_fail(VB_IS_STORE(self), 0);
	if (self->db == NULL)
		return 0;
	return sqlite3_last_insert_rowid(self->db);
}

/**
 * vb_store_changes:
 * @self: a #VbStore
 *
 * Returns: the number of rows changed by the last statement
 *
 * Since: 0.1
 */
gint
vb_store_changes(VbStore *self)
{
	g_return_val_if_fail(VB_IS_STORE(self), 0);
	if (self->db == NULL)
		return 0;
	return sqlite3_changes(self->db);
}

static gboolean
vb_store_exec_cached(VbStore *self, const gchar *sql, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(self, sql, error);
	if (stmt == NULL)
		return FALSE;
	return vb_store_stmt_exec(stmt, error);
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

/* core schema: one function per step, run by vb_store_migrate() in a transaction */

static gboolean
vb_store_migrate_v1(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "CREATE TABLE audit ("
				    "seq INTEGER PRIMARY KEY AUTOINCREMENT, "
				    "name TEXT NOT NULL, "
				    "source TEXT, "
				    "door TEXT, "
				    "mono INTEGER NOT NULL, "
				    "real INTEGER NOT NULL, "
				    "payload TEXT);"
				    "CREATE TABLE api_tokens ("
				    "name TEXT PRIMARY KEY, "
				    "scope TEXT NOT NULL, "
				    "hash TEXT NOT NULL UNIQUE, "
				    "created INTEGER);"
				    "CREATE TABLE namespaces ("
				    "ns TEXT PRIMARY KEY, "
				    "version INTEGER NOT NULL);",
				    error);
}

static gboolean
vb_store_migrate_v2(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "CREATE TABLE visits ("
				    "id TEXT PRIMARY KEY, "
				    "door TEXT, "
				    "state TEXT NOT NULL, "
				    "card_token TEXT, "
				    "first6 TEXT, "
				    "last4 TEXT, "
				    "created INTEGER NOT NULL, "
				    "updated INTEGER NOT NULL);"
				    "CREATE INDEX visits_created ON visits (created);",
				    error);
}

typedef gboolean (*VbStoreMigrateFunc)(VbStore *self, GError **error);

/* the visit: customers and their cards, one-time codes, consent, the visit's
 * money and timeline, feedback and the durable outbox. No column holds a PAN,
 * a phone number in clear or a one-time code: phones are sealed with the
 * phone key and found through a keyed blind index, codes are keyed hashes */
static gboolean
vb_store_migrate_v3(VbStore *self, GError **error)
{
	return vb_store_exec_script(
	    self,
	    "CREATE TABLE customers ("
	    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
	    "phone_index TEXT NOT NULL UNIQUE, "
	    "phone_sealed BLOB NOT NULL, "
	    "phone_masked TEXT NOT NULL, "
	    "language TEXT, "
	    "sms_opt_out INTEGER NOT NULL DEFAULT 0, "
	    "created INTEGER NOT NULL);"
	    "CREATE TABLE cards ("
	    "token TEXT PRIMARY KEY, "
	    "customer_id INTEGER REFERENCES customers (id) ON DELETE SET NULL, "
	    "kind TEXT NOT NULL, "
	    "first6 TEXT, "
	    "last4 TEXT, "
	    "expiry TEXT, "
	    "scheme TEXT, "
	    "language TEXT, "
	    "visits INTEGER NOT NULL DEFAULT 0, "
	    "created INTEGER NOT NULL, "
	    "last_seen INTEGER NOT NULL);"
	    "CREATE INDEX cards_customer ON cards (customer_id);"
	    "CREATE TABLE card_aliases ("
	    "alias TEXT PRIMARY KEY, "
	    "token TEXT NOT NULL REFERENCES cards (token) ON DELETE CASCADE);"
	    "CREATE TABLE otps ("
	    "phone_index TEXT PRIMARY KEY, "
	    "code_hash TEXT NOT NULL, "
	    "expires INTEGER NOT NULL, "
	    "tries INTEGER NOT NULL DEFAULT 0, "
	    "sent_at INTEGER NOT NULL, "
	    "sends INTEGER NOT NULL DEFAULT 1);"
	    "CREATE TABLE consent ("
	    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
	    "phone_index TEXT NOT NULL, "
	    "time INTEGER NOT NULL, "
	    "purpose TEXT NOT NULL, "
	    "given INTEGER NOT NULL, "
	    "text TEXT NOT NULL, "
	    "version TEXT NOT NULL, "
	    "channel TEXT NOT NULL);"
	    "CREATE INDEX consent_phone ON consent (phone_index, id);"
	    "CREATE TRIGGER consent_no_update BEFORE UPDATE ON consent "
	    "BEGIN SELECT RAISE(ABORT, 'the consent log is append-only'); END;"
	    "CREATE TRIGGER consent_no_delete BEFORE DELETE ON consent "
	    "BEGIN SELECT RAISE(ABORT, 'the consent log is append-only'); END;"
	    "ALTER TABLE visits ADD COLUMN customer_id INTEGER "
	    "REFERENCES customers (id) ON DELETE SET NULL;"
	    "ALTER TABLE visits ADD COLUMN language TEXT;"
	    "ALTER TABLE visits ADD COLUMN currency TEXT;"
	    "ALTER TABLE visits ADD COLUMN hold_amount INTEGER;"
	    "ALTER TABLE visits ADD COLUMN psp_reference TEXT;"
	    "ALTER TABLE visits ADD COLUMN capture_deadline INTEGER;"
	    "ALTER TABLE visits ADD COLUMN order_hash TEXT;"
	    "ALTER TABLE visits ADD COLUMN order_json TEXT;"
	    "ALTER TABLE visits ADD COLUMN total INTEGER;"
	    "ALTER TABLE visits ADD COLUMN captured INTEGER;"
	    "ALTER TABLE visits ADD COLUMN settlement TEXT;"
	    "ALTER TABLE visits ADD COLUMN receipt_hash TEXT;"
	    "ALTER TABLE visits ADD COLUMN receipt_expires INTEGER;"
	    "CREATE UNIQUE INDEX visits_receipt ON visits (receipt_hash) "
	    "WHERE receipt_hash IS NOT NULL;"
	    "CREATE INDEX visits_customer ON visits (customer_id, created);"
	    "CREATE INDEX visits_state ON visits (state);"
	    "CREATE TABLE visit_timeline ("
	    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
	    "visit_id TEXT NOT NULL REFERENCES visits (id) ON DELETE CASCADE, "
	    "time INTEGER NOT NULL, "
	    "state TEXT NOT NULL, "
	    "detail TEXT);"
	    "CREATE INDEX visit_timeline_visit ON visit_timeline (visit_id, id);"
	    "CREATE TABLE feedback ("
	    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
	    "visit_id TEXT REFERENCES visits (id) ON DELETE SET NULL, "
	    "customer_id INTEGER REFERENCES customers (id) ON DELETE CASCADE, "
	    "received INTEGER NOT NULL, "
	    "body TEXT NOT NULL, "
	    "handled INTEGER NOT NULL DEFAULT 0);"
	    "CREATE TABLE outbox ("
	    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
	    "kind TEXT NOT NULL, "
	    "recipient TEXT NOT NULL, "
	    "idempotency_key TEXT NOT NULL UNIQUE, "
	    "payload TEXT NOT NULL, "
	    "state TEXT NOT NULL, "
	    "attempts INTEGER NOT NULL DEFAULT 0, "
	    "next_attempt INTEGER NOT NULL, "
	    "created INTEGER NOT NULL, "
	    "updated INTEGER NOT NULL, "
	    "last_error TEXT, "
	    "result TEXT, "
	    "visit_id TEXT);"
	    "CREATE INDEX outbox_due ON outbox (state, next_attempt);"
	    "CREATE INDEX outbox_recipient ON outbox (recipient, id);",
	    error);
}

/* the SMS router: one row per outgoing SMS (per outbox item). The provider an
 * attempt goes to is written before the attempt, so that a message whose
 * outcome is unknown stays with that provider (no failover, no duplicate);
 * the delivery state then follows the provider's reports. The recipient is
 * kept masked only */
static gboolean
vb_store_migrate_v4(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "CREATE TABLE sms_messages ("
				    "outbox_id INTEGER PRIMARY KEY, "
				    "idempotency_key TEXT NOT NULL UNIQUE, "
				    "visit_id TEXT, "
				    "template TEXT, "
				    "to_masked TEXT NOT NULL, "
				    "provider TEXT NOT NULL, "
				    "sticky INTEGER NOT NULL DEFAULT 0, "
				    "attempts INTEGER NOT NULL DEFAULT 0, "
				    "message_id TEXT, "
				    "encoding TEXT, "
				    "segments INTEGER, "
				    "shortened INTEGER NOT NULL DEFAULT 0, "
				    "state TEXT NOT NULL, "
				    "last_error TEXT, "
				    "created INTEGER NOT NULL, "
				    "updated INTEGER NOT NULL);"
				    "CREATE INDEX sms_messages_message ON sms_messages "
				    "(provider, message_id);",
				    error);
}

/* the outbox's queue without temporary tables: the items still to send
 * (pending) in the order they were queued, and the live items (pending or
 * sending) of each recipient, which decide the head of its queue. Both are
 * partial, so they hold the few live items, not the history of every message
 * sent. The second replaces the index of every item by recipient, which only
 * that test used */
static gboolean
vb_store_migrate_v5(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "CREATE INDEX outbox_pending ON outbox (id, next_attempt) "
				    "WHERE state = 'pending';"
				    "CREATE INDEX outbox_live ON outbox (recipient, id) "
				    "WHERE state IN ('pending', 'sending');"
				    "DROP INDEX outbox_recipient;",
				    error);
}

/* a visit whose door closed while the outbox was full owes its shopper the
 * notice SMS: it is queued as soon as the outbox has room */
static gboolean
vb_store_migrate_v6(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "ALTER TABLE visits ADD COLUMN notice_owed INTEGER NOT NULL "
				    "DEFAULT 0;"
				    "CREATE INDEX visits_notice_owed ON visits (id) "
				    "WHERE notice_owed = 1;",
				    error);
}

/* merchant references kept ready for a door's next hold, on disk before a
 * tap takes one: see "Reservations" in vb-visit-manager.c */
static gboolean
vb_store_migrate_v7(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "CREATE TABLE visit_reservations ("
				    "id TEXT PRIMARY KEY, "
				    "door TEXT NOT NULL, "
				    "created INTEGER NOT NULL);",
				    error);
}

static const VbStoreMigrateFunc vb_store_migrations[] = {
    vb_store_migrate_v1, vb_store_migrate_v2, vb_store_migrate_v3, vb_store_migrate_v4,
    vb_store_migrate_v5, vb_store_migrate_v6, vb_store_migrate_v7,
};

/**
 * vb_store_schema_version_latest:
 *
 * Returns: the newest core schema version this build knows
 *
 * Since: 0.1
 */
guint
vb_store_schema_version_latest(void)
{
	return G_N_ELEMENTS(vb_store_migrations);
}

static gboolean
vb_store_read_schema_version(VbStore *self, guint *version, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	if (!vb_store_exec_script(self,
				  "CREATE TABLE IF NOT EXISTS schema_version ("
				  "version INTEGER PRIMARY KEY, "
				  "applied INTEGER NOT NULL)",
				  error))
		return FALSE;
	stmt =
	    vb_store_prepare(self, "SELECT COALESCE(MAX(version), 0) FROM schema_version", error);
	if (stmt == NULL || vb_store_stmt_step(stmt, error) != VB_STORE_STEP_ROW)
		return FALSE;
	*version = (guint)vb_store_stmt_column_int64(stmt, 0);
	return TRUE;
}

static gboolean
vb_store_migrate_step(VbStore *self, guint version, GError **error)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;

	tx = vb_store_transaction_begin(self, error);
	if (tx == NULL)
		return FALSE;
	if (!vb_store_migrations[version - 1](self, error))
		return FALSE;
	stmt = vb_store_prepare(
	    self, "INSERT INTO schema_version (version, applied) VALUES (?1, ?2)", error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_int64(stmt, 1, version);
	vb_store_stmt_bind_int64(stmt, 2, g_get_real_time());
	if (!vb_store_stmt_exec(stmt, error))
		return FALSE;
	return vb_store_transaction_commit(tx, error);
}

static gboolean
vb_store_migrate(VbStore *self, guint target_version, GError **error)
{
	guint version = 0;

	if (!vb_store_read_schema_version(self, &version, error))
		return FALSE;
	if (version > vb_store_schema_version_latest()) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
			    "the store has schema version %u but this vestibuled only knows up to "
			    "%u; it was written by a newer version: install that version again or "
			    "restore a backup",
			    version, vb_store_schema_version_latest());
		return FALSE;
	}
	self->schema_version = version;
	for (guint v = version + 1; v <= target_version; v++) {
		if (!vb_store_migrate_step(self, v, error)) {
			g_prefix_error(error, "cannot migrate the store to schema version %u: ", v);
			return FALSE;
		}
		self->schema_version = v;
	}
	return TRUE;
}

/* creates the file before SQLite does, so that it never exists with a wider mode */
static gboolean
vb_store_create_file(const gchar *path, GError **error)
{
	g_autofree gchar *dir = g_path_get_dirname(path);
	gint fd;

	if (g_mkdir_with_parents(dir, 0700) != 0) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
			    "cannot create the store directory %s: %s", dir, g_strerror(errsv));
		return FALSE;
	}
	fd = g_open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		gint errsv = errno;
		if (errsv == EEXIST)
			return TRUE;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
			    "cannot create the store %s: %s", path, g_strerror(errsv));
		return FALSE;
	}
	/* the umask may have taken bits away, never added them: make it exact */
	if (fchmod(fd, 0600) != 0)
		g_warning("cannot set the mode of %s to 0600: %s", path, g_strerror(errno));
	g_close(fd, NULL);
	return TRUE;
}

/* sets *problem when the file is damaged; FALSE only when the check could not run */
static gboolean
vb_store_check_integrity(VbStore *self, gchar **problem, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);

	/* a few findings are enough for the log; the copy keeps the rest */
	stmt = vb_store_prepare(self, "PRAGMA quick_check(3)", &error_local);
	while (stmt != NULL && vb_store_stmt_step(stmt, &error_local) == VB_STORE_STEP_ROW) {
		g_auto(GStrv) split = g_strsplit(vb_store_stmt_column_text(stmt, 0), "\n", -1);
		for (guint i = 0; split[i] != NULL; i++) {
			if (split[i][0] != '\0' && !g_str_has_prefix(split[i], "***"))
				g_ptr_array_add(lines, g_strdup(split[i]));
		}
	}
	if (error_local != NULL) {
		/* a locked or unreadable file is not a damaged one */
		if (!g_error_matches(error_local, VB_ERROR, VB_ERROR_STORE_CORRUPT)) {
			g_propagate_prefixed_error(error, g_steal_pointer(&error_local),
						   "cannot check the store: ");
			return FALSE;
		}
		*problem = g_strdup(sqlite3_errmsg(self->db));
		return TRUE;
	}
	if (lines->len == 1 && g_strcmp0(g_ptr_array_index(lines, 0), "ok") == 0)
		return TRUE;
	g_ptr_array_add(lines, NULL);
	*problem = g_strjoinv("; ", (gchar **)lines->pdata);
	return TRUE;
}

static const gchar *vb_store_companions[] = {"-wal", "-shm", "-journal"};

static gboolean
vb_store_path_exists(const gchar *path)
{
	GStatBuf st;
	return g_lstat(path, &st) == 0;
}

static gchar *
vb_store_quarantine_name(const gchar *path)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree gchar *stamp = g_date_time_format(now, "%Y%m%dT%H%M%S");
	g_autofree gchar *base = g_strdup_printf("%s.corrupt-%s", path, stamp);

	for (guint i = 0;; i++) {
		g_autofree gchar *name =
		    i == 0 ? g_strdup(base) : g_strdup_printf("%s.%u", base, i);
		gboolean taken = vb_store_path_exists(name);
		for (guint j = 0; !taken && j < G_N_ELEMENTS(vb_store_companions); j++) {
			g_autofree gchar *companion =
			    g_strconcat(name, vb_store_companions[j], NULL);
			taken = vb_store_path_exists(companion);
		}
		if (!taken)
			return g_steal_pointer(&name);
	}
}

static gboolean
vb_store_rename(const gchar *from, const gchar *to, GError **error)
{
	if (g_rename(from, to) != 0) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, VB_ERROR_IO,
			    "cannot move %s to %s: %s; move it away by hand before restarting",
			    from, to, g_strerror(errsv));
		return FALSE;
	}
	return TRUE;
}

/* moves the damaged file and its companions aside, keeping the -wal beside its
 * database so that the copy can still be opened for recovery; a failure here is
 * VB_ERROR_IO, not VB_ERROR_STORE_CORRUPT, so that nobody starts a fresh
 * database on top of a leftover -wal */
static gboolean
vb_store_quarantine(VbStore *self, const gchar *path, const gchar *problem, GError **error)
{
	g_autofree gchar *qpath = vb_store_quarantine_name(path);

	if (!vb_store_rename(path, qpath, error))
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(vb_store_companions); i++) {
		g_autofree gchar *from = g_strconcat(path, vb_store_companions[i], NULL);
		g_autofree gchar *to = g_strconcat(qpath, vb_store_companions[i], NULL);
		if (vb_store_path_exists(from) && !vb_store_rename(from, to, error))
			return FALSE;
	}
	g_warning("THE STORE %s FAILED ITS INTEGRITY CHECK (%s): it was moved to %s and "
		  "nothing was deleted; keep that file, it may hold unsettled payments",
		  path, problem, qpath);
	g_set_error(error, VB_ERROR, VB_ERROR_STORE_CORRUPT,
		    "it is damaged (%s) and was moved to %s; a fresh store can be started in "
		    "its place, and the damaged copy should be kept for recovery "
		    "(sqlite3 %s .recover)",
		    problem, qpath, qpath);
	self->quarantined_path = g_steal_pointer(&qpath);
	return TRUE;
}

/*
 * Checkpoints. SQLite's automatic checkpoint runs inside the commit that takes
 * the write-ahead log past 1000 pages, which is as often as not the commit of a
 * shopper's tap, and costs milliseconds. The store checkpoints from an idle
 * source of the main loop instead, between visits. Should the loop never be
 * idle, a commit checkpoints once the log is four times that long, so it stays
 * bounded.
 */
#define VB_STORE_CHECKPOINT_PAGES 1000
#define VB_STORE_CHECKPOINT_FORCE_PAGES (4 * VB_STORE_CHECKPOINT_PAGES)

/* what SQLite's page cache may hold, in KiB (its default is 2000). A visit
 * touches the last pages of about 25 tables and indexes: at 192 KiB (48
 * pages) about 28 of a visit's 270 page reads miss the cache and come from the
 * kernel's page cache instead, a few microseconds each; at 128 KiB, 52 */
#define VB_STORE_CACHE_KIB 192

/* once a checkpoint has copied the whole log into the database, the next
 * write starts the log over, and SQLite syncs the new log's header then,
 * whatever the safety level: a sync in the commit of the next shopper's tap.
 * A write of nothing here starts it over between visits instead */
static void
vb_store_restart_log(VbStore *self)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;

	tx = vb_store_transaction_begin_full(self, VB_STORE_TRANSACTION_FLAG_NO_SYNC, &error);
	/* the store does not use user_version: setting it writes one page */
	if (tx == NULL || !vb_store_exec_cached(self, "PRAGMA user_version = 0", &error) ||
	    !vb_store_transaction_commit(tx, &error))
		g_debug("cannot start the store's log over: %s", error->message);
}

static gboolean
vb_store_checkpoint_idle_cb(gpointer user_data)
{
	VbStore *self = VB_STORE(user_data);
	gint log_frames = 0;
	gint copied_frames = 0;
	gint rc;

	g_clear_pointer(&self->checkpoint, g_source_unref);
	if (self->db == NULL || self->tx != NULL)
		return G_SOURCE_REMOVE;
	rc = sqlite3_wal_checkpoint_v2(self->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
				       &copied_frames);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		g_warning("cannot checkpoint the store %s: %s", self->path, sqlite3_errstr(rc));
	else if (rc == SQLITE_OK && log_frames > 0 && copied_frames == log_frames)
		vb_store_restart_log(self);
	return G_SOURCE_REMOVE;
}

static gint
vb_store_wal_hook(gpointer user_data, sqlite3 *db, const gchar *name, gint pages)
{
	VbStore *self = user_data;

	if (pages >= VB_STORE_CHECKPOINT_FORCE_PAGES) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	} else if (pages >= VB_STORE_CHECKPOINT_PAGES && self->checkpoint == NULL) {
		self->checkpoint = g_idle_source_new();
		g_source_set_priority(self->checkpoint, G_PRIORITY_LOW);
		g_source_set_callback(self->checkpoint, vb_store_checkpoint_idle_cb, self, NULL);
		g_source_set_static_name(self->checkpoint, "vb-store-checkpoint");
		g_source_attach(self->checkpoint, g_main_context_get_thread_default());
	}
	return SQLITE_OK;
}

static gboolean
vb_store_setup_connection(VbStore *self, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	const gchar *mode;

	/* journal_mode answers with the mode in effect, which stays the old one
	 * where WAL is impossible */
	stmt = vb_store_prepare(self, "PRAGMA journal_mode = WAL", error);
	if (stmt == NULL || vb_store_stmt_step(stmt, error) != VB_STORE_STEP_ROW)
		return FALSE;
	mode = vb_store_stmt_column_text(stmt, 0);
	if (g_strcmp0(mode, "wal") != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
			    "the store cannot use write-ahead logging (journal mode is %s); put it "
			    "on a local file system",
			    mode);
		return FALSE;
	}
	if (!vb_store_exec_script(self,
				  "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
				  "PRAGMA secure_delete = ON; PRAGMA cache_size = -" G_STRINGIFY(
				      VB_STORE_CACHE_KIB) ";",
				  error))
		return FALSE;
	sqlite3_wal_hook(self->db, vb_store_wal_hook, self);
	return TRUE;
}

static gboolean
vb_store_open_db(VbStore *self, const gchar *path, guint target_version, GError **error)
{
	g_autofree gchar *problem = NULL;
	gint rc;

	if (!vb_store_create_file(path, error))
		return FALSE;
	rc = sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		vb_store_set_sqlite_error(
		    error, rc, self->db != NULL ? sqlite3_errmsg(self->db) : sqlite3_errstr(rc));
		return FALSE;
	}
	self->path = g_strdup(path);
	sqlite3_extended_result_codes(self->db, 1);
	sqlite3_busy_timeout(self->db, VB_STORE_BUSY_TIMEOUT_MS);

	/* a checkpoint on close would write into a damaged file before it is moved */
	sqlite3_db_config(self->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	if (!vb_store_check_integrity(self, &problem, error))
		return FALSE;
	if (problem != NULL) {
		vb_store_close(self);
		vb_store_quarantine(self, path, problem, error);
		return FALSE;
	}
	sqlite3_db_config(self->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);

	if (!vb_store_setup_connection(self, error))
		return FALSE;
	return vb_store_migrate(self, target_version, error);
}

/**
 * vb_store_open_at_version:
 * @self: a #VbStore
 * @path: the database file
 * @target_version: the schema version to migrate up to, at most
 *   vb_store_schema_version_latest()
 * @error: (nullable): return location for a #GError
 *
 * Opens the store like vb_store_open() but migrates it only up to
 * @target_version, so that tests can build databases of every earlier schema.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
vb_store_open_at_version(VbStore *self, const gchar *path, guint target_version, GError **error)
{
	g_return_val_if_fail(VB_IS_STORE(self), FALSE);
	g_return_val_if_fail(path != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (self->db != NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
			    "the store is already open at %s; close it first", self->path);
		return FALSE;
	}
	if (target_version > vb_store_schema_version_latest()) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "schema version %u does not exist; the latest is %u", target_version,
			    vb_store_schema_version_latest());
		return FALSE;
	}
	g_clear_pointer(&self->quarantined_path, g_free);
	if (!vb_store_open_db(self, path, target_version, error)) {
		vb_store_close(self);
		g_prefix_error(error, "cannot open the store %s: ", path);
		return FALSE;
	}
	return TRUE;
}

/**
 * vb_store_open:
 * @self: a #VbStore
 * @path: the database file
 * @error: (nullable): return location for a #GError
 *
 * Opens the store, creating the file (mode 0600) and its directory (0700)
 * if needed, checks its integrity and migrates it to the latest schema.
 *
 * A damaged file is never deleted: it and its `-wal` and `-shm` files are
 * renamed to `PATH.corrupt-YYYYmmddTHHMMSS` and %VB_ERROR_STORE_CORRUPT is
 * returned; vb_store_get_quarantined_path() then names the copy. A database
 * written by a newer version is refused with %VB_ERROR_NOT_SUPPORTED.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
vb_store_open(VbStore *self, const gchar *path, GError **error)
{
	return vb_store_open_at_version(self, path, vb_store_schema_version_latest(), error);
}

/**
 * vb_store_close:
 * @self: a #VbStore
 *
 * Finalizes every cached statement and closes the database. An open
 * transaction is rolled back. Safe to call on a closed store.
 *
 * Since: 0.1
 */
void
vb_store_close(VbStore *self)
{
	GHashTableIter iter;
	VbStoreStmt *stmt;
	gint rc;

	g_return_if_fail(VB_IS_STORE(self));

	g_hash_table_iter_init(&iter, self->stmts);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&stmt)) {
		if (stmt->borrowed) {
			vb_store_stmt_detach(stmt);
			g_hash_table_iter_steal(&iter);
		}
	}
	g_hash_table_remove_all(self->stmts);
	for (guint i = 0; i < self->uncached->len; i++)
		vb_store_stmt_detach(g_ptr_array_index(self->uncached, i));
	g_ptr_array_set_size(self->uncached, 0);

	if (self->checkpoint != NULL) {
		g_source_destroy(self->checkpoint);
		g_clear_pointer(&self->checkpoint, g_source_unref);
	}
	/* closing rolls back whatever is still open */
	self->tx = NULL;
	if (self->db != NULL) {
		rc = sqlite3_close(self->db);
		if (rc != SQLITE_OK)
			g_warning("cannot close the store %s: %s", self->path, sqlite3_errstr(rc));
		self->db = NULL;
	}
	g_clear_pointer(&self->path, g_free);
	self->schema_version = 0;
}

/**
 * vb_store_get_path:
 * @self: a #VbStore
 *
 * Returns: (nullable): the file of the open store, or %NULL when closed
 *
 * Since: 0.1
 */
const gchar *
vb_store_get_path(VbStore *self)
{
	g_return_val_if_fail(VB_IS_STORE(self), NULL);
	return self->path;
}

/**
 * vb_store_get_schema_version:
 * @self: a #VbStore
 *
 * Returns: the core schema version of the open store, 0 when closed
 *
 * Since: 0.1
 */
guint
vb_store_get_schema_version(VbStore *self)
{
	g_return_val_if_fail(VB_IS_STORE(self), 0);
	return self->schema_version;
}

/**
 * vb_store_get_quarantined_path:
 * @self: a #VbStore
 *
 * Returns: (nullable): where the last failed integrity check moved the
 * damaged file, or %NULL
 *
 * Since: 0.1
 */
const gchar *
vb_store_get_quarantined_path(VbStore *self)
{
	g_return_val_if_fail(VB_IS_STORE(self), NULL);
	return self->quarantined_path;
}

/* vb_store_get_handle: see vb-store-private.h */
struct sqlite3 *
vb_store_get_handle(VbStore *self)
{
	g_return_val_if_fail(VB_IS_STORE(self), NULL);
	return self->db;
}

/* vb_store_sync: see vb-store-private.h */
gboolean
vb_store_sync(VbStore *self, GError **error)
{
	sqlite3_file *log = NULL;
	gint rc;

	g_return_val_if_fail(VB_IS_STORE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!vb_store_check_open(self, error))
		return FALSE;
	rc = sqlite3_file_control(self->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &log);
	if (rc != SQLITE_OK) {
		g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot find the store's log: %s",
			    sqlite3_errstr(rc));
		return FALSE;
	}
	/* no log is open: no commit waits for a sync */
	if (log == NULL || log->pMethods == NULL) {
		self->syncs++;
		return TRUE;
	}
	rc = log->pMethods->xSync(log, SQLITE_SYNC_NORMAL);
	if (rc != SQLITE_OK) {
		g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot sync the store's log: %s",
			    sqlite3_errstr(rc));
		return FALSE;
	}
	self->syncs++;
	return TRUE;
}

/* vb_store_get_syncs: see vb-store-private.h */
guint64
vb_store_get_syncs(VbStore *self)
{
	g_return_val_if_fail(VB_IS_STORE(self), 0);
	return self->syncs;
}

/**
 * vb_store_checkpoint:
 * @self: a #VbStore
 * @error: (nullable): return location for a #GError
 *
 * Copies the write-ahead log into the database and truncates it, with
 * `PRAGMA wal_checkpoint(TRUNCATE)`.
 *
 * Returns: %TRUE if the log was emptied
 *
 * Since: 0.1
 */
gboolean
vb_store_checkpoint(VbStore *self, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	g_return_val_if_fail(VB_IS_STORE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = vb_store_prepare(self, "PRAGMA wal_checkpoint(TRUNCATE)", error);
	if (stmt == NULL || vb_store_stmt_step(stmt, error) != VB_STORE_STEP_ROW) {
		g_prefix_error(error, "cannot checkpoint the store: ");
		return FALSE;
	}
	/* the first column is 1 when another connection kept it from finishing */
	if (vb_store_stmt_column_int64(stmt, 0) != 0) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_IO,
				    "cannot checkpoint the store: another connection is using it; "
				    "retry later");
		return FALSE;
	}
	return TRUE;
}

/* namespaces */

static gboolean
vb_store_namespace_is_valid(const gchar *ns)
{
	gsize len;

	if (ns == NULL || !g_ascii_islower(ns[0]))
		return FALSE;
	len = strlen(ns);
	if (len > 32)
		return FALSE;
	for (gsize i = 1; i < len; i++) {
		if (!g_ascii_islower(ns[i]) && !g_ascii_isdigit(ns[i]) && ns[i] != '_')
			return FALSE;
	}
	return TRUE;
}

/**
 * vb_store_namespace_table:
 * @ns: a namespace, as given to vb_store_ensure_namespace()
 * @table: a table name inside it
 *
 * Gives the full name of a namespaced table: `p_<ns>_<table>`, which is what
 * `@ns@<table>` becomes in namespace migrations.
 *
 * Returns: (transfer full): the table name
 *
 * Since: 0.1
 */
gchar *
vb_store_namespace_table(const gchar *ns, const gchar *table)
{
	g_return_val_if_fail(vb_store_namespace_is_valid(ns), NULL);
	g_return_val_if_fail(table != NULL, NULL);
	return g_strconcat("p_", ns, "_", table, NULL);
}

/* refuses what would break the step's transaction or reach beyond the database */
static gint
vb_store_namespace_authorizer(gpointer user_data,
			      gint action,
			      const gchar *arg1,
			      const gchar *arg2,
			      const gchar *db_name,
			      const gchar *trigger)
{
	VbStore *self = user_data;

	switch (action) {
	case SQLITE_TRANSACTION:
	case SQLITE_ATTACH:
	case SQLITE_DETACH:
	case SQLITE_PRAGMA:
		self->denied_in_step = TRUE;
		return SQLITE_DENY;
	default:
		return SQLITE_OK;
	}
}

static gboolean
vb_store_namespace_get_version(VbStore *self, const gchar *ns, guint *version, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	stmt = vb_store_prepare(self, "SELECT version FROM namespaces WHERE ns = ?1", error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, ns);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return FALSE;
	*version = step == VB_STORE_STEP_ROW ? (guint)vb_store_stmt_column_int64(stmt, 0) : 0;
	return TRUE;
}

/* name -> "tbl_name\ntype\nsql": tbl_name comes first so that a prefix test on
 * the value checks the table an index or trigger hangs on, and a changed sql
 * shows an ALTER of an existing object */
static GHashTable *
vb_store_schema_snapshot(VbStore *self, GError **error)
{
	g_autoptr(GHashTable) objects =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	stmt = vb_store_prepare(self,
				"SELECT name, tbl_name || char(10) || type || char(10) || "
				"COALESCE(sql, '') FROM sqlite_master "
				"WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
				error);
	if (stmt == NULL)
		return NULL;
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		g_hash_table_insert(objects, g_strdup(vb_store_stmt_column_text(stmt, 0)),
				    g_strdup(vb_store_stmt_column_text(stmt, 1)));
	}
	if (step == VB_STORE_STEP_ERROR)
		return NULL;
	return g_steal_pointer(&objects);
}

/* prefixes of other namespaces that start with ours: with "sim" and
 * "sim_payment", p_sim_payment_holds belongs to sim_payment only */
static GPtrArray *
vb_store_namespace_nested_prefixes(VbStore *self, const gchar *prefix, GError **error)
{
	g_autoptr(GPtrArray) prefixes = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	stmt = vb_store_prepare(self, "SELECT ns FROM namespaces", error);
	if (stmt == NULL)
		return NULL;
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		g_autofree gchar *other =
		    g_strconcat("p_", vb_store_stmt_column_text(stmt, 0), "_", NULL);
		if (g_str_has_prefix(other, prefix) && g_strcmp0(other, prefix) != 0)
			g_ptr_array_add(prefixes, g_steal_pointer(&other));
	}
	if (step == VB_STORE_STEP_ERROR)
		return NULL;
	return g_steal_pointer(&prefixes);
}

static gboolean
vb_store_namespace_owns(const gchar *prefix, GPtrArray *nested, const gchar *name, const gchar *row)
{
	if (!g_str_has_prefix(name, prefix) || !g_str_has_prefix(row, prefix))
		return FALSE;
	for (guint i = 0; i < nested->len; i++) {
		const gchar *other = g_ptr_array_index(nested, i);
		if (g_str_has_prefix(name, other) || g_str_has_prefix(row, other))
			return FALSE;
	}
	return TRUE;
}

static gboolean
vb_store_namespace_check_objects(VbStore *self,
				 const gchar *prefix,
				 GHashTable *before,
				 GHashTable *after,
				 GError **error)
{
	GHashTableIter iter;
	const gchar *name;
	const gchar *row;
	g_autoptr(GPtrArray) nested = vb_store_namespace_nested_prefixes(self, prefix, error);

	if (nested == NULL)
		return FALSE;
	g_hash_table_iter_init(&iter, after);
	while (g_hash_table_iter_next(&iter, (gpointer *)&name, (gpointer *)&row)) {
		if (g_strcmp0(g_hash_table_lookup(before, name), row) == 0)
			continue;
		if (!vb_store_namespace_owns(prefix, nested, name, row)) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "the step created or changed %s, which is outside the "
				    "namespace; name every object @ns@something and build "
				    "indexes and triggers only on the namespace's own tables",
				    name);
			return FALSE;
		}
	}
	g_hash_table_iter_init(&iter, before);
	while (g_hash_table_iter_next(&iter, (gpointer *)&name, (gpointer *)&row)) {
		if (g_hash_table_contains(after, name))
			continue;
		if (!vb_store_namespace_owns(prefix, nested, name, row)) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "the step dropped %s, which is outside the namespace", name);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
vb_store_namespace_step(VbStore *self,
			const gchar *ns,
			const gchar *prefix,
			guint version,
			const gchar *sql,
			GError **error)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GHashTable) before = NULL;
	g_autoptr(GHashTable) after = NULL;
	g_autoptr(GString) step_sql = g_string_new(sql);
	g_autoptr(VbStoreStmt) stmt = NULL;
	gboolean ok;

	g_string_replace(step_sql, "@ns@", prefix, 0);
	tx = vb_store_transaction_begin(self, error);
	if (tx == NULL)
		return FALSE;
	before = vb_store_schema_snapshot(self, error);
	if (before == NULL)
		return FALSE;

	self->denied_in_step = FALSE;
	sqlite3_set_authorizer(self->db, vb_store_namespace_authorizer, self);
	ok = vb_store_exec_script(self, step_sql->str, error);
	sqlite3_set_authorizer(self->db, NULL, NULL);
	if (!ok) {
		if (self->denied_in_step) {
			g_clear_error(error);
			g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
					    "BEGIN, COMMIT, ROLLBACK, ATTACH, DETACH and PRAGMA "
					    "are not allowed in a namespace migration");
		}
		return FALSE;
	}

	after = vb_store_schema_snapshot(self, error);
	if (after == NULL)
		return FALSE;
	if (!vb_store_namespace_check_objects(self, prefix, before, after, error))
		return FALSE;
	stmt = vb_store_prepare(self,
				"INSERT INTO namespaces (ns, version) VALUES (?1, ?2) "
				"ON CONFLICT (ns) DO UPDATE SET version = excluded.version",
				error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, ns);
	vb_store_stmt_bind_int64(stmt, 2, version);
	if (!vb_store_stmt_exec(stmt, error))
		return FALSE;
	return vb_store_transaction_commit(tx, error);
}

/**
 * vb_store_ensure_namespace:
 * @self: a #VbStore
 * @ns: the namespace, matching `[a-z][a-z0-9_]{0,31}`, usually the plugin name
 * @migrations: (array zero-terminated=1) (nullable): one SQL script per
 *   version: step i brings the namespace to version i + 1
 * @error: (nullable): return location for a #GError
 *
 * Brings a plugin's own tables up to date. In each script, `@ns@` stands for
 * the namespace prefix `p_<ns>_`, so `CREATE TABLE @ns@holds (…)` creates
 * `p_sim_payment_holds` for the namespace `sim_payment`.
 *
 * Each step runs in its own transaction together with the version bump. A
 * step that creates, changes or drops an object outside the namespace, or
 * that uses `BEGIN`, `COMMIT`, `ATTACH` or `PRAGMA`, is rolled back with
 * %VB_ERROR_INVALID_DATA. A namespace already newer than @migrations is
 * refused with %VB_ERROR_NOT_SUPPORTED.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
vb_store_ensure_namespace(VbStore *self,
			  const gchar *ns,
			  const gchar *const *migrations,
			  GError **error)
{
	guint n_steps = migrations != NULL ? g_strv_length((gchar **)migrations) : 0;
	guint version = 0;
	g_autofree gchar *prefix = NULL;

	g_return_val_if_fail(VB_IS_STORE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!vb_store_namespace_is_valid(ns)) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "invalid store namespace '%s': it must match [a-z][a-z0-9_]{0,31}",
			    ns != NULL ? ns : "(null)");
		return FALSE;
	}
	if (!vb_store_check_open(self, error))
		return FALSE;
	if (!vb_store_namespace_get_version(self, ns, &version, error)) {
		g_prefix_error(error, "cannot read the version of namespace %s: ", ns);
		return FALSE;
	}
	if (version > n_steps) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
			    "the store namespace %s has version %u but the plugin only knows up "
			    "to %u; it was written by a newer plugin: install that version again",
			    ns, version, n_steps);
		return FALSE;
	}
	prefix = g_strconcat("p_", ns, "_", NULL);
	for (guint i = version; i < n_steps; i++) {
		if (!vb_store_namespace_step(self, ns, prefix, i + 1, migrations[i], error)) {
			g_prefix_error(
			    error, "cannot migrate store namespace %s to version %u: ", ns, i + 1);
			return FALSE;
		}
	}
	return TRUE;
}

/* audit log, tokens and visits */

static const gchar *
vb_store_column_text_or_empty(VbStoreStmt *stmt, gint col)
{
	const gchar *text = vb_store_stmt_column_text(stmt, col);
	return text != NULL ? text : "";
}

/**
 * vb_store_audit_append:
 * @self: a #VbStore
 * @event: the event to record
 * @payload_json: (nullable): its payload, already redacted by the caller
 * @error: (nullable): return location for a #GError
 *
 * Appends one row to the audit log.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
vb_store_audit_append(VbStore *self, VbEvent *event, const gchar *payload_json, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	g_return_val_if_fail(VB_IS_STORE(self), FALSE);
	g_return_val_if_fail(event != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = vb_store_prepare(self,
				"INSERT INTO audit (name, source, door, mono, real, payload) "
				"VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
				error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot append to the audit log: ");
		return FALSE;
	}
	vb_store_stmt_bind_text(stmt, 1, vb_event_get_name(event));
	vb_store_stmt_bind_text(stmt, 2, vb_event_get_source(event));
	vb_store_stmt_bind_text(stmt, 3, vb_event_get_door(event));
	vb_store_stmt_bind_int64(stmt, 4, vb_event_get_monotonic_time(event));
	vb_store_stmt_bind_int64(stmt, 5, vb_event_get_real_time(event));
	vb_store_stmt_bind_text(stmt, 6, payload_json);
	if (!vb_store_stmt_exec(stmt, error)) {
		g_prefix_error(error, "cannot append to the audit log: ");
		return FALSE;
	}
	return TRUE;
}

/**
 * vb_store_audit_list:
 * @self: a #VbStore
 * @after_seq: only rows with a larger sequence number
 * @limit: the most rows to return, 0 for all
 * @error: (nullable): return location for a #GError
 *
 * Lists the newest audit rows, newest first. Each is a `a{sv}` with `seq`
 * (t), `name`, `source`, `door`, `payload` (s), `mono` and `real` (x);
 * missing texts are empty strings.
 *
 * Returns: (transfer container) (element-type GVariant): the rows, or %NULL
 * on error
 *
 * Since: 0.1
 */
GPtrArray *
vb_store_audit_list(VbStore *self, guint64 after_seq, guint limit, GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	stmt = vb_store_prepare(self,
				"SELECT seq, name, source, door, mono, real, payload FROM audit "
				"WHERE seq > ?1 ORDER BY seq DESC LIMIT ?2",
				error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot list the audit log: ");
		return NULL;
	}
	vb_store_stmt_bind_int64(stmt, 1, (gint64)MIN(after_seq, (guint64)G_MAXINT64));
	vb_store_stmt_bind_int64(stmt, 2, limit > 0 ? (gint64)limit : -1);
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		GVariantBuilder builder;
		g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
		g_variant_builder_add(&builder, "{sv}", "seq",
				      g_variant_new_uint64(vb_store_stmt_column_int64(stmt, 0)));
		g_variant_builder_add(&builder, "{sv}", "name",
				      g_variant_new_string(vb_store_column_text_or_empty(stmt, 1)));
		g_variant_builder_add(&builder, "{sv}", "source",
				      g_variant_new_string(vb_store_column_text_or_empty(stmt, 2)));
		g_variant_builder_add(&builder, "{sv}", "door",
				      g_variant_new_string(vb_store_column_text_or_empty(stmt, 3)));
		g_variant_builder_add(&builder, "{sv}", "mono",
				      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 4)));
		g_variant_builder_add(&builder, "{sv}", "real",
				      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 5)));
		g_variant_builder_add(&builder, "{sv}", "payload",
				      g_variant_new_string(vb_store_column_text_or_empty(stmt, 6)));
		g_ptr_array_add(rows, g_variant_ref_sink(g_variant_builder_end(&builder)));
	}
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, "cannot list the audit log: ");
		return NULL;
	}
	return g_steal_pointer(&rows);
}

/* deletes the audit rows written before @before_real (µs since the epoch). Rows
 * are in time order by seq, so the first row to keep is found by walking from
 * the oldest: the cost is that of the rows deleted, with no index on time */
gint64
vb_store_audit_prune(VbStore *self, gint64 before_real, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	g_return_val_if_fail(VB_IS_STORE(self), -1);
	g_return_val_if_fail(error == NULL || *error == NULL, -1);

	stmt = vb_store_prepare(self,
				"DELETE FROM audit WHERE seq < coalesce("
				"(SELECT seq FROM audit WHERE real >= ?1 ORDER BY seq LIMIT 1), "
				"(SELECT max(seq) + 1 FROM audit))",
				error);
	if (stmt != NULL)
		vb_store_stmt_bind_int64(stmt, 1, before_real);
	if (stmt == NULL || !vb_store_stmt_exec(stmt, error)) {
		g_prefix_error(error, "cannot prune the audit log: ");
		return -1;
	}
	return vb_store_changes(self);
}

static gchar *
vb_store_token_hash_normalize(const gchar *token_hash_hex, GError **error)
{
	gsize len = token_hash_hex != NULL ? strlen(token_hash_hex) : 0;

	for (gsize i = 0; len == 64 && i < len; i++) {
		if (!g_ascii_isxdigit(token_hash_hex[i]))
			len = 0;
	}
	if (len != 64) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "a token hash must be a SHA-256 in 64 hexadecimal digits");
		return NULL;
	}
	return g_ascii_strdown(token_hash_hex, -1);
}

/**
 * vb_store_token_add:
 * @self: a #VbStore
 * @name: a unique name for the token
 * @scope: what the token may do
 * @token_hash_hex: the SHA-256 of the token, in hexadecimal; the token
 *   itself is never stored
 * @error: (nullable): return location for a #GError
 *
 * Records an API token. A name or hash already in use is
 * %VB_ERROR_CONFLICT.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
vb_store_token_add(VbStore *self,
		   const gchar *name,
		   const gchar *scope,
		   const gchar *token_hash_hex,
		   GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *hash = NULL;

	g_return_val_if_fail(VB_IS_STORE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (name == NULL || name[0] == '\0' || scope == NULL || scope[0] == '\0') {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "cannot add a token: it needs a name and a scope");
		return FALSE;
	}
	hash = vb_store_token_hash_normalize(token_hash_hex, error);
	if (hash == NULL) {
		g_prefix_error(error, "cannot add token %s: ", name);
		return FALSE;
	}
	stmt = vb_store_prepare(self,
				"INSERT INTO api_tokens (name, scope, hash, created) "
				"VALUES (?1, ?2, ?3, ?4)",
				error);
	if (stmt != NULL) {
		vb_store_stmt_bind_text(stmt, 1, name);
		vb_store_stmt_bind_text(stmt, 2, scope);
		vb_store_stmt_bind_text(stmt, 3, hash);
		vb_store_stmt_bind_int64(stmt, 4, g_get_real_time());
	}
	if (stmt == NULL || !vb_store_stmt_exec(stmt, error)) {
		g_prefix_error(error, "cannot add token %s: ", name);
		return FALSE;
	}
	return TRUE;
}

/**
 * vb_store_token_lookup:
 * @self: a #VbStore
 * @token_hash_hex: the SHA-256 of the token presented, in hexadecimal
 * @scope: the scope the request needs
 * @error: (nullable): return location for a #GError
 *
 * Returns: (transfer full) (nullable): the token's name if it exists with
 * @scope, else %NULL without an error
 *
 * Since: 0.1
 */
gchar *
vb_store_token_lookup(VbStore *self,
		      const gchar *token_hash_hex,
		      const gchar *scope,
		      GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *hash = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_STORE(self), NULL);
	g_return_val_if_fail(token_hash_hex != NULL, NULL);
	g_return_val_if_fail(scope != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	hash = g_ascii_strdown(token_hash_hex, -1);
	stmt = vb_store_prepare(self, "SELECT name FROM api_tokens WHERE hash = ?1 AND scope = ?2",
				error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot look up a token: ");
		return NULL;
	}
	vb_store_stmt_bind_text(stmt, 1, hash);
	vb_store_stmt_bind_text(stmt, 2, scope);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, "cannot look up a token: ");
		return NULL;
	}
	if (step == VB_STORE_STEP_DONE)
		return NULL;
	return g_strdup(vb_store_stmt_column_text(stmt, 0));
}

/**
 * vb_store_token_remove:
 * @self: a #VbStore
 * @name: the token's name
 * @error: (nullable): return location for a #GError
 *
 * Removes an API token; an unknown name is %VB_ERROR_NOT_FOUND.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
vb_store_token_remove(VbStore *self, const gchar *name, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	g_return_val_if_fail(VB_IS_STORE(self), FALSE);
	g_return_val_if_fail(name != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = vb_store_prepare(self, "DELETE FROM api_tokens WHERE name = ?1", error);
	if (stmt != NULL)
		vb_store_stmt_bind_text(stmt, 1, name);
	if (stmt == NULL || !vb_store_stmt_exec(stmt, error)) {
		g_prefix_error(error, "cannot remove token %s: ", name);
		return FALSE;
	}
	if (vb_store_changes(self) == 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    "there is no token named %s; list them with `vestibulectl tokens`",
			    name);
		return FALSE;
	}
	return TRUE;
}

/**
 * vb_store_token_list:
 * @self: a #VbStore
 * @error: (nullable): return location for a #GError
 *
 * Lists the API tokens by name, each an `a{sv}` with `name`, `scope` (s) and
 * `created` (x, unix µs). Hashes are not listed.
 *
 * Returns: (transfer container) (element-type GVariant): the tokens, or %NULL
 * on error
 *
 * Since: 0.1
 */
GPtrArray *
vb_store_token_list(VbStore *self, GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	stmt = vb_store_prepare(self, "SELECT name, scope, created FROM api_tokens ORDER BY name",
				error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot list tokens: ");
		return NULL;
	}
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		GVariantBuilder builder;
		g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
		g_variant_builder_add(&builder, "{sv}", "name",
				      g_variant_new_string(vb_store_column_text_or_empty(stmt, 0)));
		g_variant_builder_add(&builder, "{sv}", "scope",
				      g_variant_new_string(vb_store_column_text_or_empty(stmt, 1)));
		g_variant_builder_add(&builder, "{sv}", "created",
				      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 2)));
		g_ptr_array_add(rows, g_variant_ref_sink(g_variant_builder_end(&builder)));
	}
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, "cannot list tokens: ");
		return NULL;
	}
	return g_steal_pointer(&rows);
}

/**
 * vb_store_visit_list:
 * @self: a #VbStore
 * @limit: the most visits to return, 0 for all
 * @error: (nullable): return location for a #GError
 *
 * Lists visits, newest first, each an `a{sv}` with `id`, `door`, `state`,
 * `first6`, `last4` (s, empty when unknown), `created` and `updated` (x,
 * unix µs). The card token is not listed.
 *
 * Returns: (transfer container) (element-type GVariant): the visits, or %NULL
 * on error
 *
 * Since: 0.1
 */
GPtrArray *
vb_store_visit_list(VbStore *self, guint limit, GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;
	const gchar *keys[] = {"id", "door", "state", "first6", "last4"};

	g_return_val_if_fail(VB_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	stmt =
	    vb_store_prepare(self,
			     "SELECT id, door, state, first6, last4, created, updated FROM visits "
			     "ORDER BY created DESC, rowid DESC LIMIT ?1",
			     error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot list visits: ");
		return NULL;
	}
	vb_store_stmt_bind_int64(stmt, 1, limit > 0 ? (gint64)limit : -1);
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		GVariantBuilder builder;
		g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
		for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
			const gchar *text = vb_store_column_text_or_empty(stmt, i);
			g_variant_builder_add(&builder, "{sv}", keys[i],
					      g_variant_new_string(text));
		}
		g_variant_builder_add(&builder, "{sv}", "created",
				      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 5)));
		g_variant_builder_add(&builder, "{sv}", "updated",
				      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 6)));
		g_ptr_array_add(rows, g_variant_ref_sink(g_variant_builder_end(&builder)));
	}
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, "cannot list visits: ");
		return NULL;
	}
	return g_steal_pointer(&rows);
}

static void
vb_store_dispose(GObject *object)
{
	VbStore *self = VB_STORE(object);
	vb_store_close(self);
	G_OBJECT_CLASS(vb_store_parent_class)->dispose(object);
}

static void
vb_store_finalize(GObject *object)
{
	VbStore *self = VB_STORE(object);
	g_free(self->quarantined_path);
	g_hash_table_unref(self->stmts);
	g_hash_table_unref(self->seen);
	g_ptr_array_unref(self->uncached);
	G_OBJECT_CLASS(vb_store_parent_class)->finalize(object);
}

static void
vb_store_class_init(VbStoreClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	gint rc;

	/* SQLite allocates the first pages of every page cache in one block,
	 * temporary tables' included; the store's caches grow a page at a time
	 * instead, so they hold the pages they use and no more. This is
	 * process-wide and must come before SQLite starts: where something else
	 * started it first, the default stays */
	rc = sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
	if (rc != SQLITE_OK)
		g_debug("SQLite keeps its page cache settings: %s", sqlite3_errstr(rc));
	object_class->dispose = vb_store_dispose;
	object_class->finalize = vb_store_finalize;
}

static void
vb_store_init(VbStore *self)
{
	self->stmts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					    (GDestroyNotify)vb_store_stmt_destroy);
	self->uncached = g_ptr_array_new();
	self->seen = g_hash_table_new(NULL, NULL);
}

/**
 * vb_store_new:
 *
 * Returns: (transfer full): a closed #VbStore; open it with vb_store_open()
 *
 * Since: 0.1
 */
VbStore *
vb_store_new(void)
{
	return g_object_new(VB_TYPE_STORE, NULL);
}
