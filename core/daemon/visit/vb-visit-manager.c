/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <inttypes.h>
#include <sodium.h>
#include <string.h>

#include "vb-card-reader.h"
#include "vb-context-private.h"
#include "vb-crypto-private.h"
#include "vb-display.h"
#include "vb-door-lock.h"
#include "vb-error.h"
#include "vb-events.h"
#include "vb-keypad.h"
#include "vb-payment-processor.h"
#include "vb-phone-private.h"
#include "vb-plugin-private.h"
#include "vb-privacy.h"
#include "vb-prompts-private.h"
#include "vb-sms-provider.h"
#include "vb-sms-router-private.h"
#include "vb-store-private.h"
#include "vb-visit-manager-private.h"

/*
 * One VbDoor per [door:NAME]: what its shopper is doing right now. The door's
 * phase lives in memory; the visit's state lives in the store and is written
 * before the door acts on it, so that a restart finds every hold:
 *
 *   idle --tap--> enter-phone --enter--> enter-code --enter--> authorizing
 *   idle --tap (known card)-----------------------------------> authorizing
 *   authorizing --approved--> unlocked --door-opened--> open --door-closed--> idle
 *
 * Money only moves through the outbox (captures, cancels), except the hold
 * itself, which the shopper waits for at the door.
 *
 * Reservations. No hold may be placed under a merchant reference that the
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

#define VB_MAX_PHONE_DIGITS 15
#define VB_CODE_DIGITS 6
#define VB_MAX_PHONE_TRIES 3
#define VB_CHANGE_PHONE_WINDOW_US (30 * G_USEC_PER_SEC)
#define VB_PROMPT_HOLD_MS 4000
#define VB_DEADLINE_CHECK_S 60
#define VB_ORDER_MAX_LINES 500
#define VB_ORDER_MAX_QUANTITY 1000
#define VB_ORDER_MAX_UNIT_PRICE G_GINT64_CONSTANT(100000000)

typedef enum {
	VB_PHASE_IDLE,
	VB_PHASE_ENTER_PHONE,
	VB_PHASE_ENTER_CODE,
	VB_PHASE_AUTHORIZING,
	VB_PHASE_UNLOCKED,
	VB_PHASE_OPEN,
} VbPhase;

typedef struct {
	gatomicrefcount ref;
	VbVisitManager *self; /* unowned; cleared when the manager goes */
	gchar *name;
	gchar *reader;
	gchar *lock;
	gchar *keypad;
	gchar *display;
	guint pulse_ms;
	VbPhase phase;
	gchar *visit_id;
	gchar *card_token;
	gchar *language;
	gchar *greeting;
	gint64 customer_id;
	gint64 change_phone_until; /* '*' pressed before the tap, monotonic µs */
	gchar digits[VB_MAX_PHONE_DIGITS + 1];
	guint n_digits;
	guint phone_tries;
	GSource *timer;	     /* keypad or open time-out */
	GSource *idle_timer; /* back to the welcome prompt */
	GSource *auth_timer;
	GCancellable *auth_cancellable;
	gchar *reserved;	/* the reference the next tap takes, or NULL */
	guint64 reserved_syncs; /* vb_store_get_syncs() before it was committed */
} VbDoor;

struct _VbVisitManager {
	GObject parent_instance;
	VbContext *context;
	VbStore *store;
	VbPluginLoader *loader;
	VbCustomers *customers;
	VbOutbox *outbox;
	VbSmsRouter *sms_router;
	GHashTable *doors; /* name -> VbDoor */
	gulong event_handler;
	GSource *deadline_timer;
	GSource *owed_source;	       /* queues the owed notices, once the outbox has room */
	gboolean notices_owed;	       /* a visit may owe its notice: look when room appears */
	gboolean reservations_renewed; /* those of the last run are released */
	gboolean reservations_failed;  /* releasing them failed, and was alerted */
	GSource *renew_source;	       /* renews them once the daemon has started */
	gboolean started;
	/* [visit], [services] and [vestibule] settings */
	gint64 hold_amount;
	gboolean verify_phone;
	guint keypad_timeout_s;
	guint authorize_timeout_ms;
	guint open_timeout_s;
	guint capture_deadline_h;
	gint64 deadline_capture_max;
	guint receipt_days;
	gchar *currency;
	gchar *country;
	gchar *operator_phone;
	gchar *operator_contact;
	gchar *sms_instance;
	gchar *sms_fallback;
	gchar *payment_instance;
};

G_DEFINE_FINAL_TYPE(VbVisitManager, vb_visit_manager, G_TYPE_OBJECT)

static gboolean
vb_visit_manager_owed_cb(gpointer user_data);

/* doors */

static VbDoor *
vb_door_ref(VbDoor *door)
{
	g_atomic_ref_count_inc(&door->ref);
	return door;
}

static void
vb_door_clear_source(GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

static void
vb_door_wipe_digits(VbDoor *door)
{
	sodium_memzero(door->digits, sizeof(door->digits));
	door->n_digits = 0;
}

static void
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

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbDoor, vb_door_unref)

static VbPlugin *
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

static void
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
static void
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

static void
vb_door_keypad_active(VbDoor *door, gboolean active)
{
	VbPlugin *keypad = vb_visit_manager_instance(door->self, door->keypad);
	if (keypad != NULL && VB_IS_KEYPAD(keypad))
		vb_keypad_set_active(VB_KEYPAD(keypad), active);
}

/* the store */

static gchar *
vb_visit_new_id(void)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree gchar *stamp = g_date_time_format(now, "%Y%m%dT%H%M%S");
	g_autofree gchar *rand = vb_crypto_random_token(6);
	return g_strdup_printf("v-%s-%s", stamp, rand);
}

typedef struct {
	VbBus *bus;
	GVariant *payload;
} VbVisitStateEvent;

static void
vb_visit_state_event_free(VbVisitStateEvent *call)
{
	g_object_unref(call->bus);
	g_variant_unref(call->payload);
	g_free(call);
}

static void
vb_visit_state_event_emit(gpointer data)
{
	VbVisitStateEvent *call = data;
	/* the event takes a reference of its own */
	vb_bus_emit_simple(call->bus, NULL, NULL, VB_EVENT_VISIT_STATE, call->payload);
}

static gboolean
vb_visit_set_state(VbVisitManager *self,
		   const gchar *visit_id,
		   const gchar *state,
		   const gchar *detail,
		   GError **error)
{
	g_autoptr(VbStoreStmt) update = NULL;
	g_autoptr(VbStoreStmt) timeline = NULL;
	gint64 now = g_get_real_time();
	GVariantDict dict;
	VbVisitStateEvent *call;

	update = vb_store_prepare(
	    self->store, "UPDATE visits SET state = ?2, updated = ?3 WHERE id = ?1", error);
	if (update == NULL)
		return FALSE;
	vb_store_stmt_bind_text(update, 1, visit_id);
	vb_store_stmt_bind_text(update, 2, state);
	vb_store_stmt_bind_int64(update, 3, now);
	if (!vb_store_stmt_exec(update, error))
		return FALSE;
	timeline = vb_store_prepare(self->store,
				    "INSERT INTO visit_timeline (visit_id, time, state, detail) "
				    "VALUES (?1, ?2, ?3, ?4)",
				    error);
	if (timeline == NULL)
		return FALSE;
	vb_store_stmt_bind_text(timeline, 1, visit_id);
	vb_store_stmt_bind_int64(timeline, 2, now);
	vb_store_stmt_bind_text(timeline, 3, state);
	vb_store_stmt_bind_text(timeline, 4, detail);
	if (!vb_store_stmt_exec(timeline, error))
		return FALSE;

	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, VB_KEY_VISIT, "s", visit_id);
	g_variant_dict_insert(&dict, VB_KEY_STATE, "s", state);
	if (detail != NULL)
		g_variant_dict_insert(&dict, VB_KEY_ERROR, "s", detail);
	/* the bus hears of the state once it is stored, never of one rolled back */
	call = g_new0(VbVisitStateEvent, 1);
	call->bus = g_object_ref(vb_context_get_bus(self->context));
	call->payload = g_variant_ref_sink(g_variant_dict_end(&dict));
	vb_store_after_commit(self->store, vb_visit_state_event_emit, call,
			      (GDestroyNotify)vb_visit_state_event_free);
	return TRUE;
}

/* a state change on its own, committed before the door acts on it */
static gboolean
vb_visit_commit_state(VbVisitManager *self,
		      const gchar *visit_id,
		      const gchar *state,
		      const gchar *detail)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;

	tx = vb_store_transaction_begin(self->store, &error);
	if (tx == NULL || !vb_visit_set_state(self, visit_id, state, detail, &error) ||
	    !vb_store_transaction_commit(tx, &error)) {
		vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
				 "cannot record that visit %s is %s: %s", visit_id, state,
				 error->message);
		return FALSE;
	}
	return TRUE;
}

