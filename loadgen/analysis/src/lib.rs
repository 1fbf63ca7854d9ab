//! scaleloop's analysis of one run, pure and synchronous: the run's own series plus the
//! profiler's timeline → per-tier utilization-law figures → knee → verdict → recommendation;
//! and what a run's figures say beyond it: the fleet and seed-model users ([`capacity`]) and
//! the projection to the seed's design load ([`projection`]).
//!
//! Depends on the data model only: it reads a `Summary` and a `Timeline` and returns values.
//!
//! - [`tiers`], [`resource`], [`stats`]: per-tier busy figures from each box's own CPU
//!   against its quota, throttling and the servers' counters.
//! - [`knee`]: where throughput stopped following the offered load.
//! - [`verdict`]: which tier saturated first, with evidence; [`faults`] and [`cloud`] add what
//!   faults and CloudWatch show.
//! - [`recommend`]: the next stage of the seed's path for that bottleneck.

pub mod capacity;
pub mod cloud;
pub mod faults;
pub mod knee;
pub mod projection;
pub mod recommend;
pub mod resource;
pub mod stats;
pub mod tiers;
pub mod verdict;

#[cfg(test)]
mod cases_test;

use loadgen_model::series;
use loadgen_model::{
    summary::Summary,
    timeline::{Recommendation, Timeline, Verdict},
};

/// Tiers with no box of their own: they run inside the app process (SQLite, local store,
/// in-process cache and the job table on SQLite).
fn in_process_tiers(timeline: &Timeline) -> Vec<String> {
    let has = |tier: &str| timeline.boxes.iter().any(|b| b.tier == tier);
    let mut out = vec!["object_store".to_owned()];
    if !has("db") {
        out.extend(["db_primary", "db_replica"].map(str::to_owned));
    }
    // Workers run in the app process unless the stage has worker boxes.
    if !has("worker") {
        out.push("queue".into());
    }
    if !has("cache") {
        out.push("cache".into());
    }
    out
}

/// The highest achieved rate of any 3-second window: the run's peak, smoothed over a second's
/// jitter (what headroom is measured against).
fn peak_rate(run: &knee::RunSeries) -> f64 {
    let n = run.achieved.len();
    if n < 3 {
        return run.achieved.iter().copied().fold(0.0, f64::max);
    }
    run.achieved.windows(3).map(|w| w.iter().sum::<f64>() / 3.0).fold(0.0, f64::max)
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
        generator_cpu_share: summary.generator.cpu_share,
        slo_passed: summary.slo.passed,
        achieved_rate: summary.operations.all.achieved_rate,
        peak_rate: peak_rate(&run),
        in_process_tiers: in_process_tiers(timeline),
        generator_late_from: summary
            .series
            .iter()
            .find(|s| s.lag_p99_us > summary.schedule_lag.limit_p99_us)
            .map(|s| s.t),
        host_steal_share: Some(timeline.values(series::HOST_STEAL_SHARE))
            .filter(|v| !v.is_empty())
            .map(|v| stats::mean(&v)),
    };
    let mut verdict = verdict::decide(&run, &tiers, knee, &facts);
    faults::apply(&mut verdict, timeline);
    let hits: f64 = timeline.values(series::SERVICE_CACHE_HITS).iter().sum();
    let misses: f64 = timeline.values(series::SERVICE_CACHE_MISSES).iter().sum();
    // The service's own counters, else the cache's CloudWatch hit rate.
    let hit_ratio = (hits + misses > 0.0).then(|| hits / (hits + misses)).or_else(|| {
        Some(stats::median(&timeline.values("cloudwatch.cache.hit_rate")))
            .filter(|_| timeline.series.contains_key("cloudwatch.cache.hit_rate"))
    });
    let all = &summary.operations.all;
    let write_share =
        if all.completed > 0 { summary.operations.write.completed as f64 / all.completed as f64 } else { 0.0 };
    let measured = recommend::Measured { cache_hit_ratio: hit_ratio, achieved_rate: facts.achieved_rate, write_share };
    let mut recommendation = recommend::recommend(stage, &verdict, measured);
    let capped = verdict.evidence.iter().any(|e| e.metric == cloud::AT_MAX_SIZE);
    if verdict.bottleneck == "app" && capped {
        let max_size = stats::median(&timeline.values("cloudwatch.app.max_size"));
        recommendation = recommend::raise_group_maximum(stage, &verdict, max_size);
    }
    (verdict, recommendation)
}
