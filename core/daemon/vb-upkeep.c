/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * The store's upkeep, so that start-up does not depend on the database's size
 * and the database does not grow without end:
 *
 * - the integrity check. vb_store_open() checks only after an unclean
 *   shutdown; otherwise it runs here every [vestibule] integrity-check-hours,
 *   while no visit is in progress, on a read-only connection in a worker
 *   thread, so that the main loop never waits for it. When it stays busy past
 *   an hour after the check was due, the check runs anyway (it reads a WAL
 *   snapshot, and blocks no writer); a check that cannot run at all for that
 *   long raises an alert. Its last time survives restarts in the upkeep
 *   table. A damaged store refuses writes (see vb-store.c): no tap goes on,
 *   and one alert says what to do.
 * - retention: an hourly pass deletes what is past its retention period, one
 *   table after the other, at most a batch of rows per transaction, and gives
 *   the freed pages back to the file system a few at a time; between two
 *   steps it yields to the main loop, and it pauses while a visit is in
 *   progress. What something still needs is never deleted: a visit not
 *   settled, or still owed a capture, a cancel or an SMS; an outbox item not
 *   delivered; feedback not handled.
 */

#include "config.h"

#include "vb-audit-private.h"
#include "vb-outbox-private.h"
#include "vb-upkeep-private.h"

#define VB_UPKEEP_TICK_S 60
#define VB_UPKEEP_CHECK_GRACE_US (G_GINT64_CONSTANT(3600) * G_USEC_PER_SEC)
#define VB_UPKEEP_RETENTION_EVERY_US (G_GINT64_CONSTANT(3600) * G_USEC_PER_SEC)
/* a batch of rows per transaction, sized to take about VB_UPKEEP_STEP_TARGET_US:
 * a tap that comes during a step waits for it */
#define VB_UPKEEP_BATCH_MIN 10
#define VB_UPKEEP_BATCH_FIRST 100
#define VB_UPKEEP_BATCH_MAX 500
#define VB_UPKEEP_STEP_TARGET_US 5000
#define VB_UPKEEP_VACUUM_PAGES 256
#define VB_UPKEEP_STEP_MS 10
#define VB_UPKEEP_BUSY_RETRY_MS 1000
#define VB_UPKEEP_OUTBOX_KEEP_DAYS 30
#define VB_DAY_US (G_GINT64_CONSTANT(86400) * G_USEC_PER_SEC)

struct _VbUpkeep {
	GObject parent_instance;
	VbContext *context;
	VbStore *store;
	VbMetrics *metrics;
	VbConfig *config;
	VbOutbox *outbox;
	VbUpkeepIdleFunc is_idle;
	gpointer idle_data;
	GSource *tick;
	GSource *first;
	GSource *step;
	GCancellable *cancellable;
	gboolean checking;
	gint64 check_due;      /* real time */
	gint64 last_check;     /* real time a check last ended, 0 for never */
	gint64 last_check_us;  /* how long it took */
	gint64 last_attempt;   /* real time a check was last started */
	gchar *check_error;    /* why the last check could not run */
	gboolean damaged;      /* the check found damage */
	gboolean overdue_told; /* the alert for an overdue check was raised */
	guint pass_table;      /* the table the running pass is at; 0 when none */
	gint64 pass_started;   /* monotonic */
	gint64 retention_due;  /* real time */
	gint64 last_pass;      /* real time a pass last ended */
	gint64 last_pass_us;
	gint64 last_pass_removed;
	gint64 pass_removed;
	gint64 pages_released; /* since the upkeep was made */
	GHashTable *removed;   /* table -> gint64 *, since the upkeep was made */
	guint batch;	       /* rows per transaction, adapted to VB_UPKEEP_STEP_TARGET_US */
};

G_DEFINE_FINAL_TYPE(VbUpkeep, vb_upkeep, G_TYPE_OBJECT)

static gint64
vb_upkeep_days(VbUpkeep *self, const gchar *key)
{
	return self->config != NULL ? vb_config_get_int(self->config, "vestibule", key) : 3650;
}

/* retention, one table at a time */

typedef gint64 (*VbUpkeepPruneFunc)(VbUpkeep *self, gint64 now, guint limit, GError **error);

