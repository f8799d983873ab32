/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* prepared statements: the cache of compiled statements, binding, stepping
 * and reading columns */

#include "config.h"

#include <string.h>

#include "vb-error.h"
#include "vb-store-internal.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

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
void
vb_store_stmt_destroy(VbStoreStmt *stmt)
{
	if (stmt->stmt != NULL)
		sqlite3_finalize(stmt->stmt);
	g_free(stmt->sql);
	g_free(stmt);
}

/* the borrower still holds @stmt: finalize the SQLite side now so that the
 * database can close, and leave the husk for vb_store_stmt_free() */
void
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
	/* damage met in use is treated as damage found by the check: nothing
	 * more is written, and so no door opens, until a restart moves it aside */
	if ((rc & 0xff) == SQLITE_CORRUPT && stmt->store != NULL)
		vb_store_set_damaged(stmt->store, sqlite3_errmsg(sqlite3_db_handle(stmt->stmt)));
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
	if (stmt->store != NULL && stmt->stmt != NULL)
		stmt->store->vm_steps +=
		    (guint64)sqlite3_stmt_status(stmt->stmt, SQLITE_STMTSTATUS_VM_STEP, 1);
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

gboolean
vb_store_exec_cached(VbStore *self, const gchar *sql, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(self, sql, error);
	if (stmt == NULL)
		return FALSE;
	return vb_store_stmt_exec(stmt, error);
}
