/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include "vb-test-syncs.h"

static guint vb_test_wal_syncs;

/* SQLite's unix VFS syncs with fdatasync(); the executable's definition comes
 * before libc's in the lookup scope of every library */
int
fdatasync(int fd);

int
fdatasync(int fd)
{
	static int (*real_fdatasync)(int);
	gchar link[64];
	gchar path[PATH_MAX];
	gssize n;

	if (real_fdatasync == NULL)
		real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	g_snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n > 0) {
		path[n] = '\0';
		if (g_str_has_suffix(path, "-wal"))
			g_atomic_int_inc(&vb_test_wal_syncs);
	}
	return real_fdatasync(fd);
}

guint
vb_test_syncs_wal(void)
{
	return (guint)g_atomic_int_get(&vb_test_wal_syncs);
}
