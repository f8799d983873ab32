/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-config-private.h"
#include "vb-context.h"
#include "vb-plugin-loader-private.h"

G_BEGIN_DECLS

#define VB_TYPE_DAEMON (vb_daemon_get_type())
G_DECLARE_FINAL_TYPE(VbDaemon, vb_daemon, VB, DAEMON, GObject)

VbDaemon *
vb_daemon_new(const gchar *config_path, const gchar *secrets_path, const gchar *const *plugin_dirs);
/* loads and validates the config, opens the store, starts the listeners and the
 * plugins; FALSE only for what makes running impossible (bad config, no store,
 * a port in use). A plugin that fails to start is disabled, not fatal */
gboolean
vb_daemon_start(VbDaemon *self, GError **error);
/* SIGHUP: a new config is validated as a whole, then applied; on any error the
 * running config stays and the error says why */
gboolean
vb_daemon_reload(VbDaemon *self, GError **error);
void
vb_daemon_stop(VbDaemon *self);
/* SIGHUP, SIGTERM and SIGINT are handled by the main loop from now on: called
 * before vb_daemon_start(), a SIGTERM that comes while it starts, or just
 * after READY=1, waits for vb_daemon_run(), which stops cleanly, instead of
 * killing the process with the audit log's buffer and the store's marker */
void
vb_daemon_handle_signals(VbDaemon *self);
/* runs the main loop until SIGTERM or SIGINT; returns the exit status */
gint
vb_daemon_run(VbDaemon *self);

VbContext *
vb_daemon_get_context(VbDaemon *self);
VbConfig *
vb_daemon_get_config(VbDaemon *self);
VbPluginLoader *
vb_daemon_get_loader(VbDaemon *self);
/* the visit's steps, for the tests that drive them one at a time; NULL before start */
struct _VbVisitManager *
vb_daemon_get_visit_manager(VbDaemon *self);
/* the outbox and the customers, for the benchmarks that queue messages
 * directly; NULL before start */
struct _VbOutbox *
vb_daemon_get_outbox(VbDaemon *self);
struct _VbCustomers *
vb_daemon_get_customers(VbDaemon *self);

G_END_DECLS
