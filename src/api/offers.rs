//! `/api/v1/offers`: creating, changing (`PATCH`, every field of `POST` plus `status`) and
//! reading offers, and their special rates for single affiliates (`/offers/{id}/rates`).

use serde_json::Value;

use crate::error::Error;
use crate::intake;
use crate::store::offers::{self, NewOffer, Offer};
use crate::store::{affiliates, rates};
use crate::tracking::commission::Rule;
use crate::tracking::money::{self, Currency};
use crate::tracking::offer::{allowed_hosts, attribution, check_landing_url, click_window_days, rule};
use crate::tracking::validate;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::json::Body;
use crate::web::{Ctx, views};

/// Every field an offer has in the API.
const FIELDS: &[&str] = &[
    "id",
    "name",
    "landing_url",
    "commission",
    "attribution",
    "click_window_days",
    "currency",
    "default",
    "status",
    "recurring_months",
    "max_conversions_per_click",
    "approve_after_days",
    "allowed_hosts",
];

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, FIELDS)?;
    let new = read(&body, None)?;
    let offer = intake::offers::create(&ctx.intake(), new)?;
    answer(ctx, 201, &offer)
}

/// `PATCH /api/v1/offers/{id}`: the fields sent change, the others stay. The id and currency
/// cannot change (stored amounts depend on them); conversions already recorded keep their
/// commission.
pub fn update(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, FIELDS)?;
    let existing = offers::named_or_default(&ctx.db, Some(req.param(0)))?;
    let event_rates = offers::event_rates(&ctx.db, existing.id)?;
    let changes = read(&body, Some((&existing, event_rates)))?;
    let offer = intake::offers::update(&ctx.intake(), existing.id, changes)?;
    answer(ctx, 200, &offer)
}

fn answer(ctx: &Ctx, status: u16, offer: &Offer) -> Result<Response, Error> {
    let event_rates = offers::event_rates(&ctx.db, offer.id)?;
    Ok(Response::json(status, &views::offer(offer, &event_rates)))
}

/// Reads an offer from a body: every field for a new one (`existing` is `None`), or the fields
/// sent over an existing one.
fn read(body: &Body, existing: Option<(&Offer, Vec<(String, Rule)>)>) -> Result<NewOffer, Error> {
    let old = existing.as_ref().map(|(o, _)| *o);
    let text = |field: &str, current: Option<&str>| -> Result<String, Error> {
        match (body.str(field)?, current) {
            (Some(v), _) => Ok(v.to_string()),
            (None, Some(c)) if !body.has(field) => Ok(c.to_string()),
            (None, _) => Err(Error::missing(field)),
        }
    };
    let public_id = text("id", old.map(|o| o.public_id.as_str()))?;
    if let Some(o) = old
        && !public_id.eq_ignore_ascii_case(&o.public_id)
    {
        return Err(Error::invalid("id", "cannot change; create a new offer instead"));
    }
    validate::code(&public_id).map_err(|e| Error::invalid("id", e))?;
    let name = text("name", old.map(|o| o.name.as_str()))?;
    validate::name(&name).map_err(|e| Error::invalid("name", e))?;
    let landing_url = text("landing_url", old.map(|o| o.landing_url.as_str()))?;
    check_landing_url(&landing_url)?;
    let currency = match (body.str("currency")?, old) {
        (Some(code), Some(o)) if money::currency("currency", code)? != o.currency => {
            return Err(Error::invalid("currency", "cannot change; amounts already recorded are in the old one"));
        }
        (_, Some(o)) => o.currency,
        (Some(code), None) => money::currency("currency", code)?,
        (None, None) => Currency::from_code("USD").expect("USD is known"),
    };
    let (commission, event_rates) = match (body.object("commission")?, existing) {
        (Some(c), _) => commission(&c, currency)?,
        (None, Some((o, rates))) => (o.commission, rates),
        (None, None) => return Err(Error::missing("commission")),
    };
    let attribution = match body.str("attribution")? {
        Some(text) => attribution(Some(text))?,
        None => old.map_or(Ok(attribution(None)?), |o| Ok::<_, Error>(o.attribution))?,
    };
    let click_window_days = match body.int("click_window_days")? {
        Some(days) => click_window_days(Some(days))?,
        None => old.map_or(click_window_days(None), |o| Ok(o.click_window_days))?,
    };
    let paused = match body.str("status")? {
        Some("active") => false,
        Some("paused") => true,
        Some(_) => return Err(Error::invalid("status", "must be active or paused")),
        None => old.is_some_and(|o| o.paused),
    };
    let limit = |field: &str, range: std::ops::RangeInclusive<i64>, current: Option<i64>| -> Result<_, Error> {
        match body.int(field)? {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            Some(_) => Err(Error::invalid(field, format!("must be from {} to {}", range.start(), range.end()))),
            None if body.has(field) => Ok(None),
            None => Ok(current),
        }
    };
    let allowed_hosts = hosts(body, old)?;
    Ok(NewOffer {
        public_id,
        name,
        landing_url,
        commission,
        event_rates,
        attribution,
        click_window_days,
        currency,
        make_default: body.bool("default")?.unwrap_or(false),
        paused,
        recurring_months: limit("recurring_months", 1..=1200, old.and_then(|o| o.recurring_months))?,
        max_conversions_per_click: limit(
            "max_conversions_per_click",
            1..=1_000_000,
            old.and_then(|o| o.max_conversions_per_click),
        )?,
        approve_after_days: limit("approve_after_days", 0..=3650, old.and_then(|o| o.approve_after_days))?,
        allowed_hosts,
    })
}

