/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vb-door-test.h"

/*
 * The gpio plugin, end to end: vestibuled loads the real vb-gpio.so, whose
 * libgpiod is the fake built beside this test (same soname, found first
 * through LD_LIBRARY_PATH). The test plays the wiring: it sets the levels of
 * the door contact and the exit button through the fake's control socket, and
 * reads what the lock output did, with times, from the fake's log, as a
 * logic analyser on the relay's input would show it.
 */

#define CHIP "gpiochip0"
#define LOCK 0
#define CONTACT 1
#define EXIT 2

/* a Luhn-valid number that appears nowhere else */
#define PAN "4970107301234564"
#define PHONE_TYPED "0639981234"
#define PHONE "+33639981234"

/* how late a timer may fire on a loaded test machine, under ASan */
#define SLACK_MS 300

typedef struct {
	gint64 t_us;
	gchar *op;
	gint level;
} GpioEntry;

static void
gpio_entry_free(gpointer data)
{
	GpioEntry *e = data;
	g_free(e->op);
	g_free(e);
}

static gchar *
gpio_dir(VbTestDaemon *d)
{
	return g_build_filename(d->dir, "gpio", NULL);
}

/* the chip as the kernel would have it: three lines named, their input levels */
static void
gpio_write_chips(VbTestDaemon *d, gint contact, gint exit_button)
{
	g_autofree gchar *dir = gpio_dir(d);
	g_autofree gchar *path = g_build_filename(dir, "chips.ini", NULL);
	g_autofree gchar *ini = g_strdup_printf("[" CHIP "]\n"
						"label=pinctrl-fake\n"
						"lines=8\n"
						"names=DOOR_LOCK;DOOR_CONTACT;EXIT_BUTTON;;;;;\n"
						"values=0;%d;%d;0;0;0;0;0\n",
						contact, exit_button);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(path, ini, -1, NULL));
}

/* @instance: the keys of [instance:door-io] after plugin=gpio, the lock of door front */
static VbTestDaemon *
door_start(const gchar *instance, const gchar *extra, gint contact, gint exit_button)
{
	VbTestDaemon *d = vb_test_daemon_new(NULL);
	g_autofree gchar *dir = gpio_dir(d);
	g_autofree gchar *drop_in = NULL;
	const gchar *old_path = g_getenv("LD_LIBRARY_PATH");
	g_autoptr(GError) error = NULL;

	gpio_write_chips(d, contact, exit_button);
	g_ptr_array_add(d->env, g_strdup_printf("VB_FAKE_GPIOD_DIR=%s", dir));
	g_ptr_array_add(d->env, g_strdup_printf("LD_LIBRARY_PATH=%s%s%s", FAKE_GPIOD_DIR,
						old_path != NULL ? ":" : "",
						old_path != NULL ? old_path : ""));
	drop_in = g_strdup_printf("[door:front]\n"
				  "lock=door-io\n"
				  "[instance:door-io]\n"
				  "plugin=gpio\n"
				  "%s"
				  "%s",
				  instance != NULL ? instance
						   : "chip=gpiochip0\nlock-line=0\ncontact-line=1\n"
						     "exit-line=2\n",
				  extra != NULL ? extra : "");
	vb_test_daemon_write_drop_in(d, "50-door.conf", drop_in);
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start: %s", error->message);
	return d;
}

static void
door_restart(VbTestDaemon *d)
{
	g_autoptr(GError) error = NULL;

	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start again: %s", error->message);
}

/* the wiring: drives an input line to @level (physical), as a contact or a button does */
static void
gpio_set(VbTestDaemon *d, guint offset, gint level)
{
	g_autofree gchar *dir = gpio_dir(d);
	g_autofree gchar *path = g_build_filename(dir, "control.sock", NULL);
	g_autofree gchar *cmd = g_strdup_printf("set " CHIP " %u %d\n", offset, level);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	gchar reply[64] = {0};
	gsize got = 0;
	gint fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
	strcpy(addr.sun_path, path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		g_error("cannot reach the fake libgpiod at %s: %s", path, g_strerror(errno));
	g_assert_cmpint(write(fd, cmd, strlen(cmd)), ==, (gssize)strlen(cmd));
	while (got < sizeof(reply) - 1 && strchr(reply, '\n') == NULL) {
		gssize n = read(fd, reply + got, sizeof(reply) - 1 - got);
		g_assert_cmpint(n, >, 0);
		got += (gsize)n;
	}
	close(fd);
	g_assert_cmpstr(reply, ==, "ok\n");
}

/* a bounce train: the levels one after the other, @gap_us apart */
static void
gpio_train(VbTestDaemon *d, guint offset, const gint *levels, guint n, gulong gap_us)
{
	for (guint i = 0; i < n; i++) {
		if (i > 0)
			g_usleep(gap_us);
		gpio_set(d, offset, levels[i]);
	}
}

/* what the lock output did, oldest first */
static GPtrArray *
gpio_log(VbTestDaemon *d, guint offset)
{
	g_autofree gchar *dir = gpio_dir(d);
	g_autofree gchar *path = g_build_filename(dir, "gpio.log", NULL);
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	GPtrArray *out = g_ptr_array_new_with_free_func(gpio_entry_free);

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return out;
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) w = g_strsplit(lines[i], " ", -1);
		GpioEntry *e;
		if (g_strv_length(w) != 5 || g_strcmp0(w[1], CHIP) != 0 ||
		    g_ascii_strtoull(w[2], NULL, 10) != offset)
			continue;
		e = g_new0(GpioEntry, 1);
		e->t_us = g_ascii_strtoll(w[0], NULL, 10);
		e->op = g_strdup(w[3]);
		e->level = (gint)g_ascii_strtoll(w[4], NULL, 10);
		g_ptr_array_add(out, e);
	}
	return out;
}

