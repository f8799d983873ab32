/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * VbSettingType:
 * @VB_SETTING_STRING: any string
 * @VB_SETTING_INT: a 64-bit integer within a declared range
 * @VB_SETTING_BOOLEAN: `true` or `false`
 * @VB_SETTING_STRING_LIST: a `;`-separated list of strings
 *
 * The type of a declared configuration key.
 *
 * Since: 0.1
 */
typedef enum {
	VB_SETTING_STRING,
	VB_SETTING_INT,
	VB_SETTING_BOOLEAN,
	VB_SETTING_STRING_LIST,
} VbSettingType;

/**
 * VbSettingSpec:
 * @key: the key name in the section
 * @type: the value type
 * @default_value: the default, written as it would be in the file, or %NULL
 *   when the key is required
 * @min: the lowest accepted value, for %VB_SETTING_INT
 * @max: the highest accepted value, for %VB_SETTING_INT
 * @blurb: one line of documentation, shown by `vestibulectl config keys`
 *
 * One declared configuration key.
 *
 * Since: 0.1
 */
typedef struct {
	const gchar *key;
	VbSettingType type;
	const gchar *default_value;
	gint64 min;
	gint64 max;
	const gchar *blurb;
	/*< private >*/
	gpointer padding[4];
} VbSettingSpec;

G_END_DECLS
