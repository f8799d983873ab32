/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <inttypes.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <sodium.h>

#include "vb-config-private.h"
#include "vb-error.h"

/* config and secrets files are small; a bigger one is a mistake, not a config */
#define VB_CONFIG_FILE_MAX_SIZE (1024 * 1024)
/* long values are cut when quoted in a message */
#define VB_CONFIG_QUOTE_MAX_CHARS 60
#define VB_CONFIG_NAME_MAX_LEN 32
#define VB_CONFIG_KEY32_LEN 32

/* the core's 32-byte keys, in [vestibule] of the secrets file */
static const gchar *const vb_config_core_secret_keys[] = {
    "card-token-key", "phone-key", "phone-index-key", "otp-key", NULL,
};

/* door roles and store-wide services that name an [instance:NAME] */
static const gchar *const vb_config_door_roles[] = {"reader", "lock", "keypad", "display", NULL};
static const gchar *const vb_config_service_roles[] = {"sms", "sms-fallback", "payment", NULL};

static const VbSettingSpec vb_config_specs_vestibule[] = {
    {.key = "name",
     .type = VB_SETTING_STRING,
     .default_value = "Vestibule store",
     .blurb = N_("The store's name, shown to shoppers on the display, receipts and SMS")},
    {.key = "country",
     .type = VB_SETTING_STRING,
     .default_value = "FR",
     .blurb = N_("The store's country, as an ISO 3166-1 alpha-2 code such as FR")},
    {.key = "currency",
     .type = VB_SETTING_STRING,
     .default_value = "EUR",
     .blurb = N_("The currency of prices and holds, as an ISO 4217 code such as EUR")},
    {.key = "language",
     .type = VB_SETTING_STRING,
     .default_value = "en",
     .blurb = N_("The default language of prompts and SMS, as an ISO 639 code such as en")},
    {.key = "state-dir",
     .type = VB_SETTING_STRING,
     .default_value = VB_STATEDIR,
     .blurb = N_("The directory of the database and other state")},
    {.key = "operator-contact",
     .type = VB_SETTING_STRING,
     .default_value = "",
     .blurb = N_("How shoppers reach the operator, shown on receipts and in help replies")},
    {.key = "audit-retention-days",
     .type = VB_SETTING_INT,
     .default_value = "90",
     .min = 1,
     .max = 3650,
     .blurb = N_("How many days audit log entries are kept")},
    {NULL},
};

static const VbSettingSpec vb_config_specs_http[] = {
    {.key = "address",
     .type = VB_SETTING_STRING,
     .default_value = "127.0.0.1",
     .blurb = N_("The IP address the HTTP API listens on")},
    {.key = "port",
     .type = VB_SETTING_INT,
     .default_value = "8080",
     .min = 0,
     .max = 65535,
     .blurb = N_("The TCP port the HTTP API listens on; 0 picks a free port")},
    {.key = "public-url",
     .type = VB_SETTING_STRING,
     .default_value = "",
     .blurb = N_("The URL shoppers and webhooks reach the API at; empty means "
		 "http://ADDRESS:PORT")},
    {.key = "control-socket",
     .type = VB_SETTING_STRING,
     .default_value = VB_RUNDIR "/control.sock",
     .blurb = N_("The Unix socket vestibulectl talks to")},
    {.key = "max-body-bytes",
     .type = VB_SETTING_INT,
     .default_value = "65536",
     .min = 1024,
     .max = 16777216,
     .blurb = N_("The largest request body accepted, in bytes")},
    {.key = "max-header-bytes",
     .type = VB_SETTING_INT,
     .default_value = "16384",
     .min = 1024,
     .max = 1048576,
     .blurb = N_("The largest request header block accepted, in bytes")},
    {NULL},
};

static const VbSettingSpec vb_config_specs_services[] = {
    {.key = "sms",
     .type = VB_SETTING_STRING,
     .default_value = "",
     .blurb = N_("The instance that sends and receives SMS")},
    {.key = "sms-fallback",
     .type = VB_SETTING_STRING,
     .default_value = "",
     .blurb = N_("The instance that sends SMS when the first one fails")},
    {.key = "payment",
     .type = VB_SETTING_STRING,
     .default_value = "",
     .blurb = N_("The instance that places and settles payment holds")},
    {.key = "loyalty",
     .type = VB_SETTING_STRING_LIST,
     .default_value = "",
     .blurb = N_("The loyalty partner instances, separated by ';'")},
    {NULL},
};

static const VbSettingSpec vb_config_specs_door[] = {
    {.key = "reader",
     .type = VB_SETTING_STRING,
     .default_value = "",
     .blurb = N_("The card reader instance of the door")},
    {.key = "lock",
     .type = VB_SETTING_STRING,
     .default_value = "",
     .blurb = N_("The door lock instance")},
    {.key = "keypad",
     .type = VB_SETTING_STRING,
     .default_value = "",
     .blurb = N_("The keypad instance of the door")},
    {.key = "display",
     .type = VB_SETTING_STRING,
     .default_value = "",
     .blurb = N_("The display instance of the door")},
    {.key = "unlock-pulse-ms",
     .type = VB_SETTING_INT,
     .default_value = "5000",
     .min = 100,
     .max = 60000,
     .blurb = N_("How long the lock stays released, in milliseconds")},
    {NULL},
};

static const VbSettingSpec vb_config_specs_visit[] = {
    {.key = "hold-amount",
     .type = VB_SETTING_INT,
     .default_value = "5000",
     .min = 1,
     .max = 100000000,
     .blurb = N_("The pre-authorization hold, in minor units of the store's currency")},
    {.key = "verify-phone",
     .type = VB_SETTING_BOOLEAN,
     .default_value = "true",
     .blurb = N_("Whether a one-time code by SMS proves a new phone number")},
    {.key = "keypad-timeout-s",
     .type = VB_SETTING_INT,
     .default_value = "45",
     .min = 5,
     .max = 600,
     .blurb = N_("How long the keypad waits for the next key, in seconds")},
    {.key = "authorize-timeout-ms",
     .type = VB_SETTING_INT,
     .default_value = "8000",
     .min = 500,
     .max = 60000,
     .blurb = N_("How long the payment processor may take to place the hold")},
    {.key = "open-timeout-s",
     .type = VB_SETTING_INT,
     .default_value = "30",
     .min = 3,
     .max = 600,
     .blurb = N_("How long an unlocked door may stay unopened before the hold is cancelled")},
    {.key = "capture-deadline-h",
     .type = VB_SETTING_INT,
     .default_value = "44",
     .min = 1,
     .max = 168,
     .blurb = N_("Hours after the hold by which it is settled, whether or not an order came")},
    {.key = "deadline-capture-max",
     .type = VB_SETTING_INT,
     .default_value = "0",
     .min = 0,
     .max = 100000000,
     .blurb = N_("At the deadline without an order: 0 cancels the hold, N captures up to N")},
    {.key = "receipt-days",
     .type = VB_SETTING_INT,
     .default_value = "90",
     .min = 1,
     .max = 3650,
     .blurb = N_("How long a receipt link works, in days")},
    {.key = "operator-phone",
     .type = VB_SETTING_STRING,
     .default_value = "",
     .blurb = N_("The operator's phone (E.164) that shopper replies are forwarded to")},
    {.key = "operator-webhook",
     .type = VB_SETTING_STRING,
     .default_value = "",
     .blurb = N_("An http(s) URL that shopper replies are posted to, as JSON")},
    {NULL},
};

static const VbSettingSpec vb_config_specs_sms[] = {
    {.key = "max-segments",
     .type = VB_SETTING_INT,
     .default_value = "3",
     .min = 1,
     .max = 10,
     .blurb = N_("The most segments an SMS may take; a longer one is shortened at a word")},
    {.key = "rate-per-minute",
     .type = VB_SETTING_INT,
     .default_value = "60",
     .min = 0,
     .max = 60000,
     .blurb = N_("How many SMS the [services] sms provider is given a minute; 0 for no limit")},
    {.key = "fallback-rate-per-minute",
     .type = VB_SETTING_INT,
     .default_value = "60",
     .min = 0,
     .max = 60000,
     .blurb = N_("How many SMS the [services] sms-fallback provider is given a minute; 0 for "
		 "no limit")},
    {.key = "send-timeout-s",
     .type = VB_SETTING_INT,
     .default_value = "60",
     .min = 1,
     .max = 3600,
     .blurb = N_("How long a provider may take to answer a send before its outcome is "
		 "taken as unknown")},
    {NULL},
};

static const VbSettingSpec vb_config_specs_outbox[] = {
    {.key = "max-pending",
     .type = VB_SETTING_INT,
     .default_value = "10000",
     .min = 1,
     .max = 10000000,
     .blurb = N_("How many items may wait in the outbox before new ones are refused")},
    {.key = "max-age-h",
     .type = VB_SETTING_INT,
     .default_value = "168",
     .min = 1,
     .max = 8760,
     .blurb = N_("Hours after which an item not yet sent becomes a dead letter")},
    {.key = "max-attempts",
     .type = VB_SETTING_INT,
     .default_value = "200",
     .min = 1,
     .max = 1000,
     .blurb = N_("Attempts after which an item becomes a dead letter")},
    {.key = "base-delay-ms",
     .type = VB_SETTING_INT,
     .default_value = "1000",
     .min = 1,
     .max = 3600000,
     .blurb = N_("The first retry delay, doubled at each attempt, in milliseconds")},
    {.key = "max-delay-ms",
     .type = VB_SETTING_INT,
     .default_value = "3600000",
     .min = 1,
     .max = 86400000,
     .blurb = N_("The longest retry delay, in milliseconds")},
    {NULL},
};

