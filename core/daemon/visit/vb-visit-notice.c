/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-context-private.h"
#include "vb-crypto-private.h"
#include "vb-error.h"
#include "vb-secure.h"
#include "vb-visit-private.h"

/*
 * Notice and receipt: what the shopper reads after the visit. The notice SMS
 * when the door closes (owed, and queued later, while the outbox is full),
 * the receipt link once the visit is settled, the receipt behind it, and the
 * outbox's "sms" kind that renders and sends every message of a visit
 * (codes, notices, receipts, replies). It may touch the outbox, the
 * customers' phones and opt-outs, and the visit's receipt columns.
 */

#define VB_OWED_NOTICES_BATCH 64

/* the outbox key of a visit's receipt SMS */
static gchar *
vb_visit_receipt_key(const gchar *visit_id)
{
	return g_strdup_printf("%s:receipt", visit_id);
}

static gboolean
vb_visit_manager_owed_cb(gpointer user_data);

/* the notice */

/* an erased customer, or a visit without a phone, is owed nothing */
gboolean
vb_visit_notice_queue(VbVisitManager *self,
		      const gchar *visit_id,
		      gint64 customer_id,
		      const gchar *language,
		      GError **deferred,
		      GError **error)
{
	g_autofree gchar *key = g_strdup_printf("%s:notice", visit_id);
	g_autoptr(GError) error_local = NULL;

	if (customer_id <= 0 || vb_visit_enqueue_sms(self, visit_id, customer_id, VB_SMS_NOTICE,
						     language, key, &error_local))
		return TRUE;
	if (!g_error_matches(error_local, VB_ERROR, VB_ERROR_TOO_LARGE)) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	g_propagate_error(deferred, g_steal_pointer(&error_local));
	self->notices_owed = TRUE;
	return vb_visit_set_int(self, visit_id, "UPDATE visits SET notice_owed = ?2 WHERE id = ?1",
				1, error);
}

/* queues the notices that visits owe since the outbox was full, oldest
 * first, while it has room */
void
vb_visit_manager_queue_owed_notices(VbVisitManager *self)
{
	g_autoptr(GPtrArray) owed =
	    g_ptr_array_new_with_free_func((GDestroyNotify)vb_visit_row_free);
	g_autoptr(GError) error = NULL;

	{
		g_autoptr(VbStoreStmt) stmt = vb_store_prepare(
		    self->store,
		    /* without statistics the planner walks visits_created to spare a
		     * sort, which reads every visit ever made at each start */
		    "SELECT " VB_VISIT_COLUMNS " FROM visits INDEXED BY visits_notice_owed "
		    "WHERE notice_owed = 1 "
		    "ORDER BY created LIMIT " G_STRINGIFY(VB_OWED_NOTICES_BATCH),
		    &error);
		if (stmt == NULL) {
			g_warning("cannot read the owed notices: %s", error->message);
			return;
		}
		while (vb_store_stmt_step(stmt, &error) == VB_STORE_STEP_ROW)
			g_ptr_array_add(owed, vb_visit_row_from_stmt(stmt));
	}
	for (guint i = 0; i < owed->len; i++) {
		VbVisitRow *row = g_ptr_array_index(owed, i);
		g_autoptr(VbStoreTransaction) tx = vb_store_transaction_begin(self->store, &error);
		g_autofree gchar *key = g_strdup_printf("%s:notice", row->id);
		gboolean ok;

		/* an erased customer has no phone left to owe a notice to */
		ok = tx != NULL &&
		     (row->customer_id <= 0 ||
		      vb_visit_enqueue_sms(self, row->id, row->customer_id, VB_SMS_NOTICE,
					   row->language, key, &error)) &&
		     vb_visit_set_int(self, row->id,
				      "UPDATE visits SET notice_owed = ?2 WHERE id = ?1", 0,
				      &error) &&
		     vb_store_transaction_commit(tx, &error);
		if (!ok) {
			/* still full: the next completion or the next minute tries again */
			if (!g_error_matches(error, VB_ERROR, VB_ERROR_TOO_LARGE))
				g_warning("visit %s: cannot queue its owed notice: %s", row->id,
					  error->message);
			self->notices_owed = TRUE;
			return;
		}
		g_message("visit %s: its owed notice SMS is queued", row->id);
	}
	/* all queued, unless this was only the first batch */
	self->notices_owed = owed->len == VB_OWED_NOTICES_BATCH;
}

