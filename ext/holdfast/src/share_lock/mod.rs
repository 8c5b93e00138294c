//! `Holdfast::ShareLock`: the core lock for Ruby. Owners are the current
//! Thread or Fiber. An operation first tries without waiting, holding the
//! GVL; only when it must wait does it run again with the GVL released and
//! an unblocking function, so other threads run and `Thread#kill`,
//! `Thread#raise`, `Timeout` and Ctrl-C end the wait with the lock left
//! consistent.

mod hooks;
mod waiting;

use std::sync::Arc;
use std::time::Instant;

use magnus::{
    gc::Marker, prelude::*, rb_sys::AsRawValue, typed_data::Obj, value::ReprValue,
    DataTypeFunctions, Error, RHash, Ruby, TypedData, Value,
};
use parking_lot::Mutex;

use holdfast::share_lock::snapshot_json;
use holdfast::{ContextId, LockError, Purpose, ShareLock};

use crate::{errors, json, keywords, purposes};

pub(crate) use hooks::{SharingHook, YieldToken};
pub(crate) use waiting::{acquire, blocking, lock_error, render};
use waiting::{deadline, get_long_wait_threshold, owner, set_long_wait_threshold, thread_labels};

#[derive(TypedData)]
#[magnus(class = "Holdfast::ShareLock", free_immediately, mark)]
pub(crate) struct RbShareLock {
    pub(crate) lock: Arc<ShareLock>,
}

impl Default for RbShareLock {
    fn default() -> Self {
        RbShareLock {
            lock: Arc::new(ShareLock::new("Holdfast::ShareLock")),
        }
    }
}

impl DataTypeFunctions for RbShareLock {
    /// Owners are keyed by their object's address: keeping every owner the
    /// lock refers to alive (and unmoved) keeps the address theirs.
    fn mark(&self, _marker: &Marker) {
        self.lock.for_each_owner(|owner| {
            // SAFETY: every owner id is the address of a live Thread or Fiber
            // (added while it ran, and marked here ever since).
            unsafe { rb_sys::rb_gc_mark(owner as rb_sys::VALUE) };
        });
    }
}

impl RbShareLock {
    fn detects(&self) -> bool {
        self.lock.detects_deadlocks()
    }

    fn set_detect_deadlocks(&self, detect: bool) {
        self.lock.set_detect_deadlocks(detect);
    }

    /// A hook for `executor.register_hook`: the executor takes a share of
    /// this lock for each execution natively (no Ruby calls); it also works
    /// as a Ruby hook (`run` / `complete`) with any executor.
    fn executor_hook(rb_self: Obj<Self>) -> SharingHook {
        SharingHook {
            lock: Arc::clone(&rb_self.lock),
            lock_object: rb_self.as_value().into(),
        }
    }

    fn set_name(&self, name: String) {
        self.lock.set_name(&name);
    }

    fn name(&self) -> String {
        self.lock.name().to_string()
    }

    fn start_exclusive(
        ruby: &Ruby,
        rb_self: &Self,
        purpose: Value,
        compatible: Value,
        no_wait: bool,
        timeout: Value,
    ) -> Result<bool, Error> {
        let purpose = purposes::from_ruby(ruby, purpose, "purpose")?;
        let compatible = purposes::list_from_ruby(ruby, compatible, "compatible")?;
        let deadline = deadline(ruby, timeout)?;
        let me = owner(ruby);
        acquire(ruby, &rb_self.lock, deadline, rb_self.detects(), |wait| {
            rb_self
                .lock
                .start_exclusive(me, purpose, &compatible, no_wait, wait)
        })
    }

    fn stop_exclusive(ruby: &Ruby, rb_self: &Self, compatible: Value) -> Result<(), Error> {
        let compatible = purposes::list_from_ruby(ruby, compatible, "compatible")?;
        rb_self.release_exclusive(ruby, owner(ruby), &compatible)
    }

