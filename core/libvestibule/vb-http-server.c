/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "vb-error.h"
#include "vb-http-server-private.h"
#include "vb-metrics-private.h"
#include "vb-store-private.h"

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
/* json-glib 1.6 parses recursively and overflows the stack on deep nesting */
#define VB_HTTP_MAX_JSON_DEPTH 64
/* after an early rejection, how long and how much we read and discard so that
 * the peer gets our answer instead of a connection reset */
#define VB_HTTP_LINGER_TIMEOUT_MS 2000
#define VB_HTTP_LINGER_MAX_BYTES (256 * 1024)

#define VB_HTTP_REQUEST_DATA "vb-http-request"
#define VB_HTTP_MEDIA_TYPE_REFUSED "vb-http-media-type-refused"
#define VB_HTTP_METRIC_REQUESTS "vb_http_requests_total"
#define VB_HTTP_METRIC_AUTH_FAILURES "vb_http_auth_failures_total"

typedef struct {
	gchar *path;
	gchar *scope;
	VbHttpHandler handler;
	gpointer user_data;
	GDestroyNotify destroy;
} VbHttpRoute;

typedef struct {
	VbHttpServer *self;
	VbHttpListener listener;
	const gchar *name;
	SoupServer *soup;
	GHashTable *routes;	 /* path -> VbHttpRoute, refcounted */
	GSocketService *service; /* accepts the connections, once listening */
	guint port;		 /* the TCP port it listens on, or 0 */
} VbHttpEndpoint;

/* per request, attached to the SoupServerMessage */
typedef struct {
	VbHttpEndpoint *ep;
	gsize body_bytes;
	gboolean rejected;
} VbHttpRequest;

/* a connection taken from libsoup to answer an oversized request early */
typedef struct {
	VbHttpServer *self;
	GIOStream *stream;
	GSocket *socket;
	GSource *read_source;
	GSource *timeout_source;
	gsize drained;
} VbHttpLinger;

struct _VbHttpServer {
	GObject parent_instance;
	VbStore *store;
	VbMetrics *metrics;
	VbHttpEndpoint endpoints[2];
	gsize max_body_bytes;
	gsize max_header_bytes;
	gchar *public_url;
	gchar *listen_url;
	gchar *control_path;
	dev_t control_dev;
	ino_t control_ino;
	GPtrArray *lingers;
};

G_DEFINE_TYPE(VbHttpServer, vb_http_server, G_TYPE_OBJECT)

static void
vb_http_route_clear(gpointer data)
{
	VbHttpRoute *route = data;

	if (route->destroy != NULL)
		route->destroy(route->user_data);
	g_free(route->path);
	g_free(route->scope);
}

static void
vb_http_route_release(gpointer data)
{
	g_rc_box_release_full(data, vb_http_route_clear);
}

static const gchar *
vb_http_status_phrase(guint status)
{
	/* libsoup 3.2 does not know 431 and would say "Unknown Error" */
	if (status == 431)
		return "Request Header Fields Too Large";
	return soup_status_get_phrase(status);
}

static gchar *
vb_http_error_to_json(const gchar *code, const gchar *message, gsize *len)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "code");
	json_builder_add_string_value(builder, code);
	json_builder_set_member_name(builder, "message");
	json_builder_add_string_value(builder, message);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	json_generator_set_root(generator, root);
	return json_generator_to_data(generator, len);
}

/**
 * vb_http_reply_json:
 * @msg: the request being answered
 * @status: the HTTP status, such as `SOUP_STATUS_OK`
 * @node: the JSON answer
 *
 * Sets @status and a body with the JSON text of @node and the content type
 * `application/json`.
 *
 * Since: 0.1
 */
void
vb_http_reply_json(SoupServerMessage *msg, guint status, JsonNode *node)
{
	g_autoptr(JsonGenerator) generator = json_generator_new();
	gchar *data;
	gsize len = 0;

	g_return_if_fail(SOUP_IS_SERVER_MESSAGE(msg));
	g_return_if_fail(node != NULL);

	json_generator_set_root(generator, node);
	data = json_generator_to_data(generator, &len);
	soup_server_message_set_status(msg, status, vb_http_status_phrase(status));
	soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, data, len);
}

static void
vb_http_reply_error_literal(SoupServerMessage *msg,
			    guint status,
			    const gchar *code,
			    const gchar *message)
{
	gsize len = 0;
	gchar *data = vb_http_error_to_json(code, message, &len);

	soup_server_message_set_status(msg, status, vb_http_status_phrase(status));
	soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, data, len);
}

/**
 * vb_http_reply_error:
 * @msg: the request being answered
 * @status: the HTTP status, such as `SOUP_STATUS_BAD_REQUEST`
 * @code: a stable, machine-readable code such as `invalid-data`
 * @format: a printf() format for a message that says what to do
 * @...: the arguments of @format
 *
 * Answers with the JSON error body `{"code": CODE, "message": MESSAGE}`.
 *
 * Since: 0.1
 */
void
vb_http_reply_error(SoupServerMessage *msg,
		    guint status,
		    const gchar *code,
		    const gchar *format,
		    ...)
{
	g_autofree gchar *message = NULL;
	va_list args;

	g_return_if_fail(SOUP_IS_SERVER_MESSAGE(msg));
	g_return_if_fail(code != NULL);
	g_return_if_fail(format != NULL);

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	vb_http_reply_error_literal(msg, status, code, message);
}

