//! `wrap` and `run!` for executor classes with their own `run!` or
//! `complete!` (ActiveSupport::Reloader checks for changes in `run!` and
//! takes or releases the unload lock in `#run!`/`#complete!`). Those Ruby
//! methods must run, so this path calls them, in the order Rails'
//! ExecutionWrapper does; callbacks still run in the core through the
//! native `#run!` the overrides reach with `super`.

use magnus::{prelude::*, Error, Value};

use super::methods::Operation;
use super::RbError;
use crate::ids;

/// Rails' `wrap(source:)`: `return yield if active?`, then `run!`, the work
/// (its error reported once), and `complete!` in an ensure.
pub(super) fn wrap(op: &Operation, source: Option<Value>) -> Result<Value, Error> {
    let ruby = op.ruby;
    if op.core.executor.is_active(op.context) {
        return ruby.yield_value(());
    }
    let instance: Value = op.class.funcall(ids::run_bang(), ())?;
    let result = ruby.yield_value::<_, Value>(()).map_err(|error| {
        let error = RbError::Ruby(error);
        match op.invoker(source).report_to_error_reporter(&error) {
            Ok(()) => error,
            Err(reporter_failed) => RbError::Ruby(reporter_failed),
        }
    });
    let _: Value = instance.funcall(ids::complete_bang(), ())?;
    op.finish(result)
}

/// Rails' class-level `run!(reset:)`: a new instance whose `#run!` runs, and
/// whose `#complete!` runs at once when `#run!` fails. Nil (Ruby returns
/// `Null`) when this context is already inside an execution.
pub(super) fn run(op: &Operation, reset: bool) -> Result<Value, Error> {
    let ruby = op.ruby;
    let active = op.core.executor.active_execution(op.context);
    match active {
        Some(lost) if reset => {
            let lost: Value = lost.payload().instance(ruby)?;
            let _: Value = lost.funcall(ids::complete_bang(), ())?;
        }
        Some(_) => return Ok(ruby.qnil().as_value()),
        None => {}
    }
    let instance: Value = op.class.new_instance(())?;
    if let Err(error) = instance.funcall::<_, _, Value>(ids::run_bang(), ()) {
        let _: Value = instance.funcall(ids::complete_bang(), ())?;
        return Err(error);
    }
    Ok(instance)
}
