/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "vb-host-private.h"
#include "vb-test-files.h"
#include "vb-bus-private.h"
#include "vb-context-private.h"
#include "vb-crypto-private.h"
#include "vb-customers-test-private.h"
#include "vb-error.h"
#include "vb-events.h"
#include "vb-phone-private.h"
#include "vb-privacy.h"
#include "vb-secure.h"
#include "vb-store-private.h"

#define TEST_PHONE_KEY "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define TEST_PHONE_INDEX_KEY "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
#define TEST_OTP_KEY "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"

/* distinctive numbers, so that a scan of the database finds only them */
#define PHONE_A "+33639987142"
#define PHONE_A_TYPED "06 39 98 71 42"
#define PHONE_A_MASKED                                                                             \
	"+33 6\xe2\x80\xa2\xe2\x80\xa2 \xe2\x80\xa2\xe2\x80\xa2 \xe2\x80\xa2\xe2\x80\xa2 42"
#define PHONE_B "+33758214693"

#define TOKEN_1 "1111111111111111111111111111111111111111111111111111111111111111"
#define TOKEN_2 "2222222222222222222222222222222222222222222222222222222222222222"
#define TOKEN_3 "3333333333333333333333333333333333333333333333333333333333333333"

/* 2026-01-01T00:00:00Z, in µs */
#define TEST_EPOCH G_GINT64_CONSTANT(1767225600000000)

/* phone normalization */

typedef struct {
	const gchar *input;
	const gchar *country;
	const gchar *e164;
} PhoneCase;

static const PhoneCase phone_valid[] = {
    {"06 12 34 56 78", "FR", "+33612345678"},
    {"0612345678", "FR", "+33612345678"},
    {"06.12.34.56.78", "FR", "+33612345678"},
    {"06-12-34-56-78", "FR", "+33612345678"},
    {"612345678", "FR", "+33612345678"},
    {"0612345678", "fr", "+33612345678"},
    {"+33 6 12 34 56 78", "FR", "+33612345678"},
    {"0033 6 12 34 56 78", "FR", "+33612345678"},
    {"+33 0 6 12 34 56 78", "FR", "+33612345678"},
    {"+330612345678", "FR", "+33612345678"},
    {"+33 (0)6 12 34 56 78", "FR", "+33612345678"},
    {"+33612345678", "US", "+33612345678"},
    {"(212) 555-0123", "US", "+12125550123"},
    {"212 555 0123", "US", "+12125550123"},
    {"1 212 555 0123", "US", "+12125550123"},
    {"1-416-555-0199", "CA", "+14165550199"},
    {"+1 416 555 0199", "FR", "+14165550199"},
    {"011 33 6 12 34 56 78", "US", "+33612345678"},
    {"07700 900123", "GB", "+447700900123"},
    {"020 7946 0018", "GB", "+442079460018"},
    {"+44 (0)7700 900123", "FR", "+447700900123"},
    {"030/1234567", "DE", "+49301234567"},
    {"06 12345678", "NL", "+31612345678"},
    {"612 345 678", "ES", "+34612345678"},
    {"06 6982 1234", "IT", "+390669821234"},
    {"+39 06 6982 1234", "FR", "+390669821234"},
    {"079 123 45 67", "CH", "+41791234567"},
    {"0470 12 34 56", "BE", "+32470123456"},
    {"912 345 678", "PT", "+351912345678"},
    {"621 123 456", "LU", "+352621123456"},
    {"0664 1234567", "AT", "+436641234567"},
    {"085 123 4567", "IE", "+353851234567"},
    /* a calling code that is not in the table: only E.164's length applies */
    {"+852 2123 4567", "FR", "+85221234567"},
    {"0046 70 123 45 67", "FR", "+46701234567"},
    {"070-123 45 67", "SE", "+46701234567"},
};

static void
test_phone_valid(void)
{
	for (guint i = 0; i < G_N_ELEMENTS(phone_valid); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *e164 =
		    vb_phone_normalize(phone_valid[i].input, phone_valid[i].country, &error);
		if (error != NULL)
			g_test_message("'%s' in %s: %s", phone_valid[i].input,
				       phone_valid[i].country, error->message);
		g_assert_no_error(error);
		g_assert_cmpstr(e164, ==, phone_valid[i].e164);
	}
}

typedef struct {
	const gchar *input;
	const gchar *country;
	const gchar *says; /* part of the message the shopper or operator reads */
} PhoneBadCase;

static const PhoneBadCase phone_invalid[] = {
    {"", "FR", "no phone number"},
    {"  ", "FR", "no phone number"},
    {"06 12 AB 56 78", "FR", "no letters"},
    {"06 12 34 56 78+", "FR", "'+' can only start"},
    {"33+612345678", "FR", "'+' can only start"},
    {"++33612345678", "FR", "'+' can only start"},
    {"06 12 34 56 78#", "FR", "not a digit"},
    {"06 12 34 56", "FR", "too few digits for FR: type it with its area code"},
    {"06 12 34 56 78 90", "FR", "too many digits for FR"},
    {"+33 6 12 34", "FR", "too few digits for +33"},
    {"+33 6 12 34 56 78 9", "FR", "too many digits for +33"},
    {"555 0123", "US", "too few digits for US"},
    {"(012) 555-0123", "US", "area code"},
    {"+1 123 555 0123", "FR", "area code"},
    {"0123", "GB", "too few digits for GB"},
    {"+999 1234", "FR", "too few digits"},
    {"+999 1234 5678 9012 34", "FR", "too many digits"},
    {"+0 6 12 34 56 78", "FR", "no country code starts with 0"},
    {"+", "FR", "no phone number"},
    {"00", "FR", "no digits after"},
    /* found by the fuzzer: it gave +49015…, which normalized again to +4915… */
    {"0049 00151 2345 6789", "DE", "after +49 does not start with 00"},
    {"+33 00 6 12 34 56 78", "FR", "after +33 does not start with 00"},
    {"0612345678", "XX", "type the number with '+'"},
    {"0612345678", NULL, "type the number with '+'"},
    {"0000 0000 0000 0000 0000 0000", "FR", "too many digits"},
};

/* a message may be logged or shown to the next shopper: it must not give
 * the number back, nor any four digits of it in a row */
