/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-card-reader.h"
#include "vb-config-private.h"
#include "vb-context.h"

G_BEGIN_DECLS

/* the store's own keys, from [vestibule] of the secrets file */
typedef enum {
	VB_STORE_KEY_CARD_TOKEN,  /* card-token-key: HMAC of PANs and UIDs */
	VB_STORE_KEY_PHONE,	  /* phone-key: seals phone numbers */
	VB_STORE_KEY_PHONE_INDEX, /* phone-index-key: the blind index of phones */
	VB_STORE_KEY_OTP,	  /* otp-key: hashes of one-time codes */
	VB_STORE_KEY_LAST
} VbStoreKey;

VbContext *
vb_context_new(VbBus *bus, VbStore *store, VbHttpServer *http, VbMetrics *metrics);
/* swaps in a validated config; reads the keys the core needs from its secrets */
gboolean
vb_context_set_config(VbContext *self, VbConfig *config, GError **error);
VbConfig *
vb_context_get_config(VbContext *self);
/* a reference to one of the store's keys; VB_ERROR_INVALID_CONFIG naming the
 * missing key of the secrets file. Safe from any thread */
GBytes *
vb_context_get_store_key(VbContext *self, VbStoreKey key, GError **error);
GBytes *
vb_context_get_secret(VbContext *self, const gchar *group, const gchar *key, GError **error);
/* tokenizes @read into a card-presented payload; @read is wiped whatever happens.
 * Safe from any thread */
GVariant *
vb_context_tokenize_card(VbContext *self, VbCardRead *read, GError **error);
/* starts appending every bus event to the audit log */
void
vb_context_start_audit(VbContext *self);
/* writes what the audit log has buffered */
void
vb_context_flush_audit(VbContext *self);

G_END_DECLS
