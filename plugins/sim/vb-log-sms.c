/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vb-sim-common.h"

/*
 * log-sms plays an SMS provider and the shopper's handset. Each message sent
 * becomes one JSON line in a file (the handset, which holds the full text and
 * is private to the daemon) and one log line (masked number, codes redacted).
 * A message with an idempotency key already seen is not written again: the
 * key and the message id are recorded in the same transaction as the write.
 */

#define VB_LOG_SMS_NAMESPACE "log_sms"
#define VB_LOG_SMS_BODY_MAX 1600
/* idempotency keys are kept this long; retries come within hours */
#define VB_LOG_SMS_KEEP_DAYS 30

#define VB_TYPE_LOG_SMS (vb_log_sms_get_type())
G_DECLARE_FINAL_TYPE(VbLogSms, vb_log_sms, VB, LOG_SMS, VbPlugin)

struct _VbLogSms {
	VbPlugin parent_instance;
	VbSimRoutes *routes;
	VbSimDelays *delays;
	gchar *path; /* NULL: log only */
	gint64 latency_ms;
	gboolean down;
	gchar *sql_lookup;
	gchar *sql_insert;
	guint64 sent;
	guint64 received;
};

static void
vb_log_sms_sms_provider_iface_init(VbSmsProviderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(VbLogSms,
			      vb_log_sms,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_SMS_PROVIDER,
						    vb_log_sms_sms_provider_iface_init))

static const VbSettingSpec vb_log_sms_settings[] = {
    {
	.key = "path",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("Absolute path of the file that receives one JSON line per message sent; "
		    "empty to only log them"),
    },
    {
	.key = "latency-ms",
	.type = VB_SETTING_INT,
	.default_value = "0",
	.min = 0,
	.max = 60000,
	.blurb = N_("How long the simulated provider takes to answer, in ms"),
    },
};

/* one script per schema version */
static const gchar *const vb_log_sms_migrations[] = {
    "CREATE TABLE @ns@sent ("
    "instance TEXT NOT NULL, "
    "idempotency_key TEXT NOT NULL, "
    "message_id TEXT NOT NULL, "
    "created INTEGER NOT NULL, "
    "PRIMARY KEY (instance, idempotency_key))",
    NULL,
};

typedef struct {
	gchar *to;
	gchar *body;
	gchar *idempotency_key;
} VbLogSmsSend;

static void
vb_log_sms_send_free(VbLogSmsSend *send)
{
	/* the body may hold a one-time code */
	if (send->body != NULL)
		explicit_bzero(send->body, strlen(send->body));
	if (send->to != NULL)
		explicit_bzero(send->to, strlen(send->to));
	g_free(send->to);
	g_free(send->body);
	g_free(send->idempotency_key);
	g_free(send);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbLogSmsSend, vb_log_sms_send_free)

static gchar *
vb_log_sms_new_message_id(void)
{
	g_autofree gchar *uuid = g_uuid_string_random();
	GString *str = g_string_new("SM");

	for (const gchar *p = uuid; *p != '\0'; p++) {
		if (*p != '-')
			g_string_append_c(str, *p);
	}
	return g_string_free(str, FALSE);
}

static gboolean
vb_log_sms_body_is_valid(const gchar *body, GError **error)
{
	if (body == NULL || body[0] == '\0') {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the message has no text"));
		return FALSE;
	}
	if (!g_utf8_validate(body, -1, NULL)) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the message text is not valid UTF-8"));
		return FALSE;
	}
	if (strlen(body) > VB_LOG_SMS_BODY_MAX) {
		g_set_error(error, VB_ERROR, VB_ERROR_TOO_LARGE,
			    _("the message text is longer than %u bytes"),
			    (guint)VB_LOG_SMS_BODY_MAX);
		return FALSE;
	}
	return TRUE;
}

