//! The recommendation: (current stage, bottleneck) → the next stage of the seed's path, with
//! the reason in the seed's terms and the gain estimated from the measured demands.
//!
//! The path (`shared/seeds/scaling-aws-primer.md`): start (one box) → Users+ (separate the
//! database) → Users++ (load balancer + more app boxes, standby) → Users+++ (cache + read
//! replicas) → Users++++ (autoscaling) → Users+++++ (queue + workers, sharding).
//!
//! A recommendation never names the stage the run was on. Where no later stage of the seed
//! fixes the tier (a cache or a load balancer at its limit, replicas, an app fleet at its
//! ceiling), it names the real-world step (a larger or clustered cache node; an ELB scales
//! itself) and, locally, which box to size up, with no next stage.

use loadgen_model::timeline::{Recommendation, TierFigures, Verdict};
use loadgen_model::{Stage, Tier};

/// Writes at or above this share of requests make a saturated primary a write bottleneck.
const WRITE_HEAVY: f64 = 0.2;

/// A tier whose p95 utilization reached this share of its capacity was at its limit beside
/// the one the verdict named.
const ALSO_AT_LIMIT: f64 = 0.95;

/// The app named at Users++ while the primary was at its limit too (their ceilings within a
/// few percent: walk23's Users++ held 4,319 req/s with the primary at p95 100%, ceiling 4,320,
/// and the app at 95%, 4,541, and one step above the verdict named the app). Autoscaling the
/// app alone (Users++++) would meet the primary at once; the seed's cache (Users+++) relieves
/// both: a hit costs the app about half a database read and the primary nothing.
fn app_and_primary_together(current: Stage, bottleneck: Option<Tier>, tiers: &[TierFigures]) -> bool {
    let at_limit = |tier: Tier| tiers.iter().any(|t| t.tier == tier.id() && t.utilization_p95 >= ALSO_AT_LIMIT);
    bottleneck == Some(Tier::App) && current == Stage::UsersPlusPlus && at_limit(Tier::DbPrimary)
}

fn ceiling(tiers: &[TierFigures], tier: &str) -> Option<f64> {
    tiers.iter().find(|t| t.tier == tier).and_then(|t| t.ceiling_rps)
}

/// The later stage of the path that addresses `bottleneck` from `current`, or `None` when no
/// later stage does (the fix is a bigger box or more of them). A tier the harness does not
/// know (`None`) is treated as the whole box at the start and as a box to size up after it.
pub fn target_stage(current: Stage, bottleneck: Option<Tier>, write_share: f64) -> Option<Stage> {
    use Stage::*;
    let Some(tier) = bottleneck else {
        return (current == Start).then_some(UsersPlus);
    };
    let wanted = match tier {
        Tier::NoneSaturated | Tier::Generator => return None,
        // One box: everything competes for it; the seed's first move separates the database.
        _ if current == Start => UsersPlus,
        Tier::App if current < UsersPlusPlus => UsersPlusPlus,
        Tier::App => UsersPlusPlusPlusPlus,
        Tier::DbPrimary if write_share >= WRITE_HEAVY => UsersPlusPlusPlusPlusPlus,
        Tier::DbPrimary if current < UsersPlusPlusPlus => UsersPlusPlusPlus,
        Tier::DbPrimary => UsersPlusPlusPlusPlusPlus,
        Tier::DbReplica | Tier::Cache => UsersPlusPlusPlus,
        Tier::Queue => UsersPlusPlusPlusPlusPlus,
        // No later stage of the seed changes these: the fix is a bigger box or more of them.
        Tier::AppRead | Tier::AppWrite | Tier::Lb | Tier::ObjectStore | Tier::Machine => return None,
    };
    (wanted > current).then_some(wanted)
}

/// What the run measured that the recommendation builds on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    pub cache_hit_ratio: Option<f64>,
    pub achieved_rate: f64,
    /// Writes as a share of all requests.
    pub write_share: f64,
}

