/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the schema of the core's sections, which sections the core knows, and how a
 * raw value is parsed against a key's spec */

#include "config.h"

#include <inttypes.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <sodium.h>

#include "vb-config-internal.h"
#include "vb-error.h"

#define VB_CONFIG_NAME_MAX_LEN 32

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
    {.key = "visit-retention-days",
     .type = VB_SETTING_INT,
     .default_value = "400",
     .min = 30,
     .max = 3650,
     .blurb = N_("How many days finished visits, their orders and timelines are kept")},
    {.key = "sms-retention-days",
     .type = VB_SETTING_INT,
     .default_value = "90",
     .min = 1,
     .max = 3650,
     .blurb = N_("How many days the records of SMS sent to shoppers are kept")},
    {.key = "feedback-retention-days",
     .type = VB_SETTING_INT,
     .default_value = "180",
     .min = 1,
     .max = 3650,
     .blurb = N_("How many days handled feedback from shoppers is kept")},
    {.key = "integrity-check-hours",
     .type = VB_SETTING_INT,
     .default_value = "24",
     .min = 1,
     .max = 720,
     .blurb = N_("How often the database's integrity is checked, in hours")},
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
    {.key = "unknown-hold-s",
     .type = VB_SETTING_INT,
     .default_value = "300",
     .min = 1,
     .max = 86400,
     .blurb = N_("How long an item whose outcome is unknown holds back the later items "
		 "of its recipient, in seconds")},
    {.key = "unknown-give-up-s",
     .type = VB_SETTING_INT,
     .default_value = "3600",
     .min = 1,
     .max = 604800,
     .blurb = N_("How long an outcome may stay unknown before the item's kind decides: "
		 "ask again, send again or give up, in seconds")},
    {.key = "stuck-alert-s",
     .type = VB_SETTING_INT,
     .default_value = "900",
     .min = 1,
     .max = 604800,
     .blurb = N_("How long an item may wait before an alert says that its kind is stuck, "
		 "in seconds")},
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

/* GKeyFile's escapes: \s \n \t \r \\, plus \; inside a list. With @pieces the value
 * is split at each unescaped ';' and a trailing ';' adds no empty piece. With @secret
 * the message never shows any part of the value */
gchar *
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

const VbSettingSpec *
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
const gchar *
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
gboolean
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
