//! The ledger's invariants over random histories (proptest): for every affiliate and currency,
//! available + in_payouts + paid = approved commission - claw-backs, exactly (counted from the
//! conversions, not the ledger), pending matches the pending conversions, payouts match their
//! entries, no entry is in two live payouts, test conversions stay out, and every chain verifies.
//! The balances read are the rollup (`ledger_balances`); it must equal the sums of the entries'
//! effects, its head the chain's last entry, and its `available` what a payout run would hold
//! (the payable entries no live payout holds); records that move no money (the terms an
//! affiliate accepted) may come anywhere in the chain.

use crate::store::writer::Tx;
use proptest::prelude::*;
use rusqlite::Connection;

use super::tests::{ANN, BOB, db, new_conversion, run};
use super::{balances, entries, head, payable_kinds_sql, rollup};
use crate::store::conversions;
use crate::store::payouts;
use crate::store::testing::record;
use crate::tracking::application::Terms;
use crate::tracking::conversion::{Source, Status};
use crate::tracking::ledger::{Balances, Kind, Record, verify_chain};
use crate::tracking::statement::Head;

/// One step of a random history.
#[derive(Clone, Debug)]
enum Op {
    Convert {
        affiliate: usize,
        euro: bool,
        cents: i64,
        pixel: bool,
        test: bool,
    },
    /// A server-side report of the order of an earlier conversion (a takeover if it was the pixel's).
    Report {
        pick: usize,
        affiliate: usize,
        cents: i64,
    },
    Approve(usize),
    Reject(usize),
    Refund {
        pick: usize,
        part: Option<u8>,
    },
    Run {
        euro: bool,
        minimum: i64,
    },
    Paid(usize),
    Cancel(usize),
    /// The affiliate accepts (new) terms: a `terms_accepted` record in their chain.
    Terms(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, any::<bool>(), 0..50_000i64, prop::bool::weighted(0.2), prop::bool::weighted(0.1))
            .prop_map(|(affiliate, euro, cents, pixel, test)| Op::Convert { affiliate, euro, cents, pixel, test }),
        1 => (any::<usize>(), 0..2usize, 0..50_000i64).prop_map(|(pick, affiliate, cents)| Op::Report { pick, affiliate, cents }),
        3 => any::<usize>().prop_map(Op::Approve),
        1 => any::<usize>().prop_map(Op::Reject),
        2 => (any::<usize>(), prop::option::of(1..100u8)).prop_map(|(pick, part)| Op::Refund { pick, part }),
        2 => (any::<bool>(), 0..3_000i64).prop_map(|(euro, minimum)| Op::Run { euro, minimum }),
        1 => any::<usize>().prop_map(Op::Paid),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => (0..2usize).prop_map(Op::Terms),
    ]
}

fn apply(conn: &Connection, op: &Op, now: i64) {
    let ids: Vec<(i64, String)> = conn
        .prepare("SELECT id, external_id FROM conversions ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let pick = |i: usize| (!ids.is_empty()).then(|| ids[i % ids.len()].clone());
    let payout_ids: Vec<i64> =
        payouts::list(conn, &payouts::Filter::default(), None, 10_000).unwrap().into_iter().map(|p| p.id).collect();
    let code = |a: usize| ["ann", "bob"][a];
    let amount = |cents: i64| format!("{}.{:02}", cents / 100, cents % 100);
    match *op {
        Op::Convert { affiliate, euro, cents, pixel, test } => {
            let source = if pixel { Source::Pixel } else { Source::Api };
            let mut new = new_conversion(
                &format!("o{now}"),
                code(affiliate),
                &amount(cents),
                if euro { "EUR" } else { "USD" },
                source,
            );
            new.test = test;
            record(conn, new, now);
        }
        Op::Report { pick: p, affiliate, cents } => {
            if let Some((_, external_id)) = pick(p) {
                record(conn, new_conversion(&external_id, code(affiliate), &amount(cents), "USD", Source::Api), now);
            }
        }
        Op::Approve(p) | Op::Reject(p) => {
            if let Some((id, _)) = pick(p) {
                let to = if matches!(op, Op::Approve(_)) { Status::Approved } else { Status::Rejected };
                conversions::decide(&Tx::within(conn), id, to, "t", None, now).unwrap();
            }
        }
        Op::Refund { pick: p, part } => {
            if let Some((id, _)) = pick(p) {
                let c = conversions::get(conn, id).unwrap().unwrap();
                let part = part.map(|pct| c.currency.format((c.remaining() * i64::from(pct) / 100).max(1)));
                let request = crate::tracking::conversion::RefundRequest {
                    amount: part.map_or(crate::tracking::conversion::RefundAmount::All, |a| {
                        crate::tracking::conversion::RefundAmount::Part(a)
                    }),
                    refund_id: Some(format!("r{now}")),
                };
                conversions::refund(&Tx::within(conn), id, &request, "t", now).unwrap();
            }
        }
        Op::Run { euro, minimum } => {
            run(conn, if euro { "EUR" } else { "USD" }, minimum, now);
        }
        Op::Paid(p) | Op::Cancel(p) => {
            if !payout_ids.is_empty() {
                let id = payout_ids[p % payout_ids.len()];
                if matches!(op, Op::Paid(_)) {
                    payouts::mark_paid(&Tx::within(conn), id, None, now).unwrap();
                } else {
                    payouts::cancel(&Tx::within(conn), id, now).unwrap();
                }
            }
        }
        Op::Terms(affiliate) => {
            let terms = Terms { url: format!("https://shop.example/terms-{now}"), accepted_at: now };
            crate::store::affiliates::accept_terms(&Tx::within(conn), [ANN, BOB][affiliate], &terms).unwrap();
        }
    }
}

/// The rollup against the entries: per currency the sums of the entries' effects (computed here
/// with SQL and `Kind::effect`, apart from the rollup's code), the head, and `available` against
/// the payable entries no live payout holds.
fn check_rollup(conn: &Connection, affiliate: i64) {
    let mut sums: Vec<(String, Balances)> = Vec::new();
    let mut stmt = conn
        .prepare(
            "SELECT currency, kind, sum(amount) FROM ledger_entries WHERE affiliate_id = ?1
             GROUP BY currency, kind ORDER BY currency",
        )
        .unwrap();
    let rows =
        stmt.query_map([affiliate], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))).unwrap();
    for row in rows {
        let (currency, kind, sum): (String, String, i64) = row.unwrap();
        if Record::parse(&kind).is_some() {
            continue; // moves no money: no balance, in no currency (its rollup row is the head's)
        }
        if sums.last().is_none_or(|(c, _)| *c != currency) {
            sums.push((currency.clone(), Balances::default()));
        }
        sums.last_mut().unwrap().1.add(Kind::parse(&kind).unwrap().effect(sum));
    }
    let rollup: Vec<(String, Balances)> =
        balances(conn, affiliate).unwrap().into_iter().map(|(c, b)| (c.code().to_string(), b)).collect();
    assert_eq!(rollup, sums, "affiliate {affiliate}: the rollup is the sum of the entries");
    let chain = entries(conn, affiliate).unwrap();
    let last = chain.last().map_or_else(|| Head::of(&[]), |e| Head { seq: e.seq, hash: e.hash.clone() });
    assert_eq!(head(conn, affiliate).unwrap(), last, "affiliate {affiliate}: the rollup's head is the chain's");
    for (currency, b) in &sums {
        let open: i64 = conn
            .query_row(
                &format!(
                    "SELECT coalesce(sum(amount), 0) FROM ledger_entries l
                     WHERE affiliate_id = ?1 AND currency = ?2 AND kind IN {}
                       AND NOT EXISTS (SELECT 1 FROM payout_items i WHERE i.entry_id = l.id AND i.live = 1)",
                    payable_kinds_sql()
                ),
                rusqlite::params![affiliate, currency],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(b.available, open, "affiliate {affiliate} {currency}: available is what a run would hold");
    }
}

