//! Applications to join the program (`applications`): storing one within the limits, the
//! merchant's lists, the decision (approve once, reject once: conditional UPDATEs on the
//! writer), and forgetting the applicant's personal data (erasure, and the retention sweep of
//! rejected applications). The rules are `tracking::application`'s.
//!
//! One pending application per e-mail address is the partial UNIQUE index's decision, inside
//! the transaction that stores it; the cap of pending ones is counted in that same transaction,
//! on the writer, so it holds however many arrive at once.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::application::{MAX_PENDING, NewApplication, Status, Terms, already_decided};

/// An application as stored. `name`, `email` and `website` are `None` once erased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    pub id: i64,
    pub name: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    /// The referral code the applicant wished for.
    pub referral_code: String,
    pub payout_email: Option<String>,
    pub terms: Option<Terms>,
    pub status: Status,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// The referral code of the affiliate its approval made.
    pub affiliate: Option<String>,
    pub erased_at: Option<i64>,
}

const SELECT: &str = "SELECT p.id, p.name, p.email, p.website, p.referral_code, p.payout_email, p.terms_url,
                             p.terms_accepted_at, p.status, p.created_at, p.decided_at, p.reason, a.referral_code,
                             p.erased_at
                      FROM applications p LEFT JOIN affiliates a ON a.id = p.affiliate_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Application> {
    let status: String = r.get(8)?;
    Ok(Application {
        id: r.get(0)?,
        name: r.get(1)?,
        email: r.get(2)?,
        website: r.get(3)?,
        referral_code: r.get(4)?,
        payout_email: r.get(5)?,
        terms: match (r.get::<_, Option<String>>(6)?, r.get::<_, Option<i64>>(7)?) {
            (Some(url), Some(accepted_at)) => Some(Terms { url, accepted_at }),
            _ => None,
        },
        status: Status::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, "unknown status".into())
        })?,
        created_at: r.get(9)?,
        decided_at: r.get(10)?,
        reason: r.get(11)?,
        affiliate: r.get(12)?,
        erased_at: r.get(13)?,
    })
}

/// What became of an application sent to [`insert`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    Stored(Box<Application>),
    /// Its e-mail address has a pending application already: nothing was stored.
    Duplicate,
    /// [`MAX_PENDING`] applications are pending: nothing was stored.
    Full,
}

/// Stores `new` as pending, unless [`MAX_PENDING`] are pending or its e-mail address (in any
/// letter case) has a pending one (the UNIQUE index decides). Runs on the writer.
pub fn insert(conn: &Tx, new: &NewApplication, now: i64) -> Result<Stored, Error> {
    if pending_count(conn)? >= MAX_PENDING {
        return Ok(Stored::Full);
    }
    let id = insert_row(conn, new, Status::Pending, now)?;
    Ok(match id {
        Some(id) => {
            Stored::Stored(Box::new(get(conn, id)?.ok_or_else(|| Error::internal("the application just stored"))?))
        }
        None => Stored::Duplicate,
    })
}

/// Inserts a row with `status` (approved ones say so at once, with their affiliate, in the same
/// statement: the table's checks want both together); `None` when the pending index refused it.
fn insert_row(conn: &Tx, new: &NewApplication, status: Status, now: i64) -> Result<Option<i64>, Error> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO applications (name, email, website, referral_code, payout_email, terms_url,
                                       terms_accepted_at, status, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            new.name,
            new.email,
            new.website,
            new.referral_code,
            new.payout_email,
            new.terms.as_ref().map(|t| &t.url),
            new.terms.as_ref().map(|t| t.accepted_at),
            status.as_str(),
            now
        ])?;
    Ok((inserted == 1).then(|| conn.last_insert_rowid()))
}

/// Stores `new` as already approved with affiliate `affiliate_id` (`--signup open`). Runs on
/// the writer, in the transaction that creates the affiliate.
pub fn insert_approved(conn: &Tx, new: &NewApplication, affiliate_id: i64, now: i64) -> Result<Application, Error> {
    conn.prepare_cached(
        "INSERT INTO applications (name, email, website, referral_code, payout_email, terms_url, terms_accepted_at,
                                   status, created_at, decided_at, affiliate_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'approved', ?8, ?8, ?9)",
    )?
    .execute(params![
        new.name,
        new.email,
        new.website,
        new.referral_code,
        new.payout_email,
        new.terms.as_ref().map(|t| &t.url),
        new.terms.as_ref().map(|t| t.accepted_at),
        now,
        affiliate_id
    ])?;
    get(conn, conn.last_insert_rowid())?.ok_or_else(|| Error::internal("the application just stored"))
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Application>, Error> {
    Ok(conn.prepare_cached(&format!("{SELECT} WHERE p.id = ?1"))?.query_row([id], from_row).optional()?)
}

/// The application `id` while it is pending, else 404 `not_found` or 409
/// `invalid_status_transition` (with the application as it is).
pub fn require_pending(conn: &Connection, id: i64, wanted: Status) -> Result<Application, Error> {
    let application = get(conn, id)?.ok_or_else(|| not_found(id))?;
    if application.status != Status::Pending {
        return Err(refused(&application, wanted));
    }
    Ok(application)
}

