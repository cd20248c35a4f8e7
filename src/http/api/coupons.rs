//! `/api/v1/coupons`.

use crate::error::Error;
use crate::http::json::Body;
use crate::http::response::Response;
use crate::http::{Ctx, Req, views};
use crate::store::coupons::Coupon;
use crate::store::{affiliates, coupons, offers};
use crate::tracking::validate;

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body)?;
    let code = body.required_str("code")?.to_string();
    validate::code(&code).map_err(|e| Error::invalid("code", e))?;
    let referral_code = body.required_str("referral_code")?.to_string();
    let offer = body.str("offer")?.map(String::from);
    let now = crate::clock::now_ms();
    let coupon = ctx.writer.run(move |conn| create_in(conn, &code, &referral_code, offer.as_deref(), now))?;
    Ok(Response::json(201, &views::coupon(&coupon)))
}

/// Stores a coupon for the affiliate with `referral_code`, paying under `offer` (or the default
/// offer at conversion time). Runs on the writer.
pub fn create_in(
    conn: &rusqlite::Connection,
    code: &str,
    referral_code: &str,
    offer: Option<&str>,
    now: i64,
) -> Result<Coupon, Error> {
    let (affiliate_id, offer_id) = owners(conn, referral_code, offer)?;
    coupons::create(conn, code, affiliate_id, offer_id, now)
}

/// The affiliate and offer rows a coupon points to.
pub fn owners(
    conn: &rusqlite::Connection,
    referral_code: &str,
    offer: Option<&str>,
) -> Result<(i64, Option<i64>), Error> {
    let affiliate_id = affiliates::require_id(conn, referral_code)?;
    let offer_id = match offer {
        Some(id) => Some(offers::named_or_default(conn, Some(id))?.id),
        None => None,
    };
    Ok((affiliate_id, offer_id))
}

pub fn list(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let after = req.query("cursor").unwrap_or("");
    let rows = coupons::list(&ctx.db, after, limit)?;
    let next = views::next_cursor(&rows, limit, |c| c.code.clone());
    Ok(Response::json(200, &views::page(rows.iter().map(views::coupon).collect(), next)))
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let code = req.param(0);
    let coupon = coupons::get(&ctx.db, code)?
        .ok_or_else(|| Error::not_found("not_found", format!("no coupon has code `{code}`")))?;
    Ok(Response::json(200, &views::coupon(&coupon)))
}
