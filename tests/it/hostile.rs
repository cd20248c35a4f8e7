//! Hostile HTTP against the bare binary, over raw sockets: nothing a client sends may hold a
//! request worker, smuggle a request past a refused one, or leak the server's resources.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{KEY, Server, eventually};

/// What came back on a connection: every byte until the server closed it, and whether it did
/// (within `wait`).
struct Exchange {
    bytes: Vec<u8>,
    closed: bool,
}

impl Exchange {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    fn status(&self) -> Option<u16> {
        self.text().strip_prefix("HTTP/1.1 ").and_then(|t| t.get(..3)).and_then(|s| s.parse().ok())
    }

    /// How many responses came back (status lines).
    fn answers(&self) -> usize {
        self.text().matches("HTTP/1.").count()
    }
}

fn send_raw(addr: SocketAddr, raw: &[u8], wait: Duration) -> Exchange {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(raw).unwrap();
    read_all(&mut stream, wait)
}

fn read_all(stream: &mut TcpStream, wait: Duration) -> Exchange {
    let until = Instant::now() + wait;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Exchange { bytes, closed: false };
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Exchange { bytes, closed: true },
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Exchange { bytes, closed: false };
            }
            Err(_) => return Exchange { bytes, closed: true },
        }
    }
}

/// `/healthz` answers 200 within a second.
fn assert_prompt_health(s: &Server, after: &str) {
    let started = Instant::now();
    let r = s.get_public("/healthz");
    assert_eq!(r.status, 200, "after {after}: {}", r.text());
    assert!(started.elapsed() < Duration::from_secs(1), "after {after}: /healthz took {:?}", started.elapsed());
}

/// The server's gauge of requests on threads of their own.
fn slow_in_flight(s: &Server) -> u64 {
    let text = s.get_public("/metrics").text();
    let line = text.lines().find(|l| l.starts_with("affiliated_slow_requests_in_flight ")).unwrap_or_else(|| {
        panic!("no affiliated_slow_requests_in_flight in /metrics:\n{text}");
    });
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn upgrade_requests_are_refused_and_closed_without_holding_a_worker() {
    let s = Server::start_with(&["--workers", "4", "--socket-timeout", "15s"], &[]);
    let upgrade = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    // Ten times the workers, all held open by the clients.
    let mut held: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut stream = TcpStream::connect(s.addr).unwrap();
            stream.write_all(upgrade).unwrap();
            stream
        })
        .collect();
    assert_prompt_health(&s, "40 upgrade requests");
    for stream in &mut held {
        let got = read_all(stream, Duration::from_secs(5));
        assert_eq!(got.status(), Some(400), "{}", got.text());
        assert!(got.text().contains("upgrade_not_supported"), "{}", got.text());
        assert!(got.closed, "the connection stayed open after the refusal: {}", got.text());
    }
    // An Upgrade header alone (h2c) is refused too, with a body that is never read.
    let h2c = b"POST /api/v1/clicks HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nContent-Length: 5000\r\n\r\n{";
    let got = send_raw(s.addr, h2c, Duration::from_secs(5));
    assert_eq!(got.status(), Some(400), "{}", got.text());
    assert!(got.closed, "{}", got.text());
    assert_prompt_health(&s, "an h2c upgrade");
}

#[test]
fn an_awaited_body_that_never_comes_does_not_hold_a_worker() {
    let s = Server::start_with(&["--workers", "4", "--socket-timeout", "3s"], &[]);
    let head = format!(
        "POST /api/v1/conversions HTTP/1.1\r\nHost: x\r\nX-Api-Key: {KEY}\r\nContent-Type: application/json\r\n\
         Content-Length: 10\r\nExpect: 100-continue\r\n\r\n"
    );
    let held: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut stream = TcpStream::connect(s.addr).unwrap();
            stream.write_all(head.as_bytes()).unwrap();
            stream
        })
        .collect();
    assert!(eventually(Duration::from_secs(5), || slow_in_flight(&s) == 20), "{}", slow_in_flight(&s));
    for _ in 0..3 {
        assert_prompt_health(&s, "20 awaited bodies");
    }
    drop(held);
    // The threads end when the clients go (or the socket times out), and give their slots back.
    assert!(eventually(Duration::from_secs(10), || slow_in_flight(&s) == 0), "{}", slow_in_flight(&s));
    // A client that does send its body after `100 Continue` is served.
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream.write_all(head.replace("Content-Length: 10", "Content-Length: 2").as_bytes()).unwrap();
    let mut interim = [0u8; 12];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100");
    stream.write_all(b"{}").unwrap();
    let got = read_all(&mut stream, Duration::from_secs(5));
    assert!(got.text().contains("HTTP/1.1 400") && got.text().contains("missing_external_id"), "{}", got.text());
}

