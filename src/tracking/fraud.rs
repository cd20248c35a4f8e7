//! Fraud rules: signs that a click or a conversion is not what it claims. Rules flag, they never
//! drop: a flagged conversion is recorded, stays `pending` and is never approved automatically,
//! and its `flags` say why. Pure: callers pass the times, counts and addresses.

use std::net::IpAddr;

/// The rules' thresholds; 0 turns a rule off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// A conversion sooner than this after its click is flagged `too_fast` (ms).
    pub min_click_age_ms: i64,
    /// More clicks than this per hour from one address for one affiliate are flagged `click_flood`.
    pub max_clicks_per_ip: u32,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds { min_click_age_ms: 10_000, max_clicks_per_ip: 30 }
    }
}

/// Whether a conversion at `now` on a click made at `clicked_at` came sooner than a person buys.
pub fn too_fast(clicked_at: i64, now: i64, t: &Thresholds) -> bool {
    t.min_click_age_ms > 0 && now.saturating_sub(clicked_at) < t.min_click_age_ms
}

/// An e-mail address as one mailbox: lower case, without a `+tag` in the local part.
pub fn mailbox(email: &str) -> String {
    let email = email.trim().to_lowercase();
    match email.split_once('@') {
        Some((local, domain)) => format!("{}@{domain}", local.split('+').next().unwrap_or(local)),
        None => email,
    }
}

/// Whether the customer's e-mail is the affiliate's own (`self_referral`).
pub fn same_person(customer_email: &str, affiliate_email: &str) -> bool {
    !customer_email.trim().is_empty() && mailbox(customer_email) == mailbox(affiliate_email)
}

/// The address clicks are counted by: IPv4 by /24, IPv6 by /48, as stored truncated.
pub fn flood_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            IpAddr::from([o[0], o[1], o[2], 0])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], 0, 0, 0, 0, 0])
        }
    }
}

/// Lower-case fragments of the user agents of crawlers, link previewers and monitors: their
/// visits to a tracking link are redirected but never recorded as clicks.
const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "slurp",
    "facebookexternalhit",
    "facebookcatalog",
    "embedly",
    "quora link preview",
    "whatsapp",
    "telegram",
    "skypeuripreview",
    "bitlybot",
    "vkshare",
    "pinterest",
    "preview",
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "curl/",
    "wget/",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww-perl",
    "httpclient",
    "axios/",
    "node-fetch",
    "scrapy",
    "lighthouse",
    "pingdom",
    "uptimerobot",
    "monitor",
    "validator",
    "linkcheck",
];

/// Whether a visit comes from a program rather than a person: a known crawler or previewer, or
/// no user agent at all.
pub fn is_bot(user_agent: Option<&str>) -> bool {
    match user_agent.map(str::trim) {
        None | Some("") => true,
        Some(ua) => contains_marker(ua.as_bytes()),
    }
}

/// For each byte, the set (bit `k` for `BOT_MARKERS[k]`) of markers whose byte at position `N` it
/// is, in either case. A user agent is read once: at each position, only the markers whose first
/// two letters are under the cursor are compared there.
const fn markers_by_byte<const N: usize>() -> [u64; 256] {
    assert!(BOT_MARKERS.len() <= 64, "one bit per marker");
    let mut table = [0u64; 256];
    let mut k = 0;
    while k < BOT_MARKERS.len() {
        let m = BOT_MARKERS[k].as_bytes();
        assert!(m.len() >= 2, "markers have at least two letters");
        let mut i = 0;
        while i < m.len() {
            assert!(m[i].is_ascii() && !m[i].is_ascii_uppercase(), "markers are lower-case ASCII");
            i += 1;
        }
        table[m[N] as usize] |= 1 << k;
        table[m[N].to_ascii_uppercase() as usize] |= 1 << k;
        k += 1;
    }
    table
}

const BY_FIRST_BYTE: [u64; 256] = markers_by_byte::<0>();
const BY_SECOND_BYTE: [u64; 256] = markers_by_byte::<1>();

