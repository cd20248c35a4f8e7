//! docs/operations.md's Backups, Restore and Upgrade sections run as written (#22), in the
//! order an operator lives them, with the checks a test adds between them:
//!
//! - the documented disaster: back up, copy off the machine, erase a customer, copy the
//!   erasure log off again (hourly, as documented), lose the disk, restore on a new machine;
//!   then the same signing key (an old statement verifies as the new one's prefix), the same
//!   postback URL, and the customer still erased;
//! - a restore on the same machine after a bad change;
//! - an upgrade from the release-1 fixture and its rollback.
//!
//! The blocks marked `<!-- doc-test: run -->` run in one `dash` session (docs.rs's runner and
//! output comparison). What a machine has, a test gets from stand-ins: `/var/lib/affiliated`,
//! `/usr/local/bin` and `/mnt/offsite` in a block stand for directories of the test, and
//! `127.0.0.1:8080` for the server's real address (also in what a block prints); `systemctl`
//! is a script that runs the units' own `ExecStart=` lines (read from systemd/) with their
//! `Environment=` and an env file, as systemd would: `start`/`stop affiliated` and `start
//! affiliated-backup`. The previous release's binary (for the rollback) is stood in by the
//! binary under test: what the rollback must prove, the database as release 1 left it, is
//! checked before anything starts on it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use affiliated::tracking::statement::{self, Statement};
use serde_json::json;

use crate::doc_format::{Block, Kind, blocks, compare_output};
use crate::docs::{Session, Workplace};
use crate::support::{KEY, Resp, bin, request};

const DOC: &str = "docs/operations.md";
/// The admin token the test's env file sets, as `affiliated install` would.
const ADMIN_TOKEN: &str = "adm_test-token-for-the-ops-docs-0123456789";

/// The run blocks of the section titled `title` (any heading level), up to the next heading of
/// the same or a higher level, with their line numbers in the whole document.
fn section(doc: &str, title: &str) -> Vec<Block> {
    let lines: Vec<&str> = doc.lines().collect();
    let (start, level) = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| {
            let hashes = l.len() - l.trim_start_matches('#').len();
            (hashes >= 2 && l[hashes..].trim() == title).then_some((i, hashes))
        })
        .unwrap_or_else(|| panic!("{DOC} has no section {title:?}"));
    let end = (start + 1..lines.len())
        .find(|&i| {
            let hashes = lines[i].len() - lines[i].trim_start_matches('#').len();
            (2..=level).contains(&hashes) && lines[i][hashes..].starts_with(' ')
        })
        .unwrap_or(lines.len());
    let text = lines[start..end].join("\n");
    let mut found: Vec<Block> = blocks(&text, DOC).into_iter().filter(|b| b.kind == Kind::Run).collect();
    for b in &mut found {
        b.line += start;
    }
    assert!(!found.is_empty(), "{DOC}: section {title:?} has no block that runs");
    found
}

/// One machine the document is run on.
struct Machine {
    place: Workplace,
    session: Session,
    /// Holds the machine's disk: `state` (/var/lib/affiliated).
    _root: tempfile::TempDir,
    state: PathBuf,
    offsite: PathBuf,
    usr_local_bin: PathBuf,
    port: u16,
    ran: usize,
}

