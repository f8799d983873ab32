/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-error.h"
#include "vb-i18n.h"
#include "vb-money-private.h"
#include "vb-orders-private.h"
#include "vb-orders-test-private.h"

/*
 * The public HTTP API of the visit: the order that the store's recognition
 * system posts, and the receipt page that the shopper opens from an SMS.
 *
 * The receipt page is for a phone's browser, in the shopper's language (the
 * visit's, not the daemon's). Every value on it comes from outside (item
 * names from the recognition system, the store's settings), so each one is
 * escaped, the page runs no script and loads nothing (the content security
 * policy forbids it), and it is never cached or sent as a referrer: the link
 * is the only key to it.
 */

#define VB_ORDERS_PATH "/api/v1/visits/"
#define VB_ORDERS_SUFFIX "/order"
#define VB_RECEIPT_PATH "/r/"
#define VB_ORDERS_SCOPE "orders"
/* visit ids and receipt tokens are far shorter; anything longer is not one */
#define VB_ORDERS_MAX_ID_LEN 128

#define VB_RECEIPT_CSP "default-src 'none'; style-src 'unsafe-inline'"

typedef struct {
	GWeakRef visits; /* VbVisitManager */
} VbOrders;

static VbOrders *
vb_orders_new(VbVisitManager *visits)
{
	VbOrders *orders = g_new0(VbOrders, 1);

	g_weak_ref_init(&orders->visits, visits);
	return orders;
}

static void
vb_orders_free(gpointer data)
{
	VbOrders *orders = data;

	g_weak_ref_clear(&orders->visits);
	g_free(orders);
}

/* paths and headers */

static gboolean
vb_orders_id_is_valid(const gchar *id, gsize len)
{
	if (len == 0 || len > VB_ORDERS_MAX_ID_LEN)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		gchar c = id[i];

		if (!g_ascii_isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':')
			return FALSE;
	}
	/* "." and ".." are path segments, never ids */
	return !(id[0] == '.' && (len == 1 || (len == 2 && id[1] == '.')));
}

/* @path as sent, percent-escapes and all: an escape is never part of a visit id.
 * NOT_FOUND when @path is not /api/v1/visits/ID/order, INVALID_DATA when ID is
 * not a visit id */
gchar *
vb_orders_parse_order_path(const gchar *path, GError **error)
{
	const gchar *id;
	const gchar *end;

	if (path == NULL || !g_str_has_prefix(path, VB_ORDERS_PATH)) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND, "not an order path");
		return NULL;
	}
	id = path + strlen(VB_ORDERS_PATH);
	end = strchr(id, '/');
	if (end == NULL || g_strcmp0(end, VB_ORDERS_SUFFIX) != 0) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND, "not an order path");
		return NULL;
	}
	if (!vb_orders_id_is_valid(id, (gsize)(end - id))) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    /* TRANSLATORS: the path of a request to the order API */
			    _("the visit id in %s is not valid: a visit id is 1 to %u letters, "
			      "digits, '-', '_', '.' or ':', with no percent-escape; post to "
			      "/api/v1/visits/VISIT/order with the id the visit was given"),
			    path, (guint)VB_ORDERS_MAX_ID_LEN);
		return NULL;
	}
	return g_strndup(id, (gsize)(end - id));
}

gchar *
vb_orders_parse_receipt_path(const gchar *path)
{
	const gchar *token;

	if (path == NULL || !g_str_has_prefix(path, VB_RECEIPT_PATH))
		return NULL;
	token = path + strlen(VB_RECEIPT_PATH);
	if (!vb_orders_id_is_valid(token, strlen(token)))
		return NULL;
	return g_strdup(token);
}

gboolean
vb_orders_wants_json(const gchar *accept, const gchar *format)
{
	g_autoptr(GSList) ranges = NULL;
	gboolean json = FALSE;

	if (format != NULL)
		return g_ascii_strcasecmp(format, "json") == 0;
	if (accept == NULL)
		return FALSE;
	/* sorted by quality, best first; the first range that names one of our two
	 * forms decides */
	ranges = soup_header_parse_quality_list(accept, NULL);
	for (GSList *l = ranges; l != NULL; l = l->next) {
		g_autofree gchar *range = g_strdup(l->data);
		gchar *params = strchr(range, ';');

		if (params != NULL)
			*params = '\0';
		g_strstrip(range);
		if (g_ascii_strcasecmp(range, "application/json") == 0) {
			json = TRUE;
			break;
		}
		if (g_ascii_strcasecmp(range, "text/html") == 0 ||
		    g_ascii_strcasecmp(range, "application/xhtml+xml") == 0 ||
		    g_ascii_strcasecmp(range, "text/*") == 0 || g_strcmp0(range, "*/*") == 0)
			break;
	}
	g_slist_free_full(g_steal_pointer(&ranges), g_free);
	return json;
}

gchar *
vb_orders_language_from_header(const gchar *accept_language)
{
	g_autoptr(GSList) ranges = NULL;
	gchar *language = NULL;

	if (accept_language == NULL)
		return NULL;
	ranges = soup_header_parse_quality_list(accept_language, NULL);
	for (GSList *l = ranges; l != NULL && language == NULL; l = l->next) {
		const gchar *tag = l->data;

		/* only the two-letter base: a header from anyone must not make the
		 * catalog cache grow past the 676 codes there can be */
		if (g_ascii_isalpha(tag[0]) && g_ascii_isalpha(tag[1]) &&
		    (tag[2] == '\0' || tag[2] == '-' || tag[2] == '_' || tag[2] == ';'))
			language = g_ascii_strdown(tag, 2);
	}
	g_slist_free_full(g_steal_pointer(&ranges), g_free);
	return language;
}

/* the receipt, read from its a{sv} */

static GVariant *
vb_orders_lookup(GVariant *dict, const gchar *key)
{
	GVariant *value;

	if (dict == NULL || !g_variant_is_of_type(dict, G_VARIANT_TYPE_VARDICT))
		return NULL;
	value = g_variant_lookup_value(dict, key, NULL);
	/* a value boxed twice, as json_gvariant_deserialize() may give */
	while (value != NULL && g_variant_is_of_type(value, G_VARIANT_TYPE_VARIANT)) {
		GVariant *inner = g_variant_get_variant(value);
		g_variant_unref(value);
		value = inner;
	}
	return value;
}

