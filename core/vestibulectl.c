/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <inttypes.h>

#include <glib/gi18n.h>
#include <locale.h>
#include <stdlib.h>

#include "vb-config-private.h"
#include "vb-ctl-client.h"
#include "vb-ctl-sim.h"
#include "vb-error.h"
#include "vb-plugin-loader-private.h"

/* exit codes, documented in --help and the README, for scripts */
enum {
	VB_EXIT_OK = 0,
	VB_EXIT_FAILED = 1, /* the daemon refused, or the check found errors */
	VB_EXIT_USAGE = 2,
	VB_EXIT_UNREACHABLE = 3,
};

typedef struct {
	gchar *socket_path;
	gboolean json;
	VbCtlClient *client;
} VbCtl;

static gint
vb_ctl_exit_for_error(const GError *error)
{
	g_printerr("vestibulectl: %s\n", error->message);
	if (g_error_matches(error, VB_ERROR, VB_ERROR_UNREACHABLE))
		return VB_EXIT_UNREACHABLE;
	return VB_EXIT_FAILED;
}

static void
vb_ctl_print_json(JsonNode *node)
{
	g_autofree gchar *text = json_to_string(node, TRUE);
	g_print("%s\n", text);
}

static const gchar *
vb_obj_str(JsonObject *obj, const gchar *key)
{
	return json_object_get_string_member_with_default(obj, key, "");
}

static gint
vb_ctl_status(VbCtl *ctl)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	JsonObject *obj, *doors_obj;
	JsonArray *doors;

	node = vb_ctl_client_request(ctl->client, "GET", "/v1/status", NULL, &error);
	if (node == NULL)
		return vb_ctl_exit_for_error(error);
	if (ctl->json) {
		vb_ctl_print_json(node);
		return VB_EXIT_OK;
	}
	obj = json_node_get_object(node);
	/* TRANSLATORS: vestibulectl status, first line */
	g_print(_("%s: vestibuled %s, up %" PRId64 " s, ready in %.1f ms\n"),
		vb_obj_str(obj, "store-name"), vb_obj_str(obj, "version"),
		json_object_get_int_member_with_default(obj, "uptime-s", 0),
		json_object_get_double_member_with_default(obj, "ready-ms", 0));
	g_print(_("store: %s (schema %" PRId64 ")\n"), vb_obj_str(obj, "store-path"),
		json_object_get_int_member_with_default(obj, "schema-version", 0));
	if (json_object_has_member(obj, "store-quarantined"))
		g_print(_("WARNING: a damaged store was moved to %s\n"),
			vb_obj_str(obj, "store-quarantined"));
	g_print(_("public API: %s\n"), vb_obj_str(obj, "public-url"));
	g_print(_("plugins: %" PRId64 " running, %" PRId64 " disabled\n"),
		json_object_get_int_member_with_default(obj, "plugins-running", 0),
		json_object_get_int_member_with_default(obj, "plugins-disabled", 0));
	doors_obj = json_object_get_object_member(obj, "doors");
	doors = doors_obj != NULL ? json_object_get_array_member(doors_obj, "doors") : NULL;
	for (guint i = 0; doors != NULL && i < json_array_get_length(doors); i++) {
		JsonObject *door = json_array_get_object_element(doors, i);
		g_print(_("door %s: %s"), vb_obj_str(door, "name"), vb_obj_str(door, "state"));
		if (json_object_has_member(door, "reader-state"))
			g_print(_(", reader %s"), vb_obj_str(door, "reader-state"));
		if (json_object_has_member(door, "locked"))
			g_print(json_object_get_boolean_member(door, "locked") ? _(", locked")
									       : _(", unlocked"));
		if (json_object_has_member(door, "door-state"))
			g_print(_(", door %s"), vb_obj_str(door, "door-state"));
		g_print("\n");
	}
	return VB_EXIT_OK;
}

