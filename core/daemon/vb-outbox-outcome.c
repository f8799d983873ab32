/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* outcomes: what a dispatcher's completion does to its item. A retry is
 * rescheduled with backoff; done and dead are recorded with what follows */

#include "config.h"

#include "vb-error.h"
#include "vb-outbox-internal.h"

#define VB_OUTBOX_LAST_ERROR_MAX 512 /* characters kept of a last_error */

static const gchar *
vb_outbox_outcome_to_string(VbOutboxOutcome outcome)
{
	static const gchar *names[] = {
	    [VB_OUTBOX_OUTCOME_DONE] = "done",
	    [VB_OUTBOX_OUTCOME_RETRY] = "retry",
	    [VB_OUTBOX_OUTCOME_FAILED] = "failed",
	    [VB_OUTBOX_OUTCOME_UNKNOWN] = "unknown",
	    [VB_OUTBOX_OUTCOME_UNKNOWABLE] = "unknowable",
	};
	return names[outcome];
}

static gboolean
vb_outbox_outcome_is_unknown(VbOutboxOutcome outcome)
{
	return outcome == VB_OUTBOX_OUTCOME_UNKNOWN || outcome == VB_OUTBOX_OUTCOME_UNKNOWABLE;
}

/* what a peer or a handler says may be long or broken UTF-8; keep it readable */
static gchar *
vb_outbox_clean_error(const gchar *message)
{
	g_autofree gchar *valid = NULL;

	if (message == NULL || message[0] == '\0')
		return g_strdup("no reason given");
	valid = g_utf8_make_valid(message, -1);
	if (g_utf8_strlen(valid, -1) <= VB_OUTBOX_LAST_ERROR_MAX)
		return g_steal_pointer(&valid);
	return g_utf8_substring(valid, 0, VB_OUTBOX_LAST_ERROR_MAX);
}

/* TRUE in the thread that runs the outbox's main context, or when no thread runs it */
static gboolean
vb_outbox_item_in_context(VbOutboxItem *item)
{
	if (!g_main_context_acquire(item->context))
		return FALSE;
	g_main_context_release(item->context);
	return TRUE;
}

/* outcomes */

static guint
vb_outbox_backoff_ms(VbOutbox *self, guint attempts)
{
	guint64 cap = self->max_delay_ms;
	guint32 bound;

	/* full jitter: anywhere between now and the exponential step, so that many
	 * items failing together do not all come back together */
	if (attempts > 0 && attempts - 1 < 32)
		cap = MIN(cap, (guint64)self->base_delay_ms << (attempts - 1));
	bound = (guint32)MIN(cap, (guint64)G_MAXINT32 - 1);
	if (self->random_func != NULL)
		return MIN(self->random_func(bound, self->random_data), bound);
	return (guint)g_random_int_range(0, (gint32)bound + 1);
}

/* NULL while the item may be tried again, else why not */
static gchar *
vb_outbox_give_up_reason(VbOutbox *self, VbOutboxItem *item, gint64 now, const gchar *last)
{
	if (item->attempts >= self->max_attempts)
		return g_strdup_printf("gave up after %u attempts: %s", item->attempts, last);
	if (now - item->created > self->max_age_s * G_USEC_PER_SEC)
		return g_strdup_printf("gave up after %u attempts, older than %" G_GINT64_FORMAT
				       " s: %s",
				       item->attempts, self->max_age_s, last);
	return NULL;
}

/* the item goes back to the queue. @unknown_since: 0 leaves what is recorded
 * of an unknown outcome as it is; else the outcome is unknown since then, and
 * the later items of the recipient may pass it from @passable_after (0:
 * never) */
