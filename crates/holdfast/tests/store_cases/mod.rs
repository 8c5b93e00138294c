//! Store behaviour every backend must have. Each backend's test file calls
//! these with a way to open its store; `Opener::again` opens a second store
//! on the same data (another process, as far as the store can tell).
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use holdfast::store::{
    Begin, Checkpoint, Current, Durability, ListQuery, Progress, State, Store, StoreError,
    StoreOptions,
};

/// One `#[test]` per named shared case, each run through `$run`, a
/// function that opens the backend and calls the case with an [`Opener`].
/// (Not every test binary that includes this module uses it.)
#[allow(unused_macros)]
macro_rules! shared_cases {
    ($run:expr; $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                $run(store_cases::$case);
            }
        )+
    };
}

pub struct Opener<'a> {
    pub open: &'a dyn Fn(StoreOptions) -> Store,
    /// Opens another store on the same data; `None` for memory.
    pub again: Option<&'a dyn Fn(StoreOptions) -> Store>,
}

pub fn at(step: &str, cursor: &[u8], completed: &[&str]) -> Progress {
    Progress {
        completed: completed.iter().map(|s| s.to_string()).collect(),
        current: Some(Current {
            step: step.to_owned(),
            cursor: Some(cursor.to_vec()),
        }),
    }
}

fn options(durability: Durability) -> StoreOptions {
    StoreOptions {
        durability,
        ..StoreOptions::default()
    }
}

