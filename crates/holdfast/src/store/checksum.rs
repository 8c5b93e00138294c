//! A checksum over each stored record, so corruption of the SQLite file
//! (which has no page checksums) is an error naming the record rather than
//! progress returned altered. The same function seals a row when it is
//! written (registered in SQLite as `holdfast_checksum`) and verifies it
//! when it is read, both over the values SQLite itself holds.

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::Connection;

/// The SQL function's name; it takes the record's columns in
/// [`super::backend::COLUMNS`] order.
pub(crate) const SQL_FUNCTION: &str = "holdfast_checksum";

/// FNV-1a, 64 bits: every single-byte change changes the result (each step
/// is a bijection of the state), and random damage goes unseen with odds of
/// about 2^-64. Not a defence against someone forging rows on purpose: who
/// can write the file can write a matching checksum.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// A value with its type and length, so that moving bytes between
    /// neighbouring fields, or NULL against empty, changes the sum.
    fn value(&mut self, value: ValueRef<'_>) {
        match value {
            ValueRef::Null => self.bytes(&[0]),
            ValueRef::Integer(i) => {
                self.bytes(&[1]);
                self.bytes(&i.to_le_bytes());
            }
            ValueRef::Real(r) => {
                self.bytes(&[2]);
                self.bytes(&r.to_bits().to_le_bytes());
            }
            ValueRef::Text(t) => {
                self.bytes(&[3]);
                self.bytes(&(t.len() as u64).to_le_bytes());
                self.bytes(t);
            }
            ValueRef::Blob(b) => {
                self.bytes(&[4]);
                self.bytes(&(b.len() as u64).to_le_bytes());
                self.bytes(b);
            }
        }
    }
}

/// The checksum of a record's column values, as an SQLite INTEGER.
pub(crate) fn of<'a>(values: impl IntoIterator<Item = ValueRef<'a>>) -> i64 {
    let mut sum = Fnv::new();
    for value in values {
        sum.value(value);
    }
    sum.0 as i64
}

/// The same checksum over plain bytes (a progress fingerprint).
pub(crate) fn of_bytes(bytes: &[u8]) -> i64 {
    let mut sum = Fnv::new();
    sum.bytes(bytes);
    sum.0 as i64
}

/// Makes `holdfast_checksum(...)` available to this connection's SQL.
pub(crate) fn register(connection: &Connection) -> rusqlite::Result<()> {
    connection.create_scalar_function(
        SQL_FUNCTION,
        -1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |context: &mut Context<'_>| Ok(of((0..context.len()).map(|i| context.get_raw(i)))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_single_byte_change_and_field_boundary_changes_the_sum() {
        let base = [
            ValueRef::Text(b"job-1"),
            ValueRef::Blob(b"[42]"),
            ValueRef::Integer(7),
            ValueRef::Null,
        ];
        let sum = of(base);
        let mut cursor = b"[42]".to_vec();
        for i in 0..cursor.len() {
            for bit in 0..8 {
                cursor[i] ^= 1 << bit;
                let changed = of([base[0], ValueRef::Blob(&cursor), base[2], base[3]]);
                assert_ne!(changed, sum, "byte {i} bit {bit}");
                cursor[i] ^= 1 << bit;
            }
        }
        assert_ne!(
            of([ValueRef::Text(b"ab"), ValueRef::Text(b"c")]),
            of([ValueRef::Text(b"a"), ValueRef::Text(b"bc")])
        );
        assert_ne!(of([ValueRef::Null]), of([ValueRef::Text(b"")]));
        assert_ne!(of([ValueRef::Integer(1)]), of([ValueRef::Integer(2)]));
    }
}
