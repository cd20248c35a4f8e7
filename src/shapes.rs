//! The JSON shapes of domain objects that leave the appliance by more than one road: a
//! conversion looks the same in an API answer (`http::views`) and in a webhook's payload
//! (`store::webhooks`, rendered inside the write transaction), so there is one function per
//! shape, here, that both call. Pure: it formats what it is given and reads nothing else (no
//! SQL, no HTTP, no clock).

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::tracking::conversion::Conversion;

/// A conversion as the API shows it: amounts in its currency's minor digits, times in RFC 3339.
pub fn conversion(c: &Conversion) -> Value {
    json!({
        "id": c.id,
        "external_id": c.external_id,
        "type": c.kind,
        "referral_code": c.referral_code,
        "offer": c.offer,
        "click_id": c.click_id,
        "customer_id": c.customer_id,
        "coupon": c.coupon,
        "amount": c.currency.format(c.amount),
        "refunded_amount": c.currency.format(c.refunded_amount),
        "currency": c.currency.code(),
        "commission": c.currency.format(c.commission),
        "status": c.status.as_str(),
        "source": c.source.as_str(),
        "attributed_by": c.attributed_by.as_str(),
        "rate_source": c.rate_source.as_str(),
        "goal": c.details.goal,
        "geo": c.details.geo,
        "commission_id": c.details.commission_id,
        "test": c.test,
        "flags": c.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
    })
}
