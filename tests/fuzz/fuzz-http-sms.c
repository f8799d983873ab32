/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-error.h"
#include "vb-http-sms-hook.h"

/*
 * The libFuzzer target of the http-sms hooks, which Kannel calls with its
 * delivery reports and inbound messages: the input is a byte choosing the
 * method and the content type, the URL's query up to a newline, then the
 * body; the fields are read as the hooks read them, the text in the charset
 * the request names (UTF-16BE for Kannel's UCS-2).
 */

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static const gchar *const fuzz_types[] = {"application/x-www-form-urlencoded", NULL, "text/plain"};
static const gchar *const fuzz_states[] = {"queued",	  "sent",   "delivered",
					   "undelivered", "failed", NULL};

static void
fuzz_check_sender(const gchar *raw)
{
	g_autofree gchar *from = vb_http_sms_hook_sender(raw);
	gsize len;

	if (from == NULL)
		return;
	len = strlen(from);
	g_assert_cmpuint(len, >=, 3);
	g_assert_cmpuint(len, <=, 16);
	for (gsize i = 0; i < len; i++)
		g_assert_true(g_ascii_isdigit(from[i]) || (i == 0 && from[i] == '+'));
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	const gchar *end = (const gchar *)data + size;
	const gchar *query_end;
	const gchar *body;
	g_autofree gchar *query = NULL;
	g_autofree gchar *status = NULL;
	g_autofree gchar *raw_from = NULL;
	g_autofree gchar *charset = NULL;
	g_autofree gchar *text = NULL;
	g_autoptr(GPtrArray) params = NULL;
	g_autoptr(GError) error = NULL;
	const VbSecureFormField *raw_text;
	gboolean post;

	if (size == 0)
		return 0;
	post = (data[0] & 1) != 0;
	query_end = memchr(data + 1, '\n', size - 1);
	if (query_end == NULL)
		query_end = end;
	body = query_end < end ? query_end + 1 : end;
	/* a URL's query has no NUL; an empty line is no query */
	if (query_end > (const gchar *)data + 1)
		query = g_strndup((const gchar *)data + 1,
				  (gsize)(query_end - (const gchar *)data - 1));
	params =
	    vb_http_sms_hook_params(post, fuzz_types[(data[0] >> 1) % G_N_ELEMENTS(fuzz_types)],
				    body, (gsize)(end - body), query, &error);
	if (params == NULL) {
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
		return 0;
	}
	g_assert_no_error(error);

	/* a delivery report's state is one of five, or the report is refused */
	status = vb_http_sms_hook_param_text(params, "status");
	if (status != NULL) {
		const gchar *state = vb_http_sms_hook_dlr_state(status);
		g_assert_true(state == NULL || g_strv_contains(fuzz_states, state));
	}

	/* an inbound message, with the default field names */
	raw_from = vb_http_sms_hook_param_text(params, "from");
	if (raw_from != NULL) {
		g_assert_true(g_utf8_validate(raw_from, -1, NULL));
		fuzz_check_sender(raw_from);
	}
	raw_text = vb_secure_form_lookup(params, "text");
	if (raw_text == NULL)
		return 0;
	charset = vb_http_sms_hook_param_text(params, "charset");
	text = vb_http_sms_hook_text(raw_text, charset);
	/* the text goes out in a GVariant string, which must be UTF-8 */
	if (text != NULL) {
		g_autoptr(GVariant) variant = NULL;
		g_assert_true(g_utf8_validate(text, -1, NULL));
		variant = g_variant_ref_sink(g_variant_new_string(text));
		g_assert_nonnull(variant);
	}
	return 0;
}
