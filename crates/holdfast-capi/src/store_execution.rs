//! `holdfast_store_execution`: one execution of a job against a store — its
//! fencing token, the progress it resumes from, and its checkpoints. An
//! execution is used by one thread at a time (calls are serialized, not
//! interleaved); its store stays open while it lives.

use std::ffi::c_char;
use std::sync::Arc;

use holdfast::store::{Begin, Run};

use crate::buffers::{bytes_arg, str_arg, write_out, write_text, write_value};
use crate::error::{holdfast_status, Failure};
use crate::handles::{self, Handle};
use crate::panic::boundary;
use crate::store::{holdfast_store, store_failure};

/// Opaque execution handle, made by `holdfast_store_begin`, released by
/// `holdfast_store_execution_free`.
pub struct holdfast_store_execution {
    _private: [u8; 0],
}

/// The core's [`Run`] owns the execution; these functions translate.
pub(crate) struct CStoreExecution {
    pub(crate) run: Run,
}

/// What `holdfast_store_execution_get_info` reports.
#[repr(C)]
pub struct holdfast_store_execution_info {
    /// This execution's fencing token (newer than every earlier one).
    pub token: u64,
    /// Executions of this job that started with progress already stored.
    pub resumptions: u64,
    /// Whether the job had a record before this execution.
    pub existed: bool,
    /// Whether the record was already completed when this execution was
    /// asked to begin. Then, from `holdfast_store_begin` and
    /// `_begin_with_payload`, nothing began (`began` is false: the finished
    /// job is not redone); from `holdfast_store_restart` it starts over.
    pub completed: bool,
    pub completed_steps: usize,
    pub has_current_step: bool,
    pub has_cursor: bool,
    /// Whether an execution began. False only for a completed record begun
    /// without restart: the handle reads the finished record, and every
    /// write through it fails with `HOLDFAST_INVALID_ARGUMENT`.
    pub began: bool,
}

/// Begins an execution of the job `job_id` (class `job_class`, for
/// listing): writes out progress this process still holds for it, takes a
/// new fencing token, and writes the handle to `*out`. Any older execution
/// of the job, in any process, now gets `HOLDFAST_STALE` on its next write.
/// A job whose record is completed is not begun again (one store
/// operation, so two callers cannot both redo it): the handle's info says
/// `completed` and not `began`; `holdfast_store_restart` runs it anew.
///
/// # Safety
/// `job_id`/`job_class` point to their lengths in bytes; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_begin(
    store: *const holdfast_store,
    job_id: *const u8,
    job_id_len: usize,
    job_class: *const u8,
    job_class_len: usize,
    out: *mut *mut holdfast_store_execution,
) -> holdfast_status {
    boundary("holdfast_store_begin", || {
        let job = JobArgs {
            job_id,
            job_id_len,
            job_class,
            job_class_len,
        };
        // SAFETY: the caller's contract, forwarded.
        unsafe { begin(store, &job, None, false, out) }
    })
}

/// As `holdfast_store_begin`, but a completed record is started over (an
/// explicit rerun of a finished job): its progress is cleared.
///
/// # Safety
/// As `holdfast_store_begin`.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_restart(
    store: *const holdfast_store,
    job_id: *const u8,
    job_id_len: usize,
    job_class: *const u8,
    job_class_len: usize,
    out: *mut *mut holdfast_store_execution,
) -> holdfast_status {
    boundary("holdfast_store_restart", || {
        let job = JobArgs {
            job_id,
            job_id_len,
            job_class,
            job_class_len,
        };
        // SAFETY: the caller's contract, forwarded.
        unsafe { begin(store, &job, None, true, out) }
    })
}

/// The job id and class as a caller of the `holdfast_store_begin*`
/// functions passes them.
pub(crate) struct JobArgs {
    pub(crate) job_id: *const u8,
    pub(crate) job_id_len: usize,
    pub(crate) job_class: *const u8,
    pub(crate) job_class_len: usize,
}

