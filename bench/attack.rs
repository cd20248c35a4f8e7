//! Slow and malformed clients against the bare binary (no reverse proxy in front).
//!
//! Each attack gets a fresh server and database. The attack is started and held open; then
//! `/healthz` must answer 200 within 1 s while it is under way, again once the server's socket
//! timeout has passed, and again after the attacker lets go. The only other acceptable outcome
//! is a process that exited non-zero (a service manager restarts it); a live process whose
//! listener no longer answers is a failure. One result line per attack.
//!
//! ```text
//! bench/attack            # raises the open-file limit, builds, runs every attack
//! attack --bin target/release/affiliated [--socket-timeout 15] [--only idle-5000] [--dir DIR]
//! ```

#[path = "support.rs"]
mod support;

#[path = "attack_hostile.rs"]
mod hostile;

#[path = "attack_login.rs"]
mod login;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use support::{KEY, Resp, Server, arg, default_bin, healthz, open_fds, proc_status, request, spawn_server};

const HELP: &str = "\
attack: slow and malformed clients against the bare binary; /healthz must keep answering.

Usage: attack [--bin PATH] [--socket-timeout SECONDS] [--only NAME] [--dir DIR]
Attacks: idle-5000 half-header-800 short-body short-body-64 huge-length crlf-in-parameters
         upgrade-40 expect-continue-64 slow-body-300 max-length-300 pib-length framing nproc
         wrong-tokens-1000 login-flood-100 login-flood-320
Raise the open-file limit first (`ulimit -n 65536`; bench/attack does).
";

/// How long the health probe may take.
const PROBE: Duration = Duration::from_secs(1);

/// What an attack leaves behind: the sockets it holds and what it observed while starting.
#[derive(Default)]
struct Held {
    sockets: Vec<TcpStream>,
    /// Threads that each wait on one attacking connection for its answer: (status, when).
    waiters: Vec<JoinHandle<Option<(u16, Duration)>>>,
    notes: Vec<String>,
    /// A hard failure the attack itself detected (e.g. an injected header).
    failure: Option<String>,
}

struct Attack {
    name: &'static str,
    what: &'static str,
    start: fn(&Target) -> Held,
    /// Run the server as an unprivileged user (root is exempt from process limits).
    as_nobody: bool,
}

/// The server under attack.
struct Target {
    addr: SocketAddr,
    /// The server's socket timeout.
    timeout: Duration,
    pid: u32,
    /// The server's log file.
    log: PathBuf,
}

