/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vb-bus-private.h"
#include "vb-context-private.h"
#include "vb-host-private.h"
#include "vb-http-server-private.h"
#include "vb-plugin-loader-private.h"
#include "vb-plugin-private.h"
#include "vb-store-private.h"
#include "vb-test-daemon.h"
#include "vestibule.h"

/* vestibulectl, run as an operator would */
#define run_ctl vb_test_daemon_run_ctl

/*
 * The self-test of the simulated store. The first half drives the six sim
 * plugins through a running vestibuled, as an operator or the demo does: the
 * control socket and vestibulectl. The second half calls the role interfaces
 * in process, as the visit logic will, and looks at what a user would notice:
 * events, answers, lines in the SMS file, holds at the processor.
 */

#define TEST_PAN "4111111111111111"
#define TEST_PAN2 "5555555555554444"
#define TEST_PAN2_FIRST6 "555555"
#define TEST_PAN2_LAST4 "4444"
#define TEST_PHONE "+33612345678"
#define TEST_PHONE_NATIONAL "612345678"
#define TEST_PHONE_MASKED "+33 6•• •• •• 78"
#define TEST_PHONE2 "+447700900123"

/* no wait in these tests may hang a run */
#define TEST_WAIT_MS 5000

/* ------------------------------------------------------------------------ */
/* through the daemon                                                        */
/* ------------------------------------------------------------------------ */

static VbTestDaemon *
daemon_start(const gchar *extra)
{
	VbTestDaemon *d = vb_test_daemon_new(extra);
	g_autoptr(GError) error = NULL;

	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start: %s", error->message);
	return d;
}

static JsonObject *
ctl_ok(VbTestDaemon *d, JsonNode **keep, const gchar *method, const gchar *path, const gchar *body)
{
	g_autoptr(GError) error = NULL;

	g_clear_pointer(keep, json_node_unref);
	*keep = vb_test_daemon_ctl(d, method, path, body, &error);
	g_assert_no_error(error);
	g_assert_nonnull(*keep);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(*keep));
	return json_node_get_object(*keep);
}

/* the daemon refuses with @code, and its message, as vestibulectl prints it,
 * contains @part */
static void
ctl_refused(VbTestDaemon *d,
	    const gchar *method,
	    const gchar *path,
	    const gchar *body,
	    gint code,
	    const gchar *part)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = vb_test_daemon_ctl(d, method, path, body, &error);

	g_assert_null(node);
	g_assert_error(error, VB_ERROR, code);
	if (part != NULL && strstr(error->message, part) == NULL)
		g_error("expected '%s' in the daemon's answer, got: %s", part, error->message);
}

/* the audit log's events named @name (all when NULL) raised by @source (any
 * when NULL), oldest first, as `vestibulectl events` shows them: JSON objects
 * with name, source, door and payload */
static GPtrArray *
daemon_events_from(VbTestDaemon *d, const gchar *name, const gchar *source)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	g_autoptr(JsonNode) node = NULL;
	JsonArray *events;

	ctl_ok(d, &node, "GET", "/v1/events?limit=1000", NULL);
	events = json_object_get_array_member(json_node_get_object(node), "events");
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonNode *ev = json_array_get_element(events, i);
		JsonObject *obj = json_node_get_object(ev);
		if (name != NULL &&
		    g_strcmp0(json_object_get_string_member(obj, "name"), name) != 0)
			continue;
		if (source != NULL &&
		    g_strcmp0(json_object_get_string_member_with_default(obj, "source", NULL),
			      source) != 0)
			continue;
		g_ptr_array_add(out, json_node_copy(ev));
	}
	return out;
}

static GPtrArray *
daemon_events(VbTestDaemon *d, const gchar *name)
{
	return daemon_events_from(d, name, NULL);
}

/* waits until the audit log has at least @n events named @name */
static GPtrArray *
daemon_wait_events(VbTestDaemon *d, const gchar *name, guint n)
{
	gint64 deadline = g_get_monotonic_time() + TEST_WAIT_MS * G_TIME_SPAN_MILLISECOND;

	for (;;) {
		g_autoptr(GPtrArray) events = daemon_events(d, name);
		if (events->len >= n)
			return g_steal_pointer(&events);
		if (g_get_monotonic_time() > deadline)
			g_error("waited %u ms for %u %s events; saw %u", (guint)TEST_WAIT_MS, n,
				name, events->len);
		g_usleep(20 * 1000);
	}
}

static JsonObject *
ev_at(GPtrArray *events, guint i)
{
	g_assert_cmpuint(i, <, events->len);
	return json_node_get_object(g_ptr_array_index(events, i));
}

static JsonObject *
ev_payload(GPtrArray *events, guint i)
{
	return json_object_get_object_member(ev_at(events, i), "payload");
}

static const gchar *
ev_get(GPtrArray *events, guint i, const gchar *key)
{
	return json_object_get_string_member_with_default(ev_payload(events, i), key, NULL);
}

static JsonObject *
find_by_name(JsonArray *array, const gchar *name)
{
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonObject *obj = json_array_get_object_element(array, i);
		if (g_strcmp0(json_object_get_string_member(obj, "name"), name) == 0)
			return obj;
	}
	return NULL;
}

/* the door as `vestibulectl status` shows it */
static JsonObject *
daemon_door(VbTestDaemon *d, JsonNode **keep, const gchar *door)
{
	JsonObject *status = ctl_ok(d, keep, "GET", "/v1/status", NULL);
	JsonObject *doors = json_object_get_object_member(status, "doors");
	JsonObject *found = find_by_name(json_object_get_array_member(doors, "doors"), door);

	g_assert_nonnull(found);
	return found;
}

/* the status an instance reports in `vestibulectl plugins` */
static JsonObject *
daemon_plugin_status(VbTestDaemon *d, JsonNode **keep, const gchar *instance)
{
	JsonObject *obj = ctl_ok(d, keep, "GET", "/v1/plugins", NULL);
	JsonObject *inst = find_by_name(json_object_get_array_member(obj, "instances"), instance);

	g_assert_nonnull(inst);
	g_assert_cmpstr(json_object_get_string_member(inst, "state"), ==, "running");
	return json_object_get_object_member(inst, "status");
}

static void
assert_contains(const gchar *haystack, const gchar *needle)
{
	if (haystack == NULL || strstr(haystack, needle) == NULL)
		g_error("expected '%s' in: %s", needle, haystack != NULL ? haystack : "(null)");
}

static void
test_keypad_keys_in_order(void)
{
	g_autoptr(VbTestDaemon) d = daemon_start(NULL);
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(GPtrArray) keys = NULL;
	/* the audit log keeps that a digit was pressed, not which: typed in a row,
	 * digits are a phone number or a code (see VB_EVENT_KEYPAD_KEY) */
	const gchar *expected[] = {"digit", "digit", "enter", "erase", "*", "#", "cancel"};
	JsonObject *obj;

	obj = ctl_ok(d, &reply, "POST", "/v1/sim/front-keypad/keys",
		     "{\"keys\": [\"0\", \"6\", \"enter\", \"erase\", \"*\", \"#\"]}");
	g_assert_cmpint(json_object_get_int_member(obj, "pressed"), ==, 6);
	obj = ctl_ok(d, &reply, "POST", "/v1/sim/front-keypad/keys", "{\"keys\": [\"cancel\"]}");
	g_assert_cmpint(json_object_get_int_member(obj, "pressed"), ==, 1);

	/* one event per key, in the order pressed, from the keypad of the front door;
	 * the keys themselves, as the visit logic gets them, in /sim/keypad/keys-on-the-bus */
	keys = daemon_events(d, "keypad-key");
	g_assert_cmpuint(keys->len, ==, G_N_ELEMENTS(expected));
	for (guint i = 0; i < keys->len; i++) {
		g_assert_cmpstr(ev_get(keys, i, "key"), ==, expected[i]);
		g_assert_cmpstr(json_object_get_string_member(ev_at(keys, i), "source"), ==,
				"front-keypad");
		g_assert_cmpstr(json_object_get_string_member(ev_at(keys, i), "door"), ==, "front");
	}

	/* the operator sees how many keys were pressed */
	obj = daemon_plugin_status(d, &reply, "front-keypad");
	g_assert_cmpint(json_object_get_int_member(obj, "keys"), ==, 7);
}

static void
test_keypad_unknown_key_presses_none(void)
{
	g_autoptr(VbTestDaemon) d = daemon_start(NULL);
	g_autoptr(GPtrArray) keys = NULL;
	g_autoptr(GString) many = g_string_new("{\"keys\": [");

	/* the bad key is named, and the good ones before it are not pressed either */
	ctl_refused(d, "POST", "/v1/sim/front-keypad/keys", "{\"keys\": [\"1\", \"F1\", \"2\"]}",
		    VB_ERROR_INVALID_DATA, "unknown key 'F1'");
	ctl_refused(d, "POST", "/v1/sim/front-keypad/keys", "{\"keys\": [\"1\", \"F1\", \"2\"]}",
		    VB_ERROR_INVALID_DATA, "no key was pressed");
	ctl_refused(d, "POST", "/v1/sim/front-keypad/keys", "{\"keys\": [\"1\", 2]}",
		    VB_ERROR_INVALID_DATA, "key 2 is not a string");
	ctl_refused(d, "POST", "/v1/sim/front-keypad/keys", "{\"keys\": []}", VB_ERROR_INVALID_DATA,
		    "1 to 64 keys");
	ctl_refused(d, "POST", "/v1/sim/front-keypad/keys", "{\"keys\": \"0612\"}",
		    VB_ERROR_INVALID_DATA, "must be an array");
	ctl_refused(d, "POST", "/v1/sim/front-keypad/keys", "{\"keys\": [\"1\"], \"door\": \"x\"}",
		    VB_ERROR_INVALID_DATA, "unknown member 'door'");
	for (guint i = 0; i < 65; i++)
		g_string_append_printf(many, "%s\"1\"", i > 0 ? ", " : "");
	g_string_append(many, "]}");
	ctl_refused(d, "POST", "/v1/sim/front-keypad/keys", many->str, VB_ERROR_INVALID_DATA,
		    "1 to 64 keys");

	keys = daemon_events(d, "keypad-key");
	g_assert_cmpuint(keys->len, ==, 0);
}

static void
test_lock_forced_open_alarm(void)
{
	g_autoptr(VbTestDaemon) d = daemon_start(NULL);
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(GPtrArray) opened = NULL;
	g_autoptr(GPtrArray) closed = NULL;
	g_autoptr(GPtrArray) alarms = NULL;
	g_autoptr(GPtrArray) alerts = NULL;
	g_autoptr(GPtrArray) exits = NULL;
	JsonObject *obj;

	/* nobody unlocked it: the door is pushed open while locked */
	obj = ctl_ok(d, &reply, "POST", "/v1/sim/front-lock/door", "{\"action\": \"open\"}");
	g_assert_true(json_object_get_boolean_member(obj, "locked"));
	g_assert_cmpstr(json_object_get_string_member(obj, "door"), ==, "open");

	opened = daemon_events(d, "door-opened");
	g_assert_cmpuint(opened->len, ==, 1);
	g_assert_cmpstr(json_object_get_string_member(ev_at(opened, 0), "door"), ==, "front");
	alarms = daemon_events(d, "door-alarm");
	g_assert_cmpuint(alarms->len, ==, 1);
	g_assert_cmpstr(ev_get(alarms, 0, "alarm"), ==, "forced-open");
	g_assert_cmpstr(json_object_get_string_member(ev_at(alarms, 0), "door"), ==, "front");
	/* and the operator is alerted, critically, with what to do */
	alerts = daemon_events_from(d, "alert", "front-lock");
	g_assert_cmpuint(alerts->len, ==, 1);
	g_assert_cmpstr(json_object_get_string_member(ev_at(alerts, 0), "source"), ==,
			"front-lock");
	g_assert_cmpstr(ev_get(alerts, 0, "severity"), ==, "critical");
	assert_contains(ev_get(alerts, 0, "message"), "door front was forced open while locked");
	assert_contains(ev_get(alerts, 0, "message"), "check the door");

	/* the door status follows the contact */
	obj = daemon_door(d, &reply, "front");
	g_assert_cmpstr(json_object_get_string_member(obj, "door-state"), ==, "open");
	g_assert_true(json_object_get_boolean_member(obj, "locked"));

	/* a contact reports changes only */
	ctl_refused(d, "POST", "/v1/sim/front-lock/door", "{\"action\": \"open\"}",
		    VB_ERROR_CONFLICT, "the door is already open");
	obj = ctl_ok(d, &reply, "POST", "/v1/sim/front-lock/door", "{\"action\": \"close\"}");
	g_assert_cmpstr(json_object_get_string_member(obj, "door"), ==, "closed");
	closed = daemon_events(d, "door-closed");
	g_assert_cmpuint(closed->len, ==, 1);
	g_assert_cmpstr(json_object_get_string_member(ev_at(closed, 0), "door"), ==, "front");
	ctl_refused(d, "POST", "/v1/sim/front-lock/door", "{\"action\": \"close\"}",
		    VB_ERROR_CONFLICT, "the door is already closed");
	ctl_refused(d, "POST", "/v1/sim/front-lock/door", "{\"action\": \"slam\"}",
		    VB_ERROR_INVALID_DATA, "unknown door action 'slam'");
	ctl_refused(d, "POST", "/v1/sim/front-lock/door", "{}", VB_ERROR_INVALID_DATA,
		    "the member 'action' is missing");

	obj = ctl_ok(d, &reply, "GET", "/v1/sim/front-lock/state", NULL);
	g_assert_true(json_object_get_boolean_member(obj, "locked"));
	g_assert_cmpstr(json_object_get_string_member(obj, "door"), ==, "closed");
	obj = daemon_plugin_status(d, &reply, "front-lock");
	g_assert_cmpint(json_object_get_int_member(obj, "alarms"), ==, 1);
	g_assert_cmpstr(json_object_get_string_member(obj, "fail-mode"), ==, "fail-secure");

	/* the request-to-exit button */
	obj = ctl_ok(d, &reply, "POST", "/v1/sim/front-lock/exit", NULL);
	g_assert_true(json_object_get_boolean_member(obj, "locked"));
	exits = daemon_events(d, "exit-requested");
	g_assert_cmpuint(exits->len, ==, 1);
	g_assert_cmpstr(json_object_get_string_member(ev_at(exits, 0), "door"), ==, "front");
	g_clear_pointer(&alarms, g_ptr_array_unref);
	alarms = daemon_events(d, "door-alarm");
	g_assert_cmpuint(alarms->len, ==, 1);
}

