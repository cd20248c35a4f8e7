//! The copy of the live database's pages into a backup: SQLite's online backup, in bounded steps
//! over one read transaction.
//!
//! The read transaction is taken before the first step and held to the last, so every step
//! copies the same snapshot: in WAL mode the server's writes go on beside it (they go to the
//! WAL) and never make the copy start over, as they would between steps without it. Each step
//! copies [`STEP_PAGES`] and commits them to the copy (so the copy reaches the disk as it goes,
//! not in one burst at the end), and is followed by a pause as long as the step, so a backup
//! takes at most about half of a core and of the disk's time from the server.
//!
//! What held tracking up during backups was not the copy itself but the checkpoints waiting for
//! its snapshot (`store::checkpointer`, `Wal::pinned`): measured with bench/scale.

use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

/// Pages per step: 4 MiB with the default page size.
pub const STEP_PAGES: i32 = 1024;

/// Copies every page of `src` into `dst`, pausing after each step for as long as it took.
pub fn copy(src: &Connection, dst: &mut Connection) -> Result<(), String> {
    copy_in_steps(src, dst, STEP_PAGES, |took| std::thread::sleep(took.max(Duration::from_millis(1))))
}

/// [`copy`] with `pages` per step and `pause` called after each step with the time it took.
pub fn copy_in_steps(
    src: &Connection,
    dst: &mut Connection,
    pages: i32,
    mut pause: impl FnMut(Duration),
) -> Result<(), String> {
    src.execute_batch("BEGIN").map_err(|e| format!("while starting the backup: {e}"))?;
    let copied = snapshot_then_copy(src, dst, pages, &mut pause);
    let ended = src.execute_batch("COMMIT").map_err(|e| format!("while ending the backup's read: {e}"));
    copied.and(ended)
}

fn snapshot_then_copy(
    src: &Connection,
    dst: &mut Connection,
    pages: i32,
    pause: &mut impl FnMut(Duration),
) -> Result<(), String> {
    // The first read fixes the snapshot every step copies.
    src.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
        .map_err(|e| format!("while starting the backup: {e}"))?;
    let backup = Backup::new(src, dst).map_err(|e| format!("while starting the backup: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started = Instant::now();
        match backup.step(pages).map_err(|e| format!("while copying the database: {e}"))? {
            StepResult::Done => return Ok(()),
            StepResult::More => pause(started.elapsed()),
            StepResult::Busy | StepResult::Locked => {
                if Instant::now() > deadline {
                    return Err("the database stayed locked for a minute; is a long write running?".into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => return Err("the backup stopped unexpectedly".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes committed by another connection between the steps change neither the copy (it is
    /// the snapshot of the first step) nor its length (the copy never starts over).
    #[test]
    fn every_step_copies_one_snapshot_while_writes_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.db");
        let live = crate::store::open_writer(&path, crate::store::Synchronous::Normal, 1000).unwrap();
        live.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        for _ in 0..300 {
            live.execute("INSERT INTO t VALUES (randomblob(3000))", []).unwrap();
        }
        let pages: i64 = live.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        let src = crate::store::open_reader(&path).unwrap();
        let mut dst = Connection::open(dir.path().join("copy.db")).unwrap();
        let mut steps = 0;
        copy_in_steps(&src, &mut dst, 10, |_| {
            steps += 1;
            assert!(steps < 3 * pages, "the copy keeps starting over");
            live.execute("INSERT INTO t VALUES (randomblob(3000))", []).unwrap();
        })
        .unwrap();
        assert!(steps >= pages / 10 - 1, "{steps} steps for {pages} pages");
        let rows: i64 = dst.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 300, "the copy is the snapshot of its first step");
        let ok: String = dst.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
        let now: i64 = live.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(now, 300 + steps, "the writes were not held up");
    }
}
