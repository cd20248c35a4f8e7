//! Test support: start the real `affiliated` binary on an ephemeral loopback port with a
//! temporary database, talk HTTP/1.1 to it over plain sockets, and stop it on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const KEY: &str = "test-key-0123456789abcdefghijklmnopqrstuvwxyz";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_affiliated")
}

pub struct Server {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    child: Option<Child>,
    pub log: Arc<Mutex<Vec<String>>>,
    pub extra_args: Vec<String>,
    pub extra_env: Vec<(String, String)>,
    /// The file-creation mask the server starts with (inherited when `None`).
    pub umask: Option<u32>,
    /// A program (and its arguments) the binary is run through, e.g. `setpriv` or `unshare`.
    pub wrapper: Vec<String>,
}

impl Server {
    /// A server with the test API key and 4 workers on a fresh database.
    pub fn start() -> Server {
        Server::start_with(&[], &[])
    }

    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_on(None, args, env)
    }

    /// Like [`Server::start_with`], on a copy of the database file `db` (e.g. one written by an
    /// older release) when given.
    pub fn start_on(db: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_configured(db, args, env, None, |_| Vec::new())
    }

    /// Like [`Server::start_with`], with the server's umask set to `umask`.
    pub fn start_with_umask(args: &[&str], env: &[(&str, &str)], umask: Option<u32>) -> Server {
        Server::start_configured(None, args, env, umask, |_| Vec::new())
    }

    /// Like [`Server::start_with`], with the binary run through the program and arguments that
    /// `wrapper` returns for the temporary directory (which it may prepare first).
    pub fn start_wrapped(wrapper: impl FnOnce(&Path) -> Vec<String>, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_configured(None, args, env, None, wrapper)
    }

    fn start_configured(
        db: Option<&Path>,
        args: &[&str],
        env: &[(&str, &str)],
        umask: Option<u32>,
        wrapper: impl FnOnce(&Path) -> Vec<String>,
    ) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        if let Some(db) = db {
            std::fs::copy(db, dir.path().join("affiliated.db")).expect("copying the database");
        }
        let wrapper = wrapper(dir.path());
        let mut server = Server {
            dir,
            addr: "127.0.0.1:1".parse().unwrap(),
            child: None,
            log: Arc::new(Mutex::new(Vec::new())),
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            extra_env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            umask,
            wrapper,
        };
        server.spawn();
        server
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("affiliated.db")
    }

    fn spawn(&mut self) {
        let mut cmd = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(bin());
                cmd
            }
            None => Command::new(bin()),
        };
        cmd.arg("serve")
            .arg("--db")
            .arg(self.db_path())
            .args(["--listen", "127.0.0.1:0"])
            .args(&self.extra_args)
            .env_clear()
            .env("AFFILIATED_API_KEY", KEY)
            // Tests never send postbacks off the machine; those with a local sink pass
            // `--outbound on`.
            .env("AFFILIATED_OUTBOUND", "off")
            .env("RUST_LOG", "info")
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if !self.extra_args.iter().any(|a| a == "--workers") {
            cmd.args(["--workers", "4"]);
        }
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        if let Some(mask) = self.umask {
            set_umask(&mut cmd, mask);
        }
        let mut child = cmd.spawn().expect("spawning affiliated");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap().to_string();
                    let _ = tx.send(addr);
                    sent = true;
                }
                log.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start; log:\n{}", self.log.lock().unwrap().join("\n"));
            }
        };
        self.addr = addr.parse().unwrap();
        self.child = Some(child);
    }

    /// Waits up to `deadline` for the process to end by itself.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let status = wait_with_deadline(self.child.as_mut().expect("server running"), deadline);
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// Stops with SIGTERM and returns the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server running");
        unsafe_kill(child.id(), 15);
        wait_with_deadline(&mut child, Duration::from_secs(10)).expect("server did not exit after SIGTERM")
    }

    /// Kills the process hard (SIGKILL), as a crash would.
    pub fn crash(&mut self) {
        let mut child = self.child.take().expect("server running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again after [`Server::crash`].
    pub fn restart_after_crash(&mut self) {
        assert!(self.child.is_none());
        self.spawn();
    }

    pub fn restart(&mut self) {
        let status = self.stop();
        assert!(status.success(), "server exited with {status}");
        self.spawn();
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn get(&self, path: &str) -> Resp {
        request(self.addr, "GET", path, &[("X-Api-Key", KEY)], b"")
    }

    pub fn delete(&self, path: &str) -> Resp {
        request(self.addr, "DELETE", path, &[("X-Api-Key", KEY)], b"")
    }

    pub fn get_public(&self, path: &str) -> Resp {
        request(self.addr, "GET", path, &[], b"")
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        request(self.addr, "POST", path, &[("X-Api-Key", KEY)], body.to_string().as_bytes())
    }

    pub fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        request(self.addr, "POST", path, headers, body)
    }

    /// Creates affiliate `ann` and a default 10% offer `main` landing on shop.example.
    pub fn seed(&self) {
        let r = self.post("/api/v1/affiliates", &serde_json::json!({"referral_code": "ann", "name": "Ann"}));
        assert_eq!(r.status, 201, "{}", r.text());
        let r = self.post(
            "/api/v1/offers",
            &serde_json::json!({
                "id": "main", "name": "Main", "landing_url": "https://shop.example/landing",
                "commission": {"type": "percent", "value": "10"}
            }),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }

    /// Records a click for `code` through the API and returns its ID.
    pub fn click(&self, code: &str, extra: Value) -> String {
        let mut body = serde_json::json!({"referral_code": code});
        if let Value::Object(map) = extra {
            for (k, v) in map {
                body[k] = v;
            }
        }
        let r = self.post("/api/v1/clicks", &body);
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_string()
    }

    /// Logs in to the admin with `token`; returns the session cookie (`name=value`).
    pub fn admin_cookie(&self, token: &str) -> String {
        let form = ("Content-Type", "application/x-www-form-urlencoded");
        let login = request(self.addr, "POST", "/admin/login", &[form], format!("token={token}").as_bytes());
        assert_eq!(login.status, 303, "{}", login.text());
        login.header("Set-Cookie").expect("a session cookie").split(';').next().unwrap().to_string()
    }

    /// A direct connection to the database file (WAL allows it next to the server).
    pub fn sql(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(self.db_path()).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Makes `cmd` start with the file-creation mask `mask` (set in the child only).
pub fn set_umask(cmd: &mut Command, mask: u32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: umask is async-signal-safe and touches only the child's own state.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(mask as libc::mode_t);
            Ok(())
        });
    }
}

fn unsafe_kill(pid: u32, signal: i32) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

pub fn wait_with_deadline(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Polls `check` until it returns true or `deadline` passes.
pub fn eventually(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + deadline;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Asserts the status and the error code of the one error shape.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "{}", self.text());
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", self.text());
    }
}

