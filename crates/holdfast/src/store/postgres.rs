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
    COLUMNS, COLUMN_COUNT,
};
use super::model::encode_steps;
use super::{postgres_conninfo, postgres_tls};
use super::{
    Claimed, Lease, LeaseGrant, ListQuery, Listed, Quarantine, Record, Start, State, StoreError,
    Sweep, Swept,
};

/// The server's clock in milliseconds since the epoch: the one clock every
/// lease in a PostgreSQL store is judged on, whatever the clients' clocks
/// say. `clock_timestamp()`, not `now()`: a long transaction must not see
/// time stand still.
pub(super) const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT";

#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// The table (created if absent); letters, digits and underscores.
    pub table: String,
    pub connect_timeout: Duration,
    /// Only read: create and alter nothing (the table must exist), and
    /// refuse every write.
    pub read_only: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            table: "holdfast_continuations".to_owned(),
            connect_timeout: Duration::from_secs(10),
            read_only: false,
        }
    }
}

pub struct PostgresBackend {
    location: String,
    config: Config,
    tls: MakeRustlsConnect,
    pub(super) table: String,
    read_only: bool,
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
            read_only: options.read_only,
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
        if self.read_only {
            let exists: bool = client
                .query_one(
                    "SELECT to_regclass($1) IS NOT NULL AND EXISTS (SELECT 1 FROM pg_attribute \
                     WHERE attrelid = to_regclass($1) AND attname = 'quarantined_at' AND NOT attisdropped)",
                    &[&table.as_str()],
                )
                .and_then(|row| row.try_get(0))
                .map_err(|e| self.err(e))?;
            if !exists {
                return Err(StoreError::NotADatabase {
                    location: self.location.clone(),
                    message: format!(
                        "there is no table {table} at this Holdfast's schema; a read creates and alters nothing: \
                         start the app (or run `holdfast recover`) once to create or upgrade it"
                    ),
                });
            }
        } else {
            self.create_schema(&mut client)?;
        }
        let select = client
            .prepare(&format!(
                "SELECT {COLUMNS}, {NOW_MS} FROM {table} WHERE job_id = $1"
            ))
            .map_err(|e| self.err(e))?;
        let update = client
            .prepare(&format!(
                "UPDATE {table}
                 SET completed_steps = $3, current_step = $4, cursor = $5, updated_at = $6,
                     completed_at = CASE WHEN $7 THEN $6 ELSE completed_at END,
                     lease_expires_at = CASE WHEN $7 THEN NULL
                       WHEN $8::BIGINT IS NOT NULL AND lease_owner IS NOT NULL THEN {NOW_MS} + $8
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

    pub(super) fn err(&self, error: postgres::Error) -> StoreError {
        let message = match error.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            // "error connecting to server" alone says nothing: add the
            // causes (connection refused, timed out, ...).
            None => with_causes(&error),
        };
        StoreError::io(&self.location, message)
    }

    /// Refuses a write on a store opened read-only.
    pub(super) fn check_writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::invalid(format!(
                "{} was opened read-only (for list, show or a dry run); open it without read_only to change it",
                self.location
            )));
        }
        Ok(())
    }

    /// A row of [`COLUMNS`] followed by the server clock's reading.
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
            recoveries: row.try_get(13)?,
            recovery_mark: row.try_get(14)?,
            quarantined_at: row.try_get(15)?,
            quarantine_reason: row.try_get(16)?,
        };
        let store_now: i64 = row.try_get(COLUMN_COUNT)?;
        Ok(columns.into_record(&self.location, &|at| super::clock::to_wall(at, store_now))?)
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
        self.check_writable()?;
        let (job_id, job_class, now) = (start.job_id.as_str(), start.job_class.as_str(), start.at);
        let table = &self.table;
        let for_ms = start.lease.for_ms;
        let shown = Lease {
            owner: start.lease.owner.clone(),
            expires_at: super::now_ms().saturating_add(for_ms),
        };
        self.with_connection(|connection| {
            let mut tx = connection.client.transaction()?;
            // Twice at most: when another process inserts the record between
            // our SELECT and INSERT, the INSERT waits for it and does
            // nothing, and the second SELECT finds the record.
            let begun = loop {
                let existing = tx.query_opt(
                    &format!("SELECT {COLUMNS}, {NOW_MS} FROM {table} WHERE job_id = $1 FOR UPDATE"),
                    &[&job_id],
                )?;
                if let Some(row) = existing {
                    let mut record = self.record(&row)?;
                    let Some(was_completed) = begin_existing(&mut record, start, shown.clone()) else {
                        break Begun {
                            existed: true,
                            was_completed: true,
                            began: false,
                            record,
                        };
                    };
                    let (step, cursor) = current_columns(&record.progress);
                    tx.execute(
                        &format!(
                            "UPDATE {table} SET token = $2, resumptions = $3, updated_at = $4,
                               completed_steps = $5, current_step = $6, cursor = $7, completed_at = NULL,
                               payload = $8, lease_owner = $9, lease_expires_at = {NOW_MS} + $10,
                               quarantined_at = NULL, quarantine_reason = NULL
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
                            &start.lease.owner,
                            &for_ms,
                        ],
                    )?;
                    break Begun {
                        existed: true,
                        was_completed,
                        began: true,
                        record,
                    };
                }
                let floor: i64 = tx
                    .query_opt(
                        "SELECT value FROM holdfast_store_meta WHERE store_table = $1 AND key = 'token_floor'",
                        &[&table.as_str()],
                    )?
                    .map(|row| row.try_get(0))
                    .transpose()?
                    .unwrap_or(0);
                let record = fresh_record(start, floor.max(0) as u64, shown.clone());
                let inserted = tx.execute(
                    &format!(
                        "INSERT INTO {table} ({COLUMNS})
                         VALUES ($1, $2, '[]', NULL, NULL, 0, $7, $3, $3, NULL, $4, $5, {NOW_MS} + $6, 0, NULL, NULL, NULL)
                         ON CONFLICT (job_id) DO NOTHING"
                    ),
                    &[&job_id, &job_class, &now, &start.payload, &start.lease.owner, &for_ms, &(record.token as i64)],
                )?;
                if inserted == 1 {
                    break Begun {
                        existed: false,
                        was_completed: false,
                        began: true,
                        record,
                    };
                }
            };
            tx.commit()?;
            Ok(begun)
        })
    }

    fn write(&self, writes: &[Write]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        self.check_writable()?;
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
                        &write.renew_for,
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

    fn list(&self, query: &ListQuery) -> Result<Vec<Listed>, StoreError> {
        let table = &self.table;
        let state = match query.state {
            State::Any => "TRUE",
            State::InFlight => "completed_at IS NULL",
            State::Completed => "completed_at IS NOT NULL",
            State::Quarantined => "completed_at IS NULL AND quarantined_at IS NOT NULL",
        };
        let order = if query.newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {COLUMNS}, {NOW_MS} FROM {table}
             WHERE {state} AND ($1::TEXT IS NULL OR job_class = $1)
             ORDER BY updated_at {order}, job_id {order} LIMIT $2"
        );
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        self.with_connection(|connection| {
            let rows = connection.client.query(&sql, &[&query.job_class, &limit])?;
            rows.iter()
                .map(|row| match self.record(row) {
                    Ok(record) => Ok(Ok(record)),
                    // A damaged record is an entry of its own.
                    Err(DbError::Store(error @ StoreError::Corrupt { .. })) => Ok(Err(error)),
                    Err(error) => Err(error),
                })
                .collect()
        })
    }

    fn prune(&self, completed_before: Option<i64>) -> Result<u64, StoreError> {
        self.check_writable()?;
        self.delete_keeping_floor(
            "completed_at IS NOT NULL AND ($1::BIGINT IS NULL OR completed_at < $1)",
            &completed_before,
        )
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn renew(&self, executions: &[(String, u64)], lease: &LeaseGrant) -> Result<(), StoreError> {
        self.check_writable()?;
        self.renew_leases(executions, lease, false)
    }

    fn give_back(&self, claims: &[(String, u64)], lease: &LeaseGrant) -> Result<(), StoreError> {
        self.check_writable()?;
        self.renew_leases(claims, lease, true)
    }

    fn release(&self, job_id: &str, token: u64) -> Result<(), StoreError> {
        self.check_writable()?;
        self.release_lease(job_id, token)
    }

    fn claim_orphans(&self, sweep: &Sweep) -> Result<Swept, StoreError> {
        self.check_writable()?;
        self.claim(sweep)
    }

    fn claim_one(&self, job_id: &str, lease: &LeaseGrant) -> Result<Option<Claimed>, StoreError> {
        self.check_writable()?;
        self.claim_by_id(job_id, lease)
    }

    fn quarantine(
        &self,
        job_id: &str,
        token: u64,
        quarantine: &Quarantine,
    ) -> Result<bool, StoreError> {
        self.check_writable()?;
        self.quarantine_record(job_id, token, quarantine)
    }

    fn discard(&self, job_id: &str) -> Result<bool, StoreError> {
        self.check_writable()?;
        self.delete_keeping_floor("job_id = $1", &job_id)
            .map(|deleted| deleted == 1)
    }
}
