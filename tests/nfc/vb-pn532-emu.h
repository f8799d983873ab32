/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-emu-card.h"

G_BEGIN_DECLS

/* PN532 command codes, as the UART frames carry them */
#define VB_PN532_DIAGNOSE 0x00
#define VB_PN532_GET_FIRMWARE_VERSION 0x02
#define VB_PN532_READ_REGISTER 0x06
#define VB_PN532_WRITE_REGISTER 0x08
#define VB_PN532_SET_PARAMETERS 0x12
#define VB_PN532_SAM_CONFIGURATION 0x14
#define VB_PN532_POWER_DOWN 0x16
#define VB_PN532_RF_CONFIGURATION 0x32
#define VB_PN532_IN_DATA_EXCHANGE 0x40
#define VB_PN532_IN_COMMUNICATE_THRU 0x42
#define VB_PN532_IN_DESELECT 0x44
#define VB_PN532_IN_LIST_PASSIVE_TARGET 0x4a
#define VB_PN532_IN_RELEASE 0x52

/* a PN532 on a pseudo-terminal, run by a thread of the test, with one card
 * (or none) in its field */
typedef struct _VbPn532Emu VbPn532Emu;

/* how the chip misbehaves while it stays plugged in */
typedef enum {
	VB_PN532_FAULT_NONE,
	/* reads each frame and answers nothing, not even an ACK: the host times out */
	VB_PN532_FAULT_SILENT,
	/* answers each frame, with a wrong data checksum: an I/O error for the host */
	VB_PN532_FAULT_CHECKSUM,
} VbPn532Fault;

/* @link: (nullable): a symlink kept pointing at the pty, so that the reader
 * can come back at the same path after vb_pn532_emu_unplug() */
VbPn532Emu *
vb_pn532_emu_new(const gchar *link);
void
vb_pn532_emu_free(VbPn532Emu *self);
/* pn532_uart:PATH, for the plugin's connstring */
gchar *
vb_pn532_emu_connstring(VbPn532Emu *self);
/* puts @card (owned by the caller; it must outlive its stay) in the field */
void
vb_pn532_emu_insert(VbPn532Emu *self, VbEmuCard *card);
void
vb_pn532_emu_remove(VbPn532Emu *self);
/* the monotonic time of the last vb_pn532_emu_insert(), µs */
gint64
vb_pn532_emu_inserted_at(VbPn532Emu *self);
/* the reader is pulled out: the pty is closed */
void
vb_pn532_emu_unplug(VbPn532Emu *self);
/* and plugged back: a new pty, the link pointed at it */
void
vb_pn532_emu_replug(VbPn532Emu *self);
/* from now on the chip misbehaves as @fault says; the pty stays open */
void
vb_pn532_emu_set_fault(VbPn532Emu *self, VbPn532Fault fault);
/* how many commands of @code the reader was sent, answered or not */
guint
vb_pn532_emu_count(VbPn532Emu *self, guint8 code);
/* the number of commands of an ISO 7816 class/instruction, such as 0x80A8 (GPO) */
guint
vb_pn532_emu_count_apdu(VbPn532Emu *self, guint16 cla_ins);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbPn532Emu, vb_pn532_emu_free)

G_END_DECLS
