//! Test keys touch test data only (issue #21).

use crate::support::Server;

/// A new test key (`keys create --test`) for `s`'s database.
pub fn test_key(s: &Server) -> String {
    let out = std::process::Command::new(crate::support::bin())
        .args(["keys", "create", "--label", "trying", "--test", "--db"])
        .arg(s.db_path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("afk_test_"), "{key}");
    key
}
