//! Web origins as browsers send them in `Origin` (`scheme://host[:port]`): the form an
//! `--allowed-origin` value must have, since `/c/`, the click snippet's endpoint, compares it
//! with that header as it is. Pure: the configuration parses with it.

/// An `--allowed-origin` value checked: it must be exactly what browsers send in `Origin`
/// (`scheme://host[:port]`: http or https, lower case, no default port, no path), since it is
/// compared with that header as it is. Otherwise says what to write instead.
pub fn parse_origin(text: &str) -> Result<String, String> {
    const SHAPE: &str = "must be an origin such as https://shop.example (scheme://host[:port])";
    let (scheme, rest) = text.split_once("://").ok_or(SHAPE)?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return Err("must start with https:// or http://".into()),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@', '\\']) {
        return Err(format!("{SHAPE}, without a path, query or user"));
    }
    let (host, port) = match authority.rfind(':').filter(|at| !authority[at + 1..].contains(']')) {
        Some(at) => (&authority[..at], Some(&authority[at + 1..])),
        None => (authority, None),
    };
    let host = host.to_ascii_lowercase();
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .split('.')
                    .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        }
    };
    if !host_ok {
        return Err(format!("{SHAPE}; a host name is written in ASCII (punycode for other scripts)"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && !p.starts_with('0') => (p != default_port).then_some(p),
            _ => return Err(format!("{SHAPE}; the port is a number from 1 to 65535")),
        },
    };
    let canonical = match port {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    };
    if canonical != text {
        return Err(format!("is not written as browsers send an origin: write {canonical:?}"));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_written_as_browsers_send_them() {
        for good in
            ["https://shop.example", "http://127.0.0.1:8081", "https://xn--bcher-kva.example:8443", "http://[::1]:3000"]
        {
            assert_eq!(parse_origin(good).as_deref(), Ok(good));
        }
        let suggests = |text: &str, want: &str| {
            let e = parse_origin(text).unwrap_err();
            assert!(e.contains(&format!("{want:?}")), "{text}: {e}");
        };
        suggests("https://shop.example/", "https://shop.example");
        suggests("HTTPS://Shop.Example", "https://shop.example");
        suggests("https://shop.example:443", "https://shop.example");
        suggests("http://shop.example:80/", "http://shop.example");
        for (bad, says) in [
            ("shop.example", "scheme://host"),
            ("*", "scheme://host"),
            ("null", "scheme://host"),
            ("ftp://shop.example", "https:// or http://"),
            ("https://shop.example/checkout", "without a path"),
            ("https://shop.example?x", "without a path"),
            ("https://user@shop.example", "without a path"),
            ("https://", "ASCII"),
            ("https://shop..example", "ASCII"),
            ("https://bücher.example", "ASCII"),
            ("https://[::g]", "ASCII"),
            ("https://shop.example:0", "port"),
            ("https://shop.example:65536", "port"),
            ("https://shop.example:08080", "port"),
            ("https://shop.example:", "port"),
        ] {
            let e = parse_origin(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
