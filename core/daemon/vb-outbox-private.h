/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "vb-context.h"
#include "vb-metrics.h"
#include "vb-store.h"

G_BEGIN_DECLS

/*
 * VbOutbox: every outgoing SMS, payment capture or cancel and partner
 * notification goes through this durable queue in SQLite.
 *
 * - Each item has a stable idempotency key, given by the caller; queueing a
 *   key twice is a no-op. Every retry of an item passes the same key to the
 *   provider, which is how a retry never sends twice.
 * - An item is marked 'sending' (committed) before its dispatcher runs. After a
 *   crash, a 'sending' item is retried with the same key.
 * - Items to one recipient go out one at a time, oldest first; a dead item
 *   does not hold back the ones behind it, and neither does, past a bound
 *   (unknown-hold-s), an item whose outcome is unknown: the peer may or may
 *   not have acted, and it is asked again while the later items go.
 * - An outcome that stays unknown past a second bound (unknown-give-up-s, or
 *   unknown-hold-s when the peer refuses to be asked) is settled by its
 *   kind's policy: ask again (money), send again under a new key (a possible
 *   duplicate rather than a loss) or give up (a dead letter).
 * - Every kind's queue, unknown outcomes and oldest age are in the status and
 *   the metrics; a kind with an item queued past stuck-alert-s raises one
 *   alert, and a peer that refuses lookups (a fault) raises one at once.
 * - Retries back off exponentially with full jitter. An item that fails
 *   permanently, runs out of attempts or grows too old becomes a dead letter,
 *   which `vestibulectl outbox` lists and can retry.
 * - The queue is bounded: past max_pending items waiting, queueing fails with
 *   VB_ERROR_TOO_LARGE and an operator alert is due.
 */

#define VB_TYPE_OUTBOX (vb_outbox_get_type())
G_DECLARE_FINAL_TYPE(VbOutbox, vb_outbox, VB, OUTBOX, GObject)

typedef struct _VbOutboxItem VbOutboxItem;

typedef enum {
	VB_OUTBOX_OUTCOME_DONE,	  /* delivered or answered; its result is kept */
	VB_OUTBOX_OUTCOME_RETRY,  /* a transient failure: try again with the same key */
	VB_OUTBOX_OUTCOME_FAILED, /* a permanent failure: a dead letter */
	/* the peer may or may not have acted: ask it again, with the same key */
	VB_OUTBOX_OUTCOME_UNKNOWN,
	/* unknown, and the peer refuses to be asked: a fault, which waiting does
	 * not cure, so the kind's policy applies at unknown-hold-s */
	VB_OUTBOX_OUTCOME_UNKNOWABLE,
} VbOutboxOutcome;

/* what becomes of an item whose outcome stayed unknown past its bound */
typedef enum {
	VB_OUTBOX_UNKNOWN_ASK_AGAIN, /* keep asking the peer, for as long as the item lives */
	VB_OUTBOX_UNKNOWN_RESEND,    /* send again under a new key: a duplicate over a loss */
	VB_OUTBOX_UNKNOWN_GIVE_UP,   /* a dead letter: a loss over a duplicate */
} VbOutboxUnknownPolicy;

gint64
vb_outbox_item_get_id(VbOutboxItem *item);
const gchar *
vb_outbox_item_get_kind(VbOutboxItem *item);
const gchar *
vb_outbox_item_get_recipient(VbOutboxItem *item);
const gchar *
vb_outbox_item_get_idempotency_key(VbOutboxItem *item);
const gchar *
vb_outbox_item_get_visit_id(VbOutboxItem *item);
JsonObject *
vb_outbox_item_get_payload(VbOutboxItem *item);
guint
vb_outbox_item_get_attempts(VbOutboxItem *item);
/* when the item was queued, in µs since the epoch */
gint64
vb_outbox_item_get_created(VbOutboxItem *item);
/* the key to give the peer: the idempotency key, with a suffix once the
 * item's policy sent it again under a new key */
const gchar *
vb_outbox_item_get_send_key(VbOutboxItem *item);
/* how often the item was sent again under a new key */
guint
vb_outbox_item_get_resends(VbOutboxItem *item);
/* for how long the outcome has been unknown, in µs; 0 when it is known */
gint64
vb_outbox_item_get_unknown_for(VbOutboxItem *item);
/* the peer @source refuses to resolve unknown outcomes (a configuration
 * fault): one critical alert when it starts, a metric and the status while it
 * lasts. @message must hold no secret */
void
vb_outbox_item_set_fault(VbOutboxItem *item, const gchar *source, const gchar *message);
/* @source answered the lookup of an unknown outcome: its fault is over */
void
vb_outbox_item_clear_fault(VbOutboxItem *item, const gchar *source);

/* starts the work of one item; must call vb_outbox_item_complete() exactly once,
 * later or before returning, in the main context. @cancellable is cancelled when
 * the outbox stops */
typedef void (*VbOutboxDispatchFunc)(VbOutbox *outbox,
				     VbOutboxItem *item,
				     GCancellable *cancellable,
				     gpointer user_data);
/* runs inside the transaction that records an item's final outcome (done or
 * dead), so that what follows from it (a visit's state, the next item) is
 * committed together with it; returning FALSE rolls back and the item is retried */
typedef gboolean (*VbOutboxCompleteFunc)(VbOutbox *outbox,
					 VbOutboxItem *item,
					 VbOutboxOutcome outcome,
					 JsonNode *result,
					 gpointer user_data,
					 GError **error);