static gboolean
vb_visit_manager_owed_cb(gpointer user_data)
{
	VbVisitManager *self = VB_VISIT_MANAGER(user_data);

	g_clear_pointer(&self->owed_source, g_source_unref);
	vb_visit_manager_queue_owed_notices(self);
	return G_SOURCE_REMOVE;
}

/* the receipt */

gchar *
vb_visit_manager_receipt_token(VbVisitManager *self, const gchar *visit_id)
{
	g_autoptr(GBytes) key = vb_host_get_store_key(self->host, VB_STORE_KEY_OTP, NULL);
	g_autofree gchar *mac = NULL;

	if (key == NULL)
		return NULL;
	/* 128 bits of a keyed hash of the visit id: as unguessable as random
	 * bits, and never stored, so a stolen database holds no receipt links */
	mac = vb_crypto_hmac_hex(key, "receipt:", (const guint8 *)visit_id, strlen(visit_id));
	return g_strndup(mac, 32);
}

gboolean
vb_visit_issue_receipt(VbVisitManager *self, VbVisitRow *row, GError **error)
{
	g_autofree gchar *token = vb_visit_manager_receipt_token(self, row->id);
	g_autofree gchar *hash = NULL;
	g_autofree gchar *key = vb_visit_receipt_key(row->id);
	gint64 expires = g_get_real_time() + (gint64)self->receipt_days * 86400 * G_USEC_PER_SEC;

	if (token == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    "no otp-key in the secrets file: receipt links cannot be made");
		return FALSE;
	}
	hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);
	if (!vb_visit_set_text(self, row->id, "UPDATE visits SET receipt_hash = ?2 WHERE id = ?1",
			       hash, error) ||
	    !vb_visit_set_int(self, row->id, "UPDATE visits SET receipt_expires = ?2 WHERE id = ?1",
			      expires, error))
		return FALSE;
	if (row->customer_id == 0)
		return TRUE;
	return vb_visit_enqueue_sms(self, row->id, row->customer_id, VB_SMS_RECEIPT, row->language,
				    key, error);
}

GVariant *
vb_visit_manager_get_receipt(VbVisitManager *self, const gchar *token, GError **error)
{
	g_autoptr(VbVisitRow) row = NULL;
	g_autofree gchar *hash = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	GVariantBuilder lines;
	GVariantDict dict;
	JsonArray *array = NULL;

	g_return_val_if_fail(VB_IS_VISIT_MANAGER(self), NULL);
	if (token == NULL || strlen(token) != 32 || strspn(token, "0123456789abcdef") != 32) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND, _("no such receipt"));
		return NULL;
	}
	hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);
	row = vb_visit_row_load(self, "receipt_hash", hash, NULL);
	if (row == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND, _("no such receipt"));
		return NULL;
	}
	if (row->receipt_expires < g_get_real_time()) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
				    _("this receipt link has expired"));
		return NULL;
	}
	if (row->order_json != NULL &&
	    json_parser_load_from_data(parser, row->order_json, -1, NULL))
		array = json_object_get_array_member(
		    json_node_get_object(json_parser_get_root(parser)), "lines");
	g_variant_builder_init(&lines, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
		JsonObject *line = json_array_get_object_element(array, i);
		gint64 q = json_object_get_int_member(line, "quantity");
		gint64 p = json_object_get_int_member(line, "unit_price");
		GVariantDict entry;
		g_variant_dict_init(&entry, NULL);
		g_variant_dict_insert(&entry, "sku", "s",
				      json_object_get_string_member(line, "sku"));
		g_variant_dict_insert(&entry, "name", "s",
				      json_object_get_string_member(line, "name"));
		g_variant_dict_insert(&entry, "quantity", "x", q);
		g_variant_dict_insert(&entry, "unit-price", "x", p);
		g_variant_dict_insert(&entry, "price", "x", q * p);
		g_variant_builder_add_value(&lines, g_variant_dict_end(&entry));
	}
	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, "visit", "s", row->id);
	g_variant_dict_insert(&dict, "store", "s", vb_context_get_store_name(self->context));
	g_variant_dict_insert(&dict, "contact", "s",
			      self->operator_contact != NULL ? self->operator_contact : "");
	g_variant_dict_insert(
	    &dict, "language", "s",
	    row->language != NULL ? row->language : vb_context_get_default_language(self->context));
	g_variant_dict_insert(&dict, "currency", "s", row->currency != NULL ? row->currency : "");
	g_variant_dict_insert_value(&dict, "lines", g_variant_builder_end(&lines));
	g_variant_dict_insert(&dict, "total", "x", row->total);
	g_variant_dict_insert(&dict, "hold", "x", row->hold_amount);
	g_variant_dict_insert(&dict, "captured", "x", row->captured);
	/* a hold raised to the order's total before its capture */
	if (g_strcmp0(row->settlement, "adjusted-and-captured") == 0)
		g_variant_dict_insert(&dict, "adjusted", "x", row->total);
	g_variant_dict_insert(&dict, "settlement", "s",
			      row->settlement != NULL ? row->settlement : "");
	g_variant_dict_insert_value(
	    &dict, "card",
	    g_variant_new_take_string(g_strdup_printf("%s\xe2\x80\xa2\xe2\x80\xa2%s",
						      row->first6 != NULL ? row->first6 : "",
						      row->last4 != NULL ? row->last4 : "")));
	g_variant_dict_insert(&dict, "time", "x", row->created);
	return g_variant_dict_end(&dict);
}

