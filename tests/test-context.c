/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdlib.h>

#include "vb-audit-private.h"
#include "vb-bus-private.h"
#include "vb-context-private.h"
#include "vb-events.h"
#include "vb-host-private.h"
#include "vb-store-private.h"

static void
test_context_audit_inside_transaction(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("vb-context-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "vestibule.db", NULL);
	g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", dir);
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(VbBus) bus = vb_bus_new(NULL);
	g_autoptr(VbContext) context = NULL;
	g_autoptr(VbHost) host = NULL;
	g_autoptr(GPtrArray) rows = NULL;
	g_autoptr(GError) error = NULL;
	gint64 deadline;

	g_assert_true(vb_store_open(store, path, &error));
	context = vb_context_new(bus, store, NULL, NULL);
	host = vb_host_new(context);
	vb_host_start_audit(host);

	/* more events than the audit buffer holds, all emitted inside a visit's
	 * transaction: none may be lost */
	{
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(store, &error);
		g_assert_no_error(error);
		for (guint i = 0; i < 600; i++)
			vb_bus_emit_simple(bus, "front-lock", "front", VB_EVENT_DOOR_OPENED, NULL);
		g_assert_true(vb_store_transaction_commit(tx, &error));
	}
	deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	while (g_get_monotonic_time() < deadline) {
		g_clear_pointer(&rows, g_ptr_array_unref);
		rows = vb_audit_list(store, 0, 0, &error);
		g_assert_no_error(error);
		if (rows->len == 600)
			break;
		g_main_context_iteration(NULL, TRUE);
	}
	g_assert_cmpuint(rows->len, ==, 600);
	g_clear_object(&host);
	g_clear_object(&context);
	vb_store_close(store);
	g_assert_cmpint(system(cmd), ==, 0);
}

static gint64
query_mark(VbStore *store)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autoptr(GError) error = NULL;

	stmt = vb_store_prepare(store, "SELECT value FROM upkeep WHERE name = 'event-seq'", &error);
	g_assert_no_error(error);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
	return vb_store_stmt_column_int64(stmt, 0);
}

static void
last_seq_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	*(guint64 *)user_data = vb_event_get_sequence(event);
}

/* a number handed out is always below the mark reserved on disk, even when
 * the loop never runs to reserve ahead and the audit rows never get written
 * (as a crash leaves them): a bus started on the same store numbers its first
 * event past every earlier one */
static void
test_context_seq_reserved(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("vb-context-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "vestibule.db", NULL);
	g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", dir);
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(VbBus) bus = vb_bus_new(NULL);
	g_autoptr(VbBus) bus2 = vb_bus_new(NULL);
	g_autoptr(VbContext) context = NULL;
	g_autoptr(VbContext) context2 = NULL;
	g_autoptr(VbHost) host = NULL;
	g_autoptr(VbHost) host2 = NULL;
	g_autoptr(GError) error = NULL;
	guint64 last = 0, first2 = 0;
	gint64 slowest = 0, total = 0;
	guint64 syncs0;

	g_assert_true(vb_store_open(store, path, &error));
	context = vb_context_new(bus, store, NULL, NULL);
	host = vb_host_new(context);
	vb_host_start_audit(host);
	g_signal_connect(bus, "event", G_CALLBACK(last_seq_cb), &last);

	syncs0 = vb_store_get_syncs(store);
	for (guint i = 0; i < 25000; i++) {
		gint64 t0 = g_get_monotonic_time(), dt;
		vb_bus_emit_simple(bus, "front-keypad", "front", VB_EVENT_KEYPAD_KEY, NULL);
		dt = g_get_monotonic_time() - t0;
		total += dt;
		slowest = MAX(slowest, dt);
		g_assert_cmpuint(last, ==, i + 1);
		if (i % 1000 == 999 || i == 10000)
			g_assert_cmpint(query_mark(store), >=, (gint64)last);
	}
	g_test_message(
	    "25,000 events, the loop never run: %" G_GUINT64_FORMAT " synced commits; an emit took "
	    "%.1f us on average, %.1f ms at most",
	    vb_store_get_syncs(store) - syncs0, (gdouble)total / 25000, slowest / 1000.0);
	/* the reservations did not wait for the loop, one per block */
	g_assert_cmpuint(vb_store_get_syncs(store) - syncs0, <=, 3);

	/* the audit rows still wait in the buffer: a second start reads the mark */
	context2 = vb_context_new(bus2, store, NULL, NULL);
	host2 = vb_host_new(context2);
	vb_host_start_audit(host2);
	g_signal_connect(bus2, "event", G_CALLBACK(last_seq_cb), &first2);
	vb_bus_emit_simple(bus2, "front-keypad", "front", VB_EVENT_KEYPAD_KEY, NULL);
	g_assert_cmpuint(first2, >, last);
	g_assert_cmpint(query_mark(store), >=, (gint64)first2);
	g_assert_cmpuint(vb_bus_get_emitted(bus2), ==, 1);

	g_clear_object(&host2);
	g_clear_object(&context2);
	g_clear_object(&host);
	g_clear_object(&context);
	vb_store_close(store);
	g_assert_cmpint(system(cmd), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* a lost audit row is reported as a warning: that must fail this test */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
	g_test_add_func("/context/audit/inside-transaction", test_context_audit_inside_transaction);
	g_test_add_func("/context/audit/seq-reserved", test_context_seq_reserved);
	return g_test_run();
}
