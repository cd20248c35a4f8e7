//! Retention sweeps, erasure (with re-application after restoring a backup), IP storage,
//! backups under load and the metrics endpoint.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::support::{Server, eventually};

pub fn file_contains(path: &std::path::Path, needle: &[u8]) -> bool {
    match std::fs::read(path) {
        Ok(bytes) => bytes.windows(needle.len()).any(|w| w == needle),
        Err(_) => false,
    }
}

#[test]
fn the_sweeper_forgets_unconverted_clicks_and_keeps_what_attribution_needs() {
    let s = Server::start_with(&["--click-retention", "2s", "--sweep-interval", "1s"], &[]);
    s.seed();
    let stale = s.click("ann", json!({"user_agent": "UA-stale", "ip": "198.51.100.7"}));
    let converted = s.click("ann", json!({"user_agent": "UA-converted", "ip": "198.51.100.8"}));
    let tied = s.click("ann", json!({}));
    assert_eq!(
        s.post("/api/v1/conversions", &json!({"external_id": "kept-1", "amount": "10", "click_id": converted})).status,
        201
    );
    assert_eq!(s.post("/api/v1/customers", &json!({"customer_id": "loyal", "click_id": tied})).status, 201);

    assert!(
        eventually(Duration::from_secs(20), || s.get(&format!("/api/v1/clicks/{stale}")).status == 404),
        "the stale click was not swept; log:\n{}",
        s.log_text()
    );
    // A swept click is simply unknown.
    s.post("/api/v1/conversions", &json!({"external_id": "late", "amount": "1", "click_id": stale}))
        .assert_error(400, "invalid_click_id");
    // Clicks that converted or tied a customer stay, without personal data once past retention.
    assert!(eventually(Duration::from_secs(20), || s.get(&format!("/api/v1/clicks/{converted}")).json()["user_agent"]
        .is_null()));
    let kept = s.get(&format!("/api/v1/clicks/{converted}")).json();
    assert_eq!(kept["referral_code"], "ann");
    assert!(kept["ip"].is_null());
    assert_eq!(s.get(&format!("/api/v1/clicks/{tied}")).status, 200);
    // Recurring attribution does not depend on the click.
    let again =
        s.post("/api/v1/conversions", &json!({"external_id": "loyal-2", "amount": "10", "customer_id": "loyal"}));
    assert_eq!(again.status, 201, "{}", again.text());
    let metrics = s.get_public("/metrics").text();
    let deleted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("affiliated_sweeper_deleted_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(deleted >= 1, "{metrics}");
    assert!(s.log_text().contains("retention sweep: deleted"));
}

#[test]
fn erasure_removes_the_bytes_and_survives_restoring_an_old_backup() {
    let mut s = Server::start();
    s.seed();
    let email = "erase-me-7f3a9c@example.com";
    let agent = "UA-unique-5d2e8b";
    let click = s.click("ann", json!({"user_agent": agent}));
    assert_eq!(
        s.post(
            "/api/v1/customers",
            &json!({"customer_id": "cust-erase", "click_id": click, "email": email, "name": "Erin Erasable"})
        )
        .status,
        201
    );
    let conv =
        s.post("/api/v1/conversions", &json!({"external_id": "E-1", "amount": "50", "customer_id": "cust-erase"}));
    assert_eq!(conv.status, 201);
    // A backup taken before the erasure still has the customer.
    let backup = s.dir.path().join("before.db");
    let out = std::process::Command::new(crate::support::bin())
        .args(["backup", "--db"])
        .arg(s.db_path())
        .arg(&backup)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let r = crate::support::request(
        s.addr,
        "DELETE",
        "/api/v1/customers/cust-erase",
        &[("X-Api-Key", crate::support::KEY)],
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    s.get("/api/v1/customers/cust-erase").assert_error(404, "not_found");
    assert_eq!(s.get(&format!("/api/v1/clicks/{click}")).status, 404);
    // The money stays, anonymised.
    let kept = s.get("/api/v1/conversions").json()["data"][0].clone();
    assert_eq!(kept["external_id"], "E-1");
    assert_eq!(kept["amount"], "50.00");
    assert_eq!(kept["commission"], "5.00");
    assert_eq!(kept["referral_code"], "ann");
    assert!(kept["customer_id"].is_null() && kept["click_id"].is_null());
    // Not in the database file, not in the WAL.
    let wal = std::path::PathBuf::from(format!("{}-wal", s.db_path().display()));
    for needle in [email.as_bytes(), agent.as_bytes(), b"Erin Erasable", click.as_bytes()] {
        assert!(!file_contains(&s.db_path(), needle), "{} in the database file", String::from_utf8_lossy(needle));
        assert!(!file_contains(&wal, needle), "{} in the WAL", String::from_utf8_lossy(needle));
    }
    let log = std::fs::read_to_string(format!("{}.erasure-log", s.db_path().display())).unwrap();
    assert!(!log.contains("cust-erase") && log.contains("customer "), "{log}");

    // Restore the old backup: the next start erases the customer again.
    let status = s.stop();
    assert!(status.success());
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", s.db_path().display()));
    }
    std::fs::copy(&backup, s.db_path()).unwrap();
    s.restart_after_crash();
    s.get("/api/v1/customers/cust-erase").assert_error(404, "not_found");
    assert_eq!(s.get(&format!("/api/v1/clicks/{click}")).status, 404);
    assert!(s.log_text().contains("re-applied"), "{}", s.log_text());
    assert!(!file_contains(&s.db_path(), email.as_bytes()));
}

#[test]
fn clicks_can_be_erased_one_by_one() {
    let s = Server::start();
    s.seed();
    let click = s.click("ann", json!({"user_agent": "UA-one-click-93be"}));
    let conv = s.post("/api/v1/conversions", &json!({"external_id": "C-1", "amount": "5", "click_id": click}));
    assert_eq!(conv.status, 201);
    let del = |id: &str| {
        crate::support::request(
            s.addr,
            "DELETE",
            &format!("/api/v1/clicks/{id}"),
            &[("X-Api-Key", crate::support::KEY)],
            b"",
        )
    };
    assert_eq!(del(&click).status, 204);
    assert_eq!(s.get(&format!("/api/v1/clicks/{click}")).status, 404);
    del(&click).assert_error(404, "not_found");
    // Not even shaped like a click ID (multi-byte characters included): just unknown.
    del("%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9").assert_error(404, "not_found");
    assert!(s.get("/api/v1/conversions").json()["data"][0]["click_id"].is_null());
    assert!(!file_contains(&s.db_path(), b"UA-one-click-93be"));
}

#[test]
fn ip_storage_policies() {
    for (policy, want) in
        [("full", json!("203.0.113.77")), ("truncated", json!("203.0.113.0")), ("none", serde_json::Value::Null)]
    {
        let s = Server::start_with(&["--store-ip", policy], &[]);
        s.seed();
        let id = s.click("ann", json!({"ip": "203.0.113.77"}));
        assert_eq!(s.get(&format!("/api/v1/clicks/{id}")).json()["ip"], want, "{policy}");
    }
}

#[test]
fn a_backup_under_write_load_holds_everything_acknowledged_before_it() {
    let s = Arc::new(Server::start_with(&["--workers", "8"], &[]));
    s.seed();
    s.post("/api/v1/coupons", &json!({"code": "LOAD", "referral_code": "ann"}));
    let acknowledged = Arc::new(Mutex::new(Vec::<(std::time::Instant, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (s, acknowledged, stop) = (s.clone(), acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let id = format!("load-{t}-{i}");
                    let r = s.post("/api/v1/conversions", &json!({"external_id": id, "amount": "1", "coupon": "LOAD"}));
                    if r.status == 201 {
                        acknowledged.lock().unwrap().push((std::time::Instant::now(), id));
                    }
                    i += 1;
                }
            })
        })
        .collect();
    assert!(eventually(Duration::from_secs(10), || acknowledged.lock().unwrap().len() >= 200));
    let began = std::time::Instant::now();
    let out_path = s.dir.path().join("snapshot.db");
    let out = std::process::Command::new(crate::support::bin())
        .args(["backup", "--db"])
        .arg(s.db_path())
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || acknowledged.lock().unwrap().iter().any(|(t, _)| *t > began)),
        "writes continued"
    );
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    assert!(out.status.success(), "backup failed: {}", String::from_utf8_lossy(&out.stderr));
    let copy = rusqlite::Connection::open(&out_path).unwrap();
    let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let before: Vec<String> =
        acknowledged.lock().unwrap().iter().filter(|(t, _)| *t < began).map(|(_, id)| id.clone()).collect();
    assert!(before.len() >= 200);
    for id in &before {
        let n: i64 =
            copy.query_row("SELECT count(*) FROM conversions WHERE external_id = ?1", [id], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "{id} acknowledged before the backup began but missing from it");
    }
    // Refuses to overwrite, and fails loudly on a missing database.
    let again = std::process::Command::new(crate::support::bin())
        .args(["backup", "--db"])
        .arg(s.db_path())
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let missing = std::process::Command::new(crate::support::bin())
        .args(["backup", "--db", "/nonexistent/x.db", "/tmp/never.db"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
}

#[test]
fn metrics_speak_prometheus_with_route_labels() {
    let s = Server::start();
    s.seed();
    let click = s.click("ann", json!({}));
    s.get_public("/r/ann");
    s.get(&format!("/api/v1/clicks/{click}"));
    s.post("/api/v1/conversions", &json!({"external_id": "m1", "amount": "1", "click_id": click}));
    let r = s.get_public("/metrics");
    assert_eq!(r.status, 200);
    assert!(r.header("Content-Type").unwrap().starts_with("text/plain"));
    let text = r.text();
    for needle in [
        "affiliated_http_requests_total{method=\"GET\",route=\"/r/{referral_code}\",status=\"302\"} 1",
        "affiliated_http_requests_total{method=\"GET\",route=\"/api/v1/clicks/{id}\",status=\"200\"} 1",
        "affiliated_http_request_duration_seconds_bucket{route=\"/api/v1/conversions\",le=\"+Inf\"} 1",
        "affiliated_clicks_total 2",
        "affiliated_conversions_total{status=\"pending\"} 1",
        "affiliated_sweeper_deleted_total 0",
        "affiliated_postback_backlog 0",
        "# TYPE affiliated_database_bytes gauge",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains(&click), "raw paths must not become labels");
}

/// What a sweep deletes leaves the file: the free pages are given back (incremental
/// auto-vacuum, in bounded steps), so the file shrinks to what it holds.
#[test]
fn the_sweep_gives_the_pages_it_freed_back_to_the_file_system() {
    let s = Server::start_with(&["--click-retention", "1d", "--sweep-interval", "1s"], &[]);
    s.seed();
    let conn = s.sql();
    let pages = || -> (i64, i64) {
        conn.query_row(
            "SELECT (SELECT page_count FROM pragma_page_count), (SELECT freelist_count FROM pragma_freelist_count)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let (empty, _) = pages();
    // 3,000 clicks two days old, with a kilobyte of user agent each: about 800 pages.
    let old = affiliated::clock::now_ms() - 2 * 86_400_000;
    conn.execute_batch("BEGIN").unwrap();
    for i in 0..3000 {
        conn.execute(
            "INSERT INTO clicks (id, affiliate_id, offer_id, created_at, user_agent) VALUES (?1, 1, 1, ?2, ?3)",
            rusqlite::params![
                affiliated::store::clicks::new_id(old + i),
                old + i,
                format!("UA-{i}-{}", "x".repeat(1000))
            ],
        )
        .unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
    let (full, _) = pages();
    assert!(full > empty + 700, "{empty} pages before, {full} after the clicks");
    assert!(
        eventually(Duration::from_secs(30), || s.log_text().contains("retention sweep: deleted 3000 ")),
        "no sweep of the 3,000 clicks; log:\n{}",
        s.log_text()
    );
    let given: i64 = s
        .log_text()
        .lines()
        .find(|l| l.contains("retention sweep: deleted 3000 "))
        .and_then(|l| l.split("gave ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the sweep does not say what it gave back:\n{}", s.log_text()));
    assert!(given >= 700, "gave back {given} pages");
    let (now, free) = pages();
    assert_eq!(free, 0, "no free page left in the file");
    assert!(now < empty + 50, "the file is back near its size before the clicks: {empty} -> {full} -> {now} pages");
}
