/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>

#include "vb-error.h"
#include "vb-test-daemon.h"
#include "vb-test-metrics.h"
#include "vb-version.h"

/* vestibulectl, run as an operator would */
#define run_ctl vb_test_daemon_run_ctl

#define TEST_PAN "4111111111111111"
#define TEST_PAN2 "5555555555554444"

static JsonObject *
ctl_ok(VbTestDaemon *d, JsonNode **keep, const gchar *method, const gchar *path, const gchar *body)
{
	g_autoptr(GError) error = NULL;
	*keep = vb_test_daemon_ctl(d, method, path, body, &error);
	g_assert_no_error(error);
	g_assert_nonnull(*keep);
	return json_node_get_object(*keep);
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

static void
test_daemon_start_status(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) status = NULL;
	g_autoptr(JsonNode) plugins = NULL;
	JsonObject *obj, *door;
	JsonArray *instances;
	struct stat st;

	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);

	obj = ctl_ok(d, &status, "GET", "/v1/status", NULL);
	g_assert_cmpstr(json_object_get_string_member(obj, "store-name"), ==, "Test store");
	g_assert_cmpint(json_object_get_int_member(obj, "plugins-running"), ==, 6);
	g_assert_cmpint(json_object_get_int_member(obj, "plugins-disabled"), ==, 0);
	door = find_by_name(
	    json_object_get_array_member(json_object_get_object_member(obj, "doors"), "doors"),
	    "front");
	g_assert_nonnull(door);
	g_assert_cmpstr(json_object_get_string_member(door, "state"), ==, "ready");
	g_assert_true(json_object_get_boolean_member(door, "locked"));

	obj = ctl_ok(d, &plugins, "GET", "/v1/plugins", NULL);
	instances = json_object_get_array_member(obj, "instances");
	g_assert_cmpuint(json_array_get_length(instances), ==, 6);
	g_assert_cmpstr(
	    json_object_get_string_member(find_by_name(instances, "front-reader"), "door"), ==,
	    "front");

	/* the control socket is for the daemon's user and group only */
	g_assert_cmpint(g_stat(d->socket_path, &st), ==, 0);
	g_assert_true(S_ISSOCK(st.st_mode));
	g_assert_cmpint(st.st_mode & 0777, ==, 0660);

	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	/* a clean stop removes nothing the operator needs and leaves the lock locked */
	g_assert_true(g_file_test(d->state_dir, G_FILE_TEST_IS_DIR));
}

static void
test_daemon_tap_no_pan(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) tap = NULL;
	g_autoptr(GPtrArray) cards = NULL;
	g_autoptr(JsonNode) card = NULL;
	JsonObject *obj;

	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);
	ctl_ok(d, &tap, "POST", "/v1/sim/front-reader/tap",
	       "{\"pan\": \"" TEST_PAN "\", \"expiry\": \"2812\", \"language\": \"fr\"}");

	cards = vb_test_daemon_events(d, "card-presented");
	g_assert_cmpuint(cards->len, ==, 1);
	card = json_from_string(g_ptr_array_index(cards, 0), &error);
	g_assert_no_error(error);
	obj = json_node_get_object(card);
	g_assert_cmpstr(json_object_get_string_member(obj, "first6"), ==, "411111");
	g_assert_cmpstr(json_object_get_string_member(obj, "last4"), ==, "1111");
	g_assert_cmpstr(json_object_get_string_member(obj, "expiry"), ==, "2028-12");
	g_assert_cmpstr(json_object_get_string_member(obj, "language"), ==, "fr");
	g_assert_cmpstr(json_object_get_string_member(obj, "scheme"), ==, "visa");
	g_assert_cmpuint(strlen(json_object_get_string_member(obj, "token")), ==, 64);

	/* a bad PAN is refused with a message that does not echo it */
	g_assert_null(vb_test_daemon_ctl(d, "POST", "/v1/sim/front-reader/tap",
					 "{\"pan\": \"4111111111111112\"}", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_assert_null(strstr(error->message, "4111111111111112"));
	g_clear_error(&error);

	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	/* neither the database, its WAL, nor the log has the card number */
	g_assert_false(vb_test_daemon_files_contain(d, TEST_PAN));
	g_assert_false(vb_test_daemon_files_contain(d, "4111111111111112"));
}

static void
test_daemon_same_card_same_token(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) t1 = NULL;
	g_autoptr(JsonNode) t2 = NULL;
	g_autoptr(JsonNode) t3 = NULL;
	g_autoptr(GPtrArray) cards = NULL;

	g_assert_true(vb_test_daemon_start(d, &error));
	ctl_ok(d, &t1, "POST", "/v1/sim/front-reader/tap", "{\"pan\": \"" TEST_PAN "\"}");
	ctl_ok(d, &t2, "POST", "/v1/sim/front-reader/tap", "{\"pan\": \"" TEST_PAN2 "\"}");
	ctl_ok(d, &t3, "POST", "/v1/sim/front-reader/tap", "{\"pan\": \"" TEST_PAN "\"}");
	cards = vb_test_daemon_events(d, "card-presented");
	g_assert_cmpuint(cards->len, ==, 3);
	{
		g_autoptr(JsonNode) a = json_from_string(g_ptr_array_index(cards, 0), NULL);
		g_autoptr(JsonNode) b = json_from_string(g_ptr_array_index(cards, 1), NULL);
		g_autoptr(JsonNode) c = json_from_string(g_ptr_array_index(cards, 2), NULL);
		const gchar *ta = json_object_get_string_member(json_node_get_object(a), "token");
		const gchar *tb = json_object_get_string_member(json_node_get_object(b), "token");
		const gchar *tc = json_object_get_string_member(json_node_get_object(c), "token");
		/* a returning card is recognized by its token, never by its number */
		g_assert_cmpstr(ta, ==, tc);
		g_assert_cmpstr(ta, !=, tb);
		g_assert_cmpstr(json_object_get_string_member(json_node_get_object(b), "scheme"),
				==, "mastercard");
	}
}

