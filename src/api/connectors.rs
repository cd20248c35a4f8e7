//! `/api/v1/connectors` and `/api/v1/hooks/received`: which shop connectors have a signing
//! secret and where it comes from (never the secret itself), setting and removing the secrets
//! kept in the database, and the log of webhooks received.

use serde_json::{Value, json};

use crate::error::Error;
use crate::intake;
use crate::store::connectors as stored;
use crate::tracking::connectors::Connector;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::json::Body;
use crate::web::{Ctx, views};

fn connector(req: &Req) -> Result<Connector, Error> {
    Connector::parse(req.param(0))
        .ok_or_else(|| Error::not_found("unknown_connector", "connectors are stripe, shopify, woocommerce and paddle"))
}

/// A connector as listed: configured or not, from where, and the URL to give the platform.
fn view(ctx: &Ctx, connector: Connector, stored_at: Option<i64>) -> Value {
    let source =
        if ctx.config.webhook_secret(connector).is_some() { Some("environment") } else { stored_at.map(|_| "api") };
    json!({
        "name": connector.name(),
        "configured": source.is_some(),
        "source": source,
        "updated_at": if source == Some("api") { stored_at.map(crate::clock::rfc3339) } else { None },
        "webhook_url": format!("{}/hooks/{}", ctx.config.public_url, connector.name()),
    })
}

fn stored_at(ctx: &Ctx, connector: Connector) -> Result<Option<i64>, Error> {
    Ok(stored::stored(&ctx.db)?.into_iter().find(|(c, _)| *c == connector).map(|(_, at)| at))
}

pub fn list(ctx: &mut Ctx, _req: &Req) -> Result<Response, Error> {
    let stored = stored::stored(&ctx.db)?;
    let data: Vec<Value> = Connector::ALL
        .into_iter()
        .map(|c| view(ctx, c, stored.iter().find(|(s, _)| *s == c).map(|(_, at)| *at)))
        .collect();
    Ok(Response::json(200, &json!({ "data": data })))
}

/// `PUT /api/v1/connectors/{name}` `{"signing_secret": "…"}`: stores the secret (replacing one
/// set before). The secret is never returned.
pub fn put(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let connector = connector(req)?;
    let body = Body::parse(&req.body, &["signing_secret"])?;
    let stored_at = intake::connectors::set_secret(&ctx.intake(), connector, body.str("signing_secret")?)?;
    Ok(Response::json(200, &view(ctx, connector, Some(stored_at))))
}

/// `DELETE /api/v1/connectors/{name}`: forgets the stored secret; the connector's webhooks are
/// answered 404 `connector_not_configured` from then on.
pub fn delete(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    intake::connectors::delete_secret(&ctx.intake(), connector(req)?)?;
    Ok(Response::empty(204))
}

/// `GET /api/v1/connectors/{name}`: one connector.
pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let connector = connector(req)?;
    Ok(Response::json(200, &view(ctx, connector, stored_at(ctx, connector)?)))
}

/// `GET /api/v1/hooks/received`: the hook log, newest first.
pub fn received(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let connector = req
        .query("connector")
        .map(|c| {
            Connector::parse(c)
                .ok_or_else(|| Error::invalid("connector", "must be stripe, shopify, woocommerce or paddle"))
        })
        .transpose()?;
    let outcome = req.query("outcome");
    if let Some(o) = outcome
        && !stored::OUTCOMES.contains(&o)
    {
        return Err(Error::invalid("outcome", format!("must be one of {}", stored::OUTCOMES.join(", "))));
    }
    let rows = stored::list(&ctx.db, connector, outcome, super::cursor(req)?, limit)?;
    let next = views::next_cursor(&rows, limit, |r| r.id.to_string());
    Ok(Response::json(200, &views::page(rows.iter().map(views::hook).collect(), next)))
}
