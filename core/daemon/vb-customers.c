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
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-context-private.h"
#include "vb-crypto-private.h"
#include "vb-customers-private.h"
#include "vb-customers-test-private.h"
#include "vb-error.h"
#include "vb-events.h"
#include "vb-privacy.h"

/* OWASP ASVS V2.7 and NIST SP 800-63B: six digits, ten minutes, three tries */
#define VB_OTP_DIGITS 6
#define VB_OTP_LIFETIME (10 * G_TIME_SPAN_MINUTE)
#define VB_OTP_MAX_TRIES 3
#define VB_OTP_RESEND_INTERVAL (30 * G_TIME_SPAN_SECOND)
#define VB_OTP_WINDOW G_TIME_SPAN_HOUR
#define VB_OTP_SENDS_PER_WINDOW 5

struct _VbCustomers {
	GObject parent_instance;
	VbContext *context;
	VbCustomersClockFunc clock;
	gpointer clock_data;
};

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

static gint64
vb_customers_now(VbCustomers *self)
{
	if (self->clock != NULL)
		return self->clock(self->clock_data);
	return g_get_real_time();
}

static VbStore *
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
static gboolean
vb_customers_begin(VbStore *store, VbStoreTransaction **tx, GError **error)
{
	*tx = NULL;
	if (vb_store_in_transaction(store))
		return TRUE;
	*tx = vb_store_transaction_begin(store, error);
	return *tx != NULL;
}

static gboolean
vb_customers_commit(VbStoreTransaction *tx, GError **error)
{
	return tx == NULL || vb_store_transaction_commit(tx, error);
}

/* runs a statement that changes rows and gives how many it changed, or -1 */
static gint
vb_customers_exec_changes(VbStore *store, VbStoreStmt *stmt, GError **error)
{
	if (!vb_store_stmt_exec(stmt, error))
		return -1;
	return vb_store_changes(store);
}

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
	key = vb_context_get_store_key(self->context, VB_STORE_KEY_PHONE_INDEX, error);
	if (key == NULL)
		return NULL;
	return vb_crypto_hmac_hex(key, "phone:", (const guint8 *)e164, strlen(e164));
}

/* ids go through %lld: xgettext cannot see through G_GINT64_FORMAT */
static void
vb_customers_set_no_customer(GError **error, gint64 customer_id)
{
	g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
		    _("there is no customer %lld: it was erased, or never recorded"),
		    (long long)customer_id);
}

/* the blind index of a customer, or NULL with VB_ERROR_NOT_FOUND */
static gchar *
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

	key = vb_context_get_store_key(self->context, VB_STORE_KEY_PHONE, error);
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
	key = vb_context_get_store_key(self->context, VB_STORE_KEY_PHONE, error);
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

/* one-time codes */

static gchar *
vb_customers_otp_hash(VbCustomers *self, const gchar *index, const gchar *code, GError **error)
{
	g_autoptr(GBytes) key = NULL;
	g_autofree gchar *prefix = NULL;

	key = vb_context_get_store_key(self->context, VB_STORE_KEY_OTP, error);
	if (key == NULL)
		return NULL;
	/* the index binds the hash to the phone: a code for one number is no
	 * code for another, and equal codes give different hashes */
	prefix = g_strconcat("otp:", index, ":", NULL);
	return vb_crypto_hmac_hex(key, prefix, (const guint8 *)code, strlen(code));
}

