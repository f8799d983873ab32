/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "vb-bus-private.h"
#include "vb-error.h"
#include "vb-context-private.h"
#include "vb-events.h"
#include "vb-host-private.h"
#include "vb-http-server-private.h"
#include "vb-money.h"
#include "vb-orders-private.h"
#include "vb-orders-test-private.h"
#include "vb-replies-private.h"
#include "vb-replies-test-private.h"
#include "vb-store-private.h"
#include "vb-visit-manager-private.h"

/* money, the receipt page and its JSON, and the reply keywords: what a shopper
 * reads on the receipt and what their SMS words mean, without a daemon */

static void
test_orders_money(void)
{
	struct {
		gint64 minor;
		const gchar *currency;
		const gchar *language;
		const gchar *out;
	} cases[] = {
	    {1250, "EUR", "en", "12.50 EUR"},
	    {1250, "EUR", "fr", "12,50 EUR"},
	    {1250, "EUR", "fr_CA", "12,50 EUR"},
	    {1250, "EUR", "pt-BR", "12,50 EUR"},
	    {1250, "EUR", NULL, "12.50 EUR"},
	    {5, "EUR", "en", "0.05 EUR"},
	    {0, "EUR", "en", "0.00 EUR"},
	    {100000, "USD", "en", "1000.00 USD"},
	    {-1250, "EUR", "en", "-12.50 EUR"},
	    {-5, "EUR", "fr", "-0,05 EUR"},
	    /* zero-decimal currencies keep their minor unit as the unit */
	    {1250, "JPY", "en", "1250 JPY"},
	    {1250, "JPY", "fr", "1250 JPY"},
	    {45000, "KRW", "en", "45000 KRW"},
	    {-300, "jpy", "en", "-300 jpy"},
	    /* and three-decimal ones have a thousandth */
	    {1234, "KWD", "en", "1.234 KWD"},
	    {G_MININT64, "EUR", "en", "-92233720368547758.08 EUR"},
	    {G_MAXINT64, "JPY", "en", "9223372036854775807 JPY"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *out =
		    vb_money_format(cases[i].minor, cases[i].currency, cases[i].language);
		g_assert_cmpstr(out, ==, cases[i].out);
	}
	g_assert_cmpuint(vb_money_get_decimals("EUR"), ==, 2);
	g_assert_cmpuint(vb_money_get_decimals("JPY"), ==, 0);
	g_assert_cmpuint(vb_money_get_decimals("BHD"), ==, 3);
	g_assert_cmpuint(vb_money_get_decimals(NULL), ==, 2);
}

static void
test_orders_paths(void)
{
	struct {
		const gchar *path;
		const gchar *id;
		gint code; /* the error when @id is NULL */
	} orders[] = {
	    {"/api/v1/visits/01JD0ABC/order", "01JD0ABC", 0},
	    {"/api/v1/visits/v-1_2.3:4/order", "v-1_2.3:4", 0},
	    {"/api/v1/visits/01JD0ABC", NULL, VB_ERROR_NOT_FOUND},
	    {"/api/v1/visits/01JD0ABC/", NULL, VB_ERROR_NOT_FOUND},
	    {"/api/v1/visits/01JD0ABC/order/", NULL, VB_ERROR_NOT_FOUND},
	    {"/api/v1/visits/01JD0ABC/orders", NULL, VB_ERROR_NOT_FOUND},
	    {"/api/v1/visits/01JD0ABC/receipt", NULL, VB_ERROR_NOT_FOUND},
	    {"/api/v1/visits//order", NULL, VB_ERROR_INVALID_DATA},
	    {"/api/v1/visits/../order", NULL, VB_ERROR_INVALID_DATA},
	    {"/api/v1/visits/a%2Fb/order", NULL, VB_ERROR_INVALID_DATA},
	    /* the path as sent: no escape is part of an id */
	    {"/api/v1/visits/..%2F..%2Fv-1/order", NULL, VB_ERROR_INVALID_DATA},
	    {"/api/v1/visits/v-1%00/order", NULL, VB_ERROR_INVALID_DATA},
	    {"/api/v1/visits/v-1%41/order", NULL, VB_ERROR_INVALID_DATA},
	    {"/api/v1/visits/v 1/order", NULL, VB_ERROR_INVALID_DATA},
	    {"/api/v1/visits/v-1\x1b/order", NULL, VB_ERROR_INVALID_DATA},
	    {"/api/v1/visits/", NULL, VB_ERROR_NOT_FOUND},
	    {"/api/v1/visit/01JD0ABC/order", NULL, VB_ERROR_NOT_FOUND},
	};
	struct {
		const gchar *path;
		const gchar *token;
	} receipts[] = {
	    {"/r/AbC-d_e0123456789", "AbC-d_e0123456789"},
	    {"/r/", NULL},
	    {"/r/abc/def", NULL},
	    {"/r/<script>", NULL},
	    {"/r/..%2F..%2Fetc", NULL},
	    {"/r/abc%00", NULL},
	    {"/receipt/abc", NULL},
	};

	for (guint i = 0; i < G_N_ELEMENTS(orders); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *id = vb_orders_parse_order_path(orders[i].path, &error);
		g_assert_cmpstr(id, ==, orders[i].id);
		if (orders[i].id == NULL)
			g_assert_error(error, VB_ERROR, orders[i].code);
		else
			g_assert_no_error(error);
	}
	for (guint i = 0; i < G_N_ELEMENTS(receipts); i++) {
		g_autofree gchar *token = vb_orders_parse_receipt_path(receipts[i].path);
		g_assert_cmpstr(token, ==, receipts[i].token);
	}
	{
		/* an id longer than any visit id is not one */
		g_autofree gchar *long_id = g_strnfill(200, 'a');
		g_autofree gchar *path = g_strdup_printf("/api/v1/visits/%s/order", long_id);
		g_autoptr(GError) error = NULL;
		g_autofree gchar *id = vb_orders_parse_order_path(path, &error);
		g_assert_null(id);
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	}
}

static void
test_orders_escaped_nul(void)
{
	struct {
		const gchar *json;
		const gchar *where; /* the path to the first escaped NUL, or NULL */
	} cases[] = {
	    {"{\"currency\": \"EUR\", \"lines\": []}", NULL},
	    /* an escaped backslash before "u0000" is no NUL */
	    {"{\"lines\": [{\"name\": \"a\\\\u0000\"}]}", NULL},
	    {"{\"lines\": [{\"name\": \"a\\u0001\"}]}", NULL},
	    {"{\"lines\": [{\"sku\": \"A\", \"name\": \"x\\u0000y\"}]}", "lines/0/name"},
	    {"{\"currency\": \"EUR\", \"lines\": [{\"sku\": \"A\", \"name\": \"ok\", "
	     "\"quantity\": 1, \"unit_price\": [1, {\"x\": 2}]}, {\"name\": \"ok\", \"sku\": "
	     "\"B\\u0000\"}]}",
	     "lines/1/sku"},
	    /* a member's name spelled with escapes is the parser's name */
	    {"{\"lines\": [{}, {\"n\\u0061me\": \"\\u0000\"}]}", "lines/1/name"},
	    {"{\"cur\\\"rency\": \"EUR\\u0000\"}", "cur\"rency"},
	    {"[\"a\", [], \"b\\u0000\"]", "2"},
	    {"\"\\u0000\"", ""},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_auto(GStrv) where =
		    vb_orders_find_escaped_nul(cases[i].json, strlen(cases[i].json));
		g_autofree gchar *joined = where != NULL ? g_strjoinv("/", where) : NULL;
		g_autoptr(JsonNode) node = json_from_string(cases[i].json, NULL);

		/* only documents that the parser takes */
		g_assert_nonnull(node);
		g_assert_cmpstr(joined, ==, cases[i].where);
	}
}

static void
test_orders_negotiation(void)
{
	g_assert_false(vb_orders_wants_json(NULL, NULL));
	g_assert_true(vb_orders_wants_json(NULL, "json"));
	g_assert_true(vb_orders_wants_json("text/html", "json"));
	g_assert_false(vb_orders_wants_json("application/json", "html"));
	g_assert_true(vb_orders_wants_json("application/json", NULL));
	g_assert_true(vb_orders_wants_json("application/json; charset=utf-8", NULL));
	/* what a phone's browser sends */
	g_assert_false(vb_orders_wants_json(
	    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", NULL));
	g_assert_true(vb_orders_wants_json("text/html;q=0.5, application/json", NULL));
	g_assert_false(vb_orders_wants_json("*/*", NULL));

	{
		g_autofree gchar *fr = vb_orders_language_from_header("fr-FR,fr;q=0.9,en;q=0.8");
		g_autofree gchar *en = vb_orders_language_from_header("en;q=0.3, de;q=0.2");
		g_autofree gchar *star = vb_orders_language_from_header("*");
		g_autofree gchar *junk = vb_orders_language_from_header("x1");
		g_autofree gchar *none = vb_orders_language_from_header(NULL);
		g_assert_cmpstr(fr, ==, "fr");
		g_assert_cmpstr(en, ==, "en");
		g_assert_null(star);
		g_assert_null(junk);
		g_assert_null(none);
	}
}

/* a receipt as vb_visit_manager_get_receipt() gives it */
static GVariant *
test_receipt_new(const gchar *language, const gchar *settlement, gboolean with_lines)
{
	g_autoptr(GDateTime) time = g_date_time_new_utc(2026, 11, 23, 9, 16, 0);
	GVariantBuilder lines;
	GVariantDict dict;

	g_variant_builder_init(&lines, G_VARIANT_TYPE("aa{sv}"));
	if (with_lines) {
		g_variant_builder_add_parsed(&lines,
					     "{'sku': <'A1'>, 'name': <'Café \"noir\"'>, "
					     "'quantity': <int64 2>, 'unit-price': <int64 150>, "
					     "'price': <int64 300>}");
		g_variant_builder_add_parsed(
		    &lines, "{'sku': <'X9'>, 'name': <'<script>alert(1)</script>'>, "
			    "'quantity': <int64 1>, 'unit-price': <int64 950>, "
			    "'price': <int64 950>}");
	}
	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, "visit", "s", "01JD0VISIT");
	g_variant_dict_insert(&dict, "store", "s", "Épicerie <Vestibule> & Co");
	g_variant_dict_insert(&dict, "contact", "s", "+33 1 23 45 67 89 <b>");
	g_variant_dict_insert(&dict, "language", "s", language);
	g_variant_dict_insert(&dict, "currency", "s", "EUR");
	g_variant_dict_insert_value(&dict, "lines", g_variant_builder_end(&lines));
	g_variant_dict_insert(&dict, "total", "x", (gint64)(with_lines ? 1250 : 0));
	g_variant_dict_insert(&dict, "hold", "x", (gint64)5000);
	g_variant_dict_insert(&dict, "captured", "x", (gint64)(with_lines ? 1250 : 0));
	g_variant_dict_insert(&dict, "settlement", "s", settlement);
	g_variant_dict_insert(&dict, "card", "s", "497010••1234");
	g_variant_dict_insert(&dict, "time", "x", g_date_time_to_unix(time) * G_USEC_PER_SEC);
	/* what the visit manager knows and the shopper must not see */
	g_variant_dict_insert(&dict, "psp-reference", "s", "PSP-SECRET-REF");
	return g_variant_ref_sink(g_variant_dict_end(&dict));
}

static void
test_orders_receipt_escaping(void)
{
	g_autoptr(GVariant) receipt = test_receipt_new("en", "captured", TRUE);
	g_autofree gchar *html = vb_orders_render_receipt_html(receipt, NULL);

	/* the item that tries to run a script is shown as text */
	g_assert_null(strstr(html, "<script"));
	g_assert_nonnull(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	g_assert_nonnull(strstr(html, "Café &quot;noir&quot;"));
	g_assert_nonnull(strstr(html, "<h1>Épicerie &lt;Vestibule&gt; &amp; Co</h1>"));
	g_assert_null(strstr(html, "<b>"));
	g_assert_nonnull(strstr(html, "+33 1 23 45 67 89 &lt;b&gt;"));
	g_assert_null(strstr(html, "<Vestibule>"));
	g_assert_null(strstr(html, "PSP-SECRET-REF"));
	g_assert_true(g_utf8_validate(html, -1, NULL));
}

static void
test_orders_receipt_english(void)
{
	g_autoptr(GVariant) receipt = test_receipt_new("en", "captured", TRUE);
	g_autofree gchar *html = vb_orders_render_receipt_html(receipt, "fr");

	g_assert_true(g_str_has_prefix(html, "<!DOCTYPE html>\n<html lang=\"en\">"));
	g_assert_nonnull(strstr(html, "<meta charset=\"utf-8\">"));
	g_assert_nonnull(strstr(html, "name=\"viewport\""));
	g_assert_nonnull(strstr(html, "<style>"));
	g_assert_nonnull(strstr(html, "Receipt of your visit on 2026-11-23 09:16"));
	/* each item: name, quantity × unit price, line price */
	g_assert_nonnull(strstr(html, "2 × 1.50 EUR"));
	g_assert_nonnull(strstr(html, "<span class=\"m\">3.00 EUR</span>"));
	g_assert_nonnull(strstr(html, "1 × 9.50 EUR"));
	g_assert_nonnull(strstr(html, "<span class=\"m\">9.50 EUR</span>"));
	g_assert_nonnull(strstr(html, "Total"));
	g_assert_nonnull(strstr(html, "<span class=\"m\">12.50 EUR</span>"));
	/* the card, the hold and how it ended */
	g_assert_nonnull(strstr(html, "497010••1234"));
	g_assert_nonnull(strstr(html, "Hold"));
	g_assert_nonnull(strstr(html, "50.00 EUR"));
	g_assert_nonnull(strstr(html, "Your bank held 50.00 EUR when you entered. 12.50 EUR was "
				      "charged and the rest of the hold was released."));
	g_assert_nonnull(strstr(html, "Contact +33 1 23 45 67 89 &lt;b&gt;, or reply"));
	g_assert_nonnull(strstr(html, "01JD0VISIT"));
}

static void
test_orders_receipt_french(void)
{
	g_autoptr(GVariant) receipt = test_receipt_new("fr", "adjusted-and-captured", TRUE);
	g_autofree gchar *html = vb_orders_render_receipt_html(receipt, "en");

	/* the shopper's language, not the daemon's (C here) */
	g_assert_true(g_str_has_prefix(html, "<!DOCTYPE html>\n<html lang=\"fr\">"));
	g_assert_nonnull(strstr(html, "Reçu de votre passage du 2026-11-23 09:16"));
	g_assert_nonnull(strstr(html, "2 × 1,50 EUR"));
	g_assert_nonnull(strstr(html, "<span class=\"m\">12,50 EUR</span>"));
	g_assert_nonnull(strstr(html, ">Article<"));
	g_assert_nonnull(strstr(html, ">Carte<"));
	g_assert_nonnull(strstr(html, ">Débité<"));
	g_assert_nonnull(strstr(html, "Votre banque a bloqué 50,00 EUR à votre entrée."));
	g_assert_nonnull(strstr(html, "la préautorisation a été augmentée, puis 12,50 EUR"));
	g_assert_null(strstr(html, "Your bank"));
	g_assert_null(strstr(html, "12.50"));

	/* a receipt without a language follows the caller's fallback */
	{
		g_autoptr(GVariant) bare = g_variant_ref_sink(
		    g_variant_new_parsed("{'currency': <'EUR'>, 'hold': <int64 5000>, "
					 "'lines': <@aa{sv} []>, 'settlement': <'cancelled'>}"));
		g_autofree gchar *page = vb_orders_render_receipt_html(bare, "fr");
		g_assert_nonnull(strstr(page, "<html lang=\"fr\">"));
		g_assert_nonnull(strstr(page, "Aucun article n’a été pris."));
	}
}

static void
test_orders_receipt_settlements(void)
{
	struct {
		const gchar *settlement;
		const gchar *text;
	} cases[] = {
	    {"captured", "12.50 EUR was charged and the rest of the hold was released."},
	    {"cancelled", "Nothing was taken, so the hold was cancelled and nothing was charged."},
	    {"adjusted-and-captured", "the hold was raised, then 12.50 EUR was charged."},
	    {"adjust-declined-captured-hold",
	     "your bank declined raising the hold, so 12.50 EUR was charged."},
	    {"expired-cancelled", "did not arrive in time, so the hold was cancelled"},
	    {"expired-captured", "did not arrive in time, so 12.50 EUR was charged"},
	    {"", "The payment is being settled"},
	    {"something-new", "The payment is being settled"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GVariant) receipt = test_receipt_new("en", cases[i].settlement, TRUE);
		g_autofree gchar *html = vb_orders_render_receipt_html(receipt, NULL);
		if (strstr(html, cases[i].text) == NULL)
			g_error("settlement %s: no \"%s\" in\n%s", cases[i].settlement,
				cases[i].text, html);
	}
}

static void
test_orders_receipt_empty(void)
{
	g_autoptr(GVariant) receipt = test_receipt_new("en", "cancelled", FALSE);
	g_autofree gchar *html = vb_orders_render_receipt_html(receipt, NULL);

	g_assert_nonnull(strstr(html, "Nothing was taken."));
	g_assert_nonnull(strstr(html, "<span class=\"m\">0.00 EUR</span>"));
	g_assert_nonnull(strstr(html, "the hold was cancelled and nothing was charged"));
}

static void
test_orders_receipt_json(void)
{
	g_autoptr(GVariant) receipt = test_receipt_new("fr", "captured", TRUE);
	g_autoptr(JsonNode) node = vb_orders_receipt_to_json(receipt);
	g_autofree gchar *text = json_to_string(node, FALSE);
	JsonObject *obj = json_node_get_object(node);
	JsonArray *lines = json_object_get_array_member(obj, "lines");
	JsonObject *line;

	g_assert_cmpstr(json_object_get_string_member(obj, "store"), ==,
			"Épicerie <Vestibule> & Co");
	g_assert_cmpstr(json_object_get_string_member(obj, "operator-contact"), ==,
			"+33 1 23 45 67 89 <b>");
	g_assert_cmpstr(json_object_get_string_member(obj, "language"), ==, "fr");
	g_assert_cmpstr(json_object_get_string_member(obj, "currency"), ==, "EUR");
	g_assert_cmpint(json_object_get_int_member(obj, "decimals"), ==, 2);
	g_assert_cmpstr(json_object_get_string_member(obj, "time"), ==, "2026-11-23T09:16:00Z");
	g_assert_cmpint(json_object_get_int_member(obj, "total"), ==, 1250);
	g_assert_cmpint(json_object_get_int_member(obj, "hold"), ==, 5000);
	g_assert_cmpint(json_object_get_int_member(obj, "captured"), ==, 1250);
	g_assert_cmpstr(json_object_get_string_member(obj, "settlement"), ==, "captured");
	g_assert_cmpstr(json_object_get_string_member(obj, "card"), ==, "497010••1234");
	g_assert_cmpstr(json_object_get_string_member(obj, "visit"), ==, "01JD0VISIT");
	g_assert_cmpuint(json_array_get_length(lines), ==, 2);
	line = json_array_get_object_element(lines, 1);
	g_assert_cmpstr(json_object_get_string_member(line, "sku"), ==, "X9");
	g_assert_cmpstr(json_object_get_string_member(line, "name"), ==,
			"<script>alert(1)</script>");
	g_assert_cmpint(json_object_get_int_member(line, "quantity"), ==, 1);
	g_assert_cmpint(json_object_get_int_member(line, "unit-price"), ==, 950);
	g_assert_cmpint(json_object_get_int_member(line, "price"), ==, 950);
	/* only the fields a shopper may see */
	g_assert_null(strstr(text, "PSP-SECRET-REF"));
	g_assert_false(json_object_has_member(obj, "psp-reference"));
}

static void
test_orders_error_pages(void)
{
	g_autofree gchar *en404 = vb_orders_render_error_html(404, NULL);
	g_autofree gchar *fr404 = vb_orders_render_error_html(404, "fr");
	g_autofree gchar *en410 = vb_orders_render_error_html(410, "en");
	g_autofree gchar *fr410 = vb_orders_render_error_html(410, "fr");
	g_autofree gchar *en500 = vb_orders_render_error_html(500, "en");

	g_assert_nonnull(strstr(en404, "<h1>Receipt not found</h1>"));
	g_assert_nonnull(strstr(fr404, "<h1>Reçu introuvable</h1>"));
	g_assert_nonnull(strstr(fr404, "<html lang=\"fr\">"));
	g_assert_nonnull(strstr(en410, "<h1>This receipt link has expired</h1>"));
	g_assert_nonnull(strstr(fr410, "<h1>Ce lien de reçu a expiré</h1>"));
	g_assert_nonnull(strstr(en500, "try again later"));
}

static void
test_replies_keywords(void)
{
	struct {
		const gchar *body;
		VbReplyKind kind;
		const gchar *word;
	} cases[] = {
	    {"STOP", VB_REPLY_OPT_OUT, "STOP"},
	    {"stop", VB_REPLY_OPT_OUT, "stop"},
	    {"  Stop \n", VB_REPLY_OPT_OUT, "Stop"},
	    {"\xc2\xa0STOP\xe2\x80\x8b", VB_REPLY_OPT_OUT, "STOP"}, /* NBSP, zero-width space */
	    {"unsubscribe", VB_REPLY_OPT_OUT, "unsubscribe"},
	    {"End", VB_REPLY_OPT_OUT, "End"},
	    {"QUIT", VB_REPLY_OPT_OUT, "QUIT"},
	    {"stopall", VB_REPLY_OPT_OUT, "stopall"},
	    {"Revoke", VB_REPLY_OPT_OUT, "Revoke"},
	    {"OPTOUT", VB_REPLY_OPT_OUT, "OPTOUT"},
	    {"cancel", VB_REPLY_OPT_OUT, "cancel"},
	    {"Start", VB_REPLY_OPT_IN, "Start"},
	    {"yes", VB_REPLY_OPT_IN, "yes"},
	    {"UNSTOP", VB_REPLY_OPT_IN, "UNSTOP"},
	    {"HELP", VB_REPLY_HELP, "HELP"},
	    {"info", VB_REPLY_HELP, "info"},
	    {"\tHelp ", VB_REPLY_HELP, "Help"},
	    /* a keyword is the whole message */
	    {"STOP please", VB_REPLY_FEEDBACK, "STOP please"},
	    {"please stop", VB_REPLY_FEEDBACK, "please stop"},
	    {"STOP.", VB_REPLY_FEEDBACK, "STOP."},
	    {"S T O P", VB_REPLY_FEEDBACK, "S T O P"},
	    {"stopp", VB_REPLY_FEEDBACK, "stopp"},
	    {"help me, the door is stuck", VB_REPLY_FEEDBACK, "help me, the door is stuck"},
	    {"The milk was sour", VB_REPLY_FEEDBACK, "The milk was sour"},
	    {"", VB_REPLY_FEEDBACK, ""},
	    {"   ", VB_REPLY_FEEDBACK, ""},
	    {"\xff\xfeSTOP", VB_REPLY_FEEDBACK, "\xff\xfeSTOP"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *word = NULL;
		VbReplyKind kind = vb_replies_classify(cases[i].body, &word);
		g_assert_cmpint(kind, ==, cases[i].kind);
		g_assert_cmpstr(word, ==, cases[i].word);
	}
	g_assert_cmpint(vb_replies_classify(NULL, NULL), ==, VB_REPLY_FEEDBACK);
}

static void
test_replies_webhook(void)
{
	struct {
		guint status;
		const gchar *retry_after;
		VbOutboxOutcome outcome;
		guint retry_after_ms;
		const gchar *message;
	} cases[] = {
	    {200, NULL, VB_OUTBOX_OUTCOME_DONE, 0, NULL},
	    {204, "30", VB_OUTBOX_OUTCOME_DONE, 0, NULL},
	    {408, NULL, VB_OUTBOX_OUTCOME_RETRY, 0, "the webhook answered HTTP 408"},
	    {429, "30", VB_OUTBOX_OUTCOME_RETRY, 30000, "the webhook answered HTTP 429"},
	    {503, "120", VB_OUTBOX_OUTCOME_RETRY, 120000, "the webhook answered HTTP 503"},
	    {500, "999999", VB_OUTBOX_OUTCOME_RETRY, 3600000, "the webhook answered HTTP 500"},
	    {502, "soon", VB_OUTBOX_OUTCOME_RETRY, 0, "the webhook answered HTTP 502"},
	    {400, NULL, VB_OUTBOX_OUTCOME_FAILED, 0, "the webhook answered HTTP 400"},
	    {404, "30", VB_OUTBOX_OUTCOME_FAILED, 0, "the webhook answered HTTP 404"},
	    {301, NULL, VB_OUTBOX_OUTCOME_FAILED, 0, "the webhook answered HTTP 301"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *message = NULL;
		guint retry_after_ms = 1;
		VbOutboxOutcome outcome = vb_replies_webhook_outcome(
		    cases[i].status, cases[i].retry_after, &retry_after_ms, &message);
		g_assert_cmpint(outcome, ==, cases[i].outcome);
		g_assert_cmpuint(retry_after_ms, ==, cases[i].retry_after_ms);
		if (cases[i].message == NULL)
			g_assert_null(message);
		else
			g_assert_true(g_str_has_prefix(message, cases[i].message));
	}
	/* an HTTP date a minute ahead */
	{
		g_autoptr(GDateTime) now = g_date_time_new_now_utc();
		g_autoptr(GDateTime) later = g_date_time_add_seconds(now, 61);
		g_autofree gchar *date = g_date_time_format(later, "%a, %d %b %Y %H:%M:%S GMT");
		g_autofree gchar *message = NULL;
		guint retry_after_ms = 0;
		vb_replies_webhook_outcome(503, date, &retry_after_ms, &message);
		g_assert_cmpuint(retry_after_ms, >=, 58000);
		g_assert_cmpuint(retry_after_ms, <=, 61000);
	}

	g_assert_true(vb_replies_webhook_url_is_valid("https://ops.example.com/hooks/vb?k=1"));
	g_assert_true(vb_replies_webhook_url_is_valid("http://127.0.0.1:8080/feedback"));
	g_assert_false(vb_replies_webhook_url_is_valid("ftp://example.com/x"));
	g_assert_false(vb_replies_webhook_url_is_valid("file:///etc/passwd"));
	g_assert_false(vb_replies_webhook_url_is_valid("https://"));
	g_assert_false(vb_replies_webhook_url_is_valid("example.com/hook"));
	g_assert_false(vb_replies_webhook_url_is_valid(""));
	g_assert_false(vb_replies_webhook_url_is_valid(NULL));
}

/* the handlers and VbReplies in one process: the real HTTP server, store,
 * customers, outbox and visit manager (not started: nothing of the door
 * runs), an "sms" outbox kind that records what it is given, and the
 * operator's webhook as a local server */

#define TEST_PHONE_KEY "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define TEST_PHONE_INDEX_KEY "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
#define TEST_OTP_KEY "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
#define TEST_PHONE "+33612345678"
#define TEST_PHONE_MASKED "+33 6•• •• •• 78"
#define TEST_STRANGER "+33698765432"
#define TEST_PAN "4111111111111111"
#define TEST_RECEIPT_TOKEN "0123456789abcdef0123456789abcdef"
#define TEST_EXPIRED_TOKEN "fedcba9876543210fedcba9876543210"
#define TEST_MAX_BODY_BYTES 4096
#define TEST_TIMEOUT_MS 5000

/* every log line of the process, to check what never reaches one */
static GString *test_log = NULL;
static GMutex test_log_mutex;

static GLogWriterOutput
test_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	g_mutex_lock(&test_log_mutex);
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(fields[i].key, "MESSAGE") == 0 && fields[i].length < 0) {
			g_string_append(test_log, fields[i].value);
			g_string_append_c(test_log, '\n');
		}
	}
	g_mutex_unlock(&test_log_mutex);
	return g_log_writer_default(level, fields, n_fields, user_data);
}

typedef struct {
	gchar *dir;
	VbConfig *config;
	VbStore *store;
	VbMetrics *metrics;
	VbBus *bus;
	VbHttpServer *http;
	VbContext *context;
	VbHost *host;
	VbPluginLoader *loader;
	VbCustomers *customers;
	VbOutbox *outbox;
	VbVisitManager *visits;
	VbReplies *replies;
	gchar *token;
	gchar *metrics_token;
	guint port;
	SoupServer *hook;
	guint hook_status;
	const gchar *hook_retry_after;
	GPtrArray *hook_bodies;
	GPtrArray *hook_keys;
	GPtrArray *sms_payloads;
	GPtrArray *sms_keys;
	GPtrArray *sms_recipients;
} Fixture;

static void
test_hook_cb(SoupServer *server,
	     SoupServerMessage *msg,
	     const char *path,
	     GHashTable *query,
	     gpointer user_data)
{
	Fixture *fx = user_data;
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);

	g_ptr_array_add(fx->hook_bodies, g_strndup(body->data, (gsize)body->length));
	g_ptr_array_add(fx->hook_keys,
			g_strdup(soup_message_headers_get_one(headers, "Idempotency-Key")));
	g_assert_cmpstr(soup_message_headers_get_content_type(headers, NULL), ==,
			"application/json");
	g_assert_cmpstr(g_hash_table_lookup(query, "secret"), ==, "s3");
	if (fx->hook_retry_after != NULL)
		soup_message_headers_replace(soup_server_message_get_response_headers(msg),
					     "Retry-After", fx->hook_retry_after);
	soup_server_message_set_status(msg, fx->hook_status, NULL);
}

static void
test_sms_dispatch(VbOutbox *outbox, VbOutboxItem *item, GCancellable *cancellable, gpointer data)
{
	Fixture *fx = data;
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

	json_node_set_object(node, vb_outbox_item_get_payload(item));
	g_ptr_array_add(fx->sms_payloads, json_to_string(node, FALSE));
	g_ptr_array_add(fx->sms_keys, g_strdup(vb_outbox_item_get_idempotency_key(item)));
	g_ptr_array_add(fx->sms_recipients, g_strdup(vb_outbox_item_get_recipient(item)));
	vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_DONE, NULL, NULL, 0);
}

