//! `affiliated serve`: the process. Binds the listener first (a taken port leaves no files
//! behind), opens and prepares the database (`bootstrap.rs`), starts the writer, the HTTP side
//! and the background threads, then waits for a signal or a fatal error and stops them in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::{Failure, Outcome, bootstrap};
use crate::config::{Args, SERVE_OPTS, Serve};
use crate::http::server::{self, Event};
use crate::metrics::Metrics;
use crate::store::{self, writer::Writer};
use crate::systemd;

/// How long a request waits for its write to commit before answering 503.
const WRITE_WAIT: Duration = Duration::from_secs(10);

pub const HELP: &str = "\
Run the tracking server.

Usage: affiliated serve [OPTIONS]

Options (each falls back to the environment variable in brackets; a flag wins):
  --db PATH               SQLite database file, created (mode 0600) if missing
                          [AFFILIATED_DB, default ./affiliated.db]
  --listen ADDR           address to listen on; keep it on loopback and put a
                          reverse proxy in front for public traffic
                          [AFFILIATED_LISTEN, default 127.0.0.1:8080]
  --public-url URL        how the world reaches this server, used in tracking links
                          [AFFILIATED_PUBLIC_URL, default http://LISTEN]
  --admin on|off          the merchant admin at /admin
                          [AFFILIATED_ADMIN, default on]
  --admin-token TOKEN     the admin's login token, 16+ characters (flags show in
                          `ps`: prefer the variable); without one, the first start
                          writes a token to DB.initial-admin-token (mode 0600)
                          [AFFILIATED_ADMIN_TOKEN]
  --portal on|off         the affiliate portal at /portal (affiliates log in with
                          an invite link: docs/portal.md)
                          [AFFILIATED_PORTAL, default on]
  --pixel on|off          the conversion pixel at /pixel.gif (a browser can report any
                          order with it: see docs/integration.md, step 11)
                          [AFFILIATED_PIXEL, default off]
  --min-click-age DUR     flag conversions sooner than this after their click
                          (too_fast); 0 turns the rule off
                          [AFFILIATED_MIN_CLICK_AGE, default 10s]
  --max-clicks-per-ip N   flag clicks beyond N per hour from one address for one
                          affiliate (click_flood); 0 turns the rule off
                          [AFFILIATED_MAX_CLICKS_PER_IP, default 30]
  --postback-allow CIDR   servers in this network may send postbacks without the
                          token (a network's IP allowlist); repeatable
                          [AFFILIATED_POSTBACK_ALLOW, comma-separated]
  --stripe-webhook-secret SECRET
                          the signing secret (whsec_...) of the Stripe endpoint
                          /hooks/stripe (flags show in `ps`: prefer the variable;
                          or set it with PUT /api/v1/connectors/stripe)
                          [AFFILIATED_STRIPE_WEBHOOK_SECRET]
  --shopify-webhook-secret SECRET
                          the app's API secret, for /hooks/shopify
                          [AFFILIATED_SHOPIFY_WEBHOOK_SECRET]
  --woocommerce-webhook-secret SECRET
                          the webhook's secret, for /hooks/woocommerce
                          [AFFILIATED_WOOCOMMERCE_WEBHOOK_SECRET]
  --paddle-webhook-secret SECRET
                          the notification destination's secret key, for
                          /hooks/paddle [AFFILIATED_PADDLE_WEBHOOK_SECRET]
  --workers N             request worker threads
                          [AFFILIATED_WORKERS, default 32]
  --synchronous MODE      normal (crash-safe; a power cut may lose the last
                          commits) or full (fsync every commit)
                          [AFFILIATED_SYNCHRONOUS, default normal]
  --store-ip MODE         full, truncated (/24, /48) or none
                          [AFFILIATED_STORE_IP, default truncated]
  --socket-timeout DUR    read/write timeout per connection
                          [AFFILIATED_SOCKET_TIMEOUT, default 15s]
  --trusted-proxy IP      believe X-Forwarded-For from this peer; repeatable
                          [AFFILIATED_TRUSTED_PROXY, comma-separated]
  --allowed-origin ORIGIN
                          a shop's origin (https://shop.example) whose pages may
                          call /c/ with the click snippet from this host; repeatable
                          [AFFILIATED_ALLOWED_ORIGINS, comma-separated]
  --click-retention DUR   delete unconverted clicks older than this
                          [AFFILIATED_CLICK_RETENTION, default 30d]
  --sweep-interval DUR    how often the retention sweep runs
                          [AFFILIATED_SWEEP_INTERVAL, default 1h]
  --approve-after DUR     approve pending conversions this old at each sweep (not
                          flagged, pixel, test or refunded ones; offers may set
                          approve_after_days)
                          [AFFILIATED_APPROVE_AFTER, default off]
  --allow-private-postbacks
                          let outbound postbacks and merchant webhooks reach
                          loopback and private addresses (tests, LANs)
                          [AFFILIATED_ALLOW_PRIVATE_POSTBACKS]
  --outbound on|off       off: outbound postbacks and merchant webhooks stay queued
                          (listed, retryable) and nothing is resolved or sent; for
                          tests and fuzzing
                          [AFFILIATED_OUTBOUND, default on]
  --wal-autocheckpoint N  checkpoint when the WAL holds N pages; 0 when
                          Litestream does the checkpoints
                          [AFFILIATED_WAL_AUTOCHECKPOINT, default 1000]
  --backup-dir DIR        where a database is backed up before its schema is
                          migrated [AFFILIATED_BACKUP_DIR, default backups/ in
                          the database's directory]

Environment only:
  AFFILIATED_API_KEY      an API key to accept (32+ characters, stored hashed);
                          with no key at all, the first start writes one to
                          DB.initial-api-key (mode 0600)
  AFFILIATED_POSTBACK_TOKEN
                          the inbound postback token (else one is generated)
  RUST_LOG                log filter, default info

Durations are written like 90s, 15m, 12h, 30d. On start, the log says where everything is:
the API, the admin, the files holding the initial API key and admin token.
";

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, SERVE_OPTS).map_err(Failure::usage)?;
    if args.help {
        print!("{HELP}");
        return Ok(());
    }
    if let Some(extra) = args.positionals.first() {
        return Err(Failure::usage(format!("serve takes no arguments (got {extra:?}); see --help")));
    }
    let config = Serve::from_args(&args).map_err(Failure::usage)?;
    serve(config).map_err(Failure::runtime)
}

