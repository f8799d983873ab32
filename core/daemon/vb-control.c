/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-audit-private.h"
#include "vb-bus.h"
#include "vb-context-private.h"
#include "vb-control-private.h"
#include "vb-error.h"
#include "vb-http-server-private.h"
#include "vb-redact-private.h"
#include "vb-store-private.h"
#include "vb-visit-manager-private.h"

/* the control API behind `vestibulectl`; only on the control socket, whose
 * file mode (0660) decides who may use it */

#define VB_EVENTS_DEFAULT_LIMIT 50
#define VB_EVENTS_MAX_LIMIT 1000
/* a page of visits is read on the main loop: a tap waits for it */
#define VB_VISITS_MAX_LIMIT 1000
#define VB_FOLLOWERS_MAX 16
/* what a follower may fall behind by, written but not yet read, before it is
 * dropped: about 5,000 events, several minutes of a busy store */
#define VB_FOLLOWER_MAX_BEHIND (1024 * 1024)
#define VB_CONTROL_METRIC_DROPPED "vestibule_control_followers_dropped_total"
#define VB_CONTROL_METRIC_FOLLOWERS "vestibule_control_followers"

/* one client of GET /v1/events?follow=1. Its response body does not
 * accumulate: each line is freed once written, and what is appended but not
 * yet written is bounded by VB_FOLLOWER_MAX_BEHIND */
typedef struct {
	VbControl *ctl; /* unowned: it outlives its followers */
	SoupServerMessage *msg;
	gsize behind; /* bytes appended and not yet written */
} VbFollower;

struct _VbControl {
	VbHttpServer *http;
	VbContext *context;
	VbPluginLoader *loader;
	VbHost *host;
	VbControlGetFunc get_status;
	VbControlGetFunc get_doors;
	VbControlReloadFunc reload;
	gpointer user_data;
	GPtrArray *followers; /* of VbFollower */
	gulong event_handler;
};

static void
vb_control_reply_variant(SoupServerMessage *msg, GVariant *value)
{
	g_autoptr(JsonNode) node = NULL;

	g_variant_ref_sink(value);
	node = json_gvariant_serialize(value);
	g_variant_unref(value);
	vb_http_reply_json(msg, SOUP_STATUS_OK, node);
}

static gboolean
vb_control_query_uint(GHashTable *query,
		      const gchar *key,
		      guint64 max,
		      guint64 *value,
		      SoupServerMessage *msg)
{
	const gchar *str = query != NULL ? g_hash_table_lookup(query, key) : NULL;
	g_autoptr(GError) error = NULL;

	if (str == NULL)
		return TRUE;
	if (!g_ascii_string_to_unsigned(str, 10, 0, max, value, &error)) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST, "invalid-data",
				    "query parameter '%s': %s", key, error->message);
		return FALSE;
	}
	return TRUE;
}

static gboolean
vb_control_check_method(SoupServerMessage *msg, const gchar *method)
{
	if (g_strcmp0(soup_server_message_get_method(msg), method) == 0)
		return TRUE;
	vb_http_reply_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "invalid-data",
			    "use %s for this path", method);
	return FALSE;
}

static void
vb_control_status_cb(VbHttpServer *server,
		     SoupServerMessage *msg,
		     const gchar *path,
		     GHashTable *query,
		     gpointer user_data)
{
	VbControl *ctl = user_data;
	if (!vb_control_check_method(msg, "GET"))
		return;
	vb_control_reply_variant(msg, ctl->get_status(ctl->user_data));
}

static void
vb_control_plugins_cb(VbHttpServer *server,
		      SoupServerMessage *msg,
		      const gchar *path,
		      GHashTable *query,
		      gpointer user_data)
{
	VbControl *ctl = user_data;
	VbPluginLoader *loader = ctl->loader;
	g_autoptr(GPtrArray) modules = vb_plugin_loader_list_modules(loader);

	if (!vb_control_check_method(msg, "GET"))
		return;
	vb_control_reply_variant(
	    msg, g_variant_new_parsed("{'instances': <%@aa{sv}>, 'available': <%@as>}",
				      vb_plugin_loader_to_variant(loader),
				      g_variant_new_strv((const gchar *const *)modules->pdata,
							 (gssize)modules->len)));
}

