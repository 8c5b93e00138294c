//! `holdfast_store`: the durable continuation store for C. Every function
//! may block on disk or network I/O (SQLite waits up to its busy timeout
//! for other processes' writes; PostgreSQL for the server). Store handles
//! are thread-safe.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use holdfast::store::{
    record_json, records_json, Durability, Limits, ListQuery, PostgresOptions, SqliteOptions,
    State, Store, StoreError, StoreOptions, Synchronous,
};

use crate::buffers::{c_str_arg, str_arg, write_text, write_value};
use crate::error::{holdfast_status, Failure};
use crate::handles::{self, Handle};
use crate::panic::boundary;

/// Opaque store handle, made by a `holdfast_store_open_*` function and
/// released by `holdfast_store_free`.
pub struct holdfast_store {
    _private: [u8; 0],
}

/// When checkpoints reach the disk (`holdfast_store_options.durability`):
/// one of the `HOLDFAST_DURABILITY_*` values. A plain integer, not a C enum,
/// so a value outside them is an error Holdfast reports
/// (`HOLDFAST_INVALID_ARGUMENT`), never undefined behaviour.
pub type holdfast_durability = u32;
/// Each checkpoint returns once committed.
pub const HOLDFAST_DURABILITY_EVERY_CHECKPOINT: holdfast_durability = 0;
/// Write-behind: committed at most every `interval_ms`, many jobs per commit.
pub const HOLDFAST_DURABILITY_INTERVAL: holdfast_durability = 1;
/// Committed when a step completes or the job is interrupted.
pub const HOLDFAST_DURABILITY_STEP_BOUNDARIES: holdfast_durability = 2;

/// Options for opening a store. A zero-initialised struct (`= {0}`), or
/// NULL, means the defaults, field by field: every_checkpoint, 64 KiB
/// cursors, SQLite synchronous FULL with a 5 s busy timeout, PostgreSQL
/// table "holdfast_continuations", completed records kept until
/// `holdfast_store_prune`, 15 s leases. Set only the fields you want to
/// change.
#[repr(C)]
pub struct holdfast_store_options {
    pub durability: holdfast_durability,
    /// For `HOLDFAST_DURABILITY_INTERVAL`: at least 1.
    pub interval_ms: u64,
    /// 0 for the default (65536).
    pub max_cursor_bytes: usize,
    /// SQLite: true for synchronous NORMAL (survives a process crash, not a
    /// power loss); false for FULL (survives both).
    pub sqlite_synchronous_normal: bool,
    /// SQLite: 0 for the default (5000).
    pub sqlite_busy_timeout_ms: u64,
    /// PostgreSQL: NULL for the default table name.
    pub postgres_table: *const c_char,
    /// Positive: prune completed records older than this many milliseconds
    /// as jobs complete. 0 (the default) or negative: keep them until
    /// `holdfast_store_prune`.
    pub retention_ms: i64,
    /// How long an execution's lease lasts unless renewed (its checkpoints
    /// and the store's heartbeat thread renew it): 0 for the default
    /// (15000); from 1000 to 86400000. An execution whose lease ran out
    /// (its process died) is an orphan another process may claim.
    pub lease_ms: u64,
}

pub(crate) fn store_failure(error: StoreError) -> Failure {
    let status = match &error {
        StoreError::Stale { .. } => holdfast_status::HOLDFAST_STALE,
        StoreError::NotFound { .. } => holdfast_status::HOLDFAST_NOT_FOUND,
        StoreError::Limit { .. } => holdfast_status::HOLDFAST_LIMIT,
        StoreError::InvalidArgument(_) => holdfast_status::HOLDFAST_INVALID_ARGUMENT,
        StoreError::NotADatabase { .. } => holdfast_status::HOLDFAST_NOT_A_DATABASE,
        // A paused writer held the lock: an I/O failure to a C caller, its
        // message says which.
        StoreError::Io { .. } | StoreError::Busy { .. } => holdfast_status::HOLDFAST_IO,
        StoreError::Closed { .. } => holdfast_status::HOLDFAST_CLOSED,
        StoreError::Corrupt { .. } => holdfast_status::HOLDFAST_CORRUPT,
    };
    Failure::new(status, error.to_string())
}

