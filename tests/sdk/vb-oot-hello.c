/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * oot-hello: the smallest useful plugin, built out of tree the way an
 * integrator builds one, against the installed SDK only:
 *
 *   cc -shared -fPIC -o vb-oot-hello.so vb-oot-hello.c \
 *      $(pkg-config --cflags --libs vestibule-1)
 *
 * It plays a door display that prints what it is asked to show, cut to a
 * declared number of columns. tests/test-sdk.sh builds and loads it.
 */

/* each plugin logs under its own domain */
#define G_LOG_DOMAIN "oot-hello"

#include <vestibule.h>

#define VB_TYPE_OOT_HELLO (vb_oot_hello_get_type())
G_DECLARE_FINAL_TYPE(VbOotHello, vb_oot_hello, VB, OOT_HELLO, VbPlugin)

struct _VbOotHello {
	VbPlugin parent_instance;
	gint64 columns;
};

static void
vb_oot_hello_display_iface_init(VbDisplayInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(VbOotHello,
			      vb_oot_hello,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_DISPLAY,
						    vb_oot_hello_display_iface_init))

/* the keys of [instance:NAME]; the core checks types and ranges, with file and
 * line, before the plugin ever runs */
static const VbSettingSpec vb_oot_hello_settings[] = {
    {
	.key = "columns",
	.type = VB_SETTING_INT,
	.default_value = "20",
	.min = 8,
	.max = 80,
	.blurb = "How many characters fit on one line of the display",
    },
};

static gboolean
vb_oot_hello_show(VbDisplay *display, const gchar *prompt_id, const gchar *text, GError **error)
{
	VbOotHello *self = VB_OOT_HELLO(display);
	/* g_utf8_substring() reads past a text shorter than its end */
	glong len = MIN(g_utf8_strlen(text, -1), (glong)self->columns);
	g_autofree gchar *line = g_utf8_substring(text, 0, len);

	(void)error;
	g_print("[%s] %s: %s\n", vb_plugin_get_name(VB_PLUGIN(self)), prompt_id, line);
	return TRUE;
}

static void
vb_oot_hello_clear(VbDisplay *display)
{
	g_print("[%s] (idle)\n", vb_plugin_get_name(VB_PLUGIN(display)));
}

static void
vb_oot_hello_display_iface_init(VbDisplayInterface *iface)
{
	iface->show = vb_oot_hello_show;
	iface->clear = vb_oot_hello_clear;
}

static gboolean
vb_oot_hello_startup(VbPlugin *plugin, GError **error)
{
	VbOotHello *self = VB_OOT_HELLO(plugin);

	(void)error;
	self->columns = vb_plugin_get_int(plugin, "columns");
	g_message("hello from out of tree, %" G_GINT64_FORMAT " columns", self->columns);
	return TRUE;
}

static gboolean
vb_oot_hello_reload(VbPlugin *plugin, GError **error)
{
	(void)error;
	VB_OOT_HELLO(plugin)->columns = vb_plugin_get_int(plugin, "columns");
	return TRUE;
}

static void
vb_oot_hello_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	g_variant_builder_add(builder, "{sv}", "columns",
			      g_variant_new_int64(VB_OOT_HELLO(plugin)->columns));
}

static void
vb_oot_hello_init(VbOotHello *self)
{
	(void)self;
}

static void
vb_oot_hello_class_init(VbOotHelloClass *klass)
{
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);

	plugin_class->startup = vb_oot_hello_startup;
	plugin_class->reload = vb_oot_hello_reload;
	plugin_class->get_status = vb_oot_hello_get_status;
	vb_plugin_class_add_settings(plugin_class, vb_oot_hello_settings,
				     G_N_ELEMENTS(vb_oot_hello_settings));
}

VB_PLUGIN_DEFINE(vb_oot_hello_get_type)
