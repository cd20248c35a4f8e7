//! The server: listener, worker threads, heartbeat and shutdown.
//!
//! tiny_http 0.12 has no timeouts of its own and stops accepting for good after one failed
//! `accept()`. We therefore:
//! - set read and write timeouts on the *listening* socket; Linux copies them to every accepted
//!   socket (checked in the tests). The same option makes an idle `accept()` time out, which
//!   would end tiny_http's accept loop, so a heartbeat thread connects to the listener every
//!   second: it keeps `accept()` busy and is also the health probe behind the systemd watchdog;
//! - treat an error from tiny_http's accept loop as fatal: the process exits non-zero so the
//!   service manager restarts it. A live process never sits on a dead listener;
//! - read request bodies ourselves, capped at [`MAX_BODY`] and with a total deadline;
//! - write responses ourselves (`response.rs`), which validates every header value;
//! - hand requests whose body was not read to the end to a short-lived drain thread, because
//!   tiny_http discards the rest of a body when the request is dropped, and that can block.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::{Duration, Instant};

use super::exchange::{self, Exchanges, HEARTBEAT_AGENT};
use super::{Ctx, admin};
use crate::config::Serve;
use crate::metrics::Metrics;
use crate::store::writer::Writer;
use crate::store::{self, keys, postbacks};
use crate::systemd;

/// How long a request waits for its write to commit before answering 503.
const WRITE_WAIT: Duration = Duration::from_secs(10);
/// After SIGTERM, how long in-flight and queued requests may take.
const DRAIN_DEADLINE: Duration = Duration::from_secs(4);

enum Event {
    Signal(i32),
    Fatal(String),
}

/// Runs the server until SIGTERM/SIGINT (returns Ok) or a fatal error (returns Err).
pub fn run(mut config: Serve) -> Result<(), String> {
    raise_fd_limit();
    // Checkpoints run on their own thread (store::checkpointer), never on the writer.
    let mut conn = store::open_writer(&config.db, config.synchronous, 0)?;
    bootstrap_keys(&conn, &config)?;
    if let Some(message) =
        postbacks::ensure(&conn, &config.db, config.postback_token.as_deref(), crate::clock::now_ms())?
    {
        log::warn!("{message}");
    }
    let reapplied = store::retention::reapply(&conn, &config.db, crate::clock::now_ms())?;
    if reapplied > 0 {
        log::warn!(
            "re-applied {reapplied} erasures from the erasure log that this database did not have (restored from a backup?)"
        );
        store::checkpoint_truncate(&conn);
    }
    let checkpoints = (config.wal_autocheckpoint > 0)
        .then(|| store::checkpointer::watch(&mut conn, config.wal_autocheckpoint))
        .transpose()
        .map_err(|e| format!("while configuring checkpoints: {e}"))?;
    let (writer, writer_thread) = Writer::start(conn, WRITE_WAIT);

    let listener = bind(config.listen, config.socket_timeout)?;
    let local = listener.local_addr().map_err(|e| format!("while reading the listening address: {e}"))?;
    if config.public_url_is_default {
        // With --listen on port 0 the real port is only known now.
        config.public_url = format!("http://{local}");
    }
    let control = listener.try_clone().map_err(|e| format!("while cloning the listener: {e}"))?;
    let server = Arc::new(
        tiny_http::Server::from_listener(listener, None).map_err(|e| format!("while starting the HTTP server: {e}"))?,
    );

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

    let admin = config.admin_token.as_deref().map(|token| Arc::new(admin::Admin::new(token)));
    let mut workers = Vec::with_capacity(config.workers);
    let mut exchanges = None;
    for i in 0..config.workers {
        let db = store::open_reader(&config.db)?;
        let ctx = Ctx {
            db,
            writer: writer.clone(),
            config: config.clone(),
            metrics: metrics.clone(),
            admin: admin.clone(),
            catalog: Default::default(),
        };
        let ex = exchanges.get_or_insert_with(|| Arc::new(Exchanges::new(stopping.clone(), &ctx))).clone();
        let (server, events) = (server.clone(), events.clone());
        let handle = thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || worker(ctx, &server, &ex, &events))
            .map_err(|e| format!("while starting worker threads: {e}"))?;
        workers.push(handle);
    }
    let exchanges = exchanges.expect("at least one worker");
    let outbox =
        crate::outbox::spawn(config.db.clone(), writer.clone(), config.allow_private_postbacks, stopping.clone())
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
        metrics: metrics.clone(),
        stopping: stopping.clone(),
    }
    .spawn()
    .map_err(|e| format!("while starting the retention sweeper: {e}"))?;
    drop(writer);

    let heartbeat_interval = (config.socket_timeout / 4).min(Duration::from_secs(1));
    let heartbeat = {
        let (stopping, events) = (stopping.clone(), events.clone());
        thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || heartbeat(probe_address(local), heartbeat_interval, &stopping, &events))
            .map_err(|e| format!("while starting the heartbeat: {e}"))?
    };
    drop(events);
    let rescue = super::rescue::spawn(local, probe_address(local), exchanges.peers.clone(), stopping.clone())
        .map_err(|e| format!("while starting the connection watch: {e}"))?;

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
    // Stop accepting: shutting the listening socket down makes tiny_http's accept() fail, which
    // ends its accept loop and closes the port. Connections already accepted keep being served.
    let _ = socket2::SockRef::from(&control).shutdown(std::net::Shutdown::Both);
    for handle in workers {
        let _ = handle.join();
    }
    let _ = heartbeat.join();
    let _ = rescue.join();
    let _ = outbox.join();
    let _ = sweeper.join();
    if let Some((wakeup, thread)) = checkpointer {
        wakeup.stop();
        let _ = thread.join();
    }
    signal_handle.close();
    drop(server);
    // Requests still reading slow bodies hold writer handles too; give them a moment, then stop
    // without them (nothing they do has been acknowledged yet).
    exchanges.shut();
    let waiting = Instant::now();
    while exchanges.slow_in_flight() > 0 && waiting.elapsed() < Duration::from_millis(500) {
        thread::sleep(Duration::from_millis(10));
    }
    drop(exchanges);
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

