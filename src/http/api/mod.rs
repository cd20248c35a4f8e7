//! The JSON API under `/api/v1`, one file per resource. Handlers validate their input, hand
//! writes to the writer thread (`Ctx::write`) and shape answers with `views`. They never see
//! tiny_http and never build SQL.

pub mod affiliates;
pub mod clicks;
pub mod connectors;
pub mod conversions;
pub mod coupons;
pub mod customers;
pub mod leads;
pub mod offers;
pub mod payouts;
pub mod postbacks;
pub mod statements;
pub mod tracking;
pub mod webhooks;

use super::response::Response;
use super::{Ctx, Req};
use crate::error::Error;
use crate::store::retention::{self, Kind};

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
pub fn delivery_status(req: &Req) -> Result<Option<&str>, Error> {
    match req.query("status") {
        Some(s) if !["pending", "delivered", "failed"].contains(&s) => {
            Err(Error::invalid("status", "must be pending, delivered or failed"))
        }
        status => Ok(status),
    }
}

/// Refuses a body with any field (400 `unknown_field`): for POST endpoints that take none, so
/// that a field sent to them by mistake is an error rather than ignored. An empty body or `{}`
/// is fine.
pub fn no_fields(req: &Req) -> Result<(), Error> {
    crate::http::json::Body::parse(&req.body, &[]).map(drop)
}

/// Whether a write is test data: sent with a test key, or marked `"test": true` by a live one
/// (a test key cannot write live data).
pub fn is_test(req: &Req, body: &crate::http::json::Body) -> Result<bool, Error> {
    Ok(req.test_key || body.bool("test")?.unwrap_or(false))
}

/// Who made a change, as recorded in change logs.
pub fn actor(req: &Req) -> String {
    match req.key_id {
        Some(id) => format!("api_key:{id}"),
        None => "api".into(),
    }
}

/// Erases a customer or a click: log first (so a crash or an older backup cannot undo it), then
/// the database, then a checkpoint that truncates the WAL so no erased bytes linger there.
pub fn erase(ctx: &Ctx, kind: Kind, id: String) -> Result<Response, Error> {
    // A click may be named by the ID its caller chose (a live and a test click may share it);
    // the erasure log keeps the clicks' own.
    let ids = match kind {
        Kind::Click if !crate::tracking::click_id::is_well_formed(&id) => {
            let mut ids = Vec::new();
            for test in [false, true] {
                ids.extend(crate::store::clicks::get(&ctx.db, &id, Some(test))?.map(|c| c.id));
            }
            if ids.is_empty() {
                return Err(Error::not_found("not_found", "no click has that id"));
            }
            ids
        }
        _ => vec![id],
    };
    for id in &ids {
        retention::append_log(&ctx.config.db, kind, id)
            .map_err(|e| Error::unavailable(format!("could not write the erasure log: {e}")))?;
    }
    let now = crate::clock::now_ms();
    let found = ctx.writer.run(move |conn| {
        let mut found = false;
        for id in &ids {
            found |= match kind {
                Kind::Customer => retention::erase_customer(conn, id, now)?,
                Kind::Click => retention::erase_click(conn, id, now)?,
                Kind::Affiliate => retention::erase_affiliate(conn, id, now)?,
            };
        }
        Ok(found)
    })?;
    ctx.writer.run_outside_transaction(|conn| {
        crate::store::checkpoint_truncate(conn);
        Ok(())
    })?;
    if found {
        Ok(Response::empty(204))
    } else {
        Err(Error::not_found("not_found", "nothing with that id exists (the erasure was logged anyway)"))
    }
}
