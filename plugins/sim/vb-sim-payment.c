/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <inttypes.h>

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-sim-common.h"

/*
 * sim-payment plays a payment processor that places and settles
 * pre-authorization holds, with Adyen's rules: every operation carries an
 * idempotency key, and a key seen before returns the stored answer and
 * changes nothing, across restarts. Holds and answers live in the plugin's
 * own tables of the store. Declines and outages are set through the control
 * API or the configuration, so that tests reach every path of the visit.
 */

#define VB_SIM_PAYMENT_NAMESPACE "sim_payment"
#define VB_SIM_PAYMENT_AMOUNT_MAX G_GINT64_CONSTANT(1000000000000)
#define VB_SIM_PAYMENT_KEY_MAX 256
#define VB_SIM_PAYMENT_LIST_MAX 1000

#define VB_TYPE_SIM_PAYMENT (vb_sim_payment_get_type())
G_DECLARE_FINAL_TYPE(VbSimPayment, vb_sim_payment, VB, SIM_PAYMENT, VbPlugin)

typedef struct {
	gchar *idem_lookup;
	gchar *idem_insert;
	gchar *hold_lookup;
	gchar *hold_insert;
	gchar *hold_update;
	gchar *hold_list;
	gchar *ref_holds;
	gchar *ref_cancel;
	gchar *ref_cancelled;
	gchar *ref_insert;
} VbSimPaymentSql;

struct _VbSimPayment {
	VbPlugin parent_instance;
	VbSimRoutes *routes;
	VbSimDelays *delays;
	VbSimPaymentSql sql;
	gchar **decline_tokens;
	gint64 decline_above;
	gint64 adjust_limit;
	gint64 latency_ms;
	gint64 decline_next;
	gboolean down;
	gboolean cancel_by_reference;
	guint64 approved;
	guint64 declined;
};

static void
vb_sim_payment_payment_processor_iface_init(VbPaymentProcessorInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(VbSimPayment,
			      vb_sim_payment,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_PAYMENT_PROCESSOR,
						    vb_sim_payment_payment_processor_iface_init))

static const VbSettingSpec vb_sim_payment_settings[] = {
    {
	.key = "decline-tokens",
	.type = VB_SETTING_STRING_LIST,
	.default_value = "",
	.blurb = N_("Card tokens whose authorizations are declined"),
    },
    {
	.key = "decline-above",
	.type = VB_SETTING_INT,
	.default_value = "0",
	.min = 0,
	.max = VB_SIM_PAYMENT_AMOUNT_MAX,
	.blurb = N_("Authorizations and adjustments above this amount, in minor units, are "
		    "declined; 0 never declines"),
    },
    {
	.key = "adjust-limit",
	.type = VB_SETTING_INT,
	.default_value = "0",
	.min = 0,
	.max = VB_SIM_PAYMENT_AMOUNT_MAX,
	.blurb = N_("Adjustments above this amount, in minor units, are declined; 0 for no limit"),
    },
    {
	.key = "latency-ms",
	.type = VB_SETTING_INT,
	.default_value = "0",
	.min = 0,
	.max = 60000,
	.blurb = N_("How long the simulated processor takes to answer, in ms"),
    },
    {
	.key = "cancel-by-reference",
	.type = VB_SETTING_BOOLEAN,
	.default_value = "true",
	.blurb = N_("Whether the simulated processor can cancel a hold by the merchant "
		    "reference alone, as Adyen can; false plays a processor that cannot"),
    },
};

/* one script per schema version */
static const gchar *const vb_sim_payment_migrations[] = {
    "CREATE TABLE @ns@holds ("
    "psp_reference TEXT PRIMARY KEY, "
    "instance TEXT NOT NULL, "
    "reference TEXT NOT NULL, "
    "card_token TEXT NOT NULL, "
    "currency TEXT NOT NULL, "
    "authorized INTEGER NOT NULL, "
    "captured INTEGER NOT NULL DEFAULT 0, "
    "state TEXT NOT NULL, "
    "created INTEGER NOT NULL, "
    "updated INTEGER NOT NULL);"
    "CREATE INDEX @ns@holds_by_instance ON @ns@holds (instance, created);"
    "CREATE TABLE @ns@idempotency ("
    "instance TEXT NOT NULL, "
    "idempotency_key TEXT NOT NULL, "
    "request_hash TEXT NOT NULL, "
    "status INTEGER NOT NULL, "
    "psp_reference TEXT NOT NULL, "
    "amount INTEGER NOT NULL, "
    "reason TEXT NOT NULL, "
    "created INTEGER NOT NULL, "
    "PRIMARY KEY (instance, idempotency_key));",
    /* cancels by merchant reference, which also refuse a later authorization
     * under the same reference */
    "CREATE INDEX @ns@holds_by_reference ON @ns@holds (instance, reference);"
    "CREATE TABLE @ns@cancelled_references ("
    "instance TEXT NOT NULL, "
    "reference TEXT NOT NULL, "
    "created INTEGER NOT NULL, "
    "PRIMARY KEY (instance, reference));",
    NULL,
};

#define VB_SIM_PAYMENT_STATE_AUTHORIZED "authorized"
#define VB_SIM_PAYMENT_STATE_CAPTURED "captured"
#define VB_SIM_PAYMENT_STATE_CANCELLED "cancelled"
#define VB_SIM_PAYMENT_STATE_DECLINED "declined"

