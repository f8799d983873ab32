/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <gpiod.h>
#include <inttypes.h>
#include <string.h>

#include <glib-unix.h>
#include <glib/gi18n-lib.h>

#include <vestibule.h>

/*
 * gpio drives a door on GPIO lines through libgpiod 1.6: the lock's relay or
 * MOSFET on an output, and two inputs, the door contact and the
 * request-to-exit button. The inputs' edge events arrive on a file descriptor
 * watched by the main loop; each edge restarts a debounce timer, and only the
 * level that is still there when the timer fires counts.
 *
 * The output carries "lock power": in fail-secure mode power releases the
 * lock, in fail-safe mode power holds it. The line is requested with the
 * locked level as its first value, so that the lock never twitches at start,
 * whether after a clean stop or a crash.
 */

#define VB_GPIO_EVENTS_MAX 16
/* with exit-unlock-ms = 0 (a button wired to the lock itself), an opening this
 * soon after a press is an exit, not a forced door */
#define VB_GPIO_EXIT_GRACE_MS 10000

#define VB_TYPE_GPIO_PLUGIN (vb_gpio_plugin_get_type())
G_DECLARE_FINAL_TYPE(VbGpioPlugin, vb_gpio_plugin, VB, GPIO_PLUGIN, VbPlugin)

typedef struct _VbGpioInput VbGpioInput;
typedef void (*VbGpioInputFunc)(VbGpioPlugin *self, gboolean active);

/* one debounced input line */
struct _VbGpioInput {
	VbGpioPlugin *self;
	const gchar *role; /* "contact", "exit" */
	VbGpioInputFunc changed;
	struct gpiod_line *line; /* owned by the chip */
	guint debounce_ms;
	GSource *fd_source;
	GSource *debounce_source;
	gint value; /* the settled level, active = 1; -1 before the first read */
	guint64 edges;
	gboolean failed;
};

/* the settings that need the lines to be requested again */
typedef struct {
	gchar *chip;
	gchar *lock_line;
	gboolean lock_active_low;
	gboolean fail_safe;
	gboolean pulse_mode;
	gchar *contact_line;
	gboolean contact_active_low;
	gchar *exit_line;
	gboolean exit_active_low;
	gint bias_flags;
	gchar *bias;
} VbGpioWiring;

struct _VbGpioPlugin {
	VbPlugin parent_instance;
	VbGpioWiring wiring;
	/* timings, which a reload may change */
	guint pulse_ms;
	guint exit_unlock_ms;
	gint64 held_open_s;

	struct gpiod_chip *chip;
	struct gpiod_line *lock;
	VbGpioInput contact;
	VbGpioInput exit;

	gboolean locked;
	gint64 relock_at; /* monotonic µs; 0 while held or locked */
	GSource *relock_source;
	GSource *pulse_source;
	GSource *held_open_source;
	gint64 exit_grace_until;
	VbDoorState door;
	gboolean held_open_alarm;
	gboolean forced_open_alarm;
	guint64 alarms;
	guint64 exits;
};

static void
vb_gpio_plugin_door_lock_iface_init(VbDoorLockInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(VbGpioPlugin,
			      vb_gpio_plugin,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_DOOR_LOCK,
						    vb_gpio_plugin_door_lock_iface_init))

