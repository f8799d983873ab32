/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "vb-context-private.h"
#include "vb-customers-test-private.h"
#include "vb-events.h"
#include "vb-plugin-loader-private.h"
#include "vb-test-files.h"
#include "vb-test-inprocess.h"
#include "vb-visit-private.h"

/*
 * The libFuzzer target of the keypad: the keys a shopper presses at the door,
 * through the phone number and the one-time code of a visit
 * (vb_visit_verify_key() and the phase machine around it), in a vestibuled
 * that runs the simulated store in this process. The daemon starts once, at
 * the first input, with [visit] verify-phone=true, so that a new card goes
 * through both entries; each input is then one or more shoppers at the door.
 *
 * Byte 0 is the first tap: its two low bits pick a card never seen before,
 * the known card (linked to a number at the start, so it skips the entry),
 * or either after '*' (give the card a new number, always proved by a code).
 * Each byte after it is one action: its low four bits 0-9 a digit, 10 erase,
 * 11 cancel, 12 enter, 13 '*', 14 '#'; with 15, the high four bits pick
 * one of FuzzOp. Then the door is brought back to idle (cancel, or the
 * shopper goes in and out) so that the next input starts afresh.
 *
 * Checked after each action, with what a shopper or the store would see:
 * the keypad holds what was typed, at most 15 digits of a number or 6 of a
 * code, and an erase takes the last one; the display shows a code as dots
 * and at most the last 3 digits of a number; the door unlocks only for a
 * hold that the processor approved for that visit and, for a card that had
 * to give a number, only once the code sent to it was typed; and once the
 * door is idle no visit of the input is left in a door's phase.
 */

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

/* the known card, and the number it is linked to at the start */
#define FUZZ_KNOWN_PAN "4970107305551237"
#define FUZZ_KNOWN_PHONE "0639984321"
/* longer inputs add nothing but time: a shopper gives up long before */
#define FUZZ_MAX_ACTIONS 512
#define FUZZ_CODE_DIGITS 6 /* VB_CODE_DIGITS of vb-visit-verify.c */

/* the time-outs are left out of reach: an input runs in milliseconds, and
 * the door's timers are not what this target drives */
#define FUZZ_CONFIG                                                                                \
	"[visit]\nverify-phone=true\nkeypad-timeout-s=600\nopen-timeout-s=600\n"                   \
	"[sms]\nrate-per-minute=0\n" VB_TEST_INPROCESS_SIM_STORE                                   \
	"[instance:front-display]\noutput=log\n"                                                   \
	"[instance:sms]\npath=%s\n"

typedef enum {
	FUZZ_OP_WAIT,	      /* what is due runs: the SMS goes out, the hold is answered */
	FUZZ_OP_TYPE_CODE,    /* the shopper types the code the SMS brought, without enter */
	FUZZ_OP_LATER,	      /* 11 minutes pass: the code expires, the resend limit lifts */
	FUZZ_OP_TAP_NEW,      /* a card never seen before */
	FUZZ_OP_TAP_KNOWN,    /* the known card */
	FUZZ_OP_TAP_AGAIN,    /* the card of the last visit, known now if its number was proved */
	FUZZ_OP_DOOR_OPENED,  /* the door contact, whatever the phase */
	FUZZ_OP_DOOR_CLOSED,  /* the same */
	FUZZ_OP_NEXT_SHOPPER, /* the door is brought back to idle */
} FuzzOp;

typedef struct {
	VbDaemon *daemon;
	gchar *dir;
	gchar *handset_dir;
	gchar *handset; /* the log-sms file: every shopper's handset */
	VbVisitManager *visits;
	VbDoor *door;
	VbStore *store;
	VbPlugin *keypad;
	VbPlugin *lock;
	gint64 clock; /* the customers' wall clock */
	guint64 cards;
	gchar last_pan[20]; /* the card of the last visit */
	/* the current input */
	GString *typed;		/* what the keypad should hold */
	GPtrArray *visit_ids;	/* every visit it started */
	GHashTable *must_prove; /* visit ids whose door asked for a number */
	GHashTable *attempts;	/* visit id -> GPtrArray of the codes entered */
	GHashTable *unlocked;	/* visit ids whose door unlocked */
} Fuzz;