static GpioEntry *
entry_at(GPtrArray *log, guint i)
{
	g_assert_cmpuint(i, <, log->len);
	return g_ptr_array_index(log, i);
}

static void
assert_entry(GPtrArray *log, guint i, const gchar *op, gint level)
{
	GpioEntry *e = entry_at(log, i);
	g_assert_cmpstr(e->op, ==, op);
	g_assert_cmpint(e->level, ==, level);
}

typedef struct {
	VbTestDaemon *d;
	guint offset;
	guint n;
} LogWait;

static gboolean
log_has_n(gpointer user_data)
{
	LogWait *w = user_data;
	g_autoptr(GPtrArray) log = gpio_log(w->d, w->offset);
	return log->len >= w->n;
}

/* waits until the lock line has @n entries in the log; returns them */
static GPtrArray *
wait_log(VbTestDaemon *d, guint offset, guint n)
{
	LogWait w = {d, offset, n};
	if (!vb_test_poll(log_has_n, &w, DOOR_WAIT_MS)) {
		g_autoptr(GPtrArray) log = gpio_log(d, offset);
		g_error("waited for %u log entries of line %u; there are %u", n, offset, log->len);
	}
	return gpio_log(d, offset);
}

static gint64
ms_between(GPtrArray *log, guint from, guint to)
{
	return (entry_at(log, to)->t_us - entry_at(log, from)->t_us) / 1000;
}

static const gchar *
status_str(JsonObject *status, const gchar *key)
{
	return json_object_get_string_member_with_default(status, key, NULL);
}

static gchar *
alarms_active(VbTestDaemon *d)
{
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *status = door_status(d, &keep, "door-io");
	JsonArray *active = json_object_get_array_member(status, "alarms-active");
	g_autoptr(GString) out = g_string_new(NULL);

	for (guint i = 0; i < json_array_get_length(active); i++)
		g_string_append_printf(out, "%s%s", i > 0 ? "," : "",
				       json_array_get_string_element(active, i));
	return g_string_free(g_steal_pointer(&out), FALSE);
}

typedef struct {
	VbTestDaemon *d;
	const gchar *door;
	gboolean locked;
} StatusWait;

static gboolean
status_is(gpointer user_data)
{
	StatusWait *w = user_data;
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *status = door_status(w->d, &keep, "door-io");

	return g_strcmp0(status_str(status, "door"), w->door) == 0 &&
	       json_object_get_boolean_member(status, "locked") == w->locked;
}

static void
wait_status(VbTestDaemon *d, const gchar *door, gboolean locked)
{
	StatusWait w = {d, door, locked};
	if (!vb_test_poll(status_is, &w, DOOR_WAIT_MS))
		g_error("waited for door %s, %s", door, locked ? "locked" : "unlocked");
}

/* presses the exit button (wired to ground: pressed is low) and lets go */
static void
press_exit(VbTestDaemon *d)
{
	g_autoptr(GPtrArray) before = door_events(d, "exit-requested", "door-io");
	g_autoptr(GPtrArray) after = NULL;

	gpio_set(d, EXIT, 0);
	after = door_wait_events(d, "exit-requested", "door-io", before->len + 1);
	gpio_set(d, EXIT, 1);
}

typedef struct {
	VbTestDaemon *d;
	const gchar *value;
} StrWait;

static gboolean
prompt_is(gpointer user_data)
{
	StrWait *w = user_data;
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *obj = door_ctl(w->d, &keep, "GET", "/v1/sim/front-display/screen", NULL);

	return g_strcmp0(json_object_get_string_member_with_default(obj, "prompt-id", NULL),
			 w->value) == 0;
}

static void
wait_prompt(VbTestDaemon *d, const gchar *prompt_id)
{
	StrWait w = {d, prompt_id};
	if (!vb_test_poll(prompt_is, &w, DOOR_WAIT_MS))
		g_error("waited for the screen to show %s", prompt_id);
}

static gboolean
visit_is(gpointer user_data)
{
	StrWait *w = user_data;
	g_autoptr(JsonNode) keep = NULL;
	JsonArray *list = json_object_get_array_member(
	    door_ctl(w->d, &keep, "GET", "/v1/visits?limit=1", NULL), "visits");

	return json_array_get_length(list) == 1 &&
	       g_strcmp0(
		   json_object_get_string_member(json_array_get_object_element(list, 0), "state"),
		   w->value) == 0;
}

