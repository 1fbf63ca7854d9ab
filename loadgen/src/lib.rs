//! scaleloop's harness: open-model, Zipf-skewed 100:1 traffic on Goose 0.19, latency measured
//! from the intended send time into HdrHistogram, a profiler whose verdict names the saturated
//! tier, and the loop that moves a stage to the next one.
//!
//! This crate is the top of the layers (see the README's "Layout"): the commands and the
//! orchestration that ties the lower crates together. It re-exports them at the paths the
//! library had before the split, so `loadgen::summary::Summary`, `loadgen::topology::Topology`
//! or `loadgen::html::rebuild_report` keep working:
//!
//! - `loadgen_model` (leaf): [`summary`], the timeline ([`profiler::model`]), the run directory.
//! - `loadgen_generator`: [`scenario`], [`schedule`], [`pacer`], [`attack`], [`recorder`], …
//! - `loadgen_topology`: [`topology`], [`target`], [`autoscale`].
//! - `loadgen_analysis`: [`profiler::analysis`]; `loadgen_probes`: [`profiler::collect`],
//!   [`profiler::sampler`], CloudWatch's client ([`cloudwatch`]); `loadgen_report`: [`html`]
//!   and the terminal text ([`report`]).
//!
//! Its own modules: [`commands`] (one file per subcommand, one runtime builder, one error →
//! exit-code map) over [`cli`] and [`args`]; [`run`] (one run, returning its [`Summary`] and
//! report directory) with [`profiler::session`]; [`evolve`] and [`gate`] as loops over runs;
//! [`merge`] and [`distributed`] for runs split over several generators; [`faults`] done to a
//! launched stage during a run; [`exit`] codes.

pub mod args;
pub mod capacity;
pub mod cli;
pub mod cloudwatch;
pub mod commands;
pub mod distributed;
pub mod evolve;
pub mod exit;
pub mod faults;
pub mod gate;
pub mod merge;
pub mod profiler;
pub mod report;
pub mod run;
pub use loadgen_generator::{
    attack, cpu, http1, keys, pacer, progress, recorder, redact, requests, scenario, schedule, shape, verify,
};
pub use loadgen_model::summary;
pub use loadgen_report::html;
pub use loadgen_topology::{self as topology, autoscale, target};

pub use exit::Exit;
pub use run::{run, RunError, RunOptions, RunReport};
pub use scenario::{Scenario, ScenarioError};
pub use summary::Summary;
pub use target::TargetChoice;
