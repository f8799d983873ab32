/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-twilio-signature.h"

static gint
vb_twilio_param_cmp(gconstpointer a, gconstpointer b)
{
	const VbSecureFormField *pa = *(VbSecureFormField *const *)a;
	const VbSecureFormField *pb = *(VbSecureFormField *const *)b;
	gint cmp = strcmp(pa->name, pb->name);

	return cmp != 0 ? cmp : strcmp(pa->value, pb->value);
}

gchar *
vb_twilio_signature_compute(const guint8 *token,
			    gsize token_len,
			    const gchar *url,
			    GPtrArray *params)
{
	g_autoptr(GHmac) hmac = g_hmac_new(G_CHECKSUM_SHA1, token, token_len);
	g_autoptr(GPtrArray) sorted = g_ptr_array_new();
	guint8 digest[20];
	gsize digest_len = sizeof(digest);

	g_hmac_update(hmac, (const guchar *)url, -1);
	for (guint i = 0; params != NULL && i < params->len; i++)
		g_ptr_array_add(sorted, g_ptr_array_index(params, i));
	g_ptr_array_sort(sorted, vb_twilio_param_cmp);
	for (guint i = 0; i < sorted->len; i++) {
		VbSecureFormField *param = g_ptr_array_index(sorted, i);
		g_hmac_update(hmac, (const guchar *)param->name, -1);
		g_hmac_update(hmac, (const guchar *)param->value, -1);
	}
	g_hmac_get_digest(hmac, digest, &digest_len);
	return g_base64_encode(digest, digest_len);
}

/* the same URL with the scheme's default port added when it has none, or
 * removed when it is the default one; NULL when neither applies */
static gchar *
vb_twilio_url_port_variant(const gchar *url)
{
	const gchar *sep = strstr(url, "://");
	const gchar *host;
	const gchar *host_end;
	const gchar *colon = NULL;
	const gchar *default_port;
	g_autofree gchar *scheme = NULL;

	if (sep == NULL)
		return NULL;
	scheme = g_ascii_strdown(url, sep - url);
	if (g_strcmp0(scheme, "https") == 0)
		default_port = "443";
	else if (g_strcmp0(scheme, "http") == 0)
		default_port = "80";
	else
		return NULL;
	host = sep + 3;
	host_end = host + strcspn(host, "/?#");
	/* the port's colon comes after an IPv6 literal's closing bracket */
	for (const gchar *p = host; p < host_end; p++) {
		if (*p == ']')
			colon = NULL;
		else if (*p == ':')
			colon = p;
	}
	if (colon != NULL && (host[0] != '[' || colon > strchr(host, ']'))) {
		if ((gsize)(host_end - colon - 1) != strlen(default_port) ||
		    strncmp(colon + 1, default_port, strlen(default_port)) != 0)
			return NULL;
		return g_strdup_printf("%.*s%s", (gint)(colon - url), url, host_end);
	}
	return g_strdup_printf("%.*s:%s%s", (gint)(host_end - url), url, default_port, host_end);
}

gboolean
vb_twilio_signature_check(const guint8 *token,
			  gsize token_len,
			  const gchar *url,
			  GPtrArray *params,
			  const gchar *signature)
{
	g_autofree gchar *expected = NULL;
	g_autofree gchar *variant = NULL;
	gboolean ok;

	if (signature == NULL || signature[0] == '\0' || token_len == 0)
		return FALSE;
	expected = vb_twilio_signature_compute(token, token_len, url, params);
	ok = vb_secure_equal_string(expected, signature);
	variant = vb_twilio_url_port_variant(url);
	if (variant != NULL) {
		g_autofree gchar *other =
		    vb_twilio_signature_compute(token, token_len, variant, params);
		/* both are always compared, so the time says nothing about which matched */
		ok = vb_secure_equal_string(other, signature) | ok;
	}
	return ok;
}
