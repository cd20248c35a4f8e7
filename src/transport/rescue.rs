//! Rescuing connections that tiny_http accepted but never started serving.
//!
//! tiny_http 0.12 serves each connection on a thread of its task pool. The pool adds a thread
//! only when a new connection arrives while no thread is idle; in a burst, connections are queued
//! behind "idle" threads that are about to take other work, and then wait in the queue until some
//! other connection ends, which for keep-alive or slow clients can take many seconds (measured:
//! 28 of 64 connections unserved for a whole 10 s benchmark; a health probe stuck for 9.7 s
//! behind twenty slow uploads).
//!
//! A queued connection is visible from outside: it is one of our sockets accepted on the
//! listener, the kernel holds bytes for it that nobody reads, and no request has come from its
//! address ([`Peers`] keeps the addresses requests came from). This thread looks for such
//! connections among the process's own descriptors (`hangup::connections`, then the unread byte
//! count of each; every [`QUIET_INTERVAL`], every [`INTERVAL`] while it finds any or new
//! connections arrive); for each one found in two consecutive looks, it opens and immediately
//! closes a connection to the listener. With every pool thread busy, that connection makes the
//! pool add a thread, which finishes the empty connection at once and then takes the oldest
//! queued one. A false alarm costs one short-lived idle thread.
//!
//! It used to read the kernel's connection tables (`/proc/self/net/tcp{,6}`) instead: each read
//! walks every bucket of the machine's established-connection hash (262,144 here), 1.5–4 ms of
//! kernel time per look, during which one of the two cores served no request (`perf sched`
//! showed it under load). Looking at our own descriptors costs a few short system calls per
//! connection we hold. The tables are still read for `accepted`, which the heartbeat calls only
//! when a probe went unanswered.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub const INTERVAL: Duration = Duration::from_millis(20);
/// The pause between looks while nothing was found.
pub const QUIET_INTERVAL: Duration = Duration::from_millis(500);
/// At most this many rescues per look.
const MAX_PER_LOOK: usize = 64;

/// Connections rescued so far (for the metrics).
pub static RESCUED: AtomicU64 = AtomicU64::new(0);
/// Set when the connection tables cannot be read: the server then falls back to closing
/// keep-alive connections after a short lifetime (`exchange::Rotation`), which also bounds the
/// wait, at the price of reconnects.
pub static UNWATCHED: AtomicBool = AtomicBool::new(false);

/// Requests within this long mark a connection as being served.
const SERVED_WITHIN: Duration = Duration::from_secs(2);

/// How long our own connections are known as ours: far longer than they live.
const OURS_FOR: Duration = Duration::from_secs(60);

/// The addresses requests came from, when first and last. One entry per connection (a client
/// port identifies a connection while it lives).
#[derive(Default)]
pub struct Peers {
    seen: Mutex<HashMap<SocketAddr, (Instant, Instant)>>,
    /// Set when a request arrives on a connection not seen before: connections arriving are when
    /// others may be left queued, so the watch looks at once.
    arrivals: Mutex<bool>,
    arrived: Condvar,
    /// Our own connections to the listener (`spares.rs`), by their local address, and when they
    /// were made: never ones to rescue.
    ours: Mutex<HashMap<SocketAddr, Instant>>,
}

impl Peers {
    /// Records a request from `peer`; returns when the first request of its connection came.
    pub fn note(&self, peer: SocketAddr, now: Instant) -> Instant {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 16_384 {
            seen.retain(|_, (_, last)| now.duration_since(*last) < Duration::from_secs(60));
        }
        let mut new = false;
        let entry = seen.entry(peer).or_insert_with(|| {
            new = true;
            (now, now)
        });
        entry.1 = now;
        let first = entry.0;
        drop(seen);
        if new {
            *self.arrivals.lock().unwrap_or_else(|p| p.into_inner()) = true;
            self.arrived.notify_one();
        }
        first
    }

    /// Waits up to `pause` or until a new connection sends its first request.
    fn wait(&self, pause: Duration) {
        let arrivals = self.arrivals.lock().unwrap_or_else(|p| p.into_inner());
        let (mut arrivals, _) =
            self.arrived.wait_timeout_while(arrivals, pause, |arrived| !*arrived).unwrap_or_else(|p| p.into_inner());
        *arrivals = false;
    }

