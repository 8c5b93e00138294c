//! Leases, recovery claims and discards on PostgreSQL. A claim runs in one
//! transaction with `FOR UPDATE SKIP LOCKED`, so recoverers on many hosts
//! split the orphans between them and never claim one twice.

use super::backend::COLUMNS;
use super::postgres::PostgresBackend;
use super::{Claimed, Lease, StoreError, Sweep};

impl PostgresBackend {
    pub(super) fn renew_leases(
        &self,
        executions: &[(String, u64)],
        lease: &Lease,
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
                    "UPDATE {table} t SET lease_expires_at = $3
                     FROM UNNEST($1::TEXT[], $2::BIGINT[]) AS e(job_id, token)
                     WHERE t.job_id = e.job_id AND t.token = e.token
                       AND t.lease_owner = $4 AND t.completed_at IS NULL"
                ),
                &[&ids, &tokens, &lease.expires_at, &lease.owner],
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

    pub(super) fn claim(&self, sweep: &Sweep) -> Result<Vec<Claimed>, StoreError> {
        let (now, limit, lease) = (sweep.now, sweep.limit, &sweep.lease);
        let table = &self.table;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_connection(|connection| {
            let mut tx = connection.client.transaction()?;
            let rows = tx.query(
                &format!(
                    "SELECT {COLUMNS} FROM {table}
                     WHERE completed_at IS NULL AND lease_expires_at <= $1 AND payload IS NOT NULL
                     ORDER BY lease_expires_at LIMIT $2
                     FOR UPDATE SKIP LOCKED"
                ),
                &[&now, &limit],
            )?;
            let mut claimed = Vec::with_capacity(rows.len());
            for row in &rows {
                let orphan = self.record(row)?;
                let token = orphan.token + 1;
                tx.execute(
                    &format!(
                        "UPDATE {table} SET token = $2, lease_owner = $3, lease_expires_at = $4
                         WHERE job_id = $1"
                    ),
                    &[
                        &orphan.job_id,
                        &(token as i64),
                        &lease.owner,
                        &lease.expires_at,
                    ],
                )?;
                claimed.extend(Claimed::from_orphan(orphan, token));
            }
            tx.commit()?;
            Ok(claimed)
        })
    }

    pub(super) fn discard_record(&self, job_id: &str) -> Result<bool, StoreError> {
        let table = &self.table;
        self.with_connection(|connection| {
            let deleted = connection.client.execute(
                &format!("DELETE FROM {table} WHERE job_id = $1"),
                &[&job_id],
            )?;
            Ok(deleted == 1)
        })
    }
}
