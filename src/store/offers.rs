//! Offers: what a tracking link leads to and how conversions on it are paid.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::attribution::Model;
use crate::tracking::commission::Rule;
use crate::tracking::money::Currency;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub id: i64,
    pub public_id: String,
    pub name: String,
    pub landing_url: String,
    pub commission: Rule,
    pub attribution: Model,
    pub click_window_days: i64,
    pub currency: Currency,
    pub is_default: bool,
    pub created_at: i64,
    /// Paused: links redirect without a click, conversions are rejected.
    pub paused: bool,
    /// Customer-attributed conversions earn only this many months after the tie.
    pub recurring_months: Option<i64>,
    /// More conversions on one click than this are flagged `click_reused`.
    pub max_conversions_per_click: Option<i64>,
    /// Days after which the sweeper approves pending conversions; `None`: the server's default.
    pub approve_after_days: Option<i64>,
    /// Hosts deep links may lead to besides the landing URL's (`tracking::deep_link`).
    pub allowed_hosts: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOffer {
    pub public_id: String,
    pub name: String,
    pub landing_url: String,
    /// The rate for every conversion type `event_rates` does not list.
    pub commission: Rule,
    /// Rates per conversion type; when there are any, the types they do not list earn `commission`
    /// (flat 0 as the readers set it).
    pub event_rates: Vec<(String, Rule)>,
    pub attribution: Model,
    pub click_window_days: i64,
    pub currency: Currency,
    pub make_default: bool,
    pub paused: bool,
    pub recurring_months: Option<i64>,
    pub max_conversions_per_click: Option<i64>,
    pub approve_after_days: Option<i64>,
    /// As checked by `tracking::deep_link::check_allowed_hosts`.
    pub allowed_hosts: Vec<String>,
}

const COLUMNS: &str = "id, public_id, name, landing_url, commission_type, commission_value, \
                       attribution, click_window_days, currency, is_default, created_at, status, recurring_months, \
                       max_conversions_per_click, approve_after_days, allowed_hosts";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Offer> {
    let corrupt = |what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("bad {what} in offers").into(),
        )
    };
    let kind: String = r.get(4)?;
    let model: String = r.get(6)?;
    let currency: String = r.get(8)?;
    Ok(Offer {
        id: r.get(0)?,
        public_id: r.get(1)?,
        name: r.get(2)?,
        landing_url: r.get(3)?,
        commission: Rule::from_stored(&kind, r.get(5)?).ok_or_else(|| corrupt("commission_type"))?,
        attribution: Model::parse(&model).ok_or_else(|| corrupt("attribution"))?,
        click_window_days: r.get(7)?,
        currency: Currency::from_code(&currency).ok_or_else(|| corrupt("currency"))?,
        is_default: r.get(9)?,
        created_at: r.get(10)?,
        paused: r.get::<_, String>(11)? == "paused",
        recurring_months: r.get(12)?,
        max_conversions_per_click: r.get(13)?,
        approve_after_days: r.get(14)?,
        allowed_hosts: r.get::<_, String>(15)?.split_ascii_whitespace().map(str::to_string).collect(),
    })
}

fn status(paused: bool) -> &'static str {
    if paused { "paused" } else { "active" }
}

/// Replaces an offer's rates per conversion type.
fn set_event_rates(conn: &Tx, offer_id: i64, rates: &[(String, Rule)]) -> Result<(), Error> {
    conn.prepare_cached("DELETE FROM offer_event_rates WHERE offer_id = ?1")?.execute([offer_id])?;
    for (event_type, rule) in rates {
        conn.prepare_cached(
            "INSERT INTO offer_event_rates (offer_id, event_type, commission_type, commission_value)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![offer_id, event_type, rule.kind(), rule.stored_value()])?;
    }
    Ok(())
}

/// An offer's rates per conversion type, by type.
pub fn event_rates(conn: &Connection, offer_id: i64) -> Result<Vec<(String, Rule)>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT event_type, commission_type, commission_value FROM offer_event_rates WHERE offer_id = ?1
         ORDER BY event_type",
    )?;
    let rows =
        stmt.query_map([offer_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
    rows.map(|row| {
        let (event_type, kind, value) = row?;
        let rule = Rule::from_stored(&kind, value).ok_or_else(|| Error::internal("bad offer_event_rates row"))?;
        Ok((event_type, rule))
    })
    .collect()
}

/// Inserts an offer. The first offer becomes the default; `make_default` moves the default to
/// the new offer. Runs on the writer, so the two statements cannot interleave with another
/// offer's creation.
pub fn create(conn: &Tx, new: &NewOffer, now: i64) -> Result<Offer, Error> {
    super::catalog::changed();
    if new.make_default {
        conn.prepare_cached("UPDATE offers SET is_default = 0 WHERE is_default = 1")?.execute([])?;
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO offers (public_id, name, landing_url, commission_type, commission_value,
                                 attribution, click_window_days, currency, is_default, created_at, status,
                                 recurring_months, max_conversions_per_click, approve_after_days, allowed_hosts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,
                     ?9 OR NOT EXISTS (SELECT 1 FROM offers WHERE is_default = 1), ?10, ?11, ?12, ?13, ?14, ?15)
             ON CONFLICT (public_id) DO NOTHING",
        )?
        .execute(params![
            new.public_id,
            new.name,
            new.landing_url,
            new.commission.kind(),
            new.commission.stored_value(),
            new.attribution.as_str(),
            new.click_window_days,
            new.currency.code(),
            new.make_default,
            now,
            status(new.paused),
            new.recurring_months,
            new.max_conversions_per_click,
            new.approve_after_days,
            new.allowed_hosts.join(" ")
        ])?;
    if inserted == 0 {
        return Err(Error::conflict(
            "duplicate_offer_id",
            format!("an offer with id `{}` already exists", new.public_id),
        ));
    }
    let id = conn.last_insert_rowid();
    set_event_rates(conn, id, &new.event_rates)?;
    Ok(get(conn, id)?.expect("the offer just inserted"))
}

/// Changes an offer's name, landing URL, commission and rates per type, attribution, click
/// window, status and limits, and makes it the default if asked. Its id and currency never change (stored amounts depend on them).
/// Conversions already recorded keep the commission they were given.
pub fn update(conn: &Tx, id: i64, changes: &NewOffer) -> Result<Offer, Error> {
    super::catalog::changed();
    if changes.make_default {
        conn.prepare_cached("UPDATE offers SET is_default = 0 WHERE is_default = 1 AND id != ?1")?.execute([id])?;
    }
    let changed = conn
        .prepare_cached(
            "UPDATE offers SET name = ?1, landing_url = ?2, commission_type = ?3, commission_value = ?4,
                               attribution = ?5, click_window_days = ?6, is_default = is_default OR ?7,
                               status = ?9, recurring_months = ?10, max_conversions_per_click = ?11,
                               approve_after_days = ?12, allowed_hosts = ?13
             WHERE id = ?8",
        )?
        .execute(params![
            changes.name,
            changes.landing_url,
            changes.commission.kind(),
            changes.commission.stored_value(),
            changes.attribution.as_str(),
            changes.click_window_days,
            changes.make_default,
            id,
            status(changes.paused),
            changes.recurring_months,
            changes.max_conversions_per_click,
            changes.approve_after_days,
            changes.allowed_hosts.join(" ")
        ])?;
    if changed == 0 {
        return Err(Error::not_found("unknown_offer", format!("no offer has id {id}")));
    }
    set_event_rates(conn, id, &changes.event_rates)?;
    Ok(get(conn, id)?.expect("the offer just updated"))
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Offer>, Error> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM offers WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn by_public_id(conn: &Connection, public_id: &str) -> Result<Option<Offer>, Error> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM offers WHERE public_id = ?1"))?
        .query_row([public_id], from_row)
        .optional()?)
}

