//! `/api/v1/postback-url` and `/api/v1/postbacks`: the inbound postback token and log, and the
//! outbound deliveries to affiliates' trackers.

use serde_json::json;

use crate::error::Error;
use crate::http::response::Response;
use crate::http::{Ctx, Req, views};
use crate::store::{deliveries, postbacks};
use crate::tracking::postback;

fn url_answer(ctx: &Ctx, token: Option<String>) -> Result<Response, Error> {
    let token = token.ok_or_else(|| {
        Error::conflict(
            "postback_token_unavailable",
            "the postback token is not known to this server (its file is missing); rotate it to get a new one",
        )
    })?;
    Ok(Response::json(200, &json!({"url": postback::url_template(&ctx.config.public_url, &token), "token": token})))
}

pub fn get_url(ctx: &mut Ctx, _req: &Req) -> Result<Response, Error> {
    let token = postbacks::current(&ctx.db, &ctx.config.db, ctx.config.postback_token.as_deref())?;
    url_answer(ctx, token)
}

/// A new token; the previous one keeps working for a day.
pub fn rotate_url(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    super::no_fields(req)?;
    if ctx.config.postback_token.is_some() {
        return Err(Error::conflict(
            "postback_token_configured",
            "the postback token is set by AFFILIATED_POSTBACK_TOKEN; change it there and restart",
        ));
    }
    let db = ctx.config.db.clone();
    let now = crate::clock::now_ms();
    let token = ctx.writer.run(move |conn| postbacks::rotate(conn, &db, now))?;
    url_answer(ctx, Some(token))
}

pub fn received(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let outcome = req.query("outcome");
    if let Some(o) = outcome
        && !["created", "duplicate", "rejected", "failed"].contains(&o)
    {
        return Err(Error::invalid("outcome", "must be created, duplicate, rejected or failed"));
    }
    let rows = postbacks::list_received(&ctx.db, outcome, super::cursor(req)?, limit)?;
    let next = views::next_cursor(&rows, limit, |r| r.id.to_string());
    Ok(Response::json(200, &views::page(rows.iter().map(views::received).collect(), next)))
}

pub fn list(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let status = super::delivery_status(req)?;
    let rows = deliveries::list(&ctx.db, status, super::cursor(req)?, limit)?;
    let next = views::next_cursor(&rows, limit, |d| d.id.to_string());
    Ok(Response::json(200, &views::page(rows.iter().map(views::delivery).collect(), next)))
}

pub fn retry(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    super::no_fields(req)?;
    let id: i64 = req.param(0).parse().map_err(|_| deliveries::not_found(req.param(0)))?;
    let now = crate::clock::now_ms();
    let delivery = ctx.writer.run(move |conn| {
        if !deliveries::retry(conn, id, now)? {
            return Err(deliveries::not_found(id));
        }
        deliveries::get(conn, id)?.ok_or_else(|| deliveries::not_found(id))
    })?;
    Ok(Response::json(200, &views::delivery(&delivery)))
}