impl Machine {
    /// A machine with `/usr/local/bin/affiliated` installed, `offsite` mounted at /mnt/offsite
    /// and, if given, a database in place.
    fn new(db: Option<&Path>, offsite: &Path) -> Machine {
        let mut place = Workplace::new();
        let root = tempfile::tempdir().unwrap();
        let state = root.path().join("var-lib-affiliated");
        let offsite = offsite.to_path_buf();
        let usr_local_bin = place.scratch.path().join("usr-local-bin");
        std::fs::create_dir_all(&usr_local_bin).unwrap();
        std::fs::copy(bin(), usr_local_bin.join("affiliated")).unwrap();
        if let Some(db) = db {
            std::fs::create_dir_all(&state).unwrap();
            std::fs::copy(db, state.join("affiliated.db")).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        place.path = format!("{}:{}", usr_local_bin.display(), place.path);
        let machine_env = format!(
            "AFFILIATED_API_KEY={KEY}\nAFFILIATED_ADMIN_TOKEN={ADMIN_TOKEN}\nAFFILIATED_LISTEN=127.0.0.1:{port}\n\
             AFFILIATED_OUTBOUND=off\nAFFILIATED_TRUSTED_PROXY=127.0.0.1\nRUST_LOG=info\n"
        );
        std::fs::write(place.scratch.path().join("affiliated.env"), machine_env).unwrap();
        let machine = Machine {
            session: Session::start(&place, "dash"),
            place,
            _root: root,
            state,
            offsite,
            usr_local_bin,
            port,
            ran: 0,
        };
        machine.write_systemctl();
        machine
    }

    /// Doc paths and address → this machine's, longest first.
    fn substitutions(&self) -> Vec<(String, String)> {
        vec![
            ("/var/lib/affiliated".into(), self.state.display().to_string()),
            ("/usr/local/bin".into(), self.usr_local_bin.display().to_string()),
            ("/mnt/offsite".into(), self.offsite.display().to_string()),
            ("127.0.0.1:8080".into(), format!("127.0.0.1:{}", self.port)),
        ]
    }

    fn to_machine(&self, text: &str) -> String {
        self.substitutions().iter().fold(text.to_string(), |t, (doc, real)| t.replace(doc, real))
    }

    fn to_doc(&self, text: &str) -> String {
        self.substitutions().iter().fold(text.to_string(), |t, (doc, real)| t.replace(real, doc))
    }

    /// The `systemctl` stand-in, with the units' ExecStart= and Environment= lines.
    fn write_systemctl(&self) {
        let unit = |name: &str| {
            let text =
                std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd").join(name)).unwrap();
            let value = |key: &str| {
                let found: Vec<String> =
                    text.lines().filter_map(|l| l.strip_prefix(key)).map(|v| self.to_machine(v.trim())).collect();
                assert_eq!(found.len(), 1, "{name}: one {key}");
                found[0].clone()
            };
            // StateDirectory=a b: systemd makes /var/lib/a and /var/lib/b (mode 0700) first.
            let dirs: Vec<String> = value("StateDirectory=")
                .split_whitespace()
                .map(|d| format!("'{}'", self.to_machine(&format!("/var/lib/{d}"))))
                .collect();
            (value("ExecStart="), value("Environment="), format!("mkdir -p -m 700 {}", dirs.join(" ")))
        };
        let (serve, serve_env, serve_dirs) = unit("affiliated.service");
        let (backup, backup_env, backup_dirs) = unit("affiliated-backup.service");
        let scratch = self.place.scratch.path().display();
        let script = format!(
            r#"#!/bin/sh
# The ops docs test's stand-in for systemctl: makes the units' StateDirectory= and runs their
# ExecStart= with their Environment= and the env file, as systemd would (tests/it/ops_docs.rs).
set -e
pidfile='{scratch}/server.pid'
load_env() {{ set -a; . '{scratch}/affiliated.env'; set +a; }}
case "$1 ${{2%.service}}" in
"stop affiliated")
    [ -f "$pidfile" ] || exit 0
    pid=$(cat "$pidfile")
    rm -f "$pidfile"
    kill -TERM "$pid" 2>/dev/null || exit 0
    i=0
    while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le 400 ] || {{ echo "doc-test: the server did not stop" >&2; exit 1; }}
        sleep 0.05
    done ;;
"start affiliated")
    [ ! -f "$pidfile" ] || exit 0
    n=$(ls '{scratch}' | grep -c '^server-.*\.log$' || true)
    log="{scratch}/server-$n.log"
    {serve_dirs}
    : >"$log"
    (load_env; export {serve_env}; exec {serve}) >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    i=0
    until grep -q 'listening on http://' "$log"; do
        if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then cat "$log" >&2; rm -f "$pidfile"; exit 1; fi
        i=$((i + 1))
        [ "$i" -le 600 ] || {{ echo "doc-test: the server did not start" >&2; exit 1; }}
        sleep 0.05
    done ;;
"start affiliated-backup")
    {backup_dirs}
    (load_env; export {backup_env}; exec {backup}) >>'{scratch}/backup.log' 2>&1 </dev/null ;;
*)
    echo "doc-test: unexpected systemctl $*" >&2
    exit 1 ;;