static void
vb_outbox_reschedule(VbOutbox *self,
		     VbOutboxItem *item,
		     gint64 now,
		     guint retry_after_ms,
		     const gchar *last_error,
		     gint64 unknown_since,
		     gint64 passable_after)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	guint delay_ms =
	    retry_after_ms > 0 ? retry_after_ms : vb_outbox_backoff_ms(self, item->attempts);

	stmt = vb_store_prepare(
	    self->store,
	    unknown_since == 0
		? "UPDATE outbox SET state = 'pending', next_attempt = ?2, updated = ?3, "
		  "last_error = ?4 WHERE id = ?1 AND state = 'sending'"
		: "UPDATE outbox SET state = 'pending', next_attempt = ?2, updated = ?3, "
		  "last_error = ?4, unknown_since = ?5, passable_after = ?6 "
		  "WHERE id = ?1 AND state = 'sending'",
	    &error);
	if (stmt != NULL) {
		vb_store_stmt_bind_int64(stmt, 1, item->id);
		vb_store_stmt_bind_int64(stmt, 2, now + (gint64)delay_ms * 1000);
		vb_store_stmt_bind_int64(stmt, 3, now);
		vb_store_stmt_bind_text(stmt, 4, last_error);
		if (unknown_since != 0) {
			vb_store_stmt_bind_int64(stmt, 5, unknown_since);
			if (passable_after != 0)
				vb_store_stmt_bind_int64(stmt, 6, passable_after);
		}
	}
	if (stmt == NULL || !vb_store_stmt_exec(stmt, &error)) {
		g_warning("cannot put outbox item %" G_GINT64_FORMAT " back in the queue, it "
			  "resumes at the next start: %s",
			  item->id, error->message);
		return;
	}
	g_debug("outbox item %" G_GINT64_FORMAT " (%s) is retried in %u ms: %s", item->id,
		item->kind, delay_ms, last_error);
}

/* the kind's policy sends the item again, at once, under a new key */
static gboolean
vb_outbox_resend(VbOutbox *self, VbOutboxItem *item, gint64 now, const gchar *why)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;

	stmt = vb_store_prepare(self->store,
				"UPDATE outbox SET state = 'pending', next_attempt = ?2, "
				"updated = ?2, last_error = ?3, unknown_since = NULL, "
				"passable_after = NULL, resends = resends + 1 "
				"WHERE id = ?1 AND state = 'sending'",
				&error);
	if (stmt != NULL) {
		vb_store_stmt_bind_int64(stmt, 1, item->id);
		vb_store_stmt_bind_int64(stmt, 2, now);
		vb_store_stmt_bind_text(stmt, 3, why);
	}
	if (stmt == NULL || !vb_store_stmt_exec(stmt, &error)) {
		g_warning("cannot send outbox item %" G_GINT64_FORMAT " again: %s", item->id,
			  error->message);
		return FALSE;
	}
	return TRUE;
}

static void
vb_outbox_count_settled(VbOutbox *self, VbOutboxItem *item, const gchar *how)
{
	g_autofree gchar *labels = vb_metrics_labels("kind", item->kind, "how", how, NULL);
	vb_metrics_add(self->metrics, VB_OUTBOX_METRIC_SETTLED, labels, 1);
}

static gchar *
vb_outbox_format_span(gint64 us)
{
	gint64 s = us / G_USEC_PER_SEC;

	if (s < 120)
		return g_strdup_printf("%" G_GINT64_FORMAT " s", s);
	if (s < 7200)
		return g_strdup_printf("%" G_GINT64_FORMAT " min", s / 60);
	return g_strdup_printf("%" G_GINT64_FORMAT " h", s / 3600);
}

/* records done or dead together with what the kind's complete func does */
static gboolean
vb_outbox_record_final(VbOutbox *self,
		       VbOutboxItem *item,
		       VbOutboxOutcome outcome,
		       JsonNode *result,
		       const gchar *last_error,
		       gint64 now,
		       GError **error)
{
	VbOutboxHandler *handler = g_hash_table_lookup(self->handlers, item->kind);
	g_autoptr(VbOutboxTx) otx = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *result_json = NULL;

	otx = vb_outbox_tx_begin(self->store, error);
	if (otx == NULL)
		return FALSE;
	stmt = vb_store_prepare(self->store,
				"UPDATE outbox SET state = ?2, result = ?3, "
				"last_error = COALESCE(?4, last_error), updated = ?5 "
				"WHERE id = ?1 AND state = 'sending'",
				error);
	if (stmt == NULL)
		return FALSE;
	if (result != NULL)
		result_json = json_to_string(result, FALSE);
	vb_store_stmt_bind_int64(stmt, 1, item->id);
	vb_store_stmt_bind_text(stmt, 2, outcome == VB_OUTBOX_OUTCOME_DONE ? "done" : "dead");
	vb_store_stmt_bind_text(stmt, 3, result_json);
	vb_store_stmt_bind_text(stmt, 4, outcome == VB_OUTBOX_OUTCOME_DONE ? NULL : last_error);
	vb_store_stmt_bind_int64(stmt, 5, now);
	if (!vb_store_stmt_exec(stmt, error))
		return FALSE;
	if (vb_store_changes(self->store) != 1) {
		g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
			    "outbox item %" G_GINT64_FORMAT " is no longer being sent", item->id);
		return FALSE;
	}
	g_clear_pointer(&stmt, vb_store_stmt_free);

	if (handler != NULL && handler->complete != NULL &&
	    !handler->complete(self, item, outcome, result, handler->user_data, error)) {
		if (error != NULL && *error == NULL)
			g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
					    "the handler gave no reason");
		g_prefix_error(error, "what follows from the %s could not be recorded: ",
			       outcome == VB_OUTBOX_OUTCOME_DONE ? "delivery" : "failure");
		return FALSE;
	}
	return vb_outbox_tx_commit(otx, error);
}

