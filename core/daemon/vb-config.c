/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* VbConfig itself: the tree of sections and keys that loading fills, the
 * messages that loading and validation share, and the lookups */

#include "config.h"

#include <stdarg.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <sodium.h>

#include "vb-config-internal.h"
#include "vb-error.h"

/* long values are cut when quoted in a message */
#define VB_CONFIG_QUOTE_MAX_CHARS 60

G_DEFINE_TYPE(VbConfig, vb_config, G_TYPE_OBJECT)

void
vb_config_wipe_string(gchar *str)
{
	if (str != NULL)
		sodium_memzero(str, strlen(str));
}

static void
vb_config_entry_free(VbConfigEntry *entry)
{
	/* in the secrets file even a key name may be a pasted value */
	if (entry->secret) {
		vb_config_wipe_string(entry->key);
		vb_config_wipe_string(entry->value);
	}
	g_free(entry->key);
	g_free(entry->value);
	g_free(entry->origin);
	g_free(entry);
}

static VbConfigGroup *
vb_config_group_new(const gchar *name, const gchar *origin)
{
	VbConfigGroup *group = g_new0(VbConfigGroup, 1);
	group->name = g_strdup(name);
	group->origin = g_strdup(origin);
	group->entries = g_ptr_array_new_with_free_func((GDestroyNotify)vb_config_entry_free);
	group->index = g_hash_table_new(g_str_hash, g_str_equal);
	return group;
}

static void
vb_config_group_free(VbConfigGroup *group)
{
	g_hash_table_unref(group->index);
	g_ptr_array_unref(group->entries);
	g_free(group->name);
	g_free(group->origin);
	g_free(group);
}

VbConfigEntry *
vb_config_group_lookup(VbConfigGroup *group, const gchar *key)
{
	if (group == NULL)
		return NULL;
	return g_hash_table_lookup(group->index, key);
}

/* takes @value; a later definition replaces an earlier one, keeping the key's place */
void
vb_config_group_set(VbConfigGroup *group,
		    const gchar *key,
		    gchar *value,
		    const gchar *origin,
		    gboolean secret)
{
	VbConfigEntry *entry = g_hash_table_lookup(group->index, key);

	if (entry == NULL) {
		entry = g_new0(VbConfigEntry, 1);
		entry->key = g_strdup(key);
		entry->secret = secret;
		g_ptr_array_add(group->entries, entry);
		g_hash_table_insert(group->index, entry->key, entry);
	} else {
		if (entry->secret)
			vb_config_wipe_string(entry->value);
		g_free(entry->value);
		g_free(entry->origin);
	}
	entry->value = value;
	entry->origin = g_strdup(origin);
}

VbConfigTree *
vb_config_tree_new(gboolean secret)
{
	VbConfigTree *tree = g_new0(VbConfigTree, 1);
	tree->groups = g_ptr_array_new_with_free_func((GDestroyNotify)vb_config_group_free);
	tree->index = g_hash_table_new(g_str_hash, g_str_equal);
	tree->secret = secret;
	return tree;
}

void
vb_config_tree_free(VbConfigTree *tree)
{
	g_hash_table_unref(tree->index);
	g_ptr_array_unref(tree->groups);
	g_free(tree);
}

VbConfigGroup *
vb_config_tree_lookup(VbConfigTree *tree, const gchar *name)
{
	if (tree == NULL)
		return NULL;
	return g_hash_table_lookup(tree->index, name);
}

/* groups of the same name merge, across files too */
VbConfigGroup *
vb_config_tree_ensure_group(VbConfigTree *tree, const gchar *name, const gchar *origin)
{
	VbConfigGroup *group = g_hash_table_lookup(tree->index, name);

	if (group != NULL)
		return group;
	group = vb_config_group_new(name, origin);
	g_ptr_array_add(tree->groups, group);
	g_hash_table_insert(tree->index, group->name, group);
	return group;
}

gchar *
vb_config_format_message(const gchar *origin, const gchar *format, va_list args)
{
	g_autofree gchar *msg = g_strdup_vprintf(format, args);

	if (origin == NULL)
		return g_steal_pointer(&msg);
	return g_strdup_printf("%s: %s", origin, msg);
}

/* appends "ORIGIN: MESSAGE"; without @messages the text is logged instead */
void
vb_config_add_message(GPtrArray *messages, const gchar *origin, const gchar *format, ...)
{
	va_list args;
	gchar *msg;

	va_start(args, format);
	msg = vb_config_format_message(origin, format, args);
	va_end(args);
	if (messages == NULL) {
		g_warning("%s", msg);
		g_free(msg);
		return;
	}
	g_ptr_array_add(messages, msg);
}