static const VbSettingSpec vb_config_specs_instance[] = {
    {.key = "plugin",
     .type = VB_SETTING_STRING,
     .default_value = NULL,
     .blurb = N_("The plugin that runs this instance")},
    {.key = "enabled",
     .type = VB_SETTING_BOOLEAN,
     .default_value = "true",
     .blurb = N_("Whether the instance is started")},
    {NULL},
};

static const struct {
	const gchar *kind;
	const VbSettingSpec *specs;
	guint n_specs;
} vb_config_core_kinds[] = {
    {"vestibule", vb_config_specs_vestibule, G_N_ELEMENTS(vb_config_specs_vestibule) - 1},
    {"http", vb_config_specs_http, G_N_ELEMENTS(vb_config_specs_http) - 1},
    {"services", vb_config_specs_services, G_N_ELEMENTS(vb_config_specs_services) - 1},
    {"visit", vb_config_specs_visit, G_N_ELEMENTS(vb_config_specs_visit) - 1},
    {"sms", vb_config_specs_sms, G_N_ELEMENTS(vb_config_specs_sms) - 1},
    {"outbox", vb_config_specs_outbox, G_N_ELEMENTS(vb_config_specs_outbox) - 1},
    {"door", vb_config_specs_door, G_N_ELEMENTS(vb_config_specs_door) - 1},
    {"instance", vb_config_specs_instance, G_N_ELEMENTS(vb_config_specs_instance) - 1},
};

/* one key as defined by the file that won */
typedef struct {
	gchar *key;
	gchar *value; /* raw for the config; unescaped for secrets */
	gchar *origin;
	gboolean secret;
} VbConfigEntry;

typedef struct {
	gchar *name;
	gchar *origin; /* of the first header */
	GPtrArray *entries;
	GHashTable *index;
} VbConfigGroup;

typedef struct {
	GPtrArray *groups;
	GHashTable *index;
	gboolean secret;
} VbConfigTree;

struct _VbConfig {
	GObject parent_instance;
	GPtrArray *files;
	VbConfigTree *tree;
	VbConfigTree *secrets;
	gchar *secrets_path;
	GHashTable *values; /* group -> (key -> GVariant), set by validate */
	gboolean loaded;
};

G_DEFINE_TYPE(VbConfig, vb_config, G_TYPE_OBJECT)

static void
vb_config_wipe_string(gchar *str)
{
	if (str != NULL)
		sodium_memzero(str, strlen(str));
}

/* a string that may hold a secret: wiped, then freed */
typedef gchar VbConfigWipedString;

static void
vb_config_wiped_string_free(VbConfigWipedString *str)
{
	vb_config_wipe_string(str);
	g_free(str);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbConfigWipedString, vb_config_wiped_string_free)

static void
vb_config_entry_free(VbConfigEntry *entry)
{
	/* in the secrets file even a key name may be a pasted value */
	if (entry->secret) {
		vb_config_wipe_string(entry->key);
		vb_config_wipe_string(entry->value);
	}
	g_free(entry->key);
	g_free(entry->value);
	g_free(entry->origin);
	g_free(entry);
}

static VbConfigGroup *
vb_config_group_new(const gchar *name, const gchar *origin)
{
	VbConfigGroup *group = g_new0(VbConfigGroup, 1);
	group->name = g_strdup(name);
	group->origin = g_strdup(origin);
	group->entries = g_ptr_array_new_with_free_func((GDestroyNotify)vb_config_entry_free);
	group->index = g_hash_table_new(g_str_hash, g_str_equal);
	return group;
}

static void
vb_config_group_free(VbConfigGroup *group)
{
	g_hash_table_unref(group->index);
	g_ptr_array_unref(group->entries);
	g_free(group->name);
	g_free(group->origin);
	g_free(group);
}

static VbConfigEntry *
vb_config_group_lookup(VbConfigGroup *group, const gchar *key)
{
	if (group == NULL)
		return NULL;
	return g_hash_table_lookup(group->index, key);
}

/* takes @value; a later definition replaces an earlier one, keeping the key's place */
static void
vb_config_group_set(VbConfigGroup *group,
		    const gchar *key,
		    gchar *value,
		    const gchar *origin,
		    gboolean secret)
{
	VbConfigEntry *entry = g_hash_table_lookup(group->index, key);

	if (entry == NULL) {
		entry = g_new0(VbConfigEntry, 1);
		entry->key = g_strdup(key);
		entry->secret = secret;
		g_ptr_array_add(group->entries, entry);
		g_hash_table_insert(group->index, entry->key, entry);
	} else {
		if (entry->secret)
			vb_config_wipe_string(entry->value);
		g_free(entry->value);
		g_free(entry->origin);
	}
	entry->value = value;
	entry->origin = g_strdup(origin);
}

static VbConfigTree *
vb_config_tree_new(gboolean secret)
{
	VbConfigTree *tree = g_new0(VbConfigTree, 1);
	tree->groups = g_ptr_array_new_with_free_func((GDestroyNotify)vb_config_group_free);
	tree->index = g_hash_table_new(g_str_hash, g_str_equal);
	tree->secret = secret;
	return tree;
}

static void
vb_config_tree_free(VbConfigTree *tree)
{
	g_hash_table_unref(tree->index);
	g_ptr_array_unref(tree->groups);
	g_free(tree);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbConfigTree, vb_config_tree_free)

static VbConfigGroup *
vb_config_tree_lookup(VbConfigTree *tree, const gchar *name)
{
	if (tree == NULL)
		return NULL;
	return g_hash_table_lookup(tree->index, name);
}

/* groups of the same name merge, across files too */
static VbConfigGroup *
vb_config_tree_ensure_group(VbConfigTree *tree, const gchar *name, const gchar *origin)
{
	VbConfigGroup *group = g_hash_table_lookup(tree->index, name);

	if (group != NULL)
		return group;
	group = vb_config_group_new(name, origin);
	g_ptr_array_add(tree->groups, group);
	g_hash_table_insert(tree->index, group->name, group);
	return group;
}

static gchar *
vb_config_format_message(const gchar *origin, const gchar *format, va_list args)
    G_GNUC_PRINTF(2, 0);

static gchar *
vb_config_format_message(const gchar *origin, const gchar *format, va_list args)
{
	g_autofree gchar *msg = g_strdup_vprintf(format, args);

	if (origin == NULL)
		return g_steal_pointer(&msg);
	return g_strdup_printf("%s: %s", origin, msg);
}

static void
vb_config_add_message(GPtrArray *messages, const gchar *origin, const gchar *format, ...)
    G_GNUC_PRINTF(3, 4);

/* appends "ORIGIN: MESSAGE"; without @messages the text is logged instead */
static void
vb_config_add_message(GPtrArray *messages, const gchar *origin, const gchar *format, ...)
{
	va_list args;
	gchar *msg;

	va_start(args, format);
	msg = vb_config_format_message(origin, format, args);
	va_end(args);
	if (messages == NULL) {
		g_warning("%s", msg);
		g_free(msg);
		return;
	}
	g_ptr_array_add(messages, msg);
}

/* all errors in one message, one per line, so that everything is fixed in one go */
static void
vb_config_set_errors(GError **error, GPtrArray *errors)
{
	g_autoptr(GString) str = g_string_new(NULL);

	for (guint i = 0; i < errors->len; i++) {
		if (i > 0)
			g_string_append_c(str, '\n');
		g_string_append(str, g_ptr_array_index(errors, i));
	}
	g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_CONFIG, str->str);
}

/* a value as shown in a message: quoted, control characters escaped, cut when long */
static gchar *
vb_config_quote(const gchar *value)
{
	gchar exceptions[129];
	g_autofree gchar *valid = g_utf8_make_valid(value, -1);
	g_autofree gchar *escaped = NULL;
	gboolean cut = FALSE;

	/* keep non-ASCII text readable; only escape ASCII control characters */
	for (guint i = 0; i < 128; i++)
		exceptions[i] = (gchar)(0x80 + i);
	exceptions[128] = '\0';
	if (g_utf8_strlen(valid, -1) > VB_CONFIG_QUOTE_MAX_CHARS) {
		gchar *tmp = g_utf8_substring(valid, 0, VB_CONFIG_QUOTE_MAX_CHARS);
		g_free(valid);
		valid = tmp;
		cut = TRUE;
	}
	escaped = g_strescape(valid, exceptions);
	return g_strdup_printf("'%s%s'", escaped, cut ? "…" : "");
}

static gint
vb_config_error_code_from_file_error(const GError *error)
{
	if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
		return VB_ERROR_NOT_FOUND;
	if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_ACCES) ||
	    g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_PERM))
		return VB_ERROR_PERMISSION_DENIED;
	return VB_ERROR_IO;
}

/* GKeyFile's escapes: \s \n \t \r \\, plus \; inside a list. With @pieces the value
 * is split at each unescaped ';' and a trailing ';' adds no empty piece. With @secret
 * the message never shows any part of the value */
static gchar *
vb_config_unescape(const gchar *raw, GPtrArray *pieces, gboolean secret, GError **error)
{
	gsize len = strlen(raw);
	gchar *buf = g_malloc(len + 1);
	gchar *q = buf;
	gchar *q0 = buf;

	for (const gchar *p = raw; *p != '\0'; p++) {
		if (pieces != NULL && *p == ';') {
			g_ptr_array_add(pieces, g_strndup(q0, q - q0));
			q0 = q;
			continue;
		}
		if (*p != '\\') {
			*q++ = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 's':
			*q++ = ' ';
			continue;
		case 'n':
			*q++ = '\n';
			continue;
		case 't':
			*q++ = '\t';
			continue;
		case 'r':
			*q++ = '\r';
			continue;
		case '\\':
			*q++ = '\\';
			continue;
		case ';':
			if (pieces != NULL) {
				*q++ = ';';
				continue;
			}
			break;
		default:
			break;
		}
		if (*p == '\0') {
			g_set_error_literal(
			    error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the value ends with a single backslash; write \\\\ for "
			      "a backslash"));
		} else if (secret) {
			g_set_error_literal(
			    error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the value has an invalid escape sequence; write \\\\ for "
			      "a backslash"));
		} else {
			g_set_error(
			    error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("invalid escape sequence '\\%.*s'; write \\\\ for a backslash"),
			    (gint)(g_utf8_next_char(p) - p), p);
		}
		sodium_memzero(buf, len + 1);
		g_free(buf);
		return NULL;
	}
	*q = '\0';
	if (pieces != NULL && q0 < q)
		g_ptr_array_add(pieces, g_strndup(q0, q - q0));
	return buf;
}

