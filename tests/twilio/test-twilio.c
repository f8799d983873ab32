/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "twilio-harness.h"
#include "vb-error.h"
#include "vb-twilio-signature.h"

/*
 * The twilio plugin against a stateful fake of Twilio's Messages API, run in
 * a thread of the test on 127.0.0.1: it keeps the messages it created, lists
 * them as Twilio does, and misbehaves on demand (5xx, answers that never come,
 * 429, refusals). The daemon is the real one, sending through the real outbox;
 * the test plays the shopper, Twilio's webhooks and the operator.
 */

/* ------------------------------------------------------------------------ */
/* the fake Twilio                                                          */
/* ------------------------------------------------------------------------ */

typedef enum {
	FAKE_OK,
	FAKE_STATUS,		/* an error answer with @status */
	FAKE_SLOW,		/* creates the message, answers after @delay_ms */
	FAKE_STALL_CREATED,	/* creates the message, answers too late */
	FAKE_STALL_NOT_CREATED, /* creates nothing and answers too late */
	FAKE_RATE_LIMITED,	/* 429 with Retry-After: @retry_after */
} FakeKind;

typedef struct {
	FakeKind kind;
	guint status;
	gint code;
	const gchar *message;
	guint delay_ms;
	const gchar *retry_after;
	guint newer; /* messages to the same number created right after this one */
} FakePlan;

typedef struct {
	gchar *sid;
	gchar *to;
	gchar *from;
	gchar *body;
	gchar *status_callback;
	const gchar *status;
	gint64 created; /* unix seconds */
	gint64 sent;	/* unix seconds; 0 while queued: no date_sent yet */
} FakeMessage;

typedef struct {
	gchar *method;
	gchar *authorization;
	GHashTable *form;  /* POST fields */
	GHashTable *query; /* GET parameters */
	gint64 time;	   /* monotonic, µs */
} FakeRequest;

typedef struct {
	GMutex lock;
	GCond cond;
	GThread *thread;
	GMainContext *context;
	GMainLoop *loop;
	SoupServer *server;
	guint port;
	gchar *base_url;
	GQueue plans;
	GPtrArray *messages;
	GPtrArray *requests;
	guint next_sid;
	gchar *next_origin;    /* puts next_page_uri on another host, absolute */
	gchar *next_raw;       /* the JSON of next_page_uri instead of the right one */
	guint lookup_status;   /* every lookup answers this error, while not 0 */
	guint post_status;     /* every send answers this error, while not 0 ... */
	gboolean post_creates; /* ... after creating the message: its outcome unknown */
	gboolean refusing;     /* connections are refused: nothing listens */
	gboolean port_toggled;
} Fake;

static void
fake_message_free(FakeMessage *m)
{
	g_free(m->sid);
	g_free(m->to);
	g_free(m->from);
	g_free(m->body);
	g_free(m->status_callback);
	g_free(m);
}

static void
fake_request_free(FakeRequest *r)
{
	g_free(r->method);
	g_free(r->authorization);
	g_clear_pointer(&r->form, g_hash_table_unref);
	g_clear_pointer(&r->query, g_hash_table_unref);
	g_free(r);
}

static gchar *
fake_date(gint64 seconds, const gchar *format)
{
	g_autoptr(GDateTime) date = g_date_time_new_from_unix_utc(seconds);
	return g_date_time_format(date, format);
}

static gchar *
fake_message_json(FakeMessage *m)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *date = fake_date(m->created, "%a, %d %b %Y %H:%M:%S +0000");
	g_autofree gchar *uri =
	    g_strdup_printf("/2010-04-01/Accounts/" TW_ACCOUNT "/Messages/%s.json", m->sid);

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "account_sid");
	json_builder_add_string_value(b, TW_ACCOUNT);
	json_builder_set_member_name(b, "api_version");
	json_builder_add_string_value(b, "2010-04-01");
	json_builder_set_member_name(b, "body");
	json_builder_add_string_value(b, m->body);
	json_builder_set_member_name(b, "date_created");
	json_builder_add_string_value(b, date);
	json_builder_set_member_name(b, "date_sent");
	if (m->sent != 0) {
		g_autofree gchar *sent = fake_date(m->sent, "%a, %d %b %Y %H:%M:%S +0000");
		json_builder_add_string_value(b, sent);
	} else {
		json_builder_add_null_value(b);
	}
	json_builder_set_member_name(b, "direction");
	json_builder_add_string_value(b, "outbound-api");
	json_builder_set_member_name(b, "error_code");
	json_builder_add_null_value(b);
	json_builder_set_member_name(b, "from");
	json_builder_add_string_value(b, m->from);
	json_builder_set_member_name(b, "num_segments");
	json_builder_add_string_value(b, "1");
	json_builder_set_member_name(b, "sid");
	json_builder_add_string_value(b, m->sid);
	json_builder_set_member_name(b, "status");
	json_builder_add_string_value(b, m->status);
	json_builder_set_member_name(b, "to");
	json_builder_add_string_value(b, m->to);
	json_builder_set_member_name(b, "uri");
	json_builder_add_string_value(b, uri);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	return json_to_string(root, FALSE);
}

static void
fake_reply(SoupServerMessage *msg, guint status, const gchar *json)
{
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, json,
					 strlen(json));
}

static void
fake_reply_error(SoupServerMessage *msg, guint status, gint code, const gchar *message)
{
	g_autofree gchar *json =
	    g_strdup_printf("{\"code\": %d, \"message\": \"%s\", \"more_info\": "
			    "\"https://www.twilio.com/docs/errors/%d\", \"status\": %u}",
			    code, message, code, status);
	fake_reply(msg, status, json);
}

/* with the lock held */
static FakeMessage *
fake_add(Fake *fake, const gchar *to, const gchar *body, gint64 created, gint64 sent)
{
	FakeMessage *m = g_new0(FakeMessage, 1);

	m->sid = g_strdup_printf("SM%032x", ++fake->next_sid);
	m->to = g_strdup(to);
	m->from = g_strdup(TW_FROM);
	m->body = g_strdup(body);
	m->status = sent != 0 ? "delivered" : "queued";
	m->created = created;
	m->sent = sent;
	g_ptr_array_add(fake->messages, m);
	return m;
}

/* with the lock held; as POSTed, so still queued */
static FakeMessage *
fake_create(Fake *fake, GHashTable *form, guint newer)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	FakeMessage *m = fake_add(fake, g_hash_table_lookup(form, "To"),
				  g_hash_table_lookup(form, "Body"), now, 0);

	g_free(m->from);
	m->from = g_strdup(g_hash_table_lookup(form, "From"));
	m->status_callback = g_strdup(g_hash_table_lookup(form, "StatusCallback"));
	/* others' messages to the same number, already delivered */
	for (guint i = 0; i < newer; i++) {
		g_autofree gchar *body = g_strdup_printf("Another shop's message %u", i);
		fake_add(fake, m->to, body, now, now);
	}
	return m;
}

typedef struct {
	Fake *fake;
	SoupServerMessage *msg;
	gboolean gone;
	gchar *json; /* NULL: answer 500 */
} FakeDelayed;

static void
fake_delayed_gone_cb(SoupServerMessage *msg, gpointer user_data)
{
	FakeDelayed *delayed = user_data;
	delayed->gone = TRUE;
}

static gboolean
fake_delayed_cb(gpointer user_data)
{
	FakeDelayed *delayed = user_data;

	g_signal_handlers_disconnect_by_data(delayed->msg, delayed);
	if (!delayed->gone) {
		if (delayed->json != NULL)
			fake_reply(delayed->msg, SOUP_STATUS_CREATED, delayed->json);
		else
			fake_reply_error(delayed->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, 20500,
					 "Internal Server Error");
		soup_server_message_unpause(delayed->msg);
	}
	g_object_unref(delayed->msg);
	g_free(delayed->json);
	g_free(delayed);
	return G_SOURCE_REMOVE;
}

static void
fake_delay(Fake *fake, SoupServerMessage *msg, guint delay_ms, gchar *json)
{
	FakeDelayed *delayed = g_new0(FakeDelayed, 1);
	g_autoptr(GSource) source = g_timeout_source_new(delay_ms);

	delayed->fake = fake;
	delayed->msg = g_object_ref(msg);
	delayed->json = json;
	g_signal_connect(msg, "disconnected", G_CALLBACK(fake_delayed_gone_cb), delayed);
	g_signal_connect(msg, "finished", G_CALLBACK(fake_delayed_gone_cb), delayed);
	soup_server_message_pause(msg);
	g_source_set_callback(source, fake_delayed_cb, delayed, NULL);
	g_source_attach(source, fake->context);
}

/* whether @m passes the list's DateSent filters, as Twilio reads them: a day,
 * YYYY-MM-DD in GMT, compared with date_sent, which a queued message has not */
static gboolean
fake_date_filters(FakeMessage *m, GHashTable *query, gboolean *valid)
{
	static const gchar *const names[] = {"DateSent", "DateSent<", "DateSent>"};
	g_autofree gchar *day = m->sent != 0 ? fake_date(m->sent, "%Y-%m-%d") : NULL;
	gboolean pass = TRUE;

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		const gchar *value = query != NULL ? g_hash_table_lookup(query, names[i]) : NULL;
		gint cmp;

		if (value == NULL)
			continue;
		if (strlen(value) != 10 || value[4] != '-' || value[7] != '-') {
			*valid = FALSE;
			return FALSE;
		}
		cmp = day != NULL ? strcmp(day, value) : 0;
		if (day == NULL || (i == 0 && cmp != 0) || (i == 1 && cmp > 0) ||
		    (i == 2 && cmp < 0))
			pass = FALSE;
	}
	return pass;
}

