//! Recording a click, from tracking links and the API: the hottest write of the appliance, one
//! statement on the writer (the daily totals follow by trigger), so it skips the per-job
//! savepoint.

use std::sync::atomic::Ordering;

use super::Intake;
use crate::error::Error;
use crate::store::clicks::{self, NewClick};

/// Stores a click and returns its new ID and time, once committed.
pub fn record_click(ix: &Intake<'_>, click: NewClick) -> Result<(String, i64), Error> {
    let now = crate::clock::now_ms();
    let id = clicks::new_id(now);
    let stored_id = id.clone();
    ix.writer.run_single(move |conn| clicks::insert(conn, &stored_id, &click, now))?;
    ix.metrics.clicks.fetch_add(1, Ordering::Relaxed);
    Ok((id, now))
}
