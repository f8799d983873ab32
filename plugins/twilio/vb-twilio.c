/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <inttypes.h>

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-twilio-signature.h"
#include "vestibule.h"

/*
 * twilio sends SMS through Twilio's Programmable Messaging API and receives
 * replies and delivery reports through its signed webhooks.
 *
 * The unknown outcome. A POST that timed out after it was written, or that got
 * a 5xx, may or may not have created a message. Twilio has no idempotency key
 * on Messages.json, so the plugin keeps its own record, one row per
 * idempotency key, written before every request:
 * - a key whose message Twilio accepted is answered from the row: no request
 * - a key whose last request has an unknown outcome is never simply sent
 *   again. The plugin first waits until a request still in flight at Twilio
 *   must have finished (unknown-outcome-wait-s after a time-out; nothing after
 *   a 5xx, which is an answer), then lists the recipient's messages
 *   (GET Messages.json?To=…, newest first, following next_page_uri on the
 *   configured base URL only, for at most VB_TWILIO_LOOKUP_MAX_PAGES pages)
 *   and adopts one that went to the same number with the same text, was
 *   created after the first attempt (less a margin for clock skew) and is not
 *   already the message of another key. Only when the list ends without one is
 *   the message sent again. A lookup that fails, that reaches the page limit or
 *   that is sent to another host leaves the outcome unknown, so that the
 *   plugin never turns a doubt into a second message: the outbox asks again
 *   later, lets the recipient's later messages pass after unknown-hold-s, and
 *   past its bound settles the item by its kind's policy (which may send it
 *   again under a new key, which is a new row here). A lookup refused with
 *   401, 403 or 404 is VB_ERROR_OUTCOME_UNKNOWABLE: a configuration fault
 * - each message's StatusCallback URL carries a random tag of its row, so a
 *   delivery report for a message whose POST timed out also settles the row
 * The lookup does not filter on DateSent: Twilio's DateSent filter only takes
 * a day, and a message still queued has no date_sent yet, so the filter would
 * hide the very message looked for (after a 5xx it is looked up at once, and
 * is most likely still queued).
 */

#define VB_TWILIO_NAMESPACE "twilio"
#define VB_TWILIO_DEFAULT_BASE_URL "https://api.twilio.com"
/* Twilio's own limit on a message body, in characters */
#define VB_TWILIO_BODY_MAX 1600
/* rows are kept this long; the outbox gives up on an item within a week */
#define VB_TWILIO_KEEP_DAYS 30
/* how far before the first attempt a message found by the lookup may have
 * been created, for the clock of the store and Twilio's to differ */
#define VB_TWILIO_CLOCK_SKEW_S 300
/* how many of the recipient's messages each page of the lookup holds */
#define VB_TWILIO_LOOKUP_PAGE_SIZE "50"
/* how many pages the lookup reads before it gives up, the outcome still unknown */
#define VB_TWILIO_LOOKUP_MAX_PAGES 20
/* a Retry-After beyond this is capped; the outbox backs off on its own too */
#define VB_TWILIO_ERROR_OPTED_OUT 21610
/* libsoup 3.2 has no name for it */
#define VB_TWILIO_HTTP_TOO_MANY_REQUESTS 429
#define VB_TWILIO_EMPTY_TWIML "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"

#define VB_TYPE_TWILIO (vb_twilio_get_type())
G_DECLARE_FINAL_TYPE(VbTwilio, vb_twilio, VB, TWILIO, VbPlugin)

/* the resolved settings and secrets; replaced whole on reload */
typedef struct {
	gchar *base_url;
	gchar *account_sid;
	gchar *from;
	gchar *service_sid;
	gchar *api_key_sid;
	gchar *webhook_path;
	gchar *status_path;
	GBytes *auth_token;
	GBytes *api_key_secret; /* NULL unless api_key_sid is set */
	gchar *authorization;	/* the Basic header value */
	gboolean status_callback;
	guint timeout_s;
	guint wait_s;
} VbTwilioConfig;

struct _VbTwilio {
	VbPlugin parent_instance;
	VbTwilioConfig *config;
	SoupSession *session;
	GCancellable *cancellable; /* cancelled in shutdown */
	GHashTable *in_flight;	   /* idempotency key -> GPtrArray of GTasks waiting */
	VbHttpServer *server;
	gchar *routes[2];
	gchar *sql_select;
	gchar *sql_insert;
	gchar *sql_attempt;
	gchar *sql_settle;
	gchar *sql_claimed;
	gchar *sql_status;
	gchar *sql_adopt;
	guint64 sent;
	guint64 failed;
	guint64 received;
	guint64 adopted;
	guint64 rejected;
	gboolean auth_alerted;
	gchar *last_error;
};

static void
vb_twilio_sms_provider_iface_init(VbSmsProviderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(VbTwilio,
			      vb_twilio,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_SMS_PROVIDER,
						    vb_twilio_sms_provider_iface_init))

static const VbSettingSpec vb_twilio_settings[] = {
    {
	.key = "account-sid",
	.type = VB_SETTING_STRING,
	.default_value = NULL,
	.blurb = N_("The Twilio Account SID, AC followed by 32 hex digits"),
    },
    {
	.key = "from",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("The sender: a Twilio number in E.164 form or an alphanumeric sender ID; "
		    "empty when messaging-service-sid is set"),
    },
    {
	.key = "messaging-service-sid",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("The Messaging Service that picks the sender, MG followed by 32 hex digits; "
		    "empty to send from 'from'"),
    },
    {
	.key = "api-key-sid",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("An API key SID (SK…) to authenticate with instead of the auth token; its "
		    "secret is api-key-secret in the secrets file"),
    },
    {
	.key = "base-url",
	.type = VB_SETTING_STRING,
	.default_value = VB_TWILIO_DEFAULT_BASE_URL,
	.blurb = N_("The base URL of Twilio's REST API, for a regional endpoint or a test double"),
    },
    {
	.key = "webhook-path",
	.type = VB_SETTING_STRING,
	.default_value = "/hooks/sms/twilio",
	.blurb = N_("The path of the inbound webhook on the public listener; delivery reports "
		    "arrive at this path followed by /status"),
    },
    {
	.key = "status-callback",
	.type = VB_SETTING_BOOLEAN,
	.default_value = "true",
	.blurb = N_("Whether Twilio is asked to report each message's delivery state"),
    },
    {
	.key = "timeout-s",
	.type = VB_SETTING_INT,
	.default_value = "15",
	.min = 1,
	.max = 120,
	.blurb = N_("How long a request to Twilio may stay silent before it is given up, in "
		    "seconds"),
    },
    {
	.key = "unknown-outcome-wait-s",
	.type = VB_SETTING_INT,
	.default_value = "30",
	.min = 0,
	.max = 3600,
	.blurb = N_("After a request timed out, how long to wait before asking Twilio whether "
		    "the message was created, in seconds"),
    },
};

/* one schema version per script */
static const gchar *const vb_twilio_migrations[] = {
    "CREATE TABLE @ns@messages ("
    "instance TEXT NOT NULL, "
    "idempotency_key TEXT NOT NULL, "
    "tag TEXT NOT NULL, "
    "to_hash TEXT NOT NULL, "
    "body_hash TEXT NOT NULL, "
    "state TEXT NOT NULL, "
    "sid TEXT, "
    "status TEXT, "
    "first_attempt INTEGER NOT NULL, "
    "last_attempt INTEGER NOT NULL, "
    "lookup_after INTEGER NOT NULL DEFAULT 0, "
    "attempts INTEGER NOT NULL DEFAULT 0, "
    "updated INTEGER NOT NULL, "
    "PRIMARY KEY (instance, idempotency_key)); "
    "CREATE INDEX @ns@messages_sid ON @ns@messages (instance, sid); "
    "CREATE INDEX @ns@messages_tag ON @ns@messages (instance, tag)",
    /* the records past their days are found from the oldest: the prune at
     * each start read the whole table (100 ms for a month of a busy store) */
    "CREATE INDEX @ns@messages_updated ON @ns@messages (instance, updated)",
    NULL,
};

/* ------------------------------------------------------------------------ */
/* settings                                                                 */
/* ------------------------------------------------------------------------ */

static void
vb_twilio_config_free(VbTwilioConfig *config)
{
	if (config == NULL)
		return;
	g_free(config->base_url);
	g_free(config->account_sid);
	g_free(config->from);
	g_free(config->service_sid);
	g_free(config->api_key_sid);
	g_free(config->webhook_path);
	g_free(config->status_path);
	g_clear_pointer(&config->auth_token, g_bytes_unref);
	g_clear_pointer(&config->api_key_secret, g_bytes_unref);
	vb_secure_free_string(config->authorization);
	g_free(config);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbTwilioConfig, vb_twilio_config_free)

/* @prefix followed by 32 hex digits */
static gboolean
vb_twilio_sid_is_valid(const gchar *sid, const gchar *prefix)
{
	if (sid == NULL || strlen(sid) != 34 || strncmp(sid, prefix, 2) != 0)
		return FALSE;
	for (guint i = 2; i < 34; i++) {
		if (!g_ascii_isxdigit(sid[i]))
			return FALSE;
	}
	return TRUE;
}

/* whether @number is E.164: a plus sign then 8 to 15 digits, the first not 0 */
static gboolean
vb_twilio_phone_is_e164(const gchar *number)
{
	gsize len;

	if (number == NULL || number[0] != '+' || number[1] < '1' || number[1] > '9')
		return FALSE;
	len = strlen(number + 1);
	if (len < 8 || len > 15)
		return FALSE;
	for (gsize i = 1; number[i] != '\0'; i++) {
		if (!g_ascii_isdigit(number[i]))
			return FALSE;
	}
	return TRUE;
}

static gboolean
vb_twilio_config_error(GError **error, VbPlugin *plugin, const gchar *key, const gchar *what)
{
	g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
		    /* TRANSLATORS: the first %s is a key, the second an instance name, the
		     * third says what is wrong and how to fix it */
		    _("%s in [instance:%s] %s"), key, vb_plugin_get_name(plugin), what);
	return FALSE;
}

