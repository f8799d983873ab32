/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-event.h"

G_BEGIN_DECLS

G_GNUC_INTERNAL void
vb_event_set_sequence(VbEvent *self, guint64 sequence);

G_END_DECLS
