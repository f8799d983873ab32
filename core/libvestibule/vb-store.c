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
 * - the integrity check reads the whole file, seconds for a gigabyte, so it
 *   runs at open only after an unclean shutdown: PATH.running exists from open
 *   to a clean close, and a crash or a power cut leaves it (or a -wal with
 *   frames) behind. Otherwise the daemon checks on a schedule, on its own
 *   read-only connection in a worker thread (vb_store_check_integrity_async)
 * - a store found damaged while open refuses every write transaction, so that
 *   no visit, and no door, goes on from it; it keeps its PATH.running, so the
 *   next start checks it again and moves it aside
 * - new files use auto_vacuum=INCREMENTAL, so that the pages retention frees
 *   go back to the file system (vb_store_incremental_vacuum)
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vb-error.h"
#include "vb-store-internal.h"

#define VB_STORE_BUSY_TIMEOUT_MS 5000

G_DEFINE_FINAL_TYPE(VbStore, vb_store, G_TYPE_OBJECT)

void
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

gboolean
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
gboolean
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

/* sets *problem when the file is damaged; FALSE only when the check could not
 * run. Plain SQLite calls, so that the worker thread's connection can use it */
static gboolean
vb_store_run_quick_check(sqlite3 *db, gchar **problem, GError **error)
{
	g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
	sqlite3_stmt *stmt = NULL;
	gint rc;

	/* a few findings are enough for the log; the copy keeps the rest */
	rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(3)", -1, &stmt, NULL);
	while (stmt != NULL && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const gchar *text = (const gchar *)sqlite3_column_text(stmt, 0);
		g_auto(GStrv) split = g_strsplit(text != NULL ? text : "", "\n", -1);
		for (guint i = 0; split[i] != NULL; i++) {
			if (split[i][0] != '\0' && !g_str_has_prefix(split[i], "***"))
				g_ptr_array_add(lines, g_strdup(split[i]));
		}
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		/* a locked or unreadable file is not a damaged one */
		if ((rc & 0xff) != SQLITE_CORRUPT && (rc & 0xff) != SQLITE_NOTADB) {
			vb_store_set_sqlite_error(error, rc, sqlite3_errmsg(db));
			g_prefix_error(error, "cannot check the store: ");
			return FALSE;
		}
		*problem = g_strdup(sqlite3_errmsg(db));
		return TRUE;
	}
	if (lines->len == 1 && g_strcmp0(g_ptr_array_index(lines, 0), "ok") == 0)
		return TRUE;
	if (lines->len == 0)
		g_ptr_array_add(lines, g_strdup("no answer from the check"));
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

/* PATH.running: present from open to a clean close */
static gchar *
vb_store_marker_path(const gchar *path)
{
	return g_strconcat(path, ".running", NULL);
}

static void
vb_store_unmark_open(const gchar *path)
{
	g_autofree gchar *marker = vb_store_marker_path(path);
	if (g_unlink(marker) != 0 && errno != ENOENT)
		g_warning("cannot remove %s: %s; the next start will check the store", marker,
			  g_strerror(errno));
}

/* takes PATH.running and its lock before anything touches the store. The
 * marker exists from open to a clean close, so finding it unlocked means the
 * last process to open the store died with it open; finding it locked means
 * another process has the store open now, and nothing may be done to the file
 * (a second vestibuled started by mistake must never check it, let alone move
 * it aside under the first one). *@unclean: the marker was left behind, or a
 * -wal with frames was (a crash of a build before the marker existed, or a
 * marker removed by hand) */
static gboolean
vb_store_lock(VbStore *self, const gchar *path, gboolean *unclean, GError **error)
{
	g_autofree gchar *marker = vb_store_marker_path(path);
	g_autofree gchar *wal = g_strconcat(path, "-wal", NULL);
	gboolean existed;
	GStatBuf st;
	gint fd;

	existed = g_lstat(marker, &st) == 0;
	fd = g_open(marker, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
			    "cannot create %s: %s; check the state directory's owner and space",
			    marker, g_strerror(errsv));
		return FALSE;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		gint errsv = errno;
		g_close(fd, NULL);
		if (errsv == EWOULDBLOCK) {
			g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
				    "another process has the store open (it holds %s); stop the "
				    "other vestibuled first",
				    marker);
		} else {
			g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
				    "cannot lock %s: %s", marker, g_strerror(errsv));
		}
		return FALSE;
	}
	self->marker_fd = fd;
	*unclean = existed || (g_lstat(wal, &st) == 0 && st.st_size > 0);
	return TRUE;
}