    /// `exclusive(purpose: nil, compatible: [], after_compatible: [],
    /// no_wait: false, timeout: nil) { ... }`, native so the common case
    /// costs one call.
    fn exclusive(ruby: &Ruby, rb_self: &Self, args: &[Value]) -> Result<Value, Error> {
        let options = ExclusiveOptions::parse(ruby, args)?;
        let me = owner(ruby);
        let lock = &rb_self.lock;
        let got = acquire(ruby, lock, options.deadline, rb_self.detects(), |wait| {
            lock.start_exclusive(
                me,
                options.purpose,
                &options.compatible,
                options.no_wait,
                wait,
            )
        })?;
        if !got {
            return Ok(ruby.qnil().as_value());
        }
        let result = ruby.yield_value::<_, Value>(());
        // `ensure`: an error while releasing replaces the block's outcome.
        rb_self.release_exclusive(ruby, me, &options.after_compatible)?;
        result
    }

    fn release_exclusive(
        &self,
        ruby: &Ruby,
        me: ContextId,
        compatible: &[Purpose],
    ) -> Result<(), Error> {
        let lock = &self.lock;
        match lock.stop_exclusive(me, compatible, None) {
            Err(LockError::WouldBlock) => {}
            other => return other.map_err(|e| lock_error(ruby, e)),
        }
        // The release happened; what waits is Rails' courtesy wait for
        // eligible waiters, which an interrupt may cut short.
        let mut released = false;
        let result = blocking(ruby, lock, None, self.detects(), |wait| {
            if released {
                return Ok(());
            }
            let r = lock.stop_exclusive(me, compatible, Some(wait));
            released = !matches!(r, Err(LockError::InvalidUnlock));
            r
        })?;
        match result {
            Ok(()) | Err(LockError::InvalidUnlock) if released => Ok(()),
            other => other.map_err(|e| lock_error(ruby, e)),
        }
    }

    fn start_sharing(ruby: &Ruby, rb_self: &Self, timeout: Value) -> Result<u32, Error> {
        let deadline = deadline(ruby, timeout)?;
        let me = owner(ruby);
        acquire(ruby, &rb_self.lock, deadline, rb_self.detects(), |wait| {
            rb_self.lock.start_sharing(me, wait)
        })
    }

    fn stop_sharing(ruby: &Ruby, rb_self: &Self) -> u32 {
        rb_self.lock.stop_sharing(owner(ruby))
    }

    /// `sharing(timeout: nil) { ... }`, native so the common case costs one call.
    fn sharing(ruby: &Ruby, rb_self: &Self, args: &[Value]) -> Result<Value, Error> {
        let mut timeout = ruby.qnil().as_value();
        keywords::parse(ruby, args, |name, value| {
            Ok(match name {
                "timeout" => {
                    timeout = value;
                    true
                }
                _ => false,
            })
        })?;
        let deadline = deadline(ruby, timeout)?;
        let me = owner(ruby);
        let lock = &rb_self.lock;
        acquire(ruby, lock, deadline, rb_self.detects(), |wait| {
            lock.start_sharing(me, wait)
        })?;
        let result = ruby.yield_value::<_, Value>(());
        lock.stop_sharing(me);
        result
    }

    fn yield_begin(
        ruby: &Ruby,
        rb_self: &Self,
        purpose: Value,
        compatible: Value,
        block_share: bool,
    ) -> Result<YieldToken, Error> {
        let purpose = purposes::from_ruby(ruby, purpose, "purpose")?;
        let compatible = purposes::list_from_ruby(ruby, compatible, "compatible")?;
        let me = owner(ruby);
        let yielded = rb_self
            .lock
            .yield_begin(me, purpose, &compatible, block_share);
        Ok(YieldToken {
            owner: me,
            yielded: Mutex::new(Some(yielded)),
        })
    }

