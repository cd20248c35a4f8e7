//! Logged-in browsers, once for every area that has them: the merchant admin and the affiliate
//! portal. An area is a [`Realm`]: its cookie, the path the cookie is sent to,
//! how long a session lasts, and which principals it admits. The mechanism is the same for all:
//!
//! - a login stores a session server-side (`intake::accounts`, on the writer; only the SHA-256
//!   of the cookie's 256-bit random token is kept), so logging out, or anything that ends a
//!   principal's sessions, takes effect at the next request, also for a copied cookie;
//! - the cookie is `HttpOnly`, `SameSite=Strict`, scoped to the realm's path, and `Secure`
//!   whenever the browser came over HTTPS;
//! - every POST must carry the session's CSRF token in its `csrf` form field; [`guard`] checks
//!   it before any handler runs and leaves it in `Req::csrf` for the page's forms;
//! - forms shown before a login (the portal's login and invite forms) carry a token bound to
//!   the browser by a cookie of its own ([`form_token`]) and must come from a page of this site;
//! - failed logins are counted per address, per account and per device cookie by
//!   `web::throttle`, and a successful login hands the browser a device cookie
//!   (`web::device`).
//!
//! What an area shows (its login form, its refusal pages) stays with the area. This module never
//! logs a token and never writes SQL itself; its writes are `intake::accounts`'.

use std::time::Duration;

use crate::error::Error;
pub use crate::intake::accounts::NewSession;
use crate::intake::accounts::{self, SESSION_TOKEN_PREFIX};
use crate::secret;
use crate::store::sessions::{self, Principal, Session};
use crate::transport::Req;
use crate::transport::request::Method;
use crate::web::Ctx;
use crate::web::form::Form;

/// A logged-in area of the site.
pub struct Realm {
    /// The cookie's name.
    pub cookie: &'static str,
    /// The path the browser sends the cookie to (the area's root).
    pub path: &'static str,
    /// How long a session lasts from its login (also the cookie's `Max-Age`).
    pub lifetime: Duration,
    /// Whether a session of this principal may use the area.
    pub admits: fn(Principal) -> bool,
}

impl Realm {
    /// A new session of this realm, not stored yet: an area's login stores it through
    /// `intake::accounts` and hands out [`cookie`] only once that committed.
    pub fn new_session(&self) -> NewSession {
        NewSession::new(self.lifetime)
    }
}

