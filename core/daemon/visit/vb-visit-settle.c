/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <inttypes.h>
#include <string.h>

#include "vb-context-private.h"
#include "vb-error.h"
#include "vb-visit-private.h"

/*
 * Settle: the money of a visit whose door closed. The order from the API is
 * validated and recorded once, then settles the hold: a total of 0 cancels
 * it, up to the hold captures, over it raises the hold first (and captures
 * what it covers if the processor refuses more). With no order by the
 * capture deadline the hold is captured up to [visit] deadline-capture-max,
 * or cancelled. What each answer of the processor means for the visit is
 * decided here too, in the transaction that records it. It may touch the
 * visit's order and settlement columns and the outbox; rewards hear of each
 * settlement, and the receipt follows it.
 */

#define VB_ORDER_MAX_LINES 500
#define VB_ORDER_MAX_QUANTITY 1000
#define VB_ORDER_MAX_UNIT_PRICE G_GINT64_CONSTANT(100000000)

/* the processor's answers */

static const gchar *
vb_settlement_after_capture(const gchar *before)
{
	if (g_strcmp0(before, "adjusted") == 0)
		return "adjusted-and-captured";
	if (g_strcmp0(before, "adjust-declined") == 0)
		return "adjust-declined-captured-hold";
	if (g_strcmp0(before, "expired") == 0)
		return "expired-captured";
	return "captured";
}

/* what follows from a payment operation's answer, in the transaction that
 * records it */
