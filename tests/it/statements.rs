//! Statements an affiliate can verify (#16): the signed chain over HTTP, `verify-statement`
//! catching each kind of tampering, the same check in docs/statements.md's Python, a linear
//! chain under concurrent writes, the key's life, and the ledger head on outbound postbacks.

use std::path::{Path, PathBuf};
use std::process::Command;

use affiliated::tracking::ledger::{GENESIS, chain_hash, hex};
use affiliated::tracking::statement::{self, Statement};
use base64::Engine;
use serde_json::{Value, json};

use crate::outbound::Tracker;
use crate::support::{Server, bin, eventually};
use crate::systemd::skip;

fn order(s: &Server, code: &str, external_id: &str, amount: &str) -> i64 {
    let click = s.click(code, json!({}));
    let r = s.post("/api/v1/conversions", &json!({"external_id": external_id, "amount": amount, "click_id": click}));
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

fn fetch(s: &Server, code: &str) -> Statement {
    let r = s.get(&format!("/api/v1/affiliates/{code}/statement"));
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

fn save(s: &Server, name: &str, statement: &Statement) -> PathBuf {
    let path = s.dir.path().join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(statement).unwrap()).unwrap();
    path
}

/// Runs `affiliated verify-statement` and returns (exit code, stdout + stderr).
fn verify(args: &[&Path], extra: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("verify-statement").arg(args[0]);
    if let Some(previous) = args.get(1) {
        cmd.arg("--previous").arg(previous);
    }
    let out = cmd.args(extra).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap(), text)
}

/// The server's signing seed, read from its key file as a merchant with the machine could.
fn seed(s: &Server) -> [u8; 32] {
    let text = std::fs::read_to_string(format!("{}.statement-key", s.db_path().display())).unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("seed ")).unwrap();
    base64::engine::general_purpose::STANDARD.decode(line).unwrap().try_into().unwrap()
}

/// Rebuilds the hashes of `entries` from the first one, as a merchant rewriting history would.
fn rehash(entries: &mut [affiliated::tracking::ledger::Entry]) {
    let mut prev = GENESIS;
    for (i, e) in entries.iter_mut().enumerate() {
        e.seq = i as i64 + 1;
        e.prev_hash = hex(&prev);
        prev = chain_hash(&prev, e);
        e.hash = hex(&prev);
    }
}

#[test]
fn statements_verify_grow_as_prefixes_and_every_tampering_is_named() {
    let mut s = Server::start();
    s.seed();
    let a = order(&s, "ann", "o-1", "100.00");
    s.post(&format!("/api/v1/conversions/{a}/approve"), &json!({}));
    order(&s, "ann", "o-2", "40.00");
    let old = fetch(&s, "ann");
    assert_eq!((old.referral_code.as_str(), old.entries.len(), old.head.seq), ("ann", 3, 3));
    assert!(!serde_json::to_string(&old).unwrap().contains("o-1"), "order IDs never appear");
    let key = s.get_public("/.well-known/affiliated-statement-key").json();
    assert_eq!((&key["algorithm"], key["public_key"].as_str()), (&json!("ed25519"), Some(old.public_key.as_str())));
    let old_file = save(&s, "old.json", &old);
    let pinned = ["--public-key", old.public_key.as_str()];
    let (code, text) = verify(&[&old_file], &pinned);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("valid: statement of ann with 3 entries"), "{text}");

    // Normal activity: the old statement is a prefix of the new one.
    s.post(&format!("/api/v1/conversions/{a}/refund"), &json!({"amount": "10.00", "refund_id": "r1"}));
    let new = fetch(&s, "ann");
    let new_file = save(&s, "new.json", &new);
    let (code, text) = verify(&[&new_file, &old_file], &pinned);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("the 3 entries of"), "{text}");

    // An amount edited in the database, hashes left as they were.
    let db = s.sql();
    db.execute_batch("DROP TRIGGER ledger_entries_are_never_updated; DROP TRIGGER ledger_entries_are_never_deleted;")
        .unwrap();
    db.execute("UPDATE ledger_entries SET amount = amount - 500 WHERE affiliate_id = 1 AND seq = 2", []).unwrap();
    let (code, text) = verify(&[&save(&s, "edited.json", &fetch(&s, "ann"))], &pinned);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("entry 2 was changed"), "{text}");
    db.execute("UPDATE ledger_entries SET amount = amount + 500 WHERE affiliate_id = 1 AND seq = 2", []).unwrap();
    assert_eq!(verify(&[&save(&s, "restored.json", &fetch(&s, "ann"))], &pinned).0, 0);

    // An entry deleted.
    db.execute("DELETE FROM ledger_entries WHERE affiliate_id = 1 AND seq = 3", []).unwrap();
    let (code, text) = verify(&[&save(&s, "deleted.json", &fetch(&s, "ann"))], &pinned);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("entry 3 is missing"), "{text}");

    // History rewritten with the server's own key: valid alone, a fork against the old one.
    let mut rewritten = new.entries.clone();
    rewritten[1].amount = "5.00".into();
    rehash(&mut rewritten);
    let forged = statement::sign(&seed(&s), "ann", rewritten, new.issued_at.clone());
    let forged_file = save(&s, "forged.json", &forged);
    assert_eq!(verify(&[&forged_file], &pinned).0, 0);
    let (code, text) = verify(&[&forged_file, &old_file], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("forked at entry 2: its amount differs"), "{text}");
    let mut shortened = new.entries.clone();
    shortened.remove(0);
    rehash(&mut shortened);
    let cut = save(&s, "cut.json", &statement::sign(&seed(&s), "ann", shortened, new.issued_at.clone()));
    assert_eq!(verify(&[&cut, &old_file], &[]).0, 1);

    // Signed with another key.
    let other = statement::sign(&[9; 32], "ann", new.entries.clone(), new.issued_at.clone());
    let other_file = save(&s, "other.json", &other);
    let (code, text) = verify(&[&other_file, &old_file], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("signed with another key"), "{text}");
    assert!(verify(&[&other_file], &pinned).1.contains("signed with another key"));

    // Usage and unreadable files.
    assert_eq!(verify(&[Path::new("/nonexistent.json")], &pinned).0, 1);
    let out = Command::new(bin()).arg("verify-statement").output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    // A server restored without its key file makes a new key and says so.
    let key_file = PathBuf::from(format!("{}.statement-key", s.db_path().display()));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    std::fs::remove_file(&key_file).unwrap();
    s.restart();
    assert!(eventually(std::time::Duration::from_secs(5), || s.log_text().contains("A new key was made")));
    assert!(!s.log_text().contains(&base64::engine::general_purpose::STANDARD.encode(seed(&s))));
    let after_restore = fetch(&s, "ann");
    assert_ne!(after_restore.public_key, old.public_key);
}

