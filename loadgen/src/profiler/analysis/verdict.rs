//! The verdict: the generator when it could not keep its schedule (then no service tier is
//! named); else the tier whose saturation started at (or closest before) the knee, with
//! confidence from how many independent signals agree; `none` with headroom when the SLO held
//! and nothing saturated.

use super::{knee::RunSeries, tiers::TierAnalysis};
use crate::profiler::{Evidence, Knee, Verdict};

/// What the verdict needs besides the tiers.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    pub generator_overloaded: bool,
    pub generator_reasons: Vec<String>,
    pub slo_passed: bool,
    pub achieved_rate: f64,
    /// Generator users (requests it can have in flight).
    pub users: usize,
    /// Median latency early in the run, before any queueing, in seconds.
    pub baseline_latency_s: f64,
    /// Tiers that run inside the app process (no box of their own): their waits are
    /// symptoms when the app's CPU is saturated.
    pub in_process_tiers: Vec<String>,
}

fn describe(tier: &str) -> &'static str {
    match tier {
        "app" => "the app tier's CPU",
        "db_primary" => "the database primary",
        "db_replica" => "the read replicas",
        "cache" => "the cache tier",
        "object_store" => "the object store",
        "queue" => "the job queue's workers",
        "lb" => "the load balancer",
        "generator" => "the load generator itself",
        "machine" => "the machine's CPU (shared by the generator and the service)",
        _ => "an unnamed tier",
    }
}

