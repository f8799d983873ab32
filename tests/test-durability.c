/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>

#include "vb-daemon-private.h"
#include "vb-events.h"
#include "vb-plugin-loader-private.h"
#include "vb-store-private.h"
#include "vb-test-files.h"
#include "vb-test-inprocess.h"
#include "vb-test-syncs.h"

/*
 * What a power cut can take back during a tap, counted in syncs of the
 * store's write-ahead log, and what a restart after one does. The daemon runs
 * the simulated store in this process, so that every sync SQLite makes is
 * seen here.
 *
 * With a processor that can cancel by merchant reference, the visit takes
 * the door's reservation, on disk since an earlier sync, and nothing is synced
 * before the door opens; the approved hold is synced right after, before the
 * daemon does anything else. Without, the visit is on disk before the
 * processor is asked, and the door opens after that one sync.
 *
 * The power cut itself is played with an image of the store taken at each
 * sync: the daemon restarts from what was on disk when the door opened, with
 * the processor's ledger as it was, since a processor keeps its own.
 */

#define TEST_PAN "4970107305551237"
#define TEST_PHONE "0639984321"

#define TEST_CONFIG "[visit]\nverify-phone=false\n" VB_TEST_INPROCESS_SIM_STORE
#define TEST_NO_CANCEL_BY_REFERENCE "cancel-by-reference=false\n"

typedef struct {
	GMainLoop *loop;
	const gchar *waiting_for;
	gboolean seen;
	/* the log's syncs when each step of the visit reached the bus */
	guint at_authorizing;
	guint at_unlocked_state;
	guint at_door_unlocked;
	gchar *visit_authorizing; /* the visit the hold is asked for */
	gboolean cut_at_unlock;	  /* the power fails as the door opens */
	gboolean cut_at_close;	  /* the power fails as the door closes */
	guint at_door_closed;
	gboolean released_alert; /* the operator heard of a hold released */
} Durability;

static void
event_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	Durability *d = user_data;
	const gchar *name = vb_event_get_name(event);

	if (g_strcmp0(name, VB_EVENT_VISIT_STATE) == 0) {
		const gchar *state = vb_event_lookup_string(event, VB_KEY_STATE);
		if (g_strcmp0(state, "authorizing") == 0) {
			d->at_authorizing = vb_test_syncs_wal();
			g_free(d->visit_authorizing);
			d->visit_authorizing =
			    g_strdup(vb_event_lookup_string(event, VB_KEY_VISIT));
		} else if (g_strcmp0(state, "unlocked") == 0) {
			d->at_unlocked_state = vb_test_syncs_wal();
		}
	} else if (g_strcmp0(name, VB_EVENT_ALERT) == 0) {
		const gchar *message = vb_event_lookup_string(event, VB_KEY_MESSAGE);
		if (strstr(message, "by a tap that the restart lost was released") != NULL)
			d->released_alert = TRUE;
	} else if (g_strcmp0(name, VB_EVENT_DOOR_UNLOCKED) == 0) {
		d->at_door_unlocked = vb_test_syncs_wal();
		if (d->cut_at_unlock)
			vb_test_syncs_image_stop();
	} else if (g_strcmp0(name, VB_EVENT_DOOR_CLOSED) == 0) {
		/* the visit manager, connected first, has recorded the close */
		d->at_door_closed = vb_test_syncs_wal();
		if (d->cut_at_close)
			vb_test_syncs_image_stop();
	}
	if (d->waiting_for != NULL && g_strcmp0(name, d->waiting_for) == 0) {
		d->seen = TRUE;
		g_main_loop_quit(d->loop);
	}
}

static gboolean
quit_cb(gpointer user_data)
{
	g_main_loop_quit(user_data);
	return G_SOURCE_REMOVE;
}

