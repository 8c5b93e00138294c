//! Opening a SQLite store: the file (owner-only when new), the connection
//! settings (WAL, synchronous, busy timeout, the checksum function), the
//! schema and its migrations, and the integrity check on open.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::checksum;
use super::clock::{boot_id, boot_ms};
use super::sqlite::{sqlite_error, SqliteOptions, Synchronous};
use super::StoreError;

/// The schema this build writes (`PRAGMA user_version`). 2 added each
/// record's checksum, 3 its payload and lease, 4 the recovery count,
/// quarantine, the store's meta table (token floor, boot id) and leases on
/// the boot clock; older stores are migrated when opened for writing.
pub(super) const SCHEMA_VERSION: i64 = 4;

/// `PRAGMA application_id` of a Holdfast store ("Hold"): a database
/// without it (and without an older Holdfast schema) is not ours.
pub(super) const APPLICATION_ID: i64 = 0x486f_6c64;

/// The columns schema 2 sealed.
const SCHEMA_2_SEALED: &str =
    "job_id, job_class, completed_steps, current_step, cursor, resumptions, token, \
     created_at, updated_at, completed_at";

/// The columns schema 3 sealed.
const SCHEMA_3_SEALED: &str =
    "job_id, job_class, completed_steps, current_step, cursor, resumptions, token, \
     created_at, updated_at, completed_at, payload, lease_owner, lease_expires_at";

/// Files up to this size get SQLite's `quick_check` when opened (about a
/// second per few hundred MiB); larger ones are checked record by record
/// only, as they are read.
const QUICK_CHECK_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Stores a record's checksum over what the row now holds.
pub(super) const RESEAL: &str = "UPDATE holdfast_continuations SET checksum = holdfast_checksum(job_id, job_class, \
     completed_steps, current_step, cursor, resumptions, token, created_at, updated_at, completed_at, \
     payload, lease_owner, lease_expires_at, recoveries, recovery_mark, quarantined_at, quarantine_reason) \
     WHERE job_id = ?1";

/// Creates a new store file readable and writable by its owner only (jobs'
/// progress and arguments are the app's data); SQLite gives its -wal and
/// -shm files the same mode. An existing file keeps its mode. Failing here
/// is not an error: the open that follows reports what is wrong.
pub(super) fn create_owner_only(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
}

/// Opens a connection without writing anything to the file: for reading
/// (`read_only`, the file must exist) or for writing.
pub(super) fn connect(
    path: &Path,
    location: &str,
    options: &SqliteOptions,
    read_only: bool,
) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    if read_only && !path.exists() {
        return Err(StoreError::io(
            location,
            "no such file (a read never creates a store; check the path, or run the app once to create it)",
        ));
    }
    let connection = Connection::open_with_flags(path, flags).map_err(|e| {
        let hint = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
                format!(
                    " (the directory {} does not exist; create it first)",
                    dir.display()
                )
            }
            _ => " (check that the directory exists and this process may write to it)".to_owned(),
        };
        StoreError::io(
            location,
            format!("cannot open the database file: {e}{hint}"),
        )
    })?;
    connection
        .busy_timeout(options.busy_timeout)
        .map_err(|e| sqlite_error(location, e))?;
    checksum::register(&connection).map_err(|e| sqlite_error(location, e))?;
    Ok(connection)
}

/// Switches a writer's connection to WAL and its `synchronous` setting.
/// Only for a file [`inspect`] found to be a Holdfast store (or empty).
pub(super) fn configure_writer(
    connection: &Connection,
    location: &str,
    options: &SqliteOptions,
) -> Result<(), StoreError> {
    let mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| sqlite_error(location, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::io(
            location,
            format!("cannot switch the database to WAL mode (it stays in {mode} mode): is it on a network file system?"),
        ));
    }
    let synchronous = match options.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    connection
        .pragma_update(None, "synchronous", synchronous)
        .map_err(|e| sqlite_error(location, e))
}

