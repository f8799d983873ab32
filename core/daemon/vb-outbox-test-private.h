/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-outbox-private.h"

G_BEGIN_DECLS

/* hooks for the self-tests only: the daemon never calls these */

/* the real time, in µs since the epoch */
typedef gint64 (*VbOutboxClockFunc)(gpointer user_data);
/* a uniformly random number in [0, @bound] */
typedef guint32 (*VbOutboxRandomFunc)(guint32 bound, gpointer user_data);

/* @func NULL goes back to g_get_real_time() */
void
vb_outbox_set_clock(VbOutbox *self, VbOutboxClockFunc func, gpointer user_data);
/* @func NULL goes back to g_random_int_range() */
void
vb_outbox_set_random(VbOutbox *self, VbOutboxRandomFunc func, gpointer user_data);
/* looks for due items at the next turn of the main loop, for a test that moved its clock */
void
vb_outbox_wake(VbOutbox *self);
/* the per-kind gauges and the stuck alert, which change as time passes: what
 * the outbox's health timer runs */
void
vb_outbox_check_health(VbOutbox *self);
/* items handed to a dispatcher and not completed yet */
guint
vb_outbox_get_n_in_flight(VbOutbox *self);
/* how many times the outbox woke up to look for due items, since it was made */
guint64
vb_outbox_get_n_ticks(VbOutbox *self);

G_END_DECLS
