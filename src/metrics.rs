//! Process metrics in the Prometheus text format. Requests are labelled by *route pattern*
//! (`/api/v1/conversions/{id}`), never by raw path, so label cardinality stays fixed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the request-duration histogram, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Requests {
    totals: BTreeMap<(&'static str, &'static str, u16), u64>,
    durations: BTreeMap<&'static str, Histogram>,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<Requests>,
    pub clicks: AtomicU64,
    pub redirects_without_click: AtomicU64,
    pub bot_visits: AtomicU64,
    /// Tracking-link visits sent to the deep link's `url`.
    pub deep_links: AtomicU64,
    /// Deep links refused (sent to the landing URL), by reason: names written in the program
    /// (`&'static str`), never taken from a request.
    deep_links_refused: Mutex<BTreeMap<&'static str, u64>>,
    pub clicks_flagged: AtomicU64,
    pub conversions_created: AtomicU64,
    pub conversions_duplicate: AtomicU64,
    pub conversions_replaced: AtomicU64,
    pub conversions_approved: AtomicU64,
    pub conversions_rejected: AtomicU64,
    pub conversions_refunded: AtomicU64,
    pub sweeper_deleted: AtomicU64,
    pub sweeper_runs: AtomicU64,
}

/// Values read at scrape time from outside this struct.
pub struct Gauges {
    pub database_bytes: u64,
    pub wal_bytes: u64,
    pub writer_batches: u64,
    pub writer_jobs: u64,
    pub writer_failed_commits: u64,
    /// More figures: (name, help, is a counter, value).
    pub extra: Vec<(&'static str, &'static str, bool, u64)>,
}

impl Metrics {
    /// Counts a deep link refused for `reason` (`tracking::deep_link::Refusal::label`).
    pub fn deep_link_refused(&self, reason: &'static str) {
        *self.deep_links_refused.lock().unwrap_or_else(|p| p.into_inner()).entry(reason).or_default() += 1;
    }

    pub fn observe(&self, method: &'static str, route: &'static str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut r = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *r.totals.entry((method, route, status)).or_default() += 1;
        let h = r.durations.entry(route).or_default();
        h.count += 1;
        h.sum += seconds;
        if let Some(i) = BUCKETS.iter().position(|&b| seconds <= b) {
            h.counts[i] += 1;
        }
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        self.render_requests(&mut out);
        self.render_counters(&mut out);
        render_gauges(&mut out, gauges);
        out
    }

    /// Requests by route and status, and their durations.
    fn render_requests(&self, out: &mut String) {
        let r = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        header(out, "affiliated_http_requests_total", "counter", "HTTP requests by route pattern and status.");
        for ((method, route, status), n) in &r.totals {
            let _ = writeln!(
                out,
                "affiliated_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        header(
            out,
            "affiliated_http_request_duration_seconds",
            "histogram",
            "Time from reading a request to writing its response.",
        );
        for (route, h) in &r.durations {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "affiliated_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "affiliated_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "affiliated_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "affiliated_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
        }
    }

    /// What the server counted: clicks, redirects, conversions, sweeps.
    fn render_counters(&self, out: &mut String) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(out, "affiliated_clicks_total", "Clicks recorded (committed).", load(&self.clicks));
        counter(
            out,
            "affiliated_redirects_without_click_total",
            "Tracking-link visits redirected without a recorded click (unknown code, paused affiliate or offer, or a storage failure).",
            load(&self.redirects_without_click),
        );
        counter(
            out,
            "affiliated_bot_visits_total",
            "Tracking-link and click-snippet visits by crawlers, previewers or clients without a user agent: no click.",
            load(&self.bot_visits),
        );
        counter(
            out,
            "affiliated_deep_links_total",
            "Tracking-link visits sent to the page their url parameter named (a deep link).",
            load(&self.deep_links),
        );
        header(
            out,
            "affiliated_deep_links_refused_total",
            "counter",
            "Deep links whose url the offer does not allow (or that is malformed): sent to the landing URL instead.",
        );
        for (reason, n) in self.deep_links_refused.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "affiliated_deep_links_refused_total{{reason=\"{reason}\"}} {n}");
        }
        counter(
            out,
            "affiliated_clicks_flagged_total",
            "Clicks recorded with the click_flood flag.",
            load(&self.clicks_flagged),
        );
        header(
            out,
            "affiliated_conversions_total",
            "counter",
            "Conversions created, and status changes, by resulting status.",
        );
        for (status, value) in [
            ("pending", &self.conversions_created),
            ("approved", &self.conversions_approved),
            ("rejected", &self.conversions_rejected),
            ("refunded", &self.conversions_refunded),
        ] {
            let _ = writeln!(out, "affiliated_conversions_total{{status=\"{status}\"}} {}", load(value));
        }
        counter(
            out,
            "affiliated_conversions_duplicate_total",
            "Conversion reports refused as duplicates of a stored order (409).",
            load(&self.conversions_duplicate),
        );
        counter(
            out,
            "affiliated_conversions_replaced_total",
            "Pixel conversions taken over by a server-side report of the same order.",
            load(&self.conversions_replaced),
        );
        counter(
            out,
            "affiliated_sweeper_deleted_total",
            "Unconverted clicks deleted by the retention sweeper.",
            load(&self.sweeper_deleted),
        );
        counter(out, "affiliated_sweeper_runs_total", "Completed retention sweeps.", load(&self.sweeper_runs));
    }
}

/// What the caller measured at the moment of the scrape: files, the writer, the rest.
fn render_gauges(out: &mut String, gauges: &Gauges) {
    gauge(out, "affiliated_database_bytes", "Size of the main database file.", gauges.database_bytes);
    gauge(out, "affiliated_database_wal_bytes", "Size of the write-ahead log.", gauges.wal_bytes);
    counter(out, "affiliated_writer_transactions_total", "Write transactions (group commits).", gauges.writer_batches);
    counter(out, "affiliated_writer_jobs_total", "Writes carried by those transactions.", gauges.writer_jobs);
    counter(
        out,
        "affiliated_writer_failed_commits_total",
        "Write transactions that failed and were rolled back.",
        gauges.writer_failed_commits,
    );
    for &(name, help, is_counter, value) in &gauges.extra {
        if is_counter { counter(out, name, help, value) } else { gauge(out, name, help, value) }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe("GET", "/r/{code}", 302, Duration::from_micros(300));
        m.observe("GET", "/r/{code}", 302, Duration::from_millis(3));
        m.observe("POST", "/api/v1/conversions", 409, Duration::from_millis(30));
        m.clicks.fetch_add(2, Ordering::Relaxed);
        let text = m.render(&Gauges {
            database_bytes: 4096,
            wal_bytes: 0,
            writer_batches: 1,
            writer_jobs: 2,
            writer_failed_commits: 0,
            extra: vec![],
        });
        assert!(text.contains("affiliated_http_requests_total{method=\"GET\",route=\"/r/{code}\",status=\"302\"} 2"));
        assert!(text.contains("affiliated_http_request_duration_seconds_bucket{route=\"/r/{code}\",le=\"0.0005\"} 1"));
        assert!(text.contains("affiliated_http_request_duration_seconds_bucket{route=\"/r/{code}\",le=\"0.005\"} 2"));
        assert!(text.contains("affiliated_http_request_duration_seconds_count{route=\"/r/{code}\"} 2"));
        assert!(text.contains("affiliated_clicks_total 2"));
        assert!(text.contains("affiliated_database_bytes 4096"));
    }
}
