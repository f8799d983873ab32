/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-plugin.h"

G_BEGIN_DECLS

/**
 * VbKeypad:
 *
 * The role of a plugin that reads the keys a shopper presses at a door; see
 * #VbKeypadInterface.
 *
 * Since: 0.1
 */
#define VB_TYPE_KEYPAD (vb_keypad_get_type())
G_DECLARE_INTERFACE(VbKeypad, vb_keypad, VB, KEYPAD, VbPlugin)

/**
 * VbKeypadKey:
 * @VB_KEYPAD_KEY_0: digit 0
 * @VB_KEYPAD_KEY_1: digit 1
 * @VB_KEYPAD_KEY_2: digit 2
 * @VB_KEYPAD_KEY_3: digit 3
 * @VB_KEYPAD_KEY_4: digit 4
 * @VB_KEYPAD_KEY_5: digit 5
 * @VB_KEYPAD_KEY_6: digit 6
 * @VB_KEYPAD_KEY_7: digit 7
 * @VB_KEYPAD_KEY_8: digit 8
 * @VB_KEYPAD_KEY_9: digit 9
 * @VB_KEYPAD_KEY_ERASE: erase the last digit
 * @VB_KEYPAD_KEY_CANCEL: abandon the entry
 * @VB_KEYPAD_KEY_ENTER: confirm the entry
 * @VB_KEYPAD_KEY_STAR: `*`
 * @VB_KEYPAD_KEY_HASH: `#`
 * @VB_KEYPAD_KEY_INVALID: not a key
 *
 * The symbols a keypad produces.
 *
 * Since: 0.1
 */
typedef enum {
	VB_KEYPAD_KEY_0,
	VB_KEYPAD_KEY_1,
	VB_KEYPAD_KEY_2,
	VB_KEYPAD_KEY_3,
	VB_KEYPAD_KEY_4,
	VB_KEYPAD_KEY_5,
	VB_KEYPAD_KEY_6,
	VB_KEYPAD_KEY_7,
	VB_KEYPAD_KEY_8,
	VB_KEYPAD_KEY_9,
	VB_KEYPAD_KEY_ERASE,
	VB_KEYPAD_KEY_CANCEL,
	VB_KEYPAD_KEY_ENTER,
	VB_KEYPAD_KEY_STAR,
	VB_KEYPAD_KEY_HASH,
	VB_KEYPAD_KEY_INVALID,
} VbKeypadKey;

/**
 * VbKeypadInterface:
 * @g_iface: the parent interface
 * @set_active: (nullable): lights or darkens the keypad when input is wanted
 *
 * A keypad. The plugin reports each key with vb_keypad_emit_key().
 *
 * Since: 0.1
 */
struct _VbKeypadInterface {
	GTypeInterface g_iface;
	void (*set_active)(VbKeypad *self, gboolean active);
	/*< private >*/
	gpointer padding[15];
};

void
vb_keypad_set_active(VbKeypad *self, gboolean active);
void
vb_keypad_emit_key(VbKeypad *self, VbKeypadKey key);
const gchar *
vb_keypad_key_to_string(VbKeypadKey key);
VbKeypadKey
vb_keypad_key_from_string(const gchar *str);

G_END_DECLS
