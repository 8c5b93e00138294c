//! Exception classes are defined in Ruby (`lib/holdfast/errors.rb`) and
//! looked up when an error is raised, so their messages and hierarchy live
//! in one place.
//!
//! Looking a class up is a call back into Ruby, and Ruby runs any pending
//! interrupt (`Thread#kill`, `Thread#raise`, `Timeout`, a signal handler) at
//! such a call. The rule for every call the extension makes back into Ruby
//! for its own purposes (a lookup, a thread's name, a logger): its error is
//! returned to be raised, never dropped — so an interrupt that arrives while
//! an error is being built wins over that error, and is not lost.

use magnus::{
    prelude::*, value::ReprValue, Error, ExceptionClass, RClass, RModule, Ruby, Symbol, Value,
};

/// `Holdfast::<path>`, through `Module#const_get` (which follows `A::B`
/// paths and triggers autoloads).
pub(crate) fn holdfast_const<T: magnus::TryConvert>(ruby: &Ruby, path: &str) -> Result<T, Error> {
    let holdfast: RModule = ruby.class_object().const_get("Holdfast")?;
    holdfast.funcall("const_get", (path,))
}

/// An error of class `Holdfast::<path>` with `message`; or, when the lookup
/// itself raised (above all, a pending interrupt), that error.
pub(crate) fn holdfast(ruby: &Ruby, path: &str, message: String) -> Error {
    match holdfast_const::<ExceptionClass>(ruby, path) {
        Ok(class) => Error::new(class, message),
        Err(error) => error,
    }
}

pub(crate) fn already_completed(ruby: &Ruby, class: RClass) -> Error {
    let message = format!(
        "complete! was called on a {} execution that is not running (already completed, \
         or completed by run!(reset: true)); call complete! exactly once for each run!, \
         or use wrap, which does both",
        class.inspect()
    );
    holdfast(ruby, "AlreadyCompletedError", message)
}

/// `throw :abort` with no matching `catch` on the stack. An error from the
/// check itself (a pending interrupt) is returned.
pub(crate) fn is_abort_throw(ruby: &Ruby, error: &Error) -> Result<bool, Error> {
    let Some(exception) = error.value() else {
        return Ok(false);
    };
    let uncaught: RClass = ruby.class_object().const_get("UncaughtThrowError")?;
    if !exception.is_kind_of(uncaught) {
        return Ok(false);
    }
    let tag: Value = exception.funcall("tag", ())?;
    Ok(Symbol::from_value(tag).is_some_and(|s| s.name().is_ok_and(|n| n == "abort")))
}
