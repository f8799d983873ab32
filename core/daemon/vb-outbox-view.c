/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the operator's view: the gauges, the list and counts that `vestibulectl
 * outbox` shows, and the retry of a dead letter */

#include "config.h"

#include "vb-error.h"
#include "vb-outbox-internal.h"

static const gchar *vb_outbox_states[] = {"pending", "sending", "done", "dead"};
#define VB_OUTBOX_N_STATES G_N_ELEMENTS(vb_outbox_states)
#define VB_OUTBOX_STATE_DONE 2

static gint
vb_outbox_state_index(const gchar *state)
{
	for (guint i = 0; i < VB_OUTBOX_N_STATES; i++) {
		if (g_strcmp0(state, vb_outbox_states[i]) == 0)
			return (gint)i;
	}
	return -1;
}

/* metrics */

static gint64
vb_outbox_count_state(VbOutbox *self, const gchar *state, GError **error)
{
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(self->store, "SELECT COUNT(*) FROM outbox WHERE state = ?1", error);

	if (stmt == NULL)
		return -1;
	vb_store_stmt_bind_text(stmt, 1, state);
	if (vb_store_stmt_step(stmt, error) != VB_STORE_STEP_ROW)
		return -1;
	return vb_store_stmt_column_int64(stmt, 0);
}

static void
vb_outbox_set_gauge(VbOutbox *self, const gchar *state, gint64 value)
{
	g_autofree gchar *labels = vb_metrics_labels("state", state, NULL);
	vb_metrics_set(self->metrics, VB_OUTBOX_METRIC_ITEMS, labels, (gdouble)value);
}

/* done rows pile up, so they are counted once and then followed in memory; the
 * other states are bounded and read from the index */
static void
vb_outbox_count_gauges(VbOutbox *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	gint64 counts[VB_OUTBOX_N_STATES] = {0};
	VbStoreStep step;

	if (self->n_done < 0 && self->count_done == NULL)
		self->n_done = vb_outbox_count_state(self, "done", &error);
	if (error != NULL) {
		g_warning("cannot count the outbox: %s", error->message);
		return;
	}
	stmt = vb_store_prepare(self->store,
				"SELECT state, COUNT(*) FROM outbox "
				"WHERE state IN ('pending', 'sending', 'dead') GROUP BY state",
				&error);
	if (stmt == NULL) {
		g_warning("cannot count the outbox: %s", error->message);
		return;
	}
	while ((step = vb_store_stmt_step(stmt, &error)) == VB_STORE_STEP_ROW) {
		gint i = vb_outbox_state_index(vb_store_stmt_column_text(stmt, 0));
		if (i >= 0)
			counts[i] = vb_store_stmt_column_int64(stmt, 1);
	}
	if (step == VB_STORE_STEP_ERROR) {
		g_warning("cannot count the outbox: %s", error->message);
		return;
	}
	counts[VB_OUTBOX_STATE_DONE] = MAX(self->n_done, 0);
	for (guint i = 0; i < VB_OUTBOX_N_STATES; i++)
		vb_outbox_set_gauge(self, vb_outbox_states[i], counts[i]);
}

static gboolean
vb_outbox_gauges_cb(gpointer user_data)
{
	VbOutbox *self = VB_OUTBOX(user_data);

	g_clear_pointer(&self->gauges_source, g_source_unref);
	vb_outbox_count_gauges(self);
	return G_SOURCE_REMOVE;
}

/* a count reads every live item: in a burst, once a turn of the main loop
 * rather than once an item, so that draining n items costs n, not n² */
void
vb_outbox_update_gauges(VbOutbox *self)
{
	if (self->gauges_source != NULL)
		return;
	self->gauges_source = g_idle_source_new();
	g_source_set_priority(self->gauges_source, G_PRIORITY_DEFAULT_IDLE);
	g_source_set_callback(self->gauges_source, vb_outbox_gauges_cb, self, NULL);
	g_source_set_static_name(self->gauges_source, "[vestibule] outbox gauges");
	g_source_attach(self->gauges_source, self->context);
}

/* the health of each kind's queue */

typedef struct {
	gint64 queued;
	gint64 unknown;
	gint64 oldest; /* created, µs since the epoch */
} VbOutboxKindHealth;

/* kind -> VbOutboxKindHealth, for every kind with a handler or an item waiting */
static GHashTable *
vb_outbox_read_health(VbOutbox *self, GError **error)
{
	g_autoptr(GHashTable) kinds =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(VbStoreStmt) stmt = NULL;
	GHashTableIter iter;
	gpointer key;
	VbStoreStep step;

	g_hash_table_iter_init(&iter, self->handlers);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_hash_table_insert(kinds, g_strdup(key), g_new0(VbOutboxKindHealth, 1));
	stmt = vb_store_prepare(self->store,
				"SELECT kind, COUNT(*), COUNT(unknown_since), MIN(created) "
				"FROM outbox INDEXED BY outbox_live "
				"WHERE state IN ('pending', 'sending') GROUP BY kind",
				error);
	if (stmt == NULL)
		return NULL;
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW) {
		VbOutboxKindHealth *health = g_new0(VbOutboxKindHealth, 1);
		health->queued = vb_store_stmt_column_int64(stmt, 1);
		health->unknown = vb_store_stmt_column_int64(stmt, 2);
		health->oldest = vb_store_stmt_column_int64(stmt, 3);
		g_hash_table_replace(kinds, g_strdup(vb_store_stmt_column_text(stmt, 0)), health);
	}
	if (step == VB_STORE_STEP_ERROR)
		return NULL;
	return g_steal_pointer(&kinds);
}

static gint64
vb_outbox_health_age_s(const VbOutboxKindHealth *health, gint64 now)
{
	if (health->queued == 0)
		return 0;
	return MAX(now - health->oldest, 0) / G_USEC_PER_SEC;
}

static gchar *
vb_outbox_describe_oldest(VbOutbox *self, const gchar *kind)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt =
	    vb_store_prepare(self->store,
			     "SELECT id, last_error FROM outbox INDEXED BY outbox_live "
			     "WHERE state IN ('pending', 'sending') AND kind = ?1 "
			     "ORDER BY created LIMIT 1",
			     &error);

	if (stmt == NULL)
		return g_strdup(error->message);
	vb_store_stmt_bind_text(stmt, 1, kind);
	if (vb_store_stmt_step(stmt, &error) != VB_STORE_STEP_ROW)
		return g_strdup(error != NULL ? error->message : "gone");
	return g_strdup_printf(
	    "item %" G_GINT64_FORMAT ", last error: %s", vb_store_stmt_column_int64(stmt, 0),
	    vb_store_stmt_column_is_null(stmt, 1) ? "none" : vb_store_stmt_column_text(stmt, 1));
}

/* one alert when a kind's oldest item has waited past stuck-alert-s, and one
 * when none has any more; not one per item or per attempt */
static void
vb_outbox_check_stuck(VbOutbox *self,
		      const gchar *kind,
		      const VbOutboxKindHealth *health,
		      gint64 now)
{
	const VbOutboxUnknownHandling *handling = g_hash_table_lookup(self->unknown, kind);
	gint64 stuck_s = self->stuck_us / G_USEC_PER_SEC;
	gboolean stuck = health->queued > 0 && now - health->oldest >= self->stuck_us;
	g_autofree gchar *oldest = NULL;

	if (stuck == g_hash_table_contains(self->stuck, kind))
		return;
	if (!stuck) {
		g_hash_table_remove(self->stuck, kind);
		vb_outbox_alert(self, VB_ALERT_INFO, VB_ALERT_KIND_OTHER, "outbox",
				"no %s item of the outbox has waited %" G_GINT64_FORMAT
				" s any more",
				kind, stuck_s);
		return;
	}
	g_hash_table_add(self->stuck, g_strdup(kind));
	oldest = vb_outbox_describe_oldest(self, kind);
	/* a kind that keeps its order carries money */
	vb_outbox_alert(
	    self, handling != NULL && handling->keep_order ? VB_ALERT_CRITICAL : VB_ALERT_WARNING,
	    VB_ALERT_KIND_ITEM_STUCK, "outbox",
	    "%" G_GINT64_FORMAT " %s items of the outbox are waiting (%" G_GINT64_FORMAT
	    " with an unknown outcome); the oldest has waited %" G_GINT64_FORMAT
	    " s, past stuck-alert-s (%" G_GINT64_FORMAT " s): %s. `vestibulectl "
	    "outbox` lists them",
	    health->queued, kind, health->unknown, vb_outbox_health_age_s(health, now), stuck_s,
	    oldest);
}

