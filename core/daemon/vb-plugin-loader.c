/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vb-card-reader.h"
#include "vb-display.h"
#include "vb-door-lock.h"
#include "vb-error.h"
#include "vb-keypad.h"
#include "vb-loyalty-partner.h"
#include "vb-payment-processor.h"
#include "vb-plugin-loader-private.h"
#include "vb-plugin-private.h"
#include "vb-sms-provider.h"

/* one configured instance: a running plugin object, or the reason there is none */
typedef struct {
	gchar *name;
	gchar *module;
	VbPlugin *plugin;
	gchar *error;
} VbInstance;

struct _VbPluginLoader {
	GObject parent_instance;
	VbContext *context; /* unowned */
	GStrv dirs;
	GHashTable *modules;  /* name -> GType as pointer */
	GPtrArray *instances; /* of VbInstance, in config order */
};

G_DEFINE_FINAL_TYPE(VbPluginLoader, vb_plugin_loader, G_TYPE_OBJECT)

static const gchar *const vb_instance_core_keys[] = {"plugin", "enabled", NULL};

static void
vb_instance_free(VbInstance *inst)
{
	g_free(inst->name);
	g_free(inst->module);
	g_clear_object(&inst->plugin);
	g_free(inst->error);
	g_free(inst);
}

gchar **
vb_plugin_loader_default_dirs(void)
{
	const gchar *env = g_getenv("VESTIBULE_PLUGIN_DIR");
	if (env != NULL && env[0] != '\0')
		return g_strsplit(env, ":", -1);
	return g_strsplit(VB_PLUGIN_DIR, ":", -1);
}

static gboolean
vb_plugin_loader_name_valid(const gchar *name)
{
	if (name == NULL || name[0] == '\0' || strlen(name) > 64)
		return FALSE;
	for (const gchar *p = name; *p != '\0'; p++) {
		if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '-' && *p != '_')
			return FALSE;
	}
	return TRUE;
}

/* a plugin runs with the daemon's privileges: refuse anything someone else could
 * have replaced */
static gboolean
vb_plugin_loader_check_file(const gchar *path, GError **error)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		g_set_error(error, VB_ERROR, vb_error_from_errno(errno), "%s: %s", path,
			    g_strerror(errno));
		return FALSE;
	}
	if (!S_ISREG(st.st_mode)) {
		g_set_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
			    "%s is not a regular file; refusing to load it", path);
		return FALSE;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
			    "%s is writable by group or others (mode %04o); refusing to load it: "
			    "run chmod go-w %s",
			    path, (guint)(st.st_mode & 07777), path);
		return FALSE;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		g_set_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
			    "%s is owned by uid %u, neither root nor the daemon's user; refusing "
			    "to load it",
			    path, (guint)st.st_uid);
		return FALSE;
	}
	return TRUE;
}