static guint
vb_http_status_for_error(SoupServerMessage *msg, const GError *error)
{
	if (error->domain != VB_ERROR)
		return SOUP_STATUS_INTERNAL_SERVER_ERROR;
	switch (error->code) {
	case VB_ERROR_INVALID_DATA:
		/* set by vb_http_parse_json_body() for a body that is not JSON at all */
		if (g_object_get_data(G_OBJECT(msg), VB_HTTP_MEDIA_TYPE_REFUSED) != NULL)
			return SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE;
		return SOUP_STATUS_BAD_REQUEST;
	case VB_ERROR_UNAUTHORIZED:
		return SOUP_STATUS_UNAUTHORIZED;
	case VB_ERROR_PERMISSION_DENIED:
		return SOUP_STATUS_FORBIDDEN;
	case VB_ERROR_NOT_FOUND:
		return SOUP_STATUS_NOT_FOUND;
	case VB_ERROR_CONFLICT:
		return SOUP_STATUS_CONFLICT;
	case VB_ERROR_TOO_LARGE:
		return SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE;
	case VB_ERROR_RATE_LIMITED:
		return 429;
	case VB_ERROR_UNREACHABLE:
		return SOUP_STATUS_SERVICE_UNAVAILABLE;
	case VB_ERROR_TIMED_OUT:
		return SOUP_STATUS_GATEWAY_TIMEOUT;
	default:
		return SOUP_STATUS_INTERNAL_SERVER_ERROR;
	}
}

/**
 * vb_http_reply_gerror:
 * @msg: the request being answered
 * @error: a #GError, usually in the #VB_ERROR domain
 *
 * Answers with a JSON error body whose `code` is vb_error_to_code() of @error
 * and whose `message` is the message of @error. The HTTP status follows the
 * code: `invalid-data` 400 (415 when vb_http_parse_json_body() refused the
 * content type), `unauthorized` 401, `permission-denied` 403, `not-found`
 * 404, `conflict` 409, `too-large` 413, `rate-limited` 429, `unreachable`
 * 503, `timed-out` 504 and anything else 500.
 *
 * Since: 0.1
 */
void
vb_http_reply_gerror(SoupServerMessage *msg, const GError *error)
{
	guint status;
	const gchar *code = "failed";

	g_return_if_fail(SOUP_IS_SERVER_MESSAGE(msg));
	g_return_if_fail(error != NULL);

	status = vb_http_status_for_error(msg, error);
	if (error->domain == VB_ERROR)
		code = vb_error_to_code(error->code);
	if (status == SOUP_STATUS_UNAUTHORIZED) {
		SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
		soup_message_headers_replace(headers, "WWW-Authenticate", "Bearer");
	}
	vb_http_reply_error_literal(msg, status, code, error->message);
}

/* counts [ and { outside strings; cheap compared with the parse itself */
static gboolean
vb_http_json_depth_is_valid(const gchar *data, gsize size)
{
	guint depth = 0;
	gboolean in_string = FALSE;

	for (gsize i = 0; i < size; i++) {
		gchar c = data[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = FALSE;
			continue;
		}
		if (c == '"') {
			in_string = TRUE;
		} else if (c == '[' || c == '{') {
			if (++depth > VB_HTTP_MAX_JSON_DEPTH)
				return FALSE;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return TRUE;
}

/**
 * vb_http_parse_json_body:
 * @msg: the request
 * @error: return location for a #GError
 *
 * Parses the request body as JSON. The request must have the content type
 * `application/json`; if not, the error makes vb_http_reply_gerror() answer
 * 415. A syntax error gives a message with the line and column.
 *
 * Returns: (transfer full): the root node, or %NULL with @error set to
 *   %VB_ERROR_INVALID_DATA
 *
 * Since: 0.1
 */
JsonNode *
vb_http_parse_json_body(SoupServerMessage *msg, GError **error)
{
	SoupMessageHeaders *headers;
	const gchar *content_type;
	const gchar *data;
	gsize size = 0;
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) error_local = NULL;
	JsonNode *root;

	g_return_val_if_fail(SOUP_IS_SERVER_MESSAGE(msg), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	headers = soup_server_message_get_request_headers(msg);
	content_type = soup_message_headers_get_content_type(headers, NULL);
	if (content_type == NULL || g_ascii_strcasecmp(content_type, "application/json") != 0) {
		g_object_set_data(G_OBJECT(msg), VB_HTTP_MEDIA_TYPE_REFUSED, GINT_TO_POINTER(TRUE));
		if (content_type == NULL)
			g_set_error_literal(
			    error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the request body must be JSON sent with "
			      "'Content-Type: application/json'; the request has no "
			      "Content-Type"));
		else
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the request body must be JSON sent with "
				      "'Content-Type: application/json', not %s"),
				    content_type);
		return NULL;
	}

	bytes = soup_message_body_flatten(soup_server_message_get_request_body(msg));
	data = g_bytes_get_data(bytes, &size);
	if (!vb_http_json_depth_is_valid(data, size)) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the JSON in the request body is nested more than %u levels deep: "
			      "send a flatter document"),
			    (guint)VB_HTTP_MAX_JSON_DEPTH);
		return NULL;
	}
	if (!json_parser_load_from_data(parser, data, (gssize)size, &error_local)) {
		/* json-glib says "<data>:LINE:COLUMN: Parse error: ..."; keep LINE:COLUMN */
		const gchar *detail = error_local->message;

		if (g_str_has_prefix(detail, "<data>:"))
			detail += strlen("<data>:");
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the request body is not valid JSON at %s; fix it and send it again"),
			    detail);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the request body is empty: send a JSON document"));
		return NULL;
	}
	return json_node_ref(root);
}

