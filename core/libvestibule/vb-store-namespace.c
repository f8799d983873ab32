/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* plugins' namespaces: their own tables, created and migrated under an
 * authorizer that keeps each inside its prefix */

#include "config.h"

#include <string.h>

#include "vb-error.h"
#include "vb-store-internal.h"

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