static const VbSettingSpec vb_gpio_plugin_settings[] = {
    {
	.key = "chip",
	.type = VB_SETTING_STRING,
	.default_value = "gpiochip0",
	.blurb = N_("The GPIO chip: a name (gpiochip0), a label (pinctrl-bcm2711), a number or "
		    "a path (/dev/gpiochip0)"),
    },
    {
	.key = "lock-line",
	.type = VB_SETTING_STRING,
	.default_value = NULL,
	.blurb = N_("The output line of the lock's relay or MOSFET: an offset (17) or a line "
		    "name (GPIO17)"),
    },
    {
	.key = "lock-active-low",
	.type = VB_SETTING_BOOLEAN,
	.default_value = "false",
	.blurb = N_("Whether the lock output powers the lock at the low level (relay boards "
		    "that switch on a low input)"),
    },
    {
	.key = "fail-mode",
	.type = VB_SETTING_STRING,
	.default_value = "fail-secure",
	.blurb = N_("What the lock does without power: fail-secure (stays locked: power "
		    "unlocks) or fail-safe (opens: power locks)"),
    },
    {
	.key = "unlock-mode",
	.type = VB_SETTING_STRING,
	.default_value = "held",
	.blurb = N_("held: the output stays at the unlock level as long as the door is "
		    "unlocked; pulse: it gives one pulse of pulse-ms (fail-secure only)"),
    },
    {
	.key = "pulse-ms",
	.type = VB_SETTING_INT,
	.default_value = "500",
	.min = 20,
	.max = 10000,
	.blurb = N_("The length of the unlock pulse when unlock-mode is pulse, in milliseconds"),
    },
    {
	.key = "contact-line",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("The input line of the door contact, an offset or a name; empty when the "
		    "door has none"),
    },
    {
	.key = "contact-active-low",
	.type = VB_SETTING_BOOLEAN,
	.default_value = "false",
	.blurb = N_("Whether the contact reads low when the door is open (false: high means "
		    "open, as with a reed switch to ground and a pull-up)"),
    },
    {
	.key = "contact-debounce-ms",
	.type = VB_SETTING_INT,
	.default_value = "50",
	.min = 0,
	.max = 2000,
	.blurb = N_("How long the contact must keep its level before it counts, in milliseconds"),
    },
    {
	.key = "exit-line",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("The input line of the request-to-exit button, an offset or a name; empty "
		    "when there is none"),
    },
    {
	.key = "exit-active-low",
	.type = VB_SETTING_BOOLEAN,
	.default_value = "true",
	.blurb = N_("Whether the exit button reads low when pressed (true: a button to ground "
		    "with a pull-up)"),
    },
    {
	.key = "exit-debounce-ms",
	.type = VB_SETTING_INT,
	.default_value = "50",
	.min = 0,
	.max = 2000,
	.blurb = N_("How long the exit button must keep its level before it counts, in "
		    "milliseconds"),
    },
    {
	.key = "exit-unlock-ms",
	.type = VB_SETTING_INT,
	.default_value = "5000",
	.min = 0,
	.max = 60000,
	.blurb = N_("How long the exit button unlocks the door, in milliseconds; 0 when the "
		    "button releases the lock by its own wiring"),
    },
    {
	.key = "held-open-s",
	.type = VB_SETTING_INT,
	.default_value = "30",
	.min = 1,
	.max = 3600,
	.blurb = N_("How long the door may stay open before the held-open alarm, in seconds"),
    },
    {
	.key = "bias",
	.type = VB_SETTING_STRING,
	.default_value = "as-is",
	.blurb = N_("The internal bias of the input lines: as-is, pull-up, pull-down or disable"),
    },
};

static const gchar *
vb_gpio_plugin_door_label(VbGpioPlugin *self)
{
	const gchar *door = vb_plugin_get_door(VB_PLUGIN(self));
	return door != NULL ? door : vb_plugin_get_name(VB_PLUGIN(self));
}

static void
vb_gpio_clear_source(GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

static GSource *
vb_gpio_plugin_add_timeout(VbGpioPlugin *self, guint ms, const gchar *name, GSourceFunc func)
{
	GSource *source = g_timeout_source_new(ms);
	g_source_set_name(source, name);
	g_source_set_callback(source, func, self, NULL);
	g_source_attach(source, g_main_context_get_thread_default());
	return source;
}

static void
vb_gpio_wiring_clear(VbGpioWiring *wiring)
{
	g_clear_pointer(&wiring->chip, g_free);
	g_clear_pointer(&wiring->lock_line, g_free);
	g_clear_pointer(&wiring->contact_line, g_free);
	g_clear_pointer(&wiring->exit_line, g_free);
	g_clear_pointer(&wiring->bias, g_free);
}

static gboolean
vb_gpio_wiring_equal(const VbGpioWiring *a, const VbGpioWiring *b)
{
	return g_strcmp0(a->chip, b->chip) == 0 && g_strcmp0(a->lock_line, b->lock_line) == 0 &&
	       a->lock_active_low == b->lock_active_low && a->fail_safe == b->fail_safe &&
	       a->pulse_mode == b->pulse_mode && g_strcmp0(a->contact_line, b->contact_line) == 0 &&
	       a->contact_active_low == b->contact_active_low &&
	       g_strcmp0(a->exit_line, b->exit_line) == 0 &&
	       a->exit_active_low == b->exit_active_low && a->bias_flags == b->bias_flags;
}

/* reads and checks the settings; nothing is applied when one is wrong */
static gboolean
vb_gpio_plugin_read_wiring(VbGpioPlugin *self, VbGpioWiring *wiring, GError **error)
{
	VbPlugin *plugin = VB_PLUGIN(self);
	const gchar *name = vb_plugin_get_name(plugin);
	const gchar *fail_mode = vb_plugin_get_string(plugin, "fail-mode");
	const gchar *unlock_mode = vb_plugin_get_string(plugin, "unlock-mode");
	const gchar *bias = vb_plugin_get_string(plugin, "bias");
	const gchar *lock_line = vb_plugin_get_string(plugin, "lock-line");
	const gchar *contact_line = vb_plugin_get_string(plugin, "contact-line");
	const gchar *exit_line = vb_plugin_get_string(plugin, "exit-line");

	if (g_strcmp0(fail_mode, "fail-secure") != 0 && g_strcmp0(fail_mode, "fail-safe") != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("fail-mode in [instance:%s] is '%s'; use fail-secure or fail-safe"),
			    name, fail_mode);
		return FALSE;
	}
	if (g_strcmp0(unlock_mode, "held") != 0 && g_strcmp0(unlock_mode, "pulse") != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("unlock-mode in [instance:%s] is '%s'; use held or pulse"), name,
			    unlock_mode);
		return FALSE;
	}
	if (g_strcmp0(unlock_mode, "pulse") == 0 && g_strcmp0(fail_mode, "fail-safe") == 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("[instance:%s] has unlock-mode=pulse with fail-mode=fail-safe; a "
			      "fail-safe lock opens only while its power is cut, so use "
			      "unlock-mode=held"),
			    name);
		return FALSE;
	}
	if (lock_line == NULL || lock_line[0] == '\0') {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("lock-line in [instance:%s] is empty; set the offset or the name of "
			      "the lock's output line"),
			    name);
		return FALSE;
	}
	if (g_strcmp0(bias, "as-is") == 0)
		wiring->bias_flags = 0;
	else if (g_strcmp0(bias, "pull-up") == 0)
		wiring->bias_flags = GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
	else if (g_strcmp0(bias, "pull-down") == 0)
		wiring->bias_flags = GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
	else if (g_strcmp0(bias, "disable") == 0)
		wiring->bias_flags = GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
	else {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("bias in [instance:%s] is '%s'; use as-is, pull-up, pull-down or "
			      "disable"),
			    name, bias);
		return FALSE;
	}
	/* one line, one job */
	if ((g_strcmp0(lock_line, contact_line) == 0) || (g_strcmp0(lock_line, exit_line) == 0) ||
	    (contact_line[0] != '\0' && g_strcmp0(contact_line, exit_line) == 0)) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("[instance:%s] uses the same line for two jobs; lock-line, "
			      "contact-line and exit-line must differ"),
			    name);
		return FALSE;
	}
	wiring->chip = g_strdup(vb_plugin_get_string(plugin, "chip"));
	wiring->lock_line = g_strdup(lock_line);
	wiring->lock_active_low = vb_plugin_get_boolean(plugin, "lock-active-low");
	wiring->fail_safe = g_strcmp0(fail_mode, "fail-safe") == 0;
	wiring->pulse_mode = g_strcmp0(unlock_mode, "pulse") == 0;
	wiring->contact_line = g_strdup(contact_line);
	wiring->contact_active_low = vb_plugin_get_boolean(plugin, "contact-active-low");
	wiring->exit_line = g_strdup(exit_line);
	wiring->exit_active_low = vb_plugin_get_boolean(plugin, "exit-active-low");
	wiring->bias = g_strdup(bias);
	return TRUE;
}

