/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "vb-emu-card.h"
#include "vb-pn532-emu.h"
#include "../vb-test-daemon.h"

/*
 * The daemon with the nfc plugin at the front door, reading emulated cards
 * through the real libnfc and an emulated PN532 on a pseudo-terminal: what
 * the core sees of each card, what the operator sees of the reader, and that
 * no card number reaches a log or the database.
 */

#define TEST_WAIT_MS 10000

typedef struct {
	VbPn532Emu *emu;
	VbTestDaemon *daemon;
	gchar *dir;
} Fixture;

static gchar *
config_for(const gchar *connstring, const gchar *extra)
{
	return g_strdup_printf("[door:front]\n"
			       "reader=reader\n"
			       "[instance:reader]\n"
			       "plugin=nfc\n"
			       "connstring=%s\n"
			       "poll-period-ms=30\n"
			       "field-off-ms=10\n"
			       "%s",
			       connstring, extra != NULL ? extra : "");
}

static void
fixture_start(Fixture *f, gboolean with_link, const gchar *extra)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *link = NULL;
	g_autofree gchar *connstring = NULL;
	g_autofree gchar *config = NULL;

	f->dir = g_dir_make_tmp("vb-nfc-XXXXXX", &error);
	g_assert_no_error(error);
	if (with_link)
		link = g_build_filename(f->dir, "ttyPN532", NULL);
	f->emu = vb_pn532_emu_new(link);
	connstring = vb_pn532_emu_connstring(f->emu);
	config = config_for(connstring, extra);
	f->daemon = vb_test_daemon_new(config);
	if (!vb_test_daemon_start(f->daemon, &error))
		g_error("%s", error->message);
}

static void
fixture_stop(Fixture *f)
{
	g_autoptr(GTimer) timer = g_timer_new();

	/* the reader's thread stops at once, even in the middle of a poll */
	g_assert_cmpint(vb_test_daemon_stop(f->daemon), ==, 0);
	g_assert_cmpfloat(g_timer_elapsed(timer, NULL), <, 3.0);
	g_clear_pointer(&f->daemon, vb_test_daemon_free);
	g_clear_pointer(&f->emu, vb_pn532_emu_free);
	g_rmdir(f->dir);
	g_clear_pointer(&f->dir, g_free);
}

/* the events named @name from the reader, as JSON payloads */
static GPtrArray *
reader_events(VbTestDaemon *d, const gchar *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	JsonArray *events;

	node = vb_test_daemon_ctl(d, "GET", "/v1/events?limit=1000", NULL, &error);
	g_assert_no_error(error);
	events = json_object_get_array_member(json_node_get_object(node), "events");
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *ev = json_array_get_object_element(events, i);
		if (g_strcmp0(json_object_get_string_member(ev, "name"), name) != 0 ||
		    g_strcmp0(json_object_get_string_member_with_default(ev, "source", NULL),
			      "reader") != 0)
			continue;
		g_ptr_array_add(out, json_node_copy(json_object_get_member(ev, "payload")));
	}
	return out;
}

typedef struct {
	VbTestDaemon *daemon;
	const gchar *name;
	guint n;
} WaitEvents;

static gboolean
wait_events_cb(gpointer user_data)
{
	WaitEvents *w = user_data;
	g_autoptr(GPtrArray) events = reader_events(w->daemon, w->name);
	return events->len >= w->n;
}

/* waits until the reader has emitted @n events named @name; returns them */
static GPtrArray *
wait_events(VbTestDaemon *d, const gchar *name, guint n)
{
	WaitEvents w = {d, name, n};
	GPtrArray *events;

	if (!vb_test_poll(wait_events_cb, &w, TEST_WAIT_MS)) {
		g_autofree gchar *log = vb_test_daemon_read_log(d);
		g_error("waited for %u %s events from the reader; its log:\n%s", n, name, log);
	}
	events = reader_events(d, name);
	g_assert_cmpuint(events->len, ==, n);
	return events;
}

