/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-config-private.h"
#include "vb-context.h"
#include "vb-plugin.h"

G_BEGIN_DECLS

#define VB_TYPE_PLUGIN_LOADER (vb_plugin_loader_get_type())
G_DECLARE_FINAL_TYPE(VbPluginLoader, vb_plugin_loader, VB, PLUGIN_LOADER, GObject)

/* @dirs: the plugin directories, searched in order; @context may be NULL when
 * the loader only checks a configuration */
VbPluginLoader *
vb_plugin_loader_new(VbContext *context, const gchar *const *dirs);
/* the default directories: $VESTIBULE_PLUGIN_DIR (':'-separated), else VB_PLUGIN_DIR */
gchar **
vb_plugin_loader_default_dirs(void);
/* opens vb-NAME.so once, checking file mode, ABI numbers and entry point */
GType
vb_plugin_loader_load_module(VbPluginLoader *self, const gchar *name, GError **error);
/* the plugin names found in the directories, without loading them */
GPtrArray *
vb_plugin_loader_list_modules(VbPluginLoader *self);

/* resolves every enabled instance section of @config against its plugin's declared
 * settings and checks the role bindings of doors and services. Returns instance name ->
 * settings (GHashTable key -> GVariant). A module that cannot be loaded is not a config
 * error: its instance is listed in @unloadable (name -> error message) */
GHashTable *
vb_plugin_loader_resolve(VbPluginLoader *self,
			 VbConfig *config,
			 GHashTable *unloadable,
			 GPtrArray *warnings,
			 GError **error);
/* creates and starts the instances of a resolved config; failures disable the instance */
void
vb_plugin_loader_start(VbPluginLoader *self,
		       VbConfig *config,
		       GHashTable *resolved,
		       GHashTable *unloadable);
/* applies a resolved new config: reloads changed instances, starts new ones, stops
 * removed ones. Fails, changing nothing, if an instance refuses its new settings */
gboolean
vb_plugin_loader_apply(VbPluginLoader *self,
		       VbConfig *config,
		       GHashTable *resolved,
		       GHashTable *unloadable,
		       GError **error);
void
vb_plugin_loader_stop(VbPluginLoader *self);
/* a{sv} per instance, in config order */
GVariant *
vb_plugin_loader_to_variant(VbPluginLoader *self);
VbPlugin *
vb_plugin_loader_get_instance(VbPluginLoader *self, const gchar *name);

G_END_DECLS
