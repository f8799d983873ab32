/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <stdlib.h>

#include "vb-daemon-private.h"
#include "vb-i18n-private.h"
#include "vb-log-private.h"

int
main(int argc, char **argv)
{
	g_autoptr(GOptionContext) option_context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(VbDaemon) daemon = NULL;
	g_autofree gchar *config_path = NULL;
	g_autofree gchar *secrets_path = NULL;
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

	vb_log_setup(verbose);
	daemon = vb_daemon_new(config_path, secrets_path, (const gchar *const *)plugin_dirs);
	if (!vb_daemon_start(daemon, &error)) {
		/* a configuration error lists every problem with its file and line */
		g_printerr("vestibuled: %s\n", error->message);
		vb_daemon_stop(daemon);
		return 1;
	}
	return vb_daemon_run(daemon);
}
