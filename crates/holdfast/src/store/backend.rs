//! The interface every storage backend implements. Backends only store;
//! durability policies, write-behind and fencing checks before I/O live in
//! [`super::Store`].

use super::model::decode_steps;
use super::{
    Claimed, Current, Lease, LeaseGrant, ListQuery, Listed, Progress, Quarantine, Record, Start,
    StoreError, Sweep, Swept,
};

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
    /// Renews the lease for this many milliseconds from now on the store's
    /// clock (a checkpoint does), or `None` to leave it as it is.
    pub renew_for: Option<i64>,
}

/// What `begin` found and made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Begun {
    /// Whether a record existed before (a fresh job has none).
    pub existed: bool,
    /// Whether that record was completed. With `restart`, this execution
    /// starts it over; without, nothing began (see `began`).
    pub was_completed: bool,
    /// Whether an execution began: false only for a completed record begun
    /// without `restart`, which is returned as it is, untouched (a stale
    /// copy of a finished job does nothing).
    pub began: bool,
    /// The record as it is now: its progress is what the job resumes from,
    /// its token is the new execution's.
    pub record: Record,
}

pub trait Backend: Send + Sync {
    /// Atomically: creates the record (its token above every token the
    /// store ever gave out for a record since deleted) or gives it a new
    /// token (one more than the stored one), counting a resumption when it
    /// holds progress and is not completed. A completed record is left as
    /// it is unless `start.restart`.
    fn begin(&self, start: &Start) -> Result<Begun, StoreError>;

    /// Applies `writes` in one transaction (group commit). The outer error
    /// means nothing was written; otherwise each write has its own outcome
    /// (stale or not found writes are skipped, the rest commit).
    fn write(&self, writes: &[Write]) -> Result<Vec<Result<(), StoreError>>, StoreError>;

    fn get(&self, job_id: &str) -> Result<Option<Record>, StoreError>;

    /// Records by the query; a damaged one is its own `Err` in the list.
    fn list(&self, query: &ListQuery) -> Result<Vec<Listed>, StoreError>;

    /// Deletes completed records (completed before `completed_before`, or
    /// all of them), keeping their highest token as the floor for records
    /// made later. Returns how many.
    fn prune(&self, completed_before: Option<i64>) -> Result<u64, StoreError>;

    /// Where the store is, for messages: a path, or a URL without password.
    fn location(&self) -> &str;

    /// Renews the leases of these executions (job id, token) held by
    /// `lease.owner` for `lease.for_ms` from now (0: they end now); records
    /// that moved on (a newer token, completed, released) are left alone.
    fn renew(&self, executions: &[(String, u64)], lease: &LeaseGrant) -> Result<(), StoreError>;

    /// Gives recovery claims (job id, token) held by `lease.owner` back:
    /// each lease ends `lease.for_ms` from now and the claim's recovery is
    /// no longer counted (one fewer in a row, never below zero). Claims that
    /// moved on are left alone.
    fn give_back(&self, claims: &[(String, u64)], lease: &LeaseGrant) -> Result<(), StoreError>;

    /// Drops the lease of this execution (it stopped without completing:
    /// its backend re-runs it, or it failed).
    fn release(&self, job_id: &str, token: u64) -> Result<(), StoreError>;

    /// Claims up to `limit` orphans (in flight, not quarantined, leased,
    /// the lease ran out on the store's clock, a payload kept), each
    /// atomically: one more token and the recoverer's `lease`, judged by
    /// [`judge_orphan`]. Two recoverers never claim the same orphan. A
    /// damaged record is reported in `damaged` and skipped.
    fn claim_orphans(&self, sweep: &Sweep) -> Result<Swept, StoreError>;

    /// Claims this one record whatever its lease or quarantine (an
    /// operator's `recover JOB_ID --force`): one more token, `lease`, the
    /// quarantine lifted and the recovery count reset. `None` when there is
    /// no such record, it is completed, or it has no payload.
    fn claim_one(&self, job_id: &str, lease: &LeaseGrant) -> Result<Option<Claimed>, StoreError>;

    /// Quarantines the record if its token is still `token` (recovery could
    /// not re-enqueue it: its job class does not load): its lease dropped,
    /// `quarantine` kept. Whether it was.
    fn quarantine(
        &self,
        job_id: &str,
        token: u64,
        quarantine: &Quarantine,
    ) -> Result<bool, StoreError>;

    /// Deletes the job's record, in flight or not, keeping its token as the
    /// floor for records made later (a new execution of the same id is
    /// never given a token an old one holds); whether there was one.
    fn discard(&self, job_id: &str) -> Result<bool, StoreError>;
}

/// What recovery does with an orphan: claim it (with the count of
/// recoveries in a row at this progress, and the progress mark to keep),
/// or quarantine it.
pub(crate) enum Judged {
    Claim { recoveries: u64, mark: i64 },
    Quarantine(Quarantine),
}

