//! Checkpoints: folding the WAL back into the database file and starting it over, so that it
//! stays small, without ever holding up a commit that someone waits for.
//!
//! A checkpoint copies pages and syncs the database file. On the writer thread (SQLite's
//! automatic checkpoint) that landed on every request waiting for a commit: p99 latencies of
//! hundreds of milliseconds. The work is therefore split in two:
//!
//! - **The copying runs beside the writer.** A WAL hook on the writer's connection sees, after
//!   each commit, how many frames the WAL holds, and wakes the checkpointer thread once they reach
//!   the threshold (`--wal-autocheckpoint`). On its own connection it runs a PASSIVE checkpoint,
//!   which never blocks the writer or readers: it copies what readers no longer need and syncs.
//!   An idle server never wakes it.
//! - **The writer starts the WAL over when nobody waits for it.** PASSIVE alone never empties the
//!   WAL under load: the writer appends while it copies, and SQLite starts the file over only
//!   when a write begins with every frame copied back (the WAL grew by ~80 MB/s without bound in
//!   `bench/wal`). So once the WAL holds [`FINISH_FACTOR`] times the threshold, the checkpointer
//!   copies twice (the second round only what came in during the first) and asks the writer to
//!   finish the job at its next idle moment, between two batches with no job queued: a RESTART
//!   checkpoint on the writer's connection that copies the few frames committed since and syncs
//!   them, never waiting for a reader (one still on the WAL makes it give up until the next
//!   round). The next write then starts the WAL from its beginning, so the file stays near
//!   [`FINISH_FACTOR`] times the threshold. When the writer has had nothing to do for [`IDLE`],
//!   a TRUNCATE checkpoint empties the file.
//!
//! The RESTART checkpoint that used to run beside the writer at 16 times the threshold held
//! every commit for 3–8 ms (up to 40) while it copied and waited for readers, and the writer's
//! BEGIN slept in SQLite's busy handler meanwhile. It remains only as the last resort, for a
//! writer that is never idle: at [`RESET_FACTOR`] times the threshold the writer runs it between
//! batches, waiting for the readers, so the WAL stays bounded whatever the load.
//!
//! A reader that holds an old snapshot for long (`affiliated backup` copying a large file, a
//! heavy report) keeps every frame after its snapshot in the WAL, and the last resort would wait
//! for it in vain: 141 ms once a second while a 650 MB file was backed up, then the writer copied
//! the whole backlog itself (58 ms). The checkpointer sees such a reader: a round that cannot
//! copy the frames the previous round already saw ([`Wal::pinned`]). While it is there the writer
//! does not try the last resort, and the checkpointer goes on copying beside it, so that once
//! the reader lets go the backlog is copied off the writer and the writer's RESTART is short.
//!
//! What it never does: hold the writer up while there is a job queued (but for that last
//! resort), or wait for a reader from the writer thread (but for that last resort, at most once a
//! [`FORCED_GAP`], and never for a reader the checkpointer found holding the WAL).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// The least time between two PASSIVE checkpoints, so that a WAL that cannot be copied (a
/// reader holding an old snapshot) does not turn every commit into a checkpoint.
const MIN_GAP: Duration = Duration::from_millis(50);

/// A WAL this many times the threshold is started over by the writer at its next idle moment.
/// Each time costs the writer two syncs (~1–3 ms here, whatever the size), so this trades the
/// file's size against how often the writer pauses: at 1 (a 4 MiB file) the writer spent 5% of
/// its time there under 3,000 conversions a second, at 4 (16 MiB) 1.5% (`bench/latency`).
pub const FINISH_FACTOR: i64 = 4;

/// PASSIVE rounds before the writer is asked to finish (see [`passive`]).
const PASSIVE_ROUNDS: u32 = 2;

/// A WAL this many times the threshold is started over even if the writer is never idle.
pub const RESET_FACTOR: i64 = 16;

/// A writer without a job for this long truncates the WAL file.
pub const IDLE: Duration = Duration::from_millis(500);

/// How often, and how many times, the last-resort RESTART looks again for the readers it waits
/// for (~0.1 s): SQLite's default busy handler sleeps 1, 2, 5, 10… ms between looks, which held
/// every commit up for tens of milliseconds.
const BUSY_LOOK: Duration = Duration::from_micros(200);
const BUSY_LOOKS: i32 = 500;
/// At least how long the last-resort RESTART takes when it waited for readers to the end.
const PATIENCE: Duration = BUSY_LOOK.saturating_mul(BUSY_LOOKS as u32);
/// After a last-resort RESTART that a reader held up to the end (a backup's long snapshot), the
/// writer does not wait for one again for this long.
const FORCED_GAP: Duration = Duration::from_secs(1);

