/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the one copy of each primitive that touches a secret on the wire, so that a
 * fix to one reaches the daemon and every plugin */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <sodium.h>
#include <string.h>

#include "vb-error.h"
#include "vb-secure.h"

#define VB_SECURE_BASIC_PREFIX "Basic "

gboolean
vb_secure_equal(gconstpointer a, gsize a_len, gconstpointer b, gsize b_len)
{
	guint8 digest_a[crypto_generichash_BYTES];
	guint8 digest_b[crypto_generichash_BYTES];
	gboolean same;

	g_return_val_if_fail(a != NULL || a_len == 0, FALSE);
	g_return_val_if_fail(b != NULL || b_len == 0, FALSE);

	/* hashing first makes the comparison the same 32 bytes whatever the
	 * lengths, so a short guess learns nothing from where it stops */
	crypto_generichash(digest_a, sizeof(digest_a), a_len > 0 ? a : (gconstpointer) "", a_len,
			   NULL, 0);
	crypto_generichash(digest_b, sizeof(digest_b), b_len > 0 ? b : (gconstpointer) "", b_len,
			   NULL, 0);
	same = sodium_memcmp(digest_a, digest_b, sizeof(digest_a)) == 0;
	sodium_memzero(digest_a, sizeof(digest_a));
	sodium_memzero(digest_b, sizeof(digest_b));
	/* not a branch: equal digests of different lengths would be a collision */
	return same & (a_len == b_len);
}

gboolean
vb_secure_equal_string(const gchar *a, const gchar *b)
{
	if (a == NULL || b == NULL)
		return FALSE;
	return vb_secure_equal(a, strlen(a), b, strlen(b));
}

static gchar *
vb_secure_base64_encode(const guint8 *data, gsize len, gint variant, const gchar *prefix)
{
	gsize prefix_len = strlen(prefix);
	gsize encoded_len = sodium_base64_encoded_len(len, variant);
	gchar *out = g_malloc(prefix_len + encoded_len);

	/* encoded in place after the prefix, so that no other copy exists */
	memcpy(out, prefix, prefix_len);
	sodium_bin2base64(out + prefix_len, encoded_len, len > 0 ? data : (const guint8 *)"", len,
			  variant);
	return out;
}

gchar *
vb_secure_base64url_encode(const guint8 *data, gsize len)
{
	g_return_val_if_fail(data != NULL || len == 0, NULL);
	return vb_secure_base64_encode(data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING, "");
}

gchar *
vb_secure_format_basic_auth(const gchar *user, GBytes *secret)
{
	gsize secret_len = 0;
	const guint8 *secret_data;
	gsize user_len;
	gsize plain_len;
	guint8 *plain;
	gchar *out;

	g_return_val_if_fail(user != NULL, NULL);
	g_return_val_if_fail(secret != NULL, NULL);

	secret_data = g_bytes_get_data(secret, &secret_len);
	user_len = strlen(user);
	plain_len = user_len + 1 + secret_len;
	plain = g_malloc(plain_len);
	memcpy(plain, user, user_len);
	plain[user_len] = ':';
	if (secret_len > 0)
		memcpy(plain + user_len + 1, secret_data, secret_len);
	out = vb_secure_base64_encode(plain, plain_len, sodium_base64_VARIANT_ORIGINAL,
				      VB_SECURE_BASIC_PREFIX);
	sodium_memzero(plain, plain_len);
	g_free(plain);
	return out;
}

void
vb_secure_free_string(gchar *str)
{
	if (str == NULL)
		return;
	sodium_memzero(str, strlen(str));
	g_free(str);
}

/* forms */

static void
vb_secure_form_field_free(gpointer data)
{
	VbSecureFormField *field = data;

	/* a value may be a one-time code or a shared secret */
	if (field->value != NULL)
		sodium_memzero(field->value, field->value_len);
	g_free(field->name);
	g_free(field->value);
	g_free(field);
}

