/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-bus.h"
#include "vb-http-server.h"
#include "vb-metrics.h"
#include "vb-plugin.h"
#include "vb-store.h"

G_BEGIN_DECLS

/**
 * VbContext:
 *
 * What the core shares with plugins: the bus, the store, the HTTP server,
 * metrics, operator alerts and translations. A plugin gets it from
 * vb_plugin_get_context().
 *
 * Since: 0.1
 */
#define VB_TYPE_CONTEXT (vb_context_get_type())
G_DECLARE_FINAL_TYPE(VbContext, vb_context, VB, CONTEXT, GObject)

/**
 * VbAlertSeverity:
 * @VB_ALERT_INFO: for the record
 * @VB_ALERT_WARNING: needs a look today
 * @VB_ALERT_CRITICAL: needs a look now: money or a door is at stake
 *
 * How urgent an operator alert is.
 *
 * Since: 0.1
 */
typedef enum {
	VB_ALERT_INFO,
	VB_ALERT_WARNING,
	VB_ALERT_CRITICAL,
} VbAlertSeverity;

/**
 * VbAlertKind:
 * @VB_ALERT_KIND_OTHER: any other alert; logged without a `MESSAGE_ID`
 * @VB_ALERT_KIND_DOOR_FORCED_OPEN: a locked door was opened
 * @VB_ALERT_KIND_DOOR_HELD_OPEN: a door stayed open too long
 * @VB_ALERT_KIND_HOLD_DECLINED: the processor declined a hold, or its capture,
 *   raise or cancel
 * @VB_ALERT_KIND_PROCESSOR_UNREACHABLE: the payment processor did not answer
 * @VB_ALERT_KIND_SMS_DEAD_LETTER: an SMS was given up on
 * @VB_ALERT_KIND_ITEM_STUCK: an item stayed in the store's way too long
 * @VB_ALERT_KIND_OUTCOME_UNKNOWABLE: a peer refuses to say what became of a
 *   request whose outcome is unknown: a configuration fault
 * @VB_ALERT_KIND_STORE_DAMAGED: the database failed its integrity check, or
 *   the check could not run for too long
 *
 * What an operator alert is about. Each kind but the first is logged with a
 * fixed journald `MESSAGE_ID`, which vb_alert_kind_get_message_id() gives
 * and the README lists, so that `journalctl MESSAGE_ID=…` finds every one.
 *
 * Since: 0.3
 */
typedef enum {
	VB_ALERT_KIND_OTHER,
	VB_ALERT_KIND_DOOR_FORCED_OPEN,
	VB_ALERT_KIND_DOOR_HELD_OPEN,
	VB_ALERT_KIND_HOLD_DECLINED,
	VB_ALERT_KIND_PROCESSOR_UNREACHABLE,
	VB_ALERT_KIND_SMS_DEAD_LETTER,
	VB_ALERT_KIND_ITEM_STUCK,
	VB_ALERT_KIND_OUTCOME_UNKNOWABLE,
	VB_ALERT_KIND_STORE_DAMAGED,
} VbAlertKind;

const gchar *
vb_alert_kind_get_message_id(VbAlertKind kind);

VbBus *
vb_context_get_bus(VbContext *self);
VbStore *
vb_context_get_store(VbContext *self);
VbHttpServer *
vb_context_get_http_server(VbContext *self);
VbMetrics *
vb_context_get_metrics(VbContext *self);
const gchar *
vb_context_get_store_name(VbContext *self);
const gchar *
vb_context_get_default_language(VbContext *self);
const gchar *
vb_context_get_country(VbContext *self);
const gchar *
vb_context_get_currency(VbContext *self);
const gchar *
vb_context_get_state_dir(VbContext *self);
void
vb_context_alert(VbContext *self,
		 VbAlertSeverity severity,
		 const gchar *source,
		 const gchar *format,
		 ...) G_GNUC_PRINTF(4, 5);
void
vb_context_alert_full(VbContext *self,
		      VbAlertSeverity severity,
		      VbAlertKind kind,
		      const gchar *source,
		      const gchar *door,
		      const gchar *visit_id,
		      const gchar *format,
		      ...) G_GNUC_PRINTF(7, 8);
const gchar *
vb_context_gettext(VbContext *self, const gchar *language, const gchar *msgid);

G_END_DECLS
