//! Memory the server gives back: after heavy answers (whole statements of 60,000 entries made
//! whole for HTTP/1.0 clients, 8 at a time) its resident memory falls back near where it was,
//! instead of staying in the C allocator's arenas (`alloc::tune`, `alloc::release`).

use std::time::Duration;

use serde_json::json;

use crate::support::{Server, eventually};

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn memory_used_by_heavy_answers_goes_back_to_the_kernel() {
    let s = Server::start();
    s.seed();
    let click = s.click("ann", json!({}));
    let r = s.post("/api/v1/conversions", &json!({"external_id": "m-1", "amount": "10.00", "click_id": click}));
    assert_eq!(r.status, 201, "{}", r.text());
    // 60,000 more entries in ann's chain, written directly (the statement only reads them), and
    // the rollup's head moved to the last of them. Since #25 statements are paged or streamed,
    // so the one answer still made whole is a streamed one for an HTTP/1.0 client, which cannot
    // read chunks: the portal's whole statement, about 20 MB each.
    s.sql()
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 60001)
             INSERT INTO ledger_entries (affiliate_id, seq, kind, conversion_id, currency, amount, at, order_hash,
                                         prev_hash, hash)
             SELECT 1, i, 'created', 1, 'USD', 100, 1, zeroblob(32), zeroblob(32), zeroblob(32) FROM n;
             UPDATE ledger_balances SET seq = 60001, entries = 60001 WHERE affiliate_id = 1",
        )
        .unwrap();
    let cookie = crate::portal::join(&s, "ann").cookie_header();
    let pid = s.pid();
    let before = rss_kib(pid, "VmRSS");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (addr, cookie) = (s.addr, cookie.clone());
            std::thread::spawn(move || {
                let mut old = std::net::TcpStream::connect(addr).unwrap();
                let head = format!("GET /portal/statement.json HTTP/1.0\r\nCookie: {cookie}\r\n\r\n");
                std::io::Write::write_all(&mut old, head.as_bytes()).unwrap();
                let r = crate::support::read_response(&mut old);
                assert_eq!(r.status, 200);
                r.body.len()
            })
        })
        .collect();
    let sizes: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(sizes.iter().all(|n| *n > 5_000_000), "{sizes:?}");
    let peak = rss_kib(pid, "VmHWM");
    assert!(peak > before + 100 * 1024, "the answers took memory: {before} KiB before, peak {peak} KiB");
    assert!(
        eventually(Duration::from_secs(10), || rss_kib(pid, "VmRSS") < before + 48 * 1024),
        "RSS stayed at {} KiB (before {before} KiB, peak {peak} KiB)",
        rss_kib(pid, "VmRSS")
    );
}
