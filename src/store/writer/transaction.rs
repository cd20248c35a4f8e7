//! One batch of the writer's jobs in one transaction: each job in its own savepoint, or none while
//! the transaction holds nothing yet; the commit, timed and logged when slow.

use std::time::Duration;

use rusqlite::Connection;

use super::{Job, Mode};
use crate::error::Error;

pub(super) fn run_in_transaction(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), Error> {
    let started = std::time::Instant::now();
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let began = started.elapsed();
    // Until a job has kept a change, the transaction holds nothing of anyone else's: a job run
    // then needs no savepoint of its own (whose sub-journal copies every page the job touches),
    // because undoing it is undoing the whole transaction. At the rates a visitor meets, most
    // batches hold one or two jobs, so most jobs run this way.
    let mut untouched = true;
    for job in batch.iter_mut() {
        if job.mode() == Mode::Single {
            untouched &= !job.run(conn);
            continue;
        }
        if untouched {
            if !job.run(conn) {
                // SQLite may already have rolled the transaction back (a full disk, an I/O error).
                if !conn.is_autocommit() {
                    conn.prepare_cached("ROLLBACK")?.execute([])?;
                }
                conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
                continue;
            }
            untouched = false;
            continue;
        }
        conn.prepare_cached("SAVEPOINT job")?.execute([])?;
        if !job.run(conn) {
            conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
        }
        conn.prepare_cached("RELEASE job")?.execute([])?;
    }
    let ran = started.elapsed();
    conn.prepare_cached("COMMIT")?.execute([])?;
    let total = started.elapsed();
    if total > NOTED_TRANSACTION {
        let level = if total > SLOW_TRANSACTION { log::Level::Warn } else { log::Level::Debug };
        log::log!(
            level,
            "a write transaction of {} jobs took {:.2} ms (begin {:.2}, jobs {:.2}, commit {:.2})",
            batch.len(),
            total.as_secs_f64() * 1e3,
            began.as_secs_f64() * 1e3,
            (ran - began).as_secs_f64() * 1e3,
            (total - ran).as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// Transactions slower than this are logged: every request in them waited that long.
const SLOW_TRANSACTION: Duration = Duration::from_millis(100);
/// Transactions slower than this are logged at debug level, to find what holds commits up.
const NOTED_TRANSACTION: Duration = Duration::from_millis(1);
