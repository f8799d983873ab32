/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "vb-test-files.h"
#include "vb-error.h"
#include "vb-outbox-test-private.h"
#include "vb-store-private.h"

#define T0 ((gint64)1700000000 * G_USEC_PER_SEC)

/* the MESSAGE_ID of every alert logged, in order */
static GPtrArray *alerts;

static GLogWriterOutput
alert_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(fields[i].key, "MESSAGE_ID") == 0)
			g_ptr_array_add(alerts,
					fields[i].length < 0
					    ? g_strdup(fields[i].value)
					    : g_strndup(fields[i].value, (gsize)fields[i].length));
	}
	return g_log_writer_default(level, fields, n_fields, user_data);
}

static guint
count_alerts(VbAlertKind kind)
{
	guint n = 0;

	for (guint i = 0; i < alerts->len; i++)
		n += g_strcmp0(g_ptr_array_index(alerts, i), vb_alert_kind_get_message_id(kind)) ==
		     0;
	return n;
}

typedef enum {
	RANDOM_MAX,
	RANDOM_ZERO,
	RANDOM_HALF,
} RandomMode;

typedef struct {
	gchar *dir;
	gchar *path;
	VbStore *store;
	VbMetrics *metrics;
	VbOutbox *outbox;
	gint64 now;
	RandomMode random_mode;
	GArray *bounds;		      /* guint32: what the random hook was asked for */
	GHashTable *scripts;	      /* key -> one letter per attempt, see fake_sms_dispatch() */
	GHashTable *requests;	      /* key -> how many times the provider was asked */
	GHashTable *deliveries;	      /* key -> how many messages the provider really sent */
	GPtrArray *calls;	      /* "key#attempt", every dispatch in order */
	GPtrArray *delivered;	      /* keys, in the order their delivery was recorded */
	GPtrArray *completions;	      /* "key:done" or "key:failed", every complete func call */
	GPtrArray *secrets;	      /* the ephemeral secret each dispatch found, "" for none */
	GPtrArray *held;	      /* items dispatched and not completed yet */
	GPtrArray *cancellables;      /* the cancellable of each held item */
	guint refuse_completions;     /* the complete func refuses this many times */
	VbOutboxUnknownPolicy policy; /* what the kind's policy decides */
	GPtrArray *policy_calls;      /* "key@seconds unknown", every policy call */
	gboolean follow_up;	      /* the complete func queues a follow-up */
	gint64 gate_next;	      /* when the fake gate lets the next sms go */
	guint gate_calls;	      /* how often the gate was asked */
} Fixture;

static gint64
fake_clock(gpointer user_data)
{
	Fixture *fx = user_data;
	return fx->now;
}

static guint32
fake_random(guint32 bound, gpointer user_data)
{
	Fixture *fx = user_data;

	g_array_append_val(fx->bounds, bound);
	if (fx->random_mode == RANDOM_ZERO)
		return 0;
	if (fx->random_mode == RANDOM_HALF)
		return bound / 2;
	return bound;
}

static void
count_up(GHashTable *table, const gchar *key)
{
	guint n = GPOINTER_TO_UINT(g_hash_table_lookup(table, key));
	g_hash_table_replace(table, g_strdup(key), GUINT_TO_POINTER(n + 1));
}

static guint
count_of(GHashTable *table, const gchar *key)
{
	return GPOINTER_TO_UINT(g_hash_table_lookup(table, key));
}

/* the row as the store has it */
typedef struct {
	gchar *state;
	gint64 attempts;
	gint64 next_attempt;
	gchar *last_error;
	gchar *result;
} Row;

static void
row_clear(Row *row)
{
	g_free(row->state);
	g_free(row->last_error);
	g_free(row->result);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Row, row_clear)

static void
read_row(Fixture *fx, gint64 id, Row *row)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
	    fx->store,
	    "SELECT state, attempts, next_attempt, last_error, result FROM outbox WHERE id = ?1",
	    &error);

	g_assert_no_error(error);
	vb_store_stmt_bind_int64(stmt, 1, id);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
	row->state = g_strdup(vb_store_stmt_column_text(stmt, 0));
	row->attempts = vb_store_stmt_column_int64(stmt, 1);
	row->next_attempt = vb_store_stmt_column_int64(stmt, 2);
	row->last_error = g_strdup(vb_store_stmt_column_text(stmt, 3));
	row->result = g_strdup(vb_store_stmt_column_text(stmt, 4));
}

/* the provider dedupes by idempotency key, as Twilio and Adyen do */
static void
fake_provider_accept(Fixture *fx, const gchar *key)
{
	count_up(fx->requests, key);
	if (count_of(fx->deliveries, key) == 0)
		count_up(fx->deliveries, key);
}

#define GATE_INTERVAL_MS 1000

/* the script letter of each attempt, 'd' past its end:
 * d: sent and answered; t: sent, the answer lost (retry); r: the provider
 * unreachable, nothing sent (retry); a: rate limited with a Retry-After of
 * 30 s; f: refused for good; h: sent, the answer still to come (held);
 * s: needs the ephemeral secret, fails for good without it */
static void
fake_sms_dispatch(VbOutbox *outbox,
		  VbOutboxItem *item,
		  GCancellable *cancellable,
		  gpointer user_data)
{
	Fixture *fx = user_data;
	const gchar *key = vb_outbox_item_get_idempotency_key(item);
	const gchar *send_key = vb_outbox_item_get_send_key(item);
	/* a resend under a new key follows a script of its own, if any */
	const gchar *script = g_hash_table_lookup(fx->scripts, send_key);
	guint attempt = vb_outbox_item_get_attempts(item);
	const gchar *secret = vb_outbox_get_ephemeral(outbox, key);
	gchar action = 'd';
	g_autoptr(JsonNode) result = NULL;

	g_assert_cmpuint(attempt, >=, 1);
	g_assert_nonnull(vb_outbox_item_get_payload(item));
	g_assert_true(json_object_has_member(vb_outbox_item_get_payload(item), "body"));
	g_assert_false(g_cancellable_is_cancelled(cancellable));
	g_assert_false(vb_store_in_transaction(fx->store));
	/* 'sending' is committed before the dispatcher runs */
	{
		g_auto(Row) row = {0};
		read_row(fx, vb_outbox_item_get_id(item), &row);
		g_assert_cmpstr(row.state, ==, "sending");
		g_assert_cmpint(row.attempts, ==, attempt);
	}
	if (script != NULL && attempt <= strlen(script))
		action = script[attempt - 1];
	/* the gate's slot is taken */
	if (fx->gate_next != 0)
		fx->gate_next = MAX(fx->gate_next, fx->now) + GATE_INTERVAL_MS * 1000;
	g_ptr_array_add(fx->calls, g_strdup_printf("%s#%u", send_key, attempt));
	g_ptr_array_add(fx->secrets, g_strdup(secret != NULL ? secret : ""));

	if (action == 's')
		action = secret != NULL ? 'd' : 'x';
	switch (action) {
	case 'd':
		fake_provider_accept(fx, send_key);
		/* the provider answered about an unknown outcome: no fault */
		if (vb_outbox_item_get_unknown_for(item) > 0)
			vb_outbox_item_clear_fault(item, "fake-sms");
		result = json_from_string("{\"sid\": \"SM1\"}", NULL);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_DONE, result, NULL, 0);
		break;
	case 't':
		fake_provider_accept(fx, send_key);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL,
					"the provider did not answer in time", 0);
		break;
	case 'r':
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL,
					"the provider is unreachable", 0);
		break;
	case 'u':
		fake_provider_accept(fx, send_key);
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_UNKNOWN, NULL,
					"the lookup answered HTTP 503", 0);
		break;
	case 'k':
		fake_provider_accept(fx, send_key);
		vb_outbox_item_set_fault(item, "fake-sms", "the lookup answered HTTP 404");
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_UNKNOWABLE, NULL,
					"the lookup answered HTTP 404", 0);
		break;
	case 'a':
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL, "rate limited", 30000);
		break;
	case 'f':
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL,
					"the number cannot receive SMS", 0);
		break;
	case 'h':
		fake_provider_accept(fx, send_key);
		g_ptr_array_add(fx->held, item);
		g_ptr_array_add(fx->cancellables, g_object_ref(cancellable));
		break;
	case 'x':
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL,
					"the one-time code is gone after a restart", 0);
		break;
	default:
		g_assert_not_reached();
	}
}

static gboolean
fake_sms_complete(VbOutbox *outbox,
		  VbOutboxItem *item,
		  VbOutboxOutcome outcome,
		  JsonNode *result,
		  gpointer user_data,
		  GError **error)
{
	Fixture *fx = user_data;
	const gchar *key = vb_outbox_item_get_idempotency_key(item);

	/* what follows is written together with the outcome */
	g_assert_true(vb_store_in_transaction(fx->store));
	g_assert_true(outcome == VB_OUTBOX_OUTCOME_DONE || outcome == VB_OUTBOX_OUTCOME_FAILED);
	g_ptr_array_add(
	    fx->completions,
	    g_strdup_printf("%s:%s", key, outcome == VB_OUTBOX_OUTCOME_DONE ? "done" : "failed"));
	if (outcome == VB_OUTBOX_OUTCOME_DONE) {
		g_assert_nonnull(result);
		g_assert_cmpstr(json_object_get_string_member(json_node_get_object(result), "sid"),
				==, "SM1");
	}
	if (fx->follow_up && outcome == VB_OUTBOX_OUTCOME_DONE &&
	    !g_str_has_prefix(key, "follow-")) {
		g_autofree gchar *follow_key = g_strdup_printf("follow-%s", key);
		g_autoptr(JsonNode) payload = json_from_string("{\"body\": \"receipt\"}", NULL);
		g_autoptr(GError) error_local = NULL;
		gint64 id =
		    vb_outbox_enqueue(outbox, "sms", vb_outbox_item_get_recipient(item), follow_key,
				      payload, vb_outbox_item_get_visit_id(item), &error_local);
		g_assert_no_error(error_local);
		g_assert_cmpint(id, >, 0);
	}
	if (fx->refuse_completions > 0) {
		fx->refuse_completions--;
		g_set_error_literal(error, VB_ERROR, VB_ERROR_IO, "the visit could not be updated");
		return FALSE;
	}
	if (outcome == VB_OUTBOX_OUTCOME_DONE)
		g_ptr_array_add(fx->delivered, g_strdup(key));
	return TRUE;
}