/// What a file holds, read without writing.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// No tables, no application id, no user version (a new or 0-byte file).
    Empty,
    /// A Holdfast store at this schema version (an older one may predate
    /// the application id).
    Holdfast(i64),
}

/// Reads the file's application id, user version and tables, and refuses
/// a database that is not a Holdfast store ([`StoreError::NotADatabase`],
/// saying what it holds) before anything could change it. A file that is
/// not SQLite at all fails here too, on its first read.
pub(super) fn inspect(connection: &Connection, location: &str) -> Result<Found, StoreError> {
    let pragma = |name: &str| -> Result<i64, StoreError> {
        connection
            .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
            .map_err(|e| sqlite_error(location, e))
    };
    let application_id = pragma("application_id")?;
    let version = pragma("user_version")?;
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
        .map_err(|e| sqlite_error(location, e))?;
    let ours = ["holdfast_continuations", "holdfast_meta"];
    let others: Vec<&String> = tables
        .iter()
        .filter(|t| !ours.contains(&t.as_str()))
        .collect();
    let has_table = tables.iter().any(|t| t == "holdfast_continuations");
    let refuse = |what: String| {
        StoreError::NotADatabase {
        location: location.to_owned(),
        message: format!(
            "it is a SQLite database but not a Holdfast store ({what}); nothing in it was read or changed: \
             point Holdfast at its own file (a new path is created as a store)"
        ),
    }
    };
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(refuse(format!("its application_id is {application_id:#x}")));
    }
    if !others.is_empty() {
        let names: Vec<&str> = others.iter().take(5).map(|t| t.as_str()).collect();
        return Err(refuse(format!("it has other tables: {}", names.join(", "))));
    }
    if application_id == 0 && !has_table {
        if version != 0 {
            return Err(refuse(format!(
                "user_version {version} and no Holdfast table"
            )));
        }
        return Ok(Found::Empty);
    }
    if !has_table {
        return Err(refuse(
            "Holdfast's application id but no Holdfast table".to_owned(),
        ));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::io(
            location,
            format!("the store was written by a newer Holdfast (schema {version}; this one knows up to {SCHEMA_VERSION}); upgrade Holdfast"),
        ));
    }
    if version < 1 || (application_id == 0 && version >= SCHEMA_VERSION) {
        return Err(refuse(format!(
            "a holdfast_continuations table with user_version {version}"
        )));
    }
    Ok(Found::Holdfast(version))
}

