/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <json-glib/json-glib.h>

#include "vb-event.h"

G_BEGIN_DECLS

gboolean
vb_luhn_valid(const gchar *digits, gsize len);
/* "+33612345678" -> "+33 6•• •• •• 78"; anything not E.164 -> "•••" */
gchar *
vb_mask_phone(const gchar *e164);
/* masks card numbers (Luhn-valid runs of 13 to 19 digits, spaces or dashes
 * allowed between) and E.164 phone numbers found anywhere in @text */
gchar *
vb_redact_text(const gchar *text);
/* the event as operators see it, in the audit log and `vestibulectl events`:
 * phone numbers masked, message bodies reduced to their length */
JsonNode *
vb_redact_event_to_json(VbEvent *event);

G_END_DECLS
