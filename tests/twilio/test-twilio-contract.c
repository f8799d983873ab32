/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include "twilio-harness.h"

/*
 * The contract test: the twilio plugin's real requests, made by the daemon as
 * visits and replies happen, go to Prism, run as a mock of Twilio's published
 * OpenAPI description (twilio_api_v2010.json, Twilio's, under the MIT licence
 * in LICENSE.twilio-oai) with --errors, so that a request breaking the
 * description gets an error answer. The test fails on any violation Prism
 * reports in its answers or its log.
 *
 * Prism comes from npm: `npm ci --prefix tests/twilio`, which scripts/test runs.
 */

#define PRISM_START_MS 60000
#define TW_SERVICE "MG00112233445566778899aabbccddeeff"

typedef struct {
	GSubprocess *proc;
	gchar *log_path;
	gchar *dir;
	gchar *base_url;
} Prism;

static void
prism_child_setup(gpointer user_data)
{
	/* Prism ends with the test, whatever ends the test */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static gchar *
prism_read_log(Prism *prism)
{
	gchar *log = NULL;
	if (!g_file_get_contents(prism->log_path, &log, NULL, NULL))
		return g_strdup("");
	return log;
}

static guint
prism_free_port(void)
{
	g_autoptr(GSocket) socket =
	    g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;

	g_assert_true(g_socket_bind(socket, any, FALSE, NULL));
	bound = g_socket_get_local_address(socket, NULL);
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static gboolean
prism_listening_cb(gpointer user_data)
{
	Prism *prism = user_data;
	g_autofree gchar *log = prism_read_log(prism);

	if (g_subprocess_get_identifier(prism->proc) == NULL)
		return TRUE;
	return strstr(log, "Prism is listening") != NULL;
}

/* NULL, with the reason printed, when Prism is not installed */
static Prism *
prism_start(void)
{
	const gchar *root = g_getenv("VB_SOURCE_ROOT");
	g_autofree gchar *dir = g_build_filename(root, "tests", "twilio", NULL);
	g_autofree gchar *exe = g_build_filename(dir, "node_modules", ".bin", "prism", NULL);
	g_autofree gchar *spec = g_build_filename(dir, "twilio_api_v2010.json", NULL);
	g_autofree gchar *port = g_strdup_printf("%u", prism_free_port());
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GError) error = NULL;
	Prism *prism;

	g_assert_nonnull(root);
	if (!g_file_test(exe, G_FILE_TEST_IS_EXECUTABLE)) {
		g_printerr("Prism is not installed at %s. Install it with\n"
			   "  npm ci --prefix tests/twilio\n"
			   "from the top of the source tree (scripts/test does it; it needs "
			   "nodejs and npm)\n",
			   exe);
		return NULL;
	}
	g_assert_true(g_file_test(spec, G_FILE_TEST_EXISTS));
	prism = g_new0(Prism, 1);
	prism->dir = g_dir_make_tmp("vb-prism-XXXXXX", &error);
	g_assert_no_error(error);
	prism->log_path = g_build_filename(prism->dir, "prism.log", NULL);
	prism->base_url = g_strdup_printf("http://127.0.0.1:%s", port);
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	g_subprocess_launcher_set_child_setup(launcher, prism_child_setup, NULL, NULL);
	g_subprocess_launcher_set_stdout_file_path(launcher, prism->log_path);
	g_subprocess_launcher_set_stderr_file_path(launcher, prism->log_path);
	g_subprocess_launcher_setenv(launcher, "NO_COLOR", "1", TRUE);
	g_subprocess_launcher_setenv(launcher, "FORCE_COLOR", "0", TRUE);
	prism->proc =
	    g_subprocess_launcher_spawn(launcher, &error, exe, "mock", "--host", "127.0.0.1",
					"--port", port, "--errors", spec, NULL);
	g_assert_no_error(error);
	if (!vb_test_poll(prism_listening_cb, prism, PRISM_START_MS) ||
	    g_subprocess_get_identifier(prism->proc) == NULL) {
		g_autofree gchar *log = prism_read_log(prism);
		g_error("Prism did not start listening; its output:\n%s", log);
	}
	g_test_message("Prism listens at %s", prism->base_url);
	return prism;
}

static void
prism_free(Prism *prism)
{
	g_autofree gchar *cmd = NULL;

	if (prism->proc != NULL) {
		g_subprocess_send_signal(prism->proc, SIGTERM);
		g_subprocess_wait(prism->proc, NULL, NULL);
		g_clear_object(&prism->proc);
	}
	cmd = g_strdup_printf("rm -rf '%s'", prism->dir);
	if (system(cmd) != 0)
		g_warning("could not remove %s", prism->dir);
	g_free(prism->dir);
	g_free(prism->log_path);
	g_free(prism->base_url);
	g_free(prism);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Prism, prism_free)

/* every request Prism saw passed its validation, and it saw @n_min of them.
 * Prism's log is read request by request: a request that did not pass, or any
 * validator error, fails the test. Prism also checks its own answers: the
 * examples of the list of messages in Twilio's description break its schema
 * (relative URIs where it says "uri"), which Prism reports as a violation of
 * a request that passed; that is Twilio's, not ours, and only counted */
static void
prism_assert_valid(Prism *prism, guint n_min, guint n_get_min)
{
	g_autofree gchar *log = prism_read_log(prism);
	g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
	gboolean listening = FALSE;
	gboolean passed_this = FALSE;
	guint received = 0;
	guint passed = 0;
	guint gets = 0;
	guint theirs = 0;
	guint bad = 0;

	for (guint i = 0; lines[i] != NULL; i++) {
		const gchar *line = lines[i];
		/* what Prism prints before it listens is its list of routes */
		if (!listening) {
			listening = strstr(line, "Prism is listening") != NULL;
			continue;
		}
		if (strstr(line, "Request received") != NULL) {
			received++;
			passed_this = FALSE;
			if (strstr(line, "] get /") != NULL)
				gets++;
		}
		if (strstr(line, "The request passed the validation rules") != NULL) {
			passed++;
			passed_this = TRUE;
		}
		if (passed_this && strstr(line, "Request terminated with error") != NULL &&
		    strstr(line, "#VIOLATIONS") != NULL) {
			theirs++;
			continue;
		}
		if (strstr(line, "did not pass the validation rules") != NULL ||
		    strstr(line, "\xe2\x9c\x96") != NULL /* ✖ */ ||
		    strstr(line, "Violation") != NULL || strstr(line, "VIOLATIONS") != NULL) {
			g_printerr("Prism reports: %s\n", line);
			bad++;
		}
	}
	g_test_message("Prism received %u requests (%u lookups); %u passed its validation; %u of "
		       "its own answers broke the description",
		       received, gets, passed, theirs);
	if (bad > 0)
		g_error("Prism found %u violations of Twilio's API description; its log:\n%s", bad,
			log);
	g_assert_cmpuint(received, >=, n_min);
	g_assert_cmpuint(gets, >=, n_get_min);
	g_assert_cmpuint(passed, ==, received);
}

/* ------------------------------------------------------------------------ */
/* a proxy in front of Prism, to lose one answer                            */
/* ------------------------------------------------------------------------ */

/* Prism answers every request at once. To have the plugin's lookup
 * (GET Messages.json) validated too, this proxy forwards everything to Prism
 * and loses the answer to the first message whose text holds LOSE_MARK: the
 * plugin times out, looks the message up, and sends it again. Prism's answer
 * to the lookup is its own example, which lists other numbers' messages (or,
 * when Prism finds its example broken, an error): the proxy answers the
 * lookup with an empty list instead, once Prism has validated the request.
 * The first page's answer has a next_page_uri, as Twilio's does, so that the
 * request for the next page is validated too */
#define LOSE_MARK "LOSE-THIS-ANSWER"

typedef struct {
	GMutex lock;
	GCond cond;
	GThread *thread;
	GMainContext *context;
	GMainLoop *loop;
	SoupServer *server;
	SoupSession *session;
	gchar *upstream;
	gchar *base_url;
	gboolean lost;
	guint lookups;
} Proxy;

typedef struct {
	Proxy *proxy;
	SoupServerMessage *msg;
	gchar *next_page_uri; /* of a first page of the lookup */
	gboolean lose;
	gboolean gone;
} ProxyCall;

static void
proxy_gone_cb(SoupServerMessage *msg, gpointer user_data)
{
	ProxyCall *call = user_data;
	call->gone = TRUE;
}

static void
proxy_call_free(ProxyCall *call)
{
	g_signal_handlers_disconnect_by_data(call->msg, call);
	g_object_unref(call->msg);
	g_free(call->next_page_uri);
	g_free(call);
}

static gboolean
proxy_release_cb(gpointer user_data)
{
	ProxyCall *call = user_data;

	if (!call->gone)
		soup_server_message_unpause(call->msg);
	proxy_call_free(call);
	return G_SOURCE_REMOVE;
}

static void
proxy_answer_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	ProxyCall *call = user_data;
	SoupMessage *up = soup_session_get_async_result_message(SOUP_SESSION(source), res);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes =
	    soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);
	guint status = soup_message_get_status(up);
	const gchar *type =
	    soup_message_headers_get_content_type(soup_message_get_response_headers(up), NULL);

	g_assert_no_error(error);
	if (soup_message_get_method(up) == SOUP_METHOD_GET && (status == 200 || status == 500) &&
	    !call->gone) {
		g_autofree gchar *next = call->next_page_uri != NULL
					     ? g_strdup_printf("\"%s\"", call->next_page_uri)
					     : g_strdup("null");
		g_autofree gchar *empty = g_strdup_printf(
		    "{\"messages\": [], \"page\": 0, \"page_size\": 50, \"start\": 0, "
		    "\"end\": 0, \"next_page_uri\": %s}",
		    next);
		g_mutex_lock(&call->proxy->lock);
		call->proxy->lookups++;
		g_mutex_unlock(&call->proxy->lock);
		soup_server_message_set_status(call->msg, 200, NULL);
		soup_server_message_set_response(call->msg, "application/json", SOUP_MEMORY_COPY,
						 empty, strlen(empty));
	} else if (!call->gone) {
		soup_server_message_set_status(call->msg, status, NULL);
		soup_server_message_set_response(
		    call->msg, type != NULL ? type : "application/json", SOUP_MEMORY_COPY,
		    g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	}
	if (call->lose) {
		/* long after the plugin gave up */
		g_autoptr(GSource) timer = g_timeout_source_new(2500);
		g_source_set_callback(timer, proxy_release_cb, call, NULL);
		g_source_attach(timer, call->proxy->context);
		return;
	}
	proxy_release_cb(call);
}