static gboolean
timeout_cb(gpointer user_data)
{
	Durability *d = user_data;
	g_test_fail_printf("no %s event came in 10 s", d->waiting_for);
	g_main_loop_quit(d->loop);
	return G_SOURCE_REMOVE;
}

static void
expect(Durability *d, const gchar *name)
{
	d->waiting_for = name;
	d->seen = FALSE;
}

static void
wait_for(Durability *d)
{
	guint id;
	if (d->seen)
		return;
	id = g_timeout_add_seconds(10, timeout_cb, d);
	g_main_loop_run(d->loop);
	g_source_remove(id);
	g_assert_true(d->seen);
}

static VbDaemon *
durability_start(Durability *d, const gchar *config, gchar **dir)
{
	VbDaemon *daemon = vb_test_inprocess_start(config, dir);

	if (d->loop == NULL)
		d->loop = g_main_loop_new(NULL, FALSE);
	g_signal_connect(vb_context_get_bus(vb_daemon_get_context(daemon)), "event",
			 G_CALLBACK(event_cb), d);
	return daemon;
}

static void
durability_clear(Durability *d)
{
	g_clear_pointer(&d->loop, g_main_loop_unref);
	g_clear_pointer(&d->visit_authorizing, g_free);
}

static void
drain(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

/* the card's first visit gives its phone; then the shopper leaves */
static void
first_visit(Durability *d, VbDaemon *daemon)
{
	VbPlugin *lock = vb_plugin_loader_get_instance(vb_daemon_get_loader(daemon), "front-lock");

	g_assert_nonnull(lock);
	expect(d, VB_EVENT_DOOR_UNLOCKED);
	vb_test_inprocess_tap(daemon, "front-reader", TEST_PAN);
	vb_test_inprocess_type(daemon, "front-keypad", TEST_PHONE);
	wait_for(d);
	expect(d, VB_EVENT_SMS_STATUS);
	vb_plugin_emit(lock, VB_EVENT_DOOR_OPENED, NULL);
	vb_plugin_emit(lock, VB_EVENT_DOOR_CLOSED, NULL);
	wait_for(d);
	drain();
}

/* the known card comes back; returns the log's syncs at the tap */
static guint
return_visit(Durability *d, VbDaemon *daemon)
{
	guint at_tap;

	expect(d, VB_EVENT_DOOR_UNLOCKED);
	at_tap = vb_test_syncs_wal();
	vb_test_inprocess_tap(daemon, "front-reader", TEST_PAN);
	wait_for(d);
	return at_tap;
}

/* @user_data: whether the processor can cancel by reference */
static void
test_tap_syncs(gconstpointer user_data)
{
	gboolean by_reference = GPOINTER_TO_INT(user_data);
	/* the syncs before the processor is asked, and before the door opens */
	guint before = by_reference ? 0 : 1;
	g_autofree gchar *dir = NULL;
	Durability d = {0};
	VbDaemon *daemon = durability_start(
	    &d, by_reference ? TEST_CONFIG : TEST_CONFIG TEST_NO_CANCEL_BY_REFERENCE, &dir);
	guint at_tap;

	first_visit(&d, daemon);
	at_tap = return_visit(&d, daemon);

	/* with the capability, the visit took the door's reservation, already on
	 * disk, and nothing was synced before the processor was asked; without,
	 * the visit was synced before */
	g_assert_cmpuint(d.at_authorizing, ==, at_tap + before);
	/* the door opened with the approved hold committed but not synced */
	g_assert_cmpuint(d.at_unlocked_state, ==, at_tap + before);
	g_assert_cmpuint(d.at_door_unlocked, ==, at_tap + before);
	/* the hold (and the door's next reservation) were on disk before the
	 * daemon did anything else: before the shopper could push the door */
	g_assert_cmpuint(vb_test_syncs_wal(), ==, at_tap + before + 1);

	vb_test_inprocess_stop(daemon, dir);
	durability_clear(&d);
}

static void
exec_sql(sqlite3 *db, const gchar *sql)
{
	gchar *message = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK)
		g_error("%s: %s", sql, message);
}