static Fuzz *fz;

/* the customers' clock: each input is a shopper hours after the previous
 * one, so that no resend limit carries over, and FUZZ_OP_LATER moves it */
static gint64
fuzz_clock(gpointer user_data)
{
	return fz->clock;
}

/* runs what is due now, without waiting for any timer */
static void
fuzz_drain(void)
{
	for (guint i = 0; i < 10000 && g_main_context_iteration(NULL, FALSE); i++)
		;
}

static gboolean
fuzz_wake_cb(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

/* the hold's answer, for at most 10 s: the simulated processor answers at
 * once, so a door left authorizing is a hang */
static void
fuzz_wait_authorized(void)
{
	guint wake = g_timeout_add(10, fuzz_wake_cb, NULL);
	gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

	while (fz->door->phase == VB_PHASE_AUTHORIZING && g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(wake);
	g_assert_cmpint(fz->door->phase, !=, VB_PHASE_AUTHORIZING);
}

/* the display */

static gboolean
fuzz_prompt_is(const gchar *id, VbPrompt prompt)
{
	return g_strcmp0(id, vb_prompt_get_id(prompt)) == 0;
}

/* a number shows its last 3 digits at most, a code none: a display may be
 * a log, or be read over the shopper's shoulder */
static void
fuzz_check_screen(const gchar *prompt_id, const gchar *text)
{
	g_autoptr(GString) shown = g_string_new(NULL);
	const gchar *typed = fz->door->digits;
	guint n = fz->door->n_digits;

	for (const gchar *p = text; *p != '\0'; p++) {
		if (g_ascii_isdigit(*p))
			g_string_append_c(shown, *p);
	}
	if (fuzz_prompt_is(prompt_id, VB_PROMPT_ENTER_CODE) ||
	    fuzz_prompt_is(prompt_id, VB_PROMPT_WRONG_CODE)) {
		g_assert_cmpstr(shown->str, ==, "");
	} else if (fuzz_prompt_is(prompt_id, VB_PROMPT_ENTER_PHONE) ||
		   fuzz_prompt_is(prompt_id, VB_PROMPT_INVALID_PHONE)) {
		g_assert_cmpuint(n, <, sizeof(fz->door->digits));
		g_assert_cmpstr(shown->str, ==, typed + (n > 3 ? n - 3 : 0));
	}
}

/* the console display, with output=log, logs each prompt as
 * "DOOR: [PROMPT-ID] TEXT" in its own log domain */
static void
fuzz_display_cb(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
	const gchar *id;
	const gchar *end;
	g_autofree gchar *prompt_id = NULL;

	if (fz == NULL || fz->door == NULL || !g_str_has_prefix(message, "front: ["))
		return;
	id = message + strlen("front: [");
	end = strstr(id, "] ");
	g_assert_nonnull(end);
	prompt_id = g_strndup(id, (gsize)(end - id));
	fuzz_check_screen(prompt_id, end + 2);
}

/* the daemon's messages are dropped, so that the fuzzer's output stays
 * readable; its warnings are shown */
static GLogWriterOutput
fuzz_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG))
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_default(level, fields, n_fields, user_data);
}

/* the door */

/* the hold the simulated processor approved for @visit_id, recorded as the
 * visit's */
static gboolean
fuzz_hold_approved(const gchar *visit_id)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
	    fz->store,
	    "SELECT count(*) FROM visits v JOIN p_sim_payment_holds h "
	    "ON h.psp_reference = v.psp_reference WHERE v.id = ?1 AND h.reference = ?1 "
	    "AND h.instance = 'pay' AND h.state = 'authorized'",
	    &error);

	g_assert_no_error(error);
	vb_store_stmt_bind_text(stmt, 1, visit_id);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
	return vb_store_stmt_column_int64(stmt, 0) == 1;
}

