//! Deterministic per-request figures: what one request costs the service's tiers, from two
//! scrapes of its `/metrics` (before the preload, and after the run once every job is done).
//! Pure: text in, figures out.
//!
//! For a seeded scenario at a fixed rate these are counts, not timings: every read makes the
//! same database and object-store calls whichever id it picks, every write the same put,
//! insert and job, so the figures come out the same on a quiet laptop and a busy CI box, in a
//! debug build and a release one. Both the numerators and the denominator (API requests the
//! service answered) come from the service itself, so a request more or less on the
//! generator's side does not move them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::profiler::collect::service::parse_prometheus;

/// Route labels of the content API in the service's request counter.
pub const READ_ROUTE: &str = "/api/v1/content/{content_id}";
pub const WRITE_ROUTE: &str = "/api/v1/content";

/// The service counters the figures are made of (summed over instances).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceCounters {
    /// GETs of an item (any status).
    pub reads: f64,
    /// POSTs of an item (any status).
    pub writes: f64,
    /// Calls per tier: `db_primary`, `db_replica`, `cache`, `object_store`, `queue`.
    pub tier_calls: BTreeMap<String, f64>,
    pub cache_hits: f64,
    pub cache_misses: f64,
    pub object_read_bytes: f64,
    pub object_written_bytes: f64,
    /// Jobs done or given up.
    pub jobs_finished: f64,
}

impl ServiceCounters {
    /// Adds one instance's scrape.
    pub fn add_scrape(&mut self, text: &str) {
        for s in parse_prometheus(text) {
            let label = |key: &str| s.labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
            match s.name {
                "scaleloop_http_requests_total" => match (label("route"), label("method")) {
                    (Some(READ_ROUTE), Some("GET")) => self.reads += s.value,
                    (Some(WRITE_ROUTE), Some("POST")) => self.writes += s.value,
                    _ => {}
                },
                "scaleloop_tier_calls_total" => {
                    *self.tier_calls.entry(label("tier").unwrap_or("?").to_owned()).or_default() += s.value;
                }
                "scaleloop_cache_hits_total" => self.cache_hits += s.value,
                "scaleloop_cache_misses_total" => self.cache_misses += s.value,
                "scaleloop_object_store_read_bytes_total" => self.object_read_bytes += s.value,
                "scaleloop_object_store_written_bytes_total" => self.object_written_bytes += s.value,
                "scaleloop_jobs_done_total" | "scaleloop_jobs_failed_total" => self.jobs_finished += s.value,
                _ => {}
            }
        }
    }

    /// `self − before`, counter by counter.
    pub fn since(&self, before: &Self) -> Self {
        let tier_calls = self
            .tier_calls
            .iter()
            .map(|(k, v)| (k.clone(), v - before.tier_calls.get(k).copied().unwrap_or(0.0)))
            .collect();
        Self {
            reads: self.reads - before.reads,
            writes: self.writes - before.writes,
            tier_calls,
            cache_hits: self.cache_hits - before.cache_hits,
            cache_misses: self.cache_misses - before.cache_misses,
            object_read_bytes: self.object_read_bytes - before.object_read_bytes,
            object_written_bytes: self.object_written_bytes - before.object_written_bytes,
            jobs_finished: self.jobs_finished - before.jobs_finished,
        }
    }

    fn calls(&self, tier: &str) -> f64 {
        self.tier_calls.get(tier).copied().unwrap_or(0.0)
    }
}

/// How a figure is compared with its baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Allowed |candidate − baseline| as a share of the baseline.
    pub relative: f64,
    /// Allowed |candidate − baseline| in the figure's unit (for figures near zero).
    pub absolute: f64,
    /// False for figures that are shown but not gated.
    pub gated: bool,
    /// Why this tolerance (printed in the markdown summary).
    pub why: &'static str,
}

