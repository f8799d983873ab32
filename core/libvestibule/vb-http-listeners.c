/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the listeners: the public TCP port and the control socket, accepting the
 * connections for libsoup, and closing them */

#include "config.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "vb-http-server-internal.h"

/* connections waiting to be accepted: a burst of an operator's tools or a
 * load generator is queued rather than refused (GLib's default is 10). The
 * kernel caps it at net.core.somaxconn, 4096 on Debian 12 */
#define VB_HTTP_LISTEN_BACKLOG 1024

static gint
vb_http_error_code_from_gio(const GError *error)
{
	if (error->domain != G_IO_ERROR)
		return VB_ERROR_IO;
	switch (error->code) {
	case G_IO_ERROR_ADDRESS_IN_USE:
	case G_IO_ERROR_EXISTS:
		return VB_ERROR_CONFLICT;
	case G_IO_ERROR_PERMISSION_DENIED:
		return VB_ERROR_PERMISSION_DENIED;
	case G_IO_ERROR_NOT_FOUND:
		return VB_ERROR_NOT_FOUND;
	case G_IO_ERROR_INVALID_ARGUMENT:
		return VB_ERROR_INVALID_CONFIG;
	default:
		return VB_ERROR_IO;
	}
}

static gchar *
vb_http_url_for_address(GInetAddress *address, guint port)
{
	g_autofree gchar *host = g_inet_address_to_string(address);

	if (g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV6)
		return g_strdup_printf("http://[%s]:%u", host, port);
	return g_strdup_printf("http://%s:%u", host, port);
}

/* the listeners accept their connections themselves and hand each to
 * libsoup: libsoup 3.2's own listener keeps a reference to every socket it
 * accepts, so that each connection left a GSocket behind, a few hundred
 * bytes a request, for the daemon's lifetime */
static gboolean
vb_http_endpoint_incoming_cb(GSocketService *service,
			     GSocketConnection *connection,
			     GObject *source_object,
			     gpointer user_data)
{
	VbHttpEndpoint *ep = user_data;
	g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address(connection, NULL);
	g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address(connection, NULL);
	g_autoptr(GError) error = NULL;

	if (!soup_server_accept_iostream(ep->soup, G_IO_STREAM(connection), local, remote, &error))
		g_warning("cannot take a connection on the %s listener: %s", ep->name,
			  error->message);
	return TRUE;
}

static GSocketListener *
vb_http_endpoint_get_listener(VbHttpEndpoint *ep)
{
	if (ep->service == NULL) {
		ep->service = g_socket_service_new();
		g_socket_listener_set_backlog(G_SOCKET_LISTENER(ep->service),
					      VB_HTTP_LISTEN_BACKLOG);
		g_signal_connect(ep->service, "incoming", G_CALLBACK(vb_http_endpoint_incoming_cb),
				 ep);
	}
	return G_SOCKET_LISTENER(ep->service);
}

static void
vb_http_endpoint_stop(VbHttpEndpoint *ep)
{
	if (ep->service == NULL)
		return;
	g_signal_handlers_disconnect_by_data(ep->service, ep);
	g_socket_service_stop(ep->service);
	g_socket_listener_close(G_SOCKET_LISTENER(ep->service));
	g_clear_object(&ep->service);
	ep->port = 0;
}

