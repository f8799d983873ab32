/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * vb-bench-startup: how fast vestibuled becomes ready and how much memory it
 * holds when idle, with the simulated store loaded (six plugin instances).
 *
 * Readiness is measured the way systemd sees it: from the spawn to the
 * READY=1 datagram on the daemon's NOTIFY_SOCKET. The first run starts on an
 * empty state directory, so it creates and migrates the database (cold); the
 * others reuse it (warm). After each start the daemon is left idle, then its
 * VmRSS and VmHWM are read from /proc and it is stopped with SIGTERM.
 *
 *   vb-bench-startup [--runs N] [--idle-ms MS] [--visits N] [--plugin-dir DIR] [VESTIBULED]
 *
 * --visits N fills the database after the cold run with N finished visits
 * spread over the past year, about 3.3 KB each with what goes with them
 * (timeline, delivered outbox items, SMS records, audit entries, cards and
 * customers), so that the warm runs start on a big store: 300,000 visits make
 * about 1 GB. The database is generated with SQL, directly.
 *
 * VESTIBULED defaults to $VB_BUILD_ROOT/core/daemon/vestibuled. Targets are reported
 * as PASS or MISS; only a daemon that cannot be run makes the exit status
 * non-zero.
 */

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VB_BENCH_READY_TARGET_MS 100.0
#define VB_BENCH_RSS_TARGET_KIB (10 * 1024)
#define VB_BENCH_READY_TIMEOUT_MS 10000
#define VB_BENCH_CARD_TOKEN_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

typedef struct {
	gdouble ready_ms;
	gint64 rss_kib;
	gint64 hwm_kib;
	gint64 anon_kib; /* heap and stacks: the daemon's own */
	gint64 file_kib; /* mapped files: mostly shared libraries */
} VbBenchRun;

typedef struct {
	gchar *daemon;
	gchar *plugin_dir;
	gchar *dir;
	gchar *config_path;
	gchar *secrets_path;
	gchar *state_dir;
	gchar *notify_path;
	gchar *log_path;
	GSocket *notify;
} VbBench;

static void
vb_bench_free(VbBench *self)
{
	g_autofree gchar *cmd = NULL;

	g_clear_object(&self->notify);
	if (self->dir != NULL && g_getenv("VB_BENCH_KEEP") != NULL) {
		g_printerr("kept %s\n", self->dir);
	} else if (self->dir != NULL) {
		cmd = g_strdup_printf("rm -rf '%s'", self->dir);
		if (system(cmd) != 0)
			g_printerr("could not remove %s\n", self->dir);
	}
	g_free(self->daemon);
	g_free(self->plugin_dir);
	g_free(self->dir);
	g_free(self->config_path);
	g_free(self->secrets_path);
	g_free(self->state_dir);
	g_free(self->notify_path);
	g_free(self->log_path);
	g_free(self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbBench, vb_bench_free)

/* the simulated store of tests/vb-test-daemon.c: one door, six instances */
static gboolean
vb_bench_write_files(VbBench *self, GError **error)
{
	g_autofree gchar *config = NULL;
	g_autofree gchar *secrets = NULL;
	g_autofree gchar *socket_path = g_build_filename(self->dir, "control.sock", NULL);
	g_autofree gchar *sms_path = g_build_filename(self->dir, "sms.jsonl", NULL);

	config = g_strdup_printf("[vestibule]\n"
				 "name=Benchmark store\n"
				 "state-dir=%s\n"
				 "[http]\n"
				 "address=127.0.0.1\n"
				 "port=0\n"
				 "control-socket=%s\n"
				 "[services]\n"
				 "sms=sms\n"
				 "payment=pay\n"
				 "[door:front]\n"
				 "reader=front-reader\n"
				 "lock=front-lock\n"
				 "keypad=front-keypad\n"
				 "display=front-display\n"
				 "[instance:front-reader]\n"
				 "plugin=sim-reader\n"
				 "[instance:front-lock]\n"
				 "plugin=sim-lock\n"
				 "[instance:front-keypad]\n"
				 "plugin=sim-keypad\n"
				 "[instance:front-display]\n"
				 "plugin=console\n"
				 "output=none\n"
				 "[instance:sms]\n"
				 "plugin=log-sms\n"
				 "path=%s\n"
				 "[instance:pay]\n"
				 "plugin=sim-payment\n",
				 self->state_dir, socket_path, sms_path);
	if (!g_file_set_contents(self->config_path, config, -1, error))
		return FALSE;

	/* a throwaway key for a throwaway store */
	secrets = g_strdup_printf("[vestibule]\ncard-token-key=%s\n", VB_BENCH_CARD_TOKEN_KEY);
	return g_file_set_contents_full(self->secrets_path, secrets, -1, G_FILE_SET_CONTENTS_NONE,
					0600, error);
}

static VbBench *
vb_bench_new(const gchar *daemon, const gchar *plugin_dir, GError **error)
{
	g_autoptr(VbBench) self = g_new0(VbBench, 1);
	g_autoptr(GSocketAddress) address = NULL;

	self->daemon = g_strdup(daemon);
	self->plugin_dir = g_strdup(plugin_dir);
	self->dir = g_dir_make_tmp("vb-bench-XXXXXX", error);
	if (self->dir == NULL)
		return NULL;
	self->config_path = g_build_filename(self->dir, "vestibule.conf", NULL);
	self->secrets_path = g_build_filename(self->dir, "secrets.conf", NULL);
	self->state_dir = g_build_filename(self->dir, "state", NULL);
	self->notify_path = g_build_filename(self->dir, "notify.sock", NULL);
	self->log_path = g_build_filename(self->dir, "vestibuled.log", NULL);
	if (!vb_bench_write_files(self, error))
		return NULL;

	/* the daemon reports readiness here as it would to systemd */
	self->notify = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM,
				    G_SOCKET_PROTOCOL_DEFAULT, error);
	if (self->notify == NULL)
		return NULL;
	address = g_unix_socket_address_new(self->notify_path);
	if (!g_socket_bind(self->notify, address, TRUE, error))
		return NULL;
	return g_steal_pointer(&self);
}