/// Structure-determined counts. The 1% absorbs one request or job more or less (a retried
/// job, a read-back that timed out) in a smoke run of a few hundred requests, while one extra
/// call per request — the smallest real change — moves the figure by far more.
const EXACT: Rule = Rule {
    relative: 0.01,
    absolute: 0.002,
    gated: true,
    why: "fixed by the code path: ±1% absorbs one request or job more or less",
};
/// Cache figures depend on timing: only items whose job has finished are cached, and
/// entries expire; a read racing its item's job is a miss on one run and a hit on another.
const TIMING: Rule = Rule {
    relative: 0.0,
    absolute: 0.05,
    gated: true,
    why: "depends on timing (only finished items are cached; entries expire): ±0.05 per read",
};
/// The worker polls the queue on a timer, so idle polls make this a function of wall time.
const REPORTED: Rule = Rule {
    relative: 0.0,
    absolute: 0.0,
    gated: false,
    why: "includes the worker's timed idle polls: shown, not gated",
};

/// The figures, by name, with their rules (the order of the report).
pub const FIGURES: &[(&str, Rule)] = &[
    ("db_primary_queries_per_request", EXACT),
    ("db_replica_queries_per_request", EXACT),
    ("object_store_calls_per_request", EXACT),
    ("object_store_bytes_per_request", EXACT),
    ("queue_jobs_per_write", EXACT),
    ("cache_hits_per_read", TIMING),
    ("cache_misses_per_read", TIMING),
    ("queue_calls_per_request", REPORTED),
];

/// The rule of figure `name` (unknown names are reported, not gated).
pub fn rule(name: &str) -> Rule {
    FIGURES.iter().find(|(n, _)| *n == name).map_or(REPORTED, |(_, r)| *r)
}

/// Per-request figures from the counters' change over a run. `None` when the service
/// answered no API request at all.
pub fn per_request(delta: &ServiceCounters) -> Option<BTreeMap<String, f64>> {
    let requests = delta.reads + delta.writes;
    if requests <= 0.0 {
        return None;
    }
    let per = |x: f64, n: f64| if n > 0.0 { x / n } else { 0.0 };
    let values = [
        per(delta.calls("db_primary"), requests),
        per(delta.calls("db_replica"), requests),
        per(delta.calls("object_store"), requests),
        per(delta.object_read_bytes + delta.object_written_bytes, requests),
        per(delta.jobs_finished, delta.writes),
        per(delta.cache_hits, delta.reads),
        per(delta.cache_misses, delta.reads),
        per(delta.calls("queue"), requests),
    ];
    Some(FIGURES.iter().zip(values).map(|((name, _), v)| ((*name).to_owned(), round(v))).collect())
}

/// Six significant decimals: enough to see one call in a million requests, and stable text
/// in the committed baseline.
fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// One figure compared with its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub name: String,
    pub baseline: Option<f64>,
    pub candidate: Option<f64>,
    pub rule: Rule,
    /// True when gated and outside the tolerance (or missing on one side).
    pub changed: bool,
}

