/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>
#include <sys/socket.h>

#include "vb-test-daemon.h"

/*
 * GET /v1/events?follow=1 against the real vestibuled: followers connected
 * for 100,000 events cost the daemon the same memory and CPU per event at the
 * end as at the start, and one that stops reading is dropped without slowing
 * the others.
 */

#if defined(__SANITIZE_ADDRESS__)
#define TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_UNDER_ASAN 1
#endif
#endif
#ifndef TEST_UNDER_ASAN
#define TEST_UNDER_ASAN 0
#endif

#define N_FOLLOWERS 10
#define KEYS_PER_REQUEST 64 /* the sim keypad's most */
#define WARM_UP_EVENTS 10000
#define SLICE_EVENTS 20000
#define TOTAL_EVENTS 100000

typedef struct {
	GSocketConnection *conn;
	GThread *thread;
	gint lines; /* atomic */
	gint ended; /* atomic */
} Follower;

static gpointer
follower_thread(gpointer user_data)
{
	Follower *f = user_data;
	GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(f->conn));
	g_autofree gchar *buf = g_malloc(64 * 1024);

	for (;;) {
		gssize n = g_input_stream_read(in, buf, 64 * 1024, NULL, NULL);
		if (n <= 0)
			break;
		for (gssize i = 0; i < n; i++) {
			if (buf[i] == '\n')
				g_atomic_int_inc(&f->lines);
		}
	}
	g_atomic_int_set(&f->ended, 1);
	return NULL;
}

/* a client of the event stream; one that does not @read lets its socket fill */
static Follower *
follower_new(VbTestDaemon *d, gboolean read)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(d->socket_path);
	g_autoptr(GError) error = NULL;
	const gchar *request =
	    "GET /v1/events?follow=1&limit=1 HTTP/1.1\r\nHost: localhost\r\n\r\n";
	Follower *f = g_new0(Follower, 1);

	f->conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, &error);
	g_assert_no_error(error);
	if (!read)
		g_socket_set_option(g_socket_connection_get_socket(f->conn), SOL_SOCKET, SO_RCVBUF,
				    4096, NULL);
	g_assert_true(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(f->conn)),
						request, strlen(request), NULL, NULL, &error));
	g_assert_no_error(error);
	if (read)
		f->thread = g_thread_new("follower", follower_thread, f);
	return f;
}

static void
follower_free(Follower *f)
{
	/* a close() does not wake a read() blocked in another thread; a shutdown does */
	g_socket_shutdown(g_socket_connection_get_socket(f->conn), TRUE, TRUE, NULL);
	g_io_stream_close(G_IO_STREAM(f->conn), NULL, NULL);
	if (f->thread != NULL)
		g_thread_join(f->thread);
	g_object_unref(f->conn);
	g_free(f);
}

/* the daemon's user and system CPU, in clock ticks, and its RSS in KiB */
static void
read_proc(GPid pid, gint64 *ticks, gint64 *rss_kib)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%d/stat", pid);
	g_autofree gchar *status_path = g_strdup_printf("/proc/%d/status", pid);
	g_autofree gchar *stat = NULL;
	g_autofree gchar *status = NULL;
	g_auto(GStrv) fields = NULL;
	const gchar *rss;

	g_assert_true(g_file_get_contents(path, &stat, NULL, NULL));
	/* the fields after the command, which may hold spaces */
	fields = g_strsplit(strrchr(stat, ')') + 2, " ", -1);
	*ticks = g_ascii_strtoll(fields[11], NULL, 10) + g_ascii_strtoll(fields[12], NULL, 10);
	g_assert_true(g_file_get_contents(status_path, &status, NULL, NULL));
	rss = strstr(status, "VmRSS:");
	g_assert_nonnull(rss);
	*rss_kib = g_ascii_strtoll(rss + strlen("VmRSS:"), NULL, 10);
}

/* the whole run takes about 25 s on a 2-core x86 box; a daemon whose
 * followers cost more with every event never gets there */
#define RUN_DEADLINE_S 150
static gint64 run_deadline;

