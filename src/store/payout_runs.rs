//! Payout runs, built in small writer jobs so that a run never holds tracking: every click and
//! conversion waits behind the writer's current job, and a run over a thousand affiliates in one
//! transaction held them for seconds.
//!
//! A run is a row (`payout_runs`, status `building`), then one job per affiliate, or for an
//! affiliate with a long ledger one job per slice of [`SLICE`] entries of their chain, then a
//! job that marks the run `complete`. Each job is one short transaction and decides again from
//! the entries themselves: a slice holds the payable entries of its range that no live payout
//! holds (the partial UNIQUE index on `payout_items (entry_id) WHERE live = 1` still guarantees
//! that no entry is in two live payouts), and adds their sum to the payout's `held`. While
//! `building` is 1 the payout is invisible (`store::payouts` shows only built ones); the last
//! slice sets its amount to `held` and books it in the ledger, or removes it when what it holds
//! no longer qualifies.
//!
//! What `run_id` promises survives this: one payout per affiliate in a run (a UNIQUE index), so a
//! run resumed after a crash, or asked twice at once, finds the payouts it made instead of
//! making others; the same `run_id` once the run is complete makes nothing. A crash leaves a run
//! `building` with its finished payouts (each whole, each booked) and at most one half-held
//! payout per run being built, which the next start removes ([`abandon`]); sending the run_id
//! again finishes the run.
//!
//! Architecture Invariant: every function that writes takes a `&Tx` and does a bounded amount
//! of work (one affiliate's slice of at most [`SLICE`] entries); the reads that walk many
//! affiliates ([`to_visit`]) run on the caller's reader.

use rusqlite::{Connection, OptionalExtension, params};

use super::ledger::{self, NewEntry, Subject};
use super::payouts::{Filter, RunOutcome, list};
use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::ledger::Kind;
use crate::tracking::payout::{self, Run};

/// The most ledger entries (by `seq`) of one affiliate's chain one writer job walks: about a
/// millisecond of the writer.
pub const SLICE: i64 = 1_000;

/// Where a run stands when it is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// A new run (its row id): build it.
    New(i64),
    /// A run with this `run_id` was interrupted (a crash, a failed job): finish it.
    Resume(i64),
    /// A run with this `run_id` is complete: nothing to do.
    Done(i64),
}

/// The outcome of a run for its callers: the run's row id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new run, or an interrupted one finished now.
    Created(i64),
    /// The run with this `run_id` was complete already; nothing new was made.
    Repeated(i64),
}

/// Creates the run's row (`building`), or finds the run with the same `run_id`: a 409
/// `run_id_conflict` when it was asked with another currency or minimum.
pub fn start(tx: &Tx, run: &Run, now: i64) -> Result<Start, Error> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO payout_runs (run_id, currency, minimum, created_at, status) VALUES (?1, ?2, ?3, ?4, 'building')
             ON CONFLICT (run_id) DO NOTHING",
        )?
        .execute(params![run.run_id, run.currency.code(), run.minimum, now])?;
    if inserted == 1 {
        return Ok(Start::New(tx.last_insert_rowid()));
    }
    let (id, currency, minimum, status): (i64, String, i64, String) = tx
        .prepare_cached("SELECT id, currency, minimum, status FROM payout_runs WHERE run_id = ?1")?
        .query_row([&run.run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    if currency != run.currency.code() || minimum != run.minimum {
        return Err(Error::conflict(
            "run_id_conflict",
            format!(
                "run_id {:?} was used for a run in {currency} with minimum {}; use a new run_id for another run",
                run.run_id.as_deref().unwrap_or(""),
                run.currency.format(minimum)
            ),
        ));
    }
    Ok(if status == "complete" { Start::Done(id) } else { Start::Resume(id) })
}

/// The affiliates run `run_row` still has to visit, in id order: those whose open payable
/// entries qualify now, and those whose payout in this run is still being built; not those
/// whose payout in this run is built. Reads many affiliates: run it on a reader.
pub fn to_visit(conn: &Connection, run_row: i64, run: &Run) -> Result<Vec<i64>, Error> {
    let mut out = super::payouts::candidates(conn, run.currency, run.minimum)?;
    let mut stmt = conn.prepare_cached("SELECT affiliate_id, building FROM payouts WHERE run = ?1")?;
    let rows = stmt.query_map([run_row], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?)))?;
    for row in rows {
        let (affiliate, building) = row?;
        if building {
            out.push(affiliate);
        } else {
            out.retain(|a| *a != affiliate);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The slices of `affiliate_id`'s chain a run walks, as `(after, up_to, last)` ranges of `seq`:
/// everything up to the chain's head now, [`SLICE`] entries at a time (one range for an empty
/// chain, so its payout is still closed).
pub fn slices(conn: &Connection, affiliate_id: i64) -> Result<Vec<(i64, i64, bool)>, Error> {
    Ok(cut(ledger::head(conn, affiliate_id)?.seq))
}

fn cut(head: i64) -> Vec<(i64, i64, bool)> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let up_to = (after + SLICE).min(head);
        out.push((after, up_to, up_to >= head));
        if up_to >= head {
            return out;
        }
        after = up_to;
    }
}

