/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * VB_ERROR:
 *
 * The error domain of every error that the SDK and the core return.
 *
 * Since: 0.1
 */
#define VB_ERROR (vb_error_quark())

/**
 * VbError:
 * @VB_ERROR_FAILED: a generic failure with no better code
 * @VB_ERROR_INVALID_DATA: input could not be parsed or was out of range
 * @VB_ERROR_INVALID_CONFIG: the configuration is invalid; the message names file and line
 * @VB_ERROR_NOT_FOUND: the thing asked for does not exist
 * @VB_ERROR_NOT_SUPPORTED: the operation is not implemented by this plugin or build
 * @VB_ERROR_PERMISSION_DENIED: a file mode, owner or credential was refused
 * @VB_ERROR_IO: a device, file or socket failed
 * @VB_ERROR_TIMED_OUT: the peer did not answer in time; the outcome may be unknown
 * @VB_ERROR_UNREACHABLE: the peer could not be reached; nothing was sent
 * @VB_ERROR_DECLINED: the peer answered and refused
 * @VB_ERROR_RATE_LIMITED: the peer asked to slow down; retry later
 * @VB_ERROR_CONFLICT: the request conflicts with state already recorded
 * @VB_ERROR_ABI_MISMATCH: a plugin was built against an incompatible ABI
 * @VB_ERROR_STORE_CORRUPT: the database failed its integrity check
 * @VB_ERROR_UNAUTHORIZED: a request carried no credential, or a wrong one
 * @VB_ERROR_TOO_LARGE: a request or value exceeds a configured limit
 * @VB_ERROR_OPTED_OUT: the recipient has opted out of messages; permanent (Since: 0.2)
 * @VB_ERROR_OUTCOME_UNKNOWABLE: an earlier attempt's outcome is unknown and the peer
 *   refuses to say what became of it (its lookup answers 401, 403 or 404): a
 *   configuration fault, which waiting does not cure (Since: 0.3)
 *
 * The error codes of #VB_ERROR.
 *
 * Since: 0.1
 */
typedef enum {
	VB_ERROR_FAILED,
	VB_ERROR_INVALID_DATA,
	VB_ERROR_INVALID_CONFIG,
	VB_ERROR_NOT_FOUND,
	VB_ERROR_NOT_SUPPORTED,
	VB_ERROR_PERMISSION_DENIED,
	VB_ERROR_IO,
	VB_ERROR_TIMED_OUT,
	VB_ERROR_UNREACHABLE,
	VB_ERROR_DECLINED,
	VB_ERROR_RATE_LIMITED,
	VB_ERROR_CONFLICT,
	VB_ERROR_ABI_MISMATCH,
	VB_ERROR_STORE_CORRUPT,
	VB_ERROR_UNAUTHORIZED,
	VB_ERROR_TOO_LARGE,
	VB_ERROR_OPTED_OUT,
	VB_ERROR_OUTCOME_UNKNOWABLE,
	/*< private >*/
	VB_ERROR_LAST
} VbError;

GQuark
vb_error_quark(void);
const gchar *
vb_error_to_code(gint code);
gint
vb_error_from_errno(gint errno_value);

G_END_DECLS
