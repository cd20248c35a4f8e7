//! The route table: every endpoint in one readable list of (method, path pattern, access,
//! handler), above the web areas whose handlers it names. `{name}` segments capture one path
//! segment; the pattern doubles as the metrics label. The transport matches requests against it
//! (`transport::router`, the mechanism) through [`Web`], the site this folder hands the transport
//! at start; `access.rs` checks each route's [`Access`] before its handler runs.
//!
//! Architecture Invariant: the one place that knows every area; no area imports it, and it
//! holds no handler of its own.

mod access;
mod site;

pub use access::invoke;
pub use site::Web;

use crate::admin;
use crate::admin::books;
use crate::api::{
    affiliates, applications, clicks, connectors, conversions, coupons, customers, emails, leads, offers, payouts,
    postbacks, statements, tracking, webhooks,
};
use crate::endpoints::{health, hooks, pixel, postback, redirect, snippet};
use crate::portal;
use crate::transport::Method::{self, Delete, Get, Patch, Post, Put};
use crate::transport::router::{self, route};
pub use crate::transport::router::{Access, KeyScope};
use crate::web::Ctx;

/// A row of the table.
pub type Route = router::Route<Ctx>;
/// What [`find`] found.
pub type Found = router::Found<Ctx>;

use Access::{Admin, AdminLogin, ApiKey, Portal, PortalLogin, Public};
use KeyScope::{Catalog, Live, TestData};

