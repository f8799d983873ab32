/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-bus.h"
#include "vb-card-reader.h"
#include "vb-context-private.h"
#include "vb-display.h"
#include "vb-door-lock.h"
#include "vb-error.h"
#include "vb-events.h"
#include "vb-keypad.h"
#include "vb-loyalty-partner.h"
#include "vb-payment-processor.h"
#include "vb-plugin-private.h"
#include "vb-sms-provider.h"

/**
 * SECTION:vb-plugin
 * @short_description: the base class of every plugin
 *
 * A plugin is a shared object holding one final subclass of #VbPlugin,
 * exported with VB_PLUGIN_DEFINE(). The daemon makes one instance per
 * `[instance:NAME]` section whose `plugin` key names the module, so two doors
 * get two reader instances of the same plugin.
 *
 * An instance reads its settings, declared in `class_init` with
 * vb_plugin_class_add_settings(), through vb_plugin_get_string() and its
 * siblings; the core has resolved and validated them against the declaration
 * before startup. Secrets come from the instance's section of the secrets
 * file through vb_plugin_get_secret().
 *
 * Plugins never call each other: they emit events with vb_plugin_emit() and
 * implement role interfaces that the core calls.
 */

typedef struct {
	VbContext *context; /* unowned: the context owns the instances */
	gchar *name;
	gchar *module_name;
	gchar *door;
	VbPluginState state;
	gchar *error;
	GHashTable *settings;	/* key -> GVariant */
	GHashTable *strv_cache; /* key -> GStrv */
} VbPluginPrivate;

G_DEFINE_TYPE_WITH_PRIVATE(VbPlugin, vb_plugin, G_TYPE_OBJECT)
#define GET_PRIVATE(o) ((VbPluginPrivate *)vb_plugin_get_instance_private(o))

static GQuark
vb_plugin_settings_quark(void)
{
	return g_quark_from_static_string("vb-plugin-settings");
}

/**
 * vb_plugin_class_add_settings:
 * @klass: a #VbPluginClass
 * @specs: (array length=n_specs): the keys the plugin reads
 * @n_specs: the number of @specs
 *
 * Declares the configuration keys of a plugin, from `class_init`. The core
 * checks each instance's section against them before startup: a value of the
 * wrong type is an error naming file and line, a key nobody declared is a
 * warning. The strings in @specs must be static.
 *
 * Since: 0.1
 */
void
vb_plugin_class_add_settings(VbPluginClass *klass, const VbSettingSpec *specs, guint n_specs)
{
	GType type = G_TYPE_FROM_CLASS(klass);
	GArray *array;

	g_return_if_fail(VB_IS_PLUGIN_CLASS(klass));
	g_return_if_fail(specs != NULL || n_specs == 0);

	array = g_type_get_qdata(type, vb_plugin_settings_quark());
	if (array == NULL) {
		/* lives as long as the type, which is as long as the process */
		array = g_array_new(FALSE, TRUE, sizeof(VbSettingSpec));
		g_type_set_qdata(type, vb_plugin_settings_quark(), array);
	}
	g_array_append_vals(array, specs, n_specs);
}

/**
 * vb_plugin_class_get_settings:
 * @klass: a #VbPluginClass
 * @n_specs: (out): the number of specs returned
 *
 * Returns: (array length=n_specs) (nullable): the keys declared by the class
 *
 * Since: 0.1
 */
const VbSettingSpec *
vb_plugin_class_get_settings(VbPluginClass *klass, guint *n_specs)
{
	GArray *array;

	g_return_val_if_fail(VB_IS_PLUGIN_CLASS(klass), NULL);
	g_return_val_if_fail(n_specs != NULL, NULL);

	array = g_type_get_qdata(G_TYPE_FROM_CLASS(klass), vb_plugin_settings_quark());
	*n_specs = array != NULL ? array->len : 0;
	return array != NULL ? (const VbSettingSpec *)array->data : NULL;
}

