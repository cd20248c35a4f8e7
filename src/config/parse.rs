//! The parsers of option values: text in, a typed value or a message that names the option and
//! says what it takes. Each [`Setting`](super::Setting) points at one of these; `Serve::from_args`
//! only combines their results.
//!
//! Architecture Invariant: pure functions of the option and its text; no environment, no files,
//! no defaults (the declaration holds the default, parsed here like any given value).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::opt::Opt;
use crate::store::Synchronous;
use crate::tracking::application::Signup;
use crate::tracking::connectors::Connector;
use crate::tracking::net::Cidr;
use crate::tracking::validate::IpStorage;

/// The shortest admin token accepted.
pub const ADMIN_TOKEN_MIN_LEN: usize = 16;

/// Any text, as given.
pub fn text(_: &Opt, text: &str) -> Result<String, String> {
    Ok(text.to_string())
}

pub fn path(_: &Opt, text: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(text))
}

/// `on`/`off` (also `true`/`false`, `1`/`0`, `yes`/`no`).
pub fn on_off(opt: &Opt, text: &str) -> Result<bool, String> {
    match text {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        other => Err(format!("{} must be on or off, not {other:?}", opt.names())),
    }
}

/// A switch's value: `true`/`false` (also `1`/`0`, `yes`/`no`).
pub fn true_false(opt: &Opt, text: &str) -> Result<bool, String> {
    match text {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        other => Err(format!("--{} / {} must be true or false, not {other:?}", opt.long, opt.env.unwrap_or(""))),
    }
}

pub fn listen(_: &Opt, text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|e| format!("--listen {text:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("--listen {text:?} resolves to no address"))
}

/// Scheme, host, optional port and path prefix; the trailing slash goes.
pub fn public_url(_: &Opt, url: &str) -> Result<String, String> {
    crate::tracking::link::check_template(url, &[]).map_err(|e| format!("--public-url {e}"))?;
    if url.contains(['?', '#']) {
        return Err("--public-url must not have a query or fragment".into());
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// `off`, `review` or `open`.
pub fn signup(opt: &Opt, text: &str) -> Result<Signup, String> {
    Signup::parse(text).ok_or_else(|| format!("{} must be off, review or open, not {text:?}", opt.names()))
}

/// An absolute http(s) URL of printable ASCII, as a page links to it.
pub fn terms_url(opt: &Opt, url: &str) -> Result<String, String> {
    crate::tracking::link::check_template(url, &[]).map_err(|e| format!("{} {e}", opt.names()))?;
    Ok(url.to_string())
}

pub fn api_key(opt: &Opt, key: &str) -> Result<String, String> {
    let name = opt.names();
    if key.len() < crate::store::keys::MIN_LEN {
        return Err(format!(
            "{name} is {} characters; use at least {} (e.g. `openssl rand -base64 32`)",
            key.len(),
            crate::store::keys::MIN_LEN
        ));
    }
    if key.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
        return Err(format!("{name} must be printable ASCII without spaces"));
    }
    Ok(key.to_string())
}

pub fn postback_token(opt: &Opt, token: &str) -> Result<String, String> {
    if token.len() < 20 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(format!("{} must be at least 20 characters of A-Z a-z 0-9 - _", opt.names()));
    }
    Ok(token.to_string())
}

pub fn admin_token(_: &Opt, token: &str) -> Result<String, String> {
    check_admin_token(token).map(|()| token.to_string())
}

pub fn check_admin_token(token: &str) -> Result<(), String> {
    let length = token.chars().count();
    if length < ADMIN_TOKEN_MIN_LEN {
        return Err(format!(
            "--admin-token / AFFILIATED_ADMIN_TOKEN is {length} characters; use at least {ADMIN_TOKEN_MIN_LEN} \
             (e.g. `openssl rand -base64 24`)"
        ));
    }
    if token.chars().any(char::is_control) {
        return Err("--admin-token / AFFILIATED_ADMIN_TOKEN must not contain control characters".into());
    }
    Ok(())
}

/// A whole number in `range`; `what` says what the option takes.
fn number<T: std::str::FromStr + PartialOrd>(
    opt: &Opt,
    v: &str,
    range: std::ops::RangeInclusive<T>,
    what: &str,
) -> Result<T, String> {
    v.parse::<T>().ok().filter(|n| range.contains(n)).ok_or_else(|| format!("--{} must be {what}, not {v:?}", opt.long))
}

pub fn workers(opt: &Opt, v: &str) -> Result<usize, String> {
    number(opt, v, 1..=1024, "a number from 1 to 1024")
}

pub fn synchronous(_: &Opt, v: &str) -> Result<Synchronous, String> {
    Synchronous::parse(v).ok_or_else(|| format!("--synchronous must be normal or full, not {v:?}"))
}

pub fn store_ip(_: &Opt, v: &str) -> Result<IpStorage, String> {
    IpStorage::parse(v).ok_or_else(|| format!("--store-ip must be full, truncated or none, not {v:?}"))
}

pub fn socket_timeout(_: &Opt, v: &str) -> Result<Duration, String> {
    parse_duration(v)
        .filter(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(3600))
        .ok_or_else(|| format!("--socket-timeout must be a duration from 1s to 1h, not {v:?}"))
}

pub fn ip(_: &Opt, v: &str) -> Result<IpAddr, String> {
    v.parse::<IpAddr>().map_err(|_| format!("--trusted-proxy must be an IP address, not {v:?}"))
}

/// A duration longer than zero.
pub fn duration(opt: &Opt, v: &str) -> Result<Duration, String> {
    parse_duration(v)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("--{} must be a duration such as 90s, 15m, 12h or 30d, not {v:?}", opt.long))
}

