//! The `holdfast` Ruby extension: thin adapters from Ruby to the core.
//! Public signatures, keywords and block forms live in `lib/holdfast/`.

mod callable;
mod context;
mod errors;
mod executor;
mod ids;
mod json;
mod keywords;
mod nogvl;
mod purposes;
mod share_lock;
mod store;
mod store_recovery;

use magnus::{function, prelude::*, Error, Ruby, Value};

#[magnus::init(name = "holdfast")]
fn init(ruby: &Ruby) -> Result<(), Error> {
    let holdfast = ruby.define_module("Holdfast")?;
    let native = holdfast.define_module("Native")?;
    executor::init(ruby, holdfast, native)?;
    share_lock::init(ruby, holdfast, native)?;
    store::init(ruby, holdfast)?;

    let state = holdfast.define_module("IsolatedExecutionState")?;
    state.define_singleton_method("isolation_level", function!(context::isolation_level, 0))?;
    state.define_singleton_method(
        "isolation_level=",
        function!(
            |ruby: &Ruby, level: Value| context::set_isolation_level(ruby, level),
            1
        ),
    )?;
    Ok(())
}
