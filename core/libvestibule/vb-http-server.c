/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the server object: its two endpoints, each with its own SoupServer, the
 * built-in /healthz and /metrics, the public URL and the request limits. The
 * other parts are in vb-http-*.c */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-http-server-internal.h"

/**
 * VbHttpServer:
 *
 * The one HTTP server of the core. It has two listeners: a public TCP one for
 * receipt pages, provider webhooks and the order API, and a control one on a
 * Unix socket that `vestibulectl` uses. Plugins add handlers to either.
 *
 * Every request goes through one wrapper that enforces the size limits,
 * checks the bearer token of handlers registered with a scope, answers
 * unknown paths with a JSON 404 and counts the request in the metrics.
 *
 * Since: 0.1
 */

#define VB_HTTP_DEFAULT_MAX_BODY_BYTES (1024 * 1024)
#define VB_HTTP_DEFAULT_MAX_HEADER_BYTES (16 * 1024)

G_DEFINE_TYPE(VbHttpServer, vb_http_server, G_TYPE_OBJECT)

static void
vb_http_server_healthz_cb(VbHttpServer *self,
			  SoupServerMessage *msg,
			  const gchar *path,
			  GHashTable *query,
			  gpointer user_data)
{
	g_autoptr(JsonBuilder) builder = NULL;
	g_autoptr(JsonNode) root = NULL;
	const gchar *method = soup_server_message_get_method(msg);

	if (g_strcmp0(path, "/healthz") != 0) {
		vb_http_reply_error(msg, SOUP_STATUS_NOT_FOUND,
				    vb_error_to_code(VB_ERROR_NOT_FOUND),
				    _("there is nothing at %s: check the URL"), path);
		return;
	}
	if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
		soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
					     "GET, HEAD");
		vb_http_reply_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
				    vb_error_to_code(VB_ERROR_NOT_SUPPORTED),
				    _("%s is not supported on %s: use GET"), method, path);
		return;
	}
	builder = json_builder_new_immutable();
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "status");
	json_builder_add_string_value(builder, "ok");
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	vb_http_reply_json(msg, SOUP_STATUS_OK, root);
}

static void
vb_http_server_metrics_cb(VbHttpServer *self,
			  SoupServerMessage *msg,
			  const gchar *path,
			  GHashTable *query,
			  gpointer user_data)
{
	const gchar *method = soup_server_message_get_method(msg);
	gchar *text;

	if (g_strcmp0(path, "/metrics") != 0) {
		vb_http_reply_error(msg, SOUP_STATUS_NOT_FOUND,
				    vb_error_to_code(VB_ERROR_NOT_FOUND),
				    _("there is nothing at %s: check the URL"), path);
		return;
	}
	if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
		soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
					     "GET, HEAD");
		vb_http_reply_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
				    vb_error_to_code(VB_ERROR_NOT_SUPPORTED),
				    _("%s is not supported on %s: use GET"), method, path);
		return;
	}
	vb_metrics_sample_process(self->metrics);
	text = vb_metrics_render(self->metrics);
	soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
	soup_server_message_set_response(msg, "text/plain; version=0.0.4; charset=utf-8",
					 SOUP_MEMORY_TAKE, text, strlen(text));
}

/**
 * vb_http_server_get_public_url:
 * @self: a #VbHttpServer
 *
 * Gets the base URL at which providers reach the public listener, to build
 * callback and receipt URLs. It is the configured URL or, failing that, the
 * address the public listener is bound to.
 *
 * Returns: (nullable): a URL without a trailing slash, or %NULL if unknown
 *
 * Since: 0.1
 */
const gchar *
vb_http_server_get_public_url(VbHttpServer *self)
{
	g_return_val_if_fail(VB_IS_HTTP_SERVER(self), NULL);

	if (self->public_url != NULL)
		return self->public_url;
	return self->listen_url;
}

/**
 * vb_http_server_set_public_url:
 * @self: a #VbHttpServer
 * @url: (nullable): the base URL, such as `https://store.example.com`
 *
 * Sets the base URL that vb_http_server_get_public_url() returns.
 *
 * Since: 0.1
 */
void
vb_http_server_set_public_url(VbHttpServer *self, const gchar *url)
{
	g_return_if_fail(VB_IS_HTTP_SERVER(self));

	g_free(self->public_url);
	self->public_url = NULL;
	if (url != NULL && url[0] != '\0') {
		gsize len = strlen(url);

		while (len > 1 && url[len - 1] == '/')
			len--;
		self->public_url = g_strndup(url, len);
	}
}

/**
 * vb_http_server_set_limits:
 * @self: a #VbHttpServer
 * @max_body_bytes: the largest request body accepted, answered with 413 above
 * @max_header_bytes: the largest sum of header names and values, answered with
 *   431 above
 *
 * Sets the request limits of both listeners. Whatever is set here, libsoup
 * itself drops a connection whose request head exceeds 64 KiB.
 *
 * Since: 0.1
 */
void
vb_http_server_set_limits(VbHttpServer *self, gsize max_body_bytes, gsize max_header_bytes)
{
	g_return_if_fail(VB_IS_HTTP_SERVER(self));

	self->max_body_bytes = max_body_bytes;
	self->max_header_bytes = max_header_bytes;
}