static void
wait_visit_state(VbTestDaemon *d, const gchar *state)
{
	StrWait w = {d, state};
	if (!vb_test_poll(visit_is, &w, DOOR_WAIT_MS))
		g_error("waited for the visit to be %s", state);
}

/* GET /v1/visits/ID, as `vestibulectl visits show ID` reads it */
static gchar *
visit_state(VbTestDaemon *d, const gchar *id)
{
	g_autoptr(JsonNode) keep = NULL;
	g_autofree gchar *path = g_strdup_printf("/v1/visits/%s", id);

	return g_strdup(
	    json_object_get_string_member(door_ctl(d, &keep, "GET", path, NULL), "state"));
}

typedef struct {
	VbTestDaemon *d;
	const gchar *id;
	const gchar *state;
} VisitWait;

static gboolean
visit_id_is(gpointer user_data)
{
	VisitWait *w = user_data;
	g_autofree gchar *state = visit_state(w->d, w->id);

	return g_strcmp0(state, w->state) == 0;
}

static void
wait_visit_id_state(VbTestDaemon *d, const gchar *id, const gchar *state)
{
	VisitWait w = {d, id, state};
	if (!vb_test_poll(visit_id_is, &w, DOOR_WAIT_MS)) {
		g_autofree gchar *now = visit_state(d, id);
		g_error("waited for visit %s to be %s; it is %s", id, state, now);
	}
}

/* the lines of the SMS file (the handsets) that carry @key; all of them if NULL */
static guint
sms_count(VbTestDaemon *d, const gchar *key)
{
	g_autoptr(GPtrArray) lines = vb_test_daemon_sms(d);
	guint n = 0;

	for (guint i = 0; i < lines->len; i++) {
		JsonObject *obj = json_node_get_object(g_ptr_array_index(lines, i));
		if (key == NULL || g_strcmp0(json_object_get_string_member_with_default(
						 obj, "idempotency-key", NULL),
					     key) == 0)
			n++;
	}
	return n;
}

typedef struct {
	VbTestDaemon *d;
	const gchar *key;
} SmsWait;

static gboolean
sms_arrived(gpointer user_data)
{
	SmsWait *w = user_data;
	return sms_count(w->d, w->key) > 0;
}

static gboolean
outbox_idle(gpointer user_data)
{
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *counts = door_ctl(user_data, &keep, "GET", "/v1/outbox/counts", NULL);

	return json_object_get_int_member(counts, "pending") == 0 &&
	       json_object_get_int_member(counts, "sending") == 0;
}

/* waits until the notice of @id reached the handset and the outbox has
 * nothing left to send; returns how many lines carry it */
static guint
wait_notice(VbTestDaemon *d, const gchar *id)
{
	g_autofree gchar *key = g_strdup_printf("%s:notice", id);
	SmsWait w = {d, key};
	g_autoptr(GPtrArray) lines = NULL;
	JsonObject *obj;
	g_autofree gchar *hash = vb_test_phone_hash(PHONE);

	if (!vb_test_poll(sms_arrived, &w, DOOR_WAIT_MS))
		g_error("waited for the notice of visit %s on the handset", id);
	if (!vb_test_poll(outbox_idle, d, DOOR_WAIT_MS))
		g_error("the outbox still has work after %u ms", (guint)DOOR_WAIT_MS);
	lines = vb_test_daemon_sms(d);
	obj = json_node_get_object(g_ptr_array_index(lines, 0));
	g_assert_cmpstr(json_object_get_string_member(obj, "to-hash"), ==, hash);
	door_assert_contains(json_object_get_string_member(obj, "body"),
			     "a purchase was made with your card");
	return sms_count(d, key);
}

/* a card, a phone number, the hold; the door unlocks and the shopper goes in:
 * returns the visit, open */
static gchar *
visit_go_in(VbTestDaemon *d)
{
	g_autoptr(JsonNode) keep = NULL;
	g_autoptr(GPtrArray) log = NULL;
	g_autoptr(GPtrArray) opened = NULL;
	JsonObject *obj;
	JsonArray *list;
	gchar *id;

	obj = door_ctl(d, &keep, "POST", "/v1/sim/front-reader/tap", "{\"pan\": \"" PAN "\"}");
	g_assert_cmpstr(json_object_get_string_member(obj, "status"), ==, "presented");
	wait_prompt(d, "enter-phone");
	door_ctl(d, &keep, "POST", "/v1/sim/front-keypad/keys",
		 "{\"keys\": [\"0\", \"6\", \"3\", \"9\", \"9\", \"8\", \"1\", \"2\", "
		 "\"3\", \"4\", \"enter\"]}");
	log = wait_log(d, LOCK, 2);
	assert_entry(log, 1, "set", 1);
	gpio_set(d, CONTACT, 1);
	opened = door_wait_events(d, "door-opened", "door-io", 1);
	wait_visit_state(d, "open");
	list = json_object_get_array_member(door_ctl(d, &keep, "GET", "/v1/visits?limit=1", NULL),
					    "visits");
	id = g_strdup(json_object_get_string_member(json_array_get_object_element(list, 0), "id"));
	g_assert_cmpuint(sms_count(d, NULL), ==, 0);
	return id;
}

/* ------------------------------------------------------------------------ */

