//! Payouts: the payouts that runs make of each affiliate's available balance (a run is built in
//! small writer jobs by `payout_runs.rs`), and the two ends of a payout (paid, cancelled). Every
//! change books its ledger entry in the same transaction. A payout still being built is never
//! shown: every read here sees built payouts only.
//!
//! A payout holds exactly the payable ledger entries (approvals and claw-backs) of its affiliate
//! and currency that no live payout held when it was made; the partial UNIQUE index on
//! `payout_items (entry_id) WHERE live = 1` makes a second live payout of the same entry
//! impossible, whatever the code around it does. Cancelling frees the entries for the next run.
//! A refund after a payout never edits it: it is a new negative entry, carried into the next one.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::ledger::{self, NewEntry, Subject};
use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::ledger::Kind;
use crate::tracking::money::Currency;
pub use crate::tracking::payout::Run;
use crate::tracking::payout::{self, ITEMS_SHOWN, Item, ItemsShown, Payout, Status};

const SELECT: &str = "SELECT p.id, p.run, r.run_id, p.affiliate_id, a.referral_code, a.name, a.payout_email,
                             a.payout_details, p.currency, p.amount, p.status, p.reference, p.created_at, p.paid_at,
                             p.cancelled_at
                      FROM payouts p JOIN payout_runs r ON r.id = p.run JOIN affiliates a ON a.id = p.affiliate_id
                                                     AND p.building = 0";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Payout> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, format!("unknown {what}").into())
    };
    Ok(Payout {
        id: r.get(0)?,
        run: r.get(1)?,
        run_id: r.get(2)?,
        affiliate_id: r.get(3)?,
        referral_code: r.get(4)?,
        name: r.get(5)?,
        payout_email: r.get(6)?,
        payout_details: r.get(7)?,
        currency: Currency::from_code(&r.get::<_, String>(8)?).ok_or_else(|| bad(8, "currency"))?,
        amount: r.get(9)?,
        status: r.get(10)?,
        reference: r.get(11)?,
        created_at: r.get(12)?,
        paid_at: r.get(13)?,
        cancelled_at: r.get(14)?,
    })
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Payout>, Error> {
    Ok(conn.prepare_cached(&format!("{SELECT} WHERE p.id = ?1"))?.query_row([id], from_row).optional()?)
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found("not_found", format!("no payout has id {id}"))
}

/// A page of the entries payout `payout_id` holds, in ledger order, after the entry `after` (a
/// cursor: the entry's row id, which grows with `seq` in an affiliate's chain), at most `limit`;
/// each with its cursor. Reads only the page (the primary key of `payout_items` is ordered).
pub fn items_page(
    conn: &Connection,
    payout_id: i64,
    after: Option<i64>,
    limit: usize,
) -> Result<Vec<(i64, Item)>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT i.entry_id, l.seq, l.kind, l.conversion_id, v.external_id, l.amount, l.at
         FROM payout_items i JOIN ledger_entries l ON l.id = i.entry_id
         LEFT JOIN conversions v ON v.id = l.conversion_id
         WHERE i.payout_id = ?1 AND i.entry_id > coalesce(?2, 0) ORDER BY i.entry_id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![payout_id, after, limit as i64], |r| {
        let item = Item {
            seq: r.get(1)?,
            kind: r.get(2)?,
            conversion_id: r.get(3)?,
            external_id: r.get(4)?,
            amount: r.get(5)?,
            at: r.get(6)?,
        };
        Ok((r.get(0)?, item))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The first [`ITEMS_SHOWN`] entries payout `payout_id` holds, their number and the cursor of
/// the rest: what an answer about one payout carries.
pub fn items_shown(conn: &Connection, payout_id: i64) -> Result<ItemsShown, Error> {
    let page = items_page(conn, payout_id, None, ITEMS_SHOWN)?;
    let count = items_count(conn, payout_id)?;
    let next_cursor = if (page.len() as i64) < count { page.last().map(|(c, _)| *c) } else { None };
    Ok(ItemsShown { first: page.into_iter().map(|(_, i)| i).collect(), count, next_cursor })
}

/// How many entries payout `payout_id` holds.
pub fn items_count(conn: &Connection, payout_id: i64) -> Result<i64, Error> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM payout_items WHERE payout_id = ?1")?
        .query_row([payout_id], |r| r.get(0))?)
}

/// Every entry a payout holds, in ledger order: for tests (answers page them).
#[cfg(test)]
pub fn items(conn: &Connection, payout_id: i64) -> Result<Vec<Item>, Error> {
    Ok(items_page(conn, payout_id, None, usize::MAX)?.into_iter().map(|(_, i)| i).collect())
}

