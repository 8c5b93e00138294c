//! The durable continuation store: one record per job id, behind one
//! [`Backend`] trait (memory, SQLite, PostgreSQL), with a [`Durability`]
//! policy deciding when progress reaches the disk and fencing tokens
//! deciding who may write.
//!
//! Fencing: every [`Store::begin_execution`] gets a token newer than all
//! earlier ones for that job; a write with an older token is rejected as
//! [`StoreError::Stale`] and writes nothing, so progress never regresses.

mod backend;
pub mod busy;
mod checksum;
mod clock;
mod durability;
mod error;
mod group_commit;
mod json;
mod leases;
mod memory;
mod model;
mod postgres;
mod postgres_conninfo;
mod postgres_leases;
mod postgres_schema;
mod postgres_tls;
mod run;
mod sqlite;
mod sqlite_recovery;
mod sqlite_schema;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

pub use backend::{Backend, Begun, Write};
pub use durability::{Checkpoint, Durability};
pub use error::StoreError;
pub use json::{damaged_json, record_json, records_json};
pub use leases::process_owner;
pub use memory::MemoryBackend;
pub use model::{
    now_ms, Claimed, Current, Lease, LeaseGrant, Limits, ListQuery, Listed, Progress, Quarantine,
    Quarantined, Record, Start, State, Sweep, Swept, DEFAULT_MAX_CURSOR_BYTES, MAX_ID_BYTES,
    MAX_PAYLOAD_BYTES, MAX_STEP_BYTES,
};
pub use postgres::{redact as redact_url, PostgresBackend, PostgresOptions};
pub use run::Run;
pub use sqlite::{SqliteBackend, SqliteOptions, Synchronous};

/// Settings every backend shares.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub durability: Durability,
    pub limits: Limits,
    /// Completed records older than this are pruned as jobs complete
    /// (checked at most once a minute); `None` keeps them until `prune`.
    pub retention: Option<Duration>,
    /// How long a running execution's lease lasts unless renewed (each
    /// checkpoint renews it, and so does this process's heartbeat, every
    /// third of it). An execution whose lease ran out is an orphan that
    /// recovery may re-enqueue.
    pub lease: Duration,
    /// How long a recovery claim holds a job for the copy it re-enqueued:
    /// until that copy begins, or this long if it never does (a backlog
    /// longer than this, a copy the queue lost). Then the job may be
    /// claimed again (counted; a stale copy that runs after the job
    /// completed does nothing).
    pub recovery_timeout: Duration,
    /// Recoveries in a row that find a job where the previous one did
    /// before it is quarantined instead of re-enqueued (a crash loop).
    pub max_recoveries: u64,
}

/// The default lease: long enough for a stalled disk or a GC pause, short
/// enough that a killed job is back within half a minute.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

/// The default recovery timeout: a re-enqueued orphan may wait an hour in a
/// busy queue before recovery takes it again.
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// The default crash-loop bound.
pub const DEFAULT_MAX_RECOVERIES: u64 = 3;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::default(),
            limits: Limits::default(),
            retention: None,
            lease: DEFAULT_LEASE,
            recovery_timeout: DEFAULT_RECOVERY_TIMEOUT,
            max_recoveries: DEFAULT_MAX_RECOVERIES,
        }
    }
}

impl StoreOptions {
    /// The range checks the C and Ruby layers run on options they were
    /// handed, before a store opens.
    pub fn check(&self) -> Result<(), StoreError> {
        if let Some(retention) = self.retention {
            if retention > crate::limits::MAX_DURATION {
                return Err(StoreError::invalid(format!(
                    "retention must be at most {} ms (ten years); keep records until pruned instead",
                    crate::limits::MAX_DURATION.as_millis()
                )));
            }
        }
        if self.lease < Duration::from_secs(1) || self.lease > Duration::from_secs(24 * 60 * 60) {
            return Err(StoreError::invalid(format!(
                "lease must be from 1 s to 1 day, got {} ms",
                self.lease.as_millis()
            )));
        }
        if self.recovery_timeout < Duration::from_secs(1)
            || self.recovery_timeout > Duration::from_secs(7 * 24 * 60 * 60)
        {
            return Err(StoreError::invalid(format!(
                "recovery_timeout must be from 1 s to 7 days, got {} ms",
                self.recovery_timeout.as_millis()
            )));
        }
        if self.max_recoveries == 0 || self.max_recoveries > 1000 {
            return Err(StoreError::invalid(format!(
                "max_recoveries must be from 1 to 1000, got {}",
                self.max_recoveries
            )));
        }
        if self.limits.max_cursor_bytes == 0 || self.limits.max_cursor_bytes > MAX_CURSOR_LIMIT {
            return Err(StoreError::invalid(format!(
                "max_cursor_bytes must be from 1 to {MAX_CURSOR_LIMIT}, got {}",
                self.limits.max_cursor_bytes
            )));
        }
        Ok(())
    }
}

