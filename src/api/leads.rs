//! `/api/v1/leads` and `/api/v1/tracking/status/{session_id}`: the event-style interface some
//! platforms use (a registration ties a customer to the affiliate; a payment is a conversion).

use serde_json::json;

use super::customers::new_customer;
use crate::error::Error;
use crate::intake;
use crate::store::attribute::{self, SessionOutcome};
use crate::tracking::attribution::Keys;
use crate::tracking::conversion::{NewConversion, Source};
use crate::tracking::money;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::json::Body;
use crate::web::{Ctx, answer};

/// The fields of `POST /api/v1/leads`, per type: a registration reads the customer's, a payment
/// the order's; a field of the other type is as unknown as a misspelt one.
const REGISTRATION_FIELDS: &[&str] = &["type", "customer_id", "click_id", "session_id", "email", "name", "test"];
const PAYMENT_FIELDS: &[&str] =
    &["type", "external_id", "value", "currency", "click_id", "customer_id", "session_id", "test"];

/// Every field of either type.
const FIELDS: &[&str] =
    &["type", "customer_id", "click_id", "session_id", "email", "name", "external_id", "value", "currency", "test"];

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, FIELDS)?;
    match body.required_str("type")? {
        "registration" => {
            body.allow_only(REGISTRATION_FIELDS)?;
            super::customers::answer(intake::tie_customer(&ctx.intake(), new_customer(req, &body, false)?)?)
        }
        "payment" => {
            body.allow_only(PAYMENT_FIELDS)?;
            let new = NewConversion {
                external_id: body.id_text("external_id")?.ok_or_else(|| Error::missing("external_id"))?,
                kind: "sale".into(),
                amount: Some(body.amount("value")?.ok_or_else(|| Error::missing("value"))?),
                currency: body.str("currency")?.map(|c| money::currency("currency", c)).transpose()?,
                keys: Keys {
                    click_id: body.str("click_id")?.map(String::from),
                    customer_id: body.id_text("customer_id")?,
                    session_id: body.id_text("session_id")?,
                    ..Keys::default()
                },
                source: Source::Lead,
                actor: super::actor(req),
                test: super::is_test(req, &body)?,
                customer_email: None,
                details: Default::default(),
                type_rate_only: false,
            };
            answer::recorded(intake::record(&ctx.intake(), new)?)
        }
        _ => Err(Error::invalid("type", "must be registration or payment")),
    }
}

pub fn tracking_status(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let session_id = req.param(0);
    let now = crate::clock::now_ms();
    // The session's clicks of the key's own namespace, as a conversion reported with it would
    // be attributed.
    let chosen = match attribute::session_click(&ctx.db, session_id, req.test_key, now)? {
        SessionOutcome::Chosen(click) => Some(click),
        SessionOutcome::NoClicks | SessionOutcome::AllExpired => None,
    };
    let body = match chosen {
        Some(click) => {
            let referral_code: String = crate::store::affiliates::get(&ctx.db, click.affiliate_id)?
                .map(|a| a.referral_code)
                .unwrap_or_default();
            let clicked_at = crate::clock::rfc3339(click.created_at);
            json!({
                "session_id": session_id,
                "has_affiliate": true,
                "referral_code": referral_code,
                "click_id": click.id,
                "clicked_at": clicked_at,
                // AFFY's names for the same, with the click under the ID its caller chose.
                "sessionId": session_id,
                "hasAffiliate": true,
                "affiliateReference": referral_code,
                "clickId": click.alias.as_deref().unwrap_or(&click.id),
                "clickedAt": clicked_at,
            })
        }
        None => json!({
            "session_id": session_id,
            "has_affiliate": false,
            "referral_code": null,
            "click_id": null,
            "clicked_at": null,
            "sessionId": session_id,
            "hasAffiliate": false,
            "affiliateReference": null,
            "clickId": null,
            "clickedAt": null,
        }),
    };
    Ok(Response::json(200, &body))
}
