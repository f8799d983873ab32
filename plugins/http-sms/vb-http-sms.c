/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <inttypes.h>

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vestibule.h"

#include "vb-http-sms-hook.h"

/*
 * http-sms sends SMS through a self-hosted HTTP gateway: one request per
 * message, built from a template of fields, with a preset for Kannel's
 * /cgi-bin/sendsms. Delivery reports and inbound messages come back to two
 * hooks on the public listener, both guarded by a shared secret.
 *
 * A gateway such as Kannel has no way to ask whether a message went out, so
 * every idempotency key is recorded in the plugin's table before the request
 * leaves, and the row says what is known: `sending` (the request left and
 * its answer was lost: the message may be out), `sent`, `not-sent` (nothing
 * reached the gateway, or it refused) and `abandoned`. A key in `sending` is
 * never sent again by a retry; a delivery report for it settles it as sent.
 * When no report comes within unknown-wait-s, the item fails for good, and
 * only an operator's `vestibulectl outbox retry` (which the core does only on
 * request) sends it again.
 */

#define VB_HTTP_SMS_NAMESPACE "http_sms"
#define VB_HTTP_SMS_HOOK_PREFIX "/hooks/sms/http/"
#define VB_HTTP_SMS_BODY_MAX 1600
#define VB_HTTP_SMS_SECRET_MIN 16
/* rows are kept this long; retries come within hours, reports within days */
#define VB_HTTP_SMS_KEEP_DAYS 30

#define VB_TYPE_HTTP_SMS (vb_http_sms_get_type())
G_DECLARE_FINAL_TYPE(VbHttpSms, vb_http_sms, VB, HTTP_SMS, VbPlugin)

typedef struct {
	gchar *name;
	gchar *value; /* a template with {placeholders} */
} VbHttpSmsField;

/* what an instance's settings say, checked as a whole before use */
typedef struct {
	gboolean kannel;
	gchar *url;
	gchar *method;
	GPtrArray *fields; /* of VbHttpSmsField */
	gchar *auth;
	gchar *username;
	gchar *from;
	gchar *ucs2_charset;
	GRegex *success_regex;
	GRegex *id_regex;
	gint64 dlr_mask;
	gint64 timeout_s;
	gint64 unknown_wait_s;
	gchar *from_field;
	gchar *text_field;
	gchar *id_field;
	GBytes *password;
	GBytes *token;
	GBytes *hook_secret;
} VbHttpSmsConfig;

struct _VbHttpSms {
	VbPlugin parent_instance;
	VbHttpSmsConfig *config;
	SoupSession *session;
	GCancellable *cancellable;
	gchar *hook_dlr;
	gchar *hook_inbound;
	gchar *sql_lookup;
	gchar *sql_by_local;
	gchar *sql_upsert;
	gchar *sql_settle;
	guint64 sent;
	guint64 failed;
	guint64 unknown;
	guint64 received;
	guint64 reports;
	guint64 rejected;
	gchar *last_error;
};

static void
vb_http_sms_sms_provider_iface_init(VbSmsProviderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(VbHttpSms,
			      vb_http_sms,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_SMS_PROVIDER,
						    vb_http_sms_sms_provider_iface_init))

static const VbSettingSpec vb_http_sms_settings[] = {
    {
	.key = "preset",
	.type = VB_SETTING_STRING,
	.default_value = "none",
	.blurb = N_("A ready-made request: kannel for Kannel's /cgi-bin/sendsms, or none to "
		    "describe the request with method and fields"),
    },
    {
	.key = "url",
	.type = VB_SETTING_STRING,
	.default_value = NULL,
	.blurb = N_("The gateway's send URL, such as http://127.0.0.1:13013/cgi-bin/sendsms"),
    },
    {
	.key = "method",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("GET (fields in the query) or POST (fields as a form); empty for the "
		    "preset's, GET for kannel and POST otherwise"),
    },
    {
	.key = "fields",
	.type = VB_SETTING_STRING_LIST,
	.default_value = "",
	.blurb = N_("Request fields as name=template, such as to={to}; they are added to the "
		    "preset's and replace a preset field of the same name"),
    },
    {
	.key = "auth",
	.type = VB_SETTING_STRING,
	.default_value = "none",
	.blurb = N_("none, basic (username and the secret password) or bearer (the secret "
		    "token)"),
    },
    {
	.key = "username",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("The user name for basic auth and for {username} (Kannel's sendsms-user)"),
    },
    {
	.key = "from",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("The sender, a number or a name, for {from}; empty for the gateway's"),
    },
    {
	.key = "ucs2-charset",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("The charset of {text} when the message needs UCS-2; empty for the "
		    "preset's, UTF-16BE for kannel and UTF-8 otherwise"),
    },
    {
	.key = "success-regex",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("A regular expression the body of a 2xx answer must match for the "
		    "message to count as accepted; empty to trust the status"),
    },
    {
	.key = "id-regex",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("A regular expression whose first group, in the answer's body, is the "
		    "gateway's message id; empty to use the plugin's own id"),
    },
    {
	.key = "dlr-mask",
	.type = VB_SETTING_INT,
	.default_value = "31",
	.min = 0,
	.max = 31,
	.blurb = N_("The delivery reports Kannel is asked for (1 delivered, 2 failed, 4 "
		    "queued, 8 sent, 16 rejected); 0 for none"),
    },
    {
	.key = "timeout-s",
	.type = VB_SETTING_INT,
	.default_value = "30",
	.min = 1,
	.max = 300,
	.blurb = N_("How long the gateway may take to answer, in seconds"),
    },
    {
	.key = "unknown-wait-s",
	.type = VB_SETTING_INT,
	.default_value = "600",
	.min = 0,
	.max = 604800,
	.blurb = N_("How long a message whose request went unanswered waits for a delivery "
		    "report before it fails for good, in seconds"),
    },
    {
	.key = "inbound-from-field",
	.type = VB_SETTING_STRING,
	.default_value = "from",
	.blurb = N_("The inbound hook's field with the sender's number"),
    },
    {
	.key = "inbound-text-field",
	.type = VB_SETTING_STRING,
	.default_value = "text",
	.blurb = N_("The inbound hook's field with the text"),
    },
    {
	.key = "inbound-id-field",
	.type = VB_SETTING_STRING,
	.default_value = "id",
	.blurb = N_("The inbound hook's field with the gateway's id of the message, if any"),
    },
};

/* one script per schema version */
static const gchar *const vb_http_sms_migrations[] = {
    "CREATE TABLE @ns@messages ("
    "instance TEXT NOT NULL, "
    "idempotency_key TEXT NOT NULL, "
    "local_id TEXT NOT NULL, "
    "message_id TEXT, "
    "state TEXT NOT NULL, "
    "created INTEGER NOT NULL, "
    "updated INTEGER NOT NULL, "
    "PRIMARY KEY (instance, idempotency_key)); "
    "CREATE INDEX @ns@messages_local ON @ns@messages (instance, local_id); "
    "CREATE INDEX @ns@messages_id ON @ns@messages (instance, message_id)",
    NULL,
};

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */
/* ------------------------------------------------------------------------ */

static void
vb_http_sms_field_free(VbHttpSmsField *field)
{
	g_free(field->name);
	g_free(field->value);
	g_free(field);
}

static void
vb_http_sms_config_free(VbHttpSmsConfig *config)
{
	g_free(config->url);
	g_free(config->method);
	g_clear_pointer(&config->fields, g_ptr_array_unref);
	g_free(config->auth);
	g_free(config->username);
	g_free(config->from);
	g_free(config->ucs2_charset);
	g_clear_pointer(&config->success_regex, g_regex_unref);
	g_clear_pointer(&config->id_regex, g_regex_unref);
	g_free(config->from_field);
	g_free(config->text_field);
	g_free(config->id_field);
	g_clear_pointer(&config->password, g_bytes_unref);
	g_clear_pointer(&config->token, g_bytes_unref);
	g_clear_pointer(&config->hook_secret, g_bytes_unref);
	g_free(config);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbHttpSmsConfig, vb_http_sms_config_free)

