/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

guint
vb_sms_text_gsm7_width(gunichar c);
gboolean
vb_sms_text_is_gsm7(const gchar *utf8);
guint
vb_sms_text_count(const gchar *utf8);

G_END_DECLS