pub fn decide(run: &RunSeries, tiers: &[TierAnalysis], knee: Option<Knee>, facts: &RunFacts) -> Verdict {
    let all_figures = tiers.iter().map(|t| t.figures.clone()).collect::<Vec<_>>();
    let generator = tiers.iter().find(|t| t.figures.tier == "generator");
    // Lag alone, with the generator's CPU to spare and a service tier saturated, means every
    // user was waiting on that tier: the target is the limit (latency is still charged from
    // the intended send times). CPU-bound lag is the generator's own.
    let cpu_bound = facts.generator_reasons.iter().any(|r| r.contains("generator CPU at"))
        || generator.is_some_and(|g| g.figures.utilization_p95 >= 0.95);
    // The embedded service shares the machine's cores with the generator (the app box's
    // capacity is the machine's): with the machine saturated and the generator's own CPU
    // idle, the service's CPU is what ran out, even when its share reads just under the
    // busy line (the two split the cores second by second).
    let app = tiers.iter().find(|t| t.figures.tier == "app");
    let machine = tiers.iter().find(|t| t.figures.tier == "machine");
    let shared_machine_bound = match (app, machine, generator) {
        (Some(a), Some(m), Some(g)) => {
            m.saturated && (a.figures.capacity - m.figures.capacity).abs() < 1e-9 && g.figures.utilization_p95 < 0.5
        }
        _ => false,
    };
    let service_saturated =
        shared_machine_bound || tiers.iter().any(|t| t.saturated && !matches!(t.figures.tier.as_str(), "generator" | "machine"));
    // ...but only when the generator had users to spare by Little's law at the unloaded
    // latency; otherwise too few users (the generator's concurrency) were the limit.
    let peak_offered = run.offered.iter().copied().fold(0.0, f64::max);
    // When the target was saturated from the first second (a constant-rate step past its
    // capacity) no second shows the unloaded latency; dozens of users all held while the
    // generator's CPU idles are then the target's doing too.
    let generator_idle = generator.is_some_and(|g| g.figures.utilization_p95 < 0.5);
    let users_ample = facts.users as f64 >= 4.0 * peak_offered * facts.baseline_latency_s || (facts.users >= 32 && generator_idle);
    let waiting_on_target = facts.generator_overloaded && !cpu_bound && service_saturated && users_ample;
    if (facts.generator_overloaded || cpu_bound) && !waiting_on_target {
        let mut evidence: Vec<Evidence> = generator.map(|g| g.evidence.clone()).unwrap_or_default();
        for reason in &facts.generator_reasons {
            evidence.push(Evidence {
                tier: "generator".into(),
                metric: "self-check".into(),
                value: 1.0,
                threshold: 1.0,
                window: [run.t.first().copied().unwrap_or(0), run.t.last().copied().unwrap_or(0)],
                note: reason.clone(),
            });
        }
        return Verdict {
            bottleneck: "generator".into(),
            confidence: "high".into(),
            sentence: "The load generator was the limit: it could not keep its schedule, so this run names no service bottleneck. Give it more CPU or run more generator processes and merge their logs.".into(),
            knee,
            tiers: all_figures,
            evidence,
            headroom: None,
        };
    }
    // The shared machine is not a tier one can scale on its own: it bounds headroom only.
    let machine_evidence;
    let mut candidates: Vec<&TierAnalysis> =
        tiers.iter().filter(|t| t.saturated && t.figures.tier != "generator" && t.figures.tier != "machine").collect();
    // A CPU-starved app process slows everything inside it: in-process tiers' waits are then
    // symptoms of the CPU, not bottlenecks of their own.
    if tiers.iter().any(|t| t.figures.tier == "app" && t.figures.utilization_p95 >= 0.9) {
        candidates.retain(|t| !facts.in_process_tiers.contains(&t.figures.tier));
    }
    // Workers write each job's result to the primary: a saturated primary backs the queue up
    // too, so the queue's growth is then its symptom, not a bottleneck of its own.
    if candidates.iter().any(|t| t.figures.tier == "db_primary") {
        candidates.retain(|t| t.figures.tier != "queue");
    }
    if candidates.is_empty() && shared_machine_bound && (waiting_on_target || !facts.slo_passed) {
        if let (Some(a), Some(m)) = (app, machine) {
            // Named with the machine's evidence: the app's share alone did not cross the line.
            machine_evidence = TierAnalysis {
                evidence: a.evidence.iter().chain(&m.evidence).cloned().collect(),
                onset: a.onset.or(m.onset),
                saturated: true,
                figures: a.figures.clone(),
            };
            candidates.push(&machine_evidence);
        }
    }
    if candidates.is_empty() {
        let headroom = tiers
            .iter()
            .filter_map(|t| t.figures.ceiling_rps)
            .map(|c| c / facts.achieved_rate.max(1e-9) - 1.0)
            .fold(f64::INFINITY, f64::min);
        let headroom = headroom.is_finite().then_some((headroom * 100.0).round() / 100.0);
        if facts.slo_passed {
            let tightest = tiers.iter().filter(|t| t.figures.ceiling_rps.is_some()).max_by(|a, b| a.figures.utilization_p95.total_cmp(&b.figures.utilization_p95));
            let sentence = match (headroom, tightest) {
                (Some(h), Some(t)) => format!(
                    "No tier saturated and the SLO held; the tightest is {} at {:.0}% utilization (p95): room for about {:.1}x the {:.0} req/s of this run.",
                    describe(&t.figures.tier), t.figures.utilization_p95 * 100.0, 1.0 + h, facts.achieved_rate
                ),
                _ => "No tier saturated and the SLO held.".into(),
            };
            return Verdict { bottleneck: "none".into(), confidence: "high".into(), sentence, knee, tiers: all_figures, evidence: Vec::new(), headroom };
        }
        // The SLO failed without a saturated tier: name the tier with the largest demand.
        let top = tiers.iter().filter(|t| t.figures.tier != "generator" && t.figures.tier != "machine").max_by(|a, b| a.figures.demand_s.total_cmp(&b.figures.demand_s));
        let tier = top.map_or("none".to_owned(), |t| t.figures.tier.clone());
        return Verdict {
            bottleneck: tier.clone(),
            confidence: "low".into(),
            sentence: format!("The SLO was missed but no tier showed saturation; {} carries the largest demand per request, so look there first.", describe(&tier)),
            knee,
            tiers: all_figures,
            evidence: top.map(|t| t.evidence.clone()).unwrap_or_default(),
            headroom: None,
        };
    }
    // Saturation that starts at the knee explains it; one that starts long after is a symptom.
    let knee_t = knee.as_ref().map(|k| k.t);
    let key = |t: &&&TierAnalysis| {
        let onset = t.onset.unwrap_or(u64::MAX);
        let distance = knee_t.map_or(0, |k| if onset <= k + 2 { 0 } else { onset - k });
        let signals = t.evidence.len() as i64;
        // Between tiers with as many signals, the one furthest past its thresholds (a signal
        // just at its line is weaker evidence than one at twice it).
        let furthest = t.evidence.iter().map(|e| exceedance(e.value, e.threshold)).fold(1.0, f64::max);
        (distance, std::cmp::Reverse(signals), std::cmp::Reverse((furthest * 1000.0) as u64), onset)
    };
    let chosen = candidates.iter().min_by_key(key).expect("non-empty");
    let f = &chosen.figures;
    let mut evidence = chosen.evidence.clone();
    if waiting_on_target {
        evidence.push(Evidence {
            tier: "generator".into(),
            metric: "schedule lag".into(),
            value: 1.0,
            threshold: 1.0,
            window: [knee.as_ref().map_or(0, |k| k.t), run.t.last().copied().unwrap_or(0)],
            note: "sends left late because every generator user was waiting on the target, with generator CPU to spare; latency is charged from the intended send times".into(),
        });
    }
    let signals = chosen.evidence.len();
    let confidence = match (signals, knee.is_some()) {
        (n, true) if n >= 2 => "high",
        (n, _) if n >= 2 => "medium",
        (_, true) => "medium",
        _ => "low",
    };
    let at = chosen.onset.map(|t| format!(" from t = {t} s")).unwrap_or_default();
    let ceiling = f.ceiling_rps.map(|c| format!("; its ceiling is about {c:.0} req/s")).unwrap_or_default();
    let mut figures = Vec::new();
    if f.utilization_p95 > 0.0 {
        figures.push(format!("utilization p95 {:.0}%", f.utilization_p95 * 100.0));
    }
    figures.extend(f.saturation.iter().cloned());
    let sentence = format!("Bottleneck: {} ({}{at}){ceiling}.", describe(&f.tier), figures.join(", "));
    Verdict {
        bottleneck: f.tier.clone(),
        confidence: confidence.into(),
        sentence,
        knee,
        tiers: all_figures,
        evidence,
        headroom: None,
    }
}

/// How far a signal is past its threshold, as a ratio ≥ 1 (either direction: a floor signal
/// such as CPU credits left is past its line when under it).
fn exceedance(value: f64, threshold: f64) -> f64 {
    let ratio = if value >= threshold { value / threshold.max(1e-9) } else { threshold / value.max(1e-9) };
    ratio.clamp(1.0, 1e6)
}
