//! The affiliate portal under `/portal` (#13): where an affiliate logs in and sees their own
//! numbers, links, conversions and payouts, and keeps their postback URL and payout details.
//! Server-rendered like the admin, with the same UI kit (`ui::html` for escaping, `ui::layout`'s
//! style sheet, script and Content-Security-Policy), but never a link to, or a word about,
//! `/admin`. `--portal off` removes every `/portal` path (decided by the site, `routes/site.rs`).
//! It imports no other area.
//!
//! Invariants:
//! - **Only their own.** Every page reads through the logged-in affiliate's id, which only
//!   [`guard`] sets (`Req::affiliate_id`, from the server-side session); no handler takes an
//!   affiliate from the URL, and an id in a URL that is not theirs is a 404, exactly like an id
//!   that does not exist.
//! - **No personal data of customers, ever**: no customer e-mail, name, IP, user agent or
//!   customer ID; order and payout references only as their last 4 characters
//!   (`tracking::portal::last_chars`); test conversions are not shown.
//! - **Sessions are the shared mechanism** (`web::session`, realm [`REALM`]): server-side,
//!   `HttpOnly`, `SameSite=Strict`, `Secure` under HTTPS, ended by logout, by a re-invite
//!   (`store::portal::invite`) and by pausing the affiliate (`store::affiliates::update`); a
//!   paused affiliate's session is also refused here on every request. Every POST carries a
//!   CSRF token: the session's, or before login the form token of `session::form_token`.
//! - Password hashing (Argon2id, `crate::password`) runs on the password gate's own threads,
//!   never on the writer.
//!
//! Failed logins are counted per client address, per affiliate for browsers new to the account,
//! and per device cookie ([`LIMITS`], `web::throttle`); like the password gate, they are
//! process-wide state, so they live in a static rather than in `Ctx`.

pub mod apply;
pub mod conversions;
pub mod forgot;
pub mod invite;
pub mod layout;
pub mod link_builder;
pub mod links;
pub mod login;
pub mod overview;
pub mod payouts;
pub mod reset;
pub mod set_password;
pub mod settings;
pub mod unsubscribe;

use std::sync::LazyLock;
use std::time::Duration;

use crate::error::Error;
use crate::store::affiliates::{self, Affiliate};
use crate::store::sessions::Principal;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment};
use crate::ui::layout::Notice;
use crate::web::Ctx;
use crate::web::session::{self, Realm, Refusal, is_https};
use crate::web::throttle::LoginLimits;

pub const COOKIE: &str = "affiliated_portal";
/// How long a portal session lasts from its login.
pub const LIFETIME: Duration = Duration::from_secs(24 * 3600);

pub const REALM: Realm =
    Realm { cookie: COOKIE, path: "/portal", lifetime: LIFETIME, admits: |p| matches!(p, Principal::Affiliate(_)) };

/// Rows per page in every portal list.
pub const PAGE_SIZE: usize = 50;

/// Failed logins allowed within [`FAILURE_WINDOW`]: from one address; for one affiliate from
/// browsers that never logged in to the account (from anywhere, so spreading guesses over many
/// addresses does not help; larger, so one address's guesses lock out that address, not the
/// affiliate); and from one browser that did (its device cookie, `web::device`).
pub const MAX_FAILURES_PER_ADDRESS: u32 = 10;
pub const MAX_FAILURES_PER_AFFILIATE: u32 = 20;
pub const MAX_FAILURES_PER_DEVICE: u32 = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Failed portal logins, by affiliate id.
pub static LIMITS: LazyLock<LoginLimits<i64>> = LazyLock::new(|| {
    LoginLimits::new(MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_AFFILIATE, MAX_FAILURES_PER_DEVICE, FAILURE_WINDOW)
});

/// A device cookie for affiliate `affiliate_id` whose password hash is `password_hash`, if the
/// server has its device key (see `web::device`).
pub fn device_cookie(ctx: &Ctx, req: &Req, affiliate_id: i64, password_hash: &str) -> Option<String> {
    let key = ctx.config.device_key.as_ref()?;
    let now = crate::clock::now_ms();
    Some(crate::web::device::issue(
        key,
        &REALM,
        &affiliate_id.to_string(),
        password_hash.as_bytes(),
        crate::web::session::is_https(ctx, req),
        now,
    ))
}

