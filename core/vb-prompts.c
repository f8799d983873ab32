/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "vb-i18n.h"
#include "vb-prompts-private.h"

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
};

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
