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
pub mod applications;
pub mod attribute;
pub mod backup;
pub mod catalog;
pub mod checkpointer;
pub mod clicks;
pub mod connectors;
pub mod conversions;
pub mod coupons;
pub mod customers;
pub mod deliveries;
pub mod emails;
pub mod events;
pub mod file;
pub mod held;
pub mod keys;
pub mod ledger;
pub mod mailing;
pub mod migrate;
pub mod offers;
pub mod payout_runs;
pub mod payouts;
pub mod portal;
pub mod postbacks;
pub mod rates;
pub mod reports;
pub mod resets;
pub mod retention;
pub mod sessions;
pub mod settings;
pub mod space;
#[cfg(test)]
pub(crate) mod testing;
mod values;
pub mod webhook_deliveries;
pub mod webhooks;
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

/// What opening a database for writing does when its schema is older than this program's.
pub enum Upgrade<'a> {
    /// Migrate straight away (unit tests and benchmarks).
    Migrate,
    /// Write a verified backup (`backup::run`, with these settings) into `dir` first, then
    /// migrate: what `serve` and `migrate` do.
    BackUpFirst { dir: &'a Path, environment: &'a [(String, String)] },
    /// Refuse, saying how to upgrade: the other tools never change the schema.
    Refuse,
}

/// Opens (creating if needed) the database for writing, switches it to WAL and brings the
/// schema up to date. With `autocheckpoint` > 0 this connection checkpoints after commits that
/// leave that many pages in the WAL; the server passes 0 and runs `checkpointer` instead.
pub fn open_writer(path: &Path, sync: Synchronous, autocheckpoint: u32) -> Result<Connection, String> {
    open_writer_with(path, sync, autocheckpoint, Upgrade::Migrate).map(|(conn, _)| conn)
}

/// [`open_writer`], deciding what an older schema gets. Returns the connection and the backup
/// written before migrating, if one was.
pub fn open_writer_with(
    path: &Path,
    sync: Synchronous,
    autocheckpoint: u32,
    upgrade: Upgrade,
) -> Result<(Connection, Option<std::path::PathBuf>), String> {
    file::prepare(path)?;
    let conn = Connection::open(path).map_err(|e| format!("while opening the database {}: {e}", path.display()))?;
    configure(&conn, sync).map_err(|e| format!("while configuring the database {}: {e}", path.display()))?;
    // A new file gives freed pages back (`space.rs`); the mode can only be chosen before the
    // file's first page is written, which switching to WAL does.
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .map_err(|e| format!("while reading the database {}: {e}", path.display()))?;
    if pages == 0 {
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(|e| format!("while configuring the database {}: {e}", path.display()))?;
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| format!("while switching {} to WAL: {e}", path.display()))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("{} cannot use WAL mode (got {mode}); is it on a network file system?", path.display()));
    }
    conn.pragma_update(None, "wal_autocheckpoint", autocheckpoint)
        .map_err(|e| format!("while configuring checkpoints: {e}"))?;
    let unpacked = backup::unpack_in_place(&conn, path)?;
    for line in &unpacked {
        log::warn!("{line}");
    }
    if !unpacked.is_empty() {
        // The backup's table is gone from the pages; fold them into the file now, so the old
        // pages with the key and token do not wait in the main file for the next checkpoint.
        checkpoint_truncate(&conn);
    }
    let mut written = None;
    if let Some(from) = migrate::pending(&conn)? {
        match upgrade {
            Upgrade::Migrate => {}
            Upgrade::Refuse => {
                return Err(format!(
                    "the database {} has schema version {from}, older than {} (schema {}); upgrade it with \
                     `affiliated migrate --db {}` (which backs it up first), or start the server",
                    path.display(),
                    migrate::program(),
                    migrate::CURRENT,
                    path.display()
                ));
            }
            Upgrade::BackUpFirst { dir, environment } => {
                let out = backup::fresh_path(dir, |at| backup::pre_upgrade_name(at, from));
                backup::ensure_dir(dir)
                    .and_then(|()| backup::run(path, &out, environment))
                    .map_err(|e| format!("the database was not migrated, because the backup before it failed: {e}"))?;
                log::warn!(
                    "backed up the database (schema {from}) to {} before migrating it to schema {}; restore it with \
                     `affiliated restore` to go back",
                    out.display(),
                    migrate::CURRENT
                );
                written = Some(out);
            }
        }
    }
    migrate::run(&conn)?;
    Ok((conn, written))
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

/// Opens an existing database for a command-line tool (and brings its schema up to date). A
/// missing file is an error, never a fresh database: a tool run from the wrong directory must
/// not make a database of its own that the server never sees.
pub fn open_tool(path: &Path) -> Result<Connection, String> {
    file::existing(path)?;
    open_writer_with(path, Synchronous::Full, 1000, Upgrade::Refuse).map(|(conn, _)| conn)
}

/// Opens a database file as it is, without changing its journal mode or schema (a restore's
/// copy, before it becomes the live database), with the pragmas every connection has.
pub fn open_as_is(path: &Path) -> Result<Connection, String> {
    let conn = Connection::open(path).map_err(|e| format!("while opening {}: {e}", path.display()))?;
    configure(&conn, Synchronous::Full).map_err(|e| format!("while configuring {}: {e}", path.display()))?;
    Ok(conn)
}

