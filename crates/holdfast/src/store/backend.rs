//! The interface every storage backend implements. Backends only store;
//! durability policies, write-behind and fencing checks before I/O live in
//! [`super::Store`].

use super::model::decode_steps;
use super::{Claimed, Current, Lease, ListQuery, Progress, Record, Start, StoreError, Sweep};

/// One conditional write: applied only if the record's token is still
/// `token` (the writer is the newest execution).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub job_id: String,
    pub token: u64,
    pub progress: Progress,
    /// Marks the record completed at `at` (and drops its lease).
    pub complete: bool,
    pub at: i64,
    /// The lease's new expiry (a checkpoint renews it), or `None` to leave
    /// it as it is.
    pub lease_until: Option<i64>,
}

/// What `begin` found and made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Begun {
    /// Whether a record existed before (a fresh job has none).
    pub existed: bool,
    /// Whether that record was completed (this execution starts it over).
    pub was_completed: bool,
    /// The record as it is now: its progress is what the job resumes from,
    /// its token is the new execution's.
    pub record: Record,
}

pub trait Backend: Send + Sync {
    /// Atomically: creates the record (token 1) or gives it a new token
    /// (one more than the stored one), counting a resumption when it holds
    /// progress and is not completed.
    fn begin(&self, start: &Start) -> Result<Begun, StoreError>;

    /// Applies `writes` in one transaction (group commit). The outer error
    /// means nothing was written; otherwise each write has its own outcome
    /// (stale or not found writes are skipped, the rest commit).
    fn write(&self, writes: &[Write]) -> Result<Vec<Result<(), StoreError>>, StoreError>;

    fn get(&self, job_id: &str) -> Result<Option<Record>, StoreError>;

    fn list(&self, query: &ListQuery) -> Result<Vec<Record>, StoreError>;

    /// Deletes completed records (completed before `completed_before`, or
    /// all of them). Returns how many.
    fn prune(&self, completed_before: Option<i64>) -> Result<u64, StoreError>;

    /// Where the store is, for messages: a path, or a URL without password.
    fn location(&self) -> &str;

    /// Moves the leases of these executions (job id, token) held by
    /// `lease.owner` to `lease.expires_at`; records that moved on (a newer
    /// token, completed, released) are left alone.
    fn renew(&self, executions: &[(String, u64)], lease: &Lease) -> Result<(), StoreError>;

    /// Drops the lease of this execution (it stopped without completing:
    /// its backend re-runs it, or it failed).
    fn release(&self, job_id: &str, token: u64) -> Result<(), StoreError>;

    /// Claims up to `limit` orphans (in flight, leased, the lease expired
    /// by `now`, a payload kept), each atomically: one more token and the
    /// recoverer's `lease`. Two recoverers never claim the same orphan.
    fn claim_orphans(&self, sweep: &Sweep) -> Result<Vec<Claimed>, StoreError>;

    /// Deletes the job's record, in flight or not; whether there was one.
    fn discard(&self, job_id: &str) -> Result<bool, StoreError>;
}

/// The columns every SQL backend stores a record in, in the order
/// [`Columns`] lists them.
pub(crate) const COLUMNS: &str =
    "job_id, job_class, completed_steps, current_step, cursor, resumptions, token, created_at, updated_at, completed_at, \
     payload, lease_owner, lease_expires_at";

/// One row of [`COLUMNS`], as read from any SQL backend.
pub(crate) struct Columns {
    pub job_id: String,
    pub job_class: String,
    pub completed_steps: String,
    pub current_step: Option<String>,
    pub cursor: Option<Vec<u8>>,
    pub resumptions: i64,
    pub token: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
    pub payload: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
}

impl Columns {
    /// The record these columns hold, or [`StoreError::Corrupt`] naming the
    /// job when they cannot be one (steps that are not a JSON array of
    /// strings, a negative count or token, a cursor without a step).
    pub(crate) fn into_record(self, location: &str) -> Result<Record, StoreError> {
        let corrupt = |message: String| StoreError::Corrupt {
            location: location.to_owned(),
            job_id: Some(self.job_id.clone()),
            message,
        };
        let completed = decode_steps(&self.completed_steps).map_err(corrupt)?;
        let resumptions = u64::try_from(self.resumptions)
            .map_err(|_| corrupt(format!("resumptions is {}", self.resumptions)))?;
        let token = u64::try_from(self.token)
            .ok()
            .filter(|&t| t >= 1)
            .ok_or_else(|| corrupt(format!("token is {}", self.token)))?;
        if self.current_step.is_none() && self.cursor.is_some() {
            return Err(corrupt("a cursor without a current step".to_owned()));
        }
        let lease = match (self.lease_owner, self.lease_expires_at) {
            (Some(owner), Some(expires_at)) => Some(Lease { owner, expires_at }),
            (None, None) => None,
            _ => {
                return Err(corrupt(
                    "half a lease (an owner without an expiry, or the reverse)".to_owned(),
                ))
            }
        };
        Ok(Record {
            job_id: self.job_id,
            job_class: self.job_class,
            progress: Progress {
                completed,
                current: self.current_step.map(|step| Current {
                    step,
                    cursor: self.cursor,
                }),
            },
            resumptions,
            token,
            created_at: self.created_at,
            updated_at: self.updated_at,
            completed_at: self.completed_at,
            payload: self.payload,
            lease,
        })
    }
}

/// A write's current step and cursor, as the `current_step` and `cursor`
/// columns take them.
pub(crate) fn current_columns(progress: &Progress) -> (Option<&str>, Option<&[u8]>) {
    match &progress.current {
        Some(current) => (Some(current.step.as_str()), current.cursor.as_deref()),
        None => (None, None),
    }
}

/// How `begin` changes a stored record, the same in every backend. A job
/// that completed and runs again (same id) starts over, as it would from
/// its payload. Returns whether the record was completed.
pub(crate) fn begin_existing(record: &mut Record, start: &Start) -> bool {
    record.token += 1;
    let was_completed = record.is_completed();
    if was_completed {
        record.progress = Progress::default();
        record.completed_at = None;
        record.resumptions = 0;
    } else if !record.progress.is_empty() {
        record.resumptions += 1;
    }
    record.updated_at = start.at;
    if start.payload.is_some() {
        record.payload.clone_from(&start.payload);
    }
    record.lease = Some(start.lease.clone());
    was_completed
}

pub(crate) fn fresh_record(start: &Start) -> Record {
    Record {
        job_id: start.job_id.clone(),
        job_class: start.job_class.clone(),
        progress: Progress::default(),
        resumptions: 0,
        token: 1,
        created_at: start.at,
        updated_at: start.at,
        completed_at: None,
        payload: start.payload.clone(),
        lease: Some(start.lease.clone()),
    }
}

/// The outcome of a write whose token did not match.
pub(crate) fn rejected(job_id: &str, token: u64, stored: Option<u64>) -> StoreError {
    match stored {
        Some(newest) => StoreError::Stale {
            job_id: job_id.to_owned(),
            token,
            newest: Some(newest),
        },
        None => StoreError::NotFound {
            job_id: job_id.to_owned(),
        },
    }
}