static void
vb_http_sms_byte_array_wipe_free(GByteArray *array)
{
	if (array == NULL)
		return;
	explicit_bzero(array->data, array->len);
	g_byte_array_unref(array);
}

/* a string wiped when it goes out of scope */
typedef gchar *VbHttpSmsWiped;
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(VbHttpSmsWiped, vb_secure_free_string, NULL)

static gchar *
vb_http_sms_new_local_id(void)
{
	g_autofree gchar *uuid = g_uuid_string_random();
	GString *str = g_string_new("hs");

	for (const gchar *p = uuid; *p != '\0'; p++) {
		if (*p != '-')
			g_string_append_c(str, *p);
	}
	return g_string_free(str, FALSE);
}

/* the fields of the body, for a form POST, then of the query */
static GPtrArray *
vb_http_sms_request_params(SoupServerMessage *msg, GError **error)
{
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	const gchar *type = soup_message_headers_get_content_type(
	    soup_server_message_get_request_headers(msg), NULL);
	gboolean post = g_strcmp0(soup_server_message_get_method(msg), SOUP_METHOD_POST) == 0;

	return vb_http_sms_hook_params(post, type, post ? body->data : NULL,
				       post ? (gsize)body->length : 0,
				       g_uri_get_query(soup_server_message_get_uri(msg)), error);
}

static VbStore *
vb_http_sms_get_store(VbHttpSms *self)
{
	return vb_context_get_store(vb_plugin_get_context(VB_PLUGIN(self)));
}

static void
vb_http_sms_set_error(VbHttpSms *self, const gchar *message)
{
	g_free(self->last_error);
	self->last_error = g_strdup(message);
}

/* ------------------------------------------------------------------------ */
/* settings                                                                  */
/* ------------------------------------------------------------------------ */

static GBytes *
vb_http_sms_optional_secret(VbPlugin *plugin, const gchar *key, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	GBytes *secret = vb_plugin_get_secret(plugin, key, &error_local);

	if (secret == NULL && !g_error_matches(error_local, VB_ERROR, VB_ERROR_NOT_FOUND))
		g_propagate_error(error, g_steal_pointer(&error_local));
	return secret;
}

static GRegex *
vb_http_sms_regex(VbPlugin *plugin, const gchar *key, gboolean group, GError **error)
{
	const gchar *value = vb_plugin_get_string(plugin, key);
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GRegex) regex = NULL;

	if (value == NULL || value[0] == '\0')
		return NULL;
	regex = g_regex_new(value, G_REGEX_DEFAULT, G_REGEX_MATCH_DEFAULT, &error_local);
	if (regex == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("%s in [instance:%s] is not a valid regular expression: %s"), key,
			    vb_plugin_get_name(plugin), error_local->message);
		return NULL;
	}
	if (group && g_regex_get_capture_count(regex) < 1) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("%s in [instance:%s] needs a group, in parentheses, around the id"),
			    key, vb_plugin_get_name(plugin));
		return NULL;
	}
	return g_steal_pointer(&regex);
}

static void
vb_http_sms_add_field(GPtrArray *fields, const gchar *name, const gchar *value)
{
	VbHttpSmsField *field;

	for (guint i = 0; i < fields->len; i++) {
		field = g_ptr_array_index(fields, i);
		if (g_strcmp0(field->name, name) == 0) {
			g_free(field->value);
			field->value = g_strdup(value);
			return;
		}
	}
	field = g_new0(VbHttpSmsField, 1);
	field->name = g_strdup(name);
	field->value = g_strdup(value);
	g_ptr_array_add(fields, field);
}

static const gchar *const vb_http_sms_placeholders[] = {
    "to",      "to-digits", "text", "from",	"coding",   "charset",
    "dlr-url", "dlr-mask",  "id",   "username", "password", "token",
};

static gboolean
vb_http_sms_template_is_valid(const gchar *template_, gchar **bad)
{
	const gchar *p = template_;

	while ((p = strchr(p, '{')) != NULL) {
		const gchar *close = strchr(p, '}');
		gboolean known = FALSE;
		if (close == NULL) {
			*bad = g_strdup(p);
			return FALSE;
		}
		for (guint i = 0; i < G_N_ELEMENTS(vb_http_sms_placeholders); i++) {
			gsize n = strlen(vb_http_sms_placeholders[i]);
			if ((gsize)(close - p - 1) == n &&
			    strncmp(p + 1, vb_http_sms_placeholders[i], n) == 0)
				known = TRUE;
		}
		if (!known) {
			*bad = g_strndup(p, (gsize)(close - p + 1));
			return FALSE;
		}
		p = close + 1;
	}
	return TRUE;
}

