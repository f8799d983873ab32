/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-context.h"
#include "vb-event.h"
#include "vb-host-private.h"

G_BEGIN_DECLS

/*
 * VbCustomers: who the shoppers are, without knowing their numbers in clear.
 *
 * A customer is a phone number, sealed with the phone key and found through a
 * keyed blind index. Cards (by token) link to at most one customer; a customer
 * may have several cards. Nothing here logs a number, a code or a PAN.
 *
 * Functions that write several rows are atomic: they run in the caller's
 * transaction when one is open (vb_store_in_transaction()), else in their own.
 */

#define VB_TYPE_CUSTOMERS (vb_customers_get_type())
G_DECLARE_FINAL_TYPE(VbCustomers, vb_customers, VB, CUSTOMERS, GObject)

/* the keys come from the context: [vestibule] phone-key, phone-index-key and
 * otp-key of the secrets file */
VbCustomers *
vb_customers_new(VbContext *context, VbHost *host);

typedef struct {
	gchar *token;
	gchar *kind; /* payment or uid */
	gchar *first6;
	gchar *last4;
	gchar *expiry; /* YYYY-MM */
	gchar *scheme;
	gchar *language;    /* from the card */
	gint64 customer_id; /* 0: no phone linked yet */
	gint64 visits;	    /* visits counted so far */
} VbCard;

void
vb_card_free(VbCard *card);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbCard, vb_card_free)

/* records a card-presented event's card (insert, or update last_seen and the
 * display data), following an alias to its card, and adds the event's alias, if
 * any, to the card; returns what is known about it */
VbCard *
vb_customers_card_seen(VbCustomers *self, VbEvent *card_presented, GError **error);
VbCard *
vb_customers_get_card(VbCustomers *self, const gchar *token_or_alias, GError **error);
gboolean
vb_customers_count_visit(VbCustomers *self, const gchar *token, GError **error);
gboolean
vb_customers_add_alias(VbCustomers *self, const gchar *token, const gchar *alias, GError **error);

/* phones: @e164 comes from vb_phone_normalize() */
gint64
vb_customers_find_phone(VbCustomers *self, const gchar *e164, GError **error);
gint64
vb_customers_add_phone(VbCustomers *self, const gchar *e164, const gchar *language, GError **error);
/* the number in clear, for the SMS provider only; free with vb_secure_free_string() */
gchar *
vb_customers_get_phone(VbCustomers *self, gint64 customer_id, GError **error);
gchar *
vb_customers_get_phone_masked(VbCustomers *self, gint64 customer_id, GError **error);
gchar *
vb_customers_get_language(VbCustomers *self, gint64 customer_id);
gboolean
vb_customers_link_card(VbCustomers *self, const gchar *token, gint64 customer_id, GError **error);
guint
vb_customers_count_cards(VbCustomers *self, gint64 customer_id);

/* how long a one-time code is good for, from its issue, in µs */
#define VB_CUSTOMERS_OTP_LIFETIME (10 * G_TIME_SPAN_MINUTE)

/* one-time codes: 6 digits from the CSPRNG, valid 10 minutes, single use, only
 * the latest counts, at most 3 wrong tries; a resend within 30 s of the last
 * send, or a sixth send within an hour, is VB_ERROR_RATE_LIMITED. Returns the
 * code to send; free it with vb_secure_free_string() */
gchar *
vb_customers_otp_issue(VbCustomers *self, gint64 customer_id, GError **error);

typedef enum {
	VB_OTP_OK,	  /* right code: it is now used up */
	VB_OTP_WRONG,	  /* wrong code; tries are left */
	VB_OTP_EXHAUSTED, /* the third wrong try: a new code is needed */
	VB_OTP_EXPIRED,	  /* older than 10 minutes: a new code is needed */
	VB_OTP_NONE,	  /* no code was issued, or it was used */
} VbOtpResult;

VbOtpResult
vb_customers_otp_verify(VbCustomers *self,
			gint64 customer_id,
			const gchar *code,
			guint *tries_left,
			GError **error);

/* consent: an append-only log of what was given or withdrawn, by whom (the
 * blind index), when, through which channel, with the exact text and version */
gboolean
vb_customers_record_consent(VbCustomers *self,
			    gint64 customer_id,
			    const gchar *purpose,
			    gboolean given,
			    const gchar *text,
			    const gchar *version,
			    const gchar *channel,
			    GError **error);
/* STOP and START: sets the flag and records the consent change */
gboolean
vb_customers_set_sms_opt_out(VbCustomers *self,
			     gint64 customer_id,
			     gboolean opted_out,
			     const gchar *text,
			     const gchar *channel,
			     GError **error);
gboolean
vb_customers_is_sms_opted_out(VbCustomers *self, gint64 customer_id);

/* feedback: replies from shoppers */
gint64
vb_customers_add_feedback(VbCustomers *self,
			  gint64 customer_id,
			  const gchar *visit_id,
			  const gchar *body,
			  GError **error);
/* a{sv}: id (x), visit (s), phone (s, masked), received (x, µs), body (s), handled (b) */
GPtrArray *
vb_customers_list_feedback(VbCustomers *self, gboolean unhandled_only, GError **error);
gboolean
vb_customers_mark_feedback(VbCustomers *self, gint64 id, gboolean handled, GError **error);

/* erasure on request: the phone, its codes, its card links and aliases, its
 * feedback go; visits stay, for the financial records the law requires, with
 * the customer and card token removed (amounts, first6/last4 and the processor
 * reference stay). Returns a{sv} of counts: cards, feedback, visits */
GVariant *
vb_customers_erase(VbCustomers *self, gint64 customer_id, GError **error);

G_END_DECLS