static void
vb_http_endpoint_init(VbHttpEndpoint *ep, VbHttpServer *self, VbHttpListener listener)
{
	ep->self = self;
	ep->listener = listener;
	ep->name = listener == VB_HTTP_LISTENER_PUBLIC ? "public" : "control";
	ep->routes = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, vb_http_route_release);
	/* libsoup would answer a path it cannot decode (an escaped NUL, or an
	 * escaped '/' that makes a '..' segment) with a bare 400 before any
	 * handler runs; we decode it ourselves, to answer with a body */
	ep->soup = soup_server_new("raw-paths", TRUE, NULL);
	soup_server_add_handler(ep->soup, NULL, vb_http_server_soup_cb, ep, NULL);
	g_signal_connect(ep->soup, "request-started", G_CALLBACK(vb_http_server_request_started_cb),
			 ep);
	g_signal_connect(ep->soup, "request-finished",
			 G_CALLBACK(vb_http_server_request_finished_cb), ep);
	g_signal_connect(ep->soup, "request-aborted",
			 G_CALLBACK(vb_http_server_request_finished_cb), ep);
}

/**
 * vb_http_server_new:
 * @store: the store that holds the bearer tokens
 * @metrics: the metrics that requests are counted in and `/metrics` shows
 *
 * Creates the server with its built-in handlers: `GET /healthz` on both
 * listeners, and `GET /metrics` on the control listener without a token and on
 * the public listener with a token of scope `metrics`.
 *
 * Returns: (transfer full): a new #VbHttpServer, not listening yet
 *
 * Since: 0.1
 */
VbHttpServer *
vb_http_server_new(VbStore *store, VbMetrics *metrics)
{
	VbHttpServer *self;

	g_return_val_if_fail(VB_IS_STORE(store), NULL);
	g_return_val_if_fail(VB_IS_METRICS(metrics), NULL);

	self = g_object_new(VB_TYPE_HTTP_SERVER, NULL);
	self->store = g_object_ref(store);
	self->metrics = g_object_ref(metrics);
	vb_metrics_declare(metrics, VB_HTTP_METRIC_REQUESTS, VB_METRIC_COUNTER,
			   "HTTP requests answered, by listener and status code");
	vb_metrics_declare(metrics, VB_HTTP_METRIC_AUTH_FAILURES, VB_METRIC_COUNTER,
			   "HTTP requests refused for a missing or wrong bearer token");

	/* one SoupServer per listener rather than one with two listeners: libsoup
	 * routes by path only, so with a single server a control handler would
	 * also answer on the TCP port. Separate servers make that impossible. */
	for (guint i = 0; i < G_N_ELEMENTS(self->endpoints); i++) {
		vb_http_endpoint_init(&self->endpoints[i], self, i);
		vb_http_server_add_handler(self, i, "/healthz", NULL, vb_http_server_healthz_cb,
					   NULL, NULL);
	}
	vb_http_server_add_handler(self, VB_HTTP_LISTENER_CONTROL, "/metrics", NULL,
				   vb_http_server_metrics_cb, NULL, NULL);
	vb_http_server_add_handler(self, VB_HTTP_LISTENER_PUBLIC, "/metrics", "metrics",
				   vb_http_server_metrics_cb, NULL, NULL);
	return self;
}

static void
vb_http_server_dispose(GObject *object)
{
	VbHttpServer *self = VB_HTTP_SERVER(object);

	for (guint i = 0; i < G_N_ELEMENTS(self->endpoints); i++) {
		VbHttpEndpoint *ep = &self->endpoints[i];

		if (ep->soup != NULL)
			g_signal_handlers_disconnect_by_data(ep->soup, ep);
	}
	vb_http_server_disconnect(self);
	for (guint i = 0; i < G_N_ELEMENTS(self->endpoints); i++) {
		VbHttpEndpoint *ep = &self->endpoints[i];

		g_clear_object(&ep->soup);
		g_clear_pointer(&ep->routes, g_hash_table_unref);
	}
	g_clear_pointer(&self->lingers, g_ptr_array_unref);
	g_clear_object(&self->store);
	g_clear_object(&self->metrics);
	G_OBJECT_CLASS(vb_http_server_parent_class)->dispose(object);
}

static void
vb_http_server_finalize(GObject *object)
{
	VbHttpServer *self = VB_HTTP_SERVER(object);

	g_free(self->public_url);
	g_free(self->listen_url);
	g_free(self->control_path);
	G_OBJECT_CLASS(vb_http_server_parent_class)->finalize(object);
}

static void
vb_http_server_init(VbHttpServer *self)
{
	self->max_body_bytes = VB_HTTP_DEFAULT_MAX_BODY_BYTES;
	self->max_header_bytes = VB_HTTP_DEFAULT_MAX_HEADER_BYTES;
	self->lingers = g_ptr_array_new_with_free_func(vb_http_linger_free);
}

static void
vb_http_server_class_init(VbHttpServerClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = vb_http_server_dispose;
	object_class->finalize = vb_http_server_finalize;
}