/* one name or value, NUL-terminated: '+' is a space, then %XX escapes */
static gchar *
vb_secure_form_unescape(const gchar *start, gsize len, gsize *out_len, GError **error)
{
	gchar *plus = g_malloc(len + 1);
	g_autoptr(GBytes) bytes = NULL;
	const guint8 *data;
	gsize n = 0;
	gchar *out;

	/* g_uri_unescape_bytes() knows URIs, where '+' is itself */
	for (gsize i = 0; i < len; i++)
		plus[i] = start[i] == '+' ? ' ' : start[i];
	plus[len] = '\0';
	bytes = g_uri_unescape_bytes(plus, (gssize)len, NULL, NULL);
	sodium_memzero(plus, len);
	g_free(plus);
	if (bytes == NULL) {
		g_set_error_literal(
		    error, VB_ERROR, VB_ERROR_INVALID_DATA,
		    /* TRANSLATORS: %25 is how a form spells a literal percent sign */
		    _("the form has a percent sign not followed by two hex digits: "
		      "escape a percent sign as %25"));
		return NULL;
	}
	data = g_bytes_get_data(bytes, &n);
	out = g_malloc(n + 1);
	if (n > 0)
		memcpy(out, data, n);
	out[n] = '\0';
	/* GBytes has no wiping free, so its copy is wiped here */
	if (n > 0)
		sodium_memzero((gpointer)data, n);
	*out_len = n;
	return out;
}

static gboolean
vb_secure_form_check_text(const gchar *text, gsize len, GError **error)
{
	/* with a length, g_utf8_validate() refuses a NUL too */
	if (g_utf8_validate(text, (gssize)len, NULL))
		return TRUE;
	g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the form is not UTF-8 text: encode names and values as UTF-8 "
			      "before escaping them"));
	return FALSE;
}

GPtrArray *
vb_secure_form_decode(const gchar *data, gssize len, VbSecureFormFlags flags, GError **error)
{
	g_autoptr(GPtrArray) fields = g_ptr_array_new_with_free_func(vb_secure_form_field_free);
	const gchar *end;
	const gchar *p = data;

	g_return_val_if_fail(data != NULL || len <= 0, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (data == NULL)
		return g_steal_pointer(&fields);
	end = data + (len < 0 ? strlen(data) : (gsize)len);
	while (p < end) {
		const gchar *amp = memchr(p, '&', (gsize)(end - p));
		const gchar *stop = amp != NULL ? amp : end;
		const gchar *eq = memchr(p, '=', (gsize)(stop - p));

		if (stop > p) {
			VbSecureFormField *field = g_new0(VbSecureFormField, 1);
			gsize name_len = 0;

			/* owned by the array from here, so an error frees it */
			g_ptr_array_add(fields, field);
			field->name = vb_secure_form_unescape(
			    p, (gsize)((eq != NULL ? eq : stop) - p), &name_len, error);
			if (field->name == NULL)
				return NULL;
			if (name_len == 0) {
				g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
						    _("the form has a field without a name: give "
						      "every value a name, as in name=value"));
				return NULL;
			}
			if (!vb_secure_form_check_text(field->name, name_len, error))
				return NULL;
			if (eq != NULL) {
				field->value = vb_secure_form_unescape(
				    eq + 1, (gsize)(stop - eq - 1), &field->value_len, error);
			} else {
				field->value = g_strdup("");
			}
			if (field->value == NULL)
				return NULL;
			if ((flags & VB_SECURE_FORM_BINARY_VALUES) == 0 &&
			    !vb_secure_form_check_text(field->value, field->value_len, error))
				return NULL;
		}
		if (amp == NULL)
			break;
		p = amp + 1;
	}
	return g_steal_pointer(&fields);
}

const VbSecureFormField *
vb_secure_form_lookup(GPtrArray *fields, const gchar *name)
{
	g_return_val_if_fail(name != NULL, NULL);

	for (guint i = 0; fields != NULL && i < fields->len; i++) {
		const VbSecureFormField *field = g_ptr_array_index(fields, i);
		if (g_strcmp0(field->name, name) == 0)
			return field;
	}
	return NULL;
}

void
vb_secure_form_append(GString *form, const gchar *name, gconstpointer value, gssize value_len)
{
	g_autofree gchar *escaped_name = NULL;
	gchar *escaped_value;
	gsize n;

	g_return_if_fail(form != NULL);
	g_return_if_fail(name != NULL);
	g_return_if_fail(value != NULL || value_len <= 0);

	n = value_len < 0 ? (value != NULL ? strlen(value) : 0) : (gsize)value_len;
	/* no reserved character is allowed through: a form's '&', '=' and '+'
	 * mean something */
	escaped_name = g_uri_escape_bytes((const guint8 *)name, strlen(name), NULL);
	escaped_value = g_uri_escape_bytes(n > 0 ? value : (gconstpointer) "", n, NULL);
	if (form->len > 0)
		g_string_append_c(form, '&');
	g_string_append(form, escaped_name);
	g_string_append_c(form, '=');
	g_string_append(form, escaped_value);
	vb_secure_free_string(escaped_value);
}
