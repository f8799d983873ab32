/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>

#include "vb-error.h"

/**
 * vb_error_quark:
 *
 * Returns: the #GQuark of the #VB_ERROR domain
 *
 * Since: 0.1
 */
G_DEFINE_QUARK(vb - error - quark, vb_error)

/**
 * vb_error_to_code:
 * @code: a #VbError
 *
 * Gives the stable, machine-readable name of an error code, as used in the
 * `code` member of HTTP error bodies and in `vestibulectl --json` output.
 *
 * Returns: a static string such as `invalid-data`
 *
 * Since: 0.1
 */
const gchar *
vb_error_to_code(gint code)
{
	static const gchar *names[] = {
	    [VB_ERROR_FAILED] = "failed",
	    [VB_ERROR_INVALID_DATA] = "invalid-data",
	    [VB_ERROR_INVALID_CONFIG] = "invalid-config",
	    [VB_ERROR_NOT_FOUND] = "not-found",
	    [VB_ERROR_NOT_SUPPORTED] = "not-supported",
	    [VB_ERROR_PERMISSION_DENIED] = "permission-denied",
	    [VB_ERROR_IO] = "io",
	    [VB_ERROR_TIMED_OUT] = "timed-out",
	    [VB_ERROR_UNREACHABLE] = "unreachable",
	    [VB_ERROR_DECLINED] = "declined",
	    [VB_ERROR_RATE_LIMITED] = "rate-limited",
	    [VB_ERROR_CONFLICT] = "conflict",
	    [VB_ERROR_ABI_MISMATCH] = "abi-mismatch",
	    [VB_ERROR_STORE_CORRUPT] = "store-corrupt",
	    [VB_ERROR_UNAUTHORIZED] = "unauthorized",
	    [VB_ERROR_TOO_LARGE] = "too-large",
	    [VB_ERROR_OPTED_OUT] = "opted-out",
	    [VB_ERROR_OUTCOME_UNKNOWABLE] = "outcome-unknowable",
	};
	if (code < 0 || code >= VB_ERROR_LAST)
		return "failed";
	return names[code];
}

/**
 * vb_error_from_errno:
 * @errno_value: an `errno` value
 *
 * Converts an `errno` value at the boundary into the closest #VbError.
 *
 * Returns: a #VbError
 *
 * Since: 0.1
 */
gint
vb_error_from_errno(gint errno_value)
{
	switch (errno_value) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return VB_ERROR_NOT_FOUND;
	case EACCES:
	case EPERM:
		return VB_ERROR_PERMISSION_DENIED;
	case ETIMEDOUT:
		return VB_ERROR_TIMED_OUT;
	case EINVAL:
		return VB_ERROR_INVALID_DATA;
	case ENOTSUP:
		return VB_ERROR_NOT_SUPPORTED;
	case EBUSY:
	case EAGAIN:
		return VB_ERROR_IO;
	case ECONNREFUSED:
	case ENETUNREACH:
	case EHOSTUNREACH:
		return VB_ERROR_UNREACHABLE;
	default:
		return VB_ERROR_IO;
	}
}
