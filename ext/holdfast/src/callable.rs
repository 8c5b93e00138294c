//! Ruby callbacks as ActiveSupport::Callbacks calls them: blocks run with the
//! execution instance as `self`, method names are sent to it, and objects
//! get `before(instance)` / `after(instance)`. `if:` / `unless:` conditions
//! are callables of the same kinds.

use magnus::{
    block::Proc, gc::Marker, value::Opaque, value::ReprValue, Error, Ruby, Symbol, TryConvert,
    Value,
};

use holdfast::Position;

use crate::ids;

pub(crate) enum Callable {
    /// A block run with `instance_exec` and no arguments.
    Exec(Opaque<Proc>),
    /// A block run with `instance_exec(instance)`.
    ExecWithTarget(Opaque<Proc>),
    /// A method name sent to the instance (private methods included, as `send`).
    Send(Opaque<Symbol>),
    /// An object whose `before` or `after` method gets the instance.
    Object(Opaque<Value>),
}

/// Kind codes shared with `lib/holdfast/callbacks.rb`, which classifies
/// what the user registered.
const EXEC: i64 = 0;
const EXEC_WITH_TARGET: i64 = 1;
const SEND: i64 = 2;
const OBJECT: i64 = 3;

impl Callable {
    pub(crate) fn new(ruby: &Ruby, kind: i64, value: Value) -> Result<Self, Error> {
        Ok(match kind {
            EXEC => Callable::Exec(Proc::try_convert(value)?.into()),
            EXEC_WITH_TARGET => Callable::ExecWithTarget(Proc::try_convert(value)?.into()),
            SEND => Callable::Send(Symbol::try_convert(value)?.into()),
            OBJECT => Callable::Object(value.into()),
            _ => {
                return Err(Error::new(
                    ruby.exception_arg_error(),
                    format!(
                        "unknown callback kind {kind} (internal error in holdfast/callbacks.rb)"
                    ),
                ))
            }
        })
    }

    pub(crate) fn call(
        &self,
        ruby: &Ruby,
        target: Value,
        position: Position,
    ) -> Result<Value, Error> {
        match self {
            Callable::Exec(block) => {
                target.funcall_with_block(ids::instance_exec(), (), ruby.get_inner(*block))
            }
            Callable::ExecWithTarget(block) => {
                target.funcall_with_block(ids::instance_exec(), (target,), ruby.get_inner(*block))
            }
            Callable::Send(name) => target.funcall(ruby.get_inner(*name), ()),
            Callable::Object(object) => {
                let method = match position {
                    Position::Before => ids::before(),
                    Position::After => ids::after(),
                };
                ruby.get_inner(*object).funcall(method, (target,))
            }
        }
    }

    pub(crate) fn mark(&self, marker: &Marker) {
        match self {
            Callable::Exec(p) | Callable::ExecWithTarget(p) => marker.mark(*p),
            Callable::Send(s) => marker.mark(*s),
            Callable::Object(o) => marker.mark(*o),
        }
    }

    pub(crate) fn method_name(&self, ruby: &Ruby) -> Option<Symbol> {
        match self {
            Callable::Send(s) => Some(ruby.get_inner(*s)),
            _ => None,
        }
    }
}

/// One `to_run` / `to_complete` registration.
pub(crate) struct Callback {
    pub(crate) callable: Callable,
    /// `if:` conditions (all must be truthy) and `unless:` conditions (all
    /// must be falsy), in registration order; `true` marks an `unless`.
    pub(crate) conditions: Vec<(Callable, bool)>,
}

impl Callback {
    pub(crate) fn applies(
        &self,
        ruby: &Ruby,
        target: Value,
        position: Position,
    ) -> Result<bool, Error> {
        for (condition, negate) in &self.conditions {
            let truthy = condition.call(ruby, target, position)?.to_bool();
            if truthy == *negate {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub(crate) fn mark(&self, marker: &Marker) {
        self.callable.mark(marker);
        for (condition, _) in &self.conditions {
            condition.mark(marker);
        }
    }
}