static guint
count_alarms(VbTestDaemon *d, const gchar *alarm)
{
	g_autoptr(GPtrArray) alarms = daemon_events(d, "door-alarm");
	guint n = 0;

	for (guint i = 0; i < alarms->len; i++) {
		if (g_strcmp0(ev_get(alarms, i, "alarm"), alarm) == 0)
			n++;
	}
	return n;
}

static void
test_lock_held_open_alarm(void)
{
	/* sections of the same name merge, so this sets a key of the harness's lock */
	g_autoptr(VbTestDaemon) d = daemon_start("[instance:front-lock]\nheld-open-s=1\n");
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(GPtrArray) alerts = NULL;
	const gchar *message = NULL;
	gint64 opened_at;

	/* a door closed in time raises nothing */
	ctl_ok(d, &reply, "POST", "/v1/sim/front-lock/door", "{\"action\": \"open\"}");
	ctl_ok(d, &reply, "POST", "/v1/sim/front-lock/door", "{\"action\": \"close\"}");
	g_usleep(1300 * 1000);
	g_assert_cmpuint(count_alarms(d, "held-open"), ==, 0);

	/* a door left open raises the alarm once, after held-open-s */
	opened_at = g_get_monotonic_time();
	ctl_ok(d, &reply, "POST", "/v1/sim/front-lock/door", "{\"action\": \"open\"}");
	g_assert_cmpuint(count_alarms(d, "held-open"), ==, 0);
	while (count_alarms(d, "held-open") == 0) {
		g_assert_cmpint(g_get_monotonic_time() - opened_at, <,
				TEST_WAIT_MS * G_TIME_SPAN_MILLISECOND);
		g_usleep(50 * 1000);
	}
	g_assert_cmpint(g_get_monotonic_time() - opened_at, >=, 1 * G_USEC_PER_SEC);
	g_usleep(1300 * 1000);
	g_assert_cmpuint(count_alarms(d, "held-open"), ==, 1);

	/* a warning alert for the operator, naming the door and the delay */
	alerts = daemon_events_from(d, "alert", "front-lock");
	for (guint i = 0; i < alerts->len; i++) {
		if (g_strcmp0(ev_get(alerts, i, "severity"), "warning") == 0) {
			g_assert_null(message);
			message = ev_get(alerts, i, "message");
		}
	}
	assert_contains(message, "door front has been held open for more than 1");
	assert_contains(message, "check that it is closed");
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_reader_absent_refuses_taps(void)
{
	g_autoptr(VbTestDaemon) d = daemon_start(NULL);
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(GPtrArray) states = NULL;
	g_autoptr(GPtrArray) cards = NULL;
	g_autoptr(GPtrArray) removed = NULL;
	JsonObject *obj;

	/* the reader starts ready; a card stays in its field for a minute */
	obj = daemon_door(d, &reply, "front");
	g_assert_cmpstr(json_object_get_string_member(obj, "reader-state"), ==, "ready");
	ctl_ok(d, &reply, "POST", "/v1/sim/front-reader/tap",
	       "{\"pan\": \"" TEST_PAN "\", \"hold-ms\": 60000}");

	/* unplugged: the card in the field goes with it */
	obj = ctl_ok(d, &reply, "POST", "/v1/sim/front-reader/state", "{\"state\": \"absent\"}");
	g_assert_cmpstr(json_object_get_string_member(obj, "state"), ==, "absent");
	states = daemon_events(d, "reader-state");
	g_assert_cmpuint(states->len, >=, 1);
	g_assert_cmpstr(ev_get(states, states->len - 1, "state"), ==, "absent");
	g_assert_cmpstr(json_object_get_string_member(ev_at(states, states->len - 1), "door"), ==,
			"front");
	removed = daemon_events(d, "card-removed");
	g_assert_cmpuint(removed->len, ==, 1);
	obj = daemon_door(d, &reply, "front");
	g_assert_cmpstr(json_object_get_string_member(obj, "reader-state"), ==, "absent");

	/* nothing can be tapped on a reader that is not there */
	ctl_refused(d, "POST", "/v1/sim/front-reader/tap", "{\"pan\": \"" TEST_PAN "\"}",
		    VB_ERROR_CONFLICT, "the reader is absent; set it to ready");
	cards = daemon_events(d, "card-presented");
	g_assert_cmpuint(cards->len, ==, 1);

	/* a failing reader says so */
	ctl_ok(d, &reply, "POST", "/v1/sim/front-reader/state", "{\"state\": \"error\"}");
	g_clear_pointer(&states, g_ptr_array_unref);
	states = daemon_events(d, "reader-state");
	g_assert_cmpstr(ev_get(states, states->len - 1, "state"), ==, "error");
	assert_contains(ev_get(states, states->len - 1, "error"), "reports a failure");
	ctl_refused(d, "POST", "/v1/sim/front-reader/tap", "{\"pan\": \"" TEST_PAN "\"}",
		    VB_ERROR_CONFLICT, "the reader is error");
	ctl_refused(d, "POST", "/v1/sim/front-reader/state", "{\"state\": \"unplugged\"}",
		    VB_ERROR_INVALID_DATA, "unknown reader state 'unplugged'");

	/* plugged back in, it works again; the same state twice is one change */
	ctl_ok(d, &reply, "POST", "/v1/sim/front-reader/state", "{\"state\": \"ready\"}");
	ctl_ok(d, &reply, "POST", "/v1/sim/front-reader/state", "{\"state\": \"ready\"}");
	g_clear_pointer(&states, g_ptr_array_unref);
	states = daemon_events(d, "reader-state");
	g_assert_cmpstr(ev_get(states, states->len - 1, "state"), ==, "ready");
	g_assert_cmpstr(ev_get(states, states->len - 2, "state"), ==, "error");
	obj = daemon_door(d, &reply, "front");
	g_assert_cmpstr(json_object_get_string_member(obj, "reader-state"), ==, "ready");
	obj = ctl_ok(d, &reply, "POST", "/v1/sim/front-reader/tap", "{\"pan\": \"" TEST_PAN "\"}");
	g_assert_cmpstr(json_object_get_string_member(obj, "status"), ==, "presented");
	g_clear_pointer(&cards, g_ptr_array_unref);
	cards = daemon_events(d, "card-presented");
	g_assert_cmpuint(cards->len, ==, 2);
}

static void
test_reader_uid_needs_allow_uid(void)
{
	g_autoptr(VbTestDaemon) d = daemon_start(NULL);
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(GPtrArray) cards = NULL;
	g_autoptr(GPtrArray) reloaded = NULL;
	g_autofree gchar *reload_text = NULL;
	JsonObject *payload;

	/* refused, saying which key allows it */
	ctl_refused(d, "POST", "/v1/sim/front-reader/uid", "{\"uid\": \"04a1b2c3\"}",
		    VB_ERROR_PERMISSION_DENIED, "set allow-uid=true in [instance:front-reader]");
	cards = daemon_events(d, "card-presented");
	g_assert_cmpuint(cards->len, ==, 0);

	/* allowed by the operator, with a reload */
	vb_test_daemon_write_config(d, "[instance:front-reader]\nallow-uid=true\n");
	vb_test_daemon_signal(d, SIGHUP);
	reloaded = daemon_wait_events(d, "config-reloaded", 1);
	reload_text = json_to_string(g_ptr_array_index(reloaded, 0), FALSE);
	assert_contains(reload_text, "applied");

	ctl_ok(d, &reply, "POST", "/v1/sim/front-reader/uid", "{\"uid\": \"04A1B2C3D4E5F6\"}");
	ctl_ok(d, &reply, "POST", "/v1/sim/front-reader/uid", "{\"uid\": \"04a1b2c3d4e5f6\"}");
	ctl_refused(d, "POST", "/v1/sim/front-reader/uid", "{\"uid\": \"04a1b2\"}",
		    VB_ERROR_INVALID_DATA, "4 to 10 bytes");
	ctl_refused(d, "POST", "/v1/sim/front-reader/uid", "{\"uid\": \"04a1b2zz\"}",
		    VB_ERROR_INVALID_DATA, "hexadecimal");
	g_clear_pointer(&cards, g_ptr_array_unref);
	cards = daemon_events(d, "card-presented");
	g_assert_cmpuint(cards->len, ==, 2);
	payload = ev_payload(cards, 0);
	g_assert_cmpstr(json_object_get_string_member(payload, "card-kind"), ==, "uid");
	g_assert_cmpuint(strlen(json_object_get_string_member(payload, "token")), ==, 64);
	/* a tag has no card number, so nothing of one */
	g_assert_false(json_object_has_member(payload, "first6"));
	g_assert_false(json_object_has_member(payload, "last4"));
	g_assert_false(json_object_has_member(payload, "scheme"));
	/* the same tag, however written, is the same token */
	g_assert_cmpstr(json_object_get_string_member(payload, "token"), ==,
			ev_get(cards, 1, "token"));
}

static void
test_reader_card_leaves_field(void)
{
	g_autoptr(VbTestDaemon) d = daemon_start(NULL);
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_autoptr(GString) order = g_string_new(NULL);
	struct {
		const gchar *member;
		const gchar *reason;
	} refused[] = {
	    {"\"expiry\": \"2813\"", "YYMM"},
	    {"\"language\": \"french\"", "ISO 639"},
	    {"\"hold-ms\": 600001", "between 0 and 600000"},
	    {"\"cvv\": \"123\"", "unknown member 'cvv'"},
	};
	JsonObject *obj;

	/* the default stay in the field, and a card that leaves on its own */
	obj = ctl_ok(d, &reply, "POST", "/v1/sim/front-reader/tap", "{\"pan\": \"" TEST_PAN "\"}");
	g_assert_cmpint(json_object_get_int_member(obj, "hold-ms"), ==, 300);
	g_clear_pointer(&all, g_ptr_array_unref);
	all = daemon_wait_events(d, "card-removed", 1);

	/* a second card while one is in the field: the first leaves before */
	ctl_ok(d, &reply, "POST", "/v1/sim/front-reader/tap",
	       "{\"pan\": \"" TEST_PAN "\", \"hold-ms\": 60000}");
	ctl_ok(d, &reply, "POST", "/v1/sim/front-reader/tap",
	       "{\"pan\": \"" TEST_PAN2 "\", \"hold-ms\": 60000, \"expiry\": \"2812\"}");
	obj = daemon_plugin_status(d, &reply, "front-reader");
	g_assert_true(json_object_get_boolean_member(obj, "card-in-field"));
	g_assert_cmpint(json_object_get_int_member(obj, "taps"), ==, 3);

	g_clear_pointer(&all, g_ptr_array_unref);
	all = daemon_events(d, NULL);
	for (guint i = 0; i < all->len; i++) {
		const gchar *name = json_object_get_string_member(ev_at(all, i), "name");
		if (g_strcmp0(name, "card-presented") == 0)
			g_string_append(order, "P");
		else if (g_strcmp0(name, "card-removed") == 0)
			g_string_append(order, "R");
	}
	g_assert_cmpstr(order->str, ==, "PRPRP");

	/* refused cards: the reason is given, the number is never echoed */
	for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
		g_autofree gchar *body =
		    g_strdup_printf("{\"pan\": \"%s\", %s}", TEST_PAN, refused[i].member);
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) node =
		    vb_test_daemon_ctl(d, "POST", "/v1/sim/front-reader/tap", body, &error);
		g_assert_null(node);
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
		assert_contains(error->message, refused[i].reason);
		g_assert_null(strstr(error->message, TEST_PAN));
	}
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	g_assert_false(vb_test_daemon_files_contain(d, TEST_PAN));
	g_assert_false(vb_test_daemon_files_contain(d, TEST_PAN2));
}

static void
test_reader_no_card_token_key(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) cards = NULL;
	g_autoptr(GString) kept = g_string_new(NULL);
	g_autofree gchar *secrets = NULL;
	g_auto(GStrv) lines = NULL;

	/* the operator forgot the key that turns card numbers into tokens; the file
	 * is written anew, as GLib 2.74 does not truncate a file it rewrites in place */
	g_assert_true(g_file_get_contents(d->secrets_path, &secrets, NULL, &error));
	g_assert_no_error(error);
	lines = g_strsplit(secrets, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (!g_str_has_prefix(lines[i], "card-token-key"))
			g_string_append_printf(kept, "%s\n", lines[i]);
	}
	g_assert_cmpint(g_unlink(d->secrets_path), ==, 0);
	g_assert_true(g_file_set_contents_full(d->secrets_path, kept->str, -1,
					       G_FILE_SET_CONTENTS_NONE, 0600, &error));
	g_assert_no_error(error);
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start: %s", error->message);

	/* the tap is refused saying what is missing, and no card is presented */
	ctl_refused(d, "POST", "/v1/sim/front-reader/tap", "{\"pan\": \"" TEST_PAN "\"}",
		    VB_ERROR_INVALID_CONFIG, "no card-token-key");
	cards = daemon_events(d, "card-presented");
	g_assert_cmpuint(cards->len, ==, 0);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	g_assert_false(vb_test_daemon_files_contain(d, TEST_PAN));
}

