/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <inttypes.h>

#include <glib/gi18n.h>
#include <stdlib.h>

#include "vb-ctl-client.h"
#include "vb-ctl-sim.h"
#include "vb-error.h"
#include "vb-i18n-private.h"
#include "vb-money.h"

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

/* " key=value" for each member of @obj, strings bare, the rest as JSON */
static void
vb_ctl_print_members(JsonObject *obj)
{
	g_autoptr(GList) members = json_object_get_members(obj);

	for (GList *l = members; l != NULL; l = l->next) {
		JsonNode *value = json_object_get_member(obj, l->data);
		g_autofree gchar *text = NULL;
		if (JSON_NODE_HOLDS_VALUE(value) &&
		    json_node_get_value_type(value) == G_TYPE_STRING)
			text = g_strdup(json_node_get_string(value));
		else
			text = json_to_string(value, FALSE);
		g_print(" %s=%s", (const gchar *)l->data, text);
	}
}

/* the masked last read of a door's reader: what a PCI DSS display may show */
static void
vb_ctl_print_last_read(JsonObject *read)
{
	const gchar *kind = vb_obj_str(read, "card-kind");

	if (g_strcmp0(kind, "uid") == 0) {
		/* TRANSLATORS: vestibulectl status; %s is a time */
		g_print(_("  last read: a tag that is not a payment card, at %s\n"),
			vb_obj_str(read, "time"));
		return;
	}
	/* TRANSLATORS: vestibulectl status: the scheme, the first six and last
	 * four digits of a card, its expiry (YYMM) and a time */
	g_print(_("  last read: %s %s\u2026%s, expires %s, at %s\n"),
		json_object_has_member(read, "scheme") ? vb_obj_str(read, "scheme") : "card",
		vb_obj_str(read, "first6"), vb_obj_str(read, "last4"),
		json_object_has_member(read, "expiry") ? vb_obj_str(read, "expiry") : "-",
		vb_obj_str(read, "time"));
}

/* one line per running instance that reports figures of its own */
static void
vb_ctl_print_instance_status(JsonObject *inst)
{
	JsonObject *status = json_object_has_member(inst, "status")
				 ? json_object_get_object_member(inst, "status")
				 : NULL;

	if (status == NULL || json_object_get_size(status) == 0)
		return;
	g_print("%s (%s):", vb_obj_str(inst, "name"), vb_obj_str(inst, "plugin"));
	vb_ctl_print_members(status);
	g_print("\n");
}

/* one line per kind of the outbox, then each peer that refuses lookups */
static void
vb_ctl_print_outbox_health(JsonObject *outbox)
{
	JsonObject *kinds = json_object_has_member(outbox, "kinds")
				? json_object_get_object_member(outbox, "kinds")
				: NULL;
	JsonObject *faults = json_object_has_member(outbox, "faults")
				 ? json_object_get_object_member(outbox, "faults")
				 : NULL;
	g_autoptr(GList) names = kinds != NULL ? json_object_get_members(kinds) : NULL;
	g_autoptr(GList) sources = faults != NULL ? json_object_get_members(faults) : NULL;

	names = g_list_sort(names, (GCompareFunc)g_strcmp0);
	for (GList *l = names; l != NULL; l = l->next) {
		JsonObject *kind = json_object_get_object_member(kinds, l->data);
		if (kind == NULL)
			continue;
		/* TRANSLATORS: vestibulectl status: an outbox kind (sms, payment),
		 * how many of its items wait, how many of those have an unknown
		 * outcome, and the age of the oldest in seconds */
		g_print(_("outbox %s: %" PRId64 " waiting, %" PRId64 " with an unknown outcome, "
			  "oldest %" PRId64 " s"),
			(const gchar *)l->data,
			json_object_get_int_member_with_default(kind, "queued", 0),
			json_object_get_int_member_with_default(kind, "unknown", 0),
			json_object_get_int_member_with_default(kind, "oldest-age-s", 0));
		if (json_object_get_boolean_member_with_default(kind, "stuck", FALSE))
			g_print(_(", STUCK"));
		g_print("\n");
	}
	for (GList *l = sources; l != NULL; l = l->next)
		/* TRANSLATORS: vestibulectl status: an SMS provider's instance name
		 * and why it cannot resolve unknown outcomes */
		g_print(_("FAULT %s: %s\n"), (const gchar *)l->data,
			json_object_get_string_member_with_default(faults, l->data, ""));
}