static void
vb_gpio_plugin_read_timings(VbGpioPlugin *self)
{
	VbPlugin *plugin = VB_PLUGIN(self);

	self->pulse_ms = (guint)vb_plugin_get_int(plugin, "pulse-ms");
	self->exit_unlock_ms = (guint)vb_plugin_get_int(plugin, "exit-unlock-ms");
	self->held_open_s = vb_plugin_get_int(plugin, "held-open-s");
	self->contact.debounce_ms = (guint)vb_plugin_get_int(plugin, "contact-debounce-ms");
	self->exit.debounce_ms = (guint)vb_plugin_get_int(plugin, "exit-debounce-ms");
}

/* --- the lock --- */

/* the logical level of the lock output: 1 powers the lock */
static gint
vb_gpio_plugin_level(VbGpioPlugin *self, gboolean locked)
{
	/* fail-secure: power releases; fail-safe: power holds */
	return self->wiring.fail_safe ? (locked ? 1 : 0) : (locked ? 0 : 1);
}

static gboolean
vb_gpio_plugin_drive(VbGpioPlugin *self, gint level, GError **error)
{
	if (self->lock == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
			    _("the lock of door %s is not running; see vestibulectl plugins"),
			    vb_gpio_plugin_door_label(self));
		return FALSE;
	}
	if (gpiod_line_set_value(self->lock, level) < 0) {
		gint saved = errno;
		g_set_error(error, VB_ERROR, VB_ERROR_IO,
			    _("cannot set the lock line of door %s: %s; check the GPIO chip"),
			    vb_gpio_plugin_door_label(self), g_strerror(saved));
		return FALSE;
	}
	return TRUE;
}

/* engages the lock; emits door-locked when it was released */
static gboolean
vb_gpio_plugin_engage(VbGpioPlugin *self, GError **error)
{
	vb_gpio_clear_source(&self->relock_source);
	vb_gpio_clear_source(&self->pulse_source);
	self->relock_at = 0;
	if (!vb_gpio_plugin_drive(self, vb_gpio_plugin_level(self, TRUE), error))
		return FALSE;
	if (self->locked)
		return TRUE;
	self->locked = TRUE;
	g_debug("door %s locked", vb_gpio_plugin_door_label(self));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_DOOR_LOCKED, NULL);
	return TRUE;
}

