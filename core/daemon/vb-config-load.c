/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* reading the main file and its conf.d drop-ins: the line scanner, which keeps
 * FILE:LINE of every key, and the checks on each file before it is read */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <sodium.h>

#include "vb-config-internal.h"
#include "vb-error.h"

/* config and secrets files are small; a bigger one is a mistake, not a config */
#define VB_CONFIG_FILE_MAX_SIZE (1024 * 1024)

/* a string that may hold a secret: wiped, then freed */
typedef gchar VbConfigWipedString;

static void
vb_config_wiped_string_free(VbConfigWipedString *str)
{
	vb_config_wipe_string(str);
	g_free(str);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbConfigWipedString, vb_config_wiped_string_free)

static gint
vb_config_error_code_from_file_error(const GError *error)
{
	if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
		return VB_ERROR_NOT_FOUND;
	if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_ACCES) ||
	    g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_PERM))
		return VB_ERROR_PERMISSION_DENIED;
	return VB_ERROR_IO;
}

/* the line scanner: GKeyFile's grammar, but it remembers FILE:LINE of every key and
 * reports every bad line, not only the first */

typedef struct {
	VbConfigTree *tree;
	const gchar *path;
	guint line;
	VbConfigGroup *group;
	gboolean in_bad_group; /* keys under a broken header are not reported again */
	GPtrArray *errors;
} VbConfigParser;

static gchar *
vb_config_parser_origin(VbConfigParser *parser)
{
	return g_strdup_printf("%s:%u", parser->path, parser->line);
}

