//! The in-memory backend: for tests and for embedding where progress need
//! not outlive the process. Leases are kept on the host's boot clock, like
//! SQLite's, and shown on the wall clock.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::backend::{
    begin_existing, fresh_record, judge_orphan, rejected, Backend, Begun, Judged, Write,
};
use super::clock::boot_ms;
use super::{
    Claimed, Lease, LeaseGrant, ListQuery, Listed, Quarantine, Quarantined, Record, Start, State,
    StoreError, Sweep, Swept,
};

#[derive(Default)]
pub struct MemoryBackend {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Records with lease expiries on the boot clock.
    records: HashMap<String, Record>,
    /// The highest token of any deleted record.
    floor: u64,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    /// Renews leases held by `grant.owner`; with `uncount`, gives recovery
    /// claims back (see `Backend::give_back`).
    fn renew_held(&self, executions: &[(String, u64)], grant: &LeaseGrant, uncount: bool) {
        let mut inner = self.inner.lock();
        for (job_id, token) in executions {
            let Some(record) = inner.records.get_mut(job_id) else {
                continue;
            };
            let held = record
                .lease
                .as_ref()
                .is_some_and(|held| held.owner == grant.owner);
            if held && record.token == *token && record.completed_at.is_none() {
                record.lease = Some(lease(grant));
                if uncount {
                    record.recoveries = record.recoveries.saturating_sub(1);
                }
            }
        }
    }
}

/// A record as callers see it: its lease expiry on the wall clock.
fn shown(record: &Record) -> Record {
    let mut record = record.clone();
    if let Some(lease) = &mut record.lease {
        lease.expires_at = super::clock::boot_to_wall(lease.expires_at);
    }
    record
}

fn lease(grant: &LeaseGrant) -> Lease {
    Lease {
        owner: grant.owner.clone(),
        expires_at: boot_ms().saturating_add(grant.for_ms),
    }
}

fn claim(
    record: &mut Record,
    grant: &LeaseGrant,
    recoveries: u64,
    mark: Option<i64>,
) -> Option<Claimed> {
    let orphan = shown(record);
    record.lease = Some(lease(grant));
    record.token += 1;
    record.recoveries = recoveries;
    record.recovery_mark = mark;
    record.quarantine = None;
    Claimed::from_orphan(orphan, record.token, recoveries)
}

impl Backend for MemoryBackend {
    fn begin(&self, start: &Start) -> Result<Begun, StoreError> {
        let job_id = start.job_id.as_str();
        let mut inner = self.inner.lock();
        let floor = inner.floor;
        if let Some(record) = inner.records.get_mut(job_id) {
            let Some(was_completed) = begin_existing(record, start, lease(&start.lease)) else {
                return Ok(Begun {
                    existed: true,
                    was_completed: true,
                    began: false,
                    record: shown(record),
                });
            };
            return Ok(Begun {
                existed: true,
                was_completed,
                began: true,
                record: shown(record),
            });
        }
        let record = fresh_record(start, floor, lease(&start.lease));
        inner.records.insert(job_id.to_owned(), record.clone());
        Ok(Begun {
            existed: false,
            was_completed: false,
            began: true,
            record: shown(&record),
        })
    }

    fn write(&self, writes: &[Write]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut inner = self.inner.lock();
        Ok(writes
            .iter()
            .map(|write| match inner.records.get_mut(&write.job_id) {
                Some(record) if record.token == write.token => {
                    record.progress = write.progress.clone();
                    record.updated_at = write.at;
                    if write.complete {
                        record.completed_at = Some(write.at);
                        record.lease = None;
                    } else if let (Some(lease), Some(for_ms)) = (&mut record.lease, write.renew_for)
                    {
                        lease.expires_at = boot_ms().saturating_add(for_ms);
                    }
                    Ok(())
                }
                other => Err(rejected(&write.job_id, write.token, other.map(|r| r.token))),
            })
            .collect())
    }