/* key presses at an idle door: an event each, and nothing else happens */
static void
press_keys(VbTestDaemon *d, guint n_events)
{
	g_autoptr(GString) body = g_string_new("{\"keys\": [");

	for (guint i = 0; i < KEYS_PER_REQUEST; i++)
		g_string_append_printf(body, "%s\"%u\"", i > 0 ? ", " : "", i % 10);
	g_string_append(body, "]}");
	for (guint sent = 0; sent < n_events; sent += KEYS_PER_REQUEST) {
		g_autoptr(GError) error = NULL;
		G_GNUC_UNUSED g_autoptr(JsonNode) node =
		    vb_test_daemon_ctl(d, "POST", "/v1/sim/front-keypad/keys", body->str, &error);
		g_assert_no_error(error);
		if (g_get_monotonic_time() > run_deadline)
			g_error("the daemon took over %u s for %u events: it slows down as the "
				"stream grows",
				RUN_DEADLINE_S, TOTAL_EVENTS);
	}
}

static gint64
events_emitted(VbTestDaemon *d)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = vb_test_daemon_ctl(d, "GET", "/v1/status", NULL, &error);

	g_assert_no_error(error);
	return json_object_get_int_member(json_node_get_object(node), "events-emitted");
}

/* a metric's value from GET /metrics on the control socket */
static gdouble
metric(VbTestDaemon *d, const gchar *name)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(d->socket_path);
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GDataInputStream) in = NULL;
	const gchar *request =
	    "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
	g_autofree gchar *prefix = g_strconcat(name, " ", NULL);
	gchar *line;
	gdouble value = -1;

	conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
						request, strlen(request), NULL, NULL, &error));
	in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
	while ((line = g_data_input_stream_read_line(in, NULL, NULL, NULL)) != NULL) {
		if (g_str_has_prefix(line, prefix))
			value = g_ascii_strtod(line + strlen(prefix), NULL);
		g_free(line);
	}
	return value;
}

typedef struct {
	Follower **followers;
	gint lines;
} LinesWait;

static gboolean
lines_cb(gpointer user_data)
{
	LinesWait *wait = user_data;

	for (guint i = 0; i < N_FOLLOWERS; i++) {
		if (g_atomic_int_get(&wait->followers[i]->lines) < wait->lines)
			return FALSE;
	}
	return TRUE;
}

static void
test_followers_flat(void)
{
	g_autoptr(GError) error = NULL;
	VbTestDaemon *d = vb_test_daemon_new(NULL);
	Follower *followers[N_FOLLOWERS];
	Follower *stuck;
	GPid pid;
	gint64 ticks0, ticks1, ticks2, ticks3, rss0, rss1, rss2, rss3;
	gint64 emitted0, emitted;
	LinesWait wait = {followers, 0};
	glong tick_hz = sysconf(_SC_CLK_TCK);

	/* under AddressSanitizer, freed memory waits in a quarantine of 256 MiB
	 * before it is reused, which would read as growth; a small one still
	 * catches a use after free and lets the daemon's own memory show */
	if (TEST_UNDER_ASAN)
		g_ptr_array_add(
		    d->env, g_strdup_printf(
				"ASAN_OPTIONS=%s%squarantine_size_mb=8",
				g_getenv("ASAN_OPTIONS") != NULL ? g_getenv("ASAN_OPTIONS") : "",
				g_getenv("ASAN_OPTIONS") != NULL ? ":" : ""));
	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);
	run_deadline = g_get_monotonic_time() + RUN_DEADLINE_S * G_USEC_PER_SEC;
	pid = (GPid)g_ascii_strtoll(g_subprocess_get_identifier(d->proc), NULL, 10);
	for (guint i = 0; i < N_FOLLOWERS; i++)
		followers[i] = follower_new(d, TRUE);
	stuck = follower_new(d, FALSE);
	emitted0 = events_emitted(d);

	press_keys(d, WARM_UP_EVENTS);
	read_proc(pid, &ticks0, &rss0);
	press_keys(d, SLICE_EVENTS);
	read_proc(pid, &ticks1, &rss1);
	press_keys(d, TOTAL_EVENTS - WARM_UP_EVENTS - 2 * SLICE_EVENTS);
	read_proc(pid, &ticks2, &rss2);
	press_keys(d, SLICE_EVENTS);
	read_proc(pid, &ticks3, &rss3);
	emitted = events_emitted(d) - emitted0;
	g_test_message("%" G_GINT64_FORMAT " events; CPU of the first slice of %u: %.2f s, of the "
		       "last: %.2f s; RSS %" G_GINT64_FORMAT
		       " KiB after the warm-up, %" G_GINT64_FORMAT " KiB at the end",
		       emitted, SLICE_EVENTS, (gdouble)(ticks1 - ticks0) / tick_hz,
		       (gdouble)(ticks3 - ticks2) / tick_hz, rss0, rss3);
	g_assert_cmpint(emitted, >=, TOTAL_EVENTS);

	/* every reading follower got every event */
	wait.lines = (gint)emitted;
	if (!vb_test_poll(lines_cb, &wait, 30000))
		g_error("a follower did not get every event (%d of %d)",
			g_atomic_int_get(&followers[0]->lines), wait.lines);
	/* the last events cost what the first did, and memory stayed where it was */
	g_assert_cmpint(ticks3 - ticks2, <=, 2 * (ticks1 - ticks0) + tick_hz / 5);
	g_assert_cmpint(rss3 - rss0, <, 8 * 1024);
	/* the follower that stopped reading was let go, once */
	g_assert_cmpfloat(metric(d, "vestibule_control_followers_dropped_total"), ==, 1);
	g_assert_cmpfloat(metric(d, "vestibule_control_followers"), ==, N_FOLLOWERS);

	for (guint i = 0; i < N_FOLLOWERS; i++)
		follower_free(followers[i]);
	follower_free(stuck);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	vb_test_daemon_free(d);
}