static gchar *
query_text(VbDaemon *daemon, const gchar *sql, const gchar *arg)
{
	VbStore *store = vb_context_get_store(vb_daemon_get_context(daemon));
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(store, sql, &error);

	g_assert_no_error(error);
	if (arg != NULL)
		vb_store_stmt_bind_text(stmt, 1, arg);
	if (vb_store_stmt_step(stmt, &error) != VB_STORE_STEP_ROW) {
		g_assert_no_error(error);
		return NULL;
	}
	return g_strdup(vb_store_stmt_column_text(stmt, 0));
}

/* a start that cannot release the last run's reservations claims none of
 * them, since one may carry a hold: every tap syncs its visit before the
 * hold, and the operator is told */
static void
test_release_fails_at_start(void)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *state_db = NULL;
	g_autofree gchar *left = NULL;
	g_autofree gchar *still = NULL;
	g_autofree gchar *alert = NULL;
	Durability d = {0};
	VbDaemon *daemon = durability_start(&d, TEST_CONFIG, &dir);
	sqlite3 *db = NULL;
	guint at_tap;

	/* the alert is a warning, which the tests make fatal */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	first_visit(&d, daemon);
	left = query_text(daemon, "SELECT id FROM visit_reservations WHERE door = ?1", "front");
	g_assert_nonnull(left);
	vb_test_inprocess_halt(daemon);

	/* the store refuses new reservations, as a full disk would */
	state_db = g_build_filename(dir, "state", "vestibule.db", NULL);
	g_assert_cmpint(sqlite3_open(state_db, &db), ==, SQLITE_OK);
	exec_sql(db, "CREATE TRIGGER no_room BEFORE INSERT ON visit_reservations "
		     "BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END");
	g_assert_cmpint(sqlite3_close(db), ==, SQLITE_OK);

	daemon = vb_test_inprocess_resume(dir);
	g_signal_connect(vb_context_get_bus(vb_daemon_get_context(daemon)), "event",
			 G_CALLBACK(event_cb), &d);
	/* the audit log is written within 200 ms */
	g_timeout_add(300, quit_cb, d.loop);
	g_main_loop_run(d.loop);
	alert = query_text(daemon,
			   "SELECT payload FROM audit WHERE name = 'alert' AND payload LIKE "
			   "'%cannot release the 1 reference reserved before the restart%'",
			   NULL);
	g_assert_nonnull(alert);

	at_tap = return_visit(&d, daemon);
	g_assert_cmpuint(d.at_authorizing, ==, at_tap + 1);
	g_assert_cmpstr(d.visit_authorizing, !=, left);
	/* the reservation stays, to be released by a later start */
	still = query_text(daemon, "SELECT id FROM visit_reservations WHERE id = ?1", left);
	g_assert_cmpstr(still, ==, left);

	vb_test_inprocess_stop(daemon, dir);
	durability_clear(&d);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
}

/* a door added by a reload has no reservation yet: its first tap syncs its
 * visit before the hold, and reserves; its next one syncs nothing */
