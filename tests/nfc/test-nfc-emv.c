/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <nfc/nfc.h>
#include <stdlib.h>
#include <string.h>

#include "vb-emu-card.h"
#include "vb-emv.h"
#include "vb-error.h"
#include "vb-pn532-emu.h"

/*
 * The EMV read against the emulated cards, APDU by APDU, then the PN532
 * emulator against the real libnfc: the same read, through the same driver
 * the plugin uses.
 */

static gboolean
card_transceive_cb(const guint8 *capdu,
		   gsize capdu_len,
		   guint8 *rapdu,
		   gsize rapdu_size,
		   gsize *rapdu_len,
		   gpointer user_data,
		   GError **error)
{
	if (!vb_emu_card_transceive(user_data, capdu, capdu_len, rapdu, rapdu_size, rapdu_len)) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_IO, "the card did not answer");
		return FALSE;
	}
	return TRUE;
}

static gboolean
read_card(VbEmuCard *card,
	  const gchar *const *preference,
	  VbCardRead *read,
	  VbEmvStats *stats,
	  GError **error)
{
	VbEmvTerminal terminal;

	vb_emv_terminal_init(&terminal);
	terminal.country = 250;
	terminal.currency = 978;
	terminal.aid_preference = preference;
	return vb_emv_read_card(card_transceive_cb, card, &terminal, read, stats, error);
}

static gboolean
is_wiped(const VbCardRead *read)
{
	const guint8 *p = (const guint8 *)read;
	for (gsize i = 0; i < sizeof(*read); i++) {
		if (p[i] != 0)
			return FALSE;
	}
	return TRUE;
}

/* a Visa: PPSE, a PDOL filled with the terminal's data, GPO in format 2 */
static void
test_emv_visa(void)
{
	g_autoptr(VbEmuCard) card = vb_emu_card_visa();
	g_autoptr(GError) error = NULL;
	VbCardRead read;
	VbEmvStats stats;
	const guint8 *gpo;

	g_assert_true(read_card(card, NULL, &read, &stats, &error));
	g_assert_no_error(error);
	g_assert_cmpint(read.kind, ==, VB_CARD_KIND_PAYMENT);
	g_assert_cmpstr(read.pan, ==, VB_EMU_PAN_VISA);
	g_assert_cmpstr(read.expiry, ==, "2812");
	g_assert_cmpint(read.pan_sequence, ==, 1);
	g_assert_cmpstr(read.language, ==, "en");
	g_assert_cmpstr(read.scheme, ==, "visa");
	g_assert_cmpstr(stats.aid, ==, "A0000000031010");
	g_assert_cmpuint(stats.records, ==, 1);
	g_assert_cmpuint(stats.apdus, ==, 4);

	/* 80 A8 00 00 Lc 83 L, then the PDOL's values in its order: TTQ, amount
	 * and other amount (zero), country, TVR, currency, date, type, UN */
	gpo = card->last_gpo->data;
	g_assert_cmpuint(card->last_gpo->len, ==, 7 + 33 + 1);
	g_assert_cmphex(gpo[4], ==, 35);
	g_assert_cmphex(gpo[5], ==, 0x83);
	g_assert_cmphex(gpo[6], ==, 33);
	g_assert_cmphex(gpo[7], ==, 0x20);
	for (guint i = 11; i < 23; i++)
		g_assert_cmphex(gpo[i], ==, 0x00);
	g_assert_cmphex(gpo[23], ==, 0x02);
	g_assert_cmphex(gpo[24], ==, 0x50);
	g_assert_cmphex(gpo[30], ==, 0x09);
	g_assert_cmphex(gpo[31], ==, 0x78);
	g_assert_cmphex(gpo[35], ==, 0x00);
	explicit_bzero(&read, sizeof(read));
}

/* the unpredictable number changes: two reads giving the same four bytes
 * would happen once in four billion */
static void
test_emv_unpredictable_number(void)
{
	g_autoptr(VbEmuCard) card = vb_emu_card_visa();
	g_autoptr(GError) error = NULL;
	guint8 first[4];
	VbCardRead read;
	VbEmvStats stats;

	g_assert_true(read_card(card, NULL, &read, &stats, &error));
	memcpy(first, card->last_gpo->data + 36, 4);
	g_assert_true(read_card(card, NULL, &read, &stats, &error));
	g_assert_true(memcmp(first, card->last_gpo->data + 36, 4) != 0);
	explicit_bzero(&read, sizeof(read));
}