GType
vb_plugin_loader_load_module(VbPluginLoader *self, const gchar *name, GError **error)
{
	gpointer cached;
	g_autofree gchar *path = NULL;
	g_autofree gchar *basename = NULL;
	GModule *module;
	gpointer sym_major = NULL, sym_minor = NULL, sym_query = NULL;
	guint32 major, minor;
	GType type;

	g_return_val_if_fail(VB_IS_PLUGIN_LOADER(self), G_TYPE_INVALID);

	if (!vb_plugin_loader_name_valid(name)) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    "'%s' is not a plugin name: use lower-case letters, digits and dashes",
			    name != NULL ? name : "");
		return G_TYPE_INVALID;
	}
	if (g_hash_table_lookup_extended(self->modules, name, NULL, &cached))
		return (GType)GPOINTER_TO_SIZE(cached);

	basename = g_strdup_printf("vb-%s.so", name);
	for (guint i = 0; self->dirs[i] != NULL; i++) {
		g_autofree gchar *candidate = g_build_filename(self->dirs[i], basename, NULL);
		if (g_file_test(candidate, G_FILE_TEST_EXISTS)) {
			path = g_steal_pointer(&candidate);
			break;
		}
	}
	if (path == NULL) {
		g_autofree gchar *dirs = g_strjoinv(":", self->dirs);
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    "plugin '%s' not found: no %s in %s", name, basename, dirs);
		return G_TYPE_INVALID;
	}
	if (!vb_plugin_loader_check_file(path, error))
		return G_TYPE_INVALID;

	module = g_module_open(path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
	if (module == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot load plugin %s: %s", path,
			    g_module_error());
		return G_TYPE_INVALID;
	}
	if (!g_module_symbol(module, "vb_plugin_abi_major", &sym_major) ||
	    !g_module_symbol(module, "vb_plugin_abi_minor", &sym_minor) ||
	    !g_module_symbol(module, "vb_plugin_query", &sym_query) || sym_major == NULL ||
	    sym_minor == NULL || sym_query == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_ABI_MISMATCH,
			    "%s is not a Vestibule plugin: it lacks the symbols that "
			    "VB_PLUGIN_DEFINE() exports",
			    path);
		g_module_close(module);
		return G_TYPE_INVALID;
	}
	major = *(const guint32 *)sym_major;
	minor = *(const guint32 *)sym_minor;
	if (major != VB_PLUGIN_ABI_MAJOR || minor > VB_PLUGIN_ABI_MINOR) {
		g_set_error(error, VB_ERROR, VB_ERROR_ABI_MISMATCH,
			    "%s was built for plugin ABI %u.%u but this vestibuled provides "
			    "%u.%u: rebuild the plugin against the installed vestibule-1 SDK",
			    path, major, minor, (guint)VB_PLUGIN_ABI_MAJOR,
			    (guint)VB_PLUGIN_ABI_MINOR);
		g_module_close(module);
		return G_TYPE_INVALID;
	}
	type = ((GType(*)(void))sym_query)();
	if (!g_type_is_a(type, VB_TYPE_PLUGIN) || G_TYPE_IS_ABSTRACT(type)) {
		g_set_error(error, VB_ERROR, VB_ERROR_ABI_MISMATCH,
			    "%s does not provide a concrete VbPlugin subclass", path);
		g_module_close(module);
		return G_TYPE_INVALID;
	}
	/* registered types cannot be unregistered, so the code stays mapped */
	g_module_make_resident(module);
	g_debug("loaded plugin %s from %s (ABI %u.%u)", name, path, major, minor);
	g_hash_table_insert(self->modules, g_strdup(name), GSIZE_TO_POINTER(type));
	return type;
}

GPtrArray *
vb_plugin_loader_list_modules(VbPluginLoader *self)
{
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; self->dirs[i] != NULL; i++) {
		g_autoptr(GDir) dir = g_dir_open(self->dirs[i], 0, NULL);
		const gchar *entry;
		if (dir == NULL)
			continue;
		while ((entry = g_dir_read_name(dir)) != NULL) {
			if (!g_str_has_prefix(entry, "vb-") || !g_str_has_suffix(entry, ".so"))
				continue;
			g_ptr_array_add(names, g_strndup(entry + 3, strlen(entry) - 6));
		}
	}
	g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
	return names;
}

typedef struct {
	const gchar *key;
	GType (*get_type)(void);
	const gchar *role;
} VbRoleBinding;

static const VbRoleBinding vb_door_roles[] = {
    {"reader", vb_card_reader_get_type, "card reader"},
    {"lock", vb_door_lock_get_type, "door lock"},
    {"keypad", vb_keypad_get_type, "keypad"},
    {"display", vb_display_get_type, "display"},
};
static const VbRoleBinding vb_service_roles[] = {
    {"sms", vb_sms_provider_get_type, "SMS provider"},
    {"sms-fallback", vb_sms_provider_get_type, "SMS provider"},
    {"payment", vb_payment_processor_get_type, "payment processor"},
    {"loyalty", vb_loyalty_partner_get_type, "loyalty partner"},
};

static void
vb_plugin_loader_check_binding(VbPluginLoader *self,
			       VbConfig *config,
			       const gchar *group,
			       const VbRoleBinding *binding,
			       const gchar *instance,
			       GHashTable *resolved,
			       GString *errors)
{
	g_autofree gchar *inst_group = g_strdup_printf("instance:%s", instance);
	g_autofree gchar *origin = vb_config_get_origin(config, group, binding->key);
	g_autofree gchar *module = NULL;
	GType type;

	if (!g_hash_table_contains(resolved, instance)) {
		/* a disabled or unloadable instance leaves the role empty: deny-safe */
		return;
	}
	module = vb_config_get_raw(config, inst_group, "plugin");
	type = (GType)GPOINTER_TO_SIZE(g_hash_table_lookup(self->modules, module));
	if (type != G_TYPE_INVALID && !g_type_is_a(type, binding->get_type())) {
		g_string_append_printf(errors,
				       "%s: [%s] %s: instance '%s' (plugin %s) is not a %s\n",
				       origin != NULL ? origin : "?", group, binding->key, instance,
				       module, binding->role);
	}
}

