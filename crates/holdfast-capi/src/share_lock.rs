//! `holdfast_share_lock`: Rails' share/exclusive lock for C, with timeouts
//! and deadlock errors. Owners are the caller's context ids (e.g. a thread
//! id); each context must be used by one thread at a time. Waits block the
//! calling thread; there is no way to interrupt them from C other than a
//! timeout.

use std::ffi::{c_char, CStr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdfast::share_lock::{snapshot_json, Diagnostic};
use holdfast::{limits, LockError, Purpose, ShareLock, Wait};

use crate::buffers::write_text;
use crate::error::{holdfast_status, Failure};
use crate::handles::{self, Handle};
use crate::panic::boundary;

/// Opaque share-lock handle, made by `holdfast_share_lock_new`, released
/// by `holdfast_share_lock_free`.
pub struct holdfast_share_lock {
    _private: [u8; 0],
}

fn lock_failure(error: LockError) -> Failure {
    let name = |owner: u64| format!("context {owner}");
    match error {
        LockError::Deadlock(d) => {
            Failure::new(holdfast_status::HOLDFAST_DEADLOCK, render(&d, &name))
        }
        LockError::Timeout(d) => Failure::new(holdfast_status::HOLDFAST_TIMEOUT, render(&d, &name)),
        LockError::InvalidUnlock => Failure::new(
            holdfast_status::HOLDFAST_NOT_HELD,
            "invalid unlock: this context does not hold the exclusive lock",
        ),
        LockError::WouldBlock | LockError::Interrupted => Failure::new(
            holdfast_status::HOLDFAST_PANIC,
            "a lock wait ended without a result (Holdfast bug)",
        ),
    }
}

fn render(diagnostic: &Diagnostic, name: &dyn Fn(u64) -> String) -> String {
    diagnostic.render(name)
}

/// NULL is Rails' `nil` purpose; otherwise a NUL-terminated UTF-8 name.
unsafe fn purpose(name: *const c_char, what: &str) -> Result<Purpose, Failure> {
    if name.is_null() {
        return Ok(Purpose::Nil);
    }
    // SAFETY: the caller passes a NUL-terminated string valid for the call.
    let text = unsafe { CStr::from_ptr(name) }.to_str().map_err(|_| {
        Failure::new(
            holdfast_status::HOLDFAST_INVALID_ARGUMENT,
            format!("{what} is not valid UTF-8"),
        )
    })?;
    Ok(Purpose::named(text))
}

unsafe fn purposes(
    names: *const *const c_char,
    len: usize,
    what: &str,
) -> Result<Vec<Purpose>, Failure> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if names.is_null() {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_NULL_ARGUMENT,
            format!("{what} is NULL but its length is {len}"),
        ));
    }
    // SAFETY: the caller passes `len` readable pointers.
    let names = unsafe { std::slice::from_raw_parts(names, len) };
    names
        .iter()
        .map(|&name| {
            if name.is_null() {
                return Err(Failure::new(
                    holdfast_status::HOLDFAST_NULL_ARGUMENT,
                    format!("an entry of {what} is NULL"),
                ));
            }
            // SAFETY: non-NULL entries are NUL-terminated strings, per the contract.
            unsafe { purpose(name, what) }
        })
        .collect()
}

/// A negative `timeout_ms` waits forever; otherwise at most ten years.
fn deadline(timeout_ms: i64) -> Result<Option<Instant>, Failure> {
    let Ok(ms) = u64::try_from(timeout_ms) else {
        return Ok(None);
    };
    let timeout = limits::millis("timeout_ms", ms, Duration::ZERO, limits::MAX_DURATION)
        .map_err(|message| Failure::new(holdfast_status::HOLDFAST_INVALID_ARGUMENT, message))?;
    Ok(Some(limits::deadline(timeout)))
}

fn wait_with(lock: &ShareLock, timeout_ms: i64) -> Result<Wait<'static>, Failure> {
    Ok(Wait {
        deadline: deadline(timeout_ms)?,
        tolerate_deadlocks: !lock.detects_deadlocks(),
        ..Wait::default()
    })
}

