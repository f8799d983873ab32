/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <linux/input.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vb-door-test.h"

/*
 * The keypad plugin, end to end: its device path is a FIFO, and the test
 * writes into it the struct input_event records a USB keypad's evdev node
 * gives, key by key, with the kernel's SYN_REPORT after each. The plugin
 * reads them exactly as it reads a device; EVIOCGRAB fails on a FIFO, so the
 * fall-back runs too. What the test checks is what a shopper and an operator
 * see: the screen, the SMS code going to the number typed, the audit log,
 * the instance's status and the alerts.
 */

#define PAN "4970107301234564"
#define PHONE "+33639981234"

typedef struct {
	GArray *records;
} Keys;

static gchar *
kbd_path(VbTestDaemon *d)
{
	return g_build_filename(d->dir, "kbd", NULL);
}

static void
kbd_make(VbTestDaemon *d)
{
	g_autofree gchar *path = kbd_path(d);
	g_assert_cmpint(mkfifo(path, 0600), ==, 0);
}

static VbTestDaemon *
keypad_start(const gchar *extra, gboolean with_device)
{
	VbTestDaemon *d = vb_test_daemon_new(NULL);
	g_autofree gchar *path = kbd_path(d);
	g_autofree gchar *drop_in = g_strdup_printf("[door:front]\n"
						    "keypad=kp\n"
						    "[instance:kp]\n"
						    "plugin=keypad\n"
						    "device=%s\n"
						    "reopen-ms=100\n"
						    "%s",
						    path, extra != NULL ? extra : "");
	g_autoptr(GError) error = NULL;

	if (with_device)
		kbd_make(d);
	vb_test_daemon_write_drop_in(d, "50-keypad.conf", drop_in);
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start: %s", error->message);
	return d;
}

static void
ev_add(GArray *records, guint16 type, guint16 code, gint32 value)
{
	struct input_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.code = code;
	ev.value = value;
	g_array_append_val(records, ev);
}

/* one key as the kernel reports it: down, report, up, report */
static void
ev_key(GArray *records, guint16 code)
{
	ev_add(records, EV_KEY, code, 1);
	ev_add(records, EV_SYN, SYN_REPORT, 0);
	ev_add(records, EV_KEY, code, 0);
	ev_add(records, EV_SYN, SYN_REPORT, 0);
}

static void
ev_shifted(GArray *records, guint16 code)
{
	ev_add(records, EV_KEY, KEY_LEFTSHIFT, 1);
	ev_add(records, EV_SYN, SYN_REPORT, 0);
	ev_key(records, code);
	ev_add(records, EV_KEY, KEY_LEFTSHIFT, 0);
	ev_add(records, EV_SYN, SYN_REPORT, 0);
}

typedef struct {
	const gchar *path;
	gint fd;
} OpenWait;

