/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* bearer tokens: making one, and hashing it the way the store keeps it */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <sodium.h>

#include "vb-http-server-internal.h"

static gboolean
vb_http_sodium_init(GError **error)
{
	static gsize once = 0;
	static gint result = -1;

	if (g_once_init_enter(&once)) {
		result = sodium_init();
		g_once_init_leave(&once, 1);
	}
	if (result < 0) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
				    _("cannot initialise libsodium's random generator: check that "
				      "/dev/urandom is readable"));
		return FALSE;
	}
	return TRUE;
}

/**
 * vb_http_token_hash:
 * @token: a bearer token
 *
 * Hashes @token the way the store keeps it.
 *
 * Returns: (transfer full): the lower-case hex SHA-256 of @token
 *
 * Since: 0.1
 */
gchar *
vb_http_token_hash(const gchar *token)
{
	g_return_val_if_fail(token != NULL, NULL);

	return g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);
}

/**
 * vb_http_server_create_token:
 * @self: a #VbHttpServer
 * @name: a unique name for the token, such as `prometheus`
 * @scope: what the token allows, such as `metrics`
 * @error: return location for a #GError
 *
 * Makes a bearer token of 32 random bytes from a cryptographically secure
 * generator, encoded as unpadded base64url, and stores only its SHA-256 hash.
 * The caller shows the token once; wipe it before freeing it.
 *
 * Returns: (transfer full): the token, or %NULL on error
 *
 * Since: 0.1
 */
gchar *
vb_http_server_create_token(VbHttpServer *self,
			    const gchar *name,
			    const gchar *scope,
			    GError **error)
{
	guchar raw[32];
	gchar encoded[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	g_autofree gchar *hash = NULL;
	gchar *token;

	g_return_val_if_fail(VB_IS_HTTP_SERVER(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (name == NULL || name[0] == '\0' || scope == NULL || scope[0] == '\0') {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("a token needs a name and a scope"));
		return NULL;
	}
	if (!vb_http_sodium_init(error))
		return NULL;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(encoded, sizeof(encoded), raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));

	hash = vb_http_token_hash(encoded);
	if (!vb_store_token_add(self->store, name, scope, hash, error)) {
		sodium_memzero(encoded, sizeof(encoded));
		return NULL;
	}
	token = g_strdup(encoded);
	sodium_memzero(encoded, sizeof(encoded));
	return token;
}
