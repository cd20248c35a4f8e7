//! `/api/v1/affiliates`, including their outbound postback settings.

use serde_json::json;

use crate::error::Error;
use crate::http::json::Body;
use crate::http::response::Response;
use crate::http::{Ctx, Req, views};
use crate::store::affiliates::{self, Changes, NewAffiliate};
use crate::store::deliveries::{self, MacroValues};
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

fn postback_url(body: &Body) -> Result<Option<&str>, Error> {
    let url = body.str("postback_url")?;
    if let Some(url) = url {
        link::check_template(url, POSTBACK_MACROS).map_err(|e| Error::invalid("postback_url", e))?;
    }
    Ok(url)
}

fn with_secret(mut view: serde_json::Value, secret: Option<String>) -> serde_json::Value {
    if let Some(secret) = secret {
        view["postback_secret"] = secret.into();
    }
    view
}

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
    let new = NewAffiliate {
        referral_code: referral_code.to_string(),
        name: name.to_string(),
        email: email.map(String::from),
        postback_url: postback_url(&body)?.map(String::from),
    };
    let now = crate::clock::now_ms();
    let (affiliate, secret) = ctx.writer.run(move |conn| affiliates::create(conn, &new, now))?;
    Ok(Response::json(201, &with_secret(views::affiliate(&affiliate, &ctx.config.public_url), secret)))
}

/// `PATCH /api/v1/affiliates/{code}`: change name, email or postback URL (`null` clears the
/// last two).
pub fn update(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body)?;
    let code = req.param(0).to_string();
    let mut changes = Changes::default();
    if let Some(name) = body.str("name")? {
        validate::name(name).map_err(|e| Error::invalid("name", e))?;
        changes.name = Some(name.to_string());
    }
    if body.has("email") {
        let email = body.str("email")?;
        if let Some(e) = email {
            validate::email(e).map_err(|m| Error::invalid("email", m))?;
        }
        changes.email = Some(email.map(String::from));
    }
    if body.has("postback_url") {
        changes.postback_url = Some(postback_url(&body)?.map(String::from));
    }
    let (affiliate, secret) = ctx.writer.run(move |conn| affiliates::update(conn, &code, &changes))?;
    Ok(Response::json(200, &with_secret(views::affiliate(&affiliate, &ctx.config.public_url), secret)))
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
    let delivery = ctx.writer.run(move |conn| {
        let affiliate = affiliates::by_code(conn, &code)?.ok_or_else(|| affiliates::unknown(&code))?;
        let template = affiliate.postback_url.ok_or_else(|| {
            Error::conflict(
                "no_postback_url",
                format!("affiliate `{code}` has no postback_url; set one with PATCH first"),
            )
        })?;
        let sample = MacroValues {
            click_id: "test-click-id",
            external_id: "test-order",
            amount: "100.00".into(),
            commission: "10.00".into(),
            currency: "USD",
            status: "pending",
            conversion_id: "0".into(),
            offer: "test",
            subs: ["sub1".into(), "sub2".into(), "sub3".into(), "sub4".into(), "sub5".into()],
            event: "test",
        };
        let id = deliveries::insert(conn, affiliate.id, None, "test", &sample.fill(&template), now)?;
        deliveries::get(conn, id)?.ok_or_else(|| Error::internal("delivery vanished"))
    })?;
    Ok(Response::json(201, &views::delivery(&delivery)))
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
