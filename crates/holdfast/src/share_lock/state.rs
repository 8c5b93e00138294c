//! The lock's state and Rails' predicates over it, field for field: see
//! ActiveSupport::Concurrency::ShareLock (identical from Rails 6.1 to 8.1).

use std::time::Instant;

use super::purpose::Purpose;
use crate::context::{ContextId, ContextMap};

/// What a sleeping owner waits for (Rails' `@sleeping` value, plus what the
/// deadlock detector needs to know who blocks it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitKind {
    /// Upgrading or taking the exclusive lock for `purpose`.
    StartExclusive {
        purpose: Purpose,
        compatible: Vec<Purpose>,
    },
    /// Releasing the exclusive lock: waiting for eligible compatible waiters.
    StopExclusive { compatible: Vec<Purpose> },
    /// An outermost share: waits for the exclusive holder and for pending
    /// exclusive requests that do not accept plain shares.
    StartSharing,
    /// A share taken inside `yield_shares`: waits only for an exclusive holder.
    StartSharingNested,
    /// Getting yielded shares back: waits for a foreign exclusive holder to leave.
    YieldShares,
}

impl WaitKind {
    /// Rails' sleeper name (`raw_state[:sleeper]`).
    pub fn sleeper(&self) -> &'static str {
        match self {
            WaitKind::StartExclusive { .. } => "start_exclusive",
            WaitKind::StopExclusive { .. } => "stop_exclusive",
            WaitKind::StartSharing | WaitKind::StartSharingNested => "start_sharing",
            WaitKind::YieldShares => "yield_shares",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Sleep {
    pub(crate) kind: WaitKind,
    pub(crate) since: Instant,
}

/// `@waiting[owner]`: the purpose and compatible list of an owner that has
/// yielded its shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Waiting {
    pub(crate) purpose: Purpose,
    pub(crate) compatible: Vec<Purpose>,
    /// The shares given up for this wait (diagnostics only; Rails keeps
    /// them on the waiter's stack).
    pub(crate) yielded: u32,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) sharing: ContextMap<u32>,
    pub(crate) waiting: ContextMap<Waiting>,
    pub(crate) sleeping: ContextMap<Sleep>,
    pub(crate) exclusive: Option<ContextId>,
    pub(crate) exclusive_depth: u32,
    /// The purpose the current exclusive holder acquired with (diagnostics).
    pub(crate) exclusive_purpose: Purpose,
}

/// What `yield_shares` took away, to give back when its block ends.
#[derive(Debug)]
pub struct Yielded {
    pub(crate) loose_shares: Option<u32>,
    pub(crate) previous_wait: Option<Waiting>,
}

impl State {
    pub(crate) fn shares(&self, owner: ContextId) -> u32 {
        self.sharing.get(owner).copied().unwrap_or(0)
    }

    fn foreign_exclusive(&self, owner: ContextId) -> bool {
        self.exclusive.is_some_and(|holder| holder != owner)
    }

    pub(crate) fn busy_for_exclusive(&self, owner: ContextId, purpose: Purpose) -> bool {
        let own = usize::from(self.shares(owner) > 0);
        self.busy_for_sharing(owner, purpose) || self.sharing.len() > own
    }

    pub(crate) fn busy_for_sharing(&self, owner: ContextId, purpose: Purpose) -> bool {
        self.foreign_exclusive(owner)
            || self
                .waiting
                .iter()
                .any(|(t, w)| t != owner && !w.compatible.contains(&purpose))
    }

    pub(crate) fn eligible_waiters(&self, compatible: &[Purpose]) -> bool {
        self.waiting.iter().any(|(t, w)| {
            compatible.contains(&w.purpose)
                && self
                    .waiting
                    .iter()
                    .all(|(t2, w2)| t == t2 || w2.compatible.contains(&w.purpose))
        })
    }