static VbOutboxUnknownPolicy
fake_unknown_policy(VbOutbox *outbox, VbOutboxItem *item, gpointer user_data)
{
	Fixture *fx = user_data;

	g_assert_cmpint(vb_outbox_item_get_unknown_for(item), >, 0);
	g_ptr_array_add(fx->policy_calls,
			g_strdup_printf("%s@%" G_GINT64_FORMAT,
					vb_outbox_item_get_idempotency_key(item),
					vb_outbox_item_get_unknown_for(item) / G_USEC_PER_SEC));
	return fx->policy;
}

static void
fixture_new_outbox(Fixture *fx)
{
	fx->outbox = vb_outbox_new(fx->store, fx->metrics);
	vb_outbox_set_clock(fx->outbox, fake_clock, fx);
	vb_outbox_set_random(fx->outbox, fake_random, fx);
	vb_outbox_set_limits(fx->outbox, 100, 3600, 10, 1000, 8000);
	vb_outbox_register(fx->outbox, "sms", fake_sms_dispatch, fake_sms_complete, fx, NULL);
	vb_outbox_set_unknown_policy(fx->outbox, "sms", FALSE, fake_unknown_policy);
	vb_outbox_set_unknown_limits(fx->outbox, 60, 600, 900);
}

static void
fixture_open_store(Fixture *fx)
{
	g_autoptr(GError) error = NULL;

	fx->store = vb_store_new();
	vb_store_open(fx->store, fx->path, &error);
	g_assert_no_error(error);
}

static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;

	fx->dir = g_dir_make_tmp("vb-outbox-XXXXXX", &error);
	g_assert_no_error(error);
	fx->path = g_build_filename(fx->dir, "vestibule.db", NULL);
	fx->now = T0;
	fx->bounds = g_array_new(FALSE, FALSE, sizeof(guint32));
	fx->scripts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	fx->requests = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	fx->deliveries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	fx->calls = g_ptr_array_new_with_free_func(g_free);
	fx->delivered = g_ptr_array_new_with_free_func(g_free);
	fx->completions = g_ptr_array_new_with_free_func(g_free);
	fx->secrets = g_ptr_array_new_with_free_func(g_free);
	fx->held = g_ptr_array_new();
	fx->cancellables = g_ptr_array_new_with_free_func(g_object_unref);
	fx->policy_calls = g_ptr_array_new_with_free_func(g_free);
	fx->policy = VB_OUTBOX_UNKNOWN_ASK_AGAIN;
	g_ptr_array_set_size(alerts, 0);
	fx->metrics = vb_metrics_new();
	fixture_open_store(fx);
	fixture_new_outbox(fx);
}

/* an item the dispatcher still holds is completed, which after the
 * outbox is gone only frees it */
static void
complete_held(Fixture *fx)
{
	for (guint i = 0; i < fx->held->len; i++)
		vb_outbox_item_complete(g_ptr_array_index(fx->held, i), VB_OUTBOX_OUTCOME_RETRY,
					NULL, "cancelled", 0);
	g_ptr_array_set_size(fx->held, 0);
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
	g_clear_object(&fx->outbox);
	complete_held(fx);
	if (fx->store != NULL)
		vb_store_close(fx->store);
	g_clear_object(&fx->store);
	g_clear_object(&fx->metrics);
	g_array_unref(fx->bounds);
	g_hash_table_unref(fx->scripts);
	g_hash_table_unref(fx->requests);
	g_hash_table_unref(fx->deliveries);
	g_ptr_array_unref(fx->calls);
	g_ptr_array_unref(fx->delivered);
	g_ptr_array_unref(fx->completions);
	g_ptr_array_unref(fx->secrets);
	g_ptr_array_unref(fx->held);
	g_ptr_array_unref(fx->cancellables);
	g_ptr_array_unref(fx->policy_calls);
	vb_test_remove_tree(fx->dir);
	g_free(fx->path);
	g_free(fx->dir);
}

static void
drain(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

/* moves the fake clock and lets the outbox act on it */
static void
advance(Fixture *fx, gint64 ms)
{
	fx->now += ms * 1000;
	vb_outbox_wake(fx->outbox);
	drain();
}

static gint64
enqueue(Fixture *fx, const gchar *recipient, const gchar *key, const gchar *script)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) payload = json_from_string("{\"body\": \"Your visit\"}", NULL);
	gint64 id;

	if (script != NULL)
		g_hash_table_replace(fx->scripts, g_strdup(key), g_strdup(script));
	id = vb_outbox_enqueue(fx->outbox, "sms", recipient, key, payload, "visit-1", &error);
	g_assert_no_error(error);
	g_assert_cmpint(id, >, 0);
	return id;
}

static gchar *
joined(GPtrArray *strings)
{
	GString *str = g_string_new(NULL);

	for (guint i = 0; i < strings->len; i++) {
		if (i > 0)
			g_string_append_c(str, ' ');
		g_string_append(str, g_ptr_array_index(strings, i));
	}
	return g_string_free(str, FALSE);
}

static gint64
count_rows(Fixture *fx)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(fx->store, "SELECT COUNT(*) FROM outbox", &error);

	g_assert_no_error(error);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
	return vb_store_stmt_column_int64(stmt, 0);
}

static gint64
count_in(GVariant *counts, const gchar *state)
{
	gint64 value = -1;
	g_assert_true(g_variant_lookup(counts, state, "x", &value));
	return value;
}

static gdouble
gauge(Fixture *fx, const gchar *state)
{
	g_autofree gchar *labels = g_strdup_printf("state=\"%s\"", state);
	return vb_metrics_get(fx->metrics, "vestibule_outbox_items", labels);
}

static void
test_enqueue_idempotent(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GVariant) counts = NULL;
	gint64 id1;
	gint64 id2;
	gint64 id3;

	id1 = enqueue(fx, "+33612345678", "notice-visit-1", NULL);
	id2 = enqueue(fx, "+33612345678", "notice-visit-1", NULL);
	g_assert_cmpint(id1, ==, id2);
	g_assert_cmpint(count_rows(fx), ==, 1);

	/* nothing goes out before start */
	drain();
	g_assert_cmpuint(fx->calls->len, ==, 0);

	vb_outbox_start(fx->outbox);
	drain();
	g_assert_cmpuint(fx->calls->len, ==, 1);
	g_assert_cmpuint(count_of(fx->deliveries, "notice-visit-1"), ==, 1);

	/* asked again after delivery: the same item, nothing sent */
	id3 = enqueue(fx, "+33612345678", "notice-visit-1", NULL);
	g_assert_cmpint(id3, ==, id1);
	drain();
	g_assert_cmpuint(fx->calls->len, ==, 1);
	g_assert_cmpint(count_rows(fx), ==, 1);

	counts = vb_outbox_get_counts(fx->outbox);
	g_assert_cmpint(count_in(counts, "done"), ==, 1);
	g_assert_cmpint(count_in(counts, "pending"), ==, 0);
}

static void
test_enqueue_in_transaction(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;

	vb_outbox_start(fx->outbox);

	/* rolled back with the caller's transaction: nothing queued, nothing sent */
	{
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(fx->store, &error);
		g_assert_nonnull(tx);
		g_assert_no_error(error);
		enqueue(fx, "+33612345678", "rolled-back", NULL);
	}
	drain();
	g_assert_cmpint(count_rows(fx), ==, 0);
	g_assert_cmpuint(fx->calls->len, ==, 0);

	/* committed with it: sent once the caller is done */
	{
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(fx->store, &error);
		g_assert_no_error(error);
		enqueue(fx, "+33612345678", "committed", NULL);
		vb_store_transaction_commit(tx, &error);
		g_assert_no_error(error);
	}
	drain();
	g_assert_cmpuint(fx->calls->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(fx->calls, 0), ==, "committed#1");
}

static void
test_enqueue_invalid(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) payload = json_from_string("[1, 2]", NULL);
	gint64 id;

	id = vb_outbox_enqueue(fx->outbox, "sms", "+33612345678", "array", payload, NULL, &error);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_assert_cmpint(id, ==, 0);
	g_assert_cmpint(count_rows(fx), ==, 0);
}

static void
test_order_per_recipient(Fixture *fx, gconstpointer user_data)
{
	g_autofree gchar *delivered = NULL;

	fx->random_mode = RANDOM_MAX;
	enqueue(fx, "A", "A1", "rr");
	enqueue(fx, "A", "A2", NULL);
	enqueue(fx, "B", "B1", NULL);
	enqueue(fx, "A", "A3", NULL);
	enqueue(fx, "B", "B2", NULL);
	vb_outbox_start(fx->outbox);
	drain();

	/* A1 waits for its retry and holds A2 and A3 back; B does not wait for A */
	delivered = joined(fx->delivered);
	g_assert_cmpstr(delivered, ==, "B1 B2");
	g_clear_pointer(&delivered, g_free);

	advance(fx, 1000);
	g_assert_cmpuint(fx->delivered->len, ==, 2);
	advance(fx, 2000);
	delivered = joined(fx->delivered);
	g_assert_cmpstr(delivered, ==, "B1 B2 A1 A2 A3");
	g_clear_pointer(&delivered, g_free);

	delivered = joined(fx->calls);
	g_assert_cmpstr(delivered, ==, "A1#1 B1#1 B2#1 A1#2 A1#3 A2#1 A3#1");
}

/* the statements of the outbox's queue, with @counter of each since the
 * last reset; reset with @reset */
static gint
queue_counter(Fixture *fx, gint counter, gboolean reset)
{
	sqlite3 *db = vb_store_get_handle(fx->store);
	gint total = 0;

	for (sqlite3_stmt *stmt = sqlite3_next_stmt(db, NULL); stmt != NULL;
	     stmt = sqlite3_next_stmt(db, stmt)) {
		if (strstr(sqlite3_sql(stmt), "FROM outbox") != NULL)
			total += sqlite3_stmt_status(stmt, counter, reset);
	}
	return total;
}

/* the queue after a long history: the next items go out in order, and
 * finding them sorts nothing (no temporary table, whose pages SQLite
 * allocates and frees at every turn of the queue) and reads the few live
 * items, never the history of sent ones */
