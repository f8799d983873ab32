/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-http-server.h"

/*
 * The libFuzzer target of Retry-After parsing: the input is the header an
 * SMS gateway or a reply endpoint sent, delay-seconds or an HTTP date.
 */

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	g_autofree gchar *value = g_strndup((const gchar *)data, size);
	guint64 seconds = 0;
	guint ms = vb_http_parse_retry_after(value);

	g_assert_cmpuint(ms, <=, VB_HTTP_RETRY_AFTER_MAX_MS);
	/* delay-seconds are whole seconds, and nothing but the digits is read */
	if (g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT64, &seconds, NULL))
		g_assert_cmpuint(ms, ==, MIN(seconds, VB_HTTP_RETRY_AFTER_MAX_MS / 1000) * 1000);
	return 0;
}
