/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "vb-pn532-emu.h"

/*
 * A PN532 as libnfc's pn532_uart driver sees it, on a pseudo-terminal. The
 * host sends frames `00 00 FF LEN LCS D4 CMD DATA DCS 00` (or the extended
 * form `00 00 FF FF FF LENM LENL LCS ...`), the first one after a wake-up
 * preamble of 0x55 and zeros; the chip answers each with an ACK frame
 * `00 00 FF 00 FF 00`, then `00 00 FF LEN LCS D5 CMD+1 DATA DCS 00`. An ACK
 * from the host aborts. The chip keeps its registers, its RF field, and the
 * card in the field: InListPassiveTarget activates it (the PN532 sends RATS
 * itself), InDataExchange carries APDUs to its applet, InCommunicateThru
 * carries the presence check libnfc sends to an ISO 14443-4 card.
 */

struct _VbPn532Emu {
	GThread *thread;
	GMutex lock;
	GCond cond;
	gint master;
	gint wake[2];
	gchar *link;
	gchar *pts;
	gboolean stopping;
	gboolean want_unplug;
	gboolean want_replug;
	VbPn532Fault fault;
	GByteArray *rx;
	guint8 registers[0x10000];
	gboolean field;
	VbEmuCard *card;
	gboolean active;
	gint64 inserted_at;
	guint counts[256];
	GHashTable *apdu_counts; /* CLA<<8|INS -> count */
};

static void
vb_pn532_emu_open_pty(VbPn532Emu *self)
{
	struct termios tio;
	gint slave;

	self->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	g_assert_cmpint(self->master, >=, 0);
	g_assert_cmpint(grantpt(self->master), ==, 0);
	g_assert_cmpint(unlockpt(self->master), ==, 0);
	g_free(self->pts);
	self->pts = g_strdup(ptsname(self->master));
	/* raw from the start: no echo of what the chip sends back to it */
	slave = open(self->pts, O_RDWR | O_NOCTTY | O_CLOEXEC);
	g_assert_cmpint(slave, >=, 0);
	g_assert_cmpint(tcgetattr(slave, &tio), ==, 0);
	cfmakeraw(&tio);
	g_assert_cmpint(tcsetattr(slave, TCSANOW, &tio), ==, 0);
	close(slave);
	g_byte_array_set_size(self->rx, 0);
	if (self->link != NULL) {
		g_autofree gchar *tmp = g_strconcat(self->link, ".new", NULL);
		g_unlink(tmp);
		g_assert_cmpint(symlink(self->pts, tmp), ==, 0);
		g_assert_cmpint(g_rename(tmp, self->link), ==, 0);
	}
}

