//! The ledger against the store: chains stay linear and verifiable, balances follow every change
//! of a conversion and every payout, payouts hold entries once, and the backfill rebuilds what the
//! live code writes. (The invariants over random histories are in `invariants.rs`.)

use rusqlite::Connection;

use super::*;
use crate::store::conversions::{self, Stored};
use crate::store::payout_runs;
use crate::store::payouts::{self, Run, RunOutcome, Transition};
use crate::store::testing::{convert, record, refund};
use crate::tracking::conversion::{NewConversion, Source, Status};
use crate::tracking::ledger::verify_chain;
use crate::tracking::payout;

pub(super) const ANN: i64 = 1;
pub(super) const BOB: i64 = 2;

pub(super) fn db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    crate::store::migrate::run(&conn).unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
    conn.execute_batch("INSERT INTO affiliates (referral_code, name, created_at) VALUES ('bob', 'Bob', 1)").unwrap();
    conn
}

fn usd() -> Currency {
    Currency::from_code("USD").unwrap()
}

fn balance(conn: &Connection, affiliate: i64, currency: &str) -> Balances {
    balances(conn, affiliate)
        .unwrap()
        .into_iter()
        .find(|(c, _)| c.code() == currency)
        .map(|(_, b)| b)
        .unwrap_or_default()
}

fn kinds(conn: &Connection, affiliate: i64) -> Vec<(String, String)> {
    entries(conn, affiliate).unwrap().into_iter().map(|e| (e.kind, e.amount)).collect()
}

pub(super) fn new_conversion(
    external_id: &str,
    code: &str,
    amount: &str,
    currency: &str,
    source: Source,
) -> NewConversion {
    crate::store::testing::sale(external_id, code, amount, currency, source)
}

pub(super) fn run(conn: &Connection, currency: &str, minimum: i64, now: i64) -> Vec<crate::tracking::payout::Payout> {
    let currency = Currency::from_code(currency).unwrap();
    match payout_runs::at_once(&Tx::within(conn), &Run { currency, minimum, run_id: None }, now).unwrap() {
        RunOutcome::Created(made) => made,
        RunOutcome::Repeated(_) => panic!("no run_id was given"),
    }
}

