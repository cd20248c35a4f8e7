//! Special commission rates for single affiliates on an offer: for every conversion type
//! ([`EVERY_TYPE`]) or per type. Which rate applies to a conversion is decided by
//! `tracking::pricing::choose_rate`; this file stores and reads them.

use rusqlite::{Connection, params};

use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::commission::Rule;

/// The `event_type` of a rate that applies to every conversion type.
pub use crate::tracking::pricing::EVERY_TYPE;

/// One affiliate's rates on one offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffiliateRate {
    pub referral_code: String,
    /// By conversion type, or a single [`EVERY_TYPE`] entry.
    pub rules: Vec<(String, Rule)>,
}

fn rule_of(kind: String, value: i64) -> Result<Rule, Error> {
    Rule::from_stored(&kind, value).ok_or_else(|| Error::internal("bad stored commission rule"))
}

/// Every affiliate's rates on an offer, by referral code.
pub fn of_offer(conn: &Connection, offer_id: i64) -> Result<Vec<AffiliateRate>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.referral_code, r.event_type, r.commission_type, r.commission_value
         FROM affiliate_rates r JOIN affiliates a ON a.id = r.affiliate_id
         WHERE r.offer_id = ?1 ORDER BY a.referral_code, r.event_type",
    )?;
    let rows = stmt.query_map([offer_id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    let mut out: Vec<AffiliateRate> = Vec::new();
    for row in rows {
        let (code, event_type, kind, value) = row?;
        let rule = rule_of(kind, value)?;
        match out.last_mut() {
            Some(last) if last.referral_code == code => last.rules.push((event_type, rule)),
            _ => out.push(AffiliateRate { referral_code: code, rules: vec![(event_type, rule)] }),
        }
    }
    Ok(out)
}

/// One affiliate's rates on an offer (empty when none).
pub fn of_affiliate(conn: &Connection, offer_id: i64, affiliate_id: i64) -> Result<Vec<(String, Rule)>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT event_type, commission_type, commission_value FROM affiliate_rates
         WHERE offer_id = ?1 AND affiliate_id = ?2 ORDER BY event_type",
    )?;
    let rows =
        stmt.query_map(params![offer_id, affiliate_id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?;
    rows.map(|row| {
        let (event_type, kind, value) = row?;
        Ok((event_type, rule_of(kind, value)?))
    })
    .collect()
}

/// Replaces an affiliate's rates on an offer. Must run on the writer.
pub fn put(conn: &Tx, offer_id: i64, affiliate_id: i64, rules: &[(String, Rule)]) -> Result<AffiliateRate, Error> {
    delete(conn, offer_id, affiliate_id)?;
    for (event_type, rule) in rules {
        conn.prepare_cached(
            "INSERT INTO affiliate_rates (offer_id, affiliate_id, event_type, commission_type, commission_value)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![offer_id, affiliate_id, event_type, rule.kind(), rule.stored_value()])?;
    }
    let referral_code = super::affiliates::get(conn, affiliate_id)?
        .ok_or_else(|| Error::internal("the affiliate of a rate is missing"))?
        .referral_code;
    Ok(AffiliateRate { referral_code, rules: of_affiliate(conn, offer_id, affiliate_id)? })
}

/// Removes an affiliate's rates on an offer; `false` when there were none.
pub fn delete(conn: &Tx, offer_id: i64, affiliate_id: i64) -> Result<bool, Error> {
    Ok(conn
        .prepare_cached("DELETE FROM affiliate_rates WHERE offer_id = ?1 AND affiliate_id = ?2")?
        .execute(params![offer_id, affiliate_id])?
        > 0)
}
