//! Idle threads in tiny_http's connection pool, kept ahead of demand, so that a burst of new
//! connections is served at once instead of waiting for the connection watch.
//!
//! tiny_http 0.12 hands every accepted connection to its task pool. `spawn()` starts a new thread
//! only when it counts no idle one; otherwise it queues the connection and wakes one idle thread.
//! An idle thread that was woken for the previous connection still counts as idle until it has
//! run, so when the accept thread finds several connections waiting (visitors that arrived while
//! it had no core), it queues them all behind the few idle threads, and those it woke take one
//! each. The rest wait until some other connection ends, in practice until the watch
//! (`rescue.rs`) finds them: two looks 20 ms apart, ~45 ms. Measured on a fresh server, whose pool
//! holds 4 idle threads: 44 of 48 connections accepted back to back were queued and rescued, the
//! slowest answered after 45-50 ms (`tests/it/pool.rs`); tiny_http ends an idle thread after 5 s,
//! so every quiet spell brought the pool back to that.
//!
//! A burst of at most as many connections as there are idle threads is served at once: each
//! queued connection wakes an idle thread of its own. This module keeps [`SPARES`] of them. At
//! start, before the server is ready, [`grow`] opens connections to the listener one after
//! another; each sends one request and waits for its answer (the transport answers [`PATH`]
//! itself, unlogged and uncounted), so a pool thread holds each one before the next is made,
//! which therefore cannot be queued behind it. Once [`SPARES`] are held at once, it closes them
//! all and their threads go back to waiting, idle. Every [`REFRESH`], [`refresh`] wakes them one
//! at a time with connections that end at once, which keeps them from tiny_http's 5 s end.
//!
//! What remains for the watch, which stays as a safety net: a burst larger than the spares, or
//! one that meets spares still held by earlier connections.
//!
//! Architecture Invariant: this thread only connects to our own listener; it never reads or
//! touches a client's connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::rescue::Peers;

/// Idle threads kept in the pool: a burst of up to this many new connections finds a thread each.
pub const SPARES: usize = 64;
/// The pause between rounds: under tiny_http's 5 s, after which an idle thread ends.
pub const REFRESH: Duration = Duration::from_secs(2);
/// The path of our own requests; answered by the transport (`exchange.rs`) with a 204.
pub const PATH: &str = "/.affiliated/spare";
/// How long one of our connections waits to be connected, and then for its answer.
const ANSWER_WITHIN: Duration = Duration::from_millis(250);
/// The pause between two connections of [`refresh`].
const PACE: Duration = Duration::from_millis(1);
/// How long [`grow`] or [`refresh`] may take in all.
const ROUND_WITHIN: Duration = Duration::from_secs(2);

const REQUEST: &[u8] = b"GET /.affiliated/spare HTTP/1.1\r\nHost: localhost\r\nUser-Agent: affiliated-spare\r\n\r\n";
/// What the transport answers to [`PATH`].
pub const ANSWER: &[u8] = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";

/// Whether a request is one of our own: the path, from this machine (a loopback address, or the
/// listening one when the server listens on a single other address, which its own connections
/// then come from).
pub fn is_ours(url: &str, peer: Option<&SocketAddr>, local: SocketAddr) -> bool {
    url == PATH && peer.is_some_and(|p| p.ip().is_loopback() || p.ip() == local.ip())
}

/// Makes the spares now (see [`grow`]), then keeps them on a thread of its own (see [`refresh`]).
pub fn start(probe: SocketAddr, peers: Arc<Peers>, stopping: Arc<AtomicBool>) -> std::io::Result<JoinHandle<()>> {
    let made = grow(probe, &peers, &stopping);
    if made < SPARES {
        log::warn!("only {made} of {SPARES} spare threads could be made ready in tiny_http's pool");
    }
    thread::Builder::new().name("spares".into()).spawn(move || {
        let mut next = Instant::now() + REFRESH;
        while !stopping.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now < next {
                thread::sleep((next - now).min(Duration::from_millis(100)));
                continue;
            }
            let made = refresh(probe, &peers, &stopping);
            log::debug!("woke {made} spare threads of tiny_http's pool");
            next = Instant::now() + REFRESH;
        }
    })
}

