//! Configuration: defaults, overridden by `AFFILIATED_*` environment variables, overridden by
//! command-line flags. Flags are read with lexopt into raw strings first, then validated into
//! one typed [`Serve`] value, so every check and every message lives here.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::store::Synchronous;
use crate::tracking::connectors::Connector;
use crate::tracking::validate::IpStorage;

/// One option: `--long VALUE` (or `--long` alone for switches), with an environment fallback.
pub struct Opt {
    pub long: &'static str,
    pub env: Option<&'static str>,
    pub switch: bool,
    /// May be given several times (values are collected).
    pub repeat: bool,
}

impl Opt {
    pub const fn value(long: &'static str, env: &'static str) -> Opt {
        Opt { long, env: Some(env), switch: false, repeat: false }
    }
    pub const fn switch(long: &'static str, env: &'static str) -> Opt {
        Opt { long, env: Some(env), switch: true, repeat: false }
    }
    /// A switch with no environment fallback.
    pub const fn switch_only(long: &'static str) -> Opt {
        Opt { long, env: None, switch: true, repeat: false }
    }
    pub const fn many(long: &'static str, env: &'static str) -> Opt {
        Opt { long, env: Some(env), switch: false, repeat: true }
    }
    pub const fn flag_only(long: &'static str) -> Opt {
        Opt { long, env: None, switch: false, repeat: false }
    }
}

pub const DB: Opt = Opt::value("db", "AFFILIATED_DB");
pub const LISTEN: Opt = Opt::value("listen", "AFFILIATED_LISTEN");

