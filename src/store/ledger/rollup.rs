//! The ledger's rollup (`ledger_balances`): per affiliate and currency, the four balances (the
//! sums of `Kind::effect` over the entries), the number of entries and the last of them (`seq`,
//! `hash`). The affiliate's chain head is their row with the highest `seq`. Records that move no
//! money (`tracking::ledger::Record`: the terms an affiliate accepted) have a row of their own
//! currency, `ledger::NO_CURRENCY`, whose balances stay 0, so they take part in the head.
//!
//! [`add`] is called by `ledger::append` for every entry, in its transaction, so the rollup is
//! never behind the entries; [`build`] makes it from the entries once, when a database from
//! before it is upgraded; [`mismatches`] recomputes everything from the entries another way (one
//! pass in row order) and says where the rollup differs: `affiliated check`, the migration and
//! the property tests use it.
//!
//! Must never: be written by anything but `append` and [`build`], or be trusted where the entries
//! are at hand (a statement carries the entries themselves).

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::ledger::{self, Balances, Kind};

/// The head of an affiliate's chain from the rollup: the last `seq` and its hash.
pub fn head(conn: &Connection, affiliate_id: i64) -> Result<Option<(i64, [u8; 32])>, Error> {
    // The affiliate's rows (one per currency) are few and adjacent in the primary key; picking
    // the highest here spares SQLite a sorter for `ORDER BY seq DESC` (measured: a fifth of
    // `append`'s instructions went to setting one up).
    let mut stmt = conn.prepare_cached("SELECT seq, hash FROM ledger_balances WHERE affiliate_id = ?1")?;
    let mut rows = stmt.query([affiliate_id])?;
    let mut head: Option<(i64, [u8; 32])> = None;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        if head.is_none_or(|(last, _)| seq > last) {
            let hash: Vec<u8> = r.get(1)?;
            head = Some((seq, super::to_hash(&hash)?));
        }
    }
    Ok(head)
}

/// Adds an entry of affiliate `affiliate_id`, just written as `seq` with `hash`, whose effect on
/// the balances is `b`, to the affiliate's row of its `currency` (an UPDATE, which finds the row
/// in one seek; the first entry of a currency inserts it). A record that moves no money has
/// the row of `ledger::NO_CURRENCY`, its balances all 0.
pub(super) fn add(
    conn: &Tx,
    affiliate_id: i64,
    currency: &str,
    b: Balances,
    seq: i64,
    hash: &[u8; 32],
) -> Result<(), Error> {
    let changed = conn
        .prepare_cached(
            "UPDATE ledger_balances SET pending = pending + ?3, available = available + ?4,
                 in_payouts = in_payouts + ?5, paid = paid + ?6, entries = entries + 1, seq = ?7, hash = ?8
             WHERE affiliate_id = ?1 AND currency = ?2",
        )?
        .execute(params![affiliate_id, currency, b.pending, b.available, b.in_payouts, b.paid, seq, &hash[..]])?;
    if changed == 0 {
        conn.prepare_cached(
            "INSERT INTO ledger_balances (affiliate_id, currency, pending, available, in_payouts, paid, entries, seq, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8)",
        )?
        .execute(params![affiliate_id, currency, b.pending, b.available, b.in_payouts, b.paid, seq, &hash[..]])?;
    }
    Ok(())
}

/// One row of the rollup, as stored or as recomputed from the entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Row {
    balances: Balances,
    entries: i64,
    seq: i64,
    hash: Vec<u8>,
}

type Rows = BTreeMap<(i64, String), Row>;

