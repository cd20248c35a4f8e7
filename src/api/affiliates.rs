//! `/api/v1/affiliates`, including their outbound postback settings.

use serde_json::json;

use crate::error::Error;
use crate::intake::{self, affiliates::Saved};
use crate::store::affiliates;
use crate::store::deliveries::TestPostback;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::json::Body;
use crate::web::{Ctx, input, views};

/// An affiliate as a change left it, with the postback signing secret it made (shown once).
fn saved(ctx: &Ctx, saved: Saved) -> serde_json::Value {
    let mut view = views::affiliate(&saved.affiliate, &ctx.config.public_url);
    if let Some(secret) = saved.postback_secret {
        view["postback_secret"] = secret.into();
    }
    view
}

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let new = input::new_affiliate(&Body::parse(&req.body, input::NEW_AFFILIATE_FIELDS)?)?;
    let created = intake::affiliates::create(&ctx.intake(), new)?;
    Ok(Response::json(201, &saved(ctx, created)))
}

/// `PATCH /api/v1/affiliates/{code}`: change name, email or postback URL (`null` clears the
/// last two).
pub fn update(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, input::AFFILIATE_FIELDS)?;
    let changes = input::affiliate_changes(&body)?;
    let updated = intake::affiliates::update(&ctx.intake(), req.param(0), changes)?;
    Ok(Response::json(200, &saved(ctx, updated)))
}

/// `POST /api/v1/affiliates/{code}/postback-secret`: a new signing secret, shown once.
pub fn rotate_secret(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    super::no_fields(req)?;
    let secret = intake::affiliates::rotate_postback_secret(&ctx.intake(), req.param(0))?;
    Ok(Response::json(200, &json!({"postback_secret": secret})))
}

/// `POST /api/v1/affiliates/{code}/postback-test`: queues a sample postback (event `test`) to the
/// affiliate's URL, so both sides can check the wiring and the signature.
pub fn test_postback(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    super::no_fields(req)?;
    Ok(match crate::intake::test_postback(&ctx.intake(), req.param(0))? {
        TestPostback::Queued(delivery) => Response::json(201, &views::delivery(&delivery)),
        TestPostback::TooMany { retry_after } => Response::error(&crate::intake::postback_test::too_many(retry_after))
            .with_header("Retry-After", retry_after.to_string()),
    })
}

/// `POST /api/v1/affiliates/{code}/invite`: a single-use link to the affiliate portal, valid for
/// 7 days: `201 {"invite_url", "expires_at", "emailed"}`. Revokes the affiliate's earlier
/// invites, resets their password and ends their portal sessions. With e-mail on and an address
/// on record, the link is also e-mailed to them (`emailed: true`).
pub fn invite(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    super::no_fields(req)?;
    let invite = intake::accounts::invite(&ctx.intake(), req.param(0))?;
    Ok(Response::json(
        201,
        &json!({
            "invite_url": invite.url,
            "expires_at": crate::clock::rfc3339(invite.expires_at),
            "emailed": invite.emailed_to.is_some(),
        }),
    ))
}

/// An affiliate as `req`'s key may read it (a test key: the catalog without personal data).
fn catalog_view(ctx: &Ctx, req: &Req, a: &affiliates::Affiliate) -> serde_json::Value {
    if req.test_key {
        views::affiliate_for_test_key(a, &ctx.config.public_url)
    } else {
        views::affiliate(a, &ctx.config.public_url)
    }
}

pub fn list(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let after = super::cursor(req)?.unwrap_or(0);
    let rows = affiliates::list(&ctx.db, after, limit)?;
    let next = views::next_cursor(&rows, limit, |a| a.id.to_string());
    let data = rows.iter().map(|a| catalog_view(ctx, req, a)).collect();
    Ok(Response::json(200, &views::page(data, next)))
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let code = req.param(0);
    let affiliate = affiliates::by_code(&ctx.db, code)?.ok_or_else(|| affiliates::unknown(code))?;
    Ok(Response::json(200, &catalog_view(ctx, req, &affiliate)))
}

/// `DELETE /api/v1/affiliates/{code}/personal-data`: erases the affiliate's e-mail, payout e-mail
/// and payout details (the name becomes the referral code); logged like every erasure, so it
/// survives restoring an older backup. Their conversions, ledger and payouts stay.
pub fn erase_personal_data(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    super::erase(ctx, crate::store::retention::Kind::Affiliate, req.param(0).to_string())
}