pub const DEFAULT_DB: &str = "affiliated.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The raw result of parsing one command's arguments.
#[derive(Default, Debug)]
pub struct Args {
    values: Vec<(&'static str, String)>,
    pub positionals: Vec<String>,
    pub help: bool,
}

impl Args {
    /// Reads the rest of the command line against `opts`.
    pub fn parse(parser: &mut lexopt::Parser, opts: &[Opt]) -> Result<Args, String> {
        use lexopt::Arg;
        let mut args = Args::default();
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Arg::Short('h') | Arg::Long("help") => args.help = true,
                Arg::Long(name) => {
                    let name = name.to_string();
                    let opt = opts
                        .iter()
                        .find(|o| o.long == name)
                        .ok_or_else(|| format!("unknown option --{name}; see --help"))?;
                    let value = if opt.switch {
                        "true".to_string()
                    } else {
                        os_string(parser.value().map_err(|e| e.to_string())?)?
                    };
                    if !opt.repeat && args.values.iter().any(|(n, _)| *n == opt.long) {
                        return Err(format!("--{name} was given twice"));
                    }
                    args.values.push((opt.long, value));
                }
                Arg::Value(v) => args.positionals.push(os_string(v)?),
                Arg::Short(c) => return Err(format!("unknown option -{c}; see --help")),
            }
        }
        Ok(args)
    }

    /// The flag's value, else the environment variable's (empty counts as unset).
    pub fn get(&self, opt: &Opt) -> Option<String> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == opt.long)
            .map(|(_, v)| v.clone())
            .or_else(|| opt.env.and_then(|e| std::env::var(e).ok()).filter(|v| !v.is_empty()))
    }

    /// Every value of a repeatable option; the environment variable holds a comma-separated list.
    pub fn get_all(&self, opt: &Opt) -> Vec<String> {
        let flags: Vec<String> = self.values.iter().filter(|(n, _)| *n == opt.long).map(|(_, v)| v.clone()).collect();
        if !flags.is_empty() {
            return flags;
        }
        opt.env
            .and_then(|e| std::env::var(e).ok())
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default()
    }

    pub fn switch(&self, opt: &Opt) -> Result<bool, String> {
        match self.get(opt).as_deref() {
            None | Some("0" | "false" | "no") => Ok(false),
            Some("1" | "true" | "yes") => Ok(true),
            Some(other) => {
                Err(format!("--{} / {} must be true or false, not {other:?}", opt.long, opt.env.unwrap_or("")))
            }
        }
    }

    pub fn db(&self) -> PathBuf {
        PathBuf::from(self.get(&DB).unwrap_or_else(|| DEFAULT_DB.into()))
    }

    pub fn listen(&self) -> Result<SocketAddr, String> {
        let text = self.get(&LISTEN).unwrap_or_else(|| DEFAULT_LISTEN.into());
        text.to_socket_addrs()
            .map_err(|e| format!("--listen {text:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("--listen {text:?} resolves to no address"))
    }
}

fn os_string(v: OsString) -> Result<String, String> {
    v.into_string().map_err(|v| format!("argument {v:?} is not valid UTF-8"))
}

pub const API_KEY_ENV: &str = "AFFILIATED_API_KEY";

pub const WORKERS: Opt = Opt::value("workers", "AFFILIATED_WORKERS");
pub const SYNCHRONOUS: Opt = Opt::value("synchronous", "AFFILIATED_SYNCHRONOUS");
pub const STORE_IP: Opt = Opt::value("store-ip", "AFFILIATED_STORE_IP");
pub const SOCKET_TIMEOUT: Opt = Opt::value("socket-timeout", "AFFILIATED_SOCKET_TIMEOUT");
pub const TRUSTED_PROXY: Opt = Opt::many("trusted-proxy", "AFFILIATED_TRUSTED_PROXY");
pub const PUBLIC_URL: Opt = Opt::value("public-url", "AFFILIATED_PUBLIC_URL");
pub const ALLOW_PRIVATE_POSTBACKS: Opt = Opt::switch("allow-private-postbacks", "AFFILIATED_ALLOW_PRIVATE_POSTBACKS");
pub const POSTBACK_TOKEN_ENV: &str = "AFFILIATED_POSTBACK_TOKEN";
pub const CLICK_RETENTION: Opt = Opt::value("click-retention", "AFFILIATED_CLICK_RETENTION");
pub const SWEEP_INTERVAL: Opt = Opt::value("sweep-interval", "AFFILIATED_SWEEP_INTERVAL");
pub const ADMIN: Opt = Opt::value("admin", "AFFILIATED_ADMIN");
pub const ADMIN_TOKEN: Opt = Opt::value("admin-token", "AFFILIATED_ADMIN_TOKEN");
/// The shortest admin token accepted.
pub const ADMIN_TOKEN_MIN_LEN: usize = 16;
pub const WAL_AUTOCHECKPOINT: Opt = Opt::value("wal-autocheckpoint", "AFFILIATED_WAL_AUTOCHECKPOINT");
pub const PIXEL: Opt = Opt::value("pixel", "AFFILIATED_PIXEL");
pub const MIN_CLICK_AGE: Opt = Opt::value("min-click-age", "AFFILIATED_MIN_CLICK_AGE");
pub const MAX_CLICKS_PER_IP: Opt = Opt::value("max-clicks-per-ip", "AFFILIATED_MAX_CLICKS_PER_IP");
pub const ALLOWED_ORIGIN: Opt = Opt::many("allowed-origin", "AFFILIATED_ALLOWED_ORIGINS");
pub const POSTBACK_ALLOW: Opt = Opt::many("postback-allow", "AFFILIATED_POSTBACK_ALLOW");
pub const STRIPE_WEBHOOK_SECRET: Opt = Opt::value("stripe-webhook-secret", "AFFILIATED_STRIPE_WEBHOOK_SECRET");
pub const SHOPIFY_WEBHOOK_SECRET: Opt = Opt::value("shopify-webhook-secret", "AFFILIATED_SHOPIFY_WEBHOOK_SECRET");
pub const WOOCOMMERCE_WEBHOOK_SECRET: Opt =
    Opt::value("woocommerce-webhook-secret", "AFFILIATED_WOOCOMMERCE_WEBHOOK_SECRET");
pub const PADDLE_WEBHOOK_SECRET: Opt = Opt::value("paddle-webhook-secret", "AFFILIATED_PADDLE_WEBHOOK_SECRET");

/// The option that sets a shop connector's webhook signing secret.
pub fn webhook_secret_opt(connector: Connector) -> &'static Opt {
    match connector {
        Connector::Stripe => &STRIPE_WEBHOOK_SECRET,
        Connector::Shopify => &SHOPIFY_WEBHOOK_SECRET,
        Connector::WooCommerce => &WOOCOMMERCE_WEBHOOK_SECRET,
        Connector::Paddle => &PADDLE_WEBHOOK_SECRET,
    }
}
pub const APPROVE_AFTER: Opt = Opt::value("approve-after", "AFFILIATED_APPROVE_AFTER");
pub const OUTBOUND: Opt = Opt::value("outbound", "AFFILIATED_OUTBOUND");
pub const PORTAL: Opt = Opt::value("portal", "AFFILIATED_PORTAL");
pub const BACKUP_DIR: Opt = Opt::value("backup-dir", "AFFILIATED_BACKUP_DIR");