/* reads and checks every setting and secret without applying anything */
static VbTwilioConfig *
vb_twilio_config_load(VbTwilio *self, GError **error)
{
	VbPlugin *plugin = VB_PLUGIN(self);
	g_autoptr(VbTwilioConfig) config = g_new0(VbTwilioConfig, 1);
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GError) error_local = NULL;
	const gchar *base_url = vb_plugin_get_string(plugin, "base-url");
	const gchar *path = vb_plugin_get_string(plugin, "webhook-path");
	gsize len;

	config->account_sid = g_strdup(vb_plugin_get_string(plugin, "account-sid"));
	if (!vb_twilio_sid_is_valid(config->account_sid, "AC")) {
		vb_twilio_config_error(error, plugin, "account-sid",
				       _("must be the Account SID shown in the Twilio console: AC "
					 "followed by 32 hex digits"));
		return NULL;
	}
	config->from = g_strdup(vb_plugin_get_string(plugin, "from"));
	config->service_sid = g_strdup(vb_plugin_get_string(plugin, "messaging-service-sid"));
	if (config->service_sid[0] != '\0' && !vb_twilio_sid_is_valid(config->service_sid, "MG")) {
		vb_twilio_config_error(error, plugin, "messaging-service-sid",
				       _("must be MG followed by 32 hex digits, or empty"));
		return NULL;
	}
	if (config->from[0] == '\0' && config->service_sid[0] == '\0') {
		vb_twilio_config_error(
		    error, plugin, "from",
		    _("is empty and so is messaging-service-sid: set one of them "
		      "to a number or a Messaging Service of the account"));
		return NULL;
	}
	if (config->from[0] == '+' && !vb_twilio_phone_is_e164(config->from)) {
		vb_twilio_config_error(error, plugin, "from",
				       _("must be an E.164 number such as +15005550006, or an "
					 "alphanumeric sender ID"));
		return NULL;
	}
	config->api_key_sid = g_strdup(vb_plugin_get_string(plugin, "api-key-sid"));
	if (config->api_key_sid[0] != '\0' && !vb_twilio_sid_is_valid(config->api_key_sid, "SK")) {
		vb_twilio_config_error(error, plugin, "api-key-sid",
				       _("must be SK followed by 32 hex digits, or empty"));
		return NULL;
	}

	uri = g_uri_parse(base_url, G_URI_FLAGS_ENCODED, &error_local);
	if (uri == NULL ||
	    (g_strcmp0(g_uri_get_scheme(uri), "https") != 0 &&
	     g_strcmp0(g_uri_get_scheme(uri), "http") != 0) ||
	    g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0' ||
	    g_uri_get_query(uri) != NULL || g_uri_get_fragment(uri) != NULL ||
	    g_uri_get_userinfo(uri) != NULL) {
		vb_twilio_config_error(error, plugin, "base-url",
				       _("must be an http:// or https:// URL with a host and no "
					 "query, such as https://api.twilio.com"));
		return NULL;
	}
	len = strlen(base_url);
	while (len > 0 && base_url[len - 1] == '/')
		len--;
	config->base_url = g_strndup(base_url, len);

	if (path == NULL || path[0] != '/' || strlen(path) < 2 || strpbrk(path, "?#% ") != NULL ||
	    g_str_has_suffix(path, "/")) {
		vb_twilio_config_error(error, plugin, "webhook-path",
				       _("must be an absolute path such as /hooks/sms/twilio, with "
					 "no trailing slash and no query"));
		return NULL;
	}
	config->webhook_path = g_strdup(path);
	config->status_path = g_strconcat(path, "/status", NULL);
	config->status_callback = vb_plugin_get_boolean(plugin, "status-callback");
	config->timeout_s = (guint)vb_plugin_get_int(plugin, "timeout-s");
	config->wait_s = (guint)vb_plugin_get_int(plugin, "unknown-outcome-wait-s");

	/* the auth token signs the webhooks even when an API key authenticates requests */
	config->auth_token = vb_plugin_get_secret(plugin, "auth-token", NULL);
	if (config->auth_token == NULL || g_bytes_get_size(config->auth_token) == 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("the secrets file has no auth-token in [instance:%s]: copy the "
			      "account's Auth Token from the Twilio console there"),
			    vb_plugin_get_name(plugin));
		return NULL;
	}
	if (config->api_key_sid[0] != '\0') {
		config->api_key_secret = vb_plugin_get_secret(plugin, "api-key-secret", NULL);
		if (config->api_key_secret == NULL ||
		    g_bytes_get_size(config->api_key_secret) == 0) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
				    _("api-key-sid is set but the secrets file has no "
				      "api-key-secret in [instance:%s]: add the key's secret "
				      "there, or empty api-key-sid"),
				    vb_plugin_get_name(plugin));
			return NULL;
		}
		config->authorization =
		    vb_secure_format_basic_auth(config->api_key_sid, config->api_key_secret);
	} else {
		config->authorization =
		    vb_secure_format_basic_auth(config->account_sid, config->auth_token);
	}
	return g_steal_pointer(&config);
}

/* ------------------------------------------------------------------------ */
/* the plugin's table                                                       */
/* ------------------------------------------------------------------------ */

typedef struct {
	gchar *state;
	gchar *sid;
	gchar *tag;
	gchar *to_hash;
	gchar *body_hash;
	gint64 first_attempt;
	gint64 lookup_after;
} VbTwilioRow;

static void
vb_twilio_row_clear(VbTwilioRow *row)
{
	g_clear_pointer(&row->state, g_free);
	g_clear_pointer(&row->sid, g_free);
	g_clear_pointer(&row->tag, g_free);
	g_clear_pointer(&row->to_hash, g_free);
	g_clear_pointer(&row->body_hash, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VbTwilioRow, vb_twilio_row_clear)

static VbStore *
vb_twilio_get_store(VbTwilio *self)
{
	return vb_context_get_store(vb_plugin_get_context(VB_PLUGIN(self)));
}

static const gchar *
vb_twilio_instance(VbTwilio *self)
{
	return vb_plugin_get_name(VB_PLUGIN(self));
}

/* TRUE with @row filled when the key has a row, TRUE with @row empty when not */
static gboolean
vb_twilio_row_load(VbTwilio *self, const gchar *key, VbTwilioRow *row, GError **error)
{
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(vb_twilio_get_store(self), self->sql_select, error);
	VbStoreStep step;

	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_twilio_instance(self));
	vb_store_stmt_bind_text(stmt, 2, key);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return FALSE;
	if (step == VB_STORE_STEP_ROW) {
		row->state = g_strdup(vb_store_stmt_column_text(stmt, 0));
		row->sid = g_strdup(vb_store_stmt_column_text(stmt, 1));
		row->tag = g_strdup(vb_store_stmt_column_text(stmt, 2));
		row->to_hash = g_strdup(vb_store_stmt_column_text(stmt, 3));
		row->body_hash = g_strdup(vb_store_stmt_column_text(stmt, 4));
		row->first_attempt = vb_store_stmt_column_int64(stmt, 5);
		row->lookup_after = vb_store_stmt_column_int64(stmt, 6);
	}
	return TRUE;
}

/* records the state of @key; @sid and @status may be NULL to keep them */
static gboolean
vb_twilio_row_settle(VbTwilio *self,
		     const gchar *key,
		     const gchar *state,
		     const gchar *sid,
		     const gchar *status,
		     gint64 lookup_after,
		     GError **error)
{
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(vb_twilio_get_store(self), self->sql_settle, error);

	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_twilio_instance(self));
	vb_store_stmt_bind_text(stmt, 2, key);
	vb_store_stmt_bind_text(stmt, 3, state);
	vb_store_stmt_bind_text(stmt, 4, sid);
	vb_store_stmt_bind_text(stmt, 5, status);
	vb_store_stmt_bind_int64(stmt, 6, lookup_after);
	vb_store_stmt_bind_int64(stmt, 7, g_get_real_time());
	return vb_store_stmt_exec(stmt, error);
}

/* whether @sid is already the message of another key */
static gboolean
vb_twilio_sid_is_claimed(VbTwilio *self, const gchar *sid, const gchar *key)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(vb_twilio_get_store(self), self->sql_claimed, &error);

	/* when in doubt, the message is not adopted and is sent again */
	if (stmt == NULL)
		return TRUE;
	vb_store_stmt_bind_text(stmt, 1, vb_twilio_instance(self));
	vb_store_stmt_bind_text(stmt, 2, sid);
	vb_store_stmt_bind_text(stmt, 3, key);
	return vb_store_stmt_step(stmt, &error) != VB_STORE_STEP_DONE;
}