static void
test_fail_secure_start_and_stop(void)
{
	g_autoptr(VbTestDaemon) d = door_start(NULL, NULL, 0, 1);
	g_autoptr(GPtrArray) log = NULL;
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *status;
	g_autofree gchar *out = NULL;

	/* a fail-secure lock is locked without power: the line starts low, from
	 * the request itself, never glitching high */
	log = gpio_log(d, LOCK);
	g_assert_cmpuint(log->len, ==, 1);
	assert_entry(log, 0, "output", 0);

	/* what `vestibulectl status` and `plugins` show of it */
	status = door_status(d, &keep, "door-io");
	g_assert_cmpstr(status_str(status, "chip"), ==, "gpiochip0");
	g_assert_cmpstr(status_str(status, "chip-label"), ==, "pinctrl-fake");
	g_assert_cmpint(json_object_get_int_member(status, "lock-line"), ==, LOCK);
	g_assert_cmpint(json_object_get_int_member(status, "contact-line"), ==, CONTACT);
	g_assert_cmpint(json_object_get_int_member(status, "exit-line"), ==, EXIT);
	g_assert_true(json_object_get_boolean_member(status, "locked"));
	g_assert_cmpstr(status_str(status, "door"), ==, "closed");
	g_assert_cmpstr(status_str(status, "fail-mode"), ==, "fail-secure");
	g_assert_cmpstr(status_str(status, "unlock-mode"), ==, "held");
	g_assert_cmpuint(
	    json_array_get_length(json_object_get_array_member(status, "alarms-active")), ==, 0);
	g_assert_cmpint(vb_test_daemon_run_ctl(d, &out, NULL, "status", NULL), ==, 0);
	door_assert_contains(out, "door-io");
	door_assert_contains(out, "fail-secure");

	/* a clean stop leaves it locked, then lets the line go */
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	g_clear_pointer(&log, g_ptr_array_unref);
	log = gpio_log(d, LOCK);
	g_assert_cmpuint(log->len, ==, 2);
	assert_entry(log, 1, "release", 0);
}

static void
test_fail_safe_start_and_stop(void)
{
	g_autoptr(VbTestDaemon) d =
	    door_start(NULL, "fail-mode=fail-safe\nexit-unlock-ms=300\n", 0, 1);
	g_autoptr(GPtrArray) log = NULL;
	g_autoptr(JsonNode) keep = NULL;
	g_autofree gchar *daemon_log = NULL;

	/* a fail-safe lock (a maglock) holds while powered: powered from the start */
	log = gpio_log(d, LOCK);
	g_assert_cmpuint(log->len, ==, 1);
	assert_entry(log, 0, "output", 1);
	g_assert_cmpstr(status_str(door_status(d, &keep, "door-io"), "fail-mode"), ==, "fail-safe");

	/* it opens by losing power, and gets it back when the time is up */
	press_exit(d);
	g_clear_pointer(&log, g_ptr_array_unref);
	log = wait_log(d, LOCK, 3);
	assert_entry(log, 1, "set", 0);
	assert_entry(log, 2, "set", 1);

	/* locked before the line is let go, and the operator is told what follows */
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	g_clear_pointer(&log, g_ptr_array_unref);
	log = gpio_log(d, LOCK);
	g_assert_cmpuint(log->len, ==, 4);
	assert_entry(log, 3, "release", 1);
	daemon_log = vb_test_daemon_read_log(d);
	door_assert_contains(daemon_log, "fail-safe lock released with its line");
}

static void
test_active_low_by_label_and_name(void)
{
	/* a relay board that switches on a low input, a contact that reads low
	 * when open; the chip by its label, the lines by their names */
	g_autoptr(VbTestDaemon) d = door_start("chip=pinctrl-fake\nlock-line=DOOR_LOCK\n"
					       "contact-line=DOOR_CONTACT\n"
					       "exit-line=EXIT_BUTTON\n"
					       "lock-active-low=true\ncontact-active-low=true\n"
					       "exit-unlock-ms=300\n",
					       NULL, 1, 1);
	g_autoptr(GPtrArray) log = NULL;
	g_autoptr(GPtrArray) opened = NULL;
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *status;

	/* locked is "unpowered", which this board wants high */
	log = gpio_log(d, LOCK);
	assert_entry(log, 0, "output", 1);
	status = door_status(d, &keep, "door-io");
	g_assert_cmpstr(status_str(status, "chip"), ==, "gpiochip0");
	g_assert_cmpstr(status_str(status, "door"), ==, "closed");

	press_exit(d);
	g_clear_pointer(&log, g_ptr_array_unref);
	log = wait_log(d, LOCK, 3);
	assert_entry(log, 1, "set", 0);
	assert_entry(log, 2, "set", 1);

	/* the contact goes low: the door is open */
	gpio_set(d, CONTACT, 0);
	opened = door_wait_events(d, "door-opened", "door-io", 1);
	g_assert_cmpstr(json_object_get_string_member(door_ev(opened, 0), "door"), ==, "front");
	wait_status(d, "open", TRUE);
}

