/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n-lib.h>

#include "vb-audit-private.h"
#include "vb-bus-private.h"
#include "vb-card-reader.h"
#include "vb-context-private.h"
#include "vb-control-private.h"
#include "vb-crypto-private.h"
#include "vb-daemon-private.h"
#include "vb-door-lock.h"
#include "vb-error.h"
#include "vb-events.h"
#include "vb-customers-private.h"
#include "vb-host-private.h"
#include "vb-http-server-private.h"
#include "vb-orders-private.h"
#include "vb-outbox-private.h"
#include "vb-replies-private.h"
#include "vb-visit-manager-private.h"
#include "vb-plugin-private.h"
#include "vb-sd-notify-private.h"
#include "vb-store-private.h"
#include "vb-upkeep-private.h"
#include "vb-version.h"

struct _VbDaemon {
	GObject parent_instance;
	gchar *config_path;
	gchar *secrets_path;
	GStrv plugin_dirs;
	VbConfig *config;
	VbStore *store;
	VbBus *bus;
	VbMetrics *metrics;
	VbHttpServer *http;
	VbContext *context;
	VbHost *host;
	VbPluginLoader *loader;
	VbCustomers *customers;
	VbOutbox *outbox;
	VbVisitManager *visits;
	VbReplies *replies;
	VbControl *control;		 /* the control API */
	VbControlVisits *control_visits; /* and its part about the visit */
	GMainLoop *loop;
	guint signals[3]; /* SIGHUP, SIGTERM, SIGINT, from vb_daemon_handle_signals() */
	GSource *watchdog;
	VbUpkeep *upkeep;  /* the store's integrity check and retention */
	gint64 started_at; /* monotonic */
	gint64 ready_us;
	gboolean running;
	gint exit_status;
	gchar *quarantined; /* where a damaged store was moved at start */
};

G_DEFINE_FINAL_TYPE(VbDaemon, vb_daemon, G_TYPE_OBJECT)

static GVariant *
vb_daemon_get_status(VbDaemon *self);
static GVariant *
vb_daemon_get_doors(VbDaemon *self);

static VbConfig *
vb_daemon_load_config(VbDaemon *self, GPtrArray *warnings, GError **error)
{
	g_autoptr(VbConfig) config = vb_config_new();

	if (!vb_config_load(config, self->config_path, error))
		return NULL;
	if (!vb_config_load_secrets(config, self->secrets_path, error))
		return NULL;
	if (!vb_config_validate(config, warnings, error))
		return NULL;
	return g_steal_pointer(&config);
}

/* the version and the plugin ABI, as `vestibuled --version` gives them: a gauge
 * of 1, as Prometheus's own *_build_info, for queries and alerts to join on */
static void
vb_daemon_set_build_info(VbDaemon *self)
{
	g_autofree gchar *labels = vb_metrics_labels(
	    "version", PACKAGE_VERSION, "abi",
	    G_STRINGIFY(VB_PLUGIN_ABI_MAJOR) "." G_STRINGIFY(VB_PLUGIN_ABI_MINOR), NULL);

	vb_metrics_declare(self->metrics, "vestibule_build_info", VB_METRIC_GAUGE,
			   "The version of vestibuled and its plugin ABI, as labels; always 1");
	vb_metrics_set(self->metrics, "vestibule_build_info", labels, 1);
}

/* the plugin instances by state, for /metrics */
static void
vb_daemon_update_plugin_metrics(VbDaemon *self)
{
	g_autoptr(GVariant) instances = vb_plugin_loader_to_variant(self->loader);
	const gchar *states[] = {"running", "disabled", "stopped", "loaded"};
	guint counts[G_N_ELEMENTS(states)] = {0};
	GVariantIter iter;
	GVariant *inst;

	g_variant_iter_init(&iter, instances);
	while ((inst = g_variant_iter_next_value(&iter)) != NULL) {
		const gchar *state = NULL;
		g_variant_lookup(inst, "state", "&s", &state);
		for (guint i = 0; i < G_N_ELEMENTS(states); i++) {
			if (g_strcmp0(state, states[i]) == 0)
				counts[i]++;
		}
		g_variant_unref(inst);
	}
	for (guint i = 0; i < G_N_ELEMENTS(states); i++) {
		g_autofree gchar *labels = vb_metrics_labels("state", states[i], NULL);
		vb_metrics_set(self->metrics, "vestibule_plugin_instances", labels, counts[i]);
	}
}