static void
test_door_added_by_reload(void)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *config_path = NULL;
	g_autofree gchar *config = NULL;
	g_autofree gchar *added = NULL;
	g_autoptr(GError) error = NULL;
	Durability d = {0};
	VbDaemon *daemon = durability_start(&d, TEST_CONFIG, &dir);
	VbPlugin *back_lock;
	guint at_tap;

	first_visit(&d, daemon);
	config_path = g_build_filename(dir, "vestibule.conf", NULL);
	g_assert_true(g_file_get_contents(config_path, &config, NULL, &error));
	added = g_strconcat(config,
			    "[door:back]\nreader=back-reader\nlock=back-lock\n"
			    "[instance:back-reader]\nplugin=sim-reader\n"
			    "[instance:back-lock]\nplugin=sim-lock\n",
			    NULL);
	g_assert_true(g_file_set_contents(config_path, added, -1, &error));
	g_assert_true(vb_daemon_reload(daemon, &error));
	g_assert_no_error(error);
	back_lock = vb_plugin_loader_get_instance(vb_daemon_get_loader(daemon), "back-lock");
	g_assert_nonnull(back_lock);

	for (guint i = 0; i < 2; i++) {
		expect(&d, VB_EVENT_DOOR_UNLOCKED);
		at_tap = vb_test_syncs_wal();
		vb_test_inprocess_tap(daemon, "back-reader", TEST_PAN);
		wait_for(&d);
		/* the first tap at the new door waits for one sync, the next none */
		g_assert_cmpuint(d.at_authorizing, ==, at_tap + (i == 0 ? 1 : 0));
		g_assert_cmpuint(d.at_door_unlocked, ==, at_tap + (i == 0 ? 1 : 0));
		expect(&d, VB_EVENT_SMS_STATUS);
		vb_plugin_emit(back_lock, VB_EVENT_DOOR_OPENED, NULL);
		vb_plugin_emit(back_lock, VB_EVENT_DOOR_CLOSED, NULL);
		wait_for(&d);
		drain();
	}

	vb_test_inprocess_stop(daemon, dir);
	durability_clear(&d);
}

/* the power fails: the store goes back to its image, but the processor is
 * elsewhere and keeps its ledger. The daemon was halted first, so that
 * nothing writes to the files in between */
static void
power_cut(const gchar *dir)
{
	g_autofree gchar *state_db = g_build_filename(dir, "state", "vestibule.db", NULL);
	g_autofree gchar *state_wal = g_strconcat(state_db, "-wal", NULL);
	g_autofree gchar *state_shm = g_strconcat(state_db, "-shm", NULL);
	g_autofree gchar *image_db = g_build_filename(dir, "image", "vestibule.db", NULL);
	g_autofree gchar *image_wal = g_strconcat(image_db, "-wal", NULL);
	gchar *attach = NULL;
	const gchar *ledger[] = {"p_sim_payment_holds", "p_sim_payment_idempotency",
				 "p_sim_payment_cancelled_references"};
	sqlite3 *db = NULL;

	g_assert_cmpint(sqlite3_open(image_db, &db), ==, SQLITE_OK);
	attach = sqlite3_mprintf("ATTACH %Q AS before_cut", state_db);
	exec_sql(db, attach);
	sqlite3_free(attach);
	exec_sql(db, "BEGIN");
	for (guint i = 0; i < G_N_ELEMENTS(ledger); i++) {
		g_autofree gchar *sql =
		    g_strdup_printf("DELETE FROM main.%s; INSERT INTO main.%s SELECT * FROM "
				    "before_cut.%s",
				    ledger[i], ledger[i], ledger[i]);
		exec_sql(db, sql);
	}
	exec_sql(db, "COMMIT");
	exec_sql(db, "DETACH before_cut");
	g_assert_cmpint(sqlite3_close(db), ==, SQLITE_OK);

	/* closing checkpointed the image into its one file */
	g_assert_false(g_file_test(image_wal, G_FILE_TEST_EXISTS));
	(void)g_unlink(state_wal);
	(void)g_unlink(state_shm);
	g_assert_cmpint(g_rename(image_db, state_db), ==, 0);
}

/* the processor's hold under @reference, once the outbox has done its work */
static gchar *
wait_for_hold_state(VbDaemon *daemon, const gchar *reference, const gchar *state)
{
	gint64 until = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	gchar *now = NULL;

	while (g_get_monotonic_time() < until) {
		g_free(now);
		now =
		    query_text(daemon, "SELECT state FROM p_sim_payment_holds WHERE reference = ?1",
			       reference);
		if (g_strcmp0(now, state) == 0)
			break;
		g_main_context_iteration(NULL, FALSE);
		g_usleep(1000);
	}
	return now;
}