static gboolean
vb_log_sms_write_all(gint fd, const gchar *path, const gchar *data, gsize len, GError **error)
{
	while (len > 0) {
		gssize written = write(fd, data, len);
		if (written < 0) {
			gint saved = errno;
			if (saved == EINTR)
				continue;
			g_set_error(error, VB_ERROR, vb_error_from_errno(saved),
				    _("cannot write to %s: %s"), path, g_strerror(saved));
			return FALSE;
		}
		data += written;
		len -= (gsize)written;
	}
	/* it plays a handset: a message written is a message received */
	if (fsync(fd) != 0) {
		gint saved = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(saved),
			    _("cannot flush %s to disk: %s"), path, g_strerror(saved));
		return FALSE;
	}
	return TRUE;
}

/* opens @path for appending, creating it private to the daemon, and makes it
 * private if it was not */
static gint
vb_log_sms_open(const gchar *path, GError **error)
{
	struct stat st;
	gint fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);

	if (fd < 0) {
		gint saved = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(saved), _("cannot open %s: %s"),
			    path, g_strerror(saved));
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 0077) != 0 && fchmod(fd, 0600) != 0) {
		gint saved = errno;
		g_set_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
			    _("%s is readable by others and cannot be made private: %s"), path,
			    g_strerror(saved));
		g_close(fd, NULL);
		return -1;
	}
	return fd;
}

static gboolean
vb_log_sms_append(const gchar *path, const gchar *line, GError **error)
{
	gint fd = vb_log_sms_open(path, error);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	ok = vb_log_sms_write_all(fd, path, line, strlen(line), error);
	if (!g_close(fd, NULL) && ok) {
		g_set_error(error, VB_ERROR, VB_ERROR_IO, _("cannot close %s"), path);
		return FALSE;
	}
	return ok;
}

static gchar *
vb_log_sms_format_line(const VbLogSmsSend *send, const gchar *message_id)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree gchar *time = g_date_time_format_iso8601(now);
	g_autofree gchar *masked = vb_mask_phone(send->to);
	g_autofree gchar *hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, send->to, -1);
	g_autofree gchar *json = NULL;

	/* the hash tells recipients apart without writing their number */
	hash[16] = '\0';
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "id");
	json_builder_add_string_value(builder, message_id);
	json_builder_set_member_name(builder, "to");
	json_builder_add_string_value(builder, masked);
	json_builder_set_member_name(builder, "to-hash");
	json_builder_add_string_value(builder, hash);
	json_builder_set_member_name(builder, "body");
	json_builder_add_string_value(builder, send->body);
	json_builder_set_member_name(builder, "idempotency-key");
	if (send->idempotency_key != NULL)
		json_builder_add_string_value(builder, send->idempotency_key);
	else
		json_builder_add_null_value(builder);
	json_builder_set_member_name(builder, "time");
	json_builder_add_string_value(builder, time);
	json_builder_end_object(builder);

	root = json_builder_get_root(builder);
	json_generator_set_root(generator, root);
	json = json_generator_to_data(generator, NULL);
	return g_strconcat(json, "\n", NULL);
}

static VbStore *
vb_log_sms_get_store(VbLogSms *self)
{
	return vb_context_get_store(vb_plugin_get_context(VB_PLUGIN(self)));
}

/* the message id already sent under @key, or NULL with no error when there is none */
static gboolean
vb_log_sms_lookup(VbLogSms *self, const gchar *key, gchar **message_id, GError **error)
{
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(vb_log_sms_get_store(self), self->sql_lookup, error);
	VbStoreStep step;

	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_plugin_get_name(VB_PLUGIN(self)));
	vb_store_stmt_bind_text(stmt, 2, key);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return FALSE;
	*message_id =
	    step == VB_STORE_STEP_ROW ? g_strdup(vb_store_stmt_column_text(stmt, 0)) : NULL;
	return TRUE;
}

static gboolean
vb_log_sms_record(VbLogSms *self, const gchar *key, const gchar *message_id, GError **error)
{
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(vb_log_sms_get_store(self), self->sql_insert, error);

	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_plugin_get_name(VB_PLUGIN(self)));
	vb_store_stmt_bind_text(stmt, 2, key);
	vb_store_stmt_bind_text(stmt, 3, message_id);
	vb_store_stmt_bind_int64(stmt, 4, g_get_real_time());
	return vb_store_stmt_exec(stmt, error);
}

