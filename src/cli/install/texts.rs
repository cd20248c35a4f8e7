//! What `affiliated install` writes, as text: the shipped units, the env file with generated
//! secrets (or the settings of a backup), and the proxy site for the domain, made from
//! `deploy/nginx.conf` and `deploy/Caddyfile` as shipped. Pure: no files, no processes, no
//! randomness (the secrets are passed in). Every substitution must apply, so a change to a
//! shipped file that breaks one fails the unit tests here.

use std::fmt::Write;

pub const SERVICE: &str = include_str!("../../../systemd/affiliated.service");
pub const BACKUP_SERVICE: &str = include_str!("../../../systemd/affiliated-backup.service");
pub const BACKUP_TIMER: &str = include_str!("../../../systemd/affiliated-backup.timer");
const ENV_EXAMPLE: &str = include_str!("../../../systemd/affiliated.env.example");
const NGINX: &str = include_str!("../../../deploy/nginx.conf");
const CADDYFILE: &str = include_str!("../../../deploy/Caddyfile");

/// The host name the shipped proxy files use.
const EXAMPLE_HOST: &str = "track.example.com";
/// The first line of the shipped Caddyfile: how a Caddyfile install wrote is recognised.
pub const CADDY_MARK: &str = "in front of affiliated";
/// Where the HTTPS part of the nginx site starts.
const NGINX_TLS_MARK: &str = "# --- HTTPS: needs the certificate";

fn replace_all(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the shipped file no longer contains {from:?}");
    text.replace(from, to)
}

/// A host name install accepts: letters, digits and hyphens in dot-separated labels (an
/// internationalised name in its `xn--` form), at least two labels, not an IP address.
/// Returns it in lower case, or why not.
pub fn domain(text: &str) -> Result<String, String> {
    let name = text.trim_end_matches('.').to_ascii_lowercase();
    let bad = |why: &str| Err(format!("--domain {text:?} is not a host name: {why} (e.g. track.example.com)"));
    if name.contains("://") || name.contains(['/', ':', '@']) {
        return bad("give the name only, without scheme, port or path");
    }
    if name.is_empty() || name.len() > 253 {
        return bad("it must have 1 to 253 characters");
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return bad("it needs a dot: a name the public DNS can point here");
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return bad("each part between dots has 1 to 63 characters");
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return bad("only letters, digits, hyphens and dots (write other scripts in their xn-- form)");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a part cannot start or end with a hyphen");
        }
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return bad("an IP address cannot get a certificate this way");
    }
    Ok(name)
}

/// The env file for a new install: the shipped example with the public URL set and the API
/// key and admin token filled in.
pub fn env_file(domain: &str, api_key: &str, admin_token: &str, written: &str) -> String {
    let mut text = format!(
        "# Written by `affiliated install --domain {domain}` on {written}. Only root can read this file\n\
         # (mode 0600): it holds the API key and the admin token generated for this install. Store them\n\
         # in your password manager too; re-running install keeps this file as it is.\n"
    );
    let mut body = ENV_EXAMPLE.to_string();
    body = replace_all(
        &body,
        "#AFFILIATED_PUBLIC_URL=http://127.0.0.1:8080\n",
        &format!("AFFILIATED_PUBLIC_URL=https://{domain}\n"),
    );
    body = replace_all(&body, "#AFFILIATED_API_KEY=\n", &format!("AFFILIATED_API_KEY={api_key}\n"));
    body = replace_all(&body, "#AFFILIATED_ADMIN_TOKEN=\n", &format!("AFFILIATED_ADMIN_TOKEN={admin_token}\n"));
    assert!(body.contains("\nAFFILIATED_TRUSTED_PROXY=127.0.0.1\n"), "the env example no longer trusts the proxy");
    text.push_str(&body);
    text
}

/// The env file of a new machine restored from a backup: the settings the backup ran with,
/// with the public URL of `domain`. Returns the text and what differs from the backup.
pub fn env_from_backup(
    domain: &str,
    settings: &[(String, String)],
    source: &str,
    written: &str,
) -> (String, Option<String>) {
    let mut text = format!(
        "# Written by `affiliated install --domain {domain} --from-backup {source}` on {written}: the\n\
         # settings the backup ran with. Only root can read this file (mode 0600): it holds secrets.\n\
         # systemd/affiliated.env.example in the repository describes every setting.\n"
    );
    let url = format!("https://{domain}");
    let mut changed = None;
    let mut has_url = false;
    for (name, value) in settings {
        let value = if name == "AFFILIATED_PUBLIC_URL" {
            has_url = true;
            if *value != url {
                changed = Some(format!("AFFILIATED_PUBLIC_URL is now {url} (the backup had {value})"));
            }
            &url
        } else {
            value
        };
        let _ = writeln!(text, "{name}={value}");
    }
    if !has_url {
        let _ = writeln!(text, "AFFILIATED_PUBLIC_URL={url}");
    }
    (text, changed)
}

/// The Caddyfile for `domain`.
pub fn caddyfile(domain: &str) -> String {
    assert!(CADDYFILE.lines().next().is_some_and(|l| l.contains(CADDY_MARK)), "the Caddyfile lost its first line");
    replace_all(CADDYFILE, EXAMPLE_HOST, domain)
}

/// nginx's version from `nginx -v` (which prints `nginx version: nginx/1.22.1` on stderr).
pub fn nginx_version(output: &str) -> Option<(u32, u32, u32)> {
    let v = output.split("nginx/").nth(1)?.split_whitespace().next()?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next().flatten().unwrap_or(0)))
}

