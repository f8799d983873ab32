/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <locale.h>
#include <string.h>

#include "vb-i18n-private.h"
#include "vb-i18n.h"

/**
 * SECTION:vb-i18n
 * @short_description: translations chosen per visit
 *
 * The daemon serves shoppers in their own language, read from their card or
 * chosen at the keypad, while its own locale stays the operator's. gettext's
 * catalogs are per process (or per thread with `uselocale()`, which needs the
 * locale generated on the box); so the core reads the same compiled `.mo`
 * catalogs itself, once per language, and looks texts up without touching
 * the process locale. This is safe from any thread.
 *
 * Catalogs are looked for in `LOCALEDIR/LANG/LC_MESSAGES/vestibule.mo`, where
 * LOCALEDIR may be overridden with the `VESTIBULE_LOCALEDIR` environment
 * variable (the test suite points it at the build tree).
 */

typedef struct {
	GMappedFile *file;
	GHashTable *table;	/* msgid -> translation, both inside file */
	GHashTable *lengths;	/* msgid -> translation length, for plurals */
	gboolean plural_gt_one; /* "plural=(n > 1)", as in French */
	guint nplurals;
} VbCatalog;

static GMutex vb_i18n_mutex;
static GHashTable *vb_i18n_catalogs = NULL; /* language -> VbCatalog, or NULL for none */

static guint32
vb_mo_u32(const guint8 *data, gsize offset, gboolean swap)
{
	guint32 v;
	memcpy(&v, data + offset, sizeof(v));
	return swap ? GUINT32_SWAP_LE_BE(v) : v;
}

static void
vb_catalog_parse_plural(VbCatalog *catalog, const gchar *header)
{
	const gchar *forms = strstr(header, "Plural-Forms:");
	catalog->nplurals = 2;
	if (forms == NULL)
		return;
	if (strstr(forms, "nplurals=1") != NULL)
		catalog->nplurals = 1;
	/* the two rules of the languages we ship; anything else falls back to n != 1 */
	if (strstr(forms, "n > 1") != NULL || strstr(forms, "n>1") != NULL)
		catalog->plural_gt_one = TRUE;
}

static VbCatalog *
vb_catalog_load(const gchar *path)
{
	g_autoptr(GMappedFile) file = NULL;
	const guint8 *data;
	gsize size;
	guint32 magic, n, orig, trans;
	gboolean swap;
	VbCatalog *catalog;

	file = g_mapped_file_new(path, FALSE, NULL);
	if (file == NULL)
		return NULL;
	data = (const guint8 *)g_mapped_file_get_contents(file);
	size = g_mapped_file_get_length(file);
	if (size < 28)
		return NULL;
	memcpy(&magic, data, sizeof(magic));
	if (magic == 0x950412de)
		swap = FALSE;
	else if (magic == 0xde120495)
		swap = TRUE;
	else
		return NULL;
	n = vb_mo_u32(data, 8, swap);
	orig = vb_mo_u32(data, 12, swap);
	trans = vb_mo_u32(data, 16, swap);
	if ((guint64)orig + (guint64)n * 8 > size || (guint64)trans + (guint64)n * 8 > size)
		return NULL;

	catalog = g_new0(VbCatalog, 1);
	catalog->table = g_hash_table_new(g_str_hash, g_str_equal);
	catalog->lengths = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint32 i = 0; i < n; i++) {
		guint32 olen = vb_mo_u32(data, orig + i * 8, swap);
		guint32 ooff = vb_mo_u32(data, orig + i * 8 + 4, swap);
		guint32 tlen = vb_mo_u32(data, trans + i * 8, swap);
		guint32 toff = vb_mo_u32(data, trans + i * 8 + 4, swap);
		/* every string must end with its NUL inside the file */
		if ((guint64)ooff + olen >= size || (guint64)toff + tlen >= size ||
		    data[ooff + olen] != '\0' || data[toff + tlen] != '\0')
			continue;
		if (olen == 0) {
			vb_catalog_parse_plural(catalog, (const gchar *)data + toff);
			continue;
		}
		g_hash_table_insert(catalog->table, (gpointer)(data + ooff),
				    (gpointer)(data + toff));
		g_hash_table_insert(catalog->lengths, (gpointer)(data + ooff),
				    GUINT_TO_POINTER(tlen));
	}
	catalog->file = g_steal_pointer(&file);
	return catalog;
}

static gboolean
vb_i18n_language_valid(const gchar *language)
{
	gsize len = strlen(language);
	if (len < 2 || len > 8)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		gchar c = language[i];
		if (!g_ascii_isalpha(c) && !(i >= 2 && (c == '_' || g_ascii_isupper(c))))
			return FALSE;
	}
	return TRUE;
}