static gint
vb_ctl_status(VbCtl *ctl)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	JsonObject *obj, *doors_obj;
	JsonArray *doors, *instances;

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
	if (json_object_has_member(obj, "store")) {
		JsonObject *st = json_object_get_object_member(obj, "store");
		/* TRANSLATORS: vestibulectl status: the integrity check's result
		 * (ok, damaged, checking, not-checked-yet), the file's size and
		 * its free space in MiB */
		g_print(_("store check: %s, %.1f MiB, %.1f MiB free%s\n"),
			vb_obj_str(st, "integrity"),
			json_object_get_int_member_with_default(st, "size-bytes", 0) / 1048576.0,
			json_object_get_int_member_with_default(st, "free-bytes", 0) / 1048576.0,
			json_object_get_boolean_member_with_default(st, "check-overdue", FALSE)
			    ? _(", CHECK OVERDUE")
			    : "");
		if (json_object_has_member(st, "damage"))
			g_print(_("WARNING: the store is damaged (%s): no door opens; restart "
				  "vestibuled to move it aside\n"),
				vb_obj_str(st, "damage"));
	}
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
		if (json_object_has_member(door, "last-read"))
			vb_ctl_print_last_read(json_object_get_object_member(door, "last-read"));
	}
	if (json_object_has_member(obj, "outbox") &&
	    JSON_NODE_HOLDS_OBJECT(json_object_get_member(obj, "outbox")))
		vb_ctl_print_outbox_health(json_object_get_object_member(obj, "outbox"));
	instances = json_object_has_member(obj, "instances")
			? json_object_get_array_member(obj, "instances")
			: NULL;
	for (guint i = 0; instances != NULL && i < json_array_get_length(instances); i++)
		vb_ctl_print_instance_status(json_array_get_object_element(instances, i));
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

	g_print("%s #%" G_GINT64_FORMAT " %s", vb_obj_str(ev, "time"),
		json_object_get_int_member_with_default(ev, "seq", 0), vb_obj_str(ev, "name"));
	if (json_object_has_member(ev, "source") || json_object_has_member(ev, "door"))
		g_print(" [%s%s%s]",
			json_object_has_member(ev, "source") ? vb_obj_str(ev, "source") : "core",
			json_object_has_member(ev, "door") ? "@" : "", vb_obj_str(ev, "door"));
	if (payload != NULL)
		vb_ctl_print_members(payload);
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

/* what a shopper wrote, or a peer answered, made safe for a terminal: control
 * characters (an escape sequence could rewrite the screen) become U+FFFD */
static gchar *
vb_ctl_sanitize(const gchar *text, gboolean keep_newlines)
{
	g_autofree gchar *valid = g_utf8_make_valid(text != NULL ? text : "", -1);
	GString *out = g_string_new(NULL);

	for (const gchar *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (c == '\n' && keep_newlines)
			g_string_append_c(out, '\n');
		else if (g_unichar_iscntrl(c) || c == 0x202e || c == 0x202d)
			g_string_append_unichar(out, 0xfffd);
		else
			g_string_append_unichar(out, c);
	}
	return g_string_free(out, FALSE);
}

/* the store keeps times in µs since the epoch; shown in local time */
static gchar *
vb_ctl_format_time(gint64 value)
{
	g_autoptr(GDateTime) dt = NULL;

	if (value <= 0)
		return g_strdup("-");
	/* no time here is from before 1973 in µs, nor after 5138 in seconds */
	if (value > 100000000000)
		value /= G_USEC_PER_SEC;
	dt = g_date_time_new_from_unix_local(value);
	if (dt == NULL)
		return g_strdup("-");
	return g_date_time_format(dt, "%Y-%m-%d %H:%M:%S");
}

