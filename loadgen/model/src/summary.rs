//! `summary.json`: the stable, documented result of one run (schema version 1).
//!
//! The JSON Schema in `loadgen/schema/summary.schema.json` is generated from these types
//! (`loadgen schema` prints it; a test checks the committed file matches). Later tools
//! add to it (host metrics, verdict, gate results) without changing these fields.
//! Latencies are in microseconds and measured from the *intended* send time.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of this format; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The result of one run (or of several generator processes merged).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub schema_version: u32,
    /// `<UTC timestamp>-<scenario>`, also the report directory's name.
    pub run_id: String,
    pub scenario: ScenarioInfo,
    /// Deployment profile of the embedded service; `null` for an external target.
    pub profile: Option<String>,
    pub target: TargetInfo,
    /// RFC 3339 UTC time the measured part started.
    pub started_at: String,
    /// Length of the measured part, seconds.
    pub duration_s: f64,
    /// Reads, writes and both together.
    pub operations: Operations,
    /// Failed requests by kind, e.g. `read_http_404`, `write_timeout`.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// One entry per second of the measured part.
    pub series: Vec<SecondSample>,
    pub schedule_lag: ScheduleLag,
    pub generator: GeneratorInfo,
    pub verification: Verification,
    pub slo: SloReport,
    /// False when the generator could not keep the schedule: the latencies then describe
    /// the generator as much as the target, and no bottleneck should be named from them.
    pub trustworthy: bool,
    /// Files written next to this summary, relative to its directory.
    pub files: ReportFiles,
    /// Which tier limited the run, with evidence (absent when the run was not profiled).
    #[serde(default)]
    pub verdict: Option<crate::timeline::Verdict>,
    /// The next scaling stage and its expected gain (absent when the run was not profiled).
    #[serde(default)]
    pub recommendation: Option<crate::timeline::Recommendation>,
    /// CloudWatch figures pulled onto the timeline (`--cloudwatch FILE`): what was asked,
    /// what was missing, and why nothing was, when so. Details in `cloudwatch.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudwatch: Option<crate::cloudwatch::CloudWatchInfo>,
    /// The stage's service boxes: mean cores, box-seconds and the rate per core of fleet
    /// (absent when the run was not profiled or the target's boxes are unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<crate::capacity::FleetFigures>,
    /// Users of the seed's model (10 million ↔ 40,400 req/s on average) the scenario replays
    /// and the stage holds (absent when the run was not profiled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed_users: Option<crate::capacity::SeedUsers>,
    /// This process's part of a distributed run (`--worker I/N`): its share, start and clock
    /// offset against the target (absent for a single-process run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<crate::workers::WorkerInfo>,
    /// A merged run's workers, one entry each, by index (empty unless merged from workers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<crate::workers::WorkerInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScenarioInfo {
    pub name: String,
    pub seed: u64,
    /// Scheduled length of the measured part, seconds.
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Reads per `read + write` sends.
    pub read_weight: u32,
    pub write_weight: u32,
    pub zipf_exponent: f64,
    pub preload: u32,
    /// Simulated seconds per run second when the shape is a compressed day (`peak-us`:
    /// 86,400 s over `duration_s`); `null` otherwise.
    pub time_compression: Option<f64>,
    /// The rate curve of the measured part: `[seconds, requests per second]` points.
    pub rate_curve: Vec<[f64; 2]>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetInfo {
    /// `embedded` (started inside loadgen), `topology` (a stage loadgen brought up on real
    /// servers) or `external`.
    pub kind: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Operations {
    pub read: OperationStats,
    pub write: OperationStats,
    pub all: OperationStats,
}

/// Counts, rates and latency of one operation.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OperationStats {
    /// Sends the schedule intended in the measured part.
    pub intended: u64,
    /// Requests that completed (successfully or not).
    pub completed: u64,
    pub errors: u64,
    pub intended_rate: f64,
    pub achieved_rate: f64,
    /// Successful requests' latency.
    pub latency_us: Percentiles,
}

impl OperationStats {
    /// Requests per second answered without an error: `achieved_rate` counts the failed
    /// answers too (a refused or dropped request completes quickly), so a stage past its limit
    /// would otherwise look like it served what it merely answered.
    pub fn answered_rate(&self) -> f64 {
        if self.completed == 0 {
            return 0.0;
        }
        self.achieved_rate * self.completed.saturating_sub(self.errors) as f64 / self.completed as f64
    }
}

