/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n-lib.h>

#include <vestibule.h>

/*
 * keypad reads a keypad that Linux sees as an input device: USB numeric
 * keypads are HID keyboards, and so are most door keypads with a USB output.
 * The device is opened from a configured path (a stable one, such as
 * /dev/input/by-id/…-event-kbd or the udev rule's /dev/input/vestibule-keypad)
 * and grabbed, so that its keys reach no console or other program. Its fd is
 * watched by the main loop; reads never block. When the device goes away
 * (unplugged, or its driver reset) the plugin tries again every reopen-ms
 * until it is back.
 */

#define VB_KEYPAD_READ_MAX 64

#define VB_TYPE_KEYPAD_PLUGIN (vb_keypad_plugin_get_type())
G_DECLARE_FINAL_TYPE(VbKeypadPlugin, vb_keypad_plugin, VB, KEYPAD_PLUGIN, VbPlugin)

struct _VbKeypadPlugin {
	VbPlugin parent_instance;
	gchar *device;
	gboolean want_grab;
	guint reopen_ms;
	GHashTable *keymap; /* code -> VbKeypadKey + 1, from the keymap setting */

	gint fd;
	GSource *fd_source;
	GSource *retry_source;
	gboolean grabbed;
	gboolean grab_told; /* the fall-back was logged once */
	gboolean active;
	gboolean shift;
	gboolean dropping; /* after SYN_DROPPED, until the next SYN_REPORT */
	guint8 partial[sizeof(struct input_event)];
	gsize n_partial;
	gboolean was_present; /* the device was open once: its loss is news */
	gboolean got_input;   /* something was read since the device was opened */
	gchar *last_error;
	guint64 keys;
	guint64 reopens;
};

static void
vb_keypad_plugin_keypad_iface_init(VbKeypadInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(VbKeypadPlugin,
			      vb_keypad_plugin,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_KEYPAD,
						    vb_keypad_plugin_keypad_iface_init))

static const VbSettingSpec vb_keypad_plugin_settings[] = {
    {
	.key = "device",
	.type = VB_SETTING_STRING,
	.default_value = "/dev/input/vestibule-keypad",
	.blurb = N_("The keypad's input device: an absolute path, best a stable one such as "
		    "/dev/input/by-id/…-event-kbd"),
    },
    {
	.key = "grab",
	.type = VB_SETTING_BOOLEAN,
	.default_value = "true",
	.blurb = N_("Whether to take the keypad for vestibuled alone (EVIOCGRAB), so that its "
		    "keys reach no console"),
    },
    {
	.key = "reopen-ms",
	.type = VB_SETTING_INT,
	.default_value = "1000",
	.min = 50,
	.max = 60000,
	.blurb = N_("How often to look for the keypad while it is missing, in milliseconds"),
    },
    {
	.key = "keymap",
	.type = VB_SETTING_STRING_LIST,
	.default_value = "",
	.blurb = N_("Extra key codes, as CODE=KEY items (evtest shows the codes; KEY is 0 to 9, "
		    "erase, cancel, enter, * or #), such as 83=#;111=erase"),
    },
};

