//! Records as JSON, for callers that take data as text (the C API's list
//! and get). Cursors are opaque bytes: `"cursor"` holds them as a string
//! when they are UTF-8 (the Ruby layer's JSON cursors are), and
//! `"cursor_base64"` always holds them exactly.

use serde_json::{json, Value};

use super::{Listed, Record, StoreError};

pub fn record_json(record: &Record) -> Value {
    let current = record.progress.current.as_ref().map(|current| {
        let cursor = current.cursor.as_deref();
        json!({
            "step": current.step,
            "cursor": cursor.and_then(|c| std::str::from_utf8(c).ok()),
            "cursor_base64": cursor.map(base64),
        })
    });
    json!({
        "job_id": record.job_id,
        "job_class": record.job_class,
        "completed": record.progress.completed,
        "current": current,
        "resumptions": record.resumptions,
        "token": record.token,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "completed_at": record.completed_at,
        "payload": record.payload,
        "lease": record.lease.as_ref().map(|lease| json!({
            "owner": lease.owner,
            "expires_at": lease.expires_at,
        })),
        "recoveries": record.recoveries,
        "quarantine": record.quarantine.as_ref().map(|q| json!({
            "at": q.at,
            "reason": q.reason,
        })),
    })
}

/// A listing: each record, or for a damaged one `{"job_id", "damaged"}`
/// (what is wrong with it).
pub fn records_json(records: &[Listed]) -> Value {
    Value::Array(
        records
            .iter()
            .map(|listed| match listed {
                Ok(record) => record_json(record),
                Err(error) => damaged_json(error),
            })
            .collect(),
    )
}

/// A record that could not be read, as a listing shows it.
pub fn damaged_json(error: &StoreError) -> Value {
    let job_id = match error {
        StoreError::Corrupt { job_id, .. } => job_id.clone(),
        _ => None,
    };
    json!({ "job_id": job_id, "damaged": error.to_string() })
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc_4648() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
    }
}
