/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* one line of a scrape: the metric's name, its labels unescaped, its value */
typedef struct {
	gchar *name;
	GPtrArray *labels; /* names and values, alternating */
	gdouble value;
} VbTestSample;

/* a scrape of /metrics, read as strictly as Prometheus reads the text format
 * (version 0.0.4), and stricter where vestibuled has no reason to differ */
typedef struct {
	GHashTable *types; /* family name -> "counter", "gauge", … */
	GHashTable *help;  /* family name -> help text, unescaped */
	GPtrArray *samples;
} VbTestExposition;

/* NULL, with an error naming the line, for anything Prometheus would refuse:
 * a bad name or escape, a value that is no number, a TYPE after the family's
 * first sample, a family in two groups, the same series twice */
VbTestExposition *
vb_test_exposition_parse(const gchar *text, GError **error);
void
vb_test_exposition_free(VbTestExposition *self);
/* the sample of @name whose labels are exactly the pairs after @name (name,
 * value, …, NULL) in any order, or NULL */
VbTestSample *
vb_test_exposition_find(VbTestExposition *self, const gchar *name, ...) G_GNUC_NULL_TERMINATED;
/* the value of label @name of @sample, or NULL */
const gchar *
vb_test_sample_get_label(VbTestSample *sample, const gchar *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbTestExposition, vb_test_exposition_free)

G_END_DECLS
