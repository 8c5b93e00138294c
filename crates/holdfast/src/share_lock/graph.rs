//! The process-wide wait-for graph behind deadlock detection.
//!
//! Each lock that has sleepers publishes, under its own mutex, who each
//! sleeper is blocked by (computed from the live state, so a loose upgrade
//! that yields to another is no edge at all) and who holds what. Code that
//! waits outside any lock declares it (`ShareLock::waiting_on`). Every wait
//! is an AND-wait (it ends only when all its blockers change), so a cycle
//! through a waiter is a deadlock. Lock order: a lock's mutex, then this
//! graph's; the graph never takes a lock's mutex.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use parking_lot::Mutex;

use super::diagnostic::{Diagnostic, Holding, Party, WaitInfo, Waits};
use super::state::State;
use crate::context::ContextId;

pub(crate) type LockId = u64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Lock(LockId),
    Declared(u64),
}

struct Record {
    source: Source,
    waits: Waits,
    blockers: Vec<ContextId>,
    since: Instant,
}

#[derive(Default)]
struct Graph {
    records: HashMap<ContextId, Vec<Record>>,
    /// Holdings of locks that currently have sleepers.
    holdings: HashMap<LockId, Vec<(ContextId, Holding)>>,
}

static GRAPH: LazyLock<Mutex<Graph>> = LazyLock::new(|| Mutex::new(Graph::default()));
static NEXT_DECLARED: AtomicU64 = AtomicU64::new(1);

/// Replaces what `lock` published with its current sleepers and holders.
/// Call with the lock's mutex held, after any change while it has sleepers.
pub(crate) fn publish(lock: LockId, name: &Arc<str>, state: &State) {
    let mut graph = GRAPH.lock();
    graph.retract(Source::Lock(lock));
    if state.sleeping.is_empty() {
        return;
    }
    for (owner, sleep) in state.sleeping.iter() {
        let record = Record {
            source: Source::Lock(lock),
            waits: Waits::Lock {
                lock: Arc::clone(name),
                kind: sleep.kind.clone(),
            },
            blockers: state.blockers(owner, &sleep.kind),
            since: sleep.since,
        };
        graph.records.entry(owner).or_default().push(record);
    }
    let mut owners: Vec<ContextId> = state.sharing.keys().collect();
    owners.extend(
        state
            .waiting
            .keys()
            .filter(|o| state.sharing.get(*o).is_none()),
    );
    owners.extend(state.exclusive.filter(|h| !owners.contains(h)));
    let holders = owners
        .into_iter()
        .map(|owner| {
            let holding = Holding {
                lock: Arc::clone(name),
                shares: state.shares(owner),
                yielded: state.waiting.get(owner).map_or(0, |w| w.yielded),
                exclusive: (state.exclusive == Some(owner)).then_some(state.exclusive_purpose),
            };
            (owner, holding)
        })
        .collect();
    graph.holdings.insert(lock, holders);
}

/// Publishes `lock`'s state, then looks for a cycle through `owner`.
pub(crate) fn publish_and_check(
    lock: LockId,
    name: &Arc<str>,
    state: &State,
    owner: ContextId,
) -> Option<Diagnostic> {
    publish(lock, name, state);
    GRAPH.lock().cycle_through(owner)
}

pub(crate) fn check(owner: ContextId) -> Option<Diagnostic> {
    GRAPH.lock().cycle_through(owner)
}

/// Removes everything `lock` published (when it is dropped).
pub(crate) fn forget_lock(lock: LockId) {
    GRAPH.lock().retract(Source::Lock(lock));
}

/// The waiter and what blocks it, for a timeout's message.
pub(crate) fn describe(owner: ContextId) -> Diagnostic {
    let graph = GRAPH.lock();
    let mut parties = vec![owner];
    if let Some(records) = graph.records.get(&owner) {
        for blocker in records.iter().flat_map(|r| r.blockers.iter()) {
            if !parties.contains(blocker) {
                parties.push(*blocker);
            }
        }
    }
    graph.diagnostic(&parties, false)
}

/// A wait declared by code (`waiting_on(thread) { thread.join }`), removed
/// when dropped.
pub struct DeclaredWait {
    owner: ContextId,
    id: u64,
}

/// Records that `owner` waits for `target` (described by `what`), unless
/// that closes a cycle: then nothing is recorded and the cycle is returned.
pub(crate) fn declare(
    owner: ContextId,
    target: ContextId,
    what: &str,
) -> Result<DeclaredWait, Diagnostic> {
    let id = NEXT_DECLARED.fetch_add(1, Ordering::Relaxed);
    let mut graph = GRAPH.lock();
    graph.records.entry(owner).or_default().push(Record {
        source: Source::Declared(id),
        waits: Waits::Declared {
            target,
            what: Arc::from(what),
        },
        blockers: vec![target],
        since: Instant::now(),
    });
    if let Some(cycle) = graph.cycle_through(owner) {
        graph.retract_owner(owner, Source::Declared(id));
        return Err(cycle);
    }
    Ok(DeclaredWait { owner, id })
}

impl Drop for DeclaredWait {
    fn drop(&mut self) {
        GRAPH
            .lock()
            .retract_owner(self.owner, Source::Declared(self.id));
    }
}

impl Graph {
    fn retract(&mut self, source: Source) {
        if let Source::Lock(lock) = source {
            self.holdings.remove(&lock);
        }
        self.records.retain(|_, records| {
            records.retain(|r| r.source != source);
            !records.is_empty()
        });
    }

    fn retract_owner(&mut self, owner: ContextId, source: Source) {
        if let Some(records) = self.records.get_mut(&owner) {
            records.retain(|r| r.source != source);
            if records.is_empty() {
                self.records.remove(&owner);
            }
        }
    }

    fn blockers_of(&self, owner: ContextId) -> impl Iterator<Item = ContextId> + '_ {
        self.records
            .get(&owner)
            .into_iter()
            .flat_map(|records| records.iter().flat_map(|r| r.blockers.iter().copied()))
    }

    /// A path `owner → … → owner` along blocker edges, if any.
    fn cycle_through(&self, owner: ContextId) -> Option<Diagnostic> {
        // Depth-first, iterative: (node, index of the next blocker to try).
        let mut path: Vec<(ContextId, Vec<ContextId>)> =
            vec![(owner, self.blockers_of(owner).collect())];
        let mut seen = vec![owner];
        while let Some((_, pending)) = path.last_mut() {
            let Some(next) = pending.pop() else {
                path.pop();
                continue;
            };
            if next == owner {
                let cycle: Vec<ContextId> = path.iter().map(|(node, _)| *node).collect();
                return Some(self.diagnostic(&cycle, true));
            }
            if !seen.contains(&next) {
                seen.push(next);
                let blockers = self.blockers_of(next).collect();
                path.push((next, blockers));
            }
        }
        None
    }

    fn diagnostic(&self, owners: &[ContextId], deadlock: bool) -> Diagnostic {
        let now = Instant::now();
        let parties = owners
            .iter()
            .map(|&owner| Party {
                owner,
                holds: self
                    .holdings
                    .values()
                    .flat_map(|holders| holders.iter())
                    .filter(|(holder, _)| *holder == owner)
                    .map(|(_, holding)| holding.clone())
                    .collect(),
                waits: self
                    .records
                    .get(&owner)
                    .into_iter()
                    .flatten()
                    .map(|r| WaitInfo {
                        waits: r.waits.clone(),
                        waited: now.saturating_duration_since(r.since),
                        blocked_by: r.blockers.clone(),
                    })
                    .collect(),
            })
            .collect();
        Diagnostic { deadlock, parties }
    }
}