static void
vb_http_server_count_request(VbHttpEndpoint *ep, guint status)
{
	g_autofree gchar *labels = NULL;

	labels = g_strdup_printf("listener=\"%s\",code=\"%u\"", ep->name, status);
	vb_metrics_add(ep->self->metrics, VB_HTTP_METRIC_REQUESTS, labels, 1);
}

static void
vb_http_linger_free(gpointer data)
{
	VbHttpLinger *linger = data;

	if (linger->read_source != NULL) {
		g_source_destroy(linger->read_source);
		g_source_unref(linger->read_source);
	}
	if (linger->timeout_source != NULL) {
		g_source_destroy(linger->timeout_source);
		g_source_unref(linger->timeout_source);
	}
	g_io_stream_close(linger->stream, NULL, NULL);
	g_object_unref(linger->stream);
	g_object_unref(linger->socket);
	g_free(linger);
}

static void
vb_http_linger_finish(VbHttpLinger *linger)
{
	/* frees @linger */
	g_ptr_array_remove_fast(linger->self->lingers, linger);
}

static gboolean
vb_http_linger_read_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
	VbHttpLinger *linger = user_data;

	while (linger->drained < VB_HTTP_LINGER_MAX_BYTES) {
		g_autoptr(GError) error = NULL;
		gchar buf[4096];
		gssize n;

		n = g_socket_receive_with_blocking(socket, buf, sizeof(buf), FALSE, NULL, &error);
		if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
			return G_SOURCE_CONTINUE;
		if (n <= 0)
			break;
		linger->drained += (gsize)n;
	}
	vb_http_linger_finish(linger);
	return G_SOURCE_REMOVE;
}

static gboolean
vb_http_linger_timeout_cb(gpointer user_data)
{
	vb_http_linger_finish(user_data);
	return G_SOURCE_REMOVE;
}

/* the socket under a connection that libsoup gave back: ours, which it
 * wraps when it took the connection from our listener, or the one it
 * accepted itself */
static GSocket *
vb_http_stream_get_socket(GIOStream *stream)
{
	if (G_IS_SOCKET_CONNECTION(stream))
		return g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream));
	if (g_object_class_find_property(G_OBJECT_GET_CLASS(stream), "base-iostream") != NULL) {
		g_autoptr(GIOStream) base = NULL;

		g_object_get(stream, "base-iostream", &base, NULL);
		if (G_IS_SOCKET_CONNECTION(base))
			return g_socket_connection_get_socket(G_SOCKET_CONNECTION(base));
	}
	return g_object_get_data(G_OBJECT(stream), "GSocket");
}

/* writes the whole answer and closes politely: shut down our side, then read and
 * discard what the peer still sends, because closing with unread data makes the
 * kernel send a reset that can destroy the answer before the peer reads it */
