/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <inttypes.h>

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-sim-common.h"

typedef struct {
	VbPlugin *plugin; /* no reference: the routes are removed in shutdown */
	gchar *path;
	gchar *method;
	VbSimRouteFlags flags;
	VbSimHandler handler;
} VbSimRoute;

struct _VbSimRoutes {
	VbPlugin *plugin;
	VbHttpServer *server;
	GPtrArray *paths;
};

static void
vb_sim_route_free(gpointer data)
{
	VbSimRoute *route = data;
	g_free(route->path);
	g_free(route->method);
	g_free(route);
}

/* overwrites every string value of @node in place */
static void
vb_sim_json_wipe(JsonNode *node)
{
	switch (json_node_get_node_type(node)) {
	case JSON_NODE_OBJECT: {
		JsonObjectIter iter;
		JsonNode *member = NULL;
		json_object_iter_init(&iter, json_node_get_object(node));
		while (json_object_iter_next(&iter, NULL, &member))
			vb_sim_json_wipe(member);
		break;
	}
	case JSON_NODE_ARRAY: {
		JsonArray *array = json_node_get_array(node);
		for (guint i = 0; i < json_array_get_length(array); i++)
			vb_sim_json_wipe(json_array_get_element(array, i));
		break;
	}
	case JSON_NODE_VALUE:
		if (json_node_get_value_type(node) == G_TYPE_STRING) {
			/* json-glib hands out its own buffer; it is heap memory */
			gchar *str = (gchar *)json_node_get_string(node);
			if (str != NULL)
				explicit_bzero(str, strlen(str));
		}
		break;
	case JSON_NODE_NULL:
	default:
		break;
	}
}

/* overwrites the raw request body: the flattened copy and every chunk read */
static void
vb_sim_request_body_wipe(SoupServerMessage *msg)
{
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	g_autoptr(GBytes) flat = NULL;
	gsize offset = 0;

	if (body == NULL || body->length == 0)
		return;
	flat = soup_message_body_flatten(body);
	if (flat != NULL && g_bytes_get_size(flat) > 0)
		explicit_bzero((gpointer)g_bytes_get_data(flat, NULL), g_bytes_get_size(flat));
	while (offset < (gsize)body->length) {
		g_autoptr(GBytes) chunk = soup_message_body_get_chunk(body, offset);
		gsize size = 0;
		gconstpointer data;
		if (chunk == NULL)
			break;
		data = g_bytes_get_data(chunk, &size);
		if (size == 0)
			break;
		/* the chunks were read from the socket into heap buffers */
		explicit_bzero((gpointer)data, size);
		offset += size;
	}
}

/* parses the body and calls the handler; @node keeps the parsed body for wiping */
static void
vb_sim_route_dispatch(VbSimRoute *route,
		      SoupServerMessage *msg,
		      const gchar *path,
		      GHashTable *query,
		      JsonNode **node)
{
	const gchar *method = soup_server_message_get_method(msg);
	SoupMessageBody *raw = soup_server_message_get_request_body(msg);
	g_autoptr(JsonObject) empty = NULL;
	JsonObject *body;

	/* the server also hands over the paths below a route; a verb has none */
	if (g_strcmp0(path, route->path) != 0) {
		vb_http_reply_error(msg, SOUP_STATUS_NOT_FOUND,
				    vb_error_to_code(VB_ERROR_NOT_FOUND),
				    _("there is nothing at %s: check the URL"), path);
		return;
	}
	if (g_strcmp0(method, route->method) != 0) {
		soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
					     route->method);
		vb_http_reply_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
				    vb_error_to_code(VB_ERROR_NOT_SUPPORTED),
				    _("%s only accepts %s"), path, route->method);
		return;
	}
	if (g_strcmp0(method, SOUP_METHOD_POST) == 0 && raw != NULL && raw->length > 0) {
		g_autoptr(GError) error = NULL;
		*node = vb_http_parse_json_body(msg, &error);
		if (*node == NULL) {
			vb_http_reply_gerror(msg, error);
			return;
		}
		if (!JSON_NODE_HOLDS_OBJECT(*node)) {
			vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
					    vb_error_to_code(VB_ERROR_INVALID_DATA),
					    _("the request body must be a JSON object"));
			return;
		}
		body = json_node_get_object(*node);
	} else {
		/* a GET, or a POST without parameters */
		empty = json_object_new();
		body = empty;
	}
	route->handler(route->plugin, msg, body, query);
}

