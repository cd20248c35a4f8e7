//! The scale benchmark's database: a merchant's books after a few busy years (issue #25).
//! `bench/scale` runs this once per size and keeps the file; it then measures every page, the
//! memory and the redirect latency on it (see bench/README.md).
//!
//! What it writes, and how:
//! - the setup through the API of the real server: 3 offers, `--affiliates` affiliates
//!   (`aff-0001`, …; 95% with a payout e-mail) and one coupon each (`SAVE-0001`, …);
//! - `--clicks` clicks over the last 60 days, written with the server stopped by the store's own
//!   click insert (`store::clicks::insert`, the writer's function: daily totals by trigger), the
//!   API being too slow for millions; `aff-0001` gets 20% of them, the last affiliate (the quiet
//!   one) none, the others a Zipf-like share;
//! - `--conversions` conversions through the API of the real server (`POST /api/v1/conversions`),
//!   half by a click of the last 25 days (each click once), half by coupon, so every ledger entry
//!   is written by the server's own code; the quiet affiliate gets 5 by coupon. Then through the
//!   API too: 50% approved, 5% rejected, claw-backs and partial refunds; after the first 30% of
//!   the conversions a payout run (`run_id` `scale-1`), every payout of it marked paid, and a
//!   few claw-backs of paid commission; the rest stays open for the run bench/scale measures.
//! - Finally the statements of the busy, the quiet and a few other affiliates are fetched and
//!   verified (`tracking::statement::verify`), and the server is stopped cleanly.
//!
//! ```text
//! cargo run --release --example scale -- --db /tmp/big.db [--clicks 2000000] [--conversions 200000]
//!     [--affiliates 1000] [--threads 16] [--seed 25] [--bin target/release/affiliated]
//! ```

#[path = "support.rs"]
mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use affiliated::store::writer::direct;
use affiliated::store::{self, clicks};
use support::{KEY, Resp, Rng, arg, arg_or, default_bin, format_request, read_response, spawn_server};

const HELP: &str = "\
scale: builds the scale benchmark's database (bench/scale calls it; see bench/README.md).

Usage: scale --db PATH [--clicks 2000000] [--conversions 200000] [--affiliates 1000]
             [--threads 16] [--seed 25] [--bin PATH]
";

const DAY: i64 = 86_400_000;

struct Plan {
    clicks: usize,
    conversions: usize,
    affiliates: usize,
    threads: usize,
    seed: u64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let Some(db) = arg(&args, "--db").map(PathBuf::from) else {
        eprint!("{HELP}");
        return ExitCode::from(2);
    };
    let plan = Plan {
        clicks: arg_or(&args, "--clicks", 2_000_000),
        conversions: arg_or(&args, "--conversions", 200_000),
        affiliates: arg_or(&args, "--affiliates", 1000usize).max(3),
        threads: arg_or(&args, "--threads", 16usize).max(1),
        seed: arg_or(&args, "--seed", 25),
    };
    let bin = arg(&args, "--bin").map(PathBuf::from).unwrap_or_else(default_bin);
    if db.exists() {
        eprintln!("scale: {} exists; bench/scale reuses it (delete it to build again)", db.display());
        return ExitCode::from(2);
    }
    match build(&bin, &db, &plan) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale: {e}");
            ExitCode::FAILURE
        }
    }
}

fn say(text: &str) {
    println!("{text}");
    let _ = std::io::stdout().flush();
}

fn code(i: usize) -> String {
    format!("aff-{:04}", i + 1)
}

/// Affiliate indices weighted: the first has 20% of the volume, the last (the quiet one) none,
/// the others a Zipf-like share (weight 1 / rank^0.8).
struct Weights {
    cumulative: Vec<f64>,
}

impl Weights {
    fn new(affiliates: usize) -> Weights {
        let others: Vec<f64> = (1..affiliates - 1).map(|k| 1.0 / (k as f64).powf(0.8)).collect();
        let total: f64 = others.iter().sum();
        let mut cumulative = vec![0.2];
        let mut sum = 0.2;
        for w in others {
            sum += 0.8 * w / total;
            cumulative.push(sum);
        }
        Weights { cumulative }
    }

