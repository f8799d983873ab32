/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-card-reader.h"

G_BEGIN_DECLS

/* the largest answer a card gives, with its status word, and room to spare */
#define VB_EMV_RAPDU_MAX 512

/* sends one C-APDU to the card and gives the R-APDU, status word included;
 * sets a VB_ERROR_IO error when the card does not answer (it left the field) */
typedef gboolean (*VbEmvTransceiveFunc)(const guint8 *capdu,
					gsize capdu_len,
					guint8 *rapdu,
					gsize rapdu_size,
					gsize *rapdu_len,
					gpointer user_data,
					GError **error);

/* what the terminal says about itself in the PDOL data */
typedef struct {
	guint8 ttq[4];			    /* terminal transaction qualifiers, 9F66 */
	guint16 country;		    /* ISO 3166-1 numeric, 9F1A */
	guint16 currency;		    /* ISO 4217 numeric, 5F2A */
	const gchar *const *aid_preference; /* hex AIDs or prefixes, best first; NULL or
					       empty: the card's own priorities */
} VbEmvTerminal;

/* what a read cost, for the log and the status: never card data */
typedef struct {
	guint apdus;
	guint records;
	guint16 last_sw;
	gchar aid[33]; /* the AID selected, hex: public, it names the application */
} VbEmvStats;

void
vb_emv_terminal_init(VbEmvTerminal *terminal);
gboolean
vb_emv_read_card(VbEmvTransceiveFunc func,
		 gpointer user_data,
		 const VbEmvTerminal *terminal,
		 VbCardRead *read,
		 VbEmvStats *stats,
		 GError **error);
const gchar *
vb_emv_scheme_from_aid(const guint8 *aid, gsize aid_len);
guint16
vb_emv_country_from_alpha2(const gchar *alpha2);
guint16
vb_emv_currency_from_alpha3(const gchar *alpha3);

G_END_DECLS
