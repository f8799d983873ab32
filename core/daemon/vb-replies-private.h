/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-config-private.h"
#include "vb-context.h"
#include "vb-customers-private.h"
#include "vb-outbox-private.h"

G_BEGIN_DECLS

/*
 * VbReplies: what shoppers send back by SMS.
 *
 * Listens for VB_EVENT_SMS_RECEIVED. Keywords are exact single words, any
 * case, surrounding spaces ignored: STOP, UNSUBSCRIBE, END, QUIT, STOPALL,
 * REVOKE, OPTOUT and CANCEL opt the number out of every further SMS (recorded
 * in the consent log); START, YES and UNSTOP opt back in; HELP and INFO get a
 * reply, in the customer's language, with the operator contact. Anything else
 * is feedback: stored against the sender's latest visit and forwarded to the
 * operator's phone and/or webhook ([visit] operator-phone, operator-webhook),
 * through the outbox. The "webhook" outbox kind is registered here.
 */

#define VB_TYPE_REPLIES (vb_replies_get_type())
G_DECLARE_FINAL_TYPE(VbReplies, vb_replies, VB, REPLIES, GObject)

VbReplies *
vb_replies_new(VbContext *context, VbCustomers *customers, VbOutbox *outbox);
void
vb_replies_set_config(VbReplies *self, VbConfig *config);
void
vb_replies_start(VbReplies *self);
void
vb_replies_stop(VbReplies *self);

G_END_DECLS