static const gchar *
payload_str(GPtrArray *events, guint i, const gchar *key)
{
	JsonObject *obj = json_node_get_object(g_ptr_array_index(events, i));
	return json_object_get_string_member_with_default(obj, key, NULL);
}

/* the instance's status, as `vestibulectl status` prints it */
static JsonObject *
reader_status(VbTestDaemon *d, JsonNode **keep)
{
	g_autoptr(GError) error = NULL;
	JsonArray *instances;

	g_clear_pointer(keep, json_node_unref);
	*keep = vb_test_daemon_ctl(d, "GET", "/v1/plugins", NULL, &error);
	g_assert_no_error(error);
	instances = json_object_get_array_member(json_node_get_object(*keep), "instances");
	for (guint i = 0; i < json_array_get_length(instances); i++) {
		JsonObject *inst = json_array_get_object_element(instances, i);
		if (g_strcmp0(json_object_get_string_member(inst, "name"), "reader") == 0) {
			g_assert_cmpstr(json_object_get_string_member(inst, "state"), ==,
					"running");
			return json_object_get_object_member(inst, "status");
		}
	}
	g_assert_not_reached();
}

typedef struct {
	VbPn532Emu *emu;
	guint8 code;
	guint n;
} WaitCommands;

static gboolean
wait_commands_cb(gpointer user_data)
{
	WaitCommands *w = user_data;
	return vb_pn532_emu_count(w->emu, w->code) >= w->n;
}

/* the reader has sent @more commands of @code since now */
static void
wait_more_commands(VbPn532Emu *emu, guint8 code, guint more)
{
	WaitCommands w = {emu, code, vb_pn532_emu_count(emu, code) + more};
	g_assert_true(vb_test_poll(wait_commands_cb, &w, TEST_WAIT_MS));
}

typedef struct {
	VbTestDaemon *daemon;
	const gchar *key;
	gint64 value;
} WaitStatus;

static gboolean
wait_status_cb(gpointer user_data)
{
	WaitStatus *w = user_data;
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *status = reader_status(w->daemon, &keep);
	return json_object_get_int_member_with_default(status, w->key, -1) >= w->value;
}

static void
wait_status(VbTestDaemon *d, const gchar *key, gint64 value)
{
	WaitStatus w = {d, key, value};
	g_assert_true(vb_test_poll(wait_status_cb, &w, TEST_WAIT_MS));
}

/* presents @card, checks the one event it gives while held, then removes it */
static GPtrArray *
tap(Fixture *f, VbEmuCard *card, guint n_before)
{
	g_autoptr(GPtrArray) events = NULL;
	g_autoptr(GPtrArray) removed = NULL;

	vb_pn532_emu_insert(f->emu, card);
	events = wait_events(f->daemon, "card-presented", n_before + 1);
	/* held over several presence checks (an R(NAK) for a smart card, a new
	 * selection for a tag): still one event */
	wait_more_commands(f->emu,
			   (card->sak & 0x20) != 0 ? VB_PN532_IN_COMMUNICATE_THRU
						   : VB_PN532_IN_LIST_PASSIVE_TARGET,
			   4);
	g_clear_pointer(&events, g_ptr_array_unref);
	events = reader_events(f->daemon, "card-presented");
	g_assert_cmpuint(events->len, ==, n_before + 1);
	vb_pn532_emu_remove(f->emu);
	removed = wait_events(f->daemon, "card-removed", n_before + 1);
	return g_steal_pointer(&events);
}

static void
assert_card(GPtrArray *events,
	    guint i,
	    const gchar *pan,
	    const gchar *expiry,
	    const gchar *scheme,
	    const gchar *language)
{
	g_autofree gchar *first6 = g_strndup(pan, 6);

	g_assert_cmpstr(payload_str(events, i, "card-kind"), ==, "payment");
	g_assert_cmpstr(payload_str(events, i, "first6"), ==, first6);
	g_assert_cmpstr(payload_str(events, i, "last4"), ==, pan + strlen(pan) - 4);
	g_assert_cmpstr(payload_str(events, i, "expiry"), ==, expiry);
	g_assert_cmpstr(payload_str(events, i, "scheme"), ==, scheme);
	g_assert_cmpstr(payload_str(events, i, "language"), ==, language);
	g_assert_cmpuint(strlen(payload_str(events, i, "token")), ==, 64);
}

