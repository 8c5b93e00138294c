//! Waiting for the lock from Ruby: the blocking section with its
//! unblocking function, the long-wait report, deadlines, and turning lock
//! errors into Ruby exceptions that name threads.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use magnus::{
    prelude::*, rb_sys::AsRawValue, value::BoxValue, value::ReprValue, Error, Ruby, Value,
};

use holdfast::share_lock::{Diagnostic, LongWaitReport};
use holdfast::{limits, ContextId, LockError, ShareLock, Wait};

use crate::{context, errors, nogvl};

/// Runs `op` as a blocking section until it completes, retrying after an
/// interruption that turned out to raise nothing. An interruption that does
/// raise returns that Ruby error (and `op` had undone its own effects); so
/// does an error raised by the long-wait report (a logger, or an interrupt
/// that arrived while it ran), which ends the wait the same way.
pub(crate) fn blocking<R>(
    ruby: &Ruby,
    lock: &ShareLock,
    deadline: Option<Instant>,
    detect_deadlocks: bool,
    mut op: impl FnMut(&Wait) -> Result<R, LockError>,
) -> Result<Result<R, LockError>, Error> {
    // Signals reach a waiting main thread only as a flag Ruby sets on it
    // (its handler cannot call our unblocking function), so the wait also
    // polls that flag. The VALUE stays in this frame, which Ruby scans.
    let thread = ruby.thread_current().as_raw();
    // SAFETY: reads the interrupt flags of this live thread; no GVL needed.
    let poll = move || unsafe { rb_sys::rb_thread_interrupted(thread) != 0 };
    let lock_name = lock.name();
    let threshold = long_wait_threshold();
    loop {
        let flag = AtomicBool::new(false);
        let failure = ReportFailure::default();
        let report = |diagnostic: &Diagnostic| {
            nogvl::with_gvl(|| {
                if let Err(error) = report_long_wait(&lock_name, diagnostic) {
                    failure.keep(error);
                    // Ends the wait as interrupted: the lock is left as if
                    // it had not been attempted.
                    flag.store(true, Ordering::SeqCst);
                }
            });
        };
        let wait = Wait {
            interrupt: Some(&flag),
            poll: Some(&poll),
            long_wait: threshold.map(|t| (t, &report as &LongWaitReport<'_>)),
            deadline,
            tolerate_deadlocks: !detect_deadlocks,
        };
        let outcome = nogvl::without_gvl(|| op(&wait), &|| lock.interrupt(&flag));
        if let Some(error) = failure.take() {
            return Err(error);
        }
        match outcome {
            None | Some(Err(LockError::Interrupted)) => ruby.thread_check_ints()?,
            // An interrupt that came with the timeout wins over it.
            Some(Err(LockError::Timeout(diagnostic))) => {
                ruby.thread_check_ints()?;
                return Ok(Err(LockError::Timeout(diagnostic)));
            }
            Some(result) => return Ok(result),
        }
    }
}

/// An error raised in the long-wait report, kept until the blocking section
/// has ended. Its exception is rooted (BoxValue) meanwhile: other threads
/// run, and may collect garbage, before it is raised.
#[derive(Default)]
struct ReportFailure(RefCell<Option<(Error, Option<BoxValue<Value>>)>>);

// SAFETY: touched only by the waiting Ruby thread while it holds the GVL:
// `keep` inside `with_gvl` during its own wait, `take` after the section.
unsafe impl Sync for ReportFailure {}

impl ReportFailure {
    fn keep(&self, error: Error) {
        let rooted = error.value().map(BoxValue::new);
        *self.0.borrow_mut() = Some((error, rooted));
    }

    fn take(&self) -> Option<Error> {
        self.0.borrow_mut().take().map(|(error, _rooted)| error)
    }
}

/// `Holdfast.lock_wait_threshold` in nanoseconds; 0 when off.
static LONG_WAIT_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn long_wait_threshold() -> Option<Duration> {
    match LONG_WAIT_NANOS.load(std::sync::atomic::Ordering::Relaxed) {
        0 => None,
        nanos => Some(Duration::from_nanos(nanos)),
    }
}

pub(super) fn set_long_wait_threshold(ruby: &Ruby, seconds: Value) -> Result<Value, Error> {
    let nanos = if seconds.is_nil() {
        0
    } else {
        let s = f64::try_convert(seconds)?;
        let threshold = limits::seconds(
            "lock_wait_threshold",
            s,
            Duration::from_nanos(1),
            limits::MAX_DURATION,
        )
        .map_err(|message| {
            Error::new(
                ruby.exception_arg_error(),
                format!("{message} (or nil to turn it off)"),
            )
        })?;
        threshold.as_nanos() as u64
    };
    LONG_WAIT_NANOS.store(nanos, std::sync::atomic::Ordering::Relaxed);
    Ok(seconds)
}

pub(super) fn get_long_wait_threshold() -> Option<f64> {
    long_wait_threshold().map(|d| d.as_secs_f64())
}

/// With the GVL held again, from inside a wait: hands the diagnostic to
/// `Holdfast.__long_lock_wait`, which instruments and logs it. Its error (an
/// interrupt that arrived meanwhile) is returned, to end the wait.
fn report_long_wait(lock: &str, diagnostic: &Diagnostic) -> Result<(), Error> {
    // Always a Ruby thread: the waiting one, back inside the GVL.
    let Ok(ruby) = Ruby::get() else { return Ok(()) };
    let waited = diagnostic
        .parties
        .first()
        .and_then(|p| p.waits.first())
        .map_or(0.0, |w| w.waited.as_secs_f64());
    let message = render(&ruby, diagnostic)?;
    let holdfast: magnus::RModule = ruby.class_object().const_get("Holdfast")?;
    let _: Value = holdfast.funcall("__long_lock_wait", (lock, waited, message))?;
    Ok(())
}

/// Tries `op` without waiting, then as a blocking section if it must wait.
pub(crate) fn acquire<R>(
    ruby: &Ruby,
    lock: &ShareLock,
    deadline: Option<Instant>,
    detect_deadlocks: bool,
    mut op: impl FnMut(Option<&Wait>) -> Result<R, LockError>,
) -> Result<R, Error> {
    let result = match op(None) {
        Err(LockError::WouldBlock) => blocking(ruby, lock, deadline, detect_deadlocks, |wait| {
            op(Some(wait))
        })?,
        other => other,
    };
    result.map_err(|error| lock_error(ruby, error))
}

pub(crate) fn lock_error(ruby: &Ruby, error: LockError) -> Error {
    let (class, diagnostic) = match error {
        LockError::Deadlock(diagnostic) => ("DeadlockError", diagnostic),
        LockError::Timeout(diagnostic) => ("LockTimeout", diagnostic),
        LockError::InvalidUnlock => {
            return Error::new(ruby.exception_runtime_error(), "invalid unlock")
        }
        LockError::WouldBlock | LockError::Interrupted => {
            return Error::new(
                ruby.exception_runtime_error(),
                "lock wait ended without a result (Holdfast bug)",
            )
        }
    };
    match render(ruby, &diagnostic) {
        Ok(message) => errors::holdfast(ruby, class, message),
        Err(interrupted) => interrupted,
    }
}

/// A diagnostic with owners named as people know them: thread names.
pub(crate) fn render(ruby: &Ruby, diagnostic: &Diagnostic) -> Result<String, Error> {
    let threads = thread_labels(ruby)?;
    Ok(diagnostic.render(&|owner| {
        threads
            .iter()
            .find(|(id, _)| *id == owner)
            .map(|(_, label)| label.clone())
            .unwrap_or_else(|| format!("fiber or thread {owner:#x}"))
    }))
}

/// Every live thread's id and label ("thread \"worker\" (0x..)"). Calls
/// back into Ruby; its error (a pending interrupt) is returned.
pub(super) fn thread_labels(ruby: &Ruby) -> Result<Vec<(ContextId, String)>, Error> {
    let list: magnus::RArray = ruby.class_thread().funcall("list", ())?;
    let main: Value = ruby.class_thread().funcall("main", ())?;
    let main = main.as_raw();
    let mut labels = Vec::with_capacity(list.len());
    for thread in list.into_iter() {
        let id = thread.as_raw() as ContextId;
        let name: Option<String> = thread.funcall("name", ())?;
        let label = match (name, thread.as_raw() == main) {
            (Some(name), _) => format!("thread {name:?} ({id:#x})"),
            (None, true) => format!("the main thread ({id:#x})"),
            (None, false) => format!("thread {id:#x}"),
        };
        labels.push((id, label));
    }
    Ok(labels)
}

pub(super) fn deadline(ruby: &Ruby, timeout: Value) -> Result<Option<Instant>, Error> {
    if timeout.is_nil() {
        return Ok(None);
    }
    let seconds = f64::try_convert(timeout)?;
    let timeout = limits::seconds("timeout", seconds, Duration::ZERO, limits::MAX_DURATION)
        .map_err(|message| {
            Error::new(
                ruby.exception_arg_error(),
                format!("{message} (or nil to wait forever)"),
            )
        })?;
    Ok(Some(limits::deadline(timeout)))
}

pub(super) fn owner(ruby: &Ruby) -> ContextId {
    context::current(ruby).1
}