/* an optional '-' then decimal digits only: no '+', no hex, no spaces inside */
static gboolean
vb_config_is_decimal(const gchar *str)
{
	if (*str == '-')
		str++;
	if (*str == '\0')
		return FALSE;
	for (; *str != '\0'; str++) {
		if (!g_ascii_isdigit(*str))
			return FALSE;
	}
	return TRUE;
}

static GVariant *
vb_setting_parse_int(const VbSettingSpec *spec, const gchar *raw, GError **error)
{
	gint64 value = 0;
	g_autofree gchar *stripped = g_strstrip(g_strdup(raw));
	g_autofree gchar *quoted = NULL;

	if (vb_config_is_decimal(stripped) &&
	    g_ascii_string_to_signed(stripped, 10, spec->min, spec->max, &value, NULL))
		return g_variant_ref_sink(g_variant_new_int64(value));
	quoted = vb_config_quote(raw);
	if (spec->min == G_MININT64 && spec->max == G_MAXINT64) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("expected an integer, got %s"), quoted);
		return NULL;
	}
	g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
		    _("expected an integer from %" PRId64 " to %" PRId64 ", got %s"), spec->min,
		    spec->max, quoted);
	return NULL;
}

static GVariant *
vb_setting_parse_boolean(const gchar *raw, GError **error)
{
	g_autofree gchar *stripped = g_strstrip(g_strdup(raw));
	g_autofree gchar *quoted = NULL;

	if (g_strcmp0(stripped, "true") == 0)
		return g_variant_ref_sink(g_variant_new_boolean(TRUE));
	if (g_strcmp0(stripped, "false") == 0)
		return g_variant_ref_sink(g_variant_new_boolean(FALSE));
	quoted = vb_config_quote(raw);
	g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA, _("expected true or false, got %s"),
		    quoted);
	return NULL;
}

static GVariant *
vb_setting_parse_string_list(const gchar *raw, GError **error)
{
	g_autoptr(GPtrArray) pieces = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *joined = vb_config_unescape(raw, pieces, FALSE, error);

	if (joined == NULL)
		return NULL;
	return g_variant_ref_sink(
	    g_variant_new_strv((const gchar *const *)pieces->pdata, pieces->len));
}

/**
 * vb_setting_parse:
 * @spec: the declared key
 * @raw: the value as written in the file, escapes included
 * @error: return location for a #GError
 *
 * Parses one value the way GKeyFile would, with stricter numbers and booleans:
 * an integer is decimal only, within the declared range; a boolean is `true` or
 * `false`; a list is split at each unescaped `;`.
 *
 * Returns: (transfer full): a non-floating #GVariant of type s, x, b or as, or %NULL
 */
GVariant *
vb_setting_parse(const VbSettingSpec *spec, const gchar *raw, GError **error)
{
	g_autofree gchar *str = NULL;

	g_return_val_if_fail(spec != NULL, NULL);
	g_return_val_if_fail(raw != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!g_utf8_validate(raw, -1, NULL)) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the value is not valid UTF-8 text"));
		return NULL;
	}
	switch (spec->type) {
	case VB_SETTING_STRING:
		str = vb_config_unescape(raw, NULL, FALSE, error);
		if (str == NULL)
			return NULL;
		return g_variant_ref_sink(g_variant_new_string(str));
	case VB_SETTING_INT:
		return vb_setting_parse_int(spec, raw, error);
	case VB_SETTING_BOOLEAN:
		return vb_setting_parse_boolean(raw, error);
	case VB_SETTING_STRING_LIST:
		return vb_setting_parse_string_list(raw, error);
	default:
		break;
	}
	g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
		    "key %s has an unknown setting type %d", spec->key, (gint)spec->type);
	return NULL;
}

/* the line scanner: GKeyFile's grammar, but it remembers FILE:LINE of every key and
 * reports every bad line, not only the first */

typedef struct {
	VbConfigTree *tree;
	const gchar *path;
	guint line;
	VbConfigGroup *group;
	gboolean in_bad_group; /* keys under a broken header are not reported again */
	GPtrArray *errors;
} VbConfigParser;

static gchar *
vb_config_parser_origin(VbConfigParser *parser)
{
	return g_strdup_printf("%s:%u", parser->path, parser->line);
}

static void
vb_config_parser_error(VbConfigParser *parser, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

static void
vb_config_parser_error(VbConfigParser *parser, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *origin = vb_config_parser_origin(parser);

	va_start(args, format);
	g_ptr_array_add(parser->errors, vb_config_format_message(origin, format, args));
	va_end(args);
}

/* as GKeyFile: non-empty, without '[', ']' or control characters */
static gboolean
vb_config_is_group_name(const gchar *name)
{
	if (*name == '\0')
		return FALSE;
	for (const gchar *p = name; *p != '\0'; p++) {
		if (*p == '[' || *p == ']' || g_ascii_iscntrl(*p))
			return FALSE;
	}
	return TRUE;
}

/* as GKeyFile: no '=', '[' or ']' except a trailing [locale], no space at either end */
static gboolean
vb_config_is_key_name(const gchar *key)
{
	const gchar *q = key;
	gsize len;

	while (*q != '\0' && *q != '=' && *q != '[' && *q != ']')
		q++;
	len = q - key;
	if (len == 0 || key[0] == ' ' || key[len - 1] == ' ')
		return FALSE;
	if (*q == '[') {
		q++;
		while (*q != '\0' && (g_unichar_isalnum(g_utf8_get_char(q)) || *q == '-' ||
				      *q == '_' || *q == '.' || *q == '@'))
			q = g_utf8_next_char(q);
		if (*q != ']')
			return FALSE;
		q++;
	}
	return *q == '\0';
}

/* as GKeyFile: '[', a name up to the first ']', then only blanks */
static gboolean
vb_config_line_is_group(const gchar *line, const gchar *end, gsize *name_len)
{
	const gchar *close;

	if (*line != '[')
		return FALSE;
	close = memchr(line, ']', end - line);
	if (close == NULL)
		return FALSE;
	for (const gchar *p = close + 1; p < end; p++) {
		if (*p != ' ' && *p != '\t')
			return FALSE;
	}
	*name_len = close - line - 1;
	return TRUE;
}

static void
vb_config_parse_group(VbConfigParser *parser, const gchar *start, gsize len)
{
	g_autofree gchar *name = g_strndup(start, len);
	g_autofree gchar *origin = NULL;
	g_autofree gchar *quoted = NULL;

	if (!vb_config_is_group_name(name)) {
		parser->group = NULL;
		parser->in_bad_group = TRUE;
		if (parser->tree->secret) {
			vb_config_parser_error(parser,
					       _("invalid section header; a section name must "
						 "not be empty or contain '[', ']' or control "
						 "characters"));
			return;
		}
		quoted = vb_config_quote(name);
		vb_config_parser_error(parser,
				       _("invalid section name %s; a section name must not be "
					 "empty or contain '[', ']' or control characters"),
				       quoted);
		return;
	}
	origin = vb_config_parser_origin(parser);
	parser->group = vb_config_tree_ensure_group(parser->tree, name, origin);
	parser->in_bad_group = FALSE;
}

static void
vb_config_parse_key_value(VbConfigParser *parser,
			  const gchar *line,
			  const gchar *eq,
			  const gchar *end)
{
	const gchar *key_end = eq;
	const gchar *value_start = eq + 1;
	const gchar *value_end = end;
	g_autoptr(VbConfigWipedString) key = NULL;
	g_autoptr(VbConfigWipedString) raw = NULL;
	g_autofree gchar *origin = NULL;
	g_autofree gchar *quoted = NULL;
	gchar *value;
	g_autoptr(GError) error_local = NULL;

	while (key_end > line && g_ascii_isspace(key_end[-1]))
		key_end--;
	key = g_strndup(line, key_end - line);
	if (!vb_config_is_key_name(key)) {
		/* in the secrets file a broken line may be a value: never show it */
		if (parser->tree->secret) {
			vb_config_parser_error(parser,
					       _("invalid key name; a key name must not contain "
						 "'[' or ']' or start or end with a space"));
			return;
		}
		quoted = vb_config_quote(key);
		vb_config_parser_error(parser,
				       _("invalid key name %s; a key name must not contain '[' "
					 "or ']' or start or end with a space"),
				       quoted);
		return;
	}
	if (parser->group == NULL) {
		if (parser->in_bad_group)
			return;
		vb_config_parser_error(parser,
				       _("this key is outside of any section; add a [section] "
					 "header above it"));
		return;
	}

	/* blanks around a value are dropped; \s keeps a space */
	while (value_start < value_end && g_ascii_isspace(*value_start))
		value_start++;
	while (value_end > value_start && g_ascii_isspace(value_end[-1]))
		value_end--;
	raw = g_strndup(value_start, value_end - value_start);
	origin = vb_config_parser_origin(parser);
	if (!parser->tree->secret) {
		vb_config_group_set(parser->group, key, g_steal_pointer(&raw), origin, FALSE);
		return;
	}

	/* secrets are unescaped now, so that no code path later has to */
	value = vb_config_unescape(raw, NULL, TRUE, &error_local);
	if (value == NULL) {
		vb_config_parser_error(parser, "%s", error_local->message);
		return;
	}
	vb_config_group_set(parser->group, key, value, origin, TRUE);
}

static void
vb_config_parse_line(VbConfigParser *parser, const gchar *line, gsize len)
{
	const gchar *end = line + len;
	const gchar *p = line;
	const gchar *eq;
	gsize name_len = 0;
	g_autofree gchar *text = NULL;
	g_autofree gchar *quoted = NULL;

	if (!g_utf8_validate_len(line, len, NULL)) {
		vb_config_parser_error(parser,
				       _("this line is not valid UTF-8 text; save the file as "
					 "UTF-8"));
		return;
	}
	while (p < end && g_ascii_isspace(*p))
		p++;
	if (p == end || *p == '#')
		return;
	if (vb_config_line_is_group(p, end, &name_len)) {
		vb_config_parse_group(parser, p + 1, name_len);
		return;
	}
	eq = memchr(p, '=', end - p);
	if (eq != NULL && eq != p) {
		vb_config_parse_key_value(parser, p, eq, end);
		return;
	}
	if (*p == '[' && memchr(p, ']', end - p) == NULL) {
		vb_config_parser_error(parser, _("this section header has no closing ']'"));
		return;
	}
	if (eq == p) {
		vb_config_parser_error(parser, _("a key name is missing before '='"));
		return;
	}
	if (parser->tree->secret) {
		vb_config_parser_error(parser,
				       _("this line is not a [section] header, a key = value "
					 "pair or a # comment"));
		return;
	}
	/* the line is not NUL-terminated in the file's buffer */
	text = g_strndup(p, end - p);
	quoted = vb_config_quote(text);
	vb_config_parser_error(parser,
			       _("expected a [section] header, a key = value pair or a # "
				 "comment, got %s"),
			       quoted);
}

static void
vb_config_parse(VbConfigTree *tree,
		const gchar *path,
		const gchar *data,
		gsize len,
		GPtrArray *errors)
{
	VbConfigParser parser = {.tree = tree, .path = path, .errors = errors};
	const gchar *p = data;
	const gchar *end = data + len;

	/* some editors start UTF-8 files with a byte order mark */
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		const gchar *eol = memchr(p, '\n', end - p);
		gsize line_len = (eol != NULL ? eol : end) - p;

		parser.line++;
		if (line_len > 0 && p[line_len - 1] == '\r')
			line_len--;
		vb_config_parse_line(&parser, p, line_len);
		p = eol != NULL ? eol + 1 : end;
	}
}

