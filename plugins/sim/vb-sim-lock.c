/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <inttypes.h>

#include <glib/gi18n-lib.h>

#include "vb-sim-common.h"

/*
 * sim-lock plays an electric strike with a door contact. The core drives the
 * lock through VbDoorLock; control requests play the shopper pushing the door
 * and the request-to-exit button. Alarms are raised as the GPIO plugin does.
 */

#define VB_TYPE_SIM_LOCK (vb_sim_lock_get_type())
G_DECLARE_FINAL_TYPE(VbSimLock, vb_sim_lock, VB, SIM_LOCK, VbPlugin)

struct _VbSimLock {
	VbPlugin parent_instance;
	VbSimRoutes *routes;
	gboolean locked;
	VbDoorState door;
	GSource *relock_source;
	GSource *held_open_source;
	gint64 held_open_s;
	gboolean fail_safe;
	guint64 alarms;
};

static void
vb_sim_lock_door_lock_iface_init(VbDoorLockInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(VbSimLock,
			      vb_sim_lock,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_DOOR_LOCK,
						    vb_sim_lock_door_lock_iface_init))

static const VbSettingSpec vb_sim_lock_settings[] = {
    {
	.key = "held-open-s",
	.type = VB_SETTING_INT,
	.default_value = "30",
	.min = 1,
	.max = 3600,
	.blurb = N_("How long the door may stay open before the held-open alarm, in seconds"),
    },
    {
	.key = "fail-mode",
	.type = VB_SETTING_STRING,
	.default_value = "fail-secure",
	.blurb = N_("What the lock does without power: fail-secure or fail-safe"),
    },
};

static void
vb_sim_lock_clear_source(GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

static GSource *
vb_sim_lock_add_timeout(VbSimLock *self, guint ms, const gchar *name, GSourceFunc func)
{
	GSource *source = g_timeout_source_new(ms);
	g_source_set_name(source, name);
	g_source_set_callback(source, func, self, NULL);
	g_source_attach(source, g_main_context_get_thread_default());
	return source;
}

/* engages the lock; emits door-locked when it was released */
static void
vb_sim_lock_engage(VbSimLock *self)
{
	vb_sim_lock_clear_source(&self->relock_source);
	if (self->locked)
		return;
	self->locked = TRUE;
	g_debug("door %s locked", vb_sim_get_door_label(VB_PLUGIN(self)));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_DOOR_LOCKED, NULL);
}

static gboolean
vb_sim_lock_relock_cb(gpointer user_data)
{
	VbSimLock *self = VB_SIM_LOCK(user_data);

	g_clear_pointer(&self->relock_source, g_source_unref);
	vb_sim_lock_engage(self);
	return G_SOURCE_REMOVE;
}

static void
vb_sim_lock_raise_alarm(VbSimLock *self, const gchar *alarm)
{
	GVariantBuilder payload;

	self->alarms++;
	g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&payload, "{sv}", VB_KEY_ALARM, g_variant_new_string(alarm));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_DOOR_ALARM, g_variant_builder_end(&payload));
}

static gboolean
vb_sim_lock_held_open_cb(gpointer user_data)
{
	VbSimLock *self = VB_SIM_LOCK(user_data);

	g_clear_pointer(&self->held_open_source, g_source_unref);
	vb_sim_lock_raise_alarm(self, "held-open");
	vb_context_alert_full(vb_plugin_get_context(VB_PLUGIN(self)), VB_ALERT_WARNING,
			      VB_ALERT_KIND_DOOR_HELD_OPEN, vb_plugin_get_name(VB_PLUGIN(self)),
			      vb_sim_get_door_label(VB_PLUGIN(self)), NULL,
			      _("door %s has been held open for more than %" PRId64
				" seconds; check that it is closed"),
			      vb_sim_get_door_label(VB_PLUGIN(self)), self->held_open_s);
	return G_SOURCE_REMOVE;
}

static void
vb_sim_lock_door_opened(VbSimLock *self)
{
	self->door = VB_DOOR_STATE_OPEN;
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_DOOR_OPENED, NULL);
	if (self->locked) {
		vb_sim_lock_raise_alarm(self, "forced-open");
		vb_context_alert_full(vb_plugin_get_context(VB_PLUGIN(self)), VB_ALERT_CRITICAL,
				      VB_ALERT_KIND_DOOR_FORCED_OPEN,
				      vb_plugin_get_name(VB_PLUGIN(self)),
				      vb_sim_get_door_label(VB_PLUGIN(self)), NULL,
				      _("door %s was forced open while locked; check the door "
					"and the store"),
				      vb_sim_get_door_label(VB_PLUGIN(self)));
	}
	vb_sim_lock_clear_source(&self->held_open_source);
	self->held_open_source =
	    vb_sim_lock_add_timeout(self, (guint)(self->held_open_s * 1000), "[sim-lock] held open",
				    vb_sim_lock_held_open_cb);
}