const ATTACKS: &[Attack] = &[
    Attack { name: "idle-5000", what: "5,000 connections that send nothing", start: idle, as_nobody: false },
    Attack {
        name: "half-header-800",
        what: "800 connections that each send half a request header",
        start: half_header,
        as_nobody: false,
    },
    Attack {
        name: "short-body",
        what: "a POST declaring 2,000 bytes that sends 10",
        start: short_body_one,
        as_nobody: false,
    },
    Attack {
        name: "short-body-64",
        what: "64 such POSTs at once (more than the 32 default workers)",
        start: short_body_many,
        as_nobody: false,
    },
    Attack {
        name: "huge-length",
        what: "a POST declaring Content-Length: 1099511627776 that sends 5 bytes",
        start: huge_length,
        as_nobody: false,
    },
    Attack {
        name: "crlf-in-parameters",
        what: "CR/LF and control bytes in every parameter that reaches a header",
        start: crlf,
        as_nobody: false,
    },
    Attack {
        name: "upgrade-40",
        what: "40 Connection: Upgrade requests held open",
        start: hostile::upgrade,
        as_nobody: false,
    },
    Attack {
        name: "expect-continue-64",
        what: "64 POSTs with Expect: 100-continue whose 10-byte body never comes",
        start: hostile::expect_continue,
        as_nobody: false,
    },
    Attack {
        name: "slow-body-300",
        what: "300 POSTs declaring 2,000 bytes that send 8 (more than the 256 slow-body threads)",
        start: hostile::slow_bodies_300,
        as_nobody: false,
    },
    Attack {
        name: "max-length-300",
        what: "300 POSTs declaring Content-Length: 18446744073709551615",
        start: hostile::max_length,
        as_nobody: false,
    },
    Attack {
        name: "pib-length",
        what: "a POST declaring Content-Length: 1125899906842624 (2^50) that sends 5 bytes",
        start: hostile::pib_length,
        as_nobody: false,
    },
    Attack {
        name: "framing",
        what: "ambiguous framing, other HTTP versions, raw non-ASCII targets",
        start: hostile::framing,
        as_nobody: false,
    },
    Attack {
        name: "nproc",
        what: "a process limit at the server's thread count, then 16 connections",
        start: hostile::nproc,
        as_nobody: true,
    },
    Attack {
        name: "wrong-tokens-1000",
        what: "1,000 postbacks with wrong tokens",
        start: hostile::wrong_tokens,
        as_nobody: false,
    },
    Attack {
        name: "login-flood-100",
        what: "100 failed portal logins from 100 addresses, 10 at a time (RSS must grow < 100 MiB)",
        start: login::flood_100,
        as_nobody: false,
    },
    Attack {
        name: "login-flood-320",
        what: "320 failed portal logins from 320 addresses, 10 at a time (RSS must grow < 100 MiB)",
        start: login::flood_320,
        as_nobody: false,
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let bin = arg(&args, "--bin").map(PathBuf::from).unwrap_or_else(default_bin);
    let dir = arg(&args, "--dir").map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("affiliated-attack"));
    let timeout: Option<u64> = arg(&args, "--socket-timeout").map(|v| {
        v.trim_end_matches('s').parse().unwrap_or_else(|_| {
            eprintln!("--socket-timeout takes whole seconds, not {v:?}");
            std::process::exit(2)
        })
    });
    let only = arg(&args, "--only");
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("creating {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    // The server's default socket timeout is 15 s (`affiliated serve --help`).
    let socket_timeout = Duration::from_secs(timeout.unwrap_or(15));
    println!(
        "attacks against {} (socket timeout {} s{}), probe limit {} ms",
        bin.display(),
        socket_timeout.as_secs(),
        if timeout.is_none() { ", the default" } else { "" },
        PROBE.as_millis()
    );
    let mut failed = 0;
    for attack in ATTACKS.iter().filter(|a| only.as_deref().is_none_or(|o| o == a.name)) {
        let line = match run_one(&bin, &dir, attack, timeout, socket_timeout) {
            Ok((true, line)) => format!("PASS {line}"),
            Ok((false, line)) => {
                failed += 1;
                format!("FAIL {line}")
            }
            Err(e) => {
                failed += 1;
                format!("FAIL could not run: {e}")
            }
        };
        println!("attack {:<19} {line}", attack.name);
    }
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn run_one(
    bin: &Path,
    dir: &Path,
    attack: &Attack,
    timeout: Option<u64>,
    socket_timeout: Duration,
) -> Result<(bool, String), String> {
    let db = dir.join(format!("{}.db", attack.name));
    let log = dir.join(format!("{}.log", attack.name));
    let flag = timeout.map(|t| format!("{t}s"));
    let extra: Vec<&str> = flag.as_deref().map(|t| vec!["--socket-timeout", t]).unwrap_or_default();
    let wrapped = if attack.as_nobody { hostile::as_nobody(bin, dir)? } else { bin.to_path_buf() };
    let mut server = spawn_server(&wrapped, &db, "127.0.0.1:0", &extra, &log)?;
    server.wait_healthy(Duration::from_secs(20))?;
    setup(server.addr)?;
    let pid = server.pid();

    let started = Instant::now();
    let target = Target { addr: server.addr, timeout: socket_timeout, pid, log: log.clone() };
    let mut held = (attack.start)(&target);
    let launch = started.elapsed();
    thread::sleep(Duration::from_millis(500));
    let load = figures(pid);
    let during = check(&mut server);
    // Long enough for the server's socket timeout to cut every stalled connection.
    let hold_until = started + socket_timeout + Duration::from_secs(3);
    while Instant::now() < hold_until && server.exited().is_none() {
        thread::sleep(Duration::from_millis(100));
    }
    let cut = cut_by_server(&mut held.sockets);
    let after_timeout = check(&mut server);
    let attempted = held.sockets.len();
    drop(held.sockets);
    let answers = answers(std::mem::take(&mut held.waiters));
    thread::sleep(Duration::from_millis(500));
    let after_close = check(&mut server);
    let exit = server.exited();
    if exit.is_none() {
        server.terminate(Duration::from_secs(10));
    }

    let mut line = format!(
        "{}: during={} after-timeout={} after-close={}; {load}; launch {:.1} s",
        attack.what,
        during.text(),
        after_timeout.text(),
        after_close.text(),
        launch.as_secs_f64()
    );
    if attempted > 0 {
        line.push_str(&format!(
            "; server closed {cut}/{attempted} held connections within {:.0} s",
            socket_timeout.as_secs_f64() + 3.0
        ));
    }
    if let Some(a) = answers {
        line.push_str(&format!("; {a}"));
    }
    for note in &held.notes {
        line.push_str(&format!("; {note}"));
    }
    let pass = match exit {
        // A crash that a service manager restarts is acceptable; a clean exit is not.
        Some(status) if !status.success() => {
            line.push_str(&format!("; process exited {status} (restart expected)"));
            held.failure.is_none()
        }
        Some(status) => {
            line.push_str(&format!("; process exited {status} on its own"));
            false
        }
        None => during.ok() && after_timeout.ok() && after_close.ok() && held.failure.is_none(),
    };
    if let Some(f) = held.failure {
        line.push_str(&format!("; {f}"));
    }
    Ok((pass, line))
}

/// One health probe, or the exit status of a process that is gone.
enum Probe {
    Healthy(Duration),
    Unhealthy(String),
    Exited(String),
}

impl Probe {
    fn ok(&self) -> bool {
        matches!(self, Probe::Healthy(_))
    }

    fn text(&self) -> String {
        match self {
            Probe::Healthy(d) => format!("{:.1}ms", d.as_secs_f64() * 1e3),
            Probe::Unhealthy(why) => format!("NO({why})"),
            Probe::Exited(status) => format!("EXITED({status})"),
        }
    }
}

fn check(server: &mut Server) -> Probe {
    if let Some(status) = server.exited() {
        return Probe::Exited(status.to_string());
    }
    match healthz(server.addr, PROBE) {
        Ok(d) => Probe::Healthy(d),
        Err(why) => match server.exited() {
            Some(status) => Probe::Exited(status.to_string()),
            None => Probe::Unhealthy(why),
        },
    }
}

/// Waits for the answer threads and sums them up: statuses and the latest answer.
fn answers(waiters: Vec<JoinHandle<Option<(u16, Duration)>>>) -> Option<String> {
    if waiters.is_empty() {
        return None;
    }
    let n = waiters.len();
    let got: Vec<(u16, Duration)> = waiters.into_iter().filter_map(|w| w.join().ok().flatten()).collect();
    let mut statuses = std::collections::BTreeMap::new();
    for (status, _) in &got {
        *statuses.entry(*status).or_insert(0) += 1;
    }
    let statuses: Vec<String> = statuses.iter().map(|(s, c)| format!("{s}x{c}")).collect();
    let first = got.iter().map(|(_, d)| *d).min().unwrap_or_default();
    let last = got.iter().map(|(_, d)| *d).max().unwrap_or_default();
    Some(format!(
        "the attacking requests got {} answers of {n} ({}), first after {:.1} s, last after {:.1} s",
        got.len(),
        if statuses.is_empty() { "none".to_string() } else { statuses.join(" ") },
        first.as_secs_f64(),
        last.as_secs_f64()
    ))
}

/// Threads, descriptors and memory of the server while the attack holds.
fn figures(pid: u32) -> String {
    let mib = |kb: Option<u64>| kb.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0));
    format!(
        "server under attack: {} threads, {} fds, RSS {} MiB",
        proc_status(pid, "Threads").map_or("?".into(), |t| t.to_string()),
        open_fds(pid).map_or("?".into(), |f| f.to_string()),
        mib(proc_status(pid, "VmRSS"))
    )
}

