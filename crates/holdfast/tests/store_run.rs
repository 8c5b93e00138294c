//! `Run`: one execution's transitions, owned by the core (the C and Ruby
//! layers only translate). Counts the backend's writes to show which
//! transitions reach it, and when.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod hooked;

use holdfast::store::{Current, Durability, Progress, Run, Store, StoreError, StoreOptions, Write};
use hooked::Hooked;

fn store(durability: Durability) -> (Arc<Store>, Arc<AtomicUsize>) {
    let writes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&writes);
    let backend = Hooked::new(move |batch: &[Write]| {
        counter.fetch_add(batch.len(), Ordering::SeqCst);
        Ok(())
    });
    let options = StoreOptions {
        durability,
        ..StoreOptions::default()
    };
    (Arc::new(Store::open(Box::new(backend), options)), writes)
}

fn at(step: &str, cursor: &[u8]) -> Option<Current> {
    Some(Current {
        step: step.to_owned(),
        cursor: Some(cursor.to_vec()),
    })
}

#[test]
fn every_transition_writes_once_and_unchanged_progress_writes_nothing() {
    let (store, writes) = store(Durability::EveryCheckpoint);
    let run = Run::begin(Arc::clone(&store), "run-1", "ImportJob").unwrap();
    let count = || writes.load(Ordering::SeqCst);

    run.checkpoint("rows", None).unwrap();
    assert_eq!(count(), 1, "a step starting is a step boundary");
    run.checkpoint("rows", Some(b"[1]".to_vec())).unwrap();
    assert_eq!(count(), 2, "every_checkpoint writes each cursor move");
    run.checkpoint("rows", Some(b"[1]".to_vec())).unwrap();
    assert_eq!(count(), 2, "the same progress again writes nothing");
    run.complete_step().unwrap();
    assert_eq!(count(), 3);
    assert_eq!(
        run.progress(),
        Progress {
            completed: vec!["rows".into()],
            current: None
        }
    );
    let error = run.complete_step().unwrap_err();
    assert!(
        matches!(&error, StoreError::InvalidArgument(m) if m.contains("no step in progress")),
        "{error}"
    );
    run.interrupt().unwrap();
    assert_eq!(count(), 4, "an interrupt writes even unchanged progress");
    run.complete().unwrap();
    assert_eq!(count(), 5);
    assert!(store.get("run-1").unwrap().unwrap().is_completed());
}

#[test]
fn a_completed_execution_refuses_to_write_again() {
    let (store, writes) = store(Durability::EveryCheckpoint);
    let run = Run::begin(Arc::clone(&store), "run-2", "ImportJob").unwrap();
    run.checkpoint("rows", Some(b"[5]".to_vec())).unwrap();
    run.complete().unwrap();
    let before = writes.load(Ordering::SeqCst);
    let finished = store.get("run-2").unwrap().unwrap();
    for attempt in [
        run.checkpoint("rows", Some(b"[6]".to_vec())),
        run.interrupt(),
        run.complete(),
        run.record(Progress::default(), false),
    ] {
        let error = attempt.unwrap_err();
        assert!(error.to_string().contains("already completed"), "{error}");
    }
    assert_eq!(writes.load(Ordering::SeqCst), before);
    assert_eq!(store.get("run-2").unwrap().unwrap(), finished);
}

#[test]
fn under_step_boundaries_cursor_moves_wait_for_a_boundary_or_an_interrupt() {
    let (store, writes) = store(Durability::StepBoundaries);
    let run = Run::begin(Arc::clone(&store), "run-3", "ImportJob").unwrap();
    run.checkpoint("rows", None).unwrap();
    let after_start = writes.load(Ordering::SeqCst);
    for i in 1..=20 {
        run.checkpoint("rows", Some(format!("[{i}]").into_bytes()))
            .unwrap();
    }
    assert_eq!(writes.load(Ordering::SeqCst), after_start);
    run.interrupt().unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), after_start + 1);
    let stored = store.get("run-3").unwrap().unwrap();
    assert_eq!(stored.progress.current, at("rows", b"[20]"));
}

#[test]
fn a_resumed_execution_starts_from_the_stored_progress() {
    let (store, writes) = store(Durability::EveryCheckpoint);
    let first = Run::begin(Arc::clone(&store), "run-4", "ImportJob").unwrap();
    let stored = Progress {
        completed: vec!["validate".into()],
        current: at("rows", b"[433]"),
    };
    first.record(stored.clone(), false).unwrap();

    let second = Run::begin(Arc::clone(&store), "run-4", "ImportJob").unwrap();
    assert_eq!(second.progress(), stored);
    assert_eq!(second.resumed_from().progress, stored);
    let before = writes.load(Ordering::SeqCst);
    second.record(stored, false).unwrap();
    assert_eq!(
        writes.load(Ordering::SeqCst),
        before,
        "resuming where the store is writes nothing"
    );

    let error = first
        .checkpoint("rows", Some(b"[434]".to_vec()))
        .unwrap_err();
    assert!(matches!(error, StoreError::Stale { .. }), "{error}");
    assert_eq!(
        store.get("run-4").unwrap().unwrap().progress.current,
        at("rows", b"[433]")
    );
}
