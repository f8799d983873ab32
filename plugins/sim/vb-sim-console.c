/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "vb-sim-common.h"

/*
 * console plays the display at a door: prompts are printed, framed, on the
 * daemon's standard output for the demo, and the last one can be read back
 * through the control API by the tests. The core masks what it shows.
 */

typedef enum {
	VB_SIM_CONSOLE_OUTPUT_STDOUT,
	VB_SIM_CONSOLE_OUTPUT_LOG,
	VB_SIM_CONSOLE_OUTPUT_NONE,
} VbSimConsoleOutput;

#define VB_TYPE_SIM_CONSOLE (vb_sim_console_get_type())
G_DECLARE_FINAL_TYPE(VbSimConsole, vb_sim_console, VB, SIM_CONSOLE, VbPlugin)

struct _VbSimConsole {
	VbPlugin parent_instance;
	VbSimRoutes *routes;
	VbSimConsoleOutput output;
	gchar *prompt_id; /* NULL when idle */
	gchar *text;
	guint64 prompts;
};

static void
vb_sim_console_display_iface_init(VbDisplayInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(VbSimConsole,
			      vb_sim_console,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_DISPLAY,
						    vb_sim_console_display_iface_init))

static const VbSettingSpec vb_sim_console_settings[] = {
    {
	.key = "output",
	.type = VB_SETTING_STRING,
	.default_value = "stdout",
	.blurb = N_("Where prompts go: stdout (framed, for the demo), log or none"),
    },
};

/* a prompt never moves the terminal's cursor or changes its colours */
static gchar *
vb_sim_console_sanitize(const gchar *text)
{
	g_autofree gchar *valid = g_utf8_make_valid(text, -1);
	GString *str = g_string_new(NULL);

	for (const gchar *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (c == '\n' || (!g_unichar_iscntrl(c) && c != 0x2028 && c != 0x2029))
			g_string_append_unichar(str, c);
		else
			g_string_append_c(str, ' ');
	}
	return g_string_free(str, FALSE);
}

static void
vb_sim_console_print(VbSimConsole *self)
{
	const gchar *door = vb_sim_get_door_label(VB_PLUGIN(self));
	g_autoptr(GString) frame = g_string_new(NULL);

	if (self->output == VB_SIM_CONSOLE_OUTPUT_NONE)
		return;
	if (self->output == VB_SIM_CONSOLE_OUTPUT_LOG) {
		if (self->prompt_id == NULL) {
			g_message("%s: idle", door);
		} else {
			g_autofree gchar *line = g_strdup(self->text);
			g_strdelimit(line, "\n", ' ');
			g_message("%s: [%s] %s", door, self->prompt_id, line);
		}
		return;
	}

	g_string_append_printf(frame, "┌ %s ─ %s\n", door,
			       self->prompt_id != NULL ? self->prompt_id : "idle");
	if (self->prompt_id != NULL) {
		g_auto(GStrv) lines = g_strsplit(self->text, "\n", -1);
		for (guint i = 0; lines[i] != NULL; i++)
			g_string_append_printf(frame, "│ %s\n", lines[i]);
	}
	g_string_append(frame, "└\n");
	g_print("%s", frame->str);
	g_info("%s: %s", door, self->prompt_id != NULL ? self->prompt_id : "idle");
}

static gboolean
vb_sim_console_show(VbDisplay *display, const gchar *prompt_id, const gchar *text, GError **error)
{
	VbSimConsole *self = VB_SIM_CONSOLE(display);

	if (prompt_id == NULL || prompt_id[0] == '\0') {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("a prompt needs an identifier"));
		return FALSE;
	}
	g_free(self->prompt_id);
	self->prompt_id = vb_sim_console_sanitize(prompt_id);
	g_free(self->text);
	self->text = vb_sim_console_sanitize(text != NULL ? text : "");
	self->prompts++;
	vb_sim_console_print(self);
	return TRUE;
}

static void
vb_sim_console_clear(VbDisplay *display)
{
	VbSimConsole *self = VB_SIM_CONSOLE(display);

	if (self->prompt_id == NULL)
		return;
	g_clear_pointer(&self->prompt_id, g_free);
	g_clear_pointer(&self->text, g_free);
	vb_sim_console_print(self);
}

