//! Recording a click, from tracking links and the API: the hottest write of the appliance, one
//! statement on the writer (the daily totals follow by trigger), so it skips the per-job
//! savepoint. A click from an address that sent this affiliate more clicks in the last hour than
//! the `click_flood` threshold is recorded with that flag (and so are conversions on it).
//!
//! Architecture Invariant: the hot path's write: one statement, no savepoint, no allocation
//! beyond the click's own; nothing else is written here.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use super::Intake;
use crate::error::Error;
use crate::store::clicks::{self, NewClick};
use crate::tracking::fraud::Flag;

/// A click once committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedClick {
    pub id: String,
    pub created_at: i64,
    pub flags: Vec<Flag>,
}

/// Stores a click from `visitor` (the real address: counted, never stored unless the click
/// itself keeps it) and returns its new ID, time and flags, once committed. A test click is not
/// counted: test data must not get live visitors' clicks flagged (a test key could otherwise
/// report clicks "from" any address it likes).
pub fn record_click(ix: &Intake<'_>, mut click: NewClick, visitor: Option<IpAddr>) -> Result<RecordedClick, Error> {
    let now = crate::clock::now_ms();
    let max = ix.rules.max_clicks_per_ip;
    if let (Some(ip), true, false) = (visitor, max > 0, click.test)
        && ix.flood.count(click.affiliate_id, ip, now) > max
    {
        click.flags.push(Flag::ClickFlood);
        ix.metrics.clicks_flagged.fetch_add(1, Ordering::Relaxed);
    }
    let flags = click.flags.clone();
    let id = clicks::new_id(now);
    let stored_id = id.clone();
    ix.writer.run_single(move |conn| clicks::insert(conn, &stored_id, &click, now))?;
    ix.metrics.clicks.fetch_add(1, Ordering::Relaxed);
    Ok(RecordedClick { id, created_at: now, flags })
}
