/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-context-private.h"
#include "vb-door-lock.h"
#include "vb-error.h"
#include "vb-events.h"
#include "vb-plugin-private.h"
#include "vb-store-private.h"
#include "vb-test-inprocess.h"
#include "vb-visit-private.h"

/*
 * The steps of a visit, each called on its own through vb-visit-private.h,
 * in a vestibuled that runs the simulated store in this process: what the
 * shopper, the operator or the processor would see of each.
 */

#define TEST_PAN "4970107305551237"
#define TEST_PHONE "0639984321"
#define TEST_CARD                                                                                  \
	"497010\xe2\x80\xa2\xe2\x80\xa2"                                                           \
	"1237"

#define TEST_NO_CODE "[visit]\nverify-phone=false\n"
#define TEST_CODE "[visit]\nverify-phone=true\n"

typedef struct {
	VbVisitRewardsMoment moment;
	gint64 customer_id;
	gchar *card_token;
	gint64 amount;
	gchar *currency;
	gchar *settlement;
	VbPhase phase; /* the door's, when the step was called */
} TestRewardsCall;

typedef struct {
	VbDaemon *daemon;
	gchar *dir;
	VbVisitManager *visits;
	VbDoor *door;
	VbEvent *card_event; /* the last card read, kept while the manager is stopped */
	GPtrArray *rewards;  /* of TestRewardsCall */
} Steps;

static void
test_rewards_call_free(TestRewardsCall *call)
{
	g_free(call->card_token);
	g_free(call->currency);
	g_free(call->settlement);
	g_free(call);
}

static void
steps_event_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	Steps *fx = user_data;

	if (g_strcmp0(vb_event_get_name(event), VB_EVENT_CARD_PRESENTED) != 0)
		return;
	g_clear_pointer(&fx->card_event, vb_event_unref);
	fx->card_event = vb_event_ref(event);
}

static void
steps_rewards_cb(VbVisitRewardsMoment moment, const VbVisitRewardsEvent *event, gpointer user_data)
{
	Steps *fx = user_data;
	TestRewardsCall *call = g_new0(TestRewardsCall, 1);

	call->moment = moment;
	call->customer_id = event->customer_id;
	call->card_token = g_strdup(event->card_token);
	call->amount = event->amount;
	call->currency = g_strdup(event->currency);
	call->settlement = g_strdup(event->settlement);
	call->phase = fx->door->phase;
	g_ptr_array_add(fx->rewards, call);
}

/* @visit: groups before the simulated store; @pay: keys of its payment instance */
static void
steps_start(Steps *fx, const gchar *visit, const gchar *pay)
{
	g_autofree gchar *full =
	    g_strconcat(visit, VB_TEST_INPROCESS_SIM_STORE, pay != NULL ? pay : "", NULL);

	fx->daemon = vb_test_inprocess_start(full, &fx->dir);
	fx->visits = vb_daemon_get_visit_manager(fx->daemon);
	fx->door = g_hash_table_lookup(fx->visits->doors, "front");
	g_assert_nonnull(fx->door);
	fx->rewards = g_ptr_array_new_with_free_func((GDestroyNotify)test_rewards_call_free);
	vb_visit_rewards_set_observer(fx->visits, steps_rewards_cb, fx);
	g_signal_connect(vb_context_get_bus(vb_daemon_get_context(fx->daemon)), "event",
			 G_CALLBACK(steps_event_cb), fx);
}

static void
steps_stop(Steps *fx)
{
	g_signal_handlers_disconnect_by_data(vb_context_get_bus(vb_daemon_get_context(fx->daemon)),
					     fx);
	vb_visit_rewards_set_observer(fx->visits, NULL, NULL);
	g_clear_pointer(&fx->card_event, vb_event_unref);
	vb_test_inprocess_stop(fx->daemon, fx->dir);
	g_free(fx->dir);
	g_ptr_array_unref(fx->rewards);
}

static gboolean
steps_wake_cb(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

/* runs the main loop until @cond holds, for at most 10 s */
#define STEPS_WAIT(cond)                                                                           \
	do {                                                                                       \
		guint wake_ = g_timeout_add(10, steps_wake_cb, NULL);                              \
		gint64 end_ = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;                        \
		while (!(cond) && g_get_monotonic_time() < end_)                                   \
			g_main_context_iteration(NULL, TRUE);                                      \
		g_source_remove(wake_);                                                            \
		g_assert_true(cond);                                                               \
	} while (0)

static gchar *
steps_state(Steps *fx, const gchar *visit_id)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) visit = vb_visit_manager_get_visit(fx->visits, visit_id, &error);
	const gchar *state = NULL;

	g_assert_no_error(error);
	g_assert_true(g_variant_lookup(visit, "state", "&s", &state));
	return g_strdup(state);
}