/* a Mastercard: no PDOL, GPO in format 1, records in two SFIs */
static void
test_emv_mastercard(void)
{
	g_autoptr(VbEmuCard) card = vb_emu_card_mastercard();
	g_autoptr(GError) error = NULL;
	VbCardRead read;
	VbEmvStats stats;

	g_assert_true(read_card(card, NULL, &read, &stats, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(read.pan, ==, VB_EMU_PAN_MC);
	g_assert_cmpstr(read.expiry, ==, "2710");
	g_assert_cmpint(read.pan_sequence, ==, 0);
	g_assert_cmpstr(read.language, ==, "de");
	g_assert_cmpstr(read.scheme, ==, "mastercard");
	g_assert_cmpuint(stats.records, ==, 3);
	/* an empty PDOL: 83 00 */
	g_assert_cmpuint(card->last_gpo->len, ==, 8);
	g_assert_cmphex(card->last_gpo->data[5], ==, 0x83);
	g_assert_cmphex(card->last_gpo->data[6], ==, 0x00);
	explicit_bzero(&read, sizeof(read));
}

/* the PAN and the expiry only in the track 2 equivalent data */
static void
test_emv_track2_only(void)
{
	g_autoptr(VbEmuCard) card = vb_emu_card_track2_only();
	g_autoptr(GError) error = NULL;
	VbCardRead read;
	VbEmvStats stats;

	g_assert_true(read_card(card, NULL, &read, &stats, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(read.pan, ==, VB_EMU_PAN_TRACK2);
	g_assert_cmpstr(read.expiry, ==, "2905");
	g_assert_cmpint(read.pan_sequence, ==, -1);
	g_assert_cmpstr(read.language, ==, "");
	g_assert_cmpstr(read.scheme, ==, "visa");
	explicit_bzero(&read, sizeof(read));
}

static void
test_emv_language_fr(void)
{
	g_autoptr(VbEmuCard) card = vb_emu_card_french();
	g_autoptr(GError) error = NULL;
	VbCardRead read;
	VbEmvStats stats;

	g_assert_true(read_card(card, NULL, &read, &stats, &error));
	g_assert_cmpstr(read.language, ==, "fr");
	g_assert_cmpstr(read.scheme, ==, "cb");
	g_assert_cmpstr(read.pan, ==, VB_EMU_PAN_FR);
	explicit_bzero(&read, sizeof(read));
}

/* two applications: the card's priority, unless the configuration prefers */
static void
test_emv_two_aids(void)
{
	g_autoptr(VbEmuCard) card = vb_emu_card_two_aids();
	g_autoptr(GError) error = NULL;
	const gchar *prefer_cb[] = {"A000000042", NULL};
	const gchar *prefer_unknown_then_cb[] = {"A0000000651010", "A0000000421010", NULL};
	VbCardRead read;
	VbEmvStats stats;

	g_assert_true(read_card(card, NULL, &read, &stats, &error));
	g_assert_cmpstr(read.scheme, ==, "visa");
	g_assert_cmpstr(stats.aid, ==, "A0000000031010");
	g_assert_cmpstr(read.pan, ==, VB_EMU_PAN_COBADGE);

	g_assert_true(read_card(card, prefer_cb, &read, &stats, &error));
	g_assert_cmpstr(read.scheme, ==, "cb");
	g_assert_cmpstr(stats.aid, ==, "A0000000421010");

	g_assert_true(read_card(card, prefer_unknown_then_cb, &read, &stats, &error));
	g_assert_cmpstr(stats.aid, ==, "A0000000421010");
	explicit_bzero(&read, sizeof(read));
}

/* without a PPSE, the known applications are tried in turn */
static void
test_emv_no_ppse(void)
{
	g_autoptr(VbEmuCard) card = vb_emu_card_mastercard();
	g_autoptr(GError) error = NULL;
	VbCardRead read;
	VbEmvStats stats;

	g_hash_table_remove(card->apdus, "00A404000E325041592E5359532E444446303100");
	g_assert_true(read_card(card, NULL, &read, &stats, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(read.pan, ==, VB_EMU_PAN_MC);
	g_assert_cmpstr(stats.aid, ==, "A0000000041010");
	explicit_bzero(&read, sizeof(read));
}

static void
assert_read_fails(VbEmuCard *card, GQuark domain, gint code, const gchar *message)
{
	g_autoptr(GError) error = NULL;
	VbCardRead read;
	VbEmvStats stats;

	memset(&read, 0xaa, sizeof(read));
	g_assert_false(read_card(card, NULL, &read, &stats, &error));
	g_assert_error(error, domain, code);
	g_test_message("%s: %s", card->name, error->message);
	g_assert_nonnull(strstr(error->message, message));
	/* nothing of the card is left behind, and the message holds no digits of it */
	g_assert_true(is_wiped(&read));
	g_assert_null(strstr(error->message, VB_EMU_PAN_BAD));
	g_assert_null(strstr(error->message, "4035"));
}

static void
test_emv_malformed(void)
{
	g_autoptr(VbEmuCard) truncated = vb_emu_card_truncated_tlv();
	g_autoptr(VbEmuCard) overflow = vb_emu_card_length_overflow();
	g_autoptr(VbEmuCard) wrong_sw = vb_emu_card_wrong_sw();
	g_autoptr(VbEmuCard) vanishing = vb_emu_card_vanishing();

	assert_read_fails(truncated, VB_ERROR, VB_ERROR_INVALID_DATA,
			  "SELECT AID: truncated TLV: tag 6F says 48 bytes");
	assert_read_fails(overflow, VB_ERROR, VB_ERROR_INVALID_DATA,
			  "READ RECORD 1/1: malformed TLV: length of 4 bytes");
	assert_read_fails(wrong_sw, VB_ERROR, VB_ERROR_INVALID_DATA,
			  "GPO: the card answered status 6985");
	assert_read_fails(vanishing, VB_ERROR, VB_ERROR_IO, "READ RECORD 1/1");
	g_assert_true(vanishing->gone);
}

/* the codes of the store's country and currency */
static void
test_emv_codes(void)
{
	g_assert_cmpuint(vb_emv_country_from_alpha2("FR"), ==, 250);
	g_assert_cmpuint(vb_emv_country_from_alpha2("gb"), ==, 826);
	g_assert_cmpuint(vb_emv_country_from_alpha2("XX"), ==, 0);
	g_assert_cmpuint(vb_emv_currency_from_alpha3("EUR"), ==, 978);
	g_assert_cmpuint(vb_emv_currency_from_alpha3("chf"), ==, 756);
	g_assert_cmpuint(vb_emv_currency_from_alpha3(NULL), ==, 0);
}

typedef struct {
	nfc_device *device;
} NfcCtx;

static gboolean
nfc_transceive_cb(const guint8 *capdu,
		  gsize capdu_len,
		  guint8 *rapdu,
		  gsize rapdu_size,
		  gsize *rapdu_len,
		  gpointer user_data,
		  GError **error)
{
	NfcCtx *ctx = user_data;
	gint res =
	    nfc_initiator_transceive_bytes(ctx->device, capdu, capdu_len, rapdu, rapdu_size, 500);
	if (res < 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_IO, "%s", nfc_strerror(ctx->device));
		return FALSE;
	}
	*rapdu_len = (gsize)res;
	return TRUE;
}

/* libnfc's own pn532_uart driver opens the emulator, finds the card, reads
 * it, checks its presence and sees it go: the emulator speaks what libnfc
 * sends, command by command */
static void
test_pn532_libnfc(void)
{
	g_autoptr(VbPn532Emu) emu = vb_pn532_emu_new(NULL);
	g_autoptr(VbEmuCard) card = vb_emu_card_visa();
	g_autofree gchar *connstring = vb_pn532_emu_connstring(emu);
	const nfc_modulation mod = {.nmt = NMT_ISO14443A, .nbr = NBR_106};
	g_autoptr(GError) error = NULL;
	nfc_context *context = NULL;
	nfc_device *device;
	nfc_target target;
	char *info = NULL;
	VbEmvTerminal terminal;
	VbEmvStats stats;
	VbCardRead read;
	NfcCtx ctx;

	nfc_init(&context);
	g_assert_nonnull(context);
	device = nfc_open(context, connstring);
	g_assert_nonnull(device);
	g_assert_cmpint(nfc_device_get_information_about(device, &info), >=, 0);
	g_assert_true(g_str_has_prefix(info, "chip: PN532 v1.6\n"));
	nfc_free(info);
	g_assert_cmpint(nfc_initiator_init(device), ==, 0);
	g_assert_cmpint(nfc_device_set_property_bool(device, NP_INFINITE_SELECT, false), ==, 0);

	/* an empty field */
	g_assert_cmpint(nfc_initiator_select_passive_target(device, mod, NULL, 0, &target), ==, 0);

	vb_pn532_emu_insert(emu, card);
	g_assert_cmpint(nfc_initiator_select_passive_target(device, mod, NULL, 0, &target), ==, 1);
	g_assert_cmphex(target.nti.nai.btSak, ==, 0x20);
	g_assert_cmpuint(target.nti.nai.szUidLen, ==, 4);
	g_assert_cmphex(target.nti.nai.abtUid[0], ==, 0x08);
	g_assert_cmphex(target.nti.nai.abtUid[3], ==, 0xc3);
	g_assert_cmpuint(target.nti.nai.szAtsLen, ==, 4);

	ctx.device = device;
	vb_emv_terminal_init(&terminal);
	g_assert_true(vb_emv_read_card(nfc_transceive_cb, &ctx, &terminal, &read, &stats, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(read.pan, ==, VB_EMU_PAN_VISA);
	explicit_bzero(&read, sizeof(read));
	g_assert_cmpuint(vb_pn532_emu_count_apdu(emu, 0x80a8), ==, 1);
	g_assert_cmpuint(vb_pn532_emu_count_apdu(emu, 0x00b2), ==, 1);

	g_assert_cmpint(nfc_initiator_target_is_present(device, NULL), ==, 0);
	vb_pn532_emu_remove(emu);
	g_assert_cmpint(nfc_initiator_target_is_present(device, NULL), ==, NFC_ETGRELEASED);
	g_assert_cmpint(nfc_initiator_deselect_target(device), >=, 0);
	nfc_close(device);
	nfc_exit(context);

	/* every command the issue names went over the wire */
	g_assert_cmpuint(vb_pn532_emu_count(emu, VB_PN532_DIAGNOSE), >=, 1);
	g_assert_cmpuint(vb_pn532_emu_count(emu, VB_PN532_GET_FIRMWARE_VERSION), >=, 1);
	g_assert_cmpuint(vb_pn532_emu_count(emu, VB_PN532_SAM_CONFIGURATION), >=, 1);
	g_assert_cmpuint(vb_pn532_emu_count(emu, VB_PN532_SET_PARAMETERS), >=, 1);
	g_assert_cmpuint(vb_pn532_emu_count(emu, VB_PN532_RF_CONFIGURATION), >=, 1);
	g_assert_cmpuint(vb_pn532_emu_count(emu, VB_PN532_IN_LIST_PASSIVE_TARGET), ==, 2);
	g_assert_cmpuint(vb_pn532_emu_count(emu, VB_PN532_IN_DATA_EXCHANGE), ==, 4);
	g_assert_cmpuint(vb_pn532_emu_count(emu, VB_PN532_IN_COMMUNICATE_THRU), >=, 2);
	g_assert_cmpuint(vb_pn532_emu_count(emu, VB_PN532_IN_DESELECT), ==, 1);
	g_assert_cmpuint(vb_pn532_emu_count(emu, VB_PN532_IN_RELEASE), >=, 1);
	g_assert_cmpuint(vb_pn532_emu_count(emu, VB_PN532_POWER_DOWN), >=, 1);
}

int
main(int argc, char **argv)
{
	/* the machine's libnfc.conf must not matter */
	g_setenv("LIBNFC_AUTO_SCAN", "false", TRUE);
	g_setenv("LIBNFC_INTRUSIVE_SCAN", "false", TRUE);
	g_setenv("LIBNFC_LOG_LEVEL", "1", TRUE);
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/nfc/emv/visa-pdol-format2", test_emv_visa);
	g_test_add_func("/nfc/emv/unpredictable-number", test_emv_unpredictable_number);
	g_test_add_func("/nfc/emv/mastercard-format1-two-sfis", test_emv_mastercard);
	g_test_add_func("/nfc/emv/track2-only", test_emv_track2_only);
	g_test_add_func("/nfc/emv/language-fr", test_emv_language_fr);
	g_test_add_func("/nfc/emv/two-aids", test_emv_two_aids);
	g_test_add_func("/nfc/emv/no-ppse", test_emv_no_ppse);
	g_test_add_func("/nfc/emv/malformed", test_emv_malformed);
	g_test_add_func("/nfc/emv/codes", test_emv_codes);
	g_test_add_func("/nfc/pn532/libnfc", test_pn532_libnfc);
	return g_test_run();
}