pub fn wal_pages(opt: &Opt, v: &str) -> Result<u32, String> {
    number(opt, v, 0..=1_000_000, "a number of pages (0 to disable)")
}

/// Milliseconds, up to a day; `0` turns the rule off.
pub fn min_click_age(_: &Opt, v: &str) -> Result<i64, String> {
    if v == "0" {
        return Ok(0);
    }
    parse_duration(v)
        .filter(|d| *d <= Duration::from_secs(86_400))
        .map(|d| d.as_millis() as i64)
        .ok_or_else(|| format!("--min-click-age must be a duration up to 1d such as 10s, or 0 (off), not {v:?}"))
}

pub fn clicks_per_hour(opt: &Opt, v: &str) -> Result<u32, String> {
    number(opt, v, 0..=1_000_000, "a number of clicks per hour, or 0 (off)")
}

pub fn origin(_: &Opt, v: &str) -> Result<String, String> {
    crate::tracking::origin::parse_origin(v)
        .map_err(|e| format!("--allowed-origin / AFFILIATED_ALLOWED_ORIGINS {v:?} {e}"))
}

/// `--smtp-url` (see `smtp.rs`).
pub fn smtp_url(opt: &Opt, v: &str) -> Result<super::smtp::SmtpUrl, String> {
    super::smtp::parse(v).map_err(|e| format!("{} {e}", opt.names()))
}

/// An e-mail address (`--mail-from`, `--merchant-email`), checked like the API checks one;
/// `Name <address>` is accepted for the sender.
pub fn mail_address(opt: &Opt, v: &str) -> Result<String, String> {
    let address = match v.rsplit_once('<') {
        Some((_, rest)) => rest.strip_suffix('>').ok_or_else(|| format!("{} {v:?} has an unclosed <", opt.names()))?,
        None => v,
    };
    crate::tracking::validate::email(address.trim()).map_err(|e| format!("{} {e}", opt.names()))?;
    if v.chars().any(char::is_control) {
        return Err(format!("{} must be one line", opt.names()));
    }
    // What the mail lane sends it as (`outbox/mail.rs`): a name with a comma or other special
    // characters must be quoted.
    v.trim().parse::<lettre::message::Mailbox>().map_err(|e| {
        format!("{} {v:?} cannot be written in a From header ({e}): quote the name, as in \"Shop, Inc\" <partners@shop.example>", opt.names())
    })?;
    Ok(v.trim().to_string())
}

pub fn cidr(_: &Opt, v: &str) -> Result<Cidr, String> {
    Cidr::parse(v)
        .ok_or_else(|| format!("--postback-allow must be an address or block such as 203.0.113.0/24, not {v:?}"))
}

/// `off`, or how old a pending conversion must be to be approved.
pub fn approve_after(_: &Opt, v: &str) -> Result<Option<Duration>, String> {
    match v {
        "off" => Ok(None),
        v => parse_duration(v)
            .map(Some)
            .ok_or_else(|| format!("--approve-after must be off or a duration such as 14d or 30d, not {v:?}")),
    }
}

fn secret(connector: Connector, opt: &Opt, given: &str) -> Result<String, String> {
    connector.signing_secret(given).map_err(|e| format!("{} {e}", opt.names()))
}

pub fn stripe_secret(opt: &Opt, v: &str) -> Result<String, String> {
    secret(Connector::Stripe, opt, v)
}

pub fn shopify_secret(opt: &Opt, v: &str) -> Result<String, String> {
    secret(Connector::Shopify, opt, v)
}

pub fn woocommerce_secret(opt: &Opt, v: &str) -> Result<String, String> {
    secret(Connector::WooCommerce, opt, v)
}

pub fn paddle_secret(opt: &Opt, v: &str) -> Result<String, String> {
    secret(Connector::Paddle, opt, v)
}

/// Parses `90s`, `15m`, `12h`, `30d` (a whole number and one unit).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    if number.is_empty() || number.len() > 9 {
        return None;
    }
    let n: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(2_592_000)));
        for bad in ["", "30", "d", "1.5h", "-1s", "10 s", "1w", "9999999999s"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn numbers_say_what_they_take() {
        let threads = Opt::value("workers", "AFFILIATED_WORKERS");
        assert_eq!(workers(&threads, "1024"), Ok(1024));
        assert_eq!(workers(&threads, "0").unwrap_err(), "--workers must be a number from 1 to 1024, not \"0\"");
        let wal = Opt::value("wal-autocheckpoint", "AFFILIATED_WAL_AUTOCHECKPOINT");
        assert_eq!(wal_pages(&wal, "0"), Ok(0));
        let e = wal_pages(&wal, "-1").unwrap_err();
        assert_eq!(e, "--wal-autocheckpoint must be a number of pages (0 to disable), not \"-1\"");
        let clicks = Opt::value("max-clicks-per-ip", "AFFILIATED_MAX_CLICKS_PER_IP");
        let e = clicks_per_hour(&clicks, "1000001").unwrap_err();
        assert_eq!(e, "--max-clicks-per-ip must be a number of clicks per hour, or 0 (off), not \"1000001\"");
    }

    #[test]
    fn admin_tokens_must_be_long_enough() {
        assert!(check_admin_token("0123456789abcdef").is_ok());
        assert!(check_admin_token("short").unwrap_err().contains("at least 16"));
        assert!(check_admin_token("0123456789abcdef\n").is_err());
    }
}