static void
test_exec(Fixture *fx, const gchar *sql, const gchar *text, gint64 value)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(fx->store, sql, &error);

	g_assert_no_error(error);
	if (text != NULL)
		vb_store_stmt_bind_text(stmt, 1, text);
	vb_store_stmt_bind_int64(stmt, 2, value);
	g_assert_true(vb_store_stmt_exec(stmt, &error));
	g_assert_no_error(error);
}

static gint64
test_count(Fixture *fx, const gchar *sql)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(fx->store, sql, &error);

	g_assert_no_error(error);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
	return vb_store_stmt_column_int64(stmt, 0);
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GSList) uris = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *conf_text = NULL;
	g_autofree gchar *secrets = NULL;
	g_autofree gchar *db_path = NULL;
	g_autofree gchar *receipt_hash = NULL;
	g_autofree gchar *expired_hash = NULL;
	guint hook_port;

	fx->dir = g_dir_make_tmp("vb-test-orders-XXXXXX", &error);
	g_assert_no_error(error);
	fx->hook_status = SOUP_STATUS_OK;
	fx->hook_bodies = g_ptr_array_new_with_free_func(g_free);
	fx->hook_keys = g_ptr_array_new_with_free_func(g_free);
	fx->sms_payloads = g_ptr_array_new_with_free_func(g_free);
	fx->sms_keys = g_ptr_array_new_with_free_func(g_free);
	fx->sms_recipients = g_ptr_array_new_with_free_func(g_free);

	/* the operator's webhook, on a free port of 127.0.0.1 */
	fx->hook = soup_server_new(NULL, NULL);
	soup_server_add_handler(fx->hook, "/hook", test_hook_cb, fx, NULL);
	g_assert_true(soup_server_listen_local(fx->hook, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
	g_assert_no_error(error);
	uris = soup_server_get_uris(fx->hook);
	hook_port = (guint)g_uri_get_port(uris->data);
	g_slist_free_full(g_steal_pointer(&uris), (GDestroyNotify)g_uri_unref);

	conf = g_build_filename(fx->dir, "vestibule.conf", NULL);
	secrets = g_build_filename(fx->dir, "secrets.conf", NULL);
	db_path = g_build_filename(fx->dir, "vestibule.db", NULL);
	conf_text = g_strdup_printf("[vestibule]\n"
				    "name=Test store\n"
				    "country=FR\n"
				    "language=en\n"
				    "[visit]\n"
				    "operator-phone=+33699999999\n"
				    "operator-webhook=http://127.0.0.1:%u/hook?secret=s3\n",
				    hook_port);
	g_assert_true(g_file_set_contents(conf, conf_text, -1, NULL));
	g_assert_true(g_file_set_contents_full(secrets,
					       "[vestibule]\n"
					       "phone-key=" TEST_PHONE_KEY "\n"
					       "phone-index-key=" TEST_PHONE_INDEX_KEY "\n"
					       "otp-key=" TEST_OTP_KEY "\n",
					       -1, G_FILE_SET_CONTENTS_NONE, 0600, NULL));
	fx->config = vb_config_new();
	g_assert_true(vb_config_load(fx->config, conf, &error));
	g_assert_true(vb_config_load_secrets(fx->config, secrets, &error));
	g_assert_true(vb_config_validate(fx->config, warnings, &error));
	g_assert_no_error(error);

	fx->store = vb_store_new();
	g_assert_true(vb_store_open(fx->store, db_path, &error));
	g_assert_no_error(error);
	fx->metrics = vb_metrics_new();
	fx->bus = vb_bus_new(NULL);
	fx->http = vb_http_server_new(fx->store, fx->metrics);
	vb_http_server_set_limits(fx->http, TEST_MAX_BODY_BYTES, 16384);
	g_assert_true(vb_http_server_listen_public(fx->http, "127.0.0.1", 0, &error));
	g_assert_no_error(error);
	fx->port = vb_http_server_get_public_port(fx->http);
	fx->context = vb_context_new(fx->bus, fx->store, fx->http, fx->metrics);
	fx->host = vb_host_new(fx->context);
	g_assert_true(vb_host_set_config(fx->host, fx->config, &error));
	g_assert_no_error(error);
	fx->loader = vb_plugin_loader_new(fx->context, NULL);
	fx->customers = vb_customers_new(fx->context, fx->host);
	fx->outbox = vb_outbox_new(fx->store, fx->metrics);
	vb_outbox_register(fx->outbox, "sms", test_sms_dispatch, NULL, fx, NULL);
	fx->visits =
	    vb_visit_manager_new(fx->context, fx->host, fx->loader, fx->customers, fx->outbox);
	fx->replies = vb_replies_new(fx->context, fx->customers, fx->outbox);
	vb_replies_set_config(fx->replies, fx->config);
	vb_replies_start(fx->replies);
	vb_outbox_start(fx->outbox);
	vb_orders_register(fx->http, fx->visits);

	fx->token = vb_http_server_create_token(fx->http, "recognition", "orders", &error);
	g_assert_no_error(error);
	fx->metrics_token = vb_http_server_create_token(fx->http, "prometheus", "metrics", &error);
	g_assert_no_error(error);

	/* a settled visit with its receipt, and one whose link has expired */
	receipt_hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, TEST_RECEIPT_TOKEN, -1);
	expired_hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, TEST_EXPIRED_TOKEN, -1);
	test_exec(fx,
		  "INSERT INTO visits (id, door, state, first6, last4, created, updated, language, "
		  "currency, hold_amount, total, captured, settlement, order_json, receipt_hash, "
		  "receipt_expires) VALUES ('01JDRECEIPT', 'front', 'settled', '497010', '1234', "
		  "1795425360000000, 1795425360000000, 'fr', 'EUR', 5000, 1250, 1250, 'captured', "
		  "'{\"currency\":\"EUR\",\"lines\":[{\"sku\":\"A1\",\"name\":"
		  "\"<script>alert(1)</script>\",\"quantity\":2,\"unit_price\":150},"
		  "{\"sku\":\"B2\",\"name\":\"Sandwich\",\"quantity\":1,\"unit_price\":950}]}', "
		  "?1, ?2)",
		  receipt_hash, g_get_real_time() + (gint64)86400 * G_USEC_PER_SEC);
	test_exec(
	    fx,
	    "INSERT INTO visits (id, state, created, updated, language, currency, "
	    "hold_amount, total, captured, settlement, receipt_hash, receipt_expires) "
	    "VALUES ('01JDEXPIRED', 'settled', 1, 1, 'fr', 'EUR', 5000, 0, 0, 'cancelled', ?1, ?2)",
	    expired_hash, g_get_real_time() - G_USEC_PER_SEC);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
	vb_orders_unregister(fx->http);
	vb_replies_stop(fx->replies);
	vb_outbox_stop(fx->outbox);
	vb_http_server_disconnect(fx->http);
	soup_server_disconnect(fx->hook);
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_clear_object(&fx->replies);
	g_clear_object(&fx->visits);
	g_clear_object(&fx->outbox);
	g_clear_object(&fx->customers);
	g_clear_object(&fx->loader);
	g_clear_object(&fx->host);
	g_clear_object(&fx->context);
	g_clear_object(&fx->http);
	g_clear_object(&fx->bus);
	vb_store_close(fx->store);
	g_clear_object(&fx->store);
	g_clear_object(&fx->metrics);
	g_clear_object(&fx->config);
	g_clear_object(&fx->hook);
	g_ptr_array_unref(fx->hook_bodies);
	g_ptr_array_unref(fx->hook_keys);
	g_ptr_array_unref(fx->sms_payloads);
	g_ptr_array_unref(fx->sms_keys);
	g_ptr_array_unref(fx->sms_recipients);
	g_free(fx->token);
	g_free(fx->metrics_token);
	{
		const gchar *names[] = {"vestibule.conf", "secrets.conf", "vestibule.db",
					"vestibule.db-wal", "vestibule.db-shm"};
		for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
			g_autofree gchar *path = g_build_filename(fx->dir, names[i], NULL);
			g_unlink(path);
		}
	}
	g_assert_cmpint(g_rmdir(fx->dir), ==, 0);
	g_free(fx->dir);
}

