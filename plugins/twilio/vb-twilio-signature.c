/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-error.h"
#include "vb-twilio-signature.h"

static void
vb_twilio_param_free(gpointer data)
{
	VbTwilioParam *param = data;

	/* a body may hold a one-time code */
	if (param->value != NULL)
		explicit_bzero(param->value, strlen(param->value));
	g_free(param->name);
	g_free(param->value);
	g_free(param);
}

/* decodes one name or value: '+' is a space, then %XX escapes */
static gchar *
vb_twilio_form_unescape(const gchar *start, const gchar *end)
{
	g_autofree gchar *plus = g_strndup(start, end - start);
	gchar *out;

	for (gchar *p = plus; *p != '\0'; p++) {
		if (*p == '+')
			*p = ' ';
	}
	out = g_uri_unescape_string(plus, NULL);
	explicit_bzero(plus, strlen(plus));
	if (out != NULL && !g_utf8_validate(out, -1, NULL)) {
		explicit_bzero(out, strlen(out));
		g_clear_pointer(&out, g_free);
	}
	return out;
}

GPtrArray *
vb_twilio_form_decode(const gchar *data, gsize len, GError **error)
{
	g_autoptr(GPtrArray) params = g_ptr_array_new_with_free_func(vb_twilio_param_free);
	const gchar *end = data + len;
	const gchar *p = data;

	if (len > 0 && memchr(data, '\0', len) != NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the form body holds a NUL byte"));
		return NULL;
	}
	while (p < end) {
		const gchar *amp = memchr(p, '&', end - p);
		const gchar *field_end = amp != NULL ? amp : end;
		const gchar *eq = memchr(p, '=', field_end - p);
		VbTwilioParam *param;

		if (field_end == p) {
			p = field_end + 1;
			continue;
		}
		param = g_new0(VbTwilioParam, 1);
		param->name = vb_twilio_form_unescape(p, eq != NULL ? eq : field_end);
		param->value =
		    eq != NULL ? vb_twilio_form_unescape(eq + 1, field_end) : g_strdup("");
		g_ptr_array_add(params, param);
		if (param->name == NULL || param->value == NULL || param->name[0] == '\0') {
			g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
					    _("the form body is not valid "
					      "application/x-www-form-urlencoded UTF-8 text"));
			return NULL;
		}
		p = field_end + 1;
	}
	return g_steal_pointer(&params);
}

const gchar *
vb_twilio_params_lookup(GPtrArray *params, const gchar *name)
{
	for (guint i = 0; params != NULL && i < params->len; i++) {
		VbTwilioParam *param = g_ptr_array_index(params, i);
		if (g_strcmp0(param->name, name) == 0)
			return param->value;
	}
	return NULL;
}

static gint
vb_twilio_param_cmp(gconstpointer a, gconstpointer b)
{
	const VbTwilioParam *pa = *(VbTwilioParam *const *)a;
	const VbTwilioParam *pb = *(VbTwilioParam *const *)b;
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
		VbTwilioParam *param = g_ptr_array_index(sorted, i);
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

/* compares two strings of which only the length may leak */
static gboolean
vb_twilio_equal_const_time(const gchar *a, const gchar *b)
{
	gsize len = strlen(a);
	volatile guint8 diff = 0;

	if (len != strlen(b))
		return FALSE;
	for (gsize i = 0; i < len; i++)
		diff |= (guint8)a[i] ^ (guint8)b[i];
	return diff == 0;
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
	ok = vb_twilio_equal_const_time(expected, signature);
	variant = vb_twilio_url_port_variant(url);
	if (variant != NULL) {
		g_autofree gchar *other =
		    vb_twilio_signature_compute(token, token_len, variant, params);
		/* both are always compared, so the time says nothing about which matched */
		ok = vb_twilio_equal_const_time(other, signature) | ok;
	}
	return ok;
}
