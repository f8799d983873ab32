/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the customers' phone numbers: looked up by blind index, stored sealed and
 * masked, and the cards linked to them */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-crypto-private.h"
#include "vb-customers-internal.h"
#include "vb-error.h"
#include "vb-privacy.h"

static gboolean
vb_customers_is_e164(const gchar *e164)
{
	gsize len;

	if (e164 == NULL || e164[0] != '+' || e164[1] == '0')
		return FALSE;
	len = strlen(e164 + 1);
	if (len < 8 || len > 15)
		return FALSE;
	for (gsize i = 1; e164[i] != '\0'; i++) {
		if (!g_ascii_isdigit(e164[i]))
			return FALSE;
	}
	return TRUE;
}

static gchar *
vb_customers_phone_index(VbCustomers *self, const gchar *e164, GError **error)
{
	g_autoptr(GBytes) key = NULL;

	if (!vb_customers_is_e164(e164)) {
		/* never repeat what was given: it may be a number */
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the phone number is not in E.164 form; normalize it "
				      "first"));
		return NULL;
	}
	key = vb_host_get_store_key(self->host, VB_STORE_KEY_PHONE_INDEX, error);
	if (key == NULL)
		return NULL;
	return vb_crypto_hmac_hex(key, "phone:", (const guint8 *)e164, strlen(e164));
}

/* phones */

gint64
vb_customers_find_phone(VbCustomers *self, const gchar *e164, GError **error)
{
	VbStore *store;
	g_autofree gchar *index = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), 0);
	g_return_val_if_fail(error == NULL || *error == NULL, 0);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return 0;
	index = vb_customers_phone_index(self, e164, error);
	if (index == NULL) {
		g_prefix_error(error, _("cannot look up a phone number: "));
		return 0;
	}
	stmt = vb_store_prepare(store, "SELECT id FROM customers WHERE phone_index = ?1", error);
	if (stmt == NULL) {
		g_prefix_error(error, _("cannot look up a phone number: "));
		return 0;
	}
	vb_store_stmt_bind_text(stmt, 1, index);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, _("cannot look up a phone number: "));
		return 0;
	}
	/* 0 without an error: nobody has this number */
	return step == VB_STORE_STEP_ROW ? vb_store_stmt_column_int64(stmt, 0) : 0;
}

static gint64
vb_customers_insert_phone(VbCustomers *self,
			  VbStore *store,
			  const gchar *e164,
			  const gchar *index,
			  const gchar *language,
			  GError **error)
{
	g_autoptr(GBytes) key = NULL;
	g_autoptr(GBytes) sealed = NULL;
	g_autofree gchar *masked = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;

	key = vb_host_get_store_key(self->host, VB_STORE_KEY_PHONE, error);
	if (key == NULL)
		return 0;
	sealed = vb_crypto_seal(key, index, (const guint8 *)e164, strlen(e164), error);
	if (sealed == NULL)
		return 0;
	masked = vb_mask_phone(e164);
	stmt = vb_store_prepare(store,
				"INSERT INTO customers (phone_index, phone_sealed, phone_masked, "
				"language, created) VALUES (?1, ?2, ?3, ?4, ?5)",
				error);
	if (stmt == NULL)
		return 0;
	vb_store_stmt_bind_text(stmt, 1, index);
	vb_store_stmt_bind_blob(stmt, 2, sealed);
	vb_store_stmt_bind_text(stmt, 3, masked);
	vb_store_stmt_bind_text(stmt, 4, language);
	vb_store_stmt_bind_int64(stmt, 5, vb_customers_now(self));
	if (!vb_store_stmt_exec(stmt, error))
		return 0;
	return vb_store_last_insert_rowid(store);
}

/* the customer of @e164, created if new; a known customer's language is
 * updated when @language is given. 0 on error */
gint64
vb_customers_add_phone(VbCustomers *self, const gchar *e164, const gchar *language, GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *index = NULL;
	gint64 id;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), 0);
	g_return_val_if_fail(error == NULL || *error == NULL, 0);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return 0;
	index = vb_customers_phone_index(self, e164, error);
	if (index == NULL || !vb_customers_begin(store, &tx, error)) {
		g_prefix_error(error, _("cannot record a phone number: "));
		return 0;
	}
	stmt = vb_store_prepare(store,
				"UPDATE customers SET language = COALESCE(?2, language) "
				"WHERE phone_index = ?1 RETURNING id",
				error);
	if (stmt == NULL) {
		g_prefix_error(error, _("cannot record a phone number: "));
		return 0;
	}
	vb_store_stmt_bind_text(stmt, 1, index);
	vb_store_stmt_bind_text(stmt, 2, language);
	switch (vb_store_stmt_step(stmt, error)) {
	case VB_STORE_STEP_ROW:
		id = vb_store_stmt_column_int64(stmt, 0);
		if (!vb_store_stmt_exec(stmt, error))
			id = 0;
		break;
	case VB_STORE_STEP_DONE:
		id = vb_customers_insert_phone(self, store, e164, index, language, error);
		break;
	case VB_STORE_STEP_ERROR:
	default:
		id = 0;
		break;
	}
	if (id == 0 || !vb_customers_commit(tx, error)) {
		g_prefix_error(error, _("cannot record a phone number: "));
		return 0;
	}
	return id;
}

