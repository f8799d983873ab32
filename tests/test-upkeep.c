/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the store's upkeep: retention removes exactly what is past its period, in
 * batches, keeps what is still needed, gives the pages back, and keeps a
 * store of 500 visits a day at a bounded size */

#include "config.h"

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "vb-bus-private.h"
#include "vb-context-private.h"
#include "vb-error.h"
#include "vb-test-files.h"
#include "vb-upkeep-private.h"

#define DAY_US (G_GINT64_CONSTANT(86400) * G_USEC_PER_SEC)

typedef struct {
	gchar *tmpdir;
	gchar *path;
	VbStore *store;
	VbBus *bus;
	VbMetrics *metrics;
	VbContext *context;
	VbConfig *config;
	VbUpkeep *upkeep;
	VbOutbox *outbox;
	gint64 now;
	guint64 seq;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;

	f->tmpdir = g_dir_make_tmp("vb-test-upkeep-XXXXXX", &error);
	g_assert_no_error(error);
	f->path = g_build_filename(f->tmpdir, "vestibule.db", NULL);
	f->store = vb_store_new();
	g_assert_true(vb_store_open(f->store, f->path, &error));
	g_assert_no_error(error);
	f->bus = vb_bus_new(NULL);
	f->metrics = vb_metrics_new();
	f->context = vb_context_new(f->bus, f->store, NULL, f->metrics);
	f->config = vb_config_new();
	g_assert_true(vb_config_validate(f->config, NULL, &error));
	g_assert_no_error(error);
	f->upkeep = vb_upkeep_new(f->context, f->metrics);
	vb_upkeep_set_config(f->upkeep, f->config);
	f->outbox = vb_outbox_new(f->store, f->metrics);
	vb_upkeep_set_outbox(f->upkeep, f->outbox);
	f->now = g_get_real_time();
}

static void
fixture_teardown(Fixture *f, gconstpointer user_data)
{
	g_clear_object(&f->upkeep);
	g_clear_object(&f->outbox);
	g_clear_object(&f->context);
	g_clear_object(&f->config);
	g_clear_object(&f->metrics);
	g_clear_object(&f->bus);
	g_clear_object(&f->store);
	vb_test_remove_tree(f->tmpdir);
	g_free(f->tmpdir);
	g_free(f->path);
}

static gint64
query_int(VbStore *store, const gchar *sql)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(store, sql, &error);

	g_assert_no_error(error);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
	return vb_store_stmt_column_int64(stmt, 0);
}