/// 409 for a decision on an application decided before; the caller adds the application's view.
pub fn refused(application: &Application, wanted: Status) -> Error {
    already_decided(application.id, application.status, wanted)
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found("not_found", format!("no application has id {id}"))
}

/// Marks pending application `id` approved with affiliate `affiliate_id`: a conditional UPDATE,
/// so of any number of approvals (or an approval and a rejection) exactly one changes it; `false`
/// when it was not pending any more. Runs on the writer, in the transaction that creates the
/// affiliate, which the caller undoes when this says `false`.
pub fn mark_approved(conn: &Tx, id: i64, affiliate_id: i64, now: i64) -> Result<bool, Error> {
    Ok(conn
        .prepare_cached(
            "UPDATE applications SET status = 'approved', decided_at = ?2, affiliate_id = ?3
             WHERE id = ?1 AND status = 'pending'",
        )?
        .execute(params![id, now, affiliate_id])?
        == 1)
}

/// Rejects pending application `id` with `reason`: a conditional UPDATE, like approving. `None`
/// when it was not pending (or does not exist). Runs on the writer.
pub fn reject(conn: &Tx, id: i64, reason: Option<&str>, now: i64) -> Result<Option<Application>, Error> {
    let changed = conn
        .prepare_cached(
            "UPDATE applications SET status = 'rejected', decided_at = ?2, reason = ?3
             WHERE id = ?1 AND status = 'pending'",
        )?
        .execute(params![id, now, reason])?;
    if changed == 0 {
        return Ok(None);
    }
    get(conn, id)
}

/// How many applications are pending (the admin's navigation shows it; [`insert`] caps it).
pub fn pending_count(conn: &Connection) -> Result<i64, Error> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM applications WHERE status = 'pending'")?
        .query_row([], |r| r.get(0))?)
}

/// A page of applications (of one status, or all), oldest first, after the row `after`.
pub fn list(conn: &Connection, status: Option<Status>, after: i64, limit: usize) -> Result<Vec<Application>, Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE (?1 IS NULL OR p.status = ?1) AND p.id > ?2 ORDER BY p.id LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![status.map(Status::as_str), after, limit as i64], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The text a pending application's erasure rejects it with: without a name or an address it
/// cannot become an affiliate.
pub const ERASED_REASON: &str = "personal data erased on request";

/// Removes the applicant's personal data from application `id` (name, e-mail, website, payout
/// e-mail), and their address from the e-mails sent to it (the "rejected" answer); a pending one
/// is rejected with [`ERASED_REASON`], since nobody is left to approve. Returns whether the
/// application exists. Runs on the writer.
pub fn erase(conn: &Tx, id: i64, now: i64) -> Result<bool, Error> {
    if let Some(address) = get(conn, id)?.and_then(|a| a.email) {
        // Affiliate id 0 is nobody's: only the messages to the address are erased.
        super::emails::erase_affiliate(conn, 0, Some(&address))?;
    }
    Ok(conn.prepare_cached(&format!("{ERASE} WHERE id = ?1"))?.execute(params![id, now, ERASED_REASON])? == 1)
}

/// Erases the applications whose approval made affiliate `referral_code`: the applicant's data
/// goes with the affiliate's. Runs on the writer, in the affiliate's erasure.
pub fn erase_of_affiliate(conn: &Tx, referral_code: &str, now: i64) -> Result<usize, Error> {
    Ok(conn
        .prepare_cached(&format!("{ERASE} WHERE affiliate_id = (SELECT id FROM affiliates WHERE referral_code = ?1)"))?
        .execute(params![referral_code, now, ERASED_REASON])?)
}

const ERASE: &str = "UPDATE applications
     SET name = NULL, email = NULL, website = NULL, payout_email = NULL, erased_at = coalesce(erased_at, ?2),
         reason = CASE WHEN status = 'pending' THEN ?3 ELSE reason END,
         decided_at = CASE WHEN status = 'pending' THEN ?2 ELSE decided_at END,
         status = CASE WHEN status = 'pending' THEN 'rejected' ELSE status END";

/// Every application id, for re-applying a logged erasure to a restored database.
pub fn ids(conn: &Connection) -> Result<Vec<i64>, Error> {
    let mut stmt = conn.prepare_cached("SELECT id FROM applications ORDER BY id")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes at most `limit` applications rejected before `cutoff`: the applicant's data is kept
/// no longer than the logs. Runs on the writer (the retention sweep).
pub fn prune_rejected(conn: &Tx, cutoff: i64, limit: usize) -> Result<usize, Error> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM applications WHERE id IN
               (SELECT id FROM applications WHERE status = 'rejected' AND decided_at < ?1 ORDER BY id LIMIT ?2)",
        )?
        .execute(params![cutoff, limit as i64])?)
}

/// What undoes the applications migration (`migrations/0016-applications.sql`) but its rebuilt
/// tables, for tests that make a database of an earlier version out of a current one.
#[cfg(test)]
pub const UNDO_MIGRATION: &str = "DROP TABLE applications; ALTER TABLE affiliates DROP COLUMN terms_url;
    ALTER TABLE affiliates DROP COLUMN terms_accepted_at; ";
