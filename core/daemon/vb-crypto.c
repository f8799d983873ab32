/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <sodium.h>

#include "vb-crypto-private.h"
#include "vb-error.h"
#include "vb-secure.h"

gboolean
vb_crypto_init(GError **error)
{
	if (sodium_init() < 0) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
				    "libsodium failed to initialize: no secure random source?");
		return FALSE;
	}
	return TRUE;
}

void
vb_crypto_hmac_hex_into(GBytes *key,
			const gchar *prefix,
			const guint8 *data,
			gsize len,
			gchar hex[VB_CRYPTO_HMAC_HEX_SIZE])
{
	crypto_auth_hmacsha256_state state;
	guint8 mac[crypto_auth_hmacsha256_BYTES];
	gsize key_len = 0;
	const guint8 *key_data = g_bytes_get_data(key, &key_len);

	G_STATIC_ASSERT(VB_CRYPTO_HMAC_HEX_SIZE == crypto_auth_hmacsha256_BYTES * 2 + 1);
	crypto_auth_hmacsha256_init(&state, key_data, key_len);
	crypto_auth_hmacsha256_update(&state, (const guint8 *)prefix, strlen(prefix));
	crypto_auth_hmacsha256_update(&state, data, len);
	crypto_auth_hmacsha256_final(&state, mac);
	sodium_bin2hex(hex, VB_CRYPTO_HMAC_HEX_SIZE, mac, sizeof(mac));
	sodium_memzero(&state, sizeof(state));
	sodium_memzero(mac, sizeof(mac));
}

gchar *
vb_crypto_hmac_hex(GBytes *key, const gchar *prefix, const guint8 *data, gsize len)
{
	gchar hex[VB_CRYPTO_HMAC_HEX_SIZE];

	vb_crypto_hmac_hex_into(key, prefix, data, len, hex);
	return g_strdup(hex);
}

static void
vb_crypto_secure_free(gpointer data)
{
	/* the length is stored in front of the data */
	gsize *base = ((gsize *)data) - 1;
	sodium_memzero(base, *base + sizeof(gsize));
	g_free(base);
}

GBytes *
vb_crypto_bytes_new_secure(gconstpointer data, gsize len)
{
	gsize *base = g_malloc(sizeof(gsize) + len);
	*base = len;
	memcpy(base + 1, data, len);
	return g_bytes_new_with_free_func(base + 1, len, vb_crypto_secure_free, base + 1);
}

void
vb_crypto_wipe(gpointer data, gsize len)
{
	sodium_memzero(data, len);
}

/* phones at rest, one-time codes and tokens */

#define VB_CRYPTO_NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define VB_CRYPTO_TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

static gboolean
vb_crypto_check_key(GBytes *key, GError **error)
{
	if (key == NULL || g_bytes_get_size(key) != crypto_aead_xchacha20poly1305_ietf_KEYBYTES) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("a sealing key must be %u bytes (64 hex characters); generate one "
			      "with 'openssl rand -hex 32'"),
			    (guint)crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
		return FALSE;
	}
	return TRUE;
}

GBytes *
vb_crypto_seal(GBytes *key, const gchar *ad, const guint8 *data, gsize len, GError **error)
{
	unsigned long long sealed_len = 0;
	guint8 *out;

	g_return_val_if_fail(data != NULL || len == 0, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!vb_crypto_check_key(key, error))
		return NULL;
	/* XChaCha20's 192-bit nonce is large enough to be drawn at random for
	 * every seal with the same key, so nothing has to count them */
	out = g_malloc(VB_CRYPTO_NONCE_BYTES + len + VB_CRYPTO_TAG_BYTES);
	randombytes_buf(out, VB_CRYPTO_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
	    out + VB_CRYPTO_NONCE_BYTES, &sealed_len, data, len, (const guint8 *)ad,
	    ad != NULL ? strlen(ad) : 0, NULL, out, g_bytes_get_data(key, NULL));
	return g_bytes_new_take(out, VB_CRYPTO_NONCE_BYTES + (gsize)sealed_len);
}

GBytes *
vb_crypto_open(GBytes *key, const gchar *ad, GBytes *sealed, GError **error)
{
	gsize sealed_len = 0;
	const guint8 *sealed_data;
	unsigned long long plain_len = 0;
	guint8 *plain;
	GBytes *bytes;
	gint rc;

	g_return_val_if_fail(sealed != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!vb_crypto_check_key(key, error))
		return NULL;
	sealed_data = g_bytes_get_data(sealed, &sealed_len);
	if (sealed_len < VB_CRYPTO_NONCE_BYTES + VB_CRYPTO_TAG_BYTES) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the sealed value is too short to be one: the database was "
				      "altered; restore it from a backup"));
		return NULL;
	}
	/* +1: g_malloc(0) gives NULL, and an empty plaintext is valid */
	plain = g_malloc(sealed_len - VB_CRYPTO_NONCE_BYTES - VB_CRYPTO_TAG_BYTES + 1);
	rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
	    plain, &plain_len, NULL, sealed_data + VB_CRYPTO_NONCE_BYTES,
	    sealed_len - VB_CRYPTO_NONCE_BYTES, (const guint8 *)ad, ad != NULL ? strlen(ad) : 0,
	    sealed_data, g_bytes_get_data(key, NULL));
	if (rc != 0) {
		g_free(plain);
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the sealed value does not open with this key and row: the "
				      "key in the secrets file changed, or the database was "
				      "altered"));
		return NULL;
	}
	bytes = vb_crypto_bytes_new_secure(plain, (gsize)plain_len);
	sodium_memzero(plain, (gsize)plain_len);
	g_free(plain);
	return bytes;
}

gchar *
vb_crypto_random_digits(guint n)
{
	gchar *digits = g_malloc(n + 1);

	/* randombytes_uniform() rejects the values that would bias the draw */
	for (guint i = 0; i < n; i++)
		digits[i] = (gchar)('0' + randombytes_uniform(10));
	digits[n] = '\0';
	return digits;
}

gchar *
vb_crypto_random_token(gsize n_bytes)
{
	g_autofree guint8 *buf = g_malloc(n_bytes + 1);
	gchar *token;

	randombytes_buf(buf, n_bytes);
	/* base64url (RFC 4648 §5) goes in URLs and paths untouched */
	token = vb_secure_base64url_encode(buf, n_bytes);
	sodium_memzero(buf, n_bytes);
	return token;
}
