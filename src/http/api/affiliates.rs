//! `/api/v1/affiliates`.

use crate::error::Error;
use crate::http::json::Body;
use crate::http::response::Response;
use crate::http::{Ctx, Req, views};
use crate::store::affiliates::{self, NewAffiliate};
use crate::tracking::{link, validate};

/// Macros an affiliate's postback URL may use.
pub const POSTBACK_MACROS: &[&str] = &[
    "click_id",
    "external_id",
    "amount",
    "commission",
    "currency",
    "status",
    "conversion_id",
    "offer",
    "sub1",
    "sub2",
    "sub3",
    "sub4",
    "sub5",
    "event",
];

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body)?;
    let referral_code = body.required_str("referral_code")?;
    validate::code(referral_code).map_err(|e| Error::invalid("referral_code", e))?;
    let name = body.required_str("name")?;
    validate::name(name).map_err(|e| Error::invalid("name", e))?;
    let email = body.str("email")?;
    if let Some(email) = email {
        validate::email(email).map_err(|e| Error::invalid("email", e))?;
    }
    let postback_url = body.str("postback_url")?;
    if let Some(url) = postback_url {
        link::check_template(url, POSTBACK_MACROS).map_err(|e| Error::invalid("postback_url", e))?;
    }
    let new = NewAffiliate {
        referral_code: referral_code.to_string(),
        name: name.to_string(),
        email: email.map(String::from),
        postback_url: postback_url.map(String::from),
    };
    let now = crate::clock::now_ms();
    let affiliate = ctx.writer.run(move |conn| affiliates::create(conn, &new, now))?;
    Ok(Response::json(201, &views::affiliate(&affiliate, &ctx.config.public_url)))
}

pub fn list(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let after = super::cursor(req)?.unwrap_or(0);
    let rows = affiliates::list(&ctx.db, after, limit)?;
    let next = (rows.len() == limit).then(|| rows.last().map(|a| a.id.to_string())).flatten();
    let data = rows.iter().map(|a| views::affiliate(a, &ctx.config.public_url)).collect();
    Ok(Response::json(200, &views::page(data, next)))
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let code = req.param(0);
    let affiliate = affiliates::by_code(&ctx.db, code)?.ok_or_else(|| affiliates::unknown(code))?;
    Ok(Response::json(200, &views::affiliate(&affiliate, &ctx.config.public_url)))
}