/* one request to the public listener, made from a thread of its own with
 * blocking calls while the test thread serves */
typedef struct {
	guint port;
	const gchar *method;
	const gchar *path;
	const gchar *token;
	const gchar *content_type;
	const gchar *body;
	gsize body_len;
	const gchar *accept;
	const gchar *accept_language;
	guint status;
	SoupMessageHeaders *headers;
	gchar *text;
	GError *error;
	gint done;
} TestRequest;

static gpointer
test_request_thread(gpointer data)
{
	TestRequest *r = data;
	g_autoptr(GMainContext) context = g_main_context_new();
	g_autoptr(SoupSession) session = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autofree gchar *uri = NULL;
	SoupMessageHeaders *headers;

	g_main_context_push_thread_default(context);
	session = soup_session_new_with_options("timeout", 10, NULL);
	uri = g_strdup_printf("http://127.0.0.1:%u%s", r->port, r->path);
	msg = soup_message_new(r->method, uri);
	headers = soup_message_get_request_headers(msg);
	if (r->token != NULL) {
		g_autofree gchar *auth = g_strdup_printf("Bearer %s", r->token);
		soup_message_headers_replace(headers, "Authorization", auth);
	}
	if (r->accept != NULL)
		soup_message_headers_replace(headers, "Accept", r->accept);
	if (r->accept_language != NULL)
		soup_message_headers_replace(headers, "Accept-Language", r->accept_language);
	if (r->body != NULL) {
		g_autoptr(GBytes) bytes =
		    g_bytes_new(r->body, r->body_len > 0 ? r->body_len : strlen(r->body));
		soup_message_set_request_body_from_bytes(msg, r->content_type, bytes);
	}
	body = soup_session_send_and_read(session, msg, NULL, &r->error);
	r->status = soup_message_get_status(msg);
	r->headers = soup_message_headers_ref(soup_message_get_response_headers(msg));
	if (body != NULL)
		r->text = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
	g_main_context_pop_thread_default(context);
	g_atomic_int_set(&r->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

static void
test_request(Fixture *fx, TestRequest *r)
{
	GThread *thread;

	r->port = fx->port;
	if (r->method == NULL)
		r->method = "GET";
	thread = g_thread_new("test-client", test_request_thread, r);
	while (!g_atomic_int_get(&r->done))
		g_main_context_iteration(NULL, TRUE);
	g_thread_join(thread);
	g_assert_no_error(r->error);
	g_assert_nonnull(r->text);
}

static void
test_request_clear(TestRequest *r)
{
	g_clear_pointer(&r->headers, soup_message_headers_unref);
	g_clear_pointer(&r->text, g_free);
	g_clear_error(&r->error);
}

static const gchar *
test_header(TestRequest *r, const gchar *name)
{
	return soup_message_headers_get_one(r->headers, name);
}

/* checks a JSON error answer */
static void
test_assert_error(TestRequest *r, guint status, const gchar *code)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonObject *obj;

	if (r->status != status)
		g_error("expected HTTP %u, got %u: %s", status, r->status, r->text);
	g_assert_cmpstr(test_header(r, "Content-Type"), ==, "application/json");
	g_assert_true(json_parser_load_from_data(parser, r->text, -1, &error));
	obj = json_node_get_object(json_parser_get_root(parser));
	g_assert_cmpstr(json_object_get_string_member(obj, "code"), ==, code);
	g_assert_nonnull(json_object_get_string_member(obj, "message"));
}

static void
test_order_auth(Fixture *fx, gconstpointer data)
{
	const gchar *order = "{\"currency\": \"EUR\", \"lines\": []}";
	TestRequest none = {.method = "POST",
			    .path = "/api/v1/visits/01JDNOPE/order",
			    .content_type = "application/json",
			    .body = order};
	TestRequest scope = none;
	TestRequest wrong = none;

	/* no token, a token of another scope, a made-up token: 401 before anything */
	test_request(fx, &none);
	test_assert_error(&none, 401, "unauthorized");
	scope.token = fx->metrics_token;
	test_request(fx, &scope);
	test_assert_error(&scope, 401, "unauthorized");
	wrong.token = "not-a-token";
	test_request(fx, &wrong);
	test_assert_error(&wrong, 401, "unauthorized");
	test_request_clear(&none);
	test_request_clear(&scope);
	test_request_clear(&wrong);
}

static void
test_order_routing(Fixture *fx, gconstpointer data)
{
	const gchar *paths[] = {"/api/v1/visits/01JDNOPE", "/api/v1/visits/01JDNOPE/receipt",
				"/api/v1/visits/01JDNOPE/order/x", "/api/v1/visits/"};

	for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
		TestRequest r = {.method = "POST",
				 .path = paths[i],
				 .token = fx->token,
				 .content_type = "application/json",
				 .body = "{}"};
		test_request(fx, &r);
		test_assert_error(&r, 404, "not-found");
		test_request_clear(&r);
	}
	{
		TestRequest r = {
		    .method = "GET", .path = "/api/v1/visits/01JDNOPE/order", .token = fx->token};
		test_request(fx, &r);
		test_assert_error(&r, 405, "not-supported");
		g_assert_cmpstr(test_header(&r, "Allow"), ==, "POST");
		test_request_clear(&r);
	}
}

