/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-prompts-private.h"
#include "vb-sms-provider.h"
#include "vb-sms-router-private.h"

/*
 * The libFuzzer target of SMS segmenting: the input is a text (an inbound
 * SMS forwarded to the operator, a store name), counted as GSM-7 or UCS-2,
 * then rendered into a template and shortened to a maximum of segments by
 * the SMS router. A byte chooses the template and the maximum.
 */

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static void
fuzz_check_encoding(const gchar *text)
{
	guint segments = 0;
	guint units = 0;
	VbSmsEncoding encoding = vb_sms_text_get_encoding(text, &segments, &units);
	guint single = encoding == VB_SMS_ENCODING_GSM7 ? 160 : 70;
	guint multi = encoding == VB_SMS_ENCODING_GSM7 ? 153 : 67;

	g_assert_true(encoding == VB_SMS_ENCODING_GSM7 || encoding == VB_SMS_ENCODING_UCS2);
	g_assert_cmpuint(segments, >=, 1);
	if (units <= single) {
		g_assert_cmpuint(segments, ==, 1);
	} else {
		/* no character splits, and a character is at most 2 units */
		g_assert_cmpuint(segments, >=, (units + multi - 1) / multi);
		g_assert_cmpuint(segments, <=, (units + multi - 2) / (multi - 1));
	}
	/* a character is 1 or 2 units, and one byte makes at most one character */
	g_assert_cmpuint(units, <=, 2 * strlen(text));
	if (text[0] != '\0')
		g_assert_cmpuint(units, >=, 1);
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	static const gchar *const shortenable[] = {"body", "store", NULL};
	g_autofree gchar *text = NULL;
	g_autofree gchar *valid = NULL;
	g_autofree gchar *rendered = NULL;
	g_autoptr(GHashTable) params = NULL;
	VbSmsTemplate template_;
	guint max_segments;
	gboolean shortened = FALSE;

	if (size == 0)
		return 0;
	template_ = data[0] % VB_SMS_LAST;
	max_segments = 1 + (data[0] >> 4) % 4;
	text = g_strndup((const gchar *)data + 1, size - 1);
	fuzz_check_encoding(text);

	/* what the router renders is UTF-8: inbound bodies are made valid first */
	valid = g_utf8_make_valid(text, -1);
	params = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	g_hash_table_insert(params, (gpointer) "body", g_strdup(valid));
	g_hash_table_insert(params, (gpointer) "store", g_strdup(valid));
	g_hash_table_insert(params, (gpointer) "phone", g_strdup("+33612345678"));
	g_hash_table_insert(params, (gpointer) "visit", g_strdup("42"));
	g_hash_table_insert(params, (gpointer) "url", g_strdup("https://s.example/r/abc"));
	g_hash_table_insert(params, (gpointer) "code", g_strdup("123456"));
	rendered =
	    vb_sms_render_fitted(template_, "en", params, shortenable, max_segments, &shortened);
	g_assert_nonnull(rendered);
	g_assert_true(g_utf8_validate(rendered, -1, NULL));
	fuzz_check_encoding(rendered);
	return 0;
}