/* a copy of the request, owned by the task */
typedef struct {
	VbPaymentOp op;
	gchar *idempotency_key;
	gchar *reference;
	gchar *psp_reference;
	gchar *card_token;
	gchar *currency;
	gint64 amount;
} VbSimPaymentCall;

static void
vb_sim_payment_call_free(VbSimPaymentCall *call)
{
	g_free(call->idempotency_key);
	g_free(call->reference);
	g_free(call->psp_reference);
	g_free(call->card_token);
	g_free(call->currency);
	g_free(call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbSimPaymentCall, vb_sim_payment_call_free)

/* a hold as stored */
typedef struct {
	gchar currency[4];
	gint64 authorized;
	gint64 captured;
	gchar state[16];
} VbSimPaymentHold;

static VbStore *
vb_sim_payment_get_store(VbSimPayment *self)
{
	return vb_context_get_store(vb_plugin_get_context(VB_PLUGIN(self)));
}

static const gchar *
vb_sim_payment_instance(VbSimPayment *self)
{
	return vb_plugin_get_name(VB_PLUGIN(self));
}

static gchar *
vb_sim_payment_new_psp_reference(void)
{
	const gchar alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	gchar *str = g_new0(gchar, 17);

	for (guint i = 0; i < 16; i++)
		str[i] = alphabet[g_random_int_range(0, (gint32)strlen(alphabet))];
	return str;
}

static gboolean
vb_sim_payment_currency_is_valid(const gchar *currency)
{
	if (currency == NULL || strlen(currency) != 3)
		return FALSE;
	for (guint i = 0; i < 3; i++) {
		if (!g_ascii_isupper(currency[i]))
			return FALSE;
	}
	return TRUE;
}

/* what makes two requests the same request, for the idempotency check */
static gchar *
vb_sim_payment_call_hash(const VbSimPaymentCall *call)
{
	g_autoptr(GChecksum) checksum = g_checksum_new(G_CHECKSUM_SHA256);
	const gchar *fields[] = {
	    vb_payment_op_to_string(call->op),
	    call->reference,
	    call->psp_reference,
	    call->card_token,
	    call->currency,
	};
	gchar amount[32];

	for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
		const gchar *field = fields[i] != NULL ? fields[i] : "";
		/* the terminating NUL keeps "ab","c" apart from "a","bc" */
		g_checksum_update(checksum, (const guchar *)field, strlen(field) + 1);
	}
	g_snprintf(amount, sizeof(amount), "%" G_GINT64_FORMAT, call->amount);
	g_checksum_update(checksum, (const guchar *)amount, strlen(amount) + 1);
	return g_strdup(g_checksum_get_string(checksum));
}

static gboolean
vb_sim_payment_call_validate(VbSimPayment *self, const VbSimPaymentCall *call, GError **error)
{
	if (call->idempotency_key == NULL || call->idempotency_key[0] == '\0' ||
	    strlen(call->idempotency_key) > VB_SIM_PAYMENT_KEY_MAX) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("every payment request needs an idempotency key of 1 to %u bytes"),
			    (guint)VB_SIM_PAYMENT_KEY_MAX);
		return FALSE;
	}
	if (call->currency != NULL && !vb_sim_payment_currency_is_valid(call->currency)) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the currency must be an ISO 4217 code, such as EUR"));
		return FALSE;
	}
	switch (call->op) {
	case VB_PAYMENT_OP_AUTHORIZE:
		if (call->reference == NULL || call->reference[0] == '\0' ||
		    call->card_token == NULL || call->card_token[0] == '\0' ||
		    call->currency == NULL) {
			g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
					    _("an authorization needs a reference, a card token "
					      "and a currency"));
			return FALSE;
		}
		break;
	case VB_PAYMENT_OP_CANCEL_BY_REFERENCE:
		if (!self->cancel_by_reference) {
			g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
					    _("this processor cannot cancel by reference"));
			return FALSE;
		}
		if (call->reference == NULL || call->reference[0] == '\0') {
			g_set_error_literal(
			    error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("a cancel by reference needs the merchant reference"));
			return FALSE;
		}
		return TRUE;
	case VB_PAYMENT_OP_ADJUST:
	case VB_PAYMENT_OP_CAPTURE:
	case VB_PAYMENT_OP_CANCEL:
		if (call->psp_reference == NULL || call->psp_reference[0] == '\0') {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the %s operation needs the PSP reference of the hold"),
				    vb_payment_op_to_string(call->op));
			return FALSE;
		}
		break;
	default:
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("unknown payment operation %d"), (gint)call->op);
		return FALSE;
	}
	if (call->op != VB_PAYMENT_OP_CANCEL && call->op != VB_PAYMENT_OP_CANCEL_BY_REFERENCE &&
	    (call->amount <= 0 || call->amount > VB_SIM_PAYMENT_AMOUNT_MAX)) {
		/* a zero capture is a cancel */
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the amount of the %s operation must be positive and at most "
			      "%" PRId64 " minor units"),
			    vb_payment_op_to_string(call->op), VB_SIM_PAYMENT_AMOUNT_MAX);
		return FALSE;
	}
	return TRUE;
}

static void
vb_sim_payment_result_set(VbPaymentResult *out,
			  VbPaymentStatus status,
			  const gchar *psp_reference,
			  gint64 amount,
			  const gchar *reason)
{
	memset(out, 0, sizeof(*out));
	out->status = status;
	g_strlcpy(out->psp_reference, psp_reference, sizeof(out->psp_reference));
	out->amount = amount;
	g_strlcpy(out->reason, reason != NULL ? reason : "", sizeof(out->reason));
}