/* decides, for an item of its kind whose outcome stayed unknown past its
 * bound, what becomes of it */
typedef VbOutboxUnknownPolicy (*VbOutboxUnknownFunc)(VbOutbox *outbox,
						     VbOutboxItem *item,
						     gpointer user_data);

/* @retry_after_ms: 0 for the backoff, else the peer's Retry-After;
 * @error_message: recorded as last_error, shown by `vestibulectl outbox`: it must
 * hold no secret */
void
vb_outbox_item_complete(VbOutboxItem *item,
			VbOutboxOutcome outcome,
			JsonNode *result,
			const gchar *error_message,
			guint retry_after_ms);

VbOutbox *
vb_outbox_new(VbStore *store, VbMetrics *metrics);
/* defaults: 10000 pending, 7 days, 200 attempts, 1 s base delay, 1 h max delay */
void
vb_outbox_set_limits(VbOutbox *self,
		     guint max_pending,
		     gint64 max_age_s,
		     guint max_attempts,
		     guint base_delay_ms,
		     guint max_delay_ms);
/* unknown outcomes: for @hold_s an unknown item holds back the later items of
 * its recipient; past @give_up_s its kind's policy decides; a kind with an
 * item queued for @stuck_s raises an alert. Defaults 300 s, 3600 s, 900 s */
void
vb_outbox_set_unknown_limits(VbOutbox *self, gint64 hold_s, gint64 give_up_s, gint64 stuck_s);
/* alerts go through @context (NULL: to the log only) */
void
vb_outbox_set_context(VbOutbox *self, VbContext *context);
void
vb_outbox_register(VbOutbox *self,
		   const gchar *kind,
		   VbOutboxDispatchFunc dispatch,
		   VbOutboxCompleteFunc complete,
		   gpointer user_data,
		   GDestroyNotify destroy);
/* how @kind's unknown outcomes are settled. @keep_order: the later items of a
 * recipient wait behind an unknown one for as long as it lives (money: a
 * cancel never overtakes a capture); else they wait unknown-hold-s at most.
 * @func NULL asks again. Without a call, a kind keeps no order and asks again */
void
vb_outbox_set_unknown_policy(VbOutbox *self,
			     const gchar *kind,
			     gboolean keep_order,
			     VbOutboxUnknownFunc func);
/* how many items of @kind its handler can take now: G_MAXUINT for any
 * number, 0 when none, with *@wait_us set to how long until it can take the
 * next (a rate limit) */
typedef guint (*VbOutboxGateFunc)(VbOutbox *outbox,
				  const gchar *kind,
				  gint64 *wait_us,
				  gpointer user_data);
/* @kind's gate: before each look for due items the outbox asks @func how
 * many it may claim. An item of a closed kind is neither claimed nor touched
 * (no attempt, no write) and the outbox sleeps until the gate opens: waiting
 * for a rate limit costs nothing. The order of each recipient's items holds.
 * @func NULL removes the gate */
void
vb_outbox_set_gate(VbOutbox *self, const gchar *kind, VbOutboxGateFunc func, gpointer user_data);
/* queues an item (in the caller's transaction when one is open); returns its id,
 * or the id of the item that already has @idempotency_key, or 0 with an error.
 * @payload must hold no secret in clear */
gint64
vb_outbox_enqueue(VbOutbox *self,
		  const gchar *kind,
		  const gchar *recipient,
		  const gchar *idempotency_key,
		  JsonNode *payload,
		  const gchar *visit_id,
		  GError **error);
/* a secret an item needs (a one-time code), kept in memory only: after a
 * restart it is gone and the dispatcher fails the item permanently */
void
vb_outbox_set_ephemeral(VbOutbox *self, const gchar *idempotency_key, const gchar *secret);
/* the secret, or NULL; it is wiped when the item completes */
const gchar *
vb_outbox_get_ephemeral(VbOutbox *self, const gchar *idempotency_key);

/* resumes the queue: items left 'sending' by a crash become due again */
void
vb_outbox_start(VbOutbox *self);
/* cancels what is in flight; those items stay 'sending' and resume at the next start */
void
vb_outbox_stop(VbOutbox *self);
/* a{sv}: id (x), kind, recipient, state, attempts (u), created (x), next-attempt (x),
 * last-error (s), visit (s); newest first; @state NULL for all */
GPtrArray *
vb_outbox_list(VbOutbox *self, const gchar *state, guint limit, GError **error);
/* a dead letter goes back to the queue, with its attempts reset */
gboolean
vb_outbox_retry(VbOutbox *self, gint64 id, GError **error);
/* deletes the items delivered before @before (µs since the epoch); dead letters
 * stay until an operator retries them. Returns how many went, or -1 */
gint64
vb_outbox_prune(VbOutbox *self, gint64 before, guint limit, GError **error);
/* counts by state, a{sv} of pending, sending, done, dead (x); transfer full */
GVariant *
vb_outbox_get_counts(VbOutbox *self);
/* the health of the queue, a{sv}: "kinds" a{sa{sv}} (kind -> queued (x),
 * unknown (x), oldest-age-s (x), stuck (b), and gate-opens-in-ms (x) while its
 * gate keeps its items waiting) and "faults" a{ss} (source ->
 * why); transfer full */
GVariant *
vb_outbox_get_health(VbOutbox *self);
/* the state of the item queued under @idempotency_key, or NULL; transfer full */
gchar *
vb_outbox_get_state_by_key(VbOutbox *self, const gchar *idempotency_key, GError **error);

G_END_DECLS