/// Makes the rollup from the entries (the migration that added it: the table is empty), then
/// checks it with [`mismatches`]; any difference fails the step.
pub fn build(conn: &Connection) -> Result<(), String> {
    // The migration's transaction (see `migrate::run`).
    let tx = Tx::within(conn);
    let conn: &Connection = &tx;
    let sql = |e: rusqlite::Error| format!("while building the ledger balances: {e}");
    // Per affiliate and currency: the sums per kind, the number of entries and the last seq.
    // (Records that move no money count as entries and add nothing.)
    type Sums = (Vec<(Kind, i64)>, i64, i64);
    let mut sums: BTreeMap<(i64, String), Sums> = BTreeMap::new();
    {
        let mut stmt = conn
            .prepare(
                "SELECT affiliate_id, currency, kind, sum(amount), count(*), max(seq) FROM ledger_entries
                 GROUP BY affiliate_id, currency, kind",
            )
            .map_err(sql)?;
        let mut rows = stmt.query([]).map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            let kind: String = r.get(2).map_err(sql)?;
            if !ledger::is_known_kind(&kind) {
                return Err(format!("a ledger entry has an unknown kind {kind:?}"));
            }
            let slot = sums.entry((r.get(0).map_err(sql)?, r.get(1).map_err(sql)?)).or_default();
            if let Some(kind) = Kind::parse(&kind) {
                slot.0.push((kind, r.get(3).map_err(sql)?));
            }
            slot.1 += r.get::<_, i64>(4).map_err(sql)?;
            slot.2 = slot.2.max(r.get(5).map_err(sql)?);
        }
    }
    let mut insert = conn
        .prepare(
            "INSERT INTO ledger_balances (affiliate_id, currency, pending, available, in_payouts, paid, entries, seq, hash)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, seq, hash FROM ledger_entries WHERE affiliate_id = ?1 AND seq = ?8",
        )
        .map_err(sql)?;
    for ((affiliate_id, currency), (kinds, entries, seq)) in sums {
        let b = ledger::balances(kinds);
        insert
            .execute(params![affiliate_id, currency, b.pending, b.available, b.in_payouts, b.paid, entries, seq])
            .map_err(sql)?;
    }
    let wrong = mismatches(conn).map_err(|e| format!("while checking the ledger balances: {e}"))?;
    if !wrong.is_empty() {
        return Err(format!("the ledger balances built from the entries do not add up: {}", wrong.join("; ")));
    }
    Ok(())
}

/// Where the rollup differs from the entries, recomputed in one pass over them: each line names
/// the affiliate (by id) and currency. Also a chain whose entries are not numbered 1, 2, 3, …
/// Empty when everything agrees. Reads the whole ledger: for checks, not for requests.
pub fn mismatches(conn: &Connection) -> Result<Vec<String>, Error> {
    let mut computed: Rows = BTreeMap::new();
    let mut chains: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    {
        let mut stmt =
            conn.prepare("SELECT affiliate_id, currency, kind, amount, seq, hash FROM ledger_entries ORDER BY id")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let affiliate_id: i64 = r.get(0)?;
            let kind: String = r.get(2)?;
            let seq: i64 = r.get(4)?;
            let row = computed.entry((affiliate_id, r.get(1)?)).or_default();
            match Kind::parse(&kind) {
                Some(kind) => row.balances.add(kind.effect(r.get(3)?)),
                None if ledger::is_known_kind(&kind) => {} // a record: moves no money
                None => return Err(Error::internal(format!("unknown ledger kind {kind:?}"))),
            }
            row.entries += 1;
            if seq > row.seq {
                row.seq = seq;
                row.hash = r.get(5)?;
            }
            let chain = chains.entry(affiliate_id).or_default();
            chain.0 += 1;
            chain.1 = chain.1.max(seq);
        }
    }
    let mut stored: Rows = BTreeMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT affiliate_id, currency, pending, available, in_payouts, paid, entries, seq, hash FROM ledger_balances",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let balances =
                Balances { pending: r.get(2)?, available: r.get(3)?, in_payouts: r.get(4)?, paid: r.get(5)? };
            let row = Row { balances, entries: r.get(6)?, seq: r.get(7)?, hash: r.get(8)? };
            stored.insert((r.get(0)?, r.get(1)?), row);
        }
    }
    let mut wrong = Vec::new();
    for (key, want) in &computed {
        match stored.get(key) {
            None => wrong.push(format!("affiliate {} {}: no balances row for {} entries", key.0, key.1, want.entries)),
            Some(have) if have != want => wrong.push(format!(
                "affiliate {} {}: balances row {} but the entries give {}",
                key.0,
                key.1,
                describe(have),
                describe(want)
            )),
            Some(_) => {}
        }
    }
    for key in stored.keys().filter(|k| !computed.contains_key(k)) {
        wrong.push(format!("affiliate {} {}: a balances row without entries", key.0, key.1));
    }
    for (affiliate_id, (count, last)) in chains {
        if count != last {
            wrong.push(format!("affiliate {affiliate_id}: {count} entries numbered up to {last}"));
        }
    }
    Ok(wrong)
}

fn describe(r: &Row) -> String {
    let b = r.balances;
    format!(
        "(pending {}, available {}, in payouts {}, paid {}; {} entries, last {} {})",
        b.pending,
        b.available,
        b.in_payouts,
        b.paid,
        r.entries,
        r.seq,
        ledger::hex(&r.hash)
    )
}

/// The number of affiliates and entries the rollup covers, for `affiliated check`'s report.
pub fn extent(conn: &Connection) -> Result<(i64, i64), Error> {
    Ok(conn.query_row(
        "SELECT count(DISTINCT affiliate_id), coalesce(sum(entries), 0) FROM ledger_balances",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}