static void
exec(VbStore *store, const gchar *sql)
{
	gchar *msg = NULL;
	gint rc = sqlite3_exec(vb_store_get_handle(store), sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		g_error("%s: %s", sql, msg);
}

/* a visit as the visit logic leaves it: its timeline, its notice SMS and
 * capture in the outbox, the SMS record, feedback and audit entries */
static void
add_visit(Fixture *f, gint64 created, const gchar *state, const gchar *outbox_state)
{
	g_autofree gchar *id = g_strdup_printf("visit-%" G_GUINT64_FORMAT, ++f->seq);
	g_autofree gchar *sql = NULL;

	sql = g_strdup_printf(
	    "INSERT INTO visits (id, door, state, card_token, first6, last4, created, updated, "
	    "order_json) VALUES ('%1$s', 'front', '%2$s', 'card', '497010', '0010', "
	    "%3$" G_GINT64_FORMAT ", %3$" G_GINT64_FORMAT ", '%4$s');"
	    "INSERT INTO visit_timeline (visit_id, time, state) VALUES ('%1$s', %3$" G_GINT64_FORMAT
	    ", 'identified'), ('%1$s', %3$" G_GINT64_FORMAT ", '%2$s');"
	    "INSERT INTO outbox (kind, recipient, idempotency_key, payload, state, next_attempt, "
	    "created, updated, visit_id) VALUES ('sms', 'r', '%1$s-sms', '{}', '%5$s', 0, "
	    "%3$" G_GINT64_FORMAT ", %3$" G_GINT64_FORMAT ", '%1$s'), ('payment', 'p', "
	    "'%1$s-pay', '{}', '%5$s', 0, %3$" G_GINT64_FORMAT ", %3$" G_GINT64_FORMAT ", '%1$s');"
	    "INSERT INTO sms_messages (outbox_id, idempotency_key, visit_id, to_masked, provider, "
	    "state, created, updated) SELECT id, idempotency_key, visit_id, '+33 6', 'sms', "
	    "'delivered', created, updated FROM outbox WHERE idempotency_key = '%1$s-sms';"
	    "INSERT INTO feedback (visit_id, received, body, handled) VALUES ('%1$s', "
	    "%3$" G_GINT64_FORMAT ", 'thanks', 1);"
	    "INSERT INTO audit (name, mono, real, payload) VALUES ('door.opened', 0, "
	    "%3$" G_GINT64_FORMAT ", '{}'), ('door.closed', 0, %3$" G_GINT64_FORMAT ", '{}');",
	    id, state, created,
	    "{\"lines\":[{\"sku\":\"SKU-1\",\"name\":\"Organic whole milk 1 l, the "
	    "farm\",\"quantity\":2,\"unit_price\":189}]}",
	    outbox_state);
	exec(f->store, sql);
}

static guint
run_pass(Fixture *f, gint64 now, guint limit)
{
	g_autoptr(GError) error = NULL;
	guint steps = 1;

	while (vb_upkeep_retention_step(f->upkeep, now, limit, &error))
		steps++;
	g_assert_no_error(error);
	return steps;
}

/* a year and a day, a few days, and today: only the finished visits past the
 * 400 days go, with everything that hangs on them; a visit still settling, one
 * still owed its notice, and one with an outbox item not delivered stay */
static void
test_retention_exact(Fixture *f, gconstpointer user_data)
{
	gint64 old = f->now - 401 * DAY_US;
	guint steps;

	for (guint i = 0; i < 7; i++)
		add_visit(f, old + i, "settled", "done");
	add_visit(f, old, "declined", "done");
	add_visit(f, old, "settling", "done");	       /* not settled */
	add_visit(f, old, "capture-declined", "done"); /* settled by hand */
	add_visit(f, old, "settled", "pending");       /* its capture still queued */
	add_visit(f, old, "settled", "dead");	       /* a dead letter to retry */
	exec(f->store, "UPDATE visits SET notice_owed = 1 WHERE id = 'visit-1'");
	add_visit(f, f->now - 399 * DAY_US, "settled", "done");
	add_visit(f, f->now - DAY_US, "settled", "done");
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM visits"), ==, 14);

	/* batches of 3: 7 visits to go (the 8 old finished ones but the one owed
	 * its notice) take three batches, the last one short */
	steps = run_pass(f, f->now, 3);
	g_assert_cmpint(vb_upkeep_get_removed(f->upkeep, "visits"), ==, 7);
	g_assert_cmpint(steps, >, 3);
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM visits"), ==, 7);
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM visits WHERE id IN ('visit-1', "
					    "'visit-9', 'visit-10', 'visit-11', 'visit-12', "
					    "'visit-13', 'visit-14')"),
			==, 7);
	/* their timelines went with them; feedback handled more than 180 days
	 * ago went, whatever its visit */
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM visit_timeline WHERE visit_id "
					    "NOT IN (SELECT id FROM visits)"),
			==, 0);
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM feedback"), ==, 1);
	/* SMS records past 90 days go unless their item is not done; delivered
	 * items past 30 days, never one pending or dead */
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM sms_messages"), ==, 3);
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM outbox WHERE state = 'done'"), ==,
			2);
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM outbox WHERE state != 'done'"),
			==, 4);
	/* audit: 90 days */
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM audit"), ==, 2);

	/* a second pass has nothing to do */
	run_pass(f, f->now, 3);
	g_assert_cmpint(vb_upkeep_get_removed(f->upkeep, "visits"), ==, 7);
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM visits"), ==, 7);
}

/* the periods come from the configuration */
static void
test_retention_config(Fixture *f, gconstpointer user_data)
{
	g_autoptr(VbConfig) config = vb_config_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *conf = NULL;

	add_visit(f, f->now - 40 * DAY_US, "settled", "done");
	add_visit(f, f->now - 20 * DAY_US, "settled", "done");
	run_pass(f, f->now, 500);
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM visits"), ==, 2);
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM sms_messages"), ==, 2);

	conf = g_build_filename(f->tmpdir, "vestibule.conf", NULL);
	g_assert_true(g_file_set_contents(conf,
					  "[vestibule]\nvisit-retention-days = 30\n"
					  "sms-retention-days = 10\naudit-retention-days = 30\n",
					  -1, NULL));
	g_assert_true(vb_config_load(config, conf, &error));
	g_assert_true(vb_config_validate(config, NULL, &error));
	g_assert_no_error(error);
	vb_upkeep_set_config(f->upkeep, config);
	run_pass(f, f->now, 500);
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM visits"), ==, 1);
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM sms_messages"), ==, 0);
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM audit"), ==, 2);
}

/* visits every day for 18 simulated months, retention run every day: the
 * file stops growing once the oldest visits pass their 400 days, and the free
 * pages go back to the file system */