/// Of `conversion_ids`, those whose approved commission a live payout of `affiliate_id` holds
/// (the payout's `approved` entry, not a later claw-back), with that payout's id and status:
/// conversion id → (payout id, status). One indexed lookup per conversion.
pub fn holding(
    conn: &Connection,
    affiliate_id: i64,
    conversion_ids: &[i64],
) -> Result<HashMap<i64, (i64, Status)>, Error> {
    let list = serde_json::to_string(conversion_ids).map_err(|e| Error::internal(format!("id list: {e}")))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT l.conversion_id, p.id, p.status
         FROM json_each(?1) j
         JOIN ledger_entries l ON l.conversion_id = j.value AND l.affiliate_id = ?2 AND l.kind = '{}'
         JOIN payout_items i ON i.entry_id = l.id AND i.live = 1
         JOIN payouts p ON p.id = i.payout_id AND p.building = 0
         ORDER BY l.seq",
        Kind::Approved.as_str()
    ))?;
    let rows =
        stmt.query_map(params![list, affiliate_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get(2)?)))?;
    let mut out = HashMap::new();
    for row in rows {
        let (conversion, payout, status): (i64, i64, Status) = row?;
        // A conversion approved again after a replacement: its latest approval wins.
        out.insert(conversion, (payout, status));
    }
    Ok(out)
}

/// Which payouts a list shows.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub status: Option<Status>,
    pub affiliate_id: Option<i64>,
    pub run: Option<i64>,
    pub currency: Option<Currency>,
}

/// A page of payouts, newest first, before the payout `before` (a cursor).
pub fn list(conn: &Connection, f: &Filter, before: Option<i64>, limit: usize) -> Result<Vec<Payout>, Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE (?1 IS NULL OR p.status = ?1) AND (?2 IS NULL OR p.affiliate_id = ?2) AND (?3 IS NULL OR p.run = ?3)
           AND (?4 IS NULL OR p.currency = ?4) AND (?5 IS NULL OR p.id < ?5)
         ORDER BY p.id DESC LIMIT ?6"
    ))?;
    let rows = stmt.query_map(
        params![
            f.status.map(Status::as_str),
            f.affiliate_id,
            f.run,
            f.currency.map(Currency::code),
            before,
            limit as i64
        ],
        from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The outcome of a run made in one transaction (`payout_runs::at_once`).
#[derive(Debug)]
pub enum RunOutcome {
    /// A new run and the payouts it made (perhaps none).
    Created(Vec<Payout>),
    /// A run with this `run_id` happened already; its payouts as they are now.
    Repeated(Vec<Payout>),
}

/// Affiliates whose available balance in `currency` (their payable entries not held by a live
/// payout: every payout moves exactly its entries' sum out of `available`) reaches the minimum:
/// a read of the ledger's rollup for [`create_run`], which decides again for each of them on the
/// writer from the entries themselves.
pub fn candidates(conn: &Connection, currency: Currency, minimum: i64) -> Result<Vec<i64>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT affiliate_id, available FROM ledger_balances WHERE currency = ?1 ORDER BY affiliate_id",
    )?;
    let rows = stmt.query_map([currency.code()], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (affiliate, available) = row?;
        if payout::qualifies(available, minimum) {
            out.push(affiliate);
        }
    }
    Ok(out)
}

/// An affiliate with no payout e-mail and an available balance: PayPal cannot pay them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoPayoutEmail {
    pub referral_code: String,
    pub name: String,
    pub currency: Currency,
    /// What a run would pay them now: their payable entries not in a live payout.
    pub available: i64,
}

