//! What the platforms' signatures share: an HMAC-SHA256 of the raw body (Shopify, WooCommerce)
//! or of a timestamp and the body (Stripe, Paddle), sent as hex or base64, compared in constant
//! time, and a timestamp that must be recent. Each platform file says which of these it uses.

use crate::error::Error;
use crate::secret;

/// How far a signed timestamp may be from our clock, either way (Stripe's own default).
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// No signature, a malformed one, or one that does not match.
    Invalid,
    /// A valid signature over a timestamp outside the tolerance: a replay, or a clock far off.
    Stale,
}

impl SignatureError {
    /// The 401 answered for it.
    pub fn error(self, platform: &str, header: &str) -> Error {
        match self {
            SignatureError::Invalid => Error::new(
                401,
                "invalid_signature",
                format!(
                    "the {header} header is missing or does not match this body; check that the {platform} signing \
                     secret configured here is the one of this webhook endpoint"
                ),
            ),
            SignatureError::Stale => Error::new(
                401,
                "stale_signature",
                format!(
                    "the {header} timestamp is more than {} minutes from this server's time: a replayed request, or a \
                     clock that is off",
                    TOLERANCE_SECS / 60
                ),
            ),
        }
    }
}

/// HMAC-SHA256 of the concatenated `parts` under `secret` (its bytes as they are).
pub fn hmac(secret: &str, parts: &[&[u8]]) -> [u8; 32] {
    secret::hmac_sha256(secret.as_bytes(), &parts.concat())
}

/// Whether any of `presented` equals `expected`, comparing each in constant time.
pub fn any_matches<'a>(expected: &str, presented: impl IntoIterator<Item = &'a str>) -> bool {
    presented.into_iter().fold(false, |found, p| found | secret::constant_time_eq(expected.as_bytes(), p.as_bytes()))
}

/// Checks a `X-…-Hmac-Sha256`-style header: the base64 HMAC of the body.
pub fn verify_base64(presented: Option<&str>, body: &[u8], secret: &str) -> Result<(), SignatureError> {
    let expected = secret::base64(&hmac(secret, &[body]));
    match presented {
        Some(p) if any_matches(&expected, [p]) => Ok(()),
        _ => Err(SignatureError::Invalid),
    }
}

/// A timestamped signature header: the timestamp and every signature of the wanted scheme.
/// `pairs` separates the entries (`,` for Stripe, `;` for Paddle).
#[derive(Debug, PartialEq, Eq)]
pub struct Timestamped<'a> {
    pub timestamp: &'a str,
    pub signatures: Vec<&'a str>,
}

pub fn parse_timestamped<'a>(header: &'a str, pairs: char, ts_key: &str, scheme: &str) -> Option<Timestamped<'a>> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for entry in header.split(pairs) {
        let (key, value) = entry.trim().split_once('=')?;
        if key == ts_key {
            timestamp = Some(value);
        } else if key == scheme {
            signatures.push(value);
        }
    }
    let timestamp = timestamp.filter(|t| !t.is_empty() && t.len() <= 12 && t.bytes().all(|b| b.is_ascii_digit()))?;
    (!signatures.is_empty()).then_some(Timestamped { timestamp, signatures })
}

/// Checks a timestamped header: one of its signatures is the hex HMAC of
/// `timestamp + separator + body`, and the timestamp is within [`TOLERANCE_SECS`] of `now`.
/// The signature is checked first, so only an authentic request is ever called stale.
pub fn verify_timestamped(
    parsed: Option<Timestamped<'_>>,
    separator: &[u8],
    body: &[u8],
    secret: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let parsed = parsed.ok_or(SignatureError::Invalid)?;
    let expected = secret::hex(&hmac(secret, &[parsed.timestamp.as_bytes(), separator, body]));
    if !any_matches(&expected, parsed.signatures.iter().copied()) {
        return Err(SignatureError::Invalid);
    }
    let at: i64 = parsed.timestamp.parse().map_err(|_| SignatureError::Invalid)?;
    if (now - at).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2.
        let mac = hmac("Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(secret::hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn timestamped_headers_parse_every_signature_of_the_scheme() {
        let parsed = parse_timestamped("t=100,v1=aa,v0=zz,v1=bb", ',', "t", "v1").unwrap();
        assert_eq!(parsed, Timestamped { timestamp: "100", signatures: vec!["aa", "bb"] });
        assert_eq!(parse_timestamped("ts=1;h1=cc", ';', "ts", "h1").unwrap().signatures, ["cc"]);
        for bad in ["", "t=100", "v1=aa", "t=,v1=aa", "t=x,v1=aa", "t=100;v1=aa", "garbage"] {
            assert_eq!(parse_timestamped(bad, ',', "t", "v1"), None, "{bad:?}");
        }
    }

    #[test]
    fn timestamped_signatures_are_checked_before_their_age() {
        let body = b"{}";
        let good = secret::hex(&hmac("k", &[b"1000", b".", body]));
        let header = format!("t=1000,v1=00,v1={good}");
        let check = |h: &str, now| verify_timestamped(parse_timestamped(h, ',', "t", "v1"), b".", body, "k", now);
        assert_eq!(check(&header, 1000 + TOLERANCE_SECS), Ok(()));
        assert_eq!(check(&header, 1000 - TOLERANCE_SECS), Ok(()));
        assert_eq!(check(&header, 1001 + TOLERANCE_SECS), Err(SignatureError::Stale));
        assert_eq!(check("t=1000,v1=00", 99_999), Err(SignatureError::Invalid), "a forgery is never just stale");
        assert_eq!(verify_timestamped(None, b".", body, "k", 1000), Err(SignatureError::Invalid));
    }

    #[test]
    fn body_signatures_compare_the_whole_value() {
        let sig = secret::base64(&hmac("k", &[b"body"]));
        assert_eq!(verify_base64(Some(&sig), b"body", "k"), Ok(()));
        assert_eq!(verify_base64(Some(&sig), b"body!", "k"), Err(SignatureError::Invalid));
        assert_eq!(verify_base64(Some(&sig[..10]), b"body", "k"), Err(SignatureError::Invalid));
        assert_eq!(verify_base64(None, b"body", "k"), Err(SignatureError::Invalid));
        assert_eq!(SignatureError::Stale.error("Stripe", "Stripe-Signature").code, "stale_signature");
    }
}