void
vb_outbox_check_health(VbOutbox *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) kinds = vb_outbox_read_health(self, &error);
	gint64 now = vb_outbox_now(self);
	GHashTableIter iter;
	gpointer key, value;

	if (kinds == NULL) {
		g_warning("cannot read the health of the outbox: %s", error->message);
		return;
	}
	g_hash_table_iter_init(&iter, kinds);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		const VbOutboxKindHealth *health = value;
		g_autofree gchar *labels = vb_metrics_labels("kind", (const gchar *)key, NULL);
		vb_metrics_set(self->metrics, VB_OUTBOX_METRIC_QUEUED, labels,
			       (gdouble)health->queued);
		vb_metrics_set(self->metrics, VB_OUTBOX_METRIC_UNKNOWN, labels,
			       (gdouble)health->unknown);
		vb_metrics_set(self->metrics, VB_OUTBOX_METRIC_OLDEST, labels,
			       (gdouble)vb_outbox_health_age_s(health, now));
		vb_outbox_check_stuck(self, key, health, now);
	}
	/* a kind with no handler whose items all went since */
	{
		g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);
		VbOutboxKindHealth none = {0};
		g_hash_table_iter_init(&iter, self->stuck);
		while (g_hash_table_iter_next(&iter, &key, NULL)) {
			if (!g_hash_table_contains(kinds, key))
				g_ptr_array_add(gone, g_strdup(key));
		}
		for (guint i = 0; i < gone->len; i++)
			vb_outbox_check_stuck(self, g_ptr_array_index(gone, i), &none, now);
	}
}

