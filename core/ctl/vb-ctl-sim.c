/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-ctl-sim.h"
#include "vb-error.h"

/*
 * `vestibulectl sim`: plays the shopper and the outside world against the sim
 * plugins through their control endpoints, /v1/sim/INSTANCE/VERB. Which
 * instance plays a door's reader, lock, keypad or display, and which plays the
 * SMS provider and the processor, comes from GET /v1/doors.
 */

enum {
	VB_CTL_SIM_EXIT_OK = 0,
	VB_CTL_SIM_EXIT_FAILED = 1,
	VB_CTL_SIM_EXIT_USAGE = 2,
	VB_CTL_SIM_EXIT_UNREACHABLE = 3,
};

typedef struct {
	VbCtlClient *client;
	gboolean json;
} VbCtlSim;

typedef struct {
	const gchar *name; /* without the leading dashes */
	const gchar *value;
} VbCtlSimOption;

const gchar *
vb_ctl_sim_get_usage(void)
{
	return _("usage: vestibulectl [--json] sim COMMAND\n"
		 "\n"
		 "commands, each for the first door unless --door names one:\n"
		 "  tap [--door NAME] [--expiry YYMM] [--language xx] [--hold-ms MS] PAN\n"
		 "                                a payment card is tapped on the reader\n"
		 "  uid [--door NAME] HEX         a tag that is not a payment card is tapped\n"
		 "  keys [--door NAME] KEY...     keys are pressed: digits, *, #, enter, erase,\n"
		 "                                cancel; 0612 stands for 0 6 1 2\n"
		 "  door [--door NAME] open|close the door is pushed open or closed\n"
		 "  exit [--door NAME]            the request-to-exit button is pressed\n"
		 "  reader [--door NAME] ready|absent|error\n"
		 "                                the reader is plugged, unplugged or fails\n"
		 "  screen [--door NAME]          what the display shows\n"
		 "  sms --from NUMBER --body TEXT a shopper sends an SMS\n"
		 "  sms-outage on|off             the SMS provider goes down or comes back\n"
		 "  payment outage on|off         the payment processor goes down or comes back\n"
		 "  payment decline N             the next N authorizations are declined\n"
		 "  holds                         the holds the processor keeps\n"
		 "\n"
		 "Exit status: 0 done, 1 refused, 2 usage error, 3 daemon unreachable.\n");
}

static gint
vb_ctl_sim_usage_error(const gchar *message)
{
	if (message != NULL)
		g_printerr("vestibulectl sim: %s\n\n", message);
	g_printerr("%s", vb_ctl_sim_get_usage());
	return VB_CTL_SIM_EXIT_USAGE;
}

static gint
vb_ctl_sim_exit_for_error(const GError *error)
{
	g_printerr("vestibulectl: %s\n", error->message);
	if (g_error_matches(error, VB_ERROR, VB_ERROR_UNREACHABLE))
		return VB_CTL_SIM_EXIT_UNREACHABLE;
	return VB_CTL_SIM_EXIT_FAILED;
}

/* splits argv[1..] into the options of @options and positional @args; argv[0]
 * is the subcommand. Returns FALSE with a usage message */
static gboolean
vb_ctl_sim_parse(gint argc,
		 gchar **argv,
		 VbCtlSimOption *options,
		 guint n_options,
		 GPtrArray *args,
		 gchar **message)
{
	gboolean options_done = FALSE;

	for (gint i = 1; i < argc; i++) {
		const gchar *arg = argv[i];
		g_autofree gchar *name = NULL;
		const gchar *value = NULL;
		const gchar *eq;
		VbCtlSimOption *option = NULL;

		if (options_done || !g_str_has_prefix(arg, "--")) {
			g_ptr_array_add(args, (gpointer)arg);
			continue;
		}
		if (arg[2] == '\0') {
			options_done = TRUE;
			continue;
		}
		eq = strchr(arg, '=');
		name = eq != NULL ? g_strndup(arg + 2, (gsize)(eq - arg - 2)) : g_strdup(arg + 2);
		for (guint j = 0; j < n_options; j++) {
			if (g_strcmp0(options[j].name, name) == 0)
				option = &options[j];
		}
		if (option == NULL) {
			*message =
			    g_strdup_printf(_("%s does not take the option --%s"), argv[0], name);
			return FALSE;
		}
		if (eq != NULL) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			*message = g_strdup_printf(_("the option --%s needs a value"), name);
			return FALSE;
		}
		option->value = value;
	}
	return TRUE;
}

