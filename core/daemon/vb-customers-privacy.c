/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the shopper's say over their data: the consent log, the SMS opt-out, and
 * erasure */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "vb-customers-internal.h"
#include "vb-error.h"

/* consent */

static gboolean
vb_customers_insert_consent(VbCustomers *self,
			    VbStore *store,
			    const gchar *index,
			    const gchar *purpose,
			    gboolean given,
			    const gchar *text,
			    const gchar *version,
			    const gchar *channel,
			    GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	stmt = vb_store_prepare(store,
				"INSERT INTO consent (phone_index, time, purpose, given, text, "
				"version, channel) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
				error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, index);
	vb_store_stmt_bind_int64(stmt, 2, vb_customers_now(self));
	vb_store_stmt_bind_text(stmt, 3, purpose);
	vb_store_stmt_bind_int64(stmt, 4, given ? 1 : 0);
	vb_store_stmt_bind_text(stmt, 5, text);
	vb_store_stmt_bind_text(stmt, 6, version);
	vb_store_stmt_bind_text(stmt, 7, channel);
	return vb_store_stmt_exec(stmt, error);
}

gboolean
vb_customers_record_consent(VbCustomers *self,
			    gint64 customer_id,
			    const gchar *purpose,
			    gboolean given,
			    const gchar *text,
			    const gchar *version,
			    const gchar *channel,
			    GError **error)
{
	VbStore *store;
	g_autofree gchar *index = NULL;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), FALSE);
	g_return_val_if_fail(purpose != NULL && text != NULL, FALSE);
	g_return_val_if_fail(version != NULL && channel != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return FALSE;
	index = vb_customers_index_of(store, customer_id, error);
	if (index == NULL || !vb_customers_insert_consent(self, store, index, purpose, given, text,
							  version, channel, error)) {
		g_prefix_error(error, _("cannot record consent: "));
		return FALSE;
	}
	return TRUE;
}

/* @text is what the shopper sent ("STOP"), kept as the exact wording */
gboolean
vb_customers_set_sms_opt_out(VbCustomers *self,
			     gint64 customer_id,
			     gboolean opted_out,
			     const gchar *text,
			     const gchar *channel,
			     GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *index = NULL;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), FALSE);
	g_return_val_if_fail(text != NULL && channel != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return FALSE;
	if (!vb_customers_begin(store, &tx, error)) {
		g_prefix_error(error, _("cannot record an SMS opt-out: "));
		return FALSE;
	}
	index = vb_customers_index_of(store, customer_id, error);
	if (index != NULL)
		stmt = vb_store_prepare(
		    store, "UPDATE customers SET sms_opt_out = ?2 WHERE id = ?1", error);
	if (stmt != NULL) {
		vb_store_stmt_bind_int64(stmt, 1, customer_id);
		vb_store_stmt_bind_int64(stmt, 2, opted_out ? 1 : 0);
	}
	/* the flag and its record change together, or neither does */
	if (stmt == NULL || !vb_store_stmt_exec(stmt, error) ||
	    !vb_customers_insert_consent(self, store, index, "sms", !opted_out, text, "1", channel,
					 error) ||
	    !vb_customers_commit(tx, error)) {
		g_prefix_error(error, _("cannot record an SMS opt-out: "));
		return FALSE;
	}
	return TRUE;
}

/* when the store cannot tell, the answer is TRUE: a STOP must never be
 * overlooked, and a message not sent can be sent later */
gboolean
vb_customers_is_sms_opted_out(VbCustomers *self, gint64 customer_id)
{
	VbStore *store;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autoptr(GError) error = NULL;
	VbStoreStep step = VB_STORE_STEP_ERROR;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), TRUE);

	store = vb_customers_get_store(self, &error);
	if (store != NULL)
		stmt = vb_store_prepare(store, "SELECT sms_opt_out FROM customers WHERE id = ?1",
					&error);
	if (stmt != NULL) {
		vb_store_stmt_bind_int64(stmt, 1, customer_id);
		step = vb_store_stmt_step(stmt, &error);
	}
	if (step == VB_STORE_STEP_ROW)
		return vb_store_stmt_column_int64(stmt, 0) != 0;
	if (step == VB_STORE_STEP_ERROR) {
		g_warning("cannot read the SMS opt-out of customer %" G_GINT64_FORMAT
			  ", so no SMS goes to it: %s",
			  customer_id, error->message);
	}
	return TRUE;
}

