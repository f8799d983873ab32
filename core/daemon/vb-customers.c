/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * who the shoppers are, without their numbers in clear:
 * - customers.phone_index is HMAC-SHA256(phone-index-key, "phone:" + E.164),
 *   the only way a number is looked up;
 * - customers.phone_sealed is the number sealed with phone-key, the row's
 *   phone_index as associated data so that a sealed number cannot be moved to
 *   another row; only the SMS provider ever gets it opened;
 * - customers.phone_masked is what operators and logs see;
 * - otps.code_hash is HMAC-SHA256(otp-key, "otp:" + phone_index + ":" + code);
 * - the consent log is append-only (triggers) and keyed by phone_index.
 * Nothing here logs a number, a code or a key, or puts one in a GError.
 *
 * This file holds the object, the store helpers its parts share, and the
 * cards; the phones, the one-time codes, consent and erasure, and feedback
 * each have a vb-customers-*.c file.
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-customers-internal.h"
#include "vb-error.h"
#include "vb-events.h"

G_DEFINE_FINAL_TYPE(VbCustomers, vb_customers, G_TYPE_OBJECT)

void
vb_card_free(VbCard *card)
{
	if (card == NULL)
		return;
	g_free(card->token);
	g_free(card->kind);
	g_free(card->first6);
	g_free(card->last4);
	g_free(card->expiry);
	g_free(card->scheme);
	g_free(card->language);
	g_free(card);
}

void
vb_customers_set_clock(VbCustomers *self, VbCustomersClockFunc func, gpointer user_data)
{
	g_return_if_fail(VB_IS_CUSTOMERS(self));
	self->clock = func;
	self->clock_data = user_data;
}

gint64
vb_customers_now(VbCustomers *self)
{
	if (self->clock != NULL)
		return self->clock(self->clock_data);
	return g_get_real_time();
}

VbStore *
vb_customers_get_store(VbCustomers *self, GError **error)
{
	VbStore *store = vb_context_get_store(self->context);

	if (store == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
				    _("no store is open: customers cannot be recorded"));
	}
	return store;
}

/* multi-row writes join the caller's transaction when one is open (and a
 * failure is then the caller's to roll back), else run in their own; *tx is
 * NULL in the first case */
gboolean
vb_customers_begin(VbStore *store, VbStoreTransaction **tx, GError **error)
{
	*tx = NULL;
	if (vb_store_in_transaction(store))
		return TRUE;
	*tx = vb_store_transaction_begin(store, error);
	return *tx != NULL;
}

gboolean
vb_customers_commit(VbStoreTransaction *tx, GError **error)
{
	return tx == NULL || vb_store_transaction_commit(tx, error);
}

/* runs a statement that changes rows and gives how many it changed, or -1 */
gint
vb_customers_exec_changes(VbStore *store, VbStoreStmt *stmt, GError **error)
{
	if (!vb_store_stmt_exec(stmt, error))
		return -1;
	return vb_store_changes(store);
}

/* ids go through %lld: xgettext cannot see through G_GINT64_FORMAT */
void
vb_customers_set_no_customer(GError **error, gint64 customer_id)
{
	g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
		    _("there is no customer %lld: it was erased, or never recorded"),
		    (long long)customer_id);
}

/* the blind index of a customer, or NULL with VB_ERROR_NOT_FOUND */
gchar *
vb_customers_index_of(VbStore *store, gint64 customer_id, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	stmt = vb_store_prepare(store, "SELECT phone_index FROM customers WHERE id = ?1", error);
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

/* cards */

#define VB_CARD_COLUMNS                                                                            \
	"c.token, c.kind, c.first6, c.last4, c.expiry, c.scheme, c.language, c.customer_id, "      \
	"c.visits"

static VbCard *
vb_card_new_from_row(VbStoreStmt *stmt)
{
	VbCard *card = g_new0(VbCard, 1);

	card->token = g_strdup(vb_store_stmt_column_text(stmt, 0));
	card->kind = g_strdup(vb_store_stmt_column_text(stmt, 1));
	card->first6 = g_strdup(vb_store_stmt_column_text(stmt, 2));
	card->last4 = g_strdup(vb_store_stmt_column_text(stmt, 3));
	card->expiry = g_strdup(vb_store_stmt_column_text(stmt, 4));
	card->scheme = g_strdup(vb_store_stmt_column_text(stmt, 5));
	card->language = g_strdup(vb_store_stmt_column_text(stmt, 6));
	card->customer_id = vb_store_stmt_column_int64(stmt, 7);
	card->visits = vb_store_stmt_column_int64(stmt, 8);
	return card;
}

VbCard *
vb_customers_get_card(VbCustomers *self, const gchar *token_or_alias, GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), NULL);
	g_return_val_if_fail(token_or_alias != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return NULL;
	stmt = vb_store_prepare(store,
				"SELECT " VB_CARD_COLUMNS " FROM cards c WHERE c.token = ?1 "
				"UNION ALL "
				"SELECT " VB_CARD_COLUMNS " FROM card_aliases a "
				"JOIN cards c ON c.token = a.token WHERE a.alias = ?1 "
				"LIMIT 1",
				error);
	if (stmt == NULL) {
		g_prefix_error(error, _("cannot look up a card: "));
		return NULL;
	}
	vb_store_stmt_bind_text(stmt, 1, token_or_alias);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, _("cannot look up a card: "));
		return NULL;
	}
	if (step == VB_STORE_STEP_DONE) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND,
				    _("this card has never been seen here"));
		return NULL;
	}
	return vb_card_new_from_row(stmt);
}