static void
vb_control_doors_cb(VbHttpServer *server,
		    SoupServerMessage *msg,
		    const gchar *path,
		    GHashTable *query,
		    gpointer user_data)
{
	VbControl *ctl = user_data;
	if (!vb_control_check_method(msg, "GET"))
		return;
	vb_control_reply_variant(msg, ctl->get_doors(ctl->user_data));
}

static void
vb_control_visits_cb(VbHttpServer *server,
		     SoupServerMessage *msg,
		     const gchar *path,
		     GHashTable *query,
		     gpointer user_data)
{
	VbControl *ctl = user_data;
	VbStore *store = vb_context_get_store(ctl->context);
	g_autoptr(GPtrArray) visits = NULL;
	g_autoptr(GError) error = NULL;
	guint64 limit = 50;
	const gchar *before = query != NULL ? g_hash_table_lookup(query, "before") : NULL;
	GVariantBuilder builder;
	GVariantDict reply;

	if (!vb_control_check_method(msg, "GET"))
		return;
	if (!vb_control_query_uint(query, "limit", VB_VISITS_MAX_LIMIT, &limit, msg))
		return;
	visits = vb_visit_list(store, (guint)limit, before, &error);
	if (visits == NULL) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	g_variant_builder_init(&builder, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; i < visits->len; i++)
		g_variant_builder_add_value(&builder, g_ptr_array_index(visits, i));
	g_variant_dict_init(&reply, NULL);
	g_variant_dict_insert_value(&reply, "visits", g_variant_builder_end(&builder));
	/* a full page: the next one is ?before= its last visit */
	if (limit > 0 && visits->len == limit) {
		const gchar *last = NULL;
		g_variant_lookup(g_ptr_array_index(visits, visits->len - 1), "id", "&s", &last);
		g_variant_dict_insert(&reply, "next", "s", last);
	}
	vb_control_reply_variant(msg, g_variant_dict_end(&reply));
}

