//! One lane of outbound deliveries (postbacks to affiliates' trackers, or merchant webhooks): a
//! scheduler thread that chooses what to send next, and at most `senders` threads that send it.
//! Fairness is a property of the choosing ([`Turns`]):
//!
//! - a **party** (an affiliate for postbacks, a webhook for merchant webhooks) has at most one
//!   delivery in flight, its oldest due one, and parties take turns: the one served longest ago
//!   goes first;
//! - a **destination** (the host and port a URL names, `tracking::outbound::destination`) has at
//!   most one delivery in flight, so a slow host holds one sender, never the lane;
//! - at most `senders` deliveries are in flight in the lane.
//!
//! So a party or a destination with a backlog, or an endpoint that hangs, delays any other
//! party's due delivery by at most one attempt's timeout (while every sender is held by such an
//! attempt), never by its backlog. Each lane has its own scheduler, senders and read connection:
//! postbacks and merchant webhooks never wait on each other. The scheduler reads what is due
//! ([`Source::due`]) whenever a sender finishes, and at least every [`IDLE_POLL`].
//!
//! Architecture invariant: no SQL and no HTTP here; a [`Source`] reads the store and sends.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rusqlite::Connection;

use crate::clock::now_ms;
use crate::error::Error;

/// How long the scheduler waits for a sender before it looks for new deliveries again.
pub const IDLE_POLL: Duration = Duration::from_millis(250);
/// How many parties' oldest due deliveries the scheduler looks at, at most.
pub const PARTIES: usize = 10_000;

/// A delivery due now, with what fairness counts it by.
pub struct Due<T> {
    pub id: i64,
    pub party: i64,
    pub destination: String,
    pub item: T,
}

/// What a lane delivers.
pub trait Source: Send + Sync + 'static {
    /// A delivery as [`Source::due`] finds it.
    type Item;
    /// What a sender needs to make the attempt.
    type Ready: Send + 'static;
    /// For the log: `postbacks` or `webhooks`.
    const NAME: &'static str;
    /// The oldest due delivery of each party (at most [`PARTIES`]).
    fn due(&self, db: &Connection, now: i64) -> Result<Vec<Due<Self::Item>>, Error>;
    /// Reads what else the attempt needs, for a delivery chosen to go now (on the scheduler).
    fn ready(&self, db: &Connection, item: Self::Item) -> Self::Ready;
    /// Makes one attempt and records its outcome. Runs on a sender thread.
    fn send(&self, ready: Self::Ready);
}

/// Who has a delivery in flight, and whose turn it is (see the module comment).
#[derive(Default)]
pub struct Turns {
    parties: HashSet<i64>,
    destinations: HashSet<String>,
    /// When each party was last served, by a counter.
    served: HashMap<i64, u64>,
    clock: u64,
}

impl Turns {
    /// Chooses from `due` (each party's oldest due delivery) at most `free` to send now: parties
    /// and destinations with nothing in flight, the party served longest ago first (one never
    /// served before all others), and marks them in flight.
    pub fn pick<T>(&mut self, due: Vec<Due<T>>, free: usize) -> Vec<Due<T>> {
        let mut candidates: Vec<Due<T>> = due.into_iter().filter(|d| !self.parties.contains(&d.party)).collect();
        candidates.sort_by_key(|d| (self.served.get(&d.party).copied().unwrap_or(0), d.id));
        // Parties with nothing due and nothing in flight need no turn kept.
        let waiting: HashSet<i64> = candidates.iter().map(|d| d.party).collect();
        self.served.retain(|party, _| waiting.contains(party) || self.parties.contains(party));
        let mut chosen = Vec::new();
        for d in candidates {
            if chosen.len() == free {
                break;
            }
            if self.destinations.contains(&d.destination) {
                continue;
            }
            self.clock += 1;
            self.served.insert(d.party, self.clock);
            self.parties.insert(d.party);
            self.destinations.insert(d.destination.clone());
            chosen.push(d);
        }
        chosen
    }

    /// A delivery of `party` to `destination` is no longer in flight.
    pub fn done(&mut self, party: i64, destination: &str) {
        self.parties.remove(&party);
        self.destinations.remove(destination);
    }

    pub fn in_flight(&self) -> usize {
        self.parties.len()
    }
}