static void
vb_outbox_finished(VbOutbox *self, VbOutboxItem *item, VbOutboxOutcome outcome)
{
	/* the secret is of no use any more */
	g_hash_table_remove(self->ephemeral, item->idempotency_key);
	if (outcome == VB_OUTBOX_OUTCOME_DONE) {
		if (self->n_done >= 0)
			self->n_done++;
		return;
	}
	g_message("outbox item %" G_GINT64_FORMAT " (%s) is a dead letter after %u attempts; "
		  "`vestibulectl outbox` lists it and can retry it",
		  item->id, item->kind, item->attempts);
}

/* an outcome still unknown: asked again, sent again or given up, as the
 * kind's policy says once the item is past its bound. Returns TRUE when it
 * is settled for now; else @reason says why it is a dead letter */
static gboolean
vb_outbox_settle_unknown(VbOutbox *self,
			 VbOutboxItem *item,
			 VbOutboxOutcome outcome,
			 const gchar *last,
			 guint retry_after_ms,
			 gint64 now,
			 gchar **reason)
{
	const VbOutboxUnknownHandling *handling = g_hash_table_lookup(self->unknown, item->kind);
	VbOutboxHandler *handler = g_hash_table_lookup(self->handlers, item->kind);
	VbOutboxUnknownPolicy policy = VB_OUTBOX_UNKNOWN_ASK_AGAIN;
	gint64 since = item->unknown_since != 0 ? item->unknown_since : now;
	gint64 bound = outcome == VB_OUTBOX_OUTCOME_UNKNOWABLE ? self->hold_us : self->give_up_us;
	gboolean keep_order = handling != NULL && handling->keep_order;
	g_autofree gchar *span = NULL;

	if (item->unknown_since == 0)
		g_message("outbox item %" G_GINT64_FORMAT " (%s): the outcome is unknown (%s); the "
			  "peer is asked again%s",
			  item->id, item->kind, last,
			  keep_order ? ", and the later items of its recipient wait for it"
				     : ", and the later items of its recipient wait for it for "
				       "unknown-hold-s at most");
	item->unknown_since = since;
	if (now - since >= bound && handling != NULL && handling->func != NULL) {
		/* the item is the policy's to read, as it is its dispatcher's */
		item->outbox = self;
		policy = handling->func(self, item, handler != NULL ? handler->user_data : NULL);
		item->outbox = NULL;
	}

	span = vb_outbox_format_span(now - since);
	if (policy == VB_OUTBOX_UNKNOWN_RESEND) {
		g_autofree gchar *why = g_strdup_printf(
		    "the outcome stayed unknown for %s (%s); sent again under a new key, as "
		    "its kind's policy says: a possible duplicate rather than a loss",
		    span, last);
		if (vb_outbox_resend(self, item, now, why)) {
			g_message("outbox item %" G_GINT64_FORMAT " (%s): %s", item->id, item->kind,
				  why);
			vb_outbox_count_settled(self, item, "resent");
			return TRUE;
		}
		vb_outbox_reschedule(self, item, now, 0, last, since,
				     keep_order ? 0 : since + self->hold_us);
		return TRUE;
	}
	if (policy == VB_OUTBOX_UNKNOWN_GIVE_UP) {
		*reason = g_strdup_printf("the outcome stayed unknown for %s (%s); given up and "
					  "not sent again, as its kind's policy says",
					  span, last);
		vb_outbox_count_settled(self, item, "given-up");
		return FALSE;
	}
	*reason = vb_outbox_give_up_reason(self, item, now, last);
	if (*reason != NULL)
		return FALSE;
	vb_outbox_reschedule(self, item, now, retry_after_ms, last, since,
			     keep_order ? 0 : since + self->hold_us);
	return TRUE;
}

