/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-bus-private.h"
#include "vb-event-private.h"

/**
 * SECTION:vb-bus
 * @short_description: the signal bus that plugins and the core talk through
 *
 * Events are delivered as the detailed #VbBus::event signal, so a listener can
 * connect to `event::card-presented` alone. Delivery always happens in the
 * thread that owns the bus (the daemon's main thread), in the order the events
 * were emitted, whatever thread emitted them: a libnfc poll in a worker
 * thread calls vb_bus_emit() and the event reaches listeners through the main
 * context.
 *
 * An event emitted from a handler is queued behind the one being delivered,
 * so every listener sees every event in the same order.
 */

struct _VbBus {
	GObject parent_instance;
	GMainContext *context;
	GThread *owner;
	GMutex mutex;
	GQueue queue;	  /* of VbEvent, guarded by mutex */
	GSource *wakeup;  /* guarded by mutex */
	guint64 sequence; /* guarded by mutex: the last number handed out */
	guint64 first;	  /* guarded by mutex: the sequence before the first emit */
	guint64 delivered;
	gboolean dispatching;
};

G_DEFINE_FINAL_TYPE(VbBus, vb_bus, G_TYPE_OBJECT)

enum { SIGNAL_EVENT, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

static void
vb_bus_dispatch(VbBus *self)
{
	/* re-entrant emits land in the queue and are drained by the outer loop */
	if (self->dispatching)
		return;
	self->dispatching = TRUE;
	for (;;) {
		g_autoptr(VbEvent) event = NULL;

		g_mutex_lock(&self->mutex);
		event = g_queue_pop_head(&self->queue);
		g_mutex_unlock(&self->mutex);
		if (event == NULL)
			break;
		self->delivered++;
		g_signal_emit(self, signals[SIGNAL_EVENT],
			      g_quark_from_string(vb_event_get_name(event)), event);
	}
	self->dispatching = FALSE;
}

static gboolean
vb_bus_wakeup_cb(gpointer user_data)
{
	VbBus *self = VB_BUS(user_data);

	g_mutex_lock(&self->mutex);
	g_clear_pointer(&self->wakeup, g_source_unref);
	g_mutex_unlock(&self->mutex);
	vb_bus_dispatch(self);
	return G_SOURCE_REMOVE;
}

/**
 * vb_bus_emit:
 * @self: a #VbBus
 * @event: the event
 *
 * Emits @event. May be called from any thread. From the thread that owns the
 * bus the event is delivered before this returns, unless a delivery is
 * already under way, in which case it follows it; from another thread it is
 * delivered through the bus's main context.
 *
 * Since: 0.1
 */
void
vb_bus_emit(VbBus *self, VbEvent *event)
{
	gboolean owner;

	g_return_if_fail(VB_IS_BUS(self));
	g_return_if_fail(event != NULL);

	owner = g_thread_self() == self->owner;
	g_mutex_lock(&self->mutex);
	vb_event_set_sequence(event, ++self->sequence);
	g_queue_push_tail(&self->queue, vb_event_ref(event));
	if (!owner && self->wakeup == NULL) {
		self->wakeup = g_idle_source_new();
		g_source_set_priority(self->wakeup, G_PRIORITY_HIGH);
		g_source_set_callback(self->wakeup, vb_bus_wakeup_cb, g_object_ref(self),
				      g_object_unref);
		g_source_set_static_name(self->wakeup, "[vestibule] bus wakeup");
		g_source_attach(self->wakeup, self->context);
	}
	g_mutex_unlock(&self->mutex);

	if (owner)
		vb_bus_dispatch(self);
}

/**
 * vb_bus_emit_simple:
 * @self: a #VbBus
 * @source: (nullable): the emitting instance, %NULL for the core
 * @door: (nullable): the door concerned
 * @name: the event name
 * @payload: (nullable) (transfer floating): an `a{sv}` payload
 *
 * Makes a #VbEvent and emits it, as vb_bus_emit() does.
 *
 * Since: 0.1
 */
void
vb_bus_emit_simple(VbBus *self,
		   const gchar *source,
		   const gchar *door,
		   const gchar *name,
		   GVariant *payload)
{
	g_autoptr(VbEvent) event = NULL;

	g_return_if_fail(VB_IS_BUS(self));
	event = vb_event_new(name, source, door, payload);
	vb_bus_emit(self, event);
}

/**
 * vb_bus_get_emitted:
 * @self: a #VbBus
 *
 * Returns: how many events were emitted since the bus was made
 *
 * Since: 0.1
 */
guint64
vb_bus_get_emitted(VbBus *self)
{
	guint64 n;

	g_return_val_if_fail(VB_IS_BUS(self), 0);
	g_mutex_lock(&self->mutex);
	n = self->sequence - self->first;
	g_mutex_unlock(&self->mutex);
	return n;
}

/* the next event emitted gets @sequence + 1: the daemon continues the
 * numbering its store kept, so that a number names one event across restarts.
 * Never lowers the counter */
void
vb_bus_set_sequence(VbBus *self, guint64 sequence)
{
	g_return_if_fail(VB_IS_BUS(self));
	g_mutex_lock(&self->mutex);
	if (sequence > self->sequence) {
		self->first += sequence - self->sequence;
		self->sequence = sequence;
	}
	g_mutex_unlock(&self->mutex);
}

/* delivers what other threads queued; for shutdown and tests */
void
vb_bus_flush(VbBus *self)
{
	g_return_if_fail(VB_IS_BUS(self));
	g_return_if_fail(g_thread_self() == self->owner);
	vb_bus_dispatch(self);
}

static void
vb_bus_finalize(GObject *object)
{
	VbBus *self = VB_BUS(object);

	g_queue_clear_full(&self->queue, (GDestroyNotify)vb_event_unref);
	g_main_context_unref(self->context);
	g_mutex_clear(&self->mutex);
	G_OBJECT_CLASS(vb_bus_parent_class)->finalize(object);
}

static void
vb_bus_dispose(GObject *object)
{
	VbBus *self = VB_BUS(object);

	g_mutex_lock(&self->mutex);
	if (self->wakeup != NULL) {
		g_source_destroy(self->wakeup);
		g_clear_pointer(&self->wakeup, g_source_unref);
	}
	g_mutex_unlock(&self->mutex);
	G_OBJECT_CLASS(vb_bus_parent_class)->dispose(object);
}

static void
vb_bus_class_init(VbBusClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = vb_bus_dispose;
	object_class->finalize = vb_bus_finalize;

	/**
	 * VbBus::event:
	 * @bus: the #VbBus
	 * @event: the #VbEvent
	 *
	 * Delivers one event; the signal detail is the event name.
	 *
	 * Since: 0.1
	 */
	signals[SIGNAL_EVENT] = g_signal_new(
	    "event", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED, 0, NULL, NULL,
	    NULL, G_TYPE_NONE, 1, VB_TYPE_EVENT | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
vb_bus_init(VbBus *self)
{
	g_mutex_init(&self->mutex);
	g_queue_init(&self->queue);
}

/* the bus delivers in the thread that calls this, through @context */
VbBus *
vb_bus_new(GMainContext *context)
{
	VbBus *self = g_object_new(VB_TYPE_BUS, NULL);

	self->context =
	    context != NULL ? g_main_context_ref(context) : g_main_context_ref_thread_default();
	self->owner = g_thread_self();
	return self;
}