/* one request to the public listener, as anyone on the store's network could make */
static guint
public_request(const gchar *url, const gchar *body)
{
	g_autoptr(SoupSession) session = soup_session_new_with_options("timeout", 10, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new("POST", url);
	g_autoptr(GBytes) request = g_bytes_new(body, strlen(body));
	g_autoptr(GBytes) response = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_nonnull(msg);
	soup_message_set_request_body_from_bytes(msg, "application/json", request);
	response = soup_session_send_and_read(session, msg, NULL, &error);
	g_assert_no_error(error);
	return soup_message_get_status(msg);
}

static void
test_routes_control_socket_only(void)
{
	g_autoptr(VbTestDaemon) d = daemon_start(NULL);
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(JsonNode) status = NULL;
	const gchar *events[] = {"door-opened", "door-alarm", "keypad-key", "card-presented",
				 "sms-received"};
	const gchar *public_url;
	JsonObject *obj;
	struct {
		const gchar *path;
		const gchar *body;
	} attempts[] = {
	    {"/v1/sim/front-lock/door", "{\"action\": \"open\"}"},
	    {"/v1/sim/front-keypad/keys", "{\"keys\": [\"1\"]}"},
	    {"/v1/sim/front-reader/tap", "{\"pan\": \"" TEST_PAN "\"}"},
	    {"/v1/sim/sms/inbound", "{\"from\": \"" TEST_PHONE "\", \"body\": \"STOP\"}"},
	    {"/v1/sim/pay/outage", "{\"down\": true}"},
	};

	public_url = json_object_get_string_member(ctl_ok(d, &reply, "GET", "/v1/status", NULL),
						   "public-url");
	g_assert_true(g_str_has_prefix(public_url, "http://127.0.0.1:"));

	/* nobody on the network plays the store's hardware */
	for (guint i = 0; i < G_N_ELEMENTS(attempts); i++) {
		g_autofree gchar *url = g_strconcat(public_url, attempts[i].path, NULL);
		guint code = public_request(url, attempts[i].body);
		if (code != SOUP_STATUS_NOT_FOUND && code != SOUP_STATUS_UNAUTHORIZED)
			g_error("POST %s on the public listener answered %u", attempts[i].path,
				code);
	}
	for (guint i = 0; i < G_N_ELEMENTS(events); i++) {
		g_autoptr(GPtrArray) seen = daemon_events(d, events[i]);
		g_assert_cmpuint(seen->len, ==, 0);
	}
	obj = daemon_plugin_status(d, &status, "pay");
	g_assert_false(json_object_get_boolean_member(obj, "down"));
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_console_screen_idle(void)
{
	/* a display no door uses: the visit logic never shows anything on it */
	g_autoptr(VbTestDaemon) d =
	    daemon_start("[instance:spare-display]\nplugin=console\noutput=none\n");
	g_autoptr(JsonNode) reply = NULL;
	JsonObject *obj;

	/* nothing shown yet */
	obj = ctl_ok(d, &reply, "GET", "/v1/sim/spare-display/screen", NULL);
	g_assert_true(json_object_has_member(obj, "prompt-id"));
	g_assert_true(json_object_get_null_member(obj, "prompt-id"));
	g_assert_cmpstr(json_object_get_string_member(obj, "text"), ==, "");
	obj = daemon_plugin_status(d, &reply, "spare-display");
	g_assert_cmpstr(json_object_get_string_member(obj, "prompt-id"), ==, "");
	g_assert_cmpint(json_object_get_int_member(obj, "prompts"), ==, 0);

	/* the screen is only read; a verb has nothing below it */
	ctl_refused(d, "POST", "/v1/sim/spare-display/screen", "{}", VB_ERROR_NOT_SUPPORTED,
		    "only accepts GET");
	ctl_refused(d, "GET", "/v1/sim/spare-display/screen/extra", NULL, VB_ERROR_NOT_FOUND, NULL);
	ctl_refused(d, "GET", "/v1/sim/spare-display/keys", NULL, VB_ERROR_NOT_FOUND, NULL);
}

static void
test_sms_inbound_masked(void)
{
	g_autoptr(VbTestDaemon) d = daemon_start(NULL);
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(GPtrArray) received = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *message_id = NULL;
	JsonObject *obj;

	obj = ctl_ok(d, &reply, "POST", "/v1/sim/sms/inbound",
		     "{\"from\": \"" TEST_PHONE "\", \"body\": \"STOP\"}");
	message_id = g_strdup(json_object_get_string_member(obj, "message-id"));
	g_assert_true(g_str_has_prefix(message_id, "SM"));

	/* the operator sees who wrote, masked, and how much, not what */
	received = daemon_events(d, "sms-received");
	g_assert_cmpuint(received->len, ==, 1);
	g_assert_cmpstr(json_object_get_string_member(ev_at(received, 0), "source"), ==, "sms");
	g_assert_cmpstr(ev_get(received, 0, "phone"), ==, TEST_PHONE_MASKED);
	g_assert_cmpstr(ev_get(received, 0, "body"), ==, "[4 characters]");
	g_assert_cmpstr(ev_get(received, 0, "message-id"), ==, message_id);

	/* a reply with a code: the code stays out of the log too */
	ctl_ok(d, &reply, "POST", "/v1/sim/sms/inbound",
	       "{\"from\": \"" TEST_PHONE "\", \"body\": \"code 482913 merci\"}");
	g_clear_pointer(&received, g_ptr_array_unref);
	received = daemon_events(d, "sms-received");
	g_assert_cmpuint(received->len, ==, 2);
	g_assert_cmpstr(ev_get(received, 1, "body"), ==, "[17 characters]");
	obj = daemon_plugin_status(d, &reply, "sms");
	g_assert_cmpint(json_object_get_int_member(obj, "received"), ==, 2);

	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	log = vb_test_daemon_read_log(d);
	assert_contains(log, "from " TEST_PHONE_MASKED ": STOP");
	assert_contains(log, "code •••• merci");
	/* neither the database, its WAL, nor the log has the number or the code */
	g_assert_false(vb_test_daemon_files_contain(d, TEST_PHONE));
	g_assert_false(vb_test_daemon_files_contain(d, TEST_PHONE_NATIONAL));
	g_assert_false(vb_test_daemon_files_contain(d, "482913"));
}

static void
test_sms_inbound_bad_sender(void)
{
	g_autoptr(VbTestDaemon) d = daemon_start(NULL);
	g_autoptr(GPtrArray) received = NULL;
	g_autofree gchar *long_body = NULL;
	g_autofree gchar *body = NULL;

	/* a national number, a leading zero, letters, too short, too long */
	ctl_refused(d, "POST", "/v1/sim/sms/inbound",
		    "{\"from\": \"0612345678\", \"body\": \"STOP\"}", VB_ERROR_INVALID_DATA,
		    "E.164");
	ctl_refused(d, "POST", "/v1/sim/sms/inbound",
		    "{\"from\": \"+0612345678\", \"body\": \"STOP\"}", VB_ERROR_INVALID_DATA,
		    "E.164");
	ctl_refused(d, "POST", "/v1/sim/sms/inbound",
		    "{\"from\": \"+33 6 12 34 56 78\", \"body\": \"STOP\"}", VB_ERROR_INVALID_DATA,
		    "E.164");
	ctl_refused(d, "POST", "/v1/sim/sms/inbound",
		    "{\"from\": \"+3361234\", \"body\": \"STOP\"}", VB_ERROR_INVALID_DATA, "E.164");
	ctl_refused(d, "POST", "/v1/sim/sms/inbound",
		    "{\"from\": \"+3361234567890123\", \"body\": \"STOP\"}", VB_ERROR_INVALID_DATA,
		    "E.164");
	ctl_refused(d, "POST", "/v1/sim/sms/inbound",
		    "{\"from\": \"" TEST_PHONE "\", \"body\": \"\"}", VB_ERROR_INVALID_DATA,
		    "no text");
	ctl_refused(d, "POST", "/v1/sim/sms/inbound", "{\"from\": \"" TEST_PHONE "\"}",
		    VB_ERROR_INVALID_DATA, "the member 'body' is missing");
	long_body = g_strnfill(1601, 'a');
	body = g_strdup_printf("{\"from\": \"" TEST_PHONE "\", \"body\": \"%s\"}", long_body);
	ctl_refused(d, "POST", "/v1/sim/sms/inbound", body, VB_ERROR_TOO_LARGE, "1600 bytes");

	received = daemon_events(d, "sms-received");
	g_assert_cmpuint(received->len, ==, 0);
}

static void
assert_matches(const gchar *text, const gchar *pattern)
{
	if (!g_pattern_match_simple(pattern, text))
		g_error("expected '%s', got: %s", pattern, text);
}

/* vestibulectl status shows the door's last read as a display may (first six,
 * last four), never the PAN, and each instance's own figures */
static void
test_ctl_status_last_read(void)
{
	g_autoptr(VbTestDaemon) d = daemon_start(NULL);
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;

	g_assert_cmpint(run_ctl(d, &out, &err, "status", NULL), ==, 0);
	g_assert_null(strstr(out, "last read"));
	assert_matches(out, "*\nfront-reader (sim-reader):* taps=0*");

	ctl_ok(d, &reply, "POST", "/v1/sim/front-reader/tap",
	       "{\"pan\": \"" TEST_PAN2 "\", \"expiry\": \"2812\"}");
	all = daemon_wait_events(d, "card-presented", 1);
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);
	g_assert_cmpint(run_ctl(d, &out, &err, "status", NULL), ==, 0);
	assert_matches(out, "*door front: * reader ready*\n  last read: * " TEST_PAN2_FIRST6
			    "\u2026" TEST_PAN2_LAST4 ", expires 2028-12, at 20*");
	assert_matches(out, "*\nfront-reader (sim-reader):* taps=1*");
	g_assert_null(strstr(out, TEST_PAN2));
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);
	g_assert_cmpint(run_ctl(d, &out, &err, "--json", "status", NULL), ==, 0);
	g_assert_nonnull(strstr(out, "\"last4\" : \"" TEST_PAN2_LAST4 "\""));
	g_assert_null(strstr(out, TEST_PAN2));
	g_assert_null(strstr(out, "token"));
}

static void
test_ctl_sim(void)
{
	g_autoptr(VbTestDaemon) d = daemon_start(NULL);
	g_autoptr(GPtrArray) keys = NULL;
	g_autoptr(GPtrArray) opened = NULL;
	g_autoptr(GPtrArray) received = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	const gchar *expected[] = {"digit", "digit", "digit", "digit", "enter"};
	g_autoptr(JsonNode) screen_node = NULL;
	JsonObject *screen;

	/* what the front door's display shows, as the control API and vestibulectl
	 * tell it; first, before anything could change it */
	screen = ctl_ok(d, &screen_node, "GET", "/v1/sim/front-display/screen", NULL);
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "screen", NULL), ==, 0);
	if (json_object_get_null_member(screen, "prompt-id")) {
		g_assert_cmpstr(out, ==, "front-display shows nothing\n");
	} else {
		g_autoptr(GString) frame = g_string_new(NULL);
		g_auto(GStrv) lines =
		    g_strsplit(json_object_get_string_member(screen, "text"), "\n", -1);
		g_string_append_printf(frame, "┌ front-display ─ %s\n",
				       json_object_get_string_member(screen, "prompt-id"));
		for (guint i = 0; lines[i] != NULL; i++)
			g_string_append_printf(frame, "│ %s\n", lines[i]);
		g_string_append(frame, "└\n");
		g_assert_cmpstr(out, ==, frame->str);
	}
	g_assert_cmpint(run_ctl(d, &out, &err, "--json", "sim", "screen", NULL), ==, 0);
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) node = json_from_string(out, &error);
		g_assert_no_error(error);
		g_assert_true(json_node_equal(node, screen_node));
	}

	/* 0612 stands for four keys */
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "keys", "0612", "enter", NULL), ==, 0);
	g_assert_cmpstr(out, ==, "5 keys pressed on front-keypad\n");
	keys = daemon_events(d, "keypad-key");
	g_assert_cmpuint(keys->len, ==, G_N_ELEMENTS(expected));
	for (guint i = 0; i < keys->len; i++)
		g_assert_cmpstr(ev_get(keys, i, "key"), ==, expected[i]);
	/* the daemon's refusal is printed, and the exit status says refused */
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "keys", "1", "F1", NULL), ==, 1);
	assert_contains(err, "unknown key 'f1'");
	g_clear_pointer(&keys, g_ptr_array_unref);
	keys = daemon_events(d, "keypad-key");
	g_assert_cmpuint(keys->len, ==, G_N_ELEMENTS(expected));

	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "door", "open", NULL), ==, 0);
	g_assert_cmpstr(out, ==, "door front opened\n");
	opened = daemon_events(d, "door-opened");
	g_assert_cmpuint(opened->len, ==, 1);
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "door", "open", NULL), ==, 1);
	assert_contains(err, "the door is already open");
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "door", "--door", "front", "close", NULL), ==,
			0);
	g_assert_cmpstr(out, ==, "door front closed\n");

	g_assert_cmpint(
	    run_ctl(d, &out, &err, "sim", "sms", "--from", TEST_PHONE, "--body", "hello", NULL), ==,
	    0);
	assert_matches(out, "SMS SM* received by sms\n");
	g_assert_null(strstr(out, TEST_PHONE));
	received = daemon_events(d, "sms-received");
	g_assert_cmpuint(received->len, ==, 1);
	g_assert_cmpstr(ev_get(received, 0, "phone"), ==, TEST_PHONE_MASKED);
	g_assert_cmpstr(ev_get(received, 0, "body"), ==, "[5 characters]");
	g_assert_cmpint(
	    run_ctl(d, &out, &err, "sim", "sms", "--from", "0612345678", "--body", "hello", NULL),
	    ==, 1);
	assert_contains(err, "E.164");

	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "reader", "absent", NULL), ==, 0);
	g_assert_cmpstr(out, ==, "reader front-reader is absent\n");
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "tap", TEST_PAN, NULL), ==, 1);
	assert_contains(err, "the reader is absent");
	g_assert_null(strstr(err, TEST_PAN));

	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "holds", NULL), ==, 0);
	g_assert_cmpstr(out, ==, "pay holds nothing\n");
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "payment", "decline", "2", NULL), ==, 0);
	g_assert_cmpstr(out, ==, "the next 2 authorizations at pay will be declined\n");
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "payment", "outage", "on", NULL), ==, 0);
	g_assert_cmpstr(out, ==, "pay is down\n");
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "sms-outage", "off", NULL), ==, 0);
	g_assert_cmpstr(out, ==, "sms is back up\n");

	/* usage errors are 2, with the usage, and send nothing */
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "door", "ajar", NULL), ==, 2);
	assert_contains(err, "door needs open or close");
	assert_contains(err, "usage: vestibulectl [--json] sim COMMAND");
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "keys", NULL), ==, 2);
	assert_contains(err, "keys needs at least one key");
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "sms", "--from", TEST_PHONE, NULL), ==, 2);
	assert_contains(err, "sms needs --from NUMBER and --body TEXT");
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "door", "--door", "back", "open", NULL), ==,
			2);
	assert_contains(err, "there is no door 'back'; the doors are: front");
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "sms-outage", "maybe", NULL), ==, 2);
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "frobnicate", NULL), ==, 2);
	assert_contains(err, "unknown command 'frobnicate'");
	g_clear_pointer(&opened, g_ptr_array_unref);
	opened = daemon_events(d, "door-opened");
	g_assert_cmpuint(opened->len, ==, 1);

	/* and a daemon that is gone is 3 */
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "door", "open", NULL), ==, 3);
}

