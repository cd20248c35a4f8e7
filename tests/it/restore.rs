//! Backups that restore everything (#22): `affiliated backup` carries the statement key, the
//! postback token, the erasure log and the settings; `affiliated restore` refuses while a
//! server has the database open, sets the current files aside, and re-applies every erasure
//! recorded after the backup, on the same machine and on a new one (with an off-machine copy
//! of the erasure log). The documented procedures themselves run in `ops_docs.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use affiliated::tracking::statement::{self, Statement};
use serde_json::json;

use crate::support::{KEY, Server, bin};

pub fn tool(args: &[&str]) -> Output {
    Command::new(bin()).args(args).env_remove("AFFILIATED_DB").output().unwrap()
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// What the test checks survives: an affiliate with an approved order (a ledger, so a
/// statement), and a customer with personal data to erase.
struct Shop {
    statement: Statement,
    postback_url: String,
    /// The admin token the first start generated (no token is configured in these tests).
    admin_token: String,
}

fn fetch(s: &Server, code: &str) -> Statement {
    let r = s.get(&format!("/api/v1/affiliates/{code}/statement"));
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

fn postback_url(db: &Path) -> String {
    let out = tool(&["postback-url", "--db", db.to_str().unwrap(), "--public-url", "https://t.example"]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn customer(s: &Server, id: &str, email: &str, order: &str) {
    let click = s.click("ann", json!({}));
    let r = s.post("/api/v1/customers", &json!({"customer_id": id, "click_id": click, "email": email}));
    assert_eq!(r.status, 201, "{}", r.text());
    let r = s.post("/api/v1/conversions", &json!({"external_id": order, "amount": "80", "customer_id": id}));
    assert_eq!(r.status, 201, "{}", r.text());
    let conversion = r.json()["id"].clone();
    let r = s.post(&format!("/api/v1/conversions/{conversion}/approve"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
}

fn shop(s: &Server) -> Shop {
    s.seed();
    customer(s, "cust-early", "early-4f1c@example.com", "order-1");
    customer(s, "cust-late", "late-9d2e@example.com", "order-2");
    let admin_token = std::fs::read_to_string(format!("{}.initial-admin-token", s.db_path().display())).unwrap();
    Shop {
        statement: fetch(s, "ann"),
        postback_url: postback_url(&s.db_path()),
        admin_token: admin_token.trim().into(),
    }
}

fn erase(s: &Server, id: &str) {
    let r = s.delete(&format!("/api/v1/customers/{id}"));
    assert_eq!(r.status, 204, "{}", r.text());
}

fn file_contains(path: &Path, needle: &[u8]) -> bool {
    std::fs::read(path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
}

/// The restored install is the one backed up: the same signing key (the old statement is a
/// prefix of the new one), the same postback URL, and the late customer still erased.
fn assert_the_same_install(s: &Server, before: &Shop, log_from: usize) {
    let now = fetch(s, "ann");
    assert_eq!(now.public_key, before.statement.public_key, "the same signing key");
    assert_eq!(statement::verify_against(&now, &before.statement), Ok(()));
    assert_eq!(postback_url(&s.db_path()), before.postback_url, "the same postback URL");
    s.admin_cookie(&before.admin_token); // the same admin token opens the admin (303, a session)
    s.get("/api/v1/customers/cust-late").assert_error(404, "not_found");
    assert_eq!(s.get("/api/v1/customers/cust-early").status, 200, "what was not erased is there");
    for file in [s.db_path(), PathBuf::from(format!("{}-wal", s.db_path().display()))] {
        assert!(!file_contains(&file, b"late-9d2e@example.com"), "the erased e-mail is in {}", file.display());
    }
    let log = s.log.lock().unwrap()[log_from..].join("\n");
    for unwanted in ["made a statement signing key", "statements are now signed with", "postback token"] {
        assert!(!log.contains(unwanted), "the restarted server says {unwanted:?}:\n{log}");
    }
}

fn backup_to(s: &Server, out: &Path) {
    let out = tool(&["backup", "--db", s.db_path().to_str().unwrap(), out.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn restore_refuses_while_a_server_has_the_database_open() {
    let s = Server::start();
    s.seed();
    let copy = tempfile::tempdir().unwrap();
    let backup = copy.path().join("b.db");
    backup_to(&s, &backup);
    let before = names_in(s.dir.path());
    let out = tool(&["restore", "--db", s.db_path().to_str().unwrap(), backup.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains(&format!("is open in process {}", s.pid())), "{said}");
    assert!(said.contains("stop it first") && said.contains("Nothing was changed"), "{said}");
    assert_eq!(names_in(s.dir.path()), before, "nothing was set aside or written");
    assert_eq!(s.get("/api/v1/affiliates/ann").status, 200, "the server goes on");
}

#[test]
fn a_restore_on_the_same_machine_sets_the_current_files_aside_and_keeps_later_erasures() {
    let mut s = Server::start();
    let before = shop(&s);
    let backups = s.dir.path().join("backups");
    let out = tool(&["backup", "--db", s.db_path().to_str().unwrap(), "--keep", "3", backups.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let backup = backups.join(&names_in(&backups)[0]);
    // After the backup: an erasure, and a bad change the restore is meant to undo.
    erase(&s, "cust-late");
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": "mistake", "name": "Oops"}));
    assert_eq!(r.status, 201);
    assert_eq!(s.stop().code(), Some(0));
    let old_key = std::fs::read(format!("{}.statement-key", s.db_path().display())).unwrap();

    let out = tool(&["restore", "--db", s.db_path().to_str().unwrap(), backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    for expected in [
        "integrity ok",
        "set aside in",
        "put back the statement signing key (public key",
        "the postback token",
        "1 more from the current log",
        "re-applied 1 erasure recorded after the backup",
    ] {
        assert!(said.contains(expected), "{expected:?} not in:\n{said}");
    }
    // The current files are kept aside, whole.
    let aside: Vec<String> = names_in(s.dir.path()).into_iter().filter(|n| n.starts_with("before-restore-")).collect();
    assert_eq!(aside.len(), 1, "{:?}", names_in(s.dir.path()));
    let aside = s.dir.path().join(&aside[0]);
    let kept = names_in(&aside);
    for name in
        ["affiliated.db", "affiliated.db.statement-key", "affiliated.db.postback-token", "affiliated.db.erasure-log"]
    {
        assert!(kept.contains(&name.to_string()), "{name} not set aside: {kept:?}");
    }
    assert_eq!(std::fs::read(aside.join("affiliated.db.statement-key")).unwrap(), old_key);
    let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777;
    assert_eq!(mode(&aside), 0o700);
    for name in names_in(s.dir.path()).iter().filter(|n| n.starts_with("affiliated.db")) {
        assert_eq!(mode(&s.dir.path().join(name)), 0o600, "{name}");
    }
    assert!(!names_in(s.dir.path()).iter().any(|n| n.contains("restoring")), "no staging file is left");

    let log_from = s.log.lock().unwrap().len();
    s.restart_after_crash();
    assert_the_same_install(&s, &before, log_from);
    assert_eq!(s.get("/api/v1/affiliates/mistake").status, 404, "the bad change is undone");
    // The restored database holds no secret of the backup's own.
    let tables: i64 = s
        .sql()
        .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'affiliated_backup'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 0);
    let seed_line = String::from_utf8(old_key).unwrap();
    let seed = seed_line.lines().find_map(|l| l.strip_prefix("seed ")).unwrap();
    assert!(!file_contains(&s.db_path(), seed.as_bytes()), "the signing seed is not in the live database");
}

/// The documented disaster, step by step (docs/operations.md runs the same as written in
/// `ops_docs.rs`): back up, erase a customer, copy the backups and the erasure log off the
/// machine, lose the disk, restore on a new machine with the off-machine erasure log.
#[test]
fn a_lost_disk_is_restored_on_a_new_machine_with_the_off_machine_erasure_log() {
    let mut s = Server::start();
    let before = shop(&s);
    let offsite = tempfile::tempdir().unwrap();
    let backup = offsite.path().join("affiliated-20261206T031500Z.db");
    backup_to(&s, &backup);
    erase(&s, "cust-late");
    let log = offsite.path().join("affiliated.db.erasure-log");
    std::fs::copy(format!("{}.erasure-log", s.db_path().display()), &log).unwrap();
    assert_eq!(s.stop().code(), Some(0));
    // The disk is lost: nothing of the old directory remains.
    for name in names_in(s.dir.path()) {
        std::fs::remove_file(s.dir.path().join(name)).unwrap();
    }
    let db = s.db_path();

    // Without the off-machine log, the customer would come back; restore says how many
    // erasures each source had.
    let out = tool(&[
        "restore",
        "--db",
        db.to_str().unwrap(),
        "--erasure-log",
        log.to_str().unwrap(),
        backup.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("0 more from the current log, 1 more from"), "{said}");
    assert!(said.contains("re-applied 1 erasure recorded"), "{said}");
    assert!(!said.contains("set aside"), "a new machine has nothing to set aside: {said}");
    let log_from = s.log.lock().unwrap().len();
    s.restart_after_crash();
    assert_the_same_install(&s, &before, log_from);
}

#[test]
fn restore_checks_everything_before_it_changes_anything() {
    let mut s = Server::start();
    shop(&s);
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("b.db");
    backup_to(&s, &backup);
    assert_eq!(s.stop().code(), Some(0));
    let db = s.db_path();
    let db = db.to_str().unwrap();
    let before = names_in(s.dir.path());
    let junk = dir.path().join("junk");
    std::fs::write(&junk, "not a backup\n").unwrap();
    let newer = dir.path().join("newer.db");
    std::fs::copy(&backup, &newer).unwrap();
    rusqlite::Connection::open(&newer).unwrap().pragma_update(None, "user_version", 9999).unwrap();
    for (args, says) in [
        (vec!["restore", "--db", db, junk.to_str().unwrap()], "is not an affiliated backup"),
        (
            vec!["restore", "--db", db, "--erasure-log", junk.to_str().unwrap(), backup.to_str().unwrap()],
            "is not an erasure log: line 1",
        ),
        (
            vec!["restore", "--db", db, "--erasure-log", "/nonexistent/log", backup.to_str().unwrap()],
            "cannot read the erasure log",
        ),
        (vec!["restore", "--db", db, newer.to_str().unwrap()], "(schema 9999); this is affiliated"),
        (vec!["restore", "--db", db, "/nonexistent/b.db"], "cannot read the backup"),
    ] {
        let out = tool(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?} should say {says:?}: {}", text(&out));
        assert_eq!(names_in(s.dir.path()), before, "{args:?} changed something");
    }
    for (args, says) in [
        (vec!["restore", "--db", db], "restore needs the BACKUP file"),
        (vec!["restore", "--db", db, db], "is the database itself"),
        (vec!["restore", "a.db", "b.db"], "restore takes one BACKUP"),
    ] {
        let out = tool(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?} should say {says:?}: {}", text(&out));
    }
}

/// Backups written before backups carried their files are plain database copies: restoring one
/// keeps the current key and token, and still merges the erasure logs.
#[test]
fn a_plain_copy_from_an_older_release_restores_with_the_current_files() {
    let mut s = Server::start();
    let before = shop(&s);
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("plain.db");
    backup_to(&s, &backup);
    rusqlite::Connection::open(&backup).unwrap().execute_batch("DROP TABLE affiliated_backup; VACUUM").unwrap();
    erase(&s, "cust-late");
    assert_eq!(s.stop().code(), Some(0));
    let out = tool(&["restore", "--db", s.db_path().to_str().unwrap(), backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("a plain database copy"), "{said}");
    assert!(said.contains("kept the current statement signing key"), "{said}");
    assert!(said.contains("kept the current postback token"), "{said}");
    let log_from = s.log.lock().unwrap().len();
    s.restart_after_crash();
    assert_the_same_install(&s, &before, log_from);
}

/// Run as root (as on a server, where the state directory belongs to the service's user),
/// every file restore makes belongs to the directory's owner, or the service could not open it.
#[test]
fn files_restored_by_root_belong_to_the_owner_of_the_directory() {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        crate::systemd::skip("not running as root, so restore cannot give files away");
        return;
    }
    let mut s = Server::start();
    shop(&s);
    let backup = s.dir.path().join("b.db");
    backup_to(&s, &backup);
    assert_eq!(s.stop().code(), Some(0));
    let state = tempfile::tempdir().unwrap();
    std::fs::set_permissions(state.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let dir = state.path().join("affiliated");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let db = dir.join("affiliated.db");
    std::fs::write(&db, b"a broken database").unwrap();
    let out = tool(&["restore", "--db", db.to_str().unwrap(), backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let mut checked = 0;
    for name in names_in(&dir) {
        let path = dir.join(&name);
        let meta = std::fs::metadata(&path).unwrap();
        if name.starts_with("before-restore-") {
            assert_eq!(meta.uid(), 65534, "{name}");
            continue;
        }
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "{name} belongs to root");
        checked += 1;
    }
    assert!(checked >= 4, "{:?}", names_in(&dir));
    // And the service's user can use it.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin())
        .args(["keys", "list", "--db", db.to_str().unwrap()])
        .env("AFFILIATED_API_KEY", KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// What the nightly timer runs works on its first night too: a directory that does not exist
/// yet is created, private; so is one named with a trailing slash.
#[test]
fn backup_creates_a_missing_directory_private() {
    let s = Server::start();
    s.seed();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("state/backups");
    let out = tool(&["backup", "--db", s.db_path().to_str().unwrap(), "--keep", "14", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777;
    assert_eq!((mode(&dir), mode(&parent.path().join("state"))), (0o700, 0o700));
    let names = names_in(&dir);
    assert!(names.len() == 1 && names[0].starts_with("affiliated-") && names[0].ends_with("Z.db"), "{names:?}");
    assert_eq!(mode(&dir.join(&names[0])), 0o600);

    let slash = format!("{}/", parent.path().join("by-hand").display());
    let out = tool(&["backup", "--db", s.db_path().to_str().unwrap(), &slash]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(names_in(Path::new(&slash)).len(), 1);
}

/// The old way, a backup copied into place by hand on an empty directory, still brings
/// everything back: the server takes the key and token out of it, and strips them from the
/// live database before it serves.
#[test]
fn a_backup_copied_into_place_by_hand_is_unpacked_on_start() {
    let mut s = Server::start();
    let before = shop(&s);
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("b.db");
    backup_to(&s, &backup);
    let seed_text = std::fs::read_to_string(format!("{}.statement-key", s.db_path().display())).unwrap();
    let seed = seed_text.lines().find_map(|l| l.strip_prefix("seed ")).unwrap().to_string();
    assert_eq!(s.stop().code(), Some(0));
    for name in names_in(s.dir.path()) {
        std::fs::remove_file(s.dir.path().join(name)).unwrap();
    }
    std::fs::copy(&backup, s.db_path()).unwrap();
    let log_from = s.log.lock().unwrap().len();
    s.restart_after_crash();
    let log = s.log.lock().unwrap()[log_from..].join("\n");
    assert!(log.contains("is a backup copied into place; taking its files out of it"), "{log}");
    assert!(log.contains("put back") && log.contains("the statement signing key"), "{log}");
    assert_eq!(fetch(&s, "ann").public_key, before.statement.public_key);
    assert_eq!(postback_url(&s.db_path()), before.postback_url);
    for file in [s.db_path(), PathBuf::from(format!("{}-wal", s.db_path().display()))] {
        assert!(!file_contains(&file, seed.as_bytes()), "the signing seed is in {}", file.display());
    }
}
