/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-sms-provider.h"
#include "vb-sms-router-private.h"

static gchar *
repeat(const gchar *piece, guint n)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < n; i++)
		g_string_append(s, piece);
	return g_string_free(s, FALSE);
}

static void
assert_text(const gchar *text, VbSmsEncoding encoding, guint segments, guint units)
{
	guint n_segments = 0;
	guint n_units = 0;

	g_assert_cmpint(vb_sms_text_get_encoding(text, &n_segments, &n_units), ==, encoding);
	g_assert_cmpuint(n_units, ==, units);
	g_assert_cmpuint(n_segments, ==, segments);
	/* both out parameters are optional */
	g_assert_cmpint(vb_sms_text_get_encoding(text, NULL, NULL), ==, encoding);
}

static void
test_sms_text_empty(void)
{
	assert_text("", VB_SMS_ENCODING_GSM7, 1, 0);
}

static void
test_sms_text_gsm7_boundaries(void)
{
	g_autofree gchar *t160 = repeat("a", 160);
	g_autofree gchar *t161 = repeat("a", 161);
	g_autofree gchar *t306 = repeat("a", 153 * 2);
	g_autofree gchar *t307 = repeat("a", 153 * 2 + 1);
	g_autofree gchar *t459 = repeat("a", 153 * 3);

	assert_text("Hello", VB_SMS_ENCODING_GSM7, 1, 5);
	assert_text(t160, VB_SMS_ENCODING_GSM7, 1, 160);
	assert_text(t161, VB_SMS_ENCODING_GSM7, 2, 161);
	assert_text(t306, VB_SMS_ENCODING_GSM7, 2, 306);
	assert_text(t307, VB_SMS_ENCODING_GSM7, 3, 307);
	assert_text(t459, VB_SMS_ENCODING_GSM7, 3, 459);
}

static void
test_sms_text_gsm7_extension(void)
{
	g_autofree gchar *t79 = repeat("a", 79);
	g_autofree gchar *e80 = repeat("€", 80);
	g_autofree gchar *e81 = repeat("€", 81);
	g_autofree gchar *t152 = repeat("a", 152);
	g_autofree gchar *split = NULL;
	g_autofree gchar *fits = NULL;
	const gchar *ext[] = {"€", "[", "]", "{", "}", "\\", "^", "~", "|", "\f"};

	/* each extension character is an escape plus one septet */
	for (guint i = 0; i < G_N_ELEMENTS(ext); i++)
		assert_text(ext[i], VB_SMS_ENCODING_GSM7, 1, 2);
	assert_text(e80, VB_SMS_ENCODING_GSM7, 1, 160);
	assert_text(e81, VB_SMS_ENCODING_GSM7, 2, 162);

	/* 158 + 2 = 160: one segment */
	fits = g_strconcat(t79, t79, "€", NULL);
	assert_text(fits, VB_SMS_ENCODING_GSM7, 1, 160);

	/* 152 + 2 + 152 = 306 septets would fill two segments exactly, but the
	 * escape would end the first one and its character start the second:
	 * the pair moves whole to the second segment, which then overflows */
	split = g_strconcat(t152, "€", t152, NULL);
	assert_text(split, VB_SMS_ENCODING_GSM7, 3, 306);
}

static void
test_sms_text_gsm7_accents(void)
{
	/* é, è, à, ù, ì, ò, Ç, É, ä, ö, ü, ñ, ß, Å are in the default alphabet */
	assert_text("Merci, à bientôt", VB_SMS_ENCODING_UCS2, 1, 16);
	assert_text("Café é è à ù ì ò Ç É", VB_SMS_ENCODING_GSM7, 1, 20);
	assert_text("Grüße aus Köln, Señor Åsa", VB_SMS_ENCODING_GSM7, 1, 25);
	assert_text("£5 ¥ § ¿¡ Δ Ω", VB_SMS_ENCODING_GSM7, 1, 13);
	/* ê, â, ç, î, ô are not */
	assert_text("fenêtre", VB_SMS_ENCODING_UCS2, 1, 7);
	assert_text("ça", VB_SMS_ENCODING_UCS2, 1, 2);
	assert_text("naïve", VB_SMS_ENCODING_UCS2, 1, 5);
	/* a backtick and a tab are not GSM-7 either */
	assert_text("`", VB_SMS_ENCODING_UCS2, 1, 1);
	assert_text("a\tb", VB_SMS_ENCODING_UCS2, 1, 3);
	/* but a line break is */
	assert_text("a\nb\r\n", VB_SMS_ENCODING_GSM7, 1, 5);
}

