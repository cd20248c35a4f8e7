//! Deep links: `GET /r/{code}?url=URL` sends the visitor to a page of the shop (a product, a
//! post) instead of the offer's landing page, when URL's host is the landing URL's host or one
//! of the offer's `allowed_hosts`. Anything else is refused here and the caller falls back to
//! the landing URL: a tracking link is never an open redirect.
//!
//! The rule is written for how browsers read URLs (the WHATWG URL standard), which is more
//! forgiving than what we accept: a browser strips tabs and line breaks anywhere, turns `\` into
//! `/`, reads `https:evil.example` and `https:///evil.example` as `https://evil.example/`,
//! decodes `%2E` in a host, reads `user@host` as a login for `host`, converts Unicode host names
//! to punycode and numbers such as `0x7f.1` to addresses. So a URL is accepted only in one plain
//! form: printable ASCII without `\`, quotes, angle brackets or braces; `http://` or `https://`
//! with exactly two slashes; a host of DNS labels (or the landing URL's own host, written the same
//! way); no user info, no `%` in the host; no port but the scheme's default or the landing URL's
//! own. The host is then compared as text (lower-cased, one trailing dot ignored), so two
//! spellings of one host can only be refused, never mistaken for another.
//!
//! What the visitor gets (see [`destination`]): the URL as given, with the landing URL's query
//! parameters added (their macros filled in), and `click_id=<id>` when the landing URL's query
//! does not carry `{click_id}` itself. Parameters of the URL with those names are dropped first,
//! so the tracking parameters only ever come from the offer. Pure string logic, no I/O, no regex.

use super::link::{self, MAX_URL_LEN, Visit};

/// The most hosts an offer may allow besides its landing URL's.
pub const MAX_ALLOWED_HOSTS: usize = 50;

/// Why a deep link's URL was refused (the visitor then goes to the landing URL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    TooLong,
    /// Not `http://` or `https://` followed by a host.
    NotAbsolute,
    /// A space, control character, backslash, non-ASCII character or another character a URL
    /// must not hold unencoded.
    Characters,
    UserInfo,
    /// A host that is not a plain host name (percent-encoded, empty, malformed).
    Host,
    Port,
    /// `http://` to a shop whose landing URL is `https://`.
    Insecure,
    /// A host that is neither the landing URL's nor allowed.
    NotAllowed,
}

impl Refusal {
    /// The refusal's name, as `/metrics` labels it.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::TooLong => "too_long",
            Refusal::NotAbsolute => "not_absolute",
            Refusal::Characters => "characters",
            Refusal::UserInfo => "user_info",
            Refusal::Host => "host",
            Refusal::Port => "port",
            Refusal::Insecure => "insecure",
            Refusal::NotAllowed => "not_allowed",
        }
    }

    /// The reason in words, for the affiliate's link builder.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::TooLong => "is longer than 2048 characters",
            Refusal::NotAbsolute => "must be a whole address starting with https://",
            Refusal::Characters => {
                "contains a space, line break, backslash, quote or non-ASCII character; copy the address from the \
                 browser's address bar"
            }
            Refusal::UserInfo => "must not contain a user name or password (user@host)",
            Refusal::Host => "does not have a plain host name",
            Refusal::Port => "names a port the shop does not use",
            Refusal::Insecure => "must start with https://, like the shop's landing page",
            Refusal::NotAllowed => "is not on a site this offer links to",
        }
    }
}

/// Checks a host an offer allows deep links to: a DNS name of at least two labels
/// (`shop.example`), or `*.` and such a name (`*.shop.example`: every subdomain, not the name
/// itself). Returns it lower-cased without a trailing dot. No addresses, ports or other
/// wildcards.
pub fn check_allowed_host(text: &str) -> Result<String, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (wildcard, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if lower.contains("://") || lower.contains(['/', ':', '@', '?', '#']) {
        return Err(format!("{text:?} must be a host name only, like shop.example (no https://, port or path)"));
    }
    if name.contains('*') {
        return Err(format!("{text:?}: a wildcard may only stand at the start, as in *.shop.example"));
    }
    let labels_ok = name.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    // A last label starting with a letter: never an IPv4 address in any of its spellings.
    let last_is_name = name.rsplit('.').next().is_some_and(|l| l.starts_with(|c: char| c.is_ascii_lowercase()));
    if name.len() > 253 || !labels_ok || !last_is_name || !name.contains('.') {
        return Err(format!(
            "{text:?} is not a host name of at least two labels such as shop.example (letters, digits and -; \
             internationalised names in their xn-- form)"
        ));
    }
    Ok(if wildcard { format!("*.{name}") } else { name.to_string() })
}

/// Checks an offer's list of allowed hosts: each one valid, at most [`MAX_ALLOWED_HOSTS`];
/// returns them normalised, without repeats, in the given order.
pub fn check_allowed_hosts<'a>(hosts: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for host in hosts {
        let host = check_allowed_host(host)?;
        if !out.contains(&host) {
            out.push(host);
        }
    }
    if out.len() > MAX_ALLOWED_HOSTS {
        return Err(format!("at most {MAX_ALLOWED_HOSTS} hosts"));
    }
    Ok(out)
}