static void
assert_message_hides_number(const gchar *message, const gchar *input)
{
	g_autoptr(GString) digits = g_string_new(NULL);

	for (const gchar *p = input; *p != '\0'; p++) {
		if (g_ascii_isdigit(*p))
			g_string_append_c(digits, *p);
	}
	if (input[0] != '\0')
		g_assert_null(strstr(message, input));
	for (gsize i = 0; i + 4 <= digits->len; i++) {
		g_autofree gchar *run = g_strndup(digits->str + i, 4);
		if (strstr(message, run) != NULL)
			g_error("the message '%s' repeats digits of the number typed", message);
	}
}

static void
test_phone_invalid(void)
{
	for (guint i = 0; i < G_N_ELEMENTS(phone_invalid); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *e164 =
		    vb_phone_normalize(phone_invalid[i].input, phone_invalid[i].country, &error);
		if (e164 != NULL)
			g_error("'%s' in %s was accepted as %s", phone_invalid[i].input,
				phone_invalid[i].country, e164);
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
		if (strstr(error->message, phone_invalid[i].says) == NULL)
			g_error("'%s' in %s: the message '%s' does not say '%s'",
				phone_invalid[i].input, phone_invalid[i].country, error->message,
				phone_invalid[i].says);
		assert_message_hides_number(error->message, phone_invalid[i].input);
	}
}

/* sealing */

static GBytes *
test_key(guint8 fill)
{
	guint8 key[32];
	memset(key, fill, sizeof(key));
	return vb_crypto_bytes_new_secure(key, sizeof(key));
}

static void
test_seal_round_trip(void)
{
	g_autoptr(GBytes) key = test_key(0x42);
	g_autoptr(GBytes) sealed = NULL;
	g_autoptr(GBytes) sealed_again = NULL;
	g_autoptr(GBytes) plain = NULL;
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	const gchar *data;

	sealed = vb_crypto_seal(key, "row-1", (const guint8 *)PHONE_A, strlen(PHONE_A), &error);
	g_assert_no_error(error);
	/* nonce, ciphertext and tag: the number is not in it */
	data = g_bytes_get_data(sealed, &len);
	g_assert_cmpuint(len, ==, 24 + strlen(PHONE_A) + 16);
	g_assert_null(memmem(data, len, &PHONE_A[1], strlen(PHONE_A) - 1));

	/* a random nonce: the same number never seals the same way twice */
	sealed_again =
	    vb_crypto_seal(key, "row-1", (const guint8 *)PHONE_A, strlen(PHONE_A), &error);
	g_assert_no_error(error);
	g_assert_false(g_bytes_equal(sealed, sealed_again));

	plain = vb_crypto_open(key, "row-1", sealed, &error);
	g_assert_no_error(error);
	data = g_bytes_get_data(plain, &len);
	g_assert_cmpmem(data, len, PHONE_A, strlen(PHONE_A));
}

static void
test_seal_forgery(void)
{
	g_autoptr(GBytes) key = test_key(0x42);
	g_autoptr(GBytes) other_key = test_key(0x43);
	g_autoptr(GBytes) sealed = NULL;
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	const guint8 *data;

	sealed = vb_crypto_seal(key, "row-1", (const guint8 *)PHONE_A, strlen(PHONE_A), &error);
	g_assert_no_error(error);
	data = g_bytes_get_data(sealed, &len);

	/* one flipped bit anywhere: nonce, ciphertext or tag */
	for (gsize i = 0; i < len; i += 7) {
		g_autofree guint8 *copy = g_memdup2(data, len);
		g_autoptr(GBytes) tampered = NULL;
		g_autoptr(GBytes) plain = NULL;
		g_autoptr(GError) error_local = NULL;
		copy[i] ^= 0x01;
		tampered = g_bytes_new(copy, len);
		plain = vb_crypto_open(key, "row-1", tampered, &error_local);
		g_assert_null(plain);
		g_assert_error(error_local, VB_ERROR, VB_ERROR_INVALID_DATA);
	}

	/* moved to another row, or opened with another key */
	{
		g_autoptr(GBytes) plain = vb_crypto_open(key, "row-2", sealed, &error);
		g_assert_null(plain);
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
		g_clear_error(&error);
	}
	{
		g_autoptr(GBytes) plain = vb_crypto_open(other_key, "row-1", sealed, &error);
		g_assert_null(plain);
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
		g_clear_error(&error);
	}
	{
		g_autoptr(GBytes) shortened = g_bytes_new(data, 30);
		g_autoptr(GBytes) plain = vb_crypto_open(key, "row-1", shortened, &error);
		g_assert_null(plain);
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
		g_clear_error(&error);
	}
}

static void
test_random_digits(void)
{
	guint seen[10] = {0};

	for (guint i = 0; i < 1000; i++) {
		g_autofree gchar *code = vb_crypto_random_digits(6);
		g_assert_cmpuint(strlen(code), ==, 6);
		for (guint j = 0; j < 6; j++) {
			g_assert_true(g_ascii_isdigit(code[j]));
			seen[code[j] - '0']++;
		}
	}
	/* 6000 draws: each digit about 600 times; 450 is far outside chance */
	for (guint d = 0; d < 10; d++)
		g_assert_cmpuint(seen[d], >, 450);
}

static void
test_random_token(void)
{
	g_autofree gchar *a = vb_crypto_random_token(16);
	g_autofree gchar *b = vb_crypto_random_token(16);

	/* 128 bits in base64url without padding: 22 characters fit in a URL */
	g_assert_cmpuint(strlen(a), ==, 22);
	g_assert_cmpstr(a, !=, b);
	for (const gchar *p = a; *p != '\0'; p++)
		g_assert_true(g_ascii_isalnum(*p) || *p == '-' || *p == '_');
}

/* customers */

typedef struct {
	gchar *dir;
	gchar *db_path;
	VbBus *bus;
	VbStore *store;
	VbConfig *config;
	VbContext *context;
	VbHost *host;
	VbCustomers *customers;
	gint64 now;
} Fixture;