GHashTable *
vb_plugin_loader_resolve(VbPluginLoader *self,
			 VbConfig *config,
			 GHashTable *unloadable,
			 GPtrArray *warnings,
			 GError **error)
{
	g_autoptr(GHashTable) resolved = NULL;
	g_auto(GStrv) groups = NULL;
	g_autoptr(GString) errors = g_string_new(NULL);

	resolved = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					 (GDestroyNotify)g_hash_table_unref);
	groups = vb_config_get_groups(config);
	for (guint i = 0; groups[i] != NULL; i++) {
		const gchar *name;
		g_autofree gchar *module = NULL;
		g_autofree gchar *enabled = NULL;
		g_autoptr(GError) error_local = NULL;
		g_autoptr(GHashTable) values = NULL;
		g_autoptr(GTypeClass) klass = NULL;
		const VbSettingSpec *specs;
		guint n_specs = 0;
		GType type;

		if (!g_str_has_prefix(groups[i], "instance:"))
			continue;
		name = groups[i] + strlen("instance:");
		enabled = vb_config_get_raw(config, groups[i], "enabled");
		if (g_strcmp0(enabled, "false") == 0)
			continue;
		module = vb_config_get_raw(config, groups[i], "plugin");
		type = vb_plugin_loader_load_module(self, module, &error_local);
		if (type == G_TYPE_INVALID) {
			g_warning("instance %s disabled: %s", name, error_local->message);
			if (unloadable != NULL)
				g_hash_table_insert(unloadable, g_strdup(name),
						    g_strdup(error_local->message));
			continue;
		}
		klass = g_type_class_ref(type);
		specs = vb_plugin_class_get_settings(VB_PLUGIN_CLASS(klass), &n_specs);
		values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					       (GDestroyNotify)g_variant_unref);
		if (!vb_config_resolve(config, groups[i], specs, n_specs, vb_instance_core_keys,
				       values, warnings, &error_local)) {
			g_string_append_printf(errors, "%s\n", error_local->message);
			continue;
		}
		g_hash_table_insert(resolved, g_strdup(name), g_steal_pointer(&values));
	}

	/* every role must be filled by an instance that implements it */
	for (guint i = 0; groups[i] != NULL; i++) {
		if (g_str_has_prefix(groups[i], "door:")) {
			for (guint j = 0; j < G_N_ELEMENTS(vb_door_roles); j++) {
				const gchar *inst =
				    vb_config_get_string(config, groups[i], vb_door_roles[j].key);
				if (inst == NULL || inst[0] == '\0')
					continue;
				vb_plugin_loader_check_binding(self, config, groups[i],
							       &vb_door_roles[j], inst, resolved,
							       errors);
			}
		} else if (g_strcmp0(groups[i], "services") == 0) {
			for (guint j = 0; j < G_N_ELEMENTS(vb_service_roles); j++) {
				g_auto(GStrv) insts = NULL;
				if (j == G_N_ELEMENTS(vb_service_roles) - 1) {
					insts = vb_config_get_string_list(config, groups[i],
									  vb_service_roles[j].key);
				} else {
					const gchar *inst = vb_config_get_string(
					    config, groups[i], vb_service_roles[j].key);
					insts = g_new0(gchar *, 2);
					insts[0] = g_strdup(inst);
				}
				for (guint k = 0; insts != NULL && insts[k] != NULL; k++) {
					if (insts[k][0] == '\0')
						continue;
					vb_plugin_loader_check_binding(self, config, groups[i],
								       &vb_service_roles[j],
								       insts[k], resolved, errors);
				}
			}
		}
	}

	if (errors->len > 0) {
		g_string_truncate(errors, errors->len - 1);
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_CONFIG, errors->str);
		return NULL;
	}
	return g_steal_pointer(&resolved);
}

static const gchar *
vb_plugin_loader_door_of(VbConfig *config, const gchar *instance)
{
	g_auto(GStrv) groups = vb_config_get_groups(config);
	for (guint i = 0; groups[i] != NULL; i++) {
		if (!g_str_has_prefix(groups[i], "door:"))
			continue;
		for (guint j = 0; j < G_N_ELEMENTS(vb_door_roles); j++) {
			const gchar *inst =
			    vb_config_get_string(config, groups[i], vb_door_roles[j].key);
			if (g_strcmp0(inst, instance) == 0)
				return g_intern_string(groups[i] + strlen("door:"));
		}
	}
	return NULL;
}

static VbInstance *
vb_plugin_loader_find(VbPluginLoader *self, const gchar *name)
{
	for (guint i = 0; i < self->instances->len; i++) {
		VbInstance *inst = g_ptr_array_index(self->instances, i);
		if (g_strcmp0(inst->name, name) == 0)
			return inst;
	}
	return NULL;
}

