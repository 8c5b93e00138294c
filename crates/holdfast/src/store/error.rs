//! The store's errors. Each says what happened, where (the store's path or
//! URL, never a password) and what to do.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// A newer execution of this job took over its progress, or its record
    /// was discarded since this execution began: this one must stop without
    /// writing. Nothing was written.
    Stale {
        job_id: String,
        token: u64,
        newest: Option<u64>,
    },
    /// No record for this job id (never begun, or pruned).
    NotFound { job_id: String },
    /// A value over its size limit. Nothing was written.
    Limit {
        what: &'static str,
        max: usize,
        got: usize,
    },
    /// An argument the store cannot take (empty id, bad option).
    InvalidArgument(String),
    /// The file exists but is not a Holdfast store.
    NotADatabase { location: String, message: String },
    /// Reading or writing failed: disk full, permissions, database gone.
    Io { location: String, message: String },
    /// Another process held the database's write lock past the busy
    /// timeout (it is paused, stopped in a debugger, or its VM froze).
    /// Nothing was written; trying again later is safe.
    Busy { location: String, message: String },
    /// The file, or one record in it (`job_id`), failed its integrity
    /// check; nothing from it was returned or overwritten.
    Corrupt {
        location: String,
        job_id: Option<String>,
        message: String,
    },
    /// The store was closed.
    Closed { location: String },
}

impl StoreError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        StoreError::InvalidArgument(message.into())
    }

    pub(crate) fn io(location: &str, message: impl fmt::Display) -> Self {
        StoreError::Io {
            location: location.to_owned(),
            message: message.to_string(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Stale {
                job_id,
                token,
                newest,
            } => {
                write!(f, "execution {token} of job {job_id:?} is stale: ")?;
                match newest {
                    Some(newest) => write!(f, "execution {newest} owns its progress now")?,
                    None => write!(f, "its record was discarded since it began")?,
                }
                write!(f, "; this one must stop without writing (nothing was written)")
            }
            StoreError::NotFound { job_id } => write!(
                f,
                "no continuation record for job {job_id:?}: begin an execution first (was it pruned?)"
            ),
            StoreError::Limit { what, max, got } => write!(
                f,
                "{what} is {got} bytes, over the limit of {max}; nothing was written{}",
                if *what == "cursor" {
                    " (keep a cursor to a position, such as an id or offset, or raise max_cursor_bytes)"
                } else {
                    ""
                }
            ),
            StoreError::InvalidArgument(message) => f.write_str(message),
            StoreError::NotADatabase { location, message } => write!(
                f,
                "{location} is not a Holdfast store ({message}); point the store at a new file, or move this one away"
            ),
            StoreError::Io { location, message } | StoreError::Busy { location, message } => {
                write!(f, "{location}: {message}")
            }
            StoreError::Corrupt {
                location,
                job_id: Some(job_id),
                message,
            } => write!(
                f,
                "{location}: the record of job {job_id:?} is corrupt ({message}); it was not used. \
                 Restore the file from a backup, or delete that record (the job then starts over)"
            ),
            StoreError::Corrupt {
                location,
                job_id: None,
                message,
            } => write!(
                f,
                "{location} is corrupt ({message}); nothing was read from it or written to it. \
                 Restore it from a backup (`sqlite3 FILE .recover` may save what is left)"
            ),
            StoreError::Closed { location } => {
                write!(f, "{location} is closed; open the store again to use it")
            }
        }
    }
}

impl std::error::Error for StoreError {}