static void
test_order_bad_bodies(Fixture *fx, gconstpointer data)
{
	TestRequest type = {.method = "POST",
			    .path = "/api/v1/visits/01JDRECEIPT/order",
			    .token = fx->token,
			    .content_type = "text/plain",
			    .body = "{}"};
	TestRequest syntax = {.method = "POST",
			      .path = "/api/v1/visits/01JDRECEIPT/order",
			      .token = fx->token,
			      .content_type = "application/json",
			      .body = "{\"currency\": "};
	TestRequest array = syntax;
	TestRequest unknown = syntax;
	g_autofree gchar *big = NULL;
	TestRequest large = syntax;

	test_request(fx, &type);
	test_assert_error(&type, 415, "invalid-data");
	test_request(fx, &syntax);
	test_assert_error(&syntax, 400, "invalid-data");
	array.body = "[1, 2]";
	test_request(fx, &array);
	test_assert_error(&array, 400, "invalid-data");
	/* a visit that does not exist */
	unknown.path = "/api/v1/visits/01JDNOPE/order";
	unknown.body = "{\"currency\": \"EUR\", \"lines\": []}";
	test_request(fx, &unknown);
	test_assert_error(&unknown, 404, "not-found");
	/* the server refuses a body over its limit before the handler sees it */
	big = g_strnfill(TEST_MAX_BODY_BYTES * 2, ' ');
	large.body = big;
	test_request(fx, &large);
	test_assert_error(&large, 413, "too-large");
	test_request_clear(&type);
	test_request_clear(&syntax);
	test_request_clear(&array);
	test_request_clear(&unknown);
	test_request_clear(&large);
}

