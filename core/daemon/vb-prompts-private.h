/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* the prompts a shopper reads at the door; the id goes to the display with
 * the text translated into the visit's language */
typedef enum {
	VB_PROMPT_WELCOME,
	VB_PROMPT_ENTER_PHONE,
	VB_PROMPT_INVALID_PHONE,
	VB_PROMPT_ENTER_CODE,
	VB_PROMPT_WRONG_CODE,
	VB_PROMPT_AUTHORIZING,
	VB_PROMPT_DECLINED,
	VB_PROMPT_PROCESSOR_UNAVAILABLE,
	VB_PROMPT_DOOR_OPEN,
	VB_PROMPT_TIMED_OUT,
	VB_PROMPT_OUT_OF_SERVICE,
	VB_PROMPT_CHANGE_PHONE,
	VB_PROMPT_CODE_FAILED,
	VB_PROMPT_WAIT,
	VB_PROMPT_CANCELLED,
	VB_PROMPT_LAST
} VbPrompt;

const gchar *
vb_prompt_get_id(VbPrompt prompt);
/* the text in @language (ISO 639-1), or in English */
const gchar *
vb_prompt_get_text(VbPrompt prompt, const gchar *language);
/* the SMS messages, in the customer's language; {name} placeholders are
 * replaced by vb_sms_render() */
typedef enum {
	VB_SMS_NOTICE,	/* {store} */
	VB_SMS_RECEIPT, /* {store} {url} */
	VB_SMS_OTP,	/* {store} {code} */
	VB_SMS_HELP,	/* {store} {contact} */
	VB_SMS_FORWARD, /* {phone} {visit} {body} */
	VB_SMS_LAST
} VbSmsTemplate;

VbSmsTemplate
vb_sms_template_from_string(const gchar *name);
const gchar *
vb_sms_template_to_string(VbSmsTemplate template_);
/* the template in @language with each {name} replaced from @params (name -> value);
 * a placeholder with no value is left empty */
gchar *
vb_sms_render(VbSmsTemplate template_, const gchar *language, GHashTable *params);

/* "Welcome back: visit N", with the plural form of @language */
gchar *
vb_prompt_welcome_back(const gchar *language, guint visits);

G_END_DECLS
