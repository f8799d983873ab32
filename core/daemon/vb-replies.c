/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "vb-error.h"
#include "vb-events.h"
#include "vb-phone-private.h"
#include "vb-privacy.h"
#include "vb-replies-private.h"
#include "vb-replies-test-private.h"

/*
 * What a shopper writes is theirs: a message body never reaches a log line
 * (only its length does), and a number only masked. The body is kept as
 * feedback and forwarded to the operator, who needs it.
 */

#define VB_REPLIES_METRIC_INBOUND "vestibule_sms_received_total"
#define VB_REPLIES_WEBHOOK_KIND "webhook"
#define VB_REPLIES_WEBHOOK_TIMEOUT_S 15
/* a concatenated SMS is at most a few thousand bytes; a longer body is cut */
#define VB_REPLIES_MAX_BODY_BYTES 4096
/* providers deliver an inbound message again when they miss our answer */
#define VB_REPLIES_RECENT_IDS 256

struct _VbReplies {
	GObject parent_instance;
	VbContext *context;
	VbCustomers *customers;
	VbOutbox *outbox;
	gchar *operator_phone;
	gchar *operator_webhook;
	SoupSession *session; /* made for the first webhook call */
	gboolean running;
	gulong event_handler;
	gboolean kind_registered;
	GHashTable *recent_ids; /* message ids handled lately */
	GQueue recent_order;	/* the same ids, oldest first; owned by recent_ids */
};

G_DEFINE_FINAL_TYPE(VbReplies, vb_replies, G_TYPE_OBJECT)

/* the outbox holds this rather than the object: it has no way to unregister */
typedef struct {
	GWeakRef replies;
} VbRepliesRef;

static void
vb_replies_ref_free(gpointer data)
{
	VbRepliesRef *ref = data;

	g_weak_ref_clear(&ref->replies);
	g_free(ref);
}

/* keywords */

/* white space, and the invisible format characters phones put around text */
static gboolean
vb_replies_char_is_blank(gunichar c)
{
	return g_unichar_isspace(c) || g_unichar_type(c) == G_UNICODE_FORMAT;
}

static gchar *
vb_replies_trim(const gchar *text)
{
	const gchar *start = text;
	const gchar *end = text + strlen(text);

	if (!g_utf8_validate(text, -1, NULL))
		return g_strstrip(g_strdup(text));
	while (start < end && vb_replies_char_is_blank(g_utf8_get_char(start)))
		start = g_utf8_next_char(start);
	while (end > start) {
		const gchar *prev = g_utf8_prev_char(end);

		if (!vb_replies_char_is_blank(g_utf8_get_char(prev)))
			break;
		end = prev;
	}
	return g_strndup(start, (gsize)(end - start));
}

VbReplyKind
vb_replies_classify(const gchar *body, gchar **word)
{
	static const struct {
		const gchar *keyword;
		VbReplyKind kind;
	} keywords[] = {
	    {"STOP", VB_REPLY_OPT_OUT},	   {"UNSUBSCRIBE", VB_REPLY_OPT_OUT},
	    {"END", VB_REPLY_OPT_OUT},	   {"QUIT", VB_REPLY_OPT_OUT},
	    {"STOPALL", VB_REPLY_OPT_OUT}, {"REVOKE", VB_REPLY_OPT_OUT},
	    {"OPTOUT", VB_REPLY_OPT_OUT},  {"CANCEL", VB_REPLY_OPT_OUT},
	    {"START", VB_REPLY_OPT_IN},	   {"YES", VB_REPLY_OPT_IN},
	    {"UNSTOP", VB_REPLY_OPT_IN},   {"HELP", VB_REPLY_HELP},
	    {"INFO", VB_REPLY_HELP},
	};
	g_autofree gchar *trimmed = vb_replies_trim(body != NULL ? body : "");
	VbReplyKind kind = VB_REPLY_FEEDBACK;

	for (guint i = 0; i < G_N_ELEMENTS(keywords); i++) {
		if (g_ascii_strcasecmp(trimmed, keywords[i].keyword) == 0) {
			kind = keywords[i].kind;
			break;
		}
	}
	if (word != NULL)
		*word = g_steal_pointer(&trimmed);
	return kind;
}

/* the webhook */

