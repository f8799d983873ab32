/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-context-private.h"
#include "vb-crypto-private.h"
#include "vb-error.h"
#include "vb-events.h"
#include "vb-i18n.h"
#include "vb-redact-private.h"
#include "vb-store-private.h"

/**
 * SECTION:vb-context
 * @short_description: what the core shares with plugins
 *
 * The context is the plugins' only door into the core: the bus, the store,
 * the HTTP server, metrics, operator alerts and translations.
 */

/* events are written to the audit log in batches, by commits that do not wait
 * for the disk: an fsync per tap would put the SD card's latency on the
 * tap-to-unlock path. A crash of the daemon loses at most the last
 * AUDIT_FLUSH_MS of audit rows; a power cut also those written since the last
 * synced commit, which money and visit state always are */
#define AUDIT_FLUSH_MS 200
/* a batch this long is written as soon as the loop has nothing else to do,
 * which keeps it out of a tap's way (the processor's answer, the unlock); one
 * four times as long is written at the next turn of the loop, whatever else
 * waits, so that a flood of events cannot grow the buffer without bound */
#define AUDIT_BATCH 64
#define AUDIT_MAX_PENDING (4 * AUDIT_BATCH)

struct _VbContext {
	GObject parent_instance;
	VbBus *bus;
	VbStore *store;
	VbHttpServer *http;
	VbMetrics *metrics;
	VbConfig *config;
	GMutex key_mutex;
	GBytes *keys[VB_STORE_KEY_LAST]; /* guarded by key_mutex: readers tokenize in threads */
	gulong audit_handler;
	GPtrArray *audit_pending; /* of VbEvent */
	GSource *audit_source;
	gboolean audit_source_is_idle; /* not the time-out: a batch is full */
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
	if (self->config != NULL)
		value = vb_config_get_string(self->config, "vestibule", key);
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
	static const gchar *names[] = {"info", "warning", "critical"};
	g_autofree gchar *message = NULL;
	GVariantDict dict;
	va_list args;

	g_return_if_fail(VB_IS_CONTEXT(self));
	g_return_if_fail(format != NULL);

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);

	if (severity == VB_ALERT_INFO)
		g_message("alert from %s: %s", source != NULL ? source : "core", message);
	else
		g_warning("%s alert from %s: %s", names[severity], source != NULL ? source : "core",
			  message);
	vb_metrics_add(self->metrics, "vb_alerts_total", NULL, 1);
	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, VB_KEY_SEVERITY, "s", names[severity]);
	g_variant_dict_insert(&dict, VB_KEY_MESSAGE, "s", message);
	vb_bus_emit_simple(self->bus, source, NULL, VB_EVENT_ALERT, g_variant_dict_end(&dict));
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

VbConfig *
vb_context_get_config(VbContext *self)
{
	return self->config;
}

static const gchar *vb_store_key_names[VB_STORE_KEY_LAST] = {
    [VB_STORE_KEY_CARD_TOKEN] = "card-token-key",
    [VB_STORE_KEY_PHONE] = "phone-key",
    [VB_STORE_KEY_PHONE_INDEX] = "phone-index-key",
    [VB_STORE_KEY_OTP] = "otp-key",
};

gboolean
vb_context_set_config(VbContext *self, VbConfig *config, GError **error)
{
	GBytes *keys[VB_STORE_KEY_LAST] = {NULL};

	/* a malformed key is an error; a missing one only disables what needs it */
	for (guint i = 0; i < VB_STORE_KEY_LAST; i++) {
		g_autoptr(GError) error_local = NULL;
		keys[i] = vb_config_get_secret_key32(config, "vestibule", vb_store_key_names[i],
						     &error_local);
		if (keys[i] == NULL &&
		    !g_error_matches(error_local, VB_ERROR, VB_ERROR_NOT_FOUND)) {
			for (guint j = 0; j < i; j++)
				g_clear_pointer(&keys[j], g_bytes_unref);
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
	}
	g_set_object(&self->config, config);
	g_mutex_lock(&self->key_mutex);
	for (guint i = 0; i < VB_STORE_KEY_LAST; i++) {
		g_clear_pointer(&self->keys[i], g_bytes_unref);
		self->keys[i] = keys[i];
	}
	g_mutex_unlock(&self->key_mutex);
	return TRUE;
}

GBytes *
vb_context_get_store_key(VbContext *self, VbStoreKey key, GError **error)
{
	GBytes *bytes;

	g_return_val_if_fail(key < VB_STORE_KEY_LAST, NULL);
	g_mutex_lock(&self->key_mutex);
	bytes = self->keys[key] != NULL ? g_bytes_ref(self->keys[key]) : NULL;
	g_mutex_unlock(&self->key_mutex);
	if (bytes == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    "no %s in [vestibule] of the secrets file %s; see "
			    "data/config-reference.md for how to make one",
			    vb_store_key_names[key],
			    self->config != NULL ? vb_config_get_secrets_path(self->config)
						 : "(none loaded)");
	}
	return bytes;
}

