/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-event.h"
#include "vb-keypad.h"
#include "vb-payment-processor.h"
#include "vb-plugin.h"
#include "vb-prompts-private.h"
#include "vb-sms-router-private.h"
#include "vb-store-private.h"
#include "vb-visit-manager-private.h"

G_BEGIN_DECLS

/*
 * The insides of the visit manager, shared by the phase machine
 * (vb-visit-manager.c) and the modules of the visit's steps: identify,
 * verify, risk, hold, door, notice, settle, rewards; with the visit's record
 * (vb-visit-record.c) and the outbox's payment operations
 * (vb-visit-payment.c) that several steps use. A step never sets a door's
 * phase: it reports how it ended, and the phase machine decides what comes
 * next.
 */

#define VB_MAX_PHONE_DIGITS 15

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

/* the rewards step's two moments, and what it is told at each */
typedef enum {
	VB_VISIT_REWARDS_APPROVED, /* the hold is approved and the door unlocked */
	VB_VISIT_REWARDS_SETTLED,  /* the visit is settled: captured, or cancelled */
} VbVisitRewardsMoment;

typedef struct {
	const gchar *visit_id;
	gint64 customer_id;	 /* 0 for a visit without a phone */
	const gchar *card_token; /* the keyed hash of the card, as the customers table keeps it */
	gint64 amount;		 /* minor units: the hold approved, or the amount captured */
	const gchar *currency;
	const gchar *settlement; /* NULL when approved; else as the receipt shows it */
} VbVisitRewardsEvent;

/* for tests: told of each call of the rewards step, after the step itself */
typedef void (*VbVisitRewardsObserver)(VbVisitRewardsMoment moment,
				       const VbVisitRewardsEvent *event,
				       gpointer user_data);

struct _VbVisitManager {
	GObject parent_instance;
	VbContext *context;
	VbStore *store;
	VbPluginLoader *loader;
	VbHost *host; /* the receipt links' key */
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
	GArray *risk_rules; /* of VbVisitRiskEntry, in order; NULL while none */
	VbVisitRewardsObserver rewards_observer;
	gpointer rewards_observer_data;
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

/* the phase machine and the door's session: vb-visit-manager.c */

VbDoor *
vb_door_ref(VbDoor *door);
void
vb_door_unref(VbDoor *door);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbDoor, vb_door_unref)
void
vb_door_clear_source(GSource **source);
void
vb_door_wipe_digits(VbDoor *door);
/* the running instance @name, or NULL */
VbPlugin *
vb_visit_manager_instance(VbVisitManager *self, const gchar *name);
void
vb_door_arm_timer(VbDoor *door, guint seconds, GSourceFunc func);
/* the welcome prompt in @ms, if the door is idle then; replaces the one
 * already due */
void
vb_door_welcome_after(VbDoor *door, guint ms);
/* the door's session ends: back to idle, showing @prompt (none for
 * VB_PROMPT_LAST), then the welcome prompt */
void
vb_door_end(VbDoor *door, VbPrompt prompt);
/* a visit that ends at the door, before any hold: recorded as @state */
void
vb_door_fail(VbDoor *door, const gchar *state, const gchar *detail, VbPrompt prompt);
/* the same, logged */
void
vb_door_deny(VbDoor *door, const gchar *state, const gchar *detail, VbPrompt prompt);
/* authorizing --approved--> unlocked: the hold step's answer */
void
vb_door_approved(VbDoor *door, const VbPaymentResult *result);

/* the visit's record: vb-visit-record.c */

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

void
vb_visit_row_free(VbVisitRow *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbVisitRow, vb_visit_row_free)

#define VB_VISIT_COLUMNS                                                                           \
	"id, state, door, card_token, first6, last4, coalesce(customer_id, 0), language, "         \
	"currency, coalesce(hold_amount, 0), psp_reference, coalesce(capture_deadline, 0), "       \
	"order_hash, order_json, coalesce(total, 0), coalesce(captured, 0), settlement, "          \
	"coalesce(receipt_expires, 0), created, updated"

VbVisitRow *
vb_visit_row_from_stmt(VbStoreStmt *stmt);
/* @column: "id" or "receipt_hash" */
VbVisitRow *
vb_visit_row_load(VbVisitManager *self, const gchar *column, const gchar *value, GError **error);
gchar *
vb_visit_new_id(void);
/* in the open transaction; the bus hears of it once committed */
gboolean
vb_visit_set_state(VbVisitManager *self,
		   const gchar *visit_id,
		   const gchar *state,
		   const gchar *detail,
		   GError **error);
