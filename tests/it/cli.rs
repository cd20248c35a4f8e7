//! The command line as a person meets it: usage and missing arguments, help that lines up,
//! tools that never create a database by accident, opening errors that say why, and a
//! `rust-version` that tells the truth.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::{Server, bin};

fn run(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[test]
fn no_arguments_prints_the_usage_on_stderr_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr(&out).contains("Usage: affiliated <COMMAND>"), "{}", stderr(&out));
    for asked in [&["--help"][..], &["help"], &["-h"]] {
        let out = run(asked, dir.path());
        assert_eq!(out.status.code(), Some(0), "{asked:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: affiliated <COMMAND>"));
    }
}

#[test]
fn every_missing_argument_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (&["keys"][..], "keys needs an action: create, list or revoke"),
        (&["keys", "revoke"], "keys revoke needs the ID of the key to revoke"),
        (&["keys", "revoke", "abc"], "\"abc\" is not a key ID"),
        (&["keys", "create"], "keys create needs --label NAME"),
        (&["keys", "create", "--label"], "missing argument for option '--label'"),
        (&["keys", "list", "extra"], "keys list takes no arguments"),
        (&["keys", "rotate"], "unknown keys action \"rotate\": use create, list or revoke"),
        (&["backup"], "backup needs where to write the copy: a new FILE, or a DIR"),
        (&["backup", "--keep"], "missing argument for option '--keep'"),
        (&["backup", "a.db", "b.db"], "backup takes one FILE or DIR"),
        (&["serve", "--db"], "missing argument for option '--db'"),
        (&["serve", "--admin", "maybe"], "--admin / AFFILIATED_ADMIN must be on or off"),
        (&["serve", "extra"], "serve takes no arguments"),
        (&["postback-url", "--public-url"], "missing argument for option '--public-url'"),
        (&["check", "--listen"], "missing argument for option '--listen'"),
        (&["migrate", "extra"], "migrate takes no arguments"),
        (&["frobnicate"], "unknown command \"frobnicate\""),
    ] {
        let out = run(args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?} should say {says:?}, said: {}", stderr(&out));
        assert!(!stderr(&out).contains("Usage:"), "{args:?}: an error, not the whole help: {}", stderr(&out));
    }
    assert!(names_in(dir.path()).is_empty(), "usage errors create nothing: {:?}", names_in(dir.path()));
}

/// Checks one help text: in every section (lines between blank lines and headings), every
/// entry's description starts in the same column, and every continuation line (including an
/// `[ENVIRONMENT]` line) starts in that column too. An entry too long for its column has its
/// description on the next line.
pub fn check_columns(command: &str, help: &str) {
    let mut column: Option<usize> = None;
    let mut previous_bare = false;
    for (n, line) in help.lines().enumerate() {
        let at = |what: &str| format!("`{command} --help` line {}, {what}: {line:?}", n + 1);
        let indent = line.len() - line.trim_start().len();
        if line.trim().is_empty() || indent == 0 {
            column = None;
            assert!(!previous_bare, "{}", at("an entry without a description before it"));
            continue;
        }
        if indent == 2 {
            assert!(!previous_bare, "{}", at("an entry without a description before it"));
            match line[2..].find("  ") {
                Some(gap) => {
                    let start = 2 + gap + line[2 + gap..].len() - line[2 + gap..].trim_start().len();
                    assert_eq!(*column.get_or_insert(start), start, "{}", at("description out of column"));
                    previous_bare = false;
                }
                None => previous_bare = true,
            }
        } else {
            let expected = *column.get_or_insert(indent);
            assert_eq!(indent, expected, "{}", at("continuation out of column"));
            previous_bare = false;
        }
        assert!(line.len() <= 100, "{}", at("longer than 100 characters"));
    }
}

#[test]
fn help_columns_are_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let main = String::from_utf8(run(&["--help"], dir.path()).stdout).unwrap();
    check_columns("affiliated", &main);
    let commands: Vec<&str> = main
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(commands, ["serve", "migrate", "keys", "backup", "check", "postback-url", "verify-statement"]);
    for command in commands {
        let out = run(&[command, "--help"], dir.path());
        assert_eq!(out.status.code(), Some(0), "{command}");
        check_columns(command, &String::from_utf8(out.stdout).unwrap());
    }
    // The checker itself notices a misaligned column.
    let bad = std::panic::catch_unwind(|| check_columns("x", "Commands:\n  serve     a\n  postback-url  b\n"));
    assert!(bad.is_err());
}