/// The hosts deep links may lead to: the ones sent (`[]` or `null` clears them), else the
/// stored ones.
fn hosts(body: &Body, old: Option<&Offer>) -> Result<Vec<String>, Error> {
    Ok(match body.strings("allowed_hosts")? {
        Some(hosts) => allowed_hosts(hosts)?,
        None if body.has("allowed_hosts") => Vec::new(),
        None => old.map(|o| o.allowed_hosts.clone()).unwrap_or_default(),
    })
}

/// A commission: one rule (`{"type","value"}`) for every conversion type, or rules per type
/// (`{"sale": {"type","value"}, "lead": {...}}`), where a type without one earns nothing.
pub fn commission(c: &Body, currency: Currency) -> Result<(Rule, Vec<(String, Rule)>), Error> {
    if c.has("type") || c.has("value") {
        return Ok((single_rule(c, currency)?, Vec::new()));
    }
    let mut rates = Vec::new();
    for (event_type, value) in c.entries() {
        validate::conversion_type(event_type).map_err(|e| Error::invalid("commission", format!("type key: {e}")))?;
        let Value::Object(map) = value else {
            return Err(Error::invalid("commission", format!("`{event_type}` must be an object with type and value")));
        };
        let rule = single_rule(&Body::from_map(map.clone()), currency)?;
        rates.push((event_type.to_string(), rule));
    }
    if rates.is_empty() {
        return Err(Error::invalid("commission", "needs a type and a value, or a rate per conversion type"));
    }
    rates.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((Rule::Flat { minor: 0 }, rates))
}

fn single_rule(commission: &Body, currency: Currency) -> Result<Rule, Error> {
    let kind = commission
        .str("type")
        .ok()
        .flatten()
        .ok_or_else(|| Error::invalid("commission", "needs a type: percent or flat"))?;
    let value = commission
        .decimal_text("value")
        .map_err(|_| Error::invalid("commission", "value must be a decimal string or number"))?
        .ok_or_else(|| Error::invalid("commission", "needs a value"))?;
    rule(kind, &value, currency)
}

pub fn list(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let after = super::cursor(req)?.unwrap_or(0);
    let rows = offers::list(&ctx.db, after, limit)?;
    let next = views::next_cursor(&rows, limit, |o| o.id.to_string());
    let data = rows
        .iter()
        .map(|o| Ok(views::offer(o, &offers::event_rates(&ctx.db, o.id)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Response::json(200, &views::page(data, next)))
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let offer = offers::named_or_default(&ctx.db, Some(req.param(0)))?;
    answer(ctx, 200, &offer)
}

/// `GET /api/v1/offers/{id}/rates`: the offer's special rates for single affiliates.
pub fn list_rates(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let offer = offers::named_or_default(&ctx.db, Some(req.param(0)))?;
    let data = rates::of_offer(&ctx.db, offer.id)?.iter().map(|r| views::affiliate_rate(r, &offer)).collect();
    Ok(Response::json(200, &views::page(data, None)))
}

/// `PUT /api/v1/offers/{id}/rates/{code}` `{"commission": ...}`: the affiliate's own rate on
/// this offer (one rule, or rules per conversion type), replacing any earlier one.
pub fn put_rate(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, &["commission"])?;
    let offer = offers::named_or_default(&ctx.db, Some(req.param(0)))?;
    let affiliate = affiliates::by_code(&ctx.db, req.param(1))?.ok_or_else(|| affiliates::unknown(req.param(1)))?;
    let c = body.object("commission")?.ok_or_else(|| Error::missing("commission"))?;
    let (rule, per_type) = commission(&c, offer.currency)?;
    let rate = intake::rates::put(&ctx.intake(), offer.id, affiliate.id, rule, per_type)?;
    Ok(Response::json(200, &views::affiliate_rate(&rate, &offer)))
}

/// `DELETE /api/v1/offers/{id}/rates/{code}`: back to the offer's own rates.
pub fn delete_rate(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let offer = offers::named_or_default(&ctx.db, Some(req.param(0)))?;
    let affiliate = affiliates::by_code(&ctx.db, req.param(1))?.ok_or_else(|| affiliates::unknown(req.param(1)))?;
    if intake::rates::delete(&ctx.intake(), offer.id, affiliate.id)? {
        Ok(Response::empty(204))
    } else {
        Err(Error::not_found("not_found", format!("affiliate `{}` has no special rate on this offer", req.param(1))))
    }
}