static void
vb_daemon_plugin_state_cb(VbBus *bus, VbEvent *event, gpointer user_data)
{
	VbDaemon *self = VB_DAEMON(user_data);
	/* during start-up and reload the loader is still filling its list */
	if (self->running)
		vb_daemon_update_plugin_metrics(self);
}

static void
vb_daemon_log_warnings(GPtrArray *warnings)
{
	for (guint i = 0; i < warnings->len; i++)
		g_warning("%s", (const gchar *)g_ptr_array_index(warnings, i));
}

static GVariant *
vb_daemon_control_status_cb(gpointer user_data)
{
	return vb_daemon_get_status(VB_DAEMON(user_data));
}

static GVariant *
vb_daemon_control_doors_cb(gpointer user_data)
{
	return vb_daemon_get_doors(VB_DAEMON(user_data));
}

static gboolean
vb_daemon_control_reload_cb(gpointer user_data, GError **error)
{
	return vb_daemon_reload(VB_DAEMON(user_data), error);
}

/* what the control API answers from: the services started so far, and the
 * daemon's own answers; it calls nothing else of the daemon */
static void
vb_daemon_control_services(VbDaemon *self, VbControlServices *services)
{
	*services = (VbControlServices){
	    .context = self->context,
	    .loader = self->loader,
	    .host = self->host,
	    .get_status = vb_daemon_control_status_cb,
	    .get_doors = vb_daemon_control_doors_cb,
	    .reload = vb_daemon_control_reload_cb,
	    .user_data = self,
	    .customers = self->customers,
	    .outbox = self->outbox,
	    .visits = self->visits,
	};
}