static gint64
vb_upkeep_exec(VbUpkeep *self, const gchar *sql, gint64 before, guint limit, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = vb_store_prepare(self->store, sql, error);

	if (stmt == NULL)
		return -1;
	vb_store_stmt_bind_int64(stmt, 1, before);
	vb_store_stmt_bind_int64(stmt, 2, limit);
	if (!vb_store_stmt_exec(stmt, error))
		return -1;
	return vb_store_changes(self->store);
}

/* every query here names the index it walks: without statistics SQLite may
 * pick another one (visits_state, cards_customer) and read the whole table at
 * each batch.
 *
 * a finished visit goes with its timeline (ON DELETE CASCADE), and its
 * feedback forgets it (ON DELETE SET NULL). A visit in progress, awaiting its
 * order or settling, one whose capture or cancel was declined (settled by hand
 * with the processor), one that still owes its shopper the notice, or one
 * with an outbox item not delivered stays, whatever its age */
static gint64
vb_upkeep_prune_visits(VbUpkeep *self, gint64 now, guint limit, GError **error)
{
	return vb_upkeep_exec(
	    self,
	    "DELETE FROM visits WHERE id IN (SELECT v.id FROM visits AS v "
	    "INDEXED BY visits_created WHERE v.created < ?1 AND v.state IN ('settled', "
	    "'abandoned', 'cancelled', "
	    "'code-failed', 'code-throttled', 'declined', 'failed', 'invalid-phone', "
	    "'processor-unavailable', 'timed-out') AND v.notice_owed = 0 "
	    "AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.visit_id = v.id "
	    "AND o.state != 'done') ORDER BY v.created LIMIT ?2)",
	    now - vb_upkeep_days(self, "visit-retention-days") * VB_DAY_US, limit, error);
}

/* rows are in time order by outbox_id: the old ones are found walking from
 * the oldest, never by reading the whole table */
static gint64
vb_upkeep_prune_sms(VbUpkeep *self, gint64 now, guint limit, GError **error)
{
	return vb_upkeep_exec(
	    self,
	    "DELETE FROM sms_messages WHERE outbox_id IN (SELECT s.outbox_id "
	    "FROM sms_messages AS s WHERE s.outbox_id < coalesce((SELECT outbox_id "
	    "FROM sms_messages WHERE created >= ?1 ORDER BY outbox_id LIMIT 1), "
	    "(SELECT max(outbox_id) + 1 FROM sms_messages)) AND s.created < ?1 "
	    "AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.id = s.outbox_id "
	    "AND o.state != 'done') ORDER BY s.outbox_id LIMIT ?2)",
	    now - vb_upkeep_days(self, "sms-retention-days") * VB_DAY_US, limit, error);
}

/* unhandled feedback stays until an operator has read it. Ids grow with
 * time: the old rows are found walking from the oldest to the first recent one */
static gint64
vb_upkeep_prune_feedback(VbUpkeep *self, gint64 now, guint limit, GError **error)
{
	return vb_upkeep_exec(self,
			      "DELETE FROM feedback WHERE id IN (SELECT f.id FROM feedback AS f "
			      "WHERE f.id < coalesce((SELECT id FROM feedback WHERE received >= ?1 "
			      "ORDER BY id LIMIT 1), (SELECT max(id) + 1 FROM feedback)) "
			      "AND f.handled = 1 AND f.received < ?1 ORDER BY f.id LIMIT ?2)",
			      now - vb_upkeep_days(self, "feedback-retention-days") * VB_DAY_US,
			      limit, error);
}

/* a card nobody linked to a phone, not seen for as long as visits are kept:
 * its first 6 and last 4 digits and its expiry have no more use */
static gint64
vb_upkeep_prune_cards(VbUpkeep *self, gint64 now, guint limit, GError **error)
{
	return vb_upkeep_exec(
	    self,
	    "DELETE FROM cards WHERE token IN (SELECT token FROM cards "
	    "INDEXED BY cards_last_seen WHERE last_seen < ?1 AND customer_id IS NULL "
	    "ORDER BY last_seen LIMIT ?2)",
	    now - vb_upkeep_days(self, "visit-retention-days") * VB_DAY_US, limit, error);
}