static void
test_order_no_sorting(Fixture *fx, gconstpointer user_data)
{
	g_autofree gchar *delivered = NULL;

	vb_outbox_start(fx->outbox);
	for (guint i = 0; i < 200; i++) {
		g_autofree gchar *key = g_strdup_printf("old%u", i);
		enqueue(fx, i % 2 == 0 ? "A" : "B", key, NULL);
		drain();
	}
	g_assert_cmpuint(fx->delivered->len, ==, 200);
	g_ptr_array_set_size(fx->delivered, 0);
	queue_counter(fx, SQLITE_STMTSTATUS_SORT, TRUE);
	queue_counter(fx, SQLITE_STMTSTATUS_FULLSCAN_STEP, TRUE);
	queue_counter(fx, SQLITE_STMTSTATUS_AUTOINDEX, TRUE);

	fx->random_mode = RANDOM_MAX;
	enqueue(fx, "A", "A1", "r");
	enqueue(fx, "A", "A2", NULL);
	enqueue(fx, "B", "B1", NULL);
	drain();
	advance(fx, 1000);
	delivered = joined(fx->delivered);
	g_assert_cmpstr(delivered, ==, "B1 A1 A2");
	g_assert_cmpint(queue_counter(fx, SQLITE_STMTSTATUS_SORT, FALSE), ==, 0);
	/* a step per live item of each scan of the pending items' index: when
	 * the items went out, and when their outcomes were recorded */
	g_assert_cmpint(queue_counter(fx, SQLITE_STMTSTATUS_FULLSCAN_STEP, FALSE), <=, 2 * 3);
	g_assert_cmpint(queue_counter(fx, SQLITE_STMTSTATUS_AUTOINDEX, FALSE), ==, 0);
}

static void
test_retry_backoff(Fixture *fx, gconstpointer user_data)
{
	const guint32 expected[] = {1000, 2000, 4000, 8000, 8000, 8000};
	gint64 id;

	/* base 1 s, max 8 s: the bound doubles, then stays at the max */
	fx->random_mode = RANDOM_MAX;
	id = enqueue(fx, "A", "backoff", "rrrrrr");
	vb_outbox_start(fx->outbox);
	drain();
	for (guint i = 0; i < G_N_ELEMENTS(expected); i++) {
		g_auto(Row) row = {0};
		read_row(fx, id, &row);
		g_assert_cmpstr(row.state, ==, "pending");
		g_assert_cmpint(row.attempts, ==, i + 1);
		g_assert_cmpstr(row.last_error, ==, "the provider is unreachable");
		g_assert_cmpuint(fx->bounds->len, ==, i + 1);
		g_assert_cmpuint(g_array_index(fx->bounds, guint32, i), ==, expected[i]);
		g_assert_cmpint(row.next_attempt, ==, fx->now + (gint64)expected[i] * 1000);

		/* not due a millisecond early */
		advance(fx, expected[i] - 1);
		g_assert_cmpuint(fx->calls->len, ==, i + 1);
		advance(fx, 1);
		g_assert_cmpuint(fx->calls->len, ==, i + 2);
	}
	g_assert_cmpuint(fx->delivered->len, ==, 1);
}

static void
test_retry_jitter(Fixture *fx, gconstpointer user_data)
{
	gint64 ids[40];
	gboolean first[40] = {FALSE};
	gint64 lo = G_MAXINT64;
	gint64 hi = 0;

	/* the real random source: every delay within [0, bound] */
	vb_outbox_set_random(fx->outbox, NULL, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree gchar *recipient = g_strdup_printf("R%u", i);
		g_autofree gchar *key = g_strdup_printf("jitter-%u", i);
		ids[i] = enqueue(fx, recipient, key, "rrr");
	}
	vb_outbox_start(fx->outbox);
	drain();

	/* the first retry of each, out of [0, 1000] ms */
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_auto(Row) row = {0};
		read_row(fx, ids[i], &row);
		/* a draw of 0 makes it due again at once */
		if (g_strcmp0(row.state, "pending") != 0 || row.attempts != 1)
			continue;
		first[i] = TRUE;
		g_assert_cmpint(row.next_attempt, >=, fx->now);
		g_assert_cmpint(row.next_attempt, <=, fx->now + 1000 * 1000);
		lo = MIN(lo, row.next_attempt - fx->now);
		hi = MAX(hi, row.next_attempt - fx->now);
	}
	/* forty draws are not all the same */
	g_assert_cmpint(hi, >, lo);

	/* injected: half of the bound exactly */
	vb_outbox_set_random(fx->outbox, fake_random, fx);
	fx->random_mode = RANDOM_HALF;
	advance(fx, 1000);
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_auto(Row) row = {0};
		if (!first[i])
			continue;
		read_row(fx, ids[i], &row);
		g_assert_cmpint(row.attempts, ==, 2);
		g_assert_cmpint(row.next_attempt, ==, fx->now + 1000 * 1000);
	}
}

static void
test_retry_after(Fixture *fx, gconstpointer user_data)
{
	g_auto(Row) row = {0};
	gint64 id;

	/* the peer's Retry-After wins over the backoff, even past the max delay */
	id = enqueue(fx, "A", "rate-limited", "a");
	vb_outbox_start(fx->outbox);
	drain();
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "pending");
	g_assert_cmpint(row.next_attempt, ==, fx->now + 30000 * 1000);
	g_assert_cmpuint(fx->bounds->len, ==, 0);

	advance(fx, 29999);
	g_assert_cmpuint(fx->calls->len, ==, 1);
	advance(fx, 1);
	g_assert_cmpuint(fx->calls->len, ==, 2);
	g_assert_cmpuint(fx->delivered->len, ==, 1);
}

static void
test_dead_letter_permanent(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GPtrArray) dead = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *delivered = NULL;
	g_autofree gchar *completions = NULL;
	const gchar *text = NULL;
	gint64 id;
	gint64 value = 0;
	guint32 attempts = 0;

	id = enqueue(fx, "A", "A1", "f");
	enqueue(fx, "A", "A2", NULL);
	enqueue(fx, "A", "A3", NULL);
	vb_outbox_start(fx->outbox);
	drain();

	/* a dead letter does not hold back the items behind it */
	delivered = joined(fx->delivered);
	g_assert_cmpstr(delivered, ==, "A2 A3");
	completions = joined(fx->completions);
	g_assert_cmpstr(completions, ==, "A1:failed A2:done A3:done");

	dead = vb_outbox_list(fx->outbox, "dead", 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(dead->len, ==, 1);
	g_assert_true(g_variant_lookup(g_ptr_array_index(dead, 0), "id", "x", &value));
	g_assert_cmpint(value, ==, id);
	g_assert_true(g_variant_lookup(g_ptr_array_index(dead, 0), "last-error", "&s", &text));
	g_assert_cmpstr(text, ==, "the number cannot receive SMS");
	g_assert_true(g_variant_lookup(g_ptr_array_index(dead, 0), "state", "&s", &text));
	g_assert_cmpstr(text, ==, "dead");
	g_assert_true(g_variant_lookup(g_ptr_array_index(dead, 0), "recipient", "&s", &text));
	g_assert_cmpstr(text, ==, "A");
	g_assert_true(g_variant_lookup(g_ptr_array_index(dead, 0), "kind", "&s", &text));
	g_assert_cmpstr(text, ==, "sms");
	g_assert_true(g_variant_lookup(g_ptr_array_index(dead, 0), "visit", "&s", &text));
	g_assert_cmpstr(text, ==, "visit-1");
	g_assert_true(g_variant_lookup(g_ptr_array_index(dead, 0), "attempts", "u", &attempts));
	g_assert_cmpuint(attempts, ==, 1);
	g_assert_true(g_variant_lookup(g_ptr_array_index(dead, 0), "created", "x", &value));
	g_assert_cmpint(value, ==, T0);
	g_assert_true(g_variant_lookup(g_ptr_array_index(dead, 0), "next-attempt", "x", &value));
}

