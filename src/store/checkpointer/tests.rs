//! The checkpointer's rounds and the writer's part, driven step by step on a real file (no
//! threads racing, no timing).

use super::*;
use crate::store::{Synchronous, open_reader, open_writer};

/// A writer connection on a fresh file, watched with a threshold of `pages`, its WAL empty.
fn watched(pages: u32) -> (tempfile::TempDir, PathBuf, Connection, Arc<Wal>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let mut conn = open_writer(&path, Synchronous::Normal, 0).unwrap();
    conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
    // Start from an empty WAL (creating the schema filled it).
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    let wal = watch(&mut conn, pages).unwrap();
    (dir, path, conn, wal)
}

/// Commits rows of 8,000 bytes until the WAL holds at least `frames` frames.
fn fill(conn: &Connection, wal: &Wal, frames: i64) {
    while wal.frames.load(Ordering::Relaxed) < frames {
        conn.execute("INSERT INTO t VALUES (zeroblob(8000))", []).unwrap();
    }
}

/// A reader in the middle of a read transaction, on the snapshot of now (which needs the WAL).
fn reading(path: &std::path::Path) -> Connection {
    let reader = open_reader(path).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    reader
}

fn wal_bytes(path: &std::path::Path) -> u64 {
    std::fs::metadata(path.with_extension("db-wal")).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn commits_past_the_threshold_wake_the_checkpointer_and_it_folds_the_wal_back() {
    let (_dir, path, conn, wal) = watched(8);
    conn.execute("INSERT INTO t VALUES (zeroblob(100))", []).unwrap();
    assert!(!wal.state.lock().unwrap().due, "a small WAL does not wake it");
    fill(&conn, &wal, 8);
    assert!(wal.state.lock().unwrap().due, "a WAL past the threshold does");
    fill(&conn, &wal, 8 * FINISH_FACTOR);

    // Until a checkpoint copies them, the new pages live only in the WAL: the database file
    // grows only when the checkpointer has done its work.
    let before = std::fs::metadata(&path).unwrap().len();
    let thread = spawn(path.clone(), wal.clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&path).unwrap().len() < before + 16_000 {
        assert!(Instant::now() < deadline, "the WAL was not checkpointed");
        thread::sleep(Duration::from_millis(10));
    }
    wal.stop();
    thread.join().unwrap();
    assert!(wal.stats.passive.load(Ordering::Relaxed) >= 1);
    assert!(wal.finish.load(Ordering::Relaxed), "the writer is asked to start the WAL over");
}

#[test]
fn an_idle_writer_starts_the_wal_over_after_the_checkpointers_round() {
    let (_dir, path, mut conn, wal) = watched(8);
    let checkpointer = open_reader(&path).unwrap();
    fill(&conn, &wal, 8 * FINISH_FACTOR);
    // Under load the writer commits while the checkpointer copies, so its round leaves the last
    // frames behind; a reader on an older snapshot makes the round stop short the same way.
    let reader = reading(&path);
    let grown_to = 8 * FINISH_FACTOR + 10;
    fill(&conn, &wal, grown_to);
    passive(&wal, &checkpointer);
    reader.execute_batch("COMMIT").unwrap();
    let grown = wal_bytes(&path);

    // With a job queued, the writer leaves the WAL alone and it goes on growing.
    between_batches(&wal, &mut conn, false);
    assert_eq!(wal.stats.restarts.load(Ordering::Relaxed), 0);
    conn.execute("INSERT INTO t VALUES (zeroblob(100))", []).unwrap();
    assert!(wal.frames.load(Ordering::Relaxed) > grown_to, "the WAL goes on growing");

    // Idle between batches after a round: the next commit starts the WAL from its beginning, so
    // the file no longer grows.
    between_batches(&wal, &mut conn, true);
    assert_eq!(wal.stats.restarts.load(Ordering::Relaxed), 1);
    assert!(!wal.finish.load(Ordering::Relaxed));
    conn.execute("INSERT INTO t VALUES (zeroblob(100))", []).unwrap();
    assert!(wal.frames.load(Ordering::Relaxed) <= 4, "the WAL started over");
    fill(&conn, &wal, 10);
    assert!(wal_bytes(&path) <= grown + 4 * 4096, "the file is reused, not extended");
    // Everything committed is in the database file.
    idle(&wal, &mut conn);
    let rows: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    let copied: i64 = checkpointer.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, copied);
    assert_eq!(wal_bytes(&path), 0);
}

#[test]
fn a_reader_on_the_wal_makes_the_writer_give_up_at_once() {
    let (_dir, path, mut conn, wal) = watched(8);
    let checkpointer = open_reader(&path).unwrap();
    fill(&conn, &wal, 8 * FINISH_FACTOR);
    let reader = reading(&path);
    passive(&wal, &checkpointer);
    between_batches(&wal, &mut conn, true);
    assert_eq!(wal.stats.busy.load(Ordering::Relaxed), 1);
    assert_eq!(wal.stats.restarts.load(Ordering::Relaxed), 0);
    // The writer's busy timeout is back: its own transactions still wait for locks as before.
    assert_eq!(conn.query_row("PRAGMA busy_timeout", [], |r| r.get::<_, i64>(0)).unwrap(), 5000);

    // Everything was copied back, so once the reader has gone the next commit starts the WAL over.
    reader.execute_batch("COMMIT").unwrap();
    conn.execute("INSERT INTO t VALUES (zeroblob(100))", []).unwrap();
    assert!(wal.frames.load(Ordering::Relaxed) <= 4, "the WAL started over");
}