/**
 * vb_http_server_listen_public:
 * @self: a #VbHttpServer
 * @address: (nullable): a local IP address such as `127.0.0.1`, or %NULL for all
 * @port: the TCP port, or 0 for any free port
 * @error: return location for a #GError
 *
 * Starts the public listener.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
vb_http_server_listen_public(VbHttpServer *self, const gchar *address, guint port, GError **error)
{
	VbHttpEndpoint *ep = &self->endpoints[VB_HTTP_LISTENER_PUBLIC];
	GSocketListener *listener;
	g_autoptr(GInetAddress) inet = NULL;
	g_autoptr(GSocketAddress) sockaddr = NULL;
	g_autoptr(GSocketAddress) effective = NULL;
	g_autoptr(GError) error_local = NULL;
	gboolean ok;

	g_return_val_if_fail(VB_IS_HTTP_SERVER(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (port > G_MAXUINT16) {
		g_set_error(
		    error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
		    _("HTTP port %u is out of range: use 1 to 65535, or 0 for any free port"),
		    port);
		return FALSE;
	}
	listener = vb_http_endpoint_get_listener(ep);
	if ((address == NULL || address[0] == '\0') && port == 0) {
		guint16 any = g_socket_listener_add_any_inet_port(listener, NULL, &error_local);
		ok = any != 0;
		ep->port = any;
	} else if (address == NULL || address[0] == '\0') {
		ok = g_socket_listener_add_inet_port(listener, (guint16)port, NULL, &error_local);
		ep->port = ok ? port : 0;
	} else {
		inet = g_inet_address_new_from_string(address);
		if (inet == NULL) {
			g_set_error(
			    error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("HTTP listen address '%s' is not an IP address: use one such as "
			      "127.0.0.1 or 0.0.0.0"),
			    address);
			return FALSE;
		}
		sockaddr = g_inet_socket_address_new(inet, (guint16)port);
		ok = g_socket_listener_add_address(listener, sockaddr, G_SOCKET_TYPE_STREAM,
						   G_SOCKET_PROTOCOL_TCP, NULL, &effective,
						   &error_local);
		if (ok)
			ep->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective));
	}
	if (!ok && g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE)) {
		g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
			    _("cannot listen for HTTP on %s port %u: it is in use; stop the other "
			      "vestibuled or server, or choose another port"),
			    address != NULL ? address : "*", port);
		return FALSE;
	}
	if (!ok) {
		g_set_error(error, VB_ERROR, vb_http_error_code_from_gio(error_local),
			    _("cannot listen for HTTP on %s port %u: %s"),
			    address != NULL ? address : "*", port, error_local->message);
		return FALSE;
	}

	g_clear_pointer(&self->listen_url, g_free);
	if (inet != NULL && !g_inet_address_get_is_any(inet))
		self->listen_url =
		    vb_http_url_for_address(inet, vb_http_server_get_public_port(self));
	return TRUE;
}

/**
 * vb_http_server_get_public_port:
 * @self: a #VbHttpServer
 *
 * Gets the TCP port of the public listener, which is useful after listening on
 * port 0.
 *
 * Returns: the port, or 0 if the public listener is not listening
 *
 * Since: 0.1
 */
guint
vb_http_server_get_public_port(VbHttpServer *self)
{
	g_return_val_if_fail(VB_IS_HTTP_SERVER(self), 0);

	return self->endpoints[VB_HTTP_LISTENER_PUBLIC].port;
}

static gboolean
vb_http_ensure_socket_dir(const gchar *dir, GError **error)
{
	if (g_file_test(dir, G_FILE_TEST_IS_DIR))
		return TRUE;
	if (g_mkdir_with_parents(dir, 0750) != 0) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
			    _("cannot create the control socket directory %s: %s"), dir,
			    g_strerror(errsv));
		return FALSE;
	}
	/* the umask may have removed bits; the group must be able to enter */
	if (g_chmod(dir, 0750) != 0) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
			    _("cannot set the mode of the control socket directory %s: %s"), dir,
			    g_strerror(errsv));
		return FALSE;
	}
	return TRUE;
}

/* a socket that accepts a connection belongs to a running process */
static gboolean
vb_http_socket_is_live(const gchar *path)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
	g_autoptr(GError) error = NULL;

	socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, NULL);
	if (socket == NULL)
		return FALSE;
	g_socket_set_blocking(socket, FALSE);
	if (g_socket_connect(socket, address, NULL, &error))
		return TRUE;
	return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PENDING) ||
	       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
}

static gboolean
vb_http_remove_stale_socket(const gchar *path, GError **error)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		gint errsv = errno;
		if (errsv == ENOENT)
			return TRUE;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
			    _("cannot check the control socket %s: %s"), path, g_strerror(errsv));
		return FALSE;
	}
	if (!S_ISSOCK(st.st_mode)) {
		g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
			    _("%s exists and is not a socket: move it away or configure another "
			      "control socket path"),
			    path);
		return FALSE;
	}
	if (vb_http_socket_is_live(path)) {
		g_set_error(
		    error, VB_ERROR, VB_ERROR_CONFLICT,
		    _("another process is listening on the control socket %s: stop the other "
		      "vestibuled first"),
		    path);
		return FALSE;
	}
	if (g_unlink(path) != 0 && errno != ENOENT) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
			    _("cannot remove the stale control socket %s: %s"), path,
			    g_strerror(errsv));
		return FALSE;
	}
	return TRUE;
}

