/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "vb-bus-private.h"
#include "vb-context-private.h"
#include "vb-error.h"
#include "vb-host-private.h"
#include "vb-plugin-loader-private.h"
#include "vb-plugin-private.h"

typedef struct {
	gchar *tmpdir;
	VbBus *bus;
	VbContext *context;
	VbHost *host;
	VbConfig *config;
	VbPluginLoader *loader;
	GHashTable *unloadable;
	GPtrArray *warnings;
} LoaderFixture;

static void
loader_setup(LoaderFixture *fx, gconstpointer data)
{
	const gchar *dirs[] = {TEST_PLUGIN_DIR, NULL};
	fx->tmpdir = g_dir_make_tmp("vb-loader-XXXXXX", NULL);
	fx->bus = vb_bus_new(NULL);
	fx->context = vb_context_new(fx->bus, NULL, NULL, NULL);
	fx->host = vb_host_new(fx->context);
	fx->loader = vb_plugin_loader_new(fx->context, dirs);
	fx->unloadable = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	fx->warnings = g_ptr_array_new_with_free_func(g_free);
}

static void
loader_teardown(LoaderFixture *fx, gconstpointer data)
{
	g_autofree gchar *cmd = g_strdup_printf("rm -rf %s", fx->tmpdir);
	vb_plugin_loader_stop(fx->loader);
	g_object_unref(fx->loader);
	g_clear_object(&fx->config);
	g_clear_object(&fx->host);
	g_object_unref(fx->context);
	g_object_unref(fx->bus);
	g_hash_table_unref(fx->unloadable);
	g_ptr_array_unref(fx->warnings);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(fx->tmpdir);
}

static VbConfig *
load_config(LoaderFixture *fx, const gchar *name, const gchar *text)
{
	g_autofree gchar *path = g_build_filename(fx->tmpdir, name, NULL);
	g_autoptr(VbConfig) config = vb_config_new();
	g_autoptr(GError) error = NULL;

	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	g_assert_true(vb_config_load(config, path, &error));
	g_assert_no_error(error);
	g_assert_true(vb_config_validate(config, fx->warnings, &error));
	g_assert_no_error(error);
	return g_steal_pointer(&config);
}

/* resolves and starts @text; returns the resolve error, if any */
static GError *
start_config(LoaderFixture *fx, const gchar *text)
{
	g_autoptr(GHashTable) resolved = NULL;
	GError *error = NULL;

	fx->config = load_config(fx, "vestibule.conf", text);
	g_assert_true(vb_host_set_config(fx->host, fx->config, NULL));
	resolved =
	    vb_plugin_loader_resolve(fx->loader, fx->config, fx->unloadable, fx->warnings, &error);
	if (resolved == NULL)
		return error;
	vb_plugin_loader_start(fx->loader, fx->config, resolved, fx->unloadable);
	return NULL;
}

static GVariant *
find_instance(LoaderFixture *fx, const gchar *name)
{
	g_autoptr(GVariant) all = vb_plugin_loader_to_variant(fx->loader);
	GVariantIter iter;
	GVariant *inst;

	g_variant_iter_init(&iter, all);
	while ((inst = g_variant_iter_next_value(&iter)) != NULL) {
		const gchar *n = NULL;
		g_variant_lookup(inst, "name", "&s", &n);
		if (g_strcmp0(n, name) == 0)
			return inst;
		g_variant_unref(inst);
	}
	return NULL;
}

static void
assert_instance(LoaderFixture *fx, const gchar *name, const gchar *state, const gchar *error_part)
{
	g_autoptr(GVariant) inst = find_instance(fx, name);
	const gchar *s = NULL, *err = NULL;

	g_assert_nonnull(inst);
	g_variant_lookup(inst, "state", "&s", &s);
	g_variant_lookup(inst, "error", "&s", &err);
	g_assert_cmpstr(s, ==, state);
	if (error_part == NULL) {
		g_assert_null(err);
	} else {
		if (err == NULL || strstr(err, error_part) == NULL)
			g_error("instance %s: expected error containing '%s', got '%s'", name,
				error_part, err);
	}
}