/// Where the backup taken before a migration goes: `--backup-dir`, else `backups/` in the
/// database's directory (where the nightly backup timer writes too).
pub fn backup_dir(args: &Args, db: &std::path::Path) -> PathBuf {
    args.get(&BACKUP_DIR).map(PathBuf::from).unwrap_or_else(|| {
        let dir = db.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        dir.join("backups")
    })
}

/// The `AFFILIATED_*` settings of this process's environment, but the database's path (a
/// restore chooses it anew): what a backup keeps, so a new machine can run with the same
/// secrets and settings (the backup unit loads the same env file as the server).
pub fn settings_environment() -> Vec<(String, String)> {
    let db = DB.env.unwrap_or_default();
    let prefix = db.trim_end_matches("DB");
    let mut found: Vec<(String, String)> =
        std::env::vars().filter(|(k, v)| k.starts_with(prefix) && k != db && !v.is_empty()).collect();
    found.sort();
    found
}

pub const SERVE_OPTS: &[Opt] = &[
    DB,
    LISTEN,
    WORKERS,
    SYNCHRONOUS,
    STORE_IP,
    SOCKET_TIMEOUT,
    TRUSTED_PROXY,
    PUBLIC_URL,
    ALLOW_PRIVATE_POSTBACKS,
    CLICK_RETENTION,
    SWEEP_INTERVAL,
    ADMIN,
    ADMIN_TOKEN,
    WAL_AUTOCHECKPOINT,
    PIXEL,
    MIN_CLICK_AGE,
    MAX_CLICKS_PER_IP,
    ALLOWED_ORIGIN,
    POSTBACK_ALLOW,
    STRIPE_WEBHOOK_SECRET,
    SHOPIFY_WEBHOOK_SECRET,
    WOOCOMMERCE_WEBHOOK_SECRET,
    PADDLE_WEBHOOK_SECRET,
    APPROVE_AFTER,
    OUTBOUND,
    PORTAL,
    BACKUP_DIR,
];

