/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <nfc/nfc.h>
#include <string.h>

#include "vb-emv.h"
#include "vb-error.h"
#include "vestibule.h"

/*
 * nfc makes a libnfc device (a PN532 on a Pi, an ACR122U on USB) a card
 * reader. Everything libnfc does runs in one worker thread: it opens the
 * device, polls for a card, reads it (EMV, or the UID of a tag when allowed),
 * hands it to vb_card_reader_present() and holds it until it leaves the
 * field. When the device fails it is closed and reopened with backoff. The
 * main loop only reads the status under a lock and never calls libnfc.
 */

#define VB_NFC_TRANSCEIVE_TIMEOUT_MS 500

G_DEFINE_AUTOPTR_CLEANUP_FUNC(nfc_device, nfc_close)

#define VB_TYPE_NFC_PLUGIN (vb_nfc_plugin_get_type())
G_DECLARE_FINAL_TYPE(VbNfcPlugin, vb_nfc_plugin, VB, NFC_PLUGIN, VbPlugin)

/* what the worker reads from the configuration, copied under the lock */
typedef struct {
	gchar *connstring; /* NULL: autodetect */
	gint64 poll_period_ms;
	gint64 field_off_ms;
	gint64 reopen_min_ms;
	gint64 reopen_max_ms;
	gboolean allow_uid;
	gchar **aid_preference;
	guint16 country;
	guint16 currency;
} VbNfcSettings;

struct _VbNfcPlugin {
	VbPlugin parent_instance;
	GThread *thread;
	GMutex lock; /* guards everything below */
	GCond cond;
	gboolean stopping;
	gboolean reopen; /* the connstring changed */
	nfc_device *device;
	VbNfcSettings settings;
	/* the status */
	VbReaderState state;
	gchar *device_connstring;
	gchar *firmware;
	gchar *last_error;
	guint64 reads;
	guint64 failed_reads;
	guint64 ignored_tags;
	guint64 reopens;
	gboolean card_in_field;
	gint64 next_reopen; /* wall clock, µs; 0 when none is planned */
};

static void
vb_nfc_plugin_card_reader_iface_init(VbCardReaderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(VbNfcPlugin,
			      vb_nfc_plugin,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_CARD_READER,
						    vb_nfc_plugin_card_reader_iface_init))

static const VbSettingSpec vb_nfc_plugin_settings[] = {
    {
	.key = "connstring",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("The libnfc device, such as pn532_uart:/dev/ttyAMA0; empty finds the first "
		    "reader"),
    },
    {
	.key = "poll-period-ms",
	.type = VB_SETTING_INT,
	.default_value = "150",
	.min = 20,
	.max = 5000,
	.blurb = N_("How often the field is polled for a card, and a held card checked, in ms"),
    },
    {
	.key = "field-off-ms",
	.type = VB_SETTING_INT,
	.default_value = "50",
	.min = 0,
	.max = 2000,
	.blurb = N_("How long the field is switched off after a card leaves, in ms"),
    },
    {
	.key = "aid-preference",
	.type = VB_SETTING_STRING_LIST,
	.default_value = "",
	.blurb = N_("Payment applications (AIDs or prefixes, in hex) to choose first, best "
		    "first; empty follows the card's priorities"),
    },
    {
	.key = "country",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("The terminal country for the card, ISO 3166 numeric or alpha-2; empty "
		    "takes the store's"),
    },
    {
	.key = "currency",
	.type = VB_SETTING_STRING,
	.default_value = "",
	.blurb = N_("The terminal currency for the card, ISO 4217 numeric or alpha-3; empty "
		    "takes the store's"),
    },
    {
	.key = "allow-uid",
	.type = VB_SETTING_BOOLEAN,
	.default_value = "false",
	.blurb = N_("Whether tags that are not payment cards may be presented by UID"),
    },
    {
	.key = "reopen-min-ms",
	.type = VB_SETTING_INT,
	.default_value = "500",
	.min = 50,
	.max = 60000,
	.blurb = N_("The first wait before a lost reader is reopened, in ms"),
    },
    {
	.key = "reopen-max-ms",
	.type = VB_SETTING_INT,
	.default_value = "30000",
	.min = 100,
	.max = 600000,
	.blurb = N_("The longest wait between two attempts to reopen a lost reader, in ms"),
    },
};