static gboolean
wait_reloaded(VbTestDaemon *d, const gchar *state, guint n, gchar **payload_out)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (g_get_monotonic_time() < deadline) {
		g_autoptr(GPtrArray) evs = vb_test_daemon_events(d, "config-reloaded");
		if (evs->len >= n) {
			const gchar *p = g_ptr_array_index(evs, n - 1);
			if (payload_out != NULL)
				*payload_out = g_strdup(p);
			return strstr(p, state) != NULL;
		}
		g_usleep(20000);
	}
	return FALSE;
}

static void
test_daemon_reload(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) plugins = NULL;
	g_autoptr(JsonNode) plugins2 = NULL;
	g_autoptr(JsonNode) tap = NULL;
	g_autofree gchar *payload = NULL;
	JsonArray *instances;

	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);

	/* a valid change: a second door with its own reader and lock */
	vb_test_daemon_write_config(d, "[door:back]\nreader=back-reader\nlock=back-lock\n"
				       "[instance:back-reader]\nplugin=sim-reader\n"
				       "[instance:back-lock]\nplugin=sim-lock\n");
	vb_test_daemon_signal(d, SIGHUP);
	g_assert_true(wait_reloaded(d, "applied", 1, NULL));
	instances = json_object_get_array_member(ctl_ok(d, &plugins, "GET", "/v1/plugins", NULL),
						 "instances");
	g_assert_cmpuint(json_array_get_length(instances), ==, 8);
	g_assert_cmpstr(
	    json_object_get_string_member(find_by_name(instances, "back-reader"), "state"), ==,
	    "running");
	g_assert_cmpstr(
	    json_object_get_string_member(find_by_name(instances, "back-reader"), "door"), ==,
	    "back");
	ctl_ok(d, &tap, "POST", "/v1/sim/back-reader/tap", "{\"pan\": \"" TEST_PAN "\"}");

	/* an invalid change is rejected as a whole, with its file and line */
	vb_test_daemon_write_config(d, "[door:back]\nreader=back-reader\n"
				       "[instance:back-reader]\nplugin=sim-reader\n"
				       "[instance:extra]\nplugin=sim-keypad\n"
				       "[instance:pay2]\nplugin=sim-payment\nlatency-ms=soon\n");
	vb_test_daemon_signal(d, SIGHUP);
	g_assert_true(wait_reloaded(d, "rejected", 2, &payload));
	g_assert_nonnull(strstr(payload, "vestibule.conf:"));
	g_assert_nonnull(strstr(payload, "soon"));
	/* the running configuration stays: still two doors, no extra keypad */
	instances = json_object_get_array_member(ctl_ok(d, &plugins2, "GET", "/v1/plugins", NULL),
						 "instances");
	g_assert_cmpuint(json_array_get_length(instances), ==, 8);
	g_assert_null(find_by_name(instances, "extra"));

	/* the same through the control API, as `vestibulectl reload` does */
	g_assert_null(vb_test_daemon_ctl(d, "POST", "/v1/reload", NULL, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	g_assert_nonnull(strstr(error->message, "soon"));
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_daemon_bad_config(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new("[instance:pay2]\nplugin=sim-payment\n"
						       "latency-ms=-5\n");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *log = NULL;

	/* the daemon refuses to start, saying where the problem is */
	g_assert_false(vb_test_daemon_start(d, &error));
	g_assert_true(g_subprocess_wait(d->proc, NULL, NULL));
	g_assert_cmpint(g_subprocess_get_exit_status(d->proc), ==, 1);
	log = vb_test_daemon_read_log(d);
	g_assert_nonnull(strstr(log, "vestibule.conf:32"));
	g_assert_nonnull(strstr(log, "latency-ms"));
}

static void
test_daemon_disabled_plugins(void)
{
	g_autoptr(VbTestDaemon) d = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) plugins = NULL;
	g_autoptr(JsonNode) status = NULL;
	g_autoptr(JsonNode) tap = NULL;
	g_autofree gchar *env = NULL;
	JsonArray *instances;
	JsonObject *obj, *door;

	d = vb_test_daemon_new("[door:side]\nreader=side-reader\nlock=side-lock\n"
			       "[instance:side-reader]\nplugin=not-installed\n"
			       "[instance:side-lock]\nplugin=sim-lock\n"
			       "[instance:broken]\nplugin=test-good\nfail-startup=true\n");
	env = g_strdup_printf("VESTIBULE_PLUGIN_DIR=%s:%s", g_getenv("VESTIBULE_PLUGIN_DIR"),
			      TEST_PLUGIN_DIR);
	g_ptr_array_add(d->env, g_steal_pointer(&env));
	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);

	instances = json_object_get_array_member(ctl_ok(d, &plugins, "GET", "/v1/plugins", NULL),
						 "instances");
	obj = find_by_name(instances, "side-reader");
	g_assert_cmpstr(json_object_get_string_member(obj, "state"), ==, "disabled");
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "error"),
				"plugin 'not-installed' not found"));
	obj = find_by_name(instances, "broken");
	g_assert_cmpstr(json_object_get_string_member(obj, "state"), ==, "disabled");
	g_assert_nonnull(
	    strstr(json_object_get_string_member(obj, "error"), "the test device is not there"));

	/* the daemon goes on: the other door works, the broken one says it is out */
	obj = ctl_ok(d, &status, "GET", "/v1/status", NULL);
	door = find_by_name(
	    json_object_get_array_member(json_object_get_object_member(obj, "doors"), "doors"),
	    "side");
	g_assert_cmpstr(json_object_get_string_member(door, "state"), ==, "unavailable");
	door = find_by_name(
	    json_object_get_array_member(json_object_get_object_member(obj, "doors"), "doors"),
	    "front");
	g_assert_cmpstr(json_object_get_string_member(door, "state"), ==, "ready");
	ctl_ok(d, &tap, "POST", "/v1/sim/front-reader/tap", "{\"pan\": \"" TEST_PAN "\"}");
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_daemon_corrupt_store(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) status = NULL;
	g_autoptr(GPtrArray) alerts = NULL;
	g_autofree gchar *db = g_build_filename(d->state_dir, "vestibule.db", NULL);
	const gchar *quarantined;
	JsonObject *obj;

	g_assert_cmpint(g_mkdir_with_parents(d->state_dir, 0700), ==, 0);
	g_assert_true(
	    g_file_set_contents(db, "this is not a database, it is a bad SD card", -1, NULL));
	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);
	obj = ctl_ok(d, &status, "GET", "/v1/status", NULL);
	quarantined = json_object_get_string_member_with_default(obj, "store-quarantined", NULL);
	g_assert_nonnull(quarantined);
	/* moved aside with its content, never wiped */
	{
		g_autofree gchar *content = NULL;
		g_assert_true(g_file_get_contents(quarantined, &content, NULL, NULL));
		g_assert_cmpstr(content, ==, "this is not a database, it is a bad SD card");
	}
	alerts = vb_test_daemon_events(d, "alert");
	g_assert_cmpuint(alerts->len, >=, 1);
	g_assert_nonnull(strstr(g_ptr_array_index(alerts, 0), "critical"));
	g_assert_nonnull(strstr(g_ptr_array_index(alerts, 0), "integrity check"));
}