static void
assert_no_pan_stored(VbTestDaemon *d)
{
	const gchar *pans[] = {
	    VB_EMU_PAN_VISA,	VB_EMU_PAN_MC,	VB_EMU_PAN_TRACK2,  VB_EMU_PAN_FR,
	    VB_EMU_PAN_COBADGE, VB_EMU_PAN_BAD, "D290520100000000", NULL};

	for (guint i = 0; pans[i] != NULL; i++) {
		g_autofree gchar *file = vb_test_daemon_file_containing(d, pans[i]);
		if (file != NULL)
			g_error("a card number is in %s", file);
	}
}

/* the cards of the issue, one after the other, at one reader */
static void
test_nfc_cards(void)
{
	Fixture f = {0};
	g_autoptr(VbEmuCard) visa = vb_emu_card_visa();
	g_autoptr(VbEmuCard) mc = vb_emu_card_mastercard();
	g_autoptr(VbEmuCard) track2 = vb_emu_card_track2_only();
	g_autoptr(VbEmuCard) french = vb_emu_card_french();
	g_autoptr(VbEmuCard) two_aids = vb_emu_card_two_aids();
	g_autoptr(GPtrArray) events = NULL;
	g_autoptr(GPtrArray) states = NULL;
	g_autoptr(JsonNode) keep = NULL;
	g_autofree gchar *out = NULL;
	JsonObject *status;

	fixture_start(&f, FALSE, NULL);
	states = wait_events(f.daemon, "reader-state", 1);
	g_assert_cmpstr(payload_str(states, 0, "state"), ==, "ready");
	status = reader_status(f.daemon, &keep);
	g_assert_cmpstr(json_object_get_string_member(status, "firmware"), ==, "PN532 v1.6");
	g_assert_true(g_str_has_prefix(json_object_get_string_member(status, "connstring"),
				       "pn532_uart:/dev/pts/"));

	/* a Visa: PPSE, PDOL, GPO in format 2 */
	g_clear_pointer(&events, g_ptr_array_unref);
	events = tap(&f, visa, 0);
	assert_card(events, 0, VB_EMU_PAN_VISA, "2028-12", "visa", "en");
	g_assert_cmpuint(visa->n_gpo, ==, 1);

	/* a Mastercard: GPO in format 1, records in two SFIs */
	g_clear_pointer(&events, g_ptr_array_unref);
	events = tap(&f, mc, 1);
	assert_card(events, 1, VB_EMU_PAN_MC, "2027-10", "mastercard", "de");

	/* the PAN only in track 2 */
	g_clear_pointer(&events, g_ptr_array_unref);
	events = tap(&f, track2, 2);
	assert_card(events, 2, VB_EMU_PAN_TRACK2, "2029-05", "visa", NULL);

	/* a French card */
	g_clear_pointer(&events, g_ptr_array_unref);
	events = tap(&f, french, 3);
	assert_card(events, 3, VB_EMU_PAN_FR, "2030-06", "cb", "fr");

	/* two applications: the card's priority picks Visa */
	g_clear_pointer(&events, g_ptr_array_unref);
	events = tap(&f, two_aids, 4);
	assert_card(events, 4, VB_EMU_PAN_COBADGE, "2029-11", "visa", "fr");

	/* another card, another token */
	g_assert_cmpstr(payload_str(events, 0, "token"), !=, payload_str(events, 1, "token"));

	/* what the operator sees */
	status = reader_status(f.daemon, &keep);
	g_assert_cmpstr(json_object_get_string_member(status, "state"), ==, "ready");
	g_assert_cmpint(json_object_get_int_member(status, "reads"), ==, 5);
	g_assert_false(json_object_get_boolean_member(status, "card-in-field"));
	g_assert_cmpint(vb_test_daemon_run_ctl(f.daemon, &out, NULL, "status", NULL), ==, 0);
	g_assert_nonnull(strstr(out, "reader (nfc): state=ready"));
	g_assert_nonnull(strstr(out, "firmware=PN532 v1.6"));
	g_assert_null(strstr(out, VB_EMU_PAN_COBADGE));

	assert_no_pan_stored(f.daemon);
	fixture_stop(&f);
}

