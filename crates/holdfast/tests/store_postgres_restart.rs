//! PostgreSQL restarting under a running store. Its own test binary: cargo
//! runs binaries one at a time, so the restart cannot hit other tests.

mod store_cases;

use std::process::Command;
use std::sync::Mutex;

use holdfast::store::{Checkpoint, PostgresOptions, Store, StoreOptions};
use store_cases::{at, job};

/// The tests in this binary stop and start the one server: one at a time.
static SERVER: Mutex<()> = Mutex::new(());

fn open(options: StoreOptions) -> Store {
    let url = std::env::var("HOLDFAST_TEST_POSTGRES_URL")
        .expect("HOLDFAST_TEST_POSTGRES_URL is not set: run bin/test, or start bin/test-postgres");
    Store::postgres(&url, &PostgresOptions::default(), options).unwrap()
}

#[test]
fn a_restart_mid_run_is_survived_by_reconnecting() {
    let _server = SERVER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
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

/// `bin/test-postgres stop` / `start`, from the restart command bin/test
/// exports (`.../bin/test-postgres restart`).
fn server(action: &str) {
    let restart = std::env::var("HOLDFAST_TEST_POSTGRES_RESTART")
        .expect("HOLDFAST_TEST_POSTGRES_RESTART is not set (bin/test sets it to `bin/test-postgres restart`)");
    let command = format!(
        "{} {action} >/dev/null",
        restart.trim_end_matches("restart").trim_end()
    );
    let status = Command::new("sh").arg("-c").arg(&command).status().unwrap();
    assert!(status.success(), "{command} failed");
}

#[test]
fn a_stopped_server_gives_clear_errors_loses_nothing_and_leaves_no_stale_error() {
    use holdfast::store::Durability;
    use std::time::Duration;

    let _server = SERVER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let store = open(StoreOptions {
        durability: Durability::Interval(Duration::from_secs(3600)),
        ..StoreOptions::default()
    });
    let ids: Vec<String> = (0..3).map(|i| job(&format!("stopped-{i}"))).collect();
    let executions: Vec<_> = ids
        .iter()
        .map(|id| store.begin_execution(id, "Job").unwrap())
        .collect();
    server("stop");
    for e in &executions {
        store
            .checkpoint(e, at("s", b"1", &[]), Checkpoint::Cursor)
            .unwrap();
    }
    let error = store.flush().unwrap_err();
    assert!(
        error.to_string().contains("PostgreSQL store postgres://"),
        "the error names the store: {error}"
    );
    // Each job learns its progress is not durable, with the store named.
    let error = store
        .checkpoint(&executions[0], at("s", b"2", &[]), Checkpoint::Cursor)
        .unwrap_err();
    assert!(error.to_string().contains("PostgreSQL store"), "{error}");
    // Reads say the server is gone; they never make up an answer.
    assert!(store.get("not-there").is_err());
    server("start");
    for e in &executions {
        store
            .checkpoint(e, at("s", b"3", &[]), Checkpoint::Cursor)
            .unwrap_or_else(|error| panic!("a stale error once the server is back: {error}"));
    }
    store.flush().unwrap();
    let reader = open(StoreOptions::default());
    for id in &ids {
        assert_eq!(
            reader.get(id).unwrap().unwrap().progress,
            at("s", b"3", &[])
        );
    }
}
