/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-emv.h"
#include "vb-error.h"
#include "vb-tlv.h"

/*
 * The libFuzzer target of the BER-TLV parser: what a card answers is the
 * input. It goes through the validator, the search, the element walk and the
 * DOL reader, then through the whole EMV read as the answer to every APDU.
 */

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

typedef struct {
	const guint8 *data;
	gsize size;
	guint calls;
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
	gsize len = MIN(card->size, rapdu_size - 2);

	/* a card that answers forever would make the read loop on GET RESPONSE */
	if (card->calls++ > 200) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_IO, "gone");
		return FALSE;
	}
	memcpy(rapdu, card->data, len);
	rapdu[len] = 0x90;
	rapdu[len + 1] = 0x00;
	*rapdu_len = len + 2;
	return TRUE;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	static const guint32 tags[] = {0x5a, 0x57, 0x5f24, 0x5f2d, 0x9f38, 0xbf0c, 0x70, 0x77};
	VbTlv tlv;
	gsize offset = 0;
	guint32 tag;
	gsize len;
	VbEmvTerminal terminal;
	VbEmvStats stats;
	VbCardRead read;
	FuzzCard card = {data, size, 0};

	vb_tlv_validate(data, size, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(tags); i++) {
		if (vb_tlv_find(data, size, tags[i], &tlv, NULL) && tlv.tag != 0)
			g_assert(tlv.value >= data && tlv.value + tlv.len <= data + size);
	}
	while (offset < size && vb_tlv_next(data, size, &offset, &tlv, NULL) && tlv.tag != 0)
		g_assert(offset <= size);
	offset = 0;
	while (offset < size && vb_dol_next(data, size, &offset, &tag, &len, NULL) && tag != 0)
		g_assert(offset <= size);

	vb_emv_terminal_init(&terminal);
	if (vb_emv_read_card(fuzz_transceive_cb, &card, &terminal, &read, &stats, NULL)) {
		g_assert(strlen(read.pan) > 0 && strlen(read.pan) < sizeof(read.pan));
		explicit_bzero(&read, sizeof(read));
	}
	return 0;
}
