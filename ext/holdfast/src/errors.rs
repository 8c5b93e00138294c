//! Exception classes are defined in Ruby (`lib/holdfast/errors.rb`) and
//! looked up when an error is raised, so their messages and hierarchy live
//! in one place.

use magnus::{
    prelude::*, value::ReprValue, Error, ExceptionClass, RClass, RModule, Ruby, Symbol, Value,
};

fn holdfast_class(ruby: &Ruby, name: &str) -> Option<ExceptionClass> {
    let holdfast: RModule = ruby.class_object().const_get("Holdfast").ok()?;
    holdfast.const_get(name).ok()
}

/// An error of class `Holdfast::<name>` (RuntimeError if it is not defined).
pub(crate) fn holdfast(ruby: &Ruby, name: &str, message: String) -> Error {
    match holdfast_class(ruby, name) {
        Some(class) => Error::new(class, message),
        None => Error::new(ruby.exception_runtime_error(), message),
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

/// `throw :abort` with no matching `catch` on the stack.
pub(crate) fn is_abort_throw(ruby: &Ruby, error: &Error) -> bool {
    let Some(exception) = error.value() else {
        return false;
    };
    let Ok(uncaught) = ruby
        .class_object()
        .const_get::<_, RClass>("UncaughtThrowError")
    else {
        return false;
    };
    if !exception.is_kind_of(uncaught) {
        return false;
    }
    let tag: Result<Value, _> = exception.funcall("tag", ());
    tag.ok()
        .and_then(Symbol::from_value)
        .is_some_and(|s| s.name().is_ok_and(|n| n == "abort"))
}
