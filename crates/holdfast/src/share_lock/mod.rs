//! Rails' share/exclusive lock (`ActiveSupport::Concurrency::ShareLock`),
//! with the same observable behaviour, plus what Rails lacks: waits that a
//! caller can interrupt or bound with a deadline, and a wait that would
//! close a cycle fails with a [`Diagnostic`] instead of hanging.
//!
//! Every operation takes an optional [`Wait`]. With `None` an operation
//! that would have to wait returns [`LockError::WouldBlock`] *before
//! changing anything*, so an adapter can try the fast path first and only
//! then enter a blocking section (for Ruby: with the GVL released).

mod diagnostic;
mod graph;
mod purpose;
mod snapshot;
mod state;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

pub use diagnostic::{Diagnostic, Holding, Party, WaitInfo, Waits};
pub use graph::DeclaredWait;
pub use purpose::Purpose;
pub use snapshot::snapshot_json;
pub use state::{WaitKind, Yielded};

use crate::context::ContextId;
use state::{Sleep, State};

/// Told once about a wait that has lasted [`Wait::long_wait`]'s threshold.
pub type LongWaitReport<'a> = dyn Fn(&Diagnostic) + Sync + 'a;

/// How a blocking operation may wait.
#[derive(Default)]
pub struct Wait<'a> {
    /// Set (through [`ShareLock::interrupt`]) to end the wait with
    /// [`LockError::Interrupted`].
    pub interrupt: Option<&'a AtomicBool>,
    /// Asked on every wake-up and at least every [`RECHECK`]: `true` ends
    /// the wait with [`LockError::Interrupted`]. For interrupts that cannot
    /// call [`ShareLock::interrupt`] (Ruby's signal handler only sets a flag
    /// on the main thread). Must be cheap and must not block.
    pub poll: Option<&'a (dyn Fn() -> bool + Sync)>,
    /// Give up with [`LockError::Timeout`] at this instant.
    pub deadline: Option<Instant>,
    /// Once the wait has lasted this long, call the function (once, with the
    /// lock's mutex released) with who blocks it: for "long wait" events.
    pub long_wait: Option<(Duration, &'a LongWaitReport<'a>)>,
    /// Wait even when the wait closes a cycle (Rails' behaviour: hang),
    /// instead of failing with [`LockError::Deadlock`]. The wait is still
    /// published, so other waiters' cycles through it are found.
    pub tolerate_deadlocks: bool,
}

#[derive(Debug)]
pub enum LockError {
    /// The operation would have to wait and no [`Wait`] was given; nothing changed.
    WouldBlock,
    /// The interrupt flag was set. The lock is as if the operation had not
    /// been attempted (shares yielded for it were given back or, when that
    /// wait was interrupted too, given up as Rails' `ensure` does).
    Interrupted,
    Timeout(Diagnostic),
    Deadlock(Diagnostic),
    /// `stop_exclusive` by an owner that does not hold the exclusive lock.
    InvalidUnlock,
}

/// How often a sleeping waiter looks at the wait-for graph again (to notice
/// a cycle that formed after it went to sleep) and asks [`Wait::poll`].
pub const RECHECK: Duration = Duration::from_millis(50);

static NEXT_LOCK_ID: AtomicU64 = AtomicU64::new(1);

/// One owner's line of [`ShareLock::snapshot`] (Rails' `raw_state` fields,
/// plus how long it has been sleeping and the exclusive purpose).
#[derive(Clone, Debug, PartialEq)]
pub struct OwnerState {
    pub owner: ContextId,
    pub sharing: u32,
    pub exclusive: bool,
    pub exclusive_purpose: Option<Purpose>,
    /// From `@waiting`: set while the owner has yielded its shares.
    pub purpose: Option<Purpose>,
    pub compatible: Option<Vec<Purpose>>,
    pub waiting: bool,
    pub sleeper: Option<&'static str>,
    pub sleeping_for: Option<Duration>,
}

pub struct ShareLock {
    id: graph::LockId,
    name: parking_lot::RwLock<Arc<str>>,
    /// The adapter's default for [`Wait::tolerate_deadlocks`] (inverted).
    detect_deadlocks: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
}

