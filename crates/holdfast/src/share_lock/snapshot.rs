//! A lock's state as JSON: the one shape the C ABI and the Ruby gem both
//! give out (C as text, Ruby as plain Hashes).
//!
//! An array with one object per context that holds, waits for or yielded
//! the lock:
//!
//! | key | value |
//! |-----|-------|
//! | `context` | the context id (a number; in Ruby, the Thread's or Fiber's id) |
//! | `name` | a label for it (Ruby: the thread's name), or `null` |
//! | `sharing` | shares it holds |
//! | `exclusive` | whether it holds the lock exclusively |
//! | `exclusive_purpose` | the purpose it took the exclusive lock with |
//! | `waiting` | whether it yielded its shares to wait |
//! | `purpose` | the purpose it yielded for |
//! | `compatible` | the purposes it yielded to (an array), or `null` |
//! | `sleeper` | what it sleeps in (`"start_exclusive"`, `"start_sharing"`, ...), or `null` |
//! | `waited_seconds` | how long it has been sleeping, or `null` |
//!
//! A purpose is its name (`"load"`), `false`, or `null` (Ruby's nil).

use serde_json::{json, Value};

use super::{OwnerState, Purpose};
use crate::ContextId;

pub fn snapshot_json(
    states: &[OwnerState],
    name_of: &dyn Fn(ContextId) -> Option<String>,
) -> Value {
    Value::Array(
        states
            .iter()
            .map(|state| {
                json!({
                    "context": state.owner,
                    "name": name_of(state.owner),
                    "sharing": state.sharing,
                    "exclusive": state.exclusive,
                    "exclusive_purpose": purpose(state.exclusive_purpose),
                    "waiting": state.waiting,
                    "purpose": purpose(state.purpose),
                    "compatible": state.compatible.as_ref().map(|list| {
                        list.iter().map(|p| purpose(Some(*p))).collect::<Vec<_>>()
                    }),
                    "sleeper": state.sleeper,
                    "waited_seconds": state.sleeping_for.map(|d| d.as_secs_f64()),
                })
            })
            .collect(),
    )
}

fn purpose(purpose: Option<Purpose>) -> Value {
    match purpose {
        None | Some(Purpose::Nil) => Value::Null,
        Some(Purpose::False) => Value::Bool(false),
        Some(named) => Value::from(named.name().as_deref().unwrap_or("").to_owned()),
    }
}
