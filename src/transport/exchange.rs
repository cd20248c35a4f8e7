//! One request from tiny_http's queue to the bytes of its answer.
//!
//! `handle` turns tiny_http's request into a `Req`, refuses hostile heads (`screen.rs`), reads
//! the body (capped, with a deadline), routes, authenticates, runs the handler inside
//! `catch_unwind`, and writes the answer. Four things here exist because of how tiny_http 0.12
//! behaves:
//! - **Refused requests close their connection without reading anything more** (`hangup.rs`):
//!   otherwise tiny_http would discard their body, or read the next request after them.
//! - **Slow bodies never hold a worker.** tiny_http has already read bodies of up to 1 KiB;
//!   anything larger, chunked, or announced with `Expect: 100-continue` may trickle in for as
//!   long as the body deadline. Such requests continue on a short-lived thread of their own
//!   (`slow.rs`: at most 256 at once; beyond that they get 503 with `Retry-After` and their
//!   connection is closed), so slow clients cannot starve the workers.
//! - **Unread bodies are answered first and discarded afterwards**, off the worker: tiny_http
//!   discards what is left of a body when the request is dropped, which blocks until the client
//!   sends it or the socket times out. With no thread to spare, the connection is closed instead.
//! - **Keep-alive connections are rotated** ([`Rotation`]) when the connection watch of
//!   `rescue.rs` cannot run: each connection is then closed (`Connection: close`) after a short
//!   lifetime, which bounds how long tiny_http's pool can leave a queued connection unserved.

use std::io::Write;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::request::{self, BodyError, MAX_BODY, Method, Req};
use super::rescue::Peers;
use super::response::{self, Response};
use super::router::{self, Found, not_found};
use super::{Site, hangup, screen, slow, spares};
use crate::error::Error;

/// A keep-alive connection is closed after its first answer past this age.
pub const CONNECTION_LIFETIME: Duration = Duration::from_millis(500);
/// User agent of the server's own health probes (logged at debug level only).
pub const HEARTBEAT_AGENT: &str = "affiliated-heartbeat";

/// What every worker shares.
pub struct Exchanges<S: Site> {
    pub site: Arc<S>,
    pub stopping: Arc<AtomicBool>,
    /// Which connections requests came from; read by the connection watch (`rescue.rs`).
    pub peers: Arc<Peers>,
    /// Peers whose `X-Forwarded-For` is believed (the reverse proxy).
    trusted_proxies: Vec<IpAddr>,
    /// The listening address: with a peer's address, it names a connection's socket.
    local: SocketAddr,
    /// Connections closed by [`answer_and_close`]: requests tiny_http had already read from them
    /// (pipelined behind the refused one) are dropped unanswered.
    closed: hangup::Closed,
}

impl<S: Site> Exchanges<S> {
    pub fn new(site: Arc<S>, stopping: Arc<AtomicBool>, trusted_proxies: Vec<IpAddr>, local: SocketAddr) -> Self {
        slow::quiet_discard_panics();
        Exchanges {
            site,
            local,
            closed: hangup::Closed::default(),
            stopping,
            trusted_proxies,
            peers: Arc::new(Peers::default()),
        }
    }

    /// Lets go of the writer handle kept for slow requests, so the writer can stop.
    pub fn shut(&self) {
        self.site.shut();
    }

    /// Requests on their own threads right now.
    pub fn slow_in_flight(&self) -> usize {
        slow::SLOW_IN_FLIGHT.load(Ordering::SeqCst)
    }
}

/// Where a request is being completed: on a worker, or on a thread of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Worker,
    Own,
}

/// Handles one request on a worker.
pub fn handle<S: Site>(ctx: &mut S::Ctx, ex: &Arc<Exchanges<S>>, rq: tiny_http::Request) {
    if spares::is_ours(rq.url(), rq.remote_addr(), ex.local) {
        // Our own connection, making a pool thread a spare: no site, no log, no count.
        let mut out = rq.into_writer();
        let _ = out.write_all(spares::ANSWER).and_then(|()| out.flush());
        return;
    }
    let started = Instant::now();
    let method = Method::from_tiny(rq.method());
    let headers = request::headers_of(rq.headers());
    let peer = rq.remote_addr().copied();
    let client_ip = request::client_ip(peer.map(|p| p.ip()), headers.forwarded_for.as_deref(), &ex.trusted_proxies);
    let req = Req::from_parts(method, rq.url(), headers, client_ip);
    if let Some(refusal) = screen::check_request(&rq) {
        let response = Response::error(&Error::new(refusal.status, refusal.code, refusal.message));
        return refuse(ex, rq, &req, started, &response);
    }
    // tiny_http reads bodies of up to 1 KiB before handing the request over, unless the client
    // waits for `100 Continue`; only a larger, chunked or awaited body can keep us waiting.
    let may_block = has_body(&rq) && (rq.body_length().is_none_or(|n| n > 1024) || expects_continue(&rq));
    if !may_block {
        return complete(ctx, ex, rq, req, peer, started, Place::Worker);
    }
    let Some(own) = ex.site.spare() else {
        return refuse(ex, rq, &req, started, &slow::busy());
    };
    let ex2 = ex.clone();
    let offloaded = slow::offload((rq, req, own), move |(rq, req, mut own)| {
        complete(&mut own, &ex2, rq, req, peer, started, Place::Own);
        ex2.site.recycle(own);
    });
    if let Err((rq, req, own)) = offloaded {
        ex.site.recycle(own);
        log::warn!("{} slow requests are in flight already; answering 503", slow::MAX_SLOW);
        refuse(ex, rq, &req, started, &slow::busy());
    }
}