static void
test_daemon_watchdog(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;

	g_ptr_array_add(d->env, g_strdup("WATCHDOG_USEC=200000"));
	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);
	/* fed at half the interval while the main loop turns */
	g_assert_true(vb_test_daemon_wait_notify(d, "WATCHDOG=1", 1000));
	g_assert_true(vb_test_daemon_wait_notify(d, "WATCHDOG=1", 1000));
	/* a stopped main loop starves it: SIGSTOP freezes the whole process */
	vb_test_daemon_signal(d, SIGSTOP);
	g_assert_false(vb_test_daemon_wait_notify(d, "WATCHDOG=1", 500));
	vb_test_daemon_signal(d, SIGCONT);
	g_assert_true(vb_test_daemon_wait_notify(d, "WATCHDOG=1", 1000));
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_daemon_vestibulectl(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;

	/* no daemon: a script can tell, from the exit code */
	g_assert_cmpint(run_ctl(d, &out, &err, "status", NULL), ==, 3);
	g_assert_nonnull(strstr(err, "is it running?"));
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);

	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);
	g_assert_cmpint(run_ctl(d, &out, &err, "status", NULL), ==, 0);
	g_assert_nonnull(strstr(out, "Test store: vestibuled"));
	g_assert_nonnull(strstr(out, "door front: ready"));
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);

	g_assert_cmpint(run_ctl(d, &out, &err, "--json", "plugins", NULL), ==, 0);
	{
		g_autoptr(JsonNode) node = json_from_string(out, &error);
		g_assert_no_error(error);
		g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
	}
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);

	g_assert_cmpint(run_ctl(d, &out, &err, "sim", "tap", TEST_PAN, NULL), ==, 0);
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);
	g_assert_cmpint(run_ctl(d, &out, &err, "events", "--limit", "100", NULL), ==, 0);
	g_assert_nonnull(strstr(out, "card-presented [front-reader@front]"));
	g_assert_nonnull(strstr(out, "last4=1111"));
	g_assert_null(strstr(out, TEST_PAN));
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);

	/* usage errors are 2 */
	g_assert_cmpint(run_ctl(d, &out, &err, "frobnicate", NULL), ==, 2);
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);

	/* config check validates without starting anything */
	g_assert_cmpint(run_ctl(d, &out, &err, "config", "check", d->config_path, NULL), ==, 0);
	g_assert_nonnull(strstr(out, "configuration is valid"));
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);
	vb_test_daemon_write_config(d, "[instance:front-lock]\nheld-open-s=forever\n");
	g_assert_cmpint(run_ctl(d, &out, &err, "config", "check", d->config_path, NULL), ==, 1);
	g_assert_nonnull(strstr(err, "vestibule.conf:"));
	g_assert_nonnull(strstr(err, "forever"));
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static guint
http_get(const gchar *url, const gchar *token, gchar **body)
{
	g_autoptr(SoupSession) session = soup_session_new();
	g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GError) error = NULL;

	if (token != NULL) {
		g_autofree gchar *auth = g_strdup_printf("Bearer %s", token);
		soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
					     auth);
	}
	bytes = soup_session_send_and_read(session, msg, NULL, &error);
	g_assert_no_error(error);
	*body = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	return soup_message_get_status(msg);
}