static void
proxy_handler(SoupServer *server,
	      SoupServerMessage *msg,
	      const char *path,
	      GHashTable *query,
	      gpointer user_data)
{
	Proxy *proxy = user_data;
	GUri *uri = soup_server_message_get_uri(msg);
	const gchar *raw_query = g_uri_get_query(uri);
	g_autofree gchar *url =
	    g_strdup_printf("%s%s%s%s", proxy->upstream, path, raw_query != NULL ? "?" : "",
			    raw_query != NULL ? raw_query : "");
	g_autoptr(SoupMessage) up = soup_message_new(soup_server_message_get_method(msg), url);
	SoupMessageHeaders *in = soup_server_message_get_request_headers(msg);
	g_autoptr(GBytes) body =
	    soup_message_body_flatten(soup_server_message_get_request_body(msg));
	ProxyCall *call = g_new0(ProxyCall, 1);
	const gchar *auth = soup_message_headers_get_one(in, "Authorization");

	call->proxy = proxy;
	call->msg = g_object_ref(msg);
	/* Twilio's next page: the same query, a page index and a cursor */
	if (soup_server_message_get_method(msg) == SOUP_METHOD_GET && raw_query != NULL &&
	    strstr(raw_query, "PageToken=") == NULL)
		call->next_page_uri = g_strdup_printf(
		    "%s?%s&Page=1&PageToken=PASM00112233445566778899aabbccddeeff", path, raw_query);
	if (g_bytes_get_size(body) > 0) {
		g_autofree gchar *text =
		    g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
		g_mutex_lock(&proxy->lock);
		if (!proxy->lost && strstr(text, LOSE_MARK) != NULL) {
			proxy->lost = TRUE;
			call->lose = TRUE;
		}
		g_mutex_unlock(&proxy->lock);
		soup_message_set_request_body_from_bytes(
		    up, soup_message_headers_get_content_type(in, NULL), body);
	}
	if (auth != NULL)
		soup_message_headers_replace(soup_message_get_request_headers(up), "Authorization",
					     auth);
	soup_message_headers_replace(soup_message_get_request_headers(up), "Accept",
				     "application/json");
	g_signal_connect(msg, "disconnected", G_CALLBACK(proxy_gone_cb), call);
	g_signal_connect(msg, "finished", G_CALLBACK(proxy_gone_cb), call);
	soup_server_message_pause(msg);
	soup_session_send_and_read_async(proxy->session, up, G_PRIORITY_DEFAULT, NULL,
					 proxy_answer_cb, call);
}

