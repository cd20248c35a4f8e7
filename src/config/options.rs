//! Every option of `affiliated serve`, declared once: flag, environment variable, value name,
//! default, help for the terminal, the README's words, an example value, and the parser. The
//! parser (`Args`), `serve --help`, the README's option table and the tests all read this list.
//!
//! Adding an option is one entry here, in the group it belongs to (the group is its heading in
//! `--help`; the order here is the order shown), then reading it in `Serve::from_args`. The
//! README's table is regenerated with `AFFILIATED_REGENERATE_DOCS=1 cargo test --test it options`;
//! the tests fail until the entry has help, a README text and an example that `Serve` sees.
//!
//! Architecture Invariant: declarations only; parsers live in `parse.rs`, combining them in
//! `mod.rs`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::opt::{Opt, Setting};
use super::parse;
use crate::store::Synchronous;
use crate::tracking::application::Signup;
use crate::tracking::net::Cidr;
use crate::tracking::validate::IpStorage;

/// Declares each `NAME: Type = declaration;` as a constant `Setting<Type>` in its group, and
/// `$list` as all of them in order.
macro_rules! options {
    ($list:ident; $($group:literal { $($name:ident: $t:ty = $decl:expr;)* })*) => {
        $($(pub const $name: Setting<$t> = $decl.group($group);)*)*
        /// Every option of `serve`, in the order `--help` and the README show them.
        pub const $list: &[Opt] = &[$($($name.opt),*),*];
    };
}

