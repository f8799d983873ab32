/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "twilio-harness.h"

void
tw_assert_contains(const gchar *haystack, const gchar *needle)
{
	if (haystack == NULL || strstr(haystack, needle) == NULL)
		g_error("expected '%s' in: %s", needle, haystack != NULL ? haystack : "(null)");
}

void
tw_assert_not_contains(const gchar *haystack, const gchar *needle)
{
	if (haystack != NULL && strstr(haystack, needle) != NULL)
		g_error("did not expect '%s' in: %s", needle, haystack);
}

void
tw_nap(void)
{
	g_usleep(20 * G_TIME_SPAN_MILLISECOND);
}

static gint64
tw_deadline(void)
{
	return g_get_monotonic_time() + TW_WAIT_MS * G_TIME_SPAN_MILLISECOND;
}

VbTestDaemon *
tw_daemon_new(const gchar *base_url, const gchar *instance_extra, const gchar *drop_in)
{
	return tw_daemon_new_full(base_url, instance_extra, drop_in, NULL);
}

VbTestDaemon *
tw_daemon_new_full(const gchar *base_url,
		   const gchar *instance_extra,
		   const gchar *drop_in,
		   const gchar *secrets_extra)
{
	g_autofree gchar *extra = NULL;
	g_autofree gchar *secrets = NULL;
	g_autofree gchar *more = NULL;
	g_autoptr(GError) error = NULL;
	VbTestDaemon *d;

	extra = g_strdup_printf("[services]\n"
				"sms=twilio\n"
				"[instance:twilio]\n"
				"plugin=twilio\n"
				"account-sid=" TW_ACCOUNT "\n"
				"from=" TW_FROM "\n"
				"base-url=%s\n"
				"timeout-s=1\n"
				"unknown-outcome-wait-s=1\n"
				"%s",
				base_url, instance_extra != NULL ? instance_extra : "");
	d = vb_test_daemon_new(extra);
	/* the instance's secrets go in its own section of the secrets file */
	g_assert_true(g_file_get_contents(d->secrets_path, &secrets, NULL, NULL));
	more = g_strconcat(secrets, "[instance:twilio]\nauth-token=" TW_TOKEN "\n",
			   secrets_extra != NULL ? secrets_extra : "", NULL);
	g_assert_true(g_file_set_contents_full(d->secrets_path, more, -1, G_FILE_SET_CONTENTS_NONE,
					       0600, NULL));
	vb_test_daemon_write_drop_in(d, "40-base.conf",
				     "[vestibule]\n"
				     "operator-contact=" OPERATOR_CONTACT "\n"
				     "[visit]\n"
				     "hold-amount=5000\n"
				     "verify-phone=false\n");
	if (drop_in != NULL)
		vb_test_daemon_write_drop_in(d, "50-test.conf", drop_in);
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start: %s", error->message);
	return d;
}

void
tw_stop(VbTestDaemon *d)
{
	gint status = vb_test_daemon_stop(d);

	if (status != 0) {
		g_autofree gchar *log = vb_test_daemon_read_log(d);
		g_error("vestibuled exited with status %d; its log:\n%s", status, log);
	}
}

JsonNode *
tw_ctl(VbTestDaemon *d, const gchar *method, const gchar *path, const gchar *body)
{
	g_autoptr(GError) error = NULL;
	JsonNode *node = vb_test_daemon_ctl(d, method, path, body, &error);

	if (node == NULL)
		g_error("%s %s: %s", method, path, error != NULL ? error->message : "no answer");
	return node;
}

/* the prompt id on the door's screen, or NULL when idle */
static gchar *
tw_screen(VbTestDaemon *d)
{
	g_autoptr(JsonNode) node = tw_ctl(d, "GET", "/v1/sim/front-display/screen", NULL);
	JsonNode *id = json_object_get_member(json_node_get_object(node), "prompt-id");

	return id != NULL && !JSON_NODE_HOLDS_NULL(id) ? g_strdup(json_node_get_string(id)) : NULL;
}

static void
tw_wait_screen(VbTestDaemon *d, const gchar *prompt_id)
{
	gint64 deadline = tw_deadline();

	for (;;) {
		g_autofree gchar *id = tw_screen(d);
		if (g_strcmp0(id, prompt_id) == 0)
			return;
		if (g_get_monotonic_time() > deadline)
			g_error("waited for the screen to show '%s'; it shows '%s'", prompt_id, id);
		tw_nap();
	}
}

