/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the SDK's security primitives, as a plugin calls them */

#include "config.h"

#include <sodium.h>
#include <string.h>

#include "vestibule.h"

static void
test_secure_equal(void)
{
	const guint8 with_nul_a[] = {'a', 0, 'b'};
	const guint8 with_nul_b[] = {'a', 0, 'c'};

	g_assert_true(vb_secure_equal("s3cret", 6, "s3cret", 6));
	/* one byte off, first or last */
	g_assert_false(vb_secure_equal("s3cret", 6, "s3cres", 6));
	g_assert_false(vb_secure_equal("s3cret", 6, "t3cret", 6));
	/* a prefix of the secret is not the secret, either way round */
	g_assert_false(vb_secure_equal("s3cret", 6, "s3cre", 5));
	g_assert_false(vb_secure_equal("s3cre", 5, "s3cret", 6));
	g_assert_false(vb_secure_equal("s3cret", 6, NULL, 0));
	g_assert_true(vb_secure_equal(NULL, 0, "", 0));
	/* buffers, not strings: a NUL does not end the comparison */
	g_assert_true(vb_secure_equal(with_nul_a, 3, with_nul_a, 3));
	g_assert_false(vb_secure_equal(with_nul_a, 3, with_nul_b, 3));

	g_assert_true(vb_secure_equal_string("123456", "123456"));
	g_assert_false(vb_secure_equal_string("123456", "123457"));
	g_assert_false(vb_secure_equal_string("123456", "12345"));
	g_assert_false(vb_secure_equal_string("", "1"));
	/* a missing secret matches nothing, not even another missing one */
	g_assert_false(vb_secure_equal_string("123456", NULL));
	g_assert_false(vb_secure_equal_string(NULL, NULL));
}

static void
test_secure_base64url(void)
{
	/* RFC 4648 §10, whose vectors differ from base64's only by the padding */
	struct {
		const gchar *in;
		const gchar *out;
	} vectors[] = {
	    {"", ""},		{"f", "Zg"},	      {"fo", "Zm8"},	      {"foo", "Zm9v"},
	    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
	};
	/* 62 and 63, which standard base64 spells '+' and '/' */
	const guint8 high[] = {0xfb, 0xff, 0xbf};
	const guint8 pad[] = {0xfb, 0xff};
	g_autofree gchar *high_enc = vb_secure_base64url_encode(high, sizeof(high));
	g_autofree gchar *pad_enc = vb_secure_base64url_encode(pad, sizeof(pad));

	for (guint i = 0; i < G_N_ELEMENTS(vectors); i++) {
		g_autofree gchar *enc = vb_secure_base64url_encode((const guint8 *)vectors[i].in,
								   strlen(vectors[i].in));
		g_assert_cmpstr(enc, ==, vectors[i].out);
	}
	g_assert_cmpstr(high_enc, ==, "-_-_");
	/* "+/8=" in standard base64 */
	g_assert_cmpstr(pad_enc, ==, "-_8");
	vb_secure_free_string(NULL);
}

