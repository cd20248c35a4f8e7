//! Admin sessions, CSRF tokens and login throttling. Sessions are stateless signed cookies:
//! `v1.<expiry unix seconds>.<random hex>.<hex HMAC-SHA256(key, "v1.<expiry>.<random>")>`, with the
//! key derived from the admin token, so changing the token logs everyone out and nothing is
//! stored. The random part makes every login a distinct session. A CSRF token is an HMAC of the
//! session cookie, so it is bound to that session and needs no storage either.
//! Logging out clears the browser's cookie; a copied cookie stays valid until it expires (12 h).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::secret;

pub const COOKIE: &str = "affiliated_admin";
pub const LIFETIME_SECS: i64 = 12 * 3600;
/// Failed logins from one client allowed within [`FAILURE_WINDOW`] before it must wait.
pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Clients tracked at most; the oldest is forgotten first.
const MAX_TRACKED: usize = 10_000;

/// The admin's state, shared by all workers.
pub struct Admin {
    key: [u8; 32],
    token_hash: [u8; 32],
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    first: Instant,
    count: u32,
}

impl Admin {
    pub fn new(token: &str) -> Admin {
        Admin {
            key: secret::sha256(format!("affiliated-admin-session:{token}").as_bytes()),
            token_hash: secret::sha256(token.as_bytes()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `presented` is the admin token. Hashes are compared, so neither the content nor
    /// the length of the token leaks through timing.
    pub fn is_token(&self, presented: &str) -> bool {
        secret::constant_time_eq(&secret::sha256(presented.as_bytes()), &self.token_hash)
    }

    fn sign(&self, text: &str) -> String {
        secret::hex(&secret::hmac_sha256(&self.key, text.as_bytes()))
    }

    /// A new session cookie value, valid until `now_secs + LIFETIME_SECS`.
    pub fn issue(&self, now_secs: i64) -> String {
        let mut nonce = [0u8; 16];
        rand::fill(&mut nonce);
        let payload = format!("v1.{}.{}", now_secs + LIFETIME_SECS, secret::hex(&nonce));
        let mac = self.sign(&payload);
        format!("{payload}.{mac}")
    }

    /// Whether a cookie value is a session this token signed and that has not expired.
    pub fn is_valid(&self, value: &str, now_secs: i64) -> bool {
        let Some((payload, mac)) = value.rsplit_once('.') else { return false };
        let expiry =
            payload.strip_prefix("v1.").and_then(|rest| rest.split('.').next()).and_then(|e| e.parse::<i64>().ok());
        let Some(expiry) = expiry else { return false };
        secret::constant_time_eq(self.sign(payload).as_bytes(), mac.as_bytes()) && now_secs < expiry
    }

    /// The CSRF token of a session.
    pub fn csrf(&self, session: &str) -> String {
        self.sign(&format!("csrf:{session}"))
    }

    pub fn is_csrf(&self, session: &str, presented: &str) -> bool {
        secret::constant_time_eq(self.csrf(session).as_bytes(), presented.as_bytes())
    }

    /// `Err(seconds to wait)` while `client` has used up its failed logins.
    pub fn check_throttle(&self, client: Option<IpAddr>, now: Instant) -> Result<(), u64> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(&bucket(client)) {
            Some(f) if f.count >= MAX_FAILURES && now < f.first + FAILURE_WINDOW => {
                Err((f.first + FAILURE_WINDOW - now).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, client: Option<IpAddr>, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, f| now < f.first + FAILURE_WINDOW);
            if failures.len() >= MAX_TRACKED {
                if let Some(oldest) = failures.iter().min_by_key(|(_, f)| f.first).map(|(ip, _)| *ip) {
                    failures.remove(&oldest);
                }
            }
        }
        let entry = failures.entry(bucket(client)).or_insert(Failures { first: now, count: 0 });
        if now >= entry.first + FAILURE_WINDOW {
            *entry = Failures { first: now, count: 0 };
        }
        entry.count += 1;
    }

    pub fn clear_failures(&self, client: Option<IpAddr>) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&bucket(client));
    }
}

/// Clients are counted by address; IPv6 by /64, which one subscriber usually holds whole.
fn bucket(client: Option<IpAddr>) -> IpAddr {
    match client {
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        Some(ip) => ip,
        None => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.trim())
}

/// The `Set-Cookie` value for a session (or, with `None`, one that removes it).
pub fn set_cookie(value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => format!("{COOKIE}={v}; Path=/admin; Max-Age={LIFETIME_SECS}; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{COOKIE}=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_verify_until_they_expire_and_only_under_their_token() {
        let admin = Admin::new("0123456789abcdef-token");
        let cookie = admin.issue(1000);
        assert!(admin.is_valid(&cookie, 1000));
        assert!(admin.is_valid(&cookie, 1000 + LIFETIME_SECS - 1));
        assert!(!admin.is_valid(&cookie, 1000 + LIFETIME_SECS));
        let other = Admin::new("another-token-0123456789");
        assert!(!other.is_valid(&cookie, 1000), "a new token logs everyone out");
        // Extending the expiry breaks the signature.
        let parts: Vec<&str> = cookie.split('.').collect();
        assert_eq!(parts.len(), 4, "{cookie}");
        let extended = format!("v1.{}.{}.{}", 1000 + 10 * LIFETIME_SECS, parts[2], parts[3]);
        assert!(!admin.is_valid(&extended, 1000));
        assert_ne!(admin.issue(1000), cookie, "every login is its own session");
        for junk in ["", "v1", "v1.x.y", "v2.99999999999.00", "....."] {
            assert!(!admin.is_valid(junk, 0), "{junk:?}");
        }
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session() {
        let admin = Admin::new("0123456789abcdef-token");
        let a = admin.issue(0);
        let b = admin.issue(0);
        assert!(admin.is_csrf(&a, &admin.csrf(&a)));
        assert!(!admin.is_csrf(&a, &admin.csrf(&b)));
        assert!(!admin.is_csrf(&a, ""));
        assert!(admin.is_token("0123456789abcdef-token"));
        assert!(!admin.is_token("0123456789abcdef-toke"));
    }

    #[test]
    fn five_failures_lock_a_client_out_until_the_window_passes() {
        let admin = Admin::new("0123456789abcdef-token");
        let client: Option<IpAddr> = Some("2001:db8::1".parse().unwrap());
        let neighbour: Option<IpAddr> = Some("2001:db8::2".parse().unwrap());
        let other: Option<IpAddr> = Some("198.51.100.1".parse().unwrap());
        let start = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(admin.check_throttle(client, start).is_ok());
            admin.record_failure(client, start);
        }
        let wait = admin.check_throttle(client, start).unwrap_err();
        assert!((FAILURE_WINDOW.as_secs() - 1..=FAILURE_WINDOW.as_secs()).contains(&wait), "{wait}");
        assert!(admin.check_throttle(neighbour, start).is_err(), "the same /64");
        assert!(admin.check_throttle(other, start).is_ok());
        assert!(admin.check_throttle(client, start + FAILURE_WINDOW).is_ok());
        admin.clear_failures(client);
        assert!(admin.check_throttle(client, start).is_ok());
    }

    #[test]
    fn cookies_are_found_and_set_with_their_flags() {
        assert_eq!(cookie(Some("a=1; affiliated_admin=v1.2.3; b=4"), COOKIE), Some("v1.2.3"));
        assert_eq!(cookie(Some("a=1"), COOKIE), None);
        assert_eq!(cookie(None, COOKIE), None);
        let set = set_cookie(Some("v"), true);
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=43200", "Secure"] {
            assert!(set.contains(flag), "{set}");
        }
        assert!(!set_cookie(Some("v"), false).contains("Secure"));
        assert!(set_cookie(None, false).contains("Max-Age=0"));
    }
}
