//! The JSON shapes of domain objects that leave the appliance by more than one road: a
//! conversion (or a payout) looks the same in an API answer (`web::views`) and in a merchant
//! webhook's payload (rendered by the store inside the write transaction), so there is one
//! function per shape, here, that both call. Pure: it formats what it is given and reads
//! nothing else (no SQL, no HTTP, no clock).

pub mod csv;
pub mod payout_files;

use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::tracking::conversion::Conversion;
use crate::tracking::money::Currency;
use crate::tracking::payout::{Item, ItemsShown, Payout};

/// A conversion as the API shows it: amounts in its currency's minor digits, times in RFC 3339.
pub fn conversion(c: &Conversion) -> Value {
    serde_json::to_value(conversion_view(c)).unwrap_or(Value::Null)
}

/// [`conversion`] before it becomes a `Value`: serialized directly, it writes the same bytes
/// without building the map (an answer of `POST /conversions` or `/postback` does; building
/// the `Value` was 5% of a conversion's instructions).
pub fn conversion_view(c: &Conversion) -> ConversionView<'_> {
    ConversionView {
        id: c.id,
        external_id: &c.external_id,
        kind: &c.kind,
        referral_code: &c.referral_code,
        offer: &c.offer,
        click_id: c.click_id.as_deref(),
        customer_id: c.customer_id.as_deref(),
        coupon: c.coupon.as_deref(),
        amount: c.currency.format(c.amount),
        refunded_amount: c.currency.format(c.refunded_amount),
        currency: c.currency.code(),
        commission: c.currency.format(c.commission),
        status: c.status.as_str(),
        source: c.source.as_str(),
        attributed_by: c.attributed_by.as_str(),
        rate_source: c.rate_source.as_str(),
        goal: c.details.goal.as_deref(),
        geo: c.details.geo.as_deref(),
        commission_id: c.details.commission_id.as_deref(),
        test: c.test,
        flags: c.flags.iter().map(|f| f.as_str()).collect(),
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
    }
}

/// The fields of [`conversion`], in the order they are written.
#[derive(Serialize)]
pub struct ConversionView<'a> {
    id: i64,
    external_id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    referral_code: &'a str,
    offer: &'a str,
    click_id: Option<&'a str>,
    customer_id: Option<&'a str>,
    coupon: Option<&'a str>,
    amount: String,
    refunded_amount: String,
    currency: &'static str,
    commission: String,
    status: &'static str,
    source: &'static str,
    attributed_by: &'static str,
    rate_source: &'static str,
    goal: Option<&'a str>,
    geo: Option<&'a str>,
    commission_id: Option<&'a str>,
    test: bool,
    flags: Vec<&'static str>,
    created_at: String,
    updated_at: String,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::attribution::Key;
    use crate::tracking::conversion::{Details, RateSource, Source, Status};
    use crate::tracking::fraud::Flag;

    /// The view writes the bytes the `json!` object of release 1 to 26 wrote (field order,
    /// names, nulls, amounts as text): API answers and webhook payloads did not change.
    #[test]
    fn the_view_writes_what_the_json_object_wrote() {
        let full = Conversion {
            id: 7,
            external_id: "o-\"1\"".into(),
            kind: "sale".into(),
            affiliate_id: 1,
            referral_code: "ann".into(),
            offer: "main".into(),
            click_id: Some("c1".into()),
            customer_id: Some("cus_1".into()),
            coupon: Some("ANN".into()),
            attributed_by: Key::Click,
            source: Source::Postback,
            currency: Currency::from_code("KWD").unwrap(),
            amount: 12_345,
            refunded_amount: 45,
            base_commission: 1_234,
            commission: 1_230,
            status: Status::Approved,
            created_at: 1_700_000_000_123,
            updated_at: 1_700_000_100_000,
            test: true,
            flags: vec![Flag::ClickReused, Flag::TooFast],
            rate_source: RateSource::EventType,
            details: Details { goal: Some("g".into()), geo: Some("DE".into()), commission_id: Some("x".into()) },
        };
        let bare = Conversion {
            click_id: None,
            customer_id: None,
            coupon: None,
            flags: Vec::new(),
            details: Details::default(),
            currency: Currency::from_code("JPY").unwrap(),
            ..full.clone()
        };
        for c in [full, bare] {
            let before = json!({
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
            .to_string();
            assert_eq!(serde_json::to_string(&conversion_view(&c)).unwrap(), before);
            assert_eq!(conversion(&c).to_string(), before);
        }
    }
}