/// Creates the schema in an empty file or migrates an older store, in one
/// IMMEDIATE transaction (a second process opening at the same moment
/// waits, then finds the work done). Each migration step re-seals only the
/// records whose old seal still holds: a record damaged before the
/// migration stays unsealed, so reading it reports the damage rather than
/// blessing it. Leases from schema 3 (wall-clock times) move to the boot
/// clock.
pub(super) fn create_schema(connection: &Connection, location: &str) -> Result<(), StoreError> {
    let run = || -> Result<(), StoreError> {
        connection
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| sqlite_error(location, e))?;
        // Read again under the lock: another process may have migrated.
        let found = inspect(connection, location)?;
        let mut version = match found {
            Found::Holdfast(SCHEMA_VERSION) => {
                return connection
                    .execute_batch("COMMIT")
                    .map_err(|e| sqlite_error(location, e))
            }
            Found::Holdfast(version) => version,
            Found::Empty => 0,
        };
        let batch = |sql: &str| {
            connection
                .execute_batch(sql)
                .map_err(|e| sqlite_error(location, e))
        };
        if version == 0 {
            batch(
                "CREATE TABLE holdfast_continuations (
                   job_id TEXT PRIMARY KEY NOT NULL,
                   job_class TEXT NOT NULL,
                   completed_steps TEXT NOT NULL,
                   current_step TEXT,
                   cursor BLOB,
                   resumptions INTEGER NOT NULL,
                   token INTEGER NOT NULL,
                   created_at INTEGER NOT NULL,
                   updated_at INTEGER NOT NULL,
                   completed_at INTEGER,
                   payload TEXT,
                   lease_owner TEXT,
                   lease_expires_at INTEGER,
                   recoveries INTEGER NOT NULL DEFAULT 0,
                   recovery_mark INTEGER,
                   quarantined_at INTEGER,
                   quarantine_reason TEXT,
                   checksum INTEGER
                 ) WITHOUT ROWID;
                 CREATE INDEX holdfast_continuations_by_update
                   ON holdfast_continuations (completed_at, updated_at);",
            )?;
            version = SCHEMA_VERSION;
        }
        if version == 1 {
            batch(&format!(
                "ALTER TABLE holdfast_continuations ADD COLUMN checksum INTEGER;
                 UPDATE holdfast_continuations SET checksum = holdfast_checksum({SCHEMA_2_SEALED});"
            ))?;
            version = 2;
        }
        if version == 2 {
            batch(&format!(
                "ALTER TABLE holdfast_continuations ADD COLUMN payload TEXT;
                 ALTER TABLE holdfast_continuations ADD COLUMN lease_owner TEXT;
                 ALTER TABLE holdfast_continuations ADD COLUMN lease_expires_at INTEGER;
                 UPDATE holdfast_continuations SET checksum = NULL
                   WHERE checksum IS NOT holdfast_checksum({SCHEMA_2_SEALED});
                 UPDATE holdfast_continuations SET checksum = holdfast_checksum({SCHEMA_3_SEALED})
                   WHERE checksum IS NOT NULL;"
            ))?;
            version = 3;
        }
        if version == 3 {
            let wall_minus_boot = super::now_ms() - boot_ms();
            batch(&format!(
                "ALTER TABLE holdfast_continuations ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0;
                 ALTER TABLE holdfast_continuations ADD COLUMN recovery_mark INTEGER;
                 ALTER TABLE holdfast_continuations ADD COLUMN quarantined_at INTEGER;
                 ALTER TABLE holdfast_continuations ADD COLUMN quarantine_reason TEXT;
                 UPDATE holdfast_continuations SET checksum = NULL
                   WHERE checksum IS NOT holdfast_checksum({SCHEMA_3_SEALED});
                 UPDATE holdfast_continuations SET lease_expires_at = lease_expires_at - {wall_minus_boot}
                   WHERE lease_expires_at IS NOT NULL;
                 {} WHERE checksum IS NOT NULL;",
                RESEAL.replace(" WHERE job_id = ?1", "")
            ))?;
        }
        batch(&format!(
            "CREATE TABLE IF NOT EXISTS holdfast_meta (key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
             INSERT OR IGNORE INTO holdfast_meta VALUES ('token_floor', 0);
             INSERT OR IGNORE INTO holdfast_meta VALUES ('boot_id', '{}');
             CREATE INDEX IF NOT EXISTS holdfast_continuations_by_lease
               ON holdfast_continuations (lease_expires_at) WHERE completed_at IS NULL;
             PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = {SCHEMA_VERSION};
             COMMIT;",
            boot_id().replace('\'', "")
        ))
    };
    run().inspect_err(|_| {
        let _ = connection.execute_batch("ROLLBACK");
    })
}

