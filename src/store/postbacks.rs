//! Inbound postbacks: the per-install token that authorises them, and the log of what arrived.
//!
//! The token can only report conversions. The database keeps its SHA-256 only; the token itself
//! is either given by the operator (`AFFILIATED_POSTBACK_TOKEN`) or generated once and written to
//! a file beside the database, readable by its owner only, so that `affiliated postback-url` and
//! `GET /api/v1/postback-url` can show it again. After a rotation the previous token keeps working
//! for [`GRACE_MS`], long enough to update the platforms that fire it.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, Row, params};

use crate::error::Error;
use crate::secret;
use crate::store::writer::Tx;
use crate::tracking::postback::Outcome;

pub const GRACE_MS: i64 = 24 * 3600 * 1000;
pub const TOKEN_PREFIX: &str = "pbt_";

pub fn token_file(db: &Path) -> PathBuf {
    super::file::companion(db, super::file::Companion::PostbackToken)
}

use super::settings::{get as setting, set};

fn hash(token: &str) -> String {
    secret::hex(&secret::sha256(token.as_bytes()))
}

/// Makes `token` the current one; the one it replaces stays valid for [`GRACE_MS`].
fn install(conn: &Tx, token: &str, now: i64) -> Result<(), Error> {
    let new = hash(token);
    if let Some(old) = setting(conn, "postback_token_sha256")? {
        if old == new {
            return Ok(());
        }
        set(conn, "postback_token_previous_sha256", &old)?;
        set(conn, "postback_token_previous_until", &(now + GRACE_MS).to_string())?;
    }
    set(conn, "postback_token_sha256", &new)
}

/// At start-up: use the operator's token if one is configured, else make sure one exists.
/// Returns a message for the log when a token was generated.
pub fn ensure(conn: &Tx, db: &Path, configured: Option<&str>, now: i64) -> Result<Option<String>, String> {
    if let Some(token) = configured {
        install(conn, token, now).map_err(|e| format!("while storing the postback token: {e}"))?;
        return Ok(None);
    }
    let file = token_file(db);
    match (setting(conn, "postback_token_sha256").map_err(|e| e.to_string())?, std::fs::read_to_string(&file)) {
        (Some(stored), Ok(text)) if hash(text.trim()) == stored => Ok(None),
        (Some(_), _) => Ok(Some(format!(
            "the postback token file {} is missing or does not match the database (restored elsewhere?); \
             rotate the token with `affiliated postback-url --rotate`",
            file.display()
        ))),
        (None, _) => {
            rotate(conn, db, now).map_err(|e| format!("while creating the postback token: {e}"))?;
            Ok(Some(format!("created a postback token; see it with `affiliated postback-url` ({})", file.display())))
        }
    }
}

/// Generates a new token, writes it to the token file and makes it current.
pub fn rotate(conn: &Tx, db: &Path, now: i64) -> Result<String, Error> {
    let token = secret::token(TOKEN_PREFIX);
    crate::secret::write_private_file(&token_file(db), &format!("{token}\n"))
        .map_err(|e| Error::internal(format!("writing the postback token file: {e}")))?;
    install(conn, &token, now)?;
    Ok(token)
}

/// The token to show: the configured one, else the one in the token file if it is current.
pub fn current(conn: &Connection, db: &Path, configured: Option<&str>) -> Result<Option<String>, Error> {
    if let Some(t) = configured {
        return Ok(Some(t.to_string()));
    }
    let stored = setting(conn, "postback_token_sha256")?;
    let from_file = std::fs::read_to_string(token_file(db)).ok().map(|t| t.trim().to_string());
    Ok(from_file.filter(|t| stored.as_deref() == Some(hash(t).as_str())))
}

/// Whether `presented` is the current token, or the previous one within its grace period.
pub fn verify(conn: &Connection, presented: &str, now: i64) -> Result<bool, Error> {
    let presented = hash(presented);
    if let Some(current) = setting(conn, "postback_token_sha256")?
        && secret::constant_time_eq(current.as_bytes(), presented.as_bytes())
    {
        return Ok(true);
    }
    let until: i64 = setting(conn, "postback_token_previous_until")?.and_then(|v| v.parse().ok()).unwrap_or(0);
    if now <= until
        && let Some(previous) = setting(conn, "postback_token_previous_sha256")?
    {
        return Ok(secret::constant_time_eq(previous.as_bytes(), presented.as_bytes()));
    }
    Ok(false)
}