/* the keys every keypad gets; shifted main-row keys are handled apart */
static VbKeypadKey
vb_keypad_plugin_builtin(guint code, gboolean shift)
{
	if (shift) {
		/* a keyboard's * and #, as a layout-less keypad sends them */
		if (code == KEY_8)
			return VB_KEYPAD_KEY_STAR;
		if (code == KEY_3)
			return VB_KEYPAD_KEY_HASH;
	}
	switch (code) {
	case KEY_KP0:
	case KEY_NUMERIC_0:
		return VB_KEYPAD_KEY_0;
	case KEY_KP1:
	case KEY_NUMERIC_1:
		return VB_KEYPAD_KEY_1;
	case KEY_KP2:
	case KEY_NUMERIC_2:
		return VB_KEYPAD_KEY_2;
	case KEY_KP3:
	case KEY_NUMERIC_3:
		return VB_KEYPAD_KEY_3;
	case KEY_KP4:
	case KEY_NUMERIC_4:
		return VB_KEYPAD_KEY_4;
	case KEY_KP5:
	case KEY_NUMERIC_5:
		return VB_KEYPAD_KEY_5;
	case KEY_KP6:
	case KEY_NUMERIC_6:
		return VB_KEYPAD_KEY_6;
	case KEY_KP7:
	case KEY_NUMERIC_7:
		return VB_KEYPAD_KEY_7;
	case KEY_KP8:
	case KEY_NUMERIC_8:
		return VB_KEYPAD_KEY_8;
	case KEY_KP9:
	case KEY_NUMERIC_9:
		return VB_KEYPAD_KEY_9;
	case KEY_KPENTER:
	case KEY_ENTER:
		return VB_KEYPAD_KEY_ENTER;
	case KEY_BACKSPACE:
	case KEY_DELETE:
		return VB_KEYPAD_KEY_ERASE;
	case KEY_ESC:
		return VB_KEYPAD_KEY_CANCEL;
	case KEY_KPASTERISK:
	case KEY_NUMERIC_STAR:
		return VB_KEYPAD_KEY_STAR;
	case KEY_NUMERIC_POUND:
		return VB_KEYPAD_KEY_HASH;
	default:
		break;
	}
	/* the main row, unshifted: KEY_1 to KEY_9, then KEY_0 */
	if (!shift && code >= KEY_1 && code <= KEY_9)
		return (VbKeypadKey)(VB_KEYPAD_KEY_1 + (code - KEY_1));
	if (!shift && code == KEY_0)
		return VB_KEYPAD_KEY_0;
	return VB_KEYPAD_KEY_INVALID;
}

static gboolean
vb_keypad_plugin_parse_keymap(VbKeypadPlugin *self, GHashTable **out, GError **error)
{
	const gchar *const *items = vb_plugin_get_string_list(VB_PLUGIN(self), "keymap");
	g_autoptr(GHashTable) map = g_hash_table_new(g_direct_hash, g_direct_equal);

	for (guint i = 0; items != NULL && items[i] != NULL; i++) {
		const gchar *eq = strchr(items[i], '=');
		g_autofree gchar *code_str = NULL;
		guint64 code = 0;
		VbKeypadKey key;

		if (eq == NULL) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
				    _("keymap item '%s' in [instance:%s] has no '='; write "
				      "CODE=KEY, such as 83=#"),
				    items[i], vb_plugin_get_name(VB_PLUGIN(self)));
			return FALSE;
		}
		code_str = g_strndup(items[i], (gsize)(eq - items[i]));
		key = vb_keypad_key_from_string(eq + 1);
		if (!g_ascii_string_to_unsigned(code_str, 10, 1, KEY_MAX, &code, NULL) ||
		    key == VB_KEYPAD_KEY_INVALID) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
				    /* TRANSLATORS: the key names are not translated */
				    _("keymap item '%s' in [instance:%s] is not CODE=KEY: CODE is "
				      "a key code as evtest shows it, KEY one of 0 to 9, erase, "
				      "cancel, enter, * and #"),
				    items[i], vb_plugin_get_name(VB_PLUGIN(self)));
			return FALSE;
		}
		g_hash_table_insert(map, GUINT_TO_POINTER((guint)code),
				    GINT_TO_POINTER((gint)key + 1));
	}
	*out = g_steal_pointer(&map);
	return TRUE;
}

static void
vb_keypad_plugin_set_error(VbKeypadPlugin *self, const gchar *message)
{
	g_free(self->last_error);
	self->last_error = g_strdup(message);
}

static void
vb_keypad_plugin_close_device(VbKeypadPlugin *self)
{
	if (self->fd_source != NULL) {
		g_source_destroy(self->fd_source);
		g_clear_pointer(&self->fd_source, g_source_unref);
	}
	if (self->fd >= 0) {
		/* the grab goes with the fd */
		close(self->fd);
		self->fd = -1;
	}
	self->grabbed = FALSE;
	self->shift = FALSE;
	self->dropping = FALSE;
	self->n_partial = 0;
}

static void
vb_keypad_plugin_schedule_retry(VbKeypadPlugin *self);