/* a burst of 600 connections at once, as a load generator opens them
 * (non-blocking): each is taken, none refused, and each gets its answer */
#define BURST 600

static void
test_burst(void)
{
	g_autoptr(GError) error = NULL;
	VbTestDaemon *d = vb_test_daemon_new(NULL);
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func(g_object_unref);
	const gchar *request =
	    "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
	guint refused = 0;
	guint answered = 0;

	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);
	address = g_unix_socket_address_new(d->socket_path);
	for (guint i = 0; i < BURST; i++) {
		g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
							 G_SOCKET_PROTOCOL_DEFAULT, &error);
		g_assert_no_error(error);
		g_socket_set_blocking(socket, FALSE);
		if (!g_socket_connect(socket, address, NULL, &error) &&
		    !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PENDING)) {
			g_test_message("connection %u: %s", i, error->message);
			refused++;
			g_clear_error(&error);
			continue;
		}
		g_clear_error(&error);
		g_ptr_array_add(sockets, g_steal_pointer(&socket));
	}
	g_assert_cmpuint(refused, ==, 0);
	for (guint i = 0; i < sockets->len; i++) {
		GSocket *socket = g_ptr_array_index(sockets, i);
		gchar answer[64] = {0};
		g_socket_set_blocking(socket, TRUE);
		g_socket_set_timeout(socket, 10);
		g_assert_cmpint(g_socket_send(socket, request, strlen(request), NULL, &error), ==,
				(gssize)strlen(request));
		g_assert_no_error(error);
		if (g_socket_receive(socket, answer, sizeof(answer) - 1, NULL, NULL) > 0 &&
		    g_str_has_prefix(answer, "HTTP/1.1 200"))
			answered++;
	}
	g_assert_cmpuint(answered, ==, BURST);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	vb_test_daemon_free(d);
}

/* a follower reading in a thread, as `vestibulectl events --follow` does */
typedef struct {
	gchar *socket_path;
	gchar *path;
	GCancellable *cancellable;
	GThread *thread;
	GMutex mutex;
	GPtrArray *lines; /* of JsonNode, guarded by mutex */
} Stream;

static gboolean
stream_line_cb(JsonNode *line, gpointer user_data)
{
	Stream *s = user_data;

	g_mutex_lock(&s->mutex);
	g_ptr_array_add(s->lines, json_node_copy(line));
	g_mutex_unlock(&s->mutex);
	return TRUE;
}