struct Opened {
    store: StoreOptions,
    sqlite: SqliteOptions,
    postgres: PostgresOptions,
}

/// # Safety
/// `options` is NULL or points to a readable `holdfast_store_options`.
unsafe fn read_options(options: *const holdfast_store_options) -> Result<Opened, Failure> {
    let mut opened = Opened {
        store: StoreOptions::default(),
        sqlite: SqliteOptions::default(),
        postgres: PostgresOptions::default(),
    };
    if options.is_null() {
        return Ok(opened);
    }
    // SAFETY: non-NULL and readable per the contract.
    let o = unsafe { &*options };
    opened.store.durability = match o.durability {
        HOLDFAST_DURABILITY_EVERY_CHECKPOINT => Durability::EveryCheckpoint,
        HOLDFAST_DURABILITY_STEP_BOUNDARIES => Durability::StepBoundaries,
        HOLDFAST_DURABILITY_INTERVAL => {
            Durability::interval_ms(o.interval_ms).map_err(store_failure)?
        }
        other => {
            return Err(Failure::new(
                holdfast_status::HOLDFAST_INVALID_ARGUMENT,
                format!(
                    "durability {other} is not one of HOLDFAST_DURABILITY_EVERY_CHECKPOINT (0), \
                     HOLDFAST_DURABILITY_INTERVAL (1), HOLDFAST_DURABILITY_STEP_BOUNDARIES (2)"
                ),
            ))
        }
    };
    if o.max_cursor_bytes > 0 {
        opened.store.limits = Limits {
            max_cursor_bytes: o.max_cursor_bytes,
        };
    }
    if o.retention_ms > 0 {
        opened.store.retention = Some(Duration::from_millis(o.retention_ms as u64));
    }
    if o.lease_ms > 0 {
        opened.store.lease = Duration::from_millis(o.lease_ms);
    }
    if o.sqlite_synchronous_normal {
        opened.sqlite.synchronous = Synchronous::Normal;
    }
    if o.sqlite_busy_timeout_ms > 0 {
        opened.sqlite.busy_timeout = Duration::from_millis(o.sqlite_busy_timeout_ms);
    }
    if !o.postgres_table.is_null() {
        // SAFETY: non-NULL and NUL-terminated per the contract.
        opened.postgres.table =
            unsafe { c_str_arg(o.postgres_table, "postgres_table") }?.to_owned();
    }
    opened.store.check().map_err(store_failure)?;
    Ok(opened)
}

fn publish(store: Store, out: *mut *mut holdfast_store) -> Result<(), Failure> {
    let handle = handles::insert(Handle::Store(Arc::new(store)));
    // SAFETY: the callers checked `out` is non-NULL before opening.
    unsafe { *out = handle as *mut holdfast_store };
    Ok(())
}

fn require_out<T>(out: *mut *mut T) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_NULL_ARGUMENT,
            "out is NULL",
        ));
    }
    Ok(())
}

/// Opens (creating if needed) the SQLite store at `path` (NUL-terminated
/// UTF-8) and writes its handle to `*out`. Errors: `HOLDFAST_NOT_A_DATABASE`
/// (the file is something else; it is left alone), `HOLDFAST_IO` (the
/// directory is missing or not writable), `HOLDFAST_INVALID_ARGUMENT`.
///
/// # Safety
/// `path` is a NUL-terminated string; `options` NULL or readable; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_open_sqlite(
    path: *const c_char,
    options: *const holdfast_store_options,
    out: *mut *mut holdfast_store,
) -> holdfast_status {
    boundary("holdfast_store_open_sqlite", || {
        require_out(out)?;
        // SAFETY: the caller's contract, forwarded.
        let path = unsafe { c_str_arg(path, "path") }?;
        // SAFETY: the caller's contract, forwarded.
        let opened = unsafe { read_options(options) }?;
        let store = Store::sqlite(path, &opened.sqlite, opened.store).map_err(store_failure)?;
        publish(store, out)
    })
}

