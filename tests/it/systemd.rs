//! Running under systemd: the units in `systemd/` pass `systemd-analyze`, the server speaks the
//! notify protocol (READY, WATCHDOG only while healthy, STOPPING), and the backup command the
//! nightly timer runs writes dated snapshots and prunes old ones.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::{Server, bin, eventually};

/// The highest `systemd-analyze security` exposure we accept for our units.
pub const MAX_EXPOSURE: f64 = 1.5;

/// Reports a missing tool: prints `SKIPPED <test>: <reason>` so the test can return early, or
/// fails when `AFFILIATED_REQUIRE_TOOLS=1` (as in CI), where a skipped test would hide a
/// regression.
///
/// The line must show in a plain `cargo test`, where libtest captures a passing test's output:
/// its capture only takes what the `print!`/`eprint!` macros write (`std::io::set_output_capture`),
/// so the line is written to the process's standard error through `std::io::stderr()` directly,
/// which nothing captures. libtest names each test's thread after the test.
pub fn skip(reason: &str) {
    if std::env::var("AFFILIATED_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{reason}, and AFFILIATED_REQUIRE_TOOLS=1 forbids skipping");
    }
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    // One write of the whole line, so lines of tests running in parallel do not interleave.
    let _ = std::io::stderr().write_all(format!("SKIPPED {test}: {reason}\n").as_bytes());
}

/// Only skips, when `skip_lines_show_in_a_plain_cargo_test` runs it in a child process (and
/// does nothing otherwise).
#[test]
fn skip_probe() {
    if std::env::var_os("AFFILIATED_SKIP_PROBE").is_some() {
        skip("the probe's tool is missing");
    }
}

/// A skip is one visible line in a plain `cargo test` (output captured, as by default), and a
/// failure under `AFFILIATED_REQUIRE_TOOLS=1`: this test binary runs `skip_probe` both ways.
#[test]
fn skip_lines_show_in_a_plain_cargo_test() {
    let probe = |require_tools: bool| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "systemd::skip_probe"])
            .env("AFFILIATED_SKIP_PROBE", "1")
            .env_remove("RUST_TEST_NOCAPTURE");
        if require_tools {
            cmd.env("AFFILIATED_REQUIRE_TOOLS", "1");
        } else {
            cmd.env_remove("AFFILIATED_REQUIRE_TOOLS");
        }
        cmd.output().unwrap()
    };
    let plain = probe(false);
    let text = output_text(&plain);
    assert!(plain.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the probe ran: {text}");
    assert!(text.contains("SKIPPED systemd::skip_probe: the probe's tool is missing\n"), "{text}");
    let required = probe(true);
    let text = output_text(&required);
    assert!(!required.status.success(), "{text}");
    assert!(text.contains("the probe's tool is missing, and AFFILIATED_REQUIRE_TOOLS=1 forbids skipping"), "{text}");
}

/// The first of `candidates` that is an executable file, or a name found on `PATH`.
pub fn find_tool(candidates: &[&str]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    let path = std::env::var_os("PATH").unwrap_or_default();
    for candidate in candidates {
        if candidate.contains('/') {
            if executable(Path::new(candidate)) {
                return Some(PathBuf::from(candidate));
            }
            continue;
        }
        if let Some(found) = std::env::split_paths(&path).map(|dir| dir.join(candidate)).find(|p| executable(p)) {
            return Some(found);
        }
    }
    None
}

fn unit(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd").join(name)
}

pub fn systemd_analyze() -> Option<PathBuf> {
    let found = find_tool(&["systemd-analyze", "/usr/bin/systemd-analyze", "/bin/systemd-analyze"]);
    if found.is_none() {
        skip("systemd-analyze is not installed (Debian: apt-get install systemd)");
    }
    found
}

pub fn output_text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Parses `→ Overall exposure level for x.service: 1.1 OK 🙂`.
pub fn overall_exposure(report: &str) -> Option<f64> {
    let line = report.lines().find(|l| l.contains("Overall exposure level"))?;
    line.rsplit_once(": ")?.1.split_whitespace().next()?.parse().ok()
}

#[test]
fn the_units_are_hardened() {
    let Some(analyze) = systemd_analyze() else { return };
    for name in ["affiliated.service", "affiliated-backup.service"] {
        let out = Command::new(&analyze).args(["security", "--offline=true"]).arg(unit(name)).output().unwrap();
        let report = output_text(&out);
        let exposure = overall_exposure(&report).unwrap_or_else(|| panic!("no overall exposure in:\n{report}"));
        assert!(exposure <= MAX_EXPOSURE, "{name}: exposure {exposure} > {MAX_EXPOSURE}:\n{report}");
    }
}