static void
vb_control_reload_cb(VbHttpServer *server,
		     SoupServerMessage *msg,
		     const gchar *path,
		     GHashTable *query,
		     gpointer user_data)
{
	VbControl *ctl = user_data;
	g_autoptr(GError) error = NULL;

	if (!vb_control_check_method(msg, "POST"))
		return;
	if (!ctl->reload(ctl->user_data, &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	vb_control_reply_variant(msg, g_variant_new_parsed("{'status': <'applied'>}"));
}

static void
vb_control_tokens_cb(VbHttpServer *server,
		     SoupServerMessage *msg,
		     const gchar *path,
		     GHashTable *query,
		     gpointer user_data)
{
	VbControl *ctl = user_data;
	VbStore *store = vb_context_get_store(ctl->context);
	const gchar *method = soup_server_message_get_method(msg);
	g_autoptr(GError) error = NULL;

	if (g_strcmp0(method, "GET") == 0 && g_strcmp0(path, "/v1/tokens") == 0) {
		g_autoptr(GPtrArray) tokens = vb_store_token_list(store, &error);
		GVariantBuilder builder;
		if (tokens == NULL) {
			vb_http_reply_gerror(msg, error);
			return;
		}
		g_variant_builder_init(&builder, G_VARIANT_TYPE("aa{sv}"));
		for (guint i = 0; i < tokens->len; i++)
			g_variant_builder_add_value(&builder, g_ptr_array_index(tokens, i));
		vb_control_reply_variant(
		    msg, g_variant_new_parsed("{'tokens': <%v>}", g_variant_builder_end(&builder)));
		return;
	}
	if (g_strcmp0(method, "POST") == 0 && g_strcmp0(path, "/v1/tokens") == 0) {
		g_autoptr(JsonNode) body = vb_http_parse_json_body(msg, &error);
		JsonObject *obj;
		const gchar *name, *scope;
		g_autofree gchar *token = NULL;
		if (body == NULL) {
			vb_http_reply_gerror(msg, error);
			return;
		}
		obj = JSON_NODE_HOLDS_OBJECT(body) ? json_node_get_object(body) : NULL;
		name = obj != NULL ? json_object_get_string_member_with_default(obj, "name", NULL)
				   : NULL;
		scope = obj != NULL ? json_object_get_string_member_with_default(obj, "scope", NULL)
				    : NULL;
		if (name == NULL || scope == NULL || name[0] == '\0' || scope[0] == '\0') {
			vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST, "invalid-data",
					    "give a JSON object with the token's \"name\" and "
					    "\"scope\" (such as \"orders\" or \"metrics\")");
			return;
		}
		token = vb_http_server_create_token(vb_context_get_http_server(ctl->context), name,
						    scope, &error);
		if (token == NULL) {
			vb_http_reply_gerror(msg, error);
			return;
		}
		vb_control_reply_variant(msg, g_variant_new_parsed("{'name': <%s>, 'scope': <%s>, "
								   "'token': <%s>}",
								   name, scope, token));
		return;
	}
	if (g_strcmp0(method, "DELETE") == 0 && g_str_has_prefix(path, "/v1/tokens/")) {
		const gchar *name = path + strlen("/v1/tokens/");
		if (!vb_store_token_remove(store, name, &error)) {
			vb_http_reply_gerror(msg, error);
			return;
		}
		vb_control_reply_variant(msg, g_variant_new_parsed("{'removed': <%s>}", name));
		return;
	}
	vb_http_reply_error(msg, SOUP_STATUS_NOT_FOUND, "not-found",
			    "use GET or POST /v1/tokens, or DELETE /v1/tokens/NAME");
}

static void
vb_follower_free(VbFollower *follower)
{
	g_signal_handlers_disconnect_by_data(follower->msg, follower);
	g_object_unref(follower->msg);
	g_free(follower);
}

static void
vb_control_update_followers_gauge(VbControl *ctl)
{
	vb_metrics_set(vb_context_get_metrics(ctl->context), VB_CONTROL_METRIC_FOLLOWERS, NULL,
		       ctl->followers->len);
}

static void
vb_control_follower_finished_cb(SoupServerMessage *msg, gpointer user_data)
{
	VbFollower *follower = user_data;
	VbControl *ctl = follower->ctl;

	g_ptr_array_remove(ctl->followers, follower);
	vb_control_update_followers_gauge(ctl);
}

static void
vb_control_follower_wrote_cb(SoupServerMessage *msg, guint chunk_size, gpointer user_data)
{
	VbFollower *follower = user_data;
	follower->behind -= MIN(follower->behind, chunk_size);
}

/* a follower that does not read is let go, so that it costs the store
 * nothing: its connection is shut, and libsoup finishes the message */
static void
vb_control_follower_drop(VbFollower *follower)
{
	VbControl *ctl = follower->ctl;
	GSocket *socket = soup_server_message_get_socket(follower->msg);
	g_autoptr(GError) error = NULL;

	g_message("an event follower stopped reading (%" G_GSIZE_FORMAT
		  " KiB of events unread): it is disconnected, and may follow again from the "
		  "last event it read with GET /v1/events?follow=1&after=SEQ",
		  follower->behind / 1024);
	vb_metrics_add(vb_context_get_metrics(ctl->context), VB_CONTROL_METRIC_DROPPED, NULL, 1);
	if (socket != NULL && !g_socket_shutdown(socket, TRUE, TRUE, &error))
		g_debug("cannot shut the follower's connection: %s", error->message);
	/* freed here, not by its finished signal, which may come later or never */
	g_ptr_array_remove(ctl->followers, follower);
	vb_control_update_followers_gauge(ctl);
}

/* appends one line, or drops the follower that fell too far behind */
static gboolean
vb_control_follower_append(VbFollower *follower, const gchar *line, gsize len)
{
	SoupMessageBody *body = soup_server_message_get_response_body(follower->msg);

	if (follower->behind + len > VB_FOLLOWER_MAX_BEHIND) {
		vb_control_follower_drop(follower);
		return FALSE;
	}
	follower->behind += len;
	soup_message_body_append(body, SOUP_MEMORY_COPY, line, len);
	return TRUE;
}

/* the event as one line of NDJSON */
static gchar *
vb_control_event_line(JsonNode *node, gsize *len)
{
	g_autofree gchar *json = json_to_string(node, FALSE);
	gchar *line = g_strconcat(json, "\n", NULL);

	*len = strlen(line);
	return line;
}

static void
vb_control_event_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	VbControl *ctl = user_data;
	g_autofree gchar *line = NULL;
	gsize len;

	if (ctl->followers->len == 0)
		return;
	/* the payload as the audit log redacted it, and the line around it
	 * written directly: no JSON tree per event */
	line = vb_redact_event_to_line(event, vb_host_event_payload_json(ctl->host, event), &len);
	/* backwards: a follower dropped leaves the array */
	for (guint i = ctl->followers->len; i > 0; i--) {
		VbFollower *follower = g_ptr_array_index(ctl->followers, i - 1);
		if (vb_control_follower_append(follower, line, len))
			soup_server_message_unpause(follower->msg);
	}
}

