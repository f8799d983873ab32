/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <libmm-glib.h>
#include <string.h>

#include "vestibule.h"

/*
 * modemmanager sends and receives SMS through a modem that ModemManager
 * manages, over the system bus with libmm-glib. It follows the modem as it
 * comes and goes: the bus connection is retried, ModemManager's objects are
 * watched (a restart removes them all and adds them back), and a send with
 * no modem fails as unreachable, so that the outbox tries again later.
 *
 * A message is sent with Messaging.Create then Sms.Send. Each idempotency key
 * is recorded before Sms.Send: if the answer to Send is lost (a time-out, or
 * ModemManager going away mid-call), the message may have left, and the key
 * fails for good instead of being sent again; the operator retries it with
 * `vestibulectl outbox retry` after checking with the shopper.
 *
 * With delivery-reports (the default), each message asks the network for a
 * delivery report, and stays on the modem until ModemManager sets its
 * DeliveryState from the report: then delivered or undelivered goes to the
 * core as sms-status, and the message is deleted. A report that never comes
 * is waited for as long as the network tries (validity-minutes, or three
 * days), then the message is deleted and stays sent. Reports are matched in
 * memory only: a sent message found on the modem at start (its watcher gone
 * with the last run of vestibuled or ModemManager) is deleted unreported.
 *
 * A received message (Messaging's Added signal) is read once complete, given
 * to the core as sms-received, and deleted from the modem. The core stores a
 * reply synchronously in its bus handler, so the message is stored when
 * vb_plugin_emit() returns and deleting it then loses nothing.
 */

#define VB_MM_NAMESPACE "modemmanager"
#define VB_MM_BODY_MAX 1600
#define VB_MM_RECONNECT_S 5
#define VB_MM_KEEP_DAYS 30
/* how long a report is waited for when the network's validity is its default */
#define VB_MM_REPORT_WAIT_MIN (3 * 24 * 60)

#define VB_TYPE_MODEM_MANAGER (vb_modem_manager_get_type())
G_DECLARE_FINAL_TYPE(VbModemManager, vb_modem_manager, VB, MODEM_MANAGER, VbPlugin)

struct _VbModemManager {
	VbPlugin parent_instance;
	gchar *wanted; /* the modem setting; empty for the first */
	gboolean enable;
	gint64 validity_min;
	gboolean reports;	   /* whether messages ask for a delivery report */
	GCancellable *cancellable; /* the bus, the manager and every call; cancelled at shutdown */
	GDBusConnection *connection;
	MMManager *manager;
	MMObject *object; /* the modem in use */
	GSource *reconnect;
	GHashTable *receiving; /* path -> MMSms not complete yet */
	GHashTable *awaiting;  /* path -> VbModemManagerReport: sent, report to come */
	gchar *sql_lookup;
	gchar *sql_upsert;
	gchar *sql_settle;
	guint64 sent;
	guint64 received;
	guint64 failed;
	guint64 delivered;
	guint64 undelivered;
	gchar *last_error;
};

/* a sent message whose delivery report is awaited */
typedef struct {
	VbModemManager *self; /* not a reference: the plugin drops its reports first */
	MMSms *sms;
	gchar *local_id;
	GSource *expiry;
} VbModemManagerReport;

static void
vb_modem_manager_sms_provider_iface_init(VbSmsProviderInterface *iface);
static void
vb_modem_manager_connect(VbModemManager *self);
static void
vb_modem_manager_pick(VbModemManager *self);

G_DEFINE_FINAL_TYPE_WITH_CODE(VbModemManager,
			      vb_modem_manager,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_SMS_PROVIDER,
						    vb_modem_manager_sms_provider_iface_init))

static const VbSettingSpec vb_modem_manager_settings[] = {
    {
	.key = "modem",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("Which modem: its equipment identifier (IMEI), its device (sysfs path) or "
		    "its D-Bus object path; empty for the first modem"),
    },
    {
	.key = "enable-modem",
	.type = VB_SETTING_BOOLEAN,
	.default_value = "true",
	.blurb = N_("Whether to enable the modem when ModemManager has it disabled"),
    },
    {
	.key = "validity-minutes",
	.type = VB_SETTING_INT,
	.default_value = "0",
	.min = 0,
	.max = 635040,
	.blurb = N_("How long the network keeps trying to deliver a message, in minutes; 0 for "
		    "the network's default"),
    },
    {
	.key = "delivery-reports",
	.type = VB_SETTING_BOOLEAN,
	.default_value = "true",
	.blurb = N_("Whether to ask the network for a delivery report of each message, so that "
		    "the core learns whether it was delivered"),
    },
};

static const gchar *const vb_modem_manager_migrations[] = {
    "CREATE TABLE @ns@messages ("
    "instance TEXT NOT NULL, "
    "idempotency_key TEXT NOT NULL, "
    "local_id TEXT NOT NULL, "
    "state TEXT NOT NULL, "
    "created INTEGER NOT NULL, "
    "updated INTEGER NOT NULL, "
    "PRIMARY KEY (instance, idempotency_key))",
    NULL,
};

static VbStore *
vb_modem_manager_get_store(VbModemManager *self)
{
	return vb_context_get_store(vb_plugin_get_context(VB_PLUGIN(self)));
}

static void
vb_modem_manager_set_error(VbModemManager *self, const gchar *message)
{
	g_free(self->last_error);
	self->last_error = g_strdup(message);
}

static gchar *
vb_modem_manager_new_id(void)
{
	g_autofree gchar *uuid = g_uuid_string_random();
	GString *str = g_string_new("mm");

	for (const gchar *p = uuid; *p != '\0'; p++) {
		if (*p != '-')
			g_string_append_c(str, *p);
	}
	return g_string_free(str, FALSE);
}

static MMModem *
vb_modem_manager_modem(VbModemManager *self)
{
	return self->object != NULL ? mm_object_peek_modem(self->object) : NULL;
}

