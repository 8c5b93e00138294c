//! The PostgreSQL backend: for workers on many hosts. Bound parameters only
//! (the table name, the one identifier, is validated and quoted); after a
//! server restart or a dropped connection it reconnects and retries once;
//! the URL's password never appears in errors.

use std::time::Duration;

use parking_lot::Mutex;
use postgres::{Client, Config, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::backend::{
    begin_existing, current_columns, fresh_record, rejected, Backend, Begun, Columns, Write,
    COLUMNS,
};
use super::model::encode_steps;
use super::{postgres_conninfo, postgres_tls};
use super::{Claimed, Lease, ListQuery, Record, Start, State, StoreError, Sweep};

#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// The table (created if absent); letters, digits and underscores.
    pub table: String,
    pub connect_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            table: "holdfast_continuations".to_owned(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

pub struct PostgresBackend {
    location: String,
    config: Config,
    tls: MakeRustlsConnect,
    pub(super) table: String,
    connection: Mutex<Option<Connection>>,
}

pub(super) struct Connection {
    pub(super) client: Client,
    select: Statement,
    update: Statement,
    token_of: Statement,
}

impl PostgresBackend {
    pub fn connect(url: &str, options: &PostgresOptions) -> Result<Self, StoreError> {
        let location = format!("PostgreSQL store {}", redact(url));
        let table = quote_table(&options.table)?;
        let info = postgres_conninfo::parse(url)
            .map_err(|message| StoreError::invalid(format!("{location}: {message}")))?;
        let (tls, ssl_mode) = postgres_tls::connector(&info)
            .map_err(|message| StoreError::invalid(format!("{location}: {message}")))?;
        let mut config: Config = info.driver.parse().map_err(|e: postgres::Error| {
            StoreError::invalid(format!(
                "{location}: the URL is not a PostgreSQL connection string ({}); expected postgres://user:password@host:port/database",
                with_causes(&e)
            ))
        })?;
        config.ssl_mode(ssl_mode);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        let backend = PostgresBackend {
            location,
            config,
            tls,
            table,
            connection: Mutex::new(None),
        };
        // Connect now: a wrong URL or a server that is down is an error at
        // open, not at the first checkpoint.
        backend.with_connection(|_| Ok(()))?;
        Ok(backend)
    }

    fn open_connection(&self) -> Result<Connection, StoreError> {
        let mut client = self
            .config
            .connect(self.tls.clone())
            .map_err(|e| self.err(e))?;
        let table = &self.table;
        let index = format!("{}_by_update", table.trim_matches('"'));
        let lease_index = format!("{}_by_lease", table.trim_matches('"'));
        // CREATE ... IF NOT EXISTS races with itself (two sessions can both
        // decide to create and one fails on a catalog unique index): take a
        // transaction-scoped advisory lock named after the table first.
        // The lease columns are added only when missing: ALTER TABLE takes
        // the table's strongest lock even when it changes nothing, which
        // deadlocked with other sessions' writes.
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
                 DO $holdfast$ BEGIN
                   IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{table}'::regclass
                                  AND attname = 'lease_expires_at' AND NOT attisdropped) THEN
                     ALTER TABLE {table} ADD COLUMN IF NOT EXISTS payload TEXT;
                     ALTER TABLE {table} ADD COLUMN IF NOT EXISTS lease_owner TEXT;
                     ALTER TABLE {table} ADD COLUMN IF NOT EXISTS lease_expires_at BIGINT;
                     CREATE INDEX IF NOT EXISTS \"{lease_index}\" ON {table} (lease_expires_at)
                       WHERE completed_at IS NULL;
                   END IF;
                 END $holdfast$;
                 COMMIT;"
            ))
            .map_err(|e| self.err(e))?;
        let select = client
            .prepare(&format!("SELECT {COLUMNS} FROM {table} WHERE job_id = $1"))
            .map_err(|e| self.err(e))?;
        let update = client
            .prepare(&format!(
                "UPDATE {table}
                 SET completed_steps = $3, current_step = $4, cursor = $5, updated_at = $6,
                     completed_at = CASE WHEN $7 THEN $6 ELSE completed_at END,
                     lease_expires_at = CASE WHEN $7 THEN NULL
                       WHEN $8::BIGINT IS NOT NULL AND lease_owner IS NOT NULL THEN $8
                       ELSE lease_expires_at END,
                     lease_owner = CASE WHEN $7 THEN NULL ELSE lease_owner END
                 WHERE job_id = $1 AND token = $2"
            ))
            .map_err(|e| self.err(e))?;
        let token_of = client
            .prepare(&format!("SELECT token FROM {table} WHERE job_id = $1"))
            .map_err(|e| self.err(e))?;
        Ok(Connection {
            client,
            select,
            update,
            token_of,
        })
    }

    /// Runs `op` on a live connection. A connection the server dropped (a
    /// restart, a failover, an idle timeout) is replaced and `op` retried
    /// once: every operation is safe to repeat (writes carry their token; a
    /// repeated begin only hands out a newer token).
    pub(super) fn with_connection<T>(
        &self,
        mut op: impl FnMut(&mut Connection) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        let mut slot = self.connection.lock();
        let mut retried = false;
        loop {
            if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
                *slot = None;
                *slot = Some(self.open_connection()?);
            }
            let Some(connection) = slot.as_mut() else {
                continue;
            };
            match op(connection) {
                Ok(value) => return Ok(value),
                Err(DbError::Store(error)) => return Err(error),
                Err(DbError::Postgres(error)) if !retried && is_connection_lost(&error) => {
                    retried = true;
                    *slot = None;
                }
                Err(DbError::Postgres(error)) => return Err(self.err(error)),
            }
        }
    }

    fn err(&self, error: postgres::Error) -> StoreError {
        let message = match error.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            // "error connecting to server" alone says nothing: add the
            // causes (connection refused, timed out, ...).
            None => with_causes(&error),
        };
        StoreError::io(&self.location, message)
    }

    pub(super) fn record(&self, row: &Row) -> Result<Record, DbError> {
        let columns = Columns {
            job_id: row.try_get(0)?,
            job_class: row.try_get(1)?,
            completed_steps: row.try_get(2)?,
            current_step: row.try_get(3)?,
            cursor: row.try_get(4)?,
            resumptions: row.try_get(5)?,
            token: row.try_get(6)?,
            created_at: row.try_get(7)?,
            updated_at: row.try_get(8)?,
            completed_at: row.try_get(9)?,
            payload: row.try_get(10)?,
            lease_owner: row.try_get(11)?,
            lease_expires_at: row.try_get(12)?,
        };
        Ok(columns.into_record(&self.location)?)
    }
}