static gboolean
vb_twilio_prepare_store(VbTwilio *self, GError **error)
{
	VbStore *store = vb_twilio_get_store(self);
	g_autofree gchar *table = NULL;
	g_autofree gchar *sql_prune = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;

	if (store == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
				    _("the daemon has no store; twilio needs one"));
		return FALSE;
	}
	if (!vb_store_ensure_namespace(store, VB_TWILIO_NAMESPACE, vb_twilio_migrations, error))
		return FALSE;

	/* only the table name, which the core gives, is put into the SQL; values are bound */
	table = vb_store_namespace_table(VB_TWILIO_NAMESPACE, "messages");
	g_free(self->sql_select);
	self->sql_select = g_strdup_printf(
	    "SELECT state, sid, tag, to_hash, body_hash, first_attempt, lookup_after FROM %s "
	    "WHERE instance = ?1 AND idempotency_key = ?2",
	    table);
	g_free(self->sql_insert);
	self->sql_insert = g_strdup_printf(
	    "INSERT INTO %s (instance, idempotency_key, tag, to_hash, body_hash, state, "
	    "first_attempt, last_attempt, lookup_after, attempts, updated) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, 'sending', ?6, ?6, 0, 1, ?6)",
	    table);
	g_free(self->sql_attempt);
	self->sql_attempt = g_strdup_printf("UPDATE %s SET state = 'sending', last_attempt = ?3, "
					    "attempts = attempts + 1, updated = ?3 "
					    "WHERE instance = ?1 AND idempotency_key = ?2",
					    table);
	g_free(self->sql_settle);
	self->sql_settle = g_strdup_printf(
	    "UPDATE %s SET state = ?3, sid = COALESCE(?4, sid), status = COALESCE(?5, status), "
	    "lookup_after = ?6, updated = ?7 WHERE instance = ?1 AND idempotency_key = ?2 "
	    /* a delivery report may have settled it while the request was out */
	    "AND (state != 'sent' OR ?3 = 'sent')",
	    table);
	g_free(self->sql_claimed);
	self->sql_claimed = g_strdup_printf("SELECT 1 FROM %s WHERE instance = ?1 AND sid = ?2 "
					    "AND idempotency_key != ?3 LIMIT 1",
					    table);
	g_free(self->sql_status);
	self->sql_status = g_strdup_printf(
	    "UPDATE %s SET status = ?3, updated = ?4 WHERE instance = ?1 AND sid = ?2", table);
	g_free(self->sql_adopt);
	self->sql_adopt =
	    g_strdup_printf("UPDATE %s SET state = 'sent', sid = ?3, status = ?4, updated = ?5 "
			    "WHERE instance = ?1 AND tag = ?2 AND state IN ('sending', 'unknown')",
			    table);

	sql_prune = g_strdup_printf("DELETE FROM %s WHERE instance = ?1 AND updated < ?2", table);
	stmt = vb_store_prepare(store, sql_prune, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_twilio_instance(self));
	vb_store_stmt_bind_int64(stmt, 2,
				 g_get_real_time() - (gint64)VB_TWILIO_KEEP_DAYS * G_TIME_SPAN_DAY);
	return vb_store_stmt_exec(stmt, error);
}

/* ------------------------------------------------------------------------ */
/* small helpers                                                            */
/* ------------------------------------------------------------------------ */

/* a keyed hash, so that the table never holds a number or a text that a
 * dictionary could recover */
static gchar *
vb_twilio_hash(VbTwilio *self, const gchar *what, const gchar *value)
{
	gsize len = 0;
	const guint8 *key = g_bytes_get_data(self->config->auth_token, &len);
	g_autoptr(GHmac) hmac = g_hmac_new(G_CHECKSUM_SHA256, key, len);
	g_autofree gchar *hex = NULL;

	g_hmac_update(hmac, (const guchar *)what, -1);
	g_hmac_update(hmac, (const guchar *)"\n", 1);
	g_hmac_update(hmac, (const guchar *)value, -1);
	hex = g_strdup(g_hmac_get_string(hmac));
	return g_strndup(hex, 32);
}

static void
vb_twilio_set_last_error(VbTwilio *self, const gchar *message)
{
	g_free(self->last_error);
	self->last_error = g_strdup(message);
}

static void
vb_twilio_count(VbTwilio *self, const gchar *outcome)
{
	VbMetrics *metrics = vb_context_get_metrics(vb_plugin_get_context(VB_PLUGIN(self)));
	g_autofree gchar *labels = NULL;

	if (metrics == NULL)
		return;
	labels = vb_metrics_labels("provider", vb_plugin_get_module_name(VB_PLUGIN(self)),
				   "instance", vb_twilio_instance(self), "outcome", outcome, NULL);
	vb_metrics_add(metrics, VB_SMS_PROVIDER_METRIC_REQUESTS, labels, 1);
}

/* Twilio's message states, reduced to the five of VB_EVENT_SMS_STATUS; NULL
 * for an inbound state or one Twilio may add later */
static const gchar *
vb_twilio_normalize_status(const gchar *status)
{
	static const struct {
		const gchar *twilio;
		const gchar *ours;
	} map[] = {
	    {"accepted", "queued"},
	    {"scheduled", "queued"},
	    {"queued", "queued"},
	    {"sending", "queued"},
	    {"sent", "sent"},
	    {"delivered", "delivered"},
	    {"read", "delivered"},
	    {"undelivered", "undelivered"},
	    {"partially_delivered", "undelivered"},
	    {"failed", "failed"},
	    {"canceled", "failed"},
	};

	for (guint i = 0; status != NULL && i < G_N_ELEMENTS(map); i++) {
		if (g_strcmp0(status, map[i].twilio) == 0)
			return map[i].ours;
	}
	return NULL;
}

static void
vb_twilio_emit_status(VbTwilio *self, const gchar *sid, const gchar *state)
{
	GVariantBuilder payload;

	if (state == NULL)
		return;
	g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&payload, "{sv}", VB_KEY_MESSAGE_ID, g_variant_new_string(sid));
	g_variant_builder_add(&payload, "{sv}", VB_KEY_STATE, g_variant_new_string(state));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_SMS_STATUS, g_variant_builder_end(&payload));
}

/* a Retry-After value, in seconds or as an HTTP date, in ms; 0 if absent or bad */
/* ------------------------------------------------------------------------ */
/* sending                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
	gchar *to;
	gchar *body;
	gchar *key;
	gchar *tag;
	gchar *to_hash; /* of this message */
	gchar *body_hash;
	gchar *first_to_hash; /* of the first attempt, which the lookup looks for */
	gchar *first_body_hash;
	gint64 first_attempt;
	guint pages;	     /* of the lookup, read so far */
	gboolean wrote;	     /* the request went out: its outcome is ours to find out */
	gboolean registered; /* in the instance's in_flight table */
	GCancellable *cancellable;
	GCancellable *caller_cancellable;
	gulong caller_handler;
	gulong plugin_handler;
	GCancellable *plugin_cancellable;
	GSource *timer;
} VbTwilioSend;

static void
vb_twilio_wipe_free(gchar *str)
{
	if (str != NULL)
		explicit_bzero(str, strlen(str));
	g_free(str);
}

static void
vb_twilio_send_free(VbTwilioSend *send)
{
	if (send->caller_handler != 0)
		g_cancellable_disconnect(send->caller_cancellable, send->caller_handler);
	if (send->plugin_handler != 0)
		g_cancellable_disconnect(send->plugin_cancellable, send->plugin_handler);
	if (send->timer != NULL) {
		g_source_destroy(send->timer);
		g_source_unref(send->timer);
	}
	g_clear_object(&send->caller_cancellable);
	g_clear_object(&send->plugin_cancellable);
	g_clear_object(&send->cancellable);
	/* the body may hold a one-time code */
	vb_twilio_wipe_free(send->to);
	vb_twilio_wipe_free(send->body);
	g_free(send->key);
	g_free(send->tag);
	g_free(send->to_hash);
	g_free(send->body_hash);
	g_free(send->first_to_hash);
	g_free(send->first_body_hash);
	g_free(send);
}

static void
vb_twilio_cancel_cb(GCancellable *source, gpointer user_data)
{
	g_cancellable_cancel(G_CANCELLABLE(user_data));
}

static void
vb_twilio_return(GTask *task, const gchar *sid, const GError *error, guint retry_after_ms)
{
	if (sid != NULL) {
		g_task_return_pointer(task, g_strdup(sid), g_free);
		return;
	}
	if (retry_after_ms > 0)
		vb_sms_provider_task_set_retry_after(task, retry_after_ms);
	g_task_return_error(task, g_error_copy(error));
}

/* gives the outcome (@sid, or @error) to @task and to every call for the same
 * key that came while it was in flight: a key never has two requests out */
static void
vb_twilio_complete(GTask *task, const gchar *sid, const GError *error, guint retry_after_ms)
{
	VbTwilio *self = VB_TWILIO(g_task_get_source_object(task));
	VbTwilioSend *send = g_task_get_task_data(task);
	g_autoptr(GPtrArray) waiters = NULL;
	g_autofree gchar *key = NULL;

	if (send != NULL && send->registered) {
		g_hash_table_steal_extended(self->in_flight, send->key, (gpointer *)&key,
					    (gpointer *)&waiters);
		send->registered = FALSE;
	}
	vb_twilio_return(task, sid, error, retry_after_ms);
	for (guint i = 0; waiters != NULL && i < waiters->len; i++)
		vb_twilio_return(g_ptr_array_index(waiters, i), sid, error, retry_after_ms);
}

/* an error returned through @task; also the instance's last error */
static void
vb_twilio_task_fail(GTask *task, gint code, guint retry_after_ms, const gchar *message)
{
	VbTwilio *self = VB_TWILIO(g_task_get_source_object(task));
	g_autoptr(GError) error = g_error_new_literal(VB_ERROR, code, message);

	vb_twilio_set_last_error(self, message);
	vb_twilio_complete(task, NULL, error, retry_after_ms);
}

static void
vb_twilio_task_cancelled(GTask *task)
{
	g_autoptr(GError) error =
	    g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, _("the send was cancelled"));
	vb_twilio_complete(task, NULL, error, 0);
}

static void
vb_twilio_task_succeed(GTask *task, const gchar *sid)
{
	vb_twilio_complete(task, sid, NULL, 0);
}

/* the body of an answer as JSON, or NULL */
static JsonNode *
vb_twilio_parse_json(GBytes *bytes)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	gsize len = 0;
	const gchar *data;

	if (bytes == NULL)
		return NULL;
	data = g_bytes_get_data(bytes, &len);
	if (len == 0 || !json_parser_load_from_data(parser, data, (gssize)len, NULL))
		return NULL;
	return json_node_ref(json_parser_get_root(parser));
}

