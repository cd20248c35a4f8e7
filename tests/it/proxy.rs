//! The reverse proxy in `deploy/nginx.conf`, run for real: Debian's nginx with a configuration
//! generated from that file (local ports, a self-signed certificate, the test server as the
//! upstream), and the attacks it must absorb before they reach the appliance.
//!
//! The tests speak plain TCP to a small TLS tunnel (an nginx `stream` server in the same nginx
//! process, `proxy_ssl on`), which opens one TLS connection to the server block under test per
//! connection and forwards bytes verbatim. So every raw request below crosses the real TLS
//! listener, without a TLS library in the tests. The tunnel connects from 127.0.0.77, which is
//! therefore the "visitor address" the proxy sees and must pass on in X-Forwarded-For.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{KEY, Server, eventually, read_response, request, wait_with_deadline};
use crate::systemd::{find_tool, skip};

const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";
/// The address the tunnel connects from: the client address the proxy under test sees.
pub const VISITOR: &str = "127.0.0.77";
/// The test shortens the proxy's body timeout from 10 s to this, to stay fast.
const TEST_TIMEOUT: &str = "2s";
/// The header timeout stays long enough for 300 TLS connections to be set up on a busy machine
/// before the first of them times out.
const TEST_HEADER_TIMEOUT: &str = "8s";

struct Proxy {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Plain TCP in, TLS to the HTTPS server block out.
    tunnel: SocketAddr,
    /// The plain-HTTP server block (redirects).
    http: SocketAddr,
    /// nginx's stub_status, outside the configuration under test.
    status: SocketAddr,
}