static void
test_receipt_assert_page_headers(TestRequest *r)
{
	g_assert_cmpstr(test_header(r, "Cache-Control"), ==, "no-store");
	g_assert_cmpstr(test_header(r, "Referrer-Policy"), ==, "no-referrer");
	g_assert_cmpstr(test_header(r, "X-Content-Type-Options"), ==, "nosniff");
	g_assert_cmpstr(test_header(r, "Content-Security-Policy"), ==,
			"default-src 'none'; style-src 'unsafe-inline'");
}

static void
test_receipt_page(Fixture *fx, gconstpointer data)
{
	TestRequest r = {.path = "/r/" TEST_RECEIPT_TOKEN,
			 .accept = "text/html,application/xhtml+xml,*/*;q=0.8",
			 .accept_language = "en"};

	test_request(fx, &r);
	g_assert_cmpuint(r.status, ==, 200);
	g_assert_cmpstr(test_header(&r, "Content-Type"), ==, "text/html; charset=utf-8");
	test_receipt_assert_page_headers(&r);
	/* in the visit's language, whatever the browser's */
	g_assert_nonnull(strstr(r.text, "<html lang=\"fr\">"));
	g_assert_nonnull(strstr(r.text, "2 × 1,50 EUR"));
	g_assert_nonnull(strstr(r.text, "12,50 EUR"));
	g_assert_nonnull(strstr(r.text, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	g_assert_null(strstr(r.text, "<script"));
	g_assert_nonnull(strstr(r.text, "497010••1234"));
	g_assert_nonnull(strstr(r.text, "Test store"));
	test_request_clear(&r);
}

static void
test_receipt_json(Fixture *fx, gconstpointer data)
{
	TestRequest accept = {.path = "/r/" TEST_RECEIPT_TOKEN, .accept = "application/json"};
	TestRequest format = {.path = "/r/" TEST_RECEIPT_TOKEN "?format=json"};
	TestRequest *requests[] = {&accept, &format};

	for (guint i = 0; i < G_N_ELEMENTS(requests); i++) {
		TestRequest *r = requests[i];
		g_autoptr(JsonParser) parser = json_parser_new();
		JsonObject *obj;

		test_request(fx, r);
		g_assert_cmpuint(r->status, ==, 200);
		g_assert_cmpstr(test_header(r, "Content-Type"), ==, "application/json");
		g_assert_cmpstr(test_header(r, "Cache-Control"), ==, "no-store");
		g_assert_true(json_parser_load_from_data(parser, r->text, -1, NULL));
		obj = json_node_get_object(json_parser_get_root(parser));
		g_assert_cmpint(json_object_get_int_member(obj, "total"), ==, 1250);
		g_assert_cmpint(json_object_get_int_member(obj, "hold"), ==, 5000);
		g_assert_cmpstr(json_object_get_string_member(obj, "settlement"), ==, "captured");
		g_assert_cmpuint(json_array_get_length(json_object_get_array_member(obj, "lines")),
				 ==, 2);
		test_request_clear(r);
	}
}

static void
test_receipt_expired(Fixture *fx, gconstpointer data)
{
	TestRequest page = {.path = "/r/" TEST_EXPIRED_TOKEN, .accept_language = "fr-FR,fr;q=0.9"};
	TestRequest json = {.path = "/r/" TEST_EXPIRED_TOKEN, .accept = "application/json"};

	test_request(fx, &page);
	g_assert_cmpuint(page.status, ==, 410);
	g_assert_cmpstr(test_header(&page, "Content-Type"), ==, "text/html; charset=utf-8");
	test_receipt_assert_page_headers(&page);
	g_assert_nonnull(strstr(page.text, "Ce lien de reçu a expiré"));
	test_request(fx, &json);
	test_assert_error(&json, 410, "expired");
	test_request_clear(&page);
	test_request_clear(&json);
}

static void
test_receipt_unknown(Fixture *fx, gconstpointer data)
{
	const gchar *paths[] = {"/r/00000000000000000000000000000000", "/r/nope", "/r/", "/r/a/b"};

	for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
		TestRequest r = {.path = paths[i]};
		test_request(fx, &r);
		g_assert_cmpuint(r.status, ==, 404);
		g_assert_cmpstr(test_header(&r, "Content-Type"), ==, "text/html; charset=utf-8");
		test_receipt_assert_page_headers(&r);
		g_assert_nonnull(strstr(r.text, "Receipt not found"));
		test_request_clear(&r);
	}
	{
		TestRequest r = {.path = "/r/00000000000000000000000000000000?format=json"};
		test_request(fx, &r);
		test_assert_error(&r, 404, "not-found");
		test_request_clear(&r);
	}
	{
		TestRequest r = {.method = "POST",
				 .path = "/r/" TEST_RECEIPT_TOKEN,
				 .content_type = "application/json",
				 .body = "{}"};
		test_request(fx, &r);
		test_assert_error(&r, 405, "not-supported");
		test_request_clear(&r);
	}
}

/* replies */

static void
test_iterate(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

typedef gboolean (*TestCondition)(Fixture *fx);

static gboolean
test_timeout_cb(gpointer data)
{
	gboolean *timed_out = data;
	*timed_out = TRUE;
	return G_SOURCE_REMOVE;
}

static void
test_wait(Fixture *fx, TestCondition condition)
{
	gboolean timed_out = FALSE;
	g_autoptr(GSource) timer = g_timeout_source_new(TEST_TIMEOUT_MS);

	g_source_set_callback(timer, test_timeout_cb, &timed_out, NULL);
	g_source_attach(timer, NULL);
	while (!condition(fx) && !timed_out)
		g_main_context_iteration(NULL, TRUE);
	g_source_destroy(timer);
	g_assert_false(timed_out);
}

static void
test_sms_in(Fixture *fx, const gchar *phone, const gchar *body, const gchar *message_id)
{
	vb_bus_emit_simple(fx->bus, "sms", NULL, VB_EVENT_SMS_RECEIVED,
			   g_variant_new_parsed("{%s: <%s>, %s: <%s>, %s: <%s>}", VB_KEY_PHONE,
						phone, VB_KEY_BODY, body, VB_KEY_MESSAGE_ID,
						message_id));
	test_iterate();
}

static gdouble
test_inbound(Fixture *fx, const gchar *kind)
{
	g_autofree gchar *labels = g_strdup_printf("kind=\"%s\"", kind);
	return vb_metrics_get(fx->metrics, "vestibule_sms_received_total", labels);
}

static gint64
test_add_customer(Fixture *fx)
{
	g_autoptr(GError) error = NULL;
	gint64 id = vb_customers_add_phone(fx->customers, TEST_PHONE, "fr", &error);

	g_assert_no_error(error);
	g_assert_cmpint(id, >, 0);
	return id;
}

static void
test_replies_consent(Fixture *fx, gconstpointer data)
{
	gint64 id = test_add_customer(fx);

	test_sms_in(fx, TEST_PHONE, "stop", "SM-stop");
	g_assert_true(vb_customers_is_sms_opted_out(fx->customers, id));
	g_assert_cmpfloat(test_inbound(fx, "stop"), ==, 1);
	test_sms_in(fx, TEST_PHONE, " Start ", "SM-start");
	g_assert_false(vb_customers_is_sms_opted_out(fx->customers, id));
	g_assert_cmpfloat(test_inbound(fx, "start"), ==, 1);
	test_sms_in(fx, TEST_PHONE, "UNSUBSCRIBE", "SM-unsub");
	g_assert_true(vb_customers_is_sms_opted_out(fx->customers, id));
	/* "STOP please" is not the keyword: it is a reply to the operator */
	test_sms_in(fx, TEST_PHONE, "STOP please", "SM-please");
	g_assert_true(vb_customers_is_sms_opted_out(fx->customers, id));
	g_assert_cmpfloat(test_inbound(fx, "feedback"), ==, 1);
	/* the consent log has each change, with the words used */
	g_assert_cmpint(test_count(fx, "SELECT COUNT(*) FROM consent WHERE channel = 'sms'"), ==,
			3);
	g_assert_cmpint(test_count(fx, "SELECT COUNT(*) FROM consent WHERE text = 'stop' AND "
				       "given = 0"),
			==, 1);
	g_assert_cmpint(test_count(fx, "SELECT COUNT(*) FROM consent WHERE text = 'Start' AND "
				       "given = 1"),
			==, 1);
}

static gboolean
test_one_sms(Fixture *fx)
{
	return fx->sms_payloads->len >= 1;
}

static void
test_replies_help(Fixture *fx, gconstpointer data)
{
	gint64 id = test_add_customer(fx);
	g_autofree gchar *expected = NULL;
	g_autofree gchar *recipient = g_strdup_printf("customer:%" G_GINT64_FORMAT, id);

	test_sms_in(fx, TEST_PHONE, "Help", "SM-help");
	test_wait(fx, test_one_sms);
	expected = g_strdup_printf(
	    "{\"customer\":%" G_GINT64_FORMAT ",\"template\":\"help\",\"language\":\"fr\"}", id);
	g_assert_cmpstr(g_ptr_array_index(fx->sms_payloads, 0), ==, expected);
	g_assert_cmpstr(g_ptr_array_index(fx->sms_keys, 0), ==, "reply:SM-help");
	g_assert_cmpstr(g_ptr_array_index(fx->sms_recipients, 0), ==, recipient);
	g_assert_cmpfloat(test_inbound(fx, "help"), ==, 1);
}

static gboolean
test_forwarded(Fixture *fx)
{
	return fx->sms_payloads->len >= 1 && fx->hook_bodies->len >= 1 &&
	       test_count(fx, "SELECT COUNT(*) FROM outbox WHERE state = 'done'") == 2;
}

static void
test_replies_feedback(Fixture *fx, gconstpointer data)
{
	gint64 id = test_add_customer(fx);
	g_autoptr(GPtrArray) rows = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	const gchar *body = "The milk was sour. My card is " TEST_PAN;
	const gchar *visit = NULL;
	const gchar *stored = NULL;
	JsonObject *obj;

	test_exec(fx,
		  "INSERT INTO visits (id, state, created, updated, customer_id) "
		  "VALUES ('01JDOLDER', 'settled', 1000, 1000, ?2)",
		  NULL, id);
	test_exec(fx,
		  "INSERT INTO visits (id, state, created, updated, customer_id) "
		  "VALUES ('01JDLATEST', 'settled', 2000, 2000, ?2)",
		  NULL, id);
	test_sms_in(fx, TEST_PHONE, body, "SM-fb");
	test_wait(fx, test_forwarded);

	/* stored against the latest visit, without the card number */
	rows = vb_customers_list_feedback(fx->customers, TRUE, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(rows->len, ==, 1);
	g_assert_true(g_variant_lookup(g_ptr_array_index(rows, 0), "visit", "&s", &visit));
	g_assert_cmpstr(visit, ==, "01JDLATEST");
	g_assert_true(g_variant_lookup(g_ptr_array_index(rows, 0), "body", "&s", &stored));
	g_assert_nonnull(strstr(stored, "The milk was sour."));
	g_assert_null(strstr(stored, TEST_PAN));

	/* forwarded to the operator's phone */
	g_assert_cmpstr(g_ptr_array_index(fx->sms_keys, 0), ==, "forward:sms:SM-fb");
	g_assert_true(
	    json_parser_load_from_data(parser, g_ptr_array_index(fx->sms_payloads, 0), -1, NULL));
	obj = json_node_get_object(json_parser_get_root(parser));
	g_assert_true(json_object_get_boolean_member(obj, "to-operator"));
	g_assert_cmpstr(json_object_get_string_member(obj, "template"), ==, "forward");
	g_assert_cmpstr(json_object_get_string_member(obj, "language"), ==, "en");
	obj = json_object_get_object_member(obj, "params");
	g_assert_cmpstr(json_object_get_string_member(obj, "visit"), ==, "01JDLATEST");
	g_assert_cmpstr(json_object_get_string_member(obj, "phone"), ==, TEST_PHONE_MASKED);
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "body"), "milk was sour"));

	/* and to its webhook, with the item's key */
	g_assert_cmpstr(g_ptr_array_index(fx->hook_keys, 0), ==, "forward:webhook:SM-fb");
	g_assert_true(
	    json_parser_load_from_data(parser, g_ptr_array_index(fx->hook_bodies, 0), -1, NULL));
	obj = json_node_get_object(json_parser_get_root(parser));
	g_assert_cmpstr(json_object_get_string_member(obj, "event"), ==, "feedback");
	g_assert_cmpstr(json_object_get_string_member(obj, "visit"), ==, "01JDLATEST");
	g_assert_cmpstr(json_object_get_string_member(obj, "phone"), ==, TEST_PHONE_MASKED);
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "body"), "milk was sour"));
	g_assert_null(strstr(g_ptr_array_index(fx->hook_bodies, 0), TEST_PAN));
	g_assert_true(g_str_has_suffix(json_object_get_string_member(obj, "received"), "Z"));

	/* the provider delivers it again: nothing more */
	test_sms_in(fx, TEST_PHONE, body, "SM-fb");
	g_clear_pointer(&rows, g_ptr_array_unref);
	rows = vb_customers_list_feedback(fx->customers, FALSE, &error);
	g_assert_cmpuint(rows->len, ==, 1);
	g_assert_cmpfloat(test_inbound(fx, "duplicate"), ==, 1);
	g_assert_cmpint(test_count(fx, "SELECT COUNT(*) FROM outbox"), ==, 2);

	/* no log line holds the words, the number or the card */
	g_mutex_lock(&test_log_mutex);
	g_assert_null(strstr(test_log->str, "milk"));
	g_assert_null(strstr(test_log->str, TEST_PHONE));
	g_assert_null(strstr(test_log->str, TEST_PAN));
	g_assert_nonnull(strstr(test_log->str, TEST_PHONE_MASKED));
	g_mutex_unlock(&test_log_mutex);
}