GVariant *
vb_outbox_get_health(VbOutbox *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) kinds = NULL;
	gint64 now;
	GVariantBuilder builder, kinds_builder, faults_builder;
	GHashTableIter iter;
	gpointer key, value;

	g_return_val_if_fail(VB_IS_OUTBOX(self), NULL);

	now = vb_outbox_now(self);
	kinds = vb_outbox_read_health(self, &error);
	if (kinds == NULL)
		g_warning("cannot read the health of the outbox: %s", error->message);
	g_variant_builder_init(&kinds_builder, G_VARIANT_TYPE("a{sa{sv}}"));
	if (kinds != NULL) {
		g_hash_table_iter_init(&iter, kinds);
		while (g_hash_table_iter_next(&iter, &key, &value)) {
			const VbOutboxKindHealth *health = value;
			GVariantDict dict;
			g_variant_dict_init(&dict, NULL);
			g_variant_dict_insert(&dict, "queued", "x", health->queued);
			g_variant_dict_insert(&dict, "unknown", "x", health->unknown);
			g_variant_dict_insert(&dict, "oldest-age-s", "x",
					      vb_outbox_health_age_s(health, now));
			g_variant_dict_insert(&dict, "stuck", "b",
					      g_hash_table_contains(self->stuck, key));
			/* waiting for a rate limit, not stuck */
			if (health->queued > 0 && vb_outbox_kind_is_closed(self, key)) {
				gint64 *until = g_hash_table_lookup(self->closed, key);
				g_variant_dict_insert(&dict, "gate-opens-in-ms", "x",
						      (*until - now + 999) / 1000);
			}
			g_variant_builder_add(&kinds_builder, "{s@a{sv}}", (const gchar *)key,
					      g_variant_dict_end(&dict));
		}
	}
	g_variant_builder_init(&faults_builder, G_VARIANT_TYPE("a{ss}"));
	g_hash_table_iter_init(&iter, self->faults);
	while (g_hash_table_iter_next(&iter, &key, &value))
		g_variant_builder_add(&faults_builder, "{ss}", (const gchar *)key,
				      (const gchar *)value);
	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder, "{sv}", "kinds", g_variant_builder_end(&kinds_builder));
	g_variant_builder_add(&builder, "{sv}", "faults", g_variant_builder_end(&faults_builder));
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