static gint
vb_ctl_plugins(VbCtl *ctl)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	JsonArray *instances, *available;
	gint status = VB_EXIT_OK;

	node = vb_ctl_client_request(ctl->client, "GET", "/v1/plugins", NULL, &error);
	if (node == NULL)
		return vb_ctl_exit_for_error(error);
	if (ctl->json) {
		vb_ctl_print_json(node);
		return VB_EXIT_OK;
	}
	instances = json_object_get_array_member(json_node_get_object(node), "instances");
	/* TRANSLATORS: column headers of vestibulectl plugins */
	g_print("%-20s %-16s %-9s %-10s %s\n", _("INSTANCE"), _("PLUGIN"), _("STATE"), _("DOOR"),
		_("ROLES"));
	for (guint i = 0; instances != NULL && i < json_array_get_length(instances); i++) {
		JsonObject *inst = json_array_get_object_element(instances, i);
		JsonArray *roles = json_object_has_member(inst, "roles")
				       ? json_object_get_array_member(inst, "roles")
				       : NULL;
		g_autoptr(GString) roles_str = g_string_new(NULL);
		for (guint j = 0; roles != NULL && j < json_array_get_length(roles); j++) {
			if (j > 0)
				g_string_append_c(roles_str, ',');
			g_string_append(roles_str, json_array_get_string_element(roles, j));
		}
		g_print("%-20s %-16s %-9s %-10s %s\n", vb_obj_str(inst, "name"),
			vb_obj_str(inst, "plugin"), vb_obj_str(inst, "state"),
			json_object_has_member(inst, "door") ? vb_obj_str(inst, "door") : "-",
			roles_str->len > 0 ? roles_str->str : "-");
		if (json_object_has_member(inst, "error")) {
			g_print("    %s\n", vb_obj_str(inst, "error"));
			status = VB_EXIT_FAILED;
		}
	}
	available = json_object_get_array_member(json_node_get_object(node), "available");
	if (available != NULL && json_array_get_length(available) > 0) {
		g_print(_("available:"));
		for (guint i = 0; i < json_array_get_length(available); i++)
			g_print(" %s", json_array_get_string_element(available, i));
		g_print("\n");
	}
	/* a disabled instance is worth a non-zero status for monitoring scripts */
	return status;
}

static void
vb_ctl_print_event(JsonObject *ev)
{
	JsonObject *payload = json_object_get_object_member(ev, "payload");
	g_autoptr(GList) members = payload != NULL ? json_object_get_members(payload) : NULL;

	g_print("%s #%" G_GINT64_FORMAT " %s", vb_obj_str(ev, "time"),
		json_object_get_int_member_with_default(ev, "seq", 0), vb_obj_str(ev, "name"));
	if (json_object_has_member(ev, "source") || json_object_has_member(ev, "door"))
		g_print(" [%s%s%s]",
			json_object_has_member(ev, "source") ? vb_obj_str(ev, "source") : "core",
			json_object_has_member(ev, "door") ? "@" : "", vb_obj_str(ev, "door"));
	for (GList *l = members; l != NULL; l = l->next) {
		JsonNode *value = json_object_get_member(payload, l->data);
		g_autofree gchar *text = NULL;
		if (JSON_NODE_HOLDS_VALUE(value) &&
		    json_node_get_value_type(value) == G_TYPE_STRING)
			text = g_strdup(json_node_get_string(value));
		else
			text = json_to_string(value, FALSE);
		g_print(" %s=%s", (const gchar *)l->data, text);
	}
	g_print("\n");
}

static gboolean
vb_ctl_follow_cb(JsonNode *line, gpointer user_data)
{
	VbCtl *ctl = user_data;
	if (ctl->json) {
		g_autofree gchar *text = json_to_string(line, FALSE);
		g_print("%s\n", text);
	} else if (JSON_NODE_HOLDS_OBJECT(line)) {
		vb_ctl_print_event(json_node_get_object(line));
	}
	return TRUE;
}