gboolean
vb_replies_webhook_url_is_valid(const gchar *url)
{
	g_autoptr(GUri) uri = NULL;
	const gchar *scheme;

	if (url == NULL || url[0] == '\0')
		return FALSE;
	uri = g_uri_parse(url, SOUP_HTTP_URI_FLAGS, NULL);
	if (uri == NULL)
		return FALSE;
	scheme = g_uri_get_scheme(uri);
	if (g_ascii_strcasecmp(scheme, "http") != 0 && g_ascii_strcasecmp(scheme, "https") != 0)
		return FALSE;
	return g_uri_get_host(uri) != NULL && g_uri_get_host(uri)[0] != '\0';
}

/* "http://host:port" of a URL: enough to name the peer in a message or to
 * order items, without the path or query, which may hold a secret */
static gchar *
vb_replies_webhook_origin(const gchar *url)
{
	g_autoptr(GUri) uri = g_uri_parse(url, SOUP_HTTP_URI_FLAGS, NULL);

	if (uri == NULL)
		return g_strdup("webhook");
	if (g_uri_get_port(uri) > 0)
		return g_strdup_printf("%s://%s:%d", g_uri_get_scheme(uri), g_uri_get_host(uri),
				       g_uri_get_port(uri));
	return g_strdup_printf("%s://%s", g_uri_get_scheme(uri), g_uri_get_host(uri));
}

VbOutboxOutcome
vb_replies_webhook_outcome(guint status,
			   const gchar *retry_after,
			   guint *retry_after_ms,
			   gchar **message)
{
	*retry_after_ms = 0;
	*message = NULL;
	if (status >= 200 && status < 300)
		return VB_OUTBOX_OUTCOME_DONE;
	if (status == 408 || status == 429 || (status >= 500 && status < 600)) {
		*retry_after_ms = vb_http_parse_retry_after(retry_after);
		/* TRANSLATORS: an outbox item's last error; %u is an HTTP status */
		*message = g_strdup_printf(
		    _("the webhook answered HTTP %u; it will be tried again"), status);
		return VB_OUTBOX_OUTCOME_RETRY;
	}
	if (status >= 300 && status < 400) {
		*message =
		    g_strdup_printf(_("the webhook answered HTTP %u, a redirect, which is not "
				      "followed: set [visit] operator-webhook to the final URL"),
				    status);
		return VB_OUTBOX_OUTCOME_FAILED;
	}
	*message = g_strdup_printf(_("the webhook answered HTTP %u"), status);
	return VB_OUTBOX_OUTCOME_FAILED;
}

/* the call holds no reference to VbReplies: a stop aborts the session, and the
 * callback then only completes the item, which the outbox keeps alive */
typedef struct {
	VbOutboxItem *item;
	SoupMessage *msg;
	gchar *origin;
} VbWebhookCall;

static void
vb_webhook_call_free(VbWebhookCall *call)
{
	g_object_unref(call->msg);
	g_free(call->origin);
	g_free(call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbWebhookCall, vb_webhook_call_free)

static void
vb_replies_webhook_sent_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(VbWebhookCall) call = user_data;
	g_autoptr(GInputStream) stream = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonBuilder) builder = NULL;
	g_autoptr(JsonNode) result = NULL;
	g_autofree gchar *message = NULL;
	VbOutboxOutcome outcome;
	guint retry_after_ms = 0;
	guint status;

	stream = soup_session_send_finish(SOUP_SESSION(source), res, &error);
	if (stream == NULL) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			message = g_strdup(_("the webhook call was interrupted by a stop"));
		else
			message = g_strdup_printf(_("cannot reach the webhook at %s: %s"),
						  call->origin, error->message);
		g_debug("webhook item %" G_GINT64_FORMAT ": %s", vb_outbox_item_get_id(call->item),
			message);
		vb_outbox_item_complete(call->item, VB_OUTBOX_OUTCOME_RETRY, NULL, message, 0);
		return;
	}
	/* the answer's body is not needed: nothing is read from a peer we do not control */
	g_input_stream_close_async(stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);

	status = soup_message_get_status(call->msg);
	outcome = vb_replies_webhook_outcome(
	    status,
	    soup_message_headers_get_one(soup_message_get_response_headers(call->msg),
					 "Retry-After"),
	    &retry_after_ms, &message);
	builder = json_builder_new();
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "status");
	json_builder_add_int_value(builder, status);
	json_builder_end_object(builder);
	result = json_builder_get_root(builder);
	g_debug("webhook item %" G_GINT64_FORMAT " to %s: HTTP %u",
		vb_outbox_item_get_id(call->item), call->origin, status);
	vb_outbox_item_complete(call->item, outcome, result, message, retry_after_ms);
}

