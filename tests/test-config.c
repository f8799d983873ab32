/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "vb-test-files.h"
#include "vb-config-private.h"
#include "vb-error.h"

/* a well-formed key and a value that must never show up in a message */
#define TEST_KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define TEST_SECRET_TEXT "s3cr3t-Tw1l10-t0k3n"

typedef struct {
	gchar *dir;
} Fixture;

static void
vb_assert_contains_impl(const gchar *file,
			gint line,
			const gchar *func,
			const gchar *haystack,
			const gchar *needle)
{
	g_autofree gchar *msg = NULL;

	if (haystack != NULL && strstr(haystack, needle) != NULL)
		return;
	msg = g_strdup_printf("expected \"%s\" to contain \"%s\"", haystack, needle);
	g_assertion_message(G_LOG_DOMAIN, file, line, func, msg);
}

static void
vb_assert_not_contains_impl(const gchar *file,
			    gint line,
			    const gchar *func,
			    const gchar *haystack,
			    const gchar *needle)
{
	g_autofree gchar *msg = NULL;

	if (haystack == NULL || strstr(haystack, needle) == NULL)
		return;
	msg = g_strdup_printf("\"%s\" must not contain \"%s\"", haystack, needle);
	g_assertion_message(G_LOG_DOMAIN, file, line, func, msg);
}

#define vb_assert_contains(h, n) vb_assert_contains_impl(__FILE__, __LINE__, G_STRFUNC, (h), (n))
#define vb_assert_not_contains(h, n)                                                               \
	vb_assert_not_contains_impl(__FILE__, __LINE__, G_STRFUNC, (h), (n))

/* all warnings as one text, to search in */
static gchar *
join_messages(GPtrArray *messages)
{
	g_autoptr(GString) str = g_string_new(NULL);

	for (guint i = 0; i < messages->len; i++) {
		g_string_append(str, g_ptr_array_index(messages, i));
		g_string_append_c(str, '\n');
	}
	return g_string_free(g_steal_pointer(&str), FALSE);
}

static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;

	fx->dir = g_dir_make_tmp("vb-test-config-XXXXXX", &error);
	g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
	vb_test_remove_tree(fx->dir);
	g_free(fx->dir);
}

/* writes DIR/@relpath, creating its directory, and returns its full path */
static gchar *
write_file(Fixture *fx, const gchar *relpath, const gchar *contents)
{
	g_autofree gchar *path = g_build_filename(fx->dir, relpath, NULL);
	g_autofree gchar *parent = g_path_get_dirname(path);
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(g_mkdir_with_parents(parent, 0700), ==, 0);
	g_file_set_contents(path, contents, -1, &error);
	g_assert_no_error(error);
	return g_steal_pointer(&path);
}

static gchar *
write_secrets(Fixture *fx, const gchar *contents, guint mode)
{
	gchar *path = write_file(fx, "secrets.conf", contents);

	g_assert_cmpint(g_chmod(path, mode), ==, 0);
	return path;
}

/* loads DIR/vestibule.conf written from @contents */
static VbConfig *
load_config(Fixture *fx, const gchar *contents, GError **error)
{
	g_autoptr(VbConfig) config = vb_config_new();
	g_autofree gchar *path = write_file(fx, "vestibule.conf", contents);

	if (!vb_config_load(config, path, error))
		return NULL;
	return g_steal_pointer(&config);
}

/* loads and validates; the config is returned even when validation fails */
static VbConfig *
validate_config(Fixture *fx, const gchar *contents, GPtrArray *warnings, GError **error)
{
	g_autoptr(GError) error_load = NULL;
	g_autoptr(VbConfig) config = load_config(fx, contents, &error_load);

	g_assert_no_error(error_load);
	vb_config_validate(config, warnings, error);
	return g_steal_pointer(&config);
}

/* loads and validates, for the error an operator would see */
static GError *
validate_error(Fixture *fx, const gchar *contents, GPtrArray *warnings)
{
	GError *error = NULL;
	g_autoptr(VbConfig) config = validate_config(fx, contents, warnings, &error);

	g_assert_nonnull(config);
	return error;
}

/* "DIR/NAME:LINE", the way an operator sees a location */
static gchar *
origin_in(Fixture *fx, const gchar *relpath, guint line)
{
	g_autofree gchar *path = g_build_filename(fx->dir, relpath, NULL);
	return g_strdup_printf("%s:%u", path, line);
}

static void
test_load_main_file(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = load_config(fx,
						 "# a comment\n"
						 "[vestibule]\n"
						 "  name   =   Corner Shop  \n"
						 "\n"
						 "[http]\r\n"
						 "port=8081\r\n",
						 &error);
	g_autofree gchar *raw = NULL;
	g_autofree gchar *origin = NULL;
	g_autofree gchar *expected = origin_in(fx, "vestibule.conf", 6);
	g_auto(GStrv) groups = NULL;
	g_auto(GStrv) keys = NULL;
	GPtrArray *files;

	g_assert_no_error(error);
	raw = vb_config_get_raw(config, "vestibule", "name");
	g_assert_cmpstr(raw, ==, "Corner Shop");
	origin = vb_config_get_origin(config, "http", "port");
	g_assert_cmpstr(origin, ==, expected);
	groups = vb_config_get_groups(config);
	g_assert_cmpstrv(groups, ((const gchar *[]){"vestibule", "http", NULL}));
	keys = vb_config_get_keys(config, "http");
	g_assert_cmpstrv(keys, ((const gchar *[]){"port", NULL}));
	g_assert_null(vb_config_get_keys(config, "services"));
	g_assert_true(vb_config_has_group(config, "http"));
	g_assert_false(vb_config_has_group(config, "services"));
	g_assert_true(vb_config_has_key(config, "http", "port"));
	g_assert_false(vb_config_has_key(config, "http", "address"));
	g_assert_null(vb_config_get_raw(config, "http", "address"));
	g_assert_null(vb_config_get_origin(config, "http", "address"));
	files = vb_config_get_files(config);
	g_assert_cmpuint(files->len, ==, 1);
}

static void
test_load_drop_in_order(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = vb_config_new();
	g_autofree gchar *path =
	    g_test_build_filename(G_TEST_DIST, "data", "config", "drop-in", "vestibule.conf", NULL);
	g_autofree gchar *confd =
	    g_test_build_filename(G_TEST_DIST, "data", "config", "drop-in", "conf.d", NULL);
	g_autofree gchar *port = NULL;
	g_autofree gchar *port_origin = NULL;
	g_autofree gchar *name = NULL;
	g_autofree gchar *name_origin = NULL;
	g_autofree gchar *address_origin = NULL;
	g_autofree gchar *expected_port_origin = g_strdup_printf("%s/20-site.conf:4", confd);
	g_autofree gchar *expected_name_origin = g_strdup_printf("%s/9-late.conf:3", confd);
	g_autofree gchar *expected_address_origin = g_strdup_printf("%s:7", path);
	GPtrArray *files;

	g_assert_true(vb_config_load(config, path, &error));
	g_assert_no_error(error);

	/* strcmp order, not natural order: 9-late.conf comes last */
	files = vb_config_get_files(config);
	g_assert_cmpuint(files->len, ==, 4);
	g_assert_cmpstr(g_ptr_array_index(files, 0), ==, path);
	g_assert_true(g_str_has_suffix(g_ptr_array_index(files, 1), "/conf.d/10-network.conf"));
	g_assert_true(g_str_has_suffix(g_ptr_array_index(files, 2), "/conf.d/20-site.conf"));
	g_assert_true(g_str_has_suffix(g_ptr_array_index(files, 3), "/conf.d/9-late.conf"));

	/* README, *.conf.disabled and hidden files would set port to garbage, 1 or 2 */
	port = vb_config_get_raw(config, "http", "port");
	g_assert_cmpstr(port, ==, "9090");
	port_origin = vb_config_get_origin(config, "http", "port");
	g_assert_cmpstr(port_origin, ==, expected_port_origin);
	name = vb_config_get_raw(config, "vestibule", "name");
	g_assert_cmpstr(name, ==, "Late Night Market");
	name_origin = vb_config_get_origin(config, "vestibule", "name");
	g_assert_cmpstr(name_origin, ==, expected_name_origin);

	/* keys no drop-in touches keep their main-file origin */
	address_origin = vb_config_get_origin(config, "http", "address");
	g_assert_cmpstr(address_origin, ==, expected_address_origin);
	g_assert_true(vb_config_has_key(config, "vestibule", "currency"));
}