static void
vb_outbox_settle(VbOutbox *self,
		 VbOutboxItem *item,
		 VbOutboxOutcome outcome,
		 JsonNode *result,
		 const gchar *error_message,
		 guint retry_after_ms)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *last = vb_outbox_clean_error(error_message);
	g_autofree gchar *reason = NULL;
	g_autofree gchar *failure = NULL;
	gint64 now = vb_outbox_now(self);

	/* a retry of an item whose outcome was unknown, that did not reach the
	 * peer, leaves it unknown */
	if (outcome == VB_OUTBOX_OUTCOME_RETRY && item->unknown_since != 0)
		outcome = VB_OUTBOX_OUTCOME_UNKNOWN;
	if (vb_outbox_outcome_is_unknown(outcome)) {
		if (vb_outbox_settle_unknown(self, item, outcome, last, retry_after_ms, now,
					     &reason))
			return;
		outcome = VB_OUTBOX_OUTCOME_FAILED;
		result = NULL;
	} else if (outcome == VB_OUTBOX_OUTCOME_RETRY) {
		reason = vb_outbox_give_up_reason(self, item, now, last);
		if (reason == NULL) {
			vb_outbox_reschedule(self, item, now, retry_after_ms, last, 0, 0);
			return;
		}
		outcome = VB_OUTBOX_OUTCOME_FAILED;
		result = NULL;
	}
	if (vb_outbox_record_final(self, item, outcome, result, reason != NULL ? reason : last, now,
				   &error)) {
		if (outcome == VB_OUTBOX_OUTCOME_DONE && item->unknown_since != 0)
			vb_outbox_count_settled(self, item, "resolved");
		vb_outbox_finished(self, item, outcome);
		return;
	}

	/* nothing of it was kept: try the item again, with the same key */
	g_warning("cannot record the outcome of outbox item %" G_GINT64_FORMAT ": %s", item->id,
		  error->message);
	failure = vb_outbox_clean_error(error->message);
	if (outcome == VB_OUTBOX_OUTCOME_DONE) {
		g_clear_pointer(&reason, g_free);
		reason = vb_outbox_give_up_reason(self, item, now, failure);
		g_clear_error(&error);
		if (reason != NULL && vb_outbox_record_final(self, item, VB_OUTBOX_OUTCOME_FAILED,
							     NULL, reason, now, &error)) {
			vb_outbox_finished(self, item, VB_OUTBOX_OUTCOME_FAILED);
			return;
		}
		if (error != NULL)
			g_warning("cannot record outbox item %" G_GINT64_FORMAT " as dead: %s",
				  item->id, error->message);
	}
	vb_outbox_reschedule(self, item, now, 0, failure, 0, 0);
}

typedef struct {
	VbOutboxItem *item;
	VbOutboxOutcome outcome;
	JsonNode *result;
	gchar *error_message;
	guint retry_after_ms;
} VbOutboxCompletion;

static void
vb_outbox_completion_free(VbOutboxCompletion *completion)
{
	g_clear_pointer(&completion->item, vb_outbox_item_free);
	g_clear_pointer(&completion->result, json_node_unref);
	g_free(completion->error_message);
	g_free(completion);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbOutboxCompletion, vb_outbox_completion_free)

static void
vb_outbox_settle_completion(VbOutbox *self, VbOutboxCompletion *completion)
{
	VbOutboxItem *item = completion->item;

	g_hash_table_steal(self->in_flight, &item->id);
	item->outbox = NULL;
	vb_outbox_settle(self, item, completion->outcome, completion->result,
			 completion->error_message, completion->retry_after_ms);
}

