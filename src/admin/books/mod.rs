//! The merchant's books in the admin: balances per affiliate and payout runs (create, mark
//! paid, cancel, download). Pages of the admin like the others (every route here is
//! `Access::Admin`: a session, and CSRF on every POST); the rules and writes are the API's too
//! (`intake::payouts`, `store::payouts`), and so are the payout files (`shapes::payout_files`:
//! PayPal bulk CSV, generic CSV). `warnings.rs` names the affiliates a PayPal file cannot pay,
//! before and after a run.

pub mod balances;
pub mod payouts;
pub mod warnings;

use crate::transport::request::Req;
use crate::ui::layout::Notice;

/// The notice named by `?done=` after a redirect here (fixed texts only).
pub fn notice(req: &Req) -> Notice {
    let n = req.query("n").and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
    Notice::Ok(match req.query("done") {
        Some("run") if n == 0 => "No affiliate reached the minimum: no payout was made.".to_string(),
        Some("run") if n == 1 => "Made 1 payout.".to_string(),
        Some("run") => format!("Made {n} payouts."),
        Some("paid") => "Marked paid.".to_string(),
        Some("cancelled") => "Cancelled: its commission is available again for the next run.".to_string(),
        _ => return crate::admin::notice(req),
    })
}
