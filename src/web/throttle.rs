//! Failed logins, once for every login form (the admin's and the portal's): how many wrong
//! guesses are evaluated before a client must wait. Three counts, in memory, as OWASP's "Slow
//! Down Online Guessing Attacks with Device Cookies" lays them out ([`LoginLimits`]):
//!
//! - **per client address** ([`address_key`]: IPv6 by /64): at most `per_address` wrong guesses
//!   in any window, whatever the account and whatever cookies the browser holds;
//! - **per account, for untrusted clients**: wrong guesses from browsers without a valid device
//!   cookie for that account (`web::device`), from anywhere; once they reach `per_account`,
//!   only browsers that logged in to the account before may try it, so a spray from many
//!   addresses locks out new browsers, not the account's owner;
//! - **per device cookie**: a browser with a valid device cookie for the account skips the
//!   account's lockout, and has `per_device` wrong guesses of its own.
//!
//! A guess is counted when its evaluation starts ([`LoginLimits::begin`]), so guesses sent at
//! the same moment cannot slip past a count together; the count is taken back only for the
//! guess that turned out right (or was never evaluated). A success never resets the other
//! counts: logging in to one's own account buys no guesses on another.
//! Windows slide: at most N failures fall in any span of the window's length. Each count
//! remembers at most [`MAX_TRACKED`] keys (when full, keys whose failures have all expired go
//! first, then those idle longest, down to half), so a flood from many addresses cannot grow it
//! without bound.
//!
//! Architecture invariant: no I/O, no clock of its own (callers pass `now`); the areas own their
//! pages, their log lines and their numbers.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A device cookie's identity: its random nonce (`web::device`).
pub type DeviceId = [u8; 16];

/// Who is trying an account: a browser holding a valid device cookie for it, or anyone else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    Trusted(DeviceId),
    Untrusted,
}

/// The three counts of one login form (see the module comment). `A` is what names an account
/// (an affiliate's id; `()` for the single admin).
pub struct LoginLimits<A> {
    address: Throttle<IpAddr>,
    account: Throttle<A>,
    device: Throttle<DeviceId>,
}

impl<A: Hash + Eq + Copy> LoginLimits<A> {
    pub fn new(per_address: u32, per_account: u32, per_device: u32, window: Duration) -> LoginLimits<A> {
        LoginLimits {
            address: Throttle::new(per_address, window),
            account: Throttle::new(per_account, window),
            device: Throttle::new(per_device, window),
        }
    }

    /// Counts a guess from `address` by `client` at `account` (if it exists) as wrong until
    /// [`LoginLimits::take_back`] says otherwise, or `Err(seconds to wait)` when it may not be
    /// evaluated now (and nothing is counted).
    pub fn begin(&self, address: IpAddr, account: Option<A>, client: Client, now: Instant) -> Result<Guess<A>, u64> {
        self.address.take(address, now)?;
        let counted = match (account, client) {
            (Some(_), Client::Trusted(device)) => self.device.take(device, now),
            (Some(account), Client::Untrusted) => self.account.take(account, now),
            (None, _) => Ok(()),
        };
        if let Err(wait) = counted {
            self.address.give_back(address, now);
            return Err(wait);
        }
        Ok(Guess { address, account, client, at: now })
    }

    /// Takes back the count of a guess that was right, or that could not be evaluated.
    pub fn take_back(&self, guess: Guess<A>) {
        self.address.give_back(guess.address, guess.at);
        match (guess.account, guess.client) {
            (Some(_), Client::Trusted(device)) => self.device.give_back(device, guess.at),
            (Some(account), Client::Untrusted) => self.account.give_back(account, guess.at),
            (None, _) => {}
        }
    }
}

/// A guess being evaluated, counted as wrong (see [`LoginLimits::begin`]).
#[must_use = "a right guess must be taken back"]
pub struct Guess<A> {
    address: IpAddr,
    account: Option<A>,
    client: Client,
    at: Instant,
}

/// Failed attempts per key, in memory: a key with `max` failures within the last `window` must
/// wait until the oldest of them is `window` old. At most [`MAX_TRACKED`] keys are remembered.
pub struct Throttle<K> {
    pub max: u32,
    pub window: Duration,
    /// Per key, the times of its last `max` failures, oldest first.
    failures: Mutex<HashMap<K, VecDeque<Instant>>>,
}

pub const MAX_TRACKED: usize = 10_000;

impl<K: Hash + Eq + Copy> Throttle<K> {
    pub fn new(max: u32, window: Duration) -> Throttle<K> {
        Throttle { max, window, failures: Mutex::new(HashMap::new()) }
    }

