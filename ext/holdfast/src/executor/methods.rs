//! The methods `Holdfast::ExecutorMethods` (class level) and
//! `Holdfast::ExecutionMethods` (instance level) define natively. Executor
//! classes extend/include these modules: Holdfast's own, and ActiveSupport's
//! when `holdfast/active_support` backs them.

use magnus::{prelude::*, typed_data::Obj, Error, RClass, RModule, Ruby, Value};

use holdfast::Execution;

use super::{core_of, overridden, ExecutorCore, Payload, Rb, RbError, RbInvoker};
use crate::{context, errors, keywords};

/// What every class-level operation starts from: the class's core, the
/// current context and an invoker for the class's callbacks.
pub(super) struct Operation<'r> {
    pub(super) ruby: &'r Ruby,
    pub(super) class: RClass,
    pub(super) core: Obj<ExecutorCore>,
    pub(super) context_object: Value,
    pub(super) context: holdfast::ContextId,
}

impl<'r> Operation<'r> {
    fn new(ruby: &'r Ruby, class: RClass) -> Result<Self, Error> {
        let (context_object, context) = context::current(ruby);
        Ok(Operation {
            ruby,
            class,
            core: core_of(ruby, class)?,
            context_object,
            context,
        })
    }

    pub(super) fn invoker(&self, source: Option<Value>) -> RbInvoker<'r> {
        RbInvoker {
            ruby: self.ruby,
            class: self.class,
            source,
        }
    }

    fn payload(&self) -> impl FnOnce() -> Result<Payload, RbError> {
        let (class, context) = (self.class, self.context_object);
        move || Ok(Payload::new(class, context))
    }

    fn yield_block(&self) -> impl FnOnce() -> Result<Value, RbError> + 'r {
        let ruby = self.ruby;
        move || ruby.yield_value::<_, Value>(()).map_err(RbError::Ruby)
    }

    pub(super) fn finish<T>(&self, result: Result<T, RbError>) -> Result<T, Error> {
        result.map_err(|e| e.into_ruby(self.ruby, self.class))
    }
}

/// `wrap(source: "application.active_support") { ... }`
fn wrap(ruby: &Ruby, class: RClass, args: &[Value]) -> Result<Value, Error> {
    let source = wrap_source(ruby, args)?;
    let op = Operation::new(ruby, class)?;
    if op.core.overridden() {
        return overridden::wrap(&op, source);
    }
    let mut invoker = op.invoker(source);
    let result = op
        .core
        .executor
        .wrap(op.context, op.payload(), &mut invoker, op.yield_block());
    op.finish(result)
}

fn wrap_source(ruby: &Ruby, args: &[Value]) -> Result<Option<Value>, Error> {
    let mut source = None;
    keywords::parse(ruby, args, |name, value| {
        Ok(match name {
            "source" => {
                source = Some(value);
                true
            }
            _ => false,
        })
    })?;
    Ok(source)
}

fn is_active(ruby: &Ruby, class: RClass) -> Result<bool, Error> {
    let core = core_of(ruby, class)?;
    Ok(core.executor.is_active(context::current(ruby).1))
}

/// `run!(reset:)`'s native half: the started instance, or nil when this
/// context is already inside an execution (Ruby returns `Null` then).
fn run(ruby: &Ruby, class: RClass, reset: bool) -> Result<Value, Error> {
    let op = Operation::new(ruby, class)?;
    if op.core.overridden() {
        return overridden::run(&op, reset);
    }
    let mut invoker = op.invoker(None);
    let started = op
        .core
        .executor
        .run(op.context, reset, op.payload(), &mut invoker);
    match op.finish(started)? {
        Some(execution) => execution.payload().instance(ruby),
        None => Ok(ruby.qnil().as_value()),
    }
}

/// `perform { ... }`: callbacks around the block, without becoming active.
fn perform(ruby: &Ruby, class: RClass) -> Result<Value, Error> {
    let op = Operation::new(ruby, class)?;
    let mut invoker = op.invoker(None);
    // A perform is never an active execution, so the core's mark function
    // does not see its instance: it lives in this frame instead, where
    // Ruby's conservative scan of the machine stack keeps it (pinned) while
    // the block runs between the run and complete callbacks.
    let instance: Value = class.new_instance(())?;
    let payload = Payload::with_instance(class, op.context_object, instance);
    let result = op.core.executor.perform(
        op.context,
        move || Ok(payload),
        &mut invoker,
        op.yield_block(),
    );
    std::hint::black_box(instance);
    op.finish(result)
}

/// `#complete!`
fn complete(ruby: &Ruby, instance: Value) -> Result<(), Error> {
    let class = instance.class();
    let core = core_of(ruby, class)?;
    let context = context::current(ruby).1;
    let is_this = |e: &Execution<Rb>| e.payload().is(instance);
    let execution = core
        .executor
        .active_execution(context)
        .filter(|e| is_this(e))
        .or_else(|| core.executor.find_active(is_this));
    let Some(execution) = execution else {
        return Err(errors::already_completed(ruby, class));
    };
    let mut invoker = RbInvoker {
        ruby,
        class,
        source: None,
    };
    let result = core.executor.complete(&execution, &mut invoker);
    result.map_err(|e| e.into_ruby(ruby, class))
}

/// `#run!`: makes this instance its context's active execution and runs the
/// run chain. Only reached when a class with its own `run!`/`complete!`
/// goes through Ruby; a failed run stays active for the caller's
/// `complete!`, as in Rails.
fn start(ruby: &Ruby, instance: Value) -> Result<Value, Error> {
    let class = instance.class();
    let op = Operation::new(ruby, class)?;
    let mut invoker = op.invoker(None);
    let payload = Payload::with_instance(class, op.context_object, instance);
    let (_, result) = op.core.executor.start(op.context, payload, &mut invoker);
    op.finish(result)?;
    Ok(ruby.qnil().as_value())
}

pub(super) fn init(holdfast: RModule) -> Result<(), Error> {
    let class_methods = holdfast.define_module("ExecutorMethods")?;
    class_methods.define_method("wrap", magnus::method!(wrap, -1))?;
    class_methods.define_method("active?", magnus::method!(is_active, 0))?;
    class_methods.define_method("perform", magnus::method!(perform, 0))?;
    class_methods.define_method("__holdfast_run", magnus::method!(run, 1))?;

    let instance_methods = holdfast.define_module("ExecutionMethods")?;
    instance_methods.define_method("run!", magnus::method!(start, 0))?;
    instance_methods.define_method("complete!", magnus::method!(complete, 0))?;
    Ok(())
}
