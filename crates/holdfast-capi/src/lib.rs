//! The C ABI over the Holdfast core. The header, `include/holdfast.h`, is
//! generated from this crate by cbindgen (see build.rs); the conventions are
//! written down in README.md ("C API conventions").

#![allow(non_camel_case_types)]

mod buffers;
mod error;
mod executor;
mod handles;
mod panic;
mod share_lock;
mod store;
mod store_execution;
mod store_recovery;

pub use error::{holdfast_last_error_message, holdfast_status, holdfast_status_name};
pub use executor::*;
pub use share_lock::*;
pub use store::*;
pub use store_execution::*;
pub use store_recovery::*;
