//! [`Run`]: one execution of a job against a store — its fencing token, the
//! progress it resumed from, the progress it last recorded, and every
//! transition (step started, cursor moved, step completed, interrupted,
//! completed). The C and Ruby layers hold a `Run` and only translate
//! arguments; the state machine lives here once.

use std::sync::Arc;

use parking_lot::Mutex;

use super::{Begin, Checkpoint, Current, Execution, Progress, Record, Store, StoreError};

pub struct Run {
    store: Arc<Store>,
    execution: Execution,
    state: Mutex<State>,
}

struct State {
    /// What this execution last recorded; at first, what it resumed from.
    progress: Progress,
    /// `complete` succeeded: the record is final, nothing more is written.
    completed: bool,
}

impl Run {
    /// Begins an execution of `job_id` (see [`Store::begin_execution`]): a
    /// new fencing token, and the progress to resume from.
    pub fn begin(store: Arc<Store>, job_id: &str, job_class: &str) -> Result<Run, StoreError> {
        Run::begin_with(store, job_id, job_class, None)
    }

    /// Begins an execution that recovery can re-enqueue from `payload`
    /// (see [`Store::begin_execution_with`]).
    pub fn begin_with(
        store: Arc<Store>,
        job_id: &str,
        job_class: &str,
        payload: Option<&str>,
    ) -> Result<Run, StoreError> {
        Run::begin_for(
            store,
            job_id,
            job_class,
            Begin {
                payload,
                restart: false,
            },
        )
    }

    /// Begins an execution as `begin` says (see [`Store::begin`]): a
    /// completed record is left alone unless `begin.restart`, and then this
    /// run did not begin ([`Run::began`]) and refuses every write.
    pub fn begin_for(
        store: Arc<Store>,
        job_id: &str,
        job_class: &str,
        begin: Begin<'_>,
    ) -> Result<Run, StoreError> {
        let execution = store.begin(job_id, job_class, begin)?;
        let progress = execution.record.progress.clone();
        let began = execution.began;
        Ok(Run {
            store,
            execution,
            state: Mutex::new(State {
                progress,
                // A run that did not begin is over before it starts.
                completed: !began,
            }),
        })
    }

    /// Whether an execution began (false: the job had completed and no
    /// restart was asked; the record was left as it was).
    pub fn began(&self) -> bool {
        self.execution.began
    }

    pub fn job_id(&self) -> &str {
        &self.execution.job_id
    }

    pub fn job_class(&self) -> &str {
        &self.execution.job_class
    }

    pub fn token(&self) -> u64 {
        self.execution.token
    }

    /// Whether the job had a record before this execution.
    pub fn existed(&self) -> bool {
        self.execution.existed
    }

    /// Whether the job's record was completed when this execution began.
    pub fn was_completed(&self) -> bool {
        self.execution.was_completed
    }

    /// The record as this execution found it (with its new token).
    pub fn resumed_from(&self) -> &Record {
        &self.execution.record
    }

    /// The progress this execution last recorded (at first, the stored one).
    pub fn progress(&self) -> Progress {
        self.state.lock().progress.clone()
    }

    /// Records `next` as the job's whole progress. Unchanged progress writes
    /// nothing (unless `interrupt`); a cursor move inside the same step
    /// follows the durability policy; a step boundary, and any interrupt,
    /// is written at once. [`StoreError::Stale`] when a newer execution
    /// took the job (nothing written).
    pub fn record(&self, next: Progress, interrupt: bool) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        self.write(&mut state, next, interrupt)
    }

    /// The job is in `step` with `cursor` (`None` before the step advanced);
    /// its completed steps stay as they are.
    pub fn checkpoint(&self, step: &str, cursor: Option<Vec<u8>>) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        let next = Progress {
            completed: state.progress.completed.clone(),
            current: Some(Current {
                step: step.to_owned(),
                cursor,
            }),
        };
        self.write(&mut state, next, false)
    }

    /// The current step completed.
    pub fn complete_step(&self) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        let mut next = state.progress.clone();
        let current = next.current.take().ok_or_else(|| {
            StoreError::invalid(format!(
                "job {:?} has no step in progress to complete: checkpoint the step first",
                self.execution.job_id
            ))
        })?;
        next.completed.push(current.step);
        self.write(&mut state, next, false)
    }

    /// Writes the current progress now, whatever the policy: the job is
    /// about to stop.
    pub fn interrupt(&self) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        let progress = state.progress.clone();
        self.write(&mut state, progress, true)
    }

    /// Marks the job's record completed with its last progress (written at
    /// once). Later writes through this execution are refused.
    pub fn complete(&self) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        self.check_running(&state)?;
        self.store
            .complete(&self.execution, state.progress.clone())?;
        state.completed = true;
        Ok(())
    }

    /// The execution stops without completing: its progress is written and,
    /// with `drop_lease`, its lease dropped (see [`Store::release`]). Later
    /// writes are refused, as after `complete`.
    pub fn release(&self, drop_lease: bool) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        self.check_running(&state)?;
        state.completed = true;
        self.store.release(&self.execution, drop_lease)
    }

    /// The one transition: from the last recorded progress to `next`.
    fn write(&self, state: &mut State, next: Progress, interrupt: bool) -> Result<(), StoreError> {
        self.check_running(state)?;
        let kind = if interrupt {
            Checkpoint::Interrupt
        } else if next == state.progress {
            return Ok(());
        } else {
            state.progress.move_to(&next)
        };
        match self.store.checkpoint(&self.execution, next.clone(), kind) {
            Ok(()) => {}
            Err(error @ (StoreError::Stale { .. } | StoreError::NotFound { .. })) => {
                // Another execution owns the job now (or it was discarded):
                // this one is over here.
                self.store.forget(&self.execution);
                return Err(error);
            }
            Err(error) => return Err(error),
        }
        state.progress = next;
        Ok(())
    }

    fn check_running(&self, state: &State) -> Result<(), StoreError> {
        if !self.execution.began {
            return Err(StoreError::invalid(format!(
                "job {:?} already completed, so this run did not begin and may not write; begin it with restart to run it again",
                self.execution.job_id
            )));
        }
        if state.completed {
            return Err(StoreError::invalid(format!(
                "execution {} of job {:?} already completed its record; begin a new execution to run the job again",
                self.execution.token, self.execution.job_id
            )));
        }
        Ok(())
    }
}

impl Drop for Run {
    /// A handle dropped without `complete` or `release` (its owner lost it)
    /// stops its heartbeat: its lease then runs out, and recovery may take
    /// the job. Nothing is written here (a drop may run in a garbage
    /// collector).
    fn drop(&mut self) {
        if !self.state.lock().completed {
            self.store.forget(&self.execution);
        }
    }
}