#[test]
fn beyond_256_slow_bodies_the_answer_is_503_with_retry_after() {
    let s = Server::start_with(&["--workers", "4", "--socket-timeout", "10s"], &[]);
    let slow = format!(
        "POST /api/v1/conversions HTTP/1.1\r\nHost: x\r\nX-Api-Key: {KEY}\r\nContent-Type: application/json\r\n\
         Content-Length: 2000\r\n\r\n{{\"extern"
    );
    let held: Vec<TcpStream> = (0..256)
        .map(|_| {
            let mut stream = TcpStream::connect(s.addr).unwrap();
            stream.write_all(slow.as_bytes()).unwrap();
            stream
        })
        .collect();
    assert!(eventually(Duration::from_secs(10), || slow_in_flight(&s) == 256), "{}", slow_in_flight(&s));
    // More slow bodies than workers: every one is refused at once and its connection closed.
    for _ in 0..8 {
        let got = send_raw(s.addr, slow.as_bytes(), Duration::from_secs(5));
        assert_eq!(got.status(), Some(503), "{}", got.text());
        assert!(got.text().contains("\r\nRetry-After: "), "{}", got.text());
        assert!(got.closed, "{}", got.text());
    }
    assert_prompt_health(&s, "256 slow bodies and 8 more");
    drop(held);
    assert!(eventually(Duration::from_secs(15), || slow_in_flight(&s) == 0), "{}", slow_in_flight(&s));
}

#[test]
fn absurd_lengths_are_refused_up_front_and_leak_nothing() {
    let mut s = Server::start_with(&["--workers", "4"], &[]);
    for length in ["18446744073709551615", "9223372036854775808", "1073741824", "1099511627776"] {
        for _ in 0..(if length.starts_with("18446") { 300 } else { 5 }) {
            // The head alone: the connection is closed without reading on, and body bytes left
            // unread at close make the kernel reset it, which may discard the answer before a
            // slow client reads it (seen under the full suite's load).
            let raw = format!(
                "POST /api/v1/conversions HTTP/1.1\r\nHost: x\r\nX-Api-Key: {KEY}\r\nContent-Length: {length}\r\n\r\n"
            );
            let got = send_raw(s.addr, raw.as_bytes(), Duration::from_secs(5));
            assert_eq!(got.status(), Some(413), "{length}: {}", got.text());
            assert!(got.closed, "{length}: the connection stayed open");
        }
    }
    assert!(s.alive(), "{}", s.log_text());
    assert!(eventually(Duration::from_secs(5), || slow_in_flight(&s) == 0), "{}", slow_in_flight(&s));
    // A real body larger than what tiny_http buffers is still read off the workers, not refused.
    let body = json!({"referral_code": "ann", "name": "x".repeat(2000)}).to_string();
    let r = s.post_raw("/api/v1/affiliates", &[("X-Api-Key", KEY)], body.as_bytes());
    r.assert_error(400, "invalid_name");
    assert!(!s.log_text().contains("panicked"), "{}", s.log_text());
    assert_prompt_health(&s, "absurd lengths");
}