static void
vb_keypad_plugin_key(VbKeypadPlugin *self, const struct input_event *ev)
{
	gpointer mapped = NULL;
	VbKeypadKey key;

	if (ev->code == KEY_LEFTSHIFT || ev->code == KEY_RIGHTSHIFT) {
		self->shift = ev->value != 0;
		return;
	}
	/* a press only: 0 is a release, 2 the keyboard's auto-repeat, and a held
	 * key must not type a phone number by itself */
	if (ev->value != 1)
		return;
	if (self->keymap != NULL &&
	    g_hash_table_lookup_extended(self->keymap, GUINT_TO_POINTER((guint)ev->code), NULL,
					 &mapped))
		key = (VbKeypadKey)(GPOINTER_TO_INT(mapped) - 1);
	else
		key = vb_keypad_plugin_builtin(ev->code, self->shift);
	if (key == VB_KEYPAD_KEY_INVALID) {
		g_debug("keypad %s: key code %u is not mapped", vb_plugin_get_name(VB_PLUGIN(self)),
			(guint)ev->code);
		return;
	}
	self->keys++;
	vb_keypad_emit_key(VB_KEYPAD(self), key);
}

static void
vb_keypad_plugin_event(VbKeypadPlugin *self, const struct input_event *ev)
{
	if (ev->type == EV_SYN) {
		if (ev->code == SYN_DROPPED) {
			/* the kernel's buffer overflowed: what follows, until the next
			 * report, is partial; the shift state is not known either */
			self->dropping = TRUE;
			self->shift = FALSE;
		} else if (ev->code == SYN_REPORT) {
			self->dropping = FALSE;
		}
		return;
	}
	if (self->dropping || ev->type != EV_KEY)
		return;
	vb_keypad_plugin_key(self, ev);
}

static gboolean
vb_keypad_plugin_open_device(VbKeypadPlugin *self, GError **error);

/* the device is gone, or its writer: look for it again */
static void
vb_keypad_plugin_lost(VbKeypadPlugin *self, const gchar *why)
{
	gboolean had_input = self->got_input;
	g_autofree gchar *message = NULL;
	g_autoptr(GError) error = NULL;

	vb_keypad_plugin_close_device(self);
	/* a pipe whose writer left opens again at once; a node that keeps failing
	 * before it says anything is retried on the timer, never in a loop */
	if (had_input && vb_keypad_plugin_open_device(self, &error)) {
		g_debug("keypad %s reopened at once (%s)", self->device, why);
		self->reopens++;
		return;
	}
	message = g_strdup_printf(_("keypad %s went away (%s); shoppers cannot type until it "
				    "is back"),
				  self->device, why);
	vb_keypad_plugin_set_error(self, message);
	vb_context_alert(vb_plugin_get_context(VB_PLUGIN(self)), VB_ALERT_WARNING,
			 vb_plugin_get_name(VB_PLUGIN(self)), "%s", message);
	vb_keypad_plugin_schedule_retry(self);
}

static gboolean
vb_keypad_plugin_fd_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	VbKeypadPlugin *self = VB_KEYPAD_PLUGIN(user_data);
	guint8 buf[VB_KEYPAD_READ_MAX * sizeof(struct input_event)];
	gsize have = self->n_partial;
	gsize off = 0;
	gssize n;

	memcpy(buf, self->partial, self->n_partial);
	n = read(fd, buf + have, sizeof(buf) - have);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return G_SOURCE_CONTINUE;
	if (n <= 0) {
		/* an unplugged device fails with ENODEV; a pipe whose writer left
		 * reads end of file; the source goes with the device */
		vb_keypad_plugin_lost(self, n < 0 ? g_strerror(errno) : _("end of file"));
		return G_SOURCE_REMOVE;
	}
	self->got_input = TRUE;
	have += (gsize)n;
	while (have - off >= sizeof(struct input_event)) {
		struct input_event ev;
		memcpy(&ev, buf + off, sizeof(ev));
		vb_keypad_plugin_event(self, &ev);
		off += sizeof(ev);
	}
	self->n_partial = have - off;
	memcpy(self->partial, buf + off, self->n_partial);
	return G_SOURCE_CONTINUE;
}

