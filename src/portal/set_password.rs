//! Choosing a password through a link that works once: an invite's (`invite.rs`) or a password
//! reset's (`reset.rs`). The flow is one: the form (with the pre-login form token), the
//! password's checks, its hash (on the password gate's threads, before anything is written),
//! then the link used up, the password stored and this browser logged in, in one transaction of
//! the link's own intake function, so that of two submissions exactly one wins and the other
//! gets the link's 410 page. Each kind of link brings its texts and its store and intake
//! functions in a [`Link`].
//!
//! Must never: tell one link from another when it is used, revoked, expired or unknown (one
//! 410 page for all of them).

use rusqlite::Connection;

use super::{REALM, form_expired, layout};
use crate::error::Error;
use crate::intake::Intake;
use crate::password;
use crate::store::portal::{Acceptance, OpenInvite};
use crate::tracking::portal::{MIN_PASSWORD_CHARS, check_password};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment};
use crate::web::Ctx;
use crate::web::form::Form;
use crate::web::session::{self, NewSession, is_https};

/// A kind of link that sets a password, at `/portal/{kind}/{token}`.
pub struct Link {
    pub kind: &'static str,
    /// The page's title.
    pub title: &'static str,
    /// The affiliate whose link `token` still works at a time.
    pub open: fn(&Connection, &str, i64) -> Result<Option<OpenInvite>, Error>,
    /// Uses the link up, stores the password's hash and opens the session, in one transaction.
    pub accept: fn(&Intake<'_>, &str, String, NewSession) -> Result<Acceptance, Error>,
    /// The 410 page of a link that no longer works.
    pub gone: fn() -> Response,
    /// The 403 page of a paused account.
    pub paused: fn() -> Response,
    /// The heading and the words above the form.
    pub intro: fn(&OpenInvite) -> Html,
    /// Whether a form without `password_again` is taken (invites: clients from before the field).
    pub again_optional: bool,
    /// What the log says once the password is set (after "affiliate N ").
    pub done: &'static str,
}

fn form_page(link: &Link, status: u16, token: &str, csrf: &str, who: &OpenInvite, error: Option<&str>) -> Response {
    let error = match error {
        Some(text) => fragment!("<div class=\"notice error\" role=\"alert\">{}</div>", text),
        None => Html::new(),
    };
    let body = fragment!(
        "<div class=\"login\"><p class=\"brand\" style=\"justify-content:center;margin-bottom:18px\"><i></i>affiliated</p>\
         <div class=\"card\">{}{}\
         <form method=\"post\" action=\"/portal/{}/{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"text\" name=\"username\" value=\"{}\" autocomplete=\"username\" hidden>\
         <label for=\"password\">New password</label>\
         <input id=\"password\" type=\"password\" name=\"password\" autocomplete=\"new-password\" minlength=\"{}\" \
         required autofocus>\
         <label for=\"password_again\">The same password again</label>\
         <input id=\"password_again\" type=\"password\" name=\"password_again\" autocomplete=\"new-password\" required>\
         <button class=\"btn primary\" type=\"submit\" style=\"width:100%\">Set password and log in</button></form>\
         </div></div>",
        (link.intro)(who),
        error,
        link.kind,
        token,
        csrf,
        who.referral_code,
        MIN_PASSWORD_CHARS
    );
    Response::html(status, layout::bare_page(link.title, &body))
}

/// `form_page` with the form token (and its cookie for a new browser).
fn with_form(link: &Link, ctx: &Ctx, req: &Req, status: u16, who: &OpenInvite, error: Option<&str>) -> Response {
    let (csrf, set_cookie) = session::form_token(&REALM, req, is_https(ctx, req));
    let page = form_page(link, status, req.param(0), &csrf, who, error);
    match set_cookie {
        Some(cookie) => page.with_header("Set-Cookie", cookie),
        None => page,
    }
}

/// `GET /portal/{kind}/{token}`: the form, or the page saying why there is none.
pub fn form(link: &Link, ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    match (link.open)(&ctx.db, req.param(0), crate::clock::now_ms())? {
        None => Ok((link.gone)()),
        Some(who) if who.paused => Ok((link.paused)()),
        Some(who) => Ok(with_form(link, ctx, req, 200, &who, None)),
    }
}

/// `POST /portal/{kind}/{token}` (fields `password`, `password_again`, `csrf`): sets the
/// password and logs this browser in.
pub fn submit(link: &Link, ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let form = Form::parse(req)?;
    if !session::form_token_matches(&REALM, req, &form) {
        return Ok(form_expired());
    }
    let token = req.param(0).to_string();
    let who = match (link.open)(&ctx.db, &token, crate::clock::now_ms())? {
        None => return Ok((link.gone)()),
        Some(who) if who.paused => return Ok((link.paused)()),
        Some(who) => who,
    };
    let password = form.raw("password");
    if let Err(problem) = check_password(password) {
        return Ok(with_form(link, ctx, req, 400, &who, Some(&problem)));
    }
    let again_missing = link.again_optional && !form.has("password_again");
    if !again_missing && form.raw("password_again") != password {
        let differ = "The two passwords differ. Type the same one twice.";
        return Ok(with_form(link, ctx, req, 400, &who, Some(differ)));
    }
    let hash = password::hash(password)?;
    let new = REALM.new_session();
    let stored = hash.clone();
    let cookie = session::cookie_of(&REALM, &new, is_https(ctx, req));
    match (link.accept)(&ctx.intake(), &token, hash, new)? {
        Acceptance::Accepted(id) => {
            log::info!(target: super::login::LOG_TARGET, "affiliate {id} {}", link.done);
            let response = Response::see_other("/portal".into()).with_header("Set-Cookie", cookie);
            Ok(match super::device_cookie(ctx, req, id, &stored) {
                Some(trust) => response.with_header("Set-Cookie", trust),
                None => response,
            })
        }
        Acceptance::Gone => Ok((link.gone)()),
        Acceptance::Paused => Ok((link.paused)()),
    }
}
