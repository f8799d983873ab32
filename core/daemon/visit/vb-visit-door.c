/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-context-private.h"
#include "vb-display.h"
#include "vb-door-lock.h"
#include "vb-error.h"
#include "vb-visit-private.h"

/*
 * Door: the door's devices for the visit. The display's prompts, the
 * keypad's light, the unlock once the hold is on record, the wait for the
 * door to be pushed (given up after [visit] open-timeout-s, and the hold
 * cancelled), the lock once it closed, and what a restart does to a visit it
 * finds without a door session. It may touch the door's plugins, the store
 * and the outbox; it moves no phase.
 */

/* the display and the keypad */

void
vb_door_show(VbDoor *door, VbPrompt prompt, const gchar *prefix)
{
	VbPlugin *display = vb_visit_manager_instance(door->self, door->display);
	g_autofree gchar *text = NULL;
	g_autoptr(GError) error = NULL;

	if (display == NULL || !VB_IS_DISPLAY(display))
		return;
	text = prefix != NULL
		   ? g_strdup_printf("%s\n%s", prefix, vb_prompt_get_text(prompt, door->language))
		   : g_strdup(vb_prompt_get_text(prompt, door->language));
	if (!vb_display_show(VB_DISPLAY(display), vb_prompt_get_id(prompt), text, &error))
		g_warning("door %s: cannot show a prompt: %s", door->name, error->message);
}

/* what the shopper typed: a code as dots, a phone with only its last digits,
 * since a display may be a log */
void
vb_door_show_entry(VbDoor *door, VbPrompt prompt)
{
	VbPlugin *display = vb_visit_manager_instance(door->self, door->display);
	g_autoptr(GString) text = g_string_new(vb_prompt_get_text(prompt, door->language));
	g_autoptr(GError) error = NULL;

	if (display == NULL || !VB_IS_DISPLAY(display))
		return;
	g_string_append_c(text, '\n');
	for (guint i = 0; i < door->n_digits; i++) {
		gboolean visible = door->phase == VB_PHASE_ENTER_PHONE && i + 3 >= door->n_digits;
		if (visible)
			g_string_append_c(text, door->digits[i]);
		else
			g_string_append(text, "\xe2\x80\xa2");
	}
	if (!vb_display_show(VB_DISPLAY(display), vb_prompt_get_id(prompt), text->str, &error))
		g_warning("door %s: cannot show a prompt: %s", door->name, error->message);
}

void
vb_door_keypad_active(VbDoor *door, gboolean active)
{
	VbPlugin *keypad = vb_visit_manager_instance(door->self, door->keypad);
	if (keypad != NULL && VB_IS_KEYPAD(keypad))
		vb_keypad_set_active(VB_KEYPAD(keypad), active);
}

static gboolean
vb_door_open_timeout_cb(gpointer user_data)
{
	VbDoor *door = user_data;
	VbVisitManager *self = door->self;
	VbPlugin *lock = vb_visit_manager_instance(self, door->lock);
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;

	g_clear_pointer(&door->timer, g_source_unref);
	if (lock != NULL && !vb_door_lock_lock(VB_DOOR_LOCK(lock), &error)) {
		vb_context_alert(self->context, VB_ALERT_CRITICAL, door->lock,
				 "door %s did not lock again: %s", door->name, error->message);
		g_clear_error(&error);
	}
	/* never opened: the hold is released, not left to expire */
	tx = vb_store_transaction_begin(self->store, &error);
	if (tx == NULL ||
	    !vb_visit_set_state(self, door->visit_id, "abandoned", "the door was not opened",
				&error) ||
	    !vb_visit_enqueue_payment(self, door->visit_id, "cancel", 0, "cancel", &error) ||
	    !vb_store_transaction_commit(tx, &error)) {
		vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
				 "visit %s: cannot queue the cancel of its hold: %s",
				 door->visit_id, error->message);
	}
	vb_door_end(door, VB_PROMPT_TIMED_OUT);
	return G_SOURCE_REMOVE;
}

/* the hold is on record (vb_visit_hold_record()), unsynced: the sync follows
 * the unlock, off the shopper's wait */