static VbHttpSmsConfig *
vb_http_sms_read_config(VbHttpSms *self, GError **error)
{
	VbPlugin *plugin = VB_PLUGIN(self);
	const gchar *name = vb_plugin_get_name(plugin);
	const gchar *preset = vb_plugin_get_string(plugin, "preset");
	const gchar *method = vb_plugin_get_string(plugin, "method");
	const gchar *charset = vb_plugin_get_string(plugin, "ucs2-charset");
	const gchar *const *fields = vb_plugin_get_string_list(plugin, "fields");
	g_autoptr(VbHttpSmsConfig) config = g_new0(VbHttpSmsConfig, 1);
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GError) error_local = NULL;

	if (g_strcmp0(preset, "kannel") == 0) {
		config->kannel = TRUE;
	} else if (g_strcmp0(preset, "none") != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("preset in [instance:%s] must be kannel or none, not '%s'"), name,
			    preset);
		return NULL;
	}
	config->url = g_strdup(vb_plugin_get_string(plugin, "url"));
	uri = g_uri_parse(config->url, SOUP_HTTP_URI_FLAGS, &error_local);
	if (uri == NULL ||
	    (g_strcmp0(g_uri_get_scheme(uri), "http") != 0 &&
	     g_strcmp0(g_uri_get_scheme(uri), "https") != 0) ||
	    g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0') {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("url in [instance:%s] must be an http or https URL, such as "
			      "http://127.0.0.1:13013/cgi-bin/sendsms"),
			    name);
		return NULL;
	}
	if (method == NULL || method[0] == '\0')
		method = config->kannel ? "GET" : "POST";
	if (g_ascii_strcasecmp(method, "GET") != 0 && g_ascii_strcasecmp(method, "POST") != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("method in [instance:%s] must be GET or POST"), name);
		return NULL;
	}
	config->method = g_ascii_strup(method, -1);
	if (charset == NULL || charset[0] == '\0')
		charset = config->kannel ? "UTF-16BE" : "UTF-8";
	{
		/* a charset iconv does not know would fail every UCS-2 message */
		g_autofree gchar *probe = g_convert("a", 1, charset, "UTF-8", NULL, NULL, NULL);
		if (probe == NULL) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
				    _("ucs2-charset in [instance:%s] is not a charset this system "
				      "knows: use UTF-16BE or UTF-8"),
				    name);
			return NULL;
		}
	}
	config->ucs2_charset = g_strdup(charset);
	config->auth = g_strdup(vb_plugin_get_string(plugin, "auth"));
	if (g_strcmp0(config->auth, "none") != 0 && g_strcmp0(config->auth, "basic") != 0 &&
	    g_strcmp0(config->auth, "bearer") != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("auth in [instance:%s] must be none, basic or bearer"), name);
		return NULL;
	}
	config->username = g_strdup(vb_plugin_get_string(plugin, "username"));
	config->from = g_strdup(vb_plugin_get_string(plugin, "from"));
	config->dlr_mask = vb_plugin_get_int(plugin, "dlr-mask");
	config->timeout_s = vb_plugin_get_int(plugin, "timeout-s");
	config->unknown_wait_s = vb_plugin_get_int(plugin, "unknown-wait-s");
	config->from_field = g_strdup(vb_plugin_get_string(plugin, "inbound-from-field"));
	config->text_field = g_strdup(vb_plugin_get_string(plugin, "inbound-text-field"));
	config->id_field = g_strdup(vb_plugin_get_string(plugin, "inbound-id-field"));
	if (config->from_field[0] == '\0' || config->text_field[0] == '\0') {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("inbound-from-field and inbound-text-field in [instance:%s] must "
			      "not be empty"),
			    name);
		return NULL;
	}
	config->success_regex = vb_http_sms_regex(plugin, "success-regex", FALSE, error);
	if (config->success_regex == NULL && error != NULL && *error != NULL)
		return NULL;
	config->id_regex = vb_http_sms_regex(plugin, "id-regex", TRUE, error);
	if (config->id_regex == NULL && error != NULL && *error != NULL)
		return NULL;

	/* the request's fields: the preset's, then the configured ones */
	config->fields = g_ptr_array_new_with_free_func((GDestroyNotify)vb_http_sms_field_free);
	if (config->kannel) {
		vb_http_sms_add_field(config->fields, "username", "{username}");
		vb_http_sms_add_field(config->fields, "password", "{password}");
		if (config->from[0] != '\0')
			vb_http_sms_add_field(config->fields, "from", "{from}");
		vb_http_sms_add_field(config->fields, "to", "{to}");
		vb_http_sms_add_field(config->fields, "text", "{text}");
		vb_http_sms_add_field(config->fields, "coding", "{coding}");
		vb_http_sms_add_field(config->fields, "charset", "{charset}");
		if (config->dlr_mask > 0) {
			vb_http_sms_add_field(config->fields, "dlr-mask", "{dlr-mask}");
			vb_http_sms_add_field(config->fields, "dlr-url", "{dlr-url}");
		}
	}
	for (guint i = 0; fields != NULL && fields[i] != NULL; i++) {
		g_auto(GStrv) kv = g_strsplit(fields[i], "=", 2);
		g_autofree gchar *bad = NULL;
		if (kv[0] == NULL || kv[1] == NULL || kv[0][0] == '\0') {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
				    _("fields in [instance:%s]: '%s' is not name=template, such as "
				      "to={to}"),
				    name, fields[i]);
			return NULL;
		}
		if (!vb_http_sms_template_is_valid(kv[1], &bad)) {
			g_set_error(
			    error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("fields in [instance:%s]: %s is not a placeholder; use {to}, "
			      "{to-digits}, {text}, {from}, {coding}, {charset}, {dlr-url}, "
			      "{dlr-mask}, {id}, {username}, {password} or {token}"),
			    name, bad);
			return NULL;
		}
		vb_http_sms_add_field(config->fields, kv[0], kv[1]);
	}
	if (config->fields->len == 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("[instance:%s] sends no fields: set preset=kannel, or fields such as "
			      "to={to};text={text}"),
			    name);
		return NULL;
	}

	/* secrets: never in the main config, never in a message */
	config->hook_secret = vb_http_sms_optional_secret(plugin, "hook-secret", error);
	if (config->hook_secret == NULL && error != NULL && *error != NULL)
		return NULL;
	if (config->hook_secret == NULL ||
	    g_bytes_get_size(config->hook_secret) < VB_HTTP_SMS_SECRET_MIN) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("[instance:%s] of the secrets file needs hook-secret, at least %u "
			      "characters, which guards the delivery report and inbound hooks; "
			      "generate one with 'openssl rand -hex 16'"),
			    name, (guint)VB_HTTP_SMS_SECRET_MIN);
		return NULL;
	}
	config->password = vb_http_sms_optional_secret(plugin, "password", error);
	if (config->password == NULL && error != NULL && *error != NULL)
		return NULL;
	config->token = vb_http_sms_optional_secret(plugin, "token", error);
	if (config->token == NULL && error != NULL && *error != NULL)
		return NULL;
	if (g_strcmp0(config->auth, "basic") == 0 &&
	    (config->username[0] == '\0' || config->password == NULL)) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("auth=basic in [instance:%s] needs username, and password in the "
			      "instance's section of the secrets file"),
			    name);
		return NULL;
	}
	if (g_strcmp0(config->auth, "bearer") == 0 && config->token == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("auth=bearer in [instance:%s] needs token in the instance's section "
			      "of the secrets file"),
			    name);
		return NULL;
	}
	if (config->kannel && (config->username[0] == '\0' || config->password == NULL)) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("preset=kannel in [instance:%s] needs username (the sendsms-user), "
			      "and password in the instance's section of the secrets file"),
			    name);
		return NULL;
	}
	return g_steal_pointer(&config);
}

/* ------------------------------------------------------------------------ */
/* the idempotency table                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
	gchar *local_id;
	gchar *message_id;
	gchar *state;
	gint64 updated;
} VbHttpSmsRow;

static void
vb_http_sms_row_clear(VbHttpSmsRow *row)
{
	g_clear_pointer(&row->local_id, g_free);
	g_clear_pointer(&row->message_id, g_free);
	g_clear_pointer(&row->state, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VbHttpSmsRow, vb_http_sms_row_clear)

/* FALSE on error; row->state stays NULL when the key is new */
static gboolean
vb_http_sms_lookup(VbHttpSms *self, const gchar *key, VbHttpSmsRow *row, GError **error)
{
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(vb_http_sms_get_store(self), self->sql_lookup, error);
	VbStoreStep step;

	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_plugin_get_name(VB_PLUGIN(self)));
	vb_store_stmt_bind_text(stmt, 2, key);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return FALSE;
	if (step == VB_STORE_STEP_ROW) {
		row->local_id = g_strdup(vb_store_stmt_column_text(stmt, 0));
		row->message_id = g_strdup(vb_store_stmt_column_text(stmt, 1));
		row->state = g_strdup(vb_store_stmt_column_text(stmt, 2));
		row->updated = vb_store_stmt_column_int64(stmt, 3);
	}
	return TRUE;
}

static gboolean
vb_http_sms_upsert(VbHttpSms *self,
		   const gchar *key,
		   const gchar *local_id,
		   const gchar *state,
		   GError **error)
{
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(vb_http_sms_get_store(self), self->sql_upsert, error);

	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_plugin_get_name(VB_PLUGIN(self)));
	vb_store_stmt_bind_text(stmt, 2, key);
	vb_store_stmt_bind_text(stmt, 3, local_id);
	vb_store_stmt_bind_text(stmt, 4, state);
	vb_store_stmt_bind_int64(stmt, 5, g_get_real_time());
	return vb_store_stmt_exec(stmt, error);
}

/* records the outcome of the attempt @local_id; a later attempt owns the row */
static void
vb_http_sms_settle(VbHttpSms *self,
		   const gchar *local_id,
		   const gchar *state,
		   const gchar *message_id)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(vb_http_sms_get_store(self), self->sql_settle, &error);

	if (stmt != NULL) {
		vb_store_stmt_bind_text(stmt, 1, vb_plugin_get_name(VB_PLUGIN(self)));
		vb_store_stmt_bind_text(stmt, 2, local_id);
		vb_store_stmt_bind_text(stmt, 3, state);
		if (message_id != NULL)
			vb_store_stmt_bind_text(stmt, 4, message_id);
		else
			vb_store_stmt_bind_null(stmt, 4);
		vb_store_stmt_bind_int64(stmt, 5, g_get_real_time());
	}
	/* a row left in `sending` is safe: the key is not sent again */
	if (stmt == NULL || !vb_store_stmt_exec(stmt, &error))
		g_warning("cannot record the outcome of message %s: %s", local_id, error->message);
}