static void
vb_config_parser_error(VbConfigParser *parser, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

static void
vb_config_parser_error(VbConfigParser *parser, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *origin = vb_config_parser_origin(parser);

	va_start(args, format);
	g_ptr_array_add(parser->errors, vb_config_format_message(origin, format, args));
	va_end(args);
}

/* as GKeyFile: non-empty, without '[', ']' or control characters */
static gboolean
vb_config_is_group_name(const gchar *name)
{
	if (*name == '\0')
		return FALSE;
	for (const gchar *p = name; *p != '\0'; p++) {
		if (*p == '[' || *p == ']' || g_ascii_iscntrl(*p))
			return FALSE;
	}
	return TRUE;
}

/* as GKeyFile: no '=', '[' or ']' except a trailing [locale], no space at either end */
static gboolean
vb_config_is_key_name(const gchar *key)
{
	const gchar *q = key;
	gsize len;

	while (*q != '\0' && *q != '=' && *q != '[' && *q != ']')
		q++;
	len = q - key;
	if (len == 0 || key[0] == ' ' || key[len - 1] == ' ')
		return FALSE;
	if (*q == '[') {
		q++;
		while (*q != '\0' && (g_unichar_isalnum(g_utf8_get_char(q)) || *q == '-' ||
				      *q == '_' || *q == '.' || *q == '@'))
			q = g_utf8_next_char(q);
		if (*q != ']')
			return FALSE;
		q++;
	}
	return *q == '\0';
}

/* as GKeyFile: '[', a name up to the first ']', then only blanks */
static gboolean
vb_config_line_is_group(const gchar *line, const gchar *end, gsize *name_len)
{
	const gchar *close;

	if (*line != '[')
		return FALSE;
	close = memchr(line, ']', end - line);
	if (close == NULL)
		return FALSE;
	for (const gchar *p = close + 1; p < end; p++) {
		if (*p != ' ' && *p != '\t')
			return FALSE;
	}
	*name_len = close - line - 1;
	return TRUE;
}

static void
vb_config_parse_group(VbConfigParser *parser, const gchar *start, gsize len)
{
	g_autofree gchar *name = g_strndup(start, len);
	g_autofree gchar *origin = NULL;
	g_autofree gchar *quoted = NULL;

	if (!vb_config_is_group_name(name)) {
		parser->group = NULL;
		parser->in_bad_group = TRUE;
		if (parser->tree->secret) {
			vb_config_parser_error(parser,
					       _("invalid section header; a section name must "
						 "not be empty or contain '[', ']' or control "
						 "characters"));
			return;
		}
		quoted = vb_config_quote(name);
		vb_config_parser_error(parser,
				       _("invalid section name %s; a section name must not be "
					 "empty or contain '[', ']' or control characters"),
				       quoted);
		return;
	}
	origin = vb_config_parser_origin(parser);
	parser->group = vb_config_tree_ensure_group(parser->tree, name, origin);
	parser->in_bad_group = FALSE;
}

static void
vb_config_parse_key_value(VbConfigParser *parser,
			  const gchar *line,
			  const gchar *eq,
			  const gchar *end)
{
	const gchar *key_end = eq;
	const gchar *value_start = eq + 1;
	const gchar *value_end = end;
	g_autoptr(VbConfigWipedString) key = NULL;
	g_autoptr(VbConfigWipedString) raw = NULL;
	g_autofree gchar *origin = NULL;
	g_autofree gchar *quoted = NULL;
	gchar *value;
	g_autoptr(GError) error_local = NULL;

	while (key_end > line && g_ascii_isspace(key_end[-1]))
		key_end--;
	key = g_strndup(line, key_end - line);
	if (!vb_config_is_key_name(key)) {
		/* in the secrets file a broken line may be a value: never show it */
		if (parser->tree->secret) {
			vb_config_parser_error(parser,
					       _("invalid key name; a key name must not contain "
						 "'[' or ']' or start or end with a space"));
			return;
		}
		quoted = vb_config_quote(key);
		vb_config_parser_error(parser,
				       _("invalid key name %s; a key name must not contain '[' "
					 "or ']' or start or end with a space"),
				       quoted);
		return;
	}
	if (parser->group == NULL) {
		if (parser->in_bad_group)
			return;
		vb_config_parser_error(parser,
				       _("this key is outside of any section; add a [section] "
					 "header above it"));
		return;
	}

	/* blanks around a value are dropped; \s keeps a space */
	while (value_start < value_end && g_ascii_isspace(*value_start))
		value_start++;
	while (value_end > value_start && g_ascii_isspace(value_end[-1]))
		value_end--;
	raw = g_strndup(value_start, value_end - value_start);
	origin = vb_config_parser_origin(parser);
	if (!parser->tree->secret) {
		vb_config_group_set(parser->group, key, g_steal_pointer(&raw), origin, FALSE);
		return;
	}

	/* secrets are unescaped now, so that no code path later has to */
	value = vb_config_unescape(raw, NULL, TRUE, &error_local);
	if (value == NULL) {
		vb_config_parser_error(parser, "%s", error_local->message);
		return;
	}
	vb_config_group_set(parser->group, key, value, origin, TRUE);
}

static void
vb_config_parse_line(VbConfigParser *parser, const gchar *line, gsize len)
{
	const gchar *end = line + len;
	const gchar *p = line;
	const gchar *eq;
	gsize name_len = 0;
	g_autofree gchar *text = NULL;
	g_autofree gchar *quoted = NULL;

	if (!g_utf8_validate_len(line, len, NULL)) {
		vb_config_parser_error(parser,
				       _("this line is not valid UTF-8 text; save the file as "
					 "UTF-8"));
		return;
	}
	while (p < end && g_ascii_isspace(*p))
		p++;
	if (p == end || *p == '#')
		return;
	if (vb_config_line_is_group(p, end, &name_len)) {
		vb_config_parse_group(parser, p + 1, name_len);
		return;
	}
	eq = memchr(p, '=', end - p);
	if (eq != NULL && eq != p) {
		vb_config_parse_key_value(parser, p, eq, end);
		return;
	}
	if (*p == '[' && memchr(p, ']', end - p) == NULL) {
		vb_config_parser_error(parser, _("this section header has no closing ']'"));
		return;
	}
	if (eq == p) {
		vb_config_parser_error(parser, _("a key name is missing before '='"));
		return;
	}
	if (parser->tree->secret) {
		vb_config_parser_error(parser,
				       _("this line is not a [section] header, a key = value "
					 "pair or a # comment"));
		return;
	}
	/* the line is not NUL-terminated in the file's buffer */
	text = g_strndup(p, end - p);
	quoted = vb_config_quote(text);
	vb_config_parser_error(parser,
			       _("expected a [section] header, a key = value pair or a # "
				 "comment, got %s"),
			       quoted);
}

void
vb_config_parse(VbConfigTree *tree,
		const gchar *path,
		const gchar *data,
		gsize len,
		GPtrArray *errors)
{
	VbConfigParser parser = {.tree = tree, .path = path, .errors = errors};
	const gchar *p = data;
	const gchar *end = data + len;

	/* some editors start UTF-8 files with a byte order mark */
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		const gchar *eol = memchr(p, '\n', end - p);
		gsize line_len = (eol != NULL ? eol : end) - p;

		parser.line++;
		if (line_len > 0 && p[line_len - 1] == '\r')
			line_len--;
		vb_config_parse_line(&parser, p, line_len);
		p = eol != NULL ? eol + 1 : end;
	}
}

/* the POSIX ACL xattr, as in linux/posix_acl_xattr.h */
#define VB_CONFIG_ACL_XATTR "system.posix_acl_access"
#define VB_CONFIG_ACL_VERSION 2
#define VB_CONFIG_ACL_USER_OBJ 0x01
#define VB_CONFIG_ACL_USER 0x02
#define VB_CONFIG_ACL_GROUP_OBJ 0x04
#define VB_CONFIG_ACL_GROUP 0x08
#define VB_CONFIG_ACL_MASK 0x10
#define VB_CONFIG_ACL_OTHER 0x20