/* the filters of a list request, as they go into its page URIs */
static gchar *
fake_filters(GHashTable *query)
{
	static const gchar *const names[] = {"To", "From", "DateSent", "DateSent<", "DateSent>"};
	GString *out = g_string_new(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		const gchar *value = query != NULL ? g_hash_table_lookup(query, names[i]) : NULL;
		g_autofree gchar *name = NULL;
		g_autofree gchar *escaped = NULL;

		if (value == NULL)
			continue;
		name = g_uri_escape_string(names[i], NULL, FALSE);
		escaped = g_uri_escape_string(value, NULL, FALSE);
		g_string_append_printf(out, "%s=%s&", name, escaped);
	}
	return g_string_free(out, FALSE);
}

/* the recipient's messages, newest first, a page at a time: next_page_uri
 * carries a PageToken, the sid the next page starts after, as Twilio's cursor */
static void
fake_list(Fake *fake, SoupServerMessage *msg, const gchar *path, GHashTable *query)
{
	const gchar *to = query != NULL ? g_hash_table_lookup(query, "To") : NULL;
	const gchar *size_text = query != NULL ? g_hash_table_lookup(query, "PageSize") : NULL;
	const gchar *page_text = query != NULL ? g_hash_table_lookup(query, "Page") : NULL;
	const gchar *token = query != NULL ? g_hash_table_lookup(query, "PageToken") : NULL;
	g_autoptr(GPtrArray) listed = g_ptr_array_new();
	g_autoptr(GString) json = g_string_new("{\"messages\": [");
	g_autofree gchar *filters = fake_filters(query);
	g_autofree gchar *next = NULL;
	guint64 size = 50;
	guint64 page = 0;
	gboolean valid = TRUE;
	guint start = 0;
	guint end;

	if ((size_text != NULL &&
	     !g_ascii_string_to_unsigned(size_text, 10, 1, 1000, &size, NULL)) ||
	    (page_text != NULL &&
	     !g_ascii_string_to_unsigned(page_text, 10, 0, G_MAXUINT, &page, NULL))) {
		fake_reply_error(msg, SOUP_STATUS_BAD_REQUEST, 20001, "Invalid paging parameter");
		return;
	}
	/* newest first, as Twilio lists them */
	for (guint i = fake->messages->len; i > 0; i--) {
		FakeMessage *m = g_ptr_array_index(fake->messages, i - 1);
		if (to != NULL && g_strcmp0(m->to, to) != 0)
			continue;
		if (fake_date_filters(m, query, &valid))
			g_ptr_array_add(listed, m);
	}
	if (!valid) {
		fake_reply_error(msg, SOUP_STATUS_BAD_REQUEST, 20001, "Invalid date value");
		return;
	}
	if (token != NULL) {
		gboolean found = FALSE;
		for (guint i = 0; i < listed->len && !found; i++) {
			FakeMessage *m = g_ptr_array_index(listed, i);
			if (g_str_has_prefix(token, "PA") && g_strcmp0(token + 2, m->sid) == 0) {
				start = i + 1;
				found = TRUE;
			}
		}
		if (!found) {
			fake_reply_error(msg, SOUP_STATUS_BAD_REQUEST, 20001, "Invalid PageToken");
			return;
		}
	} else if (page > 0) {
		fake_reply_error(msg, SOUP_STATUS_BAD_REQUEST, 20001,
				 "A page after the first needs the PageToken of next_page_uri");
		return;
	}
	end = MIN(start + (guint)size, listed->len);
	for (guint i = start; i < end; i++) {
		g_autofree gchar *one = fake_message_json(g_ptr_array_index(listed, i));
		g_string_append_printf(json, "%s%s", i > start ? ", " : "", one);
	}
	if (end < listed->len && fake->next_raw != NULL) {
		next = g_strdup(fake->next_raw);
	} else if (end < listed->len) {
		FakeMessage *last = g_ptr_array_index(listed, end - 1);
		next = g_strdup_printf("\"%s%s?%sPageSize=%u&Page=%u&PageToken=PA%s\"",
				       fake->next_origin != NULL ? fake->next_origin : "", path,
				       filters, (guint)size, (guint)page + 1, last->sid);
	}
	g_string_append_printf(json,
			       "], \"uri\": \"%s?%sPageSize=%u&Page=%u\", "
			       "\"first_page_uri\": \"%s?%sPageSize=%u&Page=0\", "
			       "\"previous_page_uri\": null, \"next_page_uri\": %s, "
			       "\"page\": %u, \"page_size\": %u, \"start\": %u, \"end\": %u}",
			       path, filters, (guint)size, (guint)page, path, filters, (guint)size,
			       next != NULL ? next : "null", (guint)page, (guint)size, start,
			       end > 0 ? end - 1 : 0);
	fake_reply(msg, SOUP_STATUS_OK, json->str);
}

static void
fake_handler(SoupServer *server,
	     SoupServerMessage *msg,
	     const char *path,
	     GHashTable *query,
	     gpointer user_data)
{
	Fake *fake = user_data;
	const gchar *method = soup_server_message_get_method(msg);
	const gchar *auth = soup_message_headers_get_one(
	    soup_server_message_get_request_headers(msg), "Authorization");
	g_autofree gchar *plain = g_base64_encode((const guchar *)TW_ACCOUNT ":" TW_TOKEN,
						  strlen(TW_ACCOUNT ":" TW_TOKEN));
	g_autofree gchar *expected = g_strconcat("Basic ", plain, NULL);
	g_autofree gchar *key_plain = g_base64_encode((const guchar *)TW_API_KEY ":" TW_API_SECRET,
						      strlen(TW_API_KEY ":" TW_API_SECRET));
	g_autofree gchar *key_expected = g_strconcat("Basic ", key_plain, NULL);
	G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	FakeRequest *request = g_new0(FakeRequest, 1);
	g_autofree FakePlan *plan = NULL;
	FakeMessage *m;

	request->method = g_strdup(method);
	request->authorization = g_strdup(auth);
	request->time = g_get_monotonic_time();
	if (query != NULL)
		request->query = g_hash_table_ref(query);
	g_ptr_array_add(fake->requests, request);

	if (g_strcmp0(path, "/2010-04-01/Accounts/" TW_ACCOUNT "/Messages.json") != 0) {
		fake_reply_error(msg, SOUP_STATUS_NOT_FOUND, 20404,
				 "The requested resource was "
				 "not found");
		return;
	}
	if (g_strcmp0(auth, expected) != 0 && g_strcmp0(auth, key_expected) != 0) {
		fake_reply_error(msg, SOUP_STATUS_UNAUTHORIZED, 20003, "Authenticate");
		return;
	}
	if (method == SOUP_METHOD_GET && fake->lookup_status != 0) {
		fake_reply_error(msg, fake->lookup_status, 20000 + fake->lookup_status,
				 "The lookup is failing");
		return;
	}
	if (method == SOUP_METHOD_GET) {
		fake_list(fake, msg, path, query);
		return;
	}
	{
		GBytes *flat = soup_message_body_flatten(soup_server_message_get_request_body(msg));
		g_autofree gchar *text =
		    g_strndup(g_bytes_get_data(flat, NULL), g_bytes_get_size(flat));
		g_bytes_unref(flat);
		request->form = soup_form_decode(text);
	}
	if (fake->post_status != 0) {
		if (fake->post_creates)
			fake_create(fake, request->form, 0);
		fake_reply_error(msg, fake->post_status, 20000 + fake->post_status,
				 "The service is failing");
		return;
	}
	plan = g_queue_pop_head(&fake->plans);
	switch (plan != NULL ? plan->kind : FAKE_OK) {
	case FAKE_OK: {
		g_autofree gchar *json = NULL;
		m = fake_create(fake, request->form, plan != NULL ? plan->newer : 0);
		json = fake_message_json(m);
		fake_reply(msg, SOUP_STATUS_CREATED, json);
		break;
	}
	case FAKE_STATUS: {
		/* Twilio quotes the number it refuses */
		g_autofree gchar *text =
		    g_strdup_printf("%s %s", plan->message,
				    (const gchar *)g_hash_table_lookup(request->form, "To"));
		fake_reply_error(msg, plan->status, plan->code, text);
		break;
	}
	case FAKE_SLOW:
	case FAKE_STALL_CREATED:
		m = fake_create(fake, request->form, plan->newer);
		fake_delay(fake, msg, plan->delay_ms, fake_message_json(m));
		break;
	case FAKE_STALL_NOT_CREATED:
		fake_delay(fake, msg, plan->delay_ms, NULL);
		break;
	case FAKE_RATE_LIMITED:
		soup_message_headers_replace(soup_server_message_get_response_headers(msg),
					     "Retry-After", plan->retry_after);
		fake_reply_error(msg, 429, 20429, "Too Many Requests");
		break;
	default:
		g_assert_not_reached();
	}
}