/**
 * vb_plugin_get_context:
 * @self: a #VbPlugin
 *
 * Returns: (transfer none): the daemon's context
 *
 * Since: 0.1
 */
VbContext *
vb_plugin_get_context(VbPlugin *self)
{
	g_return_val_if_fail(VB_IS_PLUGIN(self), NULL);
	return GET_PRIVATE(self)->context;
}

/**
 * vb_plugin_get_name:
 * @self: a #VbPlugin
 *
 * Returns: the instance name, the `NAME` of its `[instance:NAME]` section
 *
 * Since: 0.1
 */
const gchar *
vb_plugin_get_name(VbPlugin *self)
{
	g_return_val_if_fail(VB_IS_PLUGIN(self), NULL);
	return GET_PRIVATE(self)->name;
}

/**
 * vb_plugin_get_module_name:
 * @self: a #VbPlugin
 *
 * Returns: the plugin name, such as `sim-reader`
 *
 * Since: 0.1
 */
const gchar *
vb_plugin_get_module_name(VbPlugin *self)
{
	g_return_val_if_fail(VB_IS_PLUGIN(self), NULL);
	return GET_PRIVATE(self)->module_name;
}

/**
 * vb_plugin_get_door:
 * @self: a #VbPlugin
 *
 * Returns: (nullable): the door this instance is bound to, or %NULL for a
 *   store-wide service
 *
 * Since: 0.1
 */
const gchar *
vb_plugin_get_door(VbPlugin *self)
{
	g_return_val_if_fail(VB_IS_PLUGIN(self), NULL);
	return GET_PRIVATE(self)->door;
}

/**
 * vb_plugin_get_state:
 * @self: a #VbPlugin
 *
 * Returns: the instance's life-cycle state
 *
 * Since: 0.1
 */
VbPluginState
vb_plugin_get_state(VbPlugin *self)
{
	g_return_val_if_fail(VB_IS_PLUGIN(self), VB_PLUGIN_STATE_DISABLED);
	return GET_PRIVATE(self)->state;
}

/**
 * vb_plugin_get_error:
 * @self: a #VbPlugin
 *
 * Returns: (nullable): why the instance is disabled
 *
 * Since: 0.1
 */
const gchar *
vb_plugin_get_error(VbPlugin *self)
{
	g_return_val_if_fail(VB_IS_PLUGIN(self), NULL);
	return GET_PRIVATE(self)->error;
}

static GVariant *
vb_plugin_lookup_setting(VbPlugin *self, const gchar *key, const GVariantType *type)
{
	VbPluginPrivate *priv = GET_PRIVATE(self);
	GVariant *value = NULL;

	if (priv->settings != NULL)
		value = g_hash_table_lookup(priv->settings, key);
	if (value == NULL || !g_variant_is_of_type(value, type)) {
		/* a plugin reading a key it did not declare is a programming error */
		g_critical("plugin %s reads undeclared setting '%s'", priv->module_name, key);
		return NULL;
	}
	return value;
}

/**
 * vb_plugin_get_string:
 * @self: a #VbPlugin
 * @key: a key declared as %VB_SETTING_STRING
 *
 * Returns: the value, or the declared default
 *
 * Since: 0.1
 */
const gchar *
vb_plugin_get_string(VbPlugin *self, const gchar *key)
{
	GVariant *value;

	g_return_val_if_fail(VB_IS_PLUGIN(self), NULL);
	value = vb_plugin_lookup_setting(self, key, G_VARIANT_TYPE_STRING);
	return value != NULL ? g_variant_get_string(value, NULL) : NULL;
}

/**
 * vb_plugin_get_int:
 * @self: a #VbPlugin
 * @key: a key declared as %VB_SETTING_INT
 *
 * Returns: the value, within the declared range, or the declared default
 *
 * Since: 0.1
 */