static gpointer
proxy_thread(gpointer user_data)
{
	Proxy *proxy = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
	GSList *uris;

	g_main_context_push_thread_default(proxy->context);
	proxy->session = soup_session_new_with_options("proxy-resolver", NULL, "timeout", 30, NULL);
	proxy->server = soup_server_new("server-header", "contract-proxy", NULL);
	soup_server_add_handler(proxy->server, "/2010-04-01", proxy_handler, proxy, NULL);
	g_assert_true(soup_server_listen(proxy->server, address, 0, &error));
	g_assert_no_error(error);
	uris = soup_server_get_uris(proxy->server);
	g_mutex_lock(&proxy->lock);
	proxy->base_url = g_strdup_printf("http://127.0.0.1:%d", g_uri_get_port(uris->data));
	g_cond_signal(&proxy->cond);
	g_mutex_unlock(&proxy->lock);
	g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);

	g_main_loop_run(proxy->loop);
	soup_server_disconnect(proxy->server);
	g_clear_object(&proxy->server);
	soup_session_abort(proxy->session);
	g_clear_object(&proxy->session);
	while (g_main_context_iteration(proxy->context, FALSE))
		;
	g_main_context_pop_thread_default(proxy->context);
	return NULL;
}

static Proxy *
proxy_new(const gchar *upstream)
{
	Proxy *proxy = g_new0(Proxy, 1);

	g_mutex_init(&proxy->lock);
	g_cond_init(&proxy->cond);
	proxy->upstream = g_strdup(upstream);
	proxy->context = g_main_context_new();
	proxy->loop = g_main_loop_new(proxy->context, FALSE);
	g_mutex_lock(&proxy->lock);
	proxy->thread = g_thread_new("contract-proxy", proxy_thread, proxy);
	while (proxy->base_url == NULL)
		g_cond_wait(&proxy->cond, &proxy->lock);
	g_mutex_unlock(&proxy->lock);
	return proxy;
}

