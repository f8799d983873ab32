/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include <sodium.h>

#include "vb-context-private.h"
#include "vb-error.h"
#include "vb-events.h"
#include "vb-i18n.h"
#include "vb-privacy-private.h"

/**
 * SECTION:vb-context
 * @short_description: what the core shares with plugins
 *
 * The context is the plugins' only door into the core: the bus, the store,
 * the HTTP server, metrics, operator alerts and translations.
 */

struct _VbContext {
	GObject parent_instance;
	VbBus *bus;
	VbStore *store;
	VbHttpServer *http;
	VbMetrics *metrics;
	GMutex host_mutex; /* readers tokenize in threads while the host may go */
	const VbContextHost *host;
	gpointer host_data;
};

G_DEFINE_FINAL_TYPE(VbContext, vb_context, G_TYPE_OBJECT)

/**
 * vb_context_get_bus:
 * @self: a #VbContext
 *
 * Returns: (transfer none): the signal bus
 *
 * Since: 0.1
 */
VbBus *
vb_context_get_bus(VbContext *self)
{
	g_return_val_if_fail(VB_IS_CONTEXT(self), NULL);
	return self->bus;
}

/**
 * vb_context_get_store:
 * @self: a #VbContext
 *
 * Returns: (transfer none): the store; plugins keep their tables in a
 *   namespace of their own, see vb_store_ensure_namespace()
 *
 * Since: 0.1
 */
VbStore *
vb_context_get_store(VbContext *self)
{
	g_return_val_if_fail(VB_IS_CONTEXT(self), NULL);
	return self->store;
}

/**
 * vb_context_get_http_server:
 * @self: a #VbContext
 *
 * Returns: (transfer none): the HTTP server, where plugins register webhooks
 *
 * Since: 0.1
 */
VbHttpServer *
vb_context_get_http_server(VbContext *self)
{
	g_return_val_if_fail(VB_IS_CONTEXT(self), NULL);
	return self->http;
}

/**
 * vb_context_get_metrics:
 * @self: a #VbContext
 *
 * Returns: (transfer none): the metrics registry served on `/metrics`
 *
 * Since: 0.1
 */
VbMetrics *
vb_context_get_metrics(VbContext *self)
{
	g_return_val_if_fail(VB_IS_CONTEXT(self), NULL);
	return self->metrics;
}

static const gchar *
vb_context_get_core_string(VbContext *self, const gchar *key, const gchar *fallback)
{
	const gchar *value = NULL;
	if (self->host != NULL)
		value = self->host->get_setting(self->host_data, key);
	return value != NULL ? value : fallback;
}

/**
 * vb_context_get_store_name:
 * @self: a #VbContext
 *
 * Returns: the store's name, as shoppers see it on receipts
 *
 * Since: 0.1
 */
const gchar *
vb_context_get_store_name(VbContext *self)
{
	g_return_val_if_fail(VB_IS_CONTEXT(self), NULL);
	return vb_context_get_core_string(self, "name", "Vestibule");
}

/**
 * vb_context_get_default_language:
 * @self: a #VbContext
 *
 * Returns: the store's language, used when a card gives none
 *
 * Since: 0.1
 */
const gchar *
vb_context_get_default_language(VbContext *self)
{
	g_return_val_if_fail(VB_IS_CONTEXT(self), NULL);
	return vb_context_get_core_string(self, "language", "en");
}

/**
 * vb_context_get_country:
 * @self: a #VbContext
 *
 * Returns: the store's country, ISO 3166-1 alpha-2
 *
 * Since: 0.1
 */
const gchar *
vb_context_get_country(VbContext *self)
{
	g_return_val_if_fail(VB_IS_CONTEXT(self), NULL);
	return vb_context_get_core_string(self, "country", "FR");
}

/**
 * vb_context_get_currency:
 * @self: a #VbContext
 *
 * Returns: the store's currency, ISO 4217
 *
 * Since: 0.1
 */
const gchar *
vb_context_get_currency(VbContext *self)
{
	g_return_val_if_fail(VB_IS_CONTEXT(self), NULL);
	return vb_context_get_core_string(self, "currency", "EUR");
}

/**
 * vb_context_get_state_dir:
 * @self: a #VbContext
 *
 * Returns: the directory of the store's database, where a plugin may keep
 *   files of its own (the daemon's user alone can read it)
 *
 * Since: 0.1
 */
const gchar *
vb_context_get_state_dir(VbContext *self)
{
	g_return_val_if_fail(VB_IS_CONTEXT(self), NULL);
	return vb_context_get_core_string(self, "state-dir", VB_STATEDIR);
}

/* fixed ids, as systemd's catalog has them: never change one, since
 * operators' queries and alert rules name them */