gboolean
vb_visit_commit_state(VbVisitManager *self,
		      const gchar *visit_id,
		      const gchar *state,
		      const gchar *detail);
gboolean
vb_visit_set_int(VbVisitManager *self,
		 const gchar *visit_id,
		 const gchar *column_sql,
		 gint64 value,
		 GError **error);
gboolean
vb_visit_set_text(VbVisitManager *self,
		  const gchar *visit_id,
		  const gchar *column_sql,
		  const gchar *value,
		  GError **error);
gboolean
vb_visit_enqueue_sms(VbVisitManager *self,
		     const gchar *visit_id,
		     gint64 customer_id,
		     VbSmsTemplate template_,
		     const gchar *language,
		     const gchar *key,
		     GError **error);
gboolean
vb_visit_enqueue_payment(VbVisitManager *self,
			 const gchar *visit_id,
			 const gchar *op,
			 gint64 amount,
			 const gchar *key_suffix,
			 GError **error);

/* identify: vb-visit-identify.c */

typedef enum {
	VB_VISIT_IDENTIFY_NEW,	 /* a card without a customer, or one getting a new number */
	VB_VISIT_IDENTIFY_KNOWN, /* a returning customer's card, on record as authorizing */
	VB_VISIT_IDENTIFY_ENDED, /* refused or not recorded: the door's session ended */
} VbVisitIdentifyOutcome;

VbVisitIdentifyOutcome
vb_visit_identify_card(VbDoor *door, VbEvent *event);

/* verify: vb-visit-verify.c */

typedef enum {
	VB_VISIT_VERIFY_ENTERING,  /* the shopper is still at the keypad */
	VB_VISIT_VERIFY_CODE_SENT, /* the number is taken: its code is on the way */
	VB_VISIT_VERIFY_LINKED,	   /* the card is linked to the number */
	VB_VISIT_VERIFY_ENDED,	   /* the visit ended at the door */
} VbVisitVerifyOutcome;

/* the keypad's prompts, once the phase is enter-phone or enter-code */
void
vb_visit_verify_ask_phone(VbDoor *door);
void
vb_visit_verify_ask_code(VbDoor *door);
/* a key in enter-phone or enter-code */
VbVisitVerifyOutcome
vb_visit_verify_key(VbDoor *door, VbKeypadKey key);
/* '*' while idle: the next tap gives its card a new number */
void
vb_visit_verify_change_phone(VbDoor *door);
/* the number or the code in door->digits, which are wiped */
VbVisitVerifyOutcome
vb_visit_verify_submit_phone(VbDoor *door);
VbVisitVerifyOutcome
vb_visit_verify_submit_code(VbDoor *door);

/* risk: vb-visit-risk.c */

typedef enum {
	VB_VISIT_RISK_ALLOW,
	VB_VISIT_RISK_DENY,
} VbVisitRiskVerdict;

typedef struct {
	const gchar *visit_id;
	const gchar *door;
	const gchar *card_token;
	gint64 customer_id; /* the card's customer, proved or returning */
	gboolean returning; /* a known card, which gave no number at this visit */
	gint64 amount;	    /* the hold about to be asked for, in minor units */
	const gchar *currency;
} VbVisitRiskRequest;

typedef struct {
	const gchar *reason; /* static text: the visit's timeline detail and the log */
	VbPrompt prompt;     /* what the door shows */
} VbVisitRiskRefusal;

/* one check before money moves: on VB_VISIT_RISK_DENY it fills @refusal. It
 * runs on the tap-to-unlock path, so it must be quick: it may read memory or
 * the store through a cached statement, but not write, allocate on every tap
 * nor wait for the network */
typedef VbVisitRiskVerdict (*VbVisitRiskRule)(VbVisitManager *self,
					      const VbVisitRiskRequest *request,
					      VbVisitRiskRefusal *refusal,
					      gpointer user_data);

typedef struct _VbVisitRiskEntry VbVisitRiskEntry;

/* adds @rule after those already there; the first rule that denies decides */
void
vb_visit_risk_add_rule(VbVisitManager *self, VbVisitRiskRule rule, gpointer user_data);
/* the checks before money moves, called by the phase machine before each
 * hold: each rule in turn. On VB_VISIT_RISK_DENY @refusal is filled in, and
 * the visit ends as declined with no hold asked for */
VbVisitRiskVerdict
vb_visit_risk_check(VbVisitManager *self,
		    const VbVisitRiskRequest *request,
		    VbVisitRiskRefusal *refusal);

/* hold: vb-visit-hold.c */