/// Whether the browser reached us over HTTPS (directly configured, or through the proxy).
pub fn is_https(ctx: &Ctx, req: &Req) -> bool {
    ctx.config.public_url.starts_with("https://")
        || req.headers.forwarded_proto.as_deref().is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// Opens a session for `principal` and returns the `Set-Cookie` value that hands it to the
/// browser. The session exists (committed) before the cookie is sent.
pub fn start(ctx: &Ctx, realm: &Realm, principal: Principal, secure: bool) -> Result<String, Error> {
    let session = realm.new_session();
    let cookie = cookie_of(realm, &session, secure);
    accounts::open_session(&ctx.intake(), session, principal)?;
    Ok(cookie)
}

/// The `Set-Cookie` value that hands `session` to the browser.
pub fn cookie_of(realm: &Realm, session: &NewSession, secure: bool) -> String {
    set_cookie(realm, Some(session.token()), secure)
}

/// The live session the request's cookie carries for this realm, if any.
pub fn current(ctx: &Ctx, realm: &Realm, req: &Req) -> Result<Option<Session>, Error> {
    let Some(token) = cookie(req.headers.cookie.as_deref(), realm.cookie) else { return Ok(None) };
    if !token.starts_with(SESSION_TOKEN_PREFIX) {
        return Ok(None);
    }
    let session = sessions::find(&ctx.db, token, crate::clock::now_ms())?;
    Ok(session.filter(|s| (realm.admits)(s.principal)))
}

/// Why [`guard`] turned a request away.
#[derive(Debug)]
pub enum Refusal {
    /// No live session: the area sends the browser to its login form.
    NoSession,
    /// A POST without this session's CSRF token: nothing may change.
    Csrf,
    /// The session could not be read.
    Failed(Error),
}

/// Lets a request into a logged-in page: a live session of this realm and, for a POST, its CSRF
/// token. On success the token is left in `req.csrf` for the page's forms.
pub fn guard(ctx: &Ctx, realm: &Realm, req: &mut Req) -> Result<Session, Refusal> {
    let session = current(ctx, realm, req).map_err(Refusal::Failed)?.ok_or(Refusal::NoSession)?;
    if req.method == Method::Post {
        let form = Form::parse(req).unwrap_or_default();
        let presented = form.raw("csrf");
        if !secret::constant_time_eq(presented.as_bytes(), session.csrf_token.as_bytes()) {
            return Err(Refusal::Csrf);
        }
    }
    req.csrf = Some(session.csrf_token.clone());
    Ok(session)
}

/// Ends the request's session on the server (if it has one) and returns the `Set-Cookie` value
/// that removes the cookie from the browser.
pub fn end(ctx: &Ctx, realm: &Realm, req: &Req, secure: bool) -> Result<String, Error> {
    if let Some(token) = cookie(req.headers.cookie.as_deref(), realm.cookie) {
        accounts::end_session(&ctx.intake(), token)?;
    }
    Ok(set_cookie(realm, None, secure))
}

/// The token a form shown before login carries in its `csrf` field, and the `Set-Cookie` value
/// that ties it to the browser when it does not have one yet. Such forms have no session to hold
/// a token, so the token lives in a cookie of its own (`<realm cookie>_form`: `HttpOnly`,
/// `SameSite=Strict`, the realm's path) and the form posts it back ("double submit"): a page on
/// another site can neither read the cookie nor make the browser send it along, so it cannot
/// post the form, and so cannot log a browser in to an account of its choosing.
pub fn form_token(realm: &Realm, req: &Req, secure: bool) -> (String, Option<String>) {
    let name = form_cookie(realm);
    match cookie(req.headers.cookie.as_deref(), &name).filter(|t| is_form_token(t)) {
        Some(token) => (token.to_string(), None),
        None => {
            let token = secret::token("");
            let secure = if secure { "; Secure" } else { "" };
            let set = format!(
                "{name}={token}; Path={}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
                realm.path,
                realm.lifetime.as_secs()
            );
            (token, Some(set))
        }
    }
}

/// Whether a form posted before login carries the token of [`form_token`] in its `csrf` field,
/// and comes from a page of this site (see [`same_origin`]).
pub fn form_token_matches(realm: &Realm, req: &Req, form: &Form) -> bool {
    let presented = form.raw("csrf");
    let expected = cookie(req.headers.cookie.as_deref(), &form_cookie(realm)).unwrap_or("");
    is_form_token(expected) && secret::constant_time_eq(presented.as_bytes(), expected.as_bytes()) && same_origin(req)
}

fn form_cookie(realm: &Realm) -> String {
    format!("{}_form", realm.cookie)
}

/// A token [`form_token`] could have made: 43 URL-safe base64 characters.
fn is_form_token(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether a browser's request comes from a page of this site: its `Origin` (sent by browsers
/// with every form post) names the host the request is for. Requests without `Origin` (other
/// clients, old browsers) pass; the CSRF token is the check that always applies.
pub fn same_origin(req: &Req) -> bool {
    let Some(origin) = req.headers.origin.as_deref() else { return true };
    let Some((_, authority)) = origin.split_once("://") else { return false };
    let host = req.headers.host.as_deref().unwrap_or("");
    !host.is_empty() && host_name(authority).eq_ignore_ascii_case(host_name(host))
}

/// The host name of `host[:port]` or `[v6]:port`. Ports are left out of the comparison: a proxy
/// may pass `Host` without the port the browser used.
fn host_name(authority: &str) -> &str {
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.trim())
}

/// The `Set-Cookie` value for a session token (or, with `None`, one that removes the cookie).
pub fn set_cookie(realm: &Realm, token: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    let (value, max_age) = match token {
        Some(token) => (token, realm.lifetime.as_secs()),
        None => ("", 0),
    };
    format!("{}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}", realm.cookie, realm.path)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const REALM: Realm = Realm {
        cookie: "area",
        path: "/area",
        lifetime: Duration::from_secs(3600),
        admits: |p| matches!(p, Principal::Admin),
    };

    #[test]
    fn cookies_are_found_and_set_with_their_flags() {
        assert_eq!(cookie(Some("a=1; area=afs_x; b=4"), "area"), Some("afs_x"));
        assert_eq!(cookie(Some("a=1"), "area"), None);
        assert_eq!(cookie(None, "area"), None);
        let set = set_cookie(&REALM, Some("afs_v"), true);
        assert_eq!(set, "area=afs_v; Path=/area; Max-Age=3600; HttpOnly; SameSite=Strict; Secure");
        assert!(!set_cookie(&REALM, Some("v"), false).contains("Secure"));
        assert_eq!(set_cookie(&REALM, None, false), "area=; Path=/area; Max-Age=0; HttpOnly; SameSite=Strict");
    }

    fn request(cookie: Option<&str>, origin: Option<&str>, host: Option<&str>) -> Req {
        let mut req = Req::from_parts(Method::Post, "/area/login", Default::default(), None);
        req.headers.cookie = cookie.map(String::from);
        req.headers.origin = origin.map(String::from);
        req.headers.host = host.map(String::from);
        req
    }

    fn form(csrf: &str) -> Form {
        Form::from_pairs(vec![("csrf".into(), csrf.into())])
    }

    #[test]
    fn forms_before_login_post_back_the_token_of_their_cookie() {
        let (token, set) = form_token(&REALM, &request(None, None, None), true);
        let set = set.expect("a new browser gets the cookie");
        assert_eq!(set, format!("area_form={token}; Path=/area; Max-Age=3600; HttpOnly; SameSite=Strict; Secure"));
        let cookie = format!("x=1; area_form={token}");
        let (again, none) = form_token(&REALM, &request(Some(&cookie), None, None), false);
        assert_eq!((again.as_str(), none), (token.as_str(), None), "the browser keeps its token");

        assert!(form_token_matches(&REALM, &request(Some(&cookie), None, None), &form(&token)));
        assert!(!form_token_matches(&REALM, &request(Some(&cookie), None, None), &form("")));
        assert!(!form_token_matches(&REALM, &request(Some(&cookie), None, None), &form(&token[1..])));
        assert!(!form_token_matches(&REALM, &request(None, None, None), &form(&token)), "no cookie");
        let short = "area_form=abc";
        assert!(!form_token_matches(&REALM, &request(Some(short), None, None), &form("abc")), "not one we made");
        // A post from another site's page is refused even with the right token.
        let same = request(Some(&cookie), Some("https://track.example"), Some("track.example"));
        assert!(form_token_matches(&REALM, &same, &form(&token)));
        let other = request(Some(&cookie), Some("https://evil.example"), Some("track.example"));
        assert!(!form_token_matches(&REALM, &other, &form(&token)));
    }

    #[test]
    fn the_origin_must_name_the_requested_host() {
        let check = |origin: Option<&str>, host: Option<&str>| same_origin(&request(None, origin, host));
        assert!(check(None, Some("track.example")), "no Origin: not a browser form post");
        assert!(check(Some("https://track.example"), Some("track.example")));
        assert!(check(Some("https://TRACK.example:8443"), Some("track.example")), "ports and case aside");
        assert!(check(Some("http://[::1]:8080"), Some("[::1]:8080")));
        assert!(!check(Some("https://evil.example"), Some("track.example")));
        assert!(!check(Some("https://track.example.evil.example"), Some("track.example")));
        assert!(!check(Some("null"), Some("track.example")));
        assert!(!check(Some("https://track.example"), None));
    }
}