static gboolean
vb_gpio_plugin_relock_cb(gpointer user_data)
{
	VbGpioPlugin *self = VB_GPIO_PLUGIN(user_data);
	g_autoptr(GError) error = NULL;

	g_clear_pointer(&self->relock_source, g_source_unref);
	if (!vb_gpio_plugin_engage(self, &error)) {
		vb_context_alert(vb_plugin_get_context(VB_PLUGIN(self)), VB_ALERT_CRITICAL,
				 vb_plugin_get_name(VB_PLUGIN(self)),
				 _("door %s did not lock again: %s"),
				 vb_gpio_plugin_door_label(self), error->message);
	}
	return G_SOURCE_REMOVE;
}

/* pulse mode: the strike got its pulse; it stays released mechanically */
static gboolean
vb_gpio_plugin_pulse_end_cb(gpointer user_data)
{
	VbGpioPlugin *self = VB_GPIO_PLUGIN(user_data);
	g_autoptr(GError) error = NULL;

	g_clear_pointer(&self->pulse_source, g_source_unref);
	if (!vb_gpio_plugin_drive(self, vb_gpio_plugin_level(self, TRUE), &error))
		g_warning("%s", error->message);
	return G_SOURCE_REMOVE;
}

/* releases the lock for @ms, or until vb_door_lock_lock() when 0 */
static gboolean
vb_gpio_plugin_release(VbGpioPlugin *self, guint ms, GError **error)
{
	GVariantBuilder payload;

	if (!vb_gpio_plugin_drive(self, vb_gpio_plugin_level(self, FALSE), error))
		return FALSE;
	vb_gpio_clear_source(&self->relock_source);
	vb_gpio_clear_source(&self->pulse_source);
	if (ms > 0) {
		self->relock_at = g_get_monotonic_time() + (gint64)ms * G_TIME_SPAN_MILLISECOND;
		self->relock_source =
		    vb_gpio_plugin_add_timeout(self, ms, "[gpio] relock", vb_gpio_plugin_relock_cb);
	} else {
		self->relock_at = 0;
	}
	if (self->wiring.pulse_mode) {
		guint pulse = ms > 0 ? MIN(ms, self->pulse_ms) : self->pulse_ms;
		self->pulse_source = vb_gpio_plugin_add_timeout(self, pulse, "[gpio] pulse",
								vb_gpio_plugin_pulse_end_cb);
	}
	self->locked = FALSE;
	g_debug("door %s unlocked for %u ms", vb_gpio_plugin_door_label(self), ms);
	g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&payload, "{sv}", VB_KEY_DURATION_MS,
			      g_variant_new_int64((gint64)ms));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_DOOR_UNLOCKED, g_variant_builder_end(&payload));
	return TRUE;
}

/* --- alarms --- */

static void
vb_gpio_plugin_raise_alarm(VbGpioPlugin *self, const gchar *alarm)
{
	GVariantBuilder payload;

	self->alarms++;
	g_variant_builder_init(&payload, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&payload, "{sv}", VB_KEY_ALARM, g_variant_new_string(alarm));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_DOOR_ALARM, g_variant_builder_end(&payload));
}

static gboolean
vb_gpio_plugin_held_open_cb(gpointer user_data)
{
	VbGpioPlugin *self = VB_GPIO_PLUGIN(user_data);

	g_clear_pointer(&self->held_open_source, g_source_unref);
	self->held_open_alarm = TRUE;
	vb_gpio_plugin_raise_alarm(self, "held-open");
	vb_context_alert_full(vb_plugin_get_context(VB_PLUGIN(self)), VB_ALERT_WARNING,
			      VB_ALERT_KIND_DOOR_HELD_OPEN, vb_plugin_get_name(VB_PLUGIN(self)),
			      vb_gpio_plugin_door_label(self), NULL,
			      _("door %s has been held open for more than %" PRId64
				" seconds; check that it is closed"),
			      vb_gpio_plugin_door_label(self), self->held_open_s);
	return G_SOURCE_REMOVE;
}

static void
vb_gpio_plugin_arm_held_open(VbGpioPlugin *self)
{
	vb_gpio_clear_source(&self->held_open_source);
	self->held_open_source =
	    vb_gpio_plugin_add_timeout(self, (guint)(self->held_open_s * 1000), "[gpio] held open",
				       vb_gpio_plugin_held_open_cb);
}

/* --- the inputs --- */

static void
vb_gpio_plugin_contact_changed(VbGpioPlugin *self, gboolean open)
{
	if (!open) {
		vb_gpio_clear_source(&self->held_open_source);
		self->door = VB_DOOR_STATE_CLOSED;
		self->held_open_alarm = FALSE;
		self->forced_open_alarm = FALSE;
		g_debug("door %s closed", vb_gpio_plugin_door_label(self));
		vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_DOOR_CLOSED, NULL);
		return;
	}
	self->door = VB_DOOR_STATE_OPEN;
	g_debug("door %s opened", vb_gpio_plugin_door_label(self));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_DOOR_OPENED, NULL);
	if (self->locked && g_get_monotonic_time() >= self->exit_grace_until) {
		self->forced_open_alarm = TRUE;
		vb_gpio_plugin_raise_alarm(self, "forced-open");
		vb_context_alert_full(vb_plugin_get_context(VB_PLUGIN(self)), VB_ALERT_CRITICAL,
				      VB_ALERT_KIND_DOOR_FORCED_OPEN,
				      vb_plugin_get_name(VB_PLUGIN(self)),
				      vb_gpio_plugin_door_label(self), NULL,
				      _("door %s was forced open while locked; check the door "
					"and the store"),
				      vb_gpio_plugin_door_label(self));
	}
	vb_gpio_plugin_arm_held_open(self);
}

