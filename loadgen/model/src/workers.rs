//! The workers of a distributed run, as each worker's summary records itself and a merged
//! summary lists them all.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