/// The boot id the store was last opened in, if not this one: its leases
/// are on a boot clock that restarted (every process that held one is
/// gone).
pub(super) fn stale_boot(connection: &Connection, location: &str) -> Result<bool, StoreError> {
    let stored: Option<String> = connection
        .query_row(
            "SELECT value FROM holdfast_meta WHERE key = 'boot_id'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(|e| sqlite_error(location, e))?;
    Ok(stored.is_some_and(|stored| stored != boot_id()))
}

/// After a reboot: every lease from the earlier boot ends now (at 0 on the
/// new boot clock), and the store remembers this boot. Runs only when the
/// boot changed, so an up-to-date store still opens without writing.
pub(super) fn expire_leases_of_earlier_boot(
    connection: &Connection,
    location: &str,
) -> Result<(), StoreError> {
    if !stale_boot(connection, location)? {
        return Ok(());
    }
    connection
        .execute_batch(&format!(
            "BEGIN IMMEDIATE;
             UPDATE holdfast_continuations SET lease_expires_at = 0,
               checksum = holdfast_checksum(job_id, job_class, completed_steps, current_step, cursor,
                 resumptions, token, created_at, updated_at, completed_at, payload, lease_owner, 0,
                 recoveries, recovery_mark, quarantined_at, quarantine_reason)
               WHERE lease_expires_at IS NOT NULL AND checksum IS holdfast_checksum({COLUMNS_SEALED});
             UPDATE holdfast_meta SET value = '{}' WHERE key = 'boot_id';
             COMMIT;",
            boot_id().replace('\'', "")
        ))
        .map_err(|e| {
            let _ = connection.execute_batch("ROLLBACK");
            sqlite_error(location, e)
        })
}

/// The columns schema 4 seals, as [`RESEAL`] lists them.
const COLUMNS_SEALED: &str = "job_id, job_class, completed_steps, current_step, cursor, resumptions, token, \
     created_at, updated_at, completed_at, payload, lease_owner, lease_expires_at, recoveries, recovery_mark, \
     quarantined_at, quarantine_reason";

/// SQLite's own structural check of the whole file, where that is cheap:
/// it finds damaged pages, including ones that would make records vanish
/// (which no per-record checksum can see).
pub(super) fn quick_check(
    path: &Path,
    connection: &Connection,
    location: &str,
) -> Result<(), StoreError> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > QUICK_CHECK_MAX_BYTES {
        return Ok(());
    }
    let mut statement = connection
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| sqlite_error(location, e))?;
    let problems: Vec<String> = statement
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| sqlite_error(location, e))?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        location: location.to_owned(),
        job_id: None,
        message: format!("SQLite's quick_check says: {}", problems.join("; ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoreOptions};

    /// A store the previous release wrote (schema 2: sealed records, no
    /// payload or lease) opens, is migrated, and keeps working; a record
    /// whose schema-2 seal no longer holds is not blessed by the migration.
    #[test]
    fn a_schema_2_store_is_migrated_and_keeps_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schema2.sqlite3");
        let raw = Connection::open(&path).unwrap();
        checksum::register(&raw).unwrap();
        raw.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE holdfast_continuations (
               job_id TEXT PRIMARY KEY NOT NULL, job_class TEXT NOT NULL,
               completed_steps TEXT NOT NULL, current_step TEXT, cursor BLOB,
               resumptions INTEGER NOT NULL, token INTEGER NOT NULL,
               created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, completed_at INTEGER,
               checksum INTEGER
             ) WITHOUT ROWID;
             CREATE INDEX holdfast_continuations_by_update ON holdfast_continuations (completed_at, updated_at);
             INSERT INTO holdfast_continuations VALUES
               ('kept', 'ImportJob', '[\"download\"]', 'import', X'5b34325d', 0, 3, 1000, 2000, NULL, NULL),
               ('damaged', 'ImportJob', '[]', 'import', X'5b375d', 0, 1, 1000, 2000, NULL, NULL);
             UPDATE holdfast_continuations SET checksum = holdfast_checksum({SCHEMA_2_SEALED});
             UPDATE holdfast_continuations SET cursor = X'5b385d' WHERE job_id = 'damaged';
             PRAGMA user_version = 2;"
        ))
        .unwrap();
        drop(raw);

        let store =
            Store::sqlite(&path, &SqliteOptions::default(), StoreOptions::default()).unwrap();
        let kept = store.get("kept").unwrap().unwrap();
        assert_eq!(kept.progress.current.unwrap().cursor.unwrap(), b"[42]");
        assert_eq!((kept.token, kept.payload, kept.lease), (3, None, None));
        let error = store.get("damaged").unwrap_err();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
        let e = store
            .begin_execution_with("kept", "ImportJob", Some("{}"))
            .unwrap();
        assert_eq!((e.token, e.record.resumptions), (4, 1));
        assert_eq!(
            store.get("kept").unwrap().unwrap().payload.as_deref(),
            Some("{}")
        );
        drop(store);
        let raw = Connection::open(&path).unwrap();
        let version: i64 = raw
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    /// A schema-3 store (leases on the wall clock) migrates to schema 4:
    /// leases move to the boot clock and keep their meaning (a live one is
    /// not claimed, one that ran out is), seals hold, a damaged record stays
    /// damaged; and after a reboot every lease from the earlier boot is over.
    #[test]
    fn a_schema_3_store_is_migrated_and_a_reboot_ends_its_leases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schema3.sqlite3");
        let raw = Connection::open(&path).unwrap();
        checksum::register(&raw).unwrap();
        let now = crate::store::now_ms();
        raw.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE holdfast_continuations (
               job_id TEXT PRIMARY KEY NOT NULL, job_class TEXT NOT NULL,
               completed_steps TEXT NOT NULL, current_step TEXT, cursor BLOB,
               resumptions INTEGER NOT NULL, token INTEGER NOT NULL,
               created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, completed_at INTEGER,
               payload TEXT, lease_owner TEXT, lease_expires_at INTEGER, checksum INTEGER
             ) WITHOUT ROWID;
             INSERT INTO holdfast_continuations VALUES
               ('live', 'Job', '[]', 's', X'5b315d', 0, 2, 1000, 2000, NULL, '{{}}', 'h:1:a', {live}, NULL),
               ('dead', 'Job', '[]', 's', X'5b325d', 0, 5, 1000, 2000, NULL, '{{}}', 'h:2:b', {dead}, NULL),
               ('damaged', 'Job', '[]', 's', X'5b335d', 0, 1, 1000, 2000, NULL, '{{}}', 'h:3:c', {dead}, NULL);
             UPDATE holdfast_continuations SET checksum = holdfast_checksum({SCHEMA_3_SEALED});
             UPDATE holdfast_continuations SET cursor = X'5b395d' WHERE job_id = 'damaged';
             PRAGMA user_version = 3;",
            live = now + 60_000,
            dead = now - 10_000
        ))
        .unwrap();
        drop(raw);
        let store =
            Store::sqlite(&path, &SqliteOptions::default(), StoreOptions::default()).unwrap();
        let live = store.get("live").unwrap().unwrap().lease.unwrap();
        assert!((live.expires_at - (now + 60_000)).abs() < 2_000, "{live:?}");
        assert!(matches!(
            store.get("damaged"),
            Err(StoreError::Corrupt { .. })
        ));
        let swept = store.claim_orphans(10).unwrap();
        let claimed: Vec<&str> = swept.claimed.iter().map(|c| c.job_id.as_str()).collect();
        assert_eq!(claimed, ["dead"]);
        assert_eq!(swept.damaged.len(), 1);
        drop(store);

        // The host rebooted: the store was last opened in another boot.
        let raw = Connection::open(&path).unwrap();
        raw.execute(
            "UPDATE holdfast_meta SET value = 'an-earlier-boot' WHERE key = 'boot_id'",
            [],
        )
        .unwrap();
        let (version, app): (i64, i64) = raw
            .query_row("SELECT (SELECT user_version FROM pragma_user_version), (SELECT application_id FROM pragma_application_id)", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((version, app), (SCHEMA_VERSION, APPLICATION_ID));
        drop(raw);
        let store =
            Store::sqlite(&path, &SqliteOptions::default(), StoreOptions::default()).unwrap();
        let swept = store.claim_orphans(10).unwrap();
        let mut claimed: Vec<&str> = swept.claimed.iter().map(|c| c.job_id.as_str()).collect();
        claimed.sort();
        // "dead"'s recovery claim went with the reboot too.
        assert_eq!(
            claimed,
            ["dead", "live"],
            "a lease from an earlier boot lived on"
        );
    }
}
