/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the latest visits as `vestibulectl visits` lists them: no card token, no
 * customer. It needs nothing of the manager, only the store */

#include "config.h"

#include "vb-error.h"
#include "vb-visit-manager-private.h"

static const gchar *
vb_visit_text_or_empty(VbStoreStmt *stmt, gint col)
{
	const gchar *text = vb_store_stmt_column_text(stmt, col);
	return text != NULL ? text : "";
}

/* where the page before @id ends: the visit's place in the listing's order */
static gboolean
vb_visit_list_cursor(VbStore *store,
		     const gchar *id,
		     gint64 *created,
		     gint64 *rowid,
		     GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	stmt = vb_store_prepare(store, "SELECT created, rowid FROM visits WHERE id = ?1", error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, id);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return FALSE;
	if (step != VB_STORE_STEP_ROW) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    "no visit %s: page on with the id of the last visit of the page "
			    "before (its \"next\")",
			    id);
		return FALSE;
	}
	*created = vb_store_stmt_column_int64(stmt, 0);
	*rowid = vb_store_stmt_column_int64(stmt, 1);
	return TRUE;
}

GPtrArray *
vb_visit_list(VbStore *store, guint limit, const gchar *before, GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;
	gint64 created = G_MAXINT64;
	gint64 rowid = G_MAXINT64;
	const gchar *keys[] = {"id", "door", "state", "first6", "last4"};

	g_return_val_if_fail(VB_IS_STORE(store), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (before != NULL && !vb_visit_list_cursor(store, before, &created, &rowid, error)) {
		g_prefix_error(error, "cannot list visits: ");
		return NULL;
	}
	/* a page starts where the one before ended, found in the index of
	 * (created, rowid): as fast half a year deep as on the first page, where
	 * an OFFSET would read every visit it skips */
	stmt =
	    vb_store_prepare(store,
			     "SELECT id, door, state, first6, last4, created, updated FROM visits "
			     "WHERE (created, rowid) < (?2, ?3) "
			     "ORDER BY created DESC, rowid DESC LIMIT ?1",
			     error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot list visits: ");
		return NULL;
	}
	vb_store_stmt_bind_int64(stmt, 1, limit > 0 ? (gint64)limit : -1);
	vb_store_stmt_bind_int64(stmt, 2, created);
	vb_store_stmt_bind_int64(stmt, 3, rowid);
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		GVariantBuilder builder;
		g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
		for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
			const gchar *text = vb_visit_text_or_empty(stmt, i);
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
