/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <libsoup/soup.h>
#include <string.h>

#include "vb-gw-test.h"
#include "vb-test-metrics.h"

/*
 * The http-sms plugin with preset=kannel, end to end: vestibuled runs the
 * simulated store with the plugin as its SMS provider, and a fake Kannel
 * (its /cgi-bin/sendsms on 127.0.0.1) records every request. The tests play
 * the shopper at the door, Kannel's delivery reports and its sms-service
 * posting what shoppers text back, and check what each would notice: the
 * code that arrives and opens the door, the delivery states, the replies.
 * The template tests describe another gateway with preset=none (method,
 * fields, auth, success-regex, id-regex) and check each request it gets.
 */

#define PAN_A "4970107301234564"
#define PHONE_A_TYPED "0639981234"
#define PHONE_A "+33639981234"
#define PASSWORD "kannel-pass-7f3a9c"
#define HOOK_SECRET "hook-secret-5b8e1d2c4a6f"
#define CONTACT "help@vestibule-test.example"
/* a gateway described with preset=none */
#define GW_USER "vestibule-api"
#define GW_PASSWORD "gw-pass-3c9e71d0a4"
#define GW_TOKEN "gw-token-8a2f64b1e05d"
/* Ł is not in the GSM alphabet: the text needs UCS-2, sent as UTF-8 */
#define GW_STORE                                                                                   \
	"\xc3\x89picerie \xc5\x81\xc3\xb3"                                                         \
	"d\xc5\xba"

/* ------------------------------------------------------------------------ */
/* the fake Kannel                                                           */
/* ------------------------------------------------------------------------ */

typedef enum {
	FAKE_ACCEPT, /* 202 "0: Accepted for delivery" */
	FAKE_HANG,   /* never answers */
	FAKE_ANSWER, /* answers fake->answer_status and fake->answer_body */
} FakeMode;

/* what the fake noticed of one request */
typedef struct {
	gchar *method;
	gchar *path;
	gchar *query;	     /* raw, "" when none */
	gchar *content_type; /* the media type, without parameters */
	gchar *authorization;
	gchar *body; /* raw, "" when none */
} FakeRequest;

static void
fake_request_free(FakeRequest *req)
{
	g_free(req->method);
	g_free(req->path);
	g_free(req->query);
	g_free(req->content_type);
	g_free(req->authorization);
	g_free(req->body);
	g_free(req);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeRequest, fake_request_free)

static FakeRequest *
fake_request_copy(const FakeRequest *req)
{
	FakeRequest *copy = g_new0(FakeRequest, 1);

	copy->method = g_strdup(req->method);
	copy->path = g_strdup(req->path);
	copy->query = g_strdup(req->query);
	copy->content_type = g_strdup(req->content_type);
	copy->authorization = g_strdup(req->authorization);
	copy->body = g_strdup(req->body);
	return copy;
}

typedef struct {
	GThread *thread;
	GMainContext *context;
	GMainLoop *loop;
	SoupServer *server;
	guint16 port;
	GMutex lock;
	GCond cond;
	gboolean ready;
	FakeMode mode;
	guint answer_status;
	gchar *answer_body;
	GPtrArray *queries;  /* the raw query of each sendsms request */
	GPtrArray *requests; /* FakeRequest, one for each request */
	GPtrArray *held;     /* requests left unanswered */
} FakeKannel;

static void
fake_sendsms_cb(SoupServer *server,
		SoupServerMessage *msg,
		const char *path,
		GHashTable *query,
		gpointer user_data)
{
	FakeKannel *fake = user_data;
	const gchar *raw = g_uri_get_query(soup_server_message_get_uri(msg));
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	FakeRequest *req = g_new0(FakeRequest, 1);
	FakeMode mode;
	guint status = 0;
	g_autofree gchar *answer = NULL;

	req->method = g_strdup(soup_server_message_get_method(msg));
	req->path = g_strdup(path);
	req->query = g_strdup(raw != NULL ? raw : "");
	req->content_type = g_strdup(soup_message_headers_get_content_type(headers, NULL));
	req->authorization = g_strdup(soup_message_headers_get_one(headers, "Authorization"));
	req->body = body->length > 0 ? g_strndup(body->data, (gsize)body->length) : g_strdup("");

	g_mutex_lock(&fake->lock);
	g_ptr_array_add(fake->queries, g_strdup(req->query));
	g_ptr_array_add(fake->requests, req);
	mode = fake->mode;
	if (mode == FAKE_HANG)
		g_ptr_array_add(fake->held, g_object_ref(msg));
	if (mode == FAKE_ANSWER) {
		status = fake->answer_status;
		answer = g_strdup(fake->answer_body);
	}
	g_mutex_unlock(&fake->lock);

	if (mode == FAKE_HANG) {
		soup_server_message_pause(msg);
		return;
	}
	if (mode == FAKE_ANSWER) {
		gsize len = strlen(answer);
		soup_server_message_set_status(msg, status, NULL);
		soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE,
						 g_steal_pointer(&answer), len);
		return;
	}
	soup_server_message_set_status(msg, 202, NULL);
	soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_STATIC,
					 "0: Accepted for delivery", 24);
}

static gpointer
fake_thread(gpointer user_data)
{
	FakeKannel *fake = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GSList) uris = NULL;

	g_main_context_push_thread_default(fake->context);
	fake->server = soup_server_new("server-header", "Kannel/1.4.5", NULL);
	soup_server_add_handler(fake->server, "/cgi-bin/sendsms", fake_sendsms_cb, fake, NULL);
	/* the send URL of a gateway described with preset=none */
	soup_server_add_handler(fake->server, "/api/send", fake_sendsms_cb, fake, NULL);
	{
		g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
		g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, 0);
		if (!soup_server_listen(fake->server, addr, 0, &error))
			g_error("the fake Kannel cannot listen: %s", error->message);
	}
	uris = soup_server_get_uris(fake->server);
	fake->port = (guint16)g_uri_get_port(uris->data);
	g_slist_free_full(g_steal_pointer(&uris), (GDestroyNotify)g_uri_unref);

	g_mutex_lock(&fake->lock);
	fake->ready = TRUE;
	g_cond_signal(&fake->cond);
	g_mutex_unlock(&fake->lock);

	g_main_loop_run(fake->loop);
	g_clear_object(&fake->server);
	g_main_context_pop_thread_default(fake->context);
	return NULL;
}