static void
vb_replies_webhook_dispatch(VbOutbox *outbox,
			    VbOutboxItem *item,
			    GCancellable *cancellable,
			    gpointer user_data)
{
	VbRepliesRef *ref = user_data;
	g_autoptr(VbReplies) self = g_weak_ref_get(&ref->replies);
	JsonObject *payload = vb_outbox_item_get_payload(item);
	const gchar *url = NULL;
	JsonNode *body = NULL;
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GBytes) bytes = NULL;
	gchar *data;
	VbWebhookCall *call;

	if (self == NULL || !self->running) {
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL,
					_("the webhook sender is not running"), 0);
		return;
	}
	if (payload != NULL) {
		url = json_object_get_string_member_with_default(payload, "url", NULL);
		body = json_object_get_member(payload, "body");
	}
	if (!vb_replies_webhook_url_is_valid(url)) {
		vb_outbox_item_complete(
		    item, VB_OUTBOX_OUTCOME_FAILED, NULL,
		    _("the webhook URL is not an http or https URL: fix [visit] "
		      "operator-webhook; this item cannot be sent"),
		    0);
		return;
	}
	if (body == NULL) {
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL,
					_("the webhook item has no body to post"), 0);
		return;
	}

	/* an HTTP client costs memory that a store without a webhook never
	 * needs */
	if (self->session == NULL)
		self->session = soup_session_new_with_options(
		    "timeout", VB_REPLIES_WEBHOOK_TIMEOUT_S, "idle-timeout", 60, "user-agent",
		    "vestibule/" PACKAGE_VERSION, NULL);
	uri = g_uri_parse(url, SOUP_HTTP_URI_FLAGS, NULL);
	call = g_new0(VbWebhookCall, 1);
	call->item = item;
	call->origin = vb_replies_webhook_origin(url);
	call->msg = soup_message_new_from_uri(SOUP_METHOD_POST, uri);
	/* a redirect could send the shopper's words anywhere */
	soup_message_add_flags(call->msg, SOUP_MESSAGE_NO_REDIRECT);
	data = json_to_string(body, FALSE);
	bytes = g_bytes_new_take(data, strlen(data));
	soup_message_set_request_body_from_bytes(call->msg, "application/json", bytes);
	soup_message_headers_replace(soup_message_get_request_headers(call->msg), "Idempotency-Key",
				     vb_outbox_item_get_idempotency_key(item));
	soup_session_send_async(self->session, call->msg, G_PRIORITY_DEFAULT, cancellable,
				vb_replies_webhook_sent_cb, call);
}

/* inbound messages */

static void
vb_replies_count(VbReplies *self, const gchar *kind)
{
	g_autofree gchar *labels = vb_metrics_labels("kind", kind, NULL);

	vb_metrics_add(vb_context_get_metrics(self->context), VB_REPLIES_METRIC_INBOUND, labels, 1);
}

static gboolean
vb_replies_seen(VbReplies *self, const gchar *message_id)
{
	return g_hash_table_contains(self->recent_ids, message_id);
}

static void
vb_replies_remember(VbReplies *self, const gchar *message_id)
{
	gchar *id;

	if (g_hash_table_contains(self->recent_ids, message_id))
		return;
	id = g_strdup(message_id);
	g_hash_table_add(self->recent_ids, id);
	g_queue_push_tail(&self->recent_order, id);
	while (g_queue_get_length(&self->recent_order) > VB_REPLIES_RECENT_IDS)
		g_hash_table_remove(self->recent_ids, g_queue_pop_head(&self->recent_order));
}

/* the sender's latest visit, or NULL */
static gchar *
vb_replies_latest_visit(VbReplies *self, gint64 customer_id, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	stmt = vb_store_prepare(vb_context_get_store(self->context),
				"SELECT id FROM visits WHERE customer_id = ?1 "
				"ORDER BY created DESC LIMIT 1",
				error);
	if (stmt == NULL)
		return NULL;
	vb_store_stmt_bind_int64(stmt, 1, customer_id);
	step = vb_store_stmt_step(stmt, error);
	if (step != VB_STORE_STEP_ROW)
		return NULL;
	return g_strdup(vb_store_stmt_column_text(stmt, 0));
}

