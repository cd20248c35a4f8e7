//! The affiliate ledger: every change to what an affiliate is owed, one hash chain per
//! affiliate (`ledger_entries`). [`append`] is the only code that writes an entry: it reads the
//! affiliate's head, assigns the next `seq` and hashes the entry (rules and bytes in
//! `tracking::ledger`), all on the writer inside the caller's transaction, so chains are linear
//! however many requests change money at once; UNIQUE (affiliate_id, seq) would refuse a fork.
//! Entries are never updated or deleted (triggers refuse it). Test conversions never enter it.
//!
//! Balances are a rollup (`ledger_balances`, [`rollup`]): one row per affiliate and currency with
//! the four balances and the last entry, which [`append`] updates in the same statement sequence
//! as the entry, so reading a balance or a chain's head costs the same for an affiliate with
//! 100,000 entries as for one with 10. `affiliated check` and the property tests compare it with
//! the sums of the entries ([`rollup::mismatches`]).
//!
//! Callers: `conversions/insert.rs` (created, replaced), `conversions/change.rs` (approved,
//! rejected, refunded), `payouts.rs` (payout, paid, cancelled), `affiliates.rs` (the terms an
//! affiliate accepted: [`record_terms`]), and [`backfill`] once, when a database from before the
//! ledger is upgraded.
//!
//! Architecture Invariant: nothing but [`append`] and [`record_terms`] (and the migrations'
//! steps) writes `ledger_entries` or `ledger_balances`.

mod backfill;
pub mod rollup;

pub use backfill::backfill;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::application::Terms;
use crate::tracking::conversion::Conversion;
use crate::tracking::ledger::{self, Balances, Entry, GENESIS, Kind, Record};
use crate::tracking::money::Currency;
use crate::tracking::statement::Head;

/// What an entry is about.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    /// A conversion and its order ID (hashed with a salt into the entry). `first`: the
    /// conversion was created in this transaction, so no earlier entry carries its order hash and
    /// none is looked up.
    Conversion {
        id: i64,
        order_id: &'a str,
        first: bool,
    },
    Payout(i64),
}

/// An entry to append.
#[derive(Clone, Copy, Debug)]
pub struct NewEntry<'a> {
    pub affiliate_id: i64,
    pub kind: Kind,
    pub subject: Subject<'a>,
    pub currency: Currency,
    /// Signed minor units of `currency` (see `Kind::sign`).
    pub amount: i64,
}

/// Appends an entry to its affiliate's chain and keeps the rollup ([`rollup`]) in step; returns
/// the entry's row id. The one function that writes the ledger (with [`record_terms`], which
/// shares its chaining). Must run on the writer (or in a migration), inside a transaction.
pub fn append(conn: &Tx, e: &NewEntry<'_>, at: i64) -> Result<i64, Error> {
    let draft = draft(conn, e)?;
    let head = rollup::head(conn, e.affiliate_id)?;
    let (id, seq, hash) = write(conn, &draft, at, head)?;
    rollup::add(conn, e.affiliate_id, e.currency.code(), e.kind.effect(e.amount), seq, &hash)?;
    Ok(id)
}

/// Appends the `terms_accepted` record of `terms` to affiliate `affiliate_id`'s chain, dated
/// when they were accepted: no money, the URL's hash in `order_hash` (`tracking::ledger::Record`).
/// The rollup keeps it in a row of its own currency ([`ledger::NO_CURRENCY`], balances all 0),
/// so the chain's head stays the rollup's highest `seq`. Must run on the writer, in the
/// transaction that gives the affiliate those terms.
pub fn record_terms(conn: &Tx, affiliate_id: i64, terms: &Terms) -> Result<i64, Error> {
    let draft = Draft {
        affiliate_id,
        kind: Record::TermsAccepted.as_str(),
        conversion_id: None,
        payout_id: None,
        currency: ledger::NO_CURRENCY,
        amount: 0,
        amount_text: "0".to_string(),
        order_hash: Some(ledger::terms_hash(&terms.url)),
        terms_url: Some(&terms.url),
    };
    let head = rollup::head(conn, affiliate_id)?;
    let (id, seq, hash) = write(conn, &draft, terms.accepted_at, head)?;
    rollup::add(conn, affiliate_id, ledger::NO_CURRENCY, Balances::default(), seq, &hash)?;
    Ok(id)
}