/* whether the visit's timeline has an entry @state with @detail */
static gboolean
steps_timeline_has(Steps *fx, const gchar *visit_id, const gchar *state, const gchar *detail)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) visit = vb_visit_manager_get_visit(fx->visits, visit_id, &error);
	g_autoptr(GVariant) timeline = NULL;
	GVariantIter iter;

	g_assert_no_error(error);
	timeline = g_variant_lookup_value(visit, "timeline", G_VARIANT_TYPE("aa{sv}"));
	g_variant_iter_init(&iter, timeline);
	for (;;) {
		g_autoptr(GVariant) entry = g_variant_iter_next_value(&iter);
		const gchar *s = NULL;
		const gchar *d = NULL;

		if (entry == NULL)
			break;
		g_variant_lookup(entry, "state", "&s", &s);
		g_variant_lookup(entry, "detail", "&s", &d);
		if (g_strcmp0(s, state) == 0 && g_strcmp0(d, detail) == 0)
			return TRUE;
	}
	return FALSE;
}

static void
steps_exec(Steps *fx, const gchar *sql)
{
	VbStore *store = vb_context_get_store(vb_daemon_get_context(fx->daemon));
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(store, sql, &error);

	g_assert_no_error(error);
	g_assert_true(vb_store_stmt_exec(stmt, &error));
	g_assert_no_error(error);
}

static void
steps_set_digits(VbDoor *door, const gchar *digits)
{
	g_strlcpy(door->digits, digits, sizeof(door->digits));
	door->n_digits = (guint)strlen(digits);
}

/* a tap of an unknown card, through the phase machine: the door asks for a phone */
static void
steps_tap_new(Steps *fx)
{
	vb_test_inprocess_tap(fx->daemon, "front-reader", TEST_PAN);
	STEPS_WAIT(fx->door->phase == VB_PHASE_ENTER_PHONE);
}

/* a whole first visit, through the phase machine, that leaves the card known */
static void
steps_first_visit(Steps *fx)
{
	VbPlugin *lock =
	    vb_plugin_loader_get_instance(vb_daemon_get_loader(fx->daemon), "front-lock");

	vb_test_inprocess_tap(fx->daemon, "front-reader", TEST_PAN);
	vb_test_inprocess_type(fx->daemon, "front-keypad", TEST_PHONE);
	STEPS_WAIT(fx->door->phase == VB_PHASE_UNLOCKED);
	vb_plugin_emit(lock, VB_EVENT_DOOR_OPENED, NULL);
	vb_plugin_emit(lock, VB_EVENT_DOOR_CLOSED, NULL);
	STEPS_WAIT(fx->door->phase == VB_PHASE_IDLE);
}

/* identify, called with the manager stopped, so that only the step sees the card */
static VbVisitIdentifyOutcome
steps_identify(Steps *fx)
{
	vb_visit_manager_stop(fx->visits);
	g_clear_pointer(&fx->card_event, vb_event_unref);
	vb_test_inprocess_tap(fx->daemon, "front-reader", TEST_PAN);
	STEPS_WAIT(fx->card_event != NULL);
	return vb_visit_identify_card(fx->door, fx->card_event);
}

static void
test_identify_new_card(void)
{
	Steps fx = {0};
	g_autofree gchar *state = NULL;
	g_autoptr(GVariant) visit = NULL;
	const gchar *card = NULL;

	steps_start(&fx, TEST_NO_CODE, NULL);
	g_assert_cmpint(steps_identify(&fx), ==, VB_VISIT_IDENTIFY_NEW);
	/* a new visit on record, asking for a phone, with the card masked */
	g_assert_nonnull(fx.door->visit_id);
	g_assert_nonnull(fx.door->card_token);
	g_assert_cmpint(fx.door->customer_id, ==, 0);
	g_assert_cmpstr(fx.door->language, ==,
			vb_context_get_default_language(vb_daemon_get_context(fx.daemon)));
	state = steps_state(&fx, fx.door->visit_id);
	g_assert_cmpstr(state, ==, "enter-phone");
	visit = vb_visit_manager_get_visit(fx.visits, fx.door->visit_id, NULL);
	g_assert_true(g_variant_lookup(visit, "card", "&s", &card));
	g_assert_cmpstr(card, ==, TEST_CARD);
	steps_stop(&fx);
}

static void
test_identify_known_card(void)
{
	Steps fx = {0};
	g_autofree gchar *state = NULL;

	steps_start(&fx, TEST_NO_CODE, NULL);
	steps_first_visit(&fx);
	g_assert_cmpint(steps_identify(&fx), ==, VB_VISIT_IDENTIFY_KNOWN);
	/* the returning shopper is greeted and goes straight to the hold */
	g_assert_cmpint(fx.door->customer_id, >, 0);
	g_assert_nonnull(fx.door->greeting);
	state = steps_state(&fx, fx.door->visit_id);
	g_assert_cmpstr(state, ==, "authorizing");
	steps_stop(&fx);
}

static void
test_verify_phone_digits(void)
{
	Steps fx = {0};
	g_autofree gchar *visit_id = NULL;
	g_autofree gchar *state = NULL;

	steps_start(&fx, TEST_NO_CODE, NULL);
	steps_tap_new(&fx);
	visit_id = g_strdup(fx.door->visit_id);

	/* too few digits for a French number: refused, and asked again */
	for (guint i = 1; i < 3; i++) {
		g_autofree gchar *still = NULL;
		steps_set_digits(fx.door, "0639");
		g_assert_cmpint(vb_visit_verify_submit_phone(fx.door), ==,
				VB_VISIT_VERIFY_ENTERING);
		g_assert_cmpuint(fx.door->phone_tries, ==, i);
		g_assert_cmpuint(fx.door->n_digits, ==, 0);
		g_assert_cmpint(fx.door->customer_id, ==, 0);
		still = steps_state(&fx, visit_id);
		g_assert_cmpstr(still, ==, "enter-phone");
	}
	/* the third wrong number ends the visit at the door */
	steps_set_digits(fx.door, "0639");
	g_assert_cmpint(vb_visit_verify_submit_phone(fx.door), ==, VB_VISIT_VERIFY_ENDED);
	g_assert_cmpint(fx.door->phase, ==, VB_PHASE_IDLE);
	state = steps_state(&fx, visit_id);
	g_assert_cmpstr(state, ==, "invalid-phone");
	steps_stop(&fx);
}

