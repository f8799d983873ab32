/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include <string.h>

#include "vb-i18n.h"
#include "vb-prompts-private.h"
#include "vb-secure.h"

static const struct {
	const gchar *id;
	const gchar *text;
} vb_prompts[VB_PROMPT_LAST] = {
    /* TRANSLATORS: shown on the door display while nobody is there */
    [VB_PROMPT_WELCOME] = {"welcome", N_("Tap your card to enter")},
    /* TRANSLATORS: first visit of a card: the keypad asks for a phone number */
    [VB_PROMPT_ENTER_PHONE] = {"enter-phone", N_("Please type your phone number")},
    [VB_PROMPT_INVALID_PHONE] = {"invalid-phone", N_("That number is not valid. Please try again")},
    /* TRANSLATORS: a one-time code was sent by SMS to prove the phone is the shopper's */
    [VB_PROMPT_ENTER_CODE] = {"enter-code", N_("Type the code we sent by SMS")},
    [VB_PROMPT_WRONG_CODE] = {"wrong-code", N_("Wrong code. Please try again")},
    /* TRANSLATORS: while the payment processor places the hold */
    [VB_PROMPT_AUTHORIZING] = {"authorizing", N_("One moment, please")},
    [VB_PROMPT_DECLINED] = {"declined", N_("Your card was declined. The door stays locked")},
    [VB_PROMPT_PROCESSOR_UNAVAILABLE] =
	{"processor-unavailable", N_("Payments are unavailable right now. The door stays locked")},
    [VB_PROMPT_DOOR_OPEN] = {"door-open", N_("Welcome! You may open the door")},
    [VB_PROMPT_TIMED_OUT] = {"timed-out", N_("Time is up. Please tap your card again")},
    [VB_PROMPT_OUT_OF_SERVICE] = {"out-of-service", N_("Sorry, this door is out of service")},
    /* TRANSLATORS: the shopper pressed * to give a new phone number for a known card */
    [VB_PROMPT_CHANGE_PHONE] = {"change-phone", N_("Tap your card to change your phone number")},
    [VB_PROMPT_CODE_FAILED] = {"code-failed",
			       N_("That code cannot be used any more. Please tap your card again")},
    /* TRANSLATORS: codes are sent at most every 30 seconds */
    [VB_PROMPT_WAIT] = {"wait", N_("Please wait a moment before asking for a new code")},
    [VB_PROMPT_CANCELLED] = {"cancelled", N_("Cancelled. Goodbye")},
};

static const struct {
	const gchar *name;
	const gchar *text;
} vb_sms_templates[VB_SMS_LAST] = {
    [VB_SMS_NOTICE] = {"notice",
		       /* TRANSLATORS: the SMS sent when the door closes; keep {store} as
			* it is; plain letters keep it to one GSM-7 segment */
		       N_("{store}: a purchase was made with your card. Your itemized receipt "
			  "follows by SMS within a few hours. Reply to this message with any "
			  "question.")},
    /* TRANSLATORS: keep {store} and {url} as they are */
    [VB_SMS_RECEIPT] = {"receipt", N_("{store}: your receipt is ready: {url}")},
    [VB_SMS_OTP] =
	{"otp",
	 /* TRANSLATORS: keep {store} and {code} as they are */
	 N_("{store}: your code is {code}. It is valid for 10 minutes. Never share it.")},
    [VB_SMS_HELP] = {"help",
		     /* TRANSLATORS: the answer to HELP; keep {store} and {contact} as they are */
		     N_("{store}: for help, contact {contact}. Reply STOP to receive no more "
			"messages.")},
    /* TRANSLATORS: a shopper's reply forwarded to the operator; keep the {names} */
    [VB_SMS_FORWARD] = {"forward", N_("Reply from {phone} about visit {visit}: {body}")},
};

VbSmsTemplate
vb_sms_template_from_string(const gchar *name)
{
	for (guint i = 0; i < VB_SMS_LAST; i++) {
		if (g_strcmp0(name, vb_sms_templates[i].name) == 0)
			return (VbSmsTemplate)i;
	}
	return VB_SMS_LAST;
}

const gchar *
vb_sms_template_to_string(VbSmsTemplate template_)
{
	g_return_val_if_fail(template_ < VB_SMS_LAST, NULL);
	return vb_sms_templates[template_].name;
}

gchar *
vb_sms_render(VbSmsTemplate template_, const gchar *language, GHashTable *params)
{
	const gchar *text;
	GString *out;

	g_return_val_if_fail(template_ < VB_SMS_LAST, NULL);
	text = vb_i18n_gettext(language, vb_sms_templates[template_].text);
	out = g_string_sized_new(strlen(text) + 64);
	for (const gchar *p = text; *p != '\0'; p++) {
		const gchar *end;
		/* only short {names}; any other brace is text */
		if (*p == '{' && (end = strchr(p + 1, '}')) != NULL && end - p <= 16) {
			g_autofree gchar *name = g_strndup(p + 1, (gsize)(end - p - 1));
			const gchar *value =
			    params != NULL ? g_hash_table_lookup(params, name) : NULL;
			/* the text is UTF-8 whatever a value holds: a broken byte
			 * becomes U+FFFD, as the SMS would show it */
			if (value != NULL && g_utf8_validate(value, -1, NULL)) {
				g_string_append(out, value);
			} else if (value != NULL) {
				gchar *valid = g_utf8_make_valid(value, -1);
				g_string_append(out, valid);
				vb_secure_free_string(valid);
			}
			p = end;
			continue;
		}
		g_string_append_c(out, *p);
	}
	return g_string_free(out, FALSE);
}

const gchar *
vb_prompt_get_id(VbPrompt prompt)
{
	g_return_val_if_fail(prompt < VB_PROMPT_LAST, NULL);
	return vb_prompts[prompt].id;
}

const gchar *
vb_prompt_get_text(VbPrompt prompt, const gchar *language)
{
	g_return_val_if_fail(prompt < VB_PROMPT_LAST, NULL);
	return vb_i18n_gettext(language, vb_prompts[prompt].text);
}

gchar *
vb_prompt_welcome_back(const gchar *language, guint visits)
{
	/* TRANSLATORS: a returning card; %u is how many visits it made.
	 * xgettext finds this through the ngettext keyword given in po/meson.build */
	const gchar *format = vb_i18n_ngettext(language, "Welcome back! %u visit so far",
					       "Welcome back! %u visits so far", visits);
	/* the format comes from our own catalog, where msgfmt --check verified it */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	return g_strdup_printf(format, visits);
#pragma GCC diagnostic pop
}
