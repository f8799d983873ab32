/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* answering a request: JSON bodies, JSON errors with a status that follows the
 * error, and reading a JSON request body or a peer's Retry-After */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-http-server-internal.h"

/* json-glib 1.6 parses recursively and overflows the stack on deep nesting */
#define VB_HTTP_MAX_JSON_DEPTH 64
#define VB_HTTP_MEDIA_TYPE_REFUSED "vb-http-media-type-refused"

const gchar *
vb_http_status_phrase(guint status)
{
	/* libsoup 3.2 does not know 431 and would say "Unknown Error" */
	if (status == 431)
		return "Request Header Fields Too Large";
	return soup_status_get_phrase(status);
}

gchar *
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

/* the body once its content type is accepted: what the fuzzer feeds */
JsonNode *
vb_http_parse_json_data(const gchar *data, gsize size, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) error_local = NULL;
	JsonNode *root;

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
	return vb_http_parse_json_data(data, size, error);
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
