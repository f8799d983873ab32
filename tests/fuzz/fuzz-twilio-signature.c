/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-error.h"
#include "vb-twilio-signature.h"

/*
 * The libFuzzer target of the Twilio webhook's signature check: the input is
 * the URL Twilio requested, a line with the X-Twilio-Signature it sent, and
 * the form body, as vb-twilio.c reads them.
 */

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

/* the auth token of Twilio's documented example */
#define FUZZ_TOKEN "12345"

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	const guint8 *token = (const guint8 *)FUZZ_TOKEN;
	gsize token_len = strlen(FUZZ_TOKEN);
	const gchar *end = (const gchar *)data + size;
	const gchar *url_end = memchr(data, '\n', size);
	const gchar *sig_end;
	g_autofree gchar *url = NULL;
	g_autofree gchar *signature = NULL;
	g_autofree gchar *expected = NULL;
	g_autofree gchar *bare = NULL;
	g_autoptr(GPtrArray) params = NULL;
	g_autoptr(GError) error = NULL;

	if (url_end == NULL)
		return 0;
	sig_end = memchr(url_end + 1, '\n', (gsize)(end - url_end - 1));
	if (sig_end == NULL)
		sig_end = end;
	/* the URL comes from a printf, and a header has no NUL: each stops at one */
	url = g_strndup((const gchar *)data, (gsize)(url_end - (const gchar *)data));
	signature = g_strndup(url_end + 1, (gsize)(sig_end - url_end - 1));

	/* whatever is sent, the check answers */
	(void)vb_twilio_signature_check(token, token_len, url, NULL, signature);
	if (sig_end == end)
		return 0;
	params = vb_secure_form_decode(sig_end + 1, (gssize)(end - sig_end - 1),
				       VB_SECURE_FORM_NONE, &error);
	if (params == NULL) {
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
		return 0;
	}
	(void)vb_twilio_signature_check(token, token_len, url, params, signature);

	/* the signature of the parsed fields verifies, and only with the token */
	expected = vb_twilio_signature_compute(token, token_len, url, params);
	g_assert_nonnull(expected);
	g_assert_cmpuint(strlen(expected), ==, 28);
	g_assert_true(vb_twilio_signature_check(token, token_len, url, params, expected));
	g_assert_false(vb_twilio_signature_check(token, token_len - 1, url, params, expected));
	g_assert_false(vb_twilio_signature_check(token, 0, url, params, expected));
	g_assert_false(vb_twilio_signature_check(token, token_len, url, params, ""));
	g_assert_false(vb_twilio_signature_check(token, token_len, url, params, NULL));

	/* Twilio may sign the URL with the default port added: a host without
	 * a port, user or IPv6 literal gets it after its name */
	if (g_str_has_prefix(url, "https://")) {
		gsize host_len = strcspn(url + 8, ":/?#[]@");
		gchar after = url[8 + host_len];
		if (host_len > 0 &&
		    (after == '\0' || after == '/' || after == '?' || after == '#')) {
			g_autofree gchar *with_port = g_strdup_printf(
			    "%.*s:443%s", (gint)(8 + host_len), url, url + 8 + host_len);
			bare = vb_twilio_signature_compute(token, token_len, with_port, params);
			g_assert_true(
			    vb_twilio_signature_check(token, token_len, url, params, bare));
		}
	}
	return 0;
}
