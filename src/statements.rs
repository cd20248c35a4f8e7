//! The server's statement signing key and the statements it signs (#16).
//!
//! The key is an Ed25519 seed in `<db>.statement-key` (mode 0600), made on first start. It is
//! never logged and is not in the database, so a stolen database cannot sign; `affiliated
//! backup` files carry it and `affiliated restore` puts it back. The database remembers the
//! public key it last used (in `settings`), so a server started without the file notices, makes
//! a new key and says so.
//! A statement is an affiliate's ledger chain with its head signed (`tracking::statement`). The
//! API serves it a page at a time ([`issue_page`]: a bounded number of entries, each page signed
//! with the head of the whole chain); the portal's download is the whole chain in one file,
//! streamed a page at a time while it is sent ([`issue_whole`]), so neither holds a long chain
//! in memory.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::error::Error;
use crate::store::{affiliates, ledger};
use crate::tracking::statement::{self, Statement};
use crate::transport::response::Chunks;

/// What the key file holds.
pub struct Key {
    seed: [u8; 32],
    /// Standard base64 of the public key.
    pub public_key: String,
    /// RFC 3339, when the key was made.
    pub created_at: String,
}

const HEADER: &str = "affiliated statement key v1";
const SETTING: &str = "statement_public_key";

pub fn path(db: &Path) -> PathBuf {
    crate::store::file::companion(db, crate::store::file::Companion::StatementKey)
}

/// Reads the key file.
pub fn load(db: &Path) -> Result<Key, String> {
    let file = path(db);
    let text = std::fs::read_to_string(&file).map_err(|e| format!("while reading {}: {e}", file.display()))?;
    let mut seed = None;
    let mut created_at = None;
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(format!("{} is not an affiliated statement key file", file.display()));
    }
    for line in lines {
        match line.split_once(' ') {
            Some(("seed", value)) => {
                seed = crate::secret::from_base64(value);
            }
            Some(("created_at", value)) => created_at = Some(value.to_string()),
            _ => {}
        }
    }
    let seed = seed.ok_or_else(|| format!("{} holds no valid seed", file.display()))?;
    Ok(Key { seed, public_key: statement::public_key(&seed), created_at: created_at.unwrap_or_default() })
}

/// Makes sure the key file exists (making a key on first start) and that the database knows its
/// public key. Returns a warning for the log when a key had to be made for a database that had
/// been signing with another one (restored without its key file). A step of `serve`'s start-up,
/// before the writer thread exists: it records the key in a transaction of its own
/// (`store::writer::direct`).
pub fn ensure(conn: &Connection, db: &Path, now: i64) -> Result<Option<String>, String> {
    let known = crate::store::settings::get(conn, SETTING)
        .map_err(|e| format!("while reading the statement key setting: {e}"))?;
    let file = path(db);
    let (key, made) = if file.exists() {
        (load(db)?, false)
    } else {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        let text =
            format!("{HEADER}\nseed {}\ncreated_at {}\n", crate::secret::base64(&seed), crate::clock::rfc3339(now));
        crate::secret::write_private_file(&file, &text)
            .map_err(|e| format!("while writing the statement key {}: {e}", file.display()))?;
        (load(db)?, true)
    };
    crate::store::writer::direct(conn, |tx| crate::store::settings::set(tx, SETTING, &key.public_key))
        .and_then(|recorded| recorded)
        .map_err(|e| format!("while recording the statement key: {e}"))?;
    Ok(match (known, made) {
        (Some(old), _) if old != key.public_key => Some(format!(
            "statements are now signed with the key in {} ({}), not the key this database used before ({old}); \
             affiliates comparing new statements with old ones will see the change. Was the server restored without \
             its statement key file?{}",
            file.display(),
            key.public_key,
            if made { " A new key was made." } else { "" }
        )),
        (None, true) => {
            log::info!("made a statement signing key in {} (`affiliated backup` keeps it)", file.display());
            None
        }
        _ => None,
    })
}

/// Most entries in one page of a statement.
pub const MAX_PAGE: usize = 5_000;

