//! Matching a request to a route: the mechanism, not the table. The table (`routes::ROUTES`,
//! which names every handler) lives above the web areas and reaches the transport through its
//! [`Site`](super::Site); here are what a row is ([`Route`]: method, path pattern, [`Access`],
//! [`Handler`]), how a path finds its row ([`find`]: `{name}` segments capture one
//! percent-decoded path segment, HEAD is served by GET routes), and how a handler runs
//! ([`run`]: a panic becomes a 500). The pattern doubles as the metrics and log label.
//!
//! Architecture Invariant: no web area here, and no access rule: [`Access`] is carried with each
//! row for the site to check (`routes::access`); the transport never reads it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::request::{Method, Req};
use super::response::Response;
use crate::error::Error;

/// A handler: a plain function of the site's context (`web::Ctx`) and the request.
pub type Handler<C> = fn(&mut C, &Req) -> Result<Response, Error>;

/// Who may call a route. Checked by the site before the handler runs (`routes::access`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Public,
    /// An API key, and which keys may call it.
    ApiKey(KeyScope),
    /// The admin's login form: exists only when an admin token is set, needs no session.
    AdminLogin,
    /// An admin page: a session cookie, and for POST a CSRF token (see `admin::guard`).
    Admin,
    /// The portal's login and invite pages: exist only with the portal on, need no session.
    PortalLogin,
    /// A portal page: an affiliate's session cookie, and for POST a CSRF token (`portal::guard`).
    Portal,
}

/// What a test key (`keys create --test`) may do on an API endpoint; live keys may do all. Every
/// API route names one, and docs/controls.md lists them all (a test walks the table with a test
/// key and checks each answer against that list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyScope {
    /// Live keys only: a test key is answered 403 `live_key_required` before the handler runs
    /// (live money, payouts, catalog changes, secrets, webhooks, connectors, erasure).
    Live,
    /// Live and test keys; with a test key (`Req::test_key`) the handler writes test data and
    /// reads and changes test data only: a live object is as unknown to it as a missing one.
    TestData,
    /// Live and test keys alike: reading the catalog (affiliates, offers, coupons, rates). A test
    /// key reads affiliates without their personal data or postback URL.
    Catalog,
}

impl KeyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Live => "live",
            KeyScope::TestData => "test data",
            KeyScope::Catalog => "catalog",
        }
    }
}

/// One row of a route table.
pub struct Route<C: 'static> {
    pub method: Method,
    pub pattern: &'static str,
    pub access: Access,
    pub handler: Handler<C>,
}

pub const fn route<C>(method: Method, pattern: &'static str, access: Access, handler: Handler<C>) -> Route<C> {
    Route { method, pattern, access, handler }
}

pub enum Found<C: 'static> {
    Route(&'static Route<C>, Vec<String>),
    /// The path exists, but not for this method; these methods would work.
    WrongMethod(Vec<Method>),
    Nothing,
}

/// Finds the route of `routes` for a request. HEAD is served by GET routes.
pub fn find<C>(routes: &'static [Route<C>], method: Method, path: &str) -> Found<C> {
    let wanted = if method == Method::Head { Method::Get } else { method };
    let mut allowed = Vec::new();
    for route in routes {
        let Some(params) = matches(route.pattern, path) else {
            continue;
        };
        if route.method == wanted {
            return Found::Route(route, params);
        }
        allowed.push(route.method);
    }
    if allowed.is_empty() { Found::Nothing } else { Found::WrongMethod(allowed) }
}

/// Runs `route`'s handler. A panic is caught and answered as an internal error: one bad request
/// never takes a worker, let alone the server, down.
pub fn run<C>(route: &Route<C>, ctx: &mut C, req: &Req) -> Result<Response, Error> {
    catch_unwind(AssertUnwindSafe(|| (route.handler)(ctx, req))).unwrap_or_else(|panic| {
        Err(Error::internal(format!("handler panicked: {}", crate::error::panic_text(&*panic))))
    })
}

/// The answer for a path no route has (or one the site hides).
pub fn not_found(req: &Req) -> Response {
    let path = crate::tracking::validate::metadata(&req.path, 200);
    Response::error(&Error::not_found("not_found", format!("no endpoint at {path}")))
}

fn matches(pattern: &str, path: &str) -> Option<Vec<String>> {
    // A path the pattern's literal start (up to its first parameter) does not begin with cannot
    // match: one comparison turns away most of the table before anything is split.
    let literal = pattern.split_once('{').map_or(pattern, |(literal, _)| literal);
    if !path.starts_with(literal) {
        return None;
    }
    let mut params = Vec::new();
    let mut pattern_parts = pattern.split('/');
    let mut path_parts = path.split('/');
    loop {
        match (pattern_parts.next(), path_parts.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) if p.starts_with('{') => {
                if s.is_empty() {
                    return None;
                }
                params.push(percent_encoding::percent_decode_str(s).decode_utf8().ok()?.into_owned());
            }
            (Some(p), Some(s)) if p == s => {}
            _ => return None,
        }
    }
}
