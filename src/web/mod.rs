//! What the web areas share, and none of them owns: the handler's context ([`Ctx`]: its thread's
//! read connection, and the writer as `intake::Door`), body reading (`json.rs`, `form.rs`), the
//! objects read from fields (`input.rs`), the JSON shapes of answers (`views.rs`, `answer.rs`),
//! sessions and their login limits (`session.rs`, `throttle.rs`, `device.rs`), the admin's account
//! (`admin_account.rs`), a period of days read from a query (`period.rs`), files streamed while
//! they are sent (`download.rs`) and each worker's catalog cache (`catalog.rs`). Handlers get a [`Ctx`] and a `transport::Req`, and return a
//! `transport::Response` or an `Error`. They never write to the socket.
//!
//! Architecture Invariant: no SQL and no writer here. A handler reads through the store's read
//! functions on its own connection and writes through one `intake` function (`Ctx::intake`).
//! Nothing here imports a web area (`api`, `admin`, `portal`, `endpoints`).

pub mod admin_account;
pub mod answer;
pub mod catalog;
pub mod device;
pub mod download;
pub mod form;
pub mod input;
pub mod json;
pub mod period;
pub mod session;
pub mod throttle;
pub mod views;

use std::sync::Arc;

use rusqlite::Connection;

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
    pub admin: Option<Arc<admin_account::Admin>>,
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
