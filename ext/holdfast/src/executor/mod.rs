//! `Holdfast::ExecutionWrapper`'s native half: the class-level `wrap`,
//! `active?`, `perform` and run, and `#complete!`, over the core executor.
//!
//! Each executor class keeps a `Holdfast::Native::ExecutorCore` in
//! `@__holdfast_core`; subclasses get a child core (see `inherited` in
//! `lib/holdfast/execution_wrapper.rb`), so callbacks added to a parent reach
//! existing subclasses, as in ActiveSupport.

mod methods;
mod overridden;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use magnus::{
    gc::Marker, prelude::*, rb_sys::AsRawValue, typed_data::Obj, value::Opaque, DataTypeFunctions,
    Error, RArray, RClass, Ruby, Symbol, TypedData, Value,
};

use holdfast::{Adapter, CallbackOptions, Executor, Flow, Invoker, Misuse, Phase, Position};

use crate::callable::{Callable, Callback};
use std::sync::Arc;

use crate::{context, errors, ids, share_lock};

pub(crate) struct Rb;

/// A registered hook: a Ruby object called with `run` / `complete`, or a
/// lock's native sharing hook, which the executor runs without Ruby calls.
pub(crate) struct Hook {
    object: Opaque<Value>,
    sharing: Option<Arc<holdfast::ShareLock>>,
}

impl Adapter for Rb {
    type Callback = Callback;
    type Hook = Hook;
    type State = Opaque<Value>;
    type Payload = Payload;

    fn duplicates(existing: &Callback, new: &Callback) -> bool {
        // ActiveSupport replaces a method-name callback registered again.
        let Ok(ruby) = Ruby::get() else { return false };
        match (
            existing.callable.method_name(&ruby),
            new.callable.method_name(&ruby),
        ) {
            (Some(a), Some(b)) => a.as_raw() == b.as_raw(),
            _ => false,
        }
    }
}

/// What one execution holds on the Ruby side. The instance that callbacks
/// run against is created on first use, so an executor with no callbacks
/// never allocates one inside `wrap`.
pub(crate) struct Payload {
    class: Opaque<RClass>,
    context: Opaque<Value>,
    instance: OnceLock<Opaque<Value>>,
}

impl Payload {
    fn new(class: RClass, context: Value) -> Self {
        Payload {
            class: class.into(),
            context: context.into(),
            instance: OnceLock::new(),
        }
    }

    /// For an instance Ruby already made (a class with its own `run!`).
    fn with_instance(class: RClass, context: Value, instance: Value) -> Self {
        let payload = Payload::new(class, context);
        let _ = payload.instance.set(instance.into());
        payload
    }

    fn instance(&self, ruby: &Ruby) -> Result<Value, Error> {
        if let Some(instance) = self.instance.get() {
            return Ok(ruby.get_inner(*instance));
        }
        let created: Value = ruby.get_inner(self.class).new_instance(())?;
        // Executions are used by one thread at a time; should two ever race,
        // the first instance wins and both callbacks see it.
        Ok(ruby.get_inner(*self.instance.get_or_init(|| created.into())))
    }

    fn is(&self, instance: Value) -> bool {
        // Identity without calling Ruby: `Opaque` hides the value, so compare
        // through a raw copy of the stored handle.
        self.instance
            .get()
            .is_some_and(|mine| opaque_raw(mine) == instance.as_raw())
    }

    fn mark(&self, marker: &Marker) {
        marker.mark(self.class);
        marker.mark(self.context);
        if let Some(instance) = self.instance.get() {
            marker.mark(*instance);
        }
    }
}

fn opaque_raw(value: &Opaque<Value>) -> rb_sys::VALUE {
    // Only called on Ruby threads (from methods Ruby invoked).
    match Ruby::get() {
        Ok(ruby) => ruby.get_inner(*value).as_raw(),
        Err(_) => 0,
    }
}

/// An error on its way back to Ruby.
pub(crate) enum RbError {
    Ruby(Error),
    Misuse(Misuse),
}

impl From<Misuse> for RbError {
    fn from(misuse: Misuse) -> Self {
        RbError::Misuse(misuse)
    }
}

impl From<Error> for RbError {
    fn from(error: Error) -> Self {
        RbError::Ruby(error)
    }
}

impl RbError {
    pub(crate) fn into_ruby(self, ruby: &Ruby, class: RClass) -> Error {
        match self {
            RbError::Ruby(error) => error,
            RbError::Misuse(Misuse::AlreadyCompleted { .. }) => {
                errors::already_completed(ruby, class)
            }
        }
    }
}