/* delivered items dedupe a key only as long as a provider retries */
static gint64
vb_upkeep_prune_outbox(VbUpkeep *self, gint64 now, guint limit, GError **error)
{
	if (self->outbox == NULL)
		return 0;
	return vb_outbox_prune(self->outbox, now - (gint64)VB_UPKEEP_OUTBOX_KEEP_DAYS * VB_DAY_US,
			       limit, error);
}

static gint64
vb_upkeep_prune_audit(VbUpkeep *self, gint64 now, guint limit, GError **error)
{
	return vb_audit_prune(self->store,
			      now - vb_upkeep_days(self, "audit-retention-days") * VB_DAY_US, limit,
			      error);
}

static const struct {
	const gchar *table;
	VbUpkeepPruneFunc func;
} vb_upkeep_tables[] = {
    /* visits before the outbox: a visit's items are kept as long as it is */
    {"visits", vb_upkeep_prune_visits},	    {"sms_messages", vb_upkeep_prune_sms},
    {"feedback", vb_upkeep_prune_feedback}, {"outbox", vb_upkeep_prune_outbox},
    {"audit", vb_upkeep_prune_audit},	    {"cards", vb_upkeep_prune_cards},
};

static void
vb_upkeep_count_removed(VbUpkeep *self, const gchar *table, gint64 n)
{
	gint64 *total = g_hash_table_lookup(self->removed, table);
	g_autofree gchar *labels = NULL;

	if (total == NULL) {
		total = g_new0(gint64, 1);
		g_hash_table_insert(self->removed, (gpointer)table, total);
	}
	*total += n;
	self->pass_removed += n;
	if (self->metrics != NULL && n > 0) {
		labels = vb_metrics_labels("table", table, NULL);
		vb_metrics_add(self->metrics, "vestibule_store_retention_removed_total", labels,
			       (gdouble)n);
	}
}

static void
vb_upkeep_update_size(VbUpkeep *self)
{
	VbStorePages pages;

	if (self->metrics == NULL || !vb_store_get_pages(self->store, &pages, NULL))
		return;
	vb_metrics_set(self->metrics, "vestibule_store_size_bytes", NULL,
		       (gdouble)(pages.page_count * pages.page_size));
	vb_metrics_set(self->metrics, "vestibule_store_free_bytes", NULL,
		       (gdouble)(pages.freelist_count * pages.page_size));
}

gboolean
vb_upkeep_retention_step(VbUpkeep *self, gint64 now, guint limit, GError **error)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	gint64 n;

	g_return_val_if_fail(VB_IS_UPKEEP(self), FALSE);
	g_return_val_if_fail(limit > 0, FALSE);

	if (self->pass_table == 0) {
		self->pass_table = 1;
		self->pass_removed = 0;
		self->pass_started = g_get_monotonic_time();
	}
	if (self->pass_table <= G_N_ELEMENTS(vb_upkeep_tables)) {
		guint i = self->pass_table - 1;
		/* a deletion lost to a power cut is done again at the next pass:
		 * no sync for it */
		tx = vb_store_transaction_begin_full(self->store, VB_STORE_TRANSACTION_FLAG_NO_SYNC,
						     error);
		n = tx != NULL ? vb_upkeep_tables[i].func(self, now, limit, error) : -1;
		if (n < 0 || !vb_store_transaction_commit(tx, error)) {
			g_prefix_error(
			    error, "cannot apply the retention of %s: ", vb_upkeep_tables[i].table);
			self->pass_table = 0;
			return FALSE;
		}
		vb_upkeep_count_removed(self, vb_upkeep_tables[i].table, n);
		if (n < limit)
			self->pass_table++;
		return TRUE;
	}
	/* then the pages freed go back to the file system, a few at a time */
	n = vb_store_incremental_vacuum(self->store, VB_UPKEEP_VACUUM_PAGES, error);
	if (n < 0) {
		self->pass_table = 0;
		return FALSE;
	}
	self->pages_released += n;
	if (n > 0)
		return TRUE;
	self->pass_table = 0;
	self->last_pass = now;
	self->last_pass_us = g_get_monotonic_time() - self->pass_started;
	self->last_pass_removed = self->pass_removed;
	vb_upkeep_update_size(self);
	if (self->pass_removed > 0)
		g_message("retention removed %" G_GINT64_FORMAT " old rows in %.1f ms",
			  self->pass_removed, self->last_pass_us / 1000.0);
	return FALSE;
}

