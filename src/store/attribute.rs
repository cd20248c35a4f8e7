//! Resolving a conversion's (or customer's) attribution keys to an affiliate and an offer. The
//! order of the keys and the window rules come from `tracking::attribution`; this file only
//! looks things up. It runs on a worker's reader (conversions) or on the writer (customer ties).
//!
//! Results come in two layers: the outer `Result` is a failure of the database, the inner one
//! says whether the keys resolved, and if not, why (the refusal the caller answers with).

use rusqlite::Connection;

use super::clicks::AttributableClick;
use super::{affiliates, clicks, coupons, customers, offers};
use crate::error::Error;
use crate::tracking::attribution::{self, Key, Keys, Resolved, SessionClick};
use crate::tracking::conversion::{Refusal, missing_attribution};

/// Either resolved, or refused with the error the caller answers with: `unattributed` when
/// nothing the keys name leads to an affiliate, `rejected` when what they lead to cannot be
/// used (no offer to credit it under).
pub type Attribution = Result<Resolved, Refusal>;

/// Tries the keys in precedence order; the first that resolves wins. When none does, the
/// refusal of the first key given is returned (or `missing_attribution` when none was given).
///
/// `test` is the namespace of the report (test data or live). Identifiers the merchant
/// chooses, and so can be guessed (customer IDs, session IDs, a caller's own click ID), are
/// looked up in that namespace only: a test key can neither read a live customer's or session's
/// affiliate nor make a live order test data. The server's own click IDs are unguessable and
/// work across (a live report through a test click is test data). Coupons and affiliates are
/// the catalog, shared by both.
pub fn resolve(conn: &Connection, keys: &Keys, test: bool, now: i64) -> Result<Attribution, Error> {
    let mut first_refusal = None;
    for key in Key::PRECEDENCE {
        let attempt = match key {
            Key::Click => keys.click_id.as_deref().map(|id| by_click(conn, id, test, now)),
            Key::Affiliate => keys.referral_code.as_deref().map(|code| by_affiliate(conn, code, keys.offer.as_deref())),
            Key::Coupon => keys.coupon.as_deref().map(|code| by_coupon(conn, code)),
            Key::Customer => match (keys.customer_id.as_deref(), keys.customer_email()) {
                (Some(id), _) => Some(by_customer(conn, id, test)),
                (None, Some(email)) => Some(by_customer_email(conn, email, test)),
                (None, None) => None,
            },
            Key::Session => keys.session_id.as_deref().map(|id| by_session(conn, id, test, now)),
        };
        match attempt.transpose()? {
            None => continue,
            Some(Ok(resolved)) => return Ok(Ok(resolved)),
            Some(Err(refusal)) => {
                first_refusal.get_or_insert(refusal);
            }
        }
    }
    Ok(Err(first_refusal.unwrap_or_else(|| Refusal::unattributed(missing_attribution()))))
}

fn resolved(key: Key, affiliate_id: i64, offer_id: i64) -> Resolved {
    Resolved {
        key,
        affiliate_id,
        offer_id,
        click_id: None,
        coupon_code: None,
        customer_row: None,
        clicked_at: None,
        click_test: false,
        click_flags: Vec::new(),
        tied_at: None,
    }
}

/// Attributed by `click` (directly or through its session).
fn by_a_click(key: Key, click: AttributableClick) -> Resolved {
    Resolved {
        clicked_at: Some(click.created_at),
        click_test: click.test,
        click_flags: click.flags,
        click_id: Some(click.id),
        ..resolved(key, click.affiliate_id, click.offer_id)
    }
}

fn by_click(conn: &Connection, id: &str, test: bool, now: i64) -> Result<Attribution, Error> {
    let Some(click) = clicks::attributable(conn, id, test)? else {
        return Ok(Err(Refusal::unattributed(Error::bad_request(
            "invalid_click_id",
            format!("no click has id `{id}` (unknown, erased or expired by retention)"),
        ))));
    };
    if !attribution::within_window(click.created_at, now, click.window_days) {
        return Ok(Err(Refusal::unattributed(Error::bad_request(
            "expired_click_id",
            format!("click `{id}` is older than its offer's {}-day window", click.window_days),
        ))));
    }
    Ok(Ok(by_a_click(Key::Click, click)))
}

