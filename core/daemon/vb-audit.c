/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the audit log: every bus event, redacted, in the store's audit table, which
 * `vestibulectl events` reads. The daemon's table, written through the SDK's
 * statements like any other */

#include "config.h"

#include "vb-audit-private.h"

static const gchar *
vb_audit_text_or_empty(VbStoreStmt *stmt, gint col)
{
	const gchar *text = vb_store_stmt_column_text(stmt, col);
	return text != NULL ? text : "";
}

gboolean
vb_audit_append(VbStore *store, VbEvent *event, const gchar *payload_json, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	g_return_val_if_fail(VB_IS_STORE(store), FALSE);
	g_return_val_if_fail(event != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = vb_store_prepare(store,
				"INSERT INTO audit (seq, name, source, door, mono, real, payload) "
				"VALUES (?7, ?1, ?2, ?3, ?4, ?5, ?6)",
				error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot append to the audit log: ");
		return FALSE;
	}
	vb_store_stmt_bind_text(stmt, 1, vb_event_get_name(event));
	vb_store_stmt_bind_text(stmt, 2, vb_event_get_source(event));
	vb_store_stmt_bind_text(stmt, 3, vb_event_get_door(event));
	vb_store_stmt_bind_int64(stmt, 4, vb_event_get_monotonic_time(event));
	vb_store_stmt_bind_int64(stmt, 5, vb_event_get_real_time(event));
	vb_store_stmt_bind_text(stmt, 6, payload_json);
	/* the bus's number, so that the log and the live stream agree; an event
	 * never emitted gets the table's next */
	if (vb_event_get_sequence(event) > 0)
		vb_store_stmt_bind_int64(stmt, 7, (gint64)vb_event_get_sequence(event));
	else
		vb_store_stmt_bind_null(stmt, 7);
	if (!vb_store_stmt_exec(stmt, error)) {
		g_prefix_error(error, "cannot append to the audit log: ");
		return FALSE;
	}
	return TRUE;
}

GPtrArray *
vb_audit_list(VbStore *store, guint64 after_seq, guint limit, GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_STORE(store), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	stmt = vb_store_prepare(store,
				"SELECT seq, name, source, door, mono, real, payload FROM audit "
				"WHERE seq > ?1 ORDER BY seq DESC LIMIT ?2",
				error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot list the audit log: ");
		return NULL;
	}
	vb_store_stmt_bind_int64(stmt, 1, (gint64)MIN(after_seq, (guint64)G_MAXINT64));
	vb_store_stmt_bind_int64(stmt, 2, limit > 0 ? (gint64)limit : -1);
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		GVariantBuilder builder;
		g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
		g_variant_builder_add(&builder, "{sv}", "seq",
				      g_variant_new_uint64(vb_store_stmt_column_int64(stmt, 0)));
		g_variant_builder_add(&builder, "{sv}", "name",
				      g_variant_new_string(vb_audit_text_or_empty(stmt, 1)));
		g_variant_builder_add(&builder, "{sv}", "source",
				      g_variant_new_string(vb_audit_text_or_empty(stmt, 2)));
		g_variant_builder_add(&builder, "{sv}", "door",
				      g_variant_new_string(vb_audit_text_or_empty(stmt, 3)));
		g_variant_builder_add(&builder, "{sv}", "mono",
				      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 4)));
		g_variant_builder_add(&builder, "{sv}", "real",
				      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 5)));
		g_variant_builder_add(&builder, "{sv}", "payload",
				      g_variant_new_string(vb_audit_text_or_empty(stmt, 6)));
		g_ptr_array_add(rows, g_variant_ref_sink(g_variant_builder_end(&builder)));
	}
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, "cannot list the audit log: ");
		return NULL;
	}
	return g_steal_pointer(&rows);
}

/* deletes at most @limit of the audit rows written before @before_real (µs
 * since the epoch), the oldest first. Rows are in time order by seq, so the
 * first row to keep is found by walking from the oldest: the cost is that of
 * the rows deleted, with no index on time */
gint64
vb_audit_prune(VbStore *store, gint64 before_real, guint limit, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	g_return_val_if_fail(VB_IS_STORE(store), -1);
	g_return_val_if_fail(error == NULL || *error == NULL, -1);

	stmt = vb_store_prepare(store,
				"DELETE FROM audit WHERE seq < min("
				"(SELECT min(seq) FROM audit) + ?2, coalesce("
				"(SELECT seq FROM audit WHERE real >= ?1 ORDER BY seq LIMIT 1), "
				"(SELECT max(seq) + 1 FROM audit)))",
				error);
	if (stmt != NULL) {
		vb_store_stmt_bind_int64(stmt, 1, before_real);
		vb_store_stmt_bind_int64(stmt, 2, limit > 0 ? (gint64)limit : G_MAXINT32);
	}
	if (stmt == NULL || !vb_store_stmt_exec(stmt, error)) {
		g_prefix_error(error, "cannot prune the audit log: ");
		return -1;
	}
	return vb_store_changes(store);
}