gint64
vb_upkeep_get_removed(VbUpkeep *self, const gchar *table)
{
	gint64 *total;

	g_return_val_if_fail(VB_IS_UPKEEP(self), 0);
	total = g_hash_table_lookup(self->removed, table);
	return total != NULL ? *total : 0;
}

static gboolean
vb_upkeep_idle(VbUpkeep *self)
{
	return self->is_idle == NULL || self->is_idle(self->idle_data);
}

static void
vb_upkeep_schedule_step(VbUpkeep *self, guint ms);

static gboolean
vb_upkeep_step_cb(gpointer user_data)
{
	VbUpkeep *self = VB_UPKEEP(user_data);
	g_autoptr(GError) error = NULL;
	gint64 step_started;
	gint64 step_us;
	gboolean more;

	g_clear_pointer(&self->step, g_source_unref);
	/* a tap waits for nothing of this: the pass pauses during a visit */
	if (!vb_upkeep_idle(self)) {
		vb_upkeep_schedule_step(self, VB_UPKEEP_BUSY_RETRY_MS);
		return G_SOURCE_REMOVE;
	}
	step_started = g_get_monotonic_time();
	more = vb_upkeep_retention_step(self, g_get_real_time(), self->batch, &error);
	step_us = g_get_monotonic_time() - step_started;
	if (step_us > 2 * VB_UPKEEP_STEP_TARGET_US)
		self->batch = MAX(self->batch / 2, VB_UPKEEP_BATCH_MIN);
	else if (step_us < VB_UPKEEP_STEP_TARGET_US / 2)
		self->batch = MIN(self->batch * 2, VB_UPKEEP_BATCH_MAX);
	if (more) {
		vb_upkeep_schedule_step(self, VB_UPKEEP_STEP_MS);
		return G_SOURCE_REMOVE;
	}
	if (error != NULL)
		g_warning("%s", error->message);
	self->retention_due = g_get_real_time() + VB_UPKEEP_RETENTION_EVERY_US;
	return G_SOURCE_REMOVE;
}

static void
vb_upkeep_schedule_step(VbUpkeep *self, guint ms)
{
	if (self->step != NULL)
		return;
	self->step = g_timeout_source_new(ms);
	g_source_set_priority(self->step, G_PRIORITY_LOW);
	g_source_set_callback(self->step, vb_upkeep_step_cb, self, NULL);
	g_source_set_static_name(self->step, "[vestibule] store retention");
	g_source_attach(self->step, NULL);
}

/* the integrity check */

static void
vb_upkeep_record_check(VbUpkeep *self)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autoptr(GError) error = NULL;

	/* lost to a power cut, it costs one more check: no sync for it */
	tx =
	    vb_store_transaction_begin_full(self->store, VB_STORE_TRANSACTION_FLAG_NO_SYNC, &error);
	if (tx != NULL)
		stmt =
		    vb_store_prepare(self->store,
				     "INSERT INTO upkeep (name, value) VALUES ('last-check', ?1) "
				     "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
				     &error);
	if (stmt != NULL)
		vb_store_stmt_bind_int64(stmt, 1, self->last_check);
	if (stmt == NULL || !vb_store_stmt_exec(stmt, &error) ||
	    !vb_store_transaction_commit(tx, &error))
		g_warning("cannot record the integrity check's time: %s", error->message);
}

static gint64
vb_upkeep_read_last_check(VbUpkeep *self)
{
	g_autoptr(VbStoreStmt) stmt = NULL;
	g_autoptr(GError) error = NULL;

	stmt = vb_store_prepare(self->store, "SELECT value FROM upkeep WHERE name = 'last-check'",
				&error);
	if (stmt != NULL && vb_store_stmt_step(stmt, &error) == VB_STORE_STEP_ROW)
		return vb_store_stmt_column_int64(stmt, 0);
	if (error != NULL)
		g_warning("cannot read when the store was last checked: %s", error->message);
	return 0;
}

static gint64
vb_upkeep_check_interval(VbUpkeep *self)
{
	gint64 hours = self->config != NULL
			   ? vb_config_get_int(self->config, "vestibule", "integrity-check-hours")
			   : 24;
	return hours * 3600 * G_USEC_PER_SEC;
}

