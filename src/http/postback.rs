//! Inbound postbacks: `GET /postback?token=…&…` and `POST /postback` (form body). Networks and
//! shop platforms that can only "fire a URL" report conversions here, in their own dialect
//! (`tracking::postback`). Same rules and answers as `POST /api/v1/conversions`; the token can do
//! nothing else. Every authenticated postback is logged with its outcome (minus the token).

use std::sync::atomic::Ordering;

use super::response::Response;
use super::{Ctx, Req};
use crate::error::Error;
use crate::store::attribute::Keys;
use crate::store::conversions::{self, NewConversion, Source};
use crate::store::{Insert, postbacks};
use crate::tracking::money;
use crate::tracking::postback::{self, Dialect, Report, SECRET_PARAMS};

/// Postbacks refused for a wrong token, summed up in the log.
static WRONG_TOKENS: crate::logging::Summary = crate::logging::Summary::new(std::time::Duration::from_secs(60));

pub fn receive(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    if req.method == super::request::Method::Head {
        // Link checkers and prefetchers probe URLs with HEAD; it must never record anything.
        return Ok(Response::json(200, &serde_json::json!({"note": "HEAD requests record nothing; use GET or POST"})));
    }
    let mut params = req.query.clone();
    if req.method == super::request::Method::Post {
        params.extend(form_urlencoded::parse(&req.body).into_owned());
    }
    let token = params.iter().find(|(k, _)| k == "token").map(|(_, v)| v.as_str()).unwrap_or("");
    if token.is_empty() {
        return Err(Error::unauthorized("add token=<your postback token> to the postback URL"));
    }
    let now = crate::clock::now_ms();
    if !postbacks::verify(&ctx.db, token, now)? {
        // One line a minute at most, however many guesses arrive.
        if let Some(count) = WRONG_TOKENS.record(std::time::Instant::now()) {
            let from = req.client_ip.map_or_else(|| "an unknown address".to_string(), |ip| ip.to_string());
            log::warn!(
                "postbacks refused for a wrong token: {count} since the last such line, at most one a minute \
                 (latest from {from})"
            );
        }
        return Err(Error::unauthorized("the postback token is wrong or was rotated out"));
    }
    let (dialect, report) = postback::map(&params);
    let mut logged = serde_json::Map::new();
    for (k, v) in params.into_iter().filter(|(k, _)| !SECRET_PARAMS.contains(&k.as_str())) {
        logged.entry(k).or_insert(serde_json::Value::String(v));
    }
    let params_json = serde_json::Value::Object(logged).to_string();
    let checked = check(&report);
    let method = req.method.as_str();
    let outcome = ctx.writer.run(move |conn| {
        let result = match checked {
            Ok(new) => crate::store::nested(conn, |c| store(c, dialect, &report, &new, now)),
            Err(e) => Err(e),
        };
        let (status, label, code, conversion_id) = match &result {
            Ok(Insert::Created(c)) => (201, "created", None, Some(c.id)),
            Ok(Insert::Duplicate(c)) => (409, "duplicate", Some("duplicate_external_id"), Some(c.id)),
            Err(e) if e.status >= 500 => (e.status, "failed", Some(e.code.as_ref()), None),
            Err(e) => (e.status, "rejected", Some(e.code.as_ref()), None),
        };
        let entry = postbacks::NewReceived {
            dialect: dialect.as_str(),
            method,
            params: &params_json,
            status,
            outcome: label,
            error_code: code,
            conversion_id,
        };
        postbacks::record(conn, &entry, now)?;
        Ok(result)
    })?;
    match outcome? {
        Insert::Created(c) => {
            ctx.metrics.conversions_created.fetch_add(1, Ordering::Relaxed);
            Ok(Response::json(201, &super::views::conversion(&c)))
        }
        Insert::Duplicate(c) => {
            ctx.metrics.conversions_duplicate.fetch_add(1, Ordering::Relaxed);
            Err(Error::conflict("duplicate_external_id", format!("order `{}` was already recorded", c.external_id))
                .with_extra("conversion", super::views::conversion(&c)))
        }
    }
}

/// Validates a report the way the API validates a conversion. A missing amount is 0: platforms
/// fire postbacks for leads without one.
pub fn check(report: &Report) -> Result<NewConversion, Error> {
    let external_id = report.external_id.clone().ok_or_else(|| Error::missing("external_id"))?;
    let amount = report.amount.clone().unwrap_or_else(|| "0".into());
    money::parse_amount(&amount, 4).map_err(|e| Error::invalid("amount", e))?;
    let currency = report.currency.as_deref().map(|c| super::api::currency("currency", c)).transpose()?;
    let kind = report.kind.clone().unwrap_or_else(|| "sale".into());
    let keys = Keys {
        click_id: report.click_id.clone(),
        coupon: report.coupon.clone(),
        customer_id: report.customer_id.clone(),
        session_id: report.session_id.clone(),
    };
    if keys.is_empty() && report.referral_code.is_none() {
        return Err(Error::bad_request(
            "missing_attribution",
            "the postback names no click (click_id, refid, transaction_id), coupon, customer or affiliate (aff_id)",
        ));
    }
    let new =
        NewConversion { external_id, kind, amount, currency, keys, source: Source::Postback, actor: "postback".into() };
    super::api::conversions::check(&new)?;
    Ok(new)
}

fn store(
    conn: &rusqlite::Connection,
    dialect: Dialect,
    report: &Report,
    new: &NewConversion,
    now: i64,
) -> Result<Insert<conversions::Conversion>, Error> {
    match (dialect, report.referral_code.as_deref()) {
        (Dialect::PartnerId, Some(code)) => {
            conversions::create_for_affiliate(conn, new, code, report.offer.as_deref(), now)
        }
        _ => conversions::create(conn, new, now),
    }
}
