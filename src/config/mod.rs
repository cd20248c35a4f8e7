//! Configuration: defaults, overridden by `AFFILIATED_*` environment variables, overridden by
//! command-line flags. Every option is declared once, with its parser and its help
//! (`options.rs` for `serve`; the other commands declare their few beside their code); flags and
//! variables are read into raw strings (`args.rs`), parsed by the declaration's parser
//! (`parse.rs`) and combined here into one typed [`Serve`] value. `--help` and the README's
//! option table are rendered from the same declarations (`help.rs`).
//!
//! Architecture Invariant: an option's flag, variable, default and help are written in its
//! declaration only, and its validation messages in its parser; other code reads them from the
//! declaration (`webhook_secret_opt`).

mod args;
pub mod help;
mod opt;
mod options;
mod parse;
pub mod smtp;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use args::Args;
pub use opt::{Fallback, Kind, Opt, Setting};
pub use options::*;
pub use parse::{ADMIN_TOKEN_MIN_LEN, parse_duration};

use crate::secret::Redacted;
use crate::store::Synchronous;
use crate::tracking::connectors::Connector;
use crate::tracking::validate::IpStorage;

/// `--db` as the tools that work on a server's database (`keys`, `backup`, `check`, …) show it.
pub const SERVER_DB: Opt = DB.opt.help("the server's SQLite database file");

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
    let db = DB.opt.env.unwrap_or_default();
    let prefix = db.trim_end_matches("DB");
    let mut found: Vec<(String, String)> =
        std::env::vars().filter(|(k, v)| k.starts_with(prefix) && k != db && !v.is_empty()).collect();
    found.sort();
    found
}

/// The option that sets a shop connector's webhook signing secret.
pub fn webhook_secret_opt(connector: Connector) -> &'static Opt {
    &webhook_secret_setting(connector).opt
}

fn webhook_secret_setting(connector: Connector) -> &'static Setting<String> {
    match connector {
        Connector::Stripe => &STRIPE_WEBHOOK_SECRET,
        Connector::Shopify => &SHOPIFY_WEBHOOK_SECRET,
        Connector::WooCommerce => &WOOCOMMERCE_WEBHOOK_SECRET,
        Connector::Paddle => &PADDLE_WEBHOOK_SECRET,
    }
}

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
    pub api_key: Option<Redacted>,
    pub workers: usize,
    pub synchronous: Synchronous,
    pub store_ip: IpStorage,
    /// Read and write timeout of every accepted connection; also how long an idle keep-alive
    /// connection is kept.
    pub socket_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed (the reverse proxy).
    pub trusted_proxies: Vec<IpAddr>,
    /// The postback token from the environment, if the operator sets it.
    pub postback_token: Option<Redacted>,
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
    pub admin_token: Option<Redacted>,
    /// The SHA-256 of the admin token in use, settled by `serve` at start (`cli/bootstrap.rs`);
    /// `None` while not yet settled, and whenever the admin is off.
    pub admin_token_sha256: Option<[u8; 32]>,
    /// The key that signs device cookies (`web::device`), read from or made in
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
    pub webhook_secrets: Vec<(Connector, Redacted)>,
    /// Pending conversions older than this are approved by the sweeper (offers may set their
    /// own `approve_after_days`); `None`: only offers that set one.
    pub approve_after: Option<Duration>,
    /// Whether outbound postbacks and merchant webhooks are delivered. Off, deliveries are still
    /// queued (and listed, and can be retried later) but nothing is resolved or sent: for tests
    /// and fuzzing.
    pub outbound: bool,
    /// Whether the affiliate portal exists (`--portal on|off`); when off, `/portal` is a 404.
    pub portal: bool,
    /// Whether would-be affiliates may apply at `/portal/apply`, and how they are decided.
    pub signup: crate::tracking::application::Signup,
    /// The program's terms, which applicants must accept.
    pub terms_url: Option<String>,
    /// Where the backup taken before a migration goes.
    pub backup_dir: PathBuf,
    /// The SMTP server e-mail goes through (`--smtp-url`); without one nothing is queued.
    pub smtp_url: Option<smtp::SmtpUrl>,
    /// The sender of every e-mail (`--mail-from`).
    pub mail_from: Option<String>,
    /// Where the merchant's own e-mails go (`--merchant-email`).
    pub merchant_email: Option<String>,
}

/// How e-mail goes out, when it does ([`Serve::mail`]).
#[derive(Clone, Debug)]
pub struct Mail {
    pub smtp: smtp::SmtpUrl,
    /// The `From` of every message.
    pub from: String,
    /// Where the merchant's own messages go.
    pub merchant: String,
}

