//! What the store keeps per job, and the limits on it.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Checkpoint, StoreError};

/// A job's progress: the steps it finished, in order, and the step it is in
/// with that step's cursor (opaque bytes: the Ruby layer stores ActiveJob's
/// serialized JSON; `None` means the step has not advanced yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub completed: Vec<String>,
    pub current: Option<Current>,
}

/// The step a job is inside, and how far it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    pub step: String,
    pub cursor: Option<Vec<u8>>,
}

impl Progress {
    /// No step completed or started: a fresh job.
    pub fn is_empty(&self) -> bool {
        self.completed.is_empty() && self.current.is_none()
    }

    /// What moving from `self` to `next` is: a cursor move inside the same
    /// step, or a step boundary (a step completed or another started).
    pub fn move_to(&self, next: &Progress) -> Checkpoint {
        let same_step = match (&self.current, &next.current) {
            (Some(a), Some(b)) => a.step == b.step,
            (None, None) => true,
            _ => false,
        };
        if same_step && self.completed == next.completed {
            Checkpoint::Cursor
        } else {
            Checkpoint::StepBoundary
        }
    }
}

/// One job's stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub job_id: String,
    pub job_class: String,
    pub progress: Progress,
    /// Executions that started with progress already stored.
    pub resumptions: u64,
    /// The newest execution's fencing token; only it may write.
    pub token: u64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
    /// What the latest execution was started from (for Active Job, the
    /// job's serialized payload as JSON text): what recovery re-enqueues.
    pub payload: Option<String>,
    /// Held while an execution runs; `None` once it completed, stopped or
    /// released it (or for records from before leases).
    pub lease: Option<Lease>,
    /// Recoveries in a row that found the job where the previous one did
    /// (no step completed, no cursor moved in between): a crash loop when
    /// it passes the store's `max_recoveries`.
    pub recoveries: u64,
    /// The progress the last recovery found, as [`Progress::mark`].
    pub recovery_mark: Option<i64>,
    /// Set when recovery stopped re-enqueuing the job (a crash loop, a
    /// job class that no longer loads): it waits for an operator.
    pub quarantine: Option<Quarantine>,
}

/// Why and when recovery gave up on a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantine {
    pub at: i64,
    pub reason: String,
}

impl Record {
    pub fn is_completed(&self) -> bool {
        self.completed_at.is_some()
    }

    /// In flight, leased, and the lease ran out by `now` (the reader's
    /// clock: records carry lease expiries converted to it): its execution
    /// is gone (killed, or its host is), and nothing will bring it back but
    /// recovery.
    pub fn is_orphaned(&self, now: i64) -> bool {
        !self.is_completed()
            && self.quarantine.is_none()
            && self
                .lease
                .as_ref()
                .is_some_and(|lease| lease.expires_at <= now)
    }
}

impl Progress {
    /// A fingerprint of this progress: two recoveries that find the same
    /// mark found the job where it was (it made no progress in between).
    pub fn mark(&self) -> i64 {
        let mut text = encode_steps(&self.completed);
        if let Some(current) = &self.current {
            text.push('\u{1}');
            text.push_str(&current.step);
            text.push('\u{1}');
            if let Some(cursor) = &current.cursor {
                text.push_str(&String::from_utf8_lossy(cursor));
            }
        }
        super::checksum::of_bytes(text.as_bytes())
    }
}

/// Who runs a job's execution, and until when that claim holds unless
/// renewed (by its checkpoints and its process's heartbeat).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// `host:pid:process-id` of the process running the execution.
    pub owner: String,
    /// Milliseconds since the Unix epoch, on the clock of the process that
    /// read the record. The store keeps leases on its own clock (the
    /// database server's, or the host's boot clock for SQLite) and judges
    /// expiry there; this is that expiry as seen from here, for showing.
    pub expires_at: i64,
}

/// A lease to take or renew: its owner and how long it lasts from now, on
/// the store's own clock (no caller's wall clock decides when it ends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseGrant {
    pub owner: String,
    pub for_ms: i64,
}

/// How an execution starts: which job, when (milliseconds since the Unix
/// epoch), what recovery would re-enqueue, the lease, and whether a
/// completed record is started over (`restart`) or left alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    pub job_id: String,
    pub job_class: String,
    pub at: i64,
    pub payload: Option<String>,
    pub lease: LeaseGrant,
    pub restart: bool,
}

/// An orphan that recovery claimed: its record now carries a new token (so
/// the dead execution is fenced off even if it comes back) and the
/// recoverer's lease, and `payload` is what to re-enqueue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub job_id: String,
    pub job_class: String,
    pub payload: String,
    pub token: u64,
    /// The lease that ran out.
    pub expired: Lease,
    /// Recoveries in a row at this same progress, this one included.
    pub recoveries: u64,
}

impl Claimed {
    /// The claim of `orphan` (the record as it was before the claim) under
    /// its new `token`; `None` for a record recovery cannot re-enqueue (no
    /// payload, or no lease that ran out).
    pub(crate) fn from_orphan(orphan: Record, token: u64, recoveries: u64) -> Option<Self> {
        Some(Self {
            job_id: orphan.job_id,
            job_class: orphan.job_class,
            payload: orphan.payload?,
            token,
            expired: orphan.lease?,
            recoveries,
        })
    }
}

