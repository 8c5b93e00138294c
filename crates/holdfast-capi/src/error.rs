//! Status codes and the per-thread text of the last error.

use std::cell::RefCell;
use std::ffi::{c_char, CStr};

/// Result of every fallible function. The numbers are stable: new codes are
/// only ever added.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum holdfast_status {
    HOLDFAST_OK = 0,
    /// A required pointer argument was NULL.
    HOLDFAST_NULL_ARGUMENT = 1,
    /// A handle that is not live (freed, never made by Holdfast, or of another type).
    HOLDFAST_INVALID_HANDLE = 2,
    /// An argument had a value the function does not accept (unknown flags).
    HOLDFAST_INVALID_ARGUMENT = 3,
    /// A run/complete callback or hook returned non-zero.
    HOLDFAST_CALLBACK_FAILED = 4,
    /// The work function passed to `holdfast_executor_wrap` returned non-zero.
    HOLDFAST_WORK_FAILED = 5,
    /// `holdfast_execution_complete` on an execution that already completed.
    HOLDFAST_ALREADY_COMPLETED = 6,
    /// A bug inside Holdfast was caught at the boundary; the message says where.
    HOLDFAST_PANIC = 7,
    /// The lock wait would never end (a cycle of waits); nothing was
    /// acquired. The message names every party and what each holds and waits for.
    HOLDFAST_DEADLOCK = 8,
    /// The lock wait ran past its timeout; nothing was acquired. The message
    /// says who holds what.
    HOLDFAST_TIMEOUT = 9,
    /// Releasing an exclusive lock the context does not hold (Rails' "invalid unlock").
    HOLDFAST_NOT_HELD = 10,
    /// The caller's buffer is too small; the needed size was written.
    HOLDFAST_BUFFER_TOO_SMALL = 11,
    /// A newer execution of the job owns its progress: this execution must
    /// stop. Nothing was written.
    HOLDFAST_STALE = 12,
    /// No record for that job id.
    HOLDFAST_NOT_FOUND = 13,
    /// A job id, class name, step name or cursor over its size limit.
    /// Nothing was written.
    HOLDFAST_LIMIT = 14,
    /// Reading or writing the store failed (disk full, permissions, the
    /// database went away). Progress that could not be written is kept and
    /// retried by the next flush.
    HOLDFAST_IO = 15,
    /// The store's file exists but is not a Holdfast store; it was left alone.
    HOLDFAST_NOT_A_DATABASE = 16,
    /// The store was closed.
    HOLDFAST_CLOSED = 17,
    /// The store's file, or the record asked for, failed its integrity
    /// check (SQLite's quick check when opened, a checksum per record as it
    /// is read). Nothing from it was returned or overwritten; the message
    /// names the file and the job.
    HOLDFAST_CORRUPT = 18,
}

/// An error on its way out through the boundary.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: holdfast_status,
    pub(crate) message: String,
    /// What the caller's function returned, for failures that came from one.
    pub(crate) code: std::ffi::c_int,
}

impl Failure {
    pub(crate) fn new(status: holdfast_status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
            code: 0,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

pub(crate) fn set_last_error(message: &str) {
    LAST_ERROR.with(|last| {
        let mut last = last.borrow_mut();
        last.clear();
        last.push_str(message);
    });
}

/// Copies the message of the last error on the calling thread into `buf`
/// (at most `len` bytes including the terminating NUL; truncated if longer).
/// Returns the message's full length in bytes, without the NUL, so a caller
/// can retry with a larger buffer. `buf` may be NULL when `len` is 0.
///
/// Messages are set by failing calls only: after a call returned
/// `HOLDFAST_OK`, the text describes an older failure.
/// Thread-safe: each thread has its own last error.
///
/// # Safety
/// `buf` must be NULL or point to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn holdfast_last_error_message(buf: *mut c_char, len: usize) -> usize {
    LAST_ERROR.with(|last| {
        let last = last.borrow();
        let bytes = last.as_bytes();
        if !buf.is_null() && len > 0 {
            let n = bytes.len().min(len - 1);
            // SAFETY: the caller promises `buf` points to `len` writable bytes;
            // we write n < len bytes plus one NUL.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n);
                *buf.add(n) = 0;
            }
        }
        bytes.len()
    })
}

/// The name of a status code ("HOLDFAST_OK", ...), or "HOLDFAST_UNKNOWN_STATUS".
/// The string is static: never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn holdfast_status_name(status: u32) -> *const c_char {
    let name: &'static CStr = match status {
        0 => c"HOLDFAST_OK",
        1 => c"HOLDFAST_NULL_ARGUMENT",
        2 => c"HOLDFAST_INVALID_HANDLE",
        3 => c"HOLDFAST_INVALID_ARGUMENT",
        4 => c"HOLDFAST_CALLBACK_FAILED",
        5 => c"HOLDFAST_WORK_FAILED",
        6 => c"HOLDFAST_ALREADY_COMPLETED",
        7 => c"HOLDFAST_PANIC",
        8 => c"HOLDFAST_DEADLOCK",
        9 => c"HOLDFAST_TIMEOUT",
        10 => c"HOLDFAST_NOT_HELD",
        11 => c"HOLDFAST_BUFFER_TOO_SMALL",
        12 => c"HOLDFAST_STALE",
        13 => c"HOLDFAST_NOT_FOUND",
        14 => c"HOLDFAST_LIMIT",
        15 => c"HOLDFAST_IO",
        16 => c"HOLDFAST_NOT_A_DATABASE",
        17 => c"HOLDFAST_CLOSED",
        18 => c"HOLDFAST_CORRUPT",
        _ => c"HOLDFAST_UNKNOWN_STATUS",
    };
    name.as_ptr()
}