static gboolean
vb_ctl_sim_parse_on_off(const gchar *str, gboolean *value)
{
	if (g_strcmp0(str, "on") == 0) {
		*value = TRUE;
		return TRUE;
	}
	if (g_strcmp0(str, "off") == 0) {
		*value = FALSE;
		return TRUE;
	}
	return FALSE;
}

static void
vb_ctl_sim_print_json(JsonNode *node)
{
	g_autofree gchar *text = json_to_string(node, TRUE);
	g_print("%s\n", text);
}

static const gchar *
vb_ctl_sim_get_string(JsonObject *obj, const gchar *member)
{
	JsonNode *node = obj != NULL ? json_object_get_member(obj, member) : NULL;

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

/* for printing: a missing member shows as a dash */
static const gchar *
vb_ctl_sim_get_string_or_dash(JsonObject *obj, const gchar *member)
{
	const gchar *value = vb_ctl_sim_get_string(obj, member);
	return value != NULL ? value : "-";
}

/* GET /v1/doors; NULL with @status set when it failed */
static JsonNode *
vb_ctl_sim_get_doors(VbCtlSim *self, gint *status)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;

	node = vb_ctl_client_request(self->client, "GET", "/v1/doors", NULL, &error);
	if (node == NULL) {
		*status = vb_ctl_sim_exit_for_error(error);
		return NULL;
	}
	if (!JSON_NODE_HOLDS_OBJECT(node)) {
		g_printerr("vestibulectl: %s\n", _("the daemon's list of doors is not an object"));
		*status = VB_CTL_SIM_EXIT_FAILED;
		return NULL;
	}
	return g_steal_pointer(&node);
}

/* the instance that plays @role at @door (the first door when NULL); @door_name
 * gets the door's name */
static gchar *
vb_ctl_sim_door_instance(VbCtlSim *self,
			 const gchar *door,
			 const gchar *role,
			 gchar **door_name,
			 gint *status)
{
	g_autoptr(JsonNode) node = vb_ctl_sim_get_doors(self, status);
	g_autoptr(GString) names = g_string_new(NULL);
	JsonNode *doors_node;
	JsonArray *doors = NULL;
	JsonObject *found = NULL;
	const gchar *instance;

	if (node == NULL)
		return NULL;
	doors_node = json_object_get_member(json_node_get_object(node), "doors");
	if (doors_node != NULL && JSON_NODE_HOLDS_ARRAY(doors_node))
		doors = json_node_get_array(doors_node);
	for (guint i = 0; doors != NULL && i < json_array_get_length(doors); i++) {
		JsonNode *element = json_array_get_element(doors, i);
		JsonObject *obj;
		const gchar *name;

		if (!JSON_NODE_HOLDS_OBJECT(element))
			continue;
		obj = json_node_get_object(element);
		name = vb_ctl_sim_get_string(obj, "name");
		if (name == NULL)
			continue;
		if (found == NULL && (door == NULL || g_strcmp0(name, door) == 0))
			found = obj;
		if (names->len > 0)
			g_string_append(names, ", ");
		g_string_append(names, name);
	}
	if (found == NULL && names->len == 0) {
		g_printerr("vestibulectl: %s\n",
			   _("the daemon has no door: add a [door:NAME] section to its "
			     "configuration"));
		*status = VB_CTL_SIM_EXIT_FAILED;
		return NULL;
	}
	if (found == NULL) {
		g_autofree gchar *message = g_strdup_printf(
		    _("there is no door '%s'; the doors are: %s"), door, names->str);
		*status = vb_ctl_sim_usage_error(message);
		return NULL;
	}
	instance = vb_ctl_sim_get_string(found, role);
	if (instance == NULL || instance[0] == '\0') {
		/* TRANSLATORS: the first %s is a door name, the second a role such as
		 * keypad or display, as written in the configuration */
		const gchar *name = vb_ctl_sim_get_string_or_dash(found, "name");
		g_printerr(_("vestibulectl: door %s has no %s: set %s= in its [door:%s] section\n"),
			   name, role, role, name);
		*status = VB_CTL_SIM_EXIT_FAILED;
		return NULL;
	}
	if (door_name != NULL)
		*door_name = g_strdup(vb_ctl_sim_get_string(found, "name"));
	return g_strdup(instance);
}