/// The error and its causes, as one line.
fn with_causes(error: &postgres::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// An error inside an operation: from PostgreSQL (maybe a lost connection,
/// worth one retry) or already the store's own.
pub(super) enum DbError {
    Postgres(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for DbError {
    fn from(error: postgres::Error) -> Self {
        DbError::Postgres(error)
    }
}

impl From<StoreError> for DbError {
    fn from(error: StoreError) -> Self {
        DbError::Store(error)
    }
}

fn is_connection_lost(error: &postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        // Class 08 (connection exception) and 57P (operator intervention:
        // admin shutdown, crash shutdown, cannot connect now).
        Some(code) => code.code().starts_with("08") || code.code().starts_with("57P"),
        // No SQLSTATE: the socket failed.
        None => error.as_db_error().is_none(),
    }
}

fn quote_table(table: &str) -> Result<String, StoreError> {
    let valid = !table.is_empty()
        && table.len() <= 63
        && table
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(StoreError::invalid(format!(
            "table name {table:?} is not allowed: use 1 to 63 letters, digits and underscores, starting with a letter or underscore"
        )));
    }
    Ok(format!("\"{table}\""))
}

/// The URL or key/value string with every password replaced by `***`,
/// for messages and logs.
pub fn redact(url: &str) -> String {
    postgres_conninfo::redact(url)
}

impl Backend for PostgresBackend {
    fn begin(&self, start: &Start) -> Result<Begun, StoreError> {
        let (job_id, job_class, now) = (start.job_id.as_str(), start.job_class.as_str(), start.at);
        let table = &self.table;
        self.with_connection(|connection| {
            let mut tx = connection.client.transaction()?;
            // Twice at most: when another process inserts the record between
            // our SELECT and INSERT, the INSERT waits for it and does
            // nothing, and the second SELECT finds the record.
            let begun = loop {
                let existing = tx.query_opt(
                    &format!("SELECT {COLUMNS} FROM {table} WHERE job_id = $1 FOR UPDATE"),
                    &[&job_id],
                )?;
                if let Some(row) = existing {
                    let mut record = self.record(&row)?;
                    let was_completed = begin_existing(&mut record, start);
                    let (step, cursor) = current_columns(&record.progress);
                    let lease = record.lease.as_ref();
                    tx.execute(
                        &format!(
                            "UPDATE {table} SET token = $2, resumptions = $3, updated_at = $4,
                               completed_steps = $5, current_step = $6, cursor = $7, completed_at = NULL,
                               payload = $8, lease_owner = $9, lease_expires_at = $10
                             WHERE job_id = $1"
                        ),
                        &[
                            &job_id,
                            &(record.token as i64),
                            &(record.resumptions as i64),
                            &now,
                            &encode_steps(&record.progress.completed),
                            &step,
                            &cursor,
                            &record.payload,
                            &lease.map(|l| &l.owner),
                            &lease.map(|l| l.expires_at),
                        ],
                    )?;
                    break Begun {
                        existed: true,
                        was_completed,
                        record,
                    };
                }
                let inserted = tx.execute(
                    &format!(
                        "INSERT INTO {table} ({COLUMNS})
                         VALUES ($1, $2, '[]', NULL, NULL, 0, 1, $3, $3, NULL, $4, $5, $6)
                         ON CONFLICT (job_id) DO NOTHING"
                    ),
                    &[&job_id, &job_class, &now, &start.payload, &start.lease.owner, &start.lease.expires_at],
                )?;
                if inserted == 1 {
                    break Begun {
                        existed: false,
                        was_completed: false,
                        record: fresh_record(start),
                    };
                }
            };
            tx.commit()?;
            Ok(begun)
        })
    }

    fn write(&self, writes: &[Write]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        self.with_connection(|connection| {
            let Connection {
                client,
                update,
                token_of,
                ..
            } = connection;
            let mut tx = client.transaction()?;
            let mut outcomes = Vec::with_capacity(writes.len());
            for write in writes {
                let (step, cursor) = current_columns(&write.progress);
                // Each write under its own savepoint: a value the server
                // refuses fails that write alone (its job hears of it) and
                // the rest of the batch still commits.
                let mut savepoint = tx.savepoint("holdfast_write")?;
                let changed = match savepoint.execute(
                    &*update,
                    &[
                        &write.job_id,
                        &(write.token as i64),
                        &encode_steps(&write.progress.completed),
                        &step,
                        &cursor,
                        &write.at,
                        &write.complete,
                        &write.lease_until,
                    ],
                ) {
                    Ok(changed) => {
                        savepoint.commit()?;
                        changed
                    }
                    Err(error) if error.as_db_error().is_some() => {
                        drop(savepoint);
                        outcomes.push(Err(self.err(error)));
                        continue;
                    }
                    Err(error) => return Err(error.into()),
                };
                if changed == 1 {
                    outcomes.push(Ok(()));
                } else {
                    let stored = tx.query_opt(&*token_of, &[&write.job_id])?;
                    let stored = stored.map(|row| row.try_get::<_, i64>(0)).transpose()?;
                    outcomes.push(Err(rejected(
                        &write.job_id,
                        write.token,
                        stored.map(|t| t as u64),
                    )));
                }
            }
            tx.commit()?;
            Ok(outcomes)
        })
    }

    fn get(&self, job_id: &str) -> Result<Option<Record>, StoreError> {
        self.with_connection(|connection| {
            let row = connection
                .client
                .query_opt(&connection.select, &[&job_id])?;
            row.map(|row| self.record(&row)).transpose()
        })
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Record>, StoreError> {
        let table = &self.table;
        let state = match query.state {
            State::Any => "TRUE",
            State::InFlight => "completed_at IS NULL",
            State::Completed => "completed_at IS NOT NULL",
        };
        let order = if query.newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {COLUMNS} FROM {table}
             WHERE {state} AND ($1::TEXT IS NULL OR job_class = $1)
             ORDER BY updated_at {order}, job_id {order} LIMIT $2"
        );
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        self.with_connection(|connection| {
            let rows = connection.client.query(&sql, &[&query.job_class, &limit])?;
            rows.iter().map(|row| self.record(row)).collect()
        })
    }

    fn prune(&self, completed_before: Option<i64>) -> Result<u64, StoreError> {
        let table = &self.table;
        self.with_connection(|connection| {
            Ok(connection.client.execute(
                &format!(
                    "DELETE FROM {table} WHERE completed_at IS NOT NULL AND ($1::BIGINT IS NULL OR completed_at < $1)"
                ),
                &[&completed_before],
            )?)
        })
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn renew(&self, executions: &[(String, u64)], lease: &Lease) -> Result<(), StoreError> {
        self.renew_leases(executions, lease)
    }

    fn release(&self, job_id: &str, token: u64) -> Result<(), StoreError> {
        self.release_lease(job_id, token)
    }

    fn claim_orphans(&self, sweep: &Sweep) -> Result<Vec<Claimed>, StoreError> {
        self.claim(sweep)
    }

    fn discard(&self, job_id: &str) -> Result<bool, StoreError> {
        self.discard_record(job_id)
    }
}