#[test]
fn ambiguous_framing_is_refused_and_the_connection_closed() {
    let s = Server::start_with(&["--workers", "4"], &[]);
    // Each one carries a second request that would create an affiliate if it were ever read.
    let smuggled = |code: &str| {
        let body = format!(r#"{{"referral_code":"{code}","name":"Smuggled"}}"#);
        format!(
            "POST /api/v1/affiliates HTTP/1.1\r\nHost: x\r\nX-Api-Key: {KEY}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let framing = (400, "invalid_framing");
    let cases = [
        ("cl-and-te", "Content-Length: 5\r\nTransfer-Encoding: chunked", "0\r\n\r\n", framing),
        ("te-and-cl", "Transfer-Encoding: chunked\r\nContent-Length: 40", "0\r\n\r\n", framing),
        ("two-lengths", "Content-Length: 0\r\nContent-Length: 7", "", framing),
        ("length-list", "Content-Length: 0, 7", "", framing),
        ("plus-length", "Content-Length: +0", "", framing),
        ("gzip", "Transfer-Encoding: gzip", "0\r\n\r\n", framing),
        ("gzip-chunked", "Transfer-Encoding: gzip, chunked", "0\r\n\r\n", framing),
        // tiny_http reads a length beyond 64 bits as "no body", and the body as the next request.
        ("beyond-64-bits", "Content-Length: 184467440737095516160", "", (413, "payload_too_large")),
    ];
    for (name, headers, body, (status, code)) in cases {
        let raw = format!(
            "POST /api/v1/clicks HTTP/1.1\r\nHost: x\r\nX-Api-Key: {KEY}\r\n{headers}\r\n\r\n{body}{}",
            smuggled(name)
        );
        let got = send_raw(s.addr, raw.as_bytes(), Duration::from_secs(5));
        assert_eq!(got.status(), Some(status), "{name}: {}", got.text());
        assert!(got.text().contains(code), "{name}: {}", got.text());
        assert!(got.closed, "{name}: the connection stayed open");
        assert_eq!(got.answers(), 1, "{name}: {}", got.text());
    }
    // Chunked framing on HTTP/1.0 is faulty by definition (RFC 9112 section 6.1).
    let raw = b"POST /api/v1/clicks HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let got = send_raw(s.addr, raw, Duration::from_secs(5));
    assert!(got.text().contains(" 400 ") && got.text().contains("invalid_framing"), "{}", got.text());
    let list = s.get("/api/v1/affiliates").json();
    assert_eq!(list["data"], json!([]), "a smuggled request was served: {list}");
    assert_prompt_health(&s, "ambiguous framing");
}

#[test]
fn only_http_1_0_and_1_1_are_served() {
    let s = Server::start();
    let got = send_raw(s.addr, b"GET /healthz HTTP/0.9\r\nHost: x\r\n\r\n", Duration::from_secs(5));
    assert_eq!(got.status(), Some(505), "{}", got.text());
    assert!(got.closed);
    for ok in ["HTTP/1.0", "HTTP/1.1"] {
        let raw = format!("GET /healthz {ok}\r\nHost: x\r\nConnection: close\r\n\r\n");
        let got = send_raw(s.addr, raw.as_bytes(), Duration::from_secs(5));
        assert!(got.text().contains(" 200 OK\r\n"), "{ok}: {}", got.text());
    }
}

/// The threads of process `pid` (`Threads:` in its status).
fn threads_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|n| n.trim().parse().ok())
}

#[test]
fn a_dead_listener_ends_the_process_with_a_failure() {
    use crate::systemd::{find_tool, skip};
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    // A process limit below what the connections need makes tiny_http's accept thread die when it
    // cannot start a thread for one. Root is exempt from the limit, so as root the server runs
    // as nobody (setpriv, from util-linux like prlimit), and so does the prlimit that lowers its
    // limit (changing another user's limits needs CAP_SYS_RESOURCE, which containers often lack).
    let Some(prlimit) = find_tool(&["prlimit", "/usr/bin/prlimit"]) else {
        return skip("prlimit is not installed (Debian: apt-get install util-linux)");
    };
    let as_nobody = unsafe { libc::geteuid() } == 0;
    let setpriv = find_tool(&["setpriv", "/usr/bin/setpriv"]);
    let wrapper: Vec<String> = match (&setpriv, as_nobody) {
        (Some(setpriv), true) => [setpriv.to_str().unwrap(), "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
            .map(String::from)
            .to_vec(),
        (None, true) => return skip("setpriv is not installed (Debian: apt-get install util-linux)"),
        _ => Vec::new(),
    };
    let mut s = Server::start_wrapped(
        |dir| {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
            wrapper.clone()
        },
        &["--workers", "2", "--socket-timeout", "30s"],
        &[],
    );
    let pid = s.pid();
    // Not one more thread for the server's user than it runs now.
    let threads = threads_of(pid).unwrap();
    let mut limit = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(&prlimit);
            c
        }
        None => Command::new(&prlimit),
    };
    let out = limit.arg(format!("--pid={pid}")).arg(format!("--nproc={threads}")).output().unwrap();
    assert!(out.status.success(), "prlimit failed: {}", String::from_utf8_lossy(&out.stderr));
    // Connections that each need a thread of tiny_http's pool: more than the pool holds idle
    // (its own 4 and the spares `transport/spares.rs` keeps).
    let provoked = Instant::now();
    let _held: Vec<TcpStream> = (0..16 + 4 + 64)
        .filter_map(|_| TcpStream::connect_timeout(&s.addr, Duration::from_secs(2)).ok())
        .map(|mut stream| {
            let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
            stream
        })
        .collect();
    let Some(status) = s.wait_exit(Duration::from_secs(15)) else {
        panic!("the process lived on with a dead listener for 15 s:\n{}", s.log_text());
    };
    let took = provoked.elapsed();
    assert!(!status.success(), "exit status {status}:\n{}", s.log_text());
    assert!(s.log_text().contains("the listener stopped accepting connections"), "{}", s.log_text());
    eprintln!("a dead listener ended the process after {took:?} ({status})");
}

