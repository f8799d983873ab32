/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-events.h"
#include "vb-redact-private.h"

/* the audit log's view of an event; the masking itself is the SDK's, in
 * core/libvestibule/vb-privacy.c */

static void
vb_json_node_take_string(JsonNode *node, gchar *str)
{
	json_node_set_string(node, str);
	g_free(str);
}

static JsonNode *
vb_redact_variant_to_json(const gchar *key, GVariant *value)
{
	JsonNode *node = json_node_new(JSON_NODE_VALUE);

	if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING)) {
		const gchar *str = g_variant_get_string(value, NULL);
		if (g_strcmp0(key, VB_KEY_KEY) == 0 && g_ascii_isdigit(str[0])) {
			/* digits typed at a keypad spell a phone number or a code:
			 * the record keeps that a digit was pressed, not which */
			json_node_set_string(node, "digit");
		} else if (g_strcmp0(key, VB_KEY_PHONE) == 0) {
			vb_json_node_take_string(node, vb_mask_phone(str));
		} else if (g_strcmp0(key, VB_KEY_BODY) == 0) {
			/* free text written by a shopper may hold anything */
			vb_json_node_take_string(
			    node, g_strdup_printf("[%ld characters]", g_utf8_strlen(str, -1)));
		} else {
			vb_json_node_take_string(node, vb_redact_text(str));
		}
	} else if (g_variant_is_of_type(value, G_VARIANT_TYPE_INT64)) {
		json_node_set_int(node, g_variant_get_int64(value));
	} else if (g_variant_is_of_type(value, G_VARIANT_TYPE_INT32)) {
		json_node_set_int(node, g_variant_get_int32(value));
	} else if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32)) {
		json_node_set_int(node, g_variant_get_uint32(value));
	} else if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT64)) {
		json_node_set_int(node, (gint64)g_variant_get_uint64(value));
	} else if (g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN)) {
		json_node_set_boolean(node, g_variant_get_boolean(value));
	} else if (g_variant_is_of_type(value, G_VARIANT_TYPE_DOUBLE)) {
		json_node_set_double(node, g_variant_get_double(value));
	} else {
		/* structured values are printed, then redacted like any text */
		g_autofree gchar *printed = g_variant_print(value, FALSE);
		vb_json_node_take_string(node, vb_redact_text(printed));
	}
	return node;
}

/* the payload, redacted, as a JSON object */
static JsonNode *
vb_redact_payload_to_json(VbEvent *event)
{
	JsonObject *obj = json_object_new();
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	g_variant_iter_init(&iter, vb_event_get_payload(event));
	while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
		json_object_set_member(obj, key, vb_redact_variant_to_json(key, value));
		g_variant_unref(value);
	}
	json_node_take_object(node, obj);
	return node;
}

static gchar *
vb_redact_time_iso8601(gint64 real_time)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(real_time / G_USEC_PER_SEC);
	return g_date_time_format_iso8601(dt);
}

JsonNode *
vb_redact_event_to_json(VbEvent *event)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autofree gchar *iso = vb_redact_time_iso8601(vb_event_get_real_time(event));

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "seq");
	json_builder_add_int_value(builder, (gint64)vb_event_get_sequence(event));
	json_builder_set_member_name(builder, "name");
	json_builder_add_string_value(builder, vb_event_get_name(event));
	json_builder_set_member_name(builder, "time");
	json_builder_add_string_value(builder, iso);
	json_builder_set_member_name(builder, "real-us");
	json_builder_add_int_value(builder, vb_event_get_real_time(event));
	json_builder_set_member_name(builder, "mono-us");
	json_builder_add_int_value(builder, vb_event_get_monotonic_time(event));
	if (vb_event_get_source(event) != NULL) {
		json_builder_set_member_name(builder, "source");
		json_builder_add_string_value(builder, vb_event_get_source(event));
	}
	if (vb_event_get_door(event) != NULL) {
		json_builder_set_member_name(builder, "door");
		json_builder_add_string_value(builder, vb_event_get_door(event));
	}
	json_builder_set_member_name(builder, "payload");
	json_builder_add_value(builder, vb_redact_payload_to_json(event));
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}

gchar *
vb_redact_event_payload_to_string(VbEvent *event)
{
	g_autoptr(JsonNode) node = vb_redact_payload_to_json(event);
	return json_to_string(node, FALSE);
}

/* a string as JSON writes it, quotes included, escaped as json-glib escapes */
static void
vb_redact_append_json_string(GString *out, const gchar *str)
{
	g_string_append_c(out, '"');
	for (const gchar *p = str; *p != '\0'; p++) {
		guchar c = (guchar)*p;

		switch (c) {
		case '"':
			g_string_append(out, "\\\"");
			break;
		case '\\':
			g_string_append(out, "\\\\");
			break;
		case '\b':
			g_string_append(out, "\\b");
			break;
		case '\f':
			g_string_append(out, "\\f");
			break;
		case '\n':
			g_string_append(out, "\\n");
			break;
		case '\r':
			g_string_append(out, "\\r");
			break;
		case '\t':
			g_string_append(out, "\\t");
			break;
		default:
			if (c < 0x20)
				g_string_append_printf(out, "\\u%04x", c);
			else
				g_string_append_c(out, (gchar)c);
			break;
		}
	}
	g_string_append_c(out, '"');
}

gchar *
vb_redact_event_to_line(VbEvent *event, const gchar *payload_json, gsize *len)
{
	g_autofree gchar *iso = vb_redact_time_iso8601(vb_event_get_real_time(event));
	GString *out = g_string_sized_new(256 + strlen(payload_json));

	g_string_append_printf(
	    out, "{\"seq\":%" G_GUINT64_FORMAT ",\"name\":", vb_event_get_sequence(event));
	vb_redact_append_json_string(out, vb_event_get_name(event));
	g_string_append(out, ",\"time\":");
	vb_redact_append_json_string(out, iso);
	g_string_append_printf(out,
			       ",\"real-us\":%" G_GINT64_FORMAT ",\"mono-us\":%" G_GINT64_FORMAT,
			       vb_event_get_real_time(event), vb_event_get_monotonic_time(event));
	if (vb_event_get_source(event) != NULL) {
		g_string_append(out, ",\"source\":");
		vb_redact_append_json_string(out, vb_event_get_source(event));
	}
	if (vb_event_get_door(event) != NULL) {
		g_string_append(out, ",\"door\":");
		vb_redact_append_json_string(out, vb_event_get_door(event));
	}
	g_string_append(out, ",\"payload\":");
	g_string_append(out, payload_json);
	g_string_append(out, "}\n");
	*len = out->len;
	return g_string_free(out, FALSE);
}
