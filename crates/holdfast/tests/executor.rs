//! The executor's contract, driven through a recording adapter.

use std::sync::{Arc, Barrier, Mutex};

use holdfast::{Adapter, CallbackOptions, Executor, Flow, Invoker, Misuse, Phase, Position};

struct Test;

#[derive(Clone, Copy)]
enum Does {
    Ok,
    Fail,
    Halt,
}

struct Cb {
    name: &'static str,
    does: Does,
}

struct Hook {
    name: &'static str,
}

impl Adapter for Test {
    type Callback = Cb;
    type Hook = Hook;
    type State = String;
    type Payload = &'static str;

    fn duplicates(existing: &Cb, new: &Cb) -> bool {
        existing.name.starts_with(':') && existing.name == new.name
    }
}

#[derive(Debug, PartialEq)]
enum Error {
    Callback(&'static str),
    Work,
    Misuse(Misuse),
}

impl From<Misuse> for Error {
    fn from(m: Misuse) -> Self {
        Error::Misuse(m)
    }
}

#[derive(Default, Clone)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Recorder {
    log: Log,
}

impl Invoker<Test> for Recorder {
    type Error = Error;

    fn call(&mut self, payload: &&'static str, cb: &Cb, position: Position) -> Result<Flow, Error> {
        let pos = if position == Position::After {
            "/after"
        } else {
            ""
        };
        self.log.push(format!("{}{pos}@{payload}", cb.name));
        match cb.does {
            Does::Ok => Ok(Flow::Continue),
            Does::Halt => Ok(Flow::Halt),
            Does::Fail => Err(Error::Callback(cb.name)),
        }
    }

    fn run_hook(&mut self, _: &&'static str, hook: &Hook) -> Result<String, Error> {
        self.log.push(format!("run_{}", hook.name));
        Ok(format!("state_{}", hook.name))
    }

    fn complete_hook(&mut self, _: &&'static str, hook: &Hook, state: String) -> Result<(), Error> {
        self.log.push(format!("complete_{}({state})", hook.name));
        Ok(())
    }

    fn report(&mut self, error: Error) -> Error {
        self.log.push(format!("report {error:?}"));
        error
    }
}

fn cb(name: &'static str) -> Cb {
    Cb {
        name,
        does: Does::Ok,
    }
}

fn setup() -> (Executor<Test>, Log, Recorder) {
    let log = Log::default();
    (Executor::new(), log.clone(), Recorder { log })
}

fn to_run(e: &Executor<Test>, c: Cb) {
    e.add_callback(Phase::Run, c, CallbackOptions::default());
}

fn to_complete(e: &Executor<Test>, c: Cb) {
    e.add_callback(Phase::Complete, c, CallbackOptions::default());
}

fn wrap(
    e: &Executor<Test>,
    rec: &mut Recorder,
    ctx: u64,
    work: impl FnOnce() -> Result<(), Error>,
) -> Result<(), Error> {
    e.wrap(ctx, || Ok("x"), rec, work)
}

#[test]
fn wrap_runs_callbacks_around_the_work_in_registration_order() {
    let (e, log, mut rec) = setup();
    to_run(&e, cb("run1"));
    to_run(&e, cb("run2"));
    to_complete(&e, cb("c1"));
    to_complete(&e, cb("c2"));
    let l = log.clone();
    wrap(&e, &mut rec, 1, || {
        l.push("body");
        Ok(())
    })
    .unwrap();
    assert_eq!(log.take(), ["run1@x", "run2@x", "body", "c1@x", "c2@x"]);
    assert!(!e.is_active(1));
}

#[test]
fn after_callbacks_run_last_in_reverse_order_and_prepend_goes_first() {
    let (e, log, mut rec) = setup();
    let after = CallbackOptions {
        position: Position::After,
        prepend: false,
    };
    e.add_callback(Phase::Run, cb("a1"), after);
    to_run(&e, cb("b1"));
    e.add_callback(Phase::Run, cb("a2"), after);
    e.add_callback(
        Phase::Run,
        cb("p"),
        CallbackOptions {
            position: Position::Before,
            prepend: true,
        },
    );
    wrap(&e, &mut rec, 1, || Ok(())).unwrap();
    assert_eq!(log.take(), ["p@x", "b1@x", "a2/after@x", "a1/after@x"]);
}

