//! `/api/v1/leads` and `/api/v1/tracking/status/{session_id}`: the event-style interface some
//! platforms use (a registration ties a customer to the affiliate; a payment is a conversion).

use serde_json::json;

use super::conversions::submit;
use super::customers::{create_customer, new_customer};
use crate::error::Error;
use crate::http::json::Body;
use crate::http::response::Response;
use crate::http::{Ctx, Req};
use crate::store::attribute::{self, Keys, SessionOutcome};
use crate::store::conversions::{NewConversion, Source};

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body)?;
    match body.required_str("type")? {
        "registration" => create_customer(ctx, new_customer(&body, false)?),
        "payment" => {
            let external_id = body.id_text("external_id")?.ok_or_else(|| Error::missing("external_id"))?;
            let amount = body.amount("value")?.ok_or_else(|| Error::missing("value"))?;
            let currency = body.str("currency")?.map(|c| super::currency("currency", c)).transpose()?;
            let keys = Keys {
                click_id: body.str("click_id")?.map(String::from),
                coupon: None,
                customer_id: body.id_text("customer_id")?,
                session_id: body.id_text("session_id")?,
            };
            let new = NewConversion {
                external_id,
                kind: "sale".into(),
                amount,
                currency,
                keys,
                source: Source::Lead,
                actor: super::actor(req),
            };
            submit(ctx, new)
        }
        _ => Err(Error::invalid("type", "must be registration or payment")),
    }
}

pub fn tracking_status(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let session_id = req.param(0);
    let now = crate::clock::now_ms();
    let chosen = match attribute::session_click(&ctx.db, session_id, now)? {
        SessionOutcome::Chosen(click) => Some(click),
        SessionOutcome::NoClicks | SessionOutcome::AllExpired => None,
    };
    let body = match chosen {
        Some(click) => {
            let referral_code: String = crate::store::affiliates::get(&ctx.db, click.affiliate_id)?
                .map(|a| a.referral_code)
                .unwrap_or_default();
            json!({
                "session_id": session_id,
                "has_affiliate": true,
                "referral_code": referral_code,
                "click_id": click.id,
                "clicked_at": crate::clock::rfc3339(click.created_at),
            })
        }
        None => json!({
            "session_id": session_id,
            "has_affiliate": false,
            "referral_code": null,
            "click_id": null,
            "clicked_at": null,
        }),
    };
    Ok(Response::json(200, &body))
}