static const gchar *
vb_twilio_json_string(JsonObject *obj, const gchar *member)
{
	JsonNode *node = obj != NULL ? json_object_get_member(obj, member) : NULL;

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

/* Twilio's error code and message from an error answer; the message is
 * redacted, since Twilio quotes the number it refused */
static gint64
vb_twilio_error_details(GBytes *bytes, gchar **message)
{
	g_autoptr(JsonNode) root = vb_twilio_parse_json(bytes);
	JsonObject *obj =
	    root != NULL && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
	const gchar *text = vb_twilio_json_string(obj, "message");
	gint64 code = 0;

	if (obj != NULL && json_object_has_member(obj, "code") &&
	    JSON_NODE_HOLDS_VALUE(json_object_get_member(obj, "code")) &&
	    json_node_get_value_type(json_object_get_member(obj, "code")) == G_TYPE_INT64)
		code = json_object_get_int_member(obj, "code");
	*message = vb_redact_text(text != NULL ? text : "");
	return code;
}

static SoupMessage *
vb_twilio_new_message(VbTwilio *self, const gchar *method, const gchar *url)
{
	SoupMessage *msg = soup_message_new(method, url);
	SoupMessageHeaders *headers;

	if (msg == NULL)
		return NULL;
	headers = soup_message_get_request_headers(msg);
	soup_message_headers_replace(headers, "Authorization", self->config->authorization);
	soup_message_headers_replace(headers, "Accept", "application/json");
	return msg;
}

static gchar *
vb_twilio_messages_url(VbTwilio *self)
{
	return g_strdup_printf("%s/2010-04-01/Accounts/%s/Messages.json", self->config->base_url,
			       self->config->account_sid);
}

static void
vb_twilio_post(GTask *task);
static void
vb_twilio_lookup_page(GTask *task, const gchar *url);

/* a message Twilio already has for this key: it is the answer */
static void
vb_twilio_adopt(GTask *task, const gchar *sid, const gchar *status)
{
	VbTwilio *self = VB_TWILIO(g_task_get_source_object(task));
	VbTwilioSend *send = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	if (!vb_twilio_row_settle(self, send->key, "sent", sid, status, 0, &error))
		g_warning("cannot record that message %s was found: %s", sid, error->message);
	g_message("message %s was created by an earlier attempt whose answer was lost; it is "
		  "not sent again",
		  sid);
	self->adopted++;
	self->sent++;
	vb_twilio_count(self, "adopted");
	vb_twilio_task_succeed(task, sid);
}

static gint
vb_twilio_uri_port(GUri *uri)
{
	gint port = g_uri_get_port(uri);

	if (port > 0)
		return port;
	return g_ascii_strcasecmp(g_uri_get_scheme(uri), "https") == 0 ? 443 : 80;
}

static gboolean
vb_twilio_same_origin(GUri *a, GUri *b)
{
	const gchar *host_a = g_uri_get_host(a);
	const gchar *host_b = g_uri_get_host(b);

	return host_a != NULL && host_b != NULL &&
	       g_ascii_strcasecmp(g_uri_get_scheme(a), g_uri_get_scheme(b)) == 0 &&
	       g_ascii_strcasecmp(host_a, host_b) == 0 &&
	       vb_twilio_uri_port(a) == vb_twilio_uri_port(b);
}

/* the URL of the lookup's next page. Twilio gives its path, relative to the
 * API's base URL; the request carries the credentials, so it only ever goes to
 * base-url, and only to the list of messages. NULL for anything else */
static gchar *
vb_twilio_next_page_url(VbTwilio *self, const gchar *next, GError **error)
{
	g_autoptr(GUri) base = g_uri_parse(self->config->base_url, G_URI_FLAGS_ENCODED, NULL);
	g_autofree gchar *list = vb_twilio_messages_url(self);
	g_autoptr(GUri) list_uri = g_uri_parse(list, G_URI_FLAGS_ENCODED, NULL);
	g_autoptr(GUri) uri = NULL;
	g_autofree gchar *url = NULL;

	if (next[0] == '/' && next[1] != '/') {
		url = g_strconcat(self->config->base_url, next, NULL);
	} else {
		g_autoptr(GUri) absolute = g_uri_parse(next, G_URI_FLAGS_ENCODED, NULL);
		const gchar *query = absolute != NULL ? g_uri_get_query(absolute) : NULL;

		if (absolute != NULL && base != NULL && vb_twilio_same_origin(absolute, base))
			url = g_strdup_printf("%s%s%s%s", self->config->base_url,
					      g_uri_get_path(absolute), query != NULL ? "?" : "",
					      query != NULL ? query : "");
	}
	if (url != NULL)
		uri = g_uri_parse(url, G_URI_FLAGS_ENCODED, NULL);
	if (uri == NULL || base == NULL || list_uri == NULL || !vb_twilio_same_origin(uri, base) ||
	    g_uri_get_userinfo(uri) != NULL || g_uri_get_fragment(uri) != NULL ||
	    g_strcmp0(g_uri_get_path(uri), g_uri_get_path(list_uri)) != 0) {
		/* no URI in the message: it holds the recipient's number */
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the answer's next_page_uri leads away from the list of "
				      "messages at base-url, so it is not followed"));
		return NULL;
	}
	return g_steal_pointer(&url);
}

/* the same text to the same number, created after the first attempt */
static gboolean
vb_twilio_candidate_matches(VbTwilio *self, VbTwilioSend *send, JsonObject *message)
{
	const gchar *direction = vb_twilio_json_string(message, "direction");
	const gchar *to = vb_twilio_json_string(message, "to");
	const gchar *body = vb_twilio_json_string(message, "body");
	const gchar *created = vb_twilio_json_string(message, "date_created");
	g_autoptr(GDateTime) date = NULL;
	g_autofree gchar *to_hash = NULL;
	g_autofree gchar *body_hash = NULL;

	if (to == NULL || body == NULL || created == NULL ||
	    !g_str_has_prefix(direction != NULL ? direction : "", "outbound"))
		return FALSE;
	date = soup_date_time_new_from_http_string(created);
	if (date == NULL || g_date_time_to_unix(date) <
				send->first_attempt / G_USEC_PER_SEC - VB_TWILIO_CLOCK_SKEW_S)
		return FALSE;
	to_hash = vb_twilio_hash(self, "to", to);
	body_hash = vb_twilio_hash(self, "body", body);
	/* the first attempt's text is what may have gone; a later one is what would go */
	return (g_strcmp0(to_hash, send->first_to_hash) == 0 &&
		g_strcmp0(body_hash, send->first_body_hash) == 0) ||
	       (g_strcmp0(to_hash, send->to_hash) == 0 &&
		g_strcmp0(body_hash, send->body_hash) == 0);
}

/* the lookup could not tell: the outcome stays unknown and the outbox retries */
static void
vb_twilio_lookup_inconclusive(GTask *task, gint code, guint retry_after_ms, const gchar *why)
{
	VbTwilio *self = VB_TWILIO(g_task_get_source_object(task));
	VbTwilioSend *send = g_task_get_task_data(task);
	g_autofree gchar *message = NULL;
	g_autoptr(GError) error = NULL;

	if (!vb_twilio_row_settle(self, send->key, "unknown", NULL, NULL, 0, &error))
		g_warning("cannot record the unknown outcome: %s", error->message);
	/* a refusal is the operator's to fix: it is shown as it is */
	if (code == VB_ERROR_OUTCOME_UNKNOWABLE)
		message = g_strdup(why);
	else
		message = g_strdup_printf(_("an earlier attempt may have sent this message and "
					    "Twilio could not be asked whether it did (%s); it is "
					    "not sent again on a guess: the outbox asks again, and "
					    "settles it by its kind's policy if the doubt lasts"),
					  why);
	vb_twilio_count(self, "lookup-failed");
	vb_twilio_task_fail(task, code, retry_after_ms, message);
}

static void
vb_twilio_lookup_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	VbTwilio *self = VB_TWILIO(g_task_get_source_object(task));
	VbTwilioSend *send = g_task_get_task_data(task);
	SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), res);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes =
	    soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *next_url = NULL;
	const gchar *next_uri;
	JsonObject *obj;
	JsonArray *messages;
	JsonNode *next;
	guint status;

	if (bytes == NULL) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			vb_twilio_task_cancelled(task);
			return;
		}
		vb_twilio_lookup_inconclusive(task, VB_ERROR_TIMED_OUT, 0, error->message);
		return;
	}
	status = soup_message_get_status(msg);
	if (status == VB_TWILIO_HTTP_TOO_MANY_REQUESTS) {
		vb_twilio_lookup_inconclusive(
		    task, VB_ERROR_RATE_LIMITED,
		    vb_http_parse_retry_after(soup_message_headers_get_one(
			soup_message_get_response_headers(msg), "Retry-After")),
		    _("Twilio asked to slow down"));
		return;
	}
	if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN ||
	    status == SOUP_STATUS_NOT_FOUND) {
		/* no waiting cures this: the operator's to fix */
		g_autofree gchar *why = g_strdup_printf(
		    _("Twilio refuses to list the messages of [instance:%s] (HTTP %u): its "
		      "credentials may send but not read messages, or account-sid is wrong; "
		      "give them read access to Messages"),
		    vb_twilio_instance(self), status);
		vb_twilio_lookup_inconclusive(task, VB_ERROR_OUTCOME_UNKNOWABLE, 0, why);
		return;
	}
	if (status != SOUP_STATUS_OK) {
		g_autofree gchar *why = g_strdup_printf(_("HTTP %u"), status);
		vb_twilio_lookup_inconclusive(task, VB_ERROR_TIMED_OUT, 0, why);
		return;
	}
	root = vb_twilio_parse_json(bytes);
	obj = root != NULL && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
	if (obj == NULL || !json_object_has_member(obj, "messages") ||
	    !JSON_NODE_HOLDS_ARRAY(json_object_get_member(obj, "messages"))) {
		vb_twilio_lookup_inconclusive(task, VB_ERROR_TIMED_OUT, 0,
					      _("the answer has no list of messages"));
		return;
	}
	messages = json_object_get_array_member(obj, "messages");
	for (guint i = 0; i < json_array_get_length(messages); i++) {
		JsonNode *node = json_array_get_element(messages, i);
		JsonObject *message;
		const gchar *sid;

		if (!JSON_NODE_HOLDS_OBJECT(node))
			continue;
		message = json_node_get_object(node);
		sid = vb_twilio_json_string(message, "sid");
		if (sid == NULL || !vb_twilio_candidate_matches(self, send, message) ||
		    vb_twilio_sid_is_claimed(self, sid, send->key))
			continue;
		vb_twilio_adopt(task, sid, vb_twilio_json_string(message, "status"));
		return;
	}

	/* an older message may be on a later page */
	next = json_object_get_member(obj, "next_page_uri");
	next_uri = vb_twilio_json_string(obj, "next_page_uri");
	if (next == NULL || JSON_NODE_HOLDS_NULL(next) || g_strcmp0(next_uri, "") == 0) {
		g_debug("no message of an earlier attempt at Twilio in %u pages; sending it",
			send->pages);
		vb_twilio_post(g_steal_pointer(&task));
		return;
	}
	if (next_uri == NULL) {
		vb_twilio_lookup_inconclusive(task, VB_ERROR_TIMED_OUT, 0,
					      _("the answer's next_page_uri is not a URI"));
		return;
	}
	if (send->pages >= VB_TWILIO_LOOKUP_MAX_PAGES) {
		g_autofree gchar *why =
		    g_strdup_printf(_("the lookup gave up after %u pages of the recipient's "
				      "messages without finding it"),
				    send->pages);
		vb_twilio_lookup_inconclusive(task, VB_ERROR_TIMED_OUT, 0, why);
		return;
	}
	next_url = vb_twilio_next_page_url(self, next_uri, &error);
	if (next_url == NULL) {
		vb_twilio_lookup_inconclusive(task, VB_ERROR_TIMED_OUT, 0, error->message);
		return;
	}
	vb_twilio_lookup_page(g_steal_pointer(&task), next_url);
}