/* records the keys of the messages that the handset file holds and the
 * table does not: a crash between writing a line and committing its key must
 * not send it twice. Read once, when the file is taken into use: from then
 * on every line is written in the transaction that records its key, so a
 * send looks up the table alone and its cost does not grow with the file */
static gboolean
vb_log_sms_reconcile_file(VbLogSms *self, const gchar *path, GError **error)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autofree gchar *data = NULL;
	g_auto(GStrv) lines = NULL;
	guint recorded = 0;
	gboolean ok = TRUE;

	if (path == NULL || !g_file_get_contents(path, &data, NULL, NULL))
		return TRUE;
	lines = g_strsplit(data, "\n", -1);
	explicit_bzero(data, strlen(data));
	tx = vb_store_transaction_begin(vb_log_sms_get_store(self), error);
	if (tx == NULL)
		ok = FALSE;
	for (guint i = 0; lines[i] != NULL; i++) {
		g_autoptr(JsonParser) parser = json_parser_new();
		g_autofree gchar *known = NULL;
		const gchar *key = NULL;
		const gchar *id = NULL;
		JsonObject *obj;

		/* a line cut by the crash is not a message that was sent */
		if (ok && lines[i][0] != '\0' &&
		    json_parser_load_from_data(parser, lines[i], -1, NULL) &&
		    JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
			obj = json_node_get_object(json_parser_get_root(parser));
			key = json_object_get_string_member_with_default(obj, "idempotency-key",
									 NULL);
			id = json_object_get_string_member_with_default(obj, "id", NULL);
		}
		if (key != NULL && id != NULL) {
			ok = vb_log_sms_lookup(self, key, &known, error) &&
			     (known != NULL || vb_log_sms_record(self, key, id, error));
			if (ok && known == NULL)
				recorded++;
		}
		explicit_bzero(lines[i], strlen(lines[i]));
	}
	if (!ok || !vb_store_transaction_commit(tx, error))
		return FALSE;
	if (recorded > 0)
		g_message("%u message(s) of %s were written but not recorded (a crash): they are "
			  "not sent again",
			  recorded, path);
	return TRUE;
}

/* writes the message once; @fresh is FALSE when the key was already sent */
static gchar *
vb_log_sms_deliver(VbLogSms *self, const VbLogSmsSend *send, gboolean *fresh, GError **error)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autofree gchar *message_id = NULL;
	g_autofree gchar *masked = NULL;
	g_autofree gchar *redacted = NULL;

	/* not synced: the file, flushed to disk with each line, is what was
	 * sent; a key that a power cut takes back is read from it at the next
	 * start (vb_log_sms_reconcile_file()) */
	tx = vb_store_transaction_begin_full(vb_log_sms_get_store(self),
					     VB_STORE_TRANSACTION_FLAG_NO_SYNC, error);
	if (tx == NULL)
		return NULL;
	if (send->idempotency_key != NULL) {
		if (!vb_log_sms_lookup(self, send->idempotency_key, &message_id, error))
			return NULL;
		if (message_id != NULL) {
			g_debug("message %s was already sent; not sending it again", message_id);
			*fresh = FALSE;
			return g_steal_pointer(&message_id);
		}
	}
	message_id = vb_log_sms_new_message_id();
	if (send->idempotency_key != NULL &&
	    !vb_log_sms_record(self, send->idempotency_key, message_id, error))
		return NULL;
	if (self->path != NULL) {
		g_autofree gchar *line = vb_log_sms_format_line(send, message_id);
		gboolean ok = vb_log_sms_append(self->path, line, error);
		explicit_bzero(line, strlen(line));
		if (!ok)
			return NULL;
	}
	if (!vb_store_transaction_commit(tx, error))
		return NULL;

	/* codes never reach the log */
	masked = vb_mask_phone(send->to);
	redacted = vb_sim_redact_digits(send->body);
	g_message("SMS %s to %s: %s", message_id, masked, redacted);
	self->sent++;
	*fresh = TRUE;
	return g_steal_pointer(&message_id);
}

