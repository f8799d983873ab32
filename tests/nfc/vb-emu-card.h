/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Luhn-valid test card numbers */
#define VB_EMU_PAN_VISA "4761739001010010"
#define VB_EMU_PAN_MC "5413330089010012"
#define VB_EMU_PAN_TRACK2 "4111111111111111"
#define VB_EMU_PAN_FR "4970100000000154"
#define VB_EMU_PAN_COBADGE "4970101234567893"
#define VB_EMU_PAN_BAD "4035501000000008"

/* an ISO 14443-A card or tag in the emulated field: its anticollision data
 * and, for a smart card, the answers its applet gives to each APDU */
typedef struct {
	gchar *name;
	guint8 atqa[2];
	guint8 sak;
	guint8 uid[10];
	gsize uid_len;
	guint8 ats[20]; /* with its length byte first; empty for a tag */
	gsize ats_len;
	GHashTable *apdus;	 /* command hex (upper case) -> response hex */
	gboolean vanish_on_read; /* leaves the field at its first READ RECORD */
	/* what the reader sent, for the tests */
	GByteArray *last_gpo;
	guint n_apdus;
	guint n_gpo;
	gboolean gone; /* it left the field by itself */
} VbEmuCard;

VbEmuCard *
vb_emu_card_new_tag(const gchar *name, const gchar *uid_hex);
void
vb_emu_card_free(VbEmuCard *card);
/* answers one APDU; FALSE when the card does not answer (it left) */
gboolean
vb_emu_card_transceive(VbEmuCard *card,
		       const guint8 *capdu,
		       gsize capdu_len,
		       guint8 *rapdu,
		       gsize rapdu_size,
		       gsize *rapdu_len);

VbEmuCard *
vb_emu_card_visa(void);
VbEmuCard *
vb_emu_card_mastercard(void);
VbEmuCard *
vb_emu_card_track2_only(void);
VbEmuCard *
vb_emu_card_french(void);
VbEmuCard *
vb_emu_card_two_aids(void);
VbEmuCard *
vb_emu_card_truncated_tlv(void);
VbEmuCard *
vb_emu_card_length_overflow(void);
VbEmuCard *
vb_emu_card_wrong_sw(void);
VbEmuCard *
vb_emu_card_vanishing(void);
VbEmuCard *
vb_emu_card_mifare(void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbEmuCard, vb_emu_card_free)

G_END_DECLS
