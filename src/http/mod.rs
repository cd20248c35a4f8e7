//! HTTP: the only code that touches tiny_http.
//!
//! `server.rs` owns the listener, the worker threads and shutdown; `router.rs` is the table of
//! endpoints; `request.rs`/`response.rs` turn tiny_http's types into plain values and back;
//! one file per area holds the handlers (`api/`, `admin/`, `portal/`, `redirect.rs`, `health.rs`).
//! Handlers get a [`Ctx`] (their thread's read connection, and the writer as `intake::Door`) and
//! a [`Req`], and return a `Response` or an `Error`. They never write to the socket.
//!
//! Architecture Invariant: no SQL and no writer here. A handler reads through the store's read
//! functions on its own connection and writes through one `intake` function (`Ctx::intake`).

pub mod admin;
pub mod answer;
pub mod api;
pub mod books;
pub mod catalog;
pub mod device;
pub mod exchange;
pub mod hangup;
pub mod health;
pub mod hooks;
pub mod input;
pub mod json;
pub mod pixel;
pub mod portal;
pub mod postback;
pub mod redirect;
pub mod request;
pub mod rescue;
pub mod response;
pub mod router;
pub mod screen;
pub mod server;
pub mod session;
pub mod slow;
pub mod snippet;
pub mod throttle;
pub mod views;

use std::sync::Arc;

use rusqlite::Connection;

pub use request::Req;

use crate::config::Serve;
use crate::intake::Door;
use crate::metrics::Metrics;

/// What a handler works with. Each worker thread owns one.
pub struct Ctx {
    /// This worker's read-only connection.
    pub db: Connection,
    /// The writer, as far as a handler may use it: through `intake` (see [`Ctx::intake`]).
    pub door: Door,
    pub config: Arc<Serve>,
    pub metrics: Arc<Metrics>,
    /// The merchant admin's shared state; `None` when the admin is off (no `/admin`).
    pub admin: Option<Arc<admin::Admin>>,
    /// This worker's cache of affiliates and offers.
    pub catalog: catalog::Catalog,
    /// Click counts for the `click_flood` rule, shared by all workers.
    pub flood: Arc<crate::intake::flood::Flood>,
}

impl Ctx {
    /// What the domain's entry points (`intake`) need from this worker.
    pub fn intake(&self) -> crate::intake::Intake<'_> {
        self.door.intake(&self.db, &self.metrics, &self.flood, &self.config)
    }
}
