/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-config-private.h"
#include "vb-context.h"
#include "vb-metrics.h"
#include "vb-outbox-private.h"
#include "vb-store-private.h"

G_BEGIN_DECLS

/* the store's upkeep: the scheduled integrity check and retention, both at
 * idle. See the top of vb-upkeep.c */
#define VB_TYPE_UPKEEP (vb_upkeep_get_type())
G_DECLARE_FINAL_TYPE(VbUpkeep, vb_upkeep, VB, UPKEEP, GObject)

/* TRUE when no visit is in progress */
typedef gboolean (*VbUpkeepIdleFunc)(gpointer user_data);

VbUpkeep *
vb_upkeep_new(VbContext *context, VbMetrics *metrics);
void
vb_upkeep_set_config(VbUpkeep *self, VbConfig *config);
void
vb_upkeep_set_idle_func(VbUpkeep *self, VbUpkeepIdleFunc func, gpointer user_data);
/* the outbox, whose delivered items retention removes after 30 days */
void
vb_upkeep_set_outbox(VbUpkeep *self, VbOutbox *outbox);
/* starts the schedule; the first pass comes at the loop's first idle moment */
void
vb_upkeep_start(VbUpkeep *self);
void
vb_upkeep_stop(VbUpkeep *self);
/* a{sv} for /v1/status: the integrity check's last time, result, duration and
 * whether it is overdue; the file's size and free pages; the last retention */
GVariant *
vb_upkeep_get_status(VbUpkeep *self);

/* what the schedule calls, exposed for tests */

/* one step of retention with @now as the time (µs since the epoch): one batch
 * of at most @limit rows of one table, or one step of giving free pages back.
 * Returns TRUE while there is more to do, FALSE once the pass is over or on
 * error */
gboolean
vb_upkeep_retention_step(VbUpkeep *self, gint64 now, guint limit, GError **error);
/* rows removed by table since the upkeep was made */
gint64
vb_upkeep_get_removed(VbUpkeep *self, const gchar *table);
/* runs the schedule's tick at once: a check or a pass if one is due and the
 * store is idle */
void
vb_upkeep_tick(VbUpkeep *self);
/* whether an integrity check is running in its thread */
gboolean
vb_upkeep_is_checking(VbUpkeep *self);

G_END_DECLS