/// The invariants, each from a source other than the ledger's own sums where one exists.
fn check(conn: &Connection) {
    assert_eq!(rollup::mismatches(conn).unwrap(), Vec::<String>::new());
    for affiliate in [ANN, BOB] {
        check_rollup(conn, affiliate);
        let chain = entries(conn, affiliate).unwrap();
        verify_chain(&chain).unwrap();
        for (currency, b) in balances(conn, affiliate).unwrap() {
            let sum = |sql: &str| -> i64 {
                conn.query_row(sql, rusqlite::params![affiliate, currency.code()], |r| r.get(0)).unwrap()
            };
            let approved = sum("SELECT coalesce(sum(commission), 0) FROM conversions
                 WHERE affiliate_id = ?1 AND currency = ?2 AND status = 'approved' AND test = 0");
            let pending = sum("SELECT coalesce(sum(commission), 0) FROM conversions
                 WHERE affiliate_id = ?1 AND currency = ?2 AND status = 'pending' AND test = 0");
            let in_payouts = sum(
                "SELECT coalesce(sum(amount), 0) FROM payouts WHERE affiliate_id = ?1 AND currency = ?2 AND status = 'pending'",
            );
            let paid = sum(
                "SELECT coalesce(sum(amount), 0) FROM payouts WHERE affiliate_id = ?1 AND currency = ?2 AND status = 'paid'",
            );
            assert_eq!(b.available + b.in_payouts + b.paid, approved, "{affiliate} {currency}: earned");
            assert_eq!((b.pending, b.in_payouts, b.paid), (pending, in_payouts, paid), "{affiliate} {currency}");
        }
    }
    let twice: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT i.entry_id FROM payout_items i JOIN payouts p ON p.id = i.payout_id
                                   WHERE p.status != 'cancelled' GROUP BY i.entry_id HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(twice, 0, "an entry is in two live payouts");
    let mismatched: i64 = conn
        .query_row(
            "SELECT count(*) FROM payouts p WHERE p.amount !=
                 (SELECT sum(l.amount) FROM payout_items i JOIN ledger_entries l ON l.id = i.entry_id WHERE i.payout_id = p.id)
             OR EXISTS (SELECT 1 FROM payout_items i WHERE i.payout_id = p.id AND i.live != (p.status != 'cancelled'))",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(mismatched, 0, "a payout's amount is the sum of the entries it holds");
    let test_entries: i64 = conn
        .query_row(
            "SELECT count(*) FROM ledger_entries l JOIN conversions v ON v.id = l.conversion_id WHERE v.test = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(test_entries, 0);
    let paid_records: i64 = conn
        .query_row(
            "SELECT count(*) FROM payout_items i JOIN ledger_entries l ON l.id = i.entry_id WHERE l.kind = 'terms_accepted'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(paid_records, 0, "a record that moves no money is never in a payout");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn balances_add_up_after_any_history(ops in prop::collection::vec(op(), 1..60)) {
        let conn = db();
        for (i, op) in ops.iter().enumerate() {
            apply(&conn, op, 1_000 + i as i64);
        }
        check(&conn);
    }
}