static gpointer
fake_thread(gpointer user_data)
{
	Fake *fake = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
	GSList *uris;

	g_main_context_push_thread_default(fake->context);
	fake->server = soup_server_new("server-header", "fake-twilio", NULL);
	soup_server_add_handler(fake->server, "/2010-04-01", fake_handler, fake, NULL);
	g_assert_true(soup_server_listen(fake->server, address, 0, &error));
	g_assert_no_error(error);
	uris = soup_server_get_uris(fake->server);
	g_mutex_lock(&fake->lock);
	fake->port = (guint)g_uri_get_port(uris->data);
	fake->base_url = g_strdup_printf("http://127.0.0.1:%u", fake->port);
	g_cond_signal(&fake->cond);
	g_mutex_unlock(&fake->lock);
	g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);

	g_main_loop_run(fake->loop);
	soup_server_disconnect(fake->server);
	g_clear_object(&fake->server);
	/* what the server still held goes now, in this context */
	while (g_main_context_iteration(fake->context, FALSE))
		;
	g_main_context_pop_thread_default(fake->context);
	return NULL;
}

/* in the fake's thread: stops listening, or listens again on the same port */
static gboolean
fake_refuse_cb(gpointer user_data)
{
	Fake *fake = user_data;
	g_autoptr(GError) error = NULL;

	g_mutex_lock(&fake->lock);
	if (fake->refusing) {
		soup_server_disconnect(fake->server);
	} else {
		g_autoptr(GInetAddress) loopback =
		    g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
		g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, fake->port);
		g_assert_true(soup_server_listen(fake->server, address, 0, &error));
		g_assert_no_error(error);
	}
	fake->port_toggled = TRUE;
	g_cond_signal(&fake->cond);
	g_mutex_unlock(&fake->lock);
	return G_SOURCE_REMOVE;
}

static void
fake_set_refusing(Fake *fake, gboolean refusing)
{
	g_mutex_lock(&fake->lock);
	fake->refusing = refusing;
	fake->port_toggled = FALSE;
	g_mutex_unlock(&fake->lock);
	g_main_context_invoke(fake->context, fake_refuse_cb, fake);
	g_mutex_lock(&fake->lock);
	while (!fake->port_toggled)
		g_cond_wait(&fake->cond, &fake->lock);
	g_mutex_unlock(&fake->lock);
}

static void
fake_set_failing(Fake *fake, guint post_status, gboolean post_creates, guint lookup_status)
{
	G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	fake->post_status = post_status;
	fake->post_creates = post_creates;
	fake->lookup_status = lookup_status;
}

static Fake *
fake_new(void)
{
	Fake *fake = g_new0(Fake, 1);

	g_mutex_init(&fake->lock);
	g_cond_init(&fake->cond);
	g_queue_init(&fake->plans);
	fake->messages = g_ptr_array_new_with_free_func((GDestroyNotify)fake_message_free);
	fake->requests = g_ptr_array_new_with_free_func((GDestroyNotify)fake_request_free);
	fake->context = g_main_context_new();
	fake->loop = g_main_loop_new(fake->context, FALSE);
	g_mutex_lock(&fake->lock);
	fake->thread = g_thread_new("fake-twilio", fake_thread, fake);
	while (fake->port == 0)
		g_cond_wait(&fake->cond, &fake->lock);
	g_mutex_unlock(&fake->lock);
	return fake;
}

static gboolean
fake_quit_cb(gpointer user_data)
{
	Fake *fake = user_data;
	g_main_loop_quit(fake->loop);
	return G_SOURCE_REMOVE;
}

static void
fake_free(Fake *fake)
{
	g_main_context_invoke(fake->context, fake_quit_cb, fake);
	g_thread_join(fake->thread);
	g_main_loop_unref(fake->loop);
	g_main_context_unref(fake->context);
	g_queue_clear_full(&fake->plans, g_free);
	g_ptr_array_unref(fake->messages);
	g_ptr_array_unref(fake->requests);
	g_free(fake->base_url);
	g_free(fake->next_origin);
	g_free(fake->next_raw);
	g_mutex_clear(&fake->lock);
	g_cond_clear(&fake->cond);
	g_free(fake);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Fake, fake_free)

static void
fake_plan(Fake *fake, FakePlan plan)
{
	g_mutex_lock(&fake->lock);
	g_queue_push_tail(&fake->plans, g_memdup2(&plan, sizeof(plan)));
	g_mutex_unlock(&fake->lock);
}

static guint
fake_count(Fake *fake, const gchar *method)
{
	G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	guint n = 0;

	for (guint i = 0; i < fake->requests->len; i++) {
		FakeRequest *r = g_ptr_array_index(fake->requests, i);
		n += g_strcmp0(r->method, method) == 0;
	}
	return n;
}

/* lookups that asked for a page after the first */
static guint
fake_count_later_pages(Fake *fake)
{
	G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	guint n = 0;

	for (guint i = 0; i < fake->requests->len; i++) {
		FakeRequest *r = g_ptr_array_index(fake->requests, i);
		if (g_strcmp0(r->method, "GET") == 0 && r->query != NULL &&
		    (g_hash_table_contains(r->query, "PageToken") ||
		     g_strcmp0(g_hash_table_lookup(r->query, "Page"), "0") > 0))
			n++;
	}
	return n;
}

static guint
fake_n_messages(Fake *fake)
{
	G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	return fake->messages->len;
}

/* @n delivered messages to @to, older than anything the test sends */
static void
fake_seed(Fake *fake, const gchar *to, guint n)
{
	G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	gint64 then = g_get_real_time() / G_USEC_PER_SEC - 2 * 3600;

	for (guint i = 0; i < n; i++) {
		g_autofree gchar *body = g_strdup_printf("An earlier message %u", i);
		fake_add(fake, to, body, then, then);
	}
}

/* how many of the messages went to @to with the text @body: what the handset got */
static guint
fake_n_received(Fake *fake, const gchar *to, const gchar *body)
{
	G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	guint n = 0;

	for (guint i = 0; i < fake->messages->len; i++) {
		FakeMessage *m = g_ptr_array_index(fake->messages, i);
		n += g_strcmp0(m->to, to) == 0 && g_strcmp0(m->body, body) == 0;
	}
	return n;
}

/* a copy of the query parameter @name of the @i-th GET; NULL if it had none */
static gchar *
fake_get_query(Fake *fake, guint i, const gchar *name)
{
	G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	guint n = 0;

	for (guint j = 0; j < fake->requests->len; j++) {
		FakeRequest *r = g_ptr_array_index(fake->requests, j);
		if (g_strcmp0(r->method, "GET") != 0)
			continue;
		if (n++ == i)
			return r->query != NULL ? g_strdup(g_hash_table_lookup(r->query, name))
						: NULL;
	}
	g_error("the fake Twilio had %u lookups, not %u", n, i + 1);
}

/* a copy of message @i's member, oldest first */
static gchar *
fake_message_get(Fake *fake, guint i, const gchar *what)
{
	G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	FakeMessage *m;

	g_assert_cmpuint(i, <, fake->messages->len);
	m = g_ptr_array_index(fake->messages, i);
	if (g_strcmp0(what, "sid") == 0)
		return g_strdup(m->sid);
	if (g_strcmp0(what, "to") == 0)
		return g_strdup(m->to);
	if (g_strcmp0(what, "from") == 0)
		return g_strdup(m->from);
	if (g_strcmp0(what, "body") == 0)
		return g_strdup(m->body);
	if (g_strcmp0(what, "status-callback") == 0)
		return g_strdup(m->status_callback);
	g_assert_not_reached();
}

typedef struct {
	Fake *fake;
	guint n;
} FakeWait;

static gboolean
fake_has_messages_cb(gpointer user_data)
{
	FakeWait *wait = user_data;
	return fake_n_messages(wait->fake) >= wait->n;
}

static void
fake_wait_messages(Fake *fake, guint n)
{
	FakeWait wait = {fake, n};

	if (!vb_test_poll(fake_has_messages_cb, &wait, TW_WAIT_MS))
		g_error("the fake Twilio has %u messages, expected %u", fake_n_messages(fake), n);
}

/* the times of the POSTs, µs, monotonic */
static GArray *
fake_post_times(Fake *fake)
{
	G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	GArray *times = g_array_new(FALSE, FALSE, sizeof(gint64));

	for (guint i = 0; i < fake->requests->len; i++) {
		FakeRequest *r = g_ptr_array_index(fake->requests, i);
		if (g_strcmp0(r->method, "POST") == 0)
			g_array_append_val(times, r->time);
	}
	return times;
}

/* ------------------------------------------------------------------------ */
/* helpers                                                                  */
/* ------------------------------------------------------------------------ */

static VbTestDaemon *
daemon_for(Fake *fake, const gchar *drop_in)
{
	return tw_daemon_new(fake->base_url, NULL, drop_in);
}

/* the only SMS outbox item's "state|result|error" */
static gchar *
only_item(VbTestDaemon *d)
{
	g_autoptr(GPtrArray) items = tw_outbox_sms(d);

	g_assert_cmpuint(items->len, ==, 1);
	return g_strdup(g_ptr_array_index(items, 0));
}

/* the only SMS outbox item is done, as the fake's message @index, which was
 * posted once: what the shopper receives once */
static void
assert_done_as(VbTestDaemon *d, Fake *fake, guint index)
{
	g_autofree gchar *sid = fake_message_get(fake, index, "sid");
	g_autofree gchar *item = only_item(d);

	g_assert_true(g_str_has_prefix(item, "done|"));
	tw_assert_contains(item, sid);
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 1);
}

static void
restart(VbTestDaemon *d)
{
	g_autoptr(GError) error = NULL;

	vb_test_daemon_kill(d);
	if (!vb_test_daemon_start(d, &error))
		g_error("vestibuled did not start again: %s", error->message);
}