/* the instance that fills a store-wide role of [services] */
static gchar *
vb_ctl_sim_service_instance(VbCtlSim *self, const gchar *role, gint *status)
{
	g_autoptr(JsonNode) node = vb_ctl_sim_get_doors(self, status);
	JsonNode *services;
	const gchar *instance = NULL;

	if (node == NULL)
		return NULL;
	services = json_object_get_member(json_node_get_object(node), "services");
	if (services != NULL && JSON_NODE_HOLDS_OBJECT(services))
		instance = vb_ctl_sim_get_string(json_node_get_object(services), role);
	if (instance == NULL || instance[0] == '\0') {
		g_printerr(_("vestibulectl: no instance plays the %s role: set %s= in the "
			     "[services] section\n"),
			   role, role);
		*status = VB_CTL_SIM_EXIT_FAILED;
		return NULL;
	}
	return g_strdup(instance);
}

/* sends METHOD /v1/sim/INSTANCE/VERB; prints the answer in JSON mode */
static JsonNode *
vb_ctl_sim_request(VbCtlSim *self,
		   const gchar *method,
		   const gchar *instance,
		   const gchar *verb,
		   JsonBuilder *builder,
		   gint *status)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) body = builder != NULL ? json_builder_get_root(builder) : NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autofree gchar *path = g_strdup_printf("/v1/sim/%s/%s", instance, verb);

	node = vb_ctl_client_request(self->client, method, path, body, &error);
	if (node == NULL) {
		/* the route exists only while a sim plugin runs that instance */
		if (g_error_matches(error, VB_ERROR, VB_ERROR_NOT_FOUND)) {
			g_printerr(
			    _("vestibulectl: %s does not take simulated input: it is not a "
			      "sim plugin, or it is not running (see vestibulectl plugins)\n"),
			    instance);
			*status = VB_CTL_SIM_EXIT_FAILED;
			return NULL;
		}
		*status = vb_ctl_sim_exit_for_error(error);
		return NULL;
	}
	if (self->json)
		vb_ctl_sim_print_json(node);
	*status = VB_CTL_SIM_EXIT_OK;
	return g_steal_pointer(&node);
}

static gboolean
vb_ctl_sim_parse_int(const gchar *str, gint64 min, gint64 max, gint64 *value)
{
	return g_ascii_string_to_signed(str, 10, min, max, value, NULL);
}

static gint
vb_ctl_sim_tap(VbCtlSim *self, gint argc, gchar **argv)
{
	VbCtlSimOption options[] = {{"door"}, {"expiry"}, {"language"}, {"hold-ms"}};
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *reader = NULL;
	gint64 hold_ms = 0;
	gint status = VB_CTL_SIM_EXIT_OK;

	if (!vb_ctl_sim_parse(argc, argv, options, G_N_ELEMENTS(options), args, &message))
		return vb_ctl_sim_usage_error(message);
	if (args->len != 1)
		return vb_ctl_sim_usage_error(_("tap needs one PAN"));
	if (options[3].value != NULL &&
	    !vb_ctl_sim_parse_int(options[3].value, 0, 600000, &hold_ms))
		return vb_ctl_sim_usage_error(_("--hold-ms needs a number of ms from 0 to 600000"));
	reader = vb_ctl_sim_door_instance(self, options[0].value, "reader", NULL, &status);
	if (reader == NULL)
		return status;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "pan");
	json_builder_add_string_value(builder, g_ptr_array_index(args, 0));
	if (options[1].value != NULL) {
		json_builder_set_member_name(builder, "expiry");
		json_builder_add_string_value(builder, options[1].value);
	}
	if (options[2].value != NULL) {
		json_builder_set_member_name(builder, "language");
		json_builder_add_string_value(builder, options[2].value);
	}
	if (options[3].value != NULL) {
		json_builder_set_member_name(builder, "hold-ms");
		json_builder_add_int_value(builder, hold_ms);
	}
	json_builder_end_object(builder);
	reply = vb_ctl_sim_request(self, "POST", reader, "tap", builder, &status);
	if (reply == NULL || self->json)
		return status;
	g_print(_("card tapped on %s\n"), reader);
	return status;
}

