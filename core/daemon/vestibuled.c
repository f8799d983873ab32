/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <stdlib.h>

#include "vb-config-private.h"
#include "vb-daemon-private.h"
#include "vb-i18n-private.h"
#include "vb-log-private.h"
#include "vb-plugin-loader-private.h"

static void
vb_check_print_warnings(GPtrArray *warnings)
{
	for (guint i = 0; i < warnings->len; i++)
		g_printerr(_("warning: %s\n"), (const gchar *)g_ptr_array_index(warnings, i));
}

/* --check-config, as nginx -t: the config and the secrets given are loaded and
 * validated, and the plugins resolved, which loads their modules only to read
 * the keys they declare. Nothing is started: no store, no socket, no plugin.
 * `vestibulectl config check` runs this; its messages and exit status are the
 * operator's */
static gint
vb_check_config(const gchar *file, const gchar *secrets, const gchar *const *plugin_dirs)
{
	g_autoptr(VbConfig) config = vb_config_new();
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	g_autoptr(VbPluginLoader) loader = NULL;
	g_autoptr(GHashTable) unloadable = NULL;
	g_autoptr(GHashTable) resolved = NULL;

	/* only the secrets file given: not the default one the daemon would read */
	if (!vb_config_load(config, file, &error) ||
	    (secrets != NULL && !vb_config_load_secrets(config, secrets, &error)) ||
	    !vb_config_validate(config, warnings, &error)) {
		vb_check_print_warnings(warnings);
		g_printerr("%s\n", error->message);
		return 1;
	}
	loader = vb_plugin_loader_new(NULL, plugin_dirs);
	unloadable = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	resolved = vb_plugin_loader_resolve(loader, config, unloadable, warnings, &error);
	vb_check_print_warnings(warnings);
	if (resolved == NULL) {
		g_printerr("%s\n", error->message);
		return 1;
	}
	if (g_hash_table_size(unloadable) > 0) {
		GHashTableIter iter;
		gpointer name, reason;
		g_hash_table_iter_init(&iter, unloadable);
		while (g_hash_table_iter_next(&iter, &name, &reason))
			g_printerr("[instance:%s]: %s\n", (gchar *)name, (gchar *)reason);
		return 1;
	}
	g_print(_("%s: configuration is valid\n"), file);
	return 0;
}

int
main(int argc, char **argv)
{
	g_autoptr(GOptionContext) option_context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(VbDaemon) daemon = NULL;
	g_autofree gchar *config_path = NULL;
	g_autofree gchar *secrets_path = NULL;
	g_autofree gchar *check_path = NULL;
	g_auto(GStrv) plugin_dirs = NULL;
	g_autofree gchar *defaults = NULL;
	gboolean verbose = FALSE;
	gboolean version = FALSE;
	const GOptionEntry entries[] = {
	    {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
	     /* TRANSLATORS: --config; the defaults are listed after the options */
	     N_("Main configuration file"), N_("FILE")},
	    {"secrets", 's', 0, G_OPTION_ARG_FILENAME, &secrets_path, N_("Secrets file"),
	     N_("FILE")},
	    {"plugin-dir", 'p', 0, G_OPTION_ARG_FILENAME_ARRAY, &plugin_dirs,
	     N_("Plugin directory, may be repeated"), N_("DIR")},
	    {"check-config", 0, 0, G_OPTION_ARG_FILENAME, &check_path,
	     /* TRANSLATORS: --check-config; as nginx -t */
	     N_("Check a configuration file, its plugins' keys and the --secrets file, then "
		"exit; starts nothing"),
	     N_("FILE")},
	    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_("Show debug messages"), NULL},
	    {"version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Show the version"), NULL},
	    {NULL}};

	vb_i18n_setup_process(VB_I18N_PROCESS_DAEMON);

	option_context = g_option_context_new(NULL);
	/* TRANSLATORS: the %s are paths */
	defaults =
	    g_strdup_printf(_("Defaults:\n"
			      "  configuration  %s/vestibule.conf, then %s/conf.d/*.conf\n"
			      "  secrets        $CREDENTIALS_DIRECTORY/vestibule-secrets, else "
			      "%s/secrets.conf\n"
			      "  plugins        $VESTIBULE_PLUGIN_DIR, else %s"),
			    VB_SYSCONFDIR, VB_SYSCONFDIR, VB_SYSCONFDIR, VB_PLUGIN_DIR);
	g_option_context_set_description(option_context, defaults);
	g_option_context_set_summary(option_context,
				     _("The Vestibule daemon: card readers, door locks, keypads, "
				       "payments and SMS for an unattended store."));
	g_option_context_add_main_entries(option_context, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(option_context, &argc, &argv, &error)) {
		g_printerr("%s: %s\n", g_get_prgname(), error->message);
		return 2;
	}
	if (version) {
		g_print("vestibuled %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, VB_PLUGIN_ABI_MAJOR,
			VB_PLUGIN_ABI_MINOR);
		return 0;
	}
	if (check_path != NULL) {
		if (config_path != NULL) {
			/* TRANSLATORS: the option names are not translated */
			g_printerr(_("%s: give the file to check to --check-config, without "
				     "--config\n"),
				   g_get_prgname());
			return 2;
		}
		/* a person reads what this prints, as from vestibulectl: all the locale */
		vb_i18n_setup_process(VB_I18N_PROCESS_TOOL);
		return vb_check_config(check_path, secrets_path, (const gchar *const *)plugin_dirs);
	}

	vb_log_setup(verbose);
	daemon = vb_daemon_new(config_path, secrets_path, (const gchar *const *)plugin_dirs);
	vb_daemon_handle_signals(daemon);
	if (!vb_daemon_start(daemon, &error)) {
		/* a configuration error lists every problem with its file and line */
		g_printerr("vestibuled: %s\n", error->message);
		vb_daemon_stop(daemon);
		return 1;
	}
	return vb_daemon_run(daemon);
}