impl Proxy {
    /// Starts nginx in front of `upstream`, or returns None (after `skip`) if a tool is missing.
    fn start(upstream: SocketAddr) -> Option<Proxy> {
        let Some(nginx) = find_tool(&["/usr/sbin/nginx", "nginx"]) else {
            skip("nginx is not installed (Debian: apt-get install nginx)");
            return None;
        };
        if !Path::new(STREAM_MODULE).exists() {
            skip("nginx's stream module is not installed (Debian: apt-get install libnginx-mod-stream)");
            return None;
        }
        let Some(openssl) = find_tool(&["openssl"]) else {
            skip("openssl is not installed (Debian: apt-get install openssl)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        make_certificate(&openssl, dir.path());
        // Free ports can be taken by someone else between probing and binding; try again then.
        for _ in 0..5 {
            let [tunnel, https, http, status] = free_ports();
            let site = site_config(upstream, https, http, dir.path());
            std::fs::write(dir.path().join("site.conf"), site).unwrap();
            std::fs::write(dir.path().join("nginx.conf"), main_config(dir.path(), tunnel, https, status)).unwrap();
            let mut child = Command::new(&nginx)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(dir.path().join("nginx.conf"))
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting nginx");
            // nginx writes its pid file only after binding every listener, so our pid in it means
            // the ports are ours (a port answering could belong to a parallel test's nginx).
            let pid_file = dir.path().join("nginx.pid");
            let ours =
                |child: &Child| std::fs::read_to_string(&pid_file).is_ok_and(|p| p.trim() == child.id().to_string());
            let up = eventually(Duration::from_secs(10), || {
                matches!(child.try_wait(), Ok(Some(_)))
                    || (ours(&child)
                        && [tunnel, http, status].iter().all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok()))
            });
            let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
            if up && matches!(child.try_wait(), Ok(None)) {
                let tunnel = format!("127.0.0.1:{tunnel}").parse().unwrap();
                let http = format!("127.0.0.1:{http}").parse().unwrap();
                let status = format!("127.0.0.1:{status}").parse().unwrap();
                return Some(Proxy { dir, child: Some(child), tunnel, http, status });
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(log.contains("Address already in use"), "nginx did not start:\n{log}");
        }
        panic!("nginx found no free ports in five tries");
    }

    /// nginx's count of connections that are still sending their request header.
    fn reading(&self) -> usize {
        let r = request(self.status, "GET", "/", &[], b"");
        let text = r.text();
        let field = text.split("Reading:").nth(1).and_then(|s| s.split_whitespace().next());
        field.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no stub_status: {text}"))
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // One process (master_process off), so a hard stop leaves nothing behind.
            let _ = child.kill();
            let _ = wait_with_deadline(&mut child, Duration::from_secs(5));
        }
    }
}

fn free_ports() -> [u16; 4] {
    let listeners: Vec<TcpListener> = (0..4).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
    [ports[0], ports[1], ports[2], ports[3]]
}

fn make_certificate(openssl: &Path, dir: &Path) {
    let out = Command::new(openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-days", "2", "-subj", "/CN=track.example.com"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl req failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// `deploy/nginx.conf` with local ports, the test certificate, the test upstream and shorter
/// client timeouts. Every replacement must apply, so the test follows the file or fails.
fn site_config(upstream: SocketAddr, https: u16, http: u16, dir: &Path) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let d = dir.display();
    let replacements = [
        ("listen 80;".to_string(), format!("listen 127.0.0.1:{http};")),
        ("listen 443 ssl http2;".to_string(), format!("listen 127.0.0.1:{https} ssl http2;")),
        ("/etc/letsencrypt/live/track.example.com/fullchain.pem".into(), format!("{d}/cert.pem")),
        ("/etc/letsencrypt/live/track.example.com/privkey.pem".into(), format!("{d}/key.pem")),
        ("server 127.0.0.1:8080;".into(), format!("server {upstream};")),
        ("root /var/www/html;".into(), format!("root {d};")),
        ("client_header_timeout 10s;".into(), format!("client_header_timeout {TEST_HEADER_TIMEOUT};")),
        ("client_body_timeout 10s;".into(), format!("client_body_timeout {TEST_TIMEOUT};")),
    ];
    for (from, to) in replacements {
        assert!(text.contains(&from), "deploy/nginx.conf no longer contains {from:?}; update this test");
        text = text.replace(&from, &to);
    }
    // IPv6 loopback may be missing in containers.
    let kept: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("listen [::]")).collect();
    kept.join("\n")
}

/// The surroundings Debian's /etc/nginx/nginx.conf would provide, in a private prefix, plus the
/// TLS tunnel and a status page.
fn main_config(dir: &Path, tunnel: u16, https: u16, status: u16) -> String {
    let d = dir.display();
    // As root, nginx would run its worker as `nobody`, which cannot enter the private temp dir.
    let user = if std::fs::metadata(dir).unwrap().uid() == 0 { "user root;" } else { "" };
    format!(
        "load_module {STREAM_MODULE};
{user}
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 4096;
events {{ worker_connections 2048; }}
stream {{
    server {{
        listen 127.0.0.1:{tunnel};
        proxy_pass 127.0.0.1:{https};
        proxy_ssl on;
        proxy_bind {VISITOR};
    }}
}}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{status};
        location / {{ stub_status; }}
    }}
    include {d}/site.conf;
}}
"
    )
}

/// Starts the appliance as the deployment does (trusting the proxy's X-Forwarded-For, with
/// full IPs so the address that came through can be compared) and nginx in front of it.
fn start() -> Option<(Server, Proxy)> {
    let app = Server::start_with(&["--trusted-proxy", "127.0.0.1", "--store-ip", "full"], &[]);
    let proxy = Proxy::start(app.addr)?;
    Some((app, proxy))
}

/// The appliance answers /healthz with 200 within a second and is still running.
pub fn assert_healthy(app: &mut Server, after: &str) {
    let started = Instant::now();
    let r = app.get_public("/healthz");
    let took = started.elapsed();
    assert_eq!(r.status, 200, "after {after}: {}", r.text());
    assert!(took < Duration::from_secs(1), "after {after}: /healthz took {took:?}");
    assert!(app.alive(), "after {after}: the appliance died:\n{}", app.log_text());
}

