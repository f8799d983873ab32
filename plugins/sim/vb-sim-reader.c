/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-sim-common.h"

/*
 * sim-reader plays a contactless card reader at a door. A control request
 * stands for a tap; the card goes through vb_card_reader_present(), so it is
 * tokenized and wiped exactly as a card read by the NFC plugin is.
 */

#define VB_SIM_READER_HOLD_MS_MAX 600000

#define VB_TYPE_SIM_READER (vb_sim_reader_get_type())
G_DECLARE_FINAL_TYPE(VbSimReader, vb_sim_reader, VB, SIM_READER, VbPlugin)

struct _VbSimReader {
	VbPlugin parent_instance;
	VbSimRoutes *routes;
	VbReaderState state;
	GSource *remove_source; /* the card in the field leaves it */
	GDateTime *last_tap;
	guint64 taps;
	gint64 remove_after_ms;
	gboolean allow_uid;
};

static void
vb_sim_reader_card_reader_iface_init(VbCardReaderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(VbSimReader,
			      vb_sim_reader,
			      VB_TYPE_PLUGIN,
			      G_IMPLEMENT_INTERFACE(VB_TYPE_CARD_READER,
						    vb_sim_reader_card_reader_iface_init))

static const VbSettingSpec vb_sim_reader_settings[] = {
    {
	.key = "remove-after-ms",
	.type = VB_SETTING_INT,
	.default_value = "300",
	.min = 0,
	.max = VB_SIM_READER_HOLD_MS_MAX,
	.blurb = N_("How long a tapped card stays in the field before it is removed, in ms"),
    },
    {
	.key = "allow-uid",
	.type = VB_SETTING_BOOLEAN,
	.default_value = "false",
	.blurb = N_("Whether tags that are not payment cards may be presented by UID"),
    },
};

/* a PAN is 12 to 19 digits and its last digit is the Luhn check digit */
static gboolean
vb_sim_reader_pan_is_valid(const gchar *pan)
{
	gsize len = strlen(pan);
	guint sum = 0;

	if (len < 12 || len > 19)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		guint digit;
		if (!g_ascii_isdigit(pan[len - 1 - i]))
			return FALSE;
		digit = pan[len - 1 - i] - '0';
		if (i % 2 == 1) {
			digit *= 2;
			if (digit > 9)
				digit -= 9;
		}
		sum += digit;
	}
	return sum % 10 == 0;
}

/* the scheme from the BIN, without copying the PAN */
static const gchar *
vb_sim_reader_scheme_from_pan(const gchar *pan)
{
	guint prefix2 = (pan[0] - '0') * 10 + (pan[1] - '0');
	guint prefix4 = prefix2 * 100 + (pan[2] - '0') * 10 + (pan[3] - '0');

	if (pan[0] == '4')
		return "visa";
	if ((prefix2 >= 51 && prefix2 <= 55) || (prefix4 >= 2221 && prefix4 <= 2720))
		return "mastercard";
	if (prefix2 == 34 || prefix2 == 37)
		return "amex";
	return "unknown";
}

static gboolean
vb_sim_reader_expiry_is_valid(const gchar *expiry)
{
	guint month;

	if (strlen(expiry) != 4)
		return FALSE;
	for (guint i = 0; i < 4; i++) {
		if (!g_ascii_isdigit(expiry[i]))
			return FALSE;
	}
	month = (expiry[2] - '0') * 10 + (expiry[3] - '0');
	return month >= 1 && month <= 12;
}

static gboolean
vb_sim_reader_language_is_valid(const gchar *language)
{
	gsize len = strlen(language);

	if (len < 2 || len > 3)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalpha(language[i]))
			return FALSE;
	}
	return TRUE;
}

static void
vb_sim_reader_cancel_removal(VbSimReader *self)
{
	if (self->remove_source == NULL)
		return;
	g_source_destroy(self->remove_source);
	g_clear_pointer(&self->remove_source, g_source_unref);
}

/* the card still in the field leaves before anything else happens */
static void
vb_sim_reader_remove_now(VbSimReader *self)
{
	if (self->remove_source == NULL)
		return;
	vb_sim_reader_cancel_removal(self);
	vb_card_reader_removed(VB_CARD_READER(self));
}

static gboolean
vb_sim_reader_remove_cb(gpointer user_data)
{
	VbSimReader *self = VB_SIM_READER(user_data);

	g_clear_pointer(&self->remove_source, g_source_unref);
	vb_card_reader_removed(VB_CARD_READER(self));
	return G_SOURCE_REMOVE;
}

