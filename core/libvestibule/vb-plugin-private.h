/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-plugin.h"

G_BEGIN_DECLS

VbPlugin *
vb_plugin_new_instance(GType type, VbContext *context, const gchar *name, const gchar *module_name);
void
vb_plugin_set_door(VbPlugin *self, const gchar *door);
/* takes a reference on @values (key -> GVariant) */
void
vb_plugin_set_settings(VbPlugin *self, GHashTable *values);
GHashTable *
vb_plugin_get_settings(VbPlugin *self);
gboolean
vb_plugin_startup(VbPlugin *self, GError **error);
void
vb_plugin_shutdown(VbPlugin *self);
/* swaps in @values and calls the reload vfunc; on failure the old values are restored */
gboolean
vb_plugin_reload(VbPlugin *self, GHashTable *values, GError **error);
/* a{sv}: name, plugin, state, error, door, roles (as) and the plugin's own status */
GVariant *
vb_plugin_to_variant(VbPlugin *self);

G_END_DECLS
