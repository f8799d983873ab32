/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

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
 *   does not hold back the ones behind it.
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
} VbOutboxOutcome;

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
void
vb_outbox_register(VbOutbox *self,
		   const gchar *kind,
		   VbOutboxDispatchFunc dispatch,
		   VbOutboxCompleteFunc complete,
		   gpointer user_data,
		   GDestroyNotify destroy);
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
vb_outbox_prune(VbOutbox *self, gint64 before, GError **error);
/* counts by state, a{sv} of pending, sending, done, dead (x); transfer full */
GVariant *
vb_outbox_get_counts(VbOutbox *self);

G_END_DECLS