/// The options of `command --help` that read no environment variable: those without a bracketed
/// `[VARIABLE…]` or `[environment only…]` line in their entry.
fn flag_only_options(command: &str, dir: &Path) -> Vec<String> {
    let out = run(&[command, "--help"], dir);
    assert_eq!(out.status.code(), Some(0), "{command}");
    let help = String::from_utf8(out.stdout).unwrap();
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut open = false;
    for line in help.lines() {
        if let Some(flag) = line.strip_prefix("  --").map(|l| l.split([' ', ',']).next().unwrap()) {
            entries.push((format!("--{flag}"), line.to_string()));
            open = true;
        } else if open && line.starts_with("   ") {
            entries.last_mut().unwrap().1.push_str(line);
        } else {
            open = false;
        }
    }
    let reads_env =
        |text: &str| text.contains("[AFFILIATED_") || text.contains("[RUST_LOG") || text.contains("[environment only");
    entries.into_iter().filter(|(_, text)| !reads_env(text)).map(|(flag, _)| flag).collect()
}

#[test]
fn the_top_level_help_names_exactly_the_options_without_a_variable() {
    let dir = tempfile::tempdir().unwrap();
    let main = String::from_utf8(run(&["--help"], dir.path()).stdout).unwrap();
    let commands: Vec<&str> = main
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(commands.contains(&"serve") && commands.contains(&"install"), "{commands:?}");
    let mut without: Vec<(String, String)> = Vec::new();
    for command in &commands {
        without.extend(flag_only_options(command, dir.path()).into_iter().map(|f| (command.to_string(), f)));
    }
    assert!(without.contains(&("keys".into(), "--label".into())), "the reader of --help is broken: {without:?}");
    // What the top-level help says: after "flags only:", each command followed by its flags.
    let claim = main.split("flags only:").nth(1).unwrap_or_else(|| panic!("no list of flag-only options:\n{main}"));
    let claim = claim.split("\n\n").next().unwrap();
    let mut named: Vec<(String, String)> = Vec::new();
    let mut current = None;
    for word in claim.split(|c: char| c.is_whitespace() || c == ',' || c == '.').filter(|w| !w.is_empty()) {
        if commands.contains(&word) {
            current = Some(word.to_string());
        } else if word.starts_with("--") {
            named.push((current.clone().expect("a flag before its command"), word.to_string()));
        }
    }
    without.sort();
    named.sort();
    assert_eq!(
        named, without,
        "`affiliated --help` and the commands' own help disagree on which options are flags only"
    );
}

#[test]
fn tools_on_a_missing_database_exit_1_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let db = missing.to_str().unwrap();
    let expected =
        format!("affiliated: no database at {db} (start 'affiliated serve --db {db}' first, or pass --db)\n");
    let out_file = dir.path().join("copy.db");
    for args in [
        vec!["keys", "list", "--db", db],
        vec!["keys", "create", "--label", "shop", "--db", db],
        vec!["keys", "revoke", "1", "--db", db],
        vec!["postback-url", "--db", db],
        vec!["postback-url", "--rotate", "--db", db],
        vec!["backup", "--db", db, out_file.to_str().unwrap()],
        vec!["check", "--db", db],
    ] {
        let out = run(&args, dir.path());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), expected, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(names_in(dir.path()).is_empty(), "{args:?} created {:?}", names_in(dir.path()));
    }
    // Without --db, the default file in the working directory is named by its full path.
    let out = run(&["keys", "list"], dir.path());
    let default = dir.path().join("affiliated.db");
    assert!(stderr(&out).contains(&format!("no database at {}", default.display())), "{}", stderr(&out));
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn the_tools_still_work_on_a_database_that_exists() {
    let s = Server::start();
    let db = s.db_path();
    let out = run(&["keys", "list", "--db", db.to_str().unwrap()], s.dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let addr = s.addr.to_string();
    let out = run(&["check", "--db", db.to_str().unwrap(), "--listen", &addr], s.dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let fresh = tempfile::tempdir().unwrap();
    let created = fresh.path().join("new.db");
    let out = run(&["migrate", "--db", created.to_str().unwrap()], fresh.path());
    assert_eq!(out.status.code(), Some(0), "migrate creates a database: {}", stderr(&out));
    assert!(created.exists());
}

#[test]
fn serve_on_a_taken_port_leaves_no_files() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("affiliated.db");
    let out = run(&["serve", "--db", db.to_str().unwrap(), "--listen", &addr], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&addr), "{}", stderr(&out));
    assert!(names_in(dir.path()).is_empty(), "left behind: {:?}", names_in(dir.path()));
}

