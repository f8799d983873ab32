/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "vb-emu-card.h"

/*
 * The emulated cards: each a table from command to answer, written as the
 * card's applet would answer, TLV by TLV. They stand for the list:
 * a Visa with a PDOL answering GPO in format 2, a Mastercard in format 1 with
 * records in two SFIs, a card with its PAN only in track 2, a French card,
 * a co-badged card with two applications, malformed cards and a MIFARE tag.
 */

#define PPSE_AID "325041592E5359532E4444463031"
#define AID_VISA "A0000000031010"
#define AID_MC "A0000000041010"
#define AID_CB "A0000000421010"
#define ATS "0578807002"
#define VISA_PDOL "9F66049F02069F03069F1A0295055F2A029A039C019F3704"

/* one TLV, as hex; takes the value pieces (owned, NULL-terminated) */
static gchar *
tlv(const gchar *tag, ...)
{
	g_autoptr(GString) value = g_string_new(NULL);
	va_list args;
	gchar *piece;
	gsize len;

	va_start(args, tag);
	while ((piece = va_arg(args, gchar *)) != NULL) {
		g_string_append(value, piece);
		g_free(piece);
	}
	va_end(args);
	len = value->len / 2;
	if (len < 0x80)
		return g_strdup_printf("%s%02X%s", tag, (guint)len, value->str);
	return g_strdup_printf("%s81%02X%s", tag, (guint)len, value->str);
}

static gchar *
H(const gchar *hex)
{
	return g_strdup(hex);
}

static gchar *
ascii(const gchar *text)
{
	GString *out = g_string_new(NULL);
	for (const gchar *p = text; *p != '\0'; p++)
		g_string_append_printf(out, "%02X", (guint8)*p);
	return g_string_free(out, FALSE);
}

static gchar *
ok(gchar *data)
{
	gchar *out = g_strconcat(data, "9000", NULL);
	g_free(data);
	return out;
}

static gchar *
select_cmd(const gchar *aid)
{
	return g_strdup_printf("00A40400%02X%s00", (guint)(strlen(aid) / 2), aid);
}

static gchar *
read_record_cmd(guint sfi, guint rec)
{
	return g_strdup_printf("00B2%02X%02X00", rec, sfi << 3 | 4);
}

static void
add(VbEmuCard *card, gchar *command, gchar *response)
{
	g_hash_table_insert(card->apdus, command, response);
}

static void
hex_to_bytes(const gchar *hex, guint8 *out, gsize *len)
{
	gsize n = strlen(hex) / 2;
	for (gsize i = 0; i < n; i++)
		out[i] = (guint8)(g_ascii_xdigit_value(hex[2 * i]) << 4 |
				  g_ascii_xdigit_value(hex[2 * i + 1]));
	*len = n;
}

static VbEmuCard *
card_new(const gchar *name, const gchar *uid_hex, guint8 sak, const gchar *ats_hex)
{
	VbEmuCard *card = g_new0(VbEmuCard, 1);

	card->name = g_strdup(name);
	card->atqa[0] = 0x00;
	card->atqa[1] = 0x04;
	card->sak = sak;
	hex_to_bytes(uid_hex, card->uid, &card->uid_len);
	if (ats_hex != NULL)
		hex_to_bytes(ats_hex, card->ats, &card->ats_len);
	card->apdus = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	card->last_gpo = g_byte_array_new();
	return card;
}

VbEmuCard *
vb_emu_card_new_tag(const gchar *name, const gchar *uid_hex)
{
	return card_new(name, uid_hex, 0x08, NULL);
}

void
vb_emu_card_free(VbEmuCard *card)
{
	if (card == NULL)
		return;
	g_free(card->name);
	g_hash_table_unref(card->apdus);
	g_byte_array_unref(card->last_gpo);
	g_free(card);
}

gboolean
vb_emu_card_transceive(VbEmuCard *card,
		       const guint8 *capdu,
		       gsize capdu_len,
		       guint8 *rapdu,
		       gsize rapdu_size,
		       gsize *rapdu_len)
{
	g_autoptr(GString) hex = g_string_new(NULL);
	const gchar *response;
	gsize len;

	if (card->gone)
		return FALSE;
	card->n_apdus++;
	for (gsize i = 0; i < capdu_len; i++)
		g_string_append_printf(hex, "%02X", capdu[i]);
	if (g_str_has_prefix(hex->str, "80A80000")) {
		card->n_gpo++;
		g_byte_array_set_size(card->last_gpo, 0);
		g_byte_array_append(card->last_gpo, capdu, capdu_len);
		response = g_hash_table_lookup(card->apdus, "GPO");
	} else {
		if (g_str_has_prefix(hex->str, "00B2") && card->vanish_on_read) {
			card->gone = TRUE;
			return FALSE;
		}
		response = g_hash_table_lookup(card->apdus, hex->str);
	}
	if (response == NULL)
		response = "6A82";
	len = strlen(response) / 2;
	g_assert_cmpuint(len, <=, rapdu_size);
	hex_to_bytes(response, rapdu, rapdu_len);
	return TRUE;
}