static void
test_unlock_pulse_length(void)
{
	g_autoptr(VbTestDaemon) d = door_start(NULL, "exit-unlock-ms=400\n", 0, 1);
	g_autoptr(GPtrArray) log = NULL;
	g_autoptr(GPtrArray) unlocked = NULL;
	g_autoptr(GPtrArray) locked = NULL;
	g_autoptr(JsonNode) keep = NULL;
	gint64 ms;

	press_exit(d);
	log = wait_log(d, LOCK, 3);
	assert_entry(log, 1, "set", 1);
	assert_entry(log, 2, "set", 0);
	/* the strike is powered for the 400 ms asked, not less, and not much more */
	ms = ms_between(log, 1, 2);
	if (ms < 400 || ms > 400 + SLACK_MS)
		g_error("the lock was released for %" G_GINT64_FORMAT " ms; expected 400", ms);

	/* on the bus, as the sim lock reports it */
	unlocked = door_wait_events(d, "door-unlocked", "door-io", 1);
	g_assert_cmpint(
	    json_object_get_int_member(
		json_object_get_object_member(door_ev(unlocked, 0), "payload"), "duration-ms"),
	    ==, 400);
	locked = door_wait_events(d, "door-locked", "door-io", 1);
	g_assert_cmpuint(locked->len, ==, 1);
	g_assert_true(json_object_get_boolean_member(door_status(d, &keep, "door-io"), "locked"));
}

static void
test_pulse_mode(void)
{
	g_autoptr(VbTestDaemon) d =
	    door_start(NULL, "unlock-mode=pulse\npulse-ms=100\nexit-unlock-ms=3000\n", 0, 1);
	g_autoptr(GPtrArray) log = NULL;
	g_autoptr(GPtrArray) locked = NULL;
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *status;
	gint64 ms;

	/* a strike that only needs a kick: 100 ms of power, while the door
	 * counts as unlocked for the whole 3 s */
	press_exit(d);
	log = wait_log(d, LOCK, 3);
	assert_entry(log, 1, "set", 1);
	assert_entry(log, 2, "set", 0);
	ms = ms_between(log, 1, 2);
	if (ms < 100 || ms > 100 + SLACK_MS)
		g_error("the pulse lasted %" G_GINT64_FORMAT " ms; expected 100", ms);
	status = door_status(d, &keep, "door-io");
	g_assert_false(json_object_get_boolean_member(status, "locked"));
	g_assert_cmpstr(status_str(status, "unlock-mode"), ==, "pulse");
	locked = door_wait_events(d, "door-locked", "door-io", 1);
	g_clear_pointer(&log, g_ptr_array_unref);
	log = gpio_log(d, LOCK);
	g_assert_cmpuint(log->len, ==, 3);
}

static void
test_pulse_mode_needs_fail_secure(void)
{
	g_autoptr(VbTestDaemon) d =
	    door_start(NULL, "unlock-mode=pulse\nfail-mode=fail-safe\n", 0, 1);
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *inst = door_instance(d, &keep, "door-io");

	g_assert_cmpstr(json_object_get_string_member(inst, "state"), ==, "disabled");
	door_assert_contains(json_object_get_string_member(inst, "error"), "use unlock-mode=held");
}

static void
test_contact_bounce(void)
{
	/* debounced per line: a long one here, so that a busy test machine's
	 * pauses between two levels of a train never look like a settled door */
	g_autoptr(VbTestDaemon) d = door_start(NULL, "contact-debounce-ms=200\n", 0, 1);
	const gint open_train[] = {1, 0, 1, 0, 1, 0, 1};
	const gint close_train[] = {0, 1, 0, 1, 0};
	const gint glitch[] = {1, 0};
	g_autoptr(GPtrArray) opened = NULL;
	g_autoptr(GPtrArray) closed = NULL;
	g_autoptr(JsonNode) keep = NULL;
	gint64 edges;

	/* a reed contact chatters for a few milliseconds as the door moves: one
	 * opening, one closing */
	gpio_train(d, CONTACT, open_train, G_N_ELEMENTS(open_train), 3000);
	opened = door_wait_events(d, "door-opened", "door-io", 1);
	wait_status(d, "open", TRUE);
	gpio_train(d, CONTACT, close_train, G_N_ELEMENTS(close_train), 3000);
	closed = door_wait_events(d, "door-closed", "door-io", 1);
	wait_status(d, "closed", TRUE);

	/* a blip shorter than the debounce, then a real opening: only the latter counts */
	gpio_train(d, CONTACT, glitch, G_N_ELEMENTS(glitch), 5000);
	g_usleep(1000);
	gpio_set(d, CONTACT, 1);
	g_clear_pointer(&opened, g_ptr_array_unref);
	opened = door_wait_events(d, "door-opened", "door-io", 2);
	g_clear_pointer(&closed, g_ptr_array_unref);
	closed = door_events(d, "door-closed", "door-io");
	g_assert_cmpuint(opened->len, ==, 2);
	g_assert_cmpuint(closed->len, ==, 1);

	/* every edge reached the plugin through its event fd */
	edges = json_object_get_int_member(door_status(d, &keep, "door-io"), "contact-edges");
	g_assert_cmpint(edges, ==,
			G_N_ELEMENTS(open_train) + G_N_ELEMENTS(close_train) +
			    G_N_ELEMENTS(glitch) + 1);
}

