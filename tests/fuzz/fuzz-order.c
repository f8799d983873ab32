/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-error.h"
#include "vb-http-server-internal.h"
#include "vb-visit-private.h"

/*
 * The libFuzzer target of the order API: the input is the body of
 * POST /orders/VISIT, through the depth check and parse of
 * vb_http_parse_json_body() and the validator vb_visit_manager_post_order()
 * runs before it touches the store.
 */

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static gchar *
fuzz_validate(JsonNode *order, gint64 *total, GError **error)
{
	g_autoptr(JsonBuilder) canonical = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	if (!vb_visit_order_validate(order, "EUR", canonical, total, error))
		return NULL;
	root = json_builder_get_root(canonical);
	return json_to_string(root, FALSE);
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	g_autoptr(JsonNode) body = NULL;
	g_autoptr(JsonNode) again = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *canonical = NULL;
	g_autofree gchar *canonical2 = NULL;
	gint64 total = -1;
	gint64 total2 = -1;

	body = vb_http_parse_json_data((const gchar *)data, size, &error);
	if (body == NULL) {
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
		return 0;
	}
	/* the endpoint refuses anything but an object before the validator */
	if (!JSON_NODE_HOLDS_OBJECT(body))
		return 0;
	canonical = fuzz_validate(body, &total, &error);
	if (canonical == NULL) {
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
		return 0;
	}
	g_assert_cmpint(total, >=, 0);

	/* the canonical form, which is hashed, is itself a valid order that
	 * gives the same form and total: the same order twice settles once */
	again = vb_http_parse_json_data(canonical, strlen(canonical), &error);
	g_assert_no_error(error);
	canonical2 = fuzz_validate(again, &total2, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(canonical, ==, canonical2);
	g_assert_cmpint(total, ==, total2);
	return 0;
}
