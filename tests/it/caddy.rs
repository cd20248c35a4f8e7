//! The reverse proxy in `deploy/Caddyfile`, run for real with Debian's `caddy`, and the attack
//! set that both shipped proxies must absorb before it reaches the appliance ([`attack_set`],
//! also run through nginx by `proxy.rs`).
//!
//! The site is served over plain HTTP on a local port (the file's host name and automatic
//! HTTPS are replaced; everything that limits requests stays as shipped), so raw requests need
//! no TLS library. They are sent from 127.0.0.77, the visitor address the appliance must see.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::proxy::{VISITOR, assert_healthy, outcome, seen_by_app};
use crate::support::{BROWSER, KEY, Server, eventually, read_response, wait_with_deadline};
use crate::systemd::{find_tool, skip};

/// The test shortens Caddy's header and body timeouts (10 s and 20 s) to these.
const TEST_HEADER_TIMEOUT: &str = "4s";
const TEST_BODY_TIMEOUT: &str = "3s";

struct Caddy {
    dir: tempfile::TempDir,
    child: Option<Child>,
    addr: SocketAddr,
}

impl Caddy {
    /// Starts Caddy in front of `upstream`, or returns None (after `skip`) if it is missing.
    fn start(upstream: SocketAddr) -> Option<Caddy> {
        let Some(caddy) = find_tool(&["/usr/bin/caddy", "caddy"]) else {
            skip("caddy is not installed (Debian: apt-get install caddy)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let file = dir.path().join("Caddyfile");
            std::fs::write(&file, config(upstream, port)).unwrap();
            let mut child = Command::new(&caddy)
                .args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&file)
                .env("HOME", dir.path())
                .env("XDG_DATA_HOME", dir.path().join("data"))
                .env("XDG_CONFIG_HOME", dir.path().join("config"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("caddy.log")).unwrap())
                .spawn()
                .expect("starting caddy");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let log = || std::fs::read_to_string(dir.path().join("caddy.log")).unwrap_or_default();
            // Caddy logs that the server is running once it has bound its listener.
            let up = eventually(Duration::from_secs(15), || {
                matches!(child.try_wait(), Ok(Some(_))) || log().contains("serving initial configuration")
            });
            if up && matches!(child.try_wait(), Ok(None)) {
                return Some(Caddy { dir, child: Some(child), addr });
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(log().contains("address already in use"), "caddy did not start:\n{}", log());
        }
        panic!("caddy found no free port in five tries");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("caddy.log")).unwrap_or_default()
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = wait_with_deadline(&mut child, Duration::from_secs(5));
        }
    }
}

/// `deploy/Caddyfile` with a local plain-HTTP site, the test upstream, no admin endpoint and
/// shorter client timeouts. Every replacement must apply, so the test follows the file or fails.
fn config(upstream: SocketAddr, port: u16) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Caddyfile");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let replacements = [
        ("{\n\tservers {".to_string(), "{\n\tadmin off\n\tservers {".to_string()),
        ("track.example.com {".into(), format!("http://:{port} {{\n\tbind 127.0.0.1")),
        ("reverse_proxy 127.0.0.1:8080 {".into(), format!("reverse_proxy {upstream} {{")),
        ("read_header 10s".into(), format!("read_header {TEST_HEADER_TIMEOUT}")),
        ("read_body 20s".into(), format!("read_body {TEST_BODY_TIMEOUT}")),
    ];
    for (from, to) in replacements {
        assert!(text.contains(&from), "deploy/Caddyfile no longer contains {from:?}; update this test");
        // Every upstream (the public paths and the click snippet's) goes to the test server.
        let times = if from.starts_with("reverse_proxy") { usize::MAX } else { 1 };
        text = text.replacen(&from, &to, times);
    }
    text
}

/// A connection from the visitor address.
fn visit(addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&format!("{VISITOR}:0").parse::<SocketAddr>().unwrap().into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    stream
}

fn start() -> Option<(Server, Caddy)> {
    let app = Server::start_with(&["--trusted-proxy", "127.0.0.1", "--store-ip", "full"], &[]);
    let caddy = Caddy::start(app.addr)?;
    Some((app, caddy))
}