static JsonNode *
vb_control_audit_row_to_json(GVariant *row)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GDateTime) dt = NULL;
	g_autofree gchar *iso = NULL;
	const gchar *name = "", *source = "", *door = "", *payload = "{}";
	guint64 seq = 0;
	gint64 real = 0;

	g_variant_lookup(row, "seq", "t", &seq);
	g_variant_lookup(row, "name", "&s", &name);
	g_variant_lookup(row, "source", "&s", &source);
	g_variant_lookup(row, "door", "&s", &door);
	g_variant_lookup(row, "real", "x", &real);
	g_variant_lookup(row, "payload", "&s", &payload);
	dt = g_date_time_new_from_unix_utc(real / G_USEC_PER_SEC);
	iso = g_date_time_format_iso8601(dt);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "seq");
	json_builder_add_int_value(builder, (gint64)seq);
	json_builder_set_member_name(builder, "name");
	json_builder_add_string_value(builder, name);
	json_builder_set_member_name(builder, "time");
	json_builder_add_string_value(builder, iso);
	if (source[0] != '\0') {
		json_builder_set_member_name(builder, "source");
		json_builder_add_string_value(builder, source);
	}
	if (door[0] != '\0') {
		json_builder_set_member_name(builder, "door");
		json_builder_add_string_value(builder, door);
	}
	json_builder_set_member_name(builder, "payload");
	if (json_parser_load_from_data(parser, payload, -1, NULL))
		json_builder_add_value(builder, json_node_copy(json_parser_get_root(parser)));
	else
		json_builder_add_null_value(builder);
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}