pub fn default_offer(conn: &Connection) -> Result<Option<Offer>, Error> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM offers WHERE is_default = 1"))?
        .query_row([], from_row)
        .optional()?)
}

/// The named offer (404 `unknown_offer`), or the default one when no name is given
/// (404 `no_offer` when there is none yet).
pub fn named_or_default(conn: &Connection, public_id: Option<&str>) -> Result<Offer, Error> {
    find(conn, public_id)?
}

/// Like [`named_or_default`], with the database's failure apart from the answer: the inner
/// error is the refusal to give the caller.
pub fn find(conn: &Connection, public_id: Option<&str>) -> Result<Result<Offer, Error>, Error> {
    Ok(match public_id {
        Some(id) => by_public_id(conn, id)?.ok_or_else(|| unknown_offer(id)),
        None => default_offer(conn)?.ok_or_else(no_offer),
    })
}

/// [`find`]'s row id only, without reading the offer (attribution needs no more; the offer is
/// read once, when the conversion is priced).
pub fn find_id(conn: &Connection, public_id: Option<&str>) -> Result<Result<i64, Error>, Error> {
    Ok(match public_id {
        Some(id) => conn
            .prepare_cached("SELECT id FROM offers WHERE public_id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| unknown_offer(id)),
        None => conn
            .prepare_cached("SELECT id FROM offers WHERE is_default = 1")?
            .query_row([], |r| r.get(0))
            .optional()?
            .ok_or_else(no_offer),
    })
}

fn unknown_offer(id: &str) -> Error {
    Error::not_found("unknown_offer", format!("no offer has id `{id}`; list them with GET /api/v1/offers"))
}

fn no_offer() -> Error {
    Error::not_found("no_offer", "there is no offer yet; create one with POST /api/v1/offers")
}

pub fn list(conn: &Connection, after: i64, limit: usize) -> Result<Vec<Offer>, Error> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM offers WHERE id > ?1 ORDER BY id LIMIT ?2"))?;
    let rows = stmt.query_map(params![after, limit as i64], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attribution asks for an offer's row id only: the same answer, refusals included, as
    /// reading the whole offer.
    #[test]
    fn find_id_answers_as_find_does() {
        let conn = crate::store::testing::memory();
        let both = |public_id: Option<&str>| {
            let refusal = |e: Error| format!("{} {}", e.code, e.message);
            let id = find_id(&conn, public_id).unwrap().map_err(refusal);
            assert_eq!(id, find(&conn, public_id).unwrap().map(|o| o.id).map_err(refusal), "{public_id:?}");
            id.map_err(|e| e.split(' ').next().unwrap().to_string())
        };
        assert_eq!(both(None), Err("no_offer".into()));
        conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
        conn.execute_batch(
            "INSERT INTO offers (public_id, name, landing_url, commission_type, commission_value, attribution,
                                 click_window_days, currency, created_at)
             VALUES ('trial', 'Trial', 'https://s.example/t', 'flat', 500, 'last_click', 30, 'USD', 1)",
        )
        .unwrap();
        assert_eq!(both(None), Ok(1));
        assert_eq!(both(Some("main")), Ok(1));
        assert_eq!(both(Some("trial")), Ok(2));
        assert_eq!(both(Some("nope")), Err("unknown_offer".into()));
    }
}