/// Makes sure an API key exists: the one from `AFFILIATED_API_KEY`, or else a generated one
/// that the operator reads from a file next to the database (never from the log).
fn bootstrap_keys(conn: &rusqlite::Connection, config: &Serve) -> Result<(), String> {
    let now = crate::clock::now_ms();
    let env_key = keys::sync_env_key(conn, config.api_key.as_deref(), now)
        .map_err(|e| format!("while storing the API key: {e}"))?;
    if env_key == keys::EnvKey::Revoked {
        log::warn!("AFFILIATED_API_KEY names a key revoked with `affiliated keys revoke`; it is not accepted");
    }
    let path = initial_key_path(&config.db);
    if keys::active_count(conn).map_err(|e| e.to_string())? > 0 {
        if path.exists() {
            log::warn!("{} still holds the initial API key; delete it once the key is stored safely", path.display());
        }
        return Ok(());
    }
    let (id, key) =
        keys::create(conn, "initial", "initial", now).map_err(|e| format!("while creating an API key: {e}"))?;
    if let Err(e) = crate::secret::write_private_file(&path, &format!("{key}\n")) {
        let _ = keys::revoke(conn, id, now);
        return Err(format!("while writing the initial API key to {}: {e}", path.display()));
    }
    log::warn!(
        "no API key existed, so one was created; read it with `cat {}`, store it in your secrets, then delete that file \
         (`affiliated keys create --label NAME` makes more keys)",
        path.display()
    );
    Ok(())
}

pub fn initial_key_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".initial-api-key");
    PathBuf::from(name)
}

/// Binds the listener with the per-connection timeouts set on it (inherited on accept).
fn bind(addr: SocketAddr, timeout: Duration) -> Result<TcpListener, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let context = |e: std::io::Error| format!("while listening on {addr}: {e}");
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(context)?;
    socket.set_reuse_address(true).map_err(context)?;
    socket.set_read_timeout(Some(timeout)).map_err(context)?;
    socket.set_write_timeout(Some(timeout)).map_err(context)?;
    socket.set_tcp_nodelay(true).map_err(context)?;
    socket.bind(&addr.into()).map_err(context)?;
    socket.listen(1024).map_err(context)?;
    Ok(socket.into())
}

/// Lets the process hold as many connections as the hard limit allows: when `accept()` hits the
/// descriptor limit, tiny_http stops accepting for good.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                log::warn!("could not raise the open-file limit");
            }
        }
    }
}

fn worker(mut ctx: Ctx, server: &tiny_http::Server, ex: &Arc<Exchanges>, events: &Sender<Event>) {
    let mut stop_by: Option<Instant> = None;
    loop {
        if ex.stopping.load(Ordering::SeqCst) {
            let deadline = *stop_by.get_or_insert_with(|| Instant::now() + DRAIN_DEADLINE);
            if Instant::now() > deadline {
                break;
            }
        }
        match server.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(rq)) => exchange::handle(&mut ctx, ex, rq),
            Ok(None) if stop_by.is_some() => break,
            Ok(None) => {}
            Err(e) => {
                if !ex.stopping.load(Ordering::SeqCst) {
                    let _ = events.send(Event::Fatal(format!("the listener stopped accepting connections ({e})")));
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Where the heartbeat connects: the listening address, with a wildcard replaced by loopback.
fn probe_address(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

/// Probes the server through its own listener once per interval, and pings the systemd
/// watchdog only after a probe got a 200 from `/healthz`.
fn heartbeat(addr: SocketAddr, interval: Duration, stopping: &AtomicBool, events: &Sender<Event>) {
    let watchdog = systemd::watchdog_interval();
    let mut failures = 0u32;
    let mut next = Instant::now() + interval;
    while !stopping.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now < next {
            thread::sleep((next - now).min(Duration::from_millis(100)));
            continue;
        }
        next = now + interval;
        match probe(addr) {
            Ok(()) => {
                if failures > 0 {
                    log::info!("health probe succeeds again after {failures} failures");
                }
                failures = 0;
                if watchdog.is_some() {
                    systemd::notify("WATCHDOG=1");
                }
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_power_of_two() {
                    log::warn!("health probe of {addr} failed ({failures} in a row): {e}");
                }
            }
        }
    }
    let _ = events;
}

fn probe(addr: SocketAddr) -> Result<(), String> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {HEARTBEAT_AGENT}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| format!("read: {e}"))?;
    if &head == b"HTTP/1.1 200" { Ok(()) } else { Err(format!("answered {:?}", String::from_utf8_lossy(&head))) }
}
