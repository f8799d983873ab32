/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* sends @state ("READY=1", "WATCHDOG=1", ...) to $NOTIFY_SOCKET; a no-op
 * outside systemd. Written here rather than taken from libsystemd: the
 * protocol is one datagram, and the daemon then runs the same with or without
 * systemd installed */
gboolean
vb_sd_notify(const gchar *state, GError **error);
/* the watchdog interval systemd asks for, in µs, or 0 */
guint64
vb_sd_watchdog_usec(void);

G_END_DECLS
