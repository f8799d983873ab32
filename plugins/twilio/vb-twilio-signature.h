/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

#include "vb-secure.h"

G_BEGIN_DECLS

/*
 * Twilio's request signature, X-Twilio-Signature: base64 of HMAC-SHA1, keyed
 * with the account's auth token, over the full URL that Twilio requested
 * (scheme, host, port if any, path and query) followed by every POST
 * parameter's name and value, sorted by name (then by value, for a name sent
 * twice), with no separators. @params hold VbSecureFormField, as
 * vb_secure_form_decode() gives them. Pure functions, so that the test can
 * check them against the example in Twilio's documentation.
 */

/* the base64 signature Twilio sends for @url and @params (may be NULL) */
gchar *
vb_twilio_signature_compute(const guint8 *token,
			    gsize token_len,
			    const gchar *url,
			    GPtrArray *params);
/* whether @signature matches @url and @params, in constant time; the URL is
 * also tried with the scheme's default port added or removed, as Twilio's
 * own validators do, since Twilio may sign either form */
gboolean
vb_twilio_signature_check(const guint8 *token,
			  gsize token_len,
			  const gchar *url,
			  GPtrArray *params,
			  const gchar *signature);

G_END_DECLS
