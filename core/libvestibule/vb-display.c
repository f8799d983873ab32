/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-display.h"
#include "vb-error.h"

/**
 * SECTION:vb-display
 * @short_description: the display role
 *
 * The core translates every prompt into the shopper's language before it
 * calls vb_display_show(); a display never translates.
 */

G_DEFINE_INTERFACE(VbDisplay, vb_display, VB_TYPE_PLUGIN)

static void
vb_display_default_init(VbDisplayInterface *iface)
{
}

/**
 * vb_display_show:
 * @self: a #VbDisplay
 * @prompt_id: the prompt's identifier, such as `enter-phone`
 * @text: the translated text
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the text is shown
 *
 * Since: 0.1
 */
gboolean
vb_display_show(VbDisplay *self, const gchar *prompt_id, const gchar *text, GError **error)
{
	VbDisplayInterface *iface;

	g_return_val_if_fail(VB_IS_DISPLAY(self), FALSE);
	g_return_val_if_fail(prompt_id != NULL, FALSE);
	g_return_val_if_fail(text != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	iface = VB_DISPLAY_GET_IFACE(self);
	if (iface->show == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "cannot show text");
		return FALSE;
	}
	return iface->show(self, prompt_id, text, error);
}

/**
 * vb_display_clear:
 * @self: a #VbDisplay
 *
 * Returns the display to its idle screen.
 *
 * Since: 0.1
 */
void
vb_display_clear(VbDisplay *self)
{
	VbDisplayInterface *iface;

	g_return_if_fail(VB_IS_DISPLAY(self));
	iface = VB_DISPLAY_GET_IFACE(self);
	if (iface->clear != NULL)
		iface->clear(self);
}