impl Serve {
    /// How e-mail goes out, when an SMTP server is set: the sender is `--mail-from`, else
    /// `affiliated@` the public URL's host (most providers accept only senders they verified:
    /// set it); the merchant's address is `--merchant-email`, else the sender's.
    pub fn mail(&self) -> Option<Mail> {
        let smtp = self.smtp_url.clone()?;
        let from = self.mail_from.clone().unwrap_or_else(|| {
            let host = self.public_url.split("://").nth(1).unwrap_or("localhost");
            let host = host.split(['/', ':']).next().unwrap_or("localhost");
            format!("affiliated@{host}")
        });
        let merchant = self.merchant_email.clone().unwrap_or_else(|| from.clone());
        Some(Mail { smtp, from, merchant })
    }

    /// The signing secret of `connector` set by the environment or a flag.
    pub fn webhook_secret(&self, connector: Connector) -> Option<&str> {
        self.webhook_secrets.iter().find(|(c, _)| *c == connector).map(|(_, s)| s.expose())
    }

    /// Every option's typed value, each read through its declaration, and the rules that tie
    /// two options together.
    pub fn from_args(args: &Args) -> Result<Serve, String> {
        let listen = args.value(&LISTEN)?;
        let public_url = args.optional(&PUBLIC_URL)?;
        let admin = args.value(&ADMIN)?;
        let admin_token = args.optional(&ADMIN_TOKEN)?.map(Redacted::new);
        if !admin && admin_token.is_some() {
            return Err(
                "--admin off and an admin token (--admin-token / AFFILIATED_ADMIN_TOKEN) contradict each other; \
                        drop one of them"
                    .into(),
            );
        }
        let mut webhook_secrets = Vec::new();
        for connector in Connector::ALL {
            if let Some(secret) = args.optional(webhook_secret_setting(connector))? {
                webhook_secrets.push((connector, Redacted::new(secret)));
            }
        }
        let db = args.value(&DB)?;
        let portal = args.value(&PORTAL)?;
        let signup: crate::tracking::application::Signup = args.value(&SIGNUP)?;
        if signup.is_on() && !portal {
            return Err("--signup review or open needs the affiliate portal, which --portal off removes; drop one of \
                        them"
                .into());
        }
        Ok(Serve {
            backup_dir: backup_dir(args, &db),
            db,
            listen,
            public_url_is_default: public_url.is_none(),
            public_url: public_url.unwrap_or_else(|| format!("http://{listen}")),
            api_key: args.optional(&API_KEY)?.map(Redacted::new),
            workers: args.value(&WORKERS)?,
            synchronous: args.value(&SYNCHRONOUS)?,
            store_ip: args.value(&STORE_IP)?,
            socket_timeout: args.value(&SOCKET_TIMEOUT)?,
            trusted_proxies: args.all(&TRUSTED_PROXY)?,
            postback_token: args.optional(&POSTBACK_TOKEN)?.map(Redacted::new),
            allow_private_postbacks: args.value(&ALLOW_PRIVATE_POSTBACKS)?,
            click_retention: args.value(&CLICK_RETENTION)?,
            sweep_interval: args.value(&SWEEP_INTERVAL)?,
            admin,
            admin_token,
            admin_token_sha256: None,
            device_key: None,
            wal_autocheckpoint: args.value(&WAL_AUTOCHECKPOINT)?,
            pixel: args.value(&PIXEL)?,
            fraud: crate::tracking::fraud::Thresholds {
                min_click_age_ms: args.value(&MIN_CLICK_AGE)?,
                max_clicks_per_ip: args.value(&MAX_CLICKS_PER_IP)?,
            },
            allowed_origins: args.all(&ALLOWED_ORIGIN)?,
            postback_allow: args.all(&POSTBACK_ALLOW)?,
            webhook_secrets,
            approve_after: args.value(&APPROVE_AFTER)?,
            outbound: args.value(&OUTBOUND)?,
            portal,
            signup,
            terms_url: args.optional(&TERMS_URL)?,
            smtp_url: args.optional(&SMTP_URL)?,
            mail_from: args.optional(&MAIL_FROM)?,
            merchant_email: args.optional(&MERCHANT_EMAIL)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// `serve`'s typed configuration from `flags` and the environment `env` (nothing else).
    fn serve_with(flags: &[&str], env: &[(&str, &str)]) -> Result<Serve, String> {
        let mut parser = lexopt::Parser::from_args(flags.iter().copied());
        let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        Serve::from_args(&Args::parse_with_env(&mut parser, SERVE_OPTS, lookup)?)
    }

    #[test]
    fn every_serve_option_reaches_serve_from_its_flag_and_from_its_variable() {
        let default = format!("{:?}", serve_with(&[], &[]).unwrap());
        for opt in SERVE_OPTS {
            if opt.env == RUST_LOG.opt.env {
                continue; // read by `logging::init`, for every command
            }
            let name = opt.names();
            let env = opt.env.unwrap();
            let from_env = serve_with(&[], &[(env, opt.example)]).unwrap_or_else(|e| panic!("{name}: {e}"));
            let from_env = format!("{from_env:?}");
            assert_ne!(from_env, default, "{env}={} changes nothing in Serve", opt.example);
            if opt.kind == Kind::EnvOnly {
                continue;
            }
            let flag = format!("--{}", opt.long);
            let flags = if opt.kind == Kind::Switch { vec![flag.as_str()] } else { vec![flag.as_str(), opt.example] };
            let from_flag = serve_with(&flags, &[]).unwrap_or_else(|e| panic!("{flags:?}: {e}"));
            assert_eq!(format!("{from_flag:?}"), from_env, "{flags:?} and {env}={} differ", opt.example);
        }
    }

    #[test]
    fn every_serve_option_is_declared_whole() {
        let mut names = Vec::new();
        for opt in SERVE_OPTS {
            let name = opt.names();
            assert!(!opt.help.is_empty() && !opt.doc.is_empty() && !opt.example.is_empty(), "{name}: incomplete");
            let env =
                opt.env.unwrap_or_else(|| panic!("{name}: systemd passes no flags; every option needs a variable"));
            let prefix = DB.opt.env.unwrap().trim_end_matches("DB");
            assert!(env.starts_with(prefix) || opt.env == RUST_LOG.opt.env, "{name}: {prefix}* or RUST_LOG");
            let takes_value = matches!(opt.kind, Kind::Value | Kind::Many);
            assert_eq!(!opt.value.is_empty(), takes_value, "{name}: a value name exactly when it takes a value");
            assert_ne!(opt.default, Fallback::Value(opt.example), "{name}: the example must differ from the default");
            assert!(!opt.doc.replace("\\|", "").contains('|'), "{name}: an unescaped | breaks the README's table");
            for n in [opt.long, env] {
                assert!(n.is_empty() || !names.contains(&n), "{n} is declared twice");
                names.push(n);
            }
        }
    }

    #[test]
    fn the_declared_defaults_are_the_ones_in_use() {
        let serve = serve_with(&[], &[]).unwrap();
        assert_eq!(serve.fraud, crate::tracking::fraud::Thresholds::default());
        assert_eq!(serve.db, PathBuf::from("affiliated.db"));
        assert_eq!(serve.public_url, "http://127.0.0.1:8080");
        assert!(serve.public_url_is_default);
        assert_eq!((serve.workers, serve.wal_autocheckpoint), (32, 1000));
        assert_eq!((serve.click_retention, serve.approve_after), (Duration::from_secs(30 * 86_400), None));
        assert!(serve.admin && serve.portal && serve.outbound && !serve.pixel && !serve.allow_private_postbacks);
        assert!(serve.api_key.is_none() && serve.admin_token.is_none() && serve.webhook_secrets.is_empty());
    }

    #[test]
    fn a_configuration_printed_whole_shows_none_of_its_secrets() {
        let mut secrets: Vec<(&str, &str)> =
            [&API_KEY, &ADMIN_TOKEN, &POSTBACK_TOKEN].iter().map(|s| (s.opt.env.unwrap(), s.opt.example)).collect();
        secrets.extend(Connector::ALL.map(|c| (webhook_secret_opt(c).env.unwrap(), webhook_secret_opt(c).example)));
        let serve = serve_with(&[], &secrets).unwrap();
        assert_eq!(serve.webhook_secrets.len(), Connector::ALL.len());
        let flags =
            ["--admin-token", ADMIN_TOKEN.opt.example, "--stripe-webhook-secret", STRIPE_WEBHOOK_SECRET.opt.example];
        let mut parser = lexopt::Parser::from_args(flags);
        let args = Args::parse_with_env(&mut parser, SERVE_OPTS, |_| None).unwrap();
        let printed = format!("{serve:?}\n{serve:#?}\n{args:?}\n{args:#?}");
        for (name, value) in secrets {
            assert!(!printed.contains(value), "{name}'s value shows when the configuration is printed:\n{printed}");
        }
        assert!(printed.contains("admin-token"), "{printed}");
    }

    #[test]
    fn environment_only_settings_are_checked_like_the_others() {
        let e = serve_with(&[], &[("AFFILIATED_API_KEY", "short")]).unwrap_err();
        assert!(e.starts_with("AFFILIATED_API_KEY is 5 characters; use at least 32"), "{e}");
        let e = serve_with(&[], &[("AFFILIATED_POSTBACK_TOKEN", "short")]).unwrap_err();
        assert_eq!(e, "AFFILIATED_POSTBACK_TOKEN must be at least 20 characters of A-Z a-z 0-9 - _");
        assert!(serve_with(&["--api-key", "x"], &[]).unwrap_err().contains("unknown option --api-key"));
    }
}