static gint
vb_ctl_events(VbCtl *ctl, gint argc, gchar **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autofree gchar *path = NULL;
	gboolean follow = FALSE;
	gint limit = 20;
	JsonArray *events;

	for (gint i = 0; i < argc; i++) {
		if (g_strcmp0(argv[i], "--follow") == 0 || g_strcmp0(argv[i], "-f") == 0) {
			follow = TRUE;
		} else if (g_strcmp0(argv[i], "--limit") == 0 && i + 1 < argc) {
			limit = atoi(argv[++i]);
			if (limit <= 0 || limit > 1000) {
				g_printerr(
				    _("vestibulectl: --limit takes a number from 1 to 1000\n"));
				return VB_EXIT_USAGE;
			}
		} else {
			g_printerr(_("usage: vestibulectl events [--follow] [--limit N]\n"));
			return VB_EXIT_USAGE;
		}
	}
	if (follow) {
		path = g_strdup_printf("/v1/events?follow=1&limit=%d", limit);
		if (!vb_ctl_client_stream(ctl->client, path, vb_ctl_follow_cb, ctl, NULL, &error))
			return vb_ctl_exit_for_error(error);
		return VB_EXIT_OK;
	}
	path = g_strdup_printf("/v1/events?limit=%d", limit);
	node = vb_ctl_client_request(ctl->client, "GET", path, NULL, &error);
	if (node == NULL)
		return vb_ctl_exit_for_error(error);
	if (ctl->json) {
		vb_ctl_print_json(node);
		return VB_EXIT_OK;
	}
	events = json_object_get_array_member(json_node_get_object(node), "events");
	for (guint i = 0; events != NULL && i < json_array_get_length(events); i++)
		vb_ctl_print_event(json_array_get_object_element(events, i));
	return VB_EXIT_OK;
}

static gint
vb_ctl_visits(VbCtl *ctl, gint argc, gchar **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	JsonArray *visits;

	if (argc > 0) {
		g_printerr(_("usage: vestibulectl visits\n"));
		return VB_EXIT_USAGE;
	}
	node = vb_ctl_client_request(ctl->client, "GET", "/v1/visits", NULL, &error);
	if (node == NULL)
		return vb_ctl_exit_for_error(error);
	if (ctl->json) {
		vb_ctl_print_json(node);
		return VB_EXIT_OK;
	}
	visits = json_object_get_array_member(json_node_get_object(node), "visits");
	if (visits == NULL || json_array_get_length(visits) == 0) {
		g_print(_("no visits yet\n"));
		return VB_EXIT_OK;
	}
	g_print("%-26s %-10s %-14s %s\n", _("VISIT"), _("DOOR"), _("STATE"), _("CARD"));
	for (guint i = 0; i < json_array_get_length(visits); i++) {
		JsonObject *v = json_array_get_object_element(visits, i);
		g_print("%-26s %-10s %-14s %s••%s\n", vb_obj_str(v, "id"), vb_obj_str(v, "door"),
			vb_obj_str(v, "state"), vb_obj_str(v, "first6"), vb_obj_str(v, "last4"));
	}
	return VB_EXIT_OK;
}

static gint
vb_ctl_config_check(VbCtl *ctl, gint argc, gchar **argv)
{
	g_autoptr(VbConfig) config = vb_config_new();
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	g_autoptr(VbPluginLoader) loader = NULL;
	g_autoptr(GHashTable) unloadable = NULL;
	g_autoptr(GHashTable) resolved = NULL;
	const gchar *file = NULL;
	const gchar *secrets = NULL;
	g_autoptr(GPtrArray) plugin_dirs = g_ptr_array_new();

	for (gint i = 0; i < argc; i++) {
		if (g_strcmp0(argv[i], "--secrets") == 0 && i + 1 < argc)
			secrets = argv[++i];
		else if (g_strcmp0(argv[i], "--plugin-dir") == 0 && i + 1 < argc)
			g_ptr_array_add(plugin_dirs, argv[++i]);
		else if (file == NULL && argv[i][0] != '-')
			file = argv[i];
		else
			file = NULL, argc = -1;
	}
	if (file == NULL) {
		g_printerr(_("usage: vestibulectl config check FILE [--secrets FILE] "
			     "[--plugin-dir DIR]\n"));
		return VB_EXIT_USAGE;
	}
	g_ptr_array_add(plugin_dirs, NULL);

	/* nothing is started: the plugins' modules are loaded only to read the keys
	 * they declare */
	if (!vb_config_load(config, file, &error) ||
	    (secrets != NULL && !vb_config_load_secrets(config, secrets, &error)) ||
	    !vb_config_validate(config, warnings, &error)) {
		for (guint i = 0; i < warnings->len; i++)
			g_printerr(_("warning: %s\n"),
				   (const gchar *)g_ptr_array_index(warnings, i));
		g_printerr("%s\n", error->message);
		return VB_EXIT_FAILED;
	}
	loader = vb_plugin_loader_new(
	    NULL, plugin_dirs->len > 1 ? (const gchar *const *)plugin_dirs->pdata : NULL);
	unloadable = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	resolved = vb_plugin_loader_resolve(loader, config, unloadable, warnings, &error);
	for (guint i = 0; i < warnings->len; i++)
		g_printerr(_("warning: %s\n"), (const gchar *)g_ptr_array_index(warnings, i));
	if (resolved == NULL) {
		g_printerr("%s\n", error->message);
		return VB_EXIT_FAILED;
	}
	if (g_hash_table_size(unloadable) > 0) {
		GHashTableIter iter;
		gpointer name, reason;
		g_hash_table_iter_init(&iter, unloadable);
		while (g_hash_table_iter_next(&iter, &name, &reason))
			g_printerr("[instance:%s]: %s\n", (gchar *)name, (gchar *)reason);
		return VB_EXIT_FAILED;
	}
	g_print(_("%s: configuration is valid\n"), file);
	return VB_EXIT_OK;
}

