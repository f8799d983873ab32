/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <vestibule.h>

/* a well-behaved plugin with settings of every type, a card reader role and a
 * reload that can be told to refuse */

struct _VbTestGood {
	VbPlugin parent_instance;
	guint reloads;
};

#define VB_TYPE_TEST_GOOD (vb_test_good_get_type())
G_DECLARE_FINAL_TYPE(VbTestGood, vb_test_good, VB, TEST_GOOD, VbPlugin)

static void
vb_test_good_card_reader_iface_init(VbCardReaderInterface *iface)
{
}

G_DEFINE_FINAL_TYPE_WITH_CODE(VbTestGood,
			      vb_test_good,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_CARD_READER,
						    vb_test_good_card_reader_iface_init))

static gboolean
vb_test_good_startup(VbPlugin *plugin, GError **error)
{
	if (vb_plugin_get_boolean(plugin, "fail-startup")) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_FOUND,
				    "the test device is not there; check its cable");
		return FALSE;
	}
	return TRUE;
}

static gboolean
vb_test_good_reload(VbPlugin *plugin, GError **error)
{
	VbTestGood *self = VB_TEST_GOOD(plugin);
	if (vb_plugin_get_boolean(plugin, "refuse-reload")) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_CONFIG, "cannot change live");
		return FALSE;
	}
	self->reloads++;
	return TRUE;
}

static void
vb_test_good_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	VbTestGood *self = VB_TEST_GOOD(plugin);
	g_variant_builder_add(builder, "{sv}", "greeting",
			      g_variant_new_string(vb_plugin_get_string(plugin, "greeting")));
	g_variant_builder_add(builder, "{sv}", "count",
			      g_variant_new_int64(vb_plugin_get_int(plugin, "count")));
	g_variant_builder_add(builder, "{sv}", "reloads", g_variant_new_uint32(self->reloads));
}

static const VbSettingSpec vb_test_good_settings[] = {
    {"greeting", VB_SETTING_STRING, "hello", 0, 0, "A string"},
    {"count", VB_SETTING_INT, "3", 0, 10, "An integer from 0 to 10"},
    {"fail-startup", VB_SETTING_BOOLEAN, "false", 0, 0, "Fail at startup"},
    {"refuse-reload", VB_SETTING_BOOLEAN, "false", 0, 0, "Refuse reloads"},
    {"tags", VB_SETTING_STRING_LIST, "", 0, 0, "A list"},
};

static void
vb_test_good_class_init(VbTestGoodClass *klass)
{
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);
	plugin_class->startup = vb_test_good_startup;
	plugin_class->reload = vb_test_good_reload;
	plugin_class->get_status = vb_test_good_get_status;
	vb_plugin_class_add_settings(plugin_class, vb_test_good_settings,
				     G_N_ELEMENTS(vb_test_good_settings));
}

static void
vb_test_good_init(VbTestGood *self)
{
}

VB_PLUGIN_DEFINE(vb_test_good_get_type)