static void
vb_http_server_linger_start(VbHttpServer *self, GIOStream *stream, const gchar *data, gsize len)
{
	GSocket *socket = NULL;
	VbHttpLinger *linger;

	socket = vb_http_stream_get_socket(stream);
	if (socket == NULL) {
		g_io_stream_close(stream, NULL, NULL);
		return;
	}

	/* the answer is small and goes into an empty send buffer, so a non-blocking
	 * send takes all of it; a peer that stopped reading long ago loses the rest */
	while (len > 0) {
		gssize n = g_socket_send_with_blocking(socket, data, len, FALSE, NULL, NULL);

		if (n <= 0)
			break;
		data += n;
		len -= (gsize)n;
	}
	g_socket_shutdown(socket, FALSE, TRUE, NULL);

	linger = g_new0(VbHttpLinger, 1);
	linger->self = self;
	linger->stream = g_object_ref(stream);
	linger->socket = g_object_ref(socket);
	linger->read_source = g_socket_create_source(socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
	g_source_set_callback(linger->read_source, G_SOURCE_FUNC(vb_http_linger_read_cb), linger,
			      NULL);
	g_source_attach(linger->read_source, g_main_context_get_thread_default());
	linger->timeout_source = g_timeout_source_new(VB_HTTP_LINGER_TIMEOUT_MS);
	g_source_set_callback(linger->timeout_source, vb_http_linger_timeout_cb, linger, NULL);
	g_source_attach(linger->timeout_source, g_main_context_get_thread_default());
	g_ptr_array_add(self->lingers, linger);
}

/* libsoup 3.2 keeps reading the body even when a got-headers handler has set an
 * error status: the status only takes effect once the whole body has been read
 * (and kept in memory). To refuse a request as soon as we know it is too big,
 * take the connection away from libsoup and answer it ourselves. */
static void
vb_http_server_reject(VbHttpRequest *req,
		      SoupServerMessage *msg,
		      guint status,
		      const gchar *code,
		      const gchar *format,
		      ...) G_GNUC_PRINTF(5, 6);

static void
vb_http_server_reject(VbHttpRequest *req,
		      SoupServerMessage *msg,
		      guint status,
		      const gchar *code,
		      const gchar *format,
		      ...)
{
	VbHttpServer *self = req->ep->self;
	const gchar *remote = soup_server_message_get_remote_host(msg);
	/* keeps the message alive while its connection is taken over */
	g_autoptr(SoupServerMessage) msg_ref G_GNUC_UNUSED = g_object_ref(msg);
	g_autoptr(GIOStream) stream = NULL;
	g_autoptr(GString) response = g_string_new(NULL);
	g_autofree gchar *message = NULL;
	g_autofree gchar *body = NULL;
	gsize body_len = 0;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_debug("refusing %s %s from %s on the %s listener: %s",
		soup_server_message_get_method(msg),
		g_uri_get_path(soup_server_message_get_uri(msg)),
		remote != NULL ? remote : "a local client", req->ep->name, message);

	req->rejected = TRUE;
	body = vb_http_error_to_json(code, message, &body_len);
	g_string_append_printf(response,
			       "HTTP/1.1 %u %s\r\n"
			       "Content-Type: application/json\r\n"
			       "Content-Length: %" G_GSIZE_FORMAT "\r\n"
			       "Connection: close\r\n"
			       "\r\n",
			       status, vb_http_status_phrase(status), body_len);
	g_string_append_len(response, body, (gssize)body_len);
	soup_server_message_set_status(msg, status, vb_http_status_phrase(status));
	vb_http_server_count_request(req->ep, status);

	stream = soup_server_message_steal_connection(msg);
	if (stream == NULL)
		return;
	vb_http_server_linger_start(self, stream, response->str, response->len);
}

static void
vb_http_count_header_bytes(const char *name, const char *value, gpointer user_data)
{
	gsize *total = user_data;

	*total += strlen(name) + strlen(value);
}

static void
vb_http_server_got_headers_cb(SoupServerMessage *msg, gpointer user_data)
{
	VbHttpRequest *req = user_data;
	VbHttpServer *self = req->ep->self;
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	gsize header_bytes = 0;

	soup_message_headers_foreach(headers, vb_http_count_header_bytes, &header_bytes);
	if (header_bytes > self->max_header_bytes) {
		vb_http_server_reject(req, msg, 431, "too-large",
				      _("the request headers are %" PRIu64
					" bytes long, more than the limit of "
					"%" PRIu64 " bytes: send fewer or shorter headers"),
				      (guint64)header_bytes, (guint64)self->max_header_bytes);
		return;
	}

	/* a chunked body is counted as it arrives, in got-chunk */
	if (soup_message_headers_get_encoding(headers) == SOUP_ENCODING_CONTENT_LENGTH) {
		goffset length = soup_message_headers_get_content_length(headers);

		if (length > 0 && (guint64)length > self->max_body_bytes) {
			vb_http_server_reject(
			    req, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too-large",
			    _("the request body is %" PRId64 " bytes long, more than the "
			      "limit of %" PRIu64 " bytes: send a smaller body"),
			    (gint64)length, (guint64)self->max_body_bytes);
		}
	}
}

static void
vb_http_server_got_chunk_cb(SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
	VbHttpRequest *req = user_data;
	VbHttpServer *self = req->ep->self;

	if (req->rejected)
		return;
	req->body_bytes += g_bytes_get_size(chunk);
	if (req->body_bytes > self->max_body_bytes) {
		vb_http_server_reject(req, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too-large",
				      _("the request body is longer than the limit of %" PRIu64
					" bytes: send a smaller "
					"body"),
				      (guint64)self->max_body_bytes);
	}
}

/* libsoup before 3.3 never frees a kept-alive connection that its client
 * closes while the server waits for the next request: the socket stays in
 * CLOSE_WAIT, with its objects, one per connection, until the daemon runs
 * out of file descriptors and can no longer open its store. Fixed upstream
 * in 3.3.0; Debian 12 has 3.2. Our clients (webhooks, vestibulectl, a
 * shopper's browser opening a receipt) make a request or two per
 * connection, so on those versions each answer closes its connection */
static gboolean
vb_http_server_keepalive_leaks(void)
{
	return soup_get_major_version() == 3 && soup_get_minor_version() < 3;
}

static void
vb_http_server_request_started_cb(SoupServer *soup, SoupServerMessage *msg, gpointer user_data)
{
	VbHttpRequest *req = g_new0(VbHttpRequest, 1);

	req->ep = user_data;
	if (vb_http_server_keepalive_leaks())
		soup_message_headers_replace(soup_server_message_get_response_headers(msg),
					     "Connection", "close");
	g_object_set_data_full(G_OBJECT(msg), VB_HTTP_REQUEST_DATA, req, g_free);
	g_signal_connect(msg, "got-headers", G_CALLBACK(vb_http_server_got_headers_cb), req);
	g_signal_connect(msg, "got-chunk", G_CALLBACK(vb_http_server_got_chunk_cb), req);
}

static void
vb_http_server_request_finished_cb(SoupServer *soup, SoupServerMessage *msg, gpointer user_data)
{
	guint status = soup_server_message_get_status(msg);

	/* an aborted request that was never answered has no status to count */
	if (status != 0)
		vb_http_server_count_request(user_data, status);
}

/* exact path first, then the longest registered prefix that ends on a '/'
 * boundary: "/v1/sim" gets "/v1/sim/x" but not "/v1/simulator" */
static VbHttpRoute *
vb_http_endpoint_lookup(VbHttpEndpoint *ep, const gchar *path)
{
	g_autofree gchar *prefix = g_strdup(path);
	VbHttpRoute *route = g_hash_table_lookup(ep->routes, path);

	if (route != NULL)
		return route;
	for (gchar *slash = strrchr(prefix, '/'); slash != NULL; slash = strrchr(prefix, '/')) {
		slash[1] = '\0';
		route = g_hash_table_lookup(ep->routes, prefix);
		if (route != NULL)
			return route;
		slash[0] = '\0';
		if (prefix[0] == '\0')
			break;
		route = g_hash_table_lookup(ep->routes, prefix);
		if (route != NULL)
			return route;
	}
	return NULL;
}

static gboolean
vb_http_server_authorize(VbHttpServer *self,
			 VbHttpEndpoint *ep,
			 SoupServerMessage *msg,
			 const gchar *scope)
{
	SoupMessageHeaders *req_headers = soup_server_message_get_request_headers(msg);
	SoupMessageHeaders *resp_headers = soup_server_message_get_response_headers(msg);
	const gchar *header = soup_message_headers_get_one(req_headers, "Authorization");
	const gchar *token = NULL;
	g_autofree gchar *hash = NULL;
	g_autofree gchar *name = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *labels = NULL;

	if (header != NULL && g_ascii_strncasecmp(header, "Bearer ", strlen("Bearer ")) == 0) {
		token = header + strlen("Bearer ");
		while (*token == ' ')
			token++;
		if (*token == '\0')
			token = NULL;
	}
	if (token != NULL) {
		/* the token has 256 random bits, so looking up its hash leaks nothing
		 * that a timing attack could use */
		hash = vb_http_token_hash(token);
		name = vb_store_token_lookup(self->store, hash, scope, &error);
		if (name != NULL) {
			g_debug("%s authorized by token %s",
				g_uri_get_path(soup_server_message_get_uri(msg)), name);
			return TRUE;
		}
		if (error != NULL) {
			g_warning("cannot check a bearer token: %s", error->message);
			vb_http_reply_error(
			    msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
			    vb_error_to_code(VB_ERROR_UNREACHABLE),
			    _("the token store is not available right now: try again later"));
			return FALSE;
		}
	}

	labels = g_strdup_printf("listener=\"%s\"", ep->name);
	vb_metrics_add(self->metrics, VB_HTTP_METRIC_AUTH_FAILURES, labels, 1);
	if (token == NULL) {
		soup_message_headers_replace(resp_headers, "WWW-Authenticate",
					     "Bearer realm=\"vestibule\"");
		vb_http_reply_error(msg, SOUP_STATUS_UNAUTHORIZED,
				    vb_error_to_code(VB_ERROR_UNAUTHORIZED),
				    _("this needs a bearer token of scope '%s': create one with "
				      "vestibulectl and send it as 'Authorization: Bearer TOKEN'"),
				    scope);
		return FALSE;
	}
	soup_message_headers_replace(resp_headers, "WWW-Authenticate",
				     "Bearer realm=\"vestibule\", error=\"invalid_token\"");
	vb_http_reply_error(
	    msg, SOUP_STATUS_UNAUTHORIZED, vb_error_to_code(VB_ERROR_UNAUTHORIZED),
	    _("the bearer token is not valid for scope '%s': check that it was copied "
	      "whole and created with this scope, or create a new one with vestibulectl"),
	    scope);
	return FALSE;
}

/* the single libsoup handler of each listener; routing is ours so that unknown
 * paths get a JSON answer and prefixes match on '/' boundaries */
static void
vb_http_server_soup_cb(SoupServer *soup,
		       SoupServerMessage *msg,
		       const char *path,
		       GHashTable *query,
		       gpointer user_data)
{
	VbHttpEndpoint *ep = user_data;
	VbHttpServer *self = ep->self;
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	VbHttpRoute *route;

	route = vb_http_endpoint_lookup(ep, path);
	if (route == NULL) {
		vb_http_reply_error(
		    msg, SOUP_STATUS_NOT_FOUND, vb_error_to_code(VB_ERROR_NOT_FOUND),
		    _("there is nothing at %s on the %s listener: check the URL"), path, ep->name);
		return;
	}
	/* got-headers and got-chunk already refused bigger bodies; this is a backstop */
	if (body->length > 0 && (guint64)body->length > self->max_body_bytes) {
		vb_http_reply_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
				    vb_error_to_code(VB_ERROR_TOO_LARGE),
				    _("the request body is longer than the limit of %" PRIu64
				      " bytes: send a smaller body"),
				    (guint64)self->max_body_bytes);
		return;
	}
	if (route->scope != NULL && !vb_http_server_authorize(self, ep, msg, route->scope))
		return;

	/* the handler may remove its own route */
	route = g_rc_box_acquire(route);
	route->handler(self, msg, path, query, route->user_data);
	vb_http_route_release(route);
}

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
 * vb_http_server_add_handler:
 * @self: a #VbHttpServer
 * @listener: the listener that serves the handler
 * @path: an absolute path such as `/v1/orders`; the handler also gets the paths
 *   below it, such as `/v1/orders/42`
 * @scope: (nullable): the scope that a bearer token needs, or %NULL for none
 * @handler: the function that answers
 * @user_data: data for @handler
 * @destroy: (nullable): frees @user_data when the handler is removed
 *
 * Registers @handler for @path on @listener, replacing any handler already
 * there. When @scope is set, a request without `Authorization: Bearer TOKEN`
 * for a token of that scope gets 401 and never reaches @handler.
 *
 * Since: 0.1
 */
