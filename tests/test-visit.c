/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "vb-error.h"
#include "vb-test-daemon.h"

/* vestibulectl, run as an operator would */
#define run_ctl(d, out, ...) vb_test_daemon_run_ctl(d, out, NULL, __VA_ARGS__)

/*
 * The visit, end to end: vestibuled runs the simulated store and the tests
 * play the shopper (taps, keys, the door, SMS replies), the store's
 * recognition system (orders on the public listener) and the operator (the
 * control socket). They assert what each of them would see: the door's
 * screen, the lock, the lines of the SMS file (which plays the handsets), the
 * visit and its timeline, the holds at the processor, the HTTP answers.
 */

/* Luhn-valid numbers that appear nowhere else */
#define PAN_A "4970107301234564"
#define PAN_A_SHOWN                                                                                \
	"497010\xe2\x80\xa2\xe2\x80\xa2"                                                           \
	"4564"
#define PAN_B "5377992017654320"
#define PAN_B_SHOWN                                                                                \
	"537799\xe2\x80\xa2\xe2\x80\xa2"                                                           \
	"4320"
#define PAN_C "4970107309876549"
#define PAN_D "5377992086420868"

/* French numbers from the range ARCEP keeps for fiction (06 39 98 xx xx),
 * as a shopper types them on the keypad, and in E.164 */
#define PHONE_A_TYPED "0639981234"
#define PHONE_A "+33639981234"
#define PHONE_A_NSN "639981234"
#define PHONE_A_MASKED                                                                             \
	"+33 6\xe2\x80\xa2\xe2\x80\xa2 \xe2\x80\xa2\xe2\x80\xa2 \xe2\x80\xa2\xe2\x80\xa2 34"
#define PHONE_B_TYPED "0639985678"
#define PHONE_B "+33639985678"
#define PHONE_B_NSN "639985678"
#define OPERATOR_PHONE "+33639980001"
#define OPERATOR_CONTACT "help@vestibule-test.example"

#define HOLD 5000
/* what the handset shows when the door closes behind an English shopper */
#define NOTICE_EN                                                                                  \
	"Test store: a purchase was made with your card. Your itemized receipt follows by SMS "    \
	"within a few hours. Reply to this message with any question."
/* and for a French one */
#define NOTICE_FR                                                                                  \
	"Test store : un achat a \xc3\xa9t\xc3\xa9 fait avec votre carte. Votre re\xc3\xa7u "      \
	"d\xc3\xa9taill\xc3\xa9 suivra par SMS d'ici quelques heures. R\xc3\xa9pondez \xc3\xa0 "   \
	"ce "                                                                                      \
	"message pour toute question."
/* no wait may hang a run */
#define WAIT_MS 8000

/* the settings every test starts from; each test adds its own drop-in */
#define BASE_DROP_IN                                                                               \
	"[vestibule]\n"                                                                            \
	"operator-contact=" OPERATOR_CONTACT "\n"                                                  \
	"[visit]\n"                                                                                \
	"hold-amount=5000\n"

#define NO_CODE "[visit]\nverify-phone=false\n"
/* the processor takes its time: a hold or a capture is in flight for 1.5 s */
#define LATENCY_DROP_IN "[instance:pay]\nlatency-ms=1500\n"

/* ------------------------------------------------------------------------ */
/* the daemon and its control socket                                        */
/* ------------------------------------------------------------------------ */

static VbTestDaemon *
daemon_new(const gchar *drop_in)
{
	VbTestDaemon *d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;

	vb_test_daemon_write_drop_in(d, "40-base.conf", BASE_DROP_IN);
	if (drop_in != NULL)
		vb_test_daemon_write_drop_in(d, "50-test.conf", drop_in);
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start: %s", error->message);
	return d;
}

static void
daemon_restart(VbTestDaemon *d)
{
	g_autoptr(GError) error = NULL;

	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start again: %s", error->message);
}

static JsonNode *
ctl(VbTestDaemon *d, const gchar *method, const gchar *path, const gchar *body)
{
	g_autoptr(GError) error = NULL;
	JsonNode *node = vb_test_daemon_ctl(d, method, path, body, &error);

	if (node == NULL)
		g_error("%s %s: %s", method, path, error != NULL ? error->message : "no answer");
	return node;
}

/* the daemon refuses: returns the VB_ERROR code */
static gint
ctl_refused(VbTestDaemon *d, const gchar *method, const gchar *path, const gchar *body)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = vb_test_daemon_ctl(d, method, path, body, &error);

	g_assert_null(node);
	g_assert_nonnull(error);
	g_assert_true(error->domain == VB_ERROR);
	return error->code;
}

static void
assert_contains(const gchar *haystack, const gchar *needle)
{
	if (haystack == NULL || strstr(haystack, needle) == NULL)
		g_error("expected '%s' in: %s", needle, haystack != NULL ? haystack : "(null)");
}

static void
assert_not_contains(const gchar *haystack, const gchar *needle)
{
	if (haystack != NULL && strstr(haystack, needle) != NULL)
		g_error("did not expect '%s' in: %s", needle, haystack);
}

static gint64
wait_deadline(void)
{
	return g_get_monotonic_time() + WAIT_MS * G_TIME_SPAN_MILLISECOND;
}

static void
nap(void)
{
	g_usleep(20 * G_TIME_SPAN_MILLISECOND);
}

/* ------------------------------------------------------------------------ */
/* the shopper at the door                                                   */
/* ------------------------------------------------------------------------ */

static void
tap(VbTestDaemon *d, const gchar *pan, const gchar *language)
{
	g_autofree gchar *body =
	    language != NULL
		? g_strdup_printf("{\"pan\": \"%s\", \"language\": \"%s\"}", pan, language)
		: g_strdup_printf("{\"pan\": \"%s\"}", pan);
	g_autoptr(JsonNode) answer = ctl(d, "POST", "/v1/sim/front-reader/tap", body);

	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(answer), "status"), ==,
			"presented");
}

/* @spec: words separated by spaces; a run of digits is one key per digit */
static void
press(VbTestDaemon *d, const gchar *spec)
{
	g_auto(GStrv) words = g_strsplit(spec, " ", -1);
	g_autoptr(GString) body = g_string_new("{\"keys\": [");
	g_autoptr(JsonNode) answer = NULL;
	guint n = 0;

	for (guint i = 0; words[i] != NULL; i++) {
		if (words[i][0] == '\0')
			continue;
		if (g_ascii_isdigit(words[i][0])) {
			for (const gchar *p = words[i]; *p != '\0'; p++)
				g_string_append_printf(body, "%s\"%c\"", n++ > 0 ? ", " : "", *p);
		} else {
			g_string_append_printf(body, "%s\"%s\"", n++ > 0 ? ", " : "", words[i]);
		}
	}
	g_string_append(body, "]}");
	answer = ctl(d, "POST", "/v1/sim/front-keypad/keys", body->str);
	g_assert_cmpint(json_object_get_int_member(json_node_get_object(answer), "pressed"), ==, n);
}

/* the prompt id on the door's screen (NULL when idle), and its text */
static gchar *
screen(VbTestDaemon *d, gchar **text)
{
	g_autoptr(JsonNode) node = ctl(d, "GET", "/v1/sim/front-display/screen", NULL);
	JsonObject *obj = json_node_get_object(node);
	JsonNode *id = json_object_get_member(obj, "prompt-id");

	if (text != NULL)
		*text = g_strdup(json_object_get_string_member(obj, "text"));
	return id != NULL && !JSON_NODE_HOLDS_NULL(id) ? g_strdup(json_node_get_string(id)) : NULL;
}

/* waits for @prompt_id on the screen; returns the text shown */
static gchar *
wait_screen(VbTestDaemon *d, const gchar *prompt_id)
{
	gint64 deadline = wait_deadline();

	for (;;) {
		g_autofree gchar *text = NULL;
		g_autofree gchar *id = screen(d, &text);
		if (g_strcmp0(id, prompt_id) == 0)
			return g_steal_pointer(&text);
		if (g_get_monotonic_time() > deadline)
			g_error("waited for the screen to show '%s'; it shows '%s': %s", prompt_id,
				id, text);
		nap();
	}
}

static gboolean
lock_locked(VbTestDaemon *d)
{
	g_autoptr(JsonNode) node = ctl(d, "GET", "/v1/sim/front-lock/state", NULL);
	return json_object_get_boolean_member(json_node_get_object(node), "locked");
}

static void
door(VbTestDaemon *d, const gchar *action)
{
	g_autofree gchar *body = g_strdup_printf("{\"action\": \"%s\"}", action);

	json_node_unref(ctl(d, "POST", "/v1/sim/front-lock/door", body));
}

/* how many events named @name the audit log holds */
static guint
count_events(VbTestDaemon *d, const gchar *name)
{
	g_autoptr(GPtrArray) events = vb_test_daemon_events(d, name);
	return events->len;
}

/* ------------------------------------------------------------------------ */
/* visits, as the operator sees them                                        */
/* ------------------------------------------------------------------------ */

/* the newest visit's id, from `vestibulectl visits` */
static gchar *
latest_visit(VbTestDaemon *d)
{
	g_autoptr(JsonNode) node = ctl(d, "GET", "/v1/visits?limit=1", NULL);
	JsonArray *visits = json_object_get_array_member(json_node_get_object(node), "visits");

	g_assert_cmpuint(json_array_get_length(visits), ==, 1);
	return g_strdup(
	    json_object_get_string_member(json_array_get_object_element(visits, 0), "id"));
}

static guint
count_visits(VbTestDaemon *d)
{
	g_autoptr(JsonNode) node = ctl(d, "GET", "/v1/visits", NULL);
	return json_array_get_length(
	    json_object_get_array_member(json_node_get_object(node), "visits"));
}

/* GET /v1/visits/ID: the visit with masked data and its timeline */
static JsonNode *
visit_get(VbTestDaemon *d, const gchar *id)
{
	g_autofree gchar *path = g_strdup_printf("/v1/visits/%s", id);
	return ctl(d, "GET", path, NULL);
}

static JsonObject *
visit_obj(JsonNode *node)
{
	JsonObject *obj = json_node_get_object(node);
	/* the visit itself, or wrapped in a "visit" member */
	if (json_object_has_member(obj, "visit") &&
	    JSON_NODE_HOLDS_OBJECT(json_object_get_member(obj, "visit")))
		return json_object_get_object_member(obj, "visit");
	return obj;
}

static const gchar *
visit_str(JsonNode *node, const gchar *key)
{
	return json_object_get_string_member_with_default(visit_obj(node), key, NULL);
}

static gint64
visit_int(JsonNode *node, const gchar *key)
{
	JsonObject *obj = visit_obj(node);
	if (!json_object_has_member(obj, key)) {
		g_autofree gchar *text = json_to_string(node, FALSE);
		g_error("the visit has no '%s': %s", key, text);
	}
	return json_object_get_int_member(obj, key);
}

static gchar *
visit_state(VbTestDaemon *d, const gchar *id)
{
	g_autoptr(JsonNode) node = visit_get(d, id);
	return g_strdup(visit_str(node, "state"));
}

/* waits for the visit to reach @state; returns the visit */
static JsonNode *
wait_visit_state(VbTestDaemon *d, const gchar *id, const gchar *state)
{
	gint64 deadline = wait_deadline();

	for (;;) {
		g_autoptr(JsonNode) node = visit_get(d, id);
		if (g_strcmp0(visit_str(node, "state"), state) == 0)
			return g_steal_pointer(&node);
		if (g_get_monotonic_time() > deadline) {
			g_autofree gchar *text = json_to_string(node, TRUE);
			g_error("waited for visit %s to be %s; it is: %s", id, state, text);
		}
		nap();
	}
}

static void
wait_state(VbTestDaemon *d, const gchar *id, const gchar *state)
{
	json_node_unref(wait_visit_state(d, id, state));
}

