/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "vb-context-private.h"
#include "vb-crypto-private.h"
#include "vb-error.h"
#include "vb-events.h"
#include "vb-visit-private.h"

/*
 * The visit's record, which every step writes through: its row, its state
 * changes with their timeline entries, and the SMS and payment operations it
 * queues in the outbox. Each function works in the caller's transaction,
 * except vb_visit_commit_state(); none decides anything about the visit.
 */

/* the store */

gchar *
vb_visit_new_id(void)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree gchar *stamp = g_date_time_format(now, "%Y%m%dT%H%M%S");
	g_autofree gchar *rand = vb_crypto_random_token(6);
	return g_strdup_printf("v-%s-%s", stamp, rand);
}

typedef struct {
	VbBus *bus;
	GVariant *payload;
} VbVisitStateEvent;

static void
vb_visit_state_event_free(VbVisitStateEvent *call)
{
	g_object_unref(call->bus);
	g_variant_unref(call->payload);
	g_free(call);
}

static void
vb_visit_state_event_emit(gpointer data)
{
	VbVisitStateEvent *call = data;
	/* the event takes a reference of its own */
	vb_bus_emit_simple(call->bus, NULL, NULL, VB_EVENT_VISIT_STATE, call->payload);
}

gboolean
vb_visit_set_state(VbVisitManager *self,
		   const gchar *visit_id,
		   const gchar *state,
		   const gchar *detail,
		   GError **error)
{
	g_autoptr(VbStoreStmt) update = NULL;
	g_autoptr(VbStoreStmt) timeline = NULL;
	gint64 now = g_get_real_time();
	GVariantDict dict;
	VbVisitStateEvent *call;

	update = vb_store_prepare(
	    self->store, "UPDATE visits SET state = ?2, updated = ?3 WHERE id = ?1", error);
	if (update == NULL)
		return FALSE;
	vb_store_stmt_bind_text(update, 1, visit_id);
	vb_store_stmt_bind_text(update, 2, state);
	vb_store_stmt_bind_int64(update, 3, now);
	if (!vb_store_stmt_exec(update, error))
		return FALSE;
	timeline = vb_store_prepare(self->store,
				    "INSERT INTO visit_timeline (visit_id, time, state, detail) "
				    "VALUES (?1, ?2, ?3, ?4)",
				    error);
	if (timeline == NULL)
		return FALSE;
	vb_store_stmt_bind_text(timeline, 1, visit_id);
	vb_store_stmt_bind_int64(timeline, 2, now);
	vb_store_stmt_bind_text(timeline, 3, state);
	vb_store_stmt_bind_text(timeline, 4, detail);
	if (!vb_store_stmt_exec(timeline, error))
		return FALSE;

	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, VB_KEY_VISIT, "s", visit_id);
	g_variant_dict_insert(&dict, VB_KEY_STATE, "s", state);
	if (detail != NULL)
		g_variant_dict_insert(&dict, VB_KEY_ERROR, "s", detail);
	/* the bus hears of the state once it is stored, never of one rolled back */
	call = g_new0(VbVisitStateEvent, 1);
	call->bus = g_object_ref(vb_context_get_bus(self->context));
	call->payload = g_variant_ref_sink(g_variant_dict_end(&dict));
	vb_store_after_commit(self->store, vb_visit_state_event_emit, call,
			      (GDestroyNotify)vb_visit_state_event_free);
	return TRUE;
}

/* a state change on its own, committed before the door acts on it */
gboolean
vb_visit_commit_state(VbVisitManager *self,
		      const gchar *visit_id,
		      const gchar *state,
		      const gchar *detail)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;

	tx = vb_store_transaction_begin(self->store, &error);
	if (tx == NULL || !vb_visit_set_state(self, visit_id, state, detail, &error) ||
	    !vb_store_transaction_commit(tx, &error)) {
		vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
				 "cannot record that visit %s is %s: %s", visit_id, state,
				 error->message);
		return FALSE;
	}
	return TRUE;
}

gboolean
vb_visit_set_int(VbVisitManager *self,
		 const gchar *visit_id,
		 const gchar *column_sql,
		 gint64 value,
		 GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(self->store, column_sql, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, visit_id);
	vb_store_stmt_bind_int64(stmt, 2, value);
	return vb_store_stmt_exec(stmt, error);
}