static void
vb_sim_route_cb(VbHttpServer *server,
		SoupServerMessage *msg,
		const gchar *path,
		GHashTable *query,
		gpointer user_data)
{
	VbSimRoute *route = user_data;
	g_autoptr(JsonNode) node = NULL;

	vb_sim_route_dispatch(route, msg, path, query, &node);
	if (route->flags & VB_SIM_ROUTE_SECRET) {
		if (node != NULL)
			vb_sim_json_wipe(node);
		vb_sim_request_body_wipe(msg);
	}
}

VbSimRoutes *
vb_sim_routes_new(VbPlugin *plugin)
{
	VbSimRoutes *self = g_new0(VbSimRoutes, 1);
	VbHttpServer *server = vb_context_get_http_server(vb_plugin_get_context(plugin));

	self->plugin = plugin;
	if (server != NULL)
		self->server = g_object_ref(server);
	self->paths = g_ptr_array_new_with_free_func(g_free);
	return self;
}

void
vb_sim_routes_add(VbSimRoutes *self,
		  const gchar *method,
		  const gchar *verb,
		  VbSimRouteFlags flags,
		  VbSimHandler handler)
{
	VbSimRoute *route;
	g_autofree gchar *path = NULL;

	g_return_if_fail(self != NULL);
	if (self->server == NULL)
		return;
	path = g_strdup_printf("/v1/sim/%s/%s", vb_plugin_get_name(self->plugin), verb);
	route = g_new0(VbSimRoute, 1);
	route->plugin = self->plugin;
	route->path = g_strdup(path);
	route->method = g_strdup(method);
	route->flags = flags;
	route->handler = handler;
	vb_http_server_add_handler(self->server, VB_HTTP_LISTENER_CONTROL, path, NULL,
				   vb_sim_route_cb, route, vb_sim_route_free);
	g_ptr_array_add(self->paths, g_steal_pointer(&path));
}

void
vb_sim_routes_remove_all(VbSimRoutes *self)
{
	g_return_if_fail(self != NULL);
	for (guint i = 0; i < self->paths->len; i++) {
		const gchar *path = g_ptr_array_index(self->paths, i);
		vb_http_server_remove_handler(self->server, VB_HTTP_LISTENER_CONTROL, path);
	}
	g_ptr_array_set_size(self->paths, 0);
}

void
vb_sim_routes_free(VbSimRoutes *self)
{
	if (self == NULL)
		return;
	vb_sim_routes_remove_all(self);
	g_ptr_array_unref(self->paths);
	g_clear_object(&self->server);
	g_free(self);
}

gboolean
vb_sim_json_check_members(JsonObject *obj, const gchar *const *allowed, GError **error)
{
	JsonObjectIter iter;
	const gchar *name = NULL;

	json_object_iter_init(&iter, obj);
	while (json_object_iter_next(&iter, &name, NULL)) {
		if (!g_strv_contains(allowed, name)) {
			g_autofree gchar *expected = g_strjoinv(", ", (gchar **)allowed);
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    /* TRANSLATORS: the first %s is a JSON member name, the
				     * second a list of the accepted ones */
				    _("unknown member '%s'; expected: %s"), name,
				    expected[0] != '\0' ? expected : _("none"));
			return FALSE;
		}
	}
	return TRUE;
}

/* the member's node, or NULL when it is absent or null */
static JsonNode *
vb_sim_json_lookup(JsonObject *obj, const gchar *member, gboolean required, GError **error)
{
	JsonNode *node = json_object_get_member(obj, member);

	if (node == NULL || JSON_NODE_HOLDS_NULL(node)) {
		if (required) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the member '%s' is missing"), member);
		}
		return NULL;
	}
	return node;
}