/* the POSIX ACL xattr, as in linux/posix_acl_xattr.h */
#define VB_CONFIG_ACL_XATTR "system.posix_acl_access"
#define VB_CONFIG_ACL_VERSION 2
#define VB_CONFIG_ACL_USER_OBJ 0x01
#define VB_CONFIG_ACL_USER 0x02
#define VB_CONFIG_ACL_GROUP_OBJ 0x04
#define VB_CONFIG_ACL_GROUP 0x08
#define VB_CONFIG_ACL_MASK 0x10
#define VB_CONFIG_ACL_OTHER 0x20

/* systemd's LoadCredential= gives a non-root service read access with an ACL entry
 * user:UID:r on a root-owned 0400 file, and stat() then shows the ACL mask as group
 * bits (0440). Such a file is still private: only the owner and the effective user
 * have an entry, and the owning group, other groups and others have no access */
static gboolean
vb_config_acl_is_private(gint fd, uid_t euid)
{
	guint8 buf[1024];
	gssize len = fgetxattr(fd, VB_CONFIG_ACL_XATTR, buf, sizeof(buf));
	guint32 version;

	if (len < 4 || (len - 4) % 8 != 0)
		return FALSE;
	memcpy(&version, buf, sizeof(version));
	if (GUINT32_FROM_LE(version) != VB_CONFIG_ACL_VERSION)
		return FALSE;
	for (gssize i = 4; i < len; i += 8) {
		guint16 tag, perm;
		guint32 id;

		memcpy(&tag, buf + i, sizeof(tag));
		memcpy(&perm, buf + i + 2, sizeof(perm));
		memcpy(&id, buf + i + 4, sizeof(id));
		switch (GUINT16_FROM_LE(tag)) {
		case VB_CONFIG_ACL_USER_OBJ:
		case VB_CONFIG_ACL_MASK:
			break;
		case VB_CONFIG_ACL_USER:
			if (GUINT32_FROM_LE(id) != euid)
				return FALSE;
			break;
		case VB_CONFIG_ACL_GROUP_OBJ:
		case VB_CONFIG_ACL_GROUP:
		case VB_CONFIG_ACL_OTHER:
			if (GUINT16_FROM_LE(perm) != 0)
				return FALSE;
			break;
		default:
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
vb_config_check_file(gint fd,
		     const gchar *path,
		     const struct stat *st,
		     gboolean secret,
		     GError **error)
{
	uid_t euid = geteuid();

	if (!secret) {
		if (S_ISREG(st->st_mode))
			return TRUE;
		g_set_error(error, VB_ERROR, VB_ERROR_IO,
			    _("%s is not a regular file; remove it or replace it with a "
			      "configuration file"),
			    path);
		return FALSE;
	}
	if (!S_ISREG(st->st_mode)) {
		g_set_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
			    _("secrets file %s is not a regular file; replace it with a plain "
			      "file of mode 0600"),
			    path);
		return FALSE;
	}
	if ((st->st_mode & 077) != 0 &&
	    ((st->st_mode & 007) != 0 || !vb_config_acl_is_private(fd, euid))) {
		g_set_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
			    _("secrets file %s has mode %04o, which lets its group or others "
			      "access it; run 'chmod 600 %s'"),
			    path, (guint)(st->st_mode & 07777), path);
		return FALSE;
	}
	if (st->st_uid != euid && st->st_uid != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
			    _("secrets file %s is owned by uid %u, neither root nor the user "
			      "vestibuled runs as (uid %u); run 'chown %u %s'"),
			    path, (guint)st->st_uid, (guint)euid, (guint)euid, path);
		return FALSE;
	}
	return TRUE;
}

/* reads to the end; the buffer is wiped whenever it moves, so that no stray copy
 * of a secret is left in freed memory */
static gchar *
vb_config_read_fd(gint fd, const gchar *path, gsize *len_out, GError **error)
{
	gsize size = 4096;
	gsize len = 0;
	gchar *buf = g_malloc(size);

	for (;;) {
		gssize n;

		if (len + 1 == size) {
			gchar *bigger;

			if (size >= VB_CONFIG_FILE_MAX_SIZE) {
				sodium_memzero(buf, size);
				g_free(buf);
				g_set_error(error, VB_ERROR, VB_ERROR_TOO_LARGE,
					    _("%s is larger than %u bytes; is it the right file?"),
					    path, (guint)VB_CONFIG_FILE_MAX_SIZE);
				return NULL;
			}
			bigger = g_malloc(size * 2);
			memcpy(bigger, buf, len);
			sodium_memzero(buf, size);
			g_free(buf);
			buf = bigger;
			size *= 2;
		}
		n = read(fd, buf + len, size - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			gint errsv = errno;
			sodium_memzero(buf, size);
			g_free(buf);
			g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
				    _("cannot read %s: %s"), path, g_strerror(errsv));
			return NULL;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	*len_out = len;
	return buf;
}

static gchar *
vb_config_read_open_file(gint fd,
			 const gchar *path,
			 gboolean secret,
			 gsize *len_out,
			 GError **error)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv), _("cannot read %s: %s"),
			    path, g_strerror(errsv));
		return NULL;
	}
	if (!vb_config_check_file(fd, path, &st, secret, error))
		return NULL;
	return vb_config_read_fd(fd, path, len_out, error);
}

/* VB_ERROR_NOT_FOUND means the file does not exist, nothing else */
static gchar *
vb_config_read_file(const gchar *path, gboolean secret, gsize *len_out, GError **error)
{
	gchar *data;
	gint fd;

	/* O_NONBLOCK: a fifo must not hang the daemon; it is refused after fstat */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		gint errsv = errno;
		gint code = vb_error_from_errno(errsv);

		if (errsv == ENOENT)
			code = VB_ERROR_NOT_FOUND;
		else if (code == VB_ERROR_NOT_FOUND)
			code = VB_ERROR_IO;
		if (secret && errsv == EACCES) {
			g_set_error(error, VB_ERROR, code,
				    _("cannot open secrets file %s: %s; make it owned by the user "
				      "vestibuled runs as (uid %u) with mode 0600, or pass it with "
				      "systemd's LoadCredential="),
				    path, g_strerror(errsv), (guint)geteuid());
			return NULL;
		}
		g_set_error(error, VB_ERROR, code, _("cannot open %s: %s"), path,
			    g_strerror(errsv));
		return NULL;
	}
	data = vb_config_read_open_file(fd, path, secret, len_out, error);
	g_close(fd, NULL);
	return data;
}

