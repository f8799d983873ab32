/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* what the vb-http-*.c files of the server share: the server's fields, its
 * two endpoints and their routes, and the functions that one file defines and
 * another calls. Only they include it; nothing here is exported */

#pragma once

#include <sys/types.h>

#include "vb-error.h"
#include "vb-http-server-private.h"
#include "vb-metrics-private.h"
#include "vb-store-private.h"

G_BEGIN_DECLS

#define VB_HTTP_METRIC_REQUESTS "vestibule_http_requests_total"
#define VB_HTTP_METRIC_AUTH_FAILURES "vestibule_http_auth_failures_total"

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

/* vb-http-reply.c */
G_GNUC_INTERNAL const gchar *
vb_http_status_phrase(guint status);
G_GNUC_INTERNAL gchar *
vb_http_error_to_json(const gchar *code, const gchar *message, gsize *len);
/* vb_http_parse_json_body() without the request: the depth check and the parse */
JsonNode *
vb_http_parse_json_data(const gchar *data, gsize size, GError **error);

/* vb-http-routes.c */
G_GNUC_INTERNAL void
vb_http_route_release(gpointer data);
G_GNUC_INTERNAL void
vb_http_server_soup_cb(SoupServer *soup,
		       SoupServerMessage *msg,
		       const char *path,
		       GHashTable *query,
		       gpointer user_data);

/* vb-http-connection.c */
G_GNUC_INTERNAL void
vb_http_linger_free(gpointer data);
G_GNUC_INTERNAL void
vb_http_server_request_started_cb(SoupServer *soup, SoupServerMessage *msg, gpointer user_data);
G_GNUC_INTERNAL void
vb_http_server_request_finished_cb(SoupServer *soup, SoupServerMessage *msg, gpointer user_data);

G_END_DECLS