gboolean
vb_visit_door_unlock(VbDoor *door)
{
	VbVisitManager *self = door->self;
	VbPlugin *lock = vb_visit_manager_instance(self, door->lock);
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;

	if (lock == NULL || !vb_door_lock_unlock(VB_DOOR_LOCK(lock), door->pulse_ms, &error)) {
		g_autoptr(GError) error_cancel = NULL;
		vb_context_alert(self->context, VB_ALERT_CRITICAL, door->lock,
				 "door %s did not unlock for visit %s: %s; its hold is cancelled",
				 door->name, door->visit_id,
				 error != NULL ? error->message : "no lock is running");
		tx = vb_store_transaction_begin(self->store, &error_cancel);
		if (tx == NULL ||
		    !vb_visit_set_state(self, door->visit_id, "lock-failed", NULL, &error_cancel) ||
		    !vb_visit_enqueue_payment(self, door->visit_id, "cancel", 0, "cancel",
					      &error_cancel) ||
		    !vb_store_transaction_commit(tx, &error_cancel))
			g_warning("visit %s: %s", door->visit_id, error_cancel->message);
		return FALSE;
	}
	if (!vb_store_sync(self->store, &error))
		vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
				 "visit %s: the approved hold may not survive a power cut: %s",
				 door->visit_id, error->message);
	return TRUE;
}

void
vb_visit_door_wait_open(VbDoor *door)
{
	vb_door_arm_timer(door, door->self->open_timeout_s, vb_door_open_timeout_cb);
}

void
vb_visit_door_close(VbDoor *door)
{
	VbVisitManager *self = door->self;
	VbPlugin *lock = vb_visit_manager_instance(self, door->lock);
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) error_full = NULL;
	gboolean ok;

	if (lock != NULL && !vb_door_lock_lock(VB_DOOR_LOCK(lock), &error)) {
		vb_context_alert(self->context, VB_ALERT_CRITICAL, door->lock,
				 "door %s did not lock after closing: %s", door->name,
				 error->message);
		g_clear_error(&error);
	}
	/* the notice and the state change are one commit: neither without the
	 * other. With the outbox full (a long outage), the closed door is
	 * recorded all the same, so that the visit's order can settle, and the
	 * visit owes its notice, queued as soon as the outbox has room.
	 *
	 * Not synced: a power cut that takes this commit back leaves the visit
	 * open, and the next start closes it again from the door's contact,
	 * notice included (vb_visit_manager_resume()); nothing leaves the store
	 * on the strength of it before a later commit that syncs (the outbox
	 * syncs before it sends, the order's settlement when it is recorded) */
	tx =
	    vb_store_transaction_begin_full(self->store, VB_STORE_TRANSACTION_FLAG_NO_SYNC, &error);
	ok = tx != NULL &&
	     vb_visit_set_state(self, door->visit_id, "awaiting-order", NULL, &error) &&
	     vb_visit_notice_queue(self, door->visit_id, door->customer_id, door->language,
				   &error_full, &error);
	if (!ok || !vb_store_transaction_commit(tx, &error)) {
		vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
				 "visit %s: cannot record the closed door: %s", door->visit_id,
				 error->message);
	} else if (error_full != NULL) {
		vb_context_alert(
		    self->context, VB_ALERT_CRITICAL, NULL,
		    "visit %s: its notice SMS waits for room in the outbox (%s); it is "
		    "queued as soon as there is",
		    door->visit_id, error_full->message);
	}
}

/* a visit that a restart finds without a door session */
gboolean
vb_visit_door_restart(VbVisitManager *self, VbVisitRow *row, GError **error)
{
	if (g_strcmp0(row->state, "open") == 0) {
		g_autoptr(GError) error_full = NULL;

		/* its door is gone from the config: treat it as closed, notice
		 * included, in the same commit as vb_visit_door_close() does */
		if (!vb_visit_set_state(self, row->id, "awaiting-order", "resumed after a restart",
					error) ||
		    !vb_visit_notice_queue(self, row->id, row->customer_id, row->language,
					   &error_full, error))
			return FALSE;
		if (error_full != NULL)
			vb_context_alert(
			    self->context, VB_ALERT_CRITICAL, NULL,
			    "visit %s: its notice SMS waits for room in the outbox (%s); it is "
			    "queued as soon as there is",
			    row->id, error_full->message);
		return TRUE;
	}
	if (g_strcmp0(row->state, "unlocked") == 0) {
		/* the lock came back locked, the shopper never got in */
		return vb_visit_set_state(self, row->id, "abandoned",
					  "the daemon restarted before the door opened", error) &&
		       vb_visit_enqueue_payment(self, row->id, "cancel", 0, "cancel", error);
	}
	if (g_strcmp0(row->state, "authorizing") == 0) {
		return vb_visit_set_state(self, row->id, "interrupted",
					  "the daemon restarted during the hold", error) &&
		       vb_visit_enqueue_payment(self, row->id, "void", 0, "void", error);
	}
	return vb_visit_set_state(self, row->id, "interrupted", "the daemon restarted", error);
}
