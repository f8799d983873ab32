/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * SECTION:vb-secure
 * @short_description: comparing secrets, base64url, basic auth and forms
 *
 * The few primitives a plugin needs to handle a secret on the wire: a
 * comparison whose time says nothing about where two secrets differ,
 * base64url for tokens that go into URLs, an HTTP Basic `Authorization`
 * value built without leaving the password behind in memory, and
 * application/x-www-form-urlencoded bodies, whose values may hold a one-time
 * code or a shopper's message. Every copy of a secret these functions make is
 * wiped before it is freed.
 */

/**
 * vb_secure_equal:
 * @a: (array length=a_len) (nullable): the first buffer
 * @a_len: its length in bytes
 * @b: (array length=b_len) (nullable): the second buffer
 * @b_len: its length in bytes
 *
 * Compares two byte buffers in a time that depends on neither their contents
 * nor which of them is longer: both are hashed with BLAKE2b-256 and the
 * digests are compared with sodium_memcmp(), so there is no early exit and
 * the lengths need not be equal or public. The hashing takes a time that
 * grows with each length, which is all the timing may tell.
 *
 * Use it to check a secret a peer sent against the configured one.
 *
 * Returns: %TRUE if the buffers have the same length and the same bytes
 *
 * Since: 0.3
 */
gboolean
vb_secure_equal(gconstpointer a, gsize a_len, gconstpointer b, gsize b_len);

/**
 * vb_secure_equal_string:
 * @a: (nullable): a NUL-terminated string
 * @b: (nullable): another
 *
 * Compares two strings as vb_secure_equal() compares buffers. %NULL equals
 * nothing, not even %NULL, so that a missing secret never matches.
 *
 * Returns: %TRUE if neither is %NULL and the strings are the same
 *
 * Since: 0.3
 */
gboolean
vb_secure_equal_string(const gchar *a, const gchar *b);

/**
 * vb_secure_base64url_encode:
 * @data: (array length=len) (nullable): the bytes to encode
 * @len: their length
 *
 * Encodes @data in base64url (RFC 4648 §5): `-` and `_` instead of `+` and
 * `/`, and no `=` padding, so that the result goes into a URL, a path or a
 * file name as it is.
 *
 * |[<!-- language="C" -->
 * g_autofree gchar *token = vb_secure_base64url_encode(random, sizeof(random));
 * ]|
 *
 * Returns: (transfer full): the encoded text, empty for no bytes; free it
 *   with vb_secure_free_string() when @data was a secret, else g_free()
 *
 * Since: 0.3
 */
gchar *
vb_secure_base64url_encode(const guint8 *data, gsize len);

/**
 * vb_secure_format_basic_auth:
 * @user: the user name, UTF-8 without a colon (RFC 7617)
 * @secret: the password
 *
 * Builds the value of an HTTP `Authorization` header for Basic
 * authentication, `Basic ` followed by the base64 of @user, a colon and
 * @secret. Every intermediate copy of the secret is wiped before it is freed.
 *
 * |[<!-- language="C" -->
 * gchar *auth = vb_secure_format_basic_auth(user, password);
 * soup_message_headers_replace(headers, "Authorization", auth);
 * vb_secure_free_string(auth);
 * ]|
 *
 * Returns: (transfer full): the header's value; free it with
 *   vb_secure_free_string()
 *
 * Since: 0.3
 */
gchar *
vb_secure_format_basic_auth(const gchar *user, GBytes *secret);

/**
 * vb_secure_free_string:
 * @str: (nullable) (transfer full): a string that held a secret
 *
 * Wipes @str with sodium_memzero() and frees it. %NULL is fine.
 *
 * Since: 0.3
 */
void
vb_secure_free_string(gchar *str);