static void
test_verify_phone_linked(void)
{
	Steps fx = {0};
	g_autofree gchar *state = NULL;

	/* with verify-phone=false a valid number links the card at once */
	steps_start(&fx, TEST_NO_CODE, NULL);
	steps_tap_new(&fx);
	steps_set_digits(fx.door, TEST_PHONE);
	g_assert_cmpint(vb_visit_verify_submit_phone(fx.door), ==, VB_VISIT_VERIFY_LINKED);
	g_assert_cmpint(fx.door->customer_id, >, 0);
	state = steps_state(&fx, fx.door->visit_id);
	g_assert_cmpstr(state, ==, "linked");
	steps_stop(&fx);
}

static void
test_verify_wrong_code(void)
{
	Steps fx = {0};
	g_autofree gchar *state = NULL;

	steps_start(&fx, TEST_CODE, NULL);
	steps_tap_new(&fx);
	steps_set_digits(fx.door, TEST_PHONE);
	g_assert_cmpint(vb_visit_verify_submit_phone(fx.door), ==, VB_VISIT_VERIFY_CODE_SENT);
	state = steps_state(&fx, fx.door->visit_id);
	g_assert_cmpstr(state, ==, "enter-code");
	/* five digits are never a six-digit code: the shopper may try again */
	steps_set_digits(fx.door, "12345");
	g_assert_cmpint(vb_visit_verify_submit_code(fx.door), ==, VB_VISIT_VERIFY_ENTERING);
	g_assert_true(steps_timeline_has(&fx, fx.door->visit_id, "enter-code", "wrong code"));
	g_assert_cmpuint(fx.door->n_digits, ==, 0);
	steps_stop(&fx);
}

/* the prompt shown at the door */
static gchar *
steps_prompt(Steps *fx)
{
	VbPlugin *display =
	    vb_plugin_loader_get_instance(vb_daemon_get_loader(fx->daemon), "front-display");
	g_autoptr(GVariant) plugin = vb_plugin_to_variant(display);
	g_autoptr(GVariant) status =
	    g_variant_lookup_value(plugin, "status", G_VARIANT_TYPE_VARDICT);
	const gchar *id = NULL;

	g_assert_true(g_variant_lookup(status, "prompt-id", "&s", &id));
	return g_strdup(id);
}

static void
test_verify_change_phone_window(void)
{
	Steps fx = {0};
	VbPlugin *keypad = NULL;
	g_autofree gchar *asked = NULL;
	g_autofree gchar *after = NULL;
	gint64 ready;

	steps_start(&fx, TEST_NO_CODE, NULL);
	keypad = vb_plugin_loader_get_instance(vb_daemon_get_loader(fx.daemon), "front-keypad");
	vb_keypad_emit_key(VB_KEYPAD(keypad), VB_KEYPAD_KEY_STAR);
	asked = steps_prompt(&fx);
	g_assert_cmpstr(asked, ==, "change-phone");
	g_assert_cmpint(fx.door->change_phone_until, >, 0);
	/* the prompt lasts as long as the window: a tap after it is an ordinary
	 * one, and the screen must not promise otherwise */
	g_assert_nonnull(fx.door->idle_timer);
	ready = g_source_get_ready_time(fx.door->idle_timer);
	g_assert_cmpint(ready, >=, fx.door->change_phone_until);
	g_assert_cmpint(ready, <, fx.door->change_phone_until + G_USEC_PER_SEC);
	/* the window's end, without its 30 s */
	g_source_set_ready_time(fx.door->idle_timer, 0);
	STEPS_WAIT(fx.door->idle_timer == NULL);
	after = steps_prompt(&fx);
	g_assert_cmpstr(after, ==, "welcome");
	g_assert_cmpint(fx.door->change_phone_until, ==, 0);
	steps_stop(&fx);
}

static void
test_risk_allows_today(void)
{
	Steps fx = {0};
	const gint64 amounts[] = {0, 1, 5000, G_GINT64_CONSTANT(100000000)};

	steps_start(&fx, TEST_NO_CODE, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(amounts); i++) {
		VbVisitRiskRequest request = {
		    .visit_id = "v-risk",
		    .door = "front",
		    .card_token = "token",
		    .customer_id = 1,
		    .returning = i % 2 == 0,
		    .amount = amounts[i],
		    .currency = "EUR",
		};
		VbVisitRiskRefusal refusal = {NULL, VB_PROMPT_LAST};

		g_assert_cmpint(vb_visit_risk_check(fx.visits, &request, &refusal), ==,
				VB_VISIT_RISK_ALLOW);
		g_assert_null(refusal.reason);
	}
	/* and through the phase machine, the door opens */
	vb_test_inprocess_tap(fx.daemon, "front-reader", TEST_PAN);
	vb_test_inprocess_type(fx.daemon, "front-keypad", TEST_PHONE);
	STEPS_WAIT(fx.door->phase == VB_PHASE_UNLOCKED);
	steps_stop(&fx);
}