static void
vb_nfc_settings_clear(VbNfcSettings *settings)
{
	g_clear_pointer(&settings->connstring, g_free);
	g_clear_pointer(&settings->aid_preference, g_strfreev);
}

static void
vb_nfc_settings_copy(const VbNfcSettings *src, VbNfcSettings *dst)
{
	*dst = *src;
	dst->connstring = g_strdup(src->connstring);
	dst->aid_preference = g_strdupv(src->aid_preference);
}

/* a numeric code, or an alpha code looked up by @lookup */
static gboolean
vb_nfc_parse_code(const gchar *value,
		  const gchar *fallback,
		  guint16 (*lookup)(const gchar *),
		  const gchar *key,
		  VbPlugin *plugin,
		  guint16 *out,
		  GError **error)
{
	const gchar *text = value != NULL && value[0] != '\0' ? value : fallback;
	guint64 number = 0;

	if (text != NULL && g_ascii_isdigit(text[0])) {
		if (g_ascii_string_to_unsigned(text, 10, 1, 999, &number, NULL)) {
			*out = (guint16)number;
			return TRUE;
		}
	} else if ((*out = lookup(text)) != 0) {
		return TRUE;
	}
	g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
		    /* TRANSLATORS: %s are a key, a value and an instance name */
		    _("%s '%s' is not known; set %s to its numeric code in [instance:%s]"), key,
		    text != NULL ? text : "", key, vb_plugin_get_name(plugin));
	return FALSE;
}

static gboolean
vb_nfc_plugin_load_settings(VbNfcPlugin *self, VbNfcSettings *settings, GError **error)
{
	VbPlugin *plugin = VB_PLUGIN(self);
	VbContext *context = vb_plugin_get_context(plugin);
	const gchar *connstring = vb_plugin_get_string(plugin, "connstring");
	const gchar *const *aids = vb_plugin_get_string_list(plugin, "aid-preference");
	g_autoptr(GPtrArray) list = g_ptr_array_new();

	memset(settings, 0, sizeof(*settings));
	settings->connstring =
	    connstring != NULL && connstring[0] != '\0' ? g_strdup(connstring) : NULL;
	settings->poll_period_ms = vb_plugin_get_int(plugin, "poll-period-ms");
	settings->field_off_ms = vb_plugin_get_int(plugin, "field-off-ms");
	settings->reopen_min_ms = vb_plugin_get_int(plugin, "reopen-min-ms");
	settings->reopen_max_ms = vb_plugin_get_int(plugin, "reopen-max-ms");
	settings->allow_uid = vb_plugin_get_boolean(plugin, "allow-uid");
	if (settings->connstring != NULL &&
	    strlen(settings->connstring) >= NFC_BUFSIZE_CONNSTRING) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("connstring is longer than %d characters in [instance:%s]"),
			    NFC_BUFSIZE_CONNSTRING - 1, vb_plugin_get_name(plugin));
		vb_nfc_settings_clear(settings);
		return FALSE;
	}
	if (settings->reopen_max_ms < settings->reopen_min_ms) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
			    _("reopen-max-ms is below reopen-min-ms in [instance:%s]; raise it"),
			    vb_plugin_get_name(plugin));
		vb_nfc_settings_clear(settings);
		return FALSE;
	}
	for (guint i = 0; aids != NULL && aids[i] != NULL; i++) {
		gsize len = strlen(aids[i]);
		gboolean hex = len >= 10 && len <= 32 && len % 2 == 0;
		for (gsize j = 0; hex && j < len; j++)
			hex = g_ascii_isxdigit(aids[i][j]);
		if (!hex) {
			g_set_error(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
				    /* TRANSLATORS: %s is what was written in aid-preference */
				    _("aid-preference '%s' is not an AID: write 5 to 16 bytes in "
				      "hex, such as A0000000031010, in [instance:%s]"),
				    aids[i], vb_plugin_get_name(plugin));
			vb_nfc_settings_clear(settings);
			return FALSE;
		}
		if (len > 0)
			g_ptr_array_add(list, g_strdup(aids[i]));
	}
	g_ptr_array_add(list, NULL);
	settings->aid_preference = (gchar **)g_ptr_array_free(g_steal_pointer(&list), FALSE);
	if (!vb_nfc_parse_code(vb_plugin_get_string(plugin, "country"),
			       vb_context_get_country(context), vb_emv_country_from_alpha2,
			       "country", plugin, &settings->country, error) ||
	    !vb_nfc_parse_code(vb_plugin_get_string(plugin, "currency"),
			       vb_context_get_currency(context), vb_emv_currency_from_alpha3,
			       "currency", plugin, &settings->currency, error)) {
		vb_nfc_settings_clear(settings);
		return FALSE;
	}
	return TRUE;
}

