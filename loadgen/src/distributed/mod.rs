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

use serde::Serialize;

use crate::schedule::Share;
pub use loadgen_model::workers::{ClockOffset, WorkerInfo};

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