static gint
vb_config_strcmp_ptr(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* DIR/conf.d/\*.conf in strcmp order; a missing conf.d is fine */
static GPtrArray *
vb_config_list_drop_ins(const gchar *dir, GError **error)
{
	g_autofree gchar *confd = g_build_filename(dir, "conf.d", NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) gdir = NULL;
	g_autoptr(GError) error_local = NULL;
	const gchar *name;

	gdir = g_dir_open(confd, 0, &error_local);
	if (gdir == NULL) {
		if (g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return g_steal_pointer(&paths);
		g_set_error(error, VB_ERROR, vb_config_error_code_from_file_error(error_local),
			    _("cannot list the drop-in directory %s: %s"), confd,
			    error_local->message);
		return NULL;
	}
	while ((name = g_dir_read_name(gdir)) != NULL) {
		/* hidden files are editor and package manager leftovers */
		if (name[0] == '.' || !g_str_has_suffix(name, ".conf"))
			continue;
		g_ptr_array_add(names, g_strdup(name));
	}
	g_ptr_array_sort(names, vb_config_strcmp_ptr);
	for (guint i = 0; i < names->len; i++)
		g_ptr_array_add(paths, g_build_filename(confd, g_ptr_array_index(names, i), NULL));
	return g_steal_pointer(&paths);
}

static gboolean
vb_config_load_file(VbConfig *self,
		    const gchar *path,
		    gboolean main_file,
		    GPtrArray *errors,
		    GError **error)
{
	g_autofree gchar *data = NULL;
	g_autoptr(GError) error_local = NULL;
	gsize len = 0;

	data = vb_config_read_file(path, FALSE, &len, &error_local);
	if (data == NULL) {
		if (main_file && g_error_matches(error_local, VB_ERROR, VB_ERROR_NOT_FOUND)) {
			g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
				    _("configuration file %s does not exist: create it, or give "
				      "the path of "
				      "another file"),
				    path);
			return FALSE;
		}
		g_propagate_error(error, g_steal_pointer(&error_local));
		if (!main_file)
			g_prefix_error(error, _("cannot load drop-in: "));
		return FALSE;
	}
	g_ptr_array_add(self->files, g_strdup(path));
	vb_config_parse(self->tree, path, data, len, errors);
	return TRUE;
}

/**
 * vb_config_load:
 * @self: a #VbConfig
 * @path: the main configuration file
 * @error: return location for a #GError
 *
 * Loads @path, then every `DIR/conf.d/\*.conf` in strcmp order, where DIR is the
 * directory of @path. Groups merge; a later file overrides an earlier one key by
 * key. Every syntax error of every file is reported, each as `FILE:LINE: ...`.
 *
 * Returns: %TRUE on success
 */
gboolean
vb_config_load(VbConfig *self, const gchar *path, GError **error)
{
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) drop_ins = NULL;
	g_autofree gchar *dir = NULL;

	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(path != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	/* a config is loaded once; a reload builds a new one */
	g_return_val_if_fail(!self->loaded, FALSE);

	self->loaded = TRUE;
	if (!vb_config_load_file(self, path, TRUE, errors, error))
		return FALSE;
	dir = g_path_get_dirname(path);
	drop_ins = vb_config_list_drop_ins(dir, error);
	if (drop_ins == NULL)
		return FALSE;
	for (guint i = 0; i < drop_ins->len; i++) {
		if (!vb_config_load_file(self, g_ptr_array_index(drop_ins, i), FALSE, errors,
					 error))
			return FALSE;
	}
	if (errors->len > 0) {
		vb_config_set_errors(error, errors);
		return FALSE;
	}
	return TRUE;
}

/**
 * vb_config_load_secrets:
 * @self: a #VbConfig
 * @path: (nullable): the secrets file, or %NULL for the default
 * @error: return location for a #GError
 *
 * Loads the secrets keyfile. With @path %NULL, `$CREDENTIALS_DIRECTORY/vestibule-secrets`
 * is used when systemd's `LoadCredential=` set that variable, else
 * `SYSCONFDIR/vestibule/secrets.conf`. A file that is not a regular file, that group
 * or others may access, or that is owned by neither root nor the effective user is
 * refused with %VB_ERROR_PERMISSION_DENIED. A missing file is not an error: there are
 * then no secrets. No message ever shows a secret value.
 *
 * Returns: %TRUE on success
 */
gboolean
vb_config_load_secrets(VbConfig *self, const gchar *path, GError **error)
{
	g_autoptr(VbConfigTree) tree = vb_config_tree_new(TRUE);
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *path_used = NULL;
	gchar *data;
	gsize len = 0;

	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (path == NULL) {
		const gchar *creds = g_getenv("CREDENTIALS_DIRECTORY");

		if (creds != NULL && creds[0] != '\0')
			path_used = g_build_filename(creds, "vestibule-secrets", NULL);
		else
			path_used = g_strdup(VB_SYSCONFDIR "/secrets.conf");
	} else {
		path_used = g_strdup(path);
	}

	data = vb_config_read_file(path_used, TRUE, &len, &error_local);
	if (data == NULL) {
		if (!g_error_matches(error_local, VB_ERROR, VB_ERROR_NOT_FOUND)) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		g_debug("no secrets file at %s", path_used);
	} else {
		vb_config_parse(tree, path_used, data, len, errors);
		sodium_memzero(data, len);
		g_free(data);
		if (errors->len > 0) {
			vb_config_set_errors(error, errors);
			return FALSE;
		}
	}
	g_clear_pointer(&self->secrets, vb_config_tree_free);
	self->secrets = g_steal_pointer(&tree);
	g_free(self->secrets_path);
	self->secrets_path = g_steal_pointer(&path_used);
	return TRUE;
}

static const VbSettingSpec *
vb_config_find_spec(const VbSettingSpec *specs, guint n_specs, const gchar *key)
{
	for (guint i = 0; i < n_specs && specs[i].key != NULL; i++) {
		if (g_strcmp0(specs[i].key, key) == 0)
			return &specs[i];
	}
	return NULL;
}

/**
 * vb_config_get_core_specs:
 * @section_kind: "vestibule", "http", "services", "visit", "sms", "outbox", "door" or
 *   "instance"
 * @n_specs: (out) (optional): the number of specs, without the terminator
 *
 * Returns: (transfer none) (nullable): the specs, terminated by a %NULL key, or
 *   %NULL for a kind the core does not know
 */
const VbSettingSpec *
vb_config_get_core_specs(const gchar *section_kind, guint *n_specs)
{
	for (guint i = 0; i < G_N_ELEMENTS(vb_config_core_kinds); i++) {
		if (g_strcmp0(vb_config_core_kinds[i].kind, section_kind) != 0)
			continue;
		if (n_specs != NULL)
			*n_specs = vb_config_core_kinds[i].n_specs;
		return vb_config_core_kinds[i].specs;
	}
	if (n_specs != NULL)
		*n_specs = 0;
	return NULL;
}

/* the schema kind of a group name, or NULL for a section the core does not know;
 * @name is what follows "door:" or "instance:" */
static const gchar *
vb_config_group_kind(const gchar *group, const gchar **name)
{
	const gchar *fixed[] = {"vestibule", "http", "services", "visit", "sms", "outbox"};

	if (name != NULL)
		*name = NULL;
	for (guint i = 0; i < G_N_ELEMENTS(fixed); i++) {
		if (g_strcmp0(group, fixed[i]) == 0)
			return fixed[i];
	}
	if (g_str_has_prefix(group, "door:")) {
		if (name != NULL)
			*name = group + strlen("door:");
		return "door";
	}
	if (g_str_has_prefix(group, "instance:")) {
		if (name != NULL)
			*name = group + strlen("instance:");
		return "instance";
	}
	return NULL;
}

/* [a-z0-9][a-z0-9_-]{0,31}: names end up in logs, metrics and file names */
static gboolean
vb_config_is_instance_name(const gchar *name)
{
	gsize len = strlen(name);

	if (len == 0 || len > VB_CONFIG_NAME_MAX_LEN)
		return FALSE;
	if (!g_ascii_islower(name[0]) && !g_ascii_isdigit(name[0]))
		return FALSE;
	for (gsize i = 1; i < len; i++) {
		if (!g_ascii_islower(name[i]) && !g_ascii_isdigit(name[i]) && name[i] != '-' &&
		    name[i] != '_')
			return FALSE;
	}
	return TRUE;
}

/* Levenshtein distance, for "did you mean" hints */
static guint
vb_config_edit_distance(const gchar *a, const gchar *b)
{
	gsize la = strlen(a);
	gsize lb = strlen(b);
	g_autofree guint *prev = g_new(guint, lb + 1);
	g_autofree guint *cur = g_new(guint, lb + 1);

	for (gsize j = 0; j <= lb; j++)
		prev[j] = j;
	for (gsize i = 1; i <= la; i++) {
		guint *tmp;

		cur[0] = i;
		for (gsize j = 1; j <= lb; j++) {
			guint cost = a[i - 1] == b[j - 1] ? 0 : 1;
			cur[j] = MIN(MIN(prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);
		}
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
	return prev[lb];
}

static const gchar *
vb_config_suggest_key(const VbSettingSpec *specs, guint n_specs, const gchar *key)
{
	const gchar *best = NULL;
	guint best_distance = 3;

	for (guint i = 0; i < n_specs && specs[i].key != NULL; i++) {
		guint distance = vb_config_edit_distance(key, specs[i].key);
		if (distance < best_distance && distance < strlen(key)) {
			best = specs[i].key;
			best_distance = distance;
		}
	}
	return best;
}

static void
vb_config_resolve_group(VbConfig *self,
			const gchar *group_name,
			const VbSettingSpec *specs,
			guint n_specs,
			const gchar *const *extra_keys,
			gboolean warn_unknown,
			GHashTable *values,
			GPtrArray *warnings,
			GPtrArray *errors)
{
	VbConfigGroup *group = vb_config_tree_lookup(self->tree, group_name);

	for (guint i = 0; i < n_specs && specs[i].key != NULL; i++) {
		const VbSettingSpec *spec = &specs[i];
		VbConfigEntry *entry = vb_config_group_lookup(group, spec->key);
		g_autoptr(GError) error_local = NULL;
		GVariant *value;

		if (entry != NULL) {
			value = vb_setting_parse(spec, entry->value, &error_local);
			if (value == NULL) {
				vb_config_add_message(errors, entry->origin, "[%s] %s: %s",
						      group_name, spec->key, error_local->message);
				continue;
			}
		} else if (spec->default_value == NULL) {
			vb_config_add_message(errors, group != NULL ? group->origin : NULL,
					      _("[%s] has no key '%s', which is required; add "
						"%s=VALUE"),
					      group_name, spec->key, spec->key);
			continue;
		} else {
			value = vb_setting_parse(spec, spec->default_value, &error_local);
			if (value == NULL) {
				/* a bug in whoever declared the spec, not in the file */
				vb_config_add_message(
				    errors, NULL, "[%s] %s: the declared default is invalid: %s",
				    group_name, spec->key, error_local->message);
				continue;
			}
		}
		g_hash_table_replace(values, g_strdup(spec->key), value);
	}

	if (group == NULL || !warn_unknown)
		return;
	for (guint i = 0; i < group->entries->len; i++) {
		VbConfigEntry *entry = g_ptr_array_index(group->entries, i);
		const gchar *suggestion;

		if (vb_config_find_spec(specs, n_specs, entry->key) != NULL)
			continue;
		if (extra_keys != NULL && g_strv_contains(extra_keys, entry->key))
			continue;
		suggestion = vb_config_suggest_key(specs, n_specs, entry->key);
		if (suggestion != NULL) {
			vb_config_add_message(warnings, entry->origin,
					      _("unknown key '%s' in [%s] is ignored; did you mean "
						"'%s'?"),
					      entry->key, group_name, suggestion);
			continue;
		}
		vb_config_add_message(warnings, entry->origin,
				      _("unknown key '%s' in [%s] is ignored"), entry->key,
				      group_name);
	}
}

/**
 * vb_config_resolve:
 * @self: a #VbConfig
 * @group: a section name such as `instance:front-lock`
 * @specs: the declared keys
 * @n_specs: the number of @specs; a spec with a %NULL key also ends them
 * @extra_keys: (nullable): keys of @group that someone else declares
 * @values: key -> #GVariant, created by the caller with g_str_hash, g_str_equal,
 *   g_free and g_variant_unref
 * @warnings: (nullable): gets "FILE:LINE: ..." for each unknown key; %NULL logs them
 * @error: return location for a #GError
 *
 * Resolves each spec for @group, applying defaults. Every problem of the section is
 * reported at once, one per line of the message.
 *
 * Returns: %TRUE on success
 */
gboolean
vb_config_resolve(VbConfig *self,
		  const gchar *group,
		  const VbSettingSpec *specs,
		  guint n_specs,
		  const gchar *const *extra_keys,
		  GHashTable *values,
		  GPtrArray *warnings,
		  GError **error)
{
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);

	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(group != NULL, FALSE);
	g_return_val_if_fail(specs != NULL || n_specs == 0, FALSE);
	g_return_val_if_fail(values != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	vb_config_resolve_group(self, group, specs, n_specs, extra_keys, TRUE, values, warnings,
				errors);
	if (errors->len > 0) {
		vb_config_set_errors(error, errors);
		return FALSE;
	}
	return TRUE;
}

static const gchar *
vb_config_origin_of(VbConfig *self, const gchar *group, const gchar *key)
{
	VbConfigEntry *entry =
	    vb_config_group_lookup(vb_config_tree_lookup(self->tree, group), key);
	return entry != NULL ? entry->origin : NULL;
}

static const gchar *
vb_config_value_string(GHashTable *all, const gchar *group, const gchar *key)
{
	GHashTable *values = g_hash_table_lookup(all, group);
	GVariant *value = values != NULL ? g_hash_table_lookup(values, key) : NULL;

	if (value == NULL || !g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
		return NULL;
	return g_variant_get_string(value, NULL);
}

static gboolean
vb_config_is_letters(const gchar *str, gsize min_len, gsize max_len, gboolean upper)
{
	gsize len = strlen(str);

	if (len < min_len || len > max_len)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (upper ? !g_ascii_isupper(str[i]) : !g_ascii_islower(str[i]))
			return FALSE;
	}
	return TRUE;
}

static void
vb_config_check_vestibule(VbConfig *self, GHashTable *all, GPtrArray *errors)
{
	const gchar *country = vb_config_value_string(all, "vestibule", "country");
	const gchar *currency = vb_config_value_string(all, "vestibule", "currency");
	const gchar *language = vb_config_value_string(all, "vestibule", "language");
	const gchar *state_dir = vb_config_value_string(all, "vestibule", "state-dir");
	g_autofree gchar *quoted = NULL;

	if (country != NULL && g_strcmp0(country, "UK") == 0) {
		vb_config_add_message(errors, vb_config_origin_of(self, "vestibule", "country"),
				      _("[vestibule] country: 'UK' is not an ISO 3166-1 code; the "
					"United Kingdom is GB"));
	} else if (country != NULL && !vb_config_is_letters(country, 2, 2, TRUE)) {
		quoted = vb_config_quote(country);
		vb_config_add_message(errors, vb_config_origin_of(self, "vestibule", "country"),
				      _("[vestibule] country: expected an ISO 3166-1 alpha-2 code "
					"of two upper-case letters such as FR or DE, got %s"),
				      quoted);
		g_clear_pointer(&quoted, g_free);
	}
	if (currency != NULL && !vb_config_is_letters(currency, 3, 3, TRUE)) {
		quoted = vb_config_quote(currency);
		vb_config_add_message(errors, vb_config_origin_of(self, "vestibule", "currency"),
				      _("[vestibule] currency: expected an ISO 4217 code of three "
					"upper-case letters such as EUR or USD, got %s"),
				      quoted);
		g_clear_pointer(&quoted, g_free);
	}
	if (language != NULL && !vb_config_is_letters(language, 2, 3, FALSE)) {
		quoted = vb_config_quote(language);
		vb_config_add_message(errors, vb_config_origin_of(self, "vestibule", "language"),
				      _("[vestibule] language: expected an ISO 639 code of two or "
					"three lower-case letters such as en or fr, got %s"),
				      quoted);
		g_clear_pointer(&quoted, g_free);
	}
	if (state_dir != NULL && !g_path_is_absolute(state_dir)) {
		quoted = vb_config_quote(state_dir);
		vb_config_add_message(errors, vb_config_origin_of(self, "vestibule", "state-dir"),
				      _("[vestibule] state-dir: expected an absolute path, got %s"),
				      quoted);
	}
}

static void
vb_config_check_http(VbConfig *self, GHashTable *all, GPtrArray *errors)
{
	const gchar *address = vb_config_value_string(all, "http", "address");
	const gchar *public_url = vb_config_value_string(all, "http", "public-url");
	const gchar *socket = vb_config_value_string(all, "http", "control-socket");
	g_autofree gchar *quoted = NULL;

	if (address != NULL && !g_hostname_is_ip_address(address)) {
		quoted = vb_config_quote(address);
		vb_config_add_message(errors, vb_config_origin_of(self, "http", "address"),
				      _("[http] address: expected an IP address such as 127.0.0.1, "
					"0.0.0.0 or ::1, got %s"),
				      quoted);
		g_clear_pointer(&quoted, g_free);
	}
	if (public_url != NULL && public_url[0] != '\0') {
		g_autoptr(GUri) uri = g_uri_parse(public_url, G_URI_FLAGS_NONE, NULL);
		const gchar *scheme = uri != NULL ? g_uri_get_scheme(uri) : NULL;
		const gchar *host = uri != NULL ? g_uri_get_host(uri) : NULL;

		if (uri == NULL ||
		    (g_strcmp0(scheme, "http") != 0 && g_strcmp0(scheme, "https") != 0) ||
		    host == NULL || host[0] == '\0') {
			quoted = vb_config_quote(public_url);
			vb_config_add_message(
			    errors, vb_config_origin_of(self, "http", "public-url"),
			    _("[http] public-url: expected an http:// or https:// "
			      "URL such as https://shop.example.com, got %s"),
			    quoted);
			g_clear_pointer(&quoted, g_free);
		}
	}
	if (socket != NULL && !g_path_is_absolute(socket)) {
		quoted = vb_config_quote(socket);
		vb_config_add_message(errors, vb_config_origin_of(self, "http", "control-socket"),
				      _("[http] control-socket: expected an absolute path, got %s"),
				      quoted);
	} else if (socket != NULL &&
		   strlen(socket) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		vb_config_add_message(
		    errors, vb_config_origin_of(self, "http", "control-socket"),
		    _("[http] control-socket: the path is %u bytes long; a socket "
		      "path must be shorter than %u bytes"),
		    (guint)strlen(socket), (guint)sizeof(((struct sockaddr_un *)NULL)->sun_path));
	}
}

/* a role names an [instance:NAME] that must exist */
static void
vb_config_check_reference(VbConfig *self,
			  GHashTable *all,
			  const gchar *group,
			  const gchar *key,
			  const gchar *name,
			  GPtrArray *warnings,
			  GPtrArray *errors)
{
	g_autofree gchar *target = g_strdup_printf("instance:%s", name);
	GHashTable *values;
	GVariant *enabled;

	if (!vb_config_has_group(self, target)) {
		vb_config_add_message(errors, vb_config_origin_of(self, group, key),
				      _("[%s] %s: no section [%s]; add it with plugin=NAME, or fix "
					"the name"),
				      group, key, target);
		return;
	}
	values = g_hash_table_lookup(all, target);
	enabled = values != NULL ? g_hash_table_lookup(values, "enabled") : NULL;
	if (enabled != NULL && !g_variant_get_boolean(enabled)) {
		vb_config_add_message(warnings, vb_config_origin_of(self, group, key),
				      _("[%s] %s: [%s] is disabled, so the role stays empty"),
				      group, key, target);
	}
}

static void
vb_config_check_references(VbConfig *self, GHashTable *all, GPtrArray *warnings, GPtrArray *errors)
{
	GHashTable *services = g_hash_table_lookup(all, "services");

	for (guint i = 0; i < self->tree->groups->len; i++) {
		VbConfigGroup *group = g_ptr_array_index(self->tree->groups, i);

		if (!g_str_has_prefix(group->name, "door:"))
			continue;
		for (guint j = 0; vb_config_door_roles[j] != NULL; j++) {
			const gchar *role = vb_config_door_roles[j];
			const gchar *name = vb_config_value_string(all, group->name, role);
			if (name != NULL && name[0] != '\0')
				vb_config_check_reference(self, all, group->name, role, name,
							  warnings, errors);
		}
	}
	for (guint j = 0; vb_config_service_roles[j] != NULL; j++) {
		const gchar *role = vb_config_service_roles[j];
		const gchar *name = vb_config_value_string(all, "services", role);
		if (name != NULL && name[0] != '\0')
			vb_config_check_reference(self, all, "services", role, name, warnings,
						  errors);
	}
	if (services != NULL && g_hash_table_lookup(services, "loyalty") != NULL) {
		g_autofree const gchar **names =
		    g_variant_get_strv(g_hash_table_lookup(services, "loyalty"), NULL);
		for (guint j = 0; names[j] != NULL; j++)
			vb_config_check_reference(self, all, "services", "loyalty", names[j],
						  warnings, errors);
	}
}

/* why a value is not a 32-byte key, without showing any of it */
static const gchar *
vb_config_decode_key32(const gchar *value, guint8 *key)
{
	gsize len = strlen(value);

	if (len == 0)
		return _("it is empty");
	if (len != 2 * VB_CONFIG_KEY32_LEN)
		return _("it has the wrong length");
	for (guint i = 0; i < VB_CONFIG_KEY32_LEN; i++) {
		gint hi = g_ascii_xdigit_value(value[2 * i]);
		gint lo = g_ascii_xdigit_value(value[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			sodium_memzero(key, VB_CONFIG_KEY32_LEN);
			return _("it has a character other than 0-9 and a-f");
		}
		key[i] = (guint8)((hi << 4) | lo);
	}
	return NULL;
}

/* the secrets file is checked without ever quoting a name or value from it that
 * the core does not itself know */
static void
vb_config_check_secrets(VbConfig *self, GPtrArray *warnings, GPtrArray *errors)
{
	if (self->secrets == NULL)
		return;
	for (guint i = 0; i < self->secrets->groups->len; i++) {
		VbConfigGroup *group = g_ptr_array_index(self->secrets->groups, i);
		const gchar *name = NULL;
		const gchar *kind = vb_config_group_kind(group->name, &name);

		if (g_strcmp0(kind, "instance") == 0 && vb_config_is_instance_name(name)) {
			if (!vb_config_has_group(self, group->name))
				vb_config_add_message(
				    warnings, group->origin,
				    _("secrets for [%s], but the configuration has "
				      "no such section"),
				    group->name);
			continue;
		}
		if (g_strcmp0(kind, "vestibule") != 0) {
			vb_config_add_message(warnings, group->origin,
					      _("unknown section in the secrets file is ignored"));
			continue;
		}
		for (guint j = 0; j < group->entries->len; j++) {
			VbConfigEntry *entry = g_ptr_array_index(group->entries, j);
			guint8 key[VB_CONFIG_KEY32_LEN];
			const gchar *problem;

			if (!g_strv_contains(vb_config_core_secret_keys, entry->key)) {
				vb_config_add_message(warnings, entry->origin,
						      _("unknown key in [vestibule] of the secrets "
							"file is ignored"));
				continue;
			}
			problem = vb_config_decode_key32(entry->value, key);
			sodium_memzero(key, sizeof(key));
			if (problem != NULL)
				vb_config_add_message(errors, entry->origin,
						      _("key %s in [vestibule] is not 64 hex "
							"characters (%s); generate one with "
							"'openssl rand -hex 32'"),
						      entry->key, problem);
		}
	}
}

/* secrets left in the main config are ignored there, and probably world-readable */
static void
vb_config_check_misplaced_secrets(VbConfig *self, GPtrArray *errors)
{
	const gchar *secrets_path =
	    self->secrets_path != NULL ? self->secrets_path : VB_SYSCONFDIR "/secrets.conf";

	for (guint i = 0; vb_config_core_secret_keys[i] != NULL; i++) {
		const gchar *origin =
		    vb_config_origin_of(self, "vestibule", vb_config_core_secret_keys[i]);
		if (origin == NULL)
			continue;
		vb_config_add_message(errors, origin,
				      _("[vestibule] %s is a secret and is not read from here; "
					"move it to the secrets file %s (mode 0600)"),
				      vb_config_core_secret_keys[i], secrets_path);
	}
}

/* where a "FILE:LINE: ..." message points: the file's load order, then the line;
 * messages without a location go last */
static void
vb_config_message_location(VbConfig *self, const gchar *msg, guint *file_rank, guint64 *line)
{
	*file_rank = G_MAXUINT;
	*line = 0;
	for (guint i = 0; i <= self->files->len; i++) {
		const gchar *path =
		    i < self->files->len ? g_ptr_array_index(self->files, i) : self->secrets_path;
		gsize len = path != NULL ? strlen(path) : 0;

		if (len == 0 || strncmp(msg, path, len) != 0 || msg[len] != ':')
			continue;
		*file_rank = i;
		*line = g_ascii_strtoull(msg + len + 1, NULL, 10);
		return;
	}
}

static gint
vb_config_message_cmp(gconstpointer a, gconstpointer b, gpointer user_data)
{
	VbConfig *self = user_data;
	guint rank_a, rank_b;
	guint64 line_a, line_b;

	vb_config_message_location(self, *(const gchar *const *)a, &rank_a, &line_a);
	vb_config_message_location(self, *(const gchar *const *)b, &rank_b, &line_b);
	if (rank_a != rank_b)
		return rank_a < rank_b ? -1 : 1;
	if (line_a != line_b)
		return line_a < line_b ? -1 : 1;
	return 0;
}

/**
 * vb_config_validate:
 * @self: a loaded #VbConfig
 * @warnings: (nullable): gets "FILE:LINE: ..." strings; %NULL logs them
 * @error: return location for a #GError
 *
 * Checks the core sections against the core schema and the references between
 * them, then keeps the resolved values for the vb_config_get_*() lookups. The keys a
 * plugin owns in its [instance:NAME] section are left to the plugin loader. Every
 * error is reported in one message, one per line, each prefixed with FILE:LINE.
 * Nothing here touches the network or a device.
 *
 * Returns: %TRUE if the configuration can be used
 */
gboolean
vb_config_validate(VbConfig *self, GPtrArray *warnings, GError **error)
{
	const gchar *fixed[] = {"vestibule", "http", "services", "visit", "sms", "outbox"};
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) all = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
							  (GDestroyNotify)g_hash_table_unref);

	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	/* fixed sections resolve even when absent, so their defaults can be read */
	for (guint i = 0; i < G_N_ELEMENTS(fixed); i++) {
		guint n_specs = 0;
		const VbSettingSpec *specs = vb_config_get_core_specs(fixed[i], &n_specs);
		GHashTable *values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
							   (GDestroyNotify)g_variant_unref);
		g_hash_table_insert(all, g_strdup(fixed[i]), values);
		vb_config_resolve_group(self, fixed[i], specs, n_specs,
					i == 0 ? vb_config_core_secret_keys : NULL, TRUE, values,
					warnings, errors);
	}
	for (guint i = 0; i < self->tree->groups->len; i++) {
		VbConfigGroup *group = g_ptr_array_index(self->tree->groups, i);
		const gchar *name = NULL;
		const gchar *kind = vb_config_group_kind(group->name, &name);
		const VbSettingSpec *specs;
		guint n_specs = 0;
		GHashTable *values;
		g_autofree gchar *quoted = NULL;

		if (kind == NULL) {
			vb_config_add_message(warnings, group->origin,
					      _("unknown section [%s] is ignored"), group->name);
			continue;
		}
		if (name == NULL)
			continue;
		if (!vb_config_is_instance_name(name)) {
			quoted = vb_config_quote(name);
			vb_config_add_message(
			    errors, group->origin,
			    _("[%s]: invalid name %s; use 1 to 32 lower-case "
			      "letters, digits, '-' or '_', starting with a letter "
			      "or digit"),
			    group->name, quoted);
		}
		specs = vb_config_get_core_specs(kind, &n_specs);
		values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					       (GDestroyNotify)g_variant_unref);
		g_hash_table_insert(all, g_strdup(group->name), values);
		/* the rest of an instance section belongs to its plugin */
		vb_config_resolve_group(self, group->name, specs, n_specs, NULL,
					g_strcmp0(kind, "instance") != 0, values, warnings, errors);
	}
	vb_config_check_vestibule(self, all, errors);
	vb_config_check_http(self, all, errors);
	vb_config_check_references(self, all, warnings, errors);
	vb_config_check_misplaced_secrets(self, errors);
	vb_config_check_secrets(self, warnings, errors);

	if (errors->len > 0) {
		/* in file order, as a compiler would list them; the sort is stable */
		g_ptr_array_sort_with_data(errors, vb_config_message_cmp, self);
		vb_config_set_errors(error, errors);
		return FALSE;
	}
	g_clear_pointer(&self->values, g_hash_table_unref);
	self->values = g_steal_pointer(&all);
	return TRUE;
}