static void
test_retention_bounded(Fixture *f, gconstpointer user_data)
{
	/* 500 a day with -m slow; 50 in the quick suite, where the file levels
	 * off the same way, at a tenth of the size */
	const guint per_day = g_test_slow() ? 500 : 50;
	gint64 start = f->now - 540 * DAY_US;
	gint64 size_at_14_months = 0;
	gint64 size_at_18_months = 0;
	VbStorePages pages;
	g_autoptr(GError) error = NULL;

	for (guint day = 0; day < 540; day++) {
		gint64 today = start + day * DAY_US;
		exec(f->store, "BEGIN");
		for (guint i = 0; i < per_day; i++)
			add_visit(f, today + i * 1000, "settled", "done");
		exec(f->store, "COMMIT");
		run_pass(f, today + DAY_US - 1, 500);
		if (day == 420) {
			g_assert_true(vb_store_get_pages(f->store, &pages, &error));
			size_at_14_months = pages.page_count * pages.page_size;
		}
	}
	g_assert_true(vb_store_get_pages(f->store, &pages, &error));
	size_at_18_months = pages.page_count * pages.page_size;
	g_test_message("size at 14 months %" G_GINT64_FORMAT " KiB, at 18 months %" G_GINT64_FORMAT
		       " KiB",
		       size_at_14_months / 1024, size_at_18_months / 1024);
	g_assert_cmpint(pages.freelist_count, ==, 0);
	g_assert_cmpint(size_at_18_months, <=, size_at_14_months * 105 / 100);
	g_assert_cmpint(query_int(f->store, "SELECT count(*) FROM visits"), <=, 401 * per_day);
}

/* the same in the quick suite, with a smaller store: a month of visits past
 * their period goes, and the file shrinks by the pages it freed */
static void
test_retention_gives_pages_back(Fixture *f, gconstpointer user_data)
{
	VbStorePages before, after;
	g_autoptr(GError) error = NULL;

	exec(f->store, "BEGIN");
	for (guint i = 0; i < 3000; i++)
		add_visit(f, f->now - 500 * DAY_US + i, "settled", "done");
	for (guint i = 0; i < 300; i++)
		add_visit(f, f->now - DAY_US + i, "settled", "done");
	exec(f->store, "COMMIT");
	g_assert_true(vb_store_get_pages(f->store, &before, &error));
	g_assert_true(before.incremental);
	run_pass(f, f->now, 500);
	g_assert_true(vb_store_get_pages(f->store, &after, &error));
	g_assert_cmpint(vb_upkeep_get_removed(f->upkeep, "visits"), ==, 3000);
	g_assert_cmpint(after.freelist_count, ==, 0);
	g_test_message("pages: %" G_GINT64_FORMAT " before, %" G_GINT64_FORMAT " after",
		       before.page_count, after.page_count);
	g_assert_cmpint(after.page_count * 3, <, before.page_count);
}

/* a pass over a store of thousands of recent visits and a few old ones costs
 * what the old ones cost: each table is walked from its oldest row, never read
 * whole, so that a pass on a year of data never holds up a tap */
static void
test_retention_bounded_work(Fixture *f, gconstpointer user_data)
{
	guint64 before;
	guint64 steps;

	exec(f->store, "BEGIN");
	for (guint i = 0; i < 5; i++)
		add_visit(f, f->now - 500 * DAY_US + i, "settled", "done");
	for (guint i = 0; i < 4000; i++)
		add_visit(f, f->now - 10 * DAY_US + i, "settled", "done");
	exec(f->store, "INSERT INTO cards (token, kind, created, last_seen) SELECT "
		       "'card-' || id, 'payment', created, created FROM visits");
	exec(f->store, "COMMIT");

	before = vb_store_get_vm_steps(f->store);
	run_pass(f, f->now, 500);
	steps = vb_store_get_vm_steps(f->store) - before;
	g_test_message("a pass removing 5 of 4005 visits: %" G_GUINT64_FORMAT " steps", steps);
	g_assert_cmpint(vb_upkeep_get_removed(f->upkeep, "visits"), ==, 5);
	g_assert_cmpint(vb_upkeep_get_removed(f->upkeep, "cards"), ==, 5);
	/* reading one of the tables whole takes more than 4000 */
	g_assert_cmpuint(steps, <, 4000);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("/upkeep/retention/exact", test_retention_exact);
	ADD("/upkeep/retention/config", test_retention_config);
	ADD("/upkeep/retention/gives-pages-back", test_retention_gives_pages_back);
	ADD("/upkeep/retention/bounded", test_retention_bounded);
	ADD("/upkeep/retention/bounded-work", test_retention_bounded_work);
	return g_test_run();
}