static gboolean
vb_daemon_open_store(VbDaemon *self, GError **error)
{
	const gchar *state_dir = vb_config_get_string(self->config, "vestibule", "state-dir");
	g_autofree gchar *path = g_build_filename(state_dir, "vestibule.db", NULL);
	g_autoptr(GError) error_local = NULL;

	self->store = vb_store_new();
	if (vb_store_open(self->store, path, &error_local))
		return TRUE;
	if (!g_error_matches(error_local, VB_ERROR, VB_ERROR_STORE_CORRUPT)) {
		/* the store's message names the file already */
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	/* the damaged file was moved aside, never wiped: start on a new one, loudly */
	g_warning("%s", error_local->message);
	g_clear_error(&error_local);
	self->quarantined = g_strdup(vb_store_get_quarantined_path(self->store));
	if (!vb_store_open(self->store, path, error)) {
		g_prefix_error(error, "cannot create a new store %s: ", path);
		return FALSE;
	}
	return TRUE;
}

static gboolean
vb_daemon_visits_idle_cb(gpointer user_data)
{
	VbDaemon *self = VB_DAEMON(user_data);
	return self->visits == NULL || vb_visit_manager_is_idle(self->visits);
}

static gboolean
vb_daemon_watchdog_cb(gpointer user_data)
{
	/* this only runs when the main loop turns: a stuck loop starves the
	 * watchdog and systemd restarts the daemon */
	vb_sd_notify("WATCHDOG=1", NULL);
	return G_SOURCE_CONTINUE;
}

static void
vb_daemon_setup_watchdog(VbDaemon *self)
{
	guint64 usec = vb_sd_watchdog_usec();

	if (usec == 0)
		return;
	self->watchdog = g_timeout_source_new((guint)(usec / 2000));
	g_source_set_callback(self->watchdog, vb_daemon_watchdog_cb, self, NULL);
	g_source_set_static_name(self->watchdog, "[vestibule] watchdog");
	g_source_attach(self->watchdog, NULL);
	g_debug("feeding the systemd watchdog every %" G_GUINT64_FORMAT " ms", usec / 2000);
}

gboolean
vb_daemon_start(VbDaemon *self, GError **error)
{
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) unloadable = NULL;
	g_autoptr(GHashTable) resolved = NULL;
	g_autoptr(GError) error_local = NULL;
	const gchar *public_url;
	VbControlServices services;
	GVariantDict dict;

	g_return_val_if_fail(VB_IS_DAEMON(self), FALSE);

	if (!vb_crypto_init(error))
		return FALSE;
	self->config = vb_daemon_load_config(self, warnings, error);
	if (self->config == NULL)
		return FALSE;
	vb_daemon_log_warnings(warnings);

	if (!vb_daemon_open_store(self, error))
		return FALSE;
	self->bus = vb_bus_new(NULL);
	self->metrics = vb_metrics_new();
	vb_daemon_set_build_info(self);
	self->http = vb_http_server_new(self->store, self->metrics);
	vb_http_server_set_limits(
	    self->http, (gsize)vb_config_get_int(self->config, "http", "max-body-bytes"),
	    (gsize)vb_config_get_int(self->config, "http", "max-header-bytes"));
	self->context = vb_context_new(self->bus, self->store, self->http, self->metrics);
	self->host = vb_host_new(self->context);
	if (!vb_host_set_config(self->host, self->config, error))
		return FALSE;
	vb_host_start_audit(self->host);

	if (!vb_http_server_listen_control(
		self->http, vb_config_get_string(self->config, "http", "control-socket"), 0660,
		error))
		return FALSE;
	if (!vb_http_server_listen_public(
		self->http, vb_config_get_string(self->config, "http", "address"),
		(guint)vb_config_get_int(self->config, "http", "port"), error))
		return FALSE;
	public_url = vb_config_get_string(self->config, "http", "public-url");
	if (public_url != NULL && public_url[0] != '\0') {
		vb_http_server_set_public_url(self->http, public_url);
	} else {
		g_autofree gchar *url = g_strdup_printf(
		    "http://%s:%u", vb_config_get_string(self->config, "http", "address"),
		    vb_http_server_get_public_port(self->http));
		vb_http_server_set_public_url(self->http, url);
	}
	/* the loader is made before the control API, which lists its instances;
	 * until it resolves the plugins it only holds its directories */
	self->loader = vb_plugin_loader_new(self->context, (const gchar *const *)self->plugin_dirs);
	vb_daemon_control_services(self, &services);
	self->control = vb_control_register(self->http, &services);

	if (self->quarantined != NULL) {
		vb_context_alert(self->context, VB_ALERT_CRITICAL, NULL,
				 "the store failed its integrity check and was moved to %s; a new "
				 "store was started: restore from backup or contact support",
				 self->quarantined);
	}

	unloadable = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_ptr_array_set_size(warnings, 0);
	resolved =
	    vb_plugin_loader_resolve(self->loader, self->config, unloadable, warnings, error);
	if (resolved == NULL)
		return FALSE;
	vb_daemon_log_warnings(warnings);
	vb_plugin_loader_start(self->loader, self->config, resolved, unloadable);

	/* the visit: its services start after the plugins they drive, and the
	 * outbox last, once every kind it carries has its handler */
	self->customers = vb_customers_new(self->context, self->host);
	self->outbox = vb_outbox_new(self->store, self->metrics);
	vb_outbox_set_context(self->outbox, self->context);
	self->visits = vb_visit_manager_new(self->context, self->host, self->loader,
					    self->customers, self->outbox);
	vb_visit_manager_set_config(self->visits, self->config);
	self->replies = vb_replies_new(self->context, self->customers, self->outbox);
	vb_replies_set_config(self->replies, self->config);
	vb_visit_manager_start(self->visits);
	vb_replies_start(self->replies);
	vb_outbox_start(self->outbox);
	vb_orders_register(self->http, self->visits);
	vb_daemon_control_services(self, &services);
	self->control_visits = vb_control_visits_register(self->http, &services);

	/* the integrity check and retention run at idle, after ready */
	self->upkeep = vb_upkeep_new(self->context, self->metrics);
	vb_upkeep_set_config(self->upkeep, self->config);
	vb_upkeep_set_outbox(self->upkeep, self->outbox);
	vb_upkeep_set_idle_func(self->upkeep, vb_daemon_visits_idle_cb, self);
	vb_upkeep_start(self->upkeep);

	self->running = TRUE;
	self->ready_us = g_get_monotonic_time() - self->started_at;
	vb_metrics_declare(self->metrics, "vestibule_plugin_instances", VB_METRIC_GAUGE,
			   "Plugin instances, by state");
	vb_metrics_declare(self->metrics, "vestibule_startup_duration_seconds", VB_METRIC_GAUGE,
			   "Time from process start to ready, in seconds");
	vb_metrics_set(self->metrics, "vestibule_startup_duration_seconds", NULL,
		       self->ready_us / 1e6);
	vb_daemon_update_plugin_metrics(self);
	g_signal_connect(self->bus, "event::" VB_EVENT_PLUGIN_STATE,
			 G_CALLBACK(vb_daemon_plugin_state_cb), self);
	vb_daemon_setup_watchdog(self);
	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, VB_KEY_DURATION_MS, "x", self->ready_us / 1000);
	vb_bus_emit_simple(self->bus, NULL, NULL, VB_EVENT_DAEMON_READY, g_variant_dict_end(&dict));
	g_message("ready in %.1f ms; public API at %s", self->ready_us / 1000.0,
		  vb_http_server_get_public_url(self->http));
	if (!vb_sd_notify("READY=1\nSTATUS=ready", &error_local))
		g_warning("%s", error_local->message);
	return TRUE;
}