void
vb_outbox_flush_completions(VbOutbox *self)
{
	g_autoptr(GPtrArray) completions = NULL;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;

	if (self->flush_source != NULL) {
		g_source_destroy(self->flush_source);
		g_clear_pointer(&self->flush_source, g_source_unref);
	}
	if (self->completions == NULL || self->completions->len == 0)
		return;
	completions = g_steal_pointer(&self->completions);

	/* the outcomes of one turn share a transaction, and so one sync; each
	 * is in a savepoint of its own, so that a complete func that refuses
	 * rolls back its item only. In a caller's transaction, they join it */
	if (!vb_store_in_transaction(self->store)) {
		tx = vb_store_transaction_begin(self->store, &error);
		if (tx == NULL)
			g_warning("cannot group the outcomes of %u outbox items, recording them "
				  "one at a time: %s",
				  completions->len, error->message);
	}
	for (guint i = 0; i < completions->len; i++)
		vb_outbox_settle_completion(self, g_ptr_array_index(completions, i));
	if (tx != NULL && !vb_store_transaction_commit(tx, &error)) {
		/* none of them was kept: they stay 'sending' and resume at the next
		 * start, with the same key */
		g_warning("cannot record the outcomes of %u outbox items, they are sent again "
			  "at the next start: %s",
			  completions->len, error->message);
		self->n_done = -1;
	}
	vb_outbox_update_gauges(self);
	vb_outbox_wake(self);
}

static gboolean
vb_outbox_flush_cb(gpointer user_data)
{
	g_autoptr(VbOutbox) self = g_object_ref(VB_OUTBOX(user_data));

	/* the main loop holds the source while this runs */
	g_clear_pointer(&self->flush_source, g_source_unref);
	vb_outbox_flush_completions(self);
	return G_SOURCE_REMOVE;
}

/* the outcome is recorded at the end of this turn of the main loop, with the
 * others of the turn; the item holds its recipient's next ones until then */
void
vb_outbox_item_complete(VbOutboxItem *item,
			VbOutboxOutcome outcome,
			JsonNode *result,
			const gchar *error_message,
			guint retry_after_ms)
{
	g_autoptr(VbOutboxCompletion) completion = NULL;
	g_autofree gchar *labels = NULL;
	VbOutbox *self;

	g_return_if_fail(item != NULL);
	g_return_if_fail(outcome <= VB_OUTBOX_OUTCOME_UNKNOWABLE);
	g_return_if_fail(vb_outbox_item_in_context(item));

	completion = g_new0(VbOutboxCompletion, 1);
	/* the item is freed with the completion, whatever happens */
	completion->item = item;

	/* the outbox stopped under it: it stays 'sending' and resumes at the next start */
	if (item->outbox == NULL) {
		g_debug("outbox item %" G_GINT64_FORMAT " finished after the outbox stopped",
			item->id);
		return;
	}
	self = item->outbox;
	completion->outcome = outcome;
	completion->result = result != NULL ? json_node_ref(result) : NULL;
	completion->error_message = g_strdup(error_message);
	completion->retry_after_ms = retry_after_ms;

	labels = vb_metrics_labels("kind", item->kind, "outcome",
				   vb_outbox_outcome_to_string(outcome), NULL);
	vb_metrics_add(self->metrics, VB_OUTBOX_METRIC_DISPATCH, labels, 1);

	/* inside a caller's transaction, with it */
	if (vb_store_in_transaction(self->store)) {
		g_autoptr(VbOutbox) ref G_GNUC_UNUSED = g_object_ref(self);
		vb_outbox_settle_completion(self, completion);
		vb_outbox_update_gauges(self);
		vb_outbox_wake(self);
		return;
	}
	if (self->completions == NULL)
		self->completions =
		    g_ptr_array_new_with_free_func((GDestroyNotify)vb_outbox_completion_free);
	g_ptr_array_add(self->completions, g_steal_pointer(&completion));
	if (self->flush_source != NULL)
		return;
	self->flush_source = g_idle_source_new();
	/* before the next look for due items, which then finds the room */
	g_source_set_priority(self->flush_source, G_PRIORITY_DEFAULT);
	g_source_set_callback(self->flush_source, vb_outbox_flush_cb, self, NULL);
	g_source_set_static_name(self->flush_source, "[vestibule] outbox outcomes");
	g_source_attach(self->flush_source, self->context);
}
