//! `/api/v1/conversions`: orders reported by the merchant's backend, and their approval and
//! refunds. Handlers map the body to the domain value and call `intake`; `answer` shapes the
//! reply.

use crate::error::Error;
use crate::intake;
use crate::store::{affiliates, conversions, events};
use crate::tracking::attribution::Keys;
use crate::tracking::conversion::{NewConversion, RefundAmount, RefundRequest, Source, Status};
use crate::tracking::{money, validate};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::json::Body;
use crate::web::{Ctx, answer, views};

/// The fields of `POST /api/v1/conversions`.
const FIELDS: &[&str] = &[
    "external_id",
    "type",
    "amount",
    "currency",
    "click_id",
    "coupon",
    "customer_id",
    "session_id",
    "test",
    "customer_email",
];

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, FIELDS)?;
    let new = NewConversion {
        external_id: body.id_text("external_id")?.ok_or_else(|| Error::missing("external_id"))?,
        kind: body.str("type")?.unwrap_or("sale").to_string(),
        amount: Some(body.amount("amount")?.ok_or_else(|| Error::missing("amount"))?),
        currency: body.str("currency")?.map(|c| money::currency("currency", c)).transpose()?,
        keys: Keys {
            click_id: body.str("click_id")?.map(String::from),
            coupon: body.str("coupon")?.map(String::from),
            customer_id: body.id_text("customer_id")?,
            session_id: body.id_text("session_id")?,
            ..Keys::default()
        },
        source: Source::Api,
        actor: super::actor(req),
        test: super::is_test(req, &body)?,
        customer_email: body.str("customer_email")?.map(String::from),
        details: Default::default(),
        type_rate_only: false,
    };
    answer::recorded(intake::record(&ctx.intake(), new)?)
}

pub fn list(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let after = req
        .query("cursor")
        .map(|c| {
            conversions::parse_cursor(c).ok_or_else(|| Error::invalid("cursor", "is not a cursor this API returned"))
        })
        .transpose()?;
    // A test key lists test data only, whatever `test` asks.
    let test = req.test_key || flag(req, "test")?.unwrap_or(false);
    let mut filter = conversions::Filter { test, ..Default::default() };
    filter.flagged = flag(req, "flagged")?;
    filter.goal = req.query("goal").map(String::from);
    filter.geo = req.query("geo").map(String::from);
    filter.commission_id = req.query("commission_id").map(String::from);
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

/// A `true`/`false` query parameter.
fn flag(req: &Req, name: &str) -> Result<Option<bool>, Error> {
    match req.query(name) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(Error::invalid(name, "must be true or false")),
    }
}

/// `DELETE /api/v1/conversions/{id}`: removes a test conversion (204); live data stays (409
/// `not_test_data`).
pub fn delete(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    intake::test_data::delete_conversion(&ctx.intake(), id_in_scope(ctx, req)?)?;
    Ok(Response::empty(204))
}

/// `DELETE /api/v1/test-data`: removes every test conversion, customer and click (204).
pub fn delete_test_data(ctx: &mut Ctx, _req: &Req) -> Result<Response, Error> {
    intake::test_data::delete_all(&ctx.intake())?;
    Ok(Response::empty(204))
}

/// The id of the conversion the path names, if `req`'s key may act on it: a test key only ever
/// finds test data, and a live conversion is as unknown to it as a missing one (404). A stored
/// conversion's `test` never changes, so the check holds on the writer too.
fn id_in_scope(ctx: &Ctx, req: &Req) -> Result<i64, Error> {
    let id = req.id(0, conversions::not_found)?;
    if req.test_key && !conversions::get(&ctx.db, id)?.is_some_and(|c| c.test) {
        return Err(conversions::not_found(id));
    }
    Ok(id)
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = id_in_scope(ctx, req)?;
    let conversion = conversions::get(&ctx.db, id)?.ok_or_else(|| conversions::not_found(id))?;
    let events = events::of_conversion(&ctx.db, id)?;
    Ok(Response::json(200, &views::conversion_with_events(&conversion, &events)))
}

pub fn approve(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    decide(ctx, req, Status::Approved)
}

pub fn reject(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    decide(ctx, req, Status::Rejected)
}

/// `POST /api/v1/conversions/{id}/refund` `{amount?, refund_id?}`: a partial refund (with its
/// `refund_id`) or a full one.
pub fn refund(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = id_in_scope(ctx, req)?;
    let body = Body::parse(&req.body, &["amount", "refund_id"])?;
    let request = RefundRequest {
        amount: match body.amount("amount")? {
            Some(text) => RefundAmount::Part(text),
            None => RefundAmount::All,
        },
        refund_id: body.id_text("refund_id")?,
    };
    answer::refunded(intake::refund(&ctx.intake(), id, request, &super::actor(req))?)
}

fn decide(ctx: &Ctx, req: &Req, to: Status) -> Result<Response, Error> {
    let id = id_in_scope(ctx, req)?;
    let body = Body::parse(&req.body, &["reason"])?;
    let reason = body.str("reason")?.map(|r| validate::metadata(r, 1000));
    answer::decided(id, to, intake::decide(&ctx.intake(), id, to, &super::actor(req), reason.as_deref())?)
}