static gboolean
vb_upkeep_overdue(VbUpkeep *self, gint64 now)
{
	return !self->damaged && now > self->check_due + VB_UPKEEP_CHECK_GRACE_US;
}

static void
vb_upkeep_update_check_metrics(VbUpkeep *self)
{
	if (self->metrics == NULL)
		return;
	vb_metrics_set(self->metrics, "vestibule_store_integrity_ok", NULL, self->damaged ? 0 : 1);
	vb_metrics_set(self->metrics, "vestibule_store_integrity_check_overdue", NULL,
		       vb_upkeep_overdue(self, g_get_real_time()) ? 1 : 0);
	if (self->last_check > 0) {
		vb_metrics_set(self->metrics, "vestibule_store_integrity_check_seconds", NULL,
			       self->last_check_us / 1e6);
		vb_metrics_set(self->metrics, "vestibule_store_integrity_check_timestamp_seconds",
			       NULL, self->last_check / 1e6);
	}
}

/* one alert, whether the check or a query found the damage */
static void
vb_upkeep_set_damaged(VbUpkeep *self, const gchar *problem)
{
	self->damaged = TRUE;
	vb_context_alert_full(self->context, VB_ALERT_CRITICAL, VB_ALERT_KIND_STORE_DAMAGED, NULL,
			      NULL, NULL,
			      "the store %s is damaged (%s): no door opens until vestibuled is "
			      "restarted, which moves it aside and starts a new one; keep the "
			      "moved file, it may hold unsettled payments",
			      vb_store_get_path(self->store), problem);
	vb_upkeep_update_check_metrics(self);
}

static void
vb_upkeep_check_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(VbUpkeep) self = VB_UPKEEP(user_data);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *problem = NULL;
	gint64 duration_us = 0;

	self->checking = FALSE;
	if (!vb_store_check_integrity_finish(self->store, result, &problem, &duration_us, &error)) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			return;
		/* it runs again at the next tick; overdue, it alerts */
		g_warning("%s", error->message);
		g_free(self->check_error);
		self->check_error = g_strdup(error->message);
		vb_upkeep_update_check_metrics(self);
		return;
	}
	g_clear_pointer(&self->check_error, g_free);
	self->last_check = g_get_real_time();
	self->last_check_us = duration_us;
	self->check_due = self->last_check + vb_upkeep_check_interval(self);
	if (problem != NULL) {
		vb_upkeep_set_damaged(self, problem);
	} else {
		g_message("the store passed its integrity check in %.1f ms", duration_us / 1000.0);
		self->overdue_told = FALSE;
		vb_upkeep_record_check(self);
	}
	vb_upkeep_update_check_metrics(self);
}

static void
vb_upkeep_start_check(VbUpkeep *self)
{
	self->checking = TRUE;
	self->last_attempt = g_get_real_time();
	vb_store_check_integrity_async(self->store, self->cancellable, vb_upkeep_check_cb,
				       g_object_ref(self));
}

gboolean
vb_upkeep_is_checking(VbUpkeep *self)
{
	g_return_val_if_fail(VB_IS_UPKEEP(self), FALSE);
	return self->checking;
}

void
vb_upkeep_tick(VbUpkeep *self)
{
	gint64 now = g_get_real_time();
	gboolean idle;

	g_return_if_fail(VB_IS_UPKEEP(self));

	if (vb_store_get_path(self->store) == NULL || self->damaged)
		return;
	/* damage SQLite met in a query since the last tick */
	if (vb_store_get_damage(self->store) != NULL) {
		vb_upkeep_set_damaged(self, vb_store_get_damage(self->store));
		return;
	}
	idle = vb_upkeep_idle(self);
	if (vb_upkeep_overdue(self, now) && !self->overdue_told) {
		self->overdue_told = TRUE;
		vb_context_alert_full(
		    self->context, VB_ALERT_WARNING, VB_ALERT_KIND_STORE_DAMAGED, NULL, NULL, NULL,
		    "the store's integrity check is overdue%s%s: see vestibulectl status",
		    self->check_error != NULL ? ": " : ", the store was never idle",
		    self->check_error != NULL ? self->check_error : "");
	}
	vb_upkeep_update_check_metrics(self);
	/* past the grace, the check runs even while visits go on: it only reads */
	if (!self->checking && now >= self->check_due && (idle || vb_upkeep_overdue(self, now))) {
		if (!idle)
			g_message("checking the store's integrity while visits go on: it was due "
				  "over an hour ago");
		vb_upkeep_start_check(self);
	}
	if (idle && self->pass_table == 0 && self->step == NULL && now >= self->retention_due)
		vb_upkeep_schedule_step(self, 0);
}