/* the stored answer to @key; @found is FALSE when the key is new */
static gboolean
vb_sim_payment_idem_lookup(VbSimPayment *self,
			   const gchar *key,
			   gchar **request_hash,
			   VbPaymentResult *out,
			   gboolean *found,
			   GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	stmt = vb_store_prepare(vb_sim_payment_get_store(self), self->sql.idem_lookup, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_sim_payment_instance(self));
	vb_store_stmt_bind_text(stmt, 2, key);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return FALSE;
	*found = step == VB_STORE_STEP_ROW;
	if (!*found)
		return TRUE;
	*request_hash = g_strdup(vb_store_stmt_column_text(stmt, 0));
	vb_sim_payment_result_set(out,
				  vb_store_stmt_column_int64(stmt, 1) == VB_PAYMENT_STATUS_APPROVED
				      ? VB_PAYMENT_STATUS_APPROVED
				      : VB_PAYMENT_STATUS_DECLINED,
				  vb_store_stmt_column_text(stmt, 2),
				  vb_store_stmt_column_int64(stmt, 3),
				  vb_store_stmt_column_text(stmt, 4));
	return TRUE;
}

static gboolean
vb_sim_payment_idem_insert(VbSimPayment *self,
			   const gchar *key,
			   const gchar *request_hash,
			   const VbPaymentResult *result,
			   GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	stmt = vb_store_prepare(vb_sim_payment_get_store(self), self->sql.idem_insert, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_sim_payment_instance(self));
	vb_store_stmt_bind_text(stmt, 2, key);
	vb_store_stmt_bind_text(stmt, 3, request_hash);
	vb_store_stmt_bind_int64(stmt, 4, result->status);
	vb_store_stmt_bind_text(stmt, 5, result->psp_reference);
	vb_store_stmt_bind_int64(stmt, 6, result->amount);
	vb_store_stmt_bind_text(stmt, 7, result->reason);
	vb_store_stmt_bind_int64(stmt, 8, g_get_real_time());
	return vb_store_stmt_exec(stmt, error);
}

static gboolean
vb_sim_payment_hold_lookup(VbSimPayment *self,
			   const gchar *psp_reference,
			   VbSimPaymentHold *hold,
			   GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	stmt = vb_store_prepare(vb_sim_payment_get_store(self), self->sql.hold_lookup, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_sim_payment_instance(self));
	vb_store_stmt_bind_text(stmt, 2, psp_reference);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return FALSE;
	if (step == VB_STORE_STEP_DONE) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    _("there is no hold %s at this processor"), psp_reference);
		return FALSE;
	}
	g_strlcpy(hold->currency, vb_store_stmt_column_text(stmt, 0), sizeof(hold->currency));
	hold->authorized = vb_store_stmt_column_int64(stmt, 1);
	hold->captured = vb_store_stmt_column_int64(stmt, 2);
	g_strlcpy(hold->state, vb_store_stmt_column_text(stmt, 3), sizeof(hold->state));
	return TRUE;
}

static gboolean
vb_sim_payment_hold_update(VbSimPayment *self,
			   const gchar *psp_reference,
			   const VbSimPaymentHold *hold,
			   GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	stmt = vb_store_prepare(vb_sim_payment_get_store(self), self->sql.hold_update, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_sim_payment_instance(self));
	vb_store_stmt_bind_text(stmt, 2, psp_reference);
	vb_store_stmt_bind_int64(stmt, 3, hold->authorized);
	vb_store_stmt_bind_int64(stmt, 4, hold->captured);
	vb_store_stmt_bind_text(stmt, 5, hold->state);
	vb_store_stmt_bind_int64(stmt, 6, g_get_real_time());
	return vb_store_stmt_exec(stmt, error);
}

/* whether a cancel by reference already came for @reference */
static gboolean
vb_sim_payment_reference_cancelled(VbSimPayment *self,
				   const gchar *reference,
				   gboolean *cancelled,
				   GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	stmt = vb_store_prepare(vb_sim_payment_get_store(self), self->sql.ref_cancelled, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_sim_payment_instance(self));
	vb_store_stmt_bind_text(stmt, 2, reference);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return FALSE;
	*cancelled = step == VB_STORE_STEP_ROW;
	return TRUE;
}

/* the reason the next authorization is refused, or NULL to approve it */
static const gchar *
vb_sim_payment_authorize_decision(VbSimPayment *self,
				  const VbSimPaymentCall *call,
				  gboolean *uses_next)
{
	*uses_next = FALSE;
	if (self->decline_next > 0) {
		*uses_next = TRUE;
		return "Refused";
	}
	if (self->decline_tokens != NULL &&
	    g_strv_contains((const gchar *const *)self->decline_tokens, call->card_token))
		return "Refused";
	if (self->decline_above > 0 && call->amount > self->decline_above)
		return "Not enough balance";
	return NULL;
}