static const gchar *const vb_alert_message_ids[] = {
    [VB_ALERT_KIND_OTHER] = NULL,
    [VB_ALERT_KIND_DOOR_FORCED_OPEN] = "3fd7ec21f96449d5ab4e1b34beca3bfe",
    [VB_ALERT_KIND_DOOR_HELD_OPEN] = "f05f8baf021344f7977a523533125d8d",
    [VB_ALERT_KIND_HOLD_DECLINED] = "9019a522fc7641f3850827cd8aae1059",
    [VB_ALERT_KIND_PROCESSOR_UNREACHABLE] = "acd422e1a92446289dc46517f324112c",
    [VB_ALERT_KIND_SMS_DEAD_LETTER] = "bae743a1ff0c4185974335bf28eba6d8",
    [VB_ALERT_KIND_ITEM_STUCK] = "07c259a0ae8541d0a85c3b08e5f38b6e",
    [VB_ALERT_KIND_OUTCOME_UNKNOWABLE] = "3d7dec3d2f7040e3a3ec891dc18298f1",
    [VB_ALERT_KIND_STORE_DAMAGED] = "d592d7232c464f15b46294f4341e991f",
};

/**
 * vb_alert_kind_get_message_id:
 * @kind: a #VbAlertKind
 *
 * Gets the journald `MESSAGE_ID` that alerts of @kind are logged with.
 *
 * Returns: (nullable): 32 lower-case hex digits, or %NULL for
 *   %VB_ALERT_KIND_OTHER or an unknown kind
 *
 * Since: 0.3
 */
const gchar *
vb_alert_kind_get_message_id(VbAlertKind kind)
{
	if ((guint)kind >= G_N_ELEMENTS(vb_alert_message_ids))
		return NULL;
	return vb_alert_message_ids[kind];
}

/* private API, exported for the daemon's own log lines */
void
vb_alert_log(GLogLevelFlags level,
	     VbAlertKind kind,
	     const gchar *source,
	     const gchar *door,
	     const gchar *visit_id,
	     const gchar *message)
{
	const gchar *message_id = vb_alert_kind_get_message_id(kind);
	GLogField fields[7];
	gsize n_fields = 0;

	g_return_if_fail(message != NULL);

	/* the priorities g_log() gives these levels, as journald reads them */
	fields[n_fields++] = (GLogField){"PRIORITY",
					 (level & G_LOG_LEVEL_CRITICAL)	 ? "3"
					 : (level & G_LOG_LEVEL_WARNING) ? "4"
					 : (level & G_LOG_LEVEL_MESSAGE) ? "5"
					 : (level & G_LOG_LEVEL_INFO)	 ? "6"
									 : "7",
					 -1};
	fields[n_fields++] = (GLogField){"GLIB_DOMAIN", G_LOG_DOMAIN, -1};
	fields[n_fields++] = (GLogField){"MESSAGE", message, -1};
	if (message_id != NULL)
		fields[n_fields++] = (GLogField){"MESSAGE_ID", message_id, -1};
	if (source != NULL)
		fields[n_fields++] = (GLogField){"VESTIBULE_INSTANCE", source, -1};
	if (door != NULL)
		fields[n_fields++] = (GLogField){"VESTIBULE_DOOR", door, -1};
	if (visit_id != NULL)
		fields[n_fields++] = (GLogField){"VESTIBULE_VISIT", visit_id, -1};
	g_log_structured_array(level, fields, n_fields);
}

/* declared apart, for the format check */
static void
vb_context_alert_valist(VbContext *self,
			VbAlertSeverity severity,
			VbAlertKind kind,
			const gchar *source,
			const gchar *door,
			const gchar *visit_id,
			const gchar *format,
			va_list args) G_GNUC_PRINTF(7, 0);

static void
vb_context_alert_valist(VbContext *self,
			VbAlertSeverity severity,
			VbAlertKind kind,
			const gchar *source,
			const gchar *door,
			const gchar *visit_id,
			const gchar *format,
			va_list args)
{
	static const gchar *names[] = {"info", "warning", "critical"};
	g_autofree gchar *message = g_strdup_vprintf(format, args);
	g_autofree gchar *line = NULL;
	GVariantDict dict;

	if (severity == VB_ALERT_INFO) {
		line =
		    g_strdup_printf("alert from %s: %s", source != NULL ? source : "core", message);
		vb_alert_log(G_LOG_LEVEL_MESSAGE, kind, source, door, visit_id, line);
	} else {
		line = g_strdup_printf("%s alert from %s: %s", names[severity],
				       source != NULL ? source : "core", message);
		vb_alert_log(G_LOG_LEVEL_WARNING, kind, source, door, visit_id, line);
	}
	vb_metrics_add(self->metrics, "vestibule_alerts_total", NULL, 1);
	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, VB_KEY_SEVERITY, "s", names[severity]);
	g_variant_dict_insert(&dict, VB_KEY_MESSAGE, "s", message);
	vb_bus_emit_simple(self->bus, source, NULL, VB_EVENT_ALERT, g_variant_dict_end(&dict));
}