/// Runs the binary as an unprivileged user: as root, permissions would not stop it.
fn run_unprivileged(args: &[&str], cwd: &Path) -> Output {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return run(args, cwd);
    }
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin())
        .args(args)
        .current_dir("/")
        .env_clear()
        .output()
        .expect("setpriv (util-linux) to drop root")
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn opening_errors_name_the_path_and_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    let serve =
        |db: &Path| run_unprivileged(&["serve", "--db", db.to_str().unwrap(), "--listen", "127.0.0.1:0"], dir.path());

    let in_missing_dir = dir.path().join("no-such-dir/affiliated.db");
    let out = serve(&in_missing_dir);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains(&in_missing_dir.display().to_string()), "{said}");
    assert!(
        said.contains("the directory") && said.contains("no-such-dir") && said.contains("does not exist"),
        "{said}"
    );

    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    chmod(&locked, 0o555);
    let out = serve(&locked.join("affiliated.db"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains(&locked.display().to_string()) && said.contains("is not writable"), "{said}");

    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    chmod(&open, 0o777);
    let read_only = open.join("affiliated.db");
    let out = run(&["migrate", "--db", read_only.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    chmod(&read_only, 0o444);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let c = std::ffi::CString::new(read_only.to_str().unwrap()).unwrap();
        // SAFETY: a valid path; hands the file to the unprivileged user the binary runs as.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
    }
    for out in [serve(&read_only), run_unprivileged(&["keys", "list", "--db", read_only.to_str().unwrap()], dir.path())]
    {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let said = stderr(&out);
        assert!(said.contains(&read_only.display().to_string()) && said.contains("read-only"), "{said}");
        assert!(said.contains("mode 444"), "{said}");
    }
}

#[test]
fn rust_version_is_the_highest_of_the_locked_dependencies() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let host = Command::new("rustc").arg("-vV").output().unwrap();
    let host = String::from_utf8(host.stdout).unwrap();
    let host = host.lines().find_map(|l| l.strip_prefix("host: ")).expect("rustc -vV names the host").to_string();
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    let mut ours = None;
    let mut highest: Option<(Vec<u32>, String)> = None;
    for package in metadata["packages"].as_array().unwrap() {
        let Some(rust_version) = package["rust_version"].as_str() else { continue };
        if package["name"] == "affiliated" {
            ours = Some(rust_version.to_string());
        } else if highest.as_ref().is_none_or(|(v, _)| version(rust_version) > *v) {
            highest = Some((version(rust_version), format!("{} {}", package["name"], package["version"])));
        }
    }
    let ours = version(&ours.expect("Cargo.toml has a rust-version"));
    let (needed, by) = highest.unwrap();
    // Compared as numbers: "1.89" and "1.89.0" are the same requirement.
    let trim = |mut v: Vec<u32>| {
        while v.len() > 2 && v.last() == Some(&0) {
            v.pop();
        }
        v
    };
    assert_eq!(trim(ours), trim(needed), "rust-version must be what {by} needs");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let declared = toml.lines().find_map(|l| l.strip_prefix("rust-version = ")).unwrap().trim_matches('"');
    assert!(readme.contains(&format!("Rust {declared} or newer")), "README.md must name Rust {declared}");
    assert!(readme.contains("C compiler"), "README.md must say a C compiler is needed");
}

/// `check` also compares the balances the server reads (the ledger's rollup) with the entries
/// they sum up, and fails naming the affiliate when they differ.
#[test]
fn check_finds_balances_that_do_not_add_up_to_the_ledger() {
    let s = Server::start();
    s.seed();
    let click = s.click("ann", serde_json::json!({}));
    let r =
        s.post("/api/v1/conversions", &serde_json::json!({"external_id": "c-1", "amount": "80.00", "click_id": click}));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    assert_eq!(s.post(&format!("/api/v1/conversions/{id}/approve"), &serde_json::json!({})).status, 200);
    let (db, addr) = (s.db_path(), s.addr.to_string());
    let check = || run(&["check", "--db", db.to_str().unwrap(), "--listen", &addr], s.dir.path());
    let out = check();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("ok: the balances add up to the ledger (1 affiliates, 2 entries)"), "{said}");

    s.sql().execute("UPDATE ledger_balances SET available = available + 1", []).unwrap();
    let out = check();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("is healthy"), "the server itself is fine: {said}");
    assert!(said.contains("ledger: affiliate 1 USD: balances row (pending 0, available 801,"), "{said}");
    assert!(stderr(&out).contains("1 ledger balances differ from the entries they sum up"), "{}", stderr(&out));
}