/* all errors in one message, one per line, so that everything is fixed in one go */
void
vb_config_set_errors(GError **error, GPtrArray *errors)
{
	g_autoptr(GString) str = g_string_new(NULL);

	for (guint i = 0; i < errors->len; i++) {
		if (i > 0)
			g_string_append_c(str, '\n');
		g_string_append(str, g_ptr_array_index(errors, i));
	}
	g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_CONFIG, str->str);
}

/* a value as shown in a message: quoted, control characters escaped, cut when long */
gchar *
vb_config_quote(const gchar *value)
{
	gchar exceptions[129];
	g_autofree gchar *valid = g_utf8_make_valid(value, -1);
	g_autofree gchar *escaped = NULL;
	gboolean cut = FALSE;

	/* keep non-ASCII text readable; only escape ASCII control characters */
	for (guint i = 0; i < 128; i++)
		exceptions[i] = (gchar)(0x80 + i);
	exceptions[128] = '\0';
	if (g_utf8_strlen(valid, -1) > VB_CONFIG_QUOTE_MAX_CHARS) {
		gchar *tmp = g_utf8_substring(valid, 0, VB_CONFIG_QUOTE_MAX_CHARS);
		g_free(valid);
		valid = tmp;
		cut = TRUE;
	}
	escaped = g_strescape(valid, exceptions);
	return g_strdup_printf("'%s%s'", escaped, cut ? "…" : "");
}

const gchar *
vb_config_origin_of(VbConfig *self, const gchar *group, const gchar *key)
{
	VbConfigEntry *entry =
	    vb_config_group_lookup(vb_config_tree_lookup(self->tree, group), key);
	return entry != NULL ? entry->origin : NULL;
}

/**
 * vb_config_get_files:
 * @self: a #VbConfig
 *
 * Returns: (transfer none) (element-type utf8): the configuration files that were
 *   loaded, main file first; the secrets file is not among them
 */
GPtrArray *
vb_config_get_files(VbConfig *self)
{
	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	return self->files;
}

/**
 * vb_config_get_groups:
 * @self: a #VbConfig
 *
 * Returns: (transfer full): the section names, in order of first appearance
 */
gchar **
vb_config_get_groups(VbConfig *self)
{
	GStrvBuilder *builder;
	gchar **groups;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	builder = g_strv_builder_new();
	for (guint i = 0; i < self->tree->groups->len; i++) {
		VbConfigGroup *group = g_ptr_array_index(self->tree->groups, i);
		g_strv_builder_add(builder, group->name);
	}
	groups = g_strv_builder_end(builder);
	g_strv_builder_unref(builder);
	return groups;
}

/**
 * vb_config_get_keys:
 * @self: a #VbConfig
 * @group: a section name
 *
 * Returns: (transfer full) (nullable): the keys of @group in order of first
 *   definition, or %NULL if there is no such section
 */
gchar **
vb_config_get_keys(VbConfig *self, const gchar *group)
{
	VbConfigGroup *g;
	GStrvBuilder *builder;
	gchar **keys;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL, NULL);
	g = vb_config_tree_lookup(self->tree, group);
	if (g == NULL)
		return NULL;
	builder = g_strv_builder_new();
	for (guint i = 0; i < g->entries->len; i++) {
		VbConfigEntry *entry = g_ptr_array_index(g->entries, i);
		g_strv_builder_add(builder, entry->key);
	}
	keys = g_strv_builder_end(builder);
	g_strv_builder_unref(builder);
	return keys;
}

gboolean
vb_config_has_group(VbConfig *self, const gchar *group)
{
	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(group != NULL, FALSE);
	return vb_config_tree_lookup(self->tree, group) != NULL;
}

gboolean
vb_config_has_key(VbConfig *self, const gchar *group, const gchar *key)
{
	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(group != NULL, FALSE);
	g_return_val_if_fail(key != NULL, FALSE);
	return vb_config_group_lookup(vb_config_tree_lookup(self->tree, group), key) != NULL;
}

/**
 * vb_config_get_origin:
 * @self: a #VbConfig
 * @group: a section name
 * @key: a key
 *
 * Returns: (transfer full) (nullable): "FILE:LINE" of the definition that won
 */
gchar *
vb_config_get_origin(VbConfig *self, const gchar *group, const gchar *key)
{
	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);
	return g_strdup(vb_config_origin_of(self, group, key));
}

