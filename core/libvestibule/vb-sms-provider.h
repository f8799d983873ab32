/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "vb-plugin.h"

G_BEGIN_DECLS

/**
 * VbSmsProvider:
 *
 * The role of a plugin that sends and receives SMS; see
 * #VbSmsProviderInterface.
 *
 * Since: 0.1
 */
#define VB_TYPE_SMS_PROVIDER (vb_sms_provider_get_type())
G_DECLARE_INTERFACE(VbSmsProvider, vb_sms_provider, VB, SMS_PROVIDER, VbPlugin)

/**
 * VbSmsMessage:
 * @to: the recipient, E.164
 * @body: the text, UTF-8
 * @idempotency_key: stable across retries of the same message; a provider
 *   uses it to make sure a retry never sends the message twice
 *
 * One outgoing SMS.
 *
 * Since: 0.1
 */
typedef struct {
	const gchar *to;
	const gchar *body;
	const gchar *idempotency_key;
	/*< private >*/
	gpointer padding[8];
} VbSmsMessage;

/**
 * VbSmsProviderInterface:
 * @g_iface: the parent interface
 * @send_async: starts sending @message
 * @send_finish: returns the provider's message id, or %NULL with an error:
 *   %VB_ERROR_UNREACHABLE (nothing was sent; the core may fail over to the
 *   fallback provider), %VB_ERROR_TIMED_OUT (the outcome is unknown; the core
 *   retries the same provider, which must not send twice) and
 *   %VB_ERROR_RATE_LIMITED (see vb_sms_provider_task_set_retry_after()) are
 *   retried by the outbox; %VB_ERROR_OPTED_OUT marks the recipient opted out;
 *   any other code is permanent
 *
 * Sends SMS. Inbound messages are reported on the bus as
 * #VB_EVENT_SMS_RECEIVED, delivery reports as #VB_EVENT_SMS_STATUS.
 *
 * Since: 0.1
 */
struct _VbSmsProviderInterface {
	GTypeInterface g_iface;
	void (*send_async)(VbSmsProvider *self,
			   const VbSmsMessage *message,
			   GCancellable *cancellable,
			   GAsyncReadyCallback callback,
			   gpointer user_data);
	gchar *(*send_finish)(VbSmsProvider *self, GAsyncResult *result, GError **error);
	/*< private >*/
	gpointer padding[14];
};

void
vb_sms_provider_send_async(VbSmsProvider *self,
			   const VbSmsMessage *message,
			   GCancellable *cancellable,
			   GAsyncReadyCallback callback,
			   gpointer user_data);
gchar *
vb_sms_provider_send_finish(VbSmsProvider *self, GAsyncResult *result, GError **error);
void
vb_sms_provider_task_set_retry_after(GTask *task, guint retry_after_ms);
guint
vb_sms_provider_result_get_retry_after(GAsyncResult *result);

/**
 * VB_SMS_PROVIDER_METRIC_REQUESTS:
 *
 * The counter in which every SMS provider plugin counts its requests to its
 * service and what came of them, one metric for all providers:
 * `vestibule_sms_provider_requests_total`, with the labels `provider` (the
 * plugin, vb_plugin_get_module_name()), `instance` (vb_plugin_get_name()) and
 * `outcome`: `attempt` for each message handed to the service, then one of
 * `sent`, `refused`, `opted-out`, `unreachable`, `rate-limited` or `unknown`
 * for what came of it, and any of the provider's own, such as `lookup`.
 * Declare it with #VB_SMS_PROVIDER_METRIC_REQUESTS_HELP and build the labels
 * with vb_metrics_labels().
 *
 * Since: 0.3
 */
#define VB_SMS_PROVIDER_METRIC_REQUESTS "vestibule_sms_provider_requests_total"

/**
 * VB_SMS_PROVIDER_METRIC_REQUESTS_HELP:
 *
 * The help text of #VB_SMS_PROVIDER_METRIC_REQUESTS, the same from every
 * plugin that declares it.
 *
 * Since: 0.3
 */
#define VB_SMS_PROVIDER_METRIC_REQUESTS_HELP                                                       \
	"Requests of SMS provider plugins to their services, by provider, instance and outcome"

/**
 * VB_SMS_PROVIDER_METRIC_WEBHOOKS_REJECTED:
 *
 * The counter in which every SMS provider plugin counts the requests to its
 * webhooks that it refuses as not coming from its service, one metric for all
 * providers: `vestibule_sms_webhooks_rejected_total`, with the labels
 * `provider`, `instance`, `hook` (such as `inbound` or `status`) and `reason`
 * (such as `bad signature`). Declare it with
 * #VB_SMS_PROVIDER_METRIC_WEBHOOKS_REJECTED_HELP.
 *
 * Since: 0.3
 */
#define VB_SMS_PROVIDER_METRIC_WEBHOOKS_REJECTED "vestibule_sms_webhooks_rejected_total"

/**
 * VB_SMS_PROVIDER_METRIC_WEBHOOKS_REJECTED_HELP:
 *
 * The help text of #VB_SMS_PROVIDER_METRIC_WEBHOOKS_REJECTED.
 *
 * Since: 0.3
 */
#define VB_SMS_PROVIDER_METRIC_WEBHOOKS_REJECTED_HELP                                              \
	"Requests to SMS provider webhooks refused for a missing or wrong signature or secret, "   \
	"by provider, instance, hook and reason"

/**
 * VbSmsEncoding:
 * @VB_SMS_ENCODING_GSM7: the GSM 03.38 default alphabet and its extension
 *   table, 7 bits a character; 160 characters in one segment, 153 in each
 *   segment of a longer message; an extension character counts twice
 * @VB_SMS_ENCODING_UCS2: UCS-2 (UTF-16 on the air), counted in 16-bit units;
 *   70 units in one segment, 67 in each segment of a longer message
 *
 * How an SMS body is carried on the air.
 *
 * Since: 0.2
 */
typedef enum {
	VB_SMS_ENCODING_GSM7,
	VB_SMS_ENCODING_UCS2,
} VbSmsEncoding;

VbSmsEncoding
vb_sms_text_get_encoding(const gchar *utf8, guint *n_segments, guint *n_units);

G_END_DECLS