static guint
count_alerts_saying(VbTestDaemon *d, const gchar *needle)
{
	g_autoptr(GPtrArray) alerts = vb_test_daemon_events(d, "alert");
	guint n = 0;

	for (guint i = 0; i < alerts->len; i++)
		n += strstr(g_ptr_array_index(alerts, i), needle) != NULL;
	return n;
}

static gchar *
db_text(VbTestDaemon *d, const gchar *sql)
{
	g_autoptr(sqlite3) db = vb_test_daemon_open_db(d, FALSE);
	sqlite3_stmt *stmt = NULL;
	gchar *value = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		g_error("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
		value = g_strdup((const gchar *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return value;
}

/* the daemon never wrote the auth token or the shopper's number anywhere */
static void
assert_no_secrets(VbTestDaemon *d)
{
	g_autofree gchar *log = vb_test_daemon_read_log(d);

	g_assert_false(vb_test_daemon_files_contain(d, TW_TOKEN));
	tw_assert_not_contains(log, PHONE_A);
}

/* ------------------------------------------------------------------------ */
/* the tests                                                                */
/* ------------------------------------------------------------------------ */

/* the plugin's signature and the test's both give the example of Twilio's
 * documentation, so a post the test signs is one Twilio would have signed */
static void
test_signature_vector(void)
{
	const gchar *fields[] = {
	    "CallSid", "CA1234567890ABCDE", "Caller", "+14158675310", "Digits", "1234",
	    "From",    "+14158675310",	    "To",     "+18005551212", NULL};
	const gchar *url = "https://mycompany.com/myapp.php?foo=1&bar=2";
	const gchar *expected = "GvWf1cFY/Q7PnoempGyD5oXAezc=";
	g_autoptr(GPtrArray) params = NULL;
	g_autoptr(GString) form = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *ours = NULL;
	g_autofree gchar *theirs = tw_sign("12345", url, fields);

	for (guint i = 0; fields[i] != NULL; i += 2) {
		g_autofree gchar *v = g_uri_escape_string(fields[i + 1], NULL, FALSE);
		g_string_append_printf(form, "%s%s=%s", i > 0 ? "&" : "", fields[i], v);
	}
	params = vb_secure_form_decode(form->str, (gssize)form->len, VB_SECURE_FORM_NONE, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(params->len, ==, 5);
	ours = vb_twilio_signature_compute((const guint8 *)"12345", 5, url, params);
	g_assert_cmpstr(theirs, ==, expected);
	g_assert_cmpstr(ours, ==, expected);
	g_assert_true(vb_twilio_signature_check((const guint8 *)"12345", 5, url, params, expected));
	/* Twilio may sign the URL with the default port spelt out */
	g_assert_true(vb_twilio_signature_check((const guint8 *)"12345", 5,
						"https://mycompany.com:443/myapp.php?foo=1&bar=2",
						params, expected));
	/* another token, another URL, one character off, none: refused */
	g_assert_false(
	    vb_twilio_signature_check((const guint8 *)"12346", 5, url, params, expected));
	g_assert_false(vb_twilio_signature_check((const guint8 *)"12345", 5,
						 "https://mycompany.com/myapp.php?foo=1&bar=3",
						 params, expected));
	g_assert_false(vb_twilio_signature_check((const guint8 *)"12345", 5, url, params,
						 "GvWf1cFY/Q7PnoempGyD5oXAezd="));
	g_assert_false(vb_twilio_signature_check((const guint8 *)"12345", 5, url, params, ""));
	/* a form that is not one */
	g_clear_pointer(&params, g_ptr_array_unref);
	params = vb_secure_form_decode("Body=%ZZ", 8, VB_SECURE_FORM_NONE, &error);
	g_assert_null(params);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
}

/* a visit's notice goes out through Twilio: the request is what Twilio
 * expects and the message's sid is what the outbox records */
static void
test_send(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = daemon_for(fake, NULL);
	G_GNUC_UNUSED g_autofree gchar *visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	g_autofree gchar *sid = NULL;
	g_autofree gchar *to = NULL;
	g_autofree gchar *from = NULL;
	g_autofree gchar *body = NULL;
	g_autofree gchar *callback = NULL;
	g_autofree gchar *item = NULL;
	g_autofree gchar *base = NULL;
	g_autofree gchar *prefix = NULL;
	g_autofree gchar *row = NULL;
	g_autofree gchar *out = NULL;

	fake_wait_messages(fake, 1);
	tw_wait_outbox_idle(d);
	sid = fake_message_get(fake, 0, "sid");
	to = fake_message_get(fake, 0, "to");
	from = fake_message_get(fake, 0, "from");
	body = fake_message_get(fake, 0, "body");
	callback = fake_message_get(fake, 0, "status-callback");
	g_assert_cmpstr(to, ==, PHONE_A);
	g_assert_cmpstr(from, ==, TW_FROM);
	g_assert_cmpstr(body, ==, NOTICE_EN);
	/* delivery reports come back to our public listener, tagged */
	base = vb_test_daemon_public_url(d);
	prefix = g_strdup_printf("%s/hooks/sms/twilio/status?t=", base);
	g_assert_true(g_str_has_prefix(callback, prefix));
	/* one POST, no lookup */
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 1);
	g_assert_cmpuint(fake_count(fake, "GET"), ==, 0);

	/* the outbox holds Twilio's sid; the plugin's table its status */
	item = only_item(d);
	g_assert_true(g_str_has_prefix(item, "done|"));
	tw_assert_contains(item, sid);
	row = db_text(d, "SELECT state || ' ' || sid || ' ' || status FROM p_twilio_messages");
	g_assert_nonnull(row);
	{
		g_autofree gchar *expected = g_strdup_printf("sent %s queued", sid);
		g_assert_cmpstr(row, ==, expected);
	}
	/* what the operator sees */
	g_assert_cmpint(tw_status_int(d, "sent"), ==, 1);
	g_assert_cmpint(tw_status_int(d, "failed"), ==, 0);
	g_assert_cmpint(vb_test_daemon_run_ctl(d, &out, NULL, "status", NULL), ==, 0);
	tw_assert_contains(out, "AC0123");
	tw_assert_not_contains(out, TW_ACCOUNT);
	assert_no_secrets(d);
	tw_stop(d);
}

/* 5xx answers are retried, each retry after a lookup that finds nothing, and
 * the shopper gets the message once */
static void
test_server_errors(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *visit = NULL;
	g_autofree gchar *item = NULL;

	fake_plan(fake, (FakePlan){FAKE_STATUS, 500, 20500, "Internal Server Error"});
	fake_plan(fake, (FakePlan){FAKE_STATUS, 503, 20503, "Service Unavailable"});
	d = daemon_for(fake, NULL);
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	fake_wait_messages(fake, 1);
	tw_wait_outbox_idle(d);
	g_assert_cmpuint(fake_n_messages(fake), ==, 1);
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 3);
	g_assert_cmpuint(fake_count(fake, "GET"), ==, 2);
	item = only_item(d);
	g_assert_true(g_str_has_prefix(item, "done|"));
	tw_stop(d);
}

/* the answer never comes but Twilio created the message: the lookup finds
 * it and nothing is sent again */
static void
test_timeout_created(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *visit = NULL;

	fake_plan(fake, (FakePlan){FAKE_STALL_CREATED, .delay_ms = 3000});
	d = daemon_for(fake, NULL);
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	fake_wait_messages(fake, 1);
	tw_wait_outbox_idle(d);
	assert_done_as(d, fake, 0);
	g_assert_cmpuint(fake_count(fake, "GET"), >=, 1);
	g_assert_cmpuint(fake_n_messages(fake), ==, 1);
	g_assert_cmpint(tw_status_int(d, "found-after-unknown"), ==, 1);
	tw_stop(d);
}

/* the same, with the daemon killed while the send is out: after the restart
 * the lookup finds the message, which is not sent again */
static void
test_timeout_created_kill(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *visit = NULL;

	fake_plan(fake, (FakePlan){FAKE_STALL_CREATED, .delay_ms = 3000});
	d = daemon_for(fake, NULL);
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	fake_wait_messages(fake, 1);
	restart(d);
	tw_wait_outbox_idle(d);
	assert_done_as(d, fake, 0);
	g_assert_cmpuint(fake_count(fake, "GET"), >=, 1);
	g_assert_cmpuint(fake_n_messages(fake), ==, 1);
	g_assert_cmpuint(fake_n_received(fake, PHONE_A, NOTICE_EN), ==, 1);
	tw_stop(d);
}

/* the answer never comes and Twilio created nothing: one more POST */
static void
test_timeout_not_created(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *visit = NULL;
	g_autofree gchar *item = NULL;
	g_autofree gchar *body = NULL;

	fake_plan(fake, (FakePlan){FAKE_STALL_NOT_CREATED, .delay_ms = 3000});
	d = daemon_for(fake, NULL);
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	fake_wait_messages(fake, 1);
	tw_wait_outbox_idle(d);
	g_assert_cmpuint(fake_n_messages(fake), ==, 1);
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 2);
	g_assert_cmpuint(fake_count(fake, "GET"), >=, 1);
	body = fake_message_get(fake, 0, "body");
	g_assert_cmpstr(body, ==, NOTICE_EN);
	item = only_item(d);
	g_assert_true(g_str_has_prefix(item, "done|"));
	g_assert_cmpint(tw_status_int(d, "found-after-unknown"), ==, 0);
	tw_stop(d);
}

/* the core gives up waiting ([sms] send-timeout-s) and retries the item while
 * the first request is still out: the retry waits for it, nothing goes twice */
static void
test_retry_while_in_flight(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *visit = NULL;

	fake_plan(fake, (FakePlan){FAKE_SLOW, .delay_ms = 3000});
	d = tw_daemon_new(fake->base_url, "timeout-s=10\n", "[sms]\nsend-timeout-s=1\n");
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	fake_wait_messages(fake, 1);
	tw_wait_outbox_idle(d);
	assert_done_as(d, fake, 0);
	g_assert_cmpuint(fake_count(fake, "GET"), ==, 0);
	g_assert_cmpuint(fake_n_messages(fake), ==, 1);
	tw_stop(d);
}

/* the answer is lost, but the message's delivery report, which carries the
 * tag of its StatusCallback URL, arrives first: no lookup, no second POST */
static void
test_timeout_reported(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *visit = NULL;
	g_autofree gchar *sid = NULL;
	g_autofree gchar *callback = NULL;

	fake_plan(fake, (FakePlan){FAKE_STALL_CREATED, .delay_ms = 3000});
	d = tw_daemon_new(fake->base_url, "unknown-outcome-wait-s=4\n", NULL);
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	fake_wait_messages(fake, 1);
	sid = fake_message_get(fake, 0, "sid");
	callback = fake_message_get(fake, 0, "status-callback");
	{
		const gchar *fields[] = {"MessageSid", sid,  "MessageStatus", "sent", "AccountSid",
					 TW_ACCOUNT,   "To", PHONE_A,	      "From", TW_FROM,
					 NULL};
		g_assert_cmpuint(tw_post_signed(callback, fields, NULL), ==, 204);
	}
	tw_wait_outbox_idle(d);
	assert_done_as(d, fake, 0);
	g_assert_cmpuint(fake_count(fake, "GET"), ==, 0);
	g_assert_cmpint(tw_status_int(d, "found-after-unknown"), ==, 1);
	tw_stop(d);
}

/* the lookup for a number with a long history: the message whose answer was
 * lost is on the third page of the recipient's messages. The lookup follows
 * next_page_uri to it and adopts it: the shopper gets it once */
static void
test_lookup_third_page(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *visit = NULL;

	/* 120 messages reach the number right after ours: ours is the 121st */
	fake_seed(fake, PHONE_A, 30);
	fake_plan(fake, (FakePlan){FAKE_STALL_CREATED, .delay_ms = 3000, .newer = 120});
	d = daemon_for(fake, NULL);
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	fake_wait_messages(fake, 151);
	tw_wait_outbox_idle(d);
	assert_done_as(d, fake, 30);
	g_assert_cmpuint(fake_n_received(fake, PHONE_A, NOTICE_EN), ==, 1);
	g_assert_cmpint(tw_status_int(d, "found-after-unknown"), ==, 1);

	/* three pages of 50: the first asks for the recipient's messages, the
	 * others are next_page_uri as the fake gave it, with its cursor */
	g_assert_cmpuint(fake_count(fake, "GET"), ==, 3);
	for (guint i = 0; i < 3; i++) {
		g_autofree gchar *to = fake_get_query(fake, i, "To");
		g_autofree gchar *size = fake_get_query(fake, i, "PageSize");
		g_autofree gchar *token = fake_get_query(fake, i, "PageToken");
		g_autofree gchar *after = fake_get_query(fake, i, "DateSent>");
		g_autofree gchar *on = fake_get_query(fake, i, "DateSent");
		g_assert_cmpstr(to, ==, PHONE_A);
		g_assert_cmpstr(size, ==, "50");
		if (i == 0)
			g_assert_null(token);
		else
			g_assert_nonnull(token);
		/* no DateSent filter: ours is still queued, without a date_sent, and
		 * Twilio's filter would leave it out of the list */
		g_assert_null(after);
		g_assert_null(on);
	}
	tw_stop(d);
}

typedef struct {
	VbTestDaemon *d;
	const gchar *needle;
} ItemWait;

static gboolean
item_error_cb(gpointer user_data)
{
	ItemWait *wait = user_data;
	g_autofree gchar *item = only_item(wait->d);
	return strstr(item, wait->needle) != NULL;
}

/* waits until the only SMS item's last error says @needle; returns the item */
static gchar *
wait_item_error(VbTestDaemon *d, const gchar *needle)
{
	ItemWait wait = {d, needle};

	if (!vb_test_poll(item_error_cb, &wait, TW_WAIT_MS)) {
		g_autofree gchar *item = only_item(d);
		g_error("the SMS item never said '%s': %s", needle, item);
	}
	return only_item(d);
}

/* more of the recipient's messages than the lookup reads, none of them ours:
 * the outcome stays unknown, so nothing is sent again and the item waits */
static void
test_lookup_page_limit(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *visit = NULL;
	g_autofree gchar *item = NULL;
	g_autofree gchar *out = NULL;

	/* 22 pages of 50 */
	fake_seed(fake, PHONE_A, 1100);
	fake_plan(fake, (FakePlan){FAKE_STALL_NOT_CREATED, .delay_ms = 3000});
	d = daemon_for(fake, NULL);
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	item = wait_item_error(d, "gave up after 20 pages");
	g_test_message("the outbox item: %s", item);
	g_assert_false(g_str_has_prefix(item, "done|"));
	g_assert_false(g_str_has_prefix(item, "dead|"));
	tw_assert_not_contains(item, PHONE_A);
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 1);
	g_assert_cmpuint(fake_count(fake, "GET"), >=, 20);
	g_assert_cmpuint(fake_n_received(fake, PHONE_A, NOTICE_EN), ==, 0);
	g_assert_cmpint(tw_status_int(d, "sent"), ==, 0);
	/* the operator sees why */
	g_assert_cmpint(vb_test_daemon_run_ctl(d, &out, NULL, "status", NULL), ==, 0);
	tw_assert_contains(out, "gave up after 20 pages");
	assert_no_secrets(d);
	tw_stop(d);
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 1);
}