static gpointer
stream_thread(gpointer user_data)
{
	Stream *s = user_data;
	g_autoptr(VbCtlClient) client = vb_ctl_client_new(s->socket_path);

	/* ends when the daemon does, or when cancelled */
	vb_ctl_client_stream(client, s->path, stream_line_cb, s, s->cancellable, NULL);
	return NULL;
}

static gboolean
following_cb(gpointer user_data)
{
	return metric(user_data, "vestibule_control_followers") >= 1;
}

/* returns once the daemon counts the follower: what follows comes live */
static Stream *
stream_new(VbTestDaemon *d, guint64 after)
{
	Stream *s = g_new0(Stream, 1);

	s->socket_path = g_strdup(d->socket_path);
	s->path = g_strdup_printf("/v1/events?follow=1&limit=1000&after=%" G_GUINT64_FORMAT, after);
	s->cancellable = g_cancellable_new();
	s->lines = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	g_mutex_init(&s->mutex);
	s->thread = g_thread_new("stream", stream_thread, s);
	g_assert_true(vb_test_poll(following_cb, d, 10000));
	return s;
}

static void
stream_free(Stream *s)
{
	g_cancellable_cancel(s->cancellable);
	g_thread_join(s->thread);
	g_object_unref(s->cancellable);
	g_ptr_array_unref(s->lines);
	g_mutex_clear(&s->mutex);
	g_free(s->socket_path);
	g_free(s->path);
	g_free(s);
}

typedef struct {
	Stream *stream;
	guint n;
} KeysWait;

/* key presses among @events (the digits themselves are redacted) */
static guint
count_keys(GPtrArray *events)
{
	guint n = 0;

	for (guint i = 0; i < events->len; i++) {
		JsonObject *obj = json_node_get_object(g_ptr_array_index(events, i));
		n += g_strcmp0(json_object_get_string_member(obj, "name"), "keypad-key") == 0;
	}
	return n;
}

static gboolean
keys_cb(gpointer user_data)
{
	KeysWait *wait = user_data;
	guint n;

	g_mutex_lock(&wait->stream->mutex);
	n = count_keys(wait->stream->lines);
	g_mutex_unlock(&wait->stream->mutex);
	return n >= wait->n;
}

/* a copy of what the stream got so far */
static GPtrArray *
stream_lines(Stream *s)
{
	GPtrArray *copy = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);

	g_mutex_lock(&s->mutex);
	for (guint i = 0; i < s->lines->len; i++)
		g_ptr_array_add(copy, json_node_ref(g_ptr_array_index(s->lines, i)));
	g_mutex_unlock(&s->mutex);
	return copy;
}

static void
press(VbTestDaemon *d, guint n)
{
	g_autoptr(GString) body = g_string_new("{\"keys\": [");
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;

	for (guint i = 0; i < n; i++)
		g_string_append_printf(body, "%s\"%u\"", i > 0 ? ", " : "", i % 10);
	g_string_append(body, "]}");
	node = vb_test_daemon_ctl(d, "POST", "/v1/sim/front-keypad/keys", body->str, &error);
	g_assert_no_error(error);
}

/* GET /v1/events?after=@after, oldest first */
static GPtrArray *
list_after(VbTestDaemon *d, guint64 after)
{
	g_autofree gchar *path =
	    g_strdup_printf("/v1/events?limit=1000&after=%" G_GUINT64_FORMAT, after);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = vb_test_daemon_ctl(d, "GET", path, NULL, &error);
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	JsonArray *events;

	g_assert_no_error(error);
	events = json_object_get_array_member(json_node_get_object(node), "events");
	for (guint i = 0; i < json_array_get_length(events); i++)
		g_ptr_array_add(out, json_node_copy(json_array_get_element(events, i)));
	return out;
}

static guint64
event_seq(GPtrArray *events, guint i)
{
	return (guint64)json_object_get_int_member(
	    json_node_get_object(g_ptr_array_index(events, i)), "seq");
}

/* @live, as followed, and @logged, as listed afterwards, name the same
 * events by the same numbers, up to the last one both have */
