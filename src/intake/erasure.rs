//! Erasing personal data: a customer, a click, an affiliate's own or an applicant's (`DELETE
//! /api/v1/customers/{id}`, `/clicks/{id}`, `/affiliates/{code}/personal-data`,
//! `/applications/{id}/personal-data`). The erasure log
//! is written and synced first, so a crash or an older backup cannot undo it (it is re-applied
//! on start); then the database, every copy included (`store::retention`); then a checkpoint
//! that truncates the WAL, so no erased bytes linger there.
//!
//! Architecture Invariant: plain values in (what to erase and its id), a domain outcome out;
//! never a request or a response.

use super::Intake;
use crate::error::Error;
use crate::store::retention::{self, Kind};

/// What an erasure found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Erasure {
    Erased,
    /// Nothing had that id. The erasure is logged anyway: a restored backup that still has it
    /// gets it erased on start.
    NothingFound,
}

/// Erases the customer, click, affiliate or application `id` names. A click may be named by the ID its
/// caller chose (a live and a test click may share it; both are erased, and the log keeps the
/// clicks' own IDs); such a name that matches no click is 404 and logs nothing.
pub fn erase(ix: &Intake<'_>, kind: Kind, id: String) -> Result<Erasure, Error> {
    let ids = match kind {
        Kind::Click if !crate::tracking::click_id::is_well_formed(&id) => {
            let mut ids = Vec::new();
            for test in [false, true] {
                ids.extend(crate::store::clicks::get(ix.db, &id, Some(test))?.map(|c| c.id));
            }
            if ids.is_empty() {
                return Err(Error::not_found("not_found", "no click has that id"));
            }
            ids
        }
        _ => vec![id],
    };
    for id in &ids {
        retention::append_log(&ix.config.db, kind, id)
            .map_err(|e| Error::unavailable(format!("could not write the erasure log: {e}")))?;
    }
    let now = crate::clock::now_ms();
    let found = ix.writer.run(move |tx| {
        let mut found = false;
        for id in &ids {
            found |= match kind {
                Kind::Customer => retention::erase_customer(tx, id, now)?,
                Kind::Click => retention::erase_click(tx, id, now)?,
                Kind::Affiliate => retention::erase_affiliate(tx, id, now)?,
                Kind::Application => retention::erase_application(tx, id, now)?,
            };
        }
        Ok(found)
    })?;
    ix.writer.run_outside_transaction(|conn| {
        crate::store::checkpoint_truncate(conn);
        Ok(())
    })?;
    Ok(if found { Erasure::Erased } else { Erasure::NothingFound })
}