void
vb_http_server_add_handler(VbHttpServer *self,
			   VbHttpListener listener,
			   const gchar *path,
			   const gchar *scope,
			   VbHttpHandler handler,
			   gpointer user_data,
			   GDestroyNotify destroy)
{
	VbHttpRoute *route;

	g_return_if_fail(VB_IS_HTTP_SERVER(self));
	g_return_if_fail(listener == VB_HTTP_LISTENER_PUBLIC ||
			 listener == VB_HTTP_LISTENER_CONTROL);
	g_return_if_fail(path != NULL && path[0] == '/');
	g_return_if_fail(handler != NULL);

	route = g_rc_box_new0(VbHttpRoute);
	route->path = g_strdup(path);
	route->scope = scope != NULL && scope[0] != '\0' ? g_strdup(scope) : NULL;
	route->handler = handler;
	route->user_data = user_data;
	route->destroy = destroy;
	g_hash_table_replace(self->endpoints[listener].routes, route->path, route);
}

/**
 * vb_http_server_remove_handler:
 * @self: a #VbHttpServer
 * @listener: the listener the handler was added to
 * @path: the path it was added with
 *
 * Removes the handler at exactly @path, calling its destroy function.
 *
 * Since: 0.1
 */
void
vb_http_server_remove_handler(VbHttpServer *self, VbHttpListener listener, const gchar *path)
{
	g_return_if_fail(VB_IS_HTTP_SERVER(self));
	g_return_if_fail(listener == VB_HTTP_LISTENER_PUBLIC ||
			 listener == VB_HTTP_LISTENER_CONTROL);
	g_return_if_fail(path != NULL);

	g_hash_table_remove(self->endpoints[listener].routes, path);
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

static gint
vb_http_error_code_from_gio(const GError *error)
{
	if (error->domain != G_IO_ERROR)
		return VB_ERROR_IO;
	switch (error->code) {
	case G_IO_ERROR_ADDRESS_IN_USE:
	case G_IO_ERROR_EXISTS:
		return VB_ERROR_CONFLICT;
	case G_IO_ERROR_PERMISSION_DENIED:
		return VB_ERROR_PERMISSION_DENIED;
	case G_IO_ERROR_NOT_FOUND:
		return VB_ERROR_NOT_FOUND;
	case G_IO_ERROR_INVALID_ARGUMENT:
		return VB_ERROR_INVALID_CONFIG;
	default:
		return VB_ERROR_IO;
	}
}

static gchar *
vb_http_url_for_address(GInetAddress *address, guint port)
{
	g_autofree gchar *host = g_inet_address_to_string(address);

	if (g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV6)
		return g_strdup_printf("http://[%s]:%u", host, port);
	return g_strdup_printf("http://%s:%u", host, port);
}

/* the listeners accept their connections themselves and hand each to
 * libsoup: libsoup 3.2's own listener keeps a reference to every socket it
 * accepts, so that each connection left a GSocket behind, a few hundred
 * bytes a request, for the daemon's lifetime */
static gboolean
vb_http_endpoint_incoming_cb(GSocketService *service,
			     GSocketConnection *connection,
			     GObject *source_object,
			     gpointer user_data)
{
	VbHttpEndpoint *ep = user_data;
	g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address(connection, NULL);
	g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address(connection, NULL);
	g_autoptr(GError) error = NULL;

	if (!soup_server_accept_iostream(ep->soup, G_IO_STREAM(connection), local, remote, &error))
		g_warning("cannot take a connection on the %s listener: %s", ep->name,
			  error->message);
	return TRUE;
}

static GSocketListener *
vb_http_endpoint_get_listener(VbHttpEndpoint *ep)
{
	if (ep->service == NULL) {
		ep->service = g_socket_service_new();
		g_signal_connect(ep->service, "incoming", G_CALLBACK(vb_http_endpoint_incoming_cb),
				 ep);
	}
	return G_SOCKET_LISTENER(ep->service);
}

static void
vb_http_endpoint_stop(VbHttpEndpoint *ep)
{
	if (ep->service == NULL)
		return;
	g_signal_handlers_disconnect_by_data(ep->service, ep);
	g_socket_service_stop(ep->service);
	g_socket_listener_close(G_SOCKET_LISTENER(ep->service));
	g_clear_object(&ep->service);
	ep->port = 0;
}

/**
 * vb_http_server_listen_public:
 * @self: a #VbHttpServer
 * @address: (nullable): a local IP address such as `127.0.0.1`, or %NULL for all
 * @port: the TCP port, or 0 for any free port
 * @error: return location for a #GError
 *
 * Starts the public listener.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
vb_http_server_listen_public(VbHttpServer *self, const gchar *address, guint port, GError **error)
{
	VbHttpEndpoint *ep = &self->endpoints[VB_HTTP_LISTENER_PUBLIC];
	GSocketListener *listener;
	g_autoptr(GInetAddress) inet = NULL;
	g_autoptr(GSocketAddress) sockaddr = NULL;
	g_autoptr(GSocketAddress) effective = NULL;
	g_autoptr(GError) error_local = NULL;
	gboolean ok;

	g_return_val_if_fail(VB_IS_HTTP_SERVER(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (port > G_MAXUINT16) {
		g_set_error(
		    error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
		    _("HTTP port %u is out of range: use 1 to 65535, or 0 for any free port"),
		    port);
		return FALSE;
	}
	listener = vb_http_endpoint_get_listener(ep);
	if ((address == NULL || address[0] == '\0') && port == 0) {
		guint16 any = g_socket_listener_add_any_inet_port(listener, NULL, &error_local);
		ok = any != 0;
		ep->port = any;
	} else if (address == NULL || address[0] == '\0') {
		ok = g_socket_listener_add_inet_port(listener, (guint16)port, NULL, &error_local);
		ep->port = ok ? port : 0;
	} else {
		inet = g_inet_address_new_from_string(address);
		if (inet == NULL) {
			g_set_error(
			    error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("HTTP listen address '%s' is not an IP address: use one such as "
			      "127.0.0.1 or 0.0.0.0"),
			    address);
			return FALSE;
		}
		sockaddr = g_inet_socket_address_new(inet, (guint16)port);
		ok = g_socket_listener_add_address(listener, sockaddr, G_SOCKET_TYPE_STREAM,
						   G_SOCKET_PROTOCOL_TCP, NULL, &effective,
						   &error_local);
		if (ok)
			ep->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective));
	}
	if (!ok && g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE)) {
		g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
			    _("cannot listen for HTTP on %s port %u: it is in use; stop the other "
			      "vestibuled or server, or choose another port"),
			    address != NULL ? address : "*", port);
		return FALSE;
	}
	if (!ok) {
		g_set_error(error, VB_ERROR, vb_http_error_code_from_gio(error_local),
			    _("cannot listen for HTTP on %s port %u: %s"),
			    address != NULL ? address : "*", port, error_local->message);
		return FALSE;
	}

	g_clear_pointer(&self->listen_url, g_free);
	if (inet != NULL && !g_inet_address_get_is_any(inet))
		self->listen_url =
		    vb_http_url_for_address(inet, vb_http_server_get_public_port(self));
	return TRUE;
}

/**
 * vb_http_server_get_public_port:
 * @self: a #VbHttpServer
 *
 * Gets the TCP port of the public listener, which is useful after listening on
 * port 0.
 *
 * Returns: the port, or 0 if the public listener is not listening
 *
 * Since: 0.1
 */
guint
vb_http_server_get_public_port(VbHttpServer *self)
{
	g_return_val_if_fail(VB_IS_HTTP_SERVER(self), 0);

	return self->endpoints[VB_HTTP_LISTENER_PUBLIC].port;
}

static gboolean
vb_http_ensure_socket_dir(const gchar *dir, GError **error)
{
	if (g_file_test(dir, G_FILE_TEST_IS_DIR))
		return TRUE;
	if (g_mkdir_with_parents(dir, 0750) != 0) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
			    _("cannot create the control socket directory %s: %s"), dir,
			    g_strerror(errsv));
		return FALSE;
	}
	/* the umask may have removed bits; the group must be able to enter */
	if (g_chmod(dir, 0750) != 0) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
			    _("cannot set the mode of the control socket directory %s: %s"), dir,
			    g_strerror(errsv));
		return FALSE;
	}
	return TRUE;
}

