//! URL templates: offer landing URLs and (later) affiliates' postback URLs.
//!
//! A template is an absolute http(s) URL that may contain `{macro}` placeholders. It is checked
//! once, when it is stored; filling it in only ever inserts URL-encoded values into the path,
//! query or fragment, so the host of a filled-in URL is always the template's host and no value
//! can put a control character into a `Location` header. Pure string logic, no I/O.

use std::fmt::Write;

pub const MAX_URL_LEN: usize = 2048;

/// The parts of a checked absolute URL that callers care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub scheme: &'a str,
    /// Lower-cased host as written (brackets stripped from IPv6 literals).
    pub host: String,
    pub port: Option<u16>,
}

/// Checks a URL template: absolute `http://` or `https://` with a host, no user info, only
/// printable ASCII, and only the macros named in `allowed` between braces.
pub fn check_template<'a>(template: &'a str, allowed: &[&str]) -> Result<Parsed<'a>, String> {
    if template.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    // Every `{` must open a known macro; braces are not allowed otherwise.
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err("has a '}' without a matching '{'".into());
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("has a '{' without a matching '}'")?;
        let name = &after[..close];
        if !allowed.contains(&name) {
            return Err(format!(
                "uses the unknown macro {{{name}}}; known macros: {}",
                allowed.iter().map(|m| format!("{{{m}}}")).collect::<Vec<_>>().join(" ")
            ));
        }
        rest = &after[close + 1..];
    }
    parse_absolute(template)
}

/// Parses an absolute http(s) URL of printable ASCII and returns its scheme, host and port.
/// Braces are allowed (macros); any other character URLs must not hold unencoded is refused.
pub fn parse_absolute(url: &str) -> Result<Parsed<'_>, String> {
    let authority_start = url.find("://").ok_or("must be an absolute http:// or https:// URL")?;
    let scheme = &url[..authority_start];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err("must start with http:// or https://".into());
    }
    for b in url.bytes() {
        if !(0x21..=0x7e).contains(&b) || matches!(b, b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'|') {
            return Err("contains a space, control character or other character URLs must not hold unencoded".into());
        }
    }
    let after_scheme = &url[authority_start + 3..];
    let authority_end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
    let authority = &after_scheme[..authority_end];
    if authority.contains(['{', '}']) {
        return Err("must not have a macro in the host".into());
    }
    if authority.contains('@') {
        return Err("must not contain user info (user:password@)".into());
    }
    let (host, port) = split_host_port(authority)?;
    Ok(Parsed { scheme, host, port })
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or("has an unterminated IPv6 address")?;
        let host = &v6[..end];
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("has an invalid IPv6 address".into());
        }
        let tail = &v6[end + 1..];
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p),
            None if tail.is_empty() => None,
            None => return Err("has garbage after the IPv6 address".into()),
        };
        (host.to_ascii_lowercase(), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let trimmed = host.strip_suffix('.').unwrap_or(host);
        if trimmed.is_empty() || trimmed.len() > 253 || !trimmed.split('.').all(valid_label) {
            return Err("must have a valid host name".into());
        }
        (trimmed.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| "has a port above 65535")?)
        }
        Some(_) => return Err("has an invalid port".into()),
    };
    Ok((host, port))
}

/// Percent-encodes everything but the RFC 3986 unreserved characters.
pub fn encode_component(value: &str, out: &mut String) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Fills a checked template: each `{name}` becomes the URL-encoded value `lookup(name)` returns
/// (empty when it returns `None`).
pub fn fill<'v>(template: &str, lookup: impl Fn(&str) -> Option<&'v str>) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    fill_into(&mut out, template, lookup);
    out
}

