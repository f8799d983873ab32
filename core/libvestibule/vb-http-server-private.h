/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-http-server.h"
#include "vb-metrics.h"
#include "vb-store.h"

G_BEGIN_DECLS

VbHttpServer *
vb_http_server_new(VbStore *store, VbMetrics *metrics);
/* limits applied to both listeners; a request over them gets 413 / 431 */
void
vb_http_server_set_limits(VbHttpServer *self, gsize max_body_bytes, gsize max_header_bytes);
/* the base URL that plugins put in callbacks they give to providers */
void
vb_http_server_set_public_url(VbHttpServer *self, const gchar *url);
/* port 0 picks a free port, see vb_http_server_get_public_port() */
gboolean
vb_http_server_listen_public(VbHttpServer *self, const gchar *address, guint port, GError **error);
guint
vb_http_server_get_public_port(VbHttpServer *self);
/* creates the socket with mode @mode (0660); a stale socket file is replaced */
gboolean
vb_http_server_listen_control(VbHttpServer *self, const gchar *path, guint mode, GError **error);
void
vb_http_server_disconnect(VbHttpServer *self);

/* makes a new random bearer token, stores its hash under @name and @scope, and
 * returns the token; it is shown once and never stored in clear */
gchar *
vb_http_server_create_token(VbHttpServer *self,
			    const gchar *name,
			    const gchar *scope,
			    GError **error);
/* lower-case hex SHA-256 of @token */
G_GNUC_INTERNAL gchar *
vb_http_token_hash(const gchar *token);

G_END_DECLS