/* systemd's LoadCredential= gives a non-root service read access with an ACL entry
 * user:UID:r on a root-owned 0400 file, and stat() then shows the ACL mask as group
 * bits (0440). Such a file is still private: only the owner and the effective user
 * have an entry, and the owning group, other groups and others have no access */
static gboolean
vb_config_acl_is_private(gint fd, uid_t euid)
{
	guint8 buf[1024];
	gssize len = fgetxattr(fd, VB_CONFIG_ACL_XATTR, buf, sizeof(buf));
	guint32 version;

	if (len < 4 || (len - 4) % 8 != 0)
		return FALSE;
	memcpy(&version, buf, sizeof(version));
	if (GUINT32_FROM_LE(version) != VB_CONFIG_ACL_VERSION)
		return FALSE;
	for (gssize i = 4; i < len; i += 8) {
		guint16 tag, perm;
		guint32 id;

		memcpy(&tag, buf + i, sizeof(tag));
		memcpy(&perm, buf + i + 2, sizeof(perm));
		memcpy(&id, buf + i + 4, sizeof(id));
		switch (GUINT16_FROM_LE(tag)) {
		case VB_CONFIG_ACL_USER_OBJ:
		case VB_CONFIG_ACL_MASK:
			break;
		case VB_CONFIG_ACL_USER:
			if (GUINT32_FROM_LE(id) != euid)
				return FALSE;
			break;
		case VB_CONFIG_ACL_GROUP_OBJ:
		case VB_CONFIG_ACL_GROUP:
		case VB_CONFIG_ACL_OTHER:
			if (GUINT16_FROM_LE(perm) != 0)
				return FALSE;
			break;
		default:
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
vb_config_check_file(gint fd,
		     const gchar *path,
		     const struct stat *st,
		     gboolean secret,
		     GError **error)
{
	uid_t euid = geteuid();

	if (!secret) {
		if (S_ISREG(st->st_mode))
			return TRUE;
		g_set_error(error, VB_ERROR, VB_ERROR_IO,
			    _("%s is not a regular file; remove it or replace it with a "
			      "configuration file"),
			    path);
		return FALSE;
	}
	if (!S_ISREG(st->st_mode)) {
		g_set_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
			    _("secrets file %s is not a regular file; replace it with a plain "
			      "file of mode 0600"),
			    path);
		return FALSE;
	}
	if ((st->st_mode & 077) != 0 &&
	    ((st->st_mode & 007) != 0 || !vb_config_acl_is_private(fd, euid))) {
		g_set_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
			    _("secrets file %s has mode %04o, which lets its group or others "
			      "access it; run 'chmod 600 %s'"),
			    path, (guint)(st->st_mode & 07777), path);
		return FALSE;
	}
	if (st->st_uid != euid && st->st_uid != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED,
			    _("secrets file %s is owned by uid %u, neither root nor the user "
			      "vestibuled runs as (uid %u); run 'chown %u %s'"),
			    path, (guint)st->st_uid, (guint)euid, (guint)euid, path);
		return FALSE;
	}
	return TRUE;
}

/* reads to the end; the buffer is wiped whenever it moves, so that no stray copy
 * of a secret is left in freed memory */
static gchar *
vb_config_read_fd(gint fd, const gchar *path, gsize *len_out, GError **error)
{
	gsize size = 4096;
	gsize len = 0;
	gchar *buf = g_malloc(size);

	for (;;) {
		gssize n;

		if (len + 1 == size) {
			gchar *bigger;

			if (size >= VB_CONFIG_FILE_MAX_SIZE) {
				sodium_memzero(buf, size);
				g_free(buf);
				g_set_error(error, VB_ERROR, VB_ERROR_TOO_LARGE,
					    _("%s is larger than %u bytes; is it the right file?"),
					    path, (guint)VB_CONFIG_FILE_MAX_SIZE);
				return NULL;
			}
			bigger = g_malloc(size * 2);
			memcpy(bigger, buf, len);
			sodium_memzero(buf, size);
			g_free(buf);
			buf = bigger;
			size *= 2;
		}
		n = read(fd, buf + len, size - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			gint errsv = errno;
			sodium_memzero(buf, size);
			g_free(buf);
			g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
				    _("cannot read %s: %s"), path, g_strerror(errsv));
			return NULL;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	*len_out = len;
	return buf;
}

static gchar *
vb_config_read_open_file(gint fd,
			 const gchar *path,
			 gboolean secret,
			 gsize *len_out,
			 GError **error)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv), _("cannot read %s: %s"),
			    path, g_strerror(errsv));
		return NULL;
	}
	if (!vb_config_check_file(fd, path, &st, secret, error))
		return NULL;
	return vb_config_read_fd(fd, path, len_out, error);
}

