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
//! - `crate::merge::workers`: the per-worker records a merged run carries; [`k8s`] renders the Job.

pub mod args;
pub mod clock;
pub mod corpus;
pub mod k8s;
pub mod start;

use std::path::PathBuf;

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

pub use loadgen_report::workers::{terminal_lines, worker_rows, WorkerRow};
