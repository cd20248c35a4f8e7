//! Rescuing connections that tiny_http accepted but never started serving.
//!
//! tiny_http 0.12 serves each connection on a thread of its task pool. The pool adds a thread
//! only when a new connection arrives while no thread is idle; in a burst, connections are queued
//! behind "idle" threads that are about to take other work, and then wait in the queue until some
//! other connection ends, which for keep-alive or slow clients can take many seconds (measured:
//! 28 of 64 connections unserved for a whole 10 s benchmark; a health probe stuck for 9.7 s
//! behind twenty slow uploads).
//!
//! A queued connection is visible from outside: it is established on our port and the kernel
//! holds bytes for it that nobody reads. This thread looks for such connections in
//! `/proc/self/net/tcp{,6}` every [`INTERVAL`]; for each one seen stuck in two consecutive looks,
//! it opens and immediately closes a connection to the listener. With every pool thread busy,
//! that connection makes the pool add a thread, which finishes the empty connection at once and
//! then takes the oldest queued one. A false alarm costs one short-lived idle thread.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

pub const INTERVAL: Duration = Duration::from_millis(100);
/// At most this many rescues per look.
const MAX_PER_LOOK: usize = 64;

/// Connections rescued so far (for the metrics).
pub static RESCUED: AtomicU64 = AtomicU64::new(0);

pub fn spawn(
    listener: SocketAddr,
    probe: SocketAddr,
    stopping: std::sync::Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new().name("rescue".into()).spawn(move || {
        let mut previous: HashSet<String> = HashSet::new();
        let mut readable = true;
        while !stopping.load(Ordering::SeqCst) {
            thread::sleep(INTERVAL);
            let stuck = match waiting_connections(listener.port()) {
                Ok(stuck) => stuck,
                Err(e) => {
                    if readable {
                        log::warn!("cannot watch for unserved connections ({e}); relying on connection rotation");
                        readable = false;
                    }
                    continue;
                }
            };
            let rescue = stuck.intersection(&previous).count().min(MAX_PER_LOOK);
            for _ in 0..rescue {
                // Connect and hang up: the pool thread this makes takes a queued connection next.
                let _ = TcpStream::connect_timeout(&probe, Duration::from_millis(200));
            }
            if rescue > 0 {
                RESCUED.fetch_add(rescue as u64, Ordering::Relaxed);
                log::debug!("nudged the connection pool for {rescue} waiting connections");
            }
            previous = stuck;
        }
    })
}

/// Established connections on local `port` with unread bytes in their receive queue, by remote
/// address.
pub fn waiting_connections(port: u16) -> std::io::Result<HashSet<String>> {
    let mut found = HashSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        match std::fs::read_to_string(table) {
            Ok(text) => found.extend(parse(&text, port)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

/// Parses a `/proc/net/tcp` table: `sl local rem st tx_queue:rx_queue ...`, addresses as
/// `HEXIP:HEXPORT`, state `01` = established.
fn parse(text: &str, port: u16) -> impl Iterator<Item = String> + '_ {
    let port_hex = format!(":{port:04X}");
    text.lines().skip(1).filter_map(move |line| {
        let mut fields = line.split_whitespace();
        let (_, local, remote, state, queues) =
            (fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        if state != "01" || !local.ends_with(&port_hex) {
            return None;
        }
        let rx = u64::from_str_radix(queues.split_once(':')?.1, 16).ok()?;
        (rx > 0).then(|| remote.to_string())
    })
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
    fn finds_established_connections_with_unread_bytes_on_our_port() {
        let found: Vec<String> = parse(SAMPLE, 8080).collect();
        // Not the listener (state 0A), not an idle connection, not a client socket whose remote
        // port is ours, not another port.
        assert_eq!(found, ["0100007F:C350"]);
    }

    #[test]
    fn reads_the_live_tables() {
        // This process has no listener on port 1; the tables must still be readable.
        assert!(waiting_connections(1).unwrap().is_empty());
    }
}