    /// Forgets a connection we are closing (its address may come back as a new connection).
    pub fn forget(&self, peer: SocketAddr) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).remove(&peer);
    }

    /// Marks `local` as the address of one of our own connections to the listener.
    pub fn own(&self, local: SocketAddr) {
        let now = Instant::now();
        let mut ours = self.ours.lock().unwrap_or_else(|p| p.into_inner());
        if ours.len() >= 1024 {
            ours.retain(|_, at| now.duration_since(*at) < OURS_FOR);
        }
        ours.insert(local, now);
    }

    fn served_recently(&self, peer: &SocketAddr, now: Instant) -> bool {
        let ours = self.ours.lock().unwrap_or_else(|p| p.into_inner());
        if ours.get(peer).is_some_and(|at| now.duration_since(*at) < OURS_FOR) {
            return true;
        }
        drop(ours);
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(peer).is_some_and(|(_, last)| now.duration_since(*last) < SERVED_WITHIN)
    }
}

pub fn spawn(
    listener: SocketAddr,
    probe: SocketAddr,
    peers: Arc<Peers>,
    stopping: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new().name("rescue".into()).spawn(move || {
        let mut previous: HashSet<SocketAddr> = HashSet::new();
        let mut readable = true;
        let mut pause = INTERVAL;
        let mut spacing = INTERVAL;
        while !stopping.load(Ordering::SeqCst) {
            peers.wait(pause);
            // At most one look per INTERVAL, however fast connections arrive.
            thread::sleep(spacing);
            let started = Instant::now();
            let looked = waiting_connections(listener);
            // A look costs a few system calls per connection held: with thousands of them, the
            // looks are spaced out so that the watch never takes more than a tenth of a core.
            spacing = INTERVAL.max(started.elapsed() * 9);
            let waiting = match looked {
                Ok(waiting) => waiting,
                Err(e) => {
                    if readable {
                        log::warn!(
                            "cannot watch for unserved connections ({e}); rotating keep-alive connections instead"
                        );
                        readable = false;
                        UNWATCHED.store(true, Ordering::Relaxed);
                    }
                    continue;
                }
            };
            let now = Instant::now();
            let unserved: HashSet<SocketAddr> =
                waiting.into_iter().filter(|p| !peers.served_recently(p, now)).collect();
            let rescue = unserved.intersection(&previous).count().min(MAX_PER_LOOK);
            for _ in 0..rescue {
                // Connect and hang up: the pool thread this makes takes a queued connection next.
                let _ = TcpStream::connect_timeout(&probe, Duration::from_millis(200));
            }
            if rescue > 0 {
                RESCUED.fetch_add(rescue as u64, Ordering::Relaxed);
                log::debug!("nudged the connection pool for {rescue} unserved connections");
            }
            // Look again soon while there is something to watch, rarely otherwise.
            pause = if unserved.is_empty() { QUIET_INTERVAL } else { INTERVAL };
            previous = unserved;
        }
    })
}

/// The peers of our connections accepted on `listener` that have unread bytes in their receive
/// queue (a request nobody has taken yet), each once.
pub fn waiting_connections(listener: SocketAddr) -> std::io::Result<Vec<SocketAddr>> {
    let sockets = super::hangup::connections(listener)
        .ok_or_else(|| std::io::Error::other("the descriptor table /proc/self/fd cannot be read"))?;
    let mut found: Vec<SocketAddr> = sockets.filter(|&(fd, _)| unread(fd) > 0).map(|(_, peer)| peer).collect();
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// Bytes waiting in a socket's receive queue (0 if it cannot be asked, e.g. closed meanwhile).
fn unread(fd: std::os::fd::RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int; on a descriptor closed meanwhile it fails with EBADF, and on
    // a reused number it answers for that descriptor, which is harmless here (a false alarm).
    let ok = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } == 0;
    if ok { usize::try_from(n).unwrap_or(0) } else { 0 }
}

/// Whether the connection from `peer` to local `port` has been accepted: `Some(false)` while it
/// waits in the listener's accept queue (established, and no inode: the kernel attaches one when
/// a process accepts it), `None` when it is not in the tables or no longer established (a
/// closing socket shows no inode either), or the tables cannot be read.
pub fn accepted(port: u16, peer: SocketAddr) -> Option<bool> {
    ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|text| accepted_in(&text, port, peer))
}

fn accepted_in(text: &str, port: u16, peer: SocketAddr) -> Option<bool> {
    let port_hex = format!(":{port:04X}");
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, remote, state, inode) = (fields.get(1)?, fields.get(2)?, fields.get(3)?, fields.get(9)?);
        if *state != "01" || !local.ends_with(&port_hex) || hex_address(remote)? != peer {
            return None;
        }
        Some(*inode != "0")
    })
}