static gboolean
vb_sim_payment_authorize(VbSimPayment *self,
			 const VbSimPaymentCall *call,
			 VbPaymentResult *out,
			 gboolean *uses_next,
			 GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *psp_reference = vb_sim_payment_new_psp_reference();
	const gchar *reason = NULL;
	gboolean cancelled = FALSE;
	gint64 now = g_get_real_time();

	if (!vb_sim_payment_reference_cancelled(self, call->reference, &cancelled, error))
		return FALSE;
	/* a cancel by reference came first: what arrives after it must not hold */
	if (cancelled)
		reason = "Cancelled by reference";
	else
		reason = vb_sim_payment_authorize_decision(self, call, uses_next);

	if (reason != NULL) {
		vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_DECLINED, psp_reference, 0,
					  reason);
	} else {
		vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_APPROVED, psp_reference,
					  call->amount, NULL);
	}
	stmt = vb_store_prepare(vb_sim_payment_get_store(self), self->sql.hold_insert, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, psp_reference);
	vb_store_stmt_bind_text(stmt, 2, vb_sim_payment_instance(self));
	vb_store_stmt_bind_text(stmt, 3, call->reference);
	vb_store_stmt_bind_text(stmt, 4, call->card_token);
	vb_store_stmt_bind_text(stmt, 5, call->currency);
	vb_store_stmt_bind_int64(stmt, 6, out->amount);
	vb_store_stmt_bind_text(stmt, 7,
				reason != NULL ? VB_SIM_PAYMENT_STATE_DECLINED
					       : VB_SIM_PAYMENT_STATE_AUTHORIZED);
	vb_store_stmt_bind_int64(stmt, 8, now);
	vb_store_stmt_bind_int64(stmt, 9, now);
	return vb_store_stmt_exec(stmt, error);
}

/* releases every hold placed under the merchant reference, and refuses any
 * authorization under it that comes later, as Adyen's cancel "using your
 * reference" does. Approved whether a hold was found or not: the outcome
 * asked for, nothing held under the reference, is reached either way. A hold
 * already captured cannot be released, and says so */
static gboolean
vb_sim_payment_cancel_by_reference(VbSimPayment *self,
				   const VbSimPaymentCall *call,
				   VbPaymentResult *out,
				   GError **error)
{
	VbStore *store = vb_sim_payment_get_store(self);
	g_autoptr(VbStoreStmt) holds = NULL;
	g_autoptr(VbStoreStmt) cancel = NULL;
	g_autoptr(VbStoreStmt) insert = NULL;
	g_autofree gchar *released = NULL;
	g_autofree gchar *captured = NULL;
	gint64 captured_amount = 0;
	VbStoreStep step;

	holds = vb_store_prepare(store, self->sql.ref_holds, error);
	if (holds == NULL)
		return FALSE;
	vb_store_stmt_bind_text(holds, 1, vb_sim_payment_instance(self));
	vb_store_stmt_bind_text(holds, 2, call->reference);
	while ((step = vb_store_stmt_step(holds, error)) == VB_STORE_STEP_ROW) {
		const gchar *state = vb_store_stmt_column_text(holds, 1);
		if (g_strcmp0(state, VB_SIM_PAYMENT_STATE_CAPTURED) == 0 && captured == NULL) {
			captured = g_strdup(vb_store_stmt_column_text(holds, 0));
			captured_amount = vb_store_stmt_column_int64(holds, 2);
		} else if (g_strcmp0(state, VB_SIM_PAYMENT_STATE_AUTHORIZED) == 0 &&
			   released == NULL) {
			released = g_strdup(vb_store_stmt_column_text(holds, 0));
		}
	}
	if (step == VB_STORE_STEP_ERROR)
		return FALSE;
	g_clear_pointer(&holds, vb_store_stmt_free);

	cancel = vb_store_prepare(store, self->sql.ref_cancel, error);
	if (cancel == NULL)
		return FALSE;
	vb_store_stmt_bind_text(cancel, 1, vb_sim_payment_instance(self));
	vb_store_stmt_bind_text(cancel, 2, call->reference);
	vb_store_stmt_bind_int64(cancel, 3, g_get_real_time());
	if (!vb_store_stmt_exec(cancel, error))
		return FALSE;
	insert = vb_store_prepare(store, self->sql.ref_insert, error);
	if (insert == NULL)
		return FALSE;
	vb_store_stmt_bind_text(insert, 1, vb_sim_payment_instance(self));
	vb_store_stmt_bind_text(insert, 2, call->reference);
	vb_store_stmt_bind_int64(insert, 3, g_get_real_time());
	if (!vb_store_stmt_exec(insert, error))
		return FALSE;

	if (captured != NULL) {
		vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_DECLINED, captured,
					  captured_amount, "already captured");
		return TRUE;
	}
	vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_APPROVED, released != NULL ? released : "",
				  0, NULL);
	return TRUE;
}