fn has_body(rq: &tiny_http::Request) -> bool {
    rq.body_length().is_some_and(|n| n > 0) || rq.headers().iter().any(|h| h.field.equiv("Transfer-Encoding"))
}

fn expects_continue(rq: &tiny_http::Request) -> bool {
    rq.headers().iter().any(|h| h.field.equiv("Expect") && h.value.as_str().eq_ignore_ascii_case("100-continue"))
}

/// Answers `response` without reading anything more from the connection, and closes it.
fn refuse<S: Site>(ex: &Exchanges<S>, rq: tiny_http::Request, req: &Req, started: Instant, response: &Response) {
    let label = match router::find(ex.site.routes(), req.method, &req.path) {
        Found::Route(route, _) => route.pattern,
        _ => "unmatched",
    };
    let elapsed = started.elapsed();
    ex.site.metrics().observe(req.method.as_str(), label, response.status, elapsed);
    answer_and_close(ex, rq, response);
    log_access(req, label, response.status, elapsed, None);
}

/// Answers and closes the connection without reading anything more from it. Its reads are shut
/// down first, so tiny_http's discarding of the body ends at once and it reads no further request;
/// its writes are shut down after our answer and before tiny_http may write anything of its own
/// (an answer to bytes it had buffered after the refused head waits for our writer to be dropped).
/// There is no lingering close: bytes the client sent beyond what was read make the kernel reset
/// the connection when it is closed, and a client that had not read the answer yet loses it.
/// Only requests refused as malformed or hostile come here.
fn answer_and_close<S: Site>(ex: &Exchanges<S>, rq: tiny_http::Request, response: &Response) {
    let Some(peer) = rq.remote_addr().copied() else {
        return slow::answer_before_drain(rq, response);
    };
    // Noted before its reads end, so a request already read from it is recognised however
    // quickly another worker takes it.
    if let Some(socket) = hangup::find(ex.local, peer) {
        ex.closed.note(peer, socket.inode);
        socket.shut_down(Shutdown::Read);
    }
    if rq.body_length().is_some_and(|n| n > isize::MAX as usize) {
        // Dropping this request panics inside tiny_http before we could write: answer first.
        slow::answer_before_drain(rq, response);
    } else {
        let head = rq.method() == &tiny_http::Method::Head;
        let bytes = response.encode(head, Some("close"));
        if let Ok(mut out) = catch_unwind(AssertUnwindSafe(move || rq.into_writer())) {
            let _ = out.write_all(&bytes).and_then(|()| out.flush());
            hangup::hang_up(ex.local, peer, Shutdown::Both);
            return;
        }
    }
    hangup::hang_up(ex.local, peer, Shutdown::Both);
}

/// Reads the body, runs the handler, answers, counts and logs.
fn complete<S: Site>(
    ctx: &mut S::Ctx,
    ex: &Arc<Exchanges<S>>,
    mut rq: tiny_http::Request,
    mut req: Req,
    peer: Option<SocketAddr>,
    started: Instant,
    place: Place,
) {
    let method = req.method;
    let found = router::find(ex.site.routes(), method, &req.path);
    let label = match &found {
        Found::Route(route, _) => route.pattern,
        _ => "unmatched",
    };
    let declared = rq.body_length();
    let unread = match request::read_body(rq.as_reader(), declared, MAX_BODY) {
        Ok(body) => {
            req.body = body;
            None
        }
        Err(BodyError::TooLarge) => {
            Some(Error::new(413, "payload_too_large", format!("request bodies are limited to {MAX_BODY} bytes")))
        }
        Err(BodyError::TimedOut) => Some(Error::new(408, "request_timeout", "the request body did not arrive in time")),
        Err(BodyError::Broken) => Some(Error::bad_request("invalid_body", "the request body could not be read")),
    };
    if let Some(e) = unread {
        let response = Response::error(&e);
        let elapsed = started.elapsed();
        ex.site.metrics().observe(method.as_str(), label, response.status, elapsed);
        send_unread(rq, &response, ex, place);
        return log_access(&req, label, response.status, elapsed, peer);
    }
    let close = ex.stopping.load(Ordering::Relaxed) || peer.is_some_and(|p| rotation_due(ex, p));
    let head = rq.method() == &tiny_http::Method::Head;
    let connection = connection_header(&rq, close);
    let http10 = rq.http_version() == &tiny_http::HTTPVersion(1, 0);
    // The body was read to its end, so taking the writer discards nothing. Flushing it waits
    // until every earlier request of this connection has been answered (tiny_http writes answers
    // in order): only then is it known whether one of them was refused and its connection closed,
    // in which case this request, read from behind it, is dropped unanswered.
    let mut out = rq.into_writer();
    let _ = out.flush();
    if peer.is_some_and(|p| ex.closed.contains(ex.local, p)) {
        log::debug!("dropping a request read from a connection closed after a refusal");
        return;
    }
    let mut response = dispatch(ex, ctx, &mut req, found);
    // An HTTP/1.0 client cannot read chunks: a streamed body is made whole for it.
    if http10 && !head {
        response = response.into_whole();
    }
    // Counted before the answer leaves, so a client that reads /metrics next sees its request.
    let elapsed = started.elapsed();
    ex.site.metrics().observe(method.as_str(), label, response.status, elapsed);
    let sent = out.write_all(&response.encode(head, connection)).and_then(|()| out.flush());
    if let (Some(stream), false, Ok(())) = (&response.stream, head, sent) {
        // A streamed body: its chunks are made and written one by one. A failure cuts the
        // connection, so the client sees an incomplete body rather than a short file.
        if let Err(e) = response::write_chunks(&mut out, stream) {
            log::warn!("{} {label}: {e}; the connection is cut", method.as_str());
            if let Some(p) = peer {
                hangup::hang_up(ex.local, p, Shutdown::Both);
            }
        }
    }
    log_access(&req, label, response.status, elapsed, peer);
}