/// How many held sockets the server has closed (or answered and closed).
fn cut_by_server(sockets: &mut [TcpStream]) -> usize {
    let mut cut = 0;
    let mut buf = [0u8; 1024];
    for s in sockets.iter_mut() {
        let _ = s.set_nonblocking(true);
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    cut += 1;
                    break;
                }
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    cut += 1;
                    break;
                }
            }
        }
    }
    cut
}

/// An affiliate and a default offer whose landing URL uses every macro.
fn setup(addr: SocketAddr) -> Result<(), String> {
    for (path, body) in [
        ("/api/v1/affiliates", r#"{"referral_code":"aff-001","name":"Attack Test"}"#),
        (
            "/api/v1/offers",
            r#"{"id":"main","name":"Main","landing_url":"https://shop.example/landing?aff={affiliate_id}&o={offer_id}&c={click_id}","commission":{"type":"percent","value":"10"}}"#,
        ),
    ] {
        let r = support::api_post(addr, path, body).map_err(|e| format!("setup {path}: {e}"))?;
        if r.status != 201 {
            return Err(format!("setup {path}: {} {}", r.status, r.text()));
        }
    }
    Ok(())
}

/// Opens `n` connections and writes `first` on each; counts the connects that failed. With
/// `answer_within`, each connection is handed to a thread that waits that long for an answer.
fn open_many(addr: SocketAddr, n: usize, first: &[u8], answer_within: Option<Duration>) -> Held {
    let mut held = Held::default();
    let mut failed = 0;
    let mut first_error = None;
    for _ in 0..n {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(mut s) => {
                if !first.is_empty() {
                    let _ = s.write_all(first);
                }
                match answer_within {
                    Some(limit) => held.waiters.push(wait_for_answer(s, limit)),
                    None => held.sockets.push(s),
                }
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    if failed > 0 {
        held.notes.push(format!(
            "{failed} of {n} connects failed on the attacker's side ({})",
            first_error.unwrap_or_default()
        ));
    }
    held
}

fn wait_for_answer(mut s: TcpStream, limit: Duration) -> JoinHandle<Option<(u16, Duration)>> {
    let started = Instant::now();
    thread::spawn(move || {
        s.set_read_timeout(Some(Duration::from_millis(100))).ok()?;
        // Interim answers (100 Continue) come before the final one.
        loop {
            let r = support::read_response(&mut s, started + limit).ok()?;
            if r.status >= 200 {
                return Some((r.status, started.elapsed()));
            }
        }
    })
}

fn idle(t: &Target) -> Held {
    let (addr, _timeout) = (t.addr, t.timeout);
    open_many(addr, 5000, b"", None)
}

fn half_header(t: &Target) -> Held {
    let (addr, _timeout) = (t.addr, t.timeout);
    open_many(addr, 800, b"GET /r/aff-001?sub1=slow HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/5.0 (sl", None)
}

fn short_body_request() -> Vec<u8> {
    format!(
        "POST /api/v1/conversions HTTP/1.1\r\nHost: localhost\r\nX-Api-Key: {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 2000\r\n\r\n{{\"extern"
    )
    .into_bytes()
}

/// How long an attacking request may take to be answered: the server reads a stalled body
/// until its socket timeout, and may then discard the rest for up to another one.
fn answer_limit(timeout: Duration) -> Duration {
    timeout * 2 + Duration::from_secs(5)
}

fn short_body_one(t: &Target) -> Held {
    let (addr, timeout) = (t.addr, t.timeout);
    open_many(addr, 1, &short_body_request(), Some(answer_limit(timeout)))
}

fn short_body_many(t: &Target) -> Held {
    let (addr, timeout) = (t.addr, t.timeout);
    open_many(addr, 64, &short_body_request(), Some(answer_limit(timeout)))
}

fn huge_length(t: &Target) -> Held {
    let (addr, timeout) = (t.addr, t.timeout);
    let raw = format!(
        "POST /api/v1/conversions HTTP/1.1\r\nHost: localhost\r\nX-Api-Key: {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 1099511627776\r\n\r\nhello"
    );
    open_many(addr, 1, raw.as_bytes(), Some(answer_limit(timeout)))
}

/// Values that would split a header or smuggle one in if they reached it unencoded.
const NASTY: &[&str] = &[
    "%0d%0aX-Injected:%20yes",
    "%0aSet-Cookie:%20session=stolen",
    "%0d%0a%0d%0a<html>body</html>",
    "a%00b",
    "%1b[31mred%1b[0m",
    "%7f%08%09%0b%0c",
    "%e2%80%a8line-separator",
    "%c0%8a",
];

fn crlf(t: &Target) -> Held {
    let (addr, _timeout) = (t.addr, t.timeout);
    let mut held = Held::default();
    let mut targets: Vec<(&str, String)> = Vec::new();
    for v in NASTY {
        targets.push(("GET", format!("/r/{v}")));
        targets.push(("GET", format!("/r/aff-001{v}")));
        targets.push(("HEAD", format!("/r/{v}?offer={v}")));
        targets.push(("GET", format!("/r/aff-001?offer={v}&sub1={v}&sub2={v}&sub3={v}&sub4={v}&sub5={v}&source={v}")));
        targets.push(("GET", format!("/r/aff-001?offer=main&sub1={v}")));
    }
    let mut problems = Vec::new();
    let mut statuses = std::collections::BTreeMap::new();
    let mut click_ids = Vec::new();
    for (method, path) in &targets {
        let headers = [("User-Agent", "Mozilla/5.0 (attack)"), ("Referer", "https://blog.example/a")];
        match request(addr, method, path, &headers, b"", Duration::from_secs(5)) {
            Ok(r) => {
                *statuses.entry(r.status).or_insert(0) += 1;
                if let Some(p) = header_problem(&r) {
                    problems.push(format!("{method} {path}: {p}"));
                }
                if let Some(id) = r.header("Location").and_then(|l| l.split("c=").nth(1)) {
                    let id = id.split('&').next().unwrap_or("");
                    if !id.is_empty() {
                        click_ids.push(id.to_string());
                    }
                }
            }
            Err(e) => problems.push(format!("{method} {path}: no response ({e})")),
        }
    }
    // Raw control bytes in the request line and in headers that are stored (not percent-encoded).
    for raw in [
        &b"GET /r/aff-001?sub1=a\x01b\x7fc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..],
        b"GET /r/aff-001 HTTP/1.1\r\nHost: x\r\nUser-Agent: evil\x1b[2J\x00agent\r\nReferer: https://x.example/\x07\r\nConnection: close\r\n\r\n",
    ] {
        match raw_request(addr, raw) {
            Ok(r) => {
                *statuses.entry(r.status).or_insert(0) += 1;
                if let Some(p) = header_problem(&r) {
                    problems.push(format!("raw request: {p}"));
                }
            }
            Err(e) => held.notes.push(format!("raw control-byte request got no response ({e})")),
        }
    }
    // What was stored for the clicks made: no control characters may come back out.
    let mut stored_bad = 0;
    for id in &click_ids {
        if let Ok(r) = request(addr, "GET", &format!("/api/v1/clicks/{id}"), &[("X-Api-Key", KEY)], b"", PROBE) {
            let body = r.text();
            if ["\\r", "\\n", "\\u0000", "\\u001b", "\\u007f", "\\b", "\\f"].iter().any(|esc| body.contains(esc)) {
                stored_bad += 1;
            }
        }
    }
    let statuses: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}x{n}")).collect();
    held.notes.push(format!(
        "{} requests, statuses {}; {} clicks stored, {stored_bad} with control characters",
        targets.len() + 2,
        statuses.join(" "),
        click_ids.len()
    ));
    if !problems.is_empty() || stored_bad > 0 {
        held.failure = Some(format!(
            "{} responses with unsafe headers (first: {})",
            problems.len(),
            problems.first().map_or("-", |p| p.as_str())
        ));
    }
    held
}

fn raw_request(addr: SocketAddr, raw: &[u8]) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, PROBE)?;
    s.set_read_timeout(Some(Duration::from_millis(50)))?;
    s.write_all(raw)?;
    support::read_response(&mut s, Instant::now() + Duration::from_secs(5))
}

/// Why a response's header block is unsafe: a byte outside printable ASCII and tab, or a header
/// that only an injection could have produced.
fn header_problem(r: &Resp) -> Option<String> {
    let head = &r.head[..r.head.len().saturating_sub(4)];
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(b) = line.iter().find(|&&b| !(b == b'\t' || (0x20..0x7f).contains(&b))) {
            return Some(format!("byte 0x{b:02x} in header line {:?}", String::from_utf8_lossy(line)));
        }
    }
    for (name, _) in &r.headers {
        let n = name.to_ascii_lowercase();
        if n == "x-injected" || n == "set-cookie" || n.starts_with('<') {
            return Some(format!("injected header {name:?}"));
        }
    }
    if let Some(l) = r.header("Location")
        && !l.starts_with("https://shop.example/")
    {
        return Some(format!("Location leaves the offer's host: {l:?}"));
    }
    None
}