gchar *
vb_outbox_get_state_by_key(VbOutbox *self, const gchar *idempotency_key, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_OUTBOX(self), NULL);
	g_return_val_if_fail(idempotency_key != NULL, NULL);

	stmt = vb_store_prepare(self->store, "SELECT state FROM outbox WHERE idempotency_key = ?1",
				error);
	if (stmt == NULL)
		return NULL;
	vb_store_stmt_bind_text(stmt, 1, idempotency_key);
	step = vb_store_stmt_step(stmt, error);
	if (step != VB_STORE_STEP_ROW)
		return NULL;
	return g_strdup(vb_store_stmt_column_text(stmt, 0));
}

static GVariant *
vb_outbox_row_to_variant(VbStoreStmt *stmt)
{
	GVariantBuilder builder;
	const gchar *texts[] = {"kind", "recipient", "state"};

	/* columns: id, kind, recipient, state, attempts, created, next_attempt,
	 * last_error, visit_id; missing texts are empty strings */
	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder, "{sv}", "id",
			      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 0)));
	for (guint i = 0; i < G_N_ELEMENTS(texts); i++) {
		const gchar *text = vb_store_stmt_column_text(stmt, i + 1);
		g_variant_builder_add(&builder, "{sv}", texts[i],
				      g_variant_new_string(text != NULL ? text : ""));
	}
	g_variant_builder_add(&builder, "{sv}", "attempts",
			      g_variant_new_uint32((guint32)vb_store_stmt_column_int64(stmt, 4)));
	g_variant_builder_add(&builder, "{sv}", "created",
			      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 5)));
	g_variant_builder_add(&builder, "{sv}", "next-attempt",
			      g_variant_new_int64(vb_store_stmt_column_int64(stmt, 6)));
	g_variant_builder_add(&builder, "{sv}", "last-error",
			      g_variant_new_string(vb_store_stmt_column_is_null(stmt, 7)
						       ? ""
						       : vb_store_stmt_column_text(stmt, 7)));
	g_variant_builder_add(&builder, "{sv}", "visit",
			      g_variant_new_string(vb_store_stmt_column_is_null(stmt, 8)
						       ? ""
						       : vb_store_stmt_column_text(stmt, 8)));
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

GPtrArray *
vb_outbox_list(VbOutbox *self, const gchar *state, guint limit, GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_autoptr(VbStoreStmt) stmt = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_OUTBOX(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (state != NULL && vb_outbox_state_index(state) < 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    "unknown outbox state '%s'; use pending, sending, done or dead", state);
		return NULL;
	}
	if (state == NULL)
		stmt = vb_store_prepare(self->store,
					"SELECT id, kind, recipient, state, attempts, created, "
					"next_attempt, last_error, visit_id FROM outbox "
					"ORDER BY id DESC LIMIT ?1",
					error);
	else
		stmt = vb_store_prepare(self->store,
					"SELECT id, kind, recipient, state, attempts, created, "
					"next_attempt, last_error, visit_id FROM outbox "
					"WHERE state = ?2 ORDER BY id DESC LIMIT ?1",
					error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot list the outbox: ");
		return NULL;
	}
	vb_store_stmt_bind_int64(stmt, 1, limit > 0 ? (gint64)limit : -1);
	if (state != NULL)
		vb_store_stmt_bind_text(stmt, 2, state);
	while ((step = vb_store_stmt_step(stmt, error)) == VB_STORE_STEP_ROW)
		g_ptr_array_add(rows, vb_outbox_row_to_variant(stmt));
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, "cannot list the outbox: ");
		return NULL;
	}
	return g_steal_pointer(&rows);
}

