/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <sodium.h>
#include <string.h>

#include "vb-privacy-private.h"

/* the last line of defence: nothing that reaches a log line, the audit log or
 * the control socket's event stream goes through without passing here. The
 * first line is that no code puts a PAN or a full number there at all */

#define VB_MASK "\xe2\x80\xa2" /* • */

gboolean
vb_luhn_valid(const gchar *digits, gsize len)
{
	guint sum = 0;
	gboolean twice = FALSE;

	if (len == 0)
		return FALSE;
	for (gsize i = len; i > 0; i--) {
		guint d;
		if (!g_ascii_isdigit(digits[i - 1]))
			return FALSE;
		d = (guint)(digits[i - 1] - '0');
		if (twice) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
		twice = !twice;
	}
	return sum % 10 == 0;
}

/* the length of the country calling code that starts @digits (ITU-T E.164) */
static guint
vb_country_code_length(const gchar *digits)
{
	static const gchar *two[] = {"20", "27", "30", "31", "32", "33", "34", "36", "39",
				     "40", "41", "43", "44", "45", "46", "47", "48", "49",
				     "51", "52", "53", "54", "55", "56", "57", "58", "60",
				     "61", "62", "63", "64", "65", "66", "81", "82", "84",
				     "86", "90", "91", "92", "93", "94", "95", "98"};
	if (digits[0] == '1' || digits[0] == '7')
		return 1;
	for (guint i = 0; i < G_N_ELEMENTS(two); i++) {
		if (strncmp(digits, two[i], 2) == 0)
			return 2;
	}
	return 3;
}

gchar *
vb_mask_phone(const gchar *e164)
{
	GString *out;
	const gchar *national;
	gsize len, cc;
	gsize first;

	if (e164 == NULL || e164[0] != '+')
		return g_strdup(VB_MASK VB_MASK VB_MASK);
	len = strlen(e164 + 1);
	if (len < 7 || len > 15)
		return g_strdup(VB_MASK VB_MASK VB_MASK);
	for (gsize i = 1; e164[i] != '\0'; i++) {
		if (!g_ascii_isdigit(e164[i]))
			return g_strdup(VB_MASK VB_MASK VB_MASK);
	}
	cc = vb_country_code_length(e164 + 1);
	national = e164 + 1 + cc;
	len = strlen(national);

	/* the first national digit and the last two stay; the rest is masked,
	 * grouped in pairs from the right as most numbering plans print them */
	out = g_string_new("+");
	g_string_append_len(out, e164 + 1, (gssize)cc);
	g_string_append_c(out, ' ');
	first = len % 2 == 0 ? 2 : 3;
	for (gsize i = 0; i < len; i++) {
		if (i > 0 && i >= first && (i - first) % 2 == 0)
			g_string_append_c(out, ' ');
		if (i == 0 || i >= len - 2)
			g_string_append_c(out, national[i]);
		else
			g_string_append(out, VB_MASK);
	}
	return g_string_free(out, FALSE);
}

/* a card number: 13 to 19 digits, single spaces or dashes allowed between */
static gsize
vb_redact_match_pan(const gchar *p, gchar *digits, gsize *n_digits)
{
	gsize i = 0, n = 0;

	while (p[i] != '\0' && n < 19) {
		if (g_ascii_isdigit(p[i])) {
			digits[n++] = p[i++];
			continue;
		}
		if ((p[i] == ' ' || p[i] == '-') && g_ascii_isdigit(p[i + 1]) && n > 0) {
			i++;
			continue;
		}
		break;
	}
	/* a longer run is not a card number, and not ours to guess at */
	if (g_ascii_isdigit(p[i]))
		return 0;
	*n_digits = n;
	if (n < 13 || !vb_luhn_valid(digits, n))
		return 0;
	return i;
}

gchar *
vb_redact_text(const gchar *text)
{
	GString *out;
	const gchar *p;

	if (text == NULL)
		return NULL;
	out = g_string_sized_new(strlen(text));
	p = text;
	while (*p != '\0') {
		gboolean at_start = p == text || !g_ascii_isalnum(p[-1]);
		if (at_start && *p == '+' && g_ascii_isdigit(p[1])) {
			gsize n = 1;
			while (g_ascii_isdigit(p[n]))
				n++;
			if (n - 1 >= 7 && n - 1 <= 15) {
				g_autofree gchar *number = g_strndup(p, n);
				g_autofree gchar *masked = vb_mask_phone(number);
				g_string_append(out, masked);
				p += n;
				continue;
			}
		}
		if (at_start && g_ascii_isdigit(*p)) {
			gchar digits[20] = {0};
			gsize n_digits = 0;
			gsize consumed = vb_redact_match_pan(p, digits, &n_digits);
			if (consumed > 0) {
				g_string_append(out, VB_MASK VB_MASK VB_MASK VB_MASK);
				g_string_append_len(out, digits + n_digits - 4, 4);
			}
			/* a card number's digits: wiped in a way the compiler keeps */
			sodium_memzero(digits, sizeof(digits));
			if (consumed > 0) {
				p += consumed;
				continue;
			}
			/* copy the whole number so a PAN is not matched mid-run */
			while (g_ascii_isdigit(*p))
				g_string_append_c(out, *p++);
			continue;
		}
		g_string_append_c(out, *p++);
	}
	return g_string_free(out, FALSE);
}
