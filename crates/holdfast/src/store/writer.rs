//! The background writer behind `Durability::Interval`: at most once per
//! interval it commits every job's latest pending progress in one
//! transaction (group commit across jobs).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Shared;

pub(super) fn spawn(shared: Arc<Shared>, every: Duration) -> Option<JoinHandle<()>> {
    let spawned = std::thread::Builder::new()
        .name("holdfast-store-writer".to_owned())
        .spawn(move || run(&shared, every));
    match spawned {
        Ok(handle) => Some(handle),
        Err(error) => {
            // Progress still reaches the disk at step boundaries, flush and
            // close; say that the interval writes will not happen.
            eprintln!("holdfast: cannot start the store's writer thread ({error}); pending progress is written on flush and close only");
            None
        }
    }
}

fn run(shared: &Shared, every: Duration) {
    let mut last = Instant::now();
    loop {
        {
            let mut pending = shared.pending.lock();
            loop {
                if pending.stopping {
                    return;
                }
                if pending.dirty.is_empty() {
                    shared.wake.wait(&mut pending);
                    continue;
                }
                let due = last + every;
                if Instant::now() >= due {
                    break;
                }
                shared.wake.wait_until(&mut pending, due);
            }
        }
        last = Instant::now();
        // Failures are recorded per job and returned by its next checkpoint.
        let _ = shared.flush(None);
    }
}