#[test]
fn concurrent_changes_keep_each_chain_linear() {
    let s = Server::start();
    s.seed();
    std::thread::scope(|scope| {
        for t in 0..6 {
            let s = &s;
            scope.spawn(move || {
                for i in 0..8 {
                    let id = order(s, "ann", &format!("c-{t}-{i}"), "10.00");
                    let r = s.post(&format!("/api/v1/conversions/{id}/approve"), &json!({}));
                    assert_eq!(r.status, 200);
                }
            });
        }
    });
    let st = fetch(&s, "ann");
    assert_eq!(st.entries.len(), 96, "created and approved, 48 times");
    assert_eq!(statement::verify(&st, None), Ok(()));
    let file = save(&s, "all.json", &st);
    assert_eq!(verify(&[&file], &["--key-url", &s.url("")]).0, 0);
}

#[test]
fn outbound_postbacks_carry_the_ledger_head() {
    let s = Server::start_with(&["--allow-private-postbacks", "--outbound", "on"], &[]);
    s.seed();
    let tracker = Tracker::start(vec![200]);
    let url = format!("http://127.0.0.1:{}/pb?cid={{click_id}}", tracker.port);
    let r = crate::support::request(
        s.addr,
        "PATCH",
        "/api/v1/affiliates/ann",
        &[("X-Api-Key", crate::support::KEY)],
        json!({"postback_url": url}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    order(&s, "ann", "o-1", "10.00");
    assert!(eventually(std::time::Duration::from_secs(10), || tracker.count() >= 1));
    let seen = tracker.seen.lock().unwrap()[0].clone();
    let head = seen.1.iter().find(|(k, _)| k == "x-affiliated-ledger-head").map(|(_, v)| v.clone());
    let st = fetch(&s, "ann");
    assert_eq!(head, Some(format!("1:{}", st.entries[0].hash)), "{seen:?}");
}

/// A Python that has the `cryptography` package, or `None` (the test is then skipped, saying so).
pub fn python_with_cryptography() -> Option<&'static str> {
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| Command::new(p).args(["-c", "import cryptography"]).output().is_ok_and(|o| o.status.success()));
    if python.is_none() {
        skip("python3 with the `cryptography` package is not installed");
    }
    python
}