static void
vb_sim_lock_door_closed(VbSimLock *self)
{
	self->door = VB_DOOR_STATE_CLOSED;
	vb_sim_lock_clear_source(&self->held_open_source);
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_DOOR_CLOSED, NULL);
}

static void
vb_sim_lock_reply_state(VbSimLock *self, SoupServerMessage *msg)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "locked");
	json_builder_add_boolean_value(builder, self->locked);
	json_builder_set_member_name(builder, "door");
	json_builder_add_string_value(builder, vb_door_state_to_string(self->door));
	json_builder_end_object(builder);
	vb_sim_reply(msg, SOUP_STATUS_OK, builder);
}

static void
vb_sim_lock_door_cb(VbPlugin *plugin, SoupServerMessage *msg, JsonObject *body, GHashTable *query)
{
	VbSimLock *self = VB_SIM_LOCK(plugin);
	const gchar *allowed[] = {"action", NULL};
	const gchar *action = NULL;
	VbDoorState wanted;
	g_autoptr(GError) error = NULL;

	if (!vb_sim_json_check_members(body, allowed, &error) ||
	    !vb_sim_json_get_string(body, "action", TRUE, &action, &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	if (g_strcmp0(action, "open") == 0) {
		wanted = VB_DOOR_STATE_OPEN;
	} else if (g_strcmp0(action, "close") == 0) {
		wanted = VB_DOOR_STATE_CLOSED;
	} else {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA),
				    _("unknown door action '%s'; expected open or close"), action);
		return;
	}
	/* a contact reports changes only */
	if (self->door == wanted) {
		vb_http_reply_error(msg, SOUP_STATUS_CONFLICT, vb_error_to_code(VB_ERROR_CONFLICT),
				    "%s",
				    wanted == VB_DOOR_STATE_OPEN ? _("the door is already open")
								 : _("the door is already closed"));
		return;
	}
	if (wanted == VB_DOOR_STATE_OPEN)
		vb_sim_lock_door_opened(self);
	else
		vb_sim_lock_door_closed(self);
	vb_sim_lock_reply_state(self, msg);
}

static void
vb_sim_lock_exit_cb(VbPlugin *plugin, SoupServerMessage *msg, JsonObject *body, GHashTable *query)
{
	const gchar *allowed[] = {NULL};
	g_autoptr(GError) error = NULL;

	if (!vb_sim_json_check_members(body, allowed, &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	vb_plugin_emit(plugin, VB_EVENT_EXIT_REQUESTED, NULL);
	vb_sim_lock_reply_state(VB_SIM_LOCK(plugin), msg);
}

static void
vb_sim_lock_state_cb(VbPlugin *plugin, SoupServerMessage *msg, JsonObject *body, GHashTable *query)
{
	vb_sim_lock_reply_state(VB_SIM_LOCK(plugin), msg);
}

static gboolean
vb_sim_lock_load_settings(VbSimLock *self, GError **error)
{
	VbPlugin *plugin = VB_PLUGIN(self);
	const gchar *fail_mode = vb_plugin_get_string(plugin, "fail-mode");

	if (g_strcmp0(fail_mode, "fail-secure") != 0 && g_strcmp0(fail_mode, "fail-safe") != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("fail-mode in [instance:%s] is '%s'; use fail-secure or fail-safe"),
			    vb_plugin_get_name(plugin), fail_mode);
		return FALSE;
	}
	/* nothing is applied before everything is checked */
	self->fail_safe = g_strcmp0(fail_mode, "fail-safe") == 0;
	self->held_open_s = vb_plugin_get_int(plugin, "held-open-s");
	return TRUE;
}

static gboolean
vb_sim_lock_startup(VbPlugin *plugin, GError **error)
{
	VbSimLock *self = VB_SIM_LOCK(plugin);

	if (!vb_sim_lock_load_settings(self, error))
		return FALSE;
	/* the defined state at start: locked and closed, in either fail mode */
	self->locked = TRUE;
	self->door = VB_DOOR_STATE_CLOSED;
	self->routes = vb_sim_routes_new(plugin);
	vb_sim_routes_add(self->routes, SOUP_METHOD_POST, "door", VB_SIM_ROUTE_NONE,
			  vb_sim_lock_door_cb);
	vb_sim_routes_add(self->routes, SOUP_METHOD_POST, "exit", VB_SIM_ROUTE_NONE,
			  vb_sim_lock_exit_cb);
	vb_sim_routes_add(self->routes, SOUP_METHOD_GET, "state", VB_SIM_ROUTE_NONE,
			  vb_sim_lock_state_cb);
	return TRUE;
}

static void
vb_sim_lock_shutdown(VbPlugin *plugin)
{
	VbSimLock *self = VB_SIM_LOCK(plugin);

	g_clear_pointer(&self->routes, vb_sim_routes_free);
	vb_sim_lock_clear_source(&self->held_open_source);
	/* fail-safe and fail-secure describe a power loss; a daemon that stops
	 * in order is not one, so both leave the door locked, and a fail-safe
	 * lock opens only when its power really goes */
	vb_sim_lock_engage(self);
}

static gboolean
vb_sim_lock_reload(VbPlugin *plugin, GError **error)
{
	/* a held-open timer already running keeps its length; the new one applies
	 * from the next opening */
	return vb_sim_lock_load_settings(VB_SIM_LOCK(plugin), error);
}

static void
vb_sim_lock_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	VbSimLock *self = VB_SIM_LOCK(plugin);

	g_variant_builder_add(builder, "{sv}", "locked", g_variant_new_boolean(self->locked));
	g_variant_builder_add(builder, "{sv}", "door",
			      g_variant_new_string(vb_door_state_to_string(self->door)));
	g_variant_builder_add(builder, "{sv}", "fail-mode",
			      g_variant_new_string(self->fail_safe ? "fail-safe" : "fail-secure"));
	g_variant_builder_add(builder, "{sv}", "alarms", g_variant_new_uint64(self->alarms));
}