static gboolean
vb_visit_set_int(VbVisitManager *self,
		 const gchar *visit_id,
		 const gchar *column_sql,
		 gint64 value,
		 GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(self->store, column_sql, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, visit_id);
	vb_store_stmt_bind_int64(stmt, 2, value);
	return vb_store_stmt_exec(stmt, error);
}

static gboolean
vb_visit_set_text(VbVisitManager *self,
		  const gchar *visit_id,
		  const gchar *column_sql,
		  const gchar *value,
		  GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(self->store, column_sql, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, visit_id);
	vb_store_stmt_bind_text(stmt, 2, value);
	return vb_store_stmt_exec(stmt, error);
}

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

/* the outbox */

static gboolean
vb_visit_enqueue_sms(VbVisitManager *self,
		     const gchar *visit_id,
		     gint64 customer_id,
		     VbSmsTemplate template_,
		     const gchar *language,
		     const gchar *key,
		     GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) payload = NULL;
	g_autofree gchar *recipient = g_strdup_printf("customer:%" G_GINT64_FORMAT, customer_id);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "customer");
	json_builder_add_int_value(builder, customer_id);
	json_builder_set_member_name(builder, "template");
	json_builder_add_string_value(builder, vb_sms_template_to_string(template_));
	json_builder_set_member_name(builder, "language");
	json_builder_add_string_value(builder, language);
	json_builder_set_member_name(builder, "visit");
	json_builder_add_string_value(builder, visit_id);
	json_builder_end_object(builder);
	payload = json_builder_get_root(builder);
	return vb_outbox_enqueue(self->outbox, "sms", recipient, key, payload, visit_id, error) > 0;
}

/* one payment operation on a visit's hold, through the outbox; captures and
 * cancels are retried until the processor answers */
static gboolean
vb_visit_enqueue_payment(VbVisitManager *self,
			 const gchar *visit_id,
			 const gchar *op,
			 gint64 amount,
			 const gchar *key_suffix,
			 GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) payload = NULL;
	g_autofree gchar *key = g_strdup_printf("%s:%s", visit_id, key_suffix);
	g_autofree gchar *recipient = g_strdup_printf("payment:%s", visit_id);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "op");
	json_builder_add_string_value(builder, op);
	json_builder_set_member_name(builder, "visit");
	json_builder_add_string_value(builder, visit_id);
	json_builder_set_member_name(builder, "amount");
	json_builder_add_int_value(builder, amount);
	json_builder_end_object(builder);
	payload = json_builder_get_root(builder);
	return vb_outbox_enqueue(self->outbox, "payment", recipient, key, payload, visit_id,
				 error) > 0;
}

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

/* reservations: see the comment at the top */

static gboolean
vb_visit_manager_can_release_by_reference(VbVisitManager *self)
{
	VbPlugin *processor = vb_visit_manager_instance(self, self->payment_instance);

	return processor != NULL && VB_IS_PAYMENT_PROCESSOR(processor) &&
	       (vb_payment_processor_get_capabilities(VB_PAYMENT_PROCESSOR(processor)) &
		VB_PAYMENT_CAPABILITY_CANCEL_BY_REFERENCE) != 0;
}

/* reserves a reference for @door in the open transaction */
static gchar *
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
static void
vb_door_set_reserved(VbDoor *door, gchar *id, guint64 syncs_before_commit)
{
	g_free(door->reserved);
	door->reserved = id;
	door->reserved_syncs = syncs_before_commit;
}

/* the door's reservation is on disk: a sync followed the commit that made it */
static gboolean
vb_door_reservation_ready(VbDoor *door)
{
	return door->reserved != NULL &&
	       vb_store_get_syncs(door->self->store) > door->reserved_syncs;
}

static gboolean
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
static void
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

/* the end of a door's session: the visit keeps its state, the door is free */
static gboolean
vb_door_back_to_welcome_cb(gpointer user_data)
{
	VbDoor *door = user_data;
	g_clear_pointer(&door->idle_timer, g_source_unref);
	if (door->phase == VB_PHASE_IDLE) {
		g_clear_pointer(&door->language, g_free);
		vb_door_show(door, VB_PROMPT_WELCOME, NULL);
	}
	return G_SOURCE_REMOVE;
}

static void
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
	door->idle_timer = g_timeout_source_new(VB_PROMPT_HOLD_MS);
	g_source_set_callback(door->idle_timer, vb_door_back_to_welcome_cb, vb_door_ref(door),
			      (GDestroyNotify)vb_door_unref);
	g_source_set_static_name(door->idle_timer, "[vestibule] door prompt");
	g_source_attach(door->idle_timer, NULL);
}

/* a visit that ends at the door, before any hold */
static void
vb_door_fail(VbDoor *door, const gchar *state, const gchar *detail, VbPrompt prompt)
{
	if (door->visit_id != NULL)
		vb_visit_commit_state(door->self, door->visit_id, state, detail);
	vb_door_end(door, prompt);
}

static void
vb_door_arm_timer(VbDoor *door, guint seconds, GSourceFunc func)
{
	vb_door_clear_source(&door->timer);
	door->timer = g_timeout_source_new_seconds(seconds);
	g_source_set_callback(door->timer, func, vb_door_ref(door), (GDestroyNotify)vb_door_unref);
	g_source_set_static_name(door->timer, "[vestibule] door time-out");
	g_source_attach(door->timer, NULL);
}

static gboolean
vb_door_keypad_timeout_cb(gpointer user_data)
{
	VbDoor *door = user_data;
	g_clear_pointer(&door->timer, g_source_unref);
	vb_door_fail(door, "timed-out", "no key pressed in time", VB_PROMPT_TIMED_OUT);
	return G_SOURCE_REMOVE;
}

/* the hold */

static void
vb_door_deny(VbDoor *door, const gchar *state, const gchar *detail, VbPrompt prompt)
{
	g_message("door %s: visit %s %s%s%s", door->name, door->visit_id, state,
		  detail != NULL ? ": " : "", detail != NULL ? detail : "");
	vb_door_fail(door, state, detail, prompt);
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

static void
vb_door_approved(VbDoor *door, const VbPaymentResult *result)
{
	VbVisitManager *self = door->self;
	VbPlugin *lock = vb_visit_manager_instance(self, door->lock);
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
		vb_door_end(door, VB_PROMPT_OUT_OF_SERVICE);
		return;
	}
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
		vb_door_end(door, VB_PROMPT_OUT_OF_SERVICE);
		return;
	}
	if (!vb_store_sync(self->store, &error))
		vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
				 "visit %s: the approved hold may not survive a power cut: %s",
				 door->visit_id, error->message);
	door->phase = VB_PHASE_UNLOCKED;
	vb_door_show(door, VB_PROMPT_DOOR_OPEN, door->greeting);
	vb_door_arm_timer(door, self->open_timeout_s, vb_door_open_timeout_cb);
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

/* @recorded: the visit is already on record as authorizing */
static void
vb_door_authorize(VbDoor *door, gboolean recorded)
{
	VbVisitManager *self = door->self;
	VbPlugin *processor = vb_visit_manager_instance(self, self->payment_instance);
	g_autofree gchar *key = NULL;
	VbPaymentRequest request = {0};

	vb_door_clear_source(&door->timer);
	vb_door_keypad_active(door, FALSE);
	if (processor == NULL || !VB_IS_PAYMENT_PROCESSOR(processor)) {
		vb_door_deny(door, "processor-unavailable", "no payment processor is running",
			     VB_PROMPT_PROCESSOR_UNAVAILABLE);
		return;
	}
	if (!recorded && !vb_visit_commit_state(self, door->visit_id, "authorizing", NULL)) {
		vb_door_end(door, VB_PROMPT_OUT_OF_SERVICE);
		return;
	}
	door->phase = VB_PHASE_AUTHORIZING;
	vb_door_show(door, VB_PROMPT_AUTHORIZING, door->greeting);

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
	vb_payment_processor_execute_async(VB_PAYMENT_PROCESSOR(processor), &request,
					   door->auth_cancellable, vb_door_authorize_cb,
					   vb_door_ref(door));
}

/* the phone */

static void
vb_door_ask_phone(VbDoor *door)
{
	vb_door_wipe_digits(door);
	door->phase = VB_PHASE_ENTER_PHONE;
	vb_door_keypad_active(door, TRUE);
	vb_door_show_entry(door, VB_PROMPT_ENTER_PHONE);
	vb_door_arm_timer(door, door->self->keypad_timeout_s, vb_door_keypad_timeout_cb);
}

static void
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
		return;
	}
	/* the code rides with the item in memory only; the store keeps its hash */
	key = g_strdup_printf("%s:otp:%" G_GINT64_FORMAT, door->visit_id, g_get_real_time());
	vb_outbox_set_ephemeral(self->outbox, key, code);
	vb_crypto_free_string(code);
	if (!vb_visit_enqueue_sms(self, door->visit_id, door->customer_id, VB_SMS_OTP,
				  door->language, key, &error)) {
		vb_door_fail(door, "failed", error->message, VB_PROMPT_OUT_OF_SERVICE);
		return;
	}
	if (!vb_visit_commit_state(self, door->visit_id, "enter-code", NULL)) {
		vb_door_end(door, VB_PROMPT_OUT_OF_SERVICE);
		return;
	}
	vb_door_wipe_digits(door);
	door->phase = VB_PHASE_ENTER_CODE;
	vb_door_show_entry(door, VB_PROMPT_ENTER_CODE);
	vb_door_arm_timer(door, self->keypad_timeout_s, vb_door_keypad_timeout_cb);
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

