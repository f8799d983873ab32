/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-door-lock.h"
#include "vb-error.h"

/**
 * SECTION:vb-door-lock
 * @short_description: the door lock role
 *
 * The core unlocks a door only after an approved authorization, and calls
 * vb_door_lock_lock() when the door closes or a time-out passes.
 */

G_DEFINE_INTERFACE(VbDoorLock, vb_door_lock, VB_TYPE_PLUGIN)

static void
vb_door_lock_default_init(VbDoorLockInterface *iface)
{
}

/**
 * vb_door_lock_unlock:
 * @self: a #VbDoorLock
 * @pulse_ms: how long to release the lock, or 0 to hold it until vb_door_lock_lock()
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the lock was released
 *
 * Since: 0.1
 */
gboolean
vb_door_lock_unlock(VbDoorLock *self, guint pulse_ms, GError **error)
{
	VbDoorLockInterface *iface;

	g_return_val_if_fail(VB_IS_DOOR_LOCK(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	iface = VB_DOOR_LOCK_GET_IFACE(self);
	if (iface->unlock == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "cannot unlock");
		return FALSE;
	}
	return iface->unlock(self, pulse_ms, error);
}

/**
 * vb_door_lock_lock:
 * @self: a #VbDoorLock
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the lock is engaged
 *
 * Since: 0.1
 */
gboolean
vb_door_lock_lock(VbDoorLock *self, GError **error)
{
	VbDoorLockInterface *iface;

	g_return_val_if_fail(VB_IS_DOOR_LOCK(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	iface = VB_DOOR_LOCK_GET_IFACE(self);
	if (iface->lock == NULL) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "cannot lock");
		return FALSE;
	}
	return iface->lock(self, error);
}

/**
 * vb_door_lock_is_locked:
 * @self: a #VbDoorLock
 *
 * Returns: %TRUE if the lock is engaged; a lock that cannot tell says %TRUE
 *
 * Since: 0.1
 */
gboolean
vb_door_lock_is_locked(VbDoorLock *self)
{
	VbDoorLockInterface *iface;

	g_return_val_if_fail(VB_IS_DOOR_LOCK(self), TRUE);
	iface = VB_DOOR_LOCK_GET_IFACE(self);
	return iface->is_locked != NULL ? iface->is_locked(self) : TRUE;
}

/**
 * vb_door_lock_get_door_state:
 * @self: a #VbDoorLock
 *
 * Returns: what the door contact reports
 *
 * Since: 0.1
 */
VbDoorState
vb_door_lock_get_door_state(VbDoorLock *self)
{
	VbDoorLockInterface *iface;

	g_return_val_if_fail(VB_IS_DOOR_LOCK(self), VB_DOOR_STATE_UNKNOWN);
	iface = VB_DOOR_LOCK_GET_IFACE(self);
	return iface->get_door_state != NULL ? iface->get_door_state(self) : VB_DOOR_STATE_UNKNOWN;
}

/**
 * vb_door_state_to_string:
 * @state: a #VbDoorState
 *
 * Returns: `unknown`, `closed` or `open`
 *
 * Since: 0.1
 */
const gchar *
vb_door_state_to_string(VbDoorState state)
{
	switch (state) {
	case VB_DOOR_STATE_CLOSED:
		return "closed";
	case VB_DOOR_STATE_OPEN:
		return "open";
	case VB_DOOR_STATE_UNKNOWN:
	default:
		return "unknown";
	}
}
