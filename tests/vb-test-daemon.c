/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "vb-test-daemon.h"

#define TEST_CARD_TOKEN_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
/* the visit's keys: each its own, as the secrets file must have them */
#define TEST_PHONE_KEY "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
#define TEST_PHONE_INDEX_KEY "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
#define TEST_OTP_KEY "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"

gchar *
vb_test_build_path(const gchar *first, ...)
{
	const gchar *root = g_getenv("VB_BUILD_ROOT");
	g_autoptr(GPtrArray) parts = g_ptr_array_new();
	va_list args;
	const gchar *part;

	g_assert_nonnull(root);
	g_ptr_array_add(parts, (gpointer)root);
	va_start(args, first);
	for (part = first; part != NULL; part = va_arg(args, const gchar *))
		g_ptr_array_add(parts, (gpointer)part);
	va_end(args);
	g_ptr_array_add(parts, NULL);
	return g_build_filenamev((gchar **)parts->pdata);
}

void
vb_test_daemon_write_config(VbTestDaemon *self, const gchar *extra)
{
	g_autofree gchar *config = NULL;

	config = g_strdup_printf("[vestibule]\n"
				 "name=Test store\n"
				 "state-dir=%s\n"
				 "[http]\n"
				 "address=127.0.0.1\n"
				 "port=0\n"
				 "control-socket=%s\n"
				 "[services]\n"
				 "sms=sms\n"
				 "payment=pay\n"
				 "[door:front]\n"
				 "reader=front-reader\n"
				 "lock=front-lock\n"
				 "keypad=front-keypad\n"
				 "display=front-display\n"
				 "[instance:front-reader]\n"
				 "plugin=sim-reader\n"
				 "[instance:front-lock]\n"
				 "plugin=sim-lock\n"
				 "[instance:front-keypad]\n"
				 "plugin=sim-keypad\n"
				 "[instance:front-display]\n"
				 "plugin=console\n"
				 "output=none\n"
				 "[instance:sms]\n"
				 "plugin=log-sms\n"
				 "path=%s\n"
				 "[instance:pay]\n"
				 "plugin=sim-payment\n"
				 "%s",
				 self->state_dir, self->socket_path, self->sms_path,
				 extra != NULL ? extra : "");
	g_assert_true(g_file_set_contents(self->config_path, config, -1, NULL));
}

VbTestDaemon *
vb_test_daemon_new(const gchar *extra)
{
	VbTestDaemon *self = g_new0(VbTestDaemon, 1);
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GError) error = NULL;

	self->dir = g_dir_make_tmp("vb-daemon-XXXXXX", &error);
	g_assert_no_error(error);
	self->config_path = g_build_filename(self->dir, "vestibule.conf", NULL);
	self->secrets_path = g_build_filename(self->dir, "secrets.conf", NULL);
	self->socket_path = g_build_filename(self->dir, "run", "control.sock", NULL);
	self->state_dir = g_build_filename(self->dir, "state", NULL);
	self->sms_path = g_build_filename(self->dir, "sms.jsonl", NULL);
	self->log_path = g_build_filename(self->dir, "vestibuled.log", NULL);
	self->notify_path = g_build_filename(self->dir, "notify.sock", NULL);
	self->env = g_ptr_array_new_with_free_func(g_free);
	vb_test_daemon_write_config(self, extra);
	g_assert_true(g_file_set_contents_full(self->secrets_path,
					       "[vestibule]\n"
					       "card-token-key=" TEST_CARD_TOKEN_KEY "\n"
					       "phone-key=" TEST_PHONE_KEY "\n"
					       "phone-index-key=" TEST_PHONE_INDEX_KEY "\n"
					       "otp-key=" TEST_OTP_KEY "\n",
					       -1, G_FILE_SET_CONTENTS_NONE, 0600, NULL));

	/* the daemon tells us it is ready the way it tells systemd */
	self->notify = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM,
				    G_SOCKET_PROTOCOL_DEFAULT, &error);
	g_assert_no_error(error);
	address = g_unix_socket_address_new(self->notify_path);
	g_assert_true(g_socket_bind(self->notify, address, TRUE, &error));
	g_assert_no_error(error);
	self->client = vb_ctl_client_new(self->socket_path);
	return self;
}