/* adjust, capture and cancel: the rules of each on the hold's state */
static gboolean
vb_sim_payment_modify(VbSimPayment *self,
		      const VbSimPaymentCall *call,
		      VbPaymentResult *out,
		      GError **error)
{
	VbSimPaymentHold hold = {0};
	const gchar *psp = call->psp_reference;
	gboolean authorized;

	if (!vb_sim_payment_hold_lookup(self, psp, &hold, error))
		return FALSE;
	if (call->currency != NULL && g_strcmp0(call->currency, hold.currency) != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the hold %s is in %s, not in %s"), psp, hold.currency,
			    call->currency);
		return FALSE;
	}
	authorized = g_strcmp0(hold.state, VB_SIM_PAYMENT_STATE_AUTHORIZED) == 0;

	switch (call->op) {
	case VB_PAYMENT_OP_ADJUST:
		if (!authorized) {
			g_autofree gchar *reason = g_strdup_printf("hold is %s", hold.state);
			vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_DECLINED, psp,
						  hold.authorized, reason);
			return TRUE;
		}
		if (self->adjust_limit > 0 && call->amount > self->adjust_limit) {
			vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_DECLINED, psp,
						  hold.authorized,
						  "amount above the adjustment limit");
			return TRUE;
		}
		if (self->decline_above > 0 && call->amount > self->decline_above) {
			vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_DECLINED, psp,
						  hold.authorized, "Not enough balance");
			return TRUE;
		}
		hold.authorized = call->amount;
		vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_APPROVED, psp, call->amount, NULL);
		break;
	case VB_PAYMENT_OP_CAPTURE:
		/* the double-charge guard: a hold is captured once */
		if (g_strcmp0(hold.state, VB_SIM_PAYMENT_STATE_CAPTURED) == 0) {
			vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_DECLINED, psp,
						  hold.captured, "already captured");
			return TRUE;
		}
		if (!authorized) {
			g_autofree gchar *reason = g_strdup_printf("hold is %s", hold.state);
			vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_DECLINED, psp, 0, reason);
			return TRUE;
		}
		if (call->amount > hold.authorized) {
			vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_DECLINED, psp,
						  hold.authorized, "amount exceeds authorisation");
			return TRUE;
		}
		hold.captured = call->amount;
		g_strlcpy(hold.state, VB_SIM_PAYMENT_STATE_CAPTURED, sizeof(hold.state));
		vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_APPROVED, psp, call->amount, NULL);
		break;
	case VB_PAYMENT_OP_CANCEL:
		if (g_strcmp0(hold.state, VB_SIM_PAYMENT_STATE_CAPTURED) == 0) {
			vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_DECLINED, psp,
						  hold.captured, "already captured");
			return TRUE;
		}
		/* cancelling what holds nothing already has the outcome asked for */
		vb_sim_payment_result_set(out, VB_PAYMENT_STATUS_APPROVED, psp, 0, NULL);
		if (!authorized)
			return TRUE;
		g_strlcpy(hold.state, VB_SIM_PAYMENT_STATE_CANCELLED, sizeof(hold.state));
		break;
	case VB_PAYMENT_OP_AUTHORIZE:
	default:
		g_assert_not_reached();
	}
	return vb_sim_payment_hold_update(self, psp, &hold, error);
}

/* runs @call in one transaction with its idempotency record */
static gboolean
vb_sim_payment_process(VbSimPayment *self,
		       const VbSimPaymentCall *call,
		       VbPaymentResult *out,
		       gboolean *uses_next,
		       GError **error)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autofree gchar *request_hash = vb_sim_payment_call_hash(call);
	g_autofree gchar *stored_hash = NULL;
	gboolean found = FALSE;
	gboolean ok;

	*uses_next = FALSE;
	/* a real processor keeps its ledger on its own side of the network, and
	 * the core records every answer with a synced commit right after this
	 * one, which puts this one on disk too: syncing here only made every tap
	 * wait for the SD card once more */
	tx = vb_store_transaction_begin_full(vb_sim_payment_get_store(self),
					     VB_STORE_TRANSACTION_FLAG_NO_SYNC, error);
	if (tx == NULL)
		return FALSE;
	if (!vb_sim_payment_idem_lookup(self, call->idempotency_key, &stored_hash, out, &found,
					error))
		return FALSE;
	if (found) {
		if (g_strcmp0(stored_hash, request_hash) != 0) {
			g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
				    _("the idempotency key %s was already used for a different "
				      "request; use a new key for a new request"),
				    call->idempotency_key);
			return FALSE;
		}
		g_debug("%s %s: replaying the stored answer", vb_payment_op_to_string(call->op),
			call->idempotency_key);
		return TRUE;
	}
	if (call->op == VB_PAYMENT_OP_AUTHORIZE)
		ok = vb_sim_payment_authorize(self, call, out, uses_next, error);
	else if (call->op == VB_PAYMENT_OP_CANCEL_BY_REFERENCE)
		ok = vb_sim_payment_cancel_by_reference(self, call, out, error);
	else
		ok = vb_sim_payment_modify(self, call, out, error);
	if (!ok)
		return FALSE;
	if (!vb_sim_payment_idem_insert(self, call->idempotency_key, request_hash, out, error))
		return FALSE;
	if (!vb_store_transaction_commit(tx, error)) {
		*uses_next = FALSE;
		return FALSE;
	}
	if (out->status == VB_PAYMENT_STATUS_APPROVED)
		self->approved++;
	else
		self->declined++;
	if (call->op == VB_PAYMENT_OP_CANCEL_BY_REFERENCE) {
		g_message("cancel by reference %s: %s%s%s%s", call->reference,
			  out->status == VB_PAYMENT_STATUS_APPROVED ? "approved" : "declined",
			  out->status == VB_PAYMENT_STATUS_APPROVED ? "" : ", ", out->reason,
			  out->psp_reference[0] != '\0' ? "" : " (no hold was placed under it)");
	} else if (call->op == VB_PAYMENT_OP_CANCEL) {
		g_message("cancel %s: %s%s%s", out->psp_reference,
			  out->status == VB_PAYMENT_STATUS_APPROVED ? "approved" : "declined",
			  out->status == VB_PAYMENT_STATUS_APPROVED ? "" : ", ", out->reason);
	} else {
		g_message("%s %s for %" G_GINT64_FORMAT " minor units: %s%s%s",
			  vb_payment_op_to_string(call->op), out->psp_reference, call->amount,
			  out->status == VB_PAYMENT_STATUS_APPROVED ? "approved" : "declined",
			  out->status == VB_PAYMENT_STATUS_APPROVED ? "" : ", ", out->reason);
	}
	return TRUE;
}

