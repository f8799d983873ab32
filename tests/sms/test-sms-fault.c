/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "../vb-test-daemon.h"
#include "vb-error.h"

/*
 * The SMS provider fails while the store stays open: vestibuled runs the
 * simulated store, the tests play shoppers (taps, keys, the door), the store's
 * recognition system (orders) and the operator (vestibulectl), and read the
 * handsets (log-sms's JSON lines, one per message really sent).
 *
 * Time. The outbox's retry timing depends only on the ratio of its delays to
 * the outage: with the defaults (base 1 s, longest 1 h) an hour-long outage is
 * what [outbox] base-delay-ms=1 and max-delay-ms=3600 make of 3.6 s. The test
 * config scales every delay by 1/1000, the outage lasts 3.6 s of real time,
 * and the daemon runs its real code paths and clock: no time is faked.
 */

#define PAN_A "4970107301234564"
#define PAN_B "5377992017654320"
#define PHONE_A_TYPED "0639981234"
#define PHONE_A "+33639981234"
#define PHONE_B_TYPED "0639985678"
#define PHONE_B "+33639985678"

#define WAIT_MS 15000
/* one simulated hour at 1/1000 */
#define SIMULATED_HOUR_MS 3600

#define SCALED_OUTBOX                                                                              \
	"[outbox]\n"                                                                               \
	"base-delay-ms=1\n"                                                                        \
	"max-delay-ms=3600\n"                                                                      \
	"[visit]\n"                                                                                \
	"verify-phone=false\n"                                                                     \
	"[sms]\n"                                                                                  \
	"rate-per-minute=0\n"

static const gchar *ORDER =
    "{\"currency\": \"EUR\", \"lines\": ["
    "{\"sku\": \"W-330\", \"name\": \"Sparkling water\", \"quantity\": 2, \"unit_price\": 150}]}";

/* ------------------------------------------------------------------------ */