static void
fuzz_event_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	const gchar *visit_id = fz->door->visit_id;

	if (g_strcmp0(vb_event_get_name(event), VB_EVENT_DOOR_UNLOCKED) != 0)
		return;
	/* once per visit, and only for its approved hold */
	g_assert_nonnull(visit_id);
	g_assert_false(g_hash_table_contains(fz->unlocked, visit_id));
	g_assert_true(fuzz_hold_approved(visit_id));
	g_hash_table_add(fz->unlocked, g_strdup(visit_id));
}

/* the keypad holds what was typed: digits up to the phase's bound, erase
 * takes the last, and a submitted entry, a cancel or a new phase wipes them */
static void
fuzz_press(VbKeypadKey key)
{
	VbDoor *door = fz->door;
	VbPhase phase = door->phase;
	gboolean entry = phase == VB_PHASE_ENTER_PHONE || phase == VB_PHASE_ENTER_CODE;
	guint max = phase == VB_PHASE_ENTER_CODE ? FUZZ_CODE_DIGITS : VB_MAX_PHONE_DIGITS;
	g_autofree gchar *visit_id = g_strdup(door->visit_id);

	if (phase == VB_PHASE_ENTER_CODE && key == VB_KEYPAD_KEY_ENTER && fz->typed->len > 0) {
		GPtrArray *attempts = g_hash_table_lookup(fz->attempts, visit_id);
		if (attempts == NULL) {
			attempts = g_ptr_array_new_with_free_func(g_free);
			g_hash_table_insert(fz->attempts, g_strdup(visit_id), attempts);
		}
		g_ptr_array_add(attempts, g_strdup(fz->typed->str));
	}
	vb_keypad_emit_key(VB_KEYPAD(fz->keypad), key);

	if (entry && key <= VB_KEYPAD_KEY_9 && fz->typed->len < max)
		g_string_append_c(fz->typed, (gchar)('0' + key));
	else if (entry && key == VB_KEYPAD_KEY_ERASE && fz->typed->len > 0)
		g_string_truncate(fz->typed, fz->typed->len - 1);
	else if (key == VB_KEYPAD_KEY_CANCEL || key == VB_KEYPAD_KEY_ENTER)
		g_string_truncate(fz->typed, 0);
	if (door->phase != phase || g_strcmp0(door->visit_id, visit_id) != 0)
		g_string_truncate(fz->typed, 0);

	g_assert_cmpuint(door->n_digits, <, sizeof(door->digits));
	g_assert_cmpuint(door->n_digits, ==, fz->typed->len);
	g_assert_cmpmem(door->digits, door->n_digits + 1, fz->typed->str, fz->typed->len + 1);
}

/* a Luhn-valid PAN that no input used before */
static void
fuzz_new_pan(gchar pan[17])
{
	guint sum = 0;

	g_snprintf(pan, 17, "497010%09" G_GUINT64_FORMAT, fz->cards++ % 1000000000);
	/* the check digit: every second digit from the right of it doubled */
	for (guint i = 0; i < 15; i++) {
		guint d = (guint)(pan[14 - i] - '0');
		if (i % 2 == 0)
			d = d * 2 > 9 ? d * 2 - 9 : d * 2;
		sum += d;
	}
	pan[15] = (gchar)('0' + (10 - sum % 10) % 10);
	pan[16] = '\0';
}

static void
fuzz_tap(const gchar *pan)
{
	VbPhase phase = fz->door->phase;
	g_autofree gchar *visit_id = g_strdup(fz->door->visit_id);

	vb_test_inprocess_tap(fz->daemon, "front-reader", pan);
	if (phase != VB_PHASE_IDLE) {
		/* a card during a visit is ignored */
		g_assert_cmpint(fz->door->phase, ==, phase);
		g_assert_cmpstr(fz->door->visit_id, ==, visit_id);
		return;
	}
	g_strlcpy(fz->last_pan, pan, sizeof(fz->last_pan));
	if (fz->door->visit_id == NULL)
		return;
	g_ptr_array_add(fz->visit_ids, g_strdup(fz->door->visit_id));
	if (fz->door->phase == VB_PHASE_ENTER_PHONE)
		g_hash_table_add(fz->must_prove, g_strdup(fz->door->visit_id));
}

