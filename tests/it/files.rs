//! Every file the server and its tools write is readable by its owner only, whatever the umask:
//! the database and its WAL and shared-memory files, backups, the key and token files, and the
//! erasure log. They hold personal data and secrets.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::support::{Server, bin, request, set_umask};

fn files_under(dir: &Path) -> Vec<(String, u32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            found.extend(files_under(&entry.path()));
        } else {
            found.push((entry.path().display().to_string(), meta.permissions().mode() & 0o777));
        }
    }
    found
}

fn tool(args: &[&str], cwd: &Path, umask: u32) {
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(cwd).env_clear();
    set_umask(&mut cmd, umask);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn every_file_written_is_0600_whatever_the_umask() {
    for umask in [0o022, 0o000] {
        // No API key configured, so the initial key file is written too.
        let s = Server::start_with_umask(&[], &[("AFFILIATED_API_KEY", "")], Some(umask));
        let dir = s.dir.path();
        let key = std::fs::read_to_string(dir.join("affiliated.db.initial-api-key")).unwrap().trim().to_string();
        let post = |path: &str, body: serde_json::Value| {
            let r = request(s.addr, "POST", path, &[("X-Api-Key", &key)], body.to_string().as_bytes());
            assert_eq!(r.status, 201, "{path}: {}", r.text());
            r.json()
        };
        post("/api/v1/affiliates", json!({"referral_code": "lena", "name": "Lena"}));
        let offer = json!({"id": "o", "name": "O", "landing_url": "https://shop.example/",
                           "commission": {"type": "percent", "value": "10"}});
        post("/api/v1/offers", offer);
        let click = post("/api/v1/clicks", json!({"referral_code": "lena"}))["id"].as_str().unwrap().to_string();
        post("/api/v1/customers", json!({"customer_id": "c-1", "click_id": click, "email": "c@example.com"}));
        let r = request(s.addr, "DELETE", "/api/v1/customers/c-1", &[("X-Api-Key", &key)], b"");
        assert!(r.status < 300, "{}", r.text());

        let db = s.db_path();
        let db = db.to_str().unwrap();
        let backups = dir.join("backups");
        std::fs::create_dir(&backups).unwrap();
        tool(&["backup", "--db", db, dir.join("copy.db").to_str().unwrap()], dir, umask);
        tool(&["backup", "--db", db, "--keep", "2", backups.to_str().unwrap()], dir, umask);
        tool(&["keys", "create", "--label", "more", "--db", db], dir, umask);
        tool(&["postback-url", "--rotate", "--db", db], dir, umask);

        let files = files_under(dir);
        let names: Vec<String> = files.iter().map(|(p, _)| p.rsplit('/').next().unwrap().to_string()).collect();
        for expected in [
            "affiliated.db",
            "affiliated.db-wal",
            "affiliated.db-shm",
            "affiliated.db.initial-api-key",
            "affiliated.db.initial-admin-token",
            "affiliated.db.postback-token",
            "affiliated.db.erasure-log",
            "affiliated.db.device-key",
            "copy.db",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected} was not written: {names:?}");
        }
        assert!(names.iter().any(|n| n.starts_with("affiliated-") && n.ends_with(".db")), "{names:?}");
        for (path, mode) in &files {
            assert_eq!(*mode, 0o600, "umask {umask:03o}: {path} is {mode:03o}");
        }
        assert_ignored_by_git(dir);
    }
}

/// Everything in `dir` is ignored by the repository's .gitignore: after the quickstart, `git
/// status` shows nothing the server or a backup wrote.
fn assert_ignored_by_git(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(root.join(".gitignore"), copy.path().join(".gitignore")).unwrap();
    for (path, _) in files_under(dir) {
        let relative = Path::new(&path).strip_prefix(dir).unwrap();
        let target = copy.path().join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, b"").unwrap();
    }
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).current_dir(copy.path()).output().expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["init", "-q"]);
    let status = git(&["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(status.trim(), "?? .gitignore", "not ignored:\n{status}");
}
