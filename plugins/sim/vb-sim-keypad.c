/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "vb-sim-common.h"

/*
 * sim-keypad plays the keypad at a door: a control request carries the keys
 * a shopper presses, and each becomes a keypad-key event, in order.
 */

/* more than anyone types into a door keypad in one go */
#define VB_SIM_KEYPAD_KEYS_MAX 64

#define VB_TYPE_SIM_KEYPAD (vb_sim_keypad_get_type())
G_DECLARE_FINAL_TYPE(VbSimKeypad, vb_sim_keypad, VB, SIM_KEYPAD, VbPlugin)

struct _VbSimKeypad {
	VbPlugin parent_instance;
	VbSimRoutes *routes;
	gboolean active;
	guint64 keys;
};

static void
vb_sim_keypad_keypad_iface_init(VbKeypadInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(VbSimKeypad,
			      vb_sim_keypad,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_KEYPAD,
						    vb_sim_keypad_keypad_iface_init))

static void
vb_sim_keypad_keys_cb(VbPlugin *plugin, SoupServerMessage *msg, JsonObject *body, GHashTable *query)
{
	VbSimKeypad *self = VB_SIM_KEYPAD(plugin);
	const gchar *allowed[] = {"keys", NULL};
	VbKeypadKey keys[VB_SIM_KEYPAD_KEYS_MAX];
	JsonNode *node;
	JsonArray *array;
	guint n_keys;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonBuilder) builder = json_builder_new();

	if (!vb_sim_json_check_members(body, allowed, &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	node = json_object_get_member(body, "keys");
	if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node)) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA), "%s",
				    _("the member 'keys' must be an array of key names, "
				      "such as [\"0\", \"6\", \"enter\"]"));
		return;
	}
	array = json_node_get_array(node);
	n_keys = json_array_get_length(array);
	if (n_keys == 0 || n_keys > VB_SIM_KEYPAD_KEYS_MAX) {
		vb_http_reply_error(
		    msg, SOUP_STATUS_BAD_REQUEST, vb_error_to_code(VB_ERROR_INVALID_DATA),
		    _("the member 'keys' must list 1 to %u keys"), (guint)VB_SIM_KEYPAD_KEYS_MAX);
		return;
	}

	/* every key is checked before the first is pressed */
	for (guint i = 0; i < n_keys; i++) {
		JsonNode *element = json_array_get_element(array, i);
		const gchar *name = NULL;

		if (JSON_NODE_HOLDS_VALUE(element) &&
		    json_node_get_value_type(element) == G_TYPE_STRING)
			name = json_node_get_string(element);
		keys[i] = name != NULL ? vb_keypad_key_from_string(name) : VB_KEYPAD_KEY_INVALID;
		if (keys[i] == VB_KEYPAD_KEY_INVALID) {
			if (name == NULL) {
				vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
						    vb_error_to_code(VB_ERROR_INVALID_DATA),
						    _("key %u is not a string; no key was pressed"),
						    i + 1);
				return;
			}
			vb_http_reply_error(
			    msg, SOUP_STATUS_BAD_REQUEST, vb_error_to_code(VB_ERROR_INVALID_DATA),
			    /* TRANSLATORS: the key names are not translated */
			    _("unknown key '%s'; expected 0 to 9, *, #, enter, erase "
			      "or cancel; no key was pressed"),
			    name);
			return;
		}
	}
	for (guint i = 0; i < n_keys; i++)
		vb_keypad_emit_key(VB_KEYPAD(self), keys[i]);
	self->keys += n_keys;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "pressed");
	json_builder_add_int_value(builder, n_keys);
	json_builder_end_object(builder);
	vb_sim_reply(msg, SOUP_STATUS_OK, builder);
}

static gboolean
vb_sim_keypad_startup(VbPlugin *plugin, GError **error)
{
	VbSimKeypad *self = VB_SIM_KEYPAD(plugin);

	self->routes = vb_sim_routes_new(plugin);
	vb_sim_routes_add(self->routes, SOUP_METHOD_POST, "keys", VB_SIM_ROUTE_NONE,
			  vb_sim_keypad_keys_cb);
	return TRUE;
}

static void
vb_sim_keypad_shutdown(VbPlugin *plugin)
{
	VbSimKeypad *self = VB_SIM_KEYPAD(plugin);
	g_clear_pointer(&self->routes, vb_sim_routes_free);
}

static void
vb_sim_keypad_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	VbSimKeypad *self = VB_SIM_KEYPAD(plugin);

	g_variant_builder_add(builder, "{sv}", "active", g_variant_new_boolean(self->active));
	g_variant_builder_add(builder, "{sv}", "keys", g_variant_new_uint64(self->keys));
}

static void
vb_sim_keypad_set_active(VbKeypad *keypad, gboolean active)
{
	VbSimKeypad *self = VB_SIM_KEYPAD(keypad);

	if (self->active == active)
		return;
	self->active = active;
	g_debug("keypad %s %s", vb_sim_get_door_label(VB_PLUGIN(self)), active ? "lit" : "dark");
}

static void
vb_sim_keypad_keypad_iface_init(VbKeypadInterface *iface)
{
	iface->set_active = vb_sim_keypad_set_active;
}

static void
vb_sim_keypad_dispose(GObject *object)
{
	VbSimKeypad *self = VB_SIM_KEYPAD(object);

	g_clear_pointer(&self->routes, vb_sim_routes_free);
	G_OBJECT_CLASS(vb_sim_keypad_parent_class)->dispose(object);
}

static void
vb_sim_keypad_init(VbSimKeypad *self)
{
}

static void
vb_sim_keypad_class_init(VbSimKeypadClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);

	object_class->dispose = vb_sim_keypad_dispose;
	plugin_class->startup = vb_sim_keypad_startup;
	plugin_class->shutdown = vb_sim_keypad_shutdown;
	plugin_class->get_status = vb_sim_keypad_get_status;
}

VB_PLUGIN_DEFINE(vb_sim_keypad_get_type)