/**
 * vb_http_server_listen_control:
 * @self: a #VbHttpServer
 * @path: the path of the Unix socket
 * @mode: the file mode of the socket, normally 0660
 * @error: return location for a #GError
 *
 * Starts the control listener on a Unix socket at @path with exactly @mode,
 * whatever the umask. A missing parent directory is created with mode 0750. A
 * stale socket left by a crash is replaced; a live socket or any other kind of
 * file at @path is an error.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
vb_http_server_listen_control(VbHttpServer *self, const gchar *path, guint mode, GError **error)
{
	VbHttpEndpoint *ep = &self->endpoints[VB_HTTP_LISTENER_CONTROL];
	g_autofree gchar *dir = NULL;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GError) error_local = NULL;
	struct sockaddr_un sun;
	struct stat st;

	g_return_val_if_fail(VB_IS_HTTP_SERVER(self), FALSE);
	g_return_val_if_fail(path != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
		g_set_error(
		    error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
		    _("control socket path '%s' must be 1 to %u bytes long: choose a shorter one"),
		    path, (guint)sizeof(sun.sun_path) - 1);
		return FALSE;
	}
	dir = g_path_get_dirname(path);
	if (!vb_http_ensure_socket_dir(dir, error))
		return FALSE;
	if (!vb_http_remove_stale_socket(path, error))
		return FALSE;

	socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, &error_local);
	if (socket == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_IO, _("cannot create the control socket: %s"),
			    error_local->message);
		return FALSE;
	}
	address = g_unix_socket_address_new(path);
	if (!g_socket_bind(socket, address, FALSE, &error_local)) {
		g_set_error(error, VB_ERROR, vb_http_error_code_from_gio(error_local),
			    _("cannot create the control socket %s: %s"), path,
			    error_local->message);
		return FALSE;
	}
	/* nobody can connect before listen(), so the mode the umask gave the file
	 * between bind() and here was never usable */
	if (g_chmod(path, mode) != 0 || lstat(path, &st) != 0) {
		gint errsv = errno;
		g_set_error(error, VB_ERROR, vb_error_from_errno(errsv),
			    _("cannot set the mode of the control socket %s: %s"), path,
			    g_strerror(errsv));
		g_unlink(path);
		return FALSE;
	}
	g_socket_set_listen_backlog(socket, VB_HTTP_LISTEN_BACKLOG);
	if (!g_socket_listen(socket, &error_local) ||
	    !g_socket_listener_add_socket(vb_http_endpoint_get_listener(ep), socket, NULL,
					  &error_local)) {
		g_set_error(error, VB_ERROR, vb_http_error_code_from_gio(error_local),
			    _("cannot listen on the control socket %s: %s"), path,
			    error_local->message);
		g_unlink(path);
		return FALSE;
	}
	g_free(self->control_path);
	self->control_path = g_strdup(path);
	self->control_dev = st.st_dev;
	self->control_ino = st.st_ino;
	return TRUE;
}

/**
 * vb_http_server_disconnect:
 * @self: a #VbHttpServer
 *
 * Closes both listeners and every open connection, and removes the control
 * socket file if it is still the one this server created.
 *
 * Since: 0.1
 */
void
vb_http_server_disconnect(VbHttpServer *self)
{
	struct stat st;

	g_return_if_fail(VB_IS_HTTP_SERVER(self));

	for (guint i = 0; i < G_N_ELEMENTS(self->endpoints); i++) {
		vb_http_endpoint_stop(&self->endpoints[i]);
		if (self->endpoints[i].soup != NULL)
			soup_server_disconnect(self->endpoints[i].soup);
	}
	if (self->lingers != NULL)
		g_ptr_array_set_size(self->lingers, 0);

	/* a newer daemon may already own the path */
	if (self->control_path != NULL && lstat(self->control_path, &st) == 0 &&
	    st.st_dev == self->control_dev && st.st_ino == self->control_ino)
		g_unlink(self->control_path);
	g_clear_pointer(&self->control_path, g_free);
	g_clear_pointer(&self->listen_url, g_free);
}