gboolean
vb_visit_payment_complete(VbOutbox *outbox,
			  VbOutboxItem *item,
			  VbOutboxOutcome outcome,
			  JsonNode *result,
			  gpointer user_data,
			  GError **error)
{
	VbVisitManager *self = VB_VISIT_MANAGER(user_data);
	JsonObject *payload = vb_outbox_item_get_payload(item);
	const gchar *op = json_object_get_string_member_with_default(payload, "op", "");
	const gchar *visit = json_object_get_string_member_with_default(payload, "visit", "");
	JsonObject *res =
	    result != NULL && JSON_NODE_HOLDS_OBJECT(result) ? json_node_get_object(result) : NULL;
	const gchar *status =
	    res != NULL ? json_object_get_string_member_with_default(res, "status", "") : "";
	gboolean approved = g_strcmp0(status, "approved") == 0;
	g_autoptr(VbVisitRow) row = NULL;
	VbVisitRewardsEvent settled = {0};

	if (g_strcmp0(op, "cancel-by-reference") == 0) {
		vb_visit_hold_released(self, payload, outcome, res);
		return TRUE;
	}
	if (outcome != VB_OUTBOX_OUTCOME_DONE) {
		vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
				 "visit %s: the %s of its hold failed for good; settle it by hand "
				 "with the processor, then retry it with vestibulectl outbox retry",
				 visit, op);
		return vb_visit_set_state(self, visit, "payment-failed", op, error);
	}
	row = vb_visit_row_load(self, "id", visit, error);
	if (row == NULL)
		return FALSE;
	settled.visit_id = row->id;
	settled.customer_id = row->customer_id;
	settled.card_token = row->card_token;
	settled.currency = row->currency;

	if (g_strcmp0(op, "capture") == 0) {
		if (!approved) {
			vb_context_alert_full(
			    self->context, VB_ALERT_CRITICAL, VB_ALERT_KIND_HOLD_DECLINED, NULL,
			    NULL, visit,
			    "visit %s: the processor declined the capture of %" G_GINT64_FORMAT
			    " %s",
			    visit, json_object_get_int_member_with_default(payload, "amount", 0),
			    row->currency);
			return vb_visit_set_state(self, visit, "capture-declined", NULL, error);
		}
		settled.amount = json_object_get_int_member_with_default(payload, "amount", 0);
		settled.settlement = vb_settlement_after_capture(row->settlement);
		if (!vb_visit_set_int(self, visit, "UPDATE visits SET captured = ?2 WHERE id = ?1",
				      settled.amount, error) ||
		    !vb_visit_set_text(self, visit,
				       "UPDATE visits SET settlement = ?2 WHERE id = ?1",
				       settled.settlement, error) ||
		    !vb_visit_set_state(self, visit, "settled", NULL, error) ||
		    !vb_visit_rewards_settled(self, &settled, error))
			return FALSE;
		return vb_visit_issue_receipt(self, row, error);
	}
	if (g_strcmp0(op, "adjust") == 0) {
		if (approved) {
			/* the hold stays as placed: the receipt shows it and how it rose */
			if (!vb_visit_set_text(self, visit,
					       "UPDATE visits SET settlement = ?2 WHERE id = ?1",
					       "adjusted", error) ||
			    !vb_visit_set_state(self, visit, "settling", "hold adjusted", error))
				return FALSE;
			return vb_visit_enqueue_payment(self, visit, "capture", row->total,
							"capture", error);
		}
		/* the processor refused more: take what the hold covers, and tell */
		vb_context_alert_full(
		    self->context, VB_ALERT_WARNING, VB_ALERT_KIND_HOLD_DECLINED, NULL, NULL, visit,
		    "visit %s: the processor declined raising the hold to %" G_GINT64_FORMAT
		    " %s; the hold of %" G_GINT64_FORMAT " is captured instead",
		    visit, row->total, row->currency, row->hold_amount);
		if (!vb_visit_set_text(self, visit,
				       "UPDATE visits SET settlement = ?2 WHERE id = ?1",
				       "adjust-declined", error) ||
		    !vb_visit_set_state(self, visit, "settling", "adjustment declined", error))
			return FALSE;
		return vb_visit_enqueue_payment(self, visit, "capture", row->hold_amount, "capture",
						error);
	}
	if (g_strcmp0(op, "cancel") == 0) {
		if (!approved) {
			vb_context_alert_full(self->context, VB_ALERT_CRITICAL,
					      VB_ALERT_KIND_HOLD_DECLINED, NULL, NULL, visit,
					      "visit %s: the processor refused to cancel its hold",
					      visit);
			return vb_visit_set_state(self, visit, "cancel-declined", NULL, error);
		}
		if (g_strcmp0(row->state, "settling") == 0) {
			settled.amount = 0;
			settled.settlement = g_strcmp0(row->settlement, "expired") == 0
						 ? "expired-cancelled"
						 : "cancelled";
			if (!vb_visit_set_int(self, visit,
					      "UPDATE visits SET captured = ?2 WHERE id = ?1", 0,
					      error) ||
			    !vb_visit_set_text(self, visit,
					       "UPDATE visits SET settlement = ?2 WHERE id = ?1",
					       settled.settlement, error) ||
			    !vb_visit_set_state(self, visit, "settled", NULL, error) ||
			    !vb_visit_rewards_settled(self, &settled, error))
				return FALSE;
			return vb_visit_issue_receipt(self, row, error);
		}
		return vb_visit_set_state(self, visit, row->state, "hold cancelled", error);
	}
	if (g_strcmp0(op, "void") == 0)
		return vb_visit_set_state(self, visit, row->state,
					  approved ? "late hold cancelled" : "no hold was placed",
					  error);
	return TRUE;
}

/* the order */

static gboolean
vb_order_fail(GError **error, const gchar *message)
{
	g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA, message);
	return FALSE;
}

/* a receipt line is one line, on a page, in an SMS and in the logs: a control
 * character there (tab and newline too) is a producer's bug or an attempt to
 * forge what follows, so C0, DEL and C1 are all refused; @text is UTF-8 */
static gboolean
vb_order_find_control(const gchar *text, gunichar *found)
{
	for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
			*found = c;
			return TRUE;
		}
	}
	return FALSE;
}

