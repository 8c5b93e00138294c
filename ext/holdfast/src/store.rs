//! `Holdfast::Store` and `Holdfast::Store::Execution`: the core store for
//! Ruby. Public signatures (keywords, defaults, durability names) are in
//! `lib/holdfast/store.rb`; these take plain positional arguments. Every
//! call that may touch the disk or the network runs with the GVL released.
//! It has no unblocking function: SQLite and PostgreSQL calls cannot be cut
//! short safely, so `Thread#kill` takes effect when the call returns
//! (bounded by the busy timeout and the connection timeout).

use std::sync::Arc;
use std::time::Duration;

use holdfast::store::{
    Begin, Current, Durability, Limits, ListQuery, PostgresOptions, Progress, Record, Run,
    SqliteOptions, State, Store, StoreError, StoreOptions, Synchronous,
};
use magnus::{
    prelude::*, value::ReprValue, DataTypeFunctions, Error, RArray, RHash, RModule, RString, Ruby,
    Symbol, TypedData, Value,
};

use crate::{errors, nogvl};

#[derive(TypedData)]
#[magnus(class = "Holdfast::Store", free_immediately, size)]
pub(crate) struct RbStore {
    store: Arc<Store>,
}

impl DataTypeFunctions for RbStore {}

#[derive(TypedData)]
#[magnus(class = "Holdfast::Store::Execution", free_immediately, size)]
pub(crate) struct RbExecution {
    /// The core owns the execution and its transitions; this translates.
    run: Run,
}

impl DataTypeFunctions for RbExecution {}

/// Runs store I/O with the GVL released. An interrupt that arrives before
/// it starts is raised instead; one that arrives while it runs (the I/O
/// cannot be cut short) is raised as soon as it returns, whatever its
/// result. No unblocking function: with one Ruby thread alive Ruby would
/// start a helper thread for it, which inherits a `handle_interrupt` mask
/// and then cannot be killed, hanging the call. An interrupt the caller deferred (`Thread.handle_interrupt`)
/// stays pending and Ruby will not release the GVL while it is: the call
/// then runs holding the GVL rather than retrying forever.
///
/// A write waiting out another process's lock (`holdfast::store::busy`)
/// asks between attempts whether this thread was interrupted, so
/// `Thread#kill` and `Timeout` end that wait within one busy timeout.
pub(crate) fn io<R>(ruby: &Ruby, op: impl Fn() -> R) -> Result<R, Error> {
    // SAFETY: called holding the GVL, on a Ruby thread.
    let thread = unsafe { rb_sys::rb_thread_current() };
    RUBY_THREAD.with(|slot| slot.set(thread));
    let probed = || holdfast::store::busy::with_interrupt_probe(interrupted, &op);
    if let Some(result) = nogvl::without_gvl_no_ubf(probed) {
        ruby.thread_check_ints()?;
        return Ok(result);
    }
    ruby.thread_check_ints()?;
    Ok(op())
}

thread_local! {
    /// The Ruby thread `io` runs for, taken while it held the GVL.
    static RUBY_THREAD: std::cell::Cell<rb_sys::VALUE> = const { std::cell::Cell::new(0) };
}

/// From inside `io`'s section, without the GVL: whether an interrupt (kill,
/// raise, a signal) is pending for the Ruby thread. Taking the GVL back here
/// would let Ruby act on the interrupt inside our frames; reading the
/// thread's interrupt flag does not.
fn interrupted() -> bool {
    let thread = RUBY_THREAD.with(|slot| slot.get());
    // SAFETY: `thread` is the live Ruby thread running this very call (it
    // cannot be collected while it runs); rb_thread_interrupted only reads
    // its interrupt flag, which Ruby sets atomically from other threads.
    thread != 0 && unsafe { rb_sys::rb_thread_interrupted(thread) } != 0
}

pub(crate) fn store_error(ruby: &Ruby, error: StoreError) -> Error {
    let path = match &error {
        StoreError::Stale { .. } => "Continuation::StaleExecutionError",
        StoreError::Limit { .. } => "LimitError",
        StoreError::InvalidArgument(_) => {
            return Error::new(ruby.exception_arg_error(), error.to_string())
        }
        StoreError::NotADatabase { .. } => "NotADatabaseError",
        StoreError::Closed { .. } => "StoreClosedError",
        StoreError::NotFound { .. } => "RecordNotFoundError",
        StoreError::Io { .. } => "StoreError",
        StoreError::Busy { .. } => "StoreBusyError",
        StoreError::Corrupt { .. } => "CorruptStoreError",
    };
    errors::holdfast(ruby, path, error.to_string())
}

