//! Recovery for Ruby: `Holdfast::Store#__claim_orphans`, `#__claim_one`,
//! `#__handed_off`, `#__hand_back`, `#__quarantine` and `#__discard`. Signatures and docs are in
//! `lib/holdfast/store.rb`; the rules (claims, crash loops, damage) are the
//! core's.

use holdfast::store::{Claimed, StoreError};
use magnus::{prelude::*, Error, RClass, RHash, Ruby};

use crate::store::{damaged_hash, io, record_hash, store_error, time, RbStore};

fn claimed_hash(ruby: &Ruby, orphan: &Claimed) -> Result<RHash, Error> {
    let hash = ruby.hash_new();
    hash.aset("job_id", orphan.job_id.as_str())?;
    hash.aset("job_class", orphan.job_class.as_str())?;
    hash.aset("payload", orphan.payload.as_str())?;
    hash.aset("token", orphan.token)?;
    hash.aset("expired_owner", orphan.expired.owner.as_str())?;
    hash.aset("expired_at", time(ruby, orphan.expired.expires_at)?)?;
    hash.aset("recoveries", orphan.recoveries)?;
    Ok(hash)
}

/// One pass: `"claimed"` (Hashes as `claimed_hash` makes), `"quarantined"`
/// (records), `"damaged"` (`{"job_id", "damaged"}`).
fn claim_orphans(ruby: &Ruby, rb_self: &RbStore, limit: usize) -> Result<RHash, Error> {
    let swept =
        io(ruby, || rb_self.store().claim_orphans(limit))?.map_err(|e| store_error(ruby, e))?;
    let claimed = ruby.ary_new_capa(swept.claimed.len());
    for orphan in &swept.claimed {
        claimed.push(claimed_hash(ruby, orphan)?)?;
    }
    let quarantined = ruby.ary_new_capa(swept.quarantined.len());
    for q in &swept.quarantined {
        quarantined.push(record_hash(ruby, &q.record)?)?;
    }
    let damaged = ruby.ary_new_capa(swept.damaged.len());
    for error in &swept.damaged {
        damaged.push(damaged_hash(ruby, error)?)?;
    }
    let result = ruby.hash_new();
    result.aset("claimed", claimed)?;
    result.aset("quarantined", quarantined)?;
    result.aset("damaged", damaged)?;
    Ok(result)
}

fn claim_one(ruby: &Ruby, rb_self: &RbStore, job_id: String) -> Result<Option<RHash>, Error> {
    let claimed =
        io(ruby, || rb_self.store().claim_one(&job_id))?.map_err(|e| store_error(ruby, e))?;
    claimed
        .map(|orphan| claimed_hash(ruby, &orphan))
        .transpose()
}

fn handed_off(ruby: &Ruby, rb_self: &RbStore, job_id: String, token: u64) -> Result<(), Error> {
    io(ruby, || rb_self.store().handed_off(&job_id, token))?.map_err(|e| store_error(ruby, e))
}

fn hand_back(
    ruby: &Ruby,
    rb_self: &RbStore,
    job_id: String,
    token: u64,
    retry_after_ms: u64,
) -> Result<(), Error> {
    let after = std::time::Duration::from_millis(retry_after_ms);
    let claims = [(job_id, token)];
    io(ruby, || rb_self.store().hand_back(&claims, after))?.map_err(|e| store_error(ruby, e))
}

fn quarantine(
    ruby: &Ruby,
    rb_self: &RbStore,
    job_id: String,
    token: u64,
    reason: String,
) -> Result<bool, Error> {
    io(ruby, || rb_self.store().quarantine(&job_id, token, &reason))?
        .map_err(|e: StoreError| store_error(ruby, e))
}

fn discard(ruby: &Ruby, rb_self: &RbStore, job_id: String) -> Result<bool, Error> {
    io(ruby, || rb_self.store().discard(&job_id))?.map_err(|e| store_error(ruby, e))
}

pub(crate) fn init(store: RClass) -> Result<(), Error> {
    store.define_method("__claim_orphans", magnus::method!(claim_orphans, 1))?;
    store.define_method("__claim_one", magnus::method!(claim_one, 1))?;
    store.define_method("__handed_off", magnus::method!(handed_off, 2))?;
    store.define_method("__hand_back", magnus::method!(hand_back, 3))?;
    store.define_method("__quarantine", magnus::method!(quarantine, 3))?;
    store.define_method("__discard", magnus::method!(discard, 1))?;
    Ok(())
}
