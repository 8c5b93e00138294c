//! Read-only means read-only, and another program's database is never
//! touched: a database that is not a Holdfast store is refused, for reads
//! and writes alike, and left byte for byte as it was; a 0-byte or missing
//! file is never turned into a store by a read. Also: a damaged record
//! stays local (listed as damaged, skipped by recovery), and a writer
//! paused while holding the write lock makes others wait, not fail.

use std::path::Path;
use std::time::Duration;

use holdfast::store::{
    Checkpoint, Current, ListQuery, Progress, SqliteOptions, State, Store, StoreError, StoreOptions,
};

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn siblings(path: &Path) -> Vec<bool> {
    ["-wal", "-shm"]
        .iter()
        .map(|s| Path::new(&format!("{}{s}", path.display())).exists())
        .collect()
}

fn open(path: &Path) -> Result<Store, StoreError> {
    Store::sqlite(path, &SqliteOptions::default(), StoreOptions::default())
}

fn open_read_only(path: &Path) -> Result<Store, StoreError> {
    Store::sqlite_read_only(path, &SqliteOptions::default(), StoreOptions::default())
}

fn progress(cursor: &str) -> Progress {
    Progress {
        completed: vec![],
        current: Some(Current {
            step: "s".to_owned(),
            cursor: Some(cursor.as_bytes().to_vec()),
        }),
    }
}

#[test]
fn another_programs_database_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str); 3] = [
        ("app.db", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'a');"),
        ("versioned.db", "PRAGMA user_version = 7;"),
        ("other-app.db", "PRAGMA application_id = 1234; CREATE TABLE holdfast_continuations (x);"),
    ];
    for (name, sql) in cases {
        let path = dir.path().join(name);
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(sql).unwrap();
        drop(raw);
        let before = bytes(&path);
        for read_only in [true, false] {
            let error = if read_only {
                open_read_only(&path)
            } else {
                open(&path)
            }
            .err()
            .unwrap_or_else(|| panic!("{name} opened"));
            assert!(
                matches!(error, StoreError::NotADatabase { .. }),
                "{name}: {error:?}"
            );
            assert!(
                error.to_string().contains("not a Holdfast store"),
                "{name}: {error}"
            );
            assert_eq!(
                bytes(&path),
                before,
                "{name} changed (read_only {read_only})"
            );
            assert_eq!(siblings(&path), [false, false], "{name}: -wal/-shm made");
        }
        let mode: String = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete", "{name} was switched to WAL");
    }
}

#[test]
fn a_read_never_creates_migrates_or_switches_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sqlite3");
    assert!(open_read_only(&missing).is_err());
    assert!(!missing.exists(), "a read created the file");

    let empty = dir.path().join("empty.sqlite3");
    std::fs::write(&empty, b"").unwrap();
    let error = open_read_only(&empty).err().unwrap();
    assert!(error.to_string().contains("empty"), "{error}");
    assert_eq!(
        bytes(&empty),
        b"",
        "a read wrote a schema into a 0-byte file"
    );

    // A real store, read: the file is unchanged and writes are refused.
    let path = dir.path().join("store.sqlite3");
    let store = open(&path).unwrap();
    let e = store.begin_execution("job-1", "Job").unwrap();
    store
        .checkpoint(&e, progress("1"), Checkpoint::Interrupt)
        .unwrap();
    store.close().unwrap();
    drop(store);
    let before = bytes(&path);
    let reader = open_read_only(&path).unwrap();
    assert_eq!(
        reader.get("job-1").unwrap().unwrap().progress,
        progress("1")
    );
    assert_eq!(reader.list(&ListQuery::default()).unwrap().len(), 1);
    let refused = reader.begin_execution("job-2", "Job").unwrap_err();
    assert!(refused.to_string().contains("read-only"), "{refused}");
    assert!(reader.claim_orphans(10).is_err());
    drop(reader);
    assert_eq!(bytes(&path), before, "a read changed the store");
}

#[test]
fn a_damaged_record_is_listed_as_damaged_and_skipped_by_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.sqlite3");
    let options = StoreOptions {
        lease: Duration::from_secs(1),
        ..StoreOptions::default()
    };
    let store = Store::sqlite(&path, &SqliteOptions::default(), options.clone()).unwrap();
    for id in ["a-healthy", "b-damaged", "c-healthy"] {
        let e = store.begin_execution_with(id, "Job", Some("{}")).unwrap();
        store
            .checkpoint(&e, progress("5"), Checkpoint::Interrupt)
            .unwrap();
        store.forget(&e);
    }
    store.close().unwrap();
    drop(store);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE holdfast_continuations SET cursor = X'39' WHERE job_id = 'b-damaged'",
        [],
    )
    .unwrap();
    drop(raw);

    let store = Store::sqlite(&path, &SqliteOptions::default(), options).unwrap();
    assert!(matches!(
        store.get("b-damaged"),
        Err(StoreError::Corrupt { .. })
    ));
    let listed = store
        .list(&ListQuery {
            state: State::Any,
            ..ListQuery::default()
        })
        .unwrap();
    let healthy: Vec<String> = listed
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.job_id.clone())
        .collect();
    assert_eq!(healthy.len(), 2, "{listed:?}");
    assert!(listed.iter().any(
        |r| matches!(r, Err(StoreError::Corrupt { job_id: Some(id), .. }) if id == "b-damaged")
    ));

    std::thread::sleep(Duration::from_millis(1100));
    // A limit of one: the damaged record, first by lease, does not hold
    // the healthy ones back.
    let mut claimed = Vec::new();
    let mut damaged = 0;
    for _ in 0..3 {
        let swept = store.claim_orphans(1).unwrap();
        damaged += swept.damaged.len();
        claimed.extend(swept.claimed.into_iter().map(|c| c.job_id));
    }
    claimed.sort();
    assert_eq!(claimed, ["a-healthy", "c-healthy"]);
    assert!(damaged >= 1, "the damaged record was not reported");
    // Never altered: still damaged, never claimed.
    assert!(matches!(
        store.get("b-damaged"),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn a_paused_writer_makes_others_wait_not_fail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paused.sqlite3");
    let sqlite = SqliteOptions {
        busy_timeout: Duration::from_millis(200),
        ..SqliteOptions::default()
    };
    let options = StoreOptions {
        lease: Duration::from_secs(5),
        ..StoreOptions::default()
    };
    let store = Store::sqlite(&path, &sqlite, options).unwrap();
    let e = store.begin_execution("job-1", "Job").unwrap();
    // Another process takes the write lock and stops inside its commit.
    let paused = rusqlite::Connection::open(&path).unwrap();
    paused.execute_batch("BEGIN IMMEDIATE").unwrap();
    // A sweep cannot get the lock: Busy, so the sweeper skips this round.
    let error = store.claim_orphans(10).unwrap_err();
    assert!(matches!(error, StoreError::Busy { .. }), "{error:?}");
    // A checkpoint waits past busy_timeout and lands once the writer goes on.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            tx.send(store.checkpoint(&e, progress("7"), Checkpoint::Interrupt))
                .unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(800)).is_err(),
            "the checkpoint returned while the lock was held"
        );
        paused.execute_batch("COMMIT").unwrap();
        let outcome = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("still waiting");
        assert!(outcome.is_ok(), "{outcome:?}");
    });
    assert_eq!(store.get("job-1").unwrap().unwrap().progress, progress("7"));
}