static void
test_sms_text_ucs2_boundaries(void)
{
	g_autofree gchar *t70 = repeat("ê", 70);
	g_autofree gchar *t71 = repeat("ê", 71);
	g_autofree gchar *t134 = repeat("ê", 67 * 2);
	g_autofree gchar *t135 = repeat("ê", 67 * 2 + 1);
	g_autofree gchar *mix = NULL;
	g_autofree gchar *a159 = repeat("a", 159);

	assert_text(t70, VB_SMS_ENCODING_UCS2, 1, 70);
	assert_text(t71, VB_SMS_ENCODING_UCS2, 2, 71);
	assert_text(t134, VB_SMS_ENCODING_UCS2, 2, 134);
	assert_text(t135, VB_SMS_ENCODING_UCS2, 3, 135);

	/* one non-GSM character makes the whole message UCS-2: 159 + 1 units */
	mix = g_strconcat(a159, "ê", NULL);
	assert_text(mix, VB_SMS_ENCODING_UCS2, 3, 160);
	/* Cyrillic and CJK */
	assert_text("Привет", VB_SMS_ENCODING_UCS2, 1, 6);
	assert_text("你好", VB_SMS_ENCODING_UCS2, 1, 2);
}

static void
test_sms_text_emoji(void)
{
	g_autofree gchar *t66 = repeat("ê", 66);
	g_autofree gchar *t68 = repeat("ê", 68);
	g_autofree gchar *e35 = repeat("😀", 35);
	g_autofree gchar *e36 = repeat("😀", 36);
	g_autofree gchar *split = NULL;
	g_autofree gchar *edge = NULL;

	/* outside the BMP: a surrogate pair, two units */
	assert_text("😀", VB_SMS_ENCODING_UCS2, 1, 2);
	assert_text("Merci 👍", VB_SMS_ENCODING_UCS2, 1, 8);
	assert_text(e35, VB_SMS_ENCODING_UCS2, 1, 70);
	assert_text(e36, VB_SMS_ENCODING_UCS2, 2, 72);

	/* 66 + 2 + 66 = 134 units would fill two segments exactly, but the pair
	 * would straddle them: it moves whole to the second, which overflows */
	split = g_strconcat(t66, "😀", t66, NULL);
	assert_text(split, VB_SMS_ENCODING_UCS2, 3, 134);
	/* 68 + 2 = 70 units: one segment */
	edge = g_strconcat(t68, "😀", NULL);
	assert_text(edge, VB_SMS_ENCODING_UCS2, 1, 70);
}

static void
test_sms_text_invalid_utf8(void)
{
	/* a stray byte becomes a replacement character: UCS-2, one unit */
	assert_text("ab\xff", VB_SMS_ENCODING_UCS2, 1, 3);
}

static const gchar *const shortenable[] = {"body", "store", NULL};

static GHashTable *
params_new(void)
{
	return g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
}

static guint
segments_of(const gchar *text)
{
	guint n = 0;

	vb_sms_text_get_encoding(text, &n, NULL);
	return n;
}

static void
test_sms_fit_forward_body(void)
{
	g_autoptr(GHashTable) params = params_new();
	g_autoptr(GString) body = g_string_new(NULL);
	g_autofree gchar *text = NULL;
	g_autofree gchar *kept = NULL;
	gboolean shortened = FALSE;
	const gchar *cut;

	/* a long reply to forward: 50 numbered words */
	for (guint i = 0; i < 50; i++)
		g_string_append_printf(body, "%sword%02u", i > 0 ? " " : "", i);
	g_hash_table_insert(params, (gpointer) "phone", g_strdup("+33 6.. .. .. 34"));
	g_hash_table_insert(params, (gpointer) "visit", g_strdup("v-20260101T000000-abcd"));
	g_hash_table_insert(params, (gpointer) "body", g_strdup(body->str));

	/* it fits three segments as it is */
	text = vb_sms_render_fitted(VB_SMS_FORWARD, "en", params, shortenable, 3, &shortened);
	g_assert_false(shortened);
	g_assert_true(g_str_has_suffix(text, "word49"));
	g_clear_pointer(&text, g_free);

	/* one segment: the reply is cut after a whole word, with an ellipsis;
	 * the number and the visit are whole */
	text = vb_sms_render_fitted(VB_SMS_FORWARD, "en", params, shortenable, 1, &shortened);
	g_assert_true(shortened);
	g_assert_cmpuint(segments_of(text), ==, 1);
	g_assert_true(g_str_has_prefix(
	    text, "Reply from +33 6.. .. .. 34 about visit v-20260101T000000-abcd: word00 word01"));
	g_assert_true(g_str_has_suffix(text, "..."));
	cut = strstr(text, ": word00") + 2;
	kept = g_strndup(cut, strlen(cut) - 3);
	/* a prefix of the reply that ends where a word ends */
	g_assert_true(g_str_has_prefix(body->str, kept));
	g_assert_cmpint(body->str[strlen(kept)], ==, ' ');
	/* and as long as fits: one more word would not */
	g_assert_cmpuint(strlen(text) + strlen(" word00"), >, 160);
}