/// docs/statements.md's Python, run as written on real statements.
#[test]
fn the_python_in_the_docs_checks_statements_too() {
    let Some(python) = python_with_cryptography() else { return };
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/statements.md")).unwrap();
    let code = docs.split("```python\n").nth(1).unwrap().split("```").next().unwrap();
    assert!(code.lines().count() <= 30, "the docs promise about twenty lines");
    let s = Server::start();
    s.seed();
    let a = order(&s, "ann", "o-1", "100.00");
    s.post(&format!("/api/v1/conversions/{a}/approve"), &json!({}));
    let old = fetch(&s, "ann");
    s.post(&format!("/api/v1/conversions/{a}/refund"), &json!({}));
    let new = fetch(&s, "ann");
    let script = s.dir.path().join("verify.py");
    std::fs::write(&script, code).unwrap();
    let run = |files: &[&Path]| {
        let anchor: Vec<&std::ffi::OsStr> = match files.get(1) {
            Some(old) => vec!["--previous".as_ref(), old.as_os_str()],
            None => vec!["--public-key".as_ref(), new.public_key.as_ref()],
        };
        let out = Command::new(python).arg(&script).arg(files[0]).args(anchor).output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (old_file, new_file) = (save(&s, "old.json", &old), save(&s, "new.json", &new));
    let (ok, text) = run(&[&new_file, &old_file]);
    assert!(ok && text.contains("valid"), "{text}");
    let mut changed: Value = serde_json::to_value(&new).unwrap();
    changed["entries"][1]["amount"] = json!("1.00");
    let changed_file = s.dir.path().join("changed.json");
    std::fs::write(&changed_file, changed.to_string()).unwrap();
    let (ok, text) = run(&[&changed_file]);
    assert!(!ok && text.contains("entry 2 was changed or removed"), "{text}");
    let mut resigned = new.entries.clone();
    resigned.remove(1);
    rehash(&mut resigned);
    let forked = save(&s, "forked.json", &statement::sign(&seed(&s), "ann", resigned, new.issued_at.clone()));
    let (ok, text) = run(&[&forked, &old_file]);
    assert!(!ok && text.contains("differs from the previous statement"), "{text}");
    let other = save(&s, "other.json", &statement::sign(&[3; 32], "ann", new.entries.clone(), new.issued_at.clone()));
    let (ok, text) = run(&[&other, &old_file]);
    assert!(!ok && text.contains("signed with another key"), "{text}");
}

/// Issue #21: a statement names its own key, so a forger who signs a made-up history with a key
/// of their own must not pass. Without a key to trust the check refuses to run (2); with the
/// server's key, pinned or fetched, or an older statement, the forgery fails (1); the docs'
/// Python does the same.
#[test]
fn a_statement_is_checked_against_a_key_from_elsewhere() {
    let s = Server::start();
    s.seed();
    order(&s, "ann", "o-1", "100.00");
    let real = fetch(&s, "ann");
    let real_file = save(&s, "real.json", &real);
    let mut invented = real.entries.clone();
    invented[0].amount = "1.00".into();
    rehash(&mut invented);
    let forged = statement::sign(&[7; 32], "ann", invented, real.issued_at.clone());
    let forged_file = save(&s, "forged.json", &forged);
    assert_eq!(statement::verify(&forged, None), Ok(()), "the forgery is consistent in itself");

    let (code, text) = verify(&[&forged_file], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--public-key") && text.contains("--previous") && text.contains("--key-url"), "{text}");
    let url = s.url("");
    let document = s.url("/.well-known/affiliated-statement-key");
    for anchor in [&["--public-key", real.public_key.as_str()][..], &["--key-url", &url], &["--key-url", &document]] {
        let (code, text) = verify(&[&forged_file], anchor);
        assert_eq!(code, 1, "{anchor:?}: {text}");
        assert!(text.contains("signed with another key"), "{anchor:?}: {text}");
        let (code, text) = verify(&[&real_file], anchor);
        assert_eq!(code, 0, "{anchor:?}: {text}");
    }
    let (code, text) = verify(&[&forged_file, &real_file], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("signed with another key"), "{text}");
    // Anchors that disagree, and a key URL that answers no key.
    let (code, text) = verify(&[&real_file], &["--public-key", forged.public_key.as_str(), "--key-url", &url]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("not the key the server publishes"), "{text}");
    let (code, text) = verify(&[&real_file], &["--key-url", &s.url("/healthz")]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(verify(&[&real_file], &["--key-url", "ftp://track.example"]).0, 2);

    // docs/statements.md's Python, the same way.
    let Some(python) = python_with_cryptography() else { return };
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/statements.md")).unwrap();
    let script = s.dir.path().join("verify.py");
    std::fs::write(&script, docs.split("```python\n").nth(1).unwrap().split("```").next().unwrap()).unwrap();
    let run = |file: &Path, anchor: &[&str]| {
        let out = Command::new(python).arg(&script).arg(file).args(anchor).output().unwrap();
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (code, text) = run(&forged_file, &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--public-key") && text.contains("--key-url"), "{text}");
    for anchor in [
        &["--public-key", real.public_key.as_str()][..],
        &["--key-url", &url],
        &["--previous", real_file.to_str().unwrap()],
    ] {
        let (code, text) = run(&forged_file, anchor);
        assert!(code != Some(0) && text.contains("signed with another key"), "{anchor:?}: {code:?} {text}");
        let (code, text) = run(&real_file, anchor);
        assert!(code == Some(0) && text.contains("valid"), "{anchor:?}: {text}");
    }
}

/// A statement is paged (#25): each page carries at most `limit` entries from `from_seq`, the
/// hash before them and the signed head of the whole chain, and `next` until the head. The walk
/// of the pages verifies as the whole statement with `verify-statement` (files or a directory)
/// and the docs' Python; a missing page is named; the portal's download is the whole chain in
/// one streamed file, verifiable as it is.
#[test]
fn a_statement_is_walked_in_pages_and_the_walk_verifies() {
    let s = Server::start();
    s.seed();
    for i in 0..4 {
        let id = order(&s, "ann", &format!("o-{i}"), "100.00");
        s.post(&format!("/api/v1/conversions/{id}/approve"), &json!({}));
    }
    let key = fetch(&s, "ann").public_key;
    let dir = s.dir.path().join("pages");
    std::fs::create_dir(&dir).unwrap();
    let mut next = Some("/api/v1/affiliates/ann/statement?limit=3".to_string());
    let mut files = Vec::new();
    while let Some(path) = next {
        let r = s.get(&path);
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        assert_eq!(page["head"]["seq"], 8);
        assert!(page["entries"].as_array().unwrap().len() <= 3);
        if files.is_empty() {
            assert_eq!((&page["from_seq"], &page["prev_hash"]), (&json!(1), &json!(hex(&GENESIS))));
        }
        let file = dir.join(format!("page-{}.json", files.len() + 1));
        std::fs::write(&file, r.body).unwrap();
        files.push(file);
        next = page["next"].as_str().map(String::from);
    }
    assert_eq!(files.len(), 3, "8 entries, 3 to a page");
    let (code, text) = verify(&[&dir], &["--public-key", &key]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("statement of ann with 8 entries, head 8:"), "{text}");
    let mut cmd = Command::new(bin());
    let out = cmd.arg("verify-statement").args(&files).args(["--public-key", &key]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(bin())
        .arg("verify-statement")
        .args([&files[0], &files[2]])
        .args(["--public-key", &key])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("entries from 4 on are missing"), "{text}");
    let out =
        Command::new(bin()).arg("verify-statement").args(&files[..2]).args(["--public-key", &key]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("fetch the rest"), "{text}");
    s.get("/api/v1/affiliates/ann/statement?from_seq=10").assert_error(400, "invalid_from_seq");
    s.get("/api/v1/affiliates/ann/statement?from_seq=0").assert_error(400, "invalid_from_seq");
    s.get("/api/v1/affiliates/ann/statement?limit=5001").assert_error(400, "invalid_limit");
    let end = s.get("/api/v1/affiliates/ann/statement?from_seq=9").json();
    assert_eq!((end["entries"].as_array().unwrap().len(), &end["next"]), (0, &Value::Null));

    if let Some(python) = python_with_cryptography() {
        let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/statements.md")).unwrap();
        let script = s.dir.path().join("verify.py");
        std::fs::write(&script, docs.split("```python\n").nth(1).unwrap().split("```").next().unwrap()).unwrap();
        let out = Command::new(python).arg(&script).args(&files).args(["--public-key", &key]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = Command::new(python).arg(&script).args(&files[..2]).args(["--public-key", &key]).output().unwrap();
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("a page is missing"));
    }

    let mut ann = crate::portal::join(&s, "ann");
    let download = ann.get(&s, "/portal/statement.json");
    assert_eq!((download.status, download.header("Transfer-Encoding")), (200, Some("chunked")));
    let whole: Statement = serde_json::from_slice(&download.body).unwrap();
    assert_eq!((whole.entries.len(), whole.head.seq, whole.from_seq), (8, 8, None));
    let file = save(&s, "whole.json", &whole);
    let (code, text) = verify(&[&file], &["--public-key", &key]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = verify(&[&file, &files[0]], &["--public-key", &key]);
    assert_ne!(code, 0, "a page alone is not a statement to compare with: {text}");
}