static void
vb_control_events_cb(VbHttpServer *server,
		     SoupServerMessage *msg,
		     const gchar *path,
		     GHashTable *query,
		     gpointer user_data)
{
	VbControl *ctl = user_data;
	VbContext *context = ctl->context;
	g_autoptr(GPtrArray) rows = NULL;
	g_autoptr(GError) error = NULL;
	guint64 limit = VB_EVENTS_DEFAULT_LIMIT;
	guint64 after = 0;
	gboolean follow;
	VbFollower *follower;

	if (!vb_control_check_method(msg, "GET"))
		return;
	if (!vb_control_query_uint(query, "limit", VB_EVENTS_MAX_LIMIT, &limit, msg) ||
	    !vb_control_query_uint(query, "after", G_MAXINT64, &after, msg))
		return;
	follow = query != NULL && g_strcmp0(g_hash_table_lookup(query, "follow"), "1") == 0;

	/* the backlog comes from the audit log, so write out what it buffered */
	vb_host_flush_audit(ctl->host);
	rows = vb_audit_list(vb_context_get_store(context), after, (guint)limit, &error);
	if (rows == NULL) {
		vb_http_reply_gerror(msg, error);
		return;
	}

	if (!follow) {
		g_autoptr(JsonBuilder) builder = json_builder_new();
		g_autoptr(JsonNode) root = NULL;
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "events");
		json_builder_begin_array(builder);
		/* oldest first, as a log reads */
		for (guint i = rows->len; i > 0; i--)
			json_builder_add_value(
			    builder, vb_control_audit_row_to_json(g_ptr_array_index(rows, i - 1)));
		json_builder_end_array(builder);
		json_builder_end_object(builder);
		root = json_builder_get_root(builder);
		vb_http_reply_json(msg, SOUP_STATUS_OK, root);
		return;
	}

	if (ctl->followers->len >= VB_FOLLOWERS_MAX) {
		vb_http_reply_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "rate-limited",
				    "too many clients follow the events (%u); close one",
				    VB_FOLLOWERS_MAX);
		return;
	}
	soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
	soup_message_headers_set_content_type(soup_server_message_get_response_headers(msg),
					      "application/x-ndjson", NULL);
	soup_message_headers_set_encoding(soup_server_message_get_response_headers(msg),
					  SOUP_ENCODING_CHUNKED);
	/* what is written is freed: a stream of a million events costs what its
	 * first did */
	soup_message_body_set_accumulate(soup_server_message_get_response_body(msg), FALSE);
	follower = g_new0(VbFollower, 1);
	follower->ctl = ctl;
	follower->msg = g_object_ref(msg);
	g_ptr_array_add(ctl->followers, follower);
	vb_control_update_followers_gauge(ctl);
	g_signal_connect(msg, "finished", G_CALLBACK(vb_control_follower_finished_cb), follower);
	g_signal_connect(msg, "disconnected", G_CALLBACK(vb_control_follower_finished_cb),
			 follower);
	g_signal_connect(msg, "wrote-body-data", G_CALLBACK(vb_control_follower_wrote_cb),
			 follower);
	for (guint i = rows->len; i > 0; i--) {
		g_autoptr(JsonNode) node =
		    vb_control_audit_row_to_json(g_ptr_array_index(rows, i - 1));
		g_autofree gchar *line = NULL;
		gsize len;
		line = vb_control_event_line(node, &len);
		/* a backlog is at most VB_EVENTS_MAX_LIMIT lines, well within the bound */
		if (!vb_control_follower_append(follower, line, len))
			return;
	}
	if (rows->len == 0)
		soup_server_message_pause(msg);
}

/**
 * vb_control_register:
 * @http: the HTTP server
 * @services: what the handlers answer from: the context, the plugin loader and
 *   the daemon's status, doors and reload
 *
 * Serves the control API of the daemon on the control listener, and starts
 * following the bus for `GET /v1/events?follow=1`.
 *
 * Returns: (transfer full): the registration, for vb_control_unregister()
 */
