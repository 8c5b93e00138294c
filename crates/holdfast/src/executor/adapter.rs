//! The seam between the executor's state machine and the language that owns
//! the callbacks. The core decides *which* callback runs *when*; an adapter
//! decides *how* a callback is called.

use std::fmt;

/// Types an embedding (Ruby, C, a Rust test) stores in an executor.
pub trait Adapter: 'static {
    /// A `to_run` / `to_complete` callback as the adapter represents it.
    type Callback: Send + Sync;
    /// An object registered with `register_hook`: run before the work, completed after it.
    type Hook: Send + Sync;
    /// What a hook's `run` returned, handed to its `complete`.
    type State: Send;
    /// The adapter's per-execution object (for Ruby: the execution instance
    /// that callbacks run against, so run and complete callbacks share state).
    type Payload: Send + Sync;

    /// ActiveSupport drops an earlier callback when the same method name is
    /// registered again for the same position; adapters that have named
    /// callbacks say here when two are "the same".
    fn duplicates(_existing: &Self::Callback, _new: &Self::Callback) -> bool {
        false
    }
}

/// Whether a `before` callback lets the rest of its chain run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop the remaining `before` callbacks of this chain (ActiveSupport's
    /// `throw :abort`). `after` callbacks still run, as in ActiveSupport.
    Halt,
}

/// Calls the adapter's callbacks. One invoker serves one executor operation.
pub trait Invoker<A: Adapter> {
    type Error: From<Misuse>;

    fn call(
        &mut self,
        payload: &A::Payload,
        callback: &A::Callback,
        position: super::Position,
    ) -> Result<Flow, Self::Error>;

    fn run_hook(&mut self, payload: &A::Payload, hook: &A::Hook) -> Result<A::State, Self::Error>;

    fn complete_hook(
        &mut self,
        payload: &A::Payload,
        hook: &A::Hook,
        state: A::State,
    ) -> Result<(), Self::Error>;

    /// Called once by `wrap` with an error that escaped the wrapped work,
    /// before the execution completes (Rails' `error_reporter.report(...,
    /// handled: false)`). Returns the error to propagate: the same one, or
    /// the reporter's own failure, as a `raise` inside a Ruby `rescue` would.
    fn report(&mut self, error: Self::Error) -> Self::Error {
        error
    }
}

/// Using an executor in a way its contract forbids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Misuse {
    /// `complete` was called on an execution that had already completed.
    AlreadyCompleted { context: u64 },
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misuse::AlreadyCompleted { context } => write!(
                f,
                "this execution (context {context:#x}) has already completed; \
                 complete it exactly once for each run, or use wrap, which does it for you"
            ),
        }
    }
}

impl std::error::Error for Misuse {}
