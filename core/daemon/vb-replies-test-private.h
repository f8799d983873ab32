/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-outbox-private.h"

G_BEGIN_DECLS

/* the parts of vb-replies.c that need no daemon, for tests/test-orders.c */

typedef enum {
	VB_REPLY_FEEDBACK, /* anything that is not exactly one keyword */
	VB_REPLY_OPT_OUT,  /* STOP, UNSUBSCRIBE, END, QUIT, STOPALL, REVOKE, OPTOUT, CANCEL */
	VB_REPLY_OPT_IN,   /* START, YES, UNSTOP */
	VB_REPLY_HELP,	   /* HELP, INFO */
} VbReplyKind;

/* what an inbound SMS asks for: a keyword is the whole message, in any case,
 * with surrounding white space ignored. @word, if given, gets the message
 * without that white space (the keyword as the shopper wrote it) */
VbReplyKind
vb_replies_classify(const gchar *body, gchar **word);

/* whether the operator's webhook can be posted to: an absolute http or https
 * URL with a host */
gboolean
vb_replies_webhook_url_is_valid(const gchar *url);
/* what a webhook's HTTP answer means for its outbox item: 2xx DONE; 408, 429
 * and 5xx RETRY, after @retry_after (seconds or an HTTP date) if given; any
 * other FAILED. @message gets the error to record, or NULL */
VbOutboxOutcome
vb_replies_webhook_outcome(guint status,
			   const gchar *retry_after,
			   guint *retry_after_ms,
			   gchar **message);

G_END_DECLS