/* asks Twilio for one page of the recipient's messages */
static void
vb_twilio_lookup_page(GTask *task, const gchar *url)
{
	VbTwilio *self = VB_TWILIO(g_task_get_source_object(task));
	VbTwilioSend *send = g_task_get_task_data(task);
	g_autoptr(SoupMessage) msg = vb_twilio_new_message(self, SOUP_METHOD_GET, url);

	if (msg == NULL) {
		vb_twilio_lookup_inconclusive(task, VB_ERROR_TIMED_OUT, 0,
					      _("the URL of the next page is not valid"));
		g_object_unref(task);
		return;
	}
	send->pages++;
	soup_session_send_and_read_async(self->session, msg, G_PRIORITY_DEFAULT, send->cancellable,
					 vb_twilio_lookup_cb, task);
}

/* asks Twilio for the recipient's newest messages */
static void
vb_twilio_lookup(GTask *task)
{
	VbTwilio *self = VB_TWILIO(g_task_get_source_object(task));
	VbTwilioSend *send = g_task_get_task_data(task);
	g_autofree gchar *base = vb_twilio_messages_url(self);
	g_autofree gchar *to = g_uri_escape_string(send->to, NULL, FALSE);
	g_autofree gchar *url =
	    g_strdup_printf("%s?To=%s&PageSize=" VB_TWILIO_LOOKUP_PAGE_SIZE, base, to);
	g_auto(VbTwilioRow) row = {NULL};

	/* a delivery report may have told us the sid in the meantime */
	if (vb_twilio_row_load(self, send->key, &row, NULL) && g_strcmp0(row.state, "sent") == 0 &&
	    row.sid != NULL) {
		g_message("message %s was created by an earlier attempt whose answer was lost, as "
			  "its delivery report told; it is not sent again",
			  row.sid);
		self->adopted++;
		self->sent++;
		vb_twilio_count(self, "adopted");
		vb_twilio_task_succeed(task, row.sid);
		g_object_unref(task);
		return;
	}
	vb_twilio_count(self, "lookup");
	send->pages = 0;
	vb_twilio_lookup_page(task, url);
}

static void
vb_twilio_wrote_headers_cb(SoupMessage *msg, gpointer user_data)
{
	VbTwilioSend *send = user_data;
	send->wrote = TRUE;
}

/* the request went out and no usable answer came back */
static void
vb_twilio_post_unknown(GTask *task, gint64 lookup_after, const gchar *why)
{
	VbTwilio *self = VB_TWILIO(g_task_get_source_object(task));
	VbTwilioSend *send = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *message = NULL;
	g_auto(VbTwilioRow) row = {NULL};

	/* the message's delivery report came before the answer that was lost */
	if (vb_twilio_row_load(self, send->key, &row, NULL) && g_strcmp0(row.state, "sent") == 0 &&
	    row.sid != NULL) {
		g_message("message %s was created, as its delivery report told; its answer was "
			  "lost (%s)",
			  row.sid, why);
		self->adopted++;
		self->sent++;
		vb_twilio_count(self, "adopted");
		vb_twilio_task_succeed(task, row.sid);
		return;
	}
	if (!vb_twilio_row_settle(self, send->key, "unknown", NULL, NULL, lookup_after, &error))
		g_warning("cannot record the unknown outcome: %s", error->message);
	message = g_strdup_printf(_("Twilio may or may not have accepted the message (%s); it "
				    "is looked up at Twilio before any new attempt"),
				  why);
	vb_twilio_count(self, "unknown");
	vb_twilio_task_fail(task, VB_ERROR_TIMED_OUT, 0, message);
}

/* nothing was sent: the row may go again, or fail over */
static void
vb_twilio_post_not_sent(GTask *task, gint code, guint retry_after_ms, const gchar *message)
{
	VbTwilio *self = VB_TWILIO(g_task_get_source_object(task));
	VbTwilioSend *send = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	if (!vb_twilio_row_settle(self, send->key, "pending", NULL, NULL, 0, &error))
		g_warning("cannot record the failed attempt: %s", error->message);
	vb_twilio_count(self, code == VB_ERROR_RATE_LIMITED ? "rate-limited" : "unreachable");
	vb_twilio_task_fail(task, code, retry_after_ms, message);
}

static void
vb_twilio_post_refused(GTask *task, guint status, GBytes *bytes)
{
	VbTwilio *self = VB_TWILIO(g_task_get_source_object(task));
	VbTwilioSend *send = g_task_get_task_data(task);
	VbContext *context = vb_plugin_get_context(VB_PLUGIN(self));
	g_autofree gchar *text = NULL;
	g_autofree gchar *message = NULL;
	g_autoptr(GError) error = NULL;
	gint64 code = vb_twilio_error_details(bytes, &text);
	gint vb_code;

	if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN) {
		/* a credential problem is the operator's to fix, not the message's fault:
		 * nothing was sent, the outbox retries and may fail over */
		message = g_strdup_printf(_("Twilio refused the credentials of [instance:%s] "
					    "(HTTP %u, error %" PRId64 "): check "
					    "account-sid, and auth-token or api-key-secret in the "
					    "secrets file"),
					  vb_twilio_instance(self), status, code);
		if (!self->auth_alerted && context != NULL)
			vb_context_alert(context, VB_ALERT_CRITICAL, vb_twilio_instance(self), "%s",
					 message);
		self->auth_alerted = TRUE;
		vb_twilio_post_not_sent(task, VB_ERROR_UNREACHABLE, 0, message);
		return;
	}
	if (code == VB_TWILIO_ERROR_OPTED_OUT) {
		vb_code = VB_ERROR_OPTED_OUT;
		message = g_strdup_printf(_("the recipient has opted out of messages from this "
					    "sender at Twilio (error %" PRId64 "); they "
					    "must text START to receive messages again"),
					  code);
	} else {
		/* 21211 and 21614: not a valid or not a mobile number; 21602, 21617: the text */
		vb_code =
		    status == SOUP_STATUS_BAD_REQUEST ? VB_ERROR_INVALID_DATA : VB_ERROR_DECLINED;
		message = g_strdup_printf(_("Twilio refused the message (HTTP %u, error %" PRId64
					    ": %s); it is not retried"),
					  status, code, text);
	}
	if (!vb_twilio_row_settle(self, send->key, "failed", NULL, NULL, 0, &error))
		g_warning("cannot record the refusal: %s", error->message);
	self->failed++;
	vb_twilio_count(self, vb_code == VB_ERROR_OPTED_OUT ? "opted-out" : "refused");
	vb_twilio_task_fail(task, vb_code, 0, message);
}

static void
vb_twilio_post_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	VbTwilio *self = VB_TWILIO(g_task_get_source_object(task));
	VbTwilioSend *send = g_task_get_task_data(task);
	SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), res);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes =
	    soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *masked = NULL;
	const gchar *sid;
	const gchar *status_text;
	JsonObject *obj;
	guint status;

	g_signal_handlers_disconnect_by_data(msg, send);
	if (bytes == NULL) {
		gboolean cancelled = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

		if (!send->wrote) {
			g_autofree gchar *message = NULL;
			if (cancelled) {
				vb_twilio_post_not_sent(task, VB_ERROR_UNREACHABLE, 0,
							_("the send was cancelled before the "
							  "request went out; nothing was sent"));
				return;
			}
			message = g_strdup_printf(_("Twilio cannot be reached at %s (%s); "
						    "nothing was sent"),
						  self->config->base_url, error->message);
			vb_twilio_post_not_sent(task, VB_ERROR_UNREACHABLE, 0, message);
			return;
		}
		/* a request cut short may still be processed: wait before looking */
		vb_twilio_post_unknown(
		    task, g_get_real_time() + (gint64)self->config->wait_s * G_USEC_PER_SEC,
		    error->message);
		return;
	}
	status = soup_message_get_status(msg);
	if (status == VB_TWILIO_HTTP_TOO_MANY_REQUESTS) {
		guint retry_after = vb_http_parse_retry_after(soup_message_headers_get_one(
		    soup_message_get_response_headers(msg), "Retry-After"));
		g_autofree gchar *message = NULL;

		message = g_strdup_printf(_("Twilio asked to slow down (HTTP 429); retrying in "
					    "%u s"),
					  (retry_after + 999) / 1000);
		vb_twilio_post_not_sent(task, VB_ERROR_RATE_LIMITED, retry_after, message);
		return;
	}
	if (status >= 400 && status < 500) {
		vb_twilio_post_refused(task, status, bytes);
		return;
	}
	if (status < 200 || status >= 300) {
		g_autofree gchar *why = g_strdup_printf(_("HTTP %u"), status);
		/* Twilio answered, so nothing is still in flight: look at once */
		vb_twilio_post_unknown(task, 0, why);
		return;
	}
	root = vb_twilio_parse_json(bytes);
	obj = root != NULL && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
	sid = vb_twilio_json_string(obj, "sid");
	status_text = vb_twilio_json_string(obj, "status");
	if (sid == NULL || sid[0] == '\0') {
		vb_twilio_post_unknown(task, 0, _("the answer has no message sid"));
		return;
	}
	if (!vb_twilio_row_settle(self, send->key, "sent", sid, status_text, 0, &error))
		g_warning("cannot record message %s: %s", sid, error->message);
	masked = vb_mask_phone(send->to);
	g_message("SMS %s to %s accepted by Twilio (%s)", sid, masked,
		  status_text != NULL ? status_text : "no status");
	self->sent++;
	self->auth_alerted = FALSE;
	vb_twilio_count(self, "sent");
	vb_twilio_task_succeed(task, sid);
	vb_twilio_emit_status(self, sid, vb_twilio_normalize_status(status_text));
}

