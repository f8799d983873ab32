/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vestibule.h"

G_BEGIN_DECLS

/*
 * Helpers shared by the sim plugins, compiled into each module: the control
 * routes of one instance, JSON body validation and the simulated latency of
 * the service plugins. Nothing here is global; everything hangs off an instance.
 */

/**
 * VbSimRouteFlags:
 * @VB_SIM_ROUTE_NONE: nothing special
 * @VB_SIM_ROUTE_SECRET: the body carries card data; every string in it and the
 *   raw request body are wiped once the handler returns
 */
typedef enum {
	VB_SIM_ROUTE_NONE = 0,
	VB_SIM_ROUTE_SECRET = 1 << 0,
} VbSimRouteFlags;

/* @body is the request's JSON object (empty for a GET or an empty body) */
typedef void (*VbSimHandler)(VbPlugin *plugin,
			     SoupServerMessage *msg,
			     JsonObject *body,
			     GHashTable *query);

typedef struct _VbSimRoutes VbSimRoutes;

VbSimRoutes *
vb_sim_routes_new(VbPlugin *plugin);
void
vb_sim_routes_add(VbSimRoutes *self,
		  const gchar *method,
		  const gchar *verb,
		  VbSimRouteFlags flags,
		  VbSimHandler handler);
void
vb_sim_routes_remove_all(VbSimRoutes *self);
void
vb_sim_routes_free(VbSimRoutes *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbSimRoutes, vb_sim_routes_free)

/* input validation of request bodies; every error is VB_ERROR_INVALID_DATA and
 * names the member */
gboolean
vb_sim_json_check_members(JsonObject *obj, const gchar *const *allowed, GError **error);
gboolean
vb_sim_json_get_string(JsonObject *obj,
		       const gchar *member,
		       gboolean required,
		       const gchar **value,
		       GError **error);
gboolean
vb_sim_json_get_int(JsonObject *obj,
		    const gchar *member,
		    gboolean required,
		    gint64 min,
		    gint64 max,
		    gint64 *value,
		    GError **error);
gboolean
vb_sim_json_get_boolean(JsonObject *obj,
			const gchar *member,
			gboolean required,
			gboolean *value,
			GError **error);

/* replies with the object built in @builder */
void
vb_sim_reply(SoupServerMessage *msg, guint status, JsonBuilder *builder);

/* where log lines and alerts name the door, or the instance when it has none */
const gchar *
vb_sim_get_door_label(VbPlugin *plugin);

/* whether @number is E.164: a plus sign then 8 to 15 digits, the first not 0 */
gboolean
vb_sim_phone_is_e164(const gchar *number);
/* copies @text with every run of four or more digits replaced by "••••" */
gchar *
vb_sim_redact_digits(const gchar *text);

/*
 * VbSimDelays: the simulated latency of a service. Each pending task owns a
 * timeout source and a cancellable source on its own main context; whichever
 * fires first destroys the other. The instance aborts whatever is left in
 * shutdown, so no timer outlives it.
 */
typedef struct _VbSimDelays VbSimDelays;
typedef void (*VbSimDelayFunc)(GTask *task);

VbSimDelays *
vb_sim_delays_new(void);
void
vb_sim_delays_run(VbSimDelays *self, GTask *task, guint delay_ms, VbSimDelayFunc func);
/* returns VB_ERROR_UNREACHABLE with @message to every pending task */
void
vb_sim_delays_abort(VbSimDelays *self, const gchar *message);
guint
vb_sim_delays_get_pending(VbSimDelays *self);
void
vb_sim_delays_free(VbSimDelays *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbSimDelays, vb_sim_delays_free)

G_END_DECLS