static void
test_dead_letter_retry(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_auto(Row) row = {0};
	gint64 id;
	gint64 pending;
	gint64 value = 0;

	id = enqueue(fx, "A", "A1", "f");
	vb_outbox_start(fx->outbox);
	drain();
	g_assert_cmpuint(fx->delivered->len, ==, 0);

	/* the operator retries it: attempts start again, and it goes */
	g_assert_true(vb_outbox_retry(fx->outbox, id, &error));
	g_assert_no_error(error);
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "pending");
	g_assert_cmpint(row.attempts, ==, 0);
	g_assert_null(row.last_error);
	drain();
	g_assert_cmpuint(fx->calls->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(fx->calls, 1), ==, "A1#1");
	g_assert_cmpuint(g_hash_table_size(fx->deliveries), ==, 0);

	/* the number works again */
	g_hash_table_replace(fx->scripts, g_strdup("A1"), g_strdup("d"));
	g_assert_true(vb_outbox_retry(fx->outbox, id, &error));
	drain();
	g_assert_cmpuint(count_of(fx->deliveries, "A1"), ==, 1);

	/* only a dead letter can be retried */
	g_assert_false(vb_outbox_retry(fx->outbox, id, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_CONFLICT);
	g_assert_nonnull(strstr(error->message, "only a dead letter can be retried"));
	g_clear_error(&error);

	pending = enqueue(fx, "B", "B1", "h");
	drain();
	g_assert_false(vb_outbox_retry(fx->outbox, pending, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_CONFLICT);
	g_clear_error(&error);

	g_assert_false(vb_outbox_retry(fx->outbox, 999, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
	g_clear_error(&error);

	/* newest first */
	all = vb_outbox_list(fx->outbox, NULL, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(all->len, ==, 2);
	g_assert_true(g_variant_lookup(g_ptr_array_index(all, 0), "id", "x", &value));
	g_assert_cmpint(value, ==, pending);
	g_clear_pointer(&all, g_ptr_array_unref);
	all = vb_outbox_list(fx->outbox, NULL, 1, &error);
	g_assert_cmpuint(all->len, ==, 1);
	g_clear_pointer(&all, g_ptr_array_unref);
	all = vb_outbox_list(fx->outbox, "lost", 0, &error);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_assert_null(all);
}

static void
test_dead_letter_max_attempts(Fixture *fx, gconstpointer user_data)
{
	g_auto(Row) row = {0};
	g_autofree gchar *completions = NULL;
	gint64 id;

	vb_outbox_set_limits(fx->outbox, 100, 3600, 3, 1000, 8000);
	fx->random_mode = RANDOM_ZERO;
	id = enqueue(fx, "A", "A1", "rrrrr");
	enqueue(fx, "A", "A2", NULL);
	vb_outbox_start(fx->outbox);
	drain();

	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "dead");
	g_assert_cmpint(row.attempts, ==, 3);
	g_assert_cmpstr(row.last_error, ==,
			"gave up after 3 attempts: the provider is unreachable");
	/* the complete func learns of the failure */
	completions = joined(fx->completions);
	g_assert_cmpstr(completions, ==, "A1:failed A2:done");
}

static void
test_dead_letter_max_age(Fixture *fx, gconstpointer user_data)
{
	g_auto(Row) row = {0};
	gint64 id;

	vb_outbox_set_limits(fx->outbox, 100, 60, 100, 1000, 8000);
	fx->random_mode = RANDOM_MAX;
	id = enqueue(fx, "A", "A1", "rrrrrrrrrr");
	vb_outbox_start(fx->outbox);
	drain();
	advance(fx, 30000);
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "pending");
	row_clear(&row);

	/* a transient failure past the age limit is the last one */
	advance(fx, 31000);
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "dead");
	g_assert_nonnull(strstr(row.last_error, "older than 60 s"));
	g_assert_cmpuint(fx->completions->len, ==, 1);
}

static void
test_bound(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) payload = json_from_string("{\"body\": \"x\"}", NULL);
	gint64 id;
	gint64 again;

	vb_outbox_set_limits(fx->outbox, 2, 3600, 10, 1000, 8000);
	id = enqueue(fx, "A", "A1", NULL);
	enqueue(fx, "B", "B1", NULL);
	vb_outbox_set_ephemeral(fx->outbox, "C1", "731904");
	again = vb_outbox_enqueue(fx->outbox, "sms", "C", "C1", payload, NULL, &error);
	g_assert_error(error, VB_ERROR, VB_ERROR_TOO_LARGE);
	/* the secret of an item that could not be queued is not kept */
	g_assert_null(vb_outbox_get_ephemeral(fx->outbox, "C1"));
	g_assert_nonnull(strstr(error->message, "vestibulectl outbox"));
	g_assert_cmpint(again, ==, 0);
	g_clear_error(&error);
	g_assert_cmpfloat(vb_metrics_get(fx->metrics, "vestibule_outbox_refused_total", NULL), ==,
			  1);

	/* a known key is no new item: still answered when full */
	again = vb_outbox_enqueue(fx->outbox, "sms", "A", "A1", payload, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpint(again, ==, id);

	/* once they went out, there is room again */
	vb_outbox_start(fx->outbox);
	drain();
	enqueue(fx, "C", "C1", NULL);
	enqueue(fx, "D", "D1", NULL);
}

static void
test_complete_same_transaction(Fixture *fx, gconstpointer user_data)
{
	g_auto(Row) row = {0};
	g_autoptr(GVariant) counts = NULL;
	g_autofree gchar *calls = NULL;
	gint64 id;

	/* the complete func queues the receipt SMS, then fails to update the visit */
	fx->follow_up = TRUE;
	fx->refuse_completions = 1;
	fx->random_mode = RANDOM_MAX;
	id = enqueue(fx, "A", "notice", NULL);
	vb_outbox_start(fx->outbox);
	g_test_expect_message("Vestibule", G_LOG_LEVEL_WARNING,
			      "*cannot record the outcome of outbox item*the visit could not be "
			      "updated*");
	drain();
	g_test_assert_expected_messages();

	/* neither the follow-up nor 'done' stayed; the item is tried again */
	g_assert_cmpint(count_rows(fx), ==, 1);
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "pending");
	g_assert_null(row.result);
	g_assert_nonnull(strstr(row.last_error, "the visit could not be updated"));
	g_assert_cmpint(row.next_attempt, ==, fx->now + 1000 * 1000);
	row_clear(&row);

	/* the second time it holds, and the follow-up goes out after it */
	advance(fx, 1000);
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "done");
	g_assert_cmpstr(row.result, ==, "{\"sid\":\"SM1\"}");
	g_assert_cmpint(count_rows(fx), ==, 2);
	calls = joined(fx->calls);
	g_assert_cmpstr(calls, ==, "notice#1 notice#2 follow-notice#1");
	/* the provider was asked twice, with the same key, and sent once */
	g_assert_cmpuint(count_of(fx->requests, "notice"), ==, 2);
	g_assert_cmpuint(count_of(fx->deliveries, "notice"), ==, 1);
	counts = vb_outbox_get_counts(fx->outbox);
	g_assert_cmpint(count_in(counts, "done"), ==, 2);
}

static void
test_complete_inside_transaction(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_auto(Row) row = {0};
	gint64 id;

	fx->follow_up = TRUE;
	fx->random_mode = RANDOM_MAX;
	id = enqueue(fx, "A", "A1", "hh");
	vb_outbox_start(fx->outbox);
	drain();
	g_assert_cmpuint(fx->held->len, ==, 1);

	/* completed while the caller holds a transaction: a savepoint in it, and
	 * a refusal rolls back to it without touching the caller's work */
	fx->refuse_completions = 1;
	{
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(fx->store, &error);
		g_autoptr(JsonNode) result = json_from_string("{\"sid\": \"SM1\"}", NULL);
		g_assert_no_error(error);
		enqueue(fx, "B", "B1", NULL);
		g_test_expect_message("Vestibule", G_LOG_LEVEL_WARNING,
				      "*cannot record the outcome*");
		vb_outbox_item_complete(g_ptr_array_index(fx->held, 0), VB_OUTBOX_OUTCOME_DONE,
					result, NULL, 0);
		g_test_assert_expected_messages();
		g_ptr_array_set_size(fx->held, 0);
		vb_store_transaction_commit(tx, &error);
		g_assert_no_error(error);
	}
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "pending");
	g_assert_cmpint(count_rows(fx), ==, 2);
	row_clear(&row);

	/* and an accepted one is committed with the caller's transaction */
	advance(fx, 1000);
	g_assert_cmpuint(fx->held->len, ==, 1);
	{
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(fx->store, &error);
		g_autoptr(JsonNode) result = json_from_string("{\"sid\": \"SM1\"}", NULL);
		g_assert_no_error(error);
		vb_outbox_item_complete(g_ptr_array_index(fx->held, 0), VB_OUTBOX_OUTCOME_DONE,
					result, NULL, 0);
		g_ptr_array_set_size(fx->held, 0);
		vb_store_transaction_commit(tx, &error);
		g_assert_no_error(error);
	}
	drain();
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "done");
	g_assert_cmpuint(count_of(fx->deliveries, "follow-A1"), ==, 1);
	g_assert_cmpuint(count_of(fx->deliveries, "B1"), ==, 1);
}

static gpointer
complete_in_thread(gpointer user_data)
{
	vb_outbox_item_complete(user_data, VB_OUTBOX_OUTCOME_DONE, NULL, NULL, 0);
	return NULL;
}

static void
test_complete_wrong_thread(Fixture *fx, gconstpointer user_data)
{
	g_auto(Row) row = {0};
	g_autoptr(JsonNode) result = NULL;
	GThread *thread;
	gint64 id;

	id = enqueue(fx, "A", "A1", "h");
	vb_outbox_start(fx->outbox);
	drain();
	g_assert_cmpuint(fx->held->len, ==, 1);

	/* the main loop runs here: a completion from a worker thread is refused */
	g_assert_true(g_main_context_acquire(NULL));
	g_test_expect_message("Vestibule", G_LOG_LEVEL_CRITICAL, "*in_context*");
	thread = g_thread_new("worker", complete_in_thread, g_ptr_array_index(fx->held, 0));
	g_thread_join(thread);
	g_test_assert_expected_messages();
	g_main_context_release(NULL);
	g_assert_cmpuint(vb_outbox_get_n_in_flight(fx->outbox), ==, 1);

	result = json_from_string("{\"sid\": \"SM1\"}", NULL);
	vb_outbox_item_complete(g_ptr_array_index(fx->held, 0), VB_OUTBOX_OUTCOME_DONE, result,
				NULL, 0);
	g_ptr_array_set_size(fx->held, 0);
	/* recorded at the end of the turn of the main loop */
	drain();
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "done");
}

/* what a kill -9 leaves: the dispatcher started, nothing came back */
static void
crash(Fixture *fx)
{
	g_clear_object(&fx->outbox);
	vb_store_close(fx->store);
	g_clear_object(&fx->store);
	fixture_open_store(fx);
	fixture_new_outbox(fx);
}

static void
test_crash_resume(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GPtrArray) sending = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *calls = NULL;
	g_auto(Row) row = {0};
	gint64 id;

	id = enqueue(fx, "A", "capture-visit-7", "hd");
	enqueue(fx, "A", "receipt-visit-7", NULL);
	vb_outbox_start(fx->outbox);
	drain();
	g_assert_cmpuint(fx->held->len, ==, 1);

	/* 'sending' was committed before the dispatcher ran */
	sending = vb_outbox_list(fx->outbox, "sending", 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(sending->len, ==, 1);

	crash(fx);
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "sending");
	vb_outbox_start(fx->outbox);
	drain();

	/* sent again with the same key: the provider had it and sent nothing more */
	calls = joined(fx->calls);
	g_assert_cmpstr(calls, ==, "capture-visit-7#1 capture-visit-7#2 receipt-visit-7#1");
	g_assert_cmpuint(count_of(fx->requests, "capture-visit-7"), ==, 2);
	g_assert_cmpuint(count_of(fx->deliveries, "capture-visit-7"), ==, 1);
	g_assert_cmpuint(count_of(fx->deliveries, "receipt-visit-7"), ==, 1);
	row_clear(&row);
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "done");

	/* the answer of the killed process arrives in no outbox */
	complete_held(fx);
	row_clear(&row);
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "done");
}