/// What the server needs must survive any tightening of the sandbox.
#[test]
fn the_service_keeps_what_the_server_needs() {
    let text = std::fs::read_to_string(unit("affiliated.service")).unwrap();
    let values = |key: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('=').map(|v| v.trim().to_string()))
            .collect()
    };
    for (key, want) in [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("Restart", "on-failure"),
        ("DynamicUser", "yes"),
        ("User", "affiliated"),
        ("StateDirectory", "affiliated"),
        ("ExecStart", "/usr/local/bin/affiliated serve"),
        ("Environment", "AFFILIATED_DB=/var/lib/affiliated/affiliated.db"),
        ("EnvironmentFile", "-/etc/affiliated/affiliated.env"),
        ("LimitNOFILE", "65536"),
    ] {
        assert_eq!(values(key), [want], "{key}=");
    }
    assert_eq!(values("WatchdogSec").len(), 1, "WatchdogSec= is set once");
    // TCP for listening and outbound postbacks, AF_UNIX for sd_notify.
    let families = values("RestrictAddressFamilies").join(" ");
    for family in ["AF_INET", "AF_INET6", "AF_UNIX"] {
        assert!(families.split_whitespace().any(|f| f == family), "{family} missing from {families:?}");
    }
    assert!(values("PrivateNetwork").iter().all(|v| v == "no"), "outbound postbacks need the network");
    assert!(!values("IPAddressDeny").iter().any(|v| v.split_whitespace().any(|a| a == "any")), "egress is needed");
    // The backup shares the same user and state directory.
    let backup = std::fs::read_to_string(unit("affiliated-backup.service")).unwrap();
    for line in ["DynamicUser=yes", "User=affiliated", "Environment=AFFILIATED_DB=/var/lib/affiliated/affiliated.db"] {
        assert!(backup.lines().any(|l| l.trim() == line), "affiliated-backup.service lacks {line}");
    }
}

/// Every `AFFILIATED_*` variable the code reads is documented in the example env file.
#[test]
fn the_env_example_lists_every_variable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("systemd/affiliated.env.example")).unwrap();
    let documented: Vec<&str> =
        example.lines().filter_map(|l| l.trim_start_matches('#').split_once('=')).map(|(name, _)| name).collect();
    let mut sources = vec![root.join("src")];
    let mut read = Vec::new();
    while let Some(dir) = sources.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (at, _) in text.match_indices("\"AFFILIATED_") {
                    let rest = &text[at + 1..];
                    let name =
                        &rest[..rest.find(|c: char| !(c.is_ascii_uppercase() || c == '_')).unwrap_or(rest.len())];
                    if rest[name.len()..].starts_with('"') {
                        read.push(name.to_string());
                    }
                }
            }
        }
    }
    read.sort();
    read.dedup();
    assert!(read.len() >= 9 && read.contains(&"AFFILIATED_TRUSTED_PROXY".to_string()), "found only {read:?}");
    for name in read.iter().map(String::as_str).chain(["RUST_LOG"]) {
        assert!(documented.contains(&name), "{name} is missing from systemd/affiliated.env.example");
    }
}

/// `systemd-analyze verify` works offline; it insists that `ExecStart=` exists, so the units
/// are checked in a copy that points at the binary under test.
#[test]
fn the_units_verify() {
    let Some(analyze) = systemd_analyze() else { return };
    let dir = tempfile::tempdir().unwrap();
    let names = ["affiliated.service", "affiliated-backup.service", "affiliated-backup.timer"];
    for name in names {
        let text = std::fs::read_to_string(unit(name)).unwrap().replace("/usr/local/bin/affiliated", bin());
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = Command::new(&analyze)
        .arg("verify")
        .args(names.iter().map(|n| dir.path().join(n)))
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let report = output_text(&out);
    assert!(out.status.success(), "systemd-analyze verify failed:\n{report}");
    assert!(!report.contains("affiliated"), "systemd-analyze verify complained:\n{report}");
}

/// Collects notify datagrams until `done` says enough, or the deadline passes.
fn collect(socket: &UnixDatagram, seen: &mut Vec<String>, deadline: Duration, done: impl Fn(&[String]) -> bool) {
    let until = Instant::now() + deadline;
    let mut buf = [0u8; 4096];
    while !done(seen) && Instant::now() < until {
        if let Ok(n) = socket.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

fn count(seen: &[String], state: &str) -> usize {
    seen.iter().filter(|m| m.lines().any(|l| l == state)).count()
}

#[test]
fn the_server_speaks_the_notify_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let notify = path.to_str().unwrap();
    // WATCHDOG_PID stays unset: the child's pid is not known before it starts.
    let mut s = Server::start_with(&[], &[("NOTIFY_SOCKET", notify), ("WATCHDOG_USEC", "2000000")]);
    let mut seen = Vec::new();
    collect(&socket, &mut seen, Duration::from_secs(10), |m| count(m, "WATCHDOG=1") >= 2);
    assert_eq!(count(&seen, "READY=1"), 1, "{seen:?}");
    assert!(seen[0].lines().any(|l| l == "READY=1"), "READY=1 comes first: {seen:?}");
    assert!(seen[0].contains(&format!("STATUS=listening on {}", s.addr)), "{seen:?}");
    assert!(count(&seen, "WATCHDOG=1") >= 2, "fewer than two watchdog pings in 10 s: {seen:?}\n{}", s.log_text());
    assert_eq!(count(&seen, "STOPPING=1"), 0, "{seen:?}");

    let status = s.stop();
    assert!(status.success(), "exit status {status}");
    collect(&socket, &mut seen, Duration::from_secs(2), |m| count(m, "STOPPING=1") > 0);
    assert_eq!(count(&seen, "STOPPING=1"), 1, "{seen:?}");
    let stopping_at = seen.iter().position(|m| m.lines().any(|l| l == "STOPPING=1")).unwrap();
    assert_eq!(count(&seen[stopping_at..], "WATCHDOG=1"), 0, "watchdog pings after STOPPING: {seen:?}");
}

#[test]
fn a_watchdog_meant_for_another_process_gets_no_pings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    // The heartbeat's own requests are logged at debug level: that shows the probes happen.
    let s = Server::start_with(
        &[],
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "2000000"),
            ("WATCHDOG_PID", "1"),
            ("RUST_LOG", "info,affiliated::access=debug"),
        ],
    );
    let probes = || s.log_text().matches("GET /healthz 200").count();
    assert!(eventually(Duration::from_secs(10), || probes() >= 2), "no heartbeat probes:\n{}", s.log_text());
    // The first probe's ping, had there been one, was sent before the second probe started.
    socket.set_nonblocking(true).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(count(&seen, "READY=1"), 1, "{seen:?}");
    assert_eq!(count(&seen, "WATCHDOG=1"), 0, "{seen:?}");
}