/* ------------------------------------------------------------------------ */
/* in process, through the role interfaces                                   */
/* ------------------------------------------------------------------------ */

/* the core as vestibuled builds it, on a database in a temporary directory */
typedef struct {
	VbStore *store;
	VbBus *bus;
	VbMetrics *metrics;
	VbHttpServer *http;
	VbContext *context;
	VbHost *host;
	VbConfig *config;
	VbPluginLoader *loader;
	gulong event_handler;
} SimStack;

typedef struct {
	gchar *dir;
	gchar *socket_path;
	gchar *config_text;
	SimStack *stack;
	GPtrArray *events; /* of VbEvent, as the bus delivered them */
	GPtrArray *logs;   /* "DOMAIN: message" of the sim plugins */
	GPtrArray *log_handlers;
} SimFixture;

static const gchar *const sim_log_domains[] = {"sim-reader", "sim-lock",    "sim-keypad", "console",
					       "log-sms",    "sim-payment", NULL};

static void
sim_log_cb(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer user_data)
{
	SimFixture *fx = user_data;

	g_ptr_array_add(fx->logs, g_strdup_printf("%s: %s", domain, message));
	/* still shown, as it would be in the daemon's log */
	g_log_default_handler(domain, level, message, NULL);
}

static void
sim_event_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	SimFixture *fx = user_data;
	g_ptr_array_add(fx->events, vb_event_ref(event));
}

static void
sim_setup(SimFixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	fx->dir = g_dir_make_tmp("vb-sim-XXXXXX", &error);
	g_assert_no_error(error);
	fx->socket_path = g_build_filename(fx->dir, "control.sock", NULL);
	fx->events = g_ptr_array_new_with_free_func((GDestroyNotify)vb_event_unref);
	fx->logs = g_ptr_array_new_with_free_func(g_free);
	fx->log_handlers = g_ptr_array_new();
	for (guint i = 0; sim_log_domains[i] != NULL; i++) {
		guint id = g_log_set_handler(
		    sim_log_domains[i], G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION,
		    sim_log_cb, fx);
		g_ptr_array_add(fx->log_handlers, GUINT_TO_POINTER(id));
	}
}

/* builds the stack on fx->dir and starts the instances of @config_text */
static void
sim_stack_start(SimFixture *fx, const gchar *config_text)
{
	SimStack *stack = g_new0(SimStack, 1);
	g_autofree gchar *db = g_build_filename(fx->dir, "vestibule.db", NULL);
	g_autofree gchar *conf = g_build_filename(fx->dir, "vestibule.conf", NULL);
	const gchar *plugin_dir = g_getenv("VESTIBULE_PLUGIN_DIR");
	const gchar *dirs[] = {plugin_dir, NULL};
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) unloadable =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(GHashTable) resolved = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_null(fx->stack);
	g_assert_nonnull(plugin_dir);
	if (config_text != NULL) {
		g_free(fx->config_text);
		fx->config_text = g_strdup(config_text);
	}
	g_assert_true(g_file_set_contents(conf, fx->config_text, -1, NULL));

	stack->store = vb_store_new();
	g_assert_true(vb_store_open(stack->store, db, &error));
	g_assert_no_error(error);
	stack->bus = vb_bus_new(NULL);
	stack->metrics = vb_metrics_new();
	stack->http = vb_http_server_new(stack->store, stack->metrics);
	g_assert_true(vb_http_server_listen_control(stack->http, fx->socket_path, 0600, &error));
	g_assert_no_error(error);
	stack->context = vb_context_new(stack->bus, stack->store, stack->http, stack->metrics);
	stack->host = vb_host_new(stack->context);
	stack->config = vb_config_new();
	g_assert_true(vb_config_load(stack->config, conf, &error));
	g_assert_no_error(error);
	g_assert_true(vb_config_validate(stack->config, warnings, &error));
	g_assert_no_error(error);
	g_assert_true(vb_host_set_config(stack->host, stack->config, &error));
	g_assert_no_error(error);

	stack->loader = vb_plugin_loader_new(stack->context, dirs);
	resolved =
	    vb_plugin_loader_resolve(stack->loader, stack->config, unloadable, warnings, &error);
	g_assert_no_error(error);
	g_assert_nonnull(resolved);
	g_assert_cmpuint(g_hash_table_size(unloadable), ==, 0);
	for (guint i = 0; i < warnings->len; i++)
		g_test_message("config warning: %s", (const gchar *)g_ptr_array_index(warnings, i));
	g_assert_cmpuint(warnings->len, ==, 0);
	stack->event_handler = g_signal_connect(stack->bus, "event", G_CALLBACK(sim_event_cb), fx);
	vb_plugin_loader_start(stack->loader, stack->config, resolved, unloadable);
	fx->stack = stack;
}

/* stops the instances and drops the whole stack; the directory stays */
static void
sim_stack_stop(SimFixture *fx)
{
	SimStack *stack = fx->stack;

	if (stack == NULL)
		return;
	vb_plugin_loader_stop(stack->loader);
	g_clear_object(&stack->loader);
	g_clear_signal_handler(&stack->event_handler, stack->bus);
	vb_http_server_disconnect(stack->http);
	g_clear_object(&stack->host);
	g_clear_object(&stack->context);
	g_clear_object(&stack->config);
	g_clear_object(&stack->http);
	g_clear_object(&stack->metrics);
	g_clear_object(&stack->bus);
	vb_store_close(stack->store);
	g_clear_object(&stack->store);
	g_clear_pointer(&fx->stack, g_free);
}

/* what a daemon restart does to the plugins: a new stack on the same files */
static void
sim_stack_restart(SimFixture *fx)
{
	sim_stack_stop(fx);
	sim_stack_start(fx, NULL);
}

static void
sim_teardown(SimFixture *fx, gconstpointer data)
{
	g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", fx->dir);

	sim_stack_stop(fx);
	for (guint i = 0; sim_log_domains[i] != NULL; i++)
		g_log_remove_handler(sim_log_domains[i],
				     GPOINTER_TO_UINT(g_ptr_array_index(fx->log_handlers, i)));
	g_ptr_array_unref(fx->log_handlers);
	g_ptr_array_unref(fx->events);
	g_ptr_array_unref(fx->logs);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(fx->config_text);
	g_free(fx->socket_path);
	g_free(fx->dir);
}

static VbPlugin *
sim_instance(SimFixture *fx, const gchar *name)
{
	VbPlugin *plugin = vb_plugin_loader_get_instance(fx->stack->loader, name);

	g_assert_nonnull(plugin);
	return plugin;
}

/* the status the instance shows in `vestibulectl plugins` */
static GVariant *
sim_status(SimFixture *fx, const gchar *name)
{
	g_autoptr(GVariant) inst = vb_plugin_to_variant(sim_instance(fx, name));
	return g_variant_lookup_value(inst, "status", G_VARIANT_TYPE_VARDICT);
}

static guint64
sim_status_uint(SimFixture *fx, const gchar *name, const gchar *key)
{
	g_autoptr(GVariant) status = sim_status(fx, name);
	g_autoptr(GVariant) value = g_variant_lookup_value(status, key, NULL);

	g_assert_nonnull(value);
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32))
		return g_variant_get_uint32(value);
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_INT64))
		return (guint64)g_variant_get_int64(value);
	return g_variant_get_uint64(value);
}

static gboolean
sim_status_bool(SimFixture *fx, const gchar *name, const gchar *key)
{
	g_autoptr(GVariant) status = sim_status(fx, name);
	gboolean value = FALSE;

	g_assert_true(g_variant_lookup(status, key, "b", &value));
	return value;
}

static guint
sim_count_events(SimFixture *fx, const gchar *name, const gchar *source)
{
	guint n = 0;

	for (guint i = 0; i < fx->events->len; i++) {
		VbEvent *event = g_ptr_array_index(fx->events, i);
		if (g_strcmp0(vb_event_get_name(event), name) == 0 &&
		    (source == NULL || g_strcmp0(vb_event_get_source(event), source) == 0))
			n++;
	}
	return n;
}

static VbEvent *
sim_last_event(SimFixture *fx, const gchar *name)
{
	for (guint i = fx->events->len; i > 0; i--) {
		VbEvent *event = g_ptr_array_index(fx->events, i - 1);
		if (g_strcmp0(vb_event_get_name(event), name) == 0)
			return event;
	}
	g_error("no %s event", name);
	return NULL;
}

static gboolean
sim_flag_cb(gpointer user_data)
{
	gboolean *flag = user_data;
	*flag = TRUE;
	return G_SOURCE_REMOVE;
}

/* turns the main loop for @ms */
static void
sim_run_for(guint ms)
{
	gboolean elapsed = FALSE;
	g_autoptr(GSource) source = g_timeout_source_new(ms);

	g_source_set_callback(source, sim_flag_cb, &elapsed, NULL);
	g_source_attach(source, NULL);
	while (!elapsed)
		g_main_context_iteration(NULL, TRUE);
}

/* turns the main loop until *@flag is set, failing after TEST_WAIT_MS */
static void
sim_run_until(gboolean *flag)
{
	gboolean timed_out = FALSE;
	g_autoptr(GSource) source = g_timeout_source_new(TEST_WAIT_MS);

	g_source_set_callback(source, sim_flag_cb, &timed_out, NULL);
	g_source_attach(source, NULL);
	while (!*flag && !timed_out)
		g_main_context_iteration(NULL, TRUE);
	g_source_destroy(source);
	g_assert_false(timed_out);
}

/* turns the main loop until @n events named @name were delivered */
static void
sim_run_until_events(SimFixture *fx, const gchar *name, guint n)
{
	gint64 deadline = g_get_monotonic_time() + TEST_WAIT_MS * G_TIME_SPAN_MILLISECOND;

	while (sim_count_events(fx, name, NULL) < n) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		sim_run_for(10);
	}
}

/* a request on the control socket, as vestibulectl makes it: the client blocks
 * in a thread of its own while this thread serves */
typedef struct {
	const gchar *socket_path;
	const gchar *method;
	const gchar *path;
	const gchar *body;
	JsonNode *reply;
	GError *error;
	gint done;
} SimCtlCall;

static gpointer
sim_ctl_thread(gpointer user_data)
{
	SimCtlCall *call = user_data;
	g_autoptr(GMainContext) context = g_main_context_new();
	VbCtlClient *client;
	g_autoptr(JsonNode) body = NULL;

	g_main_context_push_thread_default(context);
	client = vb_ctl_client_new(call->socket_path);
	if (call->body != NULL)
		body = json_from_string(call->body, &call->error);
	if (call->error == NULL)
		call->reply =
		    vb_ctl_client_request(client, call->method, call->path, body, &call->error);
	g_object_unref(client);
	g_main_context_pop_thread_default(context);
	g_atomic_int_set(&call->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

static JsonNode *
sim_ctl(SimFixture *fx, const gchar *method, const gchar *path, const gchar *body, GError **error)
{
	SimCtlCall call = {fx->socket_path, method, path, body, NULL, NULL, 0};
	GThread *thread = g_thread_new("test-ctl", sim_ctl_thread, &call);

	while (!g_atomic_int_get(&call.done))
		g_main_context_iteration(NULL, TRUE);
	g_thread_join(thread);
	if (call.error != NULL)
		g_propagate_error(error, call.error);
	return call.reply;
}

static JsonObject *
sim_ctl_ok(SimFixture *fx,
	   JsonNode **keep,
	   const gchar *method,
	   const gchar *path,
	   const gchar *body)
{
	g_autoptr(GError) error = NULL;

	g_clear_pointer(keep, json_node_unref);
	*keep = sim_ctl(fx, method, path, body, &error);
	g_assert_no_error(error);
	g_assert_nonnull(*keep);
	return json_node_get_object(*keep);
}

/* the holds the processor keeps, newest first, as `vestibulectl sim holds` lists them */
static JsonArray *
sim_holds(SimFixture *fx, JsonNode **keep)
{
	JsonObject *obj = sim_ctl_ok(fx, keep, "GET", "/v1/sim/pay/holds", NULL);
	return json_object_get_array_member(obj, "holds");
}

/* --- sim-payment --- */

#define PAY_CONFIG "[services]\npayment=pay\n[instance:pay]\nplugin=sim-payment\n"

typedef struct {
	gboolean done;
	gboolean ok;
	VbPaymentResult result;
	GError *error;
} PayCall;

static void
pay_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	PayCall *call = user_data;

	call->ok = vb_payment_processor_execute_finish(VB_PAYMENT_PROCESSOR(source), res,
						       &call->result, &call->error);
	call->done = TRUE;
}

static gboolean
pay_request(SimFixture *fx,
	    const VbPaymentRequest *request,
	    GCancellable *cancellable,
	    VbPaymentResult *out,
	    GError **error)
{
	VbPaymentProcessor *processor = VB_PAYMENT_PROCESSOR(sim_instance(fx, "pay"));
	PayCall call = {0};

	vb_payment_processor_execute_async(processor, request, cancellable, pay_done_cb, &call);
	sim_run_until(&call.done);
	if (!call.ok) {
		g_assert_nonnull(call.error);
		g_propagate_error(error, call.error);
		return FALSE;
	}
	*out = call.result;
	return TRUE;
}

/* an authorization under @reference, in euros */
static gboolean
pay_authorize_for(SimFixture *fx,
		  const gchar *key,
		  const gchar *reference,
		  const gchar *card_token,
		  gint64 amount,
		  VbPaymentResult *out,
		  GError **error)
{
	VbPaymentRequest request = {
	    .op = VB_PAYMENT_OP_AUTHORIZE,
	    .idempotency_key = key,
	    .reference = reference,
	    .card_token = card_token,
	    .amount = amount,
	    .currency = "EUR",
	};
	return pay_request(fx, &request, NULL, out, error);
}

/* an authorization for visit-1, in euros */
static gboolean
pay_authorize(SimFixture *fx,
	      const gchar *key,
	      const gchar *card_token,
	      gint64 amount,
	      VbPaymentResult *out,
	      GError **error)
{
	return pay_authorize_for(fx, key, "visit-1", card_token, amount, out, error);
}

/* an adjust, capture or cancel of the hold @psp */
static gboolean
pay_modify(SimFixture *fx,
	   VbPaymentOp op,
	   const gchar *key,
	   const gchar *psp,
	   gint64 amount,
	   VbPaymentResult *out,
	   GError **error)
{
	VbPaymentRequest request = {
	    .op = op,
	    .idempotency_key = key,
	    .psp_reference = psp,
	    .amount = amount,
	    .currency = "EUR",
	};
	return pay_request(fx, &request, NULL, out, error);
}

static void
assert_approved(const VbPaymentResult *result, gint64 amount)
{
	if (result->status != VB_PAYMENT_STATUS_APPROVED)
		g_error("expected approval, got a decline: %s", result->reason);
	g_assert_cmpint(result->amount, ==, amount);
	g_assert_cmpstr(result->reason, ==, "");
}

static void
assert_declined(const VbPaymentResult *result, const gchar *reason)
{
	g_assert_cmpint(result->status, ==, VB_PAYMENT_STATUS_DECLINED);
	g_assert_cmpstr(result->reason, ==, reason);
}

static void
assert_psp_reference(const gchar *psp)
{
	g_assert_cmpuint(strlen(psp), ==, 16);
	for (const gchar *p = psp; *p != '\0'; p++)
		g_assert_true(g_ascii_isupper(*p) || g_ascii_isdigit(*p));
}

/* the hold @psp as the processor lists it */
static JsonObject *
hold_find(JsonArray *holds, const gchar *psp)
{
	for (guint i = 0; i < json_array_get_length(holds); i++) {
		JsonObject *hold = json_array_get_object_element(holds, i);
		if (g_strcmp0(json_object_get_string_member(hold, "psp-reference"), psp) == 0)
			return hold;
	}
	g_error("no hold %s", psp);
	return NULL;
}

static void
assert_hold(SimFixture *fx,
	    const gchar *psp,
	    const gchar *state,
	    gint64 authorized,
	    gint64 captured)
{
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *hold = hold_find(sim_holds(fx, &keep), psp);

	g_assert_cmpstr(json_object_get_string_member(hold, "state"), ==, state);
	g_assert_cmpint(json_object_get_int_member(hold, "authorized"), ==, authorized);
	g_assert_cmpint(json_object_get_int_member(hold, "captured"), ==, captured);
}

static void
test_payment_authorize_approved(SimFixture *fx, gconstpointer data)
{
	VbPaymentResult result = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) keep = NULL;
	g_autofree gchar *holds_text = NULL;
	JsonArray *holds;
	JsonObject *hold;

	sim_stack_start(fx, PAY_CONFIG);
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 5000, &result, &error));
	g_assert_no_error(error);
	assert_approved(&result, 5000);
	assert_psp_reference(result.psp_reference);

	/* the hold, without the card token */
	holds = sim_holds(fx, &keep);
	g_assert_cmpuint(json_array_get_length(holds), ==, 1);
	hold = json_array_get_object_element(holds, 0);
	g_assert_cmpstr(json_object_get_string_member(hold, "psp-reference"), ==,
			result.psp_reference);
	g_assert_cmpstr(json_object_get_string_member(hold, "reference"), ==, "visit-1");
	g_assert_cmpstr(json_object_get_string_member(hold, "currency"), ==, "EUR");
	g_assert_cmpstr(json_object_get_string_member(hold, "state"), ==, "authorized");
	g_assert_cmpint(json_object_get_int_member(hold, "authorized"), ==, 5000);
	g_assert_cmpint(json_object_get_int_member(hold, "captured"), ==, 0);
	g_assert_false(json_object_has_member(hold, "card-token"));
	holds_text = json_to_string(keep, FALSE);
	g_assert_null(strstr(holds_text, "tok-alice"));
	g_assert_cmpuint(sim_status_uint(fx, "pay", "approved"), ==, 1);
}

