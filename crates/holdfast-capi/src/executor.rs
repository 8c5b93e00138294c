//! `holdfast_executor` and `holdfast_execution`: Rails' executor for C.
//!
//! Callbacks receive the caller's `userdata` first and the context id the
//! execution runs on. They are called on the thread that called run,
//! complete or wrap. A callback may call back into Holdfast (a nested
//! `holdfast_executor_wrap` on the same context just runs its work); it must
//! not free the executor it is running in.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Arc;

use parking_lot::Mutex;

use holdfast::{
    Adapter, CallbackOptions, Execution, Executor, Flow, Invoker, Misuse, Phase, Position,
};

use crate::error::{holdfast_status, Failure};
use crate::handles::{self, Handle};
use crate::panic::boundary;

/// Opaque executor handle. Made by `holdfast_executor_new` or
/// `holdfast_executor_subclass`, released by `holdfast_executor_free`.
pub struct holdfast_executor {
    _private: [u8; 0],
}

/// Opaque handle of one execution, made by `holdfast_executor_run`;
/// complete it with `holdfast_execution_complete`, release it with
/// `holdfast_execution_free`.
pub struct holdfast_execution {
    _private: [u8; 0],
}

/// A run or complete callback. Return 0 to go on; anything else fails the
/// operation with `HOLDFAST_CALLBACK_FAILED` (the value is in the message).
pub type holdfast_callback_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, context: u64) -> c_int>;

/// A hook's run: store whatever `complete` should get in `*state_out`
/// (it starts as NULL). Return 0 on success.
pub type holdfast_hook_run_fn = Option<
    unsafe extern "C" fn(userdata: *mut c_void, context: u64, state_out: *mut *mut c_void) -> c_int,
>;

/// A hook's complete: gets the state its run stored. Return 0 on success.
pub type holdfast_hook_complete_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, context: u64, state: *mut c_void) -> c_int>;

/// The work inside `holdfast_executor_wrap`. Return 0 on success.
pub type holdfast_work_fn = Option<unsafe extern "C" fn(userdata: *mut c_void) -> c_int>;

/// Told once about work that failed inside `holdfast_executor_wrap`, before
/// the complete callbacks run: the wrap's `source`, the work's return value,
/// and a message. The strings are valid only during the call.
pub type holdfast_error_reporter_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        source: *const c_char,
        code: c_int,
        message: *const c_char,
    ),
>;

/// Flag for `holdfast_executor_to_run` / `_to_complete`: run after the
/// chain's "before" callbacks, in reverse order of registration
/// (ActiveSupport's `:after`).
pub const HOLDFAST_CALLBACK_AFTER: u32 = 1;
/// Flag: put the callback at the front of its chain (`prepend: true`).
pub const HOLDFAST_CALLBACK_PREPEND: u32 = 2;

/// A C function pointer and the userdata it is called with. The caller of
/// `holdfast_executor_to_run` and friends promises the pair may be used
/// from every thread that runs the executor.
#[derive(Clone, Copy)]
pub(crate) struct Callback {
    function: unsafe extern "C" fn(*mut c_void, u64) -> c_int,
    userdata: *mut c_void,
}

// SAFETY: documented contract of the registration functions: the callback
// and userdata must be usable from any thread that runs the executor.
unsafe impl Send for Callback {}
// SAFETY: as above; Holdfast never calls a callback from two threads for
// the same execution, but may for different contexts at once.
unsafe impl Sync for Callback {}

pub(crate) struct Hook {
    run: unsafe extern "C" fn(*mut c_void, u64, *mut *mut c_void) -> c_int,
    complete: unsafe extern "C" fn(*mut c_void, u64, *mut c_void) -> c_int,
    userdata: *mut c_void,
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
struct Reporter {
    function: unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *const c_char),
    userdata: *mut c_void,
}

