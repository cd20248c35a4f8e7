//! The ledger's costs, on a temporary database (run on purpose: `cargo run --release --example ledger`):
//! recording and approving conversions with their two ledger entries, one `ledger::append` alone,
//! a payout run over 100,000 approved conversions of 1,000 affiliates, a balance, a statement.
//! `--conversions N` records N instead of 100,000 (e.g. for a run under callgrind:
//! `valgrind --tool=callgrind --toggle-collect='*ledger::append*' target/release/examples/ledger
//! --conversions 5000` counts the instructions of `ledger::append` alone).

use affiliated::store::{
    self,
    conversions::{self, Prepared},
    ledger, payouts,
    writer::direct,
};
use affiliated::tracking::{
    attribution::Keys,
    conversion::{NewConversion, Source, Status},
    ledger::Kind,
    money::Currency,
};
use std::time::Instant;

fn main() {
    let dir = std::env::temp_dir().join(format!("lb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("b.db");
    let conn = store::open_writer(&db, store::Synchronous::Normal, 1000).unwrap();
    let affiliates = 1000;
    conn.execute_batch("BEGIN").unwrap();
    for i in 0..affiliates {
        conn.execute("INSERT INTO affiliates (referral_code, name, created_at) VALUES (?1, 'x', 1)", [format!("a{i}")])
            .unwrap();
    }
    conn.execute_batch("INSERT INTO offers (public_id, name, landing_url, commission_type, commission_value, attribution, click_window_days, currency, is_default, created_at) VALUES ('main','Main','https://s.example/','percent',100000,'last_click',30,'USD',1,1); COMMIT").unwrap();
    let mut args = std::env::args().skip(1);
    let mut n = 100_000;
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().and_then(|v| v.parse::<usize>().ok())) {
            ("--conversions", Some(v)) if v >= 500 => n = v - v % 500,
            _ => panic!("usage: ledger [--conversions N (at least 500)]"),
        }
    }
    let usd = Currency::from_code("USD").unwrap();
    // 1. conversions + approvals, 500 per transaction (like the writer's group commit)
    let t = Instant::now();
    for chunk in 0..(n / 500) {
        direct(&conn, |tx| {
            for j in 0..500 {
                let i = chunk * 500 + j;
                let new = NewConversion {
                    external_id: format!("o{i}"),
                    kind: "sale".into(),
                    amount: Some("100.00".into()),
                    currency: None,
                    keys: Keys { referral_code: Some(format!("a{}", i % affiliates)), ..Keys::default() },
                    source: Source::Api,
                    actor: "b".into(),
                    test: false,
                    customer_email: None,
                    details: Default::default(),
                    type_rate_only: false,
                };
                let Prepared::Row(row) =
                    conversions::prepare(&conn, new, &Default::default(), 1000 + i as i64).unwrap()
                else {
                    panic!()
                };
                let stored = conversions::insert(tx, &row, 1000 + i as i64).unwrap();
                let conversions::Stored::Created(c) = stored else { panic!() };
                conversions::decide(tx, c.id, Status::Approved, "b", None, 2000 + i as i64).unwrap();
            }
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap();
    }
    let total = t.elapsed();
    println!(
        "record+approve {n} conversions (500/tx): {:.1} s, {:.0} µs per conversion (both changes)",
        total.as_secs_f64(),
        total.as_secs_f64() * 1e6 / n as f64
    );
    // 2. ledger append alone, 20k entries
    let t = Instant::now();
    // Rolled back afterwards (the closure fails on purpose): the entries are only timed.
    let _ = direct(&conn, |tx| {
        for i in 0..20_000i64 {
            ledger::append(
                tx,
                &ledger::NewEntry {
                    affiliate_id: 1 + i % 1000,
                    kind: Kind::Created,
                    subject: ledger::Subject::Conversion { id: 1 + i % n as i64, order_id: "x", first: false },
                    currency: usd,
                    amount: 1,
                },
                5,
            )
            .unwrap();
        }
        Err::<(), ()>(())
    });
    println!("ledger::append alone: {:.1} µs per entry", t.elapsed().as_secs_f64() * 1e6 / 20_000.0);
    let entries: i64 = conn.query_row("SELECT count(*) FROM ledger_entries", [], |r| r.get(0)).unwrap();
    // 3. payout run
    let t = Instant::now();
    let qualify = payouts::candidates(&conn, usd, 0).unwrap().len();
    let read = t.elapsed();
    let t = Instant::now();
    let run = payouts::Run { currency: usd, minimum: 0, run_id: None };
    let out = direct(&conn, |tx| affiliated::store::payout_runs::at_once(tx, &run, 9)).unwrap().unwrap();
    let made = match out {
        payouts::RunOutcome::Created(m) => m.len(),
        _ => 0,
    };
    println!(
        "payout run over {entries} entries: candidates (reader) {:.0} ms for {qualify}; all its jobs in one transaction {:.0} ms for {made} payouts",
        read.as_secs_f64() * 1e3,
        t.elapsed().as_secs_f64() * 1e3
    );
    // 4. statement of one affiliate (~300 entries) and a balance
    let t = Instant::now();
    for _ in 0..100 {
        ledger::balances(&conn, 1).unwrap();
    }
    println!("balance of one affiliate: {:.2} ms", t.elapsed().as_secs_f64() * 1e3 / 100.0);
    affiliated::statements::ensure(&conn, &db, 1).unwrap();
    let t = Instant::now();
    let (s, _) = affiliated::statements::issue_page(&conn, &db, "a1", (1, usize::MAX), 5).unwrap();
    let json = serde_json::to_vec(&s).unwrap();
    println!(
        "statement of a1: {} entries, {} bytes, issued in {:.1} ms",
        s.entries.len(),
        json.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    affiliated::tracking::statement::verify(&s, None).unwrap();
    println!("verify it: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let _ = std::fs::remove_dir_all(&dir);
}
