/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* A reader of the Prometheus text format written from its specification
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), apart from
 * the code that writes it, so that a test sees a scrape as Prometheus would */

#include "config.h"

#include <gio/gio.h>
#include <stdarg.h>
#include <string.h>

#include "vb-test-metrics.h"

static void
vb_test_sample_free(VbTestSample *sample)
{
	g_free(sample->name);
	g_ptr_array_unref(sample->labels);
	g_free(sample);
}

void
vb_test_exposition_free(VbTestExposition *self)
{
	if (self == NULL)
		return;
	g_hash_table_unref(self->types);
	g_hash_table_unref(self->help);
	g_ptr_array_unref(self->samples);
	g_free(self);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for a metric, without the colons for a label */
static gsize
vb_test_name_length(const gchar *p, gboolean colons)
{
	gsize n = 0;

	while (g_ascii_isalpha(p[n]) || p[n] == '_' || (colons && p[n] == ':') ||
	       (n > 0 && g_ascii_isdigit(p[n])))
		n++;
	return n;
}

static gboolean
vb_test_fail(GError **error, guint line, const gchar *what, const gchar *text)
{
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "line %u: %s: %s", line, what,
		    text);
	return FALSE;
}

/* a label value after its opening quote, up to the closing one; only \\, \"
 * and \n may be escaped */
static gchar *
vb_test_read_label_value(const gchar **pp)
{
	g_autoptr(GString) value = g_string_new(NULL);
	const gchar *p = *pp;

	for (; *p != '"'; p++) {
		if (*p == '\0')
			return NULL;
		if (*p != '\\') {
			g_string_append_c(value, *p);
			continue;
		}
		p++;
		if (*p == '\\')
			g_string_append_c(value, '\\');
		else if (*p == '"')
			g_string_append_c(value, '"');
		else if (*p == 'n')
			g_string_append_c(value, '\n');
		else
			return NULL;
	}
	*pp = p + 1;
	return g_string_free(g_steal_pointer(&value), FALSE);
}

static gboolean
vb_test_read_value(const gchar *text, gdouble *value)
{
	gchar *end = NULL;

	if (g_strcmp0(text, "NaN") == 0 || g_strcmp0(text, "+Inf") == 0 ||
	    g_strcmp0(text, "-Inf") == 0) {
		*value = g_ascii_strtod(text, NULL);
		return TRUE;
	}
	if (text[0] == '\0' || g_ascii_isspace(text[0]))
		return FALSE;
	*value = g_ascii_strtod(text, &end);
	return end != NULL && *end == '\0';
}

/* "# HELP name text" or "# TYPE name type"; other comments are allowed */
static gboolean
vb_test_read_comment(VbTestExposition *self,
		     const gchar *line,
		     guint n,
		     GHashTable *with_samples,
		     GError **error)
{
	const gchar *p = line + 2;
	gboolean help;
	gsize len;
	g_autofree gchar *name = NULL;

	if (!g_str_has_prefix(line, "# HELP ") && !g_str_has_prefix(line, "# TYPE "))
		return TRUE;
	help = g_str_has_prefix(line, "# HELP ");
	p += strlen("HELP ");
	len = vb_test_name_length(p, TRUE);
	if (len == 0 || (p[len] != ' ' && !(help && p[len] == '\0')))
		return vb_test_fail(error, n, "a bad metric name", line);
	name = g_strndup(p, len);
	p += len;
	if (*p == ' ')
		p++;
	if (help) {
		g_autoptr(GString) text = g_string_new(NULL);

		if (g_hash_table_contains(self->help, name))
			return vb_test_fail(error, n, "a second HELP", line);
		for (; *p != '\0'; p++) {
			if (*p == '\\' && p[1] == '\\') {
				g_string_append_c(text, '\\');
				p++;
			} else if (*p == '\\' && p[1] == 'n') {
				g_string_append_c(text, '\n');
				p++;
			} else {
				g_string_append_c(text, *p);
			}
		}
		g_hash_table_insert(self->help, g_steal_pointer(&name),
				    g_string_free(g_steal_pointer(&text), FALSE));
		return TRUE;
	}
	if (g_hash_table_contains(self->types, name))
		return vb_test_fail(error, n, "a second TYPE", line);
	if (g_hash_table_contains(with_samples, name))
		return vb_test_fail(error, n, "a TYPE after the metric's samples", line);
	if (g_strcmp0(p, "counter") != 0 && g_strcmp0(p, "gauge") != 0 &&
	    g_strcmp0(p, "histogram") != 0 && g_strcmp0(p, "summary") != 0 &&
	    g_strcmp0(p, "untyped") != 0)
		return vb_test_fail(error, n, "an unknown type", line);
	g_hash_table_insert(self->types, g_steal_pointer(&name), g_strdup(p));
	return TRUE;
}

