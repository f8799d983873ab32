/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>
#include <sys/random.h>

#include "vb-emv.h"
#include "vb-error.h"
#include "vb-tlv.h"

/*
 * The EMV contactless read, as a terminal that only wants to know who the
 * card is: SELECT PPSE, pick an application, SELECT it, GET PROCESSING
 * OPTIONS with a zero amount, READ RECORD over the AFL, and keep the PAN,
 * the expiry, the PAN sequence number and the language. Nothing here knows
 * libnfc: the APDUs go through a function, so the tests drive the same code
 * with an emulated card. Answers are wiped as soon as they are parsed; the
 * log names commands, tags, lengths and status words, never a value.
 */

#define VB_EMV_MAX_CANDIDATES 8
#define VB_EMV_MAX_AID_LEN 16
#define VB_EMV_MAX_RECORDS 64
#define VB_EMV_SW_OK 0x9000

typedef struct {
	guint8 aid[VB_EMV_MAX_AID_LEN];
	gsize aid_len;
	guint priority; /* 1 is the highest; 0 means none given, the lowest */
	guint order;
} VbEmvCandidate;

typedef struct {
	VbEmvTransceiveFunc func;
	gpointer user_data;
	VbEmvStats *stats;
	guint8 rapdu[VB_EMV_RAPDU_MAX];
	gsize rapdu_len; /* without the status word */
	guint16 sw;
} VbEmvSession;

/* the applications tried, in this order, when the card has no PPSE */
static const struct {
	const gchar *aid;
	const gchar *scheme;
} vb_emv_known[] = {
    {"A0000000031010", "visa"},	   {"A0000000032010", "visa"},	   {"A0000000041010", "mastercard"},
    {"A0000000043060", "maestro"}, {"A00000002501", "amex"},	   {"A0000000421010", "cb"},
    {"A0000000651010", "jcb"},	   {"A0000001523010", "discover"}, {"A000000333010101", "unionpay"},
};

/* the scheme of a registered application provider, by RID */
static const struct {
	const gchar *rid;
	const gchar *scheme;
} vb_emv_rids[] = {
    {"A000000003", "visa"},	{"A000000004", "mastercard"}, {"A000000025", "amex"},
    {"A000000042", "cb"},	{"A000000065", "jcb"},	      {"A000000152", "discover"},
    {"A000000324", "discover"}, {"A000000333", "unionpay"},   {"A000000277", "interac"},
};

static void
vb_emv_session_wipe(VbEmvSession *session)
{
	explicit_bzero(session->rapdu, sizeof(session->rapdu));
	session->rapdu_len = 0;
}

