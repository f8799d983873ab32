/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "vb-audit-private.h"
#include "vb-test-files.h"
#include "vb-error.h"
#include "vb-events.h"
#include "vb-store-private.h"
#include "vb-test-syncs.h"
#include "vb-visit-manager-private.h"

/* a SHA-256 in hex, as the HTTP server computes it from a bearer token */
#define HASH_A "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define HASH_B "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"

typedef struct {
	gchar *tmpdir;
	gchar *path;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;

	f->tmpdir = g_dir_make_tmp("vb-test-store-XXXXXX", &error);
	g_assert_no_error(error);
	f->path = g_build_filename(f->tmpdir, "vestibule.db", NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer user_data)
{
	vb_test_remove_tree(f->tmpdir);
	g_free(f->tmpdir);
	g_free(f->path);
}

static VbStore *
open_store(const gchar *path)
{
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(GError) error = NULL;

	g_assert_true(vb_store_open(store, path, &error));
	g_assert_no_error(error);
	return g_steal_pointer(&store);
}

static void
exec_sql(VbStore *store, const gchar *sql)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(store, sql, &error);

	g_assert_no_error(error);
	g_assert_true(vb_store_stmt_exec(stmt, &error));
	g_assert_no_error(error);
}

static gchar *
query_text(VbStore *store, const gchar *sql)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(store, sql, &error);

	g_assert_no_error(error);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
	return g_strdup(vb_store_stmt_column_text(stmt, 0));
}

static gint64
query_int(VbStore *store, const gchar *sql)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(store, sql, &error);

	g_assert_no_error(error);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
	return vb_store_stmt_column_int64(stmt, 0);
}

static gboolean
has_object(VbStore *store, const gchar *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(store, "SELECT COUNT(*) FROM sqlite_master WHERE name = ?1", &error);

	g_assert_no_error(error);
	vb_store_stmt_bind_text(stmt, 1, name);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
	return vb_store_stmt_column_int64(stmt, 0) > 0;
}

static gint64
namespace_version(VbStore *store, const gchar *ns)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(store, "SELECT version FROM namespaces WHERE ns = ?1", &error);

	g_assert_no_error(error);
	vb_store_stmt_bind_text(stmt, 1, ns);
	if (vb_store_stmt_step(stmt, &error) != VB_STORE_STEP_ROW) {
		g_assert_no_error(error);
		return 0;
	}
	return vb_store_stmt_column_int64(stmt, 0);
}

static GBytes *
read_file(const gchar *path)
{
	g_autoptr(GError) error = NULL;
	gchar *data = NULL;
	gsize len = 0;

	g_assert_true(g_file_get_contents(path, &data, &len, &error));
	g_assert_no_error(error);
	return g_bytes_new_take(data, len);
}

static void
write_file(const gchar *path, GBytes *bytes)
{
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	gconstpointer data = g_bytes_get_data(bytes, &len);

	g_assert_true(g_file_set_contents(path, data, len, &error));
	g_assert_no_error(error);
}

static guint
file_mode(const gchar *path)
{
	GStatBuf st;

	g_assert_cmpint(g_stat(path, &st), ==, 0);
	return st.st_mode & 0777;
}

static goffset
file_size(const gchar *path)
{
	GStatBuf st;

	g_assert_cmpint(g_stat(path, &st), ==, 0);
	return st.st_size;
}

static void
fill_audit(VbStore *store, guint n_rows)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(store, &error);
	g_autofree gchar *payload = g_strnfill(300, 'x');

	g_assert_no_error(error);
	for (guint i = 0; i < n_rows; i++) {
		g_autoptr(VbEvent) event =
		    vb_event_new(VB_EVENT_DOOR_OPENED, "sim-lock", "front", NULL);
		g_assert_true(vb_audit_append(store, event, payload, &error));
		g_assert_no_error(error);
	}
	g_assert_true(vb_store_transaction_commit(tx, &error));
	g_assert_no_error(error);
}

static void
test_open_wal_and_pragmas(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autofree gchar *journal_mode = query_text(store, "PRAGMA journal_mode");

	g_assert_cmpstr(journal_mode, ==, "wal");
	g_assert_cmpint(query_int(store, "PRAGMA synchronous"), ==, 2);
	g_assert_cmpint(query_int(store, "PRAGMA foreign_keys"), ==, 1);
	g_assert_cmpint(query_int(store, "PRAGMA busy_timeout"), ==, 5000);
	g_assert_cmpint(query_int(store, "PRAGMA auto_vacuum"), ==, 2);
	g_assert_cmpuint(vb_store_schema_version_latest(), ==, 9);
	g_assert_cmpuint(vb_store_get_schema_version(store), ==, vb_store_schema_version_latest());
	g_assert_cmpstr(vb_store_get_path(store), ==, f->path);
	g_assert_null(vb_store_get_quarantined_path(store));
}

static void
test_open_file_mode(Fixture *f, gconstpointer user_data)
{
	g_autofree gchar *dir = g_build_filename(f->tmpdir, "state", "vestibule", NULL);
	g_autofree gchar *path = g_build_filename(dir, "vestibule.db", NULL);
	g_autofree gchar *wal = g_strconcat(path, "-wal", NULL);
	g_autoptr(VbStore) store = open_store(path);

	g_assert_cmpuint(file_mode(dir), ==, 0700);
	g_assert_cmpuint(file_mode(path), ==, 0600);
	exec_sql(store, "INSERT INTO namespaces (ns, version) VALUES ('x', 1)");
	g_assert_cmpuint(file_mode(wal), ==, 0600);
}

