/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-crypto-private.h"
#include "vb-error.h"
#include "vb-phone-private.h"
#include "vb-secure.h"
#include "vb-visit-private.h"

/*
 * Verify: the shopper of a new card (or of a known card after '*') types a
 * phone number at the keypad and, when [visit] verify-phone asks for it or
 * the number is new for the card, the one-time code sent to it. The digits
 * live in the door's session only, and are wiped as soon as they are used.
 * It may touch the door's keypad and display, the customers and the outbox
 * (the code's SMS); it reports how the entry ended and moves no phase.
 */

#define VB_CODE_DIGITS 6
#define VB_MAX_PHONE_TRIES 3
#define VB_CHANGE_PHONE_WINDOW_US (30 * G_USEC_PER_SEC)

static gboolean
vb_door_keypad_timeout_cb(gpointer user_data)
{
	VbDoor *door = user_data;
	g_clear_pointer(&door->timer, g_source_unref);
	vb_door_fail(door, "timed-out", "no key pressed in time", VB_PROMPT_TIMED_OUT);
	return G_SOURCE_REMOVE;
}

void
vb_visit_verify_ask_phone(VbDoor *door)
{
	vb_door_wipe_digits(door);
	vb_door_keypad_active(door, TRUE);
	vb_door_show_entry(door, VB_PROMPT_ENTER_PHONE);
	vb_door_arm_timer(door, door->self->keypad_timeout_s, vb_door_keypad_timeout_cb);
}

void
vb_visit_verify_ask_code(VbDoor *door)
{
	vb_door_wipe_digits(door);
	vb_door_show_entry(door, VB_PROMPT_ENTER_CODE);
	vb_door_arm_timer(door, door->self->keypad_timeout_s, vb_door_keypad_timeout_cb);
}

static VbVisitVerifyOutcome
vb_door_send_code(VbDoor *door)
{
	VbVisitManager *self = door->self;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key = NULL;
	gchar *code;

	code = vb_customers_otp_issue(self->customers, door->customer_id, &error);
	if (code == NULL) {
		if (g_error_matches(error, VB_ERROR, VB_ERROR_RATE_LIMITED))
			vb_door_fail(door, "code-throttled", error->message, VB_PROMPT_WAIT);
		else
			vb_door_fail(door, "failed", error->message, VB_PROMPT_OUT_OF_SERVICE);
		return VB_VISIT_VERIFY_ENDED;
	}
	/* the code rides with the item in memory only; the store keeps its hash */
	key = g_strdup_printf("%s:otp:%" G_GINT64_FORMAT, door->visit_id, g_get_real_time());
	vb_outbox_set_ephemeral(self->outbox, key, code);
	vb_secure_free_string(code);
	if (!vb_visit_enqueue_sms(self, door->visit_id, door->customer_id, VB_SMS_OTP,
				  door->language, key, &error)) {
		vb_door_fail(door, "failed", error->message, VB_PROMPT_OUT_OF_SERVICE);
		return VB_VISIT_VERIFY_ENDED;
	}
	if (!vb_visit_commit_state(self, door->visit_id, "enter-code", NULL)) {
		vb_door_end(door, VB_PROMPT_OUT_OF_SERVICE);
		return VB_VISIT_VERIFY_ENDED;
	}
	return VB_VISIT_VERIFY_CODE_SENT;
}

/* links the card to the door's customer, with the consent to transactional
 * messages that giving the number at the door is */
static gboolean
vb_door_link(VbDoor *door, GError **error)
{
	VbVisitManager *self = door->self;
	g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(self->store, error);

	if (tx == NULL)
		return FALSE;
	if (!vb_customers_link_card(self->customers, door->card_token, door->customer_id, error) ||
	    !vb_customers_record_consent(self->customers, door->customer_id, "transactional", TRUE,
					 vb_prompt_get_text(VB_PROMPT_ENTER_PHONE, door->language),
					 "1", "keypad", error) ||
	    !vb_visit_set_int(self, door->visit_id,
			      "UPDATE visits SET customer_id = ?2 WHERE id = ?1", door->customer_id,
			      error) ||
	    !vb_visit_set_state(self, door->visit_id, "linked", NULL, error))
		return FALSE;
	return vb_store_transaction_commit(tx, error);
}