/* name{label="value",…} value [timestamp] */
static VbTestSample *
vb_test_read_sample(const gchar *line, guint n, GError **error)
{
	g_autoptr(GPtrArray) labels = g_ptr_array_new_with_free_func(g_free);
	const gchar *p = line;
	gsize len = vb_test_name_length(p, TRUE);
	g_autofree gchar *name = NULL;
	g_auto(GStrv) rest = NULL;
	VbTestSample *sample;
	gdouble value;

	if (len == 0) {
		vb_test_fail(error, n, "a bad metric name", line);
		return NULL;
	}
	name = g_strndup(p, len);
	p += len;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			g_autofree gchar *label = NULL;
			gchar *label_value;

			len = vb_test_name_length(p, FALSE);
			if (len == 0 || p[len] != '=' || p[len + 1] != '"') {
				vb_test_fail(error, n, "a bad label", line);
				return NULL;
			}
			label = g_strndup(p, len);
			for (guint i = 0; i < labels->len; i += 2) {
				if (g_strcmp0(labels->pdata[i], label) == 0) {
					vb_test_fail(error, n, "a label given twice", line);
					return NULL;
				}
			}
			p += len + 2;
			label_value = vb_test_read_label_value(&p);
			if (label_value == NULL) {
				vb_test_fail(error, n, "a bad label value", line);
				return NULL;
			}
			g_ptr_array_add(labels, g_steal_pointer(&label));
			g_ptr_array_add(labels, label_value);
			if (*p == ',')
				p++;
			else if (*p != '}') {
				vb_test_fail(error, n, "no comma or brace after a label", line);
				return NULL;
			}
		}
		p++;
	}
	if (*p != ' ') {
		vb_test_fail(error, n, "no space before the value", line);
		return NULL;
	}
	rest = g_strsplit(p + 1, " ", -1);
	if (g_strv_length(rest) < 1 || g_strv_length(rest) > 2 ||
	    !vb_test_read_value(rest[0], &value) ||
	    (rest[1] != NULL &&
	     !g_ascii_string_to_signed(rest[1], 10, G_MININT64, G_MAXINT64, NULL, NULL))) {
		vb_test_fail(error, n, "a bad value or timestamp", line);
		return NULL;
	}
	sample = g_new0(VbTestSample, 1);
	sample->name = g_steal_pointer(&name);
	sample->labels = g_steal_pointer(&labels);
	sample->value = value;
	return sample;
}

/* the series' identity: its name and its labels, sorted */
static gchar *
vb_test_sample_key(VbTestSample *sample)
{
	g_autoptr(GPtrArray) pairs = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GString) key = g_string_new(sample->name);

	for (guint i = 0; i < sample->labels->len; i += 2)
		g_ptr_array_add(pairs,
				g_strdup_printf("%s\x1f%s", (gchar *)sample->labels->pdata[i],
						(gchar *)sample->labels->pdata[i + 1]));
	g_ptr_array_sort(pairs, (GCompareFunc)g_strcmp0);
	for (guint i = 0; i < pairs->len; i++)
		g_string_append_printf(key, "\x1e%s", (gchar *)pairs->pdata[i]);
	return g_string_free(g_steal_pointer(&key), FALSE);
}

VbTestExposition *
vb_test_exposition_parse(const gchar *text, GError **error)
{
	g_autoptr(VbTestExposition) self = g_new0(VbTestExposition, 1);
	g_autoptr(GHashTable) with_samples =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GHashTable) series = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_auto(GStrv) lines = NULL;
	const gchar *current = NULL;
	guint n_lines;

	self->types = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->help = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->samples = g_ptr_array_new_with_free_func((GDestroyNotify)vb_test_sample_free);

	if (!g_utf8_validate(text, -1, NULL)) {
		vb_test_fail(error, 0, "not UTF-8", "");
		return NULL;
	}
	if (text[0] != '\0' && !g_str_has_suffix(text, "\n")) {
		vb_test_fail(error, 0, "no newline at the end", "");
		return NULL;
	}
	lines = g_strsplit(text, "\n", -1);
	/* the last element is what follows the final newline: nothing */
	n_lines = g_strv_length(lines);
	for (guint i = 0; i + 1 < n_lines; i++) {
		const gchar *line = lines[i];
		VbTestSample *sample;
		g_autofree gchar *key = NULL;

		if (line[0] == '\0')
			continue;
		if (line[0] == '#') {
			if (!vb_test_read_comment(self, line, i + 1, with_samples, error))
				return NULL;
			continue;
		}
		sample = vb_test_read_sample(line, i + 1, error);
		if (sample == NULL)
			return NULL;
		g_ptr_array_add(self->samples, sample);
		/* all the lines of a metric are one group */
		if (g_strcmp0(current, sample->name) != 0) {
			if (g_hash_table_contains(with_samples, sample->name)) {
				vb_test_fail(error, i + 1, "a metric in two groups", line);
				return NULL;
			}
			g_hash_table_add(with_samples, g_strdup(sample->name));
			current = sample->name;
		}
		key = vb_test_sample_key(sample);
		if (!g_hash_table_add(series, g_steal_pointer(&key))) {
			vb_test_fail(error, i + 1, "the same series twice", line);
			return NULL;
		}
	}
	return g_steal_pointer(&self);
}

const gchar *
vb_test_sample_get_label(VbTestSample *sample, const gchar *name)
{
	for (guint i = 0; i < sample->labels->len; i += 2) {
		if (g_strcmp0(sample->labels->pdata[i], name) == 0)
			return sample->labels->pdata[i + 1];
	}
	return NULL;
}

VbTestSample *
vb_test_exposition_find(VbTestExposition *self, const gchar *name, ...)
{
	g_autoptr(GPtrArray) wanted = g_ptr_array_new();
	va_list args;

	va_start(args, name);
	for (const gchar *label = va_arg(args, const gchar *); label != NULL;
	     label = va_arg(args, const gchar *)) {
		g_ptr_array_add(wanted, (gpointer)label);
		g_ptr_array_add(wanted, va_arg(args, gchar *));
	}
	va_end(args);

	for (guint i = 0; i < self->samples->len; i++) {
		VbTestSample *sample = self->samples->pdata[i];
		gboolean match =
		    g_strcmp0(sample->name, name) == 0 && sample->labels->len == wanted->len;

		for (guint j = 0; match && j < wanted->len; j += 2)
			match = g_strcmp0(vb_test_sample_get_label(sample, wanted->pdata[j]),
					  wanted->pdata[j + 1]) == 0;
		if (match)
			return sample;
	}
	return NULL;
}