/* runs @argv with the NAME, VALUE pairs of @env (may be NULL) added to the
 * environment; @out and @err get what it printed; returns its exit status */
static gint
run_with_env(const gchar *const *env, const gchar *const *argv, gchar **out, gchar **err)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;

	g_clear_pointer(out, g_free);
	g_clear_pointer(err, g_free);
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
					     G_SUBPROCESS_FLAGS_STDERR_PIPE);
	for (guint i = 0; env != NULL && env[i] != NULL; i += 2)
		g_subprocess_launcher_setenv(launcher, env[i], env[i + 1], TRUE);
	proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_communicate_utf8(proc, NULL, NULL, out, err, &error));
	g_assert_no_error(error);
	g_assert_true(g_subprocess_get_if_exited(proc));
	return g_subprocess_get_exit_status(proc);
}

static void
test_daemon_check_config(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autofree gchar *daemon = vb_test_build_path("core", "daemon", "vestibuled", NULL);
	g_autofree gchar *ctl = vb_test_build_path("core", "ctl", "vestibulectl", NULL);
	g_autofree gchar *valid = g_strdup_printf("%s: configuration is valid\n", d->config_path);
	g_autofree gchar *bad_line = g_strdup_printf("%s:32: ", d->config_path);
	g_autofree gchar *unknown_line =
	    g_strdup_printf("warning: %s:33: unknown key 'colour'", d->config_path);
	const gchar *check[] = {daemon,	     "--check-config", d->config_path,
				"--secrets", d->secrets_path,  NULL};
	const gchar *ctl_check[] = {ctl,	 "config",	  "check", d->config_path,
				    "--secrets", d->secrets_path, NULL};
	const gchar *both[] = {daemon,		 "--config",	 d->config_path,
			       "--check-config", d->config_path, NULL};
	const gchar *env[] = {"VESTIBULED", daemon, NULL};
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *ctl_out = NULL;
	g_autofree gchar *ctl_err = NULL;

	/* as nginx -t: a valid file is 0, and nothing starts */
	g_assert_cmpint(run_with_env(NULL, check, &out, &err), ==, 0);
	g_assert_cmpstr(out, ==, valid);
	g_assert_cmpstr(err, ==, "");
	g_assert_false(g_file_test(d->state_dir, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(d->socket_path, G_FILE_TEST_EXISTS));
	/* vestibulectl config check says the same, as it runs this */
	g_assert_cmpint(run_with_env(env, ctl_check, &ctl_out, &ctl_err), ==, 0);
	g_assert_cmpstr(ctl_out, ==, out);
	g_assert_cmpstr(ctl_err, ==, err);

	/* a wrong value is an error naming the file and line; an unknown key a warning */
	vb_test_daemon_write_config(
	    d, "[instance:pay2]\nplugin=sim-payment\nlatency-ms=-5\ncolour=blue\n");
	g_assert_cmpint(run_with_env(NULL, check, &out, &err), ==, 1);
	g_assert_cmpstr(out, ==, "");
	g_assert_nonnull(strstr(err, bad_line));
	g_assert_nonnull(strstr(err, "latency-ms"));
	g_assert_nonnull(strstr(err, unknown_line));
	g_assert_false(g_file_test(d->state_dir, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(d->socket_path, G_FILE_TEST_EXISTS));
	g_assert_cmpint(run_with_env(env, ctl_check, &ctl_out, &ctl_err), ==, 1);
	g_assert_cmpstr(ctl_out, ==, out);
	g_assert_cmpstr(ctl_err, ==, err);

	/* one file only: with --config as well, which one would be meant? */
	g_assert_cmpint(run_with_env(NULL, both, &out, &err), ==, 2);
	g_assert_nonnull(strstr(err, "--check-config"));
}

static void
test_daemon_ctl_check_no_vestibuled(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autofree gchar *ctl = vb_test_build_path("core", "ctl", "vestibulectl", NULL);
	g_autofree gchar *missing = g_build_filename(d->dir, "no-such-vestibuled", NULL);
	const gchar *env_missing[] = {"VESTIBULED", missing, NULL};
	/* a file that is there but cannot be run */
	const gchar *env_not_exec[] = {"VESTIBULED", d->config_path, NULL};
	const gchar *check[] = {ctl, "config", "check", d->config_path, NULL};
	const gchar *help[] = {ctl, "--help", NULL};
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;

	/* the operator is told which program is missing and what to do */
	g_assert_cmpint(run_with_env(env_missing, check, &out, &err), ==, 1);
	g_assert_cmpstr(out, ==, "");
	g_assert_nonnull(strstr(err, missing));
	g_assert_nonnull(strstr(err, "Install vestibuled, or set VESTIBULED to its path."));
	g_assert_cmpint(run_with_env(env_not_exec, check, &out, &err), ==, 1);
	g_assert_cmpstr(out, ==, "");
	g_assert_nonnull(strstr(err, d->config_path));
	g_assert_nonnull(strstr(err, "Install vestibuled, or set VESTIBULED to its path."));

	/* and --help says that config check works as it did */
	g_assert_cmpint(run_with_env(NULL, help, &out, &err), ==, 0);
	g_assert_nonnull(strstr(err, "config check FILE [--secrets FILE] [--plugin-dir DIR] "
				     "works as before"));
}

/* what Prometheus and a dashboard rely on in a scrape of the daemon: it parses,
 * every metric is the daemon's own (vestibule_) or the standard process
 * collector's (process_), every counter ends in _total, and the build is one
 * gauge of 1 with the version and the ABI that `vestibuled --version` shows */
static void
assert_metrics_conventions(const gchar *body)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbTestExposition) scrape = vb_test_exposition_parse(body, &error);
	g_autoptr(GList) families = NULL;
	VbTestSample *build;

	g_assert_no_error(error);
	g_assert_nonnull(scrape);
	families = g_hash_table_get_keys(scrape->types);
	g_assert_cmpuint(g_list_length(families), >, 10);
	for (GList *l = families; l != NULL; l = l->next) {
		const gchar *name = l->data;

		if (!g_str_has_prefix(name, "vestibule_") && !g_str_has_prefix(name, "process_"))
			g_error("metric %s is named outside vestibule_ and process_", name);
		if (g_strcmp0(g_hash_table_lookup(scrape->types, name), "counter") == 0 &&
		    !g_str_has_suffix(name, "_total"))
			g_error("counter %s does not end in _total", name);
	}
	for (guint i = 0; i < scrape->samples->len; i++) {
		VbTestSample *sample = scrape->samples->pdata[i];

		if (!g_hash_table_contains(scrape->types, sample->name))
			g_error("metric %s has no TYPE", sample->name);
	}
	g_assert_cmpstr(g_hash_table_lookup(scrape->types, "vestibule_build_info"), ==, "gauge");
	build = vb_test_exposition_find(
	    scrape, "vestibule_build_info", "version", PACKAGE_VERSION, "abi",
	    G_STRINGIFY(VB_PLUGIN_ABI_MAJOR) "." G_STRINGIFY(VB_PLUGIN_ABI_MINOR), NULL);
	g_assert_nonnull(build);
	g_assert_cmpfloat(build->value, ==, 1);
}