static gboolean
vb_upkeep_tick_cb(gpointer user_data)
{
	vb_upkeep_tick(VB_UPKEEP(user_data));
	return G_SOURCE_CONTINUE;
}

static gboolean
vb_upkeep_first_cb(gpointer user_data)
{
	VbUpkeep *self = VB_UPKEEP(user_data);
	g_clear_pointer(&self->first, g_source_unref);
	vb_upkeep_tick(self);
	return G_SOURCE_REMOVE;
}

void
vb_upkeep_start(VbUpkeep *self)
{
	gint64 check_us = 0;

	g_return_if_fail(VB_IS_UPKEEP(self));

	self->last_check = vb_upkeep_read_last_check(self);
	/* a check at open, after an unclean shutdown, counts */
	if (vb_store_get_unclean(self->store, &check_us)) {
		self->last_check = g_get_real_time();
		self->last_check_us = check_us;
		vb_upkeep_record_check(self);
	}
	/* never checked (a new store, or one from before 0.3): due at once */
	self->check_due = self->last_check > 0 ? self->last_check + vb_upkeep_check_interval(self)
					       : g_get_real_time();
	self->retention_due = 0;
	vb_upkeep_update_check_metrics(self);
	vb_upkeep_update_size(self);

	self->tick = g_timeout_source_new_seconds(VB_UPKEEP_TICK_S);
	g_source_set_callback(self->tick, vb_upkeep_tick_cb, self, NULL);
	g_source_set_static_name(self->tick, "[vestibule] store upkeep");
	g_source_attach(self->tick, NULL);
	/* the first pass once the daemon is ready, off the start-up path */
	self->first = g_idle_source_new();
	g_source_set_priority(self->first, G_PRIORITY_LOW);
	g_source_set_callback(self->first, vb_upkeep_first_cb, self, NULL);
	g_source_set_static_name(self->first, "[vestibule] store upkeep, first");
	g_source_attach(self->first, NULL);
}

static void
vb_upkeep_clear_source(GSource **source)
{
	if (*source != NULL) {
		g_source_destroy(*source);
		g_clear_pointer(source, g_source_unref);
	}
}

void
vb_upkeep_stop(VbUpkeep *self)
{
	g_return_if_fail(VB_IS_UPKEEP(self));
	vb_upkeep_clear_source(&self->tick);
	vb_upkeep_clear_source(&self->first);
	vb_upkeep_clear_source(&self->step);
	g_cancellable_cancel(self->cancellable);
	self->pass_table = 0;
}

GVariant *
vb_upkeep_get_status(VbUpkeep *self)
{
	GVariantDict dict;
	VbStorePages pages;
	gint64 now = g_get_real_time();
	gboolean damaged;

	g_return_val_if_fail(VB_IS_UPKEEP(self), NULL);

	/* damage a query met shows at once; its alert waits for the next tick */
	damaged = self->damaged || vb_store_get_damage(self->store) != NULL;
	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, "integrity", "s",
			      damaged		     ? "damaged"
			      : self->checking	     ? "checking"
			      : self->last_check > 0 ? "ok"
						     : "not-checked-yet");
	if (damaged)
		g_variant_dict_insert(&dict, "damage", "s", vb_store_get_damage(self->store));
	if (self->last_check > 0) {
		g_variant_dict_insert(&dict, "last-check", "x", self->last_check / G_USEC_PER_SEC);
		g_variant_dict_insert(&dict, "last-check-ms", "d", self->last_check_us / 1000.0);
	}
	g_variant_dict_insert(&dict, "next-check", "x", self->check_due / G_USEC_PER_SEC);
	g_variant_dict_insert(&dict, "check-overdue", "b", vb_upkeep_overdue(self, now));
	if (self->check_error != NULL)
		g_variant_dict_insert(&dict, "check-error", "s", self->check_error);
	if (vb_store_get_pages(self->store, &pages, NULL)) {
		g_variant_dict_insert(&dict, "size-bytes", "x", pages.page_count * pages.page_size);
		g_variant_dict_insert(&dict, "free-bytes", "x",
				      pages.freelist_count * pages.page_size);
		g_variant_dict_insert(&dict, "incremental-vacuum", "b", pages.incremental);
	}
	if (self->last_pass > 0) {
		g_variant_dict_insert(&dict, "last-retention", "x",
				      self->last_pass / G_USEC_PER_SEC);
		g_variant_dict_insert(&dict, "last-retention-removed", "x",
				      self->last_pass_removed);
	}
	return g_variant_dict_end(&dict);
}

