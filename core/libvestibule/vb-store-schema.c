/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* the core schema: one migration function per version, each run in its own
 * transaction */

#include "config.h"

#include "vb-error.h"
#include "vb-store-internal.h"

/* core schema: one function per step, run by vb_store_migrate() in a transaction */

static gboolean
vb_store_migrate_v1(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "CREATE TABLE audit ("
				    "seq INTEGER PRIMARY KEY AUTOINCREMENT, "
				    "name TEXT NOT NULL, "
				    "source TEXT, "
				    "door TEXT, "
				    "mono INTEGER NOT NULL, "
				    "real INTEGER NOT NULL, "
				    "payload TEXT);"
				    "CREATE TABLE api_tokens ("
				    "name TEXT PRIMARY KEY, "
				    "scope TEXT NOT NULL, "
				    "hash TEXT NOT NULL UNIQUE, "
				    "created INTEGER);"
				    "CREATE TABLE namespaces ("
				    "ns TEXT PRIMARY KEY, "
				    "version INTEGER NOT NULL);",
				    error);
}

static gboolean
vb_store_migrate_v2(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "CREATE TABLE visits ("
				    "id TEXT PRIMARY KEY, "
				    "door TEXT, "
				    "state TEXT NOT NULL, "
				    "card_token TEXT, "
				    "first6 TEXT, "
				    "last4 TEXT, "
				    "created INTEGER NOT NULL, "
				    "updated INTEGER NOT NULL);"
				    "CREATE INDEX visits_created ON visits (created);",
				    error);
}

typedef gboolean (*VbStoreMigrateFunc)(VbStore *self, GError **error);

/* the visit: customers and their cards, one-time codes, consent, the visit's
 * money and timeline, feedback and the durable outbox. No column holds a PAN,
 * a phone number in clear or a one-time code: phones are sealed with the
 * phone key and found through a keyed blind index, codes are keyed hashes */
static gboolean
vb_store_migrate_v3(VbStore *self, GError **error)
{
	return vb_store_exec_script(
	    self,
	    "CREATE TABLE customers ("
	    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
	    "phone_index TEXT NOT NULL UNIQUE, "
	    "phone_sealed BLOB NOT NULL, "
	    "phone_masked TEXT NOT NULL, "
	    "language TEXT, "
	    "sms_opt_out INTEGER NOT NULL DEFAULT 0, "
	    "created INTEGER NOT NULL);"
	    "CREATE TABLE cards ("
	    "token TEXT PRIMARY KEY, "
	    "customer_id INTEGER REFERENCES customers (id) ON DELETE SET NULL, "
	    "kind TEXT NOT NULL, "
	    "first6 TEXT, "
	    "last4 TEXT, "
	    "expiry TEXT, "
	    "scheme TEXT, "
	    "language TEXT, "
	    "visits INTEGER NOT NULL DEFAULT 0, "
	    "created INTEGER NOT NULL, "
	    "last_seen INTEGER NOT NULL);"
	    "CREATE INDEX cards_customer ON cards (customer_id);"
	    "CREATE TABLE card_aliases ("
	    "alias TEXT PRIMARY KEY, "
	    "token TEXT NOT NULL REFERENCES cards (token) ON DELETE CASCADE);"
	    "CREATE TABLE otps ("
	    "phone_index TEXT PRIMARY KEY, "
	    "code_hash TEXT NOT NULL, "
	    "expires INTEGER NOT NULL, "
	    "tries INTEGER NOT NULL DEFAULT 0, "
	    "sent_at INTEGER NOT NULL, "
	    "sends INTEGER NOT NULL DEFAULT 1);"
	    "CREATE TABLE consent ("
	    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
	    "phone_index TEXT NOT NULL, "
	    "time INTEGER NOT NULL, "
	    "purpose TEXT NOT NULL, "
	    "given INTEGER NOT NULL, "
	    "text TEXT NOT NULL, "
	    "version TEXT NOT NULL, "
	    "channel TEXT NOT NULL);"
	    "CREATE INDEX consent_phone ON consent (phone_index, id);"
	    "CREATE TRIGGER consent_no_update BEFORE UPDATE ON consent "
	    "BEGIN SELECT RAISE(ABORT, 'the consent log is append-only'); END;"
	    "CREATE TRIGGER consent_no_delete BEFORE DELETE ON consent "
	    "BEGIN SELECT RAISE(ABORT, 'the consent log is append-only'); END;"
	    "ALTER TABLE visits ADD COLUMN customer_id INTEGER "
	    "REFERENCES customers (id) ON DELETE SET NULL;"
	    "ALTER TABLE visits ADD COLUMN language TEXT;"
	    "ALTER TABLE visits ADD COLUMN currency TEXT;"
	    "ALTER TABLE visits ADD COLUMN hold_amount INTEGER;"
	    "ALTER TABLE visits ADD COLUMN psp_reference TEXT;"
	    "ALTER TABLE visits ADD COLUMN capture_deadline INTEGER;"
	    "ALTER TABLE visits ADD COLUMN order_hash TEXT;"
	    "ALTER TABLE visits ADD COLUMN order_json TEXT;"
	    "ALTER TABLE visits ADD COLUMN total INTEGER;"
	    "ALTER TABLE visits ADD COLUMN captured INTEGER;"
	    "ALTER TABLE visits ADD COLUMN settlement TEXT;"
	    "ALTER TABLE visits ADD COLUMN receipt_hash TEXT;"
	    "ALTER TABLE visits ADD COLUMN receipt_expires INTEGER;"
	    "CREATE UNIQUE INDEX visits_receipt ON visits (receipt_hash) "
	    "WHERE receipt_hash IS NOT NULL;"
	    "CREATE INDEX visits_customer ON visits (customer_id, created);"
	    "CREATE INDEX visits_state ON visits (state);"
	    "CREATE TABLE visit_timeline ("
	    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
	    "visit_id TEXT NOT NULL REFERENCES visits (id) ON DELETE CASCADE, "
	    "time INTEGER NOT NULL, "
	    "state TEXT NOT NULL, "
	    "detail TEXT);"
	    "CREATE INDEX visit_timeline_visit ON visit_timeline (visit_id, id);"
	    "CREATE TABLE feedback ("
	    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
	    "visit_id TEXT REFERENCES visits (id) ON DELETE SET NULL, "
	    "customer_id INTEGER REFERENCES customers (id) ON DELETE CASCADE, "
	    "received INTEGER NOT NULL, "
	    "body TEXT NOT NULL, "
	    "handled INTEGER NOT NULL DEFAULT 0);"
	    "CREATE TABLE outbox ("
	    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
	    "kind TEXT NOT NULL, "
	    "recipient TEXT NOT NULL, "
	    "idempotency_key TEXT NOT NULL UNIQUE, "
	    "payload TEXT NOT NULL, "
	    "state TEXT NOT NULL, "
	    "attempts INTEGER NOT NULL DEFAULT 0, "
	    "next_attempt INTEGER NOT NULL, "
	    "created INTEGER NOT NULL, "
	    "updated INTEGER NOT NULL, "
	    "last_error TEXT, "
	    "result TEXT, "
	    "visit_id TEXT);"
	    "CREATE INDEX outbox_due ON outbox (state, next_attempt);"
	    "CREATE INDEX outbox_recipient ON outbox (recipient, id);",
	    error);
}