static gint
vb_ctl_sim_uid(VbCtlSim *self, gint argc, gchar **argv)
{
	VbCtlSimOption options[] = {{"door"}};
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *reader = NULL;
	gint status = VB_CTL_SIM_EXIT_OK;

	if (!vb_ctl_sim_parse(argc, argv, options, G_N_ELEMENTS(options), args, &message))
		return vb_ctl_sim_usage_error(message);
	if (args->len != 1)
		return vb_ctl_sim_usage_error(_("uid needs one UID written in hexadecimal"));
	reader = vb_ctl_sim_door_instance(self, options[0].value, "reader", NULL, &status);
	if (reader == NULL)
		return status;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "uid");
	json_builder_add_string_value(builder, g_ptr_array_index(args, 0));
	json_builder_end_object(builder);
	reply = vb_ctl_sim_request(self, "POST", reader, "uid", builder, &status);
	if (reply == NULL || self->json)
		return status;
	g_print(_("tag tapped on %s\n"), reader);
	return status;
}

/* "0612" is four keys; a word such as "enter" is one */
static gboolean
vb_ctl_sim_token_is_symbols(const gchar *token)
{
	for (const gchar *p = token; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p) && *p != '*' && *p != '#')
			return FALSE;
	}
	return TRUE;
}

static gint
vb_ctl_sim_keys(VbCtlSim *self, gint argc, gchar **argv)
{
	VbCtlSimOption options[] = {{"door"}};
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *keypad = NULL;
	gint status = VB_CTL_SIM_EXIT_OK;
	guint n_keys = 0;

	if (!vb_ctl_sim_parse(argc, argv, options, G_N_ELEMENTS(options), args, &message))
		return vb_ctl_sim_usage_error(message);
	if (args->len == 0)
		return vb_ctl_sim_usage_error(_("keys needs at least one key"));
	keypad = vb_ctl_sim_door_instance(self, options[0].value, "keypad", NULL, &status);
	if (keypad == NULL)
		return status;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "keys");
	json_builder_begin_array(builder);
	for (guint i = 0; i < args->len; i++) {
		const gchar *token = g_ptr_array_index(args, i);
		if (token[0] != '\0' && vb_ctl_sim_token_is_symbols(token)) {
			for (const gchar *p = token; *p != '\0'; p++) {
				gchar key[2] = {*p, '\0'};
				json_builder_add_string_value(builder, key);
				n_keys++;
			}
		} else {
			/* the daemon names a key it does not know */
			g_autofree gchar *word = g_ascii_strdown(token, -1);
			json_builder_add_string_value(builder, word);
			n_keys++;
		}
	}
	json_builder_end_array(builder);
	json_builder_end_object(builder);
	reply = vb_ctl_sim_request(self, "POST", keypad, "keys", builder, &status);
	if (reply == NULL || self->json)
		return status;
	g_print(ngettext("%u key pressed on %s\n", "%u keys pressed on %s\n", n_keys), n_keys,
		keypad);
	return status;
}

static gint
vb_ctl_sim_door(VbCtlSim *self, gint argc, gchar **argv)
{
	VbCtlSimOption options[] = {{"door"}};
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *lock = NULL;
	g_autofree gchar *door = NULL;
	const gchar *action;
	gint status = VB_CTL_SIM_EXIT_OK;

	if (!vb_ctl_sim_parse(argc, argv, options, G_N_ELEMENTS(options), args, &message))
		return vb_ctl_sim_usage_error(message);
	action = args->len == 1 ? g_ptr_array_index(args, 0) : NULL;
	if (g_strcmp0(action, "open") != 0 && g_strcmp0(action, "close") != 0)
		return vb_ctl_sim_usage_error(_("door needs open or close"));
	lock = vb_ctl_sim_door_instance(self, options[0].value, "lock", &door, &status);
	if (lock == NULL)
		return status;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "action");
	json_builder_add_string_value(builder, action);
	json_builder_end_object(builder);
	reply = vb_ctl_sim_request(self, "POST", lock, "door", builder, &status);
	if (reply == NULL || self->json)
		return status;
	if (g_strcmp0(action, "open") == 0)
		g_print(_("door %s opened\n"), door);
	else
		g_print(_("door %s closed\n"), door);
	return status;
}