static VbCatalog *
vb_i18n_get_catalog(const gchar *language)
{
	VbCatalog *catalog = NULL;
	const gchar *localedir;
	g_autofree gchar *lang = NULL;
	g_autofree gchar *path = NULL;

	/* a card's language preference is untrusted input: it must not grow the cache */
	if (language == NULL || !vb_i18n_language_valid(language))
		return NULL;
	lang = g_strdup(language);
	lang[0] = g_ascii_tolower(lang[0]);
	lang[1] = g_ascii_tolower(lang[1]);

	g_mutex_lock(&vb_i18n_mutex);
	if (vb_i18n_catalogs == NULL)
		vb_i18n_catalogs = g_hash_table_new(g_str_hash, g_str_equal);
	if (g_hash_table_lookup_extended(vb_i18n_catalogs, lang, NULL, (gpointer *)&catalog)) {
		g_mutex_unlock(&vb_i18n_mutex);
		return catalog;
	}
	localedir = g_getenv("VESTIBULE_LOCALEDIR");
	if (localedir == NULL)
		localedir = VB_LOCALEDIR;
	path = g_build_filename(localedir, lang, "LC_MESSAGES", GETTEXT_PACKAGE ".mo", NULL);
	catalog = vb_catalog_load(path);
	if (catalog == NULL && strlen(lang) > 2) {
		/* pt_BR falls back to pt */
		g_autofree gchar *base = g_strndup(lang, 2);
		g_free(path);
		path =
		    g_build_filename(localedir, base, "LC_MESSAGES", GETTEXT_PACKAGE ".mo", NULL);
		catalog = vb_catalog_load(path);
	}
	/* the catalogs live as long as the process; at most one per language */
	g_hash_table_insert(vb_i18n_catalogs, g_steal_pointer(&lang), catalog);
	g_mutex_unlock(&vb_i18n_mutex);
	return catalog;
}

/**
 * vb_i18n_gettext:
 * @language: an ISO 639-1 code such as `fr`, or `pt_BR`
 * @msgid: the English text
 *
 * Translates @msgid into @language, whatever the process locale.
 *
 * Returns: the translation, or @msgid when there is none
 *
 * Since: 0.1
 */
const gchar *
vb_i18n_gettext(const gchar *language, const gchar *msgid)
{
	VbCatalog *catalog;
	const gchar *translation;

	g_return_val_if_fail(msgid != NULL, NULL);
	catalog = vb_i18n_get_catalog(language);
	if (catalog == NULL)
		return msgid;
	translation = g_hash_table_lookup(catalog->table, msgid);
	return translation != NULL && translation[0] != '\0' ? translation : msgid;
}

/**
 * vb_i18n_ngettext:
 * @language: an ISO 639-1 code
 * @msgid: the English singular
 * @msgid_plural: the English plural
 * @n: the number that chooses the form
 *
 * Translates a text with a plural form into @language.
 *
 * Returns: the translation of the right form
 *
 * Since: 0.1
 */
const gchar *
vb_i18n_ngettext(const gchar *language, const gchar *msgid, const gchar *msgid_plural, gulong n)
{
	VbCatalog *catalog;
	const gchar *translation;
	guint index, len;

	g_return_val_if_fail(msgid != NULL && msgid_plural != NULL, NULL);
	catalog = vb_i18n_get_catalog(language);
	if (catalog != NULL && (translation = g_hash_table_lookup(catalog->table, msgid)) != NULL) {
		const gchar *end;
		len = GPOINTER_TO_UINT(g_hash_table_lookup(catalog->lengths, msgid));
		end = translation + len;
		if (catalog->nplurals == 1)
			index = 0;
		else if (catalog->plural_gt_one)
			index = n > 1 ? 1 : 0;
		else
			index = n != 1 ? 1 : 0;
		/* plural forms are NUL-separated inside the translation */
		for (guint i = 0; i < index && translation < end; i++)
			translation += strlen(translation) + 1;
		if (translation < end && translation[0] != '\0')
			return translation;
	}
	return n == 1 ? msgid : msgid_plural;
}

void
vb_i18n_setup_process(VbI18nProcess kind)
{
	if (kind == VB_I18N_PROCESS_DAEMON) {
		setlocale(LC_CTYPE, "");
		setlocale(LC_MESSAGES, "");
	} else {
		setlocale(LC_ALL, "");
	}
	bindtextdomain(GETTEXT_PACKAGE, VB_LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);
}
