//! `/portal/apply` (#24): the form a would-be affiliate fills in to join the program, with
//! `--signup review` (the merchant decides) or `open` (approved at once: the page hands them the
//! link to choose their password). With `--signup off` the site hides it (404), and
//! `/portal/signup`, the path people guess, leads here when it is on.
//!
//! The form is one of the portal's forms before login: its CSRF token is the form token
//! (`web::session::form_token`) and the browser's `Origin` must name this site. Against abuse:
//! at most [`PER_ADDRESS`] applications per client address an hour (the login throttle's
//! machinery, `web::throttle`; 429 with `Retry-After`), a honeypot field that people never see
//! and bots fill (answered exactly as a success, nothing stored), at most `MAX_PENDING` pending
//! applications (503), one pending per e-mail address (answered like a new one, so the form
//! never tells who applied). The fields are checked like the API's (`NewApplication::check`).
//!
//! The page says what happens next. With e-mail on (`--smtp-url`), the merchant is told of each
//! application by e-mail, and with `open` the set-password link goes to the applicant's address
//! instead of the screen, so that only the owner of the address can use it; without e-mail the
//! link is on the page, and the merchant sees the pending count in the admin's navigation.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use super::{REALM, form_expired, layout, with_form_token};
use crate::error::Error;
use crate::intake::applications::{Applied, Approval};
use crate::tracking::application::{MAX_PENDING, NewApplication, PER_ADDRESS, Signup, Terms, WINDOW_SECS};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment, html};
use crate::web::Ctx;
use crate::web::form::Form;
use crate::web::session;
use crate::web::throttle::{Throttle, address_key};

/// Applications per client address within the window: process-wide, like the login counts.
pub static LIMIT: LazyLock<Throttle<IpAddr>> =
    LazyLock::new(|| Throttle::new(PER_ADDRESS, Duration::from_secs(WINDOW_SECS)));

/// The honeypot: a field hidden from people (off-screen, out of the tab order, unnamed to
/// screen readers) that form-filling bots fill in.
pub const HONEYPOT: &str = "homepage";

/// `GET /portal/signup`: the application form's other name.
pub fn signup(_ctx: &mut Ctx, _req: &Req) -> Result<Response, Error> {
    Ok(Response::see_other("/portal/apply".into()))
}

pub fn form(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    Ok(with_form_token(ctx, req, |csrf| form_page(ctx, 200, csrf, &Form::default(), None)))
}