/// Makes the pool hold [`SPARES`] of our connections at once, each made only once the one
/// before is answered, then closes them: their threads are idle now. Returns how many were held.
pub fn grow(probe: SocketAddr, peers: &Peers, stopping: &AtomicBool) -> usize {
    let started = Instant::now();
    let mut held = Vec::with_capacity(SPARES);
    let mut tries = 0;
    while held.len() < SPARES && tries < 2 * SPARES && started.elapsed() < ROUND_WITHIN {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        tries += 1;
        match hold(probe, peers) {
            Ok(stream) => held.push(stream),
            // Not answered in time: queued (it is served later, and ends at once), or the
            // server is busy. The next one is made all the same.
            Err(e) => log::debug!("a spare connection was not answered: {e}"),
        }
    }
    held.len()
}

/// Wakes [`SPARES`] idle threads, one at a time: each of our connections, closed at once, is
/// taken by the thread that has waited longest, which reads its end and waits again with its
/// 5 s started over. No worker is involved. They are [`PACE`] apart, so that a burst meets the
/// pool with all its spares but the one or two busy with us. Returns how many were made.
pub fn refresh(probe: SocketAddr, peers: &Peers, stopping: &AtomicBool) -> usize {
    let started = Instant::now();
    let mut made = 0;
    for _ in 0..SPARES {
        if stopping.load(Ordering::SeqCst) || started.elapsed() > ROUND_WITHIN {
            break;
        }
        match TcpStream::connect_timeout(&probe, ANSWER_WITHIN) {
            Ok(stream) => {
                if let Ok(local) = stream.local_addr() {
                    peers.own(local);
                }
                made += 1;
            }
            Err(e) => log::debug!("a spare connection failed: {e}"),
        }
        thread::sleep(PACE);
    }
    made
}

/// One of our connections, once a pool thread has answered it (and now waits for its next request).
fn hold(probe: SocketAddr, peers: &Peers) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&probe, ANSWER_WITHIN)?;
    peers.own(stream.local_addr()?);
    stream.set_read_timeout(Some(ANSWER_WITHIN))?;
    stream.set_write_timeout(Some(ANSWER_WITHIN))?;
    stream.write_all(REQUEST)?;
    let mut got = Vec::with_capacity(ANSWER.len());
    let mut buf = [0u8; 128];
    while got.len() < ANSWER.len() {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    if got != ANSWER {
        return Err(std::io::Error::other(format!("unexpected answer {:?}", String::from_utf8_lossy(&got))));
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_path_from_loopback_is_ours() {
        let loopback: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let v6: SocketAddr = "[::1]:40000".parse().unwrap();
        let remote: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let listening: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(is_ours(PATH, Some(&loopback), listening));
        assert!(is_ours(PATH, Some(&v6), listening));
        assert!(!is_ours(PATH, Some(&remote), listening));
        assert!(!is_ours(PATH, None, listening));
        assert!(!is_ours("/.affiliated/spare?x=1", Some(&loopback), listening));
        assert!(!is_ours("/", Some(&loopback), listening));
        // Listening on one public address, our own connections come from it.
        let public: SocketAddr = "198.51.100.4:8080".parse().unwrap();
        let from_it: SocketAddr = "198.51.100.4:40000".parse().unwrap();
        assert!(is_ours(PATH, Some(&from_it), public));
        assert!(!is_ours(PATH, Some(&remote), public));
    }

    #[test]
    fn the_request_asks_for_the_path() {
        let line = std::str::from_utf8(REQUEST).unwrap().lines().next().unwrap();
        assert_eq!(line, format!("GET {PATH} HTTP/1.1"));
    }
}
