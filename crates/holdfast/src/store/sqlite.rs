//! The SQLite backend: the embedded default. One file in WAL mode; safe for
//! several processes on one host (Puma workers, job processes), which wait
//! for each other's writes up to `busy_timeout`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};

use super::backend::{
    begin_existing, current_columns, fresh_record, rejected, Backend, Begun, Columns, Write,
    COLUMNS, COLUMN_COUNT,
};
use super::checksum;
use super::clock::{boot_ms, boot_to_wall};
use super::model::encode_steps;
use super::sqlite_schema::{
    configure_writer, connect, create_owner_only, create_schema, expire_leases_of_earlier_boot,
    inspect, quick_check, stale_boot, Found, RESEAL, SCHEMA_VERSION,
};
use super::{
    Claimed, Lease, LeaseGrant, ListQuery, Listed, Quarantine, Record, Start, State, StoreError,
    Sweep, Swept,
};

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
    pub(super) location: String,
    /// Writes go through one connection; reads through another, so a
    /// `get` never waits behind a group commit (WAL lets them overlap).
    /// A store opened read-only has no writer.
    writer: Option<Mutex<Connection>>,
    reader: Mutex<Connection>,
    /// Read-only, and the file was last opened in an earlier boot: every
    /// lease in it is over (reads show them ended; nothing is written).
    leases_from_earlier_boot: bool,
}

impl SqliteBackend {
    /// Opens a store for reading only: nothing in the file is created,
    /// migrated or switched (no WAL switch, no schema); a missing or empty
    /// file, a database that is not a Holdfast store, and a store at an
    /// older schema are errors that leave it byte for byte as it was.
    pub fn open_read_only(
        path: impl AsRef<Path>,
        options: &SqliteOptions,
    ) -> Result<Self, StoreError> {
        let path: PathBuf = path.as_ref().to_path_buf();
        let location = format!("SQLite store {}", path.display());
        let reader = connect(&path, &location, options, true)?;
        match inspect(&reader, &location)? {
            Found::Holdfast(SCHEMA_VERSION) => {}
            Found::Empty => {
                return Err(StoreError::NotADatabase {
                    location,
                    message: "the file is empty: a read never makes it a store".to_owned(),
                })
            }
            Found::Holdfast(version) => {
                return Err(StoreError::io(
                    &location,
                    format!("the store is at schema {version}, from an older Holdfast; a read does not migrate it: \
                             start the app (or run `holdfast recover`) once to bring it to schema {SCHEMA_VERSION}"),
                ))
            }
        }
        quick_check(&path, &reader, &location)?;
        let leases_from_earlier_boot = stale_boot(&reader, &location)?;
        Ok(SqliteBackend {
            location,
            writer: None,
            reader: Mutex::new(reader),
            leases_from_earlier_boot,
        })
    }

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
        let writer = connect(&path, &location, options, false)?;
        // Refused before anything is written: a database of another
        // program stays byte for byte as it was.
        let found = inspect(&writer, &location)?;
        configure_writer(&writer, &location, options)?;
        if found != Found::Holdfast(SCHEMA_VERSION) {
            create_schema(&writer, &location)?;
        }
        expire_leases_of_earlier_boot(&writer, &location)?;
        let reader = connect(&path, &location, options, false)?;
        quick_check(&path, &reader, &location)?;
        Ok(SqliteBackend {
            location,
            writer: Some(Mutex::new(writer)),
            reader: Mutex::new(reader),
            leases_from_earlier_boot: false,
        })
    }

    pub(super) fn err(&self, error: rusqlite::Error) -> StoreError {
        sqlite_error(&self.location, error)
    }

    /// The writer's connection, or an error for a store opened read-only.
    pub(super) fn writer(&self) -> Result<parking_lot::MutexGuard<'_, Connection>, StoreError> {
        match &self.writer {
            Some(writer) => Ok(writer.lock()),
            None => Err(StoreError::invalid(format!(
                "{} was opened read-only (for list, show or a dry run); open it without read_only to change it",
                self.location
            ))),
        }
    }

    /// The store clock's reading for decoding leases read now.
    pub(super) fn clock(&self) -> ReadClock {
        ReadClock {
            now: boot_ms(),
            earlier_boot: self.leases_from_earlier_boot,
        }
    }
}

/// How to show the leases a read finds: the boot clock's reading, and
/// whether they are from an earlier boot (then all are over).
#[derive(Clone, Copy)]
pub(super) struct ReadClock {
    now: i64,
    earlier_boot: bool,
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
                return StoreError::Busy {
                    location: location.to_owned(),
                    message: format!(
                        "{error}: another process held the write lock longer than busy_timeout \
                         (is it paused, stopped or frozen?); nothing was written"
                    ),
                }
            }
            _ => {}
        }
    }
    StoreError::io(location, error)
}

/// The columns a read selects: the record's, then its checksum.
pub(super) fn select_columns() -> String {
    format!("{COLUMNS}, checksum")
}

/// A row of [`select_columns`] as a record, once its checksum matches.
pub(super) fn read_record(
    location: &str,
    clock: ReadClock,
    row: &Row<'_>,
) -> rusqlite::Result<Result<Record, StoreError>> {
    let values = (0..COLUMN_COUNT)
        .map(|i| row.get_ref(i))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let stored: Option<i64> = row.get_ref(COLUMN_COUNT)?.as_i64_or_null().ok().flatten();
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
        lease_expires_at: row.get::<_, Option<i64>>(12)?.map(|at| {
            if clock.earlier_boot {
                0
            } else {
                at
            }
        }),
        recoveries: row.get(13)?,
        recovery_mark: row.get(14)?,
        quarantined_at: row.get(15)?,
        quarantine_reason: row.get(16)?,
    };
    Ok(columns.into_record(location, &boot_to_wall))
}

