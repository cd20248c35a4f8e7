//! Requests as plain values: method, path, decoded query, the headers we use, the body and the
//! client's address. Built once from tiny_http's request, so handlers never touch tiny_http.

use std::io::{ErrorKind, Read};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;
/// A body must arrive completely within this time, however slowly each read trickles in.
pub const BODY_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other,
}

impl Method {
    pub fn from_tiny(m: &tiny_http::Method) -> Method {
        use tiny_http::Method as M;
        match m {
            M::Get => Method::Get,
            M::Head => Method::Head,
            M::Post => Method::Post,
            M::Put => Method::Put,
            M::Patch => Method::Patch,
            M::Delete => Method::Delete,
            M::Options => Method::Options,
            _ => Method::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other => "OTHER",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Headers {
    pub api_key: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
    pub referer: Option<String>,
    pub forwarded_for: Option<String>,
    pub forwarded_proto: Option<String>,
    pub cookie: Option<String>,
    pub host: Option<String>,
    /// The page's origin on a cross-origin browser request (CORS, see `snippet.rs`).
    pub origin: Option<String>,
    /// Where a browser says the request comes from: `same-origin`, `same-site`, `cross-site` or
    /// `none` (Fetch Metadata; set by browsers only, see `snippet.rs`).
    pub sec_fetch_site: Option<String>,
    /// The validators of a cached copy (`ETag`s), for 304 answers.
    pub if_none_match: Option<String>,
    /// Shop platforms' webhook headers (`Stripe-*`, `X-Shopify-*`, `X-WC-Webhook-*`, `Paddle-*`),
    /// names in lower case, for the connectors' signature checks.
    pub platform: Vec<(String, String)>,
}

/// Header name prefixes of shop platforms' webhooks (see [`Headers::platform`]).
const PLATFORM_PREFIXES: [&str; 4] = ["stripe-", "x-shopify-", "x-wc-webhook-", "paddle-"];

#[derive(Clone, Debug)]
pub struct Req {
    pub method: Method,
    /// The path as sent, without the query string (percent-encoded).
    pub path: String,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// The address the request is attributed to (see [`client_ip`]).
    pub client_ip: Option<IpAddr>,
    /// Path parameters captured by the router, decoded.
    pub params: Vec<String>,
    /// The API key the request authenticated with, once checked.
    pub key_id: Option<i64>,
    /// The API key is a test key: everything this request writes is test data.
    pub test_key: bool,
    /// For admin pages: the logged-in session's CSRF token, once the session is checked.
    pub csrf: Option<String>,
    /// For portal pages: the logged-in affiliate's id, once the session is checked.
    pub affiliate_id: Option<i64>,
    /// For pages of a logged-in area: a number to show beside a navigation entry, by its path
    /// (set by the area's guard: the admin's pending applications).
    pub nav_counts: Vec<(&'static str, i64)>,
}

impl Req {
    pub fn from_parts(method: Method, url: &str, headers: Headers, client_ip: Option<IpAddr>) -> Req {
        let (path, query) = match url.split_once('?') {
            Some((p, q)) => (p, q),
            None => (url, ""),
        };
        Req {
            method,
            path: path.to_string(),
            query: form_urlencoded::parse(query.as_bytes()).into_owned().collect(),
            headers,
            body: Vec::new(),
            client_ip,
            params: Vec::new(),
            key_id: None,
            test_key: false,
            csrf: None,
            affiliate_id: None,
            nav_counts: Vec::new(),
        }
    }

    /// The first value of a query parameter, if present and not empty.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub fn param(&self, index: usize) -> &str {
        self.params.get(index).map(String::as_str).unwrap_or("")
    }

    /// Path parameter `index` as a row id. One that is not a positive integer names nothing
    /// that can exist, so it is the same `not_found` as an unknown id (the store's answer for
    /// what the path names).
    pub fn id(&self, index: usize, not_found: fn(String) -> crate::error::Error) -> Result<i64, crate::error::Error> {
        let text = self.param(index);
        text.parse().ok().filter(|id| *id > 0).ok_or_else(|| not_found(text.to_string()))
    }

    /// The API key from `X-Api-Key` or `Authorization: Bearer`.
    pub fn presented_key(&self) -> Option<&str> {
        if let Some(k) = self.headers.api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            return Some(k);
        }
        let auth = self.headers.authorization.as_deref()?.trim();
        let (scheme, token) = auth.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
    }
}

/// Collects the headers we use from tiny_http's list.
pub fn headers_of(list: &[tiny_http::Header]) -> Headers {
    let mut h = Headers::default();
    for header in list {
        let value = || Some(header.value.as_str().to_string());
        let field = header.field.as_str().as_str();
        let slot = if field.eq_ignore_ascii_case("x-api-key") {
            &mut h.api_key
        } else if field.eq_ignore_ascii_case("authorization") {
            &mut h.authorization
        } else if field.eq_ignore_ascii_case("content-type") {
            &mut h.content_type
        } else if field.eq_ignore_ascii_case("user-agent") {
            &mut h.user_agent
        } else if field.eq_ignore_ascii_case("referer") {
            &mut h.referer
        } else if field.eq_ignore_ascii_case("x-forwarded-for") {
            // Several X-Forwarded-For headers form one list, in order.
            h.forwarded_for = Some(match h.forwarded_for.take() {
                Some(prev) => format!("{prev}, {}", header.value.as_str()),
                None => header.value.as_str().to_string(),
            });
            continue;
        } else if field.eq_ignore_ascii_case("x-forwarded-proto") {
            &mut h.forwarded_proto
        } else if field.eq_ignore_ascii_case("cookie") {
            &mut h.cookie
        } else if field.eq_ignore_ascii_case("host") {
            &mut h.host
        } else if field.eq_ignore_ascii_case("origin") {
            &mut h.origin
        } else if field.eq_ignore_ascii_case("sec-fetch-site") {
            &mut h.sec_fetch_site
        } else if field.eq_ignore_ascii_case("if-none-match") {
            &mut h.if_none_match
        } else {
            let name = field.as_bytes();
            let ours = |p: &&str| name.len() > p.len() && name[..p.len()].eq_ignore_ascii_case(p.as_bytes());
            if PLATFORM_PREFIXES.iter().any(ours) && h.platform.len() < 32 {
                h.platform.push((field.to_ascii_lowercase(), header.value.as_str().to_string()));
            }
            continue;
        };
        if slot.is_none() {
            *slot = value();
        }
    }
    h
}

/// The visitor's address: the TCP peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Entries further left
/// were written by the client and are not believed.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer.map(canonical)?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let Some(list) = forwarded_for else {
        return Some(peer);
    };
    for entry in list.rsplit(',') {
        let Ok(ip) = entry.trim().parse::<IpAddr>().map(canonical) else {
            // A malformed hop: stop believing the chain here.
            return Some(peer);
        };
        if !trusted.contains(&ip) {
            return Some(ip);
        }
    }
    Some(peer)
}

