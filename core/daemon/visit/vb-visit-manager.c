/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <sodium.h>
#include <string.h>

#include "vb-context-private.h"
#include "vb-door-lock.h"
#include "vb-events.h"
#include "vb-visit-private.h"

/*
 * One VbDoor per [door:NAME]: what its shopper is doing right now. The door's
 * phase lives in memory; the visit's state lives in the store and is written
 * before the door acts on it, so that a restart finds every hold:
 *
 *   idle --tap--> enter-phone --enter--> enter-code --enter--> authorizing
 *   idle --tap (known card)-----------------------------------> authorizing
 *   authorizing --approved--> unlocked --door-opened--> open --door-closed--> idle
 *
 * This file is that diagram: vb_door_input() takes each event in each phase
 * to the step that handles it, and only this file moves a door to its next
 * phase. The steps, one module each, report how they ended:
 *
 *   identify  vb-visit-identify.c  the card read to a customer and a visit
 *   verify    vb-visit-verify.c    the phone number and its one-time code
 *   risk      vb-visit-risk.c      the checks before money moves
 *   hold      vb-visit-hold.c      the authorization and the reservations
 *   door      vb-visit-door.c      the lock, the display, the restart cases
 *   notice    vb-visit-notice.c    the SMS messages and the receipt
 *   settle    vb-visit-settle.c    the order, the capture and its deadline
 *   rewards   vb-visit-rewards.c   where loyalty hooks in
 *
 * with the visit's record in vb-visit-record.c and the outbox's payment
 * operations in vb-visit-payment.c. The reservations that spare a tap its
 * disk sync are explained in vb-visit-hold.c.
 *
 * Money only moves through the outbox (captures, cancels), except the hold
 * itself, which the shopper waits for at the door.
 */

#define VB_PROMPT_HOLD_MS 4000
#define VB_DEADLINE_CHECK_S 60

G_DEFINE_FINAL_TYPE(VbVisitManager, vb_visit_manager, G_TYPE_OBJECT)

/* doors */

VbDoor *
vb_door_ref(VbDoor *door)
{
	g_atomic_ref_count_inc(&door->ref);
	return door;
}

