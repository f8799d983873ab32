/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-ctl-client.h"

G_BEGIN_DECLS

/* `vestibulectl sim ...`: drives the sim plugins through the control socket.
 * @argv starts with the subcommand, after "sim". Returns the exit status: 0 ok,
 * 1 the daemon refused, 2 usage error, 3 the daemon cannot be reached */
gint
vb_ctl_sim_run(VbCtlClient *client, gboolean json, gint argc, gchar **argv);

/* the usage text of `vestibulectl sim`, translated */
const gchar *
vb_ctl_sim_get_usage(void);

G_END_DECLS