static MMModemMessaging *
vb_modem_manager_messaging(VbModemManager *self)
{
	return self->object != NULL ? mm_object_peek_modem_messaging(self->object) : NULL;
}

/* ------------------------------------------------------------------------ */
/* the idempotency table                                                     */
/* ------------------------------------------------------------------------ */

static gboolean
vb_modem_manager_lookup(VbModemManager *self,
			const gchar *key,
			gchar **local_id,
			gchar **state,
			GError **error)
{
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(vb_modem_manager_get_store(self), self->sql_lookup, error);
	VbStoreStep step;

	*local_id = NULL;
	*state = NULL;
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_plugin_get_name(VB_PLUGIN(self)));
	vb_store_stmt_bind_text(stmt, 2, key);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR)
		return FALSE;
	if (step == VB_STORE_STEP_ROW) {
		*local_id = g_strdup(vb_store_stmt_column_text(stmt, 0));
		*state = g_strdup(vb_store_stmt_column_text(stmt, 1));
	}
	return TRUE;
}

static gboolean
vb_modem_manager_upsert(VbModemManager *self,
			const gchar *key,
			const gchar *local_id,
			const gchar *state,
			GError **error)
{
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(vb_modem_manager_get_store(self), self->sql_upsert, error);

	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_plugin_get_name(VB_PLUGIN(self)));
	vb_store_stmt_bind_text(stmt, 2, key);
	vb_store_stmt_bind_text(stmt, 3, local_id);
	vb_store_stmt_bind_text(stmt, 4, state);
	vb_store_stmt_bind_int64(stmt, 5, g_get_real_time());
	return vb_store_stmt_exec(stmt, error);
}

static void
vb_modem_manager_settle(VbModemManager *self, const gchar *key, const gchar *state)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(vb_modem_manager_get_store(self), self->sql_settle, &error);

	if (stmt != NULL) {
		vb_store_stmt_bind_text(stmt, 1, vb_plugin_get_name(VB_PLUGIN(self)));
		vb_store_stmt_bind_text(stmt, 2, key);
		vb_store_stmt_bind_text(stmt, 3, state);
		vb_store_stmt_bind_int64(stmt, 4, g_get_real_time());
	}
	/* a row left in `sending` is safe: the key is not sent again */
	if (stmt == NULL || !vb_store_stmt_exec(stmt, &error))
		g_warning("cannot record the outcome of a message: %s", error->message);
}

/* ------------------------------------------------------------------------ */
/* receiving                                                                 */
/* ------------------------------------------------------------------------ */

static void
vb_modem_manager_deleted_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;

	if (!mm_modem_messaging_delete_finish(MM_MODEM_MESSAGING(source), res, &error) &&
	    !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		g_warning("cannot delete an SMS from the modem: %s", error->message);
}

/* the sender as the core wants it: E.164 for an international number, as
 * given for a national one (the core reads it with the store's country) */
static gchar *
vb_modem_manager_sender(const gchar *raw)
{
	g_autoptr(GString) out = g_string_new(NULL);
	const gchar *p = raw;

	if (p == NULL)
		return NULL;
	if (p[0] == '+') {
		g_string_append_c(out, '+');
		p++;
	} else if (p[0] == '0' && p[1] == '0') {
		g_string_append_c(out, '+');
		p += 2;
	}
	for (; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p))
			return NULL;
		g_string_append_c(out, *p);
	}
	if (out->len < 3 || out->len > 16)
		return NULL;
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* hands a complete received message to the core, then deletes it */
static void
vb_modem_manager_deliver(VbModemManager *self, MMSms *sms)
{
	MMModemMessaging *messaging = vb_modem_manager_messaging(self);
	const gchar *path = mm_sms_get_path(sms);
	const gchar *text = mm_sms_get_text(sms);
	const gchar *timestamp = mm_sms_get_timestamp(sms);
	g_autofree gchar *from = vb_modem_manager_sender(mm_sms_get_number(sms));
	g_autofree gchar *masked = NULL;
	g_autofree gchar *seed = NULL;
	g_autofree gchar *id = NULL;
	GVariantBuilder payload;

	if (from == NULL || text == NULL || text[0] == '\0' || strlen(text) > VB_MM_BODY_MAX ||
	    !g_utf8_validate(text, -1, NULL)) {
		/* a data message or a sender such as "Operator" is nothing to answer */
		g_message("deleting an SMS from the modem that is not text from a phone number");
	} else {
		/* the same message read twice (a crash before the delete) has the same id */
		seed =
		    g_strdup_printf("%s\n%s\n%s", from, timestamp != NULL ? timestamp : "", text);
		id = g_compute_checksum_for_string(G_CHECKSUM_SHA256, seed, -1);
		id[24] = '\0';
		explicit_bzero(seed, strlen(seed));
		masked = vb_mask_phone(from);
		g_message("SMS mm%s from %s, %" G_GSIZE_FORMAT " bytes", id, masked, strlen(text));
		self->received++;
		g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
		g_variant_builder_add(&payload, "{sv}", VB_KEY_PHONE, g_variant_new_string(from));
		g_variant_builder_add(&payload, "{sv}", VB_KEY_BODY, g_variant_new_string(text));
		g_variant_builder_add(&payload, "{sv}", VB_KEY_MESSAGE_ID,
				      g_variant_new_take_string(g_strconcat("mm", id, NULL)));
		vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_SMS_RECEIVED,
			       g_variant_builder_end(&payload));
	}
	if (messaging != NULL)
		mm_modem_messaging_delete(messaging, path, self->cancellable,
					  vb_modem_manager_deleted_cb, NULL);
}

static void
vb_modem_manager_sms_state_cb(GObject *object, GParamSpec *pspec, gpointer user_data)
{
	VbModemManager *self = VB_MODEM_MANAGER(user_data);
	MMSms *sms = MM_SMS(object);
	g_autoptr(MMSms) keep = NULL;

	if (mm_sms_get_state(sms) != MM_SMS_STATE_RECEIVED)
		return;
	keep = g_object_ref(sms);
	g_signal_handlers_disconnect_by_data(sms, self);
	g_hash_table_remove(self->receiving, mm_sms_get_path(sms));
	vb_modem_manager_deliver(self, sms);
}

