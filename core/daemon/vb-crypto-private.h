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
/* the length of a hex HMAC-SHA256, and its NUL */
#define VB_CRYPTO_HMAC_HEX_SIZE 65
/* lower-case hex HMAC-SHA256 of @prefix followed by @data, keyed with a 32-byte @key */
gchar *
vb_crypto_hmac_hex(GBytes *key, const gchar *prefix, const guint8 *data, gsize len);
/* the same, into @hex: for the tap's path, which allocates nothing for it */
void
vb_crypto_hmac_hex_into(GBytes *key,
			const gchar *prefix,
			const guint8 *data,
			gsize len,
			gchar hex[VB_CRYPTO_HMAC_HEX_SIZE]);
/* a GBytes whose memory is wiped when the last reference goes */
GBytes *
vb_crypto_bytes_new_secure(gconstpointer data, gsize len);
void
vb_crypto_wipe(gpointer data, gsize len);

G_END_DECLS

G_BEGIN_DECLS

/* XChaCha20-Poly1305 with a 32-byte @key: returns nonce || ciphertext || tag.
 * @ad is authenticated, not encrypted (the blind index, so a sealed phone
 * cannot be moved to another row) */
GBytes *
vb_crypto_seal(GBytes *key, const gchar *ad, const guint8 *data, gsize len, GError **error);
/* the plaintext, in memory wiped when freed; VB_ERROR_INVALID_DATA if forged */
GBytes *
vb_crypto_open(GBytes *key, const gchar *ad, GBytes *sealed, GError **error);
/* @n decimal digits from the CSPRNG, uniformly */
gchar *
vb_crypto_random_digits(guint n);
/* @n_bytes from the CSPRNG, base64url without padding (vb_secure_base64url_encode()) */
gchar *
vb_crypto_random_token(gsize n_bytes);

G_END_DECLS