static void
vb_twilio_bytes_wipe(gpointer data)
{
	GString *form = data;

	explicit_bzero(form->str, form->len);
	g_string_free(form, TRUE);
}

/* records the attempt, then sends the message */
static void
vb_twilio_post(GTask *task)
{
	VbTwilio *self = VB_TWILIO(g_task_get_source_object(task));
	VbTwilioSend *send = g_task_get_task_data(task);
	VbHttpServer *server = vb_context_get_http_server(vb_plugin_get_context(VB_PLUGIN(self)));
	const gchar *public_url = server != NULL ? vb_http_server_get_public_url(server) : NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *url = vb_twilio_messages_url(self);
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GBytes) body = NULL;
	GString *form = g_string_new(NULL);

	/* the row is committed before the request leaves */
	stmt = vb_store_prepare(vb_twilio_get_store(self), self->sql_attempt, &error);
	if (stmt != NULL) {
		vb_store_stmt_bind_text(stmt, 1, vb_twilio_instance(self));
		vb_store_stmt_bind_text(stmt, 2, send->key);
		vb_store_stmt_bind_int64(stmt, 3, g_get_real_time());
	}
	if (stmt == NULL || !vb_store_stmt_exec(stmt, &error)) {
		g_autofree gchar *message = g_strdup_printf(
		    _("cannot record the attempt, so nothing was sent: %s"), error->message);
		vb_twilio_bytes_wipe(form);
		vb_twilio_task_fail(task, VB_ERROR_UNREACHABLE, 0, message);
		g_object_unref(task);
		return;
	}

	vb_secure_form_append(form, "To", send->to, -1);
	if (self->config->service_sid[0] != '\0')
		vb_secure_form_append(form, "MessagingServiceSid", self->config->service_sid, -1);
	if (self->config->from[0] != '\0')
		vb_secure_form_append(form, "From", self->config->from, -1);
	vb_secure_form_append(form, "Body", send->body, -1);
	if (self->config->status_callback && public_url != NULL) {
		g_autofree gchar *callback =
		    g_strdup_printf("%s%s?t=%s", public_url, self->config->status_path, send->tag);
		vb_secure_form_append(form, "StatusCallback", callback, -1);
	}
	body = g_bytes_new_with_free_func(form->str, form->len, vb_twilio_bytes_wipe, form);
	msg = vb_twilio_new_message(self, SOUP_METHOD_POST, url);
	soup_message_set_request_body_from_bytes(msg, "application/x-www-form-urlencoded", body);
	send->wrote = FALSE;
	g_signal_connect(msg, "wrote-headers", G_CALLBACK(vb_twilio_wrote_headers_cb), send);
	vb_twilio_count(self, "attempt");
	soup_session_send_and_read_async(self->session, msg, G_PRIORITY_DEFAULT, send->cancellable,
					 vb_twilio_post_cb, task);
}

static gboolean
vb_twilio_wait_done_cb(gpointer user_data)
{
	GTask *task = user_data;
	VbTwilioSend *send = g_task_get_task_data(task);

	g_clear_pointer(&send->timer, g_source_unref);
	if (g_cancellable_is_cancelled(send->cancellable)) {
		vb_twilio_task_cancelled(task);
		g_object_unref(task);
		return G_SOURCE_REMOVE;
	}
	vb_twilio_lookup(task);
	return G_SOURCE_REMOVE;
}

static gboolean
vb_twilio_wait_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	GTask *task = user_data;
	VbTwilioSend *send = g_task_get_task_data(task);

	if (send->timer != NULL) {
		g_source_destroy(send->timer);
		g_clear_pointer(&send->timer, g_source_unref);
	}
	vb_twilio_task_cancelled(task);
	g_object_unref(task);
	return G_SOURCE_REMOVE;
}

/* waits until a request cut short must have been dealt with by Twilio */
static void
vb_twilio_wait_then_lookup(GTask *task, gint64 until)
{
	VbTwilioSend *send = g_task_get_task_data(task);
	gint64 left_ms = (until - g_get_real_time()) / 1000;
	g_autoptr(GSource) cancel_source = g_cancellable_source_new(send->cancellable);

	g_debug("the last attempt's outcome is unknown; looking it up in %" G_GINT64_FORMAT " ms",
		left_ms);
	send->timer = g_timeout_source_new((guint)CLAMP(left_ms, 0, G_MAXINT));
	g_source_set_callback(send->timer, vb_twilio_wait_done_cb, task, NULL);
	/* the cancellable source lives as long as the timer, as its child */
	g_source_set_callback(cancel_source, G_SOURCE_FUNC(vb_twilio_wait_cancelled_cb), task,
			      NULL);
	g_source_add_child_source(send->timer, cancel_source);
	g_source_attach(send->timer, g_main_context_get_thread_default());
}

static gboolean
vb_twilio_message_is_valid(const VbSmsMessage *message, GError **error)
{
	if (!vb_twilio_phone_is_e164(message->to)) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the recipient is not an E.164 number"));
		return FALSE;
	}
	if (message->body == NULL || message->body[0] == '\0') {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the message has no text"));
		return FALSE;
	}
	if (!g_utf8_validate(message->body, -1, NULL)) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the message text is not valid UTF-8"));
		return FALSE;
	}
	if (g_utf8_strlen(message->body, -1) > VB_TWILIO_BODY_MAX) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the message text is longer than Twilio's limit of %u characters"),
			    VB_TWILIO_BODY_MAX);
		return FALSE;
	}
	if (message->idempotency_key == NULL || message->idempotency_key[0] == '\0') {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the message has no idempotency key; twilio needs one to "
				      "never send it twice"));
		return FALSE;
	}
	return TRUE;
}

static void
vb_twilio_send_async(VbSmsProvider *provider,
		     const VbSmsMessage *message,
		     GCancellable *cancellable,
		     GAsyncReadyCallback callback,
		     gpointer user_data)
{
	VbTwilio *self = VB_TWILIO(provider);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(GError) error = NULL;
	g_auto(VbTwilioRow) row = {NULL};
	VbTwilioSend *send;
	gint64 now = g_get_real_time();

	g_task_set_source_tag(task, vb_twilio_send_async);
	if (self->session == NULL || self->config == NULL) {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE,
					_("the SMS provider %s is not running"),
					vb_twilio_instance(self));
		return;
	}
	if (!vb_twilio_message_is_valid(message, &error)) {
		vb_twilio_set_last_error(self, error->message);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (!vb_twilio_row_load(self, message->idempotency_key, &row, &error)) {
		g_prefix_error(&error, "%s", _("cannot read the record of earlier attempts: "));
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE, "%s", error->message);
		return;
	}
	if (g_strcmp0(row.state, "sent") == 0 && row.sid != NULL) {
		g_debug("message %s was already accepted by Twilio; not sending it again", row.sid);
		vb_twilio_task_succeed(task, row.sid);
		return;
	}

	/* the outbox retries an item whose send outlived [sms] send-timeout-s while
	 * that send still runs: the retry waits for its outcome */
	{
		GPtrArray *waiters = g_hash_table_lookup(self->in_flight, message->idempotency_key);
		if (waiters != NULL) {
			g_debug("a send of this message is still in progress; waiting for it");
			g_ptr_array_add(waiters, g_steal_pointer(&task));
			return;
		}
	}

	send = g_new0(VbTwilioSend, 1);
	send->to = g_strdup(message->to);
	send->body = g_strdup(message->body);
	send->key = g_strdup(message->idempotency_key);
	send->to_hash = vb_twilio_hash(self, "to", message->to);
	send->body_hash = vb_twilio_hash(self, "body", message->body);
	send->cancellable = g_cancellable_new();
	if (cancellable != NULL) {
		send->caller_cancellable = g_object_ref(cancellable);
		send->caller_handler = g_cancellable_connect(
		    cancellable, G_CALLBACK(vb_twilio_cancel_cb), send->cancellable, NULL);
	}
	send->plugin_cancellable = g_object_ref(self->cancellable);
	send->plugin_handler = g_cancellable_connect(
	    self->cancellable, G_CALLBACK(vb_twilio_cancel_cb), send->cancellable, NULL);
	g_task_set_task_data(task, send, (GDestroyNotify)vb_twilio_send_free);
	g_hash_table_insert(self->in_flight, g_strdup(send->key),
			    g_ptr_array_new_with_free_func(g_object_unref));
	send->registered = TRUE;

	if (row.state == NULL) {
		g_autoptr(VbStoreStmt) stmt = NULL;

		send->tag = g_uuid_string_random();
		send->first_attempt = now;
		send->first_to_hash = g_strdup(send->to_hash);
		send->first_body_hash = g_strdup(send->body_hash);
		stmt = vb_store_prepare(vb_twilio_get_store(self), self->sql_insert, &error);
		if (stmt != NULL) {
			vb_store_stmt_bind_text(stmt, 1, vb_twilio_instance(self));
			vb_store_stmt_bind_text(stmt, 2, send->key);
			vb_store_stmt_bind_text(stmt, 3, send->tag);
			vb_store_stmt_bind_text(stmt, 4, send->to_hash);
			vb_store_stmt_bind_text(stmt, 5, send->body_hash);
			vb_store_stmt_bind_int64(stmt, 6, now);
		}
		if (stmt == NULL || !vb_store_stmt_exec(stmt, &error)) {
			g_prefix_error(&error, "%s",
				       _("cannot record the attempt, so nothing was sent: "));
			vb_twilio_task_fail(task, VB_ERROR_UNREACHABLE, 0, error->message);
			return;
		}
		vb_twilio_post(g_steal_pointer(&task));
		return;
	}
	send->tag = g_strdup(row.tag);
	send->first_attempt = row.first_attempt;
	send->first_to_hash = g_strdup(row.to_hash);
	send->first_body_hash = g_strdup(row.body_hash);
	/* 'sending' is a request cut short by a stop or a crash: as unknown as a time-out */
	if (g_strcmp0(row.state, "unknown") == 0 || g_strcmp0(row.state, "sending") == 0) {
		gint64 until = row.lookup_after;
		if (g_strcmp0(row.state, "sending") == 0 && until == 0)
			until = now + (gint64)self->config->wait_s * G_USEC_PER_SEC;
		if (until > now) {
			vb_twilio_wait_then_lookup(g_steal_pointer(&task), until);
			return;
		}
		vb_twilio_lookup(g_steal_pointer(&task));
		return;
	}
	/* 'pending' or 'failed': nothing of it reached Twilio */
	vb_twilio_post(g_steal_pointer(&task));
}

