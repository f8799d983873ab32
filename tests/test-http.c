/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <fcntl.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vb-test-files.h"
#include "vb-test-metrics.h"
#include "vb-ctl-client.h"
#include "vb-error.h"
#include "vb-http-server-private.h"
#include "vb-store-private.h"

/* small limits so that the tests can cross them cheaply */
#define TEST_MAX_BODY_BYTES 4096
#define TEST_MAX_HEADER_BYTES 2048
/* no client call may hang a test run */
#define TEST_CLIENT_TIMEOUT_SECONDS 10

typedef struct {
	gchar *tmpdir;
	gchar *socket_path;
	VbStore *store;
	VbMetrics *metrics;
	VbHttpServer *server;
	guint port;
} Fixture;

/* the server runs in the main context of the test thread; every client runs in
 * a thread of its own with blocking calls while the test thread serves */
typedef void (*TestFunc)(gpointer user_data);

typedef struct {
	TestFunc func;
	gpointer user_data;
	gint done;
} TestThread;

static gpointer
test_thread_main(gpointer user_data)
{
	TestThread *t = user_data;
	g_autoptr(GMainContext) context = g_main_context_new();

	g_main_context_push_thread_default(context);
	t->func(t->user_data);
	g_main_context_pop_thread_default(context);
	g_atomic_int_set(&t->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

static void
test_run_in_thread(TestFunc func, gpointer user_data)
{
	TestThread t = {func, user_data, 0};
	GThread *thread = g_thread_new("test-client", test_thread_main, &t);

	while (!g_atomic_int_get(&t.done))
		g_main_context_iteration(NULL, TRUE);
	g_thread_join(thread);
}

/* one HTTP request made with SoupSession */
typedef struct {
	const gchar *socket_path; /* the control socket, or NULL for TCP */
	guint port;
	const gchar *method;
	const gchar *path;
	const gchar *authorization;
	const gchar *content_type;
	const gchar *body;
	gsize body_len;
	const gchar *header_name;
	const gchar *header_value;
	/* the answer */
	guint status;
	gchar *resp_content_type;
	gchar *www_authenticate;
	GBytes *resp_body;
	GError *error;
} TestRequest;

static void
test_request_clear(TestRequest *r)
{
	g_clear_pointer(&r->resp_content_type, g_free);
	g_clear_pointer(&r->www_authenticate, g_free);
	g_clear_pointer(&r->resp_body, g_bytes_unref);
	g_clear_error(&r->error);
}

static void
test_request_run(gpointer user_data)
{
	TestRequest *r = user_data;
	g_autoptr(SoupSession) session = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autofree gchar *uri = NULL;
	SoupMessageHeaders *headers;

	if (r->socket_path != NULL) {
		g_autoptr(GSocketAddress) address = g_unix_socket_address_new(r->socket_path);
		session = soup_session_new_with_options("remote-connectable", address, "timeout",
							TEST_CLIENT_TIMEOUT_SECONDS, NULL);
		uri = g_strconcat("http://localhost", r->path, NULL);
	} else {
		session =
		    soup_session_new_with_options("timeout", TEST_CLIENT_TIMEOUT_SECONDS, NULL);
		uri = g_strdup_printf("http://127.0.0.1:%u%s", r->port, r->path);
	}
	msg = soup_message_new(r->method != NULL ? r->method : "GET", uri);
	g_assert_nonnull(msg);
	headers = soup_message_get_request_headers(msg);
	if (r->authorization != NULL)
		soup_message_headers_replace(headers, "Authorization", r->authorization);
	if (r->header_name != NULL)
		soup_message_headers_replace(headers, r->header_name, r->header_value);
	if (r->body != NULL) {
		g_autoptr(GBytes) bytes =
		    g_bytes_new(r->body, r->body_len > 0 ? r->body_len : strlen(r->body));
		soup_message_set_request_body_from_bytes(msg, r->content_type, bytes);
	}
	r->resp_body = soup_session_send_and_read(session, msg, NULL, &r->error);
	r->status = soup_message_get_status(msg);
	headers = soup_message_get_response_headers(msg);
	r->resp_content_type = g_strdup(soup_message_headers_get_one(headers, "Content-Type"));
	r->www_authenticate = g_strdup(soup_message_headers_get_one(headers, "WWW-Authenticate"));
}

static void
test_send(Fixture *f, VbHttpListener listener, TestRequest *r)
{
	if (listener == VB_HTTP_LISTENER_CONTROL)
		r->socket_path = f->socket_path;
	r->port = f->port;
	test_run_in_thread(test_request_run, r);
	g_assert_no_error(r->error);
	g_assert_nonnull(r->resp_body);
}

static JsonNode *
test_parse_json(GBytes *bytes)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	gsize size = 0;
	const gchar *data = g_bytes_get_data(bytes, &size);

	json_parser_load_from_data(parser, data, (gssize)size, &error);
	g_assert_no_error(error);
	g_assert_nonnull(json_parser_get_root(parser));
	return json_node_ref(json_parser_get_root(parser));
}

/* checks a JSON error answer and returns its message */
static gchar *
test_assert_error(TestRequest *r, guint status, const gchar *code)
{
	g_autoptr(JsonNode) root = NULL;
	JsonObject *obj;

	g_assert_cmpuint(r->status, ==, status);
	g_assert_cmpstr(r->resp_content_type, ==, "application/json");
	root = test_parse_json(r->resp_body);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
	obj = json_node_get_object(root);
	g_assert_cmpstr(json_object_get_string_member(obj, "code"), ==, code);
	g_assert_cmpuint(json_object_get_size(obj), ==, 2);
	return g_strdup(json_object_get_string_member(obj, "message"));
}

static gchar *
test_body_string(TestRequest *r)
{
	gsize size = 0;
	const gchar *data = g_bytes_get_data(r->resp_body, &size);

	return g_strndup(data, size);
}

/* a request written byte by byte to a TCP socket, to send what SoupSession
 * would not: a Content-Length without the body, a body that never ends */
typedef struct {
	guint port;
	const gchar *request;
	gsize request_len;
	gchar *response;
	GError *error;
} TestRaw;

static void
test_raw_run(gpointer user_data)
{
	TestRaw *r = user_data;
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GInetAddress) inet = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(inet, (guint16)r->port);
	g_autoptr(GString) response = g_string_new(NULL);
	GInputStream *in;
	GOutputStream *out;

	g_socket_client_set_timeout(client, TEST_CLIENT_TIMEOUT_SECONDS);
	conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, &r->error);
	if (conn == NULL)
		return;
	out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
	/* the server may close its side early; the answer is what counts */
	g_output_stream_write_all(out, r->request, r->request_len, NULL, NULL, NULL);
	in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
	for (;;) {
		gchar buf[4096];
		gssize n = g_input_stream_read(in, buf, sizeof(buf), NULL, &r->error);

		if (n <= 0)
			break;
		g_string_append_len(response, buf, n);
	}
	r->response = g_string_free(g_steal_pointer(&response), FALSE);
}

static gchar *
test_send_raw(Fixture *f, const gchar *request, gsize request_len)
{
	TestRaw r = {f->port, request, request_len, NULL, NULL};

	test_run_in_thread(test_raw_run, &r);
	g_assert_no_error(r.error);
	return r.response;
}

/* test handlers */

static void
test_echo_cb(VbHttpServer *server,
	     SoupServerMessage *msg,
	     const gchar *path,
	     GHashTable *query,
	     gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = vb_http_parse_json_body(msg, &error);

	if (node == NULL) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	vb_http_reply_json(msg, SOUP_STATUS_OK, node);
}

static void
test_ok_cb(VbHttpServer *server,
	   SoupServerMessage *msg,
	   const gchar *path,
	   GHashTable *query,
	   gpointer user_data)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "handler");
	json_builder_add_string_value(builder, user_data);
	json_builder_set_member_name(builder, "path");
	json_builder_add_string_value(builder, path);
	json_builder_set_member_name(builder, "q");
	json_builder_add_string_value(builder,
				      query != NULL ? g_hash_table_lookup(query, "q") : NULL);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	vb_http_reply_json(msg, SOUP_STATUS_OK, root);
}

static void
test_fail_cb(VbHttpServer *server,
	     SoupServerMessage *msg,
	     const gchar *path,
	     GHashTable *query,
	     gpointer user_data)
{
	g_autoptr(GError) error = NULL;

	g_set_error(&error, VB_ERROR, VB_ERROR_CONFLICT,
		    "visit 42 is already settled: refund it instead");
	vb_http_reply_gerror(msg, error);
}

