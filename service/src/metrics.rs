//! The figures a profiler needs to attribute time to tiers, rendered as Prometheus text.
//!
//! Each app owns its recorder (no global state), so several apps in one test process keep
//! their own counters. HTTP figures go through `metrics-exporter-prometheus`; the per-tier
//! busy time and call counts sit on the hot path of every backend call, so they are plain
//! atomics, rendered next to the exporter's output at scrape time.

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use metrics::{Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::backend::{PoolStats, QueueStats};

static META: Metadata<'static> = Metadata::new("service", Level::INFO, Some(module_path!()));

/// A backend tier whose busy time is accounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    DbPrimary,
    DbReplica,
    Cache,
    ObjectStore,
    Queue,
}

impl Tier {
    pub const ALL: [Tier; 5] = [Tier::DbPrimary, Tier::DbReplica, Tier::Cache, Tier::ObjectStore, Tier::Queue];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::DbPrimary => "db_primary",
            Tier::DbReplica => "db_replica",
            Tier::Cache => "cache",
            Tier::ObjectStore => "object_store",
            Tier::Queue => "queue",
        }
    }
}

#[derive(Default)]
struct TierCounters {
    busy_nanos: AtomicU64,
    calls: AtomicU64,
    errors: AtomicU64,
}

/// Counters of one service process.
pub struct AppMetrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    tiers: [TierCounters; 5],
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub object_bytes_read: AtomicU64,
    pub object_bytes_written: AtomicU64,
    pub jobs_done: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub jobs_retried: AtomicU64,
    /// Outcomes refused because the job had been claimed again (a stale worker's).
    pub jobs_stale: AtomicU64,
    pub shed_requests: AtomicU64,
    /// Connections closed at once (after a fixed 503) because the connection cap was reached.
    pub refused_connections: AtomicU64,
}

impl std::fmt::Debug for AppMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppMetrics").finish_non_exhaustive()
    }
}