/* gives the lock back, removing the marker first when the store was closed
 * cleanly, so that no other process finds it unlocked */
static void
vb_store_unlock(VbStore *self, const gchar *path, gboolean clean)
{
	if (self->marker_fd < 0)
		return;
	if (clean)
		vb_store_unmark_open(path);
	g_close(self->marker_fd, NULL);
	self->marker_fd = -1;
}

/* the marker must survive a power cut that the commits after it survive: the
 * file and its directory entry are synced, once per start */
static gboolean
vb_store_sync_marker(VbStore *self, const gchar *path, GError **error)
{
	g_autofree gchar *marker = vb_store_marker_path(path);
	g_autofree gchar *dir = g_path_get_dirname(path);
	gint fd;

	if (fsync(self->marker_fd) != 0) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv), "cannot sync %s: %s",
			    marker, g_strerror(errsv));
		return FALSE;
	}
	fd = g_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd >= 0) {
		if (fsync(fd) != 0)
			g_debug("cannot sync %s: %s", dir, g_strerror(errno));
		g_close(fd, NULL);
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
	vb_store_unmark_open(path);
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

/* the first pages of a new file decide its auto_vacuum mode; an existing
 * file gets it only through a VACUUM, which rewrites the whole file: done at
 * open for a file this small, a fraction of a second, once. A bigger one is
 * converted by hand, daemon stopped (see "The store" in the README) */
#define VB_STORE_VACUUM_AT_OPEN_MAX_BYTES (16 * 1024 * 1024)

static gint64
vb_store_pragma_int(VbStore *self, const gchar *pragma)
{
	sqlite3_stmt *stmt = NULL;
	gint64 value = -1;

	if (sqlite3_prepare_v2(self->db, pragma, -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}

static void
vb_store_convert_auto_vacuum(VbStore *self)
{
	g_autoptr(GError) error = NULL;
	gint64 bytes = vb_store_pragma_int(self, "PRAGMA page_count") *
		       vb_store_pragma_int(self, "PRAGMA page_size");

	if (vb_store_pragma_int(self, "PRAGMA auto_vacuum") == 2)
		return;
	if (bytes > VB_STORE_VACUUM_AT_OPEN_MAX_BYTES) {
		g_message("the store %s (%" G_GINT64_FORMAT " MiB) does not give freed space back "
			  "to the file system; to convert it, stop vestibuled and run: sqlite3 %s "
			  "'PRAGMA auto_vacuum=INCREMENTAL; VACUUM'",
			  self->path, bytes / (1024 * 1024), self->path);
		return;
	}
	if (!vb_store_exec_script(self, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM", &error))
		g_warning("cannot convert the store %s to incremental vacuum: %s", self->path,
			  error->message);
	else
		g_message("converted the store %s to incremental vacuum", self->path);
}

/* damage found by the check, or by SQLite while opening: the file goes aside */
static void
vb_store_open_damaged(VbStore *self, const gchar *path, const gchar *problem, GError **error)
{
	/* a checkpoint on close would write into a damaged file before it is moved */
	sqlite3_db_config(self->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	g_free(self->damage);
	self->damage = g_strdup(problem);
	vb_store_close(self);
	vb_store_quarantine(self, path, problem, error);
}

static gboolean
vb_store_open_db(VbStore *self, const gchar *path, guint target_version, GError **error)
{
	g_autofree gchar *problem = NULL;
	g_autoptr(GError) error_local = NULL;
	gint rc;

	if (!vb_store_create_file(path, error))
		return FALSE;
	if (!vb_store_lock(self, path, &self->unclean, error))
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

	if (self->unclean) {
		gint64 start = g_get_monotonic_time();
		g_message("the store %s was not closed cleanly: checking its integrity", path);
		sqlite3_db_config(self->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
		if (!vb_store_run_quick_check(self->db, &problem, error))
			return FALSE;
		if (problem != NULL) {
			vb_store_open_damaged(self, path, problem, error);
			return FALSE;
		}
		sqlite3_db_config(self->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
		self->open_check_us = g_get_monotonic_time() - start;
		g_message("the store %s passed its integrity check in %.1f ms", path,
			  self->open_check_us / 1000.0);
	}
	if (!vb_store_sync_marker(self, path, error))
		return FALSE;
	/* before the first table: a new file frees pages incrementally */
	if (vb_store_pragma_int(self, "PRAGMA page_count") == 0 &&
	    !vb_store_exec_script(self, "PRAGMA auto_vacuum = INCREMENTAL", error))
		return FALSE;

	/* damage SQLite trips over here (a header that is not SQLite's) is damage
	 * all the same, whether or not the check ran */
	if (!vb_store_setup_connection(self, &error_local) ||
	    !vb_store_migrate(self, target_version, &error_local)) {
		if (g_error_matches(error_local, VB_ERROR, VB_ERROR_STORE_CORRUPT)) {
			vb_store_open_damaged(self, path, error_local->message, error);
			return FALSE;
		}
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	vb_store_convert_auto_vacuum(self);
	return TRUE;
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
	self->unclean = FALSE;
	self->open_check_us = 0;
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
 * if needed, and migrates it to the latest schema. Its integrity is checked
 * first when it was not closed cleanly (`PATH.running` left by a crash, or a
 * `-wal` with frames); otherwise vb_store_check_integrity_async() checks it
 * in the background.
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
		/* a damaged store keeps its marker: the next start checks it again */
		if (self->path != NULL)
			vb_store_unlock(self, self->path, rc == SQLITE_OK && self->damage == NULL);
	}
	/* an open that failed after the lock was taken: the lock goes, the
	 * marker stays, so that the next open checks the store */
	if (self->marker_fd >= 0) {
		g_close(self->marker_fd, NULL);
		self->marker_fd = -1;
	}
	g_clear_pointer(&self->path, g_free);
	g_clear_pointer(&self->damage, g_free);
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

/* vb_store_get_vm_steps: see vb-store-private.h */
guint64
vb_store_get_vm_steps(VbStore *self)
{
	g_return_val_if_fail(VB_IS_STORE(self), 0);
	return self->vm_steps;
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

/* vb_store_get_unclean: see vb-store-private.h */
gboolean
vb_store_get_unclean(VbStore *self, gint64 *check_us)
{
	g_return_val_if_fail(VB_IS_STORE(self), FALSE);
	if (check_us != NULL)
		*check_us = self->open_check_us;
	return self->unclean;
}

/* vb_store_get_damage: see vb-store-private.h */
const gchar *
vb_store_get_damage(VbStore *self)
{
	g_return_val_if_fail(VB_IS_STORE(self), NULL);
	return self->damage;
}

/* vb_store_set_damaged: see vb-store-private.h */
void
vb_store_set_damaged(VbStore *self, const gchar *problem)
{
	g_return_if_fail(VB_IS_STORE(self));
	g_return_if_fail(problem != NULL);
	if (self->db == NULL || self->damage != NULL)
		return;
	self->damage = g_strdup(problem);
	/* from now on nothing is written into it, not even by a checkpoint */
	sqlite3_db_config(self->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
}

typedef struct {
	gchar *path;
	gchar *problem;
	gint64 duration_us;
} VbStoreCheck;

static void
vb_store_check_free(VbStoreCheck *check)
{
	g_free(check->path);
	g_free(check->problem);
	g_free(check);
}

/* in a worker thread, on a connection of its own: WAL lets it read a
 * consistent snapshot while the main loop goes on writing */
static void
vb_store_check_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	VbStoreCheck *check = task_data;
	g_autoptr(GError) error = NULL;
	sqlite3 *db = NULL;
	gint64 start = g_get_monotonic_time();
	gint rc;

	rc = sqlite3_open_v2(check->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		vb_store_set_sqlite_error(&error, rc,
					  db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		g_prefix_error(&error, "cannot check the store: ");
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, VB_STORE_BUSY_TIMEOUT_MS);
	if (!vb_store_run_quick_check(db, &check->problem, &error)) {
		sqlite3_close(db);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	sqlite3_close(db);
	check->duration_us = g_get_monotonic_time() - start;
	g_task_return_boolean(task, TRUE);
}

/* vb_store_check_integrity_async: see vb-store-private.h */
void
vb_store_check_integrity_async(VbStore *self,
			       GCancellable *cancellable,
			       GAsyncReadyCallback callback,
			       gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	VbStoreCheck *check;

	g_return_if_fail(VB_IS_STORE(self));

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, vb_store_check_integrity_async);
	if (self->path == NULL) {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_FAILED,
					"the store is not open; call vb_store_open() first");
		return;
	}
	check = g_new0(VbStoreCheck, 1);
	check->path = g_strdup(self->path);
	g_task_set_task_data(task, check, (GDestroyNotify)vb_store_check_free);
	g_task_run_in_thread(task, vb_store_check_thread);
}

/* vb_store_check_integrity_finish: see vb-store-private.h */
gboolean
vb_store_check_integrity_finish(VbStore *self,
				GAsyncResult *result,
				gchar **problem,
				gint64 *duration_us,
				GError **error)
{
	VbStoreCheck *check;

	g_return_val_if_fail(VB_IS_STORE(self), FALSE);
	g_return_val_if_fail(g_task_is_valid(result, self), FALSE);

	if (!g_task_propagate_boolean(G_TASK(result), error))
		return FALSE;
	check = g_task_get_task_data(G_TASK(result));
	if (duration_us != NULL)
		*duration_us = check->duration_us;
	if (check->problem != NULL) {
		g_warning("THE STORE %s FAILED ITS INTEGRITY CHECK (%s): nothing more is written "
			  "to it and no door opens; restart vestibuled to move it aside",
			  check->path, check->problem);
		vb_store_set_damaged(self, check->problem);
	}
	if (problem != NULL)
		*problem = g_strdup(check->problem);
	return TRUE;
}

/* vb_store_get_pages: see vb-store-private.h */
gboolean
vb_store_get_pages(VbStore *self, VbStorePages *pages, GError **error)
{
	g_return_val_if_fail(VB_IS_STORE(self), FALSE);
	g_return_val_if_fail(pages != NULL, FALSE);

	if (!vb_store_check_open(self, error))
		return FALSE;
	pages->page_size = vb_store_pragma_int(self, "PRAGMA page_size");
	pages->page_count = vb_store_pragma_int(self, "PRAGMA page_count");
	pages->freelist_count = vb_store_pragma_int(self, "PRAGMA freelist_count");
	pages->incremental = vb_store_pragma_int(self, "PRAGMA auto_vacuum") == 2;
	return TRUE;
}

/* vb_store_incremental_vacuum: see vb-store-private.h */
gint64
vb_store_incremental_vacuum(VbStore *self, guint max_pages, GError **error)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autofree gchar *sql = NULL;
	gint64 before;

	g_return_val_if_fail(VB_IS_STORE(self), -1);
	g_return_val_if_fail(max_pages > 0, -1);

	if (!vb_store_check_open(self, error))
		return -1;
	before = vb_store_pragma_int(self, "PRAGMA freelist_count");
	if (before <= 0 || vb_store_pragma_int(self, "PRAGMA auto_vacuum") != 2)
		return 0;
	/* a number, never a value from outside: printf is safe here */
	sql = g_strdup_printf("PRAGMA incremental_vacuum(%u)", max_pages);
	tx = vb_store_transaction_begin_full(self, VB_STORE_TRANSACTION_FLAG_NO_SYNC, error);
	if (tx == NULL || !vb_store_exec_script(self, sql, error) ||
	    !vb_store_transaction_commit(tx, error)) {
		g_prefix_error(error, "cannot give free pages back: ");
		return -1;
	}
	return before - vb_store_pragma_int(self, "PRAGMA freelist_count");
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
	self->marker_fd = -1;
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