gchar *
vb_customers_get_phone(VbCustomers *self, gint64 customer_id, GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autoptr(GBytes) key = NULL;
	g_autoptr(GBytes) sealed = NULL;
	g_autoptr(GBytes) plain = NULL;
	g_autofree gchar *index = NULL;
	gconstpointer data;
	gsize len = 0;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return NULL;
	key = vb_host_get_store_key(self->host, VB_STORE_KEY_PHONE, error);
	if (key == NULL) {
		g_prefix_error(error, _("cannot read a phone number: "));
		return NULL;
	}
	stmt = vb_store_prepare(
	    store, "SELECT phone_index, phone_sealed FROM customers WHERE id = ?1", error);
	if (stmt == NULL) {
		g_prefix_error(error, _("cannot read a phone number: "));
		return NULL;
	}
	vb_store_stmt_bind_int64(stmt, 1, customer_id);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, _("cannot read a phone number: "));
		return NULL;
	}
	if (step == VB_STORE_STEP_DONE) {
		vb_customers_set_no_customer(error, customer_id);
		return NULL;
	}
	index = g_strdup(vb_store_stmt_column_text(stmt, 0));
	sealed = vb_store_stmt_column_blob(stmt, 1);
	if (sealed == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the customer has no sealed phone number"));
		return NULL;
	}
	plain = vb_crypto_open(key, index, sealed, error);
	if (plain == NULL) {
		g_prefix_error(error, _("cannot read the phone number of customer %lld: "),
			       (long long)customer_id);
		return NULL;
	}
	data = g_bytes_get_data(plain, &len);
	return g_strndup(data, len);
}

gchar *
vb_customers_get_phone_masked(VbCustomers *self, gint64 customer_id, GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return NULL;
	stmt = vb_store_prepare(store, "SELECT phone_masked FROM customers WHERE id = ?1", error);
	if (stmt == NULL)
		return NULL;
	vb_store_stmt_bind_int64(stmt, 1, customer_id);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return NULL;
	if (step == VB_STORE_STEP_DONE) {
		vb_customers_set_no_customer(error, customer_id);
		return NULL;
	}
	return g_strdup(vb_store_stmt_column_text(stmt, 0));
}

/* NULL when unknown, or when the store cannot say */
gchar *
vb_customers_get_language(VbCustomers *self, gint64 customer_id)
{
	VbStore *store;
	g_autoptr(VbStoreStmt) stmt = NULL;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), NULL);

	store = vb_context_get_store(self->context);
	if (store == NULL)
		return NULL;
	stmt = vb_store_prepare(store, "SELECT language FROM customers WHERE id = ?1", NULL);
	if (stmt == NULL)
		return NULL;
	vb_store_stmt_bind_int64(stmt, 1, customer_id);
	if (vb_store_stmt_step(stmt, NULL) != VB_STORE_STEP_ROW)
		return NULL;
	return g_strdup(vb_store_stmt_column_text(stmt, 0));
}

/* @customer_id 0 unlinks the card. Whether the shopper may move a card to
 * another phone (a code sent to the new one) is the visit logic's decision */
gboolean
vb_customers_link_card(VbCustomers *self, const gchar *token, gint64 customer_id, GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *index = NULL;
	gint changes;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), FALSE);
	g_return_val_if_fail(token != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return FALSE;
	if (customer_id != 0) {
		index = vb_customers_index_of(store, customer_id, error);
		if (index == NULL) {
			g_prefix_error(error, _("cannot link a card: "));
			return FALSE;
		}
	}
	stmt = vb_store_prepare(store, "UPDATE cards SET customer_id = ?2 WHERE token = ?1", error);
	if (stmt == NULL) {
		g_prefix_error(error, _("cannot link a card: "));
		return FALSE;
	}
	vb_store_stmt_bind_text(stmt, 1, token);
	if (customer_id != 0)
		vb_store_stmt_bind_int64(stmt, 2, customer_id);
	else
		vb_store_stmt_bind_null(stmt, 2);
	changes = vb_customers_exec_changes(store, stmt, error);
	if (changes < 0) {
		g_prefix_error(error, _("cannot link a card: "));
		return FALSE;
	}
	if (changes == 0) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND,
				    _("cannot link a card: this card has never been seen here"));
		return FALSE;
	}
	return TRUE;
}

guint
vb_customers_count_cards(VbCustomers *self, gint64 customer_id)
{
	VbStore *store;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autoptr(GError) error = NULL;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), 0);

	store = vb_customers_get_store(self, &error);
	if (store != NULL)
		stmt = vb_store_prepare(store, "SELECT COUNT(*) FROM cards WHERE customer_id = ?1",
					&error);
	if (stmt == NULL) {
		g_warning("cannot count the cards of customer %" G_GINT64_FORMAT ": %s",
			  customer_id, error->message);
		return 0;
	}
	vb_store_stmt_bind_int64(stmt, 1, customer_id);
	if (vb_store_stmt_step(stmt, &error) != VB_STORE_STEP_ROW) {
		g_warning("cannot count the cards of customer %" G_GINT64_FORMAT ": %s",
			  customer_id, error->message);
		return 0;
	}
	return (guint)vb_store_stmt_column_int64(stmt, 0);
}
