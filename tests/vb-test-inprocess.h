/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-daemon-private.h"

G_BEGIN_DECLS

/* the simulated store's door and instances, for @config_tail below: one door
 * "front" with a reader, a lock, a keypad and a silent display, an SMS
 * instance "sms" (log-sms) and a payment instance "pay" (sim-payment) */
#define VB_TEST_INPROCESS_SIM_STORE                                                                \
	"[services]\nsms=sms\npayment=pay\n"                                                       \
	"[door:front]\nreader=front-reader\nlock=front-lock\n"                                     \
	"keypad=front-keypad\ndisplay=front-display\n"                                             \
	"[instance:front-reader]\nplugin=sim-reader\n"                                             \
	"[instance:front-lock]\nplugin=sim-lock\n"                                                 \
	"[instance:front-keypad]\nplugin=sim-keypad\n"                                             \
	"[instance:front-display]\nplugin=console\noutput=none\n"                                  \
	"[instance:sms]\nplugin=log-sms\n"                                                         \
	"[instance:pay]\nplugin=sim-payment\n"

/* starts a vestibuled in this process, for the benchmarks and the tests that
 * must see inside it: its state, config and secrets (test keys) in a new
 * temporary directory, returned in @dir_out, its listeners on 127.0.0.1 and
 * a control socket in that directory. @config_tail: the groups after
 * [vestibule] and [http]. Aborts the program when the daemon cannot start */
VbDaemon *
vb_test_inprocess_start(const gchar *config_tail, gchar **dir_out);

/* the reader of @daemon's instance @reader presents a payment card with
 * @pan, as the nfc plugin does from its poll thread; aborts on a refusal */
void
vb_test_inprocess_tap(VbDaemon *daemon, const gchar *reader, const gchar *pan);

/* the keypad of @daemon's instance @keypad types @digits, then enter */
void
vb_test_inprocess_type(VbDaemon *daemon, const gchar *keypad, const gchar *digits);

/* stops and frees @daemon, and keeps its files in the directory it ran in */
void
vb_test_inprocess_halt(VbDaemon *daemon);

/* starts a vestibuled in this process again, from the files in @dir that
 * vb_test_inprocess_start() wrote */
VbDaemon *
vb_test_inprocess_resume(const gchar *dir);

/* stops and frees @daemon, and removes @dir */
void
vb_test_inprocess_stop(VbDaemon *daemon, const gchar *dir);

G_END_DECLS
