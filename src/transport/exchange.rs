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
use std::net::{Shutdown, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::request::{self, BodyError, MAX_BODY, Method, Req};
use super::rescue::Peers;
use super::response::Response;
use super::router::{self, Access, Found, KeyScope, Route};
use crate::error::Error;
use crate::store::{self, keys};
use crate::transport::{hangup, screen, slow};
use crate::web::Ctx;
use crate::{admin, portal};

/// A keep-alive connection is closed after its first answer past this age.
pub const CONNECTION_LIFETIME: Duration = Duration::from_millis(500);
/// User agent of the server's own health probes (logged at debug level only).
pub const HEARTBEAT_AGENT: &str = "affiliated-heartbeat";

/// What every worker shares.
pub struct Exchanges {
    pub stopping: Arc<AtomicBool>,
    /// Which connections requests came from; read by the connection watch (`rescue.rs`).
    pub peers: Arc<Peers>,
    /// Read connections for requests that continue on their own thread.
    spare: Mutex<Vec<rusqlite::Connection>>,
    /// A context to clone for such requests (its connection is never used).
    template: Mutex<Option<CtxParts>>,
    /// The listening address: with a peer's address, it names a connection's socket.
    local: SocketAddr,
    /// Connections closed by [`answer_and_close`]: requests tiny_http had already read from them
    /// (pipelined behind the refused one) are dropped unanswered.
    closed: hangup::Closed,
}

struct CtxParts {
    door: crate::intake::Door,
    config: Arc<crate::config::Serve>,
    metrics: Arc<crate::metrics::Metrics>,
    admin: Option<Arc<admin::Admin>>,
    flood: Arc<crate::intake::flood::Flood>,
}

impl Exchanges {
    pub fn new(stopping: Arc<AtomicBool>, ctx: &Ctx, local: SocketAddr) -> Exchanges {
        slow::quiet_discard_panics();
        Exchanges {
            local,
            closed: hangup::Closed::default(),
            stopping,
            peers: Arc::new(Peers::default()),
            spare: Mutex::new(Vec::new()),
            template: Mutex::new(Some(CtxParts {
                door: ctx.door.clone(),
                config: ctx.config.clone(),
                metrics: ctx.metrics.clone(),
                admin: ctx.admin.clone(),
                flood: ctx.flood.clone(),
            })),
        }
    }

    /// Lets go of the writer handle kept for slow requests, so the writer can stop.
    pub fn shut(&self) {
        *self.template.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Requests on their own threads right now.
    pub fn slow_in_flight(&self) -> usize {
        slow::SLOW_IN_FLIGHT.load(Ordering::SeqCst)
    }

    fn spare_ctx(&self) -> Option<Ctx> {
        let template = self.template.lock().unwrap_or_else(|p| p.into_inner());
        let parts = template.as_ref()?;
        let db = self.spare.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let db = match db {
            Some(db) => db,
            None => store::open_reader(&parts.config.db).map_err(|e| log::error!("{e}")).ok()?,
        };
        Some(Ctx {
            db,
            door: parts.door.clone(),
            config: parts.config.clone(),
            metrics: parts.metrics.clone(),
            admin: parts.admin.clone(),
            catalog: Default::default(),
            flood: parts.flood.clone(),
        })
    }

    fn return_ctx(&self, ctx: Ctx) {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < 8 {
            spare.push(ctx.db);
        }
    }
}

/// Where a request is being completed: on a worker, or on a thread of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Worker,
    Own,
}

/// Handles one request on a worker.
pub fn handle(ctx: &mut Ctx, ex: &Arc<Exchanges>, rq: tiny_http::Request) {
    let started = Instant::now();
    let method = Method::from_tiny(rq.method());
    let headers = request::headers_of(rq.headers());
    let peer = rq.remote_addr().copied();
    let client_ip =
        request::client_ip(peer.map(|p| p.ip()), headers.forwarded_for.as_deref(), &ctx.config.trusted_proxies);
    let req = Req::from_parts(method, rq.url(), headers, client_ip);
    if let Some(refusal) = screen::check_request(&rq) {
        let response = Response::error(&Error::new(refusal.status, refusal.code, refusal.message));
        return refuse(ctx, ex, rq, &req, started, &response);
    }
    // tiny_http reads bodies of up to 1 KiB before handing the request over, unless the client
    // waits for `100 Continue`; only a larger, chunked or awaited body can keep us waiting.
    let may_block = has_body(&rq) && (rq.body_length().is_none_or(|n| n > 1024) || expects_continue(&rq));
    if !may_block {
        return complete(ctx, ex, rq, req, peer, started, Place::Worker);
    }
    let Some(own) = ex.spare_ctx() else {
        return refuse(ctx, ex, rq, &req, started, &slow::busy());
    };
    let ex2 = ex.clone();
    let offloaded = slow::offload((rq, req, own), move |(rq, req, mut own)| {
        complete(&mut own, &ex2, rq, req, peer, started, Place::Own);
        ex2.return_ctx(own);
    });
    if let Err((rq, req, own)) = offloaded {
        ex.return_ctx(own);
        log::warn!("{} slow requests are in flight already; answering 503", slow::MAX_SLOW);
        refuse(ctx, ex, rq, &req, started, &slow::busy());
    }
}

fn has_body(rq: &tiny_http::Request) -> bool {
    rq.body_length().is_some_and(|n| n > 0) || rq.headers().iter().any(|h| h.field.equiv("Transfer-Encoding"))
}

fn expects_continue(rq: &tiny_http::Request) -> bool {
    rq.headers().iter().any(|h| h.field.equiv("Expect") && h.value.as_str().eq_ignore_ascii_case("100-continue"))
}

/// Answers `response` without reading anything more from the connection, and closes it.
fn refuse(ctx: &Ctx, ex: &Exchanges, rq: tiny_http::Request, req: &Req, started: Instant, response: &Response) {
    let label = match router::find(req.method, &req.path) {
        Found::Route(route, _) => route.pattern,
        _ => "unmatched",
    };
    let elapsed = started.elapsed();
    ctx.metrics.observe(req.method.as_str(), label, response.status, elapsed);
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
fn answer_and_close(ex: &Exchanges, rq: tiny_http::Request, response: &Response) {
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
fn complete(
    ctx: &mut Ctx,
    ex: &Arc<Exchanges>,
    mut rq: tiny_http::Request,
    mut req: Req,
    peer: Option<SocketAddr>,
    started: Instant,
    place: Place,
) {
    let method = req.method;
    let found = router::find(method, &req.path);
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
        ctx.metrics.observe(method.as_str(), label, response.status, elapsed);
        send_unread(rq, &response, ex, place);
        return log_access(&req, label, response.status, elapsed, peer);
    }
    let close = ex.stopping.load(Ordering::Relaxed) || peer.is_some_and(|p| rotation_due(ex, p));
    let head = rq.method() == &tiny_http::Method::Head;
    let connection = connection_header(&rq, close);
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
    let response = dispatch(ctx, &mut req, found);
    // Counted before the answer leaves, so a client that reads /metrics next sees its request.
    let elapsed = started.elapsed();
    ctx.metrics.observe(method.as_str(), label, response.status, elapsed);
    let _ = out.write_all(&response.encode(head, connection)).and_then(|()| out.flush());
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
fn rotation_due(ex: &Exchanges, peer: SocketAddr) -> bool {
    let now = Instant::now();
    let first = ex.peers.note(peer, now);
    let due = super::rescue::UNWATCHED.load(Ordering::Relaxed) && now.duration_since(first) >= CONNECTION_LIFETIME;
    if due {
        ex.peers.forget(peer);
    }
    due
}

fn dispatch(ctx: &mut Ctx, req: &mut Req, found: Found) -> Response {
    if ctx.admin.is_none() && admin::is_admin_path(&req.path) {
        // Without an admin token the admin does not exist, whatever the method.
        return not_found(req);
    }
    if !ctx.config.portal && portal::is_portal_path(&req.path) {
        // With --portal off the portal does not exist, whatever the method.
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
    invoke(ctx, req, route)
}

/// Checks access and runs the handler. A panic is caught and answered with 500: one bad request
/// never takes a worker, let alone the server, down. Admin routes answer with pages, not JSON.
pub fn invoke(ctx: &mut Ctx, req: &mut Req, route: &Route) -> Response {
    match (route.access, &ctx.admin) {
        (Access::Public, _) => {}
        (Access::ApiKey(scope), _) => {
            if let Err(e) = authenticate(ctx, req) {
                return Response::error(&e);
            }
            if req.test_key && scope == KeyScope::Live {
                return Response::error(&live_key_required());
            }
        }
        (Access::AdminLogin, _) => {}
        (Access::Admin, Some(_)) => {
            if let Err(refused) = admin::guard(ctx, req) {
                return admin::harden(refused);
            }
        }
        (Access::Admin, None) => return not_found(req),
        (Access::PortalLogin, _) => {}
        (Access::Portal, _) => {
            if let Err(refused) = portal::guard(ctx, req) {
                return admin::harden(refused);
            }
        }
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| (route.handler)(ctx, req))).unwrap_or_else(|panic| {
        Err(Error::internal(format!("handler panicked: {}", crate::error::panic_text(&*panic))))
    });
    let is_admin = matches!(route.access, Access::Admin | Access::AdminLogin);
    let is_portal = matches!(route.access, Access::Portal | Access::PortalLogin);
    let response = match outcome {
        Ok(response) => response,
        Err(e) => {
            if e.status >= 500 {
                log::error!("{} {}: {e}", req.method.as_str(), route.pattern);
            }
            if is_admin {
                admin::error_page(req, &e)
            } else if is_portal {
                portal::error_page(req, &e)
            } else {
                Response::error(&e)
            }
        }
    };
    // The portal's pages carry the admin's headers: no caching, the same CSP, no framing.
    if is_admin || is_portal { admin::harden(response) } else { response }
}

/// A test key on an endpoint for live keys only (`KeyScope::Live`).
fn live_key_required() -> Error {
    Error::new(
        403,
        "live_key_required",
        "this endpoint needs a live API key: a test key (afk_test_…) reads the catalog and writes and reads test \
         data only (see docs/controls.md)",
    )
}

fn not_found(req: &Req) -> Response {
    let path = crate::tracking::validate::metadata(&req.path, 200);
    Response::error(&Error::not_found("not_found", format!("no endpoint at {path}")))
}

fn authenticate(ctx: &Ctx, req: &mut Req) -> Result<(), Error> {
    let key = req.presented_key().ok_or_else(|| {
        Error::unauthorized("send your API key in the X-Api-Key header or as Authorization: Bearer <key>")
    })?;
    let id = keys::verify(&ctx.db, key)?
        .ok_or_else(|| Error::unauthorized("this API key is not valid (mistyped or revoked)"))?;
    req.key_id = Some(id.id);
    req.test_key = id.test;
    Ok(())
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

fn send_unread(rq: tiny_http::Request, response: &Response, ex: &Arc<Exchanges>, place: Place) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Serve;
    use crate::metrics::Metrics;
    use crate::store::writer::Writer;

    fn ctx() -> Ctx {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        store::migrate::run(&db).unwrap();
        let (writer, _) = Writer::start(rusqlite::Connection::open_in_memory().unwrap(), Duration::from_secs(1));
        let config = Serve::from_args(&crate::config::Args::default()).unwrap();
        Ctx {
            db,
            door: crate::intake::Door::new(writer),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            admin: None,
            catalog: Default::default(),
            flood: Default::default(),
        }
    }

    fn panics(_: &mut Ctx, _: &Req) -> Result<Response, Error> {
        panic!("handler bug")
    }

    #[test]
    fn a_panicking_handler_answers_500_and_the_worker_goes_on() {
        let mut ctx = ctx();
        let route = Route { method: Method::Get, pattern: "/boom", access: Access::Public, handler: panics };
        let mut req = Req::from_parts(Method::Get, "/boom", request::Headers::default(), None);
        let response = invoke(&mut ctx, &mut req, &route);
        assert_eq!(response.status, 500);
        assert!(String::from_utf8_lossy(&response.body).contains("internal_error"));
        // The same context still serves requests.
        let health = Route {
            method: Method::Get,
            pattern: "/healthz",
            access: Access::Public,
            handler: crate::endpoints::health::healthz,
        };
        assert_eq!(invoke(&mut ctx, &mut req, &health).status, 200);
    }

    #[test]
    fn api_routes_refuse_requests_without_a_key_before_the_handler_runs() {
        let mut ctx = ctx();
        let route =
            Route { method: Method::Get, pattern: "/boom", access: Access::ApiKey(KeyScope::Live), handler: panics };
        let mut req = Req::from_parts(Method::Get, "/boom", request::Headers::default(), None);
        assert_eq!(invoke(&mut ctx, &mut req, &route).status, 401);
    }
}
