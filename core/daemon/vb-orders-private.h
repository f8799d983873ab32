/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-http-server.h"
#include "vb-visit-manager-private.h"

G_BEGIN_DECLS

/* the public HTTP API of the visit:
 *   POST /api/v1/visits/ID/order  (bearer token of scope "orders")
 *   GET  /r/TOKEN                 the receipt: HTML in the visit's language, or
 *                                 JSON with Accept: application/json or ?format=json */
void
vb_orders_register(VbHttpServer *http, VbVisitManager *visits);
void
vb_orders_unregister(VbHttpServer *http);

G_END_DECLS
