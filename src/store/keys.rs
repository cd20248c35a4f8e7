//! API keys. A key is shown once, when it is created; only its SHA-256 hash is stored. Keys are
//! 256-bit random tokens, so a fast hash is enough: there is nothing to brute-force.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Error;
use crate::secret;
use crate::store::writer::Tx;

pub const PREFIX: &str = "afk_";
/// Shortest key accepted from `AFFILIATED_API_KEY`.
pub const MIN_LEN: usize = 32;

#[derive(Clone, Debug)]
pub struct KeyInfo {
    pub id: i64,
    pub label: String,
    pub prefix: String,
    pub source: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// A test key: everything written with it is test data.
    pub test: bool,
}

/// A key that was presented and is active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    pub id: i64,
    pub test: bool,
}

fn shown_prefix(key: &str) -> String {
    key.chars().take(PREFIX.len() + 6).collect()
}

/// Creates a key (a test key: everything written with it is test data) and returns its id and
/// the key itself (the only time it exists in clear).
pub fn create(conn: &Tx, label: &str, source: &str, test: bool, now: i64) -> Result<(i64, String), Error> {
    let key = secret::token(if test { TEST_PREFIX } else { PREFIX });
    insert(conn, label, &key, source, test, now)?;
    Ok((conn.last_insert_rowid(), key))
}

/// The prefix of test keys, so nobody mistakes one for a live key.
pub const TEST_PREFIX: &str = "afk_test_";

fn insert(conn: &Tx, label: &str, key: &str, source: &str, test: bool, now: i64) -> Result<(), Error> {
    conn.prepare_cached(
        "INSERT INTO api_keys (label, prefix, key_hash, source, created_at, test) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (key_hash) DO NOTHING",
    )?
    .execute(params![label, shown_prefix(key), secret::sha256(key.as_bytes()), source, now, test])?;
    Ok(())
}

/// Makes the key from the environment the one `env` key: it is stored (hashed) if new, and an
/// earlier, different environment key is deleted (`None` deletes it). A key revoked with
/// `keys revoke` stays revoked even if the environment still names it; the return value says so.
pub fn sync_env_key(conn: &Tx, key: Option<&str>, now: i64) -> Result<EnvKey, Error> {
    let hash = key.map(|k| secret::sha256(k.as_bytes()));
    conn.prepare_cached("DELETE FROM api_keys WHERE source = 'env' AND (?1 IS NULL OR key_hash <> ?1)")?
        .execute(params![hash])?;
    let Some(key) = key else { return Ok(EnvKey::None) };
    insert(conn, "AFFILIATED_API_KEY", key, "env", false, now)?;
    let revoked: Option<i64> = conn
        .prepare_cached("SELECT revoked_at FROM api_keys WHERE key_hash = ?1")?
        .query_row([&hash.expect("key is set")[..]], |r| r.get(0))?;
    Ok(if revoked.is_some() { EnvKey::Revoked } else { EnvKey::Active })
}

#[derive(Debug, PartialEq, Eq)]
pub enum EnvKey {
    None,
    Active,
    /// `AFFILIATED_API_KEY` names a key that was revoked: it does not work.
    Revoked,
}

/// The active key `presented` is, if any.
pub fn verify(conn: &Connection, presented: &str) -> Result<Option<Verified>, Error> {
    let hash = secret::sha256(presented.as_bytes());
    Ok(conn
        .prepare_cached("SELECT id, test FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL")?
        .query_row([&hash[..]], |r| Ok(Verified { id: r.get(0)?, test: r.get(1)? }))
        .optional()?)
}

pub fn active_count(conn: &Connection) -> Result<i64, Error> {
    Ok(conn.prepare_cached("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")?.query_row([], |r| r.get(0))?)
}

pub fn list(conn: &Connection) -> Result<Vec<KeyInfo>, Error> {
    let mut stmt = conn
        .prepare_cached("SELECT id, label, prefix, source, created_at, revoked_at, test FROM api_keys ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(KeyInfo {
            id: r.get(0)?,
            label: r.get(1)?,
            prefix: r.get(2)?,
            source: r.get(3)?,
            created_at: r.get(4)?,
            revoked_at: r.get(5)?,
            test: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes a key by id; `false` when no active key has that id.
pub fn revoke(conn: &Tx, id: i64, now: i64) -> Result<bool, Error> {
    let changed = conn
        .prepare_cached("UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL")?
        .execute(params![now, id])?;
    Ok(changed == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::run(&conn).unwrap();
        conn
    }

    #[test]
    fn created_keys_verify_until_revoked() {
        let conn = db();
        let (id, key) = create(&Tx::within(&conn), "shop", "cli", false, 1).unwrap();
        assert_eq!(verify(&conn, &key).unwrap(), Some(Verified { id, test: false }));
        let (test_id, test_key) = create(&Tx::within(&conn), "try-out", "cli", true, 1).unwrap();
        assert!(test_key.starts_with(TEST_PREFIX));
        assert_eq!(verify(&conn, &test_key).unwrap(), Some(Verified { id: test_id, test: true }));
        assert_eq!(verify(&conn, &format!("{key}x")).unwrap(), None);
        assert!(revoke(&Tx::within(&conn), id, 2).unwrap());
        assert!(!revoke(&Tx::within(&conn), id, 3).unwrap());
        assert_eq!(verify(&conn, &key).unwrap(), None);
    }

    #[test]
    fn keys_are_stored_hashed() {
        let conn = db();
        let (_, key) = create(&Tx::within(&conn), "shop", "cli", false, 1).unwrap();
        let dump: Vec<u8> = conn.query_row("SELECT key_hash FROM api_keys", [], |r| r.get(0)).unwrap();
        assert_eq!(dump.len(), 32);
        let prefix: String = conn.query_row("SELECT prefix FROM api_keys", [], |r| r.get(0)).unwrap();
        assert!(key.starts_with(&prefix) && prefix.len() < 12);
    }

    #[test]
    fn the_environment_key_rotates_and_revocation_sticks() {
        let conn = db();
        let first = "a".repeat(40);
        let second = "b".repeat(40);
        assert_eq!(sync_env_key(&Tx::within(&conn), Some(&first), 1).unwrap(), EnvKey::Active);
        assert!(verify(&conn, &first).unwrap().is_some());
        sync_env_key(&Tx::within(&conn), Some(&first), 2).unwrap();
        assert_eq!(active_count(&conn).unwrap(), 1);
        sync_env_key(&Tx::within(&conn), Some(&second), 3).unwrap();
        assert!(verify(&conn, &first).unwrap().is_none());
        assert!(verify(&conn, &second).unwrap().is_some());
        sync_env_key(&Tx::within(&conn), None, 4).unwrap();
        assert_eq!(active_count(&conn).unwrap(), 0);
        // Setting a former environment key again brings it back ...
        sync_env_key(&Tx::within(&conn), Some(&first), 5).unwrap();
        let id = verify(&conn, &first).unwrap().expect("active again");
        // ... but an explicit revocation survives restarts with the same environment.
        assert!(revoke(&Tx::within(&conn), id.id, 6).unwrap());
        assert_eq!(sync_env_key(&Tx::within(&conn), Some(&first), 7).unwrap(), EnvKey::Revoked);
        assert!(verify(&conn, &first).unwrap().is_none());
    }
}
