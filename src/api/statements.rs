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

pub fn statement(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let statement = crate::statements::issue(&ctx.db, &ctx.config.db, req.param(0), crate::clock::now_ms())?;
    let body = serde_json::to_value(&statement).map_err(|e| Error::internal(format!("statement: {e}")))?;
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
