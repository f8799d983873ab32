/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

/**
 * SECTION:vb-events
 * @short_description: the bus vocabulary: event names and payload keys
 *
 * Every event that travels on the #VbBus has one of these names, and its
 * payload (an `a{sv}` dictionary) uses these keys. This header is the single
 * place where the vocabulary is defined; a plugin never invents names.
 *
 * No payload ever carries a PAN, track data, a CVV, a one-time code or a key.
 * Keys whose value is a phone number (#VB_KEY_PHONE) or free text written by
 * a shopper (#VB_KEY_BODY) are masked or dropped by the audit log.
 */

/* event names, the detail of the #VbBus::event signal */

/**
 * VB_EVENT_CARD_PRESENTED:
 *
 * A card entered a reader's field. Emitted once per presentation, not per
 * poll. Payload: #VB_KEY_TOKEN, #VB_KEY_CARD_KIND, #VB_KEY_FIRST6,
 * #VB_KEY_LAST4, #VB_KEY_EXPIRY, #VB_KEY_SCHEME, #VB_KEY_LANGUAGE and,
 * when a processor identifier was read, #VB_KEY_ALIAS.
 *
 * Since: 0.1
 */
#define VB_EVENT_CARD_PRESENTED "card-presented"

/**
 * VB_EVENT_CARD_REMOVED:
 *
 * The card that was presented left the field. No payload: the reader forgets
 * the card once it is tokenized, and the core knows which card the reader
 * presented last.
 *
 * Since: 0.1
 */
#define VB_EVENT_CARD_REMOVED "card-removed"

/**
 * VB_EVENT_READER_STATE:
 *
 * A card reader changed state. Payload: #VB_KEY_STATE (`ready`, `absent`,
 * `error`) and, on error, #VB_KEY_ERROR.
 *
 * Since: 0.1
 */
#define VB_EVENT_READER_STATE "reader-state"

/**
 * VB_EVENT_KEYPAD_KEY:
 *
 * A key was pressed on a keypad. Payload: #VB_KEY_KEY, one of `0` to `9`,
 * `erase`, `cancel`, `enter`, `*` and `#`. The audit log and the event stream
 * record a digit as `digit`: typed in a row, digits are a phone number or a code.
 *
 * Since: 0.1
 */
#define VB_EVENT_KEYPAD_KEY "keypad-key"

/**
 * VB_EVENT_DOOR_OPENED:
 *
 * The door contact reports the door open. No payload.
 *
 * Since: 0.1
 */
#define VB_EVENT_DOOR_OPENED "door-opened"

/**
 * VB_EVENT_DOOR_CLOSED:
 *
 * The door contact reports the door closed. No payload.
 *
 * Since: 0.1
 */
#define VB_EVENT_DOOR_CLOSED "door-closed"

/**
 * VB_EVENT_DOOR_UNLOCKED:
 *
 * The lock was released. Payload: #VB_KEY_DURATION_MS, the pulse length, or
 * 0 for a held level.
 *
 * Since: 0.1
 */
#define VB_EVENT_DOOR_UNLOCKED "door-unlocked"

/**
 * VB_EVENT_DOOR_LOCKED:
 *
 * The lock was engaged again. No payload.
 *
 * Since: 0.1
 */
#define VB_EVENT_DOOR_LOCKED "door-locked"

/**
 * VB_EVENT_DOOR_ALARM:
 *
 * A door alarm was raised. Payload: #VB_KEY_ALARM (`held-open` or
 * `forced-open`).
 *
 * Since: 0.1
 */
#define VB_EVENT_DOOR_ALARM "door-alarm"

/**
 * VB_EVENT_EXIT_REQUESTED:
 *
 * The request-to-exit button was pressed. No payload.
 *
 * Since: 0.1
 */
#define VB_EVENT_EXIT_REQUESTED "exit-requested"

/**
 * VB_EVENT_SMS_RECEIVED:
 *
 * An SMS provider received a message. Payload: #VB_KEY_PHONE (the sender,
 * E.164), #VB_KEY_BODY and #VB_KEY_MESSAGE_ID.
 *
 * Since: 0.1
 */
#define VB_EVENT_SMS_RECEIVED "sms-received"

/**
 * VB_EVENT_SMS_STATUS:
 *
 * An SMS provider learnt the delivery state of a message it sent. Payload:
 * #VB_KEY_MESSAGE_ID and #VB_KEY_STATE (`queued`, `sent`, `delivered`,
 * `undelivered`, `failed`).
 *
 * Since: 0.1
 */
#define VB_EVENT_SMS_STATUS "sms-status"

/**
 * VB_EVENT_PLUGIN_STATE:
 *
 * A plugin instance changed state. Payload: #VB_KEY_STATE (`running`,
 * `disabled`, `stopped`) and, when disabled, #VB_KEY_ERROR.
 *
 * Since: 0.1
 */
#define VB_EVENT_PLUGIN_STATE "plugin-state"

/**
 * VB_EVENT_CONFIG_RELOADED:
 *
 * A SIGHUP reload finished. Payload: #VB_KEY_STATE (`applied` or
 * `rejected`) and, when rejected, #VB_KEY_ERROR.
 *
 * Since: 0.1
 */
