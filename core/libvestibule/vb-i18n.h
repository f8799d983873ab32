/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

const gchar *
vb_i18n_gettext(const gchar *language, const gchar *msgid);
const gchar *
vb_i18n_ngettext(const gchar *language, const gchar *msgid, const gchar *msgid_plural, gulong n);

G_END_DECLS
