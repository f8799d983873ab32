/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-card-reader.h"
#include "vb-context-private.h"
#include "vb-events.h"

/**
 * SECTION:vb-card-reader
 * @short_description: the card reader role
 *
 * A reader plugin polls its device, fills a #VbCardRead and hands it to
 * vb_card_reader_present(), which turns the PAN into a token with the store's
 * key, wipes it and emits #VB_EVENT_CARD_PRESENTED. The PAN never leaves the
 * reading thread's stack otherwise.
 */

G_DEFINE_INTERFACE(VbCardReader, vb_card_reader, VB_TYPE_PLUGIN)

static void
vb_card_reader_default_init(VbCardReaderInterface *iface)
{
	/**
	 * VbCardReader:state:
	 *
	 * The reader's #VbReaderState, as kept by vb_card_reader_set_state().
	 *
	 * Since: 0.1
	 */
}

static GQuark
vb_card_reader_last_read_quark(void)
{
	return g_quark_from_static_string("vb-card-reader-last-read");
}

static gpointer
vb_card_reader_variant_dup(gpointer data, gpointer user_data)
{
	return data != NULL ? g_variant_ref(data) : NULL;
}

/* keeps what the status may show of @payload; runs on the reader's thread,
 * and the qdata calls are atomic */
static void
vb_card_reader_remember(VbCardReader *self, GVariant *payload)
{
	static const gchar *const shown[] = {VB_KEY_CARD_KIND, VB_KEY_FIRST6, VB_KEY_LAST4,
					     VB_KEY_SCHEME, VB_KEY_EXPIRY};
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree gchar *iso = g_date_time_format_iso8601(now);
	GVariantDict dict;

	g_variant_dict_init(&dict, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(shown); i++) {
		g_autoptr(GVariant) value = g_variant_lookup_value(payload, shown[i], NULL);
		if (value != NULL)
			g_variant_dict_insert_value(&dict, shown[i], value);
	}
	g_variant_dict_insert(&dict, "time", "s", iso);
	g_object_set_qdata_full(G_OBJECT(self), vb_card_reader_last_read_quark(),
				g_variant_ref_sink(g_variant_dict_end(&dict)),
				(GDestroyNotify)g_variant_unref);
}

static GQuark
vb_card_reader_state_quark(void)
{
	return g_quark_from_static_string("vb-card-reader-state");
}

/**
 * vb_card_reader_get_state:
 * @self: a #VbCardReader
 *
 * Returns: the reader's state
 *
 * Since: 0.1
 */
VbReaderState
vb_card_reader_get_state(VbCardReader *self)
{
	VbCardReaderInterface *iface;

	g_return_val_if_fail(VB_IS_CARD_READER(self), VB_READER_STATE_UNKNOWN);
	iface = VB_CARD_READER_GET_IFACE(self);
	if (iface->get_state != NULL)
		return iface->get_state(self);
	return (VbReaderState)GPOINTER_TO_INT(
	    g_object_get_qdata(G_OBJECT(self), vb_card_reader_state_quark()));
}

/**
 * vb_card_reader_present:
 * @self: a #VbCardReader
 * @read: what was read; wiped before this returns, whatever happens
 * @error: return location for a #GError
 *
 * Tokenizes the card and emits #VB_EVENT_CARD_PRESENTED. Safe to call from
 * the reader's worker thread.
 *
 * Returns: %TRUE if the event was emitted; %FALSE if the read was invalid or
 *   the store has no card-token key
 *
 * Since: 0.1
 */
gboolean
vb_card_reader_present(VbCardReader *self, VbCardRead *read, GError **error)
{
	VbPlugin *plugin;
	GVariant *payload;

	g_return_val_if_fail(VB_IS_CARD_READER(self), FALSE);
	g_return_val_if_fail(read != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	plugin = VB_PLUGIN(self);
	payload = vb_context_tokenize_card(vb_plugin_get_context(plugin), read, error);
	if (payload == NULL)
		return FALSE;
	vb_card_reader_remember(self, payload);
	vb_plugin_emit(plugin, VB_EVENT_CARD_PRESENTED, payload);
	return TRUE;
}

/**
 * vb_card_reader_get_last_read:
 * @self: a #VbCardReader
 *
 * What the operator may see of the last card presented: a dictionary with
 * #VB_KEY_CARD_KIND, `time` (ISO 8601) and, for a payment card, #VB_KEY_FIRST6,
 * #VB_KEY_LAST4, #VB_KEY_SCHEME and #VB_KEY_EXPIRY when the reader gave them.
 * Never the token, the PAN or a UID.
 *
 * Returns: (transfer full) (nullable): an `a{sv}`, or %NULL before the first read
 *
 * Since: 0.2
 */
GVariant *
vb_card_reader_get_last_read(VbCardReader *self)
{
	g_return_val_if_fail(VB_IS_CARD_READER(self), NULL);
	return g_object_dup_qdata(G_OBJECT(self), vb_card_reader_last_read_quark(),
				  (GDuplicateFunc)vb_card_reader_variant_dup, NULL);
}

/**
 * vb_card_reader_removed:
 * @self: a #VbCardReader
 *
 * Emits #VB_EVENT_CARD_REMOVED when the presented card leaves the field.
 *
 * Since: 0.1
 */
void
vb_card_reader_removed(VbCardReader *self)
{
	g_return_if_fail(VB_IS_CARD_READER(self));
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_CARD_REMOVED, NULL);
}

/**
 * vb_reader_state_to_string:
 * @state: a #VbReaderState
 *
 * Returns: the state's name, as carried by #VB_EVENT_READER_STATE
 *
 * Since: 0.1
 */
const gchar *
vb_reader_state_to_string(VbReaderState state)
{
	switch (state) {
	case VB_READER_STATE_READY:
		return "ready";
	case VB_READER_STATE_ABSENT:
		return "absent";
	case VB_READER_STATE_ERROR:
		return "error";
	case VB_READER_STATE_UNKNOWN:
	default:
		return "unknown";
	}
}

/**
 * vb_card_reader_set_state:
 * @self: a #VbCardReader
 * @state: the new state
 * @error_message: (nullable): why, for %VB_READER_STATE_ERROR and
 *   %VB_READER_STATE_ABSENT
 *
 * Records the reader's state and emits #VB_EVENT_READER_STATE when it
 * changes. Safe to call from the reader's worker thread.
 *
 * Since: 0.1
 */
void
vb_card_reader_set_state(VbCardReader *self, VbReaderState state, const gchar *error_message)
{
	GVariantDict dict;
	VbReaderState old;

	g_return_if_fail(VB_IS_CARD_READER(self));

	old = (VbReaderState)GPOINTER_TO_INT(
	    g_object_get_qdata(G_OBJECT(self), vb_card_reader_state_quark()));
	if (old == state)
		return;
	g_object_set_qdata(G_OBJECT(self), vb_card_reader_state_quark(), GINT_TO_POINTER(state));
	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, VB_KEY_STATE, "s", vb_reader_state_to_string(state));
	if (error_message != NULL)
		g_variant_dict_insert(&dict, VB_KEY_ERROR, "s", error_message);
	vb_plugin_emit(VB_PLUGIN(self), VB_EVENT_READER_STATE, g_variant_dict_end(&dict));
}
