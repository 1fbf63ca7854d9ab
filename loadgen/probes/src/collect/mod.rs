//! Collectors, one per file behind one small trait (model: vector's host_metrics sources):
//! each is asked for a sample once a second and answers with named values. Counters are
//! turned into per-second rates inside the collector (it keeps the previous reading), so the
//! timeline holds rates and gauges only. A source that publishes minutes late (CloudWatch)
//! answers nothing live and the run's whole window by `backfill` after the run.

pub mod cgroup_quota;
pub mod cloudwatch;
pub mod haproxy;
pub mod host;
pub mod postgres;
pub mod redis;
pub mod server_process;
pub mod service;
pub mod steal;

use std::collections::BTreeMap;

use async_trait::async_trait;

/// Why a sample could not be taken (the sampler records the gap and goes on).
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("{source_name}: {message}")]
    Failed { source_name: &'static str, message: String },
    /// A source read after the run failed; its own error is kept for the caller to act on.
    #[error(transparent)]
    Backfill(Box<dyn std::error::Error + Send + Sync>),
}

impl CollectError {
    pub fn new(source_name: &'static str, message: impl std::fmt::Display) -> Self {
        // A driver's message may quote the URL it was given, password and all; these
        // messages end up in the timeline and the report.
        Self::Failed { source_name, message: loadgen_generator::redact::secrets(&message.to_string()) }
    }
}

/// One source of figures.
#[async_trait]
pub trait Collector: Send {
    /// Short name used in logs and series names (`host`, `service`, `postgres`, `redis`).
    fn name(&self) -> &'static str;

    /// Values at this second. `elapsed_s` is the time since the previous sample (for rates).
    async fn sample(&mut self, elapsed_s: f64) -> Result<BTreeMap<String, f64>, CollectError>;

    /// For sources that publish with a delay (CloudWatch): the run's whole window
    /// `[start, end)` (unix seconds), read after the run, judged at `now`. Live sources have
    /// nothing here.
    async fn backfill(&mut self, _start: i64, _end: i64, _now: i64) -> Result<Option<Backfill>, CollectError> {
        Ok(None)
    }
}

/// What a delayed source answered for a run's window: each series' points, stamped with unix
/// seconds, one per `period_s`.
#[derive(Debug, Clone, Default)]
pub struct Backfill {
    pub period_s: i64,
    /// `[start, end)` actually asked for (whole periods around the run).
    pub window: [i64; 2],
    /// What a reader of these figures should know (coarse periods, short runs).
    pub notes: Vec<String>,
    pub series: Vec<crate::cloudwatch::source::PulledSeries>,
}

/// Per-second rate of a counter between two readings; `None` on the first reading or reset.
pub fn rate(previous: Option<f64>, current: f64, elapsed_s: f64) -> Option<f64> {
    let previous = previous?;
    (current >= previous && elapsed_s > 0.0).then(|| (current - previous) / elapsed_s)
}

/// The previous reading of each counter a collector reports, to turn readings into rates.
#[derive(Debug, Default)]
pub struct CounterRates {
    previous: BTreeMap<&'static str, f64>,
}

impl CounterRates {
    /// Records `value` of counter `name` and, from the second reading on, puts its
    /// per-second rate into `out`.
    pub fn record(&mut self, name: &'static str, value: f64, elapsed_s: f64, out: &mut BTreeMap<String, f64>) {
        if let Some(r) = rate(self.previous.get(name).copied(), value, elapsed_s) {
            out.insert(name.into(), r);
        }
        self.previous.insert(name, value);
    }
}