    fn yield_end(ruby: &Ruby, rb_self: &Self, token: Obj<YieldToken>) -> Result<(), Error> {
        let lock = &rb_self.lock;
        let me = token.owner;
        let mut slot = token.yielded.lock().take();
        if slot.is_none() {
            return Ok(());
        }
        let result = match lock.yield_end(me, &mut slot, None) {
            Err(LockError::WouldBlock) => {
                let attempt = blocking(ruby, lock, None, rb_self.detects(), |wait| {
                    lock.yield_end(me, &mut slot, Some(wait))
                });
                match attempt {
                    Ok(result) => result,
                    Err(raised) => {
                        // Interrupted again inside the ensure: give the shares up.
                        if let Some(yielded) = slot.take() {
                            lock.yield_abandon(me, yielded);
                        }
                        return Err(raised);
                    }
                }
            }
            other => other,
        };
        result.map_err(|e| lock_error(ruby, e))
    }

    /// Rails' `raw_state` data: `{ thread => { thread:, sharing:, exclusive:,
    /// purpose:, compatible:, waiting:, sleeper: } }`.
    fn raw_state(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        // Owners come back from their ids as objects. One may leave the lock
        // (and die) while this allocates, so the owners still present are
        // pinned into an array allocated beforehand, under the lock's mutex,
        // without allocating (a GC then would wait for that mutex forever).
        let room = rb_self.lock.snapshot().len() + 8;
        let pinned = ruby.ary_new_capa(room);
        let mut placed = 0;
        let states = rb_self.lock.snapshot_with(|owner| {
            if placed == room {
                return false;
            }
            placed += 1;
            // SAFETY: the owner is in the lock's state, which marks it, and
            // the state cannot change while this runs; the array has room,
            // so storing does not allocate.
            unsafe { rb_sys::rb_ary_push(pinned.as_raw(), owner as rb_sys::VALUE) };
            true
        });
        let data = ruby.hash_new();
        for (index, state) in states.iter().enumerate() {
            let thread: Value = pinned.entry(index as isize)?;
            let entry = ruby.hash_new();
            entry.aset(ruby.to_symbol("thread"), thread)?;
            entry.aset(ruby.to_symbol("sharing"), state.sharing)?;
            entry.aset(ruby.to_symbol("exclusive"), state.exclusive)?;
            entry.aset(
                ruby.to_symbol("purpose"),
                state.purpose.map(|p| purposes::to_ruby(ruby, p)),
            )?;
            entry.aset(
                ruby.to_symbol("compatible"),
                state
                    .compatible
                    .as_deref()
                    .map(|c| purposes::list_to_ruby(ruby, c)),
            )?;
            entry.aset(ruby.to_symbol("waiting"), state.waiting)?;
            entry.aset(
                ruby.to_symbol("sleeper"),
                state.sleeper.map(|s| ruby.to_symbol(s)),
            )?;
            data.aset(thread, entry)?;
        }
        Ok(data)
    }

    /// Plain data (JSON-ready): one Hash per owner, in the core's one shape
    /// (`holdfast::share_lock::snapshot_json`), threads named.
    fn snapshot(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let labels = thread_labels(ruby)?;
        let name_of = |context: ContextId| {
            labels
                .iter()
                .find(|(id, _)| *id == context)
                .map(|(_, label)| label.clone())
        };
        json::to_ruby(ruby, &snapshot_json(&rb_self.lock.snapshot(), &name_of))
    }

    /// `waiting_on(thread) { thread.join }`
    fn waiting_on(ruby: &Ruby, rb_self: &Self, target: Value) -> Result<Value, Error> {
        let _ = rb_self;
        let fiber: magnus::RClass = ruby.class_object().const_get("Fiber")?;
        if !target.is_kind_of(ruby.class_thread()) && !target.is_kind_of(fiber) {
            return Err(Error::new(
                ruby.exception_arg_error(),
                format!(
                    "waiting_on needs the Thread (or Fiber) being waited for, got {}",
                    target.inspect()
                ),
            ));
        }
        let what = format!("declared with waiting_on at {}", caller_location(ruby)?);
        let declared = ShareLock::declare_wait(owner(ruby), target.as_raw() as ContextId, &what)
            .map_err(|d| match render(ruby, &d) {
                Ok(message) => errors::holdfast(ruby, "DeadlockError", message),
                Err(interrupted) => interrupted,
            })?;
        let result = ruby.yield_value::<_, Value>(());
        drop(declared);
        result
    }
}