static void
test_load_missing_main(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = vb_config_new();
	g_autofree gchar *path = g_build_filename(fx->dir, "nope.conf", NULL);

	g_assert_false(vb_config_load(config, path, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
	vb_assert_contains(error->message, path);
	vb_assert_contains(error->message, "give the path of another file");
}

static void
test_load_syntax_error(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = load_config(fx,
						 "[vestibule]\n"
						 "name = Corner Shop\n"
						 "this line has no equals sign\n",
						 &error);
	g_autofree gchar *where = origin_in(fx, "vestibule.conf", 3);

	g_assert_null(config);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	vb_assert_contains(error->message, where);
	vb_assert_contains(error->message, "'this line has no equals sign'");
}

static void
test_load_syntax_error_drop_in(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = NULL;
	g_autofree gchar *drop_in =
	    write_file(fx, "conf.d/50-door.conf", "# the front door\n[door:front\nlock = x\n");
	g_autofree gchar *where = g_strdup_printf("%s:2", drop_in);

	config = load_config(fx, "[vestibule]\n", &error);
	g_assert_null(config);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	vb_assert_contains(error->message, where);
	vb_assert_contains(error->message, "no closing ']'");
}

static void
test_load_syntax_errors_together(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = load_config(fx,
						 "port = 8080\n"
						 "[http]\n"
						 " = 3\n"
						 "[]\n"
						 "ignored = yes\n"
						 "[http]\n"
						 "ke]y = 1\n"
						 "\xff\xfe = bad\n",
						 &error);
	g_autofree gchar *line1 = origin_in(fx, "vestibule.conf", 1);
	g_autofree gchar *line3 = origin_in(fx, "vestibule.conf", 3);
	g_autofree gchar *line4 = origin_in(fx, "vestibule.conf", 4);
	g_autofree gchar *line5 = origin_in(fx, "vestibule.conf", 5);
	g_autofree gchar *line7 = origin_in(fx, "vestibule.conf", 7);
	g_autofree gchar *line8 = origin_in(fx, "vestibule.conf", 8);
	g_auto(GStrv) lines = NULL;

	g_assert_null(config);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	lines = g_strsplit(error->message, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 5);
	vb_assert_contains(lines[0], line1);
	vb_assert_contains(lines[0], "outside of any section");
	vb_assert_contains(lines[1], line3);
	vb_assert_contains(lines[1], "key name is missing");
	vb_assert_contains(lines[2], line4);
	vb_assert_contains(lines[2], "invalid section name ''");
	/* a key under a broken header is not reported a second time */
	vb_assert_not_contains(error->message, line5);
	vb_assert_contains(lines[3], line7);
	vb_assert_contains(lines[3], "invalid key name 'ke]y'");
	vb_assert_contains(lines[4], line8);
	vb_assert_contains(lines[4], "UTF-8");
}

static void
test_load_unreadable_drop_in(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = NULL;
	g_autofree gchar *bad = g_build_filename(fx->dir, "conf.d", "50-broken.conf", NULL);

	/* a directory cannot be read as a file, even by root */
	g_assert_cmpint(g_mkdir_with_parents(bad, 0700), ==, 0);
	config = load_config(fx, "[vestibule]\n", &error);
	g_assert_null(config);
	g_assert_nonnull(error);
	vb_assert_contains(error->message, bad);
	vb_assert_contains(error->message, "not a regular file");
}

static void
test_validate_defaults(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(VbConfig) config = validate_config(fx, "# nothing set\n", warnings, &error);
	g_auto(GStrv) loyalty = NULL;

	g_assert_no_error(error);
	g_assert_cmpuint(warnings->len, ==, 0);
	g_assert_cmpstr(vb_config_get_string(config, "vestibule", "name"), ==, "Vestibule store");
	g_assert_cmpstr(vb_config_get_string(config, "vestibule", "country"), ==, "FR");
	g_assert_cmpstr(vb_config_get_string(config, "vestibule", "currency"), ==, "EUR");
	g_assert_cmpstr(vb_config_get_string(config, "vestibule", "language"), ==, "en");
	g_assert_cmpstr(vb_config_get_string(config, "vestibule", "state-dir"), ==, VB_STATEDIR);
	g_assert_cmpstr(vb_config_get_string(config, "vestibule", "operator-contact"), ==, "");
	g_assert_cmpint(vb_config_get_int(config, "vestibule", "audit-retention-days"), ==, 90);
	g_assert_cmpstr(vb_config_get_string(config, "http", "address"), ==, "127.0.0.1");
	g_assert_cmpint(vb_config_get_int(config, "http", "port"), ==, 8080);
	g_assert_cmpstr(vb_config_get_string(config, "http", "public-url"), ==, "");
	g_assert_cmpstr(vb_config_get_string(config, "http", "control-socket"), ==,
			"/run/vestibule/control.sock");
	g_assert_cmpint(vb_config_get_int(config, "http", "max-body-bytes"), ==, 65536);
	g_assert_cmpint(vb_config_get_int(config, "http", "max-header-bytes"), ==, 16384);
	g_assert_cmpstr(vb_config_get_string(config, "services", "sms"), ==, "");
	loyalty = vb_config_get_string_list(config, "services", "loyalty");
	g_assert_nonnull(loyalty);
	g_assert_cmpuint(g_strv_length(loyalty), ==, 0);
}

static void
test_validate_values(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(VbConfig) config = validate_config(fx,
						     "[vestibule]\n"
						     "name = Caf\\u00e9? no: Café\\sdu\\tCoin\n"
						     "[http]\n"
						     "port = 0\n"
						     "[door:front]\n"
						     "lock = front-lock\n"
						     "unlock-pulse-ms = 250\n"
						     "[instance:front-lock]\n"
						     "plugin = sim-lock\n"
						     "enabled = false\n",
						     warnings, &error);

	/* \u is no GKeyFile escape: one error, with the sequence shown */
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	vb_assert_contains(error->message, "[vestibule] name: invalid escape sequence '\\u'");
	g_clear_error(&error);
	g_clear_object(&config);
	g_ptr_array_set_size(warnings, 0);

	config = validate_config(fx,
				 "[vestibule]\n"
				 "name = Café\\sdu\\tCoin\\\\\n"
				 "[http]\n"
				 "port = 0\n"
				 "[door:front]\n"
				 "lock = front-lock\n"
				 "unlock-pulse-ms = 250\n"
				 "[instance:front-lock]\n"
				 "plugin = sim-lock\n"
				 "enabled = false\n",
				 warnings, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(vb_config_get_string(config, "vestibule", "name"), ==, "Café du\tCoin\\");
	g_assert_cmpint(vb_config_get_int(config, "http", "port"), ==, 0);
	g_assert_cmpint(vb_config_get_int(config, "door:front", "unlock-pulse-ms"), ==, 250);
	g_assert_cmpstr(vb_config_get_string(config, "door:front", "reader"), ==, "");
	g_assert_cmpstr(vb_config_get_string(config, "instance:front-lock", "plugin"), ==,
			"sim-lock");
	g_assert_false(vb_config_get_boolean(config, "instance:front-lock", "enabled"));
	/* a door that is not configured has no values, and that is no bug */
	g_assert_null(vb_config_get_string(config, "door:back", "lock"));

	/* the door uses a disabled lock: allowed, but said */
	g_assert_cmpuint(warnings->len, ==, 1);
	vb_assert_contains(g_ptr_array_index(warnings, 0), "[instance:front-lock] is disabled");
}

static void
test_validate_wrong_type(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = validate_error(fx,
						 "[http]\n"
						 "address = 127.0.0.1\n"
						 "port = abc\n",
						 NULL);
	g_autofree gchar *expected = NULL;
	g_autofree gchar *where = origin_in(fx, "vestibule.conf", 3);

	expected = g_strdup_printf(
	    "%s: [http] port: expected an integer from 0 to 65535, got 'abc'", where);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	g_assert_cmpstr(error->message, ==, expected);
}

static void
test_validate_out_of_range(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = validate_error(fx,
						 "[http]\n"
						 "port = 65536\n"
						 "max-body-bytes = 0x10000\n"
						 "[vestibule]\n"
						 "audit-retention-days = 0\n"
						 "[door:front]\n"
						 "unlock-pulse-ms = 5000 # five seconds\n",
						 NULL);
	g_autofree gchar *line2 = origin_in(fx, "vestibule.conf", 2);
	g_autofree gchar *line3 = origin_in(fx, "vestibule.conf", 3);
	g_autofree gchar *line5 = origin_in(fx, "vestibule.conf", 5);
	g_autofree gchar *line7 = origin_in(fx, "vestibule.conf", 7);
	g_autofree gchar *port = NULL;
	g_autofree gchar *body = NULL;
	g_autofree gchar *retention = NULL;
	g_autofree gchar *pulse = NULL;

	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	port = g_strdup_printf("%s: [http] port: expected an integer from 0 to 65535, got '65536'",
			       line2);
	vb_assert_contains(error->message, port);
	body = g_strdup_printf("%s: [http] max-body-bytes: expected an integer from 1024 to "
			       "16777216, got '0x10000'",
			       line3);
	vb_assert_contains(error->message, body);
	retention = g_strdup_printf("%s: [vestibule] audit-retention-days: expected an integer "
				    "from 1 to 3650, got '0'",
				    line5);
	vb_assert_contains(error->message, retention);
	/* comments only start a line; the operator sees why the value is wrong */
	pulse = g_strdup_printf("%s: [door:front] unlock-pulse-ms: expected an integer from 100 to "
				"60000, got '5000 # five seconds'",
				line7);
	vb_assert_contains(error->message, pulse);
}

static void
test_validate_country(Fixture *fx, gconstpointer user_data)
{
	struct {
		const gchar *value;
		const gchar *expected;
	} cases[] = {
	    {"fr", "[vestibule] country: expected an ISO 3166-1 alpha-2 code of two upper-case "
		   "letters such as FR or DE, got 'fr'"},
	    {"FRA", "got 'FRA'"},
	    {"UK", "the United Kingdom is GB"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *contents =
		    g_strdup_printf("[vestibule]\n\ncountry = %s\n", cases[i].value);
		g_autoptr(GError) error = validate_error(fx, contents, NULL);
		g_autofree gchar *where = origin_in(fx, "vestibule.conf", 3);

		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
		g_assert_true(g_str_has_prefix(error->message, where));
		vb_assert_contains(error->message, cases[i].expected);
	}
}

static void
test_validate_currency(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = validate_error(fx,
						 "[vestibule]\n"
						 "currency = €\n"
						 "language = EN\n",
						 NULL);
	g_autofree gchar *line2 = origin_in(fx, "vestibule.conf", 2);
	g_autofree gchar *line3 = origin_in(fx, "vestibule.conf", 3);
	g_auto(GStrv) lines = NULL;

	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	lines = g_strsplit(error->message, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 2);
	g_assert_true(g_str_has_prefix(lines[0], line2));
	vb_assert_contains(lines[0], "[vestibule] currency: expected an ISO 4217 code of three "
				     "upper-case letters such as EUR or USD, got '€'");
	g_assert_true(g_str_has_prefix(lines[1], line3));
	vb_assert_contains(lines[1], "[vestibule] language: expected an ISO 639 code");
	vb_assert_contains(lines[1], "got 'EN'");
}

static void
test_validate_formats(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = NULL;
	g_autofree gchar *long_dir = g_strnfill(100, 'd');
	g_autofree gchar *contents = g_strdup_printf("[vestibule]\n"
						     "state-dir = var/lib/vestibule\n"
						     "[http]\n"
						     "address = localhost\n"
						     "public-url = shop.example.com\n"
						     "control-socket = /run/%s/control.sock\n",
						     long_dir);

	/* 5 + 100 + 13 bytes do not fit in sun_path */
	config = validate_config(fx, contents, NULL, &error);

	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	vb_assert_contains(error->message, "[vestibule] state-dir: expected an absolute path, got "
					   "'var/lib/vestibule'");
	vb_assert_contains(error->message,
			   "[http] address: expected an IP address such as 127.0.0.1");
	vb_assert_contains(error->message,
			   "[http] public-url: expected an http:// or https:// URL such as "
			   "https://shop.example.com, got 'shop.example.com'");
	vb_assert_contains(error->message, "[http] control-socket: the path is 118 bytes long");
	g_clear_error(&error);
	g_clear_object(&config);

	config = validate_config(fx,
				 "[http]\n"
				 "address = ::\n"
				 "public-url = https://shop.example.com:8443/vestibule\n",
				 NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(vb_config_get_string(config, "http", "public-url"), ==,
			"https://shop.example.com:8443/vestibule");
}

static void
test_validate_several_errors(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = NULL;
	g_autofree gchar *drop_in = write_file(fx, "conf.d/10-door.conf",
					       "[door:front]\n"
					       "reader = front-reader\n"
					       "unlock-pulse-ms = fast\n");
	g_autofree gchar *main_line3 = origin_in(fx, "vestibule.conf", 3);
	g_autofree gchar *main_line5 = origin_in(fx, "vestibule.conf", 5);
	g_autofree gchar *drop_line2 = g_strdup_printf("%s:2", drop_in);
	g_autofree gchar *drop_line3 = g_strdup_printf("%s:3", drop_in);
	g_auto(GStrv) lines = NULL;

	config = validate_config(fx,
				 "[vestibule]\n"
				 "name = Corner Shop\n"
				 "currency = euro\n"
				 "[http]\n"
				 "port = -1\n",
				 NULL, &error);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);

	/* everything at once, one line each, so that the operator fixes it all in one go */
	lines = g_strsplit(error->message, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 4);
	/* in file order, then line order, whatever check found them */
	g_assert_true(g_str_has_prefix(lines[0], main_line3));
	vb_assert_contains(lines[0], "[vestibule] currency");
	g_assert_true(g_str_has_prefix(lines[1], main_line5));
	vb_assert_contains(lines[1], "[http] port");
	g_assert_true(g_str_has_prefix(lines[2], drop_line2));
	vb_assert_contains(lines[2], "[door:front] reader: no section [instance:front-reader]");
	g_assert_true(g_str_has_prefix(lines[3], drop_line3));
	vb_assert_contains(lines[3], "[door:front] unlock-pulse-ms");
}

static void
test_validate_unknown_key(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(VbConfig) config = validate_config(fx,
						     "[http]\n"
						     "prot = 9000\n"
						     "[door:front]\n"
						     "colour = blue\n",
						     warnings, &error);
	g_autofree gchar *line2 = origin_in(fx, "vestibule.conf", 2);
	g_autofree gchar *line4 = origin_in(fx, "vestibule.conf", 4);
	g_autofree gchar *expected2 = NULL;
	g_autofree gchar *expected4 = NULL;

	g_assert_no_error(error);
	g_assert_cmpuint(warnings->len, ==, 2);
	expected2 = g_strdup_printf("%s: unknown key 'prot' in [http] is ignored; did you mean "
				    "'port'?",
				    line2);
	g_assert_cmpstr(g_ptr_array_index(warnings, 0), ==, expected2);
	expected4 = g_strdup_printf("%s: unknown key 'colour' in [door:front] is ignored", line4);
	g_assert_cmpstr(g_ptr_array_index(warnings, 1), ==, expected4);

	/* a warning leaves the default in place */
	g_assert_cmpint(vb_config_get_int(config, "http", "port"), ==, 8080);
}

static void
test_validate_unknown_section(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = validate_error(fx,
						 "[vestibule]\n"
						 "name = Corner Shop\n"
						 "\n"
						 "[doors:front]\n"
						 "lock = front-lock\n",
						 warnings);
	g_autofree gchar *expected = NULL;
	g_autofree gchar *line4 = origin_in(fx, "vestibule.conf", 4);

	g_assert_no_error(error);
	g_assert_cmpuint(warnings->len, ==, 1);
	expected = g_strdup_printf("%s: unknown section [doors:front] is ignored", line4);
	g_assert_cmpstr(g_ptr_array_index(warnings, 0), ==, expected);
}

static void
test_validate_instance_plugin_keys(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(VbConfig) config = validate_config(fx,
						     "[instance:twilio]\n"
						     "plugin = twilio\n"
						     "account-sid = AC123\n"
						     "from = +33612345678\n",
						     warnings, &error);

	/* the plugin loader checks those keys, through vb_config_resolve() */
	g_assert_no_error(error);
	g_assert_cmpuint(warnings->len, ==, 0);
	g_assert_cmpstr(vb_config_get_string(config, "instance:twilio", "plugin"), ==, "twilio");
	g_assert_true(vb_config_get_boolean(config, "instance:twilio", "enabled"));
}

static void
test_validate_missing_plugin(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = validate_error(fx,
						 "[vestibule]\n"
						 "\n"
						 "[instance:front-lock]\n"
						 "enabled = true\n",
						 NULL);
	g_autofree gchar *expected = NULL;
	g_autofree gchar *line3 = origin_in(fx, "vestibule.conf", 3);

	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	expected = g_strdup_printf("%s: [instance:front-lock] has no key 'plugin', which is "
				   "required; add plugin=VALUE",
				   line3);
	g_assert_cmpstr(error->message, ==, expected);
}

static void
test_validate_dangling_references(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = validate_error(fx,
						 "[door:front]\n"
						 "reader = front-reader\n"
						 "lock = front-lock\n"
						 "[instance:front-lock]\n"
						 "plugin = sim-lock\n"
						 "[services]\n"
						 "sms = twilio\n"
						 "payment = front-lock\n"
						 "loyalty = club;front-lock;\n",
						 NULL);
	g_autofree gchar *line2 = origin_in(fx, "vestibule.conf", 2);
	g_autofree gchar *line7 = origin_in(fx, "vestibule.conf", 7);
	g_autofree gchar *line9 = origin_in(fx, "vestibule.conf", 9);
	g_autofree gchar *reader = NULL;
	g_autofree gchar *sms = NULL;
	g_autofree gchar *loyalty = NULL;
	g_auto(GStrv) lines = NULL;

	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	lines = g_strsplit(error->message, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 3);
	reader =
	    g_strdup_printf("%s: [door:front] reader: no section [instance:front-reader]", line2);
	g_assert_true(g_str_has_prefix(lines[0], reader));
	vb_assert_contains(lines[0], "add it with plugin=NAME");
	sms = g_strdup_printf("%s: [services] sms: no section [instance:twilio]", line7);
	g_assert_true(g_str_has_prefix(lines[1], sms));
	loyalty = g_strdup_printf("%s: [services] loyalty: no section [instance:club]", line9);
	g_assert_true(g_str_has_prefix(lines[2], loyalty));
}

static void
test_validate_bad_names(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error =
	    validate_error(fx,
			   "[door:Front]\n"
			   "[instance:front lock]\n"
			   "plugin = sim-lock\n"
			   "[instance:a-name-that-is-much-too-long-to-be-used]\n"
			   "plugin = sim-lock\n"
			   "[door:]\n"
			   "[instance:_hidden]\n"
			   "plugin = sim-lock\n"
			   "[door:front_2]\n",
			   NULL);
	g_autofree gchar *line1 = origin_in(fx, "vestibule.conf", 1);
	g_autofree gchar *line7 = origin_in(fx, "vestibule.conf", 7);
	g_autofree gchar *first = NULL;
	g_auto(GStrv) lines = NULL;

	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	lines = g_strsplit(error->message, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 5);
	first = g_strdup_printf("%s: [door:Front]: invalid name 'Front'; use 1 to 32 lower-case "
				"letters, digits, '-' or '_', starting with a letter or digit",
				line1);
	g_assert_cmpstr(lines[0], ==, first);
	vb_assert_contains(lines[1], "invalid name 'front lock'");
	vb_assert_contains(lines[2], "invalid name 'a-name-that-is-much-too-long-to-be-used'");
	vb_assert_contains(lines[3], "[door:]: invalid name ''");
	g_assert_true(g_str_has_prefix(lines[4], line7));
	vb_assert_not_contains(error->message, "front_2");
}

static void
test_validate_boolean(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = validate_error(fx,
						 "[instance:front-lock]\n"
						 "plugin = sim-lock\n"
						 "enabled = yes\n",
						 NULL);
	g_autofree gchar *line3 = origin_in(fx, "vestibule.conf", 3);
	g_autofree gchar *expected = NULL;

	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	expected = g_strdup_printf("%s: [instance:front-lock] enabled: expected true or false, "
				   "got 'yes'",
				   line3);
	g_assert_cmpstr(error->message, ==, expected);
}

static void
test_validate_misplaced_secret(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = validate_error(fx,
						 "[vestibule]\n"
						 "card-token-key = " TEST_KEY_HEX "\n",
						 warnings);

	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	vb_assert_contains(error->message, "card-token-key is a secret");
	vb_assert_contains(error->message, "move it to the secrets file");
	vb_assert_not_contains(error->message, TEST_KEY_HEX);
	g_assert_cmpuint(warnings->len, ==, 0);
}

/* the shipped example must stay valid and warning-free */
static void
test_validate_example(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(VbConfig) config = vb_config_new();
	const gchar *root = g_getenv("VB_SOURCE_ROOT");
	g_autofree gchar *path = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *example = NULL;
	g_autofree gchar *contents = NULL;
	g_autofree gchar *copy = NULL;
	g_autoptr(VbConfig) secrets_config = vb_config_new();
	g_autoptr(GBytes) key = NULL;

	if (root == NULL) {
		g_test_skip("VB_SOURCE_ROOT is not set");
		return;
	}
	path = g_build_filename(root, "data", "vestibule.conf", NULL);
	g_assert_true(vb_config_load(config, path, &error));
	g_assert_no_error(error);
	g_assert_true(vb_config_validate(config, warnings, &error));
	g_assert_no_error(error);
	text = join_messages(warnings);
	g_assert_cmpstr(text, ==, "");
	g_assert_cmpstr(vb_config_get_string(config, "door:front", "reader"), ==, "front-reader");
	g_assert_cmpstr(vb_config_get_string(config, "door:front", "lock"), ==, "front-lock");
	g_assert_cmpstr(vb_config_get_string(config, "door:front", "keypad"), ==, "front-keypad");
	g_assert_cmpstr(vb_config_get_string(config, "door:front", "display"), ==, "front-display");
	g_assert_cmpstr(vb_config_get_string(config, "services", "sms"), ==, "sms");
	g_assert_cmpstr(vb_config_get_string(config, "services", "payment"), ==, "payment");
	g_assert_cmpstr(vb_config_get_string(config, "instance:front-display", "plugin"), ==,
			"console");

	/* the secrets example parses, and its placeholders are not usable keys */
	example = g_build_filename(root, "data", "secrets.conf.example", NULL);
	g_assert_true(g_file_get_contents(example, &contents, NULL, &error));
	g_assert_no_error(error);
	copy = write_secrets(fx, contents, 0600);
	g_assert_true(vb_config_load_secrets(secrets_config, copy, &error));
	g_assert_no_error(error);
	key = vb_config_get_secret_key32(secrets_config, "vestibule", "card-token-key", &error);
	g_assert_null(key);
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
}

static void
test_resolve_plugin_section(Fixture *fx, gconstpointer user_data)
{
	const VbSettingSpec specs[] = {
	    {.key = "device", .type = VB_SETTING_STRING, .default_value = NULL},
	    {.key = "baud",
	     .type = VB_SETTING_INT,
	     .default_value = "9600",
	     .min = 1200,
	     .max = 115200},
	    {.key = "poll", .type = VB_SETTING_BOOLEAN, .default_value = "true"},
	    {.key = "aids", .type = VB_SETTING_STRING_LIST, .default_value = "A0000000041010;"},
	    {NULL},
	};
	const gchar *extra[] = {"plugin", "enabled", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(VbConfig) config = load_config(fx,
						 "[instance:nfc]\n"
						 "plugin = nfc\n"
						 "device = pn532_uart:/dev/ttyS0\n"
						 "poll = false\n"
						 "bawd = 19200\n",
						 &error);
	g_autoptr(GHashTable) values =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_variant_unref);
	g_autofree gchar *line5 = origin_in(fx, "vestibule.conf", 5);
	g_autofree gchar *expected = NULL;
	g_autofree const gchar **aids = NULL;

	g_assert_no_error(error);
	g_assert_true(vb_config_resolve(config, "instance:nfc", specs, G_N_ELEMENTS(specs) - 1,
					extra, values, warnings, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(g_variant_get_string(g_hash_table_lookup(values, "device"), NULL), ==,
			"pn532_uart:/dev/ttyS0");
	g_assert_cmpint(g_variant_get_int64(g_hash_table_lookup(values, "baud")), ==, 9600);
	g_assert_false(g_variant_get_boolean(g_hash_table_lookup(values, "poll")));
	aids = g_variant_get_strv(g_hash_table_lookup(values, "aids"), NULL);
	g_assert_cmpstrv(aids, ((const gchar *[]){"A0000000041010", NULL}));
	g_assert_cmpuint(warnings->len, ==, 1);
	expected = g_strdup_printf("%s: unknown key 'bawd' in [instance:nfc] is ignored; did you "
				   "mean 'baud'?",
				   line5);
	g_assert_cmpstr(g_ptr_array_index(warnings, 0), ==, expected);

	/* a required key of a section that does not exist */
	g_hash_table_remove_all(values);
	g_assert_false(vb_config_resolve(config, "instance:other", specs, G_N_ELEMENTS(specs) - 1,
					 extra, values, NULL, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	g_assert_cmpstr(error->message, ==,
			"[instance:other] has no key 'device', which is required; add "
			"device=VALUE");
}

static GVariant *
parse(VbSettingType type, const gchar *raw, GError **error)
{
	VbSettingSpec spec = {.key = "k", .type = type, .min = -5, .max = 100};
	return vb_setting_parse(&spec, raw, error);
}

static void
test_setting_int(void)
{
	const gchar *good[] = {"0", "-5", "100", "042", " 7 "};
	const gint64 good_values[] = {0, -5, 100, 42, 7};
	const gchar *bad[] = {
	    "", "abc", "101", "-6", "+5", "0x10", "1e2", "5 5", "99999999999999999999"};

	for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GVariant) value = parse(VB_SETTING_INT, good[i], &error);
		g_assert_no_error(error);
		g_assert_cmpint(g_variant_get_int64(value), ==, good_values[i]);
	}
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GVariant) value = parse(VB_SETTING_INT, bad[i], &error);
		g_autofree gchar *expected =
		    g_strdup_printf("expected an integer from -5 to 100, got '%s'", bad[i]);
		g_assert_null(value);
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
		g_assert_cmpstr(error->message, ==, expected);
	}
}

static void
test_setting_boolean(void)
{
	const gchar *bad[] = {"yes", "1", "0", "TRUE", "False", ""};
	g_autoptr(GVariant) t = parse(VB_SETTING_BOOLEAN, "true", NULL);
	g_autoptr(GVariant) f = parse(VB_SETTING_BOOLEAN, "false ", NULL);

	g_assert_true(g_variant_get_boolean(t));
	g_assert_false(g_variant_get_boolean(f));
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GVariant) value = parse(VB_SETTING_BOOLEAN, bad[i], &error);
		g_autofree gchar *expected =
		    g_strdup_printf("expected true or false, got '%s'", bad[i]);
		g_assert_null(value);
		g_assert_cmpstr(error->message, ==, expected);
	}
}

static void
test_setting_string_list(void)
{
	struct {
		const gchar *raw;
		const gchar *expected[4];
	} cases[] = {
	    {"", {NULL}},
	    {"a", {"a", NULL}},
	    {"a;b", {"a", "b", NULL}},
	    {"a;b;", {"a", "b", NULL}},
	    {"a;;b", {"a", "", "b", NULL}},
	    {"a\\;b;c", {"a;b", "c", NULL}},
	    {"a\\sb;\\\\", {"a b", "\\", NULL}},
	    {";", {"", NULL}},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) bad = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error_local = NULL;
		g_autoptr(GVariant) value =
		    parse(VB_SETTING_STRING_LIST, cases[i].raw, &error_local);
		g_autofree const gchar **strv = NULL;

		g_assert_no_error(error_local);
		strv = g_variant_get_strv(value, NULL);
		g_assert_cmpstrv(strv, cases[i].expected);
	}
	bad = parse(VB_SETTING_STRING_LIST, "a;b\\", &error);
	g_assert_null(bad);
	vb_assert_contains(error->message, "ends with a single backslash");
}

static void
test_setting_string(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) value = parse(VB_SETTING_STRING, "\\sx\\n\\t\\r\\\\;", NULL);
	g_autoptr(GVariant) bad = NULL;
	g_autoptr(GVariant) invalid = NULL;

	g_assert_cmpstr(g_variant_get_string(value, NULL), ==, " x\n\t\r\\;");
	bad = parse(VB_SETTING_STRING, "semi\\;colon", &error);
	g_assert_null(bad);
	g_assert_cmpstr(error->message, ==,
			"invalid escape sequence '\\;'; write \\\\ for a backslash");
	g_clear_error(&error);
	invalid = parse(VB_SETTING_STRING, "\xc3\x28", &error);
	g_assert_null(invalid);
	g_assert_cmpstr(error->message, ==, "the value is not valid UTF-8 text");
}