/// Runs the server until SIGTERM/SIGINT (Ok) or a fatal error (Err).
fn serve(mut config: Serve) -> Result<(), String> {
    crate::alloc::tune();
    store::limit_memory();
    let listener = server::bind(config.listen, config.socket_timeout)?;
    let local = listener.local_addr().map_err(|e| format!("while reading the listening address: {e}"))?;
    if config.public_url_is_default {
        // With --listen on port 0 the real port is only known now.
        config.public_url = format!("http://{local}");
    }
    // SQLite's automatic checkpoint is off: store::checkpointer copies the WAL back beside the
    // writer, and the writer starts it over only between batches that nobody waits for.
    let environment = crate::config::settings_environment();
    let upgrade = store::Upgrade::BackUpFirst { dir: &config.backup_dir, environment: &environment };
    let (mut conn, _) = store::open_writer_with(&config.db, config.synchronous, 0, upgrade)?;
    bootstrap::prepare(&conn, &mut config)?;
    let checkpoints = (config.wal_autocheckpoint > 0)
        .then(|| store::checkpointer::watch(&mut conn, config.wal_autocheckpoint))
        .transpose()
        .map_err(|e| format!("while configuring checkpoints: {e}"))?;
    let (writer, writer_thread) = Writer::start_with(conn, WRITE_WAIT, checkpoints.clone());

    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::default());
    let stopping = Arc::new(AtomicBool::new(false));
    let (events, incoming) = mpsc::channel();
    let mut signals = signal_hook::iterator::Signals::new([libc::SIGTERM, libc::SIGINT])
        .map_err(|e| format!("while installing signal handlers: {e}"))?;
    let signal_handle = signals.handle();
    let signal_events = events.clone();
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let _ = signal_events.send(Event::Signal(signal));
            }
        })
        .map_err(|e| format!("while starting the signal thread: {e}"))?;

    let http = server::start(listener, config.clone(), &writer, metrics.clone(), stopping.clone(), &events)?;
    drop(events);
    let outbox = crate::outbox::spawn(
        config.db.clone(),
        writer.clone(),
        config.allow_private_postbacks,
        config.outbound,
        stopping.clone(),
    )
    .map_err(|e| format!("while starting the postback thread: {e}"))?;
    let checkpointer = checkpoints
        .map(|wal| store::checkpointer::spawn(config.db.clone(), wal.clone()).map(|thread| (wal, thread)))
        .transpose()
        .map_err(|e| format!("while starting the checkpointer: {e}"))?;
    let sweeper = crate::sweeper::Sweeper {
        writer: writer.clone(),
        retention: config.click_retention,
        interval: config.sweep_interval,
        metrics,
        stopping: stopping.clone(),
        approve_after: config.approve_after,
    }
    .spawn()
    .map_err(|e| format!("while starting the retention sweeper: {e}"))?;
    let releaser = crate::alloc::spawn_releaser(stopping.clone())
        .map_err(|e| format!("while starting the memory release thread: {e}"))?;
    drop(writer);

    for line in banner(&config, local) {
        log::info!(target: "affiliated", "{line}");
    }
    systemd::notify(&format!("READY=1\nSTATUS=listening on {local}"));

    let outcome = match incoming.recv() {
        Ok(Event::Signal(sig)) => {
            log::info!("received signal {sig}; finishing in-flight requests and stopping");
            Ok(())
        }
        Ok(Event::Fatal(message)) => {
            log::error!("{message}; exiting so the service manager can restart affiliated");
            Err(message)
        }
        Err(_) => Err("every worker stopped".to_string()),
    };
    systemd::notify("STOPPING=1");
    stopping.store(true, Ordering::SeqCst);
    let stopped = http.stop();
    let _ = outbox.join();
    let _ = sweeper.join();
    let _ = releaser.join();
    if let Some((wal, thread)) = checkpointer {
        wal.stop();
        let _ = thread.join();
    }
    signal_handle.close();
    // Requests still reading slow bodies hold writer handles too; give them a moment, then stop
    // without them (nothing they do has been acknowledged yet).
    stopped.release();
    let waiting = Instant::now();
    while !writer_thread.is_finished() && waiting.elapsed() < Duration::from_secs(1) {
        thread::sleep(Duration::from_millis(10));
    }
    if writer_thread.is_finished() {
        let _ = writer_thread.join();
    } else {
        log::warn!("requests with unfinished bodies were cut off at shutdown");
    }
    log::info!("stopped");
    outcome
}

