/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* installs the structured log writer: journald when stderr is the journal,
 * else stderr; every message is redacted first. @verbose shows debug output */
void
vb_log_setup(gboolean verbose);

G_END_DECLS
