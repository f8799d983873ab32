/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* removes @path and everything under it, without following symbolic links;
 * a missing @path is fine. What cannot be removed is reported as a test
 * message and left, since a test's clean-up is not what it tests */
void
vb_test_remove_tree(const gchar *path);

G_END_DECLS