static VbTestDaemon *
daemon_new(const gchar *drop_in)
{
	VbTestDaemon *d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;

	vb_test_daemon_write_drop_in(d, "50-test.conf", drop_in);
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start: %s", error->message);
	return d;
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

static void
outage(VbTestDaemon *d, const gchar *instance, gboolean down)
{
	g_autofree gchar *path = g_strdup_printf("/v1/sim/%s/outage", instance);

	json_node_unref(ctl(d, "POST", path, down ? "{\"down\": true}" : "{\"down\": false}"));
}

static void
assert_contains(const gchar *haystack, const gchar *needle)
{
	if (haystack == NULL || strstr(haystack, needle) == NULL)
		g_error("expected '%s' in: %s", needle, haystack != NULL ? haystack : "(null)");
}

static gchar *
screen(VbTestDaemon *d)
{
	g_autoptr(JsonNode) node = ctl(d, "GET", "/v1/sim/front-display/screen", NULL);
	JsonNode *id = json_object_get_member(json_node_get_object(node), "prompt-id");

	return id != NULL && !JSON_NODE_HOLDS_NULL(id) ? g_strdup(json_node_get_string(id)) : NULL;
}

typedef struct {
	VbTestDaemon *d;
	const gchar *want;
} ScreenWait;

static gboolean
screen_is(gpointer user_data)
{
	ScreenWait *w = user_data;
	g_autofree gchar *id = screen(w->d);
	return g_strcmp0(id, w->want) == 0;
}

static void
wait_screen(VbTestDaemon *d, const gchar *prompt_id)
{
	ScreenWait w = {d, prompt_id};

	if (!vb_test_poll(screen_is, &w, WAIT_MS)) {
		g_autofree gchar *id = screen(d);
		g_error("waited for the screen to show '%s'; it shows '%s'", prompt_id, id);
	}
}

static gchar *
latest_visit(VbTestDaemon *d)
{
	g_autoptr(JsonNode) node = ctl(d, "GET", "/v1/visits?limit=1", NULL);
	JsonArray *visits = json_object_get_array_member(json_node_get_object(node), "visits");

	g_assert_cmpuint(json_array_get_length(visits), ==, 1);
	return g_strdup(
	    json_object_get_string_member(json_array_get_object_element(visits, 0), "id"));
}

typedef struct {
	VbTestDaemon *d;
	const gchar *id;
	const gchar *state;
} StateWait;

static gboolean
visit_is(gpointer user_data)
{
	StateWait *w = user_data;
	g_autofree gchar *path = g_strdup_printf("/v1/visits/%s", w->id);
	g_autoptr(JsonNode) node = ctl(w->d, "GET", path, NULL);
	JsonObject *obj = json_node_get_object(node);

	if (json_object_has_member(obj, "visit"))
		obj = json_object_get_object_member(obj, "visit");
	return g_strcmp0(json_object_get_string_member_with_default(obj, "state", ""), w->state) ==
	       0;
}

static void
wait_visit(VbTestDaemon *d, const gchar *id, const gchar *state)
{
	StateWait w = {d, id, state};

	if (!vb_test_poll(visit_is, &w, WAIT_MS))
		g_error("visit %s never reached %s", id, state);
}

static void
tap(VbTestDaemon *d, const gchar *pan)
{
	g_autofree gchar *body = g_strdup_printf("{\"pan\": \"%s\"}", pan);
	json_node_unref(ctl(d, "POST", "/v1/sim/front-reader/tap", body));
}

static void
press_number(VbTestDaemon *d, const gchar *digits)
{
	g_autoptr(GString) body = g_string_new("{\"keys\": [");

	for (const gchar *p = digits; *p != '\0'; p++)
		g_string_append_printf(body, "\"%c\", ", *p);
	g_string_append(body, "\"enter\"]}");
	json_node_unref(ctl(d, "POST", "/v1/sim/front-keypad/keys", body->str));
}

static void
door(VbTestDaemon *d, const gchar *action)
{
	g_autofree gchar *body = g_strdup_printf("{\"action\": \"%s\"}", action);
	json_node_unref(ctl(d, "POST", "/v1/sim/front-lock/door", body));
}

/* a whole visit: tap (and the phone number for a new card), in, out; the
 * notice is queued when the door closes. Returns the visit id */
static gchar *
visit(VbTestDaemon *d, const gchar *pan, const gchar *typed)
{
	g_autofree gchar *id = NULL;

	wait_screen(d, "welcome");
	tap(d, pan);
	if (typed != NULL) {
		wait_screen(d, "enter-phone");
		press_number(d, typed);
	}
	wait_screen(d, "door-open");
	id = latest_visit(d);
	wait_visit(d, id, "unlocked");
	door(d, "open");
	wait_visit(d, id, "open");
	door(d, "close");
	wait_visit(d, id, "awaiting-order");
	return g_steal_pointer(&id);
}

/* the order: the receipt SMS is queued */
static void
order(VbTestDaemon *d, const gchar *token, const gchar *id)
{
	g_autofree gchar *body = NULL;

	g_assert_cmpuint(vb_test_daemon_post_order(d, token, id, ORDER, &body), ==, 200);
	wait_visit(d, id, "settled");
}

/* the lines of a log-sms file */
static GPtrArray *
read_sms(const gchar *path)
{
	g_autofree gchar *data = NULL;
	g_auto(GStrv) lines = NULL;
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);

	if (!g_file_get_contents(path, &data, NULL, NULL))
		return out;
	lines = g_strsplit(data, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		JsonNode *node;
		if (lines[i][0] == '\0')
			continue;
		node = json_from_string(lines[i], &error);
		g_assert_no_error(error);
		g_ptr_array_add(out, node);
	}
	return out;
}

static const gchar *
line_str(GPtrArray *lines, guint i, const gchar *member)
{
	return json_object_get_string_member(json_node_get_object(g_ptr_array_index(lines, i)),
					     member);
}

/* the idempotency keys of the messages @e164 received, oldest first */
static GPtrArray *
keys_to(GPtrArray *lines, const gchar *e164)
{
	g_autofree gchar *hash = vb_test_phone_hash(e164);
	GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < lines->len; i++) {
		if (g_strcmp0(line_str(lines, i, "to-hash"), hash) == 0)
			g_ptr_array_add(keys, g_strdup(line_str(lines, i, "idempotency-key")));
	}
	return keys;
}

/* no message reached a handset twice, across every file given */
static void
assert_once_each(GPtrArray *a, GPtrArray *b)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	GPtrArray *files[] = {a, b};

	for (guint f = 0; f < G_N_ELEMENTS(files); f++) {
		if (files[f] == NULL)
			continue;
		for (guint i = 0; i < files[f]->len; i++) {
			const gchar *key = line_str(files[f], i, "idempotency-key");
			g_assert_nonnull(key);
			if (!g_hash_table_add(seen, (gpointer)key))
				g_error("the message %s reached the handset twice", key);
		}
	}
}