/* streams three NDJSON lines, 20 ms apart, the way GET /v1/events?follow=1 does */
typedef struct {
	SoupServerMessage *msg;
	GSource *timer;
	guint n;
} TestStream;

static void
test_stream_finished_cb(SoupServerMessage *msg, gpointer user_data)
{
	TestStream *s = user_data;

	if (s->timer != NULL) {
		g_source_destroy(s->timer);
		g_source_unref(s->timer);
	}
	g_signal_handlers_disconnect_by_data(s->msg, s);
	g_object_unref(s->msg);
	g_free(s);
}

static gboolean
test_stream_tick_cb(gpointer user_data)
{
	TestStream *s = user_data;
	SoupMessageBody *body = soup_server_message_get_response_body(s->msg);
	gchar *line = g_strdup_printf("{\"n\": %u}\n", ++s->n);

	soup_message_body_append(body, SOUP_MEMORY_TAKE, line, strlen(line));
	if (s->n == 3) {
		soup_message_body_complete(body);
		g_clear_pointer(&s->timer, g_source_unref);
	}
	soup_server_message_unpause(s->msg);
	return s->n == 3 ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static void
test_events_cb(VbHttpServer *server,
	       SoupServerMessage *msg,
	       const gchar *path,
	       GHashTable *query,
	       gpointer user_data)
{
	SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
	TestStream *s = g_new0(TestStream, 1);

	g_assert_cmpstr(g_hash_table_lookup(query, "follow"), ==, "1");
	s->msg = g_object_ref(msg);
	soup_message_headers_set_encoding(headers, SOUP_ENCODING_CHUNKED);
	soup_message_headers_set_content_type(headers, "application/x-ndjson", NULL);
	soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
	g_signal_connect(msg, "finished", G_CALLBACK(test_stream_finished_cb), s);
	s->timer = g_timeout_source_new(20);
	g_source_set_callback(s->timer, test_stream_tick_cb, s, NULL);
	g_source_attach(s->timer, NULL);
}

static void
fixture_setup(Fixture *f, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *db_path = NULL;

	f->tmpdir = g_dir_make_tmp("vb-test-http-XXXXXX", &error);
	g_assert_no_error(error);
	db_path = g_build_filename(f->tmpdir, "vestibule.db", NULL);
	/* "run" does not exist yet: the server creates it */
	f->socket_path = g_build_filename(f->tmpdir, "run", "control.sock", NULL);

	f->store = vb_store_new();
	vb_store_open(f->store, db_path, &error);
	g_assert_no_error(error);
	f->metrics = vb_metrics_new();
	f->server = vb_http_server_new(f->store, f->metrics);
	vb_http_server_set_limits(f->server, TEST_MAX_BODY_BYTES, TEST_MAX_HEADER_BYTES);
	vb_http_server_listen_public(f->server, "127.0.0.1", 0, &error);
	g_assert_no_error(error);
	vb_http_server_listen_control(f->server, f->socket_path, 0660, &error);
	g_assert_no_error(error);
	f->port = vb_http_server_get_public_port(f->server);
	g_assert_cmpuint(f->port, >, 0);

	vb_http_server_add_handler(f->server, VB_HTTP_LISTENER_PUBLIC, "/v1/echo", NULL,
				   test_echo_cb, NULL, NULL);
	vb_http_server_add_handler(f->server, VB_HTTP_LISTENER_PUBLIC, "/v1/orders", "orders",
				   test_ok_cb, g_strdup("orders"), g_free);
	vb_http_server_add_handler(f->server, VB_HTTP_LISTENER_CONTROL, "/v1/secret", NULL,
				   test_ok_cb, g_strdup("secret"), g_free);
	vb_http_server_add_handler(f->server, VB_HTTP_LISTENER_CONTROL, "/v1/echo", NULL,
				   test_echo_cb, NULL, NULL);
	vb_http_server_add_handler(f->server, VB_HTTP_LISTENER_CONTROL, "/v1/fail", NULL,
				   test_fail_cb, NULL, NULL);
	vb_http_server_add_handler(f->server, VB_HTTP_LISTENER_CONTROL, "/v1/events", NULL,
				   test_events_cb, NULL, NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer user_data)
{
	vb_http_server_disconnect(f->server);
	g_clear_object(&f->server);
	/* let libsoup finish closing the connections */
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_assert_false(g_file_test(f->socket_path, G_FILE_TEST_EXISTS));
	g_clear_object(&f->metrics);
	vb_store_close(f->store);
	g_clear_object(&f->store);
	vb_test_remove_tree(f->tmpdir);
	g_free(f->tmpdir);
	g_free(f->socket_path);
}

static gchar *
test_create_token(Fixture *f, const gchar *name, const gchar *scope)
{
	g_autoptr(GError) error = NULL;
	gchar *token = vb_http_server_create_token(f->server, name, scope, &error);

	g_assert_no_error(error);
	g_assert_nonnull(token);
	return token;
}

static void
test_healthz(Fixture *f, gconstpointer user_data)
{
	VbHttpListener listeners[] = {VB_HTTP_LISTENER_PUBLIC, VB_HTTP_LISTENER_CONTROL};

	for (guint i = 0; i < G_N_ELEMENTS(listeners); i++) {
		TestRequest r = {.path = "/healthz"};
		g_autofree gchar *body = NULL;

		test_send(f, listeners[i], &r);
		g_assert_cmpuint(r.status, ==, 200);
		g_assert_cmpstr(r.resp_content_type, ==, "application/json");
		body = test_body_string(&r);
		g_assert_cmpstr(body, ==, "{\"status\":\"ok\"}");
		test_request_clear(&r);
	}
}

static void
test_not_found(Fixture *f, gconstpointer user_data)
{
	TestRequest r = {.path = "/nothing/here"};
	TestRequest sibling = {.path = "/v1/echoes"};
	TestRequest below = {.path = "/v1/orders/42?q=x", .authorization = NULL};
	g_autofree gchar *message = NULL;
	g_autofree gchar *message2 = NULL;

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &r);
	message = test_assert_error(&r, 404, "not-found");
	g_assert_cmpstr(message, ==,
			"there is nothing at /nothing/here on the public listener: "
			"check the URL");

	/* a prefix matches on '/' boundaries only */
	test_send(f, VB_HTTP_LISTENER_PUBLIC, &sibling);
	message2 = test_assert_error(&sibling, 404, "not-found");

	/* but the paths below a handler reach it (after auth) */
	test_send(f, VB_HTTP_LISTENER_PUBLIC, &below);
	g_assert_cmpuint(below.status, ==, 401);

	test_request_clear(&r);
	test_request_clear(&sibling);
	test_request_clear(&below);
}

static void
test_prefix_and_query(Fixture *f, gconstpointer user_data)
{
	TestRequest r = {.path = "/v1/secret/sub/path?q=hello%20world"};
	g_autoptr(JsonNode) root = NULL;
	JsonObject *obj;

	test_send(f, VB_HTTP_LISTENER_CONTROL, &r);
	g_assert_cmpuint(r.status, ==, 200);
	root = test_parse_json(r.resp_body);
	obj = json_node_get_object(root);
	g_assert_cmpstr(json_object_get_string_member(obj, "handler"), ==, "secret");
	g_assert_cmpstr(json_object_get_string_member(obj, "path"), ==, "/v1/secret/sub/path");
	g_assert_cmpstr(json_object_get_string_member(obj, "q"), ==, "hello world");
	test_request_clear(&r);
}

static gdouble
test_auth_failures(Fixture *f)
{
	return vb_metrics_get(f->metrics, "vestibule_http_auth_failures_total",
			      "listener=\"public\"");
}

static void
test_auth_missing_token(Fixture *f, gconstpointer user_data)
{
	TestRequest r = {.path = "/v1/orders"};
	g_autofree gchar *message = NULL;

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &r);
	message = test_assert_error(&r, 401, "unauthorized");
	g_assert_true(g_str_has_prefix(r.www_authenticate, "Bearer"));
	g_assert_nonnull(strstr(message, "bearer token of scope 'orders'"));
	g_assert_nonnull(strstr(message, "Authorization: Bearer TOKEN"));
	g_assert_cmpfloat(test_auth_failures(f), ==, 1);
	test_request_clear(&r);
}

