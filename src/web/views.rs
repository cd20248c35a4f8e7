//! How stored objects look in API responses: amounts as decimal strings in their currency's
//! minor digits, times as RFC 3339 UTC, identifiers as the merchant knows them.

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::store::affiliates::Affiliate;
use crate::store::applications::Application;
use crate::store::clicks::Click;
use crate::store::connectors::ReceivedHook;
use crate::store::coupons::Coupon;
use crate::store::customers::Customer;
use crate::store::deliveries::{Delivery, Progress};
use crate::store::events::Event;
use crate::store::offers::Offer;
use crate::store::postbacks::Received;
use crate::store::rates::AffiliateRate;
use crate::store::webhook_deliveries::WebhookDelivery;
use crate::store::webhooks::Webhook;
use crate::tracking::commission::Rule;
use crate::tracking::conversion::Conversion;
use crate::tracking::ledger::Balances;
use crate::tracking::money::Currency;
use crate::tracking::outbound::DeliveryStatus;
use crate::tracking::payout::{ItemsShown, Payout};

pub fn affiliate(a: &Affiliate, public_url: &str) -> Value {
    json!({
        "referral_code": a.referral_code,
        "name": a.name,
        "email": a.email,
        "postback_url": a.postback_url,
        "tracking_link": tracking_link(public_url, &a.referral_code),
        "created_at": rfc3339(a.created_at),
        "status": if a.paused { "paused" } else { "active" },
        "payout_email": a.payout_email,
        "payout_details": a.payout_details,
        "terms_url": a.terms.as_ref().map(|t| &t.url),
        "terms_accepted_at": a.terms.as_ref().map(|t| rfc3339(t.accepted_at)),
    })
}

/// An application to join the program. `referral_code` is the code the applicant wished for;
/// `affiliate_referral_code` the code of the affiliate its approval made. Erased ones have no
/// name, e-mail, website or payout e-mail (`null`).
pub fn application(a: &Application) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "email": a.email,
        "website": a.website,
        "referral_code": a.referral_code,
        "payout_email": a.payout_email,
        "terms_url": a.terms.as_ref().map(|t| &t.url),
        "terms_accepted_at": a.terms.as_ref().map(|t| rfc3339(t.accepted_at)),
        "status": a.status.as_str(),
        "created_at": rfc3339(a.created_at),
        "decided_at": a.decided_at.map(rfc3339),
        "reason": a.reason,
        "affiliate_referral_code": a.affiliate,
        "erased_at": a.erased_at.map(rfc3339),
    })
}

/// An affiliate as the catalog shows it to a test key: without the personal data (e-mail, payout
/// e-mail and details) and the postback URL (affiliates' trackers often take a secret in it),
/// which are `null`.
pub fn affiliate_for_test_key(a: &Affiliate, public_url: &str) -> Value {
    let mut view = affiliate(a, public_url);
    for field in ["email", "postback_url", "payout_email", "payout_details"] {
        view[field] = Value::Null;
    }
    view
}

/// The cursor of the page after `rows` (every list, API and admin): the last row's key when the
/// page is full, else none. A full page always carries one, so the last page may come back empty.
pub fn next_cursor<T>(rows: &[T], page_size: usize, key: impl Fn(&T) -> String) -> Option<String> {
    (rows.len() == page_size).then(|| rows.last().map(key)).flatten()
}

/// The link an affiliate shares: `{public_url}/r/{referral_code}`.
pub fn tracking_link(public_url: &str, referral_code: &str) -> String {
    format!("{public_url}/r/{referral_code}")
}

pub fn offer(o: &Offer, event_rates: &[(String, Rule)]) -> Value {
    let commission =
        if event_rates.is_empty() { rule(o.commission, o.currency) } else { rules(event_rates, o.currency) };
    json!({
        "id": o.public_id,
        "name": o.name,
        "landing_url": o.landing_url,
        "commission": commission,
        "attribution": o.attribution.as_str(),
        "click_window_days": o.click_window_days,
        "currency": o.currency.code(),
        "default": o.is_default,
        "status": if o.paused { "paused" } else { "active" },
        "recurring_months": o.recurring_months,
        "max_conversions_per_click": o.max_conversions_per_click,
        "approve_after_days": o.approve_after_days,
        "allowed_hosts": o.allowed_hosts,
        "created_at": rfc3339(o.created_at),
    })
}

/// A commission rule as the API shows it.
pub fn rule(r: Rule, currency: Currency) -> Value {
    json!({"type": r.kind(), "value": r.display_value(currency.minor_digits())})
}

/// Rules by conversion type: an object keyed by type; a single rule for every type as itself.
fn rules(by_type: &[(String, Rule)], currency: Currency) -> Value {
    match by_type {
        [(every, r)] if every == crate::store::rates::EVERY_TYPE => rule(*r, currency),
        _ => Value::Object(by_type.iter().map(|(t, r)| (t.clone(), rule(*r, currency))).collect()),
    }
}

/// An affiliate's special rate on an offer.
pub fn affiliate_rate(r: &AffiliateRate, o: &Offer) -> Value {
    json!({"offer": o.public_id, "referral_code": r.referral_code, "commission": rules(&r.rules, o.currency)})
}

pub fn coupon(c: &Coupon) -> Value {
    json!({
        "code": c.code,
        "referral_code": c.referral_code,
        "offer": c.offer_public_id,
        "created_at": rfc3339(c.created_at),
        "active": c.active,
    })
}