gboolean
vb_visit_set_text(VbVisitManager *self,
		  const gchar *visit_id,
		  const gchar *column_sql,
		  const gchar *value,
		  GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(self->store, column_sql, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, visit_id);
	vb_store_stmt_bind_text(stmt, 2, value);
	return vb_store_stmt_exec(stmt, error);
}

/* the outbox */

gboolean
vb_visit_enqueue_sms(VbVisitManager *self,
		     const gchar *visit_id,
		     gint64 customer_id,
		     VbSmsTemplate template_,
		     const gchar *language,
		     const gchar *key,
		     GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) payload = NULL;
	g_autofree gchar *recipient = g_strdup_printf("customer:%" G_GINT64_FORMAT, customer_id);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "customer");
	json_builder_add_int_value(builder, customer_id);
	json_builder_set_member_name(builder, "template");
	json_builder_add_string_value(builder, vb_sms_template_to_string(template_));
	json_builder_set_member_name(builder, "language");
	json_builder_add_string_value(builder, language);
	json_builder_set_member_name(builder, "visit");
	json_builder_add_string_value(builder, visit_id);
	json_builder_end_object(builder);
	payload = json_builder_get_root(builder);
	return vb_outbox_enqueue(self->outbox, "sms", recipient, key, payload, visit_id, error) > 0;
}

/* one payment operation on a visit's hold, through the outbox; captures and
 * cancels are retried until the processor answers */
gboolean
vb_visit_enqueue_payment(VbVisitManager *self,
			 const gchar *visit_id,
			 const gchar *op,
			 gint64 amount,
			 const gchar *key_suffix,
			 GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) payload = NULL;
	g_autofree gchar *key = g_strdup_printf("%s:%s", visit_id, key_suffix);
	g_autofree gchar *recipient = g_strdup_printf("payment:%s", visit_id);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "op");
	json_builder_add_string_value(builder, op);
	json_builder_set_member_name(builder, "visit");
	json_builder_add_string_value(builder, visit_id);
	json_builder_set_member_name(builder, "amount");
	json_builder_add_int_value(builder, amount);
	json_builder_end_object(builder);
	payload = json_builder_get_root(builder);
	return vb_outbox_enqueue(self->outbox, "payment", recipient, key, payload, visit_id,
				 error) > 0;
}

/* the visit row */

void
vb_visit_row_free(VbVisitRow *row)
{
	g_free(row->id);
	g_free(row->state);
	g_free(row->door);
	g_free(row->card_token);
	g_free(row->first6);
	g_free(row->last4);
	g_free(row->language);
	g_free(row->currency);
	g_free(row->psp_reference);
	g_free(row->order_hash);
	g_free(row->order_json);
	g_free(row->settlement);
	g_free(row);
}

static gchar *
vb_column_dup(VbStoreStmt *stmt, gint col)
{
	return vb_store_stmt_column_is_null(stmt, col)
		   ? NULL
		   : g_strdup(vb_store_stmt_column_text(stmt, col));
}

VbVisitRow *
vb_visit_row_from_stmt(VbStoreStmt *stmt)
{
	VbVisitRow *row = g_new0(VbVisitRow, 1);
	row->id = vb_column_dup(stmt, 0);
	row->state = vb_column_dup(stmt, 1);
	row->door = vb_column_dup(stmt, 2);
	row->card_token = vb_column_dup(stmt, 3);
	row->first6 = vb_column_dup(stmt, 4);
	row->last4 = vb_column_dup(stmt, 5);
	row->customer_id = vb_store_stmt_column_int64(stmt, 6);
	row->language = vb_column_dup(stmt, 7);
	row->currency = vb_column_dup(stmt, 8);
	row->hold_amount = vb_store_stmt_column_int64(stmt, 9);
	row->psp_reference = vb_column_dup(stmt, 10);
	row->capture_deadline = vb_store_stmt_column_int64(stmt, 11);
	row->order_hash = vb_column_dup(stmt, 12);
	row->order_json = vb_column_dup(stmt, 13);
	row->total = vb_store_stmt_column_int64(stmt, 14);
	row->captured = vb_store_stmt_column_int64(stmt, 15);
	row->settlement = vb_column_dup(stmt, 16);
	row->receipt_expires = vb_store_stmt_column_int64(stmt, 17);
	row->created = vb_store_stmt_column_int64(stmt, 18);
	row->updated = vb_store_stmt_column_int64(stmt, 19);
	return row;
}