/* a next_page_uri that is not a URI, or not a string, is not followed either:
 * the outcome stays unknown and nothing is sent again */
static void
test_lookup_bad_next_page(void)
{
	const gchar *bad[] = {"42", "\"http://[::1\"", "{\"page\": 2}"};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(Fake) fake = fake_new();
		g_autoptr(VbTestDaemon) d = NULL;
		g_autofree gchar *visit = NULL;
		g_autofree gchar *item = NULL;

		g_test_message("next_page_uri: %s", bad[i]);
		fake->next_raw = g_strdup(bad[i]);
		fake_seed(fake, PHONE_A, 60);
		fake_plan(fake, (FakePlan){FAKE_STALL_NOT_CREATED, .delay_ms = 3000});
		d = daemon_for(fake, NULL);
		visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
		item = wait_item_error(d, "page");
		g_test_message("the outbox item: %s", item);
		g_assert_false(g_str_has_prefix(item, "done|"));
		tw_assert_not_contains(item, PHONE_A);
		/* the lookup may have been tried again by now, but never past
		 * its first page */
		g_assert_cmpuint(fake_count(fake, "GET"), >=, 1);
		g_assert_cmpuint(fake_count_later_pages(fake), ==, 0);
		g_assert_cmpuint(fake_count(fake, "POST"), ==, 1);
		g_assert_cmpuint(fake_n_received(fake, PHONE_A, NOTICE_EN), ==, 0);
		tw_stop(d);
		g_assert_cmpuint(fake_count(fake, "POST"), ==, 1);
	}
}

/* a next_page_uri on another host is not followed: the request would carry
 * the credentials there. The outcome stays unknown; nothing is sent again */
static void
test_lookup_foreign_next_page(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(Fake) other = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *visit = NULL;
	g_autofree gchar *item = NULL;

	fake->next_origin = g_strdup_printf("http://localhost:%u", other->port);
	fake_seed(fake, PHONE_A, 60);
	fake_plan(fake, (FakePlan){FAKE_STALL_NOT_CREATED, .delay_ms = 3000});
	d = daemon_for(fake, NULL);
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	item = wait_item_error(d, "next_page_uri");
	g_test_message("the outbox item: %s", item);
	g_assert_false(g_str_has_prefix(item, "done|"));
	tw_assert_not_contains(item, PHONE_A);
	g_assert_cmpuint(fake_count(fake, "GET"), >=, 1);
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 1);
	g_assert_cmpuint(fake_n_received(fake, PHONE_A, NOTICE_EN), ==, 0);
	g_assert_cmpuint(fake_count(other, "GET"), ==, 0);
	tw_stop(d);
	g_assert_cmpuint(fake_count(other, "GET"), ==, 0);
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 1);
}

/* an answer slower than usual but within the time-out is just an answer */
static void
test_slow(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *visit = NULL;
	g_autofree gchar *item = NULL;

	fake_plan(fake, (FakePlan){FAKE_SLOW, .delay_ms = 600});
	d = daemon_for(fake, NULL);
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	fake_wait_messages(fake, 1);
	tw_wait_outbox_idle(d);
	item = only_item(d);
	g_assert_true(g_str_has_prefix(item, "done|"));
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 1);
	g_assert_cmpuint(fake_count(fake, "GET"), ==, 0);
	tw_stop(d);
}

