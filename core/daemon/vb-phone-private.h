/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* turns what a shopper typed into E.164, using @country (ISO 3166-1 alpha-2)
 * for a national number: "06 12 34 56 78" in FR gives "+33612345678". Accepts
 * "+", "00" and the country's trunk prefix; drops spaces, dots, dashes and
 * parentheses. Checks the digit count per E.164 and, for the countries in its
 * table, the national number length; it does NOT check that a number is in
 * service, is a mobile, or belongs to an allocated range. Errors are
 * VB_ERROR_INVALID_DATA with a message that never repeats the number */
gchar *
vb_phone_normalize(const gchar *input, const gchar *country, GError **error);

G_END_DECLS
