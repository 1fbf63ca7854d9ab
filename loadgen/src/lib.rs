//! scaleloop's load generator: open-model, Zipf-skewed 100:1 traffic on Goose 0.19, with
//! latency measured from the intended send time into HdrHistogram.
//!
//! The entry point for other tools is [`run::run`] (one run, returning its [`Summary`]
//! and report directory); [`summary::Summary`] is the stable `summary.json` format and
//! [`merge::merge`] combines several generator processes' reports; [`gate`] is the CI
//! performance regression gate.

pub mod attack;
pub mod autoscale;
pub mod capacity;
pub mod cli;
pub mod cloudwatch;
pub mod cpu;
pub mod distributed;
pub mod evolve;
pub mod exit;
pub mod faults;
pub mod gate;
pub mod html;
pub mod http1;
pub mod keys;
pub mod merge;
pub mod pacer;
pub mod preload;
pub mod profiler;
pub mod progress;
pub mod recorder;
pub mod redact;
pub mod report;
pub mod requests;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod shape;
pub use loadgen_model::summary;
pub mod target;
pub mod topology;
pub mod up;
pub mod verify;

pub use exit::Exit;
pub use run::{run, RunError, RunOptions, RunReport};
pub use scenario::{Scenario, ScenarioError};
pub use summary::Summary;
pub use target::TargetChoice;
