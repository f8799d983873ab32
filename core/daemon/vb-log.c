/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-log-private.h"
#include "vb-redact-private.h"

/* every log line goes through the redactor before it is written: a PAN or a
 * full phone number that a bug put in a message is masked, not shipped to
 * the journal */
static GLogWriterOutput
vb_log_writer(GLogLevelFlags log_level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	g_autofree GLogField *copy = NULL;
	g_autofree gchar *redacted = NULL;

	copy = g_new(GLogField, n_fields);
	memcpy(copy, fields, n_fields * sizeof(GLogField));
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(copy[i].key, "MESSAGE") != 0)
			continue;
		if (copy[i].length < 0) {
			redacted = vb_redact_text(copy[i].value);
		} else {
			g_autofree gchar *tmp = g_strndup(copy[i].value, (gsize)copy[i].length);
			redacted = vb_redact_text(tmp);
		}
		copy[i].value = redacted;
		copy[i].length = -1;
		break;
	}
	return g_log_writer_default(log_level, copy, n_fields, user_data);
}

void
vb_log_setup(gboolean verbose)
{
	if (verbose)
		g_log_set_debug_enabled(TRUE);
	g_log_set_writer_func(vb_log_writer, NULL, NULL);
}
