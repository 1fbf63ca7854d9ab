//! Analysis of one run, pure and synchronous: the run's own series plus the profiler's
//! timeline → per-tier utilization-law figures → knee → verdict → recommendation.

pub mod cloud;
pub mod knee;
pub mod recommend;
pub mod stats;
pub mod tiers;
pub mod verdict;

#[cfg(test)]
mod cases_test;

use crate::{
    profiler::{Recommendation, Timeline, Verdict},
    summary::Summary,
};

/// Tiers with no box of their own: they run inside the app process (SQLite, local store,
/// in-process cache and the job table on SQLite).
fn in_process_tiers(timeline: &Timeline) -> Vec<String> {
    let has = |tier: &str| timeline.boxes.iter().any(|b| b.tier == tier);
    let mut out = vec!["object_store".to_owned()];
    if !has("db") {
        out.extend(["db_primary", "db_replica", "queue"].map(str::to_owned));
    }
    if !has("cache") {
        out.push("cache".into());
    }
    out
}

/// Verdict and recommendation for a finished run on stage `stage` (`start`, `users-plus`, …).
pub fn analyse(summary: &Summary, timeline: &Timeline, stage: &str) -> (Verdict, Recommendation) {
    let run = knee::RunSeries::from_summary(summary);
    let mut tiers = tiers::analyse_tiers(&run, timeline);
    cloud::merge(&mut tiers, cloud::analyse_cloud_tiers(&run, timeline));
    let knee = knee::find_knee(&run);
    let facts = verdict::RunFacts {
        generator_overloaded: summary.generator.overloaded,
        generator_reasons: summary.generator.reasons.clone(),
        slo_passed: summary.slo.passed,
        achieved_rate: summary.operations.all.achieved_rate,
        users: summary.generator.users,
        // The unloaded latency: the best per-second median of the run.
        baseline_latency_s: summary
            .series
            .iter()
            .map(|s| s.latency_us.p50)
            .filter(|&p| p > 0)
            .min()
            .map_or(summary.operations.all.latency_us.p50 as f64, |p| p as f64)
            / 1e6,
        in_process_tiers: in_process_tiers(timeline),
    };
    let verdict = verdict::decide(&run, &tiers, knee, &facts);
    let hits: f64 = timeline.values("service.cache_hits").iter().sum();
    let misses: f64 = timeline.values("service.cache_misses").iter().sum();
    // The service's own counters, else the cache's CloudWatch hit rate.
    let hit_ratio = (hits + misses > 0.0)
        .then(|| hits / (hits + misses))
        .or_else(|| Some(stats::median(&timeline.values("cloudwatch.cache.hit_rate"))).filter(|_| timeline.series.contains_key("cloudwatch.cache.hit_rate")));
    let mut recommendation = recommend::recommend(stage, &verdict, hit_ratio, facts.achieved_rate);
    let capped = verdict.evidence.iter().any(|e| e.metric == cloud::AT_MAX_SIZE);
    if verdict.bottleneck == "app" && capped {
        let max_size = stats::median(&timeline.values("cloudwatch.app.max_size"));
        recommendation = recommend::raise_group_maximum(stage, &verdict, max_size);
    }
    (verdict, recommendation)
}