pub(crate) struct RbInvoker<'r> {
    ruby: &'r Ruby,
    class: RClass,
    /// `wrap(source:)`; `None` means Rails' default.
    source: Option<Value>,
}

impl Invoker<Rb> for RbInvoker<'_> {
    type Error = RbError;

    fn call(
        &mut self,
        payload: &Payload,
        callback: &Callback,
        position: Position,
    ) -> Result<Flow, RbError> {
        let ruby = self.ruby;
        let target = payload.instance(ruby)?;
        if !callback.conditions.is_empty() && !callback.applies(ruby, target, position)? {
            return Ok(Flow::Continue);
        }
        match callback.callable.call(ruby, target, position) {
            Ok(_) => Ok(Flow::Continue),
            // ActiveSupport's terminator: `throw :abort` in a before callback
            // halts the chain. With no `catch` above it, Ruby raises it as
            // UncaughtThrowError at the throw, which is what arrives here.
            Err(error) if position == Position::Before => {
                match errors::is_abort_throw(ruby, &error) {
                    Ok(true) => Ok(Flow::Halt),
                    Ok(false) => Err(error.into()),
                    Err(interrupted) => Err(interrupted.into()),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    fn run_hook(&mut self, _: &Payload, hook: &Hook) -> Result<Opaque<Value>, RbError> {
        let ruby = self.ruby;
        if let Some(lock) = &hook.sharing {
            let me = context::current(ruby).1;
            share_lock::acquire(ruby, lock, None, lock.detects_deadlocks(), |wait| {
                lock.start_sharing(me, wait)
            })?;
            return Ok(ruby.qnil().as_value().into());
        }
        let state: Value = ruby.get_inner(hook.object).funcall(ids::run(), ())?;
        Ok(state.into())
    }

    fn complete_hook(
        &mut self,
        _: &Payload,
        hook: &Hook,
        state: Opaque<Value>,
    ) -> Result<(), RbError> {
        let ruby = self.ruby;
        if let Some(lock) = &hook.sharing {
            lock.stop_sharing(context::current(ruby).1);
            return Ok(());
        }
        let state = ruby.get_inner(state);
        let _: Value = ruby
            .get_inner(hook.object)
            .funcall(ids::complete(), (state,))?;
        Ok(())
    }

    fn report(&mut self, error: RbError) -> RbError {
        match self.report_to_error_reporter(&error) {
            Ok(()) => error,
            Err(reporter_failed) => reporter_failed.into(),
        }
    }
}

impl RbInvoker<'_> {
    /// Rails 8.1's `rescue Exception => error; error_reporter&.report(error,
    /// handled: false, source:)`, through the class's
    /// `__holdfast_report_error(error, source)` (lib/holdfast/executor_methods.rb),
    /// which knows each Active Support version's reporter. A `Thread#kill` or
    /// `throw` is not an exception and is not reported.
    pub(crate) fn report_to_error_reporter(&self, error: &RbError) -> Result<(), Error> {
        let RbError::Ruby(error) = error else {
            return Ok(());
        };
        let Some(exception) = error.value() else {
            return Ok(());
        };
        let source = self.source.unwrap_or_else(|| self.ruby.qnil().as_value());
        let _: Value = self
            .class
            .funcall(ids::report_error(), (exception, source))?;
        Ok(())
    }
}

#[derive(TypedData)]
#[magnus(class = "Holdfast::Native::ExecutorCore", free_immediately, mark)]
pub(crate) struct ExecutorCore {
    executor: Executor<Rb>,
    /// The class (or an ancestor below Holdfast's methods) defines its own
    /// `run!` or `complete!`, as ActiveSupport::Reloader does: `wrap` and
    /// `run!` must then go through those Ruby methods. Kept current from Ruby
    /// (`method_added`), so the common case stays a single atomic load.
    overridden: AtomicBool,
}

impl DataTypeFunctions for ExecutorCore {
    fn mark(&self, marker: &Marker) {
        self.executor.for_each_registered(
            |callback| callback.mark(marker),
            |hook| marker.mark(hook.object),
        );
        self.executor.for_each_active(|execution| {
            execution.payload().mark(marker);
            execution.for_each_hook_state(|state| marker.mark(*state));
        });
    }
}

impl ExecutorCore {
    fn new() -> Self {
        ExecutorCore {
            executor: Executor::new(),
            overridden: AtomicBool::new(false),
        }
    }

    fn subclass(&self) -> Self {
        ExecutorCore {
            executor: self.executor.subclass(),
            overridden: AtomicBool::new(self.overridden()),
        }
    }

    /// Positional arguments from `lib/holdfast/callbacks.rb`, which owns the
    /// public signature and has already validated the options: `callable`
    /// and each condition are `[kind, value]` (conditions add a negate flag).
    fn add_callback(
        ruby: &Ruby,
        rb_self: &Self,
        phase: Symbol,
        position: Symbol,
        prepend: bool,
        callable: (i64, Value),
        conditions: RArray,
    ) -> Result<(), Error> {
        let phase = parse_phase(ruby, phase)?;
        let position = match position.name()?.as_ref() {
            "before" => Position::Before,
            "after" => Position::After,
            other => {
                return Err(Error::new(
                    ruby.exception_arg_error(),
                    format!("unknown callback kind :{other}"),
                ))
            }
        };
        let mut parsed = Vec::with_capacity(conditions.len());
        for condition in conditions.into_iter() {
            let (kind, value, negate): (i64, Value, bool) =
                magnus::TryConvert::try_convert(condition)?;
            parsed.push((Callable::new(ruby, kind, value)?, negate));
        }
        let callback = Callback {
            callable: Callable::new(ruby, callable.0, callable.1)?,
            conditions: parsed,
        };
        rb_self
            .executor
            .add_callback(phase, callback, CallbackOptions { position, prepend });
        Ok(())
    }

    fn set_overridden(&self, overridden: bool) {
        self.overridden.store(overridden, Ordering::Release);
    }

    pub(crate) fn overridden(&self) -> bool {
        self.overridden.load(Ordering::Acquire)
    }

    /// One chain (`:run` or `:complete`) against `instance`, touching no
    /// active state: how a Reloader runs its prepare and class-unload
    /// chains, each an executor core of its own.
    fn run_chain_on(
        ruby: &Ruby,
        rb_self: &Self,
        instance: Value,
        phase: Symbol,
    ) -> Result<(), Error> {
        let class = instance.class();
        let phase = parse_phase(ruby, phase)?;
        let (context_object, context) = context::current(ruby);
        let mut invoker = RbInvoker {
            ruby,
            class,
            source: None,
        };
        let payload = Payload::with_instance(class, context_object, instance);
        rb_self
            .executor
            .run_chain(context, phase, payload, &mut invoker)
            .map_err(|e| e.into_ruby(ruby, class))
    }

    fn register_hook(&self, hook: Value, outer: bool) {
        let sharing = Obj::<share_lock::SharingHook>::try_convert(hook)
            .ok()
            .map(|native| Arc::clone(&native.lock));
        let hook = Hook {
            object: hook.into(),
            sharing,
        };
        self.executor.register_hook(hook, outer);
    }
}

fn parse_phase(ruby: &Ruby, phase: Symbol) -> Result<Phase, Error> {
    match phase.name()?.as_ref() {
        "run" => Ok(Phase::Run),
        "complete" => Ok(Phase::Complete),
        other => Err(Error::new(
            ruby.exception_arg_error(),
            format!("unknown callback phase :{other}"),
        )),
    }
}

pub(crate) fn core_of(ruby: &Ruby, class: RClass) -> Result<Obj<ExecutorCore>, Error> {
    let core: Value = class.ivar_get(ids::core_ivar())?;
    Obj::<ExecutorCore>::try_convert(core).map_err(|_| {
        Error::new(
            ruby.exception_type_error(),
            format!(
                "{} has no executor state: a class that overrides `inherited` must call `super`",
                class.inspect()
            ),
        )
    })
}

pub(crate) fn init(
    ruby: &Ruby,
    holdfast: magnus::RModule,
    native: magnus::RModule,
) -> Result<(), Error> {
    let core = native.define_class("ExecutorCore", ruby.class_object())?;
    core.define_singleton_method("new", magnus::function!(ExecutorCore::new, 0))?;
    core.define_method("subclass", magnus::method!(ExecutorCore::subclass, 0))?;
    core.define_method(
        "add_callback",
        magnus::method!(ExecutorCore::add_callback, 5),
    )?;
    core.define_method(
        "register_hook",
        magnus::method!(ExecutorCore::register_hook, 2),
    )?;

    core.define_method(
        "overridden=",
        magnus::method!(ExecutorCore::set_overridden, 1),
    )?;
    core.define_method("overridden?", magnus::method!(ExecutorCore::overridden, 0))?;
    core.define_method(
        "run_chain_on",
        magnus::method!(ExecutorCore::run_chain_on, 2),
    )?;
    methods::init(holdfast)
}