/// Runs the lane until `stopping`, then waits for the deliveries in flight (each bounded by its
/// own timeout) so that their outcomes are recorded.
pub fn run<S: Source>(source: Arc<S>, db: Connection, senders: usize, stopping: &AtomicBool) {
    let (finished, done) = mpsc::channel::<(i64, String)>();
    let mut turns = Turns::default();
    while !stopping.load(Ordering::SeqCst) {
        let free = senders.saturating_sub(turns.in_flight());
        if free > 0 {
            match source.due(&db, now_ms()) {
                Ok(due) => {
                    for d in turns.pick(due, free) {
                        let ready = source.ready(&db, d.item);
                        start(
                            &source,
                            Due { id: d.id, party: d.party, destination: d.destination, item: ready },
                            &finished,
                        );
                    }
                }
                Err(e) => log::error!("reading due {}: {e}", S::NAME),
            }
        }
        match done.recv_timeout(IDLE_POLL) {
            Ok((party, destination)) => {
                turns.done(party, &destination);
                while let Ok((party, destination)) = done.try_recv() {
                    turns.done(party, &destination);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    while turns.in_flight() > 0 {
        match done.recv_timeout(Duration::from_secs(60)) {
            Ok((party, destination)) => turns.done(party, &destination),
            Err(_) => break,
        }
    }
}

/// Sends `d` on a thread of its own; the scheduler hears when it is done however it ends.
fn start<S: Source>(source: &Arc<S>, d: Due<S::Ready>, finished: &mpsc::Sender<(i64, String)>) {
    struct Finished(mpsc::Sender<(i64, String)>, Option<(i64, String)>);
    impl Drop for Finished {
        fn drop(&mut self) {
            if let Some(key) = self.1.take() {
                let _ = self.0.send(key);
            }
        }
    }
    let guard = Finished(finished.clone(), Some((d.party, d.destination)));
    let (source, item) = (source.clone(), d.item);
    let spawned = thread::Builder::new().name(format!("{}-send", S::NAME)).spawn(move || {
        let _guard = guard;
        source.send(item);
    });
    if let Err(e) = spawned {
        // The closure (and with it the guard) was dropped: the scheduler hears of it at once.
        log::error!("could not start a thread to send {} delivery {}: {e}", S::NAME, d.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(id: i64, party: i64, destination: &str) -> Due<()> {
        Due { id, party, destination: destination.into(), item: () }
    }

    fn ids<T>(picked: &[Due<T>]) -> Vec<i64> {
        picked.iter().map(|d| d.id).collect()
    }

    #[test]
    fn one_in_flight_per_party_and_per_destination_within_the_senders() {
        let mut turns = Turns::default();
        let picked =
            turns.pick(vec![due(1, 10, "a:443"), due(2, 20, "a:443"), due(3, 30, "b:443"), due(4, 40, "c:443")], 2);
        assert_eq!(ids(&picked), [1, 3], "party 20 shares a's host, and two senders are free");
        assert_eq!(turns.in_flight(), 2);
        // Party 10's next delivery waits while its first is in flight.
        assert!(turns.pick(vec![due(5, 10, "a:443"), due(2, 20, "a:443")], 8).is_empty());
        turns.done(10, "a:443");
        // Party 20 never had a turn: it goes before party 10's second.
        assert_eq!(ids(&turns.pick(vec![due(5, 10, "a:443"), due(2, 20, "a:443"), due(4, 40, "c:443")], 8)), [2, 4]);
    }

    #[test]
    fn parties_take_turns_whatever_their_backlog() {
        let mut turns = Turns::default();
        // Party 1 has a long backlog (its oldest is always the oldest row); party 2 has one.
        let mut sent = Vec::new();
        let mut next_of_one = 1;
        for round in 0..6 {
            let mut due_now = vec![due(next_of_one, 1, "slow:443")];
            if round == 2 {
                due_now.push(due(1000, 2, "fast:443"));
            }
            let picked = turns.pick(due_now, 1);
            for d in &picked {
                turns.done(d.party, &d.destination);
                if d.party == 1 {
                    next_of_one += 1;
                }
            }
            sent.extend(ids(&picked));
        }
        assert_eq!(sent, [1, 2, 1000, 3, 4, 5], "party 2 waited for one delivery of party 1, not its backlog");
    }
}