static void
fuzz_tap_new(void)
{
	gchar pan[17];

	fuzz_new_pan(pan);
	fuzz_tap(pan);
}

/* the handset */

/* the code the last SMS for @visit_id brought, or NULL */
static gchar *
fuzz_handset_code(const gchar *visit_id)
{
	g_autofree gchar *contents = NULL;
	g_autofree gchar *prefix = g_strconcat(visit_id, ":otp:", NULL);
	g_auto(GStrv) lines = NULL;
	gchar *code = NULL;

	if (!g_file_get_contents(fz->handset, &contents, NULL, NULL))
		return NULL;
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_autoptr(JsonNode) node = json_from_string(lines[i], NULL);
		JsonObject *sms;
		const gchar *body;

		if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
			continue;
		sms = json_node_get_object(node);
		if (!g_str_has_prefix(
			json_object_get_string_member_with_default(sms, "idempotency-key", ""),
			prefix))
			continue;
		/* "STORE: your code is 123456. ...": the only run of 6 digits */
		body = json_object_get_string_member_with_default(sms, "body", "");
		for (const gchar *p = body; *p != '\0'; p++) {
			gsize run = strspn(p, "0123456789");
			if (run == FUZZ_CODE_DIGITS) {
				g_free(code);
				code = g_strndup(p, run);
				break;
			}
			p += run > 0 ? run - 1 : 0;
		}
	}
	return code;
}

static void
fuzz_type_code(void)
{
	g_autofree gchar *code = NULL;

	if (fz->door->visit_id == NULL)
		return;
	fuzz_drain();
	code = fuzz_handset_code(fz->door->visit_id);
	for (const gchar *p = code; p != NULL && *p != '\0'; p++)
		fuzz_press((VbKeypadKey)(*p - '0'));
}

/* the shopper gives up, or goes in and out: the door is idle again */
static void
fuzz_next_shopper(void)
{
	for (guint i = 0; fz->door->phase != VB_PHASE_IDLE; i++) {
		/* entry -> idle; authorizing -> unlocked -> open -> idle */
		g_assert_cmpuint(i, <, 4);
		switch (fz->door->phase) {
		case VB_PHASE_ENTER_PHONE:
		case VB_PHASE_ENTER_CODE:
			fuzz_press(VB_KEYPAD_KEY_CANCEL);
			break;
		case VB_PHASE_AUTHORIZING:
			fuzz_wait_authorized();
			break;
		case VB_PHASE_UNLOCKED:
			vb_plugin_emit(fz->lock, VB_EVENT_DOOR_OPENED, NULL);
			break;
		case VB_PHASE_OPEN:
			vb_plugin_emit(fz->lock, VB_EVENT_DOOR_CLOSED, NULL);
			break;
		case VB_PHASE_IDLE:
		default:
			break;
		}
		fuzz_drain();
	}
	/* a '*' pressed at the idle door is for a tap within 30 s; the next
	 * shopper comes later */
	fz->door->change_phone_until = 0;
}