/// IPv4-mapped IPv6 addresses (from dual-stack sockets) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    TimedOut,
    Broken,
}

/// Reads a body of at most `limit` bytes, within [`BODY_DEADLINE`] in total. A body that ends
/// before its declared length (the client closed its side early) is `Broken`, never handled as
/// if it were complete: a cut form body can still parse, with another amount.
pub fn read_body(reader: &mut dyn Read, declared: Option<usize>, limit: usize) -> Result<Vec<u8>, BodyError> {
    read_body_within(reader, declared, limit, BODY_DEADLINE)
}

/// [`read_body`] with its deadline. The deadline is looked at after every single read, so a
/// client that sends one byte at a time holds the reading thread no longer than the deadline
/// (plus one socket timeout). Most requests (every tracking link) have no body: the first read
/// goes into a small buffer and finds the end at once; only a body that has bytes gets the
/// [`BODY_CHUNK`] buffer (a zeroed 16 KiB one for every request was a tenth of a redirect's
/// instructions under callgrind).
fn read_body_within(
    reader: &mut dyn Read,
    declared: Option<usize>,
    limit: usize,
    deadline: Duration,
) -> Result<Vec<u8>, BodyError> {
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let started = Instant::now();
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    let mut first = [0u8; FIRST_READ];
    let mut chunk = Vec::new();
    loop {
        let buf: &mut [u8] = if body.is_empty() {
            &mut first
        } else {
            if chunk.is_empty() {
                chunk.resize(BODY_CHUNK, 0);
            }
            &mut chunk
        };
        match reader.read(buf) {
            Ok(0) if declared.is_some_and(|n| body.len() < n) => return Err(BodyError::Broken),
            Ok(0) => return Ok(body),
            Ok(n) if body.len() + n > limit => return Err(BodyError::TooLarge),
            Ok(n) => body.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(BodyError::TimedOut);
            }
            Err(_) => return Err(BodyError::Broken),
        }
        if started.elapsed() > deadline {
            return Err(BodyError::TimedOut);
        }
    }
}