static const gchar *
vb_orders_lookup_string(GVariant *dict, const gchar *key)
{
	g_autoptr(GVariant) value = vb_orders_lookup(dict, key);

	if (value == NULL || !g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
		return NULL;
	/* the string lives in @dict, which outlives this call */
	return g_variant_get_string(value, NULL);
}

static gboolean
vb_orders_lookup_int(GVariant *dict, const gchar *key, gint64 *out)
{
	g_autoptr(GVariant) value = vb_orders_lookup(dict, key);

	if (value == NULL)
		return FALSE;
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_INT64))
		*out = g_variant_get_int64(value);
	else if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT64))
		*out = (gint64)MIN(g_variant_get_uint64(value), (guint64)G_MAXINT64);
	else if (g_variant_is_of_type(value, G_VARIANT_TYPE_INT32))
		*out = g_variant_get_int32(value);
	else if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32))
		*out = g_variant_get_uint32(value);
	else if (g_variant_is_of_type(value, G_VARIANT_TYPE_INT16))
		*out = g_variant_get_int16(value);
	else if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT16))
		*out = g_variant_get_uint16(value);
	else if (g_variant_is_of_type(value, G_VARIANT_TYPE_BYTE))
		*out = g_variant_get_byte(value);
	else
		return FALSE;
	return TRUE;
}

static gboolean
vb_orders_lookup_double(GVariant *dict, const gchar *key, gdouble *out)
{
	g_autoptr(GVariant) value = vb_orders_lookup(dict, key);

	if (value == NULL || !g_variant_is_of_type(value, G_VARIANT_TYPE_DOUBLE))
		return FALSE;
	*out = g_variant_get_double(value);
	return TRUE;
}

/* the first of several names that is set: the receipt's producer names a few
 * fields more than one way */
static const gchar *
vb_orders_lookup_string_any(GVariant *dict, const gchar *const *keys)
{
	for (guint i = 0; keys[i] != NULL; i++) {
		const gchar *value = vb_orders_lookup_string(dict, keys[i]);

		if (value != NULL && value[0] != '\0')
			return value;
	}
	return NULL;
}

static gboolean
vb_orders_lookup_int_any(GVariant *dict, const gchar *const *keys, gint64 *out)
{
	for (guint i = 0; keys[i] != NULL; i++) {
		if (vb_orders_lookup_int(dict, keys[i], out))
			return TRUE;
	}
	return FALSE;
}

static const gchar *const vb_receipt_keys_store[] = {"store", "store-name", NULL};
static const gchar *const vb_receipt_keys_contact[] = {"operator-contact", "operator", "contact",
						       NULL};
static const gchar *const vb_receipt_keys_unit_price[] = {"unit-price", "unit_price", NULL};
static const gchar *const vb_receipt_keys_adjusted[] = {"adjusted", "adjusted-hold", NULL};

/* the card as first6••last4: given whole, or in parts */
static gchar *
vb_orders_receipt_card(GVariant *receipt)
{
	const gchar *card = vb_orders_lookup_string(receipt, "card");
	const gchar *first6 = vb_orders_lookup_string(receipt, "first6");
	const gchar *last4 = vb_orders_lookup_string(receipt, "last4");

	/* "••" alone, when neither part is known, shows nothing */
	if (card != NULL && strpbrk(card, "0123456789") != NULL)
		return g_strdup(card);
	if (last4 == NULL || last4[0] == '\0')
		return NULL;
	return g_strdup_printf("%s••%s", first6 != NULL ? first6 : "", last4);
}

/* µs since the epoch (as the store keeps times), plain seconds, or ISO 8601 */
static GDateTime *
vb_orders_receipt_time(GVariant *receipt)
{
	const gchar *iso = vb_orders_lookup_string(receipt, "time");
	gint64 value = 0;

	if (iso != NULL)
		return g_date_time_new_from_iso8601(iso, NULL);
	if (!vb_orders_lookup_int(receipt, "time", &value) || value <= 0)
		return NULL;
	/* no receipt is from before 1973 in µs, nor after 5138 in seconds */
	if (value > 100000000000)
		return g_date_time_new_from_unix_utc(value / G_USEC_PER_SEC);
	return g_date_time_new_from_unix_utc(value);
}

static const gchar *
vb_orders_receipt_language(GVariant *receipt, const gchar *fallback)
{
	const gchar *language = vb_orders_lookup_string(receipt, "language");

	if (language != NULL && language[0] != '\0')
		return language;
	return fallback;
}

/* the quantity as printed: a count, or a weight such as 0.35 */
static gchar *
vb_orders_format_quantity(GVariant *line, const gchar *language, gint64 *count)
{
	gdouble dvalue = 0;
	gchar buf[G_ASCII_DTOSTR_BUF_SIZE];
	gchar *dot;

	*count = -1;
	if (vb_orders_lookup_int(line, "quantity", count))
		return g_strdup_printf("%" G_GINT64_FORMAT, *count);
	if (!vb_orders_lookup_double(line, "quantity", &dvalue))
		return g_strdup("1");
	g_ascii_formatd(buf, sizeof(buf), "%.3g", dvalue);
	dot = strchr(buf, '.');
	if (dot != NULL && vb_money_language_has_decimal_comma(language))
		*dot = ',';
	return g_strdup(buf);
}

/* a line's price, or quantity × unit price when the producer left it out */
static gboolean
vb_orders_line_price(GVariant *line, gint64 count, gint64 *price)
{
	gint64 unit = 0;

	if (vb_orders_lookup_int(line, "price", price))
		return TRUE;
	if (count < 0 || !vb_orders_lookup_int_any(line, vb_receipt_keys_unit_price, &unit))
		return FALSE;
	if (unit != 0 && (count > G_MAXINT64 / ABS(unit)))
		return FALSE;
	*price = count * unit;
	return TRUE;
}

/* HTML */

