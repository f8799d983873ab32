/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "vb-customers-private.h"
#include "vb-daemon-private.h"
#include "vb-i18n-private.h"
#include "vb-log-private.h"
#include "vb-outbox-test-private.h"
#include "vb-store-private.h"
#include "../vb-test-inprocess.h"
#include "../vb-test-syncs.h"

/*
 * How fast the outbox drains a burst of SMS, in the daemon's own process:
 * the simulated store, log-sms as the provider (zero latency; with its
 * handset file, as the test daemon and the demo run it, unless
 * --no-handset), N notices queued for R customers while the outbox is
 * stopped, then the outbox started and timed until the last one is sent.
 * Everything between the queue and the handset runs as in the daemon: the
 * claim, the visit's dispatch (the customer's number decrypted, the text
 * rendered), the SMS router (the provider chosen and committed, the rate
 * limit), log-sms (its idempotency record and the handset's line) and the
 * completion.
 *
 * Figures: SMS a second, CPU per SMS, commits and syncs of the store's log
 * per SMS, dispatches per SMS (1.0 when nothing is tried twice) and the
 * outbox's wake-ups. With --rate-per-minute the drain should follow the rate,
 * each message dispatched once, and the outbox asleep between two slots.
 *
 *   vb-bench-outbox [--sms N] [--recipients R] [--rate-per-minute R] [--no-handset]
 */

#define TARGET_SMS_PER_S 1000.0

typedef struct {
	GMainLoop *loop;
	VbOutbox *outbox;
	gint64 sent;
	gint64 want;
	gint64 commits;
} Bench;

static gint
bench_commit_hook(gpointer user_data)
{
	Bench *b = user_data;
	b->commits++;
	return 0;
}

static gdouble
bench_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (gdouble)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static gint64
bench_count(VbStore *store, const gchar *sql)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(store, sql, &error);

	if (stmt == NULL || vb_store_stmt_step(stmt, &error) != VB_STORE_STEP_ROW)
		g_error("cannot count: %s", error != NULL ? error->message : "no row");
	return vb_store_stmt_column_int64(stmt, 0);
}

static gboolean
bench_check_cb(gpointer user_data)
{
	Bench *b = user_data;
	g_main_loop_quit(b->loop);
	return G_SOURCE_REMOVE;
}

static gdouble
bench_metric(VbMetrics *metrics, const gchar *outcome)
{
	g_autofree gchar *labels = vb_metrics_labels("kind", "sms", "outcome", outcome, NULL);
	return vb_metrics_get(metrics, "vestibule_outbox_dispatches_total", labels);
}

