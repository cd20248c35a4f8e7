//! `/api/v1/conversions`: orders reported by the merchant's backend, and their approval.

use std::sync::atomic::Ordering;

use crate::error::Error;
use crate::http::json::Body;
use crate::http::response::Response;
use crate::http::{Ctx, Req, views};
use crate::store::Insert;
use crate::store::affiliates;
use crate::store::attribute::Keys;
use crate::store::conversions::{self, Decision, Filter, NewConversion, Prepared, Source, Status};
use crate::tracking::validate;

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body)?;
    let external_id = body.id_text("external_id")?.ok_or_else(|| Error::missing("external_id"))?;
    let kind = body.str("type")?.unwrap_or("sale").to_string();
    let amount = body.amount("amount")?.ok_or_else(|| Error::missing("amount"))?;
    let currency = body.str("currency")?.map(|c| super::currency("currency", c)).transpose()?;
    let keys = Keys {
        click_id: body.str("click_id")?.map(String::from),
        coupon: body.str("coupon")?.map(String::from),
        customer_id: body.id_text("customer_id")?,
        session_id: body.id_text("session_id")?,
    };
    let new =
        NewConversion { external_id, kind, amount, currency, keys, source: Source::Api, actor: super::actor(req) };
    submit(ctx, new)
}

/// The checks every reported conversion passes, whatever its source: identifiers and type.
pub fn check(new: &NewConversion) -> Result<(), Error> {
    validate::external_id(&new.external_id).map_err(|e| Error::invalid("external_id", e))?;
    validate::conversion_type(&new.kind).map_err(|e| Error::invalid("type", e))?;
    for (field, value) in [("customer_id", &new.keys.customer_id), ("session_id", &new.keys.session_id)] {
        if let Some(v) = value {
            validate::external_id(v).map_err(|e| Error::invalid(field, e))?;
        }
    }
    Ok(())
}

/// Validates and stores a conversion from any source (API, postback, pixel, lead): 201 with the
/// conversion, or 409 `duplicate_external_id` with the stored original.
pub fn submit(ctx: &Ctx, new: NewConversion) -> Result<Response, Error> {
    check(&new)?;
    if new.keys.is_empty() {
        return Err(Error::bad_request(
            "missing_attribution",
            "send one of click_id, coupon, customer_id or session_id so the conversion can be attributed",
        ));
    }
    // Attribution and pricing read on this worker's connection; the writer only inserts.
    let now = crate::clock::now_ms();
    let outcome = match conversions::prepare(&ctx.db, new, now)? {
        Prepared::Priced(priced) => ctx.writer.run(move |conn| conversions::store(conn, &priced, now))?,
        Prepared::Duplicate(existing) => Insert::Duplicate(*existing),
    };
    match outcome {
        Insert::Created(c) => {
            ctx.metrics.conversions_created.fetch_add(1, Ordering::Relaxed);
            Ok(Response::json(201, &views::conversion(&c)))
        }
        Insert::Duplicate(c) => {
            ctx.metrics.conversions_duplicate.fetch_add(1, Ordering::Relaxed);
            Err(Error::conflict(
                "duplicate_external_id",
                format!("order `{}` was already recorded; the stored conversion is included", c.external_id),
            )
            .with_extra("conversion", views::conversion(&c)))
        }
    }
}

pub fn list(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let after = req
        .query("cursor")
        .map(|c| {
            conversions::parse_cursor(c).ok_or_else(|| Error::invalid("cursor", "is not a cursor this API returned"))
        })
        .transpose()?;
    let mut filter = Filter::default();
    if let Some(s) = req.query("status") {
        filter.status = Some(
            Status::parse(s)
                .ok_or_else(|| Error::invalid("status", "must be pending, approved, rejected or refunded"))?,
        );
    }
    if let Some(code) = req.query("referral_code") {
        filter.affiliate_id = Some(affiliates::by_code(&ctx.db, code)?.ok_or_else(|| affiliates::unknown(code))?.id);
    }
    for (field, slot) in [("since", &mut filter.since), ("until", &mut filter.until)] {
        if let Some(text) = req.query(field) {
            *slot = Some(
                crate::clock::parse_rfc3339(text)
                    .ok_or_else(|| Error::invalid(field, "must be an RFC 3339 time such as 2026-11-01T00:00:00Z"))?,
            );
        }
    }
    let rows = conversions::newest(&ctx.db, &filter, after, limit)?;
    let next = views::next_cursor(&rows, limit, conversions::cursor_after);
    Ok(Response::json(200, &views::page(rows.iter().map(views::conversion).collect(), next)))
}

fn id_param(req: &Req) -> Result<i64, Error> {
    req.param(0).parse::<i64>().map_err(|_| conversions::not_found(req.param(0)))
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = id_param(req)?;
    let conversion = conversions::get(&ctx.db, id)?.ok_or_else(|| conversions::not_found(id))?;
    let events = conversions::events(&ctx.db, id)?;
    Ok(Response::json(200, &views::conversion_with_events(&conversion, &events)))
}

pub fn approve(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    decide(ctx, req, Status::Approved)
}

pub fn reject(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    decide(ctx, req, Status::Rejected)
}

/// `POST /api/v1/conversions/{id}/refund` `{amount?}`: partial or full refund.
pub fn refund(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = id_param(req)?;
    let body = Body::parse(&req.body)?;
    let amount = body.amount("amount")?;
    let actor = super::actor(req);
    let now = crate::clock::now_ms();
    match ctx.writer.run(move |conn| conversions::refund(conn, id, amount.as_deref(), &actor, now))? {
        Decision::Changed(c) => {
            if c.status == "refunded" {
                ctx.metrics.conversions_refunded.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Response::json(200, &views::conversion(&c)))
        }
        Decision::Refused(c) => Err(Error::conflict(
            "invalid_status_transition",
            format!("conversion {id} is {}; only pending or approved conversions can be refunded", c.status),
        )
        .with_extra("conversion", views::conversion(&c))),
    }
}

fn decide(ctx: &Ctx, req: &Req, to: Status) -> Result<Response, Error> {
    let id = id_param(req)?;
    let body = Body::parse(&req.body)?;
    let reason = body.str("reason")?.map(|r| validate::metadata(r, 1000));
    let actor = super::actor(req);
    let now = crate::clock::now_ms();
    match ctx.writer.run(move |conn| conversions::decide(conn, id, to, &actor, reason.as_deref(), now))? {
        Decision::Changed(c) => {
            count_decisions(ctx, to, 1);
            Ok(Response::json(200, &views::conversion(&c)))
        }
        Decision::Refused(c) => Err(Error::conflict(
            "invalid_status_transition",
            format!("conversion {id} is {}; only pending conversions can be {}", c.status, to.as_str()),
        )
        .with_extra("conversion", views::conversion(&c))),
    }
}

/// Counts approvals or rejections for the metrics.
pub fn count_decisions(ctx: &Ctx, to: Status, n: u64) {
    let counter =
        if to == Status::Approved { &ctx.metrics.conversions_approved } else { &ctx.metrics.conversions_rejected };
    counter.fetch_add(n, Ordering::Relaxed);
}