static void
vb_gpio_plugin_exit_changed(VbGpioPlugin *self, gboolean pressed)
{
	guint grace_ms;
	gint64 now = g_get_monotonic_time();
	g_autoptr(GError) error = NULL;

	if (!pressed)
		return;
	self->exits++;
	g_debug("exit requested at door %s", vb_gpio_plugin_door_label(self));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_EXIT_REQUESTED, NULL);
	grace_ms = self->exit_unlock_ms > 0 ? self->exit_unlock_ms : VB_GPIO_EXIT_GRACE_MS;
	self->exit_grace_until = now + (gint64)grace_ms * G_TIME_SPAN_MILLISECOND;
	if (self->exit_unlock_ms == 0)
		return;
	/* a door held unlocked stays so; a shorter unlock is stretched, never cut */
	if (!self->locked &&
	    (self->relock_at == 0 ||
	     self->relock_at >= now + (gint64)self->exit_unlock_ms * G_TIME_SPAN_MILLISECOND))
		return;
	if (!vb_gpio_plugin_release(self, self->exit_unlock_ms, &error)) {
		vb_context_alert(vb_plugin_get_context(VB_PLUGIN(self)), VB_ALERT_CRITICAL,
				 vb_plugin_get_name(VB_PLUGIN(self)),
				 _("the exit button of door %s could not unlock it: %s"),
				 vb_gpio_plugin_door_label(self), error->message);
	}
}

static void
vb_gpio_input_settle(VbGpioInput *input)
{
	gint value = gpiod_line_get_value(input->line);

	if (value < 0) {
		g_warning("cannot read the %s line of door %s: %s", input->role,
			  vb_gpio_plugin_door_label(input->self), g_strerror(errno));
		return;
	}
	if (value == input->value)
		return;
	input->value = value;
	input->changed(input->self, value == 1);
}

static gboolean
vb_gpio_input_debounce_cb(gpointer user_data)
{
	VbGpioInput *input = user_data;

	g_clear_pointer(&input->debounce_source, g_source_unref);
	vb_gpio_input_settle(input);
	return G_SOURCE_REMOVE;
}

static gboolean
vb_gpio_input_fd_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	VbGpioInput *input = user_data;
	VbGpioPlugin *self = input->self;
	struct gpiod_line_event events[VB_GPIO_EVENTS_MAX];
	gint n;

	if (condition & (G_IO_ERR | G_IO_HUP | G_IO_NVAL)) {
		input->failed = TRUE;
		g_clear_pointer(&input->fd_source, g_source_unref);
		vb_context_alert(vb_plugin_get_context(VB_PLUGIN(self)), VB_ALERT_CRITICAL,
				 vb_plugin_get_name(VB_PLUGIN(self)),
				 _("the %s line of door %s stopped reporting; restart vestibuled "
				   "and check the GPIO chip"),
				 input->role, vb_gpio_plugin_door_label(self));
		return G_SOURCE_REMOVE;
	}
	/* one read per wake-up: the kernel's fd blocks, and what is left wakes us again */
	n = gpiod_line_event_read_fd_multiple(fd, events, G_N_ELEMENTS(events));
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return G_SOURCE_CONTINUE;
		g_warning("cannot read the %s events of door %s: %s", input->role,
			  vb_gpio_plugin_door_label(self), g_strerror(errno));
		return G_SOURCE_CONTINUE;
	}
	input->edges += (guint64)n;
	/* every edge restarts the wait; the level is read once it is quiet */
	vb_gpio_clear_source(&input->debounce_source);
	if (input->debounce_ms == 0) {
		vb_gpio_input_settle(input);
		return G_SOURCE_CONTINUE;
	}
	input->debounce_source = g_timeout_source_new(input->debounce_ms);
	g_source_set_name(input->debounce_source, "[gpio] debounce");
	g_source_set_callback(input->debounce_source, vb_gpio_input_debounce_cb, input, NULL);
	g_source_attach(input->debounce_source, g_main_context_get_thread_default());
	return G_SOURCE_CONTINUE;
}

static void
vb_gpio_input_stop(VbGpioInput *input)
{
	vb_gpio_clear_source(&input->fd_source);
	vb_gpio_clear_source(&input->debounce_source);
	input->line = NULL;
}

/* --- lines and the chip --- */

