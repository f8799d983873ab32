/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-customers-private.h"

G_BEGIN_DECLS

/* the wall clock, in µs since the epoch */
typedef gint64 (*VbCustomersClockFunc)(gpointer user_data);

/* for tests only: replaces g_get_real_time() so that code expiry and resend
 * throttling can be tested without waiting; NULL restores it */
void
vb_customers_set_clock(VbCustomers *self, VbCustomersClockFunc func, gpointer user_data);

G_END_DECLS
