/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <dlfcn.h>
#include <glib/gstdio.h>
#include <limits.h>
#include <unistd.h>

#include "vb-test-syncs.h"

static guint vb_test_wal_syncs;
/* the power-cut image: the store's file, and where its image goes */
static gchar *vb_test_image_db;
static gchar *vb_test_image_dir;

/* copies @from to @to as it is now, or removes @to when @from is missing */
static void
vb_test_syncs_copy(const gchar *from, const gchar *to)
{
	g_autofree gchar *contents = NULL;
	gsize length = 0;
	g_autoptr(GError) error = NULL;

	if (!g_file_get_contents(from, &contents, &length, &error)) {
		if (!g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			g_error("cannot read %s: %s", from, error->message);
		(void)g_unlink(to);
		return;
	}
	/* no sync of its own: g_file_set_contents() would call fsync(), not us */
	if (!g_file_set_contents_full(to, contents, (gssize)length, G_FILE_SET_CONTENTS_NONE, 0600,
				      &error))
		g_error("cannot write %s: %s", to, error->message);
}

/* after a sync of the store or its log, what is on disk is what a power cut
 * leaves at the latest: the image is the two files as they are now */
static void
vb_test_syncs_take_image(const gchar *synced)
{
	g_autofree gchar *wal = NULL;
	g_autofree gchar *db_to = NULL;
	g_autofree gchar *wal_to = NULL;

	if (vb_test_image_db == NULL)
		return;
	wal = g_strconcat(vb_test_image_db, "-wal", NULL);
	if (g_strcmp0(synced, vb_test_image_db) != 0 && g_strcmp0(synced, wal) != 0)
		return;
	db_to = g_build_filename(vb_test_image_dir, "vestibule.db", NULL);
	wal_to = g_build_filename(vb_test_image_dir, "vestibule.db-wal", NULL);
	vb_test_syncs_copy(vb_test_image_db, db_to);
	vb_test_syncs_copy(wal, wal_to);
}

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
	int rc;

	if (real_fdatasync == NULL)
		real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	g_snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n > 0) {
		path[n] = '\0';
		if (g_str_has_suffix(path, "-wal"))
			g_atomic_int_inc(&vb_test_wal_syncs);
	}
	rc = real_fdatasync(fd);
	if (n > 0 && rc == 0)
		vb_test_syncs_take_image(path);
	return rc;
}

guint
vb_test_syncs_wal(void)
{
	return (guint)g_atomic_int_get(&vb_test_wal_syncs);
}

void
vb_test_syncs_image_start(const gchar *db_path, const gchar *image_dir)
{
	vb_test_syncs_image_stop();
	if (g_mkdir_with_parents(image_dir, 0700) != 0)
		g_error("cannot make %s", image_dir);
	vb_test_image_db = g_strdup(db_path);
	vb_test_image_dir = g_strdup(image_dir);
}

void
vb_test_syncs_image_stop(void)
{
	g_clear_pointer(&vb_test_image_db, g_free);
	g_clear_pointer(&vb_test_image_dir, g_free);
}
