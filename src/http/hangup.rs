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
//! The socket is found by scanning `/proc/self/fd` (one `getsockname` per descriptor, which is
//! microseconds even with thousands of connections). Only a socket whose local and peer addresses
//! both match is touched; while the caller still holds the tiny_http request, that socket cannot
//! be closed and its number reused. This module never reads or writes a socket.

use std::net::{Shutdown, SocketAddr};
use std::os::fd::{BorrowedFd, RawFd};

/// Shuts down (`how`) every descriptor of this process whose socket is the connection between
/// `local` and `peer`; returns how many it found (tiny_http holds two per connection).
pub fn hang_up(local: SocketAddr, peer: SocketAddr, how: Shutdown) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let mut found = 0;
    for entry in dir.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok()) else {
            continue;
        };
        // SAFETY: the descriptor is only borrowed for these calls. If it was closed since the
        // directory was read, the calls fail (EBADF) or see another descriptor's addresses,
        // which then do not match: a connection's 4-tuple is unique while it is open, and ours
        // is held open by the caller.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let sock = socket2::SockRef::from(&borrowed);
        let Ok(Some(addr)) = sock.local_addr().map(|a| a.as_socket()) else {
            continue;
        };
        if !same(addr, local) {
            continue;
        }
        if sock.peer_addr().ok().and_then(|a| a.as_socket()).is_some_and(|p| same(p, peer)) {
            let _ = sock.shutdown(how);
            found += 1;
        }
    }
    found
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
        assert_eq!(hang_up(local, peer, Shutdown::Both), 2);
        // The client of the cut connection sees the end of the stream; the other does not.
        let mut buf = [0u8; 8];
        assert_eq!(cut_client.read(&mut buf).unwrap(), 0);
        keep_client.set_nonblocking(true).unwrap();
        assert_eq!(keep_client.read(&mut buf).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
        assert_eq!(hang_up(local, "127.0.0.1:1".parse().unwrap(), Shutdown::Both), 0);
    }
}