/**
 * vb_context_alert:
 * @self: a #VbContext
 * @severity: how urgent it is
 * @source: (nullable): the instance raising it, %NULL for the core
 * @format: a printf format for a message that says what to do
 * @...: its arguments
 *
 * Raises an operator alert: a log line and a #VB_EVENT_ALERT on the bus,
 * which the audit log records and `vestibulectl events` shows.
 *
 * Since: 0.1
 */
void
vb_context_alert(VbContext *self,
		 VbAlertSeverity severity,
		 const gchar *source,
		 const gchar *format,
		 ...)
{
	va_list args;

	g_return_if_fail(VB_IS_CONTEXT(self));
	g_return_if_fail(format != NULL);

	va_start(args, format);
	vb_context_alert_valist(self, severity, VB_ALERT_KIND_OTHER, source, NULL, NULL, format,
				args);
	va_end(args);
}

/**
 * vb_context_alert_full:
 * @self: a #VbContext
 * @severity: how urgent it is
 * @kind: what it is about, which gives its journald `MESSAGE_ID`
 * @source: (nullable): the instance raising it, %NULL for the core
 * @door: (nullable): the door it concerns, if any
 * @visit_id: (nullable): the visit it concerns, if any
 * @format: a printf format for a message that says what to do
 * @...: its arguments
 *
 * Raises an operator alert as vb_context_alert() does, and logs it with the
 * journald fields `MESSAGE_ID`, `VESTIBULE_INSTANCE`, `VESTIBULE_DOOR` and
 * `VESTIBULE_VISIT`, so that an operator can query it. None of them may hold
 * a secret.
 *
 * Since: 0.3
 */
void
vb_context_alert_full(VbContext *self,
		      VbAlertSeverity severity,
		      VbAlertKind kind,
		      const gchar *source,
		      const gchar *door,
		      const gchar *visit_id,
		      const gchar *format,
		      ...)
{
	va_list args;

	g_return_if_fail(VB_IS_CONTEXT(self));
	g_return_if_fail(format != NULL);

	va_start(args, format);
	vb_context_alert_valist(self, severity, kind, source, door, visit_id, format, args);
	va_end(args);
}

/**
 * vb_context_gettext:
 * @self: a #VbContext
 * @language: (nullable): an ISO 639-1 code, or %NULL for the store's language
 * @msgid: the English text, marked with N_()
 *
 * Translates a shopper-facing text into the language of one visit, whatever
 * the daemon's own locale.
 *
 * Returns: the translation, or @msgid
 *
 * Since: 0.1
 */
const gchar *
vb_context_gettext(VbContext *self, const gchar *language, const gchar *msgid)
{
	g_return_val_if_fail(VB_IS_CONTEXT(self), msgid);
	if (language == NULL || language[0] == '\0')
		language = vb_context_get_default_language(self);
	return vb_i18n_gettext(language, msgid);
}

/* private API */

void
vb_context_set_host(VbContext *self, const VbContextHost *host, gpointer user_data)
{
	g_return_if_fail(VB_IS_CONTEXT(self));
	g_mutex_lock(&self->host_mutex);
	self->host = host;
	self->host_data = user_data;
	g_mutex_unlock(&self->host_mutex);
}

GBytes *
vb_context_get_secret(VbContext *self, const gchar *group, const gchar *key, GError **error)
{
	GBytes *secret = NULL;

	g_mutex_lock(&self->host_mutex);
	if (self->host != NULL)
		secret = self->host->get_secret(self->host_data, group, key, error);
	else
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    "no secret '%s' in section [%s]: no secrets file is loaded", key,
			    group);
	g_mutex_unlock(&self->host_mutex);
	return secret;
}

static const gchar *
vb_context_scheme_from_pan(const gchar *pan)
{
	gint prefix2 = (pan[0] - '0') * 10 + (pan[1] - '0');
	gint prefix4 = prefix2 * 100 + (pan[2] - '0') * 10 + (pan[3] - '0');

	if (pan[0] == '4')
		return "visa";
	if ((prefix2 >= 51 && prefix2 <= 55) || (prefix4 >= 2221 && prefix4 <= 2720))
		return "mastercard";
	if (prefix2 == 34 || prefix2 == 37)
		return "amex";
	return "unknown";
}