static gsize
vb_emv_hex_to_bytes(const gchar *hex, guint8 *out, gsize out_size)
{
	gsize len = strlen(hex);

	if (len % 2 != 0 || len / 2 > out_size)
		return 0;
	for (gsize i = 0; i < len; i += 2) {
		gint hi = g_ascii_xdigit_value(hex[i]);
		gint lo = g_ascii_xdigit_value(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		out[i / 2] = (guint8)(hi << 4 | lo);
	}
	return len / 2;
}

static void
vb_emv_bytes_to_hex(const guint8 *buf, gsize len, gchar *out, gsize out_size)
{
	static const gchar digits[] = "0123456789ABCDEF";
	gsize i;

	for (i = 0; i < len && 2 * i + 2 < out_size; i++) {
		out[2 * i] = digits[buf[i] >> 4];
		out[2 * i + 1] = digits[buf[i] & 0x0f];
	}
	out[2 * i] = '\0';
}

/**
 * vb_emv_scheme_from_aid:
 * @aid: an application identifier
 * @aid_len: its length
 *
 * Returns: the scheme, such as `visa`, or `unknown`
 */
const gchar *
vb_emv_scheme_from_aid(const guint8 *aid, gsize aid_len)
{
	gchar hex[2 * VB_EMV_MAX_AID_LEN + 1];

	if (aid_len < 5 || aid_len > VB_EMV_MAX_AID_LEN)
		return "unknown";
	vb_emv_bytes_to_hex(aid, aid_len, hex, sizeof(hex));
	if (g_str_has_prefix(hex, "A0000000043060"))
		return "maestro";
	for (guint i = 0; i < G_N_ELEMENTS(vb_emv_rids); i++) {
		if (g_str_has_prefix(hex, vb_emv_rids[i].rid))
			return vb_emv_rids[i].scheme;
	}
	return "unknown";
}

/* sends a command; 61xx (more data) and 6Cxx (wrong Le) are followed up
 * here, as ISO 7816-4 asks of the terminal */
static gboolean
vb_emv_transceive(VbEmvSession *session,
		  const gchar *what,
		  const guint8 *capdu,
		  gsize capdu_len,
		  GError **error)
{
	guint8 cmd[261];
	gsize cmd_len = capdu_len;
	gsize len = 0;

	g_assert(capdu_len <= sizeof(cmd));
	memcpy(cmd, capdu, capdu_len);
	vb_emv_session_wipe(session);
	for (guint attempt = 0; attempt < 4; attempt++) {
		guint8 sw1, sw2;
		if (!session->func(cmd, cmd_len, session->rapdu, sizeof(session->rapdu), &len,
				   session->user_data, error)) {
			explicit_bzero(cmd, sizeof(cmd));
			vb_emv_session_wipe(session);
			g_prefix_error(error, "%s: ", what);
			return FALSE;
		}
		session->stats->apdus++;
		if (len < 2 || len > sizeof(session->rapdu)) {
			explicit_bzero(cmd, sizeof(cmd));
			vb_emv_session_wipe(session);
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "%s: an answer of %" G_GSIZE_FORMAT " bytes has no status word",
				    what, len);
			return FALSE;
		}
		sw1 = session->rapdu[len - 2];
		sw2 = session->rapdu[len - 1];
		session->sw = (guint16)(sw1 << 8 | sw2);
		session->rapdu_len = len - 2;
		session->stats->last_sw = session->sw;
		if (sw1 == 0x61) {
			/* GET RESPONSE */
			const guint8 get_response[] = {0x00, 0xc0, 0x00, 0x00, sw2};
			memcpy(cmd, get_response, sizeof(get_response));
			cmd_len = sizeof(get_response);
			continue;
		}
		if (sw1 == 0x6c && cmd_len >= 5) {
			cmd[cmd_len - 1] = sw2;
			continue;
		}
		break;
	}
	explicit_bzero(cmd, sizeof(cmd));
	g_debug("%s: status %04X, %" G_GSIZE_FORMAT " bytes", what, session->sw,
		session->rapdu_len);
	return TRUE;
}

static gboolean
vb_emv_check_sw(VbEmvSession *session, const gchar *what, GError **error)
{
	if (session->sw == VB_EMV_SW_OK)
		return TRUE;
	g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA, "%s: the card answered status %04X",
		    what, session->sw);
	vb_emv_session_wipe(session);
	return FALSE;
}

static gboolean
vb_emv_select(VbEmvSession *session,
	      const gchar *what,
	      const guint8 *name,
	      gsize name_len,
	      GError **error)
{
	guint8 capdu[5 + VB_EMV_MAX_AID_LEN + 1] = {0x00, 0xa4, 0x04, 0x00};

	g_assert(name_len <= VB_EMV_MAX_AID_LEN);
	capdu[4] = (guint8)name_len;
	memcpy(capdu + 5, name, name_len);
	capdu[5 + name_len] = 0x00;
	return vb_emv_transceive(session, what, capdu, 6 + name_len, error);
}

/* the applications listed in the PPSE's FCI, in the card's order */
static gboolean
vb_emv_parse_ppse(const guint8 *fci,
		  gsize fci_len,
		  VbEmvCandidate *candidates,
		  guint *n_candidates,
		  GError **error)
{
	VbTlv dir = {0};
	gsize offset = 0;

	*n_candidates = 0;
	if (!vb_tlv_find(fci, fci_len, 0xbf0c, &dir, error)) {
		g_prefix_error(error, "SELECT PPSE: ");
		return FALSE;
	}
	while (dir.tag != 0 && offset < dir.len) {
		VbTlv entry;
		VbTlv aid = {0};
		VbTlv priority = {0};
		VbEmvCandidate *c;

		if (!vb_tlv_next(dir.value, dir.len, &offset, &entry, error)) {
			g_prefix_error(error, "SELECT PPSE: ");
			return FALSE;
		}
		if (entry.tag == 0)
			break;
		if (entry.tag != 0x61)
			continue;
		if (!vb_tlv_find(entry.value, entry.len, 0x4f, &aid, error) ||
		    (aid.tag != 0 &&
		     !vb_tlv_find(entry.value, entry.len, 0x87, &priority, error))) {
			g_prefix_error(error, "SELECT PPSE: ");
			return FALSE;
		}
		if (aid.tag == 0 || aid.len < 5 || aid.len > VB_EMV_MAX_AID_LEN) {
			g_debug("SELECT PPSE: skipping an entry with an AID of %" G_GSIZE_FORMAT
				" bytes",
				aid.len);
			continue;
		}
		if (*n_candidates >= VB_EMV_MAX_CANDIDATES)
			break;
		c = &candidates[(*n_candidates)++];
		memcpy(c->aid, aid.value, aid.len);
		c->aid_len = aid.len;
		c->priority = priority.len == 1 ? (priority.value[0] & 0x0f) : 0;
		c->order = *n_candidates;
	}
	return TRUE;
}

