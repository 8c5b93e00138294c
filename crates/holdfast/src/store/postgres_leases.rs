//! Leases, recovery claims, quarantine and deletions on PostgreSQL. Lease
//! expiry is judged on the server's clock ([`NOW_MS`]), never a client's.
//! A claim runs in one transaction with `FOR UPDATE SKIP LOCKED`, so
//! recoverers on many hosts split the orphans between them and never claim
//! one twice. Deletions raise the table's token floor in the same
//! transaction.

use postgres::types::ToSql;
use postgres::Transaction;

use super::backend::{judge_orphan, Judged, COLUMNS};
use super::postgres::{DbError, PostgresBackend, NOW_MS};
use super::{
    Claimed, Lease, LeaseGrant, Quarantine, Quarantined, Record, StoreError, Sweep, Swept,
};

impl PostgresBackend {
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
        let table = &self.table;
        let (ids, tokens): (Vec<&str>, Vec<i64>) = executions
            .iter()
            .map(|(id, token)| (id.as_str(), *token as i64))
            .unzip();
        self.with_connection(|connection| {
            connection.client.execute(
                &format!(
                    "UPDATE {table} t
                     SET lease_expires_at = {NOW_MS} + $3, recoveries = GREATEST(t.recoveries - $5, 0)
                     FROM UNNEST($1::TEXT[], $2::BIGINT[]) AS e(job_id, token)
                     WHERE t.job_id = e.job_id AND t.token = e.token
                       AND t.lease_owner = $4 AND t.completed_at IS NULL"
                ),
                &[&ids, &tokens, &lease.for_ms, &lease.owner, &i64::from(uncount)],
            )?;
            Ok(())
        })
    }

    pub(super) fn release_lease(&self, job_id: &str, token: u64) -> Result<(), StoreError> {
        let table = &self.table;
        self.with_connection(|connection| {
            connection.client.execute(
                &format!(
                    "UPDATE {table} SET lease_owner = NULL, lease_expires_at = NULL
                     WHERE job_id = $1 AND token = $2"
                ),
                &[&job_id, &(token as i64)],
            )?;
            Ok(())
        })
    }

    pub(super) fn claim(&self, sweep: &Sweep) -> Result<Swept, StoreError> {
        let table = &self.table;
        self.with_connection(|connection| {
            let mut tx = connection.client.transaction()?;
            let mut swept = Swept::default();
            let mut offset = 0i64;
            // Damaged rows are skipped, not counted (see the SQLite claim).
            while swept.claimed.len() + swept.quarantined.len() < sweep.limit {
                let want = (sweep.limit - swept.claimed.len() - swept.quarantined.len()) as i64;
                let rows = tx.query(
                    &format!(
                        "SELECT {COLUMNS}, {NOW_MS} FROM {table}
                         WHERE completed_at IS NULL AND quarantined_at IS NULL AND lease_expires_at <= {NOW_MS}
                           AND payload IS NOT NULL
                         ORDER BY lease_expires_at, job_id LIMIT $1 OFFSET $2
                         FOR UPDATE SKIP LOCKED"
                    ),
                    &[&want, &offset],
                )?;
                if rows.is_empty() {
                    break;
                }
                for row in &rows {
                    let orphan = match self.record(row) {
                        Ok(orphan) => orphan,
                        Err(DbError::Store(damaged @ StoreError::Corrupt { .. })) => {
                            offset += 1;
                            swept.damaged.push(damaged);
                            continue;
                        }
                        Err(error) => return Err(error),
                    };
                    self.judge(&mut tx, orphan, sweep, &mut swept)?;
                }
            }
            tx.commit()?;
            Ok(swept)
        })
    }

    fn judge(
        &self,
        tx: &mut Transaction<'_>,
        orphan: Record,
        sweep: &Sweep,
        swept: &mut Swept,
    ) -> Result<(), DbError> {
        match judge_orphan(&orphan, sweep) {
            Judged::Claim { recoveries, mark } => {
                swept.claimed.extend(self.take(
                    tx,
                    orphan,
                    &sweep.lease,
                    recoveries,
                    Some(mark),
                )?);
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

    fn take(
        &self,
        tx: &mut Transaction<'_>,
        orphan: Record,
        lease: &LeaseGrant,
        recoveries: u64,
        mark: Option<i64>,
    ) -> Result<Option<Claimed>, DbError> {
        let table = &self.table;
        let token = orphan.token + 1;
        tx.execute(
            &format!(
                "UPDATE {table} SET token = $2, lease_owner = $3, lease_expires_at = {NOW_MS} + $4,
                   recoveries = $5, recovery_mark = $6, quarantined_at = NULL, quarantine_reason = NULL
                 WHERE job_id = $1"
            ),
            &[
                &orphan.job_id,
                &(token as i64),
                &lease.owner,
                &lease.for_ms,
                &(recoveries as i64),
                &mark,
            ],
        )?;
        Ok(Claimed::from_orphan(orphan, token, recoveries))
    }

    fn set_quarantine(
        &self,
        tx: &mut Transaction<'_>,
        job_id: &str,
        token: u64,
        quarantine: &Quarantine,
    ) -> Result<bool, DbError> {
        let table = &self.table;
        let changed = tx.execute(
            &format!(
                "UPDATE {table} SET lease_owner = NULL, lease_expires_at = NULL,
                   quarantined_at = $3, quarantine_reason = $4
                 WHERE job_id = $1 AND token = $2 AND completed_at IS NULL"
            ),
            &[&job_id, &(token as i64), &quarantine.at, &quarantine.reason],
        )?;
        Ok(changed == 1)
    }

    pub(super) fn claim_by_id(
        &self,
        job_id: &str,
        lease: &LeaseGrant,
    ) -> Result<Option<Claimed>, StoreError> {
        let table = &self.table;
        self.with_connection(|connection| {
            let mut tx = connection.client.transaction()?;
            let row = tx.query_opt(
                &format!("SELECT {COLUMNS}, {NOW_MS} FROM {table} WHERE job_id = $1 FOR UPDATE"),
                &[&job_id],
            )?;
            let Some(row) = row else {
                return Ok(None);
            };
            let mut record = self.record(&row)?;
            if record.is_completed() || record.payload.is_none() {
                return Ok(None);
            }
            if record.lease.is_none() {
                record.lease = Some(Lease {
                    owner: lease.owner.clone(),
                    expires_at: super::now_ms(),
                });
            }
            let claimed = self.take(&mut tx, record, lease, 0, None)?;
            tx.commit()?;
            Ok(claimed)
        })
    }

    pub(super) fn quarantine_record(
        &self,
        job_id: &str,
        token: u64,
        quarantine: &Quarantine,
    ) -> Result<bool, StoreError> {
        self.with_connection(|connection| {
            let mut tx = connection.client.transaction()?;
            let changed = self.set_quarantine(&mut tx, job_id, token, quarantine)?;
            tx.commit()?;
            Ok(changed)
        })
    }

    /// Deletes the records `condition` ($1 its one parameter) selects and
    /// raises the token floor to their highest token, in one transaction.
    pub(super) fn delete_keeping_floor(
        &self,
        condition: &str,
        param: &(dyn ToSql + Sync),
    ) -> Result<u64, StoreError> {
        let table = &self.table;
        self.with_connection(|connection| {
            let mut tx = connection.client.transaction()?;
            let highest: Option<i64> = tx
                .query_one(
                    &format!("SELECT max(token) FROM {table} WHERE {condition}"),
                    &[param],
                )?
                .try_get(0)?;
            if let Some(highest) = highest {
                tx.execute(
                    "UPDATE holdfast_store_meta SET value = GREATEST(value, $2)
                     WHERE store_table = $1 AND key = 'token_floor'",
                    &[&table.as_str(), &highest],
                )?;
            }
            let deleted =
                tx.execute(&format!("DELETE FROM {table} WHERE {condition}"), &[param])?;
            tx.commit()?;
            Ok(deleted)
        })
    }
}