/* erasure */

/* runs one statement of the erasure, binding the customer id to ?1 and,
 * when given, the phone index to ?2; gives how many rows it changed or -1 */
static gint
vb_customers_erase_step(VbStore *store,
			const gchar *sql,
			gint64 customer_id,
			const gchar *index,
			GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(store, sql, error);

	if (stmt == NULL)
		return -1;
	vb_store_stmt_bind_int64(stmt, 1, customer_id);
	if (index != NULL)
		vb_store_stmt_bind_text(stmt, 2, index);
	return vb_customers_exec_changes(store, stmt, error);
}

/* overwrites the row's personal data before deleting it: SQLite leaves a
 * deleted row's bytes in the page's free space, where the sealed number
 * would stay readable to whoever holds the phone key. A same-size value is
 * rewritten in place */
#define VB_ERASE_OVERWRITE                                                                         \
	"UPDATE customers SET phone_sealed = zeroblob(length(phone_sealed)), "                     \
	"phone_masked = substr(hex(zeroblob(length(CAST(phone_masked AS BLOB)))), 1, "             \
	"length(CAST(phone_masked AS BLOB))) WHERE id = ?1"

static gboolean
vb_customers_erase_rows(VbStore *store, gint64 customer_id, guint counts[3], GError **error)
{
	g_autofree gchar *index = NULL;
	gint n;

	index = vb_customers_index_of(store, customer_id, error);
	if (index == NULL)
		return FALSE;
	if (vb_customers_erase_step(store, "DELETE FROM otps WHERE phone_index = ?2", customer_id,
				    index, error) < 0)
		return FALSE;

	/* the financial record stays, without whom it was: a visit made with one
	 * of the customer's cards before it was linked counts too */
	n = vb_customers_erase_step(store,
				    "UPDATE visits SET customer_id = NULL, card_token = NULL "
				    "WHERE customer_id = ?1 OR card_token IN "
				    "(SELECT token FROM cards WHERE customer_id = ?1)",
				    customer_id, NULL, error);
	if (n < 0)
		return FALSE;
	counts[2] = (guint)n;

	n = vb_customers_erase_step(store, "DELETE FROM feedback WHERE customer_id = ?1",
				    customer_id, NULL, error);
	if (n < 0)
		return FALSE;
	counts[1] = (guint)n;

	if (vb_customers_erase_step(store,
				    "DELETE FROM card_aliases WHERE token IN "
				    "(SELECT token FROM cards WHERE customer_id = ?1)",
				    customer_id, NULL, error) < 0)
		return FALSE;
	n = vb_customers_erase_step(store, "DELETE FROM cards WHERE customer_id = ?1", customer_id,
				    NULL, error);
	if (n < 0)
		return FALSE;
	counts[0] = (guint)n;

	/* the consent log stays: it is the legal record of what was given and
	 * withdrawn, it is append-only, and it holds only the blind index, which
	 * names nobody without the number and the index key */
	if (vb_customers_erase_step(store, VB_ERASE_OVERWRITE, customer_id, NULL, error) < 0)
		return FALSE;
	return vb_customers_erase_step(store, "DELETE FROM customers WHERE id = ?1", customer_id,
				       NULL, error) >= 0;
}

GVariant *
vb_customers_erase(VbCustomers *self, gint64 customer_id, GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreTransaction) tx = NULL;
	guint counts[3] = {0, 0, 0};
	GVariantDict dict;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return NULL;
	if (!vb_customers_begin(store, &tx, error) ||
	    !vb_customers_erase_rows(store, customer_id, counts, error) ||
	    !vb_customers_commit(tx, error)) {
		g_prefix_error(error, _("cannot erase customer %lld: "), (long long)customer_id);
		return NULL;
	}
	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, "cards", "u", counts[0]);
	g_variant_dict_insert(&dict, "feedback", "u", counts[1]);
	g_variant_dict_insert(&dict, "visits", "u", counts[2]);
	return g_variant_ref_sink(g_variant_dict_end(&dict));
}
