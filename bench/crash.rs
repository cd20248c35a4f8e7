//! Crash loop: is everything the server acknowledged still there, exactly once, after `kill -9`?
//!
//! Each cycle starts the release server on the same database, drives conversions (unique
//! external_ids, attributed by coupon) and clicks from several threads that log every ID
//! answered with 201, and kills the server with SIGKILL at a random moment (a seeded xorshift
//! PRNG picks it; a tenth of the kills land during startup, before the server is healthy). The
//! next cycle's start is the restart: once it is healthy, every ID acknowledged in the previous
//! cycle must be present exactly once and `PRAGMA integrity_check` must say ok. After the last
//! cycle every ID acknowledged in the whole run is checked again, the server is stopped with
//! SIGTERM (it must exit 0) and the closed file is checked once more.
//!
//! ```text
//! cargo run --release --example crash -- --cycles 200 --threads 4 --seed 42 --dir /tmp/crash
//! ```

#[path = "support.rs"]
mod support;

use std::collections::HashSet;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use support::{KEY, Rng, arg, arg_or, default_bin, format_request, median, read_response, spawn_server};

const HELP: &str = "\
crash: kill -9 the server at random moments under write load; check that nothing acknowledged is lost.

Usage: crash [--cycles 200] [--threads 4] [--seed 42] [--max-kill-ms 400] [--dir DIR] [--bin PATH]
             [--workers N]
";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Conversion,
    Click,
}

/// IDs answered with 201, by kind.
#[derive(Default)]
struct Acked {
    conversions: Vec<String>,
    clicks: Vec<String>,
}

/// What the load threads saw in one cycle.
#[derive(Default)]
struct CycleLoad {
    acked: Acked,
    /// Requests written whose answer never came (the kill cut them off).
    unanswered: u64,
    /// Answers other than 201 (there should be none before the kill).
    other_status: Vec<u16>,
}

