//! The CI performance regression gate (`loadgen gate`), built to hold on noisy shared
//! machines: what can be counted is gated exactly, what must be timed is measured in
//! interleaved A/B pairs with a bootstrap interval and a threshold calibrated on the machine.
//!
//! - [`figures`] and [`baseline`]: deterministic per-request figures from the service's
//!   `/metrics`, and the committed baseline they are held to;
//! - [`slo`]: absolute SLO checks of one run (distinct exit codes);
//! - [`stats`] and [`calibration`]: the median ratio, its bootstrap interval, the decision
//!   rule, and the threshold from A/A pairs (all pure);
//! - [`side`], [`spawn`], [`cpu`], [`runner`], [`ab`]: starting baseline and candidate
//!   (profile, URL or command), measuring runs, alternating pairs;
//! - [`check`], [`output`], [`command`], [`args`]: the result, its renderings, the CLI;
//! - [`judge`]: `--run DIR`, a run made elsewhere (a merged distributed run) judged whole.

pub mod ab;
pub mod args;
pub mod baseline;
pub mod calibration;
pub mod check;
pub mod command;
pub mod cpu;
pub mod figures;
pub mod judge;
pub mod output;
pub mod runner;
pub mod side;
pub mod slo;
pub mod spawn;
pub mod stats;

use std::path::PathBuf;

/// Why the gate could not reach a result (a failed check is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    #[error(transparent)]
    Target(#[from] crate::target::TargetError),
    #[error("service command `{command}`: {reason}")]
    Command { command: String, reason: String },
    #[error("cannot read the service's metrics at {url}: {reason}")]
    Metrics { url: String, reason: String },
    #[error("measurement: {0}")]
    Measurement(String),
    #[error(transparent)]
    Stats(#[from] stats::StatsError),
    #[error(transparent)]
    Calibration(#[from] calibration::CalibrationError),
    #[error(transparent)]
    Baseline(#[from] baseline::BaselineError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}