static void
vb_html_append_escaped(GString *html, const gchar *text)
{
	g_autofree gchar *escaped = NULL;

	if (text == NULL)
		return;
	escaped = g_markup_escape_text(text, -1);
	g_string_append(html, escaped);
}

/* appends a translated text with its %s (or %1$s, %2$s) filled with values
 * that are escaped first; the translation itself is escaped too, so a
 * translator's "&" or "<" is shown, not parsed */
static void
vb_html_append_printf(GString *html,
		      const gchar *language,
		      const gchar *msgid,
		      const gchar *arg1,
		      const gchar *arg2)
{
	g_autofree gchar *format = g_markup_escape_text(vb_i18n_gettext(language, msgid), -1);
	g_autofree gchar *a1 = g_markup_escape_text(arg1 != NULL ? arg1 : "", -1);
	g_autofree gchar *a2 = g_markup_escape_text(arg2 != NULL ? arg2 : "", -1);
	g_autofree gchar *text = NULL;

	/* the format comes from our own catalog, where msgfmt --check verified it;
	 * escaping adds no '%' to it */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	text = g_strdup_printf(format, a1, a2);
#pragma GCC diagnostic pop
	g_string_append(html, text);
}

static void
vb_html_append_money(GString *html, gint64 minor, const gchar *currency, const gchar *language)
{
	g_autofree gchar *money = vb_money_format(minor, currency, language);

	g_string_append(html, "<span class=\"m\">");
	vb_html_append_escaped(html, money);
	g_string_append(html, "</span>");
}

static const gchar vb_receipt_css[] =
    "body{margin:0;font:16px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
    "background:#f3f3f0;color:#1d1d1b}"
    "main{max-width:34em;margin:0 auto;padding:1.2em 1em 2em;background:#fff;"
    "min-height:100vh;box-sizing:border-box}"
    "h1{font-size:1.45em;margin:.1em 0 .2em}"
    "h2{font-size:1.1em;margin:1.6em 0 .4em}"
    ".sub,.q,footer{color:#595955;font-size:.92em}"
    "table{width:100%;border-collapse:collapse;margin-top:1em}"
    "th,td{padding:.5em 0;text-align:left;vertical-align:top;"
    "border-bottom:1px solid #e3e3de}"
    "thead th{font-size:.85em;color:#595955;font-weight:600}"
    ".n{text-align:right;padding-left:1em}"
    ".m{white-space:nowrap}"
    "tfoot th,tfoot td{font-weight:700;font-size:1.12em;border-bottom:0}"
    "dl{display:grid;grid-template-columns:auto 1fr;gap:.35em 1em;margin:0}"
    "dt{color:#595955}dd{margin:0;text-align:right}"
    "footer{margin-top:2em;border-top:1px solid #e3e3de;padding-top:1em}"
    "@media (prefers-color-scheme:dark){body{background:#111;color:#eee}"
    "main{background:#1b1b1a}th,td,footer{border-color:#333}"
    ".sub,.q,footer,dt,thead th{color:#aaa}}";

/* the value of the lang attribute: letters, and '-' for a region */
static gchar *
vb_html_lang(const gchar *language)
{
	GString *lang = g_string_new(NULL);

	for (const gchar *p = language; p != NULL && *p != '\0' && lang->len < 16; p++) {
		if (g_ascii_isalpha(*p))
			g_string_append_c(lang, *p);
		else if (*p == '_' || *p == '-')
			g_string_append_c(lang, '-');
		else
			break;
	}
	if (lang->len < 2)
		g_string_assign(lang, "en");
	return g_string_free(lang, FALSE);
}

static void
vb_html_begin(GString *html, const gchar *language, const gchar *title)
{
	g_autofree gchar *lang = vb_html_lang(language);

	g_string_append_printf(html,
			       "<!DOCTYPE html>\n"
			       "<html lang=\"%s\">\n"
			       "<head>\n"
			       "<meta charset=\"utf-8\">\n"
			       "<meta name=\"viewport\" content=\"width=device-width, "
			       "initial-scale=1\">\n"
			       "<meta name=\"robots\" content=\"noindex, nofollow\">\n"
			       "<meta name=\"referrer\" content=\"no-referrer\">\n"
			       "<title>",
			       lang);
	vb_html_append_escaped(html, title);
	g_string_append_printf(html, "</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n",
			       vb_receipt_css);
}

static void
vb_html_end(GString *html)
{
	g_string_append(html, "</main>\n</body>\n</html>\n");
}

/* how the hold ended, in a sentence: %1$s is the hold, %2$s what was charged */
static const gchar *
vb_orders_settlement_text(const gchar *settlement)
{
	static const struct {
		const gchar *settlement;
		const gchar *text;
	} texts[] = {
	    /* TRANSLATORS: receipt page; %1$s is the amount held on the card when the
	     * shopper entered, %2$s the amount charged, both like "12.50 EUR" */
	    {"captured", N_("Your bank held %1$s when you entered. %2$s was charged and the "
			    "rest of the hold was released.")},
	    /* TRANSLATORS: receipt page; nothing was taken; %1$s is the amount held */
	    {"cancelled", N_("Your bank held %1$s when you entered. Nothing was taken, so the "
			     "hold was cancelled and nothing was charged.")},
	    {"adjusted-and-captured",
	     /* TRANSLATORS: receipt page; the items cost more than the hold, so it was
	      * raised; %1$s is the first hold, %2$s the amount charged */
	     N_("Your bank held %1$s when you entered. Your items cost more, so the hold was "
		"raised, then %2$s was charged.")},
	    {"adjust-declined-captured-hold",
	     /* TRANSLATORS: receipt page; the items cost more than the hold and the bank
	      * refused to raise it, so only the hold was charged; %1$s is the hold,
	      * %2$s the amount charged */
	     N_("Your bank held %1$s when you entered. Your items cost more, but your bank "
		"declined raising the hold, so %2$s was charged. The store has been told.")},
	    /* TRANSLATORS: receipt page; the store never sent the list of items in time;
	     * %1$s is the hold */
	    {"expired-cancelled", N_("Your bank held %1$s when you entered. The list of your "
				     "items did not arrive in time, so the hold was cancelled "
				     "and nothing was charged.")},
	    /* TRANSLATORS: receipt page; the store never sent the list of items in time
	     * and charged a set amount; %1$s is the hold, %2$s the amount charged */
	    {"expired-captured", N_("Your bank held %1$s when you entered. The list of your "
				    "items did not arrive in time, so %2$s was charged, as the "
				    "store's terms say.")},
	};

	for (guint i = 0; settlement != NULL && i < G_N_ELEMENTS(texts); i++) {
		if (g_strcmp0(settlement, texts[i].settlement) == 0)
			return texts[i].text;
	}
	/* TRANSLATORS: receipt page, before the payment is settled; %1$s is the hold */
	return N_("Your bank held %1$s when you entered. The payment is being settled: this "
		  "page will show the amount charged.");
}

