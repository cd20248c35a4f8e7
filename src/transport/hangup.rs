//! Closing a connection that tiny_http owns.
//!
//! tiny_http 0.12 keeps every connection's socket to itself: after a request is answered it reads
//! the next one from the same connection, and when a request is dropped with part of its body
//! unread it first reads and discards the rest, which waits for the client. Neither can be
//! stopped through its API. To refuse a request and really close its connection (a protocol
//! upgrade, ambiguous framing, a body nobody will read), we find the connection's socket among
//! the process's descriptors by its two addresses and shut it down: tiny_http's reads then end at
//! once (end of stream), it stops reading requests from it and closes it.
//!
//! The socket is found by scanning `/proc/self/fd` (one `getsockname` per descriptor, a few
//! milliseconds with thousands of connections; only refused requests pay it). Its inode names
//! the connection: a later connection from the same address and port is another socket. Only a socket whose local and peer addresses
//! both match is touched; while the caller still holds the tiny_http request, that socket cannot
//! be closed and its number reused. [`Closed`] remembers the connections closed this way, so
//! that a request tiny_http had already read from one is recognised. This module never reads or
//! writes a socket.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a closed connection is remembered: far longer than tiny_http needs to hand over what
/// it had read from it.
const CLOSED_MEMORY: Duration = Duration::from_secs(30);

/// The connections we closed, by peer address: their socket's inode, and when. A client may
/// reuse its port for a new connection at once; that one is another socket.
#[derive(Default)]
pub struct Closed {
    map: Mutex<HashMap<SocketAddr, (Instant, u64)>>,
    /// Whether `map` has entries, so the common case takes no lock.
    any: AtomicBool,
}

impl Closed {
    /// Remembers that `peer`'s connection, the socket `inode`, was closed by us.
    pub fn note(&self, peer: SocketAddr, inode: u64) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= 4096 {
            map.retain(|_, (at, _)| now.duration_since(*at) < CLOSED_MEMORY);
        }
        map.insert(peer, (now, inode));
        self.any.store(true, Ordering::SeqCst);
    }

    /// Whether a request from `peer` to `local` came on a connection we closed: the same
    /// address, and the same socket or none left.
    pub fn contains(&self, local: SocketAddr, peer: SocketAddr) -> bool {
        if !self.any.load(Ordering::SeqCst) {
            return false;
        }
        let inode = {
            let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(&peer) {
                Some((at, inode)) if at.elapsed() < CLOSED_MEMORY => *inode,
                _ => return false,
            }
        };
        let same = find(local, peer).is_none_or(|now| now.inode == inode);
        if !same {
            // A new connection from a reused port: forget the old one.
            self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(&peer);
        }
        same
    }
}

/// A connection's socket, found among this process's descriptors.
pub struct Socket {
    fd: RawFd,
    /// Names this connection, not a later one between the same two addresses.
    pub inode: u64,
}

impl Socket {
    /// Shuts the socket down. Only while the caller holds the tiny_http request of this
    /// connection: that keeps the descriptor open, so its number still names this socket.
    pub fn shut_down(&self, how: Shutdown) {
        // SAFETY: see above; the descriptor is only borrowed for the call.
        let borrowed = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = socket2::SockRef::from(&borrowed).shutdown(how);
    }
}

/// Shuts down (`how`) the socket of this process that is the connection between `local` and
/// `peer`, checking its addresses right before; `false` if there is no such socket.
pub fn hang_up(local: SocketAddr, peer: SocketAddr, how: Shutdown) -> bool {
    find_with(local, peer, Some(how)).is_some()
}

/// The socket of this process that is the connection between `local` and `peer`.
pub fn find(local: SocketAddr, peer: SocketAddr) -> Option<Socket> {
    find_with(local, peer, None)
}

