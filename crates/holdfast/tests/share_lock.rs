//! Rails' ShareLock rules, the deadlock detector and waits, with real
//! threads. "Stuck" means the owner shows up sleeping in the lock's
//! snapshot (a bounded poll of a condition, not a sleep and hope).

use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use holdfast::share_lock::{Diagnostic, OwnerState};
use holdfast::{LockError, Purpose, ShareLock, Wait};

const BOUND: Duration = Duration::from_secs(10);

/// Owner ids are process-wide (the wait-for graph spans every lock), and
/// tests run in parallel: each test takes fresh ones.
fn owners<const N: usize>() -> [u64; N] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1000);
    let base = NEXT.fetch_add(N as u64, Ordering::Relaxed);
    std::array::from_fn(|i| base + i as u64)
}

fn forever() -> Wait<'static> {
    Wait::default()
}

fn load() -> Purpose {
    Purpose::named("load")
}

fn unload() -> Purpose {
    Purpose::named("unload")
}

fn state_of(lock: &ShareLock, owner: u64) -> Option<OwnerState> {
    lock.snapshot().into_iter().find(|s| s.owner == owner)
}

/// Waits (bounded) until `owner` sleeps in the lock with `sleeper`.
fn until_sleeping(lock: &ShareLock, owner: u64, sleeper: &str) {
    let start = Instant::now();
    while state_of(lock, owner).and_then(|s| s.sleeper) != Some(sleeper) {
        assert!(
            start.elapsed() < BOUND,
            "owner {owner} never slept in {sleeper}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

fn name(owner: u64) -> String {
    format!("owner {}", owner % 1000)
}

/// Runs `f` on a thread and returns a receiver for its result.
fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

#[test]
fn shares_and_exclusives_are_reentrant_and_a_lone_share_upgrades() {
    let [a] = owners::<1>();
    let lock = ShareLock::new("test");
    assert_eq!(lock.start_sharing(a, None).unwrap(), 1);
    assert_eq!(lock.start_sharing(a, None).unwrap(), 2);
    assert!(lock
        .start_exclusive(a, Purpose::Nil, &[], false, None)
        .unwrap());
    assert!(lock
        .start_exclusive(a, Purpose::Nil, &[], false, None)
        .unwrap());
    lock.stop_exclusive(a, &[], None).unwrap();
    lock.stop_exclusive(a, &[], None).unwrap();
    assert_eq!(lock.stop_sharing(a), 1);
    assert_eq!(lock.stop_sharing(a), 0);
    assert!(lock.snapshot().is_empty());
}

#[test]
fn sharing_does_not_block_sharing_but_blocks_exclusive() {
    let [a, b, c] = owners::<3>();
    let lock = Arc::new(ShareLock::new("test"));
    lock.start_sharing(a, None).unwrap();
    lock.start_sharing(b, None).unwrap();
    assert!(
        !lock
            .start_exclusive(c, Purpose::Nil, &[], true, None)
            .unwrap(),
        "no_wait polls"
    );
    assert!(matches!(
        lock.start_exclusive(c, Purpose::Nil, &[], false, None),
        Err(LockError::WouldBlock)
    ));
    assert!(state_of(&lock, c).is_none(), "WouldBlock changes nothing");
    let l = Arc::clone(&lock);
    let exclusive = spawn(move || l.start_exclusive(c, Purpose::Nil, &[], false, Some(&forever())));
    until_sleeping(&lock, c, "start_exclusive");
    lock.stop_sharing(a);
    assert!(
        exclusive.recv_timeout(Duration::from_millis(50)).is_err(),
        "one sharer is left"
    );
    lock.stop_sharing(b);
    assert!(exclusive.recv_timeout(BOUND).unwrap().unwrap());
    lock.stop_exclusive(c, &[], None).unwrap();
}

#[test]
fn exclusive_blocks_sharing_and_invalid_unlock_is_refused() {
    let [a, b] = owners::<2>();
    let lock = Arc::new(ShareLock::new("test"));
    lock.start_exclusive(a, Purpose::Nil, &[], false, None)
        .unwrap();
    assert!(matches!(
        lock.stop_exclusive(b, &[], None),
        Err(LockError::InvalidUnlock)
    ));
    let l = Arc::clone(&lock);
    let share = spawn(move || l.start_sharing(b, Some(&forever())));
    until_sleeping(&lock, b, "start_sharing");
    lock.stop_exclusive(a, &[], None).unwrap();
    assert_eq!(share.recv_timeout(BOUND).unwrap().unwrap(), 1);
}

#[test]
fn new_outermost_shares_queue_behind_an_upgrade_but_reentrant_ones_do_not() {
    let [a, b, c] = owners::<3>();
    let lock = Arc::new(ShareLock::new("test"));
    lock.start_sharing(a, None).unwrap();
    lock.start_sharing(b, None).unwrap();
    let l = Arc::clone(&lock);
    let upgrade = spawn(move || l.start_exclusive(b, Purpose::Nil, &[], false, Some(&forever())));
    until_sleeping(&lock, b, "start_exclusive");
    assert_eq!(
        lock.start_sharing(a, None).unwrap(),
        2,
        "a held share is reentrant"
    );
    assert!(
        matches!(lock.start_sharing(c, None), Err(LockError::WouldBlock)),
        "a new share waits"
    );
    lock.stop_sharing(a);
    lock.stop_sharing(a);
    assert!(upgrade.recv_timeout(BOUND).unwrap().unwrap());
    assert!(
        matches!(lock.start_sharing(c, None), Err(LockError::WouldBlock)),
        "and the exclusive holder"
    );
    lock.stop_exclusive(b, &[], None).unwrap();
    lock.stop_sharing(b);
    assert_eq!(lock.start_sharing(c, None).unwrap(), 1);
}

#[test]
fn a_plain_exclusive_waiter_does_not_hold_back_new_shares() {
    // Rails: only waiters that yielded shares (upgrades) make new shares queue.
    let [a, b, c] = owners::<3>();
    let lock = Arc::new(ShareLock::new("test"));
    lock.start_sharing(a, None).unwrap();
    let l = Arc::clone(&lock);
    let exclusive = spawn(move || l.start_exclusive(b, Purpose::Nil, &[], false, Some(&forever())));
    until_sleeping(&lock, b, "start_exclusive");
    assert_eq!(lock.start_sharing(c, None).unwrap(), 1);
    lock.stop_sharing(c);
    lock.stop_sharing(a);
    assert!(exclusive.recv_timeout(BOUND).unwrap().unwrap());
    lock.stop_exclusive(b, &[], None).unwrap();
}

#[test]
fn upgrades_with_compatible_purposes_yield_to_each_other() {
    let [a, b] = owners::<2>();
    let lock = Arc::new(ShareLock::new("test"));
    let both_sharing = Arc::new(Barrier::new(2));
    let results: Vec<_> = [a, b]
        .into_iter()
        .map(|owner| {
            let (l, b) = (Arc::clone(&lock), Arc::clone(&both_sharing));
            spawn(move || {
                l.start_sharing(owner, None).unwrap();
                b.wait();
                let got =
                    l.start_exclusive(owner, load(), &[load(), unload()], false, Some(&forever()));
                l.stop_exclusive(owner, &[load()], Some(&forever()))
                    .unwrap();
                l.stop_sharing(owner);
                got
            })
        })
        .collect();
    for r in results {
        assert!(
            r.recv_timeout(BOUND).unwrap().unwrap(),
            "a loose upgrade is not a deadlock"
        );
    }
    assert!(lock.snapshot().is_empty());
}

#[test]
fn upgrades_with_incompatible_purposes_are_a_deadlock_naming_both() {
    let [a, b] = owners::<2>();
    let lock = Arc::new(ShareLock::new("Holdfast::Interlock"));
    lock.start_sharing(a, None).unwrap();
    lock.start_sharing(b, None).unwrap();
    let l = Arc::clone(&lock);
    let first = spawn(move || l.start_exclusive(a, unload(), &[], false, Some(&forever())));
    until_sleeping(&lock, a, "start_exclusive");
    let second = lock.start_exclusive(b, unload(), &[], false, Some(&forever()));
    let Err(LockError::Deadlock(diagnostic)) = second else {
        panic!("expected a deadlock, got {second:?}");
    };
    let text = diagnostic.render(&name);
    assert!(text.contains(&name(a)) && text.contains(&name(b)), "{text}");
    assert!(
        text.contains("holds Holdfast::Interlock: a share ×1 (given up while it waits)"),
        "{text}"
    );
    assert!(text.contains("purpose :unload, compatible []"), "{text}");
    assert!(text.contains("upgrade shares to exclusive"), "{text}");
    // The refused upgrade gave its share back, so the first one still waits for it.
    assert_eq!(state_of(&lock, b).unwrap().sharing, 1);
    assert!(state_of(&lock, b).unwrap().sleeper.is_none());
    lock.stop_sharing(b);
    assert!(first.recv_timeout(BOUND).unwrap().unwrap());
}

#[test]
fn a_declared_wait_closes_the_classic_join_deadlock() {
    // Parent holds a share and joins a child; a reload waits for the parent's
    // share; the child's new share queues behind the reload.
    let lock = Arc::new(ShareLock::new("Holdfast::Interlock"));
    let [parent, reloader, child] = owners();
    lock.start_sharing(parent, None).unwrap();
    let l = Arc::clone(&lock);
    let reload = spawn(move || {
        // A development-mode request: its executor holds the running share,
        // and the reloader upgrades it to unload.
        l.start_sharing(reloader, None).unwrap();
        let r = l.start_exclusive(
            reloader,
            unload(),
            &[load(), unload()],
            false,
            Some(&forever()),
        );
        l.stop_exclusive(reloader, &[load(), unload()], None)
            .unwrap();
        l.stop_sharing(reloader);
        r
    });
    until_sleeping(&lock, reloader, "start_exclusive");
    let joining = ShareLock::declare_wait(parent, child, "Thread#join").expect("no cycle yet");
    let l = Arc::clone(&lock);
    let child_share = spawn(move || l.start_sharing(child, Some(&forever())));
    let Err(LockError::Deadlock(diagnostic)) = child_share.recv_timeout(BOUND).unwrap() else {
        panic!("the child's share should close the cycle");
    };
    let text = diagnostic.render(&name);
    assert_eq!(diagnostic.parties.len(), 3, "{text}");
    assert!(
        text.contains("(Thread#join)") && text.contains("permit_concurrent_loads"),
        "{text}"
    );
    drop(joining);
    lock.stop_sharing(parent);
    assert!(reload.recv_timeout(BOUND).unwrap().unwrap());
}

#[test]
fn a_declared_wait_that_closes_a_cycle_is_refused() {
    let [a, b] = owners::<2>();
    let lock = Arc::new(ShareLock::new("test"));
    lock.start_exclusive(a, Purpose::Nil, &[], false, None)
        .unwrap();
    let l = Arc::clone(&lock);
    let blocked = spawn(move || l.start_sharing(b, Some(&forever())));
    until_sleeping(&lock, b, "start_sharing");
    let refused = ShareLock::declare_wait(a, b, "Thread#join");
    let Err(diagnostic) = refused else {
        panic!("1 waits for 2 which waits for 1")
    };
    assert!(diagnostic.deadlock);
    lock.stop_exclusive(a, &[], None).unwrap();
    assert_eq!(blocked.recv_timeout(BOUND).unwrap().unwrap(), 1);
}

#[test]
fn a_wait_that_others_outside_the_cycle_will_release_is_not_a_deadlock() {
    let [a, b, c] = owners::<3>();
    // 2 waits for 1's exclusive; 1 declares a wait on 3, who runs freely.
    let lock = Arc::new(ShareLock::new("test"));
    lock.start_exclusive(a, Purpose::Nil, &[], false, None)
        .unwrap();
    let _waits_for_3 = ShareLock::declare_wait(a, c, "a queue").unwrap();
    let l = Arc::clone(&lock);
    let waiter = spawn(move || l.start_sharing(b, Some(&forever())));
    until_sleeping(&lock, b, "start_sharing");
    assert!(
        waiter.recv_timeout(Duration::from_millis(250)).is_err(),
        "still waiting, no error"
    );
    lock.stop_exclusive(a, &[], None).unwrap();
    assert!(waiter.recv_timeout(BOUND).unwrap().is_ok());
}

#[test]
fn yield_shares_lets_a_compatible_exclusive_in_and_gives_the_shares_back() {
    let [a, b] = owners::<2>();
    let lock = Arc::new(ShareLock::new("test"));
    lock.start_sharing(a, None).unwrap();
    let mut yielded = Some(lock.yield_begin(a, Purpose::Nil, &[load()], false));
    assert!(state_of(&lock, a).unwrap().waiting);
    assert!(
        lock.start_exclusive(b, load(), &[load()], false, None)
            .unwrap(),
        "compatible exclusive enters"
    );
    // Inside the yield, a nested share waits only for the exclusive holder.
    let l = Arc::clone(&lock);
    let nested = spawn(move || {
        l.start_sharing(a, Some(&forever()))
            .map(|n| (n, l.stop_sharing(a)))
    });
    until_sleeping(&lock, a, "start_sharing");
    lock.stop_exclusive(b, &[], None).unwrap();
    assert_eq!(nested.recv_timeout(BOUND).unwrap().unwrap(), (1, 0));
    lock.yield_end(a, &mut yielded, None).unwrap();
    assert!(yielded.is_none());
    let me = state_of(&lock, a).unwrap();
    assert_eq!((me.sharing, me.waiting), (1, false));
    lock.stop_sharing(a);
}

#[test]
fn an_interrupted_upgrade_gives_its_share_back_and_leaves_no_trace() {
    let [a, b] = owners::<2>();
    let lock = Arc::new(ShareLock::new("test"));
    lock.start_sharing(a, None).unwrap();
    lock.start_sharing(b, None).unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let (l, f) = (Arc::clone(&lock), Arc::clone(&flag));
    let upgrade = spawn(move || {
        let wait = Wait {
            interrupt: Some(&f),
            ..Wait::default()
        };
        l.start_exclusive(b, Purpose::Nil, &[], false, Some(&wait))
    });
    until_sleeping(&lock, b, "start_exclusive");
    assert!(state_of(&lock, b).unwrap().waiting);
    lock.interrupt(&flag);
    assert!(matches!(
        upgrade.recv_timeout(BOUND).unwrap(),
        Err(LockError::Interrupted)
    ));
    let after = state_of(&lock, b).unwrap();
    assert_eq!(
        (after.sharing, after.waiting, after.sleeper),
        (1, false, None)
    );
    lock.stop_sharing(b);
    lock.stop_sharing(a);
    assert!(lock.snapshot().is_empty());
}

#[test]
fn a_wait_ends_when_its_poll_says_so() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let [a, b] = owners::<2>();
    let lock = ShareLock::new("test");
    lock.start_exclusive(a, Purpose::Nil, &[], false, None)
        .unwrap();
    let polls = AtomicU32::new(0);
    let poll = || polls.fetch_add(1, Ordering::SeqCst) >= 2;
    let wait = Wait {
        poll: Some(&poll),
        ..Wait::default()
    };
    assert!(matches!(
        lock.start_sharing(b, Some(&wait)),
        Err(LockError::Interrupted)
    ));
    assert_eq!(
        polls.load(Ordering::SeqCst),
        3,
        "asked on every wake-up until it said yes"
    );
    assert!(state_of(&lock, b).is_none());
    lock.stop_exclusive(a, &[], None).unwrap();
}

#[test]
fn a_long_wait_is_reported_once_with_who_blocks_it_and_goes_on_waiting() {
    use std::sync::Mutex;
    let [a, b] = owners::<2>();
    let lock = Arc::new(ShareLock::new("slow"));
    lock.start_sharing(a, None).unwrap();
    let (reported_tx, reported_rx) = mpsc::channel::<String>();
    let reported_tx = Mutex::new(reported_tx);
    let l = Arc::clone(&lock);
    let waiter = spawn(move || {
        let report = |d: &Diagnostic| {
            let _ = reported_tx.lock().unwrap().send(d.render(&name));
        };
        let wait = Wait {
            long_wait: Some((Duration::from_millis(20), &report)),
            ..Wait::default()
        };
        l.start_exclusive(b, Purpose::Nil, &[], false, Some(&wait))
    });
    let text = reported_rx.recv_timeout(BOUND).unwrap();
    assert!(text.contains(&format!("blocked by {}", name(a))), "{text}");
    assert!(
        waiter.recv_timeout(Duration::from_millis(100)).is_err(),
        "still waiting after the report"
    );
    lock.stop_sharing(a);
    assert!(waiter.recv_timeout(BOUND).unwrap().unwrap());
    assert!(reported_rx.try_recv().is_err(), "reported once");
    lock.stop_exclusive(b, &[], None).unwrap();
}

#[test]
fn a_timeout_says_who_blocks_and_leaves_the_lock_as_it_was() {
    let [a, b] = owners::<2>();
    let lock = ShareLock::new("test");
    lock.start_sharing(a, None).unwrap();
    let wait = Wait {
        deadline: Some(Instant::now() + Duration::from_millis(50)),
        ..Wait::default()
    };
    let Err(LockError::Timeout(diagnostic)) =
        lock.start_exclusive(b, Purpose::Nil, &[], false, Some(&wait))
    else {
        panic!("expected a timeout");
    };
    let text = diagnostic.render(&name);
    assert!(text.starts_with("timed out after 0."), "{text}");
    assert!(
        text.contains(&format!("{}: holds test: a share ×1;", name(a))),
        "{text}"
    );
    assert!(text.contains(&format!("blocked by {}", name(a))), "{text}");
    assert!(state_of(&lock, b).is_none());
    lock.stop_sharing(a);
}

#[test]
fn releasing_exclusive_waits_for_eligible_compatible_waiters() {
    // Two loose upgrades: whoever gets the exclusive lock first, on release,
    // waits (Rails' stop_exclusive(compatible:)) until the other has had it.
    use std::sync::Mutex;
    let lock = Arc::new(ShareLock::new("test"));
    let log = Arc::new(Mutex::new(Vec::new()));
    let barrier = Arc::new(Barrier::new(2));
    let results: Vec<_> = owners::<2>()
        .into_iter()
        .map(|owner| {
            let (l, log, barrier) = (Arc::clone(&lock), Arc::clone(&log), Arc::clone(&barrier));
            spawn(move || {
                l.start_sharing(owner, None).unwrap();
                barrier.wait();
                l.start_exclusive(owner, load(), &[load()], false, Some(&forever()))
                    .unwrap();
                log.lock().unwrap().push("section");
                l.stop_exclusive(owner, &[load()], Some(&forever()))
                    .unwrap();
                log.lock().unwrap().push("released");
                l.stop_sharing(owner);
            })
        })
        .collect();
    for r in results {
        r.recv_timeout(BOUND).unwrap();
    }
    assert_eq!(
        *log.lock().unwrap(),
        ["section", "section", "released", "released"]
    );
    assert!(lock.snapshot().is_empty());
}

fn assert_no_false_deadlocks(diagnostics: &[Diagnostic]) {
    let texts: Vec<String> = diagnostics.iter().map(|d| d.render(&name)).collect();
    assert!(
        texts.is_empty(),
        "false deadlock reports:\n{}",
        texts.join("\n")
    );
}

#[test]
fn randomized_stress_keeps_exclusion_and_reports_no_false_deadlocks() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    let lock = Arc::new(ShareLock::new("stress"));
    // (exclusive section running, share sections running)
    let sections = Arc::new(Mutex::new((false, 0u32)));
    let reports = Arc::new(Mutex::new(Vec::new()));
    let timeouts = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = owners::<8>()
        .into_iter()
        .map(|owner| {
            let (lock, sections, reports, timeouts) = (
                Arc::clone(&lock),
                Arc::clone(&sections),
                Arc::clone(&reports),
                Arc::clone(&timeouts),
            );
            thread::spawn(move || {
                let mut seed = owner.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let mut next = move || {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed
                };
                for _ in 0..300 {
                    let wait = Wait {
                        deadline: Some(Instant::now() + Duration::from_millis(200)),
                        ..Wait::default()
                    };
                    let upgrade = next() % 3 == 0;
                    let record = |r: Result<bool, LockError>| match r {
                        Ok(got) => got,
                        Err(LockError::Deadlock(d)) => {
                            reports.lock().unwrap().push(d);
                            false
                        }
                        Err(LockError::Timeout(_)) => {
                            timeouts.fetch_add(1, Ordering::Relaxed);
                            false
                        }
                        Err(other) => panic!("unexpected {other:?}"),
                    };
                    let exclusive_section = || {
                        let mut s = sections.lock().unwrap();
                        assert!(!s.0 && s.1 == 0, "exclusive entered while {s:?}");
                        s.0 = true;
                        drop(s);
                        thread::yield_now();
                        sections.lock().unwrap().0 = false;
                    };
                    if next() % 2 == 0 {
                        if !record(lock.start_sharing(owner, Some(&wait)).map(|_| true)) {
                            continue;
                        }
                        {
                            let mut s = sections.lock().unwrap();
                            assert!(!s.0, "share entered during an exclusive section");
                            s.1 += 1;
                        }
                        thread::yield_now();
                        sections.lock().unwrap().1 -= 1;
                        if upgrade {
                            // Every upgrade accepts :load, so upgrades always cooperate.
                            if record(lock.start_exclusive(
                                owner,
                                load(),
                                &[load()],
                                false,
                                Some(&wait),
                            )) {
                                exclusive_section();
                                lock.stop_exclusive(owner, &[load()], Some(&forever()))
                                    .unwrap();
                            }
                        }
                        lock.stop_sharing(owner);
                    } else if record(lock.start_exclusive(
                        owner,
                        load(),
                        &[load()],
                        false,
                        Some(&wait),
                    )) {
                        exclusive_section();
                        lock.stop_exclusive(owner, &[load()], Some(&forever()))
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_no_false_deadlocks(&reports.lock().unwrap());
    assert!(lock.snapshot().is_empty(), "{:?}", lock.snapshot());
}

/// A timeout is a bound, even for an upgrade whose yielded shares cannot be
/// given back while another owner holds the lock: the holder here never
/// releases, and every wait still returns within its timeout plus 50 ms.
#[test]
fn a_timeout_bounds_the_wait_even_when_the_holder_never_releases() {
    let lock = Arc::new(ShareLock::new("bounded"));
    let [holder, plain, upgrader] = owners::<3>();
    let timeout = Duration::from_millis(100);
    let slack = Duration::from_millis(50);

    // A plain exclusive attempt against a holder that never leaves.
    assert!(lock
        .start_exclusive(holder, load(), &[], false, Some(&forever()))
        .unwrap());
    let started = Instant::now();
    let wait = Wait {
        deadline: Some(started + timeout),
        ..Wait::default()
    };
    let result = lock.start_exclusive(plain, unload(), &[], false, Some(&wait));
    assert!(matches!(result, Err(LockError::Timeout(_))), "{result:?}");
    assert!(
        started.elapsed() < timeout + slack,
        "took {:?}",
        started.elapsed()
    );
    lock.stop_exclusive(holder, &[], None).unwrap();

    // An upgrade: the upgrader and another owner share; the other yields
    // its share to :load attempts (as permit_concurrent_loads does); the
    // holder waits for :load; the upgrader asks for :unload, yielding its
    // share to :load too. The holder gets in through both yields and keeps
    // the lock; the upgrader waits on. When its timeout passes, giving its
    // share back would break the holder's exclusivity: it is given up.
    let [other] = owners::<1>();
    assert_eq!(lock.start_sharing(upgrader, None).unwrap(), 1);
    assert_eq!(lock.start_sharing(other, None).unwrap(), 1);
    let _other_yielded = lock.yield_begin(other, Purpose::Nil, &[load()], false);
    let l = Arc::clone(&lock);
    let holder_inside =
        spawn(move || l.start_exclusive(holder, load(), &[], false, Some(&forever())));
    until_sleeping(&lock, holder, "start_exclusive");
    let l = Arc::clone(&lock);
    let upgrade = spawn(move || {
        let started = Instant::now();
        let wait = Wait {
            deadline: Some(started + timeout),
            ..Wait::default()
        };
        let result = l.start_exclusive(upgrader, unload(), &[load()], false, Some(&wait));
        (result, started.elapsed())
    });
    let (result, took) = upgrade
        .recv_timeout(BOUND)
        .expect("the upgrade's wait has a bound");
    assert!(holder_inside.recv_timeout(BOUND).unwrap().unwrap());
    assert!(matches!(result, Err(LockError::Timeout(_))), "{result:?}");
    assert!(took < timeout + slack, "took {took:?}");
    let after = state_of(&lock, upgrader);
    assert!(
        after.is_none() || after.as_ref().is_some_and(|s| s.sharing == 0 && !s.waiting),
        "the upgrader's share was given up, not restored under the holder's lock: {after:?}"
    );
    assert_eq!(state_of(&lock, holder).map(|s| s.exclusive), Some(true));
}