// SAFETY: same contract as `Callback` (documented on
// holdfast_executor_set_error_reporter).
unsafe impl Send for Reporter {}

pub(crate) struct CExecutor {
    executor: Executor<C>,
    reporter: Mutex<Option<Reporter>>,
}

pub(crate) struct CExecution {
    executor: Arc<CExecutor>,
    /// `None`: Rails' null execution (the context was already active).
    execution: Option<Arc<Execution<C>>>,
}

struct CInvoker<'s> {
    context: u64,
    source: &'s CStr,
    reporter: Option<Reporter>,
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

fn out_ptr<T>(out: *mut *mut T, name: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_NULL_ARGUMENT,
            format!("{name} is NULL"),
        ));
    }
    Ok(())
}

fn invoker(executor: &CExecutor, context: u64) -> CInvoker<'static> {
    CInvoker {
        context,
        source: c"application.active_support",
        reporter: *executor.reporter.lock(),
    }
}

/// Makes an executor with no callbacks. On success writes a new handle to
/// `*out` (free it with `holdfast_executor_free`).
/// Errors: `HOLDFAST_NULL_ARGUMENT` if `out` is NULL. Thread-safe.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_new(
    out: *mut *mut holdfast_executor,
) -> holdfast_status {
    boundary("holdfast_executor_new", || {
        out_ptr(out, "out")?;
        let handle = new_executor_handle(Executor::new());
        // SAFETY: checked non-NULL; the caller provides a writable pointer.
        unsafe { *out = handle as *mut holdfast_executor };
        Ok(())
    })
}

fn new_executor_handle(executor: Executor<C>) -> usize {
    handles::insert(Handle::Executor(Arc::new(CExecutor {
        executor,
        reporter: Mutex::new(None),
    })))
}

/// Makes an executor that starts with `parent`'s callbacks and hooks and
/// keeps receiving those registered on `parent` later (a Ruby subclass).
/// Its active state and error reporter are its own. Writes the new handle to
/// `*out`. Errors: NULL or invalid handle. Thread-safe.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_subclass(
    parent: *const holdfast_executor,
    out: *mut *mut holdfast_executor,
) -> holdfast_status {
    boundary("holdfast_executor_subclass", || {
        let parent = handles::executor(parent as usize)?;
        out_ptr(out, "out")?;
        let handle = new_executor_handle(parent.executor.subclass());
        // SAFETY: checked non-NULL.
        unsafe { *out = handle as *mut holdfast_executor };
        Ok(())
    })
}

/// Releases an executor handle. NULL is a no-op (`HOLDFAST_OK`); a handle
/// that is not a live executor gives `HOLDFAST_INVALID_HANDLE`. Executions
/// already running keep the executor alive until they are freed.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_free(
    executor: *mut holdfast_executor,
) -> holdfast_status {
    boundary("holdfast_executor_free", || {
        handles::remove(executor as usize, "holdfast_executor")
    })
}

fn add_callback(
    executor: *const holdfast_executor,
    phase: Phase,
    function: holdfast_callback_fn,
    userdata: *mut c_void,
    flags: u32,
) -> Result<(), Failure> {
    let executor = handles::executor(executor as usize)?;
    let Some(function) = function else {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_NULL_ARGUMENT,
            "callback function is NULL",
        ));
    };
    if flags & !(HOLDFAST_CALLBACK_AFTER | HOLDFAST_CALLBACK_PREPEND) != 0 {
        return Err(Failure::new(
            holdfast_status::HOLDFAST_INVALID_ARGUMENT,
            format!("unknown flags {flags:#x}; use HOLDFAST_CALLBACK_AFTER and/or HOLDFAST_CALLBACK_PREPEND"),
        ));
    }
    let options = CallbackOptions {
        position: if flags & HOLDFAST_CALLBACK_AFTER != 0 {
            Position::After
        } else {
            Position::Before
        },
        prepend: flags & HOLDFAST_CALLBACK_PREPEND != 0,
    };
    executor
        .executor
        .add_callback(phase, Callback { function, userdata }, options);
    Ok(())
}