static void
vb_door_submit_phone(VbDoor *door)
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
			return;
		}
		vb_door_show_entry(door, VB_PROMPT_INVALID_PHONE);
		vb_door_arm_timer(door, self->keypad_timeout_s, vb_door_keypad_timeout_cb);
		return;
	}
	door->customer_id = vb_customers_find_phone(self->customers, e164, &error);
	if (door->customer_id == 0 && error == NULL)
		door->customer_id =
		    vb_customers_add_phone(self->customers, e164, door->language, &error);
	vb_crypto_free_string(e164);
	if (door->customer_id == 0) {
		vb_door_fail(door, "failed", error->message, VB_PROMPT_OUT_OF_SERVICE);
		return;
	}
	/* a new number for a card is always proved, whatever verify-phone says */
	if (self->verify_phone || door->change_phone_until != 0) {
		vb_door_send_code(door);
		return;
	}
	if (!vb_door_link(door, &error)) {
		vb_door_fail(door, "failed", error->message, VB_PROMPT_OUT_OF_SERVICE);
		return;
	}
	vb_door_authorize(door, FALSE);
}

static void
vb_door_submit_code(VbDoor *door)
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
			return;
		}
		vb_door_authorize(door, FALSE);
		return;
	case VB_OTP_WRONG:
		vb_visit_commit_state(self, door->visit_id, "enter-code", "wrong code");
		vb_door_show_entry(door, VB_PROMPT_WRONG_CODE);
		vb_door_arm_timer(door, self->keypad_timeout_s, vb_door_keypad_timeout_cb);
		return;
	case VB_OTP_EXHAUSTED:
		vb_door_fail(door, "code-failed", "three wrong codes", VB_PROMPT_CODE_FAILED);
		return;
	case VB_OTP_EXPIRED:
		vb_door_fail(door, "code-failed", "the code expired", VB_PROMPT_CODE_FAILED);
		return;
	case VB_OTP_NONE:
	default:
		vb_door_fail(door, "code-failed", error != NULL ? error->message : "no code",
			     VB_PROMPT_CODE_FAILED);
		return;
	}
}

/* bus events */

static void
vb_door_card_presented(VbDoor *door, VbEvent *event)
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

	if (door->phase != VB_PHASE_IDLE) {
		g_debug("door %s: a card was presented during a visit; ignored", door->name);
		return;
	}
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
		return;
	}
	if (g_strcmp0(card->kind, "payment") != 0) {
		/* a tag that is not a payment card cannot carry a hold */
		vb_door_end(door, VB_PROMPT_DECLINED);
		return;
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
		return;
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
			return;
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
		vb_door_authorize(door, TRUE);
		return;
	}
	vb_door_ask_phone(door);
}

static void
vb_door_key(VbDoor *door, const gchar *symbol)
{
	VbKeypadKey key = vb_keypad_key_from_string(symbol);
	guint max = door->phase == VB_PHASE_ENTER_CODE ? VB_CODE_DIGITS : VB_MAX_PHONE_DIGITS;
	VbPrompt prompt =
	    door->phase == VB_PHASE_ENTER_CODE ? VB_PROMPT_ENTER_CODE : VB_PROMPT_ENTER_PHONE;

	if (door->phase == VB_PHASE_IDLE) {
		/* '*' then a tap: give a known card a new number */
		if (key == VB_KEYPAD_KEY_STAR) {
			vb_door_clear_source(&door->idle_timer);
			door->change_phone_until =
			    g_get_monotonic_time() + VB_CHANGE_PHONE_WINDOW_US;
			vb_door_show(door, VB_PROMPT_CHANGE_PHONE, NULL);
		}
		return;
	}
	if (door->phase != VB_PHASE_ENTER_PHONE && door->phase != VB_PHASE_ENTER_CODE)
		return;
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
	} else if (key == VB_KEYPAD_KEY_ENTER) {
		if (door->n_digits == 0)
			return;
		if (door->phase == VB_PHASE_ENTER_PHONE)
			vb_door_submit_phone(door);
		else
			vb_door_submit_code(door);
	}
}

static void
vb_door_opened(VbDoor *door)
{
	if (door->phase != VB_PHASE_UNLOCKED)
		return;
	vb_door_clear_source(&door->timer);
	door->phase = VB_PHASE_OPEN;
	vb_visit_commit_state(door->self, door->visit_id, "open", NULL);
}

static void
vb_door_closed(VbDoor *door)
{
	VbVisitManager *self = door->self;
	VbPlugin *lock = vb_visit_manager_instance(self, door->lock);
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) error_full = NULL;
	g_autofree gchar *key = NULL;
	gboolean ok;

	if (door->phase != VB_PHASE_OPEN)
		return;
	if (lock != NULL && !vb_door_lock_lock(VB_DOOR_LOCK(lock), &error)) {
		vb_context_alert(self->context, VB_ALERT_CRITICAL, door->lock,
				 "door %s did not lock after closing: %s", door->name,
				 error->message);
		g_clear_error(&error);
	}
	/* the notice and the state change are one commit: neither without the
	 * other. With the outbox full (a long outage), the closed door is
	 * recorded all the same, so that the visit's order can settle, and the
	 * visit owes its notice, queued as soon as the outbox has room */
	key = g_strdup_printf("%s:notice", door->visit_id);
	tx = vb_store_transaction_begin(self->store, &error);
	ok = tx != NULL && vb_visit_set_state(self, door->visit_id, "awaiting-order", NULL, &error);
	if (ok && door->customer_id > 0 &&
	    !vb_visit_enqueue_sms(self, door->visit_id, door->customer_id, VB_SMS_NOTICE,
				  door->language, key, &error)) {
		ok = g_error_matches(error, VB_ERROR, VB_ERROR_TOO_LARGE);
		if (ok) {
			error_full = g_steal_pointer(&error);
			self->notices_owed = TRUE;
			ok = vb_visit_set_int(self, door->visit_id,
					      "UPDATE visits SET notice_owed = ?2 WHERE id = ?1", 1,
					      &error);
		}
	}
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
	vb_door_end(door, VB_PROMPT_WELCOME);
}

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
		vb_door_card_presented(door, event);
	else if (g_strcmp0(name, VB_EVENT_KEYPAD_KEY) == 0 && g_strcmp0(role, "keypad") == 0)
		vb_door_key(door, vb_event_lookup_string(event, VB_KEY_KEY));
	else if (g_strcmp0(name, VB_EVENT_DOOR_OPENED) == 0 && g_strcmp0(role, "lock") == 0)
		vb_door_opened(door);
	else if (g_strcmp0(name, VB_EVENT_DOOR_CLOSED) == 0 && g_strcmp0(role, "lock") == 0)
		vb_door_closed(door);
}

/* the visit row as the outbox and the APIs need it */
typedef struct {
	gchar *id;
	gchar *state;
	gchar *door;
	gchar *card_token;
	gchar *first6;
	gchar *last4;
	gint64 customer_id;
	gchar *language;
	gchar *currency;
	gint64 hold_amount;
	gchar *psp_reference;
	gint64 capture_deadline;
	gchar *order_hash;
	gchar *order_json;
	gint64 total;
	gint64 captured;
	gchar *settlement;
	gint64 receipt_expires;
	gint64 created;
	gint64 updated;
} VbVisitRow;

static void
vb_visit_row_free(VbVisitRow *row)
{
	g_free(row->id);
	g_free(row->state);
	g_free(row->door);
	g_free(row->card_token);
	g_free(row->first6);
	g_free(row->last4);
	g_free(row->language);
	g_free(row->currency);
	g_free(row->psp_reference);
	g_free(row->order_hash);
	g_free(row->order_json);
	g_free(row->settlement);
	g_free(row);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbVisitRow, vb_visit_row_free)

#define VB_VISIT_COLUMNS                                                                           \
	"id, state, door, card_token, first6, last4, coalesce(customer_id, 0), language, "         \
	"currency, coalesce(hold_amount, 0), psp_reference, coalesce(capture_deadline, 0), "       \
	"order_hash, order_json, coalesce(total, 0), coalesce(captured, 0), settlement, "          \
	"coalesce(receipt_expires, 0), created, updated"

static gchar *
vb_column_dup(VbStoreStmt *stmt, gint col)
{
	return vb_store_stmt_column_is_null(stmt, col)
		   ? NULL
		   : g_strdup(vb_store_stmt_column_text(stmt, col));
}

