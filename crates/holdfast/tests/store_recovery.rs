//! Recovery semantics on every backend: one live copy per claim (a backlog
//! longer than a lease does not re-enqueue the job again), crash loops
//! bounded by quarantine, an operator's forced recovery, and a damaged
//! record that stays local.

mod store_cases;

use std::sync::Arc;
use std::time::Duration;

use holdfast::store::{
    Checkpoint, ListQuery, PostgresOptions, SqliteOptions, State, Store, StoreOptions,
};
use store_cases::{at, eventually, job};

type Open = Box<dyn Fn(StoreOptions) -> Arc<Store>>;

/// The three backends; each call opens another store on the same data
/// (memory: the one store).
fn backends(name: &str) -> Vec<(&'static str, Open)> {
    let dir = tempfile::tempdir().unwrap().keep();
    let path = dir.join(format!("{name}.sqlite3"));
    let url = std::env::var("HOLDFAST_TEST_POSTGRES_URL")
        .expect("HOLDFAST_TEST_POSTGRES_URL is not set: run bin/test, or start bin/test-postgres");
    let table = format!("holdfast_recovery_{name}_{}", std::process::id());
    let memory: std::cell::OnceCell<Arc<Store>> = std::cell::OnceCell::new();
    vec![
        (
            "memory",
            Box::new(move |options| {
                Arc::clone(memory.get_or_init(|| Arc::new(Store::memory(options))))
            }) as Open,
        ),
        (
            "SQLite",
            Box::new(move |options| {
                Arc::new(Store::sqlite(&path, &SqliteOptions::default(), options).unwrap())
            }),
        ),
        (
            "PostgreSQL",
            Box::new(move |options| {
                let pg = PostgresOptions {
                    table: table.clone(),
                    ..PostgresOptions::default()
                };
                Arc::new(Store::postgres(&url, &pg, options).unwrap())
            }),
        ),
    ]
}

fn options(recovery_timeout: u64, max_recoveries: u64) -> StoreOptions {
    StoreOptions {
        lease: Duration::from_secs(1),
        recovery_timeout: Duration::from_secs(recovery_timeout),
        max_recoveries,
        ..StoreOptions::default()
    }
}

