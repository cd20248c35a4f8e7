//! The checkpointer: a thread that folds the WAL back into the database file, so the writer
//! never does. A checkpoint copies pages and syncs the database file; on the writer thread (SQLite's
//! automatic checkpoint) that pause lands on every request waiting for a commit, and the
//! benchmarks showed it as p99 latencies of hundreds of milliseconds. From its own connection a
//! PASSIVE checkpoint runs beside the writer: it copies what readers no longer need and never
//! blocks writers or readers, and SQLite starts the WAL over once it has been copied entirely.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

const POLL: Duration = Duration::from_millis(50);
const PAGE: u64 = 4096;

/// Starts the thread; it checkpoints whenever the WAL holds `pages` pages or more.
pub fn spawn(db: PathBuf, pages: u32, stopping: Arc<AtomicBool>) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new().name("checkpointer".into()).spawn(move || {
        let conn = match super::open_reader(&db) {
            Ok(conn) => conn,
            Err(e) => {
                log::error!("checkpoints are not running: {e}");
                return;
            }
        };
        let mut wal = db.into_os_string();
        wal.push("-wal");
        let threshold = u64::from(pages) * PAGE;
        while !stopping.load(Ordering::SeqCst) {
            thread::sleep(POLL);
            let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
            if size < threshold {
                continue;
            }
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                log::warn!("checkpoint failed: {e}");
            }
        }
    })
}