/* malformed cards give no event and leave the reader working; the log says
 * why with tags, lengths and status words, never a card number */
static void
test_nfc_malformed(void)
{
	Fixture f = {0};
	g_autoptr(VbEmuCard) truncated = vb_emu_card_truncated_tlv();
	g_autoptr(VbEmuCard) overflow = vb_emu_card_length_overflow();
	g_autoptr(VbEmuCard) wrong_sw = vb_emu_card_wrong_sw();
	g_autoptr(VbEmuCard) vanishing = vb_emu_card_vanishing();
	g_autoptr(VbEmuCard) visa = vb_emu_card_visa();
	VbEmuCard *bad[] = {truncated, overflow, wrong_sw, vanishing};
	g_autoptr(GPtrArray) events = NULL;
	g_autoptr(GPtrArray) states = NULL;
	g_autoptr(JsonNode) keep = NULL;
	g_autofree gchar *log = NULL;
	JsonObject *status;

	fixture_start(&f, FALSE, NULL);
	states = wait_events(f.daemon, "reader-state", 1);
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		vb_pn532_emu_insert(f.emu, bad[i]);
		wait_status(f.daemon, "failed-reads", i + 1);
		vb_pn532_emu_remove(f.emu);
	}
	g_assert_true(vanishing->gone);
	/* the vanished card was not read again and again */
	g_assert_cmpuint(vanishing->n_gpo, ==, 1);
	status = reader_status(f.daemon, &keep);
	g_assert_cmpstr(json_object_get_string_member(status, "last-error"), ==,
			"READ RECORD 1/1: the card did not answer (RF Transmission Error)");

	/* the reader still reads */
	events = tap(&f, visa, 0);
	assert_card(events, 0, VB_EMU_PAN_VISA, "2028-12", "visa", "en");
	g_clear_pointer(&events, g_ptr_array_unref);
	events = reader_events(f.daemon, "card-presented");
	g_assert_cmpuint(events->len, ==, 1);
	g_clear_pointer(&states, g_ptr_array_unref);
	states = reader_events(f.daemon, "reader-state");
	g_assert_cmpuint(states->len, ==, 1);

	log = vb_test_daemon_read_log(f.daemon);
	g_assert_nonnull(strstr(log, "SELECT AID: truncated TLV: tag 6F says 48 bytes"));
	g_assert_nonnull(strstr(log, "READ RECORD 1/1: malformed TLV: length of 4 bytes"));
	g_assert_nonnull(strstr(log, "GPO: the card answered status 6985"));
	assert_no_pan_stored(f.daemon);
	fixture_stop(&f);
}

/* a MIFARE tag is not a payment card: ignored unless allow-uid, then
 * presented by UID and marked as such */
