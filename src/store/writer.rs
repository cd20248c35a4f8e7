//! The writer thread: every write of the server runs here, on the one writer connection.
//!
//! Callers hand a closure to [`Writer::run`] and block until it has been *committed*. The thread
//! takes everything queued at that moment (up to [`MAX_BATCH`] jobs) into a single
//! `BEGIN IMMEDIATE … COMMIT` (group commit): one WAL append and sync for many requests. Each
//! job runs inside its own SAVEPOINT, so a job that fails (a duplicate, an unknown click, even a
//! panic) is rolled back alone and the others still commit; a job that runs while the
//! transaction holds nothing yet needs none (undoing it is a ROLLBACK and a new BEGIN). Only after COMMIT returns does any
//! caller learn its result; if COMMIT fails, every job of the batch gets the error and nothing
//! of it was acknowledged. The thread never waits to fill a batch: waiting was measured to cost
//! more than it saves.
//!
//! Between batches, when no job is queued, the writer does its part of the checkpoints
//! (`checkpointer.rs`): starting the WAL over at a moment when pausing delays nobody.
//!
//! A job gets the connection as a [`Tx`]: the open transaction. Every store function that
//! changes the database takes a `&Tx`, so the compiler makes sure it runs inside a write
//! transaction, and only this file makes one: the writer for its jobs, [`direct`] for a process
//! that has no writer thread (start-up before the thread starts, command-line tools), and
//! [`Tx::within`] for the store's own transactions (migrations) and unit tests.
//!
//! Architecture Invariant: a `Tx` exists only inside a transaction this file opened; the
//! server's jobs are handed to [`Writer`] only from `intake/` (the domain's actions), the
//! background threads (sweeper, outbox) and `store/` itself: a guard test
//! (`intake::guard`) reads the source tree for it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::checkpointer::{self, Wal};
use crate::error::{Error, panic_text};
use transaction::run_in_transaction;

mod transaction;

/// The writer's connection inside an open write transaction: what every store function that
/// changes the database takes. It reads like a `Connection` (it derefs to one), so read
/// functions take it as they are.
pub struct Tx<'c> {
    conn: &'c Connection,
}

impl<'c> Tx<'c> {
    /// `conn` inside a transaction its caller opened: for the store's own transactions
    /// (migrations, `nested`) and unit tests. Nothing outside `store/` can call it.
    pub(in crate::store) fn within(conn: &'c Connection) -> Tx<'c> {
        Tx { conn }
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// Runs `work` in one `BEGIN IMMEDIATE … COMMIT` on `conn`, for a process without a writer
/// thread: `serve` before it starts the thread, and command-line tools (with `busy_timeout`
/// waiting for a running server's writer). If `work` fails, everything it did is rolled back
/// and its error handed back as it is (the inner one); the outer error is a failure to begin
/// or to commit.
pub fn direct<T, E>(conn: &Connection, work: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<Result<T, E>, Error> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = work(&Tx { conn });
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    if let Err(e) = conn.execute_batch(end) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e.into());
    }
    Ok(result)
}

/// Most jobs in one transaction.
pub const MAX_BATCH: usize = 512;
/// Jobs that may wait for the writer before callers are told to retry.
const QUEUE_CAPACITY: usize = 8192;

/// Counters the metrics endpoint reports, and the state `/healthz` reports.
#[derive(Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub jobs: AtomicU64,
    pub failed_commits: AtomicU64,
    /// Set when a transaction fails to commit (a full disk, an I/O error); cleared when one that
    /// changed something commits. Empty transactions (health round trips) leave it as it is.
    pub failing: AtomicBool,
}

/// What [`Writer::health`] found.
#[derive(Debug)]
pub enum Health {
    /// A job went through the queue, and commits work.
    Ok,
    /// Commits had been failing; the probe write just committed.
    Recovered,
    /// Commits fail: the probe write did not commit either.
    WritesFailing(Error),
    /// The writer did not answer an empty job.
    Unreachable(Error),
}

/// How a job is run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Inside the batch's transaction, in its own SAVEPOINT: a failure undoes only this job.
    Savepoint,
    /// Inside the batch's transaction without a savepoint: for jobs that change the database with
    /// at most one statement, which SQLite undoes by itself when it fails.
    Single,
    /// After the batch committed, outside any transaction (checkpoints).
    Maintenance,
}

trait Job: Send {
    fn mode(&self) -> Mode;
    /// Runs the job (inside the open transaction if transactional); `true` keeps its changes.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Reports the outcome once the transaction's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), Error>);
}

