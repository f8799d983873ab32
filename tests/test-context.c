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

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* a lost audit row is reported as a warning: that must fail this test */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
	g_test_add_func("/context/audit/inside-transaction", test_context_audit_inside_transaction);
	return g_test_run();
}