gboolean
vb_visit_manager_can_release_by_reference(VbVisitManager *self);
gchar *
vb_door_reserve(VbDoor *door, GError **error);
void
vb_door_set_reserved(VbDoor *door, gchar *id, guint64 syncs_before_commit);
gboolean
vb_door_reservation_ready(VbDoor *door);
gboolean
vb_visit_claim_reservation(VbVisitManager *self, const gchar *id, GError **error);
void
vb_visit_manager_renew_reservations(VbVisitManager *self);
/* the running payment processor, or NULL */
VbPaymentProcessor *
vb_visit_hold_processor(VbVisitManager *self);
/* asks @processor for the hold of the door's visit, which is authorizing;
 * the answer comes to vb_door_approved() or ends the door's session */
void
vb_visit_hold_place(VbDoor *door, VbPaymentProcessor *processor);
/* records the approved hold; FALSE when it cannot, and then the hold is voided */
gboolean
vb_visit_hold_record(VbDoor *door, const VbPaymentResult *result);
/* the answer to a cancel by reference queued at a restart */
void
vb_visit_hold_released(VbVisitManager *self,
		       JsonObject *payload,
		       VbOutboxOutcome outcome,
		       JsonObject *result);

/* door: vb-visit-door.c */

void
vb_door_show(VbDoor *door, VbPrompt prompt, const gchar *prefix);
void
vb_door_show_entry(VbDoor *door, VbPrompt prompt);
void
vb_door_keypad_active(VbDoor *door, gboolean active);
/* unlocks the door for its recorded hold; FALSE when the lock did not, and
 * then the hold is cancelled */
gboolean
vb_visit_door_unlock(VbDoor *door);
/* the unlocked door waits to be pushed, then gives up and cancels the hold */
void
vb_visit_door_wait_open(VbDoor *door);
/* locks the closed door and records that the visit awaits its order */
void
vb_visit_door_close(VbDoor *door);
/* what a restart does to a visit it finds without a door session, in the
 * open transaction */
gboolean
vb_visit_door_restart(VbVisitManager *self, VbVisitRow *row, GError **error);

/* notice and receipt: vb-visit-notice.c */

/* queues the notice SMS of a visit whose door closed, in the open
 * transaction; with the outbox full the visit owes it, and @deferred says why */
gboolean
vb_visit_notice_queue(VbVisitManager *self,
		      const gchar *visit_id,
		      gint64 customer_id,
		      const gchar *language,
		      GError **deferred,
		      GError **error);
void
vb_visit_manager_queue_owed_notices(VbVisitManager *self);
gboolean
vb_visit_issue_receipt(VbVisitManager *self, VbVisitRow *row, GError **error);
void
vb_visit_sms_dispatch(VbOutbox *outbox,
		      VbOutboxItem *item,
		      GCancellable *cancellable,
		      gpointer user_data);
VbOutboxUnknownPolicy
vb_visit_sms_unknown(VbOutbox *outbox, VbOutboxItem *item, gpointer user_data);
gboolean
vb_visit_sms_complete(VbOutbox *outbox,
		      VbOutboxItem *item,
		      VbOutboxOutcome outcome,
		      JsonNode *result,
		      gpointer user_data,
		      GError **error);

/* the payment operations: vb-visit-payment.c */

void
vb_visit_payment_dispatch(VbOutbox *outbox,
			  VbOutboxItem *item,
			  GCancellable *cancellable,
			  gpointer user_data);

/* settle: vb-visit-settle.c */

/* checks @order and writes its canonical form, which is what is hashed */
gboolean
vb_visit_order_validate(JsonNode *order,
			const gchar *currency,
			JsonBuilder *canonical,
			gint64 *total,
			GError **error);
gboolean
vb_visit_payment_complete(VbOutbox *outbox,
			  VbOutboxItem *item,
			  VbOutboxOutcome outcome,
			  JsonNode *result,
			  gpointer user_data,
			  GError **error);
void
vb_visit_manager_check_deadlines(VbVisitManager *self);

/* rewards: vb-visit-rewards.c */

/* after the door unlocked for an approved hold, off the shopper's wait; it
 * must not block */
void
vb_visit_rewards_approved(VbVisitManager *self, const VbVisitRewardsEvent *event);
/* in the transaction that records the settlement: what it writes commits with
 * it, and an error rolls both back for the outbox to retry */
gboolean
vb_visit_rewards_settled(VbVisitManager *self, const VbVisitRewardsEvent *event, GError **error);
void
vb_visit_rewards_set_observer(VbVisitManager *self,
			      VbVisitRewardsObserver observer,
			      gpointer user_data);

G_END_DECLS