/* drops datagrams left by the previous run, such as STOPPING=1 */
static void
vb_bench_drain(VbBench *self)
{
	gchar buf[512];

	while (g_socket_condition_check(self->notify, G_IO_IN) & G_IO_IN) {
		if (g_socket_receive(self->notify, buf, sizeof(buf), NULL, NULL) < 0)
			break;
	}
}

static gboolean
vb_bench_wait_ready(VbBench *self, gint64 deadline)
{
	for (;;) {
		gchar buf[512];
		gssize n;
		gint64 left = deadline - g_get_monotonic_time();

		if (left <= 0)
			return FALSE;
		if (!g_socket_condition_timed_wait(self->notify, G_IO_IN, left, NULL, NULL))
			return FALSE;
		n = g_socket_receive(self->notify, buf, sizeof(buf) - 1, NULL, NULL);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (g_str_has_prefix(buf, "READY=1") || strstr(buf, "\nREADY=1") != NULL)
			return TRUE;
	}
}

/* VmRSS or VmHWM of @pid in KiB, or -1 */
static gint64
vb_bench_proc_kib(const gchar *pid, const gchar *field)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%s/status", pid);
	g_autofree gchar *status = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents(path, &status, NULL, NULL))
		return -1;
	lines = g_strsplit(status, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], field) && lines[i][strlen(field)] == ':')
			return g_ascii_strtoll(lines[i] + strlen(field) + 1, NULL, 10);
	}
	return -1;
}

static void
vb_bench_print_log(VbBench *self)
{
	g_autofree gchar *log = NULL;

	if (g_file_get_contents(self->log_path, &log, NULL, NULL))
		g_printerr("its log:\n%s\n", log);
}

