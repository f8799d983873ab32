/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-config-private.h"
#include "vb-context-private.h"

G_BEGIN_DECLS

/* the daemon's side of the context: the configuration's core settings, the
 * secrets and the keys made from them, and the audit log. The SDK asks for
 * them through VbContextHost and never sees VbConfig or a key it does not need */
#define VB_TYPE_HOST (vb_host_get_type())
G_DECLARE_FINAL_TYPE(VbHost, vb_host, VB, HOST, GObject)

/* becomes @context's host, until it is disposed */
VbHost *
vb_host_new(VbContext *context);
/* swaps in a validated config; reads the keys the core needs from its secrets */
gboolean
vb_host_set_config(VbHost *self, VbConfig *config, GError **error);
/* starts appending every bus event to the audit log */
void
vb_host_start_audit(VbHost *self);
/* writes what the audit log has buffered */
void
vb_host_flush_audit(VbHost *self);

G_END_DECLS
