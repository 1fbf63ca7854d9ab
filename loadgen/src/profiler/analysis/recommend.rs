//! The recommendation: (current stage, bottleneck) → the next stage of the seed's path, with
//! the reason in the seed's terms and the gain estimated from the measured demands.
//!
//! The path (`shared/seeds/scaling-aws-primer.md`): start (one box) → Users+ (separate the
//! database) → Users++ (load balancer + more app boxes, standby) → Users+++ (cache + read
//! replicas) → Users++++ (autoscaling) → Users+++++ (queue + workers, sharding).

use crate::profiler::{Recommendation, TierFigures, Verdict};

pub const STAGES: [&str; 6] = [
    "start",
    "users-plus",
    "users-plus-plus",
    "users-plus-plus-plus",
    "users-plus-plus-plus-plus",
    "users-plus-plus-plus-plus-plus",
];

/// Profile file name of a stage.
pub fn profile_of(stage: &str) -> String {
    if stage == "start" { "single-box".into() } else { stage.into() }
}

fn index(stage: &str) -> usize {
    STAGES.iter().position(|s| *s == stage).unwrap_or(0)
}

fn ceiling(tiers: &[TierFigures], tier: &str) -> Option<f64> {
    tiers.iter().find(|t| t.tier == tier).and_then(|t| t.ceiling_rps)
}

/// The next stage after `current` that addresses `bottleneck` (never a step back).
fn target_stage(current: usize, bottleneck: &str) -> usize {
    let wanted = match bottleneck {
        // One box: everything competes for it; the seed's first move separates the database.
        _ if current == 0 => 1,
        "app" => if current < 2 { 2 } else { 4 },
        "db_primary" | "db_replica" | "cache" if current < 3 => 3,
        "db_primary" | "queue" | "object_store" => 5,
        "db_replica" | "cache" => 3,
        _ => current,
    };
    wanted.max(current)
}

pub fn recommend(stage: &str, verdict: &Verdict, cache_hit_ratio: Option<f64>, achieved_rate: f64) -> Recommendation {
    let current = index(stage);
    let b = verdict.bottleneck.as_str();
    let stay = |action: &str, reason: &str, gain: String| Recommendation {
        current_stage: STAGES[current].into(),
        next_stage: STAGES[current].into(),
        next_profile: Some(profile_of(STAGES[current])),
        action: action.into(),
        reason: reason.into(),
        expected_gain: gain,
        expected_ceiling_rps: None,
    };
    if b == "generator" {
        return stay("scale the load generator, not the service", "a generator that falls behind its schedule under-measures every tier", "a trustworthy measurement".into());
    }
    if b == "none" {
        let gain = verdict.headroom.map_or("headroom unknown".into(), |h| format!("room for about {:.1}x this load before the tightest tier saturates", 1.0 + h));
        return stay("no change needed at this load", "nothing saturated and the SLO held: scaling now would only add cost", gain);
    }
    let next = target_stage(current, b);
    let here = ceiling(&verdict.tiers, b);
    let (action, reason, gain, expected): (&str, &str, String, Option<f64>) = match (next, b) {
        (1, _) => ("move the database to its own box (PostgreSQL) and payloads to an object store",
            "on one box the web tier and the database compete for the same CPU, memory and disk; separating them lets each scale on its own",
            "the app box keeps all its CPU: the database's share of it is freed".into(), None),
        (2, _) => ("put a load balancer in front of several stateless app boxes, and add a database standby",
            "scale horizontally: the web tier is CPU-bound, and one box is a single point of failure",
            here.map_or("throughput grows with the number of app boxes until the next tier saturates".into(), |c| format!("about {:.0} req/s per app box; N boxes ≈ N × that, until the database saturates", c)),
            here.map(|c| c * 2.0)),
        (3, _) => {
            let h = cache_hit_ratio.unwrap_or(0.8);
            let basis = if cache_hit_ratio.is_some() { "measured" } else { "assumed (no cache in this run)" };
            ("add a cache in front of the database (cache-aside) and read replicas; send reads to them",
                "at 100:1 reads to writes the database's read load dominates: serve hot items from memory and spread the rest over replicas",
                format!("a {:.0}% hit ratio ({basis}) removes that share of database read demand: the database ceiling rises about {:.1}x", h * 100.0, 1.0 / (1.0 - h).max(0.05)),
                here.map(|c| c / (1.0 - h).max(0.05)))
        }
        (4, _) => ("autoscale the app boxes (target tracking on CPU or latency, with min and max)",
            "the app tier is the limit at peak but idle at night: pay for peak only while it lasts",
            "peak capacity follows the load; average cost falls toward the average load".into(), here.map(|c| c * 2.0)),
        (5, "queue") => ("move write processing to a worker fleet behind a queue, sized to the write rate",
            "the workers cannot keep up with writes: decouple them and scale them independently",
            format!("workers scale with the queue depth; writes keep being acknowledged at {:.0} req/s", achieved_rate), None),
        (5, _) => ("shard user_content by user_id across several primaries, and move heavy write work to a queue + workers",
            "the write primary saturates and the data keeps growing: split it so each shard takes a share",
            here.map_or("each of N shards takes 1/N of the primary's load".into(), |c| format!("N shards ≈ N × {c:.0} req/s for the primary's share of work")),
            here.map(|c| c * 2.0)),
        _ => ("keep this stage and tune the saturated tier",
            "the seed's path has no further stage for this bottleneck",
            "depends on the tuning".into(), None),
    };
    Recommendation {
        current_stage: STAGES[current].into(),
        next_stage: STAGES[next].into(),
        next_profile: Some(profile_of(STAGES[next])),
        action: action.into(),
        reason: reason.into(),
        expected_gain: gain,
        expected_ceiling_rps: expected.map(f64::round),
    }
}

/// The app tier was saturated with its Auto Scaling group pinned at its maximum size: the
/// autoscaling stage is in place, its ceiling is the limit.
pub fn raise_group_maximum(stage: &str, verdict: &Verdict, max_size: f64) -> Recommendation {
    let current = index(stage);
    let next = current.max(4);
    let ceiling = ceiling(&verdict.tiers, "app");
    let per_instance = ceiling.map(|c| c / max_size.max(1.0));
    Recommendation {
        current_stage: STAGES[current].into(),
        next_stage: STAGES[next].into(),
        next_profile: Some(profile_of(STAGES[next])),
        action: format!(
            "raise the Auto Scaling group's maximum size above {max_size:.0} (and check the instance type and the scaling policy's target)"
        ),
        reason: format!(
            "the group sat at its maximum of {max_size:.0} instances while their CPU was saturated: target tracking wanted more instances than it may launch, so peak load queued on the app tier"
        ),
        expected_gain: per_instance.map_or("each instance added above the maximum adds its share of throughput, until the database saturates".into(), |p| {
            format!("about {p:.0} req/s per instance: a maximum of {:.0} gives about {:.0} req/s, until the database saturates", max_size * 2.0, p * max_size * 2.0)
        }),
        expected_ceiling_rps: per_instance.map(|p| (p * max_size * 2.0).round()),
    }
}