/// `durability`, `max_cursor_bytes`, `retention_ms`, `lease_ms`,
/// `recovery_timeout_ms`, `max_recoveries`: the options every open takes,
/// checked by the core.
type Common = (
    String,
    Option<usize>,
    Option<u64>,
    Option<u64>,
    Option<u64>,
    Option<u64>,
);

fn options(
    (durability, max_cursor_bytes, retention_ms, lease_ms, recovery_timeout_ms, max_recoveries): Common,
) -> Result<StoreOptions, StoreError> {
    let options = StoreOptions {
        durability: Durability::parse(&durability)?,
        limits: max_cursor_bytes.map_or_else(Limits::default, |max| Limits {
            max_cursor_bytes: max,
        }),
        retention: retention_ms.map(Duration::from_millis),
        lease: lease_ms.map_or(holdfast::store::DEFAULT_LEASE, Duration::from_millis),
        recovery_timeout: recovery_timeout_ms.map_or(
            holdfast::store::DEFAULT_RECOVERY_TIMEOUT,
            Duration::from_millis,
        ),
        max_recoveries: max_recoveries.unwrap_or(holdfast::store::DEFAULT_MAX_RECOVERIES),
    };
    options.check()?;
    Ok(options)
}

fn open_sqlite(
    ruby: &Ruby,
    path: String,
    synchronous_normal: bool,
    busy_timeout_ms: u64,
    common: Common,
    read_only: bool,
) -> Result<RbStore, Error> {
    let options = options(common).map_err(|e| store_error(ruby, e))?;
    let sqlite = SqliteOptions {
        synchronous: if synchronous_normal {
            Synchronous::Normal
        } else {
            Synchronous::Full
        },
        busy_timeout: Duration::from_millis(busy_timeout_ms),
    };
    let store = io(ruby, || {
        if read_only {
            Store::sqlite_read_only(&path, &sqlite, options.clone())
        } else {
            Store::sqlite(&path, &sqlite, options.clone())
        }
    })?;
    wrap_store(ruby, store)
}

fn open_postgres(
    ruby: &Ruby,
    url: String,
    table: String,
    common: Common,
    read_only: bool,
) -> Result<RbStore, Error> {
    let options = options(common).map_err(|e| store_error(ruby, e))?;
    let postgres = PostgresOptions {
        table,
        read_only,
        ..PostgresOptions::default()
    };
    let store = io(ruby, || Store::postgres(&url, &postgres, options.clone()))?;
    wrap_store(ruby, store)
}

fn open_memory(ruby: &Ruby, common: Common) -> Result<RbStore, Error> {
    let options = options(common).map_err(|e| store_error(ruby, e))?;
    wrap_store(ruby, Ok(Store::memory(options)))
}

fn wrap_store(ruby: &Ruby, store: Result<Store, StoreError>) -> Result<RbStore, Error> {
    store
        .map(|store| RbStore {
            store: Arc::new(store),
        })
        .map_err(|e| store_error(ruby, e))
}

pub(crate) fn time(ruby: &Ruby, ms: i64) -> Result<Value, Error> {
    ruby.class_time()
        .funcall("at", (0, ms, ruby.to_symbol("millisecond")))
}

fn bytes_to_string(ruby: &Ruby, bytes: &[u8]) -> RString {
    match std::str::from_utf8(bytes) {
        Ok(text) => ruby.str_new(text),
        Err(_) => ruby.str_from_slice(bytes),
    }
}

/// A record as the plain Hash Ruby callers see: `"current"` is
/// `[step, cursor]` as in a job's serialized continuation.
pub(crate) fn record_hash(ruby: &Ruby, record: &Record) -> Result<RHash, Error> {
    let hash = ruby.hash_new();
    hash.aset("job_id", record.job_id.as_str())?;
    hash.aset("job_class", record.job_class.as_str())?;
    let completed = ruby.ary_new();
    for step in &record.progress.completed {
        completed.push(step.as_str())?;
    }
    hash.aset("completed", completed)?;
    match &record.progress.current {
        Some(current) => {
            let cursor = current
                .cursor
                .as_deref()
                .map(|c| bytes_to_string(ruby, c).as_value())
                .unwrap_or_else(|| ruby.qnil().as_value());
            hash.aset("current", (current.step.as_str(), cursor))?;
        }
        None => hash.aset("current", ruby.qnil())?,
    }
    hash.aset("resumptions", record.resumptions)?;
    hash.aset("token", record.token)?;
    hash.aset("created_at", time(ruby, record.created_at)?)?;
    hash.aset("updated_at", time(ruby, record.updated_at)?)?;
    let completed_at = match record.completed_at {
        Some(ms) => time(ruby, ms)?,
        None => ruby.qnil().as_value(),
    };
    hash.aset("completed_at", completed_at)?;
    hash.aset("payload", record.payload.as_deref())?;
    match &record.lease {
        Some(lease) => {
            hash.aset("lease_owner", lease.owner.as_str())?;
            hash.aset("lease_expires_at", time(ruby, lease.expires_at)?)?;
        }
        None => {
            hash.aset("lease_owner", ruby.qnil())?;
            hash.aset("lease_expires_at", ruby.qnil())?;
        }
    }
    hash.aset("recoveries", record.recoveries)?;
    match &record.quarantine {
        Some(quarantine) => {
            hash.aset("quarantined_at", time(ruby, quarantine.at)?)?;
            hash.aset("quarantine_reason", quarantine.reason.as_str())?;
        }
        None => {
            hash.aset("quarantined_at", ruby.qnil())?;
            hash.aset("quarantine_reason", ruby.qnil())?;
        }
    }
    Ok(hash)
}

