/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <inttypes.h>
#include <string.h>

#include "vb-control-private.h"
#include "vb-crypto-private.h"
#include "vb-customers-private.h"
#include "vb-error.h"
#include "vb-events.h"
#include "vb-outbox-private.h"
#include "vb-phone-private.h"
#include "vb-secure.h"
#include "vb-sms-router-private.h"
#include "vb-visit-manager-private.h"

/*
 * The control API of the visit, behind `vestibulectl visits show`, `outbox`,
 * `feedback` and `customer erase`; only on the control socket. Everything it
 * answers is masked: a phone number never goes out in clear, and the number
 * an erasure is asked for is wiped once it has been looked up.
 *
 *   GET  /v1/visits/ID                   a visit and its timeline
 *   GET  /v1/outbox?state=S&limit=N      outbox items, newest first
 *   GET  /v1/outbox/counts               items by state
 *   POST /v1/outbox/ID/retry             a dead letter back to the queue
 *   GET  /v1/sms?limit=N                 SMS sent, with delivery states, newest first
 *   GET  /v1/feedback[?all=1]            replies, unhandled ones unless all=1
 *   POST /v1/feedback/ID/handled         (or /unhandled)
 *   POST /v1/customers/erase             {"phone": "+33…"} or {"card-token": "…"}
 *
 * "/v1/visits/" is registered with its trailing slash: the server prefers the
 * longer prefix, so vb-control.c keeps the list at "/v1/visits".
 */

#define VB_CV_VISIT_PATH "/v1/visits/"
#define VB_CV_OUTBOX_PATH "/v1/outbox"
#define VB_CV_FEEDBACK_PATH "/v1/feedback"
#define VB_CV_SMS_PATH "/v1/sms"
#define VB_CV_CUSTOMERS_PATH "/v1/customers"
#define VB_CV_OUTBOX_DEFAULT_LIMIT 50
#define VB_CV_OUTBOX_MAX_LIMIT 1000

struct _VbControlVisits {
	VbHttpServer *http;
	VbContext *context;
	VbCustomers *customers;
	VbOutbox *outbox;
	VbVisitManager *visits;
};

/* @value may be floating or owned: either way this takes it */
static void
vb_cv_reply_variant(SoupServerMessage *msg, GVariant *value)
{
	g_autoptr(GVariant) owned = g_variant_take_ref(value);
	g_autoptr(JsonNode) node = json_gvariant_serialize(owned);

	vb_http_reply_json(msg, SOUP_STATUS_OK, node);
}

static void
vb_cv_reply_list(SoupServerMessage *msg, const gchar *member, GPtrArray *rows)
{
	GVariantBuilder builder;

	g_variant_builder_init(&builder, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; i < rows->len; i++)
		g_variant_builder_add_value(&builder, g_ptr_array_index(rows, i));
	vb_cv_reply_variant(
	    msg, g_variant_new_parsed("{%s: <%v>}", member, g_variant_builder_end(&builder)));
}

static gboolean
vb_cv_check_method(SoupServerMessage *msg, const gchar *method, const gchar *path)
{
	if (g_strcmp0(soup_server_message_get_method(msg), method) == 0)
		return TRUE;
	soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
				     method);
	vb_http_reply_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
			    vb_error_to_code(VB_ERROR_NOT_SUPPORTED), _("use %s for %s"), method,
			    path);
	return FALSE;
}

static void
vb_cv_reply_not_ready(SoupServerMessage *msg)
{
	vb_http_reply_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
			    vb_error_to_code(VB_ERROR_UNREACHABLE),
			    _("the visit services are not running yet: try again in a moment"));
}

/* "ID" of "PREFIX/ID" or "PREFIX/ID/ACTION"; @action gets ACTION or NULL */
static gboolean
vb_cv_parse_id(const gchar *path, const gchar *prefix, gint64 *id, gchar **action)
{
	g_autofree gchar *id_str = NULL;
	const gchar *rest;
	const gchar *slash;
	guint64 value = 0;

	*action = NULL;
	if (!g_str_has_prefix(path, prefix) || path[strlen(prefix)] != '/')
		return FALSE;
	rest = path + strlen(prefix) + 1;
	slash = strchr(rest, '/');
	id_str = slash != NULL ? g_strndup(rest, (gsize)(slash - rest)) : g_strdup(rest);
	if (!g_ascii_string_to_unsigned(id_str, 10, 1, G_MAXINT64, &value, NULL))
		return FALSE;
	if (slash != NULL) {
		if (slash[1] == '\0' || strchr(slash + 1, '/') != NULL)
			return FALSE;
		*action = g_strdup(slash + 1);
	}
	*id = (gint64)value;
	return TRUE;
}

