//! `/admin/applications` (#24): the applications would-be affiliates sent through
//! `/portal/apply`, by status (pending first, oldest first), and the merchant's decision on
//! each: approve (with another referral code than the wished one if need be) or reject (with a
//! reason). The same entry points as the API (`intake::applications`); the navigation shows how
//! many are pending (`guard`, in `mod.rs`).
//!
//! With e-mail on, the decision is e-mailed to the applicant (`intake::applications`); without
//! it, the page after a decision says what the merchant must do instead (send the set-password
//! link to the new affiliate; tell a rejected applicant themselves).

use super::{PAGE_SIZE, next_link};
use crate::error::Error;
use crate::intake;
use crate::intake::accounts::Invite;
use crate::intake::applications::{Choices, Decision};
use crate::store::applications::{self, Application};
use crate::tracking::application::Status;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout::{self, Notice};
use crate::web::form::Form;
use crate::web::{Ctx, views};

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    list_page(ctx, req, Notice::None, 200)
}

fn status_of(req: &Req) -> Status {
    req.query("status").and_then(Status::parse).unwrap_or(Status::Pending)
}

fn list_page(ctx: &Ctx, req: &Req, notice: Notice, code: u16) -> Result<Response, Error> {
    let status = status_of(req);
    let after = req.query("after").and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
    let rows = applications::list(&ctx.db, Some(status), after, PAGE_SIZE)?;
    let next = views::next_cursor(&rows, PAGE_SIZE, |a| a.id.to_string());
    let mut body = fragment!(
        "<h1>Applications</h1><p class=\"sub\">People who applied to become affiliates at \
         <span class=\"mono\">/portal/apply</span> ({}). Approving one makes the affiliate with the referral code they \
         wished for, unless you type another.</p><div class=\"row\" style=\"gap:4px;margin-bottom:14px\">",
        signup_state(ctx)
    );
    for s in Status::ALL {
        html!(
            body,
            "<a class=\"btn small{}\" href=\"/admin/applications?{}\">{}</a>",
            if s == status { " primary" } else { "" },
            html::query(&[("status", s.as_str())]),
            s.as_str()
        );
    }
    html!(
        body,
        "</div><div class=\"table\"><table><thead><tr><th>Applied</th><th>Applicant</th><th>Website, or how they promote</th>\
         <th>Wished code</th><th>Terms</th><th>{}</th></tr></thead><tbody>",
        if status == Status::Pending { "Decision" } else { "Decided" }
    );
    for a in &rows {
        html!(
            body,
            "<tr><td>{}</td><td>{}<br><span class=\"muted\">{}</span>{}</td><td class=\"clip\">{}</td>\
             <td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
            html::time(a.created_at),
            a.name.as_deref().unwrap_or("(erased)"),
            a.email.as_deref().unwrap_or(""),
            match &a.payout_email {
                Some(e) => fragment!("<br><span class=\"muted\">PayPal: {}</span>", e),
                None => Html::new(),
            },
            a.website.as_deref().unwrap_or(""),
            a.referral_code,
            terms(a),
            decision_cell(req, a)
        );
    }
    if rows.is_empty() {
        html!(body, "<tr><td colspan=\"6\" class=\"empty\">No {} applications.</td></tr>", status.as_str());
    }
    html!(
        body,
        "</tbody></table></div><div class=\"pager\"><span></span>{}</div>",
        next_link(req, "/admin/applications", "after", next)
    );
    Ok(Response::html(code, layout::page(req, "Applications", "/admin/applications", &notice, &body)))
}

fn signup_state(ctx: &Ctx) -> &'static str {
    match ctx.config.signup {
        crate::tracking::application::Signup::Off => "closed now: --signup off",
        crate::tracking::application::Signup::Review => "open for review: --signup review",
        crate::tracking::application::Signup::Open => "approved as they arrive: --signup open",
    }
}

fn terms(a: &Application) -> Html {
    match &a.terms {
        Some(t) => fragment!(
            "<a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">accepted</a><br><span class=\"muted\">{}</span>",
            t.url.as_str(),
            html::time(t.accepted_at)
        ),
        None => Html::from_static("<span class=\"muted\">–</span>"),
    }
}