static gint64
fixture_clock(gpointer user_data)
{
	Fixture *fx = user_data;
	return fx->now;
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *secrets = NULL;

	fx->dir = g_dir_make_tmp("vb-customers-XXXXXX", &error);
	g_assert_no_error(error);
	conf = g_build_filename(fx->dir, "vestibule.conf", NULL);
	secrets = g_build_filename(fx->dir, "secrets.conf", NULL);
	fx->db_path = g_build_filename(fx->dir, "vestibule.db", NULL);
	g_assert_true(g_file_set_contents(conf, "[vestibule]\ncountry=FR\n", -1, NULL));
	g_assert_true(g_file_set_contents_full(secrets,
					       "[vestibule]\n"
					       "phone-key=" TEST_PHONE_KEY "\n"
					       "phone-index-key=" TEST_PHONE_INDEX_KEY "\n"
					       "otp-key=" TEST_OTP_KEY "\n",
					       -1, G_FILE_SET_CONTENTS_NONE, 0600, NULL));

	fx->config = vb_config_new();
	g_assert_true(vb_config_load(fx->config, conf, &error));
	g_assert_no_error(error);
	g_assert_true(vb_config_load_secrets(fx->config, secrets, &error));
	g_assert_no_error(error);
	fx->store = vb_store_new();
	g_assert_true(vb_store_open(fx->store, fx->db_path, &error));
	g_assert_no_error(error);
	fx->bus = vb_bus_new(NULL);
	fx->context = vb_context_new(fx->bus, fx->store, NULL, NULL);
	fx->host = vb_host_new(fx->context);
	g_assert_true(vb_host_set_config(fx->host, fx->config, &error));
	g_assert_no_error(error);
	fx->customers = vb_customers_new(fx->context, fx->host);
	fx->now = TEST_EPOCH;
	vb_customers_set_clock(fx->customers, fixture_clock, fx);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
	g_clear_object(&fx->customers);
	g_clear_object(&fx->host);
	g_clear_object(&fx->context);
	vb_store_close(fx->store);
	g_clear_object(&fx->store);
	g_clear_object(&fx->bus);
	g_clear_object(&fx->config);
	vb_test_remove_tree(fx->dir);
	g_free(fx->db_path);
	g_free(fx->dir);
}

/* whether the database, its -wal or its -shm holds @needle, byte for byte */
static gboolean
store_files_contain(Fixture *fx, gconstpointer needle, gsize len)
{
	const gchar *suffixes[] = {"", "-wal", "-shm"};

	for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree gchar *path = g_strconcat(fx->db_path, suffixes[i], NULL);
		g_autofree gchar *contents = NULL;
		gsize size = 0;
		if (!g_file_get_contents(path, &contents, &size, NULL))
			continue;
		if (memmem(contents, size, needle, len) != NULL)
			return TRUE;
	}
	return FALSE;
}

static gboolean
store_files_contain_text(Fixture *fx, const gchar *text)
{
	return store_files_contain(fx, text, strlen(text));
}

/* a number in clear, in any of the forms it could be written */
static void
assert_number_not_stored(Fixture *fx, const gchar *e164)
{
	g_assert_true(g_file_test(fx->db_path, G_FILE_TEST_EXISTS));
	g_assert_false(store_files_contain_text(fx, e164));
	/* without the '+', and the national significant number alone */
	g_assert_false(store_files_contain_text(fx, e164 + 1));
	g_assert_false(store_files_contain_text(fx, e164 + 3));
}

static gint64
sql_count(Fixture *fx, const gchar *sql, const gchar *text)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(fx->store, sql, &error);

	g_assert_no_error(error);
	if (text != NULL)
		vb_store_stmt_bind_text(stmt, 1, text);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
	g_assert_no_error(error);
	return vb_store_stmt_column_int64(stmt, 0);
}

static gboolean
sql_exec(Fixture *fx, const gchar *sql, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(fx->store, sql, error);
	return stmt != NULL && vb_store_stmt_exec(stmt, error);
}

static VbEvent *
card_event(const gchar *token, const gchar *last4, const gchar *expiry, const gchar *alias)
{
	GVariantDict dict;

	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, VB_KEY_TOKEN, "s", token);
	g_variant_dict_insert(&dict, VB_KEY_CARD_KIND, "s", "payment");
	g_variant_dict_insert(&dict, VB_KEY_FIRST6, "s", "497010");
	g_variant_dict_insert(&dict, VB_KEY_LAST4, "s", last4);
	g_variant_dict_insert(&dict, VB_KEY_EXPIRY, "s", expiry);
	g_variant_dict_insert(&dict, VB_KEY_SCHEME, "s", "visa");
	g_variant_dict_insert(&dict, VB_KEY_LANGUAGE, "s", "fr");
	if (alias != NULL)
		g_variant_dict_insert(&dict, VB_KEY_ALIAS, "s", alias);
	return vb_event_new(VB_EVENT_CARD_PRESENTED, "reader", "front", g_variant_dict_end(&dict));
}

static VbCard *
see_card(Fixture *fx, const gchar *token, const gchar *last4, const gchar *alias)
{
	g_autoptr(VbEvent) event = card_event(token, last4, "2029-08", alias);
	g_autoptr(GError) error = NULL;
	VbCard *card = vb_customers_card_seen(fx->customers, event, &error);

	g_assert_no_error(error);
	g_assert_nonnull(card);
	return card;
}

static gint64
add_phone(Fixture *fx, const gchar *e164)
{
	g_autoptr(GError) error = NULL;
	gint64 id = vb_customers_add_phone(fx->customers, e164, "fr", &error);

	g_assert_no_error(error);
	g_assert_cmpint(id, >, 0);
	return id;
}

