/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "vb-ctl-client.h"

G_BEGIN_DECLS

/* a vestibuled process running the simulated store in a temporary directory,
 * spoken to through its control socket, as an operator would */
typedef struct {
	gchar *dir;
	gchar *config_path;
	gchar *secrets_path;
	gchar *socket_path;
	gchar *state_dir;
	gchar *sms_path;
	gchar *log_path;
	gchar *notify_path;
	GSocket *notify;
	GSubprocess *proc;
	VbCtlClient *client;
	GPtrArray *env; /* extra NAME=VALUE for the daemon */
} VbTestDaemon;

/* writes the simulated store's config and secrets; @extra is appended to the config */
VbTestDaemon *
vb_test_daemon_new(const gchar *extra);
void
vb_test_daemon_write_config(VbTestDaemon *self, const gchar *extra);
/* starts vestibuled and waits for READY=1 on its notify socket */
gboolean
vb_test_daemon_start(VbTestDaemon *self, GError **error);
/* waits for a notify message starting with @prefix; FALSE on time-out */
gboolean
vb_test_daemon_wait_notify(VbTestDaemon *self, const gchar *prefix, guint timeout_ms);
JsonNode *
vb_test_daemon_ctl(VbTestDaemon *self,
		   const gchar *method,
		   const gchar *path,
		   const gchar *json_body,
		   GError **error);
/* the payloads of the audit log's events named @name, as JSON text, oldest first */
GPtrArray *
vb_test_daemon_events(VbTestDaemon *self, const gchar *name);
void
vb_test_daemon_signal(VbTestDaemon *self, gint signum);
/* SIGTERM and wait; returns the exit status */
gint
vb_test_daemon_stop(VbTestDaemon *self);
gchar *
vb_test_daemon_read_log(VbTestDaemon *self);
/* TRUE if @needle occurs in any file under the state dir or in the log */
gboolean
vb_test_daemon_files_contain(VbTestDaemon *self, const gchar *needle);
void
vb_test_daemon_free(VbTestDaemon *self);
gchar *
vb_test_build_path(const gchar *first, ...) G_GNUC_NULL_TERMINATED;

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbTestDaemon, vb_test_daemon_free)

G_END_DECLS
