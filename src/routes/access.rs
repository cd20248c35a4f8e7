//! Access rules: what a route's [`Access`] asks before its handler runs, and what a refusal or
//! an error looks like in each area. An API route needs a valid key, and a test key only where
//! its [`KeyScope`] admits one (403 `live_key_required` otherwise); an admin page an admin
//! session (`admin::guard`), and only while the admin is on; a portal page an affiliate's session
//! (`portal::guard`). Errors of the admin and the portal are pages, the others JSON, and every
//! page of either carries the pages' headers (`ui::layout::harden`).
//!
//! Architecture Invariant: the transport never checks access; it hands every routed request to
//! [`invoke`] through the site (`site.rs`).

use super::{Access, KeyScope, Route};
use crate::error::Error;
use crate::store::keys;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::transport::router::{self, not_found};
use crate::ui::layout::harden;
use crate::web::Ctx;
use crate::{admin, portal};

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
                return harden(refused);
            }
        }
        (Access::Admin, None) => return not_found(req),
        (Access::PortalLogin, _) => {}
        (Access::Portal, _) => {
            if let Err(refused) = portal::guard(ctx, req) {
                return harden(refused);
            }
        }
    }
    let outcome = router::run(route, ctx, req);
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
    if is_admin || is_portal { harden(response) } else { response }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Serve;
    use crate::metrics::Metrics;
    use crate::store;
    use crate::store::writer::Writer;
    use crate::transport::request::{self, Method};
    use std::sync::Arc;
    use std::time::Duration;

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
