//! Small native objects the lock hands to Ruby: the executor hook that
//! holds a share per execution, and the token of a yield_shares.

use std::sync::Arc;

use magnus::{gc::Marker, DataTypeFunctions, Error, Ruby, TypedData, Value};
use parking_lot::Mutex;

use holdfast::share_lock::Yielded;
use holdfast::{ContextId, ShareLock};

use super::waiting::{acquire, owner};

/// The interlock's executor hook: one share of the lock per execution.
#[derive(TypedData)]
#[magnus(class = "Holdfast::Native::SharingHook", free_immediately, mark)]
pub(crate) struct SharingHook {
    pub(crate) lock: Arc<ShareLock>,
    /// Keeps the Ruby lock (which marks the lock's owners) alive.
    pub(super) lock_object: magnus::value::Opaque<Value>,
}

impl DataTypeFunctions for SharingHook {
    fn mark(&self, marker: &Marker) {
        marker.mark(self.lock_object);
    }
}

impl SharingHook {
    pub(super) fn run(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        let me = owner(ruby);
        let lock = &rb_self.lock;
        acquire(ruby, lock, None, lock.detects_deadlocks(), |wait| {
            lock.start_sharing(me, wait)
        })
        .map(|_| ())
    }

    pub(super) fn complete(ruby: &Ruby, rb_self: &Self, _state: Value) {
        rb_self.lock.stop_sharing(owner(ruby));
    }
}

/// What `yield_shares` gave up, until its block ends.
#[derive(TypedData)]
#[magnus(class = "Holdfast::Native::YieldToken", free_immediately)]
pub(crate) struct YieldToken {
    pub(super) owner: ContextId,
    pub(super) yielded: Mutex<Option<Yielded>>,
}

impl DataTypeFunctions for YieldToken {}
