/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* what the vb-store*.c files of the SDK share: the store's fields and the
 * helpers one file defines and another calls. Only they include it; nothing
 * here is exported */

#pragma once

#include <sqlite3.h>

#include "vb-store-private.h"

G_BEGIN_DECLS

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
	guint64 vm_steps;	 /* of the statements given back so far */
	gboolean unclean;	 /* the last open found an unclean shutdown, and checked */
	gint64 open_check_us;	 /* how long that check took */
	gchar *damage;		 /* what the check found, while the damaged store is open */
	gint marker_fd;		 /* PATH.running, locked while the store is open; -1 */
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

G_GNUC_INTERNAL void
vb_store_set_sqlite_error(GError **error, gint rc, const gchar *msg);
/* VB_ERROR_FAILED when the store is not open */
G_GNUC_INTERNAL gboolean
vb_store_check_open(VbStore *self, GError **error);
G_GNUC_INTERNAL gboolean
vb_store_exec_script(VbStore *self, const gchar *sql, GError **error);
/* runs one statement through the cache of prepared statements */
G_GNUC_INTERNAL gboolean
vb_store_exec_cached(VbStore *self, const gchar *sql, GError **error);
G_GNUC_INTERNAL void
vb_store_stmt_destroy(VbStoreStmt *stmt);
G_GNUC_INTERNAL void
vb_store_stmt_detach(VbStoreStmt *stmt);
/* migrates the core schema to @target_version, one step per transaction */
G_GNUC_INTERNAL gboolean
vb_store_migrate(VbStore *self, guint target_version, GError **error);

G_END_DECLS