static gboolean
vb_cv_query_uint(SoupServerMessage *msg,
		 GHashTable *query,
		 const gchar *key,
		 guint64 min,
		 guint64 max,
		 guint64 *value)
{
	const gchar *str = query != NULL ? g_hash_table_lookup(query, key) : NULL;
	g_autoptr(GError) error = NULL;

	if (str == NULL)
		return TRUE;
	if (!g_ascii_string_to_unsigned(str, 10, min, max, value, &error)) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA),
				    _("query parameter '%s': %s"), key, error->message);
		return FALSE;
	}
	return TRUE;
}

static gboolean
vb_cv_query_flag(GHashTable *query, const gchar *key)
{
	const gchar *str = query != NULL ? g_hash_table_lookup(query, key) : NULL;

	return str != NULL && (g_strcmp0(str, "1") == 0 || g_ascii_strcasecmp(str, "true") == 0 ||
			       g_ascii_strcasecmp(str, "yes") == 0);
}

/* visits */

static void
vb_cv_visit_cb(VbHttpServer *server,
	       SoupServerMessage *msg,
	       const gchar *path,
	       GHashTable *query,
	       gpointer user_data)
{
	VbControlVisits *cv = user_data;
	VbVisitManager *visits = cv->visits;
	const gchar *id = path + strlen(VB_CV_VISIT_PATH);
	g_autoptr(GVariant) visit = NULL;
	g_autoptr(GError) error = NULL;

	if (!g_str_has_prefix(path, VB_CV_VISIT_PATH) || id[0] == '\0' || strchr(id, '/') != NULL) {
		vb_http_reply_error(msg, SOUP_STATUS_NOT_FOUND,
				    vb_error_to_code(VB_ERROR_NOT_FOUND),
				    _("there is nothing at %s: use GET /v1/visits/ID"), path);
		return;
	}
	if (!vb_cv_check_method(msg, SOUP_METHOD_GET, path))
		return;
	if (visits == NULL) {
		vb_cv_reply_not_ready(msg);
		return;
	}
	visit = vb_visit_manager_get_visit(visits, id, &error);
	if (visit == NULL) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	vb_cv_reply_variant(msg, g_steal_pointer(&visit));
}

/* the outbox */

static gboolean
vb_cv_outbox_state_is_valid(const gchar *state)
{
	static const gchar *const states[] = {"pending", "sending", "done", "dead"};

	for (guint i = 0; i < G_N_ELEMENTS(states); i++) {
		if (g_strcmp0(state, states[i]) == 0)
			return TRUE;
	}
	return FALSE;
}

static void
vb_cv_outbox_list(SoupServerMessage *msg, VbOutbox *outbox, GHashTable *query)
{
	const gchar *state = query != NULL ? g_hash_table_lookup(query, "state") : NULL;
	guint64 limit = VB_CV_OUTBOX_DEFAULT_LIMIT;
	g_autoptr(GPtrArray) items = NULL;
	g_autoptr(GError) error = NULL;

	if (state != NULL && (state[0] == '\0' || g_strcmp0(state, "all") == 0))
		state = NULL;
	if (state != NULL && !vb_cv_outbox_state_is_valid(state)) {
		vb_http_reply_error(
		    msg, SOUP_STATUS_BAD_REQUEST, vb_error_to_code(VB_ERROR_INVALID_DATA),
		    _("there is no outbox state '%s': use pending, sending, done or "
		      "dead"),
		    state);
		return;
	}
	if (!vb_cv_query_uint(msg, query, "limit", 1, VB_CV_OUTBOX_MAX_LIMIT, &limit))
		return;
	items = vb_outbox_list(outbox, state, (guint)limit, &error);
	if (items == NULL) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	vb_cv_reply_list(msg, "items", items);
}

