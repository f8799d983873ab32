/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-card-reader.h"
#include "vb-context.h"

G_BEGIN_DECLS

/* a card token: a lower-case hex HMAC-SHA256, and its NUL */
#define VB_CARD_TOKEN_SIZE 65

/* what the context asks of its host, the daemon, which keeps the configuration
 * and the secrets: the SDK holds neither. get_secret and tokenize may be
 * called from any thread; a NULL setting means the default */
typedef struct {
	/* a value of [vestibule], or NULL */
	const gchar *(*get_setting)(gpointer user_data, const gchar *key);
	/* a plugin's secret; VB_ERROR_NOT_FOUND naming the secrets file */
	GBytes *(*get_secret)(gpointer user_data,
			      const gchar *group,
			      const gchar *key,
			      GError **error);
	/* writes the keyed digest of @prefix and @data into @token, so that the
	 * card-token key never leaves the host and a tap allocates nothing here */
	gboolean (*tokenize)(gpointer user_data,
			     const gchar *prefix,
			     const guint8 *data,
			     gsize len,
			     gchar token[VB_CARD_TOKEN_SIZE],
			     GError **error);
} VbContextHost;

/* a log line with the journald fields of its alert kind, without raising an
 * alert; NULL fields are left out */
void
vb_alert_log(GLogLevelFlags level,
	     VbAlertKind kind,
	     const gchar *source,
	     const gchar *door,
	     const gchar *visit_id,
	     const gchar *message);

VbContext *
vb_context_new(VbBus *bus, VbStore *store, VbHttpServer *http, VbMetrics *metrics);
/* @host and @user_data stay the host's, which unsets them before it goes;
 * %NULL leaves the context with the defaults and no secrets */
void
vb_context_set_host(VbContext *self, const VbContextHost *host, gpointer user_data);

/* within libvestibule: for vb_plugin_get_secret() and vb_card_reader_present() */
G_GNUC_INTERNAL GBytes *
vb_context_get_secret(VbContext *self, const gchar *group, const gchar *key, GError **error);
/* tokenizes @read into a card-presented payload; @read is wiped whatever happens.
 * Safe from any thread */
G_GNUC_INTERNAL GVariant *
vb_context_tokenize_card(VbContext *self, VbCardRead *read, GError **error);

G_END_DECLS