/* checks the resend limits; *sends is the count in the window including this one */
static gboolean
vb_customers_otp_may_send(VbStore *store,
			  const gchar *index,
			  gint64 now,
			  gint64 *sends,
			  GError **error)
{
	g_autoptr(VbStoreStmt) prune = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	gint64 sent_at;
	VbStoreStep step;

	/* a row whose last send is an hour old throttles nothing any more and
	 * its code expired long ago: forget it, which also restarts the count */
	prune = vb_store_prepare(store, "DELETE FROM otps WHERE sent_at <= ?1", error);
	if (prune == NULL)
		return FALSE;
	vb_store_stmt_bind_int64(prune, 1, now - VB_OTP_WINDOW);
	if (!vb_store_stmt_exec(prune, error))
		return FALSE;

	stmt = vb_store_prepare(store, "SELECT sent_at, sends FROM otps WHERE phone_index = ?1",
				error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, index);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return FALSE;
	if (step == VB_STORE_STEP_DONE) {
		*sends = 1;
		return TRUE;
	}
	sent_at = vb_store_stmt_column_int64(stmt, 0);
	*sends = vb_store_stmt_column_int64(stmt, 1) + 1;
	/* a last send in the future means the clock moved back (a board without
	 * a battery-backed clock, corrected by NTP): it must not lock the
	 * shopper out until the clock catches up */
	if (sent_at > now) {
		*sends = 1;
		return TRUE;
	}
	if (now - sent_at < VB_OTP_RESEND_INTERVAL) {
		guint wait =
		    (guint)((sent_at + VB_OTP_RESEND_INTERVAL - now + G_TIME_SPAN_SECOND - 1) /
			    G_TIME_SPAN_SECOND);
		g_set_error(error, VB_ERROR, VB_ERROR_RATE_LIMITED,
			    _("a code was sent less than 30 seconds ago; wait %u seconds before "
			      "asking for another"),
			    wait);
		return FALSE;
	}
	if (*sends > VB_OTP_SENDS_PER_WINDOW) {
		guint wait = (guint)((sent_at + VB_OTP_WINDOW - now + G_TIME_SPAN_MINUTE - 1) /
				     G_TIME_SPAN_MINUTE);
		g_set_error(error, VB_ERROR, VB_ERROR_RATE_LIMITED,
			    _("%d codes were sent to this number within the hour; wait %u "
			      "minutes before asking for another"),
			    VB_OTP_SENDS_PER_WINDOW, wait);
		return FALSE;
	}
	return TRUE;
}

gchar *
vb_customers_otp_issue(VbCustomers *self, gint64 customer_id, GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *index = NULL;
	g_autofree gchar *hash = NULL;
	gchar *code = NULL;
	gint64 now;
	gint64 sends = 0;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return NULL;
	now = vb_customers_now(self);
	if (!vb_customers_begin(store, &tx, error)) {
		g_prefix_error(error, _("cannot issue a code: "));
		return NULL;
	}
	index = vb_customers_index_of(store, customer_id, error);
	if (index == NULL) {
		g_prefix_error(error, _("cannot issue a code: "));
		return NULL;
	}
	if (!vb_customers_otp_may_send(store, index, now, &sends, error))
		return NULL;

	code = vb_crypto_random_digits(VB_OTP_DIGITS);
	hash = vb_customers_otp_hash(self, index, code, error);
	if (hash != NULL) {
		/* only the latest code counts: the new one replaces the row, tries
		 * start again, and the send count carries on */
		stmt = vb_store_prepare(store,
					"INSERT INTO otps (phone_index, code_hash, expires, tries, "
					"sent_at, sends) VALUES (?1, ?2, ?3, 0, ?4, ?5) "
					"ON CONFLICT (phone_index) DO UPDATE SET "
					"code_hash = excluded.code_hash, "
					"expires = excluded.expires, tries = 0, "
					"sent_at = excluded.sent_at, sends = excluded.sends",
					error);
	}
	if (stmt != NULL) {
		vb_store_stmt_bind_text(stmt, 1, index);
		vb_store_stmt_bind_text(stmt, 2, hash);
		vb_store_stmt_bind_int64(stmt, 3, now + VB_OTP_LIFETIME);
		vb_store_stmt_bind_int64(stmt, 4, now);
		vb_store_stmt_bind_int64(stmt, 5, sends);
	}
	if (stmt == NULL || !vb_store_stmt_exec(stmt, error) || !vb_customers_commit(tx, error)) {
		vb_crypto_free_string(code);
		g_prefix_error(error, _("cannot issue a code: "));
		return NULL;
	}
	return code;
}

/* the code can no longer be used; the row stays, so that the resend limits
 * still hold: deleting it would let three wrong tries buy a fresh code at once */
static gboolean
vb_customers_otp_burn(VbStore *store, const gchar *index, gint64 tries, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	stmt = vb_store_prepare(store,
				"UPDATE otps SET code_hash = '', expires = 0, tries = ?2 "
				"WHERE phone_index = ?1",
				error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, index);
	vb_store_stmt_bind_int64(stmt, 2, tries);
	return vb_store_stmt_exec(stmt, error);
}

static gboolean
vb_customers_otp_set_tries(VbStore *store, const gchar *index, gint64 tries, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	stmt = vb_store_prepare(store, "UPDATE otps SET tries = ?2 WHERE phone_index = ?1", error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, index);
	vb_store_stmt_bind_int64(stmt, 2, tries);
	return vb_store_stmt_exec(stmt, error);
}