/* VB_ERROR_NOT_FOUND means the file does not exist, nothing else */
gchar *
vb_config_read_file(const gchar *path, gboolean secret, gsize *len_out, GError **error)
{
	gchar *data;
	gint fd;

	/* O_NONBLOCK: a fifo must not hang the daemon; it is refused after fstat */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		gint errsv = errno;
		gint code = vb_error_from_errno(errsv);

		if (errsv == ENOENT)
			code = VB_ERROR_NOT_FOUND;
		else if (code == VB_ERROR_NOT_FOUND)
			code = VB_ERROR_IO;
		if (secret && errsv == EACCES) {
			g_set_error(error, VB_ERROR, code,
				    _("cannot open secrets file %s: %s; make it owned by the user "
				      "vestibuled runs as (uid %u) with mode 0600, or pass it with "
				      "systemd's LoadCredential="),
				    path, g_strerror(errsv), (guint)geteuid());
			return NULL;
		}
		g_set_error(error, VB_ERROR, code, _("cannot open %s: %s"), path,
			    g_strerror(errsv));
		return NULL;
	}
	data = vb_config_read_open_file(fd, path, secret, len_out, error);
	g_close(fd, NULL);
	return data;
}

static gint
vb_config_strcmp_ptr(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* DIR/conf.d/\*.conf in strcmp order; a missing conf.d is fine */
static GPtrArray *
vb_config_list_drop_ins(const gchar *dir, GError **error)
{
	g_autofree gchar *confd = g_build_filename(dir, "conf.d", NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) gdir = NULL;
	g_autoptr(GError) error_local = NULL;
	const gchar *name;

	gdir = g_dir_open(confd, 0, &error_local);
	if (gdir == NULL) {
		if (g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return g_steal_pointer(&paths);
		g_set_error(error, VB_ERROR, vb_config_error_code_from_file_error(error_local),
			    _("cannot list the drop-in directory %s: %s"), confd,
			    error_local->message);
		return NULL;
	}
	while ((name = g_dir_read_name(gdir)) != NULL) {
		/* hidden files are editor and package manager leftovers */
		if (name[0] == '.' || !g_str_has_suffix(name, ".conf"))
			continue;
		g_ptr_array_add(names, g_strdup(name));
	}
	g_ptr_array_sort(names, vb_config_strcmp_ptr);
	for (guint i = 0; i < names->len; i++)
		g_ptr_array_add(paths, g_build_filename(confd, g_ptr_array_index(names, i), NULL));
	return g_steal_pointer(&paths);
}

static gboolean
vb_config_load_file(VbConfig *self,
		    const gchar *path,
		    gboolean main_file,
		    GPtrArray *errors,
		    GError **error)
{
	g_autofree gchar *data = NULL;
	g_autoptr(GError) error_local = NULL;
	gsize len = 0;

	data = vb_config_read_file(path, FALSE, &len, &error_local);
	if (data == NULL) {
		if (main_file && g_error_matches(error_local, VB_ERROR, VB_ERROR_NOT_FOUND)) {
			g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
				    _("configuration file %s does not exist: create it, or give "
				      "the path of "
				      "another file"),
				    path);
			return FALSE;
		}
		g_propagate_error(error, g_steal_pointer(&error_local));
		if (!main_file)
			g_prefix_error(error, _("cannot load drop-in: "));
		return FALSE;
	}
	g_ptr_array_add(self->files, g_strdup(path));
	vb_config_parse(self->tree, path, data, len, errors);
	return TRUE;
}

/**
 * vb_config_load:
 * @self: a #VbConfig
 * @path: the main configuration file
 * @error: return location for a #GError
 *
 * Loads @path, then every `DIR/conf.d/\*.conf` in strcmp order, where DIR is the
 * directory of @path. Groups merge; a later file overrides an earlier one key by
 * key. Every syntax error of every file is reported, each as `FILE:LINE: ...`.
 *
 * Returns: %TRUE on success
 */
gboolean
vb_config_load(VbConfig *self, const gchar *path, GError **error)
{
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) drop_ins = NULL;
	g_autofree gchar *dir = NULL;

	g_return_val_if_fail(VB_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(path != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	/* a config is loaded once; a reload builds a new one */
	g_return_val_if_fail(!self->loaded, FALSE);

	self->loaded = TRUE;
	if (!vb_config_load_file(self, path, TRUE, errors, error))
		return FALSE;
	dir = g_path_get_dirname(path);
	drop_ins = vb_config_list_drop_ins(dir, error);
	if (drop_ins == NULL)
		return FALSE;
	for (guint i = 0; i < drop_ins->len; i++) {
		if (!vb_config_load_file(self, g_ptr_array_index(drop_ins, i), FALSE, errors,
					 error))
			return FALSE;
	}
	if (errors->len > 0) {
		vb_config_set_errors(error, errors);
		return FALSE;
	}
	return TRUE;
}
