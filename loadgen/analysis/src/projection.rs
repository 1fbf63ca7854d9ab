//! Capacity projection: from the CPU each box tier spent per request in a measured run, how many
//! instances of which size each tier needs for the seed's design load (40,000 reads/s and 400
//! writes/s on average, times a peak factor) and roughly what they cost a month.
//!
//! The model is the utilization law: a tier that spent D core-seconds per request needs
//! D × X cores at X req/s; instances are sized to run at a headroom (70% busy) and hold
//! `vcpus` of this machine's cores each. Its limits, stated in the report: a vCPU is taken as
//! equal to one core of the measuring machine; demand is assumed flat in load (no contention
//! or coherency costs, which grow with scale); a database's write path does not scale by
//! adding instances (replicas take reads only; sharding splits writes), which the projection
//! notes but does not model; network, storage and load balancer costs are left out.

use loadgen_model::series;
use serde::Deserialize;

use loadgen_model::timeline::Timeline;

/// The seed's design load (`shared/seeds/scaling-aws-primer.md`): averages.
pub const DESIGN_READS_PER_S: f64 = 40_000.0;
pub const DESIGN_WRITES_PER_S: f64 = 400.0;
/// Busy fraction instances are sized for.
pub const HEADROOM: f64 = 0.7;

/// The price table (`loadgen/data/aws-prices.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    pub region: String,
    pub hours_per_month: f64,
    pub instance: Vec<InstancePrice>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstancePrice {
    pub tier: String,
    pub instance_type: String,
    pub vcpus: f64,
    pub usd_per_hour: f64,
}

impl PriceTable {
    /// The table shipped with loadgen.
    pub fn shipped() -> Self {
        toml::from_str(include_str!("../../data/aws-prices.toml")).expect("the shipped price table parses")
    }
}

pub use loadgen_model::evolve::{Projection, TierProjection};

/// Core-seconds per request of each box tier (except the generator) over a run's timeline:
/// Σ CPU / Σ completed requests, from the seconds where both are known.
pub fn measured_demands(timeline: &Timeline, achieved_per_s: &[(u64, f64)]) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for b in timeline.boxes.iter().filter(|b| b.tier != "generator") {
        let Some(cpu) = timeline.series.get(&series::of(series::HOST_CPU_CORES, &b.tier)) else { continue };
        let (mut busy, mut done) = (0.0, 0.0);
        for (t, achieved) in achieved_per_s {
            let Some(i) = timeline.t.iter().position(|x| x == t) else { continue };
            if let Some(Some(c)) = cpu.get(i) {
                busy += c;
                done += achieved;
            }
        }
        if done > 0.0 {
            out.push((b.tier.clone(), busy / done));
        }
    }
    out
}

/// Projects `demands` (tier, core-seconds per request) to the design load.
pub fn project(demands: &[(String, f64)], peak_factor: f64, prices: &PriceTable) -> Projection {
    let design_rate = (DESIGN_READS_PER_S + DESIGN_WRITES_PER_S) * peak_factor;
    let mut tiers = Vec::new();
    let mut notes = Vec::new();
    for (tier, demand) in demands {
        let Some(price) = prices.instance.iter().find(|p| &p.tier == tier) else {
            notes.push(format!(
                "tier `{tier}` was measured ({:.1} µs of CPU per request) but has no instance in the price table",
                demand * 1e6
            ));
            continue;
        };
        let cores_needed = demand * design_rate;
        let instances = ((cores_needed / (price.vcpus * HEADROOM)).ceil() as u32).max(1);
        let usd_per_month = f64::from(instances) * price.usd_per_hour * prices.hours_per_month;
        tiers.push(TierProjection {
            tier: tier.clone(),
            demand_core_s: *demand,
            cores_needed,
            instance_type: price.instance_type.clone(),
            instances,
            usd_per_month: (usd_per_month * 100.0).round() / 100.0,
        });
    }
    if tiers.iter().any(|t| t.tier == "db" && t.instances > 1) {
        notes.push("the database needs more than one instance: replicas can take the reads, but the writes stay on one primary until the data is sharded (Users+++++)".into());
    }
    let usd_per_month = (tiers.iter().map(|t| t.usd_per_month).sum::<f64>() * 100.0).round() / 100.0;
    Projection {
        design_rate,
        peak_factor,
        headroom: HEADROOM,
        region: prices.region.clone(),
        tiers,
        usd_per_month,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_shipped_table_parses_and_prices_every_box_tier() {
        let table = PriceTable::shipped();
        for tier in ["app", "db", "cache", "worker"] {
            assert!(table.instance.iter().any(|i| i.tier == tier), "{tier}");
        }
    }

    #[test]
    fn utilization_law_sizing() {
        // 100 µs of app CPU per request at 40,400 req/s × 2 = 8.08 cores; at 70% of 2 vCPUs
        // per c5.large that is 6 instances.
        let p = project(&[("app".into(), 100e-6), ("lb".into(), 5e-6)], 2.0, &PriceTable::shipped());
        assert_eq!(p.design_rate, 80_800.0);
        let app = &p.tiers[0];
        assert!((app.cores_needed - 8.08).abs() < 1e-9);
        assert_eq!(app.instances, 6);
        assert!((app.usd_per_month - 6.0 * 0.085 * 730.0).abs() < 0.01);
        assert!(p.notes.iter().any(|n| n.contains("`lb`")));
    }

    proptest! {
        #[test]
        fn more_demand_never_needs_fewer_instances(d in 1e-7f64..1e-2, extra in 0.0f64..1e-2, peak in 1.0f64..5.0) {
            let table = PriceTable::shipped();
            let a = project(&[("app".into(), d)], peak, &table);
            let b = project(&[("app".into(), d + extra)], peak, &table);
            prop_assert!(b.tiers[0].instances >= a.tiers[0].instances);
            // Sized with headroom: the instances hold the demand at ≤ 70% busy.
            prop_assert!(f64::from(a.tiers[0].instances) * 2.0 * HEADROOM >= a.tiers[0].cores_needed - 1e-9);
        }
    }
}