/* ------------------------------------------------------------------------ */
/* sending                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
	gchar *key;
	gchar *local_id;
	gchar *origin;
	SoupMessage *msg;
	gboolean wrote;
} VbHttpSmsCall;

static void
vb_http_sms_call_free(VbHttpSmsCall *call)
{
	g_free(call->key);
	g_free(call->local_id);
	g_free(call->origin);
	g_clear_object(&call->msg);
	g_free(call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbHttpSmsCall, vb_http_sms_call_free)

/* the value of a placeholder, as the bytes that go on the wire */
static void
vb_http_sms_render_value(VbHttpSms *self,
			 const gchar *name,
			 gsize name_len,
			 const VbSmsMessage *message,
			 const guint8 *text,
			 gsize text_len,
			 VbSmsEncoding encoding,
			 const gchar *local_id,
			 GByteArray *out)
{
	VbHttpSmsConfig *config = self->config;
	g_autofree gchar *owned = NULL;
	const gchar *value = NULL;
	GBytes *secret = NULL;

#define IS(s) (name_len == strlen(s) && strncmp(name, s, name_len) == 0)
	if (IS("to")) {
		value = message->to;
	} else if (IS("to-digits")) {
		value = message->to[0] == '+' ? message->to + 1 : message->to;
	} else if (IS("text")) {
		g_byte_array_append(out, text, (guint)text_len);
		return;
	} else if (IS("from")) {
		value = config->from;
	} else if (IS("coding")) {
		value = encoding == VB_SMS_ENCODING_UCS2 ? "2" : "0";
	} else if (IS("charset")) {
		value = encoding == VB_SMS_ENCODING_UCS2 ? config->ucs2_charset : "UTF-8";
	} else if (IS("dlr-mask")) {
		value = owned = g_strdup_printf("%" G_GINT64_FORMAT, config->dlr_mask);
	} else if (IS("dlr-url")) {
		const gchar *base = vb_http_server_get_public_url(
		    vb_context_get_http_server(vb_plugin_get_context(VB_PLUGIN(self))));
		g_autoptr(GString) url = g_string_new(base != NULL ? base : "");
		gsize n = 0;
		const guint8 *data = g_bytes_get_data(config->hook_secret, &n);
		gchar *escaped;
		/* Kannel puts the report's type where %d is */
		g_string_append_printf(url, "%s?id=%s&status=%%d&secret=", self->hook_dlr,
				       local_id);
		escaped = g_uri_escape_bytes(data, n, NULL);
		g_string_append(url, escaped);
		vb_secure_free_string(escaped);
		g_byte_array_append(out, (const guint8 *)url->str, (guint)url->len);
		explicit_bzero(url->str, url->len);
		return;
	} else if (IS("id")) {
		value = local_id;
	} else if (IS("username")) {
		value = config->username;
	} else if (IS("password")) {
		secret = config->password;
	} else if (IS("token")) {
		secret = config->token;
	}
#undef IS
	if (secret != NULL) {
		gsize n = 0;
		const guint8 *data = g_bytes_get_data(secret, &n);
		g_byte_array_append(out, data, (guint)n);
		return;
	}
	if (value != NULL)
		g_byte_array_append(out, (const guint8 *)value, (guint)strlen(value));
}

/* the fields, form-encoded: "a=1&b=2" */
static GString *
vb_http_sms_render_fields(VbHttpSms *self,
			  const VbSmsMessage *message,
			  const guint8 *text,
			  gsize text_len,
			  VbSmsEncoding encoding,
			  const gchar *local_id)
{
	GString *out = g_string_new(NULL);

	for (guint i = 0; i < self->config->fields->len; i++) {
		VbHttpSmsField *field = g_ptr_array_index(self->config->fields, i);
		GByteArray *value = g_byte_array_new();
		const gchar *p = field->value;

		while (*p != '\0') {
			const gchar *open = strchr(p, '{');
			const gchar *close = open != NULL ? strchr(open, '}') : NULL;
			if (open == NULL || close == NULL) {
				g_byte_array_append(value, (const guint8 *)p, (guint)strlen(p));
				break;
			}
			g_byte_array_append(value, (const guint8 *)p, (guint)(open - p));
			vb_http_sms_render_value(self, open + 1, (gsize)(close - open - 1), message,
						 text, text_len, encoding, local_id, value);
			p = close + 1;
		}
		vb_secure_form_append(out, field->name, value->data, (gssize)value->len);
		vb_http_sms_byte_array_wipe_free(value);
	}
	return out;
}

static void
vb_http_sms_wrote_headers_cb(SoupMessage *msg, gpointer user_data)
{
	VbHttpSmsCall *call = user_data;

	/* from here on the gateway may act on the request */
	call->wrote = TRUE;
}

/* the first line of a gateway's answer, short and redacted, for an error */
static gchar *
vb_http_sms_body_excerpt(GBytes *body)
{
	gsize len = 0;
	const gchar *data = body != NULL ? g_bytes_get_data(body, &len) : NULL;
	g_autofree gchar *line = NULL;
	gchar *nl;

	if (data == NULL || len == 0)
		return g_strdup("");
	line = g_strndup(data, MIN(len, 120));
	nl = strpbrk(line, "\r\n");
	if (nl != NULL)
		*nl = '\0';
	if (!g_utf8_validate(line, -1, NULL))
		return g_strdup("");
	return vb_redact_text(line);
}

static guint
vb_http_sms_retry_after_ms(SoupMessage *msg)
{
	return vb_http_parse_retry_after(
	    soup_message_headers_get_one(soup_message_get_response_headers(msg), "Retry-After"));
}

/* one request to the gateway, or what came of it, in the metric that every SMS
 * provider counts in */
static void
vb_http_sms_count(VbHttpSms *self, const gchar *outcome)
{
	VbMetrics *metrics = vb_context_get_metrics(vb_plugin_get_context(VB_PLUGIN(self)));
	g_autofree gchar *labels = NULL;

	if (metrics == NULL)
		return;
	labels =
	    vb_metrics_labels("provider", vb_plugin_get_module_name(VB_PLUGIN(self)), "instance",
			      vb_plugin_get_name(VB_PLUGIN(self)), "outcome", outcome, NULL);
	vb_metrics_add(metrics, VB_SMS_PROVIDER_METRIC_REQUESTS, labels, 1);
}