gboolean
vb_sim_json_get_string(JsonObject *obj,
		       const gchar *member,
		       gboolean required,
		       const gchar **value,
		       GError **error)
{
	g_autoptr(GError) error_local = NULL;
	JsonNode *node = vb_sim_json_lookup(obj, member, required, &error_local);

	if (node == NULL) {
		if (error_local != NULL) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		*value = NULL;
		return TRUE;
	}
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the member '%s' must be a string"), member);
		return FALSE;
	}
	*value = json_node_get_string(node);
	return TRUE;
}

gboolean
vb_sim_json_get_int(JsonObject *obj,
		    const gchar *member,
		    gboolean required,
		    gint64 min,
		    gint64 max,
		    gint64 *value,
		    GError **error)
{
	g_autoptr(GError) error_local = NULL;
	JsonNode *node = vb_sim_json_lookup(obj, member, required, &error_local);
	gint64 tmp;

	if (node == NULL) {
		if (error_local != NULL) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		return TRUE;
	}
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the member '%s' must be a whole number"), member);
		return FALSE;
	}
	tmp = json_node_get_int(node);
	if (tmp < min || tmp > max) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the member '%s' must be between %" PRId64 " and %" PRId64), member,
			    min, max);
		return FALSE;
	}
	*value = tmp;
	return TRUE;
}

gboolean
vb_sim_json_get_boolean(JsonObject *obj,
			const gchar *member,
			gboolean required,
			gboolean *value,
			GError **error)
{
	g_autoptr(GError) error_local = NULL;
	JsonNode *node = vb_sim_json_lookup(obj, member, required, &error_local);

	if (node == NULL) {
		if (error_local != NULL) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		return TRUE;
	}
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the member '%s' must be true or false"), member);
		return FALSE;
	}
	*value = json_node_get_boolean(node);
	return TRUE;
}

void
vb_sim_reply(SoupServerMessage *msg, guint status, JsonBuilder *builder)
{
	g_autoptr(JsonNode) node = json_builder_get_root(builder);
	vb_http_reply_json(msg, status, node);
}

const gchar *
vb_sim_get_door_label(VbPlugin *plugin)
{
	const gchar *door = vb_plugin_get_door(plugin);
	return door != NULL ? door : vb_plugin_get_name(plugin);
}

gboolean
vb_sim_phone_is_e164(const gchar *number)
{
	gsize len;

	if (number == NULL || number[0] != '+' || number[1] < '1' || number[1] > '9')
		return FALSE;
	len = strlen(number + 1);
	if (len < 8 || len > 15)
		return FALSE;
	for (gsize i = 1; number[i] != '\0'; i++) {
		if (!g_ascii_isdigit(number[i]))
			return FALSE;
	}
	return TRUE;
}

gchar *
vb_sim_redact_digits(const gchar *text)
{
	GString *str = g_string_new(NULL);
	const gchar *p = text;

	while (*p != '\0') {
		gsize run = 0;
		while (g_ascii_isdigit(p[run]))
			run++;
		if (run >= 4) {
			g_string_append(str, "••••");
			p += run;
		} else if (run > 0) {
			g_string_append_len(str, p, run);
			p += run;
		} else {
			g_string_append_c(str, *p);
			p++;
		}
	}
	return g_string_free(str, FALSE);
}

typedef struct {
	VbSimDelays *owner;
	GTask *task;
	GSource *timeout;
	GSource *cancel;
	VbSimDelayFunc func;
} VbSimDelay;

struct _VbSimDelays {
	GPtrArray *pending;
};

static void
vb_sim_delay_free(gpointer data)
{
	VbSimDelay *delay = data;

	if (delay->timeout != NULL) {
		g_source_destroy(delay->timeout);
		g_source_unref(delay->timeout);
	}
	if (delay->cancel != NULL) {
		g_source_destroy(delay->cancel);
		g_source_unref(delay->cancel);
	}
	g_object_unref(delay->task);
	g_free(delay);
}