/// Whether any marker occurs in `ua`, ignoring ASCII case, without a lower-case copy. The same
/// answers as lower-casing the ASCII letters and searching for each marker: the markers are
/// ASCII, so a non-ASCII byte never matches either way.
fn contains_marker(ua: &[u8]) -> bool {
    for (i, pair) in ua.windows(2).enumerate() {
        let mut candidates = BY_FIRST_BYTE[pair[0] as usize] & BY_SECOND_BYTE[pair[1] as usize];
        while candidates != 0 {
            let m = BOT_MARKERS[candidates.trailing_zeros() as usize].as_bytes();
            candidates &= candidates - 1;
            if ua.len() - i >= m.len() && ua[i + 2..i + m.len()].eq_ignore_ascii_case(&m[2..]) {
                return true;
            }
        }
    }
    false
}

/// A fraud rule a conversion tripped. A flagged conversion is recorded and stays `pending`
/// (rules flag, they never drop a sale); it is never approved automatically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    /// The customer's e-mail is the affiliate's own.
    SelfReferral,
    /// It came sooner after its click than a person can buy.
    TooFast,
    /// Its click came from an address that sent the affiliate a flood of clicks.
    ClickFlood,
    /// Its click already led to as many conversions as the offer allows.
    ClickReused,
}

impl Flag {
    pub const ALL: [Flag; 4] = [Flag::SelfReferral, Flag::TooFast, Flag::ClickFlood, Flag::ClickReused];

