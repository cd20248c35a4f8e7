//! The sweeper: a background thread that, every sweep interval, deletes clicks past the
//! retention period that never converted and strips personal data from the ones that did
//! (`store::retention`), prunes old logs, expires webhook events held for more than a day
//! (`store::held`), and approves pending conversions whose hold period has passed
//! (`store::conversions::hold`, rules in `tracking::hold`), then gives the pages its deletes
//! freed back to the file system (`store::space::give_back`, in files made in incremental
//! auto-vacuum mode). Work is cut into small batches, each its own short job on the writer with a
//! pause in between, so a sweep of millions of rows never holds up requests for long.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::clock::now_ms;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::store::conversions::hold;
use crate::store::writer::{Tx, Writer};
use crate::store::{held, retention, space};
use crate::tracking::connectors::HOLD_MS;
use crate::tracking::conversion::Conversion;

/// Clicks looked at per batch: one batch (with the pages it freed given back) holds the writer
/// for about half a millisecond, which is what a redirect arriving meanwhile waits. With 250 it
/// was ~1.3 ms, and the redirects' p99 during a sweep of 1M clicks at 2,000 a second was 2.4-3.5
/// times the quiet one; with 100, 1.6-2.3 times, for a sweep of 57 s instead of 26 (bench/scale).
pub const BATCH: usize = 100;
/// Conversions looked at per approval batch: each approval writes its event, ledger entry and
/// postback, so batches are smaller than the clicks'.
pub const APPROVE_BATCH: usize = 100;
/// Free pages given back to the file system per writer job: a batch of clicks frees fewer (~8),
/// and moving a page from the end of the file into a free slot costs about as much as writing it.
pub const GIVE_BACK_PAGES: u32 = 16;
/// The pause after each step of giving back what is left after the batches. Each moved page is
/// written twice (to the WAL, then back by the checkpoint) and the file is cut at the
/// checkpoints: 128 pages every ~6 ms wrote ~100 MB/s and held the writer's checkpoints for
/// 13 ms several times a second (redirect p99 15-22 ms instead of ~1.5 ms, bench/scale).
const GIVE_BACK_PAUSE: Duration = Duration::from_millis(20);
/// The pause after a batch is at least this, and at least twice what the batch took, so a sweep
/// never takes more than a third of the writer's time. Measured with bench/sweep: deleting 1M
/// stale clicks during the mixed load then costs the redirects' p99 less than double.
const MIN_PAUSE: Duration = Duration::from_millis(5);

pub struct Sweeper {
    pub writer: Writer,
    pub retention: Duration,
    pub interval: Duration,
    pub metrics: Arc<Metrics>,
    pub stopping: Arc<AtomicBool>,
    /// The server's hold period (`--approve-after`); offers may set their own.
    pub approve_after: Option<Duration>,
    /// Where e-mail goes: a conversion approved after its hold tells its affiliate like any
    /// other approval (`intake::mail`).
    pub mail: crate::store::mailing::Context,
}

/// Totals of one sweep.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub deleted: usize,
    pub scrubbed: usize,
    pub pruned: usize,
    /// Held webhook events logged as expired.
    pub expired: usize,
    /// Conversions approved after their hold period.
    pub approved: usize,
    /// Free pages given back to the file system.
    pub given_back: i64,
}