/// Begins the execution and writes its handle to `*out`.
///
/// # Safety
/// As `holdfast_store_begin`.
pub(crate) unsafe fn begin(
    store: *const holdfast_store,
    job: &JobArgs,
    payload: Option<&str>,
    restart: bool,
    out: *mut *mut holdfast_store_execution,
) -> Result<(), Failure> {
    let store = handles::store(store as usize)?;
    if out.is_null() {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_NULL_ARGUMENT,
            "out is NULL",
        ));
    }
    // SAFETY: the caller's contract, forwarded.
    let job_id = unsafe { str_arg(job.job_id, job.job_id_len, "job_id") }?;
    // SAFETY: the caller's contract, forwarded.
    let job_class = unsafe { str_arg(job.job_class, job.job_class_len, "job_class") }?;
    let run = Run::begin_for(store, job_id, job_class, Begin { payload, restart })
        .map_err(store_failure)?;
    let handle = handles::insert(Handle::StoreExecution(Arc::new(CStoreExecution { run })));
    // SAFETY: checked non-NULL.
    unsafe { *out = handle as *mut holdfast_store_execution };
    Ok(())
}

/// Fills `*out` with the execution's token, resumption count and the shape
/// of its current progress.
///
/// # Safety
/// `out` writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_execution_get_info(
    execution: *const holdfast_store_execution,
    out: *mut holdfast_store_execution_info,
) -> holdfast_status {
    boundary("holdfast_store_execution_get_info", || {
        let e = handles::store_execution(execution as usize)?;
        let progress = e.run.progress();
        let found = e.run.resumed_from();
        let info = holdfast_store_execution_info {
            token: e.run.token(),
            resumptions: found.resumptions,
            existed: e.run.existed(),
            completed: e.run.was_completed(),
            completed_steps: progress.completed.len(),
            has_current_step: progress.current.is_some(),
            has_cursor: progress
                .current
                .as_ref()
                .is_some_and(|c| c.cursor.is_some()),
            began: e.run.began(),
        };
        // SAFETY: the caller's contract, forwarded.
        unsafe { write_value(out, info, "out") }
    })
}

/// Copies the name of completed step `index` (0 = first) into `buf`,
/// NUL-terminated; `HOLDFAST_INVALID_ARGUMENT` past the end. Buffer handling
/// as in `holdfast_store_get_json`.
///
/// # Safety
/// `buf` NULL (with `len` 0) or `len` writable bytes; `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_execution_completed_step(
    execution: *const holdfast_store_execution,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> holdfast_status {
    boundary("holdfast_store_execution_completed_step", || {
        let e = handles::store_execution(execution as usize)?;
        let progress = e.run.progress();
        let step = progress.completed.get(index).ok_or_else(|| {
            Failure::new(
                holdfast_status::HOLDFAST_INVALID_ARGUMENT,
                format!(
                    "index {index} is past the {} completed steps",
                    progress.completed.len()
                ),
            )
        })?;
        // SAFETY: the caller's buffer contract, forwarded.
        unsafe { write_text(step, buf, len, out_len, "the step name") }
    })
}

/// Copies the current step's name into `buf`, NUL-terminated;
/// `HOLDFAST_NOT_FOUND` when no step is in progress.
///
/// # Safety
/// As `holdfast_store_execution_completed_step`.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_execution_current_step(
    execution: *const holdfast_store_execution,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> holdfast_status {
    boundary("holdfast_store_execution_current_step", || {
        let e = handles::store_execution(execution as usize)?;
        let progress = e.run.progress();
        let current = progress.current.as_ref().ok_or_else(|| no_current(&e))?;
        // SAFETY: the caller's buffer contract, forwarded.
        unsafe { write_text(&current.step, buf, len, out_len, "the step name") }
    })
}

