/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gmodule.h>

/* a shared object that is not a plugin: it forgot VB_PLUGIN_DEFINE() */

G_MODULE_EXPORT int
vb_test_nosym_something(void);
int
vb_test_nosym_something(void)
{
	return 42;
}
