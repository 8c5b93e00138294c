//! The PostgreSQL table and its upgrades: created when absent, columns an
//! older Holdfast's table lacks added once, and the store's meta row (the
//! token floor) in `holdfast_store_meta`.

use postgres::Client;

use super::postgres::PostgresBackend;
use super::StoreError;

impl PostgresBackend {
    /// Creates the table or adds what an older Holdfast's lacks. CREATE ...
    /// IF NOT EXISTS races with itself (two sessions can both decide to
    /// create and one fails on a catalog unique index): a
    /// transaction-scoped advisory lock named after the table goes first.
    /// Columns are added only when missing: ALTER TABLE takes the table's
    /// strongest lock even when it changes nothing, which deadlocked with
    /// other sessions' writes.
    pub(super) fn create_schema(&self, client: &mut Client) -> Result<(), StoreError> {
        let table = &self.table;
        let index = format!("{}_by_update", table.trim_matches('"'));
        let lease_index = format!("{}_by_lease", table.trim_matches('"'));
        client
            .batch_execute(&format!(
                "BEGIN;
                 SELECT pg_advisory_xact_lock(hashtext('holdfast schema ' || '{table}'));
                 CREATE TABLE IF NOT EXISTS {table} (
                   job_id TEXT PRIMARY KEY,
                   job_class TEXT NOT NULL,
                   completed_steps TEXT NOT NULL,
                   current_step TEXT,
                   cursor BYTEA,
                   resumptions BIGINT NOT NULL,
                   token BIGINT NOT NULL,
                   created_at BIGINT NOT NULL,
                   updated_at BIGINT NOT NULL,
                   completed_at BIGINT
                 );
                 CREATE INDEX IF NOT EXISTS \"{index}\" ON {table} (completed_at, updated_at);
                 CREATE TABLE IF NOT EXISTS holdfast_store_meta (
                   store_table TEXT NOT NULL, key TEXT NOT NULL, value BIGINT NOT NULL,
                   PRIMARY KEY (store_table, key)
                 );
                 INSERT INTO holdfast_store_meta VALUES ('{table}', 'token_floor', 0) ON CONFLICT DO NOTHING;
                 DO $holdfast$ BEGIN
                   IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{table}'::regclass
                                  AND attname = 'lease_expires_at' AND NOT attisdropped) THEN
                     ALTER TABLE {table} ADD COLUMN IF NOT EXISTS payload TEXT;
                     ALTER TABLE {table} ADD COLUMN IF NOT EXISTS lease_owner TEXT;
                     ALTER TABLE {table} ADD COLUMN IF NOT EXISTS lease_expires_at BIGINT;
                     CREATE INDEX IF NOT EXISTS \"{lease_index}\" ON {table} (lease_expires_at)
                       WHERE completed_at IS NULL;
                   END IF;
                   IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{table}'::regclass
                                  AND attname = 'quarantined_at' AND NOT attisdropped) THEN
                     ALTER TABLE {table} ADD COLUMN IF NOT EXISTS recoveries BIGINT NOT NULL DEFAULT 0;
                     ALTER TABLE {table} ADD COLUMN IF NOT EXISTS recovery_mark BIGINT;
                     ALTER TABLE {table} ADD COLUMN IF NOT EXISTS quarantined_at BIGINT;
                     ALTER TABLE {table} ADD COLUMN IF NOT EXISTS quarantine_reason TEXT;
                   END IF;
                 END $holdfast$;
                 COMMIT;"
            ))
            .map_err(|e| self.err(e))
    }
}