static gboolean
vb_daemon_http_changed(VbConfig *old, VbConfig *new)
{
	static const gchar *keys[] = {"address", "control-socket", "public-url"};
	for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
		if (g_strcmp0(vb_config_get_string(old, "http", keys[i]),
			      vb_config_get_string(new, "http", keys[i])) != 0)
			return TRUE;
	}
	return vb_config_get_int(old, "http", "port") != vb_config_get_int(new, "http", "port");
}

static void
vb_daemon_emit_reloaded(VbDaemon *self, const GError *error)
{
	GVariantDict dict;

	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, VB_KEY_STATE, "s", error == NULL ? "applied" : "rejected");
	if (error != NULL)
		g_variant_dict_insert(&dict, VB_KEY_ERROR, "s", error->message);
	vb_bus_emit_simple(self->bus, NULL, NULL, VB_EVENT_CONFIG_RELOADED,
			   g_variant_dict_end(&dict));
}

static gboolean
vb_daemon_reload_internal(VbDaemon *self, GError **error)
{
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(VbConfig) config = NULL;
	g_autoptr(GHashTable) unloadable = NULL;
	g_autoptr(GHashTable) resolved = NULL;
	g_autoptr(VbConfig) old = NULL;

	config = vb_daemon_load_config(self, warnings, error);
	if (config == NULL)
		return FALSE;
	unloadable = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	resolved = vb_plugin_loader_resolve(self->loader, config, unloadable, warnings, error);
	if (resolved == NULL)
		return FALSE;
	old = g_object_ref(self->config);
	if (!vb_host_set_config(self->host, config, error))
		return FALSE;
	if (!vb_plugin_loader_apply(self->loader, config, resolved, unloadable, error)) {
		/* the instances kept their settings; the context goes back too */
		vb_host_set_config(self->host, old, NULL);
		return FALSE;
	}
	vb_daemon_log_warnings(warnings);
	if (vb_daemon_http_changed(old, config))
		g_warning("changes to the [http] listeners take effect at the next restart");
	g_set_object(&self->config, config);
	vb_visit_manager_set_config(self->visits, config);
	vb_replies_set_config(self->replies, config);
	vb_upkeep_set_config(self->upkeep, config);
	return TRUE;
}

