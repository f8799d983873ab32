/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../nfc/vb-emu-card.h"
#include "../nfc/vb-pn532-emu.h"
#include "vb-daemon-private.h"
#include "vb-events.h"
#include "../vb-test-inprocess.h"

/*
 * From a card's arrival in the field of the emulated PN532 to the core's
 * card-presented event, through the real libnfc, the nfc plugin's poll and
 * its whole EMV read (a Visa: PPSE, SELECT, GPO, one record). Cards arrive at
 * a random moment of the poll period, as a shopper's does.
 */

typedef struct {
	GMainLoop *loop;
	const gchar *waiting_for;
	gint64 seen_at;
} Bench;

static void
bench_event_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	Bench *b = user_data;

	if (b->waiting_for != NULL && g_strcmp0(vb_event_get_name(event), b->waiting_for) == 0) {
		b->seen_at = g_get_monotonic_time();
		b->waiting_for = NULL;
		g_main_loop_quit(b->loop);
	}
}

static gboolean
bench_timeout_cb(gpointer user_data)
{
	g_error("the bench waited 10 s for an event that did not come");
	return G_SOURCE_REMOVE;
}

static void
bench_wait(Bench *b, const gchar *event_name)
{
	guint id = g_timeout_add_seconds(10, bench_timeout_cb, NULL);
	b->waiting_for = event_name;
	g_main_loop_run(b->loop);
	g_source_remove(id);
}

static gint
bench_cmp(gconstpointer a, gconstpointer b)
{
	gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *config = NULL;
	g_autofree gchar *connstring = NULL;
	VbDaemon *daemon;
	g_autoptr(GArray) samples = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autoptr(VbPn532Emu) emu = NULL;
	g_autoptr(VbEmuCard) card = vb_emu_card_visa();
	Bench b = {0};
	guint arrivals = 200;
	gint64 poll_ms = 150;
	gdouble sum = 0;

	for (gint i = 1; i < argc; i++) {
		if (g_strcmp0(argv[i], "--arrivals") == 0 && i + 1 < argc)
			arrivals = (guint)atoi(argv[++i]);
		else if (g_strcmp0(argv[i], "--poll-ms") == 0 && i + 1 < argc)
			poll_ms = atoi(argv[++i]);
	}
	g_setenv("LIBNFC_AUTO_SCAN", "false", TRUE);
	g_setenv("LIBNFC_INTRUSIVE_SCAN", "false", TRUE);
	g_setenv("LIBNFC_LOG_LEVEL", "1", TRUE);

	emu = vb_pn532_emu_new(NULL);
	connstring = vb_pn532_emu_connstring(emu);
	config = g_strdup_printf("[instance:reader]\nplugin=nfc\nconnstring=%s\n"
				 "poll-period-ms=%" G_GINT64_FORMAT "\n",
				 connstring, poll_ms);
	daemon = vb_test_inprocess_start(config, &dir);
	b.loop = g_main_loop_new(NULL, FALSE);
	g_signal_connect(vb_context_get_bus(vb_daemon_get_context(daemon)), "event",
			 G_CALLBACK(bench_event_cb), &b);
	bench_wait(&b, VB_EVENT_READER_STATE);

	for (guint i = 0; i < arrivals; i++) {
		gint64 us;
		/* somewhere in the poll period */
		g_usleep((gulong)g_random_int_range(0, (gint32)poll_ms * 1000));
		vb_pn532_emu_insert(emu, card);
		bench_wait(&b, VB_EVENT_CARD_PRESENTED);
		us = b.seen_at - vb_pn532_emu_inserted_at(emu);
		g_array_append_val(samples, us);
		sum += (gdouble)us;
		vb_pn532_emu_remove(emu);
		bench_wait(&b, VB_EVENT_CARD_REMOVED);
	}
	g_array_sort(samples, bench_cmp);
	g_print("nfc card-to-event, emulated PN532 over a pty, Visa EMV read (4 APDUs), "
		"poll-period-ms=%" G_GINT64_FORMAT ", %u arrivals:\n",
		poll_ms, arrivals);
	g_print("  p50 %.1f ms  p99 %.1f ms  max %.1f ms  mean %.1f ms\n",
		g_array_index(samples, gint64, samples->len / 2) / 1000.0,
		g_array_index(samples, gint64, samples->len * 99 / 100) / 1000.0,
		g_array_index(samples, gint64, samples->len - 1) / 1000.0,
		sum / samples->len / 1000.0);
	g_print("  target p99 < poll period + 100 ms: %s\n",
		g_array_index(samples, gint64, samples->len * 99 / 100) < (poll_ms + 100) * 1000
		    ? "PASS"
		    : "MISS");

	vb_test_inprocess_stop(daemon, dir);
	g_main_loop_unref(b.loop);
	return 0;
}
