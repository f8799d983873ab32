/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-http-sms-hook.h"

GPtrArray *
vb_http_sms_hook_params(gboolean post,
			const gchar *content_type,
			const gchar *body,
			gsize body_len,
			const gchar *query,
			GError **error)
{
	g_autoptr(GPtrArray) params = NULL;
	g_autoptr(GPtrArray) query_params = NULL;

	if (post) {
		if (body_len > 0 &&
		    g_strcmp0(content_type, "application/x-www-form-urlencoded") != 0) {
			g_set_error_literal(
			    error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("post the fields as application/x-www-form-urlencoded"));
			return NULL;
		}
		params = vb_secure_form_decode(body, (gssize)body_len, VB_SECURE_FORM_BINARY_VALUES,
					       error);
		if (params == NULL)
			return NULL;
	} else {
		params = vb_secure_form_decode(NULL, 0, VB_SECURE_FORM_NONE, NULL);
	}
	if (query != NULL) {
		query_params =
		    vb_secure_form_decode(query, -1, VB_SECURE_FORM_BINARY_VALUES, error);
		if (query_params == NULL)
			return NULL;
		g_ptr_array_extend_and_steal(params, g_steal_pointer(&query_params));
	}
	return g_steal_pointer(&params);
}

gchar *
vb_http_sms_hook_param_text(GPtrArray *params, const gchar *name)
{
	const VbSecureFormField *field = vb_secure_form_lookup(params, name);

	/* with a length, g_utf8_validate() refuses a NUL too */
	if (field == NULL || !g_utf8_validate(field->value, (gssize)field->value_len, NULL))
		return NULL;
	return g_strndup(field->value, field->value_len);
}

static const gchar *
vb_http_sms_kannel_state(gint64 type)
{
	switch (type) {
	case 1:
		return "delivered";
	case 2:
		return "undelivered";
	case 4:
		return "queued";
	case 8:
		return "sent";
	case 16:
		return "failed";
	default:
		return NULL;
	}
}

const gchar *
vb_http_sms_hook_dlr_state(const gchar *status)
{
	static const gchar *const states[] = {"queued",	     "sent",   "delivered",
					      "undelivered", "failed", NULL};
	guint64 type = 0;

	if (g_ascii_string_to_unsigned(status, 10, 0, 255, &type, NULL))
		return vb_http_sms_kannel_state((gint64)type);
	for (guint i = 0; states[i] != NULL; i++) {
		if (g_strcmp0(states[i], status) == 0)
			return states[i];
	}
	return NULL;
}

gchar *
vb_http_sms_hook_sender(const gchar *raw)
{
	g_autoptr(GString) out = g_string_new(NULL);
	const gchar *p = raw;

	while (*p == ' ')
		p++;
	if (p[0] == '0' && p[1] == '0') {
		g_string_append_c(out, '+');
		p += 2;
	} else if (p[0] == '+') {
		g_string_append_c(out, '+');
		p++;
	}
	for (; *p != '\0'; p++) {
		if (g_ascii_isdigit(*p))
			g_string_append_c(out, *p);
		else if (*p != ' ' && *p != '-')
			return NULL;
	}
	if (out->len < 3 || out->len > 16)
		return NULL;
	return g_string_free(g_steal_pointer(&out), FALSE);
}

gchar *
vb_http_sms_hook_text(const VbSecureFormField *raw_text, const gchar *charset)
{
	gsize len = raw_text->value_len;
	const gchar *data = raw_text->value;

	/* Kannel gives the charset of %b with %C; UTF-16BE for a UCS-2 message */
	if (charset != NULL && charset[0] != '\0' && g_ascii_strcasecmp(charset, "UTF-8") != 0)
		return g_convert(data, (gssize)len, "UTF-8", charset, NULL, NULL, NULL);
	if (memchr(data, '\0', len) == NULL && g_utf8_validate(data, (gssize)len, NULL))
		return g_strndup(data, len);
	return NULL;
}