static void
vb_orders_append_lines(GString *html,
		       GVariant *receipt,
		       const gchar *language,
		       const gchar *currency,
		       gint64 *computed_total,
		       gboolean *total_known)
{
	g_autoptr(GVariant) lines = vb_orders_lookup(receipt, "lines");
	gsize n_lines = 0;

	*computed_total = 0;
	*total_known = TRUE;
	if (lines != NULL && g_variant_is_container(lines))
		n_lines = g_variant_n_children(lines);

	g_string_append(html, "<table>\n<thead><tr><th>");
	/* TRANSLATORS: receipt page, column header: what was taken */
	vb_html_append_escaped(html, vb_i18n_gettext(language, N_("Item")));
	g_string_append(html, "</th><th class=\"n\">");
	/* TRANSLATORS: receipt page, column header: the price of a line */
	vb_html_append_escaped(html, vb_i18n_gettext(language, N_("Price")));
	g_string_append(html, "</th></tr></thead>\n<tbody>\n");

	for (gsize i = 0; i < n_lines; i++) {
		g_autoptr(GVariant) child = g_variant_get_child_value(lines, i);
		g_autoptr(GVariant) line = NULL;
		g_autofree gchar *quantity = NULL;
		const gchar *name;
		gint64 count = -1;
		gint64 unit = 0;
		gint64 price = 0;

		line = g_variant_is_of_type(child, G_VARIANT_TYPE_VARIANT)
			   ? g_variant_get_variant(child)
			   : g_variant_ref(child);
		if (!g_variant_is_of_type(line, G_VARIANT_TYPE_VARDICT))
			continue;
		name = vb_orders_lookup_string(line, "name");
		if (name == NULL || name[0] == '\0')
			name = vb_orders_lookup_string(line, "sku");
		quantity = vb_orders_format_quantity(line, language, &count);

		g_string_append(html, "<tr><td>");
		vb_html_append_escaped(html, name != NULL ? name : "?");
		if (vb_orders_lookup_int_any(line, vb_receipt_keys_unit_price, &unit)) {
			g_autofree gchar *unit_text = vb_money_format(unit, currency, language);

			g_string_append(html, "<br><span class=\"q\">");
			/* TRANSLATORS: receipt page, under an item's name: %1$s is the
			 * quantity, %2$s the unit price, as in "2 × 1.50 EUR" */
			vb_html_append_printf(html, language, N_("%1$s × %2$s"), quantity,
					      unit_text);
			g_string_append(html, "</span>");
		}
		g_string_append(html, "</td><td class=\"n\">");
		if (vb_orders_line_price(line, count, &price)) {
			vb_html_append_money(html, price, currency, language);
			*computed_total += price;
		} else {
			*total_known = FALSE;
		}
		g_string_append(html, "</td></tr>\n");
	}
	if (n_lines == 0) {
		g_string_append(html, "<tr><td colspan=\"2\">");
		/* TRANSLATORS: receipt page, when the shopper took nothing */
		vb_html_append_escaped(html, vb_i18n_gettext(language, N_("Nothing was taken.")));
		g_string_append(html, "</td></tr>\n");
	}
	g_string_append(html, "</tbody>\n");
}