static void
test_stop_in_flight(Fixture *fx, gconstpointer user_data)
{
	g_auto(Row) row = {0};
	gint64 id;

	id = enqueue(fx, "A", "A1", "hd");
	vb_outbox_start(fx->outbox);
	drain();
	g_assert_cmpuint(vb_outbox_get_n_in_flight(fx->outbox), ==, 1);

	vb_outbox_stop(fx->outbox);
	g_assert_true(g_cancellable_is_cancelled(g_ptr_array_index(fx->cancellables, 0)));
	g_assert_cmpuint(vb_outbox_get_n_in_flight(fx->outbox), ==, 0);

	/* the cancelled send reports back: not a retry, nothing recorded */
	complete_held(fx);
	drain();
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "sending");
	g_assert_cmpint(row.attempts, ==, 1);
	g_assert_null(row.last_error);
	g_assert_cmpuint(fx->completions->len, ==, 0);
	g_assert_cmpfloat(vb_metrics_get(fx->metrics, "vestibule_outbox_dispatches_total",
					 "kind=\"sms\",outcome=\"retry\""),
			  ==, 0);

	/* it resumes at the next start */
	vb_outbox_start(fx->outbox);
	drain();
	row_clear(&row);
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "done");
	g_assert_cmpint(row.attempts, ==, 2);
	g_assert_cmpuint(count_of(fx->deliveries, "A1"), ==, 1);
}

static void
test_ephemeral(Fixture *fx, gconstpointer user_data)
{
	g_auto(Row) row = {0};
	gint64 id;

	/* available to the dispatcher, through retries */
	vb_outbox_set_ephemeral(fx->outbox, "otp-1", "482913");
	enqueue(fx, "A", "otp-1", "rs");
	vb_outbox_start(fx->outbox);
	drain();
	g_assert_cmpstr(vb_outbox_get_ephemeral(fx->outbox, "otp-1"), ==, "482913");
	advance(fx, 1000);
	g_assert_cmpuint(fx->secrets->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(fx->secrets, 0), ==, "482913");
	g_assert_cmpstr(g_ptr_array_index(fx->secrets, 1), ==, "482913");
	g_assert_cmpuint(fx->delivered->len, ==, 1);
	/* gone once the item completed */
	g_assert_null(vb_outbox_get_ephemeral(fx->outbox, "otp-1"));

	/* never written down: after a restart the dispatcher finds nothing */
	vb_outbox_set_ephemeral(fx->outbox, "otp-2", "105377");
	id = enqueue(fx, "B", "otp-2", "hs");
	drain();
	g_assert_cmpuint(fx->held->len, ==, 1);
	crash(fx);
	g_assert_null(vb_outbox_get_ephemeral(fx->outbox, "otp-2"));
	vb_outbox_start(fx->outbox);
	drain();
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "dead");
	g_assert_cmpstr(row.last_error, ==, "the one-time code is gone after a restart");
	g_assert_cmpstr(g_ptr_array_index(fx->secrets, fx->secrets->len - 1), ==, "");

	/* and a dead letter wipes its secret too */
	vb_outbox_set_ephemeral(fx->outbox, "otp-3", "000111");
	enqueue(fx, "C", "otp-3", "f");
	drain();
	g_assert_null(vb_outbox_get_ephemeral(fx->outbox, "otp-3"));
}

static void
test_unknown_kind(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) payload = json_from_string("{\"body\": \"x\"}", NULL);
	g_auto(Row) row = {0};
	gint64 id;

	id = vb_outbox_enqueue(fx->outbox, "fax", "A", "fax-1", payload, NULL, &error);
	g_assert_no_error(error);
	enqueue(fx, "A", "A2", NULL);
	vb_outbox_start(fx->outbox);
	g_test_expect_message("Vestibule", G_LOG_LEVEL_WARNING, "*no handler for kind fax*");
	drain();
	g_test_assert_expected_messages();
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "dead");
	g_assert_cmpstr(row.last_error, ==, "no handler for kind fax");
	g_assert_cmpuint(fx->delivered->len, ==, 1);
}

static void
test_counts(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GVariant) counts = NULL;

	fx->random_mode = RANDOM_MAX;
	enqueue(fx, "A", "A1", "h");
	enqueue(fx, "B", "B1", "f");
	enqueue(fx, "C", "C1", NULL);
	enqueue(fx, "D", "D1", "r");
	/* the gauges are counted at the end of the turn of the main loop */
	drain();
	g_assert_cmpfloat(gauge(fx, "pending"), ==, 4);
	vb_outbox_start(fx->outbox);
	drain();

	counts = vb_outbox_get_counts(fx->outbox);
	g_assert_cmpint(count_in(counts, "pending"), ==, 1);
	g_assert_cmpint(count_in(counts, "sending"), ==, 1);
	g_assert_cmpint(count_in(counts, "done"), ==, 1);
	g_assert_cmpint(count_in(counts, "dead"), ==, 1);
	g_assert_cmpfloat(gauge(fx, "pending"), ==, 1);
	g_assert_cmpfloat(gauge(fx, "sending"), ==, 1);
	g_assert_cmpfloat(gauge(fx, "done"), ==, 1);
	g_assert_cmpfloat(gauge(fx, "dead"), ==, 1);
	g_assert_cmpfloat(vb_metrics_get(fx->metrics, "vestibule_outbox_dispatches_total",
					 "kind=\"sms\",outcome=\"done\""),
			  ==, 1);
	g_assert_cmpfloat(vb_metrics_get(fx->metrics, "vestibule_outbox_dispatches_total",
					 "kind=\"sms\",outcome=\"failed\""),
			  ==, 1);
	g_assert_cmpfloat(vb_metrics_get(fx->metrics, "vestibule_outbox_dispatches_total",
					 "kind=\"sms\",outcome=\"retry\""),
			  ==, 1);

	advance(fx, 1000);
	g_assert_cmpfloat(gauge(fx, "pending"), ==, 0);
	g_assert_cmpfloat(gauge(fx, "done"), ==, 2);
}

static gint64
health_of(Fixture *fx, const gchar *figure);

/* a rate limit of one sms a second, on the fake clock */
static guint
fake_gate(VbOutbox *outbox, const gchar *kind, gint64 *wait_us, gpointer user_data)
{
	Fixture *fx = user_data;

	g_assert_cmpstr(kind, ==, "sms");
	fx->gate_calls++;
	if (fx->gate_next <= fx->now)
		return 1;
	*wait_us = fx->gate_next - fx->now;
	return 0;
}

static void
gated_note_dispatch(VbOutbox *outbox,
		    VbOutboxItem *item,
		    GCancellable *cancellable,
		    gpointer user_data)
{
	Fixture *fx = user_data;

	g_ptr_array_add(fx->calls,
			g_strdup_printf("%s#%u", vb_outbox_item_get_idempotency_key(item),
					vb_outbox_item_get_attempts(item)));
	vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_DONE, NULL, NULL, 0);
}

/* 200 sms queued behind a rate limit of one a second: each waits in the
 * queue, unclaimed and untouched (no attempt, no retry, no wake-up) until its
 * slot, then goes once, in order; another kind does not wait for it */
static void
test_gate_waits_unclaimed(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) payload = json_from_string("{\"body\": \"note\"}", NULL);
	g_autoptr(GString) expected = g_string_new(NULL);
	g_autofree gchar *calls = NULL;
	guint64 ticks;
	guint n = 200;

	vb_outbox_set_limits(fx->outbox, 1000, 24 * 3600, 10, 1000, 8000);
	vb_outbox_register(fx->outbox, "note", gated_note_dispatch, NULL, fx, NULL);
	fx->gate_next = fx->now;
	vb_outbox_set_gate(fx->outbox, "sms", fake_gate, fx);
	for (guint i = 0; i < n; i++) {
		g_autofree gchar *recipient = g_strdup_printf("R%u", i);
		g_autofree gchar *key = g_strdup_printf("K%u", i);
		enqueue(fx, recipient, key, NULL);
		g_string_append_printf(expected, "%sK%u#1", i > 0 ? " " : "", i);
	}
	vb_outbox_start(fx->outbox);
	drain();
	g_assert_cmpuint(fx->delivered->len, ==, 1);

	/* waiting costs nothing: the others are neither claimed nor retried */
	{
		g_auto(Row) row = {0};
		read_row(fx, 2, &row);
		g_assert_cmpstr(row.state, ==, "pending");
		g_assert_cmpint(row.attempts, ==, 0);
		g_assert_null(row.last_error);
	}
	/* and visible as waiting for the gate, not stuck */
	g_assert_cmpint(health_of(fx, "queued"), ==, n - 1);
	g_assert_cmpint(health_of(fx, "gate-opens-in-ms"), ==, GATE_INTERVAL_MS);
	g_assert_false(health_of(fx, "stuck"));

	/* nothing wakes the outbox between two slots, not even a new sms */
	ticks = vb_outbox_get_n_ticks(fx->outbox);
	fx->now += GATE_INTERVAL_MS / 2 * 1000;
	enqueue(fx, "late", "late", NULL);
	drain();
	g_assert_cmpuint(vb_outbox_get_n_ticks(fx->outbox), ==, ticks);
	g_assert_cmpuint(fx->delivered->len, ==, 1);

	/* another kind goes at once */
	vb_outbox_enqueue(fx->outbox, "note", "R0", "N1", payload, NULL, &error);
	g_assert_no_error(error);
	drain();
	g_assert_cmpstr(g_ptr_array_index(fx->calls, fx->calls->len - 1), ==, "N1#1");
	g_ptr_array_remove_index(fx->calls, fx->calls->len - 1);

	/* then one a slot, in order, each dispatched once; the gate's timer
	 * and the outcome wake the outbox, nothing else */
	fx->now += GATE_INTERVAL_MS / 2 * 1000;
	for (guint i = 1; i < n; i++) {
		guint64 before = vb_outbox_get_n_ticks(fx->outbox);
		vb_outbox_wake(fx->outbox);
		drain();
		g_assert_cmpuint(fx->delivered->len, ==, i + 1);
		g_assert_cmpuint(vb_outbox_get_n_ticks(fx->outbox) - before, <=, 3);
		fx->now += GATE_INTERVAL_MS * 1000;
	}
	g_string_append(expected, " late#1");
	vb_outbox_wake(fx->outbox);
	drain();
	calls = joined(fx->calls);
	g_assert_cmpstr(calls, ==, expected->str);
	g_assert_cmpfloat(vb_metrics_get(fx->metrics, "vestibule_outbox_dispatches_total",
					 "kind=\"sms\",outcome=\"retry\""),
			  ==, 0);
	g_assert_cmpfloat(vb_metrics_get(fx->metrics, "vestibule_outbox_dispatches_total",
					 "kind=\"sms\",outcome=\"done\""),
			  ==, n + 1);
	vb_outbox_set_gate(fx->outbox, "sms", NULL, NULL);
}

