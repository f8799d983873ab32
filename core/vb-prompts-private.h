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
	VB_PROMPT_LAST
} VbPrompt;

const gchar *
vb_prompt_get_id(VbPrompt prompt);
/* the text in @language (ISO 639-1), or in English */
const gchar *
vb_prompt_get_text(VbPrompt prompt, const gchar *language);
/* "Welcome back: visit N", with the plural form of @language */
gchar *
vb_prompt_welcome_back(const gchar *language, guint visits);

G_END_DECLS