static void
test_open_twice(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(VbStore) other = vb_store_new();
	g_autoptr(GError) error = NULL;

	g_assert_false(vb_store_open(store, f->path, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_FAILED);
	g_clear_error(&error);

	/* the first open is still usable */
	g_assert_cmpuint(vb_store_get_schema_version(store), ==, vb_store_schema_version_latest());

	g_assert_false(
	    vb_store_open_at_version(other, f->path, vb_store_schema_version_latest() + 1, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
}

static void
test_migrate_every_version(Fixture *f, gconstpointer user_data)
{
	for (guint v = 0; v < vb_store_schema_version_latest(); v++) {
		g_autofree gchar *name = g_strdup_printf("v%u.db", v);
		g_autofree gchar *path = g_build_filename(f->tmpdir, name, NULL);
		g_autoptr(VbStore) store = vb_store_new();
		g_autoptr(GError) error = NULL;

		g_assert_true(vb_store_open_at_version(store, path, v, &error));
		g_assert_no_error(error);
		g_assert_cmpuint(vb_store_get_schema_version(store), ==, v);
		g_assert_cmpint(has_object(store, "audit"), ==, v >= 1);
		g_assert_cmpint(has_object(store, "api_tokens"), ==, v >= 1);
		g_assert_cmpint(has_object(store, "namespaces"), ==, v >= 1);
		g_assert_cmpint(has_object(store, "visits"), ==, v >= 2);
		g_assert_cmpint(has_object(store, "outbox"), ==, v >= 3);
		if (v == 2)
			exec_sql(store, "INSERT INTO visits (id, door, state, created, updated) "
					"VALUES ('v-old', 'front', 'closed', 1, 1)");
		vb_store_close(store);

		g_assert_true(vb_store_open(store, path, &error));
		g_assert_no_error(error);
		g_assert_cmpuint(vb_store_get_schema_version(store), ==,
				 vb_store_schema_version_latest());
		g_assert_true(has_object(store, "audit"));
		g_assert_true(has_object(store, "api_tokens"));
		g_assert_true(has_object(store, "namespaces"));
		g_assert_true(has_object(store, "visits"));
		g_assert_true(has_object(store, "visits_created"));
		g_assert_true(has_object(store, "customers"));
		g_assert_true(has_object(store, "outbox"));
		g_assert_true(has_object(store, "consent_no_update"));
		g_assert_cmpint(query_int(store, "SELECT COUNT(*) FROM schema_version"), ==,
				vb_store_schema_version_latest());
		/* a visit recorded under schema 2 survives the new columns */
		if (v == 2)
			g_assert_cmpint(query_int(store, "SELECT COUNT(*) FROM visits WHERE id = "
							 "'v-old' AND customer_id IS NULL"),
					==, 1);
	}
}

static void
test_migrate_keeps_v1_data(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(VbEvent) event = vb_event_new(VB_EVENT_DOOR_UNLOCKED, "sim-lock", "front", NULL);
	g_autoptr(GPtrArray) rows = NULL;
	g_autofree gchar *name = NULL;
	const gchar *steps[] = {"CREATE TABLE @ns@holds (id TEXT PRIMARY KEY)", NULL};
	const gchar *payload = NULL;

	g_assert_true(vb_store_open_at_version(store, f->path, 1, &error));
	g_assert_no_error(error);
	g_assert_true(vb_store_token_add(store, "ops", "admin", HASH_A, &error));
	g_assert_no_error(error);
	g_assert_true(vb_audit_append(store, event, "{\"door\":\"front\"}", &error));
	g_assert_no_error(error);
	g_assert_true(vb_store_ensure_namespace(store, "sim_payment", steps, &error));
	g_assert_no_error(error);
	exec_sql(store, "INSERT INTO p_sim_payment_holds (id) VALUES ('hold-1')");
	g_assert_false(has_object(store, "visits"));
	vb_store_close(store);

	g_assert_true(vb_store_open(store, f->path, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(vb_store_get_schema_version(store), ==, vb_store_schema_version_latest());
	g_assert_true(has_object(store, "visits"));
	name = vb_store_token_lookup(store, HASH_A, "admin", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(name, ==, "ops");
	rows = vb_audit_list(store, 0, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(rows->len, ==, 1);
	g_assert_true(g_variant_lookup(g_ptr_array_index(rows, 0), "payload", "&s", &payload));
	g_assert_cmpstr(payload, ==, "{\"door\":\"front\"}");
	g_assert_cmpint(namespace_version(store, "sim_payment"), ==, 1);
	g_assert_cmpint(query_int(store, "SELECT COUNT(*) FROM p_sim_payment_holds"), ==, 1);
}

static void
test_migrate_future_refused(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	guint future = vb_store_schema_version_latest() + 1;
	g_autofree gchar *insert =
	    g_strdup_printf("INSERT INTO schema_version (version, applied) VALUES (%u, 0)", future);
	g_autofree gchar *expected = g_strdup_printf("schema version %u", future);

	exec_sql(store, insert);
	vb_store_close(store);

	g_assert_false(vb_store_open(store, f->path, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
	g_assert_nonnull(strstr(error->message, expected));
	g_assert_null(vb_store_get_path(store));
	g_clear_error(&error);

	/* refused, not moved aside nor downgraded */
	g_assert_null(vb_store_get_quarantined_path(store));
	g_assert_false(vb_store_open_at_version(store, f->path, 0, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
	g_clear_error(&error);
	{
		sqlite3 *db = NULL;
		sqlite3_stmt *stmt = NULL;
		g_assert_cmpint(sqlite3_open(f->path, &db), ==, SQLITE_OK);
		g_assert_cmpint(sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_version",
						   -1, &stmt, NULL),
				==, SQLITE_OK);
		g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
		g_assert_cmpint(sqlite3_column_int(stmt, 0), ==, future);
		sqlite3_finalize(stmt);
		sqlite3_close(db);
	}
}

static void
test_migrate_atomic(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(GError) error = NULL;

	/* the v2 step creates the visits table, then fails on its index */
	g_assert_true(vb_store_open_at_version(store, f->path, 1, &error));
	g_assert_no_error(error);
	exec_sql(store, "CREATE INDEX visits_created ON audit (seq)");
	vb_store_close(store);

	g_assert_false(vb_store_open(store, f->path, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "schema version 2"));
	g_assert_nonnull(strstr(error->message, "visits_created"));
	g_clear_error(&error);

	g_assert_true(vb_store_open_at_version(store, f->path, 1, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(vb_store_get_schema_version(store), ==, 1);
	g_assert_false(has_object(store, "visits"));
}

static void
test_namespace_create_and_reopen(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *table = vb_store_namespace_table("sim_payment", "holds");
	const gchar *v1[] = {
	    "CREATE TABLE @ns@holds (id TEXT PRIMARY KEY, amount INTEGER NOT NULL);"
	    "CREATE INDEX @ns@holds_amount ON @ns@holds (amount);",
	    NULL};
	const gchar *v2[] = {v1[0], "ALTER TABLE @ns@holds ADD COLUMN currency TEXT", NULL};

	g_assert_cmpstr(table, ==, "p_sim_payment_holds");
	g_assert_true(vb_store_ensure_namespace(store, "sim_payment", v1, &error));
	g_assert_no_error(error);
	g_assert_true(has_object(store, "p_sim_payment_holds"));
	g_assert_true(has_object(store, "p_sim_payment_holds_amount"));
	g_assert_cmpint(namespace_version(store, "sim_payment"), ==, 1);
	exec_sql(store, "INSERT INTO p_sim_payment_holds (id, amount) VALUES ('h1', 500)");

	/* again: nothing to do */
	g_assert_true(vb_store_ensure_namespace(store, "sim_payment", v1, &error));
	g_assert_no_error(error);
	vb_store_close(store);

	/* a newer plugin adds a step: only that one runs */
	g_assert_true(vb_store_open(store, f->path, &error));
	g_assert_no_error(error);
	g_assert_true(vb_store_ensure_namespace(store, "sim_payment", v2, &error));
	g_assert_no_error(error);
	g_assert_cmpint(namespace_version(store, "sim_payment"), ==, 2);
	exec_sql(store, "UPDATE p_sim_payment_holds SET currency = 'EUR'");
	g_assert_cmpint(query_int(store, "SELECT amount FROM p_sim_payment_holds"), ==, 500);

	/* and going back to the older plugin is refused */
	g_assert_false(vb_store_ensure_namespace(store, "sim_payment", v1, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
	g_assert_cmpint(namespace_version(store, "sim_payment"), ==, 2);
}

static void
test_namespace_failing_step(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	const gchar *steps[] = {
	    "CREATE TABLE @ns@first (id INTEGER PRIMARY KEY)",
	    "CREATE TABLE @ns@second (id INTEGER PRIMARY KEY); CREATE TABLE @ns@third (;", NULL};

	g_assert_false(vb_store_ensure_namespace(store, "loyalty", steps, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "loyalty to version 2"));
	g_clear_error(&error);

	/* step 1 stays committed, step 2 left nothing behind */
	g_assert_cmpint(namespace_version(store, "loyalty"), ==, 1);
	g_assert_true(has_object(store, "p_loyalty_first"));
	g_assert_false(has_object(store, "p_loyalty_second"));

	/* and no transaction was left open */
	{
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(store, &error);
		g_assert_no_error(error);
		g_assert_nonnull(tx);
	}
}

static void
assert_step_refused(VbStore *store, const gchar *ns, const gchar *sql, const gchar *left_out)
{
	g_autoptr(GError) error = NULL;
	const gchar *steps[] = {sql, NULL};

	g_assert_false(vb_store_ensure_namespace(store, ns, steps, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_test_message("refused as expected: %s", error->message);
	g_assert_cmpint(namespace_version(store, ns), ==, 0);
	if (left_out != NULL)
		g_assert_false(has_object(store, left_out));
}

static void
test_namespace_outside_refused(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	const gchar *payment[] = {"CREATE TABLE @ns@holds (id TEXT PRIMARY KEY)", NULL};

	assert_step_refused(store, "sim", "CREATE TABLE @ns@ok (x); CREATE TABLE stray (x)",
			    "p_sim_ok");
	g_assert_false(has_object(store, "stray"));
	assert_step_refused(store, "sim", "CREATE INDEX @ns@by_name ON audit (name)", NULL);
	g_assert_false(has_object(store, "p_sim_by_name"));
	assert_step_refused(store, "sim",
			    "CREATE TRIGGER @ns@spy AFTER INSERT ON audit BEGIN SELECT 1; END",
			    "p_sim_spy");
	assert_step_refused(store, "sim", "DROP TABLE visits", NULL);
	g_assert_true(has_object(store, "visits"));
	assert_step_refused(store, "sim", "ALTER TABLE audit ADD COLUMN extra TEXT", NULL);
	g_assert_cmpint(query_int(store, "SELECT COUNT(*) FROM pragma_table_info('audit') "
					 "WHERE name = 'extra'"),
			==, 0);

	/* a step may not end the transaction it runs in, nor touch the connection */
	assert_step_refused(store, "sim", "CREATE TABLE @ns@early (x); COMMIT", "p_sim_early");
	assert_step_refused(store, "sim", "PRAGMA foreign_keys = OFF", NULL);
	g_assert_cmpint(query_int(store, "PRAGMA foreign_keys"), ==, 1);

	/* "sim" cannot create tables in the space of "sim_payment" */
	g_assert_true(vb_store_ensure_namespace(store, "sim_payment", payment, &error));
	g_assert_no_error(error);
	assert_step_refused(store, "sim", "CREATE TABLE @ns@payment_extra (x)", NULL);
	g_assert_false(has_object(store, "p_sim_payment_extra"));
}

static void
test_namespace_bad_names(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	const gchar *steps[] = {"CREATE TABLE @ns@t (x)", NULL};
	const gchar *bad[] = {"",	  "Sim",	 "1sim",
			      "_sim",	  "sim-payment", "sim payment",
			      "sim;drop", "sim\xc3\xa9", "abcdefghijklmnopqrstuvwxyz0123456",
			      NULL};

	for (guint i = 0; bad[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		g_assert_false(vb_store_ensure_namespace(store, bad[i], steps, &error));
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	}
	g_assert_cmpint(query_int(store, "SELECT COUNT(*) FROM namespaces"), ==, 0);

	/* 32 characters is the longest allowed */
	{
		g_autoptr(GError) error = NULL;
		g_assert_true(vb_store_ensure_namespace(store, "abcdefghijklmnopqrstuvwxyz012345",
							steps, &error));
		g_assert_no_error(error);
		g_assert_true(has_object(store, "p_abcdefghijklmnopqrstuvwxyz012345_t"));
	}
}

static void
test_stmt_cache_reuse(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	const gchar *sql = "SELECT ?1 UNION ALL SELECT 'second'";
	VbStoreStmt *first;
	VbStoreStmt *second;
	VbStoreStmt *again;

	/* the first use is prepared, run and finalized: a statement that runs
	 * once (a migration, an operator's listing) keeps no memory */
	first = vb_store_prepare(store, sql, &error);
	g_assert_no_error(error);
	vb_store_stmt_bind_text(first, 1, "first");
	g_assert_cmpint(vb_store_stmt_step(first, &error), ==, VB_STORE_STEP_ROW);
	g_assert_cmpstr(vb_store_stmt_column_text(first, 0), ==, "first");
	vb_store_stmt_free(first);

	/* from the second use on, the same statement comes back, reset and with
	 * its bindings cleared */
	second = vb_store_prepare(store, sql, &error);
	g_assert_no_error(error);
	vb_store_stmt_bind_text(second, 1, "second");
	g_assert_cmpint(vb_store_stmt_step(second, &error), ==, VB_STORE_STEP_ROW);
	g_assert_cmpstr(vb_store_stmt_column_text(second, 0), ==, "second");
	vb_store_stmt_free(second);

	again = vb_store_prepare(store, sql, &error);
	g_assert_no_error(error);
	g_assert_true(again == second);
	g_assert_cmpint(vb_store_stmt_step(again, &error), ==, VB_STORE_STEP_ROW);
	g_assert_true(vb_store_stmt_column_is_null(again, 0));
	vb_store_stmt_free(again);
}

static void
test_stmt_nested_borrow(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	const gchar *sql = "SELECT name FROM api_tokens ORDER BY name";
	VbStoreStmt *outer;
	VbStoreStmt *again;
	guint n_outer = 0;

	g_assert_true(vb_store_token_add(store, "a", "admin", HASH_A, &error));
	g_assert_true(vb_store_token_add(store, "b", "read", HASH_B, &error));
	g_assert_no_error(error);
	/* a first use, so that the statement is cached from the next one */
	vb_store_stmt_free(vb_store_prepare(store, sql, &error));
	g_assert_no_error(error);

	outer = vb_store_prepare(store, sql, &error);
	g_assert_no_error(error);
	while (vb_store_stmt_step(outer, &error) == VB_STORE_STEP_ROW) {
		g_autoptr(VbStoreStmt) inner = vb_store_prepare(store, sql, &error);
		guint n_inner = 0;

		g_assert_no_error(error);
		g_assert_true(inner != outer);
		while (vb_store_stmt_step(inner, &error) == VB_STORE_STEP_ROW)
			n_inner++;
		g_assert_no_error(error);
		g_assert_cmpuint(n_inner, ==, 2);
		n_outer++;
	}
	g_assert_no_error(error);
	g_assert_cmpuint(n_outer, ==, 2);
	vb_store_stmt_free(outer);

	again = vb_store_prepare(store, sql, &error);
	g_assert_no_error(error);
	g_assert_true(again == outer);
	vb_store_stmt_free(again);
}

static void
test_stmt_errors(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;

	stmt = vb_store_prepare(store, "SELEKT 1", &error);
	g_assert_error(error, VB_ERROR, VB_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "syntax error"));
	g_assert_null(stmt);
	g_clear_error(&error);

	stmt = vb_store_prepare(store, "SELECT 1; SELECT 2", &error);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_assert_null(stmt);
	g_clear_error(&error);

	stmt = vb_store_prepare(store, "SELECT ?1", &error);
	g_assert_no_error(error);
	vb_store_stmt_bind_int64(stmt, 7, 1);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ERROR);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_clear_pointer(&stmt, vb_store_stmt_free);
	g_clear_error(&error);

	stmt =
	    vb_store_prepare(store, "INSERT INTO visits (id, state) VALUES ('v1', 'open')", &error);
	g_assert_no_error(error);
	g_assert_false(vb_store_stmt_exec(stmt, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_CONFLICT);
	g_assert_nonnull(strstr(error->message, "NOT NULL constraint failed"));
}

static void
test_stmt_busy(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreTransaction) tx = NULL;
	sqlite3 *db = NULL;
	gint64 start;

	/* another process holds the write lock */
	g_assert_cmpint(sqlite3_open(f->path, &db), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), ==, SQLITE_OK);

	start = g_get_monotonic_time();
	tx = vb_store_transaction_begin(store, &error);
	g_assert_null(tx);
	g_assert_error(error, VB_ERROR, VB_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "locked"));
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 4500 * 1000);
	g_clear_error(&error);

	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	tx = vb_store_transaction_begin(store, &error);
	g_assert_no_error(error);
	g_assert_nonnull(tx);
}

static void
test_stmt_borrowed_at_close(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	VbStoreStmt *cached;
	VbStoreStmt *nested;

	cached = vb_store_prepare(store, "SELECT 1", &error);
	nested = vb_store_prepare(store, "SELECT 1", &error);
	g_assert_no_error(error);

	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*still in use*SELECT 1");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*still in use*SELECT 1");
	vb_store_close(store);
	g_test_assert_expected_messages();

	g_assert_cmpint(vb_store_stmt_step(cached, &error), ==, VB_STORE_STEP_ERROR);
	g_assert_error(error, VB_ERROR, VB_ERROR_FAILED);
	g_clear_error(&error);
	vb_store_stmt_free(cached);
	vb_store_stmt_free(nested);

	/* and the store opens again */
	g_assert_true(vb_store_open(store, f->path, &error));
	g_assert_no_error(error);
}

static void
test_transaction_rollback_on_free(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *name = NULL;

	{
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(store, &error);
		g_assert_nonnull(tx);
		g_assert_no_error(error);
		g_assert_true(vb_store_token_add(store, "dropped", "admin", HASH_A, &error));
		g_assert_no_error(error);
	}
	name = vb_store_token_lookup(store, HASH_A, "admin", &error);
	g_assert_no_error(error);
	g_assert_null(name);

	{
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(store, &error);
		g_assert_no_error(error);
		g_assert_true(vb_store_token_add(store, "kept", "admin", HASH_A, &error));
		g_assert_true(vb_store_transaction_commit(tx, &error));
		g_assert_no_error(error);
	}
	name = vb_store_token_lookup(store, HASH_A, "admin", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(name, ==, "kept");
}

/* one small row per commit, without a sync; the WAL's size in frames */
static void
insert_unsynced(VbStore *store, guint n)
{
	for (guint i = 0; i < n; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin_full(
		    store, VB_STORE_TRANSACTION_FLAG_NO_SYNC, &error);
		g_assert_no_error(error);
		exec_sql(store, "INSERT INTO t (b) VALUES (zeroblob(100))");
		g_assert_true(vb_store_transaction_commit(tx, &error));
		g_assert_no_error(error);
	}
}

/* what a power cut cannot take back: a commit waits for one sync of the log;
 * an unsynced one waits for none, and vb_store_sync() then syncs it */
static void
test_sync_after_unsynced(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	guint before;

	before = vb_test_syncs_wal();
	g_assert_true(vb_store_token_add(store, "synced", "admin", HASH_A, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(vb_test_syncs_wal(), ==, before + 1);

	before = vb_test_syncs_wal();
	{
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin_full(
		    store, VB_STORE_TRANSACTION_FLAG_NO_SYNC, &error);
		g_assert_no_error(error);
		g_assert_true(vb_store_token_add(store, "unsynced", "admin", HASH_B, &error));
		g_assert_true(vb_store_transaction_commit(tx, &error));
		g_assert_no_error(error);
	}
	g_assert_cmpuint(vb_test_syncs_wal(), ==, before);
	g_assert_true(vb_store_sync(store, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(vb_test_syncs_wal(), ==, before + 1);

	/* a closed store says so */
	vb_store_close(store);
	g_assert_false(vb_store_sync(store, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_FAILED);
}

static gint64
wal_frames(const gchar *path)
{
	g_autofree gchar *wal = g_strconcat(path, "-wal", NULL);
	GStatBuf st;

	g_assert_cmpint(g_stat(wal, &st), ==, 0);
	return ((gint64)st.st_size - 32) / (4096 + 24);
}

/* a commit that does not wait for the disk: the safety level is NORMAL for
 * its transaction only, and FULL again after it, committed or not */
static void
test_transaction_no_sync(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *name = NULL;

	{
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin_full(
		    store, VB_STORE_TRANSACTION_FLAG_NO_SYNC, &error);
		g_assert_no_error(error);
		g_assert_cmpint(query_int(store, "PRAGMA synchronous"), ==, 1);
		g_assert_true(vb_store_token_add(store, "unsynced", "admin", HASH_A, &error));
		g_assert_true(vb_store_transaction_commit(tx, &error));
		g_assert_no_error(error);
	}
	g_assert_cmpint(query_int(store, "PRAGMA synchronous"), ==, 2);
	{
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin_full(
		    store, VB_STORE_TRANSACTION_FLAG_NO_SYNC, &error);
		g_assert_no_error(error);
		g_assert_nonnull(tx);
		/* a second transaction is refused and leaves the level alone */
		g_assert_null(vb_store_transaction_begin(store, &error));
		g_assert_error(error, VB_ERROR, VB_ERROR_FAILED);
		g_clear_error(&error);
		g_assert_cmpint(query_int(store, "PRAGMA synchronous"), ==, 1);
		/* rolled back on free */
	}
	g_assert_cmpint(query_int(store, "PRAGMA synchronous"), ==, 2);

	/* what it committed is in the file for the next process */
	vb_store_close(store);
	g_clear_object(&store);
	store = open_store(f->path);
	name = vb_store_token_lookup(store, HASH_A, "admin", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(name, ==, "unsynced");
}

/* SQLite's own checkpoint would run inside the commit that crosses 1000 WAL
 * frames, a shopper's tap as likely as not; the store's runs when the main
 * loop is idle, and inside a commit only past 4000 frames */
static void
test_checkpoint_when_idle(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	gint64 frames;

	exec_sql(store, "CREATE TABLE t (b BLOB)");
	insert_unsynced(store, 1500);
	frames = wal_frames(f->path);
	/* no checkpoint ran during the commits */
	g_assert_cmpint(frames, >=, 1500);

	/* the loop turns: the checkpoint runs, and the log starts over */
	while (g_main_context_iteration(NULL, FALSE))
		;
	insert_unsynced(store, 10);
	g_assert_cmpint(wal_frames(f->path), ==, frames);

	/* a loop that never idles still bounds the log */
	insert_unsynced(store, 6000);
	g_assert_cmpint(wal_frames(f->path), <=, 4100);
}

typedef struct {
	GString *log;
	gchar tag;
	VbStore *store; /* opens a transaction of its own when set */
} AfterCommit;

static void
after_commit_run(gpointer data)
{
	AfterCommit *ac = data;
	g_string_append_c(ac->log, ac->tag);
	if (ac->store != NULL) {
		g_autoptr(GError) error = NULL;
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(ac->store, &error);
		g_assert_no_error(error);
		g_assert_true(vb_store_transaction_commit(tx, &error));
	}
}

static void
after_commit_destroy(gpointer data)
{
	AfterCommit *ac = data;
	g_string_append_c(ac->log, '~');
	g_free(ac);
}

static void
after_commit_add(VbStore *store, GString *log, gchar tag, gboolean opens_tx)
{
	AfterCommit *ac = g_new0(AfterCommit, 1);
	ac->log = log;
	ac->tag = tag;
	ac->store = opens_tx ? store : NULL;
	vb_store_after_commit(store, after_commit_run, ac, after_commit_destroy);
}

/* what is told of a change (a visit-state event) comes after the change is
 * stored, and never for a change rolled back */
static void
test_transaction_after_commit(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) log = g_string_new(NULL);

	/* outside a transaction: at once */
	after_commit_add(store, log, 'x', FALSE);
	g_assert_cmpstr(log->str, ==, "x~");
	g_string_truncate(log, 0);

	{
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(store, &error);
		g_assert_no_error(error);
		after_commit_add(store, log, 'a', FALSE);
		after_commit_add(store, log, 'b', TRUE);
		g_assert_cmpstr(log->str, ==, "");
		g_assert_true(vb_store_transaction_commit(tx, &error));
		g_assert_no_error(error);
		/* in order, once, and free to open a transaction of their own */
		g_assert_cmpstr(log->str, ==, "ab~~");
	}
	g_assert_cmpstr(log->str, ==, "ab~~");
	g_string_truncate(log, 0);

	{
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(store, &error);
		g_assert_no_error(error);
		g_assert_nonnull(tx);
		after_commit_add(store, log, 'r', FALSE);
		/* rolled back on free */
	}
	g_assert_cmpstr(log->str, ==, "~");
}

static void
test_transaction_nested(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(store, &error);
	g_autoptr(VbStoreTransaction) nested = NULL;

	g_assert_no_error(error);
	nested = vb_store_transaction_begin(store, &error);
	g_assert_null(nested);
	g_assert_error(error, VB_ERROR, VB_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "a transaction is already open"));
	g_clear_error(&error);

	/* the outer one is untouched */
	g_assert_true(vb_store_token_add(store, "ops", "admin", HASH_A, &error));
	g_assert_true(vb_store_transaction_commit(tx, &error));
	g_assert_no_error(error);
	g_assert_cmpint(query_int(store, "SELECT COUNT(*) FROM api_tokens"), ==, 1);
}

static void
assert_quarantined(Fixture *f, VbStore *store, GBytes *original, GError *error)
{
	const gchar *qpath = vb_store_get_quarantined_path(store);
	g_autofree gchar *prefix = g_strconcat(f->path, ".corrupt-", NULL);
	g_autoptr(GBytes) moved = NULL;

	g_assert_error(error, VB_ERROR, VB_ERROR_STORE_CORRUPT);
	g_test_message("quarantined as expected: %s", error->message);
	g_assert_nonnull(qpath);
	g_assert_true(g_str_has_prefix(qpath, prefix));
	g_assert_nonnull(strstr(error->message, qpath));
	g_assert_false(g_file_test(f->path, G_FILE_TEST_EXISTS));
	moved = read_file(qpath);
	g_assert_true(g_bytes_equal(moved, original));
	g_assert_null(vb_store_get_path(store));
}

static void
test_integrity_garbage(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) garbage = NULL;
	g_autoptr(GBytes) wal = g_bytes_new_static("not a wal either", 16);
	g_autoptr(GBytes) moved_wal = NULL;
	g_autofree gchar *wal_path = g_strconcat(f->path, "-wal", NULL);
	g_autofree gchar *moved_wal_path = NULL;
	guint8 data[8192];

	for (gsize i = 0; i < sizeof(data); i++)
		data[i] = (guint8)(i * 7 + 3);
	garbage = g_bytes_new(data, sizeof(data));
	write_file(f->path, garbage);
	write_file(wal_path, wal);

	/* a -wal with frames: the store was not closed cleanly */
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*not closed cleanly*");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
			      "*INTEGRITY CHECK*not a database*");
	g_assert_false(vb_store_open(store, f->path, &error));
	g_test_assert_expected_messages();
	assert_quarantined(f, store, garbage, error);

	/* the -wal moved along, beside its database */
	g_assert_false(g_file_test(wal_path, G_FILE_TEST_EXISTS));
	moved_wal_path = g_strconcat(vb_store_get_quarantined_path(store), "-wal", NULL);
	moved_wal = read_file(moved_wal_path);
	g_assert_true(g_bytes_equal(moved_wal, wal));
	g_clear_error(&error);

	/* what the daemon does next: start on a fresh file */
	g_assert_true(vb_store_open(store, f->path, &error));
	g_assert_no_error(error);
	g_assert_null(vb_store_get_quarantined_path(store));
	g_assert_true(g_file_test(moved_wal_path, G_FILE_TEST_EXISTS));
}

static GBytes *
make_database(Fixture *f)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autofree gchar *wal = g_strconcat(f->path, "-wal", NULL);

	fill_audit(store, 400);
	vb_store_close(store);
	g_assert_false(g_file_test(wal, G_FILE_TEST_EXISTS));
	g_assert_cmpint(file_size(f->path), >, 100 * 1024);
	return read_file(f->path);
}

/* what a crash leaves: the marker of an open store */
static void
mark_unclean(Fixture *f)
{
	g_autofree gchar *marker = g_strconcat(f->path, ".running", NULL);
	g_assert_true(g_file_set_contents(marker, "", 0, NULL));
}

static void
test_integrity_truncated(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) full = make_database(f);
	g_autoptr(GBytes) half = g_bytes_new_from_bytes(full, 0, g_bytes_get_size(full) / 2);

	write_file(f->path, half);
	mark_unclean(f);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*not closed cleanly*");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*INTEGRITY CHECK*");
	g_assert_false(vb_store_open(store, f->path, &error));
	g_test_assert_expected_messages();
	assert_quarantined(f, store, half, error);
}

static void
test_integrity_damaged_page(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) full = make_database(f);
	g_autoptr(GBytes) damaged = NULL;
	gsize len = 0;
	guint8 *data = g_bytes_unref_to_data(g_bytes_ref(full), &len);

	/* a stray write over the middle of the file */
	memset(data + len / 2, 0xa5, 4096);
	damaged = g_bytes_new_take(data, len);
	write_file(f->path, damaged);
	mark_unclean(f);

	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*not closed cleanly*");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*INTEGRITY CHECK*");
	g_assert_false(vb_store_open(store, f->path, &error));
	g_test_assert_expected_messages();
	assert_quarantined(f, store, damaged, error);
}

static void
test_integrity_no_overwrite(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) garbage = g_bytes_new_static("garbage, not sqlite", 19);
	g_autoptr(GBytes) earlier = g_bytes_new_static("an earlier quarantine", 21);
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autoptr(GPtrArray) taken = g_ptr_array_new_with_free_func(g_free);

	/* earlier quarantines of this second and the next two are already there */
	for (gint i = 0; i < 3; i++) {
		g_autoptr(GDateTime) when = g_date_time_add_seconds(now, i);
		g_autofree gchar *stamp = g_date_time_format(when, "%Y%m%dT%H%M%S");
		gchar *path = g_strdup_printf("%s.corrupt-%s", f->path, stamp);
		write_file(path, earlier);
		g_ptr_array_add(taken, path);
	}
	write_file(f->path, garbage);

	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*INTEGRITY CHECK*");
	g_assert_false(vb_store_open(store, f->path, &error));
	g_test_assert_expected_messages();
	assert_quarantined(f, store, garbage, error);
	for (guint i = 0; i < taken->len; i++) {
		g_autoptr(GBytes) kept = read_file(g_ptr_array_index(taken, i));
		g_assert_true(g_bytes_equal(kept, earlier));
		g_assert_cmpstr(vb_store_get_quarantined_path(store), !=,
				g_ptr_array_index(taken, i));
	}
}

static void
check_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **out = user_data;
	*out = g_object_ref(result);
}

/* runs the scheduled check as the daemon does, in its thread */
static gchar *
check_in_thread(VbStore *store, gint64 *duration_us)
{
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;
	gchar *problem = NULL;

	vb_store_check_integrity_async(store, NULL, check_done_cb, &result);
	while (result == NULL)
		g_main_context_iteration(NULL, TRUE);
	g_assert_true(
	    vb_store_check_integrity_finish(store, result, &problem, duration_us, &error));
	g_assert_no_error(error);
	return problem;
}

static GBytes *
damage_middle(GBytes *full)
{
	gsize len = 0;
	guint8 *data = g_bytes_unref_to_data(g_bytes_ref(full), &len);

	memset(data + len / 2, 0xa5, 4096);
	return g_bytes_new_take(data, len);
}

/* after a clean close the open does not read the whole file: damage deep in
 * it is found by the scheduled check, which then stops every write, keeps the
 * marker, and the next open checks and moves the file aside */
static void
test_integrity_clean_open_skips_check(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) full = make_database(f);
	g_autoptr(GBytes) damaged = damage_middle(full);
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autofree gchar *marker = g_strconcat(f->path, ".running", NULL);
	g_autofree gchar *problem = NULL;
	gint64 check_us = -1;

	g_assert_false(g_file_test(marker, G_FILE_TEST_EXISTS));
	write_file(f->path, damaged);
	g_assert_true(vb_store_open(store, f->path, &error));
	g_assert_no_error(error);
	g_assert_false(vb_store_get_unclean(store, &check_us));
	g_assert_cmpint(check_us, ==, 0);
	g_assert_true(g_file_test(marker, G_FILE_TEST_EXISTS));
	g_assert_null(vb_store_get_damage(store));

	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*INTEGRITY CHECK*no door opens*");
	problem = check_in_thread(store, NULL);
	g_test_assert_expected_messages();
	g_assert_nonnull(problem);
	g_assert_cmpstr(vb_store_get_damage(store), ==, problem);
	tx = vb_store_transaction_begin(store, &error);
	g_assert_null(tx);
	g_assert_error(error, VB_ERROR, VB_ERROR_STORE_CORRUPT);
	g_clear_error(&error);

	/* nothing was written into it; the marker stays for the next start */
	vb_store_close(store);
	g_assert_true(g_file_test(marker, G_FILE_TEST_EXISTS));
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*not closed cleanly*");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*INTEGRITY CHECK*");
	g_assert_false(vb_store_open(store, f->path, &error));
	g_test_assert_expected_messages();
	assert_quarantined(f, store, damaged, error);
	g_assert_false(g_file_test(marker, G_FILE_TEST_EXISTS));
}

/* damage a query meets before any check does stops every write at once, as
 * the check's finding would: the store is never written into again, so no
 * door opens, and the marker stays for the next start to move it aside */
static void
test_integrity_met_in_use(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) full = make_database(f);
	g_autoptr(GBytes) damaged = NULL;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autofree gchar *marker = g_strconcat(f->path, ".running", NULL);
	gsize len = 0;
	guint8 *data = g_bytes_unref_to_data(g_bytes_ref(full), &len);

	/* the last pages: audit rows, written after the schema */
	memset(data + len - 8 * 4096, 0xa5, 4 * 4096);
	damaged = g_bytes_new_take(data, len);
	write_file(f->path, damaged);
	g_assert_true(vb_store_open(store, f->path, &error));
	g_assert_no_error(error);
	g_assert_null(vb_store_get_damage(store));
	{
		g_autoptr(VbStoreStmt) stmt =
		    vb_store_prepare(store, "SELECT sum(length(payload)) FROM audit", &error);

		g_assert_no_error(error);
		g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ERROR);
		g_assert_error(error, VB_ERROR, VB_ERROR_STORE_CORRUPT);
		g_clear_error(&error);
	}
	g_assert_nonnull(vb_store_get_damage(store));
	tx = vb_store_transaction_begin(store, &error);
	g_assert_null(tx);
	g_assert_error(error, VB_ERROR, VB_ERROR_STORE_CORRUPT);
	g_clear_error(&error);
	vb_store_close(store);
	g_assert_true(g_file_test(marker, G_FILE_TEST_EXISTS));
}

/* a second vestibuled started by mistake finds the marker of a store in use:
 * it refuses to open the store, and neither checks it nor moves it aside under
 * the first one, which goes on */
static void
test_integrity_in_use_elsewhere(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) first = open_store(f->path);
	g_autoptr(VbStore) second = vb_store_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *marker = g_strconcat(f->path, ".running", NULL);

	fill_audit(first, 10);
	g_assert_false(vb_store_open(second, f->path, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_CONFLICT);
	g_assert_nonnull(strstr(error->message, "another process has the store open"));
	g_assert_null(vb_store_get_quarantined_path(second));
	g_assert_true(g_file_test(marker, G_FILE_TEST_EXISTS));
	fill_audit(first, 10);
	g_assert_cmpint(query_int(first, "SELECT count(*) FROM audit"), ==, 20);

	/* closed cleanly, the store is free, and not checked at the next open */
	vb_store_close(first);
	g_assert_false(g_file_test(marker, G_FILE_TEST_EXISTS));
	g_clear_error(&error);
	g_assert_true(vb_store_open(second, f->path, &error));
	g_assert_no_error(error);
	g_assert_false(vb_store_get_unclean(second, NULL));
}

/* a healthy store left open by a crash is checked at the next open, and
 * opens; the check in a thread passes too, and says how long it took */
static void
test_integrity_unclean_checks(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) full G_GNUC_UNUSED = make_database(f);
	g_autofree gchar *problem = NULL;
	gint64 check_us = 0;

	mark_unclean(f);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*not closed cleanly*");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*passed its integrity check*");
	g_assert_true(vb_store_open(store, f->path, &error));
	g_test_assert_expected_messages();
	g_assert_no_error(error);
	g_assert_true(vb_store_get_unclean(store, &check_us));
	g_assert_cmpint(check_us, >, 0);
	vb_store_close(store);

	g_assert_true(vb_store_open(store, f->path, &error));
	g_assert_false(vb_store_get_unclean(store, NULL));
	check_us = 0;
	problem = check_in_thread(store, &check_us);
	g_assert_null(problem);
	g_assert_cmpint(check_us, >, 0);
	g_assert_null(vb_store_get_damage(store));
}

/* deleted rows leave free pages; the incremental vacuum gives them back */
static void
test_vacuum_incremental(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	VbStorePages before, after;
	gint64 released = 0, n;

	fill_audit(store, 3000);
	g_assert_cmpint(
	    sqlite3_exec(vb_store_get_handle(store), "DELETE FROM audit", NULL, NULL, NULL), ==,
	    SQLITE_OK);
	g_assert_true(vb_store_get_pages(store, &before, &error));
	g_assert_true(before.incremental);
	g_assert_cmpint(before.freelist_count, >, 100);
	/* a few pages per transaction, as the upkeep does */
	while ((n = vb_store_incremental_vacuum(store, 32, &error)) > 0) {
		g_assert_cmpint(n, <=, 32);
		released += n;
	}
	g_assert_no_error(error);
	g_assert_true(vb_store_get_pages(store, &after, &error));
	g_assert_cmpint(after.freelist_count, ==, 0);
	g_assert_cmpint(released, ==, before.freelist_count);
	g_assert_cmpint(after.page_count, ==, before.page_count - before.freelist_count);
	g_assert_true(vb_store_checkpoint(store, &error));
	g_assert_cmpint(file_size(f->path), ==, after.page_count * after.page_size);
}

/* a small store made before incremental vacuum is converted at open */
static void
test_vacuum_convert_small(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(GError) error = NULL;
	sqlite3 *db = NULL;

	g_assert_cmpint(sqlite3_open(f->path, &db), ==, SQLITE_OK);
	g_assert_cmpint(
	    sqlite3_exec(db, "PRAGMA auto_vacuum = NONE; CREATE TABLE t (a)", NULL, NULL, NULL), ==,
	    SQLITE_OK);
	sqlite3_close(db);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*converted*incremental vacuum*");
	g_assert_true(vb_store_open(store, f->path, &error));
	g_test_assert_expected_messages();
	g_assert_no_error(error);
	g_assert_cmpint(query_int(store, "PRAGMA auto_vacuum"), ==, 2);
}

static void
test_audit_prune(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) rows = NULL;
	gint64 now = g_get_real_time();
	gint64 day = (gint64)24 * 60 * 60 * G_USEC_PER_SEC;

	for (guint i = 0; i < 5; i++) {
		g_autoptr(VbEvent) e =
		    vb_event_new(VB_EVENT_DOOR_OPENED, "sim-lock", "front", NULL);
		g_assert_true(vb_audit_append(store, e, "{}", &error));
		g_assert_no_error(error);
	}
	/* the first three were written 100, 50 and 10 days ago */
	{
		const gint64 ages[] = {100, 50, 10};
		for (guint i = 0; i < G_N_ELEMENTS(ages); i++) {
			g_autoptr(VbStoreStmt) st = vb_store_prepare(
			    store, "UPDATE audit SET real = ?1 WHERE seq = ?2", &error);
			g_assert_no_error(error);
			vb_store_stmt_bind_int64(st, 1, now - ages[i] * day);
			vb_store_stmt_bind_int64(st, 2, (gint64)i + 1);
			g_assert_true(vb_store_stmt_exec(st, &error));
		}
	}
	/* a 30-day retention removes the two oldest, keeps the rest; a batch of
	 * one removes one at a time, the oldest first */
	g_assert_cmpint(vb_audit_prune(store, now - 30 * day, 1, &error), ==, 1);
	g_assert_cmpint(query_int(store, "SELECT min(seq) FROM audit"), ==, 2);
	g_assert_cmpint(vb_audit_prune(store, now - 30 * day, 1, &error), ==, 1);
	g_assert_no_error(error);
	rows = vb_audit_list(store, 0, 0, &error);
	g_assert_cmpuint(rows->len, ==, 3);
	g_clear_pointer(&rows, g_ptr_array_unref);
	g_assert_cmpint(vb_audit_prune(store, now - 30 * day, 0, &error), ==, 0);
	/* a cut-off after every row empties the log */
	g_assert_cmpint(vb_audit_prune(store, now + day, 0, &error), ==, 3);
	rows = vb_audit_list(store, 0, 0, &error);
	g_assert_cmpuint(rows->len, ==, 0);
}

