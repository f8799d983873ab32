/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <json-glib/json-glib.h>

#include "vb-event.h"
#include "vb-privacy.h"

G_BEGIN_DECLS

/* the event as operators see it, in the audit log and `vestibulectl events`:
 * phone numbers masked, message bodies reduced to their length, keypad digits
 * reduced to "digit" */
JsonNode *
vb_redact_event_to_json(VbEvent *event);

/* the payload of vb_redact_event_to_json(), as JSON text: what the audit log
 * records */
gchar *
vb_redact_event_payload_to_string(VbEvent *event);

/* vb_redact_event_to_json() as one line of NDJSON, the same text that
 * json-glib writes, built around @payload_json (from
 * vb_redact_event_payload_to_string()) without a JSON tree */
gchar *
vb_redact_event_to_line(VbEvent *event, const gchar *payload_json, gsize *len);

G_END_DECLS
