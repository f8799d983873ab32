/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* how much of the environment's locale a program takes */
typedef enum {
	/* vestibulectl: all of it, for the person reading its output */
	VB_I18N_PROCESS_TOOL,
	/* vestibuled: only the charset and the language of its own messages
	 * (--help, errors, the console's log). What it writes for machines and
	 * operators (ISO 8601 times, minor units, metrics) must not follow the
	 * host's conventions, and the locale's other tables are memory it does
	 * not need */
	VB_I18N_PROCESS_DAEMON,
} VbI18nProcess;

/* what vestibuled and vestibulectl do first: the locale from the
 * environment, as @kind says, and the text domain of their own messages.
 * The shoppers' prompts do not depend on it: they take the language of the
 * card (vb_i18n_gettext()). The benchmarks call it too, so that they measure
 * the daemon's process as it runs */
void
vb_i18n_setup_process(VbI18nProcess kind);

G_END_DECLS