pub static ROUTES: &[Route] = &[
    route(Get, "/", Public, admin::home),
    route(Get, "/healthz", Public, health::healthz),
    route(Get, "/metrics", Public, health::metrics),
    route(Get, "/openapi.yaml", Public, health::openapi),
    route(Get, "/r/{referral_code}", Public, redirect::tracking_link),
    route(Get, "/postback", Public, postback::receive),
    route(Post, "/postback", Public, postback::receive),
    route(Get, "/aff_lsr", Public, postback::receive),
    route(Post, "/aff_lsr", Public, postback::receive),
    route(Get, "/aff_goal", Public, postback::receive),
    route(Post, "/aff_goal", Public, postback::receive),
    route(Get, "/pixel.gif", Public, pixel::pixel),
    route(Get, "/a.js", Public, snippet::script),
    route(Get, "/c/{referral_code}", Public, snippet::click),
    route(Post, "/hooks/stripe", Public, hooks::receive),
    route(Post, "/hooks/shopify", Public, hooks::receive),
    route(Post, "/hooks/woocommerce", Public, hooks::receive),
    route(Post, "/hooks/paddle", Public, hooks::receive),
    route(Get, "/.well-known/affiliated-statement-key", Public, statements::public_key),
    route(Post, "/api/v1/affiliates", ApiKey(Live), affiliates::create),
    route(Get, "/api/v1/affiliates", ApiKey(Catalog), affiliates::list),
    route(Get, "/api/v1/affiliates/{referral_code}", ApiKey(Catalog), affiliates::get),
    route(Patch, "/api/v1/affiliates/{referral_code}", ApiKey(Live), affiliates::update),
    route(Post, "/api/v1/affiliates/{referral_code}/postback-secret", ApiKey(Live), affiliates::rotate_secret),
    route(Post, "/api/v1/affiliates/{referral_code}/postback-test", ApiKey(Live), affiliates::test_postback),
    route(Delete, "/api/v1/affiliates/{referral_code}/personal-data", ApiKey(Live), affiliates::erase_personal_data),
    route(Get, "/api/v1/affiliates/{referral_code}/balance", ApiKey(Live), statements::balance),
    route(Get, "/api/v1/affiliates/{referral_code}/statement", ApiKey(Live), statements::statement),
    route(Post, "/api/v1/affiliates/{referral_code}/invite", ApiKey(Live), affiliates::invite),
    route(Get, "/api/v1/applications", ApiKey(Live), applications::list),
    route(Get, "/api/v1/applications/{id}", ApiKey(Live), applications::get),
    route(Post, "/api/v1/applications/{id}/approve", ApiKey(Live), applications::approve),
    route(Post, "/api/v1/applications/{id}/reject", ApiKey(Live), applications::reject),
    route(Delete, "/api/v1/applications/{id}/personal-data", ApiKey(Live), applications::erase_personal_data),
    route(Post, "/api/v1/offers", ApiKey(Live), offers::create),
    route(Get, "/api/v1/offers", ApiKey(Catalog), offers::list),
    route(Get, "/api/v1/offers/{id}", ApiKey(Catalog), offers::get),
    route(Patch, "/api/v1/offers/{id}", ApiKey(Live), offers::update),
    route(Get, "/api/v1/offers/{id}/rates", ApiKey(Catalog), offers::list_rates),
    route(Put, "/api/v1/offers/{id}/rates/{referral_code}", ApiKey(Live), offers::put_rate),
    route(Delete, "/api/v1/offers/{id}/rates/{referral_code}", ApiKey(Live), offers::delete_rate),
    route(Post, "/api/v1/coupons", ApiKey(Live), coupons::create),
    route(Get, "/api/v1/coupons", ApiKey(Catalog), coupons::list),
    route(Get, "/api/v1/coupons/{code}", ApiKey(Catalog), coupons::get),
    route(Patch, "/api/v1/coupons/{code}", ApiKey(Live), coupons::update),
    route(Delete, "/api/v1/coupons/{code}", ApiKey(Live), coupons::delete),
    route(Post, "/api/v1/clicks", ApiKey(TestData), clicks::create),
    route(Get, "/api/v1/clicks/{id}", ApiKey(TestData), clicks::get),
    route(Delete, "/api/v1/clicks/{id}", ApiKey(Live), clicks::erase),
    route(Post, "/api/v1/conversions", ApiKey(TestData), conversions::create),
    route(Get, "/api/v1/conversions", ApiKey(TestData), conversions::list),
    route(Get, "/api/v1/conversions/{id}", ApiKey(TestData), conversions::get),
    route(Delete, "/api/v1/conversions/{id}", ApiKey(TestData), conversions::delete),
    route(Post, "/api/v1/conversions/{id}/approve", ApiKey(TestData), conversions::approve),
    route(Post, "/api/v1/conversions/{id}/reject", ApiKey(TestData), conversions::reject),
    route(Post, "/api/v1/conversions/{id}/refund", ApiKey(TestData), conversions::refund),
    route(Post, "/api/v1/customers", ApiKey(TestData), customers::create),
    route(Get, "/api/v1/customers/{customer_id}", ApiKey(TestData), customers::get),
    route(Delete, "/api/v1/customers/{customer_id}", ApiKey(Live), customers::erase),
    route(Delete, "/api/v1/test-data", ApiKey(TestData), conversions::delete_test_data),
    route(Post, "/api/v1/leads", ApiKey(TestData), leads::create),
    route(Get, "/api/v1/tracking/status/{session_id}", ApiKey(TestData), leads::tracking_status),
    route(Post, "/api/v1/tracking/click", ApiKey(TestData), tracking::click),
    route(Post, "/api/v1/tracking/registration", ApiKey(TestData), tracking::registration),
    route(Post, "/api/v1/tracking/lead", ApiKey(TestData), tracking::lead),
    route(Get, "/api/v1/postback-url", ApiKey(Live), postbacks::get_url),
    route(Post, "/api/v1/postback-url/rotate", ApiKey(Live), postbacks::rotate_url),
    route(Get, "/api/v1/postbacks/received", ApiKey(Live), postbacks::received),
    route(Get, "/api/v1/postbacks", ApiKey(Live), postbacks::list),
    route(Post, "/api/v1/postbacks/{id}/retry", ApiKey(Live), postbacks::retry),
    route(Get, "/api/v1/emails", ApiKey(Live), emails::list),
    route(Post, "/api/v1/webhooks", ApiKey(Live), webhooks::create),
    route(Get, "/api/v1/webhooks", ApiKey(Live), webhooks::list),
    route(Get, "/api/v1/webhooks/{id}", ApiKey(Live), webhooks::get),
    route(Delete, "/api/v1/webhooks/{id}", ApiKey(Live), webhooks::delete),
    route(Post, "/api/v1/webhooks/{id}/test", ApiKey(Live), webhooks::test),
    route(Get, "/api/v1/webhooks/{id}/deliveries", ApiKey(Live), webhooks::deliveries),
    route(Post, "/api/v1/webhooks/deliveries/{id}/retry", ApiKey(Live), webhooks::retry),
    route(Get, "/api/v1/connectors", ApiKey(Live), connectors::list),
    route(Get, "/api/v1/connectors/{name}", ApiKey(Live), connectors::get),
    route(Put, "/api/v1/connectors/{name}", ApiKey(Live), connectors::put),
    route(Delete, "/api/v1/connectors/{name}", ApiKey(Live), connectors::delete),
    route(Get, "/api/v1/hooks/received", ApiKey(Live), connectors::received),
    route(Post, "/api/v1/payouts", ApiKey(Live), payouts::create),
    route(Get, "/api/v1/payouts", ApiKey(Live), payouts::list),
    route(Get, "/api/v1/payouts/{id}", ApiKey(Live), payouts::get),
    route(Get, "/api/v1/payouts/{id}/items", ApiKey(Live), payouts::items),
    route(Post, "/api/v1/payouts/{id}/mark-paid", ApiKey(Live), payouts::mark_paid),
    route(Post, "/api/v1/payouts/{id}/cancel", ApiKey(Live), payouts::cancel),
    route(Get, "/api/v1/payouts/{id}/export", ApiKey(Live), payouts::export),
    route(Get, "/admin/login", AdminLogin, admin::login::form),
    route(Post, "/admin/login", AdminLogin, admin::login::submit),
    route(Post, "/admin/logout", Admin, admin::login::logout),
    route(Get, "/admin", Admin, admin::overview::page),
    route(Get, "/admin/conversions", Admin, admin::conversions::page),
    route(Post, "/admin/conversions/decide", Admin, admin::conversions::decide_selected),
    route(Post, "/admin/conversions/{id}/approve", Admin, admin::conversions::approve),
    route(Post, "/admin/conversions/{id}/reject", Admin, admin::conversions::reject),
    route(Get, "/admin/affiliates", Admin, admin::affiliates::page),
    route(Post, "/admin/affiliates", Admin, admin::affiliates::create),
    route(Get, "/admin/affiliates/{referral_code}", Admin, admin::affiliates::edit),
    route(Post, "/admin/affiliates/{referral_code}", Admin, admin::affiliates::update),
    route(Post, "/admin/affiliates/{referral_code}/postback-secret", Admin, admin::affiliates::rotate_secret),
    route(Post, "/admin/affiliates/{referral_code}/postback-test", Admin, admin::affiliates::test_postback),
    route(Post, "/admin/affiliates/{referral_code}/invite", Admin, admin::affiliates::invite),
    route(Get, "/admin/applications", Admin, admin::applications::page),
    route(Post, "/admin/applications/{id}/approve", Admin, admin::applications::approve),
    route(Post, "/admin/applications/{id}/reject", Admin, admin::applications::reject),
    route(Get, "/admin/offers", Admin, admin::offers::page),
    route(Post, "/admin/offers", Admin, admin::offers::create),
    route(Get, "/admin/offers/{id}", Admin, admin::offers::edit),
    route(Post, "/admin/offers/{id}", Admin, admin::offers::update),
    route(Get, "/admin/coupons", Admin, admin::coupons::page),
    route(Post, "/admin/coupons", Admin, admin::coupons::create),
    route(Get, "/admin/coupons/{code}", Admin, admin::coupons::edit),
    route(Post, "/admin/coupons/{code}", Admin, admin::coupons::update),
    route(Get, "/admin/postbacks", Admin, admin::postbacks::page),
    route(Post, "/admin/postbacks/{id}/retry", Admin, admin::postbacks::retry),
    route(Get, "/admin/hooks", Admin, admin::hooks::page),
    route(Get, "/admin/webhooks", Admin, admin::webhooks::page),
    route(Post, "/admin/webhooks", Admin, admin::webhooks::create),
    route(Post, "/admin/webhooks/{id}/test", Admin, admin::webhooks::test),
    route(Post, "/admin/webhooks/{id}/delete", Admin, admin::webhooks::delete),
    route(Post, "/admin/webhook-deliveries/{id}/retry", Admin, admin::webhooks::retry),
    route(Get, "/admin/emails", Admin, admin::emails::page),
    route(Get, "/admin/reconcile", Admin, admin::reconcile::page),
    route(Post, "/admin/reconcile", Admin, admin::reconcile::check),
    route(Post, "/admin/reconcile/missing.csv", Admin, admin::reconcile::missing_csv),
    route(Get, "/admin/export/commissions.csv", Admin, admin::export::commissions),
    route(Get, "/admin/export/conversions.csv", Admin, admin::export::conversions),
    route(Get, "/admin/balances", Admin, books::balances::page),
    route(Get, "/admin/payouts", Admin, books::payouts::page),
    route(Post, "/admin/payouts", Admin, books::payouts::create),
    route(Get, "/admin/payouts/{id}", Admin, books::payouts::detail),
    route(Post, "/admin/payouts/{id}/mark-paid", Admin, books::payouts::mark_paid),
    route(Post, "/admin/payouts/{id}/cancel", Admin, books::payouts::cancel),
    route(Get, "/admin/payouts/{id}/export", Admin, books::payouts::export),
    route(Get, "/admin/payout-runs/{id}/export", Admin, books::payouts::export_run),
    route(Get, "/portal/login", PortalLogin, portal::login::form),
    route(Post, "/portal/login", PortalLogin, portal::login::submit),
    route(Get, "/portal/apply", PortalLogin, portal::apply::form),
    route(Post, "/portal/apply", PortalLogin, portal::apply::submit),
    route(Get, "/portal/signup", PortalLogin, portal::apply::signup),
    route(Get, "/portal/invite/{token}", PortalLogin, portal::invite::form),
    route(Post, "/portal/invite/{token}", PortalLogin, portal::invite::accept),
    route(Get, "/portal/forgot", PortalLogin, portal::forgot::form),
    route(Post, "/portal/forgot", PortalLogin, portal::forgot::submit),
    route(Get, "/portal/reset/{token}", PortalLogin, portal::reset::form),
    route(Post, "/portal/reset/{token}", PortalLogin, portal::reset::submit),
    route(Get, "/portal/unsubscribe/{token}", PortalLogin, portal::unsubscribe::form),
    route(Post, "/portal/unsubscribe/{token}", PortalLogin, portal::unsubscribe::submit),
    route(Post, "/portal/logout", Portal, portal::login::logout),
    route(Get, "/portal", Portal, portal::overview::page),
    route(Get, "/portal/links", Portal, portal::links::page),
    route(Get, "/portal/links/qr.svg", Portal, portal::link_builder::qr_svg),
    route(Get, "/portal/conversions", Portal, portal::conversions::page),
    route(Get, "/portal/conversions.csv", Portal, portal::conversions::csv),
    route(Get, "/portal/conversions/{id}", Portal, portal::conversions::detail),
    route(Get, "/portal/payouts", Portal, portal::payouts::page),
    route(Get, "/portal/payouts/{id}", Portal, portal::payouts::detail),
    route(Get, "/portal/statement.json", Portal, portal::payouts::statement),
    route(Get, "/portal/settings", Portal, portal::settings::page),
    route(Post, "/portal/settings", Portal, portal::settings::update),
    route(Post, "/portal/settings/postback-test", Portal, portal::settings::test_postback),
    route(Post, "/portal/settings/postback-secret", Portal, portal::settings::rotate_secret),
    route(Post, "/portal/settings/emails", Portal, portal::settings::update_emails),
];

