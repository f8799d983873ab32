/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-error.h"
#include "vb-loyalty-partner.h"

/**
 * SECTION:vb-loyalty-partner
 * @short_description: the loyalty partner role
 *
 * A partner plugin keeps a local copy of the cards enrolled in its
 * card-linked-offer program, so that matching never waits on the network,
 * and receives transaction events through the core's outbox.
 */

G_DEFINE_INTERFACE(VbLoyaltyPartner, vb_loyalty_partner, VB_TYPE_PLUGIN)

static void
vb_loyalty_partner_default_init(VbLoyaltyPartnerInterface *iface)
{
}

/**
 * vb_loyalty_partner_is_enrolled:
 * @self: a #VbLoyaltyPartner
 * @card_token: a card token or processor card identifier
 *
 * Returns: %TRUE if the card is enrolled in the partner's program
 *
 * Since: 0.1
 */
gboolean
vb_loyalty_partner_is_enrolled(VbLoyaltyPartner *self, const gchar *card_token)
{
	VbLoyaltyPartnerInterface *iface;

	g_return_val_if_fail(VB_IS_LOYALTY_PARTNER(self), FALSE);
	g_return_val_if_fail(card_token != NULL, FALSE);
	iface = VB_LOYALTY_PARTNER_GET_IFACE(self);
	return iface->is_enrolled != NULL && iface->is_enrolled(self, card_token);
}

/**
 * vb_loyalty_partner_notify_async:
 * @self: a #VbLoyaltyPartner
 * @event: an `a{sv}` transaction event
 * @idempotency_key: stable across retries
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the partner answered or gave up
 * @user_data: data for @callback
 *
 * Sends a transaction event to the partner.
 *
 * Since: 0.1
 */
void
vb_loyalty_partner_notify_async(VbLoyaltyPartner *self,
				GVariant *event,
				const gchar *idempotency_key,
				GCancellable *cancellable,
				GAsyncReadyCallback callback,
				gpointer user_data)
{
	VbLoyaltyPartnerInterface *iface;

	g_return_if_fail(VB_IS_LOYALTY_PARTNER(self));
	g_return_if_fail(event != NULL && idempotency_key != NULL);
	iface = VB_LOYALTY_PARTNER_GET_IFACE(self);
	if (iface->notify_async == NULL) {
		g_task_report_new_error(self, callback, user_data, vb_loyalty_partner_notify_async,
					VB_ERROR, VB_ERROR_NOT_SUPPORTED,
					"this partner takes no notifications");
		return;
	}
	iface->notify_async(self, event, idempotency_key, cancellable, callback, user_data);
}

/**
 * vb_loyalty_partner_notify_finish:
 * @self: a #VbLoyaltyPartner
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the partner took the event
 *
 * Since: 0.1
 */
gboolean
vb_loyalty_partner_notify_finish(VbLoyaltyPartner *self, GAsyncResult *result, GError **error)
{
	VbLoyaltyPartnerInterface *iface;

	g_return_val_if_fail(VB_IS_LOYALTY_PARTNER(self), FALSE);
	if (g_async_result_is_tagged(result, vb_loyalty_partner_notify_async))
		return g_task_propagate_boolean(G_TASK(result), error);
	iface = VB_LOYALTY_PARTNER_GET_IFACE(self);
	return iface->notify_finish(self, result, error);
}