/// Connects to the PostgreSQL store at `url` (`postgres://user:password@host:port/db`,
/// or libpq's `key=value` form), creating its table if absent, and writes
/// the handle to `*out`. TLS follows libpq's `sslmode` (`disable`, `allow`,
/// `prefer` (the default), `require`, `verify-ca`, `verify-full`) and
/// `sslrootcert` (a PEM file, or `system`: the default roots for the
/// verify modes). Error messages never contain a password. Errors:
/// `HOLDFAST_INVALID_ARGUMENT` (a bad URL or TLS setting; nothing was
/// tried), `HOLDFAST_IO` (the server could not be reached or refused).
///
/// # Safety
/// `url` is a NUL-terminated string; `options` NULL or readable; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_open_postgres(
    url: *const c_char,
    options: *const holdfast_store_options,
    out: *mut *mut holdfast_store,
) -> holdfast_status {
    boundary("holdfast_store_open_postgres", || {
        require_out(out)?;
        // SAFETY: the caller's contract, forwarded.
        let url = unsafe { c_str_arg(url, "url") }?;
        // SAFETY: the caller's contract, forwarded.
        let opened = unsafe { read_options(options) }?;
        let store = Store::postgres(url, &opened.postgres, opened.store).map_err(store_failure)?;
        publish(store, out)
    })
}

/// Makes an in-memory store (progress lives as long as the handle).
///
/// # Safety
/// `options` NULL or readable; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_open_memory(
    options: *const holdfast_store_options,
    out: *mut *mut holdfast_store,
) -> holdfast_status {
    boundary("holdfast_store_open_memory", || {
        require_out(out)?;
        // SAFETY: the caller's contract, forwarded.
        let opened = unsafe { read_options(options) }?;
        publish(Store::memory(opened.store), out)
    })
}

/// Writes every job's pending progress now, in one transaction.
///
/// # Safety
/// None beyond passing a handle (checked).
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_flush(store: *const holdfast_store) -> holdfast_status {
    boundary("holdfast_store_flush", || {
        handles::store(store as usize)?
            .flush()
            .map_err(store_failure)
    })
}

/// Flushes and closes the store; later calls on it and its executions
/// return `HOLDFAST_CLOSED`. The handle must still be freed. Returns the
/// flush's error, if any.
///
/// # Safety
/// None beyond passing a handle (checked).
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_close(store: *const holdfast_store) -> holdfast_status {
    boundary("holdfast_store_close", || {
        handles::store(store as usize)?
            .close()
            .map_err(store_failure)
    })
}

/// Releases the handle; NULL is a no-op. The store closes (flushing pending
/// progress) once its executions are freed too; a flush that fails then is
/// reported on stderr, so call `holdfast_store_close` first to get it.
///
/// # Safety
/// None beyond passing a handle (checked).
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_free(store: *mut holdfast_store) -> holdfast_status {
    boundary("holdfast_store_free", || {
        handles::remove(store as usize, "holdfast_store")
    })
}

/// Writes the job's record as JSON (`job_id`, `job_class`, `completed`,
/// `current` {`step`, `cursor`, `cursor_base64`} or null, `resumptions`,
/// `token`, `created_at`, `updated_at`, `completed_at`; times in ms since
/// the epoch) into `buf`, NUL-terminated, and its length into `*out_len`.
/// `HOLDFAST_NOT_FOUND` if there is none; `HOLDFAST_BUFFER_TOO_SMALL` (with
/// the needed length in `*out_len`) if `len` is too small.
///
/// # Safety
/// `job_id` points to `job_id_len` bytes; `buf` is NULL (with `len` 0) or
/// `len` writable bytes; `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_get_json(
    store: *const holdfast_store,
    job_id: *const u8,
    job_id_len: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> holdfast_status {
    boundary("holdfast_store_get_json", || {
        let store = handles::store(store as usize)?;
        // SAFETY: the caller's contract, forwarded.
        let job_id = unsafe { str_arg(job_id, job_id_len, "job_id") }?;
        let record = store.get(job_id).map_err(store_failure)?.ok_or_else(|| {
            store_failure(StoreError::NotFound {
                job_id: job_id.to_owned(),
            })
        })?;
        let json = record_json(&record).to_string();
        // SAFETY: the caller's buffer contract, forwarded.
        unsafe { write_text(&json, buf, len, out_len, "the record") }
    })
}

