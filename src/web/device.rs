//! Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): after a
//! successful login, the browser gets a cookie that names the account it logged in to, signed
//! by the server. Presented with a later login to that same account, it makes the browser a
//! trusted client (`web::throttle::Client`): past the account's lockout for untrusted clients,
//! subject to its own count and to its address's. So guesses sprayed at an account from many
//! addresses lock out new browsers, and never its owner's.
//!
//! The cookie: `<realm cookie>_device`, sent only to the realm's login form (`Path=<realm>/login`),
//! `HttpOnly`, `SameSite=Strict`, `Secure` under HTTPS, for [`LIFETIME`]. Its value is
//! `<account>.<nonce>.<expires>.<mac>`: the account's name in the realm, 128 random bits, the
//! expiry in Unix seconds, and the HMAC-SHA256 under the server's device key of all that with
//! the realm and a *binding* the area chooses: the portal binds to the account's password hash
//! and the admin to its token's hash, so a new password (a re-invite) or a new admin token
//! retires every device cookie issued before. Every login issues a new one.
//!
//! The key is the server's own, in `<db>.device-key` (mode 0600, made on first start by
//! `cli/bootstrap.rs`), never in the database and never logged. Without the file (a restore
//! without it) a new key is made: browsers are new to the server until their next login.
//!
//! Architecture invariant: reads cookies and makes `Set-Cookie` values; keeps nothing in memory
//! (the counts are `web::throttle`'s) and never touches the database.

use std::time::Duration;

use super::session::Realm;
use super::throttle::{Client, DeviceId};
use crate::secret::{self, Key};

/// How long a device cookie is valid from the login that issued it.
pub const LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);

/// The first line of the key file.
pub const KEY_FILE_HEADER: &str = "affiliated device cookie key v1";

/// The device cookie's name in `realm`.
pub fn cookie_name(realm: &Realm) -> String {
    format!("{}_device", realm.cookie)
}

/// What the signature covers.
fn mac(key: &Key, realm: &Realm, account: &str, nonce: &str, expires: i64, binding: &[u8]) -> [u8; 32] {
    let mut data =
        format!("affiliated device cookie v1\n{}\n{account}\n{nonce}\n{expires}\n", realm.cookie).into_bytes();
    data.extend_from_slice(binding);
    secret::hmac_sha256(&key.0, &data)
}

/// The `Set-Cookie` value of a new device cookie for `account` (no `.` in it), bound to
/// `binding`, issued at `now_ms`.
pub fn issue(key: &Key, realm: &Realm, account: &str, binding: &[u8], secure: bool, now_ms: i64) -> String {
    debug_assert!(!account.contains(['.', ';', ' ']), "{account}");
    let mut nonce = [0u8; 16];
    rand::fill(&mut nonce);
    let nonce = secret::base64url(&nonce);
    let expires = now_ms / 1000 + LIFETIME.as_secs() as i64;
    let signature = secret::base64url(&mac(key, realm, account, &nonce, expires, binding));
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{}={account}.{nonce}.{expires}.{signature}; Path={}/login; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        cookie_name(realm),
        realm.path,
        LIFETIME.as_secs()
    )
}

/// Whether the `Cookie` header holds a valid, unexpired device cookie of `realm` for `account`
/// bound to `binding`: then the browser is [`Client::Trusted`] by that cookie's nonce.
pub fn client(
    key: Option<&Key>,
    realm: &Realm,
    cookies: Option<&str>,
    account: &str,
    binding: &[u8],
    now_ms: i64,
) -> Client {
    let trusted = || -> Option<DeviceId> {
        let value = super::session::cookie(cookies, &cookie_name(realm))?;
        let mut parts = value.split('.');
        let (named, nonce, expires, signature) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || named != account {
            return None;
        }
        let id = secret::from_base64url::<16>(nonce)?;
        let expires: i64 = expires.parse().ok()?;
        let signature = secret::from_base64url::<32>(signature)?;
        let expected = mac(key?, realm, account, nonce, expires, binding);
        (secret::constant_time_eq(&signature, &expected) && now_ms / 1000 < expires).then_some(id)
    };
    trusted().map_or(Client::Untrusted, Client::Trusted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::session::tests::REALM;

    const OTHER: Realm = Realm { cookie: "other", ..REALM };

    fn value(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_string()
    }

    #[test]
    fn a_device_cookie_trusts_its_browser_for_its_account_only() {
        let key = Key([1; 32]);
        let now = 1_800_000_000_000;
        let set = issue(&key, &REALM, "42", b"hash-1", true, now);
        assert!(set.starts_with("area_device=42."), "{set}");
        assert!(set.ends_with("; Path=/area/login; Max-Age=7776000; HttpOnly; SameSite=Strict; Secure"), "{set}");
        assert!(!issue(&key, &REALM, "42", b"hash-1", false, now).contains("Secure"));
        let cookie = format!("x=1; {}", value(&set));
        let check = |key: &Key, realm: &Realm, account: &str, binding: &[u8], at: i64| {
            client(Some(key), realm, Some(&cookie), account, binding, at)
        };
        let Client::Trusted(id) = check(&key, &REALM, "42", b"hash-1", now) else { panic!("not trusted") };
        assert_eq!(id.len(), 16);
        assert_eq!(check(&key, &REALM, "43", b"hash-1", now), Client::Untrusted, "another account");
        assert_eq!(check(&key, &REALM, "42", b"hash-2", now), Client::Untrusted, "a new password");
        assert_eq!(check(&Key([2; 32]), &REALM, "42", b"hash-1", now), Client::Untrusted, "another key");
        assert_eq!(check(&key, &OTHER, "42", b"hash-1", now), Client::Untrusted, "another realm");
        let later = now + LIFETIME.as_millis() as i64;
        assert_eq!(check(&key, &REALM, "42", b"hash-1", later), Client::Untrusted, "expired");
        assert_eq!(client(None, &REALM, Some(&cookie), "42", b"hash-1", now), Client::Untrusted, "no key");
        assert_eq!(client(Some(&key), &REALM, None, "42", b"hash-1", now), Client::Untrusted, "no cookie");
        // Each login's cookie has a nonce of its own.
        let again = format!("area_device={}", value(&issue(&key, &REALM, "42", b"hash-1", true, now)));
        assert_ne!(client(Some(&key), &REALM, Some(&again), "42", b"hash-1", now), Client::Trusted(id));
    }

    #[test]
    fn a_forged_or_altered_cookie_is_untrusted() {
        let key = Key([1; 32]);
        let now = 1_800_000_000_000;
        let good = value(&issue(&key, &REALM, "42", b"h", false, now));
        let (name, v) = good.split_once('=').unwrap();
        let parts: Vec<&str> = v.split('.').collect();
        let far = (now / 1000 + 10 * LIFETIME.as_secs() as i64).to_string();
        for forged in [
            format!("{name}=43.{}.{}.{}", parts[1], parts[2], parts[3]),
            format!("{name}=42.{}.{far}.{}", parts[1], parts[3]),
            format!("{name}=42.{}.{}.{}", secret::base64url(&[0; 16]), parts[2], parts[3]),
            format!("{name}=42.{}.{}.{}", parts[1], parts[2], secret::base64url(&[0; 32])),
            format!("{name}=42.{}.{}", parts[1], parts[2]),
            format!("{name}={v}.x"),
            format!("{name}="),
        ] {
            assert_eq!(client(Some(&key), &REALM, Some(&forged), "42", b"h", now), Client::Untrusted, "{forged}");
        }
    }
}
