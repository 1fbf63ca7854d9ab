//! Tiers seen through CloudWatch (`cloudwatch.<tier>.<series>` in the timeline), judged by the
//! roles the mapping (`loadgen/data/cloudwatch-signals.toml`) gives each series: utilization ×
//! instances in service against the most the tier may have (an Auto Scaling group's maximum
//! size), and every saturation signal against its threshold. A tier the run also measured
//! locally (e.g. `db_primary` from the service's pool counters) keeps one entry: the two
//! views' evidence is merged.

use std::collections::BTreeSet;

use super::{
    knee::RunSeries,
    resource::{analyse, flat, Resource, Signal, TierAnalysis},
    stats::percentile,
    tiers::{aligned, growth},
};
use loadgen_model::cloudwatch::signals::{self as mapping, Role, Transform};
use loadgen_model::timeline::{TierFigures, Timeline};

/// Evidence metric of an Auto Scaling group pinned at its maximum while busy.
pub const AT_MAX_SIZE: &str = "desired capacity at the group's maximum size while busy";

/// Utilization at which a group at its maximum counts as held back by it.
const AT_MAX_BUSY: f64 = 0.7;

/// Every CloudWatch tier the timeline has series for.
pub fn analyse_cloud_tiers(run: &RunSeries, tl: &Timeline) -> Vec<TierAnalysis> {
    let rows = mapping::shipped();
    let tiers: BTreeSet<&str> =
        rows.iter().filter(|s| tl.series.contains_key(&s.series_name())).map(|s| s.tier.as_str()).collect();
    let mut out = Vec::new();
    for tier in tiers {
        // Rows of this tier whose series the timeline holds, each series once (an Auto Scaling
        // group and a list of instances map to the same series names).
        let mut seen = BTreeSet::new();
        let present: Vec<&mapping::Signal> = rows
            .iter()
            .filter(|s| s.tier == tier && tl.series.contains_key(&s.series_name()) && seen.insert(s.series_name()))
            .collect();
        let by_role = |role: Role| present.iter().find(|s| s.role == role).map(|s| aligned(tl, run, &s.series_name()));
        let utilization = by_role(Role::Utilization);
        let in_service = by_role(Role::CapacityInUse);
        let max_size = by_role(Role::CapacityMax).map(|m| percentile(&flat(&m), 0.5)).filter(|m| *m > 0.0);
        // Instances of the tier: from the group's in-service count, else the resources listed.
        let resources = present
            .iter()
            .find(|s| s.role == Role::Utilization)
            .map_or(1, |s| tl.names_with_prefix(&format!("{}.", s.series_name())).count().max(1))
            as f64;
        let busy: Vec<Option<f64>> = match (&utilization, &in_service) {
            (Some(u), Some(n)) => u.iter().zip(n).map(|(u, n)| u.zip(*n).map(|(u, n)| u * n)).collect(),
            (Some(u), None) => u.iter().map(|u| u.map(|u| u * resources)).collect(),
            _ => vec![None; run.len()],
        };
        let capacity = max_size.unwrap_or_else(|| {
            in_service.as_ref().map_or(resources, |n| flat(n).iter().copied().fold(resources.min(1.0), f64::max))
        });
        let mut signals: Vec<Signal> = present
            .iter()
            .filter(|s| s.role == Role::Saturation)
            .map(|s| {
                let values = aligned(tl, run, &s.series_name());
                let (values, metric) = match s.transform {
                    Some(Transform::Growth) => (growth(&values), format!("{} growth /s", s.series_name())),
                    None => (values, s.series_name()),
                };
                // CloudWatch's figures are each resource's own (RDS's disk queue, the group's
                // CPU), not what a caller saw.
                Signal {
                    metric,
                    values,
                    threshold: s.threshold.unwrap_or(f64::INFINITY),
                    note: s.note.clone(),
                    below: s.direction == mapping::Direction::Below,
                    symptom: false,
                }
            })
            .collect();
        if let (Some(desired), Some(max), Some(u)) = (by_role(Role::CapacityDesired), max_size, &utilization) {
            let pinned = desired
                .iter()
                .zip(u)
                .map(|(d, u)| d.zip(*u).map(|(d, u)| if d >= max && u >= AT_MAX_BUSY { 1.0 } else { 0.0 }))
                .collect();
            signals.push(Signal {
                metric: AT_MAX_SIZE.into(),
                values: pinned,
                threshold: 1.0,
                note: format!("the Auto Scaling group sat at its maximum of {max:.0} instances with CPU over {:.0}%: scaling out was capped", AT_MAX_BUSY * 100.0),
                below: false,
                symptom: false,
            });
        }
        let label = format!("the {tier} tier's instances (CloudWatch)");
        out.extend(analyse(
            run,
            Resource {
                tier,
                unit: "instances",
                busy,
                capacity,
                available: None,
                throttled: None,
                own_side: true,
                label,
            },
            signals,
        ));
    }
    out
}