void
vb_upkeep_set_config(VbUpkeep *self, VbConfig *config)
{
	g_return_if_fail(VB_IS_UPKEEP(self));
	g_set_object(&self->config, config);
	if (self->last_check > 0)
		self->check_due = self->last_check + vb_upkeep_check_interval(self);
}

void
vb_upkeep_set_idle_func(VbUpkeep *self, VbUpkeepIdleFunc func, gpointer user_data)
{
	g_return_if_fail(VB_IS_UPKEEP(self));
	self->is_idle = func;
	self->idle_data = user_data;
}

void
vb_upkeep_set_outbox(VbUpkeep *self, VbOutbox *outbox)
{
	g_return_if_fail(VB_IS_UPKEEP(self));
	g_set_object(&self->outbox, outbox);
}

static void
vb_upkeep_dispose(GObject *object)
{
	VbUpkeep *self = VB_UPKEEP(object);

	vb_upkeep_stop(self);
	g_clear_object(&self->outbox);
	g_clear_object(&self->config);
	g_clear_object(&self->metrics);
	g_clear_object(&self->store);
	g_clear_object(&self->context);
	G_OBJECT_CLASS(vb_upkeep_parent_class)->dispose(object);
}

static void
vb_upkeep_finalize(GObject *object)
{
	VbUpkeep *self = VB_UPKEEP(object);

	g_free(self->check_error);
	g_hash_table_unref(self->removed);
	g_object_unref(self->cancellable);
	G_OBJECT_CLASS(vb_upkeep_parent_class)->finalize(object);
}

static void
vb_upkeep_class_init(VbUpkeepClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = vb_upkeep_dispose;
	object_class->finalize = vb_upkeep_finalize;
}

static void
vb_upkeep_init(VbUpkeep *self)
{
	self->removed = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	self->cancellable = g_cancellable_new();
	self->batch = VB_UPKEEP_BATCH_FIRST;
}

VbUpkeep *
vb_upkeep_new(VbContext *context, VbMetrics *metrics)
{
	VbUpkeep *self = g_object_new(VB_TYPE_UPKEEP, NULL);

	self->context = g_object_ref(context);
	self->store = g_object_ref(vb_context_get_store(context));
	self->metrics = metrics != NULL ? g_object_ref(metrics) : NULL;
	if (self->metrics != NULL) {
		vb_metrics_declare(
		    self->metrics, "vestibule_store_integrity_ok", VB_METRIC_GAUGE,
		    "1 while the store passes its integrity check, 0 once it failed");
		vb_metrics_declare(self->metrics, "vestibule_store_integrity_check_seconds",
				   VB_METRIC_GAUGE, "How long the last integrity check took");
		vb_metrics_declare(
		    self->metrics, "vestibule_store_integrity_check_timestamp_seconds",
		    VB_METRIC_GAUGE,
		    "When the last integrity check ended, in seconds since the epoch");
		vb_metrics_declare(
		    self->metrics, "vestibule_store_integrity_check_overdue", VB_METRIC_GAUGE,
		    "1 when the integrity check has not run for an hour past its time");
		vb_metrics_declare(self->metrics, "vestibule_store_retention_removed_total",
				   VB_METRIC_COUNTER, "Rows removed by retention, by table");
		vb_metrics_declare(self->metrics, "vestibule_store_size_bytes", VB_METRIC_GAUGE,
				   "The database file's size");
		vb_metrics_declare(self->metrics, "vestibule_store_free_bytes", VB_METRIC_GAUGE,
				   "Free space inside the database file, not yet given back");
	}
	return self;
}
