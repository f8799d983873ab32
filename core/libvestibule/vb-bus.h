/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-event.h"

G_BEGIN_DECLS

/**
 * VbBus:
 *
 * The signal bus: plugins and the core emit events on it and listen to them
 * through #VbBus::event. Plugins get it from vb_context_get_bus().
 *
 * Since: 0.1
 */
#define VB_TYPE_BUS (vb_bus_get_type())
G_DECLARE_FINAL_TYPE(VbBus, vb_bus, VB, BUS, GObject)

void
vb_bus_emit(VbBus *self, VbEvent *event);
void
vb_bus_emit_simple(VbBus *self,
		   const gchar *source,
		   const gchar *door,
		   const gchar *name,
		   GVariant *payload);
guint64
vb_bus_get_emitted(VbBus *self);

G_END_DECLS