static void
test_power_cut(gconstpointer user_data)
{
	gboolean by_reference = GPOINTER_TO_INT(user_data);
	g_autofree gchar *dir = NULL;
	g_autofree gchar *image_dir = NULL;
	g_autofree gchar *state_db = NULL;
	g_autofree gchar *lost = NULL;
	g_autofree gchar *hold = NULL;
	g_autofree gchar *visit = NULL;
	g_autofree gchar *reservation = NULL;
	g_autofree gchar *release = NULL;
	g_autofree gchar *key = NULL;
	g_autoptr(GError) error = NULL;
	Durability d = {0};
	VbDaemon *daemon = durability_start(
	    &d, by_reference ? TEST_CONFIG : TEST_CONFIG TEST_NO_CANCEL_BY_REFERENCE, &dir);
	VbStore *store = vb_context_get_store(vb_daemon_get_context(daemon));

	/* the alerts of a restart are warnings, which the tests make fatal */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	first_visit(&d, daemon);
	image_dir = g_build_filename(dir, "image", NULL);
	state_db = g_build_filename(dir, "state", "vestibule.db", NULL);
	vb_test_syncs_image_start(state_db, image_dir);
	g_assert_true(vb_store_sync(store, &error));
	g_assert_no_error(error);

	/* the known card comes back, and the power fails as the door opens */
	d.cut_at_unlock = TRUE;
	return_visit(&d, daemon);
	lost = g_strdup(d.visit_authorizing);
	g_assert_nonnull(lost);
	hold =
	    query_text(daemon, "SELECT state FROM p_sim_payment_holds WHERE reference = ?1", lost);
	g_assert_cmpstr(hold, ==, "authorized");
	vb_test_inprocess_halt(daemon);
	power_cut(dir);

	daemon = vb_test_inprocess_resume(dir);
	g_signal_connect(vb_context_get_bus(vb_daemon_get_context(daemon)), "event",
			 G_CALLBACK(event_cb), &d);
	/* what the daemon does once started: the leftover reservations go */
	drain();
	visit = query_text(daemon, "SELECT state FROM visits WHERE id = ?1", lost);
	if (by_reference) {
		/* the tap's commits were not synced: the visit is gone, and its
		 * reference was a reservation, which the restart cancelled */
		g_assert_null(visit);
		key = g_strdup_printf("%s:cancel-by-reference", lost);
		release =
		    query_text(daemon, "SELECT kind FROM outbox WHERE idempotency_key = ?1", key);
		g_assert_cmpstr(release, ==, "payment");
	} else {
		/* the visit was synced before the hold: the restart voids it */
		g_assert_cmpstr(visit, ==, "interrupted");
	}
	g_clear_pointer(&hold, g_free);
	hold = wait_for_hold_state(daemon, lost, "cancelled");
	/* the operator hears of a hold that a power cut left standing */
	g_assert_true(d.released_alert == by_reference);
	/* no hold stands for a visit the store forgot or left unfinished */
	g_assert_cmpstr(hold, ==, "cancelled");
	if (by_reference) {
		/* the door has a new reservation, never the lost one */
		reservation = query_text(
		    daemon, "SELECT id FROM visit_reservations WHERE door = ?1", "front");
		g_assert_nonnull(reservation);
		g_assert_cmpstr(reservation, !=, lost);
	}

	/* and the shopper gets in again */
	vb_test_syncs_image_stop();
	d.cut_at_unlock = FALSE;
	return_visit(&d, daemon);
	g_assert_cmpstr(d.visit_authorizing, !=, lost);
	if (by_reference)
		g_assert_cmpstr(d.visit_authorizing, ==, reservation);

	vb_test_inprocess_stop(daemon, dir);
	durability_clear(&d);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
}