// --- The command the nightly backup timer runs. ---

fn backup(args: &[&str], db: &Path) -> Output {
    Command::new(bin())
        .arg("backup")
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("AFFILIATED_DB")
        .output()
        .expect("running affiliated backup")
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

fn is_snapshot(name: &str) -> bool {
    let Some(stamp) = name.strip_prefix("affiliated-").and_then(|r| r.strip_suffix(".db")) else {
        return false;
    };
    stamp.len() == 16
        && stamp.char_indices().all(|(i, c)| match i {
            8 => c == 'T',
            15 => c == 'Z',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn backup_into_a_directory_keeps_the_newest_snapshots() {
    let s = Server::start();
    s.seed();
    let dir = tempfile::tempdir().unwrap();
    let old = ["affiliated-20200101T000000Z.db", "affiliated-20210101T000000Z.db", "affiliated-20220101T000000Z.db"];
    for name in old.iter().chain(&["affiliated-by-hand.db", "README"]) {
        std::fs::write(dir.path().join(name), b"not a database").unwrap();
    }

    // While the server runs.
    let out = backup(&["--keep", "2", dir.path().to_str().unwrap()], &s.db_path());
    assert!(out.status.success(), "{}", output_text(&out));
    let names = names_in(dir.path());
    let fresh: Vec<&String> = names.iter().filter(|n| is_snapshot(n) && !old.contains(&n.as_str())).collect();
    assert_eq!(fresh.len(), 1, "{names:?}");
    assert!(fresh[0].as_str() > old[2], "{names:?}");
    let mut want = vec![fresh[0].clone(), old[2].to_string(), "README".into(), "affiliated-by-hand.db".into()];
    want.sort();
    assert_eq!(names, want, "the two newest snapshots and the other files remain");
    let text = output_text(&out);
    for gone in &old[..2] {
        assert!(text.contains(gone), "deleted files are reported: {text}");
    }

    // The snapshot is a complete, standalone database.
    let copy = rusqlite::Connection::open(dir.path().join(fresh[0])).unwrap();
    let verdict: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(verdict, "ok");
    let code: String = copy.query_row("SELECT referral_code FROM affiliates", [], |r| r.get(0)).unwrap();
    assert_eq!(code, "ann");
    let mode: String = copy.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete");

    // Without --keep nothing is deleted.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join(old[0]), b"not a database").unwrap();
    let out = backup(&[other.path().to_str().unwrap()], &s.db_path());
    assert!(out.status.success(), "{}", output_text(&out));
    let names = names_in(other.path());
    assert!(names.len() == 2 && names.iter().all(|n| is_snapshot(n)) && names[0] == old[0], "{names:?}");
}

#[test]
fn backup_failures_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("backups");
    std::fs::create_dir(&out_dir).unwrap();
    let arg = out_dir.to_str().unwrap();

    // A missing database: exit 1, nothing written.
    let missing = dir.path().join("missing.db");
    let out = backup(&["--keep", "3", arg], &missing);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(output_text(&out).contains("no database at"), "{}", output_text(&out));
    assert!(names_in(&out_dir).is_empty());
    assert!(!missing.exists(), "the backup must not create the database it reads");

    // Usage errors: exit 2.
    let s = Server::start();
    let file = dir.path().join("one.db");
    for args in [
        vec!["--keep", "2", file.to_str().unwrap()],
        vec!["--keep", "0", arg],
        vec!["--keep", "many", arg],
        vec![],
        vec![arg, arg],
    ] {
        let out = backup(&args, &s.db_path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", output_text(&out));
    }
    assert!(!file.exists());

    // An existing file is never overwritten.
    let out = backup(&[file.to_str().unwrap()], &s.db_path());
    assert!(out.status.success(), "{}", output_text(&out));
    let out = backup(&[file.to_str().unwrap()], &s.db_path());
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(output_text(&out).contains("already exists"), "{}", output_text(&out));
}