typedef struct {
	const gchar *path;
	guint n;
} CountWait;

static gboolean
sms_reached(gpointer user_data)
{
	CountWait *w = user_data;
	g_autoptr(GPtrArray) lines = read_sms(w->path);
	return lines->len >= w->n;
}

static void
wait_sms_count(VbTestDaemon *d, const gchar *path, guint n)
{
	CountWait w = {path, n};

	if (!vb_test_poll(sms_reached, &w, WAIT_MS)) {
		g_autofree gchar *log = vb_test_daemon_read_log(d);
		g_autoptr(GPtrArray) lines = read_sms(path);
		g_error("waited for %u messages in %s, it has %u; the log:\n%s", n, path,
			lines->len, log);
	}
}

static gint64
outbox_count(VbTestDaemon *d, const gchar *state)
{
	g_autoptr(JsonNode) node = ctl(d, "GET", "/v1/outbox/counts", NULL);
	JsonObject *counts = json_node_get_object(node);

	/* items move between the two at any moment: read them in one answer */
	if (g_strcmp0(state, "waiting") == 0)
		return json_object_get_int_member_with_default(counts, "pending", 0) +
		       json_object_get_int_member_with_default(counts, "sending", 0);
	return json_object_get_int_member_with_default(counts, state, -1);
}

/* the SMS listing, as `vestibulectl sms --json` gives it */
static JsonArray *
sms_messages(VbTestDaemon *d, JsonNode **owner)
{
	*owner = ctl(d, "GET", "/v1/sms?limit=100", NULL);
	return json_object_get_array_member(json_node_get_object(*owner), "messages");
}

typedef struct {
	VbTestDaemon *d;
	guint n;
	const gchar *state;
} DeliveredWait;

static gboolean
all_in_state(gpointer user_data)
{
	DeliveredWait *w = user_data;
	g_autoptr(JsonNode) owner = NULL;
	JsonArray *messages = sms_messages(w->d, &owner);
	guint n = 0;

	for (guint i = 0; i < json_array_get_length(messages); i++) {
		JsonObject *m = json_array_get_object_element(messages, i);
		n += g_strcmp0(json_object_get_string_member(m, "state"), w->state) == 0;
	}
	return n >= w->n;
}

/* ------------------------------------------------------------------------ */
/* an hour without the provider                                              */
/* ------------------------------------------------------------------------ */