static gchar *
vb_twilio_send_finish(VbSmsProvider *provider, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, provider), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* ------------------------------------------------------------------------ */
/* webhooks                                                                 */
/* ------------------------------------------------------------------------ */

static void
vb_twilio_reply_text(SoupServerMessage *msg, guint status, const gchar *type, const gchar *text)
{
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, text, strlen(text));
}

static void
vb_twilio_reject(VbTwilio *self, SoupServerMessage *msg, const gchar *hook, const gchar *reason)
{
	VbMetrics *metrics = vb_context_get_metrics(vb_plugin_get_context(VB_PLUGIN(self)));
	g_autofree gchar *labels = NULL;
	GSocketAddress *remote = soup_server_message_get_remote_address(msg);
	g_autofree gchar *peer = NULL;

	if (remote != NULL && G_IS_INET_SOCKET_ADDRESS(remote))
		peer = g_inet_address_to_string(
		    g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(remote)));
	self->rejected++;
	if (metrics != NULL) {
		labels = vb_metrics_labels("provider", vb_plugin_get_module_name(VB_PLUGIN(self)),
					   "instance", vb_twilio_instance(self), "hook", hook,
					   "reason", reason, NULL);
		vb_metrics_add(metrics, VB_SMS_PROVIDER_METRIC_WEBHOOKS_REJECTED, labels, 1);
	}
	g_warning("refused a %s webhook from %s: %s; if it came from Twilio, check that the URL "
		  "in the Twilio console is the public URL plus %s and that auth-token is the "
		  "account's",
		  hook, peer != NULL ? peer : "?", reason, self->config->webhook_path);
	vb_http_reply_error(msg, SOUP_STATUS_FORBIDDEN, vb_error_to_code(VB_ERROR_UNAUTHORIZED),
			    _("the X-Twilio-Signature of this request is missing or wrong"));
}

/* the value of the first field called @name, or NULL */
static const gchar *
vb_twilio_param(GPtrArray *params, const gchar *name)
{
	const VbSecureFormField *field = vb_secure_form_lookup(params, name);

	return field != NULL ? field->value : NULL;
}

/* checks the method, the type and the signature; returns the parameters */
static GPtrArray *
vb_twilio_webhook_params(VbTwilio *self,
			 SoupServerMessage *msg,
			 const gchar *path,
			 const gchar *expected_path,
			 const gchar *hook)
{
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	const gchar *type = soup_message_headers_get_content_type(headers, NULL);
	const gchar *signature = soup_message_headers_get_one(headers, "X-Twilio-Signature");
	const gchar *public_url = vb_http_server_get_public_url(self->server);
	const gchar *query = g_uri_get_query(soup_server_message_get_uri(msg));
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GPtrArray) params = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *url = NULL;
	gsize token_len = 0;
	const guint8 *token;
	gsize len = 0;
	const gchar *data;

	if (g_strcmp0(path, expected_path) != 0) {
		vb_http_reply_error(msg, SOUP_STATUS_NOT_FOUND,
				    vb_error_to_code(VB_ERROR_NOT_FOUND),
				    _("there is nothing at %s: check the URL"), path);
		return NULL;
	}
	if (soup_server_message_get_method(msg) != SOUP_METHOD_POST) {
		soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
					     "POST");
		vb_http_reply_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
				    vb_error_to_code(VB_ERROR_NOT_SUPPORTED),
				    _("%s only accepts POST; set the webhook's method to HTTP POST "
				      "in the Twilio console"),
				    path);
		return NULL;
	}
	if (g_strcmp0(type, "application/x-www-form-urlencoded") != 0) {
		vb_http_reply_error(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
				    vb_error_to_code(VB_ERROR_INVALID_DATA),
				    _("%s expects a form, application/x-www-form-urlencoded, as "
				      "Twilio sends it"),
				    path);
		return NULL;
	}
	bytes = soup_message_body_flatten(soup_server_message_get_request_body(msg));
	data = g_bytes_get_data(bytes, &len);
	params = vb_secure_form_decode(data, (gssize)len, VB_SECURE_FORM_NONE, &error);
	if (params == NULL) {
		vb_http_reply_gerror(msg, error);
		return NULL;
	}
	/* Twilio signs the URL it was given, which is ours behind any proxy */
	url = g_strdup_printf("%s%s%s%s", public_url != NULL ? public_url : "", path,
			      query != NULL ? "?" : "", query != NULL ? query : "");
	token = g_bytes_get_data(self->config->auth_token, &token_len);
	if (signature == NULL) {
		vb_twilio_reject(self, msg, hook, "no signature");
		return NULL;
	}
	if (!vb_twilio_signature_check(token, token_len, url, params, signature)) {
		vb_twilio_reject(self, msg, hook, "bad signature");
		return NULL;
	}
	return g_steal_pointer(&params);
}

static void
vb_twilio_inbound_cb(VbHttpServer *server,
		     SoupServerMessage *msg,
		     const gchar *path,
		     GHashTable *query,
		     gpointer user_data)
{
	VbTwilio *self = VB_TWILIO(user_data);
	g_autoptr(GPtrArray) params = NULL;
	g_autofree gchar *masked = NULL;
	const gchar *from;
	const gchar *body;
	const gchar *sid;
	GVariantBuilder payload;

	if (self->config == NULL)
		return;
	params = vb_twilio_webhook_params(self, msg, path, self->config->webhook_path, "inbound");
	if (params == NULL)
		return;
	from = vb_twilio_param(params, "From");
	body = vb_twilio_param(params, "Body");
	sid = vb_twilio_param(params, "MessageSid");
	if (sid == NULL)
		sid = vb_twilio_param(params, "SmsMessageSid");
	if (!vb_twilio_phone_is_e164(from)) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA),
				    _("From must be an E.164 number: this webhook is for SMS"));
		return;
	}
	if (sid == NULL || sid[0] == '\0') {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA),
				    _("the request has no MessageSid"));
		return;
	}
	masked = vb_mask_phone(from);
	g_message("SMS %s from %s received", sid, masked);
	self->received++;

	g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&payload, "{sv}", VB_KEY_PHONE, g_variant_new_string(from));
	g_variant_builder_add(&payload, "{sv}", VB_KEY_BODY,
			      g_variant_new_string(body != NULL ? body : ""));
	g_variant_builder_add(&payload, "{sv}", VB_KEY_MESSAGE_ID, g_variant_new_string(sid));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_SMS_RECEIVED, g_variant_builder_end(&payload));
	/* no reply to the shopper from here: the core answers through the outbox */
	vb_twilio_reply_text(msg, SOUP_STATUS_OK, "text/xml", VB_TWILIO_EMPTY_TWIML);
}

