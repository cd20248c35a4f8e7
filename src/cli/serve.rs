//! `affiliated serve`: the process. Binds the listener first (a taken port leaves no files
//! behind), opens and prepares the database (`bootstrap.rs`), starts the writer, the HTTP side
//! and the background threads, then waits for a signal or a fatal error and stops them in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use rusqlite::Connection;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Failure, Outcome, bootstrap};
use crate::config::{Args, SERVE_OPTS, Serve};
use crate::metrics::Metrics;
use crate::routes::Web;
use crate::store::checkpointer::Wal;
use crate::store::{self, writer::Writer};
use crate::systemd;
use crate::tracking::application::Signup;
use crate::transport::server::{self, Event};

/// How long a request waits for its write to commit before answering 503.
const WRITE_WAIT: Duration = Duration::from_secs(10);

const ABOUT: &str = "\
Run the tracking server.

Usage: affiliated serve [OPTIONS]

Each option falls back to the environment variable in brackets; a flag wins.
";

const NOTES: &str = "\
Durations are written like 90s, 15m, 12h, 30d. On start, the log says where everything is:
the API, the admin, the files holding the initial API key and admin token.
";

/// `serve --help`, rendered from the options' declarations (`config/options.rs`).
pub fn help() -> String {
    crate::config::help::render_grouped(ABOUT, SERVE_OPTS, NOTES)
}

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, SERVE_OPTS).map_err(Failure::usage)?;
    if args.help {
        print!("{}", help());
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
    let (conn, checkpoints) = open_database(&mut config)?;
    let (writer, writer_thread) = Writer::start_with(conn, WRITE_WAIT, checkpoints.clone());

    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::default());
    let stopping = Arc::new(AtomicBool::new(false));
    let (events, incoming) = mpsc::channel();
    let signal_handle = listen_for_signals(events.clone())?;

    // The HTTP side gets the writer only as intake's door: its handlers cannot run a job.
    let door = crate::intake::Door::new(writer.clone());
    let site = Arc::new(Web::new(config.clone(), door, metrics.clone()));
    let settings = server::Settings {
        workers: config.workers,
        socket_timeout: config.socket_timeout,
        trusted_proxies: config.trusted_proxies.clone(),
    };
    let http = server::start(listener, settings, site, stopping.clone(), &events)?;
    drop(events);
    let background = Background::start(&config, &writer, checkpoints, metrics, &stopping)?;
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
    background.stop();
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

/// Opens the database for writing (migrating it after a backup), prepares it (`bootstrap.rs`)
/// and, unless `--wal-autocheckpoint 0`, has its WAL watched for the checkpointer.
fn open_database(config: &mut Serve) -> Result<(Connection, Option<Arc<Wal>>), String> {
    // SQLite's automatic checkpoint is off: store::checkpointer copies the WAL back beside the
    // writer, and the writer starts it over only between batches that nobody waits for.
    let environment = crate::config::settings_environment();
    let upgrade = store::Upgrade::BackUpFirst { dir: &config.backup_dir, environment: &environment };
    let (mut conn, _) = store::open_writer_with(&config.db, config.synchronous, 0, upgrade)?;
    bootstrap::prepare(&conn, config)?;
    let checkpoints = (config.wal_autocheckpoint > 0)
        .then(|| store::checkpointer::watch(&mut conn, config.wal_autocheckpoint))
        .transpose()
        .map_err(|e| format!("while configuring checkpoints: {e}"))?;
    Ok((conn, checkpoints))
}

/// Sends SIGTERM and SIGINT to `events` from a thread of their own; the handle closes it.
fn listen_for_signals(events: mpsc::Sender<Event>) -> Result<signal_hook::iterator::Handle, String> {
    let mut signals = signal_hook::iterator::Signals::new([libc::SIGTERM, libc::SIGINT])
        .map_err(|e| format!("while installing signal handlers: {e}"))?;
    let handle = signals.handle();
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let _ = events.send(Event::Signal(signal));
            }
        })
        .map_err(|e| format!("while starting the signal thread: {e}"))?;
    Ok(handle)
}

/// The background threads that write through the writer: the outboxes, the sweeper, and the
/// checkpointer beside them.
struct Background {
    outbox: JoinHandle<()>,
    mail: Option<JoinHandle<()>>,
    sweeper: JoinHandle<()>,
    releaser: JoinHandle<()>,
    checkpointer: Option<(Arc<Wal>, JoinHandle<()>)>,
}

impl Background {
    fn start(
        config: &Serve,
        writer: &Writer,
        checkpoints: Option<Arc<Wal>>,
        metrics: Arc<Metrics>,
        stopping: &Arc<AtomicBool>,
    ) -> Result<Background, String> {
        let outbox = crate::outbox::spawn(
            config.db.clone(),
            writer.clone(),
            config.allow_private_postbacks,
            config.outbound,
            stopping.clone(),
        )
        .map_err(|e| format!("while starting the postback thread: {e}"))?;
        let mail = crate::outbox::spawn_mail(config.db.clone(), config, writer.clone(), stopping.clone())?;
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
            mail: crate::intake::mail::context(config),
        }
        .spawn()
        .map_err(|e| format!("while starting the retention sweeper: {e}"))?;
        let releaser = crate::alloc::spawn_releaser(stopping.clone())
            .map_err(|e| format!("while starting the memory release thread: {e}"))?;
        Ok(Background { outbox, mail, sweeper, releaser, checkpointer })
    }

    /// Waits for each to finish (the caller has set the `stopping` flag).
    fn stop(self) {
        let _ = self.outbox.join();
        if let Some(mail) = self.mail {
            let _ = mail.join();
        }
        let _ = self.sweeper.join();
        let _ = self.releaser.join();
        if let Some((wal, thread)) = self.checkpointer {
            wal.stop();
            let _ = thread.join();
        }
    }
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
    let portal = match (config.portal, config.signup) {
        (false, _) => "off (--portal off)".into(),
        (true, Signup::Off) => format!("{url}/portal (affiliates log in with an invite)"),
        (true, Signup::Review) => format!("{url}/portal (applications at {url}/portal/apply, for your review)"),
        (true, Signup::Open) => format!("{url}/portal (anyone may join at {url}/portal/apply: --signup open)"),
    };
    let mail = match config.mail() {
        Some(m) => format!(
            "through {} ({}), from {}; the merchant's to {}",
            m.smtp.masked(),
            m.smtp.describe(),
            m.from,
            m.merchant
        ),
        None => "off (no --smtp-url: invite links are handed over by hand, resets go through the merchant)".into(),
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
        format!("  e-mail        {mail}"),
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
        assert!(text.contains("e-mail        off (no --smtp-url"), "{text}");
        let mail = banner(
            &config(dir.path(), &["--smtp-url", "smtp://ann:hunter2-pw@mail.example", "--mail-from", "p@shop.example"]),
            local,
        )
        .join("\n");
        assert!(
            mail.contains(
                "e-mail        through smtp://ann:****@mail.example:587 (STARTTLS required), from p@shop.example"
            ),
            "{mail}"
        );
        assert!(!mail.contains("hunter2"), "{mail}");
    }
}