/// Which records `holdfast_store_list_json` returns: one of the
/// `HOLDFAST_RECORDS_*` values (a plain integer, checked; see
/// `holdfast_durability`).
pub type holdfast_record_state = u32;
pub const HOLDFAST_RECORDS_ANY: holdfast_record_state = 0;
pub const HOLDFAST_RECORDS_IN_FLIGHT: holdfast_record_state = 1;
pub const HOLDFAST_RECORDS_COMPLETED: holdfast_record_state = 2;
/// In flight, and recovery quarantined it (a crash loop, or a job class
/// that does not load).
pub const HOLDFAST_RECORDS_QUARANTINED: holdfast_record_state = 3;

/// Writes a JSON array of records (as `holdfast_store_get_json` writes
/// one), at most `limit`, most recently updated first when
/// `newest_first`, of one job class when `job_class` is not NULL
/// (NUL-terminated). A record that fails its integrity check is listed as
/// `{"job_id": ..., "damaged": "what is wrong"}` and the rest still list.
/// Buffer handling as in `holdfast_store_get_json`.
///
/// # Safety
/// `job_class` NULL or NUL-terminated; `buf`/`out_len` as in `holdfast_store_get_json`.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_list_json(
    store: *const holdfast_store,
    state: holdfast_record_state,
    job_class: *const c_char,
    limit: usize,
    newest_first: bool,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> holdfast_status {
    boundary("holdfast_store_list_json", || {
        let store = handles::store(store as usize)?;
        let job_class = if job_class.is_null() {
            None
        } else {
            // SAFETY: non-NULL and NUL-terminated per the contract.
            Some(unsafe { c_str_arg(job_class, "job_class") }?.to_owned())
        };
        let query = ListQuery {
            state: match state {
                HOLDFAST_RECORDS_ANY => State::Any,
                HOLDFAST_RECORDS_IN_FLIGHT => State::InFlight,
                HOLDFAST_RECORDS_COMPLETED => State::Completed,
                HOLDFAST_RECORDS_QUARANTINED => State::Quarantined,
                other => {
                    return Err(Failure::new(
                        holdfast_status::HOLDFAST_INVALID_ARGUMENT,
                        format!(
                            "state {other} is not one of HOLDFAST_RECORDS_ANY (0), \
                             HOLDFAST_RECORDS_IN_FLIGHT (1), HOLDFAST_RECORDS_COMPLETED (2), \
                             HOLDFAST_RECORDS_QUARANTINED (3)"
                        ),
                    ))
                }
            },
            job_class,
            limit,
            newest_first,
        };
        let records = store.list(&query).map_err(store_failure)?;
        let json = records_json(&records).to_string();
        // SAFETY: the caller's buffer contract, forwarded.
        unsafe { write_text(&json, buf, len, out_len, "the list") }
    })
}

/// Deletes completed records completed before `completed_before_ms` (ms
/// since the epoch), or all completed records when it is negative. In-flight
/// records are never deleted. Writes how many went to `*out_deleted` (may
/// be NULL).
///
/// # Safety
/// `out_deleted` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_prune(
    store: *const holdfast_store,
    completed_before_ms: i64,
    out_deleted: *mut u64,
) -> holdfast_status {
    boundary("holdfast_store_prune", || {
        let store = handles::store(store as usize)?;
        let before = (completed_before_ms >= 0).then_some(completed_before_ms);
        let deleted = store.prune(before).map_err(store_failure)?;
        if !out_deleted.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { write_value(out_deleted, deleted, "out_deleted") }?;
        }
        Ok(())
    })
}
