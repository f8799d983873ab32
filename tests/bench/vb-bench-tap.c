/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <fcntl.h>
#ifdef HAVE_MALLINFO2
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vb-daemon-private.h"
#include "vb-door-lock.h"
#include "vb-events.h"
#include "vb-i18n-private.h"
#include "vb-log-private.h"
#include "vb-plugin-loader-private.h"
#include "../vb-test-inprocess.h"
#include "../vb-test-syncs.h"

/*
 * Tap-to-unlock latency for a known card, through the simulated store, in the
 * daemon's own process: from the reader handing its read to the core
 * (vb_card_reader_present(), what the nfc plugin calls from its poll thread)
 * to the lock reporting door-unlocked on the bus. In between: tokenizing, the
 * card and visit rows, the hold through sim-payment, and the unlock. Each tap
 * is followed by the door opening and closing, so the next one starts a new
 * visit, as at a real door.
 *
 * The warm-up is 500 taps and at least 125 s: the daemon's once-a-minute
 * work (capture deadlines, owed notices) has then run three times. A
 * statement is cached from its second use, a minute in; the third run, two
 * minutes in, is the first as it will run from then on, and the heap takes
 * its final shape around it. The RSS after the warm-up is then the steady
 * state's, as in a daemon that has run a while.
 *
 * The process is set up as vestibuled's main() sets it up (the charset and
 * the messages' language from the environment, the log writer that
 * redacts), so that the RSS is the daemon's: the locale's character tables
 * alone are 80 to 130 KiB of it.
 *
 *   vb-bench-tap [--taps N] [--warmup N] [--warmup-s S] [--no-cancel-by-reference]
 */

#define TEST_PAN "4000056655665556"
#define BENCH_CONFIG                                                                               \
	"[visit]\nverify-phone=false\n" /* a notice per visit, a visit a millisecond */            \
	"[sms]\nrate-per-minute=0\n" VB_TEST_INPROCESS_SIM_STORE

typedef struct {
	GMainLoop *loop;
	gint64 tap_at;
	gint64 unlocked_at;
	guint syncs_at_unlock; /* the store's log syncs when the door opened */
	const gchar *waiting_for;
	gboolean seen;
} Bench;

static void
bench_event_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	Bench *b = user_data;
	if (b->waiting_for != NULL && g_strcmp0(vb_event_get_name(event), b->waiting_for) == 0) {
		if (g_strcmp0(b->waiting_for, VB_EVENT_DOOR_UNLOCKED) == 0) {
			b->unlocked_at = g_get_monotonic_time();
			b->syncs_at_unlock = vb_test_syncs_wal();
		}
		b->seen = TRUE;
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
	guint id;
	if (b->seen)
		return;
	id = g_timeout_add_seconds(10, bench_timeout_cb, NULL);
	b->waiting_for = event_name;
	g_main_loop_run(b->loop);
	g_source_remove(id);
}

static void
bench_expect(Bench *b, const gchar *event_name)
{
	b->waiting_for = event_name;
	b->seen = FALSE;
}

static void
bench_door_cycle(Bench *b, VbPlugin *lock)
{
	/* the shopper walks in and out; the visit then awaits its order, and
	 * its notice SMS goes out before the next shopper taps, as it does at a
	 * real door, where shoppers are seconds apart, not microseconds */
	bench_expect(b, VB_EVENT_SMS_STATUS);
	vb_plugin_emit(lock, VB_EVENT_DOOR_OPENED, NULL);
	vb_plugin_emit(lock, VB_EVENT_DOOR_CLOSED, NULL);
	bench_wait(b, VB_EVENT_SMS_STATUS);
	while (g_main_context_iteration(NULL, FALSE))
		;
}

/* one shopper: the tap, the unlock, the door cycle; returns the syncs of the
 * store's log between the read and the unlock */
static guint
bench_tap(Bench *b, VbDaemon *daemon, VbPlugin *lock)
{
	guint syncs_at_tap;

	bench_expect(b, VB_EVENT_DOOR_UNLOCKED);
	syncs_at_tap = vb_test_syncs_wal();
	b->tap_at = g_get_monotonic_time();
	vb_test_inprocess_tap(daemon, "front-reader", TEST_PAN);
	bench_wait(b, VB_EVENT_DOOR_UNLOCKED);
	bench_door_cycle(b, lock);
	return b->syncs_at_unlock - syncs_at_tap;
}

static gboolean
bench_settled_cb(gpointer user_data)
{
	g_main_loop_quit(user_data);
	return G_SOURCE_REMOVE;
}

/* the daemon at rest, as between two shoppers: its audit buffer written (at
 * most 200 ms after an event) and its outbox idle, so that the RSS read after
 * the warm-up and after the taps are read in the same state */
