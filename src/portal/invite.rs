//! Invites: the merchant makes one (`POST /api/v1/affiliates/{code}/invite`, or the admin's
//! button: both call `intake::accounts::invite`) and hands the link to the affiliate, who opens it
//! (`GET /portal/invite/{token}`), chooses a password and is logged in
//! (`POST /portal/invite/{token}`, fields `password` and `csrf`).
//!
//! The flow is the one it shares with reset links (`set_password.rs`): the password is hashed
//! on the password gate's threads (`crate::password`) before anything is written; `intake::accounts::accept_invite` then consumes the invite, stores the
//! hash and the new session in one transaction (`store::portal::accept`), so two submissions
//! of one link have exactly one winner and the loser gets the 410 page. An invite link that is used, revoked, expired or unknown is a 410
//! page whatever the reason, so a link tells nothing about other links.

use super::layout;
use super::set_password::{self, Link};
use crate::error::Error;
use crate::intake::accounts;
use crate::store::portal::{self, OpenInvite};
use crate::tracking::portal::MIN_PASSWORD_CHARS;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment};
use crate::web::Ctx;

const LINK: Link = Link {
    kind: "invite",
    title: "Choose your password",
    open: portal::open_invite,
    accept: accounts::accept_invite,
    gone,
    paused,
    intro,
    again_optional: true,
    done: "accepted a portal invite and set a password",
};

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

fn intro(invite: &OpenInvite) -> Html {
    fragment!(
        "<h1 style=\"margin-top:0\">Welcome, {}</h1>\
         <p class=\"sub\">Choose a password for the affiliate portal. You will log in with your referral code \
         <strong class=\"mono\">{}</strong> and this password. Use at least {} characters; a few unrelated words \
         work well.</p>",
        invite.name,
        invite.referral_code,
        MIN_PASSWORD_CHARS
    )
}

pub fn form(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    set_password::form(&LINK, ctx, req)
}

pub fn accept(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    set_password::submit(&LINK, ctx, req)
}