gboolean
vb_outbox_retry(VbOutbox *self, gint64 id, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autofree gchar *state = NULL;
	VbStoreStep step;

	g_return_val_if_fail(VB_IS_OUTBOX(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = vb_store_prepare(self->store, "SELECT state FROM outbox WHERE id = ?1", error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot retry outbox item %" G_GINT64_FORMAT ": ", id);
		return FALSE;
	}
	vb_store_stmt_bind_int64(stmt, 1, id);
	step = vb_store_stmt_step(stmt, error);
	if (step == VB_STORE_STEP_ERROR) {
		g_prefix_error(error, "cannot retry outbox item %" G_GINT64_FORMAT ": ", id);
		return FALSE;
	}
	if (step == VB_STORE_STEP_DONE) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_FOUND,
			    "there is no outbox item %" G_GINT64_FORMAT
			    "; `vestibulectl outbox` lists them",
			    id);
		return FALSE;
	}
	state = g_strdup(vb_store_stmt_column_text(stmt, 0));
	g_clear_pointer(&stmt, vb_store_stmt_free);
	if (g_strcmp0(state, "dead") != 0) {
		g_set_error(error, VB_ERROR, VB_ERROR_CONFLICT,
			    "only a dead letter can be retried; item %" G_GINT64_FORMAT " is %s",
			    id, state);
		return FALSE;
	}

	stmt = vb_store_prepare(
	    self->store,
	    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt = ?2, "
	    "updated = ?2, last_error = NULL, unknown_since = NULL, passable_after = NULL "
	    "WHERE id = ?1 AND state = 'dead'",
	    error);
	if (stmt == NULL) {
		g_prefix_error(error, "cannot retry outbox item %" G_GINT64_FORMAT ": ", id);
		return FALSE;
	}
	vb_store_stmt_bind_int64(stmt, 1, id);
	vb_store_stmt_bind_int64(stmt, 2, vb_outbox_now(self));
	if (!vb_store_stmt_exec(stmt, error)) {
		g_prefix_error(error, "cannot retry outbox item %" G_GINT64_FORMAT ": ", id);
		return FALSE;
	}
	g_message("outbox item %" G_GINT64_FORMAT " is back in the queue, as asked", id);
	vb_outbox_update_gauges(self);
	vb_outbox_wake(self);
	return TRUE;
}

GVariant *
vb_outbox_get_counts(VbOutbox *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	gint64 counts[VB_OUTBOX_N_STATES] = {0};
	GVariantBuilder builder;
	VbStoreStep step = VB_STORE_STEP_ERROR;

	g_return_val_if_fail(VB_IS_OUTBOX(self), NULL);

	stmt = vb_store_prepare(self->store, "SELECT state, COUNT(*) FROM outbox GROUP BY state",
				&error);
	while (stmt != NULL && (step = vb_store_stmt_step(stmt, &error)) == VB_STORE_STEP_ROW) {
		gint i = vb_outbox_state_index(vb_store_stmt_column_text(stmt, 0));
		if (i >= 0)
			counts[i] = vb_store_stmt_column_int64(stmt, 1);
	}
	if (step == VB_STORE_STEP_ERROR)
		g_warning("cannot count the outbox: %s", error->message);
	else
		self->n_done = counts[VB_OUTBOX_STATE_DONE];

	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	for (guint i = 0; i < VB_OUTBOX_N_STATES; i++)
		g_variant_builder_add(&builder, "{sv}", vb_outbox_states[i],
				      g_variant_new_int64(counts[i]));
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}