#[test]
fn a_new_connection_from_the_port_of_a_refused_one_is_served() {
    let s = Server::start();
    let connect_from = |port: u16| {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_reuse_address(true).unwrap();
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into()).unwrap();
        socket.connect(&s.addr.into()).unwrap();
        TcpStream::from(socket)
    };
    let mut first = connect_from(0);
    let port = first.local_addr().unwrap().port();
    first.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n").unwrap();
    let got = read_all(&mut first, Duration::from_secs(5));
    assert_eq!(got.status(), Some(400), "{}", got.text());
    assert!(got.closed);
    drop(first);
    // The client reuses its port at once (the server keeps the old connection in TIME_WAIT).
    let mut again = connect_from(port);
    again.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let got = read_all(&mut again, Duration::from_secs(5));
    assert_eq!(got.status(), Some(200), "a request on a new connection was dropped: {}", got.text());
}

#[test]
fn a_body_cut_short_is_refused_not_handled() {
    let s = Server::start();
    // A complete JSON object (padded past the 1 KiB tiny_http buffers itself), but five bytes
    // short of the declared length: the client closed its side early. Handled as it stands, it
    // would create the affiliate.
    let body = format!(r#"{{"referral_code":"cut","name":"Cut"}}{}"#, " ".repeat(2000));
    let raw = format!(
        "POST /api/v1/affiliates HTTP/1.1\r\nHost: x\r\nX-Api-Key: {KEY}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len() + 5
    );
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream.write_all(raw.as_bytes()).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let got = read_all(&mut stream, Duration::from_secs(5));
    assert_eq!(got.status(), Some(400), "{}", got.text());
    assert!(got.text().contains("invalid_body"), "{}", got.text());
    assert_eq!(s.get("/api/v1/affiliates/cut").status, 404, "a cut body was handled");
}

/// What tiny_http answers itself, without handing the request over (pinned here so that a change
/// of tiny_http shows; the reverse proxies answer these requests before they reach us).
#[test]
fn requests_tiny_http_answers_itself_leave_the_workers_alone() {
    let s = Server::start_with(&["--workers", "2"], &[]);
    // A raw non-ASCII target: the connection is closed without an answer.
    let got = send_raw(s.addr, b"GET /r/caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(5));
    assert!(got.closed && got.bytes.is_empty(), "{}", got.text());
    // A version it cannot parse: its own 400.
    let got = send_raw(s.addr, b"GET /healthz HTTP/1.2\r\nHost: x\r\n\r\n", Duration::from_secs(5));
    assert_eq!(got.status(), Some(400), "{}", got.text());
    // HTTP/2.0: its 505 is written only when the connection ends; meanwhile the connection costs
    // one of its threads, like an idle one, and no worker.
    let held: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = TcpStream::connect(s.addr).unwrap();
            stream.write_all(b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n").unwrap();
            stream
        })
        .collect();
    assert_prompt_health(&s, "requests tiny_http answers itself");
    drop(held);
}