static gchar *
vb_obj_time(JsonObject *obj, const gchar *key)
{
	return vb_ctl_format_time(json_object_get_int_member_with_default(obj, key, 0));
}

static gint
vb_ctl_visit_show(VbCtl *ctl, const gchar *id)
{
	static const struct {
		const gchar *key;
		const gchar *label;
		gboolean money;
		gboolean time;
	} fields[] = {
	    /* TRANSLATORS: vestibulectl visits show: the labels of a visit's fields */
	    {"state", N_("state"), FALSE, FALSE},
	    {"settlement", N_("settlement"), FALSE, FALSE},
	    {"door", N_("door"), FALSE, FALSE},
	    {"card", N_("card"), FALSE, FALSE},
	    {"phone", N_("phone"), FALSE, FALSE},
	    {"language", N_("language"), FALSE, FALSE},
	    {"hold", N_("hold"), TRUE, FALSE},
	    {"total", N_("total"), TRUE, FALSE},
	    {"captured", N_("captured"), TRUE, FALSE},
	    {"psp-reference", N_("processor reference"), FALSE, FALSE},
	    {"created", N_("created"), FALSE, TRUE},
	    {"capture-deadline", N_("capture deadline"), FALSE, TRUE},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autofree gchar *escaped = g_uri_escape_string(id, NULL, FALSE);
	g_autofree gchar *path = g_strdup_printf("/v1/visits/%s", escaped);
	const gchar *currency;
	JsonArray *timeline;
	JsonObject *obj;

	node = vb_ctl_client_request(ctl->client, "GET", path, NULL, &error);
	if (node == NULL)
		return vb_ctl_exit_for_error(error);
	if (ctl->json) {
		vb_ctl_print_json(node);
		return VB_EXIT_OK;
	}
	obj = json_node_get_object(node);
	currency = vb_obj_str(obj, "currency");
	/* TRANSLATORS: vestibulectl visits show, first line; %s is the visit id */
	g_print(_("visit %s\n"), vb_obj_str(obj, "id"));
	for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
		JsonNode *member = json_object_get_member(obj, fields[i].key);
		g_autofree gchar *value = NULL;

		if (member == NULL || !JSON_NODE_HOLDS_VALUE(member))
			continue;
		if (fields[i].money)
			value = vb_money_format(json_node_get_int(member), currency, NULL);
		else if (fields[i].time)
			value = vb_ctl_format_time(json_node_get_int(member));
		else if (json_node_get_value_type(member) == G_TYPE_STRING)
			value = vb_ctl_sanitize(json_node_get_string(member), FALSE);
		else
			value = json_to_string(member, FALSE);
		if (value[0] == '\0')
			continue;
		g_print("  %-20s %s\n", _(fields[i].label), value);
	}
	timeline = json_object_has_member(obj, "timeline")
		       ? json_object_get_array_member(obj, "timeline")
		       : NULL;
	g_print(_("timeline:\n"));
	for (guint i = 0; timeline != NULL && i < json_array_get_length(timeline); i++) {
		JsonObject *entry = json_array_get_object_element(timeline, i);
		g_autofree gchar *when = vb_obj_time(entry, "time");
		g_autofree gchar *state = vb_ctl_sanitize(vb_obj_str(entry, "state"), FALSE);
		g_autofree gchar *detail = vb_ctl_sanitize(vb_obj_str(entry, "detail"), FALSE);

		if (detail[0] != '\0')
			g_print("  %s  %-22s %s\n", when, state, detail);
		else
			g_print("  %s  %s\n", when, state);
	}
	return VB_EXIT_OK;
}