/// Adds a run callback (Rails' `to_run`), called before the work with
/// `userdata` and the context id. `flags`: 0, `HOLDFAST_CALLBACK_AFTER`,
/// `HOLDFAST_CALLBACK_PREPEND`. `userdata` is borrowed for the executor's
/// lifetime and must be usable from every thread that runs the executor.
/// Errors: NULL/invalid handle, NULL function, unknown flags. Thread-safe.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_to_run(
    executor: *const holdfast_executor,
    function: holdfast_callback_fn,
    userdata: *mut c_void,
    flags: u32,
) -> holdfast_status {
    boundary("holdfast_executor_to_run", || {
        add_callback(executor, Phase::Run, function, userdata, flags)
    })
}

/// Adds a complete callback (Rails' `to_complete`), called after the work;
/// complete callbacks run even when a run callback failed. Same rules as
/// `holdfast_executor_to_run`.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_to_complete(
    executor: *const holdfast_executor,
    function: holdfast_callback_fn,
    userdata: *mut c_void,
    flags: u32,
) -> holdfast_status {
    boundary("holdfast_executor_to_complete", || {
        add_callback(executor, Phase::Complete, function, userdata, flags)
    })
}

/// Registers a hook (Rails' `register_hook`): `run` before the work, and
/// `complete` after it with the state `run` stored; `complete` is skipped
/// when `run` did not happen. An `outer` hook runs before every other run
/// callback and completes after every other complete callback. `userdata`
/// rules as for `holdfast_executor_to_run`. Thread-safe.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_register_hook(
    executor: *const holdfast_executor,
    run: holdfast_hook_run_fn,
    complete: holdfast_hook_complete_fn,
    userdata: *mut c_void,
    outer: bool,
) -> holdfast_status {
    boundary("holdfast_executor_register_hook", || {
        let executor = handles::executor(executor as usize)?;
        let (Some(run), Some(complete)) = (run, complete) else {
            return Err(Failure::new(
                holdfast_status::HOLDFAST_NULL_ARGUMENT,
                "a hook needs both a run and a complete function",
            ));
        };
        executor.executor.register_hook(
            Hook {
                run,
                complete,
                userdata,
            },
            outer,
        );
        Ok(())
    })
}

/// Sets (or with a NULL `function`, clears) the function told about work
/// that fails inside `holdfast_executor_wrap`. Rules for `userdata` as for
/// callbacks. Thread-safe.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_set_error_reporter(
    executor: *const holdfast_executor,
    function: holdfast_error_reporter_fn,
    userdata: *mut c_void,
) -> holdfast_status {
    boundary("holdfast_executor_set_error_reporter", || {
        let executor = handles::executor(executor as usize)?;
        *executor.reporter.lock() = function.map(|function| Reporter { function, userdata });
        Ok(())
    })
}

/// Writes whether `context` is inside an execution of this executor.
/// Errors: NULL/invalid handle, NULL `out`. Thread-safe.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_is_active(
    executor: *const holdfast_executor,
    context: u64,
    out: *mut bool,
) -> holdfast_status {
    boundary("holdfast_executor_is_active", || {
        let executor = handles::executor(executor as usize)?;
        if out.is_null() {
            return Err(Failure::new(
                holdfast_status::HOLDFAST_NULL_ARGUMENT,
                "out is NULL",
            ));
        }
        // SAFETY: checked non-NULL.
        unsafe { *out = executor.executor.is_active(context) };
        Ok(())
    })
}