/// Percentiles of a latency histogram, microseconds (0 when empty).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            mean: (h.mean() * 10.0).round() / 10.0,
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// One second of the measured part.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecondSample {
    /// Seconds since the measured part started.
    pub t: u64,
    /// Sends the schedule intended in this second.
    pub intended: f64,
    /// Sends intended in this second that left (warm-up excluded).
    pub sent: u64,
    /// p99 of those sends' schedule lag, microseconds: when the generator fell behind.
    pub lag_p99_us: u64,
    /// Requests completed in this second (reads + writes + errors).
    pub completed: u64,
    pub errors: u64,
    /// Latency of everything completed in this second (errors included).
    pub latency_us: Percentiles,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleLag {
    /// How late sends left, relative to their intended time, microseconds.
    pub lag_us: Percentiles,
    /// The scenario's limit on the lag's p99, microseconds.
    pub limit_p99_us: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GeneratorInfo {
    /// Goose users started.
    pub users: usize,
    /// Generator processes merged into this summary.
    pub processes: u32,
    /// CPU seconds the generator used during the run (user + system).
    pub cpu_seconds: f64,
    /// `cpu_seconds` per completed request (warm-up included), microseconds.
    pub cpu_us_per_request: f64,
    /// CPU of the threads that send requests / (wall seconds × `threads`): how busy the
    /// sending threads were (the self-check's figure).
    pub cpu_share: f64,
    /// Threads that sent requests (`generator.send_threads`).
    pub threads: usize,
    /// How the CPU was measured: `threads` (the generator's own threads, the embedded
    /// service's left out) or `unavailable` (no `/proc`; CPU figures are then 0).
    pub cpu_source: String,
    /// Most requests the generator would have in flight at once (`generator.max_in_flight`).
    #[serde(default)]
    pub max_in_flight: usize,
    /// Most requests that were in flight at once: what the target held.
    #[serde(default)]
    pub peak_in_flight: usize,
    /// Measured sends that waited for an in-flight slot because the target held
    /// `max_in_flight` requests; charged from their intended time, not counted as lag.
    #[serde(default)]
    pub held_at_cap: u64,
    /// Of those, the sends still waiting for a slot when the run ended: they never left.
    #[serde(default)]
    pub unsent_at_cap: u64,
    /// True when the generator was itself the limit.
    pub overloaded: bool,
    /// Plain-language reasons for `overloaded`.
    pub reasons: Vec<String>,
    /// Self-check findings the verdict explained by the target (sends late while the embedded
    /// service saturated the machine both share): the run is judged, and says so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waived: Vec<String>,
}

/// Read-back of a sample of acknowledged writes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// Acknowledged writes chosen for read-back.
    pub sampled: u64,
    /// Read back and identical byte for byte.
    pub verified: u64,
    /// Acknowledged but not found (404).
    pub lost: u64,
    /// Found with a different payload or owner.
    pub corrupted: u64,
    /// Could not be checked (transport errors, 5xx); neither lost nor verified.
    pub unchecked: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloReport {
    pub passed: bool,
    pub checks: Vec<SloCheck>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloCheck {
    /// `p50`, `p99`, `p999`, `error_rate` or `lost_writes`.
    pub name: String,
    pub limit: f64,
    pub observed: f64,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportFiles {
    /// HdrHistogram interval log (tags `read`, `write`, `error`; µs; one interval a second).
    pub interval_log: String,
    /// Goose's own report, when asked for.
    pub goose_report: Option<String>,
}

/// The JSON Schema of [`Summary`], pretty-printed with a trailing newline.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Summary);
    // Keys sorted whatever serde_json's map is (a dependency's `preserve_order` feature, on in
    // some builds only, would otherwise change the file's order).
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    let value = sorted(serde_json::to_value(&schema).expect("a schema serializes"));
    let mut text = serde_json::to_string_pretty(&value).expect("a schema serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(completed: u64, errors: u64, achieved_rate: f64) -> OperationStats {
        OperationStats {
            intended: completed,
            completed,
            errors,
            intended_rate: achieved_rate,
            achieved_rate,
            latency_us: Percentiles::default(),
        }
    }

    #[test]
    fn answered_rate_leaves_the_failed_answers_out() {
        assert_eq!(stats(1000, 0, 100.0).answered_rate(), 100.0);
        assert!((stats(1000, 250, 100.0).answered_rate() - 75.0).abs() < 1e-9);
        assert_eq!(stats(1000, 1000, 100.0).answered_rate(), 0.0);
        assert_eq!(stats(0, 0, 0.0).answered_rate(), 0.0);
    }
}
