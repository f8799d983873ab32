/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <libsoup/soup.h>

#include "vb-test-daemon.h"

G_BEGIN_DECLS

/*
 * What the twilio tests share: a daemon whose SMS provider is the twilio
 * plugin, the shopper's steps at the door that make it send, and Twilio's side
 * of the webhooks: form posts signed as Twilio documents it.
 */

/* an account as the Twilio console shows it; the token is made up */
#define TW_ACCOUNT "AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN "5f1c0e2d9a8b7c6d5e4f30211a2b3c4d"
#define TW_FROM "+15005550006"
#define TW_API_KEY "SK00112233445566778899aabbccddeeff"
#define TW_API_SECRET "aabbccddeeff00112233445566778899"

/* French numbers from the range ARCEP keeps for fiction */
#define PHONE_A_TYPED "0639981234"
#define PHONE_A "+33639981234"
#define PHONE_A_MASKED                                                                             \
	"+33 6\xe2\x80\xa2\xe2\x80\xa2 \xe2\x80\xa2\xe2\x80\xa2 \xe2\x80\xa2\xe2\x80\xa2 34"
#define PHONE_B_TYPED "0639985678"
#define PHONE_B "+33639985678"
#define OPERATOR_PHONE "+33639980001"
#define OPERATOR_CONTACT "help@vestibule-test.example"
#define PAN_A "4970107301234564"
#define PAN_B "5377992017654320"

#define NOTICE_EN                                                                                  \
	"Test store: a purchase was made with your card. Your itemized receipt follows by SMS "    \
	"within a few hours. Reply to this message with any question."
#define HELP_EN                                                                                    \
	"Test store: for help, contact " OPERATOR_CONTACT                                          \
	". Reply STOP to receive no more messages."

/* no wait may hang a run */
#define TW_WAIT_MS 10000

/* a daemon sending through the twilio plugin at @base_url; @instance_extra is
 * added to [instance:twilio], @drop_in is a conf.d file */
VbTestDaemon *
tw_daemon_new(const gchar *base_url, const gchar *instance_extra, const gchar *drop_in);
/* the same, with @secrets_extra added to the instance's secrets */
VbTestDaemon *
tw_daemon_new_full(const gchar *base_url,
		   const gchar *instance_extra,
		   const gchar *drop_in,
		   const gchar *secrets_extra);
/* stops the daemon; it must exit cleanly (no leak, no error), or its log is shown */
void
tw_stop(VbTestDaemon *d);
JsonNode *
tw_ctl(VbTestDaemon *d, const gchar *method, const gchar *path, const gchar *body);

/* the shopper: a new card gives its phone and walks in and out; the door
 * sends the notice. Returns the visit id */
gchar *
tw_visit(VbTestDaemon *d, const gchar *pan, const gchar *language, const gchar *typed);

/* the signature Twilio puts in X-Twilio-Signature, built here from Twilio's
 * documentation, independently of the plugin: base64(HMAC-SHA1(token, url +
 * each name and value, sorted by name)) */
gchar *
tw_sign(const gchar *token, const gchar *url, const gchar *const *fields);

/* posts the form @fields (name, value, …, NULL) to @url with @signature (NULL
 * for none); returns the status, the body and the content type */
guint
tw_post_form(const gchar *url,
	     const gchar *const *fields,
	     const gchar *signature,
	     const gchar *content_type,
	     gchar **response,
	     gchar **response_type);
/* the same, signed with TW_TOKEN */
guint
tw_post_signed(const gchar *url, const gchar *const *fields, gchar **response);

/* an inbound SMS from @from, signed, to the daemon's webhook; asserts 200 and
 * the empty TwiML answer */
void
tw_inbound(VbTestDaemon *d, const gchar *from, const gchar *body, const gchar *sid);

/* the state and last error of the outbox items of kind sms, oldest first,
 * "state|result|last_error" each */
GPtrArray *
tw_outbox_sms(VbTestDaemon *d);
/* waits until the outbox has no SMS waiting */
void
tw_wait_outbox_idle(VbTestDaemon *d);
/* the same; FALSE when it still has some after TW_WAIT_MS */
gboolean
tw_poll_outbox_idle(VbTestDaemon *d);
/* a status counter of the twilio instance, as `vestibulectl plugins` shows it */
gint64
tw_status_int(VbTestDaemon *d, const gchar *key);

void
tw_assert_contains(const gchar *haystack, const gchar *needle);
void
tw_assert_not_contains(const gchar *haystack, const gchar *needle);
void
tw_nap(void);

G_END_DECLS
