/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

gchar *
vb_mask_phone(const gchar *e164);
gchar *
vb_redact_text(const gchar *text);

G_END_DECLS
