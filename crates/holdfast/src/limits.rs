//! Range checks for every duration a caller hands Holdfast (lock timeouts,
//! the long-wait threshold, SQLite's busy timeout, write-behind intervals,
//! retention), made where the value enters from C or Ruby, so an absurd
//! value is a clear error and never an overflow or a panic deeper down.

use std::time::{Duration, Instant};

/// The longest wait, interval or retention Holdfast takes: ten years.
/// Longer means "forever", which the APIs spell another way (no timeout,
/// keep until pruned).
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// SQLite takes its busy timeout in milliseconds as a C int.
pub const MAX_BUSY_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// `seconds` as a Duration from `min` to `max`, or a message saying what was
/// wrong and what is allowed (NaN, infinity, negative, too long).
pub fn seconds(what: &str, seconds: f64, min: Duration, max: Duration) -> Result<Duration, String> {
    let fits = seconds.is_finite() && seconds >= min.as_secs_f64() && seconds <= max.as_secs_f64();
    if !fits {
        // A minimum of a few nanoseconds means "positive"; say so rather
        // than print 0.000000001.
        let range = if !min.is_zero() && min < Duration::from_micros(1) {
            format!("above 0 and at most {}", max.as_secs_f64())
        } else {
            format!("from {} to {}", min.as_secs_f64(), max.as_secs_f64())
        };
        return Err(format!(
            "{what} must be a number of seconds {range}, got {seconds}"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `ms` milliseconds as a Duration from `min` to `max` (see [`seconds`]).
pub fn millis(what: &str, ms: u64, min: Duration, max: Duration) -> Result<Duration, String> {
    let duration = Duration::from_millis(ms);
    if duration < min || duration > max {
        return Err(format!(
            "{what} must be from {} to {} milliseconds, got {ms}",
            min.as_millis(),
            max.as_millis()
        ));
    }
    Ok(duration)
}

/// The instant `timeout` from now (at most [`MAX_DURATION`], so it cannot
/// overflow).
pub fn deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout.min(MAX_DURATION)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_values_are_messages_not_panics() {
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e20, 1e19] {
            let error = seconds("timeout", bad, Duration::ZERO, MAX_DURATION).unwrap_err();
            assert!(
                error.starts_with("timeout must be a number of seconds from 0 to 315360000"),
                "{error}"
            );
        }
        assert_eq!(
            seconds("t", 0.25, Duration::ZERO, MAX_DURATION),
            Ok(Duration::from_millis(250))
        );
        let error = millis(
            "busy_timeout",
            2_147_484_000,
            Duration::ZERO,
            MAX_BUSY_TIMEOUT,
        )
        .unwrap_err();
        assert_eq!(
            error,
            "busy_timeout must be from 0 to 2147483647 milliseconds, got 2147484000"
        );
        assert_eq!(
            seconds("t", 0.0, Duration::from_nanos(1), MAX_DURATION).unwrap_err(),
            "t must be a number of seconds above 0 and at most 315360000, got 0"
        );
        assert!(deadline(Duration::MAX) > Instant::now());
    }
}