/* *token is the card that @alias belongs to, or NULL when it names none */
static gboolean
vb_customers_alias_token(VbStore *store, const gchar *alias, gchar **token, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	*token = NULL;
	stmt = vb_store_prepare(store, "SELECT token FROM card_aliases WHERE alias = ?1", error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, alias);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return FALSE;
	if (step == VB_STORE_STEP_ROW)
		*token = g_strdup(vb_store_stmt_column_text(stmt, 0));
	return TRUE;
}

static gboolean
vb_customers_upsert_card(VbStore *store,
			 VbEvent *event,
			 const gchar *token,
			 gint64 now,
			 GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	const gchar *kind = vb_event_lookup_string(event, VB_KEY_CARD_KIND);
	const gchar *first6 = vb_event_lookup_string(event, VB_KEY_FIRST6);

	/* a reader that does not say is reading a tag unless it gave card digits */
	if (kind == NULL)
		kind = first6 != NULL ? "payment" : "uid";
	/* the same token is the same PAN: newer display data (a renewed card's
	 * expiry) replaces the old, and missing data does not erase what is known */
	stmt = vb_store_prepare(store,
				"INSERT INTO cards (token, kind, first6, last4, expiry, scheme, "
				"language, created, last_seen) "
				"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) "
				"ON CONFLICT (token) DO UPDATE SET "
				"kind = excluded.kind, "
				"first6 = COALESCE(excluded.first6, first6), "
				"last4 = COALESCE(excluded.last4, last4), "
				"expiry = COALESCE(excluded.expiry, expiry), "
				"scheme = COALESCE(excluded.scheme, scheme), "
				"language = COALESCE(excluded.language, language), "
				"last_seen = excluded.last_seen",
				error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, token);
	vb_store_stmt_bind_text(stmt, 2, kind);
	vb_store_stmt_bind_text(stmt, 3, first6);
	vb_store_stmt_bind_text(stmt, 4, vb_event_lookup_string(event, VB_KEY_LAST4));
	vb_store_stmt_bind_text(stmt, 5, vb_event_lookup_string(event, VB_KEY_EXPIRY));
	vb_store_stmt_bind_text(stmt, 6, vb_event_lookup_string(event, VB_KEY_SCHEME));
	vb_store_stmt_bind_text(stmt, 7, vb_event_lookup_string(event, VB_KEY_LANGUAGE));
	vb_store_stmt_bind_int64(stmt, 8, now);
	return vb_store_stmt_exec(stmt, error);
}

/* a presentation through an alias of a known card, with another token: the
 * token is a wallet's device PAN, whose first6 and last4 are not the card's.
 * Only last_seen changes, and display data the card lacked is filled in */
static gboolean
vb_customers_touch_card(VbStore *store,
			VbEvent *event,
			const gchar *token,
			gint64 now,
			GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	stmt = vb_store_prepare(store,
				"UPDATE cards SET last_seen = ?2, "
				"first6 = COALESCE(first6, ?3), "
				"last4 = COALESCE(last4, ?4), "
				"expiry = COALESCE(expiry, ?5), "
				"scheme = COALESCE(scheme, ?6), "
				"language = COALESCE(language, ?7) "
				"WHERE token = ?1",
				error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, token);
	vb_store_stmt_bind_int64(stmt, 2, now);
	vb_store_stmt_bind_text(stmt, 3, vb_event_lookup_string(event, VB_KEY_FIRST6));
	vb_store_stmt_bind_text(stmt, 4, vb_event_lookup_string(event, VB_KEY_LAST4));
	vb_store_stmt_bind_text(stmt, 5, vb_event_lookup_string(event, VB_KEY_EXPIRY));
	vb_store_stmt_bind_text(stmt, 6, vb_event_lookup_string(event, VB_KEY_SCHEME));
	vb_store_stmt_bind_text(stmt, 7, vb_event_lookup_string(event, VB_KEY_LANGUAGE));
	return vb_store_stmt_exec(stmt, error);
}

static gboolean
vb_customers_insert_alias(VbStore *store, const gchar *token, const gchar *alias, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	stmt = vb_store_prepare(store,
				"INSERT INTO card_aliases (alias, token) VALUES (?1, ?2) "
				"ON CONFLICT (alias) DO NOTHING",
				error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, alias);
	vb_store_stmt_bind_text(stmt, 2, token);
	return vb_store_stmt_exec(stmt, error);
}