static VbInstance *
vb_plugin_loader_start_one(VbPluginLoader *self,
			   VbConfig *config,
			   const gchar *name,
			   GHashTable *values,
			   const gchar *unloadable_error)
{
	g_autofree gchar *group = g_strdup_printf("instance:%s", name);
	VbInstance *inst = g_new0(VbInstance, 1);
	g_autoptr(GError) error = NULL;
	GType type;

	inst->name = g_strdup(name);
	inst->module = vb_config_get_raw(config, group, "plugin");
	if (unloadable_error != NULL) {
		inst->error = g_strdup(unloadable_error);
		return inst;
	}
	type = (GType)GPOINTER_TO_SIZE(g_hash_table_lookup(self->modules, inst->module));
	inst->plugin = vb_plugin_new_instance(type, self->context, name, inst->module);
	vb_plugin_set_door(inst->plugin, vb_plugin_loader_door_of(config, name));
	vb_plugin_set_settings(inst->plugin, values);
	if (!vb_plugin_startup(inst->plugin, &error)) {
		g_warning("instance %s (plugin %s) disabled: startup failed: %s", name,
			  inst->module, error->message);
		/* release whatever a half-done startup took */
		vb_plugin_shutdown(inst->plugin);
	} else {
		g_debug("instance %s (plugin %s) running", name, inst->module);
	}
	return inst;
}

void
vb_plugin_loader_start(VbPluginLoader *self,
		       VbConfig *config,
		       GHashTable *resolved,
		       GHashTable *unloadable)
{
	g_auto(GStrv) groups = vb_config_get_groups(config);

	for (guint i = 0; groups[i] != NULL; i++) {
		const gchar *name;
		GHashTable *values;
		const gchar *unloadable_error;

		if (!g_str_has_prefix(groups[i], "instance:"))
			continue;
		name = groups[i] + strlen("instance:");
		values = g_hash_table_lookup(resolved, name);
		unloadable_error =
		    unloadable != NULL ? g_hash_table_lookup(unloadable, name) : NULL;
		if (values == NULL && unloadable_error == NULL)
			continue; /* enabled=false */
		g_ptr_array_add(self->instances, vb_plugin_loader_start_one(
						     self, config, name, values, unloadable_error));
	}
}

static gboolean
vb_settings_equal(GHashTable *a, GHashTable *b)
{
	GHashTableIter iter;
	gpointer key, value;

	if (a == NULL || b == NULL)
		return a == b;
	if (g_hash_table_size(a) != g_hash_table_size(b))
		return FALSE;
	g_hash_table_iter_init(&iter, a);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		GVariant *other = g_hash_table_lookup(b, key);
		if (other == NULL || !g_variant_equal(value, other))
			return FALSE;
	}
	return TRUE;
}