pub fn recommend(stage: &str, verdict: &Verdict, measured: Measured) -> Recommendation {
    let current = Stage::parse_or_start(stage);
    let b = verdict.bottleneck.as_str();
    let tier = Tier::parse(b);
    let stay = |action: &str, reason: &str, gain: String| Recommendation {
        current_stage: current.id().into(),
        next_stage: None,
        next_profile: None,
        action: action.into(),
        reason: reason.into(),
        expected_gain: gain,
        expected_ceiling_rps: None,
    };
    if tier == Some(Tier::Generator) {
        return stay(
            "scale the load generator, not the service",
            "a generator that falls behind its schedule under-measures every tier",
            "a trustworthy measurement".into(),
        );
    }
    if tier == Some(Tier::NoneSaturated) {
        let gain = verdict.headroom.map_or("headroom unknown".into(), |h| {
            format!("room for about {:.1}x this run's peak before the tightest tier saturates", 1.0 + h)
        });
        return stay(
            "no change needed at this load",
            "nothing saturated and the SLO held: scaling now would only add cost",
            gain,
        );
    }
    let together = app_and_primary_together(current, tier, &verdict.tiers);
    let next =
        if together { Some(Stage::UsersPlusPlusPlus) } else { target_stage(current, tier, measured.write_share) };
    let Some(next) = next else {
        let (action, reason) = size_up(tier);
        let gain = ceiling(&verdict.tiers, b).map_or("depends on the new size".into(), |c| {
            format!("the tier's ceiling (about {c:.0} req/s now) grows with its box")
        });
        return stay(action, reason, gain);
    };
    let (action, reason, gain, expected) = match together {
        true => relieve_both(measured),
        false => move_to(next, tier, ceiling(&verdict.tiers, b), measured),
    };
    Recommendation {
        current_stage: current.id().into(),
        next_stage: Some(next.id().into()),
        next_profile: Some(next.profile().into()),
        action: action.into(),
        reason: reason.into(),
        expected_gain: gain,
        expected_ceiling_rps: expected.map(f64::round),
    }
}

/// The step for a tier no later stage of the seed fixes.
fn size_up(tier: Option<Tier>) -> (&'static str, &'static str) {
    let Some(tier) = tier else { return size_up_any() };
    match tier {
        Tier::Cache => (
            "use a larger or clustered cache node (ElastiCache cluster mode); locally, give the cache box more CPU",
            "the cache is at its own limit and every later stage of the seed keeps one cache tier",
        ),
        Tier::Lb => (
            "let the load balancer scale: an AWS ELB scales itself; locally, give the lb box more CPU",
            "the load balancer's box is at its limit; the seed's stages assume an ELB that grows with the load",
        ),
        Tier::DbReplica => (
            "add read replicas or give them larger instances",
            "the replicas carry the reads the cache misses and are at their limit",
        ),
        Tier::App => (
            "raise the app fleet's maximum size or use larger app instances",
            "the app tier is at its limit with autoscaling (and the later stages) already in place",
        ),
        Tier::ObjectStore => (
            "check the object store's per-call latency (S3 scales itself; a local disk does not)",
            "object-store calls are slow; no stage of the seed changes the store",
        ),
        Tier::AppWrite => (
            "add boxes to the write pool or use larger ones",
            "the write pool's boxes are at their limit; this stage split the API so that writes scale on their own",
        ),
        Tier::AppRead => (
            "raise the read pool's autoscaling maximum or use larger read boxes",
            "the read pool is at its limit with autoscaling already in place",
        ),
        Tier::Queue => {
            ("add workers to the fleet (or larger worker boxes)", "the workers cannot keep up with the writes")
        }
        // A write-bound primary past the sharded stage, or the whole machine.
        Tier::DbPrimary | Tier::Machine => size_up_any(),
        // Never at their limit with a stage to size up: the recommendation stays before this.
        Tier::Generator | Tier::NoneSaturated => size_up_any(),
    }
}

fn size_up_any() -> (&'static str, &'static str) {
    ("give the saturated tier's box more capacity", "no later stage of the seed's path addresses this tier")
}

