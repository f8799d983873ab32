/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vb-error.h"
#include "vb-sd-notify-private.h"

gboolean
vb_sd_notify(const gchar *state, GError **error)
{
	const gchar *path = g_getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	socklen_t addr_len;
	gsize path_len;
	gint fd;
	gssize sent;

	if (path == NULL || path[0] == '\0')
		return TRUE;
	path_len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || path_len >= sizeof(addr.sun_path)) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "NOTIFY_SOCKET is not a socket path");
		return FALSE;
	}
	memcpy(addr.sun_path, path, path_len);
	/* an abstract socket starts with a NUL instead of '@' */
	if (addr.sun_path[0] == '@')
		addr.sun_path[0] = '\0';
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_IO, "socket: %s", g_strerror(errno));
		return FALSE;
	}
	sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
	close(fd);
	if (sent < 0) {
		g_set_error(error, VB_ERROR, vb_error_from_errno(errno),
			    "cannot notify systemd at %s: %s", path, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

guint64
vb_sd_watchdog_usec(void)
{
	const gchar *usec = g_getenv("WATCHDOG_USEC");
	const gchar *pid = g_getenv("WATCHDOG_PID");
	guint64 value = 0;

	if (usec == NULL)
		return 0;
	/* the variables may have been inherited from a parent that was watched */
	if (pid != NULL && g_ascii_strtoull(pid, NULL, 10) != (guint64)getpid())
		return 0;
	if (!g_ascii_string_to_unsigned(usec, 10, 1, G_MAXUINT64, &value, NULL))
		return 0;
	return value;
}