void
vb_door_clear_source(GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

void
vb_door_wipe_digits(VbDoor *door)
{
	sodium_memzero(door->digits, sizeof(door->digits));
	door->n_digits = 0;
}

void
vb_door_unref(VbDoor *door)
{
	if (!g_atomic_ref_count_dec(&door->ref))
		return;
	vb_door_clear_source(&door->timer);
	vb_door_clear_source(&door->idle_timer);
	vb_door_clear_source(&door->auth_timer);
	g_clear_object(&door->auth_cancellable);
	vb_door_wipe_digits(door);
	g_free(door->name);
	g_free(door->reader);
	g_free(door->lock);
	g_free(door->keypad);
	g_free(door->display);
	g_free(door->visit_id);
	g_free(door->card_token);
	g_free(door->language);
	g_free(door->greeting);
	g_free(door->reserved);
	g_free(door);
}

VbPlugin *
vb_visit_manager_instance(VbVisitManager *self, const gchar *name)
{
	VbPlugin *plugin;

	if (name == NULL || name[0] == '\0' || self->loader == NULL)
		return NULL;
	plugin = vb_plugin_loader_get_instance(self->loader, name);
	if (plugin == NULL || vb_plugin_get_state(plugin) != VB_PLUGIN_STATE_RUNNING)
		return NULL;
	return plugin;
}

/* the end of a door's session: the visit keeps its state, the door is free */
static gboolean
vb_door_back_to_welcome_cb(gpointer user_data)
{
	VbDoor *door = user_data;
	g_clear_pointer(&door->idle_timer, g_source_unref);
	if (door->phase == VB_PHASE_IDLE) {
		g_clear_pointer(&door->language, g_free);
		/* the prompt of a '*' is gone, and so is what it offered */
		door->change_phone_until = 0;
		vb_door_show(door, VB_PROMPT_WELCOME, NULL);
	}
	return G_SOURCE_REMOVE;
}

void
vb_door_welcome_after(VbDoor *door, guint ms)
{
	vb_door_clear_source(&door->idle_timer);
	door->idle_timer = g_timeout_source_new(ms);
	g_source_set_callback(door->idle_timer, vb_door_back_to_welcome_cb, vb_door_ref(door),
			      (GDestroyNotify)vb_door_unref);
	g_source_set_static_name(door->idle_timer, "[vestibule] door prompt");
	g_source_attach(door->idle_timer, NULL);
}

void
vb_door_end(VbDoor *door, VbPrompt prompt)
{
	vb_door_clear_source(&door->timer);
	vb_door_clear_source(&door->auth_timer);
	vb_door_clear_source(&door->idle_timer);
	if (door->auth_cancellable != NULL)
		g_cancellable_cancel(door->auth_cancellable);
	g_clear_object(&door->auth_cancellable);
	vb_door_wipe_digits(door);
	vb_door_keypad_active(door, FALSE);
	door->phase = VB_PHASE_IDLE;
	door->customer_id = 0;
	door->phone_tries = 0;
	door->change_phone_until = 0;
	g_clear_pointer(&door->visit_id, g_free);
	g_clear_pointer(&door->card_token, g_free);
	g_clear_pointer(&door->greeting, g_free);
	if (prompt != VB_PROMPT_LAST)
		vb_door_show(door, prompt, NULL);
	vb_door_welcome_after(door, VB_PROMPT_HOLD_MS);
}

void
vb_door_fail(VbDoor *door, const gchar *state, const gchar *detail, VbPrompt prompt)
{
	if (door->visit_id != NULL)
		vb_visit_commit_state(door->self, door->visit_id, state, detail);
	vb_door_end(door, prompt);
}

void
vb_door_deny(VbDoor *door, const gchar *state, const gchar *detail, VbPrompt prompt)
{
	g_autofree gchar *line =
	    g_strdup_printf("door %s: visit %s %s%s%s", door->name, door->visit_id, state,
			    detail != NULL ? ": " : "", detail != NULL ? detail : "");
	VbAlertKind kind = VB_ALERT_KIND_OTHER;
	const gchar *processor = NULL;

	/* the refusals an operator queries by id carry the processor's instance */
	if (g_strcmp0(state, "declined") == 0)
		kind = VB_ALERT_KIND_HOLD_DECLINED;
	else if (g_strcmp0(state, "processor-unavailable") == 0)
		kind = VB_ALERT_KIND_PROCESSOR_UNREACHABLE;
	if (kind != VB_ALERT_KIND_OTHER && door->self != NULL)
		processor = door->self->payment_instance;
	vb_alert_log(G_LOG_LEVEL_MESSAGE, kind, processor, door->name, door->visit_id, line);
	vb_door_fail(door, state, detail, prompt);
}

void
vb_door_arm_timer(VbDoor *door, guint seconds, GSourceFunc func)
{
	vb_door_clear_source(&door->timer);
	door->timer = g_timeout_source_new_seconds(seconds);
	g_source_set_callback(door->timer, func, vb_door_ref(door), (GDestroyNotify)vb_door_unref);
	g_source_set_static_name(door->timer, "[vestibule] door time-out");
	g_source_attach(door->timer, NULL);
}

/* the phase machine */

/* --> enter-phone */
static void
vb_door_ask_phone(VbDoor *door)
{
	door->phase = VB_PHASE_ENTER_PHONE;
	vb_visit_verify_ask_phone(door);
}

/* --> authorizing: the checks before money moves, then the hold.
 * @recorded: the visit is already on record as authorizing */
static void
vb_door_authorize(VbDoor *door, gboolean recorded)
{
	VbVisitManager *self = door->self;
	VbPaymentProcessor *processor = vb_visit_hold_processor(self);
	VbVisitRiskRequest request = {
	    .visit_id = door->visit_id,
	    .door = door->name,
	    .card_token = door->card_token,
	    .customer_id = door->customer_id,
	    .returning = recorded,
	    .amount = self->hold_amount,
	    .currency = self->currency,
	};
	VbVisitRiskRefusal refusal = {NULL, VB_PROMPT_DECLINED};

	vb_door_clear_source(&door->timer);
	vb_door_keypad_active(door, FALSE);
	if (processor == NULL) {
		vb_door_deny(door, "processor-unavailable", "no payment processor is running",
			     VB_PROMPT_PROCESSOR_UNAVAILABLE);
		return;
	}
	if (vb_visit_risk_check(self, &request, &refusal) != VB_VISIT_RISK_ALLOW) {
		vb_door_deny(door, "declined", refusal.reason, refusal.prompt);
		return;
	}
	if (!recorded && !vb_visit_commit_state(self, door->visit_id, "authorizing", NULL)) {
		vb_door_end(door, VB_PROMPT_OUT_OF_SERVICE);
		return;
	}
	door->phase = VB_PHASE_AUTHORIZING;
	vb_door_show(door, VB_PROMPT_AUTHORIZING, door->greeting);
	vb_visit_hold_place(door, processor);
}

/* authorizing --approved--> unlocked */
void
vb_door_approved(VbDoor *door, const VbPaymentResult *result)
{
	VbVisitManager *self = door->self;
	VbVisitRewardsEvent approved = {
	    .visit_id = door->visit_id,
	    .customer_id = door->customer_id,
	    .card_token = door->card_token,
	    .amount = result->amount > 0 ? result->amount : self->hold_amount,
	    .currency = self->currency,
	};

	if (!vb_visit_hold_record(door, result) || !vb_visit_door_unlock(door)) {
		vb_door_end(door, VB_PROMPT_OUT_OF_SERVICE);
		return;
	}
	door->phase = VB_PHASE_UNLOCKED;
	vb_door_show(door, VB_PROMPT_DOOR_OPEN, door->greeting);
	vb_visit_door_wait_open(door);
	/* once the door is unlocked: nothing of it is on the shopper's wait */
	vb_visit_rewards_approved(self, &approved);
}

/* idle --tap--> enter-phone, or authorizing for a known card */
static void
vb_door_identified(VbDoor *door, VbVisitIdentifyOutcome outcome)
{
	switch (outcome) {
	case VB_VISIT_IDENTIFY_NEW:
		vb_door_ask_phone(door);
		break;
	case VB_VISIT_IDENTIFY_KNOWN:
		vb_door_authorize(door, TRUE);
		break;
	case VB_VISIT_IDENTIFY_ENDED:
	default:
		break;
	}
}

/* enter-phone --enter--> enter-code --enter--> authorizing, or enter-phone
 * --enter--> authorizing when the number needs no code */
static void
vb_door_verified(VbDoor *door, VbVisitVerifyOutcome outcome)
{
	switch (outcome) {
	case VB_VISIT_VERIFY_CODE_SENT:
		door->phase = VB_PHASE_ENTER_CODE;
		vb_visit_verify_ask_code(door);
		break;
	case VB_VISIT_VERIFY_LINKED:
		vb_door_authorize(door, FALSE);
		break;
	case VB_VISIT_VERIFY_ENTERING:
	case VB_VISIT_VERIFY_ENDED:
	default:
		break;
	}
}

/* unlocked --door-opened--> open */
static void
vb_door_opened(VbDoor *door)
{
	vb_door_clear_source(&door->timer);
	door->phase = VB_PHASE_OPEN;
	vb_visit_commit_state(door->self, door->visit_id, "open", NULL);
}

/* open --door-closed--> idle */
static void
vb_door_closed(VbDoor *door)
{
	vb_visit_door_close(door);
	vb_door_end(door, VB_PROMPT_WELCOME);
}

typedef enum {
	VB_DOOR_INPUT_TAP,
	VB_DOOR_INPUT_KEY,
	VB_DOOR_INPUT_OPENED,
	VB_DOOR_INPUT_CLOSED,
} VbDoorInput;

/* what each input does in each phase; what a phase does not expect is
 * ignored. The hold's answer and the time-outs come from the steps' own
 * callbacks: vb_door_approved(), vb_door_end() */
static void
vb_door_input(VbDoor *door, VbDoorInput input, VbEvent *event)
{
	VbKeypadKey key = VB_KEYPAD_KEY_INVALID;

	if (input == VB_DOOR_INPUT_KEY)
		key = vb_keypad_key_from_string(vb_event_lookup_string(event, VB_KEY_KEY));
	switch (door->phase) {
	case VB_PHASE_IDLE:
		if (input == VB_DOOR_INPUT_TAP)
			vb_door_identified(door, vb_visit_identify_card(door, event));
		/* '*' then a tap: give a known card a new number */
		else if (input == VB_DOOR_INPUT_KEY && key == VB_KEYPAD_KEY_STAR)
			vb_visit_verify_change_phone(door);
		return;
	case VB_PHASE_ENTER_PHONE:
	case VB_PHASE_ENTER_CODE:
		if (input == VB_DOOR_INPUT_KEY)
			vb_door_verified(door, vb_visit_verify_key(door, key));
		break;
	case VB_PHASE_AUTHORIZING:
		break;
	case VB_PHASE_UNLOCKED:
		if (input == VB_DOOR_INPUT_OPENED)
			vb_door_opened(door);
		break;
	case VB_PHASE_OPEN:
		if (input == VB_DOOR_INPUT_CLOSED)
			vb_door_closed(door);
		break;
	default:
		break;
	}
	if (input == VB_DOOR_INPUT_TAP)
		g_debug("door %s: a card was presented during a visit; ignored", door->name);
}

/* bus events */

static VbDoor *
vb_visit_manager_door_for(VbVisitManager *self, VbEvent *event, const gchar **role)
{
	const gchar *name = vb_event_get_door(event);
	const gchar *source = vb_event_get_source(event);
	VbDoor *door;

	if (name == NULL || source == NULL)
		return NULL;
	door = g_hash_table_lookup(self->doors, name);
	if (door == NULL)
		return NULL;
	if (g_strcmp0(source, door->reader) == 0)
		*role = "reader";
	else if (g_strcmp0(source, door->keypad) == 0)
		*role = "keypad";
	else if (g_strcmp0(source, door->lock) == 0)
		*role = "lock";
	else
		return NULL;
	return door;
}

static void
vb_visit_manager_event_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	VbVisitManager *self = VB_VISIT_MANAGER(user_data);
	const gchar *name = vb_event_get_name(event);
	const gchar *role = NULL;
	VbDoor *door = vb_visit_manager_door_for(self, event, &role);

	if (door == NULL)
		return;
	if (g_strcmp0(name, VB_EVENT_CARD_PRESENTED) == 0 && g_strcmp0(role, "reader") == 0)
		vb_door_input(door, VB_DOOR_INPUT_TAP, event);
	else if (g_strcmp0(name, VB_EVENT_KEYPAD_KEY) == 0 && g_strcmp0(role, "keypad") == 0)
		vb_door_input(door, VB_DOOR_INPUT_KEY, event);
	else if (g_strcmp0(name, VB_EVENT_DOOR_OPENED) == 0 && g_strcmp0(role, "lock") == 0)
		vb_door_input(door, VB_DOOR_INPUT_OPENED, event);
	else if (g_strcmp0(name, VB_EVENT_DOOR_CLOSED) == 0 && g_strcmp0(role, "lock") == 0)
		vb_door_input(door, VB_DOOR_INPUT_CLOSED, event);
}