/// The largest cursor limit a store takes (a cursor is a position; 16 MiB
/// is far past any sensible one).
pub const MAX_CURSOR_LIMIT: usize = 16 * 1024 * 1024;

/// One execution of a job: its fencing token and the progress it resumes
/// from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    pub job_id: String,
    pub job_class: String,
    pub token: u64,
    /// The record as this execution found it (with its new token): its
    /// progress is where the job resumes.
    pub record: Record,
    /// Whether a record existed before (false for a fresh job).
    pub existed: bool,
    /// Whether that record was completed: with `restart` this execution
    /// starts the job over (its record now shows no progress); without,
    /// nothing began (`began` is false).
    pub was_completed: bool,
    /// Whether an execution began. False when the job's record is
    /// completed and no restart was asked: a stale copy of a finished job
    /// (recovered twice, redelivered, an old retry) must do nothing; the
    /// record is as it was and every write through this execution is
    /// refused.
    pub began: bool,
}

/// How [`Store::begin`] starts an execution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Begin<'a> {
    /// What recovery re-enqueues should this process die mid-run (for
    /// Active Job, the serialized job); without one the record is never
    /// claimed.
    pub payload: Option<&'a str>,
    /// Start a completed record over (an explicit rerun); otherwise a
    /// completed record is left as it is.
    pub restart: bool,
}

pub struct Store {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
    heartbeat: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    backend: Box<dyn Backend>,
    options: StoreOptions,
    pending: Mutex<Pending>,
    /// Wakes the background writer (new dirty progress, or closing).
    wake: Condvar,
    /// Held across every backend write, so one job's writes land in the
    /// order they were made. Taken before `pending`, never after.
    io: Mutex<()>,
    /// Synchronous writes waiting to share a commit.
    group: group_commit::GroupCommit,
    /// Wakes the heartbeat (closing).
    heartbeat_wake: Condvar,
}

#[derive(Default)]
struct Pending {
    /// Progress accepted but not yet written, per job (the latest only).
    dirty: HashMap<String, Write>,
    /// The batch a flush is writing now: taken out of `dirty`, not yet
    /// committed. Reads overlay it too, or a read in between would see the
    /// stored progress from before it.
    writing: Option<Arc<Vec<Write>>>,
    /// Write failures not yet reported; the job's next checkpoint gets it.
    failed: HashMap<String, StoreError>,
    /// The newest token this process handed out per in-flight job, so a
    /// stale execution is refused without a round trip.
    newest: HashMap<String, u64>,
    /// Executions running in this process (job id → token): the heartbeat
    /// renews their leases.
    running: HashMap<String, u64>,
    stopping: bool,
    closed: bool,
    last_retention_prune: i64,
}

impl Store {
    pub fn open(backend: Box<dyn Backend>, options: StoreOptions) -> Store {
        let interval = match options.durability {
            Durability::Interval(every) => Some(every),
            _ => None,
        };
        let shared = Arc::new(Shared {
            backend,
            options,
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            io: Mutex::new(()),
            group: group_commit::GroupCommit::default(),
            heartbeat_wake: Condvar::new(),
        });
        let writer = interval.and_then(|every| writer::spawn(Arc::clone(&shared), every));
        let heartbeat = leases::spawn_heartbeat(Arc::clone(&shared));
        Store {
            shared,
            writer: Mutex::new(writer),
            heartbeat: Mutex::new(heartbeat),
        }
    }

    pub fn memory(options: StoreOptions) -> Store {
        Store::open(Box::new(MemoryBackend::new()), options)
    }