/* VB_OUTBOX_MAX_IN_FLIGHT */
#define MAX_IN_FLIGHT 64

static void
test_concurrency(Fixture *fx, gconstpointer user_data)
{
	g_autofree gchar *next = g_strdup_printf("K%u#1", MAX_IN_FLIGHT);

	vb_outbox_set_limits(fx->outbox, 1000, 3600, 10, 1000, 8000);
	/* at most MAX_IN_FLIGHT in flight, and one per recipient */
	for (guint i = 0; i < MAX_IN_FLIGHT + 4; i++) {
		g_autofree gchar *recipient = g_strdup_printf("R%u", i);
		g_autofree gchar *key = g_strdup_printf("K%u", i);
		enqueue(fx, recipient, key, "h");
	}
	enqueue(fx, "R0", "K0-second", NULL);
	vb_outbox_start(fx->outbox);
	drain();
	g_assert_cmpuint(fx->held->len, ==, MAX_IN_FLIGHT);
	g_assert_cmpuint(vb_outbox_get_n_in_flight(fx->outbox), ==, MAX_IN_FLIGHT);

	/* one slot frees up: the oldest waiting item takes it, never K0-second */
	vb_outbox_item_complete(g_ptr_array_index(fx->held, 0), VB_OUTBOX_OUTCOME_RETRY, NULL,
				"slow", 60000);
	g_ptr_array_remove_index(fx->held, 0);
	drain();
	g_assert_cmpuint(fx->held->len, ==, MAX_IN_FLIGHT);
	g_assert_cmpstr(g_ptr_array_index(fx->calls, fx->calls->len - 1), ==, next);
}

/* kill -9 at random moments: each run of a child process queues a new batch,
 * queues the earlier ones again (a restarted visit logic does the same) and
 * sends, until it is killed; the fake provider dedupes by key in files that
 * survive the kill */

#define KILL_BATCH 6

typedef struct {
	gchar *dir;
	VbOutbox *outbox;
	GMainLoop *loop;
	guint gen;    /* this run's batch */
	guint next_g; /* the next item to queue */
	guint next_n;
} Child;

typedef struct {
	VbOutboxItem *item;
	VbOutboxOutcome outcome;
} ChildReply;

static gboolean
child_reply_cb(gpointer user_data)
{
	ChildReply *reply = user_data;
	g_autoptr(JsonNode) result = json_from_string("{\"sid\": \"SM1\"}", NULL);

	vb_outbox_item_complete(reply->item, reply->outcome,
				reply->outcome == VB_OUTBOX_OUTCOME_DONE ? result : NULL,
				"the provider did not answer", 0);
	g_free(reply);
	return G_SOURCE_REMOVE;
}

static void
child_append(const gchar *path, const gchar *line)
{
	gint fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, line, strlen(line)), ==, (gssize)strlen(line));
	close(fd);
}

static void
child_dispatch(VbOutbox *outbox, VbOutboxItem *item, GCancellable *cancellable, gpointer user_data)
{
	Child *child = user_data;
	const gchar *key = vb_outbox_item_get_idempotency_key(item);
	g_autofree gchar *line =
	    g_strdup_printf("%" G_GINT64_FORMAT " %s\n", vb_outbox_item_get_id(item), key);
	g_autofree gchar *attempts = g_build_filename(child->dir, "attempts.log", NULL);
	g_autofree gchar *sent = g_build_filename(child->dir, "sent", key, NULL);
	ChildReply *reply = g_new0(ChildReply, 1);
	GSource *source;
	gint roll = g_random_int_range(0, 100);
	gint fd;

	child_append(attempts, line);
	reply->item = item;
	reply->outcome = VB_OUTBOX_OUTCOME_DONE;
	if (roll < 15) {
		/* unreachable: nothing sent */
		reply->outcome = VB_OUTBOX_OUTCOME_RETRY;
	} else {
		/* the provider sends a key once; a repeat is answered from its record */
		fd = open(sent, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			g_assert_cmpint(write(fd, line, strlen(line)), ==, (gssize)strlen(line));
			close(fd);
		} else {
			g_assert_cmpint(errno, ==, EEXIST);
		}
		/* sent, but the answer was lost */
		if (roll < 30)
			reply->outcome = VB_OUTBOX_OUTCOME_RETRY;
	}
	source = g_timeout_source_new(g_random_int_range(0, 4));
	g_source_set_callback(source, child_reply_cb, reply, NULL);
	g_source_attach(source, NULL);
	g_source_unref(source);
}

static void
note_dispatch(VbOutbox *outbox, VbOutboxItem *item, GCancellable *cancellable, gpointer user_data)
{
	vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_DONE, NULL, NULL, 0);
}

/* the visit logic records the delivery with the outcome: a note item here */
static gboolean
child_complete(VbOutbox *outbox,
	       VbOutboxItem *item,
	       VbOutboxOutcome outcome,
	       JsonNode *result,
	       gpointer user_data,
	       GError **error)
{
	g_autofree gchar *key =
	    g_strdup_printf("note-%s", vb_outbox_item_get_idempotency_key(item));
	g_autoptr(JsonNode) payload = json_from_string("{\"body\": \"note\"}", NULL);

	return vb_outbox_enqueue(outbox, "note", "notes", key, payload, NULL, error) > 0;
}

static gboolean
child_enqueue_cb(gpointer user_data)
{
	Child *child = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) payload = json_from_string("{\"body\": \"hello\"}", NULL);
	g_autofree gchar *key = NULL;
	g_autofree gchar *recipient = NULL;

	if (child->next_g > child->gen)
		return G_SOURCE_CONTINUE;
	key = g_strdup_printf("k-%02u-%u", child->next_g, child->next_n);
	recipient = g_strdup_printf("R%u", child->next_n % 3);
	vb_outbox_enqueue(child->outbox, "sms", recipient, key, payload, NULL, &error);
	g_assert_no_error(error);
	if (++child->next_n == KILL_BATCH) {
		child->next_n = 0;
		child->next_g++;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean
child_check_cb(gpointer user_data)
{
	Child *child = user_data;
	g_autoptr(GVariant) counts = vb_outbox_get_counts(child->outbox);

	if (child->next_g > child->gen && count_in(counts, "pending") == 0 &&
	    count_in(counts, "sending") == 0)
		g_main_loop_quit(child->loop);
	return G_SOURCE_CONTINUE;
}

static int
kill9_child(const gchar *dir, const gchar *gen)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStore) store = vb_store_new();
	g_autoptr(VbMetrics) metrics = vb_metrics_new();
	g_autofree gchar *path = g_build_filename(dir, "vestibule.db", NULL);
	g_autoptr(GSource) enqueue_source = NULL;
	g_autoptr(GSource) check_source = NULL;
	Child child = {0};

	if (!vb_store_open(store, path, &error)) {
		g_printerr("%s\n", error->message);
		return 1;
	}
	child.dir = g_strdup(dir);
	child.gen = (guint)g_ascii_strtoull(gen, NULL, 10);
	child.loop = g_main_loop_new(NULL, FALSE);
	child.outbox = vb_outbox_new(store, metrics);
	vb_outbox_set_limits(child.outbox, 1000, 3600, 1000, 1, 4);
	vb_outbox_register(child.outbox, "sms", child_dispatch, child_complete, &child, NULL);
	vb_outbox_register(child.outbox, "note", note_dispatch, NULL, NULL, NULL);
	vb_outbox_start(child.outbox);

	enqueue_source = g_timeout_source_new(1);
	g_source_set_callback(enqueue_source, child_enqueue_cb, &child, NULL);
	g_source_attach(enqueue_source, NULL);
	check_source = g_timeout_source_new(5);
	g_source_set_callback(check_source, child_check_cb, &child, NULL);
	g_source_attach(check_source, NULL);
	g_main_loop_run(child.loop);

	g_source_destroy(enqueue_source);
	g_source_destroy(check_source);
	g_clear_object(&child.outbox);
	g_main_loop_unref(child.loop);
	g_free(child.dir);
	vb_store_close(store);
	return 0;
}

static GSubprocess *
spawn_child(const gchar *dir, guint gen)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *self = g_file_read_link("/proc/self/exe", &error);
	g_autofree gchar *gen_str = g_strdup_printf("%u", gen);
	GSubprocess *proc;

	g_assert_no_error(error);
	proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
				&error, self, "--kill9-child", dir, gen_str, NULL);
	g_assert_no_error(error);
	return proc;
}

static void
print_errors(GBytes *errors)
{
	gsize size = 0;
	const gchar *data = g_bytes_get_data(errors, &size);
	g_autofree gchar *text = g_utf8_make_valid(data != NULL ? data : "", (gssize)size);
	g_printerr("%s", text);
}

static void
assert_state_of_key(Fixture *fx, const gchar *key, const gchar *state)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
	    fx->store, "SELECT state FROM outbox WHERE idempotency_key = ?1", &error);

	g_assert_no_error(error);
	vb_store_stmt_bind_text(stmt, 1, key);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
	g_assert_cmpstr(vb_store_stmt_column_text(stmt, 0), ==, state);
}