static void
vb_http_sms_sent_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	VbHttpSms *self = VB_HTTP_SMS(g_task_get_source_object(task));
	VbHttpSmsCall *call = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autofree gchar *excerpt = NULL;
	g_autofree gchar *message_id = NULL;
	guint status;

	body = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);
	g_signal_handlers_disconnect_by_data(call->msg, call);
	if (body == NULL) {
		if (!call->wrote) {
			g_autofree gchar *msg =
			    g_strdup_printf(_("cannot reach the SMS gateway at %s: %s; nothing was "
					      "sent"),
					    call->origin, error->message);
			if (self->config != NULL)
				vb_http_sms_settle(self, call->local_id, "not-sent", NULL);
			vb_http_sms_set_error(self, msg);
			self->failed++;
			vb_http_sms_count(self, "unreachable");
			g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE, "%s", msg);
			return;
		}
		/* the row stays in `sending`: the message may be out */
		{
			g_autofree gchar *msg = g_strdup_printf(
			    _("the SMS gateway at %s did not answer (%s); the message may have "
			      "been sent, and is not sent again unless a delivery report says "
			      "otherwise"),
			    call->origin, error->message);
			g_message("message %s: outcome unknown: %s", call->local_id,
				  error->message);
			vb_http_sms_set_error(self, msg);
			self->unknown++;
			vb_http_sms_count(self, "unknown");
			g_task_return_new_error(task, VB_ERROR, VB_ERROR_TIMED_OUT, "%s", msg);
		}
		return;
	}

	status = soup_message_get_status(call->msg);
	excerpt = vb_http_sms_body_excerpt(body);
	if (status >= 200 && status < 300) {
		gsize len = 0;
		const gchar *data = g_bytes_get_data(body, &len);
		g_autofree gchar *text = g_strndup(data, len);

		if (self->config->success_regex != NULL &&
		    !g_regex_match(self->config->success_regex, text, 0, NULL)) {
			g_autofree gchar *msg = g_strdup_printf(
			    _("the SMS gateway refused the message (HTTP %u, %s); check "
			      "success-regex and the gateway's log"),
			    status, excerpt);
			vb_http_sms_settle(self, call->local_id, "not-sent", NULL);
			vb_http_sms_set_error(self, msg);
			self->failed++;
			vb_http_sms_count(self, "refused");
			g_task_return_new_error(task, VB_ERROR, VB_ERROR_DECLINED, "%s", msg);
			return;
		}
		if (self->config->id_regex != NULL) {
			g_autoptr(GMatchInfo) match = NULL;
			if (g_regex_match(self->config->id_regex, text, 0, &match))
				message_id = g_match_info_fetch(match, 1);
			if (message_id != NULL && message_id[0] == '\0')
				g_clear_pointer(&message_id, g_free);
			if (message_id == NULL)
				g_warning("the SMS gateway's answer has no id that id-regex finds; "
					  "using the plugin's id %s",
					  call->local_id);
		}
		if (message_id == NULL)
			message_id = g_strdup(call->local_id);
		vb_http_sms_settle(self, call->local_id, "sent", message_id);
		g_message("SMS %s accepted by the gateway (HTTP %u)", message_id, status);
		self->sent++;
		vb_http_sms_count(self, "sent");
		g_task_return_pointer(task, g_steal_pointer(&message_id), g_free);
		return;
	}

	if (status == 429) {
		vb_http_sms_settle(self, call->local_id, "not-sent", NULL);
		vb_sms_provider_task_set_retry_after(task, vb_http_sms_retry_after_ms(call->msg));
		self->failed++;
		vb_http_sms_count(self, "rate-limited");
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_RATE_LIMITED,
					_("the SMS gateway asks to slow down (HTTP 429)"));
		return;
	}
	/* Kannel answers 500 or 503 when it could not queue the message */
	if (status == 500 || status == 503) {
		g_autofree gchar *msg = g_strdup_printf(
		    _("the SMS gateway could not take the message (HTTP %u, %s); nothing was "
		      "sent"),
		    status, excerpt);
		vb_http_sms_settle(self, call->local_id, "not-sent", NULL);
		vb_http_sms_set_error(self, msg);
		self->failed++;
		vb_http_sms_count(self, "unreachable");
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE, "%s", msg);
		return;
	}
	if (status >= 500) {
		/* a proxy in front of the gateway lost the answer: the outcome is unknown */
		g_autofree gchar *msg =
		    g_strdup_printf(_("the SMS gateway answered HTTP %u; the message may have been "
				      "sent, and is not sent again unless a delivery report says "
				      "otherwise"),
				    status);
		vb_http_sms_set_error(self, msg);
		self->unknown++;
		vb_http_sms_count(self, "unknown");
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_TIMED_OUT, "%s", msg);
		return;
	}
	vb_http_sms_settle(self, call->local_id, "not-sent", NULL);
	self->failed++;
	vb_http_sms_count(self, "refused");
	if (status == 401 || status == 403) {
		g_autofree gchar *msg = g_strdup_printf(
		    _("the SMS gateway refused our credentials (HTTP %u, %s): check username "
		      "and the password or token in the secrets file"),
		    status, excerpt);
		vb_http_sms_set_error(self, msg);
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_PERMISSION_DENIED, "%s", msg);
		return;
	}
	if (status >= 300 && status < 400) {
		g_autofree gchar *msg = g_strdup_printf(
		    _("the SMS gateway answered HTTP %u, a redirect, which is not followed: set "
		      "url to the final URL"),
		    status);
		vb_http_sms_set_error(self, msg);
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_INVALID_CONFIG, "%s", msg);
		return;
	}
	{
		g_autofree gchar *msg = g_strdup_printf(
		    _("the SMS gateway refused the message (HTTP %u, %s)"), status, excerpt);
		vb_http_sms_set_error(self, msg);
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_DECLINED, "%s", msg);
	}
}

/* "http://host:port" of the gateway: names it without the path or query */
static gchar *
vb_http_sms_origin(GUri *uri)
{
	if (g_uri_get_port(uri) > 0)
		return g_strdup_printf("%s://%s:%d", g_uri_get_scheme(uri), g_uri_get_host(uri),
				       g_uri_get_port(uri));
	return g_strdup_printf("%s://%s", g_uri_get_scheme(uri), g_uri_get_host(uri));
}

static SoupMessage *
vb_http_sms_build_request(VbHttpSms *self,
			  const VbSmsMessage *message,
			  const gchar *local_id,
			  GError **error)
{
	VbHttpSmsConfig *config = self->config;
	VbSmsEncoding encoding = vb_sms_text_get_encoding(message->body, NULL, NULL);
	g_autofree gchar *converted = NULL;
	const guint8 *text = (const guint8 *)message->body;
	gsize text_len = strlen(message->body);
	g_autoptr(GString) form = NULL;
	g_autoptr(GUri) base = NULL;
	g_autoptr(GUri) uri = NULL;
	SoupMessage *msg;

	if (encoding == VB_SMS_ENCODING_UCS2 && g_ascii_strcasecmp(config->ucs2_charset, "UTF-8")) {
		gsize written = 0;
		converted = g_convert(message->body, -1, config->ucs2_charset, "UTF-8", NULL,
				      &written, error);
		if (converted == NULL) {
			g_prefix_error(error, _("cannot convert the text to %s: "),
				       config->ucs2_charset);
			return NULL;
		}
		text = (const guint8 *)converted;
		text_len = written;
	}
	form = vb_http_sms_render_fields(self, message, text, text_len, encoding, local_id);
	if (converted != NULL)
		explicit_bzero(converted, text_len);

	base = g_uri_parse(config->url, SOUP_HTTP_URI_FLAGS, error);
	if (base == NULL)
		return NULL;
	if (g_strcmp0(config->method, "GET") == 0) {
		g_autoptr(GString) query = g_string_new(g_uri_get_query(base));
		if (query->len > 0)
			g_string_append_c(query, '&');
		g_string_append_len(query, form->str, (gssize)form->len);
		uri = soup_uri_copy(base, SOUP_URI_QUERY, query->str, SOUP_URI_NONE);
		explicit_bzero(query->str, query->len);
		msg = soup_message_new_from_uri(SOUP_METHOD_GET, uri);
	} else {
		g_autoptr(GBytes) bytes = g_bytes_new(form->str, form->len);
		msg = soup_message_new_from_uri(SOUP_METHOD_POST, base);
		soup_message_set_request_body_from_bytes(msg, "application/x-www-form-urlencoded",
							 bytes);
	}
	explicit_bzero(form->str, form->len);
	/* a redirect could take the password elsewhere */
	soup_message_add_flags(msg, SOUP_MESSAGE_NO_REDIRECT);
	if (g_strcmp0(config->auth, "basic") == 0) {
		gchar *header = vb_secure_format_basic_auth(config->username, config->password);
		soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
					     header);
		vb_secure_free_string(header);
	} else if (g_strcmp0(config->auth, "bearer") == 0) {
		gsize n = 0;
		const gchar *token = g_bytes_get_data(config->token, &n);
		g_autofree gchar *header = g_strdup_printf("Bearer %.*s", (gint)n, token);
		soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
					     header);
		explicit_bzero(header, strlen(header));
	}
	return msg;
}