static void
test_forced_open(void)
{
	g_autoptr(VbTestDaemon) d = door_start(NULL, NULL, 0, 1);
	g_autoptr(GPtrArray) alarms = NULL;
	g_autoptr(GPtrArray) alerts = NULL;
	g_autoptr(GPtrArray) closed = NULL;
	g_autofree gchar *active = NULL;

	/* nobody unlocked it, and the contact says open */
	gpio_set(d, CONTACT, 1);
	alarms = door_wait_events(d, "door-alarm", "door-io", 1);
	g_assert_cmpstr(door_ev_get(alarms, 0, "alarm"), ==, "forced-open");
	g_assert_cmpstr(json_object_get_string_member(door_ev(alarms, 0), "door"), ==, "front");
	alerts = door_wait_events(d, "alert", "door-io", 1);
	g_assert_cmpstr(door_ev_get(alerts, 0, "severity"), ==, "critical");
	door_assert_contains(door_ev_get(alerts, 0, "message"),
			     "door front was forced open while locked");
	active = alarms_active(d);
	g_assert_cmpstr(active, ==, "forced-open");

	/* closing the door ends the alarm */
	gpio_set(d, CONTACT, 0);
	closed = door_wait_events(d, "door-closed", "door-io", 1);
	g_clear_pointer(&active, g_free);
	active = alarms_active(d);
	g_assert_cmpstr(active, ==, "");
}