/// A page of the signed statement of affiliate `referral_code` now: at most `limit` entries
/// from `from_seq` on, with the head of the whole chain signed; and the seq the next page starts
/// at, when this one does not end at the head. A 400 `invalid_from_seq` beyond the head.
pub fn issue_page(
    conn: &Connection,
    db: &Path,
    referral_code: &str,
    (from_seq, limit): (i64, usize),
    now: i64,
) -> Result<(Statement, Option<i64>), Error> {
    let affiliate = affiliates::by_code(conn, referral_code)?.ok_or_else(|| affiliates::unknown(referral_code))?;
    let key = load(db).map_err(|e| Error::internal(format!("the statement key cannot be read: {e}")))?;
    let head = ledger::head(conn, affiliate.id)?;
    if !(1..=head.seq + 1).contains(&from_seq) {
        return Err(Error::invalid(
            "from_seq",
            format!("must be from 1 to {} (the chain has {} entries)", head.seq + 1, head.seq),
        ));
    }
    let mut entries = ledger::entries_from(conn, affiliate.id, from_seq, limit)?;
    // Entries appended since the head was read belong to the next statement.
    entries.retain(|e| e.seq <= head.seq);
    let last = from_seq + entries.len() as i64 - 1;
    let next = (last < head.seq).then_some(last + 1);
    let page = statement::sign_page(&key.seed, &affiliate.referral_code, entries, head, crate::clock::rfc3339(now));
    Ok((page, next))
}

/// The whole signed statement of affiliate `referral_code` now, as the chunks of one JSON
/// document (the format of a statement downloaded whole): the head is read and signed first,
/// then the entries up to it are read [`MAX_PAGE`] at a time on a read connection of their own
/// while the file is sent.
pub fn issue_whole(conn: &Connection, db: &Path, referral_code: &str, now: i64) -> Result<Chunks, Error> {
    let affiliate = affiliates::by_code(conn, referral_code)?.ok_or_else(|| affiliates::unknown(referral_code))?;
    let key = load(db).map_err(|e| Error::internal(format!("the statement key cannot be read: {e}")))?;
    let head = ledger::head(conn, affiliate.id)?;
    let issued_at = crate::clock::rfc3339(now);
    let signed = statement::sign_page(&key.seed, &affiliate.referral_code, Vec::new(), head.clone(), issued_at);
    let opening = serde_json::json!({
        "referral_code": signed.referral_code, "head": signed.head, "public_key": signed.public_key,
        "signature": signed.signature, "issued_at": signed.issued_at,
    })
    .to_string();
    let mut opening = Some(format!("{},\"entries\":[", opening.trim_end_matches('}')));
    let reader = crate::store::open_reader(db).map_err(Error::internal)?;
    let (id, mut next_seq) = (affiliate.id, 1);
    Ok(Box::new(move || {
        if let Some(o) = opening.take() {
            return Some(Ok(o.into_bytes()));
        }
        if next_seq > head.seq + 1 {
            return None;
        }
        if next_seq == head.seq + 1 {
            next_seq += 1;
            return Some(Ok(b"]}".to_vec()));
        }
        let entries = match ledger::entries_from(&reader, id, next_seq, MAX_PAGE) {
            Ok(entries) => entries,
            Err(e) => return Some(Err(e.to_string())),
        };
        let mut out = Vec::new();
        for e in entries.iter().take_while(|e| e.seq <= head.seq) {
            if e.seq > 1 {
                out.push(b',');
            }
            if let Err(e) = serde_json::to_writer(&mut out, e) {
                return Some(Err(e.to_string()));
            }
            next_seq = e.seq + 1;
        }
        if entries.is_empty() {
            return Some(Err(format!("the chain ends before its head, at entry {}", next_seq - 1)));
        }
        Some(Ok(out))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_kept_private_and_a_lost_one_is_noticed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let conn = crate::store::open_writer(&db, crate::store::Synchronous::Normal, 1000).unwrap();
        assert_eq!(ensure(&conn, &db, 0).unwrap(), None);
        let first = load(&db).unwrap();
        assert_eq!(std::fs::metadata(path(&db)).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(first.created_at, "1970-01-01T00:00:00.000Z");
        assert_eq!(ensure(&conn, &db, 5).unwrap(), None);
        assert_eq!(load(&db).unwrap().public_key, first.public_key, "the key is kept");
        std::fs::remove_file(path(&db)).unwrap();
        let warning = ensure(&conn, &db, 9).unwrap().expect("a restored server says so");
        assert!(warning.contains("A new key was made") && warning.contains(&first.public_key), "{warning}");
        assert!(!warning.contains(&crate::secret::base64(&first.seed)), "the secret never reaches the log");
        assert_ne!(load(&db).unwrap().public_key, first.public_key);
    }
}