/// Whether this nginx wants `http2 on;` instead of `listen ... http2` (1.25.1 and later).
pub fn nginx_has_http2_directive(version: Option<(u32, u32, u32)>) -> bool {
    version.is_some_and(|v| v >= (1, 25, 1))
}

/// The nginx site for `domain`: with `tls`, the whole file; without, only its plain-HTTP part
/// (the first-certificate stage: the challenge and the redirect, nothing that needs the
/// certificate files). `http2_directive` picks the syntax of nginx 1.25.1 and later.
pub fn nginx_site(domain: &str, tls: bool, http2_directive: bool) -> String {
    let mut text = replace_all(NGINX, EXAMPLE_HOST, domain);
    if http2_directive {
        text = replace_all(&text, "    listen 443 ssl http2;\n", "    listen 443 ssl;\n");
        text = replace_all(&text, "    listen [::]:443 ssl http2;\n", "    listen [::]:443 ssl;\n    http2 on;\n");
    }
    if tls {
        return text;
    }
    let cut = text.find(NGINX_TLS_MARK).expect("deploy/nginx.conf marks where its HTTPS part starts");
    let mut first = text[..cut].trim_end().to_string();
    first.push_str(&format!(
        "\n\n# The HTTPS part follows once /etc/letsencrypt/live/{domain}/ exists: get the certificate\n\
         # (certbot certonly --webroot -w /var/www/html -d {domain} --deploy-hook \"systemctl reload nginx\"),\n\
         # then run `affiliated install --domain {domain} --proxy nginx` again.\n"
    ));
    first
}

/// Every nginx site install could have written for `domain` (both stages, both syntaxes): a
/// file equal to one of them was not edited by hand and may be replaced.
pub fn nginx_sites(domain: &str) -> Vec<String> {
    let mut all = Vec::new();
    for tls in [false, true] {
        for h2 in [false, true] {
            all.push(nginx_site(domain, tls, h2));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(domain("Track.Example.com."), Ok("track.example.com".into()));
        assert_eq!(domain("xn--bcher-kva.example"), Ok("xn--bcher-kva.example".into()));
        for bad in [
            "",
            "localhost",
            "https://track.example.com",
            "track.example.com/x",
            "track.example.com:443",
            "-a.example",
            "a-.example",
            "a..example",
            "bücher.example",
            "203.0.113.7",
            "a b.example",
            &format!("{}.example", "a".repeat(64)),
        ] {
            assert!(domain(bad).is_err(), "{bad:?}");
        }
        assert!(domain("a.b:8080").unwrap_err().contains("without scheme, port or path"));
    }

    #[test]
    fn the_env_file_sets_the_url_and_the_secrets_and_keeps_the_documentation() {
        let text = env_file("shop.example", "afk_KEY", "adm_TOKEN", "2026-12-06");
        for line in [
            "AFFILIATED_PUBLIC_URL=https://shop.example",
            "AFFILIATED_API_KEY=afk_KEY",
            "AFFILIATED_ADMIN_TOKEN=adm_TOKEN",
            "AFFILIATED_TRUSTED_PROXY=127.0.0.1",
        ] {
            assert_eq!(text.lines().filter(|l| *l == line).count(), 1, "{line}");
        }
        assert!(text.contains("#AFFILIATED_WORKERS=32"), "the commented settings stay");
        let settings = [
            ("AFFILIATED_API_KEY".to_string(), "k".into()),
            ("AFFILIATED_PUBLIC_URL".into(), "https://old.example".into()),
        ];
        let (text, changed) = env_from_backup("new.example", &settings, "b.db", "2026-12-06");
        assert!(text.contains("\nAFFILIATED_API_KEY=k\nAFFILIATED_PUBLIC_URL=https://new.example\n"), "{text}");
        assert!(changed.unwrap().contains("the backup had https://old.example"));
        let (text, changed) = env_from_backup("new.example", &settings[..1], "b.db", "2026-12-06");
        assert!(text.ends_with("AFFILIATED_PUBLIC_URL=https://new.example\n") && changed.is_none(), "{text}");
    }

    #[test]
    fn the_nginx_site_follows_the_version_and_the_certificate() {
        assert_eq!(nginx_version("nginx version: nginx/1.22.1\n"), Some((1, 22, 1)));
        assert_eq!(nginx_version("nginx version: nginx/1.25.1 (Ubuntu)"), Some((1, 25, 1)));
        assert_eq!(nginx_version("bash: nginx: command not found"), None);
        assert!(!nginx_has_http2_directive(Some((1, 25, 0))) && nginx_has_http2_directive(Some((1, 27, 3))));
        assert!(!nginx_has_http2_directive(None), "unknown: the form every version reads");

        let old = nginx_site("shop.example", true, false);
        assert!(old.contains("\n    listen 443 ssl http2;\n") && !old.contains("\n    http2 on;\n"));
        assert!(old.contains("ssl_certificate /etc/letsencrypt/live/shop.example/fullchain.pem;"));
        assert!(!old.contains("track.example.com"));
        let new = nginx_site("shop.example", true, true);
        assert!(new.contains("    listen 443 ssl;\n    listen [::]:443 ssl;\n    http2 on;\n"), "{new}");
        assert!(!new.contains("\n    listen 443 ssl http2;"));
        let first = nginx_site("shop.example", false, true);
        assert!(first.contains("location /.well-known/acme-challenge/") && first.contains("server_name shop.example;"));
        let config: String = first.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
        assert!(!config.contains("listen 443") && !config.contains("ssl_certificate"), "{first}");
        assert!(first.contains("--deploy-hook \"systemctl reload nginx\""));
        assert_eq!(nginx_sites("shop.example").len(), 4);
        assert!(caddyfile("shop.example").contains("\nshop.example {\n"));
    }
}