static void
test_loader_good(LoaderFixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) inst = NULL;
	g_autoptr(GVariant) status = NULL;
	const gchar *greeting = NULL;
	gint64 count = 0;
	VbPlugin *plugin;

	error = start_config(fx, "[door:front]\nreader=good\n"
				 "[instance:good]\nplugin=test-good\ngreeting=bonjour\n"
				 "[instance:other]\nplugin=test-good\n");
	g_assert_no_error(error);
	assert_instance(fx, "good", "running", NULL);
	assert_instance(fx, "other", "running", NULL);

	/* two instances of one plugin, each with its own settings */
	inst = find_instance(fx, "good");
	status = g_variant_lookup_value(inst, "status", G_VARIANT_TYPE_VARDICT);
	g_variant_lookup(status, "greeting", "&s", &greeting);
	g_variant_lookup(status, "count", "x", &count);
	g_assert_cmpstr(greeting, ==, "bonjour");
	g_assert_cmpint(count, ==, 3);
	plugin = vb_plugin_loader_get_instance(fx->loader, "other");
	g_assert_cmpstr(vb_plugin_get_string(plugin, "greeting"), ==, "hello");
	g_assert_cmpstr(vb_plugin_get_door(plugin), ==, NULL);
	g_assert_cmpstr(vb_plugin_get_door(vb_plugin_loader_get_instance(fx->loader, "good")), ==,
			"front");
	g_assert_true(VB_IS_CARD_READER(plugin));
}

static void
test_loader_abi(LoaderFixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *major_msg = NULL;
	g_autofree gchar *minor_msg = NULL;

	error = start_config(fx, "[instance:major]\nplugin=test-abi-major\n"
				 "[instance:minor]\nplugin=test-abi-minor\n"
				 "[instance:nosym]\nplugin=test-nosym\n"
				 "[instance:missing]\nplugin=does-not-exist\n"
				 "[instance:good]\nplugin=test-good\n");
	/* no module problem is a configuration error: the daemon goes on */
	g_assert_no_error(error);
	/* the test modules are built one major, and one minor, ahead of the core */
	major_msg = g_strdup_printf("built for plugin ABI %u.%u but this vestibuled provides %u.%u",
				    VB_PLUGIN_ABI_MAJOR + 1, VB_PLUGIN_ABI_MINOR,
				    VB_PLUGIN_ABI_MAJOR, VB_PLUGIN_ABI_MINOR);
	minor_msg = g_strdup_printf("built for plugin ABI %u.%u", VB_PLUGIN_ABI_MAJOR,
				    VB_PLUGIN_ABI_MINOR + 1);
	assert_instance(fx, "major", "disabled", major_msg);
	assert_instance(fx, "minor", "disabled", minor_msg);
	assert_instance(fx, "nosym", "disabled", "is not a Vestibule plugin");
	assert_instance(fx, "missing", "disabled", "plugin 'does-not-exist' not found");
	assert_instance(fx, "good", "running", NULL);
}

static void
test_loader_failing_startup(LoaderFixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	error = start_config(fx, "[instance:broken]\nplugin=test-good\nfail-startup=true\n"
				 "[instance:good]\nplugin=test-good\n");
	g_assert_no_error(error);
	assert_instance(fx, "broken", "disabled", "the test device is not there; check its cable");
	assert_instance(fx, "good", "running", NULL);
}

static void
test_loader_file_mode(LoaderFixture *fx, gconstpointer data)
{
	g_autofree gchar *src = g_build_filename(TEST_PLUGIN_DIR, "vb-test-good.so", NULL);
	g_autofree gchar *dir = g_build_filename(fx->tmpdir, "plugins", NULL);
	g_autofree gchar *dst = g_build_filename(dir, "vb-test-good.so", NULL);
	g_autofree gchar *contents = NULL;
	const gchar *dirs[] = {dir, NULL};
	g_autoptr(VbPluginLoader) loader = NULL;
	g_autoptr(GError) error = NULL;
	gsize len = 0;

	g_assert_cmpint(g_mkdir(dir, 0755), ==, 0);
	g_assert_true(g_file_get_contents(src, &contents, &len, NULL));
	g_assert_true(g_file_set_contents_full(dst, contents, (gssize)len, G_FILE_SET_CONTENTS_NONE,
					       0775, NULL));
	g_assert_cmpint(g_chmod(dst, 0775), ==, 0);
	loader = vb_plugin_loader_new(NULL, dirs);
	g_assert_cmpuint(vb_plugin_loader_load_module(loader, "test-good", &error), ==,
			 G_TYPE_INVALID);
	g_assert_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED);
	g_assert_nonnull(strstr(error->message, "writable by group or others (mode 0775)"));
	g_clear_error(&error);

	/* a symbolic link to a good file is followed, a directory is refused */
	g_assert_cmpint(g_unlink(dst), ==, 0);
	g_assert_cmpint(g_mkdir(dst, 0755), ==, 0);
	g_assert_cmpuint(vb_plugin_loader_load_module(loader, "test-good", &error), ==,
			 G_TYPE_INVALID);
	g_assert_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED);
	g_assert_nonnull(strstr(error->message, "not a regular file"));
	g_clear_error(&error);

	/* bad names never reach the file system */
	g_assert_cmpuint(vb_plugin_loader_load_module(loader, "../evil", &error), ==,
			 G_TYPE_INVALID);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
}

