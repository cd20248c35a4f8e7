//! Consistent copies of a live database. SQLite's online backup API copies a snapshot page by
//! page while writers go on; the copy is then checked with `PRAGMA integrity_check`. A plain
//! `cp` of a WAL database is not safe: the main file alone may miss committed transactions that
//! are still only in the `-wal` file, and copying both while a checkpoint runs can tear them.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::StepResult;
use rusqlite::{Connection, OpenFlags};

/// Writes a consistent snapshot of `source` to `out` and verifies it. `out` must not exist.
/// Returns the number of pages copied.
pub fn run(source: &Path, out: &Path) -> Result<i64, String> {
    if out.exists() {
        return Err(format!("{} already exists; choose a new file name", out.display()));
    }
    let src = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| format!("while opening {}: {e}", source.display()))?;
    src.busy_timeout(super::BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    let partial = out.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let result = copy_and_check(&src, &partial).and_then(|pages| {
        std::fs::rename(&partial, out)
            .map_err(|e| format!("while moving the backup into place at {}: {e}", out.display()))?;
        Ok(pages)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn copy_and_check(src: &Connection, partial: &Path) -> Result<i64, String> {
    // Created private first: SQLite would create it with mode 0644, and its journal takes the
    // file's mode. A backup holds everything the database does.
    crate::secret::open_private(partial, std::fs::OpenOptions::new().write(true).create_new(true))
        .map_err(|e| format!("while creating {}: {e}", partial.display()))?;
    let mut dst = Connection::open(partial).map_err(|e| format!("while creating {}: {e}", partial.display()))?;
    {
        let backup =
            rusqlite::backup::Backup::new(src, &mut dst).map_err(|e| format!("while starting the backup: {e}"))?;
        // One step copies every page under a single read transaction: in WAL mode that snapshot
        // does not block the server's writer, and no concurrent write can restart the copy
        // (smaller steps restart from scratch whenever another connection writes).
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if std::time::Instant::now() > deadline {
                return Err("the database stayed locked for a minute; is a long write running?".into());
            }
            match backup.step(-1).map_err(|e| format!("while copying the database: {e}"))? {
                StepResult::Done => break,
                StepResult::More => continue,
                StepResult::Busy | StepResult::Locked => std::thread::sleep(Duration::from_millis(20)),
                _ => return Err("the backup stopped unexpectedly".into()),
            }
        }
    }
    // The copy is a self-contained rollback-journal database: one file, safe to move around.
    dst.pragma_update(None, "journal_mode", "DELETE").map_err(|e| format!("while finishing the copy: {e}"))?;
    let verdict: String = dst
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("while checking the copy: {e}"))?;
    if verdict != "ok" {
        return Err(format!("the copy failed its integrity check: {verdict}"));
    }
    let pages: i64 = dst.query_row("PRAGMA page_count", [], |r| r.get(0)).map_err(|e| e.to_string())?;
    dst.close().map_err(|(_, e)| format!("while closing the copy: {e}"))?;
    let file = std::fs::File::open(partial).map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| format!("while syncing the copy: {e}"))?;
    Ok(pages)
}
