/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-bus.h"

G_BEGIN_DECLS

VbBus *
vb_bus_new(GMainContext *context);
void
vb_bus_flush(VbBus *self);
void
vb_bus_set_sequence(VbBus *self, guint64 sequence);

G_END_DECLS