static gboolean
vb_replies_enqueue_help(VbReplies *self, gint64 customer_id, const gchar *key, GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) payload = NULL;
	g_autofree gchar *language = vb_customers_get_language(self->customers, customer_id);
	g_autofree gchar *recipient = g_strdup_printf("customer:%" G_GINT64_FORMAT, customer_id);
	g_autofree gchar *idempotency_key = g_strdup_printf("reply:%s", key);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "customer");
	json_builder_add_int_value(builder, customer_id);
	json_builder_set_member_name(builder, "template");
	json_builder_add_string_value(builder, "help");
	json_builder_set_member_name(builder, "language");
	json_builder_add_string_value(
	    builder, language != NULL ? language : vb_context_get_default_language(self->context));
	json_builder_end_object(builder);
	payload = json_builder_get_root(builder);
	return vb_outbox_enqueue(self->outbox, "sms", recipient, idempotency_key, payload, NULL,
				 error) > 0;
}

typedef struct {
	const gchar *key; /* the message id */
	const gchar *visit_id;
	const gchar *masked;
	const gchar *body;
	GDateTime *received;
} VbReplyForward;

static gboolean
vb_replies_enqueue_forward_sms(VbReplies *self, VbReplyForward *fwd, GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) payload = NULL;
	g_autofree gchar *idempotency_key = g_strdup_printf("forward:sms:%s", fwd->key);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "to-operator");
	json_builder_add_boolean_value(builder, TRUE);
	json_builder_set_member_name(builder, "template");
	json_builder_add_string_value(builder, "forward");
	json_builder_set_member_name(builder, "params");
	json_builder_begin_object(builder);
	/* the SMS template takes strings only: no visit, no member */
	if (fwd->visit_id != NULL) {
		json_builder_set_member_name(builder, "visit");
		json_builder_add_string_value(builder, fwd->visit_id);
	}
	json_builder_set_member_name(builder, "phone");
	json_builder_add_string_value(builder, fwd->masked);
	json_builder_set_member_name(builder, "body");
	json_builder_add_string_value(builder, fwd->body);
	json_builder_end_object(builder);
	json_builder_set_member_name(builder, "language");
	json_builder_add_string_value(builder, vb_context_get_default_language(self->context));
	json_builder_end_object(builder);
	payload = json_builder_get_root(builder);
	return vb_outbox_enqueue(self->outbox, "sms", "operator", idempotency_key, payload,
				 fwd->visit_id, error) > 0;
}

static gboolean
vb_replies_enqueue_forward_webhook(VbReplies *self, VbReplyForward *fwd, GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) payload = NULL;
	g_autofree gchar *idempotency_key = g_strdup_printf("forward:webhook:%s", fwd->key);
	g_autofree gchar *origin = vb_replies_webhook_origin(self->operator_webhook);
	g_autofree gchar *recipient = g_strdup_printf("webhook:%s", origin);
	g_autofree gchar *received = g_date_time_format_iso8601(fwd->received);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "url");
	json_builder_add_string_value(builder, self->operator_webhook);
	json_builder_set_member_name(builder, "body");
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "event");
	json_builder_add_string_value(builder, "feedback");
	json_builder_set_member_name(builder, "visit");
	if (fwd->visit_id != NULL)
		json_builder_add_string_value(builder, fwd->visit_id);
	else
		json_builder_add_null_value(builder);
	json_builder_set_member_name(builder, "phone");
	json_builder_add_string_value(builder, fwd->masked);
	json_builder_set_member_name(builder, "body");
	json_builder_add_string_value(builder, fwd->body);
	json_builder_set_member_name(builder, "received");
	json_builder_add_string_value(builder, received);
	json_builder_end_object(builder);
	json_builder_end_object(builder);
	payload = json_builder_get_root(builder);
	return vb_outbox_enqueue(self->outbox, VB_REPLIES_WEBHOOK_KIND, recipient, idempotency_key,
				 payload, fwd->visit_id, error) > 0;
}