static void
test_crash_kill9(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocess) last = NULL;
	g_autoptr(GBytes) last_errors = NULL;
	g_autofree gchar *sent_dir = g_build_filename(fx->dir, "sent", NULL);
	g_autofree gchar *attempts_path = g_build_filename(fx->dir, "attempts.log", NULL);
	g_autofree gchar *attempts = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GHashTable) key_of_id =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(GVariant) counts = NULL;
	guint runs = g_test_slow() ? 60 : 15;
	guint killed = 0;
	guint total = (runs + 1) * KILL_BATCH;

	/* the fixture's own connection stays closed while the children write */
	g_clear_object(&fx->outbox);
	vb_store_close(fx->store);
	g_assert_cmpint(g_mkdir(sent_dir, 0700), ==, 0);

	for (guint gen = 0; gen < runs; gen++) {
		g_autoptr(GSubprocess) proc = spawn_child(fx->dir, gen);
		g_autoptr(GBytes) errors = NULL;

		g_usleep(g_test_rand_int_range(0, 150) * 1000);
		g_subprocess_force_exit(proc);
		g_subprocess_communicate(proc, NULL, NULL, NULL, &errors, &error);
		g_assert_no_error(error);
		/* killed, or done before the kill; anything else is a failure of the child */
		if (g_subprocess_get_if_signaled(proc) &&
		    g_subprocess_get_term_sig(proc) == SIGKILL) {
			killed++;
			continue;
		}
		if (!g_subprocess_get_successful(proc))
			print_errors(errors);
		g_assert_true(g_subprocess_get_successful(proc));
	}
	g_test_message("killed %u of %u runs", killed, runs);

	/* the last run goes to the end */
	last = spawn_child(fx->dir, runs);
	g_subprocess_communicate(last, NULL, NULL, NULL, &last_errors, &error);
	g_assert_no_error(error);
	if (!g_subprocess_get_successful(last))
		print_errors(last_errors);
	g_assert_true(g_subprocess_get_successful(last));

	/* every item went out exactly once, and each delivery was recorded with it */
	vb_store_open(fx->store, fx->path, &error);
	g_assert_no_error(error);
	for (guint g = 0; g <= runs; g++) {
		for (guint n = 0; n < KILL_BATCH; n++) {
			g_autofree gchar *key = g_strdup_printf("k-%02u-%u", g, n);
			g_autofree gchar *note = g_strdup_printf("note-%s", key);
			g_autofree gchar *sent = g_build_filename(sent_dir, key, NULL);
			g_assert_true(g_file_test(sent, G_FILE_TEST_EXISTS));
			assert_state_of_key(fx, key, "done");
			assert_state_of_key(fx, note, "done");
		}
	}
	g_assert_cmpint(count_rows(fx), ==, 2 * total);

	/* every attempt of an item, across the kills, carried the same key */
	g_file_get_contents(attempts_path, &attempts, NULL, &error);
	g_assert_no_error(error);
	lines = g_strsplit(attempts, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) fields = NULL;
		const gchar *known;

		if (lines[i][0] == '\0')
			continue;
		fields = g_strsplit(lines[i], " ", 2);
		g_assert_cmpuint(g_strv_length(fields), ==, 2);
		known = g_hash_table_lookup(key_of_id, fields[0]);
		if (known != NULL)
			g_assert_cmpstr(known, ==, fields[1]);
		else
			g_hash_table_insert(key_of_id, g_strdup(fields[0]), g_strdup(fields[1]));
	}
	g_assert_cmpuint(g_hash_table_size(key_of_id), ==, total);

	fx->outbox = vb_outbox_new(fx->store, fx->metrics);
	counts = vb_outbox_get_counts(fx->outbox);
	g_assert_cmpint(count_in(counts, "done"), ==, 2 * total);
}

static void
test_prune_keeps_dead_letters(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) counts = NULL;

	enqueue(fx, "+33600000001", "delivered", NULL);
	enqueue(fx, "+33600000002", "refused", "f");
	vb_outbox_start(fx->outbox);
	drain();
	/* a month on, the delivered item goes and the dead letter stays for the operator */
	g_assert_cmpint(vb_outbox_prune(fx->outbox, g_get_real_time() + G_USEC_PER_SEC, 0, &error),
			==, 1);
	g_assert_no_error(error);
	counts = vb_outbox_get_counts(fx->outbox);
	g_assert_cmpint(count_in(counts, "done"), ==, 0);
	g_assert_cmpint(count_in(counts, "dead"), ==, 1);
	/* an earlier cut-off removes nothing */
	g_assert_cmpint(vb_outbox_prune(fx->outbox, 0, 0, &error), ==, 0);
}

/* unknown outcomes */

static gchar *
repeat(gchar letter, guint n)
{
	return g_strnfill(n, letter);
}

/* room for the many attempts of an unknown outcome */
static void
many_attempts(Fixture *fx)
{
	vb_outbox_set_limits(fx->outbox, 100, 24 * 3600, 1000, 1000, 8000);
}

/* a figure of the "sms" kind in vb_outbox_get_health() */
static gint64
health_of(Fixture *fx, const gchar *figure)
{
	g_autoptr(GVariant) health = vb_outbox_get_health(fx->outbox);
	g_autoptr(GVariant) kinds = g_variant_lookup_value(health, "kinds", NULL);
	g_autoptr(GVariant) sms = g_variant_lookup_value(kinds, "sms", NULL);
	g_autoptr(GVariant) value = NULL;

	g_assert_nonnull(sms);
	value = g_variant_lookup_value(sms, figure, NULL);
	g_assert_nonnull(value);
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN))
		return g_variant_get_boolean(value);
	return g_variant_get_int64(value);
}

static gchar *
fault_of(Fixture *fx, const gchar *source)
{
	g_autoptr(GVariant) health = vb_outbox_get_health(fx->outbox);
	g_autoptr(GVariant) faults = g_variant_lookup_value(health, "faults", NULL);
	gchar *why = NULL;

	g_variant_lookup(faults, source, "s", &why);
	return why;
}

static gdouble
kind_gauge(Fixture *fx, const gchar *name)
{
	return vb_metrics_get(fx->metrics, name, "kind=\"sms\"");
}

/* an item whose outcome stays unknown holds back the later items of its
 * recipient for unknown-hold-s, no longer: then they go, in their order,
 * while it is asked about; once the provider answers it is done, sent once */
static void
test_unknown_hold_bound(Fixture *fx, gconstpointer user_data)
{
	g_autofree gchar *script = repeat('u', 12);
	g_autofree gchar *delivered = NULL;
	g_auto(Row) row = {0};
	gint64 a1;

	many_attempts(fx);
	fx->random_mode = RANDOM_MAX;
	a1 = enqueue(fx, "A", "A1", script);
	enqueue(fx, "A", "A2", NULL);
	enqueue(fx, "A", "A3", NULL);
	enqueue(fx, "B", "B1", NULL);
	vb_outbox_start(fx->outbox);
	drain();
	for (guint i = 0; i < 59; i++)
		advance(fx, 1000);
	delivered = joined(fx->delivered);
	g_assert_cmpstr(delivered, ==, "B1");
	g_clear_pointer(&delivered, g_free);
	g_assert_cmpint(health_of(fx, "queued"), ==, 3);
	g_assert_cmpint(health_of(fx, "unknown"), ==, 1);
	g_assert_cmpint(health_of(fx, "oldest-age-s"), ==, 59);
	vb_outbox_check_health(fx->outbox);
	g_assert_cmpfloat(kind_gauge(fx, "vestibule_outbox_unknown_outcome"), ==, 1);
	g_assert_cmpfloat(kind_gauge(fx, "vestibule_outbox_queued"), ==, 3);
	g_assert_cmpfloat(kind_gauge(fx, "vestibule_outbox_oldest_age_seconds"), ==, 59);

	/* the hold ends */
	advance(fx, 1000);
	delivered = joined(fx->delivered);
	g_assert_cmpstr(delivered, ==, "B1 A2 A3");
	g_clear_pointer(&delivered, g_free);
	read_row(fx, a1, &row);
	g_assert_cmpstr(row.state, ==, "pending");
	g_assert_nonnull(strstr(row.last_error, "HTTP 503"));
	g_assert_cmpint(health_of(fx, "unknown"), ==, 1);
	/* no policy before unknown-give-up-s */
	g_assert_cmpuint(fx->policy_calls->len, ==, 0);

	/* the provider answers at last: sent once */
	for (guint i = 0; i < 120; i++)
		advance(fx, 1000);
	delivered = joined(fx->delivered);
	g_assert_cmpstr(delivered, ==, "B1 A2 A3 A1");
	g_assert_cmpuint(count_of(fx->deliveries, "A1"), ==, 1);
	g_assert_cmpint(health_of(fx, "queued"), ==, 0);
	g_assert_cmpfloat(vb_metrics_get(fx->metrics, "vestibule_outbox_unknown_settled_total",
					 "kind=\"sms\",how=\"resolved\""),
			  ==, 1);
}

/* a kind that keeps its order (money) lets nothing pass an unknown item */
static void
test_unknown_keep_order(Fixture *fx, gconstpointer user_data)
{
	g_autofree gchar *script = repeat('u', 30);
	g_autofree gchar *delivered = NULL;

	vb_outbox_set_unknown_policy(fx->outbox, "sms", TRUE, NULL);
	many_attempts(fx);
	fx->random_mode = RANDOM_MAX;
	enqueue(fx, "A", "capture", script);
	enqueue(fx, "A", "cancel", NULL);
	vb_outbox_start(fx->outbox);
	drain();
	for (guint i = 0; i < 200; i++)
		advance(fx, 1000);
	g_assert_cmpuint(fx->delivered->len, ==, 0);
	g_assert_cmpint(health_of(fx, "unknown"), ==, 1);
	/* asked again, never sent again on a guess */
	g_assert_cmpuint(fx->calls->len, >=, 20);
	g_assert_cmpuint(count_of(fx->deliveries, "capture"), ==, 1);
	for (guint i = 0; i < 600 && fx->delivered->len < 2; i++)
		advance(fx, 1000);
	delivered = joined(fx->delivered);
	g_assert_cmpstr(delivered, ==, "capture cancel");
}

/* past unknown-give-up-s the kind's policy decides; a resend goes under a
 * new key, once */
static void
test_unknown_policy_resend(Fixture *fx, gconstpointer user_data)
{
	g_autofree gchar *script = repeat('u', 200);
	g_auto(Row) row = {0};
	gint64 id;

	fx->policy = VB_OUTBOX_UNKNOWN_RESEND;
	many_attempts(fx);
	fx->random_mode = RANDOM_MAX;
	id = enqueue(fx, "A", "receipt", script);
	vb_outbox_start(fx->outbox);
	drain();
	for (guint i = 0; i < 599; i++)
		advance(fx, 1000);
	g_assert_cmpuint(fx->policy_calls->len, ==, 0);
	g_assert_cmpuint(fx->delivered->len, ==, 0);
	for (guint i = 0; i < 20 && fx->delivered->len == 0; i++)
		advance(fx, 1000);
	g_assert_cmpuint(fx->policy_calls->len, ==, 1);
	g_assert_true(g_str_has_prefix(g_ptr_array_index(fx->policy_calls, 0), "receipt@60"));
	/* the first may have gone, and the second did: a duplicate rather than a loss */
	g_assert_cmpuint(count_of(fx->deliveries, "receipt"), ==, 1);
	g_assert_cmpuint(count_of(fx->deliveries, "receipt~1"), ==, 1);
	g_assert_cmpuint(fx->delivered->len, ==, 1);
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "done");
	g_assert_cmpfloat(vb_metrics_get(fx->metrics, "vestibule_outbox_unknown_settled_total",
					 "kind=\"sms\",how=\"resent\""),
			  ==, 1);
}