/* after a restart: no visit is left holding money without a door session */
static void
vb_visit_manager_resume(VbVisitManager *self)
{
	g_autoptr(GPtrArray) rows =
	    g_ptr_array_new_with_free_func((GDestroyNotify)vb_visit_row_free);
	g_autoptr(GError) error = NULL;

	{
		g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
		    self->store,
		    "SELECT " VB_VISIT_COLUMNS " FROM visits WHERE state IN ('identified', "
		    "'enter-phone', 'enter-code', 'linked', 'authorizing', 'unlocked', 'open')",
		    &error);
		if (stmt == NULL) {
			g_warning("cannot resume visits: %s", error->message);
			return;
		}
		while (vb_store_stmt_step(stmt, &error) == VB_STORE_STEP_ROW)
			g_ptr_array_add(rows, vb_visit_row_from_stmt(stmt));
	}
	for (guint i = 0; i < rows->len; i++) {
		VbVisitRow *row = g_ptr_array_index(rows, i);
		VbDoor *door =
		    row->door != NULL ? g_hash_table_lookup(self->doors, row->door) : NULL;
		g_autoptr(VbStoreTransaction) tx = NULL;
		VbPlugin *lock;

		if (g_strcmp0(row->state, "open") == 0 && door != NULL &&
		    door->phase == VB_PHASE_IDLE) {
			/* the shopper is inside: the visit goes on when the door closes */
			door->phase = VB_PHASE_OPEN;
			door->visit_id = g_strdup(row->id);
			door->card_token = g_strdup(row->card_token);
			door->customer_id = row->customer_id;
			door->language = g_strdup(row->language);
			lock = vb_visit_manager_instance(self, door->lock);
			if (lock != NULL && VB_IS_DOOR_LOCK(lock) &&
			    vb_door_lock_get_door_state(VB_DOOR_LOCK(lock)) ==
				VB_DOOR_STATE_CLOSED) {
				/* the shopper left while the daemon was down: the visit
				 * ends as if the door closed now, notice included */
				g_message("door %s: visit %s resumes; its door closed meanwhile",
					  door->name, row->id);
				vb_door_closed(door);
				continue;
			}
			g_message("door %s: visit %s resumes with the door open", door->name,
				  row->id);
			continue;
		}
		tx = vb_store_transaction_begin(self->store, &error);
		if (tx == NULL || !vb_visit_door_restart(self, row, &error) ||
		    !vb_store_transaction_commit(tx, &error)) {
			g_warning("visit %s: cannot resume: %s", row->id,
				  error != NULL ? error->message : "no transaction");
			g_clear_error(&error);
		}
	}
}