/// One writer job of a run: for `affiliate_id`'s payout in run `run_row` (made by the first
/// job), holds the open payable entries with `after < seq <= up_to`; the `last` job closes the
/// payout. Nothing when the affiliate's payout in this run is built already.
pub fn step(
    tx: &Tx,
    run_row: i64,
    affiliate_id: i64,
    run: &Run,
    (after, up_to, last): (i64, i64, bool),
    now: i64,
) -> Result<(), Error> {
    let Some(payout_id) = open(tx, run_row, affiliate_id, run, now)? else { return Ok(()) };
    let open_entries = format!(
        "FROM ledger_entries l
         WHERE l.affiliate_id = ?1 AND l.seq > ?2 AND l.seq <= ?3 AND l.currency = ?4 AND l.kind IN {}
           AND NOT EXISTS (SELECT 1 FROM payout_items i WHERE i.entry_id = l.id AND i.live = 1)",
        ledger::payable_kinds_sql()
    );
    let range = params![affiliate_id, after, up_to, run.currency.code()];
    let sum: i64 = tx
        .prepare_cached(&format!("SELECT coalesce(sum(l.amount), 0) {open_entries}"))?
        .query_row(range, |r| r.get(0))?;
    tx.prepare_cached(&format!(
        "INSERT INTO payout_items (payout_id, entry_id) SELECT ?5, l.id {open_entries} ORDER BY l.seq"
    ))?
    .execute(params![affiliate_id, after, up_to, run.currency.code(), payout_id])?;
    tx.prepare_cached("UPDATE payouts SET held = held + ?1 WHERE id = ?2")?.execute(params![sum, payout_id])?;
    if last {
        close(tx, payout_id, affiliate_id, run, now)?;
    }
    Ok(())
}