    pub fn sqlite(
        path: impl AsRef<Path>,
        sqlite: &SqliteOptions,
        options: StoreOptions,
    ) -> Result<Store, StoreError> {
        Ok(Store::open(
            Box::new(SqliteBackend::open(path, sqlite)?),
            options,
        ))
    }

    /// Opens a SQLite store to read it only (list, show, a dry run):
    /// nothing in the file is created, migrated or switched, and every write
    /// is refused.
    pub fn sqlite_read_only(
        path: impl AsRef<Path>,
        sqlite: &SqliteOptions,
        options: StoreOptions,
    ) -> Result<Store, StoreError> {
        Ok(Store::open(
            Box::new(SqliteBackend::open_read_only(path, sqlite)?),
            options,
        ))
    }

    pub fn postgres(
        url: &str,
        postgres: &PostgresOptions,
        options: StoreOptions,
    ) -> Result<Store, StoreError> {
        Ok(Store::open(
            Box::new(PostgresBackend::connect(url, postgres)?),
            options,
        ))
    }

    /// Where the store is (a path, or a URL without its password).
    pub fn location(&self) -> &str {
        self.shared.backend.location()
    }

    pub fn durability(&self) -> Durability {
        self.shared.options.durability
    }

    pub fn limits(&self) -> Limits {
        self.shared.options.limits
    }

    /// Starts an execution without a payload to recover it from (see
    /// [`Store::begin`]).
    pub fn begin_execution(&self, job_id: &str, job_class: &str) -> Result<Execution, StoreError> {
        self.begin(job_id, job_class, Begin::default())
    }

    /// Starts an execution with a payload (see [`Store::begin`]).
    pub fn begin_execution_with(
        &self,
        job_id: &str,
        job_class: &str,
        payload: Option<&str>,
    ) -> Result<Execution, StoreError> {
        self.begin(
            job_id,
            job_class,
            Begin {
                payload,
                restart: false,
            },
        )
    }