static struct gpiod_chip *
vb_gpio_plugin_open_chip(VbGpioPlugin *self, GError **error)
{
	const gchar *spec = self->wiring.chip;
	struct gpiod_chip *chip = NULL;
	gint saved;

	if (spec[0] == '/') {
		chip = gpiod_chip_open(spec);
	} else if (spec[0] != '\0' && strspn(spec, "0123456789") == strlen(spec)) {
		chip = gpiod_chip_open_by_number((guint)g_ascii_strtoull(spec, NULL, 10));
	} else {
		chip = gpiod_chip_open_by_name(spec);
		if (chip == NULL && errno == ENOENT)
			chip = gpiod_chip_open_by_label(spec);
	}
	if (chip != NULL)
		return chip;
	saved = errno;
	if (saved == EACCES || saved == EPERM) {
		g_set_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
			    _("GPIO chip '%s' of [instance:%s]: permission denied; install the "
			      "udev rule 60-vestibule.rules and restart vestibuled"),
			    spec, vb_plugin_get_name(VB_PLUGIN(self)));
	} else {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    _("GPIO chip '%s' of [instance:%s] was not found (%s); set chip= to a "
			      "name, label or path that gpiodetect lists"),
			    spec, vb_plugin_get_name(VB_PLUGIN(self)), g_strerror(saved));
	}
	return NULL;
}

static struct gpiod_line *
vb_gpio_plugin_find_line(VbGpioPlugin *self, const gchar *key, const gchar *spec, GError **error)
{
	struct gpiod_line *line;

	if (strspn(spec, "0123456789") == strlen(spec)) {
		guint64 offset = g_ascii_strtoull(spec, NULL, 10);
		if (offset >= gpiod_chip_num_lines(self->chip)) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
				    _("%s=%s in [instance:%s]: chip %s has lines 0 to %u only; "
				      "gpioinfo %s lists them"),
				    key, spec, vb_plugin_get_name(VB_PLUGIN(self)),
				    gpiod_chip_name(self->chip),
				    gpiod_chip_num_lines(self->chip) - 1,
				    gpiod_chip_name(self->chip));
			return NULL;
		}
		line = gpiod_chip_get_line(self->chip, (guint)offset);
	} else {
		line = gpiod_chip_find_line(self->chip, spec);
	}
	if (line == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("%s=%s in [instance:%s]: no such line on chip %s; gpioinfo %s "
			      "lists the lines and their names"),
			    key, spec, vb_plugin_get_name(VB_PLUGIN(self)),
			    gpiod_chip_name(self->chip), gpiod_chip_name(self->chip));
	}
	return line;
}

static gboolean
vb_gpio_plugin_request_input(VbGpioPlugin *self,
			     VbGpioInput *input,
			     const gchar *key,
			     const gchar *spec,
			     gboolean active_low,
			     const gchar *consumer,
			     GError **error)
{
	struct gpiod_line *line;
	gint flags = self->wiring.bias_flags;
	gint fd;

	if (spec[0] == '\0')
		return TRUE;
	line = vb_gpio_plugin_find_line(self, key, spec, error);
	if (line == NULL)
		return FALSE;
	if (active_low)
		flags |= GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW;
	if (gpiod_line_request_both_edges_events_flags(line, consumer, flags) < 0) {
		gint saved = errno;
		g_set_error(error, VB_ERROR, VB_ERROR_IO,
			    _("%s=%s in [instance:%s]: cannot watch the line (%s); is another "
			      "program using it? gpioinfo shows its consumer"),
			    key, spec, vb_plugin_get_name(VB_PLUGIN(self)), g_strerror(saved));
		return FALSE;
	}
	input->line = line;
	input->value = gpiod_line_get_value(line);
	if (input->value < 0) {
		gint saved = errno;
		g_set_error(error, VB_ERROR, VB_ERROR_IO,
			    _("%s=%s in [instance:%s]: cannot read the line (%s)"), key, spec,
			    vb_plugin_get_name(VB_PLUGIN(self)), g_strerror(saved));
		return FALSE;
	}
	fd = gpiod_line_event_get_fd(line);
	input->fd_source = g_unix_fd_source_new(fd, G_IO_IN | G_IO_ERR | G_IO_HUP);
	g_source_set_name(input->fd_source, "[gpio] edges");
	g_source_set_callback(input->fd_source, G_SOURCE_FUNC(vb_gpio_input_fd_cb), input, NULL);
	g_source_attach(input->fd_source, g_main_context_get_thread_default());
	return TRUE;
}