/// Everything `serve` needs, validated.
#[derive(Clone, Debug)]
pub struct Serve {
    pub db: PathBuf,
    pub listen: SocketAddr,
    /// How visitors and affiliates reach this server (scheme, host, optional port and path
    /// prefix, no trailing slash); used to print tracking links and postback URLs.
    pub public_url: String,
    /// Whether `public_url` was derived from `listen` (and should follow the real port).
    pub public_url_is_default: bool,
    pub api_key: Option<String>,
    pub workers: usize,
    pub synchronous: Synchronous,
    pub store_ip: IpStorage,
    /// Read and write timeout of every accepted connection; also how long an idle keep-alive
    /// connection is kept.
    pub socket_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed (the reverse proxy).
    pub trusted_proxies: Vec<IpAddr>,
    /// The postback token from the environment, if the operator sets it.
    pub postback_token: Option<String>,
    /// Lets outbound postbacks and merchant webhooks reach loopback and private addresses
    /// (tests, LANs).
    pub allow_private_postbacks: bool,
    /// Unconverted clicks older than this are deleted.
    pub click_retention: Duration,
    /// How often the retention sweeper runs.
    pub sweep_interval: Duration,
    /// Whether the merchant admin exists (`--admin on|off`); when off, `/admin` is a 404.
    pub admin: bool,
    /// The admin's login token when the operator configures one; otherwise `serve` generates one
    /// on the first start.
    pub admin_token: Option<String>,
    /// The SHA-256 of the admin token in use, settled by `serve` at start (`cli/bootstrap.rs`);
    /// `None` while not yet settled, and whenever the admin is off.
    pub admin_token_sha256: Option<[u8; 32]>,
    /// The key that signs device cookies (`http::device`), read from or made in
    /// `<db>.device-key` by `serve` at start (`cli/bootstrap.rs`); `None` until then.
    pub device_key: Option<crate::secret::Key>,
    /// WAL pages after which a commit runs a PASSIVE checkpoint; 0 leaves checkpoints to an
    /// external tool such as Litestream.
    pub wal_autocheckpoint: u32,
    /// Whether `/pixel.gif` records conversions (off: it does not exist).
    pub pixel: bool,
    /// The fraud rules' thresholds.
    pub fraud: crate::tracking::fraud::Thresholds,
    /// Origins of web pages that may read the click snippet's `/c/` answers (CORS), exactly as
    /// browsers send them in `Origin`.
    pub allowed_origins: Vec<String>,
    /// Networks whose servers may send postbacks without the token (by the real client address).
    pub postback_allow: Vec<crate::tracking::net::Cidr>,
    /// Shop connectors' webhook signing secrets from the environment or flags (they win over
    /// secrets set through the API, which live in the database).
    pub webhook_secrets: Vec<(Connector, String)>,
    /// Pending conversions older than this are approved by the sweeper (offers may set their
    /// own `approve_after_days`); `None`: only offers that set one.
    pub approve_after: Option<Duration>,
    /// Whether outbound postbacks and merchant webhooks are delivered. Off, deliveries are still
    /// queued (and listed, and can be retried later) but nothing is resolved or sent: for tests
    /// and fuzzing.
    pub outbound: bool,
    /// Whether the affiliate portal exists (`--portal on|off`); when off, `/portal` is a 404.
    pub portal: bool,
    /// Where the backup taken before a migration goes.
    pub backup_dir: PathBuf,
}

impl Serve {
    /// The signing secret of `connector` set by the environment or a flag.
    pub fn webhook_secret(&self, connector: Connector) -> Option<&str> {
        self.webhook_secrets.iter().find(|(c, _)| *c == connector).map(|(_, s)| s.as_str())
    }