gchar *
vb_orders_render_receipt_html(GVariant *receipt, const gchar *fallback_language)
{
	const gchar *language = vb_orders_receipt_language(receipt, fallback_language);
	const gchar *store = vb_orders_lookup_string_any(receipt, vb_receipt_keys_store);
	const gchar *contact = vb_orders_lookup_string_any(receipt, vb_receipt_keys_contact);
	const gchar *currency = vb_orders_lookup_string(receipt, "currency");
	const gchar *settlement = vb_orders_lookup_string(receipt, "settlement");
	const gchar *visit_id = vb_orders_lookup_string(receipt, "visit");
	g_autofree gchar *card = vb_orders_receipt_card(receipt);
	g_autoptr(GDateTime) time = vb_orders_receipt_time(receipt);
	g_autoptr(GString) html = g_string_new(NULL);
	g_autofree gchar *title = NULL;
	gint64 total = 0, hold = 0, captured = 0, adjusted = 0;
	gint64 computed_total = 0;
	gboolean total_known = FALSE;
	gboolean has_hold, has_captured;

	g_return_val_if_fail(receipt != NULL, NULL);

	/* TRANSLATORS: the title of the receipt page, before the store's name */
	title = g_strdup_printf("%s – %s", vb_i18n_gettext(language, N_("Receipt")),
				store != NULL ? store : "");
	vb_html_begin(html, language, store != NULL ? title : vb_i18n_gettext(language, "Receipt"));

	g_string_append(html, "<h1>");
	vb_html_append_escaped(html, store != NULL ? store : vb_i18n_gettext(language, "Receipt"));
	g_string_append(html, "</h1>\n<p class=\"sub\">");
	if (time != NULL) {
		g_autoptr(GDateTime) local = g_date_time_to_local(time);
		g_autofree gchar *when = g_date_time_format(local, "%Y-%m-%d %H:%M");

		/* TRANSLATORS: receipt page, under the store's name; %1$s is the date
		 * and time of the visit, as 2026-11-23 09:16 */
		vb_html_append_printf(html, language, N_("Receipt of your visit on %1$s"), when,
				      NULL);
	} else {
		vb_html_append_escaped(html,
				       vb_i18n_gettext(language, N_("Receipt of your visit")));
	}
	g_string_append(html, "</p>\n");

	vb_orders_append_lines(html, receipt, language, currency, &computed_total, &total_known);
	if (!vb_orders_lookup_int(receipt, "total", &total)) {
		total = computed_total;
	} else {
		total_known = TRUE;
	}
	if (total_known) {
		g_string_append(html, "<tfoot><tr><th>");
		/* TRANSLATORS: receipt page: the sum of the items */
		vb_html_append_escaped(html, vb_i18n_gettext(language, N_("Total")));
		g_string_append(html, "</th><td class=\"n\">");
		vb_html_append_money(html, total, currency, language);
		g_string_append(html, "</td></tr></tfoot>\n");
	}
	g_string_append(html, "</table>\n");

	/* the payment: the card, the hold and how it ended */
	has_hold = vb_orders_lookup_int(receipt, "hold", &hold);
	has_captured = vb_orders_lookup_int(receipt, "captured", &captured);
	g_string_append(html, "<h2>");
	/* TRANSLATORS: receipt page, heading of the card, hold and charge */
	vb_html_append_escaped(html, vb_i18n_gettext(language, N_("Payment")));
	g_string_append(html, "</h2>\n<dl>\n");
	if (card != NULL) {
		g_string_append(html, "<dt>");
		/* TRANSLATORS: receipt page: the card, shown as 497010••1234 */
		vb_html_append_escaped(html, vb_i18n_gettext(language, N_("Card")));
		g_string_append(html, "</dt><dd class=\"m\">");
		vb_html_append_escaped(html, card);
		g_string_append(html, "</dd>\n");
	}
	if (has_hold) {
		g_string_append(html, "<dt>");
		/* TRANSLATORS: receipt page: the pre-authorization placed on the card
		 * before the door opened */
		vb_html_append_escaped(html, vb_i18n_gettext(language, N_("Hold")));
		g_string_append(html, "</dt><dd>");
		vb_html_append_money(html, hold, currency, language);
		g_string_append(html, "</dd>\n");
	}
	if (vb_orders_lookup_int_any(receipt, vb_receipt_keys_adjusted, &adjusted) &&
	    adjusted != hold) {
		g_string_append(html, "<dt>");
		/* TRANSLATORS: receipt page: the hold after it was raised */
		vb_html_append_escaped(html, vb_i18n_gettext(language, N_("Hold raised to")));
		g_string_append(html, "</dt><dd>");
		vb_html_append_money(html, adjusted, currency, language);
		g_string_append(html, "</dd>\n");
	}
	if (has_captured) {
		g_string_append(html, "<dt>");
		/* TRANSLATORS: receipt page: the amount taken from the card */
		vb_html_append_escaped(html, vb_i18n_gettext(language, N_("Charged")));
		g_string_append(html, "</dt><dd>");
		vb_html_append_money(html, captured, currency, language);
		g_string_append(html, "</dd>\n");
	}
	g_string_append(html, "</dl>\n");
	if (has_hold) {
		g_autofree gchar *hold_text = vb_money_format(hold, currency, language);
		g_autofree gchar *captured_text =
		    vb_money_format(has_captured ? captured : 0, currency, language);

		g_string_append(html, "<p>");
		vb_html_append_printf(html, language, vb_orders_settlement_text(settlement),
				      hold_text, captured_text);
		g_string_append(html, "</p>\n");
	}

	g_string_append(html, "<footer>\n<p>");
	if (contact != NULL) {
		/* TRANSLATORS: receipt page footer; %1$s is how to reach the store's
		 * operator: a phone number, an e-mail address or a web page */
		vb_html_append_printf(html, language,
				      N_("Questions about this receipt? Contact %1$s, or reply to "
					 "the SMS we sent you."),
				      contact, NULL);
	} else {
		vb_html_append_escaped(
		    html, vb_i18n_gettext(language, N_("Questions about this receipt? "
						       "Reply to the SMS we sent you.")));
	}
	g_string_append(html, "</p>\n");
	if (visit_id != NULL) {
		g_string_append(html, "<p>");
		/* TRANSLATORS: receipt page footer; %1$s identifies the visit for the
		 * store's operator */
		vb_html_append_printf(html, language, N_("Reference: %1$s"), visit_id, NULL);
		g_string_append(html, "</p>\n");
	}
	g_string_append(html, "</footer>\n");
	vb_html_end(html);
	return g_string_free(g_steal_pointer(&html), FALSE);
}

gchar *
vb_orders_render_error_html(guint status, const gchar *language)
{
	g_autoptr(GString) html = g_string_new(NULL);
	const gchar *title;
	const gchar *text;

	if (status == SOUP_STATUS_NOT_FOUND) {
		/* TRANSLATORS: receipt page of a link that matches no receipt */
		title = N_("Receipt not found");
		text = N_("This receipt link is not valid. Check that you opened the whole link "
			  "from the SMS.");
	} else if (status == SOUP_STATUS_GONE) {
		/* TRANSLATORS: receipt page of a link older than the store keeps receipts */
		title = N_("This receipt link has expired");
		text = N_("Receipt links work for a limited time. Reply to the SMS we sent you if "
			  "you need a copy.");
	} else {
		/* TRANSLATORS: receipt page when the store's system fails */
		title = N_("Receipt unavailable");
		text = N_("Your receipt cannot be shown right now. Please try again later.");
	}
	vb_html_begin(html, language, vb_i18n_gettext(language, title));
	g_string_append(html, "<h1>");
	vb_html_append_escaped(html, vb_i18n_gettext(language, title));
	g_string_append(html, "</h1>\n<p>");
	vb_html_append_escaped(html, vb_i18n_gettext(language, text));
	g_string_append(html, "</p>\n");
	vb_html_end(html);
	return g_string_free(g_steal_pointer(&html), FALSE);
}

/* JSON */

static void
vb_json_add_string(JsonBuilder *builder, const gchar *name, const gchar *value)
{
	if (value == NULL)
		return;
	json_builder_set_member_name(builder, name);
	json_builder_add_string_value(builder, value);
}

static void
vb_json_add_int(JsonBuilder *builder, GVariant *dict, const gchar *name)
{
	gint64 value = 0;

	if (!vb_orders_lookup_int(dict, name, &value))
		return;
	json_builder_set_member_name(builder, name);
	json_builder_add_int_value(builder, value);
}

