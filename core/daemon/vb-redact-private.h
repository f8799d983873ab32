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

G_END_DECLS
