//! PostgreSQL restarting under a running store. Its own test binary: cargo
//! runs binaries one at a time, so the restart cannot hit other tests.

mod store_cases;

use std::process::Command;

use holdfast::store::{Checkpoint, PostgresOptions, Store, StoreOptions};
use store_cases::{at, job};

fn open(options: StoreOptions) -> Store {
    let url = std::env::var("HOLDFAST_TEST_POSTGRES_URL")
        .expect("HOLDFAST_TEST_POSTGRES_URL is not set: run bin/test, or start bin/test-postgres");
    Store::postgres(&url, &PostgresOptions::default(), options).unwrap()
}

#[test]
fn a_restart_mid_run_is_survived_by_reconnecting() {
    let restart = std::env::var("HOLDFAST_TEST_POSTGRES_RESTART")
        .expect("HOLDFAST_TEST_POSTGRES_RESTART is not set (bin/test sets it to `bin/test-postgres restart`)");
    let store = open(StoreOptions::default());
    let id = job("restart");
    let e = store.begin_execution(&id, "Job").unwrap();
    store
        .checkpoint(&e, at("s", b"1", &[]), Checkpoint::Cursor)
        .unwrap();
    let status = Command::new("sh").arg("-c").arg(&restart).status().unwrap();
    assert!(status.success(), "{restart} failed");
    store
        .checkpoint(&e, at("s", b"2", &[]), Checkpoint::Cursor)
        .unwrap();
    assert_eq!(
        store.get(&id).unwrap().unwrap().progress,
        at("s", b"2", &[])
    );
}