/* the holds the simulated processor has placed, whatever their state */
static gint64
steps_holds(Steps *fx)
{
	VbStore *store = vb_context_get_store(vb_daemon_get_context(fx->daemon));
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(store, "SELECT count(*) FROM p_sim_payment_holds", &error);

	g_assert_no_error(error);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
	return vb_store_stmt_column_int64(stmt, 0);
}

typedef struct {
	gboolean deny;
	guint calls;
	gint64 amount;
	gboolean returning;
} TestRiskRule;

/* refuses every visit while @deny, as a not-allowed list of cards would */
static VbVisitRiskVerdict
test_risk_rule(VbVisitManager *self,
	       const VbVisitRiskRequest *request,
	       VbVisitRiskRefusal *refusal,
	       gpointer user_data)
{
	TestRiskRule *rule = user_data;

	rule->calls++;
	rule->amount = request->amount;
	rule->returning = request->returning;
	if (!rule->deny)
		return VB_VISIT_RISK_ALLOW;
	refusal->reason = "the card is on the not-allowed list";
	refusal->prompt = VB_PROMPT_DECLINED;
	return VB_VISIT_RISK_DENY;
}

static void
test_risk_rule_denies(void)
{
	Steps fx = {0};
	TestRiskRule rule = {.deny = TRUE};
	VbPlugin *lock;
	g_autofree gchar *denied = NULL;
	g_autofree gchar *state = NULL;

	steps_start(&fx, TEST_NO_CODE, NULL);
	vb_visit_risk_add_rule(fx.visits, test_risk_rule, &rule);
	lock = vb_plugin_loader_get_instance(vb_daemon_get_loader(fx.daemon), "front-lock");

	/* refused: the visit ends as declined, and no money moves */
	vb_test_inprocess_tap(fx.daemon, "front-reader", TEST_PAN);
	STEPS_WAIT(fx.door->phase == VB_PHASE_ENTER_PHONE);
	denied = g_strdup(fx.door->visit_id);
	vb_test_inprocess_type(fx.daemon, "front-keypad", TEST_PHONE);
	STEPS_WAIT(fx.door->phase == VB_PHASE_IDLE);
	g_assert_cmpuint(rule.calls, ==, 1);
	g_assert_cmpint(rule.amount, ==, 5000);
	g_assert_false(rule.returning);
	state = steps_state(&fx, denied);
	g_assert_cmpstr(state, ==, "declined");
	g_assert_true(
	    steps_timeline_has(&fx, denied, "declined", "the card is on the not-allowed list"));
	g_assert_cmpint(steps_holds(&fx), ==, 0);
	g_assert_true(vb_door_lock_is_locked(VB_DOOR_LOCK(lock)));
	g_assert_cmpuint(fx.rewards->len, ==, 0);

	/* allowed again: the same card, known now, gets its hold and the door */
	rule.deny = FALSE;
	vb_test_inprocess_tap(fx.daemon, "front-reader", TEST_PAN);
	STEPS_WAIT(fx.door->phase == VB_PHASE_UNLOCKED);
	g_assert_cmpuint(rule.calls, ==, 2);
	g_assert_true(rule.returning);
	g_assert_cmpint(steps_holds(&fx), ==, 1);
	g_assert_false(vb_door_lock_is_locked(VB_DOOR_LOCK(lock)));
	steps_stop(&fx);
}

static void
test_hold_reservation(void)
{
	Steps fx = {0};
	g_autofree gchar *reserved = NULL;

	/* a door keeps its next reference reserved, on disk before the tap */
	steps_start(&fx, TEST_NO_CODE, NULL);
	STEPS_WAIT(fx.door->reserved != NULL);
	g_assert_true(vb_door_reservation_ready(fx.door));
	reserved = g_strdup(fx.door->reserved);
	/* the tap takes it as the visit's reference, and the door reserves the next */
	steps_tap_new(&fx);
	g_assert_cmpstr(fx.door->visit_id, ==, reserved);
	g_assert_nonnull(fx.door->reserved);
	g_assert_cmpstr(fx.door->reserved, !=, reserved);
	steps_stop(&fx);
}

