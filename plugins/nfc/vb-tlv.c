/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-error.h"
#include "vb-tlv.h"

/*
 * A BER-TLV parser for what a card answers. Every length is checked against
 * what is left of the buffer before anything is read, nesting is bounded, and
 * no value is copied: a TLV points into the answer, which the caller wipes.
 * Errors name offsets and tags, never values.
 */

/* reads a tag at *offset; EMV tags are one to three bytes */
static gboolean
vb_tlv_read_tag(const guint8 *buf,
		gsize buf_len,
		gsize *offset,
		guint32 *tag,
		gboolean *constructed,
		GError **error)
{
	gsize pos = *offset;
	guint32 value;

	if (pos >= buf_len) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "truncated TLV: no tag at offset %" G_GSIZE_FORMAT, pos);
		return FALSE;
	}
	value = buf[pos];
	*constructed = (buf[pos] & 0x20) != 0;
	if ((buf[pos] & 0x1f) == 0x1f) {
		guint n = 1;
		do {
			pos++;
			if (pos >= buf_len) {
				g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
					    "truncated TLV: tag cut at offset %" G_GSIZE_FORMAT,
					    pos);
				return FALSE;
			}
			if (++n > VB_TLV_MAX_TAG_LEN) {
				g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
					    "malformed TLV: tag longer than %d bytes at offset "
					    "%" G_GSIZE_FORMAT,
					    VB_TLV_MAX_TAG_LEN, *offset);
				return FALSE;
			}
			value = value << 8 | buf[pos];
		} while ((buf[pos] & 0x80) != 0);
	}
	*tag = value;
	*offset = pos + 1;
	return TRUE;
}

static gboolean
vb_tlv_read_len(const guint8 *buf, gsize buf_len, gsize *offset, gsize *len, GError **error)
{
	gsize pos = *offset;
	guint n;
	gsize value = 0;

	if (pos >= buf_len) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "truncated TLV: no length at offset %" G_GSIZE_FORMAT, pos);
		return FALSE;
	}
	if ((buf[pos] & 0x80) == 0) {
		*len = buf[pos];
		*offset = pos + 1;
		return TRUE;
	}
	n = buf[pos] & 0x7f;
	/* 0x80 is the indefinite form, which a card never uses; 3 bytes is 16 MiB */
	if (n == 0 || n > 3) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "malformed TLV: length of %u bytes at offset %" G_GSIZE_FORMAT, n, pos);
		return FALSE;
	}
	if (n > buf_len - pos - 1) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "truncated TLV: length cut at offset %" G_GSIZE_FORMAT, pos);
		return FALSE;
	}
	for (guint i = 1; i <= n; i++)
		value = value << 8 | buf[pos + i];
	*len = value;
	*offset = pos + 1 + n;
	return TRUE;
}

/**
 * vb_tlv_next:
 * @buf: the encoded TLVs
 * @buf_len: the length of @buf
 * @offset: (inout): where to start; on success, just after the element
 * @tlv: (out): the element
 * @error: return location for a #GError
 *
 * Parses the element at @offset, skipping the `00` and `FF` padding EMV
 * allows between elements. Reaching the end is not an error: @tlv->tag is 0.
 *
 * Returns: %FALSE if the element is truncated or malformed
 */
gboolean
vb_tlv_next(const guint8 *buf, gsize buf_len, gsize *offset, VbTlv *tlv, GError **error)
{
	gsize pos = *offset;
	gsize len = 0;

	g_return_val_if_fail(buf != NULL || buf_len == 0, FALSE);

	tlv->tag = 0;
	tlv->constructed = FALSE;
	tlv->value = NULL;
	tlv->len = 0;
	while (pos < buf_len && (buf[pos] == 0x00 || buf[pos] == 0xff))
		pos++;
	if (pos >= buf_len) {
		*offset = pos;
		return TRUE;
	}
	if (!vb_tlv_read_tag(buf, buf_len, &pos, &tlv->tag, &tlv->constructed, error))
		return FALSE;
	if (!vb_tlv_read_len(buf, buf_len, &pos, &len, error))
		return FALSE;
	if (len > buf_len - pos) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "truncated TLV: tag %X says %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT
			    " left",
			    tlv->tag, len, buf_len - pos);
		tlv->tag = 0;
		return FALSE;
	}
	tlv->value = buf + pos;
	tlv->len = len;
	*offset = pos + len;
	return TRUE;
}