/* worker side */

/* waits @ms, or less when stopping; called with the lock held */
static void
vb_nfc_plugin_wait_locked(VbNfcPlugin *self, gint64 ms)
{
	gint64 deadline = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;

	while (!self->stopping && !self->reopen) {
		if (!g_cond_wait_until(&self->cond, &self->lock, deadline))
			break;
	}
}

static gboolean
vb_nfc_plugin_wait(VbNfcPlugin *self, gint64 ms)
{
	gboolean go_on;

	g_mutex_lock(&self->lock);
	vb_nfc_plugin_wait_locked(self, ms);
	go_on = !self->stopping && !self->reopen;
	g_mutex_unlock(&self->lock);
	return go_on;
}

static void
vb_nfc_plugin_set_state(VbNfcPlugin *self, VbReaderState state, const gchar *message)
{
	g_mutex_lock(&self->lock);
	self->state = state;
	if (message != NULL) {
		g_free(self->last_error);
		self->last_error = g_strdup(message);
	}
	g_mutex_unlock(&self->lock);
	vb_card_reader_set_state(VB_CARD_READER(self), state, message);
}

/* a device error, as opposed to a card that left or answered badly */
static gboolean
vb_nfc_error_is_device(gint res)
{
	switch (res) {
	case NFC_ERFTRANS:
	case NFC_ETGRELEASED:
	case NFC_EMFCAUTHFAIL:
	case NFC_EOVFLOW:
		return FALSE;
	default:
		return res < 0;
	}
}

/* the device path a connstring names, such as /dev/ttyAMA0, or NULL */
static gchar *
vb_nfc_connstring_path(const gchar *connstring)
{
	const gchar *colon;
	g_autofree gchar *path = NULL;
	gchar *speed;

	if (connstring == NULL || (colon = strchr(connstring, ':')) == NULL)
		return NULL;
	path = g_strdup(colon + 1);
	/* pn532_uart:/dev/ttyS0:115200 */
	if ((speed = strchr(path, ':')) != NULL)
		*speed = '\0';
	if (!g_str_has_prefix(path, "/"))
		return NULL;
	return g_steal_pointer(&path);
}

/* absent when the device node is gone, error when it is there but fails */
static VbReaderState
vb_nfc_plugin_failure_state(const gchar *connstring)
{
	g_autofree gchar *path = vb_nfc_connstring_path(connstring);

	if (path == NULL)
		return connstring == NULL ? VB_READER_STATE_ABSENT : VB_READER_STATE_ERROR;
	return g_file_test(path, G_FILE_TEST_EXISTS) ? VB_READER_STATE_ERROR
						     : VB_READER_STATE_ABSENT;
}

static void
vb_nfc_plugin_close_device(VbNfcPlugin *self, nfc_device **device)
{
	g_mutex_lock(&self->lock);
	self->device = NULL;
	g_mutex_unlock(&self->lock);
	g_clear_pointer(device, nfc_close);
}

static gchar *
vb_nfc_firmware(nfc_device *device)
{
	char *info = NULL;
	gchar *firmware = NULL;

	if (nfc_device_get_information_about(device, &info) >= 0 && info != NULL) {
		/* the first line is "chip: PN532 v1.6" */
		if (g_str_has_prefix(info, "chip: ")) {
			gchar *end = strchr(info, '\n');
			firmware = g_strndup(info + 6, end != NULL ? (gsize)(end - info - 6)
								   : strlen(info + 6));
		}
	}
	nfc_free(info);
	return firmware;
}

