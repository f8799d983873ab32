/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define VB_TYPE_EVENT (vb_event_get_type())

/**
 * VbEvent:
 *
 * An immutable, reference-counted event carried by the #VbBus.
 *
 * Since: 0.1
 */
typedef struct _VbEvent VbEvent;

GType
vb_event_get_type(void) G_GNUC_CONST;
VbEvent *
vb_event_new(const gchar *name, const gchar *source, const gchar *door, GVariant *payload);
VbEvent *
vb_event_ref(VbEvent *self);
void
vb_event_unref(VbEvent *self);
const gchar *
vb_event_get_name(VbEvent *self);
const gchar *
vb_event_get_source(VbEvent *self);
const gchar *
vb_event_get_door(VbEvent *self);
GVariant *
vb_event_get_payload(VbEvent *self);
gint64
vb_event_get_monotonic_time(VbEvent *self);
gint64
vb_event_get_real_time(VbEvent *self);
guint64
vb_event_get_sequence(VbEvent *self);
const gchar *
vb_event_lookup_string(VbEvent *self, const gchar *key);
gboolean
vb_event_lookup_int64(VbEvent *self, const gchar *key, gint64 *value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbEvent, vb_event_unref)

G_END_DECLS
