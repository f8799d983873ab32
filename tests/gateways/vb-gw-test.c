/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <libsoup/soup.h>
#include <string.h>

#include "vb-gw-test.h"

JsonNode *
vb_gw_ctl(VbTestDaemon *d, const gchar *method, const gchar *path, const gchar *body)
{
	g_autoptr(GError) error = NULL;
	JsonNode *node = vb_test_daemon_ctl(d, method, path, body, &error);

	if (node == NULL)
		g_error("%s %s: %s", method, path, error != NULL ? error->message : "no answer");
	return node;
}

void
vb_gw_tap(VbTestDaemon *d, const gchar *pan)
{
	g_autofree gchar *body = g_strdup_printf("{\"pan\": \"%s\"}", pan);
	g_autoptr(JsonNode) answer = vb_gw_ctl(d, "POST", "/v1/sim/front-reader/tap", body);

	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(answer), "status"), ==,
			"presented");
}

void
vb_gw_press(VbTestDaemon *d, const gchar *digits_then_enter)
{
	g_autoptr(GString) body = g_string_new("{\"keys\": [");
	g_autoptr(JsonNode) answer = NULL;

	for (const gchar *p = digits_then_enter; *p != '\0'; p++)
		g_string_append_printf(body, "\"%c\", ", *p);
	g_string_append(body, "\"enter\"]}");
	answer = vb_gw_ctl(d, "POST", "/v1/sim/front-keypad/keys", body->str);
}

void
vb_gw_wait_screen(VbTestDaemon *d, const gchar *prompt_id)
{
	gint64 deadline = g_get_monotonic_time() + VB_GW_WAIT_MS * G_TIME_SPAN_MILLISECOND;

	for (;;) {
		g_autoptr(JsonNode) node =
		    vb_gw_ctl(d, "GET", "/v1/sim/front-display/screen", NULL);
		JsonNode *id = json_object_get_member(json_node_get_object(node), "prompt-id");
		if (id != NULL && !JSON_NODE_HOLDS_NULL(id) &&
		    g_strcmp0(json_node_get_string(id), prompt_id) == 0)
			return;
		if (g_get_monotonic_time() > deadline)
			g_error("the screen never showed '%s'", prompt_id);
		g_usleep(20 * G_TIME_SPAN_MILLISECOND);
	}
}

gint64
vb_gw_db_int(VbTestDaemon *d, const gchar *sql, const gchar *arg)
{
	g_autoptr(sqlite3) db = vb_test_daemon_open_db(d, FALSE);
	sqlite3_stmt *stmt = NULL;
	gint64 value = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		g_error("%s: %s", sql, sqlite3_errmsg(db));
	if (arg != NULL)
		sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}

gchar *
vb_gw_db_text(VbTestDaemon *d, const gchar *sql, const gchar *arg)
{
	g_autoptr(sqlite3) db = vb_test_daemon_open_db(d, FALSE);
	sqlite3_stmt *stmt = NULL;
	gchar *value = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		g_error("%s: %s", sql, sqlite3_errmsg(db));
	if (arg != NULL)
		sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
		value = g_strdup((const gchar *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return value;
}

void
vb_gw_wait_db_int(VbTestDaemon *d, const gchar *sql, const gchar *arg, gint64 value)
{
	gint64 deadline = g_get_monotonic_time() + VB_GW_WAIT_MS * G_TIME_SPAN_MILLISECOND;
	gint64 now;

	while ((now = vb_gw_db_int(d, sql, arg)) != value) {
		if (g_get_monotonic_time() > deadline)
			g_error("%s gave %" G_GINT64_FORMAT ", not %" G_GINT64_FORMAT, sql, now,
				value);
		g_usleep(20 * G_TIME_SPAN_MILLISECOND);
	}
}

guint
vb_gw_count_events(VbTestDaemon *d, const gchar *name, const gchar *needle)
{
	g_autoptr(GPtrArray) events = vb_test_daemon_events(d, name);
	guint n = 0;

	for (guint i = 0; i < events->len; i++)
		n += needle == NULL || strstr(g_ptr_array_index(events, i), needle) != NULL;
	return n;
}

gchar *
vb_gw_code_in(const gchar *text)
{
	g_autoptr(GRegex) regex = g_regex_new("\\b([0-9]{6})\\b", 0, 0, NULL);
	g_autoptr(GMatchInfo) match = NULL;

	if (text == NULL || !g_regex_match(regex, text, 0, &match))
		return NULL;
	return g_match_info_fetch(match, 1);
}

static GBytes *
vb_gw_unescape(const gchar *s, gsize len)
{
	GByteArray *out = g_byte_array_new();

	for (gsize i = 0; i < len; i++) {
		guint8 c = (guint8)s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%' && i + 2 < len) {
			c = (guint8)(g_ascii_xdigit_value(s[i + 1]) * 16 +
				     g_ascii_xdigit_value(s[i + 2]));
			i += 2;
		}
		g_byte_array_append(out, &c, 1);
	}
	return g_byte_array_free_to_bytes(out);
}

GBytes *
vb_gw_form_get(const gchar *form, const gchar *name)
{
	g_auto(GStrv) pairs = g_strsplit(form != NULL ? form : "", "&", -1);
	gsize name_len = strlen(name);

	for (guint i = 0; pairs[i] != NULL; i++) {
		if (strncmp(pairs[i], name, name_len) == 0 && pairs[i][name_len] == '=')
			return vb_gw_unescape(pairs[i] + name_len + 1,
					      strlen(pairs[i] + name_len + 1));
	}
	return NULL;
}

gchar *
vb_gw_form_get_text(const gchar *form, const gchar *name)
{
	g_autoptr(GBytes) value = vb_gw_form_get(form, name);

	if (value == NULL)
		return NULL;
	return g_strndup(g_bytes_get_data(value, NULL), g_bytes_get_size(value));
}

guint
vb_gw_http(const gchar *method,
	   const gchar *url,
	   const gchar *content_type,
	   const gchar *body,
	   gsize body_len,
	   gchar **response)
{
	g_autoptr(SoupSession) session =
	    soup_session_new_with_options("proxy-resolver", NULL, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new(method, url);
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_nonnull(msg);
	if (body != NULL) {
		g_autoptr(GBytes) payload = g_bytes_new(body, body_len);
		soup_message_set_request_body_from_bytes(msg, content_type, payload);
	}
	bytes = soup_session_send_and_read(session, msg, NULL, &error);
	g_assert_no_error(error);
	if (response != NULL)
		*response = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	return soup_message_get_status(msg);
}

void
vb_gw_assert_contains(const gchar *haystack, const gchar *needle)
{
	if (haystack == NULL || strstr(haystack, needle) == NULL)
		g_error("expected '%s' in: %s", needle, haystack != NULL ? haystack : "(null)");
}