/// Whether `path` belongs to the portal.
pub fn is_portal_path(path: &str) -> bool {
    path == "/portal" || path.starts_with("/portal/")
}

/// Whether `path` is the application form (`/portal/apply`, and `/portal/signup` leading to it),
/// which exists only while applications are on (`--signup`).
pub fn is_application_path(path: &str) -> bool {
    path == "/portal/apply" || path == "/portal/signup"
}

/// Lets a request through to a logged-in portal page: a live portal session of an affiliate who
/// is not paused, and for a POST its CSRF token. Sets `req.affiliate_id`. Otherwise the response
/// to send instead (303 to the login form, or 403).
pub fn guard(ctx: &Ctx, req: &mut Req) -> Result<(), Response> {
    let refusal = match crate::web::session::guard(ctx, &REALM, req) {
        Ok(session) => match session.principal {
            Principal::Affiliate(id) => match crate::store::portal::may_use_portal(&ctx.db, id) {
                Ok(true) => {
                    req.affiliate_id = Some(id);
                    return Ok(());
                }
                Ok(false) => Refusal::NoSession,
                Err(e) => Refusal::Failed(e),
            },
            Principal::Admin => Refusal::NoSession,
        },
        Err(refusal) => refusal,
    };
    req.csrf = None;
    Err(match refusal {
        Refusal::NoSession => Response::see_other("/portal/login".to_string()),
        Refusal::Csrf => {
            log::warn!("portal {} {} refused: missing or wrong CSRF token", req.method.as_str(), req.path);
            form_expired()
        }
        Refusal::Failed(e) => {
            log::error!("portal {}: while reading the session: {e}", req.method.as_str());
            error_page(req, &e)
        }
    })
}

/// The page for a form posted without its token (or with a stale one): nothing changed.
pub fn form_expired() -> Response {
    let body = fragment!(
        "<div class=\"login\"><div class=\"card\"><h1>This form has expired</h1>\
         <p class=\"sub\">Nothing was changed. Go back, reload the page and try again.</p>\
         <a class=\"btn\" href=\"/portal\">Back to the portal</a></div></div>"
    );
    Response::html(403, layout::bare_page("Form expired", &body))
}

/// A form page with the form token in its `csrf` field (and its cookie, for a new browser): the
/// login, application and forgotten-password forms.
fn with_form_token(ctx: &Ctx, req: &Req, page: impl FnOnce(&str) -> Response) -> Response {
    let (token, set_cookie) = session::form_token(&REALM, req, is_https(ctx, req));
    let response = page(&token);
    match set_cookie {
        Some(cookie) => response.with_header("Set-Cookie", cookie),
        None => response,
    }
}

/// The logged-in affiliate (set by [`guard`]).
pub fn me(ctx: &Ctx, req: &Req) -> Result<Affiliate, Error> {
    let id = req.affiliate_id.ok_or_else(|| Error::internal("a portal handler ran without a portal session"))?;
    affiliates::get(&ctx.db, id)?.ok_or_else(|| Error::not_found("not_found", "this account no longer exists"))
}

/// The one answer to an id that is not the affiliate's (or does not exist): the same 404 either
/// way, so a page never tells another affiliate's ids from unused ones.
pub fn not_theirs() -> Error {
    Error::not_found("not_found", "There is nothing here. It may have been moved, or the link is mistyped.")
}

/// An error from a handler, as a page.
pub fn error_page(req: &Req, e: &Error) -> Response {
    let full = |title: &str, body: &Html| layout::page(req, title, "", &Notice::None, body);
    crate::ui::layout::error_page_of(req, e, ("/portal", "Back to your overview"), &full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_realm_admits_only_affiliates_and_covers_only_the_portal() {
        assert!((REALM.admits)(Principal::Affiliate(7)));
        assert!(!(REALM.admits)(Principal::Admin));
        assert!(is_portal_path("/portal") && is_portal_path("/portal/links"));
        assert!(!is_portal_path("/portals") && !is_portal_path("/admin") && !is_portal_path("/"));
    }
}
