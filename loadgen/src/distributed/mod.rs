//! Distributed load generation: N generator processes (on N machines, or N pods of a
//! Kubernetes Indexed Job) that together send exactly the one schedule a single process would
//! have sent, start at one wall-clock instant, and end in one merged report.
//!
//! - [`Share`](crate::schedule::Share) splits the schedule (`--worker I/N`, or
//!   `JOB_COMPLETION_INDEX` with `--workers N` / `LOADGEN_WORKERS`): arrival `k` is worker
//!   `k mod N`'s, and keeps what the single run would have done with it.
//! - [`start`]: `--start-at`/`--start-in`, and how late the worker's schedule began.
//! - [`clock`]: the worker's clock offset against the target's `Date` header.
//! - [`corpus`]: the preloaded corpus is written once (worker 0) and shared as a file.
//! - [`merged`]: the per-worker records a merged run carries; [`k8s`] renders the Job.

pub mod args;
pub mod clock;
pub mod corpus;
pub mod k8s;
pub mod merged;
pub mod start;

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schedule::Share;

/// How one process takes part in a distributed run.
#[derive(Debug, Clone)]
pub struct Distributed {
    pub share: Share,
    /// The wall-clock instant every worker's schedule starts (its warm-up's first arrival).
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The shared corpus file: read when it exists, else written by worker 0 after its
    /// preload and awaited by the others.
    pub corpus: Option<PathBuf>,
}

/// Why a distributed run could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DistributedError {
    #[error("{flag}: {reason}")]
    BadFlag { flag: &'static str, reason: String },
    #[error("corpus file {path}: {reason}")]
    Corpus { path: PathBuf, reason: String },
}

/// The clock offset of a worker against the target (server time − local time).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClockOffset {
    /// Estimated target clock minus this worker's clock, milliseconds.
    pub offset_ms: f64,
    /// Half-width of the interval the offset is known to lie in, milliseconds.
    pub uncertainty_ms: f64,
    /// How it was measured.
    pub source: String,
    /// Requests the estimate took.
    pub probes: u32,
}

/// One worker of a distributed run, as its summary records it (and a merged summary lists).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkerInfo {
    /// 0-based index of the worker.
    pub index: u64,
    /// Workers the schedule was split over.
    pub count: u64,
    /// The worker's own run id.
    pub run_id: String,
    /// The start instant asked for (`--start-at`, RFC 3339), if any.
    #[serde(default)]
    pub start_at: Option<String>,
    /// When the worker's schedule really began (its time zero), RFC 3339 with milliseconds.
    pub schedule_started_at: String,
    /// How much later than `start_at` the schedule began, milliseconds (negative: earlier).
    #[serde(default)]
    pub start_late_ms: Option<f64>,
    /// Lateness allowed before the worker's share no longer lines up with the others'
    /// (the scenario's `generator.max_lag_p99`), milliseconds.
    pub start_tolerance_ms: f64,
    /// Clock offset against the target, when it could be measured.
    #[serde(default)]
    pub clock: Option<ClockOffset>,
    /// Intended sends of the worker's share in the measured part.
    pub intended: u64,
    /// Sends completed in the measured part.
    pub completed: u64,
    /// Completed per second of the measured part.
    pub achieved_rate: f64,
    /// The worker's schedule lag p99, microseconds.
    pub lag_p99_us: u64,
    /// Whether this worker kept its schedule (start included).
    pub trustworthy: bool,
}

impl WorkerInfo {
    /// Whether the worker began later than its tolerance allows.
    pub fn started_late(&self) -> bool {
        self.start_late_ms.is_some_and(|late| late > self.start_tolerance_ms)
    }
}

/// One worker as the report page shows it.
#[derive(Debug, Serialize)]
pub struct WorkerRow {
    pub share: String,
    pub count: u64,
    pub start: String,
    pub clock: String,
    pub intended: u64,
    pub completed: u64,
    pub achieved_rate: String,
    pub lag_p99: String,
    pub trustworthy: bool,
}

/// The report page's worker rows: the merged run's workers, or a worker run's own record.
pub fn worker_rows(summary: &crate::Summary) -> Vec<WorkerRow> {
    summary
        .workers
        .iter()
        .chain(summary.worker.as_ref())
        .map(|w| WorkerRow {
            share: format!("{}/{}", w.index, w.count),
            count: w.count,
            start: match w.start_late_ms {
                Some(late) if w.started_late() => format!("LATE by {late:.1} ms"),
                Some(late) => format!("{late:+.1} ms"),
                None => format!("no --start-at (began {})", w.schedule_started_at),
            },
            clock: w.clock.as_ref().map_or_else(
                || "not measured".into(),
                |c| format!("{:+.1} ms ± {:.1} ms", c.offset_ms, c.uncertainty_ms),
            ),
            intended: w.intended,
            completed: w.completed,
            achieved_rate: format!("{:.1}", w.achieved_rate),
            lag_p99: format!("{:.2} ms", w.lag_p99_us as f64 / 1000.0),
            trustworthy: w.trustworthy,
        })
        .collect()
}

/// The summary's lines about the worker(s), for the terminal.
pub fn terminal_lines(summary: &crate::Summary) -> String {
    let mut out = String::new();
    let describe = |w: &WorkerInfo| {
        let start = match (&w.start_at, w.start_late_ms) {
            (Some(at), Some(late)) if w.started_late() => format!("started LATE by {late:.1} ms after {at}"),
            (Some(at), Some(late)) => format!("started {late:+.1} ms from {at}"),
            _ => format!("started {}", w.schedule_started_at),
        };
        let clock = match &w.clock {
            Some(c) => format!("clock {:+.1} ms ± {:.1} ms against the target", c.offset_ms, c.uncertainty_ms),
            None => "clock offset not measured".to_owned(),
        };
        format!(
            "worker {}/{}: {start}; {clock}; {} of {} sent, {:.1}/s, lag p99 {:.2} ms{}",
            w.index,
            w.count,
            w.completed,
            w.intended,
            w.achieved_rate,
            w.lag_p99_us as f64 / 1000.0,
            if w.trustworthy { "" } else { " (did not keep its schedule)" }
        )
    };
    if let Some(w) = &summary.worker {
        out += &format!("  {}\n", describe(w));
    }
    for w in &summary.workers {
        out += &format!("  {}\n", describe(w));
    }
    out
}