static void
vb_sim_payment_execute_cb(GTask *task)
{
	VbSimPayment *self = VB_SIM_PAYMENT(g_task_get_source_object(task));
	VbSimPaymentCall *call = g_task_get_task_data(task);
	VbPaymentResult result = {0};
	gboolean uses_next = FALSE;
	g_autoptr(GError) error = NULL;

	/* the outage is checked when the answer would come; nothing is recorded */
	if (self->down) {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE, "%s",
					_("the payment processor cannot be reached (simulated "
					  "outage); nothing was done"));
		return;
	}
	if (!vb_sim_payment_process(self, call, &result, &uses_next, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (uses_next && self->decline_next > 0)
		self->decline_next--;
	g_task_return_pointer(task, g_memdup2(&result, sizeof(result)), g_free);
}

static void
vb_sim_payment_execute_async(VbPaymentProcessor *processor,
			     const VbPaymentRequest *request,
			     GCancellable *cancellable,
			     GAsyncReadyCallback callback,
			     gpointer user_data)
{
	VbSimPayment *self = VB_SIM_PAYMENT(processor);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(VbSimPaymentCall) call = g_new0(VbSimPaymentCall, 1);
	g_autoptr(GError) error = NULL;

	g_task_set_source_tag(task, vb_sim_payment_execute_async);
	if (self->delays == NULL) {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE,
					_("the payment processor %s is not running"),
					vb_plugin_get_name(VB_PLUGIN(self)));
		return;
	}
	call->op = request->op;
	call->idempotency_key = g_strdup(request->idempotency_key);
	call->reference = g_strdup(request->reference);
	call->psp_reference = g_strdup(request->psp_reference);
	call->card_token = g_strdup(request->card_token);
	call->currency = g_strdup(request->currency);
	call->amount = request->amount;
	if (!vb_sim_payment_call_validate(self, call, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_set_task_data(task, g_steal_pointer(&call),
			     (GDestroyNotify)vb_sim_payment_call_free);
	vb_sim_delays_run(self->delays, task, (guint)self->latency_ms, vb_sim_payment_execute_cb);
}

static gboolean
vb_sim_payment_execute_finish(VbPaymentProcessor *processor,
			      GAsyncResult *result,
			      VbPaymentResult *out,
			      GError **error)
{
	g_autofree VbPaymentResult *answer = NULL;

	g_return_val_if_fail(g_task_is_valid(result, processor), FALSE);
	answer = g_task_propagate_pointer(G_TASK(result), error);
	if (answer == NULL)
		return FALSE;
	if (out != NULL)
		*out = *answer;
	return TRUE;
}

static void
vb_sim_payment_reply_controls(VbSimPayment *self, SoupServerMessage *msg)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "down");
	json_builder_add_boolean_value(builder, self->down);
	json_builder_set_member_name(builder, "decline-next");
	json_builder_add_int_value(builder, self->decline_next);
	json_builder_end_object(builder);
	vb_sim_reply(msg, SOUP_STATUS_OK, builder);
}

