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
use super::{ListQuery, Record, State, StoreError};

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
    table: String,
    connection: Mutex<Option<Connection>>,
}

struct Connection {
    client: Client,
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
        // CREATE ... IF NOT EXISTS races with itself (two sessions can both
        // decide to create and one fails on a catalog unique index): take a
        // transaction-scoped advisory lock named after the table first.
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
                     completed_at = CASE WHEN $7 THEN $6 ELSE completed_at END
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
    fn with_connection<T>(
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

    fn record(&self, row: &Row) -> Result<Record, DbError> {
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
enum DbError {
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
    fn begin(&self, job_id: &str, job_class: &str, now: i64) -> Result<Begun, StoreError> {
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
                    let was_completed = record.is_completed();
                    begin_existing(&mut record, now);
                    let restart = if was_completed {
                        ", completed_steps = '[]', current_step = NULL, cursor = NULL, completed_at = NULL"
                    } else {
                        ""
                    };
                    tx.execute(
                        &format!("UPDATE {table} SET token = $2, resumptions = $3, updated_at = $4{restart} WHERE job_id = $1"),
                        &[&job_id, &(record.token as i64), &(record.resumptions as i64), &now],
                    )?;
                    break Begun { existed: true, record };
                }
                let inserted = tx.execute(
                    &format!(
                        "INSERT INTO {table} ({COLUMNS}) VALUES ($1, $2, '[]', NULL, NULL, 0, 1, $3, $3, NULL)
                         ON CONFLICT (job_id) DO NOTHING"
                    ),
                    &[&job_id, &job_class, &now],
                )?;
                if inserted == 1 {
                    break Begun {
                        existed: false,
                        record: fresh_record(job_id, job_class, now),
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
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:s3cr3t@db.example:5432/jobs?sslmode=disable"),
            "postgres://app:***@db.example:5432/jobs?sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://app@db/jobs?password=s3cr3t&x=1"),
            "postgresql://app@db/jobs?password=***&x=1"
        );
        assert_eq!(
            redact("host=db user=app password=s3cr3t dbname=jobs"),
            "host=db user=app password=*** dbname=jobs"
        );
        assert_eq!(redact("postgres://db/jobs"), "postgres://db/jobs");
    }
}
