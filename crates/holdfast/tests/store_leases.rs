//! Leases and recovery on every backend: an execution's lease is taken at
//! begin, renewed by checkpoints and by the heartbeat, dropped at complete
//! and release; when its process is gone the lease runs out and exactly one
//! recoverer claims the orphan, fencing the dead execution off.

mod store_cases;

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use holdfast::store::{
    now_ms, process_owner, Checkpoint, PostgresOptions, SqliteOptions, Store, StoreError,
    StoreOptions,
};
use store_cases::{at, eventually, job};

type Open = Box<dyn Fn() -> Arc<Store> + Send + Sync>;

/// The three backends with a one-second lease. Each call opens another
/// store on the same data (for SQLite and PostgreSQL another connection, as
/// another process would have; the memory backend lives in its one store,
/// which every call returns).
fn backends(name: &str) -> Vec<(&'static str, Open)> {
    let options = || StoreOptions {
        lease: Duration::from_secs(1),
        ..StoreOptions::default()
    };
    let dir = tempfile::tempdir().unwrap().keep();
    let path = dir.join(format!("{name}.sqlite3"));
    let url = std::env::var("HOLDFAST_TEST_POSTGRES_URL")
        .expect("HOLDFAST_TEST_POSTGRES_URL is not set: run bin/test, or start bin/test-postgres");
    let table = format!("holdfast_leases_{name}_{}", std::process::id());
    let memory = Arc::new(Store::memory(options()));
    vec![
        ("memory", Box::new(move || Arc::clone(&memory)) as Open),
        (
            "SQLite",
            Box::new(move || {
                Arc::new(Store::sqlite(&path, &SqliteOptions::default(), options()).unwrap())
            }),
        ),
        (
            "PostgreSQL",
            Box::new(move || {
                let pg = PostgresOptions {
                    table: table.clone(),
                    ..PostgresOptions::default()
                };
                Arc::new(Store::postgres(&url, &pg, options()).unwrap())
            }),
        ),
    ]
}

