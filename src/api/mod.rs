//! The JSON API under `/api/v1`, one file per resource. Handlers read their input into domain
//! values, hand every write to its `intake` function and shape answers with `web::views`. They
//! never see tiny_http and never build SQL.
//!
//! Architecture Invariant: an area of its own; it imports no other area (`admin`, `portal`,
//! `endpoints`), only `web/`, `shapes/` and the layers below.

pub mod affiliates;
pub mod applications;
pub mod clicks;
pub mod connectors;
pub mod conversions;
pub mod coupons;
pub mod customers;
pub mod emails;
pub mod leads;
pub mod offers;
pub mod payouts;
pub mod postbacks;
pub mod statements;
pub mod tracking;
pub mod webhooks;

use crate::error::Error;
use crate::intake::{self, erasure::Erasure};
use crate::store::retention::Kind;
use crate::tracking::outbound::DeliveryStatus;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::Ctx;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// `limit` from the query string (1 to 500, default 50).
pub fn limit(req: &Req) -> Result<usize, Error> {
    match req.query("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| Error::invalid("limit", format!("must be a whole number from 1 to {MAX_LIMIT}"))),
    }
}

/// A numeric cursor from a previous page's `next_cursor`.
pub fn cursor(req: &Req) -> Result<Option<i64>, Error> {
    req.query("cursor")
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::invalid("cursor", "is not a cursor this API returned"))
        })
        .transpose()
}

/// `status` from the query string of a list of deliveries (postbacks or webhooks).
pub fn delivery_status(req: &Req) -> Result<Option<DeliveryStatus>, Error> {
    req.query("status")
        .map(|s| {
            DeliveryStatus::parse(s).ok_or_else(|| Error::invalid("status", "must be pending, delivered or failed"))
        })
        .transpose()
}

/// Refuses a body with any field (400 `unknown_field`): for POST endpoints that take none, so
/// that a field sent to them by mistake is an error rather than ignored. An empty body or `{}`
/// is fine.
pub fn no_fields(req: &Req) -> Result<(), Error> {
    crate::web::json::Body::parse(&req.body, &[]).map(drop)
}

/// Whether a write is test data: sent with a test key, or marked `"test": true` by a live one
/// (a test key cannot write live data).
pub fn is_test(req: &Req, body: &crate::web::json::Body) -> Result<bool, Error> {
    Ok(req.test_key || body.bool("test")?.unwrap_or(false))
}

/// Who made a change, as recorded in change logs.
pub fn actor(req: &Req) -> String {
    match req.key_id {
        Some(id) => format!("api_key:{id}"),
        None => "api".into(),
    }
}

/// Erases what `id` names (`intake::erasure`): 204, or 404 when nothing had that id (the
/// erasure is logged anyway).
pub fn erase(ctx: &Ctx, kind: Kind, id: String) -> Result<Response, Error> {
    match intake::erasure::erase(&ctx.intake(), kind, id)? {
        Erasure::Erased => Ok(Response::empty(204)),
        Erasure::NothingFound => {
            Err(Error::not_found("not_found", "nothing with that id exists (the erasure was logged anyway)"))
        }
    }
}