struct Pending<F, T> {
    mode: Mode,
    work: Option<F>,
    result: Option<Result<T, Error>>,
    reply: SyncSender<Result<T, Error>>,
}

impl<F, T> Job for Pending<F, T>
where
    F: FnOnce(&Tx<'_>) -> Result<T, Error> + Send,
    T: Send,
{
    fn mode(&self) -> Mode {
        self.mode
    }

    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = catch_unwind(AssertUnwindSafe(|| work(&Tx { conn })))
            .unwrap_or_else(|panic| Err(Error::internal(format!("write job panicked: {}", panic_text(&*panic)))));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), Error>) {
        let outcome = match (commit, self.result) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(Error::internal("write job was not run")),
        };
        // The caller may have given up waiting; that is fine.
        let _ = self.reply.try_send(outcome);
    }
}

/// A handle to the writer thread. Cheap to clone; the thread ends when the last handle is gone
/// and the queue is drained.
#[derive(Clone)]
pub struct Writer {
    queue: SyncSender<Box<dyn Job>>,
    wait: Duration,
    pub stats: Arc<WriterStats>,
    /// The WAL's checkpoints, when this process runs them (`--wal-autocheckpoint` > 0).
    pub wal: Option<Arc<Wal>>,
}

impl Writer {
    /// Starts the writer thread on `conn`. `wait` bounds how long a caller waits for its commit.
    pub fn start(conn: Connection, wait: Duration) -> (Writer, JoinHandle<()>) {
        Writer::start_with(conn, wait, None)
    }

    /// [`Writer::start`] for a connection whose WAL `checkpointer::watch` watches: the writer then
    /// starts the WAL over between batches (see `checkpointer.rs`).
    pub fn start_with(conn: Connection, wait: Duration, wal: Option<Arc<Wal>>) -> (Writer, JoinHandle<()>) {
        let (queue, jobs) = mpsc::sync_channel(QUEUE_CAPACITY);
        let stats = Arc::new(WriterStats::default());
        let thread_stats = stats.clone();
        let thread_wal = wal.clone();
        let handle = std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || writer_loop(conn, jobs, &thread_stats, thread_wal.as_deref()))
            .expect("spawning the writer thread");
        (Writer { queue, wait, stats, wal }, handle)
    }

    /// Runs `work` in the next write transaction and returns its result once committed.
    /// A 503 means nothing was acknowledged: the job was not queued, or its commit was not
    /// confirmed in time (in which case it may still commit; the API's dedup makes a retry safe).
    pub fn run<T, F>(&self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Tx<'_>) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        self.submit(Mode::Savepoint, work)
    }

    /// Like [`Writer::run`] for work that changes the database with **at most one statement**
    /// (triggers included): it skips the per-job savepoint, because SQLite undoes a failed
    /// statement by itself. Used on the hottest path, recording clicks.
    pub fn run_single<T, F>(&self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Tx<'_>) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        self.submit(Mode::Single, work)
    }

    /// How the writer is, for `/healthz`: a round trip through its queue (an empty job) and,
    /// while commits are failing, one real write to learn whether they work again. The probe
    /// belongs here, not to the domain: it changes nothing of it, it is the writer checking that
    /// it can commit.
    pub fn health(&self) -> Health {
        if let Err(e) = self.run(|_| Ok(())) {
            return Health::Unreachable(e);
        }
        if !self.failing() {
            return Health::Ok;
        }
        match self.probe_write() {
            Ok(()) => Health::Recovered,
            Err(e) => Health::WritesFailing(e),
        }
    }

    /// Whether writes are failing: the last transaction that tried to change something did not
    /// commit.
    pub fn failing(&self) -> bool {
        self.stats.failing.load(Ordering::SeqCst)
    }

    /// Commits a transaction that really writes (the database header's user version, rewritten
    /// with its own value), to learn whether writes work again; clears [`Writer::failing`] if so.
    pub fn probe_write(&self) -> Result<(), Error> {
        self.run(|conn| {
            let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            conn.pragma_update(None, "user_version", version)?;
            Ok(())
        })?;
        self.stats.failing.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Runs `work` on the writer connection outside any transaction, after the batch it arrives
    /// with has committed (for checkpoints and other maintenance). It gets no [`Tx`]: nothing of
    /// the store's that writes can run there.
    pub fn run_outside_transaction<T, F>(&self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        self.submit(Mode::Maintenance, |tx: &Tx<'_>| work(tx.conn))
    }

    fn submit<T, F>(&self, mode: Mode, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Tx<'_>) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        let job: Box<dyn Job> = Box::new(Pending { mode, work: Some(work), result: None, reply });
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(Error::unavailable("the write queue is full"));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(Error::unavailable("the writer has stopped"));
            }
        }
        match answer.recv_timeout(self.wait) {
            Ok(outcome) => outcome,
            Err(RecvTimeoutError::Timeout) => Err(Error::unavailable("the write was not confirmed in time")),
            Err(RecvTimeoutError::Disconnected) => Err(Error::unavailable("the writer stopped")),
        }
    }
}