#[derive(Default)]
struct Totals {
    acked_conversions: u64,
    acked_clicks: u64,
    lost: u64,
    duplicates: u64,
    integrity_failures: u64,
    unanswered: u64,
    other_status: u64,
    startup_kills: u64,
    restart_ms: Vec<f64>,
    problems: Vec<String>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let cycles: u32 = arg_or(&args, "--cycles", 200);
    let threads: usize = arg_or(&args, "--threads", 4);
    let seed: u64 = arg_or(&args, "--seed", 42);
    let max_kill_ms: u64 = arg_or(&args, "--max-kill-ms", 400);
    let bin = arg(&args, "--bin").map(PathBuf::from).unwrap_or_else(default_bin);
    let dir = arg(&args, "--dir").map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("affiliated-crash"));
    let workers = arg(&args, "--workers");
    match run(&bin, &dir, cycles, threads, seed, max_kill_ms, workers.as_deref()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("crash: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(
    bin: &Path,
    dir: &Path,
    cycles: u32,
    threads: usize,
    seed: u64,
    max_kill_ms: u64,
    workers: Option<&str>,
) -> Result<bool, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let db = dir.join("crash.db");
    let log = dir.join("server.log");
    let extra: Vec<&str> = workers.map(|w| vec!["--workers", w]).unwrap_or_default();
    let start = || spawn_server(bin, &db, "127.0.0.1:0", &extra, &log);
    println!(
        "crash loop: {cycles} cycles, {threads} load threads, seed {seed}, kill within {max_kill_ms} ms; \
         binary {}, database {}",
        bin.display(),
        db.display()
    );

    let mut server = start()?;
    server.wait_healthy(Duration::from_secs(20))?;
    setup(server.addr)?;
    let mut rng = Rng::new(seed);
    let mut totals = Totals::default();
    let mut all = Acked::default();
    let mut previous: Option<CycleLoad> = None;
    let started = Instant::now();

    for cycle in 1..=cycles {
        if cycle > 1 {
            server = start()?;
        }
        // Sometimes kill while the server is still opening the database and starting up.
        if cycle > 1 && rng.range(1, 10) == 1 {
            thread::sleep(Duration::from_millis(rng.range(0, 30)));
            server.kill9();
            totals.startup_kills += 1;
            server = start()?;
        }
        let healthy = server.wait_healthy(Duration::from_secs(20)).map_err(|e| format!("cycle {cycle}: {e}"))?;
        totals.restart_ms.push(healthy.as_secs_f64() * 1e3);
        if let Some(load) = previous.take() {
            verify(&db, &load.acked, cycle - 1, &mut totals)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(CycleLoad::default()));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let kind = if t % 2 == 0 { Kind::Conversion } else { Kind::Click };
                let (stop, seen, addr) = (stop.clone(), seen.clone(), server.addr);
                thread::spawn(move || drive(addr, kind, cycle, t, &stop, &seen))
            })
            .collect();
        thread::sleep(Duration::from_millis(rng.range(0, max_kill_ms)));
        server.kill9();
        stop.store(true, Ordering::SeqCst);
        for h in handles {
            let _ = h.join();
        }
        let load = std::mem::take(&mut *seen.lock().expect("load lock"));
        totals.acked_conversions += load.acked.conversions.len() as u64;
        totals.acked_clicks += load.acked.clicks.len() as u64;
        totals.unanswered += load.unanswered;
        totals.other_status += load.other_status.len() as u64;
        if let Some(s) = load.other_status.first() {
            totals
                .problems
                .push(format!("cycle {cycle}: {} answers were not 201 (first: {s})", load.other_status.len()));
        }
        all.conversions.extend(load.acked.conversions.iter().cloned());
        all.clicks.extend(load.acked.clicks.iter().cloned());
        previous = Some(load);
        if cycle % 20 == 0 || cycle == cycles {
            println!(
                "  cycle {cycle}: acknowledged {} conversions + {} clicks so far, lost {}, duplicates {}, \
                 integrity failures {} ({:.0} s)",
                totals.acked_conversions,
                totals.acked_clicks,
                totals.lost,
                totals.duplicates,
                totals.integrity_failures,
                started.elapsed().as_secs_f64()
            );
        }
    }

    // The last restart, a check of everything ever acknowledged, and a clean stop.
    let mut server = start()?;
    let healthy = server.wait_healthy(Duration::from_secs(20))?;
    totals.restart_ms.push(healthy.as_secs_f64() * 1e3);
    if let Some(load) = previous.take() {
        verify(&db, &load.acked, cycles, &mut totals)?;
    }
    let (lost_all, dup_all) = verify_all(&db, &all)?;
    let status = server.terminate(Duration::from_secs(15));
    let clean_exit = status.is_some_and(|s| s.success());
    let closed_integrity = integrity(&db, false)?;
    let (rows_conversions, rows_clicks) = row_counts(&db)?;

    totals.restart_ms.sort_by(f64::total_cmp);
    let ok = totals.lost == 0
        && totals.duplicates == 0
        && totals.integrity_failures == 0
        && lost_all == 0
        && dup_all == 0
        && clean_exit
        && closed_integrity == "ok";
    println!("crash loop finished in {:.0} s", started.elapsed().as_secs_f64());
    println!("  cycles:                 {cycles} ({} of them also killed once during startup)", totals.startup_kills);
    println!(
        "  acknowledged (201):     {} ({} conversions, {} clicks)",
        totals.acked_conversions + totals.acked_clicks,
        totals.acked_conversions,
        totals.acked_clicks
    );
    println!("  lost after restart:     {} (per cycle), {lost_all} (whole run, checked at the end)", totals.lost);
    println!("  duplicates:             {} (per cycle), {dup_all} (whole run)", totals.duplicates);
    println!(
        "  integrity_check:        {} failures after restarts; after the final clean stop: {closed_integrity}",
        totals.integrity_failures
    );
    println!("  unanswered requests:    {} (cut off by the kill; stored or not, nobody was told)", totals.unanswered);
    println!(
        "  rows at the end:        {rows_conversions} conversions, {rows_clicks} clicks \
         (acknowledged + some of the unanswered + setup)"
    );
    println!("  non-201 answers:        {}", totals.other_status);
    println!(
        "  restart to healthy:     median {:.1} ms, max {:.1} ms",
        median(&totals.restart_ms).unwrap_or(0.0),
        totals.restart_ms.last().copied().unwrap_or(0.0)
    );
    println!(
        "  final SIGTERM:          {}",
        status.map(|s| s.to_string()).unwrap_or_else(|| "did not exit in 15 s".into())
    );
    for p in totals.problems.iter().take(10) {
        println!("  problem: {p}");
    }
    println!(
        "RESULT cycles={cycles} acknowledged={} lost={} duplicates={} integrity={} clean_exit={clean_exit} \
         unanswered={} verdict={}",
        totals.acked_conversions + totals.acked_clicks,
        totals.lost + lost_all,
        totals.duplicates + dup_all,
        if totals.integrity_failures == 0 && closed_integrity == "ok" { "ok" } else { "FAILED" },
        totals.unanswered,
        if ok { "PASS" } else { "FAIL" }
    );
    Ok(ok)
}