static void
vb_sim_reader_schedule_removal(VbSimReader *self, gint64 hold_ms)
{
	vb_sim_reader_cancel_removal(self);
	self->remove_source = g_timeout_source_new((guint)hold_ms);
	g_source_set_name(self->remove_source, "[sim-reader] card removal");
	g_source_set_callback(self->remove_source, vb_sim_reader_remove_cb, self, NULL);
	g_source_attach(self->remove_source, g_main_context_get_thread_default());
}

static gboolean
vb_sim_reader_check_ready(VbSimReader *self, GError **error)
{
	if (self->state == VB_READER_STATE_READY)
		return TRUE;
	g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
		    /* TRANSLATORS: %s is a reader state such as "absent" */
		    _("the reader is %s; set it to ready before presenting a card"),
		    vb_reader_state_to_string(self->state));
	return FALSE;
}

/* hands @read to the SDK, which tokenizes and wipes it, and answers the request */
static void
vb_sim_reader_present(VbSimReader *self, SoupServerMessage *msg, VbCardRead *read, gint64 hold_ms)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonBuilder) builder = NULL;
	gboolean ok;

	vb_sim_reader_remove_now(self);
	ok = vb_card_reader_present(VB_CARD_READER(self), read, &error);
	/* the SDK wipes it; this is for the paths where it gave up early */
	explicit_bzero(read, sizeof(*read));
	if (!ok) {
		guint status = SOUP_STATUS_SERVICE_UNAVAILABLE;
		if (g_error_matches(error, VB_ERROR, VB_ERROR_INVALID_DATA))
			status = SOUP_STATUS_BAD_REQUEST;
		g_prefix_error(&error, "%s", _("the card could not be presented: "));
		vb_http_reply_error(
		    msg, status,
		    vb_error_to_code(error->domain == VB_ERROR ? error->code : VB_ERROR_FAILED),
		    "%s", error->message);
		return;
	}
	g_clear_pointer(&self->last_tap, g_date_time_unref);
	self->last_tap = g_date_time_new_now_utc();
	self->taps++;
	vb_sim_reader_schedule_removal(self, hold_ms);

	builder = json_builder_new();
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "status");
	json_builder_add_string_value(builder, "presented");
	json_builder_set_member_name(builder, "hold-ms");
	json_builder_add_int_value(builder, hold_ms);
	json_builder_end_object(builder);
	vb_sim_reply(msg, SOUP_STATUS_ACCEPTED, builder);
}

static void
vb_sim_reader_tap_cb(VbPlugin *plugin, SoupServerMessage *msg, JsonObject *body, GHashTable *query)
{
	VbSimReader *self = VB_SIM_READER(plugin);
	const gchar *allowed[] = {"pan", "expiry", "language", "hold-ms", NULL};
	const gchar *pan = NULL;
	const gchar *expiry = NULL;
	const gchar *language = NULL;
	gint64 hold_ms = self->remove_after_ms;
	VbCardRead read = {0};
	g_autoptr(GError) error = NULL;

	if (!vb_sim_json_check_members(body, allowed, &error) ||
	    !vb_sim_json_get_string(body, "pan", TRUE, &pan, &error) ||
	    !vb_sim_json_get_string(body, "expiry", FALSE, &expiry, &error) ||
	    !vb_sim_json_get_string(body, "language", FALSE, &language, &error) ||
	    !vb_sim_json_get_int(body, "hold-ms", FALSE, 0, VB_SIM_READER_HOLD_MS_MAX, &hold_ms,
				 &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	/* the PAN is never echoed back, not even in an error */
	if (!vb_sim_reader_pan_is_valid(pan)) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA), "%s",
				    _("the PAN is not 12 to 19 digits with a valid check digit"));
		return;
	}
	if (expiry != NULL && !vb_sim_reader_expiry_is_valid(expiry)) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA), "%s",
				    _("the expiry must be YYMM, such as 2812"));
		return;
	}
	if (language != NULL && !vb_sim_reader_language_is_valid(language)) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA), "%s",
				    _("the language must be an ISO 639 code, such as fr"));
		return;
	}
	if (!vb_sim_reader_check_ready(self, &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}

	read.kind = VB_CARD_KIND_PAYMENT;
	read.pan_sequence = -1;
	g_strlcpy(read.pan, pan, sizeof(read.pan));
	g_strlcpy(read.scheme, vb_sim_reader_scheme_from_pan(pan), sizeof(read.scheme));
	if (expiry != NULL)
		g_strlcpy(read.expiry, expiry, sizeof(read.expiry));
	if (language != NULL) {
		for (guint i = 0; language[i] != '\0' && i < sizeof(read.language) - 1; i++)
			read.language[i] = g_ascii_tolower(language[i]);
	}
	vb_sim_reader_present(self, msg, &read, hold_ms);
}