static void
test_get_undeclared_key(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = NULL;

	config = load_config(fx, "[http]\nport = 8081\n", &error);
	g_assert_no_error(error);

	/* reading before validate is a bug in the caller, not a crash */
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*before vb_config_validate()*");
	g_assert_cmpint(vb_config_get_int(config, "http", "port"), ==, 0);
	g_test_assert_expected_messages();

	g_assert_true(vb_config_validate(config, NULL, &error));
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
			      "*key prot of [http] is not declared*");
	g_assert_cmpint(vb_config_get_int(config, "http", "prot"), ==, 0);
	g_test_assert_expected_messages();
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
			      "*[http] port is of type x, not s*");
	g_assert_null(vb_config_get_string(config, "http", "port"));
	g_test_assert_expected_messages();
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*not declared*");
	g_assert_null(vb_config_get_string(config, "twilio", "from"));
	g_test_assert_expected_messages();
	g_assert_cmpint(vb_config_get_int(config, "http", "port"), ==, 8081);
}

static void
test_secrets_mode_refused(Fixture *fx, gconstpointer user_data)
{
	const guint modes[] = {0644, 0640, 0604, 0660, 0601, 0610};

	for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(VbConfig) config = vb_config_new();
		g_autofree gchar *path =
		    write_secrets(fx, "[vestibule]\ncard-token-key = " TEST_KEY_HEX "\n", modes[i]);
		g_autofree gchar *mode = g_strdup_printf("has mode %04o", modes[i]);
		g_autofree gchar *fix = g_strdup_printf("run 'chmod 600 %s'", path);

		g_assert_false(vb_config_load_secrets(config, path, &error));
		g_assert_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED);
		vb_assert_contains(error->message, path);
		vb_assert_contains(error->message, mode);
		vb_assert_contains(error->message, fix);
		vb_assert_not_contains(error->message, TEST_KEY_HEX);
		g_assert_null(vb_config_get_secret(config, "vestibule", "card-token-key"));
	}
}

