/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-money-private.h"

/**
 * SECTION:vb-money
 * @short_description: amounts of money as a shopper reads them
 *
 * The store, the payment processors and the events keep amounts as integers
 * in the currency's minor unit (cents, or yen), with an ISO 4217 code. These
 * functions turn such an amount into the text a receipt, a display or an SMS
 * shows. The text depends on the shopper's language, not on the process's
 * locale: the daemon serves every shopper in their own.
 */

/**
 * vb_money_get_decimals:
 * @currency: (nullable): an ISO 4217 code such as `EUR`, in any case
 *
 * Gets how many digits of an amount in @currency are its minor unit: 0 for
 * JPY or KRW, 3 for BHD or KWD, 4 for CLF, else 2. An unknown code and %NULL
 * have 2.
 *
 * Returns: the number of decimals of @currency
 *
 * Since: 0.3
 */
guint
vb_money_get_decimals(const gchar *currency)
{
	/* ISO 4217 currencies whose minor unit is not the hundredth */
	static const gchar *const zero[] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY",
					    "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
					    "VND", "VUV", "XAF", "XOF", "XPF"};
	static const gchar *const three[] = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};
	static const gchar *const four[] = {"CLF", "UYW"};

	if (currency == NULL)
		return 2;
	for (guint i = 0; i < G_N_ELEMENTS(zero); i++) {
		if (g_ascii_strcasecmp(currency, zero[i]) == 0)
			return 0;
	}
	for (guint i = 0; i < G_N_ELEMENTS(three); i++) {
		if (g_ascii_strcasecmp(currency, three[i]) == 0)
			return 3;
	}
	for (guint i = 0; i < G_N_ELEMENTS(four); i++) {
		if (g_ascii_strcasecmp(currency, four[i]) == 0)
			return 4;
	}
	return 2;
}

/* the languages that write 12,50 rather than 12.50; a regional variant such
 * as de_CH follows its base language */
gboolean
vb_money_language_has_decimal_comma(const gchar *language)
{
	static const gchar *const comma[] = {"bg", "ca", "cs", "da", "de", "el", "es", "et", "eu",
					     "fi", "fr", "gl", "hr", "hu", "id", "is", "it", "lt",
					     "lv", "nb", "nl", "nn", "no", "pl", "pt", "ro", "ru",
					     "sk", "sl", "sr", "sv", "tr", "uk", "vi"};

	if (language == NULL || strlen(language) < 2)
		return FALSE;
	if (language[2] != '\0' && language[2] != '_' && language[2] != '-')
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(comma); i++) {
		if (g_ascii_strncasecmp(language, comma[i], 2) == 0)
			return TRUE;
	}
	return FALSE;
}

/**
 * vb_money_format:
 * @minor: the amount in the minor unit of @currency, as the store keeps it
 * @currency: (nullable): an ISO 4217 code such as `EUR`
 * @language: (nullable): the reader's language, such as `fr`, `fr_CA` or
 *   `pt-BR`; %NULL for a decimal point
 *
 * Formats an amount for a shopper: `12.50 EUR`, or `12,50 EUR` in a language
 * that writes a decimal comma, and `1250 JPY` for a currency without a minor
 * unit (see vb_money_get_decimals()). A negative amount has a leading `-`.
 * The code follows the number as given; with @currency %NULL or empty the
 * number stands alone, with two decimals. There is no grouping of thousands.
 * The process's locale plays no part.
 *
 * Returns: (transfer full): the amount as text
 *
 * Since: 0.3
 */
gchar *
vb_money_format(gint64 minor, const gchar *currency, const gchar *language)
{
	guint decimals = vb_money_get_decimals(currency);
	guint64 magnitude;
	guint64 unit = 1;
	GString *out = g_string_new(NULL);

	/* through guint64 so that G_MININT64 has a magnitude too */
	magnitude = minor < 0 ? (guint64)0 - (guint64)minor : (guint64)minor;
	for (guint i = 0; i < decimals; i++)
		unit *= 10;
	if (minor < 0)
		g_string_append_c(out, '-');
	g_string_append_printf(out, "%" G_GUINT64_FORMAT, magnitude / unit);
	if (decimals > 0) {
		g_string_append_c(out, vb_money_language_has_decimal_comma(language) ? ',' : '.');
		g_string_append_printf(out, "%0*" G_GUINT64_FORMAT, (gint)decimals,
				       magnitude % unit);
	}
	if (currency != NULL && currency[0] != '\0')
		g_string_append_printf(out, " %s", currency);
	return g_string_free(out, FALSE);
}