static gboolean
vb_http_sms_message_is_valid(const VbSmsMessage *message, GError **error)
{
	const gchar *p;

	if (message->to == NULL || message->to[0] != '+' || strlen(message->to) < 9 ||
	    strlen(message->to) > 16) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the recipient is not an E.164 number"));
		return FALSE;
	}
	for (p = message->to + 1; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p)) {
			g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
					    _("the recipient is not an E.164 number"));
			return FALSE;
		}
	}
	if (message->body == NULL || message->body[0] == '\0' ||
	    !g_utf8_validate(message->body, -1, NULL)) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the message has no text, or text that is not UTF-8"));
		return FALSE;
	}
	if (strlen(message->body) > VB_HTTP_SMS_BODY_MAX) {
		g_set_error(error, VB_ERROR, VB_ERROR_TOO_LARGE,
			    _("the message text is longer than %u bytes"),
			    (guint)VB_HTTP_SMS_BODY_MAX);
		return FALSE;
	}
	return TRUE;
}

static void
vb_http_sms_send_async(VbSmsProvider *provider,
		       const VbSmsMessage *message,
		       GCancellable *cancellable,
		       GAsyncReadyCallback callback,
		       gpointer user_data)
{
	VbHttpSms *self = VB_HTTP_SMS(provider);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(GError) error = NULL;
	g_auto(VbHttpSmsRow) row = {NULL};
	g_autoptr(VbHttpSmsCall) call = NULL;
	g_autofree gchar *generated_key = NULL;
	g_autoptr(GUri) uri = NULL;
	const gchar *key = message->idempotency_key;

	g_task_set_source_tag(task, vb_http_sms_send_async);
	if (self->config == NULL || self->session == NULL) {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE,
					_("the SMS provider %s is not running"),
					vb_plugin_get_name(VB_PLUGIN(self)));
		return;
	}
	if (!vb_http_sms_message_is_valid(message, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (key == NULL || key[0] == '\0')
		key = generated_key = g_uuid_string_random();

	/* what an earlier attempt with this key did */
	if (!vb_http_sms_lookup(self, key, &row, &error)) {
		g_prefix_error(&error, "%s", _("cannot read the plugin's table: "));
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE, "%s", error->message);
		return;
	}
	if (g_strcmp0(row.state, "sent") == 0) {
		g_debug("message %s was already sent; not sending it again", row.message_id);
		g_task_return_pointer(task, g_strdup(row.message_id), g_free);
		return;
	}
	if (g_strcmp0(row.state, "sending") == 0) {
		gint64 age_s = (g_get_real_time() - row.updated) / G_USEC_PER_SEC;
		if (age_s < self->config->unknown_wait_s) {
			g_task_return_new_error(
			    task, VB_ERROR, VB_ERROR_TIMED_OUT,
			    _("the outcome of message %s is unknown; it is not sent again while "
			      "a delivery report may still come"),
			    row.local_id);
			return;
		}
		vb_http_sms_settle(self, row.local_id, "abandoned", NULL);
		g_task_return_new_error(
		    task, VB_ERROR, VB_ERROR_FAILED,
		    _("the outcome of message %s stayed unknown for %" PRId64
		      " s with no delivery report; it is not sent again so that nobody gets it "
		      "twice. If it did not arrive, retry it with vestibulectl outbox retry"),
		    row.local_id, self->config->unknown_wait_s);
		return;
	}

	/* new, nothing sent before, or abandoned and retried by the operator */
	call = g_new0(VbHttpSmsCall, 1);
	call->key = g_strdup(key);
	call->local_id = vb_http_sms_new_local_id();
	call->msg = vb_http_sms_build_request(self, message, call->local_id, &error);
	if (call->msg == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	uri = g_uri_parse(self->config->url, SOUP_HTTP_URI_FLAGS, NULL);
	call->origin = vb_http_sms_origin(uri);
	if (!vb_http_sms_upsert(self, key, call->local_id, "sending", &error)) {
		g_prefix_error(&error, "%s", _("cannot record the message before sending it: "));
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE, "%s", error->message);
		return;
	}
	{
		g_autofree gchar *masked = vb_mask_phone(message->to);
		g_debug("sending message %s to %s through %s", call->local_id, masked,
			call->origin);
	}
	g_signal_connect(call->msg, "wrote-headers", G_CALLBACK(vb_http_sms_wrote_headers_cb),
			 call);
	vb_http_sms_count(self, "attempt");
	soup_session_send_and_read_async(self->session, call->msg, G_PRIORITY_DEFAULT,
					 self->cancellable, vb_http_sms_sent_cb,
					 g_object_ref(task));
	g_task_set_task_data(task, g_steal_pointer(&call), (GDestroyNotify)vb_http_sms_call_free);
}

static gchar *
vb_http_sms_send_finish(VbSmsProvider *provider, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, provider), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* ------------------------------------------------------------------------ */
/* the hooks                                                                 */
/* ------------------------------------------------------------------------ */

static void
vb_http_sms_reply_text(SoupServerMessage *msg, guint status, const gchar *text)
{
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, text,
					 strlen(text));
}

static void
vb_http_sms_reject(VbHttpSms *self, SoupServerMessage *msg, const gchar *hook, const gchar *reason)
{
	g_autofree gchar *labels = vb_metrics_labels(
	    "provider", vb_plugin_get_module_name(VB_PLUGIN(self)), "instance",
	    vb_plugin_get_name(VB_PLUGIN(self)), "hook", hook, "reason", reason, NULL);

	vb_metrics_add(vb_context_get_metrics(vb_plugin_get_context(VB_PLUGIN(self))),
		       VB_SMS_PROVIDER_METRIC_WEBHOOKS_REJECTED, labels, 1);
	self->rejected++;
	g_message("refused a request to the %s hook: the shared secret is missing or wrong", hook);
	vb_http_reply_error(msg, SOUP_STATUS_FORBIDDEN, vb_error_to_code(VB_ERROR_UNAUTHORIZED),
			    "%s",
			    _("the shared secret is missing or wrong: send the instance's "
			      "hook-secret as the secret field or the X-Vestibule-Secret header"));
}

/* the params of a hook request whose secret is right, or NULL once answered */
static GPtrArray *
vb_http_sms_hook_begin(VbHttpSms *self, SoupServerMessage *msg, const gchar *hook)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) params = NULL;
	const gchar *header;
	const VbSecureFormField *given;
	gsize secret_len = 0;
	const guint8 *secret;
	gboolean ok = FALSE;

	if (self->config == NULL) {
		vb_http_reply_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
				    vb_error_to_code(VB_ERROR_UNREACHABLE), "%s",
				    _("the SMS provider is not running"));
		return NULL;
	}
	if (g_strcmp0(soup_server_message_get_method(msg), SOUP_METHOD_GET) != 0 &&
	    g_strcmp0(soup_server_message_get_method(msg), SOUP_METHOD_POST) != 0) {
		vb_http_reply_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
				    vb_error_to_code(VB_ERROR_NOT_SUPPORTED), "%s",
				    _("use GET or POST"));
		return NULL;
	}
	secret = g_bytes_get_data(self->config->hook_secret, &secret_len);
	params = vb_http_sms_request_params(msg, &error);
	/* the secret is checked first: a stranger learns nothing about the input */
	header = soup_message_headers_get_one(soup_server_message_get_request_headers(msg),
					      "X-Vestibule-Secret");
	given = params != NULL ? vb_secure_form_lookup(params, "secret") : NULL;
	if (header != NULL)
		ok = vb_secure_equal(secret, secret_len, header, strlen(header));
	else if (given != NULL)
		ok = vb_secure_equal(secret, secret_len, given->value, given->value_len);
	if (!ok) {
		vb_http_sms_reject(self, msg, hook,
				   header == NULL && given == NULL ? "no secret" : "bad secret");
		return NULL;
	}
	if (params == NULL) {
		vb_http_reply_gerror(msg, error);
		return NULL;
	}
	return g_steal_pointer(&params);
}