#[test]
fn a_lease_is_taken_at_begin_renewed_by_checkpoints_and_dropped_at_the_end() {
    for (backend, open) in backends("lifecycle") {
        let store = open();
        let id = job("leased");
        let before = now_ms();
        let e = store
            .begin_execution_with(&id, "Job", Some(r#"{"job_class":"Job"}"#))
            .unwrap();
        let record = store.get(&id).unwrap().unwrap();
        let lease = record.lease.clone().expect(backend);
        assert_eq!(lease.owner, process_owner(), "{backend}");
        assert!(lease.expires_at >= before + 1000, "{backend}");
        assert_eq!(
            record.payload.as_deref(),
            Some(r#"{"job_class":"Job"}"#),
            "{backend}"
        );
        std::thread::sleep(Duration::from_millis(20));
        store
            .checkpoint(&e, at("s", b"1", &[]), Checkpoint::Cursor)
            .unwrap();
        let renewed = store.get(&id).unwrap().unwrap().lease.unwrap().expires_at;
        assert!(
            renewed > lease.expires_at,
            "{backend}: a checkpoint renews the lease"
        );
        store.complete(&e, at("s", b"1", &[])).unwrap();
        assert_eq!(store.get(&id).unwrap().unwrap().lease, None, "{backend}");

        let other = job("released");
        let e = store
            .begin_execution_with(&other, "Job", Some("{}"))
            .unwrap();
        store.release(&e, true).unwrap();
        let record = store.get(&other).unwrap().unwrap();
        assert_eq!(
            (record.lease, record.completed_at),
            (None, None),
            "{backend}"
        );
    }
}

#[test]
fn the_heartbeat_keeps_a_quiet_execution_from_becoming_an_orphan() {
    for (backend, open) in backends("heartbeat") {
        let store = open();
        let recoverer = open();
        let id = job("quiet");
        let e = store.begin_execution_with(&id, "Job", Some("{}")).unwrap();
        // Three lease periods without a checkpoint: the heartbeat renews.
        let until = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < until {
            assert!(
                recoverer
                    .claim_orphans(10)
                    .unwrap()
                    .claimed
                    .iter()
                    .all(|c| c.job_id != id),
                "{backend}: a live execution was claimed"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        store
            .checkpoint(&e, at("s", b"1", &[]), Checkpoint::Cursor)
            .unwrap();
    }
}

#[test]
fn an_orphan_is_claimed_once_and_its_dead_execution_is_fenced_off() {
    for (backend, open) in backends("orphan") {
        let dying = open();
        let recoverer = open();
        let id = job("orphan");
        let payload = r#"{"job_class":"ImportJob","arguments":[42]}"#;
        let e = dying
            .begin_execution_with(&id, "ImportJob", Some(payload))
            .unwrap();
        dying
            .checkpoint(&e, at("import", b"[3000]", &[]), Checkpoint::Cursor)
            .unwrap();
        // Without a payload there is nothing to re-enqueue: never claimed.
        let bare = job("no-payload");
        let bare_execution = dying.begin_execution(&bare, "ImportJob").unwrap();
        // The process "dies": no more heartbeats for its executions. (One
        // stopped as its process exits with its queue in memory: written,
        // heartbeat stopped, its lease left to run out.)
        dying.release(&e, false).unwrap();
        assert!(
            dying.get(&id).unwrap().unwrap().lease.is_some(),
            "{backend}: the lease was kept"
        );
        dying.forget(&bare_execution);
        let mut claimed = Vec::new();
        eventually(|| {
            claimed = recoverer.claim_orphans(10).unwrap().claimed;
            !claimed.is_empty()
        });
        assert_eq!(claimed.len(), 1, "{backend}: {claimed:?}");
        let orphan = &claimed[0];
        assert_eq!(
            (orphan.job_id.as_str(), orphan.payload.as_str()),
            (id.as_str(), payload)
        );
        assert_eq!(orphan.token, e.token + 1, "{backend}");
        assert_eq!(orphan.expired.owner, process_owner(), "{backend}");
        assert!(
            recoverer.claim_orphans(10).unwrap().claimed.is_empty(),
            "{backend}: claimed twice"
        );
        // The dead execution, should it come back, can never write again.
        let error = dying
            .checkpoint(&e, at("import", b"[9999]", &[]), Checkpoint::Interrupt)
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Stale { .. }),
            "{backend}: {error:?}"
        );
        // The re-enqueued job resumes from the durable cursor.
        let resumed = recoverer
            .begin_execution_with(&id, "ImportJob", Some(payload))
            .unwrap();
        assert_eq!(
            resumed.record.progress,
            at("import", b"[3000]", &[]),
            "{backend}"
        );
        assert!(resumed.token > orphan.token, "{backend}");
        assert!(recoverer.discard(&id).unwrap(), "{backend}");
        assert!(recoverer.get(&id).unwrap().is_none(), "{backend}");
        assert!(!recoverer.discard(&id).unwrap(), "{backend}");
    }
}

#[test]
fn racing_recoverers_claim_each_orphan_exactly_once() {
    for (backend, open) in backends("race") {
        if backend == "memory" {
            continue; // one store, one lock: nothing races
        }
        let open = Arc::new(open);
        for round in 0..5 {
            let dying = open();
            let ids: Vec<String> = (0..40).map(|i| job(&format!("race-{round}-{i}"))).collect();
            for id in &ids {
                let e = dying.begin_execution_with(id, "Job", Some("{}")).unwrap();
                dying.forget(&e);
            }
            std::thread::sleep(Duration::from_millis(1100));
            let barrier = Arc::new(Barrier::new(4));
            let claims: Vec<Vec<String>> = (0..4)
                .map(|_| {
                    let open = Arc::clone(&open);
                    let barrier = Arc::clone(&barrier);
                    std::thread::spawn(move || {
                        let store = open();
                        barrier.wait();
                        let mut mine = Vec::new();
                        for _ in 0..20 {
                            mine.extend(
                                store
                                    .claim_orphans(3)
                                    .unwrap()
                                    .claimed
                                    .into_iter()
                                    .map(|c| c.job_id),
                            );
                        }
                        mine
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect();
            let all: Vec<&String> = claims
                .iter()
                .flatten()
                .filter(|id| ids.contains(id))
                .collect();
            let unique: HashSet<&String> = all.iter().copied().collect();
            assert_eq!(
                all.len(),
                unique.len(),
                "{backend} round {round}: an orphan was claimed twice"
            );
            assert_eq!(
                unique.len(),
                ids.len(),
                "{backend} round {round}: an orphan was left unclaimed"
            );
        }
    }
}