    pub fn as_str(self) -> &'static str {
        match self {
            Flag::SelfReferral => "self_referral",
            Flag::TooFast => "too_fast",
            Flag::ClickFlood => "click_flood",
            Flag::ClickReused => "click_reused",
        }
    }

    pub fn parse(text: &str) -> Option<Flag> {
        Flag::ALL.into_iter().find(|f| f.as_str() == text)
    }

    /// The stored form of a set of flags: comma-separated, in a fixed order; `None` when empty.
    pub fn join(flags: &[Flag]) -> Option<String> {
        let mut sorted = flags.to_vec();
        sorted.sort();
        sorted.dedup();
        (!sorted.is_empty()).then(|| sorted.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(","))
    }

    /// Reads [`Flag::join`]'s form back; unknown names are an error.
    pub fn split(text: Option<&str>) -> Option<Vec<Flag>> {
        match text {
            None | Some("") => Some(Vec::new()),
            Some(text) => text.split(',').map(Flag::parse).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn flags_are_stored_in_one_order_and_read_back() {
        assert_eq!(Flag::join(&[]), None);
        assert_eq!(
            Flag::join(&[Flag::ClickReused, Flag::TooFast, Flag::TooFast]).as_deref(),
            Some("too_fast,click_reused")
        );
        assert_eq!(Flag::split(Some("too_fast,click_reused")), Some(vec![Flag::TooFast, Flag::ClickReused]));
        assert_eq!(Flag::split(None), Some(vec![]));
        assert_eq!(Flag::split(Some("too_fast,nope")), None);
        for f in Flag::ALL {
            assert_eq!(Flag::parse(f.as_str()), Some(f));
        }
    }

    #[test]
    fn a_conversion_is_too_fast_only_within_the_minimum_age() {
        let t = Thresholds::default();
        assert!(too_fast(1_000, 1_000 + 9_999, &t));
        assert!(!too_fast(1_000, 1_000 + 10_000, &t));
        assert!(!too_fast(0, 1, &Thresholds { min_click_age_ms: 0, ..t }), "0 turns it off");
        assert!(too_fast(5_000, 1_000, &t), "a click from the future is suspicious too");
    }

    #[test]
    fn self_referral_ignores_case_and_plus_tags() {
        assert!(same_person("Ann+shop@Example.com", "ann@example.com"));
        assert!(same_person(" ann@example.com ", "ANN+x@EXAMPLE.COM"));
        assert!(!same_person("anna@example.com", "ann@example.com"));
        assert!(!same_person("ann@example.org", "ann@example.com"));
        assert!(!same_person("", ""));
    }

    #[test]
    fn clicks_are_counted_per_truncated_address() {
        assert_eq!(flood_key("203.0.113.77".parse().unwrap()), "203.0.113.0".parse::<IpAddr>().unwrap());
        assert_eq!(flood_key("2001:db8:1:2:3::9".parse().unwrap()), "2001:db8:1::".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn crawlers_and_agentless_requests_are_bots_and_browsers_are_not() {
        for bot in [
            None,
            Some(""),
            Some("Googlebot/2.1 (+http://www.google.com/bot.html)"),
            Some("facebookexternalhit/1.1"),
            Some("curl/8.5.0"),
            Some("Mozilla/5.0 (compatible; bingbot/2.0)"),
            Some("Slackbot-LinkExpanding 1.0"),
            Some("python-requests/2.31"),
        ] {
            assert!(is_bot(bot), "{bot:?}");
        }
        for person in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Version/18.1 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        ] {
            assert!(!is_bot(Some(person)), "{person}");
        }
    }

    /// The matcher before the one-pass search: a lower-case copy, then one search per marker.
    fn is_bot_by_copy(user_agent: Option<&str>) -> bool {
        match user_agent.map(str::trim) {
            None | Some("") => true,
            Some(ua) => {
                let ua = ua.to_ascii_lowercase();
                BOT_MARKERS.iter().any(|m| ua.contains(m))
            }
        }
    }

    /// Real user agents: browsers, crawlers, previewers, tools, and near misses.
    const REAL_AGENTS: &[&str] = &[
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 309.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        "Opera/9.80 (Windows NT 6.1; WOW64) Presto/2.12.388 Version/12.18",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "facebookcatalog/1.0",
        "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
        "Quora Link Preview/1.0",
        "WhatsApp/2.23.20.0 A",
        "TelegramBot (like TwitterBot)",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
        "bitlybot/3.0 (+http://bit.ly/)",
        "Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)",
        "Pinterest/0.2 (+https://www.pinterest.com/bot.html)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
        "python-requests/2.32.3",
        "Python-urllib/3.12",
        "curl/8.5.0",
        "Wget/1.21.4",
        "Go-http-client/2.0",
        "okhttp/4.12.0",
        "Java/17.0.9",
        "libwww-perl/6.72",
        "Apache-HttpClient/4.5.14 (Java/17.0.9)",
        "axios/1.7.7",
        "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
        "Scrapy/2.11.2 (+https://scrapy.org)",
        "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
        "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        "Site24x7 Monitor",
        "W3C_Validator/1.3 http://validator.w3.org/services",
        "W3C-checklink/4.81 libwww-perl/6.72 (linkcheck)",
        "  \t ",
        "curl",
        "Wget",
        "javascript/1.0",
        "Mozilla/5.0 (Windows NT 10.0) Gecko/20100101 Firefox/133.0 Ƀot",
        "Mozilla/5.0 ΒΟΤ bo\u{0301}t b\u{0}ot",
        "\u{FEFF}\u{A0}bot\u{3000}",
    ];

    #[test]
    fn the_one_pass_matcher_agrees_with_the_copying_one_on_real_agents() {
        for ua in REAL_AGENTS {
            assert_eq!(is_bot(Some(ua)), is_bot_by_copy(Some(ua)), "{ua:?}");
            let upper = ua.to_uppercase();
            assert_eq!(is_bot(Some(&upper)), is_bot_by_copy(Some(&upper)), "{upper:?}");
        }
        // Every marker found in any case, at the start, in the middle and at the end.
        for m in BOT_MARKERS {
            for ua in [m.to_string(), format!("Mozilla/5.0 ({}) x", m.to_uppercase()), format!("a{m}")] {
                assert!(is_bot(Some(&ua)), "{ua:?}");
            }
            let cut = &m[..m.len() - 1];
            assert_eq!(is_bot(Some(cut)), is_bot_by_copy(Some(cut)), "{cut:?}");
        }
    }

    /// Text made of marker pieces in random case, ASCII and non-ASCII letters and controls.
    fn agents() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            proptest::sample::select(BOT_MARKERS).prop_flat_map(|m| {
                (0..=m.len(), 0..=m.len(), proptest::collection::vec(any::<bool>(), m.len())).prop_map(
                    move |(a, b, upper)| {
                        let (a, b) = (a.min(b), a.max(b));
                        m.char_indices()
                            .filter(|(i, _)| (a..b).contains(i))
                            .map(|(i, c)| if upper[i] { c.to_ascii_uppercase() } else { c })
                            .collect::<String>()
                    },
                )
            }),
            "[a-zA-Z0-9 /;()._+-]{0,12}",
            "[\\PC\\s\\x00-\\x1f]{0,4}",
            proptest::sample::select(REAL_AGENTS).prop_map(str::to_string),
        ];
        proptest::collection::vec(piece, 0..8).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]
        #[test]
        fn the_one_pass_matcher_agrees_with_the_copying_one_on_generated_agents(ua in agents()) {
            prop_assert_eq!(is_bot(Some(&ua)), is_bot_by_copy(Some(&ua)));
        }
    }
}
