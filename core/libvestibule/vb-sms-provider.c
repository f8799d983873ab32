/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-error.h"
#include "vb-sms-provider.h"

/**
 * SECTION:vb-sms-provider
 * @short_description: the SMS provider role
 *
 * The core's outbox calls vb_sms_provider_send_async() for each queued
 * message, with the same idempotency key on every retry of it.
 */

G_DEFINE_INTERFACE(VbSmsProvider, vb_sms_provider, VB_TYPE_PLUGIN)

static void
vb_sms_provider_default_init(VbSmsProviderInterface *iface)
{
}

/**
 * vb_sms_provider_send_async:
 * @self: a #VbSmsProvider
 * @message: the message; copied by the provider if it needs it after returning
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the provider answered or gave up
 * @user_data: data for @callback
 *
 * Starts sending one SMS.
 *
 * Since: 0.1
 */
void
vb_sms_provider_send_async(VbSmsProvider *self,
			   const VbSmsMessage *message,
			   GCancellable *cancellable,
			   GAsyncReadyCallback callback,
			   gpointer user_data)
{
	VbSmsProviderInterface *iface;

	g_return_if_fail(VB_IS_SMS_PROVIDER(self));
	g_return_if_fail(message != NULL && message->to != NULL && message->body != NULL);
	iface = VB_SMS_PROVIDER_GET_IFACE(self);
	if (iface->send_async == NULL) {
		g_task_report_new_error(self, callback, user_data, vb_sms_provider_send_async,
					VB_ERROR, VB_ERROR_NOT_SUPPORTED,
					"this provider cannot send");
		return;
	}
	iface->send_async(self, message, cancellable, callback, user_data);
}

/**
 * vb_sms_provider_send_finish:
 * @self: a #VbSmsProvider
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the provider's message id, or %NULL
 *
 * Since: 0.1
 */
gchar *
vb_sms_provider_send_finish(VbSmsProvider *self, GAsyncResult *result, GError **error)
{
	VbSmsProviderInterface *iface;

	g_return_val_if_fail(VB_IS_SMS_PROVIDER(self), NULL);
	if (g_async_result_is_tagged(result, vb_sms_provider_send_async))
		return g_task_propagate_pointer(G_TASK(result), error);
	iface = VB_SMS_PROVIDER_GET_IFACE(self);
	return iface->send_finish(self, result, error);
}

#define VB_SMS_RETRY_AFTER_KEY "vb-sms-retry-after-ms"

/**
 * vb_sms_provider_task_set_retry_after:
 * @task: the #GTask a provider's send_async() returns through
 * @retry_after_ms: how long the peer asked us to wait, in milliseconds
 *
 * Records a peer's `Retry-After` on the send's result. Call it before
 * returning %VB_ERROR_RATE_LIMITED (or another retried error) through @task;
 * the outbox then waits that long, within its longest backoff, before the
 * next attempt instead of its own backoff.
 *
 * Since: 0.2
 */
void
vb_sms_provider_task_set_retry_after(GTask *task, guint retry_after_ms)
{
	g_return_if_fail(G_IS_TASK(task));
	g_object_set_data(G_OBJECT(task), VB_SMS_RETRY_AFTER_KEY, GUINT_TO_POINTER(retry_after_ms));
}

/**
 * vb_sms_provider_result_get_retry_after:
 * @result: the #GAsyncResult given to a send_async() callback
 *
 * Returns: the wait the provider recorded with
 *   vb_sms_provider_task_set_retry_after(), or 0
 *
 * Since: 0.2
 */
guint
vb_sms_provider_result_get_retry_after(GAsyncResult *result)
{
	g_return_val_if_fail(G_IS_ASYNC_RESULT(result), 0);
	return GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(result), VB_SMS_RETRY_AFTER_KEY));
}
