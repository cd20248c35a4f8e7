//! The SMTP server the appliance sends e-mail through (`--smtp-url`): its address, how the
//! connection is protected, and the login. Three forms:
//!
//! - `smtps://user:pass@host:465`: TLS from the first byte (implicit TLS; port 465 by default);
//! - `smtp://user:pass@host:587`: STARTTLS, required (port 587 by default): a server that does
//!   not offer it, or offers a certificate that does not verify, is never sent a message or the
//!   password;
//! - `smtp://127.0.0.1:25`: plain, only to a loopback host (`127.0.0.0/8`, `::1`, `localhost`),
//!   for a relay on the same machine.
//!
//! The user and password are percent-decoded (`%40` for an `@` in a user name). The password is a
//! secret: held as `secret::Redacted`, shown masked ([`SmtpUrl::masked`]), never in `Debug`.
//!
//! Architecture Invariant: a pure parser and value; no connection is made here.

use std::net::IpAddr;

use crate::secret::Redacted;

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS from the start (`smtps://`).
    Implicit,
    /// STARTTLS, required (`smtp://` to any host but a loopback one).
    StartTls,
    /// No TLS (`smtp://` to a loopback host).
    Plain,
}

/// A parsed `--smtp-url`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub security: Security,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Redacted>,
}

impl SmtpUrl {
    /// The URL with its password replaced by `****`, for logs and pages.
    pub fn masked(&self) -> String {
        let scheme = if self.security == Security::Implicit { "smtps" } else { "smtp" };
        let login = match (&self.user, &self.password) {
            (Some(user), Some(_)) => format!("{user}:****@"),
            (Some(user), None) => format!("{user}@"),
            _ => String::new(),
        };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{scheme}://{login}{host}:{}", self.port)
    }

    /// How the connection is protected, in words for the log.
    pub fn describe(&self) -> &'static str {
        match self.security {
            Security::Implicit => "implicit TLS",
            Security::StartTls => "STARTTLS required",
            Security::Plain => "plain, to a loopback host",
        }
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpUrl({})", self.masked())
    }
}

/// Whether `host` (as written in the URL, without brackets) is this machine's loopback.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

fn decode(part: &str, what: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("the {what} is not valid UTF-8 once percent-decoded"))
}

/// Parses `text` (see the module comment), or says what is wrong with it.
pub fn parse(text: &str) -> Result<SmtpUrl, String> {
    let form = "smtp://user:password@host:587 (STARTTLS) or smtps://user:password@host:465 (implicit TLS)";
    let (scheme, rest) = text.split_once("://").ok_or_else(|| format!("must look like {form}"))?;
    let implicit = match scheme.to_ascii_lowercase().as_str() {
        "smtps" => true,
        "smtp" => false,
        other => return Err(format!("scheme {other:?} is not smtp or smtps; it must look like {form}")),
    };
    if rest.contains(['?', '#']) {
        return Err(format!(
            "takes no parameters: smtp:// always requires STARTTLS (plain SMTP only to a loopback host), \
             smtps:// is implicit TLS; it must look like {form}"
        ));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err(format!("has a path; it must look like {form}"));
    }
    let (login, address) = match rest.rsplit_once('@') {
        Some((login, address)) => (Some(login), address),
        None => (None, rest),
    };
    let (user, password) = match login {
        None => (None, None),
        Some(login) => {
            let (user, password) = match login.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (login, None),
            };
            if user.is_empty() {
                return Err("names a password without a user".into());
            }
            let password = password.map(|p| decode(p, "password")).transpose()?.map(Redacted::new);
            (Some(decode(user, "user")?), password)
        }
    };
    let (host, port) = split_host_port(address)?;
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("names no host; it must look like {form}"));
    }
    let security = if implicit {
        Security::Implicit
    } else if is_loopback(&host) {
        Security::Plain
    } else {
        Security::StartTls
    };
    let port = port.unwrap_or(if implicit { 465 } else { 587 });
    Ok(SmtpUrl { security, host, port, user, password })
}

fn split_host_port(address: &str) -> Result<(String, Option<u16>), String> {
    let port_of =
        |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("port {p:?} is not 1-65535"));
    if let Some(v6) = address.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("an IPv6 host must be in brackets: [::1]:25")?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(port_of(p)?),
            None if after.is_empty() => None,
            None => return Err("an IPv6 host must be in brackets: [::1]:25".into()),
        };
        return Ok((host.to_string(), port));
    }
    match address.rsplit_once(':') {
        Some((host, p)) => Ok((host.to_string(), Some(port_of(p)?))),
        None => Ok((address.to_string(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_requires_starttls_and_smtps_is_implicit_tls() {
        let u = parse("smtp://AKIA%2Fx:s3cr%40t@email-smtp.eu-west-1.amazonaws.com:587").unwrap();
        assert_eq!(u.security, Security::StartTls);
        assert_eq!((u.host.as_str(), u.port), ("email-smtp.eu-west-1.amazonaws.com", 587));
        assert_eq!(u.user.as_deref(), Some("AKIA/x"));
        assert_eq!(u.password.as_ref().map(Redacted::expose), Some("s3cr@t"));
        let u = parse("smtps://apikey:pw@smtp.example").unwrap();
        assert_eq!((u.security, u.port), (Security::Implicit, 465));
        assert_eq!(parse("smtp://smtp.example").unwrap().port, 587);
    }

    #[test]
    fn plain_only_to_a_loopback_host() {
        for loopback in ["smtp://127.0.0.1:2525", "smtp://localhost", "smtp://[::1]:25", "smtp://127.8.9.10/"] {
            assert_eq!(parse(loopback).unwrap().security, Security::Plain, "{loopback}");
        }
        for other in ["smtp://10.0.0.5:25", "smtp://mail.example:25", "smtp://0.0.0.0:25", "smtp://[::ffff:10.0.0.1]"] {
            assert_eq!(parse(other).unwrap().security, Security::StartTls, "{other}");
        }
        assert_eq!(parse("smtp://[::ffff:127.0.0.1]:25").unwrap().security, Security::Plain);
    }

    #[test]
    fn the_password_never_shows() {
        let u = parse("smtp://ann:hunter2-secret@mail.example:587").unwrap();
        assert_eq!(u.masked(), "smtp://ann:****@mail.example:587");
        let debug = format!("{u:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert_eq!(parse("smtps://[::1]").unwrap().masked(), "smtps://[::1]:465");
    }

    #[test]
    fn mistakes_are_explained() {
        for (bad, says) in [
            ("mail.example:587", "must look like"),
            ("http://mail.example", "is not smtp or smtps"),
            ("smtp://mail.example:587?tls=none", "takes no parameters"),
            ("smtp://mail.example/x", "has a path"),
            ("smtp://:pw@mail.example", "without a user"),
            ("smtp://mail.example:0", "is not 1-65535"),
            ("smtp://mail.example:99999", "is not 1-65535"),
            ("smtp://u:p@", "names no host"),
            ("smtp://[::1", "brackets"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
