//! Uncontended share + unshare of `holdfast::ShareLock` against
//! `parking_lot::RwLock` read + unlock, side by side in one process.
//! `cargo bench -p holdfast --bench share_lock`; prints ns/op and the ratio.

use std::hint::black_box;
use std::time::{Duration, Instant};

use holdfast::ShareLock;

const ROUNDS: u32 = 5;
const ITERATIONS: u32 = 2_000_000;

/// The best of several timed runs, in nanoseconds per operation.
fn best(mut op: impl FnMut()) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..ITERATIONS {
            op();
        }
        best = best.min(start.elapsed());
    }
    best.as_nanos() as f64 / f64::from(ITERATIONS)
}

fn main() {
    let rwlock = parking_lot::RwLock::new(0u64);
    let share_lock = ShareLock::new("bench");
    let owner = 0x7f00_dead_beef_u64;

    let parking = best(|| {
        let guard = rwlock.read();
        black_box(&*guard);
    });
    let holdfast = best(|| {
        let _ = black_box(share_lock.start_sharing(black_box(owner), None));
        black_box(share_lock.stop_sharing(black_box(owner)));
    });
    let reentrant = {
        let _ = share_lock.start_sharing(owner, None);
        let t = best(|| {
            let _ = black_box(share_lock.start_sharing(black_box(owner), None));
            black_box(share_lock.stop_sharing(black_box(owner)));
        });
        share_lock.stop_sharing(owner);
        t
    };

    println!("uncontended, best of {ROUNDS} x {ITERATIONS}");
    println!("  parking_lot::RwLock read + unlock      {parking:7.1} ns");
    println!(
        "  holdfast::ShareLock share + unshare    {holdfast:7.1} ns   ({:.2}x parking_lot)",
        holdfast / parking
    );
    println!(
        "  holdfast::ShareLock nested share       {reentrant:7.1} ns   ({:.2}x parking_lot)",
        reentrant / parking
    );
}
