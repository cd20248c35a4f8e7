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

Options (each flag falls back to the environment variable named after it):
  --db PATH               SQLite database file, created if missing    [AFFILIATED_DB, default ./affiliated.db]
  --listen ADDR           address to listen on; keep it on loopback and put a
                          reverse proxy in front for public traffic  [AFFILIATED_LISTEN, default 127.0.0.1:8080]
  --public-url URL        how the world reaches this server, used in tracking links
                                                                      [AFFILIATED_PUBLIC_URL, default http://LISTEN]
  --workers N             request worker threads                      [AFFILIATED_WORKERS, default 32]
  --synchronous MODE      normal (crash-safe; a power cut may lose the last commits)
                          or full (fsync every commit)                [AFFILIATED_SYNCHRONOUS, default normal]
  --store-ip MODE         full, truncated (/24, /48) or none          [AFFILIATED_STORE_IP, default truncated]
  --socket-timeout DUR    read/write timeout per connection           [AFFILIATED_SOCKET_TIMEOUT, default 15s]
  --trusted-proxy IP      believe X-Forwarded-For from this peer; repeatable
                                                                      [AFFILIATED_TRUSTED_PROXY, comma-separated]
  --click-retention DUR   delete unconverted clicks older than this   [AFFILIATED_CLICK_RETENTION, default 30d]
  --sweep-interval DUR    how often the retention sweep runs          [AFFILIATED_SWEEP_INTERVAL, default 1h]
  --allow-private-postbacks  let outbound postbacks reach loopback/private addresses (tests, LANs)
                                                                      [AFFILIATED_ALLOW_PRIVATE_POSTBACKS]
  --outbound on|off       off: outbound postbacks stay queued (listed, retryable) and
                          nothing is resolved or sent; for tests and fuzzing
                                                                      [AFFILIATED_OUTBOUND, default on]
  --wal-autocheckpoint N  checkpoint when the WAL holds N pages; 0 when Litestream
                          does the checkpoints                         [AFFILIATED_WAL_AUTOCHECKPOINT, default 1000]
  --admin-token TOKEN     turn the merchant admin on at /admin; log in with this
                          token (16+ characters; prefer the environment variable,
                          flags are visible in `ps`)                  [AFFILIATED_ADMIN_TOKEN, default off]
Environment only:
  AFFILIATED_API_KEY      an API key to accept (32+ characters, stored hashed)
  AFFILIATED_POSTBACK_TOKEN  the inbound postback token (else one is generated)
  RUST_LOG                log filter, default info

With no API key at all, serve creates one and writes it to DB.initial-api-key (mode 0600).
Durations are written like 90s, 15m, 12h, 30d.
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
    let listener = server::bind(config.listen, config.socket_timeout)?;
    let local = listener.local_addr().map_err(|e| format!("while reading the listening address: {e}"))?;
    if config.public_url_is_default {
        // With --listen on port 0 the real port is only known now.
        config.public_url = format!("http://{local}");
    }
    // Checkpoints run on their own thread (store::checkpointer), never on the writer.
    let mut conn = store::open_writer(&config.db, config.synchronous, 0)?;
    bootstrap::prepare(&conn, &config)?;
    let checkpoints = (config.wal_autocheckpoint > 0)
        .then(|| store::checkpointer::watch(&mut conn, config.wal_autocheckpoint))
        .transpose()
        .map_err(|e| format!("while configuring checkpoints: {e}"))?;
    let (writer, writer_thread) = Writer::start(conn, WRITE_WAIT);

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
        .map(|wakeup| {
            store::checkpointer::spawn(config.db.clone(), config.wal_autocheckpoint, wakeup.clone())
                .map(|thread| (wakeup, thread))
        })
        .transpose()
        .map_err(|e| format!("while starting the checkpointer: {e}"))?;
    let sweeper = crate::sweeper::Sweeper {
        writer: writer.clone(),
        retention: config.click_retention,
        interval: config.sweep_interval,
        metrics,
        stopping: stopping.clone(),
    }
    .spawn()
    .map_err(|e| format!("while starting the retention sweeper: {e}"))?;
    drop(writer);

    log::info!(
        "affiliated {} listening on http://{local} (database {}, {} workers)",
        env!("CARGO_PKG_VERSION"),
        config.db.display(),
        config.workers
    );
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
    if let Some((wakeup, thread)) = checkpointer {
        wakeup.stop();
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
