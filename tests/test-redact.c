/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-events.h"
#include "vb-i18n.h"
#include "vb-privacy-private.h"
#include "vb-prompts-private.h"
#include "vb-redact-private.h"

static void
test_redact_mask_phone(void)
{
	struct {
		const gchar *in;
		const gchar *out;
	} cases[] = {
	    {"+33612345678", "+33 6•• •• •• 78"},
	    {"+447911123456", "+44 7• •• •• •• 56"},
	    {"+12025550123", "+1 2• •• •• •• 23"},
	    {"0612345678", "•••"},
	    {"+33", "•••"},
	    {"+3361234567x", "•••"},
	    {NULL, "•••"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *masked = vb_mask_phone(cases[i].in);
		g_assert_cmpstr(masked, ==, cases[i].out);
	}
}

static void
test_redact_text(void)
{
	struct {
		const gchar *in;
		const gchar *out;
	} cases[] = {
	    /* card numbers, plain or grouped, keep only the last four */
	    {"pan 4111111111111111 read", "pan ••••1111 read"},
	    {"pan 4111 1111 1111 1111.", "pan ••••1111."},
	    {"pan 5555-5555-5555-4444", "pan ••••4444"},
	    /* a number that fails the check digit is left alone */
	    {"order 4111111111111112", "order 4111111111111112"},
	    /* phone numbers are masked */
	    {"sms to +33612345678 sent", "sms to +33 6•• •• •• 78 sent"},
	    /* short numbers, amounts and times are not touched */
	    {"hold of 5000 EUR at 12:30, code length 6",
	     "hold of 5000 EUR at 12:30, code length 6"},
	    /* a PAN is not found inside a longer run of digits */
	    {"ts 14111111111111111999", "ts 14111111111111111999"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *out = vb_redact_text(cases[i].in);
		g_assert_cmpstr(out, ==, cases[i].out);
	}
}

static void
test_redact_event(void)
{
	g_autoptr(VbEvent) event = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autofree gchar *json = NULL;

	event = vb_event_new(VB_EVENT_SMS_RECEIVED, "sms", NULL,
			     g_variant_new_parsed("{%s: <'+33612345678'>, %s: <'my card is "
						  "4111111111111111, code 123456'>, "
						  "'note': <'call +33698765432'>}",
						  VB_KEY_PHONE, VB_KEY_BODY));
	node = vb_redact_event_to_json(event);
	json = json_to_string(node, FALSE);
	/* what the audit log and `vestibulectl events` show */
	g_assert_null(strstr(json, "+33612345678"));
	g_assert_null(strstr(json, "4111111111111111"));
	g_assert_null(strstr(json, "123456"));
	g_assert_null(strstr(json, "+33698765432"));
	g_assert_nonnull(strstr(json, "\"phone\":\"+33 6•• •• •• 78\""));
	g_assert_nonnull(strstr(json, "\"body\":\"[40 characters]\""));
	g_assert_nonnull(strstr(json, "\"name\":\"sms-received\""));
}

/* the followers' lines are written without a JSON tree: each is the very
 * text json-glib writes for the event, whatever its strings hold */
static void
assert_line_as_json_glib(VbEvent *event)
{
	g_autoptr(JsonNode) node = vb_redact_event_to_json(event);
	g_autofree gchar *json = json_to_string(node, FALSE);
	g_autofree gchar *expected = g_strconcat(json, "\n", NULL);
	g_autofree gchar *payload = vb_redact_event_payload_to_string(event);
	g_autofree gchar *line = NULL;
	g_autofree gchar *expected_payload =
	    json_to_string(json_object_get_member(json_node_get_object(node), "payload"), FALSE);
	gsize len = 0;

	line = vb_redact_event_to_line(event, payload, &len);
	g_assert_cmpstr(line, ==, expected);
	g_assert_cmpuint(len, ==, strlen(expected));
	/* and the audit log's payload is the line's */
	g_assert_cmpstr(payload, ==, expected_payload);
}

static void
test_redact_event_line(void)
{
	GVariantBuilder payload;
	g_autoptr(VbEvent) plain = NULL;
	g_autoptr(VbEvent) odd = NULL;
	g_autoptr(VbEvent) empty = NULL;

	g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&payload, "{sv}", VB_KEY_STATE, g_variant_new_string("unlocked"));
	g_variant_builder_add(&payload, "{sv}", "duration-ms", g_variant_new_int32(5000));
	g_variant_builder_add(&payload, "{sv}", "count", g_variant_new_uint64(G_MAXUINT64 / 3));
	g_variant_builder_add(&payload, "{sv}", "ok", g_variant_new_boolean(TRUE));
	g_variant_builder_add(&payload, "{sv}", "ratio", g_variant_new_double(0.125));
	plain = vb_event_new(VB_EVENT_DOOR_UNLOCKED, "front-lock", "front",
			     g_variant_builder_end(&payload));
	assert_line_as_json_glib(plain);

	/* quotes, backslashes, control characters, UTF-8, a phone and a body */
	g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&payload, "{sv}", VB_KEY_MESSAGE,
			      g_variant_new_string("a \"quoted\" \\path\\\n\ttab\x01\x1f\x7f é €"));
	g_variant_builder_add(&payload, "{sv}", VB_KEY_PHONE, g_variant_new_string("+33612345678"));
	g_variant_builder_add(&payload, "{sv}", VB_KEY_BODY, g_variant_new_string("STOP \"now\""));
	g_variant_builder_add(&payload, "{sv}", "pair", g_variant_new("(si)", "x\"y", 2));
	odd = vb_event_new("alert", "in\"st\\ance\b\f\r", "do\u00e9or\n",
			   g_variant_builder_end(&payload));
	assert_line_as_json_glib(odd);

	/* neither a source nor a door, no payload */
	empty = vb_event_new(VB_EVENT_DAEMON_READY, NULL, NULL, NULL);
	assert_line_as_json_glib(empty);
}