static nfc_device *
vb_nfc_plugin_open(VbNfcPlugin *self,
		   nfc_context *context,
		   const VbNfcSettings *settings,
		   GError **error)
{
	g_autoptr(nfc_device) device = NULL;
	gint res;
	const gchar *what = settings->connstring != NULL ? settings->connstring : _("autodetect");

	device = nfc_open(context, settings->connstring);
	if (device == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_UNREACHABLE,
			    /* TRANSLATORS: %s is a libnfc connstring */
			    _("no NFC reader answers at %s; check the wiring, the connstring "
			      "and that the daemon may open the device"),
			    what);
		return NULL;
	}
	if ((res = nfc_initiator_init(device)) < 0 ||
	    /* one pass of InListPassiveTarget per poll: the chip never waits for a card */
	    (res = nfc_device_set_property_bool(device, NP_INFINITE_SELECT, false)) < 0 ||
	    (res = nfc_device_set_property_bool(device, NP_AUTO_ISO14443_4, true)) < 0) {
		g_set_error(
		    error, VB_ERROR, VB_ERROR_IO,
		    /* TRANSLATORS: the first %s is a connstring, the second libnfc's error */
		    _("the NFC reader at %s could not be set up: %s"), what, nfc_strerror(device));
		return NULL;
	}
	g_mutex_lock(&self->lock);
	g_free(self->device_connstring);
	self->device_connstring = g_strdup(nfc_device_get_connstring(device));
	g_free(self->firmware);
	self->firmware = vb_nfc_firmware(device);
	self->device = device;
	self->next_reopen = 0;
	g_mutex_unlock(&self->lock);
	return g_steal_pointer(&device);
}

typedef struct {
	nfc_device *device;
	gint last_res;
} VbNfcTransceive;

static gboolean
vb_nfc_transceive_cb(const guint8 *capdu,
		     gsize capdu_len,
		     guint8 *rapdu,
		     gsize rapdu_size,
		     gsize *rapdu_len,
		     gpointer user_data,
		     GError **error)
{
	VbNfcTransceive *ctx = user_data;
	gint res = nfc_initiator_transceive_bytes(ctx->device, capdu, capdu_len, rapdu, rapdu_size,
						  VB_NFC_TRANSCEIVE_TIMEOUT_MS);

	ctx->last_res = res;
	if (res < 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_IO, "the card did not answer (%s)",
			    nfc_strerror(ctx->device));
		return FALSE;
	}
	*rapdu_len = (gsize)res;
	return TRUE;
}

static void
vb_nfc_plugin_present(VbNfcPlugin *self, VbCardRead *read)
{
	g_autoptr(GError) error = NULL;
	gboolean ok = vb_card_reader_present(VB_CARD_READER(self), read, &error);

	/* the SDK wipes it; this covers its early returns */
	explicit_bzero(read, sizeof(*read));
	g_mutex_lock(&self->lock);
	if (ok) {
		self->reads++;
		self->card_in_field = TRUE;
	} else {
		self->failed_reads++;
		g_free(self->last_error);
		self->last_error = g_strdup(error->message);
	}
	g_mutex_unlock(&self->lock);
	if (!ok)
		g_warning("the card could not be presented: %s", error->message);
}

static void
vb_nfc_plugin_read_failed(VbNfcPlugin *self, const GError *error)
{
	g_mutex_lock(&self->lock);
	self->failed_reads++;
	g_free(self->last_error);
	self->last_error = g_strdup(error->message);
	g_mutex_unlock(&self->lock);
	g_warning("a card could not be read: %s", error->message);
}

/* reads the card just selected; returns a device error code, or 0 */
static gint
vb_nfc_plugin_read_target(VbNfcPlugin *self,
			  nfc_device *device,
			  const nfc_target *target,
			  const VbNfcSettings *settings)
{
	const nfc_iso14443a_info *info = &target->nti.nai;
	VbCardRead read = {0};

	if ((info->btSak & 0x20) != 0) {
		VbEmvTerminal terminal;
		VbEmvStats stats = {0};
		VbNfcTransceive ctx = {.device = device};
		g_autoptr(GError) error = NULL;

		vb_emv_terminal_init(&terminal);
		terminal.country = settings->country;
		terminal.currency = settings->currency;
		terminal.aid_preference = (const gchar *const *)settings->aid_preference;
		if (vb_emv_read_card(vb_nfc_transceive_cb, &ctx, &terminal, &read, &stats,
				     &error)) {
			g_debug("card read: AID %s, %u APDUs, %u records", stats.aid, stats.apdus,
				stats.records);
			vb_nfc_plugin_present(self, &read);
			return 0;
		}
		if (vb_nfc_error_is_device(ctx.last_res))
			return ctx.last_res;
		if (!g_error_matches(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED) ||
		    !settings->allow_uid) {
			vb_nfc_plugin_read_failed(self, error);
			return 0;
		}
		g_debug("no payment application; taking the tag's UID: %s", error->message);
	}
	if (!settings->allow_uid) {
		g_mutex_lock(&self->lock);
		self->ignored_tags++;
		g_mutex_unlock(&self->lock);
		g_message("a tag that is not a payment card was ignored (SAK %02X); set "
			  "allow-uid=true to accept tags by UID",
			  info->btSak);
		return 0;
	}
	read.kind = VB_CARD_KIND_UID;
	read.pan_sequence = -1;
	read.uid_len = MIN(info->szUidLen, sizeof(read.uid));
	memcpy(read.uid, info->abtUid, read.uid_len);
	vb_nfc_plugin_present(self, &read);
	return 0;
}