static void
test_exit_button_and_held_open(void)
{
	g_autoptr(VbTestDaemon) d = door_start(NULL, "held-open-s=1\nexit-unlock-ms=2000\n", 0, 1);
	g_autoptr(GPtrArray) exits = NULL;
	g_autoptr(GPtrArray) unlocked = NULL;
	g_autoptr(GPtrArray) alarms = NULL;
	g_autoptr(GPtrArray) alerts = NULL;
	g_autoptr(GPtrArray) closed = NULL;
	g_autoptr(GPtrArray) log = NULL;
	g_autoptr(GPtrArray) opened = NULL;
	g_autofree gchar *active = NULL;

	/* a shopper inside presses the button: the door unlocks for the way out,
	 * without a card and without a hold */
	press_exit(d);
	exits = door_events(d, "exit-requested", "door-io");
	g_assert_cmpuint(exits->len, ==, 1);
	g_assert_cmpstr(json_object_get_string_member(door_ev(exits, 0), "door"), ==, "front");
	unlocked = door_wait_events(d, "door-unlocked", "door-io", 1);
	log = wait_log(d, LOCK, 2);
	assert_entry(log, 1, "set", 1);

	/* they open it: no forced-open alarm, it was unlocked */
	gpio_set(d, CONTACT, 1);
	opened = door_wait_events(d, "door-opened", "door-io", 1);

	/* and leave it open: after held-open-s, the held-open alarm and a warning */
	alarms = door_wait_events(d, "door-alarm", "door-io", 1);
	g_assert_cmpuint(alarms->len, ==, 1);
	g_assert_cmpstr(door_ev_get(alarms, 0, "alarm"), ==, "held-open");
	alerts = door_wait_events(d, "alert", "door-io", 1);
	g_assert_cmpstr(door_ev_get(alerts, 0, "severity"), ==, "warning");
	door_assert_contains(door_ev_get(alerts, 0, "message"),
			     "door front has been held open for more than 1 seconds");
	active = alarms_active(d);
	g_assert_cmpstr(active, ==, "held-open");

	gpio_set(d, CONTACT, 0);
	closed = door_wait_events(d, "door-closed", "door-io", 1);
	g_clear_pointer(&active, g_free);
	active = alarms_active(d);
	g_assert_cmpstr(active, ==, "");
	g_clear_pointer(&alarms, g_ptr_array_unref);
	alarms = door_events(d, "door-alarm", "door-io");
	g_assert_cmpuint(alarms->len, ==, 1);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_chip_missing(void)
{
	/* the lock's chip is not there (a wrong name, a missing overlay), and a
	 * second instance names a line that the chip does not have */
	g_autoptr(VbTestDaemon) d = door_start("chip=gpiochip7\nlock-line=0\n",
					       "[instance:io-2]\nplugin=gpio\nlock-line=99\n"
					       "[instance:io-3]\nplugin=gpio\nlock-line=NO_SUCH\n",
					       0, 1);
	g_autoptr(JsonNode) keep = NULL;
	g_autofree gchar *out = NULL;
	JsonObject *inst;

	inst = door_instance(d, &keep, "door-io");
	g_assert_cmpstr(json_object_get_string_member(inst, "state"), ==, "disabled");
	door_assert_contains(json_object_get_string_member(inst, "error"),
			     "GPIO chip 'gpiochip7' of [instance:door-io] was not found");
	door_assert_contains(json_object_get_string_member(inst, "error"), "gpiodetect");
	inst = door_instance(d, &keep, "io-2");
	g_assert_cmpstr(json_object_get_string_member(inst, "state"), ==, "disabled");
	door_assert_contains(
	    json_object_get_string_member(inst, "error"),
	    "lock-line=99 in [instance:io-2]: chip gpiochip0 has lines 0 to 7 only");
	inst = door_instance(d, &keep, "io-3");
	g_assert_cmpstr(json_object_get_string_member(inst, "state"), ==, "disabled");
	door_assert_contains(json_object_get_string_member(inst, "error"),
			     "lock-line=NO_SUCH in [instance:io-3]: no such line");

	/* the daemon goes on, and says why with an exit status scripts can see */
	g_assert_cmpint(vb_test_daemon_run_ctl(d, &out, NULL, "plugins", NULL), ==, 1);
	door_assert_contains(out, "gpiochip7");
	(void)door_status(d, &keep, "front-reader");
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* kills the daemon, sets the door contact to @contact while it is down, and
 * starts it again: the lock is driven locked once, from its first instant.
 * Returns the length of the lock's log before the restart */
static guint
kill_and_restart(VbTestDaemon *d, gint contact)
{
	g_autoptr(GPtrArray) log = NULL;
	guint before;

	vb_test_daemon_kill(d);
	log = gpio_log(d, LOCK);
	before = log->len;
	gpio_write_chips(d, contact, 1);
	door_restart(d);
	g_clear_pointer(&log, g_ptr_array_unref);
	log = gpio_log(d, LOCK);
	g_assert_cmpuint(log->len, ==, before + 1);
	assert_entry(log, before, "output", 0);
	return before;
}

static void
test_crash_restart(void)
{
	g_autoptr(VbTestDaemon) d = door_start(NULL, "held-open-s=1\nexit-unlock-ms=60000\n", 0, 1);
	g_autoptr(GPtrArray) log = NULL;
	g_autoptr(GPtrArray) alarms = NULL;

	/* the daemon dies while the door is unlocked */
	press_exit(d);
	log = wait_log(d, LOCK, 2);
	assert_entry(log, 1, "set", 1);

	/* meanwhile someone leaves the door open; back up, locked from the
	 * first instant, and the open door is seen */
	kill_and_restart(d, 1);
	wait_status(d, "open", TRUE);
	/* nobody knows who opened it: held open, not forced */
	alarms = door_wait_events(d, "door-alarm", "door-io", 1);
	g_assert_cmpstr(door_ev_get(alarms, 0, "alarm"), ==, "held-open");
}

static void
test_visit_unlocks_through_gpio(void)
{
	/* the whole door: a card, a phone number, the hold, and the core unlocks
	 * the GPIO lock for unlock-pulse-ms */
	g_autoptr(VbTestDaemon) d = door_start(
	    NULL, "[door:front]\nunlock-pulse-ms=1500\n[visit]\nverify-phone=false\n", 0, 1);
	g_autoptr(JsonNode) keep = NULL;
	g_autoptr(GPtrArray) log = NULL;
	g_autoptr(GPtrArray) opened = NULL;
	g_autoptr(GPtrArray) closed = NULL;
	g_autoptr(GPtrArray) alarms = NULL;
	g_autoptr(GPtrArray) locked = NULL;
	JsonObject *obj;
	gint64 ms;

	obj = door_ctl(d, &keep, "POST", "/v1/sim/front-reader/tap", "{\"pan\": \"" PAN "\"}");
	g_assert_cmpstr(json_object_get_string_member(obj, "status"), ==, "presented");
	wait_prompt(d, "enter-phone");
	door_ctl(d, &keep, "POST", "/v1/sim/front-keypad/keys",
		 "{\"keys\": [\"0\", \"6\", \"3\", \"9\", \"9\", \"8\", \"1\", \"2\", "
		 "\"3\", \"4\", \"enter\"]}");
	log = wait_log(d, LOCK, 2);
	assert_entry(log, 1, "set", 1);

	/* the shopper goes in while it is unlocked: no alarm */
	gpio_set(d, CONTACT, 1);
	opened = door_wait_events(d, "door-opened", "door-io", 1);
	g_clear_pointer(&log, g_ptr_array_unref);
	log = wait_log(d, LOCK, 3);
	assert_entry(log, 2, "set", 0);
	ms = ms_between(log, 1, 2);
	if (ms < 1500 || ms > 1500 + SLACK_MS)
		g_error("the lock was released for %" G_GINT64_FORMAT " ms; expected 1500", ms);

	gpio_set(d, CONTACT, 0);
	closed = door_wait_events(d, "door-closed", "door-io", 1);
	locked = door_wait_events(d, "door-locked", "door-io", 1);
	alarms = door_events(d, "door-alarm", "door-io");
	g_assert_cmpuint(alarms->len, ==, 0);
	/* the visit saw the door open and close */
	wait_visit_state(d, "awaiting-order");
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* a clean stop and start after the visit ended sends nothing more, and the
 * door stays locked */
static void
assert_nothing_more_after_restart(VbTestDaemon *d, const gchar *id)
{
	g_autoptr(JsonNode) keep = NULL;
	g_autofree gchar *state = NULL;

	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	door_restart(d);
	g_assert_true(vb_test_poll(outbox_idle, d, DOOR_WAIT_MS));
	state = visit_state(d, id);
	g_assert_cmpstr(state, ==, "awaiting-order");
	g_assert_cmpuint(sms_count(d, NULL), ==, 1);
	g_assert_true(json_object_get_boolean_member(door_status(d, &keep, "door-io"), "locked"));
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* the unlock lasts long enough that the daemon dies with the lock released */
#define RESUME_DROP_IN "[door:front]\nunlock-pulse-ms=60000\n[visit]\nverify-phone=false\n"

static void
test_visit_resumes_door_open(void)
{
	g_autoptr(VbTestDaemon) d = door_start(NULL, RESUME_DROP_IN, 0, 1);
	g_autoptr(GPtrArray) log = NULL;
	g_autoptr(GPtrArray) closed = NULL;
	g_autoptr(JsonNode) keep = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *state = NULL;
	gint64 until;
	guint before;

	/* the daemon dies with the shopper inside, the door open behind them */
	id = visit_go_in(d);

	/* and comes back while the contact still reads open, locked from its
	 * first instant; the visit goes on, still open */
	before = kill_and_restart(d, 1);
	wait_status(d, "open", TRUE);
	state = visit_state(d, id);
	g_assert_cmpstr(state, ==, "open");

	/* and nothing tells the shopper they left while they are still inside */
	until = g_get_monotonic_time() + 1500 * G_TIME_SPAN_MILLISECOND;
	while (g_get_monotonic_time() < until) {
		g_clear_pointer(&state, g_free);
		state = visit_state(d, id);
		g_assert_cmpstr(state, ==, "open");
		g_assert_cmpuint(sms_count(d, NULL), ==, 0);
		g_usleep(50 * G_TIME_SPAN_MILLISECOND);
	}

	/* they walk out: the visit waits for its order, the handset gets the
	 * notice once, the screen greets the next shopper */
	gpio_set(d, CONTACT, 0);
	closed = door_wait_events(d, "door-closed", "door-io", 1);
	wait_visit_id_state(d, id, "awaiting-order");
	g_assert_cmpuint(wait_notice(d, id), ==, 1);
	g_assert_cmpuint(sms_count(d, NULL), ==, 1);
	wait_prompt(d, "welcome");
	wait_status(d, "closed", TRUE);
	g_clear_pointer(&log, g_ptr_array_unref);
	log = gpio_log(d, LOCK);
	g_assert_cmpuint(log->len, ==, before + 1);
	g_assert_true(json_object_get_boolean_member(door_status(d, &keep, "door-io"), "locked"));

	assert_nothing_more_after_restart(d, id);
}

static void
test_visit_door_closed_while_down(void)
{
	g_autoptr(VbTestDaemon) d = door_start(NULL, RESUME_DROP_IN, 0, 1);
	g_autoptr(GPtrArray) closed = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *state = NULL;
	guint n_closed;

	id = visit_go_in(d);
	closed = door_events(d, "door-closed", "door-io");
	n_closed = closed->len;

	/* the shopper left and the door closed while the daemon was down; the
	 * lock is driven locked from the first instant */
	kill_and_restart(d, 0);

	/* the visit ends at once, as if the door had just closed: no door event
	 * will ever come for it */
	state = visit_state(d, id);
	g_assert_cmpstr(state, ==, "awaiting-order");
	g_assert_cmpuint(wait_notice(d, id), ==, 1);
	g_assert_cmpuint(sms_count(d, NULL), ==, 1);
	wait_prompt(d, "welcome");
	wait_status(d, "closed", TRUE);
	g_clear_pointer(&closed, g_ptr_array_unref);
	closed = door_events(d, "door-closed", "door-io");
	g_assert_cmpuint(closed->len, ==, n_closed);

	assert_nothing_more_after_restart(d, id);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/door/gpio/fail-secure-start-and-stop", test_fail_secure_start_and_stop);
	g_test_add_func("/door/gpio/fail-safe-start-and-stop", test_fail_safe_start_and_stop);
	g_test_add_func("/door/gpio/active-low-by-label-and-name",
			test_active_low_by_label_and_name);
	g_test_add_func("/door/gpio/unlock-pulse-length", test_unlock_pulse_length);
	g_test_add_func("/door/gpio/pulse-mode", test_pulse_mode);
	g_test_add_func("/door/gpio/pulse-mode-needs-fail-secure",
			test_pulse_mode_needs_fail_secure);
	g_test_add_func("/door/gpio/contact-bounce", test_contact_bounce);
	g_test_add_func("/door/gpio/forced-open", test_forced_open);
	g_test_add_func("/door/gpio/exit-button-and-held-open", test_exit_button_and_held_open);
	g_test_add_func("/door/gpio/chip-missing", test_chip_missing);
	g_test_add_func("/door/gpio/crash-restart", test_crash_restart);
	g_test_add_func("/door/gpio/visit-unlocks-through-gpio", test_visit_unlocks_through_gpio);
	g_test_add_func("/door/gpio/visit-resumes-door-open", test_visit_resumes_door_open);
	g_test_add_func("/door/gpio/visit-door-closed-while-down",
			test_visit_door_closed_while_down);
	return g_test_run();
}
