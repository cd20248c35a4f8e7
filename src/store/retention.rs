//! Retention and erasure: forgetting what the appliance must forget.
//!
//! Retention: clicks older than the retention period that never converted (no conversion and no
//! customer refers to them) are deleted, in bounded batches walking the time-ordered primary key.
//! Clicks that did lead somewhere are kept, because conversions and customers point at them, but
//! lose their personal data (IP, user agent, referrer, landing URL) once they are past retention:
//! attribution only needs the click ID, affiliate, offer and time. Received postbacks and finished
//! deliveries past retention are deleted too (they carry click IDs).
//!
//! Erasure: a customer's or a click's personal data is removed on request while the money records
//! stay, anonymised. Each erasure is also appended (as a hash) to a log file beside the database,
//! so that restoring an older backup can be followed by re-applying it (see `reapply`).

use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Error;
use crate::secret;
use crate::store::writer::Tx;
use crate::tracking::click_id;

/// What one sweep batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub scanned: usize,
    pub deleted: usize,
    pub scrubbed: usize,
    /// No clicks older than the cutoff are left after this batch.
    pub done: bool,
}

/// Sweeps the next `limit` clicks after `after` that are older than `cutoff_ms`. The "never
/// converted" condition is part of the DELETE itself, so a conversion committed at the same
/// moment cannot lose its click. Returns the batch's outcome and where to continue.
pub fn sweep_batch(conn: &Tx, after: &str, cutoff_ms: i64, limit: usize) -> Result<(Swept, String), Error> {
    let bound = click_id::lower_bound(cutoff_ms.max(0) as u64);
    let window: Vec<String> = conn
        .prepare_cached("SELECT id FROM clicks WHERE id > ?1 AND id < ?2 ORDER BY id LIMIT ?3")?
        .query_map(params![after, bound, limit as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let Some(last) = window.last().cloned() else {
        return Ok((Swept { done: true, ..Swept::default() }, after.to_string()));
    };
    let deleted = conn
        .prepare_cached(
            "DELETE FROM clicks WHERE id > ?1 AND id <= ?2
               AND NOT EXISTS (SELECT 1 FROM conversions v WHERE v.click_id = clicks.id)
               AND NOT EXISTS (SELECT 1 FROM customers u WHERE u.click_id = clicks.id)",
        )?
        .execute(params![after, last])?;
    let scrubbed = conn
        .prepare_cached(
            "UPDATE clicks SET ip = NULL, user_agent = NULL, referrer = NULL, landing_url = NULL
             WHERE id > ?1 AND id <= ?2
               AND (ip IS NOT NULL OR user_agent IS NOT NULL OR referrer IS NOT NULL OR landing_url IS NOT NULL)",
        )?
        .execute(params![after, last])?;
    let swept = Swept { scanned: window.len(), deleted, scrubbed, done: window.len() < limit };
    Ok((swept, last))
}

/// Deletes logs older than `cutoff_ms` that may hold click IDs: received postbacks and finished
/// deliveries (postbacks and merchant webhooks), the log of the shops' webhooks with them, portal
/// invites that ended before it, applications rejected before it, and sessions that have
/// expired or ended by now. Returns the number of rows removed (at most `limit` of each).
pub fn prune_logs(conn: &Tx, cutoff_ms: i64, limit: usize) -> Result<usize, Error> {
    let sessions = super::sessions::prune(conn, crate::clock::now_ms(), limit)?;
    let received = conn
        .prepare_cached(
            "DELETE FROM postbacks_received WHERE id IN
               (SELECT id FROM postbacks_received WHERE received_at < ?1 ORDER BY id LIMIT ?2)",
        )?
        .execute(params![cutoff_ms, limit as i64])?;
    let mut deliveries = 0;
    for table in ["postback_deliveries", "webhook_deliveries"] {
        deliveries += conn
            .prepare_cached(&format!(
                "DELETE FROM {table} WHERE id IN
                   (SELECT id FROM {table} WHERE status <> 'pending' AND created_at < ?1 ORDER BY id LIMIT ?2)"
            ))?
            .execute(params![cutoff_ms, limit as i64])?;
    }
    let hooks = conn
        .prepare_cached(
            "DELETE FROM hooks_received WHERE id IN
               (SELECT id FROM hooks_received WHERE received_at < ?1 ORDER BY id LIMIT ?2)",
        )?
        .execute(params![cutoff_ms, limit as i64])?;
    let invites = super::portal::prune_invites(conn, cutoff_ms, limit)?;
    let applications = super::applications::prune_rejected(conn, cutoff_ms, limit)?;
    let resets = super::resets::prune(conn, cutoff_ms, limit)?;
    // E-mails whose link expired unsent lose their bodies first (e-mail may be off now).
    let expired = super::emails::expire(conn, crate::clock::now_ms(), limit)?;
    let emails = super::emails::prune(conn, cutoff_ms, limit)?;
    Ok(received + deliveries + sessions + hooks + invites + applications + resets + expired + emails)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Customer,
    Click,
    /// An affiliate's personal data: e-mail, payout e-mail and details (the books stay).
    Affiliate,
    /// An applicant's personal data: name, e-mail, website, payout e-mail.
    Application,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Customer => "customer",
            Kind::Click => "click",
            Kind::Affiliate => "affiliate",
            Kind::Application => "application",
        }
    }
}