static void
test_secrets_mode_accepted(Fixture *fx, gconstpointer user_data)
{
	const guint modes[] = {0600, 0400};
	const guint8 expected[32] = {0,	 1,  2,	 3,  4,	 5,  6,	 7,  8,	 9,  10,
				     11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
				     22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

	for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(VbConfig) config = vb_config_new();
		g_autofree gchar *path =
		    write_secrets(fx, "[vestibule]\ncard-token-key = " TEST_KEY_HEX "\n", modes[i]);
		g_autoptr(GBytes) key = NULL;

		g_assert_true(vb_config_load_secrets(config, path, &error));
		g_assert_no_error(error);
		g_assert_cmpstr(vb_config_get_secrets_path(config), ==, path);
		key = vb_config_get_secret_key32(config, "vestibule", "card-token-key", &error);
		g_assert_no_error(error);
		g_assert_cmpmem(g_bytes_get_data(key, NULL), g_bytes_get_size(key), expected,
				sizeof(expected));
		g_assert_cmpint(g_chmod(path, 0600), ==, 0);
	}
}

/* sets a POSIX ACL user:@uid:r-- with @group_perm for the owning group, as setfacl would */
static gboolean
set_acl(const gchar *path, guint32 uid, guint16 group_perm)
{
	const guint32 none = G_MAXUINT32;
	const struct {
		guint16 tag;
		guint16 perm;
		guint32 id;
	} entries[] = {
	    {0x01, 4, none},		  /* user:: r */
	    {0x02, 4, uid},		  /* user:UID: r */
	    {0x04, group_perm, none},	  /* group:: */
	    {0x10, 4 | group_perm, none}, /* mask:: */
	    {0x20, 0, none},		  /* other:: - */
	};
	guint8 buf[4 + 8 * G_N_ELEMENTS(entries)];
	guint32 version = GUINT32_TO_LE(2);

	memcpy(buf, &version, 4);
	for (guint i = 0; i < G_N_ELEMENTS(entries); i++) {
		guint16 tag = GUINT16_TO_LE(entries[i].tag);
		guint16 perm = GUINT16_TO_LE(entries[i].perm);
		guint32 id = GUINT32_TO_LE(entries[i].id);
		memcpy(buf + 4 + 8 * i, &tag, 2);
		memcpy(buf + 4 + 8 * i + 2, &perm, 2);
		memcpy(buf + 4 + 8 * i + 4, &id, 4);
	}
	return setxattr(path, "system.posix_acl_access", buf, sizeof(buf), 0) == 0;
}

