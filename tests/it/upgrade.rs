//! Upgrading in place: the current binary opens a database written by the previous release
//! (tests/fixtures/release-1.sql, the `.dump` of a database made by
//! tests/fixtures/make-release-1.sh with that release's binary), migrates it, and every row, status and amount is still there and served by the API.
//! A migrated database has exactly the schema a fresh one gets from schema.sql.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

use crate::support::Server;

/// The release-1 database, loaded from its dump into a temporary file (no database file is
/// kept in the repository: the dump is text a reviewer can read).
pub struct Fixture {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn fixture() -> Fixture {
    let dump = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release-1.sql");
    let sql = std::fs::read_to_string(&dump).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("release-1.db");
    Connection::open(&path).unwrap().execute_batch(&sql).unwrap();
    Fixture { _dir: dir, path }
}

pub fn read_only(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

pub fn tables(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

pub fn columns(conn: &Connection, table: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid")).unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

/// Every row of `table` (only the `cols` columns), keyed by its primary key (or rowid).
pub fn rows(conn: &Connection, table: &str, cols: &[String]) -> BTreeMap<String, Vec<Sql>> {
    let pk: Vec<String> = {
        let mut stmt =
            conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk")).unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let key = if pk.is_empty() { "rowid".to_string() } else { pk.join(" || '|' || ") };
    let sql = format!("SELECT {key}, {} FROM {table}", cols.join(", "));
    let mut stmt = conn.prepare(&sql).unwrap();
    stmt.query_map([], |r| {
        let key: Sql = r.get(0)?;
        let values = (1..=cols.len()).map(|i| r.get::<_, Sql>(i)).collect::<Result<Vec<_>, _>>()?;
        Ok((format!("{key:?}"), values))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The schema as a comparable text: each object's SQL without comments, whitespace or quotes.
fn schema(conn: &Connection) -> BTreeMap<String, String> {
    let mut stmt = conn
        .prepare(
            "SELECT type || ' ' || name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .map(|(name, sql)| {
            let without_comments: String =
                sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join(" ");
            let flat: String =
                without_comments.chars().filter(|c| !c.is_whitespace() && *c != '"').collect::<String>().to_lowercase();
            (name, flat)
        })
        .collect()
}

#[test]
fn a_release_1_database_keeps_every_row_status_and_amount() {
    let release_1 = fixture();
    let before = read_only(&release_1.path);
    let version: i64 = before.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 1, "the fixture is a release-1 database");
    let old_tables = tables(&before);
    assert!(old_tables.contains(&"conversions".to_string()) && old_tables.len() >= 12, "{old_tables:?}");

    let mut s = Server::start_on(Some(&release_1.path), &[], &[]);
    let conversions = s.get("/api/v1/conversions?limit=500");
    assert_eq!(conversions.status, 200, "{}", conversions.text());
    let listed = conversions.json()["data"].as_array().unwrap().clone();
    let expected: i64 = before.query_row("SELECT count(*) FROM conversions", [], |r| r.get(0)).unwrap();
    assert_eq!(listed.len() as i64, expected, "every conversion is listed");
    // Spot checks against what the release-1 script did (tests/fixtures/make-release-1.sh).
    let by_order = |id: &str| listed.iter().find(|c| c["external_id"] == id).unwrap().clone();
    let order_1 = by_order("order-1");
    assert_eq!(
        (&order_1["status"], &order_1["amount"], &order_1["refunded_amount"], &order_1["commission"]),
        (&json!("approved"), &json!("99.00"), &json!("9.00"), &json!("9.00"))
    );
    assert_eq!(
        (&by_order("order-3")["status"], &by_order("order-3")["commission"]),
        (&json!("refunded"), &json!("0.00"))
    );
    assert_eq!(by_order("order-5")["status"], "rejected");
    assert_eq!((&by_order("jp-1")["amount"], &by_order("jp-1")["currency"]), (&json!("12345"), &json!("JPY")));
    assert_eq!(
        (&by_order("pixel-1")["source"], &by_order("aspire-1")["attributed_by"]),
        (&json!("pixel"), &json!("affiliate"))
    );
    // The books moved to the affiliate ledger: balances are what commission_ledger implied
    // (approvals minus claw-backs: ann 9.90 + 2.00 + 4.50 + 3.00 - 0.90 - 4.50, cho 926 yen),
    // pending is the commission of the pending conversions, and every chain verifies.
    let balances = |code: &str| s.get(&format!("/api/v1/affiliates/{code}/balance")).json()["balances"].clone();
    let usd = |pending: &str, available: &str| json!({"currency": "USD", "pending": pending, "available": available, "in_payouts": "0.00", "paid": "0.00"});
    assert_eq!(balances("ann"), json!([usd("26.50", "14.00")]));
    assert_eq!(balances("bob"), json!([usd("2.50", "0.00")]));
    assert_eq!(
        balances("cho"),
        json!([{"currency": "JPY", "pending": "0", "available": "926", "in_payouts": "0", "paid": "0"}, usd("1.00", "0.00")])
    );
    for code in ["ann", "bob", "cho"] {
        let statement: affiliated::tracking::statement::Statement =
            serde_json::from_slice(&s.get(&format!("/api/v1/affiliates/{code}/statement")).body).unwrap();
        assert_eq!(affiliated::tracking::statement::verify(&statement, None), Ok(()), "{code}");
    }
    let ann: affiliated::tracking::statement::Statement =
        serde_json::from_slice(&s.get("/api/v1/affiliates/ann/statement").body).unwrap();
    let kinds: Vec<&str> = ann.entries.iter().take(3).map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["created", "created", "created"], "backfilled in the order things happened");
    assert_eq!(ann.entries.iter().filter(|e| e.kind == "clawed_back").count(), 2);

    let history = s.get(&format!("/api/v1/conversions/{}", order_1["id"])).json();
    let actions: Vec<&str> =
        history["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["created", "approved", "refunded"]);

    // Old conversions take the new rules: a partial refund with its ID, once.
    let id = by_order("order-2")["id"].clone();
    for _ in 0..2 {
        let r = s.post(&format!("/api/v1/conversions/{id}/refund"), &json!({"amount": "1.99", "refund_id": "re-up"}));
        assert_eq!((r.status, &r.json()["refunded_amount"]), (200, &json!("1.99")), "{}", r.text());
    }
    assert_eq!(s.stop().code(), Some(0));

    // Every row of every release-1 table is still there, column for column (the refund above
    // changed order-2 and added rows; they are left out of the comparison).
    let after = read_only(&s.db_path());
    for table in &old_tables {
        if table == "commission_ledger" {
            // Replaced by ledger_entries (checked above through the balances and statements).
            assert!(!tables(&after).contains(table));
            continue;
        }
        // The tests run with `--outbound off`, so even the outbox's record of its attempts
        // (postback_deliveries) must be exactly as release 1 left it.
        let cols = columns(&before, table);
        let mut old = rows(&before, table, &cols);
        let new = rows(&after, table, &cols);
        assert!(!old.is_empty() || table == "erasures" || table == "settings", "{table} has rows in the fixture");
        for (key, values) in old.iter_mut() {
            if table == "api_keys"
                && values[cols.iter().position(|c| c == "source").unwrap()] == Sql::Text("env".into())
            {
                // The environment's key is replaced by design when the environment names another
                // one (the tests start with their own key).
                continue;
            }
            let now = new.get(key).unwrap_or_else(|| panic!("{table} row {key} is gone"));
            if table == "conversions" && values[1] == Sql::Text("order-2".into()) {
                continue;
            }
            if table == "daily_conversions" {
                continue;
            }
            assert_eq!(values, now, "{table} row {key} changed");
        }
    }
    let erased: i64 =
        after.query_row("SELECT count(*) FROM customers WHERE email IS NOT NULL", [], |r| r.get(0)).unwrap();
    assert_eq!(erased, 0, "the erasure made under release 1 still holds");
    // E-mail (#24): existing affiliates are told of payouts paid, not of each approval, until
    // they choose otherwise; nothing is queued by the upgrade.
    let wants: Vec<(i64, i64)> = after
        .prepare("SELECT DISTINCT mail_conversions, mail_payouts FROM affiliates")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(wants, [(0, 1)]);
    let queued: i64 = after.query_row("SELECT count(*) FROM emails", [], |r| r.get(0)).unwrap();
    assert_eq!(queued, 0);
}

#[test]
fn a_migrated_database_has_the_schema_of_a_fresh_one() {
    let mut migrated = Server::start_on(Some(&fixture().path), &[], &[]);
    let mut fresh = Server::start();
    assert_eq!(migrated.stop().code(), Some(0));
    assert_eq!(fresh.stop().code(), Some(0));
    let (m, f) = (read_only(&migrated.db_path()), read_only(&fresh.db_path()));
    let version = |c: &Connection| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(version(&m), version(&f));
    assert!(version(&f) > 1);
    let (m, f) = (schema(&m), schema(&f));
    assert_eq!(m.keys().collect::<Vec<_>>(), f.keys().collect::<Vec<_>>(), "the same tables, indexes and triggers");
    for (name, sql) in &f {
        assert_eq!(&m[name], sql, "{name} differs between a migrated and a fresh database");
    }
}

/// The conversion rate's column is filled from the conversions on record: a click counts as
/// converted when a conversion that is not rejected came through it (by click or session),
/// once however many did (order-1 and pixel-1 share ann's click).
#[test]
fn a_release_1_database_gets_its_converted_clicks() {
    let release_1 = fixture();
    let mut s = Server::start_on(Some(&release_1.path), &[], &[]);
    assert_eq!(s.stop().code(), Some(0));
    let after = read_only(&s.db_path());
    let mut stmt = after
        .prepare("SELECT day, affiliate_id, offer_id, clicks, converted FROM daily_clicks ORDER BY 1, 2, 3")
        .unwrap();
    let rows: Vec<(i64, i64, i64, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        [(20784, 1, 1, 2, 1), (20784, 2, 1, 1, 0), (20784, 2, 2, 1, 1), (20784, 3, 3, 1, 1)],
        "ann: 1 of 2 clicks; bob's second click never converted; bob's lead and cho's sale each converted theirs"
    );
}

/// Migration 0011 on a release-1 database: the same order ID can now be recorded as test data
/// beside the live order, and every AUTOINCREMENT table's sequence starts at its largest id, so
/// new ids are larger than every id release 1 handed out (that is still there).
#[test]
fn a_release_1_database_gets_namespaces_and_ids_that_only_grow() {
    let release_1 = fixture();
    let before = read_only(&release_1.path);
    let max = |c: &Connection, table: &str| -> i64 {
        c.query_row(&format!("SELECT coalesce(max(id), 0) FROM {table}"), [], |r| r.get(0)).unwrap()
    };
    let tables = ["conversions", "postback_deliveries", "postbacks_received", "api_keys"];
    let old: Vec<i64> = tables.iter().map(|t| max(&before, t)).collect();
    assert!(old[0] > 0, "the fixture has conversions");

    let s = Server::start_on(Some(&release_1.path), &[], &[]);
    let after = s.sql();
    for (table, old_max) in tables.iter().zip(&old) {
        let seq: i64 = after
            .query_row("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = ?1", [table], |r| r.get(0))
            .unwrap();
        assert!(seq >= *old_max, "{table}: the sequence {seq} starts at its largest id {old_max}");
    }
    let click = s.click("ann", json!({}));
    let test = s.post(
        "/api/v1/conversions",
        &json!({"external_id": "order-1", "amount": "5", "click_id": click, "test": true}),
    );
    assert_eq!(
        (test.status, &test.json()["test"]),
        (201, &json!(true)),
        "order-1 is a live order of release 1: {}",
        test.text()
    );
    assert!(test.json()["id"].as_i64().unwrap() > old[0]);
    let live = s.post("/api/v1/conversions", &json!({"external_id": "order-1", "amount": "5", "click_id": click}));
    live.assert_error(409, "duplicate_external_id");
    assert_eq!(live.json()["conversion"]["test"], false, "the live order of release 1 answers for its namespace");
}

/// The balances of a release-1 database are built from its (backfilled) ledger by the migration
/// that brought the rollup, and `affiliated check` finds them adding up to every entry.
#[test]
fn a_release_1_database_gets_balances_that_add_up_to_its_ledger() {
    let release_1 = fixture();
    let s = Server::start_on(Some(&release_1.path), &[], &[]);
    let entries: i64 = s.sql().query_row("SELECT count(*) FROM ledger_entries", [], |r| r.get(0)).unwrap();
    let affiliates: i64 =
        s.sql().query_row("SELECT count(DISTINCT affiliate_id) FROM ledger_entries", [], |r| r.get(0)).unwrap();
    assert!(entries > 10, "the fixture has a ledger: {entries} entries");
    // Summed here straight from the entries, independently of the server's code: everything
    // earned net of refunds (the four balances together), and what was approved net of
    // claw-backs (all but pending), per affiliate and currency.
    let sums = |sql: &str| -> Vec<(i64, String, i64, i64)> {
        let db = s.sql();
        let mut stmt = db.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap();
        rows.map(Result::unwrap).collect()
    };
    let from_entries = sums(
        "SELECT affiliate_id, currency,
             coalesce(sum(amount) FILTER (WHERE kind IN ('created', 'rejected', 'refunded', 'replaced',
                 'clawed_back', 'replaced_approved')), 0),
             coalesce(sum(amount) FILTER (WHERE kind IN ('approved', 'clawed_back', 'replaced_approved')), 0)
         FROM ledger_entries GROUP BY affiliate_id, currency ORDER BY affiliate_id, currency",
    );
    let rollup = sums(
        "SELECT affiliate_id, currency, pending + available + in_payouts + paid, available + in_payouts + paid
         FROM ledger_balances ORDER BY affiliate_id, currency",
    );
    assert_eq!(rollup, from_entries);
    assert!(from_entries.iter().any(|(_, _, _, approved)| *approved != 0), "{from_entries:?}");
    let out = std::process::Command::new(crate::support::bin())
        .args(["check", "--db", s.db_path().to_str().unwrap(), "--listen", &s.addr.to_string()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        said.contains(&format!("ok: the balances add up to the ledger ({affiliates} affiliates, {entries} entries)")),
        "{said}"
    );
}
