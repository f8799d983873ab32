/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vb-config-private.h"
#include "vb-error.h"

/*
 * The libFuzzer target of the config parser. The input is a control byte,
 * then the main file, a conf.d drop-in and the secrets file, separated by
 * lines "----". The control byte chooses the secrets file's mode (private
 * or not), and whether the drop-in and the secrets file exist. The files go
 * through vb_config_load, vb_config_load_secrets and vb_config_validate, as
 * when the daemon starts.
 */

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

#define FUZZ_SEPARATOR "\n----\n"

/* the secrets modes: private first, then ones the checks refuse */
static const mode_t fuzz_secrets_modes[] = {0600, 0400, 0640, 0604, 0660, 0700};

static gchar *fuzz_dir = NULL;
static gchar *fuzz_main_path = NULL;
static gchar *fuzz_drop_in_path = NULL;
static gchar *fuzz_secrets_path = NULL;

static void
fuzz_cleanup(void)
{
	g_autofree gchar *confd = g_build_filename(fuzz_dir, "conf.d", NULL);

	g_unlink(fuzz_main_path);
	g_unlink(fuzz_drop_in_path);
	g_unlink(fuzz_secrets_path);
	g_rmdir(confd);
	g_rmdir(fuzz_dir);
}

/* one directory for the whole run, in memory when /dev/shm exists */
static void
fuzz_setup_once(void)
{
	const gchar *base =
	    g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : g_get_tmp_dir();
	g_autofree gchar *confd = NULL;

	if (fuzz_dir != NULL)
		return;
	fuzz_dir = g_build_filename(base, "vb-fuzz-config-XXXXXX", NULL);
	if (g_mkdtemp(fuzz_dir) == NULL)
		g_error("cannot create a directory in %s: %s", base, g_strerror(errno));
	confd = g_build_filename(fuzz_dir, "conf.d", NULL);
	if (g_mkdir(confd, 0700) != 0)
		g_error("cannot create %s: %s", confd, g_strerror(errno));
	fuzz_main_path = g_build_filename(fuzz_dir, "vestibule.conf", NULL);
	fuzz_drop_in_path = g_build_filename(confd, "50-fuzz.conf", NULL);
	fuzz_secrets_path = g_build_filename(fuzz_dir, "secrets.conf", NULL);
	atexit(fuzz_cleanup);
}

static void
fuzz_write(const gchar *path, const guint8 *data, gsize size, mode_t mode)
{
	gint fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		g_error("cannot create %s: %s", path, g_strerror(errno));
	/* fchmod: the umask must not decide the mode the checks see */
	if (fchmod(fd, mode) != 0)
		g_error("cannot chmod %s: %s", path, g_strerror(errno));
	while (size > 0) {
		gssize n = write(fd, data, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			g_error("cannot write %s: %s", path, g_strerror(errno));
		data += n;
		size -= (gsize)n;
	}
	g_close(fd, NULL);
}

/* the next part of the input, up to the separator or the end */
static gsize
fuzz_next_part(const guint8 **data, gsize *size, const guint8 **part)
{
	const guint8 *sep = memmem(*data, *size, FUZZ_SEPARATOR, strlen(FUZZ_SEPARATOR));
	gsize len = sep != NULL ? (gsize)(sep - *data) : *size;

	*part = *data;
	if (sep != NULL) {
		*data = sep + strlen(FUZZ_SEPARATOR);
		*size -= len + strlen(FUZZ_SEPARATOR);
	} else {
		*data += len;
		*size = 0;
	}
	return len;
}

static void
fuzz_walk(VbConfig *config)
{
	g_auto(GStrv) groups = vb_config_get_groups(config);

	for (guint i = 0; groups != NULL && groups[i] != NULL; i++) {
		g_auto(GStrv) keys = vb_config_get_keys(config, groups[i]);

		g_assert_true(vb_config_has_group(config, groups[i]));
		for (guint j = 0; keys != NULL && keys[j] != NULL; j++) {
			g_autofree gchar *origin = vb_config_get_origin(config, groups[i], keys[j]);
			g_autofree gchar *raw = vb_config_get_raw(config, groups[i], keys[j]);

			/* every key loaded says where it came from */
			g_assert_nonnull(origin);
			g_assert_nonnull(raw);
		}
	}
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	g_autoptr(VbConfig) config = NULL;
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	const guint8 *part;
	gsize len;
	guint8 control;
	gboolean loaded;

	if (size == 0)
		return 0;
	fuzz_setup_once();
	control = data[0];
	data++;
	size--;

	len = fuzz_next_part(&data, &size, &part);
	fuzz_write(fuzz_main_path, part, len, 0644);
	len = fuzz_next_part(&data, &size, &part);
	if (control & 0x01)
		fuzz_write(fuzz_drop_in_path, part, len, 0644);
	else
		g_unlink(fuzz_drop_in_path);
	len = fuzz_next_part(&data, &size, &part);
	if (control & 0x02)
		g_unlink(fuzz_secrets_path);
	else
		fuzz_write(fuzz_secrets_path, part, len,
			   fuzz_secrets_modes[(control >> 2) % G_N_ELEMENTS(fuzz_secrets_modes)]);

	config = vb_config_new();
	loaded = vb_config_load(config, fuzz_main_path, &error);
	g_assert_true(loaded == (error == NULL));
	g_clear_error(&error);
	if (!vb_config_load_secrets(config, fuzz_secrets_path, &error)) {
		g_assert_error(error, VB_ERROR, error->code);
		g_clear_error(&error);
	}
	fuzz_walk(config);
	if (!loaded)
		return 0;
	if (vb_config_validate(config, warnings, &error)) {
		g_autoptr(GBytes) key = NULL;

		/* each key of a validated config reads back */
		(void)vb_config_get_string(config, "vestibule", "name");
		(void)vb_config_get_int(config, "http", "port");
		key = vb_config_get_secret_key32(config, "vestibule", "card-token-key", NULL);
		g_assert_true(key == NULL || g_bytes_get_size(key) == 32);
	} else {
		g_assert_error(error, VB_ERROR, error->code);
	}
	return 0;
}