static void
test_payment_same_key_same_answer(SimFixture *fx, gconstpointer data)
{
	VbPaymentResult first = {0};
	VbPaymentResult again = {0};
	VbPaymentResult other = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) keep = NULL;

	sim_stack_start(fx, PAY_CONFIG);
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 5000, &first, &error));
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 5000, &again, &error));
	g_assert_no_error(error);
	/* a retry gets the first answer, and no second hold is placed */
	assert_approved(&again, 5000);
	g_assert_cmpstr(again.psp_reference, ==, first.psp_reference);
	g_assert_cmpuint(json_array_get_length(sim_holds(fx, &keep)), ==, 1);
	g_assert_cmpuint(sim_status_uint(fx, "pay", "approved"), ==, 1);

	/* the same key for another request is a mistake of the caller */
	g_assert_false(pay_authorize(fx, "auth-1", "tok-alice", 7000, &other, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_CONFLICT);
	assert_contains(error->message, "the idempotency key auth-1 was already used");
	g_clear_error(&error);
	g_assert_false(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "auth-1", first.psp_reference, 5000,
				  &other, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_CONFLICT);
	g_clear_error(&error);
	g_assert_cmpuint(json_array_get_length(sim_holds(fx, &keep)), ==, 1);
	assert_hold(fx, first.psp_reference, "authorized", 5000, 0);

	/* a new key is a new hold */
	g_assert_true(pay_authorize(fx, "auth-2", "tok-alice", 5000, &other, &error));
	g_assert_cmpstr(other.psp_reference, !=, first.psp_reference);
	g_assert_cmpuint(json_array_get_length(sim_holds(fx, &keep)), ==, 2);
}

/* a cancel by the merchant reference alone */
static gboolean
pay_cancel_by_reference(SimFixture *fx,
			const gchar *key,
			const gchar *reference,
			VbPaymentResult *out,
			GError **error)
{
	VbPaymentRequest request = {
	    .op = VB_PAYMENT_OP_CANCEL_BY_REFERENCE,
	    .idempotency_key = key,
	    .reference = reference,
	};
	return pay_request(fx, &request, NULL, out, error);
}

static void
test_payment_cancel_by_reference(SimFixture *fx, gconstpointer data)
{
	VbPaymentProcessor *processor;
	VbPaymentResult auth = {0};
	VbPaymentResult other = {0};
	VbPaymentResult result = {0};
	VbPaymentResult late = {0};
	g_autoptr(GError) error = NULL;

	sim_stack_start(fx, PAY_CONFIG);
	processor = VB_PAYMENT_PROCESSOR(sim_instance(fx, "pay"));
	g_assert_cmpint(vb_payment_processor_get_capabilities(processor), ==,
			VB_PAYMENT_CAPABILITY_CANCEL_BY_REFERENCE);

	/* the hold placed under the reference is released, nothing else */
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 5000, &auth, &error));
	g_assert_no_error(error);
	g_assert_true(pay_authorize_for(fx, "auth-2", "visit-2", "tok-bob", 5000, &other, &error));
	g_assert_no_error(error);
	g_assert_true(pay_cancel_by_reference(fx, "void-1", "visit-1", &result, &error));
	g_assert_no_error(error);
	assert_approved(&result, 0);
	g_assert_cmpstr(result.psp_reference, ==, auth.psp_reference);
	assert_hold(fx, auth.psp_reference, "cancelled", 5000, 0);
	assert_hold(fx, other.psp_reference, "authorized", 5000, 0);

	/* a reference that holds nothing: approved all the same, and an
	 * authorization under it arriving afterwards does not stand */
	g_assert_true(pay_cancel_by_reference(fx, "void-3", "visit-3", &result, &error));
	g_assert_no_error(error);
	assert_approved(&result, 0);
	g_assert_cmpstr(result.psp_reference, ==, "");
	g_assert_true(pay_authorize_for(fx, "auth-3", "visit-3", "tok-carol", 5000, &late, &error));
	g_assert_no_error(error);
	assert_declined(&late, "Cancelled by reference");
	assert_hold(fx, late.psp_reference, "declined", 0, 0);

	/* a captured hold is not released, and says so */
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-2", other.psp_reference, 4000,
				 &result, &error));
	g_assert_true(pay_cancel_by_reference(fx, "void-2", "visit-2", &result, &error));
	g_assert_no_error(error);
	assert_declined(&result, "already captured");
	assert_hold(fx, other.psp_reference, "captured", 5000, 4000);

	/* a retry with the same key gets the same answer */
	g_assert_true(pay_cancel_by_reference(fx, "void-1", "visit-1", &result, &error));
	assert_approved(&result, 0);
	g_assert_cmpstr(result.psp_reference, ==, auth.psp_reference);

	/* it needs the reference */
	g_assert_false(pay_cancel_by_reference(fx, "void-4", "", &result, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	assert_contains(error->message, "needs the merchant reference");
}

static void
test_payment_no_cancel_by_reference(SimFixture *fx, gconstpointer data)
{
	VbPaymentProcessor *processor;
	VbPaymentResult result = {0};
	g_autoptr(GError) error = NULL;

	sim_stack_start(fx, PAY_CONFIG "cancel-by-reference=false\n");
	processor = VB_PAYMENT_PROCESSOR(sim_instance(fx, "pay"));
	/* a processor that cannot is never asked, and refuses if it is */
	g_assert_cmpint(vb_payment_processor_get_capabilities(processor), ==,
			VB_PAYMENT_CAPABILITY_NONE);
	g_assert_false(pay_cancel_by_reference(fx, "void-1", "visit-1", &result, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
}

static void
test_payment_capture_twice_never_charges_twice(SimFixture *fx, gconstpointer data)
{
	VbPaymentResult auth = {0};
	VbPaymentResult result = {0};
	g_autoptr(GError) error = NULL;

	sim_stack_start(fx, PAY_CONFIG);
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 5000, &auth, &error));
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-1", auth.psp_reference, 4200,
				 &result, &error));
	g_assert_no_error(error);
	assert_approved(&result, 4200);
	g_assert_cmpstr(result.psp_reference, ==, auth.psp_reference);
	assert_hold(fx, auth.psp_reference, "captured", 5000, 4200);

	/* a second capture, under another key, is refused: the shopper pays once */
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-2", auth.psp_reference, 4200,
				 &result, &error));
	assert_declined(&result, "already captured");
	g_assert_cmpint(result.amount, ==, 4200);
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-3", auth.psp_reference, 100,
				 &result, &error));
	assert_declined(&result, "already captured");
	/* the retry of the first capture replays its approval, it does not charge again */
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-1", auth.psp_reference, 4200,
				 &result, &error));
	assert_approved(&result, 4200);
	assert_hold(fx, auth.psp_reference, "captured", 5000, 4200);
	/* nor can the captured hold be released or changed any more */
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CANCEL, "cancel-1", auth.psp_reference, 0,
				 &result, &error));
	assert_declined(&result, "already captured");
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_ADJUST, "adj-1", auth.psp_reference, 6000,
				 &result, &error));
	assert_declined(&result, "hold is captured");
	g_assert_no_error(error);
	assert_hold(fx, auth.psp_reference, "captured", 5000, 4200);
}

static void
test_payment_capture_above_authorized(SimFixture *fx, gconstpointer data)
{
	VbPaymentResult auth = {0};
	VbPaymentResult result = {0};
	g_autoptr(GError) error = NULL;

	sim_stack_start(fx, PAY_CONFIG);
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 1000, &auth, &error));
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-1", auth.psp_reference, 1001,
				 &result, &error));
	g_assert_no_error(error);
	assert_declined(&result, "amount exceeds authorisation");
	assert_hold(fx, auth.psp_reference, "authorized", 1000, 0);
	/* the hold is still there to capture what it covers */
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-2", auth.psp_reference, 1000,
				 &result, &error));
	assert_approved(&result, 1000);
	assert_hold(fx, auth.psp_reference, "captured", 1000, 1000);
}

static void
test_payment_adjust_then_capture(SimFixture *fx, gconstpointer data)
{
	VbPaymentResult auth = {0};
	VbPaymentResult result = {0};
	g_autoptr(GError) error = NULL;

	sim_stack_start(fx, PAY_CONFIG "adjust-limit=3000\n");
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 1000, &auth, &error));
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_ADJUST, "adj-1", auth.psp_reference, 2500,
				 &result, &error));
	g_assert_no_error(error);
	assert_approved(&result, 2500);
	assert_hold(fx, auth.psp_reference, "authorized", 2500, 0);
	/* over the limit, the hold keeps its amount */
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_ADJUST, "adj-2", auth.psp_reference, 4000,
				 &result, &error));
	assert_declined(&result, "amount above the adjustment limit");
	g_assert_cmpint(result.amount, ==, 2500);
	assert_hold(fx, auth.psp_reference, "authorized", 2500, 0);
	/* more than the first authorization can now be captured */
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-1", auth.psp_reference, 2500,
				 &result, &error));
	assert_approved(&result, 2500);
	assert_hold(fx, auth.psp_reference, "captured", 2500, 2500);
}

