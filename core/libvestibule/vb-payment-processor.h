/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "vb-plugin.h"

G_BEGIN_DECLS

/**
 * VbPaymentProcessor:
 *
 * The role of a plugin that places, adjusts, captures and cancels holds
 * with a payment processor; see #VbPaymentProcessorInterface.
 *
 * Since: 0.1
 */
#define VB_TYPE_PAYMENT_PROCESSOR (vb_payment_processor_get_type())
G_DECLARE_INTERFACE(VbPaymentProcessor, vb_payment_processor, VB, PAYMENT_PROCESSOR, VbPlugin)

/**
 * VbPaymentOp:
 * @VB_PAYMENT_OP_AUTHORIZE: place a pre-authorization hold
 * @VB_PAYMENT_OP_ADJUST: change the amount of a hold
 * @VB_PAYMENT_OP_CAPTURE: settle a hold for an amount up to the held one
 * @VB_PAYMENT_OP_CANCEL: release a hold
 * @VB_PAYMENT_OP_CANCEL_BY_REFERENCE: release whatever hold was placed under
 *   the merchant reference @reference, without knowing whether one was: no
 *   processor reference, card or amount is given. The processor approves it
 *   whether or not it found a hold, and an authorization under that reference
 *   arriving after it must not stand. Asked only of a processor with
 *   %VB_PAYMENT_CAPABILITY_CANCEL_BY_REFERENCE (Since: 0.3)
 *
 * What a #VbPaymentRequest asks for.
 *
 * Since: 0.1
 */
typedef enum {
	VB_PAYMENT_OP_AUTHORIZE,
	VB_PAYMENT_OP_ADJUST,
	VB_PAYMENT_OP_CAPTURE,
	VB_PAYMENT_OP_CANCEL,
	VB_PAYMENT_OP_CANCEL_BY_REFERENCE,
} VbPaymentOp;

/**
 * VbPaymentCapabilities:
 * @VB_PAYMENT_CAPABILITY_NONE: only the operations every processor has
 * @VB_PAYMENT_CAPABILITY_CANCEL_BY_REFERENCE: the processor can do
 *   %VB_PAYMENT_OP_CANCEL_BY_REFERENCE, as Adyen does with a cancel "using
 *   your reference" (a technical cancel)
 *
 * What a processor can do beyond placing and settling holds. The core uses
 * them to shorten the shopper's wait; without them it keeps the slower way.
 *
 * Since: 0.3
 */
typedef enum {
	VB_PAYMENT_CAPABILITY_NONE = 0,
	VB_PAYMENT_CAPABILITY_CANCEL_BY_REFERENCE = 1 << 0,
} VbPaymentCapabilities;

/**
 * VbPaymentStatus:
 * @VB_PAYMENT_STATUS_APPROVED: the processor accepted
 * @VB_PAYMENT_STATUS_DECLINED: the processor refused; see @reason
 *
 * The answer of a processor that could be reached.
 *
 * Since: 0.1
 */
typedef enum {
	VB_PAYMENT_STATUS_APPROVED,
	VB_PAYMENT_STATUS_DECLINED,
} VbPaymentStatus;

/**
 * VbPaymentRequest:
 * @op: the operation
 * @idempotency_key: stable across retries of the same operation
 * @reference: the merchant reference (the visit id)
 * @psp_reference: the processor's reference of the hold; %NULL for
 *   %VB_PAYMENT_OP_AUTHORIZE
 * @card_token: the card token, or a processor card identifier
 * @amount: the amount in minor units
 * @currency: the ISO 4217 currency code
 *
 * One operation on a hold.
 *
 * Since: 0.1
 */
typedef struct {
	VbPaymentOp op;
	const gchar *idempotency_key;
	const gchar *reference;
	const gchar *psp_reference;
	const gchar *card_token;
	gint64 amount;
	const gchar *currency;
	/*< private >*/
	gpointer padding[8];
} VbPaymentRequest;

/**
 * VbPaymentResult:
 * @status: approved or declined
 * @psp_reference: the processor's reference
 * @amount: the amount the processor holds or captured, in minor units
 * @reason: the processor's decline reason code; never shown to a shopper as is
 *
 * The processor's answer.
 *
 * Since: 0.1
 */
typedef struct {
	VbPaymentStatus status;
	gchar psp_reference[65];
	gint64 amount;
	gchar reason[129];
	/*< private >*/
	gpointer padding[8];
} VbPaymentResult;

/**
 * VbPaymentProcessorInterface:
 * @g_iface: the parent interface
 * @execute_async: starts @request
 * @execute_finish: fills @result and returns %TRUE when the processor
 *   answered, whether it approved or declined; returns %FALSE with
 *   %VB_ERROR_UNREACHABLE or %VB_ERROR_TIMED_OUT when it could not be
 *   reached, which the caller treats as a refusal (deny-safe)
 * @get_capabilities: returns the #VbPaymentCapabilities of the processor;
 *   unset, it has none (Since: 0.3)
 *
 * A payment processor that places and settles holds.
 *
 * Since: 0.1
 */
struct _VbPaymentProcessorInterface {
	GTypeInterface g_iface;
	void (*execute_async)(VbPaymentProcessor *self,
			      const VbPaymentRequest *request,
			      GCancellable *cancellable,
			      GAsyncReadyCallback callback,
			      gpointer user_data);
	gboolean (*execute_finish)(VbPaymentProcessor *self,
				   GAsyncResult *result,
				   VbPaymentResult *out,
				   GError **error);
	VbPaymentCapabilities (*get_capabilities)(VbPaymentProcessor *self);
	/*< private >*/
	gpointer padding[13];
};

void
vb_payment_processor_execute_async(VbPaymentProcessor *self,
				   const VbPaymentRequest *request,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data);
gboolean
vb_payment_processor_execute_finish(VbPaymentProcessor *self,
				    GAsyncResult *result,
				    VbPaymentResult *out,
				    GError **error);
VbPaymentCapabilities
vb_payment_processor_get_capabilities(VbPaymentProcessor *self);
const gchar *
vb_payment_op_to_string(VbPaymentOp op);

G_END_DECLS
