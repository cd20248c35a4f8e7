//! A generation number for the catalog (affiliates and offers), so that readers may cache them.
//!
//! Store functions that change an affiliate or an offer call [`changed`] (they run on the writer
//! thread); the writer calls [`publish`] once the transaction has ended, which bumps the
//! generation. A reader that loaded data under an older generation therefore always notices, and
//! never before the change is visible to it. Every change to these tables goes through the
//! writer; a tool writing them directly would have to restart the server to be seen.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static CHANGED: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current transaction as changing the catalog.
pub fn changed() {
    CHANGED.with(|c| c.set(true));
}

/// Called by the writer after a transaction ended (committed or rolled back).
pub fn publish() {
    if CHANGED.with(|c| c.replace(false)) {
        GENERATION.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn generation() -> u64 {
    GENERATION.load(Ordering::SeqCst)
}