#[test]
fn a_failing_run_callback_stops_the_chain_but_complete_callbacks_still_run() {
    let (e, log, mut rec) = setup();
    to_run(&e, cb("run_1"));
    to_run(
        &e,
        Cb {
            name: "boom",
            does: Does::Fail,
        },
    );
    to_run(&e, cb("run_2"));
    to_complete(&e, cb("complete"));
    let l = log.clone();
    let r = wrap(&e, &mut rec, 7, || {
        l.push("body");
        Ok(())
    });
    assert_eq!(r, Err(Error::Callback("boom")));
    assert_eq!(log.take(), ["run_1@x", "boom@x", "complete@x"]);
    assert!(!e.is_active(7), "a failed run leaves no active execution");
}

#[test]
fn hooks_carry_state_and_outer_hooks_wrap_everything() {
    let (e, log, mut rec) = setup();
    e.register_hook(Hook { name: "a" }, false);
    e.register_hook(Hook { name: "b" }, false);
    e.register_hook(Hook { name: "c" }, true);
    e.register_hook(Hook { name: "d" }, false);
    wrap(&e, &mut rec, 1, || Ok(())).unwrap();
    assert_eq!(
        log.take(),
        [
            "run_c",
            "run_a",
            "run_b",
            "run_d",
            "complete_a(state_a)",
            "complete_b(state_b)",
            "complete_d(state_d)",
            "complete_c(state_c)"
        ]
    );
}

#[test]
fn a_hook_whose_run_did_not_happen_is_not_completed() {
    let (e, log, mut rec) = setup();
    e.register_hook(Hook { name: "early" }, false);
    to_run(
        &e,
        Cb {
            name: "boom",
            does: Does::Fail,
        },
    );
    e.register_hook(Hook { name: "late" }, false);
    to_complete(&e, cb("plain"));
    assert_eq!(
        wrap(&e, &mut rec, 1, || Ok(())),
        Err(Error::Callback("boom"))
    );
    assert_eq!(
        log.take(),
        [
            "run_early",
            "boom@x",
            "complete_early(state_early)",
            "plain@x"
        ]
    );
}

#[test]
fn run_while_active_is_a_null_execution_and_wrap_is_reentrant() {
    let (e, log, mut rec) = setup();
    to_run(&e, cb("run"));
    to_complete(&e, cb("complete"));
    let outer = e
        .run(3, false, || Ok("outer"), &mut rec)
        .unwrap()
        .expect("started");
    assert!(e.is_active(3));
    assert!(e.run(3, false, || Ok("inner"), &mut rec).unwrap().is_none());
    let l = log.clone();
    let mut inner_rec = Recorder { log: log.clone() };
    wrap(&e, &mut inner_rec, 3, || {
        l.push("nested body");
        Ok(())
    })
    .unwrap();
    e.complete(&outer, &mut rec).unwrap();
    assert_eq!(log.take(), ["run@outer", "nested body", "complete@outer"]);
    assert!(!e.is_active(3));
}

#[test]
fn completing_twice_is_a_clear_error() {
    let (e, _log, mut rec) = setup();
    let x = e.run(9, false, || Ok("x"), &mut rec).unwrap().unwrap();
    e.complete(&x, &mut rec).unwrap();
    let err = e.complete(&x, &mut rec).unwrap_err();
    assert_eq!(err, Error::Misuse(Misuse::AlreadyCompleted { context: 9 }));
    assert!(err_text(&err).contains("already completed"));
}

