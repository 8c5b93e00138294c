//! Handles given to C are opaque numbers, never addresses of Rust objects:
//! each is looked up in a registry, so a NULL, freed, forged or wrong-type
//! handle is reported instead of being dereferenced. Numbers are never
//! reused within a process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use crate::error::{holdfast_status, Failure};
use crate::executor::{CExecution, CExecutor};
use crate::store_execution::CStoreExecution;
use holdfast::store::Store;
use holdfast::ShareLock;

pub(crate) enum Handle {
    Executor(Arc<CExecutor>),
    Execution(Arc<CExecution>),
    ShareLock(Arc<ShareLock>),
    Store(Arc<Store>),
    StoreExecution(Arc<CStoreExecution>),
}

impl Handle {
    fn type_name(&self) -> &'static str {
        match self {
            Handle::Executor(_) => "holdfast_executor",
            Handle::Execution(_) => "holdfast_execution",
            Handle::ShareLock(_) => "holdfast_share_lock",
            Handle::Store(_) => "holdfast_store",
            Handle::StoreExecution(_) => "holdfast_store_execution",
        }
    }
}

static REGISTRY: LazyLock<Mutex<HashMap<usize, Handle>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
// Start high and step by 16 so handles look like aligned pointers and small
// integers passed by mistake are never valid.
static NEXT: AtomicUsize = AtomicUsize::new(0x10_0000);

pub(crate) fn insert(handle: Handle) -> usize {
    let id = NEXT.fetch_add(16, Ordering::Relaxed);
    REGISTRY.lock().insert(id, handle);
    id
}

fn lookup(id: usize, wanted: &'static str) -> Result<Handle, Failure> {
    if id == 0 {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_NULL_ARGUMENT,
            format!("the {wanted} handle is NULL"),
        ));
    }
    let registry = REGISTRY.lock();
    match registry.get(&id) {
        None => Err(Failure::new(
            holdfast_status::HOLDFAST_INVALID_HANDLE,
            format!("{id:#x} is not a live {wanted} (already freed, or not made by Holdfast)"),
        )),
        Some(handle) => Ok(match handle {
            Handle::Executor(e) => Handle::Executor(Arc::clone(e)),
            Handle::Execution(e) => Handle::Execution(Arc::clone(e)),
            Handle::ShareLock(l) => Handle::ShareLock(Arc::clone(l)),
            Handle::Store(s) => Handle::Store(Arc::clone(s)),
            Handle::StoreExecution(e) => Handle::StoreExecution(Arc::clone(e)),
        }),
    }
}

fn wrong_type(id: usize, found: &Handle, wanted: &str) -> Failure {
    Failure::new(
        holdfast_status::HOLDFAST_INVALID_HANDLE,
        format!("{id:#x} is a {}, not a {wanted}", found.type_name()),
    )
}

pub(crate) fn executor(id: usize) -> Result<Arc<CExecutor>, Failure> {
    match lookup(id, "holdfast_executor")? {
        Handle::Executor(e) => Ok(e),
        other => Err(wrong_type(id, &other, "holdfast_executor")),
    }
}

pub(crate) fn share_lock(id: usize) -> Result<Arc<ShareLock>, Failure> {
    match lookup(id, "holdfast_share_lock")? {
        Handle::ShareLock(l) => Ok(l),
        other => Err(wrong_type(id, &other, "holdfast_share_lock")),
    }
}

pub(crate) fn execution(id: usize) -> Result<Arc<CExecution>, Failure> {
    match lookup(id, "holdfast_execution")? {
        Handle::Execution(e) => Ok(e),
        other => Err(wrong_type(id, &other, "holdfast_execution")),
    }
}

pub(crate) fn store(id: usize) -> Result<Arc<Store>, Failure> {
    match lookup(id, "holdfast_store")? {
        Handle::Store(s) => Ok(s),
        other => Err(wrong_type(id, &other, "holdfast_store")),
    }
}

pub(crate) fn store_execution(id: usize) -> Result<Arc<CStoreExecution>, Failure> {
    match lookup(id, "holdfast_store_execution")? {
        Handle::StoreExecution(e) => Ok(e),
        other => Err(wrong_type(id, &other, "holdfast_store_execution")),
    }
}

/// Removes a handle of the wanted type; NULL is a no-op.
pub(crate) fn remove(id: usize, wanted: &'static str) -> Result<(), Failure> {
    if id == 0 {
        return Ok(());
    }
    let mut registry = REGISTRY.lock();
    match registry.get(&id) {
        None => Err(Failure::new(
            holdfast_status::HOLDFAST_INVALID_HANDLE,
            format!("{id:#x} is not a live {wanted} (freed twice, or not made by Holdfast)"),
        )),
        Some(found) if found.type_name() != wanted => Err(wrong_type(id, found, wanted)),
        Some(_) => {
            // Dropped after the lock is released: dropping an executor may
            // not call back, but keep the registry lock short regardless.
            let removed = registry.remove(&id);
            drop(registry);
            drop(removed);
            Ok(())
        }
    }
}
