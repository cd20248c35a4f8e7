//! `/api/v1/offers`.

use crate::error::Error;
use crate::http::json::Body;
use crate::http::response::Response;
use crate::http::{Ctx, Req, views};
use crate::store::offers::{self, NewOffer};
use crate::tracking::commission::Rule;
use crate::tracking::money::Currency;
use crate::tracking::offer::{approve_after_days, attribution, check_landing_url, click_window_days, rule};
use crate::tracking::validate;

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body)?;
    let public_id = body.required_str("id")?;
    validate::code(public_id).map_err(|e| Error::invalid("id", e))?;
    let name = body.required_str("name")?;
    validate::name(name).map_err(|e| Error::invalid("name", e))?;
    let landing_url = body.required_str("landing_url")?;
    check_landing_url(landing_url)?;
    let currency = match body.str("currency")? {
        Some(code) => crate::tracking::money::currency("currency", code)?,
        None => Currency::from_code("USD").expect("USD is known"),
    };
    let commission = commission_rule(&body, currency)?;
    let attribution = attribution(body.str("attribution")?)?;
    let click_window_days = click_window_days(body.int("click_window_days")?)?;
    let new = NewOffer {
        public_id: public_id.to_string(),
        name: name.to_string(),
        landing_url: landing_url.to_string(),
        commission,
        attribution,
        click_window_days,
        currency,
        make_default: body.bool("default")?.unwrap_or(false),
        approve_after_days: approve_after_days(body.int("approve_after_days")?)?,
    };
    let now = crate::clock::now_ms();
    let offer = ctx.writer.run(move |conn| offers::create(conn, &new, now))?;
    Ok(Response::json(201, &views::offer(&offer)))
}

fn commission_rule(body: &Body, currency: Currency) -> Result<Rule, Error> {
    let commission = body.object("commission")?.ok_or_else(|| Error::missing("commission"))?;
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
    Ok(Response::json(200, &views::page(rows.iter().map(views::offer).collect(), next)))
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let offer = offers::named_or_default(&ctx.db, Some(req.param(0)))?;
    Ok(Response::json(200, &views::offer(&offer)))
}