static void
test_door_restart(void)
{
	Steps fx = {0};
	VbStore *store = NULL;
	const gchar *cases[][4] = {
	    /* id, state before, state after, detail */
	    {"v-unlocked", "unlocked", "abandoned", "the daemon restarted before the door opened"},
	    {"v-authorizing", "authorizing", "interrupted", "the daemon restarted during the hold"},
	    {"v-phone", "enter-phone", "interrupted", "the daemon restarted"},
	    {"v-open", "open", "awaiting-order", "resumed after a restart"},
	};

	steps_start(&fx, TEST_NO_CODE, NULL);
	store = vb_context_get_store(vb_daemon_get_context(fx.daemon));
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *sql = g_strdup_printf(
		    "INSERT INTO visits (id, door, state, created, updated, currency, hold_amount) "
		    "VALUES ('%s', 'gone', '%s', 1, 1, 'EUR', 5000)",
		    cases[i][0], cases[i][1]);
		g_autoptr(VbVisitRow) row = NULL;
		g_autoptr(VbStoreTransaction) tx = NULL;
		g_autoptr(GError) error = NULL;
		g_autofree gchar *state = NULL;

		steps_exec(&fx, sql);
		row = vb_visit_row_load(fx.visits, "id", cases[i][0], &error);
		g_assert_no_error(error);
		tx = vb_store_transaction_begin(store, &error);
		g_assert_true(vb_visit_door_restart(fx.visits, row, &error));
		g_assert_true(vb_store_transaction_commit(tx, &error));
		g_assert_no_error(error);
		state = steps_state(&fx, cases[i][0]);
		g_assert_cmpstr(state, ==, cases[i][2]);
		g_assert_true(steps_timeline_has(&fx, cases[i][0], cases[i][2], cases[i][3]));
	}
	steps_stop(&fx);
}

static void
test_notice_receipt(void)
{
	Steps fx = {0};
	VbStore *store = NULL;
	g_autoptr(VbVisitRow) row = NULL;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GVariant) receipt = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *token = NULL;
	g_autofree gchar *other = NULL;
	const gchar *visit = NULL;
	gint64 total = 0;

	steps_start(&fx, TEST_NO_CODE, NULL);
	store = vb_context_get_store(vb_daemon_get_context(fx.daemon));
	steps_exec(&fx,
		   "INSERT INTO visits (id, door, state, created, updated, currency, "
		   "hold_amount, total, captured, settlement, order_json) VALUES ('v-receipt', "
		   "'front', 'settled', 1, 1, 'EUR', 5000, 1250, 1250, 'captured', "
		   "'{\"currency\":\"EUR\",\"lines\":[{\"sku\":\"A1\",\"name\":\"Sandwich\","
		   "\"quantity\":1,\"unit_price\":1250}]}')");
	row = vb_visit_row_load(fx.visits, "id", "v-receipt", &error);
	g_assert_no_error(error);
	tx = vb_store_transaction_begin(store, &error);
	g_assert_true(vb_visit_issue_receipt(fx.visits, row, &error));
	g_assert_true(vb_store_transaction_commit(tx, &error));
	g_assert_no_error(error);

	/* the link's token: 128 bits in hex, one per visit, never stored */
	token = vb_visit_manager_receipt_token(fx.visits, "v-receipt");
	other = vb_visit_manager_receipt_token(fx.visits, "v-other");
	g_assert_cmpuint(strlen(token), ==, 32);
	g_assert_cmpuint(strspn(token, "0123456789abcdef"), ==, 32);
	g_assert_cmpstr(token, !=, other);
	/* the shopper who follows it sees the visit's receipt */
	receipt = vb_visit_manager_get_receipt(fx.visits, token, &error);
	g_assert_no_error(error);
	g_assert_true(g_variant_lookup(receipt, "visit", "&s", &visit));
	g_assert_cmpstr(visit, ==, "v-receipt");
	g_assert_true(g_variant_lookup(receipt, "total", "x", &total));
	g_assert_cmpint(total, ==, 1250);
	g_assert_null(vb_visit_manager_get_receipt(fx.visits, other, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
	steps_stop(&fx);
}

/* the result, or the last error, of the outbox item queued under @key */
static gchar *
steps_outbox_outcome(Steps *fx, const gchar *key)
{
	VbStore *store = vb_context_get_store(vb_daemon_get_context(fx->daemon));
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(store,
			     "SELECT state || '|' || COALESCE(result, last_error, '') FROM outbox "
			     "WHERE idempotency_key = ?1 AND state IN ('done', 'dead')",
			     &error);

	g_assert_no_error(error);
	vb_store_stmt_bind_text(stmt, 1, key);
	if (vb_store_stmt_step(stmt, &error) != VB_STORE_STEP_ROW)
		return NULL;
	return g_strdup(vb_store_stmt_column_text(stmt, 0));
}

static gboolean
steps_outbox_settled(Steps *fx, const gchar *key)
{
	g_autofree gchar *outcome = steps_outbox_outcome(fx, key);
	return outcome != NULL;
}

static void
steps_enqueue_sms(Steps *fx, const gchar *visit, const gchar *template_, const gchar *key)
{
	g_autofree gchar *json = g_strdup_printf(
	    "{\"customer\": 424242, \"template\": \"%s\", \"language\": \"en\", \"visit\": \"%s\"}",
	    template_, visit);
	g_autoptr(JsonNode) payload = json_from_string(json, NULL);
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(vb_outbox_enqueue(fx->visits->outbox, "sms", "customer:424242", key,
					  payload, visit, &error),
			>, 0);
	g_assert_no_error(error);
}

/* what an SMS is worth late: a notice that comes to be sent after its
 * visit's receipt went (it waited on an unknown outcome meanwhile) is
 * dropped, and a one-time code past its expiry is given up */
static void
test_notice_late(void)
{
	Steps fx = {0};
	VbStore *store = NULL;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *late = NULL;
	g_autofree gchar *alone = NULL;
	g_autofree gchar *code = NULL;

	steps_start(&fx, TEST_NO_CODE, NULL);
	store = vb_context_get_store(vb_daemon_get_context(fx.daemon));
	/* v-late's receipt went; v-alone has none */
	steps_exec(&fx, "INSERT INTO outbox (kind, recipient, idempotency_key, payload, state, "
			"next_attempt, created, updated, result, visit_id) VALUES ('sms', "
			"'customer:424242', 'v-late:receipt', '{}', 'done', 0, 1, 1, "
			"'{\"message-id\":\"SM1\"}', 'v-late')");
	steps_enqueue_sms(&fx, "v-late", "notice", "v-late:notice");
	steps_enqueue_sms(&fx, "v-alone", "notice", "v-alone:notice");
	STEPS_WAIT(steps_outbox_settled(&fx, "v-late:notice") &&
		   steps_outbox_settled(&fx, "v-alone:notice"));
	late = steps_outbox_outcome(&fx, "v-late:notice");
	alone = steps_outbox_outcome(&fx, "v-alone:notice");
	g_assert_cmpstr(late, ==, "done|{\"skipped\":\"the receipt went first\"}");
	/* without its receipt, a notice goes on (here to nobody: there is no
	 * such customer) */
	g_assert_true(g_str_has_prefix(alone, "done|"));
	g_assert_null(strstr(alone, "receipt"));

	/* a code queued 10 minutes ago */
	tx = vb_store_transaction_begin(store, &error);
	g_assert_no_error(error);
	steps_enqueue_sms(&fx, "v-code", "otp", "v-code:otp:1");
	steps_exec(&fx, "UPDATE outbox SET created = created - 600000001 "
			"WHERE idempotency_key = 'v-code:otp:1'");
	g_assert_true(vb_store_transaction_commit(tx, &error));
	g_assert_no_error(error);
	STEPS_WAIT(steps_outbox_settled(&fx, "v-code:otp:1"));
	code = steps_outbox_outcome(&fx, "v-code:otp:1");
	g_assert_true(g_str_has_prefix(code, "dead|"));
	g_assert_nonnull(strstr(code, "expired before it could be sent"));
	steps_stop(&fx);
}

/* the notices owed are looked for at each start and each minute: in a store
 * of thousands of past visits, that costs what the owed ones cost, not a
 * walk through every visit ever made */
static void
test_notice_owed_bounded(void)
{
	Steps fx = {0};
	VbStore *store = NULL;
	guint64 before;
	guint64 steps;

	steps_start(&fx, TEST_NO_CODE, NULL);
	store = vb_context_get_store(vb_daemon_get_context(fx.daemon));
	steps_exec(&fx, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
			"WHERE i < 5000) INSERT INTO visits (id, door, state, created, updated) "
			"SELECT printf('v-past-%d', i), 'front', 'settled', i, i FROM n");
	/* the latest one still owes its notice (to an erased customer: nobody) */
	steps_exec(&fx, "INSERT INTO visits (id, door, state, created, updated, notice_owed) "
			"VALUES ('v-owed', 'front', 'awaiting-order', 6000, 6000, 1)");

	before = vb_store_get_vm_steps(store);
	vb_visit_manager_queue_owed_notices(fx.visits);
	steps = vb_store_get_vm_steps(store) - before;
	g_test_message("finding and clearing one owed notice among 5001 visits: %" G_GUINT64_FORMAT
		       " steps",
		       steps);
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
		    store, "SELECT notice_owed FROM visits WHERE id = 'v-owed'", &error);

		g_assert_no_error(error);
		g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
		g_assert_cmpint(vb_store_stmt_column_int64(stmt, 0), ==, 0);
	}
	/* a walk through the visits alone takes more than 5000 */
	g_assert_cmpuint(steps, <, 1000);
	steps_stop(&fx);
}