/* a socket that accepts a connection belongs to a running process */
static gboolean
vb_http_socket_is_live(const gchar *path)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
	g_autoptr(GError) error = NULL;

	socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, NULL);
	if (socket == NULL)
		return FALSE;
	g_socket_set_blocking(socket, FALSE);
	if (g_socket_connect(socket, address, NULL, &error))
		return TRUE;
	return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PENDING) ||
	       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
}

static gboolean
vb_http_remove_stale_socket(const gchar *path, GError **error)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		gint errsv = errno;
		if (errsv == ENOENT)
			return TRUE;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
			    _("cannot check the control socket %s: %s"), path, g_strerror(errsv));
		return FALSE;
	}
	if (!S_ISSOCK(st.st_mode)) {
		g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
			    _("%s exists and is not a socket: move it away or configure another "
			      "control socket path"),
			    path);
		return FALSE;
	}
	if (vb_http_socket_is_live(path)) {
		g_set_error(
		    error, VB_ERROR, VB_ERROR_CONFLICT,
		    _("another process is listening on the control socket %s: stop the other "
		      "vestibuled first"),
		    path);
		return FALSE;
	}
	if (g_unlink(path) != 0 && errno != ENOENT) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
			    _("cannot remove the stale control socket %s: %s"), path,
			    g_strerror(errsv));
		return FALSE;
	}
	return TRUE;
}