/// A process that begins the job, records `cursor` and dies (its heartbeat
/// stops; its lease runs out).
fn run_and_die(store: &Store, id: &str, cursor: &[u8]) -> u64 {
    let e = store
        .begin_execution_with(id, "ImportJob", Some(r#"{"job_class":"ImportJob"}"#))
        .unwrap();
    assert!(e.began);
    store
        .checkpoint(&e, at("import", cursor, &[]), Checkpoint::Interrupt)
        .unwrap();
    store.forget(&e);
    e.token
}

/// Whether this pass claimed the job.
fn claimed(swept: &holdfast::store::Swept, id: &str) -> bool {
    swept.claimed.iter().any(|c| c.job_id == id)
}

fn claim_when_due(store: &Store, id: &str) -> holdfast::store::Swept {
    let mut swept = Default::default();
    eventually(|| {
        swept = store.claim_orphans(100).unwrap();
        swept.claimed.iter().any(|c| c.job_id == id)
            || swept.quarantined.iter().any(|q| q.record.job_id == id)
    });
    swept
}

#[test]
fn a_recovered_job_waiting_in_a_backlog_is_not_claimed_again() {
    for (backend, open) in backends("backlog") {
        let worker = open(options(60, 3));
        let sweeper = open(options(60, 3));
        let id = job("backlog");
        run_and_die(&worker, &id, b"[50]");
        let first = claim_when_due(&sweeper, &id);
        assert_eq!(first.claimed.len(), 1, "{backend}");
        sweeper.handed_off(&id, first.claimed[0].token).unwrap();
        // The copy waits in a busy queue for several leases: nobody claims
        // the job again while the claim holds.
        std::thread::sleep(Duration::from_millis(2500));
        let again = sweeper.claim_orphans(100).unwrap();
        assert!(
            !claimed(&again, &id),
            "{backend}: claimed again while its recovered copy waited: {again:?}"
        );
        // The copy begins, resumes and completes; a stale second copy then
        // does nothing.
        let copy = worker
            .begin_execution_with(&id, "ImportJob", Some("{}"))
            .unwrap();
        assert_eq!(
            copy.record.progress,
            at("import", b"[50]", &[]),
            "{backend}"
        );
        worker.complete(&copy, at("import", b"[200]", &[])).unwrap();
        let stale = worker
            .begin_execution_with(&id, "ImportJob", Some("{}"))
            .unwrap();
        assert!(!stale.began, "{backend}: a finished job began again");
    }
}

#[test]
fn a_handed_off_claim_whose_copy_never_begins_is_retried_after_the_recovery_timeout_and_counted() {
    for (backend, open) in backends("timeout") {
        let store = open(options(3, 3));
        let id = job("lost-copy");
        run_and_die(&store, &id, b"[7]");
        let first = claim_when_due(&store, &id);
        assert_eq!(first.claimed[0].recoveries, 1, "{backend}");
        store.handed_off(&id, first.claimed[0].token).unwrap();
        // Past the claim's own lease, the handed-off claim still holds.
        std::thread::sleep(Duration::from_millis(1500));
        let early = store.claim_orphans(100).unwrap();
        assert!(
            !claimed(&early, &id),
            "{backend}: claimed again before the recovery timeout: {early:?}"
        );
        // The queue lost the copy: after the recovery timeout the job is
        // claimed again, counted as a second recovery at the same cursor.
        let second = claim_when_due(&store, &id);
        let claim = second.claimed.iter().find(|c| c.job_id == id).unwrap();
        assert_eq!(claim.recoveries, 2, "{backend}");
        assert!(claim.token > first.claimed[0].token, "{backend}");
    }
}

#[test]
fn a_claim_its_recoverer_never_handed_off_is_taken_again_after_one_lease() {
    for (backend, open) in backends("dead_recoverer") {
        // An hour's recovery timeout: only the claim's own lease may pass.
        let store = open(options(3600, 3));
        let id = job("claimed-then-killed");
        run_and_die(&store, &id, b"[9]");
        let first = claim_when_due(&store, &id);
        let claimed_at = std::time::Instant::now();
        // The recoverer dies here, before re-enqueuing.
        let second = claim_when_due(&store, &id);
        let waited = claimed_at.elapsed();
        let claim = second.claimed.iter().find(|c| c.job_id == id).unwrap();
        assert!(claim.token > first.claimed[0].token, "{backend}");
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
            "{backend}: taken again after {waited:?}, expected one lease (1 s)"
        );
    }
}

#[test]
fn a_claim_handed_back_is_claimed_again_uncounted() {
    for (backend, open) in backends("hand_back") {
        let store = open(options(3600, 2));
        let id = job("queue-down");
        run_and_die(&store, &id, b"[3]");
        // Its queue is down for many rounds: each claim goes back, and the
        // crash-loop limit (2) is never reached.
        let mut token = 0;
        for _ in 0..5 {
            let swept = claim_when_due(&store, &id);
            assert!(swept.quarantined.is_empty(), "{backend}: {swept:?}");
            let claim = swept.claimed.iter().find(|c| c.job_id == id).unwrap();
            assert_eq!(claim.recoveries, 1, "{backend}");
            assert!(claim.token > token, "{backend}");
            token = claim.token;
            store
                .hand_back(&[(id.clone(), claim.token)], Duration::ZERO)
                .unwrap();
        }
        // A hand-back with a delay holds the claim that long.
        let swept = claim_when_due(&store, &id);
        let claim = swept.claimed.iter().find(|c| c.job_id == id).unwrap();
        store
            .hand_back(&[(id.clone(), claim.token)], Duration::from_secs(60))
            .unwrap();
        std::thread::sleep(Duration::from_millis(1200));
        assert!(
            !claimed(&store.claim_orphans(100).unwrap(), &id),
            "{backend}: a claim handed back for 60 s was taken at once"
        );
    }
}

#[test]
fn a_hand_off_after_the_copy_began_leaves_the_copy_alone() {
    for (backend, open) in backends("late_hand_off") {
        let store = open(options(3600, 3));
        let id = job("fast-copy");
        run_and_die(&store, &id, b"[4]");
        let claim = claim_when_due(&store, &id).claimed.remove(0);
        // An inline or async backend runs the copy before the recoverer
        // reports the hand-off.
        let copy = store
            .begin_execution_with(&id, "ImportJob", Some("{}"))
            .unwrap();
        assert!(copy.began && copy.token > claim.token, "{backend}");
        store.handed_off(&id, claim.token).unwrap();
        let lease = store.get(&id).unwrap().unwrap().lease.unwrap();
        let left = lease.expires_at - wall_ms();
        assert!(
            left <= 1_500,
            "{backend}: the copy's lease became the claim's ({left} ms left)"
        );
        store.forget(&copy);
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn a_crash_loop_is_quarantined_and_an_operator_can_force_it_back() {
    for (backend, open) in backends("loop") {
        let store = open(options(60, 2));
        let id = job("oom");
        run_and_die(&store, &id, b"[500]");
        // Recovered, dies at the same record; recovered again, dies again.
        for expected in 1..=2 {
            let swept = claim_when_due(&store, &id);
            let claim = swept.claimed.iter().find(|c| c.job_id == id).unwrap();
            assert_eq!(claim.recoveries, expected, "{backend}");
            run_and_die(&store, &id, b"[500]");
        }
        // The third death at cursor 500: quarantined, not re-enqueued.
        let swept = claim_when_due(&store, &id);
        assert!(!claimed(&swept, &id), "{backend}");
        let quarantined = &swept
            .quarantined
            .iter()
            .find(|q| q.record.job_id == id)
            .unwrap()
            .record;
        let reason = &quarantined.quarantine.as_ref().unwrap().reason;
        assert!(
            reason.contains("3 times in a row") && reason.contains("cursor [500]"),
            "{backend}: {reason}"
        );
        let listed = store
            .list(&ListQuery {
                state: State::Quarantined,
                ..ListQuery::default()
            })
            .unwrap();
        assert!(
            listed
                .iter()
                .any(|r| r.as_ref().is_ok_and(|r| r.job_id == id)),
            "{backend}: not listed as quarantined"
        );
        assert!(store.get(&id).unwrap().unwrap().lease.is_none());
        std::thread::sleep(Duration::from_millis(1200));
        assert!(
            !claimed(&store.claim_orphans(100).unwrap(), &id),
            "{backend}: a quarantined job was claimed"
        );
        // `holdfast recover JOB_ID --force`: claimed, quarantine lifted.
        let forced = store.claim_one(&id).unwrap().expect(backend);
        assert_eq!(forced.recoveries, 0, "{backend}");
        let record = store.get(&id).unwrap().unwrap();
        assert!(
            record.quarantine.is_none() && record.lease.is_some(),
            "{backend}"
        );
        assert!(
            store.claim_one(&job("nobody")).unwrap().is_none(),
            "{backend}"
        );
    }
}

#[test]
fn a_job_that_makes_progress_between_deaths_is_not_a_crash_loop() {
    for (backend, open) in backends("progress") {
        let store = open(options(60, 1));
        let id = job("slow-but-moving");
        run_and_die(&store, &id, b"[1]");
        for cursor in [b"[2]", b"[3]", b"[4]"] {
            let swept = claim_when_due(&store, &id);
            let claim = swept
                .claimed
                .iter()
                .find(|c| c.job_id == id)
                .expect(backend);
            assert_eq!(claim.recoveries, 1, "{backend}: progress resets the count");
            run_and_die(&store, &id, cursor);
        }
    }
}

#[test]
fn a_job_recovery_cannot_re_enqueue_is_quarantined_at_once() {
    for (backend, open) in backends("noclass") {
        let store = open(options(60, 3));
        let id = job("gone-class");
        run_and_die(&store, &id, b"[1]");
        let swept = claim_when_due(&store, &id);
        let claim = swept.claimed.iter().find(|c| c.job_id == id).unwrap();
        assert!(store
            .quarantine(
                &id,
                claim.token,
                "its job class ImportJob does not load (NameError)"
            )
            .unwrap());
        let record = store.get(&id).unwrap().unwrap();
        assert!(
            record.quarantine.unwrap().reason.contains("does not load"),
            "{backend}"
        );
        // A stale token does not quarantine.
        assert!(
            !store.quarantine(&id, claim.token - 1, "x").unwrap(),
            "{backend}"
        );
    }
}
