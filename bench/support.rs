//! Shared by the bench examples (`#[path = "support.rs"] mod support;`): a minimal HTTP/1.1
//! client over std sockets, starting the release binary on a loopback port, and reading a
//! process's figures from /proc. Standard library only. Not every example uses every function.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The API key every bench tool gives the server (`AFFILIATED_API_KEY`, 32+ characters).
pub const KEY: &str = "bench-key-0123456789abcdefghijklmnopqrstuvwxyz";

/// One parsed HTTP response.
#[derive(Debug, Default)]
pub struct Resp {
    pub status: u16,
    /// Header lines exactly as received (name, value), so callers can inspect raw bytes.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The raw header block, status line included.
    pub head: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of a top-level `"name":"value"` string in a JSON body (no escapes expected).
    pub fn json_str(&self, name: &str) -> Option<String> {
        let text = self.text();
        let needle = format!("\"{name}\":\"");
        let start = text.find(&needle)? + needle.len();
        let end = text[start..].find('"')?;
        Some(text[start..start + end].to_string())
    }
}

/// Formats a request. `body` empty and method GET: no body headers.
pub fn format_request(method: &str, path: &str, host: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Reads one response with a `Content-Length` body (or none). A read timeout set on the stream
/// surfaces as an error of kind `WouldBlock` or `TimedOut`; `deadline` bounds the whole read.
pub fn read_response(stream: &mut TcpStream, deadline: Instant) -> std::io::Result<Resp> {
    read_answer(stream, deadline, false)
}

/// Like [`read_response`]; `head_only` for answers to HEAD, which carry no body whatever their
/// `Content-Length` says.
pub fn read_answer(stream: &mut TcpStream, deadline: Instant, head_only: bool) -> std::io::Result<Resp> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err(std::io::Error::new(ErrorKind::InvalidData, "response header over 64 KiB"));
        }
        read_some(stream, &mut chunk, &mut buf, deadline)?;
    };
    let mut resp = parse_head(&buf[..head_end])?;
    if resp.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return Err(std::io::Error::new(ErrorKind::InvalidData, "chunked responses are not supported here"));
    }
    let len: usize =
        if head_only { 0 } else { resp.header("content-length").and_then(|v| v.trim().parse().ok()).unwrap_or(0) };
    while buf.len() < head_end + len {
        read_some(stream, &mut chunk, &mut buf, deadline)?;
    }
    resp.body = buf[head_end..head_end + len].to_vec();
    Ok(resp)
}

fn read_some(stream: &mut TcpStream, chunk: &mut [u8], buf: &mut Vec<u8>, deadline: Instant) -> std::io::Result<()> {
    loop {
        match stream.read(chunk) {
            Ok(0) => return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "connection closed")),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(());
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                if Instant::now() >= deadline {
                    return Err(std::io::Error::new(ErrorKind::TimedOut, "no complete response in time"));
                }
            }
            Err(e) => return Err(e),
        }
    }
}

fn parse_head(head: &[u8]) -> std::io::Result<Resp> {
    let bad = |what: &str| std::io::Error::new(ErrorKind::InvalidData, what.to_string());
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("empty response"))?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (k, v) = line.split_once(':').unwrap_or((line, ""));
        headers.push((k.to_string(), v.trim_start().to_string()));
    }
    Ok(Resp { status, headers, body: Vec::new(), head: head.to_vec() })
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One request on a fresh connection that the client closes afterwards.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<Resp> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(Duration::from_millis(50)))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut all = headers.to_vec();
    all.push(("Connection", "close"));
    stream.write_all(&format_request(method, path, &addr.to_string(), &all, body))?;
    read_answer(&mut stream, deadline, method == "HEAD")
}

/// A POST with the bench API key and a JSON body.
pub fn api_post(addr: SocketAddr, path: &str, json: &str) -> std::io::Result<Resp> {
    request(addr, "POST", path, &[("X-Api-Key", KEY)], json.as_bytes(), Duration::from_secs(10))
}

/// `GET /healthz` within `timeout`: Ok(elapsed) on a 200, else why not.
pub fn healthz(addr: SocketAddr, timeout: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    match request(addr, "GET", "/healthz", &[], b"", timeout) {
        Ok(r) if r.status == 200 => Ok(started.elapsed()),
        Ok(r) => Err(format!("status {} after {:?}", r.status, started.elapsed())),
        Err(e) => Err(format!("{e} after {:?}", started.elapsed())),
    }
}

/// The release binary: `--bin`, else `$AFFILIATED_BIN`, else `$CARGO_TARGET_DIR/release`,
/// else `target/release`.
pub fn default_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("AFFILIATED_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| "target".into());
    target.join("release").join("affiliated")
}

/// A server process started by a bench tool. Killed (SIGKILL) on drop if still running.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub started: Instant,
}

/// Starts `bin serve` on `db`, listening on `listen` (port 0 picks a free one; the chosen port
/// is read from the startup log line). Its log goes to `log` (appended).
pub fn spawn_server(bin: &Path, db: &Path, listen: &str, extra: &[&str], log: &Path) -> Result<Server, String> {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("opening {}: {e}", log.display()))?;
    let started = Instant::now();
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--db")
        .arg(db)
        .args(["--listen", listen])
        .args(extra)
        .env("AFFILIATED_API_KEY", KEY)
        // The start-up banner (its first line names the address) is logged under the target
        // `affiliated`; the access log stays off.
        .env("RUST_LOG", "warn,affiliated=info,affiliated::access=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut log_file = log_file;
        let mut sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(log_file, "{line}");
            if !sent && let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                sent = true;
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(text) => text.parse().map_err(|e| format!("bad listening address {text:?}: {e}"))?,
        Err(_) => {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            return Err(format!("the server did not start ({status}); see {}", log.display()));
        }
    };
    Ok(Server { child, addr, started })
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `/healthz` until it answers 200; returns the time since the process was spawned.
    pub fn wait_healthy(&mut self, limit: Duration) -> Result<Duration, String> {
        let until = Instant::now() + limit;
        loop {
            if healthz(self.addr, Duration::from_millis(500)).is_ok() {
                return Ok(self.started.elapsed());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the server exited ({status}) before it was healthy"));
            }
            if Instant::now() > until {
                return Err(format!("not healthy within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// `None` while running, else its exit status.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits up to `limit` for the exit status (SIGKILL after that).
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.kill9();
        }
    }
}

/// A field of /proc/PID/status in kB (e.g. `VmRSS`, `VmHWM`) or a plain count (`Threads`).
pub fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line[field.len() + 1..].split_whitespace().next()?.parse().ok()
}

/// Open file descriptors of a process.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// A small seeded PRNG (xorshift64*), so a run can be repeated with the same choices.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Minimal `--name value` parsing shared by the tools: returns the value after `name`.
pub fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// Like [`arg`], parsed, with a default; exits with a message on a bad value.
pub fn arg_or<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    match arg(args, name) {
        None => default,
        Some(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("{name}: cannot parse {v:?}");
            std::process::exit(2)
        }),
    }
}

/// Median of a sorted slice (the lower middle for even lengths).
pub fn median<T: Copy>(sorted: &[T]) -> Option<T> {
    if sorted.is_empty() { None } else { Some(sorted[(sorted.len() - 1) / 2]) }
}

/// Milliseconds with two decimals, for printing.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}