static gboolean
steps_validate(const gchar *json, gint64 *total, GError **error)
{
	g_autoptr(JsonNode) node = json_from_string(json, NULL);
	g_autoptr(JsonBuilder) canonical = json_builder_new();

	g_assert_nonnull(node);
	return vb_visit_order_validate(node, "EUR", canonical, total, error);
}

static void
test_settle_order_validation(void)
{
	const struct {
		const gchar *order;
		const gchar *message; /* what the operator's system is told */
	} refused[] = {
	    {"[]", "the order must be a JSON object with \"currency\" and \"lines\""},
	    {"{\"currency\":\"EUR\",\"lines\":[],\"note\":\"x\"}",
	     "unknown member \"note\" in the order"},
	    {"{\"currency\":\"USD\",\"lines\":[]}",
	     "the order is in USD but the visit's hold is in EUR"},
	    {"{\"currency\":\"EUR\",\"lines\":[{\"sku\":\"A1\",\"name\":\"Tea\","
	     "\"quantity\":0,\"unit_price\":150}]}",
	     "line 1: the quantity must be 1 to 1000 and the unit price 0 to 100000000 minor "
	     "units"},
	    {"{\"currency\":\"EUR\",\"lines\":[{\"sku\":\"A1\",\"name\":\"Tea\","
	     "\"quantity\":1,\"unit_price\":\"1.50\"}]}",
	     "line 1 of the order must have exactly \"sku\" and \"name\" (strings), "
	     "\"quantity\" and \"unit_price\" (integers, the price in minor units)"},
	    /* control characters: C0 (tab and newline too), DEL and C1 */
	    {"{\"currency\":\"EUR\",\"lines\":[{\"sku\":\"A1\",\"name\":\"Tea\","
	     "\"quantity\":1,\"unit_price\":1},{\"sku\":\"B2\",\"name\":\"Tea\\u001b[31m\","
	     "\"quantity\":1,\"unit_price\":1}]}",
	     "line 2: the name holds a control character (U+001B); remove it and post the order "
	     "again"},
	    {"{\"currency\":\"EUR\",\"lines\":[{\"sku\":\"A1\",\"name\":\"Tea\\tbag\","
	     "\"quantity\":1,\"unit_price\":1}]}",
	     "line 1: the name holds a control character (U+0009); remove it and post the order "
	     "again"},
	    {"{\"currency\":\"EUR\",\"lines\":[{\"sku\":\"A1\",\"name\":\"Tea\\nFree\","
	     "\"quantity\":1,\"unit_price\":1}]}",
	     "line 1: the name holds a control character (U+000A); remove it and post the order "
	     "again"},
	    {"{\"currency\":\"EUR\",\"lines\":[{\"sku\":\"A1\",\"name\":\"Tea\x7f\","
	     "\"quantity\":1,\"unit_price\":1}]}",
	     "line 1: the name holds a control character (U+007F); remove it and post the order "
	     "again"},
	    {"{\"currency\":\"EUR\",\"lines\":[{\"sku\":\"A1\",\"name\":\"Tea\\u009f\","
	     "\"quantity\":1,\"unit_price\":1}]}",
	     "line 1: the name holds a control character (U+009F); remove it and post the order "
	     "again"},
	    {"{\"currency\":\"EUR\",\"lines\":[{\"sku\":\"A\\u00801\",\"name\":\"Tea\","
	     "\"quantity\":1,\"unit_price\":1}]}",
	     "line 1: the SKU holds a control character (U+0080); remove it and post the order "
	     "again"},
	};
	gint64 total = -1;
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
		g_autoptr(GError) error_refused = NULL;
		g_assert_false(steps_validate(refused[i].order, &total, &error_refused));
		g_assert_error(error_refused, VB_ERROR, VB_ERROR_INVALID_DATA);
		g_assert_cmpstr(error_refused->message, ==, refused[i].message);
	}
	/* a valid order: its total is what is captured */
	g_assert_true(steps_validate("{\"currency\":\"EUR\",\"lines\":[{\"sku\":\"A1\",\"name\":"
				     "\"Tea\",\"quantity\":2,\"unit_price\":150},{\"sku\":\"B2\","
				     "\"name\":\"Sandwich\",\"quantity\":1,\"unit_price\":950}]}",
				     &total, &error));
	g_assert_no_error(error);
	g_assert_cmpint(total, ==, 1250);
	g_assert_true(steps_validate("{\"currency\":\"EUR\",\"lines\":[]}", &total, &error));
	g_assert_cmpint(total, ==, 0);
	/* U+00A0 and beyond are text, not controls */
	g_assert_true(steps_validate("{\"currency\":\"EUR\",\"lines\":[{\"sku\":\"A1\",\"name\":"
				     "\"Th\\u00e9\\u00a0vert\",\"quantity\":1,\"unit_price\":1}]}",
				     &total, &error));
	g_assert_no_error(error);
}

