/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-emv.h"
#include "vb-error.h"

/*
 * The libFuzzer target of the EMV read as a whole: the input is the card's
 * successive answers (to SELECT PPSE, SELECT AID, GET PROCESSING OPTIONS,
 * READ RECORD and any GET RESPONSE), each a length byte then that many
 * bytes, status word included. A card with no answer left is gone.
 */

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

typedef struct {
	const guint8 *data;
	gsize size;
} FuzzCard;

static gboolean
fuzz_transceive_cb(const guint8 *capdu,
		   gsize capdu_len,
		   guint8 *rapdu,
		   gsize rapdu_size,
		   gsize *rapdu_len,
		   gpointer user_data,
		   GError **error)
{
	FuzzCard *card = user_data;
	gsize len;

	if (card->size == 0) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_IO, "the card is gone");
		return FALSE;
	}
	len = MIN(card->data[0], card->size - 1);
	card->data++;
	card->size--;
	memcpy(rapdu, card->data, MIN(len, rapdu_size));
	*rapdu_len = MIN(len, rapdu_size);
	card->data += len;
	card->size -= len;
	return TRUE;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	FuzzCard card = {data, size};
	VbEmvTerminal terminal;
	VbEmvStats stats;
	VbCardRead read;
	g_autoptr(GError) error = NULL;

	vb_emv_terminal_init(&terminal);
	if (vb_emv_read_card(fuzz_transceive_cb, &card, &terminal, &read, &stats, &error)) {
		g_assert_no_error(error);
		g_assert_cmpuint(strlen(read.pan), >, 0);
		g_assert_cmpuint(strlen(read.pan), <, sizeof(read.pan));
		explicit_bzero(&read, sizeof(read));
	} else {
		g_assert_nonnull(error);
	}
	return 0;
}
