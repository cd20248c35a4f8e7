//! Recording a conversion: [`prepare`] attributes and prices it (reads only, on a worker's own
//! connection), [`insert`] stores it on the writer. Between the two, the database may have
//! changed: the insert's UNIQUE `(external_id, test)` decides duplicates (test and live orders
//! are separate namespaces), and foreign keys catch a click swept or erased in between.
//!
//! A server-side report of an order that only the pixel has reported takes the pixel's version
//! over (`takeover.rs`): the pixel runs in visitors' browsers, where anyone can fire it, so it must
//! never be able to keep a sale from the affiliate the shop's own backend credits.
//!
//! The program's levers apply here too: the rate (the affiliate's own, per conversion type, or
//! the offer's), the end of recurring commission, paused affiliates and offers (recorded, then
//! rejected at once), test data, and the fraud rules, which flag and never drop.

use rusqlite::{Connection, params};

use super::row::{NewRow, Stored, coupon_of, reject_if_paused, vanished_click};
use super::{by_external_id, require};
use crate::error::Error;
use crate::store::WriteError;
use crate::store::attribute;
use crate::store::events::{self, NewEvent};
use crate::store::ledger;
use crate::store::writer::Tx;
use crate::store::{affiliates, customers, deliveries, offers, rates, reports, webhooks};
use crate::tracking::attribution::{Key, Resolved};
use crate::tracking::conversion::{Change, Conversion, NewConversion, Refusal, Status, replaces};
use crate::tracking::fraud::{self, Flag, Thresholds};
use crate::tracking::pricing::{self, Recurring, Terms};
use crate::tracking::webhook::Event;

/// What reading showed.
pub enum Prepared {
    /// A conversion to store.
    Row(Box<NewRow>),
    /// The stored conversion of this order: the report is a retry (even if its click has
    /// expired since), and there is nothing to write.
    Known(Box<Conversion>),
    /// The report cannot be recorded; the refusal says why.
    Refused(Refusal),
}

/// Attributes and prices `new` on `conn` and applies the fraud rules that reading can decide.
/// Reads only, so it runs on a worker's own connection in parallel with everything else. A
/// report that cannot be attributed or priced is answered with its stored order when there is
/// one it would not replace.
pub fn prepare(conn: &Connection, new: NewConversion, rules: &Thresholds, now: i64) -> Result<Prepared, Error> {
    let row = match attribute::resolve(conn, &new.keys, new.test, now)? {
        Ok(resolved) => assess(conn, new, resolved, rules, now)?,
        Err(refusal) => Err((new, refusal)),
    };
    match row {
        Ok(row) => Ok(Prepared::Row(Box::new(row))),
        // A refused report can only be a retry of an order of its own namespace (the click that
        // made a stored order test data may be gone, but then the report was test data too).
        Err((new, refusal)) => Ok(match by_external_id(conn, &new.external_id, new.test)? {
            Some(stored) if !replaces(&stored, new.source) => Prepared::Known(Box::new(stored)),
            _ => Prepared::Refused(refusal),
        }),
    }
}

/// Prices an attributed report and applies the rules: the rate, paused affiliates and offers,
/// `too_fast`, `click_flood` and `self_referral`.
#[allow(clippy::result_large_err)]
fn assess(
    conn: &Connection,
    new: NewConversion,
    resolved: Resolved,
    rules: &Thresholds,
    now: i64,
) -> Result<Result<NewRow, (NewConversion, Refusal)>, Error> {
    let offer = offers::get(conn, resolved.offer_id)?
        .ok_or_else(|| Error::internal("offer of a resolved conversion is missing"))?;
    let affiliate = affiliates::get(conn, resolved.affiliate_id)?
        .ok_or_else(|| Error::internal("affiliate of a resolved conversion is missing"))?;
    let rate = pricing::choose_rate(
        &new.kind,
        &rates::of_affiliate(conn, offer.id, affiliate.id)?,
        &offers::event_rates(conn, offer.id)?,
        offer.commission,
        &offer.public_id,
        new.type_rate_only,
    );
    let recurring = match (resolved.key, resolved.tied_at, offer.recurring_months) {
        (Key::Customer, Some(tied_at), Some(months)) => Some(Recurring { tied_at, months }),
        _ => None,
    };
    let terms = Terms { offer: &offer.public_id, currency: offer.currency, rate, recurring, now };
    let price = match pricing::price(&terms, &new) {
        Ok(price) => price,
        Err(refusal) => return Ok(Err((new, Refusal::rejected(refusal)))),
    };
    let mut flags = Vec::new();
    if resolved.clicked_at.is_some_and(|clicked_at| fraud::too_fast(clicked_at, now, rules)) {
        flags.push(Flag::TooFast);
    }
    if resolved.click_flags.contains(&Flag::ClickFlood) {
        flags.push(Flag::ClickFlood);
    }
    if let Some(affiliate_email) = &affiliate.email {
        let customer_email = match (&new.customer_email, &new.keys.customer_id) {
            (Some(email), _) => Some(email.clone()),
            (None, Some(customer_id)) => customers::get(conn, customer_id, new.test)?.and_then(|c| c.email),
            (None, None) => None,
        };
        if customer_email.is_some_and(|email| fraud::same_person(&email, affiliate_email)) {
            flags.push(Flag::SelfReferral);
        }
    }
    let rejection = if affiliate.paused {
        Some("affiliate_paused")
    } else if offer.paused {
        Some("offer_paused")
    } else {
        None
    };
    let test = new.test || resolved.click_test;
    Ok(Ok(NewRow {
        new,
        resolved,
        price,
        flags,
        test,
        rejection,
        max_per_click: offer.max_conversions_per_click,
        referral_code: affiliate.referral_code,
        offer: offer.public_id,
    }))
}