/// Action, reason, expected gain and ceiling of moving to stage `next` for bottleneck `b`,
/// whose ceiling at this stage was `here`.
fn move_to(
    next: Stage,
    b: Option<Tier>,
    here: Option<f64>,
    m: Measured,
) -> (&'static str, &'static str, String, Option<f64>) {
    match next {
        // A recommendation moves forward (`target_stage` only names a later stage).
        Stage::Start => unreachable!("no stage leads back to the start"),
        Stage::UsersPlus => ("move the database to its own box (PostgreSQL) and payloads to an object store",
            "on one box the web tier and the database compete for the same CPU, memory and disk; separating them lets each scale on its own",
            "the app box keeps all its CPU: the database's share of it is freed".into(), None),
        Stage::UsersPlusPlus => ("put a load balancer in front of several stateless app boxes, and add a database standby",
            "scale horizontally: the web tier is CPU-bound, and one box is a single point of failure",
            here.map_or("throughput grows with the number of app boxes until the next tier saturates".into(), |c| format!("about {c:.0} req/s per app box; N boxes ≈ N × that, until the database saturates")),
            here.map(|c| c * 2.0)),
        Stage::UsersPlusPlusPlus => {
            let h = m.cache_hit_ratio.unwrap_or(0.8);
            let basis = if m.cache_hit_ratio.is_some() { "measured" } else { "assumed (no cache in this run)" };
            ("add a cache in front of the database (cache-aside) and read replicas; send reads to them",
                "at 100:1 reads to writes the database's read load dominates: serve hot items from memory and spread the rest over replicas",
                format!("a {:.0}% hit ratio ({basis}) removes that share of database read demand: the database ceiling rises about {:.1}x", h * 100.0, 1.0 / (1.0 - h).max(0.05)),
                here.map(|c| c / (1.0 - h).max(0.05)))
        }
        Stage::UsersPlusPlusPlusPlus => ("autoscale the app boxes (target tracking on CPU or latency, with min and max)",
            "the app tier is the limit at peak but idle at night: pay for peak only while it lasts",
            "peak capacity follows the load; average cost falls toward the average load".into(), here.map(|c| c * 2.0)),
        Stage::UsersPlusPlusPlusPlusPlus if b == Some(Tier::Queue) => ("move write processing to a worker fleet behind a queue, sized to the write rate",
            "the workers cannot keep up with writes: decouple them and scale them independently",
            format!("workers scale with the queue depth; writes keep being acknowledged at {:.0} req/s", m.achieved_rate), None),
        Stage::UsersPlusPlusPlusPlusPlus => ("shard user_content by user_id across several primaries, and move heavy write work to a queue + workers",
            "the write primary saturates and the data keeps growing: split it so each shard takes a share",
            here.map_or("each of N shards takes 1/N of the primary's load".into(), |c| format!("N shards ≈ N × {c:.0} req/s for the primary's share of work")),
            here.map(|c| c * 2.0)),
    }
}

/// Users+++ for an app and a primary at their limits together.
fn relieve_both(m: Measured) -> (&'static str, &'static str, String, Option<f64>) {
    let h = m.cache_hit_ratio.unwrap_or(0.8);
    let basis = if m.cache_hit_ratio.is_some() { "measured" } else { "assumed (no cache in this run)" };
    (
        "add a cache in front of the database (cache-aside) and read replicas; send reads to them",
        "the app boxes and the primary were at their limits together: a cache hit costs the app about half a database read and the primary nothing, so the cache relieves both, where autoscaling the app alone would meet the primary at once",
        format!("a {:.0}% hit ratio ({basis}) takes that share of reads off the primary and makes them cheaper for the app", h * 100.0),
        None,
    )
}