static gboolean
proxy_quit_cb(gpointer user_data)
{
	Proxy *proxy = user_data;
	g_main_loop_quit(proxy->loop);
	return G_SOURCE_REMOVE;
}

static void
proxy_free(Proxy *proxy)
{
	g_main_context_invoke(proxy->context, proxy_quit_cb, proxy);
	g_thread_join(proxy->thread);
	g_main_loop_unref(proxy->loop);
	g_main_context_unref(proxy->context);
	g_free(proxy->upstream);
	g_free(proxy->base_url);
	g_mutex_clear(&proxy->lock);
	g_cond_clear(&proxy->cond);
	g_free(proxy);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Proxy, proxy_free)

/* every SMS the daemon queued went out, with Prism's sid */
static void
assert_all_sent(VbTestDaemon *d, guint n)
{
	g_autoptr(GPtrArray) items = tw_outbox_sms(d);

	g_assert_cmpuint(items->len, ==, n);
	for (guint i = 0; i < items->len; i++) {
		const gchar *item = g_ptr_array_index(items, i);
		if (!g_str_has_prefix(item, "done|") || strstr(item, "\"SM") == NULL)
			g_error("an SMS did not go out through Prism: %s", item);
	}
}

/* notices in English and French (UCS-2: 'ç' is not in GSM-7), help, and
 * replies forwarded to the operator: one in Chinese with an emoji, one long */
