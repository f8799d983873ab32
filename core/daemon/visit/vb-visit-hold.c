/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-context-private.h"
#include "vb-visit-private.h"

/*
 * Hold: the authorization the shopper waits for at the door, asked for under
 * the visit's reference with a time-out; its approval recorded before the
 * door opens; and the references each door reserves ahead, released by
 * reference after a restart. It may touch the payment processor, the store
 * and the outbox (voids, cancels by reference); the approval goes back to
 * the phase machine, vb_door_approved(), and a refusal ends the session.
 *
 * store could forget: a restart voids the hold of every visit it finds still
 * authorizing, but a visit that a power cut took back would leave its hold
 * standing for days. So a tap used to record its visit with a synced commit
 * before asking the processor, one sync on every shopper's wait. Now each door
 * keeps its next reference reserved ahead, on disk before any tap can take
 * it (the commit that reserved it was followed by a sync). A tap claims it
 * with an unsynced commit and asks the processor at once. After a restart the
 * daemon cannot tell a reservation never claimed from one whose claim a power
 * cut took back, so it cancels every reservation it finds by reference, which
 * releases any hold placed under it and refuses one arriving later, and
 * reserves anew. A processor without VB_PAYMENT_CAPABILITY_CANCEL_BY_REFERENCE
 * keeps the synced commit before the hold, as does a tap that finds no
 * reservation on disk yet.
 */

/* reservations */

/* releases, through the outbox, whatever hold was placed under a reserved
 * reference whose claim may have been lost */
static gboolean
vb_visit_enqueue_release(VbVisitManager *self, const gchar *reference, GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) payload = NULL;
	g_autofree gchar *key = g_strdup_printf("%s:cancel-by-reference", reference);
	g_autofree gchar *recipient = g_strdup_printf("payment:%s", reference);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "op");
	json_builder_add_string_value(builder, "cancel-by-reference");
	json_builder_set_member_name(builder, "reference");
	json_builder_add_string_value(builder, reference);
	json_builder_end_object(builder);
	payload = json_builder_get_root(builder);
	return vb_outbox_enqueue(self->outbox, "payment", recipient, key, payload, NULL, error) > 0;
}

gboolean
vb_visit_manager_can_release_by_reference(VbVisitManager *self)
{
	VbPlugin *processor = vb_visit_manager_instance(self, self->payment_instance);

	return processor != NULL && VB_IS_PAYMENT_PROCESSOR(processor) &&
	       (vb_payment_processor_get_capabilities(VB_PAYMENT_PROCESSOR(processor)) &
		VB_PAYMENT_CAPABILITY_CANCEL_BY_REFERENCE) != 0;
}

/* reserves a reference for @door in the open transaction */
gchar *
vb_door_reserve(VbDoor *door, GError **error)
{
	g_autofree gchar *id = vb_visit_new_id();
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
	    door->self->store,
	    "INSERT INTO visit_reservations (id, door, created) VALUES (?1, ?2, ?3)", error);

	if (stmt == NULL)
		return NULL;
	vb_store_stmt_bind_text(stmt, 1, id);
	vb_store_stmt_bind_text(stmt, 2, door->name);
	vb_store_stmt_bind_int64(stmt, 3, g_get_real_time());
	if (!vb_store_stmt_exec(stmt, error))
		return NULL;
	return g_steal_pointer(&id);
}

/* the reservation is the door's once its commit succeeded: the caller read
 * vb_store_get_syncs() before that commit */
void
vb_door_set_reserved(VbDoor *door, gchar *id, guint64 syncs_before_commit)
{
	g_free(door->reserved);
	door->reserved = id;
	door->reserved_syncs = syncs_before_commit;
}

/* the door's reservation is on disk: a sync followed the commit that made it */
gboolean
vb_door_reservation_ready(VbDoor *door)
{
	return door->reserved != NULL &&
	       vb_store_get_syncs(door->self->store) > door->reserved_syncs;
}

gboolean
vb_visit_claim_reservation(VbVisitManager *self, const gchar *id, GError **error)
{
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(self->store, "DELETE FROM visit_reservations WHERE id = ?1", error);

	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, id);
	return vb_store_stmt_exec(stmt, error);
}

/* after a start: every reservation the last run left may have been claimed by
 * a tap that a power cut took back, with a hold placed under it, so each is
 * cancelled by reference; then each door reserves anew. Until this has
 * succeeded no door claims or reserves, and every tap syncs its visit before
 * the hold */