static gint
vb_ctl_reload(VbCtl *ctl)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;

	node = vb_ctl_client_request(ctl->client, "POST", "/v1/reload", NULL, &error);
	if (node == NULL)
		return vb_ctl_exit_for_error(error);
	if (ctl->json)
		vb_ctl_print_json(node);
	else
		g_print(_("configuration reloaded\n"));
	return VB_EXIT_OK;
}

static gint
vb_ctl_token(VbCtl *ctl, gint argc, gchar **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;

	if (argc >= 1 && g_strcmp0(argv[0], "list") == 0 && argc == 1) {
		JsonArray *tokens;
		node = vb_ctl_client_request(ctl->client, "GET", "/v1/tokens", NULL, &error);
		if (node == NULL)
			return vb_ctl_exit_for_error(error);
		if (ctl->json) {
			vb_ctl_print_json(node);
			return VB_EXIT_OK;
		}
		tokens = json_object_get_array_member(json_node_get_object(node), "tokens");
		for (guint i = 0; tokens != NULL && i < json_array_get_length(tokens); i++) {
			JsonObject *t = json_array_get_object_element(tokens, i);
			g_print("%-20s %s\n", vb_obj_str(t, "name"), vb_obj_str(t, "scope"));
		}
		return VB_EXIT_OK;
	}
	if (argc == 4 && g_strcmp0(argv[0], "add") == 0 && g_strcmp0(argv[2], "--scope") == 0) {
		g_autoptr(JsonBuilder) builder = json_builder_new();
		g_autoptr(JsonNode) body = NULL;
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "name");
		json_builder_add_string_value(builder, argv[1]);
		json_builder_set_member_name(builder, "scope");
		json_builder_add_string_value(builder, argv[3]);
		json_builder_end_object(builder);
		body = json_builder_get_root(builder);
		node = vb_ctl_client_request(ctl->client, "POST", "/v1/tokens", body, &error);
		if (node == NULL)
			return vb_ctl_exit_for_error(error);
		if (ctl->json) {
			vb_ctl_print_json(node);
			return VB_EXIT_OK;
		}
		/* TRANSLATORS: the token follows on its own line */
		g_printerr(_("token for %s (scope %s); it is shown only once:\n"), argv[1],
			   argv[3]);
		g_print("%s\n", vb_obj_str(json_node_get_object(node), "token"));
		return VB_EXIT_OK;
	}
	if (argc == 2 && g_strcmp0(argv[0], "remove") == 0) {
		g_autofree gchar *escaped = g_uri_escape_string(argv[1], NULL, FALSE);
		g_autofree gchar *path = g_strdup_printf("/v1/tokens/%s", escaped);
		node = vb_ctl_client_request(ctl->client, "DELETE", path, NULL, &error);
		if (node == NULL)
			return vb_ctl_exit_for_error(error);
		g_print(_("token %s removed\n"), argv[1]);
		return VB_EXIT_OK;
	}
	g_printerr(_("usage: vestibulectl token add NAME --scope SCOPE | token list | token remove "
		     "NAME\n"));
	return VB_EXIT_USAGE;
}

