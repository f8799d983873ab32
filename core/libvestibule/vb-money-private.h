/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-money.h"

G_BEGIN_DECLS

/* whether @language (fr, fr_CA, pt-BR…) writes 12,50 rather than 12.50, as
 * vb_money_format() does; the receipt writes a weight such as 0,35 with it */
gboolean
vb_money_language_has_decimal_comma(const gchar *language);

G_END_DECLS