static void
vb_sim_console_screen_cb(VbPlugin *plugin,
			 SoupServerMessage *msg,
			 JsonObject *body,
			 GHashTable *query)
{
	VbSimConsole *self = VB_SIM_CONSOLE(plugin);
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "prompt-id");
	if (self->prompt_id != NULL)
		json_builder_add_string_value(builder, self->prompt_id);
	else
		json_builder_add_null_value(builder);
	json_builder_set_member_name(builder, "text");
	json_builder_add_string_value(builder, self->text != NULL ? self->text : "");
	json_builder_end_object(builder);
	vb_sim_reply(msg, SOUP_STATUS_OK, builder);
}

static gboolean
vb_sim_console_load_settings(VbSimConsole *self, GError **error)
{
	VbPlugin *plugin = VB_PLUGIN(self);
	const gchar *output = vb_plugin_get_string(plugin, "output");

	if (g_strcmp0(output, "stdout") == 0) {
		self->output = VB_SIM_CONSOLE_OUTPUT_STDOUT;
	} else if (g_strcmp0(output, "log") == 0) {
		self->output = VB_SIM_CONSOLE_OUTPUT_LOG;
	} else if (g_strcmp0(output, "none") == 0) {
		self->output = VB_SIM_CONSOLE_OUTPUT_NONE;
	} else {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("output in [instance:%s] is '%s'; use stdout, log or none"),
			    vb_plugin_get_name(plugin), output);
		return FALSE;
	}
	return TRUE;
}

static gboolean
vb_sim_console_startup(VbPlugin *plugin, GError **error)
{
	VbSimConsole *self = VB_SIM_CONSOLE(plugin);

	if (!vb_sim_console_load_settings(self, error))
		return FALSE;
	self->routes = vb_sim_routes_new(plugin);
	vb_sim_routes_add(self->routes, SOUP_METHOD_GET, "screen", VB_SIM_ROUTE_NONE,
			  vb_sim_console_screen_cb);
	return TRUE;
}

static void
vb_sim_console_shutdown(VbPlugin *plugin)
{
	VbSimConsole *self = VB_SIM_CONSOLE(plugin);
	g_clear_pointer(&self->routes, vb_sim_routes_free);
}

static gboolean
vb_sim_console_reload(VbPlugin *plugin, GError **error)
{
	return vb_sim_console_load_settings(VB_SIM_CONSOLE(plugin), error);
}

static void
vb_sim_console_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	VbSimConsole *self = VB_SIM_CONSOLE(plugin);

	g_variant_builder_add(builder, "{sv}", "prompt-id",
			      g_variant_new_string(self->prompt_id != NULL ? self->prompt_id : ""));
	g_variant_builder_add(builder, "{sv}", "prompts", g_variant_new_uint64(self->prompts));
}

static void
vb_sim_console_display_iface_init(VbDisplayInterface *iface)
{
	iface->show = vb_sim_console_show;
	iface->clear = vb_sim_console_clear;
}

static void
vb_sim_console_dispose(GObject *object)
{
	VbSimConsole *self = VB_SIM_CONSOLE(object);

	g_clear_pointer(&self->routes, vb_sim_routes_free);
	G_OBJECT_CLASS(vb_sim_console_parent_class)->dispose(object);
}

static void
vb_sim_console_finalize(GObject *object)
{
	VbSimConsole *self = VB_SIM_CONSOLE(object);

	g_free(self->prompt_id);
	g_free(self->text);
	G_OBJECT_CLASS(vb_sim_console_parent_class)->finalize(object);
}

static void
vb_sim_console_init(VbSimConsole *self)
{
}

static void
vb_sim_console_class_init(VbSimConsoleClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);

	object_class->dispose = vb_sim_console_dispose;
	object_class->finalize = vb_sim_console_finalize;
	plugin_class->startup = vb_sim_console_startup;
	plugin_class->shutdown = vb_sim_console_shutdown;
	plugin_class->reload = vb_sim_console_reload;
	plugin_class->get_status = vb_sim_console_get_status;
	vb_plugin_class_add_settings(plugin_class, vb_sim_console_settings,
				     G_N_ELEMENTS(vb_sim_console_settings));
}

VB_PLUGIN_DEFINE(vb_sim_console_get_type)
