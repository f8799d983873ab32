/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-context.h"
#include "vb-customers-private.h"
#include "vb-host-private.h"
#include "vb-http-server.h"
#include "vb-outbox-private.h"
#include "vb-plugin-loader-private.h"
#include "vb-visit-manager-private.h"

G_BEGIN_DECLS

/*
 * The control API, served on the control socket for vestibulectl.
 *
 * It is given what it answers from at registration, as VbControlServices, and
 * reaches nothing else: the services themselves, and the daemon's own answers
 * through three callbacks. Calls go one way, from the control API to these;
 * the daemon only registers and unregisters it.
 */

/* the status of /v1/status, or the doors of /v1/doors: a new a{sv}, floating */
typedef GVariant *(*VbControlGetFunc)(gpointer user_data);
/* what POST /v1/reload does: reloads the configuration as SIGHUP does */
typedef gboolean (*VbControlReloadFunc)(gpointer user_data, GError **error);

typedef struct {
	/* the bus, the store and the HTTP server; for both registrations */
	VbContext *context;
	/* for vb_control_register(): the plugins, and the host whose audit log
	 * /v1/events reads */
	VbPluginLoader *loader;
	VbHost *host;
	VbControlGetFunc get_status;
	VbControlGetFunc get_doors;
	VbControlReloadFunc reload;
	gpointer user_data; /* of the three callbacks */
	/* for vb_control_visits_register(); each NULL one answers 503 */
	VbCustomers *customers;
	VbOutbox *outbox;
	VbVisitManager *visits;
} VbControlServices;

/* status, plugins, doors, events, the visit list, reload and tokens; takes a
 * reference on each object of @services for as long as it is registered */
typedef struct _VbControl VbControl;
VbControl *
vb_control_register(VbHttpServer *http, const VbControlServices *services);
/* removes the handlers, ends the event streams cleanly and frees @self */
void
vb_control_unregister(VbControl *self);

/* a visit, the outbox, SMS, feedback and customers (vb-control-visits.c) */
typedef struct _VbControlVisits VbControlVisits;
VbControlVisits *
vb_control_visits_register(VbHttpServer *http, const VbControlServices *services);
void
vb_control_visits_unregister(VbControlVisits *self);

G_END_DECLS