static void
vb_sim_payment_outage_cb(VbPlugin *plugin,
			 SoupServerMessage *msg,
			 JsonObject *body,
			 GHashTable *query)
{
	VbSimPayment *self = VB_SIM_PAYMENT(plugin);
	const gchar *allowed[] = {"down", NULL};
	gboolean down = FALSE;
	g_autoptr(GError) error = NULL;

	if (!vb_sim_json_check_members(body, allowed, &error) ||
	    !vb_sim_json_get_boolean(body, "down", TRUE, &down, &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	if (self->down != down)
		g_message("simulated outage %s", down ? "started" : "ended");
	self->down = down;
	vb_sim_payment_reply_controls(self, msg);
}

static void
vb_sim_payment_decline_cb(VbPlugin *plugin,
			  SoupServerMessage *msg,
			  JsonObject *body,
			  GHashTable *query)
{
	VbSimPayment *self = VB_SIM_PAYMENT(plugin);
	const gchar *allowed[] = {"next", NULL};
	gint64 next = 0;
	g_autoptr(GError) error = NULL;

	if (!vb_sim_json_check_members(body, allowed, &error) ||
	    !vb_sim_json_get_int(body, "next", TRUE, 0, 10000, &next, &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	self->decline_next = next;
	vb_sim_payment_reply_controls(self, msg);
}

static gboolean
vb_sim_payment_parse_limit(GHashTable *query, guint64 *limit, GError **error)
{
	const gchar *str = query != NULL ? g_hash_table_lookup(query, "limit") : NULL;

	*limit = 100;
	if (str == NULL)
		return TRUE;
	if (!g_ascii_string_to_unsigned(str, 10, 1, VB_SIM_PAYMENT_LIST_MAX, limit, NULL)) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the limit must be a number from 1 to %u"),
			    (guint)VB_SIM_PAYMENT_LIST_MAX);
		return FALSE;
	}
	return TRUE;
}

static void
vb_sim_payment_holds_cb(VbPlugin *plugin,
			SoupServerMessage *msg,
			JsonObject *body,
			GHashTable *query)
{
	VbSimPayment *self = VB_SIM_PAYMENT(plugin);
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autoptr(JsonBuilder) builder = json_builder_new();
	guint64 limit = 0;
	VbStoreStep step;

	if (!vb_sim_payment_parse_limit(query, &limit, &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	stmt = vb_store_prepare(vb_sim_payment_get_store(self), self->sql.hold_list, &error);
	if (stmt == NULL) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	vb_store_stmt_bind_text(stmt, 1, vb_sim_payment_instance(self));
	vb_store_stmt_bind_int64(stmt, 2, (gint64)limit);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "holds");
	json_builder_begin_array(builder);
	while ((step = vb_store_stmt_step(stmt, &error)) == VB_STORE_STEP_ROW) {
		g_autoptr(GDateTime) created = g_date_time_new_from_unix_utc(
		    vb_store_stmt_column_int64(stmt, 6) / G_USEC_PER_SEC);
		g_autofree gchar *iso =
		    created != NULL ? g_date_time_format_iso8601(created) : NULL;

		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "psp-reference");
		json_builder_add_string_value(builder, vb_store_stmt_column_text(stmt, 0));
		json_builder_set_member_name(builder, "reference");
		json_builder_add_string_value(builder, vb_store_stmt_column_text(stmt, 1));
		json_builder_set_member_name(builder, "currency");
		json_builder_add_string_value(builder, vb_store_stmt_column_text(stmt, 2));
		json_builder_set_member_name(builder, "authorized");
		json_builder_add_int_value(builder, vb_store_stmt_column_int64(stmt, 3));
		json_builder_set_member_name(builder, "captured");
		json_builder_add_int_value(builder, vb_store_stmt_column_int64(stmt, 4));
		json_builder_set_member_name(builder, "state");
		json_builder_add_string_value(builder, vb_store_stmt_column_text(stmt, 5));
		json_builder_set_member_name(builder, "created");
		json_builder_add_string_value(builder, iso != NULL ? iso : "");
		json_builder_end_object(builder);
	}
	if (step == VB_STORE_STEP_ERROR) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	json_builder_end_array(builder);
	json_builder_end_object(builder);
	vb_sim_reply(msg, SOUP_STATUS_OK, builder);
}

static void
vb_sim_payment_sql_clear(VbSimPaymentSql *sql)
{
	g_clear_pointer(&sql->idem_lookup, g_free);
	g_clear_pointer(&sql->idem_insert, g_free);
	g_clear_pointer(&sql->hold_lookup, g_free);
	g_clear_pointer(&sql->hold_insert, g_free);
	g_clear_pointer(&sql->hold_update, g_free);
	g_clear_pointer(&sql->hold_list, g_free);
	g_clear_pointer(&sql->ref_holds, g_free);
	g_clear_pointer(&sql->ref_cancel, g_free);
	g_clear_pointer(&sql->ref_cancelled, g_free);
	g_clear_pointer(&sql->ref_insert, g_free);
}

static gboolean
vb_sim_payment_prepare_store(VbSimPayment *self, GError **error)
{
	VbStore *store = vb_sim_payment_get_store(self);
	g_autofree gchar *holds = NULL;
	g_autofree gchar *idem = NULL;
	g_autofree gchar *refs = NULL;

	if (store == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
				    _("the daemon has no store; sim-payment needs one"));
		return FALSE;
	}
	if (!vb_store_ensure_namespace(store, VB_SIM_PAYMENT_NAMESPACE, vb_sim_payment_migrations,
				       error))
		return FALSE;

	/* only the table names, which the core gives, go into the SQL; values are bound */
	holds = vb_store_namespace_table(VB_SIM_PAYMENT_NAMESPACE, "holds");
	idem = vb_store_namespace_table(VB_SIM_PAYMENT_NAMESPACE, "idempotency");
	refs = vb_store_namespace_table(VB_SIM_PAYMENT_NAMESPACE, "cancelled_references");
	self->sql.idem_lookup =
	    g_strdup_printf("SELECT request_hash, status, psp_reference, amount, reason FROM %s "
			    "WHERE instance = ?1 AND idempotency_key = ?2",
			    idem);
	self->sql.idem_insert =
	    g_strdup_printf("INSERT INTO %s (instance, idempotency_key, request_hash, status, "
			    "psp_reference, amount, reason, created) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
			    idem);
	self->sql.hold_lookup =
	    g_strdup_printf("SELECT currency, authorized, captured, state "
			    "FROM %s WHERE instance = ?1 AND psp_reference = ?2",
			    holds);
	self->sql.hold_insert =
	    g_strdup_printf("INSERT INTO %s (psp_reference, instance, reference, card_token, "
			    "currency, authorized, captured, state, created, updated) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9)",
			    holds);
	self->sql.hold_update = g_strdup_printf("UPDATE %s SET authorized = ?3, captured = ?4, "
						"state = ?5, updated = ?6 "
						"WHERE instance = ?1 AND psp_reference = ?2",
						holds);
	self->sql.hold_list =
	    g_strdup_printf("SELECT psp_reference, reference, currency, authorized, captured, "
			    "state, created FROM %s WHERE instance = ?1 "
			    "ORDER BY created DESC, rowid DESC LIMIT ?2",
			    holds);
	self->sql.ref_holds =
	    g_strdup_printf("SELECT psp_reference, state, captured FROM %s "
			    "WHERE instance = ?1 AND reference = ?2 ORDER BY created, rowid",
			    holds);
	self->sql.ref_cancel = g_strdup_printf("UPDATE %s SET state = 'cancelled', updated = ?3 "
					       "WHERE instance = ?1 AND reference = ?2 "
					       "AND state = 'authorized'",
					       holds);
	self->sql.ref_cancelled =
	    g_strdup_printf("SELECT 1 FROM %s WHERE instance = ?1 AND reference = ?2", refs);
	self->sql.ref_insert = g_strdup_printf(
	    "INSERT OR IGNORE INTO %s (instance, reference, created) VALUES (?1, ?2, ?3)", refs);
	return TRUE;
}

static void
vb_sim_payment_load_settings(VbSimPayment *self)
{
	VbPlugin *plugin = VB_PLUGIN(self);

	g_strfreev(self->decline_tokens);
	self->decline_tokens =
	    g_strdupv((gchar **)vb_plugin_get_string_list(plugin, "decline-tokens"));
	self->decline_above = vb_plugin_get_int(plugin, "decline-above");
	self->adjust_limit = vb_plugin_get_int(plugin, "adjust-limit");
	self->latency_ms = vb_plugin_get_int(plugin, "latency-ms");
	self->cancel_by_reference = vb_plugin_get_boolean(plugin, "cancel-by-reference");
}

static gboolean
vb_sim_payment_startup(VbPlugin *plugin, GError **error)
{
	VbSimPayment *self = VB_SIM_PAYMENT(plugin);

	if (!vb_sim_payment_prepare_store(self, error)) {
		g_prefix_error(error, "%s", _("cannot prepare the holds tables: "));
		return FALSE;
	}
	vb_sim_payment_load_settings(self);
	self->delays = vb_sim_delays_new();
	self->routes = vb_sim_routes_new(plugin);
	vb_sim_routes_add(self->routes, SOUP_METHOD_POST, "outage", VB_SIM_ROUTE_NONE,
			  vb_sim_payment_outage_cb);
	vb_sim_routes_add(self->routes, SOUP_METHOD_POST, "decline", VB_SIM_ROUTE_NONE,
			  vb_sim_payment_decline_cb);
	vb_sim_routes_add(self->routes, SOUP_METHOD_GET, "holds", VB_SIM_ROUTE_NONE,
			  vb_sim_payment_holds_cb);
	return TRUE;
}

/* answers what is still pending and drops the timers; nothing was done for
 * those requests, so they may be retried */
static void
vb_sim_payment_stop_delays(VbSimPayment *self)
{
	if (self->delays != NULL) {
		vb_sim_delays_abort(self->delays,
				    _("the payment processor stopped before answering; "
				      "nothing was done"));
		g_clear_pointer(&self->delays, vb_sim_delays_free);
	}
}

static void
vb_sim_payment_shutdown(VbPlugin *plugin)
{
	VbSimPayment *self = VB_SIM_PAYMENT(plugin);

	g_clear_pointer(&self->routes, vb_sim_routes_free);
	vb_sim_payment_stop_delays(self);
}

static gboolean
vb_sim_payment_reload(VbPlugin *plugin, GError **error)
{
	vb_sim_payment_load_settings(VB_SIM_PAYMENT(plugin));
	return TRUE;
}

static void
vb_sim_payment_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	VbSimPayment *self = VB_SIM_PAYMENT(plugin);

	g_variant_builder_add(builder, "{sv}", "down", g_variant_new_boolean(self->down));
	g_variant_builder_add(builder, "{sv}", "decline-next",
			      g_variant_new_int64(self->decline_next));
	g_variant_builder_add(builder, "{sv}", "approved", g_variant_new_uint64(self->approved));
	g_variant_builder_add(builder, "{sv}", "declined", g_variant_new_uint64(self->declined));
	g_variant_builder_add(builder, "{sv}", "pending",
			      g_variant_new_uint32(self->delays != NULL
						       ? vb_sim_delays_get_pending(self->delays)
						       : 0));
}

