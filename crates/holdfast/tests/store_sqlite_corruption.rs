//! A damaged SQLite store is an error that names the file (and the job,
//! when one record is hit); it never returns altered progress, and no record
//! vanishes without an error. SQLite has no page checksums: these tests
//! damage files the way disks and stray writers do and check what comes out.

use std::path::Path;

use holdfast::store::{
    Checkpoint, Current, ListQuery, Progress, Record, SqliteOptions, State, Store, StoreError,
    StoreOptions,
};

fn progress(i: usize) -> Progress {
    Progress {
        completed: vec!["download".into()],
        current: Some(Current {
            step: "import".into(),
            cursor: Some(format!("[{}]", 1000 + i * 7).into_bytes()),
        }),
    }
}

fn open(path: &Path) -> Result<Store, StoreError> {
    Store::sqlite(path, &SqliteOptions::default(), StoreOptions::default())
}

/// A store of `jobs` in-flight records, closed (its WAL folded into the
/// file); returns the records as written.
fn written(path: &Path, jobs: usize) -> Vec<Record> {
    let store = open(path).unwrap();
    for i in 0..jobs {
        let e = store
            .begin_execution(&format!("job-{i:04}"), "ImportJob")
            .unwrap();
        store
            .checkpoint(&e, progress(i), Checkpoint::Cursor)
            .unwrap();
    }
    let records = (0..jobs)
        .map(|i| store.get(&format!("job-{i:04}")).unwrap().unwrap())
        .collect();
    store.close().unwrap();
    drop(store);
    assert!(!path.with_extension("sqlite3-wal").exists());
    records
}

/// Every record, or the first damaged entry's error.
fn all(store: &Store) -> Result<Vec<Record>, StoreError> {
    store
        .list(&ListQuery {
            state: State::Any,
            job_class: None,
            limit: usize::MAX,
            newest_first: false,
        })?
        .into_iter()
        .collect()
}

#[test]
fn a_record_changed_behind_the_stores_back_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let records = written(&path, 3);
    let raw = rusqlite::Connection::open(&path).unwrap();
    // What a flipped bit in the cursor does: the row still parses.
    raw.execute(
        "UPDATE holdfast_continuations SET cursor = X'5b313030315d' WHERE job_id = 'job-0001'",
        [],
    )
    .unwrap();
    drop(raw);
    let store = open(&path).unwrap();
    let error = store.get("job-0001").unwrap_err();
    assert!(
        matches!(&error, StoreError::Corrupt { job_id: Some(id), .. } if id == "job-0001"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "SQLite store {}: the record of job \"job-0001\" is corrupt",
            path.display()
        )),
        "{message}"
    );
    assert!(
        message.contains("Restore the file from a backup"),
        "{message}"
    );
    assert_eq!(store.get("job-0000").unwrap().as_ref(), Some(&records[0]));
    assert!(matches!(all(&store), Err(StoreError::Corrupt { .. })));
    // A new execution does not build on it, nor overwrite it.
    assert!(matches!(
        store.begin_execution("job-0001", "ImportJob"),
        Err(StoreError::Corrupt { .. })
    ));
    let raw = rusqlite::Connection::open(&path).unwrap();
    let token: i64 = raw
        .query_row(
            "SELECT token FROM holdfast_continuations WHERE job_id = 'job-0001'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(token as u64, records[1].token);
}

/// What one damaged copy of the file gives: `Ok(counts)` of records read
/// intact and refused as corrupt, or the error the open gave.
fn outcome(path: &Path, records: &[Record]) -> Result<(usize, usize), StoreError> {
    let store = open(path)?;
    let (mut intact, mut refused, mut missing) = (0, 0, Vec::new());
    for record in records {
        match store.get(&record.job_id) {
            Ok(Some(read)) => {
                assert_eq!(
                    &read,
                    record,
                    "altered progress returned from {}",
                    path.display()
                );
                intact += 1;
            }
            Ok(None) => missing.push(record.job_id.clone()),
            Err(StoreError::Corrupt { .. }) => refused += 1,
            Err(other) => panic!("not a corruption error: {other:?}"),
        }
    }
    match all(&store) {
        Ok(listed) => {
            assert!(
                missing.is_empty(),
                "records vanished without an error: {missing:?}"
            );
            for read in &listed {
                assert!(records.contains(read), "altered record listed: {read:?}");
            }
        }
        Err(StoreError::Corrupt { .. }) => {}
        Err(other) => panic!("not a corruption error: {other:?}"),
    }
    Ok((intact, refused))
}