static void
test_sms_fit_receipt_link(void)
{
	g_autoptr(GHashTable) params = params_new();
	g_autofree gchar *text = NULL;
	g_autoptr(GString) long_store = g_string_new(NULL);
	const gchar *url = "https://shop.example/r/0123456789abcdef0123456789abcdef";
	gboolean shortened = FALSE;

	for (guint i = 0; i < 40; i++)
		g_string_append(long_store, "Grocery ");
	g_hash_table_insert(params, (gpointer) "store", g_strdup(long_store->str));
	g_hash_table_insert(params, (gpointer) "url", g_strdup(url));
	text = vb_sms_render_fitted(VB_SMS_RECEIPT, "en", params, shortenable, 1, &shortened);
	g_assert_true(shortened);
	g_assert_cmpuint(segments_of(text), ==, 1);
	/* the link is never cut; the store's name is, at a word */
	g_assert_true(g_str_has_suffix(text, url));
	g_assert_true(g_str_has_prefix(text, "Grocery Grocery"));
	g_assert_nonnull(strstr(text, "Grocery...: your receipt is ready: "));
}

static void
test_sms_fit_code_and_stop(void)
{
	g_autoptr(GHashTable) params = params_new();
	g_autoptr(GString) long_store = g_string_new(NULL);
	g_autofree gchar *text = NULL;
	gboolean shortened = FALSE;

	for (guint i = 0; i < 60; i++)
		g_string_append(long_store, "Corner ");
	g_hash_table_insert(params, (gpointer) "store", g_strdup(long_store->str));
	g_hash_table_insert(params, (gpointer) "code", g_strdup("123456"));
	text = vb_sms_render_fitted(VB_SMS_OTP, "en", params, shortenable, 1, &shortened);
	g_assert_true(shortened);
	g_assert_cmpuint(segments_of(text), ==, 1);
	g_assert_true(g_str_has_suffix(
	    text, "...: your code is 123456. It is valid for 10 minutes. Never share it."));
	g_clear_pointer(&text, g_free);

	g_hash_table_insert(params, (gpointer) "contact", g_strdup("help@shop.example"));
	text = vb_sms_render_fitted(VB_SMS_HELP, "en", params, shortenable, 1, &shortened);
	g_assert_true(shortened);
	g_assert_cmpuint(segments_of(text), ==, 1);
	g_assert_true(g_str_has_suffix(text, "...: for help, contact help@shop.example. Reply "
					     "STOP to receive no more messages."));
}

static void
test_sms_fit_invalid_utf8(void)
{
	g_autoptr(GHashTable) params = params_new();
	g_autoptr(GString) body = g_string_new(NULL);
	g_autofree gchar *text = NULL;
	gboolean shortened = FALSE;

	/* a reply whose last character was cut mid-sequence, and a stray byte:
	 * text no caller passes today, but the words are counted and cut on
	 * character boundaries, never past the end of the string */
	for (guint i = 0; i < 50; i++)
		g_string_append_printf(body, "%sword%02u", i > 0 ? " " : "", i);
	g_string_append(body, " caf\xc3 \xff\xe2");
	g_hash_table_insert(params, (gpointer) "phone", g_strdup("+33 6.. .. .. 34"));
	g_hash_table_insert(params, (gpointer) "visit", g_strdup("v-20260101T000000-abcd"));
	g_hash_table_insert(params, (gpointer) "body", g_strdup(body->str));
	text = vb_sms_render_fitted(VB_SMS_FORWARD, "en", params, shortenable, 1, &shortened);
	g_assert_true(shortened);
	g_assert_true(g_utf8_validate(text, -1, NULL));
	g_assert_cmpuint(segments_of(text), ==, 1);
	g_assert_true(g_str_has_suffix(text, "..."));
	g_clear_pointer(&text, g_free);

	/* where it fits, it goes whole, the broken bytes as U+FFFD */
	g_hash_table_replace(params, (gpointer) "body", g_strdup("caf\xc3 ok \xe2"));
	text = vb_sms_render_fitted(VB_SMS_FORWARD, "en", params, shortenable, 2, &shortened);
	g_assert_false(shortened);
	g_assert_true(g_utf8_validate(text, -1, NULL));
	g_assert_true(g_str_has_suffix(text, ": caf\xef\xbf\xbd ok \xef\xbf\xbd"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/sms/text/empty", test_sms_text_empty);
	g_test_add_func("/sms/text/gsm7-boundaries", test_sms_text_gsm7_boundaries);
	g_test_add_func("/sms/text/gsm7-extension", test_sms_text_gsm7_extension);
	g_test_add_func("/sms/text/gsm7-accents", test_sms_text_gsm7_accents);
	g_test_add_func("/sms/text/ucs2-boundaries", test_sms_text_ucs2_boundaries);
	g_test_add_func("/sms/text/emoji", test_sms_text_emoji);
	g_test_add_func("/sms/text/invalid-utf8", test_sms_text_invalid_utf8);
	g_test_add_func("/sms/fit/forward-body", test_sms_fit_forward_body);
	g_test_add_func("/sms/fit/receipt-link", test_sms_fit_receipt_link);
	g_test_add_func("/sms/fit/code-and-stop", test_sms_fit_code_and_stop);
	g_test_add_func("/sms/fit/invalid-utf8", test_sms_fit_invalid_utf8);
	return g_test_run();
}