#[test]
fn a_writer_that_is_never_idle_still_starts_a_huge_wal_over() {
    let (_dir, _path, mut conn, wal) = watched(2);
    let frames = RESET_FACTOR * 2;
    fill(&conn, &wal, frames);
    // No checkpointer round, and a job always queued: only the size decides.
    between_batches(&wal, &mut conn, false);
    assert_eq!(wal.stats.restarts.load(Ordering::Relaxed), 1);
    conn.execute("INSERT INTO t VALUES (zeroblob(100))", []).unwrap();
    assert!(wal.frames.load(Ordering::Relaxed) < frames);
}

#[test]
fn an_idle_writer_empties_the_wal_file() {
    let (_dir, path, mut conn, wal) = watched(1000);
    fill(&conn, &wal, 10);
    assert!(wal_bytes(&path) > 0);
    idle(&wal, &mut conn);
    assert_eq!(wal_bytes(&path), 0);
    assert!(!wal.has_frames());
    // An empty WAL is left alone.
    idle(&wal, &mut conn);
    assert_eq!(wal.stats.restarts.load(Ordering::Relaxed), 1);
}

#[test]
fn a_reader_that_holds_a_huge_wal_is_waited_for_at_most_once_a_second() {
    let (_dir, path, mut conn, wal) = watched(2);
    fill(&conn, &wal, RESET_FACTOR * 2);
    // A long read (a backup) on a snapshot that needs the WAL.
    let reader = reading(&path);
    between_batches(&wal, &mut conn, false);
    assert_eq!(wal.stats.busy.load(Ordering::Relaxed), 1, "it waited for the reader, in vain");
    // The next batches do not wait for it again at once.
    between_batches(&wal, &mut conn, false);
    between_batches(&wal, &mut conn, true);
    assert_eq!(wal.stats.busy.load(Ordering::Relaxed), 1);
    assert_eq!(wal.stats.restarts.load(Ordering::Relaxed), 0);
    reader.execute_batch("COMMIT").unwrap();
}

#[test]
fn the_checkpointer_leaves_a_huge_wal_to_the_writer() {
    let (_dir, path, mut conn, wal) = watched(2);
    let checkpointer = open_reader(&path).unwrap();
    fill(&conn, &wal, RESET_FACTOR * 2);
    // Its PASSIVE would hold the checkpoint lock, which makes the writer's RESTART fail at once.
    passive(&wal, &checkpointer);
    assert_eq!(wal.stats.passive.load(Ordering::Relaxed), 0);
    between_batches(&wal, &mut conn, false);
    assert_eq!(wal.stats.restarts.load(Ordering::Relaxed), 1);
    assert_eq!(*wal.forced_in_vain.lock().unwrap(), None);
}

/// A reader that holds an old snapshot through two rounds of the checkpointer (a backup) is
/// found; the writer then never waits for it, the checkpointer goes on copying, and once the
/// reader has gone the backlog is copied beside the writer, which starts the WAL over.
#[test]
fn a_long_reader_is_never_waited_for_and_its_backlog_is_copied_beside_the_writer() {
    // A threshold at which each call of `passive` below is a single round.
    let (_dir, path, mut conn, wal) = watched(8);
    let checkpointer = open_reader(&path).unwrap();
    fill(&conn, &wal, 8);
    let reader = reading(&path);
    fill(&conn, &wal, 12);
    passive(&wal, &checkpointer);
    assert!(!wal.pinned.load(Ordering::Relaxed), "one round cannot tell a long reader");
    fill(&conn, &wal, 16);
    passive(&wal, &checkpointer);
    assert!(wal.pinned.load(Ordering::Relaxed), "frames the last round saw are still held");

    fill(&conn, &wal, RESET_FACTOR * 8);
    between_batches(&wal, &mut conn, false);
    between_batches(&wal, &mut conn, true);
    assert_eq!(wal.stats.busy.load(Ordering::Relaxed), 0, "the writer did not wait for the reader");
    assert_eq!(wal.stats.restarts.load(Ordering::Relaxed), 0);
    let rounds = wal.stats.passive.load(Ordering::Relaxed);
    passive(&wal, &checkpointer);
    assert!(wal.stats.passive.load(Ordering::Relaxed) > rounds, "the checkpointer goes on copying");

    reader.execute_batch("COMMIT").unwrap();
    passive(&wal, &checkpointer);
    assert!(!wal.pinned.load(Ordering::Relaxed), "the backlog was copied once the reader let go");
    between_batches(&wal, &mut conn, false);
    assert_eq!(wal.stats.restarts.load(Ordering::Relaxed), 1);
    conn.execute("INSERT INTO t VALUES (zeroblob(100))", []).unwrap();
    assert!(wal.frames.load(Ordering::Relaxed) <= 4, "the WAL started over");
}