/// Finds the route of the table for a request. HEAD is served by GET routes.
pub fn find(method: Method, path: &str) -> Found {
    router::find(ROUTES, method, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern_of(found: Found) -> Option<(&'static str, Vec<String>)> {
        match found {
            Found::Route(r, p) => Some((r.pattern, p)),
            _ => None,
        }
    }

    #[test]
    fn finds_routes_and_captures_params() {
        assert_eq!(
            pattern_of(find(Method::Post, "/api/v1/conversions/42/approve")),
            Some(("/api/v1/conversions/{id}/approve", vec!["42".to_string()]))
        );
        assert_eq!(
            pattern_of(find(Method::Get, "/r/ann%2Db")),
            Some(("/r/{referral_code}", vec!["ann-b".to_string()]))
        );
        assert_eq!(pattern_of(find(Method::Head, "/healthz")).map(|p| p.0), Some("/healthz"));
    }

    #[test]
    fn unknown_paths_and_wrong_methods() {
        assert!(matches!(find(Method::Get, "/nope"), Found::Nothing));
        assert!(matches!(find(Method::Get, "/r/"), Found::Nothing));
        assert!(matches!(find(Method::Get, "/api/v1/conversions/1/approve/x"), Found::Nothing));
        assert!(
            matches!(find(Method::Delete, "/api/v1/conversions"), Found::WrongMethod(m) if m == vec![Method::Post, Method::Get])
        );
    }

    /// The (method, path) pairs docs/openapi.yaml documents: path keys are indented two spaces
    /// under `paths:`, their operations four.
    fn documented() -> Vec<(String, String)> {
        let spec = crate::endpoints::health::OPENAPI;
        let paths = spec.split("\npaths:\n").nth(1).expect("a paths section");
        let paths = paths.split("\ncomponents:").next().unwrap();
        let mut found = Vec::new();
        let mut current = None;
        for line in paths.lines() {
            if let Some(path) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
                current = Some(format!("/{path}"));
            } else if let (Some(path), Some(method)) =
                (&current, line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')))
                && ["get", "post", "put", "patch", "delete"].contains(&method)
            {
                found.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
        found
    }

    #[test]
    fn the_openapi_document_describes_exactly_the_public_and_api_routes() {
        let documented = documented();
        let routed: Vec<(String, String)> = ROUTES
            .iter()
            .filter(|r| matches!(r.access, Access::Public | Access::ApiKey(_)))
            .map(|r| (r.method.as_str().to_string(), r.pattern.to_string()))
            .collect();
        for route in &routed {
            assert!(documented.contains(route), "{} {} is not in docs/openapi.yaml", route.0, route.1);
        }
        for doc in &documented {
            assert!(routed.contains(doc), "docs/openapi.yaml documents {} {}, which is not routed", doc.0, doc.1);
        }
    }

    #[test]
    fn patterns_are_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(!(a.method == b.method && a.pattern == b.pattern), "{} {}", a.method.as_str(), a.pattern);
            }
        }
    }
}
