/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-sms-provider.h"

/*
 * GSM 03.38: the default alphabet (one septet each) and the characters of its
 * extension table (an escape septet plus one, so two each); everything else
 * makes the whole message UCS-2
 */

/* printable ASCII that is NOT in the default alphabet: ` and the extension
 * characters; $ and @ are in it, at other code points than ASCII's */
static const gchar vb_sms_gsm7_extension_ascii[] = "^{}\\[~]|\f";

static const gunichar vb_sms_gsm7_basic_non_ascii[] = {
    0x00A3, /* £ */
    0x00A5, /* ¥ */
    0x00E8, /* è */
    0x00E9, /* é */
    0x00F9, /* ù */
    0x00EC, /* ì */
    0x00F2, /* ò */
    0x00C7, /* Ç */
    0x00D8, /* Ø */
    0x00F8, /* ø */
    0x00C5, /* Å */
    0x00E5, /* å */
    0x0394, /* Δ */
    0x03A6, /* Φ */
    0x0393, /* Γ */
    0x039B, /* Λ */
    0x03A9, /* Ω */
    0x03A0, /* Π */
    0x03A8, /* Ψ */
    0x03A3, /* Σ */
    0x0398, /* Θ */
    0x039E, /* Ξ */
    0x00C6, /* Æ */
    0x00E6, /* æ */
    0x00DF, /* ß */
    0x00C9, /* É */
    0x00A4, /* ¤ */
    0x00A1, /* ¡ */
    0x00C4, /* Ä */
    0x00D6, /* Ö */
    0x00D1, /* Ñ */
    0x00DC, /* Ü */
    0x00A7, /* § */
    0x00BF, /* ¿ */
    0x00E4, /* ä */
    0x00F6, /* ö */
    0x00F1, /* ñ */
    0x00FC, /* ü */
    0x00E0, /* à */
};

#define VB_SMS_EURO_SIGN 0x20AC

/* septets @c takes in GSM-7, or 0 when it has none */
static guint
vb_sms_text_gsm7_width(gunichar c)
{
	if (c == '\n' || c == '\r')
		return 1;
	if (c == VB_SMS_EURO_SIGN)
		return 2;
	if (c < 0x80) {
		if (c == '\f')
			return 2;
		if (c < 0x20 || c == 0x7F || c == '`')
			return 0;
		if (strchr(vb_sms_gsm7_extension_ascii, (gint)c) != NULL)
			return 2;
		return 1;
	}
	for (guint i = 0; i < G_N_ELEMENTS(vb_sms_gsm7_basic_non_ascii); i++) {
		if (vb_sms_gsm7_basic_non_ascii[i] == c)
			return 1;
	}
	return 0;
}

static gunichar
vb_sms_text_next_char(const gchar **p)
{
	gunichar c = g_utf8_get_char_validated(*p, -1);

	if (c == (gunichar)-1 || c == (gunichar)-2) {
		/* not UTF-8: one byte becomes one replacement character */
		*p += 1;
		return 0xFFFD;
	}
	*p = g_utf8_next_char(*p);
	return c;
}

/* units that a message of @widths (units per character) needs, and the
 * segments when no character is split across two of them */
static guint
vb_sms_text_count_segments(const GArray *widths, guint n_units, guint single, guint multi)
{
	guint segments = 1;
	guint used = 0;

	if (n_units <= single)
		return 1;
	for (guint i = 0; i < widths->len; i++) {
		guint w = g_array_index(widths, guint8, i);
		if (used + w > multi) {
			segments++;
			used = 0;
		}
		used += w;
	}
	return segments;
}

static gboolean
vb_sms_text_is_gsm7(const gchar *utf8)
{
	const gchar *p = utf8;

	while (*p != '\0') {
		if (vb_sms_text_gsm7_width(vb_sms_text_next_char(&p)) == 0)
			return FALSE;
	}
	return TRUE;
}

/**
 * vb_sms_text_get_encoding:
 * @utf8: the text of an SMS, UTF-8
 * @n_segments: (out) (optional): the number of segments it is sent in
 * @n_units: (out) (optional): its length in the encoding's units: septets for
 *   GSM-7 (an extension character such as `€`, `[` or `{` counts twice),
 *   16-bit code units for UCS-2 (a character outside the BMP, such as an
 *   emoji, counts twice)
 *
 * Tells which encoding an SMS body needs: GSM-7 when every character is in
 * the GSM 03.38 default alphabet or its extension table, UCS-2 otherwise, and
 * how many segments it takes. A single segment holds 160 septets or 70 UCS-2
 * units; a concatenated message 153 or 67 per segment, and an extension
 * character or a surrogate pair is never split across two segments. An
 * empty text is one segment. Bytes that are not valid UTF-8 each count as a
 * replacement character, so UCS-2.
 *
 * A provider that must tell its gateway the coding (Kannel's `coding=2`)
 * calls this on the body it was given.
 *
 * Returns: the encoding
 *
 * Since: 0.2
 */
VbSmsEncoding
vb_sms_text_get_encoding(const gchar *utf8, guint *n_segments, guint *n_units)
{
	g_autoptr(GArray) widths = NULL;
	const gchar *p;
	gboolean gsm7;
	guint units = 0;

	g_return_val_if_fail(utf8 != NULL, VB_SMS_ENCODING_GSM7);

	gsm7 = vb_sms_text_is_gsm7(utf8);
	widths = g_array_new(FALSE, FALSE, sizeof(guint8));
	p = utf8;
	while (*p != '\0') {
		gunichar c = vb_sms_text_next_char(&p);
		guint8 w;

		if (gsm7)
			w = (guint8)vb_sms_text_gsm7_width(c);
		else
			w = c > 0xFFFF ? 2 : 1;
		g_array_append_val(widths, w);
		units += w;
	}
	if (n_units != NULL)
		*n_units = units;
	if (n_segments != NULL) {
		*n_segments = gsm7 ? vb_sms_text_count_segments(widths, units, 160, 153)
				   : vb_sms_text_count_segments(widths, units, 70, 67);
	}
	return gsm7 ? VB_SMS_ENCODING_GSM7 : VB_SMS_ENCODING_UCS2;
}
