//! What a stage holds, in the two figures that make stages comparable: its rate **per core of
//! its fleet** beside the absolute rate (the fleet = the stage's service boxes, their quotas
//! added second by second, so an autoscaled pool counts the instances it ran), and **users of
//! the seed's model**: 10 million users make 40,000 reads/s + 400 writes/s on average
//! (`seeds/scaling-aws-primer.md`), so a rate sustained at a scenario's peak is worth
//! `rate / (40,400 / 10 M × peak/average)` users.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::profiler::{Timeline, Verdict};

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

/// The fleet of a run from its timeline: every non-generator box's quota, the autoscaled
/// tier's scaled by the instances it ran each second (`autoscale.instances`). `None` when the
/// timeline names no service box.
pub fn fleet(
    timeline: &Timeline,
    achieved_rate: f64,
    scaled_tier: Option<&str>,
    machine_cores: f64,
) -> Option<FleetFigures> {
    let boxes: Vec<_> = timeline.boxes.iter().filter(|b| b.tier != crate::topology::budget::GENERATOR_TIER).collect();
    if boxes.is_empty() {
        return None;
    }
    let instances = timeline.series.get("autoscale.instances");
    // The autoscaled tier's quota at the start over the instances it started with.
    let start_instances = instances.and_then(|s| s.iter().flatten().next().copied()).unwrap_or(1.0).max(1.0);
    let per_second: Vec<f64> = (0..timeline.t.len().max(1))
        .map(|i| {
            boxes
                .iter()
                .map(|b| {
                    match (Some(b.tier.as_str()) == scaled_tier, instances.and_then(|s| s.get(i).copied().flatten())) {
                        (true, Some(n)) => b.cpu_cores / start_instances * n,
                        _ => b.cpu_cores,
                    }
                })
                .sum()
        })
        .collect();
    let cores = per_second.iter().sum::<f64>() / per_second.len() as f64;
    let confined = boxes.iter().all(|b| (b.cpu_cores - machine_cores).abs() > 1e-9);
    Some(FleetFigures {
        cores,
        box_core_seconds: per_second.iter().sum(),
        rate_per_core: if cores > 0.0 { achieved_rate / cores } else { 0.0 },
        confined,
    })
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

/// The terminal's lines for a run's fleet and seed users (empty when it has neither).
pub fn terminal_lines(s: &crate::summary::Summary) -> String {
    let mut out = String::new();
    if let Some(f) = &s.fleet {
        let kind = if f.confined { "cores of boxes" } else { "cores, unconfined (the machine's)" };
        out += &format!(
            "  fleet: {:.3} {kind}; {:.0} req/s per core of fleet ({:.0} req/s in all)\n",
            f.cores, f.rate_per_core, s.operations.all.achieved_rate
        );
    }
    if let Some(u) = &s.seed_users {
        out += &format!(
            "  this stage holds about {} users of the seed's model ({:.0} req/s at peak, from {}); the scenario replays {}\n",
            about(u.held),
            u.held_rate,
            u.basis,
            about(u.replayed)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiler::model::BoxInfo;

    #[test]
    fn the_seed_model() {
        // Ten million users at the seed's 40,400 req/s average, peaking at twice that.
        assert!((users_at_peak(80_800.0, 2.0) - 10e6).abs() < 1.0);
        assert!((peak_rate_of(100_000.0, 2.0) - 808.0).abs() < 1e-9);
        assert_eq!(about(148_514.0), "150,000");
        assert_eq!(about(9_870.0), "9,900");
        assert_eq!(about(42.0), "42");
    }

    fn timeline(boxes: &[(&str, f64)], instances: Option<Vec<Option<f64>>>) -> Timeline {
        let mut tl = Timeline { t: (0..4).collect(), ..Default::default() };
        tl.boxes = boxes.iter().map(|(t, c)| BoxInfo { tier: (*t).into(), cpu_cores: *c, members: vec![] }).collect();
        if let Some(i) = instances {
            tl.series.insert("autoscale.instances".into(), i);
        }
        tl
    }

    #[test]
    fn the_fleet_leaves_the_generator_out_and_follows_the_autoscaler() {
        let tl = timeline(&[("generator", 0.5), ("app", 0.5), ("db", 0.25)], None);
        let f = fleet(&tl, 1500.0, None, 2.0).unwrap();
        assert_eq!((f.cores, f.rate_per_core, f.box_core_seconds, f.confined), (0.75, 2000.0, 3.0, true));
        // Two app boxes of 0.25 at the start, then three, then one: the fleet follows.
        let tl = timeline(&[("app", 0.5), ("db", 0.25)], Some(vec![Some(2.0), Some(3.0), Some(3.0), Some(1.0)]));
        let f = fleet(&tl, 900.0, Some("app"), 2.0).unwrap();
        assert!((f.box_core_seconds - (0.75 + 1.0 + 1.0 + 0.5)).abs() < 1e-9, "{f:?}");
        // An unconfined box is the machine's cores: not a quota.
        let tl = timeline(&[("generator", 2.0), ("app", 2.0)], None);
        assert!(!fleet(&tl, 100.0, None, 2.0).unwrap().confined);
        assert!(fleet(&timeline(&[("generator", 2.0)], None), 1.0, None, 2.0).is_none());
    }
}