gboolean
vb_test_daemon_wait_notify(VbTestDaemon *self, const gchar *prefix, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		gchar buf[512];
		gssize n;
		gint64 left = deadline - g_get_monotonic_time();
		g_autoptr(GError) error = NULL;

		if (left <= 0)
			return FALSE;
		if (!g_socket_condition_timed_wait(self->notify, G_IO_IN, left, NULL, NULL))
			return FALSE;
		n = g_socket_receive(self->notify, buf, sizeof(buf) - 1, NULL, &error);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (g_str_has_prefix(buf, prefix))
			return TRUE;
	}
}

/* in the daemon, before exec: a test that dies (a failed assertion aborts it)
 * takes its daemon along rather than leaving it running */
static void
vb_test_daemon_child_setup(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

gboolean
vb_test_daemon_start(VbTestDaemon *self, GError **error)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autofree gchar *daemon = vb_test_build_path("core", "daemon", "vestibuled", NULL);
	g_autofree gchar *locale = vb_test_build_path("po", NULL);

	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	g_subprocess_launcher_set_child_setup(launcher, vb_test_daemon_child_setup, NULL, NULL);
	g_subprocess_launcher_setenv(launcher, "NOTIFY_SOCKET", self->notify_path, TRUE);
	g_subprocess_launcher_setenv(launcher, "VESTIBULE_LOCALEDIR", locale, TRUE);
	g_subprocess_launcher_unsetenv(launcher, "CREDENTIALS_DIRECTORY");
	g_subprocess_launcher_unsetenv(launcher, "WATCHDOG_USEC");
	for (guint i = 0; i < self->env->len; i++) {
		g_auto(GStrv) kv = g_strsplit(g_ptr_array_index(self->env, i), "=", 2);
		g_subprocess_launcher_setenv(launcher, kv[0], kv[1], TRUE);
	}
	/* the log is kept to be scanned for secrets; a restart appends to it, so
	 * that what every run of the daemon wrote is scanned */
	{
		gint fd = g_open(self->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
				    "cannot open %s", self->log_path);
			return FALSE;
		}
		g_subprocess_launcher_take_stderr_fd(launcher, fd);
	}
	g_subprocess_launcher_set_stdout_file_path(launcher, "/dev/null");
	self->proc =
	    g_subprocess_launcher_spawn(launcher, error, daemon, "--config", self->config_path,
					"--secrets", self->secrets_path, "--verbose", NULL);
	if (self->proc == NULL)
		return FALSE;
	if (!vb_test_daemon_wait_notify(self, "READY=1", 10000)) {
		g_autofree gchar *log = vb_test_daemon_read_log(self);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
			    "vestibuled did not become ready; its log:\n%s", log);
		return FALSE;
	}
	return TRUE;
}

JsonNode *
vb_test_daemon_ctl(VbTestDaemon *self,
		   const gchar *method,
		   const gchar *path,
		   const gchar *json_body,
		   GError **error)
{
	g_autoptr(JsonNode) body = NULL;

	if (json_body != NULL) {
		body = json_from_string(json_body, error);
		if (body == NULL)
			return NULL;
	}
	return vb_ctl_client_request(self->client, method, path, body, error);
}

GPtrArray *
vb_test_daemon_events(VbTestDaemon *self, const gchar *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	JsonArray *events;

	node = vb_test_daemon_ctl(self, "GET", "/v1/events?limit=1000", NULL, &error);
	g_assert_no_error(error);
	events = json_object_get_array_member(json_node_get_object(node), "events");
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *ev = json_array_get_object_element(events, i);
		if (g_strcmp0(json_object_get_string_member(ev, "name"), name) != 0)
			continue;
		g_ptr_array_add(out, json_to_string(json_object_get_member(ev, "payload"), FALSE));
	}
	return out;
}

void
vb_test_daemon_signal(VbTestDaemon *self, gint signum)
{
	g_assert_nonnull(self->proc);
	g_subprocess_send_signal(self->proc, signum);
}

gint
vb_test_daemon_stop(VbTestDaemon *self)
{
	g_autoptr(GError) error = NULL;
	gint status;

	if (self->proc == NULL)
		return -1;
	g_subprocess_send_signal(self->proc, SIGTERM);
	g_assert_true(g_subprocess_wait(self->proc, NULL, &error));
	g_assert_no_error(error);
	status = g_subprocess_get_if_exited(self->proc)
		     ? g_subprocess_get_exit_status(self->proc)
		     : 128 + g_subprocess_get_term_sig(self->proc);
	g_clear_object(&self->proc);
	/* the test's directory goes with it: say why the daemon did not stop
	 * cleanly while its log is still there */
	if (status != 0) {
		g_autofree gchar *log = vb_test_daemon_read_log(self);
		gsize len = strlen(log);
		g_printerr("vestibuled stopped with status %d; the end of its log:\n%s\n", status,
			   len > 8192 ? log + len - 8192 : log);
	}
	return status;
}