/// [`fill`], appending to `out`.
pub fn fill_into<'v>(out: &mut String, template: &str, lookup: impl Fn(&str) -> Option<&'v str>) {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                if let Some(value) = lookup(&after[..close]) {
                    encode_component(value, out);
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
}

/// Macros a landing URL may use: the click, the affiliate, the offer and the five sub IDs (also
/// under HasOffers' names `aff_sub` .. `aff_sub5`).
pub const LANDING_MACROS: &[&str] = &[
    "click_id",
    "affiliate_id",
    "offer_id",
    "sub1",
    "sub2",
    "sub3",
    "sub4",
    "sub5",
    "aff_sub",
    "aff_sub2",
    "aff_sub3",
    "aff_sub4",
    "aff_sub5",
];

/// Which of the five sub IDs a parameter or macro name means: `sub1`..`sub5`, or HasOffers'
/// `aff_sub`, `aff_sub2`..`aff_sub5` (0-based).
pub fn sub_index(name: &str) -> Option<usize> {
    let n = match name {
        "aff_sub" => "1",
        "aff_sub1" => return None,
        other => other.strip_prefix("aff_sub").or_else(|| other.strip_prefix("sub"))?,
    };
    match n {
        "1" => Some(0),
        "2" => Some(1),
        "3" => Some(2),
        "4" => Some(3),
        "5" => Some(4),
        _ => None,
    }
}

/// What a tracking-link visit fills a landing URL with.
#[derive(Clone, Copy, Debug, Default)]
pub struct Visit<'a> {
    /// `None` when no click was recorded.
    pub click_id: Option<&'a str>,
    pub referral_code: &'a str,
    pub offer_id: &'a str,
    pub subs: [Option<&'a str>; 5],
}

impl<'a> Visit<'a> {
    /// The value of the landing URL macro `name` for this visit (`None`: left empty).
    pub fn macro_value(&self, name: &str) -> Option<&'a str> {
        match name {
            "click_id" => self.click_id,
            "affiliate_id" => Some(self.referral_code),
            "offer_id" => Some(self.offer_id),
            other => sub_index(other).map(|i| self.subs[i].unwrap_or("")),
        }
    }
}