/* timers */

static gboolean
vb_visit_manager_renew_cb(gpointer user_data)
{
	VbVisitManager *self = VB_VISIT_MANAGER(user_data);

	g_clear_pointer(&self->renew_source, g_source_unref);
	vb_visit_manager_renew_reservations(self);
	return G_SOURCE_REMOVE;
}

static gboolean
vb_visit_manager_deadline_cb(gpointer user_data)
{
	VbVisitManager *self = VB_VISIT_MANAGER(user_data);

	vb_visit_manager_check_deadlines(self);
	vb_visit_manager_queue_owed_notices(self);
	if (!self->reservations_renewed)
		vb_visit_manager_renew_reservations(self);
	return G_SOURCE_CONTINUE;
}

/* configuration */

static gchar *
vb_config_dup_nonempty(VbConfig *config, const gchar *group, const gchar *key)
{
	const gchar *value = vb_config_get_string(config, group, key);
	return value != NULL && value[0] != '\0' ? g_strdup(value) : NULL;
}

/* the outbox's bound and retry limits, from [outbox]; set here because the
 * visit manager is what the daemon configures with the outbox it was given */
static void
vb_visit_outbox_set_config(VbVisitManager *self, VbConfig *config)
{
	vb_outbox_set_limits(self->outbox,
			     (guint)vb_config_get_int(config, "outbox", "max-pending"),
			     vb_config_get_int(config, "outbox", "max-age-h") * 3600,
			     (guint)vb_config_get_int(config, "outbox", "max-attempts"),
			     (guint)vb_config_get_int(config, "outbox", "base-delay-ms"),
			     (guint)vb_config_get_int(config, "outbox", "max-delay-ms"));
	vb_outbox_set_unknown_limits(self->outbox,
				     vb_config_get_int(config, "outbox", "unknown-hold-s"),
				     vb_config_get_int(config, "outbox", "unknown-give-up-s"),
				     vb_config_get_int(config, "outbox", "stuck-alert-s"));
}