/// The identifier of an erased thing as the log keeps it (referral codes in lower case: they
/// compare without regard to case).
pub fn erasure_hash(kind: Kind, id: &str) -> String {
    let id = if kind == Kind::Affiliate { id.to_lowercase() } else { id.to_string() };
    secret::hex(&secret::sha256(format!("{}:{id}", kind.as_str()).as_bytes()))
}

pub fn log_file(db: &Path) -> PathBuf {
    super::file::companion(db, super::file::Companion::ErasureLog)
}

/// Appends an erasure to the log file and syncs it, before the database is changed: a crash in
/// between leaves an entry that the next start applies.
pub fn append_log(db: &Path, kind: Kind, id: &str) -> std::io::Result<()> {
    let mut file = secret::open_private(&log_file(db), std::fs::OpenOptions::new().create(true).append(true))?;
    // Clicks carry their non-identifying time prefix so a re-application scans only that range.
    let line = match kind {
        Kind::Click => format!("click {} {}\n", id.get(..click_id::TIME_CHARS).unwrap_or(""), erasure_hash(kind, id)),
        _ => format!("{} {}\n", kind.as_str(), erasure_hash(kind, id)),
    };
    file.write_all(line.as_bytes())?;
    file.sync_all()
}

/// Whether `line` is one the erasure log holds (`customer|affiliate|application HASH`, `click
/// PREFIX HASH`), so a file handed to a restore can be told from anything else.
pub fn is_log_line(line: &str) -> bool {
    let hash = |h: &str| secret::from_hex32(h).is_some();
    match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["customer" | "affiliate" | "application", h] => hash(h),
        ["click", prefix, h] => prefix.len() == click_id::TIME_CHARS && hash(h),
        _ => false,
    }
}

