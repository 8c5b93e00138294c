//! Store throughput and latency, side by side with what bounds them:
//!
//! - raw `fdatasync` rate on the same disk (an 8-byte write + fdatasync);
//! - SQLite `every_checkpoint`: one job checkpointing in a loop (target:
//!   at least 80% of the raw fdatasync rate);
//! - SQLite `interval(100)`: 64 threads, one job each (target: 200k/s);
//! - PostgreSQL under both (when HOLDFAST_TEST_POSTGRES_URL is set; note
//!   the throwaway test server runs with fsync=off);
//! - `get` latency with 1M records (target: p99 at most 1 ms).
//!
//! Run: cargo bench -p holdfast --bench store   (BENCH_SECONDS=3 by default)
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use holdfast::store::{
    Checkpoint, Current, Durability, PostgresOptions, Progress, SqliteOptions, Store, StoreOptions,
};

fn seconds() -> Duration {
    Duration::from_secs_f64(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3.0),
    )
}

fn progress(n: u64) -> Progress {
    Progress {
        completed: vec!["validate".into()],
        current: Some(Current {
            step: "process".into(),
            cursor: Some(n.to_string().into_bytes()),
        }),
    }
}

fn raw_fdatasync(dir: &std::path::Path) -> f64 {
    let path = dir.join("fdatasync.bin");
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let deadline = Instant::now() + seconds();
    let start = Instant::now();
    let mut n = 0u64;
    while Instant::now() < deadline {
        file.write_all_at(&n.to_le_bytes(), 0).unwrap();
        file.sync_data().unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// One job, checkpoints in a loop.
fn sequential(store: &Store, job: &str) -> f64 {
    let e = store.begin_execution(job, "BenchJob").unwrap();
    store
        .checkpoint(&e, progress(0), Checkpoint::StepBoundary)
        .unwrap();
    let deadline = Instant::now() + seconds();
    let start = Instant::now();
    let mut n = 1;
    while Instant::now() < deadline {
        store
            .checkpoint(&e, progress(n), Checkpoint::Cursor)
            .unwrap();
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    store.flush().unwrap();
    rate
}

/// `threads` jobs on their own threads, checkpointing as fast as they can.
fn concurrent(store: &Arc<Store>, threads: usize, prefix: &str) -> f64 {
    let total = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, total, stop, barrier) = (
                Arc::clone(store),
                Arc::clone(&total),
                Arc::clone(&stop),
                Arc::clone(&barrier),
            );
            let job = format!("{prefix}-{t}");
            std::thread::spawn(move || {
                let e = store.begin_execution(&job, "BenchJob").unwrap();
                store
                    .checkpoint(&e, progress(0), Checkpoint::StepBoundary)
                    .unwrap();
                barrier.wait();
                let mut n = 1;
                while !stop.load(Ordering::Relaxed) {
                    store
                        .checkpoint(&e, progress(n), Checkpoint::Cursor)
                        .unwrap();
                    n += 1;
                }
                total.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    std::thread::sleep(seconds());
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let rate = total.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    store.flush().unwrap();
    rate
}

fn options(durability: Durability) -> StoreOptions {
    StoreOptions {
        durability,
        ..StoreOptions::default()
    }
}

/// Fills an SQLite store with `count` in-flight records in one transaction
/// (the store's own schema, written directly: a million begins would only
/// measure commits).
fn fill_sqlite(path: &std::path::Path, count: u64) {
    let mut db = rusqlite::Connection::open(path).unwrap();
    let tx = db.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO holdfast_continuations (job_id, job_class, completed_steps, current_step, cursor, \
                 resumptions, token, created_at, updated_at, completed_at) \
                 VALUES (?1, 'BenchJob', '[\"validate\"]', 'process', ?2, 0, 1, ?3, ?3, NULL)",
            )
            .unwrap();
        for i in 0..count {
            insert
                .execute(rusqlite::params![
                    format!("job-{i:08}"),
                    i.to_string().into_bytes(),
                    i as i64
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn get_latency(store: &Store, count: u64, prefix: &str) -> (f64, f64) {
    let mut samples = Vec::with_capacity(100_000);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let id = format!("{prefix}{:08}", x % count);
        let start = Instant::now();
        let record = store.get(&id).unwrap();
        samples.push(start.elapsed());
        assert!(record.is_some(), "{id} missing");
    }
    samples.sort();
    let at = |q: f64| {
        samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1e6
    };
    (at(0.5), at(0.99))
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    // The build's disk, unless BENCH_DIR says where to measure.
    let base =
        std::env::var("BENCH_DIR").unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").to_owned());
    let dir = tempfile::tempdir_in(base).unwrap();
    let mut out = std::io::stdout().lock();
    let raw = raw_fdatasync(dir.path());
    writeln!(
        out,
        "raw fdatasync (8-byte write + fdatasync)       {raw:>12.0} /s"
    )
    .unwrap();

    let sqlite = Store::sqlite(
        dir.path().join("every.sqlite3"),
        &SqliteOptions::default(),
        options(Durability::EveryCheckpoint),
    )
    .unwrap();
    let every = sequential(&sqlite, "every");
    writeln!(out, "SQLite every_checkpoint, 1 job                {every:>12.0} /s   {:.0}% of raw fdatasync (target >= 80%)", every / raw * 100.0).unwrap();
    drop(sqlite);

    let sqlite = Arc::new(
        Store::sqlite(
            dir.path().join("every64.sqlite3"),
            &SqliteOptions::default(),
            options(Durability::EveryCheckpoint),
        )
        .unwrap(),
    );
    let every64 = concurrent(&sqlite, 64, "every64");
    writeln!(
        out,
        "SQLite every_checkpoint, 64 jobs (group commit) {every64:>11.0} /s   {:.1}x the raw fdatasync rate",
        every64 / raw
    )
    .unwrap();
    drop(sqlite);

    let sqlite = Arc::new(
        Store::sqlite(
            dir.path().join("interval.sqlite3"),
            &SqliteOptions::default(),
            options(Durability::Interval(Duration::from_millis(100))),
        )
        .unwrap(),
    );
    let interval = concurrent(&sqlite, 64, "interval");
    writeln!(
        out,
        "SQLite interval(100), 64 jobs on 64 threads   {interval:>12.0} /s   (target >= 200,000)"
    )
    .unwrap();
    drop(sqlite);

    if let Ok(url) = std::env::var("HOLDFAST_TEST_POSTGRES_URL") {
        let table = |name: &str| PostgresOptions {
            table: format!("bench_{name}_{}", std::process::id()),
            ..PostgresOptions::default()
        };
        let pg =
            Store::postgres(&url, &table("every"), options(Durability::EveryCheckpoint)).unwrap();
        let every = sequential(&pg, "every");
        writeln!(
            out,
            "PostgreSQL every_checkpoint, 1 job            {every:>12.0} /s   (server: {})",
            fsync_setting(&url)
        )
        .unwrap();
        drop(pg);
        let pg = Arc::new(
            Store::postgres(
                &url,
                &table("interval"),
                options(Durability::Interval(Duration::from_millis(100))),
            )
            .unwrap(),
        );
        let interval = concurrent(&pg, 64, "interval");
        writeln!(
            out,
            "PostgreSQL interval(100), 64 jobs             {interval:>12.0} /s"
        )
        .unwrap();
        drop(pg);
        let pg = Store::postgres(&url, &table("get"), StoreOptions::default()).unwrap();
        fill_postgres(
            &url,
            &format!("bench_get_{}", std::process::id()),
            1_000_000,
        );
        let (p50, p99) = get_latency(&pg, 1_000_000, "job-");
        writeln!(
            out,
            "PostgreSQL get, 1M records                    p50 {p50:.0} us, p99 {p99:.0} us"
        )
        .unwrap();
        drop(pg);
        drop_bench_tables(&url);
    } else {
        writeln!(out, "PostgreSQL: not measured (set HOLDFAST_TEST_POSTGRES_URL, e.g. $(bin/test-postgres start))").unwrap();
    }

    let path = dir.path().join("million.sqlite3");
    drop(Store::sqlite(&path, &SqliteOptions::default(), StoreOptions::default()).unwrap());
    fill_sqlite(&path, 1_000_000);
    let store = Store::sqlite(&path, &SqliteOptions::default(), StoreOptions::default()).unwrap();
    let (p50, p99) = get_latency(&store, 1_000_000, "job-");
    writeln!(out, "SQLite get, 1M records                        p50 {p50:.0} us, p99 {p99:.0} us   (target p99 <= 1000 us)").unwrap();
}

fn fill_postgres(url: &str, table: &str, count: u64) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .execute(
            &format!(
                "INSERT INTO \"{table}\" (job_id, job_class, completed_steps, current_step, cursor, resumptions, token, created_at, updated_at) \
                 SELECT 'job-' || lpad(i::text, 8, '0'), 'BenchJob', '[\"validate\"]', 'process', convert_to(i::text, 'UTF8'), 0, 1, i, i \
                 FROM generate_series(0::bigint, $1::bigint - 1) AS i"
            ),
            &[&(count as i64)],
        )
        .unwrap();
    client
        .execute(&format!("ANALYZE \"{table}\""), &[])
        .unwrap();
}

fn fsync_setting(url: &str) -> String {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let fsync: String = client.query_one("SHOW fsync", &[]).unwrap().get(0);
    format!("fsync={fsync}")
}

fn drop_bench_tables(url: &str) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let pid = std::process::id();
    for name in ["every", "interval", "get"] {
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS \"bench_{name}_{pid}\""))
            .unwrap();
    }
}
