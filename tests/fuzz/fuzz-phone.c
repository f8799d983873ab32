/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-error.h"
#include "vb-phone-private.h"

/*
 * The libFuzzer target of E.164 normalization: the input is what a shopper
 * typed on the keypad or an SMS gateway sent, after a byte that picks the
 * store's country.
 */

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

/* countries with and without a plan in vb-phone.c's table, and nonsense */
static const gchar *const fuzz_countries[] = {"FR", "DE", "GB", "US", "IT", "ES", "BE",
					      "CH", "NL", "SE", "JP", "ZZ", "",	  "fr"};

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	g_autofree gchar *input = NULL;
	g_autofree gchar *e164 = NULL;
	g_autofree gchar *again = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *country;
	gsize len;

	if (size == 0)
		return 0;
	country = fuzz_countries[data[0] % G_N_ELEMENTS(fuzz_countries)];
	input = g_strndup((const gchar *)data + 1, size - 1);

	e164 = vb_phone_normalize(input, country, &error);
	if (e164 == NULL) {
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
		/* the message never repeats the number */
		if (strlen(input) >= 6)
			g_assert_null(strstr(error->message, input));
		return 0;
	}
	g_assert_no_error(error);
	len = strlen(e164);
	g_assert_cmpint(e164[0], ==, '+');
	g_assert_cmpuint(len, >=, 8);
	g_assert_cmpuint(len, <=, 16);
	for (gsize i = 1; i < len; i++)
		g_assert_true(g_ascii_isdigit(e164[i]));

	/* normalizing is idempotent, whatever the country */
	again = vb_phone_normalize(e164, country, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(again, ==, e164);
	return 0;
}
