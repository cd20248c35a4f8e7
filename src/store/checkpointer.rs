//! The checkpointer: a thread that folds the WAL back into the database file, so the writer
//! never does. A checkpoint copies pages and syncs the database file; on the writer thread (SQLite's
//! automatic checkpoint) that pause lands on every request waiting for a commit, and the
//! benchmarks showed it as p99 latencies of hundreds of milliseconds. From its own connection a
//! PASSIVE checkpoint runs beside the writer: it copies what readers no longer need and never
//! blocks writers or readers, and SQLite starts the WAL over once it has been copied entirely.
//!
//! When to run is decided the way SQLite's own automatic checkpoint decides it: a WAL hook on the
//! writer's connection sees, after each commit, how many frames the WAL holds, and wakes this
//! thread once they reach the threshold. An idle server never wakes it.
//!
//! PASSIVE alone is not enough under sustained load. SQLite starts the WAL over only when a write
//! begins with every frame copied back and no reader still using the WAL; with 32 workers reading
//! and the writer committing back to back that moment never came, and the WAL grew by ~80 MB/s
//! for as long as the load lasted (650 MB after 8 s of the conversion workload; `bench/wal`).
//! So once the WAL holds [`RESET_FACTOR`] times the threshold (64 MiB by default), the
//! checkpointer runs a RESTART checkpoint: it holds off the writer while it copies the frames
//! PASSIVE left and waits for the readers still on the WAL (their transactions are short; new
//! ones read the database file meanwhile), and the next write starts the file over. That pause,
//! measured at 3–40 ms, is the price of a bounded file; it lands on the writes of that moment.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rusqlite::Connection;

/// The least time between two checkpoints, so that a WAL that cannot be reset (a reader holding
/// an old snapshot) does not turn every commit into a checkpoint.
const MIN_GAP: Duration = Duration::from_millis(50);

/// A WAL this many times the threshold is started over with a RESTART checkpoint (see above).
const RESET_FACTOR: i64 = 16;

/// How often, and how many times, a checkpoint looks again for the lock it waits for (~0.5 s).
const BUSY_LOOK: Duration = Duration::from_micros(200);
const BUSY_LOOKS: i32 = 2500;

#[derive(Default)]
struct State {
    due: bool,
    stopped: bool,
}

/// The writer's hook raises it; the checkpointer waits on it.
#[derive(Default)]
pub struct Wakeup {
    state: Mutex<State>,
    ready: Condvar,
}

impl Wakeup {
    fn raise(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).due = true;
        self.ready.notify_one();
    }

    /// Ends the checkpointer thread (after the checkpoint it may be running).
    pub fn stop(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).stopped = true;
        self.ready.notify_one();
    }

    /// Waits until a checkpoint is due (`true`) or the thread is to stop (`false`).
    fn wait(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut state = self.ready.wait_while(state, |s| !s.due && !s.stopped).unwrap_or_else(|p| p.into_inner());
        let due = !state.stopped;
        state.due = false;
        due
    }
}

/// Installs the WAL hook on the writer's connection: after each commit that leaves `pages` or
/// more frames in the WAL, the checkpointer is woken. Replaces SQLite's automatic checkpoint on
/// this connection (both use the same hook).
pub fn watch(conn: &mut Connection, pages: u32) -> rusqlite::Result<Arc<Wakeup>> {
    let wakeup = Arc::new(Wakeup::default());
    let hook = wakeup.clone();
    let threshold = i64::from(pages);
    conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, frames: std::ffi::c_int| {
        if i64::from(frames) >= threshold {
            hook.raise();
        }
        Ok(())
    }))?;
    Ok(wakeup)
}

/// Starts the thread that checkpoints each time `wakeup` is raised: PASSIVE, then TRUNCATE if
/// the WAL still holds [`RESET_FACTOR`] × `pages` frames.
pub fn spawn(db: PathBuf, pages: u32, wakeup: Arc<Wakeup>) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new().name("checkpointer".into()).spawn(move || {
        let mut conn = match super::open_reader(&db) {
            Ok(conn) => conn,
            Err(e) => {
                log::error!("checkpoints are not running: {e}");
                return;
            }
        };
        // While a RESTART checkpoint waits for the last readers on the WAL it already holds the
        // writer off, so it must notice them leave at once: SQLite's default busy handler sleeps
        // 1, 2, 5, 10… ms between looks, which held every commit up for tens of milliseconds.
        if let Err(e) = conn.busy_handler(Some(|tries: i32| {
            thread::sleep(BUSY_LOOK);
            tries < BUSY_LOOKS
        })) {
            log::warn!("checkpoints keep SQLite's default busy handler: {e}");
        }
        while wakeup.wait() {
            match checkpoint(&conn, "PASSIVE") {
                Ok(frames) if frames >= RESET_FACTOR * i64::from(pages) => {
                    if let Err(e) = checkpoint(&conn, "RESTART") {
                        log::warn!("could not empty the WAL ({frames} frames): {e}");
                    }
                }
                Ok(_) => {}
                Err(e) => log::warn!("checkpoint failed: {e}"),
            }
            thread::sleep(MIN_GAP);
        }
    })
}

/// Runs a checkpoint of the given mode; returns the frames the WAL held. Each one is logged at
/// debug level with what it copied and how long it took, to line pauses up with slow requests.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    let started = std::time::Instant::now();
    let (busy, frames, copied): (i64, i64, i64) =
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    log::debug!(
        "checkpoint {mode}: {copied} of {frames} frames copied{} in {:.2} ms",
        if busy != 0 { " (busy)" } else { "" },
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Synchronous, open_writer};

    #[test]
    fn commits_past_the_threshold_wake_the_checkpointer_and_it_folds_the_wal_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let mut conn = open_writer(&path, Synchronous::Normal, 0).unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        // Start from an empty WAL (creating the schema filled it).
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        let wakeup = watch(&mut conn, 8).unwrap();
        conn.execute("INSERT INTO t VALUES (zeroblob(100))", []).unwrap();
        assert!(!wakeup.state.lock().unwrap().due, "a small WAL does not wake it");
        for _ in 0..3 {
            conn.execute("INSERT INTO t VALUES (zeroblob(10000))", []).unwrap();
        }
        assert!(wakeup.state.lock().unwrap().due, "a WAL past the threshold does");

        // Until a checkpoint copies them, the new pages live only in the WAL: the database file
        // grows only when the checkpointer has done its work.
        let before = std::fs::metadata(&path).unwrap().len();
        let thread = spawn(path.clone(), 8, wakeup.clone()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() < before + 30_000 {
            assert!(std::time::Instant::now() < deadline, "the WAL was not checkpointed");
            thread::sleep(Duration::from_millis(10));
        }
        wakeup.stop();
        thread.join().unwrap();
    }
}