static void
test_payment_cancel(SimFixture *fx, gconstpointer data)
{
	VbPaymentResult auth = {0};
	VbPaymentResult result = {0};
	g_autoptr(GError) error = NULL;

	sim_stack_start(fx, PAY_CONFIG);
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 3000, &auth, &error));
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CANCEL, "cancel-1", auth.psp_reference, 0,
				 &result, &error));
	g_assert_no_error(error);
	assert_approved(&result, 0);
	assert_hold(fx, auth.psp_reference, "cancelled", 3000, 0);
	/* a released hold cannot be captured; releasing it again changes nothing */
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-1", auth.psp_reference, 3000,
				 &result, &error));
	assert_declined(&result, "hold is cancelled");
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CANCEL, "cancel-2", auth.psp_reference, 0,
				 &result, &error));
	assert_approved(&result, 0);
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_ADJUST, "adj-1", auth.psp_reference, 2000,
				 &result, &error));
	assert_declined(&result, "hold is cancelled");
	assert_hold(fx, auth.psp_reference, "cancelled", 3000, 0);

	/* a hold the processor never placed */
	g_assert_false(pay_modify(fx, VB_PAYMENT_OP_CANCEL, "cancel-3", "NOSUCHHOLD000000", 0,
				  &result, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
	assert_contains(error->message, "there is no hold NOSUCHHOLD000000");
}

static void
test_payment_declines(SimFixture *fx, gconstpointer data)
{
	VbPaymentResult result = {0};
	VbPaymentResult capture = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *obj;

	sim_stack_start(fx, PAY_CONFIG "decline-tokens=tok-stolen;tok-expired\n"
				       "decline-above=10000\n");
	/* a card the processor refuses: declined, with a reference of its own */
	g_assert_true(pay_authorize(fx, "auth-1", "tok-stolen", 5000, &result, &error));
	g_assert_no_error(error);
	assert_declined(&result, "Refused");
	g_assert_cmpint(result.amount, ==, 0);
	assert_psp_reference(result.psp_reference);
	assert_hold(fx, result.psp_reference, "declined", 0, 0);
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-1", result.psp_reference, 5000,
				 &capture, &error));
	assert_declined(&capture, "hold is declined");
	/* cancelling a declined hold already has the outcome asked for */
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CANCEL, "cancel-1", result.psp_reference, 0,
				 &capture, &error));
	assert_approved(&capture, 0);
	g_assert_true(pay_authorize(fx, "auth-2", "tok-expired", 5000, &result, &error));
	assert_declined(&result, "Refused");

	/* too much for the card */
	g_assert_true(pay_authorize(fx, "auth-3", "tok-alice", 10001, &result, &error));
	assert_declined(&result, "Not enough balance");
	g_assert_true(pay_authorize(fx, "auth-4", "tok-alice", 10000, &result, &error));
	assert_approved(&result, 10000);
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_ADJUST, "adj-1", result.psp_reference, 12000,
				 &capture, &error));
	assert_declined(&capture, "Not enough balance");

	/* the next authorization declined on demand, then approvals again */
	obj = sim_ctl_ok(fx, &keep, "POST", "/v1/sim/pay/decline", "{\"next\": 1}");
	g_assert_cmpint(json_object_get_int_member(obj, "decline-next"), ==, 1);
	g_assert_true(pay_authorize(fx, "auth-5", "tok-alice", 100, &result, &error));
	assert_declined(&result, "Refused");
	/* its retry is the same decline, and uses no second one */
	g_assert_true(pay_authorize(fx, "auth-5", "tok-alice", 100, &result, &error));
	assert_declined(&result, "Refused");
	g_assert_true(pay_authorize(fx, "auth-6", "tok-alice", 100, &result, &error));
	assert_approved(&result, 100);
	g_assert_cmpuint(sim_status_uint(fx, "pay", "decline-next"), ==, 0);
	g_assert_cmpuint(sim_status_uint(fx, "pay", "declined"), ==, 6);
	g_assert_no_error(error);
}

static void
test_payment_outage_records_nothing(SimFixture *fx, gconstpointer data)
{
	VbPaymentResult auth = {0};
	VbPaymentResult result = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *obj;

	sim_stack_start(fx, PAY_CONFIG);
	obj = sim_ctl_ok(fx, &keep, "POST", "/v1/sim/pay/outage", "{\"down\": true}");
	g_assert_true(json_object_get_boolean_member(obj, "down"));
	g_assert_false(pay_authorize(fx, "auth-1", "tok-alice", 5000, &result, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_UNREACHABLE);
	assert_contains(error->message, "nothing was done");
	g_clear_error(&error);
	g_assert_cmpuint(json_array_get_length(sim_holds(fx, &keep)), ==, 0);

	/* back up, the same key goes through: nothing was kept under it */
	obj = sim_ctl_ok(fx, &keep, "POST", "/v1/sim/pay/outage", "{\"down\": false}");
	g_assert_false(json_object_get_boolean_member(obj, "down"));
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 5000, &auth, &error));
	g_assert_no_error(error);
	assert_approved(&auth, 5000);
	g_assert_cmpuint(json_array_get_length(sim_holds(fx, &keep)), ==, 1);

	/* a capture during an outage does not capture */
	sim_ctl_ok(fx, &keep, "POST", "/v1/sim/pay/outage", "{\"down\": true}");
	g_assert_false(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-1", auth.psp_reference, 5000,
				  &result, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_UNREACHABLE);
	g_clear_error(&error);
	sim_ctl_ok(fx, &keep, "POST", "/v1/sim/pay/outage", "{\"down\": false}");
	assert_hold(fx, auth.psp_reference, "authorized", 5000, 0);

	/* bad control requests change nothing */
	g_assert_null(sim_ctl(fx, "POST", "/v1/sim/pay/outage", "{\"down\": \"yes\"}", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_clear_error(&error);
	g_assert_null(sim_ctl(fx, "POST", "/v1/sim/pay/decline", "{\"next\": 10001}", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_clear_error(&error);
	g_assert_cmpuint(sim_status_uint(fx, "pay", "decline-next"), ==, 0);
}

static void
test_payment_latency(SimFixture *fx, gconstpointer data)
{
	VbPaymentResult result = {0};
	g_autoptr(GError) error = NULL;
	gint64 start;

	sim_stack_start(fx, PAY_CONFIG "latency-ms=200\n");
	start = g_get_monotonic_time();
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 5000, &result, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 200 * G_TIME_SPAN_MILLISECOND);
	assert_approved(&result, 5000);
	/* a replay takes the processor as long */
	start = g_get_monotonic_time();
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 5000, &result, &error));
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 200 * G_TIME_SPAN_MILLISECOND);
}

static gboolean
cancel_cb(gpointer user_data)
{
	g_cancellable_cancel(G_CANCELLABLE(user_data));
	return G_SOURCE_REMOVE;
}

static void
test_payment_cancelled_before_answer(SimFixture *fx, gconstpointer data)
{
	VbPaymentRequest request = {
	    .op = VB_PAYMENT_OP_AUTHORIZE,
	    .idempotency_key = "auth-1",
	    .reference = "visit-1",
	    .card_token = "tok-alice",
	    .amount = 5000,
	    .currency = "EUR",
	};
	VbPaymentResult result = {0};
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autoptr(GSource) source = g_timeout_source_new(50);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) keep = NULL;
	gint64 start;

	sim_stack_start(fx, PAY_CONFIG "latency-ms=300\n");
	g_source_set_callback(source, cancel_cb, cancellable, NULL);
	g_source_attach(source, NULL);
	start = g_get_monotonic_time();
	g_assert_false(pay_request(fx, &request, cancellable, &result, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_clear_error(&error);
	/* answered when cancelled, not when the processor would have */
	g_assert_cmpint(g_get_monotonic_time() - start, <, 300 * G_TIME_SPAN_MILLISECOND);

	/* and the processor did nothing, then or later */
	sim_run_for(400);
	g_assert_cmpuint(json_array_get_length(sim_holds(fx, &keep)), ==, 0);
	g_assert_cmpuint(sim_status_uint(fx, "pay", "pending"), ==, 0);
	g_assert_cmpuint(sim_status_uint(fx, "pay", "approved"), ==, 0);

	/* already cancelled: nothing starts */
	g_assert_false(pay_request(fx, &request, cancellable, &result, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_clear_error(&error);

	/* the retry goes through under the same key */
	g_assert_true(pay_request(fx, &request, NULL, &result, &error));
	g_assert_no_error(error);
	assert_approved(&result, 5000);
	g_assert_cmpuint(json_array_get_length(sim_holds(fx, &keep)), ==, 1);
}

static void
test_payment_pending_at_stop(SimFixture *fx, gconstpointer data)
{
	VbPaymentRequest request = {
	    .op = VB_PAYMENT_OP_AUTHORIZE,
	    .idempotency_key = "auth-1",
	    .reference = "visit-1",
	    .card_token = "tok-alice",
	    .amount = 5000,
	    .currency = "EUR",
	};
	VbPaymentResult result = {0};
	VbPaymentProcessor *processor;
	PayCall call = {0};
	g_autoptr(GError) error = NULL;

	sim_stack_start(fx, PAY_CONFIG "latency-ms=10000\n");
	processor = VB_PAYMENT_PROCESSOR(sim_instance(fx, "pay"));
	vb_payment_processor_execute_async(processor, &request, NULL, pay_done_cb, &call);
	sim_run_for(50);
	g_assert_false(call.done);
	g_assert_cmpuint(sim_status_uint(fx, "pay", "pending"), ==, 1);

	/* stopping answers what is pending: unreachable, so it may be retried */
	vb_plugin_loader_stop(fx->stack->loader);
	sim_run_until(&call.done);
	g_assert_false(call.ok);
	g_assert_error(call.error, VB_ERROR, VB_ERROR_UNREACHABLE);
	assert_contains(call.error->message, "stopped before answering; nothing was done");
	g_clear_error(&call.error);
	/* a stopped processor takes nothing */
	g_assert_false(pay_request(fx, &request, NULL, &result, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_UNREACHABLE);
	assert_contains(error->message, "is not running");
	g_clear_error(&error);

	/* after a restart the retry is a first authorization */
	sim_stack_stop(fx);
	sim_stack_start(fx, PAY_CONFIG);
	g_assert_true(pay_request(fx, &request, NULL, &result, &error));
	g_assert_no_error(error);
	assert_approved(&result, 5000);
}

static void
test_payment_restart_keeps_answers(SimFixture *fx, gconstpointer data)
{
	VbPaymentResult auth = {0};
	VbPaymentResult result = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) keep = NULL;

	sim_stack_start(fx, PAY_CONFIG);
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 5000, &auth, &error));
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-1", auth.psp_reference, 4000,
				 &result, &error));
	g_assert_no_error(error);

	sim_stack_restart(fx);
	/* the answers are the stored ones, */
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 5000, &result, &error));
	g_assert_no_error(error);
	assert_approved(&result, 5000);
	g_assert_cmpstr(result.psp_reference, ==, auth.psp_reference);
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-1", auth.psp_reference, 4000,
				 &result, &error));
	assert_approved(&result, 4000);
	/* the hold too, and the double-charge guard with it */
	g_assert_cmpuint(json_array_get_length(sim_holds(fx, &keep)), ==, 1);
	assert_hold(fx, auth.psp_reference, "captured", 5000, 4000);
	g_assert_true(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-2", auth.psp_reference, 4000,
				 &result, &error));
	assert_declined(&result, "already captured");
	g_assert_no_error(error);
}