/**
 * vb_http_server_listen_control:
 * @self: a #VbHttpServer
 * @path: the path of the Unix socket
 * @mode: the file mode of the socket, normally 0660
 * @error: return location for a #GError
 *
 * Starts the control listener on a Unix socket at @path with exactly @mode,
 * whatever the umask. A missing parent directory is created with mode 0750. A
 * stale socket left by a crash is replaced; a live socket or any other kind of
 * file at @path is an error.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
vb_http_server_listen_control(VbHttpServer *self, const gchar *path, guint mode, GError **error)
{
	VbHttpEndpoint *ep = &self->endpoints[VB_HTTP_LISTENER_CONTROL];
	g_autofree gchar *dir = NULL;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GError) error_local = NULL;
	struct sockaddr_un sun;
	struct stat st;

	g_return_val_if_fail(VB_IS_HTTP_SERVER(self), FALSE);
	g_return_val_if_fail(path != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
		g_set_error(
		    error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
		    _("control socket path '%s' must be 1 to %u bytes long: choose a shorter one"),
		    path, (guint)sizeof(sun.sun_path) - 1);
		return FALSE;
	}
	dir = g_path_get_dirname(path);
	if (!vb_http_ensure_socket_dir(dir, error))
		return FALSE;
	if (!vb_http_remove_stale_socket(path, error))
		return FALSE;

	socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, &error_local);
	if (socket == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_IO, _("cannot create the control socket: %s"),
			    error_local->message);
		return FALSE;
	}
	address = g_unix_socket_address_new(path);
	if (!g_socket_bind(socket, address, FALSE, &error_local)) {
		g_set_error(error, VB_ERROR, vb_http_error_code_from_gio(error_local),
			    _("cannot create the control socket %s: %s"), path,
			    error_local->message);
		return FALSE;
	}
	/* nobody can connect before listen(), so the mode the umask gave the file
	 * between bind() and here was never usable */
	if (g_chmod(path, mode) != 0 || lstat(path, &st) != 0) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
			    _("cannot set the mode of the control socket %s: %s"), path,
			    g_strerror(errsv));
		g_unlink(path);
		return FALSE;
	}
	if (!g_socket_listen(socket, &error_local) ||
	    !g_socket_listener_add_socket(vb_http_endpoint_get_listener(ep), socket, NULL,
					  &error_local)) {
		g_set_error(error, VB_ERROR, vb_http_error_code_from_gio(error_local),
			    _("cannot listen on the control socket %s: %s"), path,
			    error_local->message);
		g_unlink(path);
		return FALSE;
	}
	g_free(self->control_path);
	self->control_path = g_strdup(path);
	self->control_dev = st.st_dev;
	self->control_ino = st.st_ino;
	return TRUE;
}

