/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "vb-test-files.h"
#include "vb-card-reader.h"
#include "vb-keypad.h"
#include "vb-plugin-loader-private.h"

#include "vb-test-inprocess.h"

/* keys for tests only, never for a store */
#define VB_TEST_INPROCESS_SECRETS                                                                  \
	"[vestibule]\n"                                                                            \
	"card-token-key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"        \
	"phone-key=101112131415161718191a1b1c1d1e1f000102030405060708090a0b0c0d0e0f\n"             \
	"phone-index-key=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\n"       \
	"otp-key=303132333435363738393a3b3c3d3e3f202122232425262728292a2b2c2d2e2f\n"

VbDaemon *
vb_test_inprocess_start(const gchar *config_tail, gchar **dir_out)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("vb-inprocess-XXXXXX", &error);
	g_autofree gchar *config_path = NULL;
	g_autofree gchar *secrets_path = NULL;
	g_autofree gchar *config = NULL;

	if (dir == NULL)
		g_error("cannot make a directory for the daemon: %s", error->message);
	config_path = g_build_filename(dir, "vestibule.conf", NULL);
	secrets_path = g_build_filename(dir, "secrets.conf", NULL);
	config = g_strdup_printf("[vestibule]\nname=Bench store\nstate-dir=%s/state\n"
				 "[http]\naddress=127.0.0.1\nport=0\n"
				 "control-socket=%s/control.sock\n%s",
				 dir, dir, config_tail);
	if (!g_file_set_contents(config_path, config, -1, &error) ||
	    !g_file_set_contents_full(secrets_path, VB_TEST_INPROCESS_SECRETS, -1,
				      G_FILE_SET_CONTENTS_NONE, 0600, &error))
		g_error("cannot write the daemon's files: %s", error->message);
	*dir_out = g_strdup(dir);
	return vb_test_inprocess_resume(dir);
}

VbDaemon *
vb_test_inprocess_resume(const gchar *dir)
{
	g_autofree gchar *config_path = g_build_filename(dir, "vestibule.conf", NULL);
	g_autofree gchar *secrets_path = g_build_filename(dir, "secrets.conf", NULL);
	g_autoptr(VbDaemon) daemon = vb_daemon_new(config_path, secrets_path, NULL);
	g_autoptr(GError) error = NULL;

	if (!vb_daemon_start(daemon, &error))
		g_error("vestibuled did not start: %s", error->message);
	return g_steal_pointer(&daemon);
}

void
vb_test_inprocess_halt(VbDaemon *daemon)
{
	vb_daemon_stop(daemon);
	g_object_unref(daemon);
}

static VbPlugin *
vb_test_inprocess_instance(VbDaemon *daemon, const gchar *name)
{
	VbPlugin *plugin = vb_plugin_loader_get_instance(vb_daemon_get_loader(daemon), name);

	if (plugin == NULL)
		g_error("the daemon runs no instance %s", name);
	return plugin;
}

void
vb_test_inprocess_tap(VbDaemon *daemon, const gchar *reader, const gchar *pan)
{
	VbCardRead read = {.kind = VB_CARD_KIND_PAYMENT, .pan_sequence = -1};
	g_autoptr(GError) error = NULL;

	g_assert_cmpuint(strlen(pan), <, sizeof(read.pan));
	memcpy(read.pan, pan, strlen(pan));
	memcpy(read.expiry, "2812", 4);
	if (!vb_card_reader_present(VB_CARD_READER(vb_test_inprocess_instance(daemon, reader)),
				    &read, &error))
		g_error("the tap was refused: %s", error->message);
}

void
vb_test_inprocess_type(VbDaemon *daemon, const gchar *keypad, const gchar *digits)
{
	VbKeypad *pad = VB_KEYPAD(vb_test_inprocess_instance(daemon, keypad));

	for (const gchar *p = digits; *p != '\0'; p++)
		vb_keypad_emit_key(pad, (VbKeypadKey)(*p - '0'));
	vb_keypad_emit_key(pad, VB_KEYPAD_KEY_ENTER);
}

void
vb_test_inprocess_stop(VbDaemon *daemon, const gchar *dir)
{
	vb_test_inprocess_halt(daemon);
	vb_test_remove_tree(dir);
}