    fn pick(&self, rng: &mut Rng) -> usize {
        let x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        self.cumulative.partition_point(|c| *c < x).min(self.cumulative.len() - 1)
    }
}

fn build(bin: &Path, db: &Path, plan: &Plan) -> Result<(), String> {
    let started = Instant::now();
    let log = db.with_extension("build.log");
    let serve_flags = ["--click-retention", "3650d", "--workers", "32"];
    let mut server = spawn_server(bin, db, "127.0.0.1:0", &serve_flags, &log)?;
    server.wait_healthy(Duration::from_secs(30))?;
    setup(server.addr, plan)?;
    stop(&mut server)?;
    say(&format!(
        "setup through the API: {} affiliates, 3 offers ({:.1} s)",
        plan.affiliates,
        started.elapsed().as_secs_f64()
    ));

    let t = Instant::now();
    let convertible = write_clicks(db, plan)?;
    say(&format!(
        "{} clicks through store::clicks::insert ({:.1} s); {} of the last 25 days kept for conversions",
        plan.clicks,
        t.elapsed().as_secs_f64(),
        convertible.len()
    ));

    let mut server = spawn_server(bin, db, "127.0.0.1:0", &serve_flags, &log)?;
    server.wait_healthy(Duration::from_secs(60))?;
    let addr = server.addr;
    let mut rng = Rng::new(plan.seed);
    let weights = Weights::new(plan.affiliates);
    let quiet = plan.affiliates - 1;
    let mut clicks = convertible.into_iter();
    // Phase A: the first 30% of the conversions, decided, a payout run, every payout paid.
    let first = plan.conversions * 3 / 10;
    let mut made = Vec::new();
    for (phase, range, quiet_ones) in [("A", 0..first, 3), ("B", first..plan.conversions, 2)] {
        let t = Instant::now();
        let mut jobs = Vec::new();
        for i in range.clone() {
            let amount = format!("{}.{:02}", rng.range(10, 299), rng.range(0, 99));
            let click = if i % 2 == 0 { clicks.next() } else { None };
            let by = match click {
                Some(click) => format!("\"click_id\":\"{click}\""),
                None => format!("\"coupon\":\"SAVE-{:04}\"", weights.pick(&mut rng) + 1),
            };
            jobs.push(post(
                "/api/v1/conversions",
                format!("{{\"external_id\":\"scale-{i}\",\"amount\":\"{amount}\",{by}}}"),
            ));
        }
        for k in 0..quiet_ones {
            let body = format!(
                "{{\"external_id\":\"quiet-{phase}{k}\",\"amount\":\"40.00\",\"coupon\":\"SAVE-{:04}\"}}",
                quiet + 1
            );
            jobs.push(post("/api/v1/conversions", body));
        }
        let ids = ids_of(&drive(addr, plan.threads, &jobs), 201, "conversions")?;
        say(&format!("phase {phase}: {} conversions through the API ({:.1} s)", ids.len(), t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let mut decisions = Vec::new();
        let mut refunds = Vec::new();
        for (n, id) in ids.iter().enumerate() {
            let roll = rng.range(0, 999);
            let quiet_one = n >= ids.len() - quiet_ones;
            if roll < 500 || (quiet_one && n % 2 == 0) {
                decisions.push(post(&format!("/api/v1/conversions/{id}/approve"), "{}".into()));
                if roll < 15 {
                    refunds.push(post(&format!("/api/v1/conversions/{id}/refund"), "{}".into()));
                }
            } else if roll < 550 {
                decisions.push(post(&format!("/api/v1/conversions/{id}/reject"), "{}".into()));
            } else if roll < 570 {
                let body = format!("{{\"amount\":\"5.00\",\"refund_id\":\"rf-{id}\"}}");
                refunds.push(post(&format!("/api/v1/conversions/{id}/refund"), body));
            }
        }
        check_all(&drive(addr, plan.threads, &decisions), 200, "decisions")?;
        check_all(&drive(addr, plan.threads, &refunds), 200, "refunds")?;
        say(&format!(
            "phase {phase}: {} decisions and {} refunds through the API ({:.1} s)",
            decisions.len(),
            refunds.len(),
            t.elapsed().as_secs_f64()
        ));
        made.extend(ids);
        if phase == "A" {
            payout_run(db, addr, plan, &made, &mut rng)?;
        }
    }
    verify_statements(addr, plan)?;
    stop(&mut server)?;
    say(&format!("built {} in {:.0} s", db.display(), started.elapsed().as_secs_f64()));
    Ok(())
}

/// The first payout run, every payout of it marked paid, then claw-backs of a few paid
/// commissions (negative entries for the next run).
fn payout_run(db: &Path, addr: SocketAddr, plan: &Plan, made: &[i64], rng: &mut Rng) -> Result<(), String> {
    let t = Instant::now();
    let run =
        drive(addr, 1, &[post("/api/v1/payouts", r#"{"currency":"USD","minimum":"0.01","run_id":"scale-1"}"#.into())]);
    check_all(&run, 201, "the payout run")?;
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    let payouts: Vec<i64> = conn
        .prepare("SELECT id FROM payouts WHERE status = 'pending' ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| e.to_string())?;
    let paid: Vec<Job> = payouts
        .iter()
        .map(|id| post(&format!("/api/v1/payouts/{id}/mark-paid"), format!("{{\"reference\":\"PP-{id}\"}}")))
        .collect();
    check_all(&drive(addr, plan.threads, &paid), 200, "mark-paid")?;
    let approved: Vec<i64> = conn
        .prepare("SELECT id FROM conversions WHERE status = 'approved' ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| e.to_string())?;
    let claw: Vec<Job> = approved
        .iter()
        .filter(|_| rng.range(0, 99) == 0)
        .map(|id| post(&format!("/api/v1/conversions/{id}/refund"), "{}".into()))
        .collect();
    check_all(&drive(addr, plan.threads, &claw), 200, "claw-backs")?;
    say(&format!(
        "payout run scale-1: {} payouts over {} conversions, all marked paid, {} paid commissions clawed back ({:.1} s)",
        payouts.len(),
        made.len(),
        claw.len(),
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// The statements of the busy, the quiet and a few other affiliates, verified as an affiliate
/// would (`tracking::statement::verify`): every chain the server wrote holds.
fn verify_statements(addr: SocketAddr, plan: &Plan) -> Result<(), String> {
    let mut picks = vec![0, plan.affiliates - 1, 1, plan.affiliates / 2, plan.affiliates - 2];
    picks.dedup();
    for i in picks {
        let t = Instant::now();
        let path = format!("/api/v1/affiliates/{}/statement", code(i));
        let r = drive(addr, 1, &[Job { method: "GET", path: path.clone(), body: String::new() }]);
        let Some(Ok(resp)) = r.into_iter().next() else { return Err(format!("GET {path}: no answer")) };
        if resp.status != 200 {
            return Err(format!("GET {path}: {} {}", resp.status, resp.text()));
        }
        let statement: affiliated::tracking::statement::Statement =
            serde_json::from_slice(&resp.body).map_err(|e| format!("GET {path}: {e}"))?;
        affiliated::tracking::statement::verify(&statement, None).map_err(|e| format!("{path}: {e:?}"))?;
        say(&format!(
            "statement of {} verified: {} entries, {} bytes ({:.0} ms)",
            code(i),
            statement.entries.len(),
            resp.body.len(),
            t.elapsed().as_secs_f64() * 1e3
        ));
    }
    Ok(())
}

fn stop(server: &mut support::Server) -> Result<(), String> {
    match server.terminate(Duration::from_secs(30)) {
        Some(status) if status.success() => Ok(()),
        other => Err(format!("the server did not stop cleanly: {other:?}")),
    }
}

fn setup(addr: SocketAddr, plan: &Plan) -> Result<(), String> {
    let mut jobs = vec![
        post("/api/v1/offers", r#"{"id":"main","name":"Trail Runner Shoes","landing_url":"https://shop.example/landing?aff={affiliate_id}","commission":{"type":"percent","value":"10"}}"#.into()),
        post("/api/v1/offers", r#"{"id":"trial","name":"Free Trial","landing_url":"https://shop.example/trial?offer={offer_id}&aff={affiliate_id}","commission":{"type":"flat","value":"5.00"}}"#.into()),
        post("/api/v1/offers", r#"{"id":"annual","name":"Annual Plan","landing_url":"https://shop.example/pricing/annual","commission":{"type":"percent","value":"25"}}"#.into()),
    ];
    check_all(&drive(addr, 1, &jobs), 201, "offers")?;
    jobs.clear();
    for i in 0..plan.affiliates {
        jobs.push(post(
            "/api/v1/affiliates",
            format!("{{\"referral_code\":\"{}\",\"name\":\"Affiliate {}\"}}", code(i), i + 1),
        ));
    }
    check_all(&drive(addr, plan.threads, &jobs), 201, "affiliates")?;
    let emails: Vec<Job> = (0..plan.affiliates)
        .filter(|i| i % 20 != 19)
        .map(|i| Job {
            method: "PATCH",
            path: format!("/api/v1/affiliates/{}", code(i)),
            body: format!("{{\"payout_email\":\"{}@pay.example\"}}", code(i)),
        })
        .collect();
    check_all(&drive(addr, plan.threads, &emails), 200, "payout e-mails")?;
    let coupons: Vec<Job> = (0..plan.affiliates)
        .map(|i| {
            post("/api/v1/coupons", format!("{{\"code\":\"SAVE-{:04}\",\"referral_code\":\"{}\"}}", i + 1, code(i)))
        })
        .collect();
    check_all(&drive(addr, plan.threads, &coupons), 201, "coupons")
}

/// Writes the clicks in time order with the store's click insert, 2,000 per transaction, with
/// the server stopped. Returns every 8th click ID of the last 25 days, shuffled.
fn write_clicks(db: &Path, plan: &Plan) -> Result<Vec<String>, String> {
    let conn = store::open_writer(db, store::Synchronous::Normal, 10_000)?;
    let ids: Vec<(String, i64)> = conn
        .prepare("SELECT referral_code, id FROM affiliates ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(|e| e.to_string())?;
    let offers: Vec<i64> = conn
        .prepare("SELECT id FROM offers ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| e.to_string())?;
    let affiliate_id =
        |i: usize| ids.iter().find(|(c, _)| *c == code(i)).map(|(_, id)| *id).ok_or("an affiliate is missing");
    let by_index: Vec<i64> = (0..plan.affiliates).map(affiliate_id).collect::<Result<_, _>>()?;
    let weights = Weights::new(plan.affiliates);
    let mut rng = Rng::new(plan.seed ^ 0x5eed);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let start = now - 60 * DAY;
    let span = 60 * DAY - 60_000;
    let convertible_from = now - 25 * DAY;
    let agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    ];
    let referrers = [
        None,
        Some("https://www.google.com/"),
        Some("https://www.reddit.com/r/running/comments/1c9x2k/which_shoes_for_a_first_marathon/"),
        Some("https://t.co/x8Kq2LmZpR"),
        Some("https://blog.trailnotes.example/reviews/2026/lightweight-trail-shoes"),
    ];
    let subs = [Some("spring_sale"), Some("newsletter"), Some("yt_review"), None, None, None, None];
    let mut convertible = Vec::new();
    let mut i = 0;
    while i < plan.clicks {
        let batch = 2000.min(plan.clicks - i);
        direct(&conn, |tx| -> Result<(), String> {
            for _ in 0..batch {
                let at = start + (i as i64 * span) / plan.clicks as i64;
                let who = weights.pick(&mut rng);
                let r = rng.next() as usize;
                let click = clicks::NewClick {
                    affiliate_id: by_index[who],
                    offer_id: offers[if r % 10 < 8 { 0 } else { 1 + r % (offers.len() - 1) }],
                    session_id: (i % 3 == 0).then(|| format!("sess-{i}")),
                    landing_url: None,
                    referrer: referrers[r % referrers.len()].map(str::to_string),
                    user_agent: Some(agents[(r >> 8) % agents.len()].to_string()),
                    ip: Some(format!("{}.{}.{}.0", (r >> 16) % 223 + 1, (r >> 24) % 256, (r >> 32) % 256)),
                    source: Some("link".into()),
                    subs: [
                        subs[(r >> 40) % subs.len()].map(str::to_string),
                        (i % 2 == 0).then(|| (i % 400).to_string()),
                        None,
                        None,
                        None,
                    ],
                    ..clicks::NewClick::default()
                };
                let id = clicks::new_id(at);
                clicks::insert(tx, &id, &click, at).map_err(|e| format!("inserting a click: {e:?}"))?;
                if at >= convertible_from && i % 8 == 0 {
                    convertible.push(id);
                }
                i += 1;
            }
            Ok(())
        })
        .map_err(|e| format!("{e:?}"))??;
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(|e| e.to_string())?;
    for k in (1..convertible.len()).rev() {
        convertible.swap(k, rng.range(0, k as u64) as usize);
    }
    Ok(convertible)
}

/// One request of a batch.
struct Job {
    method: &'static str,
    path: String,
    body: String,
}

fn post(path: &str, body: String) -> Job {
    Job { method: "POST", path: path.to_string(), body }
}

/// Sends every job over `threads` keep-alive connections (reconnecting after an error); the
/// answers come back in the jobs' order.
fn drive(addr: SocketAddr, threads: usize, jobs: &[Job]) -> Vec<std::io::Result<Resp>> {
    let next = AtomicUsize::new(0);
    let answers: Mutex<Vec<Option<std::io::Result<Resp>>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.min(jobs.len().max(1)) {
            scope.spawn(|| {
                let mut stream: Option<TcpStream> = None;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { return };
                    let answer = send(&mut stream, addr, job);
                    if answer.is_err() {
                        stream = None;
                    }
                    answers.lock().unwrap()[i] = Some(answer);
                }
            });
        }
    });
    answers.into_inner().unwrap().into_iter().map(|a| a.expect("every job was sent")).collect()
}

fn send(stream: &mut Option<TcpStream>, addr: SocketAddr, job: &Job) -> std::io::Result<Resp> {
    if stream.is_none() {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_millis(100)))?;
        s.set_nodelay(true)?;
        *stream = Some(s);
    }
    let s = stream.as_mut().expect("connected above");
    let headers = [("X-Api-Key", KEY)];
    s.write_all(&format_request(job.method, &job.path, &addr.to_string(), &headers, job.body.as_bytes()))?;
    read_response(s, Instant::now() + Duration::from_secs(120))
}

fn check_all(answers: &[std::io::Result<Resp>], status: u16, what: &str) -> Result<(), String> {
    for a in answers {
        match a {
            Ok(r) if r.status == status => {}
            Ok(r) => return Err(format!("{what}: {} {}", r.status, r.text())),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
    Ok(())
}

/// The `"id"` of each answer (a created conversion), in order.
fn ids_of(answers: &[std::io::Result<Resp>], status: u16, what: &str) -> Result<Vec<i64>, String> {
    check_all(answers, status, what)?;
    answers
        .iter()
        .map(|a| {
            let text = a.as_ref().map(Resp::text).unwrap_or_default();
            text.strip_prefix("{\"id\":")
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("{what}: no id in {text}"))
        })
        .collect()
}