JsonNode *
vb_orders_receipt_to_json(GVariant *receipt)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(GVariant) lines = vb_orders_lookup(receipt, "lines");
	g_autoptr(GDateTime) time = vb_orders_receipt_time(receipt);
	g_autofree gchar *card = vb_orders_receipt_card(receipt);
	const gchar *currency = vb_orders_lookup_string(receipt, "currency");
	gint64 value = 0;

	g_return_val_if_fail(receipt != NULL, NULL);

	/* a whitelist: whatever else the visit manager knows stays private */
	json_builder_begin_object(builder);
	vb_json_add_string(builder, "visit", vb_orders_lookup_string(receipt, "visit"));
	vb_json_add_string(builder, "store",
			   vb_orders_lookup_string_any(receipt, vb_receipt_keys_store));
	vb_json_add_string(builder, "operator-contact",
			   vb_orders_lookup_string_any(receipt, vb_receipt_keys_contact));
	vb_json_add_string(builder, "language", vb_orders_lookup_string(receipt, "language"));
	if (time != NULL) {
		g_autofree gchar *iso = g_date_time_format_iso8601(time);
		vb_json_add_string(builder, "time", iso);
	}
	vb_json_add_string(builder, "currency", currency);
	/* amounts are in minor units; this says where the decimal point goes */
	json_builder_set_member_name(builder, "decimals");
	json_builder_add_int_value(builder, vb_money_get_decimals(currency));
	json_builder_set_member_name(builder, "lines");
	json_builder_begin_array(builder);
	for (gsize i = 0;
	     lines != NULL && g_variant_is_container(lines) && i < g_variant_n_children(lines);
	     i++) {
		g_autoptr(GVariant) child = g_variant_get_child_value(lines, i);
		g_autoptr(GVariant) line = NULL;
		gdouble dvalue = 0;
		gint64 count = -1;
		gint64 price = 0;

		line = g_variant_is_of_type(child, G_VARIANT_TYPE_VARIANT)
			   ? g_variant_get_variant(child)
			   : g_variant_ref(child);
		if (!g_variant_is_of_type(line, G_VARIANT_TYPE_VARDICT))
			continue;
		json_builder_begin_object(builder);
		vb_json_add_string(builder, "sku", vb_orders_lookup_string(line, "sku"));
		vb_json_add_string(builder, "name", vb_orders_lookup_string(line, "name"));
		json_builder_set_member_name(builder, "quantity");
		if (vb_orders_lookup_int(line, "quantity", &count))
			json_builder_add_int_value(builder, count);
		else if (vb_orders_lookup_double(line, "quantity", &dvalue))
			json_builder_add_double_value(builder, dvalue);
		else
			json_builder_add_int_value(builder, count = 1);
		if (vb_orders_lookup_int_any(line, vb_receipt_keys_unit_price, &value)) {
			json_builder_set_member_name(builder, "unit-price");
			json_builder_add_int_value(builder, value);
		}
		if (vb_orders_line_price(line, count, &price)) {
			json_builder_set_member_name(builder, "price");
			json_builder_add_int_value(builder, price);
		}
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
	vb_json_add_int(builder, receipt, "total");
	vb_json_add_int(builder, receipt, "hold");
	if (vb_orders_lookup_int_any(receipt, vb_receipt_keys_adjusted, &value)) {
		json_builder_set_member_name(builder, "adjusted");
		json_builder_add_int_value(builder, value);
	}
	vb_json_add_int(builder, receipt, "captured");
	vb_json_add_string(builder, "settlement", vb_orders_lookup_string(receipt, "settlement"));
	vb_json_add_string(builder, "card", card);
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}

/* the order */

/* the string literal at @p (its opening quote) ends before the returned
 * pointer; *@nul tells whether it holds the escape \u0000 */
static const gchar *
vb_json_skip_string(const gchar *p, const gchar *end, gboolean *nul)
{
	*nul = FALSE;
	for (p++; p < end && *p != '"'; p++) {
		if (*p != '\\')
			continue;
		if (end - p >= 6 && p[1] == 'u' && strncmp(p + 2, "0000", 4) == 0)
			*nul = TRUE;
		/* the escaped character, or the 'u' of \uXXXX whose hex digits
		 * hold no quote or backslash */
		p++;
	}
	return p < end ? p + 1 : end;
}

/*
 * json-glib decodes the escape \u0000 into a NUL and keeps its strings as C
 * strings, so json_node_get_string() (and json_node_get_value()) give the
 * text cut at the NUL and nothing after parsing can tell "ab\u0000cd" from
 * "ab". A raw NUL byte never gets this far: the parser refuses it as not
 * UTF-8. So the escape is looked for in the body as sent, following its
 * objects and arrays, and the place of the first one is returned as the
 * members and indices that lead to it, such as {"lines", "1", "name"}; NULL
 * when there is none. @data must be JSON that the parser accepted.
 */
typedef struct {
	gboolean object;
	guint index; /* in an array: the element being read */
	gchar *key;  /* in an object: the member being read */
} VbJsonFrame;

static void
vb_json_frame_clear(gpointer data)
{
	VbJsonFrame *frame = data;

	g_free(frame->key);
}

static gchar **
vb_json_frames_to_path(GArray *frames)
{
	g_autoptr(GPtrArray) path = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < frames->len; i++) {
		VbJsonFrame *frame = &g_array_index(frames, VbJsonFrame, i);

		if (frame->object)
			g_ptr_array_add(path, g_strdup(frame->key != NULL ? frame->key : ""));
		else
			g_ptr_array_add(path, g_strdup_printf("%u", frame->index));
	}
	g_ptr_array_add(path, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&path), FALSE);
}

