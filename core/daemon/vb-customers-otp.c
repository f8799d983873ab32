/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the one-time codes that verify a phone: issuing them within the resend
 * limits, and checking them within the tries and the lifetime */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-crypto-private.h"
#include "vb-customers-internal.h"
#include "vb-error.h"
#include "vb-secure.h"

/* OWASP ASVS V2.7 and NIST SP 800-63B: six digits, ten minutes, three tries */
#define VB_OTP_DIGITS 6
#define VB_OTP_LIFETIME VB_CUSTOMERS_OTP_LIFETIME
#define VB_OTP_MAX_TRIES 3
#define VB_OTP_RESEND_INTERVAL (30 * G_TIME_SPAN_SECOND)
#define VB_OTP_WINDOW G_TIME_SPAN_HOUR
#define VB_OTP_SENDS_PER_WINDOW 5

/* one-time codes */

static gchar *
vb_customers_otp_hash(VbCustomers *self, const gchar *index, const gchar *code, GError **error)
{
	g_autoptr(GBytes) key = NULL;
	g_autofree gchar *prefix = NULL;

	key = vb_host_get_store_key(self->host, VB_STORE_KEY_OTP, error);
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
		vb_secure_free_string(code);
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
	if (vb_secure_equal_string(hash, stored)) {
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