gboolean
vb_plugin_loader_apply(VbPluginLoader *self,
		       VbConfig *config,
		       GHashTable *resolved,
		       GHashTable *unloadable,
		       GError **error)
{
	g_autoptr(GPtrArray) reloaded = g_ptr_array_new(); /* of VbInstance */
	g_autoptr(GPtrArray) old_values =
	    g_ptr_array_new_with_free_func((GDestroyNotify)g_hash_table_unref);
	g_autoptr(GPtrArray) kept = g_ptr_array_new();
	g_auto(GStrv) groups = NULL;

	/* first the instances whose settings changed, so that a refusal changes nothing */
	for (guint i = 0; i < self->instances->len; i++) {
		VbInstance *inst = g_ptr_array_index(self->instances, i);
		g_autofree gchar *group = g_strdup_printf("instance:%s", inst->name);
		g_autofree gchar *module = vb_config_get_raw(config, group, "plugin");
		GHashTable *values = g_hash_table_lookup(resolved, inst->name);
		g_autoptr(GError) error_local = NULL;

		if (inst->plugin == NULL || values == NULL ||
		    g_strcmp0(module, inst->module) != 0 ||
		    vb_plugin_get_state(inst->plugin) != VB_PLUGIN_STATE_RUNNING)
			continue;
		g_ptr_array_add(kept, inst);
		if (vb_settings_equal(vb_plugin_get_settings(inst->plugin), values))
			continue;
		g_ptr_array_add(old_values, g_hash_table_ref(vb_plugin_get_settings(inst->plugin)));
		if (!vb_plugin_reload(inst->plugin, values, &error_local)) {
			g_propagate_prefixed_error(
			    error, g_steal_pointer(&error_local),
			    "instance %s refused its new settings: ", inst->name);
			g_ptr_array_remove_index(old_values, old_values->len - 1);
			/* put back the ones already reloaded */
			for (guint j = 0; j < reloaded->len; j++) {
				VbInstance *prev = g_ptr_array_index(reloaded, j);
				if (!vb_plugin_reload(prev->plugin,
						      g_ptr_array_index(old_values, j), NULL))
					g_warning("instance %s could not go back to its old "
						  "settings",
						  prev->name);
			}
			return FALSE;
		}
		g_ptr_array_add(reloaded, inst);
	}

	/* then stop what went away or changed plugin, and start what is new */
	for (guint i = self->instances->len; i > 0; i--) {
		VbInstance *inst = g_ptr_array_index(self->instances, i - 1);
		if (g_ptr_array_find(kept, inst, NULL))
			continue;
		if (inst->plugin != NULL)
			vb_plugin_shutdown(inst->plugin);
		g_ptr_array_remove_index(self->instances, i - 1);
	}
	groups = vb_config_get_groups(config);
	for (guint i = 0; groups[i] != NULL; i++) {
		const gchar *name;
		GHashTable *values;
		const gchar *unloadable_error;
		VbInstance *inst;

		if (!g_str_has_prefix(groups[i], "instance:"))
			continue;
		name = groups[i] + strlen("instance:");
		inst = vb_plugin_loader_find(self, name);
		if (inst != NULL) {
			vb_plugin_set_door(inst->plugin, vb_plugin_loader_door_of(config, name));
			continue;
		}
		values = g_hash_table_lookup(resolved, name);
		unloadable_error =
		    unloadable != NULL ? g_hash_table_lookup(unloadable, name) : NULL;
		if (values == NULL && unloadable_error == NULL)
			continue;
		g_ptr_array_add(self->instances, vb_plugin_loader_start_one(
						     self, config, name, values, unloadable_error));
	}
	return TRUE;
}

void
vb_plugin_loader_stop(VbPluginLoader *self)
{
	/* reverse order: services started first stop last */
	for (guint i = self->instances->len; i > 0; i--) {
		VbInstance *inst = g_ptr_array_index(self->instances, i - 1);
		if (inst->plugin != NULL)
			vb_plugin_shutdown(inst->plugin);
	}
}

GVariant *
vb_plugin_loader_to_variant(VbPluginLoader *self)
{
	GVariantBuilder builder;

	g_variant_builder_init(&builder, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; i < self->instances->len; i++) {
		VbInstance *inst = g_ptr_array_index(self->instances, i);
		if (inst->plugin != NULL) {
			g_variant_builder_add_value(&builder, vb_plugin_to_variant(inst->plugin));
			continue;
		}
		g_variant_builder_open(&builder, G_VARIANT_TYPE_VARDICT);
		g_variant_builder_add(&builder, "{sv}", "name", g_variant_new_string(inst->name));
		g_variant_builder_add(&builder, "{sv}", "plugin",
				      g_variant_new_string(inst->module));
		g_variant_builder_add(&builder, "{sv}", "state", g_variant_new_string("disabled"));
		g_variant_builder_add(&builder, "{sv}", "error", g_variant_new_string(inst->error));
		g_variant_builder_close(&builder);
	}
	return g_variant_builder_end(&builder);
}

VbPlugin *
vb_plugin_loader_get_instance(VbPluginLoader *self, const gchar *name)
{
	VbInstance *inst = vb_plugin_loader_find(self, name);
	return inst != NULL ? inst->plugin : NULL;
}

static void
vb_plugin_loader_finalize(GObject *object)
{
	VbPluginLoader *self = VB_PLUGIN_LOADER(object);

	g_ptr_array_unref(self->instances);
	g_hash_table_unref(self->modules);
	g_strfreev(self->dirs);
	G_OBJECT_CLASS(vb_plugin_loader_parent_class)->finalize(object);
}

static void
vb_plugin_loader_class_init(VbPluginLoaderClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->finalize = vb_plugin_loader_finalize;
}

static void
vb_plugin_loader_init(VbPluginLoader *self)
{
	self->modules = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->instances = g_ptr_array_new_with_free_func((GDestroyNotify)vb_instance_free);
}

VbPluginLoader *
vb_plugin_loader_new(VbContext *context, const gchar *const *dirs)
{
	VbPluginLoader *self = g_object_new(VB_TYPE_PLUGIN_LOADER, NULL);
	self->context = context;
	self->dirs = dirs != NULL ? g_strdupv((gchar **)dirs) : vb_plugin_loader_default_dirs();
	return self;
}