static void
test_daemon_public_api(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) status = NULL;
	g_autoptr(JsonNode) created = NULL;
	g_autoptr(JsonNode) tokens = NULL;
	g_autoptr(JsonNode) tap = NULL;
	g_autofree gchar *metrics_url = NULL;
	g_autofree gchar *health_url = NULL;
	g_autofree gchar *body = NULL;
	const gchar *token;
	JsonObject *obj;

	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);
	obj = ctl_ok(d, &status, "GET", "/v1/status", NULL);
	metrics_url =
	    g_strdup_printf("%s/metrics", json_object_get_string_member(obj, "public-url"));
	health_url =
	    g_strdup_printf("%s/healthz", json_object_get_string_member(obj, "public-url"));

	g_assert_cmpuint(http_get(health_url, NULL, &body), ==, 200);
	g_clear_pointer(&body, g_free);
	/* metrics on the public listener need a token of scope metrics */
	g_assert_cmpuint(http_get(metrics_url, NULL, &body), ==, 401);
	g_clear_pointer(&body, g_free);

	obj = ctl_ok(d, &created, "POST", "/v1/tokens",
		     "{\"name\": \"prometheus\", \"scope\": \"metrics\"}");
	token = json_object_get_string_member(obj, "token");
	g_assert_cmpuint(strlen(token), >=, 40);
	ctl_ok(d, &tap, "POST", "/v1/sim/front-reader/tap", "{\"pan\": \"" TEST_PAN "\"}");
	g_assert_cmpuint(http_get(metrics_url, token, &body), ==, 200);
	g_assert_nonnull(strstr(body, "vestibule_bus_events_total{name=\"card-presented\"} 1"));
	g_assert_nonnull(strstr(body, "vestibule_plugin_instances{state=\"running\"} 6"));
	g_assert_nonnull(strstr(body, "# TYPE vestibule_startup_duration_seconds gauge"));
	assert_metrics_conventions(body);
	g_clear_pointer(&body, g_free);

	/* the token list shows names and scopes, never the token */
	obj = ctl_ok(d, &tokens, "GET", "/v1/tokens", NULL);
	{
		g_autofree gchar *text = json_to_string(tokens, FALSE);
		g_assert_nonnull(strstr(text, "prometheus"));
		g_assert_null(strstr(text, token));
	}
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	/* and neither the database nor the log keeps it */
	g_assert_false(vb_test_daemon_files_contain(d, token));
}

