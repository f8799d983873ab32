/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* what the vb-outbox*.c files share: the object's and an item's fields, and
 * the helpers that more than one of them calls. Only they include it */

#pragma once

#include "vb-outbox-private.h"
#include "vb-outbox-test-private.h"

G_BEGIN_DECLS

/* items handed to dispatchers and not completed yet, across kinds: enough to
 * claim and record them in batches, few enough for a provider's connections */
#define VB_OUTBOX_MAX_IN_FLIGHT 64

#define VB_OUTBOX_METRIC_ITEMS "vestibule_outbox_items"
#define VB_OUTBOX_METRIC_DISPATCH "vestibule_outbox_dispatches_total"
#define VB_OUTBOX_METRIC_REFUSED "vestibule_outbox_refused_total"
#define VB_OUTBOX_METRIC_QUEUED "vestibule_outbox_queued"
#define VB_OUTBOX_METRIC_UNKNOWN "vestibule_outbox_unknown_outcome"
#define VB_OUTBOX_METRIC_OLDEST "vestibule_outbox_oldest_age_seconds"
#define VB_OUTBOX_METRIC_FAULTS "vestibule_outbox_lookup_faults"
#define VB_OUTBOX_METRIC_SETTLED "vestibule_outbox_unknown_settled_total"

/* only the first live item of each recipient may go out: a pending item is
 * a head when no older item of its recipient is still pending or sending.
 * Both the scan (outbox_pending, in the order of the queue) and this test
 * (outbox_live) read partial indexes of the live items only, so neither the
 * cost nor the memory of a tick grows with the history of sent items, and no
 * query needs a temporary table */
/* An item whose outcome stayed unknown holds back no one once its
 * passable_after is past (?9, the time now) */
#define VB_OUTBOX_SQL_HEAD                                                                         \
	"NOT EXISTS (SELECT 1 FROM outbox AS e WHERE e.state IN ('pending', 'sending') "           \
	"AND e.recipient = o.recipient AND e.id < o.id "                                           \
	"AND (e.passable_after IS NULL OR e.passable_after > ?9))"
/* the columns an item is read from, in the order vb_outbox_item_new_from_row() takes them */
#define VB_OUTBOX_SQL_ITEM_COLUMNS                                                                 \
	"o.id, o.kind, o.recipient, o.idempotency_key, o.payload, o.attempts, o.created, "         \
	"o.visit_id, o.unknown_since, o.resends"

typedef struct {
	gboolean keep_order;
	VbOutboxUnknownFunc func;
} VbOutboxUnknownHandling;

typedef struct {
	VbOutboxGateFunc func;
	gpointer user_data;
} VbOutboxGate;

typedef struct {
	VbOutboxDispatchFunc dispatch;
	VbOutboxCompleteFunc complete;
	gpointer user_data;
	GDestroyNotify destroy;
} VbOutboxHandler;

struct _VbOutboxItem {
	VbOutbox *outbox; /* unowned; NULL once the outbox stopped: the completion is ignored */
	GMainContext *context;
	GCancellable *cancellable;
	gint64 id;
	gchar *kind;
	gchar *recipient;
	gchar *idempotency_key;
	gchar *visit_id;
	JsonObject *payload; /* NULL if the stored text is not a JSON object */
	guint attempts;	     /* including this one */
	gint64 created;
	gint64 unknown_since; /* µs since the epoch; 0 while the outcome is known */
	guint resends;	      /* sent again under a new key, by its kind's policy */
	gchar *send_key;      /* NULL until resent */
};

struct _VbOutbox {
	GObject parent_instance;
	VbStore *store;
	VbMetrics *metrics;
	GMainContext *context;
	GHashTable *handlers;	   /* kind -> VbOutboxHandler */
	GHashTable *gates;	   /* kind -> VbOutboxGate */
	GHashTable *closed;	   /* kind -> when its gate opens (gint64*, the outbox's clock) */
	GHashTable *unknown;	   /* kind -> VbOutboxUnknownHandling */
	GHashTable *faults;	   /* source -> why: peers refusing to resolve unknown outcomes */
	GHashTable *stuck;	   /* kinds alerted about, as stuck, until they are not */
	VbContext *context_alerts; /* weak: it owns the daemon that owns the outbox */
	GSource *health_source;	   /* the gauges that age, and the stuck alert */
	GHashTable *in_flight;	   /* &item->id -> VbOutboxItem, unowned: freed by its completion */
	GHashTable *ephemeral;	   /* idempotency key -> secret, wiped when removed */
	GSource *source;	   /* the next look for due items */
	GPtrArray *completions;	   /* outcomes to record at the end of the turn */
	GSource *flush_source;	   /* records them */
	GSource *gauges_source;	   /* the gauges, counted once a turn */
	gboolean source_is_idle;
	gboolean started;
	gboolean in_tick;
	gint64 n_done;	     /* for the gauge; -1 until counted */
	GSource *count_done; /* counts them once the daemon is ready: the count reads
			      * every done row, which start-up must not wait for */
	guint64 n_ticks;
	guint max_pending;
	gint64 max_age_s;
	guint max_attempts;
	guint base_delay_ms;
	guint max_delay_ms;
	gint64 hold_us;
	gint64 give_up_us;
	gint64 stuck_us;
	VbOutboxClockFunc clock_func;
	gpointer clock_data;
	VbOutboxRandomFunc random_func;
	gpointer random_data;
};

/* vb-outbox.c */
G_GNUC_INTERNAL gint64
vb_outbox_now(VbOutbox *self);

/* vb-outbox-store.c */
G_GNUC_INTERNAL void
vb_outbox_item_free(VbOutboxItem *item);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbOutboxItem, vb_outbox_item_free)

/* a transaction of our own, or a savepoint inside the caller's */
typedef struct {
	VbStore *store;
	VbStoreTransaction *tx; /* NULL for a savepoint */
	gboolean open;
} VbOutboxTx;

G_GNUC_INTERNAL void
vb_outbox_tx_free(VbOutboxTx *otx);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbOutboxTx, vb_outbox_tx_free)

G_GNUC_INTERNAL VbOutboxTx *
vb_outbox_tx_begin(VbStore *store, GError **error);
G_GNUC_INTERNAL gboolean
vb_outbox_tx_commit(VbOutboxTx *otx, GError **error);
/* @capacity: kind -> how many more of it may be claimed (GUINT_TO_POINTER),
 * for the gated kinds; a kind that reaches 0 is added to @closed, the
 * closed kinds between spaces (" sms ") */
G_GNUC_INTERNAL GPtrArray *
vb_outbox_claim_due(VbOutbox *self,
		    guint room,
		    GString *closed,
		    GHashTable *capacity,
		    GError **error);
/* TRUE while @kind's gate is closed, as last asked */
G_GNUC_INTERNAL gboolean
vb_outbox_kind_is_closed(VbOutbox *self, const gchar *kind);

/* vb-outbox-outcome.c */
G_GNUC_INTERNAL void
vb_outbox_flush_completions(VbOutbox *self);

/* vb-outbox-scheduler.c */
G_GNUC_INTERNAL void
vb_outbox_clear_source(VbOutbox *self);

/* vb-outbox-view.c */
G_GNUC_INTERNAL void
vb_outbox_update_gauges(VbOutbox *self);
G_GNUC_INTERNAL void
vb_outbox_alert(VbOutbox *self,
		VbAlertSeverity severity,
		VbAlertKind kind,
		const gchar *source,
		const gchar *format,
		...) G_GNUC_PRINTF(5, 6);

G_END_DECLS