/* @field is "name" or "sku"; @line counts from 1 */
void
vb_visit_order_set_control_error(GError **error, guint line, const gchar *field, gunichar c)
{
	if (g_strcmp0(field, "sku") == 0)
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    /* TRANSLATORS: an order line's SKU (stock keeping unit, the
			     * product code); %2$04X is the character's code point */
			    _("line %1$u: the SKU holds a control character (U+%2$04X); remove "
			      "it and post the order again"),
			    line, (guint)c);
	else
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    /* TRANSLATORS: an order line's product name; %2$04X is the
			     * character's code point */
			    _("line %1$u: the name holds a control character (U+%2$04X); remove "
			      "it and post the order again"),
			    line, (guint)c);
}

/* checks @order and writes its canonical form, which is what is hashed */
gboolean
vb_visit_order_validate(JsonNode *order,
			const gchar *currency,
			JsonBuilder *canonical,
			gint64 *total,
			GError **error)
{
	JsonObject *obj;
	JsonArray *lines;
	g_autoptr(GList) members = NULL;

	if (order == NULL || !JSON_NODE_HOLDS_OBJECT(order))
		return vb_order_fail(error, _("the order must be a JSON object with \"currency\" "
					      "and \"lines\""));
	obj = json_node_get_object(order);
	members = json_object_get_members(obj);
	for (GList *l = members; l != NULL; l = l->next) {
		if (g_strcmp0(l->data, "currency") != 0 && g_strcmp0(l->data, "lines") != 0) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("unknown member \"%s\" in the order"),
				    (const gchar *)l->data);
			return FALSE;
		}
	}
	if (!json_object_has_member(obj, "currency") ||
	    json_node_get_value_type(json_object_get_member(obj, "currency")) != G_TYPE_STRING)
		return vb_order_fail(error, _("the order needs \"currency\", an ISO 4217 code"));
	if (g_strcmp0(json_object_get_string_member(obj, "currency"), currency) != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the order is in %s but the visit's hold is in %s"),
			    json_object_get_string_member(obj, "currency"), currency);
		return FALSE;
	}
	if (!json_object_has_member(obj, "lines") ||
	    !JSON_NODE_HOLDS_ARRAY(json_object_get_member(obj, "lines")))
		return vb_order_fail(error, _("the order needs \"lines\", an array (empty when "
					      "nothing was taken)"));
	lines = json_object_get_array_member(obj, "lines");
	if (json_array_get_length(lines) > VB_ORDER_MAX_LINES) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the order has more than %u lines"), (guint)VB_ORDER_MAX_LINES);
		return FALSE;
	}
	*total = 0;
	json_builder_begin_object(canonical);
	json_builder_set_member_name(canonical, "currency");
	json_builder_add_string_value(canonical, currency);
	json_builder_set_member_name(canonical, "lines");
	json_builder_begin_array(canonical);
	for (guint i = 0; i < json_array_get_length(lines); i++) {
		JsonNode *node = json_array_get_element(lines, i);
		JsonObject *line;
		JsonNode *sku, *name, *qty, *price;
		gunichar control = 0;
		gint64 q, p;

		if (!JSON_NODE_HOLDS_OBJECT(node)) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("line %u of the order is not an object"), i + 1);
			return FALSE;
		}
		line = json_node_get_object(node);
		sku = json_object_get_member(line, "sku");
		name = json_object_get_member(line, "name");
		qty = json_object_get_member(line, "quantity");
		price = json_object_get_member(line, "unit_price");
		if (json_object_get_size(line) != 4 || sku == NULL || name == NULL || qty == NULL ||
		    price == NULL || json_node_get_value_type(sku) != G_TYPE_STRING ||
		    json_node_get_value_type(name) != G_TYPE_STRING ||
		    json_node_get_value_type(qty) != G_TYPE_INT64 ||
		    json_node_get_value_type(price) != G_TYPE_INT64) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("line %u of the order must have exactly \"sku\" and \"name\" "
				      "(strings), \"quantity\" and \"unit_price\" (integers, "
				      "the price in minor units)"),
				    i + 1);
			return FALSE;
		}
		q = json_node_get_int(qty);
		p = json_node_get_int(price);
		if (strlen(json_node_get_string(sku)) == 0 ||
		    strlen(json_node_get_string(sku)) > 64 ||
		    !g_utf8_validate(json_node_get_string(sku), -1, NULL) ||
		    !g_utf8_validate(json_node_get_string(name), -1, NULL) ||
		    g_utf8_strlen(json_node_get_string(name), -1) < 1 ||
		    g_utf8_strlen(json_node_get_string(name), -1) > 200) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("line %u: \"sku\" must be 1 to 64 characters and \"name\" 1 "
				      "to 200"),
				    i + 1);
			return FALSE;
		}
		if (vb_order_find_control(json_node_get_string(sku), &control)) {
			vb_visit_order_set_control_error(error, i + 1, "sku", control);
			return FALSE;
		}
		if (vb_order_find_control(json_node_get_string(name), &control)) {
			vb_visit_order_set_control_error(error, i + 1, "name", control);
			return FALSE;
		}
		if (q < 1 || q > VB_ORDER_MAX_QUANTITY || p < 0 || p > VB_ORDER_MAX_UNIT_PRICE) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("line %u: the quantity must be 1 to %u and the unit price 0 "
				      "to %" PRId64 " minor units"),
				    i + 1, (guint)VB_ORDER_MAX_QUANTITY,
				    (gint64)VB_ORDER_MAX_UNIT_PRICE);
			return FALSE;
		}
		/* bounded above: 500 lines of 1000 × 1e8 fit in 64 bits */
		*total += q * p;
		json_builder_begin_object(canonical);
		json_builder_set_member_name(canonical, "sku");
		json_builder_add_string_value(canonical, json_node_get_string(sku));
		json_builder_set_member_name(canonical, "name");
		json_builder_add_string_value(canonical, json_node_get_string(name));
		json_builder_set_member_name(canonical, "quantity");
		json_builder_add_int_value(canonical, q);
		json_builder_set_member_name(canonical, "unit_price");
		json_builder_add_int_value(canonical, p);
		json_builder_end_object(canonical);
	}
	json_builder_end_array(canonical);
	json_builder_end_object(canonical);
	return TRUE;
}