void
vb_visit_manager_renew_reservations(VbVisitManager *self)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GPtrArray) released = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) doors = g_ptr_array_new();
	g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	gboolean can_release = vb_visit_manager_can_release_by_reference(self);
	guint64 syncs = 0;
	GHashTableIter iter;
	VbDoor *door;

	g_hash_table_iter_init(&iter, self->doors);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&door))
		vb_door_set_reserved(door, NULL, 0);

	tx = vb_store_transaction_begin(self->store, &error);
	if (tx != NULL) {
		g_autoptr(VbStoreStmt) stmt =
		    vb_store_prepare(self->store, "SELECT id FROM visit_reservations", &error);
		VbStoreStep step = VB_STORE_STEP_ERROR;
		while (stmt != NULL &&
		       (step = vb_store_stmt_step(stmt, &error)) == VB_STORE_STEP_ROW)
			g_ptr_array_add(released, g_strdup(vb_store_stmt_column_text(stmt, 0)));
		if (step == VB_STORE_STEP_ERROR)
			g_clear_pointer(&tx, vb_store_transaction_free);
	}
	for (guint i = 0; tx != NULL && i < released->len; i++) {
		const gchar *id = g_ptr_array_index(released, i);
		if (!vb_visit_enqueue_release(self, id, &error) ||
		    !vb_visit_claim_reservation(self, id, &error))
			g_clear_pointer(&tx, vb_store_transaction_free);
	}
	g_hash_table_iter_init(&iter, self->doors);
	while (tx != NULL && can_release &&
	       g_hash_table_iter_next(&iter, NULL, (gpointer *)&door)) {
		gchar *id = vb_door_reserve(door, &error);
		if (id == NULL) {
			g_clear_pointer(&tx, vb_store_transaction_free);
			break;
		}
		g_ptr_array_add(doors, door);
		g_ptr_array_add(ids, id);
	}
	syncs = vb_store_get_syncs(self->store);
	if (tx == NULL || !vb_store_transaction_commit(tx, &error)) {
		/* retried every minute: the operator hears of it once */
		if (!self->reservations_failed)
			vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
					 "cannot release the %u %s reserved before the restart "
					 "(%s); every tap waits for one more disk sync until "
					 "then, and the release is retried every minute",
					 released->len,
					 released->len == 1 ? "reference" : "references",
					 error != NULL ? error->message : "no transaction");
		else
			g_debug("cannot release the references reserved before the restart: %s",
				error != NULL ? error->message : "no transaction");
		self->reservations_failed = TRUE;
		return;
	}
	if (self->reservations_failed)
		g_message("the references reserved before the restart are released at last");
	self->reservations_failed = FALSE;
	self->reservations_renewed = TRUE;
	if (released->len > 0)
		g_message("cancelling by reference at the processor the %u %s that the last "
			  "run reserved",
			  released->len, released->len == 1 ? "reference" : "references");
	for (guint i = 0; i < doors->len; i++)
		vb_door_set_reserved(g_ptr_array_index(doors, i),
				     g_strdup(g_ptr_array_index(ids, i)), syncs);
}

/* the hold */

/* the hold as approved, in one statement: this is on the tap-to-unlock path */
static gboolean
vb_visit_record_hold(VbVisitManager *self,
		     const gchar *visit_id,
		     const gchar *psp_reference,
		     gint64 amount,
		     gint64 capture_deadline,
		     GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
	    self->store,
	    "UPDATE visits SET psp_reference = ?2, hold_amount = ?3, capture_deadline = ?4 "
	    "WHERE id = ?1",
	    error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, visit_id);
	vb_store_stmt_bind_text(stmt, 2, psp_reference);
	vb_store_stmt_bind_int64(stmt, 3, amount);
	vb_store_stmt_bind_int64(stmt, 4, capture_deadline);
	return vb_store_stmt_exec(stmt, error);
}

static void
vb_door_authorize_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(VbDoor) door = user_data;
	VbPaymentResult result;
	g_autoptr(GError) error = NULL;
	gboolean answered;

	answered =
	    vb_payment_processor_execute_finish(VB_PAYMENT_PROCESSOR(source), res, &result, &error);
	/* the time-out already refused the shopper and queued a void for this hold */
	if (door->self == NULL || door->phase != VB_PHASE_AUTHORIZING ||
	    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	vb_door_clear_source(&door->auth_timer);
	g_clear_object(&door->auth_cancellable);
	if (!answered) {
		vb_door_deny(door, "processor-unavailable", error->message,
			     VB_PROMPT_PROCESSOR_UNAVAILABLE);
		return;
	}
	if (result.status != VB_PAYMENT_STATUS_APPROVED) {
		vb_door_deny(door, "declined", result.reason[0] != '\0' ? result.reason : NULL,
			     VB_PROMPT_DECLINED);
		return;
	}
	vb_door_approved(door, &result);
}

static gboolean
vb_door_authorize_timeout_cb(gpointer user_data)
{
	VbDoor *door = user_data;
	VbVisitManager *self = door->self;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;

	g_clear_pointer(&door->auth_timer, g_source_unref);
	vb_alert_log(G_LOG_LEVEL_MESSAGE, VB_ALERT_KIND_PROCESSOR_UNREACHABLE,
		     self->payment_instance, door->name, door->visit_id,
		     "the payment processor did not answer in time; the visit is refused");
	/* the processor may still place the hold: the outbox replays the
	 * authorization with its key to learn it, and cancels it */
	tx = vb_store_transaction_begin(self->store, &error);
	if (tx == NULL ||
	    !vb_visit_set_state(self, door->visit_id, "processor-unavailable",
				"the payment processor did not answer in time", &error) ||
	    !vb_visit_enqueue_payment(self, door->visit_id, "void", 0, "void", &error) ||
	    !vb_store_transaction_commit(tx, &error))
		vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
				 "visit %s: cannot queue the void of a late hold: %s",
				 door->visit_id, error->message);
	g_clear_pointer(&door->visit_id, g_free);
	vb_door_end(door, VB_PROMPT_PROCESSOR_UNAVAILABLE);
	return G_SOURCE_REMOVE;
}