static void
vb_cv_outbox_cb(VbHttpServer *server,
		SoupServerMessage *msg,
		const gchar *path,
		GHashTable *query,
		gpointer user_data)
{
	VbControlVisits *cv = user_data;
	VbOutbox *outbox = cv->outbox;
	g_autofree gchar *action = NULL;
	g_autoptr(GError) error = NULL;
	gint64 id = 0;

	if (g_strcmp0(path, VB_CV_OUTBOX_PATH) == 0) {
		if (!vb_cv_check_method(msg, SOUP_METHOD_GET, path))
			return;
		if (outbox == NULL) {
			vb_cv_reply_not_ready(msg);
			return;
		}
		vb_cv_outbox_list(msg, outbox, query);
		return;
	}
	if (g_strcmp0(path, VB_CV_OUTBOX_PATH "/counts") == 0) {
		if (!vb_cv_check_method(msg, SOUP_METHOD_GET, path))
			return;
		if (outbox == NULL) {
			vb_cv_reply_not_ready(msg);
			return;
		}
		vb_cv_reply_variant(msg, vb_outbox_get_counts(outbox));
		return;
	}
	if (vb_cv_parse_id(path, VB_CV_OUTBOX_PATH, &id, &action) &&
	    g_strcmp0(action, "retry") == 0) {
		if (!vb_cv_check_method(msg, SOUP_METHOD_POST, path))
			return;
		if (outbox == NULL) {
			vb_cv_reply_not_ready(msg);
			return;
		}
		if (!vb_outbox_retry(outbox, id, &error)) {
			vb_http_reply_gerror(msg, error);
			return;
		}
		vb_cv_reply_variant(msg,
				    g_variant_new_parsed("{'id': <%x>, 'state': <'pending'>}", id));
		return;
	}
	vb_http_reply_error(msg, SOUP_STATUS_NOT_FOUND, vb_error_to_code(VB_ERROR_NOT_FOUND),
			    _("there is nothing at %s: use GET /v1/outbox, GET /v1/outbox/counts "
			      "or POST /v1/outbox/ID/retry"),
			    path);
}

/* the SMS messages */

static void
vb_cv_sms_cb(VbHttpServer *server,
	     SoupServerMessage *msg,
	     const gchar *path,
	     GHashTable *query,
	     gpointer user_data)
{
	VbControlVisits *cv = user_data;
	VbContext *context = cv->context;
	guint64 limit = VB_CV_OUTBOX_DEFAULT_LIMIT;
	g_autoptr(GPtrArray) rows = NULL;
	g_autoptr(GError) error = NULL;

	if (g_strcmp0(path, VB_CV_SMS_PATH) != 0) {
		vb_http_reply_error(msg, SOUP_STATUS_NOT_FOUND,
				    vb_error_to_code(VB_ERROR_NOT_FOUND),
				    _("there is nothing at %s: use GET /v1/sms"), path);
		return;
	}
	if (!vb_cv_check_method(msg, SOUP_METHOD_GET, path))
		return;
	if (cv->outbox == NULL || context == NULL) {
		vb_cv_reply_not_ready(msg);
		return;
	}
	if (!vb_cv_query_uint(msg, query, "limit", 1, VB_CV_OUTBOX_MAX_LIMIT, &limit))
		return;
	rows = vb_sms_router_list(vb_context_get_store(context), (guint)limit, &error);
	if (rows == NULL) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	vb_cv_reply_list(msg, "messages", rows);
}

/* feedback */