/// Starts an execution on `context` (Rails' `run!`) and writes its handle to
/// `*out`. When `context` is already inside an execution the handle is a
/// null execution whose complete does nothing, unless `reset`, which first
/// completes the lost execution. If a run callback fails, the complete
/// callbacks run, nothing is written and `HOLDFAST_CALLBACK_FAILED` is
/// returned. The handle must be completed once and freed once.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_run(
    executor: *const holdfast_executor,
    context: u64,
    reset: bool,
    out: *mut *mut holdfast_execution,
) -> holdfast_status {
    boundary("holdfast_executor_run", || {
        let executor = handles::executor(executor as usize)?;
        out_ptr(out, "out")?;
        let mut invoker = invoker(&executor, context);
        let execution = executor
            .executor
            .run(context, reset, || Ok(()), &mut invoker)?;
        let handle = handles::insert(Handle::Execution(Arc::new(CExecution {
            executor,
            execution,
        })));
        // SAFETY: checked non-NULL.
        unsafe { *out = handle as *mut holdfast_execution };
        Ok(())
    })
}

/// Runs the complete callbacks of an execution from `holdfast_executor_run`
/// and ends its context's active state (also when a callback fails).
/// Completing twice gives `HOLDFAST_ALREADY_COMPLETED`. Does not free the
/// handle. Call it on the thread that owns the execution's context.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_execution_complete(
    execution: *const holdfast_execution,
) -> holdfast_status {
    boundary("holdfast_execution_complete", || {
        let handle = handles::execution(execution as usize)?;
        let Some(execution) = &handle.execution else {
            return Ok(());
        };
        let mut invoker = invoker(&handle.executor, execution.context());
        handle.executor.executor.complete(execution, &mut invoker)
    })
}

/// Releases an execution handle; NULL is a no-op. Freeing an execution that
/// was never completed leaves its context active (a lost execution, which
/// `holdfast_executor_run` with `reset` cleans up), as in Rails.
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_execution_free(
    execution: *mut holdfast_execution,
) -> holdfast_status {
    boundary("holdfast_execution_free", || {
        handles::remove(execution as usize, "holdfast_execution")
    })
}

/// Runs `work(work_userdata)` inside an execution of `context` (Rails'
/// `wrap`): run callbacks, the work, complete callbacks. If `context` is
/// already inside an execution of this executor, only the work runs. If the
/// work returns non-zero, the error reporter (if set) is told once with
/// `source` (NULL means "application.active_support"), the complete
/// callbacks still run, and `HOLDFAST_WORK_FAILED` is returned (unless a
/// complete callback fails too: its error is returned instead).
///
/// # Safety
/// Pointer arguments must be NULL or valid for the reads and writes described
/// above; handles are checked, never trusted. Function pointers and their
/// userdata must follow the rules above for as long as they are registered.
#[no_mangle]
pub unsafe extern "C" fn holdfast_executor_wrap(
    executor: *const holdfast_executor,
    context: u64,
    source: *const c_char,
    work: holdfast_work_fn,
    work_userdata: *mut c_void,
) -> holdfast_status {
    boundary("holdfast_executor_wrap", || {
        let executor = handles::executor(executor as usize)?;
        let Some(work) = work else {
            return Err(Failure::new(
                holdfast_status::HOLDFAST_NULL_ARGUMENT,
                "work function is NULL",
            ));
        };
        let source = if source.is_null() {
            c"application.active_support"
        } else {
            // SAFETY: the caller passes a NUL-terminated string valid for the call.
            unsafe { CStr::from_ptr(source) }
        };
        let mut invoker = CInvoker {
            source,
            ..invoker(&executor, context)
        };
        executor.executor.wrap(
            context,
            || Ok(()),
            &mut invoker,
            || {
                // SAFETY: the caller's function and its userdata.
                let rc = unsafe { work(work_userdata) };
                if rc == 0 {
                    Ok(())
                } else {
                    Err(Failure {
                        code: rc,
                        ..Failure::new(
                            holdfast_status::HOLDFAST_WORK_FAILED,
                            format!("work returned {rc} on context {context}"),
                        )
                    })
                }
            },
        )
    })
}