impl Sweeper {
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        thread::Builder::new().name("sweeper".into()).spawn(move || {
            // The first sweep runs soon after start, then once per interval.
            let mut next = Instant::now() + Duration::from_secs(1).min(self.interval);
            while !self.stopping.load(Ordering::SeqCst) {
                if Instant::now() < next {
                    thread::sleep(Duration::from_millis(100).min(next - Instant::now()));
                    continue;
                }
                let started = Instant::now();
                match self.sweep() {
                    Ok(r) => {
                        self.metrics.sweeper_runs.fetch_add(1, Ordering::Relaxed);
                        log::info!(
                            "retention sweep: deleted {} unconverted clicks, removed personal data from {} converted ones, \
                             pruned {} old log rows, expired {} held webhook events, approved {} conversions \
                             after their hold period, gave {} free pages back to the file system ({:.0} ms)",
                            r.deleted,
                            r.scrubbed,
                            r.pruned,
                            r.expired,
                            r.approved,
                            r.given_back,
                            started.elapsed().as_secs_f64() * 1e3
                        );
                    }
                    Err(e) => log::error!("retention sweep failed (will retry next interval): {e}"),
                }
                next = Instant::now() + self.interval;
            }
        })
    }

    /// One full sweep: batches until nothing older than the cutoff is left.
    pub fn sweep(&self) -> Result<Report, Error> {
        let cutoff = now_ms() - i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let mut report = Report::default();
        let mut after = String::new();
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return Ok(report);
            }
            let from = after.clone();
            let started = Instant::now();
            let ((batch, last), given) = self.writer.run(move |conn| {
                let swept = retention::sweep_batch(conn, &from, cutoff, BATCH)?;
                // What this batch freed, while the free list is short (see `space::give_back`).
                Ok((swept, space::give_back(conn, GIVE_BACK_PAGES)?))
            })?;
            let took = started.elapsed();
            report.given_back += given.pages;
            report.deleted += batch.deleted;
            report.scrubbed += batch.scrubbed;
            self.metrics.sweeper_deleted.fetch_add(batch.deleted as u64, Ordering::Relaxed);
            after = last;
            if batch.done {
                break;
            }
            thread::sleep((took * 2).max(MIN_PAUSE));
        }
        loop {
            let pruned = self.writer.run(move |conn| retention::prune_logs(conn, cutoff, BATCH))?;
            report.pruned += pruned;
            if pruned == 0 {
                break;
            }
            thread::sleep(MIN_PAUSE);
        }
        // Webhook events held for what they need (a customer's tie, an order) that waited in vain.
        let held_cutoff = now_ms() - HOLD_MS;
        loop {
            let expired = self.writer.run(move |conn| held::expire(conn, held_cutoff, now_ms(), BATCH))?;
            report.expired += expired;
            if expired == 0 {
                break;
            }
            thread::sleep(MIN_PAUSE);
        }
        report.given_back += self.give_back()?;
        report.approved = self.approve_after_hold()?;
        Ok(report)
    }

    /// Gives the free pages still in the file back (what the logs and held events freed, or
    /// what a sweep cut short left), [`GIVE_BACK_PAGES`] per writer job; returns how many.
    pub fn give_back(&self) -> Result<i64, Error> {
        let mut given = 0;
        while !self.stopping.load(Ordering::SeqCst) {
            let started = Instant::now();
            let step = self.writer.run(|conn| space::give_back(conn, GIVE_BACK_PAGES))?;
            given += step.pages;
            if step.pages == 0 || step.left == 0 {
                break; // Nothing left, or not in incremental mode.
            }
            thread::sleep((started.elapsed() * 2).max(GIVE_BACK_PAUSE));
        }
        Ok(given)
    }

    /// Approves, batch by batch, the pending conversions whose hold period has passed.
    pub fn approve_after_hold(&self) -> Result<usize, Error> {
        let default_hold = self.approve_after.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let now = now_ms();
        let mut approved = 0;
        let mut after = (i64::MIN, i64::MIN);
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return Ok(approved);
            }
            let started = Instant::now();
            let mail = self.mail.clone();
            let (n, next) = self.writer.run(move |conn| {
                hold::approve_batch_then(
                    conn,
                    after,
                    default_hold,
                    now,
                    APPROVE_BATCH,
                    |tx: &Tx<'_>, c: &Conversion| crate::store::mailing::conversion_approved(tx, &mail, c, now),
                )
            })?;
            approved += n;
            self.metrics.conversions_approved.fetch_add(n as u64, Ordering::Relaxed);
            let Some(next) = next else { return Ok(approved) };
            after = next;
            thread::sleep((started.elapsed() * 2).max(MIN_PAUSE));
        }
    }
}
