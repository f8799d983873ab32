/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <sodium.h>

#include "vb-crypto-private.h"
#include "vb-error.h"

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

gchar *
vb_crypto_hmac_hex(GBytes *key, const gchar *prefix, const guint8 *data, gsize len)
{
	crypto_auth_hmacsha256_state state;
	guint8 mac[crypto_auth_hmacsha256_BYTES];
	gchar hex[crypto_auth_hmacsha256_BYTES * 2 + 1];
	gsize key_len = 0;
	const guint8 *key_data = g_bytes_get_data(key, &key_len);

	crypto_auth_hmacsha256_init(&state, key_data, key_len);
	crypto_auth_hmacsha256_update(&state, (const guint8 *)prefix, strlen(prefix));
	crypto_auth_hmacsha256_update(&state, data, len);
	crypto_auth_hmacsha256_final(&state, mac);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	sodium_memzero(&state, sizeof(state));
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
