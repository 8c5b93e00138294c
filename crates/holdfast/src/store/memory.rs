//! The in-memory backend: for tests and for embedding where progress need
//! not outlive the process.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::backend::{begin_existing, fresh_record, rejected, Backend, Begun, Write};
use super::{Claimed, Lease, ListQuery, Record, Start, State, StoreError, Sweep};

#[derive(Default)]
pub struct MemoryBackend {
    records: Mutex<HashMap<String, Record>>,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Backend for MemoryBackend {
    fn begin(&self, start: &Start) -> Result<Begun, StoreError> {
        let job_id = start.job_id.as_str();
        let mut records = self.records.lock();
        if let Some(record) = records.get_mut(job_id) {
            let was_completed = begin_existing(record, start);
            return Ok(Begun {
                existed: true,
                was_completed,
                record: record.clone(),
            });
        }
        let record = fresh_record(start);
        records.insert(job_id.to_owned(), record.clone());
        Ok(Begun {
            existed: false,
            was_completed: false,
            record,
        })
    }

    fn write(&self, writes: &[Write]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut records = self.records.lock();
        Ok(writes
            .iter()
            .map(|write| match records.get_mut(&write.job_id) {
                Some(record) if record.token == write.token => {
                    record.progress = write.progress.clone();
                    record.updated_at = write.at;
                    if write.complete {
                        record.completed_at = Some(write.at);
                        record.lease = None;
                    } else if let (Some(lease), Some(until)) =
                        (&mut record.lease, write.lease_until)
                    {
                        lease.expires_at = until;
                    }
                    Ok(())
                }
                other => Err(rejected(&write.job_id, write.token, other.map(|r| r.token))),
            })
            .collect())
    }

    fn get(&self, job_id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.records.lock().get(job_id).cloned())
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Record>, StoreError> {
        let records = self.records.lock();
        let mut found: Vec<Record> = records
            .values()
            .filter(|r| match query.state {
                State::Any => true,
                State::InFlight => !r.is_completed(),
                State::Completed => r.is_completed(),
            })
            .filter(|r| query.job_class.as_ref().is_none_or(|c| &r.job_class == c))
            .cloned()
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
        Ok(found)
    }

    fn prune(&self, completed_before: Option<i64>) -> Result<u64, StoreError> {
        let mut records = self.records.lock();
        let before = records.len();
        records.retain(|_, r| match (r.completed_at, completed_before) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(at), Some(limit)) => at >= limit,
        });
        Ok((before - records.len()) as u64)
    }

    fn location(&self) -> &str {
        "memory store"
    }

    fn renew(&self, executions: &[(String, u64)], lease: &Lease) -> Result<(), StoreError> {
        let mut records = self.records.lock();
        for (job_id, token) in executions {
            if let Some(record) = records.get_mut(job_id) {
                match &mut record.lease {
                    Some(held) if record.token == *token && held.owner == lease.owner => {
                        held.expires_at = lease.expires_at;
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn release(&self, job_id: &str, token: u64) -> Result<(), StoreError> {
        if let Some(record) = self.records.lock().get_mut(job_id) {
            if record.token == token {
                record.lease = None;
            }
        }
        Ok(())
    }

    fn claim_orphans(&self, sweep: &Sweep) -> Result<Vec<Claimed>, StoreError> {
        let (now, limit, lease) = (sweep.now, sweep.limit, &sweep.lease);
        let mut records = self.records.lock();
        let mut claimed = Vec::new();
        for record in records.values_mut() {
            if claimed.len() >= limit {
                break;
            }
            if record.payload.is_none() || !record.is_orphaned(now) {
                continue;
            }
            let orphan = record.clone();
            record.lease = Some(lease.clone());
            record.token += 1;
            claimed.extend(Claimed::from_orphan(orphan, record.token));
        }
        Ok(claimed)
    }

    fn discard(&self, job_id: &str) -> Result<bool, StoreError> {
        Ok(self.records.lock().remove(job_id).is_some())
    }
}
