/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* what vestibuled and vestibulectl do first: the process takes its locale
 * from the environment, and their own messages (--help, errors, the console's
 * charset) follow it. The shoppers' prompts do not: they take the language of
 * the card (vb_i18n_gettext()). The benchmarks call it too, so that they
 * measure the daemon's process as it runs */
void
vb_i18n_setup_process(void);

G_END_DECLS