/* a received message: deliver it now if complete, else when it is */
static void
vb_modem_manager_take(VbModemManager *self, MMSms *sms)
{
	if (mm_sms_get_pdu_type(sms) != MM_SMS_PDU_TYPE_DELIVER &&
	    mm_sms_get_pdu_type(sms) != MM_SMS_PDU_TYPE_UNKNOWN)
		return;
	if (mm_sms_get_state(sms) == MM_SMS_STATE_RECEIVED) {
		vb_modem_manager_deliver(self, sms);
		return;
	}
	if (mm_sms_get_state(sms) != MM_SMS_STATE_RECEIVING ||
	    g_hash_table_contains(self->receiving, mm_sms_get_path(sms)))
		return;
	/* the parts of a long message are still coming */
	g_hash_table_insert(self->receiving, g_strdup(mm_sms_get_path(sms)), g_object_ref(sms));
	g_signal_connect(sms, "notify::state", G_CALLBACK(vb_modem_manager_sms_state_cb), self);
}

static void
vb_modem_manager_sms_ready_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(VbModemManager) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GObject) sms = g_async_initable_new_finish(G_ASYNC_INITABLE(source), res, &error);

	if (sms == NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_warning("cannot read a received SMS: %s", error->message);
		return;
	}
	if (self->object == NULL)
		return;
	vb_modem_manager_take(self, MM_SMS(sms));
}

static void
vb_modem_manager_added_cb(MMModemMessaging *messaging,
			  const gchar *path,
			  gboolean received,
			  gpointer user_data)
{
	VbModemManager *self = VB_MODEM_MANAGER(user_data);

	if (!received)
		return;
	g_async_initable_new_async(
	    MM_TYPE_SMS, G_PRIORITY_DEFAULT, self->cancellable, vb_modem_manager_sms_ready_cb,
	    g_object_ref(self), "g-flags", G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, "g-name",
	    MM_DBUS_SERVICE, "g-connection", g_dbus_proxy_get_connection(G_DBUS_PROXY(messaging)),
	    "g-object-path", path, "g-interface-name", MM_DBUS_INTERFACE_SMS, NULL);
}

/* ------------------------------------------------------------------------ */
/* delivery reports                                                          */
/* ------------------------------------------------------------------------ */

static void
vb_modem_manager_report_free(VbModemManagerReport *report)
{
	g_signal_handlers_disconnect_by_data(report->sms, report);
	if (report->expiry != NULL) {
		g_source_destroy(report->expiry);
		g_source_unref(report->expiry);
	}
	g_object_unref(report->sms);
	g_free(report->local_id);
	g_free(report);
}

/* the core's delivery state for ModemManager's, or NULL while the network
 * has said nothing yet or is still trying */
static const gchar *
vb_modem_manager_delivery_state(guint state)
{
	/* 0x00 to 0x1f: the transaction completed */
	if (state < MM_SMS_DELIVERY_STATE_TEMPORARY_ERROR_CONGESTION)
		return "delivered";
	/* 0x20 to 0x3f: a temporary error, and the service centre tries again */
	if (state < MM_SMS_DELIVERY_STATE_ERROR_REMOTE_PROCEDURE ||
	    state == MM_SMS_DELIVERY_STATE_UNKNOWN)
		return NULL;
	/* permanent errors, temporary ones the centre gave up on, and CDMA's */
	return "undelivered";
}

/* the report is in (@state), or will never come (NULL): the message leaves
 * the modem, and @report is freed */
static void
vb_modem_manager_report_done(VbModemManagerReport *report, const gchar *state)
{
	VbModemManager *self = report->self;
	MMModemMessaging *messaging = vb_modem_manager_messaging(self);
	g_autofree gchar *path = g_strdup(mm_sms_get_path(report->sms));

	if (state != NULL) {
		GVariantBuilder payload;

		g_message("SMS %s %s", report->local_id, state);
		if (g_str_equal(state, "delivered"))
			self->delivered++;
		else
			self->undelivered++;
		g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
		g_variant_builder_add(&payload, "{sv}", VB_KEY_MESSAGE_ID,
				      g_variant_new_string(report->local_id));
		g_variant_builder_add(&payload, "{sv}", VB_KEY_STATE, g_variant_new_string(state));
		vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_SMS_STATUS,
			       g_variant_builder_end(&payload));
	}
	if (messaging != NULL)
		mm_modem_messaging_delete(messaging, path, self->cancellable,
					  vb_modem_manager_deleted_cb, NULL);
	g_hash_table_remove(self->awaiting, path);
}

static void
vb_modem_manager_delivery_cb(GObject *object, GParamSpec *pspec, gpointer user_data)
{
	VbModemManagerReport *report = user_data;
	guint delivery = mm_sms_get_delivery_state(report->sms);
	const gchar *state = vb_modem_manager_delivery_state(delivery);

	g_debug("SMS %s: delivery state %s", report->local_id,
		mm_sms_delivery_state_get_string(delivery));
	if (state != NULL)
		vb_modem_manager_report_done(report, state);
}

static gboolean
vb_modem_manager_report_expired_cb(gpointer user_data)
{
	VbModemManagerReport *report = user_data;

	g_message("SMS %s: no delivery report came; it stays sent", report->local_id);
	/* the source is dispatching: GLib keeps it until this returns */
	g_clear_pointer(&report->expiry, g_source_unref);
	vb_modem_manager_report_done(report, NULL);
	return G_SOURCE_REMOVE;
}