static gint
vb_ctl_visits(VbCtl *ctl, gint argc, gchar **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	JsonArray *visits;

	if (argc == 2 && g_strcmp0(argv[0], "show") == 0)
		return vb_ctl_visit_show(ctl, argv[1]);
	if (argc > 0) {
		g_printerr(_("usage: vestibulectl visits [show ID]\n"));
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

/* an id of the control API: a positive integer */
static gboolean
vb_ctl_parse_id(const gchar *text, gint64 *id)
{
	guint64 value = 0;

	if (!g_ascii_string_to_unsigned(text, 10, 1, G_MAXINT64, &value, NULL))
		return FALSE;
	*id = (gint64)value;
	return TRUE;
}

static gint
vb_ctl_outbox_counts(VbCtl *ctl, gboolean alone)
{
	static const gchar *const states[] = {"pending", "sending", "done", "dead"};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	JsonObject *obj;

	node = vb_ctl_client_request(ctl->client, "GET", "/v1/outbox/counts", NULL, &error);
	if (node == NULL)
		return vb_ctl_exit_for_error(error);
	if (ctl->json && alone) {
		vb_ctl_print_json(node);
		return VB_EXIT_OK;
	}
	obj = json_node_get_object(node);
	/* TRANSLATORS: vestibulectl outbox, the counts line: pending 3, sending 0, … */
	g_print(_("outbox:"));
	for (guint i = 0; i < G_N_ELEMENTS(states); i++)
		g_print("%s %s %" G_GINT64_FORMAT, i > 0 ? "," : "", states[i],
			json_object_get_int_member_with_default(obj, states[i], 0));
	g_print("\n");
	return VB_EXIT_OK;
}

static gint
vb_ctl_outbox(VbCtl *ctl, gint argc, gchar **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autoptr(GString) path = g_string_new("/v1/outbox");
	const gchar *state = NULL;
	guint64 limit = 0;
	JsonArray *items;

	if (argc == 2 && g_strcmp0(argv[0], "retry") == 0) {
		g_autofree gchar *retry_path = NULL;
		gint64 id = 0;

		if (!vb_ctl_parse_id(argv[1], &id)) {
			g_printerr(_("vestibulectl: '%s' is not an outbox item id\n"), argv[1]);
			return VB_EXIT_USAGE;
		}
		retry_path = g_strdup_printf("/v1/outbox/%" G_GINT64_FORMAT "/retry", id);
		node = vb_ctl_client_request(ctl->client, "POST", retry_path, NULL, &error);
		if (node == NULL)
			return vb_ctl_exit_for_error(error);
		if (ctl->json)
			vb_ctl_print_json(node);
		else
			g_print(_("outbox item %" PRId64 " is queued again\n"), id);
		return VB_EXIT_OK;
	}
	if (argc == 1 && g_strcmp0(argv[0], "counts") == 0)
		return vb_ctl_outbox_counts(ctl, TRUE);
	for (gint i = 0; i < argc; i++) {
		if (g_strcmp0(argv[i], "--state") == 0 && i + 1 < argc) {
			state = argv[++i];
		} else if (g_strcmp0(argv[i], "--limit") == 0 && i + 1 < argc) {
			if (!g_ascii_string_to_unsigned(argv[++i], 10, 1, 1000, &limit, NULL)) {
				g_printerr(
				    _("vestibulectl: --limit takes a number from 1 to 1000\n"));
				return VB_EXIT_USAGE;
			}
		} else {
			g_printerr(
			    _("usage: vestibulectl outbox [--state pending|sending|done|dead] "
			      "[--limit N] | outbox counts | outbox retry ID\n"));
			return VB_EXIT_USAGE;
		}
	}
	if (state != NULL) {
		g_autofree gchar *escaped = g_uri_escape_string(state, NULL, FALSE);
		g_string_append_printf(path, "?state=%s", escaped);
	}
	if (limit > 0)
		g_string_append_printf(path, "%slimit=%" G_GUINT64_FORMAT,
				       state != NULL ? "&" : "?", limit);
	node = vb_ctl_client_request(ctl->client, "GET", path->str, NULL, &error);
	if (node == NULL)
		return vb_ctl_exit_for_error(error);
	if (ctl->json) {
		vb_ctl_print_json(node);
		return VB_EXIT_OK;
	}
	items = json_object_get_array_member(json_node_get_object(node), "items");
	if (items == NULL || json_array_get_length(items) == 0) {
		g_print(_("no outbox items\n"));
	} else {
		/* TRANSLATORS: column headers of vestibulectl outbox */
		g_print("%-8s %-8s %-8s %-5s %-19s %s\n", _("ID"), _("KIND"), _("STATE"),
			_("TRIES"), _("CREATED"), _("RECIPIENT"));
		for (guint i = 0; i < json_array_get_length(items); i++) {
			JsonObject *item = json_array_get_object_element(items, i);
			g_autofree gchar *created = vb_obj_time(item, "created");
			g_autofree gchar *recipient =
			    vb_ctl_sanitize(vb_obj_str(item, "recipient"), FALSE);
			g_autofree gchar *last_error =
			    vb_ctl_sanitize(vb_obj_str(item, "last-error"), FALSE);

			g_print("%-8" G_GINT64_FORMAT " %-8s %-8s %-5" G_GINT64_FORMAT
				" %-19s %s\n",
				json_object_get_int_member_with_default(item, "id", 0),
				vb_obj_str(item, "kind"), vb_obj_str(item, "state"),
				json_object_get_int_member_with_default(item, "attempts", 0),
				created, recipient);
			if (vb_obj_str(item, "visit")[0] != '\0') {
				g_autofree gchar *visit =
				    g_strdup_printf(_("visit %s"), vb_obj_str(item, "visit"));
				g_print("%9s%s\n", "", visit);
			}
			if (last_error[0] != '\0') {
				/* TRANSLATORS: vestibulectl outbox: why an item failed last */
				g_autofree gchar *text =
				    g_strdup_printf(_("last error: %s"), last_error);
				g_print("%9s%s\n", "", text);
			}
		}
	}
	return vb_ctl_outbox_counts(ctl, FALSE);
}

/* the SMS sent, with their provider and delivery state; numbers are masked */
static gint
vb_ctl_sms(VbCtl *ctl, gint argc, gchar **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autofree gchar *path = NULL;
	guint64 limit = 50;
	JsonArray *messages;

	for (gint i = 0; i < argc; i++) {
		if (g_strcmp0(argv[i], "--limit") == 0 && i + 1 < argc) {
			if (!g_ascii_string_to_unsigned(argv[++i], 10, 1, 1000, &limit, NULL)) {
				g_printerr(
				    _("vestibulectl: --limit takes a number from 1 to 1000\n"));
				return VB_EXIT_USAGE;
			}
		} else {
			g_printerr(_("usage: vestibulectl sms [--limit N]\n"));
			return VB_EXIT_USAGE;
		}
	}
	path = g_strdup_printf("/v1/sms?limit=%" G_GUINT64_FORMAT, limit);
	node = vb_ctl_client_request(ctl->client, "GET", path, NULL, &error);
	if (node == NULL)
		return vb_ctl_exit_for_error(error);
	if (ctl->json) {
		vb_ctl_print_json(node);
		return VB_EXIT_OK;
	}
	messages = json_object_get_array_member(json_node_get_object(node), "messages");
	if (messages == NULL || json_array_get_length(messages) == 0) {
		g_print(_("no SMS sent\n"));
		return VB_EXIT_OK;
	}
	/* TRANSLATORS: column headers of vestibulectl sms */
	g_print("%-8s %-12s %-12s %-9s %-5s %-12s %s\n", _("OUTBOX"), _("STATE"), _("PROVIDER"),
		_("TEMPLATE"), _("SEGS"), _("ENCODING"), _("TO"));
	for (guint i = 0; i < json_array_get_length(messages); i++) {
		JsonObject *m = json_array_get_object_element(messages, i);
		g_autofree gchar *to = vb_ctl_sanitize(vb_obj_str(m, "to"), FALSE);
		g_autofree gchar *provider = vb_ctl_sanitize(vb_obj_str(m, "provider"), FALSE);
		g_autofree gchar *message_id = vb_ctl_sanitize(vb_obj_str(m, "message-id"), FALSE);
		g_autofree gchar *last_error = vb_ctl_sanitize(vb_obj_str(m, "last-error"), FALSE);

		g_print("%-8" G_GINT64_FORMAT " %-12s %-12s %-9s %-5" G_GINT64_FORMAT " %-12s %s\n",
			json_object_get_int_member_with_default(m, "outbox-id", 0),
			vb_obj_str(m, "state"), provider, vb_obj_str(m, "template"),
			json_object_get_int_member_with_default(m, "segments", 0),
			vb_obj_str(m, "encoding"), to);
		if (message_id[0] != '\0') {
			/* TRANSLATORS: vestibulectl sms: the provider's id of a message */
			g_autofree gchar *text = g_strdup_printf(_("message id %s"), message_id);
			g_print("%9s%s\n", "", text);
		}
		if (json_object_get_boolean_member_with_default(m, "shortened", FALSE))
			/* TRANSLATORS: vestibulectl sms: cut to fit [sms] max-segments */
			g_print("%9s%s\n", "", _("shortened to fit"));
		if (last_error[0] != '\0') {
			g_autofree gchar *text = g_strdup_printf(_("last error: %s"), last_error);
			g_print("%9s%s\n", "", text);
		}
	}
	return VB_EXIT_OK;
}

static gint
vb_ctl_feedback(VbCtl *ctl, gint argc, gchar **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	gboolean all = FALSE;
	JsonArray *rows;

	if (argc >= 2 && argc <= 3 && g_strcmp0(argv[0], "mark") == 0) {
		g_autofree gchar *path = NULL;
		gboolean handled = TRUE;
		gint64 id = 0;

		if (argc == 3 && g_strcmp0(argv[2], "--unhandled") == 0) {
			handled = FALSE;
		} else if (argc == 3) {
			g_printerr(_("usage: vestibulectl feedback mark ID [--unhandled]\n"));
			return VB_EXIT_USAGE;
		}
		if (!vb_ctl_parse_id(argv[1], &id)) {
			g_printerr(_("vestibulectl: '%s' is not a reply id\n"), argv[1]);
			return VB_EXIT_USAGE;
		}
		path = g_strdup_printf("/v1/feedback/%" G_GINT64_FORMAT "/%s", id,
				       handled ? "handled" : "unhandled");
		node = vb_ctl_client_request(ctl->client, "POST", path, NULL, &error);
		if (node == NULL)
			return vb_ctl_exit_for_error(error);
		if (ctl->json)
			vb_ctl_print_json(node);
		else if (handled)
			g_print(_("reply %" PRId64 " is marked handled\n"), id);
		else
			g_print(_("reply %" PRId64 " is marked unhandled\n"), id);
		return VB_EXIT_OK;
	}
	for (gint i = 0; i < argc; i++) {
		if (g_strcmp0(argv[i], "--all") == 0) {
			all = TRUE;
		} else {
			g_printerr(_("usage: vestibulectl feedback [--all] | feedback mark ID "
				     "[--unhandled]\n"));
			return VB_EXIT_USAGE;
		}
	}
	node = vb_ctl_client_request(ctl->client, "GET",
				     all ? "/v1/feedback?all=1" : "/v1/feedback", NULL, &error);
	if (node == NULL)
		return vb_ctl_exit_for_error(error);
	if (ctl->json) {
		vb_ctl_print_json(node);
		return VB_EXIT_OK;
	}
	rows = json_object_get_array_member(json_node_get_object(node), "feedback");
	if (rows == NULL || json_array_get_length(rows) == 0) {
		g_print(all ? _("no replies from shoppers\n") : _("no unhandled replies\n"));
		return VB_EXIT_OK;
	}
	for (guint i = 0; i < json_array_get_length(rows); i++) {
		JsonObject *row = json_array_get_object_element(rows, i);
		g_autofree gchar *received = vb_obj_time(row, "received");
		g_autofree gchar *body = vb_ctl_sanitize(vb_obj_str(row, "body"), TRUE);
		g_auto(GStrv) body_lines = g_strsplit(body, "\n", -1);
		const gchar *visit = vb_obj_str(row, "visit");

		g_print("#%" G_GINT64_FORMAT "  %s  %s  ",
			json_object_get_int_member_with_default(row, "id", 0), received,
			vb_obj_str(row, "phone"));
		/* TRANSLATORS: vestibulectl feedback: the visit a reply is about */
		g_print(visit[0] != '\0' ? _("visit %s") : _("no visit"), visit);
		if (json_object_get_boolean_member_with_default(row, "handled", FALSE))
			g_print(_("  [handled]"));
		g_print("\n");
		for (guint j = 0; body_lines[j] != NULL; j++)
			g_print("    %s\n", body_lines[j]);
	}
	return VB_EXIT_OK;
}

static gint
vb_ctl_customer(VbCtl *ctl, gint argc, gchar **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autoptr(JsonBuilder) builder = NULL;
	g_autoptr(JsonNode) body = NULL;
	JsonObject *erased;
	const gchar *key = NULL;

	if (argc == 3 && g_strcmp0(argv[0], "erase") == 0) {
		if (g_strcmp0(argv[1], "--phone") == 0)
			key = "phone";
		else if (g_strcmp0(argv[1], "--card") == 0)
			key = "card-token";
	}
	if (key == NULL || argv[2][0] == '\0') {
		g_printerr(_("usage: vestibulectl customer erase --phone NUMBER | --card TOKEN\n"));
		return VB_EXIT_USAGE;
	}
	builder = json_builder_new();
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, key);
	json_builder_add_string_value(builder, argv[2]);
	json_builder_end_object(builder);
	body = json_builder_get_root(builder);
	node = vb_ctl_client_request(ctl->client, "POST", "/v1/customers/erase", body, &error);
	if (node == NULL)
		return vb_ctl_exit_for_error(error);
	if (ctl->json) {
		vb_ctl_print_json(node);
		return VB_EXIT_OK;
	}
	erased = json_object_get_object_member(json_node_get_object(node), "erased");
	/* TRANSLATORS: vestibulectl customer erase; the visits stay for the financial
	 * records the law requires, without the customer */
	g_print(_("customer data erased: %" PRId64 " card links and %" PRId64
		  " replies removed, %" PRId64 " visits anonymized\n"),
		erased != NULL ? json_object_get_int_member_with_default(erased, "cards", 0) : 0,
		erased != NULL ? json_object_get_int_member_with_default(erased, "feedback", 0) : 0,
		erased != NULL ? json_object_get_int_member_with_default(erased, "visits", 0) : 0);
	return VB_EXIT_OK;
}

/* the vestibuled that checks configurations: $VESTIBULED (the build tree's, in
 * the tests), else the installed one */
static gchar *
vb_ctl_daemon_path(void)
{
	const gchar *env = g_getenv("VESTIBULED");

	if (env != NULL && env[0] != '\0')
		return g_strdup(env);
	return g_build_filename(VB_SBINDIR, "vestibuled", NULL);
}

static gint
vb_ctl_config_check(VbCtl *ctl, gint argc, gchar **argv)
{
	g_autofree gchar *daemon = vb_ctl_daemon_path();
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
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
		else {
			/* an unknown option or a second file: the usage below */
			file = NULL;
			break;
		}
	}
	if (file == NULL) {
		g_printerr(_("usage: vestibulectl config check FILE [--secrets FILE] "
			     "[--plugin-dir DIR]\n"));
		return VB_EXIT_USAGE;
	}

	/* the daemon checks its own configuration, as nginx -t does, so that this
	 * program needs none of its code; what it prints goes straight through */
	g_ptr_array_add(args, daemon);
	g_ptr_array_add(args, "--check-config");
	g_ptr_array_add(args, (gpointer)file);
	if (secrets != NULL) {
		g_ptr_array_add(args, "--secrets");
		g_ptr_array_add(args, (gpointer)secrets);
	}
	for (guint i = 0; i < plugin_dirs->len; i++) {
		g_ptr_array_add(args, "--plugin-dir");
		g_ptr_array_add(args, g_ptr_array_index(plugin_dirs, i));
	}
	g_ptr_array_add(args, NULL);
	proc =
	    g_subprocess_newv((const gchar *const *)args->pdata, G_SUBPROCESS_FLAGS_NONE, &error);
	if (proc == NULL || !g_subprocess_wait(proc, NULL, &error)) {
		/* TRANSLATORS: %s are a path and why it could not be run; VESTIBULED is
		 * an environment variable */
		g_printerr(_("vestibulectl: config check runs %s, which could not be run: %s\n"
			     "Install vestibuled, or set VESTIBULED to its path.\n"),
			   daemon, error->message);
		return VB_EXIT_FAILED;
	}
	if (g_subprocess_get_if_exited(proc))
		return g_subprocess_get_exit_status(proc);
	/* TRANSLATORS: %s is a path, %d a signal number */
	g_printerr(_("vestibulectl: %s was killed by signal %d while checking the "
		     "configuration\n"),
		   daemon, g_subprocess_get_term_sig(proc));
	return VB_EXIT_FAILED;
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
	      "  visits show ID               a visit and its timeline, masked\n"
	      "  outbox [--state S] [--limit N] | outbox counts | outbox retry ID\n"
	      "                               outgoing messages and payment operations\n"
	      "  sms [--limit N]              SMS sent: provider, segments, delivery state\n"
	      "  feedback [--all] | feedback mark ID [--unhandled]\n"
	      "                               replies from shoppers\n"
	      "  customer erase --phone NUMBER | --card TOKEN\n"
	      "                               erase a customer's data on request\n"
	      "  config check FILE            check a configuration without starting anything\n"
	      "  reload                       reload the configuration, as SIGHUP does\n"
	      "  token add NAME --scope SCOPE | token list | token remove NAME\n"
	      "                               bearer tokens of the public HTTP API\n"
	      "  sim ...                      drive the simulated store (vestibulectl sim help)\n"
	      "\n"
	      "Exit status: 0 done, 1 refused or failed, 2 usage error, 3 daemon unreachable.\n"));
	/* TRANSLATORS: %s is the default path of the control socket */
	g_printerr(_("The socket is $VESTIBULE_SOCKET, else %s.\n"), VB_RUNDIR "/control.sock");
	/* TRANSLATORS: %s is the path of vestibuled; VESTIBULED is an environment
	 * variable, and the options are not translated */
	g_printerr(_("config check FILE [--secrets FILE] [--plugin-dir DIR] works as before, with "
		     "no daemon running: it runs vestibuled --check-config, $VESTIBULED else "
		     "%s.\n"),
		   VB_SBINDIR "/vestibuled");
}

int
main(int argc, char **argv)
{
	VbCtl ctl = {0};
	const gchar *command;
	gint status;
	gint i = 1;

	vb_i18n_setup_process(VB_I18N_PROCESS_TOOL);

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
	else if (g_strcmp0(command, "outbox") == 0)
		status = vb_ctl_outbox(&ctl, argc - i, argv + i);
	else if (g_strcmp0(command, "sms") == 0)
		status = vb_ctl_sms(&ctl, argc - i, argv + i);
	else if (g_strcmp0(command, "feedback") == 0)
		status = vb_ctl_feedback(&ctl, argc - i, argv + i);
	else if (g_strcmp0(command, "customer") == 0)
		status = vb_ctl_customer(&ctl, argc - i, argv + i);
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