/// The flags of a row as stored: those found while reading, and `click_reused` when its click
/// already led to as many conversions of its namespace as its offer allows (counted here, on
/// the writer, so concurrent conversions on one click cannot all slip under the limit; test
/// orders never flag a live one).
fn flags_of(conn: &Connection, row: &NewRow) -> Result<Vec<Flag>, Error> {
    let mut flags = row.flags.clone();
    if let (Some(limit), Some(click)) = (row.max_per_click, &row.resolved.click_id) {
        let earlier: i64 = conn
            .prepare_cached("SELECT count(*) FROM conversions WHERE click_id = ?1 AND test = ?3 AND external_id <> ?2")?
            .query_row(params![click, row.new.external_id, row.test], |r| r.get(0))?;
        if earlier >= limit {
            flags.push(Flag::ClickReused);
        }
    }
    Ok(flags)
}

/// Stores a prepared conversion. Must run on the writer. Refused (`unattributed`) when the click
/// or customer that attributed it is gone since it was prepared.
pub fn insert(conn: &Tx, row: &NewRow, now: i64) -> Result<Stored, WriteError> {
    let (new, resolved) = (&row.new, &row.resolved);
    let customer_row = tie_customer(conn, row, now)?;
    let flags = flags_of(conn, row)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO conversions (external_id, type, affiliate_id, offer_id, click_id, customer_id, coupon_code,
                                      attributed_by, source, currency, amount, base_commission, commission, status,
                                      created_at, updated_at, test, flags, rate_source, goal, geo, commission_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, 'pending', ?13, ?13, ?14, ?15, ?16, ?17,
                     ?18, ?19)
             ON CONFLICT (external_id, test) DO NOTHING",
        )?
        .execute(params![
            new.external_id,
            new.kind,
            resolved.affiliate_id,
            resolved.offer_id,
            resolved.click_id,
            customer_row,
            coupon_of(row),
            resolved.key.as_str(),
            new.source.as_str(),
            row.price.currency.code(),
            row.price.amount,
            row.price.commission,
            now,
            row.test,
            Flag::join(&flags),
            row.price.rate_source.as_str(),
            new.details.goal,
            new.details.geo,
            new.details.commission_id
        ])
        .map_err(vanished_click)?;
    if inserted == 0 {
        let stored = by_external_id(conn, &new.external_id, row.test)?
            .ok_or_else(|| Error::internal("conflicting conversion is missing"))?;
        if replaces(&stored, new.source) {
            return super::takeover::replace(conn, stored, row, customer_row, &flags, now);
        }
        return Ok(Stored::Duplicate(stored));
    }
    let created = as_stored(conn, row, conn.last_insert_rowid(), &flags, now)?;
    let event = NewEvent {
        conversion_id: created.id,
        actor: &new.actor,
        action: Change::Created,
        from: None,
        to: Status::Pending,
        amount_delta: created.amount,
        commission_delta: created.commission,
        reason: row.price.note.as_deref(),
        refund_id: None,
    };
    events::record(conn, &event, now)?;
    reports::count_change(conn, None, &created)?;
    ledger::created(conn, &created, now)?;
    deliveries::enqueue(conn, &created, Change::Created, Status::Pending, now)?;
    webhooks::announce(conn, &created, Event::ConversionCreated, now)?;
    Ok(Stored::Created(reject_if_paused(conn, created, row, now)?))
}