    /// Starts an execution: writes out any progress this process still
    /// holds for the job, then, in one store operation, takes a new fencing
    /// token and a lease — unless the record is completed and `restart` was
    /// not asked, when nothing begins (see [`Execution::began`]). The
    /// returned record's progress is where the job resumes.
    pub fn begin(
        &self,
        job_id: &str,
        job_class: &str,
        begin: Begin<'_>,
    ) -> Result<Execution, StoreError> {
        let limits = self.shared.options.limits;
        limits.check_job_id(job_id)?;
        limits.check_job_class(job_class)?;
        limits.check_payload(begin.payload)?;
        self.shared.check_open()?;
        match self.shared.flush(Some(job_id)) {
            Ok(()) | Err(StoreError::Stale { .. } | StoreError::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
        let start = Start {
            job_id: job_id.to_owned(),
            job_class: job_class.to_owned(),
            at: now_ms(),
            payload: begin.payload.map(str::to_owned),
            lease: self.shared.grant(self.shared.options.lease),
            restart: begin.restart,
        };
        let begun = self
            .shared
            .retry_busy(|| self.shared.backend.begin(&start))?;
        let token = begun.record.token;
        if begun.began {
            let mut pending = self.shared.pending.lock();
            pending.failed.remove(job_id);
            pending.newest.insert(job_id.to_owned(), token);
            pending.running.insert(job_id.to_owned(), token);
        }
        Ok(Execution {
            job_id: job_id.to_owned(),
            job_class: job_class.to_owned(),
            token,
            record: begun.record,
            existed: begun.existed,
            was_completed: begun.was_completed,
            began: begun.began,
        })
    }

    /// Records `progress` under the durability policy. Returns
    /// [`StoreError::Stale`] (nothing written) when a newer execution took
    /// the job, and the error of an earlier write-behind flush of this job
    /// that failed (its progress is kept and retried).
    pub fn checkpoint(
        &self,
        execution: &Execution,
        progress: Progress,
        kind: Checkpoint,
    ) -> Result<(), StoreError> {
        self.shared.options.limits.check_progress(&progress)?;
        execution.check_began()?;
        let write = Write {
            job_id: execution.job_id.clone(),
            token: execution.token,
            progress,
            complete: false,
            at: now_ms(),
            renew_for: Some(self.shared.options.lease.as_millis() as i64),
        };
        let at_once = self.shared.options.durability.writes_at_once(kind);
        {
            let mut pending = self.shared.pending.lock();
            if pending.closed {
                return Err(self.shared.closed());
            }
            // An earlier write of this job failed (disk full, server
            // gone): this checkpoint is written now, whatever the policy,
            // so its answer is the truth about the newest progress rather
            // than an old error for progress a retry may since have written.
            let retry = match pending.failed.remove(&execution.job_id) {
                Some(StoreError::Io { .. } | StoreError::Busy { .. }) => true,
                Some(error) => return Err(error),
                None => false,
            };
            pending.refuse_stale(execution)?;
            if !at_once && !retry {
                let was_idle = pending.dirty.is_empty();
                pending.dirty.insert(execution.job_id.clone(), write);
                if was_idle {
                    self.shared.wake.notify_one();
                }
                return Ok(());
            }
        }
        self.shared.write_now(write)
    }

    /// Marks the job's record completed with its final progress (written at
    /// once, under every policy).
    pub fn complete(&self, execution: &Execution, progress: Progress) -> Result<(), StoreError> {
        self.shared.options.limits.check_progress(&progress)?;
        execution.check_began()?;
        {
            let mut pending = self.shared.pending.lock();
            if pending.closed {
                return Err(self.shared.closed());
            }
            pending.refuse_stale(execution)?;
            pending.failed.remove(&execution.job_id);
        }
        let now = now_ms();
        self.shared.write_now(Write {
            job_id: execution.job_id.clone(),
            token: execution.token,
            progress,
            complete: true,
            at: now,
            renew_for: None,
        })?;
        {
            let mut pending = self.shared.pending.lock();
            if pending.newest.get(&execution.job_id) == Some(&execution.token) {
                pending.newest.remove(&execution.job_id);
            }
            pending.forget_running(execution);
        }
        self.shared.prune_for_retention(now)
    }

    /// The job's record, including progress accepted but not yet written.
    pub fn get(&self, job_id: &str) -> Result<Option<Record>, StoreError> {
        self.shared.check_open()?;
        let record = self.shared.backend.get(job_id)?;
        Ok(record.map(|r| self.shared.with_pending(r)))
    }

    /// Records by `query`. A damaged record is an `Err` entry of its own
    /// ([`StoreError::Corrupt`] naming the job), so one bad record never
    /// hides the rest.
    pub fn list(&self, query: &ListQuery) -> Result<Vec<Listed>, StoreError> {
        self.shared.check_open()?;
        let records = self.shared.backend.list(query)?;
        Ok(records
            .into_iter()
            .map(|r| r.map(|r| self.shared.with_pending(r)))
            .collect())
    }

    /// Deletes completed records: those completed before `completed_before`
    /// (ms since the epoch), or all. In-flight records are never pruned.
    /// Their tokens are kept as the store's floor: a job id used again
    /// later starts above them.
    pub fn prune(&self, completed_before: Option<i64>) -> Result<u64, StoreError> {
        self.shared.check_open()?;
        self.shared.backend.prune(completed_before)
    }

    /// Writes every job's pending progress now, in one transaction.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.shared.check_open()?;
        self.shared.flush(None)
    }

    /// Stops the background writer and writes what is pending. Later calls
    /// get [`StoreError::Closed`]; closing again is a no-op.
    pub fn close(&self) -> Result<(), StoreError> {
        {
            let mut pending = self.shared.pending.lock();
            if pending.closed {
                return Ok(());
            }
            pending.stopping = true;
            self.shared.wake.notify_all();
        }
        if let Some(writer) = self.writer.lock().take() {
            // A panicked writer has nothing left to give; the flush below
            // still writes what is pending.
            let _ = writer.join();
        }
        self.shared.heartbeat_wake.notify_all();
        if let Some(heartbeat) = self.heartbeat.lock().take() {
            let _ = heartbeat.join();
        }
        let flushed = self.shared.flush(None);
        self.shared.pending.lock().closed = true;
        flushed
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            // Drop cannot return it; a lost write must not pass in silence.
            eprintln!("holdfast: closing {}: {error}", self.location());
        }
    }
}