int
main(int argc, char **argv)
{
	gint n_sms = 20000;
	gint n_recipients = 0;
	gint rate = 0;
	gboolean no_handset = FALSE;
	GOptionEntry entries[] = {
	    {"sms", 0, 0, G_OPTION_ARG_INT, &n_sms, "SMS to queue", "N"},
	    {"recipients", 0, 0, G_OPTION_ARG_INT, &n_recipients,
	     "customers they go to (default: N / 2)", "R"},
	    {"rate-per-minute", 0, 0, G_OPTION_ARG_INT, &rate, "[sms] rate-per-minute", "R"},
	    {"no-handset", 0, 0, G_OPTION_ARG_NONE, &no_handset, "log-sms without its handset file",
	     NULL},
	    {NULL},
	};
	g_autoptr(GOptionContext) options = g_option_context_new("- the outbox's drain rate");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *handset_dir = NULL;
	g_autofree gchar *config = NULL;
	g_autofree gchar *dir = NULL;
	g_autoptr(GArray) customers = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autoptr(VbStoreTransaction) tx = NULL;
	Bench b = {0};
	VbDaemon *daemon;
	VbContext *context;
	VbStore *store;
	VbMetrics *metrics;
	VbCustomers *cust;
	gint64 t0, t1, last_sent = 0;
	gdouble cpu0, cpu1, done0, retry0;
	guint syncs0, syncs1;
	gint64 commits0, ticks0;
	gdouble elapsed, per_s;

	vb_i18n_setup_process(VB_I18N_PROCESS_DAEMON);
	vb_log_setup(FALSE);
	g_option_context_add_main_entries(options, entries, NULL);
	if (!g_option_context_parse(options, &argc, &argv, &error)) {
		g_printerr("%s\n", error->message);
		return 2;
	}
	if (n_recipients <= 0)
		n_recipients = MAX(1, n_sms / 2);

	handset_dir = g_dir_make_tmp("vb-bench-outbox-XXXXXX", &error);
	g_assert_no_error(error);
	config = g_strdup_printf("[visit]\nverify-phone=false\n"
				 "[sms]\nrate-per-minute=%d\n"
				 "[outbox]\nmax-pending=%d\n"
				 "[services]\nsms=sms\npayment=pay\n"
				 "[door:front]\nreader=front-reader\nlock=front-lock\n"
				 "keypad=front-keypad\ndisplay=front-display\n"
				 "[instance:front-reader]\nplugin=sim-reader\n"
				 "[instance:front-lock]\nplugin=sim-lock\n"
				 "[instance:front-keypad]\nplugin=sim-keypad\n"
				 "[instance:front-display]\nplugin=console\noutput=none\n"
				 "[instance:sms]\nplugin=log-sms\n%s%s%s"
				 "[instance:pay]\nplugin=sim-payment\n",
				 rate, n_sms + 1000,
				 no_handset ? "" : "path=", no_handset ? "" : handset_dir,
				 no_handset ? "" : "/handset.jsonl\n");
	daemon = vb_test_inprocess_start(config, &dir);
	context = vb_daemon_get_context(daemon);
	store = vb_context_get_store(context);
	metrics = vb_context_get_metrics(context);
	cust = vb_daemon_get_customers(daemon);
	b.outbox = vb_daemon_get_outbox(daemon);
	b.loop = g_main_loop_new(NULL, FALSE);

	/* the burst, queued while the outbox is stopped */
	vb_outbox_stop(b.outbox);
	tx = vb_store_transaction_begin(store, &error);
	g_assert_no_error(error);
	for (gint i = 0; i < n_recipients; i++) {
		g_autofree gchar *phone = g_strdup_printf("+336%08d", 10000000 + i);
		gint64 id = vb_customers_add_phone(cust, phone, "en", &error);
		g_assert_no_error(error);
		g_array_append_val(customers, id);
	}
	for (gint i = 0; i < n_sms; i++) {
		gint64 customer = g_array_index(customers, gint64, i % n_recipients);
		g_autofree gchar *payload = g_strdup_printf(
		    "{\"customer\": %" G_GINT64_FORMAT ", \"template\": \"notice\", "
		    "\"language\": \"en\", \"visit\": \"bench-%d\"}",
		    customer, i);
		g_autofree gchar *recipient =
		    g_strdup_printf("customer:%" G_GINT64_FORMAT, customer);
		g_autofree gchar *key = g_strdup_printf("bench-%d:notice", i);
		g_autoptr(JsonNode) node = json_from_string(payload, NULL);
		vb_outbox_enqueue(b.outbox, "sms", recipient, key, node, NULL, &error);
		g_assert_no_error(error);
	}
	vb_store_transaction_commit(tx, &error);
	g_assert_no_error(error);
	g_clear_pointer(&tx, vb_store_transaction_free);
	g_print("queued %d SMS for %d customers; rate-per-minute=%d, handset file: %s\n", n_sms,
		n_recipients, rate, no_handset ? "no" : "yes");

	sqlite3_commit_hook(vb_store_get_handle(store), bench_commit_hook, &b);
	done0 = bench_metric(metrics, "done");
	retry0 = bench_metric(metrics, "retry");
	syncs0 = vb_test_syncs_wal();
	commits0 = b.commits;
	ticks0 = vb_outbox_get_n_ticks(b.outbox);
	cpu0 = bench_cpu_s();
	t0 = g_get_monotonic_time();
	vb_outbox_start(b.outbox);
	for (;;) {
		gint64 sent;
		g_timeout_add(rate > 0 ? 1000 : 100, bench_check_cb, &b);
		g_main_loop_run(b.loop);
		sent = (gint64)(bench_metric(metrics, "done") - done0);
		if (rate > 0 && sent != last_sent)
			g_print("  %5.1f s: %" G_GINT64_FORMAT " sent, %" G_GINT64_FORMAT
				" outbox wake-ups\n",
				(g_get_monotonic_time() - t0) / 1e6, sent,
				vb_outbox_get_n_ticks(b.outbox) - ticks0);
		last_sent = sent;
		if (sent >= n_sms)
			break;
		if (g_get_monotonic_time() - t0 > (gint64)3600 * G_USEC_PER_SEC)
			g_error("the outbox took more than an hour");
	}
	t1 = g_get_monotonic_time();
	cpu1 = bench_cpu_s();
	syncs1 = vb_test_syncs_wal();

	elapsed = (t1 - t0) / 1e6;
	per_s = n_sms / elapsed;
	g_print("drained %d SMS in %.2f s: %.0f SMS/s\n", n_sms, elapsed, per_s);
	g_print("CPU per SMS: %.3f ms\n", (cpu1 - cpu0) * 1000 / n_sms);
	g_print("commits per SMS: %.2f, syncs of the log per SMS: %.2f\n",
		(gdouble)(b.commits - commits0) / n_sms, (gdouble)(syncs1 - syncs0) / n_sms);
	g_print("dispatches per SMS: %.2f (retries: %.0f); outbox wake-ups: %" G_GINT64_FORMAT "\n",
		(bench_metric(metrics, "done") - done0 + bench_metric(metrics, "retry") - retry0) /
		    n_sms,
		bench_metric(metrics, "retry") - retry0, vb_outbox_get_n_ticks(b.outbox) - ticks0);
	g_print("sent: %" G_GINT64_FORMAT " in the messages table\n",
		bench_count(store, "SELECT COUNT(*) FROM sms_messages WHERE state IN "
				   "('queued', 'sent', 'delivered')"));
	if (rate == 0)
		g_print("%s: %.0f SMS/s, target >= %.0f SMS/s\n",
			per_s >= TARGET_SMS_PER_S ? "PASS" : "MISS", per_s, TARGET_SMS_PER_S);

	sqlite3_commit_hook(vb_store_get_handle(store), NULL, NULL);
	g_main_loop_unref(b.loop);
	vb_test_inprocess_stop(daemon, dir);
	if (!no_handset) {
		g_autofree gchar *handset = g_build_filename(handset_dir, "handset.jsonl", NULL);
		g_unlink(handset);
		g_rmdir(handset_dir);
	}
	return 0;
}
