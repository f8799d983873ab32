/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <sqlite3.h>

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
/* the first of those files that holds @needle, or NULL */
gchar *
vb_test_daemon_file_containing(VbTestDaemon *self, const gchar *needle);
void
vb_test_daemon_free(VbTestDaemon *self);

/* SIGKILL, as a power cut or the OOM killer would, and reap the process */
void
vb_test_daemon_kill(VbTestDaemon *self);
/* writes DIR/conf.d/@name, read after the main config; a NULL @content removes it */
void
vb_test_daemon_write_drop_in(VbTestDaemon *self, const gchar *name, const gchar *content);
/* the lines of the SMS file (the handsets), parsed, oldest first; each a JSON
 * object with id, to (masked), to-hash, body, idempotency-key and time */
GPtrArray *
vb_test_daemon_sms(VbTestDaemon *self);
/* the to-hash the SMS file gives @e164: the first 16 hex digits of its SHA-256 */
gchar *
vb_test_phone_hash(const gchar *e164);
/* the base URL of the public listener, as `vestibulectl status` shows it */
gchar *
vb_test_daemon_public_url(VbTestDaemon *self);
/* a bearer token of @scope for the public listener, as `vestibulectl token add` makes */
gchar *
vb_test_daemon_create_token(VbTestDaemon *self, const gchar *name, const gchar *scope);
/* one HTTP request to the public listener; returns the status and the body */
guint
vb_test_http(const gchar *method,
	     const gchar *url,
	     const gchar *token,
	     const gchar *accept,
	     const gchar *body,
	     gchar **response);
/* POST /api/v1/visits/@visit/order with @json as the body; @token may be NULL */
guint
vb_test_daemon_post_order(VbTestDaemon *self,
			  const gchar *token,
			  const gchar *visit,
			  const gchar *json,
			  gchar **response);
/* the daemon's database, opened beside it (WAL allows a reader, and a short writer) */
sqlite3 *
vb_test_daemon_open_db(VbTestDaemon *self, gboolean writable);

/* polls @func every 20 ms until it returns TRUE or @timeout_ms pass */
typedef gboolean (*VbTestPollFunc)(gpointer user_data);
gboolean
vb_test_poll(VbTestPollFunc func, gpointer user_data, guint timeout_ms);
gchar *
vb_test_build_path(const gchar *first, ...) G_GNUC_NULL_TERMINATED;
/* runs the built vestibulectl against the daemon with the arguments after @err;
 * @out and @err (either may be NULL) get what it printed; returns its exit status */
gint
vb_test_daemon_run_ctl(VbTestDaemon *self, gchar **out, gchar **err, ...) G_GNUC_NULL_TERMINATED;

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbTestDaemon, vb_test_daemon_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3, sqlite3_close)

G_END_DECLS
