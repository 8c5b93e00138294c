//! Recovery from C: executions that keep what re-running them needs (a
//! payload), giving an execution up, claiming orphans (executions whose
//! process died and whose lease ran out), and dropping a record on purpose.
//! What a payload holds and how a claimed job is run again is the caller's:
//! Holdfast keeps the text and makes sure one caller gets each orphan.

use std::ffi::c_char;

use serde_json::json;

use crate::buffers::{str_arg, write_text, write_value};
use crate::error::{holdfast_status, Failure};
use crate::handles;
use crate::panic::boundary;
use crate::store::{holdfast_store, store_failure};
use crate::store_execution::{begin, holdfast_store_execution, JobArgs};

/// As `holdfast_store_begin`, and keeps `payload` (UTF-8 text, at most
/// 1 MiB; for example the job's arguments as JSON) with the record: should
/// this process die mid-run, `holdfast_store_claim_orphans_json` hands it to
/// the process that recovers the job.
///
/// # Safety
/// `job_id`, `job_class` and `payload` point to their lengths in bytes;
/// `out` writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_begin_with_payload(
    store: *const holdfast_store,
    job_id: *const u8,
    job_id_len: usize,
    job_class: *const u8,
    job_class_len: usize,
    payload: *const u8,
    payload_len: usize,
    out: *mut *mut holdfast_store_execution,
) -> holdfast_status {
    boundary("holdfast_store_begin_with_payload", || {
        // SAFETY: the caller's contract, forwarded.
        let payload = unsafe { str_arg(payload, payload_len, "payload") }?;
        let job = JobArgs {
            job_id,
            job_id_len,
            job_class,
            job_class_len,
        };
        // SAFETY: the caller's contract, forwarded.
        unsafe { begin(store, &job, Some(payload), false, out) }
    })
}

/// The execution stops here without completing (interrupted, or failed):
/// its progress is written and its heartbeat stopped. With `drop_lease`
/// its lease goes too, so no recoverer takes it for an orphan (the caller
/// runs the job again itself); without, the lease runs out and a recoverer
/// claims the job (its queue died with this process). Later writes through
/// the execution return `HOLDFAST_INVALID_ARGUMENT`.
///
/// # Safety
/// None beyond passing a handle (checked).
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_execution_release(
    execution: *const holdfast_store_execution,
    drop_lease: bool,
) -> holdfast_status {
    boundary("holdfast_store_execution_release", || {
        let e = handles::store_execution(execution as usize)?;
        e.run.release(drop_lease).map_err(store_failure)
    })
}

/// Claims up to `limit` orphans (in flight, begun with a payload, their
/// lease run out) and writes them as a JSON array into `buf`
/// (NUL-terminated), its length into `*out_len`: each {`job_id`,
/// `job_class`, `payload`, `token`, `expired_owner`, `expired_at` (ms since
/// the epoch)}. Each claim has a new fencing token (the dead execution can
/// never write again) and a lease held by this process for one lease
/// period: run the job again (`holdfast_store_begin_with_payload` with its
/// job id) within it, or it comes up again. A caller that hands the job to
/// a queue instead calls `holdfast_store_handed_off` once it is queued, so
/// a copy waiting longer than a lease is not claimed again; one that cannot
/// take a claim on gives it back with `holdfast_store_hand_back`. Two
/// callers, in any processes, never claim the same orphan.
///
/// `HOLDFAST_BUFFER_TOO_SMALL` (with the needed length in `*out_len`) keeps
/// nothing claimed: the claims are handed back at once, and a call with a
/// larger buffer claims them again (others may have claimed some by then).
///
/// # Safety
/// `buf` is NULL (with `len` 0) or `len` writable bytes; `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_claim_orphans_json(
    store: *const holdfast_store,
    limit: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> holdfast_status {
    boundary("holdfast_store_claim_orphans_json", || {
        let store = handles::store(store as usize)?;
        if out_len.is_null() {
            return Err(Failure::new(
                holdfast_status::HOLDFAST_NULL_ARGUMENT,
                "out_len is NULL",
            ));
        }
        let swept = store.claim_orphans(limit).map_err(store_failure)?;
        for damaged in &swept.damaged {
            // The C caller gets the claims; damage must not pass unseen.
            eprintln!("holdfast: recovery skipped a damaged record: {damaged}");
        }
        let claimed = swept.claimed;
        let text = serde_json::Value::Array(
            claimed
                .iter()
                .map(|orphan| {
                    json!({
                        "job_id": orphan.job_id,
                        "job_class": orphan.job_class,
                        "payload": orphan.payload,
                        "token": orphan.token,
                        "expired_owner": orphan.expired.owner,
                        "expired_at": orphan.expired.expires_at,
                        "recoveries": orphan.recoveries,
                    })
                })
                .collect(),
        )
        .to_string();
        // SAFETY: the caller's buffer contract, forwarded.
        let written = unsafe { write_text(&text, buf, len, out_len, "the claimed orphans") };
        if written.is_err() {
            let claims: Vec<(String, u64)> = claimed
                .iter()
                .map(|orphan| (orphan.job_id.clone(), orphan.token))
                .collect();
            store
                .hand_back(&claims, std::time::Duration::ZERO)
                .map_err(store_failure)?;
        }
        written
    })
}

