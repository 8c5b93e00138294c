//! The store over SQLite: the shared cases, bad files and directories, and
//! crash tests (a child process SIGKILLed mid-run under each policy).

#[macro_use]
mod store_cases;

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use holdfast::store::{
    Checkpoint, Current, Durability, Progress, SqliteOptions, Store, StoreError, StoreOptions,
    Synchronous,
};
use store_cases::{job, Opener};

fn with_store(test: impl FnOnce(&Opener)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("continuations.sqlite3");
    let open =
        |options: StoreOptions| Store::sqlite(&path, &SqliteOptions::default(), options).unwrap();
    test(&Opener {
        open: &open,
        again: Some(&open),
    });
}

shared_cases!(with_store; lifecycle, a_stale_execution_writes_nothing, limits_refuse_and_write_nothing,
    list_and_prune, interval_writes_behind, step_boundaries_keep_cursor_moves_in_memory,
    a_completed_job_is_not_redone_unless_restarted,
    tokens_never_go_back_across_discard_and_prune);

#[test]
fn fencing_race() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.sqlite3");
    // Synchronous NORMAL: the race is about ordering, not fsync speed.
    let sqlite = SqliteOptions {
        synchronous: Synchronous::Normal,
        ..SqliteOptions::default()
    };
    let open = |options: StoreOptions| Store::sqlite(&path, &sqlite, options).unwrap();
    store_cases::fencing_race(
        &Opener {
            open: &open,
            again: None,
        },
        1500,
    );
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    let text = "these are my notes, not a database\n".repeat(200);
    std::fs::write(&path, &text).unwrap();
    let error = Store::sqlite(&path, &SqliteOptions::default(), StoreOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(error, StoreError::NotADatabase { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "SQLite store {} is not a Holdfast store",
            path.display()
        )),
        "{message}"
    );
    assert!(
        message.contains("point the store at a new file"),
        "{message}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn a_directory_it_cannot_write_gives_a_clear_error() {
    // Root writes through permission bits, so as root use a file system
    // that takes no new files at all.
    let (_keep, dir): (Option<tempfile::TempDir>, PathBuf) = if running_as_root() {
        (None, PathBuf::from("/proc"))
    } else {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("read-only");
        std::fs::create_dir(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o555)).unwrap();
        (Some(temp), path)
    };
    let path = dir.join("store.sqlite3");
    let error = Store::sqlite(&path, &SqliteOptions::default(), StoreOptions::default())
        .err()
        .unwrap();
    let message = error.to_string();
    assert!(matches!(error, StoreError::Io { .. }), "{error:?}");
    assert!(
        message.starts_with(&format!("SQLite store {}", path.display())),
        "{message}"
    );
    assert!(
        message.contains("writable") || message.contains("may write"),
        "{message}"
    );

    let missing = Path::new("/nonexistent-holdfast-dir/store.sqlite3");
    let message = Store::sqlite(missing, &SqliteOptions::default(), StoreOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        message.contains("the directory /nonexistent-holdfast-dir does not exist"),
        "{message}"
    );
}

// ---- Crash tests -------------------------------------------------------
//
// The child (this test binary, re-run with HOLDFAST_CRASH_CHILD set) begins
// an execution, resumes from the stored cursor, and checkpoints n = n + 1
// forever, printing each n once its checkpoint returned; every 100th is a
// step boundary. The parent SIGKILLs it after a random number of acks and
// checks what the policy promises against what the child acknowledged.

const STEP: u64 = 100;

fn progress(n: u64) -> Progress {
    Progress {
        completed: (0..n / STEP).map(|s| format!("s{s}")).collect(),
        current: Some(Current {
            step: format!("s{}", n / STEP),
            cursor: Some(n.to_string().into_bytes()),
        }),
    }
}

fn cursor_of(store: &Store) -> u64 {
    match store.get("crash-job").unwrap() {
        Some(record) => match record.progress.current {
            Some(Current {
                cursor: Some(c), ..
            }) => String::from_utf8(c).unwrap().parse().unwrap(),
            _ => 0,
        },
        None => 0,
    }
}