static gboolean
vb_keypad_plugin_open_device(VbKeypadPlugin *self, GError **error)
{
	gint fd = open(self->device, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		gint saved = errno;
		if (saved == EACCES || saved == EPERM) {
			g_set_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
				    _("cannot open keypad %s: permission denied; install the udev "
				      "rule 60-vestibule.rules, or add the user to group input"),
				    self->device);
		} else {
			g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
				    _("cannot open keypad %s: %s; check that it is plugged in and "
				      "that device= names it"),
				    self->device, g_strerror(saved));
		}
		return FALSE;
	}
	self->fd = fd;
	self->grabbed = FALSE;
	self->got_input = FALSE;
	if (self->want_grab) {
		if (ioctl(fd, EVIOCGRAB, (void *)1) == 0) {
			self->grabbed = TRUE;
		} else {
			/* not an evdev node (a pipe in the tests), or grabbed elsewhere:
			 * the keys still come, other readers just see them too */
			if (!self->grab_told)
				g_message("keypad %s cannot be grabbed (%s); reading it shared",
					  self->device, g_strerror(errno));
			self->grab_told = TRUE;
		}
	}
	self->fd_source = g_unix_fd_source_new(fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
	g_source_set_name(self->fd_source, "[keypad] device");
	g_source_set_callback(self->fd_source, G_SOURCE_FUNC(vb_keypad_plugin_fd_cb), self, NULL);
	g_source_attach(self->fd_source, g_main_context_get_thread_default());
	return TRUE;
}

static gboolean
vb_keypad_plugin_retry_cb(gpointer user_data)
{
	VbKeypadPlugin *self = VB_KEYPAD_PLUGIN(user_data);
	g_autoptr(GError) error = NULL;

	if (!vb_keypad_plugin_open_device(self, &error)) {
		vb_keypad_plugin_set_error(self, error->message);
		return G_SOURCE_CONTINUE;
	}
	g_clear_pointer(&self->retry_source, g_source_unref);
	self->reopens++;
	if (self->was_present) {
		g_message("keypad %s is back", self->device);
	} else {
		g_message("keypad %s found", self->device);
		self->was_present = TRUE;
	}
	g_clear_pointer(&self->last_error, g_free);
	return G_SOURCE_REMOVE;
}

static void
vb_keypad_plugin_schedule_retry(VbKeypadPlugin *self)
{
	if (self->retry_source != NULL)
		return;
	self->retry_source = g_timeout_source_new(self->reopen_ms);
	g_source_set_name(self->retry_source, "[keypad] reopen");
	g_source_set_callback(self->retry_source, vb_keypad_plugin_retry_cb, self, NULL);
	g_source_attach(self->retry_source, g_main_context_get_thread_default());
}

static gboolean
vb_keypad_plugin_load_settings(VbKeypadPlugin *self, GError **error)
{
	VbPlugin *plugin = VB_PLUGIN(self);
	const gchar *device = vb_plugin_get_string(plugin, "device");
	GHashTable *keymap = NULL;

	if (device == NULL || !g_path_is_absolute(device)) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("device in [instance:%s] is '%s'; it must be an absolute path, "
			      "such as /dev/input/by-id/usb-…-event-kbd"),
			    vb_plugin_get_name(plugin), device != NULL ? device : "");
		return FALSE;
	}
	if (!vb_keypad_plugin_parse_keymap(self, &keymap, error))
		return FALSE;
	/* nothing is applied before everything is checked */
	g_free(self->device);
	self->device = g_strdup(device);
	self->want_grab = vb_plugin_get_boolean(plugin, "grab");
	self->reopen_ms = (guint)vb_plugin_get_int(plugin, "reopen-ms");
	g_clear_pointer(&self->keymap, g_hash_table_unref);
	self->keymap = keymap;
	return TRUE;
}

static gboolean
vb_keypad_plugin_startup(VbPlugin *plugin, GError **error)
{
	VbKeypadPlugin *self = VB_KEYPAD_PLUGIN(plugin);
	g_autoptr(GError) error_local = NULL;

	if (!vb_keypad_plugin_load_settings(self, error))
		return FALSE;
	/* a keypad plugged in later is found then: the door works without one */
	if (!vb_keypad_plugin_open_device(self, &error_local)) {
		g_warning("%s", error_local->message);
		vb_keypad_plugin_set_error(self, error_local->message);
		vb_keypad_plugin_schedule_retry(self);
		return TRUE;
	}
	self->was_present = TRUE;
	return TRUE;
}