static gboolean
vb_bench_run_once(VbBench *self, guint idle_ms, VbBenchRun *run, GError **error)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autofree gchar *pid = NULL;
	gint64 start;

	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	g_subprocess_launcher_setenv(launcher, "NOTIFY_SOCKET", self->notify_path, TRUE);
	g_subprocess_launcher_unsetenv(launcher, "WATCHDOG_USEC");
	g_subprocess_launcher_unsetenv(launcher, "WATCHDOG_PID");
	g_subprocess_launcher_unsetenv(launcher, "CREDENTIALS_DIRECTORY");
	g_subprocess_launcher_unsetenv(launcher, "VESTIBULE_PLUGIN_DIR");
	g_subprocess_launcher_set_stderr_file_path(launcher, self->log_path);

	vb_bench_drain(self);
	start = g_get_monotonic_time();
	proc = g_subprocess_launcher_spawn(launcher, error, self->daemon, "--config",
					   self->config_path, "--secrets", self->secrets_path,
					   "--plugin-dir", self->plugin_dir, NULL);
	if (proc == NULL)
		return FALSE;
	if (!vb_bench_wait_ready(self, start + VB_BENCH_READY_TIMEOUT_MS * 1000)) {
		g_subprocess_force_exit(proc);
		g_subprocess_wait(proc, NULL, NULL);
		vb_bench_print_log(self);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
			    "%s did not send READY=1 within %d ms", self->daemon,
			    VB_BENCH_READY_TIMEOUT_MS);
		return FALSE;
	}
	run->ready_ms = (gdouble)(g_get_monotonic_time() - start) / 1000.0;

	g_usleep((gulong)idle_ms * 1000);
	pid = g_strdup(g_subprocess_get_identifier(proc));
	run->rss_kib = pid != NULL ? vb_bench_proc_kib(pid, "VmRSS") : -1;
	run->hwm_kib = pid != NULL ? vb_bench_proc_kib(pid, "VmHWM") : -1;
	run->anon_kib = pid != NULL ? vb_bench_proc_kib(pid, "RssAnon") : -1;
	run->file_kib = pid != NULL ? vb_bench_proc_kib(pid, "RssFile") : -1;

	g_subprocess_send_signal(proc, SIGTERM);
	if (!g_subprocess_wait(proc, NULL, error))
		return FALSE;
	if (!g_subprocess_get_if_exited(proc) || g_subprocess_get_exit_status(proc) != 0) {
		vb_bench_print_log(self);
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED,
				    "vestibuled did not exit with status 0 on SIGTERM");
		return FALSE;
	}
	if (run->rss_kib < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot read VmRSS of process %s",
			    pid != NULL ? pid : "?");
		return FALSE;
	}
	return TRUE;
}

/* one statement per table, each over the visits' numbers 1..?1; the visit of
 * number i was created (?1 - i) * a year / ?1 ago */
static const gchar *const vb_bench_fill_sql[] = {
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) "
    "INSERT INTO customers (phone_index, phone_sealed, phone_masked, language, created) "
    "SELECT hex(randomblob(32)), randomblob(60), '+33 6•• •• •• ' || (i % 100), 'fr', ?2 "
    "FROM n WHERE i % 5 = 0",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) "
    "INSERT INTO cards (token, customer_id, kind, first6, last4, expiry, scheme, language, "
    "visits, created, last_seen) SELECT 'card-' || i, NULL, 'payment', '497010', "
    "printf('%04d', i % 10000), '12/29', 'visa', 'fr', 3, ?2, ?2 FROM n WHERE i % 3 = 0",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) "
    "INSERT INTO visits (id, door, state, card_token, first6, last4, created, updated, "
    "language, currency, hold_amount, psp_reference, capture_deadline, order_hash, order_json, "
    "total, captured, settlement, receipt_hash, receipt_expires) SELECT 'visit-' || i, 'front', "
    "'settled', 'card-' || (i - i % 3), '497010', printf('%04d', i % 10000), "
    "?2 - (?1 - i) * 105120000, ?2 - (?1 - i) * 105120000 + 60000000, 'fr', 'EUR', 5000, "
    "'psp-' || hex(randomblob(12)), 0, hex(randomblob(32)), "
    "'{\"currency\":\"EUR\",\"lines\":[' || replace(printf('%.*c', 4, 'x'), 'x', "
    "'{\"sku\":\"SKU-0001234\",\"name\":\"Organic whole milk 1 l\",\"quantity\":2,"
    "\"unit_price\":189},') || '{\"sku\":\"SKU-9\",\"name\":\"Bread\",\"quantity\":1,"
    "\"unit_price\":250}]}', 1006, 1006, 'captured', hex(randomblob(32)), 0 FROM n",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1), "
    "s(k, st) AS (VALUES (1, 'identified'), (2, 'authorizing'), (3, 'unlocked'), (4, 'open'), "
    "(5, 'awaiting-order'), (6, 'settling'), (7, 'settled'), (8, 'settled')) "
    "INSERT INTO visit_timeline (visit_id, time, state, detail) SELECT 'visit-' || i, "
    "?2 - (?1 - i) * 105120000 + k * 1000000, st, 'door front, card 497010••••' || "
    "printf('%04d', i % 10000) FROM n, s",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1), "
    "s(k, kind) AS (VALUES (1, 'sms'), (2, 'payment')) "
    "INSERT INTO outbox (kind, recipient, idempotency_key, payload, state, attempts, "
    "next_attempt, created, updated, result, visit_id) SELECT kind, 'r-' || (i % 5000), "
    "'visit-' || i || '-' || kind, '{\"template\":\"receipt\",\"visit\":\"visit-' || i || "
    "'\",\"to\":\"sealed:' || hex(randomblob(48)) || '\",\"amount\":1006,\"currency\":\"EUR\"}', "
    "'done', 1, 0, ?2 - (?1 - i) * 105120000, ?2 - (?1 - i) * 105120000 + 90000000, "
    "'{\"message_id\":\"SM' || hex(randomblob(16)) || '\"}', 'visit-' || i FROM n, s",
    "INSERT INTO sms_messages (outbox_id, idempotency_key, visit_id, template, to_masked, "
    "provider, sticky, attempts, message_id, encoding, segments, state, created, updated) "
    "SELECT id, idempotency_key, visit_id, 'receipt', '+33 6•• •• •• 78', 'sms', 1, 1, "
    "'SM' || hex(randomblob(16)), 'gsm7', 2, 'delivered', created, updated FROM outbox "
    "WHERE kind = 'sms' AND state = 'done'",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 * 12) "
    "INSERT INTO audit (name, source, door, mono, real, payload) SELECT 'door.opened', "
    "'front-lock', 'front', i, ?2 - (?1 - i / 12) * 105120000 + (i % 12) * 1000000, "
    "'{\"visit\":\"visit-' || (i / 12) || '\",\"state\":\"open\",\"detail\":\"' || "
    "hex(randomblob(40)) || '\"}' FROM n",
};

