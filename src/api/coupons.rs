//! `/api/v1/coupons`.

use crate::error::Error;
use crate::intake::{self, coupons::Owner};
use crate::store::coupons;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::json::Body;
use crate::web::{Ctx, views};

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, &["code", "referral_code", "offer"])?;
    let code = body.required_str("code")?;
    let owner = Owner {
        referral_code: body.required_str("referral_code")?.to_string(),
        offer: body.str("offer")?.map(String::from),
    };
    let coupon = intake::coupons::create(&ctx.intake(), code, owner)?;
    Ok(Response::json(201, &views::coupon(&coupon)))
}

/// `PATCH /api/v1/coupons/{code}` `{active?, referral_code?, offer?}`: switch a coupon off (it
/// then attributes nothing) or on, or move it to another affiliate or offer.
pub fn update(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, &["active", "referral_code", "offer"])?;
    let coupon = coupons::get(&ctx.db, req.param(0))?.ok_or_else(|| coupons::not_found(req.param(0)))?;
    let active = body.bool("active")?.unwrap_or(coupon.active);
    let owner = Owner {
        referral_code: body.str("referral_code")?.unwrap_or(&coupon.referral_code).to_string(),
        offer: if body.has("offer") { body.str("offer")?.map(String::from) } else { coupon.offer_public_id.clone() },
    };
    let updated = intake::coupons::update(&ctx.intake(), &coupon.code, owner, active)?;
    Ok(Response::json(200, &views::coupon(&updated)))
}

/// `DELETE /api/v1/coupons/{code}`: the code attributes nothing from now on (204); conversions
/// it credited keep it.
pub fn delete(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    intake::coupons::delete(&ctx.intake(), req.param(0))?;
    Ok(Response::empty(204))
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
