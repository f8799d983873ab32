/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define VB_TYPE_HTTP_SERVER (vb_http_server_get_type())
G_DECLARE_FINAL_TYPE(VbHttpServer, vb_http_server, VB, HTTP_SERVER, GObject)

/**
 * VbHttpListener:
 * @VB_HTTP_LISTENER_PUBLIC: the TCP listener for receipts, webhooks and the order API
 * @VB_HTTP_LISTENER_CONTROL: the Unix control socket that `vestibulectl` uses
 *
 * Which listener a handler is registered on. A handler on one listener can
 * never be reached through the other.
 *
 * Since: 0.1
 */
typedef enum {
	VB_HTTP_LISTENER_PUBLIC,
	VB_HTTP_LISTENER_CONTROL,
} VbHttpListener;

/**
 * VbHttpHandler:
 * @server: the #VbHttpServer
 * @msg: the request; the handler sets a status and a body, or pauses it
 * @path: the request path
 * @query: (nullable): the decoded query parameters
 * @user_data: the data given at registration
 *
 * Handles one request. By the time it runs the body size limit has been
 * enforced and, for a handler registered with a scope, the bearer token checked.
 *
 * Since: 0.1
 */
typedef void (*VbHttpHandler)(VbHttpServer *server,
			      SoupServerMessage *msg,
			      const gchar *path,
			      GHashTable *query,
			      gpointer user_data);

void
vb_http_server_add_handler(VbHttpServer *self,
			   VbHttpListener listener,
			   const gchar *path,
			   const gchar *scope,
			   VbHttpHandler handler,
			   gpointer user_data,
			   GDestroyNotify destroy);
void
vb_http_server_remove_handler(VbHttpServer *self, VbHttpListener listener, const gchar *path);
const gchar *
vb_http_server_get_public_url(VbHttpServer *self);

void
vb_http_reply_json(SoupServerMessage *msg, guint status, JsonNode *node);
void
vb_http_reply_error(SoupServerMessage *msg,
		    guint status,
		    const gchar *code,
		    const gchar *format,
		    ...) G_GNUC_PRINTF(4, 5);
void
vb_http_reply_gerror(SoupServerMessage *msg, const GError *error);
JsonNode *
vb_http_parse_json_body(SoupServerMessage *msg, GError **error);

/**
 * VB_HTTP_RETRY_AFTER_MAX_MS:
 *
 * The longest wait vb_http_parse_retry_after() returns: one hour, the
 * outbox's longest backoff.
 *
 * Since: 0.2
 */
#define VB_HTTP_RETRY_AFTER_MAX_MS (3600u * 1000u)

guint
vb_http_parse_retry_after(const gchar *value);

G_END_DECLS
