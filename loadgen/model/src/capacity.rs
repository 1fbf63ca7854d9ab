//! The seed's model and what a stage holds in its terms: 10 million users make 40,000 reads/s +
//! 400 writes/s on average (`seeds/scaling-aws-primer.md`), so a rate sustained at a scenario's
//! peak is worth `rate / (40,400 / 10 M × peak/average)` users; and a stage's fleet, so stages
//! compare per core as well as in absolute rate (`summary.json` `fleet`, `seed_users`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::timeline::Verdict;

/// Users of the seed's design.
pub const SEED_USERS: f64 = 10_000_000.0;
/// The seed's average request rate for them: 40,000 reads/s + 400 writes/s.
pub const SEED_AVERAGE_RATE: f64 = 40_400.0;

/// Average requests per second one user of the seed's model sends.
pub fn rate_per_user() -> f64 {
    SEED_AVERAGE_RATE / SEED_USERS
}

/// Users of the seed's model whose traffic peaks at `peak_rate` with this peak/average.
pub fn users_at_peak(peak_rate: f64, peak_to_average: f64) -> f64 {
    peak_rate / (rate_per_user() * peak_to_average.max(1.0))
}

/// The peak rate of `users` users of the seed's model.
pub fn peak_rate_of(users: f64, peak_to_average: f64) -> f64 {
    users * rate_per_user() * peak_to_average.max(1.0)
}

/// The stage's service boxes over a run (`summary.json` `fleet`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetFigures {
    /// Mean cores of the service's boxes (box-seconds per second), generator excluded.
    pub cores: f64,
    /// Box-seconds over the measured part (the cost autoscaling lowers).
    pub box_core_seconds: f64,
    /// The run's achieved rate over `cores`.
    pub rate_per_core: f64,
    /// False when the boxes ran without quotas (each counted as the machine's cores).
    pub confined: bool,
}

/// Users of the seed's model a run's stage holds (`summary.json` `seed_users`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeedUsers {
    /// Users whose traffic the scenario replays (its peak rate read as the seed's peak).
    pub replayed: f64,
    /// Users the stage holds: `held_rate` read as the seed's peak.
    pub held: f64,
    /// The rate the stage holds and where it comes from (`knee`, the bottleneck's ceiling, or
    /// the run's peak when nothing saturated: then a lower bound).
    pub held_rate: f64,
    pub basis: String,
    pub peak_to_average: f64,
}

/// The rate a run shows its stage holds: the knee's achieved rate (throughput stopped
/// following the offered load there), else the named bottleneck's implied ceiling, else —
/// nothing saturated — the peak it carried (at least that much).
pub fn held_rate(verdict: Option<&Verdict>, peak_achieved: f64) -> (f64, &'static str) {
    if let Some(v) = verdict {
        if let Some(k) = &v.knee {
            return (k.achieved_rate, "the knee (throughput stopped following the offered load)");
        }
        if let Some(c) = v.tiers.iter().find(|t| t.tier == v.bottleneck).and_then(|t| t.ceiling_rps) {
            return (c, "the bottleneck's implied ceiling");
        }
    }
    (peak_achieved, "the run's peak (nothing saturated: at least this)")
}

/// The seed-users figures of a run whose curve peaks at `offered_peak` with `peak_to_average`.
pub fn seed_users(verdict: Option<&Verdict>, offered_peak: f64, peak_achieved: f64, peak_to_average: f64) -> SeedUsers {
    let (rate, basis) = held_rate(verdict, peak_achieved);
    SeedUsers {
        replayed: users_at_peak(offered_peak, peak_to_average),
        held: users_at_peak(rate, peak_to_average),
        held_rate: rate,
        basis: basis.into(),
        peak_to_average,
    }
}

/// "about 150,000" (two significant figures: the figure is an estimate).
pub fn about(users: f64) -> String {
    if users <= 0.0 || !users.is_finite() {
        return "0".into();
    }
    let magnitude = 10f64.powi(users.log10().floor() as i32 - 1).max(1.0);
    let rounded = ((users / magnitude).round() * magnitude) as u64;
    let digits = rounded.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
