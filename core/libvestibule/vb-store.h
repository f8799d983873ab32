/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define VB_TYPE_STORE (vb_store_get_type())
G_DECLARE_FINAL_TYPE(VbStore, vb_store, VB, STORE, GObject)

/**
 * VbStoreStmt:
 *
 * A prepared statement borrowed from the store's statement cache. Free it
 * with vb_store_stmt_free() (or let `g_autoptr` do it): that resets it and
 * gives it back to the cache.
 *
 * Since: 0.1
 */
typedef struct _VbStoreStmt VbStoreStmt;

/**
 * VbStoreTransaction:
 *
 * An open `BEGIN IMMEDIATE` transaction. Freeing it without a successful
 * vb_store_transaction_commit() rolls it back.
 *
 * Since: 0.1
 */
typedef struct _VbStoreTransaction VbStoreTransaction;

/**
 * VbStoreStep:
 * @VB_STORE_STEP_ERROR: the step failed and the error is set
 * @VB_STORE_STEP_ROW: a row is available
 * @VB_STORE_STEP_DONE: there are no more rows
 *
 * The outcome of vb_store_stmt_step().
 *
 * Since: 0.1
 */
typedef enum {
	VB_STORE_STEP_ERROR = -1,
	VB_STORE_STEP_DONE = 0,
	VB_STORE_STEP_ROW = 1,
} VbStoreStep;

VbStoreStmt *
vb_store_prepare(VbStore *self, const gchar *sql, GError **error);
void
vb_store_stmt_bind_text(VbStoreStmt *stmt, gint idx, const gchar *value);
void
vb_store_stmt_bind_int64(VbStoreStmt *stmt, gint idx, gint64 value);
void
vb_store_stmt_bind_blob(VbStoreStmt *stmt, gint idx, GBytes *value);
void
vb_store_stmt_bind_null(VbStoreStmt *stmt, gint idx);
VbStoreStep
vb_store_stmt_step(VbStoreStmt *stmt, GError **error);
gboolean
vb_store_stmt_exec(VbStoreStmt *stmt, GError **error);
const gchar *
vb_store_stmt_column_text(VbStoreStmt *stmt, gint col);
gint64
vb_store_stmt_column_int64(VbStoreStmt *stmt, gint col);
GBytes *
vb_store_stmt_column_blob(VbStoreStmt *stmt, gint col);
gboolean
vb_store_stmt_column_is_null(VbStoreStmt *stmt, gint col);
void
vb_store_stmt_free(VbStoreStmt *stmt);
gint64
vb_store_last_insert_rowid(VbStore *self);
gint
vb_store_changes(VbStore *self);
gboolean
vb_store_in_transaction(VbStore *self);

/**
 * VbStoreTransactionFlags:
 * @VB_STORE_TRANSACTION_FLAG_NONE: the commit is on disk when it returns
 * @VB_STORE_TRANSACTION_FLAG_NO_SYNC: the commit is not synced to disk; see
 *   vb_store_transaction_begin_full()
 *
 * How a transaction commits.
 *
 * Since: 0.2
 */
typedef enum {
	VB_STORE_TRANSACTION_FLAG_NONE = 0,
	VB_STORE_TRANSACTION_FLAG_NO_SYNC = 1 << 0,
} VbStoreTransactionFlags;

VbStoreTransaction *
vb_store_transaction_begin(VbStore *self, GError **error);
VbStoreTransaction *
vb_store_transaction_begin_full(VbStore *self, VbStoreTransactionFlags flags, GError **error);
gboolean
vb_store_transaction_commit(VbStoreTransaction *tx, GError **error);
void
vb_store_transaction_free(VbStoreTransaction *tx);

gboolean
vb_store_ensure_namespace(VbStore *self,
			  const gchar *ns,
			  const gchar *const *migrations,
			  GError **error);
gchar *
vb_store_namespace_table(const gchar *ns, const gchar *table);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbStoreStmt, vb_store_stmt_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbStoreTransaction, vb_store_transaction_free)

G_END_DECLS
