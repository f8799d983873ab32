/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* validation: each section resolved against its schema, the checks across
 * sections, and every error of every file reported at once, in file order */

#include "config.h"

#include <string.h>
#include <sys/un.h>

#include <glib/gi18n-lib.h>

#include "vb-config-internal.h"
#include "vb-error.h"

/* door roles and store-wide services that name an [instance:NAME] */
static const gchar *const vb_config_door_roles[] = {"reader", "lock", "keypad", "display", NULL};
static const gchar *const vb_config_service_roles[] = {"sms", "sms-fallback", "payment", NULL};

/* Levenshtein distance, for "did you mean" hints */
static guint
vb_config_edit_distance(const gchar *a, const gchar *b)
{
	gsize la = strlen(a);
	gsize lb = strlen(b);
	g_autofree guint *prev = g_new(guint, lb + 1);
	g_autofree guint *cur = g_new(guint, lb + 1);

	for (gsize j = 0; j <= lb; j++)
		prev[j] = j;
	for (gsize i = 1; i <= la; i++) {
		guint *tmp;

		cur[0] = i;
		for (gsize j = 1; j <= lb; j++) {
			guint cost = a[i - 1] == b[j - 1] ? 0 : 1;
			cur[j] = MIN(MIN(prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);
		}
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
	return prev[lb];
}

static const gchar *
vb_config_suggest_key(const VbSettingSpec *specs, guint n_specs, const gchar *key)
{
	const gchar *best = NULL;
	guint best_distance = 3;

	for (guint i = 0; i < n_specs && specs[i].key != NULL; i++) {
		guint distance = vb_config_edit_distance(key, specs[i].key);
		if (distance < best_distance && distance < strlen(key)) {
			best = specs[i].key;
			best_distance = distance;
		}
	}
	return best;
}

static void
vb_config_resolve_group(VbConfig *self,
			const gchar *group_name,
			const VbSettingSpec *specs,
			guint n_specs,
			const gchar *const *extra_keys,
			gboolean warn_unknown,
			GHashTable *values,
			GPtrArray *warnings,
			GPtrArray *errors)
{
	VbConfigGroup *group = vb_config_tree_lookup(self->tree, group_name);

	for (guint i = 0; i < n_specs && specs[i].key != NULL; i++) {
		const VbSettingSpec *spec = &specs[i];
		VbConfigEntry *entry = vb_config_group_lookup(group, spec->key);
		g_autoptr(GError) error_local = NULL;
		GVariant *value;

		if (entry != NULL) {
			value = vb_setting_parse(spec, entry->value, &error_local);
			if (value == NULL) {
				vb_config_add_message(errors, entry->origin, "[%s] %s: %s",
						      group_name, spec->key, error_local->message);
				continue;
			}
		} else if (spec->default_value == NULL) {
			vb_config_add_message(errors, group != NULL ? group->origin : NULL,
					      _("[%s] has no key '%s', which is required; add "
						"%s=VALUE"),
					      group_name, spec->key, spec->key);
			continue;
		} else {
			value = vb_setting_parse(spec, spec->default_value, &error_local);
			if (value == NULL) {
				/* a bug in whoever declared the spec, not in the file */
				vb_config_add_message(
				    errors, NULL, "[%s] %s: the declared default is invalid: %s",
				    group_name, spec->key, error_local->message);
				continue;
			}
		}
		g_hash_table_replace(values, g_strdup(spec->key), value);
	}

	if (group == NULL || !warn_unknown)
		return;
	for (guint i = 0; i < group->entries->len; i++) {
		VbConfigEntry *entry = g_ptr_array_index(group->entries, i);
		const gchar *suggestion;

		if (vb_config_find_spec(specs, n_specs, entry->key) != NULL)
			continue;
		if (extra_keys != NULL && g_strv_contains(extra_keys, entry->key))
			continue;
		suggestion = vb_config_suggest_key(specs, n_specs, entry->key);
		if (suggestion != NULL) {
			vb_config_add_message(warnings, entry->origin,
					      _("unknown key '%s' in [%s] is ignored; did you mean "
						"'%s'?"),
					      entry->key, group_name, suggestion);
			continue;
		}
		vb_config_add_message(warnings, entry->origin,
				      _("unknown key '%s' in [%s] is ignored"), entry->key,
				      group_name);
	}
}

/**
 * vb_config_resolve:
 * @self: a #VbConfig
 * @group: a section name such as `instance:front-lock`
 * @specs: the declared keys
 * @n_specs: the number of @specs; a spec with a %NULL key also ends them
 * @extra_keys: (nullable): keys of @group that someone else declares
 * @values: key -> #GVariant, created by the caller with g_str_hash, g_str_equal,
 *   g_free and g_variant_unref
 * @warnings: (nullable): gets "FILE:LINE: ..." for each unknown key; %NULL logs them
 * @error: return location for a #GError
 *
 * Resolves each spec for @group, applying defaults. Every problem of the section is
 * reported at once, one per line of the message.
 *
 * Returns: %TRUE on success
 */
gboolean
vb_config_resolve(VbConfig *self,
		  const gchar *group,
		  const VbSettingSpec *specs,
		  guint n_specs,
		  const gchar *const *extra_keys,
		  GHashTable *values,
		  GPtrArray *warnings,
		  GError **error)
{
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);

	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(group != NULL, FALSE);
	g_return_val_if_fail(specs != NULL || n_specs == 0, FALSE);
	g_return_val_if_fail(values != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	vb_config_resolve_group(self, group, specs, n_specs, extra_keys, TRUE, values, warnings,
				errors);
	if (errors->len > 0) {
		vb_config_set_errors(error, errors);
		return FALSE;
	}
	return TRUE;
}

static const gchar *
vb_config_value_string(GHashTable *all, const gchar *group, const gchar *key)
{
	GHashTable *values = g_hash_table_lookup(all, group);
	GVariant *value = values != NULL ? g_hash_table_lookup(values, key) : NULL;

	if (value == NULL || !g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
		return NULL;
	return g_variant_get_string(value, NULL);
}

static gboolean
vb_config_is_letters(const gchar *str, gsize min_len, gsize max_len, gboolean upper)
{
	gsize len = strlen(str);

	if (len < min_len || len > max_len)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (upper ? !g_ascii_isupper(str[i]) : !g_ascii_islower(str[i]))
			return FALSE;
	}
	return TRUE;
}

static void
vb_config_check_vestibule(VbConfig *self, GHashTable *all, GPtrArray *errors)
{
	const gchar *country = vb_config_value_string(all, "vestibule", "country");
	const gchar *currency = vb_config_value_string(all, "vestibule", "currency");
	const gchar *language = vb_config_value_string(all, "vestibule", "language");
	const gchar *state_dir = vb_config_value_string(all, "vestibule", "state-dir");
	g_autofree gchar *quoted = NULL;

	if (country != NULL && g_strcmp0(country, "UK") == 0) {
		vb_config_add_message(errors, vb_config_origin_of(self, "vestibule", "country"),
				      _("[vestibule] country: 'UK' is not an ISO 3166-1 code; the "
					"United Kingdom is GB"));
	} else if (country != NULL && !vb_config_is_letters(country, 2, 2, TRUE)) {
		quoted = vb_config_quote(country);
		vb_config_add_message(errors, vb_config_origin_of(self, "vestibule", "country"),
				      _("[vestibule] country: expected an ISO 3166-1 alpha-2 code "
					"of two upper-case letters such as FR or DE, got %s"),
				      quoted);
		g_clear_pointer(&quoted, g_free);
	}
	if (currency != NULL && !vb_config_is_letters(currency, 3, 3, TRUE)) {
		quoted = vb_config_quote(currency);
		vb_config_add_message(errors, vb_config_origin_of(self, "vestibule", "currency"),
				      _("[vestibule] currency: expected an ISO 4217 code of three "
					"upper-case letters such as EUR or USD, got %s"),
				      quoted);
		g_clear_pointer(&quoted, g_free);
	}
	if (language != NULL && !vb_config_is_letters(language, 2, 3, FALSE)) {
		quoted = vb_config_quote(language);
		vb_config_add_message(errors, vb_config_origin_of(self, "vestibule", "language"),
				      _("[vestibule] language: expected an ISO 639 code of two or "
					"three lower-case letters such as en or fr, got %s"),
				      quoted);
		g_clear_pointer(&quoted, g_free);
	}
	if (state_dir != NULL && !g_path_is_absolute(state_dir)) {
		quoted = vb_config_quote(state_dir);
		vb_config_add_message(errors, vb_config_origin_of(self, "vestibule", "state-dir"),
				      _("[vestibule] state-dir: expected an absolute path, got %s"),
				      quoted);
	}
}

static void
vb_config_check_http(VbConfig *self, GHashTable *all, GPtrArray *errors)
{
	const gchar *address = vb_config_value_string(all, "http", "address");
	const gchar *public_url = vb_config_value_string(all, "http", "public-url");
	const gchar *socket = vb_config_value_string(all, "http", "control-socket");
	g_autofree gchar *quoted = NULL;

	if (address != NULL && !g_hostname_is_ip_address(address)) {
		quoted = vb_config_quote(address);
		vb_config_add_message(errors, vb_config_origin_of(self, "http", "address"),
				      _("[http] address: expected an IP address such as 127.0.0.1, "
					"0.0.0.0 or ::1, got %s"),
				      quoted);
		g_clear_pointer(&quoted, g_free);
	}
	if (public_url != NULL && public_url[0] != '\0') {
		g_autoptr(GUri) uri = g_uri_parse(public_url, G_URI_FLAGS_NONE, NULL);
		const gchar *scheme = uri != NULL ? g_uri_get_scheme(uri) : NULL;
		const gchar *host = uri != NULL ? g_uri_get_host(uri) : NULL;

		if (uri == NULL ||
		    (g_strcmp0(scheme, "http") != 0 && g_strcmp0(scheme, "https") != 0) ||
		    host == NULL || host[0] == '\0') {
			quoted = vb_config_quote(public_url);
			vb_config_add_message(
			    errors, vb_config_origin_of(self, "http", "public-url"),
			    _("[http] public-url: expected an http:// or https:// "
			      "URL such as https://shop.example.com, got %s"),
			    quoted);
			g_clear_pointer(&quoted, g_free);
		}
	}
	if (socket != NULL && !g_path_is_absolute(socket)) {
		quoted = vb_config_quote(socket);
		vb_config_add_message(errors, vb_config_origin_of(self, "http", "control-socket"),
				      _("[http] control-socket: expected an absolute path, got %s"),
				      quoted);
	} else if (socket != NULL &&
		   strlen(socket) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		vb_config_add_message(
		    errors, vb_config_origin_of(self, "http", "control-socket"),
		    _("[http] control-socket: the path is %u bytes long; a socket "
		      "path must be shorter than %u bytes"),
		    (guint)strlen(socket), (guint)sizeof(((struct sockaddr_un *)NULL)->sun_path));
	}
}

/* a role names an [instance:NAME] that must exist */
static void
vb_config_check_reference(VbConfig *self,
			  GHashTable *all,
			  const gchar *group,
			  const gchar *key,
			  const gchar *name,
			  GPtrArray *warnings,
			  GPtrArray *errors)
{
	g_autofree gchar *target = g_strdup_printf("instance:%s", name);
	GHashTable *values;
	GVariant *enabled;

	if (!vb_config_has_group(self, target)) {
		vb_config_add_message(errors, vb_config_origin_of(self, group, key),
				      _("[%s] %s: no section [%s]; add it with plugin=NAME, or fix "
					"the name"),
				      group, key, target);
		return;
	}
	values = g_hash_table_lookup(all, target);
	enabled = values != NULL ? g_hash_table_lookup(values, "enabled") : NULL;
	if (enabled != NULL && !g_variant_get_boolean(enabled)) {
		vb_config_add_message(warnings, vb_config_origin_of(self, group, key),
				      _("[%s] %s: [%s] is disabled, so the role stays empty"),
				      group, key, target);
	}
}

static void
vb_config_check_references(VbConfig *self, GHashTable *all, GPtrArray *warnings, GPtrArray *errors)
{
	GHashTable *services = g_hash_table_lookup(all, "services");

	for (guint i = 0; i < self->tree->groups->len; i++) {
		VbConfigGroup *group = g_ptr_array_index(self->tree->groups, i);

		if (!g_str_has_prefix(group->name, "door:"))
			continue;
		for (guint j = 0; vb_config_door_roles[j] != NULL; j++) {
			const gchar *role = vb_config_door_roles[j];
			const gchar *name = vb_config_value_string(all, group->name, role);
			if (name != NULL && name[0] != '\0')
				vb_config_check_reference(self, all, group->name, role, name,
							  warnings, errors);
		}
	}
	for (guint j = 0; vb_config_service_roles[j] != NULL; j++) {
		const gchar *role = vb_config_service_roles[j];
		const gchar *name = vb_config_value_string(all, "services", role);
		if (name != NULL && name[0] != '\0')
			vb_config_check_reference(self, all, "services", role, name, warnings,
						  errors);
	}
	if (services != NULL && g_hash_table_lookup(services, "loyalty") != NULL) {
		g_autofree const gchar **names =
		    g_variant_get_strv(g_hash_table_lookup(services, "loyalty"), NULL);
		for (guint j = 0; names[j] != NULL; j++)
			vb_config_check_reference(self, all, "services", "loyalty", names[j],
						  warnings, errors);
	}
}

/* where a "FILE:LINE: ..." message points: the file's load order, then the line;
 * messages without a location go last */
static void
vb_config_message_location(VbConfig *self, const gchar *msg, guint *file_rank, guint64 *line)
{
	*file_rank = G_MAXUINT;
	*line = 0;
	for (guint i = 0; i <= self->files->len; i++) {
		const gchar *path =
		    i < self->files->len ? g_ptr_array_index(self->files, i) : self->secrets_path;
		gsize len = path != NULL ? strlen(path) : 0;

		if (len == 0 || strncmp(msg, path, len) != 0 || msg[len] != ':')
			continue;
		*file_rank = i;
		*line = g_ascii_strtoull(msg + len + 1, NULL, 10);
		return;
	}
}

static gint
vb_config_message_cmp(gconstpointer a, gconstpointer b, gpointer user_data)
{
	VbConfig *self = user_data;
	guint rank_a, rank_b;
	guint64 line_a, line_b;

	vb_config_message_location(self, *(const gchar *const *)a, &rank_a, &line_a);
	vb_config_message_location(self, *(const gchar *const *)b, &rank_b, &line_b);
	if (rank_a != rank_b)
		return rank_a < rank_b ? -1 : 1;
	if (line_a != line_b)
		return line_a < line_b ? -1 : 1;
	return 0;
}

/**
 * vb_config_validate:
 * @self: a loaded #VbConfig
 * @warnings: (nullable): gets "FILE:LINE: ..." strings; %NULL logs them
 * @error: return location for a #GError
 *
 * Checks the core sections against the core schema and the references between
 * them, then keeps the resolved values for the vb_config_get_*() lookups. The keys a
 * plugin owns in its [instance:NAME] section are left to the plugin loader. Every
 * error is reported in one message, one per line, each prefixed with FILE:LINE.
 * Nothing here touches the network or a device.
 *
 * Returns: %TRUE if the configuration can be used
 */
gboolean
vb_config_validate(VbConfig *self, GPtrArray *warnings, GError **error)
{
	const gchar *fixed[] = {"vestibule", "http", "services", "visit", "sms", "outbox"};
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) all = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
							  (GDestroyNotify)g_hash_table_unref);

	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	/* fixed sections resolve even when absent, so their defaults can be read */
	for (guint i = 0; i < G_N_ELEMENTS(fixed); i++) {
		guint n_specs = 0;
		const VbSettingSpec *specs = vb_config_get_core_specs(fixed[i], &n_specs);
		GHashTable *values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
							   (GDestroyNotify)g_variant_unref);
		g_hash_table_insert(all, g_strdup(fixed[i]), values);
		vb_config_resolve_group(self, fixed[i], specs, n_specs,
					i == 0 ? vb_config_core_secret_keys : NULL, TRUE, values,
					warnings, errors);
	}
	for (guint i = 0; i < self->tree->groups->len; i++) {
		VbConfigGroup *group = g_ptr_array_index(self->tree->groups, i);
		const gchar *name = NULL;
		const gchar *kind = vb_config_group_kind(group->name, &name);
		const VbSettingSpec *specs;
		guint n_specs = 0;
		GHashTable *values;
		g_autofree gchar *quoted = NULL;

		if (kind == NULL) {
			vb_config_add_message(warnings, group->origin,
					      _("unknown section [%s] is ignored"), group->name);
			continue;
		}
		if (name == NULL)
			continue;
		if (!vb_config_is_instance_name(name)) {
			quoted = vb_config_quote(name);
			vb_config_add_message(
			    errors, group->origin,
			    _("[%s]: invalid name %s; use 1 to 32 lower-case "
			      "letters, digits, '-' or '_', starting with a letter "
			      "or digit"),
			    group->name, quoted);
		}
		specs = vb_config_get_core_specs(kind, &n_specs);
		values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					       (GDestroyNotify)g_variant_unref);
		g_hash_table_insert(all, g_strdup(group->name), values);
		/* the rest of an instance section belongs to its plugin */
		vb_config_resolve_group(self, group->name, specs, n_specs, NULL,
					g_strcmp0(kind, "instance") != 0, values, warnings, errors);
	}
	vb_config_check_vestibule(self, all, errors);
	vb_config_check_http(self, all, errors);
	vb_config_check_references(self, all, warnings, errors);
	vb_config_check_misplaced_secrets(self, errors);
	vb_config_check_secrets(self, warnings, errors);

	if (errors->len > 0) {
		/* in file order, as a compiler would list them; the sort is stable */
		g_ptr_array_sort_with_data(errors, vb_config_message_cmp, self);
		vb_config_set_errors(error, errors);
		return FALSE;
	}
	g_clear_pointer(&self->values, g_hash_table_unref);
	self->values = g_steal_pointer(&all);
	return TRUE;
}