/// The app tier was saturated with its Auto Scaling group pinned at its maximum size: the
/// autoscaling stage is in place, its ceiling is the limit.
pub fn raise_group_maximum(stage: &str, verdict: &Verdict, max_size: f64) -> Recommendation {
    let current = Stage::parse_or_start(stage);
    let next = (current < Stage::UsersPlusPlusPlusPlus).then_some(Stage::UsersPlusPlusPlusPlus);
    let ceiling = ceiling(&verdict.tiers, Tier::App.id());
    let per_instance = ceiling.map(|c| c / max_size.max(1.0));
    Recommendation {
        current_stage: current.id().into(),
        next_stage: next.map(|n| n.id().to_owned()),
        next_profile: next.map(|n| n.profile().to_owned()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use loadgen_model::stages::{profile_of, STAGE_IDS as STAGES};
    use proptest::prelude::*;

    #[test]
    fn an_app_at_users_plus_plus_beside_a_primary_at_its_limit_goes_to_the_cache() {
        let figures = |tier: &str, u: f64| TierFigures {
            tier: tier.into(),
            capacity: 1.0,
            unit: "cores".into(),
            utilization_p95: u,
            demand_s: 0.0,
            ceiling_rps: None,
            saturation: vec![],
        };
        let mut v = verdict("app");
        v.tiers = vec![figures("app", 0.99), figures("db_primary", 1.0)];
        let m = Measured::default();
        let rec = recommend("users-plus-plus", &v, m);
        assert_eq!(rec.next_stage.as_deref(), Some("users-plus-plus-plus"), "{}", rec.reason);
        assert!(rec.reason.contains("together"), "{}", rec.reason);
        // The primary with room: the app alone is the limit, and autoscaling addresses it.
        v.tiers = vec![figures("app", 0.99), figures("db_primary", 0.7)];
        assert_eq!(recommend("users-plus-plus", &v, m).next_stage.as_deref(), Some("users-plus-plus-plus-plus"));
        // Only at Users++: at Users+ the app still goes to Users++.
        v.tiers = vec![figures("app", 0.99), figures("db_primary", 1.0)];
        assert_eq!(recommend("users-plus", &v, m).next_stage.as_deref(), Some("users-plus-plus"));
    }

    /// Every tier the verdict names, and one it does not.
    fn tier_names() -> Vec<&'static str> {
        Tier::ALL.iter().map(|t| t.id()).chain(["a-tier-of-ones-own"]).collect()
    }

    fn verdict(bottleneck: &str) -> Verdict {
        Verdict {
            bottleneck: bottleneck.into(),
            confidence: "high".into(),
            sentence: String::new(),
            knee: None,
            tiers: Vec::new(),
            evidence: Vec::new(),
            headroom: Some(1.0),
            faults: Vec::new(),
        }
    }

    proptest! {
        #[test]
        fn never_the_current_stage_and_never_backwards(
            stage in 0usize..STAGES.len(),
            tier in 0usize..Tier::ALL.len() + 1,
            write_share in 0.0f64..1.0,
            hit in proptest::option::of(0.0f64..1.0),
        ) {
            let measured = Measured { cache_hit_ratio: hit, achieved_rate: 100.0, write_share };
            let r = recommend(STAGES[stage], &verdict(tier_names()[tier]), measured);
            prop_assert_eq!(r.current_stage.as_str(), STAGES[stage]);
            if let Some(next) = &r.next_stage {
                prop_assert_ne!(next.as_str(), STAGES[stage]);
                prop_assert!(loadgen_model::stages::index_of(next) > stage, "{} → {}", STAGES[stage], next);
                let profile = profile_of(next);
                prop_assert_eq!(r.next_profile.as_deref(), Some(profile.as_str()));
            } else {
                prop_assert!(r.next_profile.is_none());
            }
        }
    }

    #[test]
    fn tiers_no_later_stage_fixes_say_which_box_to_size_up() {
        let at = |stage: &str, tier: &str| recommend(stage, &verdict(tier), Measured::default());
        let lb = at("users-plus-plus-plus", "lb");
        assert!(lb.next_stage.is_none() && lb.action.contains("ELB") && lb.action.contains("lb box"), "{lb:?}");
        let cache = at("users-plus-plus-plus", "cache");
        assert!(cache.next_stage.is_none() && cache.action.contains("cache box"), "{cache:?}");
        assert_eq!(at("users-plus-plus", "cache").next_stage.as_deref(), Some("users-plus-plus-plus"));
    }

    #[test]
    fn a_write_bound_primary_goes_to_the_sharded_stage() {
        let m = Measured { write_share: 0.5, ..Measured::default() };
        assert_eq!(
            recommend("users-plus", &verdict("db_primary"), m).next_stage.as_deref(),
            Some("users-plus-plus-plus-plus-plus")
        );
        let m = Measured { write_share: 0.01, ..Measured::default() };
        assert_eq!(
            recommend("users-plus", &verdict("db_primary"), m).next_stage.as_deref(),
            Some("users-plus-plus-plus")
        );
    }
}