static GVariant *
vb_context_tokenize_card_unlocked(VbContext *self, VbCardRead *read, GError **error)
{
	GVariantDict dict;
	gchar token[VB_CARD_TOKEN_SIZE];
	gsize pan_len;

	if (self->host == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
				    "no secrets file is loaded: cards cannot be identified");
		return NULL;
	}

	g_variant_dict_init(&dict, NULL);
	if (read->kind == VB_CARD_KIND_UID) {
		if (read->uid_len == 0 || read->uid_len > sizeof(read->uid)) {
			g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
					    "the tag UID is empty or too long");
			g_variant_dict_clear(&dict);
			return NULL;
		}
		if (!self->host->tokenize(self->host_data, "uid:", read->uid, read->uid_len, token,
					  error)) {
			g_variant_dict_clear(&dict);
			return NULL;
		}
		g_variant_dict_insert(&dict, VB_KEY_CARD_KIND, "s", "uid");
	} else {
		pan_len = strnlen(read->pan, sizeof(read->pan));
		if (pan_len < 12 || pan_len > 19 || !vb_luhn_valid(read->pan, pan_len)) {
			/* never say which digits: the message may be logged */
			g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
					    "the card number read is not 12 to 19 digits with a "
					    "valid check digit");
			g_variant_dict_clear(&dict);
			return NULL;
		}
		if (!self->host->tokenize(self->host_data, "pan:", (const guint8 *)read->pan,
					  pan_len, token, error)) {
			g_variant_dict_clear(&dict);
			return NULL;
		}
		g_variant_dict_insert(&dict, VB_KEY_CARD_KIND, "s", "payment");
		g_variant_dict_insert_value(&dict, VB_KEY_FIRST6,
					    g_variant_new_take_string(g_strndup(read->pan, 6)));
		g_variant_dict_insert_value(
		    &dict, VB_KEY_LAST4,
		    g_variant_new_take_string(g_strndup(read->pan + pan_len - 4, 4)));
		g_variant_dict_insert(
		    &dict, VB_KEY_SCHEME, "s",
		    read->scheme[0] != '\0' ? read->scheme : vb_context_scheme_from_pan(read->pan));
		if (strnlen(read->expiry, sizeof(read->expiry)) == 4) {
			g_variant_dict_insert_value(
			    &dict, VB_KEY_EXPIRY,
			    g_variant_new_take_string(
				g_strdup_printf("20%.2s-%.2s", read->expiry, read->expiry + 2)));
		}
	}
	g_variant_dict_insert(&dict, VB_KEY_TOKEN, "s", token);
	sodium_memzero(token, sizeof(token));
	if (read->language[0] != '\0') {
		g_autofree gchar *lang = g_ascii_strdown(read->language, 2);
		g_variant_dict_insert(&dict, VB_KEY_LANGUAGE, "s", lang);
	}
	if (read->alias[0] != '\0')
		g_variant_dict_insert(&dict, VB_KEY_ALIAS, "s", read->alias);
	return g_variant_dict_end(&dict);
}

GVariant *
vb_context_tokenize_card(VbContext *self, VbCardRead *read, GError **error)
{
	GVariant *payload;

	g_mutex_lock(&self->host_mutex);
	payload = vb_context_tokenize_card_unlocked(self, read, error);
	g_mutex_unlock(&self->host_mutex);
	/* the PAN lives in memory only until it is tokenized */
	sodium_memzero(read, sizeof(*read));
	return payload;
}

static void
vb_context_dispose(GObject *object)
{
	VbContext *self = VB_CONTEXT(object);

	g_clear_object(&self->bus);
	g_clear_object(&self->store);
	g_clear_object(&self->http);
	g_clear_object(&self->metrics);
	G_OBJECT_CLASS(vb_context_parent_class)->dispose(object);
}

static void
vb_context_finalize(GObject *object)
{
	VbContext *self = VB_CONTEXT(object);

	g_mutex_clear(&self->host_mutex);
	G_OBJECT_CLASS(vb_context_parent_class)->finalize(object);
}

static void
vb_context_class_init(VbContextClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = vb_context_dispose;
	object_class->finalize = vb_context_finalize;
}

static void
vb_context_init(VbContext *self)
{
	g_mutex_init(&self->host_mutex);
}

VbContext *
vb_context_new(VbBus *bus, VbStore *store, VbHttpServer *http, VbMetrics *metrics)
{
	VbContext *self = g_object_new(VB_TYPE_CONTEXT, NULL);

	self->bus = g_object_ref(bus);
	self->store = store != NULL ? g_object_ref(store) : NULL;
	self->http = http != NULL ? g_object_ref(http) : NULL;
	self->metrics = metrics != NULL ? g_object_ref(metrics) : vb_metrics_new();
	vb_metrics_declare(self->metrics, "vestibule_alerts_total", VB_METRIC_COUNTER,
			   "Operator alerts raised");
	return self;
}