static gboolean
vb_bench_fill(VbBench *self, gint n_visits, GError **error)
{
	g_autofree gchar *path = g_build_filename(self->state_dir, "vestibule.db", NULL);
	gint64 now = g_get_real_time();
	sqlite3 *db = NULL;
	gint rc = sqlite3_open(path, &db);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; BEGIN",
				  NULL, NULL, NULL);
	for (guint i = 0; rc == SQLITE_OK && i < G_N_ELEMENTS(vb_bench_fill_sql); i++) {
		sqlite3_stmt *stmt = NULL;
		rc = sqlite3_prepare_v2(db, vb_bench_fill_sql[i], -1, &stmt, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(stmt, 1, n_visits);
			sqlite3_bind_int64(stmt, 2, now);
			rc = sqlite3_step(stmt);
			rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		}
		sqlite3_finalize(stmt);
	}
	if (rc == SQLITE_OK)
		/* synced, so that the daemon's first sync does not write out the
		 * gigabyte of the fill still in the page cache, which a store that
		 * grew a visit at a time never has */
		rc = sqlite3_exec(
		    db, "COMMIT; PRAGMA synchronous = FULL; PRAGMA wal_checkpoint(TRUNCATE)", NULL,
		    NULL, NULL);
	if (rc != SQLITE_OK) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot fill %s: %s", path,
			    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return FALSE;
	}
	sqlite3_close(db);
	/* and the writeback of the whole machine is over: a start timed while
	 * the kernel still writes a gigabyte out waits behind it at its first sync */
	sync();
	return TRUE;
}

static gint
vb_bench_cmp_double(gconstpointer a, gconstpointer b)
{
	gdouble x = *(const gdouble *)a;
	gdouble y = *(const gdouble *)b;
	return (x > y) - (x < y);
}

/* nearest-rank percentile of sorted @values */
static gdouble
vb_bench_percentile(const gdouble *values, guint n, guint pct)
{
	guint rank = (pct * n + 99) / 100;
	return values[rank > 0 ? rank - 1 : 0];
}

