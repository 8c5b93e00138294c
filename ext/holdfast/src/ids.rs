//! Method and variable names looked up once per process.

use magnus::value::{LazyId, OpaqueId};

macro_rules! ids {
    ($($fn_name:ident => $ruby_name:literal),* $(,)?) => {
        $(
            pub(crate) fn $fn_name() -> OpaqueId {
                static ID: LazyId = LazyId::new($ruby_name);
                *ID
            }
        )*
    };
}

ids! {
    instance_exec => "instance_exec",
    before => "before",
    after => "after",
    run => "run",
    complete => "complete",
    report_error => "__holdfast_report_error",
    core_ivar => "@__holdfast_core",
    run_bang => "run!",
    complete_bang => "complete!",
}
