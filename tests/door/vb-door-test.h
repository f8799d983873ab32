/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "../vb-test-daemon.h"

G_BEGIN_DECLS

/* no wait may hang a run */
#define DOOR_WAIT_MS 8000

/* a control request that must succeed; @keep holds the answer */
JsonObject *
door_ctl(VbTestDaemon *d,
	 JsonNode **keep,
	 const gchar *method,
	 const gchar *path,
	 const gchar *body);
/* the audit log's events named @name (and from @source, unless NULL), oldest first */
GPtrArray *
door_events(VbTestDaemon *d, const gchar *name, const gchar *source);
/* waits until the audit log holds at least @n such events */
GPtrArray *
door_wait_events(VbTestDaemon *d, const gchar *name, const gchar *source, guint n);
JsonObject *
door_ev(GPtrArray *events, guint i);
const gchar *
door_ev_get(GPtrArray *events, guint i, const gchar *key);
/* the instance as `vestibulectl plugins` shows it */
JsonObject *
door_instance(VbTestDaemon *d, JsonNode **keep, const gchar *name);
/* its status, the instance being running */
JsonObject *
door_status(VbTestDaemon *d, JsonNode **keep, const gchar *name);
void
door_assert_contains(const gchar *haystack, const gchar *needle);

G_END_DECLS
