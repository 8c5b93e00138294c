//! One execution: the span between an executor's run callbacks and its
//! complete callbacks, bound to the context that started it.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::adapter::{Adapter, Misuse};
use super::chain::HookId;
use super::ContextId;

pub struct Execution<A: Adapter> {
    context: ContextId,
    /// Registered as its context's active execution (`run`/`wrap`), as
    /// opposed to a bare `perform`, which never touches the active state.
    tracked: bool,
    payload: A::Payload,
    completed: AtomicBool,
    /// The state each hook's `run` returned, in run order. A hook absent here
    /// did not run in this execution, so it is not completed either.
    hooks: Mutex<Vec<(HookId, A::State)>>,
}

impl<A: Adapter> Execution<A> {
    pub(crate) fn new(context: ContextId, tracked: bool, payload: A::Payload) -> Self {
        Execution {
            context,
            tracked,
            payload,
            completed: AtomicBool::new(false),
            hooks: Mutex::new(Vec::new()),
        }
    }

    pub fn context(&self) -> ContextId {
        self.context
    }

    pub fn payload(&self) -> &A::Payload {
        &self.payload
    }

    pub fn is_completed(&self) -> bool {
        self.completed.load(Ordering::Acquire)
    }

    pub(crate) fn is_tracked(&self) -> bool {
        self.tracked
    }

    /// Visits every stored hook state (adapters that hold garbage-collected
    /// values use this to keep them alive). `f` must not re-enter the executor.
    pub fn for_each_hook_state(&self, mut f: impl FnMut(&A::State)) {
        for (_, state) in self.hooks.lock().iter() {
            f(state);
        }
    }

    pub(crate) fn mark_completed(&self) -> Result<(), Misuse> {
        if self.completed.swap(true, Ordering::AcqRel) {
            return Err(Misuse::AlreadyCompleted {
                context: self.context,
            });
        }
        Ok(())
    }

    pub(crate) fn store_hook_state(&self, id: HookId, value: A::State) {
        let mut hooks = self.hooks.lock();
        match hooks.iter_mut().find(|(h, _)| *h == id) {
            Some(slot) => slot.1 = value,
            None => hooks.push((id, value)),
        }
    }

    pub(crate) fn take_hook_state(&self, id: HookId) -> Option<A::State> {
        let mut hooks = self.hooks.lock();
        let index = hooks.iter().position(|(h, _)| *h == id)?;
        Some(hooks.remove(index).1)
    }
}