static void
bench_settle(Bench *b)
{
	g_timeout_add(300, bench_settled_cb, b->loop);
	g_main_loop_run(b->loop);
}

/* a field of a file of /proc/self, in KiB */
static glong
bench_proc_kib(const gchar *path, const gchar *field)
{
	/* read into the stack, not the heap: the reading must not move the
	 * memory it measures */
	gchar text[8192];
	gsize len = 0;
	gssize n;
	const gchar *line;
	gint fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (len < sizeof(text) - 1 && (n = read(fd, text + len, sizeof(text) - 1 - len)) > 0)
		len += (gsize)n;
	close(fd);
	text[len] = '\0';
	line = strstr(text, field);
	return line != NULL ? atol(line + strlen(field)) : -1;
}

static glong
bench_status_kib(const gchar *field)
{
	return bench_proc_kib("/proc/self/status", field);
}

static glong
bench_rss_kib(void)
{
	return bench_status_kib("VmRSS:");
}

/* what the memory is, at one moment */
typedef struct {
	glong rss;
	glong anon;
	glong file;
	glong pss;    /* shared pages count for a share of them, or -1 */
	glong arena;  /* malloc's heap, what it holds from the system, or -1 */
	glong in_use; /* of which allocated */
	/* where the anonymous pages are, from /proc/self/smaps, or -1 */
	glong heap;	  /* malloc's main heap */
	glong stack;	  /* the main thread's stack */
	glong libraries;  /* the pages written in the libraries' mappings */
	glong other_anon; /* the rest: threads' stacks, large allocations */
} BenchMemory;

typedef enum {
	BENCH_MAPPING_HEAP,
	BENCH_MAPPING_STACK,
	BENCH_MAPPING_FILE,
	BENCH_MAPPING_ANONYMOUS,
	BENCH_MAPPING_OTHER,
} BenchMapping;

/* what follows @line's lowercase hexadecimal digits and @end, or NULL */
static const gchar *
bench_skip_hex(const gchar *line, gchar end)
{
	const gchar *c = line;
	while (g_ascii_isdigit(*c) || (*c >= 'a' && *c <= 'f'))
		c++;
	return c > line && *c == end ? c + 1 : NULL;
}

/* a line of /proc/self/smaps: a mapping's header ("start-end perms offset
 * dev inode name"), or one of its fields ("Rss:  12 kB") */
static void
bench_smaps_line(BenchMemory *m, const gchar *line, BenchMapping *kind)
{
	const gchar *rest = bench_skip_hex(line, '-');

	if (rest != NULL && bench_skip_hex(rest, ' ') != NULL) {
		guint fields = 0;
		const gchar *name = NULL;

		for (const gchar *c = line; *c != '\0'; c++) {
			if (*c != ' ' && (c == line || c[-1] == ' ') && ++fields == 6)
				name = c;
		}
		if (name == NULL)
			*kind = BENCH_MAPPING_ANONYMOUS;
		else if (g_strcmp0(name, "[heap]") == 0)
			*kind = BENCH_MAPPING_HEAP;
		else if (g_strcmp0(name, "[stack]") == 0)
			*kind = BENCH_MAPPING_STACK;
		else if (name[0] == '/')
			*kind = BENCH_MAPPING_FILE;
		else
			*kind = BENCH_MAPPING_OTHER; /* [vdso] and the like */
		return;
	}
	if (g_str_has_prefix(line, "Rss:")) {
		glong kib = atol(line + strlen("Rss:"));
		if (*kind == BENCH_MAPPING_HEAP)
			m->heap += kib;
		else if (*kind == BENCH_MAPPING_STACK)
			m->stack += kib;
		else if (*kind == BENCH_MAPPING_ANONYMOUS)
			m->other_anon += kib;
	} else if (g_str_has_prefix(line, "Anonymous:") && *kind == BENCH_MAPPING_FILE) {
		m->libraries += atol(line + strlen("Anonymous:"));
	}
}

/* read without allocating: the reading must not move the heap it measures */
static void
bench_smaps_read(BenchMemory *m)
{
	gchar buf[4096];
	gchar line[512];
	gsize line_len = 0;
	BenchMapping kind = BENCH_MAPPING_OTHER;
	gssize n;
	gint fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);

	m->heap = m->stack = m->libraries = m->other_anon = 0;
	if (fd < 0) {
		m->heap = m->stack = m->libraries = m->other_anon = -1;
		return;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (gssize i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (line_len < sizeof(line) - 1)
					line[line_len++] = buf[i];
				continue;
			}
			line[line_len] = '\0';
			bench_smaps_line(m, line, &kind);
			line_len = 0;
		}
	}
	close(fd);
}

