/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* how many times, so far in this process, a write-ahead log (a file whose
 * name ends in -wal) was synced to disk: what a power cut cannot take back.
 * A test binary that links this file takes the place of libc's fdatasync()
 * for SQLite, counts, and calls libc's; it must export its symbols
 * (export_dynamic) so that a shared libsqlite3 finds it */
guint
vb_test_syncs_wal(void);

/* from now on, after every sync of the store @db_path or of its log, copies
 * both to @image_dir (as vestibule.db and vestibule.db-wal): what a power cut
 * would leave on disk at worst, since what was written and not synced may be
 * lost. The first image is taken at the next sync: call vb_store_sync() to
 * take it at once */
void
vb_test_syncs_image_start(const gchar *db_path, const gchar *image_dir);
/* the image stays as it was at the last sync before this call */
void
vb_test_syncs_image_stop(void);

G_END_DECLS