static void
vb_ctl_usage(void)
{
	g_printerr(
	    _("usage: vestibulectl [--socket PATH] [--json] COMMAND\n"
	      "\n"
	      "commands:\n"
	      "  status                       the daemon, its store and its doors\n"
	      "  plugins                      plugin instances and why any is disabled\n"
	      "  events [--follow] [--limit N] the bus, from the audit log, live with --follow\n"
	      "  visits                       the latest visits\n"
	      "  config check FILE            check a configuration without starting anything\n"
	      "  reload                       reload the configuration, as SIGHUP does\n"
	      "  token add NAME --scope SCOPE | token list | token remove NAME\n"
	      "                               bearer tokens of the public HTTP API\n"
	      "  sim ...                      drive the simulated store (vestibulectl sim help)\n"
	      "\n"
	      "Exit status: 0 done, 1 refused or failed, 2 usage error, 3 daemon unreachable.\n"));
	/* TRANSLATORS: %s is the default path of the control socket */
	g_printerr(_("The socket is $VESTIBULE_SOCKET, else %s.\n"), VB_RUNDIR "/control.sock");
}

int
main(int argc, char **argv)
{
	VbCtl ctl = {0};
	const gchar *command;
	gint status;
	gint i = 1;

	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, VB_LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (g_strcmp0(argv[i], "--json") == 0) {
			ctl.json = TRUE;
		} else if (g_strcmp0(argv[i], "--socket") == 0 && i + 1 < argc) {
			g_free(ctl.socket_path);
			ctl.socket_path = g_strdup(argv[++i]);
		} else if (g_strcmp0(argv[i], "--version") == 0) {
			g_print("vestibulectl %s\n", PACKAGE_VERSION);
			return VB_EXIT_OK;
		} else if (g_strcmp0(argv[i], "--help") == 0 || g_strcmp0(argv[i], "-h") == 0) {
			vb_ctl_usage();
			return VB_EXIT_OK;
		} else {
			vb_ctl_usage();
			return VB_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		vb_ctl_usage();
		return VB_EXIT_USAGE;
	}
	command = argv[i++];
	if (ctl.socket_path == NULL)
		ctl.socket_path = g_strdup(g_getenv("VESTIBULE_SOCKET"));
	if (ctl.socket_path == NULL)
		ctl.socket_path = g_strdup(VB_RUNDIR "/control.sock");

	/* config check needs no daemon */
	if (g_strcmp0(command, "config") == 0) {
		if (i < argc && g_strcmp0(argv[i], "check") == 0)
			status = vb_ctl_config_check(&ctl, argc - i - 1, argv + i + 1);
		else {
			g_printerr(_("usage: vestibulectl config check FILE\n"));
			status = VB_EXIT_USAGE;
		}
		g_free(ctl.socket_path);
		return status;
	}

	ctl.client = vb_ctl_client_new(ctl.socket_path);
	if (g_strcmp0(command, "status") == 0 && i == argc)
		status = vb_ctl_status(&ctl);
	else if (g_strcmp0(command, "plugins") == 0 && i == argc)
		status = vb_ctl_plugins(&ctl);
	else if (g_strcmp0(command, "events") == 0)
		status = vb_ctl_events(&ctl, argc - i, argv + i);
	else if (g_strcmp0(command, "visits") == 0)
		status = vb_ctl_visits(&ctl, argc - i, argv + i);
	else if (g_strcmp0(command, "reload") == 0 && i == argc)
		status = vb_ctl_reload(&ctl);
	else if (g_strcmp0(command, "token") == 0)
		status = vb_ctl_token(&ctl, argc - i, argv + i);
	else if (g_strcmp0(command, "sim") == 0)
		status = vb_ctl_sim_run(ctl.client, ctl.json, argc - i, argv + i);
	else {
		vb_ctl_usage();
		status = VB_EXIT_USAGE;
	}
	g_object_unref(ctl.client);
	g_free(ctl.socket_path);
	return status;
}
