//! Conversions: orders (and leads) credited to an affiliate, with their commission and status.
//!
//! Creation runs on the writer. The merchant's order ID (`external_id`) is UNIQUE in the table;
//! the insert uses `ON CONFLICT DO NOTHING`, so under any number of concurrent retries exactly
//! one row exists and every other attempt sees that row. The lookup before the insert only
//! chooses the answer (a retry of a stored order is a duplicate even if its click has expired
//! since); it is not what guarantees uniqueness.

use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};

use super::attribute::{self, Keys, Resolved};
use super::{Insert, customers, deliveries, offers, reports};
use crate::error::Error;
use crate::tracking::commission::{self, Rule};
use crate::tracking::money::Currency;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pending,
    Approved,
    Rejected,
    Refunded,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Pending, Status::Approved, Status::Rejected, Status::Refunded];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Where a conversion was reported from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Api,
    Postback,
    Pixel,
    Lead,
    Admin,
}

impl Source {
    /// The name of the amount field in what this source sends, for error codes
    /// (`invalid_amount`, or `invalid_value` for leads).
    pub fn amount_field(self) -> &'static str {
        match self {
            Source::Lead => "value",
            _ => "amount",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Postback => "postback",
            Source::Pixel => "pixel",
            Source::Lead => "lead",
            Source::Admin => "admin",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Conversion {
    pub id: i64,
    pub external_id: String,
    pub kind: String,
    pub affiliate_id: i64,
    pub referral_code: String,
    pub offer: String,
    pub click_id: Option<String>,
    pub customer_id: Option<String>,
    pub coupon: Option<String>,
    pub attributed_by: String,
    pub source: String,
    pub currency: Currency,
    pub amount: i64,
    pub refunded_amount: i64,
    pub commission: i64,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A conversion as reported, before attribution.
#[derive(Clone, Debug)]
pub struct NewConversion {
    pub external_id: String,
    pub kind: String,
    /// The amount as sent (already checked to be a plain decimal); its scale depends on the
    /// currency, which may come from the offer, so it is parsed during creation.
    pub amount: String,
    pub currency: Option<Currency>,
    pub keys: Keys,
    pub source: Source,
    /// Who reported it, for the change log (e.g. `api_key:3`).
    pub actor: String,
}

const SELECT: &str = "SELECT v.id, v.external_id, v.type, v.affiliate_id, a.referral_code, o.public_id, v.click_id,
                             cu.customer_id, v.coupon_code, v.attributed_by, v.source, v.currency, v.amount,
                             v.refunded_amount, v.commission, v.status, v.created_at, v.updated_at
                      FROM conversions v
                      JOIN affiliates a ON a.id = v.affiliate_id
                      JOIN offers o ON o.id = v.offer_id
                      LEFT JOIN customers cu ON cu.id = v.customer_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Conversion> {
    let currency: String = r.get(11)?;
    Ok(Conversion {
        id: r.get(0)?,
        external_id: r.get(1)?,
        kind: r.get(2)?,
        affiliate_id: r.get(3)?,
        referral_code: r.get(4)?,
        offer: r.get(5)?,
        click_id: r.get(6)?,
        customer_id: r.get(7)?,
        coupon: r.get(8)?,
        attributed_by: r.get(9)?,
        source: r.get(10)?,
        currency: Currency::from_code(&currency).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(11, rusqlite::types::Type::Text, "unknown currency".into())
        })?,
        amount: r.get(12)?,
        refunded_amount: r.get(13)?,
        commission: r.get(14)?,
        status: r.get(15)?,
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
    })
}

fn select_one(conn: &Connection, condition: &str, value: impl ToSql) -> Result<Option<Conversion>, Error> {
    Ok(conn.prepare_cached(&format!("{SELECT} WHERE {condition}"))?.query_row([value], from_row).optional()?)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Conversion>, Error> {
    select_one(conn, "v.id = ?1", id)
}

pub fn by_external_id(conn: &Connection, external_id: &str) -> Result<Option<Conversion>, Error> {
    select_one(conn, "v.external_id = ?1", external_id)
}

/// A conversion that is attributed and priced, ready to be stored.
#[derive(Clone, Debug)]
pub struct Priced {
    pub new: NewConversion,
    pub resolved: Resolved,
    pub referral_code: String,
    pub offer: String,
    pub currency: Currency,
    pub amount: i64,
    pub commission: i64,
}

/// What reading showed: a conversion to store, or the stored one for this order.
pub enum Prepared {
    Priced(Box<Priced>),
    Duplicate(Box<Conversion>),
}

/// Attributes and prices a conversion. Reads only, so it runs on a worker's own connection in
/// parallel with everything else; the writer then only inserts ([`store`]). If the conversion
/// cannot be attributed but its order is stored already, the answer is that order (a retry of a
/// stored order is a duplicate even if its click has expired since).
pub fn prepare(conn: &Connection, new: NewConversion, now: i64) -> Result<Prepared, Error> {
    match attribute::resolve(conn, &new.keys, now) {
        Ok(resolved) => price(conn, new, resolved).map(|p| Prepared::Priced(Box::new(p))),
        Err(e) if e.status < 500 => match by_external_id(conn, &new.external_id)? {
            Some(existing) => Ok(Prepared::Duplicate(Box::new(existing))),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Prepares a conversion reported for a named affiliate (partner-id postbacks): no click.
pub fn prepare_for_affiliate(
    conn: &Connection,
    new: NewConversion,
    referral_code: &str,
    offer: Option<&str>,
) -> Result<Prepared, Error> {
    let found = super::affiliates::require_id(conn, referral_code)
        .and_then(|affiliate_id| Ok((affiliate_id, offers::named_or_default(conn, offer)?.id)));
    let (affiliate_id, offer_id) = match found {
        Ok(ids) => ids,
        Err(e) if e.status < 500 => {
            return match by_external_id(conn, &new.external_id)? {
                Some(existing) => Ok(Prepared::Duplicate(Box::new(existing))),
                None => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    let resolved = Resolved {
        key: crate::tracking::attribution::Key::Affiliate,
        affiliate_id,
        offer_id,
        click_id: None,
        coupon_code: None,
        customer_row: None,
    };
    price(conn, new, resolved).map(|p| Prepared::Priced(Box::new(p)))
}

fn price(conn: &Connection, new: NewConversion, resolved: Resolved) -> Result<Priced, Error> {
    let offer = offers::get(conn, resolved.offer_id)?
        .ok_or_else(|| Error::internal("offer of a resolved conversion is missing"))?;
    let referral_code = super::affiliates::get(conn, resolved.affiliate_id)?
        .ok_or_else(|| Error::internal("affiliate of a resolved conversion is missing"))?
        .referral_code;
    let currency = new.currency.unwrap_or(offer.currency);
    if matches!(offer.commission, Rule::Flat { .. }) && currency != offer.currency {
        return Err(Error::bad_request(
            "currency_mismatch",
            format!(
                "offer `{}` pays a flat commission in {}; report its conversions in {} (or omit currency)",
                offer.public_id, offer.currency, offer.currency
            ),
        ));
    }
    let amount = currency.parse(&new.amount).map_err(|e| Error::invalid(new.source.amount_field(), e))?;
    let commission = offer.commission.commission_on(amount);
    Ok(Priced { new, resolved, referral_code, offer: offer.public_id, currency, amount, commission })
}

/// Stores a prepared conversion. Must run on the writer. The UNIQUE `external_id` decides
/// duplicates; foreign keys make sure the click, affiliate and offer still exist (a click can
/// be swept or erased between reading and writing: that is an `invalid_click_id`).
pub fn store(conn: &Connection, p: &Priced, now: i64) -> Result<Insert<Conversion>, Error> {
    let (new, resolved) = (&p.new, &p.resolved);
    let customer_row = match (resolved.customer_row, new.keys.customer_id.as_deref()) {
        (Some(row), _) => Some(row),
        // A customer named on an order attributed another way is tied to that affiliate, so their
        // later orders earn recurring commission. An existing tie is left as it is.
        (None, Some(customer_id)) => Some(customers::insert_tie(conn, customer_id, resolved, None, None, now)?),
        (None, None) => None,
    };
    let inserted = conn
        .prepare_cached(
            "INSERT INTO conversions (external_id, type, affiliate_id, offer_id, click_id, customer_id, coupon_code,
                                      attributed_by, source, currency, amount, base_commission, commission, status,
                                      created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, 'pending', ?13, ?13)
             ON CONFLICT (external_id) DO NOTHING",
        )?
        .execute(params![
            new.external_id,
            new.kind,
            resolved.affiliate_id,
            resolved.offer_id,
            resolved.click_id,
            customer_row,
            resolved.coupon_code,
            resolved.key.as_str(),
            new.source.as_str(),
            p.currency.code(),
            p.amount,
            p.commission,
            now
        ])
        .map_err(|e| {
            if super::is_foreign_key_violation(&e) {
                Error::bad_request("invalid_click_id", "the click (or customer) of this conversion no longer exists")
            } else {
                e.into()
            }
        })?;
    if inserted == 0 {
        let existing = by_external_id(conn, &new.external_id)?
            .ok_or_else(|| Error::internal("conflicting conversion is missing"))?;
        return Ok(Insert::Duplicate(existing));
    }
    let created = Conversion {
        id: conn.last_insert_rowid(),
        external_id: new.external_id.clone(),
        kind: new.kind.clone(),
        affiliate_id: resolved.affiliate_id,
        referral_code: p.referral_code.clone(),
        offer: p.offer.clone(),
        click_id: resolved.click_id.clone(),
        customer_id: customer_row.and(new.keys.customer_id.clone()),
        coupon: resolved.coupon_code.clone(),
        attributed_by: resolved.key.as_str().to_string(),
        source: new.source.as_str().to_string(),
        currency: p.currency,
        amount: p.amount,
        refunded_amount: 0,
        commission: p.commission,
        status: Status::Pending.as_str().to_string(),
        created_at: now,
        updated_at: now,
    };
    record_event(conn, created.id, now, &new.actor, "created", None, Status::Pending, p.amount, p.commission, None)?;
    reports::count_conversion(conn, &created, 1)?;
    deliveries::enqueue(conn, &created, "created", now)?;
    Ok(Insert::Created(created))
}

/// Attributes, prices and stores a conversion on one connection (the writer's).
pub fn create(conn: &Connection, new: &NewConversion, now: i64) -> Result<Insert<Conversion>, Error> {
    match prepare(conn, new.clone(), now)? {
        Prepared::Priced(p) => store(conn, &p, now),
        Prepared::Duplicate(existing) => Ok(Insert::Duplicate(*existing)),
    }
}

/// [`create`] for a named affiliate (partner-id postbacks).
pub fn create_for_affiliate(
    conn: &Connection,
    new: &NewConversion,
    referral_code: &str,
    offer: Option<&str>,
    now: i64,
) -> Result<Insert<Conversion>, Error> {
    match prepare_for_affiliate(conn, new.clone(), referral_code, offer)? {
        Prepared::Priced(p) => store(conn, &p, now),
        Prepared::Duplicate(existing) => Ok(Insert::Duplicate(*existing)),
    }
}

/// The result of approving or rejecting.
pub enum Decision {
    Changed(Conversion),
    /// The conversion was not pending; nothing changed.
    Refused(Conversion),
}

/// Moves a pending conversion to approved or rejected. Exactly one caller can win: the update
/// only matches while the status is still `pending`.
pub fn decide(
    conn: &Connection,
    id: i64,
    to: Status,
    actor: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<Decision, Error> {
    debug_assert!(matches!(to, Status::Approved | Status::Rejected));
    let changed = conn
        .prepare_cached("UPDATE conversions SET status = ?1, updated_at = ?2 WHERE id = ?3 AND status = 'pending'")?
        .execute(params![to.as_str(), now, id])?;
    let current = get(conn, id)?.ok_or_else(|| not_found(id))?;
    if changed == 0 {
        return Ok(Decision::Refused(current));
    }
    reports::count_conversion(conn, &Conversion { status: Status::Pending.as_str().into(), ..current.clone() }, -1)?;
    reports::count_conversion(conn, &current, 1)?;
    let commission_delta = if to == Status::Rejected { -current.commission } else { 0 };
    record_event(conn, id, now, actor, to.as_str(), Some(Status::Pending), to, 0, commission_delta, reason)?;
    if to == Status::Approved && current.commission > 0 {
        ledger(conn, &current, "approval", current.commission, now)?;
    }
    deliveries::enqueue(conn, &current, to.as_str(), now)?;
    Ok(Decision::Changed(current))
}

/// Refunds `amount` (minor units; `None` = everything left) of a pending or approved conversion.
/// The commission shrinks in proportion to what remains; a full refund sets the status to
/// `refunded` and the commission to zero. Refunding an approved conversion books the difference
/// as a negative ledger entry (a claw-back).
pub fn refund(conn: &Connection, id: i64, amount: Option<&str>, actor: &str, now: i64) -> Result<Decision, Error> {
    let current = get(conn, id)?.ok_or_else(|| not_found(id))?;
    let status = Status::parse(&current.status).ok_or_else(|| Error::internal("unknown status stored"))?;
    if !matches!(status, Status::Pending | Status::Approved) {
        return Ok(Decision::Refused(current));
    }
    let remaining = current.amount - current.refunded_amount;
    let refund = match amount {
        None => remaining,
        Some(text) => current.currency.parse(text).map_err(|e| Error::invalid("amount", e))?,
    };
    if refund <= 0 && remaining > 0 {
        return Err(Error::invalid("amount", "must be more than zero"));
    }
    if refund > remaining {
        return Err(Error::invalid(
            "amount",
            format!("is more than the {} {} left to refund", current.currency.format(remaining), current.currency),
        ));
    }
    let base: i64 =
        conn.prepare_cached("SELECT base_commission FROM conversions WHERE id = ?1")?.query_row([id], |r| r.get(0))?;
    let left = remaining - refund;
    let commission = if left == 0 { 0 } else { commission::after_refund(base, current.amount, left) };
    let new_status = if left == 0 { Status::Refunded } else { status };
    conn.prepare_cached(
        "UPDATE conversions SET refunded_amount = refunded_amount + ?1, commission = ?2, status = ?3, updated_at = ?4
         WHERE id = ?5",
    )?
    .execute(params![refund, commission, new_status.as_str(), now, id])?;
    let taken_back = current.commission - commission;
    record_event(conn, id, now, actor, "refunded", Some(status), new_status, -refund, -taken_back, None)?;
    let updated = get(conn, id)?.ok_or_else(|| not_found(id))?;
    reports::count_conversion(conn, &current, -1)?;
    reports::count_conversion(conn, &updated, 1)?;
    if status == Status::Approved && taken_back > 0 {
        ledger(conn, &updated, "clawback", -taken_back, now)?;
    }
    deliveries::enqueue(conn, &updated, "refunded", now)?;
    Ok(Decision::Changed(updated))
}

fn ledger(conn: &Connection, c: &Conversion, kind: &str, amount: i64, now: i64) -> Result<(), Error> {
    conn.prepare_cached(
        "INSERT INTO commission_ledger (conversion_id, affiliate_id, at, kind, amount, currency)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![c.id, c.affiliate_id, now, kind, amount, c.currency.code()])?;
    Ok(())
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found("not_found", format!("no conversion has id {id}"))
}

#[allow(clippy::too_many_arguments)]
pub fn record_event(
    conn: &Connection,
    conversion_id: i64,
    at: i64,
    actor: &str,
    action: &str,
    from: Option<Status>,
    to: Status,
    amount_delta: i64,
    commission_delta: i64,
    reason: Option<&str>,
) -> Result<(), Error> {
    conn.prepare_cached(
        "INSERT INTO conversion_events (conversion_id, at, actor, action, from_status, to_status,
                                        amount_delta, commission_delta, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        conversion_id,
        at,
        actor,
        action,
        from.map(Status::as_str),
        to.as_str(),
        amount_delta,
        commission_delta,
        reason
    ])?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct Event {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub amount_delta: i64,
    pub commission_delta: i64,
    pub reason: Option<String>,
}

pub fn events(conn: &Connection, id: i64) -> Result<Vec<Event>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, actor, action, from_status, to_status, amount_delta, commission_delta, reason
         FROM conversion_events WHERE conversion_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok(Event {
            at: r.get(0)?,
            actor: r.get(1)?,
            action: r.get(2)?,
            from_status: r.get(3)?,
            to_status: r.get(4)?,
            amount_delta: r.get(5)?,
            commission_delta: r.get(6)?,
            reason: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Filters for listing; results come newest first.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub status: Option<Status>,
    pub affiliate_id: Option<i64>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// The WHERE clause of a listing, with its bound values.
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    values: Vec<Box<dyn ToSql>>,
}

impl Conditions {
    /// Adds `condition`, whose `?` marks (in order) are bound to `values`.
    fn add(&mut self, condition: &str, values: Vec<Box<dyn ToSql>>) {
        let mut numbered = String::with_capacity(condition.len() + 8);
        let mut values = values.into_iter();
        for part in condition.split_inclusive('?') {
            numbered.push_str(part);
            if part.ends_with('?') {
                self.values.push(values.next().expect("a value for every `?`"));
                numbered.push_str(&self.values.len().to_string());
            }
        }
        self.sql.push(numbered);
    }

    fn of(filter: &Filter) -> Conditions {
        let mut c = Conditions::default();
        if let Some(status) = filter.status {
            c.add("v.status = ?", vec![Box::new(status.as_str())]);
        }
        if let Some(affiliate_id) = filter.affiliate_id {
            c.add("v.affiliate_id = ?", vec![Box::new(affiliate_id)]);
        }
        if let Some(since) = filter.since {
            c.add("v.created_at >= ?", vec![Box::new(since)]);
        }
        if let Some(until) = filter.until {
            c.add("v.created_at < ?", vec![Box::new(until)]);
        }
        c
    }

    /// The statement, with the limit as its last parameter.
    fn statement(&self, order: &str) -> String {
        let condition = if self.sql.is_empty() { "1".to_string() } else { self.sql.join(" AND ") };
        format!("{SELECT} WHERE {condition} ORDER BY {order} LIMIT ?{}", self.values.len() + 1)
    }

    fn query(mut self, conn: &Connection, order: &str, limit: usize) -> Result<Vec<Conversion>, Error> {
        let sql = self.statement(order);
        self.values.push(Box::new(limit as i64));
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(self.values.iter()), from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

const NEWEST_FIRST: &str = "v.created_at DESC, v.id DESC";

/// The position after a conversion in [`newest`] order, as the opaque text pages hand out.
pub fn cursor_after(c: &Conversion) -> String {
    format!("{}.{}", c.created_at, c.id)
}

/// Reads a [`cursor_after`] text: two runs of 1 to 18 digits joined by a dot, nothing else.
pub fn parse_cursor(text: &str) -> Option<(i64, i64)> {
    let (at, id) = text.split_once('.')?;
    let number = |t: &str| -> Option<i64> {
        if t.is_empty() || t.len() > 18 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    Some((number(at)?, number(id)?))
}

/// Listing, newest first by time, after the `(created_at, id)` of the previous page's last row
/// (see [`cursor`]). Every filter combination is served in order by an index on
/// `(…, created_at)`, so a page costs the same with a million rows as with a hundred.
pub fn newest(
    conn: &Connection,
    filter: &Filter,
    after: Option<(i64, i64)>,
    limit: usize,
) -> Result<Vec<Conversion>, Error> {
    newest_conditions(filter, after).query(conn, NEWEST_FIRST, limit)
}

fn newest_conditions(filter: &Filter, after: Option<(i64, i64)>) -> Conditions {
    let mut conditions = Conditions::of(filter);
    if let Some((created_at, id)) = after {
        // The first term is the index range; the second breaks ties within one millisecond.
        conditions.add(
            "v.created_at <= ? AND (v.created_at < ? OR v.id < ?)",
            vec![Box::new(created_at), Box::new(created_at), Box::new(id)],
        );
    }
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_click_swept_between_reading_and_writing_is_an_invalid_click() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::run(&conn).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
        let now = 1_000_000;
        let id = crate::store::clicks::new_id(now);
        let click = crate::store::clicks::NewClick { affiliate_id: 1, offer_id: 1, ..Default::default() };
        crate::store::clicks::insert(&conn, &id, &click, now).unwrap();
        let new = NewConversion {
            external_id: "o-1".into(),
            kind: "sale".into(),
            amount: "10".into(),
            currency: None,
            keys: Keys { click_id: Some(id.clone()), ..Keys::default() },
            source: Source::Api,
            actor: "test".into(),
        };
        let Prepared::Priced(priced) = prepare(&conn, new, now).unwrap() else { panic!("not priced") };
        assert_eq!(priced.commission, 100);
        conn.execute("DELETE FROM clicks WHERE id = ?1", [&id]).unwrap();
        let err = store(&conn, &priced, now).unwrap_err();
        assert_eq!(err.code, "invalid_click_id");
        let stored: i64 = conn.query_row("SELECT count(*) FROM conversions", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, 0);
    }

    #[test]
    fn cursors_read_back_exactly_what_pages_hand_out() {
        assert_eq!(parse_cursor("1763782624000.17"), Some((1_763_782_624_000, 17)));
        assert_eq!(parse_cursor("0.5"), Some((0, 5)));
        for bad in ["", "17", "1.", ".1", "+1.2", "1.-2", "1.2.3", "1. 2", "1234567890123456789.1"] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_admin_filter_is_read_in_order_from_an_index() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::run(&conn).unwrap();
        for status in [None, Some(Status::Pending)] {
            for affiliate_id in [None, Some(7)] {
                for (since, until) in [(None, None), (Some(1), Some(2))] {
                    for after in [None, Some((5, 6))] {
                        let filter = Filter { status, affiliate_id, since, until };
                        let mut conditions = newest_conditions(&filter, after);
                        let sql = format!("EXPLAIN QUERY PLAN {}", conditions.statement(NEWEST_FIRST));
                        conditions.values.push(Box::new(50));
                        let mut stmt = conn.prepare(&sql).unwrap();
                        let plan: Vec<String> = stmt
                            .query_map(rusqlite::params_from_iter(conditions.values.iter()), |r| r.get(3))
                            .unwrap()
                            .collect::<Result<_, _>>()
                            .unwrap();
                        let plan = plan.join(" | ");
                        assert!(!plan.contains("TEMP B-TREE"), "{filter:?} {after:?} sorts: {plan}");
                        assert!(plan.contains(" v USING INDEX conversions_by_"), "{filter:?}: {plan}");
                    }
                }
            }
        }
    }
}
