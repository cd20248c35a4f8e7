//! Liveness and metrics: `GET /healthz` and `GET /metrics`.

use std::time::Instant;

use super::response::Response;
use super::{Ctx, Req};
use crate::error::Error;
use crate::metrics::Gauges;

/// 200 `{"status":"ok"}` only after a real read on the database and a round trip through the
/// writer thread; 503 otherwise. The process being alive is not enough.
pub fn healthz(ctx: &mut Ctx, _req: &Req) -> Result<Response, Error> {
    let started = Instant::now();
    let read = crate::store::probe(&ctx.db).map_err(|e| format!("database read failed: {e}"));
    let write = read.and_then(|_| ctx.writer.run(|_| Ok(())).map_err(|e| format!("writer: {e}")));
    match write {
        Ok(()) => Ok(Response::json(200, &serde_json::json!({"status": "ok"}))),
        Err(problem) => {
            log::error!("health check failed after {:?}: {problem}", started.elapsed());
            Ok(Response::json(
                503,
                &serde_json::json!({
                    "status": "unavailable",
                    "error": {"code": "unhealthy", "message": problem},
                }),
            ))
        }
    }
}

pub fn metrics(ctx: &mut Ctx, _req: &Req) -> Result<Response, Error> {
    let size = |suffix: &str| {
        let mut path = ctx.config.db.clone().into_os_string();
        path.push(suffix);
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    };
    let stats = &ctx.writer.stats;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let gauges = Gauges {
        database_bytes: size(""),
        wal_bytes: size("-wal"),
        writer_batches: load(&stats.batches),
        writer_jobs: load(&stats.jobs),
        writer_failed_commits: load(&stats.failed_commits),
        extra: vec![
            (
                "affiliated_connections_rescued_total",
                "Connections tiny_http accepted but left unserved, handed a thread by the watch.",
                true,
                super::rescue::RESCUED.load(std::sync::atomic::Ordering::Relaxed),
            ),
            (
                "affiliated_postback_backlog",
                "Outbound postbacks waiting to be delivered.",
                false,
                crate::store::deliveries::pending_count(&ctx.db).unwrap_or(0).max(0) as u64,
            ),
            (
                "affiliated_webhook_backlog",
                "Merchant webhook events waiting to be delivered.",
                false,
                crate::store::deliveries::pending_in(&ctx.db, crate::store::deliveries::Outbox::Webhooks)
                    .unwrap_or(0)
                    .max(0) as u64,
            ),
        ],
    };
    let text = ctx.metrics.render(&gauges);
    Ok(Response::bytes(200, "text/plain; version=0.0.4; charset=utf-8", text.into_bytes()))
}

pub const OPENAPI: &str = include_str!("../../docs/openapi.yaml");

pub fn openapi(_ctx: &mut Ctx, _req: &Req) -> Result<Response, Error> {
    Ok(Response::bytes(200, "application/yaml; charset=utf-8", OPENAPI.as_bytes().to_vec()))
}