/// One affiliate, a default offer and a coupon, through the API.
fn setup(addr: SocketAddr) -> Result<(), String> {
    let calls = [
        ("/api/v1/affiliates", r#"{"referral_code":"crash-aff","name":"Crash Test Affiliate"}"#),
        (
            "/api/v1/offers",
            r#"{"id":"main","name":"Main","landing_url":"https://shop.example/landing","commission":{"type":"percent","value":"10"}}"#,
        ),
        ("/api/v1/coupons", r#"{"code":"CRASH10","referral_code":"crash-aff"}"#),
    ];
    for (path, body) in calls {
        let r = support::api_post(addr, path, body).map_err(|e| format!("setup {path}: {e}"))?;
        if r.status != 201 {
            return Err(format!("setup {path}: {} {}", r.status, r.text()));
        }
    }
    Ok(())
}

/// Sends writes back to back on one keep-alive connection (reconnecting after errors) until
/// `stop`, logging the ID of every 201.
fn drive(addr: SocketAddr, kind: Kind, cycle: u32, thread: usize, stop: &AtomicBool, seen: &Mutex<CycleLoad>) {
    let mut n = 0u64;
    let mut stream: Option<TcpStream> = None;
    while !stop.load(Ordering::SeqCst) {
        let s = match stream.as_mut() {
            Some(s) => s,
            None => match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => {
                    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
                    let _ = s.set_nodelay(true);
                    stream.insert(s)
                }
                Err(_) => {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                }
            },
        };
        n += 1;
        let external_id = format!("c{cycle}-t{thread}-{n}");
        let (path, body) = match kind {
            Kind::Conversion => (
                "/api/v1/conversions",
                format!(
                    r#"{{"external_id":"{external_id}","amount":"{}.{:02}","coupon":"CRASH10"}}"#,
                    10 + n % 90,
                    n % 100
                ),
            ),
            Kind::Click => (
                "/api/v1/clicks",
                format!(
                    r#"{{"referral_code":"crash-aff","session_id":"{external_id}","user_agent":"Mozilla/5.0 (crash)","ip":"198.51.100.{}"}}"#,
                    n % 250 + 1
                ),
            ),
        };
        let request = format_request("POST", path, &addr.to_string(), &[("X-Api-Key", KEY)], body.as_bytes());
        if s.write_all(&request).is_err() {
            stream = None;
            continue;
        }
        // The kill ends every read; a long deadline only matters if the server hangs.
        match read_response(s, Instant::now() + Duration::from_secs(30)) {
            Ok(r) if r.status == 201 => {
                let id = match kind {
                    Kind::Conversion => Some(external_id),
                    Kind::Click => r.json_str("id"),
                };
                let mut seen = seen.lock().expect("load lock");
                match (id, kind) {
                    (Some(id), Kind::Conversion) => seen.acked.conversions.push(id),
                    (Some(id), Kind::Click) => seen.acked.clicks.push(id),
                    (None, _) => seen.other_status.push(r.status),
                }
            }
            Ok(r) => seen.lock().expect("load lock").other_status.push(r.status),
            Err(_) => {
                seen.lock().expect("load lock").unanswered += 1;
                stream = None;
            }
        }
    }
}

fn open(db: &Path, read_only: bool) -> Result<Connection, String> {
    let flags = if read_only { OpenFlags::SQLITE_OPEN_READ_ONLY } else { OpenFlags::SQLITE_OPEN_READ_WRITE };
    let conn = Connection::open_with_flags(db, flags).map_err(|e| format!("opening {}: {e}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(|e| e.to_string())?;
    Ok(conn)
}

fn integrity(db: &Path, read_only: bool) -> Result<String, String> {
    let conn = open(db, read_only)?;
    let rows: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| s.query_map([], |r| r.get::<_, String>(0))?.collect())
        .map_err(|e| format!("integrity_check: {e}"))?;
    Ok(rows.join("; "))
}

/// Checks one cycle's acknowledged IDs against the database the restarted server is using.
fn verify(db: &Path, acked: &Acked, cycle: u32, totals: &mut Totals) -> Result<(), String> {
    let conn = open(db, true)?;
    let count = |sql: &str, id: &str| -> Result<i64, String> {
        conn.prepare_cached(sql).and_then(|mut s| s.query_row([id], |r| r.get(0))).map_err(|e| format!("{sql}: {e}"))
    };
    for (sql, ids) in [
        ("SELECT count(*) FROM conversions WHERE external_id = ?1", &acked.conversions),
        ("SELECT count(*) FROM clicks WHERE id = ?1", &acked.clicks),
    ] {
        for id in ids {
            match count(sql, id)? {
                1 => {}
                0 => {
                    totals.lost += 1;
                    totals.problems.push(format!("cycle {cycle}: acknowledged {id} is missing"));
                }
                n => {
                    totals.duplicates += 1;
                    totals.problems.push(format!("cycle {cycle}: {id} is stored {n} times"));
                }
            }
        }
    }
    drop(conn);
    let check = integrity(db, true)?;
    if check != "ok" {
        totals.integrity_failures += 1;
        totals.problems.push(format!("cycle {cycle}: integrity_check says {check}"));
    }
    Ok(())
}

/// Every acknowledged ID of the run against the stored rows: (lost, duplicated).
fn verify_all(db: &Path, all: &Acked) -> Result<(u64, u64), String> {
    let conn = open(db, true)?;
    let mut lost = 0;
    let mut duplicated = 0;
    for (sql, ids) in [
        ("SELECT external_id, count(*) FROM conversions GROUP BY external_id", &all.conversions),
        ("SELECT id, count(*) FROM clicks GROUP BY id", &all.clicks),
    ] {
        let rows: Vec<(String, i64)> = conn
            .prepare(sql)
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(|e| format!("{sql}: {e}"))?;
        duplicated += rows.iter().filter(|(_, n)| *n > 1).count() as u64;
        let stored: HashSet<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
        lost += ids.iter().filter(|id| !stored.contains(id.as_str())).count() as u64;
    }
    Ok((lost, duplicated))
}

fn row_counts(db: &Path) -> Result<(i64, i64), String> {
    let conn = open(db, true)?;
    let count = |table: &str| -> Result<i64, String> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).map_err(|e| e.to_string())
    };
    Ok((count("conversions")?, count("clicks")?))
}