static void
test_secure_basic_auth(void)
{
	/* RFC 7617 §2 and §2.1 */
	g_autoptr(GBytes) sesame = g_bytes_new_static("open sesame", 11);
	g_autoptr(GBytes) pound = g_bytes_new_static("123\xc2\xa3", 5);
	g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
	gchar *aladdin = vb_secure_format_basic_auth("Aladdin", sesame);
	gchar *test = vb_secure_format_basic_auth("test", pound);
	gchar *none = vb_secure_format_basic_auth("user", empty);

	g_assert_cmpstr(aladdin, ==, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
	g_assert_cmpstr(test, ==, "Basic dGVzdDoxMjPCow==");
	g_assert_cmpstr(none, ==, "Basic dXNlcjo=");
	vb_secure_free_string(aladdin);
	vb_secure_free_string(test);
	vb_secure_free_string(none);
}

static void
assert_field(GPtrArray *fields, guint i, const gchar *name, const gchar *value)
{
	const VbSecureFormField *field = g_ptr_array_index(fields, i);

	g_assert_cmpstr(field->name, ==, name);
	g_assert_cmpstr(field->value, ==, value);
	g_assert_cmpuint(field->value_len, ==, strlen(value));
}

static void
test_secure_form_decode(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) fields = vb_secure_form_decode("a=1&b=%C3%A9+x&c=", -1, 0, &error);
	g_autoptr(GPtrArray) loose = NULL;
	g_autoptr(GPtrArray) twice = NULL;
	g_autoptr(GPtrArray) none = NULL;

	g_assert_no_error(error);
	g_assert_cmpuint(fields->len, ==, 3);
	assert_field(fields, 0, "a", "1");
	assert_field(fields, 1, "b", "\xc3\xa9 x");
	assert_field(fields, 2, "c", "");
	g_assert_true(vb_secure_form_lookup(fields, "b") == g_ptr_array_index(fields, 1));
	g_assert_null(vb_secure_form_lookup(fields, "d"));

	/* empty fields are skipped, a field without '=' is empty, a '+' in a
	 * name is a space, and the length bounds the form, not a NUL */
	loose = vb_secure_form_decode("&x&&a+b=%2B&junk", 11, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(loose->len, ==, 2);
	assert_field(loose, 0, "x", "");
	assert_field(loose, 1, "a b", "+");

	/* a name sent twice: both kept in order, the first found */
	twice = vb_secure_form_decode("id=1&id=2", -1, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(twice->len, ==, 2);
	g_assert_cmpstr(vb_secure_form_lookup(twice, "id")->value, ==, "1");

	none = vb_secure_form_decode("", 0, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(none->len, ==, 0);
}

static void
test_secure_form_errors(void)
{
	struct {
		const gchar *form;
		const gchar *says;
	} bad[] = {
	    {"a=%G1", "percent sign"},	  {"a=%", "percent sign"}, {"a=%4", "percent sign"},
	    {"%zz=1", "percent sign"},	  {"a=%FF", "UTF-8"},	   {"a=%C3", "UTF-8"},
	    {"a=%00", "UTF-8"},		  {"a=\xff", "UTF-8"},	   {"=1", "without a name"},
	    {"b=1&=2", "without a name"},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) binary = NULL;
	g_autoptr(GPtrArray) refused = NULL;
	const VbSecureFormField *text;

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GPtrArray) fields = vb_secure_form_decode(bad[i].form, -1, 0, &error);
		g_assert_null(fields);
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
		g_assert_nonnull(strstr(error->message, bad[i].says));
		g_clear_error(&error);
	}
	/* a raw NUL inside the given length is not text either */
	refused = vb_secure_form_decode("a=1\0b", 5, 0, &error);
	g_assert_null(refused);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_clear_error(&error);

	/* UTF-16 from a gateway: values may be any bytes, names may not */
	binary = vb_secure_form_decode("text=%00S%00T&charset=UTF-16BE", -1,
				       VB_SECURE_FORM_BINARY_VALUES, &error);
	g_assert_no_error(error);
	text = vb_secure_form_lookup(binary, "text");
	g_assert_cmpmem(text->value, text->value_len, "\0S\0T", 4);
	g_assert_cmpint(text->value[4], ==, '\0');
	refused = vb_secure_form_decode("%FF=1", -1, VB_SECURE_FORM_BINARY_VALUES, &error);
	g_assert_null(refused);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_clear_error(&error);
	refused = vb_secure_form_decode("a=%G1", -1, VB_SECURE_FORM_BINARY_VALUES, &error);
	g_assert_null(refused);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
}

static void
test_secure_form_round_trip(void)
{
	const guint8 raw[] = {0x00, 0xff, '&', '='};
	g_autoptr(GString) form = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) fields = NULL;
	g_autoptr(GPtrArray) binary = NULL;
	const VbSecureFormField *field;

	vb_secure_form_append(form, "To", "+33 6 12", -1);
	vb_secure_form_append(form, "Body", "a&b=c+d %25 \xc3\xa9~", -1);
	vb_secure_form_append(form, "Empty", NULL, 0);
	/* every reserved byte and the space escaped, the unreserved kept */
	g_assert_cmpstr(form->str, ==,
			"To=%2B33%206%2012&Body=a%26b%3Dc%2Bd%20%2525%20%C3%A9~&Empty=");

	fields = vb_secure_form_decode(form->str, (gssize)form->len, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(fields->len, ==, 3);
	assert_field(fields, 0, "To", "+33 6 12");
	assert_field(fields, 1, "Body", "a&b=c+d %25 \xc3\xa9~");
	assert_field(fields, 2, "Empty", "");

	g_string_truncate(form, 0);
	vb_secure_form_append(form, "raw", raw, sizeof(raw));
	g_assert_cmpstr(form->str, ==, "raw=%00%FF%26%3D");
	binary = vb_secure_form_decode(form->str, -1, VB_SECURE_FORM_BINARY_VALUES, &error);
	g_assert_no_error(error);
	field = vb_secure_form_lookup(binary, "raw");
	g_assert_cmpmem(field->value, field->value_len, raw, sizeof(raw));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_assert_cmpint(sodium_init(), >=, 0);
	g_test_add_func("/secure/equal", test_secure_equal);
	g_test_add_func("/secure/base64url", test_secure_base64url);
	g_test_add_func("/secure/basic-auth", test_secure_basic_auth);
	g_test_add_func("/secure/form/decode", test_secure_form_decode);
	g_test_add_func("/secure/form/errors", test_secure_form_errors);
	g_test_add_func("/secure/form/round-trip", test_secure_form_round_trip);
	return g_test_run();
}
