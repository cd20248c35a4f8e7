//! Shapes of the identifiers and texts the appliance accepts. Each check returns a message that
//! tells the caller what to send instead; the HTTP layer pairs it with `invalid_<field>`.

use std::net::IpAddr;

/// Referral codes, offer ids and coupon codes: short, URL-safe, case-insensitive.
pub fn code(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err("may only contain letters, digits, '-' and '_'".into());
    }
    Ok(())
}

/// Merchant-side identifiers (order IDs, customer IDs, session IDs): up to 255 bytes of text
/// without control characters, not blank.
pub fn external_id(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > 255 {
        return Err("must be at most 255 bytes".into());
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Display names.
pub fn name(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if value.chars().count() > 200 {
        return Err("must be at most 200 characters".into());
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// A deliberately loose e-mail check: one `@` with text on both sides, no spaces or controls.
pub fn email(value: &str) -> Result<(), String> {
    let well_formed = value.len() <= 254
        && !value.chars().any(|c| c.is_control() || c.is_whitespace())
        && value
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@'));
    if well_formed { Ok(()) } else { Err("must be an e-mail address such as ann@example.com".into()) }
}

/// Free-text payout details (an IBAN and a name, say): up to 1000 characters, lines allowed.
pub fn payout_details(value: &str) -> Result<(), String> {
    if value.chars().count() > 1000 {
        return Err("must be at most 1000 characters".into());
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err("must not contain control characters other than line breaks".into());
    }
    Ok(())
}

/// Conversion types: lower-case words such as `sale`, `lead`, `signup`.
pub fn conversion_type(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 32
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok { Ok(()) } else { Err("must be a lower-case word such as sale or lead".into()) }
}

/// Byte limits for the free-form data of a click.
pub const MAX_URL: usize = 2048;
pub const MAX_USER_AGENT: usize = 512;
pub const MAX_SUB: usize = 255;
pub const MAX_SOURCE: usize = 64;

/// Free-form metadata (user agent, referrer, sub IDs): kept, but bounded and without control
/// characters, because it is shown in the admin and exported to spreadsheets. Never an error:
/// click recording must not fail over a strange user agent.
pub fn metadata(value: &str, max_bytes: usize) -> String {
    // Fast path: the leading run of printable ASCII (almost always the whole value) is copied
    // at once; its characters are one byte each and none is a control character.
    let clean = value.bytes().take(max_bytes).take_while(|b| matches!(b, b' '..=b'~')).count();
    let mut out = String::with_capacity(value.len().min(max_bytes));
    out.push_str(&value[..clean]);
    if clean == max_bytes {
        return out;
    }
    for c in value[clean..].chars() {
        if c.is_control() {
            continue;
        }
        if out.len() + c.len_utf8() > max_bytes {
            break;
        }
        out.push(c);
    }
    out
}

/// How much of a visitor's IP address is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpStorage {
    Full,
    /// IPv4 to /24, IPv6 to /48: enough for fraud patterns, not enough to identify a household.
    Truncated,
    None,
}

impl IpStorage {
    pub fn parse(text: &str) -> Option<IpStorage> {
        match text {
            "full" => Some(IpStorage::Full),
            "truncated" => Some(IpStorage::Truncated),
            "none" => Some(IpStorage::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IpStorage::Full => "full",
            IpStorage::Truncated => "truncated",
            IpStorage::None => "none",
        }
    }

    /// The text stored for `ip` under this policy.
    pub fn apply(self, ip: IpAddr) -> Option<String> {
        match (self, ip) {
            (IpStorage::None, _) => None,
            (IpStorage::Full, ip) => Some(ip.to_string()),
            (IpStorage::Truncated, IpAddr::V4(v4)) => {
                let [a, b, c, _] = v4.octets();
                Some(format!("{a}.{b}.{c}.0"))
            }
            (IpStorage::Truncated, IpAddr::V6(v6)) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return IpStorage::Truncated.apply(IpAddr::V4(v4));
                }
                let s = v6.segments();
                Some(std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert!(code("ann-2024_X").is_ok());
        for bad in ["", "a b", "ann/../x", "é", "a\r\n", &"x".repeat(65)] {
            assert!(code(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn external_ids() {
        assert!(external_id("order #1001 / shop-eu").is_ok());
        assert!(external_id("  ").is_err());
        assert!(external_id("a\u{0}b").is_err());
        assert!(external_id(&"x".repeat(256)).is_err());
    }

    #[test]
    fn emails() {
        assert!(email("ann@example.com").is_ok());
        for bad in ["ann", "@example.com", "ann@localhost", "a n@example.com", "a@b@c.com"] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn metadata_is_bounded_and_clean() {
        assert_eq!(metadata("Mozilla/5.0\r\nX: y", 100), "Mozilla/5.0X: y");
        assert_eq!(metadata("ééé", 5), "éé");
        assert_eq!(metadata(&"a".repeat(2000), 1024).len(), 1024);
    }

    /// The char-by-char cleaner before the printable-ASCII fast path.
    fn metadata_char_by_char(value: &str, max_bytes: usize) -> String {
        let mut out = String::with_capacity(value.len().min(max_bytes));
        for c in value.chars() {
            if c.is_control() {
                continue;
            }
            if out.len() + c.len_utf8() > max_bytes {
                break;
            }
            out.push(c);
        }
        out
    }

    #[test]
    fn metadata_fast_path_gives_the_char_by_char_answers_at_every_limit() {
        let texts = [
            "",
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "https://www.google.com/search?q=a+b&hl=en",
            "abc\x7fdef",
            "tab\there\r\nnext",
            "caf\u{e9} \u{85}x\u{9f}y\u{a0}z \u{1F600}",
            "\u{0}\u{1}~ ",
            "éé",
        ];
        for text in texts {
            for max in 0..=text.len() + 2 {
                assert_eq!(metadata(text, max), metadata_char_by_char(text, max), "{text:?} at {max}");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 4000, ..Default::default() })]
        #[test]
        fn metadata_fast_path_gives_the_char_by_char_answers(
            text in "([ -~]{0,40}|[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{a0}-\\u{2fff}\\u{1F600}]{0,3}){0,6}",
            max in 0usize..300,
        ) {
            proptest::prop_assert_eq!(metadata(&text, max), metadata_char_by_char(&text, max));
        }
    }

    #[test]
    fn ip_storage() {
        let v4: IpAddr = "203.0.113.77".parse().unwrap();
        let v6: IpAddr = "2001:db8:abcd:12::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:203.0.113.77".parse().unwrap();
        assert_eq!(IpStorage::Truncated.apply(v4).as_deref(), Some("203.0.113.0"));
        assert_eq!(IpStorage::Truncated.apply(v6).as_deref(), Some("2001:db8:abcd::"));
        assert_eq!(IpStorage::Truncated.apply(mapped).as_deref(), Some("203.0.113.0"));
        assert_eq!(IpStorage::Full.apply(v4).as_deref(), Some("203.0.113.77"));
        assert_eq!(IpStorage::None.apply(v4), None);
    }
}