static gint
vb_emv_candidate_cmp(gconstpointer a, gconstpointer b)
{
	const VbEmvCandidate *ca = a;
	const VbEmvCandidate *cb = b;
	guint pa = ca->priority == 0 ? 16 : ca->priority;
	guint pb = cb->priority == 0 ? 16 : cb->priority;

	if (pa != pb)
		return pa < pb ? -1 : 1;
	return ca->order < cb->order ? -1 : 1;
}

/* orders the candidates: first those the configuration prefers, in its
 * order, then the others by the card's priority */
static void
vb_emv_order_candidates(VbEmvCandidate *candidates, guint n, const gchar *const *preference)
{
	guint rank_base = 0;

	qsort(candidates, n, sizeof(*candidates), vb_emv_candidate_cmp);
	if (preference == NULL || preference[0] == NULL)
		return;
	for (guint i = 0; i < n; i++)
		candidates[i].order = 1000 + i;
	for (guint p = 0; preference[p] != NULL; p++) {
		guint8 pref[VB_EMV_MAX_AID_LEN];
		gsize pref_len = vb_emv_hex_to_bytes(preference[p], pref, sizeof(pref));
		if (pref_len == 0)
			continue;
		for (guint i = 0; i < n; i++) {
			if (candidates[i].order >= 1000 && candidates[i].aid_len >= pref_len &&
			    memcmp(candidates[i].aid, pref, pref_len) == 0)
				candidates[i].order = rank_base++;
		}
	}
	for (guint i = 0; i < n; i++)
		candidates[i].priority = 0;
	qsort(candidates, n, sizeof(*candidates), vb_emv_candidate_cmp);
}

/* numeric (format n) data objects: truncated and padded on the left */
static gboolean
vb_emv_tag_is_numeric(guint32 tag)
{
	switch (tag) {
	case 0x9f02:
	case 0x9f03:
	case 0x9f1a:
	case 0x5f2a:
	case 0x9a:
	case 0x9c:
	case 0x9f21:
		return TRUE;
	default:
		return FALSE;
	}
}

static void
vb_emv_bcd(guint value, guint8 *out, gsize len)
{
	for (gsize i = len; i > 0; i--) {
		guint8 lo = value % 10;
		guint8 hi = (value / 10) % 10;
		out[i - 1] = (guint8)(hi << 4 | lo);
		value /= 100;
	}
}

/* the terminal's value for a PDOL entry, in @value (up to 8 bytes) */
static gboolean
vb_emv_terminal_value(const VbEmvTerminal *terminal,
		      guint32 tag,
		      guint8 *value,
		      gsize *len,
		      GError **error)
{
	g_autoptr(GDateTime) now = NULL;

	memset(value, 0, 8);
	*len = 0;
	switch (tag) {
	case 0x9f66: /* terminal transaction qualifiers */
		memcpy(value, terminal->ttq, 4);
		*len = 4;
		break;
	case 0x9f02: /* amount, authorised: none, this is not a payment */
	case 0x9f03: /* amount, other */
		*len = 6;
		break;
	case 0x9f1a: /* terminal country code */
		vb_emv_bcd(terminal->country, value, 2);
		*len = 2;
		break;
	case 0x5f2a: /* transaction currency code */
		vb_emv_bcd(terminal->currency, value, 2);
		*len = 2;
		break;
	case 0x9a: /* transaction date, YYMMDD */
		now = g_date_time_new_now_utc();
		vb_emv_bcd((guint)(g_date_time_get_year(now) % 100), value, 1);
		vb_emv_bcd((guint)g_date_time_get_month(now), value + 1, 1);
		vb_emv_bcd((guint)g_date_time_get_day_of_month(now), value + 2, 1);
		*len = 3;
		break;
	case 0x9f21: /* transaction time, HHMMSS */
		now = g_date_time_new_now_utc();
		vb_emv_bcd((guint)g_date_time_get_hour(now), value, 1);
		vb_emv_bcd((guint)g_date_time_get_minute(now), value + 1, 1);
		vb_emv_bcd((guint)g_date_time_get_second(now), value + 2, 1);
		*len = 3;
		break;
	case 0x9c: /* transaction type: goods and services */
		*len = 1;
		break;
	case 0x9f35: /* terminal type: unattended, online only, merchant */
		value[0] = 0x24;
		*len = 1;
		break;
	case 0x9f37: /* unpredictable number, from the kernel's CSPRNG */
		if (getrandom(value, 4, 0) != 4) {
			g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
					    "no random bytes for the unpredictable number");
			return FALSE;
		}
		*len = 4;
		break;
	default: /* TVR, terminal capabilities and the rest: zeros of the length asked */
		break;
	}
	return TRUE;
}