/// Makes a lock. `name` (NULL for "holdfast_share_lock") appears in error
/// messages; it is copied. Writes the handle to `*out`. Thread-safe.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_share_lock_new(
    name: *const c_char,
    out: *mut *mut holdfast_share_lock,
) -> holdfast_status {
    boundary("holdfast_share_lock_new", || {
        if out.is_null() {
            return Err(Failure::new(
                holdfast_status::HOLDFAST_NULL_ARGUMENT,
                "out is NULL",
            ));
        }
        let name = if name.is_null() {
            "holdfast_share_lock".to_string()
        } else {
            // SAFETY: NUL-terminated per the contract.
            unsafe { CStr::from_ptr(name) }
                .to_string_lossy()
                .into_owned()
        };
        let handle = handles::insert(Handle::ShareLock(Arc::new(ShareLock::new(&name))));
        // SAFETY: checked non-NULL.
        unsafe { *out = handle as *mut holdfast_share_lock };
        Ok(())
    })
}

/// Releases a lock handle; NULL is a no-op. Threads still inside a call on
/// the lock keep it alive until they return.
///
/// # Safety
/// None beyond passing a handle (checked).
#[no_mangle]
pub unsafe extern "C" fn holdfast_share_lock_free(
    lock: *mut holdfast_share_lock,
) -> holdfast_status {
    boundary("holdfast_share_lock_free", || {
        handles::remove(lock as usize, "holdfast_share_lock")
    })
}

/// With `detect` false, a wait that would close a cycle blocks forever, as
/// Rails' lock does, instead of failing with `HOLDFAST_DEADLOCK` (default:
/// true). Thread-safe.
///
/// # Safety
/// None beyond passing a handle (checked).
#[no_mangle]
pub unsafe extern "C" fn holdfast_share_lock_set_detect_deadlocks(
    lock: *const holdfast_share_lock,
    detect: bool,
) -> holdfast_status {
    boundary("holdfast_share_lock_set_detect_deadlocks", || {
        handles::share_lock(lock as usize)?.set_detect_deadlocks(detect);
        Ok(())
    })
}

/// Takes a share for `context` (Rails' `start_sharing`): reentrant; an
/// outermost share waits for the exclusive holder and for pending upgrades.
/// `timeout_ms` < 0 waits forever. On success writes the context's share
/// count to `*out_shares` (may be NULL). Errors: `HOLDFAST_TIMEOUT`,
/// `HOLDFAST_DEADLOCK` (nothing acquired; the message explains), bad handle.
/// Thread-safe; blocks the calling thread while it waits.
///
/// # Safety
/// `out_shares` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_share_lock_start_sharing(
    lock: *const holdfast_share_lock,
    context: u64,
    timeout_ms: i64,
    out_shares: *mut u32,
) -> holdfast_status {
    boundary("holdfast_share_lock_start_sharing", || {
        let lock = handles::share_lock(lock as usize)?;
        let wait = wait_with(&lock, timeout_ms)?;
        let shares = lock
            .start_sharing(context, Some(&wait))
            .map_err(lock_failure)?;
        if !out_shares.is_null() {
            // SAFETY: checked non-NULL; writable per the contract.
            unsafe { *out_shares = shares };
        }
        Ok(())
    })
}

/// Releases one share of `context` (Rails' `stop_sharing`); releasing a
/// share that is not held does nothing, as in Rails. Writes the shares
/// still held to `*out_left` (may be NULL). Never blocks.
///
/// # Safety
/// `out_left` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_share_lock_stop_sharing(
    lock: *const holdfast_share_lock,
    context: u64,
    out_left: *mut u32,
) -> holdfast_status {
    boundary("holdfast_share_lock_stop_sharing", || {
        let left = handles::share_lock(lock as usize)?.stop_sharing(context);
        if !out_left.is_null() {
            // SAFETY: checked non-NULL.
            unsafe { *out_left = left };
        }
        Ok(())
    })
}

