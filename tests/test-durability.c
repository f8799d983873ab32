/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>

#include "vb-daemon-private.h"
#include "vb-events.h"
#include "vb-plugin-loader-private.h"
#include "vb-test-inprocess.h"
#include "vb-test-syncs.h"

/*
 * What a power cut can take back during a tap, counted in syncs of the
 * store's write-ahead log. The daemon runs the simulated store in this
 * process, so that every sync SQLite makes is counted: the visit must be on
 * disk before the processor is asked for a hold (a restart then finds it and
 * voids the hold), the door must open after that one sync only, and the
 * approved hold must be on disk right after the door opened, before the daemon
 * does anything else.
 */

#define TEST_PAN "4970107305551237"
#define TEST_PHONE "0639984321"

typedef struct {
	GMainLoop *loop;
	const gchar *waiting_for;
	gboolean seen;
	/* the log's syncs when each step of the visit reached the bus */
	guint at_authorizing;
	guint at_unlocked_state;
	guint at_door_unlocked;
} Durability;

static void
event_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	Durability *d = user_data;
	const gchar *name = vb_event_get_name(event);

	if (g_strcmp0(name, VB_EVENT_VISIT_STATE) == 0) {
		const gchar *state = vb_event_lookup_string(event, VB_KEY_STATE);
		if (g_strcmp0(state, "authorizing") == 0)
			d->at_authorizing = vb_test_syncs_wal();
		else if (g_strcmp0(state, "unlocked") == 0)
			d->at_unlocked_state = vb_test_syncs_wal();
	} else if (g_strcmp0(name, VB_EVENT_DOOR_UNLOCKED) == 0) {
		d->at_door_unlocked = vb_test_syncs_wal();
	}
	if (d->waiting_for != NULL && g_strcmp0(name, d->waiting_for) == 0) {
		d->seen = TRUE;
		g_main_loop_quit(d->loop);
	}
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

static void
test_tap_syncs(void)
{
	g_autofree gchar *dir = NULL;
	VbDaemon *daemon;
	Durability d = {0};
	VbPluginLoader *loader;
	VbPlugin *lock;
	guint at_tap;

	daemon = vb_test_inprocess_start(
	    "[visit]\nverify-phone=false\n" VB_TEST_INPROCESS_SIM_STORE, &dir);
	d.loop = g_main_loop_new(NULL, FALSE);
	g_signal_connect(vb_context_get_bus(vb_daemon_get_context(daemon)), "event",
			 G_CALLBACK(event_cb), &d);
	loader = vb_daemon_get_loader(daemon);
	lock = vb_plugin_loader_get_instance(loader, "front-lock");
	g_assert_nonnull(lock);

	/* the card's first visit gives its phone; then the shopper leaves */
	expect(&d, VB_EVENT_DOOR_UNLOCKED);
	vb_test_inprocess_tap(daemon, "front-reader", TEST_PAN);
	vb_test_inprocess_type(daemon, "front-keypad", TEST_PHONE);
	wait_for(&d);
	expect(&d, VB_EVENT_SMS_STATUS);
	vb_plugin_emit(lock, VB_EVENT_DOOR_OPENED, NULL);
	vb_plugin_emit(lock, VB_EVENT_DOOR_CLOSED, NULL);
	wait_for(&d);
	while (g_main_context_iteration(NULL, FALSE))
		;

	/* the known card comes back */
	expect(&d, VB_EVENT_DOOR_UNLOCKED);
	at_tap = vb_test_syncs_wal();
	vb_test_inprocess_tap(daemon, "front-reader", TEST_PAN);
	wait_for(&d);

	/* the visit was on disk before the processor was asked for the hold */
	g_assert_cmpuint(d.at_authorizing, ==, at_tap + 1);
	/* and the door opened after that one sync, the approved hold committed
	 * but not yet synced */
	g_assert_cmpuint(d.at_unlocked_state, ==, at_tap + 1);
	g_assert_cmpuint(d.at_door_unlocked, ==, at_tap + 1);
	/* the hold was on disk before the daemon did anything else: before the
	 * shopper could push the door */
	g_assert_cmpuint(vb_test_syncs_wal(), ==, at_tap + 2);

	vb_test_inprocess_stop(daemon, dir);
	g_main_loop_unref(d.loop);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/durability/tap/one-sync-before-unlock", test_tap_syncs);
	return g_test_run();
}