/// What the checkpointer and the writer did, for the metrics.
#[derive(Default)]
pub struct Stats {
    /// PASSIVE checkpoints beside the writer.
    pub passive: AtomicU64,
    /// Times the writer started the WAL over (RESTART or TRUNCATE that succeeded).
    pub restarts: AtomicU64,
    /// Times the writer's checkpoint gave up because a reader was still on the WAL.
    pub busy: AtomicU64,
    /// Microseconds the writer spent in checkpoints, in all and the longest one.
    pub writer_micros: AtomicU64,
    pub writer_longest_micros: AtomicU64,
}

#[derive(Default)]
struct State {
    due: bool,
    stopped: bool,
}

/// Shared by the writer's WAL hook, the writer thread and the checkpointer thread.
pub struct Wal {
    /// Frames that wake the checkpointer (`--wal-autocheckpoint`).
    threshold: i64,
    /// Frames in the WAL after the last commit that wrote any.
    frames: AtomicI64,
    /// Set after a PASSIVE checkpoint: the writer should start the WAL over when it is idle.
    finish: AtomicBool,
    /// When the writer last waited for readers in vain (only the writer thread touches it).
    forced_in_vain: Mutex<Option<Instant>>,
    /// The WAL's length at the checkpointer's last round.
    last_round: AtomicI64,
    /// A reader holds a snapshot older than the checkpointer's last round: the last round could
    /// not copy frames the round before it had seen. Cleared by a round that could.
    pinned: AtomicBool,
    state: Mutex<State>,
    ready: Condvar,
    pub stats: Stats,
}

impl Wal {
    fn new(pages: u32) -> Wal {
        Wal {
            threshold: i64::from(pages.max(1)),
            frames: AtomicI64::new(0),
            finish: AtomicBool::new(false),
            forced_in_vain: Mutex::new(None),
            last_round: AtomicI64::new(0),
            pinned: AtomicBool::new(false),
            state: Mutex::default(),
            ready: Condvar::new(),
            stats: Stats::default(),
        }
    }

    fn committed(&self, frames: i64) {
        self.frames.store(frames, Ordering::Relaxed);
        if frames >= self.threshold {
            self.state.lock().unwrap_or_else(|p| p.into_inner()).due = true;
            self.ready.notify_one();
        }
    }

    /// Whether the WAL holds frames (as far as the last commit told).
    pub fn has_frames(&self) -> bool {
        self.frames.load(Ordering::Relaxed) > 0
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

/// Installs the WAL hook on the writer's connection: after each commit it notes how many frames
/// the WAL holds and wakes the checkpointer once they reach `pages`. Replaces SQLite's automatic
/// checkpoint on this connection (both use the same hook).
pub fn watch(conn: &mut Connection, pages: u32) -> rusqlite::Result<Arc<Wal>> {
    let wal = Arc::new(Wal::new(pages));
    let hook = wal.clone();
    conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, frames: std::ffi::c_int| {
        hook.committed(i64::from(frames));
        Ok(())
    }))?;
    Ok(wal)
}

/// Starts the thread that runs a PASSIVE checkpoint each time the WAL reaches the threshold, and
/// then asks the writer to start the WAL over.
pub fn spawn(db: PathBuf, wal: Arc<Wal>) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new().name("checkpointer".into()).spawn(move || {
        let conn = match super::open_reader(&db) {
            Ok(conn) => conn,
            Err(e) => {
                log::error!("checkpoints are not running: {e}");
                return;
            }
        };
        while wal.wait() {
            passive(&wal, &conn);
            thread::sleep(MIN_GAP);
        }
    })
}