fn err_text(e: &Error) -> String {
    match e {
        Error::Misuse(m) => m.to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn reset_completes_the_lost_execution_first() {
    let (e, log, mut rec) = setup();
    to_run(&e, cb("run"));
    to_complete(&e, cb("complete"));
    let lost = e.run(4, false, || Ok("lost"), &mut rec).unwrap().unwrap();
    let fresh = e.run(4, true, || Ok("fresh"), &mut rec).unwrap().unwrap();
    assert!(lost.is_completed());
    assert!(Arc::ptr_eq(&e.active_execution(4).unwrap(), &fresh));
    e.complete(&fresh, &mut rec).unwrap();
    assert_eq!(
        log.take(),
        ["run@lost", "complete@lost", "run@fresh", "complete@fresh"]
    );
    // The lost execution's owner completing late gets the misuse error, and
    // does not end the newer execution's active state.
    let again = e.run(4, false, || Ok("again"), &mut rec).unwrap().unwrap();
    assert!(e.complete(&lost, &mut rec).is_err());
    assert!(e.is_active(4));
    e.complete(&again, &mut rec).unwrap();
}

#[test]
fn wrap_reports_a_work_error_once_completes_and_returns_it() {
    let (e, log, mut rec) = setup();
    to_complete(&e, cb("complete"));
    let r = wrap(&e, &mut rec, 1, || Err(Error::Work));
    assert_eq!(r, Err(Error::Work));
    assert_eq!(log.take(), ["report Work", "complete@x"]);
    assert!(!e.is_active(1));
}

#[test]
fn nested_wrap_of_the_same_executor_does_not_report_twice() {
    let (e, log, mut rec) = setup();
    let e2 = e.clone();
    let log2 = log.clone();
    let r = wrap(&e, &mut rec, 1, || {
        let mut inner = Recorder { log: log2 };
        e2.wrap(1, || Ok("inner"), &mut inner, || Err(Error::Work))
    });
    assert_eq!(r, Err(Error::Work));
    assert_eq!(log.take(), ["report Work"]);
}

#[test]
fn an_error_while_completing_replaces_the_work_error() {
    let (e, log, mut rec) = setup();
    to_complete(
        &e,
        Cb {
            name: "bad_complete",
            does: Does::Fail,
        },
    );
    to_complete(&e, cb("skipped"));
    let r = wrap(&e, &mut rec, 1, || Err(Error::Work));
    assert_eq!(r, Err(Error::Callback("bad_complete")));
    assert_eq!(log.take(), ["report Work", "bad_complete@x"]);
    assert!(
        !e.is_active(1),
        "complete ends the active state even when a callback fails"
    );
}

#[test]
fn halting_skips_later_befores_but_not_afters() {
    let (e, log, mut rec) = setup();
    to_run(
        &e,
        Cb {
            name: "halt",
            does: Does::Halt,
        },
    );
    to_run(&e, cb("skipped"));
    e.add_callback(
        Phase::Run,
        cb("after"),
        CallbackOptions {
            position: Position::After,
            prepend: false,
        },
    );
    wrap(&e, &mut rec, 1, || Ok(())).unwrap();
    assert_eq!(log.take(), ["halt@x", "after/after@x"]);
}

#[test]
fn registering_a_named_callback_again_replaces_it() {
    let (e, log, mut rec) = setup();
    to_run(&e, cb(":m"));
    to_run(&e, cb("other"));
    to_run(&e, cb(":m"));
    wrap(&e, &mut rec, 1, || Ok(())).unwrap();
    assert_eq!(log.take(), ["other@x", ":m@x"]);
}

#[test]
fn subclasses_inherit_callbacks_including_later_ones_but_not_the_reverse() {
    let (parent, log, mut rec) = setup();
    to_run(&parent, cb("early"));
    let child = parent.subclass();
    let grandchild = child.subclass();
    to_run(&parent, cb("late"));
    to_run(&child, cb("child_only"));
    wrap(&grandchild, &mut rec, 1, || Ok(())).unwrap();
    assert_eq!(log.take(), ["early@x", "late@x", "child_only@x"]);
    wrap(&parent, &mut rec, 1, || Ok(())).unwrap();
    assert_eq!(log.take(), ["early@x", "late@x"]);
}

#[test]
fn independent_executors_nest_freely() {
    let (a, log, mut rec) = setup();
    let b = Executor::<Test>::new();
    to_run(&a, cb("a_run"));
    to_complete(&a, cb("a_complete"));
    to_run(&b, cb("b_run"));
    to_complete(&b, cb("b_complete"));
    let log2 = log.clone();
    wrap(&a, &mut rec, 1, || {
        assert!(!b.is_active(1));
        let mut inner = Recorder { log: log2.clone() };
        b.wrap(
            1,
            || Ok("y"),
            &mut inner,
            || {
                log2.push("body");
                Ok(())
            },
        )
    })
    .unwrap();
    assert_eq!(
        log.take(),
        ["a_run@x", "b_run@y", "body", "b_complete@y", "a_complete@x"]
    );
}

#[test]
fn perform_runs_callbacks_without_becoming_active() {
    let (e, log, mut rec) = setup();
    to_run(&e, cb("run"));
    to_complete(&e, cb("complete"));
    let e2 = e.clone();
    e.perform(
        5,
        || Ok("p"),
        &mut rec,
        || {
            assert!(!e2.is_active(5));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(log.take(), ["run@p", "complete@p"]);
}

#[test]
fn a_panic_in_the_work_leaves_the_context_inactive() {
    let (e, _log, mut rec) = setup();
    let e2 = e.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = wrap(&e2, &mut rec, 11, || panic!("work panicked"));
    }));
    assert!(r.is_err());
    assert!(!e.is_active(11));
}

#[test]
fn contexts_on_different_threads_are_independent() {
    let e = Executor::<Test>::new();
    let log = Log::default();
    to_run(&e, cb("run"));
    let inside = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let t = {
        let (e, log, inside, release) = (e.clone(), log.clone(), inside.clone(), release.clone());
        std::thread::spawn(move || {
            let mut rec = Recorder { log };
            e.wrap(
                100,
                || Ok("t"),
                &mut rec,
                || {
                    inside.wait();
                    release.wait();
                    Ok(())
                },
            )
        })
    };
    inside.wait();
    assert!(e.is_active(100));
    assert!(!e.is_active(200));
    let mut rec = Recorder { log: log.clone() };
    let started = e.run(200, false, || Ok("main"), &mut rec).unwrap();
    assert!(
        started.is_some(),
        "another context's execution does not make this one a null run"
    );
    e.complete(&started.unwrap(), &mut rec).unwrap();
    release.wait();
    t.join().unwrap().unwrap();
    assert!(!e.is_active(100));
    let mut entries = log.take();
    entries.sort();
    assert_eq!(entries, ["run@main", "run@t"]);
}

#[test]
fn run_chain_runs_one_phase_without_touching_active_state() {
    let (e, log, mut rec) = setup();
    to_run(&e, cb("run"));
    to_complete(&e, cb("complete"));
    e.run_chain(3, Phase::Complete, "x", &mut rec).unwrap();
    e.run_chain(3, Phase::Run, "y", &mut rec).unwrap();
    assert_eq!(log.take(), ["complete@x", "run@y"]);
    assert!(!e.is_active(3));
}

#[test]
fn start_leaves_a_failed_run_active_for_the_callers_complete() {
    let (e, log, mut rec) = setup();
    to_run(&e, cb("run_1"));
    to_run(
        &e,
        Cb {
            name: "boom",
            does: Does::Fail,
        },
    );
    to_complete(&e, cb("complete"));
    let (execution, result) = e.start(5, "x", &mut rec);
    assert_eq!(result, Err(Error::Callback("boom")));
    assert!(
        e.is_active(5),
        "the caller's ensure completes it, not start"
    );
    assert!(!execution.is_completed());
    e.complete(&execution, &mut rec).unwrap();
    assert!(!e.is_active(5));
    assert_eq!(log.take(), ["run_1@x", "boom@x", "complete@x"]);
}

#[test]
fn start_replaces_the_contexts_active_execution_as_rails_run_does() {
    let (e, _log, mut rec) = setup();
    let (first, ok) = e.start(6, "first", &mut rec);
    ok.unwrap();
    let (second, ok) = e.start(6, "second", &mut rec);
    ok.unwrap();
    assert!(Arc::ptr_eq(&e.active_execution(6).unwrap(), &second));
    // Completing the replaced one does not end the newer one's state.
    e.complete(&first, &mut rec).unwrap();
    assert!(e.is_active(6));
    e.complete(&second, &mut rec).unwrap();
    assert!(!e.is_active(6));
}
