//! Upgrading safely (#22): `serve` and `migrate` take a verified backup before they migrate a
//! database, and migrate nothing if it fails; the other tools never migrate; a binary older
//! than its database refuses it, naming both versions; restoring the backup taken before an
//! upgrade gives back exactly the database the previous release left (the rollback).

use std::path::Path;
use std::process::Command;

use affiliated::store::migrate::CURRENT;

use crate::restore::{names_in, text, tool};
use crate::support::{Server, bin, wait_with_deadline};
use crate::upgrade::{columns, fixture, read_only, rows, tables};

fn version(db: &Path) -> i64 {
    read_only(db).query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
}

/// Every row of every table of `expected` is in `actual`, column for column, and nothing more.
fn assert_same_rows(expected: &Path, actual: &Path) {
    let (e, a) = (read_only(expected), read_only(actual));
    assert_eq!(tables(&e), tables(&a));
    for table in tables(&e) {
        let cols = columns(&e, &table);
        assert_eq!(rows(&e, &table, &cols), rows(&a, &table, &cols), "{table} differs");
    }
}

fn pre_upgrade_backups(dir: &Path) -> Vec<String> {
    names_in(dir).into_iter().filter(|n| n.starts_with("affiliated-") && n.ends_with("-schema-1.db")).collect()
}

