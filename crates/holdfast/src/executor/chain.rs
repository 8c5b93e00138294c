//! Callback chains with ActiveSupport::Callbacks' ordering rules, as the
//! executor uses them: `before` entries run in chain order, then `after`
//! entries in reverse chain order; `prepend` puts an entry at the front.

use std::sync::Arc;

use super::adapter::Adapter;

/// Which of the two chains a callback belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Runs before the work (`to_run`).
    Run,
    /// Runs after the work (`to_complete`).
    Complete,
}

/// ActiveSupport's callback kind within a chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Position {
    #[default]
    Before,
    After,
}

/// How a callback is placed in its chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallbackOptions {
    pub position: Position,
    /// Insert at the front of the chain instead of the back.
    pub prepend: bool,
}

/// Identifies one `register_hook` registration; its run state is kept under this id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HookId(pub(crate) u64);

pub(crate) enum Action<A: Adapter> {
    Callback(Arc<A::Callback>),
    RunHook(HookId, Arc<A::Hook>),
    CompleteHook(HookId, Arc<A::Hook>),
}

impl<A: Adapter> Clone for Action<A> {
    fn clone(&self) -> Self {
        match self {
            Action::Callback(c) => Action::Callback(Arc::clone(c)),
            Action::RunHook(id, h) => Action::RunHook(*id, Arc::clone(h)),
            Action::CompleteHook(id, h) => Action::CompleteHook(*id, Arc::clone(h)),
        }
    }
}

pub(crate) struct Entry<A: Adapter> {
    pub(crate) action: Action<A>,
    pub(crate) position: Position,
}

impl<A: Adapter> Clone for Entry<A> {
    fn clone(&self) -> Self {
        Entry {
            action: self.action.clone(),
            position: self.position,
        }
    }
}

pub(crate) struct Chain<A: Adapter> {
    entries: Vec<Entry<A>>,
}

impl<A: Adapter> Clone for Chain<A> {
    fn clone(&self) -> Self {
        Chain {
            entries: self.entries.clone(),
        }
    }
}

impl<A: Adapter> Default for Chain<A> {
    fn default() -> Self {
        Chain {
            entries: Vec::new(),
        }
    }
}

impl<A: Adapter> Chain<A> {
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn insert(&mut self, entry: Entry<A>, prepend: bool) {
        if let Action::Callback(new) = &entry.action {
            let position = entry.position;
            self.entries.retain(|e| match &e.action {
                Action::Callback(old) => !(e.position == position && A::duplicates(old, new)),
                _ => true,
            });
        }
        if prepend {
            self.entries.insert(0, entry);
        } else {
            self.entries.push(entry);
        }
    }

    /// Entries in the order they run: every `before` in chain order, then
    /// every `after` in reverse chain order.
    pub(crate) fn befores(&self) -> impl Iterator<Item = &Entry<A>> {
        self.entries
            .iter()
            .filter(|e| e.position == Position::Before)
    }

    pub(crate) fn afters(&self) -> impl Iterator<Item = &Entry<A>> {
        self.entries
            .iter()
            .rev()
            .filter(|e| e.position == Position::After)
    }

    pub(crate) fn callbacks(&self) -> impl Iterator<Item = &A::Callback> {
        self.entries.iter().filter_map(|e| match &e.action {
            Action::Callback(c) => Some(&**c),
            _ => None,
        })
    }

    pub(crate) fn hooks(&self) -> impl Iterator<Item = &A::Hook> {
        self.entries.iter().filter_map(|e| match &e.action {
            Action::RunHook(_, h) => Some(&**h),
            _ => None,
        })
    }
}

/// The run chain and the complete chain of one executor.
pub(crate) struct Chains<A: Adapter> {
    pub(crate) run: Chain<A>,
    pub(crate) complete: Chain<A>,
}

impl<A: Adapter> Clone for Chains<A> {
    fn clone(&self) -> Self {
        Chains {
            run: self.run.clone(),
            complete: self.complete.clone(),
        }
    }
}

impl<A: Adapter> Default for Chains<A> {
    fn default() -> Self {
        Chains {
            run: Chain::default(),
            complete: Chain::default(),
        }
    }
}

impl<A: Adapter> Chains<A> {
    pub(crate) fn chain_mut(&mut self, phase: Phase) -> &mut Chain<A> {
        match phase {
            Phase::Run => &mut self.run,
            Phase::Complete => &mut self.complete,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.run.is_empty() && self.complete.is_empty()
    }
}
