/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* each request as it arrives: the size limits checked before the body is
 * read, refusing early on a connection taken from libsoup, and counting the
 * answer in the metrics */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <inttypes.h>
#include <string.h>

#include "vb-http-server-internal.h"

/* after an early rejection, how long and how much we read and discard so that
 * the peer gets our answer instead of a connection reset */
#define VB_HTTP_LINGER_TIMEOUT_MS 2000
#define VB_HTTP_LINGER_MAX_BYTES (256 * 1024)

#define VB_HTTP_REQUEST_DATA "vb-http-request"

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

static void
vb_http_server_count_request(VbHttpEndpoint *ep, guint status)
{
	g_autofree gchar *code = g_strdup_printf("%u", status);
	g_autofree gchar *labels = vb_metrics_labels("listener", ep->name, "code", code, NULL);

	vb_metrics_add(ep->self->metrics, VB_HTTP_METRIC_REQUESTS, labels, 1);
}

void
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

void
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

void
vb_http_server_request_finished_cb(SoupServer *soup, SoupServerMessage *msg, gpointer user_data)
{
	guint status = soup_server_message_get_status(msg);

	/* an aborted request that was never answered has no status to count */
	if (status != 0)
		vb_http_server_count_request(user_data, status);
}