/// The first read of a body, which for most requests only finds that there is none.
const FIRST_READ: usize = 64;
/// The most of a body read at once, between two looks at the deadline.
const BODY_CHUNK: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy = ip("127.0.0.1");
        let trusted = [proxy];
        // A direct client cannot claim another address.
        assert_eq!(client_ip(Some(ip("198.51.100.7")), Some("203.0.113.1"), &trusted), Some(ip("198.51.100.7")));
        // Through the proxy, the right-most untrusted entry is the client.
        assert_eq!(client_ip(Some(proxy), Some("203.0.113.1"), &trusted), Some(ip("203.0.113.1")));
        // The client forged an entry on the left; it is ignored.
        assert_eq!(client_ip(Some(proxy), Some("10.9.9.9, 203.0.113.1"), &trusted), Some(ip("203.0.113.1")));
        // Garbage makes us fall back to the proxy's address.
        assert_eq!(client_ip(Some(proxy), Some("not-an-ip"), &trusted), Some(proxy));
        assert_eq!(client_ip(Some(proxy), None, &trusted), Some(proxy));
        assert_eq!(client_ip(Some(ip("::ffff:198.51.100.7")), None, &[]), Some(ip("198.51.100.7")));
    }

    #[test]
    fn a_path_id_is_a_positive_integer_or_the_not_found_of_what_it_names() {
        let not_found = |id: String| crate::error::Error::not_found("not_found", format!("no thing has id {id}"));
        let mut req = Req::from_parts(Method::Get, "/things/x", Headers::default(), None);
        for (param, id) in [("7", Ok(7)), ("0", Err("0")), ("-3", Err("-3")), ("1e3", Err("1e3")), ("", Err(""))] {
            req.params = vec![param.to_string()];
            let found = req.id(0, not_found).map_err(|e| e.message);
            assert_eq!(found, id.map_err(|id| format!("no thing has id {id}")), "{param:?}");
        }
    }

    #[test]
    fn keys_come_from_either_header() {
        let mut h = Headers { api_key: Some("k1".into()), ..Headers::default() };
        let r = Req::from_parts(Method::Get, "/", h.clone(), None);
        assert_eq!(r.presented_key(), Some("k1"));
        h.api_key = None;
        h.authorization = Some("Bearer k2".into());
        assert_eq!(Req::from_parts(Method::Get, "/", h.clone(), None).presented_key(), Some("k2"));
        h.authorization = Some("Basic k2".into());
        assert_eq!(Req::from_parts(Method::Get, "/", h, None).presented_key(), None);
    }

    #[test]
    fn query_is_decoded() {
        let r = Req::from_parts(Method::Get, "/r/ann?sub1=a%20b&sub2=&x=%0d%0a", Headers::default(), None);
        assert_eq!(r.path, "/r/ann");
        assert_eq!(r.query("sub1"), Some("a b"));
        assert_eq!(r.query("sub2"), None);
        assert_eq!(r.query("x"), Some("\r\n"));
    }

    #[test]
    fn bodies_are_capped() {
        let data = [b'x'; 100];
        assert_eq!(read_body(&mut &data[..], Some(100), 100).unwrap().len(), 100);
        assert_eq!(read_body(&mut &data[..], Some(101), 100), Err(BodyError::TooLarge));
        assert_eq!(read_body(&mut &data[..], None, 99), Err(BodyError::TooLarge));
        assert_eq!(read_body(&mut &data[..], Some(101), 200), Err(BodyError::Broken));
    }

    /// A reader that hands out `left` bytes and counts the buffer space it was offered.
    struct Offered {
        left: usize,
        offered: usize,
    }

    impl Read for Offered {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.offered += buf.len();
            let n = buf.len().min(self.left);
            buf[..n].fill(b'x');
            self.left -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_request_without_a_body_costs_no_buffer_and_a_long_one_arrives_whole() {
        // A tracking link has no body: finding its end must not cost a zeroed scratch buffer.
        let mut empty = Offered { left: 0, offered: 0 };
        assert_eq!(read_body(&mut empty, None, MAX), Ok(Vec::new()));
        assert!(empty.offered <= 64, "offered {} bytes to read nothing", empty.offered);
        // A body longer than one chunk still arrives whole, and one over the cap is refused.
        let mut long = Offered { left: 100_000, offered: 0 };
        assert_eq!(read_body(&mut long, Some(100_000), MAX).map(|b| b.len()), Ok(100_000));
        let mut too_long = Offered { left: MAX + 1, offered: 0 };
        assert_eq!(read_body(&mut too_long, None, MAX), Err(BodyError::TooLarge));
    }

    const MAX: usize = 1 << 20;

    /// A client that sends one byte per read, forever; counts the reads.
    struct Drip {
        reads: usize,
    }

    impl Read for Drip {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.reads += 1;
            buf[0] = b'x';
            Ok(1)
        }
    }

    #[test]
    fn a_body_sent_a_byte_at_a_time_is_cut_at_the_deadline_after_each_read() {
        // With the deadline already passed, the first byte's read is the last: the deadline is
        // looked at after every read, never after a whole chunk of them.
        let mut drip = Drip { reads: 0 };
        assert_eq!(read_body_within(&mut drip, None, MAX, Duration::ZERO), Err(BodyError::TimedOut));
        assert_eq!(drip.reads, 1);
    }
}