/* holds the card until it leaves the field; returns a device error code, or 0 */
static gint
vb_nfc_plugin_hold(VbNfcPlugin *self, nfc_device *device, const VbNfcSettings *settings)
{
	for (;;) {
		gint res;
		if (!vb_nfc_plugin_wait(self, settings->poll_period_ms))
			return 0;
		res = nfc_initiator_target_is_present(device, NULL);
		if (res == NFC_SUCCESS)
			continue;
		if (res == NFC_ETGRELEASED || res == NFC_ERFTRANS || res == NFC_EINVARG ||
		    res == NFC_EDEVNOTSUPP)
			return 0;
		return res;
	}
}

/* the card left: say so, then let the field rest so the next card starts afresh */
static gint
vb_nfc_plugin_card_left(VbNfcPlugin *self, nfc_device *device, const VbNfcSettings *settings)
{
	gboolean was_presented;
	gint res;

	g_mutex_lock(&self->lock);
	was_presented = self->card_in_field;
	self->card_in_field = FALSE;
	g_mutex_unlock(&self->lock);
	if (was_presented)
		vb_card_reader_removed(VB_CARD_READER(self));
	if (device == NULL)
		return 0;
	nfc_initiator_deselect_target(device);
	if (settings->field_off_ms == 0)
		return 0;
	if ((res = nfc_device_set_property_bool(device, NP_ACTIVATE_FIELD, false)) < 0)
		return res;
	vb_nfc_plugin_wait(self, settings->field_off_ms);
	return nfc_device_set_property_bool(device, NP_ACTIVATE_FIELD, true);
}

/* one poll; returns a device error code, or 0 */
static gint
vb_nfc_plugin_poll(VbNfcPlugin *self, nfc_device *device, const VbNfcSettings *settings)
{
	const nfc_modulation modulation = {.nmt = NMT_ISO14443A, .nbr = NBR_106};
	nfc_target target;
	gint res;

	memset(&target, 0, sizeof(target));
	res = nfc_initiator_select_passive_target(device, modulation, NULL, 0, &target);
	if (res < 0)
		return vb_nfc_error_is_device(res) ? res : 0;
	if (res == 0) {
		vb_nfc_plugin_wait(self, settings->poll_period_ms);
		return 0;
	}
	res = vb_nfc_plugin_read_target(self, device, &target, settings);
	explicit_bzero(&target, sizeof(target));
	if (res < 0)
		return res;
	if ((res = vb_nfc_plugin_hold(self, device, settings)) < 0)
		return res;
	return vb_nfc_plugin_card_left(self, device, settings);
}