static gboolean
vb_gpio_plugin_startup(VbPlugin *plugin, GError **error)
{
	VbGpioPlugin *self = VB_GPIO_PLUGIN(plugin);
	g_autofree gchar *consumer = g_strdup_printf("vestibule-%s", vb_plugin_get_name(plugin));
	gint flags = 0;

	if (!vb_gpio_plugin_read_wiring(self, &self->wiring, error))
		return FALSE;
	vb_gpio_plugin_read_timings(self);
	self->chip = vb_gpio_plugin_open_chip(self, error);
	if (self->chip == NULL)
		return FALSE;

	/* the lock first, at the locked level from its first instant: a start after
	 * a crash or a power cut never releases the door */
	self->lock = vb_gpio_plugin_find_line(self, "lock-line", self->wiring.lock_line, error);
	if (self->lock == NULL)
		return FALSE;
	if (self->wiring.lock_active_low)
		flags |= GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW;
	if (gpiod_line_request_output_flags(self->lock, consumer, flags,
					    vb_gpio_plugin_level(self, TRUE)) < 0) {
		gint saved = errno;
		self->lock = NULL;
		g_set_error(error, VB_ERROR, VB_ERROR_IO,
			    _("lock-line=%s in [instance:%s]: cannot drive the line (%s); is "
			      "another program using it? gpioinfo shows its consumer"),
			    self->wiring.lock_line, vb_plugin_get_name(plugin), g_strerror(saved));
		return FALSE;
	}
	self->locked = TRUE;

	if (!vb_gpio_plugin_request_input(self, &self->contact, "contact-line",
					  self->wiring.contact_line,
					  self->wiring.contact_active_low, consumer, error))
		return FALSE;
	if (!vb_gpio_plugin_request_input(self, &self->exit, "exit-line", self->wiring.exit_line,
					  self->wiring.exit_active_low, consumer, error))
		return FALSE;

	if (self->contact.line == NULL) {
		self->door = VB_DOOR_STATE_UNKNOWN;
	} else if (self->contact.value == 1) {
		/* open at start: after a crash, or propped open; it is watched as any
		 * opening, without calling it forced since nobody knows */
		self->door = VB_DOOR_STATE_OPEN;
		g_warning("door %s is open at start", vb_gpio_plugin_door_label(self));
		vb_gpio_plugin_arm_held_open(self);
	} else {
		self->door = VB_DOOR_STATE_CLOSED;
	}
	g_info("door %s: lock on %s line %s (%s), %s", vb_gpio_plugin_door_label(self),
	       gpiod_chip_name(self->chip), self->wiring.lock_line,
	       self->wiring.fail_safe ? "fail-safe" : "fail-secure",
	       vb_door_state_to_string(self->door));
	return TRUE;
}

static void
vb_gpio_plugin_close(VbGpioPlugin *self)
{
	vb_gpio_input_stop(&self->contact);
	vb_gpio_input_stop(&self->exit);
	vb_gpio_clear_source(&self->relock_source);
	vb_gpio_clear_source(&self->pulse_source);
	vb_gpio_clear_source(&self->held_open_source);
	self->lock = NULL;
	/* closing the chip releases its lines */
	g_clear_pointer(&self->chip, gpiod_chip_close);
}

static void
vb_gpio_plugin_shutdown(VbPlugin *plugin)
{
	VbGpioPlugin *self = VB_GPIO_PLUGIN(plugin);
	g_autoptr(GError) error = NULL;

	/* the door is locked before the line is let go; what the lock does after
	 * that is its fail mode: the line is no longer driven, the relay drops out,
	 * a fail-secure lock stays locked and a fail-safe one opens */
	if (self->lock != NULL && !vb_gpio_plugin_engage(self, &error))
		g_warning("%s", error->message);
	if (self->lock != NULL && self->wiring.fail_safe)
		g_message("door %s: fail-safe lock released with its line; it opens unless "
			  "its power is held elsewhere",
			  vb_gpio_plugin_door_label(self));
	vb_gpio_plugin_close(self);
}

static gboolean
vb_gpio_plugin_reload(VbPlugin *plugin, GError **error)
{
	VbGpioPlugin *self = VB_GPIO_PLUGIN(plugin);
	VbGpioWiring wiring = {0};
	gboolean same;

	if (!vb_gpio_plugin_read_wiring(self, &wiring, error))
		return FALSE;
	same = vb_gpio_wiring_equal(&wiring, &self->wiring);
	vb_gpio_wiring_clear(&wiring);
	if (!same && self->chip != NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("[instance:%s]: the chip, the lines, their polarity, the bias and "
			      "the fail and unlock modes change only at a restart; run systemctl "
			      "restart vestibuled"),
			    vb_plugin_get_name(plugin));
		return FALSE;
	}
	/* timers already running keep their length; new ones take the new one */
	vb_gpio_plugin_read_timings(self);
	return TRUE;
}

static void
vb_gpio_plugin_add_line_status(VbGpioPlugin *self,
			       GVariantBuilder *builder,
			       const gchar *key,
			       struct gpiod_line *line)
{
	if (line == NULL)
		return;
	g_variant_builder_add(builder, "{sv}", key,
			      g_variant_new_int64((gint64)gpiod_line_offset(line)));
}

