//! The SQLite backend: the embedded default. One file in WAL mode; safe for
//! several processes on one host (Puma workers, job processes), which wait
//! for each other's writes up to `busy_timeout`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{
    params, Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior,
};

use super::backend::{
    begin_existing, current_columns, fresh_record, rejected, Backend, Begun, Columns, Write,
    COLUMNS,
};
use super::checksum;
use super::model::encode_steps;
use super::{ListQuery, Record, State, StoreError};

/// The schema this build writes (`PRAGMA user_version`). 2 added a
/// checksum per record; stores at 1 are migrated when opened.
const SCHEMA_VERSION: i64 = 2;

/// Files up to this size get SQLite's `quick_check` when opened (about a
/// second per few hundred MiB); larger ones are checked record by record
/// only, as they are read.
const QUICK_CHECK_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Stores a record's checksum over what the row now holds.
const RESEAL: &str = "UPDATE holdfast_continuations SET checksum = holdfast_checksum(job_id, job_class, \
     completed_steps, current_step, cursor, resumptions, token, created_at, updated_at, completed_at) \
     WHERE job_id = ?1";

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

/// Creates a new store file readable and writable by its owner only (jobs'
/// progress and arguments are the app's data); SQLite gives its -wal and
/// -shm files the same mode. An existing file keeps its mode. Failing here
/// is not an error: the open that follows reports what is wrong.
fn create_owner_only(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
}

fn connect(path: &Path, location: &str, options: &SqliteOptions) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(|e| {
        let hint = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
                format!(
                    " (the directory {} does not exist; create it first)",
                    dir.display()
                )
            }
            _ => " (check that the directory exists and this process may write to it)".to_owned(),
        };
        StoreError::io(
            location,
            format!("cannot open the database file: {e}{hint}"),
        )
    })?;
    connection
        .busy_timeout(options.busy_timeout)
        .map_err(|e| sqlite_error(location, e))?;
    checksum::register(&connection).map_err(|e| sqlite_error(location, e))?;
    // The first statement that reads the file: a file that is not a
    // database fails here, before anything is written to it.
    let mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| sqlite_error(location, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::io(
            location,
            format!("cannot switch the database to WAL mode (it stays in {mode} mode): is it on a network file system?"),
        ));
    }
    let synchronous = match options.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    connection
        .pragma_update(None, "synchronous", synchronous)
        .map_err(|e| sqlite_error(location, e))?;
    Ok(connection)
}

fn create_schema(connection: &Connection, location: &str) -> Result<(), StoreError> {
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| sqlite_error(location, e))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::io(
            location,
            format!("the store was written by a newer Holdfast (schema {version}; this one knows up to {SCHEMA_VERSION}); upgrade Holdfast"),
        ));
    }
    if version == SCHEMA_VERSION {
        // Already there: opening writes nothing, so a store on a full disk
        // (or one this process may only read) still opens and reads.
        return Ok(());
    }
    let create_or_migrate = if version == 1 {
        format!(
            "ALTER TABLE holdfast_continuations ADD COLUMN checksum INTEGER;
             {};",
            RESEAL.replace(" WHERE job_id = ?1", "")
        )
    } else {
        "CREATE TABLE IF NOT EXISTS holdfast_continuations (
           job_id TEXT PRIMARY KEY NOT NULL,
           job_class TEXT NOT NULL,
           completed_steps TEXT NOT NULL,
           current_step TEXT,
           cursor BLOB,
           resumptions INTEGER NOT NULL,
           token INTEGER NOT NULL,
           created_at INTEGER NOT NULL,
           updated_at INTEGER NOT NULL,
           completed_at INTEGER,
           checksum INTEGER
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS holdfast_continuations_by_update
           ON holdfast_continuations (completed_at, updated_at);"
            .to_owned()
    };
    connection
        .execute_batch(&format!(
            "BEGIN IMMEDIATE;
             {create_or_migrate}
             PRAGMA user_version = {SCHEMA_VERSION};
             COMMIT;"
        ))
        .map_err(|e| {
            let _ = connection.execute_batch("ROLLBACK");
            sqlite_error(location, e)
        })
}

/// SQLite's own structural check of the whole file, where that is cheap:
/// it finds damaged pages, including ones that would make records vanish
/// (which no per-record checksum can see).
fn quick_check(path: &Path, connection: &Connection, location: &str) -> Result<(), StoreError> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > QUICK_CHECK_MAX_BYTES {
        return Ok(());
    }
    let mut statement = connection
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| sqlite_error(location, e))?;
    let problems: Vec<String> = statement
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| sqlite_error(location, e))?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        location: location.to_owned(),
        job_id: None,
        message: format!("SQLite's quick_check says: {}", problems.join("; ")),
    })
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
    let values = (0..10)
        .map(|i| row.get_ref(i))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let stored: Option<i64> = row.get_ref(10)?.as_i64_or_null().ok().flatten();
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
    };
    Ok(columns.into_record(location))
}

impl Backend for SqliteBackend {
    fn begin(&self, job_id: &str, job_class: &str, now: i64) -> Result<Begun, StoreError> {
        let mut connection = self.writer.lock();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let existing = tx
            .query_row(
                &format!(
                    "SELECT {} FROM holdfast_continuations WHERE job_id = ?1",
                    select_columns()
                ),
                [job_id],
                |row| read_record(&self.location, row),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .transpose()?;
        let begun = match existing {
            Some(mut record) => {
                let was_completed = record.is_completed();
                begin_existing(&mut record, now);
                let sql = if was_completed {
                    "UPDATE holdfast_continuations SET token = ?2, resumptions = ?3, updated_at = ?4,
                     completed_steps = '[]', current_step = NULL, cursor = NULL, completed_at = NULL
                     WHERE job_id = ?1"
                } else {
                    "UPDATE holdfast_continuations SET token = ?2, resumptions = ?3, updated_at = ?4 WHERE job_id = ?1"
                };
                tx.execute(
                    sql,
                    params![job_id, record.token as i64, record.resumptions as i64, now],
                )
                .map_err(|e| self.err(e))?;
                tx.execute(RESEAL, [job_id]).map_err(|e| self.err(e))?;
                Begun {
                    existed: true,
                    record,
                }
            }
            None => {
                let record = fresh_record(job_id, job_class, now);
                tx.execute(
                    &format!("INSERT INTO holdfast_continuations ({COLUMNS}) VALUES (?1, ?2, '[]', NULL, NULL, 0, 1, ?3, ?3, NULL)"),
                    params![job_id, job_class, now],
                )
                .map_err(|e| self.err(e))?;
                tx.execute(RESEAL, [job_id]).map_err(|e| self.err(e))?;
                Begun {
                    existed: false,
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
                         completed_at = CASE WHEN ?7 THEN ?6 ELSE completed_at END
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
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT {} FROM holdfast_continuations WHERE job_id = ?1",
                select_columns()
            ))
            .map_err(|e| self.err(e))?;
        statement
            .query_row([job_id], |row| read_record(&self.location, row))
            .optional()
            .map_err(|e| self.err(e))?
            .transpose()
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
}
