//! The attacks of issue #10 section 4 for `bench/attack`: protocol upgrades, awaited bodies,
//! more slow bodies than threads, declared lengths tiny_http cannot handle, ambiguous framing,
//! thread exhaustion and wrong-token floods. Each returns what it holds and what it saw.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::support::{self, KEY};
use super::{Held, Target, answer_limit, open_many};

/// The server's gauge of requests on threads of their own, if it can be read.
fn slow_in_flight(addr: SocketAddr) -> Option<u64> {
    let r = support::request(addr, "GET", "/metrics", &[], b"", Duration::from_secs(2)).ok()?;
    let text = r.text();
    let line = text.lines().find(|l| l.starts_with("affiliated_slow_requests_in_flight "))?;
    line.rsplit(' ').next()?.parse().ok()
}

pub fn upgrade(t: &Target) -> Held {
    let raw = b"GET /r/aff-001 HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    open_many(t.addr, 40, raw, Some(Duration::from_secs(5)))
}

pub fn expect_continue(t: &Target) -> Held {
    let headers = "Content-Length: 10\r\nExpect: 100-continue\r\n\r\n";
    held_bodies(t, 64, headers)
}

pub fn slow_bodies_300(t: &Target) -> Held {
    held_bodies(t, 300, "Content-Length: 2000\r\n\r\n{\"exter")
}

/// `n` conversion POSTs ending with `rest` (the last headers and what is sent of the body), each
/// waiting for its final answer (a 100 Continue before it is skipped).
fn held_bodies(t: &Target, n: usize, rest: &str) -> Held {
    let raw = format!(
        "POST /api/v1/conversions HTTP/1.1\r\nHost: localhost\r\nX-Api-Key: {KEY}\r\n\
         Content-Type: application/json\r\n{rest}"
    );
    let mut held = open_many(t.addr, n, raw.as_bytes(), Some(answer_limit(t.timeout)));
    std::thread::sleep(Duration::from_millis(300));
    let in_use = slow_in_flight(t.addr).map_or("?".into(), |n| n.to_string());
    held.notes.push(format!("slow-body threads in use: {in_use}"));
    held
}

/// A conversion POST declaring `length` bytes that sends five.
fn declaring(length: &str) -> Vec<u8> {
    let head = "POST /api/v1/conversions HTTP/1.1\r\nHost: localhost\r\nX-Api-Key: ";
    format!("{head}{KEY}\r\nContent-Length: {length}\r\n\r\nhello").into_bytes()
}

pub fn max_length(t: &Target) -> Held {
    let raw = declaring("18446744073709551615");
    let mut held = Held::default();
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..300 {
        let status = raw_status(t.addr, &raw).unwrap_or_else(|e| e);
        *statuses.entry(status).or_insert(0) += 1;
    }
    let leaked = slow_in_flight(t.addr);
    held.notes.push(format!("answers {statuses:?}; slow-body threads in use afterwards: {leaked:?}"));
    if leaked != Some(0) {
        held.failure = Some(format!("slow-body slots leaked: {leaked:?}"));
    }
    held
}

pub fn pib_length(t: &Target) -> Held {
    let mut held = Held::default();
    let status = raw_status(t.addr, &declaring("1125899906842624")).unwrap_or_else(|e| e);
    held.notes.push(format!("answer {status}"));
    held
}

/// Sends `raw` on a fresh connection; the status of the answer and whether the server then
/// closed the connection, or what happened instead.
fn raw_status(addr: SocketAddr, raw: &[u8]) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| e.to_string())?;
    s.write_all(raw).map_err(|e| format!("write: {e}"))?;
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    let text = String::from_utf8_lossy(&got);
    let status = text.get(9..12).filter(|_| text.starts_with("HTTP/1.")).unwrap_or("none");
    let how = if closed { "closed" } else { "open" };
    Ok(format!("{status}/{how} {:.1}s", started.elapsed().as_secs_f64()))
}

pub fn framing(t: &Target) -> Held {
    let post = |headers: &str, body: &str| {
        format!("POST /api/v1/clicks HTTP/1.1\r\nHost: localhost\r\nX-Api-Key: {KEY}\r\n{headers}\r\n\r\n{body}")
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("cl+te", post("Content-Length: 5\r\nTransfer-Encoding: chunked", "0\r\n\r\n").into_bytes(), "400"),
        ("two-cl", post("Content-Length: 0\r\nContent-Length: 7", "").into_bytes(), "400"),
        ("cl-list", post("Content-Length: 0, 7", "").into_bytes(), "400"),
        ("te-gzip", post("Transfer-Encoding: gzip", "0\r\n\r\n").into_bytes(), "400"),
        ("cl>u64", post("Content-Length: 99999999999999999999999", "").into_bytes(), "413"),
        ("http/0.9", b"GET /healthz HTTP/0.9\r\nHost: x\r\n\r\n".to_vec(), "505"),
        ("http/2.0", b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(), "-"),
        ("non-ascii", b"GET /r/caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), "-"),
    ];
    let mut held = Held::default();
    let mut seen = Vec::new();
    let mut wrong = Vec::new();
    for (name, raw, want) in cases {
        let got = raw_status(t.addr, &raw).unwrap_or_else(|e| e);
        if want != "-" && !got.starts_with(&format!("{want}/closed")) {
            wrong.push(format!("{name} got {got}, want {want} and a close"));
        }
        seen.push(format!("{name} {got}"));
    }
    held.notes.push(seen.join(", "));
    if !wrong.is_empty() {
        held.failure = Some(wrong.join("; "));
    }
    held
}

/// A script that runs `bin` as nobody (root is exempt from the process limit), in `dir`, which
/// nobody may then write to.
pub fn as_nobody(bin: &Path, dir: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    if unsafe { libc::geteuid() } != 0 {
        return Ok(bin.to_path_buf());
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).map_err(|e| e.to_string())?;
    let script = dir.join("as-nobody.sh");
    let text =
        format!("#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups -- '{}' \"$@\"\n", bin.display());
    std::fs::write(&script, text).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    Ok(script)
}

pub fn nproc(t: &Target) -> Held {
    let mut held = Held::default();
    let threads = support::proc_status(t.pid, "Threads").unwrap_or(0);
    let mut limit = if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", "prlimit"]);
        c
    } else {
        Command::new("prlimit")
    };
    match limit.arg(format!("--pid={}", t.pid)).arg(format!("--nproc={threads}")).output() {
        Ok(out) if out.status.success() => held.notes.push(format!("process limit set to its {threads} threads")),
        Ok(out) => held.failure = Some(format!("prlimit: {}", String::from_utf8_lossy(&out.stderr).trim())),
        Err(e) => held.failure = Some(format!("prlimit: {e}")),
    }
    let mut more = open_many(t.addr, 16, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", None);
    held.sockets.append(&mut more.sockets);
    held
}

pub fn wrong_tokens(t: &Target) -> Held {
    let mut held = Held::default();
    let mut refused = 0;
    for i in 0..1000 {
        let path = format!("/postback?token=pbt_wrong_{i}&click_id=x&order_id=o{i}");
        if support::request(t.addr, "GET", &path, &[], b"", Duration::from_secs(2)).is_ok_and(|r| r.status == 401) {
            refused += 1;
        }
    }
    let log = std::fs::read_to_string(&t.log).unwrap_or_default();
    let lines = log.lines().filter(|l| l.contains("wrong token")).count();
    held.notes.push(format!("{refused} answered 401; {lines} log lines about wrong tokens"));
    if lines > 2 {
        held.failure = Some(format!("{lines} log lines for 1,000 wrong tokens"));
    }
    held
}
