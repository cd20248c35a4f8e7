//! `/portal/reset/{token}`: the link of a password-reset e-mail (`forgot.rs`). It works once,
//! for an hour, and only the newest one sent. Choosing the password (the flow it shares with
//! invites, `set_password.rs`) uses the link up, sets the password, ends every portal session of
//! the affiliate and logs this browser in, in one transaction
//! (`intake::accounts::reset_password`): of two submissions exactly one wins, the other gets
//! the 410 page. A link that is used, revoked, expired or unknown is the same 410 page.

use super::layout;
use super::set_password::{self, Link};
use crate::error::Error;
use crate::intake::accounts;
use crate::store::portal::OpenInvite;
use crate::store::resets;
use crate::tracking::portal::MIN_PASSWORD_CHARS;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment};
use crate::web::Ctx;

const LINK: Link = Link {
    kind: "reset",
    title: "Choose a new password",
    open: resets::open,
    accept: accounts::reset_password,
    gone,
    paused,
    intro,
    again_optional: false,
    done: "reset their password by e-mail link",
};

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

fn intro(who: &OpenInvite) -> Html {
    fragment!(
        "<h1 style=\"margin-top:0\">Choose a new password</h1>\
         <p class=\"sub\">For {}, who logs in with the referral code <strong class=\"mono\">{}</strong>. Use at least \
         {} characters. Every browser logged in to your account is logged out.</p>",
        who.name,
        who.referral_code,
        MIN_PASSWORD_CHARS
    )
}

pub fn form(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    set_password::form(&LINK, ctx, req)
}

pub fn submit(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    set_password::submit(&LINK, ctx, req)
}
