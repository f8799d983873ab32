/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-events.h"
#include "vb-keypad.h"

/**
 * SECTION:vb-keypad
 * @short_description: the keypad role
 *
 * A keypad plugin reports each key press with vb_keypad_emit_key(); the core
 * collects them into a phone number or a one-time code.
 */

G_DEFINE_INTERFACE(VbKeypad, vb_keypad, VB_TYPE_PLUGIN)

static const gchar *vb_keypad_key_names[] = {
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "erase", "cancel", "enter", "*", "#",
};

static void
vb_keypad_default_init(VbKeypadInterface *iface)
{
}

/**
 * vb_keypad_set_active:
 * @self: a #VbKeypad
 * @active: whether input is wanted
 *
 * Lights or darkens the keypad, where the hardware can.
 *
 * Since: 0.1
 */
void
vb_keypad_set_active(VbKeypad *self, gboolean active)
{
	VbKeypadInterface *iface;

	g_return_if_fail(VB_IS_KEYPAD(self));
	iface = VB_KEYPAD_GET_IFACE(self);
	if (iface->set_active != NULL)
		iface->set_active(self, active);
}

/**
 * vb_keypad_emit_key:
 * @self: a #VbKeypad
 * @key: the key pressed
 *
 * Emits #VB_EVENT_KEYPAD_KEY. Safe to call from any thread.
 *
 * Since: 0.1
 */
void
vb_keypad_emit_key(VbKeypad *self, VbKeypadKey key)
{
	g_return_if_fail(VB_IS_KEYPAD(self));
	g_return_if_fail(key < VB_KEYPAD_KEY_INVALID);
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_KEYPAD_KEY,
		       g_variant_new_parsed("{%s: <%s>}", VB_KEY_KEY, vb_keypad_key_names[key]));
}

/**
 * vb_keypad_key_to_string:
 * @key: a #VbKeypadKey
 *
 * Returns: the key's symbol as carried on the bus, or %NULL
 *
 * Since: 0.1
 */
const gchar *
vb_keypad_key_to_string(VbKeypadKey key)
{
	if ((guint)key >= G_N_ELEMENTS(vb_keypad_key_names))
		return NULL;
	return vb_keypad_key_names[key];
}

/**
 * vb_keypad_key_from_string:
 * @str: a key symbol such as `7` or `enter`
 *
 * Returns: the key, or %VB_KEYPAD_KEY_INVALID
 *
 * Since: 0.1
 */
VbKeypadKey
vb_keypad_key_from_string(const gchar *str)
{
	if (str == NULL)
		return VB_KEYPAD_KEY_INVALID;
	for (guint i = 0; i < G_N_ELEMENTS(vb_keypad_key_names); i++) {
		if (g_strcmp0(str, vb_keypad_key_names[i]) == 0)
			return (VbKeypadKey)i;
	}
	return VB_KEYPAD_KEY_INVALID;
}
