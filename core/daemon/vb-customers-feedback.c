/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* what shoppers text back: stored redacted, listed for operators, marked
 * handled */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "vb-customers-internal.h"
#include "vb-error.h"
#include "vb-privacy.h"

/* feedback */

/* 0 on error. The body is stored redacted: a shopper who texts a card number
 * or another phone number must not put it in the database in clear */
gint64
vb_customers_add_feedback(VbCustomers *self,
			  gint64 customer_id,
			  const gchar *visit_id,
			  const gchar *body,
			  GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *redacted = NULL;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), 0);
	g_return_val_if_fail(body != NULL, 0);
	g_return_val_if_fail(error == NULL || *error == NULL, 0);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return 0;
	redacted = vb_redact_text(body);
	stmt = vb_store_prepare(store,
				"INSERT INTO feedback (visit_id, customer_id, received, body) "
				"VALUES (?1, ?2, ?3, ?4)",
				error);
	if (stmt == NULL) {
		g_prefix_error(error, _("cannot record feedback: "));
		return 0;
	}
	vb_store_stmt_bind_text(stmt, 1, visit_id);
	if (customer_id != 0)
		vb_store_stmt_bind_int64(stmt, 2, customer_id);
	else
		vb_store_stmt_bind_null(stmt, 2);
	vb_store_stmt_bind_int64(stmt, 3, vb_customers_now(self));
	vb_store_stmt_bind_text(stmt, 4, redacted);
	if (!vb_store_stmt_exec(stmt, error)) {
		g_prefix_error(error, _("cannot record feedback: "));
		return 0;
	}
	return vb_store_last_insert_rowid(store);
}

/* newest first; visit and phone are "" when unknown */
GPtrArray *
vb_customers_list_feedback(VbCustomers *self, gboolean unhandled_only, GError **error)
{
	VbStore *store;
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return NULL;
	stmt = vb_store_prepare(store,
				"SELECT f.id, COALESCE(f.visit_id, ''), "
				"COALESCE(c.phone_masked, ''), f.received, f.body, f.handled "
				"FROM feedback f LEFT JOIN customers c ON c.id = f.customer_id "
				"WHERE ?1 = 0 OR f.handled = 0 ORDER BY f.id DESC",
				error);
	if (stmt == NULL) {
		g_prefix_error(error, _("cannot list feedback: "));
		return NULL;
	}
	vb_store_stmt_bind_int64(stmt, 1, unhandled_only ? 1 : 0);
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		GVariantDict dict;

		g_variant_dict_init(&dict, NULL);
		g_variant_dict_insert(&dict, "id", "x", vb_store_stmt_column_int64(stmt, 0));
		g_variant_dict_insert(&dict, "visit", "s", vb_store_stmt_column_text(stmt, 1));
		g_variant_dict_insert(&dict, "phone", "s", vb_store_stmt_column_text(stmt, 2));
		g_variant_dict_insert(&dict, "received", "x", vb_store_stmt_column_int64(stmt, 3));
		g_variant_dict_insert(&dict, "body", "s", vb_store_stmt_column_text(stmt, 4));
		g_variant_dict_insert(&dict, "handled", "b",
				      vb_store_stmt_column_int64(stmt, 5) != 0);
		g_ptr_array_add(rows, g_variant_ref_sink(g_variant_dict_end(&dict)));
	}
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, _("cannot list feedback: "));
		return NULL;
	}
	return g_steal_pointer(&rows);
}

gboolean
vb_customers_mark_feedback(VbCustomers *self, gint64 id, gboolean handled, GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreStmt) stmt = NULL;
	gint changes;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return FALSE;
	stmt = vb_store_prepare(store, "UPDATE feedback SET handled = ?2 WHERE id = ?1", error);
	if (stmt == NULL) {
		g_prefix_error(error, _("cannot mark feedback: "));
		return FALSE;
	}
	vb_store_stmt_bind_int64(stmt, 1, id);
	vb_store_stmt_bind_int64(stmt, 2, handled ? 1 : 0);
	changes = vb_customers_exec_changes(store, stmt, error);
	if (changes < 0) {
		g_prefix_error(error, _("cannot mark feedback: "));
		return FALSE;
	}
	if (changes == 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    _("there is no feedback %lld; list it with 'vestibulectl feedback'"),
			    (long long)id);
		return FALSE;
	}
	return TRUE;
}