static void
drive(VbTestDaemon *d)
{
	G_GNUC_UNUSED g_autofree gchar *a = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	G_GNUC_UNUSED g_autofree gchar *b = tw_visit(d, PAN_B, "fr", PHONE_B_TYPED);
	g_autoptr(GString) long_text = g_string_new("My basket had ");

	while (long_text->len < 500)
		g_string_append(long_text, "apples, pears and plums; ");
	g_string_append(long_text, "was it all charged?");
	tw_inbound(d, PHONE_A, "HELP", "SM00000000000000000000000000000101");
	tw_inbound(d, PHONE_B,
		   "\xe8\xb0\xa2\xe8\xb0\xa2\xef\xbc\x81\xe6\x94\xb6\xe6\x8d\xae\xe5\x9c\xa8\xe5"
		   "\x93\xaa\xe9\x87\x8c\xef\xbc\x9f \xf0\x9f\x99\x82",
		   "SM00000000000000000000000000000102");
	tw_inbound(d, PHONE_A, long_text->str, "SM00000000000000000000000000000103");
	/* its forward's answer is lost on the way back: a lookup, then a resend */
	tw_inbound(d, PHONE_B, "Thanks! " LOSE_MARK, "SM00000000000000000000000000000104");
}

/* 2 notices, 1 help, 3 forwards; one forward twice, after a lookup of two
 * pages */
#define N_SMS 6
#define N_LOOKUPS 2
#define N_REQUESTS (N_SMS + 1 + N_LOOKUPS)

static void
run_contract(const gchar *instance_extra)
{
	g_autoptr(Prism) prism = prism_start();
	g_autoptr(Proxy) proxy = NULL;
	g_autoptr(VbTestDaemon) d = NULL;
	gboolean idle;

	if (prism == NULL) {
		g_test_fail();
		return;
	}
	proxy = proxy_new(prism->base_url);
	d = tw_daemon_new(proxy->base_url, instance_extra,
			  "[visit]\noperator-phone=" OPERATOR_PHONE "\n");
	drive(d);
	/* Prism's verdict first: a refused request also leaves its message unsent */
	idle = tw_poll_outbox_idle(d);
	prism_assert_valid(prism, N_REQUESTS, N_LOOKUPS);
	g_assert_true(idle);
	g_mutex_lock(&proxy->lock);
	g_assert_cmpuint(proxy->lookups, ==, N_LOOKUPS);
	g_mutex_unlock(&proxy->lock);
	assert_all_sent(d, N_SMS);
	g_assert_cmpint(tw_status_int(d, "sent"), ==, N_SMS);
	tw_stop(d);
}

static void
test_contract_from(void)
{
	run_contract(NULL);
}

/* a Messaging Service picks the sender; no From */
static void
test_contract_service(void)
{
	run_contract("from=\nmessaging-service-sid=" TW_SERVICE "\n");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/twilio/contract/from", test_contract_from);
	g_test_add_func("/twilio/contract/messaging-service", test_contract_service);
	return g_test_run();
}