/// Erases a customer: the customer row (e-mail, name), every click tied to it, directly or
/// through its conversions, and every copy of what was sent about them: the raw parameters of
/// postbacks received for their conversions or naming them, the outbound postbacks about their
/// conversions, the merchant webhook payloads about them, and the salt behind their orders'
/// hashes in the affiliate ledger. Conversions and ledger entries stay with their amounts,
/// commissions and affiliate.
/// Returns whether anything was found.
pub fn erase_customer(conn: &Tx, customer_id: &str, now: i64) -> Result<bool, Error> {
    // Its live tie and its test tie alike (the same ID may be both).
    let rows: Vec<(i64, Option<String>)> = conn
        .prepare_cached("SELECT id, click_id FROM customers WHERE customer_id = ?1")?
        .query_map([customer_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    record(conn, Kind::Customer, customer_id, now)?;
    // A platform's events held until this customer is tied name them (they are not tied yet,
    // so there may be no customer row): they are dropped and will never be recorded.
    let held = conn
        .prepare_cached("DELETE FROM hooks_held WHERE waits_for = 'customer' AND awaited = ?1")?
        .execute([customer_id])?;
    if rows.is_empty() {
        return Ok(held > 0);
    }
    for (row_id, own_click) in rows {
        erase_customer_row(conn, row_id, own_click, now)?;
    }
    conn.prepare_cached(&format!(
        "UPDATE postbacks_received SET params = '{ERASED_PARAMS}' WHERE json_extract(params, '$.customer_id') = ?1"
    ))?
    .execute([customer_id])?;
    Ok(true)
}

/// Erases one customer row (of one namespace) and what hangs on it.
fn erase_customer_row(conn: &Tx, row_id: i64, own_click: Option<String>, now: i64) -> Result<(), Error> {
    let mut clicks: Vec<String> = conn
        .prepare_cached("SELECT click_id FROM conversions WHERE customer_id = ?1 AND click_id IS NOT NULL")?
        .query_map([row_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    clicks.extend(own_click);
    clicks.sort();
    clicks.dedup();
    for click in &clicks {
        erase_click(conn, click, now)?;
    }
    let conversions: Vec<i64> = conn
        .prepare_cached("SELECT id FROM conversions WHERE customer_id = ?1")?
        .query_map([row_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for conversion in conversions {
        scrub_conversion_logs(conn, conversion)?;
        // The salt and readable order ID behind the ledger's order hash: without them the
        // affiliate ledger's entries (which are never changed) tie to no order any more.
        conn.prepare_cached("DELETE FROM ledger_orders WHERE conversion_id = ?1")?.execute([conversion])?;
    }
    conn.prepare_cached("DELETE FROM customers WHERE id = ?1")?.execute([row_id])?;
    Ok(())
}

/// What is left of the parameters of a received postback about an erased person.
const ERASED_PARAMS: &str = r#"{"erased":"personal data removed on request"}"#;

/// Removes what the logs hold about one conversion: every parameter of the postbacks received
/// for it (they may carry e-mails, names, addresses, anything the sender passed along), the
/// query and path of the outbound postbacks about it (one not sent yet never will be), and the
/// customer and click IDs in the webhook payloads about it.
fn scrub_conversion_logs(conn: &Tx, conversion_id: i64) -> Result<(), Error> {
    super::webhook_deliveries::redact_conversion(conn, conversion_id)?;
    conn.prepare_cached(&format!("UPDATE postbacks_received SET params = '{ERASED_PARAMS}' WHERE conversion_id = ?1"))?
        .execute([conversion_id])?;
    let deliveries: Vec<(i64, String)> = conn
        .prepare_cached("SELECT id, url FROM postback_deliveries WHERE conversion_id = ?1")?
        .query_map([conversion_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, url) in deliveries {
        redact_delivery(conn, id, &url)?;
    }
    Ok(())
}

/// Keeps only the scheme and host of a delivery's URL (and of its last error, which quotes it);
/// a pending delivery is given up.
fn redact_delivery(conn: &Tx, id: i64, url: &str) -> Result<(), Error> {
    let origin = url.split_once("://").map_or(String::new(), |(scheme, rest)| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        format!("{scheme}://{host}/[erased]")
    });
    conn.prepare_cached(
        "UPDATE postback_deliveries
         SET url = ?1,
             last_error = CASE WHEN status = 'pending' THEN 'not sent: the personal data in it was erased'
                               WHEN last_error IS NULL THEN NULL ELSE '[erased]' END,
             status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END
         WHERE id = ?2",
    )?
    .execute(params![origin, id])?;
    Ok(())
}

/// Erases one click, and scrubs the postback logs of its conversions and of anything naming it.
/// Returns whether it existed.
pub fn erase_click(conn: &Tx, id: &str, now: i64) -> Result<bool, Error> {
    record(conn, Kind::Click, id, now)?;
    if !click_id::is_well_formed(id) {
        return Ok(false);
    }
    let conversions: Vec<i64> = conn
        .prepare_cached("SELECT id FROM conversions WHERE click_id = ?1")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for conversion in conversions {
        scrub_conversion_logs(conn, conversion)?;
    }
    let deleted = conn.prepare_cached("DELETE FROM clicks WHERE id = ?1")?.execute([id])?;
    // Click IDs are 30 random characters: finding them as text cannot hit anything else.
    conn.prepare_cached(&format!(
        "UPDATE postbacks_received SET params = '{ERASED_PARAMS}' WHERE instr(params, ?1) > 0"
    ))?
    .execute([id])?;
    let deliveries: Vec<(i64, String)> = conn
        .prepare_cached("SELECT id, url FROM postback_deliveries WHERE instr(url, ?1) > 0")?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (delivery, url) in deliveries {
        redact_delivery(conn, delivery, &url)?;
    }
    Ok(deleted == 1)
}

/// Erases an affiliate's personal data: e-mail, payout e-mail and payout details are removed and
/// the name becomes the referral code, and the application that made them loses the same data;
/// the e-mails to them (and to their address as an applicant) lose their address, subject details
/// and body, and one not sent yet never will be (`emails::erase_affiliate`). Their conversions,
/// ledger and payouts stay (the books). Returns whether the affiliate exists.
pub fn erase_affiliate(conn: &Tx, referral_code: &str, now: i64) -> Result<bool, Error> {
    record(conn, Kind::Affiliate, referral_code, now)?;
    super::catalog::changed();
    let before = super::affiliates::by_code(conn, referral_code)?;
    let changed = conn
        .prepare_cached(
            "UPDATE affiliates SET name = referral_code, email = NULL, payout_email = NULL, payout_details = NULL
             WHERE referral_code = ?1",
        )?
        .execute([referral_code])?;
    super::applications::erase_of_affiliate(conn, referral_code, now)?;
    if let Some(a) = before {
        super::emails::erase_affiliate(conn, a.id, a.email.as_deref())?;
    }
    Ok(changed == 1)
}

/// Erases application `id`'s personal data (`store::applications::erase`). Returns whether it
/// exists.
pub fn erase_application(conn: &Tx, id: &str, now: i64) -> Result<bool, Error> {
    record(conn, Kind::Application, id, now)?;
    id.parse::<i64>().map_or(Ok(false), |row| super::applications::erase(conn, row, now))
}

fn record(conn: &Tx, kind: Kind, id: &str, now: i64) -> Result<(), Error> {
    conn.prepare_cached(
        "INSERT INTO erasures (hash, kind, applied_at) VALUES (?1, ?2, ?3) ON CONFLICT (hash) DO NOTHING",
    )?
    .execute(params![erasure_hash(kind, id), kind.as_str(), now])?;
    Ok(())
}

/// Re-applies logged erasures this database has not applied (it was restored from a backup
/// older than them). Returns how many entries were applied.
pub fn reapply(conn: &Connection, db: &Path, now: i64) -> Result<usize, String> {
    let text = match std::fs::read_to_string(log_file(db)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("while reading the erasure log {}: {e}", log_file(db).display())),
    };
    let known = |hash: &str| -> Result<bool, String> {
        conn.query_row("SELECT 1 FROM erasures WHERE hash = ?1", [hash], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(|e| e.to_string())
    };
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    let conn = &Tx::within(conn);
    let mut applied = 0;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let result = match fields.as_slice() {
            ["customer", hash] if !known(hash)? => {
                let ids: Vec<String> = conn
                    .prepare("SELECT customer_id FROM customers")
                    .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                    .map_err(|e| e.to_string())?;
                let matching = ids.into_iter().find(|id| erasure_hash(Kind::Customer, id) == *hash);
                if let Some(id) = matching {
                    erase_customer(conn, &id, now).map_err(|e| e.to_string())?;
                }
                mark(conn, hash, Kind::Customer, now)
            }
            ["affiliate", hash] if !known(hash)? => {
                let codes: Vec<String> = conn
                    .prepare("SELECT referral_code FROM affiliates")
                    .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                    .map_err(|e| e.to_string())?;
                if let Some(code) = codes.into_iter().find(|c| erasure_hash(Kind::Affiliate, c) == *hash) {
                    erase_affiliate(conn, &code, now).map_err(|e| e.to_string())?;
                }
                mark(conn, hash, Kind::Affiliate, now)
            }
            ["application", hash] if !known(hash)? => {
                let ids = super::applications::ids(conn).map_err(|e| e.to_string())?;
                if let Some(id) = ids.iter().map(i64::to_string).find(|id| erasure_hash(Kind::Application, id) == *hash)
                {
                    erase_application(conn, &id, now).map_err(|e| e.to_string())?;
                }
                mark(conn, hash, Kind::Application, now)
            }
            ["click", prefix, hash] if !known(hash)? => {
                let ids: Vec<String> = conn
                    // Every ID with this time prefix sorts between the prefix and the prefix + '~'.
                    .prepare("SELECT id FROM clicks WHERE id >= ?1 AND id < ?1 || '~'")
                    .and_then(|mut s| s.query_map([prefix], |r| r.get(0))?.collect())
                    .map_err(|e| e.to_string())?;
                if let Some(id) = ids.into_iter().find(|id| erasure_hash(Kind::Click, id) == *hash) {
                    erase_click(conn, &id, now).map_err(|e| e.to_string())?;
                }
                mark(conn, hash, Kind::Click, now)
            }
            _ => continue,
        };
        result?;
        applied += 1;
    }
    tx.commit().map_err(|e| format!("while re-applying erasures: {e}"))?;
    Ok(applied)
}

fn mark(conn: &Tx, hash: &str, kind: Kind, now: i64) -> Result<(), String> {
    conn.execute(
        "INSERT INTO erasures (hash, kind, applied_at) VALUES (?1, ?2, ?3) ON CONFLICT (hash) DO NOTHING",
        params![hash, kind.as_str(), now],
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_affiliates_erasure_is_logged_and_reapplied_to_a_restored_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let conn = crate::store::open_writer(&db, crate::store::Synchronous::Normal, 1000).unwrap();
        conn.execute_batch(
            "INSERT INTO affiliates (referral_code, name, email, payout_email, payout_details, created_at)
             VALUES ('ann', 'Ann Example', 'ann@example.com', 'pay@example.com', 'IBAN DE00', 1)",
        )
        .unwrap();
        // The erasure was logged, then the database restored from a backup older than it.
        append_log(&db, Kind::Affiliate, "ANN").unwrap();
        assert_eq!(reapply(&conn, &db, 5).unwrap(), 1);
        let row: (String, Option<String>, Option<String>, Option<String>) = conn
            .query_row("SELECT name, email, payout_email, payout_details FROM affiliates", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!(row, ("ann".to_string(), None, None, None));
        assert_eq!(reapply(&conn, &db, 6).unwrap(), 0, "applied once");
        assert!(!std::fs::read_to_string(log_file(&db)).unwrap().contains("ann"), "the log holds only a hash");
        let log = std::fs::read_to_string(log_file(&db)).unwrap();
        assert!(log.lines().all(is_log_line), "{log}");
        append_log(&db, Kind::Click, "P7RcW10ffQP4A_Yw4l3yAX3z-13QJ5").unwrap();
        append_log(&db, Kind::Customer, "c-1").unwrap();
        let log = std::fs::read_to_string(log_file(&db)).unwrap();
        assert_eq!(log.lines().filter(|l| is_log_line(l)).count(), 3, "{log}");
        for other in ["customer", "customer abc", "click abc", "order 0000", "# notes", "affiliate ANN"] {
            assert!(!is_log_line(other), "{other}");
        }
    }
}
