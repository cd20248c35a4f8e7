//! `/admin/affiliates`: list, create, edit (name, email, payout details, postback URL), the tracking link to
//! copy, and the outbound postback's signing secret and test. Validation is the API's
//! (`web::input::new_affiliate` and `affiliate_changes`).

use super::{PAGE_SIZE, see_other};
use crate::error::Error;
use crate::intake::{self, accounts::Invite, affiliates::Saved};
use crate::store::affiliates::{self, Affiliate};
use crate::store::deliveries::TestPostback;
use crate::store::portal;
use crate::tracking::outbound::POSTBACK_MACROS;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout::{self, Notice};
use crate::web::form::Form;
use crate::web::input::{affiliate_changes, new_affiliate};
use crate::web::{Ctx, views};

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    list_page(ctx, req, super::notice(req), &Form::default(), 200)
}

fn list_page(ctx: &Ctx, req: &Req, notice: Notice, draft: &Form, status: u16) -> Result<Response, Error> {
    let after = req.query("after").and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
    let rows = affiliates::list(&ctx.db, after, PAGE_SIZE)?;
    let next = views::next_cursor(&rows, PAGE_SIZE, |a| a.id.to_string());
    let mut body = fragment!(
        "<h1>Affiliates</h1><p class=\"sub\">Partners who earn commission. Each shares their tracking link.</p>\
         <div class=\"table\"><table data-narrow-hide=\"3 4 5\"><thead><tr><th>Name</th><th>Referral code</th><th>Email</th><th>Tracking link</th>\
         <th>Postback</th><th>Since</th></tr></thead><tbody>"
    );
    for a in &rows {
        html!(
            body,
            "<tr><td><a href=\"/admin/affiliates/{}\">{}</a></td><td class=\"mono\">{}</td><td>{}</td>\
             <td class=\"mono clip\">{}</td><td>{}</td><td>{}</td></tr>",
            a.referral_code,
            a.name,
            a.referral_code,
            a.email.as_deref().unwrap_or("–"),
            views::tracking_link(&ctx.config.public_url, &a.referral_code),
            if a.postback_url.is_some() {
                html::badge("set")
            } else {
                Html::from_static("<span class=\"muted\">–</span>")
            },
            crate::clock::day_text(crate::clock::day_of(a.created_at))
        );
    }
    if rows.is_empty() {
        html!(body, "<tr><td colspan=\"6\" class=\"empty\">No affiliates yet: add the first one below.</td></tr>");
    }
    html!(
        body,
        "</tbody></table></div><div class=\"pager\"><span></span>{}</div>",
        super::next_link(req, "/admin/affiliates", "after", next)
    );
    html!(
        body,
        "<h2>Add an affiliate</h2><div class=\"card\"><form method=\"post\" action=\"/admin/affiliates\">{}<div class=\"form-grid\">\
         <label>Name<input type=\"text\" name=\"name\" required value=\"{}\" placeholder=\"Ann's Outdoor Blog\"></label>\
         <label>Referral code<input type=\"text\" name=\"referral_code\" required pattern=\"[A-Za-z0-9_-]{{1,64}}\" value=\"{}\" placeholder=\"ann\"></label>\
         <label>Email (optional)<input type=\"email\" name=\"email\" value=\"{}\"></label>\
         <label>Postback URL (optional)<input type=\"url\" name=\"postback_url\" value=\"{}\" placeholder=\"https://tracker.example/pb?cid={{click_id}}\"></label>\
         <div><button class=\"btn primary\" type=\"submit\">Add affiliate</button></div></div></form></div>",
        layout::csrf_field(req),
        draft.raw("name"),
        draft.raw("referral_code"),
        draft.raw("email"),
        draft.raw("postback_url")
    );
    Ok(Response::html(status, layout::page(req, "Affiliates", "/admin/affiliates", &notice, &body)))
}

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let form = Form::parse(req)?;
    let new = match new_affiliate(&form) {
        Ok(new) => new,
        Err(e) => return list_page(ctx, req, Notice::Error(e.message), &form, e.status),
    };
    match intake::affiliates::create(&ctx.intake(), new) {
        Ok(Saved { affiliate: a, postback_secret: Some(secret) }) => {
            edit_page(ctx, req, &a, secret_notice(secret), None, 201)
        }
        Ok(Saved { affiliate: a, postback_secret: None }) => {
            Ok(see_other(&format!("/admin/affiliates/{}", a.referral_code), &[("done", "created")]))
        }
        Err(e) if e.status < 500 => list_page(ctx, req, Notice::Error(e.message), &form, e.status),
        Err(e) => Err(e),
    }
}

/// Where an affiliate's postback signing secret goes.
const TRACKER: &str = "copy it into the affiliate's tracker to verify the X-Affiliated-Signature header.";

fn secret_notice(secret: String) -> Notice {
    Notice::Secret {
        what: "A signing secret for this affiliate's postbacks was created.".into(),
        use_it: TRACKER,
        value: secret,
    }
}

