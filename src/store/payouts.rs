//! Payouts: runs that turn each affiliate's available balance into a payout, and the two ends
//! of a payout (paid, cancelled). Every change books its ledger entry in the same transaction.
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
use crate::tracking::payout::{self, Item, Payout, Status};

const SELECT: &str = "SELECT p.id, p.run, r.run_id, p.affiliate_id, a.referral_code, a.name, a.payout_email,
                             a.payout_details, p.currency, p.amount, p.status, p.reference, p.created_at, p.paid_at,
                             p.cancelled_at
                      FROM payouts p JOIN payout_runs r ON r.id = p.run JOIN affiliates a ON a.id = p.affiliate_id";

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

/// The entries a payout holds, in ledger order.
pub fn items(conn: &Connection, payout_id: i64) -> Result<Vec<Item>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT l.seq, l.kind, l.conversion_id, v.external_id, l.amount, l.at
         FROM payout_items i JOIN ledger_entries l ON l.id = i.entry_id
         LEFT JOIN conversions v ON v.id = l.conversion_id
         WHERE i.payout_id = ?1 ORDER BY l.seq",
    )?;
    let rows = stmt.query_map([payout_id], |r| {
        Ok(Item {
            seq: r.get(0)?,
            kind: r.get(1)?,
            conversion_id: r.get(2)?,
            external_id: r.get(3)?,
            amount: r.get(4)?,
            at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
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
         JOIN payouts p ON p.id = i.payout_id
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

/// The outcome of a run.
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

/// Makes a run: one payout for each of `candidates` whose available balance in the run's
/// currency is, now, at least the minimum and more than zero. Must run on the writer. With a
/// `run_id` seen before (same currency and minimum), nothing new is made and that run's
/// payouts are returned; with other parameters it is a 409 `run_id_conflict`.
pub fn create_run(conn: &Tx, run: &Run, candidates: &[i64], now: i64) -> Result<RunOutcome, Error> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO payout_runs (run_id, currency, minimum, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (run_id) DO NOTHING",
        )?
        .execute(params![run.run_id, run.currency.code(), run.minimum, now])?;
    if inserted == 0 {
        let (id, currency, minimum): (i64, String, i64) = conn
            .prepare_cached("SELECT id, currency, minimum FROM payout_runs WHERE run_id = ?1")?
            .query_row([&run.run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
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
        return Ok(RunOutcome::Repeated(list(conn, &Filter { run: Some(id), ..Filter::default() }, None, usize::MAX)?));
    }
    let run_row = conn.last_insert_rowid();
    let mut made = Vec::new();
    for &affiliate_id in candidates {
        if let Some(id) = pay_out(conn, run_row, affiliate_id, run, now)? {
            made.push(get(conn, id)?.ok_or_else(|| Error::internal("the payout just made is missing"))?);
        }
    }
    Ok(RunOutcome::Created(made))
}

/// One affiliate's payout in a run, if their open payable entries qualify.
fn pay_out(conn: &Tx, run_row: i64, affiliate_id: i64, run: &Run, now: i64) -> Result<Option<i64>, Error> {
    let open: Vec<(i64, i64)> = conn
        .prepare_cached(&format!(
            "SELECT l.id, l.amount FROM ledger_entries l
             WHERE l.affiliate_id = ?1 AND l.currency = ?2 AND l.kind IN {}
               AND NOT EXISTS (SELECT 1 FROM payout_items i WHERE i.entry_id = l.id AND i.live = 1)
             ORDER BY l.seq",
            ledger::payable_kinds_sql()
        ))?
        .query_map(params![affiliate_id, run.currency.code()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let amount: i64 = open.iter().map(|(_, a)| a).sum();
    if !payout::qualifies(amount, run.minimum) {
        return Ok(None);
    }
    conn.prepare_cached(
        "INSERT INTO payouts (run, affiliate_id, currency, amount, status, created_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
    )?
    .execute(params![run_row, affiliate_id, run.currency.code(), amount, now])?;
    let id = conn.last_insert_rowid();
    let mut hold = conn.prepare_cached("INSERT INTO payout_items (payout_id, entry_id) VALUES (?1, ?2)")?;
    for (entry, _) in &open {
        hold.execute(params![id, entry])?;
    }
    book(conn, affiliate_id, Kind::Payout, id, run.currency, amount, now)?;
    Ok(Some(id))
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
/// `payout.paid` merchant webhook does. Must run on the writer.
pub fn mark_paid(conn: &Tx, id: i64, reference: Option<&str>, now: i64) -> Result<Transition, Error> {
    let changed = conn
        .prepare_cached(
            "UPDATE payouts SET status = 'paid', reference = ?1, paid_at = ?2 WHERE id = ?3 AND status = 'pending'",
        )?
        .execute(params![reference, now, id])?;
    let transition = finish(conn, id, changed, Kind::Paid, now)?;
    if let Transition::Changed(paid) = &transition {
        let data = crate::shapes::payout(paid, &items(conn, paid.id)?);
        super::webhooks::enqueue(conn, crate::tracking::webhook::Event::PayoutPaid, &data, now)?;
    }
    Ok(transition)
}

/// Cancels a pending payout: its entries are free for the next run, and the ledger moves its
/// amount back to available. Must run on the writer.
pub fn cancel(conn: &Tx, id: i64, now: i64) -> Result<Transition, Error> {
    let changed = conn
        .prepare_cached(
            "UPDATE payouts SET status = 'cancelled', cancelled_at = ?1 WHERE id = ?2 AND status = 'pending'",
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

/// A payout run as the admin lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRow {
    pub id: i64,
    pub run_id: Option<String>,
    pub currency: Currency,
    pub minimum: i64,
    pub created_at: i64,
    pub payouts: i64,
    pub amount: i64,
}

/// Runs, newest first, before the run `before`.
pub fn runs(conn: &Connection, before: Option<i64>, limit: usize) -> Result<Vec<RunRow>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.run_id, r.currency, r.minimum, r.created_at, count(p.id),
                coalesce(sum(CASE WHEN p.status != 'cancelled' THEN p.amount END), 0)
         FROM payout_runs r LEFT JOIN payouts p ON p.run = r.id
         WHERE (?1 IS NULL OR r.id < ?1) GROUP BY r.id ORDER BY r.id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![before, limit as i64], |r| {
        let code: String = r.get(2)?;
        Ok(RunRow {
            id: r.get(0)?,
            run_id: r.get(1)?,
            currency: Currency::from_code(&code).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, "unknown currency".into())
            })?,
            minimum: r.get(3)?,
            created_at: r.get(4)?,
            payouts: r.get(5)?,
            amount: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
