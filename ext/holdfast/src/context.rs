//! Which Ruby execution context owns executor state: the current Thread
//! (default) or the current Fiber, like Rails' `IsolatedExecutionState`.

use std::sync::atomic::{AtomicBool, Ordering};

use magnus::{rb_sys::AsRawValue, value::ReprValue, Error, Ruby, Symbol, Value};

use holdfast::ContextId;

static FIBER_ISOLATION: AtomicBool = AtomicBool::new(false);

/// The current context object and its id. The id is the object's address:
/// an executor marks the context object of each of its active executions, so
/// the object cannot move or be freed (and the address cannot be reused)
/// while state is keyed by it.
pub(crate) fn current(ruby: &Ruby) -> (Value, ContextId) {
    let object = if FIBER_ISOLATION.load(Ordering::Relaxed) {
        ruby.fiber_current().as_value()
    } else {
        ruby.thread_current().as_value()
    };
    (object, object.as_raw() as ContextId)
}

pub(crate) fn isolation_level(ruby: &Ruby) -> Symbol {
    ruby.to_symbol(if FIBER_ISOLATION.load(Ordering::Relaxed) {
        "fiber"
    } else {
        "thread"
    })
}

pub(crate) fn set_isolation_level(ruby: &Ruby, level: Value) -> Result<Symbol, Error> {
    let name = Symbol::from_value(level)
        .and_then(|s| s.name().ok().map(|n| n.into_owned()))
        .unwrap_or_default();
    let fiber = match name.as_str() {
        "thread" => false,
        "fiber" => true,
        _ => {
            let shown: String = level.inspect();
            return Err(Error::new(
                ruby.exception_arg_error(),
                format!(
                    "isolation_level must be :thread or :fiber, got {shown}; \
                     set Holdfast::IsolatedExecutionState.isolation_level = :thread (or :fiber) \
                     before any execution starts"
                ),
            ));
        }
    };
    FIBER_ISOLATION.store(fiber, Ordering::Relaxed);
    Ok(isolation_level(ruby))
}
