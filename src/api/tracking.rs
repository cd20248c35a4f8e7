//! AFFY's Tracking API, with its own camelCase bodies and answers, so code written against it
//! works after changing only the host and adding an API key: `POST /api/v1/tracking/click`,
//! `/tracking/registration` and `/tracking/lead`, and the camelCase keys of
//! `GET /api/v1/tracking/status/{session_id}` (in `leads.rs`). Each maps its body to the same
//! domain values as the rest of the API and calls the same intake; errors keep the one error
//! object and add `"success": false`. An error about a field's value names the field as the
//! caller sent it (`invalid_customerName`); attribution keeps the API's codes.

use serde_json::{Value, json};

use crate::error::Error;
use crate::intake;
use crate::store::clicks::{self, NewClick};
use crate::store::conversions::Stored;
use crate::store::{Insert, affiliates, offers};
use crate::tracking::attribution::Keys;
use crate::tracking::conversion::{Details, NewConversion, Source};
use crate::tracking::customer::{NewCustomer, registration_external_id};
use crate::tracking::validate::{self, MAX_SOURCE, MAX_URL, MAX_USER_AGENT};
use crate::tracking::{fraud, money};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::Ctx;
use crate::web::json::Body;

/// The fields each call accepts: those of AFFY's documented bodies (including its `clientId`,
/// AFFY's account number, which means nothing here and is ignored), plus `offer` on clicks and
/// `test`, `currency` and `externalId` where the API has them. Anything else is 400
/// `unknown_field`, as everywhere in the API.
const CLICK_FIELDS: &[&str] = &[
    "clientId",
    "affiliateReference",
    "clickId",
    "sessionId",
    "clickedUrl",
    "referrerUrl",
    "userAgent",
    "source",
    "offer",
    "test",
];
const REGISTRATION_FIELDS: &[&str] = &["clientId", "clickId", "email", "customerId", "customerName", "test"];
const LEAD_FIELDS: &[&str] = &[
    "clientId",
    "leadType",
    "customerEmail",
    "customerName",
    "customerId",
    "sessionId",
    "clickId",
    "leadValue",
    "externalId",
    "currency",
    "test",
];

/// Every AFFY answer: `success` first, then the fields of the call.
fn answer(status: u16, fields: Value) -> Response {
    let mut body = json!({"success": true});
    if let (Value::Object(out), Value::Object(fields)) = (&mut body, fields) {
        out.extend(fields);
    }
    Response::json(status, &body)
}

/// An error, as AFFY clients check it (`success: false`) and as every other client reads it.
fn failed(e: Error) -> Error {
    e.with_extra("success", Value::Bool(false))
}

/// An optional text field checked by `rule`, under its own name.
fn checked(body: &Body, field: &str, rule: fn(&str) -> Result<(), String>) -> Result<Option<String>, Error> {
    let value = body.str(field)?;
    if let Some(v) = value {
        rule(v).map_err(|e| Error::invalid(field, e))?;
    }
    Ok(value.map(String::from))
}

/// An optional merchant identifier (`customerId`, `sessionId`, `externalId`): a string or a
/// whole number, checked under its own name.
fn merchant_id(body: &Body, field: &str) -> Result<Option<String>, Error> {
    let id = body.id_text(field)?;
    if let Some(id) = &id {
        validate::external_id(id).map_err(|e| Error::invalid(field, e))?;
    }
    Ok(id)
}

/// `POST /api/v1/tracking/click`: a click the shop's server records, optionally under its own
/// `clickId`.
pub fn click(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    record_click(ctx, req).map_err(failed)
}

fn record_click(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, CLICK_FIELDS)?;
    let code = body.required_str("affiliateReference")?;
    let alias = body.id_text("clickId")?;
    if let Some(alias) = &alias
        && !clicks::alias_shaped(alias)
    {
        return Err(Error::invalid("clickId", "must be 8 to 128 characters of A-Z a-z 0-9 - _ . ~"));
    }
    let session_id = merchant_id(&body, "sessionId")?;
    let affiliate = affiliates::by_code(&ctx.db, code)?.ok_or_else(|| affiliates::unknown(code))?;
    let offer = offers::named_or_default(&ctx.db, body.str("offer")?)?;
    if affiliate.paused || offer.paused {
        return Err(Error::conflict("affiliate_paused", format!("affiliate `{code}` or its offer is paused")));
    }
    let text = |field: &str, max: usize| -> Result<Option<String>, Error> {
        Ok(body.str(field)?.map(|v| validate::metadata(v, max)))
    };
    let click = NewClick {
        affiliate_id: affiliate.id,
        offer_id: offer.id,
        session_id: session_id.clone(),
        landing_url: text("clickedUrl", MAX_URL)?,
        referrer: text("referrerUrl", MAX_URL)?,
        user_agent: text("userAgent", MAX_USER_AGENT)?,
        ip: None,
        source: text("source", MAX_SOURCE)?,
        subs: Default::default(),
        test: super::is_test(req, &body)?,
        flags: Vec::new(),
        alias: alias.clone(),
    };
    let recorded = intake::record_click(&ctx.intake(), click, None)?;
    Ok(answer(
        201,
        json!({
            "clickId": alias.unwrap_or(recorded.id),
            "sessionId": session_id,
            "message": "Click tracked successfully",
        }),
    ))
}

