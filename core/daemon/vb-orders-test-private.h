/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* the parts of vb-orders.c that need no daemon, for tests/test-orders.c */

/* the visit id of "/api/v1/visits/ID/order", or NULL for any other path */
gchar *
vb_orders_parse_order_path(const gchar *path, GError **error);
gchar **
vb_orders_find_escaped_nul(const gchar *data, gsize size);
/* the token of "/r/TOKEN", or NULL for any other path */
gchar *
vb_orders_parse_receipt_path(const gchar *path);
/* whether a receipt request wants JSON: ?format=json, or an Accept header that
 * prefers application/json to HTML */
gboolean
vb_orders_wants_json(const gchar *accept, const gchar *format);
/* the two-letter language of an Accept-Language header, or NULL */
gchar *
vb_orders_language_from_header(const gchar *accept_language);

/* the receipt page of a vb_visit_manager_get_receipt() result, in its
 * `language`, else in @fallback_language */
gchar *
vb_orders_render_receipt_html(GVariant *receipt, const gchar *fallback_language);
/* the JSON form of the same receipt: only the fields a shopper may see */
JsonNode *
vb_orders_receipt_to_json(GVariant *receipt);
/* the page of a receipt that cannot be shown: 404 unknown, 410 expired, else
 * "try again later" */
gchar *
vb_orders_render_error_html(guint status, const gchar *language);

G_END_DECLS
