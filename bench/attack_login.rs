//! The login flood of issue #21 for `bench/attack`: failed portal logins, each from an address
//! of its own (127.0.0.0/8 is the loopback network: any of its addresses can be a client's
//! source, so no proxy header is needed and the server sees distinct clients). No account is
//! needed, since an unknown referral code is checked against a dummy hash. The logins go out a
//! few at a time, as a patient attacker sends them, so that every one is evaluated (none is
//! turned away busy) and costs one Argon2id check of 19 MiB. Prints the server's resident memory
//! before and after; the attack fails when it grew by 100 MiB or more.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::support::{self, Resp};
use super::{Held, Target};

/// Logins in flight at once: the password gate's 2 running and 8 waiting.
const AT_ONCE: usize = 10;
/// The growth of RSS that fails the attack (the contract of issue #21).
const BOUND_MIB: f64 = 100.0;

pub fn flood_100(t: &Target) -> Held {
    flood(t, 100)
}

pub fn flood_320(t: &Target) -> Held {
    flood(t, 320)
}

/// The `n`-th client address: 127.0.1.0 onwards, never the server's own 127.0.0.1.
fn address(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1 + (n / 250) as u8, (n % 250) as u8 + 1))
}

fn flood(t: &Target, n: usize) -> Held {
    let mut held = Held::default();
    let mib = |pid| support::proc_status(pid, "VmRSS").map_or(f64::NAN, |kb| kb as f64 / 1024.0);
    let before = mib(t.pid);
    let started = Instant::now();
    let statuses = Mutex::new(std::collections::BTreeMap::<String, usize>::new());
    std::thread::scope(|scope| {
        for worker in 0..AT_ONCE {
            let statuses = &statuses;
            scope.spawn(move || {
                for i in (worker..n).step_by(AT_ONCE) {
                    let outcome = match failed_login(t.addr, address(i), i) {
                        Ok(r) => r.status.to_string(),
                        Err(e) => format!("error({e})"),
                    };
                    *statuses.lock().unwrap().entry(outcome).or_default() += 1;
                }
            });
        }
    });
    let took = started.elapsed();
    // Give the allocator a moment, as a reader of `top` would.
    std::thread::sleep(Duration::from_millis(500));
    let after = mib(t.pid);
    let peak = support::proc_status(t.pid, "VmHWM").map_or(f64::NAN, |kb| kb as f64 / 1024.0);
    let statuses: Vec<String> = statuses.into_inner().unwrap().iter().map(|(s, c)| format!("{s}x{c}")).collect();
    held.notes.push(format!(
        "{n} failed logins from {n} addresses in {:.1} s ({}); RSS before {before:.1} MiB, after {after:.1} MiB \
         (+{:.1}), peak {peak:.1} MiB",
        took.as_secs_f64(),
        statuses.join(" "),
        after - before
    ));
    if after - before >= BOUND_MIB || after.is_nan() {
        held.failure = Some(format!("RSS grew by {:.1} MiB (the bound is {BOUND_MIB} MiB)", after - before));
    }
    held
}

/// Opens the login form from `source` (for its form token) and posts a wrong password for the
/// unknown referral code `nobody-<i>`.
fn failed_login(server: SocketAddr, source: IpAddr, i: usize) -> std::io::Result<Resp> {
    let form = request_from(source, server, "GET", "/portal/login", &[], b"")?;
    let cookie = form
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .ok_or_else(|| std::io::Error::other(format!("no form cookie ({})", form.status)))?
        .to_string();
    let token = cookie.split_once('=').map(|(_, v)| v.to_string()).unwrap_or_default();
    let body = format!("csrf={token}&referral_code=nobody-{i}&password=not+the+password+{i}");
    let headers = [("Cookie", cookie.as_str()), ("Content-Type", "application/x-www-form-urlencoded")];
    request_from(source, server, "POST", "/portal/login", &headers, body.as_bytes())
}

/// One request on a fresh connection whose source address is `source`.
fn request_from(
    source: IpAddr,
    server: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let timeout = Duration::from_secs(30);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.connect_timeout(&server.into(), timeout)?;
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut all = headers.to_vec();
    all.push(("Connection", "close"));
    let mut raw = support::format_request(method, path, &server.to_string(), &all, b"");
    if !body.is_empty() {
        // format_request declares JSON for bodies; a form needs its own head.
        raw = format_form(method, path, &server.to_string(), &all, body);
    }
    stream.write_all(&raw)?;
    support::read_response(&mut stream, Instant::now() + timeout)
}

fn format_form(method: &str, path: &str, host: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}