/// A job recovery stopped re-enqueuing: the record as it is now (its
/// `quarantine` says why).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    pub record: Record,
}

/// What one pass of recovery did: the orphans it claimed (to re-enqueue),
/// the ones it quarantined, and the records it could not read (damaged:
/// reported and skipped, never the reason the others wait).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub claimed: Vec<Claimed>,
    pub quarantined: Vec<Quarantined>,
    pub damaged: Vec<StoreError>,
}

/// One pass of orphan recovery: orphans are records whose lease ran out on
/// the store's clock; up to `limit` of them are claimed under `lease` (the
/// claim's hold: it lasts until the re-enqueued job begins, or for the
/// store's recovery timeout if it never does). An orphan found where its
/// last `max_recoveries` recoveries found it is quarantined instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sweep {
    pub limit: usize,
    pub lease: LeaseGrant,
    pub max_recoveries: u64,
    /// Wall-clock time of the pass (for the quarantine's timestamp).
    pub at: i64,
}

/// The largest payload a record keeps (Active Job payloads are usually a
/// few KiB; arguments belong in the database, not the queue).
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// Which records `list` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum State {
    #[default]
    Any,
    /// Not completed (quarantined ones included).
    InFlight,
    Completed,
    /// Not completed, and recovery gave up on it.
    Quarantined,
}

/// One entry of `list`: a record, or what is wrong with a damaged one
/// ([`StoreError::Corrupt`] naming its job): one bad record never hides the
/// others.
pub type Listed = Result<Record, StoreError>;

/// `list`'s query: a state, optionally one job class, newest or oldest
/// update first, at most `limit` records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub state: State,
    pub job_class: Option<String>,
    pub limit: usize,
    pub newest_first: bool,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            state: State::Any,
            job_class: None,
            limit: 100,
            newest_first: true,
        }
    }
}

/// Size limits, checked before anything is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_cursor_bytes: usize,
}

/// Job ids and class names: at most this many bytes (a column and index
/// size every backend handles well).
pub const MAX_ID_BYTES: usize = 255;
/// Step names: at most this many bytes.
pub const MAX_STEP_BYTES: usize = 255;
/// The default cursor limit; a cursor is a position, not a payload.
pub const DEFAULT_MAX_CURSOR_BYTES: usize = 64 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_cursor_bytes: DEFAULT_MAX_CURSOR_BYTES,
        }
    }
}

impl Limits {
    pub fn check_job_id(&self, job_id: &str) -> Result<(), StoreError> {
        if job_id.is_empty() {
            return Err(StoreError::invalid(
                "job id is empty: every job needs a non-empty id",
            ));
        }
        check_text("job id", job_id)?;
        check_len("job id", job_id.len(), MAX_ID_BYTES)
    }

    pub fn check_job_class(&self, job_class: &str) -> Result<(), StoreError> {
        if job_class.is_empty() {
            return Err(StoreError::invalid("job class name is empty"));
        }
        check_text("job class name", job_class)?;
        check_len("job class name", job_class.len(), MAX_ID_BYTES)
    }

    pub fn check_payload(&self, payload: Option<&str>) -> Result<(), StoreError> {
        match payload {
            Some(payload) => {
                check_text("payload", payload)?;
                check_len("payload", payload.len(), MAX_PAYLOAD_BYTES)
            }
            None => Ok(()),
        }
    }

    pub fn check_progress(&self, progress: &Progress) -> Result<(), StoreError> {
        for step in &progress.completed {
            check_step(step)?;
        }
        if let Some(current) = &progress.current {
            check_step(&current.step)?;
            if let Some(cursor) = &current.cursor {
                check_len("cursor", cursor.len(), self.max_cursor_bytes)?;
            }
        }
        Ok(())
    }
}

fn check_step(step: &str) -> Result<(), StoreError> {
    if step.is_empty() {
        return Err(StoreError::invalid("step name is empty"));
    }
    check_text("step name", step)?;
    check_len("step name", step.len(), MAX_STEP_BYTES)
}

/// The same rule on every backend: PostgreSQL text cannot hold NUL, so no
/// backend takes it (a value one store accepts, every store accepts).
fn check_text(what: &'static str, value: &str) -> Result<(), StoreError> {
    if value.contains('\0') {
        return Err(StoreError::invalid(format!(
            "{what} {value:?} contains a NUL byte, which no store keeps; nothing was written"
        )));
    }
    Ok(())
}

fn check_len(what: &'static str, got: usize, max: usize) -> Result<(), StoreError> {
    if got > max {
        return Err(StoreError::Limit { what, max, got });
    }
    Ok(())
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Completed step names as stored: a JSON array of strings.
pub(crate) fn encode_steps(steps: &[String]) -> String {
    serde_json::Value::from(steps.to_vec()).to_string()
}

/// The completed steps column, or what is wrong with it.
pub(crate) fn decode_steps(text: &str) -> Result<Vec<String>, String> {
    let corrupt = || {
        let shown: String = text.chars().take(80).collect();
        format!("its completed steps are not a JSON array of strings: {shown:?}")
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| corrupt())?;
    let array = value.as_array().ok_or_else(corrupt)?;
    array
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(corrupt))
        .collect()
}
