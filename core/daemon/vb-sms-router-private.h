/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "vb-config-private.h"
#include "vb-context.h"
#include "vb-customers-private.h"
#include "vb-outbox-private.h"
#include "vb-plugin-loader-private.h"
#include "vb-prompts-private.h"

G_BEGIN_DECLS

/*
 * VbSmsRouter: the core's SMS rules, shared by every SMS provider.
 *
 * - It chooses the provider of each attempt: [services] sms, else (when it is
 *   not running or answered VB_ERROR_UNREACHABLE, so nothing was sent)
 *   [services] sms-fallback. A message whose outcome is unknown (a time-out,
 *   or a crash while it was out) stays with the provider that had it, which
 *   looks it up by its idempotency key: never both.
 * - The provider of an attempt is committed before the attempt.
 * - Each provider has a token bucket ([sms] rate-per-minute and
 *   fallback-rate-per-minute). Through vb_sms_router_gate() the outbox claims
 *   no more messages than it lets go: one over it waits in the queue, not
 *   dispatched, until its turn. A message sent back to the queue over it (a
 *   sticky one, for the other provider) waits for a reserved slot.
 * - It records each message's provider, message id, encoding, segments and
 *   delivery state, updated from VB_EVENT_SMS_STATUS.
 */

#define VB_TYPE_SMS_ROUTER (vb_sms_router_get_type())
G_DECLARE_FINAL_TYPE(VbSmsRouter, vb_sms_router, VB, SMS_ROUTER, GObject)

VbSmsRouter *
vb_sms_router_new(VbContext *context, VbPluginLoader *loader, VbCustomers *customers);
void
vb_sms_router_set_config(VbSmsRouter *self, VbConfig *config);
/* listens to delivery reports */
void
vb_sms_router_start(VbSmsRouter *self);
void
vb_sms_router_stop(VbSmsRouter *self);

/* @template_ rendered in @language from @params, shortened to fit the
 * configured maximum of segments: the values named in @shortenable (in that
 * order) are cut at a word boundary with an ellipsis; the template's own text
 * and any other value (a link, a code) are never cut. @shortened is set when
 * something was cut */
gchar *
vb_sms_router_render(VbSmsRouter *self,
		     VbSmsTemplate template_,
		     const gchar *language,
		     GHashTable *params,
		     const gchar *const *shortenable,
		     gboolean *shortened);
/* the same with an explicit maximum, for the tests */
gchar *
vb_sms_render_fitted(VbSmsTemplate template_,
		     const gchar *language,
		     GHashTable *params,
		     const gchar *const *shortenable,
		     guint max_segments,
		     gboolean *shortened);

/* sends @body to @to for @item and completes @item; takes @to and @body,
 * which are wiped. @customer_id is 0 for the operator */
void
vb_sms_router_send(VbSmsRouter *self,
		   VbOutboxItem *item,
		   gint64 customer_id,
		   gchar *to,
		   gchar *body,
		   gboolean shortened,
		   GCancellable *cancellable);

/* the outbox's gate for the SMS kind (user_data: the router): as many
 * messages as the rate limit of the provider that would take them lets go
 * now, so that one over it waits in the queue, unclaimed, for its turn */
guint
vb_sms_router_gate(VbOutbox *outbox, const gchar *kind, gint64 *wait_us, gpointer user_data);

/* a{sv} per message, newest first: outbox-id (x), visit (s), template (s),
 * to (s, masked), provider (s), message-id (s), encoding (s), segments (u),
 * shortened (b), state (s), attempts (u), last-error (s), updated (x) */
GPtrArray *
vb_sms_router_list(VbStore *store, guint limit, GError **error);

G_END_DECLS
