/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-door-test.h"

JsonObject *
door_ctl(VbTestDaemon *d,
	 JsonNode **keep,
	 const gchar *method,
	 const gchar *path,
	 const gchar *body)
{
	g_autoptr(GError) error = NULL;

	g_clear_pointer(keep, json_node_unref);
	*keep = vb_test_daemon_ctl(d, method, path, body, &error);
	if (*keep == NULL)
		g_error("%s %s: %s", method, path, error != NULL ? error->message : "no answer");
	return json_node_get_object(*keep);
}

GPtrArray *
door_events(VbTestDaemon *d, const gchar *name, const gchar *source)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	g_autoptr(JsonNode) node = NULL;
	JsonArray *events;

	events = json_object_get_array_member(
	    door_ctl(d, &node, "GET", "/v1/events?limit=1000", NULL), "events");
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonNode *ev = json_array_get_element(events, i);
		JsonObject *obj = json_node_get_object(ev);
		if (g_strcmp0(json_object_get_string_member(obj, "name"), name) != 0)
			continue;
		if (source != NULL &&
		    g_strcmp0(json_object_get_string_member_with_default(obj, "source", NULL),
			      source) != 0)
			continue;
		g_ptr_array_add(out, json_node_copy(ev));
	}
	return out;
}

GPtrArray *
door_wait_events(VbTestDaemon *d, const gchar *name, const gchar *source, guint n)
{
	gint64 deadline = g_get_monotonic_time() + DOOR_WAIT_MS * G_TIME_SPAN_MILLISECOND;

	for (;;) {
		g_autoptr(GPtrArray) events = door_events(d, name, source);
		if (events->len >= n)
			return g_steal_pointer(&events);
		if (g_get_monotonic_time() > deadline)
			g_error("waited %u ms for %u %s events; saw %u", (guint)DOOR_WAIT_MS, n,
				name, events->len);
		g_usleep(20 * G_TIME_SPAN_MILLISECOND);
	}
}

JsonObject *
door_ev(GPtrArray *events, guint i)
{
	g_assert_cmpuint(i, <, events->len);
	return json_node_get_object(g_ptr_array_index(events, i));
}

const gchar *
door_ev_get(GPtrArray *events, guint i, const gchar *key)
{
	JsonObject *payload = json_object_get_object_member(door_ev(events, i), "payload");
	return payload != NULL ? json_object_get_string_member_with_default(payload, key, NULL)
			       : NULL;
}

JsonObject *
door_instance(VbTestDaemon *d, JsonNode **keep, const gchar *name)
{
	JsonArray *instances = json_object_get_array_member(
	    door_ctl(d, keep, "GET", "/v1/plugins", NULL), "instances");

	for (guint i = 0; i < json_array_get_length(instances); i++) {
		JsonObject *obj = json_array_get_object_element(instances, i);
		if (g_strcmp0(json_object_get_string_member(obj, "name"), name) == 0)
			return obj;
	}
	g_error("no instance %s in /v1/plugins", name);
	return NULL;
}

JsonObject *
door_status(VbTestDaemon *d, JsonNode **keep, const gchar *name)
{
	JsonObject *inst = door_instance(d, keep, name);

	g_assert_cmpstr(json_object_get_string_member(inst, "state"), ==, "running");
	return json_object_get_object_member(inst, "status");
}

void
door_assert_contains(const gchar *haystack, const gchar *needle)
{
	if (haystack == NULL || strstr(haystack, needle) == NULL)
		g_error("expected '%s' in: %s", needle, haystack != NULL ? haystack : "(null)");
}