#[test]
fn every_change_of_a_conversion_is_one_entry_in_its_affiliates_chain() {
    let conn = db();
    let a = convert(&conn, "o1", "ann", "100.00", "USD", 10);
    conversions::decide(&Tx::within(&conn), a, Status::Approved, "t", None, 20).unwrap();
    refund(&conn, a, Some("25.00"), 30);
    let b = convert(&conn, "o2", "ann", "40.00", "USD", 40);
    refund(&conn, b, Some("10.00"), 50);
    conversions::decide(&Tx::within(&conn), b, Status::Rejected, "t", None, 60).unwrap();
    assert_eq!(
        kinds(&conn, ANN),
        [
            ("created", "10.00"),
            ("approved", "10.00"),
            ("clawed_back", "-2.50"),
            ("created", "4.00"),
            ("refunded", "-1.00"),
            ("rejected", "-3.00")
        ]
        .map(|(k, a)| (k.to_string(), a.to_string()))
    );
    assert_eq!(balance(&conn, ANN, "USD"), Balances { pending: 0, available: 750, in_payouts: 0, paid: 0 });
    let chain = entries(&conn, ANN).unwrap();
    assert_eq!(chain.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    assert_eq!(verify_chain(&chain).map(|h| ledger::hex(&h)), Ok(head(&conn, ANN).unwrap().hash));
    // Every entry about one order carries the same salted hash, and not the order ID.
    assert_eq!(chain[0].order_hash, chain[2].order_hash);
    assert_ne!(chain[0].order_hash, chain[3].order_hash);
    let (salt, order) = order_secret(&conn, a).unwrap().unwrap();
    assert_eq!(order, "o1");
    assert_eq!(chain[0].order_hash.as_deref(), Some(ledger::hex(&ledger::order_hash(&salt, "o1")).as_str()));
    assert_eq!(head(&conn, BOB).unwrap(), Head::of(&[]));
}

/// A conversion's first entry, booked by the transaction that created it, makes its order hash
/// without looking for an earlier entry (there is none); its later entries look it up and reuse it.
#[test]
fn a_new_conversions_first_entry_looks_up_no_order_hash() {
    let conn = db();
    let lookups =
        |conn: &Connection| conn.prepare_cached(EARLIER_ORDER_HASH).unwrap().get_status(rusqlite::StatementStatus::Run);
    let a = convert(&conn, "o1", "ann", "100.00", "USD", 10);
    assert_eq!(lookups(&conn), 0, "the created entry");
    conversions::decide(&Tx::within(&conn), a, Status::Approved, "t", None, 20).unwrap();
    assert_eq!(lookups(&conn), 1, "the approval");
    let chain = entries(&conn, ANN).unwrap();
    assert_eq!(chain[1].order_hash, chain[0].order_hash);
    assert!(chain[0].order_hash.is_some());
}

#[test]
fn entries_are_never_updated_or_deleted() {
    let conn = db();
    convert(&conn, "o1", "ann", "10.00", "USD", 10);
    let update = conn.execute("UPDATE ledger_entries SET amount = 1", []).unwrap_err();
    assert!(update.to_string().contains("append-only"), "{update}");
    let delete = conn.execute("DELETE FROM ledger_entries", []).unwrap_err();
    assert!(delete.to_string().contains("append-only"), "{delete}");
    let fork = conn
        .execute(
            "INSERT INTO ledger_entries (affiliate_id, seq, kind, conversion_id, currency, amount, at, prev_hash, hash)
             VALUES (1, 1, 'created', 1, 'USD', 5, 1, x'00', x'00')",
            [],
        )
        .unwrap_err();
    assert!(crate::store::is_unique_violation(&fork), "{fork}");
}

#[test]
fn test_conversions_never_enter_the_ledger() {
    let conn = db();
    let mut new = new_conversion("t1", "ann", "100.00", "USD", Source::Api);
    new.test = true;
    let Stored::Created(c) = record(&conn, new, 10) else { panic!() };
    conversions::decide(&Tx::within(&conn), c.id, Status::Approved, "t", None, 20).unwrap();
    refund(&conn, c.id, None, 30);
    assert!(entries(&conn, ANN).unwrap().is_empty());
    assert!(order_secret(&conn, c.id).unwrap().is_none());
}

#[test]
fn a_server_side_report_takes_the_pixels_commission_from_its_affiliate() {
    let conn = db();
    let Stored::Created(pixel) = record(&conn, new_conversion("o1", "ann", "50.00", "USD", Source::Pixel), 10) else {
        panic!()
    };
    conversions::decide(&Tx::within(&conn), pixel.id, Status::Approved, "t", None, 20).unwrap();
    let Stored::Replaced { .. } = record(&conn, new_conversion("o1", "bob", "80.00", "USD", Source::Api), 30) else {
        panic!()
    };
    assert_eq!(
        kinds(&conn, ANN),
        [("created", "5.00"), ("approved", "5.00"), ("replaced_approved", "-5.00")]
            .map(|(k, a)| (k.to_string(), a.to_string()))
    );
    assert_eq!(kinds(&conn, BOB), [("created".to_string(), "8.00".to_string())]);
    assert_eq!(balance(&conn, ANN, "USD"), Balances::default());
    assert_eq!(balance(&conn, BOB, "USD").pending, 800);
}

#[test]
fn payouts_hold_their_entries_once_and_refunds_after_them_carry_over() {
    let conn = db();
    let a = convert(&conn, "o1", "ann", "600.00", "USD", 10);
    let b = convert(&conn, "o2", "bob", "100.00", "USD", 10);
    for id in [a, b] {
        conversions::decide(&Tx::within(&conn), id, Status::Approved, "t", None, 20).unwrap();
    }
    assert!(run(&conn, "USD", 5000, 30).iter().all(|p| p.referral_code == "ann"));
    assert!(run(&conn, "USD", 5000, 31).is_empty(), "a second run finds nothing new for ann, bob is below");
    let ann = payouts::list(&conn, &payouts::Filter::default(), None, 10).unwrap().remove(0);
    assert_eq!((ann.amount, ann.status), (6000, payout::Status::Pending));
    assert_eq!(payouts::items(&conn, ann.id).unwrap().len(), 1);
    assert_eq!(balance(&conn, ANN, "USD"), Balances { pending: 0, available: 0, in_payouts: 6000, paid: 0 });
    let Transition::Changed(paid) = payouts::mark_paid(&Tx::within(&conn), ann.id, Some("tx-1"), 40).unwrap() else {
        panic!()
    };
    assert_eq!((paid.status, paid.reference.as_deref()), (payout::Status::Paid, Some("tx-1")));
    assert!(matches!(payouts::cancel(&Tx::within(&conn), ann.id, 41).unwrap(), Transition::Refused(_)));
    assert!(matches!(payouts::mark_paid(&Tx::within(&conn), 999, None, 41).unwrap(), Transition::NotFound));
    // A refund after the payout was paid: a claw-back carried into the next balance, below zero.
    refund(&conn, a, Some("300.00"), 50);
    assert_eq!(balance(&conn, ANN, "USD"), Balances { pending: 0, available: -3000, in_payouts: 0, paid: 6000 });
    assert!(run(&conn, "USD", 0, 51).iter().all(|p| p.referral_code != "ann"), "no payout while negative");
    let c = convert(&conn, "o3", "ann", "500.00", "USD", 60);
    conversions::decide(&Tx::within(&conn), c, Status::Approved, "t", None, 61).unwrap();
    let next: Vec<_> = run(&conn, "USD", 0, 62).into_iter().filter(|p| p.referral_code == "ann").collect();
    assert_eq!(next[0].amount, 2000, "the new 50.00 minus the 30.00 clawed back");
    assert_eq!(payouts::items(&conn, next[0].id).unwrap().len(), 2);
    // Cancelling frees the entries: the next run holds them again.
    payouts::cancel(&Tx::within(&conn), next[0].id, 63).unwrap();
    assert_eq!(balance(&conn, ANN, "USD").available, 2000);
    let again: Vec<_> = run(&conn, "USD", 0, 64).into_iter().filter(|p| p.referral_code == "ann").collect();
    assert_eq!((again[0].amount, payouts::items(&conn, again[0].id).unwrap().len()), (2000, 2));
    let doubled = conn.execute(
        "INSERT INTO payout_items (payout_id, entry_id) SELECT ?1, entry_id FROM payout_items WHERE payout_id = ?2",
        [ann.id, again[0].id],
    );
    assert!(crate::store::is_unique_violation(&doubled.unwrap_err()), "an entry in two live payouts is refused");
    assert!(verify_chain(&entries(&conn, ANN).unwrap()).is_ok());
}

#[test]
fn a_run_id_makes_a_run_once() {
    let conn = db();
    let a = convert(&conn, "o1", "ann", "600.00", "USD", 10);
    conversions::decide(&Tx::within(&conn), a, Status::Approved, "t", None, 20).unwrap();
    let request = Run { currency: usd(), minimum: 100, run_id: Some("2026-11".into()) };
    let RunOutcome::Created(first) = payout_runs::at_once(&Tx::within(&conn), &request, 30).unwrap() else { panic!() };
    let RunOutcome::Repeated(again) = payout_runs::at_once(&Tx::within(&conn), &request, 31).unwrap() else { panic!() };
    assert_eq!(first, again);
    let other = Run { minimum: 200, ..request };
    assert_eq!(payout_runs::at_once(&Tx::within(&conn), &other, 32).unwrap_err().code, "run_id_conflict");
}

/// The backfill of an upgraded database writes exactly what the live code writes: run a history
/// (with a pixel order taken over), then take the ledger away as a database from before it would
/// lack it, rebuild it from the conversion events, and compare.
#[test]
fn the_backfill_rebuilds_what_the_live_code_wrote() {
    let conn = db();
    let a = convert(&conn, "o1", "ann", "100.00", "USD", 10);
    conversions::decide(&Tx::within(&conn), a, Status::Approved, "t", None, 20).unwrap();
    refund(&conn, a, Some("25.00"), 30);
    let b = convert(&conn, "o2", "bob", "40.00", "EUR", 40);
    refund(&conn, b, Some("10.00"), 50);
    let Stored::Created(pixel) = record(&conn, new_conversion("o3", "ann", "50.00", "USD", Source::Pixel), 60) else {
        panic!()
    };
    conversions::decide(&Tx::within(&conn), pixel.id, Status::Approved, "t", None, 70).unwrap();
    record(&conn, new_conversion("o3", "bob", "80.00", "EUR", Source::Api), 80);
    let c = convert(&conn, "o4", "ann", "10.00", "USD", 90);
    conversions::decide(&Tx::within(&conn), c, Status::Rejected, "t", None, 95).unwrap();
    let strip = |e: Entry| (e.seq, e.kind, e.conversion_id, e.currency, e.amount, e.at);
    let before: Vec<Vec<_>> = [ANN, BOB].map(|id| entries(&conn, id).unwrap().into_iter().map(strip).collect()).into();
    conn.execute_batch(&format!(
        "DROP TRIGGER ledger_entries_are_never_deleted;
         CREATE TABLE commission_ledger (id INTEGER PRIMARY KEY, conversion_id INTEGER, affiliate_id INTEGER,
                                         at INTEGER, kind TEXT, amount INTEGER, currency TEXT);
         INSERT INTO commission_ledger (conversion_id, affiliate_id, at, kind, amount, currency)
             SELECT conversion_id, affiliate_id, at, 'x', amount, currency FROM ledger_entries
             WHERE kind IN {} AND amount != 0;
         DELETE FROM ledger_entries; DELETE FROM ledger_orders;",
        payable_kinds_sql()
    ))
    .unwrap();
    backfill(&conn).unwrap();
    let after: Vec<Vec<_>> = [ANN, BOB].map(|id| entries(&conn, id).unwrap().into_iter().map(strip).collect()).into();
    assert_eq!(after, before);
    assert!(verify_chain(&entries(&conn, BOB).unwrap()).is_ok());
    let gone: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'commission_ledger'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(gone, 0);
}

#[test]
fn a_backfill_that_disagrees_with_the_old_ledger_fails() {
    let conn = db();
    let a = convert(&conn, "o1", "ann", "100.00", "USD", 10);
    conversions::decide(&Tx::within(&conn), a, Status::Approved, "t", None, 20).unwrap();
    conn.execute_batch(
        "DROP TRIGGER ledger_entries_are_never_deleted; DELETE FROM ledger_entries;
         CREATE TABLE commission_ledger (id INTEGER PRIMARY KEY, conversion_id INTEGER, affiliate_id INTEGER,
                                         at INTEGER, kind TEXT, amount INTEGER, currency TEXT);
         INSERT INTO commission_ledger (conversion_id, affiliate_id, at, kind, amount, currency)
             VALUES (1, 1, 20, 'approval', 999, 'USD');",
    )
    .unwrap();
    assert!(backfill(&conn).unwrap_err().contains("differs from the old commission_ledger"));
}

#[test]
fn erasing_a_customer_unlinks_their_orders_without_touching_the_chain() {
    let conn = db();
    let mut new = new_conversion("o-private", "ann", "10.00", "USD", Source::Api);
    new.keys.customer_id = Some("cust-1".into());
    let Stored::Created(c) = record(&conn, new, 10) else { panic!() };
    conversions::decide(&Tx::within(&conn), c.id, Status::Approved, "t", None, 20).unwrap();
    let before = entries(&conn, ANN).unwrap();
    assert!(order_secret(&conn, c.id).unwrap().is_some());
    assert!(crate::store::retention::erase_customer(&Tx::within(&conn), "cust-1", 30).unwrap());
    assert_eq!(order_secret(&conn, c.id).unwrap(), None);
    assert_eq!(entries(&conn, ANN).unwrap(), before);
    // A later change of the same order keeps the hash the chain already has.
    refund(&conn, c.id, None, 40);
    let after = entries(&conn, ANN).unwrap();
    assert_eq!(after[2].order_hash, before[0].order_hash);
    assert_eq!(order_secret(&conn, c.id).unwrap(), None, "the salt is not made again");
    assert!(verify_chain(&after).is_ok());
}

/// A history in two currencies with a payout run, paid and cancelled payouts and claw-backs.
fn history(conn: &Connection) {
    let a = convert(conn, "o1", "ann", "600.00", "USD", 10);
    let b = convert(conn, "o2", "bob", "100.00", "EUR", 11);
    let c = convert(conn, "o3", "ann", "50.00", "EUR", 12);
    for id in [a, b, c] {
        conversions::decide(&Tx::within(conn), id, Status::Approved, "t", None, 20).unwrap();
    }
    let made = run(conn, "USD", 0, 30);
    payouts::mark_paid(&Tx::within(conn), made[0].id, None, 31).unwrap();
    refund(conn, a, Some("100.00"), 40);
    let euros = run(conn, "EUR", 0, 50);
    payouts::cancel(&Tx::within(conn), euros[0].id, 51).unwrap();
    convert(conn, "o4", "bob", "10.00", "USD", 60);
}

#[test]
fn the_rollup_follows_every_entry_and_a_difference_is_reported() {
    let conn = db();
    history(&conn);
    assert_eq!(rollup::mismatches(&conn).unwrap(), Vec::<String>::new());
    assert_eq!(rollup::extent(&conn).unwrap(), (2, 13));
    assert_eq!(balance(&conn, ANN, "USD"), Balances { pending: 0, available: -1000, in_payouts: 0, paid: 6000 });
    assert_eq!(balance(&conn, BOB, "EUR"), Balances { pending: 0, available: 0, in_payouts: 1000, paid: 0 });
    let chain = entries(&conn, BOB).unwrap();
    assert_eq!(head(&conn, BOB).unwrap(), Head { seq: chain.len() as i64, hash: chain.last().unwrap().hash.clone() });
    // Whatever changes the rollup behind append's back is found, naming the row.
    conn.execute(
        "UPDATE ledger_balances SET available = available + 1 WHERE affiliate_id = ?1 AND currency = 'EUR'",
        [BOB],
    )
    .unwrap();
    let wrong = rollup::mismatches(&conn).unwrap();
    assert_eq!(wrong.len(), 1, "{wrong:?}");
    assert!(wrong[0].starts_with(&format!("affiliate {BOB} EUR: balances row (pending 0, available 1,")), "{wrong:?}");
    conn.execute("UPDATE ledger_balances SET available = available - 1, seq = 1 WHERE affiliate_id = ?1", [BOB])
        .unwrap();
    assert!(rollup::mismatches(&conn).unwrap().iter().all(|w| w.contains(&format!("affiliate {BOB}"))));
    let delete = conn.execute("DELETE FROM ledger_balances", []).unwrap_err();
    assert!(delete.to_string().contains("append-only"), "{delete}");
}

/// Takes a database back to the schema version before the rollup's migration (0013), which it
/// returns: what the later migrations added undone, 0014 (e-mail,
/// `store::emails::UNDO_MIGRATION`), 0015 (deep links: `offers.allowed_hosts`), 0016
/// (applications, `store::applications::UNDO_MIGRATION`; the ledger's `terms_url` column goes
/// with 0013's rebuild of the table) and 0017 (payout runs in steps), and the rollup dropped.
/// 0018 (value lists checked by comparisons) rebuilds its tables as they are and needs no undoing.
fn before_rollup(conn: &Connection) -> i64 {
    let undo = [crate::store::applications::UNDO_MIGRATION, crate::store::emails::UNDO_MIGRATION].concat();
    conn.execute_batch(&format!(
        "{undo} ALTER TABLE offers DROP COLUMN allowed_hosts;
         DROP INDEX payouts_one_per_affiliate_in_a_run;
         ALTER TABLE payouts DROP COLUMN building; ALTER TABLE payouts DROP COLUMN held;
         ALTER TABLE payout_runs DROP COLUMN status; ALTER TABLE payout_runs DROP COLUMN completed_at;
         DROP TABLE ledger_balances;"
    ))
    .unwrap();
    let version = crate::store::migrate::CURRENT - 6;
    conn.pragma_update(None, "user_version", version).unwrap();
    version
}

/// A database from before the rollup: the migration builds it from the entries, with the same
/// balances and heads the live code keeps.
#[test]
fn the_migration_builds_the_rollup_from_the_entries() {
    let conn = db();
    history(&conn);
    let before: Vec<_> = [ANN, BOB].map(|id| (balances(&conn, id).unwrap(), head(&conn, id).unwrap())).into();
    before_rollup(&conn);
    crate::store::migrate::run(&conn).unwrap();
    let after: Vec<_> = [ANN, BOB].map(|id| (balances(&conn, id).unwrap(), head(&conn, id).unwrap())).into();
    assert_eq!(after, before);
    assert_eq!(rollup::mismatches(&conn).unwrap(), Vec::<String>::new());
    // Later entries carry on from the built heads.
    convert(&conn, "o5", "ann", "20.00", "USD", 70);
    assert!(verify_chain(&entries(&conn, ANN).unwrap()).is_ok());
    assert_eq!(rollup::mismatches(&conn).unwrap(), Vec::<String>::new());
}

#[test]
fn the_migration_refuses_a_chain_with_a_gap() {
    let conn = db();
    history(&conn);
    let previous = before_rollup(&conn);
    conn.execute_batch(&format!(
        "INSERT INTO ledger_entries (affiliate_id, seq, kind, conversion_id, currency, amount, at, prev_hash, hash)
         SELECT affiliate_id, seq + 2, 'created', (SELECT min(conversion_id) FROM ledger_entries), currency, 0, at,
                hash, hash
         FROM ledger_entries WHERE affiliate_id = {ANN} ORDER BY seq DESC LIMIT 1;"
    ))
    .unwrap();
    let e = crate::store::migrate::run(&conn).unwrap_err();
    assert!(e.contains(&format!("affiliate {ANN}: 10 entries numbered up to 11")), "{e}");
    assert_eq!(crate::store::migrate::user_version(&conn).unwrap(), previous, "nothing migrated");
}

/// The kinds are checked without the temporary b-tree SQLite builds for `kind IN (...)` with
/// more than two values on every insert; only the ten kinds are allowed.
#[test]
fn an_entry_is_checked_without_a_temporary_btree_and_only_known_kinds_pass() {
    let conn = db();
    let insert =
        "INSERT INTO ledger_entries (affiliate_id, seq, kind, conversion_id, currency, amount, at, prev_hash, hash)
                  VALUES (1, 1, ?1, NULL, 'USD', 1, 1, x'00', x'00')";
    let opcodes: Vec<String> = conn
        .prepare(&format!("EXPLAIN {insert}"))
        .unwrap()
        .query_map(["created"], |r| r.get(1))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!opcodes.iter().any(|op| op == "OpenEphemeral"), "{opcodes:?}");
    for kind in Kind::ALL {
        let e = conn.execute(insert, [kind.as_str()]).unwrap_err();
        assert!(e.to_string().contains("conversion_id IS NULL"), "{kind:?} passes the kind check: {e}");
    }
    let e = conn.execute(insert, ["bonus"]).unwrap_err();
    assert!(e.to_string().contains("kind = 'created'"), "{e}");
}
