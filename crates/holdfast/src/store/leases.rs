//! Leases: an execution running in this process holds one, renewed by its
//! checkpoints and by a heartbeat thread (every third of the lease), so a
//! job that spends minutes on one item is not taken for dead. When the
//! process dies, its leases run out and recovery claims the orphans (see
//! [`Store::claim_orphans`]).

use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{
    now_ms, Claimed, Execution, LeaseGrant, Quarantine, Shared, Store, StoreError, Sweep, Swept,
};

/// This process as a lease owner: `host:pid:id`, where `id` is random per
/// process start, so a pid the kernel reuses is a different owner.
pub fn process_owner() -> String {
    static BOOT: OnceLock<(u32, String)> = OnceLock::new();
    let pid = std::process::id();
    let (booted_pid, id) = BOOT.get_or_init(|| (pid, random_id()));
    // A forked child inherits the parent's id; its pid tells them apart.
    let id = if *booted_pid == pid {
        id.clone()
    } else {
        random_id()
    };
    format!("{}:{pid}:{id}", host_name())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

fn random_id() -> String {
    let mut bytes = [0u8; 6];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom: the clock and pid still make a collision unlikely.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes.copy_from_slice(&(nanos as u64 ^ u64::from(std::process::id())).to_le_bytes()[..6]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Shared {
    /// A lease held by this process for `length`, from now on the store's
    /// clock.
    pub(super) fn grant(&self, length: Duration) -> LeaseGrant {
        LeaseGrant {
            owner: process_owner(),
            for_ms: length.as_millis() as i64,
        }
    }
}

pub(super) fn spawn_heartbeat(shared: Arc<Shared>) -> Option<JoinHandle<()>> {
    let spawned = std::thread::Builder::new()
        .name("holdfast-store-heartbeat".to_owned())
        .spawn(move || beat(&shared));
    match spawned {
        Ok(handle) => Some(handle),
        Err(error) => {
            eprintln!("holdfast: cannot start the store's heartbeat thread ({error}); leases are renewed by checkpoints only");
            None
        }
    }
}

fn beat(shared: &Shared) {
    let every = shared.options.lease / 3;
    loop {
        let running: Vec<(String, u64)> = {
            let mut pending = shared.pending.lock();
            let due = Instant::now() + every;
            while !pending.stopping && Instant::now() < due {
                shared.heartbeat_wake.wait_until(&mut pending, due);
            }
            if pending.stopping {
                return;
            }
            pending
                .running
                .iter()
                .map(|(id, token)| (id.clone(), *token))
                .collect()
        };
        // A failed renewal (the database is away) is retried next beat;
        // the lease lasts three beats.
        let _ = shared
            .backend
            .renew(&running, &shared.grant(shared.options.lease));
    }
}

impl Store {
    /// The execution stops here without completing (it was interrupted and
    /// its job re-enqueued, or it failed): its pending progress is written
    /// and its heartbeat stopped. With `drop_lease` its lease goes too, so
    /// it is not taken for an orphan: its backend runs it again, or it stays
    /// in flight until retried or discarded. Without, the lease runs out and
    /// recovery re-enqueues the job (its queue died with its process).
    pub fn release(&self, execution: &Execution, drop_lease: bool) -> Result<(), StoreError> {
        self.forget(execution);
        self.shared.check_open()?;
        match self.shared.flush(Some(&execution.job_id)) {
            Ok(()) | Err(StoreError::Stale { .. } | StoreError::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
        if !drop_lease {
            return Ok(());
        }
        self.shared
            .backend
            .release(&execution.job_id, execution.token)
    }

    /// Stops the heartbeat for this execution without touching the store
    /// (its handle is gone; its lease will run out).
    pub fn forget(&self, execution: &Execution) {
        self.shared.pending.lock().forget_running(execution);
    }

    /// Claims up to `limit` orphans: in-flight records whose lease ran out
    /// (on the store's clock) and that kept a payload. Each gets a new token
    /// (the dead execution is fenced off even if it comes back) and a claim
    /// held by this process for one lease: long enough to re-enqueue the job,
    /// short enough that a recoverer killed before it did costs one lease.
    /// Once the copy is in its queue, [`Store::handed_off`] holds the claim
    /// until that copy begins, or for the store's recovery timeout if it
    /// never does; a claim that cannot be re-enqueued goes back with
    /// [`Store::hand_back`]. An orphan found where its
    /// last `max_recoveries` recoveries found it is quarantined instead (in
    /// `quarantined`); damaged records are reported in `damaged` and
    /// skipped. Two callers, in any processes, never claim the same orphan.
    /// A write lock held by a paused process is [`StoreError::Busy`]: skip
    /// this round.
    pub fn claim_orphans(&self, limit: usize) -> Result<Swept, StoreError> {
        self.shared.check_open()?;
        let swept = self.shared.backend.claim_orphans(&Sweep {
            limit,
            lease: self.shared.grant(self.shared.options.lease),
            max_recoveries: self.shared.options.max_recoveries,
            at: now_ms(),
        })?;
        let mut pending = self.shared.pending.lock();
        for orphan in &swept.claimed {
            pending.newest.insert(orphan.job_id.clone(), orphan.token);
        }
        Ok(swept)
    }

    /// An operator's `recover JOB_ID --force`: claims this record whatever
    /// its lease or quarantine (lifting it, the recovery count reset), held
    /// as [`Store::claim_orphans`] holds its claims. `None` when there is no
    /// such in-flight record with a payload.
    pub fn claim_one(&self, job_id: &str) -> Result<Option<Claimed>, StoreError> {
        self.shared.check_open()?;
        self.shared.options.limits.check_job_id(job_id)?;
        let claimed = self
            .shared
            .backend
            .claim_one(job_id, &self.shared.grant(self.shared.options.lease))?;
        if let Some(orphan) = &claimed {
            self.shared
                .pending
                .lock()
                .newest
                .insert(orphan.job_id.clone(), orphan.token);
        }
        Ok(claimed)
    }

    /// Quarantines a claimed orphan that cannot be re-enqueued (its job
    /// class does not load): recovery stops taking it every lease period.
    /// Whether the record (still at `token`) was quarantined.
    pub fn quarantine(&self, job_id: &str, token: u64, reason: &str) -> Result<bool, StoreError> {
        self.shared.check_open()?;
        self.shared.backend.quarantine(
            job_id,
            token,
            &Quarantine {
                at: now_ms(),
                reason: reason.to_owned(),
            },
        )
    }

    /// The copy of a claimed job is in its queue: the claim (still at
    /// `token`, held by this process) is held for the store's recovery
    /// timeout, so a copy waiting behind a backlog is not claimed and
    /// enqueued again. A claim that moved on (its copy already began, or an
    /// operator discarded the job) is left alone.
    pub fn handed_off(&self, job_id: &str, token: u64) -> Result<(), StoreError> {
        self.shared.check_open()?;
        self.shared.options.limits.check_job_id(job_id)?;
        self.shared.backend.renew(
            &[(job_id.to_owned(), token)],
            &self.shared.grant(self.shared.options.recovery_timeout),
        )
    }

    /// Gives claims (job id, token) back uncounted: their leases end
    /// `retry_after` from now (at most the store's recovery timeout), and the recovery each claim counted toward
    /// the crash-loop limit is taken back, so a recoverer that could not
    /// take a job on (its queue is down, the C caller's buffer was too
    /// small) never quarantines it. The next `claim_orphans` after that,
    /// here or anywhere, takes them again.
    pub fn hand_back(
        &self,
        claims: &[(String, u64)],
        retry_after: Duration,
    ) -> Result<(), StoreError> {
        self.shared.check_open()?;
        self.shared.backend.give_back(
            claims,
            &self
                .shared
                .grant(retry_after.min(self.shared.options.recovery_timeout)),
        )
    }

    /// Deletes the job's record on purpose, in flight or not (a job that
    /// will never run again). Returns whether there was one. An execution
    /// still running gets `NotFound` at its next write, and stops; its
    /// token stays the store's floor, so a new execution of the same job id
    /// gets a newer one and the old can never write over it.
    pub fn discard(&self, job_id: &str) -> Result<bool, StoreError> {
        self.shared.check_open()?;
        {
            let mut pending = self.shared.pending.lock();
            pending.dirty.remove(job_id);
            pending.failed.remove(job_id);
            pending.running.remove(job_id);
        }
        self.shared.backend.discard(job_id)
    }

    /// The lease duration this store gives.
    pub fn lease(&self) -> Duration {
        self.shared.options.lease
    }
}