/* keeps a sent message on the modem until its delivery report */
static void
vb_modem_manager_await_report(VbModemManager *self, MMSms *sms, const gchar *local_id)
{
	VbModemManagerReport *report = g_new0(VbModemManagerReport, 1);
	gint64 wait_min = self->validity_min > 0 ? self->validity_min : VB_MM_REPORT_WAIT_MIN;

	report->self = self;
	report->sms = g_object_ref(sms);
	report->local_id = g_strdup(local_id);
	/* as long as the network tries, and an hour for the report to come back */
	report->expiry = g_timeout_source_new_seconds((guint)((wait_min + 60) * 60));
	g_source_set_callback(report->expiry, vb_modem_manager_report_expired_cb, report, NULL);
	g_source_set_static_name(report->expiry, "[vestibule] modemmanager delivery report");
	g_source_attach(report->expiry, NULL);
	g_hash_table_replace(self->awaiting, g_strdup(mm_sms_get_path(sms)), report);
	g_signal_connect(sms, "notify::delivery-state", G_CALLBACK(vb_modem_manager_delivery_cb),
			 report);
	/* the report may be in already */
	vb_modem_manager_delivery_cb(G_OBJECT(sms), NULL, report);
}

/* a message sent before this run, whose report nobody waits for any more */
static void
vb_modem_manager_forget_sent(VbModemManager *self, MMSms *sms)
{
	MMModemMessaging *messaging = vb_modem_manager_messaging(self);

	if (mm_sms_get_pdu_type(sms) != MM_SMS_PDU_TYPE_SUBMIT ||
	    mm_sms_get_state(sms) != MM_SMS_STATE_SENT ||
	    g_hash_table_contains(self->awaiting, mm_sms_get_path(sms)) || messaging == NULL)
		return;
	g_message("deleting a message sent before this start from the modem; its delivery "
		  "report, if any, is not awaited");
	mm_modem_messaging_delete(messaging, mm_sms_get_path(sms), self->cancellable,
				  vb_modem_manager_deleted_cb, NULL);
}

/* messages that arrived while nobody listened */
static void
vb_modem_manager_listed_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(VbModemManager) self = user_data;
	g_autoptr(GError) error = NULL;
	GList *list = mm_modem_messaging_list_finish(MM_MODEM_MESSAGING(source), res, &error);

	if (error != NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_warning("cannot list the modem's messages: %s", error->message);
		return;
	}
	for (GList *l = list; l != NULL; l = l->next) {
		if (self->object != NULL &&
		    vb_modem_manager_messaging(self) == MM_MODEM_MESSAGING(source)) {
			vb_modem_manager_take(self, MM_SMS(l->data));
			vb_modem_manager_forget_sent(self, MM_SMS(l->data));
		}
	}
	g_list_free_full(list, g_object_unref);
}

/* ------------------------------------------------------------------------ */
/* the modem                                                                 */
/* ------------------------------------------------------------------------ */

static void
vb_modem_manager_drop_receiving(VbModemManager *self)
{
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, self->receiving);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		g_signal_handlers_disconnect_by_data(value, self);
	g_hash_table_remove_all(self->receiving);
}

static void
vb_modem_manager_drop_modem(VbModemManager *self, const gchar *why)
{
	MMModemMessaging *messaging = vb_modem_manager_messaging(self);
	MMModem *modem = vb_modem_manager_modem(self);

	if (self->object == NULL)
		return;
	if (messaging != NULL)
		g_signal_handlers_disconnect_by_data(messaging, self);
	if (modem != NULL)
		g_signal_handlers_disconnect_by_data(modem, self);
	vb_modem_manager_drop_receiving(self);
	/* their messages stay on the modem, deleted when it is listed again */
	g_hash_table_remove_all(self->awaiting);
	g_message("modem %s is gone: %s", mm_object_get_path(self->object), why);
	g_clear_object(&self->object);
	vb_modem_manager_set_error(self, why);
}

static void
vb_modem_manager_enabled_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;

	if (!mm_modem_enable_finish(MM_MODEM(source), res, &error) &&
	    !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		g_warning("cannot enable the modem: %s", error->message);
}

static void
vb_modem_manager_modem_state_cb(GObject *object, GParamSpec *pspec, gpointer user_data)
{
	VbModemManager *self = VB_MODEM_MANAGER(user_data);
	MMModem *modem = MM_MODEM(object);

	g_debug("the modem is %s", mm_modem_state_get_string(mm_modem_get_state(modem)));
	if (mm_modem_get_state(modem) == MM_MODEM_STATE_DISABLED && self->enable)
		mm_modem_enable(modem, self->cancellable, vb_modem_manager_enabled_cb, NULL);
}

static gboolean
vb_modem_manager_matches(VbModemManager *self, MMObject *object)
{
	MMModem *modem = mm_object_peek_modem(object);

	if (modem == NULL || mm_object_peek_modem_messaging(object) == NULL)
		return FALSE;
	if (self->wanted == NULL || self->wanted[0] == '\0')
		return TRUE;
	return g_strcmp0(self->wanted, mm_object_get_path(object)) == 0 ||
	       g_strcmp0(self->wanted, mm_modem_get_equipment_identifier(modem)) == 0 ||
	       g_strcmp0(self->wanted, mm_modem_get_device(modem)) == 0;
}

static void
vb_modem_manager_use(VbModemManager *self, MMObject *object)
{
	MMModem *modem = mm_object_peek_modem(object);
	MMModemMessaging *messaging = mm_object_peek_modem_messaging(object);

	self->object = g_object_ref(object);
	g_message("using modem %s (%s %s), %s", mm_object_get_path(object),
		  mm_modem_get_manufacturer(modem) != NULL ? mm_modem_get_manufacturer(modem) : "?",
		  mm_modem_get_model(modem) != NULL ? mm_modem_get_model(modem) : "?",
		  mm_modem_state_get_string(mm_modem_get_state(modem)));
	g_clear_pointer(&self->last_error, g_free);
	g_signal_connect(messaging, "added", G_CALLBACK(vb_modem_manager_added_cb), self);
	g_signal_connect(modem, "notify::state", G_CALLBACK(vb_modem_manager_modem_state_cb), self);
	vb_modem_manager_modem_state_cb(G_OBJECT(modem), NULL, self);
	mm_modem_messaging_list(messaging, self->cancellable, vb_modem_manager_listed_cb,
				g_object_ref(self));
}

