/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define VB_TYPE_METRICS (vb_metrics_get_type())
G_DECLARE_FINAL_TYPE(VbMetrics, vb_metrics, VB, METRICS, GObject)

/**
 * VbMetricKind:
 * @VB_METRIC_COUNTER: a value that only goes up
 * @VB_METRIC_GAUGE: a value that goes up and down
 *
 * The Prometheus type of a metric.
 *
 * Since: 0.1
 */
typedef enum {
	VB_METRIC_COUNTER,
	VB_METRIC_GAUGE,
} VbMetricKind;

VbMetrics *
vb_metrics_new(void);
void
vb_metrics_declare(VbMetrics *self, const gchar *name, VbMetricKind kind, const gchar *help);
void
vb_metrics_add(VbMetrics *self, const gchar *name, const gchar *labels, gdouble delta);
void
vb_metrics_set(VbMetrics *self, const gchar *name, const gchar *labels, gdouble value);
gdouble
vb_metrics_get(VbMetrics *self, const gchar *name, const gchar *labels);
gchar *
vb_metrics_render(VbMetrics *self);
gchar *
vb_metrics_labels(const gchar *first_name, ...) G_GNUC_NULL_TERMINATED G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
