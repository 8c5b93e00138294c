//! What a deadlock or timeout error says: every party, what it holds, what
//! it waits for and for how long, and the fix for the classic cases.
//! Adapters supply the names of owners (a Ruby thread's name, a C context).

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use super::purpose::{self, Purpose};
use super::state::WaitKind;
use crate::context::ContextId;

#[derive(Clone, Debug)]
pub struct Holding {
    pub lock: Arc<str>,
    pub shares: u32,
    /// Shares given up while this owner waits (`yield_shares`).
    pub yielded: u32,
    /// `Some(purpose)` when the owner holds the exclusive lock.
    pub exclusive: Option<Purpose>,
}

#[derive(Clone, Debug)]
pub enum Waits {
    Lock {
        lock: Arc<str>,
        kind: WaitKind,
    },
    /// Declared by code: `waiting_on(target) { ... }`.
    Declared {
        target: ContextId,
        what: Arc<str>,
    },
}

#[derive(Clone, Debug)]
pub struct WaitInfo {
    pub waits: Waits,
    pub waited: Duration,
    pub blocked_by: Vec<ContextId>,
}

#[derive(Clone, Debug)]
pub struct Party {
    pub owner: ContextId,
    pub holds: Vec<Holding>,
    pub waits: Vec<WaitInfo>,
}

/// A deadlock (the parties form a cycle, in order) or a timeout (the first
/// party is the waiter, the rest block it).
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub deadlock: bool,
    pub parties: Vec<Party>,
}

impl Diagnostic {
    pub fn owners(&self) -> impl Iterator<Item = ContextId> + '_ {
        self.parties.iter().map(|p| p.owner)
    }

    /// The full text. `name` renders an owner ("thread \"worker\" (#1234)").
    pub fn render(&self, name: &dyn Fn(ContextId) -> String) -> String {
        let mut out = String::new();
        if self.deadlock {
            let _ = writeln!(
                out,
                "deadlock: {} execution contexts wait for each other, so none of these waits would ever end \
                 (this one raised instead of hanging):",
                self.parties.len()
            );
        } else {
            let waited = self
                .parties
                .first()
                .and_then(|p| p.waits.first())
                .map(|w| w.waited);
            let _ = writeln!(
                out,
                "timed out after {} waiting for the lock:",
                waited.map(seconds).unwrap_or_else(|| "the timeout".into())
            );
        }
        for party in &self.parties {
            let _ = writeln!(out, "  - {}", self.describe_party(party, name));
        }
        let _ = write!(out, "Fix: {}", self.hint());
        out
    }

    fn describe_party(&self, party: &Party, name: &dyn Fn(ContextId) -> String) -> String {
        let holds = if party.holds.is_empty() {
            "holds nothing".to_string()
        } else {
            let items: Vec<String> = party.holds.iter().map(describe_holding).collect();
            format!("holds {}", items.join(", "))
        };
        let waits = if party.waits.is_empty() {
            "is running (not waiting)".to_string()
        } else {
            let items: Vec<String> = party
                .waits
                .iter()
                .map(|w| {
                    let blockers: Vec<String> = w.blocked_by.iter().map(|&b| name(b)).collect();
                    let by = if blockers.is_empty() {
                        String::new()
                    } else {
                        format!(", blocked by {}", blockers.join(" and "))
                    };
                    format!(
                        "has waited {} {}{by}",
                        seconds(w.waited),
                        describe_wait(&w.waits, name)
                    )
                })
                .collect();
            items.join("; ")
        };
        format!("{}: {holds}; {waits}", name(party.owner))
    }

    fn hint(&self) -> &'static str {
        let declared = self.parties.iter().any(|p| {
            p.waits
                .iter()
                .any(|w| matches!(w.waits, Waits::Declared { .. }))
        });
        let holds_share = |p: &Party| p.holds.iter().any(|h| h.shares > 0);
        let upgrades = self
            .parties
            .iter()
            .filter(|p| {
                p.waits.iter().any(|w| {
                    matches!(
                        &w.waits,
                        Waits::Lock {
                            kind: WaitKind::StartExclusive { .. },
                            ..
                        }
                    )
                })
            })
            .count();
        if declared && self.parties.iter().any(holds_share) {
            "a thread that holds a share (inside executor.wrap or interlock.running) waits for another thread \
             that needs the lock. Let it give the share up while it waits: wrap the wait in \
             interlock.permit_concurrent_loads { ... } (ActiveSupport::Dependencies.interlock on Rails <= 7), \
             or start and join the other thread outside the executor."
        } else if upgrades >= 2 {
            "two threads upgrade shares to exclusive with purposes the other does not accept. List each \
             other's purpose in compatible: (as Rails does for :load and :unload), or release the share \
             before taking the exclusive lock."
        } else if self.deadlock {
            "each context waits for one the next holds. Give shares up around waits \
             (permit_concurrent_loads / yield_shares), take locks in one order, or pass timeout: \
             to turn a hang into an error."
        } else {
            "the contexts above hold what this wait needs. Find why they do not release (a long request, \
             a job holding the executor, a thread stuck in I/O), or wait longer."
        }
    }
}

fn describe_holding(h: &Holding) -> String {
    let mut parts = Vec::new();
    if h.shares > 0 {
        parts.push(format!("a share ×{}", h.shares));
    }
    if h.yielded > 0 {
        parts.push(format!("a share ×{} (given up while it waits)", h.yielded));
    }
    if let Some(purpose) = h.exclusive {
        parts.push(format!("the exclusive lock (purpose {purpose})"));
    }
    format!("{}: {}", h.lock, parts.join(" and "))
}

fn describe_wait(waits: &Waits, name: &dyn Fn(ContextId) -> String) -> String {
    match waits {
        Waits::Declared { target, what } => format!("for {} ({what})", name(*target)),
        Waits::Lock { lock, kind } => {
            let what = match kind {
                WaitKind::StartExclusive {
                    purpose,
                    compatible,
                } => format!(
                    "for the exclusive lock (purpose {purpose}, compatible {})",
                    purpose::list(compatible)
                ),
                WaitKind::StopExclusive { compatible } => format!(
                    "after releasing the exclusive lock, for compatible waiters ({}) to take it",
                    purpose::list(compatible)
                ),
                WaitKind::StartSharing => {
                    "for a share (behind the exclusive holder and pending exclusive requests)"
                        .into()
                }
                WaitKind::StartSharingNested => {
                    "for a share inside yield_shares (behind the exclusive holder)".into()
                }
                WaitKind::YieldShares => {
                    "to get its yielded shares back (behind the exclusive holder)".into()
                }
            };
            format!("{what} on {lock}")
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}
