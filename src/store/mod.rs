//! Storage: the only module with SQL. One SQLite file in WAL mode.
//!
//! Connections come in two kinds. Exactly one *writer* connection lives on the writer thread
//! (`writer.rs`), which runs every write of the process and groups concurrent ones into one
//! transaction. Every HTTP worker owns a *reader* connection (`query_only`), so reads run in
//! parallel and never wait for the writer. Command-line tools open their own connection and rely
//! on `busy_timeout` while a server runs.
//!
//! Invariants kept here: foreign keys are on for every connection; every statement binds its
//! parameters; a write is reported as done only after its transaction committed.

pub mod affiliates;
pub mod attribute;
pub mod backup;
pub mod clicks;
pub mod conversions;
pub mod coupons;
pub mod customers;
pub mod deliveries;
pub mod keys;
pub mod migrate;
pub mod offers;
pub mod postbacks;
pub mod reports;
pub mod retention;
pub mod writer;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How hard a commit waits for the disk. `Normal` in WAL mode survives a crash of the process
/// and of the OS; a power cut may lose the last commits. `Full` syncs on every commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synchronous {
    Normal,
    Full,
}

impl Synchronous {
    pub fn parse(text: &str) -> Option<Synchronous> {
        match text {
            "normal" => Some(Synchronous::Normal),
            "full" => Some(Synchronous::Full),
            _ => None,
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating if needed) the database for writing, switches it to WAL and brings the
/// schema up to date. Checkpoints run after commits that leave `autocheckpoint` or more pages
/// in the WAL (PASSIVE: they never wait for readers); 0 disables them for an external tool.
pub fn open_writer(path: &Path, sync: Synchronous, autocheckpoint: u32) -> Result<Connection, String> {
    let conn = Connection::open(path).map_err(|e| format!("while opening the database {}: {e}", path.display()))?;
    configure(&conn, sync).map_err(|e| format!("while configuring the database {}: {e}", path.display()))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| format!("while switching {} to WAL: {e}", path.display()))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("{} cannot use WAL mode (got {mode}); is it on a network file system?", path.display()));
    }
    conn.pragma_update(None, "wal_autocheckpoint", autocheckpoint)
        .map_err(|e| format!("while configuring checkpoints: {e}"))?;
    migrate::run(&conn)?;
    Ok(conn)
}

/// Opens an existing database for reading only (HTTP workers).
pub fn open_reader(path: &Path) -> Result<Connection, String> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| format!("while opening the database {} for reading: {e}", path.display()))?;
    configure(&conn, Synchronous::Normal).map_err(|e| format!("while configuring a reader: {e}"))?;
    conn.pragma_update(None, "query_only", true).map_err(|e| format!("while configuring a reader: {e}"))?;
    Ok(conn)
}

/// Opens the database for a command-line tool, creating and migrating it if needed.
pub fn open_tool(path: &Path) -> Result<Connection, String> {
    open_writer(path, Synchronous::Full, 1000)
}

fn configure(conn: &Connection, sync: Synchronous) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", sync.pragma())?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Erased personal data is overwritten, not just unlinked from the b-tree.
    conn.pragma_update(None, "secure_delete", true)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// True when a statement failed on a UNIQUE or PRIMARY KEY constraint.
pub fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// The outcome of an insert keyed by a merchant's identifier.
#[derive(Debug)]
pub enum Insert<T> {
    Created(T),
    /// The identifier existed; this is the stored object, unchanged.
    Duplicate(T),
}

/// Runs `work` inside a nested SAVEPOINT: its changes are kept if it succeeds and undone if it
/// fails, while the surrounding transaction goes on (used to log an attempt whatever its outcome).
pub fn nested<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, crate::error::Error>,
) -> Result<T, crate::error::Error> {
    conn.prepare_cached("SAVEPOINT nested")?.execute([])?;
    let result = work(conn);
    if result.is_err() {
        conn.prepare_cached("ROLLBACK TO nested")?.execute([])?;
    }
    conn.prepare_cached("RELEASE nested")?.execute([])?;
    result
}

/// Folds the WAL into the database file and truncates it, so nothing erased lingers in old WAL
/// frames. Fails harmlessly (and says so) while a reader such as Litestream holds a snapshot.
pub fn checkpoint_truncate(conn: &Connection) {
    // Do not stall the writer behind a long reader: try briefly, then leave it to the next one.
    let _ = conn.busy_timeout(std::time::Duration::from_millis(200));
    let outcome = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
    let _ = conn.busy_timeout(BUSY_TIMEOUT);
    match outcome {
        Ok(0) => {}
        Ok(_) => log::warn!(
            "the WAL could not be truncated now (a reader holds it); erased data leaves it at the next checkpoint"
        ),
        Err(e) => log::warn!("checkpoint failed: {e}"),
    }
}