static gboolean
vb_replies_store_feedback(VbReplies *self,
			  gint64 customer_id,
			  VbReplyForward *fwd,
			  gboolean forward,
			  GError **error)
{
	g_autoptr(VbStoreTransaction) tx = NULL;

	/* the reply and what forwards it are committed together */
	tx = vb_store_transaction_begin(vb_context_get_store(self->context), error);
	if (tx == NULL)
		return FALSE;
	if (vb_customers_add_feedback(self->customers, customer_id, fwd->visit_id, fwd->body,
				      error) <= 0) {
		if (error != NULL && *error == NULL)
			g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
					    "the reply was not stored");
		return FALSE;
	}
	if (forward && self->operator_phone != NULL &&
	    !vb_replies_enqueue_forward_sms(self, fwd, error)) {
		g_prefix_error(error, "cannot queue the forward to the operator's phone: ");
		return FALSE;
	}
	if (forward && self->operator_webhook != NULL &&
	    !vb_replies_enqueue_forward_webhook(self, fwd, error)) {
		g_prefix_error(error, "cannot queue the forward to the operator's webhook: ");
		return FALSE;
	}
	return vb_store_transaction_commit(tx, error);
}

static gboolean
vb_replies_feedback(VbReplies *self, gint64 customer_id, VbReplyForward *fwd, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *visit_id = vb_replies_latest_visit(self, customer_id, &error_local);

	if (error_local != NULL) {
		g_propagate_prefixed_error(error, g_steal_pointer(&error_local),
					   "cannot find the sender's latest visit: ");
		return FALSE;
	}
	fwd->visit_id = visit_id;
	if (vb_replies_store_feedback(self, customer_id, fwd, TRUE, &error_local))
		return TRUE;
	/* a full outbox must not cost the shopper's words: keep them, and say so */
	if (!g_error_matches(error_local, VB_ERROR, VB_ERROR_TOO_LARGE)) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	vb_context_alert(self->context, VB_ALERT_WARNING, NULL,
			 _("a shopper's reply about visit %s was stored but not forwarded: %s; "
			   "read it with vestibulectl feedback"),
			 visit_id != NULL ? visit_id : "-", error_local->message);
	g_clear_error(&error_local);
	return vb_replies_store_feedback(self, customer_id, fwd, FALSE, error);
}