static void
test_settle_capture_deadline(void)
{
	Steps fx = {0};
	g_autofree gchar *sql = NULL;
	g_autofree gchar *state = NULL;
	g_autoptr(GVariant) visit = NULL;
	const gchar *settlement = NULL;
	gint64 total = 0;

	steps_start(&fx, "[visit]\nverify-phone=false\ndeadline-capture-max=2000\n", NULL);
	sql = g_strdup_printf("INSERT INTO visits (id, door, state, created, updated, currency, "
			      "hold_amount, psp_reference, capture_deadline) VALUES "
			      "('v-late', 'front', 'awaiting-order', 1, 1, 'EUR', 5000, 'psp-1', "
			      "%" G_GINT64_FORMAT ")",
			      g_get_real_time() - G_USEC_PER_SEC);
	steps_exec(&fx, sql);
	vb_visit_manager_check_deadlines(fx.visits);
	/* no order came: the hold is captured up to deadline-capture-max */
	state = steps_state(&fx, "v-late");
	g_assert_cmpstr(state, ==, "settling");
	g_assert_true(
	    steps_timeline_has(&fx, "v-late", "settling", "no order by the capture deadline"));
	visit = vb_visit_manager_get_visit(fx.visits, "v-late", NULL);
	g_assert_true(g_variant_lookup(visit, "settlement", "&s", &settlement));
	g_assert_cmpstr(settlement, ==, "expired");
	g_assert_true(g_variant_lookup(visit, "total", "x", &total));
	g_assert_cmpint(total, ==, 2000);
	steps_stop(&fx);
}

