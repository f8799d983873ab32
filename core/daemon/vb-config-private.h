/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib-object.h>

#include "vb-setting.h"

G_BEGIN_DECLS

/*
 * VbConfig: the main keyfile, its conf.d drop-ins and the secrets file.
 *
 * Sections the core knows:
 *   [vestibule]        the store
 *   [http]             the listeners
 *   [services]         which instances fill the store-wide roles
 *   [visit]            the visit: the hold, time-outs, receipts, replies
 *   [door:NAME]        which instances fill a door's roles
 *   [instance:NAME]    one plugin instance: plugin=NAME plus the plugin's keys
 */

#define VB_TYPE_CONFIG (vb_config_get_type())
G_DECLARE_FINAL_TYPE(VbConfig, vb_config, VB, CONFIG, GObject)

VbConfig *
vb_config_new(void);
/* loads @path, then every DIR/conf.d/\*.conf in lexical order, where DIR is the
 * directory of @path; later files override earlier ones key by key */
gboolean
vb_config_load(VbConfig *self, const gchar *path, GError **error);
/* loads the secrets keyfile; with @path NULL, $CREDENTIALS_DIRECTORY/vestibule-secrets
 * is used if set, else SYSCONFDIR/vestibule/secrets.conf. A file readable or writable
 * by group or others is refused with VB_ERROR_PERMISSION_DENIED. A missing file is not an
 * error (there are then no secrets) */
gboolean
vb_config_load_secrets(VbConfig *self, const gchar *path, GError **error);
/* validates the core sections against the core schema; unknown keys and unknown
 * sections become warnings (strings "FILE:LINE: ..."), wrong types errors */
gboolean
vb_config_validate(VbConfig *self, GPtrArray *warnings, GError **error);

/* the files that were loaded, in order */
GPtrArray *
vb_config_get_files(VbConfig *self);
gchar **
vb_config_get_groups(VbConfig *self);
gchar **
vb_config_get_keys(VbConfig *self, const gchar *group);
gboolean
vb_config_has_group(VbConfig *self, const gchar *group);
gboolean
vb_config_has_key(VbConfig *self, const gchar *group, const gchar *key);
/* "FILE:LINE" of the definition that won, or NULL */
gchar *
vb_config_get_origin(VbConfig *self, const gchar *group, const gchar *key);
/* the raw value, or NULL */
gchar *
vb_config_get_raw(VbConfig *self, const gchar *group, const gchar *key);

/* resolves every spec of @specs (NULL-terminated by key == NULL) for @group into
 * @values (key -> GVariant: s, x, b, as), applying defaults. Keys in @group that no
 * spec declares are warnings, unless listed in @extra_keys. Errors name FILE:LINE */
gboolean
vb_config_resolve(VbConfig *self,
		  const gchar *group,
		  const VbSettingSpec *specs,
		  guint n_specs,
		  const gchar *const *extra_keys,
		  GHashTable *values,
		  GPtrArray *warnings,
		  GError **error);

/* the core's own settings of the fixed sections, for lookups after validate */
const gchar *
vb_config_get_string(VbConfig *self, const gchar *group, const gchar *key);
gint64
vb_config_get_int(VbConfig *self, const gchar *group, const gchar *key);
gboolean
vb_config_get_boolean(VbConfig *self, const gchar *group, const gchar *key);
gchar **
vb_config_get_string_list(VbConfig *self, const gchar *group, const gchar *key);

/* the schema of a core section ("vestibule", "http", "services", "door", "instance") */
const VbSettingSpec *
vb_config_get_core_specs(const gchar *section_kind, guint *n_specs);

/* a copy of a secret, or NULL; the bytes are wiped when freed */
GBytes *
vb_config_get_secret(VbConfig *self, const gchar *group, const gchar *key);
/* decodes a 32-byte key stored as 64 hex characters; errors say which key is wrong */
GBytes *
vb_config_get_secret_key32(VbConfig *self, const gchar *group, const gchar *key, GError **error);
const gchar *
vb_config_get_secrets_path(VbConfig *self);

/* parses a raw string according to @spec; errors do not name a file */
GVariant *
vb_setting_parse(const VbSettingSpec *spec, const gchar *raw, GError **error);

G_END_DECLS