static void
fuzz_op(FuzzOp op)
{
	switch (op) {
	case FUZZ_OP_WAIT:
		fuzz_drain();
		break;
	case FUZZ_OP_TYPE_CODE:
		fuzz_type_code();
		break;
	case FUZZ_OP_LATER:
		fz->clock += 11 * G_TIME_SPAN_MINUTE;
		break;
	case FUZZ_OP_TAP_NEW:
		fuzz_tap_new();
		break;
	case FUZZ_OP_TAP_KNOWN:
		fuzz_tap(FUZZ_KNOWN_PAN);
		break;
	case FUZZ_OP_TAP_AGAIN:
		if (fz->last_pan[0] != '\0')
			fuzz_tap(fz->last_pan);
		break;
	case FUZZ_OP_DOOR_OPENED:
		vb_plugin_emit(fz->lock, VB_EVENT_DOOR_OPENED, NULL);
		break;
	case FUZZ_OP_DOOR_CLOSED:
		vb_plugin_emit(fz->lock, VB_EVENT_DOOR_CLOSED, NULL);
		break;
	case FUZZ_OP_NEXT_SHOPPER:
	default:
		fuzz_next_shopper();
		break;
	}
}

static void
fuzz_action(guint8 byte)
{
	guint low = byte & 0x0f;

	if (low < VB_KEYPAD_KEY_INVALID)
		fuzz_press((VbKeypadKey)low);
	else
		fuzz_op((FuzzOp)MIN(byte >> 4, FUZZ_OP_NEXT_SHOPPER));
	/* no door opens without its hold and its visit */
	if (fz->door->phase == VB_PHASE_UNLOCKED || fz->door->phase == VB_PHASE_OPEN)
		g_assert_true(g_hash_table_contains(fz->unlocked, fz->door->visit_id));
}

/* an input */

static void
fuzz_begin(void)
{
	fz->clock += 2 * G_TIME_SPAN_HOUR;
	/* the handset is emptied: log-sms reads it whole for each new message */
	g_assert_cmpint(truncate(fz->handset, 0), ==, 0);
	fz->last_pan[0] = '\0';
}

static const gchar *const fuzz_door_states[] = {
    "identified", "enter-phone", "enter-code", "linked", "authorizing", "unlocked", "open",
};

/* the door is idle: no visit is left in a door's phase, and a card that had
 * to give a number opened the door only with the code its SMS brought */
static void
fuzz_end(void)
{
	GHashTableIter iter;
	const gchar *visit_id;

	fuzz_next_shopper();
	fuzz_drain();
	for (guint i = 0; i < fz->visit_ids->len; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(VbStoreStmt) stmt =
		    vb_store_prepare(fz->store, "SELECT state FROM visits WHERE id = ?1", &error);

		g_assert_no_error(error);
		vb_store_stmt_bind_text(stmt, 1, g_ptr_array_index(fz->visit_ids, i));
		g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
		for (guint j = 0; j < G_N_ELEMENTS(fuzz_door_states); j++)
			g_assert_cmpstr(vb_store_stmt_column_text(stmt, 0), !=,
					fuzz_door_states[j]);
	}
	g_hash_table_iter_init(&iter, fz->unlocked);
	while (g_hash_table_iter_next(&iter, (gpointer *)&visit_id, NULL)) {
		g_autofree gchar *code = NULL;
		GPtrArray *attempts;

		if (!g_hash_table_contains(fz->must_prove, visit_id))
			continue;
		code = fuzz_handset_code(visit_id);
		attempts = g_hash_table_lookup(fz->attempts, visit_id);
		g_assert_nonnull(code);
		g_assert_nonnull(attempts);
		g_assert_true(g_ptr_array_find_with_equal_func(attempts, code, g_str_equal, NULL));
	}
	g_string_truncate(fz->typed, 0);
	g_ptr_array_set_size(fz->visit_ids, 0);
	g_hash_table_remove_all(fz->must_prove);
	g_hash_table_remove_all(fz->attempts);
	g_hash_table_remove_all(fz->unlocked);
}

/* the fuzzer ends with exit(): the daemon stops and its files go */
static void
fuzz_stop(void)
{
	VbBus *bus = vb_context_get_bus(vb_daemon_get_context(fz->daemon));

	g_signal_handlers_disconnect_by_func(bus, fuzz_event_cb, NULL);
	vb_test_inprocess_stop(fz->daemon, fz->dir);
	vb_test_remove_tree(fz->handset_dir);
	g_free(fz->dir);
	g_free(fz->handset_dir);
	g_free(fz->handset);
	g_string_free(fz->typed, TRUE);
	g_ptr_array_unref(fz->visit_ids);
	g_hash_table_unref(fz->must_prove);
	g_hash_table_unref(fz->attempts);
	g_hash_table_unref(fz->unlocked);
	g_clear_pointer(&fz, g_free);
}