static void
bench_memory_read(BenchMemory *m)
{
	bench_smaps_read(m);
	m->rss = bench_rss_kib();
	m->anon = bench_status_kib("RssAnon:");
	m->file = bench_status_kib("RssFile:");
	m->pss = bench_proc_kib("/proc/self/smaps_rollup", "\nPss:");
#ifdef HAVE_MALLINFO2
	{
		struct mallinfo2 info = mallinfo2();
		m->arena = (glong)((info.arena + info.hblkhd) / 1024);
		m->in_use = (glong)((info.uordblks + info.hblkhd) / 1024);
	}
#else
	m->arena = m->in_use = -1;
#endif
}

/* the latencies, in a histogram of 5 µs buckets up to 20 ms rather than a
 * list of samples, so that what the bench keeps of them is small, fixed and
 * allocated before the taps: the RSS measured is the daemon's */
#define BENCH_HIST_US 20000
#define BENCH_HIST_STEP_US 5
/* the RSS is also read between two taps, every so many */
#define BENCH_SAMPLE_EVERY 1000

typedef struct {
	guint32 buckets[BENCH_HIST_US / BENCH_HIST_STEP_US];
	guint64 count;
	gint64 max_us;
	gdouble sum_us;
} BenchHistogram;

static void
bench_hist_add(BenchHistogram *h, gint64 us)
{
	h->buckets[CLAMP(us, 0, BENCH_HIST_US - 1) / BENCH_HIST_STEP_US]++;
	h->count++;
	h->max_us = MAX(h->max_us, us);
	h->sum_us += (gdouble)us;
}

/* the latency that @permille of the taps do not exceed, to the bucket's
 * upper end */
static gint64
bench_hist_quantile(const BenchHistogram *h, guint permille)
{
	guint64 rank = (h->count * permille + 999) / 1000;
	guint64 seen = 0;
	for (guint i = 0; i < G_N_ELEMENTS(h->buckets); i++) {
		seen += h->buckets[i];
		if (seen >= MAX(rank, 1))
			return MIN((gint64)(i + 1) * BENCH_HIST_STEP_US, h->max_us);
	}
	return h->max_us;
}