/* or it gives up: a dead letter that says why, and nothing sent again */
static void
test_unknown_policy_give_up(Fixture *fx, gconstpointer user_data)
{
	g_autofree gchar *script = repeat('u', 200);
	g_autofree gchar *completions = NULL;
	g_auto(Row) row = {0};
	gint64 id;

	fx->policy = VB_OUTBOX_UNKNOWN_GIVE_UP;
	many_attempts(fx);
	fx->random_mode = RANDOM_MAX;
	id = enqueue(fx, "A", "notice", script);
	enqueue(fx, "A", "later", NULL);
	vb_outbox_start(fx->outbox);
	drain();
	for (guint i = 0; i < 700; i++)
		advance(fx, 1000);
	read_row(fx, id, &row);
	g_assert_cmpstr(row.state, ==, "dead");
	g_assert_nonnull(strstr(row.last_error, "given up"));
	g_assert_cmpuint(count_of(fx->deliveries, "notice"), ==, 1);
	g_assert_cmpuint(count_of(fx->deliveries, "notice~1"), ==, 0);
	completions = joined(fx->completions);
	g_assert_cmpstr(completions, ==, "later:done notice:failed");
}

/* an attempt that did not reach the provider leaves the outcome unknown */
static void
test_unknown_retry_stays_unknown(Fixture *fx, gconstpointer user_data)
{
	g_autofree gchar *retries = repeat('r', 40);
	g_autofree gchar *script = g_strconcat("u", retries, NULL);
	g_autofree gchar *delivered = NULL;

	many_attempts(fx);
	fx->random_mode = RANDOM_MAX;
	enqueue(fx, "A", "A1", script);
	enqueue(fx, "A", "A2", NULL);
	vb_outbox_start(fx->outbox);
	drain();
	for (guint i = 0; i < 30; i++)
		advance(fx, 1000);
	g_assert_cmpint(health_of(fx, "unknown"), ==, 1);
	g_assert_cmpuint(fx->delivered->len, ==, 0);
	for (guint i = 0; i < 31; i++)
		advance(fx, 1000);
	delivered = joined(fx->delivered);
	g_assert_cmpstr(delivered, ==, "A2");
}

/* a provider that refuses lookups is a fault: one critical alert however
 * many attempts, a metric and the status; the policy applies at
 * unknown-hold-s, and the fault ends when a lookup answers */
static void
test_unknown_unknowable(Fixture *fx, gconstpointer user_data)
{
	g_autofree gchar *refusals = repeat('k', 30);
	g_autofree gchar *script = g_strconcat(refusals, "d", NULL);
	g_autofree gchar *why = NULL;
	g_autofree gchar *delivered = NULL;

	fx->policy = VB_OUTBOX_UNKNOWN_RESEND;
	many_attempts(fx);
	fx->random_mode = RANDOM_MAX;
	enqueue(fx, "A", "receipt", script);
	enqueue(fx, "A", "later", NULL);
	vb_outbox_start(fx->outbox);
	drain();
	g_assert_cmpuint(count_alerts(VB_ALERT_KIND_OUTCOME_UNKNOWABLE), ==, 1);
	why = fault_of(fx, "fake-sms");
	g_assert_cmpstr(why, ==, "the lookup answered HTTP 404");
	g_assert_cmpfloat(
	    vb_metrics_get(fx->metrics, "vestibule_outbox_lookup_faults", "source=\"fake-sms\""),
	    ==, 1);
	for (guint i = 0; i < 59; i++)
		advance(fx, 1000);
	g_assert_cmpuint(fx->policy_calls->len, ==, 0);
	for (guint i = 0; i < 20 && fx->policy_calls->len == 0; i++)
		advance(fx, 1000);
	/* at unknown-hold-s, not unknown-give-up-s: waiting cures nothing */
	g_assert_cmpuint(fx->policy_calls->len, ==, 1);
	for (guint i = 0; i < 10; i++)
		advance(fx, 1000);
	delivered = joined(fx->delivered);
	g_assert_cmpstr(delivered, ==, "later receipt");
	g_assert_cmpuint(count_of(fx->deliveries, "receipt~1"), ==, 1);
	/* one alert, however many refused lookups */
	g_assert_cmpuint(count_alerts(VB_ALERT_KIND_OUTCOME_UNKNOWABLE), ==, 1);
}

/* a lookup that answers ends the fault */
static void
test_unknown_fault_clears(Fixture *fx, gconstpointer user_data)
{
	g_autofree gchar *why = NULL;

	many_attempts(fx);
	fx->random_mode = RANDOM_MAX;
	enqueue(fx, "A", "A1", "kkd");
	vb_outbox_start(fx->outbox);
	drain();
	why = fault_of(fx, "fake-sms");
	g_assert_nonnull(why);
	for (guint i = 0; i < 10; i++)
		advance(fx, 1000);
	g_assert_cmpuint(fx->delivered->len, ==, 1);
	g_clear_pointer(&why, g_free);
	why = fault_of(fx, "fake-sms");
	g_assert_null(why);
	g_assert_cmpfloat(
	    vb_metrics_get(fx->metrics, "vestibule_outbox_lookup_faults", "source=\"fake-sms\""),
	    ==, 0);
}

/* an item queued past stuck-alert-s raises one alert for its kind, not one
 * per attempt or per check; one more once nothing is stuck */
static void
test_stuck_alert_once(Fixture *fx, gconstpointer user_data)
{
	g_autofree gchar *script = repeat('r', 100);

	vb_outbox_set_unknown_limits(fx->outbox, 60, 600, 120);
	many_attempts(fx);
	fx->random_mode = RANDOM_MAX;
	enqueue(fx, "A", "A1", script);
	enqueue(fx, "B", "B1", "rrr");
	vb_outbox_start(fx->outbox);
	drain();
	for (guint i = 0; i < 119; i++) {
		advance(fx, 1000);
		vb_outbox_check_health(fx->outbox);
	}
	g_assert_cmpuint(count_alerts(VB_ALERT_KIND_ITEM_STUCK), ==, 0);
	g_assert_false(health_of(fx, "stuck"));
	for (guint i = 0; i < 300; i++) {
		advance(fx, 1000);
		vb_outbox_check_health(fx->outbox);
	}
	g_assert_cmpuint(count_alerts(VB_ALERT_KIND_ITEM_STUCK), ==, 1);
	g_assert_true(health_of(fx, "stuck"));
	g_assert_cmpint(health_of(fx, "oldest-age-s"), ==, 419);
	g_assert_cmpfloat(kind_gauge(fx, "vestibule_outbox_oldest_age_seconds"), ==, 419);
}

int
main(int argc, char **argv)
{
	if (argc == 4 && g_strcmp0(argv[1], "--kill9-child") == 0)
		return kill9_child(argv[2], argv[3]);

	g_test_init(&argc, &argv, NULL);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	alerts = g_ptr_array_new_with_free_func(g_free);
	g_log_set_writer_func(alert_writer, NULL, NULL);

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("/outbox/prune/keeps-dead-letters", test_prune_keeps_dead_letters);
	ADD("/outbox/enqueue/idempotent", test_enqueue_idempotent);
	ADD("/outbox/enqueue/in-transaction", test_enqueue_in_transaction);
	ADD("/outbox/enqueue/not-an-object", test_enqueue_invalid);
	ADD("/outbox/enqueue/bound", test_bound);
	ADD("/outbox/order/per-recipient", test_order_per_recipient);
	ADD("/outbox/order/concurrency", test_concurrency);
	ADD("/outbox/gate/waits-unclaimed", test_gate_waits_unclaimed);
	ADD("/outbox/retry/backoff-and-jitter", test_retry_backoff);
	ADD("/outbox/retry/full-jitter", test_retry_jitter);
	ADD("/outbox/retry/retry-after", test_retry_after);
	ADD("/outbox/dead-letter/permanent", test_dead_letter_permanent);
	ADD("/outbox/dead-letter/retry", test_dead_letter_retry);
	ADD("/outbox/dead-letter/max-attempts", test_dead_letter_max_attempts);
	ADD("/outbox/dead-letter/max-age", test_dead_letter_max_age);
	ADD("/outbox/dead-letter/unknown-kind", test_unknown_kind);
	ADD("/outbox/complete/same-transaction", test_complete_same_transaction);
	ADD("/outbox/complete/inside-transaction", test_complete_inside_transaction);
	ADD("/outbox/complete/wrong-thread", test_complete_wrong_thread);
	ADD("/outbox/crash/resume-sending", test_crash_resume);
	ADD("/outbox/crash/kill-9", test_crash_kill9);
	ADD("/outbox/stop/in-flight", test_stop_in_flight);
	ADD("/outbox/ephemeral/secret", test_ephemeral);
	ADD("/outbox/counts", test_counts);
	ADD("/outbox/order/long-history-no-sorting", test_order_no_sorting);
	ADD("/outbox/unknown/hold-bound", test_unknown_hold_bound);
	ADD("/outbox/unknown/keep-order", test_unknown_keep_order);
	ADD("/outbox/unknown/policy-resend", test_unknown_policy_resend);
	ADD("/outbox/unknown/policy-give-up", test_unknown_policy_give_up);
	ADD("/outbox/unknown/retry-stays-unknown", test_unknown_retry_stays_unknown);
	ADD("/outbox/unknown/unknowable", test_unknown_unknowable);
	ADD("/outbox/unknown/fault-clears", test_unknown_fault_clears);
	ADD("/outbox/health/stuck-alert-once", test_stuck_alert_once);
#undef ADD

	return g_test_run();
}