/// The appliance's gauge of requests reading a body on a thread of their own.
fn app_reading_bodies(app: &Server) -> u64 {
    let text = app.get_public("/metrics").text();
    let line = text.lines().find(|l| l.starts_with("affiliated_slow_requests_in_flight ")).expect("gauge");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Attacks a proxy must absorb. `connect` opens a connection to the proxy's public side. Every
/// one ends with an answer from the proxy, or a plain request the appliance answers normally;
/// none holds a thread of the appliance, smuggles a request, or reaches it as an upgrade.
pub fn attack_set(app: &mut Server, connect: &dyn Fn() -> TcpStream, proxy: &str) {
    app.seed();
    let send = |raw: &str| {
        let mut stream = connect();
        stream.write_all(raw.as_bytes()).unwrap();
        stream
    };
    // Protocol upgrades: refused by the proxy, or passed on as a plain request without them.
    for upgrade in ["Connection: Upgrade\r\nUpgrade: websocket", "Upgrade: h2c"] {
        let mut stream =
            send(&format!("GET /r/ann HTTP/1.1\r\nHost: track.example.com\r\n{upgrade}\r\nConnection: close\r\n\r\n"));
        let status = outcome(&mut stream);
        assert!(matches!(status, Some(400 | 302)), "{proxy}: {upgrade:?} got {status:?}");
    }
    let app_refused_upgrades = app.log_text().matches("affiliated::access: GET /r/{referral_code} 400").count();
    assert_eq!(app_refused_upgrades, 0, "{proxy}: an upgrade request reached the appliance");

    // An awaited body that never comes, and a body that trickles in: the proxy holds them.
    let head = format!(
        "POST /api/v1/conversions HTTP/1.1\r\nHost: track.example.com\r\nX-Api-Key: {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n"
    );
    let mut awaited = send(&format!("{head}Expect: 100-continue\r\n\r\n"));
    let mut trickle = send(&format!("{head}\r\n{{"));
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(300)); // the attacker's pace, under the timeouts
        let _ = trickle.write_all(b" ");
        assert_eq!(app_reading_bodies(app), 0, "{proxy}: a body is being streamed to the appliance");
        assert_healthy(app, &format!("{proxy}: slow bodies"));
    }
    let _ = awaited.write_all(b"");
    drop((awaited, trickle));
    assert_eq!(seen_by_app(app, "POST", "/api/v1/conversions"), 0, "{proxy}: {}", app.log_text());

    // Ambiguous framing, each with a second request behind it. A proxy answers the first itself
    // or passes it on with framing of its own (Go reads Content-Length with Transfer-Encoding as
    // chunked); the second is then a request of the client's like any other, and may be served:
    // with a fresh upstream connection per request, proxy and appliance cannot disagree on where
    // one ends. (The appliance's own refusals are tested in hostile.rs.)
    let body = r#"{"referral_code":"smuggled","name":"Smuggled"}"#;
    let smuggled = format!(
        "POST /api/v1/affiliates HTTP/1.1\r\nHost: track.example.com\r\nX-Api-Key: {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    for framing in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n",
        "Content-Length: 0\r\nContent-Length: 7\r\n\r\n",
        "Content-Length: 0, 7\r\n\r\n",
        "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    ] {
        let mut stream = send(&format!(
            "POST /api/v1/clicks HTTP/1.1\r\nHost: track.example.com\r\nX-Api-Key: {KEY}\r\n{framing}{smuggled}"
        ));
        let status = outcome(&mut stream);
        assert!(status.is_none_or(|s| s >= 400), "{proxy}: {framing:?} got {status:?}");
    }
    assert_healthy(app, &format!("{proxy}: ambiguous framing"));

    // Raw non-ASCII bytes in the target: tiny_http closes such a connection without an answer,
    // so the proxy must answer (percent-encoding the target, or with an error of its own).
    let mut stream = connect();
    stream.write_all(b"GET /r/caf\xc3\xa9 HTTP/1.1\r\nHost: track.example.com\r\nConnection: close\r\n\r\n").unwrap();
    let status = outcome(&mut stream);
    eprintln!("{proxy}: a raw non-ASCII target got {status:?}");
    assert!(status.is_some(), "{proxy}: no answer to a raw non-ASCII target");

    // Declared lengths the appliance's HTTP library cannot handle.
    for length in ["1125899906842624", "18446744073709551615", "99999999999999999999999"] {
        let mut stream = send(&format!(
            "POST /api/v1/conversions HTTP/1.1\r\nHost: track.example.com\r\nX-Api-Key: {KEY}\r\n\
             Content-Length: {length}\r\n\r\nhello"
        ));
        let status = outcome(&mut stream);
        assert!(matches!(status, Some(400 | 413)), "{proxy}: Content-Length {length} got {status:?}");
    }
    assert_eq!(seen_by_app(app, "POST", "/api/v1/conversions"), 0, "{proxy}: {}", app.log_text());
    assert_healthy(app, &format!("{proxy}: the attack set"));
}