static gdouble
vb_bench_median(gdouble *values, guint n)
{
	qsort(values, n, sizeof(gdouble), vb_bench_cmp_double);
	if (n % 2 == 1)
		return values[n / 2];
	return (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* what was measured: the build type and the machine, for the record */
static void
vb_bench_print_setup(const gchar *daemon)
{
	g_autofree gchar *core_dir = g_path_get_dirname(daemon);
	g_autofree gchar *build_root = g_path_get_dirname(core_dir);
	g_autofree gchar *options =
	    g_build_filename(build_root, "meson-info", "intro-buildoptions.json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree gchar *cpuinfo = NULL;
	const gchar *buildtype = "unknown";
	const gchar *sanitize = "unknown";
	g_autofree gchar *model = NULL;

	if (json_parser_load_from_file(parser, options, NULL) &&
	    JSON_NODE_HOLDS_ARRAY(json_parser_get_root(parser))) {
		JsonArray *array = json_node_get_array(json_parser_get_root(parser));
		for (guint i = 0; i < json_array_get_length(array); i++) {
			JsonObject *opt = json_array_get_object_element(array, i);
			const gchar *name =
			    json_object_get_string_member_with_default(opt, "name", "");
			JsonNode *value = json_object_get_member(opt, "value");
			if (value == NULL || json_node_get_value_type(value) != G_TYPE_STRING)
				continue;
			if (g_strcmp0(name, "buildtype") == 0)
				buildtype = json_node_get_string(value);
			else if (g_strcmp0(name, "b_sanitize") == 0)
				sanitize = json_node_get_string(value);
		}
	}
	if (g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL)) {
		g_auto(GStrv) lines = g_strsplit(cpuinfo, "\n", -1);
		for (guint i = 0; lines[i] != NULL && model == NULL; i++) {
			const gchar *colon = strchr(lines[i], ':');
			if (g_str_has_prefix(lines[i], "model name") && colon != NULL)
				model = g_strstrip(g_strdup(colon + 1));
		}
	}
	g_print("daemon:  %s\n", daemon);
	g_print("build:   %s, sanitizers %s\n", buildtype, sanitize);
	g_print("machine: %u cores, %s\n", g_get_num_processors(),
		model != NULL ? model : "unknown");
}

int
main(int argc, char **argv)
{
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(VbBench) bench = NULL;
	g_autofree gchar *daemon = NULL;
	g_autofree gchar *plugin_dir = NULL;
	g_autofree VbBenchRun *runs = NULL;
	g_autofree gdouble *warm_ready = NULL;
	g_autofree gdouble *warm_rss = NULL;
	g_autofree gdouble *warm_anon = NULL;
	g_autofree gdouble *warm_file = NULL;
	gint n_runs = 20;
	gint idle_ms = 2000;
	gint n_visits = 0;
	guint n_warm;
	gdouble median_ready, p90_ready, median_rss, median_anon, median_file, worst_ready;
	gint64 max_hwm = 0;
	gboolean ready_ok, rss_ok;
	const GOptionEntry entries[] = {
	    {"runs", 'n', 0, G_OPTION_ARG_INT, &n_runs, "Starts to measure, the first cold (20)",
	     "N"},
	    {"idle-ms", 0, 0, G_OPTION_ARG_INT, &idle_ms,
	     "How long the daemon idles before its memory is read (2000)", "MS"},
	    {"visits", 0, 0, G_OPTION_ARG_INT, &n_visits,
	     "Fill the database with N visits of the past year after the cold run (0)", "N"},
	    {"plugin-dir", 0, 0, G_OPTION_ARG_FILENAME, &plugin_dir,
	     "The sim plugins (default: $VB_BUILD_ROOT/plugins)", "DIR"},
	    {NULL}};

	context = g_option_context_new("[VESTIBULED]");
	g_option_context_set_summary(context,
				     "Measures vestibuled's time to READY=1 and its idle memory "
				     "with the simulated store.");
	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("%s\n", error->message);
		return 2;
	}
	if (n_runs < 2 || n_runs > 1000 || idle_ms < 0 || idle_ms > 600000 || n_visits < 0) {
		g_printerr("--runs takes 2 to 1000 and --idle-ms 0 to 600000\n");
		return 2;
	}
	if (argc > 2) {
		g_printerr("one daemon at most; see --help\n");
		return 2;
	}
	if (argc == 2) {
		daemon = g_canonicalize_filename(argv[1], NULL);
	} else if (g_getenv("VB_BUILD_ROOT") != NULL) {
		daemon = g_build_filename(g_getenv("VB_BUILD_ROOT"), "core", "daemon", "vestibuled",
					  NULL);
	} else {
		g_printerr("name the vestibuled binary, or set VB_BUILD_ROOT to the build dir\n");
		return 2;
	}
	if (plugin_dir == NULL) {
		g_autofree gchar *core_dir = g_path_get_dirname(daemon);
		g_autofree gchar *build_root = g_path_get_dirname(core_dir);
		plugin_dir = g_build_filename(build_root, "plugins", NULL);
	}
	if (!g_file_test(daemon, G_FILE_TEST_IS_EXECUTABLE)) {
		g_printerr("%s is not an executable: build first, or name the binary\n", daemon);
		return 2;
	}

	bench = vb_bench_new(daemon, plugin_dir, &error);
	if (bench == NULL) {
		g_printerr("cannot set up the benchmark: %s\n", error->message);
		return 1;
	}
	vb_bench_print_setup(daemon);
	g_print("runs:    %d (1 cold on an empty state dir, %d warm), %d ms idle before "
		"reading memory\n\n",
		n_runs, n_runs - 1, idle_ms);

	runs = g_new0(VbBenchRun, n_runs);
	for (gint i = 0; i < n_runs; i++) {
		if (!vb_bench_run_once(bench, (guint)idle_ms, &runs[i], &error)) {
			g_printerr("run %d failed: %s\n", i + 1, error->message);
			return 1;
		}
		g_print("run %2d %s  ready %7.1f ms  idle VmRSS %6" G_GINT64_FORMAT
			" KiB (anon %5" G_GINT64_FORMAT ", file %5" G_GINT64_FORMAT
			")  VmHWM %6" G_GINT64_FORMAT " KiB\n",
			i + 1, i == 0 ? "cold" : "warm", runs[i].ready_ms, runs[i].rss_kib,
			runs[i].anon_kib, runs[i].file_kib, runs[i].hwm_kib);
		max_hwm = MAX(max_hwm, runs[i].hwm_kib);
		if (i == 0 && n_visits > 0) {
			g_autofree gchar *db =
			    g_build_filename(bench->state_dir, "vestibule.db", NULL);
			gint64 t0 = g_get_monotonic_time();
			GStatBuf st;
			if (!vb_bench_fill(bench, n_visits, &error)) {
				g_printerr("%s\n", error->message);
				return 1;
			}
			if (g_stat(db, &st) != 0)
				st.st_size = 0;
			g_print("filled with %d visits in %.1f s: %.1f MiB\n", n_visits,
				(g_get_monotonic_time() - t0) / 1e6,
				(gdouble)st.st_size / (1024.0 * 1024.0));
		}
	}

	n_warm = (guint)n_runs - 1;
	warm_ready = g_new(gdouble, n_warm);
	warm_rss = g_new(gdouble, n_warm);
	warm_anon = g_new(gdouble, n_warm);
	warm_file = g_new(gdouble, n_warm);
	for (guint i = 0; i < n_warm; i++) {
		warm_ready[i] = runs[i + 1].ready_ms;
		warm_rss[i] = (gdouble)runs[i + 1].rss_kib;
		warm_anon[i] = (gdouble)runs[i + 1].anon_kib;
		warm_file[i] = (gdouble)runs[i + 1].file_kib;
	}
	qsort(warm_ready, n_warm, sizeof(gdouble), vb_bench_cmp_double);
	median_ready = vb_bench_median(warm_ready, n_warm);
	p90_ready = vb_bench_percentile(warm_ready, n_warm, 90);
	median_rss = vb_bench_median(warm_rss, n_warm);
	median_anon = vb_bench_median(warm_anon, n_warm);
	median_file = vb_bench_median(warm_file, n_warm);
	worst_ready = MAX(runs[0].ready_ms, p90_ready);

	g_print("\ncold start (creates the database): ready %.1f ms, idle VmRSS %" G_GINT64_FORMAT
		" KiB\n",
		runs[0].ready_ms, runs[0].rss_kib);
	g_print("warm starts (%u): ready min %.1f / median %.1f / p90 %.1f / max %.1f ms\n", n_warm,
		warm_ready[0], median_ready, p90_ready, warm_ready[n_warm - 1]);
	g_print("idle VmRSS, warm median: %.0f KiB (%.1f MiB): anonymous %.0f KiB, mapped files "
		"(shared libraries, plugins) %.0f KiB; VmHWM max %" G_GINT64_FORMAT
		" KiB (%.1f MiB)\n\n",
		median_rss, median_rss / 1024.0, median_anon, median_file, max_hwm,
		(gdouble)max_hwm / 1024.0);

	/* the targets; a miss is reported, never an error */
	ready_ok = worst_ready < VB_BENCH_READY_TARGET_MS;
	rss_ok = median_rss < VB_BENCH_RSS_TARGET_KIB;
	g_print("%s  ready < %.0f ms (cold, and warm p90): %.1f ms\n", ready_ok ? "PASS" : "MISS",
		VB_BENCH_READY_TARGET_MS, worst_ready);
	g_print("%s  idle RSS < %d MiB (warm median): %.1f MiB\n", rss_ok ? "PASS" : "MISS",
		VB_BENCH_RSS_TARGET_KIB / 1024, median_rss / 1024.0);
	return 0;
}
