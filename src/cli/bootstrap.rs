//! What `serve` does to a database before it answers requests: make sure an API key exists (the
//! configured one, or a generated one written to a private file), make sure a postback token
//! and the statement signing key exist, and re-apply erasures a restored backup may lack. Secrets go to 0600 files beside the
//! database, never to the log.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::config::Serve;
use crate::store::{self, keys, postbacks};

/// Runs every start-up step on the writer connection, before the writer thread takes it.
pub fn prepare(conn: &Connection, config: &Serve) -> Result<(), String> {
    api_key(conn, config)?;
    let now = crate::clock::now_ms();
    if let Some(message) = postbacks::ensure(conn, &config.db, config.postback_token.as_deref(), now)? {
        log::warn!("{message}");
    }
    if let Some(message) = crate::statements::ensure(conn, &config.db, now)? {
        log::warn!("{message}");
    }
    let reapplied = store::retention::reapply(conn, &config.db, now)?;
    if reapplied > 0 {
        log::warn!(
            "re-applied {reapplied} erasures from the erasure log that this database did not have (restored from a backup?)"
        );
        store::checkpoint_truncate(conn);
    }
    Ok(())
}

/// Makes sure an API key exists: the one from `AFFILIATED_API_KEY`, or else a generated one
/// that the operator reads from a file next to the database (never from the log).
fn api_key(conn: &Connection, config: &Serve) -> Result<(), String> {
    let now = crate::clock::now_ms();
    let env_key = keys::sync_env_key(conn, config.api_key.as_deref(), now)
        .map_err(|e| format!("while storing the API key: {e}"))?;
    if env_key == keys::EnvKey::Revoked {
        log::warn!("AFFILIATED_API_KEY names a key revoked with `affiliated keys revoke`; it is not accepted");
    }
    let path = initial_key_path(&config.db);
    if keys::active_count(conn).map_err(|e| e.to_string())? > 0 {
        if path.exists() {
            log::warn!("{} still holds the initial API key; delete it once the key is stored safely", path.display());
        }
        return Ok(());
    }
    let (id, key) =
        keys::create(conn, "initial", "initial", now).map_err(|e| format!("while creating an API key: {e}"))?;
    if let Err(e) = crate::secret::write_private_file(&path, &format!("{key}\n")) {
        let _ = keys::revoke(conn, id, now);
        return Err(format!("while writing the initial API key to {}: {e}", path.display()));
    }
    log::warn!(
        "no API key existed, so one was created; read it with `cat {}`, store it in your secrets, then delete that file \
         (`affiliated keys create --label NAME` makes more keys)",
        path.display()
    );
    Ok(())
}

pub fn initial_key_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".initial-api-key");
    PathBuf::from(name)
}