/// The crash-loop rule, the same in every backend: a recovery that finds
/// the job where the previous recovery found it counts one more in a row;
/// past `max_recoveries` in a row the job is quarantined rather than
/// re-enqueued to die again.
pub(crate) fn judge_orphan(orphan: &Record, sweep: &Sweep) -> Judged {
    let mark = orphan.progress.mark();
    let recoveries = if orphan.recovery_mark == Some(mark) {
        orphan.recoveries + 1
    } else {
        1
    };
    if recoveries <= sweep.max_recoveries {
        return Judged::Claim { recoveries, mark };
    }
    let at = match &orphan.progress.current {
        Some(current) => {
            let cursor = current
                .cursor
                .as_deref()
                .map(|c| String::from_utf8_lossy(c).into_owned());
            match cursor {
                Some(cursor) => format!("step {:?} at cursor {cursor}", current.step),
                None => format!("step {:?} before its cursor moved", current.step),
            }
        }
        None if orphan.progress.completed.is_empty() => "before its first step".to_owned(),
        None => format!(
            "after step {:?}",
            orphan.progress.completed.last().map_or("", String::as_str)
        ),
    };
    Judged::Quarantine(Quarantine {
        at: sweep.at,
        reason: format!(
            "its process died {} times in a row at {at} (recovered {} times without progress; \
             max_recoveries is {}): it is no longer re-enqueued",
            recoveries,
            recoveries - 1,
            sweep.max_recoveries
        ),
    })
}

/// The columns every SQL backend stores a record in, in the order
/// [`Columns`] lists them.
pub(crate) const COLUMNS: &str =
    "job_id, job_class, completed_steps, current_step, cursor, resumptions, token, created_at, updated_at, completed_at, \
     payload, lease_owner, lease_expires_at, recoveries, recovery_mark, quarantined_at, quarantine_reason";

/// How many columns [`COLUMNS`] lists.
pub(crate) const COLUMN_COUNT: usize = 17;

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
    pub recoveries: i64,
    pub recovery_mark: Option<i64>,
    pub quarantined_at: Option<i64>,
    pub quarantine_reason: Option<String>,
}

impl Columns {
    /// The record these columns hold, or [`StoreError::Corrupt`] naming the
    /// job when they cannot be one (steps that are not a JSON array of
    /// strings, a negative count or token, a cursor without a step). Lease
    /// expiries are on the store's clock; `shown` turns one into this
    /// process's wall clock, which the record carries.
    pub(crate) fn into_record(
        self,
        location: &str,
        shown: &dyn Fn(i64) -> i64,
    ) -> Result<Record, StoreError> {
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
        let recoveries = u64::try_from(self.recoveries)
            .map_err(|_| corrupt(format!("recoveries is {}", self.recoveries)))?;
        let quarantine = match (self.quarantined_at, self.quarantine_reason) {
            (Some(at), Some(reason)) => Some(Quarantine { at, reason }),
            (None, None) => None,
            _ => {
                return Err(corrupt(
                    "half a quarantine (a time without a reason, or the reverse)".to_owned(),
                ))
            }
        };
        let lease = match (self.lease_owner, self.lease_expires_at) {
            (Some(owner), Some(expires_at)) => Some(Lease {
                owner,
                expires_at: shown(expires_at),
            }),
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
            recoveries,
            recovery_mark: self.recovery_mark,
            quarantine,
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

/// How `begin` changes a stored record, the same in every backend. A
/// completed record is left as it is (`None`: nothing begins) unless the
/// start asks to restart it; then it starts over, as from its payload.
/// Otherwise returns whether the record was completed. `lease` is the new
/// lease as the backend stores it (on its clock). Beginning lifts a
/// quarantine: someone ran the job on purpose.
pub(crate) fn begin_existing(record: &mut Record, start: &Start, lease: Lease) -> Option<bool> {
    let was_completed = record.is_completed();
    if was_completed && !start.restart {
        return None;
    }
    record.token += 1;
    record.quarantine = None;
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
    record.lease = Some(lease);
    Some(was_completed)
}

/// A new record: its token is one above `floor`, the highest token of any
/// record the store deleted (so never one an old execution still holds).
pub(crate) fn fresh_record(start: &Start, floor: u64, lease: Lease) -> Record {
    Record {
        job_id: start.job_id.clone(),
        job_class: start.job_class.clone(),
        progress: Progress::default(),
        resumptions: 0,
        token: floor + 1,
        created_at: start.at,
        updated_at: start.at,
        completed_at: None,
        payload: start.payload.clone(),
        lease: Some(lease),
        recoveries: 0,
        recovery_mark: None,
        quarantine: None,
    }
}

/// The outcome of a write whose token did not match. A write comes from an
/// execution, and an execution exists only once its begin made the record:
/// a record gone since then was discarded (or pruned), and the execution is
/// as stale as one a newer execution took over. It must stop, not fail (a
/// failure would be retried, and the retry would begin the job again).
pub(crate) fn rejected(job_id: &str, token: u64, stored: Option<u64>) -> StoreError {
    StoreError::Stale {
        job_id: job_id.to_owned(),
        token,
        newest: stored,
    }
}