static gboolean
vb_tlv_walk(const guint8 *buf,
	    gsize buf_len,
	    guint depth,
	    guint32 tag,
	    VbTlv *found,
	    GError **error)
{
	gsize offset = 0;

	if (depth > VB_TLV_MAX_DEPTH) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "malformed TLV: nested deeper than %d", VB_TLV_MAX_DEPTH);
		return FALSE;
	}
	while (offset < buf_len) {
		VbTlv tlv;
		if (!vb_tlv_next(buf, buf_len, &offset, &tlv, error))
			return FALSE;
		if (tlv.tag == 0)
			break;
		if (tag != 0 && tlv.tag == tag && found->tag == 0)
			*found = tlv;
		if (tlv.constructed &&
		    !vb_tlv_walk(tlv.value, tlv.len, depth + 1, tag, found, error))
			return FALSE;
	}
	return TRUE;
}

/**
 * vb_tlv_validate:
 * @buf: the encoded TLVs
 * @buf_len: the length of @buf
 * @error: return location for a #GError
 *
 * Returns: %TRUE if @buf is a sequence of well-formed TLVs, recursively
 */
gboolean
vb_tlv_validate(const guint8 *buf, gsize buf_len, GError **error)
{
	VbTlv unused = {0};
	return vb_tlv_walk(buf, buf_len, 0, 0, &unused, error);
}

/**
 * vb_tlv_find:
 * @buf: the encoded TLVs
 * @buf_len: the length of @buf
 * @tag: the tag to look for, such as `0x5F2D`
 * @tlv: (out): the first element with @tag, depth first; its tag is 0 if none
 * @error: return location for a #GError
 *
 * Validates the whole of @buf, then gives the first element with @tag: an
 * answer with a malformed part is refused whole, not half read.
 *
 * Returns: %FALSE if @buf is malformed; %TRUE otherwise, found or not
 */
gboolean
vb_tlv_find(const guint8 *buf, gsize buf_len, guint32 tag, VbTlv *tlv, GError **error)
{
	g_return_val_if_fail(tag != 0, FALSE);

	tlv->tag = 0;
	tlv->value = NULL;
	tlv->len = 0;
	tlv->constructed = FALSE;
	if (!vb_tlv_walk(buf, buf_len, 0, tag, tlv, error)) {
		tlv->tag = 0;
		tlv->value = NULL;
		tlv->len = 0;
		return FALSE;
	}
	return TRUE;
}

/**
 * vb_dol_next:
 * @buf: a data object list, such as a PDOL: tags and lengths without values
 * @buf_len: the length of @buf
 * @offset: (inout): where to start; on success, after the entry
 * @tag: (out): the entry's tag, or 0 at the end
 * @len: (out): the length the card wants for it
 * @error: return location for a #GError
 *
 * Returns: %FALSE if the list is truncated or malformed
 */
gboolean
vb_dol_next(const guint8 *buf,
	    gsize buf_len,
	    gsize *offset,
	    guint32 *tag,
	    gsize *len,
	    GError **error)
{
	gsize pos = *offset;
	gboolean constructed;

	*tag = 0;
	*len = 0;
	if (pos >= buf_len)
		return TRUE;
	if (!vb_tlv_read_tag(buf, buf_len, &pos, tag, &constructed, error) ||
	    !vb_tlv_read_len(buf, buf_len, &pos, len, error)) {
		*tag = 0;
		return FALSE;
	}
	*offset = pos;
	return TRUE;
}