/// One request on a fresh connection (`Connection: close`).
/// The user agent requests send unless told otherwise.
pub const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    // A browser's user agent unless the test sends its own (visits without one are bots to the
    // tracking links).
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("user-agent")) {
        head.push_str(&format!("User-Agent: {BROWSER}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    if method == "HEAD" { read_head(&mut stream) } else { read_response(&mut stream) }
}

/// Reads the answer to a HEAD request: its Content-Length describes a body that is not sent.
pub fn read_head(stream: &mut impl Read) -> Resp {
    read_message(stream, false)
}

/// Reads one response: status line, headers, and a body of Content-Length bytes.
pub fn read_response(stream: &mut impl Read) -> Resp {
    read_message(stream, true)
}

fn read_message(stream: &mut impl Read, with_body: bool) -> Resp {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        reader.read_line(&mut l).expect("header line");
        let l = l.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').expect("header has a colon");
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
    if chunked && with_body {
        return Resp { status, headers, body: read_chunks(&mut reader) };
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; if with_body { len } else { 0 }];
    reader.read_exact(&mut body).expect("body");
    Resp { status, headers, body }
}

/// A chunked body (`Transfer-Encoding: chunked`), decoded; panics unless it ends with the final
/// empty chunk (a cut body is a failure, never a short file).
pub fn read_chunks(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).expect("chunk size");
        let size = usize::from_str_radix(size.trim_end(), 16).unwrap_or_else(|_| panic!("bad chunk size {size:?}"));
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).expect("chunk");
        assert_eq!(&chunk[size..], b"\r\n", "a chunk ends with CRLF");
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

pub fn path_exists(p: &Path) -> bool {
    p.exists()
}
