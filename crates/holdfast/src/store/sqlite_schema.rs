//! Opening a SQLite store: the file (owner-only when new), the connection
//! settings (WAL, synchronous, busy timeout, the checksum function), the
//! schema and its migrations, and the integrity check on open.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::checksum;
use super::sqlite::{sqlite_error, SqliteOptions, Synchronous};
use super::StoreError;

/// The schema this build writes (`PRAGMA user_version`). 2 added each
/// record's checksum, 3 its payload and lease; older stores are migrated
/// when opened.
pub(super) const SCHEMA_VERSION: i64 = 3;

/// The columns schema 2 sealed; schema 3 seals these and the payload and
/// lease columns.
const SCHEMA_2_SEALED: &str =
    "job_id, job_class, completed_steps, current_step, cursor, resumptions, token, \
     created_at, updated_at, completed_at";

/// Files up to this size get SQLite's `quick_check` when opened (about a
/// second per few hundred MiB); larger ones are checked record by record
/// only, as they are read.
const QUICK_CHECK_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Stores a record's checksum over what the row now holds.
pub(super) const RESEAL: &str = "UPDATE holdfast_continuations SET checksum = holdfast_checksum(job_id, job_class, \
     completed_steps, current_step, cursor, resumptions, token, created_at, updated_at, completed_at, \
     payload, lease_owner, lease_expires_at) WHERE job_id = ?1";

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

pub(super) fn connect(
    path: &Path,
    location: &str,
    options: &SqliteOptions,
) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
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
    // The first statement that reads the file: a file that is not a
    // database fails here, before anything is written to it.
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
        .map_err(|e| sqlite_error(location, e))?;
    Ok(connection)
}

/// Creates the table (schema 3) or migrates an older store: schema 1 gets
/// the checksum, payload and lease columns and every record sealed; schema
/// 2 gets the payload and lease columns, and each record whose schema-2
/// seal still holds is sealed anew (one that no longer matches stays
/// unsealed, so reading it reports the damage rather than blessing it).
pub(super) fn create_schema(connection: &Connection, location: &str) -> Result<(), StoreError> {
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| sqlite_error(location, e))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::io(
            location,
            format!("the store was written by a newer Holdfast (schema {version}; this one knows up to {SCHEMA_VERSION}); upgrade Holdfast"),
        ));
    }
    if version == SCHEMA_VERSION {
        // Already there: opening writes nothing, so a store on a full disk
        // (or one this process may only read) still opens and reads.
        return Ok(());
    }
    let add_payload_and_lease = "ALTER TABLE holdfast_continuations ADD COLUMN payload TEXT;
         ALTER TABLE holdfast_continuations ADD COLUMN lease_owner TEXT;
         ALTER TABLE holdfast_continuations ADD COLUMN lease_expires_at INTEGER;";
    let create_or_migrate = if version == 1 {
        format!(
            "{add_payload_and_lease}
             ALTER TABLE holdfast_continuations ADD COLUMN checksum INTEGER;
             {};",
            RESEAL.replace(" WHERE job_id = ?1", "")
        )
    } else if version == 2 {
        format!(
            "{add_payload_and_lease}
             {} WHERE checksum = holdfast_checksum({SCHEMA_2_SEALED});",
            RESEAL.replace(" WHERE job_id = ?1", "")
        )
    } else {
        "CREATE TABLE IF NOT EXISTS holdfast_continuations (
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
           checksum INTEGER
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS holdfast_continuations_by_update
           ON holdfast_continuations (completed_at, updated_at);"
            .to_owned()
    };
    connection
        .execute_batch(&format!(
            "BEGIN IMMEDIATE;
             {create_or_migrate}
             CREATE INDEX IF NOT EXISTS holdfast_continuations_by_lease
               ON holdfast_continuations (lease_expires_at) WHERE completed_at IS NULL;
             PRAGMA user_version = {SCHEMA_VERSION};
             COMMIT;"
        ))
        .map_err(|e| {
            let _ = connection.execute_batch("ROLLBACK");
            sqlite_error(location, e)
        })
}

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
}