/* the "sms" outbox kind */

/* TRUE once the visit's receipt SMS was delivered to the provider */
static gboolean
vb_visit_receipt_has_gone(VbVisitManager *self, const gchar *visit_id)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key = vb_visit_receipt_key(visit_id);
	g_autofree gchar *state = vb_outbox_get_state_by_key(self->outbox, key, &error);

	if (error != NULL)
		g_warning("cannot tell whether the receipt of visit %s was sent: %s", visit_id,
			  error->message);
	return g_strcmp0(state, "done") == 0;
}

static void
vb_visit_sms_skip(VbOutboxItem *item, const gchar *why)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) node = NULL;
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "skipped");
	json_builder_add_string_value(builder, why);
	json_builder_end_object(builder);
	node = json_builder_get_root(builder);
	vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_DONE, node, NULL, 0);
}

void
vb_visit_sms_dispatch(VbOutbox *outbox,
		      VbOutboxItem *item,
		      GCancellable *cancellable,
		      gpointer user_data)
{
	VbVisitManager *self = VB_VISIT_MANAGER(user_data);
	JsonObject *payload = vb_outbox_item_get_payload(item);
	VbSmsTemplate template_ = vb_sms_template_from_string(
	    json_object_get_string_member_with_default(payload, "template", ""));
	const gchar *language = json_object_get_string_member_with_default(
	    payload, "language", vb_context_get_default_language(self->context));
	const gchar *visit = json_object_get_string_member_with_default(payload, "visit", "");
	gint64 customer = json_object_get_int_member_with_default(payload, "customer", 0);
	JsonObject *params = json_object_has_member(payload, "params")
				 ? json_object_get_object_member(payload, "params")
				 : NULL;
	g_autoptr(GHashTable) values = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
							     (GDestroyNotify)vb_secure_free_string);
	g_autoptr(GError) error = NULL;
	static const gchar *const shortenable[] = {"body", "store", NULL};
	gboolean shortened = FALSE;
	gchar *body;
	gchar *to = NULL;

	if (template_ == VB_SMS_LAST) {
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL,
					"unknown SMS template", 0);
		return;
	}
	/* a code is worth nothing once it has expired */
	if (template_ == VB_SMS_OTP &&
	    g_get_real_time() - vb_outbox_item_get_created(item) >= VB_CUSTOMERS_OTP_LIFETIME) {
		vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_FAILED, NULL,
					"the one-time code expired before it could be sent; the "
					"shopper taps again for a new one",
					0);
		return;
	}
	/* a notice that comes after its receipt (it waited on an unknown
	 * outcome while the receipt went) would only confuse */
	if (template_ == VB_SMS_NOTICE && vb_visit_receipt_has_gone(self, visit)) {
		vb_visit_sms_skip(item, "the receipt went first");
		return;
	}
	if (json_object_get_boolean_member_with_default(payload, "to-operator", FALSE)) {
		if (self->operator_phone == NULL) {
			vb_visit_sms_skip(item, "no operator-phone");
			return;
		}
		to = g_strdup(self->operator_phone);
	} else {
		/* STOP ends every further message, whatever was queued before it;
		 * HELP still gets its answer, as carriers require */
		if (template_ != VB_SMS_HELP &&
		    vb_customers_is_sms_opted_out(self->customers, customer)) {
			vb_visit_sms_skip(item, "opted-out");
			return;
		}
		to = vb_customers_get_phone(self->customers, customer, &error);
		if (to == NULL) {
			if (g_error_matches(error, VB_ERROR, VB_ERROR_NOT_FOUND))
				vb_visit_sms_skip(item, "erased");
			else
				vb_outbox_item_complete(item, VB_OUTBOX_OUTCOME_RETRY, NULL,
							error->message, 0);
			return;
		}
	}
	g_hash_table_insert(values, (gpointer) "store",
			    g_strdup(vb_context_get_store_name(self->context)));
	g_hash_table_insert(values, (gpointer) "contact", g_strdup(self->operator_contact));
	g_hash_table_insert(values, (gpointer) "visit", g_strdup(visit));
	if (template_ == VB_SMS_RECEIPT) {
		g_autofree gchar *token = vb_visit_manager_receipt_token(self, visit);
		g_hash_table_insert(values, (gpointer) "url",
				    g_strdup_printf("%s/r/%s",
						    vb_http_server_get_public_url(
							vb_context_get_http_server(self->context)),
						    token != NULL ? token : ""));
	} else if (template_ == VB_SMS_OTP) {
		const gchar *code =
		    vb_outbox_get_ephemeral(self->outbox, vb_outbox_item_get_idempotency_key(item));
		if (code == NULL) {
			vb_secure_free_string(to);
			vb_outbox_item_complete(
			    item, VB_OUTBOX_OUTCOME_FAILED, NULL,
			    "the one-time code was lost in a restart; the shopper "
			    "taps again for a new one",
			    0);
			return;
		}
		g_hash_table_insert(values, (gpointer) "code", g_strdup(code));
	}
	if (params != NULL) {
		static const gchar *names[] = {"phone", "visit", "body"};
		for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
			if (json_object_has_member(params, names[i]))
				g_hash_table_replace(
				    values, (gpointer)names[i],
				    g_strdup(json_object_get_string_member(params, names[i])));
		}
	}

	/* within [sms] max-segments: a forwarded reply, then the store's name, are
	 * shortened at a word; a link, a code and the fixed text never are */
	body = vb_sms_router_render(self->sms_router, template_, language, values, shortenable,
				    &shortened);
	/* the router chooses the provider and completes the item */
	vb_sms_router_send(
	    self->sms_router, item,
	    json_object_get_boolean_member_with_default(payload, "to-operator", FALSE) ? 0
										       : customer,
	    to, body, shortened, cancellable);
}