/// The approve and reject forms of a pending application; the decision of another.
fn decision_cell(req: &Req, a: &Application) -> Html {
    match a.status {
        Status::Pending => fragment!(
            "<form class=\"row\" style=\"gap:6px;margin-bottom:6px\" method=\"post\" action=\"/admin/applications/{}/approve\">{}\
             <input type=\"text\" name=\"referral_code\" placeholder=\"{}\" aria-label=\"Referral code (leave empty for the \
             wished one)\" pattern=\"[A-Za-z0-9_-]{{1,64}}\" style=\"width:9em\">\
             <button class=\"btn small approve\" type=\"submit\">Approve</button></form>\
             <form class=\"row\" style=\"gap:6px\" method=\"post\" action=\"/admin/applications/{}/reject\">{}\
             <input type=\"text\" name=\"reason\" placeholder=\"Reason (optional)\" aria-label=\"Reason\" maxlength=\"500\" \
             style=\"width:9em\"><button class=\"btn small reject\" type=\"submit\" \
             data-confirm=\"Reject this application?\">Reject</button></form>",
            a.id,
            layout::csrf_field(req),
            a.referral_code,
            a.id,
            layout::csrf_field(req)
        ),
        Status::Approved => fragment!(
            "{} {}<br>{}",
            html::badge("approved"),
            a.decided_at.map(html::time).unwrap_or_default(),
            match &a.affiliate {
                Some(code) => fragment!("<a class=\"mono\" href=\"/admin/affiliates/{}\">{}</a>", code, code),
                None => Html::new(),
            }
        ),
        Status::Rejected => fragment!(
            "{} {}<br><span class=\"muted\">{}</span>",
            html::badge("rejected"),
            a.decided_at.map(html::time).unwrap_or_default(),
            a.reason.as_deref().unwrap_or("")
        ),
    }
}

pub fn approve(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = req.id(0, applications::not_found)?;
    let form = Form::parse(req)?;
    let choices = Choices { referral_code: form.get("referral_code").map(String::from), rate: None };
    match intake::applications::approve(&ctx.intake(), id, choices) {
        Ok(decision) => decided(ctx, req, decision),
        Err(e) if e.status < 500 => list_page(ctx, req, Notice::Error(e.message), e.status),
        Err(e) => Err(e),
    }
}

pub fn reject(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = req.id(0, applications::not_found)?;
    let form = Form::parse(req)?;
    match intake::applications::reject(&ctx.intake(), id, form.get("reason").map(String::from)) {
        Ok(decision) => decided(ctx, req, decision),
        Err(e) if e.status < 500 => list_page(ctx, req, Notice::Error(e.message), e.status),
        Err(e) => Err(e),
    }
}

/// The list again, with what the decision did and what the merchant must do now.
fn decided(ctx: &Ctx, req: &Req, decision: Decision) -> Result<Response, Error> {
    let (notice, code) = match decision {
        Decision::Approved(approval) => {
            let a = &approval.affiliate;
            let email = a.email.as_deref().unwrap_or("");
            let notice = match &approval.invite {
                Some(Invite { url, expires_at, emailed_to: Some(address) }) => Notice::Once {
                    text: format!(
                        "Approved: {} is affiliate {}. The link to choose their portal password was e-mailed to \
                         {address}; it is shown here only now, in case they need it again. It works once, until {}.",
                        a.name,
                        a.referral_code,
                        html::time(*expires_at)
                    ),
                    value: url.clone(),
                },
                Some(invite) => Notice::Once {
                    text: format!(
                        "Approved: {} is affiliate {}. No e-mail is sent: send them this link yourself (at {email}). \
                         They choose their portal password with it; it works once, until {}.",
                        a.name,
                        a.referral_code,
                        html::time(invite.expires_at)
                    ),
                    value: invite.url.clone(),
                },
                None => Notice::Ok(format!(
                    "Approved: {} is affiliate {}. The portal is off, so send them their tracking link yourself \
                     (at {email}).",
                    a.name, a.referral_code
                )),
            };
            (notice, 201)
        }
        Decision::Rejected(rejection) => {
            let a = &rejection.application;
            let name = a.name.as_deref().unwrap_or("(erased)");
            let text = match &rejection.emailed_to {
                Some(address) => format!("Rejected the application of {name}. They are told by e-mail at {address}."),
                None => format!(
                    "Rejected the application of {name}. No e-mail is sent: tell them yourself at {} if you wish.",
                    a.email.as_deref().unwrap_or("(erased)")
                ),
            };
            (Notice::Ok(text), 200)
        }
        Decision::CodeTaken { referral_code, .. } => (
            Notice::Error(format!(
                "The referral code {referral_code} is another affiliate's. Type another code for this application and \
                 approve again."
            )),
            409,
        ),
        Decision::AlreadyDecided(a) => {
            (Notice::Error(format!("This application was {} already; nothing changed.", a.status.as_str())), 409)
        }
        Decision::NotFound => return Err(applications::not_found(req.param(0))),
    };
    // The guard counted the pending applications before this decision.
    let mut req = req.clone();
    super::count_pending(ctx, &mut req);
    list_page(ctx, &req, notice, code)
}