#[test]
fn caddy_passes_public_paths_with_the_visitor_address_and_keeps_the_rest_private() {
    let Some((mut app, caddy)) = start() else { return };
    app.seed();
    let mut stream = visit(caddy.addr);
    write!(
        stream,
        "GET /r/ann?sub1=caddy HTTP/1.1\r\nHost: track.example.com\r\nUser-Agent: {BROWSER}\r\n\
         X-Forwarded-For: 203.0.113.9\r\n\r\n"
    )
    .unwrap();
    let r = read_response(&mut stream);
    assert_eq!(r.status, 302, "{}\n{}", r.text(), caddy.log());
    let to = r.header("Location").unwrap();
    let id = to.split("click_id=").nth(1).unwrap().split('&').next().unwrap();
    let click = app.get(&format!("/api/v1/clicks/{id}")).json();
    assert_eq!(click["ip"], VISITOR, "the appliance did not get the visitor's address from Caddy");
    for path in ["/metrics", "/healthz", "/openapi.yaml", "/"] {
        let mut stream = visit(caddy.addr);
        write!(stream, "GET {path} HTTP/1.1\r\nHost: track.example.com\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut stream).status, 404, "{path}");
    }
    assert_eq!(seen_by_app(&app, "GET", "/metrics"), 0, "{}", app.log_text());
    let _ = json!({});
    assert_healthy(&mut app, "normal traffic through Caddy");
}

#[test]
fn caddy_absorbs_the_attack_set() {
    let Some((mut app, caddy)) = start() else { return };
    let addr = caddy.addr;
    attack_set(&mut app, &|| visit(addr), "caddy");
    assert!(!caddy.log().contains("panic"), "{}", caddy.log());
}

#[test]
fn caddy_holds_half_sent_headers_and_slow_bodies_until_its_timeouts() {
    let Some((mut app, caddy)) = start() else { return };
    app.seed();
    let mut held = Vec::new();
    for i in 0..300 {
        let mut stream = visit(caddy.addr);
        write!(stream, "GET /r/ann?n={i} HTTP/1.1\r\nHost: track.example.com\r\nUser-Agent: half").unwrap();
        held.push(stream);
    }
    for _ in 0..40 {
        let mut stream = visit(caddy.addr);
        write!(
            stream,
            "POST /api/v1/conversions HTTP/1.1\r\nHost: track.example.com\r\nX-Api-Key: {KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: 2000\r\n\r\n{{\"ext"
        )
        .unwrap();
        held.push(stream);
    }
    assert_healthy(&mut app, "300 half headers and 40 slow bodies through Caddy");
    assert_eq!(app_reading_bodies(&app), 0, "Caddy streamed a slow body to the appliance");
    // Caddy cuts each of them off at its timeouts; none reaches the appliance. (Caddy 2.6.2
    // answers a body that timed out with an empty 200, which the client is free to ignore.)
    for stream in &mut held {
        outcome(stream);
    }
    assert_eq!(seen_by_app(&app, "GET", "/r/{referral_code}"), 0, "{}", app.log_text());
    assert_eq!(seen_by_app(&app, "POST", "/api/v1/conversions"), 0, "{}", app.log_text());
    assert_healthy(&mut app, "Caddy dropped them");
}

#[test]
fn every_public_route_passes_and_only_those() {
    let Some((app, caddy)) = start() else { return };
    crate::proxy::every_route_passes(&app, &|| visit(caddy.addr), "caddy");
}
