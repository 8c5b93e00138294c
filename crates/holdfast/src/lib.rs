//! Holdfast core: the pieces of Rails' threading model that every Rails
//! application relies on, written once in Rust and reached from C and Ruby.
//!
//! This crate knows nothing about Ruby or C. Callers identify their execution
//! contexts (a Ruby Thread or Fiber, a C thread) with opaque [`ContextId`]s and
//! supply callbacks through small adapter traits.

mod context;
pub mod executor;
pub mod limits;
pub mod share_lock;
pub mod store;

pub use context::ContextId;
pub use executor::{
    Adapter, CallbackOptions, Execution, Executor, Flow, HookId, Invoker, Misuse, Phase, Position,
};
pub use share_lock::{LockError, Purpose, ShareLock, Wait};