gchar **
vb_orders_find_escaped_nul(const gchar *data, gsize size)
{
	const gchar *end = data + size;
	g_autoptr(GArray) frames = g_array_new(FALSE, TRUE, sizeof(VbJsonFrame));
	gboolean want_key = FALSE;

	g_array_set_clear_func(frames, vb_json_frame_clear);
	for (const gchar *p = data; p < end;) {
		VbJsonFrame *top =
		    frames->len > 0 ? &g_array_index(frames, VbJsonFrame, frames->len - 1) : NULL;
		const gchar *start = p;
		gboolean nul = FALSE;

		if (*p == '"') {
			p = vb_json_skip_string(p, end, &nul);
			if (top != NULL && top->object && want_key) {
				/* the member's name, decoded as the parser did */
				g_autofree gchar *literal = g_strndup(start, (gsize)(p - start));
				g_autoptr(JsonNode) key = json_from_string(literal, NULL);

				g_free(top->key);
				top->key = g_strdup(key != NULL && JSON_NODE_HOLDS_VALUE(key)
							? json_node_get_string(key)
							: "");
				want_key = FALSE;
			} else if (nul) {
				return vb_json_frames_to_path(frames);
			}
			continue;
		}
		if (*p == '{' || *p == '[') {
			VbJsonFrame frame = {.object = *p == '{'};

			g_array_append_val(frames, frame);
			want_key = frame.object;
		} else if ((*p == '}' || *p == ']') && top != NULL) {
			g_array_set_size(frames, frames->len - 1);
			want_key = FALSE;
		} else if (*p == ',' && top != NULL) {
			if (top->object)
				want_key = TRUE;
			else
				top->index++;
		}
		p++;
	}
	return NULL;
}

static void
vb_orders_reply_not_found(SoupServerMessage *msg, const gchar *path)
{
	vb_http_reply_error(msg, SOUP_STATUS_NOT_FOUND, vb_error_to_code(VB_ERROR_NOT_FOUND),
			    "there is nothing at %s: post orders to /api/v1/visits/VISIT/order",
			    path);
}

static void
vb_orders_reply_method_not_allowed(SoupServerMessage *msg, const gchar *allow, const gchar *path)
{
	soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", allow);
	vb_http_reply_error(
	    msg, SOUP_STATUS_METHOD_NOT_ALLOWED, vb_error_to_code(VB_ERROR_NOT_SUPPORTED),
	    "%s is not supported on %s: use %s", soup_server_message_get_method(msg), path, allow);
}

static void
vb_orders_reply_unavailable(SoupServerMessage *msg)
{
	vb_http_reply_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
			    vb_error_to_code(VB_ERROR_UNREACHABLE),
			    "visits are not being served right now: try again later");
}

/* refuses a body with an escaped NUL, which the parsed order no longer shows */
static gboolean
vb_orders_check_nul(SoupServerMessage *msg, GError **error)
{
	g_autoptr(GBytes) bytes =
	    soup_message_body_flatten(soup_server_message_get_request_body(msg));
	gsize size = 0;
	const gchar *data = g_bytes_get_data(bytes, &size);
	g_auto(GStrv) where = vb_orders_find_escaped_nul(data, size);
	guint64 line = 0;
	g_autofree gchar *pointer = NULL;

	if (where == NULL)
		return TRUE;
	if (g_strv_length(where) == 3 && g_strcmp0(where[0], "lines") == 0 &&
	    (g_strcmp0(where[2], "name") == 0 || g_strcmp0(where[2], "sku") == 0) &&
	    g_ascii_string_to_unsigned(where[1], 10, 0, G_MAXUINT - 1, &line, NULL)) {
		vb_visit_order_set_control_error(error, (guint)line + 1, where[2], 0);
		return FALSE;
	}
	pointer = g_strjoinv("/", where);
	g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
		    /* TRANSLATORS: %s is where in the order, such as "currency" */
		    _("the order holds a NUL character (\\u0000) at \"%s\": remove it and "
		      "post the order again"),
		    pointer);
	return FALSE;
}

static void
vb_orders_order_cb(VbHttpServer *server,
		   SoupServerMessage *msg,
		   const gchar *path,
		   GHashTable *query,
		   gpointer user_data)
{
	VbOrders *orders = user_data;
	g_autoptr(VbVisitManager) visits = NULL;
	g_autofree gchar *visit_id = NULL;
	g_autoptr(JsonNode) body = NULL;
	g_autoptr(JsonNode) answer = NULL;
	g_autoptr(GVariant) result = NULL;
	g_autoptr(GError) error = NULL;

	/* the path as sent, where an id with an escape still shows it */
	visit_id =
	    vb_orders_parse_order_path(g_uri_get_path(soup_server_message_get_uri(msg)), &error);
	if (g_error_matches(error, VB_ERROR, VB_ERROR_NOT_FOUND)) {
		vb_orders_reply_not_found(msg, path);
		return;
	}
	if (visit_id == NULL) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	if (g_strcmp0(soup_server_message_get_method(msg), SOUP_METHOD_POST) != 0) {
		vb_orders_reply_method_not_allowed(msg, "POST", path);
		return;
	}
	body = vb_http_parse_json_body(msg, &error);
	if (body == NULL) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	if (!JSON_NODE_HOLDS_OBJECT(body)) {
		vb_http_reply_error(
		    msg, SOUP_STATUS_BAD_REQUEST, vb_error_to_code(VB_ERROR_INVALID_DATA),
		    "the order must be a JSON object with \"currency\" and "
		    "\"lines\": [{\"sku\", \"name\", \"quantity\", \"unit_price\"}]");
		return;
	}
	if (!vb_orders_check_nul(msg, &error)) {
		g_debug("order for visit %s refused: %s", visit_id, error->message);
		vb_http_reply_gerror(msg, error);
		return;
	}
	visits = g_weak_ref_get(&orders->visits);
	if (visits == NULL) {
		vb_orders_reply_unavailable(msg);
		return;
	}
	result = vb_visit_manager_post_order(visits, visit_id, body, &error);
	if (result == NULL) {
		g_debug("order for visit %s refused: %s", visit_id, error->message);
		vb_http_reply_gerror(msg, error);
		return;
	}
	g_variant_take_ref(result);
	answer = json_gvariant_serialize(result);
	vb_http_reply_json(msg, SOUP_STATUS_OK, answer);
}

/* the receipt */