/* keeps the modem in use while it is there, else takes the first that fits */
static void
vb_modem_manager_pick(VbModemManager *self)
{
	GList *objects;

	if (self->object != NULL || self->manager == NULL)
		return;
	objects = g_dbus_object_manager_get_objects(G_DBUS_OBJECT_MANAGER(self->manager));
	for (GList *l = objects; l != NULL; l = l->next) {
		if (vb_modem_manager_matches(self, MM_OBJECT(l->data))) {
			vb_modem_manager_use(self, MM_OBJECT(l->data));
			break;
		}
	}
	g_list_free_full(objects, g_object_unref);
	if (self->object == NULL)
		vb_modem_manager_set_error(self, self->wanted[0] != '\0'
						     ? _("the configured modem is not there")
						     : _("ModemManager has no modem"));
}

static void
vb_modem_manager_object_added_cb(GDBusObjectManager *manager,
				 GDBusObject *object,
				 gpointer user_data)
{
	vb_modem_manager_pick(VB_MODEM_MANAGER(user_data));
}

static void
vb_modem_manager_object_removed_cb(GDBusObjectManager *manager,
				   GDBusObject *object,
				   gpointer user_data)
{
	VbModemManager *self = VB_MODEM_MANAGER(user_data);

	if (self->object == NULL || G_DBUS_OBJECT(self->object) != object)
		return;
	vb_modem_manager_drop_modem(self, _("the modem was removed"));
	vb_modem_manager_pick(self);
}

static void
vb_modem_manager_owner_cb(GObject *object, GParamSpec *pspec, gpointer user_data)
{
	VbModemManager *self = VB_MODEM_MANAGER(user_data);
	g_autofree gchar *owner =
	    g_dbus_object_manager_client_get_name_owner(G_DBUS_OBJECT_MANAGER_CLIENT(object));

	if (owner == NULL) {
		g_message("ModemManager stopped");
		vb_modem_manager_drop_modem(self, _("ModemManager is not running"));
		vb_modem_manager_set_error(self, _("ModemManager is not running"));
		return;
	}
	g_message("ModemManager is running");
	vb_modem_manager_pick(self);
}

static void
vb_modem_manager_drop_manager(VbModemManager *self)
{
	vb_modem_manager_drop_modem(self, _("the system bus connection was lost"));
	if (self->manager != NULL)
		g_signal_handlers_disconnect_by_data(self->manager, self);
	g_clear_object(&self->manager);
	if (self->connection != NULL)
		g_signal_handlers_disconnect_by_data(self->connection, self);
	g_clear_object(&self->connection);
}

static void
vb_modem_manager_manager_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(VbModemManager) self = user_data;
	g_autoptr(GError) error = NULL;
	MMManager *manager = mm_manager_new_finish(res, &error);

	if (manager == NULL) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			return;
		g_warning("cannot watch ModemManager: %s", error->message);
		vb_modem_manager_set_error(self, error->message);
		return;
	}
	self->manager = manager;
	g_signal_connect(manager, "object-added", G_CALLBACK(vb_modem_manager_object_added_cb),
			 self);
	g_signal_connect(manager, "object-removed", G_CALLBACK(vb_modem_manager_object_removed_cb),
			 self);
	g_signal_connect(manager, "notify::name-owner", G_CALLBACK(vb_modem_manager_owner_cb),
			 self);
	vb_modem_manager_owner_cb(G_OBJECT(manager), NULL, self);
}

static gboolean
vb_modem_manager_reconnect_cb(gpointer user_data)
{
	VbModemManager *self = VB_MODEM_MANAGER(user_data);

	g_clear_pointer(&self->reconnect, g_source_unref);
	vb_modem_manager_connect(self);
	return G_SOURCE_REMOVE;
}

static void
vb_modem_manager_schedule_reconnect(VbModemManager *self)
{
	if (self->reconnect != NULL || g_cancellable_is_cancelled(self->cancellable))
		return;
	self->reconnect = g_timeout_source_new_seconds(VB_MM_RECONNECT_S);
	g_source_set_callback(self->reconnect, vb_modem_manager_reconnect_cb, self, NULL);
	g_source_attach(self->reconnect, g_main_context_get_thread_default());
}

static void
vb_modem_manager_closed_cb(GDBusConnection *connection,
			   gboolean remote_peer_vanished,
			   GError *error,
			   gpointer user_data)
{
	VbModemManager *self = VB_MODEM_MANAGER(user_data);

	g_warning("the system bus connection closed; connecting again in %d s", VB_MM_RECONNECT_S);
	vb_modem_manager_drop_manager(self);
	vb_modem_manager_set_error(self, _("the system bus connection was lost"));
	vb_modem_manager_schedule_reconnect(self);
}

static void
vb_modem_manager_connected_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(VbModemManager) self = user_data;
	g_autoptr(GError) error = NULL;
	GDBusConnection *connection = g_dbus_connection_new_for_address_finish(res, &error);

	if (connection == NULL) {
		g_autofree gchar *msg = NULL;
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			return;
		msg = g_strdup_printf(_("cannot connect to the system bus: %s"), error->message);
		g_warning("%s; trying again in %d s", msg, VB_MM_RECONNECT_S);
		vb_modem_manager_set_error(self, msg);
		vb_modem_manager_schedule_reconnect(self);
		return;
	}
	self->connection = connection;
	g_dbus_connection_set_exit_on_close(connection, FALSE);
	g_signal_connect(connection, "closed", G_CALLBACK(vb_modem_manager_closed_cb), self);
	mm_manager_new(connection, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
		       self->cancellable, vb_modem_manager_manager_cb, g_object_ref(self));
}

