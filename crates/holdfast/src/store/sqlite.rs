//! The SQLite backend: the embedded default. One file in WAL mode; safe for
//! several processes on one host (Puma workers, job processes), which wait
//! for each other's writes up to `busy_timeout`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};

use super::backend::{
    begin_existing, current_columns, fresh_record, rejected, Backend, Begun, Columns, Write,
    COLUMNS,
};
use super::checksum;
use super::model::encode_steps;
use super::sqlite_schema::{connect, create_owner_only, create_schema, quick_check, RESEAL};
use super::{Claimed, Lease, ListQuery, Record, Start, State, StoreError, Sweep};

/// How hard a commit tries to reach the disk (SQLite's `synchronous`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every commit is fsynced: committed progress survives power loss.
    #[default]
    Full,
    /// Commits reach the OS but are fsynced only at WAL checkpoints:
    /// committed progress survives a process crash (SIGKILL, OOM kill), not
    /// a power loss or kernel crash.
    Normal,
}

#[derive(Clone, Debug)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    /// How long a write waits for another process's write to finish.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

pub struct SqliteBackend {
    location: String,
    /// Writes go through one connection; reads through another, so a
    /// `get` never waits behind a group commit (WAL lets them overlap).
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl SqliteBackend {
    pub fn open(path: impl AsRef<Path>, options: &SqliteOptions) -> Result<Self, StoreError> {
        if options.busy_timeout > crate::limits::MAX_BUSY_TIMEOUT {
            return Err(StoreError::invalid(format!(
                "busy_timeout must be at most {} ms (SQLite takes a C int), got {} ms",
                crate::limits::MAX_BUSY_TIMEOUT.as_millis(),
                options.busy_timeout.as_millis()
            )));
        }
        let path: PathBuf = path.as_ref().to_path_buf();
        let location = format!("SQLite store {}", path.display());
        create_owner_only(&path);
        let writer = connect(&path, &location, options)?;
        create_schema(&writer, &location)?;
        let reader = connect(&path, &location, options)?;
        quick_check(&path, &reader, &location)?;
        Ok(SqliteBackend {
            location,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    fn err(&self, error: rusqlite::Error) -> StoreError {
        sqlite_error(&self.location, error)
    }
}

pub(crate) fn sqlite_error(location: &str, error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &error {
        match failure.code {
            ErrorCode::NotADatabase => {
                return StoreError::NotADatabase {
                    location: location.to_owned(),
                    message: format!("SQLite says: {error}"),
                }
            }
            ErrorCode::DatabaseCorrupt => {
                return StoreError::Corrupt {
                    location: location.to_owned(),
                    job_id: None,
                    message: format!("SQLite says: {error}"),
                }
            }
            ErrorCode::DiskFull => {
                return StoreError::io(location, format!("the disk is full: {error}"))
            }
            ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied => {
                return StoreError::io(
                    location,
                    format!("{error} (the file and its directory must be writable by this process: SQLite creates -wal and -shm files beside it)"),
                )
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return StoreError::io(
                    location,
                    format!("{error}: another process held the write lock longer than busy_timeout"),
                )
            }
            _ => {}
        }
    }
    StoreError::io(location, error)
}

/// The columns a read selects: the record's, then its checksum.
fn select_columns() -> String {
    format!("{COLUMNS}, checksum")
}

/// A row of [`select_columns`] as a record, once its checksum matches.
fn read_record(location: &str, row: &Row<'_>) -> rusqlite::Result<Result<Record, StoreError>> {
    let values = (0..13)
        .map(|i| row.get_ref(i))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let stored: Option<i64> = row.get_ref(13)?.as_i64_or_null().ok().flatten();
    if stored != Some(checksum::of(values.iter().copied())) {
        let job_id = match values[0] {
            rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
            _ => "(unreadable id)".to_owned(),
        };
        return Ok(Err(StoreError::Corrupt {
            location: location.to_owned(),
            job_id: Some(job_id),
            message: "its checksum does not match its contents".to_owned(),
        }));
    }
    let columns = Columns {
        job_id: row.get(0)?,
        job_class: row.get(1)?,
        completed_steps: row.get(2)?,
        current_step: row.get(3)?,
        cursor: row.get(4)?,
        resumptions: row.get(5)?,
        token: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
        completed_at: row.get(9)?,
        payload: row.get(10)?,
        lease_owner: row.get(11)?,
        lease_expires_at: row.get(12)?,
    };
    Ok(columns.into_record(location))
}

impl SqliteBackend {
    fn select_one(
        connection: &Connection,
        location: &str,
        job_id: &str,
    ) -> Result<Option<Record>, StoreError> {
        connection
            .prepare_cached(&format!(
                "SELECT {} FROM holdfast_continuations WHERE job_id = ?1",
                select_columns()
            ))
            .and_then(|mut statement| {
                statement
                    .query_row([job_id], |row| read_record(location, row))
                    .optional()
            })
            .map_err(|e| sqlite_error(location, e))?
            .transpose()
    }
}

impl Backend for SqliteBackend {
    fn begin(&self, start: &Start) -> Result<Begun, StoreError> {
        let (job_id, job_class, now) = (start.job_id.as_str(), start.job_class.as_str(), start.at);
        let mut connection = self.writer.lock();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let existing = Self::select_one(&tx, &self.location, job_id)?;
        let begun = match existing {
            Some(mut record) => {
                let was_completed = begin_existing(&mut record, start);
                let lease = record.lease.as_ref();
                tx.execute(
                    "UPDATE holdfast_continuations SET token = ?2, resumptions = ?3, updated_at = ?4,
                       completed_steps = ?5, current_step = ?6, cursor = ?7, completed_at = NULL,
                       payload = ?8, lease_owner = ?9, lease_expires_at = ?10
                     WHERE job_id = ?1",
                    params![
                        job_id,
                        record.token as i64,
                        record.resumptions as i64,
                        now,
                        encode_steps(&record.progress.completed),
                        current_columns(&record.progress).0,
                        current_columns(&record.progress).1,
                        record.payload,
                        lease.map(|l| &l.owner),
                        lease.map(|l| l.expires_at),
                    ],
                )
                .map_err(|e| self.err(e))?;
                tx.execute(RESEAL, [job_id]).map_err(|e| self.err(e))?;
                Begun {
                    existed: true,
                    was_completed,
                    record,
                }
            }
            None => {
                let record = fresh_record(start);
                tx.execute(
                    &format!(
                        "INSERT INTO holdfast_continuations ({COLUMNS})
                         VALUES (?1, ?2, '[]', NULL, NULL, 0, 1, ?3, ?3, NULL, ?4, ?5, ?6)"
                    ),
                    params![
                        job_id,
                        job_class,
                        now,
                        start.payload,
                        start.lease.owner,
                        start.lease.expires_at
                    ],
                )
                .map_err(|e| self.err(e))?;
                tx.execute(RESEAL, [job_id]).map_err(|e| self.err(e))?;
                Begun {
                    existed: false,
                    was_completed: false,
                    record,
                }
            }
        };
        tx.commit().map_err(|e| self.err(e))?;
        Ok(begun)
    }

    fn write(&self, writes: &[Write]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut connection = self.writer.lock();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let mut outcomes = Vec::with_capacity(writes.len());
        {
            let mut update = tx
                .prepare_cached(
                    "UPDATE holdfast_continuations
                     SET completed_steps = ?3, current_step = ?4, cursor = ?5, updated_at = ?6,
                         completed_at = CASE WHEN ?7 THEN ?6 ELSE completed_at END,
                         lease_expires_at = CASE WHEN ?7 THEN NULL
                           WHEN ?8 IS NOT NULL AND lease_owner IS NOT NULL THEN ?8
                           ELSE lease_expires_at END,
                         lease_owner = CASE WHEN ?7 THEN NULL ELSE lease_owner END
                     WHERE job_id = ?1 AND token = ?2",
                )
                .map_err(|e| self.err(e))?;
            let mut reseal = tx.prepare_cached(RESEAL).map_err(|e| self.err(e))?;
            let mut token_of = tx
                .prepare_cached("SELECT token FROM holdfast_continuations WHERE job_id = ?1")
                .map_err(|e| self.err(e))?;
            for write in writes {
                let (step, cursor) = current_columns(&write.progress);
                let changed = update
                    .execute(params![
                        write.job_id,
                        write.token as i64,
                        encode_steps(&write.progress.completed),
                        step,
                        cursor,
                        write.at,
                        write.complete,
                        write.lease_until,
                    ])
                    .map_err(|e| self.err(e))?;
                if changed == 1 {
                    reseal.execute([&write.job_id]).map_err(|e| self.err(e))?;
                    outcomes.push(Ok(()));
                } else {
                    let stored: Option<i64> = token_of
                        .query_row([&write.job_id], |row| row.get(0))
                        .optional()
                        .map_err(|e| self.err(e))?;
                    outcomes.push(Err(rejected(
                        &write.job_id,
                        write.token,
                        stored.map(|t| t as u64),
                    )));
                }
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(outcomes)
    }

    fn get(&self, job_id: &str) -> Result<Option<Record>, StoreError> {
        let connection = self.reader.lock();
        Self::select_one(&connection, &self.location, job_id)
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Record>, StoreError> {
        let state = match query.state {
            State::Any => "1",
            State::InFlight => "completed_at IS NULL",
            State::Completed => "completed_at IS NOT NULL",
        };
        let order = if query.newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {} FROM holdfast_continuations
             WHERE {state} AND (?1 IS NULL OR job_class = ?1)
             ORDER BY updated_at {order}, job_id {order} LIMIT ?2",
            select_columns()
        );
        let connection = self.reader.lock();
        let mut statement = connection.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let rows = statement
            .query_map(params![query.job_class, limit], |row| {
                read_record(&self.location, row)
            })
            .map_err(|e| self.err(e))?;
        let mut records = Vec::new();
        for row in rows {
            records.push(row.map_err(|e| self.err(e))??);
        }
        Ok(records)
    }

    fn prune(&self, completed_before: Option<i64>) -> Result<u64, StoreError> {
        let connection = self.writer.lock();
        let deleted = connection
            .execute(
                "DELETE FROM holdfast_continuations
                 WHERE completed_at IS NOT NULL AND (?1 IS NULL OR completed_at < ?1)",
                [completed_before],
            )
            .map_err(|e| self.err(e))?;
        Ok(deleted as u64)
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn renew(&self, executions: &[(String, u64)], lease: &Lease) -> Result<(), StoreError> {
        if executions.is_empty() {
            return Ok(());
        }
        let mut connection = self.writer.lock();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        {
            let mut renew = tx
                .prepare_cached(
                    "UPDATE holdfast_continuations SET lease_expires_at = ?3
                     WHERE job_id = ?1 AND token = ?2 AND lease_owner = ?4 AND completed_at IS NULL",
                )
                .map_err(|e| self.err(e))?;
            let mut reseal = tx.prepare_cached(RESEAL).map_err(|e| self.err(e))?;
            for (job_id, token) in executions {
                let changed = renew
                    .execute(params![
                        job_id,
                        *token as i64,
                        lease.expires_at,
                        lease.owner
                    ])
                    .map_err(|e| self.err(e))?;
                if changed == 1 {
                    reseal.execute([job_id]).map_err(|e| self.err(e))?;
                }
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn release(&self, job_id: &str, token: u64) -> Result<(), StoreError> {
        let mut connection = self.writer.lock();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let changed = tx
            .execute(
                "UPDATE holdfast_continuations SET lease_owner = NULL, lease_expires_at = NULL
                 WHERE job_id = ?1 AND token = ?2 AND lease_owner IS NOT NULL",
                params![job_id, token as i64],
            )
            .map_err(|e| self.err(e))?;
        if changed == 1 {
            tx.execute(RESEAL, [job_id]).map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn claim_orphans(&self, sweep: &Sweep) -> Result<Vec<Claimed>, StoreError> {
        let (now, limit, lease) = (sweep.now, sweep.limit, &sweep.lease);
        let mut connection = self.writer.lock();
        // IMMEDIATE: the write lock first, so recoverers in other processes
        // take turns and the second finds the orphan already claimed.
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let orphans: Vec<Record> = {
            let mut statement = tx
                .prepare_cached(&format!(
                    "SELECT {} FROM holdfast_continuations
                     WHERE completed_at IS NULL AND lease_expires_at <= ?1 AND payload IS NOT NULL
                     ORDER BY lease_expires_at LIMIT ?2",
                    select_columns()
                ))
                .map_err(|e| self.err(e))?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = statement
                .query_map(params![now, limit], |row| read_record(&self.location, row))
                .map_err(|e| self.err(e))?;
            let mut orphans = Vec::new();
            for row in rows {
                orphans.push(row.map_err(|e| self.err(e))??);
            }
            orphans
        };
        let mut claimed = Vec::with_capacity(orphans.len());
        for orphan in orphans {
            let token = orphan.token + 1;
            tx.execute(
                "UPDATE holdfast_continuations SET token = ?3, lease_owner = ?4, lease_expires_at = ?5
                 WHERE job_id = ?1 AND token = ?2",
                params![orphan.job_id, orphan.token as i64, token as i64, lease.owner, lease.expires_at],
            )
            .map_err(|e| self.err(e))?;
            tx.execute(RESEAL, [&orphan.job_id])
                .map_err(|e| self.err(e))?;
            claimed.extend(Claimed::from_orphan(orphan, token));
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(claimed)
    }

    fn discard(&self, job_id: &str) -> Result<bool, StoreError> {
        let connection = self.writer.lock();
        let deleted = connection
            .execute(
                "DELETE FROM holdfast_continuations WHERE job_id = ?1",
                [job_id],
            )
            .map_err(|e| self.err(e))?;
        Ok(deleted == 1)
    }
}
