/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* what the vb-config*.c files share: the tree of sections and keys as loaded,
 * and the helpers that more than one of them calls. Only they include it */

#pragma once

#include <stdarg.h>

#include "vb-config-private.h"

G_BEGIN_DECLS
/* one key as defined by the file that won */
typedef struct {
	gchar *key;
	gchar *value; /* raw for the config; unescaped for secrets */
	gchar *origin;
	gboolean secret;
} VbConfigEntry;

typedef struct {
	gchar *name;
	gchar *origin; /* of the first header */
	GPtrArray *entries;
	GHashTable *index;
} VbConfigGroup;

typedef struct {
	GPtrArray *groups;
	GHashTable *index;
	gboolean secret;
} VbConfigTree;

struct _VbConfig {
	GObject parent_instance;
	GPtrArray *files;
	VbConfigTree *tree;
	VbConfigTree *secrets;
	gchar *secrets_path;
	GHashTable *values; /* group -> (key -> GVariant), set by validate */
	gboolean loaded;
};

/* vb-config.c: the tree, the messages and the origin of a key */
G_GNUC_INTERNAL void
vb_config_wipe_string(gchar *str);
G_GNUC_INTERNAL VbConfigEntry *
vb_config_group_lookup(VbConfigGroup *group, const gchar *key);
G_GNUC_INTERNAL void
vb_config_group_set(VbConfigGroup *group,
		    const gchar *key,
		    gchar *value,
		    const gchar *origin,
		    gboolean secret);
G_GNUC_INTERNAL VbConfigTree *
vb_config_tree_new(gboolean secret);
G_GNUC_INTERNAL void
vb_config_tree_free(VbConfigTree *tree);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbConfigTree, vb_config_tree_free)
G_GNUC_INTERNAL VbConfigGroup *
vb_config_tree_lookup(VbConfigTree *tree, const gchar *name);
G_GNUC_INTERNAL VbConfigGroup *
vb_config_tree_ensure_group(VbConfigTree *tree, const gchar *name, const gchar *origin);
G_GNUC_INTERNAL gchar *
vb_config_format_message(const gchar *origin, const gchar *format, va_list args)
    G_GNUC_PRINTF(2, 0);
G_GNUC_INTERNAL void
vb_config_add_message(GPtrArray *messages, const gchar *origin, const gchar *format, ...)
    G_GNUC_PRINTF(3, 4);
G_GNUC_INTERNAL void
vb_config_set_errors(GError **error, GPtrArray *errors);
G_GNUC_INTERNAL gchar *
vb_config_quote(const gchar *value);
G_GNUC_INTERNAL const gchar *
vb_config_origin_of(VbConfig *self, const gchar *group, const gchar *key);

/* vb-config-schema.c */
G_GNUC_INTERNAL const VbSettingSpec *
vb_config_find_spec(const VbSettingSpec *specs, guint n_specs, const gchar *key);
G_GNUC_INTERNAL const gchar *
vb_config_group_kind(const gchar *group, const gchar **name);
G_GNUC_INTERNAL gboolean
vb_config_is_instance_name(const gchar *name);
G_GNUC_INTERNAL gchar *
vb_config_unescape(const gchar *raw, GPtrArray *pieces, gboolean secret, GError **error);

/* vb-config-load.c */
G_GNUC_INTERNAL gchar *
vb_config_read_file(const gchar *path, gboolean secret, gsize *len_out, GError **error);
G_GNUC_INTERNAL void
vb_config_parse(VbConfigTree *tree,
		const gchar *path,
		const gchar *data,
		gsize len,
		GPtrArray *errors);

/* vb-config-secrets.c */
G_GNUC_INTERNAL extern const gchar *const vb_config_core_secret_keys[];
G_GNUC_INTERNAL void
vb_config_check_secrets(VbConfig *self, GPtrArray *warnings, GPtrArray *errors);
G_GNUC_INTERNAL void
vb_config_check_misplaced_secrets(VbConfig *self, GPtrArray *errors);

G_END_DECLS