/**
 * vb_config_get_files:
 * @self: a #VbConfig
 *
 * Returns: (transfer none) (element-type utf8): the configuration files that were
 *   loaded, main file first; the secrets file is not among them
 */
GPtrArray *
vb_config_get_files(VbConfig *self)
{
	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	return self->files;
}

/**
 * vb_config_get_groups:
 * @self: a #VbConfig
 *
 * Returns: (transfer full): the section names, in order of first appearance
 */
gchar **
vb_config_get_groups(VbConfig *self)
{
	GStrvBuilder *builder;
	gchar **groups;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	builder = g_strv_builder_new();
	for (guint i = 0; i < self->tree->groups->len; i++) {
		VbConfigGroup *group = g_ptr_array_index(self->tree->groups, i);
		g_strv_builder_add(builder, group->name);
	}
	groups = g_strv_builder_end(builder);
	g_strv_builder_unref(builder);
	return groups;
}

/**
 * vb_config_get_keys:
 * @self: a #VbConfig
 * @group: a section name
 *
 * Returns: (transfer full) (nullable): the keys of @group in order of first
 *   definition, or %NULL if there is no such section
 */
gchar **
vb_config_get_keys(VbConfig *self, const gchar *group)
{
	VbConfigGroup *g;
	GStrvBuilder *builder;
	gchar **keys;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL, NULL);
	g = vb_config_tree_lookup(self->tree, group);
	if (g == NULL)
		return NULL;
	builder = g_strv_builder_new();
	for (guint i = 0; i < g->entries->len; i++) {
		VbConfigEntry *entry = g_ptr_array_index(g->entries, i);
		g_strv_builder_add(builder, entry->key);
	}
	keys = g_strv_builder_end(builder);
	g_strv_builder_unref(builder);
	return keys;
}

