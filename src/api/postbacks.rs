//! `/api/v1/postback-url` and `/api/v1/postbacks`: the inbound postback token and log, and the
//! outbound deliveries to affiliates' trackers.

use serde_json::json;

use crate::error::Error;
use crate::intake;
use crate::secret::Redacted;
use crate::store::{deliveries, postbacks};
use crate::tracking::postback::{self, Outcome};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::{Ctx, views};

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
    let token = postbacks::current(&ctx.db, &ctx.config.db, ctx.config.postback_token.as_ref().map(Redacted::expose))?;
    url_answer(ctx, token)
}

/// A new token; the previous one keeps working for a day.
pub fn rotate_url(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    super::no_fields(req)?;
    let token = intake::postbacks::rotate_token(&ctx.intake())?;
    url_answer(ctx, Some(token))
}

pub fn received(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let outcome = req
        .query("outcome")
        .map(|o| {
            Outcome::parse(o).ok_or_else(|| Error::invalid("outcome", "must be created, duplicate, rejected or failed"))
        })
        .transpose()?;
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
    let delivery = intake::postbacks::retry(&ctx.intake(), req.id(0, deliveries::not_found)?)?;
    Ok(Response::json(200, &views::delivery(&delivery)))
}