/// The lines `serve` logs once it listens: where everything is, for the person who just started
/// it. Files are named, never read: no secret reaches the log.
fn banner(config: &Serve, local: std::net::SocketAddr) -> Vec<String> {
    let db = config.db.display();
    let url = &config.public_url;
    let exists = |path: &std::path::Path| path.exists().then(|| path.display().to_string());
    let api_key = match (&config.api_key, exists(&bootstrap::initial_key_path(&config.db))) {
        (_, Some(file)) => format!(" (initial API key in {file})"),
        (Some(_), None) => " (API key from AFFILIATED_API_KEY)".to_string(),
        (None, None) => String::new(),
    };
    let admin = match (config.admin, &config.admin_token, exists(&bootstrap::initial_admin_token_path(&config.db))) {
        (false, _, _) => "off (--admin off)".to_string(),
        (true, Some(_), _) => format!("{url}/admin (token from --admin-token / AFFILIATED_ADMIN_TOKEN)"),
        (true, None, Some(file)) => format!("{url}/admin (initial token in {file})"),
        (true, None, None) => format!("{url}/admin"),
    };
    let portal = if config.portal {
        format!("{url}/portal (affiliates log in with an invite)")
    } else {
        "off (--portal off)".into()
    };
    let mut postback = format!("affiliated postback-url --db {db}");
    if !config.public_url_is_default {
        postback.push_str(&format!(" --public-url {url}"));
    }
    vec![
        format!(
            "affiliated {} listening on http://{local} (database {db}, {} workers)",
            env!("CARGO_PKG_VERSION"),
            config.workers
        ),
        format!("  public URL    {url} (tracking links: {url}/r/CODE)"),
        format!("  API           {url}/api/v1{api_key}"),
        format!("  admin         {admin}"),
        format!("  portal        {portal}"),
        format!("  postback URL  printed by `{postback}`"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path, flags: &[&str]) -> Serve {
        let db = dir.join("a.db").display().to_string();
        let mut all = vec!["--db", db.as_str(), "--listen", "127.0.0.1:8080"];
        all.extend_from_slice(flags);
        let mut parser = lexopt::Parser::from_args(all);
        Serve::from_args(&Args::parse(&mut parser, crate::config::SERVE_OPTS).unwrap()).unwrap()
    }

    #[test]
    fn the_banner_names_every_place_and_file_but_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let local: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let c = config(dir.path(), &[]);
        std::fs::write(bootstrap::initial_key_path(&c.db), "afk_secret\n").unwrap();
        std::fs::write(bootstrap::initial_admin_token_path(&c.db), "adm_secret\n").unwrap();
        let text = banner(&c, local).join("\n");
        let db = c.db.display();
        for expected in [
            format!("listening on http://127.0.0.1:8080 (database {db},"),
            "public URL    http://127.0.0.1:8080".to_string(),
            format!("API           http://127.0.0.1:8080/api/v1 (initial API key in {db}.initial-api-key)"),
            format!("admin         http://127.0.0.1:8080/admin (initial token in {db}.initial-admin-token)"),
            "portal        http://127.0.0.1:8080/portal (affiliates log in with an invite)".to_string(),
            format!("printed by `affiliated postback-url --db {db}`"),
        ] {
            assert!(text.contains(&expected), "{expected:?} not in\n{text}");
        }
        assert!(!text.contains("secret"), "{text}");

        let off = banner(
            &config(dir.path(), &["--admin", "off", "--portal", "off", "--public-url", "https://t.example"]),
            local,
        );
        let off = off.join("\n");
        assert!(off.contains("admin         off"), "{off}");
        assert!(off.contains("portal        off (--portal off)"), "{off}");
        assert!(off.contains("--public-url https://t.example`"), "{off}");
    }
}
