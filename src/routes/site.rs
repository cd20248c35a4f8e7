//! [`Web`]: the site the transport serves. It hands the transport the route table, makes each
//! thread's context (`web::Ctx`: a read connection of its own, the writer as `intake::Door`, the
//! configuration, the metrics), hides the areas that are off (`/admin` without an admin,
//! `/portal` with `--portal off`: 404 whatever the method), and answers a routed request through
//! the access rules (`access.rs`).
//!
//! Architecture Invariant: the writer reaches the HTTP side only here, as a `Door`, and is let go
//! of by [`shut`](Site::shut) so that it can stop.

use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::{ROUTES, Route};
use crate::admin;
use crate::config::Serve;
use crate::intake::Door;
use crate::intake::flood::Flood;
use crate::metrics::Metrics;
use crate::portal;
use crate::store;
use crate::transport::{Req, Response, Site};
use crate::web::Ctx;
use crate::web::admin_account::Admin;

/// Read connections kept for requests that continue on a thread of their own.
const SPARE_CONNECTIONS: usize = 8;

pub struct Web {
    config: Arc<Serve>,
    metrics: Arc<Metrics>,
    /// The merchant admin's shared state; `None` when the admin is off (no `/admin`).
    admin: Option<Arc<Admin>>,
    /// Click counts for the `click_flood` rule, shared by all workers.
    flood: Arc<Flood>,
    /// The writer, for the contexts still to be made; `None` once the server stops.
    door: Mutex<Option<Door>>,
    /// Read connections of requests that continued on their own thread, for the next ones.
    spare: Mutex<Vec<Connection>>,
}

impl Web {
    pub fn new(config: Arc<Serve>, door: Door, metrics: Arc<Metrics>) -> Web {
        let admin = config.admin_token_sha256.map(|sha256| Arc::new(Admin::new(sha256)));
        Web {
            config,
            metrics,
            admin,
            flood: Arc::new(Flood::default()),
            door: Mutex::new(Some(door)),
            spare: Mutex::new(Vec::new()),
        }
    }

    /// A context around `db`, unless the server is stopping.
    fn context_with(&self, db: Connection) -> Option<Ctx> {
        let door = self.door.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        Some(Ctx {
            db,
            door,
            config: self.config.clone(),
            metrics: self.metrics.clone(),
            admin: self.admin.clone(),
            catalog: Default::default(),
            flood: self.flood.clone(),
        })
    }
}

impl Site for Web {
    type Ctx = Ctx;

    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn context(&self) -> Result<Ctx, String> {
        let db = store::open_reader(&self.config.db)?;
        self.context_with(db).ok_or_else(|| "the server is stopping".to_string())
    }

    fn spare(&self) -> Option<Ctx> {
        if self.door.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
            return None;
        }
        let db = self.spare.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let db = match db {
            Some(db) => db,
            None => store::open_reader(&self.config.db).map_err(|e| log::error!("{e}")).ok()?,
        };
        self.context_with(db)
    }

    fn recycle(&self, ctx: Ctx) {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < SPARE_CONNECTIONS {
            spare.push(ctx.db);
        }
    }

    fn shut(&self) {
        *self.door.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn hides(&self, path: &str) -> bool {
        (self.admin.is_none() && admin::is_admin_path(path))
            || (!self.config.portal && portal::is_portal_path(path))
            || (!self.config.signup.is_on() && portal::is_application_path(path))
    }

    fn serve(&self, ctx: &mut Ctx, req: &mut Req, route: &'static Route) -> Response {
        super::invoke(ctx, req, route)
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}