static GVariant *
vb_order_answer(VbVisitRow *row, const gchar *state, gint64 total)
{
	GVariantDict dict;
	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, "visit", "s", row->id);
	g_variant_dict_insert(&dict, "state", "s", state);
	g_variant_dict_insert(&dict, "total", "x", total);
	g_variant_dict_insert(&dict, "hold", "x", row->hold_amount);
	g_variant_dict_insert(&dict, "currency", "s", row->currency != NULL ? row->currency : "");
	return g_variant_dict_end(&dict);
}

GVariant *
vb_visit_manager_post_order(VbVisitManager *self,
			    const gchar *visit_id,
			    JsonNode *order,
			    GError **error)
{
	g_autoptr(VbVisitRow) row = NULL;
	g_autoptr(JsonBuilder) canonical = json_builder_new();
	g_autoptr(JsonNode) canonical_node = NULL;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autofree gchar *json = NULL;
	g_autofree gchar *hash = NULL;
	gint64 total = 0;
	gboolean ok;

	g_return_val_if_fail(VB_IS_VISIT_MANAGER(self), NULL);

	row = vb_visit_row_load(self, "id", visit_id, error);
	if (row == NULL)
		return NULL;
	if (!vb_visit_order_validate(order, row->currency != NULL ? row->currency : self->currency,
				     canonical, &total, error))
		return NULL;
	canonical_node = json_builder_get_root(canonical);
	json = json_to_string(canonical_node, FALSE);
	hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, json, -1);

	/* the same order twice settles once; a different one is refused */
	if (row->order_hash != NULL) {
		if (g_strcmp0(row->order_hash, hash) == 0)
			return vb_order_answer(row, row->state, row->total);
		g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
			    _("visit %s already has a different order; it cannot be changed"),
			    visit_id);
		return NULL;
	}
	if (g_strcmp0(row->state, "awaiting-order") != 0 && g_strcmp0(row->state, "open") != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
			    _("visit %s is %s: it takes no order"), visit_id, row->state);
		return NULL;
	}

	tx = vb_store_transaction_begin(self->store, error);
	if (tx == NULL)
		return NULL;
	ok = vb_visit_set_text(self, visit_id, "UPDATE visits SET order_json = ?2 WHERE id = ?1",
			       json, error) &&
	     vb_visit_set_text(self, visit_id, "UPDATE visits SET order_hash = ?2 WHERE id = ?1",
			       hash, error) &&
	     vb_visit_set_int(self, visit_id, "UPDATE visits SET total = ?2 WHERE id = ?1", total,
			      error) &&
	     vb_visit_set_state(self, visit_id, "settling", NULL, error);
	/* total 0 cancels; up to the hold captures; over it raises the hold first */
	if (ok && total == 0)
		ok = vb_visit_enqueue_payment(self, visit_id, "cancel", 0, "cancel", error);
	else if (ok && total <= row->hold_amount)
		ok = vb_visit_enqueue_payment(self, visit_id, "capture", total, "capture", error);
	else if (ok)
		ok = vb_visit_enqueue_payment(self, visit_id, "adjust", total, "adjust", error);
	if (!ok || !vb_store_transaction_commit(tx, error))
		return NULL;
	return vb_order_answer(row, "settling", total);
}