options! {
SERVE_OPTS;
"Basics" {
    DB: PathBuf = Opt::value("db", "AFFILIATED_DB")
        .takes("PATH")
        .defaults_to("affiliated.db")
        .help("SQLite database file, created (mode 0600) if missing; the files the server writes \
               beside it are named after it")
        .doc("The SQLite database file (created if missing); the files the server writes beside it \
              are named after it (`affiliated.db.initial-api-key`, …).")
        .example("other.db")
        .parse(parse::path);
    LISTEN: SocketAddr = Opt::value("listen", "AFFILIATED_LISTEN")
        .takes("ADDR")
        .defaults_to("127.0.0.1:8080")
        .help("address to listen on; keep it on loopback and put a reverse proxy in front for public \
               traffic")
        .doc("Where to listen. Loopback on purpose: public traffic goes through a reverse proxy.")
        .example("127.0.0.1:8081")
        .parse(parse::listen);
    PUBLIC_URL: String = Opt::value("public-url", "AFFILIATED_PUBLIC_URL")
        .takes("URL")
        .unset_means("http://LISTEN")
        .help("how the world reaches this server, used in tracking links and postback URLs")
        .doc("How the world reaches the server; used in tracking links and postback URL templates.")
        .example("https://track.example")
        .parse(parse::public_url);
    API_KEY: String = Opt::env_only("AFFILIATED_API_KEY")
        .unset_means("generated")
        .help("an API key to accept (32+ characters, stored hashed); with no key at all, the first \
               start writes one to DB.initial-api-key (mode 0600)")
        .doc("An API key to accept (32+ characters), stored hashed. With no key at all, the first \
              start writes one to `affiliated.db.initial-api-key` (mode 0600); make more with \
              `affiliated keys create`.")
        .example("example-api-key-0123456789abcdefghij")
        .parse(parse::api_key);
    ADMIN: bool = Opt::value("admin", "AFFILIATED_ADMIN")
        .takes("on|off")
        .defaults_to("on")
        .help("the merchant admin at /admin")
        .doc("The admin pages under `/admin` (`off`: every `/admin` path answers 404; see \
              [The admin](#the-admin)).")
        .example("off")
        .parse(parse::on_off);
    ADMIN_TOKEN: String = Opt::value("admin-token", "AFFILIATED_ADMIN_TOKEN")
        .takes("TOKEN")
        .unset_means("generated")
        .help("the admin's login token, 16+ characters (flags show in `ps`: prefer the variable); \
               without one, the first start writes a token to DB.initial-admin-token (mode 0600)")
        .doc("The admin's login token (16+ characters). Without one, the first start writes a token \
              to `affiliated.db.initial-admin-token` (mode 0600).")
        .example("example-admin-token-0123")
        .parse(parse::admin_token);
    PORTAL: bool = Opt::value("portal", "AFFILIATED_PORTAL")
        .takes("on|off")
        .defaults_to("on")
        .help("the affiliate portal at /portal (affiliates log in with an invite link: docs/portal.md)")
        .doc("The affiliate portal under `/portal`, where invited affiliates see their own numbers \
              (`off`: every `/portal` path answers 404; see \
              [The affiliate portal](#the-affiliate-portal)).")
        .example("off")
        .parse(parse::on_off);
}
"The program" {
    PIXEL: bool = Opt::value("pixel", "AFFILIATED_PIXEL")
        .takes("on|off")
        .defaults_to("off")
        .help("the conversion pixel at /pixel.gif (a browser can report any order with it: see \
               docs/integration.md, step 11)")
        .doc("The conversion pixel at `/pixel.gif` (`off`: 404, nothing recorded). A browser can \
              report any order with it; see \
              [docs/integration.md](docs/integration.md#11-dual-tracking-with-the-conversion-pixel).")
        .example("on")
        .parse(parse::on_off);
    MIN_CLICK_AGE: i64 = Opt::value("min-click-age", "AFFILIATED_MIN_CLICK_AGE")
        .takes("DUR")
        .defaults_to("10s")
        .help("flag conversions sooner than this after their click (too_fast); 0 turns the rule off")
        .doc("Conversions sooner than this after their click are flagged `too_fast` (`0`: off). See \
              [docs/controls.md](docs/controls.md#fraud-rules).")
        .example("30s")
        .parse(parse::min_click_age);
    MAX_CLICKS_PER_IP: u32 = Opt::value("max-clicks-per-ip", "AFFILIATED_MAX_CLICKS_PER_IP")
        .takes("N")
        .defaults_to("30")
        .help("flag clicks beyond N per hour from one address for one affiliate (click_flood); 0 \
               turns the rule off")
        .doc("More clicks per hour than this from one address for one affiliate are flagged \
              `click_flood` (`0`: off).")
        .example("0")
        .parse(parse::clicks_per_hour);
    APPROVE_AFTER: Option<Duration> = Opt::value("approve-after", "AFFILIATED_APPROVE_AFTER")
        .takes("DUR")
        .defaults_to("off")
        .help("approve pending conversions this old at each sweep (not flagged, pixel, test or \
               refunded ones; offers may set approve_after_days)")
        .doc("Approve pending conversions this old at each sweep; offers may set their own \
              `approve_after_days`. Flagged, pixel-only, test and refunded ones wait for a person \
              ([docs/payouts.md](docs/payouts.md)).")
        .example("14d")
        .parse(parse::approve_after);
}
"Applications" {
    SIGNUP: Signup = Opt::value("signup", "AFFILIATED_SIGNUP")
        .takes("MODE")
        .defaults_to("off")
        .help("off, review (would-be affiliates apply at /portal/apply and wait for your decision) or \
               open (every application is approved at once: anyone may become an affiliate)")
        .doc("Applications at `/portal/apply`: `off` (404; affiliates exist only when you create \
              them), `review` (you approve or reject each one) or `open` (each is approved as it \
              arrives; anyone may become an affiliate). Needs the portal; see \
              [docs/portal.md](docs/portal.md#applications).")
        .example("review")
        .parse(parse::signup);
    TERMS_URL: String = Opt::value("terms-url", "AFFILIATED_TERMS_URL")
        .takes("URL")
        .help("your program's terms (https://...): applicants must accept them, and the URL and the \
               time become part of the affiliate's record and ledger")
        .doc("Your affiliate program's terms. The application form then asks applicants to accept \
              them, and the URL and the time of acceptance become part of the affiliate's record \
              and of their ledger's chain. Give each version of the terms its own URL.")
        .example("https://shop.example/affiliate-terms")
        .parse(parse::terms_url);
}
"Security" {
    POSTBACK_TOKEN: String = Opt::env_only("AFFILIATED_POSTBACK_TOKEN")
        .unset_means("generated")
        .help("the inbound postback token, 20+ URL-safe characters (else one is generated; \
               `affiliated postback-url` prints its URL)")
        .doc("The inbound postback token (20+ URL-safe characters). Without one, the first start \
              makes one; `affiliated postback-url` prints the URL that carries it.")
        .example("example-postback-token-0123")
        .parse(parse::postback_token);
    POSTBACK_ALLOW: Cidr = Opt::many("postback-allow", "AFFILIATED_POSTBACK_ALLOW")
        .takes("CIDR")
        .help("servers in this network may send postbacks without the token (a network's IP \
               allowlist); repeatable")
        .doc("Servers in these networks may send postbacks without the token, as networks' IP \
              allowlists expect (repeatable; comma-separated in the environment). By the real \
              client address, so `--trusted-proxy` applies.")
        .example("203.0.113.0/24")
        .parse(parse::cidr);
    TRUSTED_PROXY: IpAddr = Opt::many("trusted-proxy", "AFFILIATED_TRUSTED_PROXY")
        .takes("IP")
        .help("believe X-Forwarded-For from this peer; repeatable")
        .doc("Believe `X-Forwarded-For` from this peer (repeatable; comma-separated in the \
              environment).")
        .example("127.0.0.1")
        .parse(parse::ip);
    ALLOWED_ORIGIN: String = Opt::many("allowed-origin", "AFFILIATED_ALLOWED_ORIGINS")
        .takes("ORIGIN")
        .help("a shop's origin (https://shop.example) whose pages may call /c/ with the click \
               snippet from this host; repeatable")
        .doc("A shop's origin (`https://shop.example`, as browsers send it) whose pages may call \
              `/c/` when they load the click snippet from this host (CORS; repeatable; \
              comma-separated in the environment). Not needed when the shop serves the snippet \
              from its own domain; see \
              [docs/integration.md](docs/integration.md#a-first-party-click-snippet).")
        .example("https://shop.example")
        .parse(parse::origin);
    ALLOW_PRIVATE_POSTBACKS: bool = Opt::switch("allow-private-postbacks", "AFFILIATED_ALLOW_PRIVATE_POSTBACKS")
        .help("let outbound postbacks and merchant webhooks reach loopback and private addresses \
               (tests, LANs)")
        .doc("Let outbound postbacks and merchant webhooks reach loopback and private addresses \
              (tests, LANs).")
        .example("true")
        .parse(parse::true_false);
}
"E-mail" {
    SMTP_URL: super::smtp::SmtpUrl = Opt::value("smtp-url", "AFFILIATED_SMTP_URL")
        .takes("URL")
        .unset_means("off: nothing is sent")
        .help("the SMTP server e-mail goes through: smtp://user:pass@host:587 (STARTTLS required), \
               smtps://user:pass@host:465 (implicit TLS), plain only to a loopback host; holds a \
               password: prefer the variable")
        .doc("The SMTP server that invites, password resets, application answers and notifications go \
              through: `smtp://user:pass@host:587` (STARTTLS required), `smtps://user:pass@host:465` \
              (implicit TLS); plain only to a loopback host. Unset, nothing is queued and the pages \
              say what to do by hand. See [docs/operations.md](docs/operations.md#e-mail).")
        .example("smtp://user:pass@127.0.0.1:2525")
        .parse(parse::smtp_url);
    MAIL_FROM: String = Opt::value("mail-from", "AFFILIATED_MAIL_FROM")
        .takes("ADDRESS")
        .unset_means("affiliated@ the public URL's host")
        .help("the sender of every e-mail (Shop Partners <partners@shop.example>): an address your \
               SMTP provider lets you send from")
        .doc("The sender of every e-mail (`partners@shop.example` or `Shop Partners \
              <partners@shop.example>`): an address your SMTP provider lets you send from (most \
              refuse others, and the e-mails list says so).")
        .example("partners@shop.example")
        .parse(parse::mail_address);
    MERCHANT_EMAIL: String = Opt::value("merchant-email", "AFFILIATED_MERCHANT_EMAIL")
        .takes("ADDRESS")
        .unset_means("--mail-from")
        .help("where the merchant's own e-mails go (a new application)")
        .doc("Where the merchant's own e-mails go (a new application); the sender's address when \
              unset.")
        .example("owner@shop.example")
        .parse(parse::mail_address);
}
"Shop connectors" {
    STRIPE_WEBHOOK_SECRET: String = Opt::value("stripe-webhook-secret", "AFFILIATED_STRIPE_WEBHOOK_SECRET")
        .takes("SECRET")
        .help("the signing secret (whsec_...) of the Stripe endpoint /hooks/stripe (flags show in \
               `ps`: prefer the variable; or set it with PUT /api/v1/connectors/stripe)")
        .doc("Signing secret of the Stripe connector (`whsec_…`); see \
              [Shop connectors](#shop-connectors-stripe-shopify-woocommerce-paddle).")
        .example("whsec_example0123456789")
        .parse(parse::stripe_secret);
    SHOPIFY_WEBHOOK_SECRET: String = Opt::value("shopify-webhook-secret", "AFFILIATED_SHOPIFY_WEBHOOK_SECRET")
        .takes("SECRET")
        .help("the app's API secret, for /hooks/shopify")
        .doc("Signing secret of the Shopify connector.")
        .example("shopify-example-secret-0123")
        .parse(parse::shopify_secret);
    WOOCOMMERCE_WEBHOOK_SECRET: String =
        Opt::value("woocommerce-webhook-secret", "AFFILIATED_WOOCOMMERCE_WEBHOOK_SECRET")
        .takes("SECRET")
        .help("the webhook's secret, for /hooks/woocommerce")
        .doc("Signing secret of the WooCommerce connector, kept exactly as given (spaces included). \
              Every connector secret has 16 to 512 printable characters.")
        .example("woocommerce-example-secret")
        .parse(parse::woocommerce_secret);
    PADDLE_WEBHOOK_SECRET: String = Opt::value("paddle-webhook-secret", "AFFILIATED_PADDLE_WEBHOOK_SECRET")
        .takes("SECRET")
        .help("the notification destination's secret key, for /hooks/paddle")
        .doc("Signing secret of the Paddle Billing connector (`pdl_ntfset_…`). Prefer the \
              environment for all four: flags show in `ps`.")
        .example("pdl_ntfset_example_0123456789")
        .parse(parse::paddle_secret);
}
"Storage" {
    SYNCHRONOUS: Synchronous = Opt::value("synchronous", "AFFILIATED_SYNCHRONOUS")
        .takes("MODE")
        .defaults_to("normal")
        .help("normal (crash-safe; a power cut may lose the last commits) or full (fsync every commit)")
        .doc("`normal`: crash-safe, a power cut can lose the last commits; `full`: sync every commit.")
        .example("full")
        .parse(parse::synchronous);
    STORE_IP: IpStorage = Opt::value("store-ip", "AFFILIATED_STORE_IP")
        .takes("MODE")
        .defaults_to("truncated")
        .help("full, truncated (/24, /48) or none")
        .doc("`full`, `truncated` (IPv4 /24, IPv6 /48) or `none`.")
        .example("none")
        .parse(parse::store_ip);
    CLICK_RETENTION: Duration = Opt::value("click-retention", "AFFILIATED_CLICK_RETENTION")
        .takes("DUR")
        .defaults_to("30d")
        .help("delete unconverted clicks older than this")
        .doc("Unconverted clicks older than this are deleted.")
        .example("7d")
        .parse(parse::duration);
    SWEEP_INTERVAL: Duration = Opt::value("sweep-interval", "AFFILIATED_SWEEP_INTERVAL")
        .takes("DUR")
        .defaults_to("1h")
        .help("how often the sweep (retention, hold-period approvals) runs")
        .doc("How often the sweep (retention, hold-period approvals) runs.")
        .example("10m")
        .parse(parse::duration);
    WAL_AUTOCHECKPOINT: u32 = Opt::value("wal-autocheckpoint", "AFFILIATED_WAL_AUTOCHECKPOINT")
        .takes("N")
        .defaults_to("1000")
        .help("checkpoint when the WAL holds N pages; 0 when Litestream does the checkpoints")
        .doc("Checkpoint (PASSIVE, beside the writer) when the WAL holds N pages; once it holds 4 N \
              pages, the writer starts it over at a moment no write waits for, so the WAL file \
              stays near 4 N × 4 KiB (16 MiB); a server idle for half a second empties it. `0` \
              when Litestream does the checkpoints.")
        .example("0")
        .parse(parse::wal_pages);
    BACKUP_DIR: PathBuf = Opt::value("backup-dir", "AFFILIATED_BACKUP_DIR")
        .takes("DIR")
        .unset_means("backups/ beside the database")
        .help("where a database is backed up before its schema is migrated (created 0700)")
        .doc("Where `serve` and `migrate` write the verified backup they take before migrating the \
              schema to a new release (`affiliated-…-schema-N.db`, never pruned); see \
              [docs/operations.md](docs/operations.md#upgrade).")
        .example("/var/lib/affiliated/backups")
        .parse(parse::path);
}
"Running" {
    WORKERS: usize = Opt::value("workers", "AFFILIATED_WORKERS")
        .takes("N")
        .defaults_to("32")
        .help("request worker threads (1 to 1024)")
        .doc("Request worker threads (1 to 1024).")
        .example("8")
        .parse(parse::workers);
    SOCKET_TIMEOUT: Duration = Opt::value("socket-timeout", "AFFILIATED_SOCKET_TIMEOUT")
        .takes("DUR")
        .defaults_to("15s")
        .help("read/write timeout per connection, and how long an idle keep-alive connection stays \
               open (1s to 1h)")
        .doc("Read/write timeout of every connection (and idle keep-alive), from `1s` to `1h`.")
        .example("5s")
        .parse(parse::socket_timeout);
    OUTBOUND: bool = Opt::value("outbound", "AFFILIATED_OUTBOUND")
        .takes("on|off")
        .defaults_to("on")
        .help("off: outbound postbacks and merchant webhooks stay queued (listed, retryable) and \
               nothing is resolved or sent; for tests and fuzzing")
        .doc("`off` keeps outbound postbacks and merchant webhooks queued (listed by \
              `GET /api/v1/postbacks` and `GET /api/v1/webhooks/{id}/deliveries`, retryable once \
              on again) and resolves and sends nothing: for test copies and fuzzing.")
        .example("off")
        .parse(parse::on_off);
    RUST_LOG: String = Opt::env_only("RUST_LOG")
        .defaults_to("info")
        .help("log filter, e.g. warn or info,affiliated::access=warn")
        .doc("Log filter (`warn` silences the per-request lines; `affiliated::access=warn` too).")
        .example("warn")
        .parse(parse::text);
}
}
