//! `/api/v1/coupons`.

use crate::error::Error;
use crate::http::json::Body;
use crate::http::response::Response;
use crate::http::{Ctx, Req, views};
use crate::store::coupons;
use crate::tracking::validate;

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, &["code", "referral_code", "offer"])?;
    let code = body.required_str("code")?.to_string();
    validate::code(&code).map_err(|e| Error::invalid("code", e))?;
    let referral_code = body.required_str("referral_code")?.to_string();
    let offer = body.str("offer")?.map(String::from);
    let now = crate::clock::now_ms();
    let coupon = ctx.writer.run(move |conn| coupons::create_for(conn, &code, &referral_code, offer.as_deref(), now))?;
    Ok(Response::json(201, &views::coupon(&coupon)))
}

/// `PATCH /api/v1/coupons/{code}` `{active?, referral_code?, offer?}`: switch a coupon off (it
/// then attributes nothing) or on, or move it to another affiliate or offer.
pub fn update(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, &["active", "referral_code", "offer"])?;
    let coupon = coupons::get(&ctx.db, req.param(0))?.ok_or_else(|| coupons::not_found(req.param(0)))?;
    let active = body.bool("active")?.unwrap_or(coupon.active);
    let referral_code = body.str("referral_code")?.unwrap_or(&coupon.referral_code).to_string();
    let offer = if body.has("offer") { body.str("offer")?.map(String::from) } else { coupon.offer_public_id.clone() };
    let code = coupon.code.clone();
    let updated = ctx.writer.run(move |conn| {
        let (affiliate_id, offer_id) = coupons::owners(conn, &referral_code, offer.as_deref())?;
        coupons::update(conn, &code, affiliate_id, offer_id, active)
    })?;
    Ok(Response::json(200, &views::coupon(&updated)))
}

/// `DELETE /api/v1/coupons/{code}`: the code attributes nothing from now on (204); conversions
/// it credited keep it.
pub fn delete(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let code = req.param(0).to_string();
    let shown = code.clone();
    if ctx.writer.run(move |conn| coupons::delete(conn, &code))? {
        Ok(Response::empty(204))
    } else {
        Err(coupons::not_found(&shown))
    }
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