#[test]
fn crash_child() {
    let Ok(path) = std::env::var("HOLDFAST_CRASH_CHILD") else {
        return;
    };
    let durability =
        Durability::parse(&std::env::var("HOLDFAST_CRASH_DURABILITY").unwrap()).unwrap();
    let options = StoreOptions {
        durability,
        ..StoreOptions::default()
    };
    let store = Store::sqlite(&path, &SqliteOptions::default(), options).unwrap();
    let mut n = cursor_of(&store);
    let execution = store.begin_execution("crash-job", "CrashJob").unwrap();
    let mut out = std::io::stdout().lock();
    loop {
        n += 1;
        let kind = if n.is_multiple_of(STEP) {
            Checkpoint::StepBoundary
        } else {
            Checkpoint::Cursor
        };
        store.checkpoint(&execution, progress(n), kind).unwrap();
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
    }
}

/// A small deterministic generator, so a failing cycle can be replayed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn crash_cycles(durability: &str, cycles: usize, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.sqlite3");
    let mut rng = Rng(seed);
    let interval = Durability::parse(durability).unwrap();
    for cycle in 0..cycles {
        let kill_after = 1 + rng.below(400);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("HOLDFAST_CRASH_CHILD", &path)
            .env("HOLDFAST_CRASH_DURABILITY", durability)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acks: Vec<(u64, Instant)> = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("ack ") {
                acks.push((n.parse().unwrap(), Instant::now()));
                if acks.len() as u64 == kill_after {
                    break;
                }
            }
        }
        child.kill().unwrap();
        let killed_at = Instant::now();
        child.wait().unwrap();
        // Acks already in the pipe were acknowledged before the kill too.
        for line in lines {
            if let Some(n) = line.unwrap().strip_prefix("ack ") {
                acks.push((n.parse().unwrap(), killed_at));
            }
        }
        let Some(&(last_ack, _)) = acks.last() else {
            panic!("cycle {cycle}: the child acknowledged nothing");
        };

        let integrity: String = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok", "cycle {cycle}: the file is damaged");
        let store =
            Store::sqlite(&path, &SqliteOptions::default(), StoreOptions::default()).unwrap();
        let stored = cursor_of(&store);
        let context = format!(
            "{durability} cycle {cycle} (seed {seed}): stored {stored}, last ack {last_ack}"
        );
        assert!(
            stored <= last_ack + 1,
            "{context}: more than was ever attempted"
        );
        let promised = match interval {
            Durability::EveryCheckpoint => last_ack,
            Durability::StepBoundaries => last_ack / STEP * STEP,
            Durability::Interval(every) => {
                // Acked more than an interval (plus a flush's time) before
                // the kill: on disk. Step boundaries: always.
                let slack = every + Duration::from_millis(500);
                let aged = acks
                    .iter()
                    .rev()
                    .find(|(_, at)| killed_at.duration_since(*at) > slack)
                    .map_or(0, |(n, _)| *n);
                aged.max(last_ack / STEP * STEP)
            }
        };
        assert!(
            stored >= promised,
            "{context}: lost progress the policy promised to keep (at least {promised})"
        );
        drop(store);
    }
}

#[test]
fn crash_every_checkpoint_loses_nothing_acknowledged() {
    crash_cycles("every_checkpoint", 12, 0x9E37_79B9_7F4A_7C15);
}

#[test]
fn crash_interval_loses_at_most_the_interval() {
    crash_cycles("interval:50", 12, 0xD1B5_4A32_D192_ED03);
}

#[test]
fn crash_step_boundaries_loses_at_most_the_current_steps_moves() {
    crash_cycles("step_boundaries", 12, 0x94D0_49BB_1331_11EB);
}

#[test]
fn the_store_reports_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.sqlite3");
    let store = Store::sqlite(&path, &SqliteOptions::default(), StoreOptions::default()).unwrap();
    assert_eq!(store.location(), format!("SQLite store {}", path.display()));
    let e = store.begin_execution(&job("closed"), "Job").unwrap();
    store.close().unwrap();
    let error = store
        .checkpoint(&e, progress(1), Checkpoint::Cursor)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "SQLite store {} is closed; open the store again to use it",
            path.display()
        )
    );
}

#[test]
fn a_new_store_and_its_wal_and_shm_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.sqlite3");
    let store = Store::sqlite(&path, &SqliteOptions::default(), StoreOptions::default()).unwrap();
    let e = store.begin_execution(&job("private"), "Job").unwrap();
    store
        .checkpoint(&e, store_cases::at("s", b"1", &[]), Checkpoint::Cursor)
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
    }
    // A file the operator made keeps the mode they chose.
    let shared = dir.path().join("shared.sqlite3");
    std::fs::write(&shared, b"").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
    drop(Store::sqlite(&shared, &SqliteOptions::default(), StoreOptions::default()).unwrap());
    let mode = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}