/* 429: the next attempt waits for Retry-After, measured at Twilio's side */
static void
test_rate_limited(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *visit = NULL;
	g_autoptr(GArray) times = NULL;
	gint64 gap_ms;

	fake_plan(fake, (FakePlan){FAKE_RATE_LIMITED, .retry_after = "3"});
	d = daemon_for(fake, NULL);
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	fake_wait_messages(fake, 1);
	tw_wait_outbox_idle(d);
	times = fake_post_times(fake);
	g_assert_cmpuint(times->len, ==, 2);
	gap_ms = (g_array_index(times, gint64, 1) - g_array_index(times, gint64, 0)) / 1000;
	g_test_message("the retry came %" G_GINT64_FORMAT " ms after the 429", gap_ms);
	/* loosely: Retry-After is 3 s, and the outbox's own first backoff is at most 1 s */
	g_assert_cmpint(gap_ms, >=, 2500);
	g_assert_cmpint(gap_ms, <, 8000);
	/* nothing was sent by the refused request, so no lookup */
	g_assert_cmpuint(fake_count(fake, "GET"), ==, 0);
	g_assert_cmpuint(fake_n_messages(fake), ==, 1);
	tw_stop(d);
}

static gboolean
alert_cb(gpointer user_data)
{
	return count_alerts_saying(user_data, "refused the credentials") > 0;
}

/* an API key authenticates instead of the auth token; a wrong one is the
 * operator's to fix: an alert, and the message waits instead of dying */
static void
test_api_key(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autoptr(VbTestDaemon) wrong = NULL;
	G_GNUC_UNUSED g_autofree gchar *visit = NULL;
	g_autofree gchar *item = NULL;

	d = tw_daemon_new_full(fake->base_url, "api-key-sid=" TW_API_KEY "\n", NULL,
			       "api-key-secret=" TW_API_SECRET "\n");
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	fake_wait_messages(fake, 1);
	tw_wait_outbox_idle(d);
	item = only_item(d);
	g_assert_true(g_str_has_prefix(item, "done|"));
	g_assert_false(vb_test_daemon_files_contain(d, TW_API_SECRET));
	tw_stop(d);

	wrong = tw_daemon_new_full(fake->base_url, "api-key-sid=" TW_API_KEY "\n", NULL,
				   "api-key-secret=00000000000000000000000000000000\n");
	g_clear_pointer(&visit, g_free);
	visit = tw_visit(wrong, PAN_A, NULL, PHONE_A_TYPED);
	g_assert_true(vb_test_poll(alert_cb, wrong, TW_WAIT_MS));
	g_clear_pointer(&item, g_free);
	item = only_item(wrong);
	g_assert_true(g_str_has_prefix(item, "pending|") || g_str_has_prefix(item, "sending|"));
	tw_assert_contains(item, "credentials");
	g_assert_cmpuint(fake_n_messages(fake), ==, 1);
	tw_stop(wrong);
}

/* Twilio cannot be reached (connection refused): nothing was sent, so the
 * core fails over to sms-fallback, here the simulated log-sms, and the
 * shopper gets the message once, from there */
static void
test_unreachable_failover(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autofree gchar *closed = NULL;
	g_autoptr(VbTestDaemon) d = NULL;
	G_GNUC_UNUSED g_autofree gchar *visit = NULL;
	g_autoptr(GPtrArray) handsets = NULL;
	g_autofree gchar *item = NULL;
	g_autofree gchar *status = NULL;

	/* a port nothing listens on */
	{
		g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
							 G_SOCKET_PROTOCOL_TCP, NULL);
		g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
		g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
		g_autoptr(GSocketAddress) bound = NULL;
		g_assert_true(g_socket_bind(socket, any, FALSE, NULL));
		bound = g_socket_get_local_address(socket, NULL);
		closed =
		    g_strdup_printf("http://127.0.0.1:%u",
				    g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
	}
	d = tw_daemon_new(closed, NULL, "[services]\nsms-fallback=sms\n");
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	tw_wait_outbox_idle(d);
	handsets = vb_test_daemon_sms(d);
	g_assert_cmpuint(handsets->len, ==, 1);
	g_assert_cmpstr(json_object_get_string_member(
			    json_node_get_object(g_ptr_array_index(handsets, 0)), "body"),
			==, NOTICE_EN);
	item = only_item(d);
	g_assert_true(g_str_has_prefix(item, "done|"));
	/* twilio sent nothing, and says why */
	g_assert_cmpint(tw_status_int(d, "sent"), ==, 0);
	g_assert_cmpint(vb_test_daemon_run_ctl(d, &status, NULL, "status", NULL), ==, 0);
	tw_assert_contains(status, "cannot be reached");
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 0);
	tw_stop(d);
}

/* a 4xx is permanent: one attempt, a dead letter the operator can see, and
 * no number in the error */
static void
test_refused(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *visit = NULL;
	g_autofree gchar *item = NULL;
	g_autofree gchar *out = NULL;

	fake_plan(fake, (FakePlan){FAKE_STATUS, 400, 21211, "Invalid 'To' Phone Number:"});
	d = daemon_for(fake, NULL);
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	tw_wait_outbox_idle(d);
	item = only_item(d);
	g_assert_true(g_str_has_prefix(item, "dead|"));
	tw_assert_contains(item, "21211");
	tw_assert_not_contains(item, PHONE_A);
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 1);
	g_assert_cmpuint(fake_n_messages(fake), ==, 0);
	/* `vestibulectl outbox` shows the dead letter */
	g_assert_cmpint(vb_test_daemon_run_ctl(d, &out, NULL, "outbox", NULL), ==, 0);
	tw_assert_contains(out, "dead");
	g_assert_cmpint(tw_status_int(d, "failed"), ==, 1);
	assert_no_secrets(d);
	tw_stop(d);
}

/* Twilio's "unsubscribed recipient": not retried, and the shopper is opted out */
static void
test_opted_out(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autofree gchar *visit = NULL;
	g_autofree gchar *item = NULL;
	g_autofree gchar *opted = NULL;

	fake_plan(fake,
		  (FakePlan){FAKE_STATUS, 400, 21610, "Attempt to send to unsubscribed recipient"});
	d = daemon_for(fake, NULL);
	visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	tw_wait_outbox_idle(d);
	item = only_item(d);
	g_test_message("the outbox item: %s", item);
	/* settled, not retried: the core records the opt-out */
	g_assert_false(g_str_has_prefix(item, "pending|"));
	tw_assert_contains(item, "opted-out");
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 1);
	g_assert_cmpuint(fake_n_messages(fake), ==, 0);
	opted = db_text(d, "SELECT COUNT(*) FROM customers WHERE sms_opt_out = 1");
	g_assert_cmpstr(opted, ==, "1");
	tw_stop(d);
}

typedef struct {
	VbTestDaemon *d;
	const gchar *sid;
	const gchar *state;
} StatusWait;

static gboolean
status_event_cb(gpointer user_data)
{
	StatusWait *wait = user_data;
	g_autoptr(GPtrArray) events = vb_test_daemon_events(wait->d, "sms-status");
	g_autofree gchar *needle =
	    g_strdup_printf("\"message-id\":\"%s\",\"state\":\"%s\"", wait->sid, wait->state);
	g_autofree gchar *needle2 =
	    g_strdup_printf("\"state\":\"%s\",\"message-id\":\"%s\"", wait->state, wait->sid);

	for (guint i = 0; i < events->len; i++) {
		const gchar *payload = g_ptr_array_index(events, i);
		if (strstr(payload, needle) != NULL || strstr(payload, needle2) != NULL)
			return TRUE;
	}
	return FALSE;
}

/* Twilio's signed delivery reports reach the bus and the plugin's table */
static void
test_status_callback(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = daemon_for(fake, NULL);
	G_GNUC_UNUSED g_autofree gchar *visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	g_autofree gchar *sid = NULL;
	g_autofree gchar *callback = NULL;
	g_autofree gchar *status = NULL;
	StatusWait wait = {d, NULL, "queued"};

	fake_wait_messages(fake, 1);
	tw_wait_outbox_idle(d);
	sid = fake_message_get(fake, 0, "sid");
	callback = fake_message_get(fake, 0, "status-callback");
	wait.sid = sid;
	/* the answer to the POST said queued */
	g_assert_true(vb_test_poll(status_event_cb, &wait, TW_WAIT_MS));

	/* sent, then delivered, as Twilio reports them */
	{
		const gchar *fields[] = {
		    "SmsSid",	  sid,	      "SmsStatus", "sent",	 "MessageStatus",
		    "sent",	  "To",	      PHONE_A,	   "MessageSid", sid,
		    "AccountSid", TW_ACCOUNT, "From",	   TW_FROM,	 "ApiVersion",
		    "2010-04-01", NULL};
		g_assert_cmpuint(tw_post_signed(callback, fields, NULL), ==, 204);
		wait.state = "sent";
		g_assert_true(vb_test_poll(status_event_cb, &wait, TW_WAIT_MS));
	}
	{
		const gchar *fields[] = {
		    "SmsSid",	  sid,	      "SmsStatus", "delivered",	 "MessageStatus",
		    "delivered",  "To",	      PHONE_A,	   "MessageSid", sid,
		    "AccountSid", TW_ACCOUNT, "From",	   TW_FROM,	 "ApiVersion",
		    "2010-04-01", NULL};
		g_assert_cmpuint(tw_post_signed(callback, fields, NULL), ==, 204);
		wait.state = "delivered";
		g_assert_true(vb_test_poll(status_event_cb, &wait, TW_WAIT_MS));
	}
	status = db_text(d, "SELECT status FROM p_twilio_messages");
	g_assert_cmpstr(status, ==, "delivered");

	/* undelivered, forged: refused, and the state stays */
	{
		const gchar *fields[] = {"MessageStatus", "undelivered", "MessageSid", sid, NULL};
		g_autofree gchar *forged = tw_sign("not-the-token", callback, fields);
		g_autofree gchar *after = NULL;
		g_assert_cmpuint(tw_post_form(callback, fields, forged, NULL, NULL, NULL), ==, 403);
		after = db_text(d, "SELECT status FROM p_twilio_messages");
		g_assert_cmpstr(after, ==, "delivered");
	}
	/* a report without a status is bad input, signed or not */
	{
		const gchar *fields[] = {"MessageSid", sid, NULL};
		g_assert_cmpuint(tw_post_signed(callback, fields, NULL), ==, 400);
	}
	tw_stop(d);
}