static void
assert_same_events(GPtrArray *live, GPtrArray *logged)
{
	guint64 last;
	guint n_live = 0, n_logged = 0;

	g_assert_cmpuint(live->len, >, 0);
	g_assert_cmpuint(logged->len, >, 0);
	last = MIN(event_seq(live, live->len - 1), event_seq(logged, logged->len - 1));
	while (n_live < live->len && event_seq(live, n_live) <= last)
		n_live++;
	while (n_logged < logged->len && event_seq(logged, n_logged) <= last)
		n_logged++;
	g_assert_cmpuint(n_live, ==, n_logged);
	for (guint i = 0; i < n_live; i++) {
		JsonObject *a = json_node_get_object(g_ptr_array_index(live, i));
		JsonObject *b = json_node_get_object(g_ptr_array_index(logged, i));
		g_autofree gchar *pa = json_to_string(json_object_get_member(a, "payload"), FALSE);
		g_autofree gchar *pb = json_to_string(json_object_get_member(b, "payload"), FALSE);

		g_assert_cmpint(json_object_get_int_member(a, "seq"), ==,
				json_object_get_int_member(b, "seq"));
		g_assert_cmpstr(json_object_get_string_member(a, "name"), ==,
				json_object_get_string_member(b, "name"));
		g_assert_cmpstr(pa, ==, pb);
	}
}

/* an event's seq names it across a restart, a clean one or a kill -9 right
 * after events were followed (before the audit log wrote them): a follower
 * resuming with after= the last seq it read gets exactly the events that came
 * after, live and from the log under the same numbers */
static void
test_seq_across_restart(gconstpointer user_data)
{
	gboolean kill = GPOINTER_TO_INT(user_data);
	g_autoptr(VbTestDaemon) d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) seen = NULL;
	g_autoptr(GPtrArray) live = NULL;
	g_autoptr(GPtrArray) logged = NULL;
	g_autoptr(GPtrArray) resumed = NULL;
	Stream *stream;
	KeysWait wait;
	guint64 last = 0;

	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);
	/* a first run, followed live, so that the second one starts on a used store */
	press(d, 5);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);

	/* the first run's from the log, then the second's live */
	stream = stream_new(d, 0);
	press(d, 10);
	wait = (KeysWait){stream, 15};
	g_assert_true(vb_test_poll(keys_cb, &wait, 10000));
	seen = stream_lines(stream);
	if (kill)
		vb_test_daemon_kill(d);
	else
		g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	stream_free(stream);
	for (guint i = 0; i < seen->len; i++) {
		g_assert_cmpuint(event_seq(seen, i), >, last);
		last = event_seq(seen, i);
	}

	g_assert_true(vb_test_daemon_start(d, &error));
	g_assert_no_error(error);
	{
		g_autoptr(GPtrArray) all = list_after(d, 0);
		g_test_message("%u of the %u key presses followed before the %s are in the log",
			       count_keys(all), count_keys(seen), kill ? "kill" : "stop");
	}
	/* the old run's events that were followed do not come again */
	resumed = list_after(d, last);
	g_assert_cmpuint(count_keys(resumed), ==, 0);

	stream = stream_new(d, last);
	press(d, 10);
	wait = (KeysWait){stream, 10};
	g_assert_true(vb_test_poll(keys_cb, &wait, 10000));
	live = stream_lines(stream);
	logged = list_after(d, last);
	stream_free(stream);
	/* every new event is numbered past the old ones, in order */
	for (guint i = 0; i < live->len; i++) {
		g_assert_cmpuint(event_seq(live, i), >, last);
		last = event_seq(live, i);
	}
	g_assert_cmpuint(count_keys(live), ==, 10);
	g_assert_cmpuint(count_keys(logged), ==, 10);
	/* the live stream and the log agree, event for event */
	assert_same_events(live, logged);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/control/events/followers-flat", test_followers_flat);
	g_test_add_func("/control/burst", test_burst);
	g_test_add_data_func("/control/events/seq-after-restart", GINT_TO_POINTER(FALSE),
			     test_seq_across_restart);
	g_test_add_data_func("/control/events/seq-after-kill", GINT_TO_POINTER(TRUE),
			     test_seq_across_restart);
	return g_test_run();
}