void
vb_visit_manager_set_config(VbVisitManager *self, VbConfig *config)
{
	g_auto(GStrv) groups = NULL;

	g_return_if_fail(VB_IS_VISIT_MANAGER(self));

	self->hold_amount = vb_config_get_int(config, "visit", "hold-amount");
	self->verify_phone = vb_config_get_boolean(config, "visit", "verify-phone");
	self->keypad_timeout_s = (guint)vb_config_get_int(config, "visit", "keypad-timeout-s");
	self->authorize_timeout_ms =
	    (guint)vb_config_get_int(config, "visit", "authorize-timeout-ms");
	self->open_timeout_s = (guint)vb_config_get_int(config, "visit", "open-timeout-s");
	self->capture_deadline_h = (guint)vb_config_get_int(config, "visit", "capture-deadline-h");
	self->deadline_capture_max = vb_config_get_int(config, "visit", "deadline-capture-max");
	self->receipt_days = (guint)vb_config_get_int(config, "visit", "receipt-days");
	g_free(self->currency);
	self->currency = g_strdup(vb_config_get_string(config, "vestibule", "currency"));
	g_free(self->country);
	self->country = g_strdup(vb_config_get_string(config, "vestibule", "country"));
	g_free(self->operator_contact);
	self->operator_contact =
	    g_strdup(vb_config_get_string(config, "vestibule", "operator-contact"));
	g_free(self->operator_phone);
	self->operator_phone = vb_config_dup_nonempty(config, "visit", "operator-phone");
	g_free(self->sms_instance);
	self->sms_instance = vb_config_dup_nonempty(config, "services", "sms");
	g_free(self->sms_fallback);
	self->sms_fallback = vb_config_dup_nonempty(config, "services", "sms-fallback");
	g_free(self->payment_instance);
	self->payment_instance = vb_config_dup_nonempty(config, "services", "payment");
	vb_sms_router_set_config(self->sms_router, config);
	vb_visit_outbox_set_config(self, config);

	/* a door keeps its session, and the visit in it, across a reload */
	groups = vb_config_get_groups(config);
	for (guint i = 0; groups[i] != NULL; i++) {
		const gchar *name;
		VbDoor *door;
		if (!g_str_has_prefix(groups[i], "door:"))
			continue;
		name = groups[i] + strlen("door:");
		door = g_hash_table_lookup(self->doors, name);
		if (door == NULL) {
			door = g_new0(VbDoor, 1);
			g_atomic_ref_count_init(&door->ref);
			door->self = self;
			door->name = g_strdup(name);
			g_hash_table_insert(self->doors, door->name, door);
		}
		g_free(door->reader);
		door->reader = vb_config_dup_nonempty(config, groups[i], "reader");
		g_free(door->lock);
		door->lock = vb_config_dup_nonempty(config, groups[i], "lock");
		g_free(door->keypad);
		door->keypad = vb_config_dup_nonempty(config, groups[i], "keypad");
		g_free(door->display);
		door->display = vb_config_dup_nonempty(config, groups[i], "display");
		door->pulse_ms = (guint)vb_config_get_int(config, groups[i], "unlock-pulse-ms");
	}
}