static void
test_replies_unknown_sender(Fixture *fx, gconstpointer data)
{
	test_add_customer(fx);
	test_sms_in(fx, TEST_STRANGER, "STOP", "SM-x1");
	test_sms_in(fx, TEST_STRANGER, "who is this?", "SM-x2");
	test_sms_in(fx, "not a number", "HELP", "SM-x3");
	g_assert_cmpfloat(test_inbound(fx, "unknown-sender"), ==, 3);
	g_assert_cmpint(test_count(fx, "SELECT COUNT(*) FROM consent"), ==, 0);
	g_assert_cmpint(test_count(fx, "SELECT COUNT(*) FROM feedback"), ==, 0);
	g_assert_cmpint(test_count(fx, "SELECT COUNT(*) FROM outbox"), ==, 0);
	g_mutex_lock(&test_log_mutex);
	g_assert_null(strstr(test_log->str, TEST_STRANGER));
	g_assert_null(strstr(test_log->str, "who is this"));
	g_mutex_unlock(&test_log_mutex);
}

static gboolean
test_webhook_answered(Fixture *fx)
{
	return test_count(fx, "SELECT COUNT(*) FROM outbox WHERE kind = 'webhook' AND "
			      "attempts > 0 AND state <> 'sending'") == 1;
}

static void
test_replies_webhook_retry(Fixture *fx, gconstpointer data)
{
	g_autoptr(GPtrArray) items = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *state = NULL;
	const gchar *last_error = NULL;
	const gchar *recipient = NULL;

	test_add_customer(fx);
	fx->hook_status = 503;
	fx->hook_retry_after = "120";
	test_sms_in(fx, TEST_PHONE, "Where is the receipt?", "SM-r1");
	test_wait(fx, test_webhook_answered);
	items = vb_outbox_list(fx->outbox, NULL, 10, &error);
	g_assert_no_error(error);
	for (guint i = 0; i < items->len; i++) {
		GVariant *item = g_ptr_array_index(items, i);
		const gchar *kind = NULL;
		g_variant_lookup(item, "kind", "&s", &kind);
		if (g_strcmp0(kind, "webhook") != 0)
			continue;
		g_variant_lookup(item, "state", "&s", &state);
		g_variant_lookup(item, "last-error", "&s", &last_error);
		g_variant_lookup(item, "recipient", "&s", &recipient);
		break;
	}
	/* tried again later; the recipient names the host, not the secret in the URL */
	g_assert_cmpstr(state, ==, "pending");
	g_assert_true(g_str_has_prefix(last_error, "the webhook answered HTTP 503"));
	g_assert_true(g_str_has_prefix(recipient, "webhook:http://127.0.0.1:"));
	g_assert_null(strstr(recipient, "s3"));
	g_assert_cmpint(test_count(fx, "SELECT COUNT(*) FROM outbox WHERE kind = 'webhook' AND "
				       "next_attempt > created + 100000000"),
			==, 1);
}