fn writer_loop(mut conn: Connection, jobs: Receiver<Box<dyn Job>>, stats: &WriterStats, wal: Option<&Wal>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut next = None;
    loop {
        let Some(first) = next.take().or_else(|| next_job(&jobs, &mut conn, wal)) else {
            break;
        };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, &mut batch, stats);
        if let Some(wal) = wal {
            // Nobody waits for the writer unless a job is queued: the moment for checkpoints.
            next = jobs.try_recv().ok();
            checkpointer::between_batches(wal, &mut conn, next.is_none());
        }
    }
    // Every handle is gone: the server is shutting down. Fold the WAL into the main file so the
    // database is a single self-contained file while the server is stopped.
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        log::warn!("final checkpoint failed: {e}");
    }
    log::debug!("writer stopped");
}

/// Waits for the next job; `None` once every handle is gone. While the WAL holds frames, a wait
/// longer than `checkpointer::IDLE` lets the writer empty it.
fn next_job(jobs: &Receiver<Box<dyn Job>>, conn: &mut Connection, wal: Option<&Wal>) -> Option<Box<dyn Job>> {
    loop {
        let Some(wal) = wal.filter(|w| w.has_frames()) else {
            return jobs.recv().ok();
        };
        match jobs.recv_timeout(checkpointer::IDLE) {
            Ok(job) => return Some(job),
            Err(RecvTimeoutError::Timeout) => checkpointer::idle(wal, conn),
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

fn run_batch(conn: &mut Connection, batch: &mut Vec<Box<dyn Job>>, stats: &WriterStats) {
    let (mut transactional, maintenance): (Vec<_>, Vec<_>) =
        batch.drain(..).partition(|j| j.mode() != Mode::Maintenance);
    if !transactional.is_empty() {
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.jobs.fetch_add(transactional.len() as u64, Ordering::Relaxed);
        let changes_before = conn.total_changes();
        let commit = run_in_transaction(conn, &mut transactional);
        if commit.is_ok() && conn.total_changes() != changes_before {
            stats.failing.store(false, Ordering::SeqCst);
        }
        if let Err(e) = &commit {
            stats.failing.store(true, Ordering::SeqCst);
            stats.failed_commits.fetch_add(1, Ordering::Relaxed);
            log::error!("a write transaction of {} jobs failed and was rolled back: {e}", transactional.len());
            let _ = conn.execute_batch("ROLLBACK");
        }
        super::catalog::publish();
        for job in transactional {
            job.finish(commit.clone());
        }
    }
    for mut job in maintenance {
        job.run(conn);
        job.finish(Ok(()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> Writer {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)").unwrap();
        Writer::start(conn, Duration::from_secs(5)).0
    }

    fn insert(w: &Writer, k: &'static str) -> Result<i64, Error> {
        w.run(move |c| {
            c.execute("INSERT INTO t (k, v) VALUES (?1, 1)", [k]).map_err(|e| {
                if crate::store::is_unique_violation(&e) { Error::conflict("dup", k) } else { e.into() }
            })?;
            Ok(c.last_insert_rowid())
        })
    }

    #[test]
    fn a_failing_job_rolls_back_alone() {
        let w = writer();
        insert(&w, "a").unwrap();
        // A job that writes and then fails must leave no trace.
        let failed: Result<(), Error> = w.run(|c| {
            c.execute("INSERT INTO t (k, v) VALUES ('half', 1)", [])?;
            Err(Error::bad_request("nope", "rolled back"))
        });
        assert_eq!(failed.unwrap_err().code, "nope");
        assert_eq!(insert(&w, "a").unwrap_err().code, "dup");
        let count: i64 = w.run(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)).unwrap();
        assert_eq!(count, 1);
    }

    /// A job for [`run_in_transaction`] that inserts `k` and then fails if `fail`, with the
    /// receiver of its outcome.
    fn job(k: &'static str, fail: bool) -> (Box<dyn Job>, Receiver<Result<(), Error>>) {
        let (reply, answer) = mpsc::sync_channel(1);
        let work = move |c: &Tx<'_>| -> Result<(), Error> {
            c.execute("INSERT INTO t (k, v) VALUES (?1, 1)", [k])?;
            if fail { Err(Error::bad_request("nope", k)) } else { Ok(()) }
        };
        (Box::new(Pending { mode: Mode::Savepoint, work: Some(work), result: None, reply }), answer)
    }

    #[test]
    fn a_failing_job_in_a_batch_is_undone_alone_wherever_it_runs() {
        // First (no savepoint: the transaction is rolled back and begun again), in the middle
        // and last (each in its own savepoint), and a batch of nothing but failures.
        let batches: [&[(&'static str, bool)]; 4] = [
            &[("f1", true), ("a", false), ("b", false)],
            &[("c", false), ("f2", true), ("d", false)],
            &[("e", false), ("f3", true)],
            &[("f4", true), ("f5", true), ("g", false), ("f6", true)],
        ];
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)").unwrap();
        for spec in batches {
            let (mut jobs, answers): (Vec<_>, Vec<_>) = spec.iter().map(|&(k, fail)| job(k, fail)).unzip();
            let commit = run_in_transaction(&conn, &mut jobs);
            assert!(commit.is_ok(), "{commit:?}");
            assert!(conn.is_autocommit(), "the transaction was committed");
            for job in jobs {
                job.finish(commit.clone());
            }
            for (&(k, fail), answer) in spec.iter().zip(answers) {
                let outcome = answer.try_recv().expect("every job is answered");
                assert_eq!(outcome.is_err(), fail, "{k}: {outcome:?}");
            }
        }
        let mut stmt = conn.prepare("SELECT group_concat(k, ' ') FROM (SELECT k FROM t ORDER BY k)").unwrap();
        let kept: String = stmt.query_row([], |r| r.get(0)).unwrap();
        assert_eq!(kept, "a b c d e g", "every failed job left no row, every other one its own");
    }

    #[test]
    fn single_statement_jobs_fail_alone_without_a_savepoint() {
        let w = writer();
        let ok = w.run_single(|c| Ok(c.execute("INSERT INTO t (k, v) VALUES ('one', 1)", [])?));
        assert_eq!(ok.unwrap(), 1);
        let dup: Result<usize, Error> = w.run_single(|c| Ok(c.execute("INSERT INTO t (k, v) VALUES ('one', 2)", [])?));
        assert!(dup.is_err());
        let after = w.run_single(|c| Ok(c.execute("INSERT INTO t (k, v) VALUES ('two', 1)", [])?));
        assert_eq!(after.unwrap(), 1);
        let rows: Vec<(String, i64)> = w
            .run(|c| {
                let mut stmt = c.prepare("SELECT k, v FROM t ORDER BY k")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .unwrap();
        assert_eq!(rows, [("one".to_string(), 1), ("two".to_string(), 1)]);
    }

    #[test]
    fn a_panicking_job_is_an_internal_error_and_the_writer_survives() {
        let w = writer();
        let r: Result<(), Error> = w.run(|_| panic!("boom"));
        let e = r.unwrap_err();
        assert_eq!(e.status, 500);
        assert!(e.detail.unwrap().contains("boom"));
        insert(&w, "after").unwrap();
    }

    #[test]
    fn a_failed_commit_marks_writes_failing_until_a_write_commits() {
        let w = writer();
        assert!(!w.failing());
        // A deferred foreign key violation fails at COMMIT, as a full disk does.
        let _ = w.run_outside_transaction(|c| {
            Ok(c.execute_batch(
                "CREATE TABLE p (id INTEGER PRIMARY KEY); \
                 CREATE TABLE ch (p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED); \
                 PRAGMA foreign_keys = ON;",
            )?)
        });
        let failed: Result<usize, Error> = w.run(|c| Ok(c.execute("INSERT INTO ch (p) VALUES (42)", [])?));
        assert!(failed.is_err());
        assert!(w.failing());
        // An empty round trip does not clear it; a real write does.
        w.run(|_| Ok(())).unwrap();
        assert!(w.failing());
        insert(&w, "works").unwrap();
        assert!(!w.failing());
        // So does the probe write.
        let _: Result<usize, Error> = w.run(|c| Ok(c.execute("INSERT INTO ch (p) VALUES (43)", [])?));
        assert!(w.failing());
        w.probe_write().unwrap();
        assert!(!w.failing());
    }

    #[test]
    fn concurrent_jobs_share_transactions_and_all_commit() {
        let w = writer();
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let key: &'static str = Box::leak(format!("{t}-{i}").into_boxed_str());
                        insert(&w, key).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let count: i64 = w.run(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)).unwrap();
        assert_eq!(count, 800);
        assert!(w.stats.batches.load(Ordering::Relaxed) <= w.stats.jobs.load(Ordering::Relaxed));
    }
}