fn find(ctx: &Ctx, req: &Req) -> Result<Affiliate, Error> {
    affiliates::by_code(&ctx.db, req.param(0))?.ok_or_else(|| affiliates::unknown(req.param(0)))
}

pub fn edit(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let affiliate = find(ctx, req)?;
    edit_page(ctx, req, &affiliate, super::notice(req), None, 200)
}

fn edit_page(
    ctx: &Ctx,
    req: &Req,
    a: &Affiliate,
    notice: Notice,
    draft: Option<&Form>,
    status: u16,
) -> Result<Response, Error> {
    let value = |field: &str, stored: Option<&str>| match draft {
        Some(form) => form.raw(field).to_string(),
        None => stored.unwrap_or("").to_string(),
    };
    let link = views::tracking_link(&ctx.config.public_url, &a.referral_code);
    let macros: Vec<String> = POSTBACK_MACROS.iter().map(|m| format!("{{{m}}}")).collect();
    let mut body = fragment!(
        "<p class=\"muted\" style=\"margin:18px 0 0\"><a href=\"/admin/affiliates\">Affiliates</a> /</p>\
         <div class=\"spread\"><div><h1>{}{}</h1><p class=\"sub mono\">{}</p></div>\
         <a class=\"btn\" href=\"/admin/conversions?affiliate={}\">View conversions</a></div>\
         <div class=\"card\"><h2>Tracking link</h2><div class=\"copy\"><input id=\"tracking-link\" class=\"mono\" type=\"text\" readonly value=\"{}\">\
         <button class=\"btn\" type=\"button\" data-copy=\"tracking-link\">Copy</button></div>\
         <p class=\"muted\" style=\"margin:8px 0 0\">Add <span class=\"mono\">?offer=ID</span> for another offer than the default, \
         and <span class=\"mono\">sub1</span> to <span class=\"mono\">sub5</span> for the affiliate's own tracking.</p></div>",
        a.name,
        if a.paused { Html::from_static(" <span class=\"tag\">paused</span>") } else { Html::new() },
        a.referral_code,
        a.referral_code,
        link
    );
    html!(
        body,
        "<h2>Details</h2><div class=\"card\"><form method=\"post\" action=\"/admin/affiliates/{}\">{}<div class=\"form-grid\">\
         <label>Name<input type=\"text\" name=\"name\" required value=\"{}\"></label>\
         <label>Email<input type=\"email\" name=\"email\" value=\"{}\"></label>\
         <label>Status<select name=\"status\"><option value=\"active\">active</option>\
         <option value=\"paused\"{}>paused: links redirect without a click, conversions are rejected</option></select></label>\
         <label>Payout e-mail (PayPal)<input type=\"email\" id=\"payout_email\" name=\"payout_email\" value=\"{}\"></label></div>\
         <label style=\"margin-top:12px\">Payout details (bank account, name; personal data)\
         <textarea name=\"payout_details\" rows=\"2\" style=\"width:100%\">{}</textarea></label>\
         <label style=\"margin-top:12px\">Postback URL (called on every new, approved, rejected or refunded conversion)\
         <input type=\"url\" name=\"postback_url\" style=\"width:100%\" value=\"{}\" placeholder=\"https://tracker.example/pb?cid={{click_id}}&amp;payout={{commission}}\"></label>\
         <p class=\"muted\">Macros: <span class=\"mono\">{}</span>. Leave empty to send no postbacks.</p>\
         <button class=\"btn primary\" type=\"submit\">Save</button></form></div>",
        a.referral_code,
        layout::csrf_field(req),
        value("name", Some(&a.name)),
        value("email", a.email.as_deref()),
        Html::from_static(if value("status", Some(if a.paused { "paused" } else { "active" })) == "paused" {
            " selected"
        } else {
            ""
        }),
        value("payout_email", a.payout_email.as_deref()),
        value("payout_details", a.payout_details.as_deref()),
        value("postback_url", a.postback_url.as_deref()),
        macros.join(" ")
    );
    if ctx.config.portal {
        body.buffer().push_str(portal_card(ctx, req, a)?.as_str());
    }
    if a.postback_url.is_some() {
        html!(
            body,
            "<h2>Postback signing</h2><div class=\"card row\"><span class=\"muted\" style=\"flex:1\">Each postback carries \
             <span class=\"mono\">X-Affiliated-Signature</span>, an HMAC of the URL with this affiliate's secret.</span>\
             <form class=\"inline\" method=\"post\" action=\"/admin/affiliates/{}/postback-test\">{}\
             <button class=\"btn\" type=\"submit\">Send a test postback</button></form>\
             <form class=\"inline\" method=\"post\" action=\"/admin/affiliates/{}/postback-secret\">{}\
             <button class=\"btn\" type=\"submit\" data-confirm=\"Make a new secret? The old one stops working at once.\">New signing secret</button></form></div>",
            a.referral_code,
            layout::csrf_field(req),
            a.referral_code,
            layout::csrf_field(req)
        );
    }
    Ok(Response::html(status, layout::page(req, &a.name, "/admin/affiliates", &notice, &body)))
}

