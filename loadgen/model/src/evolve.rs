//! `evolve.json`: the scaling loop's stages, each stage's search and its verdict, and the
//! projection for the seed's design load.

use serde::{Deserialize, Serialize};

/// One step of a stage's search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepResult {
    pub rate: f64,
    pub achieved_rate: f64,
    pub p99_ms: f64,
    pub error_rate: f64,
    pub passed: bool,
    /// Why it failed (`slo p99`, `generator could not keep the schedule`, …).
    pub failed_because: Vec<String>,
    /// The step's report directory, relative to the evolve run directory.
    pub report: String,
    /// Mean cores of the stage's service boxes during the step.
    #[serde(default)]
    pub fleet_cores: Option<f64>,
    /// Mean share of the machine's CPU time the hypervisor gave to other guests during the
    /// step (`host.steal_share`): on a shared VM the same step costs more CPU when it is high.
    #[serde(default)]
    pub host_steal_share: Option<f64>,
}

/// One stage of the loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StageResult {
    pub profile: String,
    pub stage: String,
    /// Highest rate that met the SLO (None: not even the lowest step did).
    pub sustainable_rate: Option<f64>,
    /// p99 at the sustainable rate.
    pub p99_ms: Option<f64>,
    /// Mean cores of the service's boxes at the sustainable step (box-seconds per second).
    #[serde(default)]
    pub fleet_cores: Option<f64>,
    /// Sustainable rate per core of fleet: what the stage gets out of each core it pays for.
    #[serde(default)]
    pub rate_per_core: Option<f64>,
    /// Users of the seed's model the sustainable rate serves at the scenario's peak.
    #[serde(default)]
    pub users_held: Option<f64>,
    /// The lowest failing step spent the generator's reserved share (no service tier failed
    /// below it): the stage held every rate the generator could send on this machine.
    #[serde(default)]
    pub generator_limited: bool,
    /// Set when this stage sustains less than the stage before it: by how much and why.
    #[serde(default)]
    pub regression: Option<String>,
    /// Verdict of the step past the sustainable rate (or of the last step).
    pub bottleneck: String,
    pub confidence: String,
    pub sentence: String,
    /// The verdict's evidence, one line each.
    pub evidence: Vec<String>,
    /// Each box tier's mean CPU over its quota in the verdict's step.
    #[serde(default)]
    pub box_utilization: Vec<(String, f64)>,
    pub next_profile: Option<String>,
    pub action: String,
    pub reason: String,
    pub expected_gain: String,
    pub steps: Vec<StepResult>,
    /// Per-request CPU of each box tier, from the step the verdict came from.
    pub demands: Vec<(String, f64)>,
}

/// The whole loop (`evolve.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvolveSummary {
    pub run_id: String,
    pub scenario: String,
    pub target_rate: f64,
    /// The scenario's peak over its average (the seed's averages are scaled by it).
    #[serde(default = "one")]
    pub peak_to_average: f64,
    pub started_at: String,
    pub stages: Vec<StageResult>,
    pub target_met: bool,
    /// Why the loop stopped.
    pub stopped_because: String,
    pub projection: Option<Projection>,
}

/// One tier's projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TierProjection {
    pub tier: String,
    /// Core-seconds of CPU per request, measured.
    pub demand_core_s: f64,
    /// Cores needed at the design rate (before headroom).
    pub cores_needed: f64,
    pub instance_type: String,
    pub instances: u32,
    pub usd_per_month: f64,
}

/// The whole projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Projection {
    /// Requests per second designed for (average × peak factor).
    pub design_rate: f64,
    pub peak_factor: f64,
    pub headroom: f64,
    pub region: String,
    pub tiers: Vec<TierProjection>,
    pub usd_per_month: f64,
    /// Box tiers measured but not priced (no entry in the table), and other caveats.
    pub notes: Vec<String>,
}

fn one() -> f64 {
    1.0
}