esac
"#
        );
        let path = self.place.scratch.path().join("bin/systemctl");
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// What the test does on the machine itself (not a documented command): run the stand-in.
    fn systemctl(&self, action: &str, unit: &str) {
        let out = self.place.command("systemctl").args([action, unit]).output().unwrap();
        assert!(out.status.success(), "systemctl {action} {unit}: {}", crate::restore::text(&out));
    }

    /// Runs one documented block as written and compares what it printed with the document.
    fn run(&mut self, block: &Block) {
        self.ran += 1;
        let code = self.to_machine(&block.code);
        let printed = self
            .session
            .run(&self.place, &format!("ops-{}.sh", self.ran), &code)
            .unwrap_or_else(|e| panic!("{DOC}:{}: {}\n{}", block.line, self.to_doc(&e), self.logs()));
        let printed: Vec<String> = printed.iter().map(|l| self.to_doc(l)).collect();
        if let Some(expected) = &block.expected {
            compare_output(expected, &printed).unwrap_or_else(|e| panic!("{DOC}:{}: {e}", block.line));
        }
    }

    fn run_all(&mut self, blocks: &[Block]) {
        for block in blocks {
            self.run(block);
        }
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.place.scratch.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "log") {
                text += &format!("--- {}\n{}", path.display(), std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
        text
    }

    fn addr(&self) -> SocketAddr {
        format!("127.0.0.1:{}", self.port).parse().unwrap()
    }

    fn db(&self) -> PathBuf {
        self.state.join("affiliated.db")
    }

    fn api(&self, method: &str, path: &str, body: serde_json::Value) -> Resp {
        let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
        request(self.addr(), method, path, &[("X-Api-Key", KEY)], &body)
    }

    fn statement(&self) -> Statement {
        let r = self.api("GET", "/api/v1/affiliates/ann/statement", serde_json::Value::Null);
        assert_eq!(r.status, 200, "{}", r.text());
        serde_json::from_slice(&r.body).unwrap()
    }

    fn postback_url(&self) -> String {
        let out = Command::new(bin())
            .args(["postback-url", "--db", self.db().to_str().unwrap(), "--public-url", "https://track.example.com"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", crate::restore::text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    fn customer(&self, id: &str, email: &str) {
        let click = self.api("POST", "/api/v1/clicks", json!({"referral_code": "ann"})).json()["id"].clone();
        let r = self.api("POST", "/api/v1/customers", json!({"customer_id": id, "click_id": click, "email": email}));
        assert_eq!(r.status, 201, "{}", r.text());
        let r = self.api(
            "POST",
            "/api/v1/conversions",
            json!({"external_id": format!("order-{id}"), "amount": "40", "customer_id": id}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let r = self.api("POST", &format!("/api/v1/conversions/{}/approve", r.json()["id"]), json!({}));
        assert_eq!(r.status, 200, "{}", r.text());
    }

    fn erase(&self, id: &str) {
        let r = self.api("DELETE", &format!("/api/v1/customers/{id}"), serde_json::Value::Null);
        assert_eq!(r.status, 204, "{}", r.text());
    }

    fn assert_erased(&self, id: &str, email: &str) {
        let r = self.api("GET", &format!("/api/v1/customers/{id}"), serde_json::Value::Null);
        assert_eq!(r.status, 404, "{id} came back: {}", r.text());
        for file in [self.db(), PathBuf::from(format!("{}-wal", self.db().display()))] {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(!bytes.windows(email.len()).any(|w| w == email.as_bytes()), "{email} is in {}", file.display());
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        // The server the stand-in started outlives the shell session; stop exactly that one.
        if let Ok(pid) = std::fs::read_to_string(self.place.scratch.path().join("server.pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            // SAFETY: signals only the server process this test's stand-in started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn read_doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC)).unwrap()
}

#[test]
fn the_backup_and_restore_sections_run_as_written_through_a_lost_disk() {
    let doc = read_doc();
    let backups = section(&doc, "Backups");
    assert_eq!(backups.len(), 2, "the backup by hand, the off-machine copy");
    let (take_backup, copy_offsite) = (&backups[0], &backups[1]);
    assert!(copy_offsite.code.contains("erasure-log"), "the off-machine copy includes the erasure log");

    // A running install with an affiliate who has a statement, and two customers.
    let offsite = tempfile::tempdir().unwrap();
    let mut old = Machine::new(None, offsite.path());
    old.systemctl("start", "affiliated");
    let r = old.api("POST", "/api/v1/affiliates", json!({"referral_code": "ann", "name": "Ann"}));
    assert_eq!(r.status, 201, "{}", r.text());
    let offer = json!({"id": "main", "name": "Main", "landing_url": "https://shop.example/", "commission": {"type": "percent", "value": "10"}});
    assert_eq!(old.api("POST", "/api/v1/offers", offer).status, 201);
    old.customer("cust-kept", "kept-61b0@example.com");
    old.customer("cust-erased", "erased-a93c@example.com");
    let statement_before = old.statement();
    let postback_before = old.postback_url();

    // The nightly backup and the off-machine copy; then an erasure, and the hourly copy again.
    old.run(take_backup);
    old.run(copy_offsite);
    old.erase("cust-erased");
    old.run(copy_offsite);

    // The disk is lost. A new machine gets the off-machine copies; `affiliated install`
    // (documented, run as root on a real machine) starts a server on an empty database.
    drop(old);
    let mut new = Machine::new(None, offsite.path());
    new.systemctl("start", "affiliated");
    new.run_all(&section(&doc, "On a new machine, after losing the disk"));
    assert_eq!(new.statement().public_key, statement_before.public_key, "the same signing key");
    assert_eq!(statement::verify_against(&new.statement(), &statement_before), Ok(()), "the old statement is a prefix");
    assert_eq!(new.postback_url(), postback_before, "the same postback URL");
    new.assert_erased("cust-erased", "erased-a93c@example.com");
    assert_eq!(new.api("GET", "/api/v1/customers/cust-kept", serde_json::Value::Null).status, 200);

    // On the same machine: a backup, then an erasure and a bad change; the restore undoes the
    // change and keeps the erasure.
    new.run(take_backup);
    new.erase("cust-kept");
    assert_eq!(new.api("POST", "/api/v1/affiliates", json!({"referral_code": "mistake", "name": "M"})).status, 201);
    new.run_all(&section(&doc, "On the same machine"));
    assert_eq!(new.api("GET", "/api/v1/affiliates/mistake", serde_json::Value::Null).status, 404);
    new.assert_erased("cust-kept", "kept-61b0@example.com");
    new.assert_erased("cust-erased", "erased-a93c@example.com");
    assert_eq!(new.statement().public_key, statement_before.public_key);
    let aside: Vec<String> =
        crate::restore::names_in(&new.state).into_iter().filter(|n| n.starts_with("before-restore-")).collect();
    assert_eq!(aside.len(), 2, "each restore set the files it replaced aside: {aside:?}");
}

#[test]
fn the_upgrade_section_runs_as_written_from_release_1_and_rolls_back() {
    let doc = read_doc();
    let release_1 = crate::upgrade::fixture();
    let offsite = tempfile::tempdir().unwrap();
    let mut m = Machine::new(Some(&release_1.path), offsite.path());
    // The new release, copied to the server.
    std::fs::copy(bin(), m.place.dir.path().join("affiliated-0.2.0-x86_64-linux")).unwrap();
    let upgrade = section(&doc, "Upgrade");
    let rollback = section(&doc, "Rolling back");
    // The Upgrade section's own blocks (its subsection follows them).
    let own: Vec<&Block> = upgrade.iter().filter(|b| !rollback.iter().any(|r| r.line == b.line)).collect();
    assert_eq!(own.len(), 2, "upgrade, then the listing of its backup");
    for block in own {
        m.run(block);
    }
    let version = |db: &Path| -> i64 {
        rusqlite::Connection::open(db).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
    };
    assert_eq!(version(&m.db()), affiliated::store::migrate::CURRENT);
    let r = m.api("GET", "/api/v1/conversions?limit=500", serde_json::Value::Null);
    assert_eq!(r.status, 200, "{}", r.text());
    let served = r.json()["data"].as_array().unwrap().len() as i64;
    let expected: i64 = crate::upgrade::read_only(&release_1.path)
        .query_row("SELECT count(*) FROM conversions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(served, expected);
    let previous = m.usr_local_bin.join("affiliated.previous");
    assert!(previous.exists(), "the previous binary was kept");

    assert_eq!(rollback.len(), 2, "restore and put the binary back; then start");
    m.run(&rollback[0]);
    // Before anything starts on it: exactly the database release 1 left.
    assert_eq!(version(&m.db()), 1);
    let (fixture, restored) = (crate::upgrade::read_only(&release_1.path), crate::upgrade::read_only(&m.db()));
    let tables = crate::upgrade::tables(&fixture);
    assert_eq!(tables, crate::upgrade::tables(&restored));
    for table in tables {
        let cols = crate::upgrade::columns(&fixture, &table);
        assert_eq!(
            crate::upgrade::rows(&fixture, &table, &cols),
            crate::upgrade::rows(&restored, &table, &cols),
            "{table}"
        );
    }
    drop((fixture, restored));
    m.run(&rollback[1]);
    assert_eq!(m.api("GET", "/api/v1/conversions?limit=1", serde_json::Value::Null).status, 200);
}