static gboolean
writer_opens(gpointer user_data)
{
	OpenWait *w = user_data;
	/* ENXIO while no reader has the FIFO open: the plugin is between two opens */
	w->fd = open(w->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	return w->fd >= 0;
}

static gint
kbd_open_writer(VbTestDaemon *d)
{
	g_autofree gchar *path = kbd_path(d);
	OpenWait w = {path, -1};

	if (!vb_test_poll(writer_opens, &w, DOOR_WAIT_MS))
		g_error("the keypad plugin never opened %s: %s", path, g_strerror(errno));
	return w.fd;
}

/* the keypad types @records; the writer leaves afterwards, as a pipe's does */
static void
kbd_write(VbTestDaemon *d, GArray *records)
{
	gint fd = kbd_open_writer(d);
	gsize len = records->len * sizeof(struct input_event);

	/* under PIPE_BUF: one atomic write */
	g_assert_cmpuint(len, <=, PIPE_BUF);
	g_assert_cmpint(write(fd, records->data, len), ==, (gssize)len);
	close(fd);
}

static GArray *
records_new(void)
{
	return g_array_new(FALSE, TRUE, sizeof(struct input_event));
}

/* the keys on the bus, as the audit log has them (a digit is `digit`) */
static gchar *
keys_logged(VbTestDaemon *d)
{
	g_autoptr(GPtrArray) keys = door_events(d, "keypad-key", "kp");
	g_autoptr(GString) out = g_string_new(NULL);

	for (guint i = 0; i < keys->len; i++)
		g_string_append_printf(out, "%s%s", i > 0 ? " " : "", door_ev_get(keys, i, "key"));
	return g_string_free(g_steal_pointer(&out), FALSE);
}

typedef struct {
	VbTestDaemon *d;
	const gchar *value;
	const gchar *member;
} StrWait;

static gboolean
screen_has(gpointer user_data)
{
	StrWait *w = user_data;
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *obj = door_ctl(w->d, &keep, "GET", "/v1/sim/front-display/screen", NULL);
	const gchar *text = json_object_get_string_member_with_default(obj, w->member, NULL);

	return text != NULL && g_str_has_suffix(text, w->value);
}

/* waits for the screen's @member (prompt-id or text) to end with @value */
static void
wait_screen(VbTestDaemon *d, const gchar *member, const gchar *value)
{
	StrWait w = {d, value, member};
	if (!vb_test_poll(screen_has, &w, DOOR_WAIT_MS)) {
		g_autoptr(JsonNode) keep = NULL;
		JsonObject *obj = door_ctl(d, &keep, "GET", "/v1/sim/front-display/screen", NULL);
		g_error("waited for the screen's %s to end with '%s'; it is '%s'", member, value,
			json_object_get_string_member_with_default(obj, member, ""));
	}
}

static gboolean
keys_logged_are(gpointer user_data)
{
	StrWait *w = user_data;
	g_autofree gchar *keys = keys_logged(w->d);
	return g_strcmp0(keys, w->value) == 0;
}

static void
wait_keys(VbTestDaemon *d, const gchar *expected)
{
	StrWait w = {d, expected, NULL};
	if (!vb_test_poll(keys_logged_are, &w, DOOR_WAIT_MS)) {
		g_autofree gchar *keys = keys_logged(d);
		g_error("expected the keys '%s' on the bus; saw '%s'", expected, keys);
	}
}

static gboolean
sms_to_phone(gpointer user_data)
{
	VbTestDaemon *d = user_data;
	g_autoptr(GPtrArray) sms = vb_test_daemon_sms(d);
	g_autofree gchar *hash = vb_test_phone_hash(PHONE);

	for (guint i = 0; i < sms->len; i++) {
		JsonObject *obj = json_node_get_object(g_ptr_array_index(sms, i));
		if (g_strcmp0(json_object_get_string_member(obj, "to-hash"), hash) == 0)
			return TRUE;
	}
	return FALSE;
}

typedef struct {
	VbTestDaemon *d;
	gboolean present;
} PresentWait;

static gboolean
present_is(gpointer user_data)
{
	PresentWait *w = user_data;
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *status = door_status(w->d, &keep, "kp");
	return json_object_get_boolean_member(status, "present") == w->present;
}

static void
wait_present(VbTestDaemon *d, gboolean present)
{
	PresentWait w = {d, present};
	if (!vb_test_poll(present_is, &w, DOOR_WAIT_MS))
		g_error("waited for the keypad to be %s", present ? "present" : "absent");
}

/* ------------------------------------------------------------------------ */

static void
test_phone_digits_erase_enter(void)
{
	g_autoptr(VbTestDaemon) d = keypad_start(NULL, TRUE);
	g_autoptr(GArray) records = records_new();
	g_autoptr(JsonNode) keep = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *keys = NULL;
	JsonObject *status;
	const guint16 typed[] = {KEY_0,	  KEY_6, KEY_KP3, KEY_KP9, KEY_KP9,
				 KEY_KP8, KEY_1, KEY_2,	  KEY_KP3, KEY_7};

	/* a new card: the door asks for a phone number */
	door_ctl(d, &keep, "POST", "/v1/sim/front-reader/tap", "{\"pan\": \"" PAN "\"}");
	wait_screen(d, "prompt-id", "enter-phone");

	/* digits from the main row and the numpad, a slip, erased and retyped */
	for (guint i = 0; i < G_N_ELEMENTS(typed); i++)
		ev_key(records, typed[i]);
	kbd_write(d, records);
	wait_screen(d, "text", "237");
	g_array_set_size(records, 0);
	ev_key(records, KEY_BACKSPACE);
	ev_key(records, KEY_KP4);
	kbd_write(d, records);
	wait_screen(d, "text", "234");

	/* KP Enter sends the code to the number as typed */
	g_array_set_size(records, 0);
	ev_key(records, KEY_KPENTER);
	kbd_write(d, records);
	if (!vb_test_poll(sms_to_phone, d, DOOR_WAIT_MS))
		g_error("no SMS went to " PHONE);
	keys = keys_logged(d);
	g_assert_cmpstr(keys, ==,
			"digit digit digit digit digit digit digit digit digit digit erase digit "
			"enter");

	/* a FIFO cannot be grabbed: the plugin reads it shared, and says so */
	status = door_status(d, &keep, "kp");
	g_assert_true(json_object_get_boolean_member(status, "present"));
	g_assert_false(json_object_get_boolean_member(status, "grabbed"));
	g_assert_cmpint(json_object_get_int_member(status, "keys"), ==, 13);
	log = vb_test_daemon_read_log(d);
	door_assert_contains(log, "cannot be grabbed");
	/* what was typed is a phone number: the log does not keep it */
	g_assert_false(vb_test_daemon_files_contain(d, "0639981234"));
	g_assert_false(vb_test_daemon_files_contain(d, "639981234"));
}

static void
test_repeat_and_symbols(void)
{
	/* KEY_KPDOT (83) is the # of this keypad */
	g_autoptr(VbTestDaemon) d = keypad_start("keymap=83=#\n", TRUE);
	g_autoptr(GArray) records = records_new();
	g_autoptr(GPtrArray) alerts = NULL;

	/* a key held down: the kernel's auto-repeat (value 2) types nothing more */
	ev_add(records, EV_KEY, KEY_5, 1);
	ev_add(records, EV_SYN, SYN_REPORT, 0);
	for (guint i = 0; i < 5; i++) {
		ev_add(records, EV_KEY, KEY_5, 2);
		ev_add(records, EV_SYN, SYN_REPORT, 0);
	}
	ev_add(records, EV_KEY, KEY_5, 0);
	ev_add(records, EV_SYN, SYN_REPORT, 0);
	kbd_write(d, records);
	wait_keys(d, "digit");

	/* * and # from a numpad, from a keyboard's shifted row, and mapped;
	 * Esc cancels, Enter enters; other keys and shifted digits type nothing */
	g_array_set_size(records, 0);
	ev_key(records, KEY_KPASTERISK);
	ev_shifted(records, KEY_8);
	ev_shifted(records, KEY_3);
	ev_shifted(records, KEY_5);
	ev_key(records, KEY_A);
	ev_key(records, KEY_NUMERIC_POUND);
	ev_key(records, KEY_KPDOT);
	ev_key(records, KEY_ESC);
	ev_key(records, KEY_ENTER);
	ev_key(records, KEY_KP0);
	kbd_write(d, records);
	wait_keys(d, "digit * * # # # cancel enter digit");

	/* each writer that left was a pipe closing, not a keypad lost */
	alerts = door_events(d, "alert", "kp");
	g_assert_cmpuint(alerts->len, ==, 0);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_vanish_and_return(void)
{
	g_autoptr(VbTestDaemon) d = keypad_start(NULL, TRUE);
	g_autoptr(GArray) records = records_new();
	g_autoptr(GPtrArray) alerts = NULL;
	g_autoptr(JsonNode) keep = NULL;
	g_autofree gchar *path = kbd_path(d);
	JsonObject *status;
	gint fd;

	ev_key(records, KEY_KP1);
	kbd_write(d, records);
	wait_keys(d, "digit");

	/* unplugged: the node goes, and its reader is left with nothing */
	fd = kbd_open_writer(d);
	g_assert_cmpint(g_unlink(path), ==, 0);
	close(fd);
	wait_present(d, FALSE);
	alerts = door_wait_events(d, "alert", "kp", 1);
	g_assert_cmpstr(door_ev_get(alerts, 0, "severity"), ==, "warning");
	door_assert_contains(door_ev_get(alerts, 0, "message"), "went away");
	door_assert_contains(door_ev_get(alerts, 0, "message"), "shoppers cannot type");
	status = door_status(d, &keep, "kp");
	door_assert_contains(json_object_get_string_member(status, "error"), path);

	/* plugged in again: found within reopen-ms, and it types */
	kbd_make(d);
	wait_present(d, TRUE);
	kbd_write(d, records);
	wait_keys(d, "digit digit");
	status = door_status(d, &keep, "kp");
	g_assert_false(json_object_has_member(status, "error"));
	g_assert_cmpint(json_object_get_int_member(status, "reopened"), >=, 1);
	/* and a clean stop lets go of it (under ASan: with nothing leaked) */
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_absent_at_start(void)
{
	/* the daemon starts without the keypad, and finds it when it comes */
	g_autoptr(VbTestDaemon) d = keypad_start(NULL, FALSE);
	g_autoptr(GArray) records = records_new();
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *status;

	status = door_status(d, &keep, "kp");
	g_assert_false(json_object_get_boolean_member(status, "present"));
	door_assert_contains(json_object_get_string_member(status, "error"), "cannot open keypad");
	kbd_make(d);
	wait_present(d, TRUE);
	ev_key(records, KEY_KPENTER);
	kbd_write(d, records);
	wait_keys(d, "enter");
}

static void
test_bad_settings(void)
{
	g_autoptr(VbTestDaemon) d = keypad_start("keymap=83=hash\n", TRUE);
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *inst = door_instance(d, &keep, "kp");

	g_assert_cmpstr(json_object_get_string_member(inst, "state"), ==, "disabled");
	door_assert_contains(json_object_get_string_member(inst, "error"),
			     "keymap item '83=hash' in [instance:kp] is not CODE=KEY");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/door/keypad/phone-digits-erase-enter", test_phone_digits_erase_enter);
	g_test_add_func("/door/keypad/repeat-and-symbols", test_repeat_and_symbols);
	g_test_add_func("/door/keypad/vanish-and-return", test_vanish_and_return);
	g_test_add_func("/door/keypad/absent-at-start", test_absent_at_start);
	g_test_add_func("/door/keypad/bad-settings", test_bad_settings);
	return g_test_run();
}
