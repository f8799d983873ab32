/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-bus-private.h"
#include "vb-events.h"

#include <stdlib.h>

typedef struct {
	VbBus *bus;
	GPtrArray *seen; /* of gchar* "name:seq" */
} BusFixture;

static void
bus_fixture_setup(BusFixture *fx, gconstpointer data)
{
	fx->bus = vb_bus_new(NULL);
	fx->seen = g_ptr_array_new_with_free_func(g_free);
}

static void
bus_fixture_teardown(BusFixture *fx, gconstpointer data)
{
	g_object_unref(fx->bus);
	g_ptr_array_unref(fx->seen);
}

static void
record_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	BusFixture *fx = user_data;
	const gchar *n = vb_event_lookup_string(event, "n");
	g_ptr_array_add(fx->seen,
			g_strdup_printf("%s:%s", vb_event_get_name(event), n != NULL ? n : ""));
}

static void
test_bus_detail(BusFixture *fx, gconstpointer data)
{
	g_signal_connect(fx->bus, "event::" VB_EVENT_CARD_PRESENTED, G_CALLBACK(record_cb), fx);
	vb_bus_emit_simple(fx->bus, "r", "front", VB_EVENT_DOOR_OPENED, NULL);
	vb_bus_emit_simple(fx->bus, "r", "front", VB_EVENT_CARD_PRESENTED,
			   g_variant_new_parsed("{'n': <'1'>}"));
	/* a listener on one event name sees only that name */
	g_assert_cmpuint(fx->seen->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(fx->seen, 0), ==, "card-presented:1");
	g_assert_cmpuint(vb_bus_get_emitted(fx->bus), ==, 2);
}

static void
test_bus_event_fields(BusFixture *fx, gconstpointer data)
{
	g_autoptr(VbEvent) event = NULL;
	gint64 before = g_get_real_time();
	gint64 value = 0;

	event = vb_event_new(VB_EVENT_DOOR_UNLOCKED, "front-lock", "front",
			     g_variant_new_parsed("{%s: <%x>}", VB_KEY_DURATION_MS, (gint64)3000));
	g_assert_cmpstr(vb_event_get_name(event), ==, "door-unlocked");
	g_assert_cmpstr(vb_event_get_source(event), ==, "front-lock");
	g_assert_cmpstr(vb_event_get_door(event), ==, "front");
	g_assert_cmpint(vb_event_get_real_time(event), >=, before);
	g_assert_cmpint(vb_event_get_monotonic_time(event), >, 0);
	g_assert_true(vb_event_lookup_int64(event, VB_KEY_DURATION_MS, &value));
	g_assert_cmpint(value, ==, 3000);
	g_assert_null(vb_event_lookup_string(event, VB_KEY_DURATION_MS));
	g_assert_cmpuint(vb_event_get_sequence(event), ==, 0);
	vb_bus_emit(fx->bus, event);
	g_assert_cmpuint(vb_event_get_sequence(event), ==, 1);
}

static void
reentrant_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	BusFixture *fx = user_data;
	record_cb(bus, event, user_data);
	/* an event emitted from a handler must follow the one being delivered */
	if (g_strcmp0(vb_event_get_name(event), VB_EVENT_CARD_PRESENTED) == 0)
		vb_bus_emit_simple(fx->bus, NULL, NULL, VB_EVENT_DOOR_UNLOCKED, NULL);
}