static void
vb_replies_sms_received_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	VbReplies *self = VB_REPLIES(user_data);
	const gchar *phone = vb_event_lookup_string(event, VB_KEY_PHONE);
	const gchar *raw_body = vb_event_lookup_string(event, VB_KEY_BODY);
	const gchar *message_id = vb_event_lookup_string(event, VB_KEY_MESSAGE_ID);
	g_autofree gchar *e164 = NULL;
	g_autofree gchar *masked = NULL;
	g_autofree gchar *key = NULL;
	g_autofree gchar *body = NULL;
	g_autofree gchar *word = NULL;
	g_autofree gchar *redacted = NULL;
	g_autoptr(GDateTime) received = NULL;
	g_autoptr(GError) error = NULL;
	VbReplyForward fwd = {NULL};
	VbReplyKind kind;
	gint64 customer_id;
	gsize len;

	if (phone == NULL || raw_body == NULL) {
		g_warning("an %s event from %s has no sender or no body; ignoring it",
			  VB_EVENT_SMS_RECEIVED,
			  vb_event_get_source(event) != NULL ? vb_event_get_source(event) : "?");
		vb_replies_count(self, "invalid");
		return;
	}
	/* a message with no id from its provider gets one from what it is */
	received = g_date_time_new_from_unix_utc(vb_event_get_real_time(event) / G_USEC_PER_SEC);
	if (message_id != NULL && message_id[0] != '\0') {
		key = g_strdup(message_id);
	} else {
		g_autofree gchar *seed = g_strdup_printf("%s\n%" G_GINT64_FORMAT "\n%s", phone,
							 vb_event_get_real_time(event), raw_body);
		key = g_compute_checksum_for_string(G_CHECKSUM_SHA256, seed, -1);
	}
	if (vb_replies_seen(self, key)) {
		g_debug("an SMS delivered again was already handled");
		vb_replies_count(self, "duplicate");
		return;
	}

	/* the provider should give E.164; a national number is read as the store's */
	e164 = vb_phone_normalize(phone, vb_context_get_country(self->context), NULL);
	masked = vb_mask_phone(e164 != NULL ? e164 : phone);
	body = g_utf8_make_valid(raw_body, -1);
	len = strlen(body);
	if (len > VB_REPLIES_MAX_BODY_BYTES) {
		const gchar *cut =
		    g_utf8_find_prev_char(body, body + VB_REPLIES_MAX_BODY_BYTES + 1);
		len = (gsize)(cut - body);
		body[len] = '\0';
	}
	kind = vb_replies_classify(body, &word);

	customer_id = e164 != NULL ? vb_customers_find_phone(self->customers, e164, &error) : 0;
	if (customer_id <= 0 && error != NULL &&
	    !g_error_matches(error, VB_ERROR, VB_ERROR_NOT_FOUND)) {
		g_warning("cannot look up the sender %s of an SMS: %s", masked, error->message);
		vb_replies_count(self, "error");
		return;
	}
	if (customer_id <= 0) {
		/* without a customer there is nothing to opt out or to link a reply to,
		 * and a stranger's text is not kept */
		g_message("ignoring an SMS of %" G_GSIZE_FORMAT " bytes from %s, who is not a "
			  "customer",
			  len, masked);
		vb_replies_count(self, "unknown-sender");
		vb_replies_remember(self, key);
		return;
	}
	g_clear_error(&error);

	switch (kind) {
	case VB_REPLY_OPT_OUT:
	case VB_REPLY_OPT_IN:
		if (!vb_customers_set_sms_opt_out(self->customers, customer_id,
						  kind == VB_REPLY_OPT_OUT, word, "sms", &error)) {
			g_warning("cannot record the %s of %s: %s",
				  kind == VB_REPLY_OPT_OUT ? "opt-out" : "opt-in", masked,
				  error->message);
			vb_replies_count(self, "error");
			return;
		}
		g_message("%s %s SMS by keyword", masked,
			  kind == VB_REPLY_OPT_OUT ? "opted out of" : "opted back in to");
		vb_replies_count(self, kind == VB_REPLY_OPT_OUT ? "stop" : "start");
		break;
	case VB_REPLY_HELP:
		if (!vb_replies_enqueue_help(self, customer_id, key, &error)) {
			g_warning("cannot queue the help reply to %s: %s", masked, error->message);
			vb_replies_count(self, "error");
			return;
		}
		g_message("%s asked for help; a reply is queued", masked);
		vb_replies_count(self, "help");
		break;
	case VB_REPLY_FEEDBACK:
	default:
		if (len == 0) {
			g_debug("ignoring an empty SMS from %s", masked);
			vb_replies_count(self, "empty");
			break;
		}
		/* a card or phone number in the text never reaches the store or the
		 * operator in clear; the outbox keeps the forward's payload too */
		redacted = vb_redact_text(body);
		fwd.key = key;
		fwd.masked = masked;
		fwd.body = redacted;
		fwd.received = received;
		if (!vb_replies_feedback(self, customer_id, &fwd, &error)) {
			g_warning("cannot store a reply of %" G_GSIZE_FORMAT " bytes from %s: %s",
				  len, masked, error->message);
			vb_replies_count(self, "error");
			return;
		}
		g_message("reply of %" G_GSIZE_FORMAT " bytes from %s stored%s", len, masked,
			  self->operator_phone != NULL || self->operator_webhook != NULL
			      ? " and forwarded to the operator"
			      : "");
		vb_replies_count(self, "feedback");
		break;
	}
	vb_replies_remember(self, key);
}

/* the object */

/**
 * vb_replies_new:
 * @context: the daemon's context
 * @customers: who the shoppers are
 * @outbox: where replies to them and forwards to the operator are queued
 *
 * Returns: (transfer full): a #VbReplies, not listening yet
 */
VbReplies *
vb_replies_new(VbContext *context, VbCustomers *customers, VbOutbox *outbox)
{
	VbReplies *self;

	g_return_val_if_fail(VB_IS_CONTEXT(context), NULL);
	g_return_val_if_fail(VB_IS_CUSTOMERS(customers), NULL);
	g_return_val_if_fail(VB_IS_OUTBOX(outbox), NULL);

	self = g_object_new(VB_TYPE_REPLIES, NULL);
	self->context = g_object_ref(context);
	self->customers = g_object_ref(customers);
	self->outbox = g_object_ref(outbox);
	vb_metrics_declare(vb_context_get_metrics(context), VB_REPLIES_METRIC_INBOUND,
			   VB_METRIC_COUNTER,
			   "SMS received from shoppers, by kind: stop, start, help, feedback, "
			   "unknown-sender, duplicate, empty, invalid, error");
	return self;
}