void
vb_visit_manager_start(VbVisitManager *self)
{
	GHashTableIter iter;
	VbDoor *door;

	g_return_if_fail(VB_IS_VISIT_MANAGER(self));
	if (self->started)
		return;
	self->started = TRUE;
	vb_sms_router_start(self->sms_router);
	vb_outbox_register(self->outbox, "sms", vb_visit_sms_dispatch, vb_visit_sms_complete, self,
			   NULL);
	vb_outbox_register(self->outbox, "payment", vb_visit_payment_dispatch,
			   vb_visit_payment_complete, self, NULL);
	/* what each promise is worth when its outcome stays unknown: see
	 * vb_visit_sms_unknown(); money is never sent again on a guess, and a
	 * cancel never overtakes a capture */
	vb_outbox_set_unknown_policy(self->outbox, "sms", FALSE, vb_visit_sms_unknown);
	/* a message over the rate limit waits in the queue, unclaimed */
	vb_outbox_set_gate(self->outbox, "sms", vb_sms_router_gate, self->sms_router);
	vb_outbox_set_unknown_policy(self->outbox, "payment", TRUE, NULL);
	vb_visit_manager_resume(self);
	/* after the start, not in it: a sync less before the daemon is ready,
	 * and until then every tap syncs its visit */
	self->renew_source = g_idle_source_new();
	g_source_set_callback(self->renew_source, vb_visit_manager_renew_cb, self, NULL);
	g_source_set_static_name(self->renew_source, "[vestibule] renew reservations");
	g_source_attach(self->renew_source, NULL);
	self->event_handler = g_signal_connect(vb_context_get_bus(self->context), "event",
					       G_CALLBACK(vb_visit_manager_event_cb), self);
	self->deadline_timer = g_timeout_source_new_seconds(VB_DEADLINE_CHECK_S);
	g_source_set_callback(self->deadline_timer, vb_visit_manager_deadline_cb, self, NULL);
	g_source_set_static_name(self->deadline_timer, "[vestibule] capture deadlines");
	g_source_attach(self->deadline_timer, NULL);
	vb_visit_manager_check_deadlines(self);
	vb_visit_manager_queue_owed_notices(self);
	g_hash_table_iter_init(&iter, self->doors);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&door)) {
		if (door->phase == VB_PHASE_IDLE)
			vb_door_show(door, VB_PROMPT_WELCOME, NULL);
	}
}