/* the door's close is committed without a sync: nothing leaves the store on
 * its strength before a later sync. A power cut that takes it back leaves the
 * visit open; the next start finds the door closed, and the visit ends as
 * the close ended it: awaiting its order, its notice queued once, its hold
 * kept for the capture */
static void
test_power_cut_at_close(void)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *image_dir = NULL;
	g_autofree gchar *state_db = NULL;
	g_autofree gchar *visit_id = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *notices = NULL;
	g_autofree gchar *hold = NULL;
	g_autofree gchar *key = NULL;
	g_autoptr(GError) error = NULL;
	Durability d = {0};
	VbDaemon *daemon = durability_start(&d, TEST_CONFIG, &dir);
	VbStore *store = vb_context_get_store(vb_daemon_get_context(daemon));
	VbPlugin *lock = vb_plugin_loader_get_instance(vb_daemon_get_loader(daemon), "front-lock");
	guint at_opened;

	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	first_visit(&d, daemon);
	image_dir = g_build_filename(dir, "image", NULL);
	state_db = g_build_filename(dir, "state", "vestibule.db", NULL);
	vb_test_syncs_image_start(state_db, image_dir);
	g_assert_true(vb_store_sync(store, &error));
	g_assert_no_error(error);

	return_visit(&d, daemon);
	visit_id = g_strdup(d.visit_authorizing);
	drain();
	vb_plugin_emit(lock, VB_EVENT_DOOR_OPENED, NULL);
	at_opened = vb_test_syncs_wal();
	d.cut_at_close = TRUE;
	vb_plugin_emit(lock, VB_EVENT_DOOR_CLOSED, NULL);
	/* the close waited for no sync of the disk */
	g_assert_cmpuint(d.at_door_closed, ==, at_opened);
	state = query_text(daemon, "SELECT state FROM visits WHERE id = ?1", visit_id);
	g_assert_cmpstr(state, ==, "awaiting-order");
	vb_test_inprocess_halt(daemon);
	power_cut(dir);

	daemon = vb_test_inprocess_resume(dir);
	g_signal_connect(vb_context_get_bus(vb_daemon_get_context(daemon)), "event",
			 G_CALLBACK(event_cb), &d);
	drain();
	g_clear_pointer(&state, g_free);
	state = query_text(daemon, "SELECT state FROM visits WHERE id = ?1", visit_id);
	g_assert_cmpstr(state, ==, "awaiting-order");
	key = g_strdup_printf("%s:notice", visit_id);
	notices = query_text(daemon, "SELECT COUNT(*) FROM outbox WHERE idempotency_key = ?1", key);
	g_assert_cmpstr(notices, ==, "1");
	/* the shopper went in: the hold waits for the order, never cancelled */
	hold = query_text(daemon, "SELECT state FROM p_sim_payment_holds WHERE reference = ?1",
			  visit_id);
	g_assert_cmpstr(hold, ==, "authorized");

	vb_test_syncs_image_stop();
	vb_test_inprocess_stop(daemon, dir);
	durability_clear(&d);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
}

static void
exec_store(VbStore *store, const gchar *sql, GBytes *blob)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(store, sql, &error);

	g_assert_no_error(error);
	if (blob != NULL)
		vb_store_stmt_bind_blob(stmt, 1, blob);
	g_assert_true(vb_store_stmt_exec(stmt, &error));
	g_assert_no_error(error);
}

/* the store checkpoints between visits; the commit after a checkpoint must not
 * be the one that starts the log over, which SQLite syncs even when the commit
 * itself is not synced */
