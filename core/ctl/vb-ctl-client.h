/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* a blocking client of the control socket, for vestibulectl and the tests */

#define VB_TYPE_CTL_CLIENT (vb_ctl_client_get_type())
G_DECLARE_FINAL_TYPE(VbCtlClient, vb_ctl_client, VB, CTL_CLIENT, GObject)

VbCtlClient *
vb_ctl_client_new(const gchar *socket_path);
/* sends METHOD PATH with an optional JSON body; returns the parsed JSON answer of a
 * 2xx reply. A JSON error body {"code": ..., "message": ...} becomes a VB_ERROR whose
 * code matches "code" and whose message is "message". A missing socket gives
 * VB_ERROR_UNREACHABLE saying whether vestibuled runs */
JsonNode *
vb_ctl_client_request(VbCtlClient *self,
		      const gchar *method,
		      const gchar *path,
		      JsonNode *body,
		      GError **error);
/* GET PATH and call @func for every line of a streamed NDJSON answer until it ends,
 * @func returns FALSE, or @cancellable is cancelled */
typedef gboolean (*VbCtlLineFunc)(JsonNode *line, gpointer user_data);
gboolean
vb_ctl_client_stream(VbCtlClient *self,
		     const gchar *path,
		     VbCtlLineFunc func,
		     gpointer user_data,
		     GCancellable *cancellable,
		     GError **error);
/* maps a stable error code string ("not-found") back to a VbError */
gint
vb_error_from_code(const gchar *code);

G_END_DECLS