/* the daemon's open file descriptors */
static guint
daemon_fd_count(VbTestDaemon *d)
{
	g_autofree gchar *path =
	    g_strdup_printf("/proc/%s/fd", g_subprocess_get_identifier(d->proc));
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	guint n = 0;

	g_assert_nonnull(dir);
	while (g_dir_read_name(dir) != NULL)
		n++;
	return n;
}

/* one request on a connection of its own, which the client closes once the
 * answer starts, as vestibulectl, a webhook sender or a browser may */
static void
request_and_hang_up(GSocketAddress *address)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *request = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
	gchar answer[64] = {0};
	gssize n;

	conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
						request, strlen(request), NULL, NULL, &error));
	g_assert_no_error(error);
	n = g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)), answer,
				sizeof(answer) - 1, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpint(n, >, 0);
	g_assert_true(g_str_has_prefix(answer, "HTTP/1.1 200"));
	g_assert_true(g_io_stream_close(G_IO_STREAM(conn), NULL, NULL));
}

typedef struct {
	VbTestDaemon *d;
	guint limit;
} FdWait;

static gboolean
daemon_fds_at_most_cb(gpointer user_data)
{
	FdWait *wait = user_data;
	return daemon_fd_count(wait->d) <= wait->limit;
}

static void
test_daemon_connections_closed(void)
{
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketAddress) control = NULL;
	g_autoptr(GSocketAddress) public = NULL;
	g_autoptr(GUri) uri = NULL;
	g_autofree gchar *url = NULL;
	FdWait wait = {0};
	guint before;

	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);
	url = vb_test_daemon_public_url(d);
	uri = g_uri_parse(url, G_URI_FLAGS_NONE, &error);
	g_assert_no_error(error);
	public =
	    g_inet_socket_address_new_from_string(g_uri_get_host(uri), (guint)g_uri_get_port(uri));
	control = g_unix_socket_address_new(d->socket_path);

	/* libsoup 3.2 (Debian 12's) kept such connections open for ever, each
	 * with its socket: a daemon answering webhooks and receipts all day ran
	 * out of file descriptors and could no longer open its store */
	before = daemon_fd_count(d);
	for (guint i = 0; i < 40; i++) {
		request_and_hang_up(public);
		request_and_hang_up(control);
	}
	wait.d = d;
	wait.limit = before + 2;
	if (!vb_test_poll(daemon_fds_at_most_cb, &wait, 5000))
		g_error("80 connections later the daemon has %u file descriptors open, %u before",
			daemon_fd_count(d), before);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* operator warnings are expected here; criticals stay fatal */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_test_add_func("/daemon/start-status-socket", test_daemon_start_status);
	g_test_add_func("/daemon/tap-keeps-no-pan", test_daemon_tap_no_pan);
	g_test_add_func("/daemon/same-card-same-token", test_daemon_same_card_same_token);
	g_test_add_func("/daemon/sighup-reload", test_daemon_reload);
	g_test_add_func("/daemon/bad-config-at-start", test_daemon_bad_config);
	g_test_add_func("/daemon/disabled-plugins", test_daemon_disabled_plugins);
	g_test_add_func("/daemon/corrupt-store", test_daemon_corrupt_store);
	g_test_add_func("/daemon/watchdog", test_daemon_watchdog);
	g_test_add_func("/daemon/vestibulectl", test_daemon_vestibulectl);
	g_test_add_func("/daemon/check-config", test_daemon_check_config);
	g_test_add_func("/daemon/vestibulectl/config-check-no-vestibuled",
			test_daemon_ctl_check_no_vestibuled);
	g_test_add_func("/daemon/public-api-token-metrics", test_daemon_public_api);
	g_test_add_func("/daemon/connections-closed", test_daemon_connections_closed);
	return g_test_run();
}