static void
test_auth_wrong_token(Fixture *f, gconstpointer user_data)
{
	/* a real token exists, so the refusal is for the wrong one, not for none */
	g_autofree gchar *good = test_create_token(f, "shop", "orders");
	TestRequest wrong = {.path = "/v1/orders", .authorization = "Bearer not-the-token"};
	TestRequest basic = {.path = "/v1/orders", .authorization = "Basic dXNlcjpwYXNz"};
	g_autofree gchar *message = NULL;
	g_autofree gchar *message2 = NULL;

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &wrong);
	message = test_assert_error(&wrong, 401, "unauthorized");
	g_assert_nonnull(strstr(wrong.www_authenticate, "invalid_token"));
	g_assert_nonnull(strstr(message, "not valid for scope 'orders'"));

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &basic);
	message2 = test_assert_error(&basic, 401, "unauthorized");

	g_assert_cmpfloat(test_auth_failures(f), ==, 2);
	g_assert_cmpstr(good, !=, "not-the-token");
	test_request_clear(&wrong);
	test_request_clear(&basic);
}

static void
test_auth_wrong_scope(Fixture *f, gconstpointer user_data)
{
	g_autofree gchar *token = test_create_token(f, "prometheus", "metrics");
	g_autofree gchar *auth = g_strdup_printf("Bearer %s", token);
	TestRequest r = {.path = "/v1/orders", .authorization = auth};
	TestRequest metrics = {.path = "/metrics", .authorization = auth};
	g_autofree gchar *message = NULL;

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &r);
	message = test_assert_error(&r, 401, "unauthorized");
	g_assert_nonnull(strstr(message, "not valid for scope 'orders'"));

	/* the same token is good where its scope is wanted */
	test_send(f, VB_HTTP_LISTENER_PUBLIC, &metrics);
	g_assert_cmpuint(metrics.status, ==, 200);
	test_request_clear(&r);
	test_request_clear(&metrics);
}

static void
test_auth_good_token(Fixture *f, gconstpointer user_data)
{
	g_autofree gchar *token = test_create_token(f, "shop", "orders");
	g_autofree gchar *auth = g_strdup_printf("Bearer %s", token);
	g_autofree gchar *auth_lower = g_strdup_printf("bearer  %s", token);
	TestRequest r = {.path = "/v1/orders", .authorization = auth};
	TestRequest lower = {.path = "/v1/orders", .authorization = auth_lower};
	g_autoptr(JsonNode) root = NULL;

	/* 32 random bytes in unpadded base64url */
	g_assert_cmpuint(strlen(token), ==, 43);
	for (const gchar *p = token; *p != '\0'; p++)
		g_assert_true(g_ascii_isalnum(*p) || *p == '-' || *p == '_');

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &r);
	g_assert_cmpuint(r.status, ==, 200);
	root = test_parse_json(r.resp_body);
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(root), "handler"), ==,
			"orders");

	/* the scheme is case-insensitive (RFC 9110) */
	test_send(f, VB_HTTP_LISTENER_PUBLIC, &lower);
	g_assert_cmpuint(lower.status, ==, 200);
	g_assert_cmpfloat(test_auth_failures(f), ==, 0);
	test_request_clear(&r);
	test_request_clear(&lower);
}

static gboolean
test_file_contains(const gchar *path, const gchar *needle)
{
	g_autofree gchar *data = NULL;
	gsize len = 0;

	if (!g_file_get_contents(path, &data, &len, NULL))
		return FALSE;
	return memmem(data, len, needle, strlen(needle)) != NULL;
}

static void
test_auth_hashed_only(Fixture *f, gconstpointer user_data)
{
	g_autofree gchar *token = test_create_token(f, "shop", "orders");
	g_autofree gchar *token2 = test_create_token(f, "prometheus", "metrics");
	g_autofree gchar *hash = vb_http_token_hash(token);
	const gchar *db_path = vb_store_get_path(f->store);
	const gchar *suffixes[] = {"", "-wal", "-shm", "-journal"};
	gboolean hash_seen = FALSE;

	/* two tokens are never the same */
	g_assert_cmpstr(token, !=, token2);
	g_assert_cmpuint(strlen(hash), ==, 64);
	for (const gchar *p = hash; *p != '\0'; p++)
		g_assert_true(g_ascii_isdigit(*p) || (*p >= 'a' && *p <= 'f'));

	for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree gchar *path = g_strconcat(db_path, suffixes[i], NULL);

		g_assert_false(test_file_contains(path, token));
		g_assert_false(test_file_contains(path, token2));
		if (test_file_contains(path, hash))
			hash_seen = TRUE;
	}
	/* proves that the scan looked where the tokens are */
	g_assert_true(hash_seen);
}

static void
test_metrics_public_needs_token(Fixture *f, gconstpointer user_data)
{
	TestRequest r = {.path = "/metrics"};
	g_autofree gchar *message = NULL;

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &r);
	message = test_assert_error(&r, 401, "unauthorized");
	g_assert_nonnull(strstr(message, "scope 'metrics'"));
	test_request_clear(&r);
}

static void
test_metrics_control(Fixture *f, gconstpointer user_data)
{
	TestRequest health = {.path = "/healthz"};
	TestRequest denied = {.path = "/v1/orders"};
	TestRequest r = {.path = "/metrics"};
	g_autofree gchar *text = NULL;

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &health);
	test_send(f, VB_HTTP_LISTENER_PUBLIC, &denied);
	test_send(f, VB_HTTP_LISTENER_CONTROL, &r);
	g_assert_cmpuint(r.status, ==, 200);
	g_assert_true(g_str_has_prefix(r.resp_content_type, "text/plain; version=0.0.4"));
	text = test_body_string(&r);
	g_assert_nonnull(
	    strstr(text, "# HELP vestibule_http_requests_total HTTP requests answered, by listener "
			 "and status code\n"
			 "# TYPE vestibule_http_requests_total counter\n"));
	g_assert_nonnull(
	    strstr(text, "vestibule_http_requests_total{listener=\"public\",code=\"200\"} 1\n"));
	g_assert_nonnull(
	    strstr(text, "vestibule_http_requests_total{listener=\"public\",code=\"401\"} 1\n"));
	g_assert_nonnull(strstr(text, "# TYPE vestibule_http_auth_failures_total counter\n"));
	g_assert_nonnull(
	    strstr(text, "vestibule_http_auth_failures_total{listener=\"public\"} 1\n"));
	test_request_clear(&health);
	test_request_clear(&denied);
	test_request_clear(&r);
}

/* the value of an unlabelled metric in a scrape, or -1 */
static gdouble
test_metric_value(const gchar *text, const gchar *name)
{
	g_autofree gchar *needle = g_strdup_printf("\n%s ", name);
	const gchar *line = strstr(text, needle);

	return line != NULL ? g_ascii_strtod(line + strlen(needle), NULL) : -1;
}

/* one scrape of the control listener's /metrics */
static gchar *
test_scrape(Fixture *f)
{
	TestRequest r = {.path = "/metrics"};
	gchar *text;

	test_send(f, VB_HTTP_LISTENER_CONTROL, &r);
	g_assert_cmpuint(r.status, ==, 200);
	text = test_body_string(&r);
	test_request_clear(&r);
	return text;
}

static void
test_metrics_process(Fixture *f, gconstpointer user_data)
{
	g_autofree gchar *before = NULL;
	g_autofree gchar *after = NULL;
	g_autofree gchar *statm = NULL;
	g_auto(GStrv) pages = NULL;
	gint extra[50];
	struct rlimit limit;
	gdouble now = (gdouble)g_get_real_time() / G_USEC_PER_SEC;
	gdouble rss, fds_before, fds_after, started;

	/* what an operator's fleet alerts on, under the names every Prometheus
	 * dashboard knows: the libsoup leak that ran a daemon out of descriptors
	 * would have shown in process_open_fds */
	before = test_scrape(f);
	g_assert_nonnull(strstr(before, "# TYPE process_open_fds gauge\n"));
	g_assert_nonnull(strstr(before, "# TYPE process_cpu_seconds_total counter\n"));
	for (guint i = 0; i < G_N_ELEMENTS(extra); i++) {
		extra[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		g_assert_cmpint(extra[i], >=, 0);
	}
	after = test_scrape(f);
	for (guint i = 0; i < G_N_ELEMENTS(extra); i++)
		close(extra[i]);
	fds_before = test_metric_value(before, "process_open_fds");
	fds_after = test_metric_value(after, "process_open_fds");
	g_assert_cmpfloat(fds_before, >, 0);
	/* give or take a descriptor or two of the server's and the clients'
	 * connections and threads, opening or closing as the scrapes run */
	g_assert_cmpfloat(fds_after - fds_before, >=, G_N_ELEMENTS(extra) - 2);
	g_assert_cmpfloat(fds_after - fds_before, <=, G_N_ELEMENTS(extra) + 2);

	g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &limit), ==, 0);
	g_assert_cmpfloat(test_metric_value(after, "process_max_fds"), ==, (gdouble)limit.rlim_cur);

	/* the resident memory as /proc/self/statm has it, within a megabyte */
	g_assert_true(g_file_get_contents("/proc/self/statm", &statm, NULL, NULL));
	pages = g_strsplit(statm, " ", -1);
	rss = g_ascii_strtod(pages[1], NULL) * (gdouble)sysconf(_SC_PAGESIZE);
	g_assert_cmpfloat(fabs(test_metric_value(after, "process_resident_memory_bytes") - rss), <,
			  1024 * 1024);
	g_assert_cmpfloat(test_metric_value(after, "process_virtual_memory_bytes"), >, rss);

	/* this test process started within the last hour, not at the epoch */
	started = test_metric_value(after, "process_start_time_seconds");
	g_assert_cmpfloat(started, <=, now + 1);
	g_assert_cmpfloat(started, >, now - 3600);
	g_assert_cmpfloat(test_metric_value(after, "process_cpu_seconds_total"), >=,
			  test_metric_value(before, "process_cpu_seconds_total"));
}