/// A report naming the affiliate itself (partner-id postbacks), under the offer it names or the
/// default one.
fn by_affiliate(conn: &Connection, referral_code: &str, offer: Option<&str>) -> Result<Attribution, Error> {
    let Some(affiliate) = affiliates::by_code(conn, referral_code)? else {
        return Ok(Err(Refusal::unattributed(affiliates::unknown(referral_code))));
    };
    Ok(offers::find_id(conn, offer)?
        .map(|offer_id| resolved(Key::Affiliate, affiliate.id, offer_id))
        .map_err(Refusal::rejected))
}

fn by_coupon(conn: &Connection, code: &str) -> Result<Attribution, Error> {
    let Some(coupon) = coupons::get(conn, code)?.filter(|c| c.active) else {
        return Ok(Err(Refusal::unattributed(Error::bad_request(
            "invalid_coupon",
            format!("no active coupon has code `{code}`"),
        ))));
    };
    let offer_id = match coupon.offer_id {
        Some(id) => id,
        None => match offers::find_id(conn, None)? {
            Ok(offer_id) => offer_id,
            Err(refusal) => return Ok(Err(Refusal::rejected(refusal))),
        },
    };
    Ok(Ok(Resolved { coupon_code: Some(coupon.code), ..resolved(Key::Coupon, coupon.affiliate_id, offer_id) }))
}

fn by_customer(conn: &Connection, customer_id: &str, test: bool) -> Result<Attribution, Error> {
    let Some(customer) = customers::get(conn, customer_id, test)? else {
        return Ok(Err(Refusal::unattributed(Error::bad_request(
            "invalid_customer",
            format!("no customer has id `{customer_id}`; create it with POST /api/v1/customers"),
        ))));
    };
    Ok(Ok(by_a_customer(customer)))
}

/// The customer who registered last with `email` (ignoring case) in namespace `test`.
fn by_customer_email(conn: &Connection, email: &str, test: bool) -> Result<Attribution, Error> {
    let Some(customer) = customers::by_email(conn, email, test)? else {
        return Ok(Err(Refusal::unattributed(Error::bad_request(
            "missing_attribution",
            "no customer registered with this e-mail; send a click or session ID, or register the customer first",
        ))));
    };
    Ok(Ok(by_a_customer(customer)))
}

fn by_a_customer(customer: customers::Customer) -> Resolved {
    Resolved {
        customer_row: Some(customer.id),
        tied_at: Some(customer.created_at),
        ..resolved(Key::Customer, customer.affiliate_id, customer.offer_id)
    }
}

fn by_session(conn: &Connection, session_id: &str, test: bool, now: i64) -> Result<Attribution, Error> {
    let click = match session_click(conn, session_id, test, now)? {
        SessionOutcome::Chosen(click) => click,
        SessionOutcome::NoClicks => {
            return Ok(Err(Refusal::unattributed(Error::bad_request(
                "invalid_session_id",
                format!("no click was recorded for session `{session_id}`"),
            ))));
        }
        SessionOutcome::AllExpired => {
            return Ok(Err(Refusal::unattributed(Error::bad_request(
                "expired_click_id",
                format!("every click of session `{session_id}` is older than its offer's window"),
            ))));
        }
    };
    Ok(Ok(by_a_click(Key::Session, click)))
}

pub enum SessionOutcome {
    Chosen(AttributableClick),
    NoClicks,
    AllExpired,
}

/// The click of a session that gets the credit at `now`, among the clicks of namespace `test`:
/// the offer of the session's most recent click decides between first and last click; clicks
/// outside their window do not count.
pub fn session_click(conn: &Connection, session_id: &str, test: bool, now: i64) -> Result<SessionOutcome, Error> {
    let mut clicks = clicks::of_session(conn, session_id, test)?;
    let Some(latest) = clicks.last() else { return Ok(SessionOutcome::NoClicks) };
    let model = latest.model;
    let candidates: Vec<SessionClick> =
        clicks.iter().map(|c| SessionClick { created_at: c.created_at, window_days: c.window_days }).collect();
    Ok(match attribution::choose_session_click(&candidates, model, now) {
        Some(i) => SessionOutcome::Chosen(clicks.swap_remove(i)),
        None => SessionOutcome::AllExpired,
    })
}