static void
test_fault_outage_hour(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(SCALED_OUTBOX);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "vision", "orders");
	g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(GPtrArray) keys_a = NULL;
	g_autoptr(GPtrArray) keys_b = NULL;
	g_autofree gchar *out = NULL;
	gint64 down_at;
	gint64 elapsed_ms;
	DeliveredWait delivered = {d, 6, "delivered"};

	/* the provider goes down; the store stays open */
	outage(d, "sms", TRUE);
	down_at = g_get_monotonic_time();

	/* A comes twice, B once; each visit gets its notice and, with the order,
	 * its receipt: A notice, A receipt, B notice, B receipt, A notice, A receipt */
	for (guint i = 0; i < 3; i++) {
		const gchar *pan = i == 1 ? PAN_B : PAN_A;
		const gchar *typed = i == 0 ? PHONE_A_TYPED : i == 1 ? PHONE_B_TYPED : NULL;
		gchar *id = visit(d, pan, typed);
		order(d, token, id);
		g_ptr_array_add(ids, id);
	}
	/* nothing reached a handset, nothing was given up */
	lines = read_sms(d->sms_path);
	g_assert_cmpuint(lines->len, ==, 0);
	g_assert_cmpint(outbox_count(d, "dead"), ==, 0);
	g_clear_pointer(&lines, g_ptr_array_unref);

	/* the rest of the hour: the outbox keeps retrying, within its limits */
	elapsed_ms = (g_get_monotonic_time() - down_at) / 1000;
	g_assert_cmpint(elapsed_ms, <, SIMULATED_HOUR_MS);
	g_usleep((gulong)(SIMULATED_HOUR_MS - elapsed_ms) * 1000);
	g_assert_cmpint(outbox_count(d, "dead"), ==, 0);
	g_assert_cmpint(outbox_count(d, "waiting"), >=, 6);
	g_assert_cmpint(vb_test_daemon_run_ctl(d, &out, NULL, "outbox", "--state", "pending", NULL),
			==, 0);
	assert_contains(out, "simulated outage");
	/* an hour costs the oldest items fewer attempts than the default 20 */
	{
		g_autoptr(JsonNode) node = ctl(d, "GET", "/v1/outbox?state=all", NULL);
		JsonArray *items =
		    json_object_get_array_member(json_node_get_object(node), "items");
		gint64 most = 0;

		for (guint i = 0; i < json_array_get_length(items); i++)
			most = MAX(most, json_object_get_int_member(
					     json_array_get_object_element(items, i), "attempts"));
		g_test_message("most attempts after a simulated hour: %" G_GINT64_FORMAT, most);
		g_assert_cmpint(most, >=, 5);
		g_assert_cmpint(most, <, 20);
	}
	lines = read_sms(d->sms_path);
	g_assert_cmpuint(lines->len, ==, 0);
	g_clear_pointer(&lines, g_ptr_array_unref);

	/* back: every message arrives, in order for each shopper, none twice */
	outage(d, "sms", FALSE);
	wait_sms_count(d, d->sms_path, 6);
	lines = read_sms(d->sms_path);
	g_assert_cmpuint(lines->len, ==, 6);
	assert_once_each(lines, NULL);
	keys_a = keys_to(lines, PHONE_A);
	keys_b = keys_to(lines, PHONE_B);
	g_assert_cmpuint(keys_a->len, ==, 4);
	g_assert_cmpuint(keys_b->len, ==, 2);
	{
		const gchar *a0 = g_ptr_array_index(ids, 0);
		const gchar *b0 = g_ptr_array_index(ids, 1);
		const gchar *a1 = g_ptr_array_index(ids, 2);
		g_autofree gchar *a_notice0 = g_strdup_printf("%s:notice", a0);
		g_autofree gchar *a_notice1 = g_strdup_printf("%s:notice", a1);
		g_autofree gchar *b_notice0 = g_strdup_printf("%s:notice", b0);

		/* the notice of a visit comes before its receipt, and the first
		 * visit's messages before the second's */
		g_assert_cmpstr(g_ptr_array_index(keys_a, 0), ==, a_notice0);
		g_assert_true(g_str_has_prefix(g_ptr_array_index(keys_a, 1), a0));
		g_assert_cmpstr(g_ptr_array_index(keys_a, 2), ==, a_notice1);
		g_assert_true(g_str_has_prefix(g_ptr_array_index(keys_a, 3), a1));
		g_assert_cmpstr(g_ptr_array_index(keys_b, 0), ==, b_notice0);
		g_assert_true(g_str_has_prefix(g_ptr_array_index(keys_b, 1), b0));
	}
	/* the operator sees them delivered, and no dead letter */
	g_assert_true(vb_test_poll(all_in_state, &delivered, WAIT_MS));
	g_assert_cmpint(outbox_count(d, "dead"), ==, 0);
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(vb_test_daemon_run_ctl(d, &out, NULL, "sms", NULL), ==, 0);
	assert_contains(out, "delivered");
	assert_contains(out, "+33 6");
	g_assert_null(strstr(out, PHONE_A));
	g_assert_null(strstr(out, PHONE_B));
	g_assert_false(vb_test_daemon_files_contain(d, PHONE_A));

	/* and nothing more went out */
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = read_sms(d->sms_path);
	g_assert_cmpuint(lines->len, ==, 6);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* the bound and dead letters                                                */
/* ------------------------------------------------------------------------ */

static gboolean
refused_alert(gpointer user_data)
{
	VbTestDaemon *d = user_data;
	g_autoptr(GPtrArray) alerts = vb_test_daemon_events(d, "alert");

	for (guint i = 0; i < alerts->len; i++) {
		if (strstr(g_ptr_array_index(alerts, i), "the outbox is full") != NULL)
			return TRUE;
	}
	return FALSE;
}