/* the SMS router: one row per outgoing SMS (per outbox item). The provider an
 * attempt goes to is written before the attempt, so that a message whose
 * outcome is unknown stays with that provider (no failover, no duplicate);
 * the delivery state then follows the provider's reports. The recipient is
 * kept masked only */
static gboolean
vb_store_migrate_v4(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "CREATE TABLE sms_messages ("
				    "outbox_id INTEGER PRIMARY KEY, "
				    "idempotency_key TEXT NOT NULL UNIQUE, "
				    "visit_id TEXT, "
				    "template TEXT, "
				    "to_masked TEXT NOT NULL, "
				    "provider TEXT NOT NULL, "
				    "sticky INTEGER NOT NULL DEFAULT 0, "
				    "attempts INTEGER NOT NULL DEFAULT 0, "
				    "message_id TEXT, "
				    "encoding TEXT, "
				    "segments INTEGER, "
				    "shortened INTEGER NOT NULL DEFAULT 0, "
				    "state TEXT NOT NULL, "
				    "last_error TEXT, "
				    "created INTEGER NOT NULL, "
				    "updated INTEGER NOT NULL);"
				    "CREATE INDEX sms_messages_message ON sms_messages "
				    "(provider, message_id);",
				    error);
}

/* the outbox's queue without temporary tables: the items still to send
 * (pending) in the order they were queued, and the live items (pending or
 * sending) of each recipient, which decide the head of its queue. Both are
 * partial, so they hold the few live items, not the history of every message
 * sent. The second replaces the index of every item by recipient, which only
 * that test used */
static gboolean
vb_store_migrate_v5(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "CREATE INDEX outbox_pending ON outbox (id, next_attempt) "
				    "WHERE state = 'pending';"
				    "CREATE INDEX outbox_live ON outbox (recipient, id) "
				    "WHERE state IN ('pending', 'sending');"
				    "DROP INDEX outbox_recipient;",
				    error);
}

/* a visit whose door closed while the outbox was full owes its shopper the
 * notice SMS: it is queued as soon as the outbox has room */
static gboolean
vb_store_migrate_v6(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "ALTER TABLE visits ADD COLUMN notice_owed INTEGER NOT NULL "
				    "DEFAULT 0;"
				    "CREATE INDEX visits_notice_owed ON visits (id) "
				    "WHERE notice_owed = 1;",
				    error);
}

/* merchant references kept ready for a door's next hold, on disk before a
 * tap takes one: see "Reservations" in core/daemon/visit/vb-visit-hold.c */
