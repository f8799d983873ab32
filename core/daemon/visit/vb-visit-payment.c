/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-context-private.h"
#include "vb-error.h"
#include "vb-visit-private.h"

/*
 * The outbox's "payment" kind: it carries out, retried until the processor
 * answers, the operations that the hold and settle steps queue on a visit's
 * hold: captures, adjustments, cancels, voids, and cancels by reference.
 * It only talks to the processor; what follows from each answer is decided
 * by vb_visit_payment_complete() in vb-visit-settle.c.
 */

typedef struct {
	VbVisitManager *self;
	VbOutboxItem *item;
	gchar *op;
	VbVisitRow *row;  /* NULL for a cancel by reference */
	gchar *reference; /* the merchant reference, for a cancel by reference */
	gint64 amount;
	gboolean voiding; /* the replayed authorization of a void is answered */
} VbPaymentCall;

static void
vb_payment_call_free(VbPaymentCall *call)
{
	g_free(call->op);
	g_free(call->reference);
	if (call->row != NULL)
		vb_visit_row_free(call->row);
	g_free(call);
}

static JsonNode *
vb_payment_result_to_json(const VbPaymentResult *result)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "status");
	json_builder_add_string_value(
	    builder, result->status == VB_PAYMENT_STATUS_APPROVED ? "approved" : "declined");
	json_builder_set_member_name(builder, "psp-reference");
	json_builder_add_string_value(builder, result->psp_reference);
	json_builder_set_member_name(builder, "amount");
	json_builder_add_int_value(builder, result->amount);
	json_builder_set_member_name(builder, "reason");
	json_builder_add_string_value(builder, result->reason);
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}

static void
vb_payment_call_start(VbPaymentCall *call,
		      VbPaymentOp op,
		      const gchar *key,
		      GCancellable *cancellable);

static void
vb_payment_call_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	VbPaymentCall *call = user_data;
	VbPaymentResult result;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;

	if (!vb_payment_processor_execute_finish(VB_PAYMENT_PROCESSOR(source), res, &result,
						 &error)) {
		VbOutboxOutcome outcome = VB_OUTBOX_OUTCOME_FAILED;
		/* a time-out may have moved the money: the processor is asked
		 * again with the same key, never anything on a guess */
		if (g_error_matches(error, VB_ERROR, VB_ERROR_TIMED_OUT) ||
		    g_error_matches(error, VB_ERROR, VB_ERROR_OUTCOME_UNKNOWABLE))
			outcome = VB_OUTBOX_OUTCOME_UNKNOWN;
		else if (g_error_matches(error, VB_ERROR, VB_ERROR_UNREACHABLE) ||
			 g_error_matches(error, VB_ERROR, VB_ERROR_RATE_LIMITED) ||
			 g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			outcome = VB_OUTBOX_OUTCOME_RETRY;
		vb_outbox_item_complete(call->item, outcome, NULL, error->message, 0);
		vb_payment_call_free(call);
		return;
	}
	/* a void first learns the hold from its authorization, replayed with the
	 * same key so that no second hold is placed, then cancels it */
	if (g_strcmp0(call->op, "void") == 0 && !call->voiding &&
	    result.status == VB_PAYMENT_STATUS_APPROVED) {
		call->voiding = TRUE;
		g_free(call->row->psp_reference);
		call->row->psp_reference = g_strdup(result.psp_reference);
		vb_payment_call_start(call, VB_PAYMENT_OP_CANCEL,
				      vb_outbox_item_get_idempotency_key(call->item), NULL);
		return;
	}
	node = vb_payment_result_to_json(&result);
	vb_outbox_item_complete(call->item, VB_OUTBOX_OUTCOME_DONE, node, NULL, 0);
	vb_payment_call_free(call);
}