/// [`append`] as the schema of version 8 had it: the head read from the entries themselves and no
/// rollup, which did not exist yet. Only for [`backfill`], the step that wrote the first chains;
/// the migration that brought the rollup builds it from what that step wrote.
fn append_before_rollup(conn: &Tx, e: &NewEntry<'_>, at: i64) -> Result<i64, Error> {
    let head: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT seq, hash FROM ledger_entries WHERE affiliate_id = ?1 ORDER BY seq DESC LIMIT 1")?
        .query_row([e.affiliate_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let head = head.map(|(seq, hash)| to_hash(&hash).map(|h| (seq, h))).transpose()?;
    write(conn, &draft(conn, e)?, at, head).map(|(id, _, _)| id)
}

/// An entry's fields before its place in the chain is known.
struct Draft<'a> {
    affiliate_id: i64,
    kind: &'static str,
    conversion_id: Option<i64>,
    payout_id: Option<i64>,
    currency: &'a str,
    amount: i64,
    amount_text: String,
    order_hash: Option<[u8; 32]>,
    terms_url: Option<&'a str>,
}

/// The fields of entry `e`, once it is checked to be possible.
fn draft<'a>(conn: &Tx, e: &NewEntry<'a>) -> Result<Draft<'static>, Error> {
    let (conversion_id, payout_id) = match e.subject {
        Subject::Conversion { id, .. } => (Some(id), None),
        Subject::Payout(id) => (None, Some(id)),
    };
    if !e.kind.allows(e.amount) || e.kind.is_payout() != payout_id.is_some() {
        return Err(Error::internal(format!(
            "ledger entry {:?} of {} on {:?} is not possible",
            e.kind, e.amount, e.subject
        )));
    }
    let order_hash = match e.subject {
        Subject::Conversion { id, order_id, first } => Some(order_hash(conn, id, order_id, first)?),
        Subject::Payout(_) => None,
    };
    Ok(Draft {
        affiliate_id: e.affiliate_id,
        kind: e.kind.as_str(),
        conversion_id,
        payout_id,
        currency: e.currency.code(),
        amount: e.amount,
        amount_text: e.currency.format(e.amount),
        order_hash,
        terms_url: None,
    })
}

/// Writes `draft` after `head` (the chain's last `seq` and hash; `None` for a first entry):
/// returns its row id, `seq` and hash.
fn write(conn: &Tx, draft: &Draft<'_>, at: i64, head: Option<(i64, [u8; 32])>) -> Result<(i64, i64, [u8; 32]), Error> {
    let (seq, prev) = match head {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS),
    };
    let mut text = Entry {
        seq,
        kind: draft.kind.to_string(),
        conversion_id: draft.conversion_id,
        payout_id: draft.payout_id,
        currency: draft.currency.to_string(),
        amount: draft.amount_text.clone(),
        at: crate::clock::rfc3339(at),
        order_hash: draft.order_hash.map(|h| ledger::hex(&h)),
        prev_hash: ledger::hex(&prev),
        hash: String::new(),
        terms_url: draft.terms_url.map(String::from),
    };
    let hash = ledger::chain_hash(&prev, &text);
    text.hash = ledger::hex(&hash);
    // Entries about money name the columns every version of the table has: the migration that
    // made the ledger writes them (`backfill`) before `terms_url` existed.
    let sql = if draft.terms_url.is_some() {
        "INSERT INTO ledger_entries (affiliate_id, seq, kind, conversion_id, payout_id, currency, amount, at,
                                     order_hash, prev_hash, hash, terms_url)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    } else {
        "INSERT INTO ledger_entries (affiliate_id, seq, kind, conversion_id, payout_id, currency, amount, at,
                                     order_hash, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    };
    let order_hash = draft.order_hash.as_ref().map(|h| &h[..]);
    let (prev, hash_bytes) = (&prev[..], &hash[..]);
    let mut fields: Vec<&dyn rusqlite::ToSql> = vec![
        &draft.affiliate_id,
        &seq,
        &draft.kind,
        &draft.conversion_id,
        &draft.payout_id,
        &draft.currency,
        &draft.amount,
        &at,
        &order_hash,
        &prev,
        &hash_bytes,
    ];
    if let Some(url) = &draft.terms_url {
        fields.push(url);
    }
    conn.prepare_cached(sql)?.execute(fields.as_slice())?;
    Ok((conn.last_insert_rowid(), seq, hash))
}

/// Books a change of conversion `c` (as it is after the change, or for a loss, as it was) for
/// its affiliate. Test conversions never enter the ledger.
pub fn conversion(conn: &Tx, c: &Conversion, kind: Kind, amount: i64, at: i64) -> Result<(), Error> {
    book(conn, c, kind, amount, at, false)
}

/// The `created` entry of conversion `c`, inserted by this very transaction (its id is new:
/// conversions' ids are AUTOINCREMENT, never handed out twice): its first entry, so its order
/// hash is made without looking for an earlier one.
pub fn created(conn: &Tx, c: &Conversion, at: i64) -> Result<(), Error> {
    book(conn, c, Kind::Created, c.commission, at, true)
}

fn book(conn: &Tx, c: &Conversion, kind: Kind, amount: i64, at: i64, first: bool) -> Result<(), Error> {
    if c.test {
        return Ok(());
    }
    let subject = Subject::Conversion { id: c.id, order_id: &c.external_id, first };
    append(conn, &NewEntry { affiliate_id: c.affiliate_id, kind, subject, currency: c.currency, amount }, at)?;
    Ok(())
}

fn to_hash(bytes: &[u8]) -> Result<[u8; 32], Error> {
    <[u8; 32]>::try_from(bytes).map_err(|_| Error::internal("a stored ledger hash is not 32 bytes"))
}

