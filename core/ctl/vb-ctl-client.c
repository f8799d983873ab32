/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gi18n-lib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "vb-ctl-client.h"
#include "vb-error.h"

/**
 * VbCtlClient:
 *
 * A blocking HTTP client of the control socket of `vestibuled`, used by
 * `vestibulectl` and the tests. It speaks the JSON of the control API and turns
 * JSON error bodies back into #VB_ERROR errors.
 *
 * Since: 0.1
 */

/* one answer from the daemon is small; this only stops a runaway reply */
#define VB_CTL_CLIENT_MAX_ERROR_BYTES (64 * 1024)
#define VB_CTL_CLIENT_TIMEOUT_SECONDS 60

struct _VbCtlClient {
	GObject parent_instance;
	gchar *socket_path;
	SoupSession *session;	     /* requests, with a timeout */
	SoupSession *stream_session; /* streams may be quiet for hours */
};

G_DEFINE_TYPE(VbCtlClient, vb_ctl_client, G_TYPE_OBJECT)

/**
 * vb_error_from_code:
 * @code: (nullable): a stable error code such as `not-found`
 *
 * Maps a code made by vb_error_to_code() back to its #VbError.
 *
 * Returns: a #VbError, or %VB_ERROR_FAILED for an unknown code
 *
 * Since: 0.1
 */
gint
vb_error_from_code(const gchar *code)
{
	if (code == NULL)
		return VB_ERROR_FAILED;
	for (gint i = 0; i < VB_ERROR_LAST; i++) {
		if (g_strcmp0(vb_error_to_code(i), code) == 0)
			return i;
	}
	return VB_ERROR_FAILED;
}

static SoupSession *
vb_ctl_client_session_new(const gchar *socket_path, guint timeout)
{
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(socket_path);

	return soup_session_new_with_options("remote-connectable", address, "timeout", timeout,
					     "user-agent", "vestibulectl/" PACKAGE_VERSION, NULL);
}

/**
 * vb_ctl_client_new:
 * @socket_path: the path of the control socket of `vestibuled`
 *
 * Creates a client; nothing is connected until the first request.
 *
 * Returns: (transfer full): a new #VbCtlClient
 *
 * Since: 0.1
 */
VbCtlClient *
vb_ctl_client_new(const gchar *socket_path)
{
	VbCtlClient *self;

	g_return_val_if_fail(socket_path != NULL, NULL);

	self = g_object_new(VB_TYPE_CTL_CLIENT, NULL);
	self->socket_path = g_strdup(socket_path);
	self->session = vb_ctl_client_session_new(socket_path, VB_CTL_CLIENT_TIMEOUT_SECONDS);
	self->stream_session = vb_ctl_client_session_new(socket_path, 0);
	return self;
}