static void
test_checkpoint_then_unsynced_commit(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("vb-durability-XXXXXX", &error);
	g_autofree gchar *path = g_build_filename(dir, "vestibule.db", NULL);
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GBytes) page = NULL;
	gchar *zeros = g_malloc0(3000);
	guint syncs;

	g_assert_no_error(error);
	page = g_bytes_new_take(zeros, 3000);
	g_assert_true(vb_store_open(store, path, &error));
	g_assert_no_error(error);
	exec_store(store, "CREATE TABLE filler (data BLOB)", NULL);

	/* well over the 1000 pages of log that schedule a checkpoint */
	tx = vb_store_transaction_begin(store, &error);
	g_assert_no_error(error);
	for (guint i = 0; i < 1200; i++)
		exec_store(store, "INSERT INTO filler (data) VALUES (?1)", page);
	g_assert_true(vb_store_transaction_commit(tx, &error));
	g_clear_pointer(&tx, vb_store_transaction_free);
	/* the loop is idle between two visits: the checkpoint runs */
	while (g_main_context_iteration(NULL, FALSE))
		;

	syncs = vb_test_syncs_wal();
	tx = vb_store_transaction_begin_full(store, VB_STORE_TRANSACTION_FLAG_NO_SYNC, &error);
	g_assert_no_error(error);
	exec_store(store, "INSERT INTO filler (data) VALUES (?1)", page);
	g_assert_true(vb_store_transaction_commit(tx, &error));
	g_clear_pointer(&tx, vb_store_transaction_free);
	g_assert_cmpuint(vb_test_syncs_wal(), ==, syncs);

	vb_store_close(store);
	vb_test_remove_tree(dir);
}

/* a SIGTERM that comes while the daemon starts (or just after READY=1) waits
 * for the main loop, which stops cleanly: the store is closed and its marker
 * removed, so the next start does not take it for a crash */
static void
test_sigterm_while_starting(void)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *config_path = NULL;
	g_autofree gchar *secrets_path = NULL;
	g_autofree gchar *marker = NULL;
	g_autoptr(VbDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;

	/* a first start makes the state directory and the store */
	vb_test_inprocess_halt(vb_test_inprocess_start(TEST_CONFIG, &dir));
	config_path = g_build_filename(dir, "vestibule.conf", NULL);
	secrets_path = g_build_filename(dir, "secrets.conf", NULL);
	marker = g_build_filename(dir, "state", "vestibule.db.running", NULL);
	g_assert_false(g_file_test(marker, G_FILE_TEST_EXISTS));

	daemon = vb_daemon_new(config_path, secrets_path, NULL);
	vb_daemon_handle_signals(daemon);
	g_assert_cmpint(raise(SIGTERM), ==, 0);
	g_assert_true(vb_daemon_start(daemon, &error));
	g_assert_no_error(error);
	g_assert_true(g_file_test(marker, G_FILE_TEST_EXISTS));
	g_assert_cmpint(vb_daemon_run(daemon), ==, 0);
	g_assert_false(g_file_test(marker, G_FILE_TEST_EXISTS));
	g_clear_object(&daemon);
	vb_test_remove_tree(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_data_func("/durability/tap/no-sync-before-unlock", GINT_TO_POINTER(TRUE),
			     test_tap_syncs);
	g_test_add_data_func("/durability/tap/without-cancel-by-reference", GINT_TO_POINTER(FALSE),
			     test_tap_syncs);
	g_test_add_func("/durability/tap/door-added-by-reload", test_door_added_by_reload);
	g_test_add_func("/durability/tap/release-fails-at-start", test_release_fails_at_start);
	g_test_add_func("/durability/stop/sigterm-while-starting", test_sigterm_while_starting);
	g_test_add_func("/durability/checkpoint/then-unsynced-commit",
			test_checkpoint_then_unsynced_commit);
	g_test_add_data_func("/durability/power-cut/at-unlock", GINT_TO_POINTER(TRUE),
			     test_power_cut);
	g_test_add_data_func("/durability/power-cut/at-unlock-without-cancel-by-reference",
			     GINT_TO_POINTER(FALSE), test_power_cut);
	g_test_add_func("/durability/power-cut/at-door-closed", test_power_cut_at_close);
	return g_test_run();
}