static gint
vb_ctl_sim_exit(VbCtlSim *self, gint argc, gchar **argv)
{
	VbCtlSimOption options[] = {{"door"}};
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *lock = NULL;
	g_autofree gchar *door = NULL;
	gint status = VB_CTL_SIM_EXIT_OK;

	if (!vb_ctl_sim_parse(argc, argv, options, G_N_ELEMENTS(options), args, &message))
		return vb_ctl_sim_usage_error(message);
	if (args->len != 0)
		return vb_ctl_sim_usage_error(_("exit takes no argument"));
	lock = vb_ctl_sim_door_instance(self, options[0].value, "lock", &door, &status);
	if (lock == NULL)
		return status;
	reply = vb_ctl_sim_request(self, "POST", lock, "exit", NULL, &status);
	if (reply == NULL || self->json)
		return status;
	g_print(_("exit requested at door %s\n"), door);
	return status;
}

static gint
vb_ctl_sim_reader(VbCtlSim *self, gint argc, gchar **argv)
{
	VbCtlSimOption options[] = {{"door"}};
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *reader = NULL;
	const gchar *state;
	gint status = VB_CTL_SIM_EXIT_OK;

	if (!vb_ctl_sim_parse(argc, argv, options, G_N_ELEMENTS(options), args, &message))
		return vb_ctl_sim_usage_error(message);
	state = args->len == 1 ? g_ptr_array_index(args, 0) : NULL;
	if (g_strcmp0(state, "ready") != 0 && g_strcmp0(state, "absent") != 0 &&
	    g_strcmp0(state, "error") != 0)
		return vb_ctl_sim_usage_error(_("reader needs ready, absent or error"));
	reader = vb_ctl_sim_door_instance(self, options[0].value, "reader", NULL, &status);
	if (reader == NULL)
		return status;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "state");
	json_builder_add_string_value(builder, state);
	json_builder_end_object(builder);
	reply = vb_ctl_sim_request(self, "POST", reader, "state", builder, &status);
	if (reply == NULL || self->json)
		return status;
	/* TRANSLATORS: the second %s is ready, absent or error, not translated */
	g_print(_("reader %s is %s\n"), reader, state);
	return status;
}

static gint
vb_ctl_sim_screen(VbCtlSim *self, gint argc, gchar **argv)
{
	VbCtlSimOption options[] = {{"door"}};
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *display = NULL;
	g_auto(GStrv) lines = NULL;
	JsonObject *obj;
	const gchar *prompt_id;
	const gchar *text;
	gint status = VB_CTL_SIM_EXIT_OK;

	if (!vb_ctl_sim_parse(argc, argv, options, G_N_ELEMENTS(options), args, &message))
		return vb_ctl_sim_usage_error(message);
	if (args->len != 0)
		return vb_ctl_sim_usage_error(_("screen takes no argument"));
	display = vb_ctl_sim_door_instance(self, options[0].value, "display", NULL, &status);
	if (display == NULL)
		return status;
	reply = vb_ctl_sim_request(self, "GET", display, "screen", NULL, &status);
	if (reply == NULL || self->json)
		return status;

	obj = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
	prompt_id = vb_ctl_sim_get_string(obj, "prompt-id");
	text = vb_ctl_sim_get_string(obj, "text");
	if (prompt_id == NULL) {
		g_print(_("%s shows nothing\n"), display);
		return status;
	}
	g_print("┌ %s ─ %s\n", display, prompt_id);
	lines = g_strsplit(text != NULL ? text : "", "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++)
		g_print("│ %s\n", lines[i]);
	g_print("└\n");
	return status;
}

static gint
vb_ctl_sim_sms(VbCtlSim *self, gint argc, gchar **argv)
{
	VbCtlSimOption options[] = {{"from"}, {"body"}};
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *sms = NULL;
	const gchar *message_id;
	gint status = VB_CTL_SIM_EXIT_OK;

	if (!vb_ctl_sim_parse(argc, argv, options, G_N_ELEMENTS(options), args, &message))
		return vb_ctl_sim_usage_error(message);
	if (options[0].value == NULL || options[1].value == NULL || args->len != 0)
		return vb_ctl_sim_usage_error(_("sms needs --from NUMBER and --body TEXT"));
	sms = vb_ctl_sim_service_instance(self, "sms", &status);
	if (sms == NULL)
		return status;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "from");
	json_builder_add_string_value(builder, options[0].value);
	json_builder_set_member_name(builder, "body");
	json_builder_add_string_value(builder, options[1].value);
	json_builder_end_object(builder);
	reply = vb_ctl_sim_request(self, "POST", sms, "inbound", builder, &status);
	if (reply == NULL || self->json)
		return status;
	message_id = vb_ctl_sim_get_string(
	    JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL, "message-id");
	g_print(_("SMS %s received by %s\n"), message_id != NULL ? message_id : "-", sms);
	return status;
}