static VbVisitRow *
vb_visit_row_from_stmt(VbStoreStmt *stmt)
{
	VbVisitRow *row = g_new0(VbVisitRow, 1);
	row->id = vb_column_dup(stmt, 0);
	row->state = vb_column_dup(stmt, 1);
	row->door = vb_column_dup(stmt, 2);
	row->card_token = vb_column_dup(stmt, 3);
	row->first6 = vb_column_dup(stmt, 4);
	row->last4 = vb_column_dup(stmt, 5);
	row->customer_id = vb_store_stmt_column_int64(stmt, 6);
	row->language = vb_column_dup(stmt, 7);
	row->currency = vb_column_dup(stmt, 8);
	row->hold_amount = vb_store_stmt_column_int64(stmt, 9);
	row->psp_reference = vb_column_dup(stmt, 10);
	row->capture_deadline = vb_store_stmt_column_int64(stmt, 11);
	row->order_hash = vb_column_dup(stmt, 12);
	row->order_json = vb_column_dup(stmt, 13);
	row->total = vb_store_stmt_column_int64(stmt, 14);
	row->captured = vb_store_stmt_column_int64(stmt, 15);
	row->settlement = vb_column_dup(stmt, 16);
	row->receipt_expires = vb_store_stmt_column_int64(stmt, 17);
	row->created = vb_store_stmt_column_int64(stmt, 18);
	row->updated = vb_store_stmt_column_int64(stmt, 19);
	return row;
}

static VbVisitRow *
vb_visit_row_load(VbVisitManager *self, const gchar *column, const gchar *value, GError **error)
{
	/* SQL is never built at run time: one literal per lookup */
	const gchar *sql = g_strcmp0(column, "receipt_hash") == 0
			       ? "SELECT " VB_VISIT_COLUMNS " FROM visits WHERE receipt_hash = ?1"
			       : "SELECT " VB_VISIT_COLUMNS " FROM visits WHERE id = ?1";
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(g_strcmp0(column, "id") == 0 || g_strcmp0(column, "receipt_hash") == 0,
			     NULL);
	stmt = vb_store_prepare(self->store, sql, error);
	if (stmt == NULL)
		return NULL;
	vb_store_stmt_bind_text(stmt, 1, value);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return NULL;
	if (step == VB_STORE_STEP_DONE) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND, _("no such visit"));
		return NULL;
	}
	return vb_visit_row_from_stmt(stmt);
}

/* the receipt */

gchar *
vb_visit_manager_receipt_token(VbVisitManager *self, const gchar *visit_id)
{
	g_autoptr(GBytes) key = vb_context_get_store_key(self->context, VB_STORE_KEY_OTP, NULL);
	g_autofree gchar *mac = NULL;

	if (key == NULL)
		return NULL;
	/* 128 bits of a keyed hash of the visit id: as unguessable as random
	 * bits, and never stored, so a stolen database holds no receipt links */
	mac = vb_crypto_hmac_hex(key, "receipt:", (const guint8 *)visit_id, strlen(visit_id));
	return g_strndup(mac, 32);
}

static gboolean
vb_visit_issue_receipt(VbVisitManager *self, VbVisitRow *row, GError **error)
{
	g_autofree gchar *token = vb_visit_manager_receipt_token(self, row->id);
	g_autofree gchar *hash = NULL;
	g_autofree gchar *key = g_strdup_printf("%s:receipt", row->id);
	gint64 expires = g_get_real_time() + (gint64)self->receipt_days * 86400 * G_USEC_PER_SEC;

	if (token == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    "no otp-key in the secrets file: receipt links cannot be made");
		return FALSE;
	}
	hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);
	if (!vb_visit_set_text(self, row->id, "UPDATE visits SET receipt_hash = ?2 WHERE id = ?1",
			       hash, error) ||
	    !vb_visit_set_int(self, row->id, "UPDATE visits SET receipt_expires = ?2 WHERE id = ?1",
			      expires, error))
		return FALSE;
	if (row->customer_id == 0)
		return TRUE;
	return vb_visit_enqueue_sms(self, row->id, row->customer_id, VB_SMS_RECEIPT, row->language,
				    key, error);
}

/* the "payment" outbox kind: captures, adjustments, cancels and voids */

typedef struct {
	VbVisitManager *self;
	VbOutboxItem *item;
	gchar *op;
	VbVisitRow *row;  /* NULL for a cancel by reference */
	gchar *reference; /* the merchant reference, for a cancel by reference */
	gint64 amount;
	gboolean voiding; /* the replayed authorization of a void is answered */
} VbPaymentCall;

static void
vb_payment_call_free(VbPaymentCall *call)
{
	g_free(call->op);
	g_free(call->reference);
	if (call->row != NULL)
		vb_visit_row_free(call->row);
	g_free(call);
}

static JsonNode *
vb_payment_result_to_json(const VbPaymentResult *result)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "status");
	json_builder_add_string_value(
	    builder, result->status == VB_PAYMENT_STATUS_APPROVED ? "approved" : "declined");
	json_builder_set_member_name(builder, "psp-reference");
	json_builder_add_string_value(builder, result->psp_reference);
	json_builder_set_member_name(builder, "amount");
	json_builder_add_int_value(builder, result->amount);
	json_builder_set_member_name(builder, "reason");
	json_builder_add_string_value(builder, result->reason);
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}

static void
vb_payment_call_start(VbPaymentCall *call,
		      VbPaymentOp op,
		      const gchar *key,
		      GCancellable *cancellable);

static void
vb_payment_call_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	VbPaymentCall *call = user_data;
	VbPaymentResult result;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;

	if (!vb_payment_processor_execute_finish(VB_PAYMENT_PROCESSOR(source), res, &result,
						 &error)) {
		gboolean retry = g_error_matches(error, VB_ERROR, VB_ERROR_UNREACHABLE) ||
				 g_error_matches(error, VB_ERROR, VB_ERROR_TIMED_OUT) ||
				 g_error_matches(error, VB_ERROR, VB_ERROR_RATE_LIMITED) ||
				 g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
		vb_outbox_item_complete(call->item,
					retry ? VB_OUTBOX_OUTCOME_RETRY : VB_OUTBOX_OUTCOME_FAILED,
					NULL, error->message, 0);
		vb_payment_call_free(call);
		return;
	}
	/* a void first learns the hold from its authorization, replayed with the
	 * same key so that no second hold is placed, then cancels it */
	if (g_strcmp0(call->op, "void") == 0 && !call->voiding &&
	    result.status == VB_PAYMENT_STATUS_APPROVED) {
		call->voiding = TRUE;
		g_free(call->row->psp_reference);
		call->row->psp_reference = g_strdup(result.psp_reference);
		vb_payment_call_start(call, VB_PAYMENT_OP_CANCEL,
				      vb_outbox_item_get_idempotency_key(call->item), NULL);
		return;
	}
	node = vb_payment_result_to_json(&result);
	vb_outbox_item_complete(call->item, VB_OUTBOX_OUTCOME_DONE, node, NULL, 0);
	vb_payment_call_free(call);
}

static void
vb_payment_call_start(VbPaymentCall *call,
		      VbPaymentOp op,
		      const gchar *key,
		      GCancellable *cancellable)
{
	VbVisitManager *self = call->self;
	VbPlugin *processor = vb_visit_manager_instance(self, self->payment_instance);
	g_autofree gchar *auth_key = NULL;
	VbPaymentRequest request = {0};

	if (processor == NULL || !VB_IS_PAYMENT_PROCESSOR(processor)) {
		vb_outbox_item_complete(call->item, VB_OUTBOX_OUTCOME_RETRY, NULL,
					"no payment processor is running", 0);
		vb_payment_call_free(call);
		return;
	}
	request.op = op;
	request.idempotency_key = key;
	if (call->row == NULL) {
		/* a cancel by reference names nothing but the reference */
		request.reference = call->reference;
	} else {
		if (op == VB_PAYMENT_OP_AUTHORIZE)
			request.idempotency_key = auth_key =
			    g_strdup_printf("%s:authorize", call->row->id);
		request.reference = call->row->id;
		request.psp_reference = call->row->psp_reference;
		request.card_token = call->row->card_token;
		request.amount =
		    op == VB_PAYMENT_OP_AUTHORIZE ? call->row->hold_amount : call->amount;
		request.currency = call->row->currency;
	}
	vb_payment_processor_execute_async(VB_PAYMENT_PROCESSOR(processor), &request, cancellable,
					   vb_payment_call_cb, call);
}