static FakeKannel *
fake_new(void)
{
	FakeKannel *fake = g_new0(FakeKannel, 1);

	g_mutex_init(&fake->lock);
	g_cond_init(&fake->cond);
	fake->queries = g_ptr_array_new_with_free_func(g_free);
	fake->requests = g_ptr_array_new_with_free_func((GDestroyNotify)fake_request_free);
	fake->held = g_ptr_array_new_with_free_func(g_object_unref);
	fake->context = g_main_context_new();
	fake->loop = g_main_loop_new(fake->context, FALSE);
	fake->thread = g_thread_new("fake-kannel", fake_thread, fake);
	g_mutex_lock(&fake->lock);
	while (!fake->ready)
		g_cond_wait(&fake->cond, &fake->lock);
	g_mutex_unlock(&fake->lock);
	return fake;
}

typedef struct {
	FakeKannel *fake;
	GSourceFunc func;
	gboolean done;
} FakeCall;

static gboolean
fake_call_cb(gpointer user_data)
{
	FakeCall *call = user_data;

	call->func(call->fake);
	g_mutex_lock(&call->fake->lock);
	call->done = TRUE;
	g_cond_broadcast(&call->fake->cond);
	g_mutex_unlock(&call->fake->lock);
	return G_SOURCE_REMOVE;
}

/* runs @func in the fake's thread and waits for it */
static void
fake_call(FakeKannel *fake, GSourceFunc func)
{
	FakeCall call = {fake, func, FALSE};

	g_main_context_invoke(fake->context, fake_call_cb, &call);
	g_mutex_lock(&fake->lock);
	while (!call.done)
		g_cond_wait(&fake->cond, &fake->lock);
	g_mutex_unlock(&fake->lock);
}

/* Kannel stops: connections are refused */
static gboolean
fake_down_cb(gpointer user_data)
{
	FakeKannel *fake = user_data;

	soup_server_disconnect(fake->server);
	return G_SOURCE_REMOVE;
}

static gboolean
fake_up_cb(gpointer user_data)
{
	FakeKannel *fake = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, fake->port);

	if (!soup_server_listen(fake->server, addr, 0, &error))
		g_error("the fake Kannel cannot listen again: %s", error->message);
	return G_SOURCE_REMOVE;
}

static gboolean
fake_stop_cb(gpointer user_data)
{
	FakeKannel *fake = user_data;

	for (guint i = 0; i < fake->held->len; i++) {
		SoupServerMessage *msg = g_ptr_array_index(fake->held, i);
		soup_server_message_set_status(msg, 503, NULL);
		soup_server_message_unpause(msg);
	}
	soup_server_disconnect(fake->server);
	g_main_loop_quit(fake->loop);
	return G_SOURCE_REMOVE;
}

static void
fake_free(FakeKannel *fake)
{
	fake_call(fake, fake_stop_cb);
	g_thread_join(fake->thread);
	g_ptr_array_unref(fake->held);
	g_ptr_array_unref(fake->queries);
	g_ptr_array_unref(fake->requests);
	g_free(fake->answer_body);
	g_main_loop_unref(fake->loop);
	g_main_context_unref(fake->context);
	g_mutex_clear(&fake->lock);
	g_cond_clear(&fake->cond);
	g_free(fake);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeKannel, fake_free)

static void
fake_set_mode(FakeKannel *fake, FakeMode mode)
{
	g_mutex_lock(&fake->lock);
	fake->mode = mode;
	g_mutex_unlock(&fake->lock);
}

/* from now on the fake answers @status with @body */
static void
fake_set_answer(FakeKannel *fake, guint status, const gchar *body)
{
	g_mutex_lock(&fake->lock);
	fake->mode = FAKE_ANSWER;
	fake->answer_status = status;
	g_free(fake->answer_body);
	fake->answer_body = g_strdup(body);
	g_mutex_unlock(&fake->lock);
}

static guint
fake_count(FakeKannel *fake)
{
	guint n;

	g_mutex_lock(&fake->lock);
	n = fake->queries->len;
	g_mutex_unlock(&fake->lock);
	return n;
}

typedef struct {
	FakeKannel *fake;
	guint n;
} FakeWait;

static gboolean
fake_has_cb(gpointer user_data)
{
	FakeWait *wait = user_data;
	return fake_count(wait->fake) >= wait->n;
}

/* waits for the @n-th request and returns its query */
static gchar *
fake_wait(FakeKannel *fake, guint n)
{
	FakeWait wait = {fake, n};
	gchar *query;

	if (!vb_test_poll(fake_has_cb, &wait, VB_GW_WAIT_MS))
		g_error("the fake Kannel got %u requests, not %u", fake_count(fake), n);
	g_mutex_lock(&fake->lock);
	query = g_strdup(g_ptr_array_index(fake->queries, n - 1));
	g_mutex_unlock(&fake->lock);
	return query;
}

/* waits for the @n-th request and returns what the fake noticed of it */
static FakeRequest *
fake_wait_request(FakeKannel *fake, guint n)
{
	FakeRequest *req;

	g_free(fake_wait(fake, n));
	g_mutex_lock(&fake->lock);
	req = fake_request_copy(g_ptr_array_index(fake->requests, n - 1));
	g_mutex_unlock(&fake->lock);
	return req;
}

/* the field @name of a recorded request is @expected */
static void
assert_field(const gchar *query, const gchar *name, const gchar *expected)
{
	g_autofree gchar *value = vb_gw_form_get_text(query, name);

	g_assert_cmpstr(value, ==, expected);
}

