//! Invites: the merchant makes one (`POST /api/v1/affiliates/{code}/invite`, or the admin's
//! button: both call `intake::accounts::invite`) and hands the link to the affiliate, who opens it
//! (`GET /portal/invite/{token}`), chooses a password and is logged in
//! (`POST /portal/invite/{token}`, fields `password` and `csrf`).
//!
//! The password is hashed here (on the password gate's threads, `crate::password`), before
//! anything is written; `intake::accounts::accept_invite` then consumes the invite, stores the
//! hash and the new session in one transaction (`store::portal::accept`), so two submissions
//! of one link have exactly one winner and the loser gets the 410 page. An invite link that is used, revoked, expired or unknown is a 410
//! page whatever the reason, so a link tells nothing about other links.

use super::{REALM, form_expired, layout};
use crate::error::Error;
use crate::intake::accounts;
use crate::password;
use crate::store::portal::{self, Acceptance};
use crate::tracking::portal::{MIN_PASSWORD_CHARS, check_password};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment};
use crate::web::Ctx;
use crate::web::form::Form;
use crate::web::session;
use crate::web::session::is_https;

fn gone() -> Response {
    let body = fragment!(
        "<div class=\"login\"><div class=\"card\"><h1 style=\"margin-top:0\">This invite link no longer works</h1>\
         <p class=\"sub\">An invite link works once, for 7 days, and only the newest one sent to you. If you already \
         chose a password, <a href=\"/portal/login\">log in</a>. Otherwise ask the merchant for a new link.</p>\
         </div></div>"
    );
    Response::html(410, layout::bare_page("Invite used or expired", &body))
}

fn paused() -> Response {
    let body = fragment!(
        "<div class=\"login\"><div class=\"card\"><h1 style=\"margin-top:0\">Your account is paused</h1>\
         <p class=\"sub\">The portal is closed to paused accounts. Ask the merchant about it; this link keeps \
         working until it expires.</p></div></div>"
    );
    Response::html(403, layout::bare_page("Account paused", &body))
}

fn form_page(status: u16, token: &str, csrf: &str, invite: &portal::OpenInvite, error: Option<&str>) -> Response {
    let error = match error {
        Some(text) => fragment!("<div class=\"notice error\" role=\"alert\">{}</div>", text),
        None => Html::new(),
    };
    let body = fragment!(
        "<div class=\"login\"><p class=\"brand\" style=\"justify-content:center;margin-bottom:18px\"><i></i>affiliated</p>\
         <div class=\"card\"><h1 style=\"margin-top:0\">Welcome, {}</h1>\
         <p class=\"sub\">Choose a password for the affiliate portal. You will log in with your referral code \
         <strong class=\"mono\">{}</strong> and this password. Use at least {} characters; a few unrelated words \
         work well.</p>{}\
         <form method=\"post\" action=\"/portal/invite/{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"text\" name=\"username\" value=\"{}\" autocomplete=\"username\" hidden>\
         <label for=\"password\">New password</label>\
         <input id=\"password\" type=\"password\" name=\"password\" autocomplete=\"new-password\" minlength=\"{}\" \
         required autofocus>\
         <label for=\"password_again\">The same password again</label>\
         <input id=\"password_again\" type=\"password\" name=\"password_again\" autocomplete=\"new-password\" required>\
         <button class=\"btn primary\" type=\"submit\" style=\"width:100%\">Set password and log in</button></form>\
         </div></div>",
        invite.name,
        invite.referral_code,
        MIN_PASSWORD_CHARS,
        error,
        token,
        csrf,
        invite.referral_code,
        MIN_PASSWORD_CHARS
    );
    Response::html(status, layout::bare_page("Choose your password", &body))
}

/// `form_page` with the form token (and its cookie for a new browser).
fn with_form(ctx: &Ctx, req: &Req, status: u16, invite: &portal::OpenInvite, error: Option<&str>) -> Response {
    let (csrf, set_cookie) = session::form_token(&REALM, req, is_https(ctx, req));
    let page = form_page(status, req.param(0), &csrf, invite, error);
    match set_cookie {
        Some(cookie) => page.with_header("Set-Cookie", cookie),
        None => page,
    }
}

pub fn form(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    match portal::open_invite(&ctx.db, req.param(0), crate::clock::now_ms())? {
        None => Ok(gone()),
        Some(invite) if invite.paused => Ok(paused()),
        Some(invite) => Ok(with_form(ctx, req, 200, &invite, None)),
    }
}

pub fn accept(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let form = Form::parse(req)?;
    if !session::form_token_matches(&REALM, req, &form) {
        return Ok(form_expired());
    }
    let token = req.param(0).to_string();
    let invite = match portal::open_invite(&ctx.db, &token, crate::clock::now_ms())? {
        None => return Ok(gone()),
        Some(invite) if invite.paused => return Ok(paused()),
        Some(invite) => invite,
    };
    let password = form.raw("password");
    if let Err(problem) = check_password(password) {
        return Ok(with_form(ctx, req, 400, &invite, Some(&problem)));
    }
    if form.has("password_again") && form.raw("password_again") != password {
        return Ok(with_form(ctx, req, 400, &invite, Some("The two passwords differ. Type the same one twice.")));
    }
    let hash = password::hash(password)?;
    let new = REALM.new_session();
    let stored = hash.clone();
    let cookie = session::cookie_of(&REALM, &new, is_https(ctx, req));
    match accounts::accept_invite(&ctx.intake(), &token, hash, new)? {
        Acceptance::Accepted(id) => {
            log::info!(target: super::login::LOG_TARGET, "affiliate {id} accepted a portal invite and set a password");
            let response = Response::see_other("/portal".into()).with_header("Set-Cookie", cookie);
            Ok(match super::device_cookie(ctx, req, id, &stored) {
                Some(trust) => response.with_header("Set-Cookie", trust),
                None => response,
            })
        }
        Acceptance::Gone => Ok(gone()),
        Acceptance::Paused => Ok(paused()),
    }
}