static VbOtpResult
vb_customers_otp_check(VbCustomers *self,
		       VbStore *store,
		       const gchar *index,
		       const gchar *code,
		       guint *tries_left,
		       GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *stored = NULL;
	g_autofree gchar *hash = NULL;
	gint64 expires, tries, now;
	VbStoreStep step;

	stmt = vb_store_prepare(
	    store, "SELECT code_hash, expires, tries FROM otps WHERE phone_index = ?1", error);
	if (stmt == NULL)
		return VB_OTP_NONE;
	vb_store_stmt_bind_text(stmt, 1, index);
	step = vb_store_stmt_step(stmt, error);
	if (step != VB_STORE_STEP_ROW)
		return VB_OTP_NONE;
	stored = g_strdup(vb_store_stmt_column_text(stmt, 0));
	expires = vb_store_stmt_column_int64(stmt, 1);
	tries = vb_store_stmt_column_int64(stmt, 2);
	g_clear_pointer(&stmt, vb_store_stmt_free);

	if (stored == NULL || stored[0] == '\0')
		return VB_OTP_NONE;
	/* issued "in the future" is a clock that moved back: the code's age is
	 * unknown, so it is treated as expired */
	now = vb_customers_now(self);
	if (now >= expires || now < expires - VB_OTP_LIFETIME) {
		if (!vb_customers_otp_burn(store, index, tries, error))
			return VB_OTP_NONE;
		return VB_OTP_EXPIRED;
	}
	hash = vb_customers_otp_hash(self, index, code, error);
	if (hash == NULL)
		return VB_OTP_NONE;
	if (vb_crypto_equal(hash, stored)) {
		if (!vb_customers_otp_burn(store, index, tries, error))
			return VB_OTP_NONE;
		return VB_OTP_OK;
	}

	/* anything else typed is a wrong try, a malformed code too */
	tries++;
	if (tries >= VB_OTP_MAX_TRIES) {
		if (!vb_customers_otp_burn(store, index, tries, error))
			return VB_OTP_NONE;
		return VB_OTP_EXHAUSTED;
	}
	if (!vb_customers_otp_set_tries(store, index, tries, error))
		return VB_OTP_NONE;
	*tries_left = (guint)(VB_OTP_MAX_TRIES - tries);
	return VB_OTP_WRONG;
}

/* on error: VB_OTP_NONE with @error set. @tries_left is set for
 * VB_OTP_WRONG, and 0 otherwise */
VbOtpResult
vb_customers_otp_verify(VbCustomers *self,
			gint64 customer_id,
			const gchar *code,
			guint *tries_left,
			GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autofree gchar *index = NULL;
	g_autoptr(GError) error_local = NULL;
	guint left = 0;
	VbOtpResult result;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), VB_OTP_NONE);
	g_return_val_if_fail(code != NULL, VB_OTP_NONE);
	g_return_val_if_fail(error == NULL || *error == NULL, VB_OTP_NONE);

	if (tries_left != NULL)
		*tries_left = 0;
	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return VB_OTP_NONE;
	if (!vb_customers_begin(store, &tx, &error_local)) {
		g_propagate_prefixed_error(error, g_steal_pointer(&error_local),
					   _("cannot check a code: "));
		return VB_OTP_NONE;
	}
	index = vb_customers_index_of(store, customer_id, &error_local);
	if (index == NULL) {
		g_propagate_prefixed_error(error, g_steal_pointer(&error_local),
					   _("cannot check a code: "));
		return VB_OTP_NONE;
	}
	result = vb_customers_otp_check(self, store, index, code, &left, &error_local);
	if (error_local == NULL)
		vb_customers_commit(tx, &error_local);
	if (error_local != NULL) {
		g_propagate_prefixed_error(error, g_steal_pointer(&error_local),
					   _("cannot check a code: "));
		return VB_OTP_NONE;
	}
	if (tries_left != NULL)
		*tries_left = left;
	return result;
}

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

/* feedback */

/* 0 on error. The body is stored redacted: a shopper who texts a card number
 * or another phone number must not put it in the database in clear */
