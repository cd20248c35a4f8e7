//! How the admin's pages hold up with a million conversions. Run on purpose, in release mode
//! (the bundled SQLite is slow unoptimised):
//!
//! ```text
//! cargo test --release --test it admin_perf -- --ignored --nocapture
//! ```
//!
//! It writes 1,000,000 conversions for 50 affiliates straight into the database, all within the
//! last 30 days (the worst case for the default overview), with the daily totals the writer would
//! have kept, then times each page over HTTP and prints the figures.

use std::time::{Duration, Instant};

use crate::support::{Server, request};

const TOKEN: &str = "perf-admin-token-0123456789";
const CONVERSIONS: i64 = 1_000_000;
const AFFILIATES: i64 = 50;

fn median_ms(mut runs: Vec<Duration>) -> f64 {
    runs.sort();
    runs[runs.len() / 2].as_secs_f64() * 1e3
}

#[test]
#[ignore = "builds a million-conversion database; run on purpose with --release"]
fn admin_perf() {
    let s = Server::start_with(&["--admin-token", TOKEN], &[]);
    s.seed();
    let started = Instant::now();
    let mut conn = s.sql();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let start = (now / 86_400_000 - 29) * 86_400_000;
    let span = now - 60_000 - start;
    {
        let tx = conn.transaction().unwrap();
        for a in 2..=AFFILIATES {
            tx.execute(
                "INSERT INTO affiliates (referral_code, name, created_at) VALUES (?1, ?2, 0)",
                (format!("aff{a}"), format!("Affiliate {a}")),
            )
            .unwrap();
        }
        let mut insert = tx
            .prepare(
                "INSERT INTO conversions (external_id, type, affiliate_id, offer_id, attributed_by, source, currency, amount,
                                          base_commission, commission, status, created_at, updated_at)
                 VALUES (?1, 'sale', ?2, 1, 'click', 'api', 'USD', ?3, ?4, ?4, ?5, ?6, ?6)",
            )
            .unwrap();
        let statuses = ["pending", "approved", "approved", "approved", "rejected", "refunded"];
        for i in 0..CONVERSIONS {
            let at = start + span * i / CONVERSIONS;
            let amount = 500 + (i * 7919) % 30_000;
            let status = statuses[(i % 6) as usize];
            let commission = if status == "refunded" { 0 } else { amount / 10 };
            insert.execute((format!("order-{i}"), 1 + i % AFFILIATES, amount, commission, status, at)).unwrap();
        }
        drop(insert);
        tx.execute_batch(
            "UPDATE conversions SET refunded_amount = amount WHERE status = 'refunded';
             INSERT INTO daily_conversions (day, affiliate_id, status, currency, conversions, revenue, commission)
             SELECT created_at / 86400000, affiliate_id, status, currency, count(*), sum(amount - refunded_amount),
                    sum(commission)
             FROM conversions GROUP BY 1, 2, 3, 4;
             INSERT INTO daily_clicks (day, affiliate_id, offer_id, clicks)
             SELECT created_at / 86400000, affiliate_id, 1, count(*) * 40 FROM conversions GROUP BY 1, 2;",
        )
        .unwrap();
        tx.commit().unwrap();
    }
    println!("built {CONVERSIONS} conversions in {:.1} s", started.elapsed().as_secs_f64());

    let cookie = s.admin_cookie(TOKEN);
    let time = |path: &str| {
        let runs: Vec<Duration> = (0..5)
            .map(|_| {
                let t = Instant::now();
                let r = request(s.addr, "GET", path, &[("Cookie", &cookie)], b"");
                assert_eq!(r.status, 200, "{path}");
                t.elapsed()
            })
            .collect();
        median_ms(runs)
    };
    let overview = request(s.addr, "GET", "/admin", &[("Cookie", &cookie)], b"").text();
    // Everything but the rejected sixth counts.
    assert!(overview.contains(">833,334<"), "the overview counts every conversion");
    let mut worst: f64 = 0.0;
    for path in [
        "/admin",
        "/admin?days=365",
        "/admin/conversions",
        "/admin/conversions?status=pending",
        "/admin/conversions?affiliate=aff7",
        "/admin/conversions?affiliate=aff7&status=rejected",
        "/admin/conversions?from=2020-01-01&to=2030-01-01",
        "/admin/conversions?status=approved&from=2020-01-01&to=2030-01-01",
        "/admin/conversions?q=order-4711",
        "/admin/export/commissions.csv?status=pending",
        "/admin/export/commissions.csv",
    ] {
        let ms = time(path);
        worst = worst.max(ms);
        println!("{ms:>8.1} ms  GET {path}");
    }
    // For comparison: the overview's sums scanned from the conversions table itself.
    let t = Instant::now();
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT created_at / 86400000, affiliate_id, status, currency, count(*),
                    sum(amount - refunded_amount), sum(commission) FROM conversions WHERE created_at >= ?1
                    GROUP BY 1, 2, 3, 4)",
            [start],
            |r| r.get(0),
        )
        .unwrap();
    println!(
        "{:>8.1} ms  the same sums scanned from conversions ({rows} groups), for comparison",
        t.elapsed().as_secs_f64() * 1e3
    );
    assert!(worst < 1000.0, "an admin page took {worst:.0} ms with {CONVERSIONS} conversions");
}
