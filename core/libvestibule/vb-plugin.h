/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib-object.h>
#include <gmodule.h>

#include "vb-setting.h"
#include "vb-version.h"

G_BEGIN_DECLS

typedef struct _VbContext VbContext;

/**
 * VbPlugin:
 *
 * The base class of every plugin: a plugin is a final subclass of it,
 * exported with VB_PLUGIN_DEFINE(), that implements role interfaces; see
 * #VbPluginClass.
 *
 * Since: 0.1
 */
#define VB_TYPE_PLUGIN (vb_plugin_get_type())
G_DECLARE_DERIVABLE_TYPE(VbPlugin, vb_plugin, VB, PLUGIN, GObject)

/**
 * VbPluginState:
 * @VB_PLUGIN_STATE_LOADED: created, not started yet
 * @VB_PLUGIN_STATE_RUNNING: started successfully
 * @VB_PLUGIN_STATE_DISABLED: its configuration or startup failed; see vb_plugin_get_error()
 * @VB_PLUGIN_STATE_STOPPED: shut down
 *
 * The life cycle of a plugin instance.
 *
 * Since: 0.1
 */
typedef enum {
	VB_PLUGIN_STATE_LOADED,
	VB_PLUGIN_STATE_RUNNING,
	VB_PLUGIN_STATE_DISABLED,
	VB_PLUGIN_STATE_STOPPED,
} VbPluginState;

/**
 * VbPluginClass:
 * @parent_class: the parent class
 * @startup: opens devices and registers handlers; runs once, in the main
 *   context, after the instance's settings are resolved. On failure the
 *   instance is disabled and the daemon goes on.
 * @shutdown: releases everything @startup took and leaves hardware in its
 *   defined safe state; may be called on an instance whose startup failed
 * @reload: the configuration was reloaded and the instance's settings changed;
 *   returning %FALSE rejects the whole reload
 * @get_status: (nullable): adds instance-specific status, shown by
 *   `vestibulectl status`, to a `a{sv}` builder
 *
 * The virtual functions of a plugin. Subclasses are final GObject types made
 * with G_DEFINE_FINAL_TYPE() and exported with VB_PLUGIN_DEFINE().
 *
 * Since: 0.1
 */
struct _VbPluginClass {
	GObjectClass parent_class;
	gboolean (*startup)(VbPlugin *self, GError **error);
	void (*shutdown)(VbPlugin *self);
	gboolean (*reload)(VbPlugin *self, GError **error);
	void (*get_status)(VbPlugin *self, GVariantBuilder *builder);
	/*< private >*/
	gpointer padding[28];
};

/**
 * VB_PLUGIN_DEFINE:
 * @get_type: the `_get_type` function of the plugin's final type
 *
 * Exports the plugin's single entry point, `vb_plugin_query()`, and the ABI
 * numbers it was built against (`vb_plugin_abi_major`, `vb_plugin_abi_minor`).
 * Use it once per plugin module:
 *
 * |[<!-- language="C" -->
 * G_DEFINE_FINAL_TYPE(VbSimReader, vb_sim_reader, VB_TYPE_PLUGIN)
 * ...
 * VB_PLUGIN_DEFINE(vb_sim_reader_get_type)
 * ]|
 *
 * The loader refuses a module whose major number differs from the core's, or
 * whose minor number is newer than the core's.
 *
 * Since: 0.1
 */
#define VB_PLUGIN_DEFINE(get_type)                                                                 \
	G_MODULE_EXPORT extern const guint32 vb_plugin_abi_major;                                  \
	G_MODULE_EXPORT extern const guint32 vb_plugin_abi_minor;                                  \
	G_MODULE_EXPORT const guint32 vb_plugin_abi_major = VB_PLUGIN_ABI_MAJOR;                   \
	G_MODULE_EXPORT const guint32 vb_plugin_abi_minor = VB_PLUGIN_ABI_MINOR;                   \
	G_MODULE_EXPORT GType vb_plugin_query(void);                                               \
	GType vb_plugin_query(void)                                                                \
	{                                                                                          \
		return get_type();                                                                 \
	}

void
vb_plugin_class_add_settings(VbPluginClass *klass, const VbSettingSpec *specs, guint n_specs);
const VbSettingSpec *
vb_plugin_class_get_settings(VbPluginClass *klass, guint *n_specs);

VbContext *
vb_plugin_get_context(VbPlugin *self);
const gchar *
vb_plugin_get_name(VbPlugin *self);
const gchar *
vb_plugin_get_module_name(VbPlugin *self);
const gchar *
vb_plugin_get_door(VbPlugin *self);
VbPluginState
vb_plugin_get_state(VbPlugin *self);
const gchar *
vb_plugin_get_error(VbPlugin *self);

const gchar *
vb_plugin_get_string(VbPlugin *self, const gchar *key);
gint64
vb_plugin_get_int(VbPlugin *self, const gchar *key);
gboolean
vb_plugin_get_boolean(VbPlugin *self, const gchar *key);
const gchar *const *
vb_plugin_get_string_list(VbPlugin *self, const gchar *key);
GBytes *
vb_plugin_get_secret(VbPlugin *self, const gchar *key, GError **error);

void
vb_plugin_emit(VbPlugin *self, const gchar *event_name, GVariant *payload);

const gchar *
vb_plugin_state_to_string(VbPluginState state);

G_END_DECLS
