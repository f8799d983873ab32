/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* what the vb-customers*.c files share: the object's fields and the store
 * helpers that more than one of them calls. Only they include it */

#pragma once

#include "vb-context-private.h"
#include "vb-customers-private.h"
#include "vb-customers-test-private.h"

G_BEGIN_DECLS
struct _VbCustomers {
	GObject parent_instance;
	VbContext *context;
	VbHost *host; /* the store's keys */
	VbCustomersClockFunc clock;
	gpointer clock_data;
};

G_GNUC_INTERNAL gint64
vb_customers_now(VbCustomers *self);
G_GNUC_INTERNAL VbStore *
vb_customers_get_store(VbCustomers *self, GError **error);
G_GNUC_INTERNAL gboolean
vb_customers_begin(VbStore *store, VbStoreTransaction **tx, GError **error);
G_GNUC_INTERNAL gboolean
vb_customers_commit(VbStoreTransaction *tx, GError **error);
G_GNUC_INTERNAL gint
vb_customers_exec_changes(VbStore *store, VbStoreStmt *stmt, GError **error);
G_GNUC_INTERNAL void
vb_customers_set_no_customer(GError **error, gint64 customer_id);
G_GNUC_INTERNAL gchar *
vb_customers_index_of(VbStore *store, gint64 customer_id, GError **error);

G_END_DECLS