gint64
vb_customers_add_feedback(VbCustomers *self,
			  gint64 customer_id,
			  const gchar *visit_id,
			  const gchar *body,
			  GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *redacted = NULL;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), 0);
	g_return_val_if_fail(body != NULL, 0);
	g_return_val_if_fail(error == NULL || *error == NULL, 0);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return 0;
	redacted = vb_redact_text(body);
	stmt = vb_store_prepare(store,
				"INSERT INTO feedback (visit_id, customer_id, received, body) "
				"VALUES (?1, ?2, ?3, ?4)",
				error);
	if (stmt == NULL) {
		g_prefix_error(error, _("cannot record feedback: "));
		return 0;
	}
	vb_store_stmt_bind_text(stmt, 1, visit_id);
	if (customer_id != 0)
		vb_store_stmt_bind_int64(stmt, 2, customer_id);
	else
		vb_store_stmt_bind_null(stmt, 2);
	vb_store_stmt_bind_int64(stmt, 3, vb_customers_now(self));
	vb_store_stmt_bind_text(stmt, 4, redacted);
	if (!vb_store_stmt_exec(stmt, error)) {
		g_prefix_error(error, _("cannot record feedback: "));
		return 0;
	}
	return vb_store_last_insert_rowid(store);
}

/* newest first; visit and phone are "" when unknown */
GPtrArray *
vb_customers_list_feedback(VbCustomers *self, gboolean unhandled_only, GError **error)
{
	VbStore *store;
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return NULL;
	stmt = vb_store_prepare(store,
				"SELECT f.id, COALESCE(f.visit_id, ''), "
				"COALESCE(c.phone_masked, ''), f.received, f.body, f.handled "
				"FROM feedback f LEFT JOIN customers c ON c.id = f.customer_id "
				"WHERE ?1 = 0 OR f.handled = 0 ORDER BY f.id DESC",
				error);
	if (stmt == NULL) {
		g_prefix_error(error, _("cannot list feedback: "));
		return NULL;
	}
	vb_store_stmt_bind_int64(stmt, 1, unhandled_only ? 1 : 0);
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		GVariantDict dict;

		g_variant_dict_init(&dict, NULL);
		g_variant_dict_insert(&dict, "id", "x", vb_store_stmt_column_int64(stmt, 0));
		g_variant_dict_insert(&dict, "visit", "s", vb_store_stmt_column_text(stmt, 1));
		g_variant_dict_insert(&dict, "phone", "s", vb_store_stmt_column_text(stmt, 2));
		g_variant_dict_insert(&dict, "received", "x", vb_store_stmt_column_int64(stmt, 3));
		g_variant_dict_insert(&dict, "body", "s", vb_store_stmt_column_text(stmt, 4));
		g_variant_dict_insert(&dict, "handled", "b",
				      vb_store_stmt_column_int64(stmt, 5) != 0);
		g_ptr_array_add(rows, g_variant_ref_sink(g_variant_dict_end(&dict)));
	}
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, _("cannot list feedback: "));
		return NULL;
	}
	return g_steal_pointer(&rows);
}

gboolean
vb_customers_mark_feedback(VbCustomers *self, gint64 id, gboolean handled, GError **error)
{
	VbStore *store;
	g_autoptr(VbStoreStmt) stmt = NULL;
	gint changes;

	g_return_val_if_fail(VB_IS_CUSTOMERS(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	store = vb_customers_get_store(self, error);
	if (store == NULL)
		return FALSE;
	stmt = vb_store_prepare(store, "UPDATE feedback SET handled = ?2 WHERE id = ?1", error);
	if (stmt == NULL) {
		g_prefix_error(error, _("cannot mark feedback: "));
		return FALSE;
	}
	vb_store_stmt_bind_int64(stmt, 1, id);
	vb_store_stmt_bind_int64(stmt, 2, handled ? 1 : 0);
	changes = vb_customers_exec_changes(store, stmt, error);
	if (changes < 0) {
		g_prefix_error(error, _("cannot mark feedback: "));
		return FALSE;
	}
	if (changes == 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    _("there is no feedback %lld; list it with 'vestibulectl feedback'"),
			    (long long)id);
		return FALSE;
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

/* the object */

static void
vb_customers_finalize(GObject *object)
{
	VbCustomers *self = VB_CUSTOMERS(object);

	g_clear_object(&self->context);
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
vb_customers_new(VbContext *context)
{
	VbCustomers *self;

	g_return_val_if_fail(VB_IS_CONTEXT(context), NULL);

	self = g_object_new(VB_TYPE_CUSTOMERS, NULL);
	self->context = g_object_ref(context);
	return self;
}
