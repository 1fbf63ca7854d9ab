//! The profiler's data: a 1-second timeline of named series (host, service, servers, the
//! generator), and the verdict and recommendation drawn from it. These types are written to
//! `reports/<run-id>/timeline.json` and into `summary.json`, so they are part of the stable,
//! documented schema.
//!
//! Series names are `<source>.<metric>[.<label>]`, e.g. `host.cpu_cores.generator`,
//! `service.tier_busy.db_primary`, `postgres.active_backends`. Rates are per second over the
//! one-second interval; gauges are the value at the sample.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Per-second samples of every series, aligned on the run's measured timeline (`t` = whole
/// seconds since the measured part started, the same `t` as `summary.json`'s `series`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Timeline {
    /// Seconds of the samples, ascending.
    pub t: Vec<u64>,
    /// Series name → one value per entry of `t` (`null` where the source had no answer).
    pub series: BTreeMap<String, Vec<Option<f64>>>,
    /// What each box (tier) is made of and its CPU quota, for utilization.
    pub boxes: Vec<BoxInfo>,
    /// Faults the scenario's `[[faults]]` did to the stage during the run, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<crate::faults::FaultRecord>,
}

/// One box of the topology as the profiler saw it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct BoxInfo {
    /// Tier: `app`, `db`, `cache`, `generator`, `lb`, `worker`.
    pub tier: String,
    /// CPU capacity in cores (its quota, else the machine's cores).
    pub cpu_cores: f64,
    /// Process ids (or `self` threads) counted in this box.
    pub members: Vec<String>,
}

impl Timeline {
    /// Appends one sample; series missing from `values` get `null`, new series are back-filled.
    pub fn push(&mut self, t: u64, values: &BTreeMap<String, f64>) {
        let n = self.t.len();
        self.t.push(t);
        for (name, v) in values {
            let column = self.series.entry(name.clone()).or_insert_with(|| vec![None; n]);
            column.push(Some(*v));
        }
        for column in self.series.values_mut() {
            if column.len() < n + 1 {
                column.push(None);
            }
        }
    }

    /// A series' values with missing samples skipped.
    pub fn values(&self, name: &str) -> Vec<f64> {
        self.series.get(name).map(|c| c.iter().flatten().copied().collect()).unwrap_or_default()
    }

    /// Names of the series starting with `prefix`.
    pub fn names_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.series.keys().filter(move |k| k.starts_with(prefix)).map(String::as_str)
    }
}

/// Which tier limited the run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Verdict {
    /// `app`, `db_primary`, `db_replica`, `cache`, `object_store`, `queue`, `generator`, or
    /// `none` (nothing saturated and the SLO held).
    pub bottleneck: String,
    /// `high` (utilization and saturation agree at the knee), `medium` (one signal), `low`.
    pub confidence: String,
    /// The verdict in one sentence, as the report and terminal print it.
    pub sentence: String,
    /// Where achieved throughput stopped following the offered rate, if it did.
    pub knee: Option<Knee>,
    /// Per-tier figures behind the verdict.
    pub tiers: Vec<TierFigures>,
    /// The numbers and windows that support the verdict.
    pub evidence: Vec<Evidence>,
    /// With `none`: how much more load the tightest tier could take (X_max / X − 1).
    pub headroom: Option<f64>,
    /// Each fault's tier over the window it lasted: injected (scenario `[[faults]]`) or a
    /// server that died.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultFinding>,
}

/// A fault the run went through — injected by the scenario's `[[faults]]`, or a launched
/// server that died (its box left with no process) — as the verdict names it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct FaultFinding {
    /// The faulted tier: `cache`, `lb`, `db_primary`, `db_replica`, `app`, `queue`.
    pub tier: String,
    /// The server it was done to and what was done (`redis killed`).
    pub fault: String,
    /// `[first second, last second]` it lasted.
    pub window: [u64; 2],
    /// What the load saw meanwhile, in one sentence.
    pub sentence: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Knee {
    /// Second at which the knee starts.
    pub t: u64,
    /// Offered (intended) rate there, requests/s.
    pub offered_rate: f64,
    /// Achieved rate there, requests/s.
    pub achieved_rate: f64,
}

/// Utilization law figures for one tier.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct TierFigures {
    pub tier: String,
    /// Capacity K in the tier's unit (cores for CPU, connections for a pool).
    pub capacity: f64,
    /// What `capacity` counts: `cores`, `connections`, `workers`.
    pub unit: String,
    /// Utilization U = busy / capacity, p95 over the measured windows (0..1).
    pub utilization_p95: f64,
    /// Service demand D = U·K / X in seconds per request (busy seconds each request costs).
    pub demand_s: f64,
    /// Implied ceiling X_max = K / D in requests/s.
    pub ceiling_rps: Option<f64>,
    /// Saturation signals seen (e.g. `pool waiters p95 = 12`).
    pub saturation: Vec<String>,
}

/// One piece of evidence: a figure, its threshold, and the window it was seen in.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Evidence {
    pub tier: String,
    /// Series or derived figure, e.g. `service.pool_waiting.db_primary`.
    pub metric: String,
    pub value: f64,
    pub threshold: f64,
    /// `[first second, last second]` of the window.
    pub window: [u64; 2],
    pub note: String,
}

/// What to do next, in the seed's terms.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Recommendation {
    /// The stage the run used (`start`, `users-plus`, …).
    pub current_stage: String,
    /// The stage to move to: always a later stage than `current_stage`; absent when nothing
    /// needs to change, when the generator was the limit, or when no later stage of the seed
    /// fixes the tier (then `action` names the box to size up).
    #[serde(default)]
    pub next_stage: Option<String>,
    /// Profile of `next_stage` (`profiles/<name>.toml`).
    pub next_profile: Option<String>,
    /// The change, e.g. "move the database to its own box (PostgreSQL)".
    pub action: String,
    /// Why, in the seed's terms.
    pub reason: String,
    /// Expected gain, estimated from the measured demands.
    pub expected_gain: String,
    /// Expected new ceiling in requests/s, when it can be estimated.
    pub expected_ceiling_rps: Option<f64>,
}
