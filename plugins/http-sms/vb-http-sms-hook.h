/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

#include "vestibule.h"

G_BEGIN_DECLS

/*
 * The parsing of what a gateway such as Kannel sends to the delivery report
 * and inbound hooks, without the request: pure functions, so that the fuzzer
 * and the plugin share them.
 */

/* the fields of @body (for a POST with a body of @content_type) then of
 * @query (may be NULL), in a single array of VbSecureFormField:
 * vb_secure_form_lookup() finds the body's first. Values may be any bytes,
 * as UTF-16 text is */
GPtrArray *
vb_http_sms_hook_params(gboolean post,
			const gchar *content_type,
			const gchar *body,
			gsize body_len,
			const gchar *query,
			GError **error);
/* a field's value as UTF-8 text, or NULL */
gchar *
vb_http_sms_hook_param_text(GPtrArray *params, const gchar *name);
/* the state a report's status gives: a Kannel report type (1, 2, 4, 8, 16)
 * or a state's name; NULL if it is neither */
const gchar *
vb_http_sms_hook_dlr_state(const gchar *status);
/* the sender as the core wants it: E.164 when the gateway gives an
 * international form, as given when national (the core reads it with the
 * store's country); NULL if it is not a phone number */
gchar *
vb_http_sms_hook_sender(const gchar *raw);
/* @raw_text as UTF-8 text, converted from @charset (NULL or empty for
 * UTF-8); NULL if it does not convert. It may be empty, or hold a NUL when
 * converted */
gchar *
vb_http_sms_hook_text(const VbSecureFormField *raw_text, const gchar *charset);

G_END_DECLS