static gpointer
vb_nfc_plugin_thread(gpointer user_data)
{
	VbNfcPlugin *self = VB_NFC_PLUGIN(user_data);
	nfc_context *context = NULL;
	nfc_device *device = NULL;
	gint64 backoff_ms = 0;

	nfc_init(&context);
	if (context == NULL) {
		vb_nfc_plugin_set_state(
		    self, VB_READER_STATE_ERROR,
		    _("libnfc could not be initialised; check its configuration "
		      "in /etc/nfc/libnfc.conf"));
		return NULL;
	}
	for (;;) {
		VbNfcSettings settings;
		gint res;
		gboolean stopping;

		g_mutex_lock(&self->lock);
		stopping = self->stopping;
		if (self->reopen && device != NULL) {
			self->device = NULL;
			g_mutex_unlock(&self->lock);
			g_message("the configuration changed; reopening the reader");
			vb_nfc_plugin_card_left(self, NULL, &self->settings);
			g_clear_pointer(&device, nfc_close);
			g_mutex_lock(&self->lock);
		}
		self->reopen = FALSE;
		vb_nfc_settings_copy(&self->settings, &settings);
		g_mutex_unlock(&self->lock);
		if (stopping) {
			vb_nfc_settings_clear(&settings);
			break;
		}

		if (device == NULL) {
			g_autoptr(GError) error = NULL;
			device = vb_nfc_plugin_open(self, context, &settings, &error);
			if (device == NULL) {
				VbReaderState state =
				    vb_nfc_plugin_failure_state(settings.connstring);
				backoff_ms = backoff_ms == 0
						 ? settings.reopen_min_ms
						 : MIN(backoff_ms * 2, settings.reopen_max_ms);
				g_mutex_lock(&self->lock);
				self->next_reopen =
				    g_get_real_time() + backoff_ms * G_TIME_SPAN_MILLISECOND;
				self->reopens++;
				g_mutex_unlock(&self->lock);
				if (vb_card_reader_get_state(VB_CARD_READER(self)) != state)
					g_warning("%s", error->message);
				vb_nfc_plugin_set_state(self, state, error->message);
				vb_nfc_plugin_wait(self, backoff_ms);
				vb_nfc_settings_clear(&settings);
				continue;
			}
			backoff_ms = 0;
			g_message("NFC reader %s ready", nfc_device_get_connstring(device));
			vb_nfc_plugin_set_state(self, VB_READER_STATE_READY, NULL);
		}

		res = vb_nfc_plugin_poll(self, device, &settings);
		if (res < 0 && res != NFC_EOPABORTED) {
			g_autofree gchar *message = NULL;
			VbReaderState state = vb_nfc_plugin_failure_state(settings.connstring);

			message = g_strdup_printf(
			    /* TRANSLATORS: the first %s is a connstring, the second libnfc's error
			     */
			    _("the NFC reader at %s failed (%s); it is reopened with backoff"),
			    nfc_device_get_connstring(device), nfc_strerror(device));
			g_warning("%s", message);
			vb_nfc_plugin_close_device(self, &device);
			vb_nfc_plugin_card_left(self, NULL, &settings);
			vb_nfc_plugin_set_state(self, state, message);
		}
		vb_nfc_settings_clear(&settings);
	}
	if (device != NULL) {
		vb_nfc_plugin_close_device(self, &device);
		vb_nfc_plugin_card_left(self, NULL, &self->settings);
	}
	nfc_exit(context);
	return NULL;
}

/* main loop side */

static gboolean
vb_nfc_plugin_startup(VbPlugin *plugin, GError **error)
{
	VbNfcPlugin *self = VB_NFC_PLUGIN(plugin);
	VbNfcSettings settings;
	const gchar *log_level = g_getenv("LIBNFC_LOG_LEVEL");

	if (!vb_nfc_plugin_load_settings(self, &settings, error))
		return FALSE;
	/* libnfc's debug log prints every frame, card numbers included */
	if (log_level != NULL && g_ascii_strtoll(log_level, NULL, 10) >= 3) {
		vb_nfc_settings_clear(&settings);
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_CONFIG,
				    _("LIBNFC_LOG_LEVEL is 3 (debug), which logs card numbers; "
				      "unset it or lower it to 2"));
		return FALSE;
	}
	g_mutex_lock(&self->lock);
	vb_nfc_settings_clear(&self->settings);
	self->settings = settings;
	self->stopping = FALSE;
	g_mutex_unlock(&self->lock);
	self->thread = g_thread_new("nfc", vb_nfc_plugin_thread, self);
	return TRUE;
}

static void
vb_nfc_plugin_stop(VbNfcPlugin *self)
{
	if (self->thread == NULL)
		return;
	g_mutex_lock(&self->lock);
	self->stopping = TRUE;
	g_cond_broadcast(&self->cond);
	/* a command in flight returns at once instead of at its time-out */
	if (self->device != NULL)
		nfc_abort_command(self->device);
	g_mutex_unlock(&self->lock);
	g_clear_pointer(&self->thread, g_thread_join);
}

static void
vb_nfc_plugin_shutdown(VbPlugin *plugin)
{
	vb_nfc_plugin_stop(VB_NFC_PLUGIN(plugin));
}