/// Whether `host` (lower-cased, no trailing dot) is allowed by `pattern`.
fn matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host.ends_with(suffix)
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
        }
        None => pattern == host,
    }
}

/// The scheme's default port.
fn default_port(scheme: &str) -> u16 {
    if scheme.eq_ignore_ascii_case("https") { 443 } else { 80 }
}

/// Checks `url` as a deep link of an offer whose landing URL template is `landing` and whose
/// allowed hosts are `allowed` (as [`check_allowed_hosts`] returns them).
pub fn check(url: &str, landing: &str, allowed: &[String]) -> Result<(), Refusal> {
    if url.len() > MAX_URL_LEN {
        return Err(Refusal::TooLong);
    }
    if url.bytes().any(|b| {
        !(0x21..=0x7e).contains(&b) || matches!(b, b'{' | b'}' | b'\\' | b'"' | b'<' | b'>' | b'^' | b'`' | b'|')
    }) {
        return Err(Refusal::Characters);
    }
    let Some(colon) = url.find("://") else { return Err(Refusal::NotAbsolute) };
    let scheme = &url[..colon];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(Refusal::NotAbsolute);
    }
    let rest = &url[colon + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.is_empty() {
        return Err(Refusal::NotAbsolute);
    }
    if authority.contains('@') {
        return Err(Refusal::UserInfo);
    }
    if authority.contains('%') {
        return Err(Refusal::Host);
    }
    let parsed = link::parse_absolute(url).map_err(|_| Refusal::Host)?;
    let home = link::parse_absolute(landing).map_err(|_| Refusal::NotAllowed)?;
    let is_home = parsed.host == home.host;
    if !is_home && !allowed.iter().any(|p| matches(p, &parsed.host)) {
        return Err(Refusal::NotAllowed);
    }
    if let Some(port) = parsed.port
        && port != default_port(scheme)
        && !(is_home && Some(port) == home.port)
    {
        return Err(Refusal::Port);
    }
    if scheme.eq_ignore_ascii_case("http") && home.scheme.eq_ignore_ascii_case("https") {
        return Err(Refusal::Insecure);
    }
    Ok(())
}

/// Where a deep link sends the visitor: `url` (already [`check`]ed) with the landing URL
/// template's query parameters added, their macros filled from `visit`, and with a click,
/// `click_id=<id>` unless the landing URL's query has a `{click_id}` of its own. Parameters of
/// `url` with any of those names (compared decoded) are dropped; its fragment stays last.
pub fn destination(url: &str, landing: &str, visit: &Visit<'_>) -> String {
    let (url_part, fragment) = url.split_at(url.find('#').unwrap_or(url.len()));
    let (path, query) = match url_part.split_once('?') {
        Some((path, query)) => (path, query),
        None => (url_part, ""),
    };
    let landing = &landing[..landing.find('#').unwrap_or(landing.len())];
    let ours = landing.split_once('?').map_or("", |(_, q)| q);
    let mut out = String::with_capacity(url.len() + ours.len() + 64);
    out.push_str(path);
    let mut separator = '?';
    let mut push = |out: &mut String| {
        out.push(separator);
        separator = '&';
    };
    let is_ours = |name: &str| {
        name_is(name, "click_id") || pairs(ours).any(|pair| name_is(name, pair.split('=').next().unwrap_or("")))
    };
    for pair in pairs(query) {
        if !is_ours(pair.split('=').next().unwrap_or("")) {
            push(&mut out);
            out.push_str(pair);
        }
    }
    let mut carries_click = false;
    for pair in pairs(ours) {
        carries_click |= pair.contains("{click_id}");
        push(&mut out);
        link::fill_into(&mut out, pair, |name| visit.macro_value(name));
    }
    if let Some(id) = visit.click_id
        && !carries_click
    {
        push(&mut out);
        out.push_str("click_id=");
        link::encode_component(id, &mut out);
    }
    out.push_str(fragment);
    out
}

/// The non-empty `name=value` pairs of a query string.
fn pairs(query: &str) -> impl Iterator<Item = &str> + Clone {
    query.split('&').filter(|p| !p.is_empty())
}

/// Whether the query parameter name `raw`, decoded as a server decodes it (`%XX`, `+` for a
/// space), is `want`. No allocation.
fn name_is(raw: &str, want: &str) -> bool {
    let raw = raw.as_bytes();
    let want = want.as_bytes();
    let (mut i, mut j) = (0, 0);
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        let (byte, used) = match raw[i] {
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => (h << 4 | l, 3),
                _ => (b'%', 1),
            },
            b'+' => (b' ', 1),
            b => (b, 1),
        };
        if want.get(j) != Some(&byte) {
            return false;
        }
        i += used;
        j += 1;
    }
    j == want.len()
}

#[cfg(test)]
mod tests;
