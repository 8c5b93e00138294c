//! `holdfast_executor` and `holdfast_execution`: Rails' executor for C.
//!
//! Callbacks receive the caller's `userdata` first and the context id the
//! execution runs on. They are called on the thread that called run,
//! complete or wrap. A callback may call back into Holdfast (a nested
//! `holdfast_executor_wrap` on the same context just runs its work); it must
//! not free the executor it is running in.

mod adapter;
mod running;

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use parking_lot::Mutex;

use holdfast::{CallbackOptions, Executor, Phase, Position};

use crate::error::{holdfast_status, Failure};
use crate::handles::{self, Handle};
use crate::panic::boundary;

use adapter::{out_ptr, Callback, Hook, Reporter, C};
pub(crate) use adapter::{CExecution, CExecutor};
pub use running::*;

/// Opaque executor handle. Made by `holdfast_executor_new` or
/// `holdfast_executor_subclass`, released by `holdfast_executor_free`.
pub struct holdfast_executor {
    _private: [u8; 0],
}

/// Opaque handle of one execution, made by `holdfast_executor_run`;
/// complete it with `holdfast_execution_complete`, release it with
/// `holdfast_execution_free`.
pub struct holdfast_execution {
    _private: [u8; 0],
}

/// A run or complete callback. Return 0 to go on; anything else fails the
/// operation with `HOLDFAST_CALLBACK_FAILED` (the value is in the message).
pub type holdfast_callback_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, context: u64) -> c_int>;

/// A hook's run: store whatever `complete` should get in `*state_out`
/// (it starts as NULL). Return 0 on success.
pub type holdfast_hook_run_fn = Option<
    unsafe extern "C" fn(userdata: *mut c_void, context: u64, state_out: *mut *mut c_void) -> c_int,
>;

/// A hook's complete: gets the state its run stored. Return 0 on success.
pub type holdfast_hook_complete_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, context: u64, state: *mut c_void) -> c_int>;

/// The work inside `holdfast_executor_wrap`. Return 0 on success.
pub type holdfast_work_fn = Option<unsafe extern "C" fn(userdata: *mut c_void) -> c_int>;

/// Told once about work that failed inside `holdfast_executor_wrap`, before
/// the complete callbacks run: the wrap's `source`, the work's return value,
/// and a message. The strings are valid only during the call.
pub type holdfast_error_reporter_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        source: *const c_char,
        code: c_int,
        message: *const c_char,
    ),
>;

/// Flag for `holdfast_executor_to_run` / `_to_complete`: run after the
/// chain's "before" callbacks, in reverse order of registration
/// (ActiveSupport's `:after`).
pub const HOLDFAST_CALLBACK_AFTER: u32 = 1;
/// Flag: put the callback at the front of its chain (`prepend: true`).
pub const HOLDFAST_CALLBACK_PREPEND: u32 = 2;

/// Makes an executor with no callbacks. On success writes a new handle to
/// `*out` (free it with `holdfast_executor_free`).
/// Errors: `HOLDFAST_NULL_ARGUMENT` if `out` is NULL. Thread-safe.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_new(
    out: *mut *mut holdfast_executor,
) -> holdfast_status {
    boundary("holdfast_executor_new", || {
        out_ptr(out, "out")?;
        let handle = new_executor_handle(Executor::new());
        // SAFETY: checked non-NULL; the caller provides a writable pointer.
        unsafe { *out = handle as *mut holdfast_executor };
        Ok(())
    })
}

fn new_executor_handle(executor: Executor<C>) -> usize {
    handles::insert(Handle::Executor(Arc::new(CExecutor {
        executor,
        reporter: Mutex::new(None),
    })))
}

/// Makes an executor that starts with `parent`'s callbacks and hooks and
/// keeps receiving those registered on `parent` later (a Ruby subclass).
/// Its active state and error reporter are its own. Writes the new handle to
/// `*out`. Errors: NULL or invalid handle. Thread-safe.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_subclass(
    parent: *const holdfast_executor,
    out: *mut *mut holdfast_executor,
) -> holdfast_status {
    boundary("holdfast_executor_subclass", || {
        let parent = handles::executor(parent as usize)?;
        out_ptr(out, "out")?;
        let handle = new_executor_handle(parent.executor.subclass());
        // SAFETY: checked non-NULL.
        unsafe { *out = handle as *mut holdfast_executor };
        Ok(())
    })
}