/**
 * vb_config_get_raw:
 * @self: a #VbConfig
 * @group: a section name
 * @key: a key
 *
 * Returns: (transfer full) (nullable): the value as written, escapes included,
 *   without the blanks around it
 */
gchar *
vb_config_get_raw(VbConfig *self, const gchar *group, const gchar *key)
{
	VbConfigEntry *entry;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);
	entry = vb_config_group_lookup(vb_config_tree_lookup(self->tree, group), key);
	return entry != NULL ? g_strdup(entry->value) : NULL;
}

/* a resolved core value; a key the schema does not declare is a bug in the caller */
static GVariant *
vb_config_lookup_value(VbConfig *self,
		       const gchar *group,
		       const gchar *key,
		       const GVariantType *type)
{
	const gchar *kind = vb_config_group_kind(group, NULL);
	const VbSettingSpec *specs;
	guint n_specs = 0;
	GHashTable *values;
	GVariant *value;

	specs = vb_config_get_core_specs(kind, &n_specs);
	if (specs == NULL || vb_config_find_spec(specs, n_specs, key) == NULL) {
		g_warning("key %s of [%s] is not declared in the core schema; plugins read "
			  "their keys through vb_config_resolve()",
			  key, group);
		return NULL;
	}
	if (self->values == NULL) {
		g_warning("[%s] %s was read before vb_config_validate() succeeded", group, key);
		return NULL;
	}
	/* a door or instance that is not configured has no values */
	values = g_hash_table_lookup(self->values, group);
	if (values == NULL)
		return NULL;
	value = g_hash_table_lookup(values, key);
	if (value == NULL)
		return NULL;
	if (!g_variant_is_of_type(value, type)) {
		g_autofree gchar *wanted = g_variant_type_dup_string(type);
		g_warning("[%s] %s is of type %s, not %s", group, key,
			  g_variant_get_type_string(value), wanted);
		return NULL;
	}
	return value;
}

/**
 * vb_config_get_string:
 *
 * Returns: (transfer none) (nullable): a resolved string of a core section, valid
 *   as long as @self
 */
const gchar *
vb_config_get_string(VbConfig *self, const gchar *group, const gchar *key)
{
	GVariant *value;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL && key != NULL, NULL);
	value = vb_config_lookup_value(self, group, key, G_VARIANT_TYPE_STRING);
	return value != NULL ? g_variant_get_string(value, NULL) : NULL;
}

gint64
vb_config_get_int(VbConfig *self, const gchar *group, const gchar *key)
{
	GVariant *value;

	g_return_val_if_fail(VB_IS_CONFIG(self), 0);
	g_return_val_if_fail(group != NULL && key != NULL, 0);
	value = vb_config_lookup_value(self, group, key, G_VARIANT_TYPE_INT64);
	return value != NULL ? g_variant_get_int64(value) : 0;
}

gboolean
vb_config_get_boolean(VbConfig *self, const gchar *group, const gchar *key)
{
	GVariant *value;

	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(group != NULL && key != NULL, FALSE);
	value = vb_config_lookup_value(self, group, key, G_VARIANT_TYPE_BOOLEAN);
	return value != NULL ? g_variant_get_boolean(value) : FALSE;
}

/**
 * vb_config_get_string_list:
 *
 * Returns: (transfer full) (nullable): a resolved list of a core section; free it
 *   with g_strfreev()
 */
gchar **
vb_config_get_string_list(VbConfig *self, const gchar *group, const gchar *key)
{
	GVariant *value;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL && key != NULL, NULL);
	value = vb_config_lookup_value(self, group, key, G_VARIANT_TYPE_STRING_ARRAY);
	return value != NULL ? g_variant_dup_strv(value, NULL) : NULL;
}

static void
vb_config_finalize(GObject *object)
{
	VbConfig *self = VB_CONFIG(object);

	g_ptr_array_unref(self->files);
	vb_config_tree_free(self->tree);
	g_clear_pointer(&self->secrets, vb_config_tree_free);
	g_free(self->secrets_path);
	g_clear_pointer(&self->values, g_hash_table_unref);
	G_OBJECT_CLASS(vb_config_parent_class)->finalize(object);
}

static void
vb_config_class_init(VbConfigClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->finalize = vb_config_finalize;
}

static void
vb_config_init(VbConfig *self)
{
	self->files = g_ptr_array_new_with_free_func(g_free);
	self->tree = vb_config_tree_new(FALSE);
}

/**
 * vb_config_new:
 *
 * Returns: (transfer full): an empty configuration; load it, then validate it
 */
VbConfig *
vb_config_new(void)
{
	return g_object_new(VB_TYPE_CONFIG, NULL);
}