/* turns a libsoup or GIO failure into something an operator can act on */
static void
vb_ctl_client_set_transport_error(VbCtlClient *self, const GError *error_local, GError **error)
{
	gint errsv = 0;

	if (g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
		errsv = ENOENT;
	else if (g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
		errsv = ECONNREFUSED;
	else if (g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
		errsv = EACCES;

	if (errsv == EACCES) {
		g_set_error(
		    error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
		    _("cannot open the control socket %s: %s; run as root or as a member of "
		      "the group that owns it"),
		    self->socket_path, g_strerror(errsv));
	} else if (errsv != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_UNREACHABLE,
			    _("cannot reach vestibuled at %s: is it running? (%s)"),
			    self->socket_path, g_strerror(errsv));
	} else if (g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
		g_set_error(error, VB_ERROR, VB_ERROR_TIMED_OUT,
			    _("vestibuled at %s did not answer in time: check its log"),
			    self->socket_path);
	} else {
		g_set_error(error, VB_ERROR, VB_ERROR_IO,
			    _("the connection to vestibuled at %s failed: %s"), self->socket_path,
			    error_local->message);
	}
}

static gint
vb_ctl_client_code_for_status(guint status)
{
	switch (status) {
	case SOUP_STATUS_BAD_REQUEST:
	case SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE:
		return VB_ERROR_INVALID_DATA;
	case SOUP_STATUS_UNAUTHORIZED:
		return VB_ERROR_UNAUTHORIZED;
	case SOUP_STATUS_FORBIDDEN:
		return VB_ERROR_PERMISSION_DENIED;
	case SOUP_STATUS_NOT_FOUND:
		return VB_ERROR_NOT_FOUND;
	case SOUP_STATUS_CONFLICT:
		return VB_ERROR_CONFLICT;
	case SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE:
	case 431:
		return VB_ERROR_TOO_LARGE;
	case 429:
		return VB_ERROR_RATE_LIMITED;
	case SOUP_STATUS_SERVICE_UNAVAILABLE:
		return VB_ERROR_UNREACHABLE;
	case SOUP_STATUS_GATEWAY_TIMEOUT:
		return VB_ERROR_TIMED_OUT;
	default:
		return VB_ERROR_FAILED;
	}
}

/* the json-glib getters are critical about a member of another type, and the
 * body comes from the network */
static const gchar *
vb_ctl_client_get_string(JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member(obj, name);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

/* a JSON error body {"code": ..., "message": ...} wins; anything else is
 * described by its HTTP status */
static void
vb_ctl_client_set_http_error(SoupMessage *msg, GBytes *body, GError **error)
{
	guint status = soup_message_get_status(msg);
	const gchar *reason = soup_message_get_reason_phrase(msg);
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	gsize size = 0;
	const gchar *data = body != NULL ? g_bytes_get_data(body, &size) : NULL;
	JsonNode *root;

	if (size > 0 && json_parser_load_from_data(parser, data, (gssize)size, NULL) &&
	    (root = json_parser_get_root(parser)) != NULL && JSON_NODE_HOLDS_OBJECT(root)) {
		JsonObject *obj = json_node_get_object(root);
		const gchar *code = vb_ctl_client_get_string(obj, "code");
		const gchar *message = vb_ctl_client_get_string(obj, "message");

		if (code != NULL && message != NULL) {
			g_set_error_literal(error, VB_ERROR, vb_error_from_code(code), message);
			return;
		}
	}
	g_set_error(error, VB_ERROR, vb_ctl_client_code_for_status(status),
		    _("vestibuled answered HTTP %u %s"), status, reason != NULL ? reason : "");
}

static SoupMessage *
vb_ctl_client_message_new(const gchar *method, const gchar *path, GError **error)
{
	g_autofree gchar *uri = NULL;
	SoupMessage *msg;

	if (path == NULL || path[0] != '/') {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("control API path '%s' must start with '/'"),
			    path != NULL ? path : "");
		return NULL;
	}
	/* the host is ignored: the session always connects to the socket */
	uri = g_strconcat("http://localhost", path, NULL);
	msg = soup_message_new(method, uri);
	if (msg == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("control API path '%s' is not a valid URL path"), path);
		return NULL;
	}
	return msg;
}

/**
 * vb_ctl_client_request:
 * @self: a #VbCtlClient
 * @method: an HTTP method such as `GET`
 * @path: the path and query, such as `/v1/visits?limit=10`
 * @body: (nullable): a JSON body to send
 * @error: return location for a #GError
 *
 * Sends one request and waits for the answer.
 *
 * Returns: (transfer full): the JSON answer of a 2xx reply (a null node for an
 *   empty one), or %NULL with @error set
 *
 * Since: 0.1
 */
JsonNode *
vb_ctl_client_request(VbCtlClient *self,
		      const gchar *method,
		      const gchar *path,
		      JsonNode *body,
		      GError **error)
{
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GBytes) response = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	const gchar *data;
	gsize size = 0;
	JsonNode *root;

	g_return_val_if_fail(VB_IS_CTL_CLIENT(self), NULL);
	g_return_val_if_fail(method != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	msg = vb_ctl_client_message_new(method, path, error);
	if (msg == NULL)
		return NULL;
	soup_message_headers_replace(soup_message_get_request_headers(msg), "Accept",
				     "application/json");
	if (body != NULL) {
		g_autoptr(JsonGenerator) generator = json_generator_new();
		g_autoptr(GBytes) bytes = NULL;
		gchar *text;
		gsize len = 0;

		json_generator_set_root(generator, body);
		text = json_generator_to_data(generator, &len);
		bytes = g_bytes_new_take(text, len);
		soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
	}

	response = soup_session_send_and_read(self->session, msg, NULL, &error_local);
	if (response == NULL) {
		vb_ctl_client_set_transport_error(self, error_local, error);
		return NULL;
	}
	if (!SOUP_STATUS_IS_SUCCESSFUL(soup_message_get_status(msg))) {
		vb_ctl_client_set_http_error(msg, response, error);
		return NULL;
	}

	data = g_bytes_get_data(response, &size);
	if (size == 0)
		return json_node_new(JSON_NODE_NULL);
	if (!json_parser_load_from_data(parser, data, (gssize)size, &error_local)) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("vestibuled sent an answer that is not JSON (%s): check that %s is "
			      "the control socket of vestibuled"),
			    error_local->message, self->socket_path);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL)
		return json_node_new(JSON_NODE_NULL);
	return json_node_ref(root);
}