int
main(int argc, char **argv)
{
	g_autofree gchar *dir = NULL;
	VbDaemon *daemon;
	/* 16 KiB, made resident below before anything is measured: a page of it
	 * first touched by a slow tap would read as the daemon's growth */
	static BenchHistogram hist_static;
	BenchHistogram *hist = &hist_static;
	Bench b = {0};
	VbPluginLoader *loader;
	VbPlugin *lock;
	const gchar *phone = "0611223344";
	guint taps = 10000, warmup = 500, warmup_s = 125, warmed;
	gint64 warm_until;
	gboolean by_reference = TRUE;
	BenchMemory warm, end;
	glong rss_min = G_MAXLONG, rss_max = 0, rss_last;
	guint rss_moved_at = 0; /* the last tap after which the RSS read had changed */
	gint64 p99;
	guint64 tap_syncs = 0, slow_taps = 0, slow_with_sync = 0;

	for (gint i = 1; i < argc; i++) {
		if (g_strcmp0(argv[i], "--taps") == 0 && i + 1 < argc)
			taps = (guint)atoi(argv[++i]);
		else if (g_strcmp0(argv[i], "--warmup") == 0 && i + 1 < argc)
			warmup = (guint)atoi(argv[++i]);
		else if (g_strcmp0(argv[i], "--warmup-s") == 0 && i + 1 < argc)
			warmup_s = (guint)atoi(argv[++i]);
		/* a processor that cannot cancel by reference: the tap syncs */
		else if (g_strcmp0(argv[i], "--no-cancel-by-reference") == 0)
			by_reference = FALSE;
	}

	/* zeroes written, not only read: each page gets its own frame now */
	memset(hist, 0, sizeof(*hist));
	vb_i18n_setup_process(VB_I18N_PROCESS_DAEMON);
	vb_log_setup(FALSE);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	daemon = vb_test_inprocess_start(
	    by_reference ? BENCH_CONFIG : BENCH_CONFIG "cancel-by-reference=false\n", &dir);
	b.loop = g_main_loop_new(NULL, FALSE);
	g_signal_connect(vb_context_get_bus(vb_daemon_get_context(daemon)), "event",
			 G_CALLBACK(bench_event_cb), &b);
	loader = vb_daemon_get_loader(daemon);
	lock = vb_plugin_loader_get_instance(loader, "front-lock");

	/* the first visit of the card gives its phone: the card is known after */
	bench_expect(&b, VB_EVENT_DOOR_UNLOCKED);
	vb_test_inprocess_tap(daemon, "front-reader", TEST_PAN);
	vb_test_inprocess_type(daemon, "front-keypad", phone);
	bench_wait(&b, VB_EVENT_DOOR_UNLOCKED);
	bench_door_cycle(&b, lock);
	warm_until = g_get_monotonic_time() + (gint64)warmup_s * G_USEC_PER_SEC;

	for (warmed = 0; warmed < warmup || g_get_monotonic_time() < warm_until; warmed++)
		bench_tap(&b, daemon, lock);
	bench_settle(&b);
	bench_memory_read(&warm);
	rss_last = warm.rss;

	for (guint i = 0; i < taps; i++) {
		gint64 us;
		guint syncs = bench_tap(&b, daemon, lock);

		us = b.unlocked_at - b.tap_at;
		bench_hist_add(hist, us);
		tap_syncs += syncs;
		slow_taps += us > 1000;
		slow_with_sync += us > 1000 && syncs > 0;
		/* between two taps, outside the time measured */
		if ((i + 1) % BENCH_SAMPLE_EVERY == 0) {
			glong rss = bench_rss_kib();
			rss_min = MIN(rss_min, rss);
			rss_max = MAX(rss_max, rss);
			if (rss != rss_last)
				rss_moved_at = i + 1;
			rss_last = rss;
		}
	}
	bench_settle(&b);
	bench_memory_read(&end);
	p99 = bench_hist_quantile(hist, 990);

	g_print(
	    "tap-to-unlock, known card, simulated store%s, %u taps after %u of warm-up (%u s):\n",
	    by_reference ? "" : " (a processor that cannot cancel by reference)", taps, warmed,
	    warmup_s);
	g_print("  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  mean %.3f "
		"ms\n",
		bench_hist_quantile(hist, 500) / 1000.0, bench_hist_quantile(hist, 900) / 1000.0,
		p99 / 1000.0, bench_hist_quantile(hist, 999) / 1000.0, hist->max_us / 1000.0,
		hist->sum_us / (gdouble)hist->count / 1000.0);
	/* what a tap waits for on the disk: syncs of the store's log between the
	 * read and the door opening */
	g_print("  syncs of the store's log before the door opened: %" G_GUINT64_FORMAT
		" in %u taps; taps over 1 ms: %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
		" of them with a sync\n",
		tap_syncs, taps, slow_taps, slow_with_sync);
	g_print("  RSS after warm-up %ld KiB, after the taps %ld KiB (%+ld KiB)\n", warm.rss,
		end.rss, end.rss - warm.rss);
	if (taps >= BENCH_SAMPLE_EVERY && rss_moved_at == 0)
		g_print("  RSS read every %d taps during them: %ld KiB each time\n",
			BENCH_SAMPLE_EVERY, rss_min);
	else if (taps >= BENCH_SAMPLE_EVERY)
		g_print("  RSS read every %d taps during them: %ld to %ld KiB, the last change "
			"after tap %u\n",
			BENCH_SAMPLE_EVERY, rss_min, rss_max, rss_moved_at);
	/* file pages are the shared libraries' code, shared with every process
	 * that maps them; anonymous pages are the process's own, the pages the
	 * dynamic linker wrote in each library included */
	g_print("  of which anonymous (heap, stacks, libraries' written pages) %ld KiB (%+ld), "
		"file-backed %ld KiB (%+ld)\n",
		end.anon, end.anon - warm.anon, end.file, end.file - warm.file);
	/* where anonymous pages appeared: malloc touching free space of its heap
	 * for the first time, a call deeper than any before, or a library */
	if (end.heap >= 0 && warm.heap >= 0)
		g_print("  anonymous growth by place: heap %+ld, main stack %+ld, libraries' "
			"written pages %+ld, other %+ld KiB\n",
			end.heap - warm.heap, end.stack - warm.stack,
			end.libraries - warm.libraries, end.other_anon - warm.other_anon);
	/* each page shared with other processes counts for its share: the
	 * libraries' pages weigh less on a box whose other services use them */
	if (end.pss >= 0)
		g_print("  PSS after the taps %ld KiB, with this machine's other processes\n",
			end.pss);
	/* what malloc holds from the system, whether touched or not, and what of
	 * it is allocated: a leak grows the second, then the first */
	if (end.arena >= 0)
		g_print("  malloc's heap %ld KiB (%+ld), of which in use %ld KiB (%+ld)\n",
			end.arena, end.arena - warm.arena, end.in_use, end.in_use - warm.in_use);
	g_print("  target p99 < 2 ms: %s; RSS < 10 MiB: %s; no RSS growth after the warm-up: %s\n",
		p99 < 2000 ? "PASS" : "MISS", MAX(end.rss, rss_max) < 10 * 1024 ? "PASS" : "MISS",
		MAX(end.rss, rss_max) <= warm.rss ? "PASS" : "MISS");

	vb_test_inprocess_stop(daemon, dir);
	g_main_loop_unref(b.loop);
	return 0;
}