static void
test_fault_bound(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(SCALED_OUTBOX "[outbox]\nmax-pending=2\n");
	g_autofree gchar *metrics_token = vb_test_daemon_create_token(d, "prometheus", "metrics");
	g_autofree gchar *a0 = NULL;
	g_autofree gchar *b0 = NULL;
	g_autofree gchar *metrics = NULL;
	g_autofree gchar *url = NULL;
	g_autofree gchar *metrics_url = NULL;

	outage(d, "sms", TRUE);
	/* two notices fill the outbox */
	a0 = visit(d, PAN_A, PHONE_A_TYPED);
	b0 = visit(d, PAN_B, PHONE_B_TYPED);
	g_assert_cmpint(outbox_count(d, "waiting"), ==, 2);

	/* the third notice is refused when the door closes, and the operator is
	 * alerted; nothing already queued is dropped to make room, and the visit
	 * owes its notice */
	wait_screen(d, "welcome");
	tap(d, PAN_A);
	wait_screen(d, "door-open");
	door(d, "open");
	door(d, "close");
	g_assert_true(vb_test_poll(refused_alert, d, WAIT_MS));
	g_assert_cmpint(outbox_count(d, "waiting"), ==, 2);
	url = vb_test_daemon_public_url(d);
	metrics_url = g_strdup_printf("%s/metrics", url);
	g_assert_cmpuint(vb_test_http("GET", metrics_url, metrics_token, NULL, NULL, &metrics), ==,
			 200);
	assert_contains(metrics, "vestibule_outbox_refused_total 1");

	/* what was queued is still delivered, once, and the owed notice after
	 * it, once */
	outage(d, "sms", FALSE);
	wait_sms_count(d, d->sms_path, 3);
	{
		g_autoptr(GPtrArray) lines = read_sms(d->sms_path);
		g_assert_cmpuint(lines->len, ==, 3);
		assert_once_each(lines, NULL);
	}
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static gchar *
first_dead_id(VbTestDaemon *d)
{
	g_autoptr(JsonNode) node = ctl(d, "GET", "/v1/outbox?state=dead", NULL);
	JsonArray *items = json_object_get_array_member(json_node_get_object(node), "items");

	if (json_array_get_length(items) == 0)
		return NULL;
	return g_strdup_printf(
	    "%" G_GINT64_FORMAT,
	    json_object_get_int_member(json_array_get_object_element(items, 0), "id"));
}

static gboolean
has_dead(gpointer user_data)
{
	g_autofree gchar *id = first_dead_id(user_data);
	return id != NULL;
}

static void
test_fault_dead_letter(void)
{
	g_autoptr(VbTestDaemon) d = daemon_new(SCALED_OUTBOX "[outbox]\nmax-attempts=3\n");
	g_autofree gchar *a0 = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *out = NULL;
	g_autoptr(GPtrArray) lines = NULL;

	outage(d, "sms", TRUE);
	a0 = visit(d, PAN_A, PHONE_A_TYPED);
	/* three attempts, then a dead letter the operator sees */
	g_assert_true(vb_test_poll(has_dead, d, WAIT_MS));
	g_assert_cmpint(vb_test_daemon_run_ctl(d, &out, NULL, "outbox", "--state", "dead", NULL),
			==, 0);
	assert_contains(out, "dead");
	assert_contains(out, "gave up after 3 attempts");
	assert_contains(out, a0);
	lines = read_sms(d->sms_path);
	g_assert_cmpuint(lines->len, ==, 0);
	g_clear_pointer(&lines, g_ptr_array_unref);

	/* the provider is back and the operator retries it: it arrives, once */
	outage(d, "sms", FALSE);
	id = first_dead_id(d);
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(vb_test_daemon_run_ctl(d, &out, NULL, "outbox", "retry", id, NULL), ==, 0);
	assert_contains(out, "queued again");
	wait_sms_count(d, d->sms_path, 1);
	lines = read_sms(d->sms_path);
	g_assert_cmpuint(lines->len, ==, 1);
	g_assert_cmpint(outbox_count(d, "dead"), ==, 0);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* failover                                                                  */
/* ------------------------------------------------------------------------ */

static gchar *
fallback_drop_in(VbTestDaemon *d, const gchar *extra, gchar **path)
{
	*path = g_build_filename(d->dir, "sms-fallback.jsonl", NULL);
	return g_strdup_printf(SCALED_OUTBOX "[services]\n"
					     "sms-fallback=sms2\n"
					     "[instance:sms2]\n"
					     "plugin=log-sms\n"
					     "path=%s\n"
					     "%s",
			       *path, extra);
}

static VbTestDaemon *
daemon_with_fallback(const gchar *extra, gchar **path)
{
	VbTestDaemon *d = vb_test_daemon_new(NULL);
	g_autofree gchar *drop_in = fallback_drop_in(d, extra, path);
	g_autoptr(GError) error = NULL;

	vb_test_daemon_write_drop_in(d, "50-test.conf", drop_in);
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start: %s", error->message);
	return d;
}

static const gchar *
message_provider(VbTestDaemon *d, JsonNode **owner, guint i)
{
	JsonArray *messages = sms_messages(d, owner);
	guint n = json_array_get_length(messages);

	g_assert_cmpuint(i, <, n);
	/* newest first */
	return json_object_get_string_member(json_array_get_object_element(messages, n - 1 - i),
					     "provider");
}

static void
test_failover_unreachable(void)
{
	g_autofree gchar *fallback = NULL;
	g_autoptr(VbTestDaemon) d = daemon_with_fallback("", &fallback);
	g_autoptr(GPtrArray) primary_lines = NULL;
	g_autoptr(GPtrArray) fallback_lines = NULL;
	g_autoptr(JsonNode) owner = NULL;
	g_autofree gchar *a0 = NULL;
	g_autofree gchar *b0 = NULL;

	/* the primary cannot be reached: nothing was sent, the fallback sends */
	outage(d, "sms", TRUE);
	a0 = visit(d, PAN_A, PHONE_A_TYPED);
	wait_sms_count(d, fallback, 1);
	g_assert_cmpstr(message_provider(d, &owner, 0), ==, "sms2");
	g_clear_pointer(&owner, json_node_unref);

	/* the primary is back: the next message is its */
	outage(d, "sms", FALSE);
	/* a provider that answered unreachable is passed over for 30 s (see the
	 * README); a restart forgets that, as it would after those 30 s */
	vb_test_daemon_stop(d);
	{
		g_autoptr(GError) error = NULL;
		g_assert_true(vb_test_daemon_start(d, &error));
	}
	b0 = visit(d, PAN_B, PHONE_B_TYPED);
	wait_sms_count(d, d->sms_path, 1);
	g_assert_cmpstr(message_provider(d, &owner, 1), ==, "sms");

	primary_lines = read_sms(d->sms_path);
	fallback_lines = read_sms(fallback);
	g_assert_cmpuint(primary_lines->len, ==, 1);
	g_assert_cmpuint(fallback_lines->len, ==, 1);
	assert_once_each(primary_lines, fallback_lines);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static gboolean
outbox_drained(gpointer user_data)
{
	VbTestDaemon *d = user_data;
	return outbox_count(d, "waiting") == 0;
}

static void
test_failover_timeout(void)
{
	g_autofree gchar *fallback = NULL;
	/* the primary answers after 2.5 s; the core gives it 1 s */
	g_autoptr(VbTestDaemon) d = daemon_with_fallback(
	    "[instance:sms]\nlatency-ms=2500\n[sms]\nsend-timeout-s=1\n", &fallback);
	g_autoptr(GPtrArray) primary_lines = NULL;
	g_autoptr(GPtrArray) fallback_lines = NULL;
	g_autoptr(JsonNode) owner = NULL;
	g_autofree gchar *a0 = NULL;
	g_autofree gchar *out = NULL;

	a0 = visit(d, PAN_A, PHONE_A_TYPED);
	/* the outcome is unknown after 1 s: no failover, the message waits for sms */
	wait_sms_count(d, d->sms_path, 1);
	g_assert_true(vb_test_poll(outbox_drained, d, WAIT_MS));
	primary_lines = read_sms(d->sms_path);
	fallback_lines = read_sms(fallback);
	g_assert_cmpuint(primary_lines->len, ==, 1);
	g_assert_cmpuint(fallback_lines->len, ==, 0);
	g_assert_cmpstr(message_provider(d, &owner, 0), ==, "sms");
	g_assert_cmpint(vb_test_daemon_run_ctl(d, &out, NULL, "sms", NULL), ==, 0);
	assert_contains(out, "sms");
	g_assert_cmpint(outbox_count(d, "dead"), ==, 0);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/sms/fault/outage-hour", test_fault_outage_hour);
	g_test_add_func("/sms/fault/bound", test_fault_bound);
	g_test_add_func("/sms/fault/dead-letter", test_fault_dead_letter);
	g_test_add_func("/sms/failover/unreachable", test_failover_unreachable);
	g_test_add_func("/sms/failover/timeout", test_failover_timeout);
	return g_test_run();
}
