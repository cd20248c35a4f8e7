//! Which network addresses outbound postbacks may reach. Affiliates choose their postback URLs,
//! so a URL must not become a way into the merchant's own network (SSRF): loopback, private,
//! link-local, unique-local, shared (CGNAT), multicast, reserved and IPv4-mapped/translated
//! addresses that embed such an address are refused unless the operator allows private
//! targets. Pure logic.
//!
//! The blocks follow IANA's IPv4 and IPv6 Special-Purpose Address Registries (checked
//! 2026-12): every block they list as not globally reachable is refused, and so are a few that
//! are reachable but where no tracker lives (IETF protocol assignments, the deprecated 6to4
//! relay anycast). For IPv6 only global unicast (`2000::/3`) is public at all, which also
//! refuses the discard prefix `100::/64`, SRv6 SIDs `5f00::/16`, the IPv4-translated
//! `::ffff:0:0:0/96` and the local-use NAT64 prefix `64:ff9b:1::/48` (RFC 8215), whose embedded
//! IPv4 address means whatever the local network makes it mean. Inside `2000::/3`, 6to4
//! (`2002::/16`, RFC 3056, deprecated by RFC 7526) is refused whole: it reaches the IPv4 host it
//! embeds through whichever relay answers, so it is a way to an IPv4 address we would not check.
//! The one prefix with an embedded IPv4 address that is allowed is the well-known NAT64 prefix
//! `64:ff9b::/96` (RFC 6052), and only when the embedded address is public itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A block of addresses (`203.0.113.0/24`, `2001:db8::/32`, or one address), for lists of
/// networks whose servers may send postbacks without a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse::<u8>().ok()?,
            Some(_) => return None,
        };
        (prefix <= max).then_some(Cidr { network, prefix })
    }

    /// Whether `ip` is in the block. An IPv4-mapped IPv6 address counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// True for addresses that belong to the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated, RFC 7526)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // IPv4-mapped addresses (::ffff:a.b.c.d) reach IPv4 hosts through the v6 API; they are
    // refused outright, whatever they embed.
    if ip.to_ipv4_mapped().is_some() {
        return false;
    }
    let s = ip.segments();
    // The well-known NAT64 prefix (64:ff9b::/96) and IPv4-compatible addresses (::a.b.c.d)
    // embed an IPv4 address: they are as public as it is.
    if (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0]) || s[..6] == [0, 0, 0, 0, 0, 0] {
        let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return !ip.is_unspecified() && !ip.is_loopback() && is_public_v4(embedded);
    }
    // Only global unicast is public; the rest of the address space is loopback, unspecified,
    // unique-local, link-local, site-local, multicast, or special-purpose and not routed
    // (100::/64 discard, 5f00::/16 SRv6, 64:ff9b:1::/48 local-use NAT64, ...).
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    // Inside it: 2001::/23 (IETF protocol assignments: Teredo, benchmarking, ORCHID, ...),
    // 2001:db8::/32 (documentation), 6to4, and 3fff::/20 (documentation, RFC 9637).
    let special =
        (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8)) || s[0] == 0x2002 || (s[0] == 0x3fff && s[1] < 0x1000);
    global_unicast && !special
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_blocks_contain_what_they_should() {
        let block = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(block.contains("203.0.113.200".parse().unwrap()));
        assert!(!block.contains("203.0.114.1".parse().unwrap()));
        assert!(block.contains("::ffff:203.0.113.9".parse().unwrap()), "IPv4-mapped");
        let one = Cidr::parse("198.51.100.7").unwrap();
        assert!(one.contains("198.51.100.7".parse().unwrap()) && !one.contains("198.51.100.8".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()) && !v6.contains("2001:db9::1".parse().unwrap()));
        assert!(!v6.contains("203.0.113.1".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        for bad in ["", "1.2.3.4/33", "::/129", "1.2.3/24", "1.2.3.4/", "1.2.3.4/x", "example.com"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap())
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            assert!(!public(ip), "{ip} was allowed");
        }
    }

    /// One address in (and, where the edge matters, one just inside each edge of) every block of
    /// IANA's special-purpose registries that is not globally reachable, plus the embedded-IPv4
    /// prefixes: each must be refused.
    #[test]
    fn every_special_purpose_block_is_refused() {
        let mut allowed = Vec::new();
        for (block, ips) in [
            ("6to4 relay anycast 192.88.99.0/24", &["192.88.99.0", "192.88.99.1", "192.88.99.255"][..]),
            ("IETF protocol assignments 192.0.0.0/24", &["192.0.0.8", "192.0.0.170"]),
            ("local-use NAT64 64:ff9b:1::/48 (RFC 8215)", &["64:ff9b:1::1", "64:ff9b:1::808:808", "64:ff9b:1:ffff::1"]),
            (
                "6to4 2002::/16, whatever it embeds",
                &["2002::1", "2002:0a00:0001::1", "2002:0808:0808::1", "2002:ffff::1"],
            ),
            (
                "NAT64 64:ff9b::/96 with a private IPv4 inside",
                &["64:ff9b::c0a8:101", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe"],
            ),
            ("discard-only 100::/64", &["100::", "100::1", "100::ffff:ffff:ffff:ffff"]),
            ("dummy prefix 100:0:0:1::/64 (RFC 9780)", &["100:0:0:1::1"]),
            (
                "IETF protocol assignments 2001::/23",
                &["2001::1", "2001:1::1", "2001:2::1", "2001:10::1", "2001:1ff::1"],
            ),
            ("Teredo 2001::/32", &["2001:0:4136:e378:8000:63bf:3fff:fdd2"]),
            ("documentation 3fff::/20 (RFC 9637)", &["3fff::1", "3fff:fff:ffff::1"]),
            ("SRv6 SIDs 5f00::/16 (RFC 9602)", &["5f00::1"]),
            ("IPv4-translated ::ffff:0:0:0/96", &["::ffff:0:808:808"]),
            ("reserved by the IETF, outside 2000::/3", &["400::1", "4000::1", "8000::1", "e000::1"]),
        ] {
            for ip in ips {
                if public(ip) {
                    allowed.push(format!("{ip} ({block})"));
                }
            }
        }
        assert!(allowed.is_empty(), "allowed: {allowed:#?}");
    }

    #[test]
    fn the_edges_of_the_refused_blocks_stay_public() {
        for ip in
            ["192.88.98.255", "192.88.100.1", "2001:200::1", "2003::1", "3ffe:ffff::1", "3fff:1000::1", "2001:db9::1"]
        {
            assert!(public(ip), "{ip} was refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "203.0.114.1",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "2a00:1450::1",
            "64:ff9b::808:808",
        ] {
            assert!(public(ip), "{ip} was refused");
        }
    }
}