static void
test_nfc_mifare(void)
{
	Fixture f = {0};
	g_autoptr(VbEmuCard) tag = vb_emu_card_mifare();
	g_autoptr(GPtrArray) events = NULL;
	g_autoptr(GPtrArray) states = NULL;
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *obj;

	fixture_start(&f, FALSE, NULL);
	states = wait_events(f.daemon, "reader-state", 1);
	vb_pn532_emu_insert(f.emu, tag);
	wait_status(f.daemon, "ignored-tags", 1);
	/* held: ignored once, not at every poll */
	wait_more_commands(f.emu, VB_PN532_IN_LIST_PASSIVE_TARGET, 4);
	obj = reader_status(f.daemon, &keep);
	g_assert_cmpint(json_object_get_int_member(obj, "ignored-tags"), ==, 1);
	vb_pn532_emu_remove(f.emu);
	events = reader_events(f.daemon, "card-presented");
	g_assert_cmpuint(events->len, ==, 0);
	fixture_stop(&f);

	fixture_start(&f, FALSE, "allow-uid=true\n");
	g_clear_pointer(&events, g_ptr_array_unref);
	events = tap(&f, tag, 0);
	obj = json_node_get_object(g_ptr_array_index(events, 0));
	g_assert_cmpstr(json_object_get_string_member(obj, "card-kind"), ==, "uid");
	g_assert_false(json_object_has_member(obj, "first6"));
	g_assert_false(json_object_has_member(obj, "scheme"));
	g_assert_cmpuint(strlen(json_object_get_string_member(obj, "token")), ==, 64);
	fixture_stop(&f);
}

/* the reader is pulled out and plugged back: the state follows on the bus
 * and in the status, the daemon keeps answering, and reading resumes */
static void
test_nfc_reader_unplugged(void)
{
	Fixture f = {0};
	g_autoptr(VbEmuCard) visa = vb_emu_card_visa();
	g_autoptr(VbEmuCard) mc = vb_emu_card_mastercard();
	g_autoptr(GPtrArray) events = NULL;
	g_autoptr(GPtrArray) states = NULL;
	g_autoptr(GPtrArray) removed = NULL;
	g_autoptr(JsonNode) keep = NULL;
	g_autofree gchar *out = NULL;
	JsonObject *status;

	fixture_start(&f, TRUE, "reopen-min-ms=50\nreopen-max-ms=400\n");
	states = wait_events(f.daemon, "reader-state", 1);

	/* a card in the field when the reader goes */
	vb_pn532_emu_insert(f.emu, visa);
	events = wait_events(f.daemon, "card-presented", 1);
	vb_pn532_emu_unplug(f.emu);
	vb_pn532_emu_remove(f.emu);
	g_clear_pointer(&states, g_ptr_array_unref);
	states = wait_events(f.daemon, "reader-state", 2);
	g_assert_cmpstr(payload_str(states, 1, "state"), ==, "absent");
	g_assert_nonnull(strstr(payload_str(states, 1, "error"), "ttyPN532"));
	removed = wait_events(f.daemon, "card-removed", 1);

	/* the status says so, with the next attempt; the daemon answers at once */
	wait_status(f.daemon, "reopens", 2);
	status = reader_status(f.daemon, &keep);
	g_assert_cmpstr(json_object_get_string_member(status, "state"), ==, "absent");
	g_assert_true(json_object_has_member(status, "next-reopen"));
	g_assert_nonnull(strstr(json_object_get_string_member(status, "last-error"),
				"no NFC reader answers at pn532_uart:"));
	g_assert_cmpint(vb_test_daemon_run_ctl(f.daemon, &out, NULL, "status", NULL), ==, 0);
	g_assert_nonnull(strstr(out, "reader absent"));

	/* back: ready again, and a card is read */
	vb_pn532_emu_replug(f.emu);
	g_clear_pointer(&states, g_ptr_array_unref);
	states = wait_events(f.daemon, "reader-state", 3);
	g_assert_cmpstr(payload_str(states, 2, "state"), ==, "ready");
	g_clear_pointer(&events, g_ptr_array_unref);
	events = tap(&f, mc, 1);
	assert_card(events, 1, VB_EMU_PAN_MC, "2027-10", "mastercard", "de");
	assert_no_pan_stored(f.daemon);
	fixture_stop(&f);
}

/* the line of `vestibulectl status` that starts with @prefix */
static gchar *
status_line(const gchar *out, const gchar *prefix)
{
	g_auto(GStrv) lines = g_strsplit(out, "\n", -1);

	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], prefix))
			return g_strdup(lines[i]);
	}
	g_error("no line starts with '%s' in:\n%s", prefix, out);
}

