/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

guint
vb_money_get_decimals(const gchar *currency);
gchar *
vb_money_format(gint64 minor, const gchar *currency, const gchar *language);

G_END_DECLS
