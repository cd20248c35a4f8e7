//! What the admin's lists say about each row: when it happened, in words that read as they
//! stand ("just now", "5 minutes ago"), on every page that shows it.

use serde_json::json;

use crate::admin::{Session, TOKEN};
use crate::support::Server;

/// A server with an admin token and every connector's secret, seeded (`ann`, offer `main`).
fn server() -> Server {
    crate::hooks::server(&["--admin-token", TOKEN])
}

#[test]
fn the_log_pages_say_when_in_words() {
    let s = server();
    // One row on each page: a shop webhook, an inbound postback, a merchant webhook delivery.
    let click = s.click("ann", json!({}));
    let event = crate::hooks::fixture_json("stripe/checkout.session.completed.payment.json", &click);
    let hook = crate::hooks::post_stripe(&s, &event);
    assert_eq!(hook.status, 200, "{}", hook.text());
    let token = crate::postbacks::token(&s);
    let postback = crate::postbacks::fire(&s, &format!("token={token}&click_id={click}&order_id=pb-1&amount=10.00"));
    assert_eq!(postback.status, 201, "{}", postback.text());
    crate::webhooks::create(&s, "https://hooks.shop.example/affiliated", &["conversion.created"]);
    crate::admin::order(&s, "ann", "order-1", "20.00");

    let admin = Session::start(&s);
    for page in ["/admin/hooks", "/admin/postbacks", "/admin/webhooks", "/admin/conversions"] {
        let r = admin.get(&s, page);
        assert_eq!(r.status, 200, "{page}");
        let text = r.text();
        assert!(text.contains(">just now</td>"), "{page} says when: {text}");
        assert!(!text.contains(" ago ago") && !text.contains("now ago"), "{page}: {text}");
    }
}