static void
test_json_bad_syntax(Fixture *f, gconstpointer user_data)
{
	const gchar *body = "{\n  \"visit\": 42,\n}";
	TestRequest r = {
	    .method = "POST", .path = "/v1/echo", .content_type = "application/json", .body = body};
	g_autofree gchar *message = NULL;

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &r);
	message = test_assert_error(&r, 400, "invalid-data");
	g_assert_true(
	    g_str_has_prefix(message, "the request body is not valid JSON at 2:14: Parse error: "));
	g_assert_true(g_str_has_suffix(message, "fix it and send it again"));
	test_request_clear(&r);
}

static void
test_json_content_type(Fixture *f, gconstpointer user_data)
{
	TestRequest r = {
	    .method = "POST", .path = "/v1/echo", .content_type = "text/plain", .body = "{}"};
	TestRequest none = {.method = "POST", .path = "/v1/echo", .body = "{}"};
	g_autofree gchar *message = NULL;
	g_autofree gchar *message2 = NULL;

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &r);
	message = test_assert_error(&r, 415, "invalid-data");
	g_assert_cmpstr(message, ==,
			"the request body must be JSON sent with 'Content-Type: application/json', "
			"not text/plain");

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &none);
	message2 = test_assert_error(&none, 415, "invalid-data");
	test_request_clear(&r);
	test_request_clear(&none);
}

static void
test_json_good(Fixture *f, gconstpointer user_data)
{
	TestRequest r = {.method = "POST",
			 .path = "/v1/echo",
			 .content_type = "application/json; charset=utf-8",
			 .body = "{\"visit\": 42, \"items\": [\"cola\"]}"};
	TestRequest empty = {
	    .method = "POST", .path = "/v1/echo", .content_type = "application/json", .body = " "};
	g_autofree gchar *text = NULL;
	g_autofree gchar *message = NULL;

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &r);
	g_assert_cmpuint(r.status, ==, 200);
	text = test_body_string(&r);
	g_assert_cmpstr(text, ==, "{\"visit\":42,\"items\":[\"cola\"]}");

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &empty);
	message = test_assert_error(&empty, 400, "invalid-data");
	g_assert_cmpstr(message, ==, "the request body is empty: send a JSON document");
	test_request_clear(&r);
	test_request_clear(&empty);
}

static void
test_json_too_deep(Fixture *f, gconstpointer user_data)
{
	/* json-glib 1.6 would overflow its stack on this */
	g_autofree gchar *body = g_strnfill(TEST_MAX_BODY_BYTES - 1, '[');
	TestRequest r = {
	    .method = "POST", .path = "/v1/echo", .content_type = "application/json", .body = body};
	g_autofree gchar *message = NULL;

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &r);
	message = test_assert_error(&r, 400, "invalid-data");
	g_assert_nonnull(strstr(message, "nested more than 64 levels"));
	test_request_clear(&r);
}

static void
test_assert_still_serving(Fixture *f)
{
	TestRequest r = {.path = "/healthz"};

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &r);
	g_assert_cmpuint(r.status, ==, 200);
	test_request_clear(&r);
}

/* checks a raw HTTP answer: status line, JSON error code and message */
static void
test_assert_raw_error(const gchar *response, const gchar *status_line, const gchar *message)
{
	const gchar *body = strstr(response, "\r\n\r\n");
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonObject *obj;

	g_assert_true(g_str_has_prefix(response, status_line));
	g_assert_nonnull(strstr(response, "\r\nContent-Type: application/json\r\n"));
	g_assert_nonnull(body);
	json_parser_load_from_data(parser, body + 4, -1, &error);
	g_assert_no_error(error);
	obj = json_node_get_object(json_parser_get_root(parser));
	g_assert_cmpstr(json_object_get_string_member(obj, "code"), ==, "too-large");
	g_assert_cmpstr(json_object_get_string_member(obj, "message"), ==, message);
}

static void
test_limits_content_length(Fixture *f, gconstpointer user_data)
{
	/* announces a body far over the limit and never sends it: only an answer
	 * from the headers alone gets back before the client times out */
	const gchar *request = "POST /v1/echo HTTP/1.1\r\n"
			       "Host: 127.0.0.1\r\n"
			       "Content-Type: application/json\r\n"
			       "Content-Length: 1000000000\r\n"
			       "\r\n";
	g_autofree gchar *response = test_send_raw(f, request, strlen(request));

	test_assert_raw_error(response, "HTTP/1.1 413 ",
			      "the request body is 1000000000 bytes long, more than the limit "
			      "of 4096 bytes: send a smaller body");
	g_assert_nonnull(strstr(response, "\r\nConnection: close\r\n"));
	g_assert_cmpfloat(vb_metrics_get(f->metrics, "vestibule_http_requests_total",
					 "listener=\"public\",code=\"413\""),
			  ==, 1);
	test_assert_still_serving(f);
}

static void
test_limits_expect_continue(Fixture *f, gconstpointer user_data)
{
	/* a client that asks first gets the refusal instead of "100 Continue" */
	const gchar *request = "PUT /v1/echo HTTP/1.1\r\n"
			       "Host: 127.0.0.1\r\n"
			       "Content-Type: application/json\r\n"
			       "Content-Length: 5000\r\n"
			       "Expect: 100-continue\r\n"
			       "\r\n";
	g_autofree gchar *response = test_send_raw(f, request, strlen(request));

	test_assert_raw_error(response, "HTTP/1.1 413 ",
			      "the request body is 5000 bytes long, more than the limit "
			      "of 4096 bytes: send a smaller body");
	test_assert_still_serving(f);
}

static void
test_limits_chunked(Fixture *f, gconstpointer user_data)
{
	/* chunks over the limit, and no last chunk: the server must stop counting
	 * and answer without waiting for the end */
	g_autoptr(GString) request = g_string_new("POST /v1/echo HTTP/1.1\r\n"
						  "Host: 127.0.0.1\r\n"
						  "Content-Type: application/json\r\n"
						  "Transfer-Encoding: chunked\r\n"
						  "\r\n");
	g_autofree gchar *response = NULL;

	for (guint i = 0; i < 3; i++) {
		g_autofree gchar *chunk = g_strnfill(2000, ' ');
		g_string_append_printf(request, "%x\r\n%s\r\n", 2000u, chunk);
	}
	response = test_send_raw(f, request->str, request->len);
	test_assert_raw_error(response, "HTTP/1.1 413 ",
			      "the request body is longer than the limit of 4096 bytes: "
			      "send a smaller body");
	test_assert_still_serving(f);
}

static void
test_limits_body_soup(Fixture *f, gconstpointer user_data)
{
	/* a client that sends the whole body before it reads still gets the answer */
	g_autofree gchar *body = g_strnfill(TEST_MAX_BODY_BYTES * 4, ' ');
	g_autofree gchar *fits = g_strnfill(TEST_MAX_BODY_BYTES - 2, ' ');
	TestRequest r = {
	    .method = "POST", .path = "/v1/echo", .content_type = "application/json", .body = body};
	TestRequest ok = {
	    .method = "POST", .path = "/v1/echo", .content_type = "application/json", .body = NULL};
	g_autofree gchar *ok_body = NULL;
	g_autofree gchar *message = NULL;

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &r);
	message = test_assert_error(&r, 413, "too-large");
	g_assert_cmpstr(message, ==,
			"the request body is 16384 bytes long, more than the limit of 4096 bytes: "
			"send a smaller body");

	/* exactly at the limit is fine */
	ok_body = g_strconcat("[", fits, "]", NULL);
	g_assert_cmpuint(strlen(ok_body), ==, TEST_MAX_BODY_BYTES);
	ok.body = ok_body;
	test_send(f, VB_HTTP_LISTENER_PUBLIC, &ok);
	g_assert_cmpuint(ok.status, ==, 200);
	test_request_clear(&r);
	test_request_clear(&ok);
}