/* a private connection, so that shutdown closes it and a lost bus is noticed */
static void
vb_modem_manager_connect(VbModemManager *self)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *address =
	    g_dbus_address_get_for_bus_sync(G_BUS_TYPE_SYSTEM, self->cancellable, &error);

	if (address == NULL) {
		g_warning("cannot find the system bus: %s", error->message);
		vb_modem_manager_set_error(self, error->message);
		vb_modem_manager_schedule_reconnect(self);
		return;
	}
	g_dbus_connection_new_for_address(address,
					  G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
					      G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
					  NULL, self->cancellable, vb_modem_manager_connected_cb,
					  g_object_ref(self));
}

/* ------------------------------------------------------------------------ */
/* sending                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
	gchar *key;
	gchar *local_id;
	gchar *masked;
	MMModemMessaging *messaging;
	MMSms *sms;
} VbModemManagerCall;

static void
vb_modem_manager_call_free(VbModemManagerCall *call)
{
	g_free(call->key);
	g_free(call->local_id);
	g_free(call->masked);
	g_clear_object(&call->messaging);
	g_clear_object(&call->sms);
	g_free(call);
}

/* whether a failed D-Bus call may have reached ModemManager and the network */
static gboolean
vb_modem_manager_error_is_unknown(const GError *error)
{
	if (g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
	    g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
	    g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT) ||
	    g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
		return FALSE;
	return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
	       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
	       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_TIMEOUT) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_TIMED_OUT) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED) ||
	       g_error_matches(error, MM_SERIAL_ERROR, MM_SERIAL_ERROR_RESPONSE_TIMEOUT);
}

static void
vb_modem_manager_sent_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	VbModemManager *self = VB_MODEM_MANAGER(g_task_get_source_object(task));
	VbModemManagerCall *call = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	GVariantBuilder payload;

	if (!mm_sms_send_finish(MM_SMS(source), res, &error)) {
		g_dbus_error_strip_remote_error(error);
		if (vb_modem_manager_error_is_unknown(error)) {
			g_autofree gchar *msg = g_strdup_printf(
			    _("the modem did not confirm message %s (%s); it may have been sent, "
			      "and is not sent again"),
			    call->local_id, error->message);
			g_message("%s", msg);
			vb_modem_manager_set_error(self, msg);
			self->failed++;
			g_task_return_new_error(task, VB_ERROR, VB_ERROR_TIMED_OUT, "%s", msg);
			return;
		}
		{
			g_autofree gchar *msg =
			    g_strdup_printf(_("the modem could not send the message: %s; nothing "
					      "was sent"),
					    error->message);
			vb_modem_manager_settle(self, call->key, "not-sent");
			vb_modem_manager_set_error(self, msg);
			self->failed++;
			g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE, "%s", msg);
		}
		return;
	}
	vb_modem_manager_settle(self, call->key, "sent");
	g_message("SMS %s sent to %s", call->local_id, call->masked);
	self->sent++;
	g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&payload, "{sv}", VB_KEY_MESSAGE_ID,
			      g_variant_new_string(call->local_id));
	g_variant_builder_add(&payload, "{sv}", VB_KEY_STATE, g_variant_new_string("sent"));
	g_task_return_pointer(task, g_strdup(call->local_id), g_free);
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_SMS_STATUS, g_variant_builder_end(&payload));
	/* the message stays on the modem for its report, if one was asked for
	 * on a modem still in use; otherwise it has no more use there */
	if (mm_sms_get_delivery_report_request(call->sms) &&
	    vb_modem_manager_messaging(self) == call->messaging)
		vb_modem_manager_await_report(self, call->sms, call->local_id);
	else
		mm_modem_messaging_delete(call->messaging, mm_sms_get_path(call->sms),
					  self->cancellable, vb_modem_manager_deleted_cb, NULL);
}

static void
vb_modem_manager_created_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	VbModemManager *self = VB_MODEM_MANAGER(g_task_get_source_object(task));
	VbModemManagerCall *call = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	call->sms = mm_modem_messaging_create_finish(MM_MODEM_MESSAGING(source), res, &error);
	if (call->sms == NULL) {
		/* nothing leaves the modem before Send */
		g_autofree gchar *msg = NULL;
		g_dbus_error_strip_remote_error(error);
		msg = g_strdup_printf(_("the modem could not take the message: %s; nothing was "
					"sent"),
				      error->message);
		vb_modem_manager_set_error(self, msg);
		self->failed++;
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE, "%s", msg);
		return;
	}
	if (!vb_modem_manager_upsert(self, call->key, call->local_id, "sending", &error)) {
		g_autofree gchar *msg = g_strdup_printf(
		    _("cannot record the message before sending it: %s"), error->message);
		mm_modem_messaging_delete(call->messaging, mm_sms_get_path(call->sms),
					  self->cancellable, vb_modem_manager_deleted_cb, NULL);
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE, "%s", msg);
		return;
	}
	mm_sms_send(call->sms, self->cancellable, vb_modem_manager_sent_cb, g_steal_pointer(&task));
}

