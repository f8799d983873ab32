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

G_END_DECLS