/// `0100007F:C350` (IPv4, the address as the kernel's native 32-bit word) or 32 hex digits of
/// IPv6 in four native words, then the port.
fn hex_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok().map(u32::to_le_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:0000004B 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:C351 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
   3: 0100007F:C352 0100007F:1F90 01 00000000:00000010 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1
   4: 0100007F:1F91 0100007F:C353 01 00000000:00000020 00:00000000 00000000     0        0 5 1 0 20 4 30 10 -1
";

    #[test]
    fn finds_our_connections_with_a_request_nobody_read() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let mut waiting = TcpStream::connect(local).unwrap();
        let (mut served, _) = listener.accept().unwrap();
        let idle = TcpStream::connect(local).unwrap();
        let (_idle_served, _) = listener.accept().unwrap();
        // Another listener's connection with unread bytes is not ours to rescue.
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut elsewhere = TcpStream::connect(other.local_addr().unwrap()).unwrap();
        let (_elsewhere_served, _) = other.accept().unwrap();
        elsewhere.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        waiting.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let me = waiting.local_addr().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while waiting_connections(local).unwrap() != [me] {
            assert!(Instant::now() < deadline, "the request was not seen: {:?}", waiting_connections(local));
            thread::sleep(Duration::from_millis(5));
        }
        // Once read, the connection no longer waits; an idle one never did.
        let mut buf = [0u8; 64];
        let _ = served.read(&mut buf).unwrap();
        while !waiting_connections(local).unwrap().is_empty() {
            assert!(Instant::now() < deadline, "the read connection still counts as waiting");
            thread::sleep(Duration::from_millis(5));
        }
        drop(idle);
    }

    #[test]
    fn tells_accepted_connections_from_queued_ones() {
        let peer = |p: &str| p.parse::<SocketAddr>().unwrap();
        // Line 1 again, with inode 0: still in the accept queue.
        let queued = SAMPLE.replace(" 0        0 2 1", " 0        0 0 1");
        assert_eq!(accepted_in(SAMPLE, 8080, peer("127.0.0.1:50000")), Some(true));
        assert_eq!(accepted_in(&queued, 8080, peer("127.0.0.1:50000")), Some(false));
        assert_eq!(accepted_in(SAMPLE, 8080, peer("127.0.0.1:40000")), None);
        // A connection being closed has no inode either; it is not a queued one.
        let closing = queued.replace(" 01 00000000:0000004B", " 04 00000000:0000004B");
        assert_eq!(accepted_in(&closing, 8080, peer("127.0.0.1:50000")), None);
    }

    #[test]
    fn a_connection_nobody_accepts_is_seen_as_queued() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let me = client.local_addr().unwrap();
        assert_eq!(accepted(port, me), Some(false));
        let _served = listener.accept().unwrap();
        assert_eq!(accepted(port, me), Some(true));
    }

    #[test]
    fn decodes_kernel_addresses() {
        assert_eq!(hex_address("0100007F:1F90"), Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(hex_address("4D7100CB:0050"), Some("203.0.113.77:80".parse().unwrap()));
        assert_eq!(hex_address("00000000000000000000000001000000:1F90"), Some("[::1]:8080".parse().unwrap()));
        assert_eq!(
            hex_address("0000000000000000FFFF00000100007F:C350"),
            Some("[::ffff:127.0.0.1]:50000".parse().unwrap())
        );
        assert_eq!(hex_address("zz:1"), None);
    }

    #[test]
    fn only_connections_without_recent_requests_count_as_unserved() {
        let peers = Peers::default();
        let a: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let t0 = Instant::now();
        assert!(!peers.served_recently(&a, t0));
        assert_eq!(peers.note(a, t0), t0);
        assert!(peers.served_recently(&a, t0 + Duration::from_secs(1)));
        assert!(!peers.served_recently(&a, t0 + SERVED_WITHIN));
        assert_eq!(peers.note(a, t0 + Duration::from_secs(1)), t0, "first request of the connection");
        peers.forget(a);
        assert!(!peers.served_recently(&a, t0 + Duration::from_secs(1)));
    }

    #[test]
    fn reads_the_live_tables() {
        // The heartbeat's lookup: a port nobody listens on is in no table.
        assert_eq!(accepted(1, "127.0.0.1:2".parse().unwrap()), None);
    }
}