static void
test_phone_sealed_at_rest(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *e164 = vb_phone_normalize(PHONE_A_TYPED, "FR", &error);
	g_autofree gchar *masked = NULL;
	g_autofree gchar *language = NULL;
	gchar *phone;
	gint64 id;

	g_assert_no_error(error);
	g_assert_cmpstr(e164, ==, PHONE_A);
	id = add_phone(fx, e164);

	/* the SMS provider gets the number, operators the masked form */
	phone = vb_customers_get_phone(fx->customers, id, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(phone, ==, PHONE_A);
	vb_secure_free_string(phone);
	masked = vb_customers_get_phone_masked(fx->customers, id, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(masked, ==, PHONE_A_MASKED);
	language = vb_customers_get_language(fx->customers, id);
	g_assert_cmpstr(language, ==, "fr");

	/* the same number typed again is the same customer */
	g_assert_cmpint(vb_customers_find_phone(fx->customers, PHONE_A, &error), ==, id);
	g_assert_no_error(error);
	g_assert_cmpint(vb_customers_add_phone(fx->customers, PHONE_A, NULL, &error), ==, id);
	g_assert_no_error(error);
	g_assert_cmpint(vb_customers_find_phone(fx->customers, PHONE_B, &error), ==, 0);
	g_assert_no_error(error);

	/* nothing in the files gives the number or the keys away */
	assert_number_not_stored(fx, PHONE_A);
	g_assert_false(store_files_contain_text(fx, TEST_PHONE_KEY));
	g_assert_false(store_files_contain_text(fx, TEST_PHONE_INDEX_KEY));
	{
		g_autoptr(GBytes) key = vb_host_get_store_key(fx->host, VB_STORE_KEY_PHONE, &error);
		gsize len = 0;
		gconstpointer bytes = g_bytes_get_data(key, &len);
		g_assert_no_error(error);
		g_assert_false(store_files_contain(fx, bytes, len));
	}
	g_assert_true(vb_store_checkpoint(fx->store, &error));
	g_assert_no_error(error);
	assert_number_not_stored(fx, PHONE_A);
}

static void
test_phone_bound_to_row(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint64 a = add_phone(fx, PHONE_A);
	gint64 b = add_phone(fx, PHONE_B);
	g_autofree gchar *phone = NULL;

	/* someone with write access swaps the sealed numbers: the SMS for A must
	 * not go to B's number; it goes nowhere */
	g_assert_true(sql_exec(fx,
			       "UPDATE customers SET phone_sealed = "
			       "(SELECT phone_sealed FROM customers WHERE id = 2) WHERE id = 1",
			       &error));
	g_assert_no_error(error);
	g_assert_cmpint(a, ==, 1);
	g_assert_cmpint(b, ==, 2);
	phone = vb_customers_get_phone(fx->customers, a, &error);
	g_assert_null(phone);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_clear_error(&error);

	/* an unknown customer */
	phone = vb_customers_get_phone(fx->customers, 99, &error);
	g_assert_null(phone);
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
}

static void
test_phone_not_e164(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	/* only normalized numbers reach the store */
	g_assert_cmpint(vb_customers_add_phone(fx->customers, "0639987142", NULL, &error), ==, 0);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_assert_null(strstr(error->message, "9987"));
}

static void
test_cards_seen(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbCard) first = see_card(fx, TOKEN_1, "0010", NULL);
	g_autoptr(VbCard) again = NULL;
	g_autoptr(VbCard) missing = NULL;

	g_assert_cmpstr(first->token, ==, TOKEN_1);
	g_assert_cmpstr(first->kind, ==, "payment");
	g_assert_cmpstr(first->first6, ==, "497010");
	g_assert_cmpstr(first->last4, ==, "0010");
	g_assert_cmpstr(first->expiry, ==, "2029-08");
	g_assert_cmpstr(first->scheme, ==, "visa");
	g_assert_cmpstr(first->language, ==, "fr");
	g_assert_cmpint(first->customer_id, ==, 0);
	g_assert_cmpint(first->visits, ==, 0);

	/* a renewed card: same PAN, same token, a new expiry */
	{
		g_autoptr(VbEvent) event = card_event(TOKEN_1, "0010", "2032-01", NULL);
		again = vb_customers_card_seen(fx->customers, event, &error);
		g_assert_no_error(error);
	}
	g_assert_cmpstr(again->expiry, ==, "2032-01");
	g_assert_cmpint(sql_count(fx, "SELECT COUNT(*) FROM cards", NULL), ==, 1);

	/* the greeting counts visits */
	g_assert_true(vb_customers_count_visit(fx->customers, TOKEN_1, &error));
	g_assert_true(vb_customers_count_visit(fx->customers, TOKEN_1, &error));
	g_assert_no_error(error);
	g_clear_pointer(&again, vb_card_free);
	again = vb_customers_get_card(fx->customers, TOKEN_1, &error);
	g_assert_no_error(error);
	g_assert_cmpint(again->visits, ==, 2);

	g_assert_false(vb_customers_count_visit(fx->customers, TOKEN_2, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
	g_clear_error(&error);
	missing = vb_customers_get_card(fx->customers, TOKEN_2, &error);
	g_assert_null(missing);
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
	g_clear_error(&error);

	/* an event without a token is refused */
	{
		g_autoptr(VbEvent) event =
		    vb_event_new(VB_EVENT_CARD_PRESENTED, "reader", NULL, NULL);
		g_autoptr(VbCard) none = vb_customers_card_seen(fx->customers, event, &error);
		g_assert_null(none);
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	}
}

static void
test_cards_alias(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbCard) plastic = see_card(fx, TOKEN_1, "0010", "ALIAS-A");
	g_autoptr(VbCard) wallet = NULL;
	g_autoptr(VbCard) by_alias = NULL;
	g_autoptr(VbCard) device = NULL;
	g_autoptr(VbCard) other = NULL;
	gint64 id = add_phone(fx, PHONE_A);

	g_assert_cmpstr(plastic->token, ==, TOKEN_1);
	g_assert_true(vb_customers_link_card(fx->customers, TOKEN_1, id, &error));
	g_assert_no_error(error);

	/* the same card in a phone wallet: another token (a device PAN), the same
	 * processor alias. It is the shopper's card, with its phone, no new card */
	wallet = see_card(fx, TOKEN_2, "9999", "ALIAS-A");
	g_assert_cmpstr(wallet->token, ==, TOKEN_1);
	g_assert_cmpint(wallet->customer_id, ==, id);
	g_assert_cmpstr(wallet->last4, ==, "0010");
	device = vb_customers_get_card(fx->customers, TOKEN_2, &error);
	g_assert_null(device);
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_cmpint(sql_count(fx, "SELECT COUNT(*) FROM cards", NULL), ==, 1);

	/* the alias alone finds the card */
	by_alias = vb_customers_get_card(fx->customers, "ALIAS-A", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(by_alias->token, ==, TOKEN_1);

	/* an alias names one card: giving it to another is refused */
	other = see_card(fx, TOKEN_3, "0030", NULL);
	g_assert_false(vb_customers_add_alias(fx->customers, TOKEN_3, "ALIAS-A", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_CONFLICT);
	g_clear_error(&error);
	g_assert_true(vb_customers_add_alias(fx->customers, TOKEN_3, "ALIAS-C", &error));
	g_assert_no_error(error);
	g_assert_true(vb_customers_add_alias(fx->customers, TOKEN_3, "ALIAS-C", &error));
	g_assert_no_error(error);
	g_assert_false(vb_customers_add_alias(fx->customers, "unknown", "ALIAS-D", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
}

static void
test_cards_link(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbCard) card1 = see_card(fx, TOKEN_1, "0010", NULL);
	g_autoptr(VbCard) card2 = see_card(fx, TOKEN_2, "0020", NULL);
	g_autoptr(VbCard) moved = NULL;
	gint64 a = add_phone(fx, PHONE_A);
	gint64 b = add_phone(fx, PHONE_B);

	g_assert_cmpstr(card1->last4, ==, "0010");
	g_assert_cmpstr(card2->last4, ==, "0020");
	/* two cards share one phone */
	g_assert_true(vb_customers_link_card(fx->customers, TOKEN_1, a, &error));
	g_assert_true(vb_customers_link_card(fx->customers, TOKEN_2, a, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(vb_customers_count_cards(fx->customers, a), ==, 2);

	/* a card has one phone: linking it elsewhere moves it */
	g_assert_true(vb_customers_link_card(fx->customers, TOKEN_2, b, &error));
	g_assert_no_error(error);
	moved = vb_customers_get_card(fx->customers, TOKEN_2, &error);
	g_assert_no_error(error);
	g_assert_cmpint(moved->customer_id, ==, b);
	g_assert_cmpuint(vb_customers_count_cards(fx->customers, a), ==, 1);
	g_assert_cmpuint(vb_customers_count_cards(fx->customers, b), ==, 1);

	/* nothing to link to, or nothing to link */
	g_assert_false(vb_customers_link_card(fx->customers, TOKEN_1, 99, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_false(vb_customers_link_card(fx->customers, TOKEN_3, a, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
}

/* a code that differs from @code in its first digit */
static gchar *
wrong_code(const gchar *code)
{
	gchar *wrong = g_strdup(code);
	wrong[0] = (gchar)('0' + (code[0] - '0' + 1) % 10);
	return wrong;
}

static gchar *
issue(Fixture *fx, gint64 id)
{
	g_autoptr(GError) error = NULL;
	gchar *code = vb_customers_otp_issue(fx->customers, id, &error);

	g_assert_no_error(error);
	g_assert_nonnull(code);
	return code;
}

static VbOtpResult
verify(Fixture *fx, gint64 id, const gchar *code, guint *tries_left)
{
	g_autoptr(GError) error = NULL;
	VbOtpResult result = vb_customers_otp_verify(fx->customers, id, code, tries_left, &error);

	g_assert_no_error(error);
	return result;
}

static void
test_otp_single_use(Fixture *fx, gconstpointer data)
{
	gint64 id = add_phone(fx, PHONE_A);
	gchar *code = issue(fx, id);
	g_autofree gchar *wrong = wrong_code(code);
	guint left = 99;

	/* six digits, as the SMS says */
	g_assert_cmpuint(strlen(code), ==, 6);
	for (guint i = 0; i < 6; i++)
		g_assert_true(g_ascii_isdigit(code[i]));

	g_assert_cmpint(verify(fx, id, wrong, &left), ==, VB_OTP_WRONG);
	g_assert_cmpuint(left, ==, 2);
	g_assert_cmpint(verify(fx, id, code, &left), ==, VB_OTP_OK);
	/* used up: typing it again proves nothing */
	g_assert_cmpint(verify(fx, id, code, &left), ==, VB_OTP_NONE);
	vb_secure_free_string(code);

	/* a customer who never got a code */
	{
		gint64 b = add_phone(fx, PHONE_B);
		g_assert_cmpint(verify(fx, b, "123456", NULL), ==, VB_OTP_NONE);
	}
}

static void
test_otp_latest_only(Fixture *fx, gconstpointer data)
{
	gint64 id = add_phone(fx, PHONE_A);
	gchar *old = issue(fx, id);
	gchar *latest = NULL;

	fx->now += 31 * G_TIME_SPAN_SECOND;
	latest = issue(fx, id);
	/* the old SMS no longer opens anything (unless the CSPRNG drew the same
	 * six digits twice, one chance in a million) */
	if (g_strcmp0(old, latest) != 0)
		g_assert_cmpint(verify(fx, id, old, NULL), ==, VB_OTP_WRONG);
	g_assert_cmpint(verify(fx, id, latest, NULL), ==, VB_OTP_OK);
	vb_secure_free_string(old);
	vb_secure_free_string(latest);
}

static void
test_otp_three_wrong_tries(Fixture *fx, gconstpointer data)
{
	gint64 id = add_phone(fx, PHONE_A);
	gchar *code = issue(fx, id);
	g_autofree gchar *wrong = wrong_code(code);
	g_autoptr(GError) error = NULL;
	guint left = 99;

	g_assert_cmpint(verify(fx, id, wrong, &left), ==, VB_OTP_WRONG);
	g_assert_cmpuint(left, ==, 2);
	g_assert_cmpint(verify(fx, id, "12", &left), ==, VB_OTP_WRONG);
	g_assert_cmpuint(left, ==, 1);
	g_assert_cmpint(verify(fx, id, wrong, &left), ==, VB_OTP_EXHAUSTED);
	g_assert_cmpuint(left, ==, 0);
	/* the right code comes too late: a new one is needed */
	g_assert_cmpint(verify(fx, id, code, &left), ==, VB_OTP_NONE);
	vb_secure_free_string(code);

	/* and failing three times does not buy a new code sooner */
	g_assert_null(vb_customers_otp_issue(fx->customers, id, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_RATE_LIMITED);
	g_clear_error(&error);
	fx->now += 30 * G_TIME_SPAN_SECOND;
	code = issue(fx, id);
	g_assert_cmpint(verify(fx, id, code, NULL), ==, VB_OTP_OK);
	vb_secure_free_string(code);
}

static void
test_otp_expiry(Fixture *fx, gconstpointer data)
{
	gint64 id = add_phone(fx, PHONE_A);
	gchar *code = issue(fx, id);

	g_autofree gchar *wrong = wrong_code(code);

	/* valid for ten minutes, not one µs more */
	fx->now += 10 * G_TIME_SPAN_MINUTE - 1;
	g_assert_cmpint(verify(fx, id, wrong, NULL), ==, VB_OTP_WRONG);
	fx->now += 1;
	g_assert_cmpint(verify(fx, id, code, NULL), ==, VB_OTP_EXPIRED);
	g_assert_cmpint(verify(fx, id, code, NULL), ==, VB_OTP_NONE);
	vb_secure_free_string(code);

	fx->now += G_TIME_SPAN_MINUTE;
	code = issue(fx, id);
	fx->now += 10 * G_TIME_SPAN_MINUTE - G_TIME_SPAN_SECOND;
	g_assert_cmpint(verify(fx, id, code, NULL), ==, VB_OTP_OK);
	vb_secure_free_string(code);
}

static void
test_otp_resend_throttled(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint64 id = add_phone(fx, PHONE_A);
	gchar *code = issue(fx, id);
	gchar *refused;

	/* a second SMS within 30 s is refused, and the first code still works */
	fx->now += 10 * G_TIME_SPAN_SECOND;
	refused = vb_customers_otp_issue(fx->customers, id, &error);
	g_assert_null(refused);
	g_assert_error(error, VB_ERROR, VB_ERROR_RATE_LIMITED);
	g_assert_nonnull(strstr(error->message, "wait 20 seconds"));
	g_clear_error(&error);
	g_assert_cmpint(verify(fx, id, code, NULL), ==, VB_OTP_OK);
	vb_secure_free_string(code);

	/* five SMS an hour at most */
	for (guint i = 2; i <= 5; i++) {
		fx->now += 30 * G_TIME_SPAN_SECOND;
		vb_secure_free_string(issue(fx, id));
	}
	fx->now += 5 * G_TIME_SPAN_MINUTE;
	refused = vb_customers_otp_issue(fx->customers, id, &error);
	g_assert_null(refused);
	g_assert_error(error, VB_ERROR, VB_ERROR_RATE_LIMITED);
	g_assert_nonnull(strstr(error->message, "5 codes"));
	g_clear_error(&error);

	/* an hour after the last one, the count starts again */
	fx->now += 55 * G_TIME_SPAN_MINUTE;
	code = issue(fx, id);
	g_assert_cmpint(verify(fx, id, code, NULL), ==, VB_OTP_OK);
	vb_secure_free_string(code);
}

static void
test_otp_clock_moved_back(Fixture *fx, gconstpointer data)
{
	gint64 id = add_phone(fx, PHONE_A);
	gchar *code = issue(fx, id);

	/* NTP sets a board's clock back a day: the code's age is unknown, so it
	 * no longer counts, and the shopper can ask for another at once */
	fx->now -= 24 * G_TIME_SPAN_HOUR;
	g_assert_cmpint(verify(fx, id, code, NULL), ==, VB_OTP_EXPIRED);
	vb_secure_free_string(code);
	code = issue(fx, id);
	g_assert_cmpint(verify(fx, id, code, NULL), ==, VB_OTP_OK);
	vb_secure_free_string(code);
}

static void
test_otp_not_stored(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint64 id = add_phone(fx, PHONE_A);
	gchar *code = issue(fx, id);

	/* only a keyed hash is kept; the code is nowhere in the files */
	g_assert_cmpint(
	    sql_count(fx, "SELECT COUNT(*) FROM otps WHERE length(code_hash) = 64", NULL), ==, 1);
	g_assert_false(store_files_contain_text(fx, code));
	g_assert_false(store_files_contain_text(fx, TEST_OTP_KEY));
	g_assert_true(vb_store_checkpoint(fx->store, &error));
	g_assert_no_error(error);
	g_assert_false(store_files_contain_text(fx, code));
	vb_secure_free_string(code);
}

static gint64
consent_rows(Fixture *fx, const gchar *where)
{
	g_autofree gchar *sql = g_strconcat("SELECT COUNT(*) FROM consent WHERE ", where, NULL);
	return sql_count(fx, sql, NULL);
}

static void
test_consent_opt_out(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint64 id = add_phone(fx, PHONE_A);

	g_assert_false(vb_customers_is_sms_opted_out(fx->customers, id));
	g_assert_true(vb_customers_record_consent(fx->customers, id, "marketing", TRUE,
						  "Send me offers by SMS", "2", "keypad", &error));
	g_assert_no_error(error);

	/* STOP is honoured at once and recorded with its exact text */
	g_assert_true(vb_customers_set_sms_opt_out(fx->customers, id, TRUE, "STOP", "sms", &error));
	g_assert_no_error(error);
	g_assert_true(vb_customers_is_sms_opted_out(fx->customers, id));
	g_assert_cmpint(consent_rows(fx, "purpose = 'sms' AND given = 0 AND text = 'STOP' AND "
					 "version = '1' AND channel = 'sms'"),
			==, 1);

	fx->now += G_TIME_SPAN_HOUR;
	g_assert_true(
	    vb_customers_set_sms_opt_out(fx->customers, id, FALSE, "START", "sms", &error));
	g_assert_no_error(error);
	g_assert_false(vb_customers_is_sms_opted_out(fx->customers, id));
	g_assert_cmpint(consent_rows(fx, "1"), ==, 3);
	g_assert_cmpint(consent_rows(fx, "purpose = 'sms' AND given = 1 AND text = 'START'"), ==,
			1);
	/* the log says when */
	g_assert_cmpint(sql_count(fx, "SELECT MAX(time) FROM consent", NULL), ==,
			TEST_EPOCH + G_TIME_SPAN_HOUR);

	/* the log is append-only: not even the store's owner rewrites it */
	g_assert_false(sql_exec(fx, "UPDATE consent SET given = 1", &error));
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "append-only"));
	g_clear_error(&error);
	g_assert_false(sql_exec(fx, "DELETE FROM consent", &error));
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "append-only"));
	g_clear_error(&error);
	g_assert_cmpint(consent_rows(fx, "1"), ==, 3);

	/* an unknown customer cannot opt out, and nothing is half-recorded */
	g_assert_false(
	    vb_customers_set_sms_opt_out(fx->customers, 99, TRUE, "STOP", "sms", &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
	g_assert_cmpint(consent_rows(fx, "1"), ==, 3);
	/* when the store cannot tell, no SMS goes out */
	g_assert_true(vb_customers_is_sms_opted_out(fx->customers, 99));
}

static GVariant *
find_feedback(GPtrArray *rows, gint64 id)
{
	for (guint i = 0; i < rows->len; i++) {
		GVariant *row = g_ptr_array_index(rows, i);
		gint64 row_id = 0;
		g_assert_true(g_variant_lookup(row, "id", "x", &row_id));
		if (row_id == id)
			return row;
	}
	return NULL;
}

static void
test_feedback(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_autoptr(GPtrArray) open = NULL;
	gint64 id = add_phone(fx, PHONE_A);
	gint64 f1, f2;
	GVariant *row;
	const gchar *text = NULL;
	gint64 received = 0;
	gboolean handled = TRUE;

	g_assert_true(sql_exec(fx,
			       "INSERT INTO visits (id, state, created, updated) "
			       "VALUES ('v1', 'done', 1, 1)",
			       &error));
	g_assert_no_error(error);
	f1 = vb_customers_add_feedback(fx->customers, id, "v1", "The milk was sour", &error);
	g_assert_no_error(error);
	fx->now += G_TIME_SPAN_MINUTE;
	f2 = vb_customers_add_feedback(fx->customers, id, NULL,
				       "Charged twice on 4111 1111 1111 1111?", &error);
	g_assert_no_error(error);
	g_assert_cmpint(f1, >, 0);
	g_assert_cmpint(f2, >, f1);

	/* the operator sees the reply, its visit and the masked phone */
	all = vb_customers_list_feedback(fx->customers, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(all->len, ==, 2);
	row = find_feedback(all, f1);
	g_assert_nonnull(row);
	g_assert_true(g_variant_lookup(row, "visit", "&s", &text));
	g_assert_cmpstr(text, ==, "v1");
	g_assert_true(g_variant_lookup(row, "phone", "&s", &text));
	g_assert_cmpstr(text, ==, PHONE_A_MASKED);
	g_assert_true(g_variant_lookup(row, "body", "&s", &text));
	g_assert_cmpstr(text, ==, "The milk was sour");
	g_assert_true(g_variant_lookup(row, "received", "x", &received));
	g_assert_cmpint(received, ==, TEST_EPOCH);
	g_assert_true(g_variant_lookup(row, "handled", "b", &handled));
	g_assert_false(handled);

	/* a card number texted by a shopper is not kept */
	row = find_feedback(all, f2);
	g_assert_true(g_variant_lookup(row, "body", "&s", &text));
	g_assert_null(strstr(text, "4111 1111 1111 1111"));
	g_assert_nonnull(strstr(text, "Charged twice"));
	g_assert_false(store_files_contain_text(fx, "4111 1111 1111 1111"));

	g_assert_true(vb_customers_mark_feedback(fx->customers, f1, TRUE, &error));
	g_assert_no_error(error);
	open = vb_customers_list_feedback(fx->customers, TRUE, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(open->len, ==, 1);
	g_assert_nonnull(find_feedback(open, f2));

	g_assert_false(vb_customers_mark_feedback(fx->customers, 99, TRUE, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
}

static void
insert_visit(Fixture *fx, const gchar *id, const gchar *token, gint64 customer_id)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;

	stmt =
	    vb_store_prepare(fx->store,
			     "INSERT INTO visits (id, state, card_token, first6, last4, created, "
			     "updated, customer_id, currency, hold_amount, psp_reference, total, "
			     "captured) VALUES (?1, 'settled', ?2, '497010', '0010', 1, 1, ?3, "
			     "'EUR', 5000, ?4, 1234, 1234)",
			     &error);
	g_assert_no_error(error);
	vb_store_stmt_bind_text(stmt, 1, id);
	vb_store_stmt_bind_text(stmt, 2, token);
	if (customer_id != 0)
		vb_store_stmt_bind_int64(stmt, 3, customer_id);
	else
		vb_store_stmt_bind_null(stmt, 3);
	vb_store_stmt_bind_text(stmt, 4, id);
	g_assert_true(vb_store_stmt_exec(stmt, &error));
	g_assert_no_error(error);
}

static void
assert_no_card(Fixture *fx, const gchar *token_or_alias)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbCard) card = vb_customers_get_card(fx->customers, token_or_alias, &error);

	g_assert_null(card);
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
}

static GBytes *
sealed_phone(Fixture *fx, gint64 id)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(fx->store, "SELECT phone_sealed FROM customers WHERE id = ?1", &error);

	g_assert_no_error(error);
	vb_store_stmt_bind_int64(stmt, 1, id);
	g_assert_cmpint(vb_store_stmt_step(stmt, &error), ==, VB_STORE_STEP_ROW);
	return vb_store_stmt_column_blob(stmt, 0);
}

static void
test_erase(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) counts = NULL;
	g_autoptr(GBytes) sealed = NULL;
	g_autoptr(VbCard) card1 = see_card(fx, TOKEN_1, "0010", "ALIAS-A");
	g_autoptr(VbCard) card2 = see_card(fx, TOKEN_2, "0020", NULL);
	g_autoptr(VbCard) card3 = see_card(fx, TOKEN_3, "0030", NULL);
	gint64 a = add_phone(fx, PHONE_A);
	gint64 b = add_phone(fx, PHONE_B);
	gchar *code;
	guint n = 0;

	g_assert_cmpuint(card1->customer_id + card2->customer_id + card3->customer_id, ==, 0);
	g_assert_true(vb_customers_link_card(fx->customers, TOKEN_1, a, &error));
	g_assert_true(vb_customers_link_card(fx->customers, TOKEN_2, a, &error));
	g_assert_true(vb_customers_link_card(fx->customers, TOKEN_3, b, &error));
	g_assert_no_error(error);
	insert_visit(fx, "visit-a1", TOKEN_1, a);
	/* the first visit of card 2, before its phone was linked */
	insert_visit(fx, "visit-a2", TOKEN_2, 0);
	insert_visit(fx, "visit-b", TOKEN_3, b);
	g_assert_cmpint(vb_customers_add_feedback(fx->customers, a, "visit-a1", "Great", &error), >,
			0);
	g_assert_true(vb_customers_set_sms_opt_out(fx->customers, a, TRUE, "STOP", "sms", &error));
	g_assert_no_error(error);
	code = issue(fx, a);
	vb_secure_free_string(code);
	sealed = sealed_phone(fx, a);

	/* Debian builds SQLite to zero deleted rows; others do not, and the
	 * erasure must not depend on it */
	g_assert_true(sql_exec(fx, "PRAGMA secure_delete = OFF", &error));
	g_assert_no_error(error);
	counts = vb_customers_erase(fx->customers, a, &error);
	g_assert_no_error(error);
	g_assert_true(g_variant_lookup(counts, "cards", "u", &n));
	g_assert_cmpuint(n, ==, 2);
	g_assert_true(g_variant_lookup(counts, "feedback", "u", &n));
	g_assert_cmpuint(n, ==, 1);
	g_assert_true(g_variant_lookup(counts, "visits", "u", &n));
	g_assert_cmpuint(n, ==, 2);

	/* the phone, its cards, their alias, its code and its feedback are gone */
	g_assert_cmpint(vb_customers_find_phone(fx->customers, PHONE_A, &error), ==, 0);
	g_assert_no_error(error);
	assert_no_card(fx, TOKEN_1);
	assert_no_card(fx, "ALIAS-A");
	assert_no_card(fx, TOKEN_2);
	g_assert_cmpint(sql_count(fx, "SELECT COUNT(*) FROM otps", NULL), ==, 0);
	g_assert_cmpint(sql_count(fx, "SELECT COUNT(*) FROM feedback", NULL), ==, 0);
	g_assert_cmpint(sql_count(fx, "SELECT COUNT(*) FROM card_aliases", NULL), ==, 0);

	/* the visits stay for the accounts, without whose they were */
	g_assert_cmpint(
	    sql_count(fx,
		      "SELECT COUNT(*) FROM visits WHERE id LIKE 'visit-a%' AND "
		      "customer_id IS NULL AND card_token IS NULL AND total = 1234 AND "
		      "captured = 1234 AND hold_amount = 5000 AND first6 = '497010' AND "
		      "last4 = '0010' AND psp_reference = id",
		      NULL),
	    ==, 2);
	/* the consent log stays: it is the record that STOP was honoured */
	g_assert_cmpint(consent_rows(fx, "text = 'STOP'"), ==, 1);

	/* the other customer is untouched */
	g_assert_cmpint(vb_customers_find_phone(fx->customers, PHONE_B, &error), ==, b);
	g_assert_cmpuint(vb_customers_count_cards(fx->customers, b), ==, 1);
	g_assert_cmpint(sql_count(fx,
				  "SELECT COUNT(*) FROM visits WHERE id = 'visit-b' AND "
				  "customer_id IS NOT NULL AND card_token IS NOT NULL",
				  NULL),
			==, 1);

	/* nothing of the number is left in the files: not in clear, not masked,
	 * not even sealed (which the phone key would open) */
	g_assert_true(vb_store_checkpoint(fx->store, &error));
	g_assert_no_error(error);
	assert_number_not_stored(fx, PHONE_A);
	g_assert_false(store_files_contain_text(fx, PHONE_A_MASKED));
	g_assert_false(
	    store_files_contain(fx, g_bytes_get_data(sealed, NULL), g_bytes_get_size(sealed)));

	/* a second request finds nothing */
	g_assert_null(vb_customers_erase(fx->customers, a, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
}

static void
test_joins_caller_transaction(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreTransaction) tx = NULL;
	gint64 id;

	/* the visit logic records a phone and its opt-out with its own rows: a
	 * rollback takes them all back */
	tx = vb_store_transaction_begin(fx->store, &error);
	g_assert_no_error(error);
	id = add_phone(fx, PHONE_A);
	g_assert_true(vb_customers_set_sms_opt_out(fx->customers, id, TRUE, "STOP", "sms", &error));
	g_assert_no_error(error);
	g_clear_pointer(&tx, vb_store_transaction_free);
	g_assert_cmpint(vb_customers_find_phone(fx->customers, PHONE_A, &error), ==, 0);
	g_assert_cmpint(consent_rows(fx, "1"), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_assert_true(vb_crypto_init(NULL));

	g_test_add_func("/phone/normalize/valid", test_phone_valid);
	g_test_add_func("/phone/normalize/invalid-and-never-repeated", test_phone_invalid);
	g_test_add_func("/crypto/seal/round-trip", test_seal_round_trip);
	g_test_add_func("/crypto/seal/forgery-refused", test_seal_forgery);
	g_test_add_func("/crypto/random-digits", test_random_digits);
	g_test_add_func("/crypto/random-token", test_random_token);
	g_test_add("/customers/phone/sealed-at-rest", Fixture, NULL, fixture_setup,
		   test_phone_sealed_at_rest, fixture_teardown);
	g_test_add("/customers/phone/bound-to-its-row", Fixture, NULL, fixture_setup,
		   test_phone_bound_to_row, fixture_teardown);
	g_test_add("/customers/phone/only-e164", Fixture, NULL, fixture_setup, test_phone_not_e164,
		   fixture_teardown);
	g_test_add("/customers/cards/seen", Fixture, NULL, fixture_setup, test_cards_seen,
		   fixture_teardown);
	g_test_add("/customers/cards/wallet-alias", Fixture, NULL, fixture_setup, test_cards_alias,
		   fixture_teardown);
	g_test_add("/customers/cards/link", Fixture, NULL, fixture_setup, test_cards_link,
		   fixture_teardown);
	g_test_add("/customers/otp/single-use", Fixture, NULL, fixture_setup, test_otp_single_use,
		   fixture_teardown);
	g_test_add("/customers/otp/latest-only", Fixture, NULL, fixture_setup, test_otp_latest_only,
		   fixture_teardown);
	g_test_add("/customers/otp/three-wrong-tries", Fixture, NULL, fixture_setup,
		   test_otp_three_wrong_tries, fixture_teardown);
	g_test_add("/customers/otp/expiry", Fixture, NULL, fixture_setup, test_otp_expiry,
		   fixture_teardown);
	g_test_add("/customers/otp/resend-throttled", Fixture, NULL, fixture_setup,
		   test_otp_resend_throttled, fixture_teardown);
	g_test_add("/customers/otp/clock-moved-back", Fixture, NULL, fixture_setup,
		   test_otp_clock_moved_back, fixture_teardown);
	g_test_add("/customers/otp/not-stored-in-clear", Fixture, NULL, fixture_setup,
		   test_otp_not_stored, fixture_teardown);
	g_test_add("/customers/consent/opt-out", Fixture, NULL, fixture_setup, test_consent_opt_out,
		   fixture_teardown);
	g_test_add("/customers/feedback", Fixture, NULL, fixture_setup, test_feedback,
		   fixture_teardown);
	g_test_add("/customers/erase", Fixture, NULL, fixture_setup, test_erase, fixture_teardown);
	g_test_add("/customers/joins-caller-transaction", Fixture, NULL, fixture_setup,
		   test_joins_caller_transaction, fixture_teardown);
	return g_test_run();
}