/// One round of the checkpointer: a PASSIVE checkpoint on its own connection, then the writer is
/// asked to start the WAL over.
fn passive(wal: &Wal, conn: &Connection) {
    for round in 1..=PASSIVE_ROUNDS {
        // A WAL this large is the writer's to start over, at its next batch; a PASSIVE under
        // way would hold the checkpoint lock and make the writer's RESTART fail. Unless a long
        // reader holds it: then the writer leaves it alone, and copying goes on here.
        if wal.frames.load(Ordering::Relaxed) >= RESET_FACTOR * wal.threshold && !wal.pinned.load(Ordering::Relaxed) {
            return;
        }
        match checkpoint(conn, "PASSIVE") {
            Ok(done) => {
                wal.stats.passive.fetch_add(1, Ordering::Relaxed);
                // Frames the last round saw and this one could not copy are held by a reader
                // that has been reading since before that round. (A WAL started over since is
                // shorter than it was: nothing to compare.)
                let seen = wal.last_round.swap(done.frames, Ordering::Relaxed);
                let pinned = done.frames >= seen && done.copied < seen;
                if wal.pinned.swap(pinned, Ordering::Relaxed) != pinned {
                    log::debug!(
                        "{}",
                        if pinned { "a long reader holds the WAL" } else { "the long reader let go of the WAL" }
                    );
                }
                if done.frames < FINISH_FACTOR * wal.threshold {
                    return;
                }
                // The writer will copy what was committed during the last round; a second round
                // copies what came in during the first, so that the writer's part stays small.
                if round == PASSIVE_ROUNDS {
                    wal.finish.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => {
                log::warn!("checkpoint failed: {e}");
                return;
            }
        }
    }
}

/// The writer's part, between two batches. With `queue_empty` (nobody waits for the writer),
/// finishes what the checkpointer asked for: a RESTART that copies the frames committed since its
/// PASSIVE and lets the next write start the WAL over, never waiting for a reader. Whatever the
/// queue, a WAL of [`RESET_FACTOR`] times the threshold is started over waiting for the readers.
pub fn between_batches(wal: &Wal, conn: &mut Connection, queue_empty: bool) {
    let frames = wal.frames.load(Ordering::Relaxed);
    if frames >= RESET_FACTOR * wal.threshold {
        if wal.pinned.load(Ordering::Relaxed) {
            // Waiting for that reader would be in vain; the checkpointer copies meanwhile.
            return;
        }
        let mut in_vain = wal.forced_in_vain.lock().unwrap_or_else(|p| p.into_inner());
        if in_vain.is_none_or(|at| at.elapsed() >= FORCED_GAP) {
            let began = Instant::now();
            let restarted = writer_checkpoint(wal, conn, "RESTART", true);
            // Only a wait for readers that ran out counts as in vain. A checkpoint that found the
            // checkpointer thread's PASSIVE under way returns at once (SQLite never calls the busy
            // handler for that lock), and the next batch tries again: waiting a second instead
            // let the WAL grow by ~130 MB a second under saturated conversions (`bench/wal`
            // peaked at 432 MiB).
            *in_vain = (!restarted && began.elapsed() >= PATIENCE).then(Instant::now);
        }
    } else if queue_empty && wal.finish.swap(false, Ordering::Relaxed) && frames > 0 {
        writer_checkpoint(wal, conn, "RESTART", false);
    }
}

/// The writer's part when it had no job for [`IDLE`]: empties the WAL file if no reader is on it.
pub fn idle(wal: &Wal, conn: &mut Connection) {
    if wal.has_frames() {
        writer_checkpoint(wal, conn, "TRUNCATE", false);
    }
}

/// A checkpoint on the writer's connection (outside any transaction); counts the time the writer
/// spent in it. Without `patient`, a reader still on the WAL makes it give up at once. Returns
/// whether the WAL will start over.
fn writer_checkpoint(wal: &Wal, conn: &mut Connection, mode: &str, patient: bool) -> bool {
    let started = Instant::now();
    let set = if patient {
        conn.busy_handler(Some(|tries: i32| {
            thread::sleep(BUSY_LOOK);
            tries < BUSY_LOOKS
        }))
    } else {
        conn.busy_timeout(Duration::ZERO)
    };
    let outcome = set.and_then(|()| checkpoint(conn, mode));
    if let Err(e) = conn.busy_timeout(super::BUSY_TIMEOUT) {
        log::warn!("the writer's busy timeout could not be restored: {e}");
    }
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    wal.stats.writer_micros.fetch_add(micros, Ordering::Relaxed);
    wal.stats.writer_longest_micros.fetch_max(micros, Ordering::Relaxed);
    match outcome {
        Ok(Done { busy: false, .. }) => {
            wal.stats.restarts.fetch_add(1, Ordering::Relaxed);
            wal.frames.store(0, Ordering::Relaxed);
            true
        }
        Ok(Done { busy: true, .. }) => {
            wal.stats.busy.fetch_add(1, Ordering::Relaxed);
            false
        }
        Err(e) => {
            log::warn!("checkpoint {mode} on the writer failed: {e}");
            false
        }
    }
}

/// What a checkpoint reported.
struct Done {
    /// It could not do all it was asked: a reader (or another checkpoint) was in the way.
    busy: bool,
    /// Frames in the WAL.
    frames: i64,
    /// Frames of it copied back into the database file (by this checkpoint or earlier ones).
    copied: i64,
}

/// Runs a checkpoint of the given mode. Each one is logged at debug level with what it copied and
/// how long it took, to line pauses up with slow requests.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<Done> {
    let started = Instant::now();
    let (busy, frames, copied): (i64, i64, i64) =
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    log::debug!(
        "checkpoint {mode}: {copied} of {frames} frames copied{} in {:.2} ms",
        if busy != 0 { " (busy)" } else { "" },
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(Done { busy: busy != 0, frames, copied })
}

#[cfg(test)]
mod tests;
