//! Liveness and metrics: `GET /healthz` and `GET /metrics`.

use std::time::Instant;

use crate::error::Error;
use crate::intake::Health;
use crate::metrics::Gauges;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::Ctx;

/// Health checks that found writes failing, logged once a minute (the heartbeat checks every
/// second).
static FAILING_WRITES: crate::logging::Summary = crate::logging::Summary::new(std::time::Duration::from_secs(60));

/// 200 `{"status":"ok"}` only after a real read on the database and a round trip through the
/// writer thread; 503 otherwise. The process being alive is not enough.
///
/// While write transactions keep failing to commit (a full disk, an I/O error), the answer is
/// 503 `{"status":"writes_failing"}`: the writer's round trip alone would still succeed, as an
/// empty transaction writes nothing. Each such check tries one real (tiny) write, so the answer
/// turns 200 again as soon as writes work, even on an idle server.
pub fn healthz(ctx: &mut Ctx, _req: &Req) -> Result<Response, Error> {
    let started = Instant::now();
    let problem = match crate::store::probe(&ctx.db) {
        Err(e) => Some(format!("database read failed: {e}")),
        Ok(()) => match ctx.door.health() {
            Health::Ok => None,
            Health::Recovered => {
                log::info!("health check: writes commit again");
                None
            }
            Health::Unreachable(e) => Some(format!("writer: {e}")),
            Health::WritesFailing(e) => {
                if let Some(n) = FAILING_WRITES.record(Instant::now()) {
                    log::error!("health check: write transactions are failing ({n} checks since the last line): {e}");
                }
                return Ok(Response::json(
                    503,
                    &serde_json::json!({
                        "status": "writes_failing",
                        "error": {
                            "code": "writes_failing",
                            "message": "write transactions fail to commit (is the disk full?); nothing new is being stored",
                        },
                    }),
                ));
            }
        },
    };
    match problem {
        None => Ok(Response::json(200, &serde_json::json!({"status": "ok"}))),
        Some(problem) => {
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

/// What waits in the background lanes' queues.
fn backlogs(ctx: &Ctx) -> [(&'static str, &'static str, bool, u64); 3] {
    use crate::store::deliveries::{Outbox, pending_count, pending_in};
    let db = &ctx.db;
    let count = |n: Result<i64, Error>| n.unwrap_or(0).max(0) as u64;
    [
        ("affiliated_postback_backlog", "Outbound postbacks waiting to be delivered.", false, count(pending_count(db))),
        (
            "affiliated_webhook_backlog",
            "Merchant webhook events waiting to be delivered.",
            false,
            count(pending_in(db, Outbox::Webhooks)),
        ),
        (
            "affiliated_email_backlog",
            "E-mails waiting for the SMTP server (0 without --smtp-url).",
            false,
            count(crate::store::emails::pending_count(db)),
        ),
    ]
}

pub fn metrics(ctx: &mut Ctx, _req: &Req) -> Result<Response, Error> {
    let size = |suffix: &str| {
        let mut path = ctx.config.db.clone().into_os_string();
        path.push(suffix);
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    };
    let stats = ctx.door.stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let mut extra = Vec::new();
    if let Some(wal) = ctx.door.wal() {
        let s = &wal.stats;
        extra.extend([
            ("affiliated_wal_checkpoints_total", "PASSIVE checkpoints run beside the writer.", true, load(&s.passive)),
            (
                "affiliated_wal_restarts_total",
                "Times the writer started the WAL over between batches (or emptied it when idle).",
                true,
                load(&s.restarts),
            ),
            (
                "affiliated_wal_restarts_busy_total",
                "Times the writer left the WAL as it was because a reader was still using it.",
                true,
                load(&s.busy),
            ),
            (
                "affiliated_wal_writer_checkpoint_microseconds_total",
                "Time the writer thread spent in its checkpoints, between batches.",
                true,
                load(&s.writer_micros),
            ),
            (
                "affiliated_wal_writer_checkpoint_longest_microseconds",
                "The longest of the writer's checkpoints since the start.",
                false,
                load(&s.writer_longest_micros),
            ),
        ]);
    }
    let gauges = Gauges {
        database_bytes: size(""),
        wal_bytes: size("-wal"),
        writer_batches: load(&stats.batches),
        writer_jobs: load(&stats.jobs),
        writer_failed_commits: load(&stats.failed_commits),
        extra: [
            (
                "affiliated_connections_rescued_total",
                "Connections tiny_http accepted but left unserved, handed a thread by the watch.",
                true,
                crate::transport::rescue::RESCUED.load(std::sync::atomic::Ordering::Relaxed),
            ),
            (
                "affiliated_slow_requests_in_flight",
                "Requests reading or discarding a body on a thread of their own (at most 256).",
                false,
                crate::transport::slow::SLOW_IN_FLIGHT.load(std::sync::atomic::Ordering::Relaxed) as u64,
            ),
        ]
        .into_iter()
        .chain(backlogs(ctx))
        .chain(extra)
        .collect(),
    };
    let text = ctx.metrics.render(&gauges);
    Ok(Response::bytes(200, "text/plain; version=0.0.4; charset=utf-8", text.into_bytes()))
}

pub const OPENAPI: &str = include_str!("../../docs/openapi.yaml");

pub fn openapi(_ctx: &mut Ctx, _req: &Req) -> Result<Response, Error> {
    Ok(Response::bytes(200, "application/yaml; charset=utf-8", OPENAPI.as_bytes().to_vec()))
}
