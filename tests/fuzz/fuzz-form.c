/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-error.h"
#include "vb-secure.h"

/*
 * The libFuzzer target of the SDK's application/x-www-form-urlencoded
 * parser, vb_secure_form_decode(), which reads the Twilio and http-sms
 * webhooks: the input is a form after a byte whose low bit asks for
 * VB_SECURE_FORM_BINARY_VALUES, as http-sms does.
 */

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static void
fuzz_check_fields(GPtrArray *fields, VbSecureFormFlags flags)
{
	for (guint i = 0; i < fields->len; i++) {
		const VbSecureFormField *field = g_ptr_array_index(fields, i);

		/* a name is text: UTF-8, not empty, without a NUL */
		g_assert_nonnull(field->name);
		g_assert_cmpuint(strlen(field->name), >, 0);
		g_assert_true(g_utf8_validate(field->name, -1, NULL));
		g_assert_nonnull(field->value);
		g_assert_cmpint(field->value[field->value_len], ==, '\0');
		if ((flags & VB_SECURE_FORM_BINARY_VALUES) == 0) {
			g_assert_cmpuint(strlen(field->value), ==, field->value_len);
			g_assert_true(g_utf8_validate(field->value, -1, NULL));
		}
		/* the lookup finds the first of a name sent twice */
		for (guint j = 0; j < i; j++) {
			const VbSecureFormField *before = g_ptr_array_index(fields, j);
			if (g_strcmp0(before->name, field->name) == 0) {
				field = before;
				break;
			}
		}
		g_assert_true(vb_secure_form_lookup(fields, field->name) == field);
	}
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	g_autoptr(GPtrArray) fields = NULL;
	g_autoptr(GPtrArray) again = NULL;
	g_autoptr(GString) form = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	VbSecureFormFlags flags;

	if (size == 0)
		return 0;
	flags = (data[0] & 1) != 0 ? VB_SECURE_FORM_BINARY_VALUES : VB_SECURE_FORM_NONE;
	fields = vb_secure_form_decode((const gchar *)data + 1, (gssize)(size - 1), flags, &error);
	if (fields == NULL) {
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
		return 0;
	}
	g_assert_no_error(error);
	fuzz_check_fields(fields, flags);

	/* what vb_secure_form_append() writes decodes to the same fields */
	for (guint i = 0; i < fields->len; i++) {
		const VbSecureFormField *field = g_ptr_array_index(fields, i);
		vb_secure_form_append(form, field->name, field->value, (gssize)field->value_len);
	}
	again = vb_secure_form_decode(form->str, (gssize)form->len, flags, &error);
	g_assert_no_error(error);
	g_assert_nonnull(again);
	g_assert_cmpuint(again->len, ==, fields->len);
	for (guint i = 0; i < fields->len; i++) {
		const VbSecureFormField *a = g_ptr_array_index(fields, i);
		const VbSecureFormField *b = g_ptr_array_index(again, i);
		g_assert_cmpstr(a->name, ==, b->name);
		g_assert_cmpmem(a->value, a->value_len, b->value, b->value_len);
	}
	/* and as a NUL-terminated string, as a URL's query is given */
	g_clear_pointer(&again, g_ptr_array_unref);
	again = vb_secure_form_decode(form->str, -1, flags, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(again->len, ==, fields->len);
	return 0;
}
