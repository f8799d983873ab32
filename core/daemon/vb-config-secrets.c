/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the secrets file: loading it, checking it without ever quoting a value, and
 * handing out copies that are wiped when freed */

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>
#include <sodium.h>

#include "vb-config-internal.h"
#include "vb-error.h"

#define VB_CONFIG_KEY32_LEN 32

/* the core's 32-byte keys, in [vestibule] of the secrets file */
const gchar *const vb_config_core_secret_keys[] = {
    "card-token-key", "phone-key", "phone-index-key", "otp-key", NULL,
};

/**
 * vb_config_load_secrets:
 * @self: a #VbConfig
 * @path: (nullable): the secrets file, or %NULL for the default
 * @error: return location for a #GError
 *
 * Loads the secrets keyfile. With @path %NULL, `$CREDENTIALS_DIRECTORY/vestibule-secrets`
 * is used when systemd's `LoadCredential=` set that variable, else
 * `SYSCONFDIR/vestibule/secrets.conf`. A file that is not a regular file, that group
 * or others may access, or that is owned by neither root nor the effective user is
 * refused with %VB_ERROR_PERMISSION_DENIED. A missing file is not an error: there are
 * then no secrets. No message ever shows a secret value.
 *
 * Returns: %TRUE on success
 */
gboolean
vb_config_load_secrets(VbConfig *self, const gchar *path, GError **error)
{
	g_autoptr(VbConfigTree) tree = vb_config_tree_new(TRUE);
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *path_used = NULL;
	gchar *data;
	gsize len = 0;

	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (path == NULL) {
		const gchar *creds = g_getenv("CREDENTIALS_DIRECTORY");

		if (creds != NULL && creds[0] != '\0')
			path_used = g_build_filename(creds, "vestibule-secrets", NULL);
		else
			path_used = g_strdup(VB_SYSCONFDIR "/secrets.conf");
	} else {
		path_used = g_strdup(path);
	}

	data = vb_config_read_file(path_used, TRUE, &len, &error_local);
	if (data == NULL) {
		if (!g_error_matches(error_local, VB_ERROR, VB_ERROR_NOT_FOUND)) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		g_debug("no secrets file at %s", path_used);
	} else {
		vb_config_parse(tree, path_used, data, len, errors);
		sodium_memzero(data, len);
		g_free(data);
		if (errors->len > 0) {
			vb_config_set_errors(error, errors);
			return FALSE;
		}
	}
	g_clear_pointer(&self->secrets, vb_config_tree_free);
	self->secrets = g_steal_pointer(&tree);
	g_free(self->secrets_path);
	self->secrets_path = g_steal_pointer(&path_used);
	return TRUE;
}