typedef struct {
	VbTestDaemon *daemon;
	gint64 reopens;
	gdouble slowest;
} WaitReopens;

/* each request to the daemon timed: the reader's thread, blocked in libnfc,
 * must not hold up the control API */
static gboolean
wait_reopens_cb(gpointer user_data)
{
	WaitReopens *w = user_data;
	g_autoptr(GTimer) timer = g_timer_new();
	g_autoptr(JsonNode) keep = NULL;
	JsonObject *status = reader_status(w->daemon, &keep);
	const gchar *last_error =
	    json_object_get_string_member_with_default(status, "last-error", "");

	w->slowest = MAX(w->slowest, g_timer_elapsed(timer, NULL));
	g_assert_cmpstr(json_object_get_string_member(status, "state"), ==, "error");
	return json_object_get_int_member(status, "reopens") >= w->reopens &&
	       g_str_has_prefix(last_error, "no NFC reader answers at ");
}

/* waits, the reader in error, until @more attempts to reopen it failed; the
 * daemon answered every request at once meanwhile */
static void
wait_more_reopens(VbTestDaemon *d, gint64 more)
{
	g_autoptr(JsonNode) keep = NULL;
	WaitReopens w = {d, 0, 0};

	w.reopens = json_object_get_int_member(reader_status(d, &keep), "reopens") + more;
	if (!vb_test_poll(wait_reopens_cb, &w, TEST_WAIT_MS)) {
		g_autofree gchar *log = vb_test_daemon_read_log(d);
		g_error("waited for %" G_GINT64_FORMAT " failed reopens; the log:\n%s", w.reopens,
			log);
	}
	g_assert_cmpfloat(w.slowest, <, 2.0);
}

/* the reader in error, as the operator sees it; `vestibulectl status` answers at once */
static void
assert_status_error(Fixture *f, const gchar *link)
{
	g_autoptr(GTimer) timer = g_timer_new();
	g_autofree gchar *out = NULL;
	g_autofree gchar *door = NULL;
	g_autofree gchar *instance = NULL;
	g_autofree gchar *last_error = NULL;

	g_assert_cmpint(vb_test_daemon_run_ctl(f->daemon, &out, NULL, "status", NULL), ==, 0);
	g_assert_cmpfloat(g_timer_elapsed(timer, NULL), <, 2.0);
	door = status_line(out, "door front: ");
	g_assert_nonnull(strstr(door, ", reader error"));
	instance = status_line(out, "reader (nfc): ");
	g_assert_nonnull(strstr(instance, " state=error "));
	last_error = g_strdup_printf(" last-error=no NFC reader answers at pn532_uart:%s;", link);
	g_assert_nonnull(strstr(instance, last_error));
	g_assert_nonnull(strstr(instance, " next-reopen="));
}

/* the reader stays plugged in but fails: frames come back damaged, or not at
 * all. The state follows on the bus and in the status, the daemon keeps
 * answering, the plugin reopens the reader with backoff, and reading resumes
 * once it behaves */
