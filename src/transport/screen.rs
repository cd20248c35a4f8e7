//! The checks a request head must pass before a worker spends anything on it.
//!
//! tiny_http 0.12 hands over requests whose framing is ambiguous or that ask for something we
//! never do, and reads their bodies by its own rules: with both `Content-Length` and
//! `Transfer-Encoding` it silently uses chunked; with several `Content-Length`s it uses the
//! first; an unparsable length (`5, 6`, or more than `usize::MAX`) counts as no body at all, so
//! the body is then read as the next request; any `Transfer-Encoding` is decoded as chunked; and a
//! `Connection: Upgrade` request gets the raw socket as its body. Each of these is refused here
//! (RFC 9112 section 6: answer 400 and close the connection), as are request-line versions other
//! than HTTP/1.0 and 1.1 (505) and declared bodies so large that no client means them.
//!
//! This module only decides. It never reads a body, touches a socket or logs: `exchange.rs`
//! answers the refusal and hangs up.

use super::request::MAX_BODY;

/// Declared bodies at or above this size are refused without reading or discarding any of it:
/// no client sends a gigabyte to an appliance whose bodies are capped at 1 MiB, and discarding it
/// would keep a thread busy until the socket timeout.
pub const ABSURD_BODY: u64 = 1 << 30;

/// Why a request is refused before routing.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: &'static str,
}

impl Refusal {
    const fn new(status: u16, code: &'static str, message: &'static str) -> Refusal {
        Refusal { status, code, message }
    }
}

const UPGRADE: Refusal = Refusal::new(
    400,
    "upgrade_not_supported",
    "this server speaks plain HTTP/1.1 only; protocol upgrades (WebSocket, h2c) are refused",
);
const FRAMING: Refusal = Refusal::new(
    400,
    "invalid_framing",
    "send exactly one of Content-Length (digits only) or Transfer-Encoding: chunked",
);
const VERSION: Refusal = Refusal::new(505, "http_version_not_supported", "use HTTP/1.1 (or HTTP/1.0)");
const ABSURD: Refusal = Refusal::new(413, "payload_too_large", "request bodies are limited to 1048576 bytes");

/// Checks a request head: its HTTP version and its headers, as (name, value) pairs in the order
/// received. `None` means the request may go on.
pub fn check<'a>(version: (u8, u8), headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Refusal> {
    if !matches!(version, (1, 0) | (1, 1)) {
        return Some(VERSION);
    }
    let mut length: Option<&str> = None;
    let mut transfer_encoding = false;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("upgrade")
            || (name.eq_ignore_ascii_case("connection") && has_token(value, "upgrade"))
        {
            return Some(UPGRADE);
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            // Only one coding is understood, and it must be the only one: tiny_http applies
            // chunked decoding to whatever is named here.
            if transfer_encoding || !value.trim().eq_ignore_ascii_case("chunked") || version == (1, 0) {
                return Some(FRAMING);
            }
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            let value = value.trim();
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Some(FRAMING);
            }
            match length {
                Some(first) if first.trim_start_matches('0') != value.trim_start_matches('0') => return Some(FRAMING),
                _ => length = Some(value),
            }
        }
    }
    if let Some(value) = length {
        if transfer_encoding {
            return Some(FRAMING);
        }
        // Past the absurd limit, including lengths that do not even fit in 64 bits (up to 19
        // significant digits always fit).
        let digits = value.trim_start_matches('0');
        if digits.len() > 19 || digits.parse::<u64>().is_ok_and(|n| n >= ABSURD_BODY) {
            return Some(ABSURD);
        }
    }
    None
}

/// Whether a comma-separated header value lists `token` (case-insensitive).
fn has_token(value: &str, token: &str) -> bool {
    value.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// [`check`] for a request as tiny_http hands it over.
pub fn check_request(rq: &tiny_http::Request) -> Option<Refusal> {
    let v = rq.http_version();
    let headers = rq.headers().iter().map(|h| (h.field.as_str().as_str(), h.value.as_str()));
    check((v.0, v.1), headers)
}

const _: () = assert!(ABSURD_BODY > MAX_BODY as u64);

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(version: (u8, u8), headers: &[(&str, &str)]) -> Option<&'static str> {
        check(version, headers.iter().copied()).map(|r| r.code)
    }

    #[test]
    fn plain_requests_pass() {
        assert_eq!(refused((1, 1), &[("Host", "x"), ("Content-Length", "12")]), None);
        assert_eq!(refused((1, 0), &[("Connection", "keep-alive")]), None);
        assert_eq!(refused((1, 1), &[("Transfer-Encoding", "Chunked")]), None);
        // The same length twice is one length.
        assert_eq!(refused((1, 1), &[("Content-Length", "5"), ("content-length", "005")]), None);
        assert_eq!(refused((1, 1), &[("Content-Length", "1073741823")]), None);
        assert_eq!(refused((1, 1), &[("Connection", "close, keep-alive-ish")]), None);
    }

    #[test]
    fn upgrades_are_refused() {
        assert_eq!(refused((1, 1), &[("Connection", "Upgrade")]), Some("upgrade_not_supported"));
        assert_eq!(refused((1, 1), &[("Connection", "keep-alive, upgrade")]), Some("upgrade_not_supported"));
        assert_eq!(refused((1, 1), &[("Upgrade", "websocket")]), Some("upgrade_not_supported"));
        assert_eq!(refused((1, 1), &[("upgrade", "h2c")]), Some("upgrade_not_supported"));
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let framing = Some("invalid_framing");
        assert_eq!(refused((1, 1), &[("Content-Length", "5"), ("Transfer-Encoding", "chunked")]), framing);
        assert_eq!(refused((1, 1), &[("Transfer-Encoding", "chunked"), ("Content-Length", "5")]), framing);
        assert_eq!(refused((1, 1), &[("Content-Length", "5"), ("Content-Length", "6")]), framing);
        assert_eq!(refused((1, 1), &[("Content-Length", "5, 6")]), framing);
        assert_eq!(refused((1, 1), &[("Content-Length", "5, 5")]), framing);
        assert_eq!(refused((1, 1), &[("Content-Length", "+5")]), framing);
        assert_eq!(refused((1, 1), &[("Content-Length", "-1")]), framing);
        assert_eq!(refused((1, 1), &[("Content-Length", "")]), framing);
        assert_eq!(refused((1, 1), &[("Transfer-Encoding", "gzip")]), framing);
        assert_eq!(refused((1, 1), &[("Transfer-Encoding", "gzip, chunked")]), framing);
        assert_eq!(refused((1, 1), &[("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")]), framing);
        assert_eq!(refused((1, 0), &[("Transfer-Encoding", "chunked")]), framing);
    }

    #[test]
    fn absurd_lengths_are_refused_up_front() {
        let absurd = Some("payload_too_large");
        assert_eq!(refused((1, 1), &[("Content-Length", "1073741824")]), absurd);
        assert_eq!(refused((1, 1), &[("Content-Length", "18446744073709551615")]), absurd);
        assert_eq!(refused((1, 1), &[("Content-Length", "18446744073709551616")]), absurd);
        assert_eq!(refused((1, 1), &[("Content-Length", "99999999999999999999999999")]), absurd);
        assert_eq!(refused((1, 1), &[("Content-Length", "0000000000000000000000012")]), None);
    }

    #[test]
    fn only_http_1_0_and_1_1_are_spoken() {
        for v in [(0, 9), (2, 0), (3, 0), (1, 2)] {
            assert_eq!(refused(v, &[]), Some("http_version_not_supported"), "{v:?}");
        }
    }
}
