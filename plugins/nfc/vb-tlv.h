/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* the deepest nesting of constructed TLVs accepted; EMV uses three or four */
#define VB_TLV_MAX_DEPTH 8
/* the longest tag, in bytes; EMV uses at most two */
#define VB_TLV_MAX_TAG_LEN 4

/* one BER-TLV element; @value points into the buffer it was parsed from */
typedef struct {
	guint32 tag;
	gboolean constructed;
	const guint8 *value;
	gsize len;
} VbTlv;

gboolean
vb_tlv_next(const guint8 *buf, gsize buf_len, gsize *offset, VbTlv *tlv, GError **error);
gboolean
vb_tlv_validate(const guint8 *buf, gsize buf_len, GError **error);
gboolean
vb_tlv_find(const guint8 *buf, gsize buf_len, guint32 tag, VbTlv *tlv, GError **error);
gboolean
vb_dol_next(const guint8 *buf,
	    gsize buf_len,
	    gsize *offset,
	    guint32 *tag,
	    gsize *len,
	    GError **error);

G_END_DECLS
