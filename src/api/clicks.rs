//! `/api/v1/clicks`: the merchant's backend records a visitor's arrival and keeps the click ID.

use std::net::IpAddr;

use crate::error::Error;
use crate::intake;
use crate::store::clicks::{self, Click, NewClick};
use crate::store::{affiliates, offers};
use crate::tracking::validate::{self, MAX_SOURCE, MAX_SUB, MAX_URL, MAX_USER_AGENT};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::json::Body;
use crate::web::{Ctx, views};

/// The fields of `POST /api/v1/clicks`.
const FIELDS: &[&str] = &[
    "referral_code",
    "offer",
    "session_id",
    "ip",
    "landing_url",
    "referrer",
    "user_agent",
    "source",
    "sub1",
    "sub2",
    "sub3",
    "sub4",
    "sub5",
    "test",
];

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, FIELDS)?;
    let referral_code = body.required_str("referral_code")?;
    let session_id = body.id_text("session_id")?;
    if let Some(s) = &session_id {
        validate::external_id(s).map_err(|e| Error::invalid("session_id", e))?;
    }
    let ip = match body.str("ip")? {
        None => None,
        Some(text) => {
            Some(text.parse::<IpAddr>().map_err(|_| Error::invalid("ip", "must be an IPv4 or IPv6 address"))?)
        }
    };
    let text = |field: &str, max: usize| -> Result<Option<String>, Error> {
        Ok(body.str(field)?.map(|v| validate::metadata(v, max)))
    };
    let mut click = NewClick {
        session_id,
        landing_url: text("landing_url", MAX_URL)?,
        referrer: text("referrer", MAX_URL)?,
        user_agent: text("user_agent", MAX_USER_AGENT)?,
        ip: ip.and_then(|ip| ctx.config.store_ip.apply(ip)),
        source: text("source", MAX_SOURCE)?,
        subs: [
            text("sub1", MAX_SUB)?,
            text("sub2", MAX_SUB)?,
            text("sub3", MAX_SUB)?,
            text("sub4", MAX_SUB)?,
            text("sub5", MAX_SUB)?,
        ],
        ..NewClick::default()
    };
    let affiliate = affiliates::by_code(&ctx.db, referral_code)?.ok_or_else(|| affiliates::unknown(referral_code))?;
    let offer = offers::named_or_default(&ctx.db, body.str("offer")?)?;
    if affiliate.paused {
        return Err(Error::conflict(
            "affiliate_paused",
            format!("affiliate `{}` is paused: their visitors get no click and earn nothing", affiliate.referral_code),
        ));
    }
    if offer.paused {
        return Err(Error::conflict(
            "offer_paused",
            format!("offer `{}` is paused: its visitors get no click and earn nothing", offer.public_id),
        ));
    }
    click.affiliate_id = affiliate.id;
    click.offer_id = offer.id;
    click.test = super::is_test(req, &body)?;
    let recorded = intake::record_click(&ctx.intake(), click.clone(), ip)?;
    let view = Click {
        id: recorded.id,
        referral_code: affiliate.referral_code,
        offer: offer.public_id,
        created_at: recorded.created_at,
        session_id: click.session_id,
        landing_url: click.landing_url,
        referrer: click.referrer,
        user_agent: click.user_agent,
        ip: click.ip,
        source: click.source,
        subs: click.subs,
        test: click.test,
        flags: recorded.flags,
    };
    Ok(Response::json(201, &views::click(&view)))
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = req.param(0);
    // A test key sees test clicks only; a live key both, the live one first.
    let click = clicks::get(&ctx.db, id, req.test_key.then_some(true))?.ok_or_else(|| {
        Error::not_found("not_found", format!("no click has id `{id}` (unknown, erased or expired by retention)"))
    })?;
    Ok(Response::json(200, &views::click(&click)))
}

/// `DELETE /api/v1/clicks/{id}`: erases a click (IP, user agent, referrer, the ID itself);
/// conversions it led to stay, without it. 204, or 404 if it did not exist.
pub fn erase(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = req.param(0).to_string();
    super::erase(ctx, crate::store::retention::Kind::Click, id)
}