/* a 'metrics' token reads /metrics on the public listener: the sum of the
 * series that start with @prefix */
static gdouble
metric_sum(VbTestDaemon *d, const gchar *token, const gchar *prefix)
{
	g_autofree gchar *base = vb_test_daemon_public_url(d);
	g_autofree gchar *url = g_strdup_printf("%s/metrics", base);
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	gdouble total = 0;

	g_assert_cmpuint(vb_test_http("GET", url, token, NULL, NULL, &text), ==, 200);
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], prefix))
			total += g_ascii_strtod(strrchr(lines[i], ' ') + 1, NULL);
	}
	return total;
}

/* the webhooks refused, in the metric every SMS provider shares */
static gdouble
rejected_metric(VbTestDaemon *d, const gchar *token)
{
	return metric_sum(d, token,
			  "vestibule_sms_webhooks_rejected_total{provider=\"twilio\","
			  "instance=\"twilio\",");
}

static guint
feedback_count(VbTestDaemon *d)
{
	g_autoptr(JsonNode) node = tw_ctl(d, "GET", "/v1/feedback", NULL);
	return json_array_get_length(
	    json_object_get_array_member(json_node_get_object(node), "feedback"));
}

typedef struct {
	VbTestDaemon *d;
	guint n;
} FeedbackWait;

static gboolean
feedback_cb(gpointer user_data)
{
	FeedbackWait *wait = user_data;
	return feedback_count(wait->d) >= wait->n;
}

static gboolean
opted_out_cb(gpointer user_data)
{
	g_autofree gchar *n = db_text(user_data, "SELECT COUNT(*) FROM customers "
						 "WHERE sms_opt_out = 1");
	return g_strcmp0(n, "1") == 0;
}

/* shoppers' replies, signed as Twilio signs them, run the core's reply flow:
 * HELP is answered through Twilio, a question reaches the operator, STOP
 * opts out */
static void
test_inbound(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = daemon_for(fake, NULL);
	g_autofree gchar *visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	g_autofree gchar *help = NULL;
	g_autofree gchar *to = NULL;
	FeedbackWait wait = {d, 1};

	fake_wait_messages(fake, 1);
	tw_inbound(d, PHONE_A, "HELP", "SM00000000000000000000000000000001");
	fake_wait_messages(fake, 2);
	help = fake_message_get(fake, 1, "body");
	to = fake_message_get(fake, 1, "to");
	g_assert_cmpstr(help, ==, HELP_EN);
	g_assert_cmpstr(to, ==, PHONE_A);

	tw_inbound(d, PHONE_A, "Where is my receipt?", "SM00000000000000000000000000000002");
	g_assert_true(vb_test_poll(feedback_cb, &wait, TW_WAIT_MS));
	{
		g_autoptr(JsonNode) node = tw_ctl(d, "GET", "/v1/feedback", NULL);
		JsonObject *entry = json_array_get_object_element(
		    json_object_get_array_member(json_node_get_object(node), "feedback"), 0);
		g_assert_cmpstr(json_object_get_string_member(entry, "body"), ==,
				"Where is my receipt?");
		g_assert_cmpstr(json_object_get_string_member(entry, "visit"), ==, visit);
		g_assert_cmpstr(json_object_get_string_member(entry, "phone"), ==, PHONE_A_MASKED);
	}
	/* Twilio delivering the same message again changes nothing */
	tw_inbound(d, PHONE_A, "Where is my receipt?", "SM00000000000000000000000000000002");

	tw_inbound(d, PHONE_A, "STOP", "SM00000000000000000000000000000003");
	g_assert_true(vb_test_poll(opted_out_cb, d, TW_WAIT_MS));
	g_assert_cmpuint(feedback_count(d), ==, 1);
	g_assert_cmpint(tw_status_int(d, "received"), ==, 4);
	/* the bodies stay out of the log */
	{
		g_autofree gchar *log = vb_test_daemon_read_log(d);
		tw_assert_not_contains(log, "Where is my receipt?");
	}
	assert_no_secrets(d);
	tw_stop(d);
}

/* a post that Twilio did not sign is refused, counted, and goes nowhere */
static void
test_inbound_refused(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = daemon_for(fake, NULL);
	G_GNUC_UNUSED g_autofree gchar *visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	g_autofree gchar *metrics_token = vb_test_daemon_create_token(d, "prometheus", "metrics");
	g_autofree gchar *base = vb_test_daemon_public_url(d);
	g_autofree gchar *url = g_strdup_printf("%s/hooks/sms/twilio", base);
	const gchar *fields[] = {"MessageSid", "SM00000000000000000000000000000009",
				 "From",       PHONE_A,
				 "Body",       "Where is my receipt?",
				 "To",	       TW_FROM,
				 NULL};
	g_autofree gchar *good = tw_sign(TW_TOKEN, url, fields);
	g_autofree gchar *forged = tw_sign("0123456789abcdef0123456789abcdef", url, fields);
	g_autofree gchar *other_url = g_strdup_printf("%s/hooks/sms/other", base);
	g_autofree gchar *wrong_url = tw_sign(TW_TOKEN, other_url, fields);
	g_autofree gchar *response = NULL;
	gdouble before = rejected_metric(d, metrics_token);

	fake_wait_messages(fake, 1);
	/* the send is counted in the metric every SMS provider shares */
	g_assert_cmpfloat(metric_sum(d, metrics_token,
				     "vestibule_sms_provider_requests_total{provider=\"twilio\","
				     "instance=\"twilio\",outcome=\"attempt\"}"),
			  >=, 1);
	g_assert_cmpuint(tw_post_form(url, fields, forged, NULL, &response, NULL), ==, 403);
	tw_assert_contains(response, "X-Twilio-Signature");
	g_assert_cmpuint(tw_post_form(url, fields, NULL, NULL, NULL, NULL), ==, 403);
	g_assert_cmpuint(tw_post_form(url, fields, wrong_url, NULL, NULL, NULL), ==, 403);
	g_assert_cmpfloat(rejected_metric(d, metrics_token), ==, before + 3);
	/* not a form; not a POST */
	g_assert_cmpuint(tw_post_form(url, fields, good, "application/json", NULL, NULL), ==, 415);
	g_assert_cmpuint(vb_test_http("GET", url, NULL, NULL, NULL, NULL), ==, 405);
	/* nothing of it reached the operator */
	g_assert_cmpuint(feedback_count(d), ==, 0);
	g_assert_cmpint(tw_status_int(d, "received"), ==, 0);
	g_assert_cmpint(tw_status_int(d, "webhooks-refused"), ==, 3);
	/* the genuine one goes through */
	g_assert_cmpuint(tw_post_form(url, fields, good, NULL, NULL, NULL), ==, 200);
	{
		FeedbackWait wait = {d, 1};
		g_assert_true(vb_test_poll(feedback_cb, &wait, TW_WAIT_MS));
	}
	tw_stop(d);
}

/* a free TCP port on loopback, for a listener whose address the test must know */
static guint
free_port(void)
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

/* behind a reverse proxy, the public URL is what Twilio requests and signs */
static void
test_inbound_public_url(void)
{
	g_autoptr(Fake) fake = fake_new();
	guint port = free_port();
	g_autofree gchar *drop_in = g_strdup_printf(
	    "[http]\nport=%u\npublic-url=https://shop.example.com/vestibule\n", port);
	g_autoptr(VbTestDaemon) d = daemon_for(fake, drop_in);
	G_GNUC_UNUSED g_autofree gchar *visit = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	g_autofree gchar *callback = NULL;
	const gchar *fields[] = {
	    "MessageSid", "SM00000000000000000000000000000010", "From", PHONE_A, "Body", "HELP",
	    NULL};
	g_autofree gchar *signature =
	    tw_sign(TW_TOKEN, "https://shop.example.com/vestibule/hooks/sms/twilio", fields);
	g_autofree gchar *local_signature =
	    g_strdup_printf("http://127.0.0.1:%u/hooks/sms/twilio", port);
	g_autofree gchar *local = g_strdup_printf("http://127.0.0.1:%u/hooks/sms/twilio", port);
	g_autofree gchar *signed_local = tw_sign(TW_TOKEN, local_signature, fields);

	fake_wait_messages(fake, 1);
	callback = fake_message_get(fake, 0, "status-callback");
	g_assert_true(g_str_has_prefix(
	    callback, "https://shop.example.com/vestibule/hooks/sms/twilio/status?t="));
	/* the proxy forwards to the listener; the signature covers the public URL,
	 * not the address the request arrived at */
	g_assert_cmpuint(tw_post_form(local, fields, signed_local, NULL, NULL, NULL), ==, 403);
	g_assert_cmpuint(tw_post_form(local, fields, signature, NULL, NULL, NULL), ==, 200);
	fake_wait_messages(fake, 2);
	tw_stop(d);
}