/* the GET PROCESSING OPTIONS command data: tag 83 and the PDOL's values */
static gboolean
vb_emv_build_gpo(const VbEmvTerminal *terminal,
		 const guint8 *pdol,
		 gsize pdol_len,
		 guint8 *capdu,
		 gsize capdu_size,
		 gsize *capdu_len,
		 GError **error)
{
	gsize offset = 0;
	gsize data_len = 0;
	guint8 *data = capdu + 7;
	gsize data_max = capdu_size - 8;

	for (;;) {
		guint32 tag;
		gsize want;
		guint8 value[8];
		gsize have;

		if (!vb_dol_next(pdol, pdol_len, &offset, &tag, &want, error)) {
			g_prefix_error(error, "PDOL: ");
			return FALSE;
		}
		if (tag == 0)
			break;
		if (want > data_max - data_len || data_len + want > 0x7f) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "PDOL: the card asks for more than %d bytes", 0x7f);
			return FALSE;
		}
		if (!vb_emv_terminal_value(terminal, tag, value, &have, error))
			return FALSE;
		memset(data + data_len, 0, want);
		if (have > 0) {
			gsize n = MIN(have, want);
			if (vb_emv_tag_is_numeric(tag))
				memcpy(data + data_len + want - n, value + have - n, n);
			else
				memcpy(data + data_len, value, n);
		}
		data_len += want;
	}
	capdu[0] = 0x80;
	capdu[1] = 0xa8;
	capdu[2] = 0x00;
	capdu[3] = 0x00;
	capdu[4] = (guint8)(data_len + 2);
	capdu[5] = 0x83;
	capdu[6] = (guint8)data_len;
	capdu[7 + data_len] = 0x00;
	*capdu_len = 8 + data_len;
	return TRUE;
}

/* what the records and the GPO answer give; wiped by the caller */
typedef struct {
	gchar pan[20];
	gchar track2_pan[20];
	gchar expiry[5];
	gchar track2_expiry[5];
	gint pan_sequence;
} VbEmvCardData;

/* BCD digits up to the first F nibble (or a D separator, for track 2) */
static gboolean
vb_emv_bcd_digits(const guint8 *buf, gsize len, gboolean track2, gchar *out, gsize out_size)
{
	gsize n = 0;

	for (gsize i = 0; i < 2 * len; i++) {
		guint8 nibble = (i % 2 == 0) ? buf[i / 2] >> 4 : buf[i / 2] & 0x0f;
		if (nibble == 0x0f || (track2 && nibble == 0x0d))
			break;
		if (nibble > 9 || n + 1 >= out_size) {
			explicit_bzero(out, out_size);
			return FALSE;
		}
		out[n++] = (gchar)('0' + nibble);
	}
	out[n] = '\0';
	return n > 0;
}