/**
 * vb_replies_set_config:
 * @self: a #VbReplies
 * @config: a validated configuration
 *
 * Reads where replies are forwarded: `[visit] operator-phone` and
 * `operator-webhook`. Items already queued keep the URL they were queued with.
 */
void
vb_replies_set_config(VbReplies *self, VbConfig *config)
{
	const gchar *phone;
	const gchar *webhook;

	g_return_if_fail(VB_IS_REPLIES(self));
	g_return_if_fail(VB_IS_CONFIG(config));

	phone = vb_config_get_string(config, "visit", "operator-phone");
	webhook = vb_config_get_string(config, "visit", "operator-webhook");
	g_clear_pointer(&self->operator_phone, g_free);
	g_clear_pointer(&self->operator_webhook, g_free);
	if (phone != NULL && phone[0] != '\0')
		self->operator_phone = g_strdup(phone);
	if (webhook != NULL && webhook[0] != '\0') {
		if (vb_replies_webhook_url_is_valid(webhook)) {
			self->operator_webhook = g_strdup(webhook);
		} else {
			/* the URL may hold a secret: it is not repeated */
			g_warning(_("[visit] operator-webhook is not an http:// or https:// URL "
				    "with a host; replies are not posted to it until it is fixed"));
		}
	}
}

/**
 * vb_replies_start:
 * @self: a #VbReplies
 *
 * Registers the `webhook` outbox kind and listens for inbound SMS messages.
 */
void
vb_replies_start(VbReplies *self)
{
	g_return_if_fail(VB_IS_REPLIES(self));

	self->running = TRUE;
	if (!self->kind_registered) {
		VbRepliesRef *ref = g_new0(VbRepliesRef, 1);

		g_weak_ref_init(&ref->replies, self);
		vb_outbox_register(self->outbox, VB_REPLIES_WEBHOOK_KIND,
				   vb_replies_webhook_dispatch, NULL, ref, vb_replies_ref_free);
		self->kind_registered = TRUE;
	}
	if (self->event_handler == 0)
		self->event_handler = g_signal_connect(
		    vb_context_get_bus(self->context), "event::" VB_EVENT_SMS_RECEIVED,
		    G_CALLBACK(vb_replies_sms_received_cb), self);
}

/**
 * vb_replies_stop:
 * @self: a #VbReplies
 *
 * Stops listening, and aborts the webhook calls in flight: their items are
 * tried again, with the same idempotency key, after the next start.
 */
void
vb_replies_stop(VbReplies *self)
{
	g_return_if_fail(VB_IS_REPLIES(self));

	g_clear_signal_handler(&self->event_handler, vb_context_get_bus(self->context));
	self->running = FALSE;
	if (self->session != NULL)
		soup_session_abort(self->session);
}

static void
vb_replies_dispose(GObject *object)
{
	VbReplies *self = VB_REPLIES(object);

	if (self->context != NULL)
		g_clear_signal_handler(&self->event_handler, vb_context_get_bus(self->context));
	g_clear_object(&self->session);
	g_clear_object(&self->outbox);
	g_clear_object(&self->customers);
	g_clear_object(&self->context);
	G_OBJECT_CLASS(vb_replies_parent_class)->dispose(object);
}

static void
vb_replies_finalize(GObject *object)
{
	VbReplies *self = VB_REPLIES(object);

	g_queue_clear(&self->recent_order);
	g_hash_table_unref(self->recent_ids);
	g_free(self->operator_phone);
	g_free(self->operator_webhook);
	G_OBJECT_CLASS(vb_replies_parent_class)->finalize(object);
}

static void
vb_replies_init(VbReplies *self)
{
	self->recent_ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_queue_init(&self->recent_order);
}

static void
vb_replies_class_init(VbRepliesClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = vb_replies_dispose;
	object_class->finalize = vb_replies_finalize;
}