/// A record that failed its integrity check, as a listing shows it:
/// `"job_id"` (when known) and `"damaged"` (what is wrong).
pub(crate) fn damaged_hash(ruby: &Ruby, error: &StoreError) -> Result<RHash, Error> {
    let hash = ruby.hash_new();
    let job_id = match error {
        StoreError::Corrupt { job_id, .. } => job_id.as_deref(),
        _ => None,
    };
    hash.aset("job_id", job_id)?;
    hash.aset("damaged", error.to_string())?;
    Ok(hash)
}

impl RbStore {
    fn get(ruby: &Ruby, rb_self: &Self, job_id: String) -> Result<Option<RHash>, Error> {
        let record = io(ruby, || rb_self.store.get(&job_id))?.map_err(|e| store_error(ruby, e))?;
        record.map(|r| record_hash(ruby, &r)).transpose()
    }

    fn list(
        ruby: &Ruby,
        rb_self: &Self,
        state: Symbol,
        job_class: Option<String>,
        limit: usize,
        newest_first: bool,
    ) -> Result<RArray, Error> {
        let state = match state.name()?.as_ref() {
            "any" => State::Any,
            "in_flight" => State::InFlight,
            "completed" => State::Completed,
            "quarantined" => State::Quarantined,
            other => {
                return Err(Error::new(
                    ruby.exception_arg_error(),
                    format!(
                        "unknown state :{other}: use :in_flight, :quarantined, :completed or :any"
                    ),
                ))
            }
        };
        let query = ListQuery {
            state,
            job_class,
            limit,
            newest_first,
        };
        let records = io(ruby, || rb_self.store.list(&query))?.map_err(|e| store_error(ruby, e))?;
        let list = ruby.ary_new_capa(records.len());
        for listed in &records {
            match listed {
                Ok(record) => list.push(record_hash(ruby, record)?)?,
                Err(damaged) => list.push(damaged_hash(ruby, damaged)?)?,
            }
        }
        Ok(list)
    }

    fn prune(ruby: &Ruby, rb_self: &Self, completed_before_ms: Option<i64>) -> Result<u64, Error> {
        io(ruby, || rb_self.store.prune(completed_before_ms))?.map_err(|e| store_error(ruby, e))
    }

    fn flush(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        io(ruby, || rb_self.store.flush())?.map_err(|e| store_error(ruby, e))
    }

    fn close(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        io(ruby, || rb_self.store.close())?.map_err(|e| store_error(ruby, e))
    }

    fn location(&self) -> String {
        self.store.location().to_owned()
    }

    fn durability(&self) -> String {
        self.store.durability().to_string()
    }

    fn begin(
        ruby: &Ruby,
        rb_self: &Self,
        job_id: String,
        job_class: String,
        payload: Option<String>,
        restart: bool,
    ) -> Result<RbExecution, Error> {
        let run = io(ruby, || {
            Run::begin_for(
                Arc::clone(&rb_self.store),
                &job_id,
                &job_class,
                Begin {
                    payload: payload.as_deref(),
                    restart,
                },
            )
        })?
        .map_err(|e| store_error(ruby, e))?;
        Ok(RbExecution { run })
    }

    pub(crate) fn store(&self) -> &Arc<Store> {
        &self.store
    }

    fn lease_seconds(&self) -> f64 {
        self.store.lease().as_secs_f64()
    }
}

impl RbExecution {
    fn job_id(&self) -> String {
        self.run.job_id().to_owned()
    }

    fn job_class(&self) -> String {
        self.run.job_class().to_owned()
    }

    fn token(&self) -> u64 {
        self.run.token()
    }

    fn resumptions(&self) -> u64 {
        self.run.resumed_from().resumptions
    }

    /// False when the job had completed and no restart was asked: this
    /// execution did nothing and may write nothing.
    fn began(&self) -> bool {
        self.run.began()
    }