/// `POST /api/v1/tracking/registration`: a referred user registered. Ties the customer to the
/// click's affiliate and records a lead (type `lead`, earning the offer's lead rate, or nothing).
pub fn registration(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let registered = (|| {
        let body = Body::parse(&req.body, REGISTRATION_FIELDS)?;
        let click_id = body.id_text("clickId")?.ok_or_else(|| Error::missing("clickId"))?;
        let customer_id = merchant_id(&body, "customerId")?.ok_or_else(|| Error::missing("customerId"))?;
        let keys = Keys { click_id: Some(click_id.clone()), ..Keys::default() };
        let lead = register(ctx, req, &body, customer_id, keys, "email", "customerName")?;
        Ok::<_, Error>(
            json!({"leadId": lead, "clickId": click_id, "message": "Registration linked to affiliate referral"}),
        )
    })();
    registered.map(|fields| answer(201, fields)).map_err(failed)
}

/// `POST /api/v1/tracking/lead`: a `REGISTRATION` (as above, by `sessionId` or `clickId`) or a
/// `PAYMENT` (a sale attributed by `sessionId`, `clickId`, or the customer with that e-mail).
pub fn lead(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let recorded = (|| {
        let body = Body::parse(&req.body, LEAD_FIELDS)?;
        let kind = body.required_str("leadType")?.to_ascii_uppercase();
        let keys = Keys {
            click_id: body.id_text("clickId")?,
            session_id: merchant_id(&body, "sessionId")?,
            ..Keys::default()
        };
        match kind.as_str() {
            "REGISTRATION" => {
                let email = checked(&body, "customerEmail", validate::email)?;
                let customer_id = match (merchant_id(&body, "customerId")?, email) {
                    (Some(id), _) => id,
                    (None, Some(email)) => format!("email:{}", fraud::mailbox(&email)),
                    (None, None) => return Err(Error::missing("customerId")),
                };
                let lead = register(ctx, req, &body, customer_id, keys, "customerEmail", "customerName")?;
                Ok(json!({"leadId": lead, "message": "Registration linked to affiliate referral"}))
            }
            "PAYMENT" => payment(ctx, req, &body, keys),
            _ => Err(Error::invalid("leadType", "must be REGISTRATION or PAYMENT")),
        }
    })();
    recorded.map(|fields| answer(201, fields)).map_err(failed)
}

/// Ties `customer_id` to the affiliate `keys` name and records its registration lead; the
/// lead's conversion id. A repeated registration of the same customer is a 409.
fn register(
    ctx: &Ctx,
    req: &Req,
    body: &Body,
    customer_id: String,
    keys: Keys,
    email_field: &str,
    name_field: &str,
) -> Result<i64, Error> {
    let test = super::is_test(req, body)?;
    let email = checked(body, email_field, validate::email)?;
    let customer = NewCustomer {
        customer_id: customer_id.clone(),
        keys: keys.clone(),
        email: email.clone(),
        name: checked(body, name_field, validate::name)?,
        test,
    };
    // An existing tie stays as it is (the first affiliate keeps a customer); the lead dedups.
    let tie = intake::tie_customer(&ctx.intake(), customer)?;
    let keys = match tie {
        Insert::Created(_) => keys,
        Insert::Duplicate(c) => Keys { customer_id: Some(c.customer_id), ..Keys::default() },
    };
    let new = NewConversion {
        external_id: registration_external_id(&customer_id),
        kind: "lead".into(),
        amount: Some("0".into()),
        currency: None,
        keys,
        source: Source::TrackingApi,
        actor: super::actor(req),
        test,
        customer_email: email,
        details: Details::default(),
        type_rate_only: true,
    };
    recorded_id(intake::record(&ctx.intake(), new)?)
}

/// A payment lead: a sale of `leadValue`, one conversion per call unless `externalId` names it,
/// attributed by `sessionId`, `clickId`, or else the customer registered with `customerEmail`
/// (`tracking::attribution::Keys::customer_email`).
fn payment(ctx: &Ctx, req: &Req, body: &Body, keys: Keys) -> Result<Value, Error> {
    let value = body.amount("leadValue")?.ok_or_else(|| Error::missing("leadValue"))?;
    let email = body.str("customerEmail")?;
    let keys = Keys { email: email.map(String::from), ..keys };
    let external_id = match merchant_id(body, "externalId")? {
        Some(id) => id,
        // AFFY records every payment call as a new lead; a random ID keeps that.
        None => format!("payment:{}", crate::secret::token("")),
    };
    let new = NewConversion {
        external_id,
        kind: "sale".into(),
        amount: Some(value.clone()),
        currency: body.str("currency")?.map(|c| money::currency("currency", c)).transpose()?,
        keys,
        source: Source::TrackingApi,
        actor: super::actor(req),
        test: super::is_test(req, body)?,
        customer_email: email.map(String::from),
        details: Details::default(),
        type_rate_only: false,
    };
    let lead = recorded_id(intake::record(&ctx.intake(), new)?)?;
    Ok(json!({
        "leadId": lead,
        "leadValue": number(&value),
        "conversionSource": "TRACKING_API",
        "message": "Payment linked to affiliate referral",
    }))
}

/// The id of a conversion just recorded; a duplicate is the usual 409 with the stored one.
fn recorded_id(outcome: Stored) -> Result<i64, Error> {
    match outcome {
        Stored::Created(c) | Stored::Replaced { conversion: c, .. } => Ok(c.id),
        duplicate => crate::web::answer::recorded(duplicate).map(|_| 0),
    }
}

/// A decimal text as a JSON number with its digits (no float in between). Leading zeros, which a
/// JSON number cannot have, are dropped: `007.50` answers `7.50`.
fn number(text: &str) -> Value {
    let digits = text.trim_start_matches('0');
    let json = if digits.is_empty() || digits.starts_with('.') { format!("0{digits}") } else { digits.to_string() };
    serde_json::from_str::<Value>(&json).ok().filter(Value::is_number).unwrap_or_else(|| Value::String(text.into()))
}