fn damaged(
    original: &[u8],
    dir: &Path,
    name: &str,
    damage: impl FnOnce(&mut Vec<u8>),
) -> std::path::PathBuf {
    let mut bytes = original.to_vec();
    damage(&mut bytes);
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn damaged_files_never_give_altered_or_vanished_progress() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let records = written(&path, 300);
    let original = std::fs::read(&path).unwrap();
    let pages = original.len() / 4096;
    let mut random = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    let (mut refused_at_open, mut refused_records, mut harmless) = (0, 0, 0);
    let mut check = |path: &Path| match outcome(path, &records) {
        Ok((intact, 0)) if intact == records.len() => harmless += 1,
        Ok((_, refused)) => refused_records += refused.max(1),
        Err(error) => {
            assert!(
                matches!(
                    error,
                    StoreError::Corrupt { .. } | StoreError::NotADatabase { .. }
                ),
                "{error:?}"
            );
            assert!(
                error.to_string().contains(&path.display().to_string()),
                "{error}"
            );
            refused_at_open += 1;
        }
    };
    // One flipped bit in every page, ten times over, at random offsets.
    for round in 0..10 {
        for page in 0..pages {
            let offset = page * 4096 + (next() % 4096) as usize;
            let copy = damaged(
                &original,
                dir.path(),
                &format!("flip-{round}-{page}.sqlite3"),
                |b| b[offset] ^= 1 << (next() % 8),
            );
            check(&copy);
        }
    }
    // 4 KiB of random bytes over a page in the middle.
    for page in [pages / 3, pages / 2, 2 * pages / 3] {
        let copy = damaged(
            &original,
            dir.path(),
            &format!("garbage-{page}.sqlite3"),
            |b| {
                for byte in &mut b[page * 4096..(page + 1) * 4096] {
                    *byte = next() as u8;
                }
            },
        );
        check(&copy);
    }
    eprintln!(
        "{pages} pages: {refused_at_open} damaged copies refused at open, {refused_records} with records refused, {harmless} harmless"
    );
    assert!(refused_at_open + refused_records > 0);
}

#[test]
fn a_store_from_before_checksums_is_sealed_when_opened_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema1.sqlite3");
    let raw = rusqlite::Connection::open(&path).unwrap();
    // The schema Holdfast wrote before records had checksums (version 1).
    raw.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE holdfast_continuations (
           job_id TEXT PRIMARY KEY NOT NULL, job_class TEXT NOT NULL,
           completed_steps TEXT NOT NULL, current_step TEXT, cursor BLOB,
           resumptions INTEGER NOT NULL, token INTEGER NOT NULL,
           created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, completed_at INTEGER
         ) WITHOUT ROWID;
         CREATE INDEX holdfast_continuations_by_update ON holdfast_continuations (completed_at, updated_at);
         INSERT INTO holdfast_continuations VALUES
           ('old-job', 'ImportJob', '[\"download\"]', 'import', X'5b34325d', 0, 3, 1000, 2000, NULL);
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(raw);
    let store = open(&path).unwrap();
    let record = store.get("old-job").unwrap().unwrap();
    assert_eq!(record.progress.current.unwrap().cursor.unwrap(), b"[42]");
    assert_eq!(record.token, 3);
    let e = store.begin_execution("old-job", "ImportJob").unwrap();
    assert_eq!(e.token, 4);
    assert_eq!(e.record.resumptions, 1);
    drop(store);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 4);
}
