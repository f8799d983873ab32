/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib.h>

/*
 * Runs every seed of one fuzzer's corpus, tests/fuzz/corpus/VB_FUZZ_CORPUS,
 * through its target, with any compiler: a seed that crashes or trips a
 * sanitizer fails the test, without libFuzzer.
 */

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static void
test_replay(gconstpointer user_data)
{
	const gchar *path = user_data;
	g_autofree gchar *contents = NULL;
	gsize len = 0;
	g_autoptr(GError) error = NULL;

	g_assert_true(g_file_get_contents(path, &contents, &len, &error));
	g_assert_no_error(error);
	g_assert_cmpint(LLVMFuzzerTestOneInput((const guint8 *)contents, len), ==, 0);
	/* every prefix too: the truncations a peer gone mid-answer gives */
	for (gsize i = 0; i < len; i++)
		LLVMFuzzerTestOneInput((const guint8 *)contents, i);
}

static gint
name_cmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

int
main(int argc, char **argv)
{
	g_autofree gchar *dir_path = NULL;
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	const gchar *name;

	g_test_init(&argc, &argv, NULL);
	dir_path = g_test_build_filename(G_TEST_DIST, "fuzz", "corpus", VB_FUZZ_CORPUS, NULL);
	dir = g_dir_open(dir_path, 0, &error);
	g_assert_no_error(error);
	while ((name = g_dir_read_name(dir)) != NULL)
		g_ptr_array_add(names, g_strdup(name));
	g_ptr_array_sort(names, name_cmp);
	/* a lost corpus must not pass as an empty one */
	g_assert_cmpuint(names->len, >=, 5);
	for (guint i = 0; i < names->len; i++) {
		const gchar *n = g_ptr_array_index(names, i);
		g_autofree gchar *test_path =
		    g_strdup_printf("/fuzz/%s/replay/%s", VB_FUZZ_CORPUS, n);
		g_test_add_data_func_full(test_path, g_build_filename(dir_path, n, NULL),
					  test_replay, g_free);
	}
	return g_test_run();
}