static void
vb_modem_manager_send_async(VbSmsProvider *provider,
			    const VbSmsMessage *message,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data)
{
	VbModemManager *self = VB_MODEM_MANAGER(provider);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(MMSmsProperties) props = NULL;
	g_autofree gchar *local_id = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *generated = NULL;
	g_autofree gchar *to = NULL;
	MMModemMessaging *messaging = vb_modem_manager_messaging(self);
	MMModem *modem = vb_modem_manager_modem(self);
	const gchar *key = message->idempotency_key;
	VbModemManagerCall *call;
	guint n_segments = 0;

	g_task_set_source_tag(task, vb_modem_manager_send_async);
	to = message->to != NULL && message->to[0] == '+' ? vb_modem_manager_sender(message->to)
							  : NULL;
	if (to == NULL) {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_INVALID_DATA, "%s",
					_("the recipient is not an E.164 number"));
		return;
	}
	if (message->body == NULL || message->body[0] == '\0' ||
	    !g_utf8_validate(message->body, -1, NULL) || strlen(message->body) > VB_MM_BODY_MAX) {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_INVALID_DATA,
					_("the message must be UTF-8 text of 1 to %u bytes"),
					(guint)VB_MM_BODY_MAX);
		return;
	}
	if (self->cancellable == NULL || messaging == NULL || modem == NULL) {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE, "%s",
					self->last_error != NULL
					    ? self->last_error
					    : _("there is no modem to send with"));
		return;
	}
	if (mm_modem_get_state(modem) < MM_MODEM_STATE_REGISTERED) {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE,
					_("the modem is not registered on a network (it is %s); "
					  "nothing was sent"),
					mm_modem_state_get_string(mm_modem_get_state(modem)));
		return;
	}
	if (key == NULL || key[0] == '\0')
		key = generated = g_uuid_string_random();
	if (!vb_modem_manager_lookup(self, key, &local_id, &state, &error)) {
		g_task_return_new_error(task, VB_ERROR, VB_ERROR_UNREACHABLE,
					_("cannot read the plugin's table: %s"), error->message);
		return;
	}
	if (g_strcmp0(state, "sent") == 0) {
		g_debug("message %s was already sent; not sending it again", local_id);
		g_task_return_pointer(task, g_steal_pointer(&local_id), g_free);
		return;
	}
	if (g_strcmp0(state, "sending") == 0) {
		vb_modem_manager_settle(self, key, "abandoned");
		g_task_return_new_error(
		    task, VB_ERROR, VB_ERROR_FAILED,
		    _("the modem never confirmed message %s; it may have been sent, and is not "
		      "sent again so that nobody gets it twice. If it did not arrive, retry it "
		      "with vestibulectl outbox retry"),
		    local_id);
		return;
	}

	call = g_new0(VbModemManagerCall, 1);
	call->key = g_strdup(key);
	call->local_id = vb_modem_manager_new_id();
	call->masked = vb_mask_phone(message->to);
	call->messaging = g_object_ref(messaging);
	g_task_set_task_data(task, call, (GDestroyNotify)vb_modem_manager_call_free);
	/* ModemManager picks GSM-7 or UCS-2 itself; the count is for the log */
	vb_sms_text_get_encoding(message->body, &n_segments, NULL);
	g_debug("sending message %s to %s, %u segment(s)", call->local_id, call->masked,
		n_segments);

	props = mm_sms_properties_new();
	mm_sms_properties_set_number(props, message->to);
	mm_sms_properties_set_text(props, message->body);
	if (self->validity_min > 0)
		mm_sms_properties_set_validity_relative(props, (guint)self->validity_min);
	mm_sms_properties_set_delivery_report_request(props, self->reports);
	mm_modem_messaging_create(messaging, props, self->cancellable, vb_modem_manager_created_cb,
				  g_steal_pointer(&task));
}

static gchar *
vb_modem_manager_send_finish(VbSmsProvider *provider, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, provider), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* ------------------------------------------------------------------------ */
/* life cycle                                                                */
/* ------------------------------------------------------------------------ */

static gboolean
vb_modem_manager_prepare_store(VbModemManager *self, GError **error)
{
	VbStore *store = vb_modem_manager_get_store(self);
	g_autofree gchar *table = NULL;
	g_autofree gchar *sql_prune = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;

	if (store == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
				    _("the daemon has no store; modemmanager needs one"));
		return FALSE;
	}
	if (!vb_store_ensure_namespace(store, VB_MM_NAMESPACE, vb_modem_manager_migrations, error))
		return FALSE;
	/* only the table name, which the core gives, is put into the SQL */
	table = vb_store_namespace_table(VB_MM_NAMESPACE, "messages");
	self->sql_lookup = g_strdup_printf("SELECT local_id, state FROM %s "
					   "WHERE instance = ?1 AND idempotency_key = ?2",
					   table);
	self->sql_upsert = g_strdup_printf(
	    "INSERT INTO %s (instance, idempotency_key, local_id, state, created, updated) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (instance, idempotency_key) "
	    "DO UPDATE SET local_id = ?3, state = ?4, updated = ?5",
	    table);
	self->sql_settle = g_strdup_printf("UPDATE %s SET state = ?3, updated = ?4 "
					   "WHERE instance = ?1 AND idempotency_key = ?2",
					   table);
	sql_prune = g_strdup_printf("DELETE FROM %s WHERE instance = ?1 AND updated < ?2", table);
	stmt = vb_store_prepare(store, sql_prune, error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_text(stmt, 1, vb_plugin_get_name(VB_PLUGIN(self)));
	vb_store_stmt_bind_int64(stmt, 2,
				 g_get_real_time() - (gint64)VB_MM_KEEP_DAYS * G_TIME_SPAN_DAY);
	return vb_store_stmt_exec(stmt, error);
}

static void
vb_modem_manager_read_settings(VbModemManager *self)
{
	VbPlugin *plugin = VB_PLUGIN(self);

	g_free(self->wanted);
	self->wanted = g_strdup(vb_plugin_get_string(plugin, "modem"));
	self->enable = vb_plugin_get_boolean(plugin, "enable-modem");
	self->validity_min = vb_plugin_get_int(plugin, "validity-minutes");
	self->reports = vb_plugin_get_boolean(plugin, "delivery-reports");
}

static gboolean
vb_modem_manager_startup(VbPlugin *plugin, GError **error)
{
	VbModemManager *self = VB_MODEM_MANAGER(plugin);

	if (!vb_modem_manager_prepare_store(self, error)) {
		g_prefix_error(error, "%s", _("cannot prepare the plugin's table: "));
		return FALSE;
	}
	vb_modem_manager_read_settings(self);
	self->cancellable = g_cancellable_new();
	vb_modem_manager_set_error(self, _("connecting to ModemManager"));
	vb_modem_manager_connect(self);
	return TRUE;
}