static VbPaymentCapabilities
vb_sim_payment_get_capabilities(VbPaymentProcessor *processor)
{
	VbSimPayment *self = VB_SIM_PAYMENT(processor);
	return self->cancel_by_reference ? VB_PAYMENT_CAPABILITY_CANCEL_BY_REFERENCE
					 : VB_PAYMENT_CAPABILITY_NONE;
}

static void
vb_sim_payment_payment_processor_iface_init(VbPaymentProcessorInterface *iface)
{
	iface->execute_async = vb_sim_payment_execute_async;
	iface->execute_finish = vb_sim_payment_execute_finish;
	iface->get_capabilities = vb_sim_payment_get_capabilities;
}

static void
vb_sim_payment_dispose(GObject *object)
{
	VbSimPayment *self = VB_SIM_PAYMENT(object);

	g_clear_pointer(&self->routes, vb_sim_routes_free);
	vb_sim_payment_stop_delays(self);
	G_OBJECT_CLASS(vb_sim_payment_parent_class)->dispose(object);
}

static void
vb_sim_payment_finalize(GObject *object)
{
	VbSimPayment *self = VB_SIM_PAYMENT(object);

	vb_sim_payment_sql_clear(&self->sql);
	g_strfreev(self->decline_tokens);
	G_OBJECT_CLASS(vb_sim_payment_parent_class)->finalize(object);
}

static void
vb_sim_payment_init(VbSimPayment *self)
{
}

static void
vb_sim_payment_class_init(VbSimPaymentClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);

	object_class->dispose = vb_sim_payment_dispose;
	object_class->finalize = vb_sim_payment_finalize;
	plugin_class->startup = vb_sim_payment_startup;
	plugin_class->shutdown = vb_sim_payment_shutdown;
	plugin_class->reload = vb_sim_payment_reload;
	plugin_class->get_status = vb_sim_payment_get_status;
	vb_plugin_class_add_settings(plugin_class, vb_sim_payment_settings,
				     G_N_ELEMENTS(vb_sim_payment_settings));
}

VB_PLUGIN_DEFINE(vb_sim_payment_get_type)