static gint
vb_ctl_sim_outage(VbCtlSim *self, const gchar *role, const gchar *value)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *instance = NULL;
	gboolean down = FALSE;
	gint status = VB_CTL_SIM_EXIT_OK;

	if (!vb_ctl_sim_parse_on_off(value, &down))
		return vb_ctl_sim_usage_error(_("an outage is on or off"));
	instance = vb_ctl_sim_service_instance(self, role, &status);
	if (instance == NULL)
		return status;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "down");
	json_builder_add_boolean_value(builder, down);
	json_builder_end_object(builder);
	reply = vb_ctl_sim_request(self, "POST", instance, "outage", builder, &status);
	if (reply == NULL || self->json)
		return status;
	if (down)
		g_print(_("%s is down\n"), instance);
	else
		g_print(_("%s is back up\n"), instance);
	return status;
}

static gint
vb_ctl_sim_decline(VbCtlSim *self, const gchar *value)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *payment = NULL;
	gint64 next = 0;
	gint status = VB_CTL_SIM_EXIT_OK;

	if (value == NULL || !vb_ctl_sim_parse_int(value, 0, 10000, &next))
		return vb_ctl_sim_usage_error(_("payment decline needs a number from 0 to 10000"));
	payment = vb_ctl_sim_service_instance(self, "payment", &status);
	if (payment == NULL)
		return status;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "next");
	json_builder_add_int_value(builder, next);
	json_builder_end_object(builder);
	reply = vb_ctl_sim_request(self, "POST", payment, "decline", builder, &status);
	if (reply == NULL || self->json)
		return status;
	if (next == 0)
		g_print(_("authorizations at %s are no longer declined\n"), payment);
	else
		g_print(ngettext("the next %u authorization at %s will be declined\n",
				 "the next %u authorizations at %s will be declined\n",
				 (gulong)next),
			(guint)next, payment);
	return status;
}

static gint
vb_ctl_sim_payment(VbCtlSim *self, gint argc, gchar **argv)
{
	const gchar *what = argc > 1 ? argv[1] : NULL;

	if (argc != 3)
		return vb_ctl_sim_usage_error(_("payment needs outage on|off or decline N"));
	if (g_strcmp0(what, "outage") == 0)
		return vb_ctl_sim_outage(self, "payment", argv[2]);
	if (g_strcmp0(what, "decline") == 0)
		return vb_ctl_sim_decline(self, argv[2]);
	return vb_ctl_sim_usage_error(_("payment needs outage on|off or decline N"));
}