static void
vb_visit_payment_dispatch(VbOutbox *outbox,
			  VbOutboxItem *item,
			  GCancellable *cancellable,
			  gpointer user_data)
{
	VbVisitManager *self = VB_VISIT_MANAGER(user_data);
	JsonObject *payload = vb_outbox_item_get_payload(item);
	const gchar *op = json_object_get_string_member_with_default(payload, "op", "");
	const gchar *visit = json_object_get_string_member_with_default(payload, "visit", "");
	g_autoptr(GError) error = NULL;
	VbPaymentCall *call;
	VbVisitRow *row;

	if (g_strcmp0(op, "cancel-by-reference") == 0) {
		if (vb_visit_manager_instance(self, self->payment_instance) != NULL &&
		    !vb_visit_manager_can_release_by_reference(self)) {
			vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL,
						"the payment processor cannot cancel by reference",
						0);
			return;
		}
		call = g_new0(VbPaymentCall, 1);
		call->self = self;
		call->item = item;
		call->op = g_strdup(op);
		call->reference =
		    g_strdup(json_object_get_string_member_with_default(payload, "reference", ""));
		vb_payment_call_start(call, VB_PAYMENT_OP_CANCEL_BY_REFERENCE,
				      vb_outbox_item_get_idempotency_key(item), cancellable);
		return;
	}
	row = vb_visit_row_load(self, "id", visit, &error);
	if (row == NULL) {
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL, error->message, 0);
		return;
	}
	call = g_new0(VbPaymentCall, 1);
	call->self = self;
	call->item = item;
	call->op = g_strdup(op);
	call->row = row;
	call->amount = json_object_get_int_member_with_default(payload, "amount", 0);
	if (g_strcmp0(op, "void") == 0) {
		vb_payment_call_start(call, VB_PAYMENT_OP_AUTHORIZE, NULL, cancellable);
		return;
	}
	if (row->psp_reference == NULL) {
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL,
					"the visit has no hold on record", 0);
		vb_payment_call_free(call);
		return;
	}
	if (g_strcmp0(op, "capture") == 0)
		vb_payment_call_start(call, VB_PAYMENT_OP_CAPTURE,
				      vb_outbox_item_get_idempotency_key(item), cancellable);
	else if (g_strcmp0(op, "adjust") == 0)
		vb_payment_call_start(call, VB_PAYMENT_OP_ADJUST,
				      vb_outbox_item_get_idempotency_key(item), cancellable);
	else if (g_strcmp0(op, "cancel") == 0)
		vb_payment_call_start(call, VB_PAYMENT_OP_CANCEL,
				      vb_outbox_item_get_idempotency_key(item), cancellable);
	else {
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL,
					"unknown payment operation", 0);
		vb_payment_call_free(call);
	}
}

static const gchar *
vb_settlement_after_capture(const gchar *before)
{
	if (g_strcmp0(before, "adjusted") == 0)
		return "adjusted-and-captured";
	if (g_strcmp0(before, "adjust-declined") == 0)
		return "adjust-declined-captured-hold";
	if (g_strcmp0(before, "expired") == 0)
		return "expired-captured";
	return "captured";
}

/* what follows from a payment operation's answer, in the transaction that
 * records it */
static gboolean
vb_visit_payment_complete(VbOutbox *outbox,
			  VbOutboxItem *item,
			  VbOutboxOutcome outcome,
			  JsonNode *result,
			  gpointer user_data,
			  GError **error)
{
	VbVisitManager *self = VB_VISIT_MANAGER(user_data);
	JsonObject *payload = vb_outbox_item_get_payload(item);
	const gchar *op = json_object_get_string_member_with_default(payload, "op", "");
	const gchar *visit = json_object_get_string_member_with_default(payload, "visit", "");
	JsonObject *res =
	    result != NULL && JSON_NODE_HOLDS_OBJECT(result) ? json_node_get_object(result) : NULL;
	const gchar *status =
	    res != NULL ? json_object_get_string_member_with_default(res, "status", "") : "";
	gboolean approved = g_strcmp0(status, "approved") == 0;
	g_autoptr(VbVisitRow) row = NULL;

	if (g_strcmp0(op, "cancel-by-reference") == 0) {
		const gchar *reference =
		    json_object_get_string_member_with_default(payload, "reference", "");
		const gchar *psp =
		    res != NULL
			? json_object_get_string_member_with_default(res, "psp-reference", "")
			: "";
		if (outcome != VB_OUTBOX_OUTCOME_DONE || !approved) {
			vb_context_alert(
			    self->context, VB_ALERT_CRITICAL, NULL,
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
		return TRUE;
	}
	if (outcome != VB_OUTBOX_OUTCOME_DONE) {
		vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
				 "visit %s: the %s of its hold failed for good; settle it by hand "
				 "with the processor, then retry it with vestibulectl outbox retry",
				 visit, op);
		return vb_visit_set_state(self, visit, "payment-failed", op, error);
	}
	row = vb_visit_row_load(self, "id", visit, error);
	if (row == NULL)
		return FALSE;

	if (g_strcmp0(op, "capture") == 0) {
		if (!approved) {
			vb_context_alert(
			    self->context, VB_ALERT_CRITICAL, NULL,
			    "visit %s: the processor declined the capture of %" G_GINT64_FORMAT
			    " %s",
			    visit, json_object_get_int_member_with_default(payload, "amount", 0),
			    row->currency);
			return vb_visit_set_state(self, visit, "capture-declined", NULL, error);
		}
		if (!vb_visit_set_int(self, visit, "UPDATE visits SET captured = ?2 WHERE id = ?1",
				      json_object_get_int_member_with_default(payload, "amount", 0),
				      error) ||
		    !vb_visit_set_text(self, visit,
				       "UPDATE visits SET settlement = ?2 WHERE id = ?1",
				       vb_settlement_after_capture(row->settlement), error) ||
		    !vb_visit_set_state(self, visit, "settled", NULL, error))
			return FALSE;
		return vb_visit_issue_receipt(self, row, error);
	}
	if (g_strcmp0(op, "adjust") == 0) {
		if (approved) {
			/* the hold stays as placed: the receipt shows it and how it rose */
			if (!vb_visit_set_text(self, visit,
					       "UPDATE visits SET settlement = ?2 WHERE id = ?1",
					       "adjusted", error) ||
			    !vb_visit_set_state(self, visit, "settling", "hold adjusted", error))
				return FALSE;
			return vb_visit_enqueue_payment(self, visit, "capture", row->total,
							"capture", error);
		}
		/* the processor refused more: take what the hold covers, and tell */
		vb_context_alert(
		    self->context, VB_ALERT_WARNING, NULL,
		    "visit %s: the processor declined raising the hold to %" G_GINT64_FORMAT
		    " %s; the hold of %" G_GINT64_FORMAT " is captured instead",
		    visit, row->total, row->currency, row->hold_amount);
		if (!vb_visit_set_text(self, visit,
				       "UPDATE visits SET settlement = ?2 WHERE id = ?1",
				       "adjust-declined", error) ||
		    !vb_visit_set_state(self, visit, "settling", "adjustment declined", error))
			return FALSE;
		return vb_visit_enqueue_payment(self, visit, "capture", row->hold_amount, "capture",
						error);
	}
	if (g_strcmp0(op, "cancel") == 0) {
		if (!approved) {
			vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
					 "visit %s: the processor refused to cancel its hold",
					 visit);
			return vb_visit_set_state(self, visit, "cancel-declined", NULL, error);
		}
		if (g_strcmp0(row->state, "settling") == 0) {
			const gchar *settlement = g_strcmp0(row->settlement, "expired") == 0
						      ? "expired-cancelled"
						      : "cancelled";
			if (!vb_visit_set_int(self, visit,
					      "UPDATE visits SET captured = ?2 WHERE id = ?1", 0,
					      error) ||
			    !vb_visit_set_text(self, visit,
					       "UPDATE visits SET settlement = ?2 WHERE id = ?1",
					       settlement, error) ||
			    !vb_visit_set_state(self, visit, "settled", NULL, error))
				return FALSE;
			return vb_visit_issue_receipt(self, row, error);
		}
		return vb_visit_set_state(self, visit, row->state, "hold cancelled", error);
	}
	if (g_strcmp0(op, "void") == 0)
		return vb_visit_set_state(self, visit, row->state,
					  approved ? "late hold cancelled" : "no hold was placed",
					  error);
	return TRUE;
}

/* the "sms" outbox kind */

static void
vb_visit_sms_skip(VbOutboxItem *item, const gchar *why)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) node = NULL;
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "skipped");
	json_builder_add_string_value(builder, why);
	json_builder_end_object(builder);
	node = json_builder_get_root(builder);
	vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_DONE, node, NULL, 0);
}