/// Takes the exclusive lock for `context` (Rails' `start_exclusive`):
/// reentrant; upgrades the context's shares; while waiting, yields them to
/// exclusive attempts whose purpose is in `compatible`. `purpose` may be
/// NULL (none); `compatible` is an array of `compatible_len` names (NULL
/// when 0). With `no_wait`, a busy lock writes false to `*out_acquired`
/// instead of waiting. `timeout_ms` < 0 waits forever. Errors:
/// `HOLDFAST_TIMEOUT`, `HOLDFAST_DEADLOCK` (nothing acquired, shares kept).
///
/// # Safety
/// Strings are NUL-terminated; `compatible` holds `compatible_len`
/// pointers; `out_acquired` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_share_lock_start_exclusive(
    lock: *const holdfast_share_lock,
    context: u64,
    purpose: *const c_char,
    compatible: *const *const c_char,
    compatible_len: usize,
    no_wait: bool,
    timeout_ms: i64,
    out_acquired: *mut bool,
) -> holdfast_status {
    boundary("holdfast_share_lock_start_exclusive", || {
        let lock = handles::share_lock(lock as usize)?;
        // SAFETY: per this function's contract.
        let purpose = unsafe { self::purpose(purpose, "purpose") }?;
        // SAFETY: per this function's contract.
        let compatible = unsafe { purposes(compatible, compatible_len, "compatible") }?;
        let wait = wait_with(&lock, timeout_ms)?;
        let acquired = lock
            .start_exclusive(context, purpose, &compatible, no_wait, Some(&wait))
            .map_err(lock_failure)?;
        if !out_acquired.is_null() {
            // SAFETY: checked non-NULL.
            unsafe { *out_acquired = acquired };
        }
        Ok(())
    })
}

/// Releases one level of the exclusive lock (Rails' `stop_exclusive`). When
/// the last level goes and compatible waiters are eligible, waits until they
/// have had the lock, as Rails does. Error: `HOLDFAST_NOT_HELD` if `context`
/// does not hold it.
///
/// # Safety
/// `compatible` holds `compatible_len` NUL-terminated strings (NULL when 0).
#[no_mangle]
pub unsafe extern "C" fn holdfast_share_lock_stop_exclusive(
    lock: *const holdfast_share_lock,
    context: u64,
    compatible: *const *const c_char,
    compatible_len: usize,
) -> holdfast_status {
    boundary("holdfast_share_lock_stop_exclusive", || {
        let lock = handles::share_lock(lock as usize)?;
        // SAFETY: per this function's contract.
        let compatible = unsafe { purposes(compatible, compatible_len, "compatible") }?;
        let wait = wait_with(&lock, -1)?;
        lock.stop_exclusive(context, &compatible, Some(&wait))
            .map_err(lock_failure)
    })
}

/// Writes the lock's state as JSON (an array with one object per context:
/// `context`, `name` (null from C), `sharing`, `exclusive`,
/// `exclusive_purpose`, `waiting`, `purpose`, `compatible`, `sleeper`,
/// `waited_seconds`; a purpose is its name, false or null — the shape the
/// Ruby gem's `snapshot` gives too) into `buf`,
/// NUL-terminated, and its length (without the NUL) into `*out_len`. If
/// `len` is too small, writes nothing into `buf`, sets `*out_len` to the
/// length needed and returns `HOLDFAST_BUFFER_TOO_SMALL`. Does not stop the
/// lock beyond a copy of its state. Thread-safe.
///
/// # Safety
/// `buf` is NULL (with `len` 0) or `len` writable bytes; `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_share_lock_snapshot_json(
    lock: *const holdfast_share_lock,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> holdfast_status {
    boundary("holdfast_share_lock_snapshot_json", || {
        let lock = handles::share_lock(lock as usize)?;
        let json = snapshot_json(&lock.snapshot(), &|_| None).to_string();
        // SAFETY: the caller's buffer contract, forwarded.
        unsafe { write_text(&json, buf, len, out_len, "the snapshot") }
    })
}