/// The affiliates without a payout e-mail whose available balance in some currency is above
/// zero (one row per currency), by referral code: who a payout run would pay but a PayPal file
/// could not. Reads the ledger's rollup.
pub fn without_payout_email(conn: &Connection) -> Result<Vec<NoPayoutEmail>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.referral_code, a.name, b.currency, b.available
         FROM affiliates a JOIN ledger_balances b ON b.affiliate_id = a.id
         WHERE a.payout_email IS NULL AND b.available > 0
         ORDER BY a.referral_code, b.currency",
    )?;
    let rows = stmt.query_map([], |r| {
        let code: String = r.get(2)?;
        let currency = Currency::from_code(&code).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, "unknown currency".into())
        })?;
        Ok(NoPayoutEmail { referral_code: r.get(0)?, name: r.get(1)?, currency, available: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn book(
    conn: &Tx,
    affiliate_id: i64,
    kind: Kind,
    payout_id: i64,
    currency: Currency,
    amount: i64,
    at: i64,
) -> Result<(), Error> {
    let entry = NewEntry { affiliate_id, kind, subject: Subject::Payout(payout_id), currency, amount };
    ledger::append(conn, &entry, at).map(|_| ())
}

/// The result of marking paid or cancelling.
#[derive(Debug)]
pub enum Transition {
    Changed(Payout),
    /// The payout was not pending; nothing changed.
    Refused(Payout),
    NotFound,
}

/// Marks a pending payout paid, with the merchant's payment reference. This is the one place a
/// payout becomes paid: whatever must follow it belongs here, in the same transaction, as the
/// `payout.paid` merchant webhook does. A payout a run is still building is not there yet
/// (`NotFound`), like everywhere else. Must run on the writer.
pub fn mark_paid(conn: &Tx, id: i64, reference: Option<&str>, now: i64) -> Result<Transition, Error> {
    let changed = conn
        .prepare_cached(
            "UPDATE payouts SET status = 'paid', reference = ?1, paid_at = ?2 WHERE id = ?3 AND status = 'pending' AND building = 0",
        )?
        .execute(params![reference, now, id])?;
    let transition = finish(conn, id, changed, Kind::Paid, now)?;
    if let Transition::Changed(paid) = &transition {
        let data = crate::shapes::payout(paid, &items_shown(conn, paid.id)?);
        super::webhooks::enqueue(conn, crate::tracking::webhook::Event::PayoutPaid, &data, now)?;
    }
    Ok(transition)
}

/// Cancels a pending payout: its entries are free for the next run, and the ledger moves its
/// amount back to available. A payout a run is still building is not there yet (`NotFound`).
/// Must run on the writer.
pub fn cancel(conn: &Tx, id: i64, now: i64) -> Result<Transition, Error> {
    let changed = conn
        .prepare_cached(
            "UPDATE payouts SET status = 'cancelled', cancelled_at = ?1 WHERE id = ?2 AND status = 'pending' AND building = 0",
        )?
        .execute(params![now, id])?;
    if changed == 1 {
        conn.prepare_cached("UPDATE payout_items SET live = 0 WHERE payout_id = ?1")?.execute([id])?;
    }
    finish(conn, id, changed, Kind::PayoutCancelled, now)
}

fn finish(conn: &Tx, id: i64, changed: usize, kind: Kind, now: i64) -> Result<Transition, Error> {
    let Some(payout) = get(conn, id)? else { return Ok(Transition::NotFound) };
    if changed == 0 {
        return Ok(Transition::Refused(payout));
    }
    book(conn, payout.affiliate_id, kind, payout.id, payout.currency, payout.amount, now)?;
    Ok(Transition::Changed(payout))
}

/// A payout run as the admin and the API show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRow {
    pub id: i64,
    pub run_id: Option<String>,
    pub currency: Currency,
    pub minimum: i64,
    pub created_at: i64,
    /// Whether its last affiliate is done (`complete`); `false` while it is `building`, or
    /// after a crash interrupted it.
    pub complete: bool,
    pub completed_at: Option<i64>,
    /// Its payouts (built ones, whatever their status) and what those not cancelled pay.
    pub payouts: i64,
    pub amount: i64,
}

const RUNS: &str = "SELECT r.id, r.run_id, r.currency, r.minimum, r.created_at, r.status = 'complete', r.completed_at,
                           count(p.id), coalesce(sum(CASE WHEN p.status != 'cancelled' THEN p.amount END), 0)
                    FROM payout_runs r LEFT JOIN payouts p ON p.run = r.id AND p.building = 0";

fn run_row(r: &Row<'_>) -> rusqlite::Result<RunRow> {
    let code: String = r.get(2)?;
    Ok(RunRow {
        id: r.get(0)?,
        run_id: r.get(1)?,
        currency: Currency::from_code(&code).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, "unknown currency".into())
        })?,
        minimum: r.get(3)?,
        created_at: r.get(4)?,
        complete: r.get(5)?,
        completed_at: r.get(6)?,
        payouts: r.get(7)?,
        amount: r.get(8)?,
    })
}

/// Runs, newest first, before the run `before`.
pub fn runs(conn: &Connection, before: Option<i64>, limit: usize) -> Result<Vec<RunRow>, Error> {
    let mut stmt = conn
        .prepare_cached(&format!("{RUNS} WHERE (?1 IS NULL OR r.id < ?1) GROUP BY r.id ORDER BY r.id DESC LIMIT ?2"))?;
    let rows = stmt.query_map(params![before, limit as i64], run_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Run `id` (`payout_runs.id`).
pub fn run(conn: &Connection, id: i64) -> Result<Option<RunRow>, Error> {
    Ok(conn.prepare_cached(&format!("{RUNS} WHERE r.id = ?1 GROUP BY r.id"))?.query_row([id], run_row).optional()?)
}