static void
vb_http_sms_dlr_cb(VbHttpServer *server,
		   SoupServerMessage *msg,
		   const gchar *path,
		   GHashTable *query,
		   gpointer user_data)
{
	VbHttpSms *self = VB_HTTP_SMS(user_data);
	g_autoptr(GPtrArray) params = vb_http_sms_hook_begin(self, msg, "dlr");
	g_autofree gchar *id = NULL;
	g_autofree gchar *status = NULL;
	g_autofree gchar *key = NULL;
	g_autofree gchar *local_id = NULL;
	g_autofree gchar *message_id = NULL;
	g_autofree gchar *row_state = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	const gchar *state = NULL;
	VbStoreStep step;
	GVariantBuilder payload;

	if (params == NULL)
		return;
	id = vb_http_sms_hook_param_text(params, "id");
	status = vb_http_sms_hook_param_text(params, "status");
	if (id == NULL || id[0] == '\0' || status == NULL) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA), "%s",
				    _("a delivery report needs id and status"));
		return;
	}
	state = vb_http_sms_hook_dlr_state(status);
	if (state == NULL) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA), "%s",
				    _("status must be a Kannel report type (1, 2, 4, 8 or 16) or "
				      "queued, sent, delivered, undelivered or failed"));
		return;
	}

	/* the message, by our id (in the dlr-url) or by the gateway's */
	stmt = vb_store_prepare(vb_http_sms_get_store(self), self->sql_by_local, &error);
	if (stmt == NULL) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	vb_store_stmt_bind_text(stmt, 1, vb_plugin_get_name(VB_PLUGIN(self)));
	vb_store_stmt_bind_text(stmt, 2, id);
	step = vb_store_stmt_step(stmt, &error);
	if (step == VB_STORE_STEP_ERROR) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	if (step != VB_STORE_STEP_ROW) {
		vb_http_reply_error(msg, SOUP_STATUS_NOT_FOUND,
				    vb_error_to_code(VB_ERROR_NOT_FOUND), "%s",
				    _("no message of this instance has this id"));
		return;
	}
	key = g_strdup(vb_store_stmt_column_text(stmt, 0));
	local_id = g_strdup(vb_store_stmt_column_text(stmt, 1));
	message_id = g_strdup(vb_store_stmt_column_text(stmt, 2));
	row_state = g_strdup(vb_store_stmt_column_text(stmt, 3));
	g_clear_pointer(&stmt, vb_store_stmt_free);
	if (message_id == NULL)
		message_id = g_strdup(local_id);

	/* a report settles a message whose request went unanswered: it reached
	 * the gateway; a rejection means it never reached the handset */
	if (g_strcmp0(row_state, "sending") == 0 || g_strcmp0(row_state, "abandoned") == 0) {
		gboolean rejected = g_strcmp0(state, "failed") == 0;
		g_message("message %s: a delivery report (%s) settles its unknown outcome",
			  local_id, state);
		vb_http_sms_settle(self, local_id, rejected ? "not-sent" : "sent",
				   rejected ? NULL : message_id);
	}
	self->reports++;
	g_debug("message %s is %s", message_id, state);
	g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&payload, "{sv}", VB_KEY_MESSAGE_ID,
			      g_variant_new_string(message_id));
	g_variant_builder_add(&payload, "{sv}", VB_KEY_STATE, g_variant_new_string(state));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_SMS_STATUS, g_variant_builder_end(&payload));
	vb_http_sms_reply_text(msg, SOUP_STATUS_OK, "ok\n");
}

static void
vb_http_sms_inbound_cb(VbHttpServer *server,
		       SoupServerMessage *msg,
		       const gchar *path,
		       GHashTable *query,
		       gpointer user_data)
{
	VbHttpSms *self = VB_HTTP_SMS(user_data);
	g_autoptr(GPtrArray) params = vb_http_sms_hook_begin(self, msg, "inbound");
	VbHttpSmsConfig *config = self->config;
	g_autofree gchar *raw_from = NULL;
	g_autofree gchar *from = NULL;
	g_autofree gchar *charset = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *masked = NULL;
	g_auto(VbHttpSmsWiped) text = NULL;
	const VbSecureFormField *raw_text;
	GVariantBuilder payload;

	if (params == NULL)
		return;
	raw_from = vb_http_sms_hook_param_text(params, config->from_field);
	raw_text = vb_secure_form_lookup(params, config->text_field);
	if (raw_from == NULL || raw_text == NULL) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA),
				    _("an inbound message needs the fields %s and %s"),
				    config->from_field, config->text_field);
		return;
	}
	from = vb_http_sms_hook_sender(raw_from);
	if (from == NULL) {
		vb_http_reply_error(
		    msg, SOUP_STATUS_BAD_REQUEST, vb_error_to_code(VB_ERROR_INVALID_DATA),
		    _("%s is not a phone number, such as +33612345678"), config->from_field);
		return;
	}
	charset = vb_http_sms_hook_param_text(params, "charset");
	text = vb_http_sms_hook_text(raw_text, charset);
	if (text == NULL || text[0] == '\0' || strlen(text) > VB_HTTP_SMS_BODY_MAX) {
		vb_http_reply_error(
		    msg, SOUP_STATUS_BAD_REQUEST, vb_error_to_code(VB_ERROR_INVALID_DATA),
		    _("%s must be text of 1 to %u bytes, in UTF-8 or in the charset "
		      "named by the charset field"),
		    config->text_field, (guint)VB_HTTP_SMS_BODY_MAX);
		return;
	}
	if (config->id_field[0] != '\0')
		id = vb_http_sms_hook_param_text(params, config->id_field);
	if (id == NULL || id[0] == '\0') {
		g_free(id);
		id = vb_http_sms_new_local_id();
	}

	masked = vb_mask_phone(from);
	g_message("SMS %s from %s, %" G_GSIZE_FORMAT " bytes", id, masked, strlen(text));
	self->received++;
	g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&payload, "{sv}", VB_KEY_PHONE, g_variant_new_string(from));
	g_variant_builder_add(&payload, "{sv}", VB_KEY_BODY, g_variant_new_string(text));
	g_variant_builder_add(&payload, "{sv}", VB_KEY_MESSAGE_ID, g_variant_new_string(id));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_SMS_RECEIVED, g_variant_builder_end(&payload));
	/* an empty answer: Kannel would send a body back to the shopper */
	vb_http_sms_reply_text(msg, SOUP_STATUS_OK, "");
}

/* ------------------------------------------------------------------------ */
/* life cycle                                                                */
/* ------------------------------------------------------------------------ */

static gboolean
vb_http_sms_prepare_store(VbHttpSms *self, GError **error)
{
	VbStore *store = vb_http_sms_get_store(self);
	g_autofree gchar *table = NULL;
	g_autofree gchar *sql_prune = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;

	if (store == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
				    _("the daemon has no store; http-sms needs one"));
		return FALSE;
	}
	if (!vb_store_ensure_namespace(store, VB_HTTP_SMS_NAMESPACE, vb_http_sms_migrations, error))
		return FALSE;
	/* only the table name, which the core gives, is put into the SQL */
	table = vb_store_namespace_table(VB_HTTP_SMS_NAMESPACE, "messages");
	self->sql_lookup = g_strdup_printf("SELECT local_id, message_id, state, updated FROM %s "
					   "WHERE instance = ?1 AND idempotency_key = ?2",
					   table);
	self->sql_by_local =
	    g_strdup_printf("SELECT idempotency_key, local_id, message_id, state FROM %s "
			    "WHERE instance = ?1 AND (local_id = ?2 OR message_id = ?2) LIMIT 1",
			    table);
	self->sql_upsert = g_strdup_printf(
	    "INSERT INTO %s (instance, idempotency_key, local_id, message_id, state, created, "
	    "updated) VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?5) "
	    "ON CONFLICT (instance, idempotency_key) DO UPDATE SET local_id = ?3, "
	    "message_id = NULL, state = ?4, updated = ?5",
	    table);
	self->sql_settle = g_strdup_printf(
	    "UPDATE %s SET state = ?3, message_id = COALESCE(?4, message_id), updated = ?5 "
	    "WHERE instance = ?1 AND local_id = ?2",
	    table);
	sql_prune = g_strdup_printf("DELETE FROM %s WHERE instance = ?1 AND updated < ?2", table);
	stmt = vb_store_prepare(store, sql_prune, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_plugin_get_name(VB_PLUGIN(self)));
	vb_store_stmt_bind_int64(
	    stmt, 2, g_get_real_time() - (gint64)VB_HTTP_SMS_KEEP_DAYS * G_TIME_SPAN_DAY);
	return vb_store_stmt_exec(stmt, error);
}