static void
test_redact_keypad_digits(void)
{
	const gchar *keys[] = {"0", "6", "enter", "*"};
	const gchar *shown[] = {"digit", "digit", "enter", "*"};

	/* a phone number or a code typed key by key never reaches the audit log */
	for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
		g_autoptr(VbEvent) event =
		    vb_event_new(VB_EVENT_KEYPAD_KEY, "keypad", "front",
				 g_variant_new_parsed("{%s: <%s>}", VB_KEY_KEY, keys[i]));
		g_autoptr(JsonNode) node = vb_redact_event_to_json(event);
		JsonObject *payload =
		    json_object_get_object_member(json_node_get_object(node), "payload");
		g_assert_cmpstr(json_object_get_string_member(payload, "key"), ==, shown[i]);
	}
}

static void
test_redact_luhn(void)
{
	g_assert_true(vb_luhn_valid("4111111111111111", 16));
	g_assert_true(vb_luhn_valid("5555555555554444", 16));
	g_assert_false(vb_luhn_valid("4111111111111112", 16));
	g_assert_false(vb_luhn_valid("41111111a1111111", 16));
	g_assert_false(vb_luhn_valid("", 0));
}

static void
test_i18n_per_language(void)
{
	/* the catalog is chosen per call, not per process */
	const gchar *fr = vb_i18n_gettext("fr", "Please type your phone number");
	const gchar *en = vb_i18n_gettext("en", "Please type your phone number");
	const gchar *bad = vb_i18n_gettext("../../etc", "Please type your phone number");

	g_assert_cmpstr(en, ==, "Please type your phone number");
	g_assert_cmpstr(bad, ==, "Please type your phone number");
	g_assert_cmpstr(fr, ==, "Veuillez saisir votre numéro de téléphone");
	g_assert_cmpstr(vb_i18n_gettext("FR", "Please type your phone number"), ==, fr);
	g_assert_cmpstr(vb_i18n_gettext("fr_CA", "Please type your phone number"), ==, fr);
	/* French uses the singular for 0 and 1, English only for 1 */
	{
		g_autofree gchar *fr0 = vb_prompt_welcome_back("fr", 0);
		g_autofree gchar *fr2 = vb_prompt_welcome_back("fr", 2);
		g_autofree gchar *en0 = vb_prompt_welcome_back("en", 0);
		g_autofree gchar *en1 = vb_prompt_welcome_back("en", 1);
		g_assert_cmpstr(fr0, ==, "Bon retour ! 0 visite jusqu’ici");
		g_assert_cmpstr(fr2, ==, "Bon retour ! 2 visites jusqu’ici");
		g_assert_cmpstr(en0, ==, "Welcome back! 0 visits so far");
		g_assert_cmpstr(en1, ==, "Welcome back! 1 visit so far");
	}
	/* prompts for the display: an id and a text in the visit's language */
	g_assert_cmpstr(vb_prompt_get_id(VB_PROMPT_DECLINED), ==, "declined");
	g_assert_cmpstr(vb_prompt_get_text(VB_PROMPT_ENTER_PHONE, "fr"), ==, fr);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* operator warnings are expected here; criticals stay fatal */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_test_add_func("/redact/mask-phone", test_redact_mask_phone);
	g_test_add_func("/redact/text", test_redact_text);
	g_test_add_func("/redact/event", test_redact_event);
	g_test_add_func("/redact/event-line", test_redact_event_line);
	g_test_add_func("/redact/luhn", test_redact_luhn);
	g_test_add_func("/redact/keypad-digits", test_redact_keypad_digits);
	g_test_add_func("/i18n/per-language", test_i18n_per_language);
	return g_test_run();
}