/**
 * vb_http_server_disconnect:
 * @self: a #VbHttpServer
 *
 * Closes both listeners and every open connection, and removes the control
 * socket file if it is still the one this server created.
 *
 * Since: 0.1
 */
void
vb_http_server_disconnect(VbHttpServer *self)
{
	struct stat st;

	g_return_if_fail(VB_IS_HTTP_SERVER(self));

	for (guint i = 0; i < G_N_ELEMENTS(self->endpoints); i++) {
		vb_http_endpoint_stop(&self->endpoints[i]);
		if (self->endpoints[i].soup != NULL)
			soup_server_disconnect(self->endpoints[i].soup);
	}
	if (self->lingers != NULL)
		g_ptr_array_set_size(self->lingers, 0);

	/* a newer daemon may already own the path */
	if (self->control_path != NULL && lstat(self->control_path, &st) == 0 &&
	    st.st_dev == self->control_dev && st.st_ino == self->control_ino)
		g_unlink(self->control_path);
	g_clear_pointer(&self->control_path, g_free);
	g_clear_pointer(&self->listen_url, g_free);
}

static gboolean
vb_http_sodium_init(GError **error)
{
	static gsize once = 0;
	static gint result = -1;

	if (g_once_init_enter(&once)) {
		result = sodium_init();
		g_once_init_leave(&once, 1);
	}
	if (result < 0) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
				    _("cannot initialise libsodium's random generator: check that "
				      "/dev/urandom is readable"));
		return FALSE;
	}
	return TRUE;
}

/**
 * vb_http_token_hash:
 * @token: a bearer token
 *
 * Hashes @token the way the store keeps it.
 *
 * Returns: (transfer full): the lower-case hex SHA-256 of @token
 *
 * Since: 0.1
 */
gchar *
vb_http_token_hash(const gchar *token)
{
	g_return_val_if_fail(token != NULL, NULL);

	return g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);
}

/**
 * vb_http_server_create_token:
 * @self: a #VbHttpServer
 * @name: a unique name for the token, such as `prometheus`
 * @scope: what the token allows, such as `metrics`
 * @error: return location for a #GError
 *
 * Makes a bearer token of 32 random bytes from a cryptographically secure
 * generator, encoded as unpadded base64url, and stores only its SHA-256 hash.
 * The caller shows the token once; wipe it before freeing it.
 *
 * Returns: (transfer full): the token, or %NULL on error
 *
 * Since: 0.1
 */
gchar *
vb_http_server_create_token(VbHttpServer *self,
			    const gchar *name,
			    const gchar *scope,
			    GError **error)
{
	guchar raw[32];
	gchar encoded[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	g_autofree gchar *hash = NULL;
	gchar *token;

	g_return_val_if_fail(VB_IS_HTTP_SERVER(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (name == NULL || name[0] == '\0' || scope == NULL || scope[0] == '\0') {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("a token needs a name and a scope"));
		return NULL;
	}
	if (!vb_http_sodium_init(error))
		return NULL;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(encoded, sizeof(encoded), raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));

	hash = vb_http_token_hash(encoded);
	if (!vb_store_token_add(self->store, name, scope, hash, error)) {
		sodium_memzero(encoded, sizeof(encoded));
		return NULL;
	}
	token = g_strdup(encoded);
	sodium_memzero(encoded, sizeof(encoded));
	return token;
}

static void
vb_http_endpoint_init(VbHttpEndpoint *ep, VbHttpServer *self, VbHttpListener listener)
{
	ep->self = self;
	ep->listener = listener;
	ep->name = listener == VB_HTTP_LISTENER_PUBLIC ? "public" : "control";
	ep->routes = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, vb_http_route_release);
	ep->soup = soup_server_new(NULL, NULL);
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

/**
 * vb_http_parse_retry_after:
 * @value: (nullable): a `Retry-After` header: delay-seconds or an HTTP date
 *
 * Turns a peer's `Retry-After` into a wait, for an outbox handler or an SMS
 * provider's vb_sms_provider_task_set_retry_after(). A date already past
 * gives 1 ms, so the retry still counts as asked for.
 *
 * Returns: the wait in milliseconds, at most #VB_HTTP_RETRY_AFTER_MAX_MS, or 0
 *   when @value is missing or unreadable
 *
 * Since: 0.2
 */
guint
vb_http_parse_retry_after(const gchar *value)
{
	guint64 seconds = 0;
	g_autoptr(GDateTime) date = NULL;
	g_autoptr(GDateTime) now = NULL;
	GTimeSpan diff;

	if (value == NULL)
		return 0;
	if (g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT64, &seconds, NULL))
		return (guint)MIN(seconds, (guint64)VB_HTTP_RETRY_AFTER_MAX_MS / 1000) * 1000;
	date = soup_date_time_new_from_http_string(value);
	if (date == NULL)
		return 0;
	now = g_date_time_new_now_utc();
	diff = g_date_time_difference(date, now);
	if (diff <= 0)
		return 1;
	return (guint)MIN(diff / 1000, (GTimeSpan)VB_HTTP_RETRY_AFTER_MAX_MS);
}