static void
vb_log_sms_emit_status(VbLogSms *self, const gchar *message_id, const gchar *state)
{
	GVariantBuilder payload;

	g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&payload, "{sv}", VB_KEY_MESSAGE_ID,
			      g_variant_new_string(message_id));
	g_variant_builder_add(&payload, "{sv}", VB_KEY_STATE, g_variant_new_string(state));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_SMS_STATUS, g_variant_builder_end(&payload));
}

static void
vb_log_sms_send_cb(GTask *task)
{
	VbLogSms *self = VB_LOG_SMS(g_task_get_source_object(task));
	VbLogSmsSend *send = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *message_id = NULL;
	gboolean fresh = FALSE;

	/* the outage is checked when the answer would come */
	if (self->down) {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE, "%s",
					_("the SMS provider cannot be reached (simulated outage); "
					  "nothing was sent"));
		return;
	}
	message_id = vb_log_sms_deliver(self, send, &fresh, &error);
	if (message_id == NULL) {
		g_prefix_error(&error, "%s", _("the message could not be sent: "));
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_pointer(task, g_strdup(message_id), g_free);
	if (fresh)
		vb_log_sms_emit_status(self, message_id, "delivered");
}

static void
vb_log_sms_send_async(VbSmsProvider *provider,
		      const VbSmsMessage *message,
		      GCancellable *cancellable,
		      GAsyncReadyCallback callback,
		      gpointer user_data)
{
	VbLogSms *self = VB_LOG_SMS(provider);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(VbLogSmsSend) send = NULL;

	g_task_set_source_tag(task, vb_log_sms_send_async);
	if (self->delays == NULL) {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE,
					_("the SMS provider %s is not running"),
					vb_plugin_get_name(VB_PLUGIN(self)));
		return;
	}
	if (!vb_sim_phone_is_e164(message->to)) {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_INVALID_DATA, "%s",
					_("the recipient is not an E.164 number"));
		return;
	}
	if (!vb_log_sms_body_is_valid(message->body, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (message->idempotency_key != NULL && message->idempotency_key[0] == '\0') {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_INVALID_DATA, "%s",
					_("the idempotency key is empty"));
		return;
	}
	send = g_new0(VbLogSmsSend, 1);
	send->to = g_strdup(message->to);
	send->body = g_strdup(message->body);
	send->idempotency_key = g_strdup(message->idempotency_key);
	g_task_set_task_data(task, g_steal_pointer(&send), (GDestroyNotify)vb_log_sms_send_free);
	vb_sim_delays_run(self->delays, task, (guint)self->latency_ms, vb_log_sms_send_cb);
}

static gchar *
vb_log_sms_send_finish(VbSmsProvider *provider, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, provider), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

static void
vb_log_sms_inbound_cb(VbPlugin *plugin, SoupServerMessage *msg, JsonObject *body, GHashTable *query)
{
	VbLogSms *self = VB_LOG_SMS(plugin);
	const gchar *allowed[] = {"from", "body", NULL};
	const gchar *from = NULL;
	const gchar *text = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *message_id = NULL;
	g_autofree gchar *masked = NULL;
	g_autofree gchar *redacted = NULL;
	g_autoptr(JsonBuilder) builder = json_builder_new();
	GVariantBuilder payload;

	if (!vb_sim_json_check_members(body, allowed, &error) ||
	    !vb_sim_json_get_string(body, "from", TRUE, &from, &error) ||
	    !vb_sim_json_get_string(body, "body", TRUE, &text, &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	if (!vb_sim_phone_is_e164(from)) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA), "%s",
				    _("the sender must be an E.164 number: + then 8 to 15 digits, "
				      "such as +33612345678"));
		return;
	}
	if (!vb_log_sms_body_is_valid(text, &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}

	message_id = vb_log_sms_new_message_id();
	masked = vb_mask_phone(from);
	redacted = vb_sim_redact_digits(text);
	g_message("SMS %s from %s: %s", message_id, masked, redacted);
	self->received++;

	g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&payload, "{sv}", VB_KEY_PHONE, g_variant_new_string(from));
	g_variant_builder_add(&payload, "{sv}", VB_KEY_BODY, g_variant_new_string(text));
	g_variant_builder_add(&payload, "{sv}", VB_KEY_MESSAGE_ID,
			      g_variant_new_string(message_id));
	vb_plugin_emit(plugin, VB_EVENT_SMS_RECEIVED, g_variant_builder_end(&payload));

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "message-id");
	json_builder_add_string_value(builder, message_id);
	json_builder_end_object(builder);
	vb_sim_reply(msg, SOUP_STATUS_ACCEPTED, builder);
}