static void
vb_visit_sms_dispatch(VbOutbox *outbox,
		      VbOutboxItem *item,
		      GCancellable *cancellable,
		      gpointer user_data)
{
	VbVisitManager *self = VB_VISIT_MANAGER(user_data);
	JsonObject *payload = vb_outbox_item_get_payload(item);
	VbSmsTemplate template_ = vb_sms_template_from_string(
	    json_object_get_string_member_with_default(payload, "template", ""));
	const gchar *language = json_object_get_string_member_with_default(
	    payload, "language", vb_context_get_default_language(self->context));
	const gchar *visit = json_object_get_string_member_with_default(payload, "visit", "");
	gint64 customer = json_object_get_int_member_with_default(payload, "customer", 0);
	JsonObject *params = json_object_has_member(payload, "params")
				 ? json_object_get_object_member(payload, "params")
				 : NULL;
	g_autoptr(GHashTable) values = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
							     (GDestroyNotify)vb_crypto_free_string);
	g_autoptr(GError) error = NULL;
	static const gchar *const shortenable[] = {"body", "store", NULL};
	gboolean shortened = FALSE;
	gchar *body;
	gchar *to = NULL;

	if (template_ == VB_SMS_LAST) {
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL,
					"unknown SMS template", 0);
		return;
	}
	if (json_object_get_boolean_member_with_default(payload, "to-operator", FALSE)) {
		if (self->operator_phone == NULL) {
			vb_visit_sms_skip(item, "no operator-phone");
			return;
		}
		to = g_strdup(self->operator_phone);
	} else {
		/* STOP ends every further message, whatever was queued before it;
		 * HELP still gets its answer, as carriers require */
		if (template_ != VB_SMS_HELP &&
		    vb_customers_is_sms_opted_out(self->customers, customer)) {
			vb_visit_sms_skip(item, "opted-out");
			return;
		}
		to = vb_customers_get_phone(self->customers, customer, &error);
		if (to == NULL) {
			if (g_error_matches(error, VB_ERROR, VB_ERROR_NOT_FOUND))
				vb_visit_sms_skip(item, "erased");
			else
				vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL,
							error->message, 0);
			return;
		}
	}
	g_hash_table_insert(values, (gpointer) "store",
			    g_strdup(vb_context_get_store_name(self->context)));
	g_hash_table_insert(values, (gpointer) "contact", g_strdup(self->operator_contact));
	g_hash_table_insert(values, (gpointer) "visit", g_strdup(visit));
	if (template_ == VB_SMS_RECEIPT) {
		g_autofree gchar *token = vb_visit_manager_receipt_token(self, visit);
		g_hash_table_insert(values, (gpointer) "url",
				    g_strdup_printf("%s/r/%s",
						    vb_http_server_get_public_url(
							vb_context_get_http_server(self->context)),
						    token != NULL ? token : ""));
	} else if (template_ == VB_SMS_OTP) {
		const gchar *code =
		    vb_outbox_get_ephemeral(self->outbox, vb_outbox_item_get_idempotency_key(item));
		if (code == NULL) {
			vb_crypto_free_string(to);
			vb_outbox_item_complete(
			    item, VB_OUTBOX_OUTCOME_FAILED, NULL,
			    "the one-time code was lost in a restart; the shopper "
			    "taps again for a new one",
			    0);
			return;
		}
		g_hash_table_insert(values, (gpointer) "code", g_strdup(code));
	}
	if (params != NULL) {
		static const gchar *names[] = {"phone", "visit", "body"};
		for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
			if (json_object_has_member(params, names[i]))
				g_hash_table_replace(
				    values, (gpointer)names[i],
				    g_strdup(json_object_get_string_member(params, names[i])));
		}
	}

	/* within [sms] max-segments: a forwarded reply, then the store's name, are
	 * shortened at a word; a link, a code and the fixed text never are */
	body = vb_sms_router_render(self->sms_router, template_, language, values, shortenable,
				    &shortened);
	/* the router chooses the provider and completes the item */
	vb_sms_router_send(
	    self->sms_router, item,
	    json_object_get_boolean_member_with_default(payload, "to-operator", FALSE) ? 0
										       : customer,
	    to, body, shortened, cancellable);
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
}

static gboolean
vb_visit_sms_complete(VbOutbox *outbox,
		      VbOutboxItem *item,
		      VbOutboxOutcome outcome,
		      JsonNode *result,
		      gpointer user_data,
		      GError **error)
{
	VbVisitManager *self = VB_VISIT_MANAGER(user_data);

	/* an SMS leaves the outbox: room for an owed notice, queued once this
	 * completion has committed */
	if (self->started && self->notices_owed && self->owed_source == NULL) {
		self->owed_source = g_idle_source_new();
		g_source_set_priority(self->owed_source, G_PRIORITY_LOW);
		g_source_set_callback(self->owed_source, vb_visit_manager_owed_cb, self, NULL);
		g_source_set_static_name(self->owed_source, "[vestibule] owed notices");
		g_source_attach(self->owed_source, NULL);
	}
	if (outcome != VB_OUTBOX_OUTCOME_DONE)
		vb_context_alert(self->context, VB_ALERT_WARNING, NULL,
				 "an SMS for visit %s could not be sent; see vestibulectl outbox",
				 vb_outbox_item_get_visit_id(item) != NULL
				     ? vb_outbox_item_get_visit_id(item)
				     : "(none)");
	return TRUE;
}

/* the order */

static gboolean
vb_order_fail(GError **error, const gchar *message)
{
	g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA, message);
	return FALSE;
}

/* checks @order and writes its canonical form, which is what is hashed */
static gboolean
vb_order_validate(JsonNode *order,
		  const gchar *currency,
		  JsonBuilder *canonical,
		  gint64 *total,
		  GError **error)
{
	JsonObject *obj;
	JsonArray *lines;
	g_autoptr(GList) members = NULL;

	if (order == NULL || !JSON_NODE_HOLDS_OBJECT(order))
		return vb_order_fail(error, _("the order must be a JSON object with \"currency\" "
					      "and \"lines\""));
	obj = json_node_get_object(order);
	members = json_object_get_members(obj);
	for (GList *l = members; l != NULL; l = l->next) {
		if (g_strcmp0(l->data, "currency") != 0 && g_strcmp0(l->data, "lines") != 0) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("unknown member \"%s\" in the order"),
				    (const gchar *)l->data);
			return FALSE;
		}
	}
	if (!json_object_has_member(obj, "currency") ||
	    json_node_get_value_type(json_object_get_member(obj, "currency")) != G_TYPE_STRING)
		return vb_order_fail(error, _("the order needs \"currency\", an ISO 4217 code"));
	if (g_strcmp0(json_object_get_string_member(obj, "currency"), currency) != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the order is in %s but the visit's hold is in %s"),
			    json_object_get_string_member(obj, "currency"), currency);
		return FALSE;
	}
	if (!json_object_has_member(obj, "lines") ||
	    !JSON_NODE_HOLDS_ARRAY(json_object_get_member(obj, "lines")))
		return vb_order_fail(error, _("the order needs \"lines\", an array (empty when "
					      "nothing was taken)"));
	lines = json_object_get_array_member(obj, "lines");
	if (json_array_get_length(lines) > VB_ORDER_MAX_LINES) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the order has more than %u lines"), (guint)VB_ORDER_MAX_LINES);
		return FALSE;
	}
	*total = 0;
	json_builder_begin_object(canonical);
	json_builder_set_member_name(canonical, "currency");
	json_builder_add_string_value(canonical, currency);
	json_builder_set_member_name(canonical, "lines");
	json_builder_begin_array(canonical);
	for (guint i = 0; i < json_array_get_length(lines); i++) {
		JsonNode *node = json_array_get_element(lines, i);
		JsonObject *line;
		JsonNode *sku, *name, *qty, *price;
		gint64 q, p;

		if (!JSON_NODE_HOLDS_OBJECT(node)) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("line %u of the order is not an object"), i + 1);
			return FALSE;
		}
		line = json_node_get_object(node);
		sku = json_object_get_member(line, "sku");
		name = json_object_get_member(line, "name");
		qty = json_object_get_member(line, "quantity");
		price = json_object_get_member(line, "unit_price");
		if (json_object_get_size(line) != 4 || sku == NULL || name == NULL || qty == NULL ||
		    price == NULL || json_node_get_value_type(sku) != G_TYPE_STRING ||
		    json_node_get_value_type(name) != G_TYPE_STRING ||
		    json_node_get_value_type(qty) != G_TYPE_INT64 ||
		    json_node_get_value_type(price) != G_TYPE_INT64) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("line %u of the order must have exactly \"sku\" and \"name\" "
				      "(strings), \"quantity\" and \"unit_price\" (integers, "
				      "the price in minor units)"),
				    i + 1);
			return FALSE;
		}
		q = json_node_get_int(qty);
		p = json_node_get_int(price);
		if (strlen(json_node_get_string(sku)) == 0 ||
		    strlen(json_node_get_string(sku)) > 64 ||
		    !g_utf8_validate(json_node_get_string(name), -1, NULL) ||
		    g_utf8_strlen(json_node_get_string(name), -1) < 1 ||
		    g_utf8_strlen(json_node_get_string(name), -1) > 200) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("line %u: \"sku\" must be 1 to 64 characters and \"name\" 1 "
				      "to 200"),
				    i + 1);
			return FALSE;
		}
		if (q < 1 || q > VB_ORDER_MAX_QUANTITY || p < 0 || p > VB_ORDER_MAX_UNIT_PRICE) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("line %u: the quantity must be 1 to %u and the unit price 0 "
				      "to %" PRId64 " minor units"),
				    i + 1, (guint)VB_ORDER_MAX_QUANTITY,
				    (gint64)VB_ORDER_MAX_UNIT_PRICE);
			return FALSE;
		}
		/* bounded above: 500 lines of 1000 × 1e8 fit in 64 bits */
		*total += q * p;
		json_builder_begin_object(canonical);
		json_builder_set_member_name(canonical, "sku");
		json_builder_add_string_value(canonical, json_node_get_string(sku));
		json_builder_set_member_name(canonical, "name");
		json_builder_add_string_value(canonical, json_node_get_string(name));
		json_builder_set_member_name(canonical, "quantity");
		json_builder_add_int_value(canonical, q);
		json_builder_set_member_name(canonical, "unit_price");
		json_builder_add_int_value(canonical, p);
		json_builder_end_object(canonical);
	}
	json_builder_end_array(canonical);
	json_builder_end_object(canonical);
	return TRUE;
}