/* the timeline's states, oldest first, as one string: "identified enter-phone …" */
static gchar *
timeline_states(JsonNode *visit)
{
	JsonArray *timeline = json_object_get_array_member(visit_obj(visit), "timeline");
	g_autoptr(GString) out = g_string_new(NULL);

	g_assert_nonnull(timeline);
	for (guint i = 0; i < json_array_get_length(timeline); i++) {
		JsonObject *entry = json_array_get_object_element(timeline, i);
		g_assert_cmpint(json_object_get_int_member(entry, "time"), >, 0);
		g_string_append_printf(out, "%s%s", i > 0 ? " " : "",
				       json_object_get_string_member(entry, "state"));
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* how many timeline entries are @state with a detail containing @detail */
static guint
timeline_count(JsonNode *visit, const gchar *state, const gchar *detail)
{
	JsonArray *timeline = json_object_get_array_member(visit_obj(visit), "timeline");
	guint n = 0;

	for (guint i = 0; i < json_array_get_length(timeline); i++) {
		JsonObject *entry = json_array_get_object_element(timeline, i);
		const gchar *d = json_object_get_string_member_with_default(entry, "detail", NULL);
		if (g_strcmp0(json_object_get_string_member(entry, "state"), state) != 0)
			continue;
		if (detail == NULL || (d != NULL && strstr(d, detail) != NULL))
			n++;
	}
	return n;
}

/* the timeline has an entry @state whose detail contains @detail */
static gboolean
timeline_has(JsonNode *visit, const gchar *state, const gchar *detail)
{
	return timeline_count(visit, state, detail) > 0;
}

static void
assert_timeline_has(JsonNode *visit, const gchar *state, const gchar *detail)
{
	if (!timeline_has(visit, state, detail)) {
		g_autofree gchar *text = json_to_string(visit, TRUE);
		g_error("expected a timeline entry %s (%s) in: %s", state,
			detail != NULL ? detail : "any detail", text);
	}
}

/* ------------------------------------------------------------------------ */
/* the handsets: the SMS file                                                */
/* ------------------------------------------------------------------------ */

/* the messages to @e164, oldest first */
static GPtrArray *
sms_to(VbTestDaemon *d, const gchar *e164)
{
	g_autoptr(GPtrArray) all = vb_test_daemon_sms(d);
	g_autofree gchar *hash = vb_test_phone_hash(e164);
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);

	for (guint i = 0; i < all->len; i++) {
		JsonObject *line = json_node_get_object(g_ptr_array_index(all, i));
		if (g_strcmp0(json_object_get_string_member(line, "to-hash"), hash) == 0)
			g_ptr_array_add(out, json_node_ref(g_ptr_array_index(all, i)));
	}
	return out;
}

static guint
count_sms_to(VbTestDaemon *d, const gchar *e164)
{
	g_autoptr(GPtrArray) lines = sms_to(d, e164);
	return lines->len;
}

static guint
count_sms_all(VbTestDaemon *d)
{
	g_autoptr(GPtrArray) lines = vb_test_daemon_sms(d);
	return lines->len;
}

static const gchar *
sms_body(GPtrArray *lines, guint i)
{
	g_assert_cmpuint(i, <, lines->len);
	return json_object_get_string_member(json_node_get_object(g_ptr_array_index(lines, i)),
					     "body");
}

static const gchar *
sms_key(GPtrArray *lines, guint i)
{
	g_assert_cmpuint(i, <, lines->len);
	return json_object_get_string_member(json_node_get_object(g_ptr_array_index(lines, i)),
					     "idempotency-key");
}

/* waits until @e164 got at least @n messages */
static GPtrArray *
wait_sms(VbTestDaemon *d, const gchar *e164, guint n)
{
	gint64 deadline = wait_deadline();

	for (;;) {
		g_autoptr(GPtrArray) lines = sms_to(d, e164);
		if (lines->len >= n)
			return g_steal_pointer(&lines);
		if (g_get_monotonic_time() > deadline) {
			g_autofree gchar *log = vb_test_daemon_read_log(d);
			g_error("waited for message %u to %s; it has %u. The daemon's log:\n%s", n,
				e164, lines->len, log);
		}
		nap();
	}
}

/* the one run of exactly six digits in @body */
static gchar *
code_in(const gchar *body)
{
	g_autoptr(GRegex) regex = g_regex_new("(?<![0-9])[0-9]{6}(?![0-9])", 0, 0, NULL);
	g_autoptr(GMatchInfo) match = NULL;

	if (!g_regex_match(regex, body, 0, &match))
		g_error("no 6-digit code in the SMS: %s", body);
	return g_match_info_fetch(match, 0);
}

/* waits for a new message to @e164 (one not among the first @n_before) that
 * carries a code, as the shopper looks for it among their messages */
static gchar *
wait_code(VbTestDaemon *d, const gchar *e164, guint n_before, gchar **body_out)
{
	g_autoptr(GRegex) regex = g_regex_new("(?<![0-9])[0-9]{6}(?![0-9])", 0, 0, NULL);
	gint64 deadline = wait_deadline();

	for (;;) {
		g_autoptr(GPtrArray) lines = sms_to(d, e164);
		for (guint i = n_before; i < lines->len; i++) {
			g_autoptr(GMatchInfo) match = NULL;
			if (g_regex_match(regex, sms_body(lines, i), 0, &match)) {
				if (body_out != NULL)
					*body_out = g_strdup(sms_body(lines, i));
				return g_match_info_fetch(match, 0);
			}
		}
		if (g_get_monotonic_time() > deadline)
			g_error("no code reached %s; it has %u messages", e164, lines->len);
		nap();
	}
}

/* every line of the SMS file has its own idempotency key: nothing went twice */
static void
assert_sms_once_each(VbTestDaemon *d)
{
	g_autoptr(GPtrArray) all = vb_test_daemon_sms(d);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

	for (guint i = 0; i < all->len; i++) {
		const gchar *key = sms_key(all, i);
		g_assert_nonnull(key);
		if (g_hash_table_contains(seen, key))
			g_error("the message with idempotency key %s reached the handset twice",
				key);
		g_hash_table_add(seen, (gpointer)key);
	}
}

/* how many lines of the SMS file carry @key */
static guint
sms_count_key(VbTestDaemon *d, const gchar *key)
{
	g_autoptr(GPtrArray) all = vb_test_daemon_sms(d);
	guint n = 0;

	for (guint i = 0; i < all->len; i++)
		n += g_strcmp0(sms_key(all, i), key) == 0;
	return n;
}

/* ------------------------------------------------------------------------ */
/* the processor's holds                                                     */
/* ------------------------------------------------------------------------ */

static JsonNode *
holds_get(VbTestDaemon *d)
{
	return ctl(d, "GET", "/v1/sim/pay/holds?limit=1000", NULL);
}

static guint
holds_count(VbTestDaemon *d)
{
	g_autoptr(JsonNode) node = holds_get(d);
	return json_array_get_length(
	    json_object_get_array_member(json_node_get_object(node), "holds"));
}

/* the holds placed for @visit, newest first (each a copy to unref) */
static GPtrArray *
holds_for(VbTestDaemon *d, const gchar *visit)
{
	g_autoptr(JsonNode) node = holds_get(d);
	JsonArray *holds = json_object_get_array_member(json_node_get_object(node), "holds");
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);

	for (guint i = 0; i < json_array_get_length(holds); i++) {
		JsonNode *hold = json_array_get_element(holds, i);
		if (g_strcmp0(
			json_object_get_string_member(json_node_get_object(hold), "reference"),
			visit) == 0)
			g_ptr_array_add(out, json_node_copy(hold));
	}
	return out;
}

/* the one hold of @visit */
static JsonNode *
hold_of(VbTestDaemon *d, const gchar *visit)
{
	g_autoptr(GPtrArray) holds = holds_for(d, visit);

	if (holds->len != 1)
		g_error("visit %s has %u holds at the processor, expected one", visit, holds->len);
	return json_node_ref(g_ptr_array_index(holds, 0));
}

static const gchar *
hold_str(JsonNode *hold, const gchar *key)
{
	return json_object_get_string_member(json_node_get_object(hold), key);
}

static gint64
hold_int(JsonNode *hold, const gchar *key)
{
	return json_object_get_int_member(json_node_get_object(hold), key);
}

/* waits for the one hold of @visit to be in @state */
static JsonNode *
wait_hold_state(VbTestDaemon *d, const gchar *visit, const gchar *state)
{
	gint64 deadline = wait_deadline();

	for (;;) {
		g_autoptr(GPtrArray) holds = holds_for(d, visit);
		if (holds->len == 1 &&
		    g_strcmp0(hold_str(g_ptr_array_index(holds, 0), "state"), state) == 0)
			return json_node_ref(g_ptr_array_index(holds, 0));
		if (g_get_monotonic_time() > deadline) {
			g_autoptr(JsonNode) all = holds_get(d);
			g_autofree gchar *text = json_to_string(all, TRUE);
			g_error("waited for the hold of visit %s to be %s; the holds: %s", visit,
				state, text);
		}
		nap();
	}
}

/* a status counter of the payment instance, as `vestibulectl plugins` shows it */
static gint64
pay_status(VbTestDaemon *d, const gchar *key)
{
	g_autoptr(JsonNode) node = ctl(d, "GET", "/v1/plugins", NULL);
	JsonArray *instances =
	    json_object_get_array_member(json_node_get_object(node), "instances");

	for (guint i = 0; i < json_array_get_length(instances); i++) {
		JsonObject *inst = json_array_get_object_element(instances, i);
		if (g_strcmp0(json_object_get_string_member(inst, "name"), "pay") == 0)
			return json_object_get_int_member(
			    json_object_get_object_member(inst, "status"), key);
	}
	g_assert_not_reached();
}

/* ------------------------------------------------------------------------ */
/* the database, read beside the daemon                                      */
/* ------------------------------------------------------------------------ */

static gint64
db_int(VbTestDaemon *d, const gchar *sql, const gchar *arg)
{
	g_autoptr(sqlite3) db = vb_test_daemon_open_db(d, FALSE);
	sqlite3_stmt *stmt = NULL;
	gint64 value;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		g_error("%s: %s", sql, sqlite3_errmsg(db));
	if (arg != NULL)
		sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(stmt) != SQLITE_ROW)
		g_error("%s: no row (%s)", sql, sqlite3_errmsg(db));
	value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}