    pub fn from_args(args: &Args) -> Result<Serve, String> {
        let api_key = std::env::var(API_KEY_ENV).ok().filter(|k| !k.is_empty());
        if let Some(key) = &api_key {
            if key.len() < crate::store::keys::MIN_LEN {
                return Err(format!(
                    "{API_KEY_ENV} is {} characters; use at least {} (e.g. `openssl rand -base64 32`)",
                    key.len(),
                    crate::store::keys::MIN_LEN
                ));
            }
            if key.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
                return Err(format!("{API_KEY_ENV} must be printable ASCII without spaces"));
            }
        }
        let workers = match args.get(&WORKERS) {
            None => 32,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| format!("--workers must be a number from 1 to 1024, not {v:?}"))?,
        };
        let synchronous = match args.get(&SYNCHRONOUS) {
            None => Synchronous::Normal,
            Some(v) => {
                Synchronous::parse(&v).ok_or_else(|| format!("--synchronous must be normal or full, not {v:?}"))?
            }
        };
        let store_ip = match args.get(&STORE_IP) {
            None => IpStorage::Truncated,
            Some(v) => {
                IpStorage::parse(&v).ok_or_else(|| format!("--store-ip must be full, truncated or none, not {v:?}"))?
            }
        };
        let socket_timeout = match args.get(&SOCKET_TIMEOUT) {
            None => Duration::from_secs(15),
            Some(v) => parse_duration(&v)
                .filter(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(3600))
                .ok_or_else(|| format!("--socket-timeout must be a duration from 1s to 1h, not {v:?}"))?,
        };
        let trusted_proxies = args
            .get_all(&TRUSTED_PROXY)
            .iter()
            .map(|v| v.parse::<IpAddr>().map_err(|_| format!("--trusted-proxy must be an IP address, not {v:?}")))
            .collect::<Result<_, _>>()?;
        let listen = args.listen()?;
        let public_url = match args.get(&PUBLIC_URL) {
            None => format!("http://{listen}"),
            Some(url) => {
                crate::tracking::link::check_template(&url, &[]).map_err(|e| format!("--public-url {e}"))?;
                if url.contains(['?', '#']) {
                    return Err("--public-url must not have a query or fragment".into());
                }
                url.trim_end_matches('/').to_string()
            }
        };
        let postback_token = std::env::var(POSTBACK_TOKEN_ENV).ok().filter(|t| !t.is_empty());
        if let Some(token) = &postback_token
            && (token.len() < 20 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(format!("{POSTBACK_TOKEN_ENV} must be at least 20 characters of A-Z a-z 0-9 - _"));
        }
        let duration = |opt: &Opt, default: u64| -> Result<Duration, String> {
            match args.get(opt) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => parse_duration(&v).filter(|d| !d.is_zero()).ok_or_else(|| {
                    format!("--{} must be a duration such as 90s, 15m, 12h or 30d, not {v:?}", opt.long)
                }),
            }
        };
        let click_retention = duration(&CLICK_RETENTION, 30 * 86_400)?;
        let sweep_interval = duration(&SWEEP_INTERVAL, 3600)?;
        let admin = on_off(args, &ADMIN, true)?;
        let admin_token = args.get(&ADMIN_TOKEN).map(|t| check_admin_token(&t).map(|()| t)).transpose()?;
        if !admin && admin_token.is_some() {
            return Err(
                "--admin off and an admin token (--admin-token / AFFILIATED_ADMIN_TOKEN) contradict each other; \
                        drop one of them"
                    .into(),
            );
        }
        let wal_autocheckpoint =
            match args.get(&WAL_AUTOCHECKPOINT) {
                None => 1000,
                Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 1_000_000).ok_or_else(|| {
                    format!("--wal-autocheckpoint must be a number of pages (0 to disable), not {v:?}")
                })?,
            };
        let pixel = on_off(args, &PIXEL, false)?;
        let portal = on_off(args, &PORTAL, true)?;
        let defaults = crate::tracking::fraud::Thresholds::default();
        let min_click_age_ms = match args.get(&MIN_CLICK_AGE) {
            None => defaults.min_click_age_ms,
            Some(v) if v == "0" => 0,
            Some(v) => parse_duration(&v)
                .filter(|d| *d <= Duration::from_secs(86_400))
                .map(|d| d.as_millis() as i64)
                .ok_or_else(|| {
                format!("--min-click-age must be a duration up to 1d such as 10s, or 0 (off), not {v:?}")
            })?,
        };
        let max_clicks_per_ip = match args.get(&MAX_CLICKS_PER_IP) {
            None => defaults.max_clicks_per_ip,
            Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 1_000_000).ok_or_else(|| {
                format!("--max-clicks-per-ip must be a number of clicks per hour, or 0 (off), not {v:?}")
            })?,
        };
        let allowed_origins = args
            .get_all(&ALLOWED_ORIGIN)
            .iter()
            .map(|v| {
                crate::http::snippet::parse_origin(v)
                    .map_err(|e| format!("--allowed-origin / AFFILIATED_ALLOWED_ORIGINS {v:?} {e}"))
            })
            .collect::<Result<_, _>>()?;
        let mut webhook_secrets = Vec::new();
        for connector in Connector::ALL {
            let opt = webhook_secret_opt(connector);
            if let Some(given) = args.get(opt) {
                let secret = connector
                    .signing_secret(&given)
                    .map_err(|e| format!("--{} / {} {e}", opt.long, opt.env.unwrap_or("")))?;
                webhook_secrets.push((connector, secret));
            }
        }
        let approve_after =
            match args.get(&APPROVE_AFTER).as_deref() {
                None | Some("off") => None,
                Some(v) => Some(parse_duration(v).ok_or_else(|| {
                    format!("--approve-after must be off or a duration such as 14d or 30d, not {v:?}")
                })?),
            };
        let outbound = on_off(args, &OUTBOUND, true)?;
        Ok(Serve {
            db: args.db(),
            listen,
            public_url_is_default: args.get(&PUBLIC_URL).is_none(),
            public_url,
            api_key,
            workers,
            synchronous,
            store_ip,
            socket_timeout,
            trusted_proxies,
            postback_token,
            allow_private_postbacks: args.switch(&ALLOW_PRIVATE_POSTBACKS)?,
            click_retention,
            sweep_interval,
            admin,
            admin_token,
            admin_token_sha256: None,
            device_key: None,
            wal_autocheckpoint,
            pixel,
            fraud: crate::tracking::fraud::Thresholds { min_click_age_ms, max_clicks_per_ip },
            allowed_origins,
            postback_allow: args
                .get_all(&POSTBACK_ALLOW)
                .iter()
                .map(|v| {
                    crate::tracking::net::Cidr::parse(v).ok_or_else(|| {
                        format!("--postback-allow must be an address or block such as 203.0.113.0/24, not {v:?}")
                    })
                })
                .collect::<Result<_, _>>()?,
            webhook_secrets,
            approve_after,
            outbound,
            portal,
            backup_dir: backup_dir(args, &args.db()),
        })
    }
}

