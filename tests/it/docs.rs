//! The documentation runs as written. README.md's quickstart and walk-through, then
//! docs/integration.md's curl flow, are executed against one fresh server with a temporary
//! database, in a POSIX shell, and what they print is compared with what the documents show. A
//! doc change that breaks the walk-through breaks `cargo test`. (`doc_format.rs` reads the
//! marks and compares output; `links.rs` checks the documents' internal links.)
//!
//! How a document marks what runs (the marks are HTML comments, invisible on GitHub):
//! - `<!-- doc-test: serve -->` right before a ```sh block: the block starts the server. It runs
//!   as written with `sh` in an empty directory, where `cargo` is a stand-in that accepts only
//!   `cargo install --path .` and the binary under test is first on PATH as `affiliated`. Its
//!   environment has AFFILIATED_LISTEN=127.0.0.1:0, so it gets a free port.
//! - `<!-- doc-test: run -->` right before a ```sh block: the block runs as written in that
//!   directory, in one shell session per document (`dash`, with `set -e`: a failing command
//!   fails the test). `127.0.0.1:8080` in a block stands for the server's real address.
//! - A ```text block right after such a block (blank lines between at most) is what it prints:
//!   for a run block, all of its output (stdout and stderr), line by line; for a serve block,
//!   lines that must appear in the server's log, in this order.
//!
//! How output is compared: a shown line that starts with a space continues the line before it
//! (for long JSON); `…` stands for any text within a line; and on both sides, generated values
//! are masked first: times (`2026-11-27T10:47:09.935Z`), the version after `affiliated `, and
//! every run of 26 or more characters from `A-Z a-z 0-9 - _` (click IDs, keys, tokens).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::admin::{FORM, csrf_of, form_body};
use crate::doc_format::{Block, Kind, blocks, compare_output, in_order, line_matches};
use crate::support::{bin, eventually, request};

/// The address the documents use for the server.
const DOC_ADDR: &str = "127.0.0.1:8080";
const DONE: &str = "@@doc-test: block done@@";

/// Where the documents run: the directory a reader works in, and the tools on their PATH.
pub struct Workplace {
    /// The reader's working directory: where the server runs and its files appear.
    pub dir: tempfile::TempDir,
    /// Scripts and stand-ins, kept out of the reader's directory.
    pub scratch: tempfile::TempDir,
    pub path: String,
}

impl Workplace {
    pub fn new() -> Workplace {
        let dir = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let shims = scratch.path().join("bin");
        std::fs::create_dir(&shims).unwrap();
        let cargo = shims.join("cargo");
        std::fs::write(
            &cargo,
            "#!/bin/sh\n# The docs test's stand-in for cargo: the binary under test is built already.\n\
             [ \"$*\" = 'install --path .' ] || { echo \"doc-test: unexpected cargo $*\" >&2; exit 1; }\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
        let binary_dir = Path::new(bin()).parent().unwrap();
        let path = format!(
            "{}:{}:{}",
            shims.display(),
            binary_dir.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
        );
        Workplace { dir, scratch, path }
    }

    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", &self.path)
            // No ~/.curlrc or shell start-up files of whoever runs the tests.
            .env("HOME", self.scratch.path());
        cmd
    }

    pub fn script(&self, name: &str, code: &str) -> PathBuf {
        let file = self.scratch.path().join(name);
        std::fs::write(&file, code).unwrap();
        file
    }
}

