//! A worker's cache of affiliates and offers, for the tracking-link path: a redirect then needs
//! no database read at all, only the click write. The profile of the redirect workload put a
//! fifth of the server's time in these lookups (starting a read transaction, re-reading pages
//! the writer's commits had invalidated). Entries are dropped whenever the catalog generation
//! (`store::catalog`) moves, i.e. after any committed change to an affiliate or offer. Unknown
//! codes are not remembered, so an affiliate is usable the moment it is created.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::Connection;

use crate::error::Error;
use crate::store::affiliates::{self, Affiliate};
use crate::store::catalog;
use crate::store::offers::{self, Offer};

/// More entries than this and the cache starts over (a flood of distinct valid codes).
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct Catalog {
    generation: u64,
    affiliates: HashMap<String, Arc<Affiliate>>,
    offers: HashMap<String, Arc<Offer>>,
    default_offer: Option<Option<Arc<Offer>>>,
}

impl Catalog {
    fn refresh(&mut self) {
        let now = catalog::generation();
        if now != self.generation || self.affiliates.len() + self.offers.len() > MAX_ENTRIES {
            self.affiliates.clear();
            self.offers.clear();
            self.default_offer = None;
            self.generation = now;
        }
    }

    /// The affiliate with this referral code (compared without letter case, like the database).
    pub fn affiliate(&mut self, db: &Connection, code: &str) -> Result<Option<Arc<Affiliate>>, Error> {
        self.refresh();
        remembered(&mut self.affiliates, code, || affiliates::by_code(db, code))
    }

    /// The offer with this public id (compared without letter case, like the database).
    pub fn offer(&mut self, db: &Connection, public_id: &str) -> Result<Option<Arc<Offer>>, Error> {
        self.refresh();
        remembered(&mut self.offers, public_id, || offers::by_public_id(db, public_id))
    }

    pub fn default_offer(&mut self, db: &Connection) -> Result<Option<Arc<Offer>>, Error> {
        self.refresh();
        if let Some(known) = &self.default_offer {
            return Ok(known.clone());
        }
        let found = offers::default_offer(db)?.map(Arc::new);
        self.default_offer = Some(found.clone());
        Ok(found)
    }
}

/// `map`'s entry for `key` (case-insensitive), else what `load` finds, remembered if found.
fn remembered<T>(
    map: &mut HashMap<String, Arc<T>>,
    key: &str,
    load: impl FnOnce() -> Result<Option<T>, Error>,
) -> Result<Option<Arc<T>>, Error> {
    let key = key.to_ascii_lowercase();
    if let Some(hit) = map.get(&key) {
        return Ok(Some(hit.clone()));
    }
    let found = load()?.map(Arc::new);
    if let Some(value) = &found {
        map.insert(key, value.clone());
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_last_until_the_catalog_changes() {
        let db = Connection::open_in_memory().unwrap();
        crate::store::migrate::run(&db).unwrap();
        let mut cache = Catalog::default();
        assert!(cache.affiliate(&db, "ann").unwrap().is_none(), "unknown codes are not remembered");
        db.execute("INSERT INTO affiliates (referral_code, name, created_at) VALUES ('ann', 'Ann', 1)", []).unwrap();
        assert_eq!(cache.affiliate(&db, "ANN").unwrap().unwrap().name, "Ann");
        // A change behind the cache's back is not seen ...
        db.execute("UPDATE affiliates SET name = 'Changed'", []).unwrap();
        assert_eq!(cache.affiliate(&db, "ann").unwrap().unwrap().name, "Ann");
        // ... until the writer publishes a catalog change.
        catalog::changed();
        catalog::publish();
        assert_eq!(cache.affiliate(&db, "ann").unwrap().unwrap().name, "Changed");
    }
}
