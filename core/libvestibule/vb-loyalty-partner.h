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
 * VbLoyaltyPartner:
 *
 * The role of a plugin that runs a loyalty partner's card-linked offers; see
 * #VbLoyaltyPartnerInterface.
 *
 * Since: 0.1
 */
#define VB_TYPE_LOYALTY_PARTNER (vb_loyalty_partner_get_type())
G_DECLARE_INTERFACE(VbLoyaltyPartner, vb_loyalty_partner, VB, LOYALTY_PARTNER, VbPlugin)

/**
 * VbLoyaltyPartnerInterface:
 * @g_iface: the parent interface
 * @is_enrolled: whether @card_token is enrolled in the partner's program,
 *   from the plugin's local copy of the enrolled cards; never blocks
 * @notify_async: sends a transaction event (`a{sv}`, the keys of the
 *   card-linked-offer event) to the partner
 * @notify_finish: finishes @notify_async; retryable codes as for SMS
 *
 * A loyalty partner running card-linked offers.
 *
 * Since: 0.1
 */
struct _VbLoyaltyPartnerInterface {
	GTypeInterface g_iface;
	gboolean (*is_enrolled)(VbLoyaltyPartner *self, const gchar *card_token);
	void (*notify_async)(VbLoyaltyPartner *self,
			     GVariant *event,
			     const gchar *idempotency_key,
			     GCancellable *cancellable,
			     GAsyncReadyCallback callback,
			     gpointer user_data);
	gboolean (*notify_finish)(VbLoyaltyPartner *self, GAsyncResult *result, GError **error);
	/*< private >*/
	gpointer padding[13];
};

gboolean
vb_loyalty_partner_is_enrolled(VbLoyaltyPartner *self, const gchar *card_token);
void
vb_loyalty_partner_notify_async(VbLoyaltyPartner *self,
				GVariant *event,
				const gchar *idempotency_key,
				GCancellable *cancellable,
				GAsyncReadyCallback callback,
				gpointer user_data);
gboolean
vb_loyalty_partner_notify_finish(VbLoyaltyPartner *self, GAsyncResult *result, GError **error);

G_END_DECLS
