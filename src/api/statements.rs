//! An affiliate's money as they can check it: `GET /api/v1/affiliates/{code}/balance`,
//! `GET /api/v1/affiliates/{code}/statement` (their signed ledger chain, see
//! docs/statements.md), and the public key statements are signed with,
//! `GET /.well-known/affiliated-statement-key`.

use serde_json::json;

use crate::error::Error;
use crate::store::{affiliates, ledger};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::{Ctx, views};

pub fn balance(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = affiliates::require_id(&ctx.db, req.param(0))?;
    Ok(Response::json(200, &views::balances(&ledger::balances(&ctx.db, id)?)))
}

/// Entries in a page of a statement unless `limit` says otherwise.
pub const PAGE: usize = 1_000;

/// `GET /api/v1/affiliates/{code}/statement?from_seq=&limit=`: a page of the signed statement
/// (from entry 1, [`PAGE`] entries, without parameters), with `next` when the chain goes on.
pub fn statement(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let from_seq = match req.query("from_seq") {
        None => 1,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| Error::invalid("from_seq", "must be a whole number from 1"))?,
    };
    let max = crate::statements::MAX_PAGE;
    let limit = match req.query("limit") {
        None => PAGE,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| Error::invalid("limit", format!("must be a whole number from 1 to {max}")))?,
    };
    let now = crate::clock::now_ms();
    let (mut page, next) =
        crate::statements::issue_page(&ctx.db, &ctx.config.db, req.param(0), (from_seq, limit), now)?;
    page.next = next.map(|n| format!("/api/v1/affiliates/{}/statement?from_seq={n}&limit={limit}", page.referral_code));
    let mut body = serde_json::to_value(&page).map_err(|e| Error::internal(format!("statement: {e}")))?;
    body["next"] = page.next.into();
    Ok(Response::json(200, &body))
}

/// `{"algorithm": "ed25519", "public_key": "<base64>", "created_at": "..."}`.
pub fn public_key(ctx: &mut Ctx, _req: &Req) -> Result<Response, Error> {
    let key = crate::statements::load(&ctx.config.db)
        .map_err(|e| Error::internal(format!("the statement key cannot be read: {e}")))?;
    Ok(Response::json(
        200,
        &json!({"algorithm": "ed25519", "public_key": key.public_key, "created_at": key.created_at}),
    ))
}
