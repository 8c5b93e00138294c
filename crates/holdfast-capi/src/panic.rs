//! Every `extern "C"` body runs inside [`boundary`]: a Rust panic becomes
//! `HOLDFAST_PANIC` with a message instead of unwinding into C.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{holdfast_status, set_last_error, Failure};

pub(crate) fn boundary(
    function: &str,
    body: impl FnOnce() -> Result<(), Failure>,
) -> holdfast_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => holdfast_status::HOLDFAST_OK,
        Ok(Err(failure)) => {
            set_last_error(&format!("{function}: {}", failure.message));
            failure.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            set_last_error(&format!(
                "{function}: internal error (panic: {what}); this is a Holdfast bug, please report it"
            ));
            holdfast_status::HOLDFAST_PANIC
        }
    }
}