static GVariant *
vb_order_answer(VbVisitRow *row, const gchar *state, gint64 total)
{
	GVariantDict dict;
	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, "visit", "s", row->id);
	g_variant_dict_insert(&dict, "state", "s", state);
	g_variant_dict_insert(&dict, "total", "x", total);
	g_variant_dict_insert(&dict, "hold", "x", row->hold_amount);
	g_variant_dict_insert(&dict, "currency", "s", row->currency != NULL ? row->currency : "");
	return g_variant_dict_end(&dict);
}

GVariant *
vb_visit_manager_post_order(VbVisitManager *self,
			    const gchar *visit_id,
			    JsonNode *order,
			    GError **error)
{
	g_autoptr(VbVisitRow) row = NULL;
	g_autoptr(JsonBuilder) canonical = json_builder_new();
	g_autoptr(JsonNode) canonical_node = NULL;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autofree gchar *json = NULL;
	g_autofree gchar *hash = NULL;
	gint64 total = 0;
	gboolean ok;

	g_return_val_if_fail(VB_IS_VISIT_MANAGER(self), NULL);

	row = vb_visit_row_load(self, "id", visit_id, error);
	if (row == NULL)
		return NULL;
	if (!vb_order_validate(order, row->currency != NULL ? row->currency : self->currency,
			       canonical, &total, error))
		return NULL;
	canonical_node = json_builder_get_root(canonical);
	json = json_to_string(canonical_node, FALSE);
	hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, json, -1);

	/* the same order twice settles once; a different one is refused */
	if (row->order_hash != NULL) {
		if (g_strcmp0(row->order_hash, hash) == 0)
			return vb_order_answer(row, row->state, row->total);
		g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
			    _("visit %s already has a different order; it cannot be changed"),
			    visit_id);
		return NULL;
	}
	if (g_strcmp0(row->state, "awaiting-order") != 0 && g_strcmp0(row->state, "open") != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
			    _("visit %s is %s: it takes no order"), visit_id, row->state);
		return NULL;
	}

	tx = vb_store_transaction_begin(self->store, error);
	if (tx == NULL)
		return NULL;
	ok = vb_visit_set_text(self, visit_id, "UPDATE visits SET order_json = ?2 WHERE id = ?1",
			       json, error) &&
	     vb_visit_set_text(self, visit_id, "UPDATE visits SET order_hash = ?2 WHERE id = ?1",
			       hash, error) &&
	     vb_visit_set_int(self, visit_id, "UPDATE visits SET total = ?2 WHERE id = ?1", total,
			      error) &&
	     vb_visit_set_state(self, visit_id, "settling", NULL, error);
	/* total 0 cancels; up to the hold captures; over it raises the hold first */
	if (ok && total == 0)
		ok = vb_visit_enqueue_payment(self, visit_id, "cancel", 0, "cancel", error);
	else if (ok && total <= row->hold_amount)
		ok = vb_visit_enqueue_payment(self, visit_id, "capture", total, "capture", error);
	else if (ok)
		ok = vb_visit_enqueue_payment(self, visit_id, "adjust", total, "adjust", error);
	if (!ok || !vb_store_transaction_commit(tx, error))
		return NULL;
	return vb_order_answer(row, "settling", total);
}

/* reading visits */

GVariant *
vb_visit_manager_get_visit(VbVisitManager *self, const gchar *visit_id, GError **error)
{
	g_autoptr(VbVisitRow) row = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *phone = NULL;
	GVariantBuilder timeline;
	GVariantDict dict;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_VISIT_MANAGER(self), NULL);
	row = vb_visit_row_load(self, "id", visit_id, error);
	if (row == NULL)
		return NULL;
	stmt =
	    vb_store_prepare(self->store,
			     "SELECT time, state, detail FROM visit_timeline WHERE visit_id = ?1 "
			     "ORDER BY id",
			     error);
	if (stmt == NULL)
		return NULL;
	vb_store_stmt_bind_text(stmt, 1, visit_id);
	g_variant_builder_init(&timeline, G_VARIANT_TYPE("aa{sv}"));
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		GVariantDict entry;
		g_variant_dict_init(&entry, NULL);
		g_variant_dict_insert(&entry, "time", "x", vb_store_stmt_column_int64(stmt, 0));
		g_variant_dict_insert(&entry, "state", "s", vb_store_stmt_column_text(stmt, 1));
		if (!vb_store_stmt_column_is_null(stmt, 2))
			g_variant_dict_insert(&entry, "detail", "s",
					      vb_store_stmt_column_text(stmt, 2));
		g_variant_builder_add_value(&timeline, g_variant_dict_end(&entry));
	}
	if (step == VB_STORE_STEP_ERROR) {
		g_variant_builder_clear(&timeline);
		return NULL;
	}
	if (row->customer_id > 0)
		phone = vb_customers_get_phone_masked(self->customers, row->customer_id, NULL);

	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, "id", "s", row->id);
	g_variant_dict_insert(&dict, "state", "s", row->state);
	g_variant_dict_insert(&dict, "door", "s", row->door != NULL ? row->door : "");
	if (row->first6 != NULL)
		g_variant_dict_insert_value(
		    &dict, "card",
		    g_variant_new_take_string(
			g_strdup_printf("%s\xe2\x80\xa2\xe2\x80\xa2%s", row->first6, row->last4)));
	if (phone != NULL)
		g_variant_dict_insert(&dict, "phone", "s", phone);
	g_variant_dict_insert(&dict, "language", "s", row->language != NULL ? row->language : "");
	g_variant_dict_insert(&dict, "currency", "s", row->currency != NULL ? row->currency : "");
	g_variant_dict_insert(&dict, "hold", "x", row->hold_amount);
	g_variant_dict_insert(&dict, "total", "x", row->total);
	g_variant_dict_insert(&dict, "captured", "x", row->captured);
	if (row->settlement != NULL)
		g_variant_dict_insert(&dict, "settlement", "s", row->settlement);
	if (row->psp_reference != NULL)
		g_variant_dict_insert(&dict, "psp-reference", "s", row->psp_reference);
	g_variant_dict_insert(&dict, "capture-deadline", "x", row->capture_deadline);
	g_variant_dict_insert(&dict, "created", "x", row->created);
	g_variant_dict_insert_value(&dict, "timeline", g_variant_builder_end(&timeline));
	return g_variant_dict_end(&dict);
}

GVariant *
vb_visit_manager_get_receipt(VbVisitManager *self, const gchar *token, GError **error)
{
	g_autoptr(VbVisitRow) row = NULL;
	g_autofree gchar *hash = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	GVariantBuilder lines;
	GVariantDict dict;
	JsonArray *array = NULL;

	g_return_val_if_fail(VB_IS_VISIT_MANAGER(self), NULL);
	if (token == NULL || strlen(token) != 32 || strspn(token, "0123456789abcdef") != 32) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND, _("no such receipt"));
		return NULL;
	}
	hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);
	row = vb_visit_row_load(self, "receipt_hash", hash, NULL);
	if (row == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND, _("no such receipt"));
		return NULL;
	}
	if (row->receipt_expires < g_get_real_time()) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
				    _("this receipt link has expired"));
		return NULL;
	}
	if (row->order_json != NULL &&
	    json_parser_load_from_data(parser, row->order_json, -1, NULL))
		array = json_object_get_array_member(
		    json_node_get_object(json_parser_get_root(parser)), "lines");
	g_variant_builder_init(&lines, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
		JsonObject *line = json_array_get_object_element(array, i);
		gint64 q = json_object_get_int_member(line, "quantity");
		gint64 p = json_object_get_int_member(line, "unit_price");
		GVariantDict entry;
		g_variant_dict_init(&entry, NULL);
		g_variant_dict_insert(&entry, "sku", "s",
				      json_object_get_string_member(line, "sku"));
		g_variant_dict_insert(&entry, "name", "s",
				      json_object_get_string_member(line, "name"));
		g_variant_dict_insert(&entry, "quantity", "x", q);
		g_variant_dict_insert(&entry, "unit-price", "x", p);
		g_variant_dict_insert(&entry, "price", "x", q * p);
		g_variant_builder_add_value(&lines, g_variant_dict_end(&entry));
	}
	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, "visit", "s", row->id);
	g_variant_dict_insert(&dict, "store", "s", vb_context_get_store_name(self->context));
	g_variant_dict_insert(&dict, "contact", "s",
			      self->operator_contact != NULL ? self->operator_contact : "");
	g_variant_dict_insert(
	    &dict, "language", "s",
	    row->language != NULL ? row->language : vb_context_get_default_language(self->context));
	g_variant_dict_insert(&dict, "currency", "s", row->currency != NULL ? row->currency : "");
	g_variant_dict_insert_value(&dict, "lines", g_variant_builder_end(&lines));
	g_variant_dict_insert(&dict, "total", "x", row->total);
	g_variant_dict_insert(&dict, "hold", "x", row->hold_amount);
	g_variant_dict_insert(&dict, "captured", "x", row->captured);
	/* a hold raised to the order's total before its capture */
	if (g_strcmp0(row->settlement, "adjusted-and-captured") == 0)
		g_variant_dict_insert(&dict, "adjusted", "x", row->total);
	g_variant_dict_insert(&dict, "settlement", "s",
			      row->settlement != NULL ? row->settlement : "");
	g_variant_dict_insert_value(
	    &dict, "card",
	    g_variant_new_take_string(g_strdup_printf("%s\xe2\x80\xa2\xe2\x80\xa2%s",
						      row->first6 != NULL ? row->first6 : "",
						      row->last4 != NULL ? row->last4 : "")));
	g_variant_dict_insert(&dict, "time", "x", row->created);
	return g_variant_dict_end(&dict);
}

