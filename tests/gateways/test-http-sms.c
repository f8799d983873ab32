/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <libsoup/soup.h>
#include <string.h>

#include "vb-gw-test.h"

/*
 * The http-sms plugin with preset=kannel, end to end: vestibuled runs the
 * simulated store with the plugin as its SMS provider, and a fake Kannel
 * (its /cgi-bin/sendsms on 127.0.0.1) records every request. The tests play
 * the shopper at the door, Kannel's delivery reports and its sms-service
 * posting what shoppers text back, and check what each would notice: the
 * code that arrives and opens the door, the delivery states, the replies.
 */

#define PAN_A "4970107301234564"
#define PHONE_A_TYPED "0639981234"
#define PHONE_A "+33639981234"
#define PASSWORD "kannel-pass-7f3a9c"
#define HOOK_SECRET "hook-secret-5b8e1d2c4a6f"
#define CONTACT "help@vestibule-test.example"

/* ------------------------------------------------------------------------ */
/* the fake Kannel                                                           */
/* ------------------------------------------------------------------------ */

typedef enum {
	FAKE_ACCEPT, /* 202 "0: Accepted for delivery" */
	FAKE_HANG,   /* never answers */
} FakeMode;

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
	GPtrArray *queries; /* the raw query of each sendsms request */
	GPtrArray *held;    /* requests left unanswered */
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
	FakeMode mode;

	g_mutex_lock(&fake->lock);
	g_ptr_array_add(fake->queries, g_strdup(raw != NULL ? raw : ""));
	mode = fake->mode;
	if (mode == FAKE_HANG)
		g_ptr_array_add(fake->held, g_object_ref(msg));
	g_mutex_unlock(&fake->lock);

	if (mode == FAKE_HANG) {
		soup_server_message_pause(msg);
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

static VbTestDaemon *
daemon_new(FakeKannel *fake, const gchar *extra)
{
	VbTestDaemon *d = vb_test_daemon_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *drop_in = NULL;
	g_autofree gchar *secrets = NULL;
	g_autofree gchar *all = NULL;

	drop_in = g_strdup_printf("[vestibule]\n"
				  "operator-contact=" CONTACT "\n"
				  "[services]\n"
				  "sms=kannel\n"
				  "[instance:kannel]\n"
				  "plugin=http-sms\n"
				  "preset=kannel\n"
				  "url=http://127.0.0.1:%u/cgi-bin/sendsms\n"
				  "username=vestibule\n"
				  "from=TestStore\n"
				  "timeout-s=1\n"
				  "%s",
				  fake->port, extra != NULL ? extra : "");
	vb_test_daemon_write_drop_in(d, "50-kannel.conf", drop_in);
	g_assert_true(g_file_get_contents(d->secrets_path, &secrets, NULL, NULL));
	all = g_strconcat(secrets,
			  "[instance:kannel]\n"
			  "password=" PASSWORD "\n"
			  "hook-secret=" HOOK_SECRET "\n",
			  NULL);
	g_assert_true(g_file_set_contents_full(d->secrets_path, all, -1, G_FILE_SET_CONTENTS_NONE,
					       0600, NULL));
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start: %s", error->message);
	return d;
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
	vb_gw_assert_contains(
	    metrics, "vb_sms_http_hook_rejected_total{instance=\"kannel\",hook=\"inbound\"} 2");

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
	return g_test_run();
}