/// Unique job ids, so cases can share a database.
pub fn job(name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn lifecycle(o: &Opener) {
    let store = (o.open)(StoreOptions::default());
    let id = job("lifecycle");
    let first = store.begin_execution(&id, "ImportJob").unwrap();
    assert!(!first.existed);
    // 1 in a new store; above every deleted record's token otherwise.
    assert!(first.token >= 1);
    assert!(first.record.progress.is_empty());
    assert_eq!(first.record.resumptions, 0);

    store
        .checkpoint(
            &first,
            at("process", b"42", &["validate"]),
            Checkpoint::Cursor,
        )
        .unwrap();
    let record = store.get(&id).unwrap().unwrap();
    assert_eq!(record.job_class, "ImportJob");
    assert_eq!(record.progress, at("process", b"42", &["validate"]));
    assert!(!record.is_completed());

    // The next execution resumes from it, with a newer token and one more
    // resumption.
    let second = store.begin_execution(&id, "ImportJob").unwrap();
    assert!(second.existed);
    assert_eq!(second.token, first.token + 1);
    assert_eq!(second.record.resumptions, 1);
    assert_eq!(second.record.progress, at("process", b"42", &["validate"]));

    let done = Progress {
        completed: vec!["validate".into(), "process".into()],
        current: None,
    };
    store.complete(&second, done.clone()).unwrap();
    let record = store.get(&id).unwrap().unwrap();
    assert!(record.is_completed());
    assert_eq!(record.progress, done);
    assert!(store.get(&job("never")).unwrap().is_none());
}

pub fn a_stale_execution_writes_nothing(o: &Opener) {
    let store = (o.open)(StoreOptions::default());
    let id = job("stale");
    let old = store.begin_execution(&id, "ImportJob").unwrap();
    store
        .checkpoint(&old, at("process", b"1", &[]), Checkpoint::Cursor)
        .unwrap();
    let new = store.begin_execution(&id, "ImportJob").unwrap();
    store
        .checkpoint(&new, at("process", b"5", &[]), Checkpoint::Cursor)
        .unwrap();
    let error = store
        .checkpoint(&old, at("process", b"9", &[]), Checkpoint::Interrupt)
        .unwrap_err();
    assert_eq!(
        error,
        StoreError::Stale {
            job_id: id.clone(),
            token: old.token,
            newest: Some(old.token + 1)
        }
    );
    assert!(error.to_string().contains("must stop without writing"));
    assert!(store.complete(&old, Progress::default()).is_err());
    assert_eq!(
        store.get(&id).unwrap().unwrap().progress,
        at("process", b"5", &[])
    );

    // The same through another store (another process): the backend itself
    // refuses the old token.
    if let Some(again) = o.again {
        let other = again(StoreOptions::default());
        let newest = other.begin_execution(&id, "ImportJob").unwrap();
        assert_eq!(newest.token, old.token + 2);
        let error = store
            .checkpoint(&new, at("process", b"7", &[]), Checkpoint::Cursor)
            .unwrap_err();
        assert_eq!(
            error,
            StoreError::Stale {
                job_id: id.clone(),
                token: new.token,
                newest: Some(newest.token)
            }
        );
        assert_eq!(
            other.get(&id).unwrap().unwrap().progress,
            at("process", b"5", &[])
        );
    }
}

pub fn limits_refuse_and_write_nothing(o: &Opener) {
    let store = (o.open)(StoreOptions::default());
    let long = "x".repeat(256);
    assert!(matches!(
        store.begin_execution("", "Job"),
        Err(StoreError::InvalidArgument(_))
    ));
    let error = store.begin_execution(&long, "Job").unwrap_err();
    assert_eq!(
        error.to_string(),
        "job id is 256 bytes, over the limit of 255; nothing was written"
    );
    let id = job("limits");
    let execution = store.begin_execution(&id, "Job").unwrap();
    store
        .checkpoint(&execution, at("a", b"1", &[]), Checkpoint::Cursor)
        .unwrap();
    let error = store
        .checkpoint(&execution, at(&long, b"2", &[]), Checkpoint::Cursor)
        .unwrap_err();
    assert!(matches!(
        error,
        StoreError::Limit {
            what: "step name",
            max: 255,
            got: 256
        }
    ));
    let big = vec![7u8; 64 * 1024 + 1];
    let error = store
        .checkpoint(&execution, at("a", &big, &[]), Checkpoint::Cursor)
        .unwrap_err();
    assert!(error
        .to_string()
        .contains("cursor is 65537 bytes, over the limit of 65536"));
    // Every backend refuses NUL in names the same way (PostgreSQL cannot
    // keep it), so one store's accepted value is every store's.
    for (attempt, what) in [
        (store.begin_execution("a\0b", "Job").map(|_| ()), "job id"),
        (
            store.begin_execution(&id, "Jo\0b").map(|_| ()),
            "job class name",
        ),
        (
            store.checkpoint(&execution, at("st\0ep", b"3", &[]), Checkpoint::Cursor),
            "step name",
        ),
        (
            store.checkpoint(&execution, at("a", b"3", &["do\0ne"]), Checkpoint::Cursor),
            "step name",
        ),
    ] {
        let error = attempt.unwrap_err();
        assert!(
            matches!(&error, StoreError::InvalidArgument(m) if m.starts_with(what) && m.contains("NUL byte")),
            "{error:?}"
        );
    }
    // Exactly at the limit is fine.
    store
        .checkpoint(&execution, at("a", &big[1..], &[]), Checkpoint::Cursor)
        .unwrap();
    assert_eq!(
        store.get(&id).unwrap().unwrap().progress,
        at("a", &big[1..], &[])
    );
}

pub fn list_and_prune(o: &Opener) {
    let store = (o.open)(StoreOptions::default());
    let class = job("ListJob");
    let ids: Vec<String> = (0..4).map(|i| job(&format!("list{i}"))).collect();
    let mut executions = Vec::new();
    for id in &ids {
        let e = store.begin_execution(id, &class).unwrap();
        store
            .checkpoint(&e, at("s", id.as_bytes(), &[]), Checkpoint::Cursor)
            .unwrap();
        executions.push(e);
        std::thread::sleep(Duration::from_millis(2)); // distinct updated_at
    }
    store.complete(&executions[0], Progress::default()).unwrap();
    store.complete(&executions[1], Progress::default()).unwrap();

    let query = |state, newest_first, limit| ListQuery {
        state,
        job_class: Some(class.clone()),
        limit,
        newest_first,
    };
    let names = |records: Vec<holdfast::store::Listed>| {
        records
            .into_iter()
            .map(|r| r.unwrap().job_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.list(&query(State::InFlight, true, 10)).unwrap()),
        vec![ids[3].clone(), ids[2].clone()]
    );
    assert_eq!(
        names(store.list(&query(State::InFlight, false, 1)).unwrap()),
        vec![ids[2].clone()]
    );
    assert_eq!(
        store
            .list(&query(State::Completed, true, 10))
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.list(&query(State::Any, true, 10)).unwrap().len(), 4);

    // Completed long ago: nothing yet; then all completed ones go, in-flight stay.
    assert_eq!(store.prune(Some(0)).unwrap(), 0);
    assert!(store.prune(None).unwrap() >= 2);
    assert_eq!(
        names(store.list(&query(State::Any, false, 10)).unwrap()),
        vec![ids[2].clone(), ids[3].clone()]
    );
}

/// Write-behind: checkpoints return at once, reach the disk within the
/// interval, many jobs share one commit, and close writes the rest.
pub fn interval_writes_behind(o: &Opener) {
    let Some(again) = o.again else { return };
    let store = (o.open)(options(Durability::Interval(Duration::from_millis(50))));
    let reader = again(StoreOptions::default());
    let ids: Vec<String> = (0..16).map(|i| job(&format!("interval{i}"))).collect();
    let executions: Vec<_> = ids
        .iter()
        .map(|id| store.begin_execution(id, "Job").unwrap())
        .collect();
    for (i, e) in executions.iter().enumerate() {
        store
            .checkpoint(
                e,
                at("s", format!("{i}").as_bytes(), &[]),
                Checkpoint::Cursor,
            )
            .unwrap();
        // Visible through this store at once (pending progress overlays).
        assert_eq!(
            store.get(&e.job_id).unwrap().unwrap().progress,
            at("s", format!("{i}").as_bytes(), &[])
        );
    }
    for (i, id) in ids.iter().enumerate() {
        let want = at("s", format!("{i}").as_bytes(), &[]);
        eventually(|| reader.get(id).unwrap().unwrap().progress == want);
    }
    // A step boundary is written at once, even under write-behind.
    store
        .checkpoint(
            &executions[0],
            at("t", b"0", &["s"]),
            Checkpoint::StepBoundary,
        )
        .unwrap();
    assert_eq!(
        reader.get(&ids[0]).unwrap().unwrap().progress,
        at("t", b"0", &["s"])
    );
    // Close writes what is pending.
    store
        .checkpoint(&executions[1], at("s", b"last", &[]), Checkpoint::Cursor)
        .unwrap();
    store.close().unwrap();
    assert_eq!(
        reader.get(&ids[1]).unwrap().unwrap().progress,
        at("s", b"last", &[])
    );
    assert!(matches!(store.get(&ids[1]), Err(StoreError::Closed { .. })));
}

pub fn step_boundaries_keep_cursor_moves_in_memory(o: &Opener) {
    let Some(again) = o.again else { return };
    let store = (o.open)(options(Durability::StepBoundaries));
    let reader = again(StoreOptions::default());
    let id = job("boundaries");
    let e = store.begin_execution(&id, "Job").unwrap();
    store
        .checkpoint(&e, at("s", b"1", &[]), Checkpoint::StepBoundary)
        .unwrap();
    store
        .checkpoint(&e, at("s", b"2", &[]), Checkpoint::Cursor)
        .unwrap();
    store
        .checkpoint(&e, at("s", b"3", &[]), Checkpoint::Cursor)
        .unwrap();
    assert_eq!(
        reader.get(&id).unwrap().unwrap().progress,
        at("s", b"1", &[])
    );
    assert_eq!(
        store.get(&id).unwrap().unwrap().progress,
        at("s", b"3", &[])
    );
    store
        .checkpoint(&e, at("s", b"4", &[]), Checkpoint::Interrupt)
        .unwrap();
    assert_eq!(
        reader.get(&id).unwrap().unwrap().progress,
        at("s", b"4", &[])
    );
    store
        .checkpoint(&e, at("s", b"5", &[]), Checkpoint::Cursor)
        .unwrap();
    store.flush().unwrap();
    assert_eq!(
        reader.get(&id).unwrap().unwrap().progress,
        at("s", b"5", &[])
    );
    store
        .checkpoint(&e, at("s", b"6", &[]), Checkpoint::Cursor)
        .unwrap();
    drop(store);
    assert_eq!(
        reader.get(&id).unwrap().unwrap().progress,
        at("s", b"6", &[])
    );
}

/// Two executions of one job racing: thousands of interleavings of begin
/// and checkpoint; whatever the order, once an execution's write landed, no
/// older execution's write ever lands after it.
pub fn fencing_race(o: &Opener, rounds: usize) {
    let store = Arc::new((o.open)(StoreOptions::default()));
    let id = job("race");
    // The first token a new record gets (1, or above the store's floor).
    let base = {
        let probe = job("race-probe");
        store.begin_execution(&probe, "RaceJob").unwrap().token - 1
    };
    let barrier = Arc::new(Barrier::new(2));
    let stale_seen = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (store, id, barrier, stale_seen) =
                (Arc::clone(&store), id.clone(), Arc::clone(&barrier), Arc::clone(&stale_seen));
            std::thread::spawn(move || {
                for _ in 0..rounds {
                    barrier.wait();
                    let e = store.begin_execution(&id, "RaceJob").unwrap();
                    for k in 0..3u8 {
                        let cursor = [&e.token.to_be_bytes()[..], &[k]].concat();
                        match store.checkpoint(&e, at("s", &cursor, &[]), Checkpoint::Cursor) {
                            Ok(()) => {
                                let stored = store.get(&id).unwrap().unwrap();
                                let Some(Current { cursor: Some(c), .. }) = stored.progress.current else {
                                    panic!("no cursor after a write")
                                };
                                let writer = u64::from_be_bytes(c[..8].try_into().unwrap());
                                assert!(writer >= e.token, "progress regressed: execution {} saw a write of execution {writer}", e.token);
                            }
                            Err(StoreError::Stale { newest, .. }) => {
                                assert!(newest.unwrap() > e.token);
                                stale_seen.store(true, Ordering::Relaxed);
                                break;
                            }
                            Err(other) => panic!("{other}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        stale_seen.load(Ordering::Relaxed),
        "the race never produced a stale execution"
    );
    // Every begin took exactly one token: the floor can only have risen
    // (another case's discard) before this record was made.
    let last = store.get(&id).unwrap().unwrap().token;
    assert!(
        last >= base + 2 * rounds as u64,
        "{last} < {base} + {}",
        2 * rounds
    );
}

/// Polls `condition` until it holds or 10 s pass (a bounded wait on state
/// another thread or process changes).
pub fn eventually(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "condition not reached within 10 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A stale copy of a finished job (recovered twice, redelivered, an old
/// retry) does nothing: beginning a completed record leaves it as it is,
/// takes no token and refuses every write. Only an explicit restart starts
/// it over.
pub fn a_completed_job_is_not_redone_unless_restarted(o: &Opener) {
    let store = (o.open)(StoreOptions::default());
    let id = job("again");
    let first = store.begin_execution(&id, "Job").unwrap();
    store.complete(&first, at("s", b"9", &["a"])).unwrap();
    let before = store.get(&id).unwrap().unwrap();

    let stale = store.begin_execution_with(&id, "Job", Some("{}")).unwrap();
    assert!(stale.existed && stale.was_completed && !stale.began);
    assert_eq!(stale.token, first.token, "a stale copy took a token");
    let refused = store
        .checkpoint(&stale, at("s", b"1", &[]), Checkpoint::Interrupt)
        .unwrap_err();
    assert!(
        refused.to_string().contains("already completed"),
        "{refused}"
    );
    assert!(store.complete(&stale, Progress::default()).is_err());
    assert_eq!(
        store.get(&id).unwrap().unwrap(),
        before,
        "the finished record changed"
    );

    let again = store
        .begin(
            &id,
            "Job",
            Begin {
                payload: None,
                restart: true,
            },
        )
        .unwrap();
    assert!(again.began && again.was_completed && again.token > first.token);
    assert!(again.record.progress.is_empty() && !again.record.is_completed());
    store
        .checkpoint(&again, at("s", b"1", &[]), Checkpoint::Cursor)
        .unwrap();
    let record = store.get(&id).unwrap().unwrap();
    assert!(
        !record.is_completed(),
        "progress after a restart is in flight"
    );
    assert_eq!(record.progress, at("s", b"1", &[]));
}

/// Tokens never go back: after a discard (or a prune) of a job's record, a
/// new execution of the same job id gets a token above the old one's, so
/// the old execution, still running, can never write over the new one.
pub fn tokens_never_go_back_across_discard_and_prune(o: &Opener) {
    let store = (o.open)(StoreOptions::default());
    let id = job("discarded");
    let old = store.begin_execution(&id, "Job").unwrap();
    let older = store.begin_execution(&id, "Job").unwrap();
    assert!(store.discard(&id).unwrap());
    let new = store.begin_execution(&id, "Job").unwrap();
    assert!(
        new.token > older.token,
        "token {} after discard, the old execution holds {}",
        new.token,
        older.token
    );
    for zombie in [&old, &older] {
        let error = store
            .checkpoint(zombie, at("s", b"666", &[]), Checkpoint::Interrupt)
            .unwrap_err();
        assert!(matches!(error, StoreError::Stale { .. }), "{error:?}");
    }

    store
        .checkpoint(&new, at("s", b"1", &[]), Checkpoint::Interrupt)
        .unwrap();
    store.complete(&new, at("s", b"2", &[])).unwrap();
    assert!(store.complete(&older, at("s", b"666", &[])).is_err());

    // Pruned, then the id is used again: still above every old token.
    assert!(store.prune(None).unwrap() >= 1);
    let reused = store.begin_execution(&id, "Job").unwrap();
    assert!(
        reused.token > new.token,
        "{} <= {}",
        reused.token,
        new.token
    );
    assert!(store
        .checkpoint(&new, at("s", b"3", &[]), Checkpoint::Interrupt)
        .is_err());
    assert_eq!(
        store.get(&id).unwrap().unwrap().progress,
        Progress::default()
    );

    // Discarded with nothing begun since: the running execution is stale
    // too (it stops; a "not found" failure would be retried and begin the
    // job again), and writes nothing back.
    let running = store.begin_execution(&id, "Job").unwrap();
    assert!(store.discard(&id).unwrap());
    let error = store
        .checkpoint(&running, at("s", b"7", &[]), Checkpoint::Interrupt)
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::Stale { newest: None, .. })
            && error.to_string().contains("discarded since it began"),
        "{error:?}: {error}"
    );
    assert!(matches!(
        store.complete(&running, at("s", b"8", &[])),
        Err(StoreError::Stale { .. })
    ));
    assert!(
        store.get(&id).unwrap().is_none(),
        "nothing was written back"
    );
}
