//! The store over PostgreSQL, against the throwaway server bin/test starts
//! (bin/test-postgres). These tests fail, never skip, without it:
//! HOLDFAST_TEST_POSTGRES_URL names the server and
//! HOLDFAST_TEST_POSTGRES_RESTART the command that restarts it.

#[macro_use]
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

fn run(case: fn(&Opener)) {
    case(&opener());
}

shared_cases!(run; lifecycle, a_stale_execution_writes_nothing, limits_refuse_and_write_nothing,
    interval_writes_behind, step_boundaries_keep_cursor_moves_in_memory, a_completed_job_is_not_redone_unless_restarted,
    tokens_never_go_back_across_discard_and_prune);

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

/// A write the server refuses (here a trigger refuses one job's writes)
/// fails that job's next checkpoint alone; the other jobs in the same
/// write-behind batch are committed.
#[test]
fn one_refused_write_fails_alone_in_its_batch() {
    use holdfast::store::{Checkpoint, Current, Durability, Progress};
    use std::time::Duration;

    let table = format!("holdfast_poison_{}", std::process::id());
    let pg = PostgresOptions {
        table: table.clone(),
        ..PostgresOptions::default()
    };
    let options = StoreOptions {
        durability: Durability::Interval(Duration::from_secs(3600)),
        ..StoreOptions::default()
    };
    let store = Store::postgres(&url(), &pg, options).unwrap();
    let mut admin = postgres::Client::connect(&url(), postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "CREATE OR REPLACE FUNCTION {table}_refuse() RETURNS trigger AS $$
             BEGIN
               IF NEW.job_id = 'poisoned' AND NEW.cursor IS NOT NULL THEN
                 RAISE EXCEPTION 'refused for the test';
               END IF;
               RETURN NEW;
             END $$ LANGUAGE plpgsql;
             CREATE TRIGGER {table}_refuse BEFORE UPDATE ON {table}
               FOR EACH ROW EXECUTE FUNCTION {table}_refuse();"
        ))
        .unwrap();
    let at = |cursor: &[u8]| Progress {
        completed: vec![],
        current: Some(Current {
            step: "s".into(),
            cursor: Some(cursor.to_vec()),
        }),
    };
    let poisoned = store.begin_execution("poisoned", "Job").unwrap();
    let healthy = store.begin_execution("healthy", "Job").unwrap();
    // Cursor moves, behind: both land in one batch at the flush.
    store
        .checkpoint(&poisoned, at(b"1"), Checkpoint::Cursor)
        .unwrap();
    store
        .checkpoint(&healthy, at(b"1"), Checkpoint::Cursor)
        .unwrap();
    let flushed = store.flush();
    assert!(
        flushed
            .as_ref()
            .is_err_and(|e| e.to_string().contains("refused for the test")),
        "{flushed:?}"
    );
    let error = store
        .checkpoint(&poisoned, at(b"2"), Checkpoint::Cursor)
        .unwrap_err();
    assert!(
        error.to_string().contains("refused for the test"),
        "{error}"
    );
    store
        .checkpoint(&healthy, at(b"2"), Checkpoint::Cursor)
        .unwrap();
    let reader = Store::postgres(&url(), &pg, StoreOptions::default()).unwrap();
    assert_eq!(
        reader.get("healthy").unwrap().unwrap().progress,
        at(b"1"),
        "the healthy job's write in the poisoned batch was committed"
    );
    // After a failure the refused job's next checkpoint was written at
    // once and its error returned to it, so nothing of it is left pending;
    // the healthy job's progress is committed all the same.
    store.flush().unwrap();
    assert_eq!(reader.get("healthy").unwrap().unwrap().progress, at(b"2"));
    assert_eq!(
        reader.get("poisoned").unwrap().unwrap().progress.current,
        None
    );
    admin
        .batch_execute(&format!(
            "DROP TABLE {table}; DROP FUNCTION {table}_refuse();"
        ))
        .unwrap();
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