fn caller_location(ruby: &Ruby) -> Result<String, Error> {
    let location: Option<String> = ruby.eval("caller_locations(3, 1)&.first&.to_s")?;
    Ok(location.unwrap_or_else(|| "?".into()))
}

/// The keywords of `exclusive`, with Rails' defaults.
struct ExclusiveOptions {
    purpose: Purpose,
    compatible: Vec<Purpose>,
    after_compatible: Vec<Purpose>,
    no_wait: bool,
    deadline: Option<Instant>,
}

impl ExclusiveOptions {
    fn parse(ruby: &Ruby, args: &[Value]) -> Result<Self, Error> {
        let mut options = ExclusiveOptions {
            purpose: Purpose::Nil,
            compatible: Vec::new(),
            after_compatible: Vec::new(),
            no_wait: false,
            deadline: None,
        };
        keywords::parse(ruby, args, |name, value| {
            match name {
                "purpose" => options.purpose = purposes::from_ruby(ruby, value, "purpose")?,
                "compatible" => {
                    options.compatible = purposes::list_from_ruby(ruby, value, "compatible")?
                }
                "after_compatible" => {
                    options.after_compatible =
                        purposes::list_from_ruby(ruby, value, "after_compatible")?
                }
                "no_wait" => options.no_wait = value.to_bool(),
                "timeout" => options.deadline = deadline(ruby, value)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(options)
    }
}

pub(crate) fn init(
    ruby: &Ruby,
    holdfast: magnus::RModule,
    native: magnus::RModule,
) -> Result<(), Error> {
    native
        .define_class("YieldToken", ruby.class_object())?
        .undef_default_alloc_func();
    let hook = native.define_class("SharingHook", ruby.class_object())?;
    hook.undef_default_alloc_func();
    hook.define_method("run", magnus::method!(SharingHook::run, 0))?;
    hook.define_method("complete", magnus::method!(SharingHook::complete, 1))?;
    holdfast.define_singleton_method(
        "lock_wait_threshold",
        magnus::function!(get_long_wait_threshold, 0),
    )?;
    holdfast.define_singleton_method(
        "lock_wait_threshold=",
        magnus::function!(set_long_wait_threshold, 1),
    )?;
    let class = holdfast.define_class("ShareLock", ruby.class_object())?;
    class.define_alloc_func::<RbShareLock>();
    class.define_method("name", magnus::method!(RbShareLock::name, 0))?;
    class.define_method(
        "__holdfast_name=",
        magnus::method!(RbShareLock::set_name, 1),
    )?;
    class.define_method("detect_deadlocks", magnus::method!(RbShareLock::detects, 0))?;
    class.define_method(
        "detect_deadlocks=",
        magnus::method!(RbShareLock::set_detect_deadlocks, 1),
    )?;
    class.define_method(
        "__start_exclusive",
        magnus::method!(RbShareLock::start_exclusive, 4),
    )?;
    class.define_method(
        "__stop_exclusive",
        magnus::method!(RbShareLock::stop_exclusive, 1),
    )?;
    class.define_method(
        "__start_sharing",
        magnus::method!(RbShareLock::start_sharing, 1),
    )?;
    class.define_method(
        "stop_sharing",
        magnus::method!(RbShareLock::stop_sharing, 0),
    )?;
    class.define_method("sharing", magnus::method!(RbShareLock::sharing, -1))?;
    class.define_method("exclusive", magnus::method!(RbShareLock::exclusive, -1))?;
    class.define_method(
        "__yield_begin",
        magnus::method!(RbShareLock::yield_begin, 3),
    )?;
    class.define_method("__yield_end", magnus::method!(RbShareLock::yield_end, 1))?;
    class.define_method("__raw_state", magnus::method!(RbShareLock::raw_state, 0))?;
    class.define_method("snapshot", magnus::method!(RbShareLock::snapshot, 0))?;
    class.define_method(
        "executor_hook",
        magnus::method!(RbShareLock::executor_hook, 0),
    )?;
    class.define_method("waiting_on", magnus::method!(RbShareLock::waiting_on, 1))?;
    Ok(())
}