/* how systemd's LoadCredential= hands a credential to a non-root service */
static void
test_secrets_credential_acl(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = vb_config_new();
	g_autoptr(VbConfig) config_other = vb_config_new();
	g_autoptr(VbConfig) config_group = vb_config_new();
	g_autofree gchar *path =
	    write_secrets(fx, "[vestibule]\notp-key = " TEST_KEY_HEX "\n", 0400);
	GStatBuf st;

	if (!set_acl(path, geteuid(), 0)) {
		g_test_skip("no ACL support in the temporary directory");
		return;
	}
	/* the ACL mask shows as group bits */
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpuint(st.st_mode & 0777, ==, 0440);
	g_assert_true(vb_config_load_secrets(config, path, &error));
	g_assert_no_error(error);

	/* an ACL for anybody else is access for anybody else */
	g_assert_true(set_acl(path, geteuid() + 4242, 0));
	g_assert_false(vb_config_load_secrets(config_other, path, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED);
	vb_assert_contains(error->message, "has mode 0440");
	g_clear_error(&error);

	/* and so is a group entry */
	g_assert_true(set_acl(path, geteuid(), 4));
	g_assert_false(vb_config_load_secrets(config_group, path, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED);
}

static void
test_secrets_owner_refused(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = vb_config_new();
	g_autofree gchar *path = write_secrets(fx, "[vestibule]\n", 0600);
	g_autofree gchar *fix = NULL;

	/* only root can hand a file to somebody else */
	if (geteuid() != 0) {
		g_test_skip("needs root to chown");
		return;
	}
	g_assert_cmpint(chown(path, 4242, 4242), ==, 0);
	g_assert_false(vb_config_load_secrets(config, path, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED);
	vb_assert_contains(error->message, "is owned by uid 4242");
	fix = g_strdup_printf("run 'chown 0 %s'", path);
	vb_assert_contains(error->message, fix);
}

static void
test_secrets_not_regular(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = vb_config_new();
	g_autofree gchar *path = g_build_filename(fx->dir, "secrets.fifo", NULL);

	/* a fifo must be refused at once, not block the daemon */
	g_assert_cmpint(mkfifo(path, 0600), ==, 0);
	g_assert_false(vb_config_load_secrets(config, path, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED);
	vb_assert_contains(error->message, "is not a regular file");
	vb_assert_contains(error->message, path);
}

static void
test_secrets_missing(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = vb_config_new();
	g_autofree gchar *path = g_build_filename(fx->dir, "secrets.conf", NULL);
	g_autoptr(GBytes) key = NULL;

	g_assert_true(vb_config_load_secrets(config, path, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(vb_config_get_secrets_path(config), ==, path);
	g_assert_null(vb_config_get_secret(config, "vestibule", "card-token-key"));
	key = vb_config_get_secret_key32(config, "vestibule", "card-token-key", &error);
	g_assert_null(key);
	g_assert_error(error, VB_ERROR, VB_ERROR_NOT_FOUND);
	vb_assert_contains(error->message, "no key card-token-key in [vestibule]");
	vb_assert_contains(error->message, path);
	vb_assert_contains(error->message, "openssl rand -hex 32");
}

static void
test_secrets_credentials_directory(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = vb_config_new();
	g_autoptr(VbConfig) config_default = vb_config_new();
	g_autofree gchar *creds = g_build_filename(fx->dir, "credentials", NULL);
	g_autofree gchar *path =
	    write_file(fx, "credentials/vestibule-secrets",
		       "[instance:twilio]\nauth-token = " TEST_SECRET_TEXT "\n");
	g_autoptr(GBytes) token = NULL;

	g_unsetenv("CREDENTIALS_DIRECTORY");
	/* systemd makes credentials 0400 */
	g_assert_cmpint(g_chmod(path, 0400), ==, 0);
	g_setenv("CREDENTIALS_DIRECTORY", creds, TRUE);
	g_assert_true(vb_config_load_secrets(config, NULL, &error));
	g_unsetenv("CREDENTIALS_DIRECTORY");
	g_assert_no_error(error);
	g_assert_cmpstr(vb_config_get_secrets_path(config), ==, path);
	token = vb_config_get_secret(config, "instance:twilio", "auth-token");
	g_assert_nonnull(token);
	g_assert_cmpmem(g_bytes_get_data(token, NULL), g_bytes_get_size(token), TEST_SECRET_TEXT,
			strlen(TEST_SECRET_TEXT));
	/* the copy is a string too */
	g_assert_cmpstr(g_bytes_get_data(token, NULL), ==, TEST_SECRET_TEXT);

	/* the mode rule holds there too */
	g_assert_cmpint(g_chmod(path, 0440), ==, 0);
	g_setenv("CREDENTIALS_DIRECTORY", creds, TRUE);
	g_assert_false(vb_config_load_secrets(config, NULL, &error));
	g_unsetenv("CREDENTIALS_DIRECTORY");
	g_assert_error(error, VB_ERROR, VB_ERROR_PERMISSION_DENIED);
	vb_assert_contains(error->message, "has mode 0440");
	g_clear_error(&error);

	/* without systemd, the file in SYSCONFDIR, whether it exists here or not */
	if (vb_config_load_secrets(config_default, NULL, NULL))
		g_assert_cmpstr(vb_config_get_secrets_path(config_default), ==,
				VB_SYSCONFDIR "/secrets.conf");
}

static void
test_secrets_key32_errors(Fixture *fx, gconstpointer user_data)
{
	const gchar *values[] = {
	    /* 63 characters */
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",
	    /* 64 characters, one of them not hex */
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1eZZ",
	    /* base64 of 32 bytes, a common mix-up */
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	};
	const gchar *problems[] = {
	    "(it has the wrong length)",
	    "(it has a character other than 0-9 and a-f)",
	    "(it has the wrong length)",
	};

	for (guint i = 0; i < G_N_ELEMENTS(values); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(VbConfig) config = vb_config_new();
		g_autofree gchar *contents =
		    g_strdup_printf("[vestibule]\n# from openssl rand\notp-key = %s\n", values[i]);
		g_autofree gchar *path = write_secrets(fx, contents, 0600);
		g_autoptr(GBytes) key = NULL;
		g_autofree gchar *expected = NULL;

		g_assert_true(vb_config_load_secrets(config, path, &error));
		key = vb_config_get_secret_key32(config, "vestibule", "otp-key", &error);
		g_assert_null(key);
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
		expected =
		    g_strdup_printf("key otp-key in [vestibule] of %s:3 is not 64 hex "
				    "characters %s; generate one with 'openssl rand -hex 32'",
				    path, problems[i]);
		g_assert_cmpstr(error->message, ==, expected);
		vb_assert_not_contains(error->message, values[i]);
	}
}

static void
test_secrets_key32_upper_case(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbConfig) config = vb_config_new();
	g_autofree gchar *upper = g_ascii_strup(TEST_KEY_HEX, -1);
	g_autofree gchar *contents = g_strdup_printf("[vestibule]\nphone-key =   %s  \n", upper);
	g_autofree gchar *path = write_secrets(fx, contents, 0600);
	g_autoptr(GBytes) key = NULL;

	g_assert_true(vb_config_load_secrets(config, path, &error));
	key = vb_config_get_secret_key32(config, "vestibule", "phone-key", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(key), ==, 32);
	g_assert_cmpuint(((const guint8 *)g_bytes_get_data(key, NULL))[31], ==, 0x1f);
}

/* every message an operator could see, whatever the mistake in the file */
static void
test_secrets_never_in_messages(Fixture *fx, gconstpointer user_data)
{
	const gchar *files[] = {
	    /* a value pasted without its key */
	    "[vestibule]\n" TEST_SECRET_TEXT "\n",
	    /* a bad escape inside the value */
	    "[instance:twilio]\nauth-token = " TEST_SECRET_TEXT "\\q\n",
	    /* a value where a key name should be */
	    "[vestibule]\n" TEST_SECRET_TEXT "]x = y\n",
	    /* a value in a section header */
	    "[" TEST_SECRET_TEXT "\n",
	    /* a key before any section */
	    TEST_SECRET_TEXT " = 1\n",
	};

	for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(VbConfig) config = vb_config_new();
		g_autofree gchar *path = write_secrets(fx, files[i], 0600);
		g_autofree gchar *where = g_strdup_printf("%s:", path);

		g_assert_false(vb_config_load_secrets(config, path, &error));
		g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
		vb_assert_contains(error->message, where);
		vb_assert_not_contains(error->message, TEST_SECRET_TEXT);
		vb_assert_not_contains(error->message, "s3cr3t");
	}
}

static void
test_secrets_validate(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(VbConfig) config = load_config(fx,
						 "[instance:twilio]\n"
						 "plugin = twilio\n",
						 &error);
	g_autofree gchar *path =
	    write_secrets(fx,
			  "[vestibule]\n"
			  "card-token-key = " TEST_SECRET_TEXT "\n"
			  "phone-key = " TEST_KEY_HEX "\n"
			  "cardtoken-key = " TEST_KEY_HEX "\n" TEST_SECRET_TEXT " = x\n"
			  "[instance:twilio]\n"
			  "auth-token = " TEST_SECRET_TEXT "\n"
			  "[instance:kannel]\n"
			  "password = " TEST_SECRET_TEXT "\n",
			  0600);
	g_autofree gchar *line2 = g_strdup_printf("%s:2", path);
	g_autofree gchar *line4 = g_strdup_printf("%s:4", path);
	g_autofree gchar *line8 = g_strdup_printf("%s:8", path);
	g_autofree gchar *text = NULL;

	g_assert_no_error(error);
	g_assert_true(vb_config_load_secrets(config, path, &error));
	g_assert_no_error(error);
	g_assert_false(vb_config_validate(config, warnings, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG);
	g_assert_true(g_str_has_prefix(error->message, line2));
	vb_assert_contains(error->message, "key card-token-key in [vestibule] is not 64 hex");
	vb_assert_not_contains(error->message, TEST_SECRET_TEXT);

	/* names from the secrets file are not shown either: they may be values */
	text = join_messages(warnings);
	g_assert_cmpuint(warnings->len, ==, 3);
	vb_assert_contains(text, line4);
	vb_assert_contains(text, "unknown key in [vestibule] of the secrets file is ignored");
	vb_assert_not_contains(text, TEST_SECRET_TEXT);
	vb_assert_not_contains(text, "cardtoken-key");
	vb_assert_contains(text, line8);
	vb_assert_contains(text, "secrets for [instance:kannel], but the configuration has no "
				 "such section");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add("/config/load/main-file", Fixture, NULL, fixture_setup, test_load_main_file,
		   fixture_teardown);
	g_test_add_func("/config/load/drop-in-order", test_load_drop_in_order);
	g_test_add("/config/load/missing-main", Fixture, NULL, fixture_setup,
		   test_load_missing_main, fixture_teardown);
	g_test_add("/config/load/syntax-error", Fixture, NULL, fixture_setup,
		   test_load_syntax_error, fixture_teardown);
	g_test_add("/config/load/syntax-error-drop-in", Fixture, NULL, fixture_setup,
		   test_load_syntax_error_drop_in, fixture_teardown);
	g_test_add("/config/load/syntax-errors-together", Fixture, NULL, fixture_setup,
		   test_load_syntax_errors_together, fixture_teardown);
	g_test_add("/config/load/unreadable-drop-in", Fixture, NULL, fixture_setup,
		   test_load_unreadable_drop_in, fixture_teardown);
	g_test_add("/config/validate/defaults", Fixture, NULL, fixture_setup,
		   test_validate_defaults, fixture_teardown);
	g_test_add("/config/validate/values", Fixture, NULL, fixture_setup, test_validate_values,
		   fixture_teardown);
	g_test_add("/config/validate/wrong-type", Fixture, NULL, fixture_setup,
		   test_validate_wrong_type, fixture_teardown);
	g_test_add("/config/validate/out-of-range", Fixture, NULL, fixture_setup,
		   test_validate_out_of_range, fixture_teardown);
	g_test_add("/config/validate/country", Fixture, NULL, fixture_setup, test_validate_country,
		   fixture_teardown);
	g_test_add("/config/validate/currency-language", Fixture, NULL, fixture_setup,
		   test_validate_currency, fixture_teardown);
	g_test_add("/config/validate/formats", Fixture, NULL, fixture_setup, test_validate_formats,
		   fixture_teardown);
	g_test_add("/config/validate/several-errors", Fixture, NULL, fixture_setup,
		   test_validate_several_errors, fixture_teardown);
	g_test_add("/config/validate/unknown-key", Fixture, NULL, fixture_setup,
		   test_validate_unknown_key, fixture_teardown);
	g_test_add("/config/validate/unknown-section", Fixture, NULL, fixture_setup,
		   test_validate_unknown_section, fixture_teardown);
	g_test_add("/config/validate/instance-plugin-keys", Fixture, NULL, fixture_setup,
		   test_validate_instance_plugin_keys, fixture_teardown);
	g_test_add("/config/validate/missing-plugin", Fixture, NULL, fixture_setup,
		   test_validate_missing_plugin, fixture_teardown);
	g_test_add("/config/validate/dangling-references", Fixture, NULL, fixture_setup,
		   test_validate_dangling_references, fixture_teardown);
	g_test_add("/config/validate/bad-names", Fixture, NULL, fixture_setup,
		   test_validate_bad_names, fixture_teardown);
	g_test_add("/config/validate/boolean", Fixture, NULL, fixture_setup, test_validate_boolean,
		   fixture_teardown);
	g_test_add("/config/validate/misplaced-secret", Fixture, NULL, fixture_setup,
		   test_validate_misplaced_secret, fixture_teardown);
	g_test_add("/config/validate/example", Fixture, NULL, fixture_setup, test_validate_example,
		   fixture_teardown);
	g_test_add("/config/resolve/plugin-section", Fixture, NULL, fixture_setup,
		   test_resolve_plugin_section, fixture_teardown);
	g_test_add_func("/config/setting/int", test_setting_int);
	g_test_add_func("/config/setting/boolean", test_setting_boolean);
	g_test_add_func("/config/setting/string-list", test_setting_string_list);
	g_test_add_func("/config/setting/string", test_setting_string);
	g_test_add("/config/get/undeclared-key", Fixture, NULL, fixture_setup,
		   test_get_undeclared_key, fixture_teardown);
	g_test_add("/config/secrets/mode-refused", Fixture, NULL, fixture_setup,
		   test_secrets_mode_refused, fixture_teardown);
	g_test_add("/config/secrets/mode-accepted", Fixture, NULL, fixture_setup,
		   test_secrets_mode_accepted, fixture_teardown);
	g_test_add("/config/secrets/owner-refused", Fixture, NULL, fixture_setup,
		   test_secrets_owner_refused, fixture_teardown);
	g_test_add("/config/secrets/credential-acl", Fixture, NULL, fixture_setup,
		   test_secrets_credential_acl, fixture_teardown);
	g_test_add("/config/secrets/not-regular", Fixture, NULL, fixture_setup,
		   test_secrets_not_regular, fixture_teardown);
	g_test_add("/config/secrets/missing", Fixture, NULL, fixture_setup, test_secrets_missing,
		   fixture_teardown);
	g_test_add("/config/secrets/credentials-directory", Fixture, NULL, fixture_setup,
		   test_secrets_credentials_directory, fixture_teardown);
	g_test_add("/config/secrets/key32-errors", Fixture, NULL, fixture_setup,
		   test_secrets_key32_errors, fixture_teardown);
	g_test_add("/config/secrets/key32-upper-case", Fixture, NULL, fixture_setup,
		   test_secrets_key32_upper_case, fixture_teardown);
	g_test_add("/config/secrets/never-in-messages", Fixture, NULL, fixture_setup,
		   test_secrets_never_in_messages, fixture_teardown);
	g_test_add("/config/secrets/validate", Fixture, NULL, fixture_setup, test_secrets_validate,
		   fixture_teardown);
	return g_test_run();
}
