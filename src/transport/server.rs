//! The HTTP server: listener, worker threads, heartbeat, the pool's spare threads and the
//! connection watch. The process around it (database, writer, background threads, signals) is
//! started by `cli/serve.rs`.
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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::Site;
use super::exchange::{self, Exchanges, HEARTBEAT_AGENT};
use crate::systemd;

/// After SIGTERM, how long in-flight and queued requests may take.
const DRAIN_DEADLINE: Duration = Duration::from_secs(4);

/// What ends the process: a signal, or a failure the service manager must see.
pub enum Event {
    Signal(i32),
    Fatal(String),
}

/// What the server is told at start.
pub struct Settings {
    /// Worker threads, each with its own context.
    pub workers: usize,
    /// Read and write timeout of every accepted connection (set on the listener by [`bind`]).
    pub socket_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed (the reverse proxy).
    pub trusted_proxies: Vec<IpAddr>,
}

/// The running HTTP side: workers, heartbeat, connection watch.
pub struct Http<S: Site> {
    /// The address actually bound (the real port when asked for port 0).
    pub local: SocketAddr,
    control: TcpListener,
    server: Arc<tiny_http::Server>,
    exchanges: Arc<Exchanges<S>>,
    threads: Vec<JoinHandle<()>>,
}

/// Starts serving `site` on `listener` (from [`bind`]): one worker per `settings.workers`, each
/// with its own context from the site, plus the heartbeat and the connection watch. Fatal
/// listener failures are reported on `events`; `stopping` tells every thread to wind down.
pub fn start<S: Site>(
    listener: TcpListener,
    settings: Settings,
    site: Arc<S>,
    stopping: Arc<AtomicBool>,
    events: &Sender<Event>,
) -> Result<Http<S>, String> {
    let local = listener.local_addr().map_err(|e| format!("while reading the listening address: {e}"))?;
    let control = listener.try_clone().map_err(|e| format!("while cloning the listener: {e}"))?;
    let server = Arc::new(
        tiny_http::Server::from_listener(listener, None).map_err(|e| format!("while starting the HTTP server: {e}"))?,
    );
    let mut threads = Vec::with_capacity(settings.workers + 3);
    if settings.workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    let exchanges = Arc::new(Exchanges::new(site, stopping.clone(), settings.trusted_proxies, local));
    for i in 0..settings.workers {
        let ctx = exchanges.site.context()?;
        let ex = exchanges.clone();
        let (server, events) = (server.clone(), events.clone());
        let handle = thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || worker(ctx, &server, &ex, &events))
            .map_err(|e| format!("while starting worker threads: {e}"))?;
        threads.push(handle);
    }
    let heartbeat_interval = (settings.socket_timeout / 4).min(Duration::from_secs(1));
    let heartbeat = {
        let (stopping, events) = (stopping.clone(), events.clone());
        thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || heartbeat(probe_address(local), heartbeat_interval, &stopping, &events))
            .map_err(|e| format!("while starting the heartbeat: {e}"))?
    };
    threads.push(heartbeat);
    // Before the server counts as started: a burst right after a restart finds its threads.
    let spares = super::spares::start(probe_address(local), exchanges.peers.clone(), stopping.clone())
        .map_err(|e| format!("while starting the spare threads' keeper: {e}"))?;
    threads.push(spares);
    let rescue = super::rescue::spawn(local, probe_address(local), exchanges.peers.clone(), stopping)
        .map_err(|e| format!("while starting the connection watch: {e}"))?;
    threads.push(rescue);
    Ok(Http { local, control, server, exchanges, threads })
}

impl<S: Site> Http<S> {
    /// Stops accepting and lets the workers finish what they hold (up to [`DRAIN_DEADLINE`]);
    /// the caller has set the `stopping` flag first.
    pub fn stop(self) -> Stopped<S> {
        // Shutting the listening socket down makes tiny_http's accept() fail, which ends its
        // accept loop and closes the port. Connections already accepted keep being served.
        let _ = socket2::SockRef::from(&self.control).shutdown(std::net::Shutdown::Both);
        for handle in self.threads {
            let _ = handle.join();
        }
        drop(self.server);
        Stopped { exchanges: self.exchanges }
    }
}

/// The HTTP side after [`Http::stop`]: only requests still reading slow bodies may be left.
pub struct Stopped<S: Site> {
    exchanges: Arc<Exchanges<S>>,
}