/* ------------------------------------------------------------------------ */
/* outages and unknown outcomes, against the outbox's bounds                */
/* ------------------------------------------------------------------------ */

/* the outbox's delays and bounds scaled from minutes to seconds */
#define OUTAGE_DROP_IN                                                                             \
	"[outbox]\n"                                                                               \
	"base-delay-ms=200\n"                                                                      \
	"max-delay-ms=1000\n"                                                                      \
	"unknown-hold-s=3\n"                                                                       \
	"unknown-give-up-s=30\n"                                                                   \
	"stuck-alert-s=60\n"
#define OUTAGE_HOLD_US (3 * G_USEC_PER_SEC)

typedef struct {
	Fake *fake;
	const gchar *method;
	guint n;
} CountWait;

static gboolean
count_wait_cb(gpointer user_data)
{
	CountWait *wait = user_data;
	return fake_count(wait->fake, wait->method) >= wait->n;
}

static void
wait_requests(Fake *fake, const gchar *method, guint n)
{
	CountWait wait = {fake, method, n};
	if (!vb_test_poll(count_wait_cb, &wait, TW_WAIT_MS))
		g_error("the fake never got %u %s requests (%u)", n, method,
			fake_count(fake, method));
}

typedef struct {
	Fake *fake;
	guint n;
} ReceivedWait;

static gboolean
received_wait_cb(gpointer user_data)
{
	ReceivedWait *wait = user_data;
	return fake_n_received(wait->fake, PHONE_A, NOTICE_EN) >= wait->n;
}

static void
wait_received(Fake *fake, guint n)
{
	ReceivedWait wait = {fake, n};
	if (!vb_test_poll(received_wait_cb, &wait, TW_WAIT_MS))
		g_error("the handset never got %u notices (%u)", n,
			fake_n_received(fake, PHONE_A, NOTICE_EN));
}

typedef struct {
	VbTestDaemon *d;
	const gchar *needle;
} CtlStatusWait;

static gboolean
ctl_status_wait_cb(gpointer user_data)
{
	CtlStatusWait *wait = user_data;
	g_autofree gchar *out = NULL;

	if (vb_test_daemon_run_ctl(wait->d, &out, NULL, "status", NULL) != 0)
		return FALSE;
	return strstr(out, wait->needle) != NULL;
}

static void
wait_status(VbTestDaemon *d, const gchar *needle)
{
	CtlStatusWait wait = {d, needle};
	if (!vb_test_poll(ctl_status_wait_cb, &wait, TW_WAIT_MS)) {
		g_autofree gchar *out = NULL;
		vb_test_daemon_run_ctl(d, &out, NULL, "status", NULL);
		g_error("vestibulectl status never said '%s':\n%s", needle, out);
	}
}

/* Twilio fails: sends and lookups answer 503 (the sends going through all the
 * same), then nothing listens, with the daemon killed meanwhile, then sends
 * work while lookups still fail, then all is well. The notice whose outcome
 * is unknown holds the shopper's next one back for unknown-hold-s, not until
 * the lookup works; in the end each was received once */
static void
test_outage_bounded(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autoptr(GPtrArray) items = NULL;
	g_autoptr(GArray) posts = NULL;
	G_GNUC_UNUSED g_autofree gchar *v1 = NULL;
	G_GNUC_UNUSED g_autofree gchar *v2 = NULL;
	g_autofree gchar *first = NULL;

	d = daemon_for(fake, OUTAGE_DROP_IN);
	fake_set_failing(fake, 503, TRUE, 503);
	v1 = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	/* sent, answered 503, looked up, and the lookup failed */
	wait_requests(fake, "GET", 1);
	wait_status(d, "outbox sms: 1 waiting, 1 with an unknown outcome");

	fake_set_refusing(fake, TRUE);
	v2 = tw_visit(d, PAN_B, NULL, PHONE_A_TYPED);
	restart(d);
	g_usleep(G_USEC_PER_SEC);

	/* sends work, lookups do not: the second notice passes the first */
	fake_set_refusing(fake, FALSE);
	fake_set_failing(fake, 0, FALSE, 503);
	wait_received(fake, 2);
	items = tw_outbox_sms(d);
	g_assert_cmpuint(items->len, ==, 2);
	first = g_strdup(g_ptr_array_index(items, 0));
	g_test_message("the first notice while the second went: %s", first);
	g_assert_false(g_str_has_prefix(first, "done|"));
	posts = fake_post_times(fake);
	g_assert_cmpuint(posts->len, ==, 2);
	/* held back, but for the bound only */
	g_assert_cmpint(g_array_index(posts, gint64, 1) - g_array_index(posts, gint64, 0), >=,
			OUTAGE_HOLD_US - G_USEC_PER_SEC / 2);

	/* the lookups answer: the first is found, not sent again */
	fake_set_failing(fake, 0, FALSE, 0);
	tw_wait_outbox_idle(d);
	g_clear_pointer(&items, g_ptr_array_unref);
	items = tw_outbox_sms(d);
	for (guint i = 0; i < items->len; i++)
		g_assert_true(g_str_has_prefix(g_ptr_array_index(items, i), "done|"));
	g_assert_cmpuint(fake_n_received(fake, PHONE_A, NOTICE_EN), ==, 2);
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 2);
	wait_status(d, "outbox sms: 0 waiting, 0 with an unknown outcome");
	assert_no_secrets(d);
	tw_stop(d);
}

/* a lookup that answers 404 for ever: one critical alert and a FAULT in the
 * status at once; the shopper's next notice goes after unknown-hold-s; the
 * stuck one is sent again under a new key at unknown-hold-s, as a notice's
 * policy says (a possible duplicate rather than a loss), across a kill -9 */
static void
test_lookup_refused_for_good(void)
{
	g_autoptr(Fake) fake = fake_new();
	g_autoptr(VbTestDaemon) d = NULL;
	g_autoptr(GPtrArray) items = NULL;
	G_GNUC_UNUSED g_autofree gchar *v1 = NULL;
	G_GNUC_UNUSED g_autofree gchar *v2 = NULL;

	d = daemon_for(fake, OUTAGE_DROP_IN);
	fake_set_failing(fake, 503, TRUE, 404);
	v1 = tw_visit(d, PAN_A, NULL, PHONE_A_TYPED);
	wait_status(d, "FAULT twilio: ");
	wait_requests(fake, "GET", 3);
	/* one alert, however many lookups were refused */
	g_assert_cmpuint(count_alerts_saying(d, "refuses to say"), ==, 1);

	fake_set_failing(fake, 0, FALSE, 404);
	v2 = tw_visit(d, PAN_B, NULL, PHONE_A_TYPED);
	restart(d);
	tw_wait_outbox_idle(d);
	items = tw_outbox_sms(d);
	g_assert_cmpuint(items->len, ==, 2);
	for (guint i = 0; i < items->len; i++)
		g_assert_true(g_str_has_prefix(g_ptr_array_index(items, i), "done|"));
	{
		g_autofree gchar *log = vb_test_daemon_read_log(d);
		tw_assert_contains(log, "sent again under a new key");
	}
	/* the first notice twice (the duplicate its policy accepts), the second once */
	g_assert_cmpuint(fake_n_received(fake, PHONE_A, NOTICE_EN), ==, 3);
	g_assert_cmpuint(fake_count(fake, "POST"), ==, 3);
	assert_no_secrets(d);
	tw_stop(d);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/twilio/signature/known-vector", test_signature_vector);
	g_test_add_func("/twilio/send", test_send);
	g_test_add_func("/twilio/send/server-errors", test_server_errors);
	g_test_add_func("/twilio/send/timeout-created", test_timeout_created);
	g_test_add_func("/twilio/send/timeout-created-kill", test_timeout_created_kill);
	g_test_add_func("/twilio/send/timeout-not-created", test_timeout_not_created);
	g_test_add_func("/twilio/send/slow", test_slow);
	g_test_add_func("/twilio/send/retry-while-in-flight", test_retry_while_in_flight);
	g_test_add_func("/twilio/send/timeout-reported", test_timeout_reported);
	g_test_add_func("/twilio/send/lookup/third-page", test_lookup_third_page);
	g_test_add_func("/twilio/send/lookup/page-limit", test_lookup_page_limit);
	g_test_add_func("/twilio/send/lookup/foreign-next-page", test_lookup_foreign_next_page);
	g_test_add_func("/twilio/send/lookup/bad-next-page", test_lookup_bad_next_page);
	g_test_add_func("/twilio/send/rate-limited", test_rate_limited);
	g_test_add_func("/twilio/send/refused", test_refused);
	g_test_add_func("/twilio/send/api-key", test_api_key);
	g_test_add_func("/twilio/send/unreachable-failover", test_unreachable_failover);
	g_test_add_func("/twilio/send/opted-out", test_opted_out);
	g_test_add_func("/twilio/status-callback", test_status_callback);
	g_test_add_func("/twilio/outage/later-messages-pass", test_outage_bounded);
	g_test_add_func("/twilio/outage/lookup-refused", test_lookup_refused_for_good);
	g_test_add_func("/twilio/inbound", test_inbound);
	g_test_add_func("/twilio/inbound/refused", test_inbound_refused);
	g_test_add_func("/twilio/inbound/public-url", test_inbound_public_url);
	return g_test_run();
}
