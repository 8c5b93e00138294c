//! Running executions from C: active?, run, complete, free and wrap.

use std::ffi::{c_char, c_void, CStr};
use std::sync::Arc;

use crate::error::{holdfast_status, Failure};
use crate::handles::{self, Handle};
use crate::panic::boundary;

use super::adapter::{invoker, CInvoker};
use super::*;

/// Writes whether `context` is inside an execution of this executor.
/// Errors: NULL/invalid handle, NULL `out`. Thread-safe.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_is_active(
    executor: *const holdfast_executor,
    context: u64,
    out: *mut bool,
) -> holdfast_status {
    boundary("holdfast_executor_is_active", || {
        let executor = handles::executor(executor as usize)?;
        if out.is_null() {
            return Err(Failure::new(
                holdfast_status::HOLDFAST_NULL_ARGUMENT,
                "out is NULL",
            ));
        }
        // SAFETY: checked non-NULL.
        unsafe { *out = executor.executor.is_active(context) };
        Ok(())
    })
}

/// Starts an execution on `context` (Rails' `run!`) and writes its handle to
/// `*out`. When `context` is already inside an execution the handle is a
/// null execution whose complete does nothing, unless `reset`, which first
/// completes the lost execution. If a run callback fails, the complete
/// callbacks run, nothing is written and `HOLDFAST_CALLBACK_FAILED` is
/// returned. The handle must be completed once and freed once.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_run(
    executor: *const holdfast_executor,
    context: u64,
    reset: bool,
    out: *mut *mut holdfast_execution,
) -> holdfast_status {
    boundary("holdfast_executor_run", || {
        let executor = handles::executor(executor as usize)?;
        out_ptr(out, "out")?;
        let mut invoker = invoker(&executor, context);
        let execution = executor
            .executor
            .run(context, reset, || Ok(()), &mut invoker)?;
        let handle = handles::insert(Handle::Execution(Arc::new(CExecution {
            executor,
            execution,
        })));
        // SAFETY: checked non-NULL.
        unsafe { *out = handle as *mut holdfast_execution };
        Ok(())
    })
}

/// Runs the complete callbacks of an execution from `holdfast_executor_run`
/// and ends its context's active state (also when a callback fails).
/// Completing twice gives `HOLDFAST_ALREADY_COMPLETED`. Does not free the
/// handle. Call it on the thread that owns the execution's context.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_execution_complete(
    execution: *const holdfast_execution,
) -> holdfast_status {
    boundary("holdfast_execution_complete", || {
        let handle = handles::execution(execution as usize)?;
        let Some(execution) = &handle.execution else {
            return Ok(());
        };
        let mut invoker = invoker(&handle.executor, execution.context());
        handle.executor.executor.complete(execution, &mut invoker)
    })
}

/// Releases an execution handle; NULL is a no-op. Freeing an execution that
/// was never completed leaves its context active (a lost execution, which
/// `holdfast_executor_run` with `reset` cleans up), as in Rails.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_execution_free(
    execution: *mut holdfast_execution,
) -> holdfast_status {
    boundary("holdfast_execution_free", || {
        handles::remove(execution as usize, "holdfast_execution")
    })
}

/// Runs `work(work_userdata)` inside an execution of `context` (Rails'
/// `wrap`): run callbacks, the work, complete callbacks. If `context` is
/// already inside an execution of this executor, only the work runs. If the
/// work returns non-zero, the error reporter (if set) is told once with
/// `source` (NULL means "application.active_support"), the complete
/// callbacks still run, and `HOLDFAST_WORK_FAILED` is returned (unless a
/// complete callback fails too: its error is returned instead).
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_wrap(
    executor: *const holdfast_executor,
    context: u64,
    source: *const c_char,
    work: holdfast_work_fn,
    work_userdata: *mut c_void,
) -> holdfast_status {
    boundary("holdfast_executor_wrap", || {
        let executor = handles::executor(executor as usize)?;
        let Some(work) = work else {
            return Err(Failure::new(
                holdfast_status::HOLDFAST_NULL_ARGUMENT,
                "work function is NULL",
            ));
        };
        let source = if source.is_null() {
            c"application.active_support"
        } else {
            // SAFETY: the caller passes a NUL-terminated string valid for the call.
            unsafe { CStr::from_ptr(source) }
        };
        let mut invoker = CInvoker {
            source,
            ..invoker(&executor, context)
        };
        executor.executor.wrap(
            context,
            || Ok(()),
            &mut invoker,
            || {
                // SAFETY: the caller's function and its userdata.
                let rc = unsafe { work(work_userdata) };
                if rc == 0 {
                    Ok(())
                } else {
                    Err(Failure {
                        code: rc,
                        ..Failure::new(
                            holdfast_status::HOLDFAST_WORK_FAILED,
                            format!("work returned {rc} on context {context}"),
                        )
                    })
                }
            },
        )
    })
}