#define VB_EVENT_CONFIG_RELOADED "config-reloaded"

/**
 * VB_EVENT_ALERT:
 *
 * Something the operator must look at. Payload: #VB_KEY_SEVERITY
 * (`info`, `warning`, `critical`) and #VB_KEY_MESSAGE.
 *
 * Since: 0.1
 */
#define VB_EVENT_ALERT "alert"

/**
 * VB_EVENT_VISIT_STATE:
 *
 * A visit changed state. Payload: #VB_KEY_VISIT and #VB_KEY_STATE (see
 * `vestibulectl visits show` for the states) and, for some states, #VB_KEY_ERROR.
 *
 * Since: 0.1
 */
#define VB_EVENT_VISIT_STATE "visit-state"

/**
 * VB_EVENT_CUSTOMER_ERASED:
 *
 * A customer's data was erased on request. Payload: the counts of what went,
 * `cards`, `feedback` and `visits` (anonymized), all `x`. Nothing in it
 * identifies the customer.
 *
 * Since: 0.1
 */
#define VB_EVENT_CUSTOMER_ERASED "customer-erased"

/**
 * VB_EVENT_DAEMON_READY:
 *
 * The daemon finished starting. Payload: #VB_KEY_DURATION_MS, the time
 * from process start to ready.
 *
 * Since: 0.1
 */
#define VB_EVENT_DAEMON_READY "daemon-ready"

/* payload keys */

/**
 * VB_KEY_TOKEN:
 *
 * `s`: the card token, a keyed hash of the PAN (hex) or of the UID.
 *
 * Since: 0.1
 */
#define VB_KEY_TOKEN "token"

/**
 * VB_KEY_CARD_KIND:
 *
 * `s`: `payment` for an EMV card, `uid` for a tag that is not a payment card.
 *
 * Since: 0.1
 */
#define VB_KEY_CARD_KIND "card-kind"

/**
 * VB_KEY_FIRST6:
 *
 * `s`: the first six digits of the PAN (the BIN), for display.
 *
 * Since: 0.1
 */
#define VB_KEY_FIRST6 "first6"

/**
 * VB_KEY_LAST4:
 *
 * `s`: the last four digits of the PAN, for display.
 *
 * Since: 0.1
 */
#define VB_KEY_LAST4 "last4"

/**
 * VB_KEY_EXPIRY:
 *
 * `s`: the expiry month, `YYYY-MM`.
 *
 * Since: 0.1
 */
#define VB_KEY_EXPIRY "expiry"

/**
 * VB_KEY_SCHEME:
 *
 * `s`: the card scheme, such as `visa` or `mastercard`.
 *
 * Since: 0.1
 */
#define VB_KEY_SCHEME "scheme"

/**
 * VB_KEY_LANGUAGE:
 *
 * `s`: an ISO 639-1 language code such as `fr`.
 *
 * Since: 0.1
 */
#define VB_KEY_LANGUAGE "language"

/**
 * VB_KEY_ALIAS:
 *
 * `s`: a processor card identifier (card alias, PAR, fingerprint).
 *
 * Since: 0.1
 */
#define VB_KEY_ALIAS "alias"

/**
 * VB_KEY_STATE:
 *
 * `s`: a state name; the event documents the values.
 *
 * Since: 0.1
 */
#define VB_KEY_STATE "state"

/**
 * VB_KEY_ERROR:
 *
 * `s`: a human-readable error message, with no secret in it.
 *
 * Since: 0.1
 */
#define VB_KEY_ERROR "error"

/**
 * VB_KEY_KEY:
 *
 * `s`: a keypad symbol.
 *
 * Since: 0.1
 */
#define VB_KEY_KEY "key"

/**
 * VB_KEY_ALARM:
 *
 * `s`: an alarm kind.
 *
 * Since: 0.1
 */
#define VB_KEY_ALARM "alarm"

/**
 * VB_KEY_DURATION_MS:
 *
 * `x`: a duration in milliseconds.
 *
 * Since: 0.1
 */
#define VB_KEY_DURATION_MS "duration-ms"

/**
 * VB_KEY_PHONE:
 *
 * `s`: a phone number in E.164 form. Masked in the audit log.
 *
 * Since: 0.1
 */
#define VB_KEY_PHONE "phone"

/**
 * VB_KEY_BODY:
 *
 * `s`: the text of a message. Only its length reaches the audit log.
 *
 * Since: 0.1
 */
#define VB_KEY_BODY "body"

/**
 * VB_KEY_MESSAGE_ID:
 *
 * `s`: a provider's message identifier.
 *
 * Since: 0.1
 */
#define VB_KEY_MESSAGE_ID "message-id"

/**
 * VB_KEY_SEVERITY:
 *
 * `s`: `info`, `warning` or `critical`.
 *
 * Since: 0.1
 */
#define VB_KEY_SEVERITY "severity"

/**
 * VB_KEY_VISIT:
 *
 * `s`: a visit id.
 *
 * Since: 0.1
 */
#define VB_KEY_VISIT "visit"

/**
 * VB_KEY_MESSAGE:
 *
 * `s`: a human-readable message for the operator.
 *
 * Since: 0.1
 */
#define VB_KEY_MESSAGE "message"