/**
 * VbSecureFormField:
 * @name: the field's name: UTF-8, never empty, without a NUL
 * @value: the value, NUL-terminated; UTF-8 without a NUL unless the form was
 *   decoded with %VB_SECURE_FORM_BINARY_VALUES
 * @value_len: the length of @value in bytes, without the terminating NUL
 *
 * One field of an application/x-www-form-urlencoded form, decoded. The
 * fields belong to the array vb_secure_form_decode() returns, which wipes
 * each value when it frees it; read them, do not free them.
 *
 * Since: 0.3
 */
typedef struct {
	gchar *name;
	gchar *value;
	gsize value_len;
} VbSecureFormField;

/**
 * VbSecureFormFlags:
 * @VB_SECURE_FORM_NONE: names and values must be UTF-8 text without a NUL
 * @VB_SECURE_FORM_BINARY_VALUES: values may be any bytes, such as UTF-16
 *   text a gateway declares in another field; names must still be text
 *
 * How vb_secure_form_decode() checks what it decodes.
 *
 * Since: 0.3
 */
typedef enum {
	VB_SECURE_FORM_NONE = 0,
	VB_SECURE_FORM_BINARY_VALUES = 1 << 0,
} VbSecureFormFlags;

/**
 * vb_secure_form_decode:
 * @data: (array length=len): an application/x-www-form-urlencoded form, as
 *   in a request body or a URL's query
 * @len: its length in bytes, or -1 if it is NUL-terminated
 * @flags: how strict to be about the values
 * @error: (nullable): where to put a %VB_ERROR_INVALID_DATA error
 *
 * Decodes `a=1&b=%C3%A9+x` into its fields, in the order they come, with
 * g_uri_unescape_bytes(): `+` is a space and `%XX` an escaped byte. A field
 * without `=` has an empty value; empty fields (`a=1&&b=2`) are skipped; a
 * name sent twice gives two fields, and vb_secure_form_lookup() finds the
 * first. The whole form is refused with %VB_ERROR_INVALID_DATA when a `%` is
 * not followed by two hex digits, a name is empty, or a name or, without
 * %VB_SECURE_FORM_BINARY_VALUES, a value is not UTF-8 text.
 *
 * To check a signature over the fields sorted by name, sort a copy of the
 * array with g_ptr_array_sort(); the fields keep their order here.
 *
 * Returns: (transfer container) (element-type VbSecureFormField) (nullable):
 *   the fields, or %NULL with @error set; free with g_ptr_array_unref(),
 *   which wipes the values
 *
 * Since: 0.3
 */
GPtrArray *
vb_secure_form_decode(const gchar *data, gssize len, VbSecureFormFlags flags, GError **error);

/**
 * vb_secure_form_lookup:
 * @fields: (element-type VbSecureFormField) (nullable): fields from
 *   vb_secure_form_decode()
 * @name: a field's name
 *
 * Finds the first field called @name.
 *
 * Returns: (transfer none) (nullable): the field, or %NULL if there is none
 *
 * Since: 0.3
 */
const VbSecureFormField *
vb_secure_form_lookup(GPtrArray *fields, const gchar *name);

/**
 * vb_secure_form_append:
 * @form: the form being built
 * @name: the field's name
 * @value: (array length=value_len) (nullable): the field's value, any bytes;
 *   %NULL only with a @value_len of 0
 * @value_len: its length, or -1 if it is NUL-terminated
 *
 * Appends one field to an application/x-www-form-urlencoded form, after a
 * `&` unless @form is empty, escaped with g_uri_escape_bytes(): every byte
 * but letters, digits and `-._~` becomes `%XX`, a space included. The escaped
 * copy of @value is wiped; wipe @form too once it is sent if a value was a
 * secret.
 *
 * |[<!-- language="C" -->
 * g_autoptr(GString) form = g_string_new(NULL);
 * vb_secure_form_append(form, "To", to, -1);
 * vb_secure_form_append(form, "Body", body, -1);
 * ]|
 *
 * Since: 0.3
 */
void
vb_secure_form_append(GString *form, const gchar *name, gconstpointer value, gssize value_len);

G_END_DECLS