/// How many requests for `route` (a router pattern, as the access log names them) the
/// appliance has logged. It logs a request after answering it, so first a request of our own
/// goes through and its line is awaited: the lines of everything answered before are in by then.
pub fn seen_by_app(app: &Server, method: &str, route: &str) -> usize {
    let count =
        |method: &str, route: &str| app.log_text().matches(&format!("affiliated::access: {method} {route} ")).count();
    let marker = || count("GET", "/api/v1/offers/{id}");
    let before = marker();
    assert_eq!(app.get("/api/v1/offers/log-marker").status, 404);
    assert!(eventually(Duration::from_secs(5), || marker() > before), "{}", app.log_text());
    count(method, route)
}

pub fn open(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    stream
}

/// Waits for the proxy to give up on a connection: returns the status it answered with, or
/// None if it closed the connection without an answer. Stops at the status line, because nginx
/// may linger for a while before closing after an error answer.
pub fn outcome(stream: &mut TcpStream) -> Option<u16> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the connection stayed open ({e}); got {:?}", String::from_utf8_lossy(&got)),
        }
    }
    if got.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&got);
    let status = text.strip_prefix("HTTP/1.1 ").and_then(|t| t.get(..3)).and_then(|t| t.parse().ok());
    Some(status.unwrap_or_else(|| panic!("not an HTTP answer: {text:?}")))
}

#[test]
fn public_paths_pass_with_the_visitor_address_and_the_rest_stays_private() {
    let Some((mut app, proxy)) = start() else { return };
    app.seed();

    // A tracking link; the forged X-Forwarded-For is replaced by the address nginx saw.
    let r = request(proxy.tunnel, "GET", "/r/ann?sub1=proxy", &[("X-Forwarded-For", "203.0.113.9")], b"");
    assert_eq!(r.status, 302, "{}\n{}", r.text(), proxy.error_log());
    assert!(r.header("Strict-Transport-Security").is_some(), "{r:?}");
    let to = r.header("Location").unwrap();
    assert!(to.starts_with("https://shop.example/landing?click_id="), "{to}");
    let id = to.split("click_id=").nth(1).unwrap().split('&').next().unwrap();
    let click = app.get(&format!("/api/v1/clicks/{id}"));
    assert_eq!(click.status, 200, "{}", click.text());
    assert_eq!(click.json()["ip"], VISITOR, "the appliance did not take the client address from the proxy");
    assert_eq!(click.json()["sub1"], "proxy");

    // The API with a key.
    let r = request(proxy.tunnel, "GET", "/api/v1/affiliates", &[("X-Api-Key", KEY)], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"][0]["referral_code"], "ann", "{}", r.text());
    let body = format!(r#"{{"external_id":"p-1","amount":"10","click_id":"{id}"}}"#);
    let r = request(proxy.tunnel, "POST", "/api/v1/conversions", &[("X-Api-Key", KEY)], body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(seen_by_app(&app, "POST", "/api/v1/conversions"), 1, "{}", app.log_text());

    // Internal paths are answered by nginx and never reach the appliance.
    for path in ["/metrics", "/healthz", "/openapi.yaml", "/", "/rr/ann"] {
        let r = request(proxy.tunnel, "GET", path, &[], b"");
        assert_eq!(r.status, 404, "{path}: {}", r.text());
    }
    assert_eq!(seen_by_app(&app, "GET", "/metrics"), 0, "{}", app.log_text());
    assert_eq!(seen_by_app(&app, "GET", "/openapi.yaml"), 0, "{}", app.log_text());
    // (The heartbeat's own /healthz probes are logged at debug level only.)
    assert_eq!(seen_by_app(&app, "GET", "/healthz"), 0, "{}", app.log_text());
    // They still work from the machine itself.
    assert_eq!(app.get_public("/metrics").status, 200);

    // Plain HTTP is redirected to HTTPS.
    let r = request(proxy.http, "GET", "/r/ann?x=1", &[], b"");
    assert_eq!(r.status, 301, "{}", r.text());
    assert!(r.header("Location").is_some_and(|l| l.starts_with("https://") && l.ends_with("/r/ann?x=1")), "{r:?}");
    assert_healthy(&mut app, "normal traffic");
}

#[test]
fn the_affiliate_portal_passes_and_its_cookies_are_secure() {
    let Some((app, proxy)) = start() else { return };
    app.seed();
    let r = request(proxy.tunnel, "GET", "/portal/login", &[], b"");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), proxy.error_log());
    let cookie = r.header("Set-Cookie").expect("the login form's token cookie");
    assert!(cookie.contains("Path=/portal") && cookie.ends_with("; Secure"), "HTTPS as nginx tells it: {cookie}");
    let r = request(proxy.tunnel, "GET", "/portal", &[], b"");
    assert_eq!((r.status, r.header("Location")), (303, Some("/portal/login")));
    assert_eq!(request(proxy.tunnel, "GET", "/portals", &[], b"").status, 404);
    assert_eq!(seen_by_app(&app, "GET", "unmatched"), 0, "/portals is nginx's 404: {}", app.log_text());
}

#[test]
fn a_huge_declared_body_is_refused_by_the_proxy() {
    let Some((mut app, proxy)) = start() else { return };
    let mut stream = open(proxy.tunnel);
    stream
        .write_all(
            format!(
                "POST /api/v1/conversions HTTP/1.1\r\nHost: track.example.com\r\nX-Api-Key: {KEY}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1099511627776\r\n\r\nhello"
            )
            .as_bytes(),
        )
        .unwrap();
    let r = read_response(&mut stream);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("nginx"), "the 413 should come from nginx, not the appliance: {}", r.text());
    drop(stream);
    // Just over the cap is refused too; exactly the cap goes through (it is whitespace, so the
    // appliance answers that the body holds no JSON object).
    let over = vec![b' '; (1 << 20) + 1];
    let r = request(proxy.tunnel, "POST", "/api/v1/offers", &[("X-Api-Key", KEY)], &over);
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(seen_by_app(&app, "POST", "/api/v1/conversions"), 0, "{}", app.log_text());
    assert_eq!(seen_by_app(&app, "POST", "/api/v1/offers"), 0, "{}", app.log_text());
    let r = request(proxy.tunnel, "POST", "/api/v1/offers", &[("X-Api-Key", KEY)], &over[1..]);
    r.assert_error(400, "missing_id");
    assert_healthy(&mut app, "a 1 TiB Content-Length");
}