static void
test_bus_reentrant_order(BusFixture *fx, gconstpointer data)
{
	BusFixture other = *fx;
	g_signal_connect(fx->bus, "event", G_CALLBACK(reentrant_cb), fx);
	/* a second listener connected after the first must see the same order */
	other.seen = g_ptr_array_new_with_free_func(g_free);
	g_signal_connect(fx->bus, "event", G_CALLBACK(record_cb), &other);
	vb_bus_emit_simple(fx->bus, NULL, NULL, VB_EVENT_CARD_PRESENTED, NULL);
	g_assert_cmpuint(fx->seen->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(fx->seen, 0), ==, "card-presented:");
	g_assert_cmpstr(g_ptr_array_index(fx->seen, 1), ==, "door-unlocked:");
	g_assert_cmpuint(other.seen->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(other.seen, 0), ==, "card-presented:");
	g_assert_cmpstr(g_ptr_array_index(other.seen, 1), ==, "door-unlocked:");
	g_signal_handlers_disconnect_by_data(fx->bus, &other);
	g_ptr_array_unref(other.seen);
}

typedef struct {
	VbBus *bus;
	guint thread_no;
	GThread *delivered_in;
} ThreadData;

#define N_THREADS 4
#define N_PER_THREAD 500

static gpointer
emit_thread(gpointer user_data)
{
	ThreadData *td = user_data;
	for (guint i = 0; i < N_PER_THREAD; i++) {
		g_autofree gchar *n = g_strdup_printf("%u-%04u", td->thread_no, i);
		vb_bus_emit_simple(td->bus, "reader", NULL, VB_EVENT_KEYPAD_KEY,
				   g_variant_new_parsed("{'n': <%s>}", n));
	}
	return NULL;
}

typedef struct {
	GThread *main_thread;
	gboolean wrong_thread;
	guint64 last_seq;
	gboolean out_of_order;
	guint last_per_thread[N_THREADS];
	gboolean thread_order_broken;
	guint count;
} OrderCheck;

static void
order_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	OrderCheck *oc = user_data;
	const gchar *n = vb_event_lookup_string(event, "n");
	guint thread_no = (guint)(n[0] - '0');
	guint index = (guint)atoi(n + 2) + 1;

	if (g_thread_self() != oc->main_thread)
		oc->wrong_thread = TRUE;
	if (vb_event_get_sequence(event) <= oc->last_seq)
		oc->out_of_order = TRUE;
	oc->last_seq = vb_event_get_sequence(event);
	if (index != oc->last_per_thread[thread_no] + 1)
		oc->thread_order_broken = TRUE;
	oc->last_per_thread[thread_no] = index;
	oc->count++;
}

static void
test_bus_threads(BusFixture *fx, gconstpointer data)
{
	ThreadData td[N_THREADS];
	GThread *threads[N_THREADS];
	OrderCheck oc = {.main_thread = g_thread_self()};
	gint64 deadline;

	g_signal_connect(fx->bus, "event", G_CALLBACK(order_cb), &oc);
	for (guint i = 0; i < N_THREADS; i++) {
		td[i].bus = fx->bus;
		td[i].thread_no = i;
		threads[i] = g_thread_new("emitter", emit_thread, &td[i]);
	}
	for (guint i = 0; i < N_THREADS; i++)
		g_thread_join(threads[i]);
	/* nothing is delivered in a foreign thread: it waits for the main context */
	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (oc.count < N_THREADS * N_PER_THREAD && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_assert_cmpuint(oc.count, ==, N_THREADS * N_PER_THREAD);
	g_assert_false(oc.wrong_thread);
	g_assert_false(oc.out_of_order);
	g_assert_false(oc.thread_order_broken);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* operator warnings are expected here; criticals stay fatal */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_test_add("/bus/detail", BusFixture, NULL, bus_fixture_setup, test_bus_detail,
		   bus_fixture_teardown);
	g_test_add("/bus/event-fields", BusFixture, NULL, bus_fixture_setup, test_bus_event_fields,
		   bus_fixture_teardown);
	g_test_add("/bus/reentrant-order", BusFixture, NULL, bus_fixture_setup,
		   test_bus_reentrant_order, bus_fixture_teardown);
	g_test_add("/bus/threads-reach-main-context-in-order", BusFixture, NULL, bus_fixture_setup,
		   test_bus_threads, bus_fixture_teardown);
	return g_test_run();
}