gboolean
vb_config_has_group(VbConfig *self, const gchar *group)
{
	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(group != NULL, FALSE);
	return vb_config_tree_lookup(self->tree, group) != NULL;
}

gboolean
vb_config_has_key(VbConfig *self, const gchar *group, const gchar *key)
{
	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(group != NULL, FALSE);
	g_return_val_if_fail(key != NULL, FALSE);
	return vb_config_group_lookup(vb_config_tree_lookup(self->tree, group), key) != NULL;
}

/**
 * vb_config_get_origin:
 * @self: a #VbConfig
 * @group: a section name
 * @key: a key
 *
 * Returns: (transfer full) (nullable): "FILE:LINE" of the definition that won
 */
gchar *
vb_config_get_origin(VbConfig *self, const gchar *group, const gchar *key)
{
	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);
	return g_strdup(vb_config_origin_of(self, group, key));
}

/**
 * vb_config_get_raw:
 * @self: a #VbConfig
 * @group: a section name
 * @key: a key
 *
 * Returns: (transfer full) (nullable): the value as written, escapes included,
 *   without the blanks around it
 */
gchar *
vb_config_get_raw(VbConfig *self, const gchar *group, const gchar *key)
{
	VbConfigEntry *entry;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);
	entry = vb_config_group_lookup(vb_config_tree_lookup(self->tree, group), key);
	return entry != NULL ? g_strdup(entry->value) : NULL;
}