static gboolean
vb_customers_card_seen_rows(VbCustomers *self,
			    VbStore *store,
			    VbEvent *event,
			    gchar **card_token,
			    GError **error)
{
	const gchar *token = vb_event_lookup_string(event, VB_KEY_TOKEN);
	const gchar *alias = vb_event_lookup_string(event, VB_KEY_ALIAS);
	gint64 now = vb_customers_now(self);
	g_autofree gchar *known = NULL;

	if (alias != NULL && alias[0] == '\0')
		alias = NULL;
	if (alias != NULL && !vb_customers_alias_token(store, alias, &known, error))
		return FALSE;

	/* the processor's identifier is the card, whatever token the tap gave:
	 * a wallet's device PAN differs from the plastic's, the alias does not.
	 * Such a tap is the known card, and makes no card of its own */
	if (known != NULL && g_strcmp0(known, token) != 0) {
		if (!vb_customers_touch_card(store, event, known, now, error))
			return FALSE;
		*card_token = g_steal_pointer(&known);
		return TRUE;
	}
	if (!vb_customers_upsert_card(store, event, token, now, error))
		return FALSE;
	if (alias != NULL && known == NULL &&
	    !vb_customers_insert_alias(store, token, alias, error))
		return FALSE;
	*card_token = g_strdup(token);
	return TRUE;
}

VbCard *
vb_customers_card_seen(VbCustomers *self, VbEvent *card_presented, GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autofree gchar *card_token = NULL;
	const gchar *token;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), NULL);
	g_return_val_if_fail(card_presented != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	token = vb_event_lookup_string(card_presented, VB_KEY_TOKEN);
	if (token == NULL || token[0] == '\0') {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the card-presented event from %s has no token: the reader "
			      "plugin must tokenize the card first"),
			    vb_event_get_source(card_presented) != NULL
				? vb_event_get_source(card_presented)
				: "?");
		return NULL;
	}
	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return NULL;
	if (!vb_customers_begin(store, &tx, error) ||
	    !vb_customers_card_seen_rows(self, store, card_presented, &card_token, error) ||
	    !vb_customers_commit(tx, error)) {
		g_prefix_error(error, _("cannot record a card: "));
		return NULL;
	}
	return vb_customers_get_card(self, card_token, error);
}

gboolean
vb_customers_count_visit(VbCustomers *self, const gchar *token, GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreStmt) stmt = NULL;
	gint changes;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), FALSE);
	g_return_val_if_fail(token != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return FALSE;
	stmt =
	    vb_store_prepare(store, "UPDATE cards SET visits = visits + 1 WHERE token = ?1", error);
	if (stmt == NULL) {
		g_prefix_error(error, _("cannot count a visit: "));
		return FALSE;
	}
	vb_store_stmt_bind_text(stmt, 1, token);
	changes = vb_customers_exec_changes(store, stmt, error);
	if (changes < 0) {
		g_prefix_error(error, _("cannot count a visit: "));
		return FALSE;
	}
	if (changes == 0) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND,
				    _("cannot count a visit: this card has never been seen "
				      "here"));
		return FALSE;
	}
	return TRUE;
}

gboolean
vb_customers_add_alias(VbCustomers *self, const gchar *token, const gchar *alias, GError **error)
{
	VbStore *store;
	g_autofree gchar *owner = NULL;
	g_autoptr(VbCard) card = NULL;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), FALSE);
	g_return_val_if_fail(token != NULL, FALSE);
	g_return_val_if_fail(alias != NULL && alias[0] != '\0', FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return FALSE;
	card = vb_customers_get_card(self, token, error);
	if (card == NULL)
		return FALSE;
	if (!vb_customers_insert_alias(store, card->token, alias, error)) {
		g_prefix_error(error, _("cannot record a card alias: "));
		return FALSE;
	}
	/* an identifier names one card: it is never moved to another */
	if (!vb_customers_alias_token(store, alias, &owner, error)) {
		g_prefix_error(error, _("cannot record a card alias: "));
		return FALSE;
	}
	if (g_strcmp0(owner, card->token) != 0) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_CONFLICT,
				    _("this processor card identifier already belongs to "
				      "another card"));
		return FALSE;
	}
	return TRUE;
}

/* the object */

static void
vb_customers_finalize(GObject *object)
{
	VbCustomers *self = VB_CUSTOMERS(object);

	g_clear_object(&self->context);
	g_clear_object(&self->host);
	G_OBJECT_CLASS(vb_customers_parent_class)->finalize(object);
}

static void
vb_customers_class_init(VbCustomersClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = vb_customers_finalize;
}

static void
vb_customers_init(VbCustomers *self)
{
}

VbCustomers *
vb_customers_new(VbContext *context, VbHost *host)
{
	VbCustomers *self;

	g_return_val_if_fail(VB_IS_CONTEXT(context), NULL);
	g_return_val_if_fail(VB_IS_HOST(host), NULL);

	self = g_object_new(VB_TYPE_CUSTOMERS, NULL);
	self->context = g_object_ref(context);
	self->host = g_object_ref(host);
	return self;
}
