/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* sodium_init(), once; FALSE if the library cannot work on this machine */
gboolean
vb_crypto_init(GError **error);
/* lower-case hex HMAC-SHA256 of @prefix followed by @data, keyed with a 32-byte @key */
gchar *
vb_crypto_hmac_hex(GBytes *key, const gchar *prefix, const guint8 *data, gsize len);
/* a GBytes whose memory is wiped when the last reference goes */
GBytes *
vb_crypto_bytes_new_secure(gconstpointer data, gsize len);
void
vb_crypto_wipe(gpointer data, gsize len);

G_END_DECLS
