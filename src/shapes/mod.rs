//! The JSON shapes of domain objects that leave the appliance by more than one road: a
//! conversion (or a payout) looks the same in an API answer (`web::views`) and in a merchant
//! webhook's payload (rendered by the store inside the write transaction), so there is one
//! function per shape, here, that both call. Pure: it formats what it is given and reads
//! nothing else (no SQL, no HTTP, no clock).

pub mod csv;
pub mod payout_files;

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::tracking::conversion::Conversion;
use crate::tracking::money::Currency;
use crate::tracking::payout::{Item, ItemsShown, Payout};

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

/// A payout with the ledger entries it holds, as the API shows it.
pub fn payout(p: &Payout, items: &ItemsShown) -> Value {
    let c = p.currency;
    json!({
        "id": p.id,
        "referral_code": p.referral_code,
        "currency": c.code(),
        "amount": c.format(p.amount),
        "status": p.status.as_str(),
        "items": items.first.iter().map(|i| payout_item(c, i)).collect::<Vec<_>>(),
        "items_count": items.count,
        "items_next_cursor": items.next_cursor.map(|n| n.to_string()),
        "reference": p.reference,
        "run": p.run,
        "run_id": p.run_id,
        "created_at": rfc3339(p.created_at),
        "paid_at": p.paid_at.map(rfc3339),
        "cancelled_at": p.cancelled_at.map(rfc3339),
    })
}

/// One ledger entry a payout holds, in `currency`.
pub fn payout_item(c: Currency, i: &Item) -> Value {
    json!({
        "seq": i.seq,
        "kind": i.kind.as_str(),
        "conversion_id": i.conversion_id,
        "external_id": i.external_id,
        "amount": c.format(i.amount),
        "at": rfc3339(i.at),
    })
}