/// Compares every figure of either side.
pub fn compare(baseline: &BTreeMap<String, f64>, candidate: &BTreeMap<String, f64>) -> Vec<Comparison> {
    let mut names: Vec<&String> = baseline.keys().chain(candidate.keys()).collect();
    names.sort_by_key(|n| FIGURES.iter().position(|(f, _)| f == n).unwrap_or(usize::MAX));
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let rule = rule(name);
            let (b, c) = (baseline.get(name).copied(), candidate.get(name).copied());
            let changed = rule.gated
                && match (b, c) {
                    (Some(b), Some(c)) => (c - b).abs() > (rule.relative * b.abs()).max(rule.absolute),
                    _ => true,
                };
            Comparison { name: name.clone(), baseline: b, candidate: c, rule, changed }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(reads: u32, writes: u32, primary: u32, objects: u32, bytes: u32, jobs: u32, queue: u32) -> String {
        format!(
            "scaleloop_http_requests_total{{route=\"/api/v1/content/{{content_id}}\",method=\"GET\",status=\"200\"}} {reads}\n\
             scaleloop_http_requests_total{{route=\"/api/v1/content\",method=\"POST\",status=\"202\"}} {writes}\n\
             scaleloop_http_requests_total{{route=\"/healthz\",method=\"GET\",status=\"200\"}} 99\n\
             scaleloop_tier_calls_total{{tier=\"db_primary\"}} {primary}\n\
             scaleloop_tier_calls_total{{tier=\"db_replica\"}} 0\n\
             scaleloop_tier_calls_total{{tier=\"object_store\"}} {objects}\n\
             scaleloop_tier_calls_total{{tier=\"queue\"}} {queue}\n\
             scaleloop_object_store_read_bytes_total {bytes}\n\
             scaleloop_object_store_written_bytes_total 0\n\
             scaleloop_jobs_done_total {jobs}\n\
             scaleloop_cache_hits_total 0\n"
        )
    }

    fn figures(reads: u32, writes: u32, primary: u32) -> BTreeMap<String, f64> {
        let mut before = ServiceCounters::default();
        before.add_scrape(&scrape(10, 1, 13, 12, 1024, 1, 50));
        let mut after = ServiceCounters::default();
        after.add_scrape(&scrape(
            10 + reads,
            1 + writes,
            13 + primary,
            12 + reads + 2 * writes,
            1024 * (1 + reads + writes),
            1 + writes,
            400,
        ));
        per_request(&after.since(&before)).unwrap()
    }

    #[test]
    fn per_request_figures_come_from_the_deltas() {
        // 300 reads (1 query each) and 3 writes (insert + job read + job completion).
        let f = figures(300, 3, 300 + 9);
        assert_eq!(f["db_primary_queries_per_request"], round(309.0 / 303.0));
        assert_eq!(f["object_store_calls_per_request"], round(306.0 / 303.0));
        assert_eq!(f["object_store_bytes_per_request"], 1024.0);
        assert_eq!(f["queue_jobs_per_write"], 1.0);
        assert_eq!(f["cache_hits_per_read"], 0.0);
        assert_eq!(f["queue_calls_per_request"], round(350.0 / 303.0));
        let nothing = ServiceCounters::default();
        assert_eq!(per_request(&nothing.since(&nothing)), None);
    }

    #[test]
    fn a_doubled_query_count_is_a_change_and_the_same_counts_are_not() {
        // The smoke run's shape: 300 reads, 50 writes (the preload), 1 + 3 queries each.
        let base = figures(300, 50, 450);
        let same = compare(&base, &figures(300, 50, 450));
        assert!(same.iter().all(|c| !c.changed), "{same:?}");
        // One request more or less stays within the tolerance.
        assert!(compare(&base, &figures(299, 50, 449)).iter().all(|c| !c.changed));
        let doubled = compare(&base, &figures(300, 50, 750));
        let names: Vec<&str> = doubled.iter().filter(|c| c.changed).map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["db_primary_queries_per_request"]);
        // One extra query per write is caught too.
        assert!(compare(&base, &figures(300, 50, 500)).iter().any(|c| c.changed));
    }

    #[test]
    fn reported_figures_are_not_gated_and_missing_ones_are() {
        let mut base = figures(300, 50, 450);
        let mut cand = base.clone();
        cand.insert("queue_calls_per_request".into(), 99.0);
        assert!(compare(&base, &cand).iter().all(|c| !c.changed));
        base.insert("cache_hits_per_read".into(), 0.5);
        cand.insert("cache_hits_per_read".into(), 0.54);
        assert!(compare(&base, &cand).iter().all(|c| !c.changed));
        cand.insert("cache_hits_per_read".into(), 0.56);
        assert!(compare(&base, &cand).iter().any(|c| c.changed && c.name == "cache_hits_per_read"));
        cand.remove("object_store_calls_per_request");
        assert!(compare(&base, &cand).iter().any(|c| c.changed && c.name == "object_store_calls_per_request"));
    }
}