/// The server a document's serve block started.
struct DocServer {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for DocServer {
    fn drop(&mut self) {
        // The block's shell and the server in it form their own process group.
        // SAFETY: signals only the process group this test started.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGTERM) };
        let _ = crate::support::wait_with_deadline(&mut self.child, Duration::from_secs(10));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(place: &Workplace, block: &Block, doc: &str) -> Result<DocServer, String> {
    use std::os::unix::process::CommandExt;
    let script = place.script("serve.sh", &block.code);
    let mut child = place
        .command("sh")
        .arg(&script)
        .env("AFFILIATED_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        });
    }
    // Owned from here on: dropping it (also on an error below) stops the block's processes.
    let mut server = DocServer { child, addr: String::new(), log };
    let text = |log: &Arc<Mutex<Vec<String>>>| log.lock().unwrap().join("\n");
    let started = eventually(Duration::from_secs(30), || text(&server.log).contains("listening on http://"));
    let log = text(&server.log);
    let addr = log.split("listening on http://").nth(1).and_then(|r| r.split_whitespace().next());
    match addr.filter(|_| started) {
        Some(addr) => server.addr = addr.to_string(),
        None => {
            return Err(format!("{doc}:{}: the serve block did not start a server; it printed:\n{log}", block.line));
        }
    }
    if let Some(expected) = &block.expected {
        let lines = || -> Vec<String> {
            server.log.lock().unwrap().iter().map(|l| l.replace(&server.addr, DOC_ADDR)).collect()
        };
        // The banner follows the "listening" line at once; give it a moment to arrive.
        eventually(Duration::from_secs(5), || in_order(expected, &lines()).is_ok());
        in_order(expected, &lines()).map_err(|e| format!("{doc}:{}: {e}", block.line))?;
    }
    Ok(server)
}

/// One shell session, fed block after block.
pub struct Session {
    child: Child,
    stdin: ChildStdin,
    output: Receiver<String>,
}

impl Session {
    pub fn start(place: &Workplace, shell: &str) -> Session {
        let mut child = place
            .command(shell)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{shell}: {e}"));
        let mut stdin = child.stdin.take().unwrap();
        // Errors go where the output goes, in order; any failing command ends the session.
        writeln!(stdin, "exec 2>&1; set -e").unwrap();
        let (tx, output) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Session { child, stdin, output }
    }

    /// Runs one block (sourced, so its variables and functions stay for the next) and returns
    /// what it printed, or why it failed.
    pub fn run(&mut self, place: &Workplace, name: &str, code: &str) -> Result<Vec<String>, String> {
        let script = place.script(name, code);
        writeln!(self.stdin, ". '{}'\necho '{DONE}'", script.display()).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut printed = Vec::new();
        loop {
            match self.output.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line == DONE => return Ok(printed),
                Ok(line) => printed.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("still running after 60 s:\n{}", printed.join("\n")));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                    return Err(format!("a command failed ({status}); the block printed:\n{}", printed.join("\n")));
                }
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs every run block of `doc` in one new `shell` session against `server`.
fn run_document(place: &Workplace, server: &DocServer, doc: &str, name: &str, shell: &str) -> Result<usize, String> {
    let mut session = Session::start(place, shell);
    let mut ran = 0;
    for (i, block) in blocks(doc, name).iter().enumerate().filter(|(_, b)| b.kind == Kind::Run) {
        let code = block.code.replace(DOC_ADDR, &server.addr);
        let printed = session
            .run(place, &format!("{}-{i}.sh", name.replace('/', "-")), &code)
            .map_err(|e| format!("{name}:{} ({shell}): {e}", block.line))?;
        let printed: Vec<String> = printed.iter().map(|l| l.replace(&server.addr, DOC_ADDR)).collect();
        if let Some(expected) = &block.expected {
            compare_output(expected, &printed).map_err(|e| format!("{name}:{} ({shell}): {e}", block.line))?;
        }
        ran += 1;
    }
    Ok(ran)
}

fn read(doc: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap()
}

/// Starts the README's server in a new workplace.
fn readme_server(readme: &str) -> (Workplace, DocServer) {
    let place = Workplace::new();
    let serve_blocks: Vec<Block> = blocks(readme, "README.md").into_iter().filter(|b| b.kind == Kind::Serve).collect();
    assert_eq!(serve_blocks.len(), 1, "README.md has one serve block");
    let server = serve(&place, &serve_blocks[0], "README.md").unwrap_or_else(|e| panic!("{e}"));
    (place, server)
}

#[test]
fn the_readme_and_the_integration_guide_run_as_written() {
    let readme = read("README.md");
    let guide = read("docs/integration.md");
    let (place, server) = readme_server(&readme);
    let ran = run_document(&place, &server, &readme, "README.md", "dash").unwrap_or_else(|e| panic!("{e}"));
    assert!(ran >= 6, "README.md has only {ran} blocks that run");

    // Where the README leaves the reader: `/` leads to the admin, and the token the first start
    // wrote opens it, with the approved conversion in it.
    let addr = server.addr.parse().unwrap();
    let home = request(addr, "GET", "/", &[], b"");
    assert_eq!((home.status, home.header("Location")), (303, Some("/admin")));
    let token = std::fs::read_to_string(place.dir.path().join("affiliated.db.initial-admin-token")).unwrap();
    let login = request(addr, "POST", "/admin/login", &[FORM], &form_body(&[("token", token.trim())]));
    assert_eq!(login.status, 303, "{}", login.text());
    let cookie = login.header("Set-Cookie").unwrap().split(';').next().unwrap().to_string();
    let page = request(addr, "GET", "/admin/conversions", &[("Cookie", &cookie)], b"");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("order-1001") && page.text().contains("approved"), "{}", page.text());
    assert!(!csrf_of(&page.text()).is_empty());

    // The guide, in a shell of its own, on the same database: its names do not collide.
    let ran = run_document(&place, &server, &guide, "docs/integration.md", "dash").unwrap_or_else(|e| panic!("{e}"));
    assert!(ran >= 15, "docs/integration.md has only {ran} blocks that run");
}

/// The README's commands are meant to be pasted into whatever shell a reader has: besides
/// dash (POSIX), they run in bash and zsh when those are installed.
#[test]
fn the_readme_runs_in_bash_and_zsh_too() {
    let readme = read("README.md");
    for shell in ["bash", "zsh"] {
        let installed = Command::new(shell).arg("-c").arg("exit 0").status().is_ok_and(|s| s.success());
        if !installed {
            crate::systemd::skip(&format!("{shell} is not installed"));
            continue;
        }
        let (place, server) = readme_server(&readme);
        run_document(&place, &server, &readme, "README.md", shell).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn the_runner_notices_failures_and_changed_output() {
    let place = Workplace::new();
    let server = DocServer {
        child: {
            use std::os::unix::process::CommandExt;
            Command::new("sleep").arg("60").process_group(0).spawn().unwrap()
        },
        addr: "127.0.0.1:9".into(),
        log: Default::default(),
    };
    let ok = "<!-- doc-test: run -->\n```sh\nX=1\necho \"x is $X\"\n```\n\n```text\nx is …\n```\n";
    assert_eq!(run_document(&place, &server, ok, "ok.md", "dash"), Ok(1));
    let changed = ok.replace("x is …", "x was 1");
    assert!(run_document(&place, &server, &changed, "changed.md", "dash").unwrap_err().contains("x was 1"));
    let failing = "<!-- doc-test: run -->\n```sh\nfalse\necho unreachable\n```\n";
    let e = run_document(&place, &server, failing, "failing.md", "dash").unwrap_err();
    assert!(e.contains("failing.md:2") && e.contains("a command failed"), "{e}");
    // Masks, wildcards and continuation lines.
    let shown = [
        "{\"id\":\"P7RcW10ffQP4A_Yw4l3yAX3z-13QJ5\",\"at\":\"2026-11-21T09:12:44.201Z\",".to_string(),
        " \"n\":1}".into(),
    ];
    let printed =
        ["{\"id\":\"P7Rd0000000000000000000000000\",\"at\":\"2027-01-01T00:00:00.000Z\",\"n\":1}".to_string()];
    assert_eq!(compare_output(&shown, &printed), Ok(()));
    assert!(compare_output(&["{\"n\":1,…}".into()], &printed).is_err());
    assert!(line_matches("a…c…e", "abcde") && !line_matches("a…c…e", "abcdef") && !line_matches("abc…bcd", "abcd"));
}