    /// `Err(seconds to wait)` while `key` has used up its failures.
    pub fn check(&self, key: K, now: Instant) -> Result<(), u64> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        self.wait(&failures, key, now).map_or(Ok(()), Err)
    }

    /// [`Throttle::check`] and [`Throttle::record_failure`] at once, so that two callers cannot
    /// both pass before either is counted.
    pub fn take(&self, key: K, now: Instant) -> Result<(), u64> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        self.wait(&failures, key, now).map_or(Ok(()), Err)?;
        self.push(&mut failures, key, now);
        Ok(())
    }

    /// Forgets the failure counted for `key` at `at` (by [`Throttle::take`]).
    pub fn give_back(&self, key: K, at: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(times) = failures.get_mut(&key)
            && let Some(i) = times.iter().rposition(|t| *t == at)
        {
            times.remove(i);
        }
    }

    pub fn record_failure(&self, key: K, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        self.push(&mut failures, key, now);
    }

    /// Seconds `key` must wait, if it used up its failures.
    fn wait(&self, failures: &HashMap<K, VecDeque<Instant>>, key: K, now: Instant) -> Option<u64> {
        let times = failures.get(&key)?;
        let recent = times.iter().filter(|t| now < **t + self.window).count();
        if recent < self.max as usize {
            return None;
        }
        // The oldest of the last `max` failures frees a guess when it leaves the window.
        let freed = times[times.len() - self.max as usize] + self.window;
        Some(freed.saturating_duration_since(now).as_secs().max(1))
    }

    fn push(&self, failures: &mut HashMap<K, VecDeque<Instant>>, key: K, now: Instant) {
        if failures.len() >= MAX_TRACKED && !failures.contains_key(&key) {
            let window = self.window;
            failures.retain(|_, times| times.back().is_some_and(|t| now < *t + window));
            if failures.len() >= MAX_TRACKED {
                // Down to half at once, so a flood of new keys costs one sort per 5,000 of them.
                let mut last: Vec<(Instant, K)> =
                    failures.iter().filter_map(|(k, times)| times.back().map(|t| (*t, *k))).collect();
                last.sort_unstable_by_key(|(t, _)| *t);
                for (_, idle) in &last[..last.len() - MAX_TRACKED / 2] {
                    failures.remove(idle);
                }
            }
        }
        let times = failures.entry(key).or_default();
        times.push_back(now);
        while times.len() > self.max.max(1) as usize {
            times.pop_front();
        }
    }

    /// How many keys are remembered.
    pub fn tracked(&self) -> usize {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The throttling key of a client address: IPv6 by /64, which one subscriber usually holds whole.
pub fn address_key(client: Option<IpAddr>) -> IpAddr {
    match client {
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        Some(ip) => ip,
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_lock_a_key_out_until_the_window_passes() {
        let throttle = Throttle::new(5, Duration::from_secs(900));
        let client = address_key(Some("2001:db8::1".parse().unwrap()));
        let neighbour = address_key(Some("2001:db8::2".parse().unwrap()));
        let other = address_key(Some("198.51.100.1".parse().unwrap()));
        let start = Instant::now();
        for _ in 0..5 {
            assert!(throttle.check(client, start).is_ok());
            throttle.record_failure(client, start);
        }
        let wait = throttle.check(client, start).unwrap_err();
        assert!((899..=900).contains(&wait), "{wait}");
        assert!(throttle.check(neighbour, start).is_err(), "the same /64");
        assert!(throttle.check(other, start).is_ok());
        assert!(throttle.check(client, start + Duration::from_secs(900)).is_ok());
        // Keys of another kind (an account) are counted the same way.
        let accounts: Throttle<i64> = Throttle::new(1, Duration::from_secs(60));
        accounts.record_failure(7, start);
        assert!(accounts.check(7, start).is_err());
        assert!(accounts.check(8, start).is_ok());
    }

    #[test]
    fn the_window_slides_so_no_span_of_it_holds_more_than_max_failures() {
        let throttle = Throttle::new(3, Duration::from_secs(900));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        throttle.record_failure(1, at(0));
        throttle.record_failure(1, at(800));
        throttle.record_failure(1, at(850));
        assert_eq!(throttle.check(1, at(850)), Err(50), "the first failure leaves the window at 900");
        // At 900 one guess is free again, not three: the two of 800 and 850 still count.
        assert!(throttle.check(1, at(900)).is_ok());
        throttle.record_failure(1, at(900));
        assert_eq!(throttle.check(1, at(900)), Err(800));
        assert!(throttle.check(1, at(1700)).is_ok());
    }

    #[test]
    fn memory_is_bounded_under_a_flood_of_keys() {
        let throttle: Throttle<u32> = Throttle::new(10, Duration::from_secs(900));
        let now = Instant::now();
        throttle.record_failure(0, now);
        for key in 1..(MAX_TRACKED as u32 * 2) {
            throttle.record_failure(key, now + Duration::from_millis(u64::from(key)));
        }
        assert!(throttle.tracked() <= MAX_TRACKED && throttle.tracked() > MAX_TRACKED / 2, "{}", throttle.tracked());
        let kept = |key: u32| throttle.failures.lock().unwrap().contains_key(&key);
        assert!(kept(MAX_TRACKED as u32 * 2 - 1) && !kept(0), "the ones idle longest went first");
        for _ in 0..20 {
            throttle.record_failure(5, now);
        }
        assert_eq!(throttle.failures.lock().unwrap()[&5].len(), 10, "a key keeps its last `max` failures only");
        // Keys whose failures have all expired go first, and all of them.
        let full: Throttle<u32> = Throttle::new(10, Duration::from_secs(900));
        for key in 0..MAX_TRACKED as u32 {
            full.record_failure(key, now);
        }
        assert_eq!(full.tracked(), MAX_TRACKED);
        full.record_failure(u32::MAX, now + Duration::from_secs(3600));
        assert_eq!(full.tracked(), 1);
    }

    #[test]
    fn a_device_cookie_skips_the_accounts_lockout_but_not_the_address_or_its_own_count() {
        let limits: LoginLimits<i64> = LoginLimits::new(10, 3, 2, Duration::from_secs(900));
        let now = Instant::now();
        let ip = |n: u8| IpAddr::V4(Ipv4Addr::new(203, 0, 113, n));
        let device = Client::Trusted([7; 16]);
        let wrong = |address, account, client| {
            let _counted = limits.begin(address, account, client, now).expect("may guess");
        };
        let refused = |address, account, client| limits.begin(address, account, client, now).is_err();
        // A spray from three addresses locks the account for untrusted clients only.
        for n in 1..=3 {
            wrong(ip(n), Some(1), Client::Untrusted);
        }
        assert!(refused(ip(9), Some(1), Client::Untrusted));
        assert!(!refused(ip(9), Some(2), Client::Untrusted), "another account");
        // The device has its own count (the try above counted for ip(9) and account 2).
        wrong(ip(9), Some(1), device);
        wrong(ip(8), Some(1), device);
        assert!(refused(ip(7), Some(1), device));
        assert!(!refused(ip(7), Some(1), Client::Trusted([8; 16])), "another device");
        // Unknown accounts count per address only; the address count holds for everyone.
        for _ in 0..10 {
            wrong(ip(50), None, Client::Untrusted);
        }
        assert!(refused(ip(50), Some(2), Client::Trusted([9; 16])));
        assert!(refused(ip(50), None, Client::Untrusted));
    }

    #[test]
    fn a_guess_is_counted_when_it_starts_and_taken_back_only_when_right() {
        let limits: LoginLimits<i64> = LoginLimits::new(3, 20, 20, Duration::from_secs(900));
        let now = Instant::now();
        let ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
        // Three guesses in flight at once use up the address: a fourth is refused before any
        // of them is decided.
        let guesses: Vec<Guess<i64>> =
            (0..3).map(|_| limits.begin(ip, Some(1), Client::Untrusted, now).unwrap()).collect();
        assert!(limits.begin(ip, Some(1), Client::Untrusted, now).is_err());
        // One was right: its count comes back, the wrong ones' stay.
        let mut guesses = guesses.into_iter();
        limits.take_back(guesses.next().unwrap());
        let fourth = limits.begin(ip, Some(1), Client::Untrusted, now).expect("one guess came back");
        assert!(limits.begin(ip, Some(1), Client::Untrusted, now).is_err());
        limits.take_back(fourth);
        // A refusal by the account's count takes nothing from the address.
        let spray: LoginLimits<i64> = LoginLimits::new(3, 1, 20, Duration::from_secs(900));
        let _wrong = spray.begin(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), Some(1), Client::Untrusted, now).unwrap();
        for _ in 0..5 {
            assert!(spray.begin(ip, Some(1), Client::Untrusted, now).is_err());
        }
        assert!(spray.begin(ip, Some(2), Client::Untrusted, now).is_ok(), "the address still has its guesses");
    }
}