static gboolean
vb_sim_reader_parse_uid(const gchar *hex, VbCardRead *read)
{
	gsize len = strlen(hex);

	if (len % 2 != 0 || len / 2 < 4 || len / 2 > sizeof(read->uid))
		return FALSE;
	for (gsize i = 0; i < len; i += 2) {
		gint hi = g_ascii_xdigit_value(hex[i]);
		gint lo = g_ascii_xdigit_value(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return FALSE;
		read->uid[i / 2] = (guint8)(hi << 4 | lo);
	}
	read->uid_len = len / 2;
	return TRUE;
}

static void
vb_sim_reader_uid_cb(VbPlugin *plugin, SoupServerMessage *msg, JsonObject *body, GHashTable *query)
{
	VbSimReader *self = VB_SIM_READER(plugin);
	const gchar *allowed[] = {"uid", "hold-ms", NULL};
	const gchar *uid = NULL;
	gint64 hold_ms = self->remove_after_ms;
	VbCardRead read = {0};
	g_autoptr(GError) error = NULL;

	if (!vb_sim_json_check_members(body, allowed, &error) ||
	    !vb_sim_json_get_string(body, "uid", TRUE, &uid, &error) ||
	    !vb_sim_json_get_int(body, "hold-ms", FALSE, 0, VB_SIM_READER_HOLD_MS_MAX, &hold_ms,
				 &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	if (!self->allow_uid) {
		vb_http_reply_error(msg, SOUP_STATUS_FORBIDDEN,
				    vb_error_to_code(VB_ERROR_PERMISSION_DENIED),
				    _("this reader only accepts payment cards; set allow-uid=true "
				      "in [instance:%s] to accept other tags"),
				    vb_plugin_get_name(plugin));
		return;
	}
	read.kind = VB_CARD_KIND_UID;
	read.pan_sequence = -1;
	if (!vb_sim_reader_parse_uid(uid, &read)) {
		vb_http_reply_error(msg, SOUP_STATUS_BAD_REQUEST,
				    vb_error_to_code(VB_ERROR_INVALID_DATA), "%s",
				    _("the UID must be 4 to 10 bytes written as hexadecimal, "
				      "such as 04a1b2c3"));
		return;
	}
	if (!vb_sim_reader_check_ready(self, &error)) {
		explicit_bzero(&read, sizeof(read));
		vb_http_reply_gerror(msg, error);
		return;
	}
	vb_sim_reader_present(self, msg, &read, hold_ms);
}

static gboolean
vb_sim_reader_state_from_string(const gchar *str, VbReaderState *state)
{
	if (g_strcmp0(str, "ready") == 0) {
		*state = VB_READER_STATE_READY;
		return TRUE;
	}
	if (g_strcmp0(str, "absent") == 0) {
		*state = VB_READER_STATE_ABSENT;
		return TRUE;
	}
	if (g_strcmp0(str, "error") == 0) {
		*state = VB_READER_STATE_ERROR;
		return TRUE;
	}
	return FALSE;
}

static void
vb_sim_reader_set_state(VbSimReader *self, VbReaderState state)
{
	const gchar *message = NULL;

	if (self->state == state)
		return;
	/* an unplugged or failing reader loses the card in its field */
	if (state != VB_READER_STATE_READY)
		vb_sim_reader_remove_now(self);
	self->state = state;
	if (state == VB_READER_STATE_ERROR)
		message = _("the simulated reader reports a failure");
	vb_card_reader_set_state(VB_CARD_READER(self), state, message);
}

static void
vb_sim_reader_state_cb(VbPlugin *plugin,
		       SoupServerMessage *msg,
		       JsonObject *body,
		       GHashTable *query)
{
	VbSimReader *self = VB_SIM_READER(plugin);
	const gchar *allowed[] = {"state", NULL};
	const gchar *str = NULL;
	VbReaderState state = VB_READER_STATE_UNKNOWN;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonBuilder) builder = json_builder_new();

	if (!vb_sim_json_check_members(body, allowed, &error) ||
	    !vb_sim_json_get_string(body, "state", TRUE, &str, &error)) {
		vb_http_reply_gerror(msg, error);
		return;
	}
	if (!vb_sim_reader_state_from_string(str, &state)) {
		vb_http_reply_error(
		    msg, SOUP_STATUS_BAD_REQUEST, vb_error_to_code(VB_ERROR_INVALID_DATA),
		    _("unknown reader state '%s'; expected ready, absent or error"), str);
		return;
	}
	vb_sim_reader_set_state(self, state);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "state");
	json_builder_add_string_value(builder, vb_reader_state_to_string(self->state));
	json_builder_end_object(builder);
	vb_sim_reply(msg, SOUP_STATUS_OK, builder);
}

static void
vb_sim_reader_load_settings(VbSimReader *self)
{
	VbPlugin *plugin = VB_PLUGIN(self);
	self->remove_after_ms = vb_plugin_get_int(plugin, "remove-after-ms");
	self->allow_uid = vb_plugin_get_boolean(plugin, "allow-uid");
}

static gboolean
vb_sim_reader_startup(VbPlugin *plugin, GError **error)
{
	VbSimReader *self = VB_SIM_READER(plugin);

	vb_sim_reader_load_settings(self);
	self->routes = vb_sim_routes_new(plugin);
	vb_sim_routes_add(self->routes, SOUP_METHOD_POST, "tap", VB_SIM_ROUTE_SECRET,
			  vb_sim_reader_tap_cb);
	vb_sim_routes_add(self->routes, SOUP_METHOD_POST, "uid", VB_SIM_ROUTE_SECRET,
			  vb_sim_reader_uid_cb);
	vb_sim_routes_add(self->routes, SOUP_METHOD_POST, "state", VB_SIM_ROUTE_NONE,
			  vb_sim_reader_state_cb);
	/* a simulated reader is plugged in from the start */
	vb_sim_reader_set_state(self, VB_READER_STATE_READY);
	return TRUE;
}

static void
vb_sim_reader_shutdown(VbPlugin *plugin)
{
	VbSimReader *self = VB_SIM_READER(plugin);

	g_clear_pointer(&self->routes, vb_sim_routes_free);
	vb_sim_reader_remove_now(self);
}

static gboolean
vb_sim_reader_reload(VbPlugin *plugin, GError **error)
{
	/* a card already in the field keeps the hold time it was tapped with */
	vb_sim_reader_load_settings(VB_SIM_READER(plugin));
	return TRUE;
}

static void
vb_sim_reader_get_status(VbPlugin *plugin, GVariantBuilder *builder)
{
	VbSimReader *self = VB_SIM_READER(plugin);

	g_variant_builder_add(builder, "{sv}", "state",
			      g_variant_new_string(vb_reader_state_to_string(self->state)));
	g_variant_builder_add(builder, "{sv}", "taps", g_variant_new_uint64(self->taps));
	g_variant_builder_add(builder, "{sv}", "card-in-field",
			      g_variant_new_boolean(self->remove_source != NULL));
	if (self->last_tap != NULL) {
		g_autofree gchar *iso = g_date_time_format_iso8601(self->last_tap);
		g_variant_builder_add(builder, "{sv}", "last-tap", g_variant_new_string(iso));
	}
}

static VbReaderState
vb_sim_reader_get_state(VbCardReader *reader)
{
	return VB_SIM_READER(reader)->state;
}

static void
vb_sim_reader_card_reader_iface_init(VbCardReaderInterface *iface)
{
	iface->get_state = vb_sim_reader_get_state;
}

static void
vb_sim_reader_dispose(GObject *object)
{
	VbSimReader *self = VB_SIM_READER(object);

	g_clear_pointer(&self->routes, vb_sim_routes_free);
	vb_sim_reader_cancel_removal(self);
	G_OBJECT_CLASS(vb_sim_reader_parent_class)->dispose(object);
}

static void
vb_sim_reader_finalize(GObject *object)
{
	VbSimReader *self = VB_SIM_READER(object);

	g_clear_pointer(&self->last_tap, g_date_time_unref);
	G_OBJECT_CLASS(vb_sim_reader_parent_class)->finalize(object);
}

static void
vb_sim_reader_init(VbSimReader *self)
{
	self->state = VB_READER_STATE_UNKNOWN;
}

static void
vb_sim_reader_class_init(VbSimReaderClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	VbPluginClass *plugin_class = VB_PLUGIN_CLASS(klass);

	object_class->dispose = vb_sim_reader_dispose;
	object_class->finalize = vb_sim_reader_finalize;
	plugin_class->startup = vb_sim_reader_startup;
	plugin_class->shutdown = vb_sim_reader_shutdown;
	plugin_class->reload = vb_sim_reader_reload;
	plugin_class->get_status = vb_sim_reader_get_status;
	vb_plugin_class_add_settings(plugin_class, vb_sim_reader_settings,
				     G_N_ELEMENTS(vb_sim_reader_settings));
}

VB_PLUGIN_DEFINE(vb_sim_reader_get_type)