static void
test_limits_headers(Fixture *f, gconstpointer user_data)
{
	g_autofree gchar *padding = g_strnfill(TEST_MAX_HEADER_BYTES, 'x');
	g_autofree gchar *request = g_strdup_printf("GET /healthz HTTP/1.1\r\n"
						    "Host: 127.0.0.1\r\n"
						    "X-Padding: %s\r\n"
						    "\r\n",
						    padding);
	g_autofree gchar *response = test_send_raw(f, request, strlen(request));
	TestRequest r = {.path = "/healthz", .header_name = "X-Padding", .header_value = padding};
	g_autofree gchar *message = NULL;

	g_assert_true(
	    g_str_has_prefix(response, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
	test_assert_raw_error(response, "HTTP/1.1 431 ",
			      "the request headers are 2070 bytes long, more than the limit of "
			      "2048 bytes: send fewer or shorter headers");
	test_assert_still_serving(f);

	/* the same through libsoup's client, which keeps the connection alive */
	test_send(f, VB_HTTP_LISTENER_CONTROL, &r);
	message = test_assert_error(&r, 431, "too-large");
	g_assert_true(g_str_has_prefix(message, "the request headers are "));
	test_request_clear(&r);
	test_assert_still_serving(f);
}

/* the socket objects alive in this process, the server's and the clients':
 * GObject counts instances only in debug builds of GLib, so the test counts
 * them itself, through GSocket's class */
static gint test_sockets_alive;
static void (*test_socket_constructed)(GObject *object);
static void (*test_socket_finalize)(GObject *object);

static void
test_socket_constructed_cb(GObject *object)
{
	g_atomic_int_inc(&test_sockets_alive);
	test_socket_constructed(object);
}

static void
test_socket_finalize_cb(GObject *object)
{
	g_atomic_int_add(&test_sockets_alive, -1);
	test_socket_finalize(object);
}

static void
test_count_sockets(void)
{
	GObjectClass *klass = g_type_class_ref(G_TYPE_SOCKET);

	test_socket_constructed = klass->constructed;
	test_socket_finalize = klass->finalize;
	klass->constructed = test_socket_constructed_cb;
	klass->finalize = test_socket_finalize_cb;
}

static gboolean
test_sockets_back_to(gint count)
{
	gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

	/* the server lets go of each connection in its main context */
	while (g_atomic_int_get(&test_sockets_alive) > count && g_get_monotonic_time() < deadline) {
		if (!g_main_context_iteration(NULL, FALSE))
			g_usleep(1000);
	}
	return g_atomic_int_get(&test_sockets_alive) <= count;
}

static void
test_connections_freed(Fixture *f, gconstpointer user_data)
{
	gint before = g_atomic_int_get(&test_sockets_alive);

	/* the fixture's two listening sockets at least */
	g_assert_cmpint(before, >=, 2);

	/* libsoup 3.2's own listener kept a reference to each socket it accepted:
	 * a daemon answering webhooks and receipts grew by one socket object per
	 * connection, for as long as it ran */
	for (guint i = 0; i < 20; i++) {
		VbHttpListener listener =
		    i % 2 == 0 ? VB_HTTP_LISTENER_PUBLIC : VB_HTTP_LISTENER_CONTROL;
		TestRequest r = {.path = "/healthz"};

		test_send(f, listener, &r);
		g_assert_cmpuint(r.status, ==, 200);
		test_request_clear(&r);
	}
	if (!test_sockets_back_to(before))
		g_error("20 connections later %d socket objects are alive, %d before",
			g_atomic_int_get(&test_sockets_alive), before);
}

static void
test_public_listen(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbHttpServer) server = vb_http_server_new(f->store, f->metrics);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *url = g_strdup_printf("http://127.0.0.1:%u", f->port);
	g_autofree gchar *expected = NULL;

	g_assert_cmpstr(vb_http_server_get_public_url(f->server), ==, url);
	vb_http_server_set_public_url(f->server, "https://store.example.com/");
	g_assert_cmpstr(vb_http_server_get_public_url(f->server), ==, "https://store.example.com");

	/* the port of the fixture's server is taken */
	g_assert_false(vb_http_server_listen_public(server, "127.0.0.1", f->port, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_CONFLICT);
	expected = g_strdup_printf("cannot listen for HTTP on 127.0.0.1 port %u: it is in use; "
				   "stop the other vestibuled or server, or choose another port",
				   f->port);
	g_assert_cmpstr(error->message, ==, expected);
	g_clear_error(&error);

	g_assert_false(vb_http_server_listen_public(server, "localhost", 0, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	g_clear_error(&error);
	g_assert_false(vb_http_server_listen_public(server, "127.0.0.1", 70000, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	g_assert_null(vb_http_server_get_public_url(server));
	g_assert_cmpuint(vb_http_server_get_public_port(server), ==, 0);
}

static void
test_control_socket_mode(Fixture *f, gconstpointer user_data)
{
	g_autofree gchar *dir = g_path_get_dirname(f->socket_path);
	struct stat st;

	g_assert_cmpint(lstat(f->socket_path, &st), ==, 0);
	g_assert_true(S_ISSOCK(st.st_mode));
	g_assert_cmpint(st.st_mode & 07777, ==, 0660);
	g_assert_cmpint(stat(dir, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 07777, ==, 0750);
}

static void
test_control_socket_umask(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbHttpServer) server = vb_http_server_new(f->store, f->metrics);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = g_build_filename(f->tmpdir, "umask.sock", NULL);
	mode_t old = umask(0077);
	struct stat st;

	/* the mode is set, not left to the umask */
	vb_http_server_listen_control(server, path, 0660, &error);
	umask(old);
	g_assert_no_error(error);
	g_assert_cmpint(lstat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 07777, ==, 0660);
	vb_http_server_disconnect(server);
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
}

static void
test_control_stale_socket(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbHttpServer) server = vb_http_server_new(f->store, f->metrics);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = g_build_filename(f->tmpdir, "stale.sock", NULL);
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
	g_autoptr(GSocket) dead = NULL;
	TestRequest r = {.path = "/healthz"};
	struct stat st;

	/* what a crashed daemon leaves behind: a socket file nobody listens on */
	dead = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, &error);
	g_assert_no_error(error);
	g_socket_bind(dead, address, FALSE, &error);
	g_assert_no_error(error);
	g_socket_close(dead, &error);
	g_assert_no_error(error);
	g_assert_cmpint(lstat(path, &st), ==, 0);
	g_assert_true(S_ISSOCK(st.st_mode));

	vb_http_server_listen_control(server, path, 0660, &error);
	g_assert_no_error(error);
	r.socket_path = path;
	test_run_in_thread(test_request_run, &r);
	g_assert_no_error(r.error);
	g_assert_cmpuint(r.status, ==, 200);
	test_request_clear(&r);
	vb_http_server_disconnect(server);
}

static void
test_control_live_socket(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbHttpServer) server = vb_http_server_new(f->store, f->metrics);
	g_autoptr(GError) error = NULL;
	struct stat st;

	/* the fixture's server is listening there */
	g_assert_false(vb_http_server_listen_control(server, f->socket_path, 0660, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_CONFLICT);
	g_assert_nonnull(strstr(error->message, "stop the other vestibuled first"));
	g_assert_cmpint(lstat(f->socket_path, &st), ==, 0);
	g_assert_true(S_ISSOCK(st.st_mode));
	g_clear_object(&server);
	/* and a failed server does not remove it either */
	g_assert_true(g_file_test(f->socket_path, G_FILE_TEST_EXISTS));
	test_assert_still_serving(f);
}

static void
test_control_not_a_socket(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbHttpServer) server = vb_http_server_new(f->store, f->metrics);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = g_build_filename(f->tmpdir, "precious.txt", NULL);
	g_autofree gchar *contents = NULL;
	g_autofree gchar *expected = NULL;

	g_file_set_contents(path, "keep me", -1, &error);
	g_assert_no_error(error);
	g_assert_false(vb_http_server_listen_control(server, path, 0660, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_CONFLICT);
	expected = g_strdup_printf("%s exists and is not a socket: move it away or configure "
				   "another control socket path",
				   path);
	g_assert_cmpstr(error->message, ==, expected);
	g_file_get_contents(path, &contents, NULL, NULL);
	g_assert_cmpstr(contents, ==, "keep me");
}

static void
test_control_not_on_tcp(Fixture *f, gconstpointer user_data)
{
	TestRequest tcp = {.path = "/v1/secret"};
	TestRequest unix_socket = {.path = "/v1/secret"};
	TestRequest public_only = {.path = "/v1/orders"};
	g_autofree gchar *message = NULL;
	g_autofree gchar *message2 = NULL;

	test_send(f, VB_HTTP_LISTENER_PUBLIC, &tcp);
	message = test_assert_error(&tcp, 404, "not-found");
	g_assert_cmpstr(message, ==,
			"there is nothing at /v1/secret on the public listener: "
			"check the URL");
	test_send(f, VB_HTTP_LISTENER_CONTROL, &unix_socket);
	g_assert_cmpuint(unix_socket.status, ==, 200);
	/* and the other way round */
	test_send(f, VB_HTTP_LISTENER_CONTROL, &public_only);
	message2 = test_assert_error(&public_only, 404, "not-found");
	test_request_clear(&tcp);
	test_request_clear(&unix_socket);
	test_request_clear(&public_only);
}

static void
test_remove_handler(Fixture *f, gconstpointer user_data)
{
	TestRequest r = {.path = "/v1/secret"};
	g_autofree gchar *message = NULL;

	vb_http_server_remove_handler(f->server, VB_HTTP_LISTENER_CONTROL, "/v1/secret");
	test_send(f, VB_HTTP_LISTENER_CONTROL, &r);
	message = test_assert_error(&r, 404, "not-found");
	test_request_clear(&r);
}

static void
test_reply_gerror(void)
{
	struct {
		gint code;
		guint status;
	} map[] = {
	    {VB_ERROR_INVALID_DATA, 400},
	    {VB_ERROR_UNAUTHORIZED, 401},
	    {VB_ERROR_PERMISSION_DENIED, 403},
	    {VB_ERROR_NOT_FOUND, 404},
	    {VB_ERROR_CONFLICT, 409},
	    {VB_ERROR_TOO_LARGE, 413},
	    {VB_ERROR_RATE_LIMITED, 429},
	    {VB_ERROR_UNREACHABLE, 503},
	    {VB_ERROR_TIMED_OUT, 504},
	    {VB_ERROR_DECLINED, 500},
	    {VB_ERROR_FAILED, 500},
	};

	for (guint i = 0; i < G_N_ELEMENTS(map); i++) {
		g_autoptr(SoupServerMessage) msg = g_object_new(SOUP_TYPE_SERVER_MESSAGE, NULL);
		g_autoptr(GError) error = g_error_new(VB_ERROR, map[i].code, "do something");
		g_autoptr(GBytes) body = NULL;
		g_autoptr(JsonParser) parser = json_parser_new();
		JsonObject *obj;
		gsize size = 0;
		const gchar *data;

		vb_http_reply_gerror(msg, error);
		g_assert_cmpuint(soup_server_message_get_status(msg), ==, map[i].status);
		body = soup_message_body_flatten(soup_server_message_get_response_body(msg));
		data = g_bytes_get_data(body, &size);
		g_assert_true(json_parser_load_from_data(parser, data, (gssize)size, NULL));
		obj = json_node_get_object(json_parser_get_root(parser));
		g_assert_cmpstr(json_object_get_string_member(obj, "code"), ==,
				vb_error_to_code(map[i].code));
		g_assert_cmpstr(json_object_get_string_member(obj, "message"), ==, "do something");
		g_assert_cmpint(vb_error_from_code(vb_error_to_code(map[i].code)), ==, map[i].code);
	}
	g_assert_cmpint(vb_error_from_code("no-such-code"), ==, VB_ERROR_FAILED);
	g_assert_cmpint(vb_error_from_code(NULL), ==, VB_ERROR_FAILED);
}

/* VbCtlClient, blocking, in a thread of its own */
typedef struct {
	const gchar *socket_path;
	const gchar *method;
	const gchar *path;
	JsonNode *body;
	JsonNode *result;
	GPtrArray *lines;
	guint stop_after;
	gboolean ok;
	GError *error;
} TestCtl;

static void
test_ctl_request_run(gpointer user_data)
{
	TestCtl *c = user_data;
	g_autoptr(VbCtlClient) client = vb_ctl_client_new(c->socket_path);

	c->result = vb_ctl_client_request(client, c->method, c->path, c->body, &c->error);
}

static gboolean
test_ctl_line_cb(JsonNode *line, gpointer user_data)
{
	TestCtl *c = user_data;

	g_ptr_array_add(c->lines, json_node_ref(line));
	return c->stop_after == 0 || c->lines->len < c->stop_after;
}

static void
test_ctl_stream_run(gpointer user_data)
{
	TestCtl *c = user_data;
	g_autoptr(VbCtlClient) client = vb_ctl_client_new(c->socket_path);

	c->ok = vb_ctl_client_stream(client, c->path, test_ctl_line_cb, c, NULL, &c->error);
}

static void
test_ctl_request(Fixture *f, gconstpointer user_data)
{
	TestCtl health = {f->socket_path, "GET", "/healthz"};
	TestCtl echo = {f->socket_path, "POST", "/v1/echo"};
	g_autoptr(JsonNode) health_result = NULL;
	g_autoptr(JsonNode) echo_result = NULL;
	g_autoptr(JsonNode) body = json_from_string("{\"door\": \"front\"}", NULL);

	test_run_in_thread(test_ctl_request_run, &health);
	g_assert_no_error(health.error);
	health_result = health.result;
	g_assert_cmpstr(
	    json_object_get_string_member(json_node_get_object(health_result), "status"), ==, "ok");

	echo.body = body;
	test_run_in_thread(test_ctl_request_run, &echo);
	g_assert_no_error(echo.error);
	echo_result = echo.result;
	g_assert_true(json_node_equal(echo_result, body));
}

static void
test_ctl_error_mapping(Fixture *f, gconstpointer user_data)
{
	TestCtl fail = {f->socket_path, "GET", "/v1/fail"};
	TestCtl missing = {f->socket_path, "GET", "/v1/nothing"};
	TestCtl bad = {f->socket_path, "POST", "/v1/echo"};

	test_run_in_thread(test_ctl_request_run, &fail);
	g_assert_null(fail.result);
	g_assert_error(fail.error, VB_ERROR, VB_ERROR_CONFLICT);
	g_assert_cmpstr(fail.error->message, ==, "visit 42 is already settled: refund it instead");
	g_clear_error(&fail.error);

	test_run_in_thread(test_ctl_request_run, &missing);
	g_assert_error(missing.error, VB_ERROR, VB_ERROR_NOT_FOUND);
	g_assert_cmpstr(missing.error->message, ==,
			"there is nothing at /v1/nothing on the control listener: check the URL");
	g_clear_error(&missing.error);

	/* no body at all: the JSON check of the server says so */
	test_run_in_thread(test_ctl_request_run, &bad);
	g_assert_error(bad.error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_clear_error(&bad.error);
}

static void
test_ctl_unreachable(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *tmpdir = g_dir_make_tmp("vb-test-http-XXXXXX", &error);
	g_autofree gchar *missing = g_build_filename(tmpdir, "missing.sock", NULL);
	g_autofree gchar *stale = g_build_filename(tmpdir, "stale.sock", NULL);
	g_autofree gchar *expected = NULL;
	g_autofree gchar *expected2 = NULL;
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(stale);
	g_autoptr(GSocket) dead = NULL;
	TestCtl c = {missing, "GET", "/healthz"};
	TestCtl c2 = {stale, "GET", "/healthz"};

	g_assert_no_error(error);
	/* nothing serves here, so a plain call in this thread is fine */
	test_ctl_request_run(&c);
	g_assert_null(c.result);
	g_assert_error(c.error, VB_ERROR, VB_ERROR_UNREACHABLE);
	expected = g_strdup_printf("cannot reach vestibuled at %s: is it running? "
				   "(No such file or directory)",
				   missing);
	g_assert_cmpstr(c.error->message, ==, expected);
	g_clear_error(&c.error);

	dead = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, &error);
	g_assert_no_error(error);
	g_socket_bind(dead, address, FALSE, &error);
	g_assert_no_error(error);
	g_socket_close(dead, NULL);
	test_ctl_request_run(&c2);
	g_assert_error(c2.error, VB_ERROR, VB_ERROR_UNREACHABLE);
	expected2 = g_strdup_printf("cannot reach vestibuled at %s: is it running? "
				    "(Connection refused)",
				    stale);
	g_assert_cmpstr(c2.error->message, ==, expected2);
	g_clear_error(&c2.error);
	vb_test_remove_tree(tmpdir);
}

static void
test_ctl_stream(Fixture *f, gconstpointer user_data)
{
	TestCtl c = {f->socket_path, "GET", "/v1/events?follow=1"};
	g_autoptr(GPtrArray) lines =
	    g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);

	c.lines = lines;
	test_run_in_thread(test_ctl_stream_run, &c);
	g_assert_no_error(c.error);
	g_assert_true(c.ok);
	g_assert_cmpuint(lines->len, ==, 3);
	for (guint i = 0; i < lines->len; i++) {
		JsonObject *obj = json_node_get_object(g_ptr_array_index(lines, i));
		g_assert_cmpint(json_object_get_int_member(obj, "n"), ==, i + 1);
	}
}

static void
test_ctl_stream_stop(Fixture *f, gconstpointer user_data)
{
	TestCtl c = {f->socket_path, "GET", "/v1/events?follow=1"};
	TestCtl err = {f->socket_path, "GET", "/v1/fail"};
	g_autoptr(GPtrArray) lines =
	    g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);

	c.lines = lines;
	c.stop_after = 1;
	test_run_in_thread(test_ctl_stream_run, &c);
	g_assert_no_error(c.error);
	g_assert_true(c.ok);
	g_assert_cmpuint(lines->len, ==, 1);

	/* an error answer instead of a stream */
	err.lines = lines;
	test_run_in_thread(test_ctl_stream_run, &err);
	g_assert_false(err.ok);
	g_assert_error(err.error, VB_ERROR, VB_ERROR_CONFLICT);
	g_clear_error(&err.error);

	/* let the server notice the closed stream before the fixture goes */
	for (guint i = 0; i < 10; i++) {
		g_usleep(10000);
		while (g_main_context_iteration(NULL, FALSE))
			;
	}
	test_assert_still_serving(f);
}

static void
test_metrics_render(void)
{
	g_autoptr(VbMetrics) metrics = vb_metrics_new();
	g_autofree gchar *text = NULL;
	g_autofree gchar *text2 = NULL;

	vb_metrics_declare(metrics, "vestibule_visits_total", VB_METRIC_COUNTER, "Visits started");
	vb_metrics_declare(metrics, "vestibule_doors_open", VB_METRIC_GAUGE,
			   "Doors open\nnow \\ here");
	vb_metrics_declare(metrics, "vestibule_empty_total", VB_METRIC_COUNTER, "Never counted");
	vb_metrics_add(metrics, "vestibule_visits_total", "door=\"side\"", 1);
	vb_metrics_add(metrics, "vestibule_visits_total", "door=\"front\"", 2);
	vb_metrics_add(metrics, "vestibule_visits_total", "door=\"front\"", 1);
	vb_metrics_set(metrics, "vestibule_doors_open", NULL, 0.5);
	/* as few digits as read back the same: what a person reading the
	 * scrape expects, and what Prometheus parses to the same value */
	vb_metrics_declare(metrics, "vestibule_ratio", VB_METRIC_GAUGE, "");
	vb_metrics_set(metrics, "vestibule_ratio", "of=\"cpu\"", 0.03);
	vb_metrics_set(metrics, "vestibule_ratio", "of=\"sum\"", 0.1 + 0.2);
	vb_metrics_set(metrics, "vestibule_ratio", "of=\"start\"", 1795474754.61);
	g_assert_cmpfloat(vb_metrics_get(metrics, "vestibule_visits_total", "door=\"front\""), ==,
			  3);
	g_assert_cmpfloat(vb_metrics_get(metrics, "vestibule_visits_total", "door=\"back\""), ==,
			  0);
	g_assert_cmpfloat(vb_metrics_get(metrics, "vestibule_nothing", NULL), ==, 0);

	text = vb_metrics_render(metrics);
	g_assert_cmpstr(text, ==,
			"# HELP vestibule_doors_open Doors open\\nnow \\\\ here\n"
			"# TYPE vestibule_doors_open gauge\n"
			"vestibule_doors_open 0.5\n"
			"# HELP vestibule_empty_total Never counted\n"
			"# TYPE vestibule_empty_total counter\n"
			"# TYPE vestibule_ratio gauge\n"
			"vestibule_ratio{of=\"cpu\"} 0.03\n"
			"vestibule_ratio{of=\"start\"} 1795474754.61\n"
			"vestibule_ratio{of=\"sum\"} 0.30000000000000004\n"
			"# HELP vestibule_visits_total Visits started\n"
			"# TYPE vestibule_visits_total counter\n"
			"vestibule_visits_total{door=\"front\"} 3\n"
			"vestibule_visits_total{door=\"side\"} 1\n");

	/* an undeclared metric is a bug: say so once, and keep counting */
	g_test_expect_message("test", G_LOG_LEVEL_WARNING,
			      "*vestibule_oops_total*vb_metrics_declare*");
	vb_metrics_add(metrics, "vestibule_oops_total", NULL, 1);
	g_test_assert_expected_messages();
	vb_metrics_add(metrics, "vestibule_oops_total", NULL, 1);
	g_assert_cmpfloat(vb_metrics_get(metrics, "vestibule_oops_total", NULL), ==, 2);

	/* a counter never goes down */
	g_test_expect_message("test", G_LOG_LEVEL_WARNING, "*counter vestibule_visits_total*");
	vb_metrics_add(metrics, "vestibule_visits_total", "door=\"side\"", -1);
	g_test_assert_expected_messages();
	text2 = vb_metrics_render(metrics);
	g_assert_nonnull(strstr(text2, "vestibule_visits_total{door=\"side\"} 1\n"));
	g_assert_nonnull(
	    strstr(text2, "# TYPE vestibule_oops_total counter\nvestibule_oops_total 2\n"));
}

/* a value from outside (an instance name, a path) holding a double quote, a
 * backslash and a newline is escaped as the text format wants, and the scrape
 * reads back the value as it was */
static void
test_metrics_labels(void)
{
	const gchar *odd = "front \"door\"\\ne\nxt";
	g_autoptr(VbMetrics) metrics = vb_metrics_new();
	g_autoptr(VbTestExposition) scrape = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *labels = NULL;
	g_autofree gchar *text = NULL;
	VbTestSample *sample;

	labels = vb_metrics_labels("instance", odd, "kind", "sms", NULL);
	g_assert_cmpstr(labels, ==, "instance=\"front \\\"door\\\"\\\\ne\\nxt\",kind=\"sms\"");

	vb_metrics_declare(metrics, "vestibule_doors_total", VB_METRIC_COUNTER, "Doors");
	vb_metrics_add(metrics, "vestibule_doors_total", labels, 2);
	g_assert_cmpfloat(vb_metrics_get(metrics, "vestibule_doors_total", labels), ==, 2);
	/* a missing value is an empty one, and bytes that are not UTF-8 are replaced */
	{
		g_autofree gchar *more =
		    vb_metrics_labels("instance", NULL, "kind", "\xff\xfeok", NULL);
		g_assert_cmpstr(more, ==, "instance=\"\",kind=\"\xef\xbf\xbd\xef\xbf\xbdok\"");
		vb_metrics_add(metrics, "vestibule_doors_total", more, 1);
	}

	text = vb_metrics_render(metrics);
	g_assert_nonnull(strstr(
	    text,
	    "vestibule_doors_total{instance=\"front \\\"door\\\"\\\\ne\\nxt\",kind=\"sms\"} 2\n"));
	scrape = vb_test_exposition_parse(text, &error);
	g_assert_no_error(error);
	g_assert_nonnull(scrape);
	g_assert_cmpstr(g_hash_table_lookup(scrape->types, "vestibule_doors_total"), ==, "counter");
	sample = vb_test_exposition_find(scrape, "vestibule_doors_total", "instance", odd, "kind",
					 "sms", NULL);
	g_assert_nonnull(sample);
	g_assert_cmpfloat(sample->value, ==, 2);
	g_assert_cmpuint(scrape->samples->len, ==, 2);

	/* the same escaping, hand-written wrong, would break the whole scrape */
	{
		g_autoptr(VbTestExposition) broken = NULL;
		g_autoptr(GError) parse_error = NULL;

		broken = vb_test_exposition_parse("# TYPE x_total counter\n"
						  "x_total{instance=\"front \"door\"\"} 1\n",
						  &parse_error);
		g_assert_null(broken);
		g_assert_error(parse_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	}
}

/* names and labels that Prometheus would refuse are repaired or refused,
 * and the scrape still parses */
static void
test_metrics_names(void)
{
	g_autoptr(VbMetrics) metrics = vb_metrics_new();
	g_autoptr(VbTestExposition) scrape = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;
	const gchar *bad_names[] = {"vestibule-doors", "vestibule:doors", "9doors", "__doors", "",
				    "vestibule doors"};
	/* no quotes, a quote or a backslash unescaped, a raw newline, a name given
	 * twice or invalid, a trailing comma, bytes that are not UTF-8 */
	const gchar *bad_labels[] = {
	    "door=front",    "door=\"a\"b\"",	      "door=\"a\\x\"",
	    "door=\"a\nb\"", "door=\"a\",door=\"b\"", "9door=\"a\"",
	    "door=\"a\",",   "door-x=\"a\"",	      "door=\"\xff\"",
	};

	vb_metrics_declare(metrics, "vestibule_doors_total", VB_METRIC_COUNTER, "Doors");
	for (guint i = 0; i < G_N_ELEMENTS(bad_names); i++) {
		g_test_expect_message("test", G_LOG_LEVEL_CRITICAL, "*vb_metrics_name_is_valid*");
		vb_metrics_declare(metrics, bad_names[i], VB_METRIC_COUNTER, "Doors");
		g_test_assert_expected_messages();
		g_test_expect_message("test", G_LOG_LEVEL_CRITICAL, "*vb_metrics_name_is_valid*");
		vb_metrics_add(metrics, bad_names[i], NULL, 1);
		g_test_assert_expected_messages();
	}
	for (guint i = 0; i < G_N_ELEMENTS(bad_labels); i++) {
		g_test_expect_message("test", G_LOG_LEVEL_CRITICAL,
				      "*vb_metrics_labels_are_valid*");
		vb_metrics_add(metrics, "vestibule_doors_total", bad_labels[i], 1);
		g_test_assert_expected_messages();
		g_test_expect_message("test", G_LOG_LEVEL_CRITICAL,
				      "*vb_metrics_labels_are_valid*");
		vb_metrics_set(metrics, "vestibule_doors_total", bad_labels[i], 1);
		g_test_assert_expected_messages();
	}

	/* the helper repairs a label name, and keeps the first of a name given twice */
	{
		g_autofree gchar *labels = NULL;

		g_test_expect_message("test", G_LOG_LEVEL_WARNING, "*'door-x'*'door_x'*");
		g_test_expect_message("test", G_LOG_LEVEL_WARNING, "*'9x'*'_9x'*");
		g_test_expect_message("test", G_LOG_LEVEL_WARNING, "*'__x'*'_x'*");
		g_test_expect_message("test", G_LOG_LEVEL_WARNING, "*door_x*twice*");
		labels =
		    vb_metrics_labels("door-x", "a", "9x", "b", "__x", "c", "door_x", "d", NULL);
		g_test_assert_expected_messages();
		g_assert_cmpstr(labels, ==, "door_x=\"a\",_9x=\"b\",_x=\"c\"");
		vb_metrics_add(metrics, "vestibule_doors_total", labels, 1);
	}

	text = vb_metrics_render(metrics);
	scrape = vb_test_exposition_parse(text, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_hash_table_size(scrape->types), ==, 1);
	g_assert_cmpuint(scrape->samples->len, ==, 1);
	g_assert_nonnull(vb_test_exposition_find(scrape, "vestibule_doors_total", "door_x", "a",
						 "_9x", "b", "_x", "c", NULL));
}

typedef struct {
	VbMetrics *metrics;
	guint n;
} TestCountThread;

static gpointer
test_metrics_count_thread(gpointer user_data)
{
	TestCountThread *t = user_data;

	for (guint i = 0; i < t->n; i++)
		vb_metrics_add(t->metrics, "vestibule_threads_total", "t=\"x\"", 1);
	return NULL;
}

static void
test_metrics_threads(void)
{
	g_autoptr(VbMetrics) metrics = vb_metrics_new();
	TestCountThread t = {metrics, 10000};
	GThread *threads[4];

	vb_metrics_declare(metrics, "vestibule_threads_total", VB_METRIC_COUNTER,
			   "Counted by threads");
	for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
		threads[i] = g_thread_new("count", test_metrics_count_thread, &t);
	for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
		g_thread_join(threads[i]);
	g_assert_cmpfloat(vb_metrics_get(metrics, "vestibule_threads_total", "t=\"x\""), ==, 40000);
}

/* what a peer's Retry-After turns into: seconds, an HTTP date, nonsense */
static void
test_retry_after(void)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autoptr(GDateTime) later = g_date_time_add_seconds(now, 121);
	g_autoptr(GDateTime) earlier = g_date_time_add_seconds(now, -60);
	g_autoptr(GDateTime) next_week = g_date_time_add_days(now, 7);
	g_autofree gchar *later_str = g_date_time_format(later, "%a, %d %b %Y %H:%M:%S GMT");
	g_autofree gchar *earlier_str = g_date_time_format(earlier, "%a, %d %b %Y %H:%M:%S GMT");
	g_autofree gchar *week_str = g_date_time_format(next_week, "%a, %d %b %Y %H:%M:%S GMT");

	g_assert_cmpuint(vb_http_parse_retry_after(NULL), ==, 0);
	g_assert_cmpuint(vb_http_parse_retry_after(""), ==, 0);
	g_assert_cmpuint(vb_http_parse_retry_after("soon"), ==, 0);
	g_assert_cmpuint(vb_http_parse_retry_after("-5"), ==, 0);
	g_assert_cmpuint(vb_http_parse_retry_after("0"), ==, 0);
	g_assert_cmpuint(vb_http_parse_retry_after("3"), ==, 3000);
	/* longer than the outbox's longest backoff: an hour */
	g_assert_cmpuint(vb_http_parse_retry_after("86400"), ==, VB_HTTP_RETRY_AFTER_MAX_MS);
	g_assert_cmpuint(vb_http_parse_retry_after("99999999999999999999999"), ==, 0);
	g_assert_cmpuint(vb_http_parse_retry_after(later_str), >=, 118000);
	g_assert_cmpuint(vb_http_parse_retry_after(later_str), <=, 121000);
	g_assert_cmpuint(vb_http_parse_retry_after(earlier_str), ==, 1);
	g_assert_cmpuint(vb_http_parse_retry_after(week_str), ==, VB_HTTP_RETRY_AFTER_MAX_MS);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	test_count_sockets();

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("/http/healthz/both-listeners", test_healthz);
	ADD("/http/routing/not-found", test_not_found);
	ADD("/http/routing/prefix-and-query", test_prefix_and_query);
	ADD("/http/routing/remove-handler", test_remove_handler);
	ADD("/http/auth/missing-token", test_auth_missing_token);
	ADD("/http/auth/wrong-token", test_auth_wrong_token);
	ADD("/http/auth/wrong-scope", test_auth_wrong_scope);
	ADD("/http/auth/good-token", test_auth_good_token);
	ADD("/http/auth/hashed-only", test_auth_hashed_only);
	ADD("/http/metrics/public-needs-token", test_metrics_public_needs_token);
	ADD("/http/metrics/control", test_metrics_control);
	ADD("/http/metrics/process", test_metrics_process);
	ADD("/http/json/bad-syntax", test_json_bad_syntax);
	ADD("/http/json/content-type", test_json_content_type);
	ADD("/http/json/good", test_json_good);
	ADD("/http/json/too-deep", test_json_too_deep);
	ADD("/http/limits/content-length", test_limits_content_length);
	ADD("/http/limits/expect-continue", test_limits_expect_continue);
	ADD("/http/limits/chunked", test_limits_chunked);
	ADD("/http/limits/body-soup", test_limits_body_soup);
	ADD("/http/limits/headers", test_limits_headers);
	ADD("/http/public/listen", test_public_listen);
	ADD("/http/connections-freed", test_connections_freed);
	ADD("/http/control/socket-mode", test_control_socket_mode);
	ADD("/http/control/socket-umask", test_control_socket_umask);
	ADD("/http/control/stale-socket", test_control_stale_socket);
	ADD("/http/control/live-socket", test_control_live_socket);
	ADD("/http/control/not-a-socket", test_control_not_a_socket);
	ADD("/http/control/not-on-tcp", test_control_not_on_tcp);
	ADD("/http/ctl/request", test_ctl_request);
	ADD("/http/ctl/error-mapping", test_ctl_error_mapping);
	ADD("/http/ctl/stream", test_ctl_stream);
	ADD("/http/ctl/stream-stop", test_ctl_stream_stop);
#undef ADD
	g_test_add_func("/http/ctl/unreachable", test_ctl_unreachable);
	g_test_add_func("/http/reply/gerror", test_reply_gerror);
	g_test_add_func("/http/metrics/render", test_metrics_render);
	g_test_add_func("/http/metrics/threads", test_metrics_threads);
	g_test_add_func("/http/metrics/labels", test_metrics_labels);
	g_test_add_func("/http/metrics/names", test_metrics_names);
	g_test_add_func("/http/retry-after", test_retry_after);
	return g_test_run();
}
