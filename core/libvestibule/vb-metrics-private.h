/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-metrics.h"

G_BEGIN_DECLS

/* the process's own figures (memory, descriptors, CPU time, start time),
 * read from /proc each time /metrics is scraped */
G_GNUC_INTERNAL void
vb_metrics_sample_process(VbMetrics *self);

G_END_DECLS
