//! The clock leases are judged on. A lease must not end early because
//! some process's wall clock is ahead (it would fence a live worker off),
//! nor live on because one is behind. PostgreSQL judges leases on the
//! server's clock, in SQL; SQLite stores live on one host, whose boot clock
//! (`CLOCK_BOOTTIME`: milliseconds since boot, counting suspend) no
//! wall-clock step, NTP slew or `date -s` moves. A reboot restarts that
//! clock, so a SQLite store remembers the boot it was last opened in and
//! expires every lease from an earlier one (their processes are gone).

use super::now_ms;

/// Milliseconds since this host booted. Read with the system call itself,
/// not libc's wrapper: a preloaded time shim (libfaketime) that fakes the
/// wall clock for a test or by mistake cannot move it either.
pub(crate) fn boot_ms() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through the pointer, which
    // points to a live, writable timespec on this stack frame.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clock_gettime,
            libc::CLOCK_BOOTTIME,
            &mut ts as *mut libc::timespec,
        )
    };
    if rc != 0 {
        // Linux has had CLOCK_BOOTTIME since 2.6.39; without it, the
        // monotonic clock is the next best (it stops during suspend).
        return std::time::Instant::now()
            .duration_since(*process_start())
            .as_millis() as i64;
    }
    ts.tv_sec.saturating_mul(1000) + ts.tv_nsec / 1_000_000
}

fn process_start() -> &'static std::time::Instant {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now)
}

/// This boot's id (the kernel's random boot id), or "" where there is none.
pub(crate) fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_owned())
        .unwrap_or_default()
}

/// A lease expiry on the boot clock as a time on the wall clock, for
/// showing. The offset between the two clocks is read once per process, so
/// the same record reads the same each time (a wall clock stepped later
/// shifts what is shown, never when a lease ends).
pub(crate) fn boot_to_wall(expires_at: i64) -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let offset = *OFFSET.get_or_init(|| now_ms() - boot_ms());
    expires_at.saturating_add(offset)
}

/// A lease expiry on a store clock that reads `store_now` now, as a time on
/// this process's wall clock (for showing "ran out 3 s ago").
pub(crate) fn to_wall(expires_at: i64, store_now: i64) -> i64 {
    now_ms().saturating_add(expires_at.saturating_sub(store_now))
}