/// Adds `cloud` tiers to `local` ones, merging the two views of a tier seen both ways.
pub fn merge(local: &mut Vec<TierAnalysis>, cloud: Vec<TierAnalysis>) {
    for c in cloud {
        let Some(l) = local.iter_mut().find(|l| l.figures.tier == c.figures.tier) else {
            local.push(c);
            continue;
        };
        // The busier view gives the utilization-law figures; both give evidence.
        if c.figures.utilization_p95 > l.figures.utilization_p95 {
            let saturation = std::mem::take(&mut l.figures.saturation);
            l.figures = TierFigures { saturation, ..c.figures.clone() };
        }
        l.figures.saturation.extend(c.figures.saturation);
        l.evidence.extend(c.evidence);
        l.onset = match (l.saturated.then_some(l.onset).flatten(), c.onset) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        l.saturated |= c.saturated;
        l.resource_bound |= c.resource_bound;
        if c.score > l.score {
            l.score = c.score;
            l.own_utilization = c.own_utilization;
            l.own_signal_seconds = c.own_signal_seconds;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(n: usize) -> RunSeries {
        RunSeries {
            t: (0..n as u64).collect(),
            offered: vec![100.0; n],
            achieved: vec![100.0; n],
            ..RunSeries::default()
        }
    }

    fn timeline(n: usize, series: &[(&str, f64)]) -> Timeline {
        let mut tl = Timeline { t: (0..n as u64).collect(), ..Timeline::default() };
        for (name, v) in series {
            tl.series.insert((*name).into(), vec![Some(*v); n]);
        }
        tl
    }

    #[test]
    fn a_group_at_its_maximum_while_busy_is_saturated_with_two_signals() {
        let tl = timeline(
            60,
            &[
                ("cloudwatch.app.cpu_utilization", 0.93),
                ("cloudwatch.app.cpu_utilization.content-app", 0.93),
                ("cloudwatch.app.in_service_instances", 4.0),
                ("cloudwatch.app.desired_capacity", 4.0),
                ("cloudwatch.app.max_size", 4.0),
            ],
        );
        let tiers = analyse_cloud_tiers(&run(60), &tl);
        let app = tiers.iter().find(|t| t.figures.tier == "app").unwrap();
        assert!(app.saturated);
        assert_eq!(app.figures.capacity, 4.0);
        assert!((app.figures.utilization_p95 - 0.93).abs() < 1e-9);
        assert!(app.evidence.iter().any(|e| e.metric == AT_MAX_SIZE), "{:?}", app.evidence);
        assert_eq!(app.figures.ceiling_rps, Some((100.0 / 0.93_f64).round()));
    }

    #[test]
    fn a_group_below_its_maximum_at_modest_cpu_is_not() {
        let tl = timeline(
            60,
            &[
                ("cloudwatch.app.cpu_utilization", 0.45),
                ("cloudwatch.app.in_service_instances", 2.0),
                ("cloudwatch.app.desired_capacity", 2.0),
                ("cloudwatch.app.max_size", 8.0),
                ("cloudwatch.app.cpu_credit_balance", 80.0),
            ],
        );
        let app = analyse_cloud_tiers(&run(60), &tl).into_iter().find(|t| t.figures.tier == "app").unwrap();
        assert!(!app.saturated, "{:?}", app.evidence);
    }

    #[test]
    fn exhausted_cpu_credits_fire_below_their_threshold() {
        let tl = timeline(60, &[("cloudwatch.app.cpu_utilization", 0.3), ("cloudwatch.app.cpu_credit_balance", 0.0)]);
        let app = analyse_cloud_tiers(&run(60), &tl).into_iter().find(|t| t.figures.tier == "app").unwrap();
        assert!(app.saturated);
        assert_eq!(app.evidence[0].metric, "cloudwatch.app.cpu_credit_balance");
    }

    #[test]
    fn rds_cpu_and_disk_queue_saturate_the_primary_and_merge_with_the_local_view() {
        let tl = timeline(
            60,
            &[
                ("cloudwatch.db_primary.cpu_utilization", 0.97),
                ("cloudwatch.db_primary.cpu_utilization.content-db", 0.97),
                ("cloudwatch.db_primary.disk_queue_depth", 25.0),
                ("cloudwatch.db_primary.read_latency_s", 0.004),
            ],
        );
        let cloud = analyse_cloud_tiers(&run(60), &tl);
        let db = cloud.iter().find(|t| t.figures.tier == "db_primary").unwrap();
        assert!(db.saturated);
        assert_eq!(db.evidence.len(), 2, "{:?}", db.evidence);
        let mut local = vec![TierAnalysis {
            saturated: false,
            resource_bound: false,
            score: 0.3,
            own_utilization: Vec::new(),
            own_signal_seconds: Vec::new(),
            onset: None,
            evidence: Vec::new(),
            figures: TierFigures {
                tier: "db_primary".into(),
                capacity: 10.0,
                unit: "connections".into(),
                utilization_p95: 0.3,
                demand_s: 0.01,
                ceiling_rps: Some(1000.0),
                saturation: Vec::new(),
            },
        }];
        merge(&mut local, cloud);
        assert_eq!(local.len(), 1);
        assert!(local[0].saturated);
        assert_eq!(local[0].figures.unit, "instances");
    }
}