#[test]
fn serve_backs_up_a_release_1_database_before_migrating_it_and_the_backup_rolls_back() {
    let release_1 = fixture();
    let mut s = Server::start_on(Some(&release_1.path), &[], &[]);
    assert_eq!(s.stop().code(), Some(0));
    let backups = s.dir.path().join("backups");
    let found = pre_upgrade_backups(&backups);
    assert_eq!(found.len(), 1, "{:?}", names_in(&backups));
    let backup = backups.join(&found[0]);
    let log = s.log_text();
    assert!(log.contains(&format!("backed up the database (schema 1) to {}", backup.display())), "{log}");
    assert!(log.find("backed up the database").unwrap() < log.find("migrated the database").unwrap(), "{log}");
    assert_eq!(version(&s.db_path()), CURRENT);
    assert_eq!(version(&backup), 1);

    // The rollback: the backup, restored, is the release-1 database row for row (the restore
    // keeps its schema version, so the previous release's binary runs on it).
    let out = tool(&["restore", "--db", s.db_path().to_str().unwrap(), backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("schema 1): integrity ok"), "{}", text(&out));
    assert!(text(&out).contains("the server re-applies the erasures recorded after the backup"), "{}", text(&out));
    assert_eq!(version(&s.db_path()), 1);
    assert_same_rows(&release_1.path, &s.db_path());
    // Started again by this release, it is migrated again, after another backup.
    s.restart_after_crash();
    assert_eq!(s.get("/api/v1/conversions?limit=5").status, 200);
    assert_eq!(s.stop().code(), Some(0));
    assert_eq!(pre_upgrade_backups(&backups).len(), 2, "{:?}", names_in(&backups));
}

#[test]
fn migrate_backs_up_first_and_migrates_nothing_when_the_backup_fails() {
    let release_1 = fixture();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("affiliated.db");
    std::fs::copy(&release_1.path, &db).unwrap();
    std::fs::write(dir.path().join("not-a-dir"), b"").unwrap();
    let blocked = dir.path().join("not-a-dir/backups");
    let out = tool(&["migrate", "--db", db.to_str().unwrap(), "--backup-dir", blocked.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the database was not migrated, because the backup before it failed"),
        "{}",
        text(&out)
    );
    assert_eq!(version(&db), 1, "nothing migrated");

    let chosen = dir.path().join("upgrade-backups");
    let out = Command::new(bin())
        .args(["migrate", "--db", db.to_str().unwrap()])
        .env("AFFILIATED_BACKUP_DIR", &chosen)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let found = pre_upgrade_backups(&chosen);
    assert_eq!(found.len(), 1, "{:?}", names_in(&chosen));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("backed up the database before migrating it: {}", chosen.join(&found[0]).display()))
    );
    assert!(stdout.contains(&format!("schema version {CURRENT}")), "{stdout}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&chosen).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
    // Current now: migrating again takes no backup.
    let out = tool(&["migrate", "--db", db.to_str().unwrap(), "--backup-dir", chosen.to_str().unwrap()]);
    assert!(out.status.success() && !text(&out).contains("backed up"), "{}", text(&out));
    assert_eq!(names_in(&chosen).len(), 1);
}

#[test]
fn the_other_tools_never_migrate() {
    let release_1 = fixture();
    let db = release_1.path.to_str().unwrap();
    for args in [vec!["keys", "list", "--db", db], vec!["postback-url", "--db", db]] {
        let out = tool(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("has schema version 1, older than affiliated"), "{}", text(&out));
        assert!(text(&out).contains("upgrade it with `affiliated migrate --db"), "{}", text(&out));
    }
    assert_eq!(version(&release_1.path), 1);
}

#[test]
fn a_binary_older_than_its_database_refuses_to_start_naming_both_versions() {
    let mut s = Server::start();
    assert_eq!(s.stop().code(), Some(0));
    // What a later release leaves: a higher schema version, and its name.
    let conn = rusqlite::Connection::open(s.db_path()).unwrap();
    conn.pragma_update(None, "user_version", CURRENT + 3).unwrap();
    conn.execute("UPDATE settings SET value = 'affiliated 7.2.0' WHERE name = 'written_by'", []).unwrap();
    drop(conn);
    let mut child = Command::new(bin())
        .args(["serve", "--db", s.db_path().to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_with_deadline(&mut child, std::time::Duration::from_secs(20)).expect("serve exits");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let expected = format!(
        "this database was written by affiliated 7.2.0 (schema {}); this is affiliated {} (schema {CURRENT}), which \
         cannot use it. Run affiliated 7.2.0 or newer, or restore the backup taken before the upgrade",
        CURRENT + 3,
        env!("CARGO_PKG_VERSION")
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(version(&s.db_path()), CURRENT + 3, "left as it was");
    let backups = s.dir.path().join("backups");
    assert!(!backups.exists() || names_in(&backups).is_empty(), "nothing to back up for a refusal");
}

/// A file made before incremental auto-vacuum (release 1's) keeps the pages its deletes free:
/// the server says so when it starts, `migrate` beside the running server leaves it alone and
/// says why, and `migrate` with the server stopped rewrites it once, every row kept, after
/// which the server no longer warns.
#[test]
fn migrate_switches_an_old_file_to_giving_freed_pages_back() {
    let release_1 = fixture();
    let auto_vacuum = |db: &Path| -> i64 { read_only(db).query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap() };
    assert_eq!(auto_vacuum(&release_1.path), 0, "release 1 made files without auto-vacuum");
    let mut s = Server::start_on(Some(&release_1.path), &[], &[]);
    let db = s.db_path();
    assert!(s.log_text().contains("keeps the pages its deletes free"), "{}", s.log_text());
    let out =
        tool(&["migrate", "--db", db.to_str().unwrap(), "--backup-dir", s.dir.path().join("b").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("not switched to incremental auto-vacuum, process {} has it open", s.pid())),
        "{}",
        text(&out)
    );
    assert_eq!(auto_vacuum(&db), 0);
    assert_eq!(s.stop().code(), Some(0));
    let rows_before: Vec<_> = ["conversions", "ledger_entries", "clicks"]
        .iter()
        .map(|t| rows(&read_only(&db), t, &columns(&read_only(&db), t)))
        .collect();

    let out =
        tool(&["migrate", "--db", db.to_str().unwrap(), "--backup-dir", s.dir.path().join("b").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("switching to incremental auto-vacuum") && text(&out).contains("switched in"),
        "{}",
        text(&out)
    );
    assert_eq!(auto_vacuum(&db), 2);
    let rows_after: Vec<_> = ["conversions", "ledger_entries", "clicks"]
        .iter()
        .map(|t| rows(&read_only(&db), t, &columns(&read_only(&db), t)))
        .collect();
    assert_eq!(rows_after, rows_before);
    let out =
        tool(&["migrate", "--db", db.to_str().unwrap(), "--backup-dir", s.dir.path().join("b").to_str().unwrap()]);
    assert!(out.status.success() && !text(&out).contains("switch"), "once is enough: {}", text(&out));
    s.log.lock().unwrap().clear();
    s.restart_after_crash(); // (it was stopped cleanly above)
    assert!(!s.log_text().contains("keeps the pages its deletes free"), "{}", s.log_text());
}
