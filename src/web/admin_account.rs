//! The admin's account as every worker holds it (`Ctx::admin`, `None` while the admin is off):
//! the admin token, kept only as its SHA-256, and its failed-login limits (`throttle.rs`, the
//! portal's rules: the account is the one admin, whose device cookies are bound to the token's
//! hash). The admin's pages and realm are the admin area's (`admin/`).

use std::time::Duration;

use crate::secret;
use crate::web::throttle::LoginLimits;

/// Failed logins allowed within [`FAILURE_WINDOW`] before more wait: from one address; for the
/// admin from browsers that never logged in to it (from anywhere: a spray over many addresses
/// locks out new browsers, not the merchant's own); and from one browser that did (its device
/// cookie).
pub const MAX_FAILURES: u32 = 5;
pub const MAX_FAILURES_UNTRUSTED: u32 = 20;
pub const MAX_FAILURES_PER_DEVICE: u32 = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The admin's state, shared by all workers.
pub struct Admin {
    token_sha256: [u8; 32],
    /// Failed logins per client address, from untrusted browsers, per device cookie.
    pub limits: LoginLimits<()>,
}

impl Admin {
    /// The admin of the token whose SHA-256 is `token_sha256` (the token itself is not kept).
    pub fn new(token_sha256: [u8; 32]) -> Admin {
        let limits = LoginLimits::new(MAX_FAILURES, MAX_FAILURES_UNTRUSTED, MAX_FAILURES_PER_DEVICE, FAILURE_WINDOW);
        Admin { token_sha256, limits }
    }

    /// What the admin's device cookies are bound to: the token's hash, so a new token retires
    /// them all.
    pub fn device_binding(&self) -> &[u8] {
        &self.token_sha256
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
}
