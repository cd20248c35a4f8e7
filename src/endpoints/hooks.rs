//! `POST /hooks/{stripe,shopify,woocommerce,paddle}`: shop platforms' webhooks. The signature is
//! checked over the raw body (`tracking::connectors`), the payload mapped to domain actions and
//! recorded through `intake::record_hook`, which logs everything it did in the same transaction.
//!
//! Answers are made for platforms that retry anything but a 2xx: every event recorded, already
//! recorded, held, ignored or unattributable is a 200 saying which; 401 for a missing, wrong or
//! stale signature; 404 `connector_not_configured` without a signing secret; 5xx only when
//! nothing was stored, so that the retry comes. Requests with a bad signature are not logged
//! (anyone can send them); a warning line is, at most once a minute per connector.

use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Value, json};

use crate::error::Error;
use crate::intake::{self, Done};
use crate::store::connectors as stored;
use crate::tracking::connectors::{Connector, Delivery, What, woocommerce};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::Ctx;

pub fn receive(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let connector = req
        .path
        .strip_prefix("/hooks/")
        .and_then(Connector::parse)
        .ok_or_else(|| Error::not_found("not_found", "no such connector"))?;
    let secret = secret(ctx, connector)?.ok_or_else(|| not_configured(connector))?;
    let delivery = Delivery { headers: &req.headers.platform, body: &req.body };
    if connector == Connector::WooCommerce && woocommerce::is_ping(&delivery) {
        return Ok(ignored("WooCommerce's ping when a webhook is saved: nothing to record"));
    }
    let now = crate::clock::now_ms() / 1000;
    if let Err(e) = connector.verify(&delivery, &secret, now) {
        warn_refused(connector, req);
        return Err(e.error(connector.title(), signature_header(connector)));
    }
    let mapped = connector.map(&delivery);
    if let What::Ignored(why) = &mapped.what {
        let why = *why;
        intake::record_hook(&ctx.intake(), connector, mapped)?;
        return Ok(ignored(why));
    }
    let (event_id, event_type) = (mapped.event_id.clone(), mapped.event_type.clone());
    let done = intake::record_hook(&ctx.intake(), connector, mapped)?;
    Ok(Response::json(
        200,
        &json!({
            "connector": connector.name(),
            "event_id": event_id,
            "event_type": event_type,
            "results": done.iter().map(result).collect::<Vec<_>>(),
        }),
    ))
}

/// The secret a connector's webhooks are checked with: the environment's (or a flag's), else
/// the one set through the API.
pub fn secret(ctx: &Ctx, connector: Connector) -> Result<Option<String>, Error> {
    match ctx.config.webhook_secret(connector) {
        Some(secret) => Ok(Some(secret.to_string())),
        None => stored::secret(&ctx.db, connector),
    }
}

pub fn not_configured(connector: Connector) -> Error {
    let opt = crate::config::webhook_secret_opt(connector);
    Error::not_found(
        "connector_not_configured",
        format!(
            "the {} connector has no signing secret; set {} or PUT /api/v1/connectors/{} {{\"signing_secret\": …}}",
            connector.title(),
            opt.env.unwrap_or(""),
            connector.name()
        ),
    )
}

fn signature_header(connector: Connector) -> &'static str {
    match connector {
        Connector::Stripe => "Stripe-Signature",
        Connector::Shopify => "X-Shopify-Hmac-Sha256",
        Connector::WooCommerce => "X-WC-Webhook-Signature",
        Connector::Paddle => "Paddle-Signature",
    }
}

fn ignored(why: &str) -> Response {
    Response::json(200, &json!({ "ignored": why }))
}

/// One thing the hook did, for the platform's delivery log (the merchant's own dashboard).
fn result(d: &Done) -> Value {
    let mut v = json!({
        "action": d.action,
        "reference": d.reference,
        "outcome": d.outcome,
        "conversion_id": d.conversion_id,
        "message": message(d),
    });
    if d.replayed {
        v["replayed"] = json!({"event_id": d.origin.event_id, "event_type": d.origin.event_type});
    }
    if let Some(e) = &d.error {
        v["error"] = json!({"code": e.code, "message": e.message});
    }
    v
}

fn message(d: &Done) -> &'static str {
    match d.outcome {
        "created" => "recorded",
        "duplicate" => "recorded before (the same event again): nothing changed",
        "refunded" => "refunded",
        "tied" => "the customer is tied to the click's affiliate: their payments are credited to it",
        "held" => d.detail.unwrap_or("held"),
        "unattributed" => "not credited to any affiliate: nothing it names leads to one (a sale without an affiliate)",
        "rejected" => "not recorded: see error",
        _ => d.detail.unwrap_or(""),
    }
}

/// Warns about a refused signature at most once a minute per connector: a misconfigured
/// secret shows in the log, a flood of forgeries does not flood it.
fn warn_refused(connector: Connector, req: &Req) {
    static LAST: [AtomicI64; 4] = [const { AtomicI64::new(0) }; 4];
    let slot = &LAST[Connector::ALL.iter().position(|c| *c == connector).unwrap_or(0)];
    let now = crate::clock::now_ms();
    let last = slot.load(Ordering::Relaxed);
    if now - last >= 60_000 && slot.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
        log::warn!(
            "refused a {} webhook from {:?}: missing, wrong or stale signature (is the signing secret the endpoint's?)",
            connector.title(),
            req.client_ip
        );
    }
}