impl SqliteBackend {
    pub(super) fn select_one(
        connection: &Connection,
        location: &str,
        clock: ReadClock,
        job_id: &str,
    ) -> Result<Option<Record>, StoreError> {
        connection
            .prepare_cached(&format!(
                "SELECT {} FROM holdfast_continuations WHERE job_id = ?1",
                select_columns()
            ))
            .and_then(|mut statement| {
                statement
                    .query_row([job_id], |row| read_record(location, clock, row))
                    .optional()
            })
            .map_err(|e| sqlite_error(location, e))?
            .transpose()
    }
}

impl Backend for SqliteBackend {
    fn begin(&self, start: &Start) -> Result<Begun, StoreError> {
        let (job_id, job_class, now) = (start.job_id.as_str(), start.job_class.as_str(), start.at);
        let mut connection = self.writer()?;
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let clock = self.clock();
        let expires_at = clock.now.saturating_add(start.lease.for_ms);
        let shown = Lease {
            owner: start.lease.owner.clone(),
            expires_at: boot_to_wall(expires_at),
        };
        let existing = Self::select_one(&tx, &self.location, clock, job_id)?;
        let begun = match existing {
            Some(mut record) => {
                let Some(was_completed) = begin_existing(&mut record, start, shown) else {
                    // A finished job begun again without restart: nothing
                    // changes, nothing is written.
                    return Ok(Begun {
                        existed: true,
                        was_completed: true,
                        began: false,
                        record,
                    });
                };
                tx.execute(
                    "UPDATE holdfast_continuations SET token = ?2, resumptions = ?3, updated_at = ?4,
                       completed_steps = ?5, current_step = ?6, cursor = ?7, completed_at = NULL,
                       payload = ?8, lease_owner = ?9, lease_expires_at = ?10,
                       quarantined_at = NULL, quarantine_reason = NULL
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
                        start.lease.owner,
                        expires_at,
                    ],
                )
                .map_err(|e| self.err(e))?;
                tx.execute(RESEAL, [job_id]).map_err(|e| self.err(e))?;
                Begun {
                    existed: true,
                    was_completed,
                    began: true,
                    record,
                }
            }
            None => {
                let record = fresh_record(start, token_floor(&tx).map_err(|e| self.err(e))?, shown);
                tx.execute(
                    &format!(
                        "INSERT INTO holdfast_continuations ({COLUMNS})
                         VALUES (?1, ?2, '[]', NULL, NULL, 0, ?7, ?3, ?3, NULL, ?4, ?5, ?6, 0, NULL, NULL, NULL)"
                    ),
                    params![
                        job_id,
                        job_class,
                        now,
                        start.payload,
                        start.lease.owner,
                        expires_at,
                        record.token as i64,
                    ],
                )
                .map_err(|e| self.err(e))?;
                tx.execute(RESEAL, [job_id]).map_err(|e| self.err(e))?;
                Begun {
                    existed: false,
                    was_completed: false,
                    began: true,
                    record,
                }
            }
        };
        tx.commit().map_err(|e| self.err(e))?;
        Ok(begun)
    }

    fn write(&self, writes: &[Write]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut connection = self.writer()?;
        let boot_now = boot_ms();
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
                        write.renew_for.map(|ms| boot_now.saturating_add(ms)),
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
        Self::select_one(&connection, &self.location, self.clock(), job_id)
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Listed>, StoreError> {
        let state = match query.state {
            State::Any => "1",
            State::InFlight => "completed_at IS NULL",
            State::Completed => "completed_at IS NOT NULL",
            State::Quarantined => "completed_at IS NULL AND quarantined_at IS NOT NULL",
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
        let clock = self.clock();
        let rows = statement
            .query_map(params![query.job_class, limit], |row| {
                read_record(&self.location, clock, row)
            })
            .map_err(|e| self.err(e))?;
        let mut records = Vec::new();
        for row in rows {
            // A damaged record is an entry of its own; the rest still list.
            records.push(row.map_err(|e| self.err(e))?);
        }
        Ok(records)
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn prune(&self, completed_before: Option<i64>) -> Result<u64, StoreError> {
        self.prune_keeping_floor(completed_before)
    }

    fn renew(&self, executions: &[(String, u64)], lease: &LeaseGrant) -> Result<(), StoreError> {
        self.renew_leases(executions, lease, false)
    }

    fn give_back(&self, claims: &[(String, u64)], lease: &LeaseGrant) -> Result<(), StoreError> {
        self.renew_leases(claims, lease, true)
    }

    fn release(&self, job_id: &str, token: u64) -> Result<(), StoreError> {
        self.release_lease(job_id, token)
    }

    fn claim_orphans(&self, sweep: &Sweep) -> Result<Swept, StoreError> {
        self.claim(sweep)
    }

    fn claim_one(&self, job_id: &str, lease: &LeaseGrant) -> Result<Option<Claimed>, StoreError> {
        self.claim_by_id(job_id, lease)
    }

    fn quarantine(
        &self,
        job_id: &str,
        token: u64,
        quarantine: &Quarantine,
    ) -> Result<bool, StoreError> {
        self.quarantine_record(job_id, token, quarantine)
    }

    fn discard(&self, job_id: &str) -> Result<bool, StoreError> {
        self.discard_keeping_floor(job_id)
    }
}

/// The highest token of any record this store deleted (new records start
/// above it).
pub(super) fn token_floor(connection: &Connection) -> rusqlite::Result<u64> {
    let floor: Option<i64> = connection
        .query_row(
            "SELECT value FROM holdfast_meta WHERE key = 'token_floor'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(floor.unwrap_or(0).max(0) as u64)
}
