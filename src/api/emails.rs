//! `GET /api/v1/emails`: the e-mail queue and its log, newest first: who each message went to,
//! its subject, status, attempts and last error. Never a body: links in messages carry tokens.

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::error::Error;
use crate::store::emails::{self, Email, STATUSES};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::{Ctx, views};

/// An e-mail as the API shows it.
pub fn view(e: &Email) -> Value {
    json!({
        "id": e.id,
        "kind": e.kind,
        "recipient": e.recipient,
        "subject": e.subject,
        "status": e.status,
        "attempts": e.attempts,
        "next_attempt_at": (e.status == "pending").then(|| rfc3339(e.next_attempt_at)),
        "last_attempt_at": e.last_attempt_at.map(rfc3339),
        "last_error": e.last_error,
        "created_at": rfc3339(e.created_at),
        "sent_at": e.sent_at.map(rfc3339),
        "expires_at": rfc3339(e.expires_at),
    })
}

pub fn list(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let status = match req.query("status").filter(|s| !s.is_empty()) {
        Some(s) if STATUSES.contains(&s) => Some(s),
        Some(_) => return Err(Error::invalid("status", "must be pending, sent, failed or expired")),
        None => None,
    };
    let rows = emails::list(&ctx.db, status, super::cursor(req)?, limit)?;
    let next = views::next_cursor(&rows, limit, |e| e.id.to_string());
    Ok(Response::json(200, &views::page(rows.iter().map(view).collect(), next)))
}