/* the capture deadline */

void
vb_visit_manager_check_deadlines(VbVisitManager *self)
{
	g_autoptr(GPtrArray) due =
	    g_ptr_array_new_with_free_func((GDestroyNotify)vb_visit_row_free);
	g_autoptr(GError) error = NULL;

	{
		g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
		    self->store,
		    "SELECT " VB_VISIT_COLUMNS " FROM visits WHERE state IN ('awaiting-order', "
		    "'open') AND capture_deadline > 0 AND capture_deadline <= ?1",
		    &error);
		if (stmt == NULL) {
			g_warning("cannot check capture deadlines: %s", error->message);
			return;
		}
		vb_store_stmt_bind_int64(stmt, 1, g_get_real_time());
		while (vb_store_stmt_step(stmt, &error) == VB_STORE_STEP_ROW)
			g_ptr_array_add(due, vb_visit_row_from_stmt(stmt));
	}
	for (guint i = 0; i < due->len; i++) {
		VbVisitRow *row = g_ptr_array_index(due, i);
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(self->store, &error);
		gint64 amount = MIN(self->deadline_capture_max, row->hold_amount);
		gboolean ok;

		ok = tx != NULL &&
		     vb_visit_set_text(self, row->id,
				       "UPDATE visits SET settlement = ?2 WHERE id = ?1", "expired",
				       &error) &&
		     vb_visit_set_int(self, row->id, "UPDATE visits SET total = ?2 WHERE id = ?1",
				      amount, &error) &&
		     vb_visit_set_state(self, row->id, "settling",
					"no order by the capture deadline", &error) &&
		     (amount > 0 ? vb_visit_enqueue_payment(self, row->id, "capture", amount,
							    "deadline-capture", &error)
				 : vb_visit_enqueue_payment(self, row->id, "cancel", 0,
							    "deadline-cancel", &error)) &&
		     vb_store_transaction_commit(tx, &error);
		if (!ok) {
			g_warning("visit %s: %s", row->id, error->message);
			g_clear_error(&error);
			continue;
		}
		vb_context_alert(self->context, VB_ALERT_WARNING, NULL,
				 "visit %s had no order by its capture deadline: its hold is %s",
				 row->id,
				 amount > 0 ? "captured up to the configured amount" : "cancelled");
	}
}