static void
vb_payment_call_start(VbPaymentCall *call,
		      VbPaymentOp op,
		      const gchar *key,
		      GCancellable *cancellable)
{
	VbVisitManager *self = call->self;
	VbPlugin *processor = vb_visit_manager_instance(self, self->payment_instance);
	g_autofree gchar *auth_key = NULL;
	VbPaymentRequest request = {0};

	if (processor == NULL || !VB_IS_PAYMENT_PROCESSOR(processor)) {
		vb_outbox_item_complete(call->item, VB_OUTBOX_OUTCOME_RETRY, NULL,
					"no payment processor is running", 0);
		vb_payment_call_free(call);
		return;
	}
	request.op = op;
	request.idempotency_key = key;
	if (call->row == NULL) {
		/* a cancel by reference names nothing but the reference */
		request.reference = call->reference;
	} else {
		if (op == VB_PAYMENT_OP_AUTHORIZE)
			request.idempotency_key = auth_key =
			    g_strdup_printf("%s:authorize", call->row->id);
		request.reference = call->row->id;
		request.psp_reference = call->row->psp_reference;
		request.card_token = call->row->card_token;
		request.amount =
		    op == VB_PAYMENT_OP_AUTHORIZE ? call->row->hold_amount : call->amount;
		request.currency = call->row->currency;
	}
	vb_payment_processor_execute_async(VB_PAYMENT_PROCESSOR(processor), &request, cancellable,
					   vb_payment_call_cb, call);
}

void
vb_visit_payment_dispatch(VbOutbox *outbox,
			  VbOutboxItem *item,
			  GCancellable *cancellable,
			  gpointer user_data)
{
	VbVisitManager *self = VB_VISIT_MANAGER(user_data);
	JsonObject *payload = vb_outbox_item_get_payload(item);
	const gchar *op = json_object_get_string_member_with_default(payload, "op", "");
	const gchar *visit = json_object_get_string_member_with_default(payload, "visit", "");
	g_autoptr(GError) error = NULL;
	VbPaymentCall *call;
	VbVisitRow *row;

	if (g_strcmp0(op, "cancel-by-reference") == 0) {
		if (vb_visit_manager_instance(self, self->payment_instance) != NULL &&
		    !vb_visit_manager_can_release_by_reference(self)) {
			vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL,
						"the payment processor cannot cancel by reference",
						0);
			return;
		}
		call = g_new0(VbPaymentCall, 1);
		call->self = self;
		call->item = item;
		call->op = g_strdup(op);
		call->reference =
		    g_strdup(json_object_get_string_member_with_default(payload, "reference", ""));
		vb_payment_call_start(call, VB_PAYMENT_OP_CANCEL_BY_REFERENCE,
				      vb_outbox_item_get_idempotency_key(item), cancellable);
		return;
	}
	row = vb_visit_row_load(self, "id", visit, &error);
	if (row == NULL) {
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL, error->message, 0);
		return;
	}
	call = g_new0(VbPaymentCall, 1);
	call->self = self;
	call->item = item;
	call->op = g_strdup(op);
	call->row = row;
	call->amount = json_object_get_int_member_with_default(payload, "amount", 0);
	if (g_strcmp0(op, "void") == 0) {
		vb_payment_call_start(call, VB_PAYMENT_OP_AUTHORIZE, NULL, cancellable);
		return;
	}
	if (row->psp_reference == NULL) {
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL,
					"the visit has no hold on record", 0);
		vb_payment_call_free(call);
		return;
	}
	if (g_strcmp0(op, "capture") == 0)
		vb_payment_call_start(call, VB_PAYMENT_OP_CAPTURE,
				      vb_outbox_item_get_idempotency_key(item), cancellable);
	else if (g_strcmp0(op, "adjust") == 0)
		vb_payment_call_start(call, VB_PAYMENT_OP_ADJUST,
				      vb_outbox_item_get_idempotency_key(item), cancellable);
	else if (g_strcmp0(op, "cancel") == 0)
		vb_payment_call_start(call, VB_PAYMENT_OP_CANCEL,
				      vb_outbox_item_get_idempotency_key(item), cancellable);
	else {
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL,
					"unknown payment operation", 0);
		vb_payment_call_free(call);
	}
}