/// The salted hash of a conversion's order ID: the one its earlier entries carry (unless it is
/// the `first`), else a new salt is drawn and kept (with the readable ID) in `ledger_orders`.
/// Reusing the chain's own value means an erased salt never changes what later entries of the
/// same order show.
fn order_hash(conn: &Tx, conversion_id: i64, order_id: &str, first: bool) -> Result<[u8; 32], Error> {
    if !first && let Some(hash) = earlier_order_hash(conn, conversion_id)? {
        return to_hash(&hash);
    }
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    conn.prepare_cached(
        "INSERT INTO ledger_orders (conversion_id, salt, order_id) VALUES (?1, ?2, ?3)
         ON CONFLICT (conversion_id) DO UPDATE SET salt = excluded.salt, order_id = excluded.order_id",
    )?
    .execute(params![conversion_id, &salt[..], order_id])?;
    Ok(ledger::order_hash(&salt, order_id))
}

/// The order hash an earlier entry of conversion `conversion_id` carries.
fn earlier_order_hash(conn: &Connection, conversion_id: i64) -> Result<Option<Vec<u8>>, Error> {
    Ok(conn.prepare_cached(EARLIER_ORDER_HASH)?.query_row([conversion_id], |r| r.get(0)).optional()?)
}

const EARLIER_ORDER_HASH: &str = "SELECT order_hash FROM ledger_entries WHERE conversion_id = ?1 LIMIT 1";

/// The salt and readable order ID behind a conversion's order hash, unless erased.
pub fn order_secret(conn: &Connection, conversion_id: i64) -> Result<Option<(Vec<u8>, String)>, Error> {
    Ok(conn
        .prepare_cached("SELECT salt, order_id FROM ledger_orders WHERE conversion_id = ?1")?
        .query_row([conversion_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// The last entry of an affiliate's chain (from the rollup).
pub fn head(conn: &Connection, affiliate_id: i64) -> Result<Head, Error> {
    Ok(match rollup::head(conn, affiliate_id)? {
        Some((seq, hash)) => Head { seq, hash: ledger::hex(&hash) },
        None => Head::of(&[]),
    })
}

/// An affiliate's whole chain, in order, as statements show it.
pub fn entries(conn: &Connection, affiliate_id: i64) -> Result<Vec<Entry>, Error> {
    entries_from(conn, affiliate_id, 1, usize::MAX)
}

/// At most `limit` entries of an affiliate's chain from `from_seq` on, in order: a page of a
/// statement, read by the `(affiliate_id, seq)` index whatever the chain's length.
pub fn entries_from(conn: &Connection, affiliate_id: i64, from_seq: i64, limit: usize) -> Result<Vec<Entry>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind, conversion_id, payout_id, currency, amount, at, order_hash, prev_hash, hash, terms_url
         FROM ledger_entries WHERE affiliate_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![affiliate_id, from_seq, limit], |r| {
        let currency: String = r.get(4)?;
        let amount: i64 = r.get(5)?;
        let amount = Currency::from_code(&currency).map_or_else(|| amount.to_string(), |c| c.format(amount));
        Ok(Entry {
            seq: r.get(0)?,
            kind: r.get(1)?,
            conversion_id: r.get(2)?,
            payout_id: r.get(3)?,
            currency,
            amount,
            at: crate::clock::rfc3339(r.get(6)?),
            order_hash: r.get::<_, Option<Vec<u8>>>(7)?.map(|h| ledger::hex(&h)),
            prev_hash: ledger::hex(&r.get::<_, Vec<u8>>(8)?),
            hash: ledger::hex(&r.get::<_, Vec<u8>>(9)?),
            terms_url: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An affiliate's balances per currency (currencies in code order), from the rollup: one row
/// per currency, whatever the number of entries.
pub fn balances(conn: &Connection, affiliate_id: i64) -> Result<Vec<(Currency, Balances)>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT currency, pending, available, in_payouts, paid FROM ledger_balances WHERE affiliate_id = ?1
         ORDER BY currency",
    )?;
    let rows = stmt.query_map([affiliate_id], |r| {
        let b = Balances { pending: r.get(1)?, available: r.get(2)?, in_payouts: r.get(3)?, paid: r.get(4)? };
        Ok((r.get::<_, String>(0)?, b))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (code, b) = row?;
        if code == ledger::NO_CURRENCY {
            continue; // the row of the records that move no money (their share of the chain's head)
        }
        let currency = Currency::from_code(&code).ok_or_else(|| Error::internal("unknown currency in the ledger"))?;
        out.push((currency, b));
    }
    Ok(out)
}

/// The SQL list of the kinds a payout is made of, built from `Kind::payable` (fixed text).
pub fn payable_kinds_sql() -> String {
    let names: Vec<String> = Kind::payable().map(|k| format!("'{}'", k.as_str())).collect();
    format!("({})", names.join(", "))
}

#[cfg(test)]
mod invariants;
#[cfg(test)]
mod tests;