gint64
vb_plugin_get_int(VbPlugin *self, const gchar *key)
{
	GVariant *value;

	g_return_val_if_fail(VB_IS_PLUGIN(self), 0);
	value = vb_plugin_lookup_setting(self, key, G_VARIANT_TYPE_INT64);
	return value != NULL ? g_variant_get_int64(value) : 0;
}

/**
 * vb_plugin_get_boolean:
 * @self: a #VbPlugin
 * @key: a key declared as %VB_SETTING_BOOLEAN
 *
 * Returns: the value, or the declared default
 *
 * Since: 0.1
 */
gboolean
vb_plugin_get_boolean(VbPlugin *self, const gchar *key)
{
	GVariant *value;

	g_return_val_if_fail(VB_IS_PLUGIN(self), FALSE);
	value = vb_plugin_lookup_setting(self, key, G_VARIANT_TYPE_BOOLEAN);
	return value != NULL ? g_variant_get_boolean(value) : FALSE;
}

/**
 * vb_plugin_get_string_list:
 * @self: a #VbPlugin
 * @key: a key declared as %VB_SETTING_STRING_LIST
 *
 * Returns: (transfer none): a %NULL-terminated list, valid until the next reload
 *
 * Since: 0.1
 */
const gchar *const *
vb_plugin_get_string_list(VbPlugin *self, const gchar *key)
{
	VbPluginPrivate *priv;
	GVariant *value;
	gchar **strv;

	g_return_val_if_fail(VB_IS_PLUGIN(self), NULL);
	priv = GET_PRIVATE(self);
	strv = g_hash_table_lookup(priv->strv_cache, key);
	if (strv != NULL)
		return (const gchar *const *)strv;
	value = vb_plugin_lookup_setting(self, key, G_VARIANT_TYPE_STRING_ARRAY);
	if (value == NULL)
		return NULL;
	strv = g_variant_dup_strv(value, NULL);
	g_hash_table_insert(priv->strv_cache, g_strdup(key), strv);
	return (const gchar *const *)strv;
}

/**
 * vb_plugin_get_secret:
 * @self: a #VbPlugin
 * @key: a key of the instance's `[instance:NAME]` section in the secrets file
 * @error: return location for a #GError
 *
 * Gives a copy of a secret. The returned bytes are wiped when freed; never
 * log them or put them in an error message.
 *
 * Returns: (transfer full): the secret, or %NULL with %VB_ERROR_NOT_FOUND
 *
 * Since: 0.1
 */
