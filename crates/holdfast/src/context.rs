//! Execution contexts and per-context maps. Context ids are often aligned
//! addresses (Ruby objects) or small integers (thread ids), so the hash
//! mixes all bits; SipHash would cost more than the rest of an empty `wrap`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The caller's name for an execution context: a Ruby Thread or Fiber, a C
/// thread, anything that runs one piece of work at a time.
pub type ContextId = u64;

#[derive(Default)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // splitmix64 finaliser: every input bit reaches every output bit.
        let mut z = (self.0 ^ n).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }
}

pub(crate) struct ContextMap<V> {
    map: HashMap<ContextId, V, BuildHasherDefault<MixHasher>>,
}

impl<V> Default for ContextMap<V> {
    fn default() -> Self {
        ContextMap {
            map: HashMap::default(),
        }
    }
}

impl<V> ContextMap<V> {
    pub(crate) fn contains(&self, context: ContextId) -> bool {
        self.map.contains_key(&context)
    }

    pub(crate) fn get(&self, context: ContextId) -> Option<&V> {
        self.map.get(&context)
    }

    pub(crate) fn insert(&mut self, context: ContextId, value: V) {
        self.map.insert(context, value);
    }

    pub(crate) fn remove(&mut self, context: ContextId) -> Option<V> {
        self.map.remove(&context)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (ContextId, &V)> {
        self.map.iter().map(|(k, v)| (*k, v))
    }

    pub(crate) fn get_mut(&mut self, context: ContextId) -> Option<&mut V> {
        self.map.get_mut(&context)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = ContextId> + '_ {
        self.map.keys().copied()
    }
}