static void
tw_wait_visit(VbTestDaemon *d, const gchar *id, const gchar *state)
{
	g_autofree gchar *path = g_strdup_printf("/v1/visits/%s", id);
	gint64 deadline = tw_deadline();

	for (;;) {
		g_autoptr(JsonNode) node = tw_ctl(d, "GET", path, NULL);
		JsonObject *obj = json_node_get_object(node);
		if (json_object_has_member(obj, "visit"))
			obj = json_object_get_object_member(obj, "visit");
		if (g_strcmp0(json_object_get_string_member(obj, "state"), state) == 0)
			return;
		if (g_get_monotonic_time() > deadline)
			g_error("waited for visit %s to be %s; it is %s", id, state,
				json_object_get_string_member(obj, "state"));
		tw_nap();
	}
}

gchar *
tw_visit(VbTestDaemon *d, const gchar *pan, const gchar *language, const gchar *typed)
{
	g_autofree gchar *tap = NULL;
	g_autoptr(GString) keys = g_string_new("{\"keys\": [");
	g_autoptr(JsonNode) visits = NULL;
	gchar *id;

	tap = language != NULL
		  ? g_strdup_printf("{\"pan\": \"%s\", \"language\": \"%s\"}", pan, language)
		  : g_strdup_printf("{\"pan\": \"%s\"}", pan);
	json_node_unref(tw_ctl(d, "POST", "/v1/sim/front-reader/tap", tap));
	tw_wait_screen(d, "enter-phone");
	for (const gchar *p = typed; *p != '\0'; p++)
		g_string_append_printf(keys, "\"%c\", ", *p);
	g_string_append(keys, "\"enter\"]}");
	json_node_unref(tw_ctl(d, "POST", "/v1/sim/front-keypad/keys", keys->str));
	tw_wait_screen(d, "door-open");
	visits = tw_ctl(d, "GET", "/v1/visits?limit=1", NULL);
	id = g_strdup(json_object_get_string_member(
	    json_array_get_object_element(
		json_object_get_array_member(json_node_get_object(visits), "visits"), 0),
	    "id"));
	json_node_unref(tw_ctl(d, "POST", "/v1/sim/front-lock/door", "{\"action\": \"open\"}"));
	tw_wait_visit(d, id, "open");
	json_node_unref(tw_ctl(d, "POST", "/v1/sim/front-lock/door", "{\"action\": \"close\"}"));
	tw_wait_visit(d, id, "awaiting-order");
	tw_wait_screen(d, "welcome");
	return id;
}

static gint
tw_field_cmp(gconstpointer a, gconstpointer b)
{
	const gchar *const *fa = *(const gchar *const *const *)a;
	const gchar *const *fb = *(const gchar *const *const *)b;
	gint cmp = strcmp(fa[0], fb[0]);

	return cmp != 0 ? cmp : strcmp(fa[1], fb[1]);
}

gchar *
tw_sign(const gchar *token, const gchar *url, const gchar *const *fields)
{
	g_autoptr(GPtrArray) pairs = g_ptr_array_new();
	g_autoptr(GString) data = g_string_new(url);
	g_autoptr(GHmac) hmac = g_hmac_new(G_CHECKSUM_SHA1, (const guchar *)token, strlen(token));
	guint8 digest[20];
	gsize len = sizeof(digest);

	for (guint i = 0; fields != NULL && fields[i] != NULL; i += 2)
		g_ptr_array_add(pairs, (gpointer)&fields[i]);
	g_ptr_array_sort(pairs, tw_field_cmp);
	for (guint i = 0; i < pairs->len; i++) {
		const gchar *const *pair = g_ptr_array_index(pairs, i);
		g_string_append(data, pair[0]);
		g_string_append(data, pair[1]);
	}
	g_hmac_update(hmac, (const guchar *)data->str, (gssize)data->len);
	g_hmac_get_digest(hmac, digest, &len);
	return g_base64_encode(digest, len);
}