/// The copy of a claimed job (`token` from
/// `holdfast_store_claim_orphans_json`) is in a queue: the claim is held
/// for the store's recovery timeout rather than one lease, so the copy may
/// wait behind a backlog without being claimed and queued again. A claim
/// that moved on (its copy began, the job was discarded) is left alone.
/// Callable from any thread; errors as for every store call
/// (`HOLDFAST_INVALID_ARGUMENT` for a bad job id, store errors as such).
///
/// # Safety
/// `job_id` points to `job_id_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_handed_off(
    store: *const holdfast_store,
    job_id: *const u8,
    job_id_len: usize,
    token: u64,
) -> holdfast_status {
    boundary("holdfast_store_handed_off", || {
        let store = handles::store(store as usize)?;
        // SAFETY: the caller's contract, forwarded.
        let job_id = unsafe { str_arg(job_id, job_id_len, "job_id") }?;
        store.handed_off(job_id, token).map_err(store_failure)
    })
}

/// Gives a claim back (`token` from `holdfast_store_claim_orphans_json`)
/// that this caller cannot take on (its queue is down): the job is claimed
/// again `retry_after_ms` milliseconds from now (at most the store's
/// recovery timeout), here or anywhere, and this
/// claim does not count toward the store's crash-loop limit. A claim that
/// moved on is left alone. Callable from any thread.
///
/// # Safety
/// `job_id` points to `job_id_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_hand_back(
    store: *const holdfast_store,
    job_id: *const u8,
    job_id_len: usize,
    token: u64,
    retry_after_ms: u64,
) -> holdfast_status {
    boundary("holdfast_store_hand_back", || {
        let store = handles::store(store as usize)?;
        // SAFETY: the caller's contract, forwarded.
        let job_id = unsafe { str_arg(job_id, job_id_len, "job_id") }?;
        store
            .hand_back(
                &[(job_id.to_owned(), token)],
                std::time::Duration::from_millis(retry_after_ms),
            )
            .map_err(store_failure)
    })
}

/// Deletes the job's record, in flight or not (a job that will never run
/// again); writes whether there was one to `*out_existed` (may be NULL). An
/// execution still running gets `HOLDFAST_NOT_FOUND` at its next write.
///
/// # Safety
/// `job_id` points to `job_id_len` bytes; `out_existed` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn holdfast_store_discard(
    store: *const holdfast_store,
    job_id: *const u8,
    job_id_len: usize,
    out_existed: *mut bool,
) -> holdfast_status {
    boundary("holdfast_store_discard", || {
        let store = handles::store(store as usize)?;
        // SAFETY: the caller's contract, forwarded.
        let job_id = unsafe { str_arg(job_id, job_id_len, "job_id") }?;
        let existed = store.discard(job_id).map_err(store_failure)?;
        if !out_existed.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { write_value(out_existed, existed, "out_existed") }?;
        }
        Ok(())
    })
}