static void
vb_pn532_emu_write(VbPn532Emu *self, const guint8 *buf, gsize len)
{
	while (len > 0) {
		gssize n = write(self->master, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (gsize)n;
	}
}

static void
vb_pn532_emu_reply(VbPn532Emu *self, guint8 command, const guint8 *data, gsize len)
{
	static const guint8 ack[] = {0x00, 0x00, 0xff, 0x00, 0xff, 0x00};
	g_autoptr(GByteArray) frame = g_byte_array_new();
	guint8 head[] = {0x00, 0x00, 0xff};
	guint8 tfi[] = {0xd5, (guint8)(command + 1)};
	guint8 dcs = (guint8)(0x100 - 0xd5 - (command + 1));
	gsize frame_len = len + 2;
	guint8 tail[2];

	g_byte_array_append(frame, ack, sizeof(ack));
	g_byte_array_append(frame, head, sizeof(head));
	if (frame_len < 0xff) {
		guint8 l[] = {(guint8)frame_len, (guint8)(0x100 - frame_len)};
		g_byte_array_append(frame, l, sizeof(l));
	} else {
		guint8 l[] = {0xff, 0xff, (guint8)(frame_len >> 8), (guint8)frame_len,
			      (guint8)(0x100 - ((frame_len >> 8) + (frame_len & 0xff)))};
		g_byte_array_append(frame, l, sizeof(l));
	}
	g_byte_array_append(frame, tfi, sizeof(tfi));
	g_byte_array_append(frame, data, (guint)len);
	for (gsize i = 0; i < len; i++)
		dcs = (guint8)(dcs - data[i]);
	/* a frame damaged on the wire, as the host finds it */
	tail[0] = self->fault == VB_PN532_FAULT_CHECKSUM ? (guint8)~dcs : dcs;
	tail[1] = 0x00;
	g_byte_array_append(frame, tail, sizeof(tail));
	vb_pn532_emu_write(self, frame->data, frame->len);
	explicit_bzero(frame->data, frame->len);
}

static void
vb_pn532_emu_in_list(VbPn532Emu *self, const guint8 *p, gsize n, GByteArray *out)
{
	guint8 none = 0x00;
	VbEmuCard *card = self->card;

	/* MaxTg, BrTy 0 (106 kbps type A), then maybe a UID to select */
	if (n < 2 || p[1] != 0x00 || !self->field || card == NULL || card->gone ||
	    (n > 2 && (n - 2 != card->uid_len || memcmp(p + 2, card->uid, card->uid_len) != 0))) {
		g_byte_array_append(out, &none, 1);
		return;
	}
	{
		guint8 head[] = {0x01,		0x01,	   card->atqa[0],
				 card->atqa[1], card->sak, (guint8)card->uid_len};
		g_byte_array_append(out, head, sizeof(head));
		g_byte_array_append(out, card->uid, (guint)card->uid_len);
		g_byte_array_append(out, card->ats, (guint)card->ats_len);
	}
	self->active = TRUE;
}

static void
vb_pn532_emu_data_exchange(VbPn532Emu *self, const guint8 *p, gsize n, GByteArray *out)
{
	guint8 timeout = 0x01;
	guint8 status = 0x00;
	VbEmuCard *card = self->card;
	guint8 rapdu[1024];
	gsize rapdu_len = 0;

	if (n < 1 || !self->active || card == NULL || card->gone) {
		g_byte_array_append(out, &timeout, 1);
		return;
	}
	if (card->sak & 0x20) {
		if (n >= 3) {
			guint key = (guint)(p[1] << 8 | p[2]);
			guint count = GPOINTER_TO_UINT(
			    g_hash_table_lookup(self->apdu_counts, GUINT_TO_POINTER(key)));
			g_hash_table_insert(self->apdu_counts, GUINT_TO_POINTER(key),
					    GUINT_TO_POINTER(count + 1));
		}
		if (!vb_emu_card_transceive(card, p + 1, n - 1, rapdu, sizeof(rapdu), &rapdu_len)) {
			self->active = FALSE;
			g_byte_array_append(out, &timeout, 1);
			return;
		}
	} else if (n >= 2 && p[1] == 0x30) {
		/* MIFARE READ: four blocks of zeros */
		rapdu_len = 16;
		memset(rapdu, 0, rapdu_len);
	} else {
		g_byte_array_append(out, &timeout, 1);
		return;
	}
	g_byte_array_append(out, &status, 1);
	g_byte_array_append(out, rapdu, (guint)rapdu_len);
	explicit_bzero(rapdu, sizeof(rapdu));
}

static void
vb_pn532_emu_command(VbPn532Emu *self, const guint8 *data, gsize len)
{
	static const guint8 syntax_error[] = {0x00, 0x00, 0xff, 0x01, 0xff, 0x7f, 0x81, 0x00};
	static const guint8 ack[] = {0x00, 0x00, 0xff, 0x00, 0xff, 0x00};
	g_autoptr(GByteArray) out = g_byte_array_new();
	guint8 command;
	const guint8 *p;
	gsize n;
	guint8 zero = 0x00;

	if (self->fault == VB_PN532_FAULT_SILENT) {
		/* a hung chip: the command is counted, neither run nor acknowledged */
		if (len >= 2 && data[0] == 0xd4)
			self->counts[data[1]]++;
		return;
	}
	if (len < 2 || data[0] != 0xd4) {
		vb_pn532_emu_write(self, syntax_error, sizeof(syntax_error));
		return;
	}
	command = data[1];
	p = data + 2;
	n = len - 2;
	self->counts[command]++;
	switch (command) {
	case VB_PN532_DIAGNOSE:
		if (n >= 1 && p[0] == 0x00)
			g_byte_array_append(out, p, (guint)n);
		else
			g_byte_array_append(out, &zero, 1);
		break;
	case VB_PN532_GET_FIRMWARE_VERSION: {
		/* PN532, firmware 1.6, ISO 14443 A and B and ISO 18092 */
		static const guint8 version[] = {0x32, 0x01, 0x06, 0x07};
		g_byte_array_append(out, version, sizeof(version));
		break;
	}
	case VB_PN532_READ_REGISTER:
		for (gsize i = 0; i + 1 < n; i += 2)
			g_byte_array_append(out, &self->registers[p[i] << 8 | p[i + 1]], 1);
		break;
	case VB_PN532_WRITE_REGISTER:
		for (gsize i = 0; i + 2 < n; i += 3)
			self->registers[p[i] << 8 | p[i + 1]] = p[i + 2];
		break;
	case VB_PN532_SET_PARAMETERS:
	case VB_PN532_SAM_CONFIGURATION:
		break;
	case VB_PN532_POWER_DOWN:
		g_byte_array_append(out, &zero, 1);
		break;
	case VB_PN532_RF_CONFIGURATION:
		/* item 1 is the field; a card loses its state without it */
		if (n >= 2 && p[0] == 0x01) {
			self->field = (p[1] & 0x01) != 0;
			if (!self->field)
				self->active = FALSE;
		}
		break;
	case VB_PN532_IN_LIST_PASSIVE_TARGET:
		vb_pn532_emu_in_list(self, p, n, out);
		break;
	case VB_PN532_IN_DATA_EXCHANGE:
		vb_pn532_emu_data_exchange(self, p, n, out);
		break;
	case VB_PN532_IN_COMMUNICATE_THRU:
		/* the presence check: an R(NAK) block, answered by an R(ACK) */
		if (self->active && self->card != NULL && !self->card->gone) {
			guint8 r_ack[] = {0x00, 0xa3};
			g_byte_array_append(out, r_ack, sizeof(r_ack));
		} else {
			guint8 timeout = 0x01;
			g_byte_array_append(out, &timeout, 1);
		}
		break;
	case VB_PN532_IN_DESELECT:
	case VB_PN532_IN_RELEASE:
		self->active = FALSE;
		g_byte_array_append(out, &zero, 1);
		break;
	default:
		/* an application error frame, as the chip sends for what it does not know */
		vb_pn532_emu_write(self, ack, sizeof(ack));
		vb_pn532_emu_write(self, syntax_error, sizeof(syntax_error));
		return;
	}
	vb_pn532_emu_reply(self, command, out->data, out->len);
	if (out->len > 0)
		explicit_bzero(out->data, out->len);
}

/* takes every complete frame out of the receive buffer */
static void
vb_pn532_emu_parse(VbPn532Emu *self)
{
	GByteArray *rx = self->rx;

	for (;;) {
		gsize start = 0;
		gsize len, data_at;
		gboolean found = FALSE;

		for (start = 0; start + 1 < rx->len; start++) {
			if (rx->data[start] == 0x00 && rx->data[start + 1] == 0xff) {
				found = TRUE;
				break;
			}
		}
		if (!found) {
			/* keep a trailing 00 that may start the next frame */
			if (rx->len > 0 && rx->data[rx->len - 1] == 0x00)
				g_byte_array_remove_range(rx, 0, rx->len - 1);
			else
				g_byte_array_set_size(rx, 0);
			return;
		}
		g_byte_array_remove_range(rx, 0, (guint)start);
		if (rx->len < 4)
			return;
		if (rx->data[2] == 0x00 && rx->data[3] == 0xff) {
			/* an ACK from the host: it aborts the command in flight */
			g_byte_array_remove_range(rx, 0, 4);
			continue;
		}
		if (rx->data[2] == 0xff && rx->data[3] == 0xff) {
			if (rx->len < 7)
				return;
			len = (gsize)(rx->data[4] << 8 | rx->data[5]);
			data_at = 7;
		} else {
			if (((rx->data[2] + rx->data[3]) & 0xff) != 0) {
				g_byte_array_remove_range(rx, 0, 2);
				continue;
			}
			len = rx->data[2];
			data_at = 4;
		}
		if (rx->len < data_at + len + 2)
			return;
		vb_pn532_emu_command(self, rx->data + data_at, len);
		explicit_bzero(rx->data, (guint)(data_at + len + 2));
		g_byte_array_remove_range(rx, 0, (guint)(data_at + len + 2));
	}
}

static void
vb_pn532_emu_do_unplug(VbPn532Emu *self)
{
	if (self->master >= 0) {
		close(self->master);
		self->master = -1;
	}
	self->active = FALSE;
	self->field = FALSE;
	if (self->link != NULL) {
		/* the device node goes with the reader */
		g_unlink(self->link);
	}
}

static gpointer
vb_pn532_emu_thread(gpointer user_data)
{
	VbPn532Emu *self = user_data;

	g_mutex_lock(&self->lock);
	while (!self->stopping) {
		struct pollfd fds[2] = {{.fd = self->wake[0], .events = POLLIN},
					{.fd = self->master, .events = POLLIN}};
		guint8 buf[512];
		gint res;

		if (self->want_unplug) {
			vb_pn532_emu_do_unplug(self);
			self->want_unplug = FALSE;
			g_cond_broadcast(&self->cond);
		}
		if (self->want_replug) {
			vb_pn532_emu_open_pty(self);
			self->want_replug = FALSE;
			g_cond_broadcast(&self->cond);
		}
		g_mutex_unlock(&self->lock);
		res = poll(fds, self->master >= 0 ? 2 : 1, 1000);
		g_mutex_lock(&self->lock);
		if (res < 0 && errno != EINTR)
			break;
		if (fds[0].revents & POLLIN) {
			while (read(self->wake[0], buf, sizeof(buf)) > 0)
				;
		}
		if (self->master >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
			gssize n = read(self->master, buf, sizeof(buf));
			if (n > 0) {
				g_byte_array_append(self->rx, buf, (guint)n);
				vb_pn532_emu_parse(self);
			} else if (n < 0 && errno == EIO) {
				/* nobody holds the other end: wait for someone to open it */
				g_mutex_unlock(&self->lock);
				g_usleep(5000);
				g_mutex_lock(&self->lock);
			}
			explicit_bzero(buf, sizeof(buf));
		}
	}
	g_mutex_unlock(&self->lock);
	return NULL;
}

static void
vb_pn532_emu_wake(VbPn532Emu *self)
{
	guint8 byte = 1;
	g_assert_cmpint(write(self->wake[1], &byte, 1), ==, 1);
}

VbPn532Emu *
vb_pn532_emu_new(const gchar *link)
{
	VbPn532Emu *self = g_new0(VbPn532Emu, 1);

	g_mutex_init(&self->lock);
	g_cond_init(&self->cond);
	self->link = g_strdup(link);
	self->rx = g_byte_array_new();
	self->apdu_counts = g_hash_table_new(NULL, NULL);
	g_assert_cmpint(pipe2(self->wake, O_CLOEXEC | O_NONBLOCK), ==, 0);
	vb_pn532_emu_open_pty(self);
	self->thread = g_thread_new("pn532-emu", vb_pn532_emu_thread, self);
	return self;
}

void
vb_pn532_emu_free(VbPn532Emu *self)
{
	g_mutex_lock(&self->lock);
	self->stopping = TRUE;
	g_mutex_unlock(&self->lock);
	vb_pn532_emu_wake(self);
	g_thread_join(self->thread);
	vb_pn532_emu_do_unplug(self);
	close(self->wake[0]);
	close(self->wake[1]);
	g_byte_array_unref(self->rx);
	g_hash_table_unref(self->apdu_counts);
	g_free(self->link);
	g_free(self->pts);
	g_mutex_clear(&self->lock);
	g_cond_clear(&self->cond);
	g_free(self);
}

gchar *
vb_pn532_emu_connstring(VbPn532Emu *self)
{
	return g_strconcat("pn532_uart:", self->link != NULL ? self->link : self->pts, NULL);
}

void
vb_pn532_emu_insert(VbPn532Emu *self, VbEmuCard *card)
{
	g_mutex_lock(&self->lock);
	self->card = card;
	self->active = FALSE;
	self->inserted_at = g_get_monotonic_time();
	g_mutex_unlock(&self->lock);
}

void
vb_pn532_emu_remove(VbPn532Emu *self)
{
	g_mutex_lock(&self->lock);
	self->card = NULL;
	self->active = FALSE;
	g_mutex_unlock(&self->lock);
}

gint64
vb_pn532_emu_inserted_at(VbPn532Emu *self)
{
	gint64 at;

	g_mutex_lock(&self->lock);
	at = self->inserted_at;
	g_mutex_unlock(&self->lock);
	return at;
}

void
vb_pn532_emu_unplug(VbPn532Emu *self)
{
	g_mutex_lock(&self->lock);
	self->want_unplug = TRUE;
	vb_pn532_emu_wake(self);
	while (self->want_unplug)
		g_cond_wait(&self->cond, &self->lock);
	g_mutex_unlock(&self->lock);
}

void
vb_pn532_emu_replug(VbPn532Emu *self)
{
	g_mutex_lock(&self->lock);
	self->want_replug = TRUE;
	vb_pn532_emu_wake(self);
	while (self->want_replug)
		g_cond_wait(&self->cond, &self->lock);
	g_mutex_unlock(&self->lock);
}

void
vb_pn532_emu_set_fault(VbPn532Emu *self, VbPn532Fault fault)
{
	g_mutex_lock(&self->lock);
	self->fault = fault;
	g_mutex_unlock(&self->lock);
}

guint
vb_pn532_emu_count(VbPn532Emu *self, guint8 code)
{
	guint count;

	g_mutex_lock(&self->lock);
	count = self->counts[code];
	g_mutex_unlock(&self->lock);
	return count;
}

guint
vb_pn532_emu_count_apdu(VbPn532Emu *self, guint16 cla_ins)
{
	guint count;

	g_mutex_lock(&self->lock);
	count = GPOINTER_TO_UINT(
	    g_hash_table_lookup(self->apdu_counts, GUINT_TO_POINTER((guint)cla_ins)));
	g_mutex_unlock(&self->lock);
	return count;
}
