/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vb-log-private.h"
#include "vb-redact-private.h"

/* the fields an alert adds; redacted as MESSAGE is, in case a bug puts a
 * phone number where a door name belongs */
static gboolean
vb_log_field_is_redacted(const gchar *key)
{
	return g_strcmp0(key, "MESSAGE") == 0 || g_str_has_prefix(key, "VESTIBULE_");
}

/* without a journal, the fields an operator queries are shown after the
 * line, when VESTIBULE_LOG_FIELDS is set */
static void
vb_log_write_fields(GLogLevelFlags log_level, const GLogField *fields, gsize n_fields)
{
	g_autoptr(GString) line = NULL;
	g_autofree gchar *text = NULL;
	const gchar *domain = NULL;

	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(fields[i].key, "GLIB_DOMAIN") == 0)
			domain = fields[i].value;
	}
	if (g_log_writer_default_would_drop(log_level, domain))
		return;
	text = g_log_writer_format_fields(log_level, fields, n_fields, FALSE);
	line = g_string_new(text);
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(fields[i].key, "MESSAGE_ID") != 0 &&
		    !g_str_has_prefix(fields[i].key, "VESTIBULE_"))
			continue;
		g_string_append_printf(line, " %s=", fields[i].key);
		g_string_append_len(line, fields[i].value, fields[i].length);
	}
	g_string_append_c(line, '\n');
	fputs(line->str, stderr);
	fflush(stderr);
}

/* every log line goes through the redactor before it is written: a PAN or a
 * full phone number that a bug put in a message is masked, not shipped to
 * the journal */
static GLogWriterOutput
vb_log_writer(GLogLevelFlags log_level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	g_autofree GLogField *copy = NULL;
	g_autoptr(GPtrArray) redacted = g_ptr_array_new_with_free_func(g_free);

	copy = g_new(GLogField, n_fields);
	memcpy(copy, fields, n_fields * sizeof(GLogField));
	for (gsize i = 0; i < n_fields; i++) {
		gchar *text;

		if (!vb_log_field_is_redacted(copy[i].key))
			continue;
		if (copy[i].length < 0) {
			text = vb_redact_text(copy[i].value);
		} else {
			g_autofree gchar *tmp = g_strndup(copy[i].value, (gsize)copy[i].length);
			text = vb_redact_text(tmp);
		}
		g_ptr_array_add(redacted, text);
		copy[i].value = text;
		copy[i].length = -1;
	}
	if (GPOINTER_TO_INT(user_data) && !g_log_writer_is_journald(fileno(stderr))) {
		vb_log_write_fields(log_level, copy, n_fields);
		return G_LOG_WRITER_HANDLED;
	}
	return g_log_writer_default(log_level, copy, n_fields, NULL);
}

void
vb_log_setup(gboolean verbose)
{
	if (verbose)
		g_log_set_debug_enabled(TRUE);
	g_log_set_writer_func(vb_log_writer,
			      GINT_TO_POINTER(g_getenv("VESTIBULE_LOG_FIELDS") != NULL), NULL);
}