    fn get(&self, job_id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.inner.lock().records.get(job_id).map(shown))
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Listed>, StoreError> {
        let inner = self.inner.lock();
        let mut found: Vec<Record> = inner
            .records
            .values()
            .filter(|r| match query.state {
                State::Any => true,
                State::InFlight => !r.is_completed(),
                State::Completed => r.is_completed(),
                State::Quarantined => !r.is_completed() && r.quarantine.is_some(),
            })
            .filter(|r| query.job_class.as_ref().is_none_or(|c| &r.job_class == c))
            .map(shown)
            .collect();
        found.sort_by(|a, b| {
            let order = (a.updated_at, &a.job_id).cmp(&(b.updated_at, &b.job_id));
            if query.newest_first {
                order.reverse()
            } else {
                order
            }
        });
        found.truncate(query.limit);
        Ok(found.into_iter().map(Ok).collect())
    }

    fn prune(&self, completed_before: Option<i64>) -> Result<u64, StoreError> {
        let mut inner = self.inner.lock();
        let before = inner.records.len();
        let mut floor = inner.floor;
        inner.records.retain(|_, r| {
            let keep = match (r.completed_at, completed_before) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(at), Some(limit)) => at >= limit,
            };
            if !keep {
                floor = floor.max(r.token);
            }
            keep
        });
        inner.floor = floor;
        Ok((before - inner.records.len()) as u64)
    }

    fn location(&self) -> &str {
        "memory store"
    }

    fn renew(&self, executions: &[(String, u64)], grant: &LeaseGrant) -> Result<(), StoreError> {
        self.renew_held(executions, grant, false);
        Ok(())
    }

    fn give_back(&self, claims: &[(String, u64)], grant: &LeaseGrant) -> Result<(), StoreError> {
        self.renew_held(claims, grant, true);
        Ok(())
    }

    fn release(&self, job_id: &str, token: u64) -> Result<(), StoreError> {
        if let Some(record) = self.inner.lock().records.get_mut(job_id) {
            if record.token == token {
                record.lease = None;
            }
        }
        Ok(())
    }

    fn claim_orphans(&self, sweep: &Sweep) -> Result<Swept, StoreError> {
        let now = boot_ms();
        let mut inner = self.inner.lock();
        let mut swept = Swept::default();
        let mut orphans: Vec<&mut Record> = inner
            .records
            .values_mut()
            .filter(|r| r.payload.is_some() && r.is_orphaned(now))
            .collect();
        orphans.sort_by_key(|r| r.lease.as_ref().map_or(0, |l| l.expires_at));
        for record in orphans.into_iter().take(sweep.limit) {
            match judge_orphan(record, sweep) {
                Judged::Claim { recoveries, mark } => {
                    swept
                        .claimed
                        .extend(claim(record, &sweep.lease, recoveries, Some(mark)));
                }
                Judged::Quarantine(quarantine) => {
                    record.lease = None;
                    record.quarantine = Some(quarantine);
                    swept.quarantined.push(Quarantined {
                        record: shown(record),
                    });
                }
            }
        }
        Ok(swept)
    }

    fn claim_one(&self, job_id: &str, grant: &LeaseGrant) -> Result<Option<Claimed>, StoreError> {
        let mut inner = self.inner.lock();
        let Some(record) = inner.records.get_mut(job_id) else {
            return Ok(None);
        };
        if record.is_completed() || record.payload.is_none() {
            return Ok(None);
        }
        if record.lease.is_none() {
            // Nothing ran out: the claim reports the lease as ending now.
            record.lease = Some(lease(&LeaseGrant {
                owner: grant.owner.clone(),
                for_ms: 0,
            }));
        }
        Ok(claim(record, grant, 0, None))
    }

    fn quarantine(
        &self,
        job_id: &str,
        token: u64,
        quarantine: &Quarantine,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock();
        match inner.records.get_mut(job_id) {
            Some(record) if record.token == token && !record.is_completed() => {
                record.lease = None;
                record.quarantine = Some(quarantine.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn discard(&self, job_id: &str) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock();
        match inner.records.remove(job_id) {
            Some(record) => {
                inner.floor = inner.floor.max(record.token);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