static gboolean
vb_emv_collect(const guint8 *buf, gsize len, const gchar *what, VbEmvCardData *data, GError **error)
{
	VbTlv tlv = {0};

	if (!vb_tlv_validate(buf, len, error)) {
		g_prefix_error(error, "%s: ", what);
		return FALSE;
	}
	if (data->pan[0] == '\0' && vb_tlv_find(buf, len, 0x5a, &tlv, NULL) && tlv.tag != 0) {
		if (!vb_emv_bcd_digits(tlv.value, tlv.len, FALSE, data->pan, sizeof(data->pan))) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "%s: tag 5A of %" G_GSIZE_FORMAT " bytes is not a card number",
				    what, tlv.len);
			return FALSE;
		}
	}
	if (data->track2_pan[0] == '\0' && vb_tlv_find(buf, len, 0x57, &tlv, NULL) &&
	    tlv.tag != 0) {
		gchar digits[40];
		gsize pan_len;
		if (!vb_emv_bcd_digits(tlv.value, tlv.len, TRUE, digits, sizeof(digits))) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "%s: tag 57 of %" G_GSIZE_FORMAT " bytes is not track 2 data",
				    what, tlv.len);
			return FALSE;
		}
		pan_len = strlen(digits);
		/* the separator follows the PAN, then YYMM */
		if (pan_len < sizeof(data->track2_pan) && pan_len < 2 * tlv.len &&
		    ((pan_len % 2 == 0 ? tlv.value[pan_len / 2] >> 4
				       : tlv.value[pan_len / 2] & 0x0f) == 0x0d)) {
			gchar rest[40];
			memcpy(data->track2_pan, digits, pan_len + 1);
			/* the digits after the separator, read as if it were not there */
			for (gsize i = pan_len + 1, n = 0; i < 2 * tlv.len && n < 4; i++, n++) {
				guint8 nibble =
				    (i % 2 == 0) ? tlv.value[i / 2] >> 4 : tlv.value[i / 2] & 0x0f;
				if (nibble > 9)
					break;
				rest[n] = (gchar)('0' + nibble);
				rest[n + 1] = '\0';
				if (n == 3)
					memcpy(data->track2_expiry, rest, 5);
			}
			explicit_bzero(rest, sizeof(rest));
		}
		explicit_bzero(digits, sizeof(digits));
		if (data->track2_pan[0] == '\0') {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "%s: tag 57 of %" G_GSIZE_FORMAT " bytes has no separator",
				    what, tlv.len);
			return FALSE;
		}
	}
	if (data->expiry[0] == '\0' && vb_tlv_find(buf, len, 0x5f24, &tlv, NULL) && tlv.tag != 0) {
		gchar digits[8];
		if (tlv.len != 3 ||
		    !vb_emv_bcd_digits(tlv.value, 2, FALSE, digits, sizeof(digits)) ||
		    strlen(digits) != 4) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "%s: tag 5F24 of %" G_GSIZE_FORMAT " bytes is not a date", what,
				    tlv.len);
			return FALSE;
		}
		memcpy(data->expiry, digits, 5);
	}
	if (data->pan_sequence < 0 && vb_tlv_find(buf, len, 0x5f34, &tlv, NULL) && tlv.tag != 0) {
		if (tlv.len != 1 || (tlv.value[0] >> 4) > 9 || (tlv.value[0] & 0x0f) > 9) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "%s: tag 5F34 of %" G_GSIZE_FORMAT " bytes is not a number",
				    what, tlv.len);
			return FALSE;
		}
		data->pan_sequence = (tlv.value[0] >> 4) * 10 + (tlv.value[0] & 0x0f);
	}
	return TRUE;
}

/* the first language of 5F2D: two letters, lower case */
static void
vb_emv_take_language(const VbTlv *tlv, VbCardRead *read)
{
	if (tlv->tag == 0 || tlv->len < 2 || !g_ascii_isalpha(tlv->value[0]) ||
	    !g_ascii_isalpha(tlv->value[1]))
		return;
	read->language[0] = g_ascii_tolower(tlv->value[0]);
	read->language[1] = g_ascii_tolower(tlv->value[1]);
	read->language[2] = '\0';
}

