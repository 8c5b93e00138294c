//! Running a blocking section without the GVL, so other Ruby threads keep
//! running, with an unblocking function so `Thread#kill`, `Thread#raise`,
//! `Timeout` and Ctrl-C end the wait.
//!
//! Uses `rb_thread_call_without_gvl2`: unlike the plain variant it never
//! longjmps through our frames; an interrupt makes it return, and the caller
//! turns the interrupt into a Ruby exception with `thread_check_ints` once
//! the GVL is back. Panics are caught inside the section and resumed only
//! after the GVL is back, so they never unwind through Ruby's C frames.

use std::ffi::c_void;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

struct Section<F, R> {
    body: Option<F>,
    result: Option<std::thread::Result<R>>,
}

unsafe extern "C" fn run_section<F: FnOnce() -> R, R>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Section` that `without_gvl` passed, alive for the call.
    let section = unsafe { &mut *data.cast::<Section<F, R>>() };
    if let Some(body) = section.body.take() {
        section.result = Some(catch_unwind(AssertUnwindSafe(body)));
    }
    std::ptr::null_mut()
}

unsafe extern "C" fn unblock<U: Fn()>(data: *mut c_void) {
    // SAFETY: `data` is the unblocking closure `without_gvl` passed, alive
    // while the section may run. Ruby calls this on another thread with its
    // interrupt lock held: the closure only sets a flag and notifies.
    let unblock = unsafe { &*data.cast::<U>() };
    // A panic must not cross into Ruby; there is nothing useful to do with one here.
    let _ = catch_unwind(AssertUnwindSafe(unblock));
}

unsafe extern "C" fn run_with_gvl<F: FnOnce()>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Option<F>` that `with_gvl` passed, alive for the call.
    let slot = unsafe { &mut *data.cast::<Option<F>>() };
    if let Some(body) = slot.take() {
        // A panic must not unwind through Ruby's frames; the caller's
        // blocking section goes on either way.
        let _ = catch_unwind(AssertUnwindSafe(body));
    }
    std::ptr::null_mut()
}

/// From inside a `without_gvl` section: runs `body` holding the GVL again.
/// `body` must not raise through this frame (use magnus' protected calls).
pub(crate) fn with_gvl<F: FnOnce()>(body: F) {
    let mut slot = Some(body);
    // SAFETY: called on a Ruby thread inside `without_gvl`; `slot` outlives the call.
    unsafe {
        rb_sys::rb_thread_call_with_gvl(
            Some(run_with_gvl::<F>),
            (&mut slot as *mut Option<F>).cast(),
        );
    }
}

/// Runs `body` with the GVL released. Returns `None` when Ruby had an
/// interrupt pending and did not run `body` at all; the caller should call
/// `thread_check_ints` (and try again if that raises nothing).
///
/// `body` must not touch Ruby objects or call Ruby. `unblock` may be called
/// on another thread while `body` runs and must make `body` return promptly.
pub(crate) fn without_gvl<F, R, U>(body: F, unblock_fn: &U) -> Option<R>
where
    F: FnOnce() -> R,
    U: Fn() + Sync,
{
    // SAFETY: `unblock_fn` outlives the section, and `unblock::<U>` reads it as a `U`.
    unsafe {
        section(
            body,
            Some(unblock::<U>),
            (unblock_fn as *const U).cast_mut().cast(),
        )
    }
}

/// `without_gvl` for work that cannot be cut short (store I/O): no
/// unblocking function, so Ruby starts no helper thread for it.
pub(crate) fn without_gvl_no_ubf<F, R>(body: F) -> Option<R>
where
    F: FnOnce() -> R,
{
    // SAFETY: no unblocking function, so no data for one.
    unsafe { section(body, None, std::ptr::null_mut()) }
}

/// # Safety
/// `ubf_data` must be what `ubf` expects, alive until this returns.
unsafe fn section<F, R>(
    body: F,
    ubf: rb_sys::rb_unblock_function_t,
    ubf_data: *mut c_void,
) -> Option<R>
where
    F: FnOnce() -> R,
{
    let mut section = Section {
        body: Some(body),
        result: None,
    };
    // SAFETY: `section` outlives the call, which does not return before
    // `run_section` has finished; the caller vouches for `ubf_data`.
    unsafe {
        rb_sys::rb_thread_call_without_gvl2(
            Some(run_section::<F, R>),
            (&mut section as *mut Section<F, R>).cast(),
            ubf,
            ubf_data,
        );
    }
    match section.result? {
        Ok(value) => Some(value),
        Err(panic) => resume_unwind(panic),
    }
}
