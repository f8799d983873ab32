/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-privacy.h"

G_BEGIN_DECLS

/* TRUE if @digits (@len of them, all decimal) pass the Luhn check */
G_GNUC_INTERNAL gboolean
vb_luhn_valid(const gchar *digits, gsize len);

G_END_DECLS
