//! Bad input, restarts and signals: the server keeps serving and keeps what it acknowledged.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{KEY, Server, eventually, read_response};

fn healthy(s: &Server) -> bool {
    let r = s.get_public("/healthz");
    r.status == 200 && r.json() == json!({"status": "ok"})
}

#[test]
fn health_is_a_real_check() {
    let s = Server::start();
    assert!(healthy(&s));
}

#[test]
fn bodies_over_one_mebibyte_are_refused() {
    let s = Server::start();
    s.seed();
    let big = vec![b' '; (1 << 20) + 1];
    s.post_raw("/api/v1/conversions", &[("X-Api-Key", KEY)], &big).assert_error(413, "payload_too_large");
    // Exactly the limit is fine (it is just whitespace, so an empty object).
    let ok = s.post_raw("/api/v1/offers", &[("X-Api-Key", KEY)], &vec![b' '; 1 << 20]);
    ok.assert_error(400, "missing_id");
    // A chunked body that grows past the limit.
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        stream,
        "POST /api/v1/conversions HTTP/1.1\r\nHost: x\r\nX-Api-Key: {KEY}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..17 {
        if write!(stream, "{:x}\r\n", chunk.len()).is_err()
            || stream.write_all(&chunk).is_err()
            || stream.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let r = read_response(&mut stream);
    r.assert_error(413, "payload_too_large");
    assert!(healthy(&s));
}

#[test]
fn a_huge_declared_length_does_not_take_the_server_down() {
    let s = Server::start_with(&["--socket-timeout", "2s"], &[]);
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream
        .write_all(format!("POST /api/v1/conversions HTTP/1.1\r\nHost: x\r\nX-Api-Key: {KEY}\r\nContent-Length: 1099511627776\r\n\r\nhello").as_bytes())
        .unwrap();
    // The answer comes first; the server then discards what the client keeps sending, off its
    // workers, until the client stops or the socket times out.
    let r = read_response(&mut stream);
    r.assert_error(413, "payload_too_large");
    drop(stream);
    let started = Instant::now();
    assert!(healthy(&s));
    assert!(started.elapsed() < Duration::from_secs(1), "healthz took {:?}", started.elapsed());
    // Still alive after the drain gave up on the missing bytes.
    std::thread::sleep(Duration::from_secs(3));
    let mut s = s;
    assert!(s.alive(), "the server died: {}", s.log_text());
    assert!(healthy(&s));
}

#[test]
fn slow_or_silent_clients_are_cut_off() {
    let s = Server::start_with(&["--socket-timeout", "1s"], &[]);
    // Half a request header, then silence.
    let mut half = TcpStream::connect(s.addr).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    half.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = half.read_to_end(&mut buf);
    assert!(started.elapsed() < Duration::from_secs(8), "connection held for {:?}", started.elapsed());
    // A body that never arrives.
    let mut slow = TcpStream::connect(s.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        slow,
        "POST /api/v1/conversions HTTP/1.1\r\nHost: x\r\nX-Api-Key: {KEY}\r\nContent-Length: 2000\r\n\r\n0123456789"
    )
    .unwrap();
    let r = read_response(&mut slow);
    r.assert_error(408, "request_timeout");
    assert!(healthy(&s));
}

#[test]
fn garbage_requests_get_4xx_and_the_server_keeps_serving() {
    let s = Server::start();
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
        b"POST /api/v1/conversions HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /api/v1/conversions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let mut stream = TcpStream::connect(s.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.write_all(raw).unwrap();
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 4") || text.starts_with("HTTP/1.0 4"),
            "{raw:?} -> {text}"
        );
        assert!(healthy(&s), "after {raw:?}");
    }
}

#[test]
fn acknowledged_data_survives_a_restart_and_a_crash() {
    let mut s = Server::start();
    s.seed();
    let click = s.click("ann", json!({}));
    let r = s.post("/api/v1/conversions", &json!({"external_id": "keep-1", "amount": "12.34", "click_id": click}));
    assert_eq!(r.status, 201);
    s.restart();
    let list = s.get("/api/v1/conversions").json();
    assert_eq!(list["data"][0]["external_id"], "keep-1");
    assert_eq!(list["data"][0]["amount"], "12.34");
    assert_eq!(s.get(&format!("/api/v1/clicks/{click}")).status, 200);

    let r = s.post("/api/v1/conversions", &json!({"external_id": "keep-2", "amount": "1", "click_id": click}));
    assert_eq!(r.status, 201);
    s.crash();
    s.restart_after_crash();
    assert_eq!(s.get("/api/v1/conversions").json()["data"][0]["external_id"], "keep-2");
    s.post("/api/v1/conversions", &json!({"external_id": "keep-2", "amount": "1", "click_id": click}))
        .assert_error(409, "duplicate_external_id");
}