GBytes *
vb_plugin_get_secret(VbPlugin *self, const gchar *key, GError **error)
{
	VbPluginPrivate *priv;
	g_autofree gchar *group = NULL;

	g_return_val_if_fail(VB_IS_PLUGIN(self), NULL);
	g_return_val_if_fail(key != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	priv = GET_PRIVATE(self);
	group = g_strdup_printf("instance:%s", priv->name);
	return vb_context_get_secret(priv->context, group, key, error);
}

/**
 * vb_plugin_emit:
 * @self: a #VbPlugin
 * @event_name: an event name from `vb-events.h`
 * @payload: (nullable) (transfer floating): an `a{sv}` payload
 *
 * Emits an event from this instance, for its door. Safe to call from any
 * thread: the event reaches listeners through the main context.
 *
 * Since: 0.1
 */
void
vb_plugin_emit(VbPlugin *self, const gchar *event_name, GVariant *payload)
{
	VbPluginPrivate *priv;

	g_return_if_fail(VB_IS_PLUGIN(self));
	g_return_if_fail(event_name != NULL);

	priv = GET_PRIVATE(self);
	vb_bus_emit_simple(vb_context_get_bus(priv->context), priv->name, priv->door, event_name,
			   payload);
}

/**
 * vb_plugin_state_to_string:
 * @state: a #VbPluginState
 *
 * Returns: the state's name, as shown by `vestibulectl plugins`
 *
 * Since: 0.1
 */
const gchar *
vb_plugin_state_to_string(VbPluginState state)
{
	switch (state) {
	case VB_PLUGIN_STATE_LOADED:
		return "loaded";
	case VB_PLUGIN_STATE_RUNNING:
		return "running";
	case VB_PLUGIN_STATE_DISABLED:
		return "disabled";
	case VB_PLUGIN_STATE_STOPPED:
		return "stopped";
	default:
		return "unknown";
	}
}

/* private API for the loader */

VbPlugin *
vb_plugin_new_instance(GType type, VbContext *context, const gchar *name, const gchar *module_name)
{
	VbPlugin *self;
	VbPluginPrivate *priv;

	g_return_val_if_fail(g_type_is_a(type, VB_TYPE_PLUGIN), NULL);
	self = g_object_new(type, NULL);
	priv = GET_PRIVATE(self);
	priv->context = context;
	priv->name = g_strdup(name);
	priv->module_name = g_strdup(module_name);
	return self;
}

void
vb_plugin_set_door(VbPlugin *self, const gchar *door)
{
	VbPluginPrivate *priv = GET_PRIVATE(self);
	g_free(priv->door);
	priv->door = g_strdup(door);
}

void
vb_plugin_set_settings(VbPlugin *self, GHashTable *values)
{
	VbPluginPrivate *priv = GET_PRIVATE(self);
	g_clear_pointer(&priv->settings, g_hash_table_unref);
	priv->settings = values != NULL ? g_hash_table_ref(values) : NULL;
	g_hash_table_remove_all(priv->strv_cache);
}

GHashTable *
vb_plugin_get_settings(VbPlugin *self)
{
	return GET_PRIVATE(self)->settings;
}

static void
vb_plugin_set_state(VbPlugin *self, VbPluginState state, const gchar *error_message)
{
	VbPluginPrivate *priv = GET_PRIVATE(self);
	GVariantDict dict;

	if (priv->state == state && g_strcmp0(priv->error, error_message) == 0)
		return;
	priv->state = state;
	g_free(priv->error);
	priv->error = g_strdup(error_message);

	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, VB_KEY_STATE, "s", vb_plugin_state_to_string(state));
	if (error_message != NULL)
		g_variant_dict_insert(&dict, VB_KEY_ERROR, "s", error_message);
	vb_bus_emit_simple(vb_context_get_bus(priv->context), priv->name, priv->door,
			   VB_EVENT_PLUGIN_STATE, g_variant_dict_end(&dict));
}

gboolean
vb_plugin_startup(VbPlugin *self, GError **error)
{
	VbPluginClass *klass = VB_PLUGIN_GET_CLASS(self);
	g_autoptr(GError) error_local = NULL;

	if (klass->startup != NULL && !klass->startup(self, &error_local)) {
		/* a vfunc that fails without saying why still gets a message */
		if (error_local == NULL)
			g_set_error_literal(&error_local, VB_ERROR, VB_ERROR_FAILED,
					    "startup failed without a reason");
		vb_plugin_set_state(self, VB_PLUGIN_STATE_DISABLED, error_local->message);
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	vb_plugin_set_state(self, VB_PLUGIN_STATE_RUNNING, NULL);
	return TRUE;
}

void
vb_plugin_shutdown(VbPlugin *self)
{
	VbPluginClass *klass = VB_PLUGIN_GET_CLASS(self);
	VbPluginPrivate *priv = GET_PRIVATE(self);

	if (priv->state == VB_PLUGIN_STATE_STOPPED)
		return;
	if (klass->shutdown != NULL)
		klass->shutdown(self);
	/* a disabled instance keeps its reason visible */
	if (priv->state != VB_PLUGIN_STATE_DISABLED)
		vb_plugin_set_state(self, VB_PLUGIN_STATE_STOPPED, NULL);
}

gboolean
vb_plugin_reload(VbPlugin *self, GHashTable *values, GError **error)
{
	VbPluginClass *klass = VB_PLUGIN_GET_CLASS(self);
	VbPluginPrivate *priv = GET_PRIVATE(self);
	g_autoptr(GHashTable) old = NULL;

	if (priv->settings != NULL)
		old = g_hash_table_ref(priv->settings);
	vb_plugin_set_settings(self, values);
	if (klass->reload != NULL && !klass->reload(self, error)) {
		vb_plugin_set_settings(self, old);
		if (error != NULL && *error == NULL)
			g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
					    "reload failed without a reason");
		return FALSE;
	}
	return TRUE;
}

