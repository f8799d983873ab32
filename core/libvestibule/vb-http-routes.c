/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the handlers: registering them, and routing each request to one, with the
 * bearer-token check of a handler registered with a scope */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <inttypes.h>
#include <string.h>

#include "vb-http-server-internal.h"

static void
vb_http_route_clear(gpointer data)
{
	VbHttpRoute *route = data;

	if (route->destroy != NULL)
		route->destroy(route->user_data);
	g_free(route->path);
	g_free(route->scope);
}

void
vb_http_route_release(gpointer data)
{
	g_rc_box_release_full(data, vb_http_route_clear);
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

/* the percent-decoded path, as libsoup would give it, or NULL where libsoup
 * would refuse it: an escaped NUL, or a '..' segment after decoding */
static gchar *
vb_http_path_decode(const gchar *path)
{
	g_autofree gchar *decoded = g_uri_unescape_string(path, NULL);

	if (decoded == NULL || strstr(decoded, "/../") != NULL || g_str_has_suffix(decoded, "/.."))
		return NULL;
	return g_steal_pointer(&decoded);
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

	labels = vb_metrics_labels("listener", ep->name, NULL);
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
void
vb_http_server_soup_cb(SoupServer *soup,
		       SoupServerMessage *msg,
		       const char *path,
		       GHashTable *query,
		       gpointer user_data)
{
	VbHttpEndpoint *ep = user_data;
	VbHttpServer *self = ep->self;
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	g_autofree gchar *decoded = vb_http_path_decode(path);
	VbHttpRoute *route;

	/* a path that does not decode safely goes to its handler as sent, still
	 * escaped, so that the handler refuses it in its own words */
	if (decoded != NULL)
		path = decoded;
	route = vb_http_endpoint_lookup(ep, path);
	if (route == NULL && decoded == NULL) {
		vb_http_reply_error(
		    msg, SOUP_STATUS_BAD_REQUEST, vb_error_to_code(VB_ERROR_INVALID_DATA),
		    _("the path %s holds an escaped NUL or a '..' segment: check the "
		      "URL"),
		    path);
		return;
	}
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

/**
 * vb_http_server_add_handler:
 * @self: a #VbHttpServer
 * @listener: the listener that serves the handler
 * @path: an absolute path such as `/v1/orders`; the handler also gets the paths
 *   below it, such as `/v1/orders/42`. The handler's path is percent-decoded,
 *   except one that does not decode safely (an escaped NUL, or an escaped `/`
 *   that makes a `..` segment): that one comes as sent, still escaped, for the
 *   handler to refuse
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