static void
test_nfc_reader_io_errors(void)
{
	Fixture f = {0};
	g_autoptr(VbEmuCard) visa = vb_emu_card_visa();
	g_autoptr(GPtrArray) events = NULL;
	g_autoptr(GPtrArray) states = NULL;
	g_autoptr(GPtrArray) bus = NULL;
	g_autofree gchar *link = NULL;
	g_autofree gchar *failed = NULL;
	guint n_error = 0;

	fixture_start(&f, TRUE, "reopen-min-ms=50\nreopen-max-ms=400\n");
	link = g_build_filename(f.dir, "ttyPN532", NULL);
	failed = g_strdup_printf("the NFC reader at pn532_uart:%s failed (", link);
	states = wait_events(f.daemon, "reader-state", 1);
	g_assert_cmpstr(payload_str(states, 0, "state"), ==, "ready");

	/* damaged frames: libnfc returns I/O errors; the node is there, so error,
	 * not absent */
	vb_pn532_emu_set_fault(f.emu, VB_PN532_FAULT_CHECKSUM);
	g_clear_pointer(&states, g_ptr_array_unref);
	states = wait_events(f.daemon, "reader-state", 2);
	g_assert_cmpstr(payload_str(states, 1, "state"), ==, "error");
	g_assert_true(g_str_has_prefix(payload_str(states, 1, "error"), failed));
	g_assert_nonnull(strstr(payload_str(states, 1, "error"), "(Input / Output Error)"));
	wait_more_reopens(f.daemon, 2);
	assert_status_error(&f, link);
	/* still failing: no new state on the bus */
	g_clear_pointer(&states, g_ptr_array_unref);
	states = reader_events(f.daemon, "reader-state");
	g_assert_cmpuint(states->len, ==, 2);

	/* it behaves again: reopened by itself */
	vb_pn532_emu_set_fault(f.emu, VB_PN532_FAULT_NONE);
	g_clear_pointer(&states, g_ptr_array_unref);
	states = wait_events(f.daemon, "reader-state", 3);
	g_assert_cmpstr(payload_str(states, 2, "state"), ==, "ready");

	/* a hung chip: every command times out, and the reader's thread spends
	 * its time blocked in libnfc */
	vb_pn532_emu_set_fault(f.emu, VB_PN532_FAULT_SILENT);
	g_clear_pointer(&states, g_ptr_array_unref);
	states = wait_events(f.daemon, "reader-state", 4);
	g_assert_cmpstr(payload_str(states, 3, "state"), ==, "error");
	g_assert_true(g_str_has_prefix(payload_str(states, 3, "error"), failed));
	g_assert_nonnull(strstr(payload_str(states, 3, "error"), "(Timeout)"));
	wait_more_reopens(f.daemon, 2);
	assert_status_error(&f, link);

	/* what reached the bus, as any subscriber sees it */
	bus = vb_test_daemon_events(f.daemon, "reader-state");
	for (guint i = 0; i < bus->len; i++) {
		if (strstr(g_ptr_array_index(bus, i), "\"state\":\"error\"") != NULL)
			n_error++;
	}
	g_assert_cmpuint(n_error, ==, 2);

	vb_pn532_emu_set_fault(f.emu, VB_PN532_FAULT_NONE);
	g_clear_pointer(&states, g_ptr_array_unref);
	states = wait_events(f.daemon, "reader-state", 5);
	g_assert_cmpstr(payload_str(states, 4, "state"), ==, "ready");

	/* and a card is read, once */
	events = tap(&f, visa, 0);
	assert_card(events, 0, VB_EMU_PAN_VISA, "2028-12", "visa", "en");
	g_clear_pointer(&states, g_ptr_array_unref);
	states = reader_events(f.daemon, "reader-state");
	g_assert_cmpuint(states->len, ==, 5);
	assert_no_pan_stored(f.daemon);
	fixture_stop(&f);
}

int
main(int argc, char **argv)
{
	/* the machine's libnfc.conf must not matter: no scan, explicit connstrings */
	g_setenv("LIBNFC_AUTO_SCAN", "false", TRUE);
	g_setenv("LIBNFC_INTRUSIVE_SCAN", "false", TRUE);
	g_setenv("LIBNFC_LOG_LEVEL", "1", TRUE);
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/nfc/daemon/cards", test_nfc_cards);
	g_test_add_func("/nfc/daemon/malformed", test_nfc_malformed);
	g_test_add_func("/nfc/daemon/mifare", test_nfc_mifare);
	g_test_add_func("/nfc/daemon/reader-unplugged", test_nfc_reader_unplugged);
	g_test_add_func("/nfc/daemon/reader-io-errors", test_nfc_reader_io_errors);
	return g_test_run();
}
