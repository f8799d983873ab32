/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-event-private.h"

struct _VbEvent {
	gatomicrefcount refcount;
	const gchar *name; /* interned */
	gchar *source;
	gchar *door;
	GVariant *payload;
	gint64 monotonic_time;
	gint64 real_time;
	guint64 sequence;
};

/**
 * SECTION:vb-event
 * @short_description: an event on the bus
 *
 * A #VbEvent has a name from `vb-events.h`, the instance that emitted it, the
 * door it concerns, a payload dictionary and the times it was made at. It is
 * immutable once emitted, so it can be handed between threads.
 */

G_DEFINE_BOXED_TYPE(VbEvent, vb_event, vb_event_ref, vb_event_unref)

/**
 * vb_event_new:
 * @name: the event name, one of the `VB_EVENT_` names
 * @source: (nullable): the instance that emits it, or %NULL for the core
 * @door: (nullable): the door it concerns, if any
 * @payload: (nullable) (transfer floating): an `a{sv}` dictionary, or %NULL
 *   for an empty one
 *
 * Creates an event stamped with the current monotonic and wall-clock times.
 *
 * Returns: (transfer full): a new #VbEvent
 *
 * Since: 0.1
 */
VbEvent *
vb_event_new(const gchar *name, const gchar *source, const gchar *door, GVariant *payload)
{
	VbEvent *self;

	g_return_val_if_fail(name != NULL, NULL);
	g_return_val_if_fail(
	    payload == NULL || g_variant_is_of_type(payload, G_VARIANT_TYPE_VARDICT), NULL);

	self = g_new0(VbEvent, 1);
	g_atomic_ref_count_init(&self->refcount);
	self->name = g_intern_string(name);
	self->source = g_strdup(source);
	self->door = g_strdup(door);
	if (payload == NULL)
		payload = g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0);
	self->payload = g_variant_ref_sink(payload);
	self->monotonic_time = g_get_monotonic_time();
	self->real_time = g_get_real_time();
	return self;
}

/**
 * vb_event_ref:
 * @self: a #VbEvent
 *
 * Returns: (transfer full): @self
 *
 * Since: 0.1
 */
VbEvent *
vb_event_ref(VbEvent *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	g_atomic_ref_count_inc(&self->refcount);
	return self;
}

/**
 * vb_event_unref:
 * @self: a #VbEvent
 *
 * Drops a reference, freeing the event with the last one.
 *
 * Since: 0.1
 */
void
vb_event_unref(VbEvent *self)
{
	g_return_if_fail(self != NULL);
	if (!g_atomic_ref_count_dec(&self->refcount))
		return;
	g_free(self->source);
	g_free(self->door);
	g_variant_unref(self->payload);
	g_free(self);
}

/**
 * vb_event_get_name:
 * @self: a #VbEvent
 *
 * Returns: the event name, an interned string
 *
 * Since: 0.1
 */
const gchar *
vb_event_get_name(VbEvent *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->name;
}

/**
 * vb_event_get_source:
 * @self: a #VbEvent
 *
 * Returns: (nullable): the instance that emitted the event, %NULL for the core
 *
 * Since: 0.1
 */
const gchar *
vb_event_get_source(VbEvent *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->source;
}

/**
 * vb_event_get_door:
 * @self: a #VbEvent
 *
 * Returns: (nullable): the door the event concerns
 *
 * Since: 0.1
 */
const gchar *
vb_event_get_door(VbEvent *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->door;
}

/**
 * vb_event_get_payload:
 * @self: a #VbEvent
 *
 * Returns: (transfer none): the `a{sv}` payload, never %NULL
 *
 * Since: 0.1
 */
GVariant *
vb_event_get_payload(VbEvent *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->payload;
}

/**
 * vb_event_get_monotonic_time:
 * @self: a #VbEvent
 *
 * Returns: the g_get_monotonic_time() at creation, in µs
 *
 * Since: 0.1
 */
gint64
vb_event_get_monotonic_time(VbEvent *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->monotonic_time;
}

/**
 * vb_event_get_real_time:
 * @self: a #VbEvent
 *
 * Returns: the g_get_real_time() at creation, in µs since the epoch
 *
 * Since: 0.1
 */
gint64
vb_event_get_real_time(VbEvent *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->real_time;
}

/**
 * vb_event_get_sequence:
 * @self: a #VbEvent
 *
 * In the daemon, the number only grows, across restarts and crashes, and is
 * the event's `seq` in the audit log and in `GET /v1/events`; numbers may be
 * skipped. A bus made on its own numbers from 1.
 *
 * Returns: the bus sequence number, or 0 if not emitted yet
 *
 * Since: 0.1
 */
guint64
vb_event_get_sequence(VbEvent *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->sequence;
}

/* the bus numbers events as it queues them, before anyone else sees them */
void
vb_event_set_sequence(VbEvent *self, guint64 sequence)
{
	self->sequence = sequence;
}

/**
 * vb_event_lookup_string:
 * @self: a #VbEvent
 * @key: a payload key
 *
 * Returns: (nullable): the string value of @key, or %NULL when absent or not a string
 *
 * Since: 0.1
 */
const gchar *
vb_event_lookup_string(VbEvent *self, const gchar *key)
{
	g_autoptr(GVariant) value = NULL;

	g_return_val_if_fail(self != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);

	value = g_variant_lookup_value(self->payload, key, G_VARIANT_TYPE_STRING);
	if (value == NULL)
		return NULL;
	/* the payload owns the string data and outlives the returned pointer's use */
	return g_variant_get_string(value, NULL);
}

/**
 * vb_event_lookup_int64:
 * @self: a #VbEvent
 * @key: a payload key
 * @value: (out): the value
 *
 * Returns: %TRUE if @key is present as an `x`
 *
 * Since: 0.1
 */
gboolean
vb_event_lookup_int64(VbEvent *self, const gchar *key, gint64 *value)
{
	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(key != NULL, FALSE);
	return g_variant_lookup(self->payload, key, "x", value);
}