guint
tw_post_form(const gchar *url,
	     const gchar *const *fields,
	     const gchar *signature,
	     const gchar *content_type,
	     gchar **response,
	     gchar **response_type)
{
	g_autoptr(SoupSession) session =
	    soup_session_new_with_options("proxy-resolver", NULL, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new(SOUP_METHOD_POST, url);
	g_autoptr(GString) form = g_string_new(NULL);
	g_autoptr(GBytes) payload = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_nonnull(msg);
	for (guint i = 0; fields != NULL && fields[i] != NULL; i += 2) {
		g_autofree gchar *name = g_uri_escape_string(fields[i], NULL, FALSE);
		g_autofree gchar *value = g_uri_escape_string(fields[i + 1], NULL, FALSE);
		g_string_append_printf(form, "%s%s=%s", form->len > 0 ? "&" : "", name, value);
	}
	if (signature != NULL)
		soup_message_headers_replace(soup_message_get_request_headers(msg),
					     "X-Twilio-Signature", signature);
	payload = g_bytes_new(form->str, form->len);
	soup_message_set_request_body_from_bytes(
	    msg, content_type != NULL ? content_type : "application/x-www-form-urlencoded",
	    payload);
	bytes = soup_session_send_and_read(session, msg, NULL, &error);
	g_assert_no_error(error);
	if (response != NULL)
		*response = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	if (response_type != NULL)
		*response_type = g_strdup(soup_message_headers_get_content_type(
		    soup_message_get_response_headers(msg), NULL));
	return soup_message_get_status(msg);
}

guint
tw_post_signed(const gchar *url, const gchar *const *fields, gchar **response)
{
	g_autofree gchar *signature = tw_sign(TW_TOKEN, url, fields);
	return tw_post_form(url, fields, signature, NULL, response, NULL);
}

void
tw_inbound(VbTestDaemon *d, const gchar *from, const gchar *body, const gchar *sid)
{
	g_autofree gchar *base = vb_test_daemon_public_url(d);
	g_autofree gchar *url = g_strdup_printf("%s/hooks/sms/twilio", base);
	/* the fields Twilio sends with an incoming SMS */
	const gchar *fields[] = {
	    "ToCountry",  "US",	      "SmsMessageSid", sid,	   "NumMedia",	 "0",
	    "SmsSid",	  sid,	      "SmsStatus",     "received", "Body",	 body,
	    "To",	  TW_FROM,    "NumSegments",   "1",	   "MessageSid", sid,
	    "AccountSid", TW_ACCOUNT, "From",	       from,	   "ApiVersion", "2010-04-01",
	    NULL};
	g_autofree gchar *signature = tw_sign(TW_TOKEN, url, fields);
	g_autofree gchar *response = NULL;
	g_autofree gchar *type = NULL;

	g_assert_cmpuint(tw_post_form(url, fields, signature, NULL, &response, &type), ==, 200);
	g_assert_cmpstr(type, ==, "text/xml");
	g_assert_cmpstr(response, ==,
			"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>");
}

GPtrArray *
tw_outbox_sms(VbTestDaemon *d)
{
	g_autoptr(sqlite3) db = vb_test_daemon_open_db(d, FALSE);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	sqlite3_stmt *stmt = NULL;

	g_assert_cmpint(sqlite3_prepare_v2(db,
					   "SELECT state, COALESCE(result, ''), "
					   "COALESCE(last_error, '') FROM outbox "
					   "WHERE kind = 'sms' ORDER BY id",
					   -1, &stmt, NULL),
			==, SQLITE_OK);
	while (sqlite3_step(stmt) == SQLITE_ROW)
		g_ptr_array_add(out, g_strdup_printf("%s|%s|%s", sqlite3_column_text(stmt, 0),
						     sqlite3_column_text(stmt, 1),
						     sqlite3_column_text(stmt, 2)));
	sqlite3_finalize(stmt);
	return out;
}

static gboolean
tw_outbox_idle_cb(gpointer user_data)
{
	VbTestDaemon *d = user_data;
	g_autoptr(GPtrArray) items = tw_outbox_sms(d);

	for (guint i = 0; i < items->len; i++) {
		const gchar *item = g_ptr_array_index(items, i);
		if (g_str_has_prefix(item, "pending|") || g_str_has_prefix(item, "sending|"))
			return FALSE;
	}
	return TRUE;
}

gboolean
tw_poll_outbox_idle(VbTestDaemon *d)
{
	return vb_test_poll(tw_outbox_idle_cb, d, TW_WAIT_MS);
}

void
tw_wait_outbox_idle(VbTestDaemon *d)
{
	if (!vb_test_poll(tw_outbox_idle_cb, d, TW_WAIT_MS)) {
		g_autofree gchar *log = vb_test_daemon_read_log(d);
		g_error("the outbox still has SMS to send; the daemon's log:\n%s", log);
	}
}

gint64
tw_status_int(VbTestDaemon *d, const gchar *key)
{
	g_autoptr(JsonNode) node = tw_ctl(d, "GET", "/v1/plugins", NULL);
	JsonArray *instances =
	    json_object_get_array_member(json_node_get_object(node), "instances");

	for (guint i = 0; i < json_array_get_length(instances); i++) {
		JsonObject *inst = json_array_get_object_element(instances, i);
		if (g_strcmp0(json_object_get_string_member(inst, "name"), "twilio") == 0) {
			JsonObject *status = json_object_get_object_member(inst, "status");
			if (!json_object_has_member(status, key))
				g_error("the twilio instance's status has no %s", key);
			return json_object_get_int_member(status, key);
		}
	}
	g_error("no twilio instance in vestibulectl plugins");
}