VbVisitRow *
vb_visit_row_load(VbVisitManager *self, const gchar *column, const gchar *value, GError **error)
{
	/* SQL is never built at run time: one literal per lookup */
	const gchar *sql = g_strcmp0(column, "receipt_hash") == 0
			       ? "SELECT " VB_VISIT_COLUMNS " FROM visits WHERE receipt_hash = ?1"
			       : "SELECT " VB_VISIT_COLUMNS " FROM visits WHERE id = ?1";
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(g_strcmp0(column, "id") == 0 || g_strcmp0(column, "receipt_hash") == 0,
			     NULL);
	stmt = vb_store_prepare(self->store, sql, error);
	if (stmt == NULL)
		return NULL;
	vb_store_stmt_bind_text(stmt, 1, value);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return NULL;
	if (step == VB_STORE_STEP_DONE) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND, _("no such visit"));
		return NULL;
	}
	return vb_visit_row_from_stmt(stmt);
}

/* reading visits */

GVariant *
vb_visit_manager_get_visit(VbVisitManager *self, const gchar *visit_id, GError **error)
{
	g_autoptr(VbVisitRow) row = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *phone = NULL;
	GVariantBuilder timeline;
	GVariantDict dict;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_VISIT_MANAGER(self), NULL);
	row = vb_visit_row_load(self, "id", visit_id, error);
	if (row == NULL)
		return NULL;
	stmt =
	    vb_store_prepare(self->store,
			     "SELECT time, state, detail FROM visit_timeline WHERE visit_id = ?1 "
			     "ORDER BY id",
			     error);
	if (stmt == NULL)
		return NULL;
	vb_store_stmt_bind_text(stmt, 1, visit_id);
	g_variant_builder_init(&timeline, G_VARIANT_TYPE("aa{sv}"));
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		GVariantDict entry;
		g_variant_dict_init(&entry, NULL);
		g_variant_dict_insert(&entry, "time", "x", vb_store_stmt_column_int64(stmt, 0));
		g_variant_dict_insert(&entry, "state", "s", vb_store_stmt_column_text(stmt, 1));
		if (!vb_store_stmt_column_is_null(stmt, 2))
			g_variant_dict_insert(&entry, "detail", "s",
					      vb_store_stmt_column_text(stmt, 2));
		g_variant_builder_add_value(&timeline, g_variant_dict_end(&entry));
	}
	if (step == VB_STORE_STEP_ERROR) {
		g_variant_builder_clear(&timeline);
		return NULL;
	}
	if (row->customer_id > 0)
		phone = vb_customers_get_phone_masked(self->customers, row->customer_id, NULL);

	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, "id", "s", row->id);
	g_variant_dict_insert(&dict, "state", "s", row->state);
	g_variant_dict_insert(&dict, "door", "s", row->door != NULL ? row->door : "");
	if (row->first6 != NULL)
		g_variant_dict_insert_value(
		    &dict, "card",
		    g_variant_new_take_string(
			g_strdup_printf("%s\xe2\x80\xa2\xe2\x80\xa2%s", row->first6, row->last4)));
	if (phone != NULL)
		g_variant_dict_insert(&dict, "phone", "s", phone);
	g_variant_dict_insert(&dict, "language", "s", row->language != NULL ? row->language : "");
	g_variant_dict_insert(&dict, "currency", "s", row->currency != NULL ? row->currency : "");
	g_variant_dict_insert(&dict, "hold", "x", row->hold_amount);
	g_variant_dict_insert(&dict, "total", "x", row->total);
	g_variant_dict_insert(&dict, "captured", "x", row->captured);
	if (row->settlement != NULL)
		g_variant_dict_insert(&dict, "settlement", "s", row->settlement);
	if (row->psp_reference != NULL)
		g_variant_dict_insert(&dict, "psp-reference", "s", row->psp_reference);
	g_variant_dict_insert(&dict, "capture-deadline", "x", row->capture_deadline);
	g_variant_dict_insert(&dict, "created", "x", row->created);
	g_variant_dict_insert_value(&dict, "timeline", g_variant_builder_end(&timeline));
	return g_variant_dict_end(&dict);
}
