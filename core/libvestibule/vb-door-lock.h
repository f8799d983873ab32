/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vb-plugin.h"

G_BEGIN_DECLS

/**
 * VbDoorLock:
 *
 * The role of a plugin that drives a door's lock and senses the door; see
 * #VbDoorLockInterface.
 *
 * Since: 0.1
 */
#define VB_TYPE_DOOR_LOCK (vb_door_lock_get_type())
G_DECLARE_INTERFACE(VbDoorLock, vb_door_lock, VB, DOOR_LOCK, VbPlugin)

/**
 * VbDoorState:
 * @VB_DOOR_STATE_UNKNOWN: there is no door contact, or it was not read yet
 * @VB_DOOR_STATE_CLOSED: the contact reports the door closed
 * @VB_DOOR_STATE_OPEN: the contact reports the door open
 *
 * What the door contact says.
 *
 * Since: 0.1
 */
typedef enum {
	VB_DOOR_STATE_UNKNOWN,
	VB_DOOR_STATE_CLOSED,
	VB_DOOR_STATE_OPEN,
} VbDoorState;

/**
 * VbDoorLockInterface:
 * @g_iface: the parent interface
 * @unlock: releases the lock, for @pulse_ms milliseconds, or until @lock when 0
 * @lock: engages the lock
 * @is_locked: whether the lock is engaged
 * @get_door_state: what the door contact reports
 *
 * A door lock, usually with a door contact. The plugin emits
 * #VB_EVENT_DOOR_OPENED, #VB_EVENT_DOOR_CLOSED, #VB_EVENT_DOOR_UNLOCKED and
 * #VB_EVENT_DOOR_LOCKED as they happen.
 *
 * Since: 0.1
 */
struct _VbDoorLockInterface {
	GTypeInterface g_iface;
	gboolean (*unlock)(VbDoorLock *self, guint pulse_ms, GError **error);
	gboolean (*lock)(VbDoorLock *self, GError **error);
	gboolean (*is_locked)(VbDoorLock *self);
	VbDoorState (*get_door_state)(VbDoorLock *self);
	/*< private >*/
	gpointer padding[12];
};

gboolean
vb_door_lock_unlock(VbDoorLock *self, guint pulse_ms, GError **error);
gboolean
vb_door_lock_lock(VbDoorLock *self, GError **error);
gboolean
vb_door_lock_is_locked(VbDoorLock *self);
VbDoorState
vb_door_lock_get_door_state(VbDoorLock *self);
const gchar *
vb_door_state_to_string(VbDoorState state);

G_END_DECLS