gboolean
vb_daemon_reload(VbDaemon *self, GError **error)
{
	g_autoptr(GError) error_local = NULL;

	g_return_val_if_fail(VB_IS_DAEMON(self), FALSE);

	vb_sd_notify("RELOADING=1", NULL);
	if (!vb_daemon_reload_internal(self, &error_local)) {
		g_warning("configuration reload rejected, the running configuration stays: %s",
			  error_local->message);
		vb_daemon_emit_reloaded(self, error_local);
		vb_sd_notify("READY=1\nSTATUS=reload rejected", NULL);
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	g_message("configuration reloaded");
	vb_daemon_update_plugin_metrics(self);
	vb_daemon_emit_reloaded(self, NULL);
	vb_sd_notify("READY=1\nSTATUS=ready", NULL);
	return TRUE;
}

void
vb_daemon_stop(VbDaemon *self)
{
	g_return_if_fail(VB_IS_DAEMON(self));

	if (!self->running)
		return;
	self->running = FALSE;
	vb_sd_notify("STOPPING=1", NULL);
	if (self->watchdog != NULL) {
		g_source_destroy(self->watchdog);
		g_clear_pointer(&self->watchdog, g_source_unref);
	}
	if (self->upkeep != NULL)
		vb_upkeep_stop(self->upkeep);
	/* no new work comes in; what is in flight stays in the store for the next start */
	if (self->http != NULL && self->visits != NULL)
		vb_orders_unregister(self->http);
	g_clear_pointer(&self->control_visits, vb_control_visits_unregister);
	if (self->visits != NULL)
		vb_visit_manager_stop(self->visits);
	if (self->replies != NULL)
		vb_replies_stop(self->replies);
	if (self->outbox != NULL)
		vb_outbox_stop(self->outbox);
	/* plugins leave doors in their defined state before anything else goes */
	if (self->loader != NULL)
		vb_plugin_loader_stop(self->loader);
	g_clear_pointer(&self->control, vb_control_unregister);
	if (self->http != NULL)
		vb_http_server_disconnect(self->http);
	if (self->bus != NULL) {
		vb_bus_flush(self->bus);
		g_signal_handlers_disconnect_by_data(self->bus, self);
	}
	if (self->host != NULL)
		vb_host_flush_audit(self->host);
	/* closed here, not when the last reference goes (a check still running
	 * in its thread holds one): a clean stop gives the store's lock back and
	 * removes its marker, so that the next start does not check it */
	if (self->store != NULL) {
		vb_store_checkpoint(self->store, NULL);
		vb_store_close(self->store);
	}
	g_message("stopped");
}

static gboolean
vb_daemon_sighup_cb(gpointer user_data)
{
	VbDaemon *self = VB_DAEMON(user_data);
	vb_daemon_reload(self, NULL);
	return G_SOURCE_CONTINUE;
}

static gboolean
vb_daemon_sigterm_cb(gpointer user_data)
{
	VbDaemon *self = VB_DAEMON(user_data);
	g_main_loop_quit(self->loop);
	return G_SOURCE_CONTINUE;
}

void
vb_daemon_handle_signals(VbDaemon *self)
{
	g_return_if_fail(VB_IS_DAEMON(self));

	if (self->signals[0] != 0)
		return;
	if (self->loop == NULL)
		self->loop = g_main_loop_new(NULL, FALSE);
	self->signals[0] = g_unix_signal_add(SIGHUP, vb_daemon_sighup_cb, self);
	self->signals[1] = g_unix_signal_add(SIGTERM, vb_daemon_sigterm_cb, self);
	self->signals[2] = g_unix_signal_add(SIGINT, vb_daemon_sigterm_cb, self);
}

gint
vb_daemon_run(VbDaemon *self)
{
	g_return_val_if_fail(VB_IS_DAEMON(self), 1);

	vb_daemon_handle_signals(self);
	g_main_loop_run(self->loop);
	for (guint i = 0; i < G_N_ELEMENTS(self->signals); i++) {
		if (self->signals[i] != 0)
			g_source_remove(self->signals[i]);
		self->signals[i] = 0;
	}
	vb_daemon_stop(self);
	return self->exit_status;
}

VbContext *
vb_daemon_get_context(VbDaemon *self)
{
	return self->context;
}

VbConfig *
vb_daemon_get_config(VbDaemon *self)
{
	return self->config;
}

VbPluginLoader *
vb_daemon_get_loader(VbDaemon *self)
{
	return self->loader;
}

VbVisitManager *
vb_daemon_get_visit_manager(VbDaemon *self)
{
	return self->visits;
}

VbOutbox *
vb_daemon_get_outbox(VbDaemon *self)
{
	return self->outbox;
}

VbCustomers *
vb_daemon_get_customers(VbDaemon *self)
{
	return self->customers;
}

static const gchar *vb_door_role_keys[] = {"reader", "lock", "keypad", "display"};

static GVariant *
vb_daemon_get_doors(VbDaemon *self)
{
	g_auto(GStrv) groups = vb_config_get_groups(self->config);
	g_auto(GStrv) loyalty = NULL;
	GVariantBuilder doors;
	GVariantDict services;

	g_variant_builder_init(&doors, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; groups[i] != NULL; i++) {
		GVariantDict door;
		g_autoptr(GPtrArray) missing = g_ptr_array_new();
		if (!g_str_has_prefix(groups[i], "door:"))
			continue;
		g_variant_dict_init(&door, NULL);
		g_variant_dict_insert(&door, "name", "s", groups[i] + strlen("door:"));
		for (guint j = 0; j < G_N_ELEMENTS(vb_door_role_keys); j++) {
			const gchar *inst =
			    vb_config_get_string(self->config, groups[i], vb_door_role_keys[j]);
			VbPlugin *plugin = NULL;
			if (inst != NULL && inst[0] != '\0') {
				g_variant_dict_insert(&door, vb_door_role_keys[j], "s", inst);
				plugin = vb_plugin_loader_get_instance(self->loader, inst);
			}
			if (plugin == NULL ||
			    vb_plugin_get_state(plugin) != VB_PLUGIN_STATE_RUNNING)
				g_ptr_array_add(missing, (gpointer)vb_door_role_keys[j]);
			if (plugin != NULL && VB_IS_CARD_READER(plugin) &&
			    vb_plugin_get_state(plugin) == VB_PLUGIN_STATE_RUNNING) {
				g_autoptr(GVariant) last =
				    vb_card_reader_get_last_read(VB_CARD_READER(plugin));
				g_variant_dict_insert(
				    &door, "reader-state", "s",
				    vb_reader_state_to_string(
					vb_card_reader_get_state(VB_CARD_READER(plugin))));
				if (last != NULL)
					g_variant_dict_insert_value(&door, "last-read", last);
			}
			if (plugin != NULL && VB_IS_DOOR_LOCK(plugin) &&
			    vb_plugin_get_state(plugin) == VB_PLUGIN_STATE_RUNNING) {
				VbDoorLock *lock = VB_DOOR_LOCK(plugin);
				g_variant_dict_insert(&door, "locked", "b",
						      vb_door_lock_is_locked(lock));
				g_variant_dict_insert(
				    &door, "door-state", "s",
				    vb_door_state_to_string(vb_door_lock_get_door_state(lock)));
			}
		}
		/* a door without a working reader or lock cannot serve anyone: it stays shut */
		g_variant_dict_insert(&door, "state", "s",
				      missing->len == 0 ? "ready" : "unavailable");
		g_variant_dict_insert_value(
		    &door, "missing",
		    g_variant_new_strv((const gchar *const *)missing->pdata, (gssize)missing->len));
		g_variant_builder_add_value(&doors, g_variant_dict_end(&door));
	}
	g_variant_dict_init(&services, NULL);
	g_variant_dict_insert(&services, "sms", "s",
			      vb_config_get_string(self->config, "services", "sms"));
	g_variant_dict_insert(&services, "sms-fallback", "s",
			      vb_config_get_string(self->config, "services", "sms-fallback"));
	g_variant_dict_insert(&services, "payment", "s",
			      vb_config_get_string(self->config, "services", "payment"));
	loyalty = vb_config_get_string_list(self->config, "services", "loyalty");
	g_variant_dict_insert_value(
	    &services, "loyalty",
	    g_variant_new_strv((const gchar *const *)loyalty, loyalty != NULL ? -1 : 0));
	return g_variant_new_parsed("{'doors': <%v>, 'services': <%v>}",
				    g_variant_builder_end(&doors), g_variant_dict_end(&services));
}

static GVariant *
vb_daemon_get_status(VbDaemon *self)
{
	GVariantDict dict;
	g_autoptr(GVariant) instances = vb_plugin_loader_to_variant(self->loader);
	GPtrArray *files = vb_config_get_files(self->config);
	GVariantIter iter;
	GVariant *inst;
	guint running = 0, disabled = 0;

	g_variant_iter_init(&iter, instances);
	while ((inst = g_variant_iter_next_value(&iter)) != NULL) {
		const gchar *state = NULL;
		g_variant_lookup(inst, "state", "&s", &state);
		if (g_strcmp0(state, "running") == 0)
			running++;
		else
			disabled++;
		g_variant_unref(inst);
	}

	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, "version", "s", PACKAGE_VERSION);
	g_variant_dict_insert(&dict, "pid", "x", (gint64)getpid());
	g_variant_dict_insert(&dict, "uptime-s", "x",
			      (g_get_monotonic_time() - self->started_at) / G_USEC_PER_SEC);
	g_variant_dict_insert(&dict, "ready-ms", "d", self->ready_us / 1000.0);
	g_variant_dict_insert(&dict, "store-name", "s", vb_context_get_store_name(self->context));
	g_variant_dict_insert(&dict, "store-path", "s", vb_store_get_path(self->store));
	g_variant_dict_insert(&dict, "schema-version", "u",
			      vb_store_get_schema_version(self->store));
	if (self->quarantined != NULL)
		g_variant_dict_insert(&dict, "store-quarantined", "s", self->quarantined);
	if (self->upkeep != NULL)
		g_variant_dict_insert_value(&dict, "store", vb_upkeep_get_status(self->upkeep));
	g_variant_dict_insert_value(
	    &dict, "config-files",
	    g_variant_new_strv((const gchar *const *)files->pdata, (gssize)files->len));
	g_variant_dict_insert(&dict, "public-url", "s", vb_http_server_get_public_url(self->http));
	g_variant_dict_insert(&dict, "plugins-running", "u", running);
	g_variant_dict_insert(&dict, "plugins-disabled", "u", disabled);
	g_variant_dict_insert(&dict, "events-emitted", "t", vb_bus_get_emitted(self->bus));
	g_variant_dict_insert_value(&dict, "doors", vb_daemon_get_doors(self));
	if (self->outbox != NULL) {
		g_autoptr(GVariant) health = vb_outbox_get_health(self->outbox);
		g_variant_dict_insert_value(&dict, "outbox", health);
	}
	/* each instance's own figures: a reader's device, a modem's signal */
	g_variant_dict_insert_value(&dict, "instances", g_steal_pointer(&instances));
	return g_variant_dict_end(&dict);
}