GBytes *
vb_context_get_secret(VbContext *self, const gchar *group, const gchar *key, GError **error)
{
	GBytes *secret = NULL;

	if (self->config != NULL)
		secret = vb_config_get_secret(self->config, group, key);
	if (secret == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    "no secret '%s' in section [%s] of the secrets file %s", key, group,
			    self->config != NULL ? vb_config_get_secrets_path(self->config)
						 : "(none loaded)");
	}
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
	g_autofree gchar *token = NULL;
	GBytes *card_key = self->keys[VB_STORE_KEY_CARD_TOKEN];
	gsize pan_len;

	if (card_key == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    "no card-token-key in [vestibule] of the secrets file %s: cards "
			    "cannot be identified; see data/config-reference.md",
			    self->config != NULL ? vb_config_get_secrets_path(self->config)
						 : "(none loaded)");
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
		token = vb_crypto_hmac_hex(card_key, "uid:", read->uid, read->uid_len);
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
		token = vb_crypto_hmac_hex(card_key, "pan:", (const guint8 *)read->pan, pan_len);
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

	g_mutex_lock(&self->key_mutex);
	payload = vb_context_tokenize_card_unlocked(self, read, error);
	g_mutex_unlock(&self->key_mutex);
	/* the PAN lives in memory only until it is tokenized */
	vb_crypto_wipe(read, sizeof(*read));
	return payload;
}

static gboolean
vb_context_audit_timeout_cb(gpointer user_data);

/* replaces the pending flush, if any, with @source (an idle source when
 * @batch_full, else the time-out) */
static void
vb_context_schedule_audit(VbContext *self, GSource *source, gint priority, gboolean batch_full)
{
	if (self->audit_source != NULL) {
		g_source_destroy(self->audit_source);
		g_source_unref(self->audit_source);
	}
	self->audit_source = source;
	self->audit_source_is_idle = batch_full;
	g_source_set_priority(source, priority);
	g_source_set_callback(source, vb_context_audit_timeout_cb, self, NULL);
	g_source_set_static_name(source, "[vestibule] audit flush");
	g_source_attach(source, g_main_context_get_thread_default());
}

void
vb_context_flush_audit(VbContext *self)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(GError) error = NULL;

	if (self->audit_source != NULL) {
		g_source_destroy(self->audit_source);
		g_clear_pointer(&self->audit_source, g_source_unref);
	}
	if (self->audit_pending->len == 0)
		return;
	if (vb_store_in_transaction(self->store)) {
		/* called from inside someone's transaction: the loop writes it next */
		vb_context_schedule_audit(self, g_idle_source_new(), G_PRIORITY_DEFAULT, TRUE);
		return;
	}
	tx =
	    vb_store_transaction_begin_full(self->store, VB_STORE_TRANSACTION_FLAG_NO_SYNC, &error);
	for (guint i = 0; tx != NULL && i < self->audit_pending->len; i++) {
		VbEvent *event = g_ptr_array_index(self->audit_pending, i);
		g_autoptr(JsonNode) node = vb_redact_event_to_json(event);
		JsonObject *obj = json_node_get_object(node);
		g_autofree gchar *payload =
		    json_to_string(json_object_get_member(obj, "payload"), FALSE);
		if (!vb_store_audit_append(self->store, event, payload, &error))
			break;
	}
	if (tx != NULL && error == NULL)
		vb_store_transaction_commit(tx, &error);
	if (error != NULL) {
		vb_metrics_add(self->metrics, "vb_audit_failures_total", NULL, 1);
		g_warning("could not write %u events to the audit log: %s",
			  self->audit_pending->len, error->message);
	}
	g_ptr_array_set_size(self->audit_pending, 0);
}

