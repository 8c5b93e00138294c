//! The executor: Rails' `ActiveSupport::ExecutionWrapper` / `Executor`
//! state machine.
//!
//! * run callbacks run before the work, complete callbacks after it, each
//!   chain in ActiveSupport's order (see [`chain`]);
//! * a hook's `run` result is handed to its `complete`; a hook whose `run`
//!   did not happen is not completed, while ordinary complete callbacks always
//!   run once an execution has started;
//! * each context has at most one active execution per executor: `run` while
//!   active gives a null execution and `wrap` while active just does the work;
//!   separate executors nest freely;
//! * a child executor ([`Executor::subclass`]) starts with its parent's
//!   callbacks and keeps receiving the ones added to the parent later.

mod adapter;
mod chain;
mod execution;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};

pub use adapter::{Adapter, Flow, Invoker, Misuse};
pub use chain::{CallbackOptions, HookId, Phase, Position};
pub use execution::Execution;

pub use crate::context::ContextId;
use crate::context::ContextMap;
use chain::{Action, Chain, Chains, Entry};

static NEXT_HOOK_ID: AtomicU64 = AtomicU64::new(1);

pub struct Executor<A: Adapter> {
    shared: Arc<Shared<A>>,
}

impl<A: Adapter> Clone for Executor<A> {
    fn clone(&self) -> Self {
        Executor {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct Shared<A: Adapter> {
    /// Copy-on-write: an operation runs against the snapshot it started with,
    /// so callbacks may register callbacks without deadlocking.
    chains: RwLock<Arc<Chains<A>>>,
    /// Set once the first callback or hook arrives (there is no removal), so
    /// executions of a callback-free executor skip the chain snapshot: on
    /// the empty `wrap` path, atomic read-modify-writes are most of the cost.
    has_callbacks: AtomicBool,
    children: Mutex<Vec<Weak<Shared<A>>>>,
    active: Mutex<ContextMap<Arc<Execution<A>>>>,
}

impl<A: Adapter> Default for Executor<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Adapter> Executor<A> {
    pub fn new() -> Self {
        Self::with_chains(Chains::default())
    }

    fn with_chains(chains: Chains<A>) -> Self {
        Executor {
            shared: Arc::new(Shared {
                has_callbacks: AtomicBool::new(!chains.is_empty()),
                chains: RwLock::new(Arc::new(chains)),
                children: Mutex::new(Vec::new()),
                active: Mutex::new(ContextMap::default()),
            }),
        }
    }

    /// A new executor that starts with this one's callbacks and hooks and
    /// also receives those registered on this one (or its ancestors) later.
    /// Its active state is its own.
    pub fn subclass(&self) -> Self {
        let chains = (**self.shared.chains.read()).clone();
        let child = Self::with_chains(chains);
        let mut children = self.shared.children.lock();
        children.retain(|c| c.strong_count() > 0);
        children.push(Arc::downgrade(&child.shared));
        drop(children);
        child
    }

    /// `to_run` (phase [`Phase::Run`]) or `to_complete` (phase [`Phase::Complete`]).
    pub fn add_callback(&self, phase: Phase, callback: A::Callback, options: CallbackOptions) {
        let action = Action::Callback(Arc::new(callback));
        let entry = Entry {
            action,
            position: options.position,
        };
        self.update(&|chains: &mut Chains<A>| {
            chains
                .chain_mut(phase)
                .insert(entry.clone(), options.prepend)
        });
    }

    /// `register_hook(hook, outer:)`: an outer hook runs before every other
    /// run callback and completes after every other complete callback.
    pub fn register_hook(&self, hook: A::Hook, outer: bool) -> HookId {
        let id = HookId(NEXT_HOOK_ID.fetch_add(1, Ordering::Relaxed));
        let hook = Arc::new(hook);
        let run = Entry {
            action: Action::RunHook(id, Arc::clone(&hook)),
            position: Position::Before,
        };
        let complete = Entry {
            action: Action::CompleteHook(id, hook),
            position: if outer {
                Position::After
            } else {
                Position::Before
            },
        };
        self.update(&|chains: &mut Chains<A>| {
            chains.run.insert(run.clone(), outer);
            chains.complete.insert(complete.clone(), false);
        });
        id
    }

    fn update(&self, change: &dyn Fn(&mut Chains<A>)) {
        Self::update_shared(&self.shared, change);
    }

    fn update_shared(shared: &Arc<Shared<A>>, change: &dyn Fn(&mut Chains<A>)) {
        {
            let mut guard = shared.chains.write();
            let mut next = (**guard).clone();
            change(&mut next);
            *guard = Arc::new(next);
            shared.has_callbacks.store(true, Ordering::Release);
        }
        let children: Vec<_> = {
            let mut children = shared.children.lock();
            children.retain(|c| c.strong_count() > 0);
            children.iter().filter_map(Weak::upgrade).collect()
        };
        for child in &children {
            Self::update_shared(child, change);
        }
    }

    fn chains(&self) -> Arc<Chains<A>> {
        Arc::clone(&self.shared.chains.read())
    }

    /// Runs the current `phase` chain; free when nothing was ever registered.
    fn run_phase<I: Invoker<A>>(
        &self,
        phase: Phase,
        execution: &Execution<A>,
        invoker: &mut I,
    ) -> Result<(), I::Error> {
        if !self.has_callbacks() {
            return Ok(());
        }
        let chains = self.chains();
        let chain = match phase {
            Phase::Run => &chains.run,
            Phase::Complete => &chains.complete,
        };
        run_chain(chain, execution, invoker)
    }

    /// Whether any callback or hook is registered.
    pub fn has_callbacks(&self) -> bool {
        self.shared.has_callbacks.load(Ordering::Acquire)
    }

    pub fn is_active(&self, context: ContextId) -> bool {
        self.shared.active.lock().contains(context)
    }

    pub fn active_execution(&self, context: ContextId) -> Option<Arc<Execution<A>>> {
        self.shared.active.lock().get(context).cloned()
    }

    /// The active execution `matches` picks, on any context. `matches` runs
    /// under the executor's lock: it must only inspect, never call out.
    pub fn find_active(
        &self,
        mut matches: impl FnMut(&Execution<A>) -> bool,
    ) -> Option<Arc<Execution<A>>> {
        let active = self.shared.active.lock();
        let found = active.values().find(|e| matches(e)).cloned();
        found
    }

    /// Visits every registered callback and hook. For garbage-collector
    /// marking: `f` must not call back into this executor.
    pub fn for_each_registered(
        &self,
        mut callback: impl FnMut(&A::Callback),
        mut hook: impl FnMut(&A::Hook),
    ) {
        let chains = self.chains();
        for chain in [&chains.run, &chains.complete] {
            chain.callbacks().for_each(&mut callback);
        }
        chains.run.hooks().for_each(&mut hook);
    }

    /// Visits every active execution (for marking; `f` must not re-enter).
    pub fn for_each_active(&self, mut f: impl FnMut(&Arc<Execution<A>>)) {
        let active: Vec<_> = self.shared.active.lock().values().cloned().collect();
        active.iter().for_each(&mut f);
    }

    /// Starts an execution on `context`: Rails' `run!(reset:)`.
    ///
    /// Returns `None` (Rails' null execution) when `context` already has an
    /// active execution, unless `reset`, which first completes that lost one.
    /// `payload` may be built and dropped unused when the context turns out
    /// to be active (checking and registering take one lock, and `payload`
    /// must not run under it).
    /// When a run callback fails, the execution is completed before the error
    /// is returned; an error from completing replaces the run error, as a
    /// Ruby `ensure` would.
    pub fn run<I: Invoker<A>>(
        &self,
        context: ContextId,
        reset: bool,
        payload: impl FnOnce() -> Result<A::Payload, I::Error>,
        invoker: &mut I,
    ) -> Result<Option<Arc<Execution<A>>>, I::Error> {
        if reset {
            let lost = self.shared.active.lock().remove(context);
            // A lost execution its owner completed meanwhile needs nothing more.
            if let Some(lost) = lost.filter(|lost| !lost.is_completed()) {
                self.complete(&lost, invoker)?;
            }
        }

        let execution = Arc::new(Execution::new(context, true, payload()?));
        {
            let mut active = self.shared.active.lock();
            if !reset && active.contains(context) {
                return Ok(None);
            }
            active.insert(context, Arc::clone(&execution));
        }
        let deactivate = Deactivate::new(&self.shared, &execution);
        match self.run_phase(Phase::Run, &execution, invoker) {
            Ok(()) => {
                deactivate.defuse();
                Ok(Some(execution))
            }
            Err(error) => {
                // Still active while the complete chain runs, as in Rails.
                deactivate.defuse();
                self.complete(&execution, invoker)?;
                Err(error)
            }
        }
    }

    /// Runs one phase's chain against `payload`, outside any execution's
    /// lifecycle: for chains that only share the executor's callback
    /// machinery (a Reloader's prepare and class-unload chains). Hooks get
    /// no state here, so hook completes are skipped.
    pub fn run_chain<I: Invoker<A>>(
        &self,
        context: ContextId,
        phase: Phase,
        payload: A::Payload,
        invoker: &mut I,
    ) -> Result<(), I::Error> {
        let execution = Execution::new(context, false, payload);
        self.run_phase(phase, &execution, invoker)
    }

    /// Rails' instance-level `run!`, for callers that own the instance and
    /// its `complete!` (a Ruby class overriding `run!`/`complete!`): makes a
    /// new execution `context`'s active one, replacing any, as Rails'
    /// `active[Thread.current] = self` does, then runs the run chain.
    ///
    /// Unlike [`Executor::run`], a failing run callback leaves the execution
    /// active and uncompleted: the caller's `ensure` completes it, through
    /// whatever `complete!` override it has. Only an unwind deactivates it.
    pub fn start<I: Invoker<A>>(
        &self,
        context: ContextId,
        payload: A::Payload,
        invoker: &mut I,
    ) -> (Arc<Execution<A>>, Result<(), I::Error>) {
        let execution = Arc::new(Execution::new(context, true, payload));
        self.shared
            .active
            .lock()
            .insert(context, Arc::clone(&execution));
        let deactivate = Deactivate::new(&self.shared, &execution);
        let result = self.run_phase(Phase::Run, &execution, invoker);
        deactivate.defuse();
        (execution, result)
    }

    /// Completes an execution started by [`Executor::run`] (Rails'
    /// `complete!`): runs the complete chain and ends the context's active
    /// state, even when a callback fails. A second call is [`Misuse`].
    pub fn complete<I: Invoker<A>>(
        &self,
        execution: &Arc<Execution<A>>,
        invoker: &mut I,
    ) -> Result<(), I::Error> {
        execution.mark_completed()?;
        let _deactivate = Deactivate::new(&self.shared, execution);
        self.run_phase(Phase::Complete, execution, invoker)
    }

    /// Rails' `wrap(source:)`: does `work` inside an execution of `context`,
    /// or just does it when `context` is already inside one. An error from
    /// `work` goes to [`Invoker::report`] once, then the execution completes
    /// and the error is returned.
    pub fn wrap<I: Invoker<A>, R>(
        &self,
        context: ContextId,
        payload: impl FnOnce() -> Result<A::Payload, I::Error>,
        invoker: &mut I,
        work: impl FnOnce() -> Result<R, I::Error>,
    ) -> Result<R, I::Error> {
        let Some(execution) = self.run(context, false, payload, invoker)? else {
            return work();
        };
        let result = {
            // If `work` unwinds, the context must not stay active forever.
            let deactivate = Deactivate::new(&self.shared, &execution);
            let result = work();
            deactivate.defuse();
            result
        };
        let result = result.map_err(|error| invoker.report(error));
        self.complete(&execution, invoker)?;
        result
    }

    /// Rails' `perform`: the callbacks around `work` without touching the
    /// context's active state. A failing run callback skips the complete
    /// chain, as Rails' `perform` does.
    pub fn perform<I: Invoker<A>, R>(
        &self,
        context: ContextId,
        payload: impl FnOnce() -> Result<A::Payload, I::Error>,
        invoker: &mut I,
        work: impl FnOnce() -> Result<R, I::Error>,
    ) -> Result<R, I::Error> {
        let execution = Arc::new(Execution::new(context, false, payload()?));
        self.run_phase(Phase::Run, &execution, invoker)?;
        let result = work();
        self.complete(&execution, invoker)?;
        result
    }
}

fn run_chain<A: Adapter, I: Invoker<A>>(
    chain: &Chain<A>,
    execution: &Execution<A>,
    invoker: &mut I,
) -> Result<(), I::Error> {
    for entry in chain.befores() {
        if invoke(entry, execution, invoker)? == Flow::Halt {
            break;
        }
    }
    for entry in chain.afters() {
        invoke(entry, execution, invoker)?;
    }
    Ok(())
}

fn invoke<A: Adapter, I: Invoker<A>>(
    entry: &Entry<A>,
    execution: &Execution<A>,
    invoker: &mut I,
) -> Result<Flow, I::Error> {
    let payload = execution.payload();
    match &entry.action {
        Action::Callback(callback) => invoker.call(payload, callback, entry.position),
        Action::RunHook(id, hook) => {
            let state = invoker.run_hook(payload, hook)?;
            execution.store_hook_state(*id, state);
            Ok(Flow::Continue)
        }
        Action::CompleteHook(id, hook) => {
            if let Some(state) = execution.take_hook_state(*id) {
                invoker.complete_hook(payload, hook, state)?;
            }
            Ok(Flow::Continue)
        }
    }
}

/// Ends a tracked execution's active state when dropped (also on unwind).
struct Deactivate<'a, A: Adapter> {
    shared: &'a Shared<A>,
    execution: &'a Arc<Execution<A>>,
    armed: bool,
}

impl<'a, A: Adapter> Deactivate<'a, A> {
    fn new(shared: &'a Shared<A>, execution: &'a Arc<Execution<A>>) -> Self {
        Deactivate {
            shared,
            execution,
            armed: execution.is_tracked(),
        }
    }

    fn defuse(mut self) {
        self.armed = false;
    }
}

impl<A: Adapter> Drop for Deactivate<'_, A> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut active = self.shared.active.lock();
        let context = self.execution.context();
        // Only our own entry: a `run(reset: true)` may have replaced it.
        if active
            .get(context)
            .is_some_and(|current| Arc::ptr_eq(current, self.execution))
        {
            active.remove(context);
        }
    }
}