impl<S: Site> Stopped<S> {
    /// Lets go of the writer handles kept for slow requests, giving those in flight a moment.
    pub fn release(self) {
        self.exchanges.shut();
        let waiting = Instant::now();
        while self.exchanges.slow_in_flight() > 0 && waiting.elapsed() < Duration::from_millis(500) {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Binds the listener with the per-connection timeouts set on it (inherited on accept), after
/// raising the descriptor limit. Runs before anything else at start, so a taken port leaves no
/// files behind.
pub fn bind(addr: SocketAddr, timeout: Duration) -> Result<TcpListener, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    raise_fd_limit();
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

fn worker<S: Site>(mut ctx: S::Ctx, server: &tiny_http::Server, ex: &Arc<Exchanges<S>>, events: &Sender<Event>) {
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
///
/// It also watches the listener itself. tiny_http accepts connections on one thread, which dies
/// when it cannot start a thread for a connection (e.g. under a process limit) or when `accept()`
/// fails, and nothing else would notice: the process would live on while the kernel queues
/// connections nobody accepts. A probe that got no answer is therefore looked up in the kernel's
/// connection table: still waiting in the accept queue after [`PROBE_TIMEOUT`] means the accept
/// loop is dead or wedged, and so do [`CONNECT_FAILURES`] failed connects in a row (the queue is
/// full or the socket is gone). Either is reported as fatal, and the process exits non-zero for
/// the service manager to restart it, within about five seconds of the failure.
fn heartbeat(addr: SocketAddr, interval: Duration, stopping: &AtomicBool, events: &Sender<Event>) {
    let watchdog = systemd::watchdog_interval();
    let mut failures = 0u32;
    let mut failed_connects = 0u32;
    let mut next = Instant::now() + interval;
    while !stopping.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now < next {
            thread::sleep((next - now).min(Duration::from_millis(100)));
            continue;
        }
        next = now + interval;
        let outcome = probe(addr);
        failed_connects = if matches!(outcome, Err(Failure::Connect(_))) { failed_connects + 1 } else { 0 };
        let dead = match &outcome {
            Err(Failure::Unanswered { accepted, .. }) => *accepted == Some(false),
            Err(Failure::Connect(_)) => failed_connects >= CONNECT_FAILURES,
            _ => false,
        };
        if dead && !stopping.load(Ordering::SeqCst) {
            let why = outcome.err().map(|f| f.to_string()).unwrap_or_default();
            let _ = events.send(Event::Fatal(format!("the listener stopped accepting connections ({why})")));
            return;
        }
        match outcome {
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
}

/// How long a probe waits to connect, and then for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Failed connects in a row that mean the listener is gone.
const CONNECT_FAILURES: u32 = 2;

/// Why a probe failed.
enum Failure {
    Connect(std::io::Error),
    /// Connected, but no answer came in time. `accepted` says whether the connection had been
    /// accepted at that moment (looked up while it was still open: once the probe closes it, a
    /// connection left in the accept queue is no longer shown as established).
    Unanswered {
        error: std::io::Error,
        accepted: Option<bool>,
    },
    /// An answer came, and it was not a 200.
    Unhealthy(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "connect: {e}"),
            Failure::Unanswered { error, accepted: Some(false) } => {
                write!(f, "not accepted within {} s: {error}", PROBE_TIMEOUT.as_secs())
            }
            Failure::Unanswered { error, .. } => write!(f, "no answer within {} s: {error}", PROBE_TIMEOUT.as_secs()),
            Failure::Unhealthy(head) => write!(f, "answered {head:?}"),
        }
    }
}

fn probe(addr: SocketAddr) -> Result<(), Failure> {
    let mut stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT).map_err(Failure::Connect)?;
    let from = stream.local_addr().map_err(Failure::Connect)?;
    let unanswered = |error| Failure::Unanswered { error, accepted: super::rescue::accepted(addr.port(), from) };
    stream.set_read_timeout(Some(PROBE_TIMEOUT)).map_err(unanswered)?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT)).map_err(unanswered)?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {HEARTBEAT_AGENT}\r\nConnection: close\r\n\r\n"
    )
    .map_err(unanswered)?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(unanswered)?;
    if &head == b"HTTP/1.1 200" { Ok(()) } else { Err(Failure::Unhealthy(String::from_utf8_lossy(&head).into_owned())) }
}