static void
test_loader_settings_errors(LoaderFixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	error = start_config(fx, "[instance:a]\nplugin=test-good\ncount=eleven\nbogus=1\n"
				 "[instance:b]\nplugin=test-good\ncount=11\n");
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	/* every error, each with its file and line */
	g_assert_nonnull(strstr(error->message, "vestibule.conf:3"));
	g_assert_nonnull(strstr(error->message, "eleven"));
	g_assert_nonnull(strstr(error->message, "vestibule.conf:7"));
	/* an unknown key is only a warning */
	for (guint i = 0; i < fx->warnings->len; i++) {
		if (strstr(g_ptr_array_index(fx->warnings, i), "bogus") != NULL)
			return;
	}
	g_error("no warning about the unknown key 'bogus'");
}

static void
test_loader_role_mismatch(LoaderFixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	/* test-good is a card reader, not a lock */
	error = start_config(fx, "[door:front]\nreader=good\nlock=good\n"
				 "[instance:good]\nplugin=test-good\n");
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	g_assert_nonnull(strstr(error->message, "vestibule.conf:3"));
	g_assert_nonnull(strstr(error->message, "is not a door lock"));
}

static void
test_loader_reload(LoaderFixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config2 = NULL;
	g_autoptr(VbConfig) config3 = NULL;
	g_autoptr(GHashTable) resolved = NULL;
	VbPlugin *keep, *plugin;

	error = start_config(fx, "[instance:keep]\nplugin=test-good\n"
				 "[instance:gone]\nplugin=test-good\n");
	g_assert_no_error(error);
	keep = vb_plugin_loader_get_instance(fx->loader, "keep");

	/* a changed setting is reloaded in place, a new instance starts, a removed one stops */
	config2 = load_config(fx, "two.conf",
			      "[instance:keep]\nplugin=test-good\ncount=7\n"
			      "[instance:new]\nplugin=test-good\n");
	resolved =
	    vb_plugin_loader_resolve(fx->loader, config2, fx->unloadable, fx->warnings, &error);
	g_assert_no_error(error);
	g_assert_true(
	    vb_plugin_loader_apply(fx->loader, config2, resolved, fx->unloadable, &error));
	g_assert_no_error(error);
	g_assert_true(vb_plugin_loader_get_instance(fx->loader, "keep") == keep);
	g_assert_cmpint(vb_plugin_get_int(keep, "count"), ==, 7);
	g_assert_null(vb_plugin_loader_get_instance(fx->loader, "gone"));
	plugin = vb_plugin_loader_get_instance(fx->loader, "new");
	g_assert_nonnull(plugin);
	g_assert_cmpint(vb_plugin_get_state(plugin), ==, VB_PLUGIN_STATE_RUNNING);
	g_clear_pointer(&resolved, g_hash_table_unref);

	/* an instance that refuses its new settings rejects the whole reload */
	config3 = load_config(fx, "three.conf",
			      "[instance:keep]\nplugin=test-good\ncount=9\n"
			      "[instance:new]\nplugin=test-good\nrefuse-reload=true\n");
	resolved =
	    vb_plugin_loader_resolve(fx->loader, config3, fx->unloadable, fx->warnings, &error);
	g_assert_no_error(error);
	g_assert_false(
	    vb_plugin_loader_apply(fx->loader, config3, resolved, fx->unloadable, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	g_assert_nonnull(strstr(error->message, "instance new refused its new settings"));
	/* and nothing changed */
	g_assert_cmpint(vb_plugin_get_int(keep, "count"), ==, 7);
	g_assert_false(vb_plugin_get_boolean(plugin, "refuse-reload"));
}

/* the section of the reference under a "### TITLE" heading, up to the next heading */
static gchar *
reference_section(const gchar *reference, const gchar *title)
{
	g_autofree gchar *heading = g_strdup_printf("\n### %s\n", title);
	const gchar *start = strstr(reference, heading);
	const gchar *end;

	if (start == NULL)
		return NULL;
	start += strlen(heading);
	end = strstr(start, "\n### ");
	return end != NULL ? g_strndup(start, (gsize)(end - start)) : g_strdup(start);
}

static void
test_loader_reference_documents_every_key(void)
{
	g_autofree gchar *path =
	    g_build_filename(g_getenv("VB_SOURCE_ROOT"), "data", "config-reference.md", NULL);
	g_autofree gchar *reference = NULL;
	const gchar *dirs[] = {g_getenv("VESTIBULE_PLUGIN_DIR"), NULL};
	g_autoptr(VbPluginLoader) loader = vb_plugin_loader_new(NULL, dirs);
	g_autoptr(GPtrArray) modules = vb_plugin_loader_list_modules(loader);
	const gchar *core[][2] = {{"vestibule", "`[vestibule]`"},
				  {"http", "`[http]`"},
				  {"services", "`[services]`"},
				  {"visit", "`[visit]`"},
				  {"sms", "`[sms]`"},
				  {"outbox", "`[outbox]`"},
				  {"door", "`[door:NAME]`"},
				  {"instance", "`[instance:NAME]`"}};

	g_assert_true(g_file_get_contents(path, &reference, NULL, NULL));
	/* an operator finds every key the core reads in the reference */
	for (guint i = 0; i < G_N_ELEMENTS(core); i++) {
		guint n = 0;
		const VbSettingSpec *specs = vb_config_get_core_specs(core[i][0], &n);
		g_assert_cmpuint(n, >, 0);
		for (guint j = 0; j < n; j++) {
			g_autofree gchar *key = g_strdup_printf("`%s`", specs[j].key);
			if (strstr(reference, key) == NULL)
				g_error("data/config-reference.md does not document [%s] %s",
					core[i][0], specs[j].key);
		}
	}
	/* and every key of every plugin built, under the plugin's own heading */
	g_assert_cmpuint(modules->len, >, 0);
	for (guint i = 0; i < modules->len; i++) {
		const gchar *name = g_ptr_array_index(modules, i);
		g_autoptr(GError) error = NULL;
		g_autoptr(GTypeClass) klass = NULL;
		g_autofree gchar *section = reference_section(reference, name);
		const VbSettingSpec *specs;
		GType type;
		guint n = 0;

		type = vb_plugin_loader_load_module(loader, name, &error);
		g_assert_no_error(error);
		if (section == NULL)
			g_error("data/config-reference.md has no section '### %s'", name);
		klass = g_type_class_ref(type);
		specs = vb_plugin_class_get_settings(VB_PLUGIN_CLASS(klass), &n);
		for (guint j = 0; j < n; j++) {
			g_autofree gchar *key = g_strdup_printf("`%s`", specs[j].key);
			if (strstr(section, key) == NULL)
				g_error("data/config-reference.md does not document %s's key %s",
					name, specs[j].key);
		}
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* operator warnings are expected here; criticals stay fatal */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_test_add("/plugin-loader/good", LoaderFixture, NULL, loader_setup, test_loader_good,
		   loader_teardown);
	g_test_add("/plugin-loader/abi-and-symbols", LoaderFixture, NULL, loader_setup,
		   test_loader_abi, loader_teardown);
	g_test_add("/plugin-loader/failing-startup", LoaderFixture, NULL, loader_setup,
		   test_loader_failing_startup, loader_teardown);
	g_test_add("/plugin-loader/file-mode", LoaderFixture, NULL, loader_setup,
		   test_loader_file_mode, loader_teardown);
	g_test_add("/plugin-loader/settings-errors", LoaderFixture, NULL, loader_setup,
		   test_loader_settings_errors, loader_teardown);
	g_test_add("/plugin-loader/role-mismatch", LoaderFixture, NULL, loader_setup,
		   test_loader_role_mismatch, loader_teardown);
	g_test_add("/plugin-loader/reload", LoaderFixture, NULL, loader_setup, test_loader_reload,
		   loader_teardown);
	g_test_add_func("/plugin-loader/reference-documents-every-key",
			test_loader_reference_documents_every_key);
	return g_test_run();
}
