/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-test-daemon.h"

G_BEGIN_DECLS

/*
 * What the gateway tests share: the shopper at the door of the simulated
 * store (a tap, keys, the screen), the daemon's database read beside it, and
 * a binary-safe reader of form-encoded fields.
 */

/* no wait in these tests may hang a run */
#define VB_GW_WAIT_MS 15000

JsonNode *
vb_gw_ctl(VbTestDaemon *d, const gchar *method, const gchar *path, const gchar *body);
void
vb_gw_tap(VbTestDaemon *d, const gchar *pan);
void
vb_gw_press(VbTestDaemon *d, const gchar *digits_then_enter);
/* waits for @prompt_id on the front door's screen */
void
vb_gw_wait_screen(VbTestDaemon *d, const gchar *prompt_id);
gint64
vb_gw_db_int(VbTestDaemon *d, const gchar *sql, const gchar *arg);
gchar *
vb_gw_db_text(VbTestDaemon *d, const gchar *sql, const gchar *arg);
/* waits until the SQL (with @arg bound to ?1) gives @value */
void
vb_gw_wait_db_int(VbTestDaemon *d, const gchar *sql, const gchar *arg, gint64 value);
/* the audit log's events named @name whose payload contains @needle */
guint
vb_gw_count_events(VbTestDaemon *d, const gchar *name, const gchar *needle);
/* the 6-digit code in @text, or NULL */
gchar *
vb_gw_code_in(const gchar *text);
/* the value of @name in "a=1&b=2", percent-decoded, or NULL */
GBytes *
vb_gw_form_get(const gchar *form, const gchar *name);
gchar *
vb_gw_form_get_text(const gchar *form, const gchar *name);
/* one request with a form or no body; returns the status */
guint
vb_gw_http(const gchar *method,
	   const gchar *url,
	   const gchar *content_type,
	   const gchar *body,
	   gsize body_len,
	   gchar **response);
void
vb_gw_assert_contains(const gchar *haystack, const gchar *needle);

G_END_DECLS