/// Releases an executor handle. NULL is a no-op (`HOLDFAST_OK`); a handle
/// that is not a live executor gives `HOLDFAST_INVALID_HANDLE`. Executions
/// already running keep the executor alive until they are freed.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_free(
    executor: *mut holdfast_executor,
) -> holdfast_status {
    boundary("holdfast_executor_free", || {
        handles::remove(executor as usize, "holdfast_executor")
    })
}

fn add_callback(
    executor: *const holdfast_executor,
    phase: Phase,
    function: holdfast_callback_fn,
    userdata: *mut c_void,
    flags: u32,
) -> Result<(), Failure> {
    let executor = handles::executor(executor as usize)?;
    let Some(function) = function else {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_NULL_ARGUMENT,
            "callback function is NULL",
        ));
    };
    if flags & !(HOLDFAST_CALLBACK_AFTER | HOLDFAST_CALLBACK_PREPEND) != 0 {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_INVALID_ARGUMENT,
            format!("unknown flags {flags:#x}; use HOLDFAST_CALLBACK_AFTER and/or HOLDFAST_CALLBACK_PREPEND"),
        ));
    }
    let options = CallbackOptions {
        position: if flags & HOLDFAST_CALLBACK_AFTER != 0 {
            Position::After
        } else {
            Position::Before
        },
        prepend: flags & HOLDFAST_CALLBACK_PREPEND != 0,
    };
    executor
        .executor
        .add_callback(phase, Callback { function, userdata }, options);
    Ok(())
}

/// Adds a run callback (Rails' `to_run`), called before the work with
/// `userdata` and the context id. `flags`: 0, `HOLDFAST_CALLBACK_AFTER`,
/// `HOLDFAST_CALLBACK_PREPEND`. `userdata` is borrowed for the executor's
/// lifetime and must be usable from every thread that runs the executor.
/// Errors: NULL/invalid handle, NULL function, unknown flags. Thread-safe.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_to_run(
    executor: *const holdfast_executor,
    function: holdfast_callback_fn,
    userdata: *mut c_void,
    flags: u32,
) -> holdfast_status {
    boundary("holdfast_executor_to_run", || {
        add_callback(executor, Phase::Run, function, userdata, flags)
    })
}

/// Adds a complete callback (Rails' `to_complete`), called after the work;
/// complete callbacks run even when a run callback failed. Same rules as
/// `holdfast_executor_to_run`.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_to_complete(
    executor: *const holdfast_executor,
    function: holdfast_callback_fn,
    userdata: *mut c_void,
    flags: u32,
) -> holdfast_status {
    boundary("holdfast_executor_to_complete", || {
        add_callback(executor, Phase::Complete, function, userdata, flags)
    })
}

/// Registers a hook (Rails' `register_hook`): `run` before the work, and
/// `complete` after it with the state `run` stored; `complete` is skipped
/// when `run` did not happen. An `outer` hook runs before every other run
/// callback and completes after every other complete callback. `userdata`
/// rules as for `holdfast_executor_to_run`. Thread-safe.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_register_hook(
    executor: *const holdfast_executor,
    run: holdfast_hook_run_fn,
    complete: holdfast_hook_complete_fn,
    userdata: *mut c_void,
    outer: bool,
) -> holdfast_status {
    boundary("holdfast_executor_register_hook", || {
        let executor = handles::executor(executor as usize)?;
        let (Some(run), Some(complete)) = (run, complete) else {
            return Err(Failure::new(
                holdfast_status::HOLDFAST_NULL_ARGUMENT,
                "a hook needs both a run and a complete function",
            ));
        };
        executor.executor.register_hook(
            Hook {
                run,
                complete,
                userdata,
            },
            outer,
        );
        Ok(())
    })
}

/// Sets (or with a NULL `function`, clears) the function told about work
/// that fails inside `holdfast_executor_wrap`. Rules for `userdata` as for
/// callbacks. Thread-safe.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_set_error_reporter(
    executor: *const holdfast_executor,
    function: holdfast_error_reporter_fn,
    userdata: *mut c_void,
) -> holdfast_status {
    boundary("holdfast_executor_set_error_reporter", || {
        let executor = handles::executor(executor as usize)?;
        *executor.reporter.lock() = function.map(|function| Reporter { function, userdata });
        Ok(())
    })
}