static void
test_audit_append_list(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) rows = NULL;
	g_autoptr(VbEvent) e1 = vb_event_new(VB_EVENT_CARD_PRESENTED, "sim-reader", "front", NULL);
	g_autoptr(VbEvent) e2 = vb_event_new(VB_EVENT_DOOR_UNLOCKED, "sim-lock", "front", NULL);
	g_autoptr(VbEvent) e3 = vb_event_new(VB_EVENT_DAEMON_READY, "core", NULL, NULL);
	VbEvent *events[] = {e1, e2, e3};
	guint64 seq[3] = {0};

	g_assert_true(vb_audit_append(store, e1, "{\"last4\":\"4242\"}", &error));
	g_assert_true(vb_audit_append(store, e2, "{}", &error));
	g_assert_true(vb_audit_append(store, e3, NULL, &error));
	g_assert_no_error(error);

	rows = vb_audit_list(store, 0, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(rows->len, ==, 3);
	for (guint i = 0; i < 3; i++) {
		GVariant *row = g_ptr_array_index(rows, 2 - i);
		VbEvent *event = events[i];
		const gchar *text = NULL;
		gint64 value = 0;

		g_assert_true(g_variant_is_of_type(row, G_VARIANT_TYPE_VARDICT));
		g_assert_true(g_variant_lookup(row, "seq", "t", &seq[i]));
		g_assert_true(g_variant_lookup(row, "name", "&s", &text));
		g_assert_cmpstr(text, ==, vb_event_get_name(event));
		g_assert_true(g_variant_lookup(row, "source", "&s", &text));
		g_assert_cmpstr(text, ==, vb_event_get_source(event));
		g_assert_true(g_variant_lookup(row, "door", "&s", &text));
		g_assert_cmpstr(text, ==, i == 2 ? "" : "front");
		g_assert_true(g_variant_lookup(row, "mono", "x", &value));
		g_assert_cmpint(value, ==, vb_event_get_monotonic_time(event));
		g_assert_true(g_variant_lookup(row, "real", "x", &value));
		g_assert_cmpint(value, ==, vb_event_get_real_time(event));
		g_assert_true(g_variant_lookup(row, "payload", "&s", &text));
		g_assert_cmpstr(text, ==, i == 0 ? "{\"last4\":\"4242\"}" : i == 1 ? "{}" : "");
	}
	g_assert_cmpuint(seq[0], <, seq[1]);
	g_assert_cmpuint(seq[1], <, seq[2]);
	g_clear_pointer(&rows, g_ptr_array_unref);

	/* newer than what a reader already has */
	rows = vb_audit_list(store, seq[0], 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(rows->len, ==, 2);
	g_clear_pointer(&rows, g_ptr_array_unref);

	/* the newest one only */
	rows = vb_audit_list(store, 0, 1, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(rows->len, ==, 1);
	{
		guint64 newest = 0;
		g_assert_true(g_variant_lookup(g_ptr_array_index(rows, 0), "seq", "t", &newest));
		g_assert_cmpuint(newest, ==, seq[2]);
	}
}

static void
test_tokens(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) tokens = NULL;
	g_autofree gchar *upper = g_ascii_strup(HASH_A, -1);
	gchar *name;
	const gchar *text = NULL;

	g_assert_true(vb_store_token_add(store, "dashboard", "read", HASH_A, &error));
	g_assert_no_error(error);

	name = vb_store_token_lookup(store, HASH_A, "read", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(name, ==, "dashboard");
	g_free(name);
	name = vb_store_token_lookup(store, upper, "read", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(name, ==, "dashboard");
	g_free(name);

	/* the wrong scope or an unknown token finds nothing, and is not an error */
	name = vb_store_token_lookup(store, HASH_A, "admin", &error);
	g_assert_no_error(error);
	g_assert_null(name);
	name = vb_store_token_lookup(store, HASH_B, "read", &error);
	g_assert_no_error(error);
	g_assert_null(name);

	/* only the hash is kept */
	g_assert_cmpint(
	    query_int(store, "SELECT COUNT(*) FROM api_tokens WHERE hash = '" HASH_A "'"), ==, 1);

	g_assert_false(vb_store_token_add(store, "dashboard", "admin", HASH_B, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_CONFLICT);
	g_assert_nonnull(strstr(error->message, "dashboard"));
	g_clear_error(&error);
	g_assert_false(vb_store_token_add(store, "other", "admin", HASH_A, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_CONFLICT);
	g_clear_error(&error);
	g_assert_false(vb_store_token_add(store, "short", "admin", "abc123", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_clear_error(&error);
	g_assert_false(vb_store_token_add(store, "", "admin", HASH_B, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_clear_error(&error);

	g_assert_true(vb_store_token_add(store, "ops", "admin", HASH_B, &error));
	g_assert_no_error(error);
	tokens = vb_store_token_list(store, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(tokens->len, ==, 2);
	g_assert_true(g_variant_lookup(g_ptr_array_index(tokens, 0), "name", "&s", &text));
	g_assert_cmpstr(text, ==, "dashboard");
	g_assert_true(g_variant_lookup(g_ptr_array_index(tokens, 1), "scope", "&s", &text));
	g_assert_cmpstr(text, ==, "admin");
	g_assert_false(g_variant_lookup(g_ptr_array_index(tokens, 1), "hash", "&s", &text));

	g_assert_true(vb_store_token_remove(store, "dashboard", &error));
	g_assert_no_error(error);
	name = vb_store_token_lookup(store, HASH_A, "read", &error);
	g_assert_no_error(error);
	g_assert_null(name);
	g_assert_false(vb_store_token_remove(store, "dashboard", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
}

static void
test_visits_list(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) visits = NULL;
	const gchar *text = NULL;
	gint64 created = 0;

	exec_sql(
	    store,
	    "INSERT INTO visits (id, door, state, card_token, first6, last4, created, updated) "
	    "VALUES ('v1', 'front', 'settled', 'tok', '424242', '4242', 100, 300)");
	exec_sql(
	    store,
	    "INSERT INTO visits (id, state, created, updated) VALUES ('v2', 'started', 200, 200)");

	visits = vb_visit_list(store, 0, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(visits->len, ==, 2);
	g_assert_true(g_variant_lookup(g_ptr_array_index(visits, 0), "id", "&s", &text));
	g_assert_cmpstr(text, ==, "v2");
	g_assert_true(g_variant_lookup(g_ptr_array_index(visits, 0), "door", "&s", &text));
	g_assert_cmpstr(text, ==, "");
	g_assert_true(g_variant_lookup(g_ptr_array_index(visits, 0), "last4", "&s", &text));
	g_assert_cmpstr(text, ==, "");
	g_assert_true(g_variant_lookup(g_ptr_array_index(visits, 1), "first6", "&s", &text));
	g_assert_cmpstr(text, ==, "424242");
	g_assert_true(g_variant_lookup(g_ptr_array_index(visits, 1), "state", "&s", &text));
	g_assert_cmpstr(text, ==, "settled");
	g_assert_true(g_variant_lookup(g_ptr_array_index(visits, 1), "created", "x", &created));
	g_assert_cmpint(created, ==, 100);
	g_assert_false(g_variant_lookup(g_ptr_array_index(visits, 1), "card_token", "&s", &text));
	g_clear_pointer(&visits, g_ptr_array_unref);

	visits = vb_visit_list(store, 1, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(visits->len, ==, 1);
}

/* the id of row @i of @visits */
static const gchar *
visit_id_at(GPtrArray *visits, guint i)
{
	const gchar *id = NULL;
	g_assert_true(g_variant_lookup(g_ptr_array_index(visits, i), "id", "&s", &id));
	return id;
}

/* a page goes on where the one before ended, visits of the same time
 * included, and an unknown cursor is an error, not an empty page */
static void
test_visits_list_pages(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) page = NULL;
	g_autoptr(GString) order = g_string_new(NULL);
	g_autofree gchar *cursor = NULL;

	/* v3 and v4 were created in the same microsecond: the later row first */
	exec_sql(store, "INSERT INTO visits (id, state, created, updated) VALUES "
			"('v1', 'settled', 100, 100), ('v2', 'settled', 200, 200), "
			"('v3', 'settled', 300, 300), ('v4', 'settled', 300, 300), "
			"('v5', 'settled', 400, 400)");
	for (guint n = 0; n < 4; n++) {
		g_clear_pointer(&page, g_ptr_array_unref);
		page = vb_visit_list(store, 2, cursor, &error);
		g_assert_no_error(error);
		if (page->len == 0)
			break;
		for (guint i = 0; i < page->len; i++)
			g_string_append_printf(order, "%s ", visit_id_at(page, i));
		g_free(cursor);
		cursor = g_strdup(visit_id_at(page, page->len - 1));
	}
	g_assert_cmpstr(order->str, ==, "v5 v4 v3 v2 v1 ");

	g_clear_pointer(&page, g_ptr_array_unref);
	page = vb_visit_list(store, 2, "v-none", &error);
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
	g_assert_null(page);
}

static void
test_checkpoint(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbStore) store = open_store(f->path);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *wal = g_strconcat(f->path, "-wal", NULL);

	fill_audit(store, 50);
	g_assert_cmpint(file_size(wal), >, 0);
	g_assert_true(vb_store_checkpoint(store, &error));
	g_assert_no_error(error);
	g_assert_cmpint(file_size(wal), ==, 0);
	g_assert_cmpint(query_int(store, "SELECT COUNT(*) FROM audit"), ==, 50);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("/store/open/wal-and-pragmas", test_open_wal_and_pragmas);
	ADD("/store/open/file-mode", test_open_file_mode);
	ADD("/store/open/twice", test_open_twice);
	ADD("/store/transaction/no-sync", test_transaction_no_sync);
	ADD("/store/transaction/sync-after-unsynced", test_sync_after_unsynced);
	ADD("/store/transaction/after-commit", test_transaction_after_commit);
	ADD("/store/checkpoint/when-idle", test_checkpoint_when_idle);
	ADD("/store/migrate/every-version", test_migrate_every_version);
	ADD("/store/migrate/keeps-v1-data", test_migrate_keeps_v1_data);
	ADD("/store/migrate/future-refused", test_migrate_future_refused);
	ADD("/store/migrate/atomic", test_migrate_atomic);
	ADD("/store/namespace/create-and-reopen", test_namespace_create_and_reopen);
	ADD("/store/namespace/failing-step", test_namespace_failing_step);
	ADD("/store/namespace/outside-refused", test_namespace_outside_refused);
	ADD("/store/namespace/bad-names", test_namespace_bad_names);
	ADD("/store/stmt/cache-reuse", test_stmt_cache_reuse);
	ADD("/store/stmt/nested-borrow", test_stmt_nested_borrow);
	ADD("/store/stmt/errors", test_stmt_errors);
	ADD("/store/stmt/busy", test_stmt_busy);
	ADD("/store/stmt/borrowed-at-close", test_stmt_borrowed_at_close);
	ADD("/store/transaction/rollback-on-free", test_transaction_rollback_on_free);
	ADD("/store/transaction/nested", test_transaction_nested);
	ADD("/store/integrity/garbage", test_integrity_garbage);
	ADD("/store/integrity/truncated", test_integrity_truncated);
	ADD("/store/integrity/damaged-page", test_integrity_damaged_page);
	ADD("/store/integrity/met-in-use", test_integrity_met_in_use);
	ADD("/store/integrity/in-use-elsewhere", test_integrity_in_use_elsewhere);
	ADD("/store/integrity/no-overwrite", test_integrity_no_overwrite);
	ADD("/store/integrity/clean-open-skips-check", test_integrity_clean_open_skips_check);
	ADD("/store/integrity/unclean-checks", test_integrity_unclean_checks);
	ADD("/store/vacuum/incremental", test_vacuum_incremental);
	ADD("/store/vacuum/convert-small", test_vacuum_convert_small);
	ADD("/store/audit/append-list", test_audit_append_list);
	ADD("/store/audit/prune", test_audit_prune);
	ADD("/store/tokens", test_tokens);
	ADD("/store/visits/list", test_visits_list);
	ADD("/store/visits/list-pages", test_visits_list_pages);
	ADD("/store/checkpoint", test_checkpoint);
#undef ADD

	return g_test_run();
}
