/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "vb-event.h"
#include "vb-store.h"

G_BEGIN_DECLS

/* the newest core schema version; each step has one migration function */
G_GNUC_INTERNAL guint
vb_store_schema_version_latest(void);

VbStore *
vb_store_new(void);
/* opens (creating if needed) and migrates; on a failed integrity check the file
 * and its -wal/-shm are renamed to PATH.corrupt-YYYYmmddTHHMMSS and
 * VB_ERROR_STORE_CORRUPT is returned: the caller decides whether to start anew */
gboolean
vb_store_open(VbStore *self, const gchar *path, GError **error);
/* opens an existing database and migrates it up to @target_version only; for tests */
G_GNUC_INTERNAL gboolean
vb_store_open_at_version(VbStore *self, const gchar *path, guint target_version, GError **error);
void
vb_store_close(VbStore *self);
const gchar *
vb_store_get_path(VbStore *self);
guint
vb_store_get_schema_version(VbStore *self);
/* the file that the last failed integrity check moved aside, or NULL */
const gchar *
vb_store_get_quarantined_path(VbStore *self);
gboolean
vb_store_checkpoint(VbStore *self, GError **error);
/* makes every commit so far durable by syncing the write-ahead log, which a
 * VB_STORE_TRANSACTION_FLAG_NO_SYNC commit leaves in the page cache: for a
 * record whose durability may follow its effect by one sync, and no more */
gboolean
vb_store_sync(VbStore *self, GError **error);
/* how many syncs of the write-ahead log are known to have succeeded: by
 * vb_store_sync() or by a synced commit that wrote rows. A commit made while
 * this read N is on disk once it reads more than N */
guint64
vb_store_get_syncs(VbStore *self);
/* how many virtual machine steps the statements given back with
 * vb_store_stmt_free() took: the work of a query, whatever the page cache
 * holds, for tests that check that work stays bounded as the store grows */
guint64
vb_store_get_vm_steps(VbStore *self);
/* TRUE when the last vb_store_open() found the store not closed cleanly
 * (PATH.running left behind, or a -wal with frames) and so checked its
 * integrity first; @check_us, if given, is how long that took */
gboolean
vb_store_get_unclean(VbStore *self, gint64 *check_us);
/* what the integrity check found while the store is open, or NULL. A damaged
 * store refuses write transactions (VB_ERROR_STORE_CORRUPT), so that no visit
 * goes on, and keeps PATH.running, so that the next start checks it and moves
 * it aside */
const gchar *
vb_store_get_damage(VbStore *self);
void
vb_store_set_damaged(VbStore *self, const gchar *problem);
/* PRAGMA quick_check on a read-only connection of its own, in a worker thread;
 * the main loop goes on writing meanwhile. Finishing with damage found sets
 * *problem and marks the store damaged (vb_store_set_damaged); FALSE with
 * @error only when the check could not run */
void
vb_store_check_integrity_async(VbStore *self,
			       GCancellable *cancellable,
			       GAsyncReadyCallback callback,
			       gpointer user_data);
gboolean
vb_store_check_integrity_finish(VbStore *self,
				GAsyncResult *result,
				gchar **problem,
				gint64 *duration_us,
				GError **error);
typedef struct {
	gint64 page_size;
	gint64 page_count;
	gint64 freelist_count; /* pages free inside the file */
	gboolean incremental;  /* auto_vacuum=INCREMENTAL: free pages can be given back */
} VbStorePages;
gboolean
vb_store_get_pages(VbStore *self, VbStorePages *pages, GError **error);
/* gives up to @max_pages free pages back to the file system, in one short
 * transaction; the number given back, 0 when the file cannot (no incremental
 * auto_vacuum), -1 on error */
gint64
vb_store_incremental_vacuum(VbStore *self, guint max_pages, GError **error);

/* the SQLite connection, for the tests that read its statements' counters */
struct sqlite3;
struct sqlite3 *
vb_store_get_handle(VbStore *self);

/* bearer tokens for the public HTTP API, stored as SHA-256 hashes */
G_GNUC_INTERNAL gboolean
vb_store_token_add(VbStore *self,
		   const gchar *name,
		   const gchar *scope,
		   const gchar *token_hash_hex,
		   GError **error);
/* returns the token's name if @token_hash_hex exists with @scope, else NULL */
G_GNUC_INTERNAL gchar *
vb_store_token_lookup(VbStore *self,
		      const gchar *token_hash_hex,
		      const gchar *scope,
		      GError **error);
gboolean
vb_store_token_remove(VbStore *self, const gchar *name, GError **error);
/* array of GVariant a{sv}: name, scope, created */
GPtrArray *
vb_store_token_list(VbStore *self, GError **error);

/* runs @func(@data) once the open transaction has committed, in the order
 * given, or at once outside a transaction; a rollback drops it. What others
 * learn of a change (a bus event) must not come before the change is stored */
typedef void (*VbStoreCommitFunc)(gpointer data);
void
vb_store_after_commit(VbStore *self, VbStoreCommitFunc func, gpointer data, GDestroyNotify destroy);

G_END_DECLS