/* why a value is not a 32-byte key, without showing any of it */
static const gchar *
vb_config_decode_key32(const gchar *value, guint8 *key)
{
	gsize len = strlen(value);

	if (len == 0)
		return _("it is empty");
	if (len != 2 * VB_CONFIG_KEY32_LEN)
		return _("it has the wrong length");
	for (guint i = 0; i < VB_CONFIG_KEY32_LEN; i++) {
		gint hi = g_ascii_xdigit_value(value[2 * i]);
		gint lo = g_ascii_xdigit_value(value[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			sodium_memzero(key, VB_CONFIG_KEY32_LEN);
			return _("it has a character other than 0-9 and a-f");
		}
		key[i] = (guint8)((hi << 4) | lo);
	}
	return NULL;
}

/* the secrets file is checked without ever quoting a name or value from it that
 * the core does not itself know */
void
vb_config_check_secrets(VbConfig *self, GPtrArray *warnings, GPtrArray *errors)
{
	if (self->secrets == NULL)
		return;
	for (guint i = 0; i < self->secrets->groups->len; i++) {
		VbConfigGroup *group = g_ptr_array_index(self->secrets->groups, i);
		const gchar *name = NULL;
		const gchar *kind = vb_config_group_kind(group->name, &name);

		if (g_strcmp0(kind, "instance") == 0 && vb_config_is_instance_name(name)) {
			if (!vb_config_has_group(self, group->name))
				vb_config_add_message(
				    warnings, group->origin,
				    _("secrets for [%s], but the configuration has "
				      "no such section"),
				    group->name);
			continue;
		}
		if (g_strcmp0(kind, "vestibule") != 0) {
			vb_config_add_message(warnings, group->origin,
					      _("unknown section in the secrets file is ignored"));
			continue;
		}
		for (guint j = 0; j < group->entries->len; j++) {
			VbConfigEntry *entry = g_ptr_array_index(group->entries, j);
			guint8 key[VB_CONFIG_KEY32_LEN];
			const gchar *problem;

			if (!g_strv_contains(vb_config_core_secret_keys, entry->key)) {
				vb_config_add_message(warnings, entry->origin,
						      _("unknown key in [vestibule] of the secrets "
							"file is ignored"));
				continue;
			}
			problem = vb_config_decode_key32(entry->value, key);
			sodium_memzero(key, sizeof(key));
			if (problem != NULL)
				vb_config_add_message(errors, entry->origin,
						      _("key %s in [vestibule] is not 64 hex "
							"characters (%s); generate one with "
							"'openssl rand -hex 32'"),
						      entry->key, problem);
		}
	}
}

/* secrets left in the main config are ignored there, and probably world-readable */
void
vb_config_check_misplaced_secrets(VbConfig *self, GPtrArray *errors)
{
	const gchar *secrets_path =
	    self->secrets_path != NULL ? self->secrets_path : VB_SYSCONFDIR "/secrets.conf";

	for (guint i = 0; vb_config_core_secret_keys[i] != NULL; i++) {
		const gchar *origin =
		    vb_config_origin_of(self, "vestibule", vb_config_core_secret_keys[i]);
		if (origin == NULL)
			continue;
		vb_config_add_message(errors, origin,
				      _("[vestibule] %s is a secret and is not read from here; "
					"move it to the secrets file %s (mode 0600)"),
				      vb_config_core_secret_keys[i], secrets_path);
	}
}

/* the copy handed out, wiped when the last GBytes reference goes */
typedef struct {
	gsize size;
	guint8 data[];
} VbConfigSecretCopy;

static void
vb_config_secret_copy_free(gpointer user_data)
{
	VbConfigSecretCopy *copy = user_data;
	sodium_memzero(copy->data, copy->size);
	g_free(copy);
}

static GBytes *
vb_config_bytes_new_wiped(const guint8 *data, gsize len)
{
	VbConfigSecretCopy *copy = g_malloc(sizeof(VbConfigSecretCopy) + len + 1);

	/* NUL-terminated, so that a text secret can be read as a string */
	copy->size = len + 1;
	memcpy(copy->data, data, len);
	copy->data[len] = '\0';
	return g_bytes_new_with_free_func(copy->data, len, vb_config_secret_copy_free, copy);
}

static VbConfigEntry *
vb_config_secret_lookup(VbConfig *self, const gchar *group, const gchar *key)
{
	return vb_config_group_lookup(vb_config_tree_lookup(self->secrets, group), key);
}

/**
 * vb_config_get_secret:
 * @self: a #VbConfig
 * @group: a section of the secrets file, such as `instance:twilio`
 * @key: a key
 *
 * Returns: (transfer full) (nullable): a copy of the unescaped value, followed by a
 *   NUL byte not counted in its size; the copy is wiped when freed
 */
GBytes *
vb_config_get_secret(VbConfig *self, const gchar *group, const gchar *key)
{
	VbConfigEntry *entry;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL && key != NULL, NULL);
	entry = vb_config_secret_lookup(self, group, key);
	if (entry == NULL)
		return NULL;
	return vb_config_bytes_new_wiped((const guint8 *)entry->value, strlen(entry->value));
}

/**
 * vb_config_get_secret_key32:
 * @self: a #VbConfig
 * @group: a section of the secrets file
 * @key: a key holding 64 hex characters
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the 32 decoded bytes, wiped when freed
 */
GBytes *
vb_config_get_secret_key32(VbConfig *self, const gchar *group, const gchar *key, GError **error)
{
	VbConfigEntry *entry;
	guint8 buf[VB_CONFIG_KEY32_LEN];
	const gchar *problem;
	GBytes *bytes;

	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL && key != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	entry = vb_config_secret_lookup(self, group, key);
	if (entry == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    _("no key %s in [%s] of the secrets file %s; generate one with "
			      "'openssl rand -hex 32' and add it"),
			    key, group,
			    self->secrets_path != NULL ? self->secrets_path
						       : VB_SYSCONFDIR "/secrets.conf");
		return NULL;
	}
	problem = vb_config_decode_key32(entry->value, buf);
	if (problem != NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("key %s in [%s] of %s is not 64 hex characters (%s); generate "
			      "one with 'openssl rand -hex 32'"),
			    key, group, entry->origin, problem);
		return NULL;
	}
	bytes = vb_config_bytes_new_wiped(buf, sizeof(buf));
	sodium_memzero(buf, sizeof(buf));
	return bytes;
}

/**
 * vb_config_get_secrets_path:
 * @self: a #VbConfig
 *
 * Returns: (nullable): the secrets file that was last loaded, or consulted and found
 *   missing, or %NULL before vb_config_load_secrets() succeeded
 */
const gchar *
vb_config_get_secrets_path(VbConfig *self)
{
	g_return_val_if_fail(VB_IS_CONFIG(self), NULL);
	return self->secrets_path;
}
