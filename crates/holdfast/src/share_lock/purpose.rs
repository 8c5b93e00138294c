//! Purposes of exclusive attempts (`:load`, `:unload`, ...). Rails compares
//! them with `==` and `include?`, where `nil` (no purpose) and `false` (a
//! plain share, added by `yield_shares` unless `block_share`) are values of
//! their own; named purposes are interned so comparing them is an integer
//! compare.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Ruby's `nil`: an attempt with no purpose.
    #[default]
    Nil,
    /// Ruby's `false`: stands for plain share requests in compatible lists.
    False,
    Named(Sym),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sym(u32);

struct Interner {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

static INTERNER: LazyLock<RwLock<Interner>> = LazyLock::new(|| {
    RwLock::new(Interner {
        ids: HashMap::new(),
        names: Vec::new(),
    })
});

impl Purpose {
    /// The purpose with this name (the same value for the same name, process-wide).
    pub fn named(name: &str) -> Purpose {
        if let Some(&id) = INTERNER.read().ids.get(name) {
            return Purpose::Named(Sym(id));
        }
        let mut interner = INTERNER.write();
        if let Some(&id) = interner.ids.get(name) {
            return Purpose::Named(Sym(id));
        }
        let id = u32::try_from(interner.names.len()).unwrap_or(u32::MAX);
        let name: Arc<str> = Arc::from(name);
        interner.names.push(Arc::clone(&name));
        interner.ids.insert(name, id);
        Purpose::Named(Sym(id))
    }

    /// The name of a named purpose.
    pub fn name(&self) -> Option<Arc<str>> {
        match self {
            Purpose::Named(Sym(id)) => INTERNER.read().names.get(*id as usize).cloned(),
            _ => None,
        }
    }
}

impl fmt::Display for Purpose {
    /// Ruby's `inspect` of the value: `nil`, `false`, `:load`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Purpose::Nil => f.write_str("nil"),
            Purpose::False => f.write_str("false"),
            Purpose::Named(_) => write!(f, ":{}", self.name().as_deref().unwrap_or("?")),
        }
    }
}

/// Ruby's `inspect` of a compatible list: `[:load, :unload]`.
pub(crate) fn list(purposes: &[Purpose]) -> String {
    let items: Vec<String> = purposes.iter().map(|p| p.to_string()).collect();
    format!("[{}]", items.join(", "))
}