VbPaymentProcessor *
vb_visit_hold_processor(VbVisitManager *self)
{
	VbPlugin *processor = vb_visit_manager_instance(self, self->payment_instance);

	if (processor == NULL || !VB_IS_PAYMENT_PROCESSOR(processor))
		return NULL;
	return VB_PAYMENT_PROCESSOR(processor);
}

void
vb_visit_hold_place(VbDoor *door, VbPaymentProcessor *processor)
{
	VbVisitManager *self = door->self;
	g_autofree gchar *key = NULL;
	VbPaymentRequest request = {0};

	key = g_strdup_printf("%s:authorize", door->visit_id);
	request.op = VB_PAYMENT_OP_AUTHORIZE;
	request.idempotency_key = key;
	request.reference = door->visit_id;
	request.card_token = door->card_token;
	request.amount = self->hold_amount;
	request.currency = self->currency;
	door->auth_cancellable = g_cancellable_new();
	door->auth_timer = g_timeout_source_new(self->authorize_timeout_ms);
	g_source_set_callback(door->auth_timer, vb_door_authorize_timeout_cb, vb_door_ref(door),
			      (GDestroyNotify)vb_door_unref);
	g_source_set_static_name(door->auth_timer, "[vestibule] hold time-out");
	g_source_attach(door->auth_timer, NULL);
	vb_payment_processor_execute_async(processor, &request, door->auth_cancellable,
					   vb_door_authorize_cb, vb_door_ref(door));
}

gboolean
vb_visit_hold_record(VbDoor *door, const VbPaymentResult *result)
{
	VbVisitManager *self = door->self;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;
	gint64 deadline =
	    g_get_real_time() + (gint64)self->capture_deadline_h * 3600 * G_USEC_PER_SEC;

	/* the hold is on record before the door opens: a crash of the daemon
	 * from here on finds it and settles or cancels it. The commit is synced
	 * right after the unlock rather than before it, which takes one sync off
	 * the shopper's wait: a power cut in that window (well under the time it
	 * takes to push a door) also cuts the lock's power, which relocks a
	 * fail-secure lock, and the restart finds the visit still authorizing,
	 * recorded and synced before the processor was asked, and voids its
	 * hold. A fail-safe lock opens on a power cut whatever we record. */
	tx =
	    vb_store_transaction_begin_full(self->store, VB_STORE_TRANSACTION_FLAG_NO_SYNC, &error);
	if (tx == NULL ||
	    !vb_visit_record_hold(self, door->visit_id, result->psp_reference,
				  result->amount > 0 ? result->amount : self->hold_amount, deadline,
				  &error) ||
	    !vb_customers_count_visit(self->customers, door->card_token, &error) ||
	    !vb_visit_set_state(self, door->visit_id, "unlocked", NULL, &error) ||
	    !vb_store_transaction_commit(tx, &error)) {
		g_autoptr(GError) error_cancel = NULL;
		vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
				 "visit %s: the hold was approved but cannot be recorded (%s); the "
				 "door stays locked and the hold is cancelled",
				 door->visit_id, error->message);
		g_clear_pointer(&tx, vb_store_transaction_free);
		if (!vb_visit_enqueue_payment(self, door->visit_id, "void", 0, "void",
					      &error_cancel))
			g_warning("%s", error_cancel->message);
		return FALSE;
	}
	return TRUE;
}

/* the reference of a cancel by reference is one a restart found reserved */
void
vb_visit_hold_released(VbVisitManager *self,
		       JsonObject *payload,
		       VbOutboxOutcome outcome,
		       JsonObject *res)
{
	const gchar *reference =
	    json_object_get_string_member_with_default(payload, "reference", "");
	const gchar *psp =
	    res != NULL ? json_object_get_string_member_with_default(res, "psp-reference", "") : "";
	const gchar *status =
	    res != NULL ? json_object_get_string_member_with_default(res, "status", "") : "";

	if (outcome != VB_OUTBOX_OUTCOME_DONE || g_strcmp0(status, "approved") != 0) {
		vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
				 "the reference %s, reserved before a restart, could not be "
				 "cancelled at the processor; ask the processor whether a "
				 "hold stands under it and release it by hand",
				 reference);
	} else if (psp[0] != '\0') {
		/* only a power cut during a tap leaves a hold under it */
		vb_context_alert(self->context, VB_ALERT_WARNING, NULL,
				 "a hold placed under %s by a tap that the restart lost "
				 "was released at the processor (%s)",
				 reference, psp);
	}
}
