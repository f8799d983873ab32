/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * SECTION:vb-privacy
 * @short_description: masking phone numbers and card numbers
 *
 * A phone number or a card number may reach a log line, a display or an
 * operator only masked. The core passes every log line and every audit entry
 * through these functions; a plugin uses them on text from outside (a
 * provider's answer, a shopper's message) before it logs it.
 */

/**
 * vb_mask_phone:
 * @e164: (nullable): a phone number in E.164 form
 *
 * Masks a phone number for display: the country code, the first national
 * digit and the last two stay, as in `+33 6•• •• •• 78`. Anything that is not
 * E.164 (no leading `+`, fewer than 7 or more than 15 digits, or anything but
 * digits after the `+`) becomes `•••`, as does %NULL.
 *
 * |[<!-- language="C" -->
 * g_autofree gchar *masked = vb_mask_phone("+33612345678");
 * g_message("sent the code to %s", masked); // +33 6•• •• •• 78
 * ]|
 *
 * Returns: (transfer full): the masked number, never %NULL; free with g_free()
 *
 * Since: 0.1
 */
gchar *
vb_mask_phone(const gchar *e164);

/**
 * vb_redact_text:
 * @text: (nullable): any text
 *
 * Masks what looks like a card number (a Luhn-valid run of 13 to 19 digits,
 * single spaces or dashes allowed between) down to its last four digits, as
 * in `••••4242`, and every E.164 phone number as vb_mask_phone() does. Other
 * digits, such as amounts, order numbers and longer runs, are left as they are.
 *
 * |[<!-- language="C" -->
 * g_autofree gchar *safe = vb_redact_text(provider_error);
 * g_warning("the provider refused the message: %s", safe);
 * ]|
 *
 * Returns: (transfer full) (nullable): the redacted text, %NULL only when
 *   @text is %NULL; free with g_free()
 *
 * Since: 0.1
 */
gchar *
vb_redact_text(const gchar *text);

G_END_DECLS
