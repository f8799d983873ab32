/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include "vb-gw-test.h"

/*
 * The modemmanager plugin, end to end: a private dbus-daemon plays the system
 * bus, our python3-dbusmock template (modemmanager.py) plays ModemManager and
 * its modem on it, and vestibuled finds it through DBUS_SYSTEM_BUS_ADDRESS.
 * The tests play the shopper at the door and the network delivering texts to
 * the modem, unplug and plug the modem, and restart ModemManager.
 */

#define PAN_A "4970107301234564"
#define PHONE_A_TYPED "0639981234"
#define PHONE_A "+33639981234"
#define CONTACT "help@vestibule-test.example"
#define MM_NAME "org.freedesktop.ModemManager1"
#define MM_PATH "/org/freedesktop/ModemManager1"
#define MOCK_IFACE "org.freedesktop.DBus.Mock"

typedef struct {
	gchar *dir;
	gchar *address;
	GSubprocess *bus;
	GSubprocess *mock;
	GDBusConnection *connection;
} Bus;

static void
child_setup(gpointer user_data)
{
	/* a test that dies takes its bus and its ModemManager along */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *
spawn(const gchar *const *argv, const gchar *address)
{
	g_autoptr(GSubprocessLauncher) launcher =
	    g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	g_autoptr(GError) error = NULL;
	GSubprocess *proc;

	g_subprocess_launcher_set_child_setup(launcher, child_setup, NULL, NULL);
	if (address != NULL)
		g_subprocess_launcher_setenv(launcher, "DBUS_SYSTEM_BUS_ADDRESS", address, TRUE);
	proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
	g_assert_no_error(error);
	return proc;
}

/* dbus-daemon binds its socket before it listens on it, so the file can exist
 * while a connection is still refused: wait for a connection that works */
static gboolean
bus_connect_cb(gpointer user_data)
{
	Bus *bus = user_data;

	bus->connection = g_dbus_connection_new_for_address_sync(
	    bus->address,
	    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
		G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
	    NULL, NULL, NULL);
	return bus->connection != NULL;
}

static gboolean
mock_owned_cb(gpointer user_data)
{
	Bus *bus = user_data;
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
	    bus->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
	    "org.freedesktop.DBus", "NameHasOwner", g_variant_new("(s)", MM_NAME),
	    G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
	gboolean owned = FALSE;

	if (reply != NULL)
		g_variant_get(reply, "(b)", &owned);
	return owned;
}

static void
mock_start(Bus *bus)
{
	g_autofree gchar *template_ =
	    g_build_filename(g_getenv("G_TEST_SRCDIR"), "gateways", "modemmanager.py", NULL);
	const gchar *python = g_getenv("VB_GW_PYTHON");
	const gchar *argv[] = {python != NULL ? python : "/usr/bin/python3",
			       "-m",
			       "dbusmock",
			       "--system",
			       "--template",
			       template_,
			       NULL};

	bus->mock = spawn(argv, bus->address);
	if (!vb_test_poll(mock_owned_cb, bus, VB_GW_WAIT_MS))
		g_error("the ModemManager mock did not start");
}

static void
mock_stop(Bus *bus)
{
	g_subprocess_send_signal(bus->mock, SIGTERM);
	g_subprocess_wait(bus->mock, NULL, NULL);
	g_clear_object(&bus->mock);
}

static Bus *
bus_new(void)
{
	Bus *bus = g_new0(Bus, 1);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *config = NULL;
	g_autofree gchar *config_path = NULL;
	g_autofree gchar *socket = NULL;
	const gchar *daemon = g_getenv("VB_GW_DBUS_DAEMON");
	g_autofree gchar *config_arg = NULL;

	bus->dir = g_dir_make_tmp("vb-bus-XXXXXX", &error);
	g_assert_no_error(error);
	socket = g_build_filename(bus->dir, "bus.sock", NULL);
	bus->address = g_strdup_printf("unix:path=%s", socket);
	config = g_strdup_printf(
	    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
	    "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	    "<busconfig>\n"
	    "  <type>system</type>\n"
	    "  <listen>unix:path=%s</listen>\n"
	    "  <auth>EXTERNAL</auth>\n"
	    "  <policy context=\"default\">\n"
	    "    <allow user=\"*\"/>\n"
	    "    <allow own=\"*\"/>\n"
	    "    <allow send_type=\"method_call\"/>\n"
	    "    <allow send_type=\"signal\"/>\n"
	    "    <allow send_type=\"method_return\"/>\n"
	    "    <allow send_type=\"error\"/>\n"
	    "    <allow receive_type=\"method_call\"/>\n"
	    "    <allow receive_type=\"signal\"/>\n"
	    "    <allow receive_type=\"method_return\"/>\n"
	    "    <allow receive_type=\"error\"/>\n"
	    "  </policy>\n"
	    "</busconfig>\n",
	    socket);
	config_path = g_build_filename(bus->dir, "bus.conf", NULL);
	g_assert_true(g_file_set_contents(config_path, config, -1, NULL));
	config_arg = g_strdup_printf("--config-file=%s", config_path);
	{
		const gchar *argv[] = {daemon != NULL ? daemon : "dbus-daemon", config_arg,
				       "--nofork", "--nopidfile", NULL};
		bus->bus = spawn(argv, NULL);
	}
	if (!vb_test_poll(bus_connect_cb, bus, VB_GW_WAIT_MS))
		g_error("the private dbus-daemon did not start");
	mock_start(bus);
	return bus;
}

static void
bus_free(Bus *bus)
{
	if (bus->mock != NULL)
		mock_stop(bus);
	g_dbus_connection_close_sync(bus->connection, NULL, NULL);
	g_clear_object(&bus->connection);
	g_subprocess_send_signal(bus->bus, SIGTERM);
	g_subprocess_wait(bus->bus, NULL, NULL);
	g_clear_object(&bus->bus);
	{
		g_autofree gchar *socket = g_build_filename(bus->dir, "bus.sock", NULL);
		g_autofree gchar *config = g_build_filename(bus->dir, "bus.conf", NULL);
		g_unlink(socket);
		g_unlink(config);
		g_rmdir(bus->dir);
	}
	g_free(bus->dir);
	g_free(bus->address);
	g_free(bus);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Bus, bus_free)

static GVariant *
mock_call(Bus *bus, const gchar *method, GVariant *args, const gchar *reply_type)
{
	g_autoptr(GError) error = NULL;
	GVariant *reply =
	    g_dbus_connection_call_sync(bus->connection, MM_NAME, MM_PATH, MOCK_IFACE, method, args,
					reply_type != NULL ? G_VARIANT_TYPE(reply_type) : NULL,
					G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);

	g_assert_no_error(error);
	return reply;
}

/* what the modem sent, as (number, text) pairs */
static GVariant *
mock_sent(Bus *bus)
{
	g_autoptr(GVariant) reply = mock_call(bus, "GetSent", NULL, "(a(ss))");
	return g_variant_get_child_value(reply, 0);
}

static guint
mock_n_messages(Bus *bus)
{
	g_autoptr(GVariant) reply = mock_call(bus, "GetMessages", NULL, "(ao)");
	g_autoptr(GVariant) list = g_variant_get_child_value(reply, 0);
	return (guint)g_variant_n_children(list);
}

typedef struct {
	Bus *bus;
	guint n;
} SentWait;

static gboolean
sent_cb(gpointer user_data)
{
	SentWait *wait = user_data;
	g_autoptr(GVariant) sent = mock_sent(wait->bus);
	return g_variant_n_children(sent) >= wait->n;
}

/* waits for the @n-th message sent; returns its text */
static gchar *
wait_sent(Bus *bus, guint n, const gchar *to)
{
	SentWait wait = {bus, n};
	g_autoptr(GVariant) sent = NULL;
	const gchar *number = NULL;
	const gchar *text = NULL;

	if (!vb_test_poll(sent_cb, &wait, VB_GW_WAIT_MS))
		g_error("the modem did not send message %u", n);
	sent = mock_sent(bus);
	g_variant_get_child(sent, n - 1, "(&s&s)", &number, &text);
	g_assert_cmpstr(number, ==, to);
	return g_strdup(text);
}

static gboolean
no_messages_cb(gpointer user_data)
{
	return mock_n_messages(user_data) == 0;
}

/* a daemon sending through the modem, with @instance_keys (may be NULL) in
 * the plugin instance's section */
static VbTestDaemon *
daemon_new_with(Bus *bus, const gchar *instance_keys)
{
	VbTestDaemon *d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *drop_in = g_strconcat("[vestibule]\n"
						"operator-contact=" CONTACT "\n"
						"[services]\n"
						"sms=modem\n"
						"[instance:modem]\n"
						"plugin=modemmanager\n",
						instance_keys, NULL);

	vb_test_daemon_write_drop_in(d, "50-modem.conf", drop_in);
	g_ptr_array_add(d->env, g_strdup_printf("DBUS_SYSTEM_BUS_ADDRESS=%s", bus->address));
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start: %s", error->message);
	return d;
}

static VbTestDaemon *
daemon_new(Bus *bus)
{
	return daemon_new_with(bus, NULL);
}

/* the path of the one sent message the modem holds, once it is the only
 * message there */
typedef struct {
	Bus *bus;
	gchar *path;
} SubmitWait;

static gboolean
one_submit_cb(gpointer user_data)
{
	SubmitWait *wait = user_data;
	g_autoptr(GVariant) reply = mock_call(wait->bus, "GetMessages", NULL, "(ao)");
	g_autoptr(GVariant) list = g_variant_get_child_value(reply, 0);
	g_autoptr(GVariant) type = NULL;
	const gchar *path = NULL;

	if (g_variant_n_children(list) != 1)
		return FALSE;
	g_variant_get_child(list, 0, "&o", &path);
	type = g_dbus_connection_call_sync(
	    wait->bus->connection, MM_NAME, path, "org.freedesktop.DBus.Properties", "Get",
	    g_variant_new("(ss)", MM_NAME ".Sms", "PduType"), G_VARIANT_TYPE("(v)"),
	    G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
	if (type == NULL)
		return FALSE;
	{
		g_autoptr(GVariant) value = NULL;
		g_variant_get(type, "(v)", &value);
		if (g_variant_get_uint32(value) != 2 /* MM_SMS_PDU_TYPE_SUBMIT */)
			return FALSE;
	}
	wait->path = g_strdup(path);
	return TRUE;
}

static gchar *
wait_one_sent_on_modem(Bus *bus)
{
	SubmitWait wait = {bus, NULL};

	if (!vb_test_poll(one_submit_cb, &wait, VB_GW_WAIT_MS))
		g_error("the modem does not hold the sent message alone");
	return wait.path;
}

/* the network's delivery report for the message at @path */
static void
mock_report(Bus *bus, const gchar *path, guint delivery_state)
{
	g_variant_unref(
	    mock_call(bus, "ReportDelivery", g_variant_new("(ou)", path, delivery_state), NULL));
}

typedef struct {
	VbTestDaemon *d;
	const gchar *state;
	guint n;
} SmsStateWait;

static gboolean
sms_state_cb(gpointer user_data)
{
	SmsStateWait *wait = user_data;
	return vb_gw_count_events(wait->d, "sms-status", wait->state) >= wait->n;
}

/* waits for the @n-th sms-status event with @state */
static void
wait_sms_state(VbTestDaemon *d, const gchar *state, guint n)
{
	g_autofree gchar *needle = g_strdup_printf("\"%s\"", state);
	SmsStateWait wait = {d, needle, n};

	if (!vb_test_poll(sms_state_cb, &wait, VB_GW_WAIT_MS))
		g_error("no sms-status %s came", state);
}

typedef struct {
	VbTestDaemon *d;
	const gchar *needle;
} StatusWait;

static gchar *
status_text(VbTestDaemon *d)
{
	g_autofree gchar *out = NULL;

	g_assert_cmpint(vb_test_daemon_run_ctl(d, &out, NULL, "status", NULL), ==, 0);
	return g_steal_pointer(&out);
}

static gboolean
status_cb(gpointer user_data)
{
	StatusWait *wait = user_data;
	g_autofree gchar *out = status_text(wait->d);
	return strstr(out, wait->needle) != NULL;
}

/* waits until `vestibulectl status` shows @needle */
static void
wait_status(VbTestDaemon *d, const gchar *needle)
{
	StatusWait wait = {d, needle};

	if (!vb_test_poll(status_cb, &wait, VB_GW_WAIT_MS)) {
		g_autofree gchar *out = status_text(d);
		g_error("vestibulectl status never showed '%s':\n%s", needle, out);
	}
}

static void
shopper_asks_for_code(VbTestDaemon *d)
{
	vb_gw_tap(d, PAN_A);
	vb_gw_wait_screen(d, "enter-phone");
	vb_gw_press(d, PHONE_A_TYPED);
	vb_gw_wait_screen(d, "enter-code");
}

static void
shopper_types_code(VbTestDaemon *d, const gchar *text)
{
	g_autofree gchar *code = vb_gw_code_in(text);

	g_assert_nonnull(code);
	vb_gw_press(d, code);
	vb_gw_wait_screen(d, "door-open");
}

static gboolean
opted_out_cb(gpointer user_data)
{
	return vb_gw_db_int(user_data, "SELECT COUNT(*) FROM customers WHERE sms_opt_out = 1",
			    NULL) == 1;
}

static void
test_send_receive(void)
{
	g_autoptr(Bus) bus = bus_new();
	g_autoptr(VbTestDaemon) d = daemon_new(bus);
	g_autofree gchar *text = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *status = NULL;
	g_autofree gchar *expected = NULL;
	g_autofree gchar *code = NULL;
	g_autofree gchar *sent_path = NULL;
	g_autoptr(GVariant) path = NULL;
	g_autoptr(GVariant) requests = NULL;
	g_autofree gchar *printed = NULL;

	/* the operator sees the modem, its signal and its network */
	wait_status(d, "/org/freedesktop/ModemManager1/Modem/0");
	status = status_text(d);
	vb_gw_assert_contains(status, "Quectel EC25");
	vb_gw_assert_contains(status, "71");
	vb_gw_assert_contains(status, "home");
	vb_gw_assert_contains(status, "Orange F");

	/* the code goes out through the modem, and opens the door */
	shopper_asks_for_code(d);
	text = wait_sent(bus, 1, PHONE_A);
	code = vb_gw_code_in(text);
	expected = g_strdup_printf(
	    "Test store: your code is %s. It is valid for 10 minutes. Never share it.", code);
	g_assert_cmpstr(text, ==, expected);
	shopper_types_code(d, text);
	g_assert_cmpuint(vb_gw_count_events(d, "sms-status", "\"sent\""), ==, 1);

	/* it asked for a delivery report, and waits on the modem for it: a
	 * temporary error (the phone is off, the network tries again) changes
	 * nothing; then the report says delivered, and the message is deleted */
	sent_path = wait_one_sent_on_modem(bus);
	requests = mock_call(bus, "GetReportRequests", NULL, "(ab)");
	printed = g_variant_print(requests, FALSE);
	g_assert_cmpstr(printed, ==, "([true],)");
	mock_report(bus, sent_path, 0x22 /* temporary error, no response from the phone */);
	mock_report(bus, sent_path, 0x00 /* received by the phone */);
	wait_sms_state(d, "delivered", 1);
	g_assert_true(vb_test_poll(no_messages_cb, bus, VB_GW_WAIT_MS));
	g_assert_cmpuint(vb_gw_count_events(d, "sms-status", NULL), ==, 2);
	g_assert_cmpuint(vb_gw_count_events(d, "sms-status", "\"undelivered\""), ==, 0);
	wait_status(d, "delivered=1");

	/* HELP from the shopper's phone: the core answers, the text is deleted */
	path = mock_call(bus, "ReceiveSms", g_variant_new("(ssb)", PHONE_A, "HELP", TRUE), "(o)");
	reply = wait_sent(bus, 2, PHONE_A);
	g_assert_cmpstr(reply, ==,
			"Test store: for help, contact " CONTACT
			". Reply STOP to receive no more messages.");
	/* this one never reaches the phone: the network gives up */
	g_free(sent_path);
	sent_path = wait_one_sent_on_modem(bus);
	mock_report(bus, sent_path, 0x46 /* validity period expired */);
	wait_sms_state(d, "undelivered", 1);
	g_assert_true(vb_test_poll(no_messages_cb, bus, VB_GW_WAIT_MS));
	wait_status(d, "undelivered=1");

	/* STOP in two parts: handled once the last part is in */
	g_clear_pointer(&path, g_variant_unref);
	path = mock_call(bus, "ReceiveSms", g_variant_new("(ssb)", PHONE_A, "STOP", FALSE), "(o)");
	g_assert_cmpuint(mock_n_messages(bus), ==, 1);
	{
		const gchar *sms_path = NULL;
		g_autoptr(GVariant) done = NULL;
		g_variant_get(path, "(&o)", &sms_path);
		done = mock_call(bus, "CompleteSms", g_variant_new("(o)", sms_path), NULL);
	}
	g_assert_true(vb_test_poll(opted_out_cb, d, VB_GW_WAIT_MS));
	g_assert_true(vb_test_poll(no_messages_cb, bus, VB_GW_WAIT_MS));
	g_assert_cmpuint(vb_gw_count_events(d, "sms-received", NULL), ==, 2);
	wait_status(d, "received");
	g_assert_false(vb_test_daemon_files_contain(d, PHONE_A));
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static gboolean
retried_cb(gpointer user_data)
{
	VbTestDaemon *d = user_data;
	g_autofree gchar *error = vb_gw_db_text(
	    d, "SELECT last_error FROM outbox WHERE kind = 'sms' ORDER BY id LIMIT 1", NULL);

	return vb_gw_db_int(d, "SELECT attempts FROM outbox WHERE kind = 'sms'", NULL) >= 2 &&
	       error != NULL && strstr(error, "modem") != NULL;
}

static void
test_modem_removed(void)
{
	g_autoptr(Bus) bus = bus_new();
	g_autoptr(VbTestDaemon) d = daemon_new(bus);
	g_autofree gchar *text = NULL;
	g_autoptr(GVariant) sent = NULL;

	wait_status(d, "/org/freedesktop/ModemManager1/Modem/0");
	g_variant_unref(mock_call(bus, "RemoveModem", NULL, NULL));
	wait_status(d, "modem=none");

	/* no modem: the code waits in the outbox */
	shopper_asks_for_code(d);
	g_assert_true(vb_test_poll(retried_cb, d, VB_GW_WAIT_MS));
	sent = mock_sent(bus);
	g_assert_cmpuint(g_variant_n_children(sent), ==, 0);

	/* the modem is back: the code goes out, once */
	g_variant_unref(mock_call(bus, "AddModem", NULL, NULL));
	text = wait_sent(bus, 1, PHONE_A);
	shopper_types_code(d, text);
	g_clear_pointer(&sent, g_variant_unref);
	sent = mock_sent(bus);
	g_assert_cmpuint(g_variant_n_children(sent), ==, 1);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_mm_restart(void)
{
	g_autoptr(Bus) bus = bus_new();
	g_autoptr(VbTestDaemon) d = daemon_new(bus);
	g_autofree gchar *text = NULL;

	wait_status(d, "/org/freedesktop/ModemManager1/Modem/0");
	mock_stop(bus);
	wait_status(d, "modemmanager=not running");
	mock_start(bus);
	wait_status(d, "/org/freedesktop/ModemManager1/Modem/0");

	/* the new ModemManager's modem sends */
	shopper_asks_for_code(d);
	text = wait_sent(bus, 1, PHONE_A);
	shopper_types_code(d, text);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* a first-time shopper gets the code through the modem and types it */
static void
shopper_gets_in(Bus *bus, VbTestDaemon *d)
{
	g_autofree gchar *text = NULL;

	wait_status(d, "/org/freedesktop/ModemManager1/Modem/0");
	shopper_asks_for_code(d);
	text = wait_sent(bus, 1, PHONE_A);
	shopper_types_code(d, text);
}

static void
test_reports_off(void)
{
	g_autoptr(Bus) bus = bus_new();
	g_autoptr(VbTestDaemon) d = daemon_new_with(bus, "delivery-reports=false\n");
	g_autoptr(GVariant) requests = NULL;
	g_autofree gchar *printed = NULL;

	/* no report asked for: the sent message leaves the modem at once, and
	 * its last state is sent */
	shopper_gets_in(bus, d);
	g_assert_true(vb_test_poll(no_messages_cb, bus, VB_GW_WAIT_MS));
	requests = mock_call(bus, "GetReportRequests", NULL, "(ab)");
	printed = g_variant_print(requests, FALSE);
	g_assert_cmpstr(printed, ==, "([false],)");
	g_assert_cmpuint(vb_gw_count_events(d, "sms-status", NULL), ==, 1);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

static void
test_report_after_restart(void)
{
	g_autoptr(Bus) bus = bus_new();
	g_autoptr(VbTestDaemon) d = daemon_new(bus);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *sent_path = NULL;

	/* vestibuled stops while a report is awaited: the next one does not
	 * know the message, and deletes it so that the SIM does not fill up */
	shopper_gets_in(bus, d);
	sent_path = wait_one_sent_on_modem(bus);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
	g_assert_cmpuint(mock_n_messages(bus), ==, 1);
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start again: %s", error->message);
	g_assert_true(vb_test_poll(no_messages_cb, bus, VB_GW_WAIT_MS));
	g_assert_cmpuint(vb_gw_count_events(d, "sms-status", "\"delivered\""), ==, 0);
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/modemmanager/send-receive", test_send_receive);
	g_test_add_func("/modemmanager/modem-removed", test_modem_removed);
	g_test_add_func("/modemmanager/restart", test_mm_restart);
	g_test_add_func("/modemmanager/reports-off", test_reports_off);
	g_test_add_func("/modemmanager/report-after-restart", test_report_after_restart);
	return g_test_run();
}