static gchar *
ppse_entry(const gchar *aid, const gchar *label, const gchar *priority)
{
	return tlv("61", tlv("4F", H(aid), NULL), tlv("50", ascii(label), NULL),
		   tlv("87", H(priority), NULL), NULL);
}

static void
add_ppse(VbEmuCard *card, gchar *entries)
{
	add(card, select_cmd(PPSE_AID),
	    ok(tlv("6F", tlv("84", H(PPSE_AID), NULL), tlv("A5", tlv("BF0C", entries, NULL), NULL),
		   NULL)));
}

/* the FCI of an application; @pdol and @lang may be NULL */
static gchar *
app_fci(const gchar *aid, const gchar *label, const gchar *pdol, const gchar *lang)
{
	return ok(tlv("6F", tlv("84", H(aid), NULL),
		      tlv("A5", tlv("50", ascii(label), NULL), tlv("87", H("01"), NULL),
			  pdol != NULL ? tlv("9F38", H(pdol), NULL) : H(""),
			  lang != NULL ? tlv("5F2D", ascii(lang), NULL) : H(""), NULL),
		      NULL));
}

static gchar *
gpo_format2(const gchar *afl)
{
	return ok(tlv("77", tlv("82", H("2000"), NULL), tlv("94", H(afl), NULL),
		      tlv("9F10", H("06010A03A00000"), NULL),
		      tlv("9F26", H("0102030405060708"), NULL), NULL));
}

VbEmuCard *
vb_emu_card_visa(void)
{
	VbEmuCard *card = card_new("visa", "08A1B2C3", 0x20, ATS);

	add_ppse(card, ppse_entry(AID_VISA, "VISA CREDIT", "01"));
	add(card, select_cmd(AID_VISA), app_fci(AID_VISA, "VISA CREDIT", VISA_PDOL, "enfr"));
	add(card, g_strdup("GPO"), gpo_format2("08010100"));
	add(card, read_record_cmd(1, 1),
	    ok(tlv("70", tlv("5A", H(VB_EMU_PAN_VISA), NULL), tlv("5F24", H("281231"), NULL),
		   tlv("5F34", H("01"), NULL), tlv("9F07", H("FF00"), NULL), NULL)));
	return card;
}

static void
add_mastercard_app(VbEmuCard *card)
{
	add_ppse(card, ppse_entry(AID_MC, "MASTERCARD", "01"));
	add(card, select_cmd(AID_MC), app_fci(AID_MC, "MASTERCARD", NULL, "de"));
	/* format 1: AIP, then the AFL: SFI 1 record 1, SFI 2 records 1 and 2 */
	add(card, g_strdup("GPO"), ok(tlv("80", H("1980"), H("08010100"), H("10010200"), NULL)));
	add(card, read_record_cmd(1, 1),
	    ok(tlv("70", tlv("5F24", H("271031"), NULL), tlv("5F25", H("220101"), NULL), NULL)));
	add(card, read_record_cmd(2, 1),
	    ok(tlv("70", tlv("5F34", H("00"), NULL), tlv("9F0D", H("B050AC8800"), NULL), NULL)));
	add(card, read_record_cmd(2, 2),
	    ok(tlv("70", tlv("5A", H(VB_EMU_PAN_MC), NULL), tlv("5F28", H("0250"), NULL), NULL)));
}

VbEmuCard *
vb_emu_card_mastercard(void)
{
	VbEmuCard *card = card_new("mastercard", "08C4D5E6", 0x20, ATS);
	add_mastercard_app(card);
	return card;
}