impl ShareLock {
    /// `name` appears in diagnostics ("Holdfast::Interlock", ...).
    pub fn new(name: &str) -> Self {
        ShareLock {
            id: NEXT_LOCK_ID.fetch_add(1, Ordering::Relaxed),
            name: parking_lot::RwLock::new(Arc::from(name)),
            detect_deadlocks: AtomicBool::new(true),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    pub fn name(&self) -> Arc<str> {
        Arc::clone(&self.name.read())
    }

    /// Whether waits on this lock should refuse to deadlock (adapters pass
    /// the opposite as [`Wait::tolerate_deadlocks`]). Default: true.
    pub fn detects_deadlocks(&self) -> bool {
        self.detect_deadlocks.load(Ordering::Relaxed)
    }

    pub fn set_detect_deadlocks(&self, detect: bool) {
        self.detect_deadlocks.store(detect, Ordering::Relaxed);
    }

    /// Renames the lock in later diagnostics.
    pub fn set_name(&self, name: &str) {
        *self.name.write() = Arc::from(name);
    }

    /// Sets `flag` and wakes the lock's sleepers, so a wait using that flag
    /// ends with [`LockError::Interrupted`]. Safe from any thread; takes the
    /// lock's mutex briefly so the wake-up cannot be lost.
    pub fn interrupt(&self, flag: &AtomicBool) {
        let _state = self.state.lock();
        flag.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }

    /// Rails' `start_exclusive(purpose:, compatible:, no_wait:)`: reentrant;
    /// upgrades a held share; while waiting, yields this owner's shares to
    /// attempts whose purpose is in `compatible`. `Ok(false)` only with
    /// `no_wait` when the lock is busy.
    pub fn start_exclusive(
        &self,
        owner: ContextId,
        purpose: Purpose,
        compatible: &[Purpose],
        no_wait: bool,
        wait: Option<&Wait>,
    ) -> Result<bool, LockError> {
        let mut state = self.state.lock();
        if state.exclusive != Some(owner) {
            if state.busy_for_exclusive(owner, purpose) {
                if no_wait {
                    return Ok(false);
                }
                let Some(wait) = wait else {
                    return Err(LockError::WouldBlock);
                };
                let yielded = state.yield_begin(owner, purpose, compatible.to_vec(), true);
                self.changed.notify_all();
                let kind = WaitKind::StartExclusive {
                    purpose,
                    compatible: compatible.to_vec(),
                };
                let waited = self.wait_for(&mut state, owner, kind, wait);
                let restored = self.give_back(&mut state, owner, yielded, wait, &waited);
                restored?;
                waited?;
            }
            state.exclusive = Some(owner);
            state.exclusive_purpose = purpose;
        }
        state.exclusive_depth += 1;
        self.republish(&state);
        Ok(true)
    }

    /// Rails' `stop_exclusive(compatible:)`. When the last level is released
    /// and compatible waiters are eligible, waits (shares yielded) until they
    /// have had the lock, as Rails does. An interruption of that courtesy
    /// wait still leaves the lock released.
    pub fn stop_exclusive(
        &self,
        owner: ContextId,
        compatible: &[Purpose],
        wait: Option<&Wait>,
    ) -> Result<(), LockError> {
        let mut state = self.state.lock();
        if state.exclusive != Some(owner) {
            return Err(LockError::InvalidUnlock);
        }
        if state.exclusive_depth == 1 && wait.is_none() && state.eligible_waiters(compatible) {
            return Err(LockError::WouldBlock);
        }
        state.exclusive_depth -= 1;
        let mut result = Ok(());
        if state.exclusive_depth == 0 {
            state.exclusive = None;
            state.exclusive_purpose = Purpose::Nil;
            if let (true, Some(wait)) = (state.eligible_waiters(compatible), wait) {
                let yielded = state.yield_begin(owner, Purpose::Nil, compatible.to_vec(), true);
                self.changed.notify_all();
                let kind = WaitKind::StopExclusive {
                    compatible: compatible.to_vec(),
                };
                let waited = self.wait_for(&mut state, owner, kind, wait);
                let restored = self.give_back(&mut state, owner, yielded, wait, &waited);
                result = restored.and(waited);
            }
            self.changed.notify_all();
        }
        self.republish(&state);
        result
    }

    /// Rails' `start_sharing`. Returns the owner's share count.
    pub fn start_sharing(&self, owner: ContextId, wait: Option<&Wait>) -> Result<u32, LockError> {
        let mut state = self.state.lock();
        // Reentrant: nothing to wait for, and nobody's view of the lock changes.
        if let Some(shares) = state.sharing.get_mut(owner) {
            *shares += 1;
            return Ok(*shares);
        }
        if state.exclusive != Some(owner) {
            let kind = if state.waiting.contains(owner) {
                WaitKind::StartSharingNested
            } else {
                WaitKind::StartSharing
            };
            if state.must_wait(owner, &kind) {
                let Some(wait) = wait else {
                    return Err(LockError::WouldBlock);
                };
                self.wait_for(&mut state, owner, kind, wait)?;
            }
        }
        state.sharing.insert(owner, 1);
        self.republish(&state);
        Ok(1)
    }

    /// Rails' `stop_sharing`; releasing a share that is not held does nothing,
    /// as in Rails. Returns the shares the owner still holds.
    pub fn stop_sharing(&self, owner: ContextId) -> u32 {
        let mut state = self.state.lock();
        if let Some(shares) = state.sharing.get_mut(owner).filter(|n| **n > 1) {
            *shares -= 1;
            return *shares;
        }
        state.sharing.remove(owner);
        // Every waiter sleeps in `wait_for`, registered in `sleeping`.
        if !state.sleeping.is_empty() {
            self.changed.notify_all();
            self.republish(&state);
        }
        0
    }

    /// The first half of Rails' `yield_shares`: give up the owner's shares so
    /// exclusive attempts whose purpose is in `compatible` can proceed. Never
    /// waits. Hand the result to [`ShareLock::yield_end`].
    pub fn yield_begin(
        &self,
        owner: ContextId,
        purpose: Purpose,
        compatible: &[Purpose],
        block_share: bool,
    ) -> Yielded {
        let mut state = self.state.lock();
        let yielded = state.yield_begin(owner, purpose, compatible.to_vec(), block_share);
        self.changed.notify_all();
        self.republish(&state);
        yielded
    }

    /// The `ensure` half of `yield_shares`: waits until no other owner holds
    /// the exclusive lock, then gives the shares back and takes it from
    /// `yielded`. On [`LockError::WouldBlock`] or [`LockError::Interrupted`]
    /// `yielded` is left in place to retry or to [`ShareLock::yield_abandon`];
    /// on a deadlock the shares are given up.
    pub fn yield_end(
        &self,
        owner: ContextId,
        yielded: &mut Option<Yielded>,
        wait: Option<&Wait>,
    ) -> Result<(), LockError> {
        let mut state = self.state.lock();
        if state.must_wait(owner, &WaitKind::YieldShares) {
            let Some(wait) = wait else {
                return Err(LockError::WouldBlock);
            };
            match self.wait_for(&mut state, owner, WaitKind::YieldShares, wait) {
                Ok(()) => {}
                Err(LockError::Interrupted) => return Err(LockError::Interrupted),
                Err(other) => {
                    if let Some(y) = yielded.take() {
                        state.yield_abandon(owner, y);
                    }
                    self.republish(&state);
                    return Err(other);
                }
            }
        }
        if let Some(y) = yielded.take() {
            state.yield_end(owner, y);
        }
        self.republish(&state);
        Ok(())
    }

    /// Gives up yielded shares without waiting (after the `ensure` wait of
    /// `yield_shares` itself was interrupted): the owner is no longer
    /// recorded as waiting and its shares are not restored, as in Rails.
    pub fn yield_abandon(&self, owner: ContextId, yielded: Yielded) {
        let mut state = self.state.lock();
        state.yield_abandon(owner, yielded);
        self.changed.notify_all();
        self.republish(&state);
    }

    /// Every owner the lock knows, with Rails' `raw_state` fields. Takes the
    /// lock's mutex only to copy the state.
    pub fn snapshot(&self) -> Vec<OwnerState> {
        self.snapshot_with(|_| true)
    }

    /// [`ShareLock::snapshot`] of the owners `keep` accepts; `keep` runs for
    /// each owner while the state cannot change (for adapters that must pin
    /// owners before they can leave). `keep` must not call back into this lock.
    pub fn snapshot_with(&self, mut keep: impl FnMut(ContextId) -> bool) -> Vec<OwnerState> {
        let state = self.state.lock();
        let now = Instant::now();
        let mut owners: Vec<ContextId> = state.sleeping.keys().collect();
        for owner in state
            .sharing
            .keys()
            .chain(state.waiting.keys())
            .chain(state.exclusive)
        {
            if !owners.contains(&owner) {
                owners.push(owner);
            }
        }
        owners
            .into_iter()
            .filter(|owner| keep(*owner))
            .map(|owner| {
                let waiting = state.waiting.get(owner);
                let sleep = state.sleeping.get(owner);
                let exclusive = state.exclusive == Some(owner);
                OwnerState {
                    owner,
                    sharing: state.shares(owner),
                    exclusive,
                    exclusive_purpose: exclusive.then_some(state.exclusive_purpose),
                    purpose: waiting.map(|w| w.purpose),
                    compatible: waiting.map(|w| w.compatible.clone()),
                    waiting: waiting.is_some(),
                    sleeper: sleep.map(|s| s.kind.sleeper()),
                    sleeping_for: sleep.map(|s| now.saturating_duration_since(s.since)),
                }
            })
            .collect()
    }

    /// Visits every owner the lock's state refers to (for adapters whose
    /// owners must be kept alive while they appear here). `f` must not call
    /// back into this lock.
    pub fn for_each_owner(&self, mut f: impl FnMut(ContextId)) {
        let state = self.state.lock();
        let mut seen: Vec<ContextId> = Vec::new();
        let all = state
            .sharing
            .keys()
            .chain(state.waiting.keys())
            .chain(state.sleeping.keys())
            .chain(state.exclusive);
        for owner in all {
            if !seen.contains(&owner) {
                seen.push(owner);
                f(owner);
            }
        }
    }

    /// Gives back shares yielded around a wait that has ended: Rails'
    /// `ensure`, which waits for a foreign exclusive holder to leave first.
    /// That wait keeps the caller's deadline, so a timeout is a bound: when
    /// it passes (or a new interrupt comes) while another owner still holds
    /// the lock exclusively, the shares are given up rather than restored
    /// under that owner's exclusive lock.
    fn give_back(
        &self,
        state: &mut MutexGuard<'_, State>,
        owner: ContextId,
        yielded: Yielded,
        wait: &Wait,
        waited: &Result<(), LockError>,
    ) -> Result<(), LockError> {
        let interrupted = matches!(waited, Err(LockError::Interrupted));
        if interrupted {
            if let Some(flag) = wait.interrupt {
                flag.store(false, Ordering::SeqCst);
            }
        }
        // Not `poll`: what it reports stays pending until the caller handles
        // it, after this returns. A new interrupt still sets the flag.
        let ensure = Wait {
            interrupt: wait.interrupt,
            poll: None,
            // An interrupted owner (being killed, say) runs no more reports.
            long_wait: if interrupted { None } else { wait.long_wait },
            deadline: wait.deadline,
            tolerate_deadlocks: wait.tolerate_deadlocks,
        };
        match self.wait_for(state, owner, WaitKind::YieldShares, &ensure) {
            Ok(()) => {
                state.yield_end(owner, yielded);
                Ok(())
            }
            Err(error) => {
                state.yield_abandon(owner, yielded);
                self.changed.notify_all();
                Err(error)
            }
        }
    }

    /// Rails' `wait_for`: sleep while `kind`'s condition holds, recorded in
    /// `sleeping` (and in the wait-for graph) for the length of the wait.
    fn wait_for(
        &self,
        state: &mut MutexGuard<'_, State>,
        owner: ContextId,
        kind: WaitKind,
        wait: &Wait,
    ) -> Result<(), LockError> {
        if !state.must_wait(owner, &kind) {
            return Ok(());
        }
        let since = Instant::now();
        let mut long_wait = wait.long_wait;
        state.sleeping.insert(
            owner,
            Sleep {
                kind: kind.clone(),
                since,
            },
        );
        let mut cycle = graph::publish_and_check(self.id, &self.name(), state, owner);
        let result = loop {
            if let Some(diagnostic) = cycle.take().filter(|_| !wait.tolerate_deadlocks) {
                break Err(LockError::Deadlock(diagnostic));
            }
            let flagged = wait
                .interrupt
                .is_some_and(|flag| flag.load(Ordering::SeqCst));
            if flagged || wait.poll.is_some_and(|poll| poll()) {
                break Err(LockError::Interrupted);
            }
            // Checked after the interrupt, so a report that raised (and set
            // the flag) ends the wait even when the lock came free meanwhile.
            if !state.must_wait(owner, &kind) {
                break Ok(());
            }
            let now = Instant::now();
            if let Some((threshold, report)) = long_wait {
                if now.duration_since(since) >= threshold {
                    long_wait = None;
                    let diagnostic = graph::describe(owner);
                    // The report may run arbitrary code (Ruby, a logger):
                    // never under this lock's mutex.
                    MutexGuard::unlocked(state, || report(&diagnostic));
                    continue;
                }
            }
            let mut until = now + RECHECK;
            if let Some((threshold, _)) = long_wait {
                until = until.min(since + threshold);
            }
            if let Some(deadline) = wait.deadline {
                if now >= deadline {
                    break Err(LockError::Timeout(graph::describe(owner)));
                }
                until = until.min(deadline);
            }
            self.changed.wait_until(state, until);
            if !state.must_wait(owner, &kind) {
                break Ok(());
            }
            // Edges of other waiters change without waking this one.
            graph::publish(self.id, &self.name(), state);
            cycle = graph::check(owner);
        };
        state.sleeping.remove(owner);
        graph::publish(self.id, &self.name(), state);
        result
    }

    /// Keeps the wait-for graph current while this lock has sleepers (their
    /// blockers change with every operation); free otherwise.
    fn republish(&self, state: &State) {
        if !state.sleeping.is_empty() {
            graph::publish(self.id, &self.name(), state);
        }
    }

    /// Records that `owner` waits for `target` outside any lock (a thread
    /// join, a queue pop) for as long as the returned guard lives, so a cycle
    /// through it is found. A wait that would close a cycle is refused.
    pub fn declare_wait(
        owner: ContextId,
        target: ContextId,
        what: &str,
    ) -> Result<DeclaredWait, Diagnostic> {
        graph::declare(owner, target, what)
    }
}

impl Drop for ShareLock {
    fn drop(&mut self) {
        graph::forget_lock(self.id);
    }
}