VbControl *
vb_control_register(VbHttpServer *http, const VbControlServices *services)
{
	VbControl *ctl;

	g_return_val_if_fail(VB_IS_HTTP_SERVER(http), NULL);
	g_return_val_if_fail(services != NULL, NULL);
	g_return_val_if_fail(VB_IS_CONTEXT(services->context), NULL);
	g_return_val_if_fail(VB_IS_PLUGIN_LOADER(services->loader), NULL);
	g_return_val_if_fail(VB_IS_HOST(services->host), NULL);
	g_return_val_if_fail(services->get_status != NULL, NULL);
	g_return_val_if_fail(services->get_doors != NULL, NULL);
	g_return_val_if_fail(services->reload != NULL, NULL);

	ctl = g_new0(VbControl, 1);
	ctl->http = g_object_ref(http);
	ctl->context = g_object_ref(services->context);
	ctl->loader = g_object_ref(services->loader);
	ctl->host = g_object_ref(services->host);
	ctl->get_status = services->get_status;
	ctl->get_doors = services->get_doors;
	ctl->reload = services->reload;
	ctl->user_data = services->user_data;
	ctl->followers = g_ptr_array_new_with_free_func((GDestroyNotify)vb_follower_free);
	vb_metrics_declare(vb_context_get_metrics(ctl->context), VB_CONTROL_METRIC_FOLLOWERS,
			   VB_METRIC_GAUGE, "Clients following the events on the control socket");
	vb_metrics_declare(vb_context_get_metrics(ctl->context), VB_CONTROL_METRIC_DROPPED,
			   VB_METRIC_COUNTER,
			   "Event followers disconnected because they stopped reading");
	ctl->event_handler = g_signal_connect(vb_context_get_bus(ctl->context), "event",
					      G_CALLBACK(vb_control_event_cb), ctl);

	vb_http_server_add_handler(http, VB_HTTP_LISTENER_CONTROL, "/v1/status", NULL,
				   vb_control_status_cb, ctl, NULL);
	vb_http_server_add_handler(http, VB_HTTP_LISTENER_CONTROL, "/v1/plugins", NULL,
				   vb_control_plugins_cb, ctl, NULL);
	vb_http_server_add_handler(http, VB_HTTP_LISTENER_CONTROL, "/v1/doors", NULL,
				   vb_control_doors_cb, ctl, NULL);
	vb_http_server_add_handler(http, VB_HTTP_LISTENER_CONTROL, "/v1/events", NULL,
				   vb_control_events_cb, ctl, NULL);
	vb_http_server_add_handler(http, VB_HTTP_LISTENER_CONTROL, "/v1/visits", NULL,
				   vb_control_visits_cb, ctl, NULL);
	vb_http_server_add_handler(http, VB_HTTP_LISTENER_CONTROL, "/v1/reload", NULL,
				   vb_control_reload_cb, ctl, NULL);
	vb_http_server_add_handler(http, VB_HTTP_LISTENER_CONTROL, "/v1/tokens", NULL,
				   vb_control_tokens_cb, ctl, NULL);
	return ctl;
}

/**
 * vb_control_unregister:
 * @self: (transfer full): what vb_control_register() returned
 *
 * Removes what vb_control_register() added, ends the event streams of those
 * who follow them cleanly, and frees @self.
 */
void
vb_control_unregister(VbControl *self)
{
	static const gchar *paths[] = {"/v1/status", "/v1/plugins", "/v1/doors", "/v1/events",
				       "/v1/visits", "/v1/reload",  "/v1/tokens"};

	g_return_if_fail(self != NULL);

	for (guint i = 0; i < G_N_ELEMENTS(paths); i++)
		vb_http_server_remove_handler(self->http, VB_HTTP_LISTENER_CONTROL, paths[i]);
	/* followers get a clean end of stream rather than a cut connection */
	while (self->followers->len > 0) {
		VbFollower *follower = g_ptr_array_index(self->followers, 0);
		g_autoptr(SoupServerMessage) msg = g_object_ref(follower->msg);
		g_ptr_array_remove_index(self->followers, 0);
		soup_message_body_complete(soup_server_message_get_response_body(msg));
		soup_server_message_unpause(msg);
	}
	g_clear_signal_handler(&self->event_handler, vb_context_get_bus(self->context));
	g_ptr_array_unref(self->followers);
	g_object_unref(self->loader);
	g_object_unref(self->host);
	g_object_unref(self->context);
	g_object_unref(self->http);
	g_free(self);
}