static void
vb_http_sms_apply(VbHttpSms *self, VbHttpSmsConfig *config)
{
	g_clear_pointer(&self->config, vb_http_sms_config_free);
	self->config = config;
	g_object_set(self->session, "timeout", (guint)config->timeout_s, NULL);
}

static gboolean
vb_http_sms_startup(VbPlugin *plugin, GError **error)
{
	VbHttpSms *self = VB_HTTP_SMS(plugin);
	VbHttpServer *http = vb_context_get_http_server(vb_plugin_get_context(plugin));
	VbMetrics *metrics = vb_context_get_metrics(vb_plugin_get_context(plugin));
	g_autoptr(VbHttpSmsConfig) config = vb_http_sms_read_config(self, error);

	if (config == NULL)
		return FALSE;
	if (!vb_http_sms_prepare_store(self, error)) {
		g_prefix_error(error, "%s", _("cannot prepare the plugin's table: "));
		return FALSE;
	}
	self->cancellable = g_cancellable_new();
	self->session = soup_session_new_with_options("idle-timeout", 60, "user-agent",
						      "vestibule-http-sms", NULL);
	vb_http_sms_apply(self, g_steal_pointer(&config));
	vb_metrics_declare(metrics, VB_SMS_PROVIDER_METRIC_WEBHOOKS_REJECTED, VB_METRIC_COUNTER,
			   VB_SMS_PROVIDER_METRIC_WEBHOOKS_REJECTED_HELP);
	vb_metrics_declare(metrics, VB_SMS_PROVIDER_METRIC_REQUESTS, VB_METRIC_COUNTER,
			   VB_SMS_PROVIDER_METRIC_REQUESTS_HELP);

	self->hook_dlr =
	    g_strdup_printf(VB_HTTP_SMS_HOOK_PREFIX "%s/dlr", vb_plugin_get_name(plugin));
	self->hook_inbound =
	    g_strdup_printf(VB_HTTP_SMS_HOOK_PREFIX "%s/inbound", vb_plugin_get_name(plugin));
	if (http != NULL) {
		vb_http_server_add_handler(http, VB_HTTP_LISTENER_PUBLIC, self->hook_dlr, NULL,
					   vb_http_sms_dlr_cb, self, NULL);
		vb_http_server_add_handler(http, VB_HTTP_LISTENER_PUBLIC, self->hook_inbound, NULL,
					   vb_http_sms_inbound_cb, self, NULL);
		if (self->config->dlr_mask > 0 && vb_http_server_get_public_url(http) == NULL)
			g_warning("[http] public-url is not set: the gateway cannot send delivery "
				  "reports");
	}
	return TRUE;
}

static void
vb_http_sms_stop(VbHttpSms *self)
{
	VbContext *context = vb_plugin_get_context(VB_PLUGIN(self));
	VbHttpServer *http = context != NULL ? vb_context_get_http_server(context) : NULL;

	if (http != NULL && self->hook_dlr != NULL) {
		vb_http_server_remove_handler(http, VB_HTTP_LISTENER_PUBLIC, self->hook_dlr);
		vb_http_server_remove_handler(http, VB_HTTP_LISTENER_PUBLIC, self->hook_inbound);
	}
	g_clear_pointer(&self->hook_dlr, g_free);
	g_clear_pointer(&self->hook_inbound, g_free);
	if (self->cancellable != NULL)
		g_cancellable_cancel(self->cancellable);
	if (self->session != NULL)
		soup_session_abort(self->session);
	g_clear_object(&self->session);
	g_clear_object(&self->cancellable);
}

static void
vb_http_sms_shutdown(VbPlugin *plugin)
{
	vb_http_sms_stop(VB_HTTP_SMS(plugin));
}

static gboolean
vb_http_sms_reload(VbPlugin *plugin, GError **error)
{
	VbHttpSms *self = VB_HTTP_SMS(plugin);
	VbHttpSmsConfig *config = vb_http_sms_read_config(self, error);

	if (config == NULL)
		return FALSE;
	if (self->session == NULL) {
		vb_http_sms_config_free(config);
		return TRUE;
	}
	vb_http_sms_apply(self, config);
	return TRUE;
}

static void
vb_http_sms_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	VbHttpSms *self = VB_HTTP_SMS(plugin);

	if (self->config != NULL) {
		g_autoptr(GUri) uri = g_uri_parse(self->config->url, SOUP_HTTP_URI_FLAGS, NULL);
		g_autofree gchar *origin = uri != NULL ? vb_http_sms_origin(uri) : NULL;
		g_variant_builder_add(builder, "{sv}", "gateway",
				      g_variant_new_string(origin != NULL ? origin : "-"));
		g_variant_builder_add(
		    builder, "{sv}", "preset",
		    g_variant_new_string(self->config->kannel ? "kannel" : "none"));
	}
	g_variant_builder_add(builder, "{sv}", "sent", g_variant_new_uint64(self->sent));
	g_variant_builder_add(builder, "{sv}", "failed", g_variant_new_uint64(self->failed));
	g_variant_builder_add(builder, "{sv}", "unknown", g_variant_new_uint64(self->unknown));
	g_variant_builder_add(builder, "{sv}", "received", g_variant_new_uint64(self->received));
	g_variant_builder_add(builder, "{sv}", "reports", g_variant_new_uint64(self->reports));
	g_variant_builder_add(builder, "{sv}", "rejected", g_variant_new_uint64(self->rejected));
	if (self->last_error != NULL)
		g_variant_builder_add(builder, "{sv}", "last-error",
				      g_variant_new_string(self->last_error));
}

static void
vb_http_sms_sms_provider_iface_init(VbSmsProviderInterface *iface)
{
	iface->send_async = vb_http_sms_send_async;
	iface->send_finish = vb_http_sms_send_finish;
}

static void
vb_http_sms_dispose(GObject *object)
{
	vb_http_sms_stop(VB_HTTP_SMS(object));
	G_OBJECT_CLASS(vb_http_sms_parent_class)->dispose(object);
}

static void
vb_http_sms_finalize(GObject *object)
{
	VbHttpSms *self = VB_HTTP_SMS(object);

	g_clear_pointer(&self->config, vb_http_sms_config_free);
	g_free(self->sql_lookup);
	g_free(self->sql_by_local);
	g_free(self->sql_upsert);
	g_free(self->sql_settle);
	g_free(self->last_error);
	G_OBJECT_CLASS(vb_http_sms_parent_class)->finalize(object);
}

static void
vb_http_sms_init(VbHttpSms *self)
{
}

static void
vb_http_sms_class_init(VbHttpSmsClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);

	object_class->dispose = vb_http_sms_dispose;
	object_class->finalize = vb_http_sms_finalize;
	plugin_class->startup = vb_http_sms_startup;
	plugin_class->shutdown = vb_http_sms_shutdown;
	plugin_class->reload = vb_http_sms_reload;
	plugin_class->get_status = vb_http_sms_get_status;
	vb_plugin_class_add_settings(plugin_class, vb_http_sms_settings,
				     G_N_ELEMENTS(vb_http_sms_settings));
}

VB_PLUGIN_DEFINE(vb_http_sms_get_type)