    /// Whether `owner` must keep sleeping in a wait of `kind`.
    pub(crate) fn must_wait(&self, owner: ContextId, kind: &WaitKind) -> bool {
        match kind {
            WaitKind::StartExclusive { purpose, .. } => self.busy_for_exclusive(owner, *purpose),
            WaitKind::StopExclusive { compatible } => {
                self.exclusive.is_some() || self.eligible_waiters(compatible)
            }
            WaitKind::StartSharing => self.busy_for_sharing(owner, Purpose::False),
            WaitKind::StartSharingNested => self.exclusive.is_some(),
            WaitKind::YieldShares => self.foreign_exclusive(owner),
        }
    }

    /// The owners whose state keeps `owner` in a wait of `kind`: every one of
    /// them must change before the wait can end (the deadlock detector's edges).
    pub(crate) fn blockers(&self, owner: ContextId, kind: &WaitKind) -> Vec<ContextId> {
        let mut blockers = Vec::new();
        let mut add = |t: ContextId| {
            if t != owner && !blockers.contains(&t) {
                blockers.push(t);
            }
        };
        let exclusive_holder = self.exclusive;
        match kind {
            WaitKind::StartExclusive { purpose, .. } => {
                exclusive_holder.into_iter().for_each(&mut add);
                for (t, w) in self.waiting.iter() {
                    if !w.compatible.contains(purpose) {
                        add(t);
                    }
                }
                self.sharing.keys().for_each(&mut add);
            }
            WaitKind::StopExclusive { compatible } => {
                exclusive_holder.into_iter().for_each(&mut add);
                for (t, w) in self.waiting.iter() {
                    if compatible.contains(&w.purpose) {
                        add(t);
                    }
                }
            }
            WaitKind::StartSharing => {
                exclusive_holder.into_iter().for_each(&mut add);
                for (t, w) in self.waiting.iter() {
                    if !w.compatible.contains(&Purpose::False) {
                        add(t);
                    }
                }
            }
            WaitKind::StartSharingNested | WaitKind::YieldShares => {
                exclusive_holder.into_iter().for_each(&mut add);
            }
        }
        blockers
    }

    /// The first half of Rails' `yield_shares`: give up this owner's shares,
    /// recording the attempt in `@waiting`.
    pub(crate) fn yield_begin(
        &mut self,
        owner: ContextId,
        mut purpose: Purpose,
        mut compatible: Vec<Purpose>,
        block_share: bool,
    ) -> Yielded {
        let loose_shares = self.sharing.remove(owner);
        let mut previous_wait = None;
        if loose_shares.is_some() {
            if let Some(previous) = self.waiting.get(owner).cloned() {
                if purpose != previous.purpose {
                    purpose = Purpose::Nil;
                }
                compatible.retain(|p| previous.compatible.contains(p));
                previous_wait = Some(previous);
            }
            if !block_share && !compatible.contains(&Purpose::False) {
                compatible.push(Purpose::False);
            }
            let yielded = loose_shares.unwrap_or(0);
            self.waiting.insert(
                owner,
                Waiting {
                    purpose,
                    compatible,
                    yielded,
                },
            );
        }
        Yielded {
            loose_shares,
            previous_wait,
        }
    }

    /// The ensure half of `yield_shares`, once no foreign exclusive holder is
    /// left: restore the previous wait (or none) and the shares.
    pub(crate) fn yield_end(&mut self, owner: ContextId, yielded: Yielded) {
        match yielded.previous_wait {
            Some(previous) => self.waiting.insert(owner, previous),
            None => {
                self.waiting.remove(owner);
            }
        }
        if let Some(shares) = yielded.loose_shares {
            self.sharing.insert(owner, shares);
        }
    }

    /// When the ensure half cannot wait (interrupted again, or a deadlock):
    /// the shares are not given back, as in Rails when its ensure is
    /// interrupted, but the owner is no longer recorded as waiting.
    pub(crate) fn yield_abandon(&mut self, owner: ContextId, yielded: Yielded) {
        match yielded.previous_wait {
            Some(previous) => self.waiting.insert(owner, previous),
            None => {
                self.waiting.remove(owner);
            }
        }
    }
}