/// The conversion `insert` just stored as row `id`, as [`super::get`] would read it back: made
/// from the values it was stored with, which spares the writer a four-table join per
/// conversion. A customer's ID is read back (the row may name the customer by their e-mail).
fn as_stored(conn: &Tx, row: &NewRow, id: i64, flags: &[Flag], now: i64) -> Result<Conversion, Error> {
    let (new, resolved) = (&row.new, &row.resolved);
    if resolved.customer_row.is_some() || new.keys.customer_id.is_some() {
        return require(conn, id);
    }
    Ok(Conversion {
        id,
        external_id: new.external_id.clone(),
        kind: new.kind.clone(),
        affiliate_id: resolved.affiliate_id,
        referral_code: row.referral_code.clone(),
        offer: row.offer.clone(),
        click_id: resolved.click_id.clone(),
        customer_id: None,
        coupon: coupon_of(row),
        attributed_by: resolved.key,
        source: new.source,
        currency: row.price.currency,
        amount: row.price.amount,
        refunded_amount: 0,
        base_commission: row.price.commission,
        commission: row.price.commission,
        status: Status::Pending,
        created_at: now,
        updated_at: now,
        test: row.test,
        // As stored: sorted, once each.
        flags: Flag::split(Flag::join(flags).as_deref()).unwrap_or_default(),
        rate_source: row.price.rate_source,
        details: new.details.clone(),
    })
}

