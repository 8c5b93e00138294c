//! Synchronous writes from many threads share commits. While one thread
//! (the leader) writes a batch, the others queue their writes and wait;
//! when the batch is committed, the next queued thread writes everything
//! queued so far in one transaction. Under `every_checkpoint` one fsync then
//! acknowledges many jobs' checkpoints, and each still returns only once its
//! own write is durable.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::{Shared, StoreError, Write};

#[derive(Default)]
pub(super) struct GroupCommit {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Arc<Ticket>>,
    leading: bool,
}

struct Ticket {
    write: Write,
    outcome: Mutex<Option<Result<(), StoreError>>>,
    done: Condvar,
}

impl Ticket {
    fn finish(&self, outcome: Result<(), StoreError>) {
        *self.outcome.lock() = Some(outcome);
        self.done.notify_all();
    }

    fn wait(&self) -> Result<(), StoreError> {
        let mut outcome = self.outcome.lock();
        loop {
            if let Some(result) = outcome.take() {
                return result;
            }
            self.done.wait(&mut outcome);
        }
    }
}

impl Shared {
    /// Writes `write` now (in a shared commit) and returns its outcome.
    pub(super) fn write_now(&self, write: Write) -> Result<(), StoreError> {
        let ticket = Arc::new(Ticket {
            write,
            outcome: Mutex::new(None),
            done: Condvar::new(),
        });
        {
            let mut queue = self.group.queue.lock();
            queue.waiting.push(Arc::clone(&ticket));
            if queue.leading {
                drop(queue);
                return ticket.wait();
            }
            queue.leading = true;
        }
        loop {
            let batch = {
                let mut queue = self.group.queue.lock();
                if queue.waiting.is_empty() {
                    queue.leading = false;
                    break;
                }
                std::mem::take(&mut queue.waiting)
            };
            let written = catch_unwind(AssertUnwindSafe(|| self.commit(&batch)));
            if let Err(panic) = written {
                // Nobody may wait forever: fail this batch and everything
                // queued behind it, then let the panic go on.
                let queued = {
                    let mut queue = self.group.queue.lock();
                    queue.leading = false;
                    std::mem::take(&mut queue.waiting)
                };
                for ticket in batch.iter().chain(&queued) {
                    ticket.finish(Err(StoreError::io(
                        self.backend.location(),
                        "internal error while writing (a Holdfast bug); the progress was not written",
                    )));
                }
                resume_unwind(panic);
            }
        }
        ticket.wait()
    }

    fn commit(&self, batch: &[Arc<Ticket>]) {
        let _io = self.io.lock();
        let writes: Vec<Write> = {
            let mut pending = self.pending.lock();
            batch
                .iter()
                .map(|ticket| {
                    // Superseded: what is pending for the job is older.
                    pending.dirty.remove(&ticket.write.job_id);
                    ticket.write.clone()
                })
                .collect()
        };
        match self.retry_busy(|| self.backend.write(&writes)) {
            Ok(outcomes) => {
                let mut pending = self.pending.lock();
                for (ticket, outcome) in batch.iter().zip(&outcomes) {
                    if outcome.is_ok() {
                        // Written: an earlier failure of this job is moot.
                        pending.failed.remove(&ticket.write.job_id);
                    }
                }
                drop(pending);
                for (ticket, outcome) in batch.iter().zip(outcomes) {
                    ticket.finish(outcome);
                }
            }
            Err(error) => {
                let mut pending = self.pending.lock();
                for ticket in batch {
                    // Kept for the next flush unless newer progress arrived.
                    pending
                        .dirty
                        .entry(ticket.write.job_id.clone())
                        .or_insert_with(|| ticket.write.clone());
                }
                drop(pending);
                for ticket in batch {
                    ticket.finish(Err(error.clone()));
                }
            }
        }
    }
}
