//! Which network addresses outbound postbacks may reach. Affiliates choose their postback URLs,
//! so a URL must not become a way into the merchant's own network (SSRF): loopback, private,
//! link-local, unique-local, shared (CGNAT), multicast, reserved and IPv4-mapped/translated
//! addresses that embed such an address are refused unless the operator allows private
//! targets. Pure logic.

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
    // NAT64 (64:ff9b::/96) and IPv4-compatible (::a.b.c.d) addresses embed an IPv4 address.
    if (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0]) || s[..6] == [0, 0, 0, 0, 0, 0] {
        let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return !ip.is_unspecified() && !ip.is_loopback() && is_public_v4(embedded);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link local
        || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
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