static void
test_rewards_called_after_approval(void)
{
	Steps fx = {0};
	TestRewardsCall *call;
	VbPlugin *lock = NULL;
	g_autofree gchar *visit_id = NULL;
	g_autofree gchar *card_token = NULL;
	g_autoptr(JsonNode) order = NULL;
	g_autoptr(GVariant) answer = NULL;
	g_autoptr(GError) error = NULL;
	gint64 customer_id;

	steps_start(&fx, TEST_NO_CODE, NULL);
	lock = vb_plugin_loader_get_instance(vb_daemon_get_loader(fx.daemon), "front-lock");
	vb_test_inprocess_tap(fx.daemon, "front-reader", TEST_PAN);
	g_assert_cmpuint(fx.rewards->len, ==, 0);
	vb_test_inprocess_type(fx.daemon, "front-keypad", TEST_PHONE);
	STEPS_WAIT(fx.rewards->len == 1);

	/* once the door is unlocked, with the hold approved */
	call = g_ptr_array_index(fx.rewards, 0);
	g_assert_cmpint(call->moment, ==, VB_VISIT_REWARDS_APPROVED);
	g_assert_cmpint(call->phase, ==, VB_PHASE_UNLOCKED);
	g_assert_cmpint(call->amount, ==, 5000);
	g_assert_cmpstr(call->currency, ==, fx.visits->currency);
	g_assert_cmpint(call->customer_id, >, 0);
	g_assert_cmpint(call->customer_id, ==, fx.door->customer_id);
	g_assert_cmpstr(call->card_token, ==, fx.door->card_token);
	g_assert_null(call->settlement);
	visit_id = g_strdup(fx.door->visit_id);
	card_token = g_strdup(fx.door->card_token);
	customer_id = call->customer_id;

	/* not again when the shopper goes in and out */
	vb_plugin_emit(lock, VB_EVENT_DOOR_OPENED, NULL);
	vb_plugin_emit(lock, VB_EVENT_DOOR_CLOSED, NULL);
	STEPS_WAIT(fx.door->phase == VB_PHASE_IDLE);
	g_assert_cmpuint(fx.rewards->len, ==, 1);

	/* then once the order is captured, with the amount taken */
	order = json_from_string("{\"currency\":\"EUR\",\"lines\":[{\"sku\":\"A1\",\"name\":"
				 "\"Sandwich\",\"quantity\":1,\"unit_price\":1250}]}",
				 NULL);
	answer = vb_visit_manager_post_order(fx.visits, visit_id, order, &error);
	g_assert_no_error(error);
	g_assert_nonnull(answer);
	STEPS_WAIT(fx.rewards->len == 2);
	call = g_ptr_array_index(fx.rewards, 1);
	g_assert_cmpint(call->moment, ==, VB_VISIT_REWARDS_SETTLED);
	g_assert_cmpint(call->amount, ==, 1250);
	g_assert_cmpstr(call->settlement, ==, "captured");
	g_assert_cmpint(call->customer_id, ==, customer_id);
	g_assert_cmpstr(call->card_token, ==, card_token);
	steps_stop(&fx);
}

static void
test_rewards_not_called_when_declined(void)
{
	Steps fx = {0};
	g_autofree gchar *visit_id = NULL;
	g_autofree gchar *state = NULL;

	/* the processor declines every hold above 100 */
	steps_start(&fx, TEST_NO_CODE, "decline-above=100\n");
	vb_test_inprocess_tap(fx.daemon, "front-reader", TEST_PAN);
	STEPS_WAIT(fx.door->phase == VB_PHASE_ENTER_PHONE);
	visit_id = g_strdup(fx.door->visit_id);
	vb_test_inprocess_type(fx.daemon, "front-keypad", TEST_PHONE);
	STEPS_WAIT(fx.door->phase == VB_PHASE_IDLE);
	state = steps_state(&fx, visit_id);
	g_assert_cmpstr(state, ==, "declined");
	g_assert_cmpuint(fx.rewards->len, ==, 0);
	steps_stop(&fx);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* the daemon's alerts are warnings; criticals stay fatal */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_test_add_func("/visit/steps/identify/new-card", test_identify_new_card);
	g_test_add_func("/visit/steps/identify/known-card", test_identify_known_card);
	g_test_add_func("/visit/steps/verify/phone-digits", test_verify_phone_digits);
	g_test_add_func("/visit/steps/verify/phone-linked", test_verify_phone_linked);
	g_test_add_func("/visit/steps/verify/wrong-code", test_verify_wrong_code);
	g_test_add_func("/visit/steps/verify/change-phone-window", test_verify_change_phone_window);
	g_test_add_func("/visit/steps/risk/allows-today", test_risk_allows_today);
	g_test_add_func("/visit/steps/risk/rule-denies", test_risk_rule_denies);
	g_test_add_func("/visit/steps/hold/reservation", test_hold_reservation);
	g_test_add_func("/visit/steps/door/restart", test_door_restart);
	g_test_add_func("/visit/steps/notice/receipt", test_notice_receipt);
	g_test_add_func("/visit/steps/notice/late", test_notice_late);
	g_test_add_func("/visit/steps/notice/owed-bounded", test_notice_owed_bounded);
	g_test_add_func("/visit/steps/settle/order-validation", test_settle_order_validation);
	g_test_add_func("/visit/steps/settle/capture-deadline", test_settle_capture_deadline);
	g_test_add_func("/visit/steps/rewards/called-after-approval",
			test_rewards_called_after_approval);
	g_test_add_func("/visit/steps/rewards/not-called-when-declined",
			test_rewards_not_called_when_declined);
	return g_test_run();
}
