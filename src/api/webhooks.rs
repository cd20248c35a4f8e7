//! `/api/v1/webhooks`: the merchant's own endpoints that are sent signed events (Standard
//! Webhooks), their deliveries, a test event and a manual retry.

use crate::error::Error;
use crate::intake;
use crate::store::webhooks::{self, Created};
use crate::store::{webhook_deliveries, webhooks::Webhook};
use crate::tracking::webhook::NewWebhook;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::json::Body;
use crate::web::{Ctx, views};

/// `POST /api/v1/webhooks` `{"url", "events"}`: 201 with the signing `secret`, shown only here.
/// A live webhook with the same URL answers 409 `duplicate_url` with it (without its secret).
pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, &["url", "events"])?;
    let url = body.required_str("url")?;
    let new = NewWebhook::read(url, body.strings("events")?)?;
    match intake::webhooks::create(&ctx.intake(), new)? {
        Created::New(hook, secret) => {
            let mut view = views::webhook(&hook);
            view["secret"] = secret.into();
            Ok(Response::json(201, &view))
        }
        Created::Duplicate(existing) => Err(Error::conflict(
            "duplicate_url",
            "a webhook with this URL exists already; its secret was shown when it was created (delete it to start over)",
        )
        .with_extra("webhook", views::webhook(&existing))),
    }
}

pub fn list(ctx: &mut Ctx, _req: &Req) -> Result<Response, Error> {
    let rows = webhooks::list(&ctx.db)?;
    Ok(Response::json(200, &views::page(rows.iter().map(views::webhook).collect(), None)))
}

/// The webhook named by the path's first parameter, if it is live.
fn find(ctx: &Ctx, req: &Req) -> Result<Webhook, Error> {
    let id = req.id(0, webhooks::not_found)?;
    webhooks::get(&ctx.db, id)?.ok_or_else(|| webhooks::not_found(id))
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    Ok(Response::json(200, &views::webhook(&find(ctx, req)?)))
}

/// `DELETE /api/v1/webhooks/{id}`: 204; its pending deliveries are given up.
pub fn delete(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    intake::webhooks::delete(&ctx.intake(), req.id(0, webhooks::not_found)?)?;
    Ok(Response::empty(204))
}

/// `POST /api/v1/webhooks/{id}/test`: queues a `webhook.test` event to it (201, the delivery).
pub fn test(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    super::no_fields(req)?;
    let delivery = intake::webhooks::test(&ctx.intake(), req.id(0, webhooks::not_found)?)?;
    Ok(Response::json(201, &views::webhook_delivery(&delivery)))
}

/// `GET /api/v1/webhooks/{id}/deliveries`: newest first, `?status=` and cursor pages.
pub fn deliveries(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let hook = find(ctx, req)?;
    let limit = super::limit(req)?;
    let status = super::delivery_status(req)?;
    let rows = webhook_deliveries::list(&ctx.db, hook.id, status, super::cursor(req)?, limit)?;
    let next = views::next_cursor(&rows, limit, |d| d.id.to_string());
    Ok(Response::json(200, &views::page(rows.iter().map(views::webhook_delivery).collect(), next)))
}

/// `POST /api/v1/webhooks/deliveries/{id}/retry`: sends a delivery again now, with the same
/// `webhook-id`, a fresh budget of attempts and a new signature.
pub fn retry(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    super::no_fields(req)?;
    let delivery = intake::webhooks::retry_delivery(&ctx.intake(), req.id(0, webhook_deliveries::not_found)?)?;
    Ok(Response::json(200, &views::webhook_delivery(&delivery)))
}
