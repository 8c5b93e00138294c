//! Waiting out another process's write lock (SQLite: a writer paused inside
//! its commit by SIGSTOP, a debugger or a frozen VM). A write that finds the
//! store busy is tried again for up to one lease: a pause shorter than that
//! costs the job a wait, never an error.
//!
//! The wait runs on the caller's thread. A binding whose threads can be
//! interrupted (Ruby's `Thread#kill`, `Timeout`) installs a probe for the
//! duration of a call; the retry stops at the next attempt once the probe
//! says the thread was interrupted, and the busy error goes back to the
//! binding, which raises the interrupt instead.

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::StoreError;

/// How long to sleep between attempts: SQLite's own busy handler already
/// waited its busy timeout inside each attempt.
const PAUSE: Duration = Duration::from_millis(50);

thread_local! {
    static PROBE: Cell<Option<fn() -> bool>> = const { Cell::new(None) };
}

/// Runs `body` with `probe` consulted between busy retries on this thread.
/// The probe must be cheap and must not block; it is restored on return
/// (also on unwind).
pub fn with_interrupt_probe<R>(probe: fn() -> bool, body: impl FnOnce() -> R) -> R {
    struct Restore(Option<fn() -> bool>);
    impl Drop for Restore {
        fn drop(&mut self) {
            PROBE.with(|slot| slot.set(self.0));
        }
    }
    let _restore = Restore(PROBE.with(|slot| slot.replace(Some(probe))));
    body()
}

fn interrupted() -> bool {
    PROBE.with(|slot| slot.get()).is_some_and(|probe| probe())
}

/// Runs `op` until it is not busy, for at most `budget`, or until this
/// thread's probe reports an interrupt.
pub(crate) fn retry<T>(
    budget: Duration,
    mut op: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let give_up = Instant::now() + budget;
    loop {
        match op() {
            Err(StoreError::Busy { .. }) if Instant::now() < give_up && !interrupted() => {
                std::thread::sleep(PAUSE);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn busy<T>() -> Result<T, StoreError> {
        Err(StoreError::Busy {
            location: "test.sqlite3".into(),
            message: "database is locked".into(),
        })
    }

    #[test]
    fn retries_until_not_busy() {
        let mut attempts = 0;
        let result = retry(Duration::from_secs(10), || {
            attempts += 1;
            if attempts < 3 {
                busy()
            } else {
                Ok(attempts)
            }
        });
        assert_eq!(result.ok(), Some(3));
    }

    #[test]
    fn gives_up_after_the_budget() {
        let started = Instant::now();
        assert!(matches!(
            retry(Duration::from_millis(120), busy::<()>),
            Err(StoreError::Busy { .. })
        ));
        assert!(started.elapsed() >= Duration::from_millis(120));
    }

    static STOP: AtomicBool = AtomicBool::new(false);

    #[test]
    fn an_interrupted_thread_stops_retrying() {
        STOP.store(false, Ordering::SeqCst);
        let mut attempts = 0;
        let started = Instant::now();
        let result = with_interrupt_probe(
            || STOP.load(Ordering::SeqCst),
            || {
                retry(Duration::from_secs(30), || {
                    attempts += 1;
                    if attempts == 2 {
                        STOP.store(true, Ordering::SeqCst);
                    }
                    busy::<()>()
                })
            },
        );
        assert!(matches!(result, Err(StoreError::Busy { .. })));
        assert_eq!(attempts, 2);
        assert!(started.elapsed() < Duration::from_secs(5));
        // The probe was only for that call.
        assert!(!interrupted());
    }
}
