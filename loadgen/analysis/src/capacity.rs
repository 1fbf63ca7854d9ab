//! What a stage holds, in the two figures that make stages comparable: its rate **per core of
//! its fleet** beside the absolute rate (the fleet = the stage's service boxes, their quotas
//! added second by second, so an autoscaled pool counts the instances it ran), and **users of
//! the seed's model**: 10 million users make 40,000 reads/s + 400 writes/s on average
//! (`seeds/scaling-aws-primer.md`), so a rate sustained at a scenario's peak is worth
//! `rate / (40,400 / 10 M × peak/average)` users.

use loadgen_model::capacity::FleetFigures;
use loadgen_model::series;
use loadgen_model::stages::GENERATOR_TIER;
use loadgen_model::Timeline;

/// The fleet of a run from its timeline: every non-generator box's quota, the autoscaled
/// tier's scaled by the instances it ran each second (`autoscale.instances`). `None` when the
/// timeline names no service box.
pub fn fleet(
    timeline: &Timeline,
    achieved_rate: f64,
    scaled_tier: Option<&str>,
    machine_cores: f64,
) -> Option<FleetFigures> {
    let boxes: Vec<_> = timeline.boxes.iter().filter(|b| b.tier != GENERATOR_TIER).collect();
    if boxes.is_empty() {
        return None;
    }
    let instances = timeline.series.get(series::AUTOSCALE_INSTANCES);
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

#[cfg(test)]
mod tests {
    use super::*;
    use loadgen_model::capacity::*;
    use loadgen_model::timeline::BoxInfo;

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