static void
vb_log_sms_outage_cb(VbPlugin *plugin, SoupServerMessage *msg, JsonObject *body, GHashTable *query)
{
	VbLogSms *self = VB_LOG_SMS(plugin);
	const gchar *allowed[] = {"down", NULL};
	gboolean down = FALSE;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonBuilder) builder = json_builder_new();

	if (!vb_sim_json_check_members(body, allowed, &error) ||
	    !vb_sim_json_get_boolean(body, "down", TRUE, &down, &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	if (self->down != down)
		g_message("simulated outage %s", down ? "started" : "ended");
	self->down = down;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "down");
	json_builder_add_boolean_value(builder, self->down);
	json_builder_end_object(builder);
	vb_sim_reply(msg, SOUP_STATUS_OK, builder);
}

/* checks the settings and the file without applying anything */
static gboolean
vb_log_sms_check_settings(VbLogSms *self, gchar **path, GError **error)
{
	VbPlugin *plugin = VB_PLUGIN(self);
	const gchar *value = vb_plugin_get_string(plugin, "path");
	gint fd;

	if (value == NULL || value[0] == '\0') {
		*path = NULL;
		return TRUE;
	}
	if (!g_path_is_absolute(value)) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("path in [instance:%s] must be an absolute file name, or empty to "
			      "only log the messages"),
			    vb_plugin_get_name(plugin));
		return FALSE;
	}
	fd = vb_log_sms_open(value, error);
	if (fd < 0) {
		g_prefix_error(error, _("path in [instance:%s]: "), vb_plugin_get_name(plugin));
		return FALSE;
	}
	g_close(fd, NULL);
	*path = g_strdup(value);
	return TRUE;
}

static gboolean
vb_log_sms_prepare_store(VbLogSms *self, GError **error)
{
	VbStore *store = vb_log_sms_get_store(self);
	g_autofree gchar *table = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *sql_prune = NULL;

	if (store == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
				    _("the daemon has no store; log-sms needs one"));
		return FALSE;
	}
	if (!vb_store_ensure_namespace(store, VB_LOG_SMS_NAMESPACE, vb_log_sms_migrations, error))
		return FALSE;

	/* only the table name, which the core gives, is put into the SQL; values are bound */
	table = vb_store_namespace_table(VB_LOG_SMS_NAMESPACE, "sent");
	self->sql_lookup = g_strdup_printf("SELECT message_id FROM %s "
					   "WHERE instance = ?1 AND idempotency_key = ?2",
					   table);
	self->sql_insert = g_strdup_printf("INSERT INTO %s "
					   "(instance, idempotency_key, message_id, created) "
					   "VALUES (?1, ?2, ?3, ?4)",
					   table);
	sql_prune = g_strdup_printf("DELETE FROM %s WHERE instance = ?1 AND created < ?2", table);
	stmt = vb_store_prepare(store, sql_prune, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_plugin_get_name(VB_PLUGIN(self)));
	vb_store_stmt_bind_int64(
	    stmt, 2, g_get_real_time() - (gint64)VB_LOG_SMS_KEEP_DAYS * G_TIME_SPAN_DAY);
	return vb_store_stmt_exec(stmt, error);
}

static gboolean
vb_log_sms_startup(VbPlugin *plugin, GError **error)
{
	VbLogSms *self = VB_LOG_SMS(plugin);
	g_autofree gchar *path = NULL;

	if (!vb_log_sms_check_settings(self, &path, error))
		return FALSE;
	if (!vb_log_sms_prepare_store(self, error)) {
		g_prefix_error(error, "%s", _("cannot prepare the idempotency table: "));
		return FALSE;
	}
	if (!vb_log_sms_reconcile_file(self, path, error)) {
		g_prefix_error(error, _("cannot read the messages already in %s: "), path);
		return FALSE;
	}
	self->path = g_steal_pointer(&path);
	self->latency_ms = vb_plugin_get_int(plugin, "latency-ms");
	self->delays = vb_sim_delays_new();
	self->routes = vb_sim_routes_new(plugin);
	vb_sim_routes_add(self->routes, SOUP_METHOD_POST, "inbound", VB_SIM_ROUTE_NONE,
			  vb_log_sms_inbound_cb);
	vb_sim_routes_add(self->routes, SOUP_METHOD_POST, "outage", VB_SIM_ROUTE_NONE,
			  vb_log_sms_outage_cb);
	return TRUE;
}