VbEmuCard *
vb_emu_card_track2_only(void)
{
	VbEmuCard *card = card_new("track2-only", "0811F00D", 0x20, ATS);

	add_ppse(card, ppse_entry(AID_VISA, "VISA DEBIT", "01"));
	add(card, select_cmd(AID_VISA), app_fci(AID_VISA, "VISA DEBIT", "9F66049F3704", NULL));
	add(card, g_strdup("GPO"), ok(tlv("80", H("0080"), H("08010100"), NULL)));
	/* the PAN, a D separator, YYMM, the service code, discretionary data */
	add(card, read_record_cmd(1, 1),
	    ok(tlv("70", tlv("57", H(VB_EMU_PAN_TRACK2 "D290520100000000000F"), NULL),
		   tlv("5F20", ascii("TEST/CARD"), NULL), NULL)));
	return card;
}

VbEmuCard *
vb_emu_card_french(void)
{
	VbEmuCard *card = card_new("french", "08FE0001", 0x20, ATS);

	add_ppse(card, ppse_entry(AID_CB, "CB", "01"));
	add(card, select_cmd(AID_CB), app_fci(AID_CB, "CB", VISA_PDOL, "fren"));
	add(card, g_strdup("GPO"), gpo_format2("08010100"));
	add(card, read_record_cmd(1, 1),
	    ok(tlv("70", tlv("5A", H(VB_EMU_PAN_FR), NULL), tlv("5F24", H("300630"), NULL), NULL)));
	return card;
}

VbEmuCard *
vb_emu_card_two_aids(void)
{
	VbEmuCard *card = card_new("two-aids", "08ABCDEF", 0x20, ATS);
	/* the card lists CB first, but gives Visa the higher priority */
	g_autofree gchar *cb = ppse_entry(AID_CB, "CB", "02");
	g_autofree gchar *visa = ppse_entry(AID_VISA, "VISA", "01");

	add_ppse(card, g_strconcat(cb, visa, NULL));
	add(card, select_cmd(AID_CB), app_fci(AID_CB, "CB", VISA_PDOL, "fr"));
	add(card, select_cmd(AID_VISA), app_fci(AID_VISA, "VISA", VISA_PDOL, "fr"));
	add(card, g_strdup("GPO"), gpo_format2("08010100"));
	add(card, read_record_cmd(1, 1),
	    ok(tlv("70", tlv("5A", H(VB_EMU_PAN_COBADGE), NULL), tlv("5F24", H("291130"), NULL),
		   NULL)));
	return card;
}

VbEmuCard *
vb_emu_card_truncated_tlv(void)
{
	VbEmuCard *card = card_new("truncated-tlv", "08000001", 0x20, ATS);

	add_ppse(card, ppse_entry(AID_VISA, "VISA", "01"));
	/* the FCI says 0x30 bytes and stops after a few */
	add(card, select_cmd(AID_VISA), g_strdup("6F30840E" AID_VISA "A5049000"));
	add(card, g_strdup("GPO"), gpo_format2("08010100"));
	add(card, read_record_cmd(1, 1), ok(tlv("70", tlv("5A", H(VB_EMU_PAN_BAD), NULL), NULL)));
	return card;
}

VbEmuCard *
vb_emu_card_length_overflow(void)
{
	VbEmuCard *card = card_new("length-overflow", "08000002", 0x20, ATS);

	add_ppse(card, ppse_entry(AID_VISA, "VISA", "01"));
	add(card, select_cmd(AID_VISA), app_fci(AID_VISA, "VISA", VISA_PDOL, NULL));
	add(card, g_strdup("GPO"), gpo_format2("08010100"));
	/* a length of four bytes that would wrap a 32-bit size */
	add(card, read_record_cmd(1, 1), ok(tlv("70", H("5A84FFFFFFF8" VB_EMU_PAN_BAD), NULL)));
	return card;
}

VbEmuCard *
vb_emu_card_wrong_sw(void)
{
	VbEmuCard *card = card_new("wrong-sw", "08000003", 0x20, ATS);

	add_ppse(card, ppse_entry(AID_VISA, "VISA", "01"));
	add(card, select_cmd(AID_VISA), app_fci(AID_VISA, "VISA", VISA_PDOL, NULL));
	/* conditions of use not satisfied */
	add(card, g_strdup("GPO"), g_strdup("6985"));
	return card;
}

VbEmuCard *
vb_emu_card_vanishing(void)
{
	VbEmuCard *card = card_new("vanishing", "08000004", 0x20, ATS);
	add_mastercard_app(card);
	card->vanish_on_read = TRUE;
	return card;
}

VbEmuCard *
vb_emu_card_mifare(void)
{
	return vb_emu_card_new_tag("mifare", "04A1B2C3");
}