static void
vb_gpio_plugin_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	VbGpioPlugin *self = VB_GPIO_PLUGIN(plugin);
	GVariantBuilder active;

	if (self->chip != NULL) {
		g_variant_builder_add(builder, "{sv}", "chip",
				      g_variant_new_string(gpiod_chip_name(self->chip)));
		g_variant_builder_add(builder, "{sv}", "chip-label",
				      g_variant_new_string(gpiod_chip_label(self->chip)));
	}
	vb_gpio_plugin_add_line_status(self, builder, "lock-line", self->lock);
	vb_gpio_plugin_add_line_status(self, builder, "contact-line", self->contact.line);
	vb_gpio_plugin_add_line_status(self, builder, "exit-line", self->exit.line);
	g_variant_builder_add(builder, "{sv}", "locked", g_variant_new_boolean(self->locked));
	g_variant_builder_add(builder, "{sv}", "door",
			      g_variant_new_string(vb_door_state_to_string(self->door)));
	g_variant_builder_add(
	    builder, "{sv}", "fail-mode",
	    g_variant_new_string(self->wiring.fail_safe ? "fail-safe" : "fail-secure"));
	g_variant_builder_add(builder, "{sv}", "unlock-mode",
			      g_variant_new_string(self->wiring.pulse_mode ? "pulse" : "held"));
	g_variant_builder_init(&active, G_VARIANT_TYPE_STRING_ARRAY);
	if (self->held_open_alarm)
		g_variant_builder_add(&active, "s", "held-open");
	if (self->forced_open_alarm)
		g_variant_builder_add(&active, "s", "forced-open");
	if (self->contact.failed)
		g_variant_builder_add(&active, "s", "contact-failed");
	if (self->exit.failed)
		g_variant_builder_add(&active, "s", "exit-failed");
	g_variant_builder_add(builder, "{sv}", "alarms-active", g_variant_builder_end(&active));
	g_variant_builder_add(builder, "{sv}", "alarms", g_variant_new_uint64(self->alarms));
	g_variant_builder_add(builder, "{sv}", "contact-edges",
			      g_variant_new_uint64(self->contact.edges));
	g_variant_builder_add(builder, "{sv}", "exit-requests", g_variant_new_uint64(self->exits));
}

/* --- VbDoorLock --- */

static gboolean
vb_gpio_plugin_unlock(VbDoorLock *lock, guint pulse_ms, GError **error)
{
	return vb_gpio_plugin_release(VB_GPIO_PLUGIN(lock), pulse_ms, error);
}

static gboolean
vb_gpio_plugin_lock(VbDoorLock *lock, GError **error)
{
	return vb_gpio_plugin_engage(VB_GPIO_PLUGIN(lock), error);
}

static gboolean
vb_gpio_plugin_is_locked(VbDoorLock *lock)
{
	return VB_GPIO_PLUGIN(lock)->locked;
}

static VbDoorState
vb_gpio_plugin_get_door_state(VbDoorLock *lock)
{
	return VB_GPIO_PLUGIN(lock)->door;
}

static void
vb_gpio_plugin_door_lock_iface_init(VbDoorLockInterface *iface)
{
	iface->unlock = vb_gpio_plugin_unlock;
	iface->lock = vb_gpio_plugin_lock;
	iface->is_locked = vb_gpio_plugin_is_locked;
	iface->get_door_state = vb_gpio_plugin_get_door_state;
}

static void
vb_gpio_plugin_dispose(GObject *object)
{
	VbGpioPlugin *self = VB_GPIO_PLUGIN(object);

	vb_gpio_plugin_close(self);
	G_OBJECT_CLASS(vb_gpio_plugin_parent_class)->dispose(object);
}

static void
vb_gpio_plugin_finalize(GObject *object)
{
	VbGpioPlugin *self = VB_GPIO_PLUGIN(object);

	vb_gpio_wiring_clear(&self->wiring);
	G_OBJECT_CLASS(vb_gpio_plugin_parent_class)->finalize(object);
}

static void
vb_gpio_plugin_init(VbGpioPlugin *self)
{
	self->locked = TRUE;
	self->door = VB_DOOR_STATE_UNKNOWN;
	self->contact.self = self;
	self->contact.role = "contact";
	self->contact.changed = vb_gpio_plugin_contact_changed;
	self->contact.value = -1;
	self->exit.self = self;
	self->exit.role = "exit";
	self->exit.changed = vb_gpio_plugin_exit_changed;
	self->exit.value = -1;
}

static void
vb_gpio_plugin_class_init(VbGpioPluginClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);

	object_class->dispose = vb_gpio_plugin_dispose;
	object_class->finalize = vb_gpio_plugin_finalize;
	plugin_class->startup = vb_gpio_plugin_startup;
	plugin_class->shutdown = vb_gpio_plugin_shutdown;
	plugin_class->reload = vb_gpio_plugin_reload;
	plugin_class->get_status = vb_gpio_plugin_get_status;
	vb_plugin_class_add_settings(plugin_class, vb_gpio_plugin_settings,
				     G_N_ELEMENTS(vb_gpio_plugin_settings));
}

VB_PLUGIN_DEFINE(vb_gpio_plugin_get_type)
