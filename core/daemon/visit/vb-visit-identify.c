/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-context-private.h"
#include "vb-visit-private.h"

/*
 * Identify: a card read at an idle door becomes a customer and a visit. The
 * card is recorded (its token, its aliases, the customer it is linked to and
 * that customer's language), and so is the new visit, under the door's
 * reserved reference when there is one (see vb-visit-hold.c). A known card's
 * visit goes on record as authorizing in the same commit; any other as
 * enter-phone. It may touch the door's session and the store; it places no
 * hold and moves no phase.
 */

VbVisitIdentifyOutcome
vb_visit_identify_card(VbDoor *door, VbEvent *event)
{
	VbVisitManager *self = door->self;
	g_autoptr(VbCard) card = NULL;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *visit_id = NULL;
	g_autofree gchar *reserved = NULL;
	guint64 syncs = 0;
	gboolean can_release;
	gboolean claim;
	gboolean ok;
	gboolean change_phone;
	gboolean known;

	change_phone = door->change_phone_until > g_get_monotonic_time();
	door->change_phone_until = change_phone ? door->change_phone_until : 0;
	vb_door_clear_source(&door->idle_timer);

	/* a reference on disk lets the visit's commit skip its sync */
	can_release = self->reservations_renewed && vb_visit_manager_can_release_by_reference(self);
	claim = can_release && vb_door_reservation_ready(door);
	tx = vb_store_transaction_begin_full(
	    self->store, claim ? VB_STORE_TRANSACTION_FLAG_NO_SYNC : VB_STORE_TRANSACTION_FLAG_NONE,
	    &error);
	if (tx != NULL)
		card = vb_customers_card_seen(self->customers, event, &error);
	if (card == NULL) {
		vb_context_alert(self->context, VB_ALERT_WARNING, NULL,
				 "door %s: cannot record a presented card: %s", door->name,
				 error->message);
		vb_door_end(door, VB_PROMPT_OUT_OF_SERVICE);
		return VB_VISIT_IDENTIFY_ENDED;
	}
	if (g_strcmp0(card->kind, "payment") != 0) {
		/* a tag that is not a payment card cannot carry a hold */
		vb_door_end(door, VB_PROMPT_DECLINED);
		return VB_VISIT_IDENTIFY_ENDED;
	}
	known = card->customer_id > 0 && !change_phone;
	visit_id = claim ? g_strdup(door->reserved) : vb_visit_new_id();
	/* the door's next reference: taken now, on disk at the next sync, which
	 * this commit is when it does not claim */
	ok = !claim || vb_visit_claim_reservation(self, visit_id, &error);
	if (ok && can_release && (claim || door->reserved == NULL)) {
		reserved = vb_door_reserve(door, &error);
		ok = reserved != NULL;
	}
	if (!ok) {
		vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
				 "door %s: cannot record a new visit: %s", door->name,
				 error->message);
		vb_door_end(door, VB_PROMPT_OUT_OF_SERVICE);
		return VB_VISIT_IDENTIFY_ENDED;
	}
	syncs = vb_store_get_syncs(self->store);
	g_free(door->language);
	door->language =
	    g_strdup(card->language != NULL ? card->language
					    : vb_context_get_default_language(self->context));
	{
		g_autoptr(VbStoreStmt) insert = vb_store_prepare(
		    self->store,
		    "INSERT INTO visits (id, door, state, card_token, first6, last4, created, "
		    "updated, customer_id, language, currency, hold_amount) "
		    "VALUES (?1, ?2, 'identified', ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10)",
		    &error);
		if (insert != NULL) {
			vb_store_stmt_bind_text(insert, 1, visit_id);
			vb_store_stmt_bind_text(insert, 2, door->name);
			vb_store_stmt_bind_text(insert, 3, card->token);
			vb_store_stmt_bind_text(insert, 4, card->first6);
			vb_store_stmt_bind_text(insert, 5, card->last4);
			vb_store_stmt_bind_int64(insert, 6, g_get_real_time());
			if (card->customer_id > 0 && !change_phone)
				vb_store_stmt_bind_int64(insert, 7, card->customer_id);
			else
				vb_store_stmt_bind_null(insert, 7);
			vb_store_stmt_bind_text(insert, 8, door->language);
			vb_store_stmt_bind_text(insert, 9, self->currency);
			vb_store_stmt_bind_int64(insert, 10, self->hold_amount);
		}
		/* one commit for the new visit and its next step, unsynced when it
		 * claims the door's reservation */
		if (insert == NULL || !vb_store_stmt_exec(insert, &error) ||
		    !vb_visit_set_state(self, visit_id, "identified", NULL, &error) ||
		    !vb_visit_set_state(self, visit_id, known ? "authorizing" : "enter-phone", NULL,
					&error) ||
		    !vb_store_transaction_commit(tx, &error)) {
			vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
					 "door %s: cannot record a new visit: %s", door->name,
					 error->message);
			vb_door_end(door, VB_PROMPT_OUT_OF_SERVICE);
			return VB_VISIT_IDENTIFY_ENDED;
		}
	}
	if (reserved != NULL)
		vb_door_set_reserved(door, g_steal_pointer(&reserved), syncs);
	else if (claim)
		vb_door_set_reserved(door, NULL, 0);
	door->visit_id = g_steal_pointer(&visit_id);
	door->card_token = g_strdup(card->token);
	door->phone_tries = 0;

	if (known) {
		g_autofree gchar *language =
		    vb_customers_get_language(self->customers, card->customer_id);
		door->customer_id = card->customer_id;
		if (card->language == NULL && language != NULL) {
			g_free(door->language);
			door->language = g_steal_pointer(&language);
		}
		door->greeting = vb_prompt_welcome_back(door->language, (guint)card->visits + 1);
		return VB_VISIT_IDENTIFY_KNOWN;
	}
	return VB_VISIT_IDENTIFY_NEW;
}