/* an SMS whose outcome stayed unknown past its bound. A code would be sent
 * again as a second, different-looking message while the shopper types the
 * first: it is asked about until it expires (see the dispatch). Everything
 * else a shopper or the operator was promised is worth a possible duplicate
 * rather than a loss: a receipt link, a notice (which the dispatch skips
 * should its receipt have gone meanwhile), an answer to a reply */
VbOutboxUnknownPolicy
vb_visit_sms_unknown(VbOutbox *outbox, VbOutboxItem *item, gpointer user_data)
{
	JsonObject *payload = vb_outbox_item_get_payload(item);
	VbSmsTemplate template_ = vb_sms_template_from_string(
	    payload != NULL ? json_object_get_string_member_with_default(payload, "template", "")
			    : "");

	if (template_ == VB_SMS_OTP)
		return VB_OUTBOX_UNKNOWN_ASK_AGAIN;
	return VB_OUTBOX_UNKNOWN_RESEND;
}

gboolean
vb_visit_sms_complete(VbOutbox *outbox,
		      VbOutboxItem *item,
		      VbOutboxOutcome outcome,
		      JsonNode *result,
		      gpointer user_data,
		      GError **error)
{
	VbVisitManager *self = VB_VISIT_MANAGER(user_data);

	/* an SMS leaves the outbox: room for an owed notice, queued once this
	 * completion has committed */
	if (self->started && self->notices_owed && self->owed_source == NULL) {
		self->owed_source = g_idle_source_new();
		g_source_set_priority(self->owed_source, G_PRIORITY_LOW);
		g_source_set_callback(self->owed_source, vb_visit_manager_owed_cb, self, NULL);
		g_source_set_static_name(self->owed_source, "[vestibule] owed notices");
		g_source_attach(self->owed_source, NULL);
	}
	if (outcome != VB_OUTBOX_OUTCOME_DONE)
		vb_context_alert_full(
		    self->context, VB_ALERT_WARNING, VB_ALERT_KIND_SMS_DEAD_LETTER, NULL, NULL,
		    vb_outbox_item_get_visit_id(item),
		    "an SMS for visit %s could not be sent; see vestibulectl outbox",
		    vb_outbox_item_get_visit_id(item) != NULL ? vb_outbox_item_get_visit_id(item)
							      : "(none)");
	return TRUE;
}