/* a resolved core value; a key the schema does not declare is a bug in the caller */
static GVariant *
vb_config_lookup_value(VbConfig *self,
		       const gchar *group,
		       const gchar *key,
		       const GVariantType *type)
{
	const gchar *kind = vb_config_group_kind(group, NULL);
	const VbSettingSpec *specs;
	guint n_specs = 0;
	GHashTable *values;
	GVariant *value;

	specs = vb_config_get_core_specs(kind, &n_specs);
	if (specs == NULL || vb_config_find_spec(specs, n_specs, key) == NULL) {
		g_warning("key %s of [%s] is not declared in the core schema; plugins read "
			  "their keys through vb_config_resolve()",
			  key, group);
		return NULL;
	}
	if (self->values == NULL) {
		g_warning("[%s] %s was read before vb_config_validate() succeeded", group, key);
		return NULL;
	}
	/* a door or instance that is not configured has no values */
	values = g_hash_table_lookup(self->values, group);
	if (values == NULL)
		return NULL;
	value = g_hash_table_lookup(values, key);
	if (value == NULL)
		return NULL;
	if (!g_variant_is_of_type(value, type)) {
		g_autofree gchar *wanted = g_variant_type_dup_string(type);
		g_warning("[%s] %s is of type %s, not %s", group, key,
			  g_variant_get_type_string(value), wanted);
		return NULL;
	}
	return value;
}

/**
 * vb_config_get_string:
 *
 * Returns: (transfer none) (nullable): a resolved string of a core section, valid
 *   as long as @self
 */
const gchar *
vb_config_get_string(VbConfig *self, const gchar *group, const gchar *key)
{
	GVariant *value;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL && key != NULL, NULL);
	value = vb_config_lookup_value(self, group, key, G_VARIANT_TYPE_STRING);
	return value != NULL ? g_variant_get_string(value, NULL) : NULL;
}

gint64
vb_config_get_int(VbConfig *self, const gchar *group, const gchar *key)
{
	GVariant *value;

	g_return_val_if_fail(VB_IS_CONFIG(self), 0);
	g_return_val_if_fail(group != NULL && key != NULL, 0);
	value = vb_config_lookup_value(self, group, key, G_VARIANT_TYPE_INT64);
	return value != NULL ? g_variant_get_int64(value) : 0;
}

gboolean
vb_config_get_boolean(VbConfig *self, const gchar *group, const gchar *key)
{
	GVariant *value;

	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(group != NULL && key != NULL, FALSE);
	value = vb_config_lookup_value(self, group, key, G_VARIANT_TYPE_BOOLEAN);
	return value != NULL ? g_variant_get_boolean(value) : FALSE;
}

/**
 * vb_config_get_string_list:
 *
 * Returns: (transfer full) (nullable): a resolved list of a core section; free it
 *   with g_strfreev()
 */
gchar **
vb_config_get_string_list(VbConfig *self, const gchar *group, const gchar *key)
{
	GVariant *value;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL && key != NULL, NULL);
	value = vb_config_lookup_value(self, group, key, G_VARIANT_TYPE_STRING_ARRAY);
	return value != NULL ? g_variant_dup_strv(value, NULL) : NULL;
}

/* the copy handed out, wiped when the last GBytes reference goes */
typedef struct {
	gsize size;
	guint8 data[];
} VbConfigSecretCopy;

static void
vb_config_secret_copy_free(gpointer user_data)
{
	VbConfigSecretCopy *copy = user_data;
	sodium_memzero(copy->data, copy->size);
	g_free(copy);
}

static GBytes *
vb_config_bytes_new_wiped(const guint8 *data, gsize len)
{
	VbConfigSecretCopy *copy = g_malloc(sizeof(VbConfigSecretCopy) + len + 1);

	/* NUL-terminated, so that a text secret can be read as a string */
	copy->size = len + 1;
	memcpy(copy->data, data, len);
	copy->data[len] = '\0';
	return g_bytes_new_with_free_func(copy->data, len, vb_config_secret_copy_free, copy);
}

static VbConfigEntry *
vb_config_secret_lookup(VbConfig *self, const gchar *group, const gchar *key)
{
	return vb_config_group_lookup(vb_config_tree_lookup(self->secrets, group), key);
}

/**
 * vb_config_get_secret:
 * @self: a #VbConfig
 * @group: a section of the secrets file, such as `instance:twilio`
 * @key: a key
 *
 * Returns: (transfer full) (nullable): a copy of the unescaped value, followed by a
 *   NUL byte not counted in its size; the copy is wiped when freed
 */
GBytes *
vb_config_get_secret(VbConfig *self, const gchar *group, const gchar *key)
{
	VbConfigEntry *entry;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL && key != NULL, NULL);
	entry = vb_config_secret_lookup(self, group, key);
	if (entry == NULL)
		return NULL;
	return vb_config_bytes_new_wiped((const guint8 *)entry->value, strlen(entry->value));
}

/**
 * vb_config_get_secret_key32:
 * @self: a #VbConfig
 * @group: a section of the secrets file
 * @key: a key holding 64 hex characters
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the 32 decoded bytes, wiped when freed
 */
GBytes *
vb_config_get_secret_key32(VbConfig *self, const gchar *group, const gchar *key, GError **error)
{
	VbConfigEntry *entry;
	guint8 buf[VB_CONFIG_KEY32_LEN];
	const gchar *problem;
	GBytes *bytes;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL && key != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	entry = vb_config_secret_lookup(self, group, key);
	if (entry == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    _("no key %s in [%s] of the secrets file %s; generate one with "
			      "'openssl rand -hex 32' and add it"),
			    key, group,
			    self->secrets_path != NULL ? self->secrets_path
						       : VB_SYSCONFDIR "/secrets.conf");
		return NULL;
	}
	problem = vb_config_decode_key32(entry->value, buf);
	if (problem != NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("key %s in [%s] of %s is not 64 hex characters (%s); generate "
			      "one with 'openssl rand -hex 32'"),
			    key, group, entry->origin, problem);
		return NULL;
	}
	bytes = vb_config_bytes_new_wiped(buf, sizeof(buf));
	sodium_memzero(buf, sizeof(buf));
	return bytes;
}

/**
 * vb_config_get_secrets_path:
 * @self: a #VbConfig
 *
 * Returns: (nullable): the secrets file that was last loaded, or consulted and found
 *   missing, or %NULL before vb_config_load_secrets() succeeded
 */
const gchar *
vb_config_get_secrets_path(VbConfig *self)
{
	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	return self->secrets_path;
}

static void
vb_config_finalize(GObject *object)
{
	VbConfig *self = VB_CONFIG(object);

	g_ptr_array_unref(self->files);
	vb_config_tree_free(self->tree);
	g_clear_pointer(&self->secrets, vb_config_tree_free);
	g_free(self->secrets_path);
	g_clear_pointer(&self->values, g_hash_table_unref);
	G_OBJECT_CLASS(vb_config_parent_class)->finalize(object);
}

static void
vb_config_class_init(VbConfigClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->finalize = vb_config_finalize;
}

static void
vb_config_init(VbConfig *self)
{
	self->files = g_ptr_array_new_with_free_func(g_free);
	self->tree = vb_config_tree_new(FALSE);
}

/**
 * vb_config_new:
 *
 * Returns: (transfer full): an empty configuration; load it, then validate it
 */
VbConfig *
vb_config_new(void)
{
	return g_object_new(VB_TYPE_CONFIG, NULL);
}
