//! The store over PostgreSQL, against the throwaway server bin/test starts
//! (bin/test-postgres). These tests fail, never skip, without it:
//! HOLDFAST_TEST_POSTGRES_URL names the server and
//! HOLDFAST_TEST_POSTGRES_RESTART the command that restarts it.

mod store_cases;

use holdfast::store::{PostgresOptions, Store, StoreError, StoreOptions};
use store_cases::Opener;

fn url() -> String {
    std::env::var("HOLDFAST_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "HOLDFAST_TEST_POSTGRES_URL is not set: the PostgreSQL tests need a server. \
             Run bin/test, or `export HOLDFAST_TEST_POSTGRES_URL=$(bin/test-postgres start)` \
             and HOLDFAST_TEST_POSTGRES_RESTART=\"$PWD/bin/test-postgres restart\""
        )
    })
}

fn open(options: StoreOptions) -> Store {
    Store::postgres(&url(), &PostgresOptions::default(), options).unwrap()
}

fn opener() -> Opener<'static> {
    Opener {
        open: &open,
        again: Some(&open),
    }
}

#[test]
fn lifecycle() {
    store_cases::lifecycle(&opener());
}

#[test]
fn a_stale_execution_writes_nothing() {
    store_cases::a_stale_execution_writes_nothing(&opener());
}

#[test]
fn limits_refuse_and_write_nothing() {
    store_cases::limits_refuse_and_write_nothing(&opener());
}

#[test]
fn list_and_prune() {
    // Its own table: prune(None) deletes every completed record.
    let table = format!("holdfast_prune_{}", std::process::id());
    let open = |options: StoreOptions| {
        let pg = PostgresOptions {
            table: table.clone(),
            ..PostgresOptions::default()
        };
        Store::postgres(&url(), &pg, options).unwrap()
    };
    store_cases::list_and_prune(&Opener {
        open: &open,
        again: None,
    });
}

#[test]
fn interval_writes_behind() {
    store_cases::interval_writes_behind(&opener());
}

#[test]
fn step_boundaries_keep_cursor_moves_in_memory() {
    store_cases::step_boundaries_keep_cursor_moves_in_memory(&opener());
}

#[test]
fn fencing_race() {
    store_cases::fencing_race(&opener(), 1000);
}

#[test]
fn errors_name_the_server_but_never_the_password() {
    let bad = "postgres://app:hunter2@127.0.0.1:1/jobs?connect_timeout=2";
    let error = Store::postgres(bad, &PostgresOptions::default(), StoreOptions::default())
        .err()
        .unwrap();
    let message = error.to_string();
    assert!(matches!(error, StoreError::Io { .. }), "{error:?}");
    assert!(
        message.starts_with("PostgreSQL store postgres://app:***@127.0.0.1:1/jobs"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");

    let error = Store::postgres(
        "mysql://x",
        &PostgresOptions::default(),
        StoreOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        error.contains("is not a PostgreSQL connection string"),
        "{error}"
    );
}

#[test]
fn table_names_are_checked() {
    let pg = PostgresOptions {
        table: "jobs; DROP TABLE x".into(),
        ..PostgresOptions::default()
    };
    let error = Store::postgres(&url(), &pg, StoreOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("is not allowed: use 1 to 63 letters, digits and underscores"),
        "{error}"
    );
}

#[test]
fn a_completed_job_run_again_starts_over() {
    store_cases::a_completed_job_run_again_starts_over(&opener());
}