fn configure(conn: &Connection, sync: Synchronous) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Query-planner stability: without it, SQLite 3.54 marks statements whose plan could depend
    // on a bound value for re-preparation, and a cached join re-prepared on *every* execution
    // once its tables had rows (measured: 1,999 re-prepares in 2,000 lookups; half the writer's
    // time). Our statements are key lookups whose best plan never depends on the value.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", sync.pragma())?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Erased personal data is overwritten, not just unlinked from the b-tree.
    conn.pragma_update(None, "secure_delete", true)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Unit tests' smallest catalog: affiliate 1 `ann`, offer 1 `main` (the default, 10%).
#[cfg(test)]
pub(crate) const TEST_CATALOG: &str =
    "INSERT INTO affiliates (referral_code, name, created_at) VALUES ('ann', 'Ann', 1);
     INSERT INTO offers (public_id, name, landing_url, commission_type, commission_value, attribution,
                         click_window_days, currency, is_default, created_at)
     VALUES ('main', 'Main', 'https://s.example/', 'percent', 100000, 'last_click', 30, 'USD', 1, 1);";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_joins_are_not_re_prepared_as_tables_grow() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("a.db"), Synchronous::Normal, 1000).unwrap();
        conn.execute_batch(TEST_CATALOG).unwrap();
        let lookup = "SELECT v.id, a.referral_code FROM conversions v JOIN affiliates a ON a.id = v.affiliate_id
                      WHERE v.external_id = ?1";
        for i in 0..50 {
            conn.execute(
                "INSERT INTO conversions (external_id, type, affiliate_id, offer_id, attributed_by, source, currency,
                                          amount, base_commission, commission, status, created_at, updated_at)
                 VALUES (?1, 'sale', 1, 1, 'coupon', 'api', 'USD', 1, 0, 0, 'pending', 1, 1)",
                [format!("e{i}")],
            )
            .unwrap();
            let mut stmt = conn.prepare_cached(lookup).unwrap();
            stmt.query_row([format!("e{i}")], |_| Ok(())).unwrap();
        }
        let stmt = conn.prepare_cached(lookup).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}

/// SQLite's memory, every connection of the process together, from which the connections' page
/// caches stop growing and reuse their own pages instead (the soft heap limit). Each of the 32
/// workers' readers otherwise keeps a cache of up to 2 MiB: 73 MiB after heavy pages (bench/scale).
pub const MEMORY_LIMIT: i64 = 24 << 20;

/// Sets [`MEMORY_LIMIT`] for the process (the server, at start).
pub fn limit_memory() {
    // SAFETY: sqlite3_soft_heap_limit64 only sets SQLite's own threshold.
    unsafe { rusqlite::ffi::sqlite3_soft_heap_limit64(MEMORY_LIMIT) };
}

/// A real read through `conn`, for health checks: fails when the database cannot be read.
pub fn probe(conn: &Connection) -> Result<(), crate::error::Error> {
    conn.prepare_cached("SELECT count(*) FROM offers")?.query_row([], |r| r.get::<_, i64>(0))?;
    Ok(())
}

/// True when a statement failed on a FOREIGN KEY constraint.
pub fn is_foreign_key_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
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

/// A write that can be refused on the writer, where what a reader saw may have changed (a
/// conversion whose click was swept in between, a refund of an amount its conversion does not
/// have): the refusal to answer with, apart from a failure of the store, so that a caller that
/// logs refusals and gives up on failures (a shop's hook) never has to guess which it got.
#[derive(Debug)]
pub enum WriteError {
    Refused(crate::tracking::conversion::Refusal),
    Failed(crate::error::Error),
}

impl From<crate::error::Error> for WriteError {
    fn from(e: crate::error::Error) -> WriteError {
        WriteError::Failed(e)
    }
}

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> WriteError {
        WriteError::Failed(e.into())
    }
}

impl From<crate::tracking::conversion::Refusal> for WriteError {
    fn from(refusal: crate::tracking::conversion::Refusal) -> WriteError {
        WriteError::Refused(refusal)
    }
}

impl std::ops::Deref for WriteError {
    type Target = crate::error::Error;

    /// The error either kind carries.
    fn deref(&self) -> &crate::error::Error {
        match self {
            WriteError::Refused(refusal) => refusal,
            WriteError::Failed(e) => e,
        }
    }
}

impl From<WriteError> for crate::error::Error {
    fn from(e: WriteError) -> crate::error::Error {
        match e {
            WriteError::Refused(refusal) => refusal.into(),
            WriteError::Failed(e) => e,
        }
    }
}

/// Runs `work` inside a nested SAVEPOINT: its changes are kept if it succeeds and undone if it
/// fails, while the surrounding transaction goes on (used to log an attempt whatever its outcome).
pub fn nested<T, E: From<rusqlite::Error>>(
    conn: &writer::Tx<'_>,
    work: impl FnOnce(&writer::Tx<'_>) -> Result<T, E>,
) -> Result<T, E> {
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
