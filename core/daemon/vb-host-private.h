/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-config-private.h"
#include "vb-context-private.h"

G_BEGIN_DECLS

/* the daemon's side of the context: the configuration's core settings, the
 * secrets and the keys made from them, and the audit log. The SDK asks for
 * them through VbContextHost and never sees VbConfig or a key it does not need */
/* the store's own keys, from [vestibule] of the secrets file */
typedef enum {
	VB_STORE_KEY_CARD_TOKEN,  /* card-token-key: HMAC of PANs and UIDs */
	VB_STORE_KEY_PHONE,	  /* phone-key: seals phone numbers */
	VB_STORE_KEY_PHONE_INDEX, /* phone-index-key: the blind index of phones */
	VB_STORE_KEY_OTP,	  /* otp-key: hashes of one-time codes, receipt links */
	VB_STORE_KEY_LAST
} VbStoreKey;

#define VB_TYPE_HOST (vb_host_get_type())
G_DECLARE_FINAL_TYPE(VbHost, vb_host, VB, HOST, GObject)

/* becomes @context's host, until it is disposed */
VbHost *
vb_host_new(VbContext *context);
/* swaps in a validated config; reads the keys the core needs from its secrets */
gboolean
vb_host_set_config(VbHost *self, VbConfig *config, GError **error);
/* a reference to one of the store's keys; VB_ERROR_INVALID_CONFIG naming
 * what is missing. Safe from any thread */
GBytes *
vb_host_get_store_key(VbHost *self, VbStoreKey key, GError **error);
/* starts appending every bus event to the audit log */
void
vb_host_start_audit(VbHost *self);
/* writes what the audit log has buffered */
void
vb_host_flush_audit(VbHost *self);

const gchar *
vb_host_event_payload_json(VbHost *self, VbEvent *event);

G_END_DECLS
