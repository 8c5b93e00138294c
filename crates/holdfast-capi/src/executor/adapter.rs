//! The core executor's adapter for C: callbacks are function pointers with
//! userdata, hook state is the pointer a hook's run returned, and errors
//! carry the code a callback returned.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Arc;

use parking_lot::Mutex;

use holdfast::{Adapter, Execution, Executor, Flow, Invoker, Misuse, Position};

use crate::error::{holdfast_status, Failure};

/// A C function pointer and the userdata it is called with. The caller of
/// `holdfast_executor_to_run` and friends promises the pair may be used
/// from every thread that runs the executor.
#[derive(Clone, Copy)]
pub(crate) struct Callback {
    pub(super) function: unsafe extern "C" fn(*mut c_void, u64) -> c_int,
    pub(super) userdata: *mut c_void,
}

// SAFETY: documented contract of the registration functions: the callback
// and userdata must be usable from any thread that runs the executor.
unsafe impl Send for Callback {}
// SAFETY: as above; Holdfast never calls a callback from two threads for
// the same execution, but may for different contexts at once.
unsafe impl Sync for Callback {}

pub(crate) struct Hook {
    pub(super) run: unsafe extern "C" fn(*mut c_void, u64, *mut *mut c_void) -> c_int,
    pub(super) complete: unsafe extern "C" fn(*mut c_void, u64, *mut c_void) -> c_int,
    pub(super) userdata: *mut c_void,
}

// SAFETY: same contract as `Callback`.
unsafe impl Send for Hook {}
// SAFETY: same contract as `Callback`.
unsafe impl Sync for Hook {}

pub(crate) struct State(*mut c_void);

// SAFETY: the state is an opaque pointer owned by the hook; Holdfast only
// hands it back to the hook's complete function.
unsafe impl Send for State {}

pub(crate) struct C;

impl Adapter for C {
    type Callback = Callback;
    type Hook = Hook;
    type State = State;
    type Payload = ();
}

#[derive(Clone, Copy)]
pub(super) struct Reporter {
    pub(super) function: unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *const c_char),
    pub(super) userdata: *mut c_void,
}

// SAFETY: same contract as `Callback` (documented on
// holdfast_executor_set_error_reporter).
unsafe impl Send for Reporter {}

pub(crate) struct CExecutor {
    pub(super) executor: Executor<C>,
    pub(super) reporter: Mutex<Option<Reporter>>,
}

pub(crate) struct CExecution {
    pub(super) executor: Arc<CExecutor>,
    /// `None`: Rails' null execution (the context was already active).
    pub(super) execution: Option<Arc<Execution<C>>>,
}

pub(super) struct CInvoker<'s> {
    pub(super) context: u64,
    pub(super) source: &'s CStr,
    pub(super) reporter: Option<Reporter>,
}

impl Invoker<C> for CInvoker<'_> {
    type Error = Failure;

    fn call(&mut self, _: &(), callback: &Callback, position: Position) -> Result<Flow, Failure> {
        // SAFETY: registered by the caller with this userdata (see Callback).
        let rc = unsafe { (callback.function)(callback.userdata, self.context) };
        if rc == 0 {
            return Ok(Flow::Continue);
        }
        let kind = if position == Position::After {
            "after"
        } else {
            "before"
        };
        Err(Failure::new(
            holdfast_status::HOLDFAST_CALLBACK_FAILED,
            format!(
                "{kind} callback {:p} returned {rc} on context {}",
                callback.function as *const (), self.context
            ),
        ))
    }

    fn run_hook(&mut self, _: &(), hook: &Hook) -> Result<State, Failure> {
        let mut state: *mut c_void = std::ptr::null_mut();
        // SAFETY: registered by the caller with this userdata; `state` is a
        // valid out-pointer for the duration of the call.
        let rc = unsafe { (hook.run)(hook.userdata, self.context, &mut state) };
        if rc == 0 {
            return Ok(State(state));
        }
        Err(Failure::new(
            holdfast_status::HOLDFAST_CALLBACK_FAILED,
            format!(
                "hook run {:p} returned {rc} on context {}",
                hook.run as *const (), self.context
            ),
        ))
    }

    fn complete_hook(&mut self, _: &(), hook: &Hook, state: State) -> Result<(), Failure> {
        // SAFETY: as for run_hook; `state` is what this hook's run stored.
        let rc = unsafe { (hook.complete)(hook.userdata, self.context, state.0) };
        if rc == 0 {
            return Ok(());
        }
        Err(Failure::new(
            holdfast_status::HOLDFAST_CALLBACK_FAILED,
            format!(
                "hook complete {:p} returned {rc} on context {}",
                hook.complete as *const (), self.context
            ),
        ))
    }

    fn report(&mut self, failure: Failure) -> Failure {
        if let (Some(reporter), holdfast_status::HOLDFAST_WORK_FAILED) =
            (self.reporter, failure.status)
        {
            let message =
                std::ffi::CString::new(failure.message.replace('\0', " ")).unwrap_or_default();
            let code = failure.code;
            // SAFETY: registered by the caller; both strings outlive the call.
            unsafe {
                (reporter.function)(
                    reporter.userdata,
                    self.source.as_ptr(),
                    code,
                    message.as_ptr(),
                )
            };
        }
        failure
    }
}

impl From<Misuse> for Failure {
    fn from(misuse: Misuse) -> Self {
        Failure::new(
            holdfast_status::HOLDFAST_ALREADY_COMPLETED,
            misuse.to_string(),
        )
    }
}

pub(super) fn out_ptr<T>(out: *mut *mut T, name: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_NULL_ARGUMENT,
            format!("{name} is NULL"),
        ));
    }
    Ok(())
}

pub(super) fn invoker(executor: &CExecutor, context: u64) -> CInvoker<'static> {
    CInvoker {
        context,
        source: c"application.active_support",
        reporter: *executor.reporter.lock(),
    }
}