/* selects the first candidate the card accepts; keeps its FCI's PDOL and language */
static gboolean
vb_emv_select_application(VbEmvSession *session,
			  const VbEmvCandidate *candidates,
			  guint n,
			  guint8 *pdol,
			  gsize *pdol_len,
			  VbCardRead *read,
			  GError **error)
{
	for (guint i = 0; i < n; i++) {
		VbTlv tlv = {0};
		vb_emv_bytes_to_hex(candidates[i].aid, candidates[i].aid_len, session->stats->aid,
				    sizeof(session->stats->aid));
		if (!vb_emv_select(session, "SELECT AID", candidates[i].aid, candidates[i].aid_len,
				   error))
			return FALSE;
		if (session->sw != VB_EMV_SW_OK) {
			g_debug("SELECT AID %s: status %04X, trying the next", session->stats->aid,
				session->sw);
			continue;
		}
		if (!vb_tlv_find(session->rapdu, session->rapdu_len, 0x9f38, &tlv, error)) {
			g_prefix_error(error, "SELECT AID: ");
			vb_emv_session_wipe(session);
			return FALSE;
		}
		*pdol_len = 0;
		if (tlv.tag != 0) {
			if (tlv.len > 0x7f) {
				g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
					    "SELECT AID: a PDOL of %" G_GSIZE_FORMAT " bytes",
					    tlv.len);
				vb_emv_session_wipe(session);
				return FALSE;
			}
			memcpy(pdol, tlv.value, tlv.len);
			*pdol_len = tlv.len;
		}
		if (vb_tlv_find(session->rapdu, session->rapdu_len, 0x5f2d, &tlv, NULL))
			vb_emv_take_language(&tlv, read);
		g_strlcpy(read->scheme,
			  vb_emv_scheme_from_aid(candidates[i].aid, candidates[i].aid_len),
			  sizeof(read->scheme));
		vb_emv_session_wipe(session);
		return TRUE;
	}
	session->stats->aid[0] = '\0';
	g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
			    "the card refused every payment application it lists");
	return FALSE;
}

/* reads every record the AFL names */
static gboolean
vb_emv_read_records(VbEmvSession *session,
		    const guint8 *afl,
		    gsize afl_len,
		    VbEmvCardData *data,
		    GError **error)
{
	if (afl_len % 4 != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "GPO: an AFL of %" G_GSIZE_FORMAT " bytes", afl_len);
		return FALSE;
	}
	for (gsize i = 0; i < afl_len; i += 4) {
		guint sfi = afl[i] >> 3;
		guint first = afl[i + 1];
		guint last = afl[i + 2];

		if (sfi == 0 || sfi > 30 || first == 0 || last < first) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "GPO: AFL entry %" G_GSIZE_FORMAT " is invalid", i / 4);
			return FALSE;
		}
		for (guint rec = first; rec <= last; rec++) {
			guint8 capdu[] = {0x00, 0xb2, (guint8)rec, (guint8)(sfi << 3 | 4), 0x00};
			g_autofree gchar *what = g_strdup_printf("READ RECORD %u/%u", sfi, rec);
			VbTlv tlv = {0};

			if (session->stats->records >= VB_EMV_MAX_RECORDS) {
				g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
					    "GPO: the AFL names more than %d records",
					    VB_EMV_MAX_RECORDS);
				return FALSE;
			}
			if (!vb_emv_transceive(session, what, capdu, sizeof(capdu), error) ||
			    !vb_emv_check_sw(session, what, error))
				return FALSE;
			session->stats->records++;
			if (!vb_tlv_find(session->rapdu, session->rapdu_len, 0x70, &tlv, error) ||
			    tlv.tag == 0) {
				if (error != NULL && *error == NULL)
					g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
						    "%s: no record template (70)", what);
				else
					g_prefix_error(error, "%s: ", what);
				vb_emv_session_wipe(session);
				return FALSE;
			}
			if (!vb_emv_collect(tlv.value, tlv.len, what, data, error)) {
				vb_emv_session_wipe(session);
				return FALSE;
			}
			vb_emv_session_wipe(session);
		}
	}
	return TRUE;
}