/* reads the rest of a (small) error body */
static GBytes *
vb_ctl_client_read_error_body(GInputStream *stream, GCancellable *cancellable)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();

	while (buf->len < VB_CTL_CLIENT_MAX_ERROR_BYTES) {
		guint8 chunk[4096];
		gssize n = g_input_stream_read(stream, chunk, sizeof(chunk), cancellable, NULL);

		if (n <= 0)
			break;
		g_byte_array_append(buf, chunk, (guint)n);
	}
	return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

/**
 * vb_ctl_client_stream:
 * @self: a #VbCtlClient
 * @path: the path and query, such as `/v1/events?follow=1`
 * @func: called with each line of the answer, parsed as JSON
 * @user_data: data for @func
 * @cancellable: (nullable): a #GCancellable to stop following
 * @error: return location for a #GError
 *
 * Sends `GET @path` and reads the answer as newline-delimited JSON, calling
 * @func for each line as it arrives. Empty lines are skipped. It returns when
 * the answer ends, when @func returns %FALSE, or when @cancellable is
 * cancelled; all three are a success.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 *
 * Since: 0.1
 */
gboolean
vb_ctl_client_stream(VbCtlClient *self,
		     const gchar *path,
		     VbCtlLineFunc func,
		     gpointer user_data,
		     GCancellable *cancellable,
		     GError **error)
{
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GInputStream) stream = NULL;
	g_autoptr(GDataInputStream) lines = NULL;
	g_autoptr(GError) error_local = NULL;

	g_return_val_if_fail(VB_IS_CTL_CLIENT(self), FALSE);
	g_return_val_if_fail(func != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	msg = vb_ctl_client_message_new(SOUP_METHOD_GET, path, error);
	if (msg == NULL)
		return FALSE;
	soup_message_headers_replace(soup_message_get_request_headers(msg), "Accept",
				     "application/x-ndjson");
	stream = soup_session_send(self->stream_session, msg, cancellable, &error_local);
	if (stream == NULL) {
		if (g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			return TRUE;
		vb_ctl_client_set_transport_error(self, error_local, error);
		return FALSE;
	}
	if (!SOUP_STATUS_IS_SUCCESSFUL(soup_message_get_status(msg))) {
		g_autoptr(GBytes) body = vb_ctl_client_read_error_body(stream, cancellable);

		vb_ctl_client_set_http_error(msg, body, error);
		return FALSE;
	}

	lines = g_data_input_stream_new(stream);
	g_data_input_stream_set_newline_type(lines, G_DATA_STREAM_NEWLINE_TYPE_LF);
	for (;;) {
		g_autoptr(JsonParser) parser = json_parser_new_immutable();
		g_autofree gchar *line = NULL;
		gsize len = 0;
		JsonNode *root;

		line = g_data_input_stream_read_line_utf8(lines, &len, cancellable, &error_local);
		if (line == NULL) {
			if (error_local == NULL ||
			    g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
				return TRUE;
			g_set_error(error, VB_ERROR, VB_ERROR_IO,
				    _("the stream of %s from vestibuled broke: %s"), path,
				    error_local->message);
			return FALSE;
		}
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (!json_parser_load_from_data(parser, line, (gssize)len, &error_local) ||
		    (root = json_parser_get_root(parser)) == NULL) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("vestibuled sent a line of %s that is not JSON: %s"), path,
				    error_local != NULL ? error_local->message : _("it is empty"));
			return FALSE;
		}
		if (!func(root, user_data))
			return TRUE;
	}
}

static void
vb_ctl_client_finalize(GObject *object)
{
	VbCtlClient *self = VB_CTL_CLIENT(object);

	g_clear_object(&self->session);
	g_clear_object(&self->stream_session);
	g_free(self->socket_path);
	G_OBJECT_CLASS(vb_ctl_client_parent_class)->finalize(object);
}

static void
vb_ctl_client_init(VbCtlClient *self)
{
}

static void
vb_ctl_client_class_init(VbCtlClientClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->finalize = vb_ctl_client_finalize;
}