/// An `on`/`off` option (also `true`/`false`, `1`/`0`, `yes`/`no`).
fn on_off(args: &Args, opt: &Opt, default: bool) -> Result<bool, String> {
    match args.get(opt).as_deref() {
        None => Ok(default),
        Some("on" | "true" | "1" | "yes") => Ok(true),
        Some("off" | "false" | "0" | "no") => Ok(false),
        Some(other) => Err(format!("--{} / {} must be on or off, not {other:?}", opt.long, opt.env.unwrap_or(""))),
    }
}

fn check_admin_token(token: &str) -> Result<(), String> {
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
    fn admin_tokens_must_be_long_enough() {
        assert!(check_admin_token("0123456789abcdef").is_ok());
        assert!(check_admin_token("short").unwrap_err().contains("at least 16"));
        assert!(check_admin_token("0123456789abcdef\n").is_err());
    }

    #[test]
    fn every_documented_serve_flag_parses() {
        let mut parser = lexopt::Parser::from_args([
            "--workers",
            "2",
            "--synchronous",
            "full",
            "--store-ip",
            "none",
            "--socket-timeout",
            "5s",
            "--trusted-proxy",
            "127.0.0.1",
            "--public-url",
            "https://t.example",
            "--allow-private-postbacks",
            "--click-retention",
            "7d",
            "--sweep-interval",
            "10m",
            "--admin-token",
            "0123456789abcdef",
            "--wal-autocheckpoint",
            "0",
            "--pixel",
            "on",
            "--min-click-age",
            "30s",
            "--max-clicks-per-ip",
            "0",
            "--allowed-origin",
            "https://shop.example",
            "--allowed-origin",
            "http://127.0.0.1:8081",
            "--postback-allow",
            "203.0.113.0/24",
            "--postback-allow",
            "2001:db8::/32",
            "--stripe-webhook-secret",
            "whsec_flag_0123456789",
            "--outbound",
            "off",
        ]);
        let serve = Serve::from_args(&Args::parse(&mut parser, SERVE_OPTS).unwrap()).unwrap();
        assert_eq!(serve.wal_autocheckpoint, 0);
        assert!(serve.pixel);
        assert_eq!(serve.fraud.min_click_age_ms, 30_000);
        assert_eq!(serve.fraud.max_clicks_per_ip, 0);
        assert_eq!(serve.allowed_origins, ["https://shop.example", "http://127.0.0.1:8081"]);
        let mut bad = lexopt::Parser::from_args(["--allowed-origin", "https://shop.example/"]);
        let e = Serve::from_args(&Args::parse(&mut bad, SERVE_OPTS).unwrap()).unwrap_err();
        assert!(e.contains("--allowed-origin") && e.contains("write \"https://shop.example\""), "{e}");
        assert_eq!(serve.postback_allow.len(), 2);
        assert_eq!(serve.webhook_secret(Connector::Stripe), Some("whsec_flag_0123456789"));
        assert_eq!(serve.webhook_secret(Connector::Paddle), None);
        assert_eq!(serve.click_retention, Duration::from_secs(7 * 86_400));
        assert_eq!(serve.sweep_interval, Duration::from_secs(600));
        assert!(serve.allow_private_postbacks);
        assert_eq!(serve.public_url, "https://t.example");
        assert_eq!(serve.synchronous, Synchronous::Full);
        assert!(serve.admin);
        assert!(!serve.outbound);
        let mut bad = lexopt::Parser::from_args(["--outbound", "maybe"]);
        assert!(Serve::from_args(&Args::parse(&mut bad, SERVE_OPTS).unwrap()).unwrap_err().contains("on or off"));
    }

    fn parse(flags: &[&str]) -> Result<Serve, String> {
        let mut parser = lexopt::Parser::from_args(flags.iter().copied());
        Serve::from_args(&Args::parse(&mut parser, SERVE_OPTS).unwrap())
    }

    #[test]
    fn the_admin_is_on_by_default_and_off_on_request() {
        assert!(parse(&[]).unwrap().admin);
        assert!(parse(&["--admin", "on"]).unwrap().admin);
        assert!(!parse(&["--admin", "off"]).unwrap().admin);
        assert!(parse(&["--admin", "maybe"]).unwrap_err().contains("on or off"));
        let both = parse(&["--admin", "off", "--admin-token", "0123456789abcdef"]).unwrap_err();
        assert!(both.contains("contradict"), "{both}");
    }

    #[test]
    fn the_portal_is_on_by_default_and_off_on_request() {
        assert!(parse(&[]).unwrap().portal);
        assert!(!parse(&["--portal", "off"]).unwrap().portal);
        let e = parse(&["--portal", "maybe"]).unwrap_err();
        assert!(e.contains("--portal / AFFILIATED_PORTAL must be on or off"), "{e}");
    }

    #[test]
    fn flags_win_over_defaults() {
        let mut parser = lexopt::Parser::from_args(["--db", "/tmp/x.db", "--workers", "8", "extra"]);
        let args = Args::parse(&mut parser, SERVE_OPTS).unwrap();
        assert_eq!(args.db(), PathBuf::from("/tmp/x.db"));
        assert_eq!(args.get(&WORKERS).as_deref(), Some("8"));
        assert_eq!(args.positionals, ["extra"]);
        let mut twice = lexopt::Parser::from_args(["--db", "a", "--db", "b"]);
        assert!(Args::parse(&mut twice, SERVE_OPTS).is_err());
        let mut unknown = lexopt::Parser::from_args(["--nope"]);
        assert!(Args::parse(&mut unknown, SERVE_OPTS).unwrap_err().contains("--nope"));
    }
}
