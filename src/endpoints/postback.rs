//! Inbound postbacks: `GET /postback?token=…&…` and `POST /postback` (a form or a JSON body), and
//! the same under HasOffers' paths `/aff_lsr` and `/aff_goal`. Networks and shop platforms that
//! can only "fire a URL" report conversions here, in their own dialect (`tracking::postback`),
//! recorded through the same intake as `POST /api/v1/conversions`, with the same answers; the
//! token can do nothing else. Servers in the networks of `--postback-allow` need no token (by
//! the real client address, so `--trusted-proxy` applies), as networks' IP whitelisting does.
//! Every authenticated postback is logged with its outcome (minus the token), in the
//! transaction that records it.

use crate::error::Error;
use crate::intake;
use crate::store::postbacks;
use crate::tracking::conversion::Source;
use crate::tracking::postback::{self, SECRET_PARAMS};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::{Ctx, answer};

/// The parameters of a POST body: a form, or a JSON object with the same names (strings and
/// numbers; a number keeps its exact text).
fn body_params(req: &Req) -> Result<Vec<(String, String)>, Error> {
    let json = req.headers.content_type.as_deref().is_some_and(|t| t.trim_start().starts_with("application/json"));
    if !json {
        return Ok(form_urlencoded::parse(&req.body).into_owned().collect());
    }
    let body = crate::web::json::Body::parse_open(&req.body)?;
    body.entries()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k.to_string(), s.clone())),
            serde_json::Value::Number(n) => Ok((k.to_string(), n.to_string())),
            serde_json::Value::Bool(b) => Ok((k.to_string(), b.to_string())),
            _ => Err(Error::invalid(k, "must be a string or a number in a postback")),
        })
        .collect()
}

/// Postbacks refused for a wrong token, summed up in the log.
static WRONG_TOKENS: crate::logging::Summary = crate::logging::Summary::new(std::time::Duration::from_secs(60));

pub fn receive(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    if req.method == crate::transport::request::Method::Head {
        // Link checkers and prefetchers probe URLs with HEAD; it must never record anything.
        return Ok(Response::json(200, &serde_json::json!({"note": "HEAD requests record nothing; use GET or POST"})));
    }
    let mut params = req.query.clone();
    if req.method == crate::transport::request::Method::Post {
        params.extend(body_params(req)?);
    }
    let now = crate::clock::now_ms();
    let allowed = req.client_ip.is_some_and(|ip| ctx.config.postback_allow.iter().any(|net| net.contains(ip)));
    if !allowed {
        let token = params.iter().find(|(k, _)| k == "token").map(|(_, v)| v.as_str()).unwrap_or("");
        if token.is_empty() {
            return Err(Error::unauthorized("add token=<your postback token> to the postback URL"));
        }
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
    }
    let (dialect, report) = postback::map(&params);
    let new = postback::check_macros(&params).and_then(|()| postback::conversion(report, Source::Postback, "postback"));
    let mut logged = serde_json::Map::new();
    for (k, v) in params.into_iter().filter(|(k, _)| !SECRET_PARAMS.contains(&k.as_str())) {
        logged.entry(k).or_insert(serde_json::Value::String(v));
    }
    let received = intake::postbacks::Received {
        dialect: dialect.as_str(),
        method: req.method.as_str(),
        params: serde_json::Value::Object(logged).to_string(),
    };
    answer::recorded(intake::postbacks::record(&ctx.intake(), new, received)?)
}