#[test]
fn half_sent_headers_are_held_by_the_proxy() {
    let Some((mut app, proxy)) = start() else { return };
    app.seed();
    let mut held = Vec::new();
    for i in 0..300 {
        let mut stream = open(proxy.tunnel);
        write!(stream, "GET /r/ann?n={i} HTTP/1.1\r\nHost: track.example.com\r\nUser-Agent: half").unwrap();
        held.push(stream);
    }
    // Wait until nginx holds them all in its header-reading state.
    assert!(
        eventually(Duration::from_secs(20), || proxy.reading() >= 300),
        "nginx reads {} headers\n{}",
        proxy.reading(),
        proxy.error_log()
    );
    assert_healthy(&mut app, "300 half-sent headers");
    // Real visitors still get through meanwhile, and none of the half requests reached the app.
    let r = request(proxy.tunnel, "GET", "/r/ann", &[], b"");
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(seen_by_app(&app, "GET", "/r/{referral_code}"), 1, "{}", app.log_text());
    // nginx closes each of them when its header timeout passes; none is ever answered.
    for stream in &mut held {
        let answer = outcome(stream);
        assert!(answer.is_none() || answer == Some(408), "{answer:?}");
    }
    assert_eq!(seen_by_app(&app, "GET", "/r/{referral_code}"), 1, "{}", app.log_text());
    assert_healthy(&mut app, "the proxy dropped 300 half-sent headers");
}