/* GET PROCESSING OPTIONS; gives the AFL, and collects what format 2 carries */
static gboolean
vb_emv_gpo(VbEmvSession *session,
	   const VbEmvTerminal *terminal,
	   const guint8 *pdol,
	   gsize pdol_len,
	   guint8 *afl,
	   gsize *afl_len,
	   VbEmvCardData *data,
	   GError **error)
{
	guint8 capdu[8 + 0x7f];
	gsize capdu_len = 0;
	gsize offset = 0;
	VbTlv tlv = {0};

	if (!vb_emv_build_gpo(terminal, pdol, pdol_len, capdu, sizeof(capdu), &capdu_len, error))
		return FALSE;
	if (!vb_emv_transceive(session, "GPO", capdu, capdu_len, error)) {
		explicit_bzero(capdu, sizeof(capdu));
		return FALSE;
	}
	explicit_bzero(capdu, sizeof(capdu));
	if (!vb_emv_check_sw(session, "GPO", error))
		return FALSE;
	if (!vb_tlv_next(session->rapdu, session->rapdu_len, &offset, &tlv, error)) {
		g_prefix_error(error, "GPO: ");
		vb_emv_session_wipe(session);
		return FALSE;
	}
	*afl_len = 0;
	if (tlv.tag == 0x80) {
		/* format 1: the AIP, two bytes, then the AFL */
		if (tlv.len < 2 || tlv.len - 2 > 252) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    "GPO: a format 1 answer of %" G_GSIZE_FORMAT " bytes", tlv.len);
			vb_emv_session_wipe(session);
			return FALSE;
		}
		memcpy(afl, tlv.value + 2, tlv.len - 2);
		*afl_len = tlv.len - 2;
	} else if (tlv.tag == 0x77) {
		/* format 2: a template that may already hold card data */
		VbTlv afl_tlv = {0};
		if (!vb_emv_collect(tlv.value, tlv.len, "GPO", data, error)) {
			vb_emv_session_wipe(session);
			return FALSE;
		}
		if (vb_tlv_find(tlv.value, tlv.len, 0x94, &afl_tlv, NULL) && afl_tlv.tag != 0) {
			if (afl_tlv.len > 252) {
				vb_emv_session_wipe(session);
				g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
						    "GPO: the AFL is too long");
				return FALSE;
			}
			memcpy(afl, afl_tlv.value, afl_tlv.len);
			*afl_len = afl_tlv.len;
		}
	} else {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "GPO: an answer of tag %X, neither format 1 (80) nor 2 (77)", tlv.tag);
		vb_emv_session_wipe(session);
		return FALSE;
	}
	vb_emv_session_wipe(session);
	return TRUE;
}

/**
 * vb_emv_terminal_init:
 * @terminal: the terminal data to fill
 *
 * Sets the defaults of a contactless terminal that reads cards without
 * taking a payment: EMV mode, online capable, no amount.
 */
void
vb_emv_terminal_init(VbEmvTerminal *terminal)
{
	memset(terminal, 0, sizeof(*terminal));
	/* EMV mode supported, online capable, no CVM, no signature */
	terminal->ttq[0] = 0x20;
	terminal->ttq[1] = 0x00;
	terminal->ttq[2] = 0x00;
	terminal->ttq[3] = 0x00;
	terminal->country = 250;
	terminal->currency = 978;
}

static void
vb_emv_read_wipe(VbEmvCardData *data, guint8 *afl, gsize afl_size)
{
	explicit_bzero(data, sizeof(*data));
	explicit_bzero(afl, afl_size);
}

/**
 * vb_emv_read_card:
 * @func: sends an APDU to the card in the field
 * @user_data: for @func
 * @terminal: the terminal's data for the PDOL
 * @read: (out): the card; the caller hands it to vb_card_reader_present()
 * @stats: (out): the APDUs and records it took, for the log
 * @error: return location for a #GError
 *
 * Runs the whole EMV read. On failure @read is wiped.
 *
 * Returns: %TRUE if @read holds a card number
 */
