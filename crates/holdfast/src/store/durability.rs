//! When a checkpoint reaches the disk.

use std::fmt;
use std::time::Duration;

use super::StoreError;

/// The loss window a user accepts. Every policy writes synchronously when a
/// step completes, when a job is interrupted or completes, on `flush` and
/// on `close` (and when the store is dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Each checkpoint returns once it is committed: a crash loses nothing
    /// that was acknowledged.
    #[default]
    EveryCheckpoint,
    /// Checkpoints update memory and return; a background writer commits
    /// every job's latest progress in one transaction at most once per
    /// interval. A crash loses at most the last interval of cursor moves.
    Interval(Duration),
    /// Cursor moves stay in memory; progress is committed when a step
    /// completes or the job is interrupted. A crash loses the current
    /// step's cursor moves.
    StepBoundaries,
}

impl Durability {
    /// `"every_checkpoint"`, `"step_boundaries"`, `"interval:100"` (ms).
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "every_checkpoint" => Ok(Durability::EveryCheckpoint),
            "step_boundaries" => Ok(Durability::StepBoundaries),
            other => {
                let ms = other
                    .strip_prefix("interval:")
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .ok_or_else(|| {
                        StoreError::invalid(format!(
                            "unknown durability {other:?}: use every_checkpoint, step_boundaries or interval:<milliseconds> (at least 1)"
                        ))
                    })?;
                Durability::interval_ms(ms)
            }
        }
    }
}

impl Durability {
    /// Write-behind every `ms` milliseconds: from 1 ms to ten years.
    pub fn interval_ms(ms: u64) -> Result<Self, StoreError> {
        crate::limits::millis(
            "the durability interval",
            ms,
            Duration::from_millis(1),
            crate::limits::MAX_DURATION,
        )
        .map(Durability::Interval)
        .map_err(StoreError::invalid)
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Durability::EveryCheckpoint => f.write_str("every_checkpoint"),
            Durability::Interval(every) => write!(f, "interval:{}", every.as_millis()),
            Durability::StepBoundaries => f.write_str("step_boundaries"),
        }
    }
}

/// What a checkpoint marks, which decides whether it is written at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpoint {
    /// The cursor moved inside a step.
    Cursor,
    /// A step completed (or a new one started).
    StepBoundary,
    /// The job is stopping at this checkpoint.
    Interrupt,
}

impl Durability {
    pub(crate) fn writes_at_once(&self, checkpoint: Checkpoint) -> bool {
        checkpoint != Checkpoint::Cursor || *self == Durability::EveryCheckpoint
    }
}