/// The payout of `affiliate_id` in run `run_row` that is being built, made now if there is
/// none; `None` when it is built already.
fn open(tx: &Tx, run_row: i64, affiliate_id: i64, run: &Run, now: i64) -> Result<Option<i64>, Error> {
    let found: Option<(i64, bool)> = tx
        .prepare_cached("SELECT id, building FROM payouts WHERE run = ?1 AND affiliate_id = ?2")?
        .query_row(params![run_row, affiliate_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match found {
        Some((id, true)) => Ok(Some(id)),
        Some((_, false)) => Ok(None),
        None => {
            // The amount is a placeholder the last slice replaces with what the payout holds;
            // nothing shows a payout while it is building.
            tx.prepare_cached(
                "INSERT INTO payouts (run, affiliate_id, currency, amount, status, created_at, building, held)
                 VALUES (?1, ?2, ?3, 1, 'pending', ?4, 1, 0)",
            )?
            .execute(params![run_row, affiliate_id, run.currency.code(), now])?;
            Ok(Some(tx.last_insert_rowid()))
        }
    }
}

/// Ends a payout's building: booked with the amount it holds when that qualifies, removed (it
/// was never shown, nothing refers to it) when it does not.
fn close(tx: &Tx, payout_id: i64, affiliate_id: i64, run: &Run, now: i64) -> Result<(), Error> {
    let held: i64 =
        tx.prepare_cached("SELECT held FROM payouts WHERE id = ?1")?.query_row([payout_id], |r| r.get(0))?;
    if !payout::qualifies(held, run.minimum) {
        return remove(tx, payout_id);
    }
    tx.prepare_cached("UPDATE payouts SET amount = held, building = 0 WHERE id = ?1")?.execute([payout_id])?;
    let entry = NewEntry {
        affiliate_id,
        kind: Kind::Payout,
        subject: Subject::Payout(payout_id),
        currency: run.currency,
        amount: held,
    };
    ledger::append(tx, &entry, now).map(|_| ())
}

fn remove(tx: &Tx, payout_id: i64) -> Result<(), Error> {
    tx.prepare_cached("DELETE FROM payout_items WHERE payout_id = ?1")?.execute([payout_id])?;
    tx.prepare_cached("DELETE FROM payouts WHERE id = ?1 AND building = 1")?.execute([payout_id])?;
    Ok(())
}

/// Marks run `run_row` complete once none of its payouts is being built.
pub fn finish(tx: &Tx, run_row: i64, now: i64) -> Result<(), Error> {
    tx.prepare_cached(
        "UPDATE payout_runs SET status = 'complete', completed_at = ?2
         WHERE id = ?1 AND status = 'building' AND NOT EXISTS (SELECT 1 FROM payouts WHERE run = ?1 AND building = 1)",
    )?
    .execute(params![run_row, now])?;
    Ok(())
}

/// Removes the payouts that runs interrupted by a crash left half-built, so that the entries
/// they held are free for the next run; their runs stay `building` (their finished payouts are
/// real) until their run_id is sent again. For start-up, before any run can be under way.
/// Returns how many were removed.
pub fn abandon(tx: &Tx) -> Result<usize, Error> {
    let ids: Vec<i64> = tx
        .prepare_cached("SELECT id FROM payouts WHERE building = 1")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for &id in &ids {
        remove(tx, id)?;
    }
    Ok(ids.len())
}

/// A whole run in the caller's one transaction, from the same steps the server takes one job at
/// a time: for tools, benchmarks and tests that have no writer thread. Answers with the run's
/// payouts in the order they were made.
pub fn at_once(tx: &Tx, run: &Run, now: i64) -> Result<RunOutcome, Error> {
    let (id, created) = match start(tx, run, now)? {
        Start::Done(id) => (id, false),
        Start::New(id) | Start::Resume(id) => (id, true),
    };
    if created {
        for affiliate in to_visit(tx, id, run)? {
            for slice in slices(tx, affiliate)? {
                step(tx, id, affiliate, run, slice, now)?;
            }
        }
        finish(tx, id, now)?;
    }
    let mut made = list(tx, &Filter { run: Some(id), ..Filter::default() }, None, usize::MAX)?;
    made.reverse();
    Ok(if created { RunOutcome::Created(made) } else { RunOutcome::Repeated(made) })
}

/// Removes the payouts run `run_row` is building, so that the entries they held are free at once
/// when the run stops on a failed job (a full write queue, say) rather than at the next start;
/// the run stays `building`, and its run_id finishes it. Returns how many were removed.
pub fn abandon_run(tx: &Tx, run_row: i64) -> Result<usize, Error> {
    let ids: Vec<i64> = tx
        .prepare_cached("SELECT id FROM payouts WHERE run = ?1 AND building = 1")?
        .query_map([run_row], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for &id in &ids {
        remove(tx, id)?;
    }
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conversions;
    use crate::store::payouts::{self, Transition};
    use crate::store::testing::convert;
    use crate::tracking::conversion::Status;
    use crate::tracking::ledger::verify_chain;
    use crate::tracking::money::Currency;

    const ANN: i64 = 1;

    fn db() -> Connection {
        let conn = crate::store::testing::memory();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
        conn.execute_batch("INSERT INTO affiliates (referral_code, name, created_at) VALUES ('bob', 'Bob', 1)")
            .unwrap();
        conn
    }

    fn run(run_id: &str, minimum: i64) -> Run {
        Run { currency: Currency::from_code("USD").unwrap(), minimum, run_id: Some(run_id.into()) }
    }

    /// `n` more approved sales of 100.00 (10.00 commission each) for `code`.
    fn approved(conn: &Connection, code: &str, n: usize) {
        let before: i64 = conn.query_row("SELECT count(*) FROM conversions", [], |r| r.get(0)).unwrap();
        for i in before..before + n as i64 {
            let id = convert(conn, &format!("{code}-{i}"), code, "100.00", "USD", 10);
            conversions::decide(&Tx::within(conn), id, Status::Approved, "t", None, 20).unwrap();
        }
    }

    fn new_run(conn: &Connection, r: &Run) -> i64 {
        let Start::New(id) = start(&Tx::within(conn), r, 30).unwrap() else { panic!("a new run") };
        id
    }

    /// How many live payouts hold each payable entry of the affiliate: exactly one for each is
    /// what a run promises once it is complete.
    fn holders(conn: &Connection, affiliate: i64) -> Vec<i64> {
        conn.prepare(
            "SELECT (SELECT count(*) FROM payout_items i WHERE i.entry_id = l.id AND i.live = 1)
             FROM ledger_entries l WHERE l.affiliate_id = ?1 AND l.kind = 'approved' ORDER BY l.seq",
        )
        .unwrap()
        .query_map([affiliate], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    #[test]
    fn a_payout_built_in_slices_is_invisible_until_its_last_slice_books_it() {
        let conn = db();
        approved(&conn, "ann", 3);
        let r = run("r1", 0);
        let id = new_run(&conn, &r);
        let head = ledger::head(&conn, ANN).unwrap().seq;
        assert_eq!(head, 6, "created and approved for each sale");
        step(&Tx::within(&conn), id, ANN, &r, (0, 2, false), 30).unwrap();
        step(&Tx::within(&conn), id, ANN, &r, (2, 4, false), 30).unwrap();
        let all = Filter { run: Some(id), ..Filter::default() };
        assert!(list(&conn, &all, None, 10).unwrap().is_empty(), "a payout being built is not shown");
        assert_eq!(ledger::head(&conn, ANN).unwrap().seq, head, "nor booked");
        assert_eq!(holders(&conn, ANN), [1, 1, 0]);
        step(&Tx::within(&conn), id, ANN, &r, (4, head, true), 30).unwrap();
        finish(&Tx::within(&conn), id, 31).unwrap();
        let made = list(&conn, &all, None, 10).unwrap();
        assert_eq!((made.len(), made[0].amount), (1, 3000));
        assert_eq!(payouts::items(&conn, made[0].id).unwrap().len(), 3);
        assert_eq!(holders(&conn, ANN), [1, 1, 1]);
        let b = payouts::run(&conn, id).unwrap().unwrap();
        assert_eq!((b.complete, b.completed_at, b.payouts, b.amount), (true, Some(31), 1, 3000));
        let ann = crate::store::ledger::balances(&conn, ANN).unwrap()[0].1;
        assert_eq!((ann.available, ann.in_payouts), (0, 3000));
        assert!(verify_chain(&ledger::entries(&conn, ANN).unwrap()).is_ok());
    }

    /// A payout being built cannot be marked paid or cancelled (it is not there yet): either
    /// would leave a payout booked afterwards whose status never matched its ledger entries. A
    /// run stopped by a failed job frees what it was building at once.
    #[test]
    fn a_payout_being_built_is_neither_paid_nor_cancelled_and_a_stopped_run_frees_it() {
        let conn = db();
        approved(&conn, "ann", 3);
        let r = run("r1", 0);
        let id = new_run(&conn, &r);
        step(&Tx::within(&conn), id, ANN, &r, (0, 2, false), 30).unwrap();
        let building: i64 = conn.query_row("SELECT id FROM payouts WHERE building = 1", [], |r| r.get(0)).unwrap();
        let paid = payouts::mark_paid(&Tx::within(&conn), building, Some("ref"), 31).unwrap();
        assert!(matches!(paid, Transition::NotFound), "{paid:?}");
        let cancelled = payouts::cancel(&Tx::within(&conn), building, 31).unwrap();
        assert!(matches!(cancelled, Transition::NotFound), "{cancelled:?}");
        let (status, live): (String, i64) = conn
            .query_row(
                "SELECT status, (SELECT count(*) FROM payout_items WHERE payout_id = ?1 AND live = 1) FROM payouts WHERE id = ?1",
                [building],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((status.as_str(), live), ("pending", 1), "untouched");
        assert_eq!(abandon_run(&Tx::within(&conn), id).unwrap(), 1);
        assert_eq!(holders(&conn, ANN), [0, 0, 0], "its entries are free again");
        let Start::Resume(again) = start(&Tx::within(&conn), &r, 40).unwrap() else { panic!("resumable") };
        let head = ledger::head(&conn, ANN).unwrap().seq;
        step(&Tx::within(&conn), again, ANN, &r, (0, head, true), 40).unwrap();
        finish(&Tx::within(&conn), again, 41).unwrap();
        assert_eq!(holders(&conn, ANN), [1, 1, 1]);
        let made = list(&conn, &Filter { run: Some(again), ..Filter::default() }, None, 10).unwrap();
        let paid = payouts::mark_paid(&Tx::within(&conn), made[0].id, Some("ref"), 42).unwrap();
        assert!(matches!(paid, Transition::Changed(_)), "{paid:?}");
    }

    /// A crash between two slices: the run stays `building`, its half-held payout is removed at
    /// the next start, and the same run_id then finishes the run with every entry in exactly one
    /// payout.
    #[test]
    fn a_run_interrupted_mid_payout_is_finished_by_its_run_id() {
        let conn = db();
        approved(&conn, "ann", 4);
        approved(&conn, "bob", 2);
        let r = run("r1", 0);
        let id = new_run(&conn, &r);
        assert_eq!(to_visit(&conn, id, &r).unwrap(), [1, 2]);
        step(&Tx::within(&conn), id, ANN, &r, (0, 4, false), 30).unwrap();
        // The crash: nothing more of this run happens; the server starts again.
        assert_eq!(abandon(&Tx::within(&conn)).unwrap(), 1);
        assert_eq!(holders(&conn, ANN), [0, 0, 0, 0], "the entries are free again");
        assert!(!payouts::run(&conn, id).unwrap().unwrap().complete);
        let RunOutcome::Created(made) = at_once(&Tx::within(&conn), &r, 40).unwrap() else { panic!("finished now") };
        assert_eq!(made.iter().map(|p| (p.affiliate_id, p.amount)).collect::<Vec<_>>(), [(1, 4000), (2, 2000)]);
        assert_eq!((holders(&conn, 1), holders(&conn, 2)), (vec![1; 4], vec![1; 2]));
        let RunOutcome::Repeated(again) = at_once(&Tx::within(&conn), &r, 50).unwrap() else { panic!("complete") };
        assert_eq!(again, made);
    }

    /// A crash after some affiliates were paid: those payouts are real and stay; the retry pays
    /// the others and never makes a second payout for the same affiliate in the run, even for
    /// commission approved in between.
    #[test]
    fn a_resumed_run_pays_only_the_affiliates_it_had_not_paid() {
        let conn = db();
        approved(&conn, "ann", 2);
        approved(&conn, "bob", 1);
        let r = run("r1", 0);
        let id = new_run(&conn, &r);
        for slice in slices(&conn, ANN).unwrap() {
            step(&Tx::within(&conn), id, ANN, &r, slice, 30).unwrap();
        }
        assert_eq!(abandon(&Tx::within(&conn)).unwrap(), 0);
        let paid = list(&conn, &Filter { run: Some(id), ..Filter::default() }, None, 10).unwrap();
        assert_eq!(paid.len(), 1);
        approved(&conn, "ann", 1);
        assert_eq!(to_visit(&conn, id, &r).unwrap(), [2], "ann has her payout in this run");
        at_once(&Tx::within(&conn), &r, 40).unwrap();
        let made = list(&conn, &Filter { run: Some(id), ..Filter::default() }, None, 10).unwrap();
        assert_eq!(made.iter().map(|p| (p.affiliate_id, p.amount)).collect::<Vec<_>>(), [(2, 1000), (1, 2000)]);
        assert_eq!(holders(&conn, ANN), [1, 1, 0], "the later commission waits for the next run");
    }

    /// Two walks of the same run at once (the same run_id asked twice): one payout per
    /// affiliate, each entry held once.
    #[test]
    fn two_walks_of_one_run_make_one_payout_per_affiliate() {
        let conn = db();
        approved(&conn, "ann", 3);
        let r = run("r1", 0);
        let id = new_run(&conn, &r);
        assert_eq!(start(&Tx::within(&conn), &r, 31).unwrap(), Start::Resume(id));
        let head = ledger::head(&conn, ANN).unwrap().seq;
        step(&Tx::within(&conn), id, ANN, &r, (0, 2, false), 30).unwrap();
        step(&Tx::within(&conn), id, ANN, &r, (0, 2, false), 30).unwrap();
        step(&Tx::within(&conn), id, ANN, &r, (2, head, true), 30).unwrap();
        step(&Tx::within(&conn), id, ANN, &r, (2, head, true), 30).unwrap();
        finish(&Tx::within(&conn), id, 32).unwrap();
        let made = list(&conn, &Filter { run: Some(id), ..Filter::default() }, None, 10).unwrap();
        assert_eq!((made.len(), made[0].amount), (1, 3000));
        assert_eq!(holders(&conn, ANN), [1, 1, 1]);
        assert_eq!(start(&Tx::within(&conn), &r, 33).unwrap(), Start::Done(id));
        assert!(verify_chain(&ledger::entries(&conn, ANN).unwrap()).is_ok());
    }

    /// What a payout holds is decided at its last slice: below the minimum then (another run
    /// took entries meanwhile), it is removed and never shown; the run still completes.
    #[test]
    fn a_payout_that_no_longer_qualifies_at_its_last_slice_is_removed() {
        let conn = db();
        approved(&conn, "ann", 2);
        let r = run("r1", 1500);
        let id = new_run(&conn, &r);
        step(&Tx::within(&conn), id, ANN, &r, (0, 2, false), 30).unwrap();
        // Meanwhile another run pays the second sale's commission.
        let other = run("r2", 0);
        let RunOutcome::Created(made) = at_once(&Tx::within(&conn), &other, 35).unwrap() else { panic!() };
        assert_eq!(made[0].amount, 1000);
        step(&Tx::within(&conn), id, ANN, &r, (2, 4, true), 40).unwrap();
        finish(&Tx::within(&conn), id, 41).unwrap();
        let b = payouts::run(&conn, id).unwrap().unwrap();
        assert_eq!((b.complete, b.payouts), (true, 0));
        assert_eq!(holders(&conn, ANN), [0, 1]);
        // Cancelling the other payout frees its entry as always.
        assert!(matches!(payouts::cancel(&Tx::within(&conn), made[0].id, 50).unwrap(), Transition::Changed(_)));
        assert_eq!(holders(&conn, ANN), [0, 0]);
    }

    #[test]
    fn a_chain_is_walked_in_slices_of_at_most_slice_entries() {
        assert_eq!(cut(0), [(0, 0, true)]);
        assert_eq!(cut(7), [(0, 7, true)]);
        assert_eq!(cut(SLICE), [(0, SLICE, true)]);
        let many = SLICE * 2 + 1;
        assert_eq!(cut(many), [(0, SLICE, false), (SLICE, 2 * SLICE, false), (2 * SLICE, many, true)]);
    }
}
