//! `/api/v1/affiliates`, including their outbound postback settings.

use serde_json::json;

use crate::error::Error;
use crate::http::json::{Body, Fields};
use crate::http::response::Response;
use crate::http::{Ctx, Req, views};
use crate::store::affiliates::{self, Changes, NewAffiliate};
use crate::store::deliveries;
use crate::tracking::{outbound, validate};

fn postback_url(body: &impl Fields) -> Result<Option<&str>, Error> {
    let url = body.text("postback_url")?;
    if let Some(url) = url {
        check_postback_url(url)?;
    }
    Ok(url)
}

/// A postback URL template may use only `tracking::outbound::POSTBACK_MACROS`.
pub fn check_postback_url(url: &str) -> Result<(), Error> {
    outbound::check_template(url).map_err(|e| Error::invalid("postback_url", e))
}

fn with_secret(mut view: serde_json::Value, secret: Option<String>) -> serde_json::Value {
    if let Some(secret) = secret {
        view["postback_secret"] = secret.into();
    }
    view
}

/// Reads and validates a new affiliate (API body or admin form).
pub fn new_affiliate(fields: &impl Fields) -> Result<NewAffiliate, Error> {
    let referral_code = fields.required_text("referral_code")?;
    validate::code(referral_code).map_err(|e| Error::invalid("referral_code", e))?;
    let name = fields.required_text("name")?;
    validate::name(name).map_err(|e| Error::invalid("name", e))?;
    let email = fields.text("email")?;
    if let Some(email) = email {
        validate::email(email).map_err(|e| Error::invalid("email", e))?;
    }
    Ok(NewAffiliate {
        referral_code: referral_code.to_string(),
        name: name.to_string(),
        email: email.map(String::from),
        postback_url: postback_url(fields)?.map(String::from),
    })
}

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let new = new_affiliate(&Body::parse(&req.body)?)?;
    let now = crate::clock::now_ms();
    let (affiliate, secret) = ctx.writer.run(move |conn| affiliates::create(conn, &new, now))?;
    Ok(Response::json(201, &with_secret(views::affiliate(&affiliate, &ctx.config.public_url), secret)))
}

/// `PATCH /api/v1/affiliates/{code}`: change name, email or postback URL (`null` clears the
/// last two).
pub fn update(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let changes = changes(&Body::parse(&req.body)?)?;
    let code = req.param(0).to_string();
    let (affiliate, secret) = ctx.writer.run(move |conn| affiliates::update(conn, &code, &changes))?;
    Ok(Response::json(200, &with_secret(views::affiliate(&affiliate, &ctx.config.public_url), secret)))
}

/// Reads and validates changes to an affiliate (API body or admin form): a name replaces the
/// old one; email and postback URL change when sent, and an empty one clears them.
pub fn changes(fields: &impl Fields) -> Result<Changes, Error> {
    let mut changes = Changes::default();
    if let Some(name) = fields.text("name")? {
        validate::name(name).map_err(|e| Error::invalid("name", e))?;
        changes.name = Some(name.to_string());
    }
    if fields.has_field("email") {
        let email = fields.text("email")?;
        if let Some(e) = email {
            validate::email(e).map_err(|m| Error::invalid("email", m))?;
        }
        changes.email = Some(email.map(String::from));
    }
    if fields.has_field("postback_url") {
        changes.postback_url = Some(postback_url(fields)?.map(String::from));
    }
    Ok(changes)
}

/// `POST /api/v1/affiliates/{code}/postback-secret`: a new signing secret, shown once.
pub fn rotate_secret(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let code = req.param(0).to_string();
    let secret = ctx.writer.run(move |conn| {
        let id = affiliates::require_id(conn, &code)?;
        affiliates::rotate_postback_secret(conn, id)
    })?;
    Ok(Response::json(200, &json!({"postback_secret": secret})))
}

/// `POST /api/v1/affiliates/{code}/postback-test`: queues a sample postback (event `test`) to the
/// affiliate's URL, so both sides can check the wiring and the signature.
pub fn test_postback(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let code = req.param(0).to_string();
    let now = crate::clock::now_ms();
    let delivery = ctx.writer.run(move |conn| deliveries::queue_test(conn, &code, now))?;
    Ok(Response::json(201, &views::delivery(&delivery)))
}

pub fn list(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let after = super::cursor(req)?.unwrap_or(0);
    let rows = affiliates::list(&ctx.db, after, limit)?;
    let next = views::next_cursor(&rows, limit, |a| a.id.to_string());
    let data = rows.iter().map(|a| views::affiliate(a, &ctx.config.public_url)).collect();
    Ok(Response::json(200, &views::page(data, next)))
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let code = req.param(0);
    let affiliate = affiliates::by_code(&ctx.db, code)?.ok_or_else(|| affiliates::unknown(code))?;
    Ok(Response::json(200, &views::affiliate(&affiliate, &ctx.config.public_url)))
}