static GPtrArray *
vb_plugin_get_roles(VbPlugin *self)
{
	GPtrArray *roles = g_ptr_array_new();

	if (VB_IS_CARD_READER(self))
		g_ptr_array_add(roles, (gpointer) "card-reader");
	if (VB_IS_DOOR_LOCK(self))
		g_ptr_array_add(roles, (gpointer) "door-lock");
	if (VB_IS_KEYPAD(self))
		g_ptr_array_add(roles, (gpointer) "keypad");
	if (VB_IS_DISPLAY(self))
		g_ptr_array_add(roles, (gpointer) "display");
	if (VB_IS_SMS_PROVIDER(self))
		g_ptr_array_add(roles, (gpointer) "sms-provider");
	if (VB_IS_PAYMENT_PROCESSOR(self))
		g_ptr_array_add(roles, (gpointer) "payment-processor");
	if (VB_IS_LOYALTY_PARTNER(self))
		g_ptr_array_add(roles, (gpointer) "loyalty-partner");
	return roles;
}

GVariant *
vb_plugin_to_variant(VbPlugin *self)
{
	VbPluginClass *klass = VB_PLUGIN_GET_CLASS(self);
	VbPluginPrivate *priv = GET_PRIVATE(self);
	g_autoptr(GPtrArray) roles = vb_plugin_get_roles(self);
	GVariantBuilder builder;
	GVariantBuilder status;

	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder, "{sv}", "name", g_variant_new_string(priv->name));
	g_variant_builder_add(&builder, "{sv}", "plugin", g_variant_new_string(priv->module_name));
	g_variant_builder_add(&builder, "{sv}", "state",
			      g_variant_new_string(vb_plugin_state_to_string(priv->state)));
	if (priv->error != NULL)
		g_variant_builder_add(&builder, "{sv}", "error", g_variant_new_string(priv->error));
	if (priv->door != NULL)
		g_variant_builder_add(&builder, "{sv}", "door", g_variant_new_string(priv->door));
	g_variant_builder_add(
	    &builder, "{sv}", "roles",
	    g_variant_new_strv((const gchar *const *)roles->pdata, (gssize)roles->len));
	g_variant_builder_init(&status, G_VARIANT_TYPE_VARDICT);
	if (klass->get_status != NULL && priv->state == VB_PLUGIN_STATE_RUNNING)
		klass->get_status(self, &status);
	g_variant_builder_add(&builder, "{sv}", "status", g_variant_builder_end(&status));
	return g_variant_builder_end(&builder);
}

static void
vb_plugin_finalize(GObject *object)
{
	VbPlugin *self = VB_PLUGIN(object);
	VbPluginPrivate *priv = GET_PRIVATE(self);

	g_free(priv->name);
	g_free(priv->module_name);
	g_free(priv->door);
	g_free(priv->error);
	g_clear_pointer(&priv->settings, g_hash_table_unref);
	g_hash_table_unref(priv->strv_cache);
	G_OBJECT_CLASS(vb_plugin_parent_class)->finalize(object);
}

static void
vb_plugin_class_init(VbPluginClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->finalize = vb_plugin_finalize;
}

static void
vb_plugin_init(VbPlugin *self)
{
	VbPluginPrivate *priv = GET_PRIVATE(self);
	priv->state = VB_PLUGIN_STATE_LOADED;
	priv->strv_cache =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
}