static void
vb_modem_manager_stop(VbModemManager *self)
{
	if (self->cancellable != NULL)
		g_cancellable_cancel(self->cancellable);
	if (self->reconnect != NULL) {
		g_source_destroy(self->reconnect);
		g_clear_pointer(&self->reconnect, g_source_unref);
	}
	vb_modem_manager_drop_modem(self, _("the plugin stopped"));
	if (self->connection != NULL)
		g_dbus_connection_close(self->connection, NULL, NULL, NULL);
	vb_modem_manager_drop_manager(self);
	g_clear_object(&self->cancellable);
}

static void
vb_modem_manager_shutdown(VbPlugin *plugin)
{
	vb_modem_manager_stop(VB_MODEM_MANAGER(plugin));
}

static gboolean
vb_modem_manager_reload(VbPlugin *plugin, GError **error)
{
	VbModemManager *self = VB_MODEM_MANAGER(plugin);
	g_autofree gchar *before = g_strdup(self->wanted);

	vb_modem_manager_read_settings(self);
	if (g_strcmp0(before, self->wanted) != 0) {
		vb_modem_manager_drop_modem(self, _("another modem was configured"));
		vb_modem_manager_pick(self);
	}
	return TRUE;
}

static void
vb_modem_manager_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	VbModemManager *self = VB_MODEM_MANAGER(plugin);
	MMModem *modem = vb_modem_manager_modem(self);
	MMModem3gpp *modem_3gpp =
	    self->object != NULL ? mm_object_peek_modem_3gpp(self->object) : NULL;
	g_autofree gchar *owner = NULL;

	if (self->manager != NULL)
		owner = g_dbus_object_manager_client_get_name_owner(
		    G_DBUS_OBJECT_MANAGER_CLIENT(self->manager));
	g_variant_builder_add(builder, "{sv}", "modemmanager",
			      g_variant_new_string(owner != NULL ? "running" : "not running"));
	g_variant_builder_add(
	    builder, "{sv}", "modem",
	    g_variant_new_string(modem != NULL ? mm_object_get_path(self->object) : "none"));
	if (modem != NULL) {
		gboolean recent = FALSE;
		g_autofree gchar *model = g_strdup_printf(
		    "%s %s",
		    mm_modem_get_manufacturer(modem) != NULL ? mm_modem_get_manufacturer(modem)
							     : "",
		    mm_modem_get_model(modem) != NULL ? mm_modem_get_model(modem) : "");
		g_variant_builder_add(builder, "{sv}", "model",
				      g_variant_new_string(g_strstrip(model)));
		g_variant_builder_add(
		    builder, "{sv}", "state",
		    g_variant_new_string(mm_modem_state_get_string(mm_modem_get_state(modem))));
		g_variant_builder_add(
		    builder, "{sv}", "signal-percent",
		    g_variant_new_uint32(mm_modem_get_signal_quality(modem, &recent)));
	}
	if (modem_3gpp != NULL) {
		const gchar *op = mm_modem_3gpp_get_operator_name(modem_3gpp);
		g_variant_builder_add(
		    builder, "{sv}", "registration",
		    g_variant_new_string(mm_modem_3gpp_registration_state_get_string(
			mm_modem_3gpp_get_registration_state(modem_3gpp))));
		g_variant_builder_add(builder, "{sv}", "operator",
				      g_variant_new_string(op != NULL ? op : ""));
	}
	g_variant_builder_add(builder, "{sv}", "sent", g_variant_new_uint64(self->sent));
	g_variant_builder_add(builder, "{sv}", "received", g_variant_new_uint64(self->received));
	g_variant_builder_add(builder, "{sv}", "failed", g_variant_new_uint64(self->failed));
	g_variant_builder_add(builder, "{sv}", "delivered", g_variant_new_uint64(self->delivered));
	g_variant_builder_add(builder, "{sv}", "undelivered",
			      g_variant_new_uint64(self->undelivered));
	g_variant_builder_add(builder, "{sv}", "reports-awaited",
			      g_variant_new_uint32(g_hash_table_size(self->awaiting)));
	if (self->last_error != NULL)
		g_variant_builder_add(builder, "{sv}", "last-error",
				      g_variant_new_string(self->last_error));
}

static void
vb_modem_manager_sms_provider_iface_init(VbSmsProviderInterface *iface)
{
	iface->send_async = vb_modem_manager_send_async;
	iface->send_finish = vb_modem_manager_send_finish;
}

static void
vb_modem_manager_dispose(GObject *object)
{
	vb_modem_manager_stop(VB_MODEM_MANAGER(object));
	G_OBJECT_CLASS(vb_modem_manager_parent_class)->dispose(object);
}

static void
vb_modem_manager_finalize(GObject *object)
{
	VbModemManager *self = VB_MODEM_MANAGER(object);

	g_hash_table_unref(self->receiving);
	g_hash_table_unref(self->awaiting);
	g_free(self->wanted);
	g_free(self->sql_lookup);
	g_free(self->sql_upsert);
	g_free(self->sql_settle);
	g_free(self->last_error);
	G_OBJECT_CLASS(vb_modem_manager_parent_class)->finalize(object);
}

static void
vb_modem_manager_init(VbModemManager *self)
{
	self->receiving = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
	self->awaiting = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					       (GDestroyNotify)vb_modem_manager_report_free);
}

static void
vb_modem_manager_class_init(VbModemManagerClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);

	object_class->dispose = vb_modem_manager_dispose;
	object_class->finalize = vb_modem_manager_finalize;
	plugin_class->startup = vb_modem_manager_startup;
	plugin_class->shutdown = vb_modem_manager_shutdown;
	plugin_class->reload = vb_modem_manager_reload;
	plugin_class->get_status = vb_modem_manager_get_status;
	vb_plugin_class_add_settings(plugin_class, vb_modem_manager_settings,
				     G_N_ELEMENTS(vb_modem_manager_settings));
}

VB_PLUGIN_DEFINE(vb_modem_manager_get_type)