static void
vb_keypad_plugin_shutdown(VbPlugin *plugin)
{
	VbKeypadPlugin *self = VB_KEYPAD_PLUGIN(plugin);

	if (self->retry_source != NULL) {
		g_source_destroy(self->retry_source);
		g_clear_pointer(&self->retry_source, g_source_unref);
	}
	vb_keypad_plugin_close_device(self);
}

static gboolean
vb_keypad_plugin_reload(VbPlugin *plugin, GError **error)
{
	VbKeypadPlugin *self = VB_KEYPAD_PLUGIN(plugin);
	g_autofree gchar *old_device = g_strdup(self->device);
	gboolean old_grab = self->want_grab;

	if (!vb_keypad_plugin_load_settings(self, error))
		return FALSE;
	if (g_strcmp0(old_device, self->device) == 0 && old_grab == self->want_grab)
		return TRUE;
	/* another device: let go of this one and look for the new one at once */
	vb_keypad_plugin_close_device(self);
	if (self->retry_source != NULL) {
		g_source_destroy(self->retry_source);
		g_clear_pointer(&self->retry_source, g_source_unref);
	}
	self->was_present = FALSE;
	if (vb_keypad_plugin_retry_cb(self) == G_SOURCE_CONTINUE)
		vb_keypad_plugin_schedule_retry(self);
	return TRUE;
}

static void
vb_keypad_plugin_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	VbKeypadPlugin *self = VB_KEYPAD_PLUGIN(plugin);

	if (self->device != NULL)
		g_variant_builder_add(builder, "{sv}", "device",
				      g_variant_new_string(self->device));
	g_variant_builder_add(builder, "{sv}", "present", g_variant_new_boolean(self->fd >= 0));
	g_variant_builder_add(builder, "{sv}", "grabbed", g_variant_new_boolean(self->grabbed));
	g_variant_builder_add(builder, "{sv}", "active", g_variant_new_boolean(self->active));
	g_variant_builder_add(builder, "{sv}", "keys", g_variant_new_uint64(self->keys));
	g_variant_builder_add(builder, "{sv}", "reopened", g_variant_new_uint64(self->reopens));
	if (self->last_error != NULL)
		g_variant_builder_add(builder, "{sv}", "error",
				      g_variant_new_string(self->last_error));
}

static void
vb_keypad_plugin_set_active(VbKeypad *keypad, gboolean active)
{
	VB_KEYPAD_PLUGIN(keypad)->active = active;
}

static void
vb_keypad_plugin_keypad_iface_init(VbKeypadInterface *iface)
{
	iface->set_active = vb_keypad_plugin_set_active;
}

static void
vb_keypad_plugin_dispose(GObject *object)
{
	vb_keypad_plugin_shutdown(VB_PLUGIN(object));
	G_OBJECT_CLASS(vb_keypad_plugin_parent_class)->dispose(object);
}

static void
vb_keypad_plugin_finalize(GObject *object)
{
	VbKeypadPlugin *self = VB_KEYPAD_PLUGIN(object);

	g_free(self->device);
	g_free(self->last_error);
	g_clear_pointer(&self->keymap, g_hash_table_unref);
	G_OBJECT_CLASS(vb_keypad_plugin_parent_class)->finalize(object);
}

static void
vb_keypad_plugin_init(VbKeypadPlugin *self)
{
	self->fd = -1;
}

static void
vb_keypad_plugin_class_init(VbKeypadPluginClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);

	object_class->dispose = vb_keypad_plugin_dispose;
	object_class->finalize = vb_keypad_plugin_finalize;
	plugin_class->startup = vb_keypad_plugin_startup;
	plugin_class->shutdown = vb_keypad_plugin_shutdown;
	plugin_class->reload = vb_keypad_plugin_reload;
	plugin_class->get_status = vb_keypad_plugin_get_status;
	vb_plugin_class_add_settings(plugin_class, vb_keypad_plugin_settings,
				     G_N_ELEMENTS(vb_keypad_plugin_settings));
}

VB_PLUGIN_DEFINE(vb_keypad_plugin_get_type)