/// The affiliate's standing in the portal and the invite button.
fn portal_card(ctx: &Ctx, req: &Req, a: &Affiliate) -> Result<Html, Error> {
    let standing = portal::standing(&ctx.db, a.id, crate::clock::now_ms())?;
    let state = match (standing.has_password, standing.invite_expires_at) {
        (true, _) => "They have a portal password.".to_string(),
        (false, Some(expires)) => format!("Invited; the link works until {}.", html::time(expires)),
        (false, None) => "Not invited yet (or the invite expired).".to_string(),
    };
    let confirm = if standing.has_password || standing.invite_expires_at.is_some() {
        " data-confirm=\"A new invite link ends their portal sessions, resets their password and stops the previous link. Go on?\""
    } else {
        ""
    };
    let mail = intake::mail::context(&ctx.config).on();
    let how = match (&a.email, mail) {
        (Some(address), true) => format!(
            "The link is e-mailed to {} and shown to you once. They can reset a forgotten password themselves \
             (Forgot your password? on the login page).",
            address.as_str()
        ),
        (None, true) => "They have no e-mail address here, so the link is only shown to you, once: add their \
                         address to e-mail it, and to let them reset a forgotten password themselves."
            .to_string(),
        (_, false) => "A new link is also how they reset a forgotten password.".to_string(),
    };
    Ok(fragment!(
        "<h2>Affiliate portal</h2><div class=\"card row\"><span class=\"muted\" style=\"flex:1\">{} Affiliates log in \
         at <span class=\"mono\">/portal</span> with their referral code and the password they choose with an invite \
         link (single use, 7 days). {}</span>\
         <form class=\"inline\" method=\"post\" action=\"/admin/affiliates/{}/invite\">{}\
         <button class=\"btn\" type=\"submit\"{}>Invite to the portal</button></form></div>",
        state,
        how,
        a.referral_code,
        layout::csrf_field(req),
        Html::from_static(confirm)
    ))
}

/// Makes an invite link and shows it once.
pub fn invite(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let affiliate = find(ctx, req)?;
    let Invite { url, expires_at, emailed_to } = match intake::accounts::invite(&ctx.intake(), &affiliate.referral_code)
    {
        Ok(made) => made,
        Err(e) if e.status < 500 => return edit_page(ctx, req, &affiliate, Notice::Error(e.message), None, e.status),
        Err(e) => return Err(e),
    };
    let send = match emailed_to {
        Some(address) => {
            format!("It was e-mailed to {address}; it is shown here only now, in case they need it again.")
        }
        None => "It is shown only now: send it to them (e-mail is off, or they have no address on record).".into(),
    };
    let notice = Notice::Once {
        text: format!(
            "The invite link for {}. {send} It works once, until {}; earlier links no longer work.",
            affiliate.name,
            html::time(expires_at)
        ),
        value: url,
    };
    edit_page(ctx, req, &affiliate, notice, None, 201)
}

pub fn update(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let affiliate = find(ctx, req)?;
    let form = Form::parse(req)?;
    let changes = match affiliate_changes(&form) {
        Ok(changes) => changes,
        Err(e) => return edit_page(ctx, req, &affiliate, Notice::Error(e.message), Some(&form), e.status),
    };
    let updated = intake::affiliates::update(&ctx.intake(), &affiliate.referral_code, changes)?;
    match updated.postback_secret {
        Some(secret) => edit_page(ctx, req, &updated.affiliate, secret_notice(secret), None, 200),
        None => Ok(see_other(&format!("/admin/affiliates/{}", updated.affiliate.referral_code), &[("done", "saved")])),
    }
}

pub fn rotate_secret(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let affiliate = find(ctx, req)?;
    let secret = intake::affiliates::rotate_postback_secret(&ctx.intake(), &affiliate.referral_code)?;
    let notice = Notice::Secret {
        what: "A new signing secret was made; the old one no longer works.".into(),
        use_it: TRACKER,
        value: secret,
    };
    edit_page(ctx, req, &affiliate, notice, None, 200)
}

pub fn test_postback(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let affiliate = find(ctx, req)?;
    match crate::intake::test_postback(&ctx.intake(), &affiliate.referral_code) {
        Ok(TestPostback::Queued(_)) => {
            Ok(see_other(&format!("/admin/affiliates/{}", affiliate.referral_code), &[("done", "test-queued")]))
        }
        Ok(TestPostback::TooMany { retry_after }) => {
            let e = crate::intake::postback_test::too_many(retry_after);
            Ok(edit_page(ctx, req, &affiliate, Notice::Error(e.message), None, e.status)?
                .with_header("Retry-After", retry_after.to_string()))
        }
        Err(e) if e.status < 500 => edit_page(ctx, req, &affiliate, Notice::Error(e.message), None, e.status),
        Err(e) => Err(e),
    }
}