gchar *
vb_test_daemon_read_log(VbTestDaemon *self)
{
	gchar *log = NULL;
	if (!g_file_get_contents(self->log_path, &log, NULL, NULL))
		return g_strdup("");
	return log;
}

static gboolean
vb_test_file_contains(const gchar *path, const gchar *needle)
{
	g_autofree gchar *data = NULL;
	gsize len = 0;

	if (!g_file_get_contents(path, &data, &len, NULL))
		return FALSE;
	return memmem(data, len, needle, strlen(needle)) != NULL;
}

gchar *
vb_test_daemon_file_containing(VbTestDaemon *self, const gchar *needle)
{
	g_autoptr(GDir) dir = g_dir_open(self->state_dir, 0, NULL);
	const gchar *name;

	if (vb_test_file_contains(self->log_path, needle))
		return g_strdup(self->log_path);
	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(self->state_dir, name, NULL);
		if (vb_test_file_contains(path, needle))
			return g_steal_pointer(&path);
	}
	return NULL;
}

gboolean
vb_test_daemon_files_contain(VbTestDaemon *self, const gchar *needle)
{
	g_autofree gchar *path = vb_test_daemon_file_containing(self, needle);
	return path != NULL;
}

void
vb_test_daemon_free(VbTestDaemon *self)
{
	g_autofree gchar *cmd = NULL;

	if (self->proc != NULL) {
		g_subprocess_force_exit(self->proc);
		g_subprocess_wait(self->proc, NULL, NULL);
		g_clear_object(&self->proc);
	}
	g_clear_object(&self->client);
	g_clear_object(&self->notify);
	cmd = g_strdup_printf("rm -rf '%s'", self->dir);
	if (system(cmd) != 0)
		g_warning("could not remove %s", self->dir);
	g_free(self->dir);
	g_free(self->config_path);
	g_free(self->secrets_path);
	g_free(self->socket_path);
	g_free(self->state_dir);
	g_free(self->sms_path);
	g_free(self->log_path);
	g_free(self->notify_path);
	g_ptr_array_unref(self->env);
	g_free(self);
}

void
vb_test_daemon_kill(VbTestDaemon *self)
{
	g_autoptr(GError) error = NULL;

	g_assert_nonnull(self->proc);
	g_subprocess_send_signal(self->proc, SIGKILL);
	g_assert_true(g_subprocess_wait(self->proc, NULL, &error));
	g_assert_no_error(error);
	g_assert_true(g_subprocess_get_if_signaled(self->proc));
	g_assert_cmpint(g_subprocess_get_term_sig(self->proc), ==, SIGKILL);
	g_clear_object(&self->proc);
}

void
vb_test_daemon_write_drop_in(VbTestDaemon *self, const gchar *name, const gchar *content)
{
	g_autofree gchar *confd = g_build_filename(self->dir, "conf.d", NULL);
	g_autofree gchar *path = g_build_filename(confd, name, NULL);

	if (content == NULL) {
		if (g_unlink(path) != 0)
			g_assert_cmpint(errno, ==, ENOENT);
		return;
	}
	g_assert_cmpint(g_mkdir_with_parents(confd, 0700), ==, 0);
	g_assert_true(g_file_set_contents(path, content, -1, NULL));
}

GPtrArray *
vb_test_daemon_sms(VbTestDaemon *self)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	g_autofree gchar *data = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents(self->sms_path, &data, NULL, NULL))
		return out;
	lines = g_strsplit(data, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		JsonNode *node;

		/* the last line may be half written while the daemon runs */
		if (lines[i][0] == '\0' || (lines[i + 1] == NULL && !g_str_has_suffix(data, "\n")))
			continue;
		node = json_from_string(lines[i], &error);
		if (node == NULL)
			g_error("the SMS file has a line that is not JSON (%s): %s", error->message,
				lines[i]);
		g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
		g_ptr_array_add(out, node);
	}
	return out;
}

gchar *
vb_test_phone_hash(const gchar *e164)
{
	g_autofree gchar *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, e164, -1);
	return g_strndup(sha, 16);
}

gchar *
vb_test_daemon_public_url(VbTestDaemon *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) status = vb_test_daemon_ctl(self, "GET", "/v1/status", NULL, &error);

	g_assert_no_error(error);
	return g_strdup(json_object_get_string_member(json_node_get_object(status), "public-url"));
}