static gchar *
db_text(VbTestDaemon *d, const gchar *sql, const gchar *arg)
{
	g_autoptr(sqlite3) db = vb_test_daemon_open_db(d, FALSE);
	sqlite3_stmt *stmt = NULL;
	gchar *value = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		g_error("%s: %s", sql, sqlite3_errmsg(db));
	if (arg != NULL)
		sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
		value = g_strdup((const gchar *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return value;
}

static void
db_exec(VbTestDaemon *d, const gchar *sql, const gchar *arg)
{
	g_autoptr(sqlite3) db = vb_test_daemon_open_db(d, TRUE);
	sqlite3_stmt *stmt = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		g_error("%s: %s", sql, sqlite3_errmsg(db));
	if (arg != NULL)
		sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		g_error("%s: %s", sql, sqlite3_errmsg(db));
	g_assert_cmpint(sqlite3_changes(db), >=, 1);
	sqlite3_finalize(stmt);
}

/* the state of the outbox item with @key, or NULL when none was queued */
static gchar *
outbox_state(VbTestDaemon *d, const gchar *key)
{
	return db_text(d, "SELECT state FROM outbox WHERE idempotency_key = ?1", key);
}

static void
wait_outbox_state(VbTestDaemon *d, const gchar *key, const gchar *state)
{
	gint64 deadline = wait_deadline();

	for (;;) {
		g_autofree gchar *now = outbox_state(d, key);
		if (g_strcmp0(now, state) == 0)
			return;
		if (g_get_monotonic_time() > deadline)
			g_error("waited for outbox item %s to be %s; it is %s", key, state, now);
		nap();
	}
}

/* waits until the outbox has nothing left to do */
static void
wait_outbox_idle(VbTestDaemon *d)
{
	gint64 deadline = wait_deadline();

	while (db_int(d, "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')",
		      NULL) > 0) {
		if (g_get_monotonic_time() > deadline)
			g_error("the outbox still has work after %d ms", WAIT_MS);
		nap();
	}
}

/* ------------------------------------------------------------------------ */
/* whole steps of a visit                                                    */
/* ------------------------------------------------------------------------ */

/* a new card taps, gives its phone (and the code when one is sent) and the
 * door unlocks; returns the visit id */
static gchar *
first_visit(VbTestDaemon *d,
	    const gchar *pan,
	    const gchar *language,
	    const gchar *typed,
	    const gchar *e164,
	    gboolean with_code,
	    gchar **code_out)
{
	g_autoptr(GPtrArray) before = sms_to(d, e164);
	g_autofree gchar *text = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *keys = NULL;

	tap(d, pan, language);
	g_free(wait_screen(d, "enter-phone"));
	id = latest_visit(d);
	g_assert_true(lock_locked(d));
	keys = g_strdup_printf("%s enter", typed);
	press(d, keys);
	if (with_code) {
		g_autofree gchar *code = NULL;
		g_autofree gchar *code_keys = NULL;

		g_free(wait_screen(d, "enter-code"));
		code = wait_code(d, e164, before->len, NULL);
		g_assert_true(lock_locked(d));
		code_keys = g_strdup_printf("%s enter", code);
		press(d, code_keys);
		if (code_out != NULL)
			*code_out = g_steal_pointer(&code);
	}
	text = wait_screen(d, "door-open");
	wait_state(d, id, "unlocked");
	g_assert_false(lock_locked(d));
	return g_steal_pointer(&id);
}

/* a card already linked taps and the door unlocks */
static gchar *
returning_visit(VbTestDaemon *d, const gchar *pan, gchar **screen_text)
{
	g_autofree gchar *id = NULL;
	g_autofree gchar *text = NULL;
	g_autoptr(JsonNode) visit = NULL;

	tap(d, pan, NULL);
	text = wait_screen(d, "door-open");
	id = latest_visit(d);
	visit = wait_visit_state(d, id, "unlocked");
	g_assert_false(lock_locked(d));
	if (screen_text != NULL)
		*screen_text = g_steal_pointer(&text);
	return g_steal_pointer(&id);
}

/* the shopper walks in, takes things and walks out */
static void
walk_in_and_out(VbTestDaemon *d, const gchar *id)
{
	g_autoptr(JsonNode) open = NULL;
	g_autoptr(JsonNode) done = NULL;

	door(d, "open");
	open = wait_visit_state(d, id, "open");
	door(d, "close");
	done = wait_visit_state(d, id, "awaiting-order");
	g_assert_true(lock_locked(d));
}

/* a visit whose shopper is out again, waiting for its order */
static gchar *
visit_done(VbTestDaemon *d, const gchar *pan, const gchar *typed, const gchar *e164)
{
	g_autofree gchar *id = first_visit(d, pan, NULL, typed, e164, FALSE, NULL);
	walk_in_and_out(d, id);
	return g_steal_pointer(&id);
}

static const gchar *ORDER_SMALL =
    "{\"currency\": \"EUR\", \"lines\": ["
    "{\"sku\": \"W-330\", \"name\": \"Sparkling water\", \"quantity\": 2, \"unit_price\": 150},"
    "{\"sku\": \"CF-200\", \"name\": \"Cr\xc3\xa8me fra\xc3\xae"
    "che\", \"quantity\": 1, "
    "\"unit_price\": 420}]}";
#define ORDER_SMALL_TOTAL 720

/* 6500 > HOLD */
static const gchar *ORDER_BIG =
    "{\"currency\": \"EUR\", \"lines\": ["
    "{\"sku\": \"WINE-75\", \"name\": \"Bordeaux 2019\", \"quantity\": 2, \"unit_price\": 2900},"
    "{\"sku\": \"BR-01\", \"name\": \"Sourdough loaf\", \"quantity\": 1, \"unit_price\": 700}]}";
#define ORDER_BIG_TOTAL 6500

static const gchar *ORDER_EMPTY = "{\"currency\": \"EUR\", \"lines\": []}";

/* posts @json for @visit; returns the HTTP status and the parsed answer */
static guint
post_order(VbTestDaemon *d,
	   const gchar *token,
	   const gchar *visit,
	   const gchar *json,
	   JsonNode **answer)
{
	g_autofree gchar *body = NULL;
	guint status = vb_test_daemon_post_order(d, token, visit, json, &body);

	if (answer != NULL) {
		g_autoptr(GError) error = NULL;
		*answer = json_from_string(body, &error);
		if (*answer == NULL)
			g_error("the answer to an order is not JSON (%s): %s", error->message,
				body);
	}
	return status;
}

static gint64
answer_int(JsonNode *answer, const gchar *key)
{
	return json_object_get_int_member(json_node_get_object(answer), key);
}

static const gchar *
answer_str(JsonNode *answer, const gchar *key)
{
	return json_object_get_string_member_with_default(json_node_get_object(answer), key, NULL);
}

/* the receipt link of the latest receipt SMS to @e164 */
static gchar *
receipt_link(VbTestDaemon *d, GPtrArray *lines, guint i)
{
	g_autoptr(GRegex) regex =
	    g_regex_new("http://127\\.0\\.0\\.1:([0-9]+)/r/([0-9a-f]{32})", 0, 0, NULL);
	g_autoptr(GMatchInfo) match = NULL;
	g_autofree gchar *base = vb_test_daemon_public_url(d);
	g_autofree gchar *port = NULL;

	if (!g_regex_match(regex, sms_body(lines, i), 0, &match))
		g_error("no receipt link in the SMS: %s", sms_body(lines, i));
	/* the link leads to this daemon's public listener */
	port = g_match_info_fetch(match, 1);
	g_assert_true(g_str_has_suffix(base, port));
	return g_match_info_fetch(match, 0);
}

/* ------------------------------------------------------------------------ */
/* 1. first visit                                                            */
/* ------------------------------------------------------------------------ */

static void
test_first_with_code(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NULL);
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(JsonNode) hold = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *code = NULL;
	g_autofree gchar *states = NULL;
	g_autofree gchar *code_keys = NULL;
	JsonObject *line;

	/* idle: the door invites a tap */
	g_free(wait_screen(d, "welcome"));
	g_assert_true(lock_locked(d));

	/* a new card: the keypad asks for a phone number, in English by default */
	tap(d, PAN_A, NULL);
	text = wait_screen(d, "enter-phone");
	g_assert_true(g_str_has_prefix(text, "Please type your phone number"));
	id = latest_visit(d);
	g_assert_true(g_str_has_prefix(id, "v-"));
	wait_state(d, id, "enter-phone");

	/* the national number as typed; the code goes to it in E.164 */
	press(d, PHONE_A_TYPED " enter");
	g_clear_pointer(&text, g_free);
	text = wait_screen(d, "enter-code");
	g_assert_true(g_str_has_prefix(text, "Type the code we sent by SMS"));
	lines = wait_sms(d, PHONE_A, 1);
	g_assert_cmpuint(lines->len, ==, 1);
	line = json_node_get_object(g_ptr_array_index(lines, 0));
	g_assert_cmpstr(json_object_get_string_member(line, "to"), ==, PHONE_A_MASKED);
	code = code_in(sms_body(lines, 0));
	g_assert_cmpuint(strlen(code), ==, 6);
	{
		g_autofree gchar *expected = g_strdup_printf(
		    "Test store: your code is %s. It is valid for 10 minutes. Never share it.",
		    code);
		g_assert_cmpstr(sms_body(lines, 0), ==, expected);
	}
	/* nothing unlocks before the code, and no hold is placed */
	g_assert_true(lock_locked(d));
	g_assert_cmpuint(holds_count(d), ==, 0);

	/* the code: the hold is placed, the door unlocks */
	code_keys = g_strdup_printf("%s enter", code);
	press(d, code_keys);
	g_clear_pointer(&text, g_free);
	text = wait_screen(d, "door-open");
	assert_contains(text, "Welcome! You may open the door");
	g_clear_pointer(&visit, json_node_unref);
	visit = wait_visit_state(d, id, "unlocked");
	g_assert_false(lock_locked(d));
	hold = hold_of(d, id);
	g_assert_cmpstr(hold_str(hold, "state"), ==, "authorized");
	g_assert_cmpint(hold_int(hold, "authorized"), ==, HOLD);
	g_assert_cmpstr(hold_str(hold, "currency"), ==, "EUR");
	g_assert_cmpint(visit_int(visit, "hold"), ==, HOLD);
	g_assert_cmpstr(visit_str(visit, "psp-reference"), ==, hold_str(hold, "psp-reference"));

	/* in, out: the door locks behind the shopper */
	door(d, "open");
	g_clear_pointer(&visit, json_node_unref);
	visit = wait_visit_state(d, id, "open");
	door(d, "close");
	g_clear_pointer(&visit, json_node_unref);
	visit = wait_visit_state(d, id, "awaiting-order");
	g_assert_true(lock_locked(d));

	/* the notice: a transaction occurred, the receipt follows, how to reply */
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = wait_sms(d, PHONE_A, 2);
	g_assert_cmpuint(lines->len, ==, 2);
	g_assert_cmpstr(sms_body(lines, 1), ==, NOTICE_EN);

	/* what the operator sees: masked data and every step */
	g_assert_cmpstr(visit_str(visit, "phone"), ==, PHONE_A_MASKED);
	g_assert_cmpstr(visit_str(visit, "card"), ==, PAN_A_SHOWN);
	g_assert_cmpstr(visit_str(visit, "door"), ==, "front");
	g_assert_cmpstr(visit_str(visit, "language"), ==, "en");
	states = timeline_states(visit);
	g_assert_cmpstr(states, ==,
			"identified enter-phone enter-code linked authorizing unlocked open "
			"awaiting-order");
	{
		g_autofree gchar *json = json_to_string(visit, FALSE);
		assert_not_contains(json, PHONE_A);
		assert_not_contains(json, PHONE_A_NSN);
		assert_not_contains(json, PAN_A);
		assert_not_contains(json, code);
	}
	g_assert_cmpint(ctl_refused(d, "GET", "/v1/visits/v-20260101T000000-nosuchvisit", NULL), ==,
			VB_ERROR_NOT_FOUND);
	/* the same through vestibulectl */
	{
		g_autofree gchar *out = NULL;
		g_assert_cmpint(run_ctl(d, &out, "visits", "show", id, NULL), ==, 0);
		assert_contains(out, "awaiting-order");
		assert_contains(out, "enter-code");
		assert_contains(out, PHONE_A_MASKED);
		assert_contains(out, PAN_A_SHOWN);
		assert_not_contains(out, PHONE_A);
		assert_not_contains(out, PHONE_A_NSN);
		assert_not_contains(out, code);
	}
	/* the door is free for the next shopper */
	g_free(wait_screen(d, "welcome"));
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_first_french(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NULL);
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *code = NULL;
	g_autofree gchar *code_keys = NULL;

	/* the card says French: the door speaks French */
	tap(d, PAN_A, "fr");
	text = wait_screen(d, "enter-phone");
	g_assert_true(g_str_has_prefix(
	    text, "Veuillez saisir votre num\xc3\xa9ro de t\xc3\xa9l\xc3\xa9phone"));
	id = latest_visit(d);
	press(d, PHONE_A_TYPED " enter");
	g_free(wait_screen(d, "enter-code"));
	lines = wait_sms(d, PHONE_A, 1);
	code = code_in(sms_body(lines, 0));
	assert_contains(sms_body(lines, 0), "Test store : votre code est ");
	code_keys = g_strdup_printf("%s enter", code);
	press(d, code_keys);
	g_clear_pointer(&text, g_free);
	text = wait_screen(d, "door-open");
	assert_contains(text, "Bienvenue");
	g_assert_false(lock_locked(d));
	walk_in_and_out(d, id);
	visit = visit_get(d, id);
	g_assert_cmpstr(visit_str(visit, "language"), ==, "fr");

	/* the notice, in French */
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = wait_sms(d, PHONE_A, 2);
	g_assert_cmpstr(sms_body(lines, 1), ==, NOTICE_FR);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_first_without_code(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *states = NULL;

	tap(d, PAN_A, NULL);
	g_free(wait_screen(d, "enter-phone"));
	id = latest_visit(d);
	press(d, PHONE_A_TYPED " enter");
	/* no code: the phone is linked and the hold placed at once */
	g_free(wait_screen(d, "door-open"));
	visit = wait_visit_state(d, id, "unlocked");
	g_assert_false(lock_locked(d));
	states = timeline_states(visit);
	g_assert_cmpstr(states, ==, "identified enter-phone linked authorizing unlocked");
	g_assert_cmpstr(visit_str(visit, "phone"), ==, PHONE_A_MASKED);
	/* and no SMS went out for it */
	lines = sms_to(d, PHONE_A);
	g_assert_cmpuint(lines->len, ==, 0);
	walk_in_and_out(d, id);
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = wait_sms(d, PHONE_A, 1);
	g_assert_cmpuint(lines->len, ==, 1);
	g_assert_cmpstr(sms_body(lines, 0), ==, NOTICE_EN);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_first_wrong_code(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NULL);
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *code = NULL;
	g_autofree gchar *wrong = NULL;
	g_autofree gchar *wrong_keys = NULL;

	tap(d, PAN_A, NULL);
	g_free(wait_screen(d, "enter-phone"));
	id = latest_visit(d);
	press(d, PHONE_A_TYPED " enter");
	g_free(wait_screen(d, "enter-code"));
	lines = wait_sms(d, PHONE_A, 1);
	code = code_in(sms_body(lines, 0));
	wrong = g_strdup(code);
	wrong[0] = (gchar)('0' + (wrong[0] - '0' + 1) % 10);
	wrong_keys = g_strdup_printf("%s enter", wrong);

	for (guint i = 1; i <= 2; i++) {
		g_autofree gchar *text = NULL;
		gint64 deadline = wait_deadline();

		press(d, wrong_keys);
		/* each wrong try is on record before the next one is typed */
		for (;;) {
			g_autoptr(JsonNode) now = visit_get(d, id);
			if (timeline_count(now, "enter-code", "wrong code") == i)
				break;
			if (g_get_monotonic_time() > deadline)
				g_error("wrong try %u was not recorded", i);
			nap();
		}
		text = wait_screen(d, "wrong-code");
		assert_contains(text, "Wrong code. Please try again");
		g_assert_true(lock_locked(d));
	}
	press(d, wrong_keys);
	visit = wait_visit_state(d, id, "code-failed");
	{
		g_autofree gchar *text = wait_screen(d, "code-failed");
		assert_contains(text, "That code cannot be used any more");
	}
	assert_timeline_has(visit, "enter-code", "wrong code");
	/* no hold was ever asked for, the lock never moved */
	g_assert_cmpuint(holds_count(d), ==, 0);
	g_assert_true(lock_locked(d));
	g_assert_cmpuint(count_events(d, "door-unlocked"), ==, 0);
	g_assert_false(timeline_has(visit, "authorizing", NULL));
	/* the right code, too late, opens nothing: the code is burnt */
	{
		g_autofree gchar *keys = g_strdup_printf("%s enter", code);
		press(d, keys);
		g_usleep(200 * G_TIME_SPAN_MILLISECOND);
		g_assert_true(lock_locked(d));
		g_assert_cmpuint(holds_count(d), ==, 0);
	}
	/* no further SMS */
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = sms_to(d, PHONE_A);
	g_assert_cmpuint(lines->len, ==, 1);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* 4, 5. known cards and shared phones                                       */
/* ------------------------------------------------------------------------ */

static void
test_returning(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NULL);
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autofree gchar *first = NULL;
	g_autofree gchar *second = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *states = NULL;
	guint n_sms;

	first = first_visit(d, PAN_A, NULL, PHONE_A_TYPED, PHONE_A, TRUE, NULL);
	walk_in_and_out(d, first);
	lines = wait_sms(d, PHONE_A, 2);
	n_sms = lines->len;

	/* the same card again: no phone, no code, a greeting with the count */
	second = returning_visit(d, PAN_A, &text);
	g_assert_cmpstr(second, !=, first);
	assert_contains(text, "Welcome back! 2 visits so far");
	assert_contains(text, "Welcome! You may open the door");
	visit = visit_get(d, second);
	states = timeline_states(visit);
	g_assert_cmpstr(states, ==, "identified authorizing unlocked");
	g_assert_cmpstr(visit_str(visit, "phone"), ==, PHONE_A_MASKED);
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = sms_to(d, PHONE_A);
	g_assert_cmpuint(lines->len, ==, n_sms);
	walk_in_and_out(d, second);

	/* a third time: the count goes on */
	{
		g_autofree gchar *third = NULL;
		g_autofree gchar *text3 = NULL;
		third = returning_visit(d, PAN_A, &text3);
		assert_contains(text3, "Welcome back! 3 visits so far");
	}
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* the id of visit @i of a GET /v1/visits answer */
static const gchar *
page_id(JsonNode *page, guint i)
{
	JsonArray *visits = json_object_get_array_member(json_node_get_object(page), "visits");
	return json_object_get_string_member(json_array_get_object_element(visits, i), "id");
}

static guint
page_len(JsonNode *page)
{
	return json_array_get_length(
	    json_object_get_array_member(json_node_get_object(page), "visits"));
}

/* GET /v1/visits pages: a full page names the next one's cursor, the next
 * page goes on after it, the last page has none, and a cursor that names no
 * visit is refused */
static void
test_list_pages(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NULL);
	g_autoptr(JsonNode) page1 = NULL;
	g_autoptr(JsonNode) page2 = NULL;
	g_autoptr(JsonNode) page3 = NULL;
	g_autoptr(JsonNode) page4 = NULL;
	g_autofree gchar *first = NULL;
	g_autofree gchar *second = NULL;
	g_autofree gchar *path2 = NULL;
	g_autofree gchar *path3 = NULL;

	first = first_visit(d, PAN_A, NULL, PHONE_A_TYPED, PHONE_A, TRUE, NULL);
	walk_in_and_out(d, first);
	second = returning_visit(d, PAN_A, NULL);
	walk_in_and_out(d, second);

	page1 = ctl(d, "GET", "/v1/visits?limit=1", NULL);
	g_assert_cmpuint(page_len(page1), ==, 1);
	g_assert_cmpstr(page_id(page1, 0), ==, second);
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(page1), "next"), ==,
			second);

	path2 = g_strdup_printf("/v1/visits?limit=1&before=%s", second);
	page2 = ctl(d, "GET", path2, NULL);
	g_assert_cmpuint(page_len(page2), ==, 1);
	g_assert_cmpstr(page_id(page2, 0), ==, first);

	path3 = g_strdup_printf("/v1/visits?limit=2&before=%s", first);
	page3 = ctl(d, "GET", path3, NULL);
	g_assert_cmpuint(page_len(page3), ==, 0);
	g_assert_false(json_object_has_member(json_node_get_object(page3), "next"));

	g_assert_cmpint(
	    ctl_refused(d, "GET", "/v1/visits?before=v-20260101T000000-nosuchvisit", NULL), ==,
	    VB_ERROR_NOT_FOUND);
	/* a page is at most 1000 visits: more holds up the taps for as long as it
	 * takes to read them; the pages go on with before= */
	g_assert_cmpint(ctl_refused(d, "GET", "/v1/visits?limit=1001", NULL), ==,
			VB_ERROR_INVALID_DATA);
	page4 = ctl(d, "GET", "/v1/visits?limit=1000", NULL);
	g_assert_cmpuint(page_len(page4), ==, 2);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_two_cards_one_phone(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NULL);
	g_autoptr(JsonNode) va = NULL;
	g_autoptr(JsonNode) vb = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autofree gchar *a = NULL;
	g_autofree gchar *b = NULL;
	g_autofree gchar *text = NULL;

	a = first_visit(d, PAN_A, NULL, PHONE_A_TYPED, PHONE_A, TRUE, NULL);
	walk_in_and_out(d, a);
	/* a second shopper of the same household comes later: codes to one
	 * number are throttled to one per 30 s, so the clock of the last send is
	 * moved back, as if 31 s had passed */
	db_exec(d, "UPDATE otps SET sent_at = sent_at - 31000000", NULL);

	/* card B, same phone: a code again, then the door */
	b = first_visit(d, PAN_B, NULL, PHONE_A_TYPED, PHONE_A, TRUE, NULL);
	walk_in_and_out(d, b);
	va = visit_get(d, a);
	vb = visit_get(d, b);
	g_assert_cmpstr(visit_str(va, "phone"), ==, PHONE_A_MASKED);
	g_assert_cmpstr(visit_str(vb, "phone"), ==, PHONE_A_MASKED);
	g_assert_cmpstr(visit_str(vb, "card"), ==, PAN_B_SHOWN);
	/* one customer with two cards */
	g_assert_cmpint(db_int(d, "SELECT COUNT(*) FROM customers", NULL), ==, 1);
	g_assert_cmpint(db_int(d,
			       "SELECT COUNT(DISTINCT customer_id) FROM cards WHERE customer_id "
			       "IS NOT NULL",
			       NULL),
			==, 1);
	g_assert_cmpint(db_int(d, "SELECT COUNT(*) FROM cards WHERE customer_id IS NOT NULL", NULL),
			==, 2);
	/* both are known now: card B returns without the keypad */
	{
		g_free(returning_visit(d, PAN_B, &text));
		assert_contains(text, "Welcome back! 2 visits so far");
	}
	/* the handset got two codes and two notices */
	lines = wait_sms(d, PHONE_A, 4);
	g_assert_cmpuint(lines->len, ==, 4);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* 6, 7, 8. the hold refused, and the door never opened                      */
/* ------------------------------------------------------------------------ */

static void
test_hold_declined(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autoptr(JsonNode) ctl_answer = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *text = NULL;

	ctl_answer = ctl(d, "POST", "/v1/sim/pay/decline", "{\"next\": 1}");
	tap(d, PAN_A, NULL);
	g_free(wait_screen(d, "enter-phone"));
	id = latest_visit(d);
	press(d, PHONE_A_TYPED " enter");
	text = wait_screen(d, "declined");
	assert_contains(text, "Your card was declined");
	visit = wait_visit_state(d, id, "declined");
	g_assert_true(lock_locked(d));
	g_assert_cmpuint(count_events(d, "door-unlocked"), ==, 0);
	g_assert_false(timeline_has(visit, "unlocked", NULL));
	/* the processor has the refused authorization, nothing held */
	{
		g_autoptr(JsonNode) hold = hold_of(d, id);
		g_assert_cmpstr(hold_str(hold, "state"), ==, "declined");
	}
	/* the next tap works: the decline was for that authorization only */
	{
		g_autofree gchar *next = returning_visit(d, PAN_A, NULL);
		g_assert_cmpstr(next, !=, id);
	}
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* the log line of the alert with @message_id that holds @needle, or NULL */
static gchar *
log_record(VbTestDaemon *d, const gchar *message_id, const gchar *needle)
{
	g_autofree gchar *log = vb_test_daemon_read_log(d);
	g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
	g_autofree gchar *field = g_strdup_printf(" MESSAGE_ID=%s", message_id);

	for (guint i = 0; lines[i] != NULL; i++) {
		if (strstr(lines[i], field) != NULL && strstr(lines[i], needle) != NULL)
			return g_strdup(lines[i]);
	}
	return NULL;
}

/* the ids the README documents: an operator's journalctl query names them */
#define MESSAGE_ID_FORCED_OPEN "3fd7ec21f96449d5ab4e1b34beca3bfe"
#define MESSAGE_ID_HOLD_DECLINED "9019a522fc7641f3850827cd8aae1059"

static void
test_alert_log_fields(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) ctl_answer = NULL;
	g_autoptr(JsonNode) door_answer = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *visit_field = NULL;
	g_autofree gchar *declined = NULL;
	g_autofree gchar *forced = NULL;

	/* journal-less, the fields follow each line */
	g_ptr_array_add(d->env, g_strdup("VESTIBULE_LOG_FIELDS=1"));
	vb_test_daemon_write_drop_in(d, "40-base.conf", BASE_DROP_IN);
	vb_test_daemon_write_drop_in(d, "50-test.conf", NO_CODE);
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start: %s", error->message);

	/* a declined hold: its door, its visit and the processor's instance */
	ctl_answer = ctl(d, "POST", "/v1/sim/pay/decline", "{\"next\": 1}");
	tap(d, PAN_A, NULL);
	g_free(wait_screen(d, "enter-phone"));
	id = latest_visit(d);
	press(d, PHONE_A_TYPED " enter");
	text = wait_screen(d, "declined");
	visit = wait_visit_state(d, id, "declined");
	visit_field = g_strdup_printf(" VESTIBULE_VISIT=%s", id);
	declined = log_record(d, MESSAGE_ID_HOLD_DECLINED, visit_field);
	g_assert_nonnull(declined);
	assert_contains(declined, " VESTIBULE_DOOR=front");
	assert_contains(declined, " VESTIBULE_INSTANCE=pay");

	/* the door forced open while locked: its door and the lock's instance */
	door_answer = ctl(d, "POST", "/v1/sim/front-lock/door", "{\"action\": \"open\"}");
	for (gint64 end = g_get_monotonic_time() + WAIT_MS * 1000;
	     forced == NULL && g_get_monotonic_time() < end; g_usleep(20000))
		forced = log_record(d, MESSAGE_ID_FORCED_OPEN, "forced open");
	g_assert_nonnull(forced);
	assert_contains(forced, " VESTIBULE_DOOR=front");
	assert_contains(forced, " VESTIBULE_INSTANCE=front-lock");
	g_assert_null(strstr(forced, "VESTIBULE_VISIT="));

	/* and neither carries the card or the phone */
	g_assert_null(strstr(declined, PAN_A));
	g_assert_null(strstr(declined, PHONE_A_NSN));
	g_assert_null(strstr(forced, PAN_A));
	g_assert_null(strstr(forced, PHONE_A_NSN));
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_hold_processor_down(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autoptr(JsonNode) ctl_answer = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *text = NULL;

	ctl_answer = ctl(d, "POST", "/v1/sim/pay/outage", "{\"down\": true}");
	tap(d, PAN_A, NULL);
	g_free(wait_screen(d, "enter-phone"));
	id = latest_visit(d);
	press(d, PHONE_A_TYPED " enter");
	text = wait_screen(d, "processor-unavailable");
	assert_contains(text, "Payments are unavailable right now");
	visit = wait_visit_state(d, id, "processor-unavailable");
	/* deny-safe: locked, and nothing held */
	g_assert_true(lock_locked(d));
	g_assert_cmpuint(count_events(d, "door-unlocked"), ==, 0);
	g_assert_cmpuint(holds_count(d), ==, 0);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_door_never_opened(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE "open-timeout-s=3\n");
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(JsonNode) hold = NULL;
	g_autofree gchar *id = NULL;
	gint64 unlocked_at;

	id = first_visit(d, PAN_A, NULL, PHONE_A_TYPED, PHONE_A, FALSE, NULL);
	unlocked_at = g_get_monotonic_time();
	/* nobody opens the door */
	visit = wait_visit_state(d, id, "abandoned");
	g_assert_cmpint(g_get_monotonic_time() - unlocked_at, >=, 2 * G_USEC_PER_SEC);
	/* locked again by the time-out itself, before the 5 s pulse would end */
	g_assert_true(lock_locked(d));
	g_free(wait_screen(d, "timed-out"));
	/* the hold is released, not left to expire */
	hold = wait_hold_state(d, id, "cancelled");
	g_assert_cmpint(hold_int(hold, "captured"), ==, 0);
	g_clear_pointer(&visit, json_node_unref);
	visit = visit_get(d, id);
	assert_timeline_has(visit, "abandoned", NULL);
	/* no notice: nobody went in */
	{
		g_autoptr(GPtrArray) lines = sms_to(d, PHONE_A);
		g_assert_cmpuint(lines->len, ==, 0);
	}
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* 9. orders                                                                 */
/* ------------------------------------------------------------------------ */

static void
test_order_empty(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autofree gchar *id = visit_done(d, PAN_A, PHONE_A_TYPED, PHONE_A);
	g_autoptr(JsonNode) answer = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(JsonNode) hold = NULL;

	g_assert_cmpuint(post_order(d, token, id, ORDER_EMPTY, &answer), ==, 200);
	g_assert_cmpstr(answer_str(answer, "visit"), ==, id);
	g_assert_cmpint(answer_int(answer, "total"), ==, 0);
	visit = wait_visit_state(d, id, "settled");
	g_assert_cmpstr(visit_str(visit, "settlement"), ==, "cancelled");
	g_assert_cmpint(visit_int(visit, "total"), ==, 0);
	g_assert_cmpint(visit_int(visit, "captured"), ==, 0);
	hold = wait_hold_state(d, id, "cancelled");
	g_assert_cmpint(hold_int(hold, "captured"), ==, 0);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_order_within_hold(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autofree gchar *id = visit_done(d, PAN_A, PHONE_A_TYPED, PHONE_A);
	g_autoptr(JsonNode) answer = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(JsonNode) hold = NULL;

	g_assert_cmpuint(post_order(d, token, id, ORDER_SMALL, &answer), ==, 200);
	g_assert_cmpstr(answer_str(answer, "visit"), ==, id);
	g_assert_cmpint(answer_int(answer, "total"), ==, ORDER_SMALL_TOTAL);
	g_assert_cmpint(answer_int(answer, "hold"), ==, HOLD);
	visit = wait_visit_state(d, id, "settled");
	g_assert_cmpstr(visit_str(visit, "settlement"), ==, "captured");
	g_assert_cmpint(visit_int(visit, "total"), ==, ORDER_SMALL_TOTAL);
	g_assert_cmpint(visit_int(visit, "captured"), ==, ORDER_SMALL_TOTAL);
	/* the processor took the total, once */
	hold = wait_hold_state(d, id, "captured");
	g_assert_cmpint(hold_int(hold, "captured"), ==, ORDER_SMALL_TOTAL);
	g_assert_cmpint(hold_int(hold, "authorized"), ==, HOLD);
	g_assert_cmpint(pay_status(d, "declined"), ==, 0);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_order_over_hold(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autofree gchar *id = visit_done(d, PAN_A, PHONE_A_TYPED, PHONE_A);
	g_autoptr(JsonNode) answer = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(JsonNode) hold = NULL;

	g_assert_cmpuint(post_order(d, token, id, ORDER_BIG, &answer), ==, 200);
	g_assert_cmpint(answer_int(answer, "total"), ==, ORDER_BIG_TOTAL);
	g_assert_cmpint(answer_int(answer, "hold"), ==, HOLD);
	visit = wait_visit_state(d, id, "settled");
	/* raised first, then captured in full */
	g_assert_cmpstr(visit_str(visit, "settlement"), ==, "adjusted-and-captured");
	g_assert_cmpint(visit_int(visit, "captured"), ==, ORDER_BIG_TOTAL);
	assert_timeline_has(visit, "settling", "hold adjusted");
	hold = wait_hold_state(d, id, "captured");
	g_assert_cmpint(hold_int(hold, "authorized"), ==, ORDER_BIG_TOTAL);
	g_assert_cmpint(hold_int(hold, "captured"), ==, ORDER_BIG_TOTAL);
	g_assert_cmpint(pay_status(d, "declined"), ==, 0);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_order_duplicate(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autofree gchar *id = visit_done(d, PAN_A, PHONE_A_TYPED, PHONE_A);
	g_autoptr(JsonNode) first = NULL;
	g_autoptr(JsonNode) again = NULL;
	g_autoptr(JsonNode) later = NULL;
	g_autoptr(JsonNode) conflict = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(JsonNode) hold = NULL;
	/* the same order, written another way: members reordered, spaces */
	const gchar *same_again =
	    "{\"lines\":[{\"quantity\":2,\"unit_price\":150,\"sku\":\"W-330\",\"name\":\"Sparkling "
	    "water\"},{\"name\":\"Cr\xc3\xa8me fra\xc3\xae"
	    "che\",\"sku\":\"CF-200\",\"unit_price\":420,"
	    "\"quantity\":1}],\"currency\":\"EUR\"}";

	/* the recognition system retries: twice at once */
	g_assert_cmpuint(post_order(d, token, id, ORDER_SMALL, &first), ==, 200);
	g_assert_cmpuint(post_order(d, token, id, ORDER_SMALL, &again), ==, 200);
	g_assert_cmpstr(answer_str(again, "visit"), ==, answer_str(first, "visit"));
	g_assert_cmpint(answer_int(again, "total"), ==, answer_int(first, "total"));
	g_assert_cmpint(answer_int(again, "hold"), ==, answer_int(first, "hold"));
	g_assert_cmpstr(answer_str(again, "currency"), ==, answer_str(first, "currency"));
	visit = wait_visit_state(d, id, "settled");
	/* and once more after the settlement, in another spelling */
	g_assert_cmpuint(post_order(d, token, id, same_again, &later), ==, 200);
	g_assert_cmpint(answer_int(later, "total"), ==, ORDER_SMALL_TOTAL);
	g_assert_cmpstr(answer_str(later, "state"), ==, "settled");

	/* one capture at the processor, none refused as a second one */
	wait_outbox_idle(d);
	hold = hold_of(d, id);
	g_assert_cmpstr(hold_str(hold, "state"), ==, "captured");
	g_assert_cmpint(hold_int(hold, "captured"), ==, ORDER_SMALL_TOTAL);
	g_assert_cmpint(pay_status(d, "declined"), ==, 0);
	g_assert_cmpint(db_int(d,
			       "SELECT COUNT(*) FROM outbox WHERE kind = 'payment' AND visit_id "
			       "= ?1 AND payload LIKE '%\"capture\"%'",
			       id),
			==, 1);
	g_clear_pointer(&visit, json_node_unref);
	visit = visit_get(d, id);
	g_assert_cmpint(visit_int(visit, "captured"), ==, ORDER_SMALL_TOTAL);
	g_assert_false(timeline_has(visit, "capture-declined", NULL));

	/* a different order for the same visit is refused, and changes nothing */
	g_assert_cmpuint(post_order(d, token, id, ORDER_BIG, &conflict), ==, 409);
	assert_contains(answer_str(conflict, "message"), id);
	g_clear_pointer(&visit, json_node_unref);
	visit = visit_get(d, id);
	g_assert_cmpint(visit_int(visit, "total"), ==, ORDER_SMALL_TOTAL);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_order_refused(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autofree gchar *metrics = vb_test_daemon_create_token(d, "prometheus", "metrics");
	g_autofree gchar *id = visit_done(d, PAN_A, PHONE_A_TYPED, PHONE_A);
	g_autoptr(JsonNode) visit = NULL;
	gchar *body = NULL;

	/* not JSON */
	g_assert_cmpuint(
	    vb_test_daemon_post_order(d, token, id, "{\"currency\": \"EUR\", \"lines\": [", &body),
	    ==, 400);
	g_clear_pointer(&body, g_free);
	/* JSON, but not an order: a line without a price, a foreign currency */
	g_assert_cmpuint(vb_test_daemon_post_order(d, token, id,
						   "{\"currency\": \"EUR\", \"lines\": [{\"sku\": "
						   "\"A\", \"name\": \"A\", \"quantity\": 1}]}",
						   &body),
			 ==, 400);
	g_clear_pointer(&body, g_free);
	g_assert_cmpuint(vb_test_daemon_post_order(d, token, id,
						   "{\"currency\": \"USD\", \"lines\": []}", &body),
			 ==, 400);
	g_clear_pointer(&body, g_free);
	/* no token, or one of another scope */
	g_assert_cmpuint(vb_test_daemon_post_order(d, NULL, id, ORDER_SMALL, &body), ==, 401);
	g_clear_pointer(&body, g_free);
	g_assert_cmpuint(vb_test_daemon_post_order(d, metrics, id, ORDER_SMALL, &body), ==, 401);
	g_clear_pointer(&body, g_free);
	/* no such visit */
	g_assert_cmpuint(vb_test_daemon_post_order(d, token, "v-20260101T000000-nosuchvisit",
						   ORDER_SMALL, &body),
			 ==, 404);
	g_clear_pointer(&body, g_free);

	/* none of them touched the visit or its hold */
	visit = visit_get(d, id);
	g_assert_cmpstr(visit_str(visit, "state"), ==, "awaiting-order");
	{
		g_autoptr(JsonNode) hold = hold_of(d, id);
		g_assert_cmpstr(hold_str(hold, "state"), ==, "authorized");
	}
	/* a visit that never got in takes no order */
	{
		g_autofree gchar *declined = NULL;
		json_node_unref(ctl(d, "POST", "/v1/sim/pay/decline", "{\"next\": 1}"));
		tap(d, PAN_A, NULL);
		g_free(wait_screen(d, "declined"));
		declined = latest_visit(d);
		wait_state(d, declined, "declined");
		g_assert_cmpuint(vb_test_daemon_post_order(d, token, declined, ORDER_SMALL, &body),
				 ==, 409);
		g_clear_pointer(&body, g_free);
	}
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* @body is a JSON error with @code whose message holds each of the rest */
static void
assert_json_error(const gchar *body, const gchar *code, ...)
{
	g_autoptr(JsonNode) node = json_from_string(body, NULL);
	const gchar *message;
	va_list args;

	g_assert_nonnull(node);
	g_assert_cmpstr(answer_str(node, "code"), ==, code);
	message = answer_str(node, "message");
	g_assert_nonnull(message);
	va_start(args, code);
	for (const gchar *part = va_arg(args, const gchar *); part != NULL;
	     part = va_arg(args, const gchar *))
		assert_contains(message, part);
	va_end(args);
}

/* a visit id with an escape, a NUL or a '..' is refused with a JSON body, and
 * a receipt link like it is a page that says so */
static void
test_order_bad_path(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autofree gchar *id = visit_done(d, PAN_A, PHONE_A_TYPED, PHONE_A);
	g_autofree gchar *base = vb_test_daemon_public_url(d);
	g_autofree gchar *escaped = g_strdup_printf("..%%2F..%%2F%s", id);
	g_autofree gchar *nul = g_strdup_printf("%s%%00", id);
	const gchar *ids[] = {escaped, nul, "..%2F", "%00"};
	const gchar *receipts[] = {"/r/..%2F..%2Fetc", "/r/%00", "/r/abc%00def"};
	g_autoptr(JsonNode) visit = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree gchar *body = NULL;

		g_assert_cmpuint(vb_test_daemon_post_order(d, token, ids[i], ORDER_SMALL, &body),
				 ==, 400);
		assert_json_error(body, "invalid-data", "visit id", NULL);
	}
	for (guint i = 0; i < G_N_ELEMENTS(receipts); i++) {
		g_autofree gchar *url = g_strconcat(base, receipts[i], NULL);
		g_autofree gchar *json_url = g_strconcat(url, "?format=json", NULL);
		g_autofree gchar *html = NULL;
		g_autofree gchar *body = NULL;

		g_assert_cmpuint(vb_test_http("GET", url, NULL, "text/html", NULL, &html), ==, 404);
		assert_contains(html, "Receipt not found");
		g_assert_cmpuint(vb_test_http("GET", json_url, NULL, NULL, NULL, &body), ==, 404);
		assert_json_error(body, "not-found", NULL);
	}
	/* the visit is untouched, and its own id still takes the order */
	visit = visit_get(d, id);
	g_assert_cmpstr(visit_str(visit, "state"), ==, "awaiting-order");
	g_assert_cmpuint(post_order(d, token, id, ORDER_SMALL, NULL), ==, 200);
	g_clear_pointer(&visit, json_node_unref);
	visit = wait_visit_state(d, id, "settled");
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* control characters in a line's name or SKU are refused, naming the line and
 * the field, and leave the visit waiting for a clean order */
static void
test_order_control_characters(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autofree gchar *id = visit_done(d, PAN_A, PHONE_A_TYPED, PHONE_A);
	const struct {
		const gchar *sku;
		const gchar *name;
		const gchar *field;
		const gchar *character;
	} cases[] = {
	    /* JSON carries a NUL as \u0000, which json-glib cuts strings at */
	    {"CF-200", "Cr\\u0000 fraiche", "the name", "(U+0000)"},
	    {"CF-200", "Cr\\u001b[2J fraiche", "the name", "(U+001B)"},
	    /* U+0085 (NEL), sent as UTF-8 */
	    {"CF-200", "Cr\xc2\x85me", "the name", "(U+0085)"},
	    {"CF\\u0007200", "Creme", "the SKU", "(U+0007)"},
	};
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(JsonNode) hold = NULL;
	g_autoptr(JsonNode) answer = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *order = g_strdup_printf(
		    "{\"currency\": \"EUR\", \"lines\": ["
		    "{\"sku\": \"W-330\", \"name\": \"Sparkling water\", \"quantity\": 2, "
		    "\"unit_price\": 150},"
		    "{\"sku\": \"%s\", \"name\": \"%s\", \"quantity\": 1, \"unit_price\": 420}]}",
		    cases[i].sku, cases[i].name);
		g_autofree gchar *body = NULL;

		g_assert_cmpuint(vb_test_daemon_post_order(d, token, id, order, &body), ==, 400);
		assert_json_error(body, "invalid-data", "line 2:", cases[i].field,
				  cases[i].character, NULL);
	}
	/* nothing changed: no capture, no adjustment, still waiting */
	visit = visit_get(d, id);
	g_assert_cmpstr(visit_str(visit, "state"), ==, "awaiting-order");
	hold = hold_of(d, id);
	g_assert_cmpstr(hold_str(hold, "state"), ==, "authorized");
	/* and the corrected order settles */
	g_assert_cmpuint(post_order(d, token, id, ORDER_SMALL, &answer), ==, 200);
	g_assert_cmpint(answer_int(answer, "total"), ==, ORDER_SMALL_TOTAL);
	g_clear_pointer(&visit, json_node_unref);
	visit = wait_visit_state(d, id, "settled");
	g_assert_cmpint(visit_int(visit, "total"), ==, ORDER_SMALL_TOTAL);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* 10. the receipt                                                           */
/* ------------------------------------------------------------------------ */

static void
test_receipt(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(JsonNode) json = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *link = NULL;
	g_autofree gchar *html = NULL;
	g_autofree gchar *body = NULL;
	g_autofree gchar *json_url = NULL;
	JsonObject *receipt;
	JsonArray *items;

	id = visit_done(d, PAN_A, PHONE_A_TYPED, PHONE_A);
	lines = wait_sms(d, PHONE_A, 1); /* the notice */
	g_assert_cmpuint(post_order(d, token, id, ORDER_SMALL, NULL), ==, 200);
	visit = wait_visit_state(d, id, "settled");

	/* the second SMS brings the link */
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = wait_sms(d, PHONE_A, 2);
	g_assert_cmpuint(lines->len, ==, 2);
	link = receipt_link(d, lines, 1);
	{
		g_autofree gchar *expected =
		    g_strdup_printf("Test store: your receipt is ready: %s", link);
		g_assert_cmpstr(sms_body(lines, 1), ==, expected);
	}

	/* the page: each item and its price, the total, the card, the hold */
	g_assert_cmpuint(vb_test_http("GET", link, NULL, "text/html", NULL, &html), ==, 200);
	assert_contains(html, "<html lang=\"en\"");
	assert_contains(html, "Test store");
	assert_contains(html, "Sparkling water");
	assert_contains(html, "Cr\xc3\xa8me fra\xc3\xae"
			      "che");
	assert_contains(html, "3.00 EUR"); /* 2 × 1.50 */
	assert_contains(html, "4.20 EUR");
	assert_contains(html, "7.20 EUR");  /* the total, and what was charged */
	assert_contains(html, "50.00 EUR"); /* the hold */
	assert_contains(html, PAN_A_SHOWN);
	assert_contains(html, OPERATOR_CONTACT);
	assert_not_contains(html, PAN_A);
	assert_not_contains(html, PHONE_A);
	assert_not_contains(html, PHONE_A_NSN);

	/* the same as JSON */
	json_url = g_strdup_printf("%s?format=json", link);
	g_assert_cmpuint(vb_test_http("GET", json_url, NULL, NULL, NULL, &body), ==, 200);
	json = json_from_string(body, NULL);
	g_assert_nonnull(json);
	receipt = json_node_get_object(json);
	g_assert_cmpint(json_object_get_int_member(receipt, "total"), ==, ORDER_SMALL_TOTAL);
	g_assert_cmpint(json_object_get_int_member(receipt, "captured"), ==, ORDER_SMALL_TOTAL);
	g_assert_cmpint(json_object_get_int_member(receipt, "hold"), ==, HOLD);
	g_assert_cmpstr(json_object_get_string_member(receipt, "card"), ==, PAN_A_SHOWN);
	items = json_object_get_array_member(receipt, "lines");
	g_assert_cmpuint(json_array_get_length(items), ==, 2);
	g_assert_cmpstr(
	    json_object_get_string_member(json_array_get_object_element(items, 0), "name"), ==,
	    "Sparkling water");
	g_assert_cmpint(
	    json_object_get_int_member(json_array_get_object_element(items, 0), "price"), ==, 300);
	g_clear_pointer(&body, g_free);

	/* a link one character off leads nowhere */
	{
		g_autofree gchar *wrong = g_strdup(link);
		gchar *last = wrong + strlen(wrong) - 1;
		*last = *last == '0' ? '1' : '0';
		g_assert_cmpuint(vb_test_http("GET", wrong, NULL, NULL, NULL, &body), ==, 404);
		g_clear_pointer(&body, g_free);
	}

	/* expired: the link is gone, and says so */
	db_exec(d, "UPDATE visits SET receipt_expires = 1 WHERE id = ?1", id);
	g_assert_cmpuint(vb_test_http("GET", link, NULL, "text/html", NULL, &body), ==, 410);
	assert_not_contains(body, "Sparkling water");
	g_clear_pointer(&body, g_free);
	g_assert_cmpuint(vb_test_http("GET", json_url, NULL, NULL, NULL, &body), ==, 410);
	assert_not_contains(body, "Sparkling water");
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* the page of a French visit is French, and the hold shows how it was raised */
static void
test_receipt_french_adjusted(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *link = NULL;
	g_autofree gchar *html = NULL;

	id = first_visit(d, PAN_A, "fr", PHONE_A_TYPED, PHONE_A, FALSE, NULL);
	walk_in_and_out(d, id);
	g_assert_cmpuint(post_order(d, token, id, ORDER_BIG, NULL), ==, 200);
	visit = wait_visit_state(d, id, "settled");
	lines = wait_sms(d, PHONE_A, 2);
	link = receipt_link(d, lines, 1);
	/* the receipt SMS is French too */
	g_assert_true(g_str_has_prefix(sms_body(lines, 1),
				       "Test store : votre re\xc3\xa7u est disponible : http://"));

	g_assert_cmpuint(vb_test_http("GET", link, NULL, "text/html", NULL, &html), ==, 200);
	assert_contains(html, "<html lang=\"fr\"");
	assert_contains(html, "Bordeaux 2019");
	assert_contains(html, "65,00 EUR"); /* the total, with a decimal comma */
	/* the hold placed at the door, and the amount it was raised to */
	assert_contains(html, "50,00 EUR");
	assert_contains(html, "Pr\xc3\xa9"
			      "autorisation port\xc3\xa9"
			      "e \xc3\xa0");
	assert_contains(html, "Total");
	assert_not_contains(html, ">Item<");
	assert_not_contains(html, ">Payment<");
	assert_not_contains(html, "Your bank held");
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* 11. replies                                                               */
/* ------------------------------------------------------------------------ */

static void
inbound(VbTestDaemon *d, const gchar *from, const gchar *text)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) node = NULL;
	g_autoptr(JsonNode) answer = NULL;
	g_autofree gchar *body = NULL;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "from");
	json_builder_add_string_value(builder, from);
	json_builder_set_member_name(builder, "body");
	json_builder_add_string_value(builder, text);
	json_builder_end_object(builder);
	node = json_builder_get_root(builder);
	body = json_to_string(node, FALSE);
	answer = ctl(d, "POST", "/v1/sim/sms/inbound", body);
}

/* the feedback list as `vestibulectl feedback` gets it */
static JsonArray *
feedback_list(VbTestDaemon *d, JsonNode **keep)
{
	JsonObject *obj;

	*keep = ctl(d, "GET", "/v1/feedback", NULL);
	obj = json_node_get_object(*keep);
	g_assert_true(json_object_has_member(obj, "feedback"));
	return json_object_get_array_member(obj, "feedback");
}

static void
test_replies_feedback(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE "operator-phone=" OPERATOR_PHONE "\n");
	g_autoptr(JsonNode) keep = NULL;
	g_autoptr(GPtrArray) fwd = NULL;
	g_autofree gchar *first = NULL;
	g_autofree gchar *latest = NULL;
	JsonArray *list = NULL;
	JsonObject *entry;
	gint64 deadline;

	first = visit_done(d, PAN_A, PHONE_A_TYPED, PHONE_A);
	latest = returning_visit(d, PAN_A, NULL);
	walk_in_and_out(d, latest);
	g_ptr_array_unref(wait_sms(d, PHONE_A, 2)); /* the two notices */

	inbound(d, PHONE_A, "Where is my receipt?");
	/* the operator's list has it, against the latest visit, with the phone masked */
	deadline = wait_deadline();
	for (;;) {
		g_clear_pointer(&keep, json_node_unref);
		list = feedback_list(d, &keep);
		if (json_array_get_length(list) >= 1)
			break;
		if (g_get_monotonic_time() > deadline)
			g_error("the feedback never reached the operator's list");
		nap();
	}
	g_assert_cmpuint(json_array_get_length(list), ==, 1);
	entry = json_array_get_object_element(list, 0);
	g_assert_cmpstr(json_object_get_string_member(entry, "body"), ==, "Where is my receipt?");
	g_assert_cmpstr(json_object_get_string_member(entry, "visit"), ==, latest);
	g_assert_cmpstr(json_object_get_string_member(entry, "phone"), ==, PHONE_A_MASKED);
	g_assert_false(json_object_get_boolean_member(entry, "handled"));
	{
		g_autofree gchar *text = json_to_string(keep, FALSE);
		assert_not_contains(text, PHONE_A);
	}

	/* `vestibulectl feedback` shows it too */
	{
		g_autofree gchar *out = NULL;
		g_assert_cmpint(run_ctl(d, &out, "feedback", NULL), ==, 0);
		assert_contains(out, "Where is my receipt?");
		assert_contains(out, PHONE_A_MASKED);
		assert_not_contains(out, PHONE_A);
	}

	/* and the operator's phone got it, with the visit */
	fwd = wait_sms(d, OPERATOR_PHONE, 1);
	g_assert_cmpuint(fwd->len, ==, 1);
	{
		g_autofree gchar *expected = g_strdup_printf(
		    "Reply from " PHONE_A_MASKED " about visit %s: Where is my receipt?", latest);
		g_assert_cmpstr(sms_body(fwd, 0), ==, expected);
	}
	/* the shopper gets no reply to feedback */
	{
		g_autoptr(GPtrArray) mine = sms_to(d, PHONE_A);
		g_assert_cmpuint(mine->len, ==, 2); /* the two notices */
	}
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_replies_stop_start(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autofree gchar *a = NULL;
	g_autofree gchar *b = NULL;
	g_autofree gchar *c = NULL;
	g_autofree gchar *receipt_b = NULL;
	g_autofree gchar *receipt_c = NULL;
	g_autofree gchar *result = NULL;
	guint n;

	a = visit_done(d, PAN_A, PHONE_A_TYPED, PHONE_A);
	lines = wait_sms(d, PHONE_A, 1);

	/* STOP, in any case, with spaces: honoured at once */
	inbound(d, PHONE_A, " stop ");
	{
		gint64 deadline = wait_deadline();
		while (db_int(d, "SELECT COUNT(*) FROM customers WHERE sms_opt_out = 1", NULL) !=
		       1) {
			if (g_get_monotonic_time() > deadline)
				g_error("STOP was not recorded");
			nap();
		}
	}
	/* the opt-out is in the consent log */
	g_assert_cmpint(db_int(d, "SELECT COUNT(*) FROM consent WHERE given = 0", NULL), >=, 1);
	n = lines->len;

	/* a later visit of that customer: no notice, no receipt reach the handset */
	b = returning_visit(d, PAN_A, NULL);
	walk_in_and_out(d, b);
	g_assert_cmpuint(post_order(d, token, b, ORDER_SMALL, NULL), ==, 200);
	visit = wait_visit_state(d, b, "settled");
	receipt_b = g_strdup_printf("%s:receipt", b);
	wait_outbox_state(d, receipt_b, "done");
	result = db_text(d, "SELECT result FROM outbox WHERE idempotency_key = ?1", receipt_b);
	assert_contains(result, "opted-out");
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = sms_to(d, PHONE_A);
	g_assert_cmpuint(lines->len, ==, n);
	/* STOP got no reply either */

	/* START: messages flow again */
	inbound(d, PHONE_A, "START");
	{
		gint64 deadline = wait_deadline();
		while (db_int(d, "SELECT COUNT(*) FROM customers WHERE sms_opt_out = 1", NULL) !=
		       0) {
			if (g_get_monotonic_time() > deadline)
				g_error("START was not recorded");
			nap();
		}
	}
	c = returning_visit(d, PAN_A, NULL);
	walk_in_and_out(d, c);
	g_assert_cmpuint(post_order(d, token, c, ORDER_SMALL, NULL), ==, 200);
	g_clear_pointer(&visit, json_node_unref);
	visit = wait_visit_state(d, c, "settled");
	receipt_c = g_strdup_printf("%s:receipt", c);
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = wait_sms(d, PHONE_A, n + 2); /* c's notice and receipt */
	g_assert_cmpuint(lines->len, ==, n + 2);
	g_assert_cmpuint(sms_count_key(d, receipt_c), ==, 1);
	g_assert_cmpuint(sms_count_key(d, receipt_b), ==, 0);
	/* STOP and START are not feedback */
	{
		g_autoptr(JsonNode) keep = NULL;
		JsonArray *list = feedback_list(d, &keep);
		g_assert_cmpuint(json_array_get_length(list), ==, 0);
	}
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_replies_help(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autoptr(GPtrArray) lines = NULL;
	g_autofree gchar *a = NULL;

	a = visit_done(d, PAN_A, PHONE_A_TYPED, PHONE_A);
	lines = wait_sms(d, PHONE_A, 1);
	inbound(d, PHONE_A, "HELP");
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = wait_sms(d, PHONE_A, 2);
	g_assert_cmpuint(lines->len, ==, 2);
	g_assert_cmpstr(sms_body(lines, 1), ==,
			"Test store: for help, contact " OPERATOR_CONTACT
			". Reply STOP to receive no more messages.");
	/* INFO too */
	inbound(d, PHONE_A, "info");
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = wait_sms(d, PHONE_A, 3);
	assert_contains(sms_body(lines, 2), OPERATOR_CONTACT);
	{
		g_autoptr(JsonNode) keep = NULL;
		JsonArray *list = feedback_list(d, &keep);
		g_assert_cmpuint(json_array_get_length(list), ==, 0);
	}
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* 12. kill -9 at each step                                                  */
/* ------------------------------------------------------------------------ */

/* after a restart: nothing went twice, nothing is held without a visit that
 * will settle it, nothing is left half done */
static void
assert_after_restart(VbTestDaemon *d)
{
	g_autoptr(JsonNode) node = NULL;
	JsonArray *holds;

	wait_outbox_idle(d);
	assert_sms_once_each(d);
	g_assert_cmpint(db_int(d,
			       "SELECT COUNT(*) FROM outbox WHERE state = 'dead' AND kind = "
			       "'payment'",
			       NULL),
			==, 0);
	node = holds_get(d);
	holds = json_object_get_array_member(json_node_get_object(node), "holds");
	for (guint i = 0; i < json_array_get_length(holds); i++) {
		JsonObject *hold = json_array_get_object_element(holds, i);
		const gchar *visit = json_object_get_string_member(hold, "reference");
		const gchar *state = json_object_get_string_member(hold, "state");
		g_autofree gchar *vstate = visit_state(d, visit);

		g_assert_cmpint(json_object_get_int_member(hold, "captured"), <=,
				json_object_get_int_member(hold, "authorized"));
		if (g_strcmp0(state, "authorized") == 0 && g_strcmp0(vstate, "open") != 0 &&
		    g_strcmp0(vstate, "awaiting-order") != 0 && g_strcmp0(vstate, "settling") != 0)
			g_error("the hold of visit %s is still authorized, but the visit is %s",
				visit, vstate);
	}
	g_assert_cmpint(pay_status(d, "declined"), ==, 0);
	/* the door is in its defined state */
	g_assert_true(lock_locked(d));
}

static void
test_kill_phone_prompt(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NULL);
	g_autoptr(JsonNode) visit = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *next = NULL;

	tap(d, PAN_A, NULL);
	g_free(wait_screen(d, "enter-phone"));
	id = latest_visit(d);
	press(d, "0639");
	vb_test_daemon_kill(d);
	daemon_restart(d);

	visit = wait_visit_state(d, id, "interrupted");
	g_free(wait_screen(d, "welcome"));
	assert_after_restart(d);
	g_assert_cmpuint(holds_count(d), ==, 0);
	g_assert_cmpuint(count_sms_all(d), ==, 0);
	/* the keys typed before the crash are gone: the shopper starts again */
	next = first_visit(d, PAN_A, NULL, PHONE_A_TYPED, PHONE_A, TRUE, NULL);
	g_assert_cmpstr(next, !=, id);
	g_assert_cmpuint(count_visits(d), ==, 2);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_kill_code_sms(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NULL);
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *key = NULL;

	tap(d, PAN_A, NULL);
	g_free(wait_screen(d, "enter-phone"));
	id = latest_visit(d);
	press(d, PHONE_A_TYPED " enter");
	g_free(wait_screen(d, "enter-code"));
	lines = wait_sms(d, PHONE_A, 1);
	key = g_strdup(sms_key(lines, 0));
	wait_outbox_state(d, key, "done");
	vb_test_daemon_kill(d);
	daemon_restart(d);

	/* the code cannot be typed into a door that forgot the visit */
	visit = wait_visit_state(d, id, "interrupted");
	g_free(wait_screen(d, "welcome"));
	assert_after_restart(d);
	g_assert_cmpuint(sms_count_key(d, key), ==, 1);
	g_assert_cmpuint(holds_count(d), ==, 0);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_kill_authorizing(void)
{
	/* the processor is slow: the hold is asked for, and not answered yet */
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE LATENCY_DROP_IN);
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(GPtrArray) holds = NULL;
	g_autofree gchar *id = NULL;

	tap(d, PAN_A, NULL);
	g_free(wait_screen(d, "enter-phone"));
	id = latest_visit(d);
	press(d, PHONE_A_TYPED " enter");
	g_free(wait_screen(d, "authorizing"));
	wait_state(d, id, "authorizing");
	vb_test_daemon_kill(d);
	vb_test_daemon_write_drop_in(d, "50-test.conf", NO_CODE);
	daemon_restart(d);

	/* the hold may have been placed after all: it is voided */
	visit = wait_visit_state(d, id, "interrupted");
	assert_timeline_has(visit, "interrupted", "during the hold");
	assert_after_restart(d);
	/* the void ran to its end, whether it found a hold to cancel or none */
	g_clear_pointer(&visit, json_node_unref);
	visit = visit_get(d, id);
	g_assert_true(timeline_has(visit, "interrupted", "late hold cancelled") ||
		      timeline_has(visit, "interrupted", "no hold was placed"));
	holds = holds_for(d, id);
	for (guint i = 0; i < holds->len; i++)
		g_assert_cmpstr(hold_str(g_ptr_array_index(holds, i), "state"), !=, "authorized");
	g_assert_cmpuint(count_events(d, "door-unlocked"), ==, 0);
	g_clear_pointer(&visit, json_node_unref);
	visit = visit_get(d, id);
	g_assert_false(timeline_has(visit, "unlocked", NULL));
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_kill_unlocked(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(JsonNode) hold = NULL;
	g_autofree gchar *id = NULL;

	id = first_visit(d, PAN_A, NULL, PHONE_A_TYPED, PHONE_A, FALSE, NULL);
	vb_test_daemon_kill(d);
	daemon_restart(d);

	/* the lock came back locked: the shopper never got in, the hold goes */
	visit = wait_visit_state(d, id, "abandoned");
	hold = wait_hold_state(d, id, "cancelled");
	g_assert_cmpint(hold_int(hold, "captured"), ==, 0);
	assert_after_restart(d);
	g_assert_cmpuint(count_sms_to(d, PHONE_A), ==, 0);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_kill_door_open(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(JsonNode) hold = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *notice = NULL;

	id = first_visit(d, PAN_A, NULL, PHONE_A_TYPED, PHONE_A, FALSE, NULL);
	door(d, "open");
	wait_state(d, id, "open");
	vb_test_daemon_kill(d);
	daemon_restart(d);

	/* the restarted simulator reports the door closed: the shopper left
	 * while the daemon was down, and the visit ends as if the door had just
	 * closed, with its notice; nothing waits for a door event that will
	 * never come */
	visit = wait_visit_state(d, id, "awaiting-order");
	g_assert_true(lock_locked(d));
	hold = hold_of(d, id);
	g_assert_cmpstr(hold_str(hold, "state"), ==, "authorized");
	/* a later door cycle belongs to nobody's visit */
	door(d, "open");
	door(d, "close");
	notice = g_strdup_printf("%s:notice", id);
	lines = wait_sms(d, PHONE_A, 1);
	assert_after_restart(d);
	g_assert_cmpuint(sms_count_key(d, notice), ==, 1);
	/* and it settles as any other */
	g_assert_cmpuint(post_order(d, token, id, ORDER_SMALL, NULL), ==, 200);
	g_clear_pointer(&visit, json_node_unref);
	visit = wait_visit_state(d, id, "settled");
	g_clear_pointer(&hold, json_node_unref);
	hold = wait_hold_state(d, id, "captured");
	g_assert_cmpint(hold_int(hold, "captured"), ==, ORDER_SMALL_TOTAL);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* a second door, for the restart that finds it gone from the configuration */
#define SIDE_DOOR                                                                                  \
	"[door:side]\n"                                                                            \
	"reader=side-reader\n"                                                                     \
	"lock=side-lock\n"                                                                         \
	"keypad=side-keypad\n"                                                                     \
	"display=side-display\n"                                                                   \
	"[instance:side-reader]\n"                                                                 \
	"plugin=sim-reader\n"                                                                      \
	"[instance:side-lock]\n"                                                                   \
	"plugin=sim-lock\n"                                                                        \
	"[instance:side-keypad]\n"                                                                 \
	"plugin=sim-keypad\n"                                                                      \
	"[instance:side-display]\n"                                                                \
	"plugin=console\n"                                                                         \
	"output=none\n"

static void
test_kill_door_open_door_gone(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(SIDE_DOOR);
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *notice = NULL;
	gint64 deadline;

	vb_test_daemon_write_drop_in(d, "40-base.conf", BASE_DROP_IN);
	vb_test_daemon_write_drop_in(d, "50-test.conf", NO_CODE);
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start: %s", error->message);
	/* a new card at the side door, the phone typed, the door pushed open */
	json_node_unref(ctl(d, "POST", "/v1/sim/side-reader/tap", "{\"pan\": \"" PAN_A "\"}"));
	deadline = wait_deadline();
	while (count_visits(d) == 0) {
		if (g_get_monotonic_time() > deadline)
			g_error("the tap at the side door made no visit");
		nap();
	}
	id = latest_visit(d);
	wait_state(d, id, "enter-phone");
	{
		g_autoptr(GString) body = g_string_new("{\"keys\": [");
		for (const gchar *c = PHONE_A_TYPED; *c != '\0'; c++)
			g_string_append_printf(body, "\"%c\", ", *c);
		g_string_append(body, "\"enter\"]}");
		json_node_unref(ctl(d, "POST", "/v1/sim/side-keypad/keys", body->str));
	}
	wait_state(d, id, "unlocked");
	json_node_unref(ctl(d, "POST", "/v1/sim/side-lock/door", "{\"action\": \"open\"}"));
	wait_state(d, id, "open");
	vb_test_daemon_kill(d);
	/* the side door is taken out of the configuration while the daemon is down */
	vb_test_daemon_write_config(d, NULL);
	daemon_restart(d);

	/* the visit ends as if its door had closed: awaiting its order, and the
	 * shopper gets the notice that every closed door brings */
	visit = wait_visit_state(d, id, "awaiting-order");
	notice = g_strdup_printf("%s:notice", id);
	lines = wait_sms(d, PHONE_A, 1);
	g_assert_cmpstr(sms_key(lines, 0), ==, notice);
	g_assert_cmpstr(sms_body(lines, 0), ==, NOTICE_EN);
	assert_after_restart(d);
	g_assert_cmpuint(sms_count_key(d, notice), ==, 1);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_kill_door_closed(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(JsonNode) hold = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *notice = NULL;

	id = first_visit(d, PAN_A, NULL, PHONE_A_TYPED, PHONE_A, FALSE, NULL);
	door(d, "open");
	wait_state(d, id, "open");
	door(d, "close");
	/* killed as soon as the visit is recorded: the notice may or may not be out */
	wait_state(d, id, "awaiting-order");
	vb_test_daemon_kill(d);
	daemon_restart(d);

	notice = g_strdup_printf("%s:notice", id);
	lines = wait_sms(d, PHONE_A, 1);
	assert_after_restart(d);
	g_assert_cmpuint(sms_count_key(d, notice), ==, 1);
	g_assert_cmpuint(lines->len, ==, 1);
	visit = visit_get(d, id);
	g_assert_cmpstr(visit_str(visit, "state"), ==, "awaiting-order");
	hold = hold_of(d, id);
	g_assert_cmpstr(hold_str(hold, "state"), ==, "authorized");
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_kill_order(void)
{
	/* the processor is slow: the capture will be in flight */
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE LATENCY_DROP_IN);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(JsonNode) hold = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *capture = NULL;
	g_autofree gchar *receipt = NULL;
	gint64 deadline;

	id = visit_done(d, PAN_A, PHONE_A_TYPED, PHONE_A);
	lines = wait_sms(d, PHONE_A, 1);
	g_assert_cmpuint(post_order(d, token, id, ORDER_SMALL, NULL), ==, 200);
	capture = g_strdup_printf("%s:capture", id);
	deadline = wait_deadline();
	for (;;) {
		g_autofree gchar *state = outbox_state(d, capture);
		if (g_strcmp0(state, "sending") == 0)
			break;
		if (g_get_monotonic_time() > deadline)
			g_error("the capture never started; it is %s", state);
		nap();
	}
	vb_test_daemon_kill(d);
	vb_test_daemon_write_drop_in(d, "50-test.conf", NO_CODE);
	daemon_restart(d);

	/* the capture goes again with its key: captured once, one receipt */
	visit = wait_visit_state(d, id, "settled");
	g_assert_cmpint(visit_int(visit, "captured"), ==, ORDER_SMALL_TOTAL);
	g_assert_cmpstr(visit_str(visit, "settlement"), ==, "captured");
	g_assert_false(timeline_has(visit, "capture-declined", NULL));
	hold = wait_hold_state(d, id, "captured");
	g_assert_cmpint(hold_int(hold, "captured"), ==, ORDER_SMALL_TOTAL);
	receipt = g_strdup_printf("%s:receipt", id);
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = wait_sms(d, PHONE_A, 2);
	assert_after_restart(d);
	g_assert_cmpuint(sms_count_key(d, receipt), ==, 1);
	g_assert_cmpuint(count_sms_to(d, PHONE_A), ==, 2);
	/* the order posted again after the crash changes nothing */
	g_assert_cmpuint(post_order(d, token, id, ORDER_SMALL, NULL), ==, 200);
	g_usleep(200 * G_TIME_SPAN_MILLISECOND);
	wait_outbox_idle(d);
	g_assert_cmpint(pay_status(d, "declined"), ==, 0);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* 13. the scan                                                              */
/* ------------------------------------------------------------------------ */

/* the keys typed at the door, in order, from the audit log: what someone
 * holding the database could read back */
static gchar *
audit_keypad_digits(VbTestDaemon *d)
{
	g_autoptr(sqlite3) db = vb_test_daemon_open_db(d, FALSE);
	g_autoptr(GString) out = g_string_new(NULL);
	sqlite3_stmt *stmt = NULL;

	g_assert_cmpint(sqlite3_prepare_v2(db,
					   "SELECT payload FROM audit WHERE name = 'keypad-key' "
					   "ORDER BY seq",
					   -1, &stmt, NULL),
			==, SQLITE_OK);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		const gchar *payload = (const gchar *)sqlite3_column_text(stmt, 0);
		g_autoptr(JsonNode) node = payload != NULL ? json_from_string(payload, NULL) : NULL;
		const gchar *key = node != NULL && JSON_NODE_HOLDS_OBJECT(node)
				       ? json_object_get_string_member_with_default(
					     json_node_get_object(node), "key", "")
				       : "";
		g_string_append(out, key);
	}
	sqlite3_finalize(stmt);
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static void
assert_nowhere(VbTestDaemon *d, const gchar *what, const gchar *secret)
{
	g_autofree gchar *where = vb_test_daemon_file_containing(d, secret);
	if (where != NULL)
		g_error("%s (%s) is in plain text in %s", what, secret, where);
}

/* a six-digit code standing on its own in @path: not a window of a longer run
 * of digits such as a timestamp, which would match one code in a million */
static gboolean
file_has_code(const gchar *path, const gchar *code)
{
	g_autofree gchar *data = NULL;
	gsize len = 0;
	gsize n = strlen(code);

	if (!g_file_get_contents(path, &data, &len, NULL))
		return FALSE;
	for (const gchar *p = data; (p = memmem(p, len - (gsize)(p - data), code, n)) != NULL;
	     p++) {
		gboolean digit_before = p > data && g_ascii_isdigit(p[-1]);
		gboolean digit_after = (gsize)(p - data) + n < len && g_ascii_isdigit(p[n]);
		if (!digit_before && !digit_after)
			return TRUE;
	}
	return FALSE;
}

static void
assert_code_nowhere(VbTestDaemon *d, const gchar *code)
{
	g_autoptr(GDir) dir = g_dir_open(d->state_dir, 0, NULL);
	const gchar *name;

	g_assert_nonnull(dir);
	if (file_has_code(d->log_path, code))
		g_error("a one-time code (%s) is in plain text in %s", code, d->log_path);
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(d->state_dir, name, NULL);
		if (file_has_code(path, code))
			g_error("a one-time code (%s) is in plain text in %s", code, path);
	}
}

static void
scan(VbTestDaemon *d, const gchar *const *codes)
{
	assert_nowhere(d, "card A", PAN_A);
	assert_nowhere(d, "card B", PAN_B);
	assert_nowhere(d, "phone A", PHONE_A);
	assert_nowhere(d, "phone A as typed", PHONE_A_TYPED);
	assert_nowhere(d, "phone A's national number", PHONE_A_NSN);
	assert_nowhere(d, "phone B", PHONE_B);
	assert_nowhere(d, "phone B as typed", PHONE_B_TYPED);
	assert_nowhere(d, "phone B's national number", PHONE_B_NSN);
	for (guint i = 0; codes[i] != NULL; i++)
		assert_code_nowhere(d, codes[i]);
}

static void
test_scan(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NULL);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autofree gchar *a = NULL;
	g_autofree gchar *b = NULL;
	g_autofree gchar *code_a = NULL;
	g_autofree gchar *code_b = NULL;
	g_autofree gchar *typed = NULL;
	g_autofree gchar *db = g_build_filename(d->state_dir, "vestibule.db", NULL);
	g_autofree gchar *wal = g_build_filename(d->state_dir, "vestibule.db-wal", NULL);
	const gchar *codes[3] = {NULL};

	/* the handset file plays the phones: it is not the daemon's state */
	g_assert_false(g_str_has_prefix(d->sms_path, d->state_dir));

	/* two cards, two phones, each with its code, an order and a reply */
	a = first_visit(d, PAN_A, NULL, PHONE_A_TYPED, PHONE_A, TRUE, &code_a);
	walk_in_and_out(d, a);
	b = first_visit(d, PAN_B, "fr", PHONE_B_TYPED, PHONE_B, TRUE, &code_b);
	walk_in_and_out(d, b);
	codes[0] = code_a;
	codes[1] = code_b;
	g_assert_cmpuint(post_order(d, token, a, ORDER_SMALL, NULL), ==, 200);
	g_assert_cmpuint(post_order(d, token, b, ORDER_EMPTY, NULL), ==, 200);
	wait_state(d, a, "settled");
	wait_state(d, b, "settled");
	g_ptr_array_unref(wait_sms(d, PHONE_A, 3));
	g_ptr_array_unref(wait_sms(d, PHONE_B, 3));
	inbound(d, PHONE_A, "Thanks, all good");
	inbound(d, PHONE_B, "STOP");
	wait_outbox_idle(d);
	/* the handsets did get them: the scan looks for what is really there */
	{
		g_autoptr(GPtrArray) la = sms_to(d, PHONE_A);
		g_autoptr(GPtrArray) lb = sms_to(d, PHONE_B);
		assert_contains(sms_body(la, 0), code_a);
		assert_contains(sms_body(lb, 0), code_b);
	}

	/* while it runs: the database, its WAL and shared memory, the log */
	g_usleep(300 * G_TIME_SPAN_MILLISECOND); /* the audit log's batch */
	g_assert_true(g_file_test(db, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(wal, G_FILE_TEST_EXISTS));
	scan(d, codes);
	/* nor can the keys typed at the door be read back from the audit log */
	typed = audit_keypad_digits(d);
	if (strstr(typed, PHONE_A_TYPED) != NULL || strstr(typed, PHONE_B_TYPED) != NULL ||
	    strstr(typed, code_a) != NULL || strstr(typed, code_b) != NULL)
		g_error("the audit log records every key typed at the door, in order, so the phone "
			"numbers and codes can be read back from it: %s",
			typed);

	/* and after a clean stop */
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	g_assert_true(g_file_test(db, G_FILE_TEST_EXISTS));
	scan(d, codes);
}

/* each scenario runs in its own process: one that fails (a daemon bug found)
 * is reported, and the scenarios after it still run */
/* a number that cannot be a phone is refused with a clear prompt, three times
 * at most; a keypad left alone ends the visit; neither places a hold */
static void
test_first_bad_keypad_entry(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new("[visit]\nkeypad-timeout-s=5\n");
	g_autofree gchar *id = NULL;
	g_autofree gchar *again = NULL;
	g_autofree gchar *text = NULL;

	tap(d, PAN_C, NULL);
	g_free(wait_screen(d, "enter-phone"));
	id = latest_visit(d);
	press(d, "12 enter");
	text = wait_screen(d, "invalid-phone");
	assert_contains(text, "That number is not valid. Please try again");
	g_assert_true(lock_locked(d));
	press(d, "99999999999999999 enter");
	g_free(wait_screen(d, "invalid-phone"));
	press(d, "1 enter");
	json_node_unref(wait_visit_state(d, id, "invalid-phone"));
	g_assert_true(lock_locked(d));
	g_assert_cmpint(holds_count(d), ==, 0);

	/* the next shopper walks away from the keypad */
	tap(d, PAN_C, NULL);
	g_free(wait_screen(d, "enter-phone"));
	again = latest_visit(d);
	g_assert_cmpstr(again, !=, id);
	g_free(wait_screen(d, "timed-out"));
	json_node_unref(wait_visit_state(d, again, "timed-out"));
	g_assert_true(lock_locked(d));
	g_assert_cmpint(holds_count(d), ==, 0);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* a known card given a new number: '*' then a tap, and a code to the new
 * phone even though verify-phone is off */
static void
test_relink_new_phone(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(NO_CODE);
	g_autoptr(GPtrArray) to_a = NULL;
	g_autoptr(GPtrArray) before_b = NULL;
	g_autoptr(JsonNode) visit = NULL;
	g_autofree gchar *first = NULL;
	g_autofree gchar *second = NULL;
	g_autofree gchar *code = NULL;
	g_autofree gchar *keys = NULL;
	guint n_a;

	first = first_visit(d, PAN_A, NULL, PHONE_A_TYPED, PHONE_A, FALSE, NULL);
	walk_in_and_out(d, first);
	to_a = wait_sms(d, PHONE_A, 1);
	n_a = to_a->len;
	before_b = sms_to(d, PHONE_B);

	press(d, "*");
	g_free(wait_screen(d, "change-phone"));
	tap(d, PAN_A, NULL);
	g_free(wait_screen(d, "enter-phone"));
	second = latest_visit(d);
	keys = g_strdup_printf("%s enter", PHONE_B_TYPED);
	press(d, keys);
	/* the new phone proves itself, whatever verify-phone says */
	g_free(wait_screen(d, "enter-code"));
	code = wait_code(d, PHONE_B, before_b->len, NULL);
	g_assert_true(lock_locked(d));
	g_free(keys);
	keys = g_strdup_printf("%s enter", code);
	press(d, keys);
	g_free(wait_screen(d, "door-open"));
	visit = wait_visit_state(d, second, "unlocked");
	g_assert_cmpstr(visit_str(visit, "phone"), !=, PHONE_A_MASKED);
	g_assert_true(g_str_has_suffix(visit_str(visit, "phone"), " 78"));
	/* the old phone got nothing for the change */
	g_clear_pointer(&to_a, g_ptr_array_unref);
	to_a = sms_to(d, PHONE_A);
	g_assert_cmpuint(to_a->len, ==, n_a);
	walk_in_and_out(d, second);

	/* from now on the card is the new phone's: no prompt, notices to it */
	g_clear_pointer(&visit, json_node_unref);
	{
		g_autofree gchar *third = returning_visit(d, PAN_A, NULL);
		visit = visit_get(d, third);
		g_assert_true(g_str_has_suffix(visit_str(visit, "phone"), " 78"));
	}
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* a hold still without an order at its capture deadline is settled by the
 * configured policy, with an alert: never left to expire */
static void
check_deadline_policy(const gchar *drop_in, const gchar *settlement, gint64 captured)
{
	g_autoptr(VbTestDaemon) d = daemon_new(drop_in);
	g_autoptr(JsonNode) visit = NULL;
	g_autoptr(GPtrArray) alerts = NULL;
	g_autofree gchar *id = visit_done(d, PAN_A, PHONE_A_TYPED, PHONE_A);
	gboolean alerted = FALSE;

	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	/* the deadline passes while the daemon is down; it is checked at start */
	db_exec(d, "UPDATE visits SET capture_deadline = 1 WHERE id = ?1", id);
	daemon_restart(d);
	visit = wait_visit_state(d, id, "settled");
	g_assert_cmpstr(visit_str(visit, "settlement"), ==, settlement);
	g_assert_cmpint(visit_int(visit, "captured"), ==, captured);
	assert_timeline_has(visit, "settling", "no order by the capture deadline");
	alerts = vb_test_daemon_events(d, "alert");
	for (guint i = 0; i < alerts->len; i++) {
		if (strstr(g_ptr_array_index(alerts, i), "capture deadline") != NULL)
			alerted = TRUE;
	}
	g_assert_true(alerted);
	/* and an order that comes late is refused: the hold is settled */
	{
		g_autoptr(JsonNode) answer = NULL;
		g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
		g_assert_cmpuint(post_order(d, token, id, ORDER_SMALL, &answer), ==, 409);
	}
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* the outbox is full when a shopper walks out (a long SMS outage filled it):
 * the closed door is recorded all the same, so that the order can settle,
 * the operator is told, and the notice goes out once, as soon as the outbox
 * has room, even across a restart */
static void
test_notice_outbox_full(void)
{
	g_autoptr(VbTestDaemon) d =
	    daemon_new(NO_CODE "[outbox]\nmax-pending=1\nbase-delay-ms=50\nmax-delay-ms=100\n");
	g_autofree gchar *first = first_visit(d, PAN_A, NULL, PHONE_A_TYPED, PHONE_A, FALSE, NULL);
	g_autofree gchar *second = NULL;
	g_autofree gchar *key_second = NULL;
	g_autofree gchar *state = NULL;
	g_autoptr(GPtrArray) alerts = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(JsonNode) visit = NULL;
	gboolean alerted = FALSE;

	/* the first notice takes the outbox's only place while SMS is down */
	json_node_unref(ctl(d, "POST", "/v1/sim/sms/outage", "{\"down\": true}"));
	walk_in_and_out(d, first);
	second = first_visit(d, PAN_B, NULL, PHONE_B_TYPED, PHONE_B, FALSE, NULL);
	walk_in_and_out(d, second);
	key_second = g_strdup_printf("%s:notice", second);
	g_assert_cmpint(
	    db_int(d, "SELECT COUNT(*) FROM outbox WHERE idempotency_key = ?1", key_second), ==, 0);
	alerts = vb_test_daemon_events(d, "alert");
	for (guint i = 0; i < alerts->len; i++) {
		if (strstr(g_ptr_array_index(alerts, i), "waits for room in the outbox") != NULL)
			alerted = TRUE;
	}
	g_assert_true(alerted);

	state = visit_state(d, second);
	g_assert_cmpstr(state, ==, "awaiting-order");
	g_assert_cmpuint(count_sms_to(d, PHONE_B), ==, 0);

	/* the daemon restarts (the simulated outage ends with it): the notice
	 * owed is not forgotten, and both go, each once */
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	daemon_restart(d);
	lines = wait_sms(d, PHONE_B, 1);
	assert_contains(sms_body(lines, 0), "a purchase was made with your card");
	g_assert_cmpstr(sms_key(lines, 0), ==, key_second);
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = wait_sms(d, PHONE_A, 1);
	wait_outbox_idle(d);
	assert_sms_once_each(d);
	g_assert_cmpuint(count_sms_to(d, PHONE_B), ==, 1);

	/* and the visit settles as any other */
	{
		g_autoptr(JsonNode) answer = NULL;
		g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
		g_assert_cmpuint(post_order(d, token, second, ORDER_SMALL, &answer), ==, 200);
	}
	visit = wait_visit_state(d, second, "settled");
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_deadline_cancel(void)
{
	check_deadline_policy(NO_CODE, "expired-cancelled", 0);
}

static void
test_deadline_capture(void)
{
	check_deadline_policy(NO_CODE "deadline-capture-max=1200\n", "expired-captured", 1200);
}

typedef struct {
	GTestFunc func;
} TestCase;

static void
run_isolated(gconstpointer data)
{
	const TestCase *tc = data;

	if (g_test_subprocess()) {
		tc->func();
		return;
	}
	g_test_trap_subprocess(NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
}

#define ADD(path, function)                                                                        \
	G_STMT_START                                                                               \
	{                                                                                          \
		static const TestCase tc = {function};                                             \
		g_test_add_data_func(path, &tc, run_isolated);                                     \
	}                                                                                          \
	G_STMT_END

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* operator warnings are expected here; criticals stay fatal */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	/* the parent only checks how each scenario ended, and goes on */
	if (!g_test_subprocess())
		g_test_set_nonfatal_assertions();

	ADD("/visit/first/with-code", test_first_with_code);
	ADD("/visit/relink/new-phone-needs-code", test_relink_new_phone);
	ADD("/visit/first/bad-keypad-entry", test_first_bad_keypad_entry);
	ADD("/visit/deadline/cancel", test_deadline_cancel);
	ADD("/visit/deadline/capture-up-to", test_deadline_capture);
	ADD("/visit/notice/outbox-full", test_notice_outbox_full);
	ADD("/visit/first/french", test_first_french);
	ADD("/visit/first/without-code", test_first_without_code);
	ADD("/visit/first/wrong-code-three-times", test_first_wrong_code);
	ADD("/visit/returning", test_returning);
	ADD("/visit/list-pages", test_list_pages);
	ADD("/visit/two-cards-one-phone", test_two_cards_one_phone);
	ADD("/visit/hold/declined", test_hold_declined);
	ADD("/visit/hold/processor-down", test_hold_processor_down);
	ADD("/visit/log/alert-fields", test_alert_log_fields);
	ADD("/visit/door/never-opened", test_door_never_opened);
	ADD("/visit/order/empty", test_order_empty);
	ADD("/visit/order/within-hold", test_order_within_hold);
	ADD("/visit/order/over-hold", test_order_over_hold);
	ADD("/visit/order/duplicate", test_order_duplicate);
	ADD("/visit/order/refused", test_order_refused);
	ADD("/visit/order/bad-path", test_order_bad_path);
	ADD("/visit/order/control-characters", test_order_control_characters);
	ADD("/visit/receipt/page", test_receipt);
	ADD("/visit/receipt/french-adjusted", test_receipt_french_adjusted);
	ADD("/visit/replies/feedback", test_replies_feedback);
	ADD("/visit/replies/stop-start", test_replies_stop_start);
	ADD("/visit/replies/help", test_replies_help);
	ADD("/visit/kill9/phone-prompt", test_kill_phone_prompt);
	ADD("/visit/kill9/code-sms", test_kill_code_sms);
	ADD("/visit/kill9/authorizing", test_kill_authorizing);
	ADD("/visit/kill9/unlocked", test_kill_unlocked);
	ADD("/visit/kill9/door-open", test_kill_door_open);
	ADD("/visit/kill9/door-open-door-gone", test_kill_door_open_door_gone);
	ADD("/visit/kill9/door-closed", test_kill_door_closed);
	ADD("/visit/kill9/order-in-flight", test_kill_order);
	ADD("/visit/scan/no-plain-text", test_scan);
	return g_test_run();
}
