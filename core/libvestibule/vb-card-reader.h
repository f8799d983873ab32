/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-plugin.h"

G_BEGIN_DECLS

/**
 * VbCardReader:
 *
 * The role of a plugin that reads payment cards or tags at a door; see
 * #VbCardReaderInterface.
 *
 * Since: 0.1
 */
#define VB_TYPE_CARD_READER (vb_card_reader_get_type())
G_DECLARE_INTERFACE(VbCardReader, vb_card_reader, VB, CARD_READER, VbPlugin)

/**
 * VbCardKind:
 * @VB_CARD_KIND_PAYMENT: an EMV payment card or wallet; identified by its PAN
 * @VB_CARD_KIND_UID: a tag that is not a payment card; identified by its UID
 *
 * What was presented to the reader.
 *
 * Since: 0.1
 */
typedef enum {
	VB_CARD_KIND_PAYMENT,
	VB_CARD_KIND_UID,
} VbCardKind;

/**
 * VbReaderState:
 * @VB_READER_STATE_UNKNOWN: not opened yet
 * @VB_READER_STATE_READY: polling for cards
 * @VB_READER_STATE_ABSENT: the device is gone; the plugin retries with backoff
 * @VB_READER_STATE_ERROR: the device fails; the plugin retries with backoff
 *
 * The state of a card reader, reported on the bus with #VB_EVENT_READER_STATE.
 *
 * Since: 0.1
 */
typedef enum {
	VB_READER_STATE_UNKNOWN,
	VB_READER_STATE_READY,
	VB_READER_STATE_ABSENT,
	VB_READER_STATE_ERROR,
} VbReaderState;

/**
 * VbCardRead:
 * @kind: what was read
 * @pan: the PAN as ASCII digits; wiped by vb_card_reader_present()
 * @expiry: the expiry as `YYMM`, or empty
 * @pan_sequence: the PAN sequence number (5F34), or -1
 * @language: the first language preference (5F2D) in lower case, or empty
 * @scheme: the scheme, such as `visa`, or empty
 * @uid: the tag UID, for %VB_CARD_KIND_UID
 * @uid_len: the length of @uid
 * @alias: a processor card identifier, or empty
 *
 * What a reader plugin read from a card, on the stack of the reading thread.
 * Nothing in it may be logged: hand it to vb_card_reader_present(), which
 * tokenizes the PAN and wipes the whole structure.
 *
 * Since: 0.1
 */
typedef struct {
	VbCardKind kind;
	gchar pan[20];
	gchar expiry[5];
	gint pan_sequence;
	gchar language[9];
	gchar scheme[24];
	guint8 uid[10];
	gsize uid_len;
	gchar alias[65];
	/*< private >*/
	gpointer padding[8];
} VbCardRead;

/**
 * VbCardReaderInterface:
 * @g_iface: the parent interface
 * @get_state: returns the reader's current state
 *
 * A card reader at a door.
 *
 * Since: 0.1
 */
struct _VbCardReaderInterface {
	GTypeInterface g_iface;
	VbReaderState (*get_state)(VbCardReader *self);
	/*< private >*/
	gpointer padding[15];
};

VbReaderState
vb_card_reader_get_state(VbCardReader *self);
gboolean
vb_card_reader_present(VbCardReader *self, VbCardRead *read, GError **error);
void
vb_card_reader_removed(VbCardReader *self);
void
vb_card_reader_set_state(VbCardReader *self, VbReaderState state, const gchar *error_message);
const gchar *
vb_reader_state_to_string(VbReaderState state);
GVariant *
vb_card_reader_get_last_read(VbCardReader *self);

G_END_DECLS
