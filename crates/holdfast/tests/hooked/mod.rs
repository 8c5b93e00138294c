//! The memory backend with a check run before every write, shared by the
//! test files: the check may fail the write (a full disk, a database that
//! went away), take its time, or count what reaches the backend.

use holdfast::store::{
    Backend, Begun, Claimed, LeaseGrant, ListQuery, Listed, MemoryBackend, Quarantine, Record,
    Start, StoreError, Sweep, Swept, Write,
};

pub type BeforeWrite = Box<dyn Fn(&[Write]) -> Result<(), StoreError> + Send + Sync>;

pub struct Hooked {
    inner: MemoryBackend,
    before_write: BeforeWrite,
}

impl Hooked {
    pub fn new(
        before_write: impl Fn(&[Write]) -> Result<(), StoreError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner: MemoryBackend::new(),
            before_write: Box::new(before_write),
        }
    }
}

impl Backend for Hooked {
    fn begin(&self, start: &Start) -> Result<Begun, StoreError> {
        self.inner.begin(start)
    }
    fn write(&self, writes: &[Write]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        (self.before_write)(writes)?;
        self.inner.write(writes)
    }
    fn get(&self, job_id: &str) -> Result<Option<Record>, StoreError> {
        self.inner.get(job_id)
    }
    fn list(&self, query: &ListQuery) -> Result<Vec<Listed>, StoreError> {
        self.inner.list(query)
    }
    fn prune(&self, completed_before: Option<i64>) -> Result<u64, StoreError> {
        self.inner.prune(completed_before)
    }
    fn location(&self) -> &str {
        "hooked memory store"
    }
    fn renew(&self, executions: &[(String, u64)], lease: &LeaseGrant) -> Result<(), StoreError> {
        self.inner.renew(executions, lease)
    }
    fn give_back(&self, claims: &[(String, u64)], lease: &LeaseGrant) -> Result<(), StoreError> {
        self.inner.give_back(claims, lease)
    }
    fn release(&self, job_id: &str, token: u64) -> Result<(), StoreError> {
        self.inner.release(job_id, token)
    }
    fn claim_orphans(&self, sweep: &Sweep) -> Result<Swept, StoreError> {
        self.inner.claim_orphans(sweep)
    }
    fn claim_one(&self, job_id: &str, lease: &LeaseGrant) -> Result<Option<Claimed>, StoreError> {
        self.inner.claim_one(job_id, lease)
    }
    fn quarantine(
        &self,
        job_id: &str,
        token: u64,
        quarantine: &Quarantine,
    ) -> Result<bool, StoreError> {
        self.inner.quarantine(job_id, token, quarantine)
    }
    fn discard(&self, job_id: &str) -> Result<bool, StoreError> {
        self.inner.discard(job_id)
    }
}