static gboolean
vb_store_migrate_v7(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "CREATE TABLE visit_reservations ("
				    "id TEXT PRIMARY KEY, "
				    "door TEXT NOT NULL, "
				    "created INTEGER NOT NULL);",
				    error);
}

/* unknown outcomes in the outbox: since when an item's outcome is unknown,
 * from when the later items of its recipient may pass it (NULL: never, or not
 * unknown), and how often its kind's policy sent it again under a new key.
 * The scheduler wakes at the next passable_after of a live item, which the
 * partial index finds without reading the others */
static gboolean
vb_store_migrate_v8(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "ALTER TABLE outbox ADD COLUMN unknown_since INTEGER;"
				    "ALTER TABLE outbox ADD COLUMN passable_after INTEGER;"
				    "ALTER TABLE outbox ADD COLUMN resends INTEGER NOT NULL "
				    "DEFAULT 0;"
				    "CREATE INDEX outbox_passable ON outbox (passable_after) "
				    "WHERE state IN ('pending', 'sending') "
				    "AND passable_after IS NOT NULL;",
				    error);
}

/* retention and the integrity check's schedule: deleting a visit sets its
 * feedback's visit_id to NULL, which without an index reads every feedback
 * row for each visit deleted; a visit with an outbox item not yet done is
 * kept, which the partial index answers without the history of items sent;
 * cards are found by when they were last seen;
 * upkeep keeps when the last check ran across restarts, so that a store
 * restarted every night still gets checked */
static gboolean
vb_store_migrate_v9(VbStore *self, GError **error)
{
	return vb_store_exec_script(self,
				    "CREATE INDEX feedback_visit ON feedback (visit_id);"
				    "CREATE INDEX cards_last_seen ON cards (last_seen);"
				    "CREATE INDEX outbox_visit_open ON outbox (visit_id) "
				    "WHERE state != 'done';"
				    "CREATE TABLE upkeep ("
				    "name TEXT PRIMARY KEY, "
				    "value INTEGER NOT NULL);",
				    error);
}

static const VbStoreMigrateFunc vb_store_migrations[] = {
    vb_store_migrate_v1, vb_store_migrate_v2, vb_store_migrate_v3,
    vb_store_migrate_v4, vb_store_migrate_v5, vb_store_migrate_v6,
    vb_store_migrate_v7, vb_store_migrate_v8, vb_store_migrate_v9,
};

/**
 * vb_store_schema_version_latest:
 *
 * Returns: the newest core schema version this build knows
 *
 * Since: 0.1
 */
guint
vb_store_schema_version_latest(void)
{
	return G_N_ELEMENTS(vb_store_migrations);
}

static gboolean
vb_store_read_schema_version(VbStore *self, guint *version, GError **error)
{
	g_autoptr(VbStoreStmt) stmt = NULL;

	if (!vb_store_exec_script(self,
				  "CREATE TABLE IF NOT EXISTS schema_version ("
				  "version INTEGER PRIMARY KEY, "
				  "applied INTEGER NOT NULL)",
				  error))
		return FALSE;
	stmt =
	    vb_store_prepare(self, "SELECT COALESCE(MAX(version), 0) FROM schema_version", error);
	if (stmt == NULL || vb_store_stmt_step(stmt, error) != VB_STORE_STEP_ROW)
		return FALSE;
	*version = (guint)vb_store_stmt_column_int64(stmt, 0);
	return TRUE;
}

static gboolean
vb_store_migrate_step(VbStore *self, guint version, GError **error)
{
	g_autoptr(VbStoreTransaction) tx = NULL;
	g_autoptr(VbStoreStmt) stmt = NULL;

	tx = vb_store_transaction_begin(self, error);
	if (tx == NULL)
		return FALSE;
	if (!vb_store_migrations[version - 1](self, error))
		return FALSE;
	stmt = vb_store_prepare(
	    self, "INSERT INTO schema_version (version, applied) VALUES (?1, ?2)", error);
	if (stmt == NULL)
		return FALSE;
	vb_store_stmt_bind_int64(stmt, 1, version);
	vb_store_stmt_bind_int64(stmt, 2, g_get_real_time());
	if (!vb_store_stmt_exec(stmt, error))
		return FALSE;
	return vb_store_transaction_commit(tx, error);
}

gboolean
vb_store_migrate(VbStore *self, guint target_version, GError **error)
{
	guint version = 0;

	if (!vb_store_read_schema_version(self, &version, error))
		return FALSE;
	if (version > vb_store_schema_version_latest()) {
		g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
			    "the store has schema version %u but this vestibuled only knows up to "
			    "%u; it was written by a newer version: install that version again or "
			    "restore a backup",
			    version, vb_store_schema_version_latest());
		return FALSE;
	}
	self->schema_version = version;
	for (guint v = version + 1; v <= target_version; v++) {
		if (!vb_store_migrate_step(self, v, error)) {
			g_prefix_error(error, "cannot migrate the store to schema version %u: ", v);
			return FALSE;
		}
		self->schema_version = v;
	}
	return TRUE;
}
