//! What `serve` does to a database before it answers requests: make sure an API key exists (the
//! configured one, or a generated one written to a private file), settle the admin token (the
//! same way), make sure a postback token, the statement signing key and the device cookie key
//! exist, remove the half-built payouts of a payout run a crash interrupted, and re-apply
//! erasures a restored backup may lack. Secrets go to 0600 files beside the
//! database, never to the log.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::config::Serve;
use crate::secret;
use crate::secret::Redacted;
use crate::store::sessions::{self, TokenSource};
use crate::store::writer::direct;
use crate::store::{self, keys, postbacks};

/// Runs every start-up step on the writer connection, before the writer thread takes it, and
/// records the admin token in use in `config`. Each write is a transaction of its own
/// (`store::writer::direct`): there is no writer thread yet.
pub fn prepare(conn: &Connection, config: &mut Serve) -> Result<(), String> {
    api_key(conn, config)?;
    config.admin_token_sha256 = admin_token(conn, config)?;
    config.device_key = Some(device_key(&config.db)?);
    let now = crate::clock::now_ms();
    let configured = config.postback_token.as_ref().map(Redacted::expose);
    let ensured = direct(conn, |tx| postbacks::ensure(tx, &config.db, configured, now)).map_err(|e| e.to_string())?;
    if let Some(message) = ensured? {
        log::warn!("{message}");
    }
    let abandoned = direct(conn, store::payout_runs::abandon).map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    if abandoned > 0 {
        log::warn!(
            "removed {abandoned} half-built payouts that an interrupted payout run left; send its run_id again to \
             finish the run (docs/payouts.md)"
        );
    }
    if let Some(message) = crate::statements::ensure(conn, &config.db, now)? {
        log::warn!("{message}");
    }
    if store::space::mode(conn).map_err(|e| format!("while reading the database's vacuum mode: {e}"))?
        != store::space::Mode::Incremental
    {
        log::warn!(
            "{} keeps the pages its deletes free (it was made before incremental auto-vacuum), so it never shrinks; \
             stop the server and run `affiliated migrate --db {}` once to switch it (docs/operations.md, Disk space)",
            config.db.display(),
            config.db.display()
        );
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
    let env_key = direct(conn, |tx| keys::sync_env_key(tx, config.api_key.as_ref().map(Redacted::expose), now))
        .and_then(|synced| synced)
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
    let (id, key) = direct(conn, |tx| keys::create(tx, "initial", "initial", false, now))
        .and_then(|created| created)
        .map_err(|e| format!("while creating an API key: {e}"))?;
    if let Err(e) = crate::secret::write_private_file(&path, &format!("{key}\n")) {
        let _ = direct(conn, |tx| keys::revoke(tx, id, now));
        return Err(format!("while writing the initial API key to {}: {e}", path.display()));
    }
    log::warn!(
        "no API key existed, so one was created; read it with `cat {}`, store it in your secrets, then delete that file \
         (`affiliated keys create --label NAME` makes more keys)",
        path.display()
    );
    Ok(())
}

/// Settles which token opens the admin, and returns its SHA-256 (`None` with `--admin off`):
/// the configured one; else the one generated at an earlier start; else a new one, written to
/// `<db>.initial-admin-token` for the operator (never to the log). A token different from the
/// one recorded last ends every admin session.
fn admin_token(conn: &Connection, config: &Serve) -> Result<Option<[u8; 32]>, String> {
    if !config.admin {
        return Ok(None);
    }
    let now = crate::clock::now_ms();
    let record = |token: &str, source| {
        let ended = direct(conn, |tx| sessions::set_admin_token(tx, token, source, now))
            .and_then(|ended| ended)
            .map_err(|e| format!("while storing the admin token's hash: {e}"))?;
        if ended > 0 {
            log::info!("the admin token changed, so {ended} admin session(s) opened with the old one ended");
        }
        Ok::<_, String>(Some(secret::sha256(token.as_bytes())))
    };
    if let Some(token) = &config.admin_token {
        return record(token.expose(), TokenSource::Configured);
    }
    let stored = sessions::admin_token(conn).map_err(|e| format!("while reading the admin token's hash: {e}"))?;
    let path = initial_admin_token_path(&config.db);
    if let Some(sha256) = stored.and_then(|(hex, source)| (source == TokenSource::Generated).then_some(hex)) {
        if let Some(sha256) = secret::from_hex32(&sha256) {
            if path.exists() {
                log::warn!(
                    "{} still holds the initial admin token; delete it once the token is stored safely",
                    path.display()
                );
            }
            return Ok(Some(sha256));
        }
        log::warn!("the stored admin token hash is damaged; making a new token");
    }
    let token = secret::token(ADMIN_TOKEN_PREFIX);
    secret::write_private_file(&path, &format!("{token}\n"))
        .map_err(|e| format!("while writing the initial admin token to {}: {e}", path.display()))?;
    let sha256 = record(&token, TokenSource::Generated)?;
    log::warn!(
        "no admin token was configured, so one was created; read it with `cat {}` to log in at /admin \
         (set AFFILIATED_ADMIN_TOKEN to choose your own, or --admin off to turn the admin off)",
        path.display()
    );
    Ok(sha256)
}

/// The key that signs device cookies (`web::device`): the one in `<db>.device-key`, or a new
/// one written there. A damaged file is replaced: the only cost of a new key is that browsers
/// count as new ones until their next login.
fn device_key(db: &Path) -> Result<secret::Key, String> {
    let path = device_key_path(db);
    let header = crate::web::device::KEY_FILE_HEADER;
    match secret::read_key_file(&path, header) {
        Ok(Some(key)) => return Ok(key),
        Ok(None) => log::info!("made the device cookie key in {}", path.display()),
        Err(e) => log::warn!("{e}; making a new device cookie key (browsers log in as new ones once)"),
    }
    secret::make_key_file(&path, header)
}

pub fn device_key_path(db: &Path) -> PathBuf {
    store::file::companion(db, store::file::Companion::DeviceKey)
}

/// How generated admin tokens start, so a leaked one is recognisable.
pub const ADMIN_TOKEN_PREFIX: &str = "adm_";

pub fn initial_key_path(db: &Path) -> PathBuf {
    store::file::companion(db, store::file::Companion::InitialApiKey)
}

pub fn initial_admin_token_path(db: &Path) -> PathBuf {
    store::file::companion(db, store::file::Companion::InitialAdminToken)
}