static void
vb_daemon_dispose(GObject *object)
{
	VbDaemon *self = VB_DAEMON(object);

	vb_daemon_stop(self);
	/* registered by a start that failed further on, which stop leaves alone */
	g_clear_pointer(&self->control_visits, vb_control_visits_unregister);
	g_clear_pointer(&self->control, vb_control_unregister);
	g_clear_object(&self->upkeep);
	g_clear_object(&self->replies);
	g_clear_object(&self->visits);
	g_clear_object(&self->outbox);
	g_clear_object(&self->customers);
	g_clear_object(&self->loader);
	g_clear_object(&self->host);
	g_clear_object(&self->context);
	g_clear_object(&self->http);
	g_clear_object(&self->metrics);
	g_clear_object(&self->bus);
	g_clear_object(&self->store);
	g_clear_object(&self->config);
	g_clear_pointer(&self->loop, g_main_loop_unref);
	G_OBJECT_CLASS(vb_daemon_parent_class)->dispose(object);
}

static void
vb_daemon_finalize(GObject *object)
{
	VbDaemon *self = VB_DAEMON(object);

	g_free(self->config_path);
	g_free(self->secrets_path);
	g_free(self->quarantined);
	g_strfreev(self->plugin_dirs);
	G_OBJECT_CLASS(vb_daemon_parent_class)->finalize(object);
}

static void
vb_daemon_class_init(VbDaemonClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = vb_daemon_dispose;
	object_class->finalize = vb_daemon_finalize;
}

static void
vb_daemon_init(VbDaemon *self)
{
	self->started_at = g_get_monotonic_time();
}

VbDaemon *
vb_daemon_new(const gchar *config_path, const gchar *secrets_path, const gchar *const *plugin_dirs)
{
	VbDaemon *self = g_object_new(VB_TYPE_DAEMON, NULL);

	self->config_path =
	    g_strdup(config_path != NULL ? config_path : VB_SYSCONFDIR "/vestibule.conf");
	self->secrets_path = g_strdup(secrets_path);
	self->plugin_dirs = plugin_dirs != NULL ? g_strdupv((gchar **)plugin_dirs)
						: vb_plugin_loader_default_dirs();
	return self;
}