/// The access log line. The server's own health probes are logged at debug level only.
fn log_access(req: &Req, label: &str, status: u16, elapsed: Duration, peer: Option<SocketAddr>) {
    let ms = elapsed.as_secs_f64() * 1e3;
    let method = req.method.as_str();
    if req.headers.user_agent.as_deref() == Some(HEARTBEAT_AGENT) && peer.is_some_and(|p| p.ip().is_loopback()) {
        log::debug!(target: "affiliated::access", "{method} {label} {status} {ms:.1}ms");
    } else {
        log::info!(target: "affiliated::access", "{method} {label} {status} {ms:.1}ms");
    }
}

/// Notes the request's connection and says whether to close it now: only while the connection
/// watch cannot run, once the connection has lived [`CONNECTION_LIFETIME`].
fn rotation_due<S: Site>(ex: &Exchanges<S>, peer: SocketAddr) -> bool {
    let now = Instant::now();
    let first = ex.peers.note(peer, now);
    let due = super::rescue::UNWATCHED.load(Ordering::Relaxed) && now.duration_since(first) >= CONNECTION_LIFETIME;
    if due {
        ex.peers.forget(peer);
    }
    due
}

fn dispatch<S: Site>(ex: &Exchanges<S>, ctx: &mut S::Ctx, req: &mut Req, found: Found<S::Ctx>) -> Response {
    if ex.site.hides(&req.path) {
        // An area that is off does not exist, whatever the method.
        return not_found(req);
    }
    let route = match found {
        Found::Route(route, params) => {
            req.params = params;
            route
        }
        Found::Nothing => return not_found(req),
        Found::WrongMethod(allowed) => {
            let mut names: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
            if names.contains(&"GET") {
                names.push("HEAD");
            }
            let e = Error::new(405, "method_not_allowed", format!("use {} for this path", names.join(" or ")));
            return Response::error(&e).with_header("Allow", names.join(", "));
        }
    };
    ex.site.serve(ctx, req, route)
}

/// The `Connection` header to send. HTTP/1.0 clients get an explicit answer either way.
fn connection_header(rq: &tiny_http::Request, close: bool) -> Option<&'static str> {
    let asked =
        rq.headers().iter().find(|h| h.field.equiv("Connection")).map(|h| h.value.as_str().to_ascii_lowercase());
    let http10 = rq.http_version() == &tiny_http::HTTPVersion(1, 0);
    let client_closes = match &asked {
        Some(v) if v.contains("close") => true,
        Some(v) => http10 && !v.contains("keep-alive"),
        None => http10,
    };
    if close || client_closes {
        Some("close")
    } else if http10 {
        Some("keep-alive")
    } else {
        None
    }
}

fn send_unread<S: Site>(rq: tiny_http::Request, response: &Response, ex: &Arc<Exchanges<S>>, place: Place) {
    // Part of the body is still unread. Answer first, then let tiny_http discard the rest, which
    // waits for the client: never on a worker.
    if place == Place::Own {
        return slow::answer_before_drain(rq, response);
    }
    let offloaded = slow::offload((rq, response.clone()), |(rq, response)| slow::answer_before_drain(rq, &response));
    if let Err((rq, response)) = offloaded {
        log::warn!(
            "{} slow requests are in flight; closing a connection instead of discarding its body",
            slow::MAX_SLOW
        );
        answer_and_close(ex, rq, &response);
    }
}