/// Builds the redirect target for a tracking link. With a click ID and no `{click_id}` macro in
/// the template, `click_id=<id>` is added to the query (before any `#fragment`). Without a
/// click (it could not be recorded) the macro is left empty and nothing is appended.
pub fn landing_url(template: &str, visit: &Visit<'_>) -> String {
    let click_id = visit.click_id;
    let filled = fill(template, |name| visit.macro_value(name));
    let Some(id) = click_id else { return filled };
    if template.contains("{click_id}") {
        return filled;
    }
    let (before_fragment, fragment) = match filled.find('#') {
        Some(i) => filled.split_at(i),
        None => (filled.as_str(), ""),
    };
    let separator = if !before_fragment.contains('?') {
        "?"
    } else if before_fragment.ends_with(['?', '&']) {
        ""
    } else {
        "&"
    };
    let mut out = String::with_capacity(filled.len() + id.len() + 10);
    out.push_str(before_fragment);
    out.push_str(separator);
    out.push_str("click_id=");
    encode_component(id, &mut out);
    out.push_str(fragment);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0abcdefgHIJKLMNOPQRSTUVWXYZ_-9";

    fn visit<'a>(click_id: Option<&'a str>, referral_code: &'a str, offer_id: &'a str) -> Visit<'a> {
        Visit { click_id, referral_code, offer_id, subs: [None; 5] }
    }

    fn ok(t: &str) -> Parsed<'_> {
        check_template(t, LANDING_MACROS).unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    #[test]
    fn accepts_ordinary_landing_urls() {
        assert_eq!(ok("https://shop.example/landing").host, "shop.example");
        assert_eq!(ok("http://Shop.Example:8080/x?a=b#f").port, Some(8080));
        assert_eq!(ok("https://[::1]:8443/").host, "::1");
        assert_eq!(ok("https://shop.example/?ref={affiliate_id}&cid={click_id}").host, "shop.example");
        ok("https://192.0.2.1/p");
        ok("https://shop.example");
    }

    #[test]
    fn refuses_what_is_not_a_plain_http_url() {
        for bad in [
            "ftp://shop.example/",
            "javascript:alert(1)",
            "//shop.example/",
            "shop.example/landing",
            "https://",
            "https://shop.example/a b",
            "https://shop.example/\r\nSet-Cookie:x",
            "https://shop.example/\u{7f}",
            "https://user:pw@shop.example/",
            "https://evil.example\\@shop.example/",
            "https://shop.example:99999/",
            "https://shop.example:x/",
            "https://{click_id}.example/",
            "https://shop.example/{unknown}",
            "https://shop.example/{click_id",
            "https://shop.example/}",
            "https://-bad.example/",
            "https://shop.exämple/",
        ] {
            assert!(check_template(bad, LANDING_MACROS).is_err(), "{bad:?} was accepted");
        }
        assert!(check_template(&format!("https://a.example/{}", "x".repeat(2100)), &[]).is_err());
    }

    #[test]
    fn appends_the_click_id_with_the_right_separator() {
        let cases = [
            ("https://s.example/l", "https://s.example/l?click_id=ID"),
            ("https://s.example/l?a=1", "https://s.example/l?a=1&click_id=ID"),
            ("https://s.example/l?", "https://s.example/l?click_id=ID"),
            ("https://s.example/l?a=1&", "https://s.example/l?a=1&click_id=ID"),
            ("https://s.example/l#top", "https://s.example/l?click_id=ID#top"),
            ("https://s.example/l?a=1#t?x", "https://s.example/l?a=1&click_id=ID#t?x"),
            ("https://s.example", "https://s.example?click_id=ID"),
        ];
        for (template, want) in cases {
            assert_eq!(landing_url(template, &visit(Some(ID), "ann", "main")), want.replace("ID", ID));
        }
    }

    #[test]
    fn replaces_macros_instead_of_appending() {
        assert_eq!(
            landing_url(
                "https://s.example/?c={click_id}&a={affiliate_id}&o={offer_id}",
                &visit(Some(ID), "ann", "spring")
            ),
            format!("https://s.example/?c={ID}&a=ann&o=spring")
        );
        assert_eq!(
            landing_url("https://s.example/?c={click_id}", &visit(None, "ann", "main")),
            "https://s.example/?c="
        );
        assert_eq!(landing_url("https://s.example/l", &visit(None, "ann", "main")), "https://s.example/l");
    }

    #[test]
    fn sub_ids_fill_their_macros_under_both_names() {
        let v = Visit { subs: [Some("news letter"), None, Some("c"), None, None], ..visit(Some(ID), "ann", "main") };
        let url = landing_url("https://s.example/?s={sub1}&h={aff_sub}&t={aff_sub3}&e={sub2}&c={click_id}", &v);
        assert_eq!(url, format!("https://s.example/?s=news%20letter&h=news%20letter&t=c&e=&c={ID}"));
        assert_eq!(sub_index("aff_sub"), Some(0));
        assert_eq!(sub_index("aff_sub5"), Some(4));
        assert_eq!(sub_index("sub3"), Some(2));
        for other in ["sub", "sub6", "aff_sub1", "aff_sub0", "xsub1"] {
            assert_eq!(sub_index(other), None, "{other}");
        }
    }

    #[test]
    fn filled_values_are_encoded() {
        let url = fill("https://t.example/?v={x}", |_| Some("a b&c=\r\n/é"));
        assert_eq!(url, "https://t.example/?v=a%20b%26c%3D%0D%0A%2F%C3%A9");
    }

    #[test]
    fn the_host_never_changes() {
        for code in ["x@evil.example", "//evil.example", "\r\nLocation: https://evil.example"] {
            let url = landing_url("https://shop.example/{affiliate_id}", &visit(Some(ID), code, "o"));
            let parsed = check_template(&url, &[]).expect("filled URL stays valid");
            assert_eq!(parsed.host, "shop.example");
        }
    }
}
