/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-event.h"
#include "vb-store.h"

G_BEGIN_DECLS

/* appends one row; the caller has already redacted the payload */
gboolean
vb_audit_append(VbStore *store, VbEvent *event, const gchar *payload_json, GError **error);
/* rows newest first, after @after_seq, at most @limit (0 for all): array of
 * GVariant a{sv} with seq (t), name, source, door, payload (s), mono, real (x);
 * missing texts are empty strings */
GPtrArray *
vb_audit_list(VbStore *store, guint64 after_seq, guint limit, GError **error);
/* deletes the rows older than @before_real (µs since the epoch); returns how
 * many, or -1 on error */
gint64
vb_audit_prune(VbStore *store, gint64 before_real, guint limit, GError **error);

G_END_DECLS