#[test]
fn sigterm_finishes_and_exits_zero() {
    let mut s = Server::start();
    assert!(healthy(&s));
    let started = Instant::now();
    let status = s.stop();
    assert!(status.success(), "exit status {status}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(eventually(Duration::from_secs(2), || s.log_text().contains("stopped")));
}

#[test]
fn an_initial_key_is_written_to_a_private_file_not_the_log() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let mut child = std::process::Command::new(crate::support::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--workers", "1", "--db"])
        .arg(&db)
        .env_remove("AFFILIATED_API_KEY")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let key_file = dir.path().join("a.db.initial-api-key");
    assert!(eventually(Duration::from_secs(10), || key_file.exists()));
    let key = std::fs::read_to_string(&key_file).unwrap().trim().to_string();
    assert!(key.starts_with("afk_") && key.len() >= 40);
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("initial-api-key"), "{log}");
    assert!(!log.contains(&key), "the key leaked into the log");
}

#[test]
fn slow_bodies_do_not_tie_up_the_workers() {
    // Four workers; twenty clients each promise a 2,000-byte body and send ten bytes.
    let s = Server::start_with(&["--workers", "4", "--socket-timeout", "3s"], &[]);
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(s.addr).unwrap();
        write!(
            stream,
            "POST /api/v1/conversions HTTP/1.1\r\nHost: x\r\nX-Api-Key: {KEY}\r\nContent-Length: 2000\r\n\r\n0123456789"
        )
        .unwrap();
        slow.push(stream);
    }
    // Everyone else is still served at once.
    for _ in 0..5 {
        let started = Instant::now();
        assert!(healthy(&s));
        assert!(started.elapsed() < Duration::from_secs(1), "healthz took {:?}", started.elapsed());
    }
    // The slow ones get their 408 when the body deadline passes.
    for stream in &mut slow {
        stream.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
        read_response(stream).assert_error(408, "request_timeout");
    }
}

#[test]
fn health_reports_failing_writes_while_the_disk_is_full_and_recovers() {
    use crate::systemd::{find_tool, skip};
    // The database lives on a 4 MiB tmpfs mounted in a mount namespace of the server's own
    // (unshare, from util-linux; without root, in a user namespace too). The test fills and
    // empties that file system through /proc/PID/root, which shows the server's mounts.
    let Some(unshare) = find_tool(&["unshare", "/usr/bin/unshare"]) else {
        return skip("unshare is not installed (Debian: apt-get install util-linux)");
    };
    let probe = std::process::Command::new(&unshare).args(["--mount", "true"]).status();
    let user_namespace = !probe.is_ok_and(|s| s.success());
    let mut s = Server::start_wrapped(
        |dir| {
            let mut w = vec![unshare.to_string_lossy().into_owned()];
            if user_namespace {
                w.extend(["--user", "--map-root-user"].map(String::from));
            }
            let script = "mount -t tmpfs -o size=4m affiliated-test \"$0\" && exec \"$@\"";
            w.extend(["--mount", "--propagation", "private", "sh", "-c", script].map(String::from));
            w.push(dir.to_string_lossy().into_owned());
            w
        },
        &[],
        &[],
    );
    s.seed();
    assert!(healthy(&s));
    let root = std::path::PathBuf::from(format!("/proc/{}/root", s.pid()));
    let filler = root.join(s.dir.path().strip_prefix("/").unwrap()).join("filler");
    // Fill every free byte.
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0usize;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n,
            Err(_) => break,
        }
    }
    let _ = file.sync_all();
    drop(file);
    assert!(written > 0);
    // Writes fail as soon as the WAL must grow (a few may still fit in frames it already has).
    let refused = (0..500).find_map(|i| {
        let r = s.post("/api/v1/affiliates", &json!({"referral_code": format!("full-{i}"), "name": "x".repeat(150)}));
        if r.status == 201 { None } else { Some(r) }
    });
    let refused = refused.expect("every write was acknowledged on a full disk");
    refused.assert_error(503, "unavailable");
    let r = s.get_public("/healthz");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["status"], "writes_failing", "{}", r.text());
    // Space comes back: the next check writes for real, and says so.
    std::fs::remove_file(&filler).unwrap();
    assert!(eventually(Duration::from_secs(5), || healthy(&s)), "{}", s.get_public("/healthz").text());
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": "after", "name": "After"}));
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(s.alive(), "{}", s.log_text());
}
