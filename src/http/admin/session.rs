//! The admin's use of the shared session mechanism (`http::session`): its realm (the
//! `affiliated_admin` cookie under `/admin`, 12 hours), the token check and the login throttle.
//! Sessions themselves are stored server-side; nothing here keeps one.

use std::net::IpAddr;
use std::time::Duration;

use crate::http::session::{Realm, Throttle};
use crate::secret;
use crate::store::sessions::Principal;

pub const COOKIE: &str = "affiliated_admin";
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Failed logins from one address allowed within [`FAILURE_WINDOW`] before it must wait.
pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

pub const REALM: Realm =
    Realm { cookie: COOKIE, path: "/admin", lifetime: LIFETIME, admits: |p| matches!(p, Principal::Admin) };

/// The admin's state, shared by all workers.
pub struct Admin {
    token_sha256: [u8; 32],
    /// Failed logins per client address (see `http::session::address_key`).
    pub throttle: Throttle<IpAddr>,
}

impl Admin {
    /// The admin of the token whose SHA-256 is `token_sha256` (the token itself is not kept).
    pub fn new(token_sha256: [u8; 32]) -> Admin {
        Admin { token_sha256, throttle: Throttle::new(MAX_FAILURES, FAILURE_WINDOW) }
    }

    /// Whether `presented` is the admin token. Hashes are compared, so neither the content nor
    /// the length of the token leaks through timing.
    pub fn is_token(&self, presented: &str) -> bool {
        secret::constant_time_eq(&secret::sha256(presented.as_bytes()), &self.token_sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_checked_against_its_hash() {
        let admin = Admin::new(secret::sha256(b"0123456789abcdef-token"));
        assert!(admin.is_token("0123456789abcdef-token"));
        assert!(!admin.is_token("0123456789abcdef-toke"));
        assert!(!admin.is_token(""));
    }

    #[test]
    fn the_realm_admits_only_the_admin() {
        assert!((REALM.admits)(Principal::Admin));
        assert!(!(REALM.admits)(Principal::Affiliate(1)));
    }
}