static gboolean
vb_context_audit_timeout_cb(gpointer user_data)
{
	VbContext *self = VB_CONTEXT(user_data);
	g_clear_pointer(&self->audit_source, g_source_unref);
	vb_context_flush_audit(self);
	return G_SOURCE_REMOVE;
}

static void
vb_context_audit_event_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	VbContext *self = VB_CONTEXT(user_data);
	g_autofree gchar *labels = g_strdup_printf("name=\"%s\"", vb_event_get_name(event));

	vb_metrics_add(self->metrics, "vb_bus_events_total", labels, 1);
	g_ptr_array_add(self->audit_pending, vb_event_ref(event));
	/* never written from here: the event may come from inside a caller's
	 * transaction. Each step up replaces the source of the step below */
	if (self->audit_pending->len >= AUDIT_MAX_PENDING) {
		if (self->audit_source != NULL &&
		    g_source_get_priority(self->audit_source) == G_PRIORITY_DEFAULT)
			return;
		vb_context_schedule_audit(self, g_idle_source_new(), G_PRIORITY_DEFAULT, TRUE);
	} else if (self->audit_pending->len >= AUDIT_BATCH) {
		if (self->audit_source != NULL && self->audit_source_is_idle)
			return;
		vb_context_schedule_audit(self, g_idle_source_new(), G_PRIORITY_LOW, TRUE);
	} else if (self->audit_source == NULL) {
		vb_context_schedule_audit(self, g_timeout_source_new(AUDIT_FLUSH_MS),
					  G_PRIORITY_LOW, FALSE);
	}
}

void
vb_context_start_audit(VbContext *self)
{
	if (self->audit_handler != 0)
		return;
	self->audit_handler =
	    g_signal_connect(self->bus, "event", G_CALLBACK(vb_context_audit_event_cb), self);
}

static void
vb_context_dispose(GObject *object)
{
	VbContext *self = VB_CONTEXT(object);

	if (self->audit_handler != 0) {
		vb_context_flush_audit(self);
		g_clear_signal_handler(&self->audit_handler, self->bus);
	}
	if (self->audit_source != NULL) {
		g_source_destroy(self->audit_source);
		g_clear_pointer(&self->audit_source, g_source_unref);
	}
	g_clear_object(&self->bus);
	g_clear_object(&self->store);
	g_clear_object(&self->http);
	g_clear_object(&self->metrics);
	g_clear_object(&self->config);
	G_OBJECT_CLASS(vb_context_parent_class)->dispose(object);
}

static void
vb_context_finalize(GObject *object)
{
	VbContext *self = VB_CONTEXT(object);

	for (guint i = 0; i < VB_STORE_KEY_LAST; i++)
		g_clear_pointer(&self->keys[i], g_bytes_unref);
	g_ptr_array_unref(self->audit_pending);
	g_mutex_clear(&self->key_mutex);
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
	g_mutex_init(&self->key_mutex);
	self->audit_pending = g_ptr_array_new_with_free_func((GDestroyNotify)vb_event_unref);
}

VbContext *
vb_context_new(VbBus *bus, VbStore *store, VbHttpServer *http, VbMetrics *metrics)
{
	VbContext *self = g_object_new(VB_TYPE_CONTEXT, NULL);

	self->bus = g_object_ref(bus);
	self->store = store != NULL ? g_object_ref(store) : NULL;
	self->http = http != NULL ? g_object_ref(http) : NULL;
	self->metrics = metrics != NULL ? g_object_ref(metrics) : vb_metrics_new();
	vb_metrics_declare(self->metrics, "vb_alerts_total", VB_METRIC_COUNTER,
			   "Operator alerts raised");
	vb_metrics_declare(self->metrics, "vb_bus_events_total", VB_METRIC_COUNTER,
			   "Events carried by the bus, by name");
	vb_metrics_declare(self->metrics, "vb_audit_failures_total", VB_METRIC_COUNTER,
			   "Batches of events the audit log could not write");
	return self;
}
