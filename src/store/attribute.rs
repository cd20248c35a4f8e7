//! Resolving a conversion's (or customer's) attribution keys to an affiliate and an offer, inside
//! the writing transaction. The order of the keys and the window rules come from
//! `tracking::attribution`; this file only looks things up.

use rusqlite::Connection;

use super::clicks::AttributableClick;
use super::{clicks, coupons, customers, offers};
use crate::error::Error;
use crate::tracking::attribution::{self, Key, SessionClick};

/// The keys a caller supplied. Empty strings are treated like absent keys by the HTTP layer.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    pub click_id: Option<String>,
    pub coupon: Option<String>,
    pub customer_id: Option<String>,
    pub session_id: Option<String>,
}

impl Keys {
    pub fn is_empty(&self) -> bool {
        self.click_id.is_none() && self.coupon.is_none() && self.customer_id.is_none() && self.session_id.is_none()
    }
}

/// Who gets the credit, and through what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub key: Key,
    pub affiliate_id: i64,
    pub offer_id: i64,
    pub click_id: Option<String>,
    pub coupon_code: Option<String>,
    /// The customers row when the customer key attributed it.
    pub customer_row: Option<i64>,
}

/// Tries the keys in precedence order; the first that resolves wins. When none does, the error
/// of the first key given is returned (or `missing_attribution` when none was given).
pub fn resolve(conn: &Connection, keys: &Keys, now: i64) -> Result<Resolved, Error> {
    let mut first_error = None;
    for key in Key::PRECEDENCE {
        let attempt = match key {
            Key::Click => keys.click_id.as_deref().map(|id| by_click(conn, id, now)),
            Key::Coupon => keys.coupon.as_deref().map(|code| by_coupon(conn, code)),
            Key::Customer => keys.customer_id.as_deref().map(|id| by_customer(conn, id)),
            Key::Session => keys.session_id.as_deref().map(|id| by_session(conn, id, now)),
            Key::Affiliate => None,
        };
        match attempt {
            None => continue,
            Some(Ok(resolved)) => return Ok(resolved),
            Some(Err(e)) if e.status >= 500 => return Err(e),
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| {
        Error::bad_request(
            "missing_attribution",
            "send one of click_id, coupon, customer_id or session_id so the conversion can be attributed",
        )
    }))
}

fn by_click(conn: &Connection, id: &str, now: i64) -> Result<Resolved, Error> {
    let click = clicks::attributable(conn, id)?.ok_or_else(|| {
        Error::bad_request(
            "invalid_click_id",
            format!("no click has id `{id}` (unknown, erased or expired by retention)"),
        )
    })?;
    if !attribution::within_window(click.created_at, now, click.window_days) {
        return Err(Error::bad_request(
            "expired_click_id",
            format!("click `{id}` is older than its offer's {}-day window", click.window_days),
        ));
    }
    Ok(Resolved {
        key: Key::Click,
        affiliate_id: click.affiliate_id,
        offer_id: click.offer_id,
        click_id: Some(click.id),
        coupon_code: None,
        customer_row: None,
    })
}

fn by_coupon(conn: &Connection, code: &str) -> Result<Resolved, Error> {
    let coupon = coupons::get(conn, code)?
        .ok_or_else(|| Error::bad_request("invalid_coupon", format!("no coupon has code `{code}`")))?;
    let offer_id = match coupon.offer_id {
        Some(id) => id,
        None => offers::named_or_default(conn, None)?.id,
    };
    Ok(Resolved {
        key: Key::Coupon,
        affiliate_id: coupon.affiliate_id,
        offer_id,
        click_id: None,
        coupon_code: Some(coupon.code),
        customer_row: None,
    })
}

fn by_customer(conn: &Connection, customer_id: &str) -> Result<Resolved, Error> {
    let customer = customers::get(conn, customer_id)?.ok_or_else(|| {
        Error::bad_request(
            "invalid_customer",
            format!("no customer has id `{customer_id}`; create it with POST /api/v1/customers"),
        )
    })?;
    Ok(Resolved {
        key: Key::Customer,
        affiliate_id: customer.affiliate_id,
        offer_id: customer.offer_id,
        click_id: None,
        coupon_code: None,
        customer_row: Some(customer.id),
    })
}

fn by_session(conn: &Connection, session_id: &str, now: i64) -> Result<Resolved, Error> {
    let click = match session_click(conn, session_id, now)? {
        SessionOutcome::Chosen(click) => click,
        SessionOutcome::NoClicks => {
            return Err(Error::bad_request(
                "invalid_session_id",
                format!("no click was recorded for session `{session_id}`"),
            ));
        }
        SessionOutcome::AllExpired => {
            return Err(Error::bad_request(
                "expired_click_id",
                format!("every click of session `{session_id}` is older than its offer's window"),
            ));
        }
    };
    Ok(Resolved {
        key: Key::Session,
        affiliate_id: click.affiliate_id,
        offer_id: click.offer_id,
        click_id: Some(click.id),
        coupon_code: None,
        customer_row: None,
    })
}

pub enum SessionOutcome {
    Chosen(AttributableClick),
    NoClicks,
    AllExpired,
}

/// The click of a session that gets the credit at `now`: the offer of the session's most recent
/// click decides between first and last click; clicks outside their window do not count.
pub fn session_click(conn: &Connection, session_id: &str, now: i64) -> Result<SessionOutcome, Error> {
    let mut clicks = clicks::of_session(conn, session_id)?;
    let Some(latest) = clicks.last() else { return Ok(SessionOutcome::NoClicks) };
    let model = latest.model;
    let candidates: Vec<SessionClick> =
        clicks.iter().map(|c| SessionClick { created_at: c.created_at, window_days: c.window_days }).collect();
    Ok(match attribution::choose_session_click(&candidates, model, now) {
        Some(i) => SessionOutcome::Chosen(clicks.swap_remove(i)),
        None => SessionOutcome::AllExpired,
    })
}