#[derive(Clone, Debug)]
pub struct Received {
    pub id: i64,
    pub received_at: i64,
    pub dialect: String,
    pub method: String,
    pub params: String,
    pub status: i64,
    pub outcome: Outcome,
    pub error_code: Option<String>,
    pub conversion_id: Option<i64>,
}

pub struct NewReceived<'a> {
    pub dialect: &'a str,
    pub method: &'a str,
    pub params: &'a str,
    pub status: u16,
    pub outcome: Outcome,
    pub error_code: Option<&'a str>,
    pub conversion_id: Option<i64>,
}

pub fn record(conn: &Tx, r: &NewReceived<'_>, now: i64) -> Result<(), Error> {
    conn.prepare_cached(
        "INSERT INTO postbacks_received (received_at, dialect, method, params, status, outcome, error_code, conversion_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![now, r.dialect, r.method, r.params, r.status, r.outcome, r.error_code, r.conversion_id])?;
    Ok(())
}

fn received_from_row(r: &Row<'_>) -> rusqlite::Result<Received> {
    Ok(Received {
        id: r.get(0)?,
        received_at: r.get(1)?,
        dialect: r.get(2)?,
        method: r.get(3)?,
        params: r.get(4)?,
        status: r.get(5)?,
        outcome: r.get(6)?,
        error_code: r.get(7)?,
        conversion_id: r.get(8)?,
    })
}

pub fn list_received(
    conn: &Connection,
    outcome: Option<Outcome>,
    before_id: Option<i64>,
    limit: usize,
) -> Result<Vec<Received>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, received_at, dialect, method, params, status, outcome, error_code, conversion_id
         FROM postbacks_received WHERE (?1 IS NULL OR outcome = ?1) AND (?2 IS NULL OR id < ?2)
         ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![outcome, before_id, limit as i64], received_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("a.db")).unwrap();
        crate::store::migrate::run(&conn).unwrap();
        (dir, conn)
    }

    #[test]
    fn a_generated_token_verifies_and_rotates_with_grace() {
        let (dir, conn) = db();
        let path = dir.path().join("a.db");
        assert!(ensure(&Tx::within(&conn), &path, None, 0).unwrap().is_some());
        let first = current(&conn, &path, None).unwrap().unwrap();
        assert!(first.starts_with(TOKEN_PREFIX));
        assert!(verify(&conn, &first, 1).unwrap());
        assert!(!verify(&conn, "pbt_wrong", 1).unwrap());
        assert_eq!(ensure(&Tx::within(&conn), &path, None, 2).unwrap(), None, "nothing to do on the next start");
        let second = rotate(&Tx::within(&conn), &path, 10).unwrap();
        assert_eq!(current(&conn, &path, None).unwrap().as_deref(), Some(second.as_str()));
        assert!(verify(&conn, &second, 11).unwrap());
        assert!(verify(&conn, &first, 10 + GRACE_MS).unwrap(), "old token works during the grace period");
        assert!(!verify(&conn, &first, 11 + GRACE_MS).unwrap(), "and not after it");
    }

    #[test]
    fn a_configured_token_wins() {
        let (dir, conn) = db();
        let path = dir.path().join("a.db");
        ensure(&Tx::within(&conn), &path, Some("pbt_from_env_0123456789"), 0).unwrap();
        assert!(verify(&conn, "pbt_from_env_0123456789", 1).unwrap());
        assert_eq!(
            current(&conn, &path, Some("pbt_from_env_0123456789")).unwrap().as_deref(),
            Some("pbt_from_env_0123456789")
        );
        let stored: String = conn.query_row("SELECT group_concat(value) FROM settings", [], |r| r.get(0)).unwrap();
        assert!(!stored.contains("from_env"), "only a hash is stored");
    }
}