/* answers what is still pending and drops the timers; nothing was done for
 * those requests, so they may be retried */
static void
vb_log_sms_stop_delays(VbLogSms *self)
{
	if (self->delays != NULL) {
		vb_sim_delays_abort(self->delays,
				    _("the SMS provider stopped before sending; nothing was sent"));
		g_clear_pointer(&self->delays, vb_sim_delays_free);
	}
}

static void
vb_log_sms_shutdown(VbPlugin *plugin)
{
	VbLogSms *self = VB_LOG_SMS(plugin);

	g_clear_pointer(&self->routes, vb_sim_routes_free);
	vb_log_sms_stop_delays(self);
}

static gboolean
vb_log_sms_reload(VbPlugin *plugin, GError **error)
{
	VbLogSms *self = VB_LOG_SMS(plugin);
	g_autofree gchar *path = NULL;

	if (!vb_log_sms_check_settings(self, &path, error))
		return FALSE;
	/* another file: its messages are taken into account as at a start */
	if (g_strcmp0(path, self->path) != 0 && !vb_log_sms_reconcile_file(self, path, error)) {
		g_prefix_error(error, _("cannot read the messages already in %s: "), path);
		return FALSE;
	}
	g_free(self->path);
	self->path = g_steal_pointer(&path);
	self->latency_ms = vb_plugin_get_int(plugin, "latency-ms");
	return TRUE;
}

static void
vb_log_sms_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	VbLogSms *self = VB_LOG_SMS(plugin);

	g_variant_builder_add(builder, "{sv}", "down", g_variant_new_boolean(self->down));
	g_variant_builder_add(builder, "{sv}", "sent", g_variant_new_uint64(self->sent));
	g_variant_builder_add(builder, "{sv}", "received", g_variant_new_uint64(self->received));
	g_variant_builder_add(builder, "{sv}", "pending",
			      g_variant_new_uint32(self->delays != NULL
						       ? vb_sim_delays_get_pending(self->delays)
						       : 0));
}

static void
vb_log_sms_sms_provider_iface_init(VbSmsProviderInterface *iface)
{
	iface->send_async = vb_log_sms_send_async;
	iface->send_finish = vb_log_sms_send_finish;
}

static void
vb_log_sms_dispose(GObject *object)
{
	VbLogSms *self = VB_LOG_SMS(object);

	g_clear_pointer(&self->routes, vb_sim_routes_free);
	vb_log_sms_stop_delays(self);
	G_OBJECT_CLASS(vb_log_sms_parent_class)->dispose(object);
}

static void
vb_log_sms_finalize(GObject *object)
{
	VbLogSms *self = VB_LOG_SMS(object);

	g_free(self->path);
	g_free(self->sql_lookup);
	g_free(self->sql_insert);
	G_OBJECT_CLASS(vb_log_sms_parent_class)->finalize(object);
}

static void
vb_log_sms_init(VbLogSms *self)
{
}

static void
vb_log_sms_class_init(VbLogSmsClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);

	object_class->dispose = vb_log_sms_dispose;
	object_class->finalize = vb_log_sms_finalize;
	plugin_class->startup = vb_log_sms_startup;
	plugin_class->shutdown = vb_log_sms_shutdown;
	plugin_class->reload = vb_log_sms_reload;
	plugin_class->get_status = vb_log_sms_get_status;
	vb_plugin_class_add_settings(plugin_class, vb_log_sms_settings,
				     G_N_ELEMENTS(vb_log_sms_settings));
}

VB_PLUGIN_DEFINE(vb_log_sms_get_type)
