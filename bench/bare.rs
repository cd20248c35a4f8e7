//! The ceiling of tiny_http 0.12 itself on this box: a server that does nothing but answer every
//! request with the same 302 nginx answers in bench/run, from N worker threads calling `recv()`
//! as affiliated's workers do. No routing, no database, no logging.
//!
//!     bare PORT [WORKERS]
//!
//! Used by bench/ceiling to split affiliated's cost per request into tiny_http's share and ours.

use std::thread;

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect("usage: bare PORT [WORKERS]");
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(32);
    let server = tiny_http::Server::http(("127.0.0.1", port)).expect("cannot listen");
    let location = tiny_http::Header::from_bytes("Location", "https://shop.example/landing?click_id=x").unwrap();
    thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Ok(rq) = server.recv() {
                    let answer = tiny_http::Response::empty(302).with_header(location.clone());
                    let _ = rq.respond(answer);
                }
            });
        }
    });
}
