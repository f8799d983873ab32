/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-plugin.h"

G_BEGIN_DECLS

/**
 * VbDisplay:
 *
 * The role of a plugin that shows the shopper prompts at a door; see
 * #VbDisplayInterface.
 *
 * Since: 0.1
 */
#define VB_TYPE_DISPLAY (vb_display_get_type())
G_DECLARE_INTERFACE(VbDisplay, vb_display, VB, DISPLAY, VbPlugin)

/**
 * VbDisplayInterface:
 * @g_iface: the parent interface
 * @show: shows @text, already translated into the shopper's language;
 *   @prompt_id names the prompt (such as `enter-phone`) so that a graphical
 *   display can pick an icon
 * @clear: returns to the idle screen
 *
 * A display at a door.
 *
 * Since: 0.1
 */
struct _VbDisplayInterface {
	GTypeInterface g_iface;
	gboolean (*show)(VbDisplay *self,
			 const gchar *prompt_id,
			 const gchar *text,
			 GError **error);
	void (*clear)(VbDisplay *self);
	/*< private >*/
	gpointer padding[14];
};

gboolean
vb_display_show(VbDisplay *self, const gchar *prompt_id, const gchar *text, GError **error);
void
vb_display_clear(VbDisplay *self);

G_END_DECLS