static gint
vb_ctl_sim_holds(VbCtlSim *self, gint argc, gchar **argv)
{
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *payment = NULL;
	JsonNode *holds_node = NULL;
	JsonArray *holds = NULL;
	gint status = VB_CTL_SIM_EXIT_OK;

	if (argc != 1)
		return vb_ctl_sim_usage_error(_("holds takes no argument"));
	payment = vb_ctl_sim_service_instance(self, "payment", &status);
	if (payment == NULL)
		return status;
	reply = vb_ctl_sim_request(self, "GET", payment, "holds", NULL, &status);
	if (reply == NULL || self->json)
		return status;

	if (JSON_NODE_HOLDS_OBJECT(reply))
		holds_node = json_object_get_member(json_node_get_object(reply), "holds");
	if (holds_node != NULL && JSON_NODE_HOLDS_ARRAY(holds_node))
		holds = json_node_get_array(holds_node);
	if (holds == NULL || json_array_get_length(holds) == 0) {
		g_print(_("%s holds nothing\n"), payment);
		return status;
	}
	/* TRANSLATORS: column headers of vestibulectl sim holds; amounts are in
	 * minor units, such as cents */
	g_print("%-16s  %-10s  %-10s  %12s  %12s  %-8s  %s\n", _("PSP REFERENCE"), _("STATE"),
		_("CURRENCY"), _("AUTHORIZED"), _("CAPTURED"), _("CREATED"), _("REFERENCE"));
	for (guint i = 0; i < json_array_get_length(holds); i++) {
		JsonNode *element = json_array_get_element(holds, i);
		JsonObject *hold;
		const gchar *created;

		if (!JSON_NODE_HOLDS_OBJECT(element))
			continue;
		hold = json_node_get_object(element);
		created = vb_ctl_sim_get_string(hold, "created");
		g_print("%-16s  %-10s  %-10s  %12" G_GINT64_FORMAT "  %12" G_GINT64_FORMAT
			"  %-8s  %s\n",
			vb_ctl_sim_get_string_or_dash(hold, "psp-reference"),
			vb_ctl_sim_get_string_or_dash(hold, "state"),
			vb_ctl_sim_get_string_or_dash(hold, "currency"),
			json_object_get_int_member_with_default(hold, "authorized", 0),
			json_object_get_int_member_with_default(hold, "captured", 0),
			/* the time of day is enough to tell holds apart in a demo */
			created != NULL && strlen(created) >= 19 ? created + 11 : "-",
			vb_ctl_sim_get_string_or_dash(hold, "reference"));
	}
	return status;
}

gint
vb_ctl_sim_run(VbCtlClient *client, gboolean json, gint argc, gchar **argv)
{
	VbCtlSim self = {.client = client, .json = json};
	const gchar *command = argc > 0 ? argv[0] : NULL;
	g_autofree gchar *message = NULL;

	if (command == NULL)
		return vb_ctl_sim_usage_error(NULL);
	if (g_strcmp0(command, "help") == 0 || g_strcmp0(command, "--help") == 0 ||
	    g_strcmp0(command, "-h") == 0) {
		g_print("%s", vb_ctl_sim_get_usage());
		return VB_CTL_SIM_EXIT_OK;
	}
	if (g_strcmp0(command, "tap") == 0)
		return vb_ctl_sim_tap(&self, argc, argv);
	if (g_strcmp0(command, "uid") == 0)
		return vb_ctl_sim_uid(&self, argc, argv);
	if (g_strcmp0(command, "keys") == 0)
		return vb_ctl_sim_keys(&self, argc, argv);
	if (g_strcmp0(command, "door") == 0)
		return vb_ctl_sim_door(&self, argc, argv);
	if (g_strcmp0(command, "exit") == 0)
		return vb_ctl_sim_exit(&self, argc, argv);
	if (g_strcmp0(command, "reader") == 0)
		return vb_ctl_sim_reader(&self, argc, argv);
	if (g_strcmp0(command, "screen") == 0)
		return vb_ctl_sim_screen(&self, argc, argv);
	if (g_strcmp0(command, "sms") == 0)
		return vb_ctl_sim_sms(&self, argc, argv);
	if (g_strcmp0(command, "sms-outage") == 0) {
		if (argc != 2)
			return vb_ctl_sim_usage_error(_("sms-outage needs on or off"));
		return vb_ctl_sim_outage(&self, "sms", argv[1]);
	}
	if (g_strcmp0(command, "payment") == 0)
		return vb_ctl_sim_payment(&self, argc, argv);
	if (g_strcmp0(command, "holds") == 0)
		return vb_ctl_sim_holds(&self, argc, argv);
	message = g_strdup_printf(_("unknown command '%s'"), command);
	return vb_ctl_sim_usage_error(message);
}
