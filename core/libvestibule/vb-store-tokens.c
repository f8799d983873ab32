/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* bearer tokens of the HTTP API: only their hashes are stored */

#include "config.h"

#include <string.h>

#include "vb-error.h"
#include "vb-store-internal.h"

static const gchar *
vb_store_column_text_or_empty(VbStoreStmt *stmt, gint col)
{
	const gchar *text = vb_store_stmt_column_text(stmt, col);
	return text != NULL ? text : "";
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