fn find_with(local: SocketAddr, peer: SocketAddr, shutdown: Option<Shutdown>) -> Option<Socket> {
    let mut found = None;
    for (fd, from) in connections(local)? {
        if !same(from, peer) {
            continue;
        }
        let Some(inode) = inode(fd) else { continue };
        let Some(how) = shutdown else { return Some(Socket { fd, inode }) };
        // tiny_http holds two descriptors of the socket; shutting one down is enough, but both
        // are visited.
        // SAFETY: as in `connections`; the caller holds this connection open.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let _ = socket2::SockRef::from(&borrowed).shutdown(how);
        found = Some(Socket { fd, inode });
    }
    found
}

/// The descriptors of this process that are connections accepted on `local`, with their peer's
/// address (tiny_http holds two descriptors per connection: both are listed), found as the
/// iterator advances. `None` if the descriptor table cannot be read. Costs one `readdir` and a
/// few short system calls per descriptor, each of which the kernel may interrupt: no walk of the
/// machine's connection tables.
pub fn connections(local: SocketAddr) -> Option<impl Iterator<Item = (RawFd, SocketAddr)>> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(dir.flatten().filter_map(move |entry| {
        let fd = entry.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok())?;
        // SAFETY: the descriptor is only borrowed for these calls. If it was closed since the
        // directory was read, the calls fail (EBADF) or see another descriptor's addresses,
        // which then do not match: a connection's 4-tuple is unique while it is open.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let sock = socket2::SockRef::from(&borrowed);
        let addr = sock.local_addr().ok()?.as_socket()?;
        if !accepted_on(addr, local) {
            return None;
        }
        Some((fd, sock.peer_addr().ok()?.as_socket()?))
    }))
}

fn inode(fd: RawFd) -> Option<u64> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes the struct we pass and nothing else.
    let ok = unsafe { libc::fstat(fd, stat.as_mut_ptr()) } == 0;
    // SAFETY: fstat succeeded, so the struct is filled in.
    ok.then(|| unsafe { stat.assume_init() }.st_ino)
}

/// Whether a socket bound to `addr` was accepted by a listener on `local`: the same port, and the
/// same address unless the listener takes every address (`0.0.0.0`, `[::]`).
fn accepted_on(addr: SocketAddr, local: SocketAddr) -> bool {
    addr.port() == local.port() && (local.ip().is_unspecified() || same(addr, local))
}

/// Addresses compared with IPv4-mapped IPv6 folded to IPv4 (a dual-stack listener reports its
/// peers that way).
fn same(a: SocketAddr, b: SocketAddr) -> bool {
    let canonical = |s: SocketAddr| match s.ip() {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(s.ip()),
        ip => ip,
    };
    a.port() == b.port() && canonical(a) == canonical(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn only_the_named_connection_is_shut_down() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let mut keep_client = TcpStream::connect(local).unwrap();
        let (_keep, _) = listener.accept().unwrap();
        let mut cut_client = TcpStream::connect(local).unwrap();
        let (cut, peer) = listener.accept().unwrap();
        let _clone = cut.try_clone().unwrap();
        assert!(find(local, peer).is_some_and(|s| s.inode > 0));
        assert!(hang_up(local, peer, Shutdown::Both));
        // The client of the cut connection sees the end of the stream; the other does not.
        let mut buf = [0u8; 8];
        assert_eq!(cut_client.read(&mut buf).unwrap(), 0);
        keep_client.set_nonblocking(true).unwrap();
        assert_eq!(keep_client.read(&mut buf).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
        assert!(!hang_up(local, "127.0.0.1:1".parse().unwrap(), Shutdown::Both));
        assert!(find(local, "127.0.0.1:1".parse().unwrap()).is_none());
    }

    #[test]
    fn connections_to_a_wildcard_listener_are_found() {
        // Accepted sockets carry the address the client reached, never 0.0.0.0.
        let listener = TcpListener::bind("0.0.0.0:0").unwrap();
        let local = listener.local_addr().unwrap();
        let _client = TcpStream::connect(("127.0.0.1", local.port())).unwrap();
        let (_served, peer) = listener.accept().unwrap();
        assert!(find(local, peer).is_some());
        assert!(connections(local).unwrap().any(|(_, p)| p == peer));
    }
}