VbVisitVerifyOutcome
vb_visit_verify_submit_phone(VbDoor *door)
{
	VbVisitManager *self = door->self;
	g_autoptr(GError) error = NULL;
	gchar *e164;

	e164 = vb_phone_normalize(door->digits, self->country, &error);
	vb_door_wipe_digits(door);
	if (e164 == NULL) {
		if (++door->phone_tries >= VB_MAX_PHONE_TRIES) {
			vb_door_fail(door, "invalid-phone", error->message,
				     VB_PROMPT_INVALID_PHONE);
			return VB_VISIT_VERIFY_ENDED;
		}
		vb_door_show_entry(door, VB_PROMPT_INVALID_PHONE);
		vb_door_arm_timer(door, self->keypad_timeout_s, vb_door_keypad_timeout_cb);
		return VB_VISIT_VERIFY_ENTERING;
	}
	door->customer_id = vb_customers_find_phone(self->customers, e164, &error);
	if (door->customer_id == 0 && error == NULL)
		door->customer_id =
		    vb_customers_add_phone(self->customers, e164, door->language, &error);
	vb_secure_free_string(e164);
	if (door->customer_id == 0) {
		vb_door_fail(door, "failed", error->message, VB_PROMPT_OUT_OF_SERVICE);
		return VB_VISIT_VERIFY_ENDED;
	}
	/* a new number for a card is always proved, whatever verify-phone says */
	if (self->verify_phone || door->change_phone_until != 0)
		return vb_door_send_code(door);
	if (!vb_door_link(door, &error)) {
		vb_door_fail(door, "failed", error->message, VB_PROMPT_OUT_OF_SERVICE);
		return VB_VISIT_VERIFY_ENDED;
	}
	return VB_VISIT_VERIFY_LINKED;
}

VbVisitVerifyOutcome
vb_visit_verify_submit_code(VbDoor *door)
{
	VbVisitManager *self = door->self;
	g_autoptr(GError) error = NULL;
	guint tries_left = 0;
	VbOtpResult result;

	result = vb_customers_otp_verify(self->customers, door->customer_id, door->digits,
					 &tries_left, &error);
	vb_door_wipe_digits(door);
	switch (result) {
	case VB_OTP_OK:
		if (!vb_door_link(door, &error)) {
			vb_door_fail(door, "failed", error->message, VB_PROMPT_OUT_OF_SERVICE);
			return VB_VISIT_VERIFY_ENDED;
		}
		return VB_VISIT_VERIFY_LINKED;
	case VB_OTP_WRONG:
		vb_visit_commit_state(self, door->visit_id, "enter-code", "wrong code");
		vb_door_show_entry(door, VB_PROMPT_WRONG_CODE);
		vb_door_arm_timer(door, self->keypad_timeout_s, vb_door_keypad_timeout_cb);
		return VB_VISIT_VERIFY_ENTERING;
	case VB_OTP_EXHAUSTED:
		vb_door_fail(door, "code-failed", "three wrong codes", VB_PROMPT_CODE_FAILED);
		return VB_VISIT_VERIFY_ENDED;
	case VB_OTP_EXPIRED:
		vb_door_fail(door, "code-failed", "the code expired", VB_PROMPT_CODE_FAILED);
		return VB_VISIT_VERIFY_ENDED;
	case VB_OTP_NONE:
	default:
		vb_door_fail(door, "code-failed", error != NULL ? error->message : "no code",
			     VB_PROMPT_CODE_FAILED);
		return VB_VISIT_VERIFY_ENDED;
	}
}

VbVisitVerifyOutcome
vb_visit_verify_key(VbDoor *door, VbKeypadKey key)
{
	guint max = door->phase == VB_PHASE_ENTER_CODE ? VB_CODE_DIGITS : VB_MAX_PHONE_DIGITS;
	VbPrompt prompt =
	    door->phase == VB_PHASE_ENTER_CODE ? VB_PROMPT_ENTER_CODE : VB_PROMPT_ENTER_PHONE;

	vb_door_arm_timer(door, door->self->keypad_timeout_s, vb_door_keypad_timeout_cb);
	if (key <= VB_KEYPAD_KEY_9) {
		if (door->n_digits < max) {
			door->digits[door->n_digits++] = (gchar)('0' + key);
			door->digits[door->n_digits] = '\0';
		}
		vb_door_show_entry(door, prompt);
	} else if (key == VB_KEYPAD_KEY_ERASE) {
		if (door->n_digits > 0)
			door->digits[--door->n_digits] = '\0';
		vb_door_show_entry(door, prompt);
	} else if (key == VB_KEYPAD_KEY_CANCEL) {
		vb_door_fail(door, "cancelled", "cancelled at the keypad", VB_PROMPT_CANCELLED);
		return VB_VISIT_VERIFY_ENDED;
	} else if (key == VB_KEYPAD_KEY_ENTER && door->n_digits > 0) {
		if (door->phase == VB_PHASE_ENTER_PHONE)
			return vb_visit_verify_submit_phone(door);
		return vb_visit_verify_submit_code(door);
	}
	return VB_VISIT_VERIFY_ENTERING;
}

void
vb_visit_verify_change_phone(VbDoor *door)
{
	door->change_phone_until = g_get_monotonic_time() + VB_CHANGE_PHONE_WINDOW_US;
	vb_door_show(door, VB_PROMPT_CHANGE_PHONE, NULL);
	/* the prompt lasts as long as the window: left up, it would promise the
	 * next shopper, minutes later, a change that their tap no longer makes */
	vb_door_welcome_after(door, VB_CHANGE_PHONE_WINDOW_US / 1000);
}
