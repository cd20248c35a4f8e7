//! Counting clicks per affiliate and visitor address for the `click_flood` rule, in memory: a
//! count in the database would put a second index on the hottest write. Each (affiliate,
//! truncated address) pair keeps the clicks of the current and the previous window of an hour;
//! the estimate of the last hour weighs the previous window by how much of it is still inside
//! the hour (a sliding window in two numbers). Counts start over when the process restarts.
//!
//! Architecture Invariant: memory only, bounded (shards of at most `MAX_PER_SHARD` pairs); it
//! never touches the database.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::tracking::fraud;

const WINDOW_MS: i64 = 3_600_000;
/// Independent locks, so workers recording clicks for different visitors rarely wait.
const SHARDS: usize = 16;
/// Pairs remembered per shard (131,072 in all, a few MiB). A full shard forgets the pairs idle
/// for two windows and, if that is not enough, the pairs with the fewest clicks, down to half
/// its size: the work of forgetting is paid once per [`MAX_PER_SHARD`] / 2 new pairs, and a
/// pair with many clicks (the one the rule is about) is the last to go.
const MAX_PER_SHARD: usize = 8_192;

#[derive(Clone, Copy)]
struct Windows {
    /// Start of the current window (ms).
    start: i64,
    current: u32,
    previous: u32,
}

#[derive(Default)]
pub struct Flood {
    shards: [Mutex<HashMap<(i64, IpAddr), Windows>>; SHARDS],
}

impl Flood {
    /// Counts a click at `now` from `ip` for `affiliate_id`, and returns the estimated number of
    /// clicks in the hour up to now, this one included.
    pub fn count(&self, affiliate_id: i64, ip: IpAddr, now: i64) -> u32 {
        let key = (affiliate_id, fraud::flood_key(ip));
        let shard = &self.shards[shard_of(&key)];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_PER_SHARD && !map.contains_key(&key) {
            forget(&mut map, now);
        }
        let w = map.entry(key).or_insert(Windows { start: now, current: 0, previous: 0 });
        let elapsed = now - w.start;
        if elapsed >= 2 * WINDOW_MS {
            *w = Windows { start: now, current: 0, previous: 0 };
        } else if elapsed >= WINDOW_MS {
            *w = Windows { start: w.start + WINDOW_MS, current: 0, previous: w.current };
        }
        w.current = w.current.saturating_add(1);
        let into_window = (now - w.start).clamp(0, WINDOW_MS);
        let carried = u64::from(w.previous) * (WINDOW_MS - into_window) as u64 / WINDOW_MS as u64;
        w.current.saturating_add(u32::try_from(carried).unwrap_or(u32::MAX))
    }
}

/// Makes room in a full shard: pairs idle for two windows go first; if more than half the shard
/// is still in use, the pairs with the fewest clicks go until half is left. Without the second
/// step, visitors from more distinct addresses than a shard holds (many /24s, or an IPv6 range)
/// made every new pair scan the whole shard in vain and the map grow without bound: API clicks
/// with random addresses fell from 22,000/s to 6,100/s while RSS grew past 95 MiB in `bench/run`.
fn forget(map: &mut HashMap<(i64, IpAddr), Windows>, now: i64) {
    map.retain(|_, w| now - w.start < 2 * WINDOW_MS);
    let keep = MAX_PER_SHARD / 2;
    if map.len() <= keep {
        return;
    }
    let mut counts: Vec<u64> = map.values().map(|w| u64::from(w.current) + u64::from(w.previous)).collect();
    let cut = counts.len() - keep;
    // The count at or above which the `keep` busiest pairs lie.
    let (_, &mut threshold, _) = counts.select_nth_unstable(cut);
    // Every pair below the threshold goes, then as many at it as still needed.
    let mut equal_to_drop = cut - counts.iter().filter(|&&c| c < threshold).count();
    map.retain(|_, w| {
        let count = u64::from(w.current) + u64::from(w.previous);
        if count != threshold {
            return count > threshold;
        }
        let drop = equal_to_drop > 0;
        equal_to_drop -= usize::from(drop);
        !drop
    });
}

/// Spreads pairs over the shards (not a defence against anything: it only spreads locks).
fn shard_of(key: &(i64, IpAddr)) -> usize {
    let mut h: u64 = key.0 as u64;
    match key.1 {
        IpAddr::V4(v4) => h ^= u64::from(u32::from(v4)),
        IpAddr::V6(v6) => h ^= (u128::from(v6) >> 64) as u64,
    }
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = WINDOW_MS;

    #[test]
    fn counts_per_affiliate_and_truncated_address() {
        let flood = Flood::default();
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let neighbour: IpAddr = "203.0.113.200".parse().unwrap();
        for n in 1..=30 {
            assert_eq!(flood.count(1, ip, n), n as u32);
        }
        assert_eq!(flood.count(1, neighbour, 31), 31, "the same /24");
        assert_eq!(flood.count(2, ip, 32), 1, "another affiliate");
        assert_eq!(flood.count(1, "198.51.100.1".parse().unwrap(), 33), 1, "another address");
    }

    #[test]
    fn many_addresses_stay_bounded_and_a_flood_is_still_counted() {
        let flood = Flood::default();
        let flooder: IpAddr = "198.51.100.9".parse().unwrap();
        for n in 1..=40 {
            flood.count(7, flooder, n);
        }
        // Visitors from far more /24s than the shards hold, within the same hour.
        let distinct = 4 * SHARDS * MAX_PER_SHARD;
        for i in 0..distinct {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(u32::try_from(i << 8).unwrap() | 1));
            flood.count(7, ip, 100 + i as i64 / 1000);
        }
        let held: usize = flood.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= SHARDS * MAX_PER_SHARD, "{held} pairs held");
        assert!(held >= SHARDS * MAX_PER_SHARD / 4, "only {held} pairs held");
        // The busy pair survived every clean-up: its 41st click counts as the 41st.
        assert_eq!(flood.count(7, flooder, 200_000), 41);
    }

    #[test]
    fn old_clicks_fade_out_of_the_hour() {
        let flood = Flood::default();
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..40 {
            flood.count(1, ip, 0);
        }
        // Half an hour into the next window, half of the previous 40 still count.
        assert_eq!(flood.count(1, ip, HOUR + HOUR / 2), 21);
        // Two windows later, nothing is left.
        assert_eq!(flood.count(1, ip, 4 * HOUR), 1);
    }
}