gboolean
vb_emv_read_card(VbEmvTransceiveFunc func,
		 gpointer user_data,
		 const VbEmvTerminal *terminal,
		 VbCardRead *read,
		 VbEmvStats *stats,
		 GError **error)
{
	static const guint8 ppse[] = "2PAY.SYS.DDF01";
	g_autofree VbEmvSession *session = g_new0(VbEmvSession, 1);
	VbEmvCandidate candidates[VB_EMV_MAX_CANDIDATES];
	guint n_candidates = 0;
	guint8 pdol[0x80];
	gsize pdol_len = 0;
	guint8 afl[256];
	gsize afl_len = 0;
	VbEmvCardData data = {.pan_sequence = -1};
	const gchar *pan;
	const gchar *expiry;

	memset(read, 0, sizeof(*read));
	memset(stats, 0, sizeof(*stats));
	read->kind = VB_CARD_KIND_PAYMENT;
	read->pan_sequence = -1;
	session->func = func;
	session->user_data = user_data;
	session->stats = stats;

	/* the directory of the card's contactless applications */
	if (!vb_emv_select(session, "SELECT PPSE", ppse, sizeof(ppse) - 1, error))
		return FALSE;
	if (session->sw == VB_EMV_SW_OK) {
		if (!vb_emv_parse_ppse(session->rapdu, session->rapdu_len, candidates,
				       &n_candidates, error)) {
			vb_emv_session_wipe(session);
			return FALSE;
		}
	}
	vb_emv_session_wipe(session);
	if (n_candidates == 0) {
		/* no PPSE: the applications a door reader knows */
		g_debug("SELECT PPSE: status %04X, no application listed; trying known AIDs",
			session->sw);
		for (guint i = 0; i < G_N_ELEMENTS(vb_emv_known); i++) {
			VbEmvCandidate *c = &candidates[n_candidates];
			if (n_candidates >= VB_EMV_MAX_CANDIDATES)
				break;
			c->aid_len =
			    vb_emv_hex_to_bytes(vb_emv_known[i].aid, c->aid, sizeof(c->aid));
			c->priority = 0;
			c->order = ++n_candidates;
		}
	}
	vb_emv_order_candidates(candidates, n_candidates, terminal->aid_preference);

	if (!vb_emv_select_application(session, candidates, n_candidates, pdol, &pdol_len, read,
				       error) ||
	    !vb_emv_gpo(session, terminal, pdol, pdol_len, afl, &afl_len, &data, error) ||
	    !vb_emv_read_records(session, afl, afl_len, &data, error)) {
		vb_emv_read_wipe(&data, afl, sizeof(afl));
		vb_emv_session_wipe(session);
		explicit_bzero(read, sizeof(*read));
		return FALSE;
	}

	/* the PAN from 5A, or from track 2 when the card gives only that */
	pan = data.pan[0] != '\0' ? data.pan : data.track2_pan;
	expiry = data.expiry[0] != '\0' ? data.expiry : data.track2_expiry;
	if (pan[0] == '\0') {
		vb_emv_read_wipe(&data, afl, sizeof(afl));
		explicit_bzero(read, sizeof(*read));
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "the card gave no card number (neither 5A nor 57) in %u records",
			    stats->records);
		return FALSE;
	}
	g_strlcpy(read->pan, pan, sizeof(read->pan));
	if (strlen(expiry) == 4)
		memcpy(read->expiry, expiry, 5);
	read->pan_sequence = data.pan_sequence;
	vb_emv_read_wipe(&data, afl, sizeof(afl));
	return TRUE;
}

/* ISO 3166-1 numeric codes of the stores' likely countries */
static const struct {
	const gchar *alpha;
	guint16 numeric;
} vb_emv_countries[] = {
    {"AT", 40},	 {"BE", 56},  {"CA", 124}, {"CH", 756}, {"CZ", 203}, {"DE", 276}, {"DK", 208},
    {"ES", 724}, {"FI", 246}, {"FR", 250}, {"GB", 826}, {"GR", 300}, {"IE", 372}, {"IT", 380},
    {"LU", 442}, {"NL", 528}, {"NO", 578}, {"PL", 616}, {"PT", 620}, {"SE", 752}, {"US", 840},
};

static const struct {
	const gchar *alpha;
	guint16 numeric;
} vb_emv_currencies[] = {
    {"CAD", 124}, {"CHF", 756}, {"CZK", 203}, {"DKK", 208}, {"EUR", 978},
    {"GBP", 826}, {"NOK", 578}, {"PLN", 985}, {"SEK", 752}, {"USD", 840},
};

/**
 * vb_emv_country_from_alpha2:
 * @alpha2: an ISO 3166-1 alpha-2 code, such as `FR`
 *
 * Returns: its numeric code, or 0 if it is not in the table
 */
guint16
vb_emv_country_from_alpha2(const gchar *alpha2)
{
	for (guint i = 0; alpha2 != NULL && i < G_N_ELEMENTS(vb_emv_countries); i++) {
		if (g_ascii_strcasecmp(alpha2, vb_emv_countries[i].alpha) == 0)
			return vb_emv_countries[i].numeric;
	}
	return 0;
}

/**
 * vb_emv_currency_from_alpha3:
 * @alpha3: an ISO 4217 code, such as `EUR`
 *
 * Returns: its numeric code, or 0 if it is not in the table
 */
guint16
vb_emv_currency_from_alpha3(const gchar *alpha3)
{
	for (guint i = 0; alpha3 != NULL && i < G_N_ELEMENTS(vb_emv_currencies); i++) {
		if (g_ascii_strcasecmp(alpha3, vb_emv_currencies[i].alpha) == 0)
			return vb_emv_currencies[i].numeric;
	}
	return 0;
}