/// Latency buckets (seconds) fine enough at the loopback end and wide enough for overload.
const LATENCY_BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Default for AppMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AppMetrics {
    pub fn new() -> Self {
        let recorder =
            PrometheusBuilder::new().set_buckets(&LATENCY_BUCKETS).expect("static buckets are valid").build_recorder();
        let handle = recorder.handle();
        Self {
            recorder,
            handle,
            tiers: Default::default(),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            object_bytes_read: AtomicU64::new(0),
            object_bytes_written: AtomicU64::new(0),
            jobs_done: AtomicU64::new(0),
            jobs_failed: AtomicU64::new(0),
            jobs_retried: AtomicU64::new(0),
            jobs_stale: AtomicU64::new(0),
            shed_requests: AtomicU64::new(0),
            refused_connections: AtomicU64::new(0),
        }
    }

    /// Records one finished HTTP request.
    pub fn record_request(&self, route: &'static str, method: &'static str, status: u16, took: Duration) {
        let labels = vec![
            Label::from_static_parts("route", route),
            Label::from_static_parts("method", method),
            Label::new("status", status.to_string()),
        ];
        self.recorder.register_counter(&Key::from_parts("scaleloop_http_requests_total", labels), &META).increment(1);
        let labels = vec![Label::from_static_parts("route", route), Label::from_static_parts("method", method)];
        self.recorder
            .register_histogram(&Key::from_parts("scaleloop_http_request_duration_seconds", labels), &META)
            .record(took.as_secs_f64());
    }

    /// Adds one call's time to a tier.
    pub fn record_tier(&self, tier: Tier, took: Duration, ok: bool) {
        let t = &self.tiers[tier as usize];
        t.busy_nanos.fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        t.calls.fetch_add(1, Ordering::Relaxed);
        if !ok {
            t.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Times a backend call and charges it to `tier`.
    pub async fn timed<T, E>(&self, tier: Tier, fut: impl std::future::Future<Output = Result<T, E>>) -> Result<T, E> {
        let start = Instant::now();
        let out = fut.await;
        self.record_tier(tier, start.elapsed(), out.is_ok());
        out
    }

    /// Calls made to a tier so far (for tests and the deterministic gate).
    pub fn tier_calls(&self, tier: Tier) -> u64 {
        self.tiers[tier as usize].calls.load(Ordering::Relaxed)
    }

    /// Renders all figures as Prometheus text; `pools` and `queue` are sampled by the caller.
    pub fn render(&self, pools: &[PoolStats], queue: Option<QueueStats>) -> String {
        let mut out = self.handle.render();
        let w = &mut out;
        header(w, "scaleloop_tier_busy_seconds_total", "counter", "Time spent in calls to each backend tier.");
        for tier in Tier::ALL {
            let nanos = self.tiers[tier as usize].busy_nanos.load(Ordering::Relaxed);
            let _ =
                writeln!(w, "scaleloop_tier_busy_seconds_total{{tier=\"{}\"}} {}", tier.as_str(), nanos as f64 / 1e9);
        }
        header(w, "scaleloop_tier_calls_total", "counter", "Calls made to each backend tier.");
        for tier in Tier::ALL {
            let calls = self.tiers[tier as usize].calls.load(Ordering::Relaxed);
            let _ = writeln!(w, "scaleloop_tier_calls_total{{tier=\"{}\"}} {calls}", tier.as_str());
        }
        header(w, "scaleloop_tier_errors_total", "counter", "Failed calls to each backend tier.");
        for tier in Tier::ALL {
            let errors = self.tiers[tier as usize].errors.load(Ordering::Relaxed);
            let _ = writeln!(w, "scaleloop_tier_errors_total{{tier=\"{}\"}} {errors}", tier.as_str());
        }
        let simple = [
            ("scaleloop_cache_hits_total", "Cache lookups that found the item.", &self.cache_hits),
            ("scaleloop_cache_misses_total", "Cache lookups that did not.", &self.cache_misses),
            (
                "scaleloop_object_store_read_bytes_total",
                "Payload bytes read from the object store.",
                &self.object_bytes_read,
            ),
            (
                "scaleloop_object_store_written_bytes_total",
                "Payload bytes written to the object store.",
                &self.object_bytes_written,
            ),
            ("scaleloop_jobs_done_total", "Jobs completed.", &self.jobs_done),
            ("scaleloop_jobs_failed_total", "Jobs given up after their last attempt.", &self.jobs_failed),
            ("scaleloop_jobs_retried_total", "Job attempts that failed and were rescheduled.", &self.jobs_retried),
            (
                "scaleloop_jobs_stale_total",
                "Job outcomes ignored because the job had been claimed again.",
                &self.jobs_stale,
            ),
            (
                "scaleloop_http_shed_total",
                "Requests answered 503 because the in-flight cap was reached.",
                &self.shed_requests,
            ),
            (
                "scaleloop_http_refused_connections_total",
                "Connections answered 503 and closed because the connection cap was reached.",
                &self.refused_connections,
            ),
        ];
        for (name, help, value) in simple {
            header(w, name, "counter", help);
            let _ = writeln!(w, "{name} {}", value.load(Ordering::Relaxed));
        }
        for (name, help) in [
            ("scaleloop_pool_max", "Configured size of each connection pool."),
            ("scaleloop_pool_size", "Open connections of each pool."),
            ("scaleloop_pool_in_use", "Connections of each pool lent out now."),
            ("scaleloop_pool_waiting", "Callers waiting for a connection of each pool."),
        ] {
            header(w, name, "gauge", help);
            for p in pools {
                let v = match name {
                    "scaleloop_pool_max" => u64::from(p.max),
                    "scaleloop_pool_size" => u64::from(p.size),
                    "scaleloop_pool_in_use" => u64::from(p.in_use),
                    _ => p.waiting,
                };
                let _ = writeln!(w, "{name}{{pool=\"{}\"}} {v}", p.name);
            }
        }
        if let Some(q) = queue {
            header(w, "scaleloop_queue_depth", "gauge", "Jobs not yet done.");
            let _ = writeln!(w, "scaleloop_queue_depth {}", q.depth);
            header(
                w,
                "scaleloop_queue_oldest_job_age_seconds",
                "gauge",
                "Age of the oldest job not yet done (worker lag).",
            );
            let _ = writeln!(w, "scaleloop_queue_oldest_job_age_seconds {}", q.oldest_age_seconds);
        }
        out
    }
}

/// Appends the last readiness probe: one gauge per backend (1 answered, 0 not) and whether the
/// instance is degraded (an optional backend down) or unavailable (a required one down).
pub fn render_health(w: &mut String, health: &crate::readiness::Health) {
    use crate::readiness::Status;
    header(w, "scaleloop_backend_up", "gauge", "Whether each backend answered the last readiness probe.");
    for p in &health.probes {
        let _ = writeln!(
            w,
            "scaleloop_backend_up{{backend=\"{}\",required=\"{}\"}} {}",
            p.name,
            p.required,
            u8::from(p.failure.is_none())
        );
    }
    header(
        w,
        "scaleloop_degraded",
        "gauge",
        "1 while an optional backend (cache, replica, broker) is down and the instance serves without it.",
    );
    let _ = writeln!(w, "scaleloop_degraded {}", u8::from(health.status == Status::Degraded));
    header(w, "scaleloop_unavailable", "gauge", "1 while a required backend is down (readiness answers 503).");
    let _ = writeln!(w, "scaleloop_unavailable {}", u8::from(health.status == Status::Unavailable));
}

fn header(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}");
    let _ = writeln!(w, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_tier_and_http_figures() {
        let m = AppMetrics::new();
        m.record_tier(Tier::Cache, Duration::from_millis(1500), true);
        m.record_request("/healthz", "GET", 200, Duration::from_millis(2));
        let pools = [PoolStats { name: "db_primary".into(), max: 4, size: 2, in_use: 1, waiting: 3 }];
        let text = m.render(&pools, Some(QueueStats { depth: 7, oldest_age_seconds: 1.5 }));
        assert!(text.contains("scaleloop_tier_busy_seconds_total{tier=\"cache\"} 1.5"), "{text}");
        assert!(text.contains("scaleloop_pool_waiting{pool=\"db_primary\"} 3"), "{text}");
        assert!(text.contains("scaleloop_queue_depth 7"), "{text}");
        assert!(
            text.contains("scaleloop_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("scaleloop_http_request_duration_seconds_bucket"), "{text}");
    }
}
