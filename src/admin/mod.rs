//! The merchant admin under `/admin`: small server-rendered pages, no JavaScript framework, no
//! external assets. It is on unless `--admin off`: with a configured token, or else with one
//! generated on the first start (`cli/bootstrap.rs`). When off, every `/admin` path is a 404
//! (decided by the site, `routes/site.rs`). The books (balances and payout runs) are
//! `books/`.
//!
//! Invariants: every page is behind a server-side session (`web::session`, with the admin's
//! realm in `session.rs`), except the login form; every POST carries the session's CSRF token,
//! checked by [`guard`] before any handler runs; GET never changes anything; every value on a
//! page is escaped (`ui::html`); every list is paginated. Handlers reuse the intake functions
//! and validation the JSON API uses: the admin adds screens, not rules. SQL stays in `store/`
//! (reports in `store/reports.rs`).
//!
//! Architecture Invariant: an area of its own; it imports no other area (`api`, `portal`,
//! `endpoints`), only `web/`, `ui/` and the layers below.

pub mod affiliates;
pub mod applications;
pub mod books;
pub mod conversions;
pub mod coupons;
pub mod emails;
pub mod export;
pub mod hooks;
pub mod login;
pub mod offers;
pub mod overview;
pub mod postbacks;
pub mod reconcile;
pub mod session;
pub mod webhooks;

use crate::ui::html::{self, Html, fragment};
use crate::ui::layout::{self, Notice};

use crate::error::Error;
use crate::transport::Req;
use crate::transport::request::Method;
use crate::transport::response::Response;
use crate::web::Ctx;
use crate::web::session::Refusal;

/// Rows per page in every admin list.
pub const PAGE_SIZE: usize = 50;

/// Whether `path` belongs to the admin.
pub fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// Lets a request through to a logged-in page: a live admin session, and for a POST its CSRF
/// token. Otherwise the response to send instead (303 to the login form, or 403).
pub fn guard(ctx: &Ctx, req: &mut Req) -> Result<(), Response> {
    match crate::web::session::guard(ctx, &session::REALM, req) {
        Ok(_) => {
            count_pending(ctx, req);
            Ok(())
        }
        Err(Refusal::NoSession) => {
            let mut next = req.path.clone();
            if req.method == Method::Get && !req.query.is_empty() {
                let pairs: Vec<(&str, &str)> = req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                next = format!("{next}?{}", html::query(&pairs));
            }
            Err(Response::see_other(format!("/admin/login?{}", html::query(&[("next", &next)]))))
        }
        Err(Refusal::Csrf) => {
            log::warn!("admin {} {} refused: missing or wrong CSRF token", req.method.as_str(), req.path);
            let body = fragment!(
                "<div class=\"login\"><div class=\"card\"><h1>This form has expired</h1>\
                 <p class=\"sub\">Nothing was changed. Go back, reload the page and try again.</p>\
                 <a class=\"btn\" href=\"/admin\">Back to the admin</a></div></div>"
            );
            Err(Response::html(403, layout::bare_page("Form expired", &body)))
        }
        Err(Refusal::Failed(e)) => {
            log::error!("admin {}: while reading the session: {e}", req.method.as_str());
            Err(error_page(req, &e))
        }
    }
}

/// Puts the number of pending applications beside their navigation entry (none when none);
/// called again by a page that has just changed that number.
pub(crate) fn count_pending(ctx: &Ctx, req: &mut Req) {
    req.nav_counts.retain(|(path, _)| *path != "/admin/applications");
    match crate::store::applications::pending_count(&ctx.db) {
        Ok(0) => {}
        Ok(n) => req.nav_counts.push(("/admin/applications", n)),
        Err(e) => log::warn!("admin: could not count the pending applications: {e}"),
    }
}

/// `GET /`: a person who opens the server in a browser lands on the admin when it is on.
pub fn home(ctx: &mut Ctx, _req: &Req) -> Result<Response, Error> {
    match ctx.admin {
        Some(_) => Ok(Response::see_other("/admin".to_string())),
        None => Err(Error::not_found("not_found", "no endpoint at /")),
    }
}

/// An error from a handler, as a page.
pub fn error_page(req: &Req, e: &Error) -> Response {
    let full = |title: &str, body: &Html| layout::page(req, title, "", &Notice::None, body);
    layout::error_page_of(req, e, ("/admin", "Back to the overview"), &full)
}

/// After a form post: 303 to `path` with `params` (e.g. a notice code), so reloading the page
/// that follows does not post again.
pub fn see_other(path: &str, params: &[(&str, &str)]) -> Response {
    let q = html::query(params);
    Response::see_other(if q.is_empty() { path.to_string() } else { format!("{path}?{q}") })
}

/// The notice named by `?done=` after a redirect. Only fixed texts: a link cannot put words
/// of its own on an admin page.
pub fn notice(req: &Req) -> Notice {
    let n = req.query("n").and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
    let skipped = req.query("skipped").and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
    let plural = |n: i64, word: &str| if n == 1 { format!("1 {word}") } else { format!("{} {word}s", html::count(n)) };
    let mut text = match req.query("done") {
        Some("approved") => format!("Approved {}.", plural(n, "conversion")),
        Some("rejected") => format!("Rejected {}.", plural(n, "conversion")),
        Some("none-selected") => "Select at least one conversion first.".to_string(),
        Some("created") => "Created.".to_string(),
        Some("saved") => "Saved.".to_string(),
        Some("retried") => "The postback is queued and will be sent within a few seconds.".to_string(),
        Some("test-queued") => "A test postback is queued; see it under Postbacks.".to_string(),
        Some("webhook-deleted") => "The webhook was deleted; nothing more is sent to it.".to_string(),
        Some("webhook-test-queued") => "A webhook.test event is queued; its delivery shows below.".to_string(),
        Some("webhook-retried") => "The webhook delivery is queued and will be sent within a few seconds.".to_string(),
        _ => return Notice::None,
    };
    if skipped > 0 {
        text.push_str(&format!(" {} not pending and stayed as they were.", plural(skipped, "conversion")));
    }
    Notice::Ok(text)
}

/// The last answer of an outbound delivery (a postback or a merchant webhook) as the admin
/// shows it: the error, else the HTTP status, else nothing yet.
pub fn last_answer(p: &crate::store::deliveries::Progress) -> String {
    match (p.last_status, &p.last_error) {
        (_, Some(error)) => error.clone(),
        (Some(code), None) => format!("HTTP {code}"),
        (None, None) => String::new(),
    }
}

/// A link to the next page of a list, keeping the current filters.
pub fn next_link(req: &Req, path: &str, cursor_name: &str, cursor: Option<String>) -> Html {
    let Some(cursor) = cursor else { return Html::new() };
    let mut pairs: Vec<(&str, &str)> = req
        .query
        .iter()
        .filter(|(k, _)| k != cursor_name && k != "done" && k != "n" && k != "skipped")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.push((cursor_name, &cursor));
    fragment!("<a class=\"btn\" href=\"{}?{}\">Next page →</a>", path, html::query(&pairs))
}