/* the capture deadline */

#define VB_OWED_NOTICES_BATCH 64

/* queues the notices that visits owe since the outbox was full, oldest
 * first, while it has room */
static void
vb_visit_manager_queue_owed_notices(VbVisitManager *self)
{
	g_autoptr(GPtrArray) owed =
	    g_ptr_array_new_with_free_func((GDestroyNotify)vb_visit_row_free);
	g_autoptr(GError) error = NULL;

	{
		g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
		    self->store,
		    "SELECT " VB_VISIT_COLUMNS " FROM visits WHERE notice_owed = 1 "
		    "ORDER BY created LIMIT " G_STRINGIFY(VB_OWED_NOTICES_BATCH),
		    &error);
		if (stmt == NULL) {
			g_warning("cannot read the owed notices: %s", error->message);
			return;
		}
		while (vb_store_stmt_step(stmt, &error) == VB_STORE_STEP_ROW)
			g_ptr_array_add(owed, vb_visit_row_from_stmt(stmt));
	}
	for (guint i = 0; i < owed->len; i++) {
		VbVisitRow *row = g_ptr_array_index(owed, i);
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(self->store, &error);
		g_autofree gchar *key = g_strdup_printf("%s:notice", row->id);
		gboolean ok;

		/* an erased customer has no phone left to owe a notice to */
		ok = tx != NULL &&
		     (row->customer_id <= 0 ||
		      vb_visit_enqueue_sms(self, row->id, row->customer_id, VB_SMS_NOTICE,
					   row->language, key, &error)) &&
		     vb_visit_set_int(self, row->id,
				      "UPDATE visits SET notice_owed = ?2 WHERE id = ?1", 0,
				      &error) &&
		     vb_store_transaction_commit(tx, &error);
		if (!ok) {
			/* still full: the next completion or the next minute tries again */
			if (!g_error_matches(error, VB_ERROR, VB_ERROR_TOO_LARGE))
				g_warning("visit %s: cannot queue its owed notice: %s", row->id,
					  error->message);
			self->notices_owed = TRUE;
			return;
		}
		g_message("visit %s: its owed notice SMS is queued", row->id);
	}
	/* all queued, unless this was only the first batch */
	self->notices_owed = owed->len == VB_OWED_NOTICES_BATCH;
}

static gboolean
vb_visit_manager_owed_cb(gpointer user_data)
{
	VbVisitManager *self = VB_VISIT_MANAGER(user_data);

	g_clear_pointer(&self->owed_source, g_source_unref);
	vb_visit_manager_queue_owed_notices(self);
	return G_SOURCE_REMOVE;
}

static void
vb_visit_manager_check_deadlines(VbVisitManager *self)
{
	g_autoptr(GPtrArray) due =
	    g_ptr_array_new_with_free_func((GDestroyNotify)vb_visit_row_free);
	g_autoptr(GError) error = NULL;

	{
		g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
		    self->store,
		    "SELECT " VB_VISIT_COLUMNS " FROM visits WHERE state IN ('awaiting-order', "
		    "'open') AND capture_deadline > 0 AND capture_deadline <= ?1",
		    &error);
		if (stmt == NULL) {
			g_warning("cannot check capture deadlines: %s", error->message);
			return;
		}
		vb_store_stmt_bind_int64(stmt, 1, g_get_real_time());
		while (vb_store_stmt_step(stmt, &error) == VB_STORE_STEP_ROW)
			g_ptr_array_add(due, vb_visit_row_from_stmt(stmt));
	}
	for (guint i = 0; i < due->len; i++) {
		VbVisitRow *row = g_ptr_array_index(due, i);
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(self->store, &error);
		gint64 amount = MIN(self->deadline_capture_max, row->hold_amount);
		gboolean ok;

		ok = tx != NULL &&
		     vb_visit_set_text(self, row->id,
				       "UPDATE visits SET settlement = ?2 WHERE id = ?1", "expired",
				       &error) &&
		     vb_visit_set_int(self, row->id, "UPDATE visits SET total = ?2 WHERE id = ?1",
				      amount, &error) &&
		     vb_visit_set_state(self, row->id, "settling",
					"no order by the capture deadline", &error) &&
		     (amount > 0 ? vb_visit_enqueue_payment(self, row->id, "capture", amount,
							    "deadline-capture", &error)
				 : vb_visit_enqueue_payment(self, row->id, "cancel", 0,
							    "deadline-cancel", &error)) &&
		     vb_store_transaction_commit(tx, &error);
		if (!ok) {
			g_warning("visit %s: %s", row->id, error->message);
			g_clear_error(&error);
			continue;
		}
		vb_context_alert(self->context, VB_ALERT_WARNING, NULL,
				 "visit %s had no order by its capture deadline: its hold is %s",
				 row->id,
				 amount > 0 ? "captured up to the configured amount" : "cancelled");
	}
}

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
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(self->store, &error);
		gboolean ok = tx != NULL;
		VbPlugin *lock;

		if (g_strcmp0(row->state, "open") == 0 && door != NULL &&
		    door->phase == VB_PHASE_IDLE) {
			/* the shopper is inside: the visit goes on when the door closes */
			g_clear_pointer(&tx, vb_store_transaction_free);
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
		if (g_strcmp0(row->state, "open") == 0) {
			/* its door is gone from the config: treat it as closed */
			ok = ok && vb_visit_set_state(self, row->id, "awaiting-order",
						      "resumed after a restart", &error);
		} else if (g_strcmp0(row->state, "unlocked") == 0) {
			/* the lock came back locked, the shopper never got in */
			ok = ok &&
			     vb_visit_set_state(self, row->id, "abandoned",
						"the daemon restarted before the door opened",
						&error) &&
			     vb_visit_enqueue_payment(self, row->id, "cancel", 0, "cancel", &error);
		} else if (g_strcmp0(row->state, "authorizing") == 0) {
			ok = ok &&
			     vb_visit_set_state(self, row->id, "interrupted",
						"the daemon restarted during the hold", &error) &&
			     vb_visit_enqueue_payment(self, row->id, "void", 0, "void", &error);
		} else {
			ok = ok && vb_visit_set_state(self, row->id, "interrupted",
						      "the daemon restarted", &error);
		}
		if (!ok || !vb_store_transaction_commit(tx, &error)) {
			g_warning("visit %s: cannot resume: %s", row->id,
				  error != NULL ? error->message : "no transaction");
			g_clear_error(&error);
		}
	}
}

/* configuration */

static gchar *
vb_config_dup_nonempty(VbConfig *config, const gchar *group, const gchar *key)
{
	const gchar *value = vb_config_get_string(config, group, key);
	return value != NULL && value[0] != '\0' ? g_strdup(value) : NULL;
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
	G_OBJECT_CLASS(vb_visit_manager_parent_class)->dispose(object);
}

static void
vb_visit_manager_finalize(GObject *object)
{
	VbVisitManager *self = VB_VISIT_MANAGER(object);

	g_hash_table_unref(self->doors);
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
		     VbPluginLoader *loader,
		     VbCustomers *customers,
		     VbOutbox *outbox)
{
	VbVisitManager *self = g_object_new(VB_TYPE_VISIT_MANAGER, NULL);

	self->context = context;
	self->store = g_object_ref(vb_context_get_store(context));
	self->loader = loader;
	self->customers = g_object_ref(customers);
	self->outbox = g_object_ref(outbox);
	self->sms_router = vb_sms_router_new(context, loader, customers);
	return self;
}
