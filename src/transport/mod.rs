//! The transport: the only code that touches tiny_http, and everything that compensates for
//! it. `server.rs` owns the listener, the worker threads, the heartbeat and shutdown;
//! `exchange.rs` takes one request from tiny_http's queue to the bytes of its answer;
//! `screen.rs`, `hangup.rs`, `slow.rs`, `spares.rs` and `rescue.rs` guard it against hostile
//! heads, slow bodies and a starved connection pool; `request.rs`/`response.rs` are the plain values in and
//! out; `router.rs` matches a request to a route of the table. What it serves is a [`Site`], which
//! the layer above hands it at start (`routes::Web`): the table, each thread's context, and the
//! rules of access.
//!
//! Architecture Invariant: nothing outside this folder names tiny_http, and nothing here imports a
//! web area, the store or the configuration (`src/architecture/layers.rs` checks both). Handlers,
//! access rules and pages are the site's; the transport reads requests and writes answers.

pub mod exchange;
pub mod hangup;
pub mod request;
pub mod rescue;
pub mod response;
pub mod router;
pub mod screen;
pub mod server;
pub mod slow;
pub mod spares;

pub use request::{Method, Req};
pub use response::Response;

use crate::metrics::Metrics;
use router::Route;

/// What the transport serves, handed to [`server::start`] by the layer above (`routes::Web`):
/// the route table, each thread's context, and the rules of access, which are the site's
/// business, never the transport's.
pub trait Site: Send + Sync + 'static {
    /// What a handler works with; each thread that serves requests owns one (`web::Ctx`).
    type Ctx: Send + 'static;

    /// Every endpoint, matched in order.
    fn routes(&self) -> &'static [Route<Self::Ctx>];

    /// A context for a new worker thread.
    fn context(&self) -> Result<Self::Ctx, String>;

    /// A context for a request that continues on a thread of its own (a slow body); `None` when
    /// none can be had (the server is stopping, or no database connection opens).
    fn spare(&self) -> Option<Self::Ctx>;

    /// Takes back a context [`Site::spare`] gave out, once its request is answered.
    fn recycle(&self, ctx: Self::Ctx);

    /// Lets go of what contexts still to be made would hold (the writer), so it can stop.
    fn shut(&self);

    /// Whether `path` does not exist in this configuration, whatever the method (an area that
    /// is turned off): answered 404 before routing.
    fn hides(&self, path: &str) -> bool;

    /// Answers a routed request: access, the handler (through [`router::run`]), error pages.
    fn serve(&self, ctx: &mut Self::Ctx, req: &mut Req, route: &'static Route<Self::Ctx>) -> Response;

    /// Where every answered request is counted.
    fn metrics(&self) -> &Metrics;
}