static gboolean
vb_sim_lock_unlock(VbDoorLock *lock, guint pulse_ms, GError **error)
{
	VbSimLock *self = VB_SIM_LOCK(lock);
	GVariantBuilder payload;

	vb_sim_lock_clear_source(&self->relock_source);
	self->locked = FALSE;
	if (pulse_ms > 0) {
		self->relock_source = vb_sim_lock_add_timeout(self, pulse_ms, "[sim-lock] relock",
							      vb_sim_lock_relock_cb);
	}
	g_debug("door %s unlocked for %u ms", vb_sim_get_door_label(VB_PLUGIN(self)), pulse_ms);
	g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&payload, "{sv}", VB_KEY_DURATION_MS,
			      g_variant_new_int64((gint64)pulse_ms));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_DOOR_UNLOCKED, g_variant_builder_end(&payload));
	return TRUE;
}

static gboolean
vb_sim_lock_lock(VbDoorLock *lock, GError **error)
{
	vb_sim_lock_engage(VB_SIM_LOCK(lock));
	return TRUE;
}

static gboolean
vb_sim_lock_is_locked(VbDoorLock *lock)
{
	return VB_SIM_LOCK(lock)->locked;
}

static VbDoorState
vb_sim_lock_get_door_state(VbDoorLock *lock)
{
	return VB_SIM_LOCK(lock)->door;
}

static void
vb_sim_lock_door_lock_iface_init(VbDoorLockInterface *iface)
{
	iface->unlock = vb_sim_lock_unlock;
	iface->lock = vb_sim_lock_lock;
	iface->is_locked = vb_sim_lock_is_locked;
	iface->get_door_state = vb_sim_lock_get_door_state;
}

static void
vb_sim_lock_dispose(GObject *object)
{
	VbSimLock *self = VB_SIM_LOCK(object);

	g_clear_pointer(&self->routes, vb_sim_routes_free);
	vb_sim_lock_clear_source(&self->relock_source);
	vb_sim_lock_clear_source(&self->held_open_source);
	G_OBJECT_CLASS(vb_sim_lock_parent_class)->dispose(object);
}

static void
vb_sim_lock_init(VbSimLock *self)
{
	self->locked = TRUE;
	self->door = VB_DOOR_STATE_UNKNOWN;
}

static void
vb_sim_lock_class_init(VbSimLockClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);

	object_class->dispose = vb_sim_lock_dispose;
	plugin_class->startup = vb_sim_lock_startup;
	plugin_class->shutdown = vb_sim_lock_shutdown;
	plugin_class->reload = vb_sim_lock_reload;
	plugin_class->get_status = vb_sim_lock_get_status;
	vb_plugin_class_add_settings(plugin_class, vb_sim_lock_settings,
				     G_N_ELEMENTS(vb_sim_lock_settings));
}

VB_PLUGIN_DEFINE(vb_sim_lock_get_type)
