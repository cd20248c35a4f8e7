//! `/portal/reset/{token}`: the link of a password-reset e-mail (`forgot.rs`). It works once,
//! for an hour, and only the newest one sent. Choosing the password (hashed here, on the
//! password gate's threads) uses the link up, sets the password, ends every portal session of
//! the affiliate and logs this browser in, in one transaction
//! (`intake::accounts::reset_password`): of two submissions exactly one wins, the other gets
//! the 410 page. A link that is used, revoked, expired or unknown is the same 410 page.

use super::{REALM, form_expired, layout};
use crate::error::Error;
use crate::intake::accounts;
use crate::password;
use crate::store::portal::{Acceptance, OpenInvite};
use crate::store::resets;
use crate::tracking::portal::{MIN_PASSWORD_CHARS, check_password};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment};
use crate::web::Ctx;
use crate::web::form::Form;
use crate::web::session::{self, is_https};

fn gone() -> Response {
    let body = fragment!(
        "<div class=\"login\"><div class=\"card\"><h1 style=\"margin-top:0\">This link no longer works</h1>\
         <p class=\"sub\">A password-reset link works once, for an hour, and only the newest one sent to you. \
         <a href=\"/portal/forgot\">Ask for a new one</a>, or <a href=\"/portal/login\">log in</a>.</p>\
         </div></div>"
    );
    Response::html(410, layout::bare_page("Reset link used or expired", &body))
}

fn paused() -> Response {
    let body = fragment!(
        "<div class=\"login\"><div class=\"card\"><h1 style=\"margin-top:0\">Your account is paused</h1>\
         <p class=\"sub\">The portal is closed to paused accounts. Ask the merchant about it.</p></div></div>"
    );
    Response::html(403, layout::bare_page("Account paused", &body))
}

fn form_page(status: u16, token: &str, csrf: &str, who: &OpenInvite, error: Option<&str>) -> Response {
    let error = match error {
        Some(text) => fragment!("<div class=\"notice error\" role=\"alert\">{}</div>", text),
        None => Html::new(),
    };
    let body = fragment!(
        "<div class=\"login\"><p class=\"brand\" style=\"justify-content:center;margin-bottom:18px\"><i></i>affiliated</p>\
         <div class=\"card\"><h1 style=\"margin-top:0\">Choose a new password</h1>\
         <p class=\"sub\">For {}, who logs in with the referral code <strong class=\"mono\">{}</strong>. Use at least \
         {} characters. Every browser logged in to your account is logged out.</p>{}\
         <form method=\"post\" action=\"/portal/reset/{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"text\" name=\"username\" value=\"{}\" autocomplete=\"username\" hidden>\
         <label for=\"password\">New password</label>\
         <input id=\"password\" type=\"password\" name=\"password\" autocomplete=\"new-password\" minlength=\"{}\" \
         required autofocus>\
         <label for=\"password_again\">The same password again</label>\
         <input id=\"password_again\" type=\"password\" name=\"password_again\" autocomplete=\"new-password\" required>\
         <button class=\"btn primary\" type=\"submit\" style=\"width:100%\">Set password and log in</button></form>\
         </div></div>",
        who.name,
        who.referral_code,
        MIN_PASSWORD_CHARS,
        error,
        token,
        csrf,
        who.referral_code,
        MIN_PASSWORD_CHARS
    );
    Response::html(status, layout::bare_page("Choose a new password", &body))
}

fn with_form(ctx: &Ctx, req: &Req, status: u16, who: &OpenInvite, error: Option<&str>) -> Response {
    let (csrf, set_cookie) = session::form_token(&REALM, req, is_https(ctx, req));
    let page = form_page(status, req.param(0), &csrf, who, error);
    match set_cookie {
        Some(cookie) => page.with_header("Set-Cookie", cookie),
        None => page,
    }
}

pub fn form(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    match resets::open(&ctx.db, req.param(0), crate::clock::now_ms())? {
        None => Ok(gone()),
        Some(who) if who.paused => Ok(paused()),
        Some(who) => Ok(with_form(ctx, req, 200, &who, None)),
    }
}

pub fn submit(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let form = Form::parse(req)?;
    if !session::form_token_matches(&REALM, req, &form) {
        return Ok(form_expired());
    }
    let token = req.param(0).to_string();
    let who = match resets::open(&ctx.db, &token, crate::clock::now_ms())? {
        None => return Ok(gone()),
        Some(who) if who.paused => return Ok(paused()),
        Some(who) => who,
    };
    let password = form.raw("password");
    if let Err(problem) = check_password(password) {
        return Ok(with_form(ctx, req, 400, &who, Some(&problem)));
    }
    if form.raw("password_again") != password {
        return Ok(with_form(ctx, req, 400, &who, Some("The two passwords differ. Type the same one twice.")));
    }
    let hash = password::hash(password)?;
    let new = REALM.new_session();
    let stored = hash.clone();
    let cookie = session::cookie_of(&REALM, &new, is_https(ctx, req));
    match accounts::reset_password(&ctx.intake(), &token, hash, new)? {
        Acceptance::Accepted(id) => {
            log::info!(target: super::login::LOG_TARGET, "affiliate {id} reset their password by e-mail link");
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