static void
vb_cv_feedback_cb(VbHttpServer *server,
		  SoupServerMessage *msg,
		  const gchar *path,
		  GHashTable *query,
		  gpointer user_data)
{
	VbControlVisits *cv = user_data;
	VbCustomers *customers = cv->customers;
	g_autofree gchar *action = NULL;
	g_autoptr(GError) error = NULL;
	gint64 id = 0;

	if (g_strcmp0(path, VB_CV_FEEDBACK_PATH) == 0) {
		g_autoptr(GPtrArray) rows = NULL;

		if (!vb_cv_check_method(msg, SOUP_METHOD_GET, path))
			return;
		if (customers == NULL) {
			vb_cv_reply_not_ready(msg);
			return;
		}
		rows =
		    vb_customers_list_feedback(customers, !vb_cv_query_flag(query, "all"), &error);
		if (rows == NULL) {
			vb_http_reply_gerror(msg, error);
			return;
		}
		vb_cv_reply_list(msg, "feedback", rows);
		return;
	}
	if (vb_cv_parse_id(path, VB_CV_FEEDBACK_PATH, &id, &action) &&
	    (g_strcmp0(action, "handled") == 0 || g_strcmp0(action, "unhandled") == 0)) {
		gboolean handled = g_strcmp0(action, "handled") == 0;

		if (!vb_cv_check_method(msg, SOUP_METHOD_POST, path))
			return;
		if (customers == NULL) {
			vb_cv_reply_not_ready(msg);
			return;
		}
		if (!vb_customers_mark_feedback(customers, id, handled, &error)) {
			vb_http_reply_gerror(msg, error);
			return;
		}
		vb_cv_reply_variant(
		    msg, g_variant_new_parsed("{'id': <%x>, 'handled': <%b>}", id, handled));
		return;
	}
	vb_http_reply_error(msg, SOUP_STATUS_NOT_FOUND, vb_error_to_code(VB_ERROR_NOT_FOUND),
			    _("there is nothing at %s: use GET /v1/feedback[?all=1] or POST "
			      "/v1/feedback/ID/handled (or /unhandled)"),
			    path);
}

/* erasure */

static gint64
vb_cv_count(GVariant *counts, const gchar *key)
{
	g_autoptr(GVariant) value = g_variant_lookup_value(counts, key, NULL);

	if (value == NULL)
		return 0;
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_INT64))
		return g_variant_get_int64(value);
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT64))
		return (gint64)MIN(g_variant_get_uint64(value), (guint64)G_MAXINT64);
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_INT32))
		return g_variant_get_int32(value);
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32))
		return g_variant_get_uint32(value);
	return 0;
}

/* the customer that an erasure request names, or 0 with @error set */
static gint64
vb_cv_erase_find(VbControlVisits *cv, VbCustomers *customers, JsonObject *request, GError **error)
{
	VbContext *context = cv->context;
	const gchar *phone = json_object_get_string_member_with_default(request, "phone", NULL);
	const gchar *token =
	    json_object_get_string_member_with_default(request, "card-token", NULL);
	gint64 customer_id;

	if ((phone == NULL || phone[0] == '\0') == (token == NULL || token[0] == '\0')) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("give either \"phone\" (the customer's number) or "
				      "\"card-token\" (a card's token or alias), not both"));
		return 0;
	}
	if (phone != NULL && phone[0] != '\0') {
		gchar *e164 = vb_phone_normalize(phone, vb_context_get_country(context), error);

		if (e164 == NULL)
			return 0;
		customer_id = vb_customers_find_phone(customers, e164, error);
		vb_secure_free_string(e164);
		if (customer_id <= 0 && (error == NULL || *error == NULL))
			g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND,
					    _("no customer has this phone number: nothing is kept "
					      "about it"));
		return customer_id > 0 ? customer_id : 0;
	} else {
		g_autoptr(VbCard) card = vb_customers_get_card(customers, token, error);

		if (card == NULL) {
			if (error != NULL && *error == NULL)
				g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND,
						    _("no card has this token or alias"));
			return 0;
		}
		if (card->customer_id <= 0) {
			g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND,
					    _("this card is not linked to a phone number, so no "
					      "customer data is kept for it"));
			return 0;
		}
		return card->customer_id;
	}
}