static gboolean
vb_sim_delay_timeout_cb(gpointer user_data)
{
	VbSimDelay *delay = user_data;
	g_autoptr(GTask) task = g_object_ref(delay->task);
	VbSimDelayFunc func = delay->func;

	/* both sources are gone before the answer, so it cannot start a second one */
	g_ptr_array_remove_fast(delay->owner->pending, delay);
	/* cancelled in this same iteration: nothing is done */
	if (g_task_return_error_if_cancelled(task))
		return G_SOURCE_REMOVE;
	/* once the work is done its answer stands, or a retry would do it twice */
	g_task_set_check_cancellable(task, FALSE);
	func(task);
	return G_SOURCE_REMOVE;
}

static gboolean
vb_sim_delay_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	VbSimDelay *delay = user_data;
	g_autoptr(GTask) task = g_object_ref(delay->task);

	g_ptr_array_remove_fast(delay->owner->pending, delay);
	g_task_return_error_if_cancelled(task);
	return G_SOURCE_REMOVE;
}

VbSimDelays *
vb_sim_delays_new(void)
{
	VbSimDelays *self = g_new0(VbSimDelays, 1);
	self->pending = g_ptr_array_new_with_free_func(vb_sim_delay_free);
	return self;
}

void
vb_sim_delays_run(VbSimDelays *self, GTask *task, guint delay_ms, VbSimDelayFunc func)
{
	GCancellable *cancellable = g_task_get_cancellable(task);
	GMainContext *context = g_task_get_context(task);
	VbSimDelay *delay;

	if (g_task_return_error_if_cancelled(task))
		return;

	delay = g_new0(VbSimDelay, 1);
	delay->owner = self;
	delay->task = g_object_ref(task);
	delay->func = func;

	delay->timeout = g_timeout_source_new(delay_ms);
	g_source_set_name(delay->timeout, "[vestibule] sim latency");
	g_source_set_priority(delay->timeout, g_task_get_priority(task));
	g_source_set_callback(delay->timeout, vb_sim_delay_timeout_cb, delay, NULL);
	g_source_attach(delay->timeout, context);

	if (cancellable != NULL) {
		delay->cancel = g_cancellable_source_new(cancellable);
		g_source_set_priority(delay->cancel, g_task_get_priority(task));
		g_source_set_callback(delay->cancel, G_SOURCE_FUNC(vb_sim_delay_cancelled_cb),
				      delay, NULL);
		g_source_attach(delay->cancel, context);
	}
	g_ptr_array_add(self->pending, delay);
}

void
vb_sim_delays_abort(VbSimDelays *self, const gchar *message)
{
	g_autoptr(GPtrArray) pending = NULL;

	g_return_if_fail(self != NULL);

	/* answering may start a retry, which then lands in a fresh array */
	pending = g_steal_pointer(&self->pending);
	self->pending = g_ptr_array_new_with_free_func(vb_sim_delay_free);
	for (guint i = 0; i < pending->len; i++) {
		VbSimDelay *delay = g_ptr_array_index(pending, i);
		g_autoptr(GTask) task = g_object_ref(delay->task);

		/* the sources go before the task answers */
		if (delay->timeout != NULL) {
			g_source_destroy(delay->timeout);
			g_clear_pointer(&delay->timeout, g_source_unref);
		}
		if (delay->cancel != NULL) {
			g_source_destroy(delay->cancel);
			g_clear_pointer(&delay->cancel, g_source_unref);
		}
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE, "%s", message);
	}
}

guint
vb_sim_delays_get_pending(VbSimDelays *self)
{
	return self->pending->len;
}

void
vb_sim_delays_free(VbSimDelays *self)
{
	if (self == NULL)
		return;
	/* each pending task holds a reference on the instance, so none is left here */
	g_ptr_array_unref(self->pending);
	g_free(self);
}