static void
fuzz_start(void)
{
	VbPluginLoader *loader;
	g_autofree gchar *config = NULL;
	g_autoptr(GError) error = NULL;

	g_log_set_writer_func(fuzz_log_writer, NULL, NULL);
	/* a handler of its own domain: GLib's test framework, which the replay
	 * runs in, takes the default handler and the writer's place */
	g_log_set_handler("console", G_LOG_LEVEL_MASK, fuzz_display_cb, NULL);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	fz = g_new0(Fuzz, 1);
	fz->handset_dir = g_dir_make_tmp("vb-fuzz-keypad-XXXXXX", &error);
	g_assert_no_error(error);
	fz->handset = g_build_filename(fz->handset_dir, "handsets.jsonl", NULL);
	config = g_strdup_printf(FUZZ_CONFIG, fz->handset);
	fz->daemon = vb_test_inprocess_start(config, &fz->dir);
	fz->visits = vb_daemon_get_visit_manager(fz->daemon);
	fz->door = g_hash_table_lookup(fz->visits->doors, "front");
	fz->store = vb_context_get_store(vb_daemon_get_context(fz->daemon));
	loader = vb_daemon_get_loader(fz->daemon);
	fz->keypad = vb_plugin_loader_get_instance(loader, "front-keypad");
	fz->lock = vb_plugin_loader_get_instance(loader, "front-lock");
	g_assert_nonnull(fz->door);
	fz->clock = g_get_real_time();
	vb_customers_set_clock(fz->visits->customers, fuzz_clock, NULL);
	fz->typed = g_string_new(NULL);
	fz->visit_ids = g_ptr_array_new_with_free_func(g_free);
	fz->must_prove = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	fz->attempts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					     (GDestroyNotify)g_ptr_array_unref);
	fz->unlocked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_signal_connect(vb_context_get_bus(vb_daemon_get_context(fz->daemon)), "event",
			 G_CALLBACK(fuzz_event_cb), NULL);
	atexit(fuzz_stop);

	/* the known card's first visit, which also proves that this target
	 * reads the codes the shoppers get */
	fuzz_begin();
	fuzz_tap(FUZZ_KNOWN_PAN);
	g_assert_cmpint(fz->door->phase, ==, VB_PHASE_ENTER_PHONE);
	for (const gchar *p = FUZZ_KNOWN_PHONE; *p != '\0'; p++)
		fuzz_press((VbKeypadKey)(*p - '0'));
	fuzz_press(VB_KEYPAD_KEY_ENTER);
	g_assert_cmpint(fz->door->phase, ==, VB_PHASE_ENTER_CODE);
	fuzz_type_code();
	g_assert_cmpuint(fz->typed->len, ==, FUZZ_CODE_DIGITS);
	fuzz_press(VB_KEYPAD_KEY_ENTER);
	fuzz_wait_authorized();
	g_assert_cmpint(fz->door->phase, ==, VB_PHASE_UNLOCKED);
	fuzz_end();
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	if (size == 0)
		return 0;
	if (fz == NULL)
		fuzz_start();
	fuzz_begin();
	/* the first tap: a new card or the known one, after '*' or not */
	if (data[0] & 2)
		fuzz_press(VB_KEYPAD_KEY_STAR);
	if (data[0] & 1)
		fuzz_tap(FUZZ_KNOWN_PAN);
	else
		fuzz_tap_new();
	for (size_t i = 1; i < size && i <= FUZZ_MAX_ACTIONS; i++)
		fuzz_action(data[i]);
	fuzz_end();
	return 0;
}