pub fn submit(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let form = Form::parse(req)?;
    if !session::form_token_matches(&REALM, req, &form) {
        return Ok(form_expired());
    }
    let again =
        |status: u16, text: &str| with_form_token(ctx, req, |csrf| form_page(ctx, status, csrf, &form, Some(text)));
    let terms = match &ctx.config.terms_url {
        Some(_) if !form.has("terms") => return Ok(again(400, "Accept the program's terms to apply.")),
        Some(url) => Some(Terms { url: url.clone(), accepted_at: crate::clock::now_ms() }),
        None => None,
    };
    let new = NewApplication {
        name: form.get("name").unwrap_or("").to_string(),
        email: form.get("email").unwrap_or("").to_string(),
        website: form.get("website").unwrap_or("").to_string(),
        referral_code: form.get("referral_code").unwrap_or("").to_string(),
        payout_email: form.get("payout_email").map(String::from),
        terms,
    };
    if let Err(e) = new.check() {
        return Ok(again(400, &e.message));
    }
    if let Err(wait) = LIMIT.take(address_key(req.client_ip), Instant::now()) {
        let minutes = wait.div_ceil(60);
        let text = format!(
            "Too many applications from your network in the last hour. Try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        );
        return Ok(again(429, &text).with_header("Retry-After", wait.to_string()));
    }
    if form.get(HONEYPOT).is_some() {
        log::info!(target: super::login::LOG_TARGET, "application from {} dropped: its honeypot field was filled", address(req));
        return Ok(decoy(ctx, &new));
    }
    match crate::intake::applications::apply(&ctx.intake(), new.clone())? {
        Applied::Received(a) => {
            log::info!(target: super::login::LOG_TARGET, "application {} received from {}", a.id, address(req));
            Ok(received(&new))
        }
        Applied::AlreadyPending => Ok(received(&new)),
        Applied::Full => Ok(full()),
        Applied::Approved(approval) => {
            log::info!(
                target: super::login::LOG_TARGET,
                "application {} from {} approved at once: affiliate {}",
                approval.application.id,
                address(req),
                approval.affiliate.id
            );
            Ok(approved(&approval.affiliate.name, &approval.affiliate.referral_code, next_of(&approval)))
        }
        Applied::CodeTaken => {
            let text = format!("The referral code {} is taken. Choose another.", new.referral_code);
            Ok(again(409, &text))
        }
    }
}

fn address(req: &Req) -> String {
    req.client_ip.map_or_else(|| "an unknown address".to_string(), |ip| ip.to_string())
}

/// What a new affiliate does next to choose their password.
enum Next<'a> {
    /// Follow the link shown on the page (e-mail is off).
    Link(&'a str),
    /// Open the e-mail sent to this address.
    Mailbox(&'a str),
    /// Nothing: the portal is off.
    Nothing,
}

fn next_of(approval: &Approval) -> Next<'_> {
    match &approval.invite {
        Some(invite) => match &invite.emailed_to {
            Some(address) => Next::Mailbox(address),
            None => Next::Link(&invite.url),
        },
        None => Next::Nothing,
    }
}

/// What a success would have answered, for a bot that filled the honeypot: the received page,
/// or with `--signup open` the approved page: with e-mail on, saying the link went to the
/// address; without, with a link that leads nowhere (an unknown invite is the same 410 as an
/// expired one).
fn decoy(ctx: &Ctx, new: &NewApplication) -> Response {
    match ctx.config.signup {
        Signup::Open => {
            let link = format!("{}/portal/invite/{}", ctx.config.public_url, crate::secret::token("afi_"));
            let next = match (ctx.config.portal, ctx.config.mail().is_some()) {
                (false, _) => Next::Nothing,
                (true, true) => Next::Mailbox(&new.email),
                (true, false) => Next::Link(&link),
            };
            approved(&new.name, &new.referral_code, next)
        }
        _ => received(new),
    }
}

fn card(title: &str, body: &Html) -> String {
    let page = fragment!(
        "<div class=\"login\" style=\"max-width:520px\"><p class=\"brand\" style=\"justify-content:center;margin-bottom:18px\">\
         <i></i>affiliated</p><div class=\"card\">{}</div></div>",
        body
    );
    layout::bare_page(title, &page)
}

fn form_page(ctx: &Ctx, status: u16, csrf: &str, draft: &Form, error: Option<&str>) -> Response {
    let what_next = if ctx.config.signup == Signup::Open {
        "Applications are approved at once: right after you apply, you choose your password and get your links."
    } else {
        "The merchant reviews each application and gets back to you at the address you give."
    };
    let mut body = fragment!(
        "<h1 style=\"margin-top:0\">Become an affiliate</h1><p class=\"sub\">Earn a commission on the sales you refer. \
         {}</p>{}<form method=\"post\" action=\"/portal/apply\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        what_next,
        match error {
            Some(text) => fragment!("<div class=\"notice error\" role=\"alert\">{}</div>", text),
            None => Html::new(),
        },
        csrf
    );
    let field = |body: &mut Html, name: &str, label: &str, kind: &str, required: bool| {
        html!(
            body,
            "<label for=\"{}\">{}</label><input id=\"{}\" type=\"{}\" name=\"{}\" value=\"{}\"{} \
             style=\"width:100%;margin:6px 0 14px\">",
            name,
            label,
            name,
            kind,
            name,
            draft.raw(name),
            Html::from_static(if required { " required" } else { "" })
        );
    };
    field(&mut body, "name", "Your name", "text", true);
    field(&mut body, "email", "E-mail", "email", true);
    field(&mut body, "website", "Your website, or how you promote", "text", true);
    field(&mut body, "referral_code", "The referral code you would like (letters, digits, - and _)", "text", true);
    field(&mut body, "payout_email", "PayPal e-mail for your payouts (optional)", "email", false);
    html!(
        body,
        "<div style=\"position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden\" aria-hidden=\"true\">\
         <label for=\"{}\">Leave this empty</label><input id=\"{}\" type=\"text\" name=\"{}\" value=\"\" tabindex=\"-1\" \
         autocomplete=\"off\"></div>",
        HONEYPOT,
        HONEYPOT,
        HONEYPOT
    );
    if let Some(url) = &ctx.config.terms_url {
        html!(
            body,
            "<label class=\"check\" style=\"margin:0 0 14px\"><input type=\"checkbox\" name=\"terms\" value=\"accepted\" \
             required{}> I accept the <a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">program's terms</a></label>",
            Html::from_static(if draft.has("terms") { " checked" } else { "" }),
            url.as_str()
        );
    }
    html!(
        body,
        "<button class=\"btn primary\" type=\"submit\" style=\"width:100%\">Apply</button></form>\
         <p class=\"muted\" style=\"margin:14px 0 0\">Already an affiliate? <a href=\"/portal/login\">Log in</a>.</p>"
    );
    Response::html(status, card("Apply", &body))
}

/// What happens next, once an application is in (or was answered as if it were).
fn received(new: &NewApplication) -> Response {
    let body = fragment!(
        "<h1 style=\"margin-top:0\">Thank you, {}</h1><p class=\"sub\">Your application is in. The merchant reviews \
         each one and will get back to you at <strong>{}</strong>. If they approve it, you receive a link to choose \
         your password, and then log in here with your referral code.</p>\
         <p class=\"muted\">Nothing more to do for now; you can close this page.</p>",
        new.name.as_str(),
        new.email.as_str()
    );
    Response::html(200, card("Application received", &body))
}

/// `--signup open`: they are an affiliate now; with the portal, how they choose a password.
fn approved(name: &str, code: &str, next: Next<'_>) -> Response {
    let next = match next {
        Next::Mailbox(address) => fragment!(
            "<p>We sent the link to choose your password to <strong>{}</strong>: open it within 7 days. It works \
             once.</p>",
            address
        ),
        Next::Link(url) => fragment!(
            "<p>Choose your password now: the link works once, for 7 days. Keep it to yourself.</p>\
             <p><a class=\"btn primary\" href=\"{}\">Choose your password</a></p>\
             <input id=\"invite-link\" class=\"mono\" type=\"text\" readonly value=\"{}\" style=\"width:100%\">",
            url,
            url
        ),
        Next::Nothing => Html::new(),
    };
    let body = fragment!(
        "<h1 style=\"margin-top:0\">Welcome, {}</h1><p class=\"sub\">You are an affiliate of this program. Your \
         referral code is <strong class=\"mono\">{}</strong>: you log in with it, and your links carry it.</p>{}",
        name,
        code,
        next
    );
    Response::html(200, card("Welcome", &body))
}

/// 503: the merchant has too many applications to decide.
fn full() -> Response {
    let body = fragment!(
        "<h1 style=\"margin-top:0\">Applications are paused</h1><p class=\"sub\">The merchant has {} applications \
         waiting for a decision and takes no new ones until they have decided some. Nothing was stored. Please try \
         again in a few days.</p>",
        MAX_PENDING
    );
    Response::html(503, card("Applications paused", &body)).with_header("Retry-After", "3600".to_string())
}