static gboolean
vb_nfc_plugin_reload(VbPlugin *plugin, GError **error)
{
	VbNfcPlugin *self = VB_NFC_PLUGIN(plugin);
	VbNfcSettings settings;

	if (!vb_nfc_plugin_load_settings(self, &settings, error))
		return FALSE;
	g_mutex_lock(&self->lock);
	if (g_strcmp0(settings.connstring, self->settings.connstring) != 0) {
		self->reopen = TRUE;
		g_cond_broadcast(&self->cond);
	}
	vb_nfc_settings_clear(&self->settings);
	self->settings = settings;
	g_mutex_unlock(&self->lock);
	return TRUE;
}

static void
vb_nfc_plugin_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	VbNfcPlugin *self = VB_NFC_PLUGIN(plugin);

	g_mutex_lock(&self->lock);
	g_variant_builder_add(builder, "{sv}", "state",
			      g_variant_new_string(vb_reader_state_to_string(self->state)));
	g_variant_builder_add(
	    builder, "{sv}", "connstring",
	    g_variant_new_string(self->device_connstring != NULL     ? self->device_connstring
				 : self->settings.connstring != NULL ? self->settings.connstring
								     : ""));
	if (self->firmware != NULL)
		g_variant_builder_add(builder, "{sv}", "firmware",
				      g_variant_new_string(self->firmware));
	g_variant_builder_add(builder, "{sv}", "reads", g_variant_new_uint64(self->reads));
	g_variant_builder_add(builder, "{sv}", "failed-reads",
			      g_variant_new_uint64(self->failed_reads));
	g_variant_builder_add(builder, "{sv}", "ignored-tags",
			      g_variant_new_uint64(self->ignored_tags));
	g_variant_builder_add(builder, "{sv}", "reopens", g_variant_new_uint64(self->reopens));
	g_variant_builder_add(builder, "{sv}", "card-in-field",
			      g_variant_new_boolean(self->card_in_field));
	if (self->last_error != NULL)
		g_variant_builder_add(builder, "{sv}", "last-error",
				      g_variant_new_string(self->last_error));
	if (self->next_reopen != 0 && self->state != VB_READER_STATE_READY) {
		g_autoptr(GDateTime) dt =
		    g_date_time_new_from_unix_utc(self->next_reopen / G_TIME_SPAN_SECOND);
		g_autofree gchar *iso = g_date_time_format_iso8601(dt);
		g_variant_builder_add(builder, "{sv}", "next-reopen", g_variant_new_string(iso));
	}
	g_mutex_unlock(&self->lock);
}

static VbReaderState
vb_nfc_plugin_get_state(VbCardReader *reader)
{
	VbNfcPlugin *self = VB_NFC_PLUGIN(reader);
	VbReaderState state;

	g_mutex_lock(&self->lock);
	state = self->state;
	g_mutex_unlock(&self->lock);
	return state;
}

static void
vb_nfc_plugin_card_reader_iface_init(VbCardReaderInterface *iface)
{
	iface->get_state = vb_nfc_plugin_get_state;
}

static void
vb_nfc_plugin_dispose(GObject *object)
{
	vb_nfc_plugin_stop(VB_NFC_PLUGIN(object));
	G_OBJECT_CLASS(vb_nfc_plugin_parent_class)->dispose(object);
}

static void
vb_nfc_plugin_finalize(GObject *object)
{
	VbNfcPlugin *self = VB_NFC_PLUGIN(object);

	vb_nfc_settings_clear(&self->settings);
	g_free(self->device_connstring);
	g_free(self->firmware);
	g_free(self->last_error);
	g_mutex_clear(&self->lock);
	g_cond_clear(&self->cond);
	G_OBJECT_CLASS(vb_nfc_plugin_parent_class)->finalize(object);
}

static void
vb_nfc_plugin_init(VbNfcPlugin *self)
{
	g_mutex_init(&self->lock);
	g_cond_init(&self->cond);
	self->state = VB_READER_STATE_UNKNOWN;
}

static void
vb_nfc_plugin_class_init(VbNfcPluginClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);

	object_class->dispose = vb_nfc_plugin_dispose;
	object_class->finalize = vb_nfc_plugin_finalize;
	plugin_class->startup = vb_nfc_plugin_startup;
	plugin_class->shutdown = vb_nfc_plugin_shutdown;
	plugin_class->reload = vb_nfc_plugin_reload;
	plugin_class->get_status = vb_nfc_plugin_get_status;
	vb_plugin_class_add_settings(plugin_class, vb_nfc_plugin_settings,
				     G_N_ELEMENTS(vb_nfc_plugin_settings));
}

VB_PLUGIN_DEFINE(vb_nfc_plugin_get_type)
