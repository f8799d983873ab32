/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vb-test-files.h"

void
vb_test_remove_tree(const gchar *path)
{
	GStatBuf st;

	if (g_lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
		const gchar *name;

		while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
			g_autofree gchar *child = g_build_filename(path, name, NULL);
			vb_test_remove_tree(child);
		}
		if (g_rmdir(path) != 0)
			g_test_message("cannot remove %s: %s", path, g_strerror(errno));
		return;
	}
	if (g_unlink(path) != 0)
		g_test_message("cannot remove %s: %s", path, g_strerror(errno));
}