/// A customer named on an order attributed another way is tied to that affiliate, so their
/// later orders earn recurring commission. An existing tie is left as it is.
fn tie_customer(conn: &Tx, row: &NewRow, now: i64) -> Result<Option<i64>, Error> {
    Ok(match (row.resolved.customer_row, row.new.keys.customer_id.as_deref()) {
        (Some(existing), _) => Some(existing),
        (None, Some(customer_id)) => {
            Some(customers::insert_tie(conn, customer_id, &row.resolved, None, None, row.test, now)?)
        }
        (None, None) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::attribution::Keys;
    use crate::tracking::conversion::{RefundAmount, Source};

    #[test]
    fn a_click_swept_between_reading_and_writing_is_an_invalid_click() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::run(&conn).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
        let now = 1_000_000;
        let id = crate::store::clicks::new_id(now);
        let click = crate::store::clicks::NewClick { affiliate_id: 1, offer_id: 1, ..Default::default() };
        crate::store::clicks::insert(&Tx::within(&conn), &id, &click, now).unwrap();
        let new = NewConversion {
            external_id: "o-1".into(),
            kind: "sale".into(),
            amount: Some("10".into()),
            currency: None,
            keys: Keys { click_id: Some(id.clone()), ..Keys::default() },
            source: Source::Api,
            actor: "test".into(),
            test: false,
            customer_email: None,
            details: Default::default(),
            type_rate_only: false,
        };
        let Prepared::Row(row) = prepare(&conn, new, &Default::default(), now).unwrap() else { panic!("not priced") };
        assert_eq!(row.price.commission, 100);
        conn.execute("DELETE FROM clicks WHERE id = ?1", [&id]).unwrap();
        let err = insert(&Tx::within(&conn), &row, now).unwrap_err();
        assert_eq!(err.code, "invalid_click_id");
        let stored: i64 = conn.query_row("SELECT count(*) FROM conversions", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, 0);
    }

    /// What `insert` answers for a new conversion (and hands to the events, the ledger, the
    /// outboxes and the answer) is the row as it was stored, field by field, whichever key
    /// attributed it, with flags, details, test data and a customer tied on the way.
    #[test]
    fn a_created_conversion_is_answered_as_it_is_stored() {
        use crate::tracking::conversion::Details;
        let conn = crate::store::testing::memory();
        conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
        conn.execute("INSERT INTO coupons (code, affiliate_id, created_at) VALUES ('ANN', 1, 0)", []).unwrap();
        let now = 1_000_000;
        let click = crate::store::clicks::new_id(now - 10);
        let new_click = crate::store::clicks::NewClick { affiliate_id: 1, offer_id: 1, ..Default::default() };
        crate::store::clicks::insert(&Tx::within(&conn), &click, &new_click, now - 10).unwrap();
        let sale = |id: &str, keys: Keys| NewConversion {
            keys,
            ..crate::store::testing::sale(id, "ann", "12.34", "EUR", Source::Api)
        };
        let by_code = Keys { referral_code: Some("ann".into()), ..Keys::default() };
        let reports = [
            sale("o-1", by_code.clone()),
            NewConversion {
                kind: "lead".into(),
                source: Source::Postback,
                details: Details {
                    goal: Some("g-7".into()),
                    geo: Some("DE".into()),
                    commission_id: Some("c-1".into()),
                },
                ..sale("o-2", Keys { click_id: Some(click.clone()), ..Keys::default() })
            },
            NewConversion { test: true, ..sale("o-3", Keys { coupon: Some("ANN".into()), ..Keys::default() }) },
            sale("o-4", Keys { coupon: Some("ann".into()), click_id: Some(click), ..Keys::default() }),
            sale("o-5", Keys { customer_id: Some("cus_1".into()), ..by_code }),
        ];
        for new in reports {
            let Prepared::Row(row) = prepare(&conn, new, &Default::default(), now).unwrap() else {
                panic!("not priced")
            };
            let Stored::Created(created) = insert(&Tx::within(&conn), &row, now).unwrap() else {
                panic!("not created")
            };
            assert_eq!(Some(&created), super::super::get(&conn, created.id).unwrap().as_ref());
        }
        let flagged: String =
            conn.query_row("SELECT flags FROM conversions WHERE external_id = 'o-2'", [], |r| r.get(0)).unwrap();
        assert_eq!(flagged, "too_fast", "a flag is compared too");
    }

    /// What a shop's hook logs depends on the kind of a refusal, which each layer states by its
    /// type: nothing naming an affiliate (or a key that names none) is `Unattributed`, a wrong
    /// or unpriceable report `Rejected`, and a failure of the store is neither.
    #[test]
    fn every_refusal_says_its_kind_and_a_store_failure_is_not_one() {
        use crate::store::WriteError;
        use crate::tracking::conversion::Reason;
        let conn = crate::store::testing::memory();
        conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
        let now = 1_000_000;
        let report = |keys: Keys| NewConversion {
            keys,
            ..crate::store::testing::sale("o-1", "ann", "10", "USD", Source::Stripe)
        };
        let refused = |new: NewConversion| match prepare(&conn, new, &Default::default(), now).unwrap() {
            Prepared::Refused(refusal) => (refusal.reason, refusal.code.to_string()),
            _ => panic!("not refused"),
        };
        assert_eq!(report(Keys::default()).check().unwrap_err().reason, Reason::Unattributed);
        let bad_id = NewConversion { external_id: " ".into(), ..report(Keys::default()) };
        assert_eq!(bad_id.check().unwrap_err().reason, Reason::Rejected, "the first problem found");
        let coupon = Keys { coupon: Some("NONE".into()), ..Keys::default() };
        assert_eq!(refused(report(coupon)), (Reason::Unattributed, "invalid_coupon".into()));
        let click = Keys { click_id: Some("nope".into()), ..Keys::default() };
        assert_eq!(refused(report(click)), (Reason::Unattributed, "invalid_click_id".into()));
        let customer = Keys { customer_id: Some("cus_x".into()), ..Keys::default() };
        assert_eq!(refused(report(customer)), (Reason::Unattributed, "invalid_customer".into()));
        let unpriced = NewConversion {
            amount: Some("1.234".into()),
            ..report(Keys { referral_code: Some("ann".into()), ..Keys::default() })
        };
        assert_eq!(refused(unpriced).0, Reason::Rejected);
        conn.execute_batch("UPDATE offers SET is_default = 0").unwrap();
        conn.execute("INSERT INTO coupons (code, affiliate_id, created_at) VALUES ('ANN', 1, 0)", []).unwrap();
        let no_offer = Keys { coupon: Some("ANN".into()), ..Keys::default() };
        assert_eq!(refused(report(no_offer)), (Reason::Rejected, "no_offer".into()), "the catalog, not attribution");
        // On the writer: a refund of an unknown conversion is refused; a broken table is a failure.
        let all = crate::tracking::conversion::RefundRequest { amount: RefundAmount::All, refund_id: None };
        let unknown = super::super::refund(&Tx::within(&conn), 99, &all, "test", now).unwrap_err();
        assert!(matches!(&unknown, WriteError::Refused(r) if r.reason == Reason::Rejected), "{unknown:?}");
        conn.execute_batch("UPDATE offers SET is_default = 1; DROP TABLE conversion_events").unwrap();
        let row = match prepare(
            &conn,
            report(Keys { referral_code: Some("ann".into()), ..Keys::default() }),
            &Default::default(),
            now,
        ) {
            Ok(Prepared::Row(row)) => row,
            _ => panic!("not prepared"),
        };
        assert!(matches!(insert(&Tx::within(&conn), &row, now), Err(WriteError::Failed(_))));
    }
}
