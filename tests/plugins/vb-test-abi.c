/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <vestibule.h>

/* built twice: as if against a future major, and against a newer minor */

struct _VbTestAbi {
	VbPlugin parent_instance;
};

#define VB_TYPE_TEST_ABI (vb_test_abi_get_type())
G_DECLARE_FINAL_TYPE(VbTestAbi, vb_test_abi, VB, TEST_ABI, VbPlugin)
G_DEFINE_FINAL_TYPE(VbTestAbi, vb_test_abi, VB_TYPE_PLUGIN)

static void
vb_test_abi_class_init(VbTestAbiClass *klass)
{
}

static void
vb_test_abi_init(VbTestAbi *self)
{
}

G_MODULE_EXPORT extern const guint32 vb_plugin_abi_major;
G_MODULE_EXPORT extern const guint32 vb_plugin_abi_minor;
G_MODULE_EXPORT const guint32 vb_plugin_abi_major = VB_PLUGIN_ABI_MAJOR + TEST_MAJOR_DELTA;
G_MODULE_EXPORT const guint32 vb_plugin_abi_minor = VB_PLUGIN_ABI_MINOR + TEST_MINOR_DELTA;
G_MODULE_EXPORT GType
vb_plugin_query(void);
GType
vb_plugin_query(void)
{
	return vb_test_abi_get_type();
}