/* the text of a recorded request, decoded from its charset */
static gchar *
fake_text(const gchar *query)
{
	g_autoptr(GBytes) text = vb_gw_form_get(query, "text");
	g_autofree gchar *charset = vb_gw_form_get_text(query, "charset");

	g_assert_nonnull(text);
	g_assert_nonnull(charset);
	return g_convert(g_bytes_get_data(text, NULL), (gssize)g_bytes_get_size(text), "UTF-8",
			 charset, NULL, NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* the daemon                                                                */
/* ------------------------------------------------------------------------ */

/* vestibuled with the http-sms instance @instance as its SMS provider: the
 * lines of @settings after its plugin= (then any other section), and the
 * lines of @secrets after its hook-secret in the secrets file */
static VbTestDaemon *
daemon_start(const gchar *instance, const gchar *settings, const gchar *secrets)
{
	VbTestDaemon *d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *drop_in = NULL;
	g_autofree gchar *old = NULL;
	g_autofree gchar *all = NULL;

	drop_in = g_strdup_printf("[vestibule]\n"
				  "operator-contact=" CONTACT "\n"
				  "[services]\n"
				  "sms=%s\n"
				  "[instance:%s]\n"
				  "plugin=http-sms\n"
				  "%s",
				  instance, instance, settings);
	vb_test_daemon_write_drop_in(d, "50-http-sms.conf", drop_in);
	g_assert_true(g_file_get_contents(d->secrets_path, &old, NULL, NULL));
	all = g_strdup_printf("%s[instance:%s]\nhook-secret=" HOOK_SECRET "\n%s", old, instance,
			      secrets);
	g_assert_true(g_file_set_contents_full(d->secrets_path, all, -1, G_FILE_SET_CONTENTS_NONE,
					       0600, NULL));
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start: %s", error->message);
	return d;
}

static VbTestDaemon *
daemon_new(FakeKannel *fake, const gchar *extra)
{
	g_autofree gchar *settings = g_strdup_printf("preset=kannel\n"
						     "url=http://127.0.0.1:%u/cgi-bin/sendsms\n"
						     "username=vestibule\n"
						     "from=TestStore\n"
						     "timeout-s=1\n"
						     "%s",
						     fake->port, extra != NULL ? extra : "");

	return daemon_start("kannel", settings, "password=" PASSWORD "\n");
}

static void
daemon_done(VbTestDaemon *d)
{
	/* no secret of the plugin reaches the database, its WAL or the log */
	g_assert_false(vb_test_daemon_files_contain(d, PASSWORD));
	g_assert_false(vb_test_daemon_files_contain(d, HOOK_SECRET));
	g_assert_cmpint(vb_test_daemon_stop(d), ==, 0);
}

/* a new shopper taps and types a phone number; the code is on its way */
static void
shopper_asks_for_code(VbTestDaemon *d)
{
	vb_gw_tap(d, PAN_A);
	vb_gw_wait_screen(d, "enter-phone");
	vb_gw_press(d, PHONE_A_TYPED);
	vb_gw_wait_screen(d, "enter-code");
}

/* the shopper types the code from the SMS, and the door opens */
static void
shopper_types_code(VbTestDaemon *d, const gchar *text)
{
	g_autofree gchar *code = vb_gw_code_in(text);

	g_assert_nonnull(code);
	vb_gw_press(d, code);
	vb_gw_wait_screen(d, "door-open");
}

static gchar *
expected_code_text(const gchar *store, const gchar *text)
{
	g_autofree gchar *code = vb_gw_code_in(text);

	g_assert_nonnull(code);
	return g_strdup_printf("%s: your code is %s. It is valid for 10 minutes. Never share it.",
			       store, code);
}

/* the dlr-url Kannel was given, with Kannel's %d replaced by @type */
static gchar *
dlr_url(const gchar *query, guint type)
{
	g_autofree gchar *url = vb_gw_form_get_text(query, "dlr-url");
	g_autofree gchar *number = g_strdup_printf("%u", type);
	g_auto(GStrv) parts = NULL;

	g_assert_nonnull(url);
	parts = g_strsplit(url, "%d", 2);
	g_assert_nonnull(parts[1]);
	return g_strjoin(number, parts[0], parts[1], NULL);
}

static gchar *
sms_outbox_text(VbTestDaemon *d, const gchar *column)
{
	g_autofree gchar *sql =
	    g_strdup_printf("SELECT %s FROM outbox WHERE kind = 'sms' ORDER BY id LIMIT 1", column);
	return vb_gw_db_text(d, sql, NULL);
}

/* ------------------------------------------------------------------------ */
/* tests                                                                     */
/* ------------------------------------------------------------------------ */

static void
test_kannel_gsm7(void)
{
	g_autoptr(FakeKannel) fake = fake_new();
	g_autoptr(VbTestDaemon) d = daemon_new(fake, NULL);
	g_autofree gchar *query = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *expected = NULL;
	g_autofree gchar *url = NULL;
	g_autofree gchar *public_url = vb_test_daemon_public_url(d);
	g_autofree gchar *prefix = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *result = NULL;
	g_autofree gchar *bad = NULL;

	shopper_asks_for_code(d);
	query = fake_wait(fake, 1);

	/* every field the preset sends */
	assert_field(query, "username", "vestibule");
	assert_field(query, "password", PASSWORD);
	assert_field(query, "from", "TestStore");
	assert_field(query, "to", PHONE_A);
	assert_field(query, "coding", "0");
	assert_field(query, "charset", "UTF-8");
	assert_field(query, "dlr-mask", "31");
	text = fake_text(query);
	expected = expected_code_text("Test store", text);
	g_assert_cmpstr(text, ==, expected);
	url = vb_gw_form_get_text(query, "dlr-url");
	prefix = g_strdup_printf("%s/hooks/sms/http/kannel/dlr?id=hs", public_url);
	g_assert_true(g_str_has_prefix(url, prefix));
	vb_gw_assert_contains(url, "&status=%d&");
	vb_gw_assert_contains(url, "secret=" HOOK_SECRET);
	id = vb_gw_form_get_text(url + strcspn(url, "?") + 1, "id");

	/* the code works at the door */
	shopper_types_code(d, text);

	/* the outbox holds the plugin's id */
	vb_gw_wait_db_int(d, "SELECT COUNT(*) FROM outbox WHERE kind = 'sms' AND state = 'done'",
			  NULL, 1);
	result = sms_outbox_text(d, "result");
	vb_gw_assert_contains(result, id);

	/* Kannel's reports: 8 sent to the SMSC, 1 delivered */
	{
		g_autofree gchar *sent = dlr_url(query, 8);
		g_autofree gchar *delivered = dlr_url(query, 1);
		g_assert_cmpuint(vb_gw_http("GET", sent, NULL, NULL, 0, NULL), ==, 200);
		g_assert_cmpuint(vb_gw_http("GET", delivered, NULL, NULL, 0, NULL), ==, 200);
	}
	g_assert_cmpuint(vb_gw_count_events(d, "sms-status", "\"sent\""), ==, 1);
	g_assert_cmpuint(vb_gw_count_events(d, "sms-status", "\"delivered\""), ==, 1);
	g_assert_cmpuint(vb_gw_count_events(d, "sms-status", id), ==, 2);

	/* a report with a wrong secret, or for no message of ours */
	bad = g_strdup_printf("%s/hooks/sms/http/kannel/dlr?id=%s&status=1&secret=guess",
			      public_url, id);
	g_assert_cmpuint(vb_gw_http("GET", bad, NULL, NULL, 0, NULL), ==, 403);
	{
		g_autofree gchar *unknown = g_strdup_printf(
		    "%s/hooks/sms/http/kannel/dlr?id=hs000&status=1&secret=" HOOK_SECRET,
		    public_url);
		g_autofree gchar *odd = g_strdup_printf(
		    "%s/hooks/sms/http/kannel/dlr?id=%s&status=3&secret=" HOOK_SECRET, public_url,
		    id);
		g_assert_cmpuint(vb_gw_http("GET", unknown, NULL, NULL, 0, NULL), ==, 404);
		g_assert_cmpuint(vb_gw_http("GET", odd, NULL, NULL, 0, NULL), ==, 400);
	}
	g_assert_cmpuint(vb_gw_count_events(d, "sms-status", NULL), ==, 2);
	g_assert_cmpuint(fake_count(fake), ==, 1);
	daemon_done(d);
}

static void
test_kannel_ucs2(void)
{
	g_autoptr(FakeKannel) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *query = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *expected = NULL;
	g_autoptr(GBytes) raw = NULL;

	/* Ł is not in the GSM alphabet: the whole message goes as UCS-2 */
	d = daemon_new(fake, "[vestibule]\nname=Sklep \xc5\x81\xc3\xb3"
			     "d\xc5\xba\n");
	shopper_asks_for_code(d);
	query = fake_wait(fake, 1);
	assert_field(query, "coding", "2");
	assert_field(query, "charset", "UTF-16BE");
	raw = vb_gw_form_get(query, "text");
	/* two bytes a character, big-endian: 'S' is 00 53 */
	g_assert_cmpuint(g_bytes_get_size(raw) % 2, ==, 0);
	g_assert_cmpint(((const guint8 *)g_bytes_get_data(raw, NULL))[0], ==, 0x00);
	g_assert_cmpint(((const guint8 *)g_bytes_get_data(raw, NULL))[1], ==, 'S');
	text = fake_text(query);
	expected = expected_code_text("Sklep \xc5\x81\xc3\xb3"
				      "d\xc5\xba",
				      text);
	g_assert_cmpstr(text, ==, expected);
	shopper_types_code(d, text);
	daemon_done(d);
}

static gboolean
opted_out_cb(gpointer user_data)
{
	return vb_gw_db_int(user_data, "SELECT COUNT(*) FROM customers WHERE sms_opt_out = 1",
			    NULL) == 1;
}

static void
test_inbound(void)
{
	g_autoptr(FakeKannel) fake = fake_new();
	g_autoptr(VbTestDaemon) d = daemon_new(fake, NULL);
	g_autofree gchar *public_url = vb_test_daemon_public_url(d);
	g_autofree gchar *hook = g_strdup_printf("%s/hooks/sms/http/kannel/inbound", public_url);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "prom", "metrics");
	g_autofree gchar *query = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *metrics = NULL;
	g_autofree gchar *answer = NULL;
	const gchar *form = "from=%2B33639981234&text=HELP&secret=guess";

	/* the shopper becomes a customer */
	shopper_asks_for_code(d);
	query = fake_wait(fake, 1);
	text = fake_text(query);
	shopper_types_code(d, text);

	/* a wrong or missing secret: 403, counted */
	g_assert_cmpuint(vb_gw_http("POST", hook, "application/x-www-form-urlencoded", form,
				    strlen(form), &answer),
			 ==, 403);
	g_clear_pointer(&answer, g_free);
	{
		g_autofree gchar *url = g_strdup_printf("%s?from=%%2B33639981234&text=HELP", hook);
		g_assert_cmpuint(vb_gw_http("GET", url, NULL, NULL, 0, NULL), ==, 403);
	}
	{
		g_autofree gchar *url = g_strdup_printf("%s/metrics", public_url);
		g_assert_cmpuint(vb_test_http("GET", url, token, NULL, NULL, &metrics), ==, 200);
	}
	/* in the metrics every SMS provider shares, with the code's one request */
	vb_gw_assert_contains(metrics,
			      "vestibule_sms_webhooks_rejected_total{provider=\"http-sms\","
			      "instance=\"kannel\",hook=\"inbound\",reason=\"bad secret\"} 1\n");
	vb_gw_assert_contains(metrics,
			      "vestibule_sms_webhooks_rejected_total{provider=\"http-sms\","
			      "instance=\"kannel\",hook=\"inbound\",reason=\"no secret\"} 1\n");
	vb_gw_assert_contains(metrics,
			      "vestibule_sms_provider_requests_total{provider=\"http-sms\","
			      "instance=\"kannel\",outcome=\"attempt\"} 1\n");

	/* good secret, bad input: a clear 400 */
	{
		g_autofree gchar *url =
		    g_strdup_printf("%s?secret=" HOOK_SECRET "&from=%%2B33639981234", hook);
		g_autofree gchar *url2 =
		    g_strdup_printf("%s?secret=" HOOK_SECRET "&from=not-a-phone&text=hi", hook);
		g_assert_cmpuint(vb_gw_http("GET", url, NULL, NULL, 0, &answer), ==, 400);
		vb_gw_assert_contains(answer, "text");
		g_assert_cmpuint(vb_gw_http("GET", url2, NULL, NULL, 0, NULL), ==, 400);
	}

	/* HELP, as Kannel's sms-service gets it: the core answers */
	{
		g_autofree gchar *url = g_strdup_printf(
		    "%s?secret=" HOOK_SECRET "&from=%%2B33639981234&text=HELP&id=k-1", hook);
		g_assert_cmpuint(vb_gw_http("GET", url, NULL, NULL, 0, NULL), ==, 200);
	}
	g_free(query);
	query = fake_wait(fake, 2);
	reply = fake_text(query);
	assert_field(query, "to", PHONE_A);
	g_assert_cmpstr(reply, ==,
			"Test store: for help, contact " CONTACT
			". Reply STOP to receive no more messages.");

	/* STOP, in UCS-2 as Kannel hands a UCS-2 message on (%b and %C), in a
	 * form post */
	{
		const gchar *body = "from=0033639981234&text=%00S%00T%00O%00P&charset=UTF-16BE&id="
				    "k-2&secret=" HOOK_SECRET;
		g_assert_cmpuint(vb_gw_http("POST", hook, "application/x-www-form-urlencoded", body,
					    strlen(body), NULL),
				 ==, 200);
	}
	g_assert_true(vb_test_poll(opted_out_cb, d, VB_GW_WAIT_MS));
	g_assert_cmpuint(vb_gw_count_events(d, "sms-received", NULL), ==, 2);
	daemon_done(d);
}

static gboolean
retried_unreachable_cb(gpointer user_data)
{
	VbTestDaemon *d = user_data;
	g_autofree gchar *error = sms_outbox_text(d, "last_error");

	return vb_gw_db_int(d, "SELECT attempts FROM outbox WHERE kind = 'sms'", NULL) >= 2 &&
	       error != NULL && strstr(error, "cannot reach the SMS gateway") != NULL;
}

static void
test_gateway_down(void)
{
	g_autoptr(FakeKannel) fake = fake_new();
	g_autoptr(VbTestDaemon) d = daemon_new(fake, NULL);
	g_autofree gchar *query = NULL;
	g_autofree gchar *text = NULL;

	/* Kannel is down when the shopper asks for a code */
	fake_call(fake, fake_down_cb);
	shopper_asks_for_code(d);
	g_assert_true(vb_test_poll(retried_unreachable_cb, d, VB_GW_WAIT_MS));
	{
		g_autofree gchar *state = sms_outbox_text(d, "state");
		g_assert_true(g_strcmp0(state, "pending") == 0 || g_strcmp0(state, "sending") == 0);
	}

	/* it comes back: the code goes out, once, and works */
	fake_call(fake, fake_up_cb);
	query = fake_wait(fake, 1);
	text = fake_text(query);
	shopper_types_code(d, text);
	vb_gw_wait_db_int(d, "SELECT COUNT(*) FROM outbox WHERE kind = 'sms' AND state = 'done'",
			  NULL, 1);
	g_assert_cmpuint(fake_count(fake), ==, 1);
	daemon_done(d);
}

static gboolean
retried_unknown_cb(gpointer user_data)
{
	VbTestDaemon *d = user_data;
	g_autofree gchar *error = sms_outbox_text(d, "last_error");

	return vb_gw_db_int(d, "SELECT attempts FROM outbox WHERE kind = 'sms'", NULL) >= 3 &&
	       error != NULL && strstr(error, "is unknown") != NULL;
}

static void
test_unknown_outcome(void)
{
	g_autoptr(FakeKannel) fake = fake_new();
	g_autoptr(VbTestDaemon) d = daemon_new(fake, NULL);
	g_autofree gchar *query = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *sent = NULL;

	/* Kannel takes the request and its answer never comes */
	fake_set_mode(fake, FAKE_HANG);
	shopper_asks_for_code(d);
	query = fake_wait(fake, 1);
	fake_set_mode(fake, FAKE_ACCEPT);

	/* the outbox tries again and again; nothing goes to Kannel twice */
	g_assert_true(vb_test_poll(retried_unknown_cb, d, VB_GW_WAIT_MS));
	g_assert_cmpuint(fake_count(fake), ==, 1);

	/* Kannel's report says it reached the SMSC: the item is done */
	sent = dlr_url(query, 8);
	g_assert_cmpuint(vb_gw_http("GET", sent, NULL, NULL, 0, NULL), ==, 200);
	vb_gw_wait_db_int(d, "SELECT COUNT(*) FROM outbox WHERE kind = 'sms' AND state = 'done'",
			  NULL, 1);
	g_assert_cmpuint(fake_count(fake), ==, 1);
	text = fake_text(query);
	shopper_types_code(d, text);
	daemon_done(d);
}

static void
test_unknown_abandoned(void)
{
	g_autoptr(FakeKannel) fake = fake_new();
	g_autoptr(VbTestDaemon) d =
	    daemon_new(fake, "unknown-wait-s=0\n[visit]\nverify-phone=false\n");
	g_autofree gchar *query = NULL;
	g_autofree gchar *second = NULL;
	g_autofree gchar *error = NULL;
	g_autofree gchar *path = NULL;
	g_autoptr(JsonNode) answer = NULL;
	gint64 id;

	/* no code this time: the shopper walks in and out, and the notice that
	 * follows is what Kannel takes without answering */
	fake_set_mode(fake, FAKE_HANG);
	vb_gw_tap(d, PAN_A);
	vb_gw_wait_screen(d, "enter-phone");
	vb_gw_press(d, PHONE_A_TYPED);
	vb_gw_wait_screen(d, "door-open");
	json_node_unref(vb_gw_ctl(d, "POST", "/v1/sim/front-lock/door", "{\"action\": \"open\"}"));
	json_node_unref(vb_gw_ctl(d, "POST", "/v1/sim/front-lock/door", "{\"action\": \"close\"}"));
	query = fake_wait(fake, 1);
	fake_set_mode(fake, FAKE_ACCEPT);

	/* with no report, the item fails for good rather than risk a duplicate */
	vb_gw_wait_db_int(d, "SELECT COUNT(*) FROM outbox WHERE kind = 'sms' AND state = 'dead'",
			  NULL, 1);
	error = sms_outbox_text(d, "last_error");
	vb_gw_assert_contains(error, "vestibulectl outbox retry");
	g_assert_cmpuint(fake_count(fake), ==, 1);

	/* the operator retries it: it goes out again */
	id = vb_gw_db_int(d, "SELECT id FROM outbox WHERE kind = 'sms'", NULL);
	path = g_strdup_printf("/v1/outbox/%" G_GINT64_FORMAT "/retry", id);
	answer = vb_gw_ctl(d, "POST", path, NULL);
	second = fake_wait(fake, 2);
	{
		g_autofree gchar *a = fake_text(query);
		g_autofree gchar *b = fake_text(second);
		g_assert_cmpstr(a, ==, b);
		vb_gw_assert_contains(a, "a purchase was made with your card");
	}
	vb_gw_wait_db_int(d, "SELECT COUNT(*) FROM outbox WHERE kind = 'sms' AND state = 'done'",
			  NULL, 1);
	daemon_done(d);
}

/* the newest row of GET /v1/sms (vestibulectl sms) */
static JsonObject *
newest_sms(VbTestDaemon *d)
{
	g_autoptr(JsonNode) answer = vb_gw_ctl(d, "GET", "/v1/sms?limit=1", NULL);
	JsonArray *messages =
	    json_object_get_array_member(json_node_get_object(answer), "messages");

	g_assert_cmpuint(json_array_get_length(messages), ==, 1);
	return json_object_ref(json_array_get_object_element(messages, 0));
}

/* the message-id of the result of the first sms item of the outbox */
static gchar *
outbox_message_id(VbTestDaemon *d)
{
	g_autofree gchar *result = sms_outbox_text(d, "result");
	g_autoptr(JsonNode) node = NULL;

	g_assert_nonnull(result);
	node = json_from_string(result, NULL);
	g_assert_nonnull(node);
	return g_strdup(json_object_get_string_member(json_node_get_object(node), "message-id"));
}

static void
test_template_post_form_basic_auth(void)
{
	g_autoptr(FakeKannel) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autoptr(FakeRequest) req = NULL;
	g_autoptr(FakeRequest) help = NULL;
	g_autoptr(JsonObject) row = NULL;
	g_autofree gchar *settings = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *expected = NULL;
	g_autofree gchar *reference = NULL;
	g_autofree gchar *stored = NULL;
	g_autofree gchar *b64 = g_base64_encode((const guchar *)GW_USER ":" GW_PASSWORD,
						strlen(GW_USER ":" GW_PASSWORD));
	g_autofree gchar *basic = g_strconcat("Basic ", b64, NULL);
	g_autoptr(GBytes) password_field = NULL;

	/* the gateway accepts with a JSON answer that carries its own id */
	fake_set_answer(fake, 200, "{\"status\":\"queued\",\"message_id\":\"gw-7731\"}");
	settings = g_strdup_printf("preset=none\n"
				   "method=POST\n"
				   "url=http://127.0.0.1:%u/api/send\n"
				   "fields=recipient={to};message={text};sender={from};channel=sms;"
				   "reference=vb-{id};coding={coding}\n"
				   "auth=basic\n"
				   "username=" GW_USER "\n"
				   "from=TestStore\n"
				   "success-regex=\"status\":\"queued\"\n"
				   "id-regex=\"message_id\":\"([^\"]+)\"\n"
				   "timeout-s=1\n"
				   "[vestibule]\n"
				   "name=" GW_STORE "\n",
				   fake->port);
	d = daemon_start("gw", settings, "password=" GW_PASSWORD "\n");

	shopper_asks_for_code(d);
	req = fake_wait_request(fake, 1);

	/* a form post to the configured URL, the fields nowhere else */
	g_assert_cmpstr(req->method, ==, "POST");
	g_assert_cmpstr(req->path, ==, "/api/send");
	g_assert_cmpstr(req->query, ==, "");
	g_assert_cmpstr(req->content_type, ==, "application/x-www-form-urlencoded");
	g_assert_cmpstr(req->authorization, ==, basic);

	/* each field, decoded */
	assert_field(req->body, "recipient", PHONE_A);
	assert_field(req->body, "sender", "TestStore");
	assert_field(req->body, "channel", "sms");
	assert_field(req->body, "coding", "2");
	reference = vb_gw_form_get_text(req->body, "reference");
	g_assert_nonnull(reference);
	g_assert_true(g_str_has_prefix(reference, "vb-hs"));
	text = vb_gw_form_get_text(req->body, "message");
	g_assert_nonnull(text);
	g_assert_true(g_utf8_validate(text, -1, NULL));
	expected = expected_code_text(GW_STORE, text);
	g_assert_cmpstr(text, ==, expected);
	/* nothing but the configured fields, and the password only in the header */
	password_field = vb_gw_form_get(req->body, "password");
	g_assert_null(password_field);
	g_assert_null(strstr(req->body, GW_PASSWORD));
	{
		g_auto(GStrv) pairs = g_strsplit(req->body, "&", -1);
		g_assert_cmpuint(g_strv_length(pairs), ==, 6);
	}

	/* the code works at the door */
	shopper_types_code(d, text);

	/* the core keeps the gateway's id, which id-regex found */
	vb_gw_wait_db_int(d, "SELECT COUNT(*) FROM outbox WHERE kind = 'sms' AND state = 'done'",
			  NULL, 1);
	stored = outbox_message_id(d);
	g_assert_cmpstr(stored, ==, "gw-7731");
	row = newest_sms(d);
	g_assert_cmpstr(json_object_get_string_member(row, "message-id"), ==, "gw-7731");
	g_assert_cmpstr(json_object_get_string_member(row, "provider"), ==, "gw");
	g_assert_cmpstr(json_object_get_string_member(row, "state"), ==, "queued");
	g_clear_pointer(&row, json_object_unref);

	/* a 2xx answer that success-regex does not match is a refusal: the reply
	 * to HELP is not sent, and not sent again */
	fake_set_answer(fake, 200,
			"{\"status\":\"failed\",\"message_id\":\"gw-7732\",\"error\":\"no "
			"credit\"}");
	{
		g_autofree gchar *public_url = vb_test_daemon_public_url(d);
		g_autofree gchar *hook =
		    g_strdup_printf("%s/hooks/sms/http/gw/inbound", public_url);
		const gchar *form = "from=%2B33639981234&text=HELP&id=g-1&secret=" HOOK_SECRET;
		g_assert_cmpuint(vb_gw_http("POST", hook, "application/x-www-form-urlencoded", form,
					    strlen(form), NULL),
				 ==, 200);
	}
	help = fake_wait_request(fake, 2);
	g_assert_cmpstr(help->authorization, ==, basic);
	{
		g_autofree gchar *reply = vb_gw_form_get_text(help->body, "message");
		g_assert_cmpstr(reply, ==,
				GW_STORE ": for help, contact " CONTACT
					 ". Reply STOP to receive no more messages.");
	}
	vb_gw_wait_db_int(d, "SELECT COUNT(*) FROM outbox WHERE kind = 'sms' AND state = 'dead'",
			  NULL, 1);
	row = newest_sms(d);
	g_assert_cmpstr(json_object_get_string_member(row, "state"), ==, "rejected");
	g_assert_cmpstr(json_object_get_string_member(row, "message-id"), ==, "");
	vb_gw_assert_contains(json_object_get_string_member(row, "last-error"), "success-regex");
	g_assert_cmpint(vb_gw_db_int(d,
				     "SELECT COUNT(*) FROM outbox WHERE kind = 'sms' AND state "
				     "= 'done'",
				     NULL),
			==, 1);
	g_assert_cmpuint(fake_count(fake), ==, 2);

	/* the password, and the header made of it, are in no log, db or WAL */
	g_assert_false(vb_test_daemon_files_contain(d, GW_PASSWORD));
	g_assert_false(vb_test_daemon_files_contain(d, b64));
	daemon_done(d);
}

static void
test_template_bearer_and_regex(void)
{
	g_autoptr(FakeKannel) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autoptr(FakeRequest) req = NULL;
	g_autoptr(FakeRequest) again = NULL;
	g_autoptr(JsonObject) row = NULL;
	g_autoptr(JsonNode) answer = NULL;
	g_autofree gchar *settings = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *stored = NULL;
	gint64 id;

	/* the gateway answers 200 but says no */
	fake_set_answer(fake, 200, "ERR no route to +33639981234");
	settings = g_strdup_printf("preset=none\n"
				   "method=GET\n"
				   "url=http://127.0.0.1:%u/api/send?account=77\n"
				   "fields=to={to-digits};text={text};charset={charset}\n"
				   "auth=bearer\n"
				   "success-regex=^OK\n"
				   "id-regex=^OK ([0-9a-f]+)\n"
				   "timeout-s=1\n"
				   "[visit]\n"
				   "verify-phone=false\n",
				   fake->port);
	d = daemon_start("gw", settings, "token=" GW_TOKEN "\n");

	/* no code (a code lost to a failure cannot be sent again): the shopper
	 * walks in and out, and the notice that follows is the message */
	vb_gw_tap(d, PAN_A);
	vb_gw_wait_screen(d, "enter-phone");
	vb_gw_press(d, PHONE_A_TYPED);
	vb_gw_wait_screen(d, "door-open");
	json_node_unref(vb_gw_ctl(d, "POST", "/v1/sim/front-lock/door", "{\"action\": \"open\"}"));
	json_node_unref(vb_gw_ctl(d, "POST", "/v1/sim/front-lock/door", "{\"action\": \"close\"}"));
	req = fake_wait_request(fake, 1);
	g_assert_cmpstr(req->method, ==, "GET");
	g_assert_cmpstr(req->path, ==, "/api/send");
	g_assert_cmpstr(req->body, ==, "");
	g_assert_cmpstr(req->authorization, ==, "Bearer " GW_TOKEN);
	/* the URL's own query first, then the fields */
	g_assert_true(g_str_has_prefix(req->query, "account=77&to="));
	assert_field(req->query, "to", "33639981234");
	assert_field(req->query, "charset", "UTF-8");
	text = vb_gw_form_get_text(req->query, "text");
	vb_gw_assert_contains(text, "a purchase was made with your card");

	/* not counted as sent: a permanent failure, not retried */
	vb_gw_wait_db_int(d, "SELECT COUNT(*) FROM outbox WHERE kind = 'sms' AND state = 'dead'",
			  NULL, 1);
	row = newest_sms(d);
	g_assert_cmpstr(json_object_get_string_member(row, "state"), ==, "rejected");
	g_assert_cmpstr(json_object_get_string_member(row, "message-id"), ==, "");
	vb_gw_assert_contains(json_object_get_string_member(row, "last-error"), "success-regex");
	g_clear_pointer(&row, json_object_unref);
	g_assert_cmpuint(fake_count(fake), ==, 1);

	/* the gateway is fixed and the operator retries: the id is id-regex's */
	fake_set_answer(fake, 200, "OK 5f3a09 queued");
	id = vb_gw_db_int(d, "SELECT id FROM outbox WHERE kind = 'sms'", NULL);
	path = g_strdup_printf("/v1/outbox/%" G_GINT64_FORMAT "/retry", id);
	answer = vb_gw_ctl(d, "POST", path, NULL);
	again = fake_wait_request(fake, 2);
	g_assert_cmpstr(again->authorization, ==, "Bearer " GW_TOKEN);
	{
		g_autofree gchar *resent = vb_gw_form_get_text(again->query, "text");
		g_assert_cmpstr(resent, ==, text);
	}
	vb_gw_wait_db_int(d, "SELECT COUNT(*) FROM outbox WHERE kind = 'sms' AND state = 'done'",
			  NULL, 1);
	stored = outbox_message_id(d);
	g_assert_cmpstr(stored, ==, "5f3a09");
	row = newest_sms(d);
	g_assert_cmpstr(json_object_get_string_member(row, "message-id"), ==, "5f3a09");
	g_assert_cmpuint(fake_count(fake), ==, 2);

	g_assert_false(vb_test_daemon_files_contain(d, GW_TOKEN));
	daemon_done(d);
}

#ifdef VB_TEST_HAVE_TWILIO
/* a store with two SMS providers, http-sms and twilio, each refusing a post
 * to its webhook: both count in one metric, told apart by the provider label,
 * so that one dashboard and one alert serve every store */
static void
test_metrics_providers(void)
{
	g_autoptr(FakeKannel) fake = fake_new();
	g_autofree gchar *settings =
	    g_strdup_printf("preset=kannel\n"
			    "url=http://127.0.0.1:%u/cgi-bin/sendsms\n"
			    "username=vestibule\n"
			    "from=TestStore\n"
			    "[instance:tw]\n"
			    "plugin=twilio\n"
			    "account-sid=AC0123456789abcdef0123456789abcdef\n"
			    "from=+15005550006\n"
			    "base-url=http://127.0.0.1:%u\n",
			    fake->port, fake->port);
	g_autoptr(VbTestDaemon) d = daemon_start("kannel", settings,
						 "password=" PASSWORD "\n"
						 "[instance:tw]\n"
						 "auth-token=5f1c0e2d9a8b7c6d5e4f30211a2b3c4d\n");
	g_autofree gchar *public_url = vb_test_daemon_public_url(d);
	g_autofree gchar *token = vb_test_daemon_create_token(d, "prom", "metrics");
	g_autofree gchar *kannel_hook =
	    g_strdup_printf("%s/hooks/sms/http/kannel/inbound", public_url);
	g_autofree gchar *twilio_hook = g_strdup_printf("%s/hooks/sms/twilio", public_url);
	g_autofree gchar *url = g_strdup_printf("%s/metrics", public_url);
	g_autofree gchar *text = NULL;
	g_autoptr(VbTestExposition) scrape = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GList) families = NULL;
	const gchar *kannel_form = "from=%2B33639981234&text=HELP&secret=guess";
	const gchar *twilio_form = "From=%2B33639981234&Body=HELP&MessageSid=SM1";
	VbTestSample *sample;

	g_assert_cmpuint(vb_gw_http("POST", kannel_hook, "application/x-www-form-urlencoded",
				    kannel_form, strlen(kannel_form), NULL),
			 ==, 403);
	g_assert_cmpuint(vb_gw_http("POST", twilio_hook, "application/x-www-form-urlencoded",
				    twilio_form, strlen(twilio_form), NULL),
			 ==, 403);
	g_assert_cmpuint(vb_test_http("GET", url, token, NULL, NULL, &text), ==, 200);
	scrape = vb_test_exposition_parse(text, &error);
	g_assert_no_error(error);

	g_assert_cmpstr(g_hash_table_lookup(scrape->types, "vestibule_sms_webhooks_rejected_total"),
			==, "counter");
	g_assert_cmpstr(g_hash_table_lookup(scrape->types, "vestibule_sms_provider_requests_total"),
			==, "counter");
	sample = vb_test_exposition_find(scrape, "vestibule_sms_webhooks_rejected_total",
					 "provider", "http-sms", "instance", "kannel", "hook",
					 "inbound", "reason", "bad secret", NULL);
	g_assert_nonnull(sample);
	g_assert_cmpfloat(sample->value, ==, 1);
	sample = vb_test_exposition_find(scrape, "vestibule_sms_webhooks_rejected_total",
					 "provider", "twilio", "instance", "tw", "hook", "inbound",
					 "reason", "no signature", NULL);
	g_assert_nonnull(sample);
	g_assert_cmpfloat(sample->value, ==, 1);
	/* and no metric of a provider's own */
	families = g_hash_table_get_keys(scrape->types);
	for (GList *l = families; l != NULL; l = l->next) {
		g_assert_null(strstr(l->data, "twilio"));
		g_assert_null(strstr(l->data, "http_sms"));
		g_assert_null(strstr(l->data, "kannel"));
	}
	daemon_done(d);
}
#endif

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/http-sms/kannel/gsm7", test_kannel_gsm7);
	g_test_add_func("/http-sms/kannel/ucs2", test_kannel_ucs2);
	g_test_add_func("/http-sms/kannel/inbound", test_inbound);
	g_test_add_func("/http-sms/kannel/gateway-down", test_gateway_down);
	g_test_add_func("/http-sms/kannel/unknown-outcome", test_unknown_outcome);
	g_test_add_func("/http-sms/kannel/unknown-abandoned", test_unknown_abandoned);
	g_test_add_func("/http-sms/template/post-form-basic-auth",
			test_template_post_form_basic_auth);
	g_test_add_func("/http-sms/template/bearer-and-regex", test_template_bearer_and_regex);
#ifdef VB_TEST_HAVE_TWILIO
	g_test_add_func("/http-sms/metrics/providers", test_metrics_providers);
#endif
	return g_test_run();
}
