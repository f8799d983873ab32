/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-config-private.h"
#include "vb-context.h"
#include "vb-customers-private.h"
#include "vb-host-private.h"
#include "vb-outbox-private.h"
#include "vb-plugin-loader-private.h"

G_BEGIN_DECLS

/*
 * VbVisitManager: the visit, from the tap to the receipt.
 *
 * It listens to the bus for each door's reader, keypad and lock, drives the
 * door's display, places the hold through the store's payment role, and
 * queues SMS messages and payment operations in the outbox. Every change of a
 * visit's state is committed, with a timeline entry, before anything that
 * depends on it happens, so that a restart resumes each visit where it was.
 *
 * Visit states, in order: identified, enter-phone, enter-code, authorizing,
 * then one of declined, processor-unavailable, cancelled, timed-out; or
 * unlocked, open, then abandoned (never opened: the hold is cancelled) or
 * awaiting-order; then settling, settled (or, at the capture deadline,
 * expired-cancelled / expired-captured).
 */

#define VB_TYPE_VISIT_MANAGER (vb_visit_manager_get_type())
G_DECLARE_FINAL_TYPE(VbVisitManager, vb_visit_manager, VB, VISIT_MANAGER, GObject)

VbVisitManager *
vb_visit_manager_new(VbContext *context,
		     VbHost *host,
		     VbPluginLoader *loader,
		     VbCustomers *customers,
		     VbOutbox *outbox);
/* the doors, the services and the [visit] settings; a door in the middle of a
 * visit keeps it across a reload */
void
vb_visit_manager_set_config(VbVisitManager *self, VbConfig *config);
/* registers the outbox kinds, listens to the bus and resumes what a restart
 * interrupted: a hold placed for a door that never opened is cancelled */
void
vb_visit_manager_start(VbVisitManager *self);
void
vb_visit_manager_stop(VbVisitManager *self);
/* no door is in the middle of a visit: the time for the store's upkeep */
gboolean
vb_visit_manager_is_idle(VbVisitManager *self);

/* the order API: validates @order ({"currency": "EUR", "lines": [{"sku", "name",
 * "quantity", "unit_price"}]}), records it and settles the hold. Posting the
 * same order again is accepted and changes nothing; a different one for the
 * same visit is VB_ERROR_CONFLICT. Returns a{sv}: visit, state, total, hold */
GVariant *
vb_visit_manager_post_order(VbVisitManager *self,
			    const gchar *visit_id,
			    JsonNode *order,
			    GError **error);
/* the error for an order line's "name" or "sku" (@field) that holds the control
 * character @c; @line counts from 1 */
void
vb_visit_order_set_control_error(GError **error, guint line, const gchar *field, gunichar c);
/* a{sv}: the visit with only masked data, and its timeline (aa{sv}: time, state,
 * detail); VB_ERROR_NOT_FOUND */
GVariant *
vb_visit_manager_get_visit(VbVisitManager *self, const gchar *visit_id, GError **error);
/* the receipt behind a token from /r/TOKEN: a{sv} with store, operator contact,
 * language, currency, lines (aa{sv}: sku, name, quantity, unit-price, price),
 * total, hold (as placed), adjusted (what it was raised to, if it was), captured,
 * settlement, card (first6••last4), time; NOT_FOUND for
 * an unknown token, VB_ERROR_PERMISSION_DENIED for an expired one */
GVariant *
vb_visit_manager_get_receipt(VbVisitManager *self, const gchar *token, GError **error);
/* the receipt token of a visit: HMAC of the visit id, so that it is never stored */
gchar *
vb_visit_manager_receipt_token(VbVisitManager *self, const gchar *visit_id);

/* the latest visits, newest first, at most @limit (0 for all), after the
 * visit @before in that order when it is not NULL (the next page; NOT_FOUND
 * when there is no such visit): array of GVariant a{sv} with id, door, state,
 * first6, last4 (s, empty when unknown), created and updated (x, unix µs);
 * never the card token. Needs only @store */
GPtrArray *
vb_visit_list(VbStore *store, guint limit, const gchar *before, GError **error);

G_END_DECLS