    /// The record this execution resumed from, or nil for a fresh job.
    fn progress(ruby: &Ruby, rb_self: &Self) -> Result<Option<RHash>, Error> {
        let record = rb_self.run.resumed_from();
        if !rb_self.run.existed() || (record.progress.is_empty() && !record.is_completed()) {
            return Ok(None);
        }
        record_hash(ruby, record).map(Some)
    }

    /// `completed`: step names; `step`/`cursor`: the current step (nil when
    /// between steps) and its cursor (nil before it advanced); `interrupt`:
    /// write now whatever the policy. Unchanged progress writes nothing.
    fn checkpoint(
        ruby: &Ruby,
        rb_self: &Self,
        completed: Vec<String>,
        step: Option<String>,
        cursor: Option<RString>,
        interrupt: bool,
    ) -> Result<(), Error> {
        let cursor = match (&step, cursor) {
            (None, Some(_)) => {
                return Err(Error::new(
                    ruby.exception_arg_error(),
                    "a cursor needs a current step: pass current: [step_name, cursor]",
                ))
            }
            // SAFETY: the bytes are copied at once, before any Ruby call
            // could move or change the string.
            (_, Some(cursor)) => Some(unsafe { cursor.as_slice() }.to_vec()),
            (_, None) => None,
        };
        let next = Progress {
            completed,
            current: step.map(|step| Current { step, cursor }),
        };
        io(ruby, || rb_self.run.record(next.clone(), interrupt))?.map_err(|e| store_error(ruby, e))
    }

    fn complete_step(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        io(ruby, || rb_self.run.complete_step())?.map_err(|e| store_error(ruby, e))
    }

    fn interrupt(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        io(ruby, || rb_self.run.interrupt())?.map_err(|e| store_error(ruby, e))
    }

    fn complete(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        io(ruby, || rb_self.run.complete())?.map_err(|e| store_error(ruby, e))
    }

    fn release(ruby: &Ruby, rb_self: &Self, drop_lease: bool) -> Result<(), Error> {
        io(ruby, || rb_self.run.release(drop_lease))?.map_err(|e| store_error(ruby, e))
    }
}

pub(crate) fn init(ruby: &Ruby, holdfast: RModule) -> Result<(), Error> {
    let store = holdfast.define_class("Store", ruby.class_object())?;
    store.undef_default_alloc_func();
    store.define_singleton_method("__open_sqlite", magnus::function!(open_sqlite, 5))?;
    store.define_singleton_method("__open_postgres", magnus::function!(open_postgres, 4))?;
    store.define_singleton_method("__open_memory", magnus::function!(open_memory, 1))?;
    store.define_singleton_method(
        "redact",
        magnus::function!(|url: String| holdfast::store::redact_url(&url), 1),
    )?;
    store.define_method("__get", magnus::method!(RbStore::get, 1))?;
    store.define_method("__list", magnus::method!(RbStore::list, 4))?;
    store.define_method("__prune", magnus::method!(RbStore::prune, 1))?;
    store.define_method("__begin", magnus::method!(RbStore::begin, 4))?;
    crate::store_recovery::init(store)?;
    store.define_method("lease", magnus::method!(RbStore::lease_seconds, 0))?;
    store.define_method("flush", magnus::method!(RbStore::flush, 0))?;
    store.define_method("close", magnus::method!(RbStore::close, 0))?;
    store.define_method("location", magnus::method!(RbStore::location, 0))?;
    store.define_method("__durability", magnus::method!(RbStore::durability, 0))?;

    let execution = store.define_class("Execution", ruby.class_object())?;
    execution.undef_default_alloc_func();
    execution.define_method("job_id", magnus::method!(RbExecution::job_id, 0))?;
    execution.define_method("job_class", magnus::method!(RbExecution::job_class, 0))?;
    execution.define_method("token", magnus::method!(RbExecution::token, 0))?;
    execution.define_method("resumptions", magnus::method!(RbExecution::resumptions, 0))?;
    execution.define_method("began?", magnus::method!(RbExecution::began, 0))?;
    execution.define_method("progress", magnus::method!(RbExecution::progress, 0))?;
    execution.define_method("__checkpoint", magnus::method!(RbExecution::checkpoint, 4))?;
    execution.define_method("__release", magnus::method!(RbExecution::release, 1))?;
    execution.define_method(
        "complete_step",
        magnus::method!(RbExecution::complete_step, 0),
    )?;
    execution.define_method("interrupt", magnus::method!(RbExecution::interrupt, 0))?;
    execution.define_method("complete", magnus::method!(RbExecution::complete, 0))?;
    Ok(())
}