static void
test_payment_bad_requests(SimFixture *fx, gconstpointer data)
{
	VbPaymentRequest request = {
	    .op = VB_PAYMENT_OP_AUTHORIZE,
	    .idempotency_key = "",
	    .reference = "visit-1",
	    .card_token = "tok-alice",
	    .amount = 5000,
	    .currency = "EUR",
	};
	VbPaymentResult result = {0};
	VbPaymentResult auth = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) keep = NULL;

	sim_stack_start(fx, PAY_CONFIG);
	g_assert_false(pay_request(fx, &request, NULL, &result, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	assert_contains(error->message, "idempotency key");
	g_clear_error(&error);
	g_assert_false(pay_authorize(fx, "auth-1", "tok-alice", 0, &result, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	assert_contains(error->message, "must be positive");
	g_clear_error(&error);
	g_assert_false(pay_authorize(fx, "auth-1", "", 100, &result, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	assert_contains(error->message, "card token");
	g_clear_error(&error);
	request.idempotency_key = "auth-1";
	request.currency = "eur";
	g_assert_false(pay_request(fx, &request, NULL, &result, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	assert_contains(error->message, "ISO 4217");
	g_clear_error(&error);
	g_assert_false(pay_modify(fx, VB_PAYMENT_OP_CAPTURE, "cap-1", NULL, 100, &result, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	assert_contains(error->message, "PSP reference");
	g_clear_error(&error);

	/* a capture in another currency than the hold's */
	g_assert_true(pay_authorize(fx, "auth-1", "tok-alice", 100, &auth, &error));
	request.op = VB_PAYMENT_OP_CAPTURE;
	request.idempotency_key = "cap-1";
	request.psp_reference = auth.psp_reference;
	request.amount = 100;
	request.currency = "USD";
	g_assert_false(pay_request(fx, &request, NULL, &result, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	assert_contains(error->message, "is in EUR, not in USD");
	g_clear_error(&error);
	/* none of them left a trace */
	g_assert_cmpuint(json_array_get_length(sim_holds(fx, &keep)), ==, 1);
	assert_hold(fx, auth.psp_reference, "authorized", 100, 0);
}

/* --- log-sms --- */

typedef struct {
	gboolean done;
	gchar *message_id;
	GError *error;
} SmsCall;

static void
sms_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	SmsCall *call = user_data;

	call->message_id = vb_sms_provider_send_finish(VB_SMS_PROVIDER(source), res, &call->error);
	call->done = TRUE;
}

static gchar *
sms_send(SimFixture *fx, const gchar *to, const gchar *body, const gchar *key, GError **error)
{
	VbSmsMessage message = {.to = to, .body = body, .idempotency_key = key};
	SmsCall call = {0};

	vb_sms_provider_send_async(VB_SMS_PROVIDER(sim_instance(fx, "sms")), &message, NULL,
				   sms_done_cb, &call);
	sim_run_until(&call.done);
	if (call.message_id == NULL) {
		g_assert_nonnull(call.error);
		g_propagate_error(error, call.error);
	}
	return call.message_id;
}

static gchar *
sms_outbox_path(SimFixture *fx)
{
	return g_build_filename(fx->dir, "outbox.jsonl", NULL);
}

static gchar *
sms_config(SimFixture *fx, const gchar *extra)
{
	g_autofree gchar *path = sms_outbox_path(fx);
	return g_strdup_printf("[services]\nsms=sms\n[instance:sms]\nplugin=log-sms\npath=%s\n%s",
			       path, extra != NULL ? extra : "");
}

/* the handset: one JSON object per line of the file */
static GPtrArray *
sms_outbox(SimFixture *fx)
{
	g_autofree gchar *path = sms_outbox_path(fx);
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) lines = NULL;
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);

	if (!g_file_get_contents(path, &contents, NULL, NULL))
		return out;
	/* every line is complete */
	g_assert_true(contents[0] == '\0' || g_str_has_suffix(contents, "\n"));
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		JsonNode *node;
		if (lines[i][0] == '\0')
			continue;
		node = json_from_string(lines[i], &error);
		g_assert_no_error(error);
		g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
		g_ptr_array_add(out, node);
	}
	return out;
}

static JsonObject *
line_at(GPtrArray *lines, guint i)
{
	g_assert_cmpuint(i, <, lines->len);
	return json_node_get_object(g_ptr_array_index(lines, i));
}

static gboolean
sim_logs_contain(SimFixture *fx, const gchar *needle)
{
	for (guint i = 0; i < fx->logs->len; i++) {
		if (strstr(g_ptr_array_index(fx->logs, i), needle) != NULL)
			return TRUE;
	}
	return FALSE;
}

static void
test_sms_send_one_line(SimFixture *fx, gconstpointer data)
{
	g_autofree gchar *config = sms_config(fx, NULL);
	g_autofree gchar *path = sms_outbox_path(fx);
	g_autofree gchar *id = NULL;
	g_autofree gchar *hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, TEST_PHONE, -1);
	g_autofree gchar *log_line = NULL;
	g_autofree gchar *contents = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GDateTime) time = NULL;
	VbEvent *status;
	JsonObject *line;
	struct stat st;

	sim_stack_start(fx, config);
	id = sms_send(fx, TEST_PHONE, "Your code is 123456", "otp-1", &error);
	g_assert_no_error(error);
	g_assert_true(g_str_has_prefix(id, "SM"));
	g_assert_cmpuint(strlen(id), ==, 34);

	/* the handset has the full text; the number is masked, told apart by its hash */
	lines = sms_outbox(fx);
	g_assert_cmpuint(lines->len, ==, 1);
	line = line_at(lines, 0);
	g_assert_cmpstr(json_object_get_string_member(line, "id"), ==, id);
	g_assert_cmpstr(json_object_get_string_member(line, "to"), ==, TEST_PHONE_MASKED);
	hash[16] = '\0';
	g_assert_cmpstr(json_object_get_string_member(line, "to-hash"), ==, hash);
	g_assert_cmpstr(json_object_get_string_member(line, "body"), ==, "Your code is 123456");
	g_assert_cmpstr(json_object_get_string_member(line, "idempotency-key"), ==, "otp-1");
	time = g_date_time_new_from_iso8601(json_object_get_string_member(line, "time"), NULL);
	g_assert_nonnull(time);
	g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
	g_assert_null(strstr(contents, TEST_PHONE));
	g_assert_null(strstr(contents, TEST_PHONE_NATIONAL));

	/* private to the daemon */
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	/* delivered, says the provider */
	g_assert_cmpuint(sim_count_events(fx, "sms-status", "sms"), ==, 1);
	status = sim_last_event(fx, "sms-status");
	g_assert_cmpstr(vb_event_lookup_string(status, "message-id"), ==, id);
	g_assert_cmpstr(vb_event_lookup_string(status, "state"), ==, "delivered");

	/* the log has the masked number and no code */
	log_line =
	    g_strdup_printf("log-sms: SMS %s to " TEST_PHONE_MASKED ": Your code is ••••", id);
	g_assert_true(sim_logs_contain(fx, log_line));
	g_assert_false(sim_logs_contain(fx, "123456"));
	g_assert_false(sim_logs_contain(fx, TEST_PHONE));
	g_assert_cmpuint(sim_status_uint(fx, "sms", "sent"), ==, 1);
}

static void
test_sms_same_key_once(SimFixture *fx, gconstpointer data)
{
	g_autofree gchar *config = sms_config(fx, NULL);
	g_autofree gchar *first = NULL;
	g_autofree gchar *again = NULL;
	g_autofree gchar *other = NULL;
	g_autofree gchar *third = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(GError) error = NULL;

	sim_stack_start(fx, config);
	first = sms_send(fx, TEST_PHONE, "Your code is 123456", "otp-1", &error);
	again = sms_send(fx, TEST_PHONE, "Your code is 123456", "otp-1", &error);
	g_assert_no_error(error);
	/* a retry is the same message, sent once */
	g_assert_cmpstr(again, ==, first);
	lines = sms_outbox(fx);
	g_assert_cmpuint(lines->len, ==, 1);
	g_assert_cmpuint(sim_count_events(fx, "sms-status", NULL), ==, 1);
	g_assert_cmpuint(sim_status_uint(fx, "sms", "sent"), ==, 1);

	/* a new key is a new message; the same recipient, the same hash */
	other = sms_send(fx, TEST_PHONE, "Your code is 654321", "otp-2", &error);
	third = sms_send(fx, TEST_PHONE2, "Welcome", NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(other, !=, first);
	g_assert_cmpstr(third, !=, other);
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = sms_outbox(fx);
	g_assert_cmpuint(lines->len, ==, 3);
	g_assert_cmpstr(json_object_get_string_member(line_at(lines, 1), "body"), ==,
			"Your code is 654321");
	g_assert_cmpstr(json_object_get_string_member(line_at(lines, 0), "to-hash"), ==,
			json_object_get_string_member(line_at(lines, 1), "to-hash"));
	g_assert_cmpstr(json_object_get_string_member(line_at(lines, 1), "to-hash"), !=,
			json_object_get_string_member(line_at(lines, 2), "to-hash"));
	g_assert_true(json_object_get_null_member(line_at(lines, 2), "idempotency-key"));
	g_assert_cmpuint(sim_count_events(fx, "sms-status", NULL), ==, 3);

	/* and still after a restart */
	sim_stack_restart(fx);
	g_clear_pointer(&again, g_free);
	again = sms_send(fx, TEST_PHONE, "Your code is 123456", "otp-1", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(again, ==, first);
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = sms_outbox(fx);
	g_assert_cmpuint(lines->len, ==, 3);
}

/* a crash between writing a message and recording its key: the message is
 * in the handset file only. The next start reads the file once, and the
 * retry of that key is not sent again, nor is the key recorded only now */
static void
test_sms_written_not_recorded(SimFixture *fx, gconstpointer data)
{
	g_autofree gchar *config = sms_config(fx, NULL);
	g_autofree gchar *path = sms_outbox_path(fx);
	g_autofree gchar *again = NULL;
	g_autofree gchar *other = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *written =
	    "{\"id\":\"SMcrash1\",\"to\":\"+33 6\",\"to-hash\":\"00\",\"body\":\"Your code "
	    "is 123456\",\"idempotency-key\":\"otp-9\",\"time\":\"2026-01-01T00:00:00Z\"}\n";

	g_assert_true(
	    g_file_set_contents_full(path, written, -1, G_FILE_SET_CONTENTS_NONE, 0600, NULL));
	sim_stack_start(fx, config);
	again = sms_send(fx, TEST_PHONE, "Your code is 123456", "otp-9", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(again, ==, "SMcrash1");
	g_assert_cmpuint(sim_status_uint(fx, "sms", "sent"), ==, 0);

	/* a new key is sent, once */
	other = sms_send(fx, TEST_PHONE, "Your code is 654321", "otp-10", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(other, !=, "SMcrash1");
	g_assert_cmpuint(sim_status_uint(fx, "sms", "sent"), ==, 1);
	g_clear_pointer(&again, g_free);
	again = sms_send(fx, TEST_PHONE, "Your code is 654321", "otp-10", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(again, ==, other);
	g_assert_cmpuint(sim_status_uint(fx, "sms", "sent"), ==, 1);
	lines = sms_outbox(fx);
	g_assert_cmpuint(lines->len, ==, 2);
	g_assert_cmpstr(json_object_get_string_member(line_at(lines, 1), "id"), ==, other);
}

static void
test_sms_outage_sends_nothing(SimFixture *fx, gconstpointer data)
{
	g_autofree gchar *config = sms_config(fx, NULL);
	g_autofree gchar *id = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *obj;

	sim_stack_start(fx, config);
	obj = sim_ctl_ok(fx, &keep, "POST", "/v1/sim/sms/outage", "{\"down\": true}");
	g_assert_true(json_object_get_boolean_member(obj, "down"));
	g_assert_null(sms_send(fx, TEST_PHONE, "Your code is 123456", "otp-1", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_UNREACHABLE);
	assert_contains(error->message, "nothing was sent");
	g_clear_error(&error);
	lines = sms_outbox(fx);
	g_assert_cmpuint(lines->len, ==, 0);
	g_assert_cmpuint(sim_count_events(fx, "sms-status", NULL), ==, 0);
	g_assert_true(sim_status_bool(fx, "sms", "down"));

	/* back up, the outbox's retry under the same key is sent, once */
	sim_ctl_ok(fx, &keep, "POST", "/v1/sim/sms/outage", "{\"down\": false}");
	id = sms_send(fx, TEST_PHONE, "Your code is 123456", "otp-1", &error);
	g_assert_no_error(error);
	g_assert_nonnull(id);
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = sms_outbox(fx);
	g_assert_cmpuint(lines->len, ==, 1);
	g_assert_cmpuint(sim_count_events(fx, "sms-status", NULL), ==, 1);
}

static void
test_sms_bad_messages(SimFixture *fx, gconstpointer data)
{
	g_autofree gchar *config = sms_config(fx, NULL);
	g_autofree gchar *long_body = g_strnfill(1601, 'a');
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(GError) error = NULL;

	sim_stack_start(fx, config);
	g_assert_null(sms_send(fx, "0612345678", "hello", "k-1", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	assert_contains(error->message, "E.164");
	g_clear_error(&error);
	g_assert_null(sms_send(fx, TEST_PHONE, "", "k-2", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_clear_error(&error);
	g_assert_null(sms_send(fx, TEST_PHONE, long_body, "k-3", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_TOO_LARGE);
	g_clear_error(&error);
	g_assert_null(sms_send(fx, TEST_PHONE, "bad \xff utf-8", "k-4", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_clear_error(&error);
	g_assert_null(sms_send(fx, TEST_PHONE, "hello", "", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_clear_error(&error);
	lines = sms_outbox(fx);
	g_assert_cmpuint(lines->len, ==, 0);
	g_assert_cmpuint(sim_count_events(fx, "sms-status", NULL), ==, 0);
}

static void
test_sms_private_file(SimFixture *fx, gconstpointer data)
{
	g_autofree gchar *config = sms_config(fx, NULL);
	g_autofree gchar *path = sms_outbox_path(fx);
	g_autofree gchar *id = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(GError) error = NULL;
	struct stat st;

	/* a file left readable by others, with a message already in it */
	g_assert_true(g_file_set_contents(path, "{\"id\":\"SMold\",\"body\":\"old\"}\n", -1, NULL));
	g_assert_cmpint(g_chmod(path, 0644), ==, 0);
	sim_stack_start(fx, config);
	g_assert_cmpint(vb_plugin_get_state(sim_instance(fx, "sms")), ==, VB_PLUGIN_STATE_RUNNING);
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	/* messages are appended */
	id = sms_send(fx, TEST_PHONE, "hello", "k-1", &error);
	g_assert_no_error(error);
	lines = sms_outbox(fx);
	g_assert_cmpuint(lines->len, ==, 2);
	g_assert_cmpstr(json_object_get_string_member(line_at(lines, 0), "id"), ==, "SMold");
	g_assert_cmpstr(json_object_get_string_member(line_at(lines, 1), "id"), ==, id);
}

static void
test_sms_relative_path(SimFixture *fx, gconstpointer data)
{
	VbPlugin *sms;

	sim_stack_start(fx, "[instance:sms]\nplugin=log-sms\npath=outbox.jsonl\n");
	sms = sim_instance(fx, "sms");
	/* the instance is out, and says why */
	g_assert_cmpint(vb_plugin_get_state(sms), ==, VB_PLUGIN_STATE_DISABLED);
	assert_contains(vb_plugin_get_error(sms),
			"path in [instance:sms] must be an absolute file name");
}

static void
test_sms_pending_at_stop(SimFixture *fx, gconstpointer data)
{
	g_autofree gchar *config = sms_config(fx, "latency-ms=10000\n");
	VbSmsMessage message = {.to = TEST_PHONE, .body = "hello", .idempotency_key = "k-1"};
	SmsCall call = {0};
	g_autoptr(GPtrArray) lines = NULL;

	sim_stack_start(fx, config);
	vb_sms_provider_send_async(VB_SMS_PROVIDER(sim_instance(fx, "sms")), &message, NULL,
				   sms_done_cb, &call);
	sim_run_for(50);
	g_assert_false(call.done);
	g_assert_cmpuint(sim_status_uint(fx, "sms", "pending"), ==, 1);
	vb_plugin_loader_stop(fx->stack->loader);
	sim_run_until(&call.done);
	g_assert_null(call.message_id);
	g_assert_error(call.error, VB_ERROR, VB_ERROR_UNREACHABLE);
	assert_contains(call.error->message, "stopped before sending; nothing was sent");
	g_clear_error(&call.error);
	lines = sms_outbox(fx);
	g_assert_cmpuint(lines->len, ==, 0);
}

/* --- sim-lock --- */

static void
test_lock_unlock_pulse_relocks(SimFixture *fx, gconstpointer data)
{
	VbDoorLock *lock;
	VbEvent *event;
	g_autoptr(GError) error = NULL;
	gint64 duration = 0;
	gint64 start;

	sim_stack_start(fx, "[door:front]\nlock=front-lock\n"
			    "[instance:front-lock]\nplugin=sim-lock\n");
	lock = VB_DOOR_LOCK(sim_instance(fx, "front-lock"));
	/* the defined state at start */
	g_assert_true(vb_door_lock_is_locked(lock));
	g_assert_cmpint(vb_door_lock_get_door_state(lock), ==, VB_DOOR_STATE_CLOSED);

	start = g_get_monotonic_time();
	g_assert_true(vb_door_lock_unlock(lock, 100, &error));
	g_assert_no_error(error);
	g_assert_false(vb_door_lock_is_locked(lock));
	event = sim_last_event(fx, "door-unlocked");
	g_assert_cmpstr(vb_event_get_source(event), ==, "front-lock");
	g_assert_cmpstr(vb_event_get_door(event), ==, "front");
	g_assert_true(vb_event_lookup_int64(event, "duration-ms", &duration));
	g_assert_cmpint(duration, ==, 100);
	g_assert_cmpuint(sim_count_events(fx, "door-locked", NULL), ==, 0);

	/* the strike engages again after the pulse */
	sim_run_until_events(fx, "door-locked", 1);
	event = sim_last_event(fx, "door-locked");
	g_assert_cmpint(vb_event_get_monotonic_time(event) - start, >=,
			100 * G_TIME_SPAN_MILLISECOND);
	g_assert_cmpstr(vb_event_get_door(event), ==, "front");
	g_assert_true(vb_door_lock_is_locked(lock));

	/* a pulse of 0 holds it open until told */
	g_assert_true(vb_door_lock_unlock(lock, 0, &error));
	sim_run_for(300);
	g_assert_false(vb_door_lock_is_locked(lock));
	g_assert_cmpuint(sim_count_events(fx, "door-locked", NULL), ==, 1);
	g_assert_true(vb_door_lock_lock(lock, &error));
	g_assert_true(vb_door_lock_is_locked(lock));
	g_assert_cmpuint(sim_count_events(fx, "door-locked", NULL), ==, 2);
	/* locking a locked door says nothing */
	g_assert_true(vb_door_lock_lock(lock, &error));
	g_assert_cmpuint(sim_count_events(fx, "door-locked", NULL), ==, 2);

	/* a new pulse replaces the running one */
	g_assert_true(vb_door_lock_unlock(lock, 100, &error));
	g_assert_true(vb_door_lock_unlock(lock, 400, &error));
	sim_run_for(250);
	g_assert_false(vb_door_lock_is_locked(lock));
	sim_run_until_events(fx, "door-locked", 3);
	g_assert_true(vb_door_lock_is_locked(lock));
	g_assert_no_error(error);
}

static void
test_lock_locked_at_stop(SimFixture *fx, gconstpointer data)
{
	VbDoorLock *secure;
	VbDoorLock *safe;
	g_autoptr(GVariant) status = NULL;
	const gchar *mode = NULL;
	g_autoptr(GError) error = NULL;

	sim_stack_start(fx, "[instance:lock-secure]\nplugin=sim-lock\n"
			    "[instance:lock-safe]\nplugin=sim-lock\nfail-mode=fail-safe\n");
	secure = VB_DOOR_LOCK(sim_instance(fx, "lock-secure"));
	safe = VB_DOOR_LOCK(sim_instance(fx, "lock-safe"));
	status = sim_status(fx, "lock-safe");
	g_assert_true(g_variant_lookup(status, "fail-mode", "&s", &mode));
	g_assert_cmpstr(mode, ==, "fail-safe");

	/* one lock in the middle of a pulse, one held open */
	g_assert_true(vb_door_lock_unlock(secure, 200, &error));
	g_assert_true(vb_door_lock_unlock(safe, 0, &error));
	g_assert_no_error(error);
	vb_plugin_loader_stop(fx->stack->loader);

	/* a daemon that stops in order leaves both doors locked */
	g_assert_true(vb_door_lock_is_locked(secure));
	g_assert_true(vb_door_lock_is_locked(safe));
	g_assert_cmpuint(sim_count_events(fx, "door-locked", "lock-secure"), ==, 1);
	g_assert_cmpuint(sim_count_events(fx, "door-locked", "lock-safe"), ==, 1);
	/* and no timer of theirs fires later */
	sim_run_for(400);
	g_assert_cmpuint(sim_count_events(fx, "door-locked", NULL), ==, 2);
	g_assert_true(vb_door_lock_is_locked(secure));
}

static void
test_lock_bad_fail_mode(SimFixture *fx, gconstpointer data)
{
	VbPlugin *lock;
	VbEvent *event;

	sim_stack_start(fx, "[instance:front-lock]\nplugin=sim-lock\nfail-mode=fail-open\n");
	lock = sim_instance(fx, "front-lock");
	g_assert_cmpint(vb_plugin_get_state(lock), ==, VB_PLUGIN_STATE_DISABLED);
	assert_contains(vb_plugin_get_error(lock),
			"fail-mode in [instance:front-lock] is 'fail-open'; use fail-secure or "
			"fail-safe");
	event = sim_last_event(fx, "plugin-state");
	g_assert_cmpstr(vb_event_lookup_string(event, "state"), ==, "disabled");
}

/* --- console --- */

#define CONSOLE_CONFIG                                                                             \
	"[door:front]\ndisplay=front-display\nkeypad=front-keypad\n"                               \
	"[instance:front-display]\nplugin=console\noutput=log\n"                                   \
	"[instance:front-keypad]\nplugin=sim-keypad\n"

static void
assert_screen(SimFixture *fx, const gchar *prompt_id, const gchar *text)
{
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *obj = sim_ctl_ok(fx, &keep, "GET", "/v1/sim/front-display/screen", NULL);

	if (prompt_id == NULL)
		g_assert_true(json_object_get_null_member(obj, "prompt-id"));
	else
		g_assert_cmpstr(json_object_get_string_member(obj, "prompt-id"), ==, prompt_id);
	g_assert_cmpstr(json_object_get_string_member(obj, "text"), ==, text);
}

static void
test_console_show_and_screen(SimFixture *fx, gconstpointer data)
{
	VbDisplay *display;
	g_autoptr(GVariant) status = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *prompt_id = NULL;
	guint64 prompts = 0;

	sim_stack_start(fx, CONSOLE_CONFIG);
	display = VB_DISPLAY(sim_instance(fx, "front-display"));
	assert_screen(fx, NULL, "");

	g_assert_true(
	    vb_display_show(display, "enter-phone", "Please type your phone number", &error));
	g_assert_no_error(error);
	assert_screen(fx, "enter-phone", "Please type your phone number");
	g_assert_true(sim_logs_contain(fx, "console: front: [enter-phone] Please type your phone "
					   "number"));
	status = sim_status(fx, "front-display");
	g_assert_true(g_variant_lookup(status, "prompt-id", "&s", &prompt_id));
	g_assert_true(g_variant_lookup(status, "prompts", "t", &prompts));
	g_assert_cmpstr(prompt_id, ==, "enter-phone");
	g_assert_cmpuint(prompts, ==, 1);

	/* shown as given, but nothing moves the terminal's cursor */
	g_assert_true(vb_display_show(
	    display, "code-sent", "Code sent to " TEST_PHONE_MASKED "\nType it\x1b[2J\a", &error));
	assert_screen(fx, "code-sent", "Code sent to " TEST_PHONE_MASKED "\nType it [2J ");
	g_assert_true(sim_logs_contain(
	    fx, "console: front: [code-sent] Code sent to " TEST_PHONE_MASKED " Type it [2J "));

	/* a prompt needs a name; a refused one leaves the screen as it was */
	g_assert_false(vb_display_show(display, "", "text", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_clear_error(&error);
	assert_screen(fx, "code-sent", "Code sent to " TEST_PHONE_MASKED "\nType it [2J ");

	vb_display_clear(display);
	assert_screen(fx, NULL, "");
	g_assert_true(sim_logs_contain(fx, "console: front: idle"));
}

static void
test_keypad_active_in_status(SimFixture *fx, gconstpointer data)
{
	VbKeypad *keypad;
	g_autoptr(GVariant) status = NULL;
	gboolean active = TRUE;

	sim_stack_start(fx, CONSOLE_CONFIG);
	keypad = VB_KEYPAD(sim_instance(fx, "front-keypad"));
	status = sim_status(fx, "front-keypad");
	g_assert_true(g_variant_lookup(status, "active", "b", &active));
	g_assert_false(active);
	/* the core lights the keypad when it wants input */
	vb_keypad_set_active(keypad, TRUE);
	g_clear_pointer(&status, g_variant_unref);
	status = sim_status(fx, "front-keypad");
	g_assert_true(g_variant_lookup(status, "active", "b", &active));
	g_assert_true(active);
}

static void
test_keypad_keys_on_the_bus(SimFixture *fx, gconstpointer data)
{
	const gchar *expected[] = {"0", "6", "enter", "erase", "*", "#", "9", "cancel"};
	g_autoptr(JsonNode) keep = NULL;
	g_autoptr(GError) error = NULL;
	guint n = 0;

	sim_stack_start(fx, CONSOLE_CONFIG);
	sim_ctl_ok(fx, &keep, "POST", "/v1/sim/front-keypad/keys",
		   "{\"keys\": [\"0\", \"6\", \"enter\", \"erase\", \"*\", \"#\"]}");
	/* none of a request with an unknown key reaches the visit logic */
	g_assert_null(
	    sim_ctl(fx, "POST", "/v1/sim/front-keypad/keys", "{\"keys\": [\"1\", \"A\"]}", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	assert_contains(error->message, "unknown key 'A'");
	sim_ctl_ok(fx, &keep, "POST", "/v1/sim/front-keypad/keys",
		   "{\"keys\": [\"9\", \"cancel\"]}");

	/* each key as pressed, in order, for the front door */
	for (guint i = 0; i < fx->events->len; i++) {
		VbEvent *event = g_ptr_array_index(fx->events, i);
		if (g_strcmp0(vb_event_get_name(event), VB_EVENT_KEYPAD_KEY) != 0)
			continue;
		g_assert_cmpuint(n, <, G_N_ELEMENTS(expected));
		g_assert_cmpstr(vb_event_lookup_string(event, VB_KEY_KEY), ==, expected[n]);
		g_assert_cmpstr(vb_event_get_door(event), ==, "front");
		g_assert_cmpstr(vb_event_get_source(event), ==, "front-keypad");
		n++;
	}
	g_assert_cmpuint(n, ==, G_N_ELEMENTS(expected));
}

static void
test_console_frame_on_stdout(void)
{
	SimFixture fx = {0};

	if (g_test_subprocess()) {
		VbDisplay *display;
		sim_setup(&fx, NULL);
		sim_stack_start(&fx, "[door:front]\ndisplay=front-display\n"
				     "[instance:front-display]\nplugin=console\n");
		display = VB_DISPLAY(sim_instance(&fx, "front-display"));
		g_assert_true(vb_display_show(display, "enter-phone",
					      "Please type your phone number\nthen press enter",
					      NULL));
		vb_display_clear(display);
		sim_teardown(&fx, NULL);
		return;
	}
	/* what the demo shows on the daemon's terminal */
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
	g_test_trap_assert_stdout("*┌ front ─ enter-phone\n"
				  "│ Please type your phone number\n"
				  "│ then press enter\n"
				  "└\n"
				  "┌ front ─ idle\n"
				  "└\n*");
}

static void
add_sim_test(const gchar *path, void (*func)(SimFixture *, gconstpointer))
{
	g_test_add(path, SimFixture, NULL, sim_setup, func, sim_teardown);
}

int
main(int argc, char **argv)
{
	/* as vestibuled does: the console prints its frames in the locale's charset */
	setlocale(LC_ALL, "");
	g_test_init(&argc, &argv, NULL);
	/* operator warnings are expected here; criticals stay fatal */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

	/* through the daemon, as the demo and an operator drive it */
	g_test_add_func("/sim/keypad/keys-in-order", test_keypad_keys_in_order);
	g_test_add_func("/sim/keypad/unknown-key-presses-none",
			test_keypad_unknown_key_presses_none);
	g_test_add_func("/sim/lock/forced-open-alarm", test_lock_forced_open_alarm);
	g_test_add_func("/sim/lock/held-open-alarm", test_lock_held_open_alarm);
	g_test_add_func("/sim/reader/absent-refuses-taps", test_reader_absent_refuses_taps);
	g_test_add_func("/sim/reader/uid-needs-allow-uid", test_reader_uid_needs_allow_uid);
	g_test_add_func("/sim/reader/card-leaves-field", test_reader_card_leaves_field);
	g_test_add_func("/sim/reader/no-card-token-key", test_reader_no_card_token_key);
	g_test_add_func("/sim/console/screen-idle", test_console_screen_idle);
	g_test_add_func("/sim/routes/control-socket-only", test_routes_control_socket_only);
	g_test_add_func("/sim/sms/inbound-masked", test_sms_inbound_masked);
	g_test_add_func("/sim/sms/inbound-bad-sender", test_sms_inbound_bad_sender);
	g_test_add_func("/sim/vestibulectl/sim", test_ctl_sim);
	g_test_add_func("/sim/vestibulectl/status-last-read", test_ctl_status_last_read);

	/* in process, through the role interfaces, as the visit logic calls them */
	add_sim_test("/sim/payment/authorize-approved", test_payment_authorize_approved);
	add_sim_test("/sim/payment/same-key-same-answer", test_payment_same_key_same_answer);
	add_sim_test("/sim/payment/capture-twice-never-charges-twice",
		     test_payment_capture_twice_never_charges_twice);
	add_sim_test("/sim/payment/capture-above-authorized-declined",
		     test_payment_capture_above_authorized);
	add_sim_test("/sim/payment/adjust-then-capture", test_payment_adjust_then_capture);
	add_sim_test("/sim/payment/cancel", test_payment_cancel);
	add_sim_test("/sim/payment/cancel-by-reference", test_payment_cancel_by_reference);
	add_sim_test("/sim/payment/no-cancel-by-reference", test_payment_no_cancel_by_reference);
	add_sim_test("/sim/payment/declines", test_payment_declines);
	add_sim_test("/sim/payment/outage-records-nothing", test_payment_outage_records_nothing);
	add_sim_test("/sim/payment/latency", test_payment_latency);
	add_sim_test("/sim/payment/cancelled-before-answer", test_payment_cancelled_before_answer);
	add_sim_test("/sim/payment/pending-at-stop", test_payment_pending_at_stop);
	add_sim_test("/sim/payment/restart-keeps-answers", test_payment_restart_keeps_answers);
	add_sim_test("/sim/payment/bad-requests", test_payment_bad_requests);
	add_sim_test("/sim/sms/send-one-line", test_sms_send_one_line);
	add_sim_test("/sim/sms/same-key-once", test_sms_same_key_once);
	add_sim_test("/sim/sms/written-not-recorded", test_sms_written_not_recorded);
	add_sim_test("/sim/sms/outage-sends-nothing", test_sms_outage_sends_nothing);
	add_sim_test("/sim/sms/bad-messages", test_sms_bad_messages);
	add_sim_test("/sim/sms/private-file", test_sms_private_file);
	add_sim_test("/sim/sms/relative-path-refused", test_sms_relative_path);
	add_sim_test("/sim/sms/pending-at-stop", test_sms_pending_at_stop);
	add_sim_test("/sim/lock/unlock-pulse-relocks", test_lock_unlock_pulse_relocks);
	add_sim_test("/sim/lock/locked-at-stop", test_lock_locked_at_stop);
	add_sim_test("/sim/lock/bad-fail-mode", test_lock_bad_fail_mode);
	add_sim_test("/sim/console/show-and-screen", test_console_show_and_screen);
	add_sim_test("/sim/keypad/keys-on-the-bus", test_keypad_keys_on_the_bus);
	add_sim_test("/sim/keypad/active-in-status", test_keypad_active_in_status);
	g_test_add_func("/sim/console/frame-on-stdout", test_console_frame_on_stdout);
	return g_test_run();
}
