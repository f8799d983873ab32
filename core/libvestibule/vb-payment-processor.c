/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-error.h"
#include "vb-payment-processor.h"

/**
 * SECTION:vb-payment-processor
 * @short_description: the payment processor role
 *
 * Holds are placed, adjusted, captured and cancelled through one call,
 * vb_payment_processor_execute_async(). A processor that cannot be reached
 * is a refusal: the door stays locked.
 */

G_DEFINE_INTERFACE(VbPaymentProcessor, vb_payment_processor, VB_TYPE_PLUGIN)

static void
vb_payment_processor_default_init(VbPaymentProcessorInterface *iface)
{
}

/**
 * vb_payment_processor_execute_async:
 * @self: a #VbPaymentProcessor
 * @request: the operation; copied by the processor if it needs it after returning
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * Starts one operation on a hold.
 *
 * Since: 0.1
 */
void
vb_payment_processor_execute_async(VbPaymentProcessor *self,
				   const VbPaymentRequest *request,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data)
{
	VbPaymentProcessorInterface *iface;

	g_return_if_fail(VB_IS_PAYMENT_PROCESSOR(self));
	g_return_if_fail(request != NULL && request->idempotency_key != NULL);
	iface = VB_PAYMENT_PROCESSOR_GET_IFACE(self);
	if (iface->execute_async == NULL) {
		g_task_report_new_error(self, callback, user_data,
					vb_payment_processor_execute_async, VB_ERROR,
					VB_ERROR_NOT_SUPPORTED, "this processor cannot %s",
					vb_payment_op_to_string(request->op));
		return;
	}
	iface->execute_async(self, request, cancellable, callback, user_data);
}

/**
 * vb_payment_processor_execute_finish:
 * @self: a #VbPaymentProcessor
 * @result: the #GAsyncResult
 * @out: (out caller-allocates): the processor's answer
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the processor answered, approving or declining
 *
 * Since: 0.1
 */
gboolean
vb_payment_processor_execute_finish(VbPaymentProcessor *self,
				    GAsyncResult *result,
				    VbPaymentResult *out,
				    GError **error)
{
	VbPaymentProcessorInterface *iface;

	g_return_val_if_fail(VB_IS_PAYMENT_PROCESSOR(self), FALSE);
	g_return_val_if_fail(out != NULL, FALSE);
	memset(out, 0, sizeof(*out));
	if (g_async_result_is_tagged(result, vb_payment_processor_execute_async))
		return g_task_propagate_boolean(G_TASK(result), error);
	iface = VB_PAYMENT_PROCESSOR_GET_IFACE(self);
	return iface->execute_finish(self, result, out, error);
}

/**
 * vb_payment_processor_get_capabilities:
 * @self: a #VbPaymentProcessor
 *
 * What the processor can do beyond placing and settling holds.
 *
 * Returns: #VbPaymentCapabilities; %VB_PAYMENT_CAPABILITY_NONE for a
 *   processor that does not say
 *
 * Since: 0.3
 */
VbPaymentCapabilities
vb_payment_processor_get_capabilities(VbPaymentProcessor *self)
{
	VbPaymentProcessorInterface *iface;

	g_return_val_if_fail(VB_IS_PAYMENT_PROCESSOR(self), VB_PAYMENT_CAPABILITY_NONE);
	iface = VB_PAYMENT_PROCESSOR_GET_IFACE(self);
	if (iface->get_capabilities == NULL)
		return VB_PAYMENT_CAPABILITY_NONE;
	return iface->get_capabilities(self);
}

/**
 * vb_payment_op_to_string:
 * @op: a #VbPaymentOp
 *
 * Returns: `authorize`, `adjust`, `capture` or `cancel`
 *
 * Since: 0.1
 */
const gchar *
vb_payment_op_to_string(VbPaymentOp op)
{
	switch (op) {
	case VB_PAYMENT_OP_AUTHORIZE:
		return "authorize";
	case VB_PAYMENT_OP_ADJUST:
		return "adjust";
	case VB_PAYMENT_OP_CAPTURE:
		return "capture";
	case VB_PAYMENT_OP_CANCEL:
		return "cancel";
	case VB_PAYMENT_OP_CANCEL_BY_REFERENCE:
		return "cancel-by-reference";
	default:
		return "unknown";
	}
}