static void
vb_cv_customers_cb(VbHttpServer *server,
		   SoupServerMessage *msg,
		   const gchar *path,
		   GHashTable *query,
		   gpointer user_data)
{
	VbControlVisits *cv = user_data;
	VbCustomers *customers = cv->customers;
	g_autoptr(JsonNode) body = NULL;
	g_autoptr(GVariant) counts = NULL;
	g_autoptr(GError) error = NULL;
	gint64 customer_id;

	if (g_strcmp0(path, VB_CV_CUSTOMERS_PATH "/erase") != 0) {
		vb_http_reply_error(
		    msg, SOUP_STATUS_NOT_FOUND, vb_error_to_code(VB_ERROR_NOT_FOUND),
		    _("there is nothing at %s: use POST /v1/customers/erase"), path);
		return;
	}
	if (!vb_cv_check_method(msg, SOUP_METHOD_POST, path))
		return;
	body = vb_http_parse_json_body(msg, &error);
	if (body == NULL) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	if (!JSON_NODE_HOLDS_OBJECT(body)) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA),
				    _("send a JSON object: {\"phone\": \"+33…\"} or "
				      "{\"card-token\": \"…\"}"));
		return;
	}
	if (customers == NULL) {
		vb_cv_reply_not_ready(msg);
		return;
	}
	customer_id = vb_cv_erase_find(cv, customers, json_node_get_object(body), &error);
	if (customer_id == 0) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	counts = vb_customers_erase(customers, customer_id, &error);
	if (counts == NULL) {
		g_prefix_error(&error, _("cannot erase the customer's data: "));
		vb_http_reply_gerror(msg, error);
		return;
	}
	g_variant_take_ref(counts);
	/* recorded in the audit log as an event of its own; the number itself is
	 * gone and is not repeated */
	vb_bus_emit_simple(vb_context_get_bus(cv->context), NULL, NULL, VB_EVENT_CUSTOMER_ERASED,
			   g_variant_ref(counts));
	g_message("customer data erased on request: %" PRId64 " card links and %" PRId64
		  " replies removed, %" PRId64 " visits anonymized",
		  vb_cv_count(counts, "cards"), vb_cv_count(counts, "feedback"),
		  vb_cv_count(counts, "visits"));
	vb_cv_reply_variant(msg, g_variant_new_parsed("{'erased': <%@a{sv}>}", counts));
}

/**
 * vb_control_visits_register:
 * @http: the HTTP server
 * @services: the context, and the visit's services the handlers use
 *
 * Serves the control API of visits, the outbox, feedback and customers on the
 * control listener. A service that @services leaves %NULL is answered with
 * 503, as not running yet.
 *
 * Returns: (transfer full): the registration, for vb_control_visits_unregister()
 */
VbControlVisits *
vb_control_visits_register(VbHttpServer *http, const VbControlServices *services)
{
	VbControlVisits *cv;

	g_return_val_if_fail(VB_IS_HTTP_SERVER(http), NULL);
	g_return_val_if_fail(services != NULL, NULL);

	cv = g_new0(VbControlVisits, 1);
	cv->http = g_object_ref(http);
	cv->context = services->context != NULL ? g_object_ref(services->context) : NULL;
	cv->customers = services->customers != NULL ? g_object_ref(services->customers) : NULL;
	cv->outbox = services->outbox != NULL ? g_object_ref(services->outbox) : NULL;
	cv->visits = services->visits != NULL ? g_object_ref(services->visits) : NULL;
	vb_http_server_add_handler(http, VB_HTTP_LISTENER_CONTROL, VB_CV_VISIT_PATH, NULL,
				   vb_cv_visit_cb, cv, NULL);
	vb_http_server_add_handler(http, VB_HTTP_LISTENER_CONTROL, VB_CV_OUTBOX_PATH, NULL,
				   vb_cv_outbox_cb, cv, NULL);
	vb_http_server_add_handler(http, VB_HTTP_LISTENER_CONTROL, VB_CV_FEEDBACK_PATH, NULL,
				   vb_cv_feedback_cb, cv, NULL);
	vb_http_server_add_handler(http, VB_HTTP_LISTENER_CONTROL, VB_CV_SMS_PATH, NULL,
				   vb_cv_sms_cb, cv, NULL);
	vb_http_server_add_handler(http, VB_HTTP_LISTENER_CONTROL, VB_CV_CUSTOMERS_PATH, NULL,
				   vb_cv_customers_cb, cv, NULL);
	return cv;
}

/**
 * vb_control_visits_unregister:
 * @self: (transfer full): what vb_control_visits_register() returned
 *
 * Removes what vb_control_visits_register() added, and frees @self.
 */
void
vb_control_visits_unregister(VbControlVisits *self)
{
	static const gchar *const paths[] = {VB_CV_VISIT_PATH, VB_CV_OUTBOX_PATH,
					     VB_CV_FEEDBACK_PATH, VB_CV_CUSTOMERS_PATH,
					     VB_CV_SMS_PATH};

	g_return_if_fail(self != NULL);

	for (guint i = 0; i < G_N_ELEMENTS(paths); i++)
		vb_http_server_remove_handler(self->http, VB_HTTP_LISTENER_CONTROL, paths[i]);
	g_clear_object(&self->visits);
	g_clear_object(&self->outbox);
	g_clear_object(&self->customers);
	g_clear_object(&self->context);
	g_object_unref(self->http);
	g_free(self);
}
