//! Leases, recovery claims, quarantine, discards and prunes on SQLite.
//! Every change runs in an IMMEDIATE transaction (the write lock first), so
//! recoverers in other processes take turns and the second finds the
//! orphan already claimed. Deletions raise the store's token floor.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::backend::{judge_orphan, Judged};
use super::clock::boot_ms;
use super::sqlite::{read_record, select_columns, SqliteBackend};
use super::sqlite_schema::RESEAL;
use super::{Claimed, LeaseGrant, Quarantine, Quarantined, Record, StoreError, Sweep, Swept};

impl SqliteBackend {
    /// Renews leases; with `uncount`, gives recovery claims back (see
    /// `Backend::give_back`).
    pub(super) fn renew_leases(
        &self,
        executions: &[(String, u64)],
        lease: &LeaseGrant,
        uncount: bool,
    ) -> Result<(), StoreError> {
        if executions.is_empty() {
            return Ok(());
        }
        let mut connection = self.writer()?;
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let expires_at = boot_ms().saturating_add(lease.for_ms);
        {
            let mut renew = tx
                .prepare_cached(
                    "UPDATE holdfast_continuations
                     SET lease_expires_at = ?3, recoveries = MAX(recoveries - ?5, 0)
                     WHERE job_id = ?1 AND token = ?2 AND lease_owner = ?4 AND completed_at IS NULL",
                )
                .map_err(|e| self.err(e))?;
            let mut reseal = tx.prepare_cached(RESEAL).map_err(|e| self.err(e))?;
            for (job_id, token) in executions {
                let changed = renew
                    .execute(params![
                        job_id,
                        *token as i64,
                        expires_at,
                        lease.owner,
                        i64::from(uncount)
                    ])
                    .map_err(|e| self.err(e))?;
                if changed == 1 {
                    reseal.execute([job_id]).map_err(|e| self.err(e))?;
                }
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    pub(super) fn release_lease(&self, job_id: &str, token: u64) -> Result<(), StoreError> {
        let mut connection = self.writer()?;
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let changed = tx
            .execute(
                "UPDATE holdfast_continuations SET lease_owner = NULL, lease_expires_at = NULL
                 WHERE job_id = ?1 AND token = ?2 AND lease_owner IS NOT NULL",
                params![job_id, token as i64],
            )
            .map_err(|e| self.err(e))?;
        if changed == 1 {
            tx.execute(RESEAL, [job_id]).map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    pub(super) fn claim(&self, sweep: &Sweep) -> Result<Swept, StoreError> {
        let mut connection = self.writer()?;
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let clock = self.clock();
        let now = boot_ms();
        let mut swept = Swept::default();
        let mut offset = 0i64;
        // Damaged rows are skipped, not counted: read past them until
        // `limit` healthy orphans were judged or none are left.
        while swept.claimed.len() + swept.quarantined.len() < sweep.limit {
            let want = (sweep.limit - swept.claimed.len() - swept.quarantined.len()) as i64;
            let rows: Vec<Result<Record, StoreError>> = {
                let mut statement = tx
                    .prepare_cached(&format!(
                        "SELECT {} FROM holdfast_continuations
                         WHERE completed_at IS NULL AND quarantined_at IS NULL AND lease_expires_at <= ?1
                           AND payload IS NOT NULL
                         ORDER BY lease_expires_at, job_id LIMIT ?2 OFFSET ?3",
                        select_columns()
                    ))
                    .map_err(|e| self.err(e))?;
                let rows = statement
                    .query_map(params![now, want, offset], |row| {
                        read_record(&self.location, clock, row)
                    })
                    .map_err(|e| self.err(e))?;
                rows.collect::<rusqlite::Result<_>>()
                    .map_err(|e| self.err(e))?
            };
            if rows.is_empty() {
                break;
            }
            for row in rows {
                match row {
                    Ok(orphan) => self.judge(&tx, orphan, sweep, &mut swept)?,
                    Err(damaged) => {
                        offset += 1;
                        swept.damaged.push(damaged);
                    }
                }
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(swept)
    }

    fn judge(
        &self,
        tx: &Connection,
        orphan: Record,
        sweep: &Sweep,
        swept: &mut Swept,
    ) -> Result<(), StoreError> {
        match judge_orphan(&orphan, sweep) {
            Judged::Claim { recoveries, mark } => {
                let claimed = self.take(tx, orphan, &sweep.lease, recoveries, Some(mark))?;
                swept.claimed.extend(claimed);
            }
            Judged::Quarantine(quarantine) => {
                self.set_quarantine(tx, &orphan.job_id, orphan.token, &quarantine)?;
                let mut record = orphan;
                record.lease = None;
                record.quarantine = Some(quarantine);
                swept.quarantined.push(Quarantined { record });
            }
        }
        Ok(())
    }

    /// The claim itself: one more token, the recoverer's lease (on the boot
    /// clock), the recovery count and mark; a quarantine lifted.
    fn take(
        &self,
        tx: &Connection,
        orphan: Record,
        lease: &LeaseGrant,
        recoveries: u64,
        mark: Option<i64>,
    ) -> Result<Option<Claimed>, StoreError> {
        let token = orphan.token + 1;
        tx.execute(
            "UPDATE holdfast_continuations SET token = ?3, lease_owner = ?4, lease_expires_at = ?5,
               recoveries = ?6, recovery_mark = ?7, quarantined_at = NULL, quarantine_reason = NULL
             WHERE job_id = ?1 AND token = ?2",
            params![
                orphan.job_id,
                orphan.token as i64,
                token as i64,
                lease.owner,
                boot_ms().saturating_add(lease.for_ms),
                recoveries as i64,
                mark,
            ],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(RESEAL, [&orphan.job_id])
            .map_err(|e| self.err(e))?;
        Ok(Claimed::from_orphan(orphan, token, recoveries))
    }

    fn set_quarantine(
        &self,
        tx: &Connection,
        job_id: &str,
        token: u64,
        quarantine: &Quarantine,
    ) -> Result<bool, StoreError> {
        let changed = tx
            .execute(
                "UPDATE holdfast_continuations SET lease_owner = NULL, lease_expires_at = NULL,
                   quarantined_at = ?3, quarantine_reason = ?4
                 WHERE job_id = ?1 AND token = ?2 AND completed_at IS NULL",
                params![job_id, token as i64, quarantine.at, quarantine.reason],
            )
            .map_err(|e| self.err(e))?;
        if changed == 1 {
            tx.execute(RESEAL, [job_id]).map_err(|e| self.err(e))?;
        }
        Ok(changed == 1)
    }

    pub(super) fn claim_by_id(
        &self,
        job_id: &str,
        lease: &LeaseGrant,
    ) -> Result<Option<Claimed>, StoreError> {
        let mut connection = self.writer()?;
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let Some(mut record) = Self::select_one(&tx, &self.location, self.clock(), job_id)? else {
            return Ok(None);
        };
        if record.is_completed() || record.payload.is_none() {
            return Ok(None);
        }
        if record.lease.is_none() {
            record.lease = Some(super::Lease {
                owner: lease.owner.clone(),
                expires_at: super::now_ms(),
            });
        }
        let claimed = self.take(&tx, record, lease, 0, None)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(claimed)
    }

    pub(super) fn quarantine_record(
        &self,
        job_id: &str,
        token: u64,
        quarantine: &Quarantine,
    ) -> Result<bool, StoreError> {
        let mut connection = self.writer()?;
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let changed = self.set_quarantine(&tx, job_id, token, quarantine)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(changed)
    }

    pub(super) fn discard_keeping_floor(&self, job_id: &str) -> Result<bool, StoreError> {
        self.delete_keeping_floor("job_id = ?1", params![job_id])
            .map(|deleted| deleted == 1)
    }

    pub(super) fn prune_keeping_floor(
        &self,
        completed_before: Option<i64>,
    ) -> Result<u64, StoreError> {
        self.delete_keeping_floor(
            "completed_at IS NOT NULL AND (?1 IS NULL OR completed_at < ?1)",
            params![completed_before],
        )
    }

    /// Deletes the records `condition` selects and, in the same
    /// transaction, raises the token floor to their highest token.
    fn delete_keeping_floor(
        &self,
        condition: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<u64, StoreError> {
        let mut connection = self.writer()?;
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let highest: Option<i64> = tx
            .query_row(
                &format!("SELECT max(token) FROM holdfast_continuations WHERE {condition}"),
                params,
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .flatten();
        if let Some(highest) = highest {
            tx.execute(
                "UPDATE holdfast_meta SET value = max(value, ?1) WHERE key = 'token_floor'",
                [highest],
            )
            .map_err(|e| self.err(e))?;
        }
        let deleted = tx
            .execute(
                &format!("DELETE FROM holdfast_continuations WHERE {condition}"),
                params,
            )
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(deleted as u64)
    }
}