gboolean
vb_visit_manager_is_idle(VbVisitManager *self)
{
	GHashTableIter iter;
	VbDoor *door;

	g_return_val_if_fail(VB_IS_VISIT_MANAGER(self), TRUE);

	g_hash_table_iter_init(&iter, self->doors);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&door)) {
		if (door->phase != VB_PHASE_IDLE)
			return FALSE;
	}
	return TRUE;
}

void
vb_visit_manager_stop(VbVisitManager *self)
{
	GHashTableIter iter;
	VbDoor *door;

	g_return_if_fail(VB_IS_VISIT_MANAGER(self));
	if (!self->started)
		return;
	self->started = FALSE;
	self->reservations_renewed = FALSE;
	g_clear_signal_handler(&self->event_handler, vb_context_get_bus(self->context));
	vb_outbox_set_gate(self->outbox, "sms", NULL, NULL);
	vb_sms_router_stop(self->sms_router);
	if (self->renew_source != NULL) {
		g_source_destroy(self->renew_source);
		g_clear_pointer(&self->renew_source, g_source_unref);
	}
	if (self->deadline_timer != NULL) {
		g_source_destroy(self->deadline_timer);
		g_clear_pointer(&self->deadline_timer, g_source_unref);
	}
	if (self->owed_source != NULL) {
		g_source_destroy(self->owed_source);
		g_clear_pointer(&self->owed_source, g_source_unref);
	}
	/* door sessions stay in the store: the next start resumes or settles them */
	g_hash_table_iter_init(&iter, self->doors);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&door)) {
		vb_door_clear_source(&door->timer);
		vb_door_clear_source(&door->idle_timer);
		vb_door_clear_source(&door->auth_timer);
		if (door->auth_cancellable != NULL)
			g_cancellable_cancel(door->auth_cancellable);
	}
}

static void
vb_visit_manager_door_release(gpointer data)
{
	VbDoor *door = data;
	door->self = NULL;
	vb_door_unref(door);
}

static void
vb_visit_manager_dispose(GObject *object)
{
	VbVisitManager *self = VB_VISIT_MANAGER(object);

	vb_visit_manager_stop(self);
	g_hash_table_remove_all(self->doors);
	g_clear_object(&self->sms_router);
	g_clear_object(&self->customers);
	g_clear_object(&self->outbox);
	g_clear_object(&self->store);
	g_clear_object(&self->host);
	G_OBJECT_CLASS(vb_visit_manager_parent_class)->dispose(object);
}

static void
vb_visit_manager_finalize(GObject *object)
{
	VbVisitManager *self = VB_VISIT_MANAGER(object);

	g_hash_table_unref(self->doors);
	g_clear_pointer(&self->risk_rules, g_array_unref);
	g_free(self->currency);
	g_free(self->country);
	g_free(self->operator_contact);
	g_free(self->operator_phone);
	g_free(self->sms_instance);
	g_free(self->sms_fallback);
	g_free(self->payment_instance);
	G_OBJECT_CLASS(vb_visit_manager_parent_class)->finalize(object);
}

static void
vb_visit_manager_class_init(VbVisitManagerClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = vb_visit_manager_dispose;
	object_class->finalize = vb_visit_manager_finalize;
}

static void
vb_visit_manager_init(VbVisitManager *self)
{
	self->doors =
	    g_hash_table_new_full(g_str_hash, g_str_equal, NULL, vb_visit_manager_door_release);
}

VbVisitManager *
vb_visit_manager_new(VbContext *context,
		     VbHost *host,
		     VbPluginLoader *loader,
		     VbCustomers *customers,
		     VbOutbox *outbox)
{
	VbVisitManager *self = g_object_new(VB_TYPE_VISIT_MANAGER, NULL);

	self->context = context;
	self->store = g_object_ref(vb_context_get_store(context));
	self->host = g_object_ref(host);
	self->loader = loader;
	self->customers = g_object_ref(customers);
	self->outbox = g_object_ref(outbox);
	self->sms_router = vb_sms_router_new(context, loader, customers);
	return self;
}