/// Copies the current step's cursor bytes into `buf` (no NUL added);
/// `HOLDFAST_NOT_FOUND` when there is no step in progress or it has no
/// cursor yet.
///
/// # Safety
/// `buf` NULL (with `len` 0) or `len` writable bytes; `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_execution_cursor(
    execution: *const holdfast_store_execution,
    buf: *mut u8,
    len: usize,
    out_len: *mut usize,
) -> holdfast_status {
    boundary("holdfast_store_execution_cursor", || {
        let e = handles::store_execution(execution as usize)?;
        let progress = e.run.progress();
        let cursor = progress
            .current
            .as_ref()
            .and_then(|c| c.cursor.as_deref())
            .ok_or_else(|| no_current(&e))?;
        // SAFETY: the caller's buffer contract, forwarded.
        unsafe { write_out(cursor, false, buf, len, out_len, "the cursor") }
    })
}

fn no_current(e: &CStoreExecution) -> Failure {
    Failure::new(
        holdfast_status::HOLDFAST_NOT_FOUND,
        format!(
            "job {:?} has no step with a cursor in progress",
            e.run.job_id()
        ),
    )
}

/// Records that the job is in step `step` at `cursor` (`cursor_len` bytes;
/// `has_cursor` false for a step that has not advanced), under the store's
/// durability policy. Moving to a different step than the current one is a
/// step boundary (written at once under every policy). `HOLDFAST_STALE`:
/// a newer execution owns the job; stop without writing.
///
/// # Safety
/// `step` points to `step_len` bytes; `cursor` to `cursor_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_execution_checkpoint(
    execution: *const holdfast_store_execution,
    step: *const u8,
    step_len: usize,
    cursor: *const u8,
    cursor_len: usize,
    has_cursor: bool,
) -> holdfast_status {
    boundary("holdfast_store_execution_checkpoint", || {
        let e = handles::store_execution(execution as usize)?;
        // SAFETY: the caller's contract, forwarded.
        let step = unsafe { str_arg(step, step_len, "step") }?;
        let cursor = if has_cursor {
            // SAFETY: the caller's contract, forwarded.
            Some(unsafe { bytes_arg(cursor, cursor_len, "cursor") }?.to_vec())
        } else {
            None
        };
        e.run.checkpoint(step, cursor).map_err(store_failure)
    })
}

/// Marks the current step completed (written at once under every policy).
/// `HOLDFAST_INVALID_ARGUMENT` when no step is in progress.
///
/// # Safety
/// None beyond passing a handle (checked).
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_execution_complete_step(
    execution: *const holdfast_store_execution,
) -> holdfast_status {
    boundary("holdfast_store_execution_complete_step", || {
        let e = handles::store_execution(execution as usize)?;
        e.run.complete_step().map_err(store_failure)
    })
}

/// Writes the current progress now, whatever the policy: for a job that is
/// about to stop.
///
/// # Safety
/// None beyond passing a handle (checked).
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_execution_interrupt(
    execution: *const holdfast_store_execution,
) -> holdfast_status {
    boundary("holdfast_store_execution_interrupt", || {
        let e = handles::store_execution(execution as usize)?;
        e.run.interrupt().map_err(store_failure)
    })
}

/// Marks the job completed with its progress (written at once). Later
/// writes through this execution (checkpoint, complete step, interrupt,
/// complete) return `HOLDFAST_INVALID_ARGUMENT` and write nothing.
///
/// # Safety
/// None beyond passing a handle (checked).
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_execution_complete(
    execution: *const holdfast_store_execution,
) -> holdfast_status {
    boundary("holdfast_store_execution_complete", || {
        let e = handles::store_execution(execution as usize)?;
        e.run.complete().map_err(store_failure)
    })
}

/// Releases the execution handle; NULL is a no-op. Progress already
/// recorded stays recorded (pending write-behind progress is written by the
/// store's writer, flush or close).
///
/// # Safety
/// None beyond passing a handle (checked).
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_execution_free(
    execution: *mut holdfast_store_execution,
) -> holdfast_status {
    boundary("holdfast_store_execution_free", || {
        handles::remove(execution as usize, "holdfast_store_execution")
    })
}