static void
vb_orders_set_page_headers(SoupServerMessage *msg)
{
	SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);

	/* the link is the only key to the receipt: keep it out of caches, out of
	 * Referer headers, and run nothing the page did not bring itself */
	soup_message_headers_replace(headers, "Cache-Control", "no-store");
	soup_message_headers_replace(headers, "Referrer-Policy", "no-referrer");
	soup_message_headers_replace(headers, "X-Content-Type-Options", "nosniff");
	soup_message_headers_replace(headers, "Content-Security-Policy", VB_RECEIPT_CSP);
	soup_message_headers_replace(headers, "X-Frame-Options", "DENY");
	soup_message_headers_replace(headers, "X-Robots-Tag", "noindex, nofollow");
	soup_message_headers_replace(headers, "Vary", "Accept, Accept-Language");
}

static void
vb_orders_reply_html(SoupServerMessage *msg, guint status, gchar *html)
{
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "text/html; charset=utf-8", SOUP_MEMORY_TAKE, html,
					 strlen(html));
}

static void
vb_orders_receipt_cb(VbHttpServer *server,
		     SoupServerMessage *msg,
		     const gchar *path,
		     GHashTable *query,
		     gpointer user_data)
{
	VbOrders *orders = user_data;
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	const gchar *method = soup_server_message_get_method(msg);
	g_autoptr(VbVisitManager) visits = NULL;
	g_autofree gchar *token = vb_orders_parse_receipt_path(path);
	g_autofree gchar *browser_language = NULL;
	g_autoptr(GVariant) receipt = NULL;
	g_autoptr(GError) error = NULL;
	gboolean json;

	json = vb_orders_wants_json(soup_message_headers_get_list(headers, "Accept"),
				    query != NULL ? g_hash_table_lookup(query, "format") : NULL);
	/* a page without a receipt speaks the browser's language */
	browser_language = vb_orders_language_from_header(
	    soup_message_headers_get_list(headers, "Accept-Language"));
	vb_orders_set_page_headers(msg);

	if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
		vb_orders_reply_method_not_allowed(msg, "GET, HEAD", "/r/TOKEN");
		return;
	}
	if (token == NULL) {
		if (json)
			vb_http_reply_error(
			    msg, SOUP_STATUS_NOT_FOUND, vb_error_to_code(VB_ERROR_NOT_FOUND),
			    "no receipt has this link: check that it was copied whole");
		else
			vb_orders_reply_html(
			    msg, SOUP_STATUS_NOT_FOUND,
			    vb_orders_render_error_html(SOUP_STATUS_NOT_FOUND, browser_language));
		return;
	}
	visits = g_weak_ref_get(&orders->visits);
	if (visits != NULL)
		receipt = vb_visit_manager_get_receipt(visits, token, &error);
	else
		g_set_error_literal(&error, VB_ERROR, VB_ERROR_UNREACHABLE,
				    "visits are not being served right now: try again later");
	if (receipt == NULL) {
		guint status;

		/* the token is the receipt's only key: it never reaches a log line */
		if (g_error_matches(error, VB_ERROR, VB_ERROR_NOT_FOUND)) {
			status = SOUP_STATUS_NOT_FOUND;
		} else if (g_error_matches(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED)) {
			status = SOUP_STATUS_GONE;
		} else {
			g_warning("cannot show a receipt: %s", error->message);
			status = g_error_matches(error, VB_ERROR, VB_ERROR_UNREACHABLE)
				     ? SOUP_STATUS_SERVICE_UNAVAILABLE
				     : SOUP_STATUS_INTERNAL_SERVER_ERROR;
		}
		if (!json)
			vb_orders_reply_html(msg, status,
					     vb_orders_render_error_html(status, browser_language));
		else if (status == SOUP_STATUS_GONE)
			vb_http_reply_error(msg, status, "expired",
					    "this receipt link has expired: receipts are kept "
					    "online for a limited time");
		else if (status == SOUP_STATUS_NOT_FOUND)
			vb_http_reply_error(
			    msg, status, vb_error_to_code(VB_ERROR_NOT_FOUND),
			    "no receipt has this link: check that it was copied whole");
		else
			vb_http_reply_error(
			    msg, status, vb_error_to_code(VB_ERROR_UNREACHABLE),
			    "the receipt cannot be shown right now: try again later");
		return;
	}
	g_variant_take_ref(receipt);
	if (json) {
		g_autoptr(JsonNode) node = vb_orders_receipt_to_json(receipt);
		vb_http_reply_json(msg, SOUP_STATUS_OK, node);
		return;
	}
	vb_orders_reply_html(msg, SOUP_STATUS_OK,
			     vb_orders_render_receipt_html(receipt, browser_language));
}

/**
 * vb_orders_register:
 * @http: the HTTP server
 * @visits: the visit manager that records orders and keeps receipts
 *
 * Serves `POST /api/v1/visits/ID/order` (bearer token of scope `orders`) and
 * `GET /r/TOKEN` (no token: the link is the credential) on the public listener.
 * The handlers hold @visits weakly and answer 503 once it is gone.
 */
void
vb_orders_register(VbHttpServer *http, VbVisitManager *visits)
{
	g_return_if_fail(VB_IS_HTTP_SERVER(http));
	g_return_if_fail(VB_IS_VISIT_MANAGER(visits));

	vb_http_server_add_handler(http, VB_HTTP_LISTENER_PUBLIC, VB_ORDERS_PATH, VB_ORDERS_SCOPE,
				   vb_orders_order_cb, vb_orders_new(visits), vb_orders_free);
	vb_http_server_add_handler(http, VB_HTTP_LISTENER_PUBLIC, VB_RECEIPT_PATH, NULL,
				   vb_orders_receipt_cb, vb_orders_new(visits), vb_orders_free);
}

/**
 * vb_orders_unregister:
 * @http: the HTTP server
 *
 * Removes what vb_orders_register() added.
 */
void
vb_orders_unregister(VbHttpServer *http)
{
	g_return_if_fail(VB_IS_HTTP_SERVER(http));

	vb_http_server_remove_handler(http, VB_HTTP_LISTENER_PUBLIC, VB_ORDERS_PATH);
	vb_http_server_remove_handler(http, VB_HTTP_LISTENER_PUBLIC, VB_RECEIPT_PATH);
}