static void
vb_twilio_status_cb(VbHttpServer *server,
		    SoupServerMessage *msg,
		    const gchar *path,
		    GHashTable *query,
		    gpointer user_data)
{
	VbTwilio *self = VB_TWILIO(user_data);
	g_autoptr(GPtrArray) params = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	const gchar *sid;
	const gchar *status;
	const gchar *state;
	const gchar *tag = query != NULL ? g_hash_table_lookup(query, "t") : NULL;

	if (self->config == NULL)
		return;
	params = vb_twilio_webhook_params(self, msg, path, self->config->status_path, "status");
	if (params == NULL)
		return;
	sid = vb_twilio_param(params, "MessageSid");
	status = vb_twilio_param(params, "MessageStatus");
	if (status == NULL)
		status = vb_twilio_param(params, "SmsStatus");
	if (sid == NULL || sid[0] == '\0' || status == NULL) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA),
				    _("a status callback needs MessageSid and MessageStatus"));
		return;
	}
	state = vb_twilio_normalize_status(status);

	/* the row of a message whose POST timed out learns its sid here */
	if (tag != NULL) {
		stmt = vb_store_prepare(vb_twilio_get_store(self), self->sql_adopt, &error);
		if (stmt != NULL) {
			vb_store_stmt_bind_text(stmt, 1, vb_twilio_instance(self));
			vb_store_stmt_bind_text(stmt, 2, tag);
			vb_store_stmt_bind_text(stmt, 3, sid);
			vb_store_stmt_bind_text(stmt, 4, status);
			vb_store_stmt_bind_int64(stmt, 5, g_get_real_time());
		}
		if (stmt == NULL || !vb_store_stmt_exec(stmt, &error)) {
			g_warning("cannot record the delivery report of %s: %s", sid,
				  error->message);
			g_clear_error(&error);
		} else if (vb_store_changes(vb_twilio_get_store(self)) > 0) {
			g_message("message %s, whose answer was lost, was created; it is not sent "
				  "again",
				  sid);
		}
		g_clear_pointer(&stmt, vb_store_stmt_free);
	}
	stmt = vb_store_prepare(vb_twilio_get_store(self), self->sql_status, &error);
	if (stmt != NULL) {
		vb_store_stmt_bind_text(stmt, 1, vb_twilio_instance(self));
		vb_store_stmt_bind_text(stmt, 2, sid);
		vb_store_stmt_bind_text(stmt, 3, status);
		vb_store_stmt_bind_int64(stmt, 4, g_get_real_time());
	}
	if (stmt == NULL || !vb_store_stmt_exec(stmt, &error)) {
		/* Twilio retries nothing that got an answer: ask for a retry */
		vb_http_reply_gerror(msg, error);
		return;
	}
	g_debug("message %s is %s", sid, status);
	vb_twilio_emit_status(self, sid, state);
	soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, NULL);
}

static void
vb_twilio_remove_routes(VbTwilio *self)
{
	for (guint i = 0; i < G_N_ELEMENTS(self->routes); i++) {
		if (self->routes[i] != NULL && self->server != NULL)
			vb_http_server_remove_handler(self->server, VB_HTTP_LISTENER_PUBLIC,
						      self->routes[i]);
		g_clear_pointer(&self->routes[i], g_free);
	}
}

static void
vb_twilio_add_routes(VbTwilio *self)
{
	if (self->server == NULL)
		return;
	vb_twilio_remove_routes(self);
	self->routes[0] = g_strdup(self->config->webhook_path);
	self->routes[1] = g_strdup(self->config->status_path);
	vb_http_server_add_handler(self->server, VB_HTTP_LISTENER_PUBLIC, self->routes[0], NULL,
				   vb_twilio_inbound_cb, self, NULL);
	vb_http_server_add_handler(self->server, VB_HTTP_LISTENER_PUBLIC, self->routes[1], NULL,
				   vb_twilio_status_cb, self, NULL);
}

/* ------------------------------------------------------------------------ */
/* the plugin                                                               */
/* ------------------------------------------------------------------------ */

static void
vb_twilio_apply(VbTwilio *self, VbTwilioConfig *config)
{
	const gchar *public_url;

	vb_twilio_config_free(self->config);
	self->config = config;
	g_object_set(self->session, "timeout", self->config->timeout_s, NULL);
	vb_twilio_add_routes(self);
	public_url = self->server != NULL ? vb_http_server_get_public_url(self->server) : NULL;
	if (public_url == NULL || !g_str_has_prefix(public_url, "https://"))
		g_message("the public URL is %s: Twilio only reaches webhooks at a public "
			  "https:// URL; set public-url in [http]",
			  public_url != NULL ? public_url : "unknown");
}

/* a daemon has no desktop proxy settings to follow: the proxy, if any, is
 * https_proxy in its environment (systemd: Environment=), with no_proxy */
static GProxyResolver *
vb_twilio_proxy_resolver(void)
{
	const gchar *proxy = g_getenv("https_proxy");
	const gchar *no_proxy = g_getenv("no_proxy");
	g_auto(GStrv) ignore = NULL;

	if (proxy == NULL || proxy[0] == '\0')
		proxy = g_getenv("HTTPS_PROXY");
	if (no_proxy == NULL || no_proxy[0] == '\0')
		no_proxy = g_getenv("NO_PROXY");
	if (proxy == NULL || proxy[0] == '\0')
		return NULL;
	ignore = no_proxy != NULL ? g_strsplit(no_proxy, ",", -1) : NULL;
	return g_simple_proxy_resolver_new(proxy, ignore);
}

static gboolean
vb_twilio_startup(VbPlugin *plugin, GError **error)
{
	VbTwilio *self = VB_TWILIO(plugin);
	VbContext *context = vb_plugin_get_context(plugin);
	VbMetrics *metrics = vb_context_get_metrics(context);
	VbHttpServer *server = vb_context_get_http_server(context);
	g_autoptr(VbTwilioConfig) config = vb_twilio_config_load(self, error);
	g_autoptr(GProxyResolver) proxy = NULL;

	if (config == NULL)
		return FALSE;
	if (!vb_twilio_prepare_store(self, error)) {
		g_prefix_error(error, "%s", _("cannot prepare the table of sent messages: "));
		return FALSE;
	}
	if (metrics != NULL) {
		vb_metrics_declare(metrics, VB_SMS_PROVIDER_METRIC_WEBHOOKS_REJECTED,
				   VB_METRIC_COUNTER,
				   VB_SMS_PROVIDER_METRIC_WEBHOOKS_REJECTED_HELP);
		vb_metrics_declare(metrics, VB_SMS_PROVIDER_METRIC_REQUESTS, VB_METRIC_COUNTER,
				   VB_SMS_PROVIDER_METRIC_REQUESTS_HELP);
	}
	if (server != NULL)
		self->server = g_object_ref(server);
	self->cancellable = g_cancellable_new();
	proxy = vb_twilio_proxy_resolver();
	self->session =
	    soup_session_new_with_options("user-agent", "vestibule/" PACKAGE_VERSION,
					  "idle-timeout", 60, "proxy-resolver", proxy, NULL);
	vb_twilio_apply(self, g_steal_pointer(&config));
	g_message("sending through %s for account %.6s…", self->config->base_url,
		  self->config->account_sid);
	return TRUE;
}

static void
vb_twilio_stop(VbTwilio *self)
{
	vb_twilio_remove_routes(self);
	if (self->cancellable != NULL)
		g_cancellable_cancel(self->cancellable);
	if (self->session != NULL)
		soup_session_abort(self->session);
	g_clear_object(&self->session);
	g_clear_object(&self->cancellable);
	g_clear_object(&self->server);
}

static void
vb_twilio_shutdown(VbPlugin *plugin)
{
	vb_twilio_stop(VB_TWILIO(plugin));
}

static gboolean
vb_twilio_reload(VbPlugin *plugin, GError **error)
{
	VbTwilio *self = VB_TWILIO(plugin);
	VbTwilioConfig *config = vb_twilio_config_load(self, error);

	if (config == NULL)
		return FALSE;
	if (self->session == NULL) {
		vb_twilio_config_free(config);
		return TRUE;
	}
	vb_twilio_apply(self, config);
	self->auth_alerted = FALSE;
	return TRUE;
}

static void
vb_twilio_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	VbTwilio *self = VB_TWILIO(plugin);
	g_autofree gchar *account = NULL;

	if (self->config != NULL) {
		account = g_strdup_printf("%.6s…", self->config->account_sid);
		g_variant_builder_add(builder, "{sv}", "base-url",
				      g_variant_new_string(self->config->base_url));
		g_variant_builder_add(builder, "{sv}", "account", g_variant_new_string(account));
		g_variant_builder_add(builder, "{sv}", "webhook",
				      g_variant_new_string(self->config->webhook_path));
	}
	g_variant_builder_add(builder, "{sv}", "sent", g_variant_new_uint64(self->sent));
	g_variant_builder_add(builder, "{sv}", "failed", g_variant_new_uint64(self->failed));
	g_variant_builder_add(builder, "{sv}", "received", g_variant_new_uint64(self->received));
	g_variant_builder_add(builder, "{sv}", "found-after-unknown",
			      g_variant_new_uint64(self->adopted));
	g_variant_builder_add(builder, "{sv}", "webhooks-refused",
			      g_variant_new_uint64(self->rejected));
	if (self->last_error != NULL)
		g_variant_builder_add(builder, "{sv}", "last-error",
				      g_variant_new_string(self->last_error));
}

static void
vb_twilio_sms_provider_iface_init(VbSmsProviderInterface *iface)
{
	iface->send_async = vb_twilio_send_async;
	iface->send_finish = vb_twilio_send_finish;
}

static void
vb_twilio_dispose(GObject *object)
{
	vb_twilio_stop(VB_TWILIO(object));
	G_OBJECT_CLASS(vb_twilio_parent_class)->dispose(object);
}

static void
vb_twilio_finalize(GObject *object)
{
	VbTwilio *self = VB_TWILIO(object);

	vb_twilio_config_free(self->config);
	g_hash_table_unref(self->in_flight);
	g_free(self->sql_select);
	g_free(self->sql_insert);
	g_free(self->sql_attempt);
	g_free(self->sql_settle);
	g_free(self->sql_claimed);
	g_free(self->sql_status);
	g_free(self->sql_adopt);
	g_free(self->last_error);
	G_OBJECT_CLASS(vb_twilio_parent_class)->finalize(object);
}

static void
vb_twilio_init(VbTwilio *self)
{
	self->in_flight = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						(GDestroyNotify)g_ptr_array_unref);
}

static void
vb_twilio_class_init(VbTwilioClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);

	object_class->dispose = vb_twilio_dispose;
	object_class->finalize = vb_twilio_finalize;
	plugin_class->startup = vb_twilio_startup;
	plugin_class->shutdown = vb_twilio_shutdown;
	plugin_class->reload = vb_twilio_reload;
	plugin_class->get_status = vb_twilio_get_status;
	vb_plugin_class_add_settings(plugin_class, vb_twilio_settings,
				     G_N_ELEMENTS(vb_twilio_settings));
}

VB_PLUGIN_DEFINE(vb_twilio_get_type)