gchar *
vb_test_daemon_create_token(VbTestDaemon *self, const gchar *name, const gchar *scope)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) created = NULL;
	g_autofree gchar *body =
	    g_strdup_printf("{\"name\": \"%s\", \"scope\": \"%s\"}", name, scope);

	created = vb_test_daemon_ctl(self, "POST", "/v1/tokens", body, &error);
	g_assert_no_error(error);
	return g_strdup(json_object_get_string_member(json_node_get_object(created), "token"));
}

guint
vb_test_http(const gchar *method,
	     const gchar *url,
	     const gchar *token,
	     const gchar *accept,
	     const gchar *body,
	     gchar **response)
{
	/* no proxy: the daemon is on loopback, and GIO's proxy modules (libproxy
	 * and its C++ runtime) are better not loaded into a sanitized test */
	g_autoptr(SoupSession) session =
	    soup_session_new_with_options("proxy-resolver", NULL, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new(method, url);
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GError) error = NULL;
	SoupMessageHeaders *headers;

	g_assert_nonnull(msg);
	headers = soup_message_get_request_headers(msg);
	if (token != NULL) {
		g_autofree gchar *auth = g_strdup_printf("Bearer %s", token);
		soup_message_headers_replace(headers, "Authorization", auth);
	}
	if (accept != NULL)
		soup_message_headers_replace(headers, "Accept", accept);
	if (body != NULL) {
		g_autoptr(GBytes) payload = g_bytes_new(body, strlen(body));
		soup_message_set_request_body_from_bytes(msg, "application/json", payload);
	}
	bytes = soup_session_send_and_read(session, msg, NULL, &error);
	g_assert_no_error(error);
	if (response != NULL)
		*response = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	return soup_message_get_status(msg);
}

guint
vb_test_daemon_post_order(VbTestDaemon *self,
			  const gchar *token,
			  const gchar *visit,
			  const gchar *json,
			  gchar **response)
{
	g_autofree gchar *base = vb_test_daemon_public_url(self);
	g_autofree gchar *url = g_strdup_printf("%s/api/v1/visits/%s/order", base, visit);

	return vb_test_http("POST", url, token, NULL, json, response);
}

sqlite3 *
vb_test_daemon_open_db(VbTestDaemon *self, gboolean writable)
{
	g_autofree gchar *path = g_build_filename(self->state_dir, "vestibule.db", NULL);
	sqlite3 *db = NULL;
	gint rc;

	rc = sqlite3_open_v2(path, &db, writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY,
			     NULL);
	if (rc != SQLITE_OK)
		g_error("cannot open %s: %s", path, sqlite3_errstr(rc));
	sqlite3_busy_timeout(db, 5000);
	return db;
}

gboolean
vb_test_poll(VbTestPollFunc func, gpointer user_data, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;

	for (;;) {
		if (func(user_data))
			return TRUE;
		if (g_get_monotonic_time() > deadline)
			return FALSE;
		g_usleep(20 * G_TIME_SPAN_MILLISECOND);
	}
}

gint
vb_test_daemon_run_ctl(VbTestDaemon *self, gchar **out, gchar **err, ...)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *err_local = NULL;
	g_autofree gchar *daemon = vb_test_build_path("core", "daemon", "vestibuled", NULL);
	const gchar *arg;
	va_list args;
	gint status;

	if (out != NULL)
		g_clear_pointer(out, g_free);
	if (err != NULL)
		g_clear_pointer(err, g_free);
	g_ptr_array_add(argv, vb_test_build_path("core", "ctl", "vestibulectl", NULL));
	g_ptr_array_add(argv, g_strdup("--socket"));
	g_ptr_array_add(argv, g_strdup(self->socket_path));
	va_start(args, err);
	for (arg = va_arg(args, const gchar *); arg != NULL; arg = va_arg(args, const gchar *))
		g_ptr_array_add(argv, g_strdup(arg));
	va_end(args);
	g_ptr_array_add(argv, NULL);
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
					     G_SUBPROCESS_FLAGS_STDERR_PIPE);
	/* config check runs the vestibuled that the tests start */
	g_subprocess_launcher_setenv(launcher, "VESTIBULED", daemon, TRUE);
	proc = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, &error);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_communicate_utf8(proc, NULL, NULL, out,
						    err != NULL ? err : &err_local, &error));
	g_assert_no_error(error);
	status = g_subprocess_get_exit_status(proc);
	/* what the operator read, for when the test fails */
	if (status != 0)
		g_test_message("vestibulectl exited with %d: %s", status,
			       err != NULL ? *err : err_local);
	return status;
}