impl Execution {
    /// Writes through an execution that never began (its job had
    /// completed) are refused: the finished record stays as it is.
    fn check_began(&self) -> Result<(), StoreError> {
        if self.began {
            return Ok(());
        }
        Err(StoreError::invalid(format!(
            "job {:?} already completed, so this execution did not begin and may not write; \
             begin it with restart to run the job again",
            self.job_id
        )))
    }
}

impl Pending {
    /// The execution no longer runs here: no more heartbeats for it.
    fn forget_running(&mut self, execution: &Execution) {
        if self.running.get(&execution.job_id) == Some(&execution.token) {
            self.running.remove(&execution.job_id);
        }
    }

    fn refuse_stale(&self, execution: &Execution) -> Result<(), StoreError> {
        match self.newest.get(&execution.job_id) {
            Some(&newest) if newest > execution.token => Err(StoreError::Stale {
                job_id: execution.job_id.clone(),
                token: execution.token,
                newest: Some(newest),
            }),
            _ => Ok(()),
        }
    }
}

impl Shared {
    fn closed(&self) -> StoreError {
        StoreError::Closed {
            location: self.backend.location().to_owned(),
        }
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.pending.lock().closed {
            return Err(self.closed());
        }
        Ok(())
    }

    /// Writes pending progress (one job's, or all) in one transaction.
    /// Failures are also recorded per job for its next checkpoint.
    fn flush(&self, only: Option<&str>) -> Result<(), StoreError> {
        let _io = self.io.lock();
        let batch: Arc<Vec<Write>> = {
            let mut pending = self.pending.lock();
            let batch: Vec<Write> = match only {
                Some(job_id) => pending.dirty.remove(job_id).into_iter().collect(),
                None => pending.dirty.drain().map(|(_, write)| write).collect(),
            };
            if batch.is_empty() {
                return Ok(());
            }
            let batch = Arc::new(batch);
            pending.writing = Some(Arc::clone(&batch));
            batch
        };
        let written = self.retry_busy(|| self.backend.write(&batch));
        // Written or not, the batch is no longer in flight: reads see the
        // store, and a failed batch goes back to `dirty` below.
        self.pending.lock().writing = None;
        let batch = Arc::try_unwrap(batch).unwrap_or_else(|shared| (*shared).clone());
        match written {
            Ok(outcomes) => {
                let mut first = Ok(());
                let mut pending = self.pending.lock();
                for (write, outcome) in batch.into_iter().zip(outcomes) {
                    match outcome {
                        // Written: an earlier failure of this job is moot.
                        Ok(()) => {
                            pending.failed.remove(&write.job_id);
                        }
                        Err(error) => {
                            if first.is_ok() {
                                first = Err(error.clone());
                            }
                            pending.failed.insert(write.job_id, error);
                        }
                    }
                }
                first
            }
            Err(error) => {
                let mut pending = self.pending.lock();
                for write in batch {
                    pending.failed.insert(write.job_id.clone(), error.clone());
                    pending.dirty.entry(write.job_id.clone()).or_insert(write);
                }
                Err(error)
            }
        }
    }

    fn with_pending(&self, mut record: Record) -> Record {
        let pending = self.pending.lock();
        let in_flight = || {
            pending
                .writing
                .as_ref()
                .and_then(|batch| batch.iter().find(|write| write.job_id == record.job_id))
        };
        if let Some(write) = pending.dirty.get(&record.job_id).or_else(in_flight) {
            if write.token == record.token {
                record.progress = write.progress.clone();
                record.updated_at = write.at;
            }
        }
        record
    }

    fn prune_for_retention(&self, now: i64) -> Result<(), StoreError> {
        let Some(retention) = self.options.retention else {
            return Ok(());
        };
        {
            let mut pending = self.pending.lock();
            if !retention.is_zero() && now - pending.last_retention_prune < 60_000 {
                return Ok(());
            }
            pending.last_retention_prune = now;
        }
        let cutoff = now.saturating_sub(retention.as_millis() as i64);
        // Zero retention deletes the record just completed too.
        let cutoff = if retention.is_zero() { now + 1 } else { cutoff };
        self.backend.prune(Some(cutoff)).map(|_| ())
    }

    /// Runs a write that another process's write lock may hold up, trying
    /// again for up to one lease (see `busy`). After a lease the error
    /// stands: by then this execution's own lease may be gone too.
    fn retry_busy<T>(&self, op: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
        busy::retry(self.options.lease, op)
    }
}