#[test]
fn slow_bodies_are_held_by_the_proxy_and_capped_per_address() {
    let Some((mut app, proxy)) = start() else { return };
    app.seed();
    let head = format!(
        "POST /api/v1/conversions HTTP/1.1\r\nHost: track.example.com\r\nX-Api-Key: {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{"
    );
    // One body that trickles in, a byte at a time, then stops.
    let mut slow = open(proxy.tunnel);
    slow.write_all(head.as_bytes()).unwrap();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(400)); // the attacker's pace, under the 2 s timeout
        slow.write_all(b" ").unwrap();
        assert_healthy(&mut app, "part of a slow body");
    }
    assert_eq!(seen_by_app(&app, "POST", "/api/v1/conversions"), 0, "{}", app.log_text());

    // The limit is 50 requests in flight per address: 55 more slow bodies from the same address
    // leave exactly 50 in flight (the trickling one included), and 6 are refused at once.
    let mut more: Vec<TcpStream> = (0..55)
        .map(|_| {
            let mut s = open(proxy.tunnel);
            s.write_all(head.as_bytes()).unwrap();
            s
        })
        .collect();
    assert_healthy(&mut app, "56 slow bodies from one address");
    let mut statuses: Vec<Option<u16>> = more.iter_mut().map(outcome).collect();
    statuses.push(outcome(&mut slow));
    let refused = statuses.iter().filter(|s| **s == Some(429)).count();
    let timed_out = statuses.iter().filter(|s| **s == Some(408) || s.is_none()).count();
    assert_eq!((refused, timed_out), (6, 50), "{statuses:?}\n{}", proxy.error_log());
    assert_eq!(seen_by_app(&app, "POST", "/api/v1/conversions"), 0, "{}", app.log_text());
    assert_healthy(&mut app, "the proxy dropped 56 slow bodies");
}

#[test]
fn nginx_absorbs_the_attack_set() {
    let Some((mut app, proxy)) = start() else { return };
    let tunnel = proxy.tunnel;
    crate::caddy::attack_set(&mut app, &|| open(tunnel), "nginx");
    assert!(!proxy.error_log().contains("[emerg]"), "{}", proxy.error_log());
}

/// Routes the shipped proxy configurations keep on the machine: nobody outside needs them.
pub const PRIVATE_ROUTES: &[&str] = &["/", "/healthz", "/metrics", "/openapi.yaml"];

/// Every route the appliance serves (from its own route table, so a new route cannot be
/// forgotten) goes through the proxy behind `connect` and reaches the appliance, except
/// [`PRIVATE_ROUTES`], which the proxy answers itself with 404.
pub fn every_route_passes(app: &Server, connect: &dyn Fn() -> TcpStream, proxy: &str) {
    let sample = regex::Regex::new(r"\{[a-z_]+\}").unwrap();
    let mut sent = Vec::new();
    for route in affiliated::routes::ROUTES {
        let (method, pattern) = (route.method.as_str(), route.pattern);
        let path = sample.replace_all(pattern, "x1").into_owned();
        let mut stream = connect();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: track.example.com\r\nUser-Agent: {}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            crate::support::BROWSER
        )
        .unwrap();
        let answer = read_response(&mut stream);
        if PRIVATE_ROUTES.contains(&pattern) {
            assert_eq!(answer.status, 404, "{proxy}: {method} {path} must stay private");
        }
        sent.push((method, pattern));
    }
    for (method, pattern) in sent {
        let seen = seen_by_app(app, method, pattern);
        if PRIVATE_ROUTES.contains(&pattern) {
            assert_eq!(seen, 0, "{proxy}: {method} {pattern} reached the appliance");
        } else {
            assert!(seen >= 1, "{proxy}: {method} {pattern} did not reach the appliance:\n{}", app.log_text());
        }
    }
}

#[test]
fn every_public_route_passes_and_only_those() {
    let Some((app, proxy)) = start() else { return };
    every_route_passes(&app, &|| open(proxy.tunnel), "nginx");
}