static void
test_replies_webhook_refused(Fixture *fx, gconstpointer data)
{
	test_add_customer(fx);
	fx->hook_status = 404;
	test_sms_in(fx, TEST_PHONE, "Where is the receipt?", "SM-r2");
	test_wait(fx, test_webhook_answered);
	g_assert_cmpint(test_count(fx, "SELECT COUNT(*) FROM outbox WHERE kind = 'webhook' AND "
				       "state = 'dead' AND last_error = "
				       "'the webhook answered HTTP 404'"),
			==, 1);
}

int
main(int argc, char **argv)
{
	/* the receipt shows local time; the expectations are in UTC */
	g_setenv("TZ", "UTC", TRUE);
	test_log = g_string_new(NULL);
	g_log_set_writer_func(test_log_writer, NULL, NULL);
	g_test_init(&argc, &argv, NULL);
	/* operator warnings are expected here; criticals stay fatal */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_test_add_func("/orders/money", test_orders_money);
	g_test_add_func("/orders/paths", test_orders_paths);
	g_test_add_func("/orders/escaped-nul", test_orders_escaped_nul);
	g_test_add_func("/orders/negotiation", test_orders_negotiation);
	g_test_add_func("/orders/receipt/escaping", test_orders_receipt_escaping);
	g_test_add_func("/orders/receipt/english", test_orders_receipt_english);
	g_test_add_func("/orders/receipt/french", test_orders_receipt_french);
	g_test_add_func("/orders/receipt/settlements", test_orders_receipt_settlements);
	g_test_add_func("/orders/receipt/empty", test_orders_receipt_empty);
	g_test_add_func("/orders/receipt/json", test_orders_receipt_json);
	g_test_add_func("/orders/error-pages", test_orders_error_pages);
	g_test_add_func("/replies/keywords", test_replies_keywords);
	g_test_add_func("/replies/webhook", test_replies_webhook);
#define TEST_ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	TEST_ADD("/orders/http/order-auth", test_order_auth);
	TEST_ADD("/orders/http/order-routing", test_order_routing);
	TEST_ADD("/orders/http/order-bad-bodies", test_order_bad_bodies);
	TEST_ADD("/orders/http/receipt-page", test_receipt_page);
	TEST_ADD("/orders/http/receipt-json", test_receipt_json);
	TEST_ADD("/orders/http/receipt-expired", test_receipt_expired);
	TEST_ADD("/orders/http/receipt-unknown", test_receipt_unknown);
	TEST_ADD("/replies/consent", test_replies_consent);
	TEST_ADD("/replies/help", test_replies_help);
	TEST_ADD("/replies/feedback", test_replies_feedback);
	TEST_ADD("/replies/unknown-sender", test_replies_unknown_sender);
	TEST_ADD("/replies/webhook-retry", test_replies_webhook_retry);
	TEST_ADD("/replies/webhook-refused", test_replies_webhook_refused);
#undef TEST_ADD
	return g_test_run();
}