pub fn click(c: &Click) -> Value {
    let [s1, s2, s3, s4, s5] = &c.subs;
    json!({
        "id": c.id,
        "referral_code": c.referral_code,
        "offer": c.offer,
        "session_id": c.session_id,
        "created_at": rfc3339(c.created_at),
        "landing_url": c.landing_url,
        "referrer": c.referrer,
        "user_agent": c.user_agent,
        "ip": c.ip,
        "source": c.source,
        "sub1": s1, "sub2": s2, "sub3": s3, "sub4": s4, "sub5": s5,
        "test": c.test,
        "flags": c.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
    })
}

/// A conversion: the one shape, shared with webhook payloads (`crate::shapes`).
pub fn conversion(c: &Conversion) -> Value {
    crate::shapes::conversion(c)
}

pub fn conversion_with_events(c: &Conversion, events: &[Event]) -> Value {
    let mut v = conversion(c);
    v["events"] = events
        .iter()
        .map(|e| {
            json!({
                "at": rfc3339(e.at),
                "actor": e.actor,
                "action": e.action.as_str(),
                "from_status": e.from_status.map(|s| s.as_str()),
                "to_status": e.to_status.as_str(),
                "amount_delta": c.currency.format(e.amount_delta),
                "commission_delta": c.currency.format(e.commission_delta),
                "reason": e.reason,
                "refund_id": e.refund_id,
            })
        })
        .collect();
    v
}

pub fn customer(c: &Customer) -> Value {
    json!({
        "customer_id": c.customer_id,
        "referral_code": c.referral_code,
        "offer": c.offer,
        "click_id": c.click_id,
        "coupon": c.coupon,
        "email": c.email,
        "name": c.name,
        "created_at": rfc3339(c.created_at),
        "test": c.test,
    })
}

/// A page of a list: `{"data": [...], "next_cursor": "..." | null}`.
pub fn page(data: Vec<Value>, next_cursor: Option<String>) -> Value {
    json!({ "data": data, "next_cursor": next_cursor })
}

pub fn delivery(d: &Delivery) -> Value {
    with_progress(
        json!({
            "id": d.id,
            "referral_code": d.referral_code,
            "conversion_id": d.conversion_id,
            "event": d.event.as_str(),
            "url": d.url,
        }),
        &d.progress,
    )
}

/// `object` followed by how a delivery (postback or merchant webhook) is going.
fn with_progress(mut object: Value, p: &Progress) -> Value {
    let progress = json!({
        "status": p.status.as_str(),
        "attempts": p.attempts,
        "next_attempt_at": (p.status == DeliveryStatus::Pending).then(|| rfc3339(p.next_attempt_at)),
        "last_attempt_at": p.last_attempt_at.map(rfc3339),
        "last_status": p.last_status,
        "last_error": p.last_error,
        "created_at": rfc3339(p.created_at),
        "delivered_at": p.delivered_at.map(rfc3339),
    });
    if let (Value::Object(fields), Value::Object(more)) = (&mut object, progress) {
        fields.extend(more);
    }
    object
}

pub fn received(r: &Received) -> Value {
    json!({
        "id": r.id,
        "received_at": rfc3339(r.received_at),
        "dialect": r.dialect,
        "method": r.method,
        "params": serde_json::from_str::<Value>(&r.params).unwrap_or(Value::Null),
        "status": r.status,
        "outcome": r.outcome.as_str(),
        "error_code": r.error_code,
        "conversion_id": r.conversion_id,
    })
}

pub fn hook(h: &ReceivedHook) -> Value {
    json!({
        "id": h.id,
        "received_at": rfc3339(h.received_at),
        "connector": h.connector,
        "event_id": h.event_id,
        "event_type": h.event_type,
        "test": h.test,
        "action": h.action,
        "reference": h.reference,
        "outcome": h.outcome,
        "error_code": h.error_code,
        "detail": h.detail,
        "replayed": h.replayed,
        "conversion_id": h.conversion_id,
    })
}

/// An affiliate's balances: `{"balances": [{currency, pending, available, in_payouts, paid}]}`.
pub fn balances(rows: &[(Currency, Balances)]) -> Value {
    let balances: Vec<Value> = rows
        .iter()
        .map(|(c, b)| {
            json!({
                "currency": c.code(),
                "pending": c.format(b.pending),
                "available": c.format(b.available),
                "in_payouts": c.format(b.in_payouts),
                "paid": c.format(b.paid),
            })
        })
        .collect();
    json!({ "balances": balances })
}

/// A payout with its items: the one shape, shared with `payout.paid` webhook payloads.
pub fn payout(p: &Payout, items: &ItemsShown) -> Value {
    crate::shapes::payout(p, items)
}

/// A payout run: what it was asked, where it stands and what it made.
pub fn payout_run(r: &crate::store::payouts::RunRow) -> Value {
    json!({
        "id": r.id,
        "run_id": r.run_id,
        "currency": r.currency.code(),
        "minimum": r.currency.format(r.minimum),
        "status": if r.complete { "complete" } else { "building" },
        "payouts": r.payouts,
        "amount": r.currency.format(r.amount),
        "created_at": rfc3339(r.created_at),
        "completed_at": r.completed_at.map(rfc3339),
    })
}

/// A merchant webhook, never with its secret (shown once, by `POST /api/v1/webhooks`).
pub fn webhook(w: &Webhook) -> Value {
    json!({
        "id": w.id,
        "url": w.url,
        "events": w.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "created_at": rfc3339(w.created_at),
    })
}

/// One event sent to a merchant webhook and how its delivery went, with the payload as sent.
pub fn webhook_delivery(d: &WebhookDelivery) -> Value {
    with_progress(
        json!({
            "id": d.id,
            "webhook_id": d.webhook_id,
            "message_id": d.message_id,
            "event": d.event.as_str(),
            "conversion_id": d.conversion_id,
            "payload": serde_json::from_str::<Value>(&d.payload).unwrap_or(Value::Null),
        }),
        &d.progress,
    )
}
